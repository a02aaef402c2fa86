"""`jtrack schema`: the canonical event columns (the flat input shape) or the session table."""

from __future__ import annotations

from typing import Annotated

import typer

from jtrack.commands._common import (
    LISTING_FORMATS,
    Format,
    OutputOpt,
    QuietOpt,
    emit_frame,
    format_option,
    handle_errors,
    resolve_format,
)

FORMATS = LISTING_FORMATS


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
    index: Annotated[
        bool,
        typer.Option(
            "--index",
            help="Show the store's index columns (one narrow row per event kept, with where "
            "its wide row is) instead of the event columns.",
        ),
    ] = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,  # (taken as every command takes it: it writes no notes)
) -> None:
    """Print the canonical event schema: each flat column, its type, its Genesys JSON path.

    The flat input shape names its columns so (snake_case), one row per event; only
    event_id, customer_id and created_date are required. Columns it holds beyond these
    are not read (a note names them, with the column each may be); a Parquet column
    matches in another case (EVENT_ID) only when none has the exact name. created_date
    takes ISO-8601 text or epoch milliseconds; whole-number columns take 390, "390" or
    390.0 (not 390.5); attributes and traits take a list of {name, data_type, value}, a
    map of name to {dataType, value}, or a map of name to text. --sessions and --index
    show the columns of the store's session and index files (the
    README's "Reading a store with other tools" reads them), each with what it means
    and whether it is never null. Every format gives the schema version (in the title,
    or a schema_version column), the one the store's manifest and Parquet files carry:
    it changes only when one of these columns does.
    """
    import polars as pl

    from jtrack.errors import UsageError
    from jtrack.schema import (
        INDEX_DESCRIPTIONS,
        INDEX_NEVER_NULL,
        INDEX_SCHEMA,
        SESSION_DESCRIPTIONS,
        SESSION_NEVER_NULL,
        EventSchema,
        short_type,
    )
    from jtrack.store.manifest import SCHEMA_VERSION
    from jtrack.store.snapshot import STORED_SESSION_SCHEMA

    if sessions and index:
        raise UsageError("--sessions and --index each show one table", hint="ask for one at a time")
    out_fmt = resolve_format(fmt, output, FORMATS, "schema")
    # one spelling of each type in every format: Polars' short form (`str`, `i64`,
    # `datetime[μs, UTC]`, `list[struct[3]]`); `required` a boolean (true/false in text)
    if sessions or index:
        table, meaning, never_null = (
            (STORED_SESSION_SCHEMA, SESSION_DESCRIPTIONS, SESSION_NEVER_NULL)
            if sessions
            else (INDEX_SCHEMA, INDEX_DESCRIPTIONS, INDEX_NEVER_NULL)
        )
        df = pl.DataFrame(
            {
                "column": list(table),
                "dtype": [short_type(t) for t in table.values()],
                "never_null": [c in never_null for c in table],
                "description": [meaning[c] for c in table],
            },
            schema={
                "column": pl.String,
                "dtype": pl.String,
                "never_null": pl.Boolean,
                "description": pl.String,
            },
        )
    else:
        df = pl.DataFrame(
            EventSchema().to_rows(),
            schema={
                "column": pl.String,
                "dtype": pl.String,
                "genesys_path": pl.String,
                "required": pl.Boolean,
                "description": pl.String,
            },
            orient="row",
        )
    # (the version a reader pins: it changes only when a documented column does)
    df = df.with_columns(schema_version=pl.lit(SCHEMA_VERSION, pl.Int64))
    if out_fmt != Format.table:
        emit_frame(df, out_fmt, output)
        return
    title = (
        f"{df.height} session columns: the store's session files"
        if sessions
        else f"{df.height} index columns: the store's index files"
        if index
        else f"{df.height} event columns: the flat input shape"
    ) + f" (schema version {SCHEMA_VERSION})"
    df = df.drop("schema_version")
    # (a Genesys path cut at its start: its leaf tells the geolocation.country* apart)
    emit_frame(
        df,
        out_fmt,
        output,
        title=title,
        sorts={"dtype": "key"},
        wrap=["description"],
        tails=["genesys_path"],
    )
