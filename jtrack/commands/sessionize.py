"""`jtrack sessionize`: read exports, sessionize them, keep the result in the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    LISTING_FORMATS,
    MAX_COUNT,
    Format,
    OutputOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    check_on_error,
    check_output,
    emit_frame,
    file_path,
    format_option,
    guard_store,
    handle_errors,
    named_file,
    note_line,
    resolve_format,
    stdout_console,
    warn_address_space_limit,
    warning_line,
    write_text,
)
from jtrack.errors import JtrackError

FORMATS = LISTING_FORMATS


def register(app: typer.Typer) -> None:
    app.command("sessionize")(sessionize_cmd)


@handle_errors
def sessionize_cmd(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="JSONL/JSON/Parquet files (.gz/.zst/.bz2/.xz too), directories, globs, or - for "
            "stdin (copied into the store's folder, then read as a file). Files the store "
            "took in before are skipped without being read; a JSON lines file that grew is "
            "read from where the last run left it; rotated copies "
            "beside a named file or in a named folder (app.jsonl.1, app.jsonl.2.gz) are read "
            "too. None with --rebuild (from the store's own events) or "
            "--contacts/--no-contacts.",
            show_default=False,
            metavar="SOURCES",
        ),
    ] = None,
    store: StoreOpt = None,
    gap: Annotated[
        str | None,
        typer.Option(
            help="Inactivity that ends a session: 20m, 1h30m, 90s [default: the store's, 20m "
            "for a new store]. Changing it rebuilds every session once.",
            show_default=False,
            metavar="<duration>",
        ),
    ] = None,
    split_on_campaign_change: Annotated[
        bool | None,
        typer.Option(
            "--split-on-campaign-change/--no-split-on-campaign-change",
            help="Start a new session when a visitor arrives from another referrer or UTM "
            "source/campaign than the session's own (its first event's) [default: the "
            "store's, off].",
            show_default=False,
        ),
    ] = None,
    max_duration: Annotated[
        str | None,
        typer.Option(
            help="Cut web and app sessions longer than this (e.g. 24h) into windows from "
            "the session start (custom sessions are their session id's events, uncut); "
            "`none` for no limit [default: the store's, none].",
            show_default=False,
            metavar="<duration>",
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            help="fail: stop at the first rejected row (exit 1). skip: keep the rejects "
            "(STORE/current/rejects.jsonl, and --rejects FILE) and go on.",
            metavar="<fail|skip>",
        ),
    ] = "fail",
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Also write this run's rejected rows to FILE (JSON lines; empty when it "
            "rejects none).",
            show_default=False,
            readable=False,
            parser=file_path,
            metavar="<file>",
        ),
    ] = None,
    max_line_bytes: Annotated[
        str,
        typer.Option(
            help="Reject input lines longer than this: a number of bytes, or a size such as 64MB.",
            metavar="<bytes>",
        ),
    ] = "1000000",
    contacts: Annotated[
        Path | None,
        typer.Option(
            help="Contacts file (CSV, JSON/JSONL or Parquet) to resolve known visitors; the "
            "store remembers it, so later runs need not repeat it.",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="<file>",
        ),
    ] = None,
    no_contacts: Annotated[
        bool,
        typer.Option("--no-contacts", help="Forget the store's contacts file: all Unknown."),
    ] = False,
    default_region: Annotated[
        str | None,
        typer.Option(
            help="Region for contact phones without a country code, e.g. GB.",
            show_default=False,
            metavar="<region>",
        ),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(help="Sessionize everything the store holds again, from scratch."),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            help="Start the store's history again from SOURCES alone (its events are dropped)."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Go on where jtrack refuses to lose data: every row rejected, or --replace "
            "with far fewer events than the store holds."
        ),
    ] = False,
    keep: Annotated[
        int | None,
        typer.Option(
            help="Earlier versions of the store to keep for `jtrack store rollback` (a "
            "compaction's version, the same events as its base, is not counted); the store "
            "remembers it for runs without --keep (default: what it was given last, else 2).",
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where to run: local (this process) or spark (pyspark: pip install "
            "'jtrack[spark]'; the store must be on a filesystem the cluster shares).",
            metavar="<local|spark>",
        ),
    ] = "local",
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="Spark master URL with --engine spark [default: $SPARK_MASTER, else local[*]].",
            show_default=False,
            metavar="<url>",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for another run's lock.", min=0, metavar="<seconds>"),
    ] = 0.0,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="Memory a work unit is sized to, e.g. 4GB [default: 2GB]. Larger runs are "
            "split into ranges of visitors staged on disk (in the store), with the same "
            "result; until duplicates are decided a run also holds 26 bytes a new event "
            "(100M events peak at 4.6 GiB at the default). A JSON document (array, REST page: "
            "read whole) may hold a quarter of it once decompressed (without it, "
            "$JTRACK_MAX_DOCUMENT_BYTES, else a sixteenth of the machine's memory).",
            show_default=False,
            metavar="<size>",
        ),
    ] = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Sessions shown (default 10 in a table, all otherwise; 0: the summary alone).",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing unless something is wrong (or --format / -o asks for data).",
        ),
    ] = False,
) -> None:
    """Split each visitor's events into web sessions (20+ minutes of inactivity ends one),
    resolve contacts, and keep the result in the store.

    On an existing store only what is new is read and sessionized: files taken in before are
    skipped, and only the visitors the new rows touch are sessionized again; the result is
    the same as a rebuild. Prints what the run did and what the store holds (rows read =
    events kept + duplicates + rejected), then the first sessions. --format json prints
    {"summary": ..., "sessions": [...]}; jsonl, csv, tsv and parquet the session rows alone.
    Exit 1 when a row is rejected (unless --on-error skip) or every row is, 2 on a bad
    option.
    """
    from dataclasses import replace as dc_replace

    from jtrack.engine import run_sessionize
    from jtrack.errors import UsageError
    from jtrack.options import RunOptions, parse_size
    from jtrack.store import Store

    check_on_error(on_error)
    warn_address_space_limit()
    if spark_master is not None and engine == "local":  # (a master given: Spark was meant)
        raise UsageError(
            f"--spark-master {spark_master} is for the Spark engine, and this run uses "
            f"--engine {engine}",
            hint="add --engine spark, or leave out --spark-master",
        )
    if contacts is not None and no_contacts:
        raise UsageError(
            "--contacts and --no-contacts contradict each other",
            hint="--contacts FILE resolves visitors with FILE; --no-contacts stops resolving",
        )
    if rebuild and replace:
        raise UsageError(
            "--rebuild and --replace contradict each other",
            hint="--rebuild works the store's events out again; --replace drops them for "
            "the sources",
        )
    if rebuild and not Store.open(store).exists():
        raise UsageError(
            "--rebuild: no store to rebuild here",
            hint="pass the store with --store, or leave out --rebuild to build one",
        )
    srcs = list(sources or [])
    if not srcs and not (rebuild or contacts or no_contacts):
        raise UsageError("no sources", hint="pass export files, folders or globs (or - for stdin)")
    # rotated copies beside a named file or in a named folder (app.jsonl.1): the lines
    # written after the last run and before the rename are only there
    from jtrack.read import with_rotated_copies

    srcs = with_rotated_copies(srcs)
    data_asked = fmt is not None or output is not None
    shows = data_asked or not quiet
    # (a table it shows is laid out: a bad $JTRACK_WIDTH before the run, not after its
    # commit; -q shows none)
    out_fmt = resolve_format(fmt, output, FORMATS, check_width=shows)
    policy = None
    if shows or role is not None or redact:  # (a bad role or config fails before the run)
        from jtrack.access import load_policy

        policy = load_policy(role, redact=redact)
    if default_region is not None:  # (a blank one is no region, not the remembered one)
        from jtrack.core.contacts import check_region

        check_region(default_region)
    st = Store.open(store)
    guard_store(st.root)
    check_output(output)  # refused before the run changes the store
    session = _session_options(st, gap, split_on_campaign_change, max_duration)
    if rejects is not None:
        from jtrack.files import check_rejects_target, is_special_file, same_file

        check_rejects_target(rejects, inputs=srcs, store_root=st.root)
        # (and never the contacts or config file it reads, or the contacts file the store
        # follows; nor the -o file, which would hold the listing and not the rejects)
        check_output(rejects, option="--rejects", what="the rejects")
        if output is not None and not is_special_file(rejects) and same_file(output, rejects):
            raise UsageError(
                f"--rejects {rejects}: that is the -o file too",
                hint="write the rejected rows and the session listing to two files",
            )
    options = RunOptions(
        session=session,
        on_error=on_error,  # type: ignore[arg-type]
        max_line_bytes=_line_limit(max_line_bytes),
        contacts=str(contacts) if contacts is not None else None,
        forget_contacts=no_contacts,
        default_region=default_region,
        rejects_path=str(rejects) if rejects is not None else None,
        lock_wait=wait,
        keep=keep,
        rebuild=rebuild,
        replace=replace,
        force=force,
        engine=engine,
        spark_master=spark_master,
    )
    if memory_limit is not None:
        options = dc_replace(options, memory_limit=parse_size(memory_limit))
    from jtrack.read.sources import stdin_bytes

    stdin = stdin_bytes() if "-" in srcs else None
    if quiet:  # (no bar: not even Rich is loaded, which a cron run every minute pays)
        run = run_sessionize(srcs, st, options=options, stdin=stdin)
    else:
        from jtrack.render.progress import ProgressBar

        with ProgressBar() as bar:
            run = run_sessionize(srcs, st, options=options, progress=bar, stdin=stdin)
    if run.contacts_invalid is not None and run.contacts_invalid.height:
        from jtrack.commands.contacts import print_warnings

        # never silently dropped, even with -q; masked as the reading commands mask them
        print_warnings(run.contacts_invalid, policy or _warnings_policy())
    _warn(run, quiet)
    if not shows:
        return
    assert policy is not None
    try:
        _show(run, st, policy, out_fmt, output, limit, quiet)
    except BrokenPipeError:
        raise
    except (OSError, JtrackError) as exc:  # (the run is committed: said, with the way on)
        raise committed_output_error(run, exc) from exc


def committed_output_error(run: Any, exc: BaseException) -> JtrackError:
    """An output that failed after the run was committed: said so (a run again says
    "nothing new": the store has what the listing would have shown)."""
    from jtrack.commands._common import _unexpected_message
    from jtrack.files import OutputError

    said = str(exc) if isinstance(exc, JtrackError) else _unexpected_message(exc)
    said = said.split(" (hint: ")[0].removesuffix("; nothing was written")
    version = run.summary.version or "a new version"
    return OutputError(
        f"{said}; the run itself was committed (the store is at {version})",
        hint="`jtrack sessions` lists what it holds; a run again says nothing is new",
    )


def _show(
    run: Any,
    st: Any,
    policy: Any,
    out_fmt: Format,
    output: Path | None,
    limit: int | None,
    quiet: bool,
) -> None:
    """The summary and the sessions, as --format asks (the run is committed)."""
    summary = run.summary
    if out_fmt == Format.json:
        from jtrack.serialize import to_json, to_records

        shown = _visible_sessions(st, policy, limit, quiet)
        write_text(to_json({"summary": summary.to_dict(), "sessions": to_records(shown)}), output)
        return
    if out_fmt == Format.table:
        from jtrack.render.summary import summary_panel

        if output is None:
            stdout_console().print(summary_panel(summary))
        if limit == 0 and output is None:  # (the summary alone: no empty table under it)
            return
        shown = _visible_sessions(st, policy, limit if limit is not None else 10, quiet)
        noun = "session" if summary.sessions == 1 else "sessions"
        emit_frame(
            shown,
            out_fmt,
            output,
            title=f"First {shown.height} of {summary.sessions:,} {noun}",
            columns=_TABLE_COLUMNS,
        )
        return
    if not quiet:
        from jtrack.commands._common import stderr_console
        from jtrack.render.summary import summary_panel

        stderr_console().print(summary_panel(summary))
    emit_frame(_visible_sessions(st, policy, limit, quiet), out_fmt, output)


def _line_limit(text: str) -> int:
    """--max-line-bytes: a number of bytes (`1000000`), or a size as --memory-limit takes it
    (`64MB`, `1.5MiB`)."""
    from jtrack.errors import UsageError
    from jtrack.options import parse_size

    value = parse_size(text, "--max-line-bytes") if not text.strip().isdigit() else int(text)
    if value < 1:
        raise UsageError(f"--max-line-bytes: {text!r} is no limit", hint="give 1 or more bytes")
    return value


def _warnings_policy() -> Any:
    """The policy of the contacts warnings of a run that shows nothing else (`-q`, no
    --role): the config's default role; a config that names none (or is broken: the run
    is done) masks the values, never shows them."""
    from jtrack.access import Policy, load_policy
    from jtrack.errors import ConfigError

    try:
        return load_policy(None)
    except ConfigError as exc:  # (said, as every command that reads the config says it)
        from jtrack.commands._common import warning_line

        warning_line(f"{exc}; the contacts file's warnings below are masked")
        return Policy(permissions=frozenset())


def _visible_sessions(st: Any, policy: Any, limit: int | None, quiet: bool) -> Any:
    """The store's sessions by start and id (the first `limit`) as the role may see them
    (custom sessions it may not see left out; what leaves is protected as by every reading
    command); none, with a note, for a role that may not see sessions."""
    import polars as pl

    from jtrack.access import SESSION_VIEW, StoreView, protect_output, set_output_policy
    from jtrack.schema import SESSION_SCHEMA

    set_output_policy(policy)
    if not policy.allows(SESSION_VIEW):
        if not quiet:
            warning_line(
                f"sessions are not listed: role {policy.role!r} may not see them "
                f"(needs {SESSION_VIEW}); the store was written"
            )
        return pl.DataFrame(schema=SESSION_SCHEMA)
    from jtrack.store.snapshot import first_by_start

    shown = first_by_start(StoreView(st, policy).scan_sessions(), limit)
    # protected here, where every format takes it (JSON does not go through emit_frame)
    return protect_output(shown, policy)


_TABLE_COLUMNS = [
    "id",
    "created_date",
    "duration_in_seconds",
    "event_count",
    "pageview_count",
    "contact_name",
    "last_page_title",
]


def _session_options(
    store: Any, gap: str | None, split: bool | None, max_duration: str | None
) -> Any:
    """The sessionizer's options: the store's (or the defaults), with what was given."""
    from dataclasses import replace

    from jtrack.options import SessionizeOptions, parse_duration

    if gap is None and split is None and max_duration is None:
        return None  # the store's own
    base = SessionizeOptions()
    if store.exists():
        from jtrack.engine.run import _session_options as stored

        base = stored(store.read_manifest())
    changes: dict[str, Any] = {}
    if gap is not None:
        changes["gap"] = parse_duration(gap, "--gap")
    if split is not None:
        changes["split_on_campaign_change"] = split
    if max_duration is not None:
        none = max_duration.strip().lower() in ("none", "off", "0")
        changes["max_duration"] = None if none else parse_duration(max_duration, "--max-duration")
    return replace(base, **changes)


def run_warnings(run: Any) -> list[str]:
    """A run's `warning:` lines (empty inputs, rejected rows, conflicting redeliveries, stored
    events moved beyond the far-future cut, a store that shrank): what sessionize and watch
    both say, even with -q, as they may mean something is wrong (StoredRun.all_warnings)."""
    return list(run.all_warnings())


def _warn(run: Any, quiet: bool) -> None:
    """The run's warnings, one `warning:` line each (even with -q); notes about the run
    (rebuilds) only without -q."""
    for line in run_warnings(run):
        warning_line(line)
    if not quiet:
        for note in run.notes:
            note_line(note)  # (names of fields and files in it: control characters made harmless)
        sys.stderr.flush()
