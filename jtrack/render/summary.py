"""The run summary of `jtrack sessionize` for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from jtrack.engine.pipeline import RunSummary


def summary_panel(s: RunSummary) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column()
    ok = "adds up" if s.balanced else "DOES NOT ADD UP"
    t.add_row("rows read", f"{s.rows_read:,}", Text(f"= kept + duplicates + rejected ({ok})"))
    t.add_row("events kept", f"{s.events_kept:,}", "")
    t.add_row(
        "duplicates dropped",
        f"{s.duplicates:,}",
        Text(f"{s.conflicting_duplicates:,} with differing contents")
        if s.conflicting_duplicates
        else "",
    )
    t.add_row(
        "rows rejected", f"{s.rejected:,}", Text(f"see {s.rejects_file}") if s.rejects_file else ""
    )
    t.add_row("sessions", f"{s.sessions:,}", "")
    t.add_row("visitors", f"{s.visitors:,}", "")
    if s.unattached_events:
        t.add_row(
            "unattached events",
            f"{s.unattached_events:,}",
            "system events of visitors with no activity",
        )
    span = f"{_fmt(s.first_event)} .. {_fmt(s.last_event)}" if s.first_event else "no events"
    t.add_row("time span", "", Text(span))
    if s.store:
        t.add_row("store", "", Text(s.store))
    return t


def _fmt(d: object) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(d, "strftime") else "-"
