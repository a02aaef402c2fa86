"""Run options: what a sessionize run's result depends on, and parsers for option values.

Imports the standard library only (no Polars), so the CLI can parse options before loading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from jtrack.errors import UsageError

DEFAULT_GAP = timedelta(minutes=20)

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s|d)", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--gap") -> timedelta:
    """Parse `20m`, `1h30m`, `90s`, `1d`, `500ms` (a bare number means minutes)."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return timedelta(minutes=float(t))
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2).lower()]
        pos = m.end()
    if pos != len(t) or not t or total <= 0:
        raise UsageError(
            f"{option}: cannot read {text!r} as a duration",
            hint="write it like 20m, 1h30m, 90s or 1d",
        )
    return timedelta(seconds=total)


@dataclass(frozen=True)
class SessionizeOptions:
    """How events are split into sessions (everything a run's result depends on)."""

    gap: timedelta = DEFAULT_GAP
    split_on_campaign_change: bool = False
    max_duration: timedelta | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "gap_seconds": self.gap.total_seconds(),
            "split_on_campaign_change": self.split_on_campaign_change,
            "max_duration_seconds": (
                self.max_duration.total_seconds() if self.max_duration else None
            ),
        }
