"""The progress bar for long work: real counts on a terminal, silent anywhere else."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from rich.console import Console

from jtrack.progress import ProgressUpdate
from jtrack.render.progress import ProgressBar


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def _shown(bar: ProgressBar) -> str:
    out = Console(file=io.StringIO(), width=120, color_system=None, record=True)
    out.print(bar.renderable)
    return out.export_text()


def test_reading_shows_files_rows_and_bytes_of_the_total() -> None:
    bar = ProgressBar(console=_terminal(), transient=False)
    with bar:
        bar(
            ProgressUpdate(
                "reading",
                files_done=2,
                files_total=5,
                bytes_done=412_500_000,
                bytes_total=1_300_000_000,
                rows=1_204_311,
            )
        )
        text = _shown(bar)
    assert "reading" in text and "32%" in text
    assert "2/5 files" in text and "1,204,311 rows" in text and "412.5 MB/1.3 GB" in text
    assert "left" in text and "0:00:00" in text  # elapsed, then remaining


def test_each_stage_gets_its_own_bar_counted_in_its_steps() -> None:
    bar = ProgressBar(console=_terminal(), transient=False)
    with bar:
        bar(ProgressUpdate("reading", bytes_done=10, bytes_total=10))
        bar(ProgressUpdate("sessionizing", steps_done=3, steps_total=12))
        text = _shown(bar)
    assert "sessionizing" in text and "25%" in text and "3/12" in text
    assert "reading" not in text


def test_an_unknown_total_and_a_plain_word_are_taken() -> None:
    bar = ProgressBar(console=_terminal(), transient=False)
    with bar:
        bar(ProgressUpdate("reading", rows=5, bytes_done=2048))  # stdin: no total
        bar("counting")
        text = _shown(bar)
    assert "counting" in text


def test_silent_when_stderr_is_not_a_terminal() -> None:
    sink = io.StringIO()
    bar = ProgressBar(console=Console(file=sink, width=120))
    assert not bar.enabled
    with bar:
        bar(ProgressUpdate("reading", bytes_done=1, bytes_total=2))
    assert sink.getvalue() == "" and bar.renderable is None and bar.updates == 1


def test_quiet_is_silent_on_a_terminal_too() -> None:
    console = _terminal()
    bar = ProgressBar(console=console, quiet=True)
    with bar:
        bar("reading")
    assert not bar.enabled and console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_report_on_export_files_reports_the_engines_progress() -> None:
    from pathlib import Path

    from jtrack.usecases.report import report_from_sources

    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    updates: list[ProgressUpdate] = []
    report = report_from_sources([sample], progress=updates.append)
    assert report.overview["sessions"] == 843
    assert updates and all(isinstance(u, ProgressUpdate) for u in updates)
    stages = [u.stage for u in updates]
    assert "reading" in stages and "sessionizing" in stages
    reading = [u for u in updates if u.stage == "reading" and u.bytes_total]
    assert reading and reading[-1].bytes_total == sample.stat().st_size


def test_the_cli_draws_the_engines_updates(monkeypatch: Any, tmp_path: Any) -> None:
    """`jtrack report FILES` hands its ProgressBar to the engine (drawn only on a terminal)."""
    from pathlib import Path

    from typer.testing import CliRunner

    from jtrack.cli import app

    seen: list[str] = []
    original = ProgressBar.__call__

    def record(self: ProgressBar, update: ProgressUpdate | str) -> None:
        seen.append(update if isinstance(update, str) else update.stage)
        original(self, update)

    monkeypatch.setattr(ProgressBar, "__call__", record)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    res = CliRunner().invoke(app, ["report", str(sample), "-f", "json"])
    assert res.exit_code == 0, res.stderr
    assert "reading" in seen and "sessionizing" in seen
    assert res.stderr == ""  # not a terminal: nothing drawn


def test_force_color_draws_no_bar_into_a_log(tmp_path) -> None:
    """With FORCE_COLOR set (CI does) and stderr a log file, Rich took stderr for a
    terminal and the bars went into the log (2.8 KB of escapes a report); the README says
    no progress where stderr is no terminal."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    res = subprocess.run(
        [sys.executable, "-m", "jtrack.cli", "report", str(root / "sample_data" / "events.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stderr and "reading" not in res.stderr, res.stderr[:300]


def test_a_stage_without_a_total_shows_no_percentage_or_time_left() -> None:
    """A stage with nothing to count it by showed "0%" and "left -:--:--"."""
    bar = ProgressBar(console=_terminal(), transient=False)
    with bar:
        bar(ProgressUpdate("sessionizing"))
        text = _shown(bar)
        assert "sessionizing" in text and "%" not in text and "left" not in text, text
        bar(ProgressUpdate("writing", steps_done=1, steps_total=4))
        text = _shown(bar)
    assert "25%" in text and "left" in text


def test_a_dumb_terminal_gets_no_bar_and_no_stray_line() -> None:
    """`TERM=dumb` on a terminal: the bar, which cannot be redrawn there, left a blank line
    (`\\r\\n`) on stderr at its end."""
    console = Console(
        file=io.StringIO(),
        force_terminal=True,
        width=80,
        color_system=None,
        _environ={"TERM": "dumb"},
    )
    assert console.is_dumb_terminal
    bar = ProgressBar(console=console)
    with bar:
        bar(ProgressUpdate("reading", bytes_done=1, bytes_total=2))
        bar(ProgressUpdate("sessionizing"))
    assert not bar.enabled and console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_a_terminal_without_term_is_taken_for_a_dumb_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """No $TERM (a container run with a tty, `env -i`): Rich drew colours and bars, where
    git and less take such a terminal for a dumb one. FORCE_COLOR still asks for colours."""
    from jtrack.render.text import console_colors

    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert console_colors() == {"color_system": None, "force_interactive": False}
    console = Console(file=io.StringIO(), force_terminal=True, width=80, **console_colors())
    bar = ProgressBar(console=console)
    with bar:
        bar(ProgressUpdate("reading", bytes_done=1, bytes_total=2))
    assert not bar.enabled and console.file.getvalue() == ""  # type: ignore[attr-defined]
    monkeypatch.setenv("NO_COLOR", "1")  # (with NO_COLOR too: no bars either)
    assert console_colors() == {"color_system": None, "force_interactive": False}
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert console_colors() == {}
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert console_colors() == {}
