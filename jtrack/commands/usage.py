"""`jtrack usage`: billable web events by day or month, with the allowance, for cron."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    LISTING_FORMATS,
    MAX_COUNT,
    Format,
    OutputOpt,
    StoreOpt,
    check_on_error,
    format_option,
    handle_errors,
    named_file,
    resolve_format,
    stderr_console,
    write_text,
)
from jtrack.errors import ExitCode

FORMATS = LISTING_FORMATS


def register(app: typer.Typer) -> None:
    app.command("usage")(usage_cmd)


@handle_errors
def usage_cmd(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Export files, directories, globs or - (default: the store).",
            show_default=False,
            metavar="SOURCES",
        ),
    ] = None,
    store: StoreOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="One row per day or per month.", metavar="<day|month>")
    ] = "day",
    month: Annotated[
        str | None,
        typer.Option(
            help="The billing month: 2026-10; or previous or last (the month before --as-of's), "
            "yesterday (the month of the day before --as-of: the month that just ended when "
            "run early on the 1st), current [default: current].",
            show_default=False,
            metavar="<month>",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="First local day reported (2026-10-01, or 2026-10).",
            show_default=False,
            metavar="<day>",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="First local day NOT reported (exclusive).", show_default=False, metavar="<day>"
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            help="IANA time zone of days and months [default: config, else UTC].",
            show_default=False,
            metavar="<zone>",
        ),
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(
            help="Licensed users (allowance = users x per-user).",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    per_user: Annotated[
        int | None,
        typer.Option(
            "--per-user",
            help="Billable events allowed per user per month.",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    billable: Annotated[
        str | None,
        typer.Option(
            help="Billable classes, comma-separated, from page_view, search, custom, "
            "custom_session, app, system [default: config, else page_view,search,custom].",
            show_default=False,
            metavar="<classes>",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Config file with a [usage] table [default: $JTRACK_CONFIG, else ./jtrack.toml].",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="<file>",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Report as of this time (ISO-8601; no offset = --tz) "
            "[default: now]. Events created at or after it are not counted.",
            show_default=False,
            metavar="<time>",
        ),
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="One row: the billing month and the reconciliation.")
    ] = False,
    fail_over_allowance: Annotated[
        bool, typer.Option("--fail-over-allowance", help="Exit 3 when usage is over the allowance.")
    ] = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    wait: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for another run writing the same -o file.",
            min=0,
            metavar="<seconds>",
        ),
    ] = 0.0,
    on_error: Annotated[
        str,
        typer.Option(
            help="With export files: fail: a rejected row stops usage (exit 1, naming file, "
            "line and field), as it stops sessionize. skip: count it in the reconciliation, "
            "leave it out of the figures, and say so on stderr.",
            metavar="<fail|skip>",
        ),
    ] = "fail",
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Nothing on stderr but errors and warning lines."),
    ] = False,
) -> None:
    """Billable web events (distinct event ids) per day or month, month-to-date, allowance,
    overage and a month-end projection, with a reconciliation (rows, duplicates, rejects,
    late events). Reads the store, or export files directly.

    Exit 3 with --fail-over-allowance when a reported month is over the allowance.
    """
    import contextlib

    from jtrack.config import load_config
    from jtrack.errors import UsageError
    from jtrack.usecases.usage import (
        UsageInput,
        UsageOptions,
        check_billable,
        check_tz,
        compute_usage,
        output_lock,
        parse_as_of,
        parse_day,
        resolve_month,
        usage_config,
    )

    if sources and store is not None:
        raise UsageError(
            "give export files or --store, not both",
            hint="usage reads either the store or the files",
        )
    check_on_error(on_error)
    if on_error == "skip" and not sources:  # (a store holds no rows to skip: its rejects were
        # counted when it was built; skip was taken and did nothing)
        raise UsageError(
            "--on-error skip is for export files: a store's rows were checked when it was built",
            hint="leave it out; `jtrack store` counts the rows each run rejected",
        )
    if by not in ("day", "month"):
        raise UsageError(
            f"--by {by!r}: usage is counted by day or by month", hint="use --by day or --by month"
        )
    out_fmt = resolve_format(fmt, output, FORMATS, "usage")
    data, cpath = load_config(config)
    conf = usage_config(data, cpath)
    zone = check_tz(tz) if tz is not None else conf.get("tz", "UTC")
    classes = (
        check_billable(billable.split(","))
        if billable is not None
        else tuple(conf.get("billable", ("page_view", "search", "custom")))
    )
    n_users = users if users is not None else conf.get("users")
    n_per_user = per_user if per_user is not None else conf.get("per_user")
    when = parse_as_of(as_of, zone) if as_of is not None else datetime.now(UTC)
    opts = UsageOptions(
        as_of=when,
        by=by,  # type: ignore[arg-type]
        tz=zone,
        month=resolve_month(month, when, zone) if month is not None else None,
        since=parse_day(since, "--since") if since is not None else None,
        until=parse_day(until, "--until") if until is not None else None,
        billable=classes,
        users=n_users,
        per_user=n_per_user,
    )
    if fail_over_allowance and opts.allowance is None:
        raise UsageError(
            "--fail-over-allowance needs an allowance",
            hint="pass --users N --per-user EVENTS, or set them in the [usage] table of the config",
        )
    err = stderr_console()
    lock = output_lock(output, wait) if output is not None else contextlib.nullcontext()
    from jtrack.read.sources import stdin_bytes
    from jtrack.render.progress import ProgressBar

    with lock:
        with ProgressBar(quiet=quiet, console=err) as bar:
            if sources:
                bar("reading")
                from jtrack.read import with_rotated_copies

                # (the rotated copies sessionize reads: the bill of the store made of them)
                inp = UsageInput.from_sources(
                    with_rotated_copies(sources),
                    stdin=stdin_bytes() if "-" in sources else None,
                    on_error=on_error,
                )
            else:
                from jtrack.store import Store

                inp = UsageInput.from_store(Store.open(store))
            bar("counting")
            report = compute_usage(inp, opts)
        _emit(report, out_fmt, output, summary)
    from jtrack.commands._common import warning_line

    for line in report.all_warnings():  # even with -q: the figures may be wrong (a cron
        warning_line(line)  # job reporting an empty month)
    if not quiet:
        _notes(report, out_fmt, output)
    if fail_over_allowance and report.over_allowance:
        from jtrack.commands._common import error_line

        m = report.month  # (said even with -q: something is wrong)
        if m.get("over_allowance"):
            others = [x for x in report.months_over_allowance if x != m["month"]]
            also = (
                f"; {', '.join(others)} of the period too"
                + ("" if summary else " (their rows show by how much)")
                if others
                else ""
            )
            error_line(
                f"{m['month']}: {m['month_to_date']:,} billable events month to date, over the "
                f"allowance of {m['allowance']:,} by {m['overage']:,}{also} (exit 3, "
                "--fail-over-allowance) (hint: `jtrack usage --by day` shows which days; the "
                "allowance is --users x --per-user, or [usage] in the config file)"
            )
        else:  # a month of the period reported, not the billing month
            over = report.months_over_allowance
            error_line(
                f"{', '.join(over)}: over the allowance of {m['allowance']:,} billable events "
                f"a month (exit 3, --fail-over-allowance; the rows of "
                f"{'that month' if len(over) == 1 else 'those months'} show by how much) "
                "(hint: the allowance is --users x --per-user, or [usage] in the config file)"
            )
        raise typer.Exit(int(ExitCode.OVER_ALLOWANCE))


def _emit(report: Any, fmt: Format, output: Path | None, summary: bool) -> None:
    from jtrack import serialize
    from jtrack.commands._common import emit_frame, print_renderables

    if fmt == Format.json:
        if summary:  # (the one row, and what the full JSON warns of: not in CSV's columns)
            said = report.all_warnings()
            obj = {**serialize.to_records(report.summary_frame())[0], "warnings": said}
        else:
            obj = report.to_dict()
        write_text(serialize.to_json(obj), output)
    elif fmt == Format.md:
        from jtrack.render.report import usage_markdown

        write_text(usage_markdown(report, summary_only=summary), output)
    elif fmt == Format.table:
        from jtrack.render.report import usage_renderables

        print_renderables(usage_renderables(report, summary_only=summary), output)
    else:
        emit_frame(report.summary_frame() if summary else report.rows, fmt, output)


def _notes(report: Any, fmt: Format, output: Path | None) -> None:
    """One or two plain lines on stderr for people running it by hand (not with --quiet),
    never wrapped (cron mail is read with grep)."""
    from jtrack.commands._common import note_line, stderr_line
    from jtrack.render.text import plural

    rec = report.reconciliation
    if rec.get("rejected"):
        whose = "the store's inputs" if "store" in report.source else "the files"
        # (a rejected row's day is not known, its time may be what was wrong: of no month)
        note_line(
            f"{plural(rec['rejected'], 'row')} of {whose} "
            f"{'were rejected and are' if rec['rejected'] != 1 else 'was rejected and is'} "
            "not counted (in any period)"
        )
    if fmt == Format.table and output is None:
        return
    m = report.month
    line = f"{m['month']}: {m['month_to_date']:,} billable events month to date"
    if m["projection"] is not None:
        line += f", projected {m['projection']:,}"
    if m.get("automated"):
        line += f", {m['automated']:,} of them automated ({m['automated_share'] * 100:.1f}%)"
    if m["allowance"] is not None:
        line += f", allowance {m['allowance']:,}"
        if m["overage"]:
            line += f": OVER by {m['overage']:,}"
    stderr_line(line)  # (and `wrote FILE` after it, as every command says its -o)
