"""CLI commands, one module each. Each module has `register(app)`.

The CLI layer may import typer and rich; the core (everything outside jtrack.commands,
jtrack.cli and jtrack.render) may not.
"""

from __future__ import annotations

import importlib

import typer

#: Command modules in help order. Each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES = [
    "sessionize",
    "watch",
    "sessions",
    "contacts",
    "card",
    "journey",
    "usage",
    "report",
    "rules",
    "store",
    "schema",
]


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"jtrack.commands.{name}").register(app)
