"""The rules report and explanations for the terminal (Rich), as Markdown and as HTML.

Every data string is shown literally: Rich Text cells (via render.table.frame_table) and
html.escape for HTML.
"""

from __future__ import annotations

import html
from typing import Any

import polars as pl
from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from jtrack.serialize import flat_strings, strip_control, to_markdown

TITLES = {
    "segments": "Segments: sessions and visitors matched",
    "outcomes": "Outcomes: achievements and conversion rate",
    "outcomes_by_segment": "Outcomes by segment (jtrack's own matches)",
    "action_maps": "Action maps: sessions qualified, and blocked by reason",
}


def _headline(report: Any) -> str:
    return f"{report.sessions:,} sessions, {report.visitors:,} visitors"


def _report_table(df: pl.DataFrame, title: str) -> Table:
    """Headers wrap between words, never inside one; numbers never wrap; long text wraps."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    flat = flat_strings(df, neutralise=False)
    for name, dtype in df.schema.items():
        words = name.split("_")
        lengths = flat.get_column(name).drop_nulls().str.len_chars()
        widest = int(lengths.max() or 0) if lengths.len() else 0  # type: ignore[arg-type]
        longest = max(len(w) for w in words)
        header = Text(" ".join(words), style="bold")
        if dtype.is_numeric() or dtype == pl.Boolean:
            justify: Any = "right" if dtype.is_numeric() else "left"
            width = max(longest, widest)
            table.add_column(header, justify=justify, min_width=width, max_width=width)
        else:
            table.add_column(header, overflow="fold", min_width=min(max(longest, widest), 14))
    for row in flat.iter_rows():
        table.add_row(*[Text(strip_control(v)) if v is not None else Text("") for v in row])
    return table


#: Columns the terminal leaves out to fit 100 columns (every other format has them).
TABLE_OMITS = {"action_maps": ("display_name", "active")}


def report_renderables(report: Any, sections: dict[str, pl.DataFrame]) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(_headline(report))]
    for name, df in sections.items():
        shown = df.drop(TABLE_OMITS.get(name, ()), strict=False)
        parts.append(Text(""))
        parts.append(_report_table(shown, TITLES.get(name, name)))
    return parts


def report_markdown(report: Any, sections: dict[str, pl.DataFrame]) -> str:
    out = [f"# Rules report\n\n{_headline(report)}\n"]
    for name, df in sections.items():
        out.append(f"\n## {TITLES.get(name, name)}\n\n{to_markdown(df)}")
    return "".join(out)


def _html_table(df: pl.DataFrame) -> str:
    flat = flat_strings(df, neutralise=False)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in flat.columns)
    rows = []
    for row in flat.iter_rows():
        cells = "".join(
            f"<td>{html.escape(strip_control(v)) if v is not None else ''}</td>" for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def report_html(report: Any, sections: dict[str, pl.DataFrame]) -> str:
    body = [f"<h1>Rules report</h1><p>{html.escape(_headline(report))}</p>"]
    for name, df in sections.items():
        body.append(f"<h2>{html.escape(TITLES.get(name, name))}</h2>{_html_table(df)}")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f4f4f4}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>jtrack rules report</title><style>{style}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def frame_html(df: pl.DataFrame, title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{_html_table(df)}</body></html>\n"
    )


def _explain_table(rows: pl.DataFrame, title: str) -> Table:
    """Short columns never shrink; condition and detail wrap instead of being cut."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("part", "held", "at", "event id"):
        table.add_column(Text(name, style="bold"), no_wrap=True)
    table.add_column(Text("condition", style="bold"), overflow="fold", ratio=3)
    table.add_column(Text("detail", style="bold"), overflow="fold", ratio=2)
    flat = flat_strings(rows, neutralise=False)
    for r in flat.iter_rows(named=True):
        cells = [r["part"], r["held"], r["at"], r["event_id"], r["condition"], r["detail"]]
        table.add_row(*[Text(strip_control(c or "")) for c in cells])
    return table


def explain_renderables(frame: pl.DataFrame, session_id: str) -> list[RenderableType]:
    """One table per rule: part, held (yes/no), time, event (id prefix), condition, detail."""
    parts: list[RenderableType] = [Text(f"session {strip_control(session_id)}")]
    if frame.height == 0:
        parts.append(Text("no rules"))
        return parts
    shown = frame.with_columns(
        pl.when(pl.col("held")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("held"),
        pl.col("at").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.when(pl.col("event_id").str.len_chars() > 16)
        .then(pl.col("event_id").str.slice(0, 13) + pl.lit("…"))
        .otherwise(pl.col("event_id"))
        .alias("event_id"),
    )
    keys = shown.select("rule_kind", "rule_id").unique(maintain_order=True).rows()
    for kind, rule_id in keys:
        rows = shown.filter((pl.col("rule_kind") == kind) & (pl.col("rule_id") == rule_id))
        parts.append(Text(""))
        parts.append(_explain_table(rows, f"{kind.replace('_', ' ')} {rule_id}"))
    return parts
