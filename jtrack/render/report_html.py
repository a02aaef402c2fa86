"""The journey summary as one self-contained HTML page: inline CSS and inline SVG charts.

No script, no external URL, no web font: the page renders offline and its Content-Security-
Policy forbids every fetch. Every string from the data goes through html.escape (control
characters replaced first); URLs from the data are shown as text, never as links.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from jtrack import __version__
from jtrack.render.text import period_span
from jtrack.render.theme import RATE_COLUMNS
from jtrack.serialize import html_attr, html_text

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

CSS = """
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: #f6f7fa; color: #1d2330;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
/* Text from the data may be one unbroken string of thousands of characters: everything may
   break anywhere when it has to (table cells keep a readable width, see below). */
main { max-width: 1100px; margin: 0 auto; overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.sub { color: #5b6475; margin: 0 0 18px; }
.sub.traffic { margin-bottom: 4px; }
.sub.left-out { margin-top: 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px;
  margin: 14px 0 18px; }
.kpi { background: #fff; border: 1px solid #d9dee8; border-radius: 8px; padding: 10px 12px; }
.kpi .v { font-size: 20px; font-weight: 600; }
.kpi .k { color: #5b6475; font-size: 12px; }
section { background: #fff; border: 1px solid #d9dee8; border-radius: 8px; padding: 14px 16px;
  margin-bottom: 14px; min-width: 0; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(480px, 100%), 1fr));
  gap: 14px; }
.grid2 section { margin-bottom: 0; }
.grid2 section.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
/* Every text cell wraps anywhere when it must, but keeps a readable width (never a letter or
   two a line): in an auto-layout table `break-word` would not shrink a column at all. */
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff4;
  vertical-align: top; overflow-wrap: anywhere; }
td { min-width: 10ch; }
td.u { min-width: 18ch; }
th { color: #5b6475; font-weight: 600; overflow-wrap: normal; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.n, td.nw { min-width: 0; }
td.nw { white-space: nowrap; overflow-wrap: normal; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #5b6475; }
/* A wide chart keeps a readable size on a narrow screen: it scrolls sideways in its box. */
/* A chart wider than a phone scrolls, and opens at its right end: the latest days and
   minutes (and the live page's "now") are what a reader looks for; no script needed. */
.chartbox { overflow-x: auto; direction: rtl; }
.chartbox svg { width: 100%; min-width: 720px; max-width: none; direction: ltr; }
svg.chart .grid { stroke: #e6e9f0; }
svg.chart text.big { font-size: 14px; }
svg.chart .now { stroke: #c62828; stroke-dasharray: 4 3; }
svg.chart text.now { fill: #c62828; stroke: none; }
/* visitors beside sessions: another hue (blue and orange stay apart for every colour
   vision), 3:1 or more against white (WCAG 1.4.11), with a white gap between the two */
.s { fill: #2f6fd6; } .vi { fill: #c45c00; } .hb { fill: #2f6fd6; }
/* the legend's keys are marks drawn as the bars are (a CSS background would not print) */
.legend svg.key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; }
.notes { color: #5b6475; }
footer { color: #5b6475; font-size: 12px; text-align: center; margin-top: 18px; }
.scroll { overflow-x: auto; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  margin-right: 6px; vertical-align: -1px; border: 1px solid rgba(0,0,0,.15); }
@media screen and (max-width: 600px) { body { padding: 8px; } section { padding: 10px; }
  .grid2 { grid-template-columns: minmax(0, 1fr); } }
/* On paper (A4 or Letter is as narrow as a tablet: the narrow layouts are for screens only)
   tables stay tables, their header row on each page, no row split over two, a heading kept
   with what follows it; what a screen keeps in a closed <details> (the figures per day) is
   open; colours (swatches, dots) print as they show; and the visitors' bars are hollow,
   the sessions' solid, so that the two series are told apart in black and white. */
@media print {
  body { padding: 0; background: #fff; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  main { max-width: none; }
  .scroll { overflow: visible; }
  .chartbox { overflow: visible; direction: ltr; }
  .chartbox svg { min-width: 0; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary { list-style: none; font-weight: 600; margin: 8px 0 4px; }
  thead { display: table-header-group; }
  tr, .kpi, svg.chart { break-inside: avoid; }
  h1, h2, summary { break-after: avoid; }
  .vi { fill: #fff; stroke: #c45c00; stroke-width: 1.5px; vector-effect: non-scaling-stroke; }
}
"""


def _stacked(t: str) -> str:
    """Each row of the tables `t` as a block: its first cell on a line of its own, the other
    text cells below it, the figures side by side, each with its column's name."""
    return f"""
  {t}, {t} tbody, {t} tr {{ display: block; }}
  {t} thead {{ display: none; }}
  {t} tr {{ padding: 6px 0; border-bottom: 1px solid #eceff4; }}
  {t} td {{ display: block; min-width: 0; border: 0; padding: 1px 0; text-align: left; }}
  {t} td:first-child {{ font-weight: 600; }}
  {t} td.n, {t} td.nw {{ display: inline-block; margin-right: 14px; max-width: 100%; }}
  {t} td.nw {{ white-space: normal; overflow-wrap: anywhere; }}
  {t} td:empty {{ display: none; }}
  {t} td[data-label]::before {{ content: attr(data-label) ": "; color: #5b6475;
    font-weight: 400; }}"""


# On a phone every table is stacked; below 900 px, a table of six columns or more (whose
# text columns would otherwise have a few words a line, or push the figures off the box).
# On screens only: a page printed to A4 or Letter keeps its tables (see the print rules).
CSS += (
    f"@media screen and (max-width: 600px) {{{_stacked('table.t')}\n}}\n"
    f"@media screen and (max-width: 900px) {{{_stacked('table.t.many')}\n}}\n"
)


def _e(value: Any) -> str:
    """A data value as HTML text: escaped (control characters replaced first), and isolated
    in a `<bdi>` when it holds right-to-left letters (see serialize.html_text)."""
    return html_text(value)


def _a(value: Any) -> str:
    """A data value escaped for an attribute, a `<title>` or SVG text (no `<bdi>`)."""
    return html_attr(value)


def is_value_column(name: str | None) -> bool:
    """A column of money-like values or their sums (`value_total`): shown with its cents."""
    return name is not None and (
        name == "value" or name.startswith("value_") or name.endswith("_value")
    )


def fmt_float(value: float, column: str | None = None) -> str:
    """A float as the page shows it: a value column (`value_total`) with two decimals
    (`503.39`, `1,204.50`), any other with the precision it has up to two decimals (`503.4`,
    `3`), and a fraction below 1 with four significant digits (`0.0447`)."""
    if is_value_column(column):
        return f"{value:,.2f}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) < 1:
        return f"{value:,.4g}"
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_time(value: Any) -> str:
    """A time as the other pages show it: `2026-10-04 01:32:41 UTC` (another zone's offset
    when it is not UTC)."""
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    offset = value.utcoffset()
    if offset is not None and offset.total_seconds() == 0:
        return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    return value.strftime("%Y-%m-%d %H:%M:%S %z")


def _fmt(value: Any, column: str | None = None) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):  # as the table, Markdown, CSV and JSON write it
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return fmt_float(value, column)
    if isinstance(value, datetime):
        return fmt_time(value)
    return str(value)


def _hms(seconds: Any) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def store_source(store: Any) -> dict[str, Any]:
    """What a page was made from, as the journey summary's JSON says it (`source`): the
    store's folder (as named) and the version read."""
    return {"store": store.shown, "version": store.pinned().name}


def source_words(source: dict[str, Any] | None) -> str:
    """`store .jtrack (v000012)`, or `files a.jsonl, b.jsonl` (the first three, and how many
    more), or nothing."""
    if not source:
        return ""
    if source.get("store") is not None:
        version = source.get("version")
        return f"store {source['store']}" + (f" ({version})" if version else "")
    files = [str(f) for f in source.get("files") or []]
    if not files:
        return ""
    more = f" and {len(files) - 3:,} more" if len(files) > 3 else ""
    return f"{'file' if len(files) == 1 else 'files'} {', '.join(files[:3])}{more}"


def made_words(source: dict[str, Any] | None = None, made: datetime | None = None) -> str:
    """`store .jtrack (v000012) · made 2026-12-07 09:00:00 UTC by jtrack 0.1.0`: where an
    output comes from and when it was made, for a reader who never saw the command. The
    time is now (UTC), or `made`, or what $JTRACK_NOW pins (see read.validate.run_clock:
    reproducible outputs, and tests)."""
    from datetime import UTC

    from jtrack.read.validate import run_clock

    when = (made or run_clock()).astimezone(UTC)
    text = f"made {when:%Y-%m-%d %H:%M:%S} UTC by jtrack {__version__}"
    where = source_words(source)
    return f"{where} · {text}" if where else text


def page(title: str, body: str) -> str:
    """A whole self-contained page in the report's look (CSS inline, no script, a CSP that
    forbids every fetch); `title` is text, `body` is HTML already escaped."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_a(title)}</title><style>{CSS}</style></head><body><main>{body}"
        f"<footer>jtrack {_e(__version__)}</footer></main></body></html>\n"
    )


_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


#: Tables of this many columns or more are stacked below 900 px (see _stacked).
MANY = 6
#: Short enough to keep on one line (ids, colours); a longer value wraps like any text.
NOWRAP_MAX = 40
#: Columns whose text is a URL or a page title (kept a little wider when they wrap).
LOOSE_COLUMNS = ("page", "title", "url", "page_url", "referrer", "last_page_url", "last_page_title")


def html_table(df: Any, null_label: str = "", labels: dict[str, str] | None = None) -> str:
    """A frame as an HTML table: numbers right-aligned with thousands separators, rates as
    percentages, value columns with their cents, times in UTC, `color` as a swatch beside its
    #RRGGBB, every string escaped. Text cells wrap anywhere when they must but keep a
    readable width; on a phone each row is a block whose cells carry their column's name."""
    if df.height == 0:
        return '<p class="notes">No data.</p>'
    labels = labels or {}
    numeric = {name for name, dtype in df.schema.items() if dtype.is_numeric()}
    # headers break only after an "_" (never inside a word); ids never break
    head = "".join(
        f'<th scope="col" class="{"n" if c in numeric else ""}">'
        + _e(labels.get(c, c)).replace("_", "_<wbr>")
        + "</th>"
        for c in df.columns
    )
    names = {c: _a(labels.get(c, c)) for c in df.columns}
    keep = {c for c in df.columns if c == "id" or c.endswith("_id")}
    # URLs and titles get a wider minimum (a long path has no other place to break)
    loose = {c for c in df.columns if c in LOOSE_COLUMNS}
    body = []
    for row in df.iter_rows(named=True):
        cells = []
        for i, (c, v) in enumerate(row.items()):
            label = "" if i == 0 else f' data-label="{names[c]}"'
            if v is None:
                text = null_label if i == 0 else ""
                cls = "n" if c in numeric else ""
                cells.append(f'<td class="{cls}"{label if text else ""}>{_e(text)}</td>')
            elif c in RATE_COLUMNS and c in numeric:
                cells.append(f'<td class="n"{label}>{_pct(v)}</td>')
            elif c in numeric:
                cells.append(f'<td class="n"{label}>{_e(_fmt(v, c))}</td>')
            elif c == "color" and isinstance(v, str) and _HEX.match(v):
                cells.append(
                    f'<td class="nw"{label}><span class="swatch" style="background: {v}"></span>'
                    f"{_e(v)}</td>"
                )
            else:
                text = _fmt(v, c)
                short = len(text) <= NOWRAP_MAX
                if isinstance(v, (bool, datetime)) or (c in keep and short):
                    cls = "nw"
                else:
                    cls = "u" if c in loose else ""
                cells.append(f'<td class="{cls}"{label}>{_e(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="{"t many" if df.width >= MANY else "t"}"><thead>'
        f"<tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def nice_ticks(peak: float, most: int = 5) -> list[int]:
    """Round figures from 0 up to the first at or above `peak` (at most `most` + 1 of them,
    steps of 1, 2 or 5 times a power of ten): the y axis of a bar chart."""
    peak = max(float(peak), 1.0)
    step = 1
    while True:
        for m in (1, 2, 5):
            s = m * step
            if math.ceil(peak / s) <= most:
                return [s * k for k in range(math.ceil(peak / s) + 1)]
        step *= 10


#: The daily chart's text, in units of its viewBox (the chart is at least 720 px wide on
#: the page, so a label is never smaller than about 10 px).
CHART_FONT = 14
#: Width of one character of the chart's text, in viewBox units (digits of system-ui).
_CHAR_W = 0.62 * CHART_FONT


def y_axis(
    ticks: list[int], left: float, top: float, plot_w: float, plot_h: float, fmt: Any = None
) -> list[str]:
    """Gridlines and labels of a y axis (`ticks` from nice_ticks), the labels right-aligned
    against the plot."""
    fmt = fmt or (lambda v: f"{v:,}")
    out = []
    for t in ticks:
        y = top + plot_h - plot_h * t / ticks[-1]
        out.append(
            f'<line class="grid" x1="{left:.2f}" y1="{y:.2f}" x2="{left + plot_w:.2f}" '
            f'y2="{y:.2f}"/>'
            f'<text class="big y" x="{left - 6:.2f}" y="{y + CHART_FONT * 0.35:.2f}" '
            f'text-anchor="end">{_a(fmt(t))}</text>'
        )
    return out


def x_labels(n: int, left: float, plot_w: float, label_w: float) -> list[tuple[int, float]]:
    """Which of `n` slots of a plot get a label `label_w` wide, and where its centre goes:
    evenly spaced, the first and the last always, each inside the plot and no two closer
    than a label's width."""
    if n <= 0:
        return []
    slot = plot_w / n
    lo, hi = left + label_w / 2, left + plot_w - label_w / 2

    def centre(i: int) -> float:
        return min(max(left + i * slot + slot / 2, lo), max(hi, lo))

    every = max(1, math.ceil(label_w / slot))
    kept: list[tuple[int, float]] = []
    for i in range(0, n, every):
        x = centre(i)
        if not kept or x - kept[-1][1] >= label_w:
            kept.append((i, x))
    if kept[-1][0] != n - 1:
        last = centre(n - 1)
        while len(kept) > 1 and last - kept[-1][1] < label_w:
            kept.pop()  # the last day takes the place of the labels too close to it
        if last - kept[-1][1] >= label_w:
            kept.append((n - 1, last))
    return kept


def daily_svg(daily: Any, width: int = 1040, height: int = 240, unit: str = "day") -> str:
    """Sessions (blue) and visitors (orange) per day (week, month: `unit`, the series' first
    column) as grouped vertical bars, a y axis of round figures with gridlines, the days
    below (with their year when the period spans two; months always with theirs)."""
    rows = list(daily.select(unit, "sessions", "visitors").iter_rows())
    peak = max([r[1] for r in rows] + [r[2] for r in rows] + [1])
    ticks = nice_ticks(peak)
    top_value = ticks[-1]
    longest = max(len(f"{t:,}") for t in ticks)
    left, right, top, bottom = math.ceil(longest * _CHAR_W) + 14, 10, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(rows), 1)
    slot = plot_w / n
    bw = max(slot * 0.4, 0.5)
    gap = bw / 4  # (between a day's two bars: each has white beside it)
    days = [str(r[0]) for r in rows]
    years = {d[:4] for d in days}
    labels = days if len(years) > 1 or unit == "month" else [d[5:] for d in days]
    label_w = max([len(t) for t in labels] + [1]) * _CHAR_W + 12
    out = [
        f'<div class="chartbox"><svg class="chart" data-chart="daily" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'preserveAspectRatio="xMinYMin meet">',
        f"<title>Sessions and visitors per {unit}</title>",
        *y_axis(ticks, left, top, plot_w, plot_h),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#c3c9d5"/>',
    ]
    for i, (day, sessions, visitors) in enumerate(rows):
        x = left + i * slot + (slot - 2 * bw - gap) / 2
        for j, (value, cls, what) in enumerate(
            ((sessions, "s", "session"), (visitors, "vi", "visitor"))
        ):
            h = plot_h * value / top_value
            out.append(
                f'<rect class="bar {cls}" data-day="{_a(day)}" data-value="{value}" '
                f'x="{x + j * (bw + gap):.2f}" y="{top + plot_h - h:.2f}" width="{bw:.2f}" '
                f'height="{h:.2f}"><title>{_a(day)}: {value:,} {what}'
                f"{'' if value == 1 else 's'}</title></rect>"
            )
    for i, cx in x_labels(len(rows), left, plot_w, label_w):
        out.append(
            f'<text class="big x" x="{cx:.2f}" y="{height - 14}" '
            f'text-anchor="middle">{_a(labels[i])}</text>'
        )
    out.append("</svg></div>")
    return "".join(out)


def hbar_svg(
    name: str,
    labels: list[str],
    values: list[int],
    width: int = 500,
    title: str | None = None,
    unit: str = "sessions",
    shown: list[str] | None = None,
) -> str:
    """Horizontal bars, one per label (labels are escaped; `shown`: the labels written
    beside the bars, already short enough, where the tooltips keep `labels` whole)."""
    row_h, label_w, num_w = 22, 170, 60
    height = max(len(values), 1) * row_h + 4
    peak = max([*values, 1])
    plot_w = width - label_w - num_w
    out = [
        f'<svg class="chart" data-chart="{_a(name)}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        f"<title>{_a(title or name)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 2 + i * row_h
        w = max(plot_w * value / peak, 1.0) if value else 0.0
        short = shown[i] if shown else label if len(label) <= 26 else label[:25] + "…"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_a(short)}</text>'
            f'<rect class="bar hb" data-value="{value}" x="{label_w}" y="{y + 3}" '
            f'width="{w:.2f}" height="{row_h - 6}"><title>{_a(label)}: {value:,} {_a(unit)}</title>'
            "</rect>"
            f'<text x="{label_w + w + 4:.2f}" y="{y + 15}">{value:,}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _key(cls: str) -> str:
    """A legend's key: a square drawn as the series' bars are (their class)."""
    return (
        '<svg class="key" viewBox="0 0 12 12" width="12" height="12" aria-hidden="true">'
        f'<rect class="{cls}" x="1" y="1" width="10" height="10"/></svg>'
    )


def _fit_host(host: str, suffix: str, room: int = 26) -> str:
    """`host` + `suffix` in `room` characters: the host cut (with …) where it must be."""
    keep = room - len(suffix)
    return (host if len(host) <= keep else host[: max(keep - 1, 1)] + "…") + suffix


_WIDE = ("top_pages", "entry_pages", "exit_pages")
_CHARTED = {
    "devices": ("device", "(none)"),
    "browsers": ("browser", "(none)"),
    "countries": ("country", "(none)"),
    "channels": ("channel", "(none)"),
    "referrers": ("referrer", "(direct)"),
    "session_types": ("type", "(none)"),
    "traffic": ("traffic_class", "(none)"),
}


def report_html(report: Any) -> str:
    """The whole page."""
    from jtrack.render.theme import CHANNELS_CAPTION, definitions, report_title

    o = report.overview
    p = report.period
    tz = report.options.tz
    # what --traffic left out is said beside the `traffic:` line, not among the notes below
    left_out = report.scope.note()
    notes = [n for n in report.notes if n != left_out]
    kpis = [
        ("sessions", _fmt(o["sessions"])),
        ("visitors", _fmt(o["visitors"])),
        (
            "known / Unknown",
            "–"
            if o["known_sessions"] is None
            else f"{o['known_sessions']:,} / {o['unknown_sessions']:,}",
        ),
        ("page views", _fmt(o["page_views"])),
        ("searches", _fmt(o["searches"])),
        ("median duration", _hms(o["median_duration_seconds"])),
        ("p90 duration", _hms(o["p90_duration_seconds"])),
        ("bounce rate", _pct(o["bounce_rate"])),
        ("engaged sessions", f"{_fmt(o['engaged_sessions'])} ({_pct(o['engagement_rate'])})"),
    ]
    span = period_span(p, "–")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Journey summary {_a(span)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f'<h1>Journey summary</h1><p class="sub">{_e(span)} ({_e(tz)})</p>',
        f'<p class="sub traffic" data-traffic="{_a(",".join(report.scope.classes))}">'
        f"{_e(report.scope.line())}</p>",
        *([f'<p class="sub left-out">note: {_e(left_out)}</p>'] if left_out else []),
        f'<p class="sub made">{_e(made_words(report.source))}</p>',
        '<div class="kpis">',
        *[
            f'<div class="kpi" data-kpi="{_a(k)}"><div class="v">{_e(v)}</div>'
            f'<div class="k">{_e(k)}</div></div>'
            for k, v in kpis
        ],
        "</div>",
        f'<p class="sub defs">{_e(definitions(report))}</p>',
        f'<section id="daily"><h2>Sessions and visitors per {report.by}</h2>',
        f'<p class="legend">{_key("s")}sessions{_key("vi")}visitors</p>',
        daily_svg(report.shown_series(), unit=report.by),
        # the chart's figures as text: a screen reader and the keyboard reach no bar
        f"<details><summary>The figures per {report.by}</summary>",
        html_table(report.shown_series().select(report.by, "sessions", "visitors")),
        "</details>",
        "</section>",
        '<div class="grid2">',
    ]
    for name, df in report.tables.items():
        title = report_title(name)
        if df is None:
            continue
        wide = ' class="wide"' if name in _WIDE else ""
        parts.append(f'<section id="{_a(name)}"{wide}><h2>{_e(title)}</h2>')
        null_label = _CHARTED.get(name, ("", "(none)"))[1]
        if name in _CHARTED and df.height:
            label_col = _CHARTED[name][0]
            labels = [
                null_label if v is None else str(v) for v in df.get_column(label_col).to_list()
            ]
            shown = None
            if name == "referrers":  # (a row per host and medium: the bar says which, the
                # host cut where it is long, never the medium)
                mediums = df.get_column("medium").to_list()
                pairs = list(zip(labels, mediums, strict=True))
                labels = [f"{a} ({m})" if m else a for a, m in pairs]
                shown = [_fit_host(a, f" ({m})" if m else "") for a, m in pairs]
            values = [int(v) for v in df.get_column("sessions").to_list()]
            parts.append(hbar_svg(name, labels, values, title=title, shown=shown))
        parts.append(html_table(df, null_label))
        if name == "traffic" and getattr(report, "traffic_lists", None):
            parts.append(f'<p class="notes">User-agent lists: {_e(report.traffic_lists)}</p>')
        elif name == "channels":
            parts.append(
                f'<p class="notes">{_e(CHANNELS_CAPTION[:1].upper() + CHANNELS_CAPTION[1:])}</p>'
            )
        parts.append("</section>")
    parts.append("</div>")
    if notes:
        parts.append(
            '<section class="notes">'
            + "".join(f"<p>Note: {_e(n)}</p>" for n in notes)
            + "</section>"
        )
    parts.append(f"<footer>jtrack {_e(__version__)}</footer></main></body></html>")
    return "\n".join(parts) + "\n"
