"""The rules report and explanations for the terminal (Rich), as Markdown and as HTML.

Every data string is shown literally: Rich Text cells (via render.table.frame_table) and
html.escape for HTML.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.console import RenderableType
from rich.text import Text

from jtrack.render.table import FrameTable, frame_prefixes
from jtrack.render.text import plural
from jtrack.render.theme import RULES_TITLES
from jtrack.serialize import html_attr, html_text, md_text, strip_control, to_markdown


def _headline(report: Any, span: bool = False) -> str:
    """`843 sessions started in 2026-10 (UTC), 300 visitors`; `span`: without a period, the
    days of the sessions counted (report.span) are named too (Markdown and HTML: read by
    people who never saw the command)."""
    sessions, visitors = plural(report.sessions, "session"), plural(report.visitors, "visitor")
    period = getattr(report, "period", None) or (getattr(report, "span", None) if span else None)
    if period:
        from jtrack.usecases.usage import started_words

        zone = getattr(report, "tz", "UTC")
        sessions += f" started {started_words(period['from'], period['to'])} ({zone})"
    return f"{sessions}, {visitors}"


#: Left out first when a rules-report table does not fit the terminal (every other format
#: has them): of segments and outcomes, the flags and the colour before a display name is
#: cut (EXTRA; and the visitors of outcomes, beside their achievements, and how many of
#: them were valued, beside value_total), the figures after.
_EXTRA = {
    "segments": ("active", "color"),
    "outcomes": ("active", "positive", "visitors", "valued"),
}
_OPTIONAL = ("active", "color", "positive", "valued", "value_total", "weight", "qualified_rate")
#: The columns that tell a section's rows apart, never left out (they wrap when they alone
#: do not fit); of outcomes by segment, the segment's sessions (the segments table has
#: them) are left out before the figures the section is for, achieved and conversion.
_KEYS = {
    "segments": ("segment_id", "source"),
    "outcomes": ("outcome_id", "source"),
    "outcomes_by_segment": ("segment_id", "outcome_id"),
    "action_maps": ("action_map_id",),
}
_FIRST = {"outcomes_by_segment": ("segment_sessions",)}
#: The blocked_* counts of action maps are headed by the reason alone (the README's names).
_LABELS = {
    "blocked_page_condition": "page_condition",
    "blocked_already_qualified": "already_qualified",
    "blocked_outside_dates": "outside_dates",
    "blocked_lower_weight": "lower_weight",
}


#: The fields of a rules report's `source`, as JSON names them and every format says them.
SOURCE_FIELDS = ("store", "version", "rules", "rules_sha256")


#: ... of which the shared outputs' `made` line (render.report_html.made_words) says the
#: first two, as every shared output does: Markdown and HTML name the rules on their line
RULES_FIELDS = ("rules", "rules_sha256")


def source_line(
    source: dict[str, Any] | None, short: bool = False, fields: tuple[str, ...] = SOURCE_FIELDS
) -> str:
    """`source: store .jtrack · version v000012 · rules jtrack.toml · rules_sha256 9f2c...`:
    what a rules report was made from, in the names its JSON `source` has ("" without);
    `short`: the hash's first 12 digits, as git shortens one (a terminal's 80 columns)."""
    said = [
        f"{k} {str(source[k])[:12] if short and k == 'rules_sha256' else source[k]}"
        for k in fields
        if source and source.get(k) is not None
    ]
    return "source: " + " · ".join(said) if said else ""


def _scope_lines(scope: Any) -> list[str]:
    """What the report counts (`traffic: human (people only)`) and what it left out."""
    if scope is None:
        return []
    note = scope.note()
    return [scope.line(), *([f"note: {note}"] if note else [])]


def report_renderables(
    report: Any, sections: dict[str, pl.DataFrame], scope: Any = None
) -> list[RenderableType]:
    """The rules report for the terminal: one table per section, fitted to the width; the
    traffic `scope` (jtrack.usecases.traffic.TrafficScope) under the headline."""
    parts: list[RenderableType] = [Text(_headline(report))]
    made = source_line(getattr(report, "source", None), short=True)
    # (what it counts under the headline, then what made it, as Markdown and HTML have them)
    parts += [Text(strip_control(line), style="dim") for line in _scope_lines(scope)]
    parts += [Text(strip_control(line), style="dim") for line in [made] if line]
    for name, df in sections.items():
        parts.append(Text(""))
        parts.append(
            FrameTable(
                _with_cents(df),
                RULES_TITLES.get(name, name),
                optional=(*_FIRST.get(name, ()), *_OPTIONAL),
                extra=_EXTRA.get(name, ()),
                labels=_LABELS,
                keys=_KEYS.get(name, ()),
            )
        )
    parts += [Text(strip_control(f"note: {n}"), style="dim") for n in _notes(report)]
    return parts


def _notes(report: Any) -> list[str]:
    """What the figures leave out (RulesReport.notes), said under the tables."""
    return list(getattr(report, "notes", None) or [])


def _with_cents(df: pl.DataFrame) -> pl.DataFrame:
    """Value columns (`value_total`, a sum of money-like values) as decimals with two places,
    so that the table shows their cents (503.39, never 503.4)."""
    from jtrack.render.report_html import is_value_column

    cols = [c for c, t in df.schema.items() if is_value_column(c) and t.is_float()]
    # (a decimal of 38 digits holds up to 10^36 with its cents: a larger one stays a float)
    cols = [c for c in cols if not (df.get_column(c).abs().max() or 0) >= 1e35]  # type: ignore[operator]
    if not cols:
        return df
    return df.with_columns(pl.col(cols).round(2).cast(pl.Decimal(38, 2)))


def report_markdown(
    report: Any,
    sections: dict[str, pl.DataFrame],
    scope: Any = None,
    source: dict[str, Any] | None = None,
) -> str:
    """The rules report as Markdown: its headline (with the days counted), where it comes
    from and when it was made (`source`: the store, as render.report_html.made_words says
    it), the traffic `scope`, then one table per section."""
    from jtrack.render.report_html import made_words

    out = [f"# Rules report\n\n{_headline(report, span=True)}\n"]
    out += [f"\n{strip_control(line)}\n" for line in _scope_lines(scope)]
    if source_line(source, fields=RULES_FIELDS):
        out.append(f"\n{md_text(source_line(source, fields=RULES_FIELDS))}\n")
    out.append(f"\n{md_text(made_words(source))}\n")
    for name, df in sections.items():
        out.append(f"\n## {RULES_TITLES.get(name, name)}\n\n{to_markdown(df)}")
    out += [f"\nNote: {md_text(n)}\n" for n in _notes(report)]
    return "".join(out)


def report_html(
    report: Any,
    sections: dict[str, pl.DataFrame],
    scope: Any = None,
    source: dict[str, Any] | None = None,
) -> str:
    """The rules report as a page in the journey summary's look: headline figures, then one
    section per table (rates as percentages, segment colours as swatches); the traffic
    `scope` at the top, and where the report comes from and when it was made (`source`)."""
    from jtrack.render.report_html import html_table, made_words, page

    e, a = _escape, html_attr
    kpis = (
        f'<div class="kpis"><div class="kpi" data-kpi="sessions"><div class="v">'
        f'{report.sessions:,}</div><div class="k">sessions</div></div>'
        f'<div class="kpi" data-kpi="visitors"><div class="v">{report.visitors:,}</div>'
        '<div class="k">visitors</div></div></div>'
    )
    body = [f'<h1>Rules report</h1><p class="sub">{e(_headline(report, span=True))}</p>']
    if scope is not None:
        body += [
            f'<p class="sub traffic" data-traffic="{a(",".join(scope.classes))}">{e(line)}</p>'
            for line in _scope_lines(scope)
        ]
    if source_line(source, fields=RULES_FIELDS):
        body.append(f'<p class="sub source">{e(source_line(source, fields=RULES_FIELDS))}</p>')
    body.append(f'<p class="sub made">{e(made_words(source))}</p>')
    body.append(kpis)
    for name, df in sections.items():
        body.append(
            f'<section id="{a(name)}"><h2>{e(RULES_TITLES.get(name, name))}</h2>'
            f"{html_table(df)}</section>"
        )
    if _notes(report):
        body.append(
            '<section class="notes">'
            + "".join(f"<p>Note: {e(n)}</p>" for n in _notes(report))
            + "</section>"
        )
    return page("jtrack rules report", "".join(body))


#: The columns of a rules explanation (jtrack.usecases.rules.explain_store).
EXPLAIN_COLUMNS = ("rule_kind", "rule_id", "part", "condition", "held", "at", "event_id", "detail")


def frame_html(df: pl.DataFrame, title: str) -> str:
    """One frame as a page in the report's look; a rules explanation (`rules explain -o
    x.html`, whose title is `session <id>`) as explain_html shows it."""
    from jtrack.render.report_html import html_table, page

    if set(EXPLAIN_COLUMNS) <= set(df.columns) and title.startswith("session "):
        return explain_html(df, title.removeprefix("session "))
    return page(title, f"<h1>{_escape(title)}</h1><section>{html_table(df)}</section>")


def explain_html(
    frame: pl.DataFrame,
    session_id: str,
    rules_file: Any = None,
    source: dict[str, Any] | None = None,
) -> str:
    """A rules explanation as a page: what it is (which session, which rules file when
    known, which store and version: `source`, as render.report_html.store_source gives it),
    then one section per rule as the terminal shows it (part, held, time in UTC,
    event, condition, detail)."""
    from jtrack.render.report_html import html_table, page

    e, a = _escape, html_attr
    sub = [f"session {e(session_id)}"]
    if rules_file is not None:
        sub.append(f"rules {e(rules_file)}")
    for key in ("store", "version"):  # (the names a rules report's source has)
        if source and source.get(key) is not None:
            sub.append(f"{key} {e(source[key])}")
    at = frame.get_column("at").drop_nulls() if "at" in frame.columns else pl.Series([])
    if at.len():
        first, last = at.min(), at.max()
        sub.append(
            f"events {e(_day(first))} .. {e(_day(last))}"
            if _day(first) != _day(last)
            else f"events of {e(_day(first))}"
        )
    sub.append("times in UTC")
    body = [
        "<h1>Rules explanation</h1>",
        f'<p class="sub">{" · ".join(sub)}</p>',
        '<p class="sub">For every rule, each of its conditions: whether it held and at which '
        "event; then the rule's result.</p>",
    ]
    if frame.height == 0:
        body.append('<section><p class="notes">No rules.</p></section>')
    shown = frame.with_columns(pl.col("held").cast(pl.Boolean))
    keys = shown.select("rule_kind", "rule_id").unique(maintain_order=True).rows()
    for kind, rule_id in keys:
        rows = shown.filter((pl.col("rule_kind") == kind) & (pl.col("rule_id") == rule_id))
        cols = ["part", "held"]
        cols += [c for c in ("at", "event_id") if rows.get_column(c).null_count() < rows.height]
        body.append(
            f'<section class="rule" data-rule="{a(rule_id)}"><h2>{e(str(kind).replace("_", " "))} '
            f"{e(rule_id)}</h2>{html_table(rows.select(*cols, 'condition', 'detail'))}</section>"
        )
    return page(f"Rules explanation: session {session_id}", "".join(body))


def _day(value: Any) -> str:
    return str(value)[:10]


def _escape(value: Any) -> str:
    """A data value as HTML text (a right-to-left one isolated: serialize.html_text)."""
    return html_text(value)


def explain_renderables(frame: pl.DataFrame, session_id: str) -> list[RenderableType]:
    """One table per rule: part, held (true/false, as every format says it), time, event (id
    prefix), condition, detail; conditions and details wrap between words, ids and rule names
    are never split."""
    head = Text(f"session {strip_control(session_id)}")
    parts: list[RenderableType] = [head]
    if frame.height == 0:
        parts.append(Text("no rules"))
        return parts
    at = frame.get_column("at").drop_nulls()
    one_day = at.len() == 0 or at.dt.date().n_unique() == 1
    if at.len() and one_day:
        head.append(", " + str(at.dt.date().min()) + " (times UTC)")
    shown = frame.with_columns(
        pl.when(pl.col("held")).then(pl.lit("true")).otherwise(pl.lit("false")).alias("held"),
        pl.col("at").dt.strftime("%H:%M:%S" if one_day else "%Y-%m-%d %H:%M:%S"),
    )
    keys = shown.select("rule_kind", "rule_id").unique(maintain_order=True).rows()
    # (an event's id is shortened alike in every table: to a prefix unique among all the
    # events the explanation names, not within one rule's table)
    prefixes = frame_prefixes(frame.select("event_id"))
    for kind, rule_id in keys:
        rows = shown.filter((pl.col("rule_kind") == kind) & (pl.col("rule_id") == rule_id))
        parts.append(Text(""))
        title = Text(f"{kind.replace('_', ' ')} ", style="bold")
        title.append(strip_control(rule_id), style="bold")
        # "at" and "event_id" only where some condition of the rule held at an event
        cols = ["part", "held"]
        cols += [c for c in ("at", "event_id") if rows.get_column(c).null_count() < rows.height]
        parts.append(
            FrameTable(
                rows.select(*cols, "condition", "detail"),
                title,
                sorts={"at": "key", "condition": "text", "detail": "text"},
                wrap=("condition", "detail"),
                prefixes=prefixes,
                # (the event's id, when long, gives way before the condition does: its
                # time is there, and every other format has it)
                optional=("event_id",),
            )
        )
    return parts
