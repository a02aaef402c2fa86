"""Small wording helpers shared by every renderer: counts with the right plural, values on
one line, and plain ASCII for a stream that cannot show anything else."""

from __future__ import annotations

import contextvars
import os
import re
from typing import Any

#: The formats the running command writes besides its table (set by
#: jtrack.commands._common.resolve_format): a note under a table names one of them.
OTHER_FORMATS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "jtrack_other_formats", default=None
)


def plural(n: Any, one: str, many: str | None = None) -> str:
    """`1 session`, `2 sessions`, `1,204 searches` (with many="searches")."""
    k = int(n or 0)
    return f"{k:,} {one if k == 1 else (many or one + 's')}"


#: Characters that end a line or move the cursor in a terminal, a pager or `wc -l`.
_BREAK = re.compile(r"[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def one_line(text: str) -> str:
    """`text` on one line: each run of white space that holds a tab or a line break (LF, CR,
    VT, FF, NEL, U+2028, U+2029) becomes one space; other spaces are kept as they are."""
    if not _BREAK.search(text):
        return text
    return _SPACES.sub(lambda m: " " if _BREAK.search(m.group()) else m.group(), text)


#: jtrack's own glyphs and common typography in plain ASCII, one cell for one cell (so that
#: aligned text stays aligned); the ellipsis becomes `...`.
_ASCII = str.maketrans(
    {
        **{c: "-" for c in "─━═╌╍┄┅┈┉‐‑‒–—―−"},
        **{c: "|" for c in "│┃║╎╏┆┇┊┋▏▕"},
        **{c: "+" for c in "┌┐└┘├┤┬┴┼╭╮╯╰┏┓┗┛┣┫┳┻╋╔╗╚╝╠╣╦╩╬"},
        **{c: "#" for c in "█▉▊▋▌▍▎▇▆▅▄▃▂▁"},
        "·": "-",
        "•": "*",
        "●": "*",
        "“": '"',
        "”": '"',
        "„": '"',
        "‘": "'",
        "’": "'",
        "µ": "u",
        "μ": "u",
        "×": "x",
        "\u00a0": " ",
        "…": "...",
    }
)


def ascii_text(text: str, encoding: str = "ascii") -> str:
    """`text` as `encoding` can show it: glyphs and typography in ASCII (see _ASCII), any
    other character it cannot encode as `?`, as wide as it was (`??` for a wide one, none
    for a combining mark: a table laid out for 東京 keeps its columns)."""
    text = text.translate(_ASCII)
    out = text.encode(encoding, errors="replace").decode(encoding, errors="replace")
    if "?" not in out or out.count("?") == text.count("?"):
        return out
    import unicodedata

    from rich.cells import split_graphemes  # (what Rich laid out: a cluster, at its width)

    text = unicodedata.normalize("NFC", text)  # (e + U+0301 is é, which Latin-1 shows)
    spans, _ = split_graphemes(text)
    pieces = []
    for start, end, width in spans:
        cluster = text[start:end]
        try:
            cluster.encode(encoding)
            pieces.append(cluster)
        except UnicodeEncodeError:
            pieces.append(_cluster_text(cluster, width, encoding))
    return "".join(pieces)


def _cluster_text(cluster: str, width: int, encoding: str) -> str:
    """One cluster `encoding` cannot show whole, `width` cells wide as Rich laid it out:
    what it can show kept (a newline or an escape code the cluster took with it, a letter
    after a zero-width joiner), the rest as `?`, as many as the cells left."""
    from rich.cells import cell_len

    shows = [_shows(ch, encoding) for ch in cluster]
    kept = "".join(ch for ch, ok in zip(cluster, shows, strict=True) if ok)
    first = shows.index(False)  # (the marks stand where the first it cannot show stood)
    marks = "?" * max(width - cell_len(kept), 0)
    return kept[:first] + marks + kept[first:]  # (all before `first` shows)


def _shows(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


__all__ = ["OTHER_FORMATS", "ascii_text", "console_colors", "one_line", "period_span", "plural"]


def once_each(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """`items` with each `key` once, the first kept: a visit's segments or outcomes on one
    line, where the export and the rules (one id: the same segment) matched both."""
    first: dict[Any, dict[str, Any]] = {}
    for x in items:
        first.setdefault(x.get(key), x)
    return list(first.values())


def console_colors() -> dict[str, Any]:
    """Rich Console options for a console people read: with $NO_COLOR set and not empty
    (https://no-color.org) no terminal codes at all, bold, dim and underline too (Rich
    leaves those: a log of a run with FORCE_COLOR set, kept plain with NO_COLOR, had them);
    without $TERM, none either and no progress bars (as TERM=dumb), unless FORCE_COLOR."""
    out: dict[str, Any] = {"color_system": None} if os.environ.get("NO_COLOR") else {}
    if not os.environ.get("TERM") and not os.environ.get("FORCE_COLOR"):
        # (no $TERM: what terminal it is, nobody says; git and less take it for a dumb one,
        # Rich for one with colours and a cursor: a pod run with a tty got escapes and bars)
        out |= {"color_system": None, "force_interactive": False}
    return out


def period_span(period: Any, dash: str = "-") -> str:
    """A report's period (`from`, `to`) as its title says it: `2026-10-01 .. 2026-10-14`;
    `no events` when the report has none (it said `- .. -`)."""
    if not (period["from"] or period["to"]):
        return "no events"
    return f"{period['from'] or dash} .. {period['to'] or dash}"


#: Journey-map events a card shows unless told (`jtrack card --all`): the first and the last
#: half of these, with a line saying how many between them are not shown (a crawler's one
#: session can hold hundreds of thousands: minutes of lines and a page of hundreds of MB).
CARD_EVENTS = 100


def split_events(
    events: list[dict[str, Any]], limit: int | None = CARD_EVENTS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(the first events shown, the last events shown, how many between them are not):
    every one when `limit` is None or they are no more than it."""
    if limit is None or len(events) <= limit:
        return events, [], 0
    head = (limit + 1) // 2
    tail = limit - head
    return events[:head], events[len(events) - tail :] if tail else [], len(events) - limit


def events_not_shown(n: int) -> str:
    """The line in place of the journey-map events split_events leaves out."""
    return f"... {n:,} event{'s' if n != 1 else ''} not shown: `jtrack card --all` shows every one"
