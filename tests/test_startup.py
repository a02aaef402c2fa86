"""What the command line imports, and that its fast option coercion equals Typer's own.

Behaviour only (which modules a process ends up with, which values come out), never timings:
benchmarks/bench_read.py measures the start-up itself.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Never needed to print help: data libraries, the phone-number tables, the terminal
#: renderer, and the core modules that import them.
HEAVY = (
    "polars",
    "pyarrow",
    "polars_hash",
    "phonenumbers",
    "pydantic",
    "rich",
    "numpy",
    "jtrack.store",
    "jtrack.usecases.card",
    "jtrack.usecases.usage",
    "jtrack.usecases.sessions",
)


def _modules_after(argv: list[str], cwd: Path) -> tuple[set[str], str]:
    """Run `jtrack ARGV` through the console-script entry point in a new interpreter;
    the modules it had loaded when it finished, and what it printed."""
    code = (
        "import sys\n"
        "from jtrack.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.splitlines()
    modules = [x for x in lines if x.startswith("MODULES ")][-1]
    printed = proc.stdout + "\n".join(x for x in lines if not x.startswith("MODULES "))
    return set(modules.split()[1:]), printed


@pytest.mark.parametrize("argv", [["--help"], ["-h"], [], ["card", "--help"], ["--version"]])
def test_help_imports_no_heavy_module(argv: list[str], tmp_path: Path) -> None:
    modules, out = _modules_after(argv, tmp_path)
    assert "jtrack" in out
    loaded = sorted(m for m in HEAVY if m in modules or any(x.startswith(m + ".") for x in modules))
    assert loaded == []


def test_a_command_with_options_does_not_import_pydantic(tmp_path: Path) -> None:
    """Typer >= 0.29 coerces option values through Pydantic; jtrack's direct coercion
    (jtrack.commands._coerce) handles the types jtrack uses."""
    from jtrack.commands._coerce import install

    if not install():
        pytest.skip("this Typer has no runtime coercion layer")
    argv = [
        "usage",
        "--month",
        "2026-10",
        "--users",
        "3",
        "--per-user",
        "1000",
        "--wait",
        "1.5",
        "--format",
        "JSON",
        "--store",
        str(tmp_path / "nowhere"),
    ]
    modules, _ = _modules_after(argv, tmp_path)
    assert "pydantic" not in modules
    assert "polars" in modules  # it did run the command


# ---------------------------------------------------------------- fast coercion = Typer's

SAMPLES: tuple[Any, ...] = (
    "x",
    "",
    "5",
    "-1",
    "+3",
    "007",
    "0",
    "2.5",
    "1e3",
    " 7",
    "1_000",
    "nan",
    "table",
    "JSON",
    "Csv",
    "sample_data",
    "/nonexistent/file.toml",
    "-",
    3,
    0.0,
    True,
    b"bytes",
)


def _outcome(fn: Any) -> tuple[str, Any]:
    from typer import BadParameter  # Typer's own (a vendored Click's since Typer 0.29)

    try:
        value = fn()
    except Exception as exc:  # compare whatever each side raises
        if isinstance(exc, BadParameter) or type(exc).__name__ == "BadParameter":
            return ("error", exc.format_message())
        return ("raised", type(exc).__name__)
    return ("ok", (type(value).__name__, repr(value)))


def _params() -> list[Any]:
    import typer.main

    from jtrack.cli import app

    out = []

    def walk(cmd: Any) -> None:
        out.extend((cmd, p) for p in cmd.params)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return out


def test_fast_coercion_gives_what_typers_own_gives(tmp_path: Path, monkeypatch: Any) -> None:
    from jtrack.commands._coerce import install

    if not install():
        pytest.skip("this Typer has no runtime coercion layer")
    from typer import _coercion

    monkeypatch.chdir(ROOT)
    checked = 0
    for cmd, param in _params():
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None:
            continue
        fast = param.get_runtime_param()
        slow = _coercion.build_runtime_param(descriptor)
        ctx = cmd.make_context(cmd.name, [], resilient_parsing=True)
        multi = param.multiple or param.nargs == -1
        values = [(v,) for v in SAMPLES] + [("a", "5")] if multi else list(SAMPLES)
        for value in values:
            got = _outcome(functools.partial(fast.coerce, value, param=param, ctx=ctx))
            want = _outcome(functools.partial(slow.coerce, value, param=param, ctx=ctx))
            assert got == want, (cmd.name, param.name, value)
            checked += 1
    assert checked > 500
