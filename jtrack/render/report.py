"""Usage and journey-summary reports for the terminal (Rich), with a bar chart per day.

Every string from the data is shown literally (rich.text.Text, control characters replaced).
"""

from __future__ import annotations

from typing import Any

import polars as pl
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from jtrack.render.table import FrameTable
from jtrack.render.text import period_span, plural
from jtrack.render.theme import CHANNELS_CAPTION, empty_tables, report_title
from jtrack.serialize import strip_control

_EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 40


def _t(value: Any) -> Text:
    return Text(strip_control("" if value is None else str(value)))


def _num(value: Any, column: str | None = None) -> str:
    """A figure as the terminal shows it: integers with thousands separators, floats with the
    precision they have up to two decimals (a value column, `value_total`, always with its
    cents: numbers are never cut)."""
    from jtrack.render.report_html import fmt_float

    if value is None:
        return "-"
    if isinstance(value, float):
        return fmt_float(value, column)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _avg(value: Any) -> str:
    """An average, to one decimal (`3.6 per web session`)."""
    return "-" if value is None else f"{value:,.1f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def bar(value: float, top: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of `value` out of `top`, `width` cells wide, in eighth blocks."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


class _Figures:
    """Rows of label, figure and note laid out for the width they are printed at, as the
    `sessionize` summary is: the label and the figure are never wrapped, the figure
    right-aligned; a note too long for its line wraps between words onto lines indented
    to the note column, and where the note column would be narrower than NOTE_MIN, every
    note goes on the lines under its label, indented by 4 (at 40 columns `projected` ended
    a line beside the figure and `overage` began the next: a label under its value).
    Where the widest label and the widest figure do not fit side by side, a row is laid out
    alone: its figure at the line's end, beside the label where both fit, else on a line of
    its own under it (a figure is never cut: `sessions 8` read as a real one, 843)."""

    NOTE_MIN = 16

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, Text]] = []

    def add_row(self, label: str, figure: str | Text, note: str | Text = "") -> None:
        self.rows.append((label, str(figure), note if isinstance(note, Text) else _t(note)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        w0 = max((cell_len(r[0]) for r in self.rows), default=0)
        w1 = max((cell_len(r[1]) for r in self.rows), default=0)
        lead = w0 + 2 + w1 + 2
        below = width - lead < self.NOTE_MIN
        for label, figure, note in self.rows:
            if w0 + 2 + w1 > width:  # (each row alone, every note under its label)
                gap = width - cell_len(label) - cell_len(figure)
                if gap >= 2:
                    yield Text(label, style="bold") + Text(" " * gap + figure)
                else:
                    yield from Text(label, style="bold").wrap(console, width)
                    pad = max(width - cell_len(figure), 0)  # (right-aligned, as beside one)
                    yield from Text(" " * pad + figure).wrap(console, width)
                for line in note.wrap(console, max(width - 4, 1)) if note.plain else []:
                    yield Text("    ") + line
                continue
            head = Text(label, style="bold", no_wrap=True, overflow="fold")
            head.append(" " * (w0 - cell_len(label) + 2 + w1 - cell_len(figure)) + figure)
            if not note.plain:
                yield head
            elif below:
                yield head
                for line in note.wrap(console, max(width - 4, 1)):
                    yield Text("    ") + line
            else:
                lines = note.wrap(console, width - lead)
                yield head + Text("  ") + lines[0]
                for line in lines[1:]:
                    yield Text(" " * lead) + line


def _grid() -> _Figures:
    return _Figures()


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------

USAGE_TABLE_COLUMNS = [
    "period",
    "page_view",
    "search",
    "custom",
    "custom_session",
    "app",
    "system",
    "billable",
    "automated",
    "automated_share",
    "month_to_date",
    "overage",
]


def usage_renderables(report: Any, summary_only: bool = False) -> list[RenderableType]:
    """The usage table, the billing month and the reconciliation, for the terminal."""
    o, m, r = report.options, report.month, report.reconciliation
    parts: list[RenderableType] = []
    head = Text()
    head.append("Billable usage", style="bold")
    p = report.period
    head.append(
        f"  {p['from']} .. {p['last_day'] or '-'} ({strip_control(o.tz)}), by {o.by}; "
        f"as of {report.as_of_text()}; billable: {', '.join(o.billable)}"
    )
    parts.append(head)
    if not summary_only:
        # not-billable classes stay out of the terminal table (not out of the data); a
        # billable one is always in it, so that the row adds up to `billable` on screen
        optional = ("custom_session", "app", "system")
        cols = [c for c in USAGE_TABLE_COLUMNS if c not in optional or c in o.billable]
        if m["allowance"] is None:
            cols.remove("overage")
        # where the table does not fit, the automated columns give way before any header
        # wraps (the month below has them, and every other format)
        parts.append(FrameTable(report.rows.select(cols), extra=("automated_share", "automated")))

    g = _grid()
    g.add_row(
        f"month {m['month']}",
        _num(m["month_to_date"]),
        _t(f"billable events to date ({m['days_elapsed']:g} of {m['days_in_month']} days elapsed)"),
    )
    g.add_row(
        "projection",
        _num(m["projection"]),
        _t("month-to-date / days elapsed x days in month"),
    )
    basis = (report.traffic or {}).get("basis")
    g.add_row(
        "automated",
        _num(m.get("automated")),
        _t(
            f"{_pct(m.get('automated_share'))} of billable to date: bots, crawlers and tools "
            + ("(by session)" if basis == "sessions" else "(by user agent)")
            + ", billed all the same"
        ),
    )
    if m["allowance"] is None:
        g.add_row("allowance", "-", _t("none set: pass --users and --per-user, or [usage]"))
    else:
        g.add_row(
            "allowance",
            _num(m["allowance"]),
            _t(f"{plural(o.users, 'user')} x {plural(o.per_user, 'event')}"),
        )
        over = m["overage"]
        g.add_row(
            "overage",
            _num(over),
            Text("OVER ALLOWANCE", style="bold red")
            if over
            else _t(f"{m['remaining']:,} events remaining"),
        )
        g.add_row("projected overage", _num(m["projected_overage"]), "")
    parts.append(g)

    rec = _grid()
    erased = r.get("erased") or 0  # (rows of visitors `jtrack store erase` took out)
    rec.add_row(
        "rows read",
        _num(r["rows_read"]),
        _t("= events + duplicates + rejected" + (" + erased" if erased else "")),
    )
    rec.add_row("rejected", _num(r["rejected"]), "")
    if erased:
        rec.add_row("erased", _num(erased), _t("rows of visitors erased (jtrack store erase)"))
    rec.add_row(
        "duplicates",
        _num(r["duplicates"]),
        _t(
            f"{r['conflicting_duplicates']:,} with "
            + ("different contents" if r.get("input") == "store" else "a different time or kind")
        )
        if r["conflicting_duplicates"]
        else "",
    )
    rec.add_row("events", _num(r["events"]), _t("distinct event ids"))
    rec.add_row("  in the period", _num(r["events_in_period"]), "")
    rec.add_row(
        "  billable",
        _num(r["billable_in_period"]),
        _t(f"not billable {r['not_billable_in_period']:,}"),
    )
    rec.add_row("  outside the period", _num(r["events_outside_period"]), "")
    rec.add_row("  after as-of", _num(r["events_after_as_of"]), "")
    rec.add_row("late events", _num(r["late_events"]), "")
    parts.append(Group(Text("Reconciliation", style="bold"), rec))
    for note in r["notes"]:
        parts.append(_t(f"note: {note}"))
    return parts


def usage_markdown(report: Any, summary_only: bool = False) -> str:
    """The usage report as Markdown: its title (period, zone, by), as-of and billable
    classes, the rows (the columns CSV has), then the month and the reconciliation as
    `field | value` (the --summary row's field names); the notes the table shows."""
    from jtrack.serialize import to_markdown

    o, p = report.options, report.period
    row = report.summary_frame().row(0, named=True)
    out = [
        f"# Billable usage {p['from']} .. {p['last_day'] or '-'} ({strip_control(o.tz)})"
        + ("" if summary_only else f", by {o.by}"),
        "",
        f"As of {report.as_of_text()}; billable: {', '.join(o.billable)}",
        "",
    ]
    if not summary_only:
        out += [to_markdown(report.rows)]
    fields = pl.DataFrame(
        {
            "field": list(row),
            "value": [
                # (a list as CSV and Markdown tables have it: `; `-separated)
                "" if v is None else "; ".join(v) if isinstance(v, list) else str(v)
                for v in row.values()
            ],
        }
    )
    out += [f"## Month {report.month['month']}", "", to_markdown(fields)]
    out += [f"Warning: {strip_control(w)}\n" for w in report.zone_warnings]
    out += [f"Note: {strip_control(n)}\n" for n in report.reconciliation["notes"]]
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# Journey summary
# --------------------------------------------------------------------------------------------

_NULL_LABELS = {
    "referrers": "(direct)",
}


def labelled(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """A report table with the missing values of its first column named as the table and
    Markdown show them: `(direct)` for referrers, else `(none)`."""
    first = df.columns[0]
    if df[first].dtype != pl.String:
        return df
    return df.with_columns(pl.col(first).fill_null(_NULL_LABELS.get(name, "(none)")))


def _hms(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class DailyChart:
    """Sessions per day as horizontal bars, with the sessions and visitors figures; the bars
    take the room the figures leave (at most BAR_WIDTH cells)."""

    def __init__(self, daily: Any, unit: str = "day") -> None:
        self.daily = daily
        self.unit = unit  # (the series' first column: day, week or month)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        daily, unit = self.daily, self.unit
        rows = list(daily.select(unit, "sessions", "visitors").iter_rows())
        figures = [(f"{s:,}", f"{v:,}") for _, s, v in rows]
        w_s = max([len("sessions"), *(len(a) for a, _ in figures)])
        w_v = max([len("visitors"), *(len(b) for _, b in figures)])
        width = max(4, min(BAR_WIDTH, options.max_width - 10 - w_s - w_v - 6))
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),
            header_style="bold",
        )
        table.add_column(unit, no_wrap=True)
        table.add_column("sessions", justify="right", no_wrap=True)
        table.add_column("visitors", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, width=width)
        top = max(daily["sessions"].max() or 0, 1) if daily.height else 1
        for (day, sessions, _visitors), (s_txt, v_txt) in zip(rows, figures, strict=True):
            table.add_row(_t(day), s_txt, v_txt, Text(bar(sessions, top, width), style="cyan"))
        yield Text(f"Sessions per {unit}", style="bold")
        yield table if rows else Text("(none)", style="dim")
        if rows:  # (what the chart leaves out, as a table's note says it)
            yield Text(
                f"page views and known sessions per {unit}: -f json or md shows them",
                style="dim",
            )


def _paths_of_one_site(df: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """When every page is on one site, the pages as paths and the site (for the title): the
    path is what tells pages apart, and the terminal has no room to repeat the site."""
    site = pl.col("page").str.extract(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+)", 1)
    sites = df.select(site.unique()).get_column("page").to_list()
    if len(sites) != 1 or sites[0] is None:
        return df, None
    prefix = str(sites[0])
    path = pl.col("page").str.strip_prefix(prefix)
    shown = df.with_columns(page=pl.when(path == "").then(pl.lit("/")).otherwise(path))
    return shown, strip_control(prefix.split("://", 1)[1])


def daily_chart(daily: Any, width: int = BAR_WIDTH) -> DailyChart:
    """Sessions per day as horizontal bars (see DailyChart)."""
    return DailyChart(daily)


def lists_line(report: Any) -> str | None:
    """`user-agent lists: crawler-user-agents 1.67.0 (...), ...` (None when unknown)."""
    lists = getattr(report, "traffic_lists", None)
    return f"user-agent lists: {lists}" if lists else None


def table_caption(report: Any, name: str) -> str | None:
    if name == "channels":
        return CHANNELS_CAPTION
    return lists_line(report) if name == "traffic" else None


def journey_renderables(report: Any) -> list[RenderableType]:
    """The journey summary for the terminal: headline figures, the daily chart, the tables."""
    o = report.overview
    parts: list[RenderableType] = []
    head = Text()
    head.append("Journey summary", style="bold")
    p = report.period
    head.append(f"  {period_span(p)} ({strip_control(report.options.tz)})")
    parts.append(head)
    parts.append(Text(report.scope.line(), style="dim"))
    g = _grid()
    g.add_row("sessions", _num(o["sessions"]), _t(f"{o['web_sessions']:,} web"))
    g.add_row("visitors", _num(o["visitors"]), "")
    if o["known_sessions"] is None:
        why = "no sessions" if not o["sessions"] else "needs resolved contacts (--contacts)"
        g.add_row("known / Unknown", "-", _t(why))
    else:
        g.add_row(
            "known / Unknown",
            _t(f"{o['known_sessions']:,} / {o['unknown_sessions']:,}"),
            _t(plural(o["known_visitors"], "known visitor")),
        )
    g.add_row(
        "page views",
        _num(o["page_views"]),
        _t(f"{_avg(o['pages_per_web_session'])} per web session"),
    )
    g.add_row("searches", _num(o["searches"]), "")
    g.add_row(
        "duration",
        _t(_hms(o["median_duration_seconds"])),
        _t(f"median; p90 {_hms(o['p90_duration_seconds'])}"),
    )
    g.add_row(
        "bounce rate",
        _pct(o["bounce_rate"]),
        _t(f"{plural(o['bounces'], 'web session')} of one page view"),
    )
    g.add_row(
        "engaged",
        _num(o["engaged_sessions"]),
        _t(
            f"{_pct(o['engagement_rate'])} of web sessions: "
            f"{report.options.engaged_seconds:g} s+, 2+ pages or an outcome"
        ),
    )
    parts.append(g)
    parts.append(Text("a bounce can be engaged: bounce rate is not 1 - engagement rate", "dim"))
    parts.append(Text(""))
    parts.append(DailyChart(report.shown_series(), report.by))
    for name, df in report.tables.items():
        if df is None or df.height == 0:
            continue
        shown = labelled(name, df)
        title = report_title(name)
        if "page" in shown.columns:
            shown, site = _paths_of_one_site(shown)
            title += f" on {site}" if site else ""
        parts.append(Text(""))
        parts.append(FrameTable(shown, title, caption=table_caption(report, name)))
    empty = empty_tables(report)
    if empty:
        parts += [Text(""), Text(strip_control(empty), style="dim")]
    for note in report.notes:
        parts.append(_t(f"note: {note}"))
    return parts
