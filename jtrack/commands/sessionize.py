"""`jtrack sessionize`: read exports, sessionize them, keep the result in the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    Format,
    OutputOpt,
    StoreOpt,
    emit_frame,
    format_option,
    handle_errors,
    resolve_format,
    stderr_console,
    stdout_console,
    write_text,
)

FORMATS = (Format.table, Format.json, Format.jsonl, Format.csv, Format.parquet)


def register(app: typer.Typer) -> None:
    app.command("sessionize")(sessionize_cmd)


@handle_errors
def sessionize_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="JSONL/JSON/Parquet files (.gz/.zst too), directories, globs, or - for stdin.",
            show_default=False,
        ),
    ],
    store: StoreOpt = None,
    gap: Annotated[
        str, typer.Option(help="Inactivity that ends a session: 20m, 1h30m, 90s.")
    ] = "20m",
    split_on_campaign_change: Annotated[
        bool,
        typer.Option(
            help="Start a new session when a visitor arrives from a different "
            "referrer source or UTM campaign."
        ),
    ] = False,
    max_duration: Annotated[
        str | None,
        typer.Option(
            help="Cut sessions longer than this (e.g. 24h) into windows from the session start.",
            show_default=False,
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            help="fail: stop at the first rejected row (exit 1). skip: write "
            "rejects to --rejects and go on."
        ),
    ] = "fail",
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where rejected rows go with --on-error skip [default: STORE/rejects.jsonl].",
            show_default=False,
        ),
    ] = None,
    max_line_bytes: Annotated[
        int, typer.Option(help="Reject input lines longer than this many bytes.")
    ] = 1_000_000,
    contacts: Annotated[
        Path | None,
        typer.Option(
            help="Contacts file (CSV, JSON/JSONL or Parquet) to resolve known visitors.",
            show_default=False,
        ),
    ] = None,
    default_region: Annotated[
        str | None,
        typer.Option(
            help="Region for contact phones without a country code, e.g. GB.", show_default=False
        ),
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another run's lock.")] = 0.0,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="Memory to stay under, e.g. 8GB [default: 4GB]. Larger inputs are staged "
            "on disk (in the store) and sessionized one visitor bucket at a time, with the "
            "same result.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Sessions shown (default 10 in a table, all otherwise).", show_default=False
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary or progress on stderr.")
    ] = False,
) -> None:
    """Split each visitor's events into web sessions (20+ minutes of inactivity ends one),
    resolve contacts, and keep the result in the store.

    Prints the accounting (rows read = events kept + duplicates + rejected), then the first
    sessions. Exit 1 when a row is rejected (unless --on-error skip), 2 on a bad option.
    """
    from jtrack.engine.pipeline import parse_size, run_sessionize
    from jtrack.errors import UsageError
    from jtrack.options import SessionizeOptions, parse_duration
    from jtrack.store import Store

    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error {on_error!r}", hint="use fail or skip")
    out_fmt = resolve_format(fmt, output, FORMATS)
    options = SessionizeOptions(
        gap=parse_duration(gap, "--gap"),
        split_on_campaign_change=split_on_campaign_change,
        max_duration=parse_duration(max_duration, "--max-duration") if max_duration else None,
    )
    st = Store.open(store)
    rejects_path = rejects if rejects is not None else st.root / "rejects.jsonl"
    err = stderr_console()
    show_progress = not quiet and sys.stderr.isatty()
    extra: dict[str, Any] = {}
    if memory_limit is not None:
        extra["memory_limit"] = parse_size(memory_limit)
    if contacts is not None:
        extra["contacts"] = contacts
        extra["default_region"] = default_region
    status = err.status("reading", spinner="dots") if show_progress else None
    try:
        if status is not None:
            status.start()

        def progress(msg: str) -> None:
            if status is not None:
                status.update(msg)

        run = run_sessionize(
            sources,
            st,
            options=options,
            on_error=on_error,  # type: ignore[arg-type]
            rejects_path=rejects_path,
            max_line_bytes=max_line_bytes,
            stdin=sys.stdin.buffer if "-" in sources else None,
            lock_wait=wait,
            progress=progress,
            **extra,
        )
    finally:
        if status is not None:
            status.stop()
    if run.contacts_invalid is not None:  # never silently dropped: one line per entry
        from jtrack.commands.contacts import print_warnings

        print_warnings(run.contacts_invalid)
    _warn_read(run)
    summary = run.summary
    if out_fmt == Format.json:
        from jtrack.serialize import to_json, to_records

        shown = run.session_table(limit)
        write_text(to_json({"summary": summary.to_dict(), "sessions": to_records(shown)}), output)
        return
    if out_fmt == Format.table:
        from jtrack.render.summary import summary_panel

        shown = run.session_table(limit if limit is not None else 10)
        console = stdout_console()
        if output is None:
            console.print(summary_panel(summary))
        emit_frame(
            shown,
            out_fmt,
            output,
            title=f"First {shown.height} of {summary.sessions} sessions",
            columns=_TABLE_COLUMNS,
        )
        return
    if not quiet:
        from jtrack.render.summary import summary_panel

        err.print(summary_panel(summary))
    emit_frame(run.session_table(limit), out_fmt, output)


_TABLE_COLUMNS = [
    "id",
    "created_date",
    "duration_in_seconds",
    "event_count",
    "pageview_count",
    "last_page_title",
]


def _warn_read(run: Any) -> None:
    """Empty inputs and conflicting redeliveries: one `warning:` line each, even with -q."""
    from jtrack.serialize import strip_control

    lines = list(run.read.warnings)
    conflicts = run.conflicts
    if conflicts is not None and conflicts.height:
        ids = conflicts["event_id"].head(5).to_list()
        more = f" (+{conflicts.height - 5} more)" if conflicts.height > 5 else ""
        lines.append(
            f"{conflicts.height} event id(s) came more than once with different contents; "
            f"the earliest of each was kept: {', '.join(ids)}{more}"
        )
    for line in lines:
        sys.stderr.write("warning: " + strip_control(line) + "\n")
    sys.stderr.flush()
