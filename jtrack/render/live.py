"""The live view (`jtrack watch`): the terminal screen, the one-frame table, the line log and
the self-contained HTML status page, from a jtrack.usecases.live.LiveFrame.

Every string from the data is shown literally (rich.text.Text, control characters replaced;
HTML escaped). Tables go through jtrack.render.table, so they fit 80 columns.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from rich.console import Console, Group, RenderableType
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

from jtrack.render.table import FrameTable, render_to_text
from jtrack.serialize import iso_z, strip_control
from jtrack.usecases.live import SORTS, LiveFrame, view_sessions

#: Columns of the active-session table on screen (every field is in --format json).
SCREEN_COLUMNS = [
    "id",
    "contact_name",
    "last_page_title",
    "duration_in_seconds",
    "event_count",
    "idle_seconds",
    "traffic_class",
]
#: Short names for the sort keys, shown in the key line.
SORT_LABELS = {
    "ended_date": "last activity",
    "duration_in_seconds": "duration",
    "event_count": "events",
    "contact_name": "contact",
    "last_page_title": "page",
    "traffic_class": "traffic",
    "created_date": "start",
}
_SPARK = " ▁▂▃▄▅▆▇█"
_SPARK_ASCII = " .:-=+*#%@"
MARK = "›"


@dataclass
class ViewState:
    """What the person at the terminal chose: sort, filter, selection, an open card."""

    sort: int = 0  # index in SORTS
    text: str = ""  # the filter
    typing: bool = False  # `/` pressed: keys go to the filter
    people_only: bool = True
    selected: int = 0  # row of the listed sessions
    selected_id: str | None = None
    card: Any = None  # a card's dict (jtrack.usecases.card.Card.to_dict()) while open
    card_request: str | None = None  # session id whose card the loop should build
    scroll: int = 0  # first line of the open card shown
    quit: bool = False
    message: str | None = None
    listed: list[str] = field(default_factory=list)  # ids in the order shown last
    ascii: bool = False  # plain ASCII: no arrows or block characters

    @property
    def sort_key(self) -> tuple[str, bool]:
        return SORTS[self.sort % len(SORTS)]


def _t(value: Any, style: str = "") -> Text:
    return Text(strip_control("" if value is None else str(value)), style=style)


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:,}"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _clock(t: datetime | None, seconds: bool = True) -> str:
    if t is None:
        return "-"
    return t.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _gap(seconds: float) -> str:
    s = int(seconds)
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def sparkline(values: list[int], ascii: bool = False) -> str:
    """One character per value, scaled to the largest; a value of 0 is blank (an hour
    without events too: it drew every minute as the lowest bar, as "some events")."""
    chars = _SPARK_ASCII if ascii else _SPARK
    top = max(values, default=0)
    if top <= 0:
        return chars[0] * len(values)
    steps = len(chars) - 1
    return "".join(chars[0] if v <= 0 else chars[max(1, round(v / top * steps))] for v in values)


def header(frame: LiveFrame) -> list[Text]:
    """Who, when and how many: the lines above the sessions."""
    o = frame.overview
    clock = "wall clock" if frame.clock == "wall clock" else "--as-of: a replay"
    top = Text()
    top.append("jtrack watch", style="bold")
    top.append(f"  now {_clock(frame.as_of)} ({clock})  gap {_gap(frame.gap_seconds)}")
    kpi = Text()
    kpi.append(f"{o['active_sessions']:,}", style="bold")
    active = "active session" if o["active_sessions"] == 1 else "active sessions"
    visitors = "visitor" if o["active_visitors"] == 1 else "visitors"
    kpi.append(f" {active} ({o['active_visitors']:,} {visitors})   ")
    kpi.append(f"{o['events_per_minute']:,}", style="bold")
    kpi.append(" events/min   ")
    kpi.append(f"{o['visitors_per_minute']:,}", style="bold")
    kpi.append(" visitors/min")
    from jtrack.render.text import plural

    hour = Text(
        f"last hour: {plural(o['events_last_hour'], 'event')}, "
        f"{plural(o['sessions_last_hour'], 'session')}, "
        f"{plural(o['visitors_last_hour'], 'visitor')}"
    )
    automated = Text(
        f"automated: {_pct(o['automated_share'])} of the hour's sessions "
        f"({o['automated_sessions_last_hour']:,}), {_pct(o['automated_event_share'])} of its "
        "events"
    )
    where = Text(
        strip_control(
            f"newest event {_clock(frame.last_event)}; {frame.events_in_store:,} in the store "
            f"{frame.store} ({frame.version or '-'})"
        ),
        style="dim",
    )
    return [top, kpi, hour, automated, Text(frame.scope.summary(), style="dim"), where]


def per_minute_line(frame: LiveFrame, width: int, ascii: bool = False) -> Text:
    """Events per minute over the last hour, one character a minute (the newest right,
    a minute without events blank), and the scale's top (`max 12/min`)."""
    values = [int(v) for v in frame.per_minute.get_column("events").to_list()]
    # the hour whole where it fits (80 columns: a shorter label), else its last minutes,
    # said; where not even 10 of them fit beside the label, the bars go under it, at 2
    for label in ("events/min, last hour ", "events/min, 60 min "):
        if len(label) + len(values) <= width - 1:
            line = Text(label, style="dim")
            break
    else:
        room = width - len("events/min, last 60 min ") - 1
        values = values[-(room if room >= 10 else max(width - 3, 1)) :]
        label = f"events/min, last {len(values)} min "
        if room < 10:
            if len(label) > width:
                label = f"events/min, {len(values)} min "
            line = Text(label.rstrip(), style="dim")
            label = "  "
            line.append("\n" + label)
        else:
            line = Text(label, style="dim")
    line.append(sparkline(values, ascii))
    # the scale: the tallest bar's events a minute, on the line where it fits, else under
    # the bars' start (a reader of the heights needs it), never broken
    top = max(values, default=0)
    scale = f"max {top:,}/min" if top > 0 else "no events"
    if len(label) + len(values) + 2 + len(scale) <= width - 1:
        line.append("  " + scale, style="dim")
    else:
        indent = len(label) if len(label) + len(scale) <= width - 1 else 2
        line.append("\n" + " " * indent + scale, style="dim")
    return line


def _screen_frame(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        idle_seconds=pl.duration(microseconds=(pl.col("idle_seconds") * 1e6).cast(pl.Int64)),
    ).select(SCREEN_COLUMNS)


def sessions_table(
    frame: LiveFrame,
    state: ViewState | None = None,
    limit: int | None = None,
) -> tuple[RenderableType, pl.DataFrame]:
    """The active sessions as listed (sorted and filtered as `state` says), at most `limit`
    rows (around the selection); the renderable and the listed frame."""
    sort, desc = state.sort_key if state else SORTS[0]
    listed = view_sessions(frame.active, sort, desc, state.text if state else None)
    shown = listed
    first = 0
    if state is not None and listed.height:
        state.selected = max(0, min(state.selected, listed.height - 1))
    if limit is not None and listed.height > limit:
        if state is not None:
            first = max(0, min(state.selected - limit // 2, listed.height - limit))
        shown = listed.slice(first, limit)
    selected_id = None
    if state is not None and listed.height:
        selected_id = listed.get_column("id")[state.selected]
    n = listed.height
    title = Text(f"Active now: {n:,} session{'s' if n != 1 else ''}", style="bold")
    if state is not None:
        title.append(f"  sorted by {SORT_LABELS.get(sort, sort)}", style="dim")
        if state.text or state.typing:
            title.append("  filter: ", style="dim")
            title.append(strip_control(state.text) + ("_" if state.typing else ""))
    if limit is not None and n > shown.height:
        title.append(f"  ({first + 1}-{first + shown.height} shown)", style="dim")
    if n == 0:
        what = "no session matches the filter" if state and state.text else "no active session"
        return Group(title, Text(what, style="dim")), listed
    marks = None
    if state is not None:  # (the selection's mark in a gutter: the columns fit as in --once)
        mark = ">" if state.ascii else MARK
        marks = [mark if i == selected_id else "" for i in shown.get_column("id").to_list()]
    table = FrameTable(
        _screen_frame(shown),
        title,
        prefixes={"id": frame.id_length},
        optional=("idle_seconds", "traffic_class"),
        marks=marks,
        hint=state is None,  # (the live screen's width is the terminal's: no hint)
    )
    return table, listed


_SITE = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]+"


def _site_paths(pages: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """Pages of one site shown as paths (the site goes in the title), as `jtrack report`
    shows them in the terminal."""
    sites = pages.get_column("page").drop_nulls().str.extract(_SITE, 0)
    if pages.height == 0 or sites.null_count() or sites.n_unique() != 1:
        return pages, None
    site = str(sites[0])
    paths = pl.col("page").str.replace(_SITE, "")
    shown = pages.with_columns(page=pl.when(paths == "").then(pl.lit("/")).otherwise(paths))
    return shown, site.split("://", 1)[1]


def _top_tables(frame: LiveFrame, top: int | None, hint: bool = True) -> list[FrameTable]:
    """The hour's tables; `hint`: a note on the columns left out says what shows them."""
    t = frame.tables

    def head(df: pl.DataFrame) -> pl.DataFrame:
        return df if top is None else df.head(top)

    sources = head(t["sources"]).with_columns(source=pl.col("source").fill_null("(direct)"))
    pages, site = _site_paths(head(t["top_pages"]))
    return [
        FrameTable(
            pages.select("page", "title", "page_views", "visitors"),
            "Top pages, last hour" + (f" ({site})" if site else ""),
            optional=("title",),
            hint=hint,
        ),
        FrameTable(
            head(t["top_searches"]).select("search", "searches", "visitors"),
            "Top searches, last hour",
            hint=hint,
        ),
        FrameTable(
            sources.select("source", "medium", "sessions"),
            "Top sources, last hour",
            hint=hint,
        ),
        FrameTable(
            t["traffic"].select("traffic_class", "sessions", "share_of_sessions", "events"),
            "Traffic, last hour (all classes)",
            hint=hint,
        ),
    ]


def keys_line(state: ViewState) -> Text:
    arrows = "up/down" if state.ascii else "↑↓"
    sort = SORT_LABELS.get(state.sort_key[0], state.sort_key[0])
    if state.card is not None:
        return Text(f"{arrows} scroll  Esc/q back to the list", style="dim")
    if state.typing:
        return Text("type to filter  Enter done  Esc clear", style="dim")
    people = "all traffic" if state.people_only else "people only"
    line = Text(
        f"{arrows} select  Enter card  s sort ({sort})  / filter  h {people}  q quit", style="dim"
    )
    if state.message:
        line.append("   " + strip_control(state.message), style="yellow")
    return line


def frame_renderable(
    frame: LiveFrame, width: int = 80, top: int | None = None, ascii: bool = False
) -> Group:
    """The whole frame as a document (`--once`): header, per minute, every active session,
    and the hour's tables."""
    table, _ = sessions_table(frame)
    parts: list[RenderableType] = [
        *header(frame),
        per_minute_line(frame, width, ascii),
        Text(""),
        table,
    ]
    for t in _top_tables(frame, top):
        parts += [Text(""), t]
    return Group(*parts)


def render_frame_text(frame: LiveFrame, width: int = 80, top: int | None = None) -> str:
    """`--once` as plain text at `width` columns (no colour)."""
    return render_to_text(frame_renderable(frame, width, top), width=width)


def screen(
    frame: LiveFrame | None,
    state: ViewState,
    width: int,
    height: int,
    waiting: str | None = None,
    card: RenderableType | None = None,
    ascii: bool = False,
) -> RenderableType:
    """The live screen for a terminal of `width` x `height`: header, sessions (as many as
    fit), the hour's top tables (a few rows each), the keys; or the open card."""
    if card is not None:
        return _card_screen(card, state, width, height)
    if frame is None:
        return Group(
            Text("jtrack watch", style="bold"),
            Text(strip_control(waiting or "waiting for the first export..."), style="dim"),
            Text(""),
            keys_line(state),
        )
    head: list[RenderableType] = [*header(frame), per_minute_line(frame, width, ascii)]
    keys = keys_line(state)
    # laid out from the heights things take at this width (a line that wraps takes two):
    # the keys and message line always shows; the hour's tables lose rows first, then go,
    # and the sessions shown are as many as the rest leaves
    above = height - _lines(keys, width)  # (the lines above the keys)
    room = above - _lines(Group(*head), width)
    n = view_sessions(frame.active, *state.sort_key, state.text).height
    # the sessions' title and column heads (the table of one row, less its row)
    overhead = _lines(sessions_table(frame, state, limit=1)[0], width) - (n > 0)
    want = min(n, 3)  # (session rows wanted before the hour's tables get any)
    most = 5 if height >= 36 else 3
    tops_block: RenderableType | None = None
    rows = left = 0
    for tops_rows in range(most, -1, -1):
        tops_block = _tops_block(frame, width, tops_rows) if tops_rows else None
        left = room - (_lines(tops_block, width) + 1 if tops_block is not None else 0)
        rows = left - overhead
        if rows >= want:
            break
    table, listed = sessions_table(frame, state, limit=max(rows, 1))
    # the heads of more rows may wrap where one row's did not (a longer title or class
    # widens a column): a session row gives way before the hour's tables are cut
    while rows > 1 and _lines(table, width) > left:
        rows -= 1
        table, listed = sessions_table(frame, state, limit=rows)
    state.listed = listed.get_column("id").to_list()
    state.selected_id = state.listed[state.selected] if state.listed else None
    body: list[RenderableType] = [*head, table]
    if tops_block is not None:
        body += [Text(""), tops_block]
    return Group(_cut(Group(*body), width, max(above, 0)), keys)


def _tops_block(frame: LiveFrame, width: int, rows: int) -> RenderableType:
    """The hour's top tables, `rows` rows each: two by two from 120 columns, else the top
    pages above searches and sources side by side (the traffic table left to --once)."""
    tops = _top_tables(frame, rows, hint=False)
    if width >= 120:
        grid = Table.grid(padding=(0, 3), expand=False)
        for _ in range(2):
            grid.add_column(width=(width - 3) // 2)
        grid.add_row(tops[0], tops[2])
        grid.add_row(tops[1], tops[3])
        return grid
    grid = Table.grid(padding=(0, 2), expand=False)
    grid.add_column(width=(width - 2) // 2)
    grid.add_column(width=(width - 2) // 2)
    grid.add_row(tops[1], tops[2])
    return Group(tops[0], grid)


def _console(width: int) -> Console:
    return Console(
        width=width,
        file=io.StringIO(),
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
    )


def _lines(renderable: RenderableType, width: int) -> int:
    """The lines `renderable` takes at `width` columns (wrapped lines counted)."""
    console = _console(width)
    return len(console.render_lines(renderable, console.options, pad=False))


def _cut(renderable: RenderableType, width: int, height: int) -> RenderableType:
    """`renderable` cut to its first `height` lines at `width` columns (styles kept)."""
    console = _console(width)
    lines = console.render_lines(renderable, console.options, pad=False)
    if len(lines) <= height:
        return renderable
    out: list[Segment] = []
    for line in lines[:height]:
        out += [*line, Segment.line()]
    return Segments(out)


def _card_screen(card: RenderableType, state: ViewState, width: int, height: int) -> RenderableType:
    """The open card, scrolled to `state.scroll`, cut to the screen's height."""
    lines = render_to_text(card, width=width).splitlines()
    room = max(height - 1, 1)
    state.scroll = max(0, min(state.scroll, max(len(lines) - room, 0)))
    shown = lines[state.scroll : state.scroll + room]
    return Group(*[Text(line) for line in shown], keys_line(state))


def log_line(frame: LiveFrame, added: int) -> str:
    """One line of the line log: time, events added, active sessions, events/min, newest."""
    o = frame.overview
    newest = iso_z(frame.last_event) or "-"
    return (
        f"{frame.as_of.strftime('%Y-%m-%dT%H:%M:%SZ')}  +{added:,} events  "
        f"{o['active_sessions']:,} active  {o['events_per_minute']:,} events/min  "
        f"{frame.events_in_store:,} in store  newest {newest}"
    )


# ---------------------------------------------------------------------------- HTML


def per_minute_svg(per_minute: pl.DataFrame, as_of: datetime | None = None) -> str:
    """Events per minute over the last hour as bars: a y axis of round figures with
    gridlines, clock times (UTC) every 10 minutes below, `now` at the right; each bar's
    tooltip says its minute."""
    from jtrack.render.report_html import CHART_FONT, _a, nice_ticks, y_axis

    values = [int(v) for v in per_minute.get_column("events").to_list()]
    minutes = (
        per_minute.get_column("minute").to_list()
        if "minute" in per_minute.columns
        else [None] * len(values)
    )
    width, height = 1040, 180
    ticks = nice_ticks(max([*values, 1]), 4)
    longest = max(len(f"{t:,}") for t in ticks)
    char_w = 0.62 * CHART_FONT
    left, right, top, bottom = int(longest * char_w) + 14, 44, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(values), 1)
    slot = plot_w / n
    out = [
        f'<div class="chartbox"><svg class="chart" data-chart="per_minute" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'preserveAspectRatio="xMinYMin meet"><title>Events per minute, last hour</title>',
        *y_axis(ticks, left, top, plot_w, plot_h),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#c3c9d5"/>',
    ]
    for i, (v, minute) in enumerate(zip(values, minutes, strict=True)):
        h = plot_h * v / ticks[-1]
        when = f"{minute:%H:%M} UTC: " if isinstance(minute, datetime) else ""
        out.append(
            f'<rect class="bar hb" data-value="{v}" x="{left + i * slot + 1:.2f}" '
            f'y="{top + plot_h - h:.2f}" width="{max(slot - 2, 0.5):.2f}" height="{h:.2f}">'
            f"<title>{_a(when)}{v:,} {'event' if v == 1 else 'events'}</title></rect>"
        )
    # clock times on the round ten minutes; `now` at the right edge
    x_now = left + plot_w
    for i, m in enumerate(minutes):
        x = left + i * slot
        if not isinstance(m, datetime) or m.minute % 10 or x > x_now - 10 * char_w:
            continue
        out.append(
            f'<text class="big x" x="{x:.2f}" y="{height - 12}" '
            f'text-anchor="middle">{m:%H:%M}</text>'
            f'<line class="grid" x1="{x:.2f}" y1="{top + plot_h}" '
            f'x2="{x:.2f}" y2="{top + plot_h + 5}"/>'
        )
    now = f"now {as_of:%H:%M}" if as_of is not None else "now"
    out.append(
        f'<line class="now" x1="{x_now:.2f}" y1="{top}" x2="{x_now:.2f}" '
        f'y2="{top + plot_h + 5}"/>'
        f'<text class="big now" x="{width - 2}" y="{height - 12}" text-anchor="end">'
        f"{_a(now)}</text>"
    )
    out.append("</svg></div>")
    return "".join(out)


def _minutes(per_minute: pl.DataFrame) -> pl.DataFrame:
    """The per-minute chart's figures as a table: each minute (its clock time in UTC, as
    the chart's) and its events."""
    if "minute" not in per_minute.columns:
        return per_minute.select("events")
    return per_minute.select(pl.col("minute").dt.strftime("%H:%M"), "events")


#: The live page's own styles, beside the report's: its warnings, and a stopped watch's.
LIVE_CSS = """
.asof { font-variant-numeric: tabular-nums; color: #5b6475; font-weight: 400; }
.warn { background: #fff6e5; border: 1px solid #f0c27b; border-radius: 8px; padding: 8px 12px;
  margin: 0 0 10px; }
.warn.stopped { background: #fdecea; border-color: #e6a5a0; font-weight: 600; }
"""


def live_html(
    frame: LiveFrame,
    refresh: float | None = 5.0,
    warnings: Sequence[str] = (),
    stopped: datetime | None = None,
) -> str:
    """A self-contained status page (the report's look, no script, no fetch) that reloads
    itself every `refresh` seconds; `refresh=None` (or 0) is a page that stays as it is
    (`--once`: a finished replay has nothing new to show). `warnings`: what the watch's
    message line and warning lines say (rows rejected, the store locked, waiting for a
    file); `stopped`: when the watch stopped (the page then says so, and does not reload)."""
    from jtrack import __version__
    from jtrack.render.report_html import CSP, CSS, _a, _e, html_table
    from jtrack.render.table import hms_expr

    o = frame.overview
    kpis = [
        ("active sessions", _num(o["active_sessions"])),
        ("active visitors", _num(o["active_visitors"])),
        ("events / min", _num(o["events_per_minute"])),
        ("visitors / min", _num(o["visitors_per_minute"])),
        ("events, last hour", _num(o["events_last_hour"])),
        ("sessions, last hour", _num(o["sessions_last_hour"])),
        ("visitors, last hour", _num(o["visitors_last_hour"])),
        ("automated share", _pct(o["automated_share"])),
    ]
    active = (
        frame.active.head(200).select(
            "id",
            "contact_name",
            "last_page_title",
            "last_page_url",
            hms_expr(pl.col("duration_in_seconds")).alias("duration"),
            "event_count",
            hms_expr(pl.col("idle_seconds")).alias("idle"),
            "traffic_class",
        )
        if frame.active.height
        else frame.active.select("id", "contact_name")
    )
    chart = per_minute_svg(frame.per_minute, frame.as_of)
    titles = {
        "top_pages": "Top pages, last hour",
        "top_searches": "Top searches, last hour",
        "sources": "Top sources, last hour",
        "traffic": "Traffic, last hour (all classes)",
    }
    sections = "".join(
        f'<section id="{_a(name)}"{WIDE if name == "top_pages" else ""}>'
        f"<h2>{_e(titles.get(name, name))}</h2>"
        f"{html_table(df, '(direct)' if name == 'sources' else '')}</section>"
        for name, df in frame.tables.items()
    )
    more = frame.active.height - min(frame.active.height, 200)
    clock = "wall clock" if frame.clock == "wall clock" else "--as-of: a replay"
    left_out = frame.scope.note()
    said = []
    if stopped is not None:
        said.append(
            f'<p class="warn stopped">jtrack watch stopped at {_e(_clock(stopped))}: this '
            "page is not updated any more (it shows the last frame)</p>"
        )
    said += [f'<p class="warn">warning: {_e(strip_control(w))}</p>' for w in warnings]
    body = (
        # (the frame's own time up front: a page whose watch was killed outright, which
        # could not say so, shows an old time)
        f'<h1>Live now <span class="asof">{_e(_clock(frame.as_of))}</span></h1>'
        + "".join(said)
        + f'<p class="sub">{_e(_clock(frame.as_of))} ({_e(clock)}); gap '
        f"{_e(_gap(frame.gap_seconds))}; store {_e(frame.store)} {_e(frame.version or '-')}, "
        f"{frame.events_in_store:,} events, newest {_e(_clock(frame.last_event))}</p>"
        f'<p class="sub traffic">{_e(frame.scope.line())}</p>'
        + (f'<p class="sub left-out">{_e(left_out)}</p>' if left_out else "")
        + '<div class="kpis">'
        + "".join(
            f'<div class="kpi" data-kpi="{_a(k)}"><div class="v">{_e(v)}</div>'
            f'<div class="k">{_e(k)}</div></div>'
            for k, v in kpis
        )
        + "</div>"
        + f'<section id="per_minute"><h2>Events per minute, last hour (UTC)</h2>{chart}'
        # the chart's figures as text: a screen reader and the keyboard reach no bar
        + "<details><summary>The figures per minute</summary>"
        + f"{html_table(_minutes(frame.per_minute))}</details></section>"
        + f'<section id="active" class="wide"><h2>Active now</h2>{html_table(active)}'
        + (f'<p class="notes">and {more:,} more</p>' if more else "")
        + "</section>"
        + f'<div class="grid2">{sections}</div>'
    )
    if stopped is not None:
        refresh = None
    reload = f'<meta http-equiv="refresh" content="{max(int(refresh), 1)}">' if refresh else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"{reload}"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>jtrack watch: {o['active_sessions']:,} active</title>"
        f"<style>{CSS}{LIVE_CSS}</style>"
        f"</head><body><main>{body}<footer>jtrack {_e(__version__)}</footer></main></body>"
        "</html>\n"
    )


WIDE = ' class="wide"'


__all__ = [
    "MARK",
    "SCREEN_COLUMNS",
    "ViewState",
    "frame_renderable",
    "header",
    "keys_line",
    "live_html",
    "log_line",
    "render_frame_text",
    "screen",
    "sessions_table",
    "sparkline",
]
