"""The summary of `jtrack sessionize` for the terminal: what the run did, what the store holds.

Plain aligned lines (no table borders, no trailing spaces), so cron mails and pipes stay tidy.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from jtrack.engine import RunSummary
from jtrack.render.text import one_line
from jtrack.serialize import strip_control


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
            files += f", {skipped:,} skipped (nothing new in them)"
        rows.append(("this run", "", files))
        if run.get("mode") == "unchanged":
            rows.append(("", "", "nothing new: the store is unchanged"))
        else:
            events = int(run.get("events_added", 0))
            visitors = int(run.get("visitors_touched", 0))
            added = int(run.get("sessions_added", 0))
            removed = int(run.get("sessions_removed", 0))
            n_read = int(run.get("rows_read", 0))
            if run.get("duplicates") is not None and run.get("rejected") is not None:
                # this run's rows as it judged them (they add up), then what the store gained
                dups, rej = int(run["duplicates"]), int(run["rejected"])
                gone = int(run.get("erased") or 0)
                kept = n_read - dups - rej - gone
                rows.append(
                    (
                        "",
                        "",
                        f"{_n(n_read, 'row')}: {kept:,} kept, {_n(dups, 'duplicate')}, "
                        f"{rej:,} rejected" + (f", {gone:,} erased" if gone else ""),
                    )
                )
                if events != kept:  # (copies replaced, events held aside or back)
                    change = (
                        "as many events as before"
                        if events == 0
                        else f"{_n(abs(events), 'more event' if events > 0 else 'fewer event')}"
                        " than before"
                    )
                    rows.append(("", "", f"the store holds {change}"))
            else:
                rows.append(("", "", f"{_n(n_read, 'row')}: {_n(events, 'new event')}"))
            # (visitors sessionized: those with new rows, some of whom may have no session)
            rows.append(("", "", f"{_n(visitors, 'visitor')} sessionized"))
            changed = int(run.get("sessions_changed") or 0)
            if run.get("mode") == "replace":
                said = f"{_n(added, 'session')} written, replacing the store's {removed:,}"
            else:
                renumbered = int(run.get("sessions_renumbered") or 0)
                said = f"{_n(added, 'new session')}, {changed:,} changed"
                if renumbered:  # (an earlier session came in late: the later ones renumbered)
                    said += f" ({renumbered:,} renumbered only)"
                said += f", {removed:,} removed"
                unchanged = int(run.get("sessions_unchanged") or 0)
                if unchanged and run.get("mode") == "incremental":  # (the store's others)
                    said += f", {unchanged:,} unchanged"
            rows.append(("", "", said))
            # (the days a run added to a store: a late file's; a first run's are the store's
            # time span, said below)
            if run.get("mode") == "incremental" and run.get("events_from") and run.get("events_to"):
                first, last = run["events_from"][:10], run["events_to"][:10]
                days = first if first == last else f"{first} .. {last}"
                rows.append(("", "", f"this run's events: {days} (UTC)"))
            if run.get("mode") == "rebuild":
                rows.append(("", "", "every session was rebuilt"))
    ok = "adds up" if s.balanced else "DOES NOT ADD UP"
    parts = "kept + duplicates + rejected" + (" + erased" if s.erased else "")
    rows.append(("rows read", f"{s.rows_read:,}", f"= {parts} ({ok})"))
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
    if s.erased:
        rows.append(("rows erased", f"{s.erased:,}", "of visitors erased (jtrack store erase)"))
    rows.append(("sessions", f"{s.sessions:,}", ""))
    rows.append(("visitors", f"{s.visitors:,}", _who(s)))
    if s.unattached_events:
        rows.append(
            (
                "unattached events",
                f"{s.unattached_events:,}",
                "system events with no session to join",
            )
        )
    span = f"{_fmt(s.first_event)} .. {_fmt(s.last_event)}" if s.first_event else "no events"
    rows.append(("time span", "", span))
    if s.store:
        rows.append(("store", "", s.store + (f" ({s.version})" if s.version else "")))
    return rows


def summary_panel(s: RunSummary) -> SummaryText:
    """The summary as aligned text: label, right-aligned number, note (see SummaryText)."""
    return SummaryText(summary_lines(s))


class SummaryText:
    """Rows of (label, number, note) as aligned lines that fit the width they are printed
    at: a note too long for its line wraps between words onto lines indented to the note
    column (a hanging indent); numbers and labels are never cut. Where even the label and
    number leave a note too little room, notes go on the lines below, indented by 4. No
    trailing spaces."""

    NOTE_MIN = 16  # a note column narrower than this: notes go below their label

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.rows = [(one_line(a), one_line(b), strip_control(one_line(c))) for a, b, c in rows]

    def lines(self, width: int) -> list[str]:
        rows = self.rows
        w0 = max((cell_len(r[0]) for r in rows), default=0)
        w1 = max((cell_len(r[1]) for r in rows), default=0)
        lead = w0 + 2 + (w1 + 2 if w1 else 0)
        below = width - lead < self.NOTE_MIN
        out: list[str] = []
        for label, number, note in rows:
            head = f"{label:<{w0}}  {number:>{w1}}  " if w1 else f"{label:<{w0}}  "
            if below:
                out.append(head.rstrip())
                out.extend(" " * 4 + x for x in _wrap(note, max(width - 4, 1)))
                continue
            wrapped = _wrap(note, width - lead) or [""]
            out.append((head + wrapped[0]).rstrip())
            out.extend(" " * lead + x for x in wrapped[1:])
        if below:  # (label-only rows become lines of their own: drop the empty ones)
            out = [x for x in out if x.strip()]
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield Text(line, overflow="fold")

    def __str__(self) -> str:
        return "\n".join(self.lines(10_000))


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken between words; a longer word (a path)
    is continued on the next line, never cut."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        for piece in _pieces(word, width):
            if line and cell_len(line) + 1 + cell_len(piece) <= width:
                line += " " + piece
            else:
                if line:
                    lines.append(line)
                line = piece
    if line:
        lines.append(line)
    return lines


def _pieces(word: str, width: int) -> list[str]:
    """`word` in pieces of at most `width` cells (one piece when it fits)."""
    if cell_len(word) <= width:
        return [word]
    out: list[str] = []
    piece = ""
    for ch in word:
        if piece and cell_len(piece + ch) > width:
            out.append(piece)
            piece = ""
        piece += ch
    return [*out, piece] if piece else out


def _who(s: RunSummary) -> str:
    c = s.contacts
    if not c:
        return "all Unknown (no contacts file: --contacts FILE)"
    known = int(c.get("visitors_known", 0))
    unknown = int(c.get("visitors_temporary", 0))
    return f"{known:,} known, {unknown:,} Unknown"


def _fmt(d: object) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(d, "strftime") else "-"
