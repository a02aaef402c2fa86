"""A progress bar on the terminal for long work: files, rows, bytes read of the total,
elapsed and remaining time. Silent when stderr is not a terminal (cron, pipes, tests).

The core reports `jtrack.progress.ProgressUpdate`s through a plain callable; a
`ProgressBar` is that callable for the CLI:

    with ProgressBar(quiet=quiet) as bar:
        run_something(progress=bar)

Each stage ("reading", "sessionizing", "writing", ...) gets its own bar: bytes read of the
total while reading (when the total is known), the stage's own steps (visitor buckets, ...)
after that, and a moving bar when neither is known. A plain string is taken as the name of a
stage with nothing to count (for callers that still report words).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from jtrack.progress import ProgressUpdate
from jtrack.render.text import console_colors


class _Counts(ProgressColumn):
    """`3/8 files · 1,204,311 rows · 412.5 MB/1.3 GB` from the task's last update."""

    def render(self, task: Task) -> Text:
        u: ProgressUpdate | None = task.fields.get("update")
        if u is None:
            return Text("")
        parts = []
        if u.files_total:
            parts.append(f"{u.files_done:,}/{u.files_total:,} files")
        elif u.files_done:
            parts.append(f"{u.files_done:,} files")
        if u.rows:
            parts.append(f"{u.rows:,} rows")
        if u.bytes_total:
            parts.append(f"{decimal(u.bytes_done)}/{decimal(u.bytes_total)}")
        elif u.bytes_done:
            parts.append(decimal(u.bytes_done))
        if u.stage != "reading" and u.steps_total:
            parts.append(f"{u.steps_done:,}/{u.steps_total:,}")
        return Text(" · ".join(parts), style="progress.download")


class _Elapsed(ProgressColumn):
    """Time since the whole run started (not the stage)."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started

    def render(self, task: Task) -> Text:
        s = int(time.monotonic() - self.started)
        return Text(f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}", style="progress.elapsed")


class _Percent(ProgressColumn):
    """` 42%` of a stage with a total; nothing for one without (it showed "0%")."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.percentage:>3.0f}%", style="progress.percentage")


class _Left(ProgressColumn):
    """`left 0:00:03` for a stage with a total; nothing for one without (it showed
    "left -:--:--": a stage that cannot say what is left says nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.remaining = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text("left ") + self.remaining.render(task)


def _measure(u: ProgressUpdate) -> tuple[float | None, float]:
    """(total, completed) of the bar for an update: bytes while reading, else steps."""
    if u.stage == "reading" and u.bytes_total:
        return float(u.bytes_total), float(min(u.bytes_done, u.bytes_total))
    if u.steps_total:
        return float(u.steps_total), float(min(u.steps_done, u.steps_total))
    return None, 0.0


def _drawable(console: Console) -> bool:
    """Whether a bar can be drawn on `console`: a terminal that is not dumb (`TERM=dumb`
    cannot move the cursor), and where it writes to stderr,
    stderr itself one (FORCE_COLOR makes Rich call a CI log or a file a terminal: the bars
    went into it, 2.8 KB of escapes a report)."""
    if not console.is_terminal or console.is_dumb_terminal or not console.is_interactive:
        return False  # (TERM=dumb, or unset: no bar can be redrawn in place)
    stream = console.file
    if stream is sys.stderr or stream is sys.__stderr__:
        isatty = getattr(stream, "isatty", None)
        return bool(isatty()) if isatty is not None else False
    return True


class ProgressBar:
    """A ProgressFn that draws a Rich progress bar on stderr (see the module docstring).

    enabled: None (default) means "when stderr is a terminal and not quiet"."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        console: Console | None = None,
        enabled: bool | None = None,
        transient: bool = True,
    ) -> None:
        self.console = console or Console(stderr=True, highlight=False, **console_colors())
        self.enabled = (not quiet and _drawable(self.console)) if enabled is None else enabled
        self.started = time.monotonic()
        self.stage: str | None = None
        self.updates = 0
        self._task: TaskID | None = None
        self._progress: Progress | None = None
        if self.enabled:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description:<13}"),
                BarColumn(bar_width=28),
                _Percent(),
                _Counts(table_column=Column(no_wrap=True)),
                _Elapsed(self.started),
                _Left(),
                console=self.console,
                transient=transient,
                expand=False,
            )

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, update: ProgressUpdate | str) -> None:
        u = ProgressUpdate(stage=update) if isinstance(update, str) else update
        self.updates += 1
        if self._progress is None:
            return
        total, completed = _measure(u)
        if self._task is None or u.stage != self.stage:
            if self._task is not None:  # the finished stage leaves the screen
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(u.stage, total=total, update=u)
            self.stage = u.stage
        self._progress.update(
            self._task, total=total, completed=completed, update=u, description=u.stage
        )

    @property
    def renderable(self) -> Any:
        """What the bar shows now (for tests), or None when disabled."""
        return self._progress.make_tasks_table(self._progress.tasks) if self._progress else None


__all__ = ["ProgressBar"]
