"""Contracts every command keeps: --help, documented in the README, clean failure modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _params() -> list[tuple[str, Any]]:
    """(command, parameter) of every parameter of every command."""
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for cmd in COMMANDS:
        c = group
        for part in cmd:
            c = c.commands[part]  # type: ignore[attr-defined]
        out.extend((" ".join(cmd), p) for p in c.params)
    return out


def _number_options() -> list[tuple[str, str, object]]:
    """(command, option, the option) of every option that takes a number."""
    return [
        (cmd, p.opts[0], p)
        for cmd, p in _params()
        if p.param_type_name == "option" and p.type_descriptor.annotation in (int, float)
    ]


def test_every_number_option_has_a_lower_bound() -> None:
    """A count, a size or a wait below its range is refused up front (exit 2), never taken
    into the run: `sessionize --limit -1` once wrote the store, then failed on the slice."""
    found = _number_options()
    assert any(cmd == "sessionize" and opt == "--limit" for cmd, opt, _ in found)
    unbounded = [f"{cmd} {opt}" for cmd, opt, kind in found if getattr(kind, "min", None) is None]
    assert unbounded == []


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "--limit", "-1"],
        ["sessionize", "sample_data/events.jsonl", "--limit", "-1"],
        ["sessionize", "sample_data/events.jsonl", "--max-line-bytes", "0"],
    ],
    ids=" ".join,
)
def test_a_number_out_of_range_is_exit_2_and_writes_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    store = tmp_path / "store"
    res = runner.invoke(app, [*args, "--store", str(store)])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert not store.exists()


def test_format_metavar_names_only_the_formats_the_command_writes() -> None:
    """`-f <...>` in --help lists what the command writes, as its help text does (it once
    listed every format, html and parquet included, for commands that refuse them)."""
    import re

    seen = 0
    for cmd, p in _params():
        if "--format" in getattr(p, "opts", []):
            listed = re.search(r"Output format: ([\w, ]+)\.", p.help or "")
            assert listed, cmd
            assert p.metavar == "<" + "|".join(listed.group(1).split(", ")) + ">", cmd
            seen += 1
    assert seen >= 8


def test_every_value_names_what_it_takes_in_help() -> None:
    """Help names what an option takes (`--store <dir>`, `--gap <duration>`), not the
    Python type Typer would show (`<str>`, `<path>`, `<int range>`, `<list[str]>`), and an
    argument as its help text and usage line write it (SOURCES, not `sources` in one place,
    `{sources}` in another and SOURCES in the text)."""
    import re

    found = _params()
    assert len(found) > 100
    missing = [
        f"{cmd} {p.opts[0]}"
        for cmd, p in found
        if p.param_type_name == "option"
        and not p.is_flag
        and not re.fullmatch(r"<[a-z|-]+>", p.metavar or "")
    ]
    assert missing == []
    arguments = [(cmd, p.metavar) for cmd, p in found if p.param_type_name == "argument"]
    assert len(arguments) >= 8
    assert [a for a in arguments if not re.fullmatch(r"[A-Z_]+", a[1] or "")] == []
    res = runner.invoke(app, ["sessionize", "--help"], terminal_width=100)
    assert "[SOURCES]..." in res.stdout and "--store <dir>" in res.stdout
    assert "<str>" not in res.stdout and "<path>" not in res.stdout
