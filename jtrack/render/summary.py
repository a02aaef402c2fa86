"""The summary of `jtrack sessionize` for the terminal: what the run did, what the store holds.

Plain aligned lines (no table borders, no trailing spaces), so cron mails and pipes stay tidy.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from jtrack.engine import RunSummary


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def summary_lines(s: RunSummary) -> list[tuple[str, str, str]]:
    """(label, number, note) rows of the summary."""
    rows: list[tuple[str, str, str]] = []
    run: dict[str, Any] = s.run or {}
    if run:
        read = int(run.get("files_read", 0))
        skipped = int(run.get("files_skipped", 0))
        files = _n(read, "file") + " read"
        if skipped:
            files += f", {skipped:,} skipped (already in the store)"
        rows.append(("this run", "", files))
        if run.get("mode") == "unchanged":
            rows.append(("", "", "nothing new: the store is unchanged"))
        else:
            events = int(run.get("events_added", 0))
            visitors = int(run.get("visitors_touched", 0))
            added = int(run.get("sessions_added", 0))
            removed = int(run.get("sessions_removed", 0))
            rows.append(
                ("", "", f"{int(run.get('rows_read', 0)):,} rows: {_n(events, 'new event')}")
            )
            # (visitors sessionized: those with new rows, some of whom may have no session)
            rows.append(("", "", f"{_n(visitors, 'visitor')} sessionized"))
            rows.append(("", "", f"{_n(added, 'session')} written ({removed:,} replaced)"))
            if run.get("mode") == "rebuild":
                rows.append(("", "", "every session was rebuilt"))
    ok = "adds up" if s.balanced else "DOES NOT ADD UP"
    rows.append(("rows read", f"{s.rows_read:,}", f"= kept + duplicates + rejected ({ok})"))
    rows.append(("events kept", f"{s.events_kept:,}", ""))
    rows.append(
        (
            "duplicates dropped",
            f"{s.duplicates:,}",
            f"{s.conflicting_duplicates:,} with differing contents"
            if s.conflicting_duplicates
            else "",
        )
    )
    rows.append(
        ("rows rejected", f"{s.rejected:,}", f"see {s.rejects_file}" if s.rejects_file else "")
    )
    rows.append(("sessions", f"{s.sessions:,}", ""))
    rows.append(("visitors", f"{s.visitors:,}", _who(s)))
    if s.unattached_events:
        rows.append(
            (
                "unattached events",
                f"{s.unattached_events:,}",
                "system events of visitors with no activity",
            )
        )
    span = f"{_fmt(s.first_event)} .. {_fmt(s.last_event)}" if s.first_event else "no events"
    rows.append(("time span", "", span))
    if s.store:
        rows.append(("store", "", s.store + (f" ({s.version})" if s.version else "")))
    return rows


def summary_panel(s: RunSummary) -> Text:
    """The summary as aligned text: label, right-aligned number, note."""
    rows = summary_lines(s)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = []
    for label, number, note in rows:
        line = f"{label:<{w0}}  {number:>{w1}}  {note}" if w1 else f"{label:<{w0}}  {note}"
        lines.append(line.rstrip())
    return Text("\n".join(lines), no_wrap=True, overflow="ellipsis")


def _who(s: RunSummary) -> str:
    c = s.contacts
    if not c:
        return "all Unknown (no contacts file: --contacts FILE)"
    known = int(c.get("visitors_known", 0))
    unknown = int(c.get("visitors_temporary", 0))
    return f"{known:,} known, {unknown:,} Unknown"


def _fmt(d: object) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(d, "strftime") else "-"
