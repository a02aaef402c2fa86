"""The summary of `jtrack sessionize` for the terminal: what the run did, what the store holds."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from jtrack.engine import RunSummary


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def summary_panel(s: RunSummary) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column()
    run: dict[str, Any] = s.run or {}
    if run:
        files = _n(int(run.get("files_read", 0)), "file") + " read"
        skipped = int(run.get("files_skipped", 0))
        if skipped:
            files += f", {skipped:,} skipped (already in the store)"
        t.add_row("this run", "", Text(files))
        if run.get("mode") == "unchanged":
            t.add_row("", "", Text("nothing new: the store is unchanged"))
        else:
            t.add_row(
                "",
                "",
                Text(
                    f"{int(run.get('rows_read', 0)):,} rows, "
                    f"{int(run.get('events_added', 0)):,} new events, "
                    + _n(int(run.get("visitors_touched", 0)), "visitor")
                    + " sessionized"
                ),
            )
            added = int(run.get("sessions_added", 0))
            removed = int(run.get("sessions_removed", 0))
            unchanged = int(run.get("sessions_unchanged", 0))
            t.add_row(
                "",
                "",
                Text(f"sessions written {added:,}, replaced {removed:,}, unchanged {unchanged:,}"),
            )
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
    t.add_row("visitors", f"{s.visitors:,}", Text(_who(s)))
    if s.unattached_events:
        t.add_row(
            "unattached events",
            f"{s.unattached_events:,}",
            "system events of visitors with no activity",
        )
    span = f"{_fmt(s.first_event)} .. {_fmt(s.last_event)}" if s.first_event else "no events"
    t.add_row("time span", "", Text(span))
    if s.store:
        where = s.store + (f" ({s.version})" if s.version else "")
        t.add_row("store", "", Text(where))
    return t


def _who(s: RunSummary) -> str:
    c = s.contacts
    if not c:
        return "all Unknown (no contacts file: --contacts FILE)"
    known = int(c.get("visitors_known", 0))
    unknown = int(c.get("visitors_temporary", 0))
    return f"{known:,} known, {unknown:,} Unknown"


def _fmt(d: object) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(d, "strftime") else "-"
