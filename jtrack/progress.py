"""Progress of long work, as plain data: the engine reports, a front end renders.

The core calls a `ProgressFn` with `ProgressUpdate`s; it never prints. The CLI turns them into
a progress bar on a terminal (jtrack.render.progress) and ignores them otherwise.
Imports the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressUpdate:
    """Where a long run stands. Totals of 0 mean "not known" (stdin, a glob being read)."""

    stage: str  # "reading", "deduplicating", "sessionizing", "writing", ...
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0  # input bytes read so far (compressed size for .gz/.zst)
    bytes_total: int = 0
    rows: int = 0  # input rows read so far
    steps_done: int = 0  # units of the current stage (visitor buckets, segments, ...)
    steps_total: int = 0

    @property
    def fraction(self) -> float | None:
        """How far the current stage is, 0..1; None when its total is not known."""
        if self.stage == "reading" and self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.steps_total:
            return min(1.0, self.steps_done / self.steps_total)
        return None


ProgressFn = Callable[[ProgressUpdate], None]


def no_progress(_update: ProgressUpdate) -> None:
    """The ProgressFn that ignores every update."""


__all__ = ["ProgressFn", "ProgressUpdate", "no_progress"]
