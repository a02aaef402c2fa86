"""Rich tables of result frames; data is always shown literally (never as markup).

Tables are for people: times are shown to the second, fractional numbers to one decimal, and
long ids as a unique-enough prefix (every command accepts id prefixes). Machine formats (JSON,
CSV, ...) always carry the full values.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jtrack.serialize import flat_strings, strip_control

#: Columns holding uuid-shaped ids, shown as their first 13 characters in tables.
ID_COLUMNS = ("id", "session_id", "last_event_id")
ID_PREFIX = 13


def _human(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC")
            col = col.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif dtype.is_float():
            col = col.round(1)
        elif name in ID_COLUMNS and dtype == pl.String:
            col = (
                pl.when(col.str.len_chars() > ID_PREFIX + 3)
                .then(col.str.slice(0, ID_PREFIX) + pl.lit("…"))
                .otherwise(col)
            )
        exprs.append(col.alias(name))
    return df.select(exprs)


def frame_table(df: pl.DataFrame, title: str | None = None) -> Table:
    """A Rich table of a frame: every cell as literal Text, numbers right-aligned."""
    table = Table(
        title=title,
        title_justify="left",
        show_lines=False,
        pad_edge=False,
        expand=False,
        box=box.SIMPLE_HEAD,
    )
    flat = flat_strings(_human(df), neutralise=False)
    for name, dtype in df.schema.items():
        lengths = flat.get_column(name).drop_nulls().str.len_chars()
        widest = int(lengths.max() or 0) if lengths.len() else 0  # type: ignore[arg-type]
        # headers wrap at the underscores (shown as spaces); cells stay on one line
        header = Text(name.replace("_", " "), style="bold")
        if dtype.is_numeric() or isinstance(dtype, pl.Datetime) or name in ID_COLUMNS:
            table.add_column(
                header,
                justify="right" if dtype.is_numeric() else "left",
                overflow="fold",
                min_width=max(min(widest, 24), 5),
            )
        else:
            # long text is cut with an ellipsis here; other formats carry it whole
            table.add_column(header, overflow="ellipsis", no_wrap=True, min_width=min(widest, 12))
    for row in flat.iter_rows():
        table.add_row(*[Text(strip_control(v)) if v is not None else Text("") for v in row])
    return table


def render_to_text(renderable: Any, width: int = 100) -> str:
    console = Console(
        width=width, record=True, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()
