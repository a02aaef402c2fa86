"""Contracts every command keeps: --help, documented in the README, clean failure modes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jtrack.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out: list[list[str]] = []
    for name, cmd in sorted(group.commands.items()):  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        if sub:
            out.extend([name, s] for s in sorted(sub))
        else:
            out.append([name])
    return out


COMMANDS = _commands()


def test_there_are_commands() -> None:
    assert ["sessionize"] in COMMANDS and ["sessions"] in COMMANDS


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help(cmd: list[str]) -> None:
    res = runner.invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0
    assert "Usage:" in res.stdout and len(res.stdout) > 200


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(cmd: list[str]) -> None:
    assert f"jtrack {' '.join(cmd)}" in (ROOT / "README.md").read_text()


def test_version_and_no_args() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("jtrack ")
    res = runner.invoke(app, [])
    assert "sessionize" in res.stdout + res.stderr


def test_unknown_option_is_exit_2() -> None:
    res = runner.invoke(app, ["sessions", "--no-such-option"])
    assert res.exit_code == 2
