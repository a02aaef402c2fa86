"""`jtrack schema`: the canonical event columns (the flat input shape) or the session table."""

from __future__ import annotations

from typing import Annotated

import typer

from jtrack.commands._common import (
    Format,
    OutputOpt,
    emit_frame,
    format_option,
    handle_errors,
    resolve_format,
)

FORMATS = (Format.table, Format.json, Format.jsonl, Format.csv, Format.md)


def register(app: typer.Typer) -> None:
    app.command("schema")(schema_cmd)


@handle_errors
def schema_cmd(
    sessions: Annotated[
        bool,
        typer.Option(
            "--sessions", help="Show the session table's columns instead of the event columns."
        ),
    ] = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
) -> None:
    """Print the canonical event schema: each flat column, its type, its Genesys JSON path.

    The flat input shape is exactly these columns (snake_case), one row per event.
    """
    import polars as pl

    from jtrack.schema import SESSION_SCHEMA, EventSchema

    out_fmt = resolve_format(fmt, output, FORMATS)
    if sessions:
        df = pl.DataFrame(
            {"column": list(SESSION_SCHEMA), "dtype": [str(t) for t in SESSION_SCHEMA.values()]}
        )
    else:
        df = pl.DataFrame(EventSchema().to_rows())
    emit_frame(df, out_fmt, output, title="session columns" if sessions else "event columns")
