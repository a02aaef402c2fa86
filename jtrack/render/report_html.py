"""The journey summary as one self-contained HTML page: inline CSS and inline SVG charts.

No script, no external URL, no web font: the page renders offline and its Content-Security-
Policy forbids every fetch. Every string from the data goes through html.escape (control
characters replaced first); URLs from the data are shown as text, never as links.
"""

from __future__ import annotations

import html
import re
from typing import Any

from jtrack import __version__
from jtrack.serialize import strip_control

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

CSS = """
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: #f6f7fa; color: #1d2330;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.sub { color: #5b6475; margin: 0 0 18px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px;
  margin-bottom: 18px; }
.kpi { background: #fff; border: 1px solid #d9dee8; border-radius: 8px; padding: 10px 12px; }
.kpi .v { font-size: 20px; font-weight: 600; }
.kpi .k { color: #5b6475; font-size: 12px; }
section { background: #fff; border: 1px solid #d9dee8; border-radius: 8px; padding: 14px 16px;
  margin-bottom: 14px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(480px, 100%), 1fr));
  gap: 14px; }
.grid2 section { margin-bottom: 0; }
.grid2 section.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff4;
  vertical-align: top; overflow-wrap: break-word; }
td.u { overflow-wrap: anywhere; }
th { color: #5b6475; font-weight: 600; overflow-wrap: normal; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #5b6475; }
.s { fill: #2f6fd6; } .vi { fill: #9cc0f5; } .hb { fill: #2f6fd6; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px;
  vertical-align: middle; }
.notes { color: #5b6475; }
footer { color: #8a93a5; font-size: 12px; text-align: center; margin-top: 18px; }
.scroll { overflow-x: auto; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  margin-right: 6px; vertical-align: -1px; border: 1px solid rgba(0,0,0,.15); }
td.nw { white-space: nowrap; }
@media (max-width: 600px) { body { padding: 8px; } section { padding: 10px; }
  .grid2 { grid-template-columns: minmax(0, 1fr); } }
"""


def _e(value: Any) -> str:
    """Escaped text of a data value (control characters replaced first)."""
    return html.escape(strip_control("" if value is None else str(value)), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"
    return str(value)


def _hms(seconds: Any) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def page(title: str, body: str) -> str:
    """A whole self-contained page in the report's look (CSS inline, no script, a CSP that
    forbids every fetch); `title` is text, `body` is HTML already escaped."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>{body}"
        f"<footer>jtrack {_e(__version__)}</footer></main></body></html>\n"
    )


_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
RATE_COLUMNS = (
    "share",
    "share_of_sessions",
    "bounce_rate",
    "rate",
    "conversion_rate",
    "qualified_rate",
    "engagement_rate",
    "session_share",
    "event_share",
    "automated_share",
)


def html_table(df: Any, null_label: str = "", labels: dict[str, str] | None = None) -> str:
    """A frame as an HTML table: numbers right-aligned with thousands separators, rates as
    percentages, `color` as a swatch beside its #RRGGBB, every string escaped."""
    if df.height == 0:
        return '<p class="notes">No data.</p>'
    labels = labels or {}
    numeric = {name for name, dtype in df.schema.items() if dtype.is_numeric()}
    # headers break only after an "_" (never inside a word); ids never break
    head = "".join(
        f'<th class="{"n" if c in numeric else ""}">'
        + _e(labels.get(c, c)).replace("_", "_<wbr>")
        + "</th>"
        for c in df.columns
    )
    keep = {c for c in df.columns if c == "id" or c.endswith("_id")}
    # URLs and titles may break anywhere (a long path has no other place to break)
    loose = {c for c in df.columns if c in ("page", "title", "url", "page_url", "referrer")}
    body = []
    for row in df.iter_rows(named=True):
        cells = []
        for i, (c, v) in enumerate(row.items()):
            if v is None:
                label = null_label if i == 0 else ""
                cells.append(f'<td class="{"n" if c in numeric else ""}">{_e(label)}</td>')
            elif c in RATE_COLUMNS and c in numeric:
                cells.append(f'<td class="n">{_pct(v)}</td>')
            elif c in numeric:
                cells.append(f'<td class="n">{_e(_fmt(v))}</td>')
            elif c == "color" and isinstance(v, str) and _HEX.match(v):
                cells.append(
                    f'<td class="nw"><span class="swatch" style="background: {v}"></span>'
                    f"{_e(v)}</td>"
                )
            else:
                cls = "nw" if c in keep else "u" if c in loose else ""
                cells.append(f'<td class="{cls}">{_e(_fmt(v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def daily_svg(daily: Any, width: int = 1040, height: int = 220) -> str:
    """Sessions (dark) and visitors (light) per day as grouped vertical bars."""
    rows = list(daily.select("day", "sessions", "visitors").iter_rows())
    left, right, top, bottom = 44, 8, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([r[1] for r in rows] + [r[2] for r in rows] + [1])
    n = max(len(rows), 1)
    slot = plot_w / n
    bw = max(slot * 0.4, 0.5)
    out = [
        f'<svg class="chart" data-chart="daily" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        "<title>Sessions and visitors per day</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#c3c9d5"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (day, sessions, visitors) in enumerate(rows):
        x = left + i * slot + (slot - 2 * bw) / 2
        for j, (value, cls, what) in enumerate(
            ((sessions, "s", "sessions"), (visitors, "vi", "visitors"))
        ):
            h = plot_h * value / peak
            out.append(
                f'<rect class="bar {cls}" data-day="{_e(day)}" data-value="{value}" '
                f'x="{x + j * bw:.2f}" y="{top + plot_h - h:.2f}" width="{bw:.2f}" '
                f'height="{h:.2f}"><title>{_e(day)}: {value:,} {what}</title></rect>'
            )
        every = max(1, round(n / 12))
        if i % every == 0 or i == n - 1:
            out.append(
                f'<text x="{left + i * slot + slot / 2:.2f}" y="{height - 12}" '
                f'text-anchor="middle">{_e(str(day)[5:])}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def hbar_svg(
    name: str,
    labels: list[str],
    values: list[int],
    width: int = 500,
    title: str | None = None,
    unit: str = "sessions",
) -> str:
    """Horizontal bars, one per label (labels are escaped)."""
    row_h, label_w, num_w = 22, 170, 60
    height = max(len(values), 1) * row_h + 4
    peak = max([*values, 1])
    plot_w = width - label_w - num_w
    out = [
        f'<svg class="chart" data-chart="{_e(name)}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        f"<title>{_e(title or name)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 2 + i * row_h
        w = max(plot_w * value / peak, 1.0) if value else 0.0
        short = label if len(label) <= 26 else label[:25] + "…"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(short)}</text>'
            f'<rect class="bar hb" data-value="{value}" x="{label_w}" y="{y + 3}" '
            f'width="{w:.2f}" height="{row_h - 6}"><title>{_e(label)}: {value:,} {_e(unit)}</title>'
            "</rect>"
            f'<text x="{label_w + w + 4:.2f}" y="{y + 15}">{value:,}</text>'
        )
    out.append("</svg>")
    return "".join(out)


_WIDE = ("top_pages", "entry_pages", "exit_pages")
_CHARTED = {
    "devices": ("device", "(none)"),
    "browsers": ("browser", "(none)"),
    "countries": ("country", "(none)"),
    "referrers": ("referrer", "(direct)"),
    "session_types": ("type", "(none)"),
    "traffic": ("traffic_class", "(none)"),
}


def report_html(report: Any) -> str:
    """The whole page."""
    from jtrack.render.theme import report_title

    o = report.overview
    p = report.period
    tz = report.options.tz
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
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Journey summary {_e(p['from'])} .. {_e(p['to'])}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f'<h1>Journey summary</h1><p class="sub">{_e(p["from"] or "–")} .. '
        f"{_e(p['to'] or '–')} ({_e(tz)})</p>",
        f'<p class="sub traffic" data-traffic="{_e(",".join(report.scope.classes))}">'
        f"{_e(report.scope.line())}</p>",
        '<div class="kpis">',
        *[
            f'<div class="kpi" data-kpi="{_e(k)}"><div class="v">{_e(v)}</div>'
            f'<div class="k">{_e(k)}</div></div>'
            for k, v in kpis
        ],
        "</div>",
        '<section id="daily"><h2>Sessions and visitors per day</h2>',
        '<p class="legend"><span class="s" style="background:#2f6fd6"></span>sessions'
        '<span class="vi" style="background:#9cc0f5"></span>visitors</p>',
        daily_svg(report.daily),
        "</section>",
        '<div class="grid2">',
    ]
    for name, df in report.tables.items():
        title = report_title(name)
        if df is None:
            continue
        wide = ' class="wide"' if name in _WIDE else ""
        parts.append(f'<section id="{_e(name)}"{wide}><h2>{_e(title)}</h2>')
        null_label = _CHARTED.get(name, ("", "(none)"))[1]
        if name in _CHARTED and df.height:
            label_col = _CHARTED[name][0]
            labels = [
                null_label if v is None else str(v) for v in df.get_column(label_col).to_list()
            ]
            values = [int(v) for v in df.get_column("sessions").to_list()]
            parts.append(hbar_svg(name, labels, values, title=title))
        parts.append(html_table(df, null_label))
        if name == "traffic" and getattr(report, "traffic_lists", None):
            parts.append(f'<p class="notes">User-agent lists: {_e(report.traffic_lists)}</p>')
        parts.append("</section>")
    parts.append("</div>")
    if report.notes:
        parts.append(
            '<section class="notes">'
            + "".join(f"<p>Note: {_e(n)}</p>" for n in report.notes)
            + "</section>"
        )
    parts.append(f"<footer>jtrack {_e(__version__)}</footer></main></body></html>")
    return "\n".join(parts) + "\n"
