"""Rich tables of result frames; data is always shown literally (never as markup)."""

from __future__ import annotations

import io
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jtrack.serialize import flat_strings, strip_control

_NUMERIC_RIGHT = True


def frame_table(df: pl.DataFrame, title: str | None = None) -> Table:
    """A Rich table of a frame: every cell as literal Text, numbers right-aligned."""
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        show_lines=False,
        pad_edge=False,
        expand=False,
    )
    flat = flat_strings(df, neutralise=False)
    for name, dtype in df.schema.items():
        justify: Any = "right" if (dtype.is_numeric() and _NUMERIC_RIGHT) else "left"
        table.add_column(name, justify=justify, overflow="fold")
    for row in flat.iter_rows():
        table.add_row(*[Text(strip_control(v)) if v is not None else Text("") for v in row])
    return table


def render_to_text(renderable: Any, width: int = 100) -> str:
    console = Console(
        width=width, record=True, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()
