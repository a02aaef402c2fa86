"""Session cards and customer journeys for the terminal (Rich).

Renders the documented card dict (`Card.to_dict()`), so the terminal shows exactly what
`--format json` holds. Layout follows the width it is given (80 columns upwards: wider
terminals get two-column session information and more journey columns). Every data string
is shown literally: Text objects only (never markup), control characters replaced. With
`ascii=True` jtrack's own glyphs are plain ASCII (text icons instead of emoji, no box
drawing, no typographic marks); data is shown as it is (the CLI replaces what the output
encoding cannot show).
"""

from __future__ import annotations

import io
import itertools
import re
import sys
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich import box
from rich.cells import cell_len, split_graphemes
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.panel import Panel
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from jtrack.render.text import CARD_EVENTS, events_not_shown, once_each, one_line, split_events
from jtrack.render.theme import (
    ARRIVAL,
    AUTOMATED_STYLE,
    KIND_LABELS,
    NOT_A_VISIT,
    SEGMENT_STYLE,
    TONE_STYLES,
    arrival,
    automated_icon,
    campaign_parts,
    kind_icon,
    session_icon,
    short_cookie,
    traffic_badge,
    typed_details,
    visit_pages,
)
from jtrack.serialize import strip_control

WIDE = 110  # from this width on, the journey map shows clock times and pages
INFO_WIDE = 140  # from this width on, session information in two columns
TONE_MARKS = {"positive": "+", "neutral": " ", "negative": "-"}
STRIP_ASCII = {
    "page_view": "p",
    "search": "s",
    "custom": "e",
    "app": "a",
    "segment_assigned": "g",
    "outcome_achieved": "o",
    "web_action": "x",
}
STRIP_LEGEND = "p page  s search  e event  a app  g segment  o outcome  x web action"


def wants_ascii(stream: TextIO | None = None) -> bool:
    """True when the stream's encoding cannot show emoji (anything but UTF-8)."""
    enc = getattr(stream if stream is not None else sys.stdout, "encoding", None) or ""
    return enc.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig")


# ---------------------------------------------------------------------------- text helpers


#: The narrowest the details of a journey entry get beside its time and icon (at 20
#: columns they had 4, and their labels wrapped, `loca` then `l`): else they go at 4.
DETAILS_MIN = 20
#: The style of the separator the card puts between parts (`·`, `-` in ASCII): dim, and
#: marked so that a break drops it there and never a `·` or ` - ` of the data's own.
_SEP = Style(dim=True, meta={"card_sep": True})


class _Glyphs:
    def __init__(self, ascii: bool) -> None:
        self.ascii = ascii
        self.sep = " - " if ascii else " · "
        self.bullet = "-" if ascii else "•"
        self.dot = "*" if ascii else "●"
        self.ellipsis = "..." if ascii else "…"
        self.quote = ('"', '"') if ascii else ("“", "”")

    def kind_icon(self, kind: str) -> str:
        return kind_icon(kind, self.ascii)

    def session_icon(self, icon: dict[str, str]) -> str:
        return session_icon(icon["name"], self.ascii)


def _clean(value: Any) -> str:
    """A data value as one literal line: control characters replaced, each run of white space
    holding a tab or a line break as one space (as in tables)."""
    return strip_control(one_line("" if value is None else str(value)))


def _lead(text: str, style: str) -> Text:
    """A styled start of a line that leaves what is appended after it unstyled."""
    t = Text()
    t.append(text, style=style)
    return t


def _t(value: Any, g: _Glyphs, style: str | Style = "") -> Text:
    """Literal Text of a data value (never markup)."""
    return Text(_clean(value), style=style)


def _missing(g: _Glyphs) -> Text:
    return Text("not recorded", style="dim")


def _fit(text: Text, width: int, g: _Glyphs) -> Text:
    """Cut a one-line Text to `width` cells, marking the cut."""
    if width <= 0:
        return Text("")
    if text.cell_len <= width:
        return text
    out = text.copy()
    out.truncate(max(0, width - cell_len(g.ellipsis)), overflow="crop")
    out.append(g.ellipsis, style="dim")
    return out


def _join(parts: Iterable[Text | str | None], g: _Glyphs) -> Text:
    out = Text()
    first = True
    for p in parts:
        if p is None or (isinstance(p, str | Text) and not str(p)):
            continue
        if not first:
            out.append(g.sep, style=_SEP)
        out.append(p if isinstance(p, Text) else Text(p))
        first = False
    return out


def _wrap_parts(parts: Iterable[Text | str | None], width: int, g: _Glyphs) -> Text:
    """Parts joined with the separator on as few lines of `width` cells as they fit: a line
    breaks between parts (no separator at its end), and inside a part only at a space (a
    word wider than the line folds). For counts and ids, which are never cut."""
    out = Text()
    line = 0
    for p in parts:
        if p is None or (isinstance(p, str | Text) and not str(p)):
            continue
        part = p if isinstance(p, Text) else Text(p)
        if line and line + cell_len(g.sep) + part.cell_len > width:
            out.append("\n")
            line = 0
        elif line:
            out.append(g.sep, style=_SEP)
            line += cell_len(g.sep)
        out.append_text(part)
        line += part.cell_len
    return out


#: A date with its time (and zone): one word, broken only between date, time and zone.
_DATETIME = (
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: (?:UTC|[A-Z]{2,5}|[+-]\d{2,4}))?"
)
#: A word of a value: a date with its time (and zone) is one.
_WORD = re.compile(_DATETIME + r"|\S+")
#: The parts of a date-time wider than a line: its date (`2026-10-04`, `2026-10-04T`),
#: its time, its zone; a time is never split.
_DT_PART = re.compile(r"\d{4}-\d{2}-\d{2}T?|\S+")
#: Where a word longer than a whole line (a URL, a long id) may break: after these.
_PIECE = re.compile(r"[^-/.?&=#_:]*[-/.?&=#_:]+|[^-/.?&=#_:]+")


class _Cells:
    """The cells of a string's slices, worked out once: `cells(a, b)` of `s[a:b]` in constant
    time (a cell_len of every slice tried made a card of long URLs three times slower).
    ASCII text has a cell a character; other text is measured by grapheme (an emoji with
    its joiners and selectors is one), and is cut only between graphemes."""

    def __init__(self, s: str) -> None:
        self.n = len(s)
        self.single = s.isascii() and s.replace("\n", " ").isprintable()
        if self.single:
            return
        spans, _ = split_graphemes(s)
        self.at = [0] * (len(s) + 1)  # cells before each index (a grapheme counts at its end)
        self.ends: list[int] = []  # the index after each grapheme
        self.ends_at: list[int] = []  # and the cells up to there
        total = 0
        for a, b, w in spans:
            for k in range(a + 1, b):
                self.at[k] = total
            total += w
            self.at[b] = total
            self.ends.append(b)
            self.ends_at.append(total)

    def cells(self, a: int, b: int) -> int:
        return b - a if self.single else self.at[b] - self.at[a]

    def cut(self, a: int, room: int) -> int:
        """The furthest index after `a` whose slice from `a` fits in `room` cells (at
        least one grapheme)."""
        if self.single:
            return min(a + max(room, 1), self.n)
        k = bisect_right(self.ends_at, self.at[a] + room) - 1
        if k < 0 or self.ends[k] <= a:
            k = bisect_right(self.ends, a)
        return self.ends[min(k, len(self.ends) - 1)]


def _pieces(plain: str, a: int, b: int, width: int, cells: _Cells) -> list[tuple[int, int]]:
    """(start, end) of the lines of the word `plain[a:b]`, wider than `width`: a date-time
    broken between its date, time and zone; anything else after a `/`, `.`, `-`, ... of
    its own, a line filled before a piece wider than a whole line is broken by cells."""
    if re.fullmatch(_DATETIME, plain[a:b]):
        parts = [m.span() for m in _DT_PART.finditer(plain, a, b)]
    else:
        parts = [m.span() for m in _PIECE.finditer(plain, a, b)]
    out: list[tuple[int, int]] = []
    start = end = a
    for pa, pb in parts:
        if end > start and cells.cells(start, pb) > width and cells.cells(pa, pb) <= width:
            out.append((start, end))  # (a piece that fits a line of its own starts one)
            start = pa
        while cells.cells(start, pb) > width:  # (else it goes on, by cells)
            cut = cells.cut(start, width)
            out.append((start, cut))
            start = cut
            while start < pb and plain[start] == " ":  # (a date-time's space at a break)
                start += 1
        end = pb
    if end > start:
        out.append((start, end))
    return out


def _wrap_lines(text: Text, width: int, g: _Glyphs) -> list[Text]:
    """`text` broken into lines of at most `width` cells between its words (a line break
    it holds is kept; a separator the card put between parts is left out at a break, a
    `·` or ` - ` of the data's own never), never inside a word: a date-time wider than the
    line breaks between its date and time (a time never split), and another word wider
    than a line (a URL, an id) only after its own `/`, `.`, `-`, ... . Styles are kept."""
    width = max(width, 1)
    plain = text.plain
    cells = _Cells(plain)
    seps = {k for sp in text.spans if sp.style == _SEP for k in range(sp.start, sp.end)}
    lines: list[tuple[int, int]] = []
    offset = 0
    for row in plain.split("\n"):
        start = end = None  # the current line, as a span of `plain`
        for m in _WORD.finditer(plain, offset, offset + len(row)):
            a, b = m.span()
            if start is not None and end is not None and cells.cells(start, b) <= width:
                end = b
                continue
            if start is not None and end is not None:
                lines.append((start, end))
                start = end = None
            if a in seps:  # (a line never starts with the card's separator)
                continue
            for pa, pb in (
                _pieces(plain, a, b, width, cells) if cells.cells(a, b) > width else [(a, b)]
            ):
                if start is not None and end is not None:
                    lines.append((start, end))
                start, end = pa, pb
        if start is not None and end is not None:
            lines.append((start, end))
        elif not row.strip():
            lines.append((offset, offset))
        offset += len(row) + 1
    for i, (a, b) in enumerate(lines[:-1]):
        while b > a and b - 1 in seps:  # (nor ends with one)
            b -= 1
        lines[i] = (a, b)
    # (the lines cut out of `text` at once: a slice a line was as slow as the wrapping)
    offsets = sorted({k for line in lines for k in line})
    pieces = dict(
        zip(itertools.pairwise([0, *offsets, len(plain)]), text.divide(offsets), strict=True)
    )
    return [pieces[line] if line[1] > line[0] else Text() for line in lines]


def _wrap_text(text: Text, width: int, g: _Glyphs) -> Text:
    """`text` broken into lines (see _wrap_lines) of at most `width` cells."""
    return Text("\n").join(_wrap_lines(text, width, g))


class _Pairs:
    """Label and value rows laid out for the width they get: a value beside its label
    where each of its words fits there (wrapped between words under its first line), else
    on lines of its own under the label, indented (README: a key value, an id, is never
    cut; a label never wraps under or after its value)."""

    UNDER = 2  # the indent of a value under its label

    def __init__(self, rows: list[tuple[str, Text]], g: _Glyphs, style: str = "bold") -> None:
        self.rows, self.g, self.style = rows, g, style

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lw = max((cell_len(k) for k, _ in self.rows), default=0)
        lines = [line for _, v in self.rows for line in v.plain.split("\n")]
        words = [m.group() for line in lines for m in _WORD.finditer(line)]
        widest = max((cell_len(line) for line in lines), default=0)
        least = max([lw, *(cell_len(w) + self.UNDER for w in words)])
        return Measurement(least, max(least, lw + 2 + widest)).clamp(max_width=options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lw = max((cell_len(k) for k, _ in self.rows), default=0)
        room = width - lw - 2
        for k, v in self.rows:
            words = [m.group() for m in _WORD.finditer(v.plain)]
            label = Text(k, style=self.style)
            # (lines as segments: a Text a line, wrapped again by Rich, was most of the
            # time of a card of long URLs)
            if room >= 8 and all(cell_len(w) <= room for w in words):
                lines = _wrap_lines(v, room, self.g)
                yield from label.render(console)
                yield Segment(" " * (lw - cell_len(k) + 2))
                indent = lw + 2
            else:
                lines = _wrap_lines(v, width - self.UNDER, self.g)
                yield from label.render(console)
                yield Segment.line()
                yield Segment(" " * self.UNDER)
                indent = self.UNDER
            for i, line in enumerate(lines):
                if i:
                    yield Segment(" " * indent)
                yield from line.render(console)
                yield Segment.line()


def _nz(*values: Any) -> list[str]:
    return [_clean(v) for v in values if v not in (None, "")]


def _when(iso: str | None, g: _Glyphs) -> str:
    """`2026-10-03 09:12:03 UTC` from an ISO `...Z` string."""
    if not iso:
        return "not recorded"
    return iso[:19].replace("T", " ") + " UTC"


def _local(iso_local: str | None, tz: str | None) -> str | None:
    """`2026-10-03 10:12:03 BST` from a local ISO string and its zone."""
    if not iso_local:
        return None
    d = datetime.fromisoformat(iso_local)
    abbrev = None
    if tz:
        try:
            abbrev = d.astimezone(ZoneInfo(tz)).tzname()
        except (ZoneInfoNotFoundError, ValueError):
            abbrev = None
    return d.strftime("%Y-%m-%d %H:%M:%S") + " " + _clean(abbrev or d.strftime("%z"))


def _clock(iso: str | None) -> str:
    return iso[11:19] if iso else ""


def _plural(n: int | None, one: str, many: str | None = None) -> str:
    n = int(n or 0)
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _heading(title: str, g: _Glyphs, extra: str | None = None) -> Text:
    t = _lead(title, "bold underline")
    if extra:
        t.append("  " + extra, style="dim")
    return t


# ---------------------------------------------------------------------------- the card


def _title(card: dict[str, Any], g: _Glyphs) -> Text:
    s = card["session"]
    c = card["contact"]
    t = Text()
    t.append(g.session_icon(card["icon"]) + " ")
    t.append_text(_t(c["name"], g, "bold" if c["known"] else "bold italic"))
    t.append(g.sep, style=_SEP)
    t.append_text(_t(s["type_label"], g, "bold"))
    t.append(g.sep, style=_SEP)
    state = s["state"].replace("_", " ")
    t.append(state, style="bold green" if s["state"] == "active" else "dim")
    t.append(g.sep, style=_SEP)
    t.append(s["short_id"], style="cyan")
    return t


def _badge(card: dict[str, Any], g: _Glyphs) -> Text | None:
    """`🤖 automated: ai_agent (GPTBot, user_agent_list:GPTBot)` on an automated session;
    None on a person's."""
    text = traffic_badge(card.get("traffic"))
    if text is None:
        return None
    t = Text()
    t.append(automated_icon(g.ascii) + " ", style=AUTOMATED_STYLE)
    t.append_text(_t(text, g, AUTOMATED_STYLE))
    return t


def _summary_line(card: dict[str, Any], g: _Glyphs, width: int) -> Text:
    """Duration and counts, broken between them where the width ends (at 60 columns the
    line broke inside "visit 1 of 3")."""
    cnt = card["counts"]
    visit = card["visit"]
    return _wrap_parts(
        [
            Text(card["timing"]["duration"] or "0:00:00", style="bold"),
            _plural(cnt["events"], "event"),
            _plural(cnt["page_views"], "page view"),
            _plural(cnt["searches"], "search", "searches"),
            f"visit {visit['number']} of {visit['of']}" if visit["number"] else None,
        ],
        width,
        g,
    )


def _times(card: dict[str, Any], g: _Glyphs, width: int) -> _Pairs:
    """Start and end, in UTC and the visitor's zone: the local time goes to a line of its
    own where both do not fit (it broke inside the date)."""
    tm = card["timing"]
    rows = []
    for label, utc, local in (
        ("Start", tm["start"], tm["start_local"]),
        ("End", tm["end"], tm["end_local"]),
    ):
        loc = _local(local, tm["timezone"])
        room = width - len("Start") - 2
        v = _wrap_parts([_when(utc, g), "local " + loc if loc else None], room, g)
        rows.append((label, v))
    return _Pairs(rows, g)


def _current_page(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    out: list[RenderableType] = [_heading("Current page", g)]
    page = card["current_page"]
    if not page:
        out.append(Padding(Text("No page viewed in this session.", style="dim"), (0, 0, 0, 2)))
        return out
    # (a URL wider than the line breaks after its own `/`, `.`, ..., never inside a word)
    body = [_t(page["title"], g, "bold") if page["title"] else Text("(untitled)", "dim")]
    if page["url"]:
        body.append(_wrap_text(_t(page["url"], g, "underline"), width - 2, g))
    out.append(Padding(Group(*body), (0, 0, 0, 2)))
    return out


def _info_rows(card: dict[str, Any], g: _Glyphs) -> tuple[list[Any], list[Any]]:
    d, loc, ref, cam = card["device"], card["location"], card["referrer"], card["campaign"]
    s, c, cnt = card["session"], card["contact"], card["counts"]

    def val(parts: list[str]) -> Text:
        return _join([_t(p, g) for p in parts], g) if parts else _missing(g)

    os_ = " ".join(_nz(d["os_family"], d["os_version"]))
    browser = " ".join(_nz(d["browser_family"], d["browser_version"]))
    place = ", ".join(_nz(loc["locality"], loc["region_name"], loc["country_name"]))
    if loc["country"]:
        place = f"{place} ({_clean(loc['country'])})" if place else _clean(loc["country"])
    cam_parts = _nz(*campaign_parts(cam, g.quote))
    auth = card["authenticated"]
    visit = card["visit"]
    if c["known"]:
        match = val(_nz(c["match_method"]))
    elif c["state"]:
        match = Text("no saved contact matched", style="dim")
    else:
        match = Text("contacts not resolved", style="dim")
    left = [
        ("Device", val(_nz(d["category"], d["type"]))),
        ("OS", val([os_] if os_ else [])),
        ("Browser", val(_nz(browser, d["browser_lang"]))),
        ("Location", val([place] if place else [])),
        ("Time zone", val(_nz(loc["timezone"]))),
        ("IP organisation", val(_nz(loc["ip_organization"]))),
        ("Referrer", val(_nz(ref["name"], ref["medium"], ref["url"] or ref["hostname"]))),
        ("Campaign", val(cam_parts) if cam_parts else Text("none", style="dim")),
    ]
    right = [
        (
            "Activity",
            _join(
                [
                    _plural(cnt["events"], "event"),
                    _plural(cnt["page_views"], "page view"),
                    _plural(cnt["searches"], "search", "searches"),
                ],
                g,
            ),
        ),
        ("Journey map", Text(_plural(cnt["journey_events"], "entry", "entries"))),
        (
            "Authenticated",
            Text("yes" if auth else "no") if auth is not None else _missing(g),
        ),
        (
            "Visit",
            Text(f"{visit['number']} of {visit['of']}")
            if visit["number"]
            else Text(NOT_A_VISIT, style="dim")
            if card["session"]["type"] != "web"
            else _missing(g),
        ),
        ("Contact", _contact_text(c, g)),
        ("Contact match", match),
        *_typed_row(c, g),
        ("Customer", _join([_t(c["customer_id"], g), _t(c["customer_id_type"], g)], g)),
        ("Session id", _t(s["id"], g)),
        (
            "Source session",
            _t(s["source_session_id"], g) if s["source_session_id"] else _missing(g),
        ),
    ]
    return left, right


def _typed_row(c: dict[str, Any], g: _Glyphs) -> list[tuple[str, Text]]:
    """What an unknown visitor typed, as unverified details: never the contact's name."""
    typed = [_clean(v) for v in typed_details(c)]
    if not typed:
        return []
    text = _join(typed, g)
    text.append(" (unverified)", style="dim")
    return [("Typed", text)]


def _contact_text(c: dict[str, Any], g: _Glyphs) -> Text:
    if not c["known"]:
        t = _lead("Unknown", "italic")
        if c["state"]:
            t.append(g.sep, style=_SEP)
            t.append_text(_t(f"{c['state']} contact {_clean(c['contact_id'] or '')}", g, "dim"))
        return t
    return _join([_t(c["name"], g), _t(c["contact_id"], g) if c["contact_id"] else None], g)


def _info(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    left, right = _info_rows(card, g)
    if width >= INFO_WIDE:
        grid = Table.grid(padding=(0, 4), pad_edge=False)
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(_Pairs(left, g), _Pairs(right, g))
        body: RenderableType = grid
    else:
        body = _Pairs(left + right, g)
    return [_heading("Session information", g), Padding(body, (0, 0, 0, 2))]


def _event_label(ev: dict[str, Any], g: _Glyphs) -> Text:
    kind = ev["kind"]
    if kind == "search":
        t = _lead("search ", "dim")
        t.append_text(_t(f"{g.quote[0]}{_clean(ev['search_query'])}{g.quote[1]}", g))
        return t
    if kind == "segment_assigned":
        t = _lead("segment ", "dim")
        t.append_text(_t(ev["label"], g))
        return t
    if kind == "outcome_achieved":
        t = _lead("outcome ", "dim")
        t.append_text(_t(ev["label"], g))
        return t
    if kind == "web_action":
        t = _lead("action ", "dim")  # (its state follows its name: offered, qualified, ...)
        t.append_text(_t(ev["label"], g))
        return t
    return _t(ev["label"], g)


def _event_context(ev: dict[str, Any], g: _Glyphs, wide: bool) -> Text | None:
    """What follows the label on the one line: repeat views, attributes, rules source."""
    parts: list[Text] = []
    if ev["repeat_view"]:
        parts.append(Text(f"view {ev['view_number']}", style="yellow"))
    if ev["kind"] in ("custom", "app") and ev["attributes"]:
        attrs = ", ".join(f"{_clean(a['name'])}={_clean(a['value'])}" for a in ev["attributes"])
        parts.append(_t(attrs, g, "dim"))
    if ev["kind"] in ("custom", "app") and wide and ev["page_title"]:
        parts.append(_t("on " + _clean(ev["page_title"]), g, "dim"))
    if ev["source"] == "rules":
        parts.append(Text("(rules)", style="dim"))
    return _join(parts, g) if parts else None


def _tone_style(ev: dict[str, Any]) -> Style:
    """The colour of a journey entry: its tone's; segment matches have their own (never a
    tone's, so a red segment does not read as bad news)."""
    if ev["kind"] == "segment_assigned" and ev["tone"] == "neutral":
        return Style.parse(SEGMENT_STYLE)
    return Style.parse(TONE_STYLES.get(ev["tone"], "blue"))


def _details(ev: dict[str, Any], g: _Glyphs) -> _Pairs:
    rows: list[tuple[str, Text]] = []
    fraction = ev["time"][19:].removesuffix("Z")  # (.123, or .123456 when it has them)
    when = Text(_when(ev["time"], g).replace(" UTC", fraction + " UTC"))
    rows.append(("time", when))
    if ev["time_local"]:  # (a row of its own: a time is never folded between date and clock)
        rows.append(
            ("local", Text(ev["time_local"][:19].replace("T", " ") + ev["time_local"][19:]))
        )
    rows.append(
        (
            "event",
            _join([_t(ev["event_name"], g), Text(KIND_LABELS.get(ev["kind"], ev["kind"]))], g),
        )
    )
    if ev["page_title"]:
        rows.append(("page", _t(ev["page_title"], g)))
    if ev["page_url"]:
        rows.append(("url", _t(ev["page_url"], g)))
    if ev["search_query"] is not None:
        rows.append(("search", _t(ev["search_query"], g)))
    if ev["segment_id"]:
        rows.append(("segment", _join([_t(ev["segment_name"], g), _t(ev["segment_id"], g)], g)))
    if ev["outcome_id"]:
        rows.append(("outcome", _join([_t(ev["outcome_name"], g), _t(ev["outcome_id"], g)], g)))
    if ev["action_state"] or ev["action_id"]:
        rows.append(
            (
                "action",
                _join(
                    [
                        _t(ev["action_map_name"], g) if ev["action_map_name"] else None,
                        _t(ev["action_state"], g) if ev["action_state"] else None,
                        _t(ev["action_media_type"], g) if ev["action_media_type"] else None,
                    ],
                    g,
                ),
            )
        )
    for a in ev["attributes"] or []:
        v = _t(a["name"], g, "bold")
        v.append(" = ")
        v.append_text(_t(a["value"], g))
        if a.get("data_type"):
            v.append(f" ({_clean(a['data_type'])})", style="dim")
        rows.append(("attribute", v))
    rows.append(("event id", _t(ev["event_id"], g, "dim")))
    return _Pairs(rows, g, "dim")


def _journey(
    card: dict[str, Any], g: _Glyphs, width: int, details: bool, limit: int | None = CARD_EVENTS
) -> list[RenderableType]:
    """The journey map: the first and last events of a long one (`limit` in all, see
    split_events), a line in between saying how many are not shown."""
    head, tail, left_out = split_events(card["journey"], limit)
    events = [*head, *tail]
    wide = width >= WIDE
    legend = "+ positive, - negative, others neutral"
    if wide:
        zone = card["timing"]["timezone"] if card["timing"]["start_local"] else None
        legend += f"; clock: {_clean(zone)} time" if zone else "; clock: UTC"
    out: list[RenderableType] = [_heading("Journey map", g, legend)]
    if not events:
        out.append(Padding(Text("No events in this session.", style="dim"), (0, 0, 0, 2)))
        return out
    off_w = max(len(e["offset"] or "") for e in events)
    icon_w = max(cell_len(g.kind_icon(e["kind"])) for e in events)
    lines: list[RenderableType] = []
    for i, ev in enumerate(events):
        if left_out and i == len(head):
            lines.append(Padding(_t(events_not_shown(left_out), g, "dim"), (0, 0, 0, 2)))
        line = Text("  ")
        line.append((ev["offset"] or "").rjust(off_w), style="dim")
        line.append("  ")
        if wide:
            clock = _clock(ev["time_local"] or ev["time"])
            line.append(clock + "  ", style="dim")
        icon = g.kind_icon(ev["kind"])
        line.append(icon + " " * (icon_w - cell_len(icon)))
        style = _tone_style(ev)
        line.append(" " + TONE_MARKS.get(ev["tone"], " ") + " ", style=style + Style(bold=True))
        body = _event_label(ev, g)
        body.stylize(style)
        ctx = _event_context(ev, g, wide)
        if ctx is not None:
            body.append("  ")
            body.append_text(ctx)
        indent = line.cell_len
        line.append_text(_fit(body, width - indent, g))
        lines.append(line)
        if details:  # (under the entry's text, or at 4 where that leaves too little room)
            pad = indent if width - indent >= DETAILS_MIN else min(indent, 4)
            lines.append(Padding(_details(ev, g), (0, 0, 0, pad)))
    out.extend(lines)
    return out


def _searches(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    items = card["searches"]
    out: list[RenderableType] = [_heading(f"Searches performed ({len(items)})", g)]
    if not items:
        out.append(Padding(Text("No searches in this session.", style="dim"), (0, 0, 0, 2)))
        return out
    for s in items:
        line = Text("  ")
        line.append((s["offset"] or "").rjust(7), style="dim")
        line.append("  ")
        line.append_text(_t(f"{g.quote[0]}{_clean(s['query'])}{g.quote[1]}", g, "bold"))
        out.append(_fit(line, width, g))
    return out


def _matched(offset: str | None, when: str | None, source: str, g: _Glyphs, wide: bool) -> Text:
    """`at 0:02:05 · 09:14:08 UTC · rules`: when in the session, and who says so."""
    parts = [f"at {offset}" if offset else None]
    if when:
        parts.append(_when(when, g) if wide else when[11:19] + " UTC")
    parts.append("jtrack rules" if source == "rules" else "export")
    return _join([Text(p, style="dim") for p in parts if p], g)


def _with_when(line: Text, when: Text, g: _Glyphs, width: int) -> list[RenderableType]:
    """A match's line with when and who says so beside it where both fit, else under it,
    indented (the name may be cut; a time never is: `at 0:00:11 · 05:3…` at 40 columns)."""
    if line.cell_len + 2 + when.cell_len <= width:
        return [line + Text("  ") + when]
    return [_fit(line, width, g), Padding(_wrap_text(when, width - 6, g), (0, 0, 0, 6))]


def _sections(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    """Segments, then outcomes; a section the role may not see is left out, not shown
    empty ("no segments matched" would say what it does not know)."""
    hidden = card.get("hidden_sections") or ()
    out: list[RenderableType] = []
    for key, part in (("segments", _segments), ("outcomes", _outcomes)):
        if key not in hidden:
            out += [Text(""), *part(card, g, width)]
    return out


def _segments(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    items = card["segments"]
    out: list[RenderableType] = [_heading(f"Segments matched ({len(items)})", g)]
    if not items:
        out.append(Padding(Text("No segments matched in this session.", style="dim"), (0, 0, 0, 2)))
        return out
    wide = width >= WIDE
    for s in items:
        color = Style.parse(s["color"]) if s["color"] else Style.parse("blue")
        line = Text("  ")
        line.append(g.dot + " ", style=color)  # (the segment's own colour: on its dot only)
        line.append_text(_t(s["display_name"], g, Style.parse(SEGMENT_STYLE) + Style(bold=True)))
        if wide and s["display_name"] != s["segment_id"]:
            line.append(" ")
            line.append_text(_t(f"({_clean(s['segment_id'])})", g, "dim"))
        out += _with_when(
            line, _matched(s["offset"], s["matched_at"], s["source"], g, wide), g, width
        )
    return out


def _outcomes(card: dict[str, Any], g: _Glyphs, width: int) -> list[RenderableType]:
    items = card["outcomes"]
    out: list[RenderableType] = [_heading(f"Outcomes achieved ({len(items)})", g)]
    if not items:
        out.append(
            Padding(Text("No outcomes achieved in this session.", style="dim"), (0, 0, 0, 2))
        )
        return out
    wide = width >= WIDE
    for o in items:
        negative = o.get("tone") == "negative"
        colour = "red" if negative else "green"
        line = Text("  ")
        line.append(g.kind_icon("outcome_achieved") + " ", style=colour)
        line.append("- " if negative else "+ ", style=f"bold {colour}")  # (not colour alone)
        line.append_text(_t(o["display_name"], g, f"bold {colour}"))
        if wide and o["display_name"] != o["outcome_id"]:
            line.append(" ")
            line.append_text(_t(f"({_clean(o['outcome_id'])})", g, "dim"))
        out += _with_when(
            line, _matched(o["offset"], o["achieved_at"], o["source"], g, wide), g, width
        )
    return out


def _notes(card: dict[str, Any], g: _Glyphs) -> list[RenderableType]:
    if not card["notes"]:
        return []
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for n in card["notes"]:
        grid.add_row(Text(g.bullet, style="dim"), _t(n, g, "dim"))
    return [_heading("What this card does not know", g), Padding(grid, (0, 0, 0, 2))]


class CardView:
    """A session card as a Rich renderable that lays itself out for the width it gets."""

    def __init__(
        self,
        card: dict[str, Any],
        *,
        ascii: bool = False,
        details: bool = False,
        events: int | None = CARD_EVENTS,
    ) -> None:
        self.card = card
        self.g = _Glyphs(ascii)
        self.details = details
        self.events = events  # (journey-map events shown: see split_events; None: all)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        card, g = self.card, self.g
        badge = _badge(card, g)
        indent = 3 if not g.ascii else 6
        parts: list[RenderableType] = [
            _wrap_text(_title(card, g), width, g),
            *([Padding(_fit(badge, width - indent, g), (0, 0, 0, indent))] if badge else []),
            Padding(_summary_line(card, g, width - indent), (0, 0, 0, indent)),
            Padding(_times(card, g, width - indent), (0, 0, 0, indent)),
            Text(""),
            *_current_page(card, g, width),
            Text(""),
            *_info(card, g, width),
            Text(""),
            *_journey(card, g, width, self.details, self.events),
            Text(""),
            *_searches(card, g, width),
            *_sections(card, g, width),
        ]
        notes = _notes(card, g)
        if notes:
            parts += [Text(""), *notes]
        yield Group(*parts)


def card_renderable(
    card: dict[str, Any],
    *,
    ascii: bool = False,
    details: bool = False,
    boxed: bool = False,
    events: int | None = CARD_EVENTS,
) -> RenderableType:
    """The card; `boxed` draws a frame around it (for terminals, never when piped);
    `events`: the journey-map events shown of a longer journey (None: every one)."""
    view = CardView(card, ascii=ascii, details=details, events=events)
    if boxed and not ascii:
        return Panel(view, box=box.ROUNDED, padding=(0, 1), border_style="dim")
    return view


def render_text(renderable: RenderableType, width: int) -> str:
    """Plain text at a fixed width: no colour, no terminal codes (goldens, -o FILE)."""
    console = Console(
        width=width,
        color_system=None,
        force_terminal=False,
        record=True,
        file=io.StringIO(),
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())


def render_card_text(
    card: dict[str, Any],
    *,
    width: int = 100,
    ascii: bool = False,
    details: bool = False,
    events: int | None = CARD_EVENTS,
) -> str:
    return render_text(card_renderable(card, ascii=ascii, details=details, events=events), width)


# ---------------------------------------------------------------------------- journeys


def _strip(card: dict[str, Any], g: _Glyphs, width: int) -> Text:
    """The journey map of a session as one line of coloured icons; a positive or negative
    entry carries its sign (+ or -) too, as in the card: never told by colour alone."""
    t = Text()
    events = card["journey"]
    for i, ev in enumerate(events):
        mark = TONE_MARKS.get(ev["tone"], " ").strip()
        if g.ascii:
            icon = STRIP_ASCII.get(ev["kind"], "?") + mark + " "
        else:
            icon = g.kind_icon(ev["kind"]) + mark
        step = cell_len(icon)
        rest = len(events) - i
        more = f" +{rest}"
        if t.cell_len + step + len(more) > width and rest > 0:
            t.append(more, style="dim")
            break
        t.append(icon, style=_tone_style(ev))
    return t


class JourneyView:
    """All sessions of a visitor or contact as compact cards, newest first, with totals."""

    def __init__(self, journey: dict[str, Any], *, ascii: bool = False) -> None:
        self.journey = journey
        self.g = _Glyphs(ascii)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        j, g = self.journey, self.g
        width = options.max_width
        tot = j["totals"]
        c = j["contact"]
        head = _lead("Customer journey of ", "bold")
        head.append_text(_t(c["name"], g, "bold" if c["known"] else "bold italic"))
        parts: list[RenderableType] = [head]
        who = _lead(f"{j['matched_by'].replace('_', ' ')} ", "dim")
        who.append_text(_t(j["query"], g))
        id_parts: list[Text | str | None] = [who]
        if c["known"] and j["matched_by"] != "contact_id" and c["contact_id"]:
            contact = _lead("contact ", "dim")
            contact.append_text(_t(c["contact_id"], g))
            id_parts.append(contact)
        # ids and counts are wrapped, never cut
        parts.append(Padding(_wrap_parts(id_parts, width - 2, g), (0, 0, 0, 2)))
        counts = _wrap_parts(
            [
                Text(_plural(tot["sessions"], "session"), style="bold"),
                _plural(tot["events"], "event"),
                _plural(tot["page_views"], "page view"),
                _plural(tot["searches"], "search", "searches"),
                # (none for a count the role may not see: null)
                *([_plural(tot["segments"], "segment")] if tot["segments"] is not None else []),
                *([_plural(tot["outcomes"], "outcome")] if tot["outcomes"] is not None else []),
            ],
            width - 2,
            g,
        )
        parts.append(Padding(counts, (0, 0, 0, 2)))
        scope = j.get("traffic")
        if scope is not None:
            from jtrack.usecases.traffic import describe_classes

            line = "traffic: " + describe_classes(scope["classes"])
            parts.append(Padding(_t(line, g, "dim"), (0, 0, 0, 2)))
        if tot["by_type"] and set(tot["by_type"]) - {"web"}:  # an order system's 26-hour
            # session is no time on site (the profile's and JSON's web_duration)
            spent = Text(f"{tot['web_duration']} on site (web sessions)")
        else:
            spent = Text(f"{tot['duration']} in total")
        dates = f"{_when(tot['first_seen'], g)} to {_when(tot['last_seen'], g)}"
        # (the dates on a line of their own where both do not fit: a time is never folded)
        # (and, where the dates alone do not fit, broken between them, each time whole)
        span = _wrap_parts([spent, Text(dates, style="dim")], width - 2, g)
        span = _wrap_text(span, width - 2, g)
        parts.append(Padding(span, (0, 0, 0, 2)))
        if len(j["customer_ids"]) > 1:
            ids = ", ".join(_clean(x) for x in j["customer_ids"])
            parts.append(Padding(_t(f"cookies: {ids}", g, "dim"), (0, 0, 0, 2)))
        if tot["by_type"] and set(tot["by_type"]) != {"web"}:
            kinds = ", ".join(f"{_clean(k)} {n}" for k, n in tot["by_type"].items())
            parts.append(Padding(Text(f"by type: {kinds}", style="dim"), (0, 0, 0, 2)))
        if g.ascii:
            parts.append(Padding(Text("map: " + STRIP_LEGEND, style="dim"), (0, 0, 0, 2)))
        for note in j["notes"]:
            parts.append(Padding(_t(note, g, "dim"), (0, 0, 0, 2)))
        cookies = j["customer_ids"] if len(j["customer_ids"]) > 1 else []
        for card in j["sessions"]:
            parts.append(Text(""))
            parts.extend(_compact(card, g, width, cookies))
        yield Group(*parts)


def _compact(
    card: dict[str, Any], g: _Glyphs, width: int, cookies: list[str] | None = None
) -> list[RenderableType]:
    """A session of a journey in brief; `cookies`: those of a journey that spans several,
    and each visit number says which cookie it counts on."""
    s, tm, cnt = card["session"], card["timing"], card["counts"]
    kind = Text(g.session_icon(card["icon"]) + " ")
    kind.append_text(_t(s["type_label"], g, "bold"))
    visit = card["visit"]
    indent = 3 if not g.ascii else 4
    # (wrapped between its parts, the lines after the first indented as the card's lines)
    title_lines = _wrap_parts(
        [
            kind,
            Text(
                s["state"].replace("_", " "),
                style="bold green" if s["state"] == "active" else "dim",
            ),
            Text(s["short_id"], style="cyan"),
            (
                f"visit {visit['number']} of {visit['of']}"
                + (
                    f" on cookie {_clean(short_cookie(card['contact']['customer_id'], cookies))}"
                    if cookies
                    else ""
                )
            )
            if visit["number"]
            else None,
        ],
        width,
        g,
    ).split("\n")
    title: RenderableType = title_lines[0]
    if len(title_lines) > 1:
        rest = Text("\n").join(title_lines[1:])
        title = Group(title_lines[0], Padding(rest, (0, 0, 0, indent)))
    room = width - indent
    badge = _badge(card, g)
    when_parts: list[Text | str | None] = [
        _when(tm["start"], g),
        Text(tm["duration"] or "0:00:00", style="bold"),
        _plural(cnt["events"], "event"),
        _plural(cnt["page_views"], "page view"),
        _plural(cnt["searches"], "search", "searches") if cnt["searches"] else None,
    ]
    lines: list[Text] = [_fit(badge, room, g)] if badge else []
    lines.append(_wrap_parts(when_parts, room, g))  # counts are wrapped, never cut
    came = [
        _lead(f"{label} ", "dim") + _join([_t(v, g) for v in vs], g) for label, vs in arrival(card)
    ]
    if came:  # (how it arrived: wrapped between its parts, a host never cut)
        lines.append(_wrap_text(_wrap_parts(came, room, g), room, g))
    for label, page in visit_pages(card):  # (where it landed and where it left)
        p = _lead(f"{label} ", "dim")
        p.append_text(_t(page["title"] or page["url"], g))
        lines.append(_fit(p, room, g))
    lines.append(_fit(_strip(card, g, room), room, g))
    extras = []
    if card["searches"]:
        q = ", ".join(f"{g.quote[0]}{_clean(x['query'])}{g.quote[1]}" for x in card["searches"])
        extras.append(_t("searched " + q, g))
    if card["segments"]:
        seg = _lead("segments ", "dim")
        for i, x in enumerate(once_each(card["segments"], "segment_id")):
            if i:
                seg.append(", ")
            # (in violet: a segment's own colour may be a tone's, red reading as bad news)
            seg.append_text(_t(x["display_name"], g, SEGMENT_STYLE))
        extras.append(seg)
    if card["outcomes"]:
        o = _lead("outcomes ", "dim")
        for i, x in enumerate(once_each(card["outcomes"], "outcome_id")):
            o.append(", " if i else "")
            negative = x.get("tone") == "negative"
            colour = "red" if negative else "green"
            o.append("-" if negative else "+", style=colour)
            o.append_text(_t(_clean(x["display_name"]), g, colour))
        extras.append(o)
    lines.extend(extras)  # (wrapped, never cut: the last name is what was cut)
    lines.extend(_t(note, g, "dim") for note in card["notes"])  # (wrapped, never cut)
    return [title, *(Padding(x, (0, 0, 0, indent)) for x in lines)]


def journey_renderable(
    journey: dict[str, Any], *, ascii: bool = False, boxed: bool = False
) -> RenderableType:
    view = JourneyView(journey, ascii=ascii)
    if boxed and not ascii:
        return Panel(view, box=box.ROUNDED, padding=(0, 1), border_style="dim")
    return view


def render_journey_text(journey: dict[str, Any], *, width: int = 100, ascii: bool = False) -> str:
    return render_text(journey_renderable(journey, ascii=ascii), width)


# ---------------------------------------------------------------------------- Markdown


def journey_markdown(journey: dict[str, Any], source: dict[str, Any] | None = None) -> str:
    """A journey as Markdown (`jtrack journey -f md`), the terminal's sections: who, the
    totals and notes, then the sessions shown, newest first, one row each (when, how long,
    what, how it arrived, its first and last page, searches, segments, outcomes, notes);
    where it comes from and when it was made (`source`: as the profile's footer says it)."""
    import polars as pl

    from jtrack.render.report_html import made_words
    from jtrack.render.text import plural
    from jtrack.serialize import md_text, to_markdown

    j, tot, c = journey, journey["totals"], journey["contact"]
    who = [f"{j['matched_by'].replace('_', ' ')} {j['query']}"]
    if c["known"] and j["matched_by"] != "contact_id" and c["contact_id"]:
        who.append(f"contact {c['contact_id']}")
    counts = [
        plural(tot["sessions"], "session"),
        plural(tot["events"], "event"),
        plural(tot["page_views"], "page view"),
        plural(tot["searches"], "search", "searches"),
        *([plural(tot["segments"], "segment")] if tot["segments"] is not None else []),
        *([plural(tot["outcomes"], "outcome")] if tot["outcomes"] is not None else []),
    ]
    lines = [" · ".join(who), " · ".join(counts)]
    if j.get("traffic") is not None:
        from jtrack.usecases.traffic import describe_classes

        lines.append("traffic: " + describe_classes(j["traffic"]["classes"]))
    if tot["by_type"] and set(tot["by_type"]) - {"web"}:
        spent = f"{tot['web_duration']} on site (web sessions)"
    else:
        spent = f"{tot['duration']} in total"
    g = _Glyphs(False)
    lines.append(f"{spent} · {_when(tot['first_seen'], g)} to {_when(tot['last_seen'], g)}")
    if len(j["customer_ids"]) > 1:
        lines.append("cookies: " + ", ".join(str(x) for x in j["customer_ids"]))
    if tot["by_type"] and set(tot["by_type"]) != {"web"}:
        lines.append("by type: " + ", ".join(f"{k} {n}" for k, n in tot["by_type"].items()))
    lines += [f"Note: {n}" for n in j["notes"]]
    lines.append(made_words(source))
    out = [f"# Customer journey of {md_text(c['name'])}", ""]
    for line in lines:
        out += [md_text(line), ""]
    cookies = j["customer_ids"] if len(j["customer_ids"]) > 1 else []
    rows = [_md_row(card, cookies) for card in j["sessions"]]
    if rows:
        texts = {k: pl.List(pl.String) for k in ("searched", "segments", "outcomes", "notes")}
        table = pl.DataFrame(rows, schema_overrides=texts, infer_schema_length=None)
        out += [f"## Sessions, newest first ({len(rows)})", "", to_markdown(table)]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_row(card: dict[str, Any], cookies: list[str]) -> dict[str, Any]:
    """A session of a journey as a row of its Markdown table (see journey_markdown)."""
    s, tm, cnt, visit = card["session"], card["timing"], card["counts"], card["visit"]
    came = dict(arrival(card))
    g = _Glyphs(False)
    pages = {label: p["title"] or p["url"] for label, p in visit_pages(card)}
    badge = traffic_badge(card.get("traffic"))
    number = f"{visit['number']} of {visit['of']}" if visit["number"] else None
    if number and cookies:
        number += f" on cookie {short_cookie(card['contact']['customer_id'], cookies)}"
    return {
        "session": s["short_id"],
        "type": s["type_label"],
        "state": s["state"].replace("_", " "),
        "visit": number,
        "start": _when(tm["start"], g),
        "duration": tm["duration"] or "0:00:00",
        "events": cnt["events"],
        "page_views": cnt["page_views"],
        "searches": cnt["searches"],
        **{k: " · ".join(came[k]) if k in came else None for k in ARRIVAL},
        "first_page": pages.get("first page", pages.get("first and last page")),
        "last_page": pages.get("last page", pages.get("first and last page")),
        "searched": [f"“{x['query']}”" for x in card["searches"]],
        "segments": [x["display_name"] for x in once_each(card["segments"], "segment_id")],
        "outcomes": [
            ("-" if x.get("tone") == "negative" else "+") + str(x["display_name"])
            for x in once_each(card["outcomes"], "outcome_id")
        ],
        "notes": [*([badge] if badge else []), *card["notes"]],
    }
