"""`jtrack report`: a journey summary (sessions, visitors, duration, pages, sources, devices)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    MAX_COUNT,
    ConfigOpt,
    Format,
    OutputOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    TrafficOpt,
    check_on_error,
    format_option,
    handle_errors,
    named_file,
    open_store,
    resolve_format,
    stderr_console,
    traffic_classes,
    write_text,
)
from jtrack.commands.contacts import RegionOpt, check_region_option, warn_invalid

FORMATS = (Format.table, Format.json, Format.md, Format.html)

# The period of a report (`jtrack report`, `jtrack rules report`): by session start, in local
# days of --tz.
MonthOpt = Annotated[
    str | None,
    typer.Option(
        help="Only sessions started in this month: 2026-10, or previous, yesterday, current "
        "(as for `jtrack usage`).",
        show_default=False,
        metavar="<month>",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="First local day (by session start).", show_default=False, metavar="<day>"),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        help="First local day NOT reported (exclusive).", show_default=False, metavar="<day>"
    ),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        help="IANA time zone of the days [default: the config's [usage] tz, as `jtrack "
        "usage` counts them, else UTC].",
        show_default=False,
        metavar="<zone>",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The clock --month previous, yesterday and current count from (ISO-8601; no "
        "offset = --tz) [default: now].",
        show_default=False,
        metavar="<time>",
    ),
]


def report_period(
    month: str | None,
    since: str | None,
    until: str | None,
    tz: str | None,
    as_of: str | None,
    config: Path | None = None,
    rules: Path | None = None,
) -> tuple[str, date | None, date | None]:
    """The zone and the first local day of a report's period and the first after it (None:
    open) from its options (ReportOptions checks that one comes after the other). Without
    --tz, the zone `jtrack usage` counts days in: the [usage] tz of the `rules` file when it
    has one, else of the config (`config` named, else $JTRACK_CONFIG, else ./jtrack.toml),
    else UTC."""
    from datetime import UTC, datetime

    from jtrack.errors import UsageError
    from jtrack.usecases.usage import (
        MONTH_WORDS,
        check_tz,
        next_month,
        parse_as_of,
        parse_day,
        resolve_month,
    )

    if month is not None and (since is not None or until is not None):
        raise UsageError(
            "--month cannot be combined with --since/--until",
            hint="use either --month 2026-10 or --since/--until",
        )
    if as_of is not None and (month is None or month.strip().lower() not in MONTH_WORDS):
        raise UsageError(  # (a report shows every session of its period: no cut-off)
            "--as-of sets the clock of --month previous, yesterday or current",
            hint="add --month previous, yesterday or current, or leave out --as-of",
        )
    zone = check_tz(tz) if tz is not None else _config_zone(config, rules)
    clock = parse_as_of(as_of, zone) if as_of is not None else datetime.now(UTC)
    first = (
        resolve_month(month, clock, zone)
        if month is not None
        else (parse_day(since, "--since") if since is not None else None)
    )
    last = (
        next_month(first)
        if month is not None and first is not None
        else (parse_day(until, "--until") if until is not None else None)
    )
    return zone, first, last


def _config_zone(config: Path | None, rules: Path | None) -> str:
    """The [usage] tz of the rules file, else of the config, else UTC (as roles are found:
    a rules file that is not the config leaves the config's to it)."""
    from jtrack.config import config_tz, load_config

    for explicit in ([rules] if rules is not None else []) + [config]:
        zone = config_tz(*load_config(explicit))
        if zone is not None:
            return zone
    return "UTC"


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


@handle_errors
def report_cmd(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Export files, directories, globs or - (default: the store).",
            show_default=False,
            metavar="SOURCES",
        ),
    ] = None,
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    config: ConfigOpt = None,
    month: MonthOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tz: TzOpt = None,
    as_of: AsOfOpt = None,
    top: Annotated[
        int, typer.Option(help="Rows per ranked table.", min=1, max=MAX_COUNT, metavar="<n>")
    ] = 10,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="The series per day, week (Monday to Sunday) or month; auto: days up to two "
            "months, weeks up to half a year, months beyond.",
            metavar="<auto|day|week|month>",
        ),
    ] = "auto",
    traffic: TrafficOpt = None,
    contacts: Annotated[
        Path | None,
        typer.Option(
            "--contacts",
            help="With export files: a contacts file (CSV, JSON/JSONL or Parquet) to tell "
            "known visitors from Unknown, as sessionize --contacts does (without one, every "
            "visitor of the files is Unknown). A store's report counts them as the store "
            "resolved them.",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="<file>",
        ),
    ] = None,
    default_region: RegionOpt = None,
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
            help="With export files: fail: a rejected row stops the report (exit 1, naming "
            "file, line and field), as it stops sessionize. skip: leave it out, in a note and "
            "a warning line on stderr.",
            metavar="<fail|skip>",
        ),
    ] = "fail",
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Nothing on stderr but errors and warning lines."),
    ] = False,
) -> None:
    """A journey summary over a period: sessions and visitors per day (week or month: --by),
    known versus Unknown,
    median and p90 duration, bounce rate, engaged sessions, top pages, entry and exit pages,
    searches, acquisition channels (web sessions: paid and organic search, social, email,
    referral, internal, direct; GA4's grouping simplified, README: channels), referrers,
    campaigns, devices, browsers, countries, segments and outcomes. A session's referrer
    and campaign are those of its first event.

    People only unless --traffic says otherwise (said at the top; a `traffic` field in
    JSON, with the sessions left out); a traffic section shares all traffic of the period
    out by class and lists the top automated agents, with the user-agent lists' version.

    --format html writes one self-contained page with charts (no network, no script).
    """
    import contextlib

    from jtrack.errors import UsageError
    from jtrack.usecases.report import ReportOptions, report_from_sources, report_from_store
    from jtrack.usecases.usage import output_lock

    check_on_error(on_error)
    if on_error == "skip" and not sources:  # (a store holds no rows to skip: its rejects were
        # counted when it was built; skip was taken and did nothing)
        raise UsageError(
            "--on-error skip is for export files: a store's rows were checked when it was built",
            hint="leave it out; `jtrack store` counts the rows each run rejected",
        )
    if sources and store is not None:
        raise UsageError(
            "give export files or --store, not both",
            hint="report reads either the store or the files",
        )
    check_region_option(contacts, default_region)
    if contacts is not None and not sources:
        raise UsageError(
            "--contacts resolves the visitors of export files: a store's report counts them "
            "as the store resolved them",
            hint="`jtrack sessionize --contacts FILE` resolves the store's visitors again",
        )
    zone, first, last = report_period(month, since, until, tz, as_of, config)
    classes = traffic_classes(traffic)
    out_fmt = resolve_format(fmt, output, FORMATS, "report")
    opts = ReportOptions(tz=zone, since=first, until=last, top=top, traffic=classes, by=by)
    err = stderr_console()
    lock = output_lock(output, wait) if output is not None else contextlib.nullcontext()
    from jtrack.read.sources import stdin_bytes
    from jtrack.render.progress import ProgressBar

    with lock:
        # reading export files takes a while: a progress bar on a terminal (never with -q)
        with ProgressBar(quiet=quiet, console=err) as bar:
            if sources:
                from jtrack.read import with_rotated_copies

                report = report_from_sources(
                    with_rotated_copies(sources),  # (what sessionize reads of them)
                    opts,
                    stdin=stdin_bytes() if "-" in sources else None,
                    progress=bar,
                    on_error=on_error,
                    policy=_files_policy(role, redact, config),
                    contacts=contacts,
                    default_region=default_region,
                )
            else:
                bar("summarising")
                report = report_from_store(open_store(store, role, redact, config=config), opts)
        _emit(report, out_fmt, output)
    from jtrack.commands._common import warning_line

    if contacts is not None:  # (its invalid entries, as every command with --contacts)
        warn_invalid(contacts, default_region, role, redact, config)
    for line in report.warnings:  # even with -q: the figures may be wrong
        warning_line(line)
    if report.empty_period is not None:  # even with -q: a cron job reports an empty month
        hint = (
            "pass --since/--until within those months"
            if since is not None or until is not None
            else "pass --month with one of those, or --month previous in a job that runs "
            "early on the 1st"
        )
        warning_line(f"{report.empty_period} (hint: {hint})")


def _files_policy(role: str | None, redact: bool, config: Path | None = None) -> Any:
    """The role (and --redact) a report of export files is made under, as a store's is."""
    from jtrack.access import load_policy, set_output_policy

    policy = load_policy(role, redact=redact, config=config)
    set_output_policy(policy)
    return policy


def _emit(report: Any, fmt: Format, output: Path | None) -> None:
    from jtrack import serialize

    if fmt == Format.json:
        write_text(serialize.to_json(report.to_dict()), output)
    elif fmt == Format.md:
        write_text(report_markdown(report), output)
    elif fmt == Format.html:
        from jtrack.render.report_html import report_html

        write_text(report_html(report), output)
    else:
        from jtrack.commands._common import print_renderables
        from jtrack.render.report import journey_renderables

        print_renderables(journey_renderables(report), output)


def report_markdown(report: Any) -> str:
    """The journey summary as Markdown: headline figures, the daily table, every table."""
    import polars as pl

    from jtrack import serialize
    from jtrack.render.theme import report_title

    p = report.period
    from jtrack.render.report import labelled, table_caption
    from jtrack.render.report_html import made_words
    from jtrack.render.text import period_span
    from jtrack.render.theme import definitions, empty_tables

    out = [
        f"# Journey summary {period_span(p)} ({serialize.strip_control(report.options.tz)})",
        "",
        serialize.strip_control(report.scope.line()),
        "",
        serialize.md_text(made_words(report.source)),
        "",
    ]
    ov = pl.DataFrame(
        {
            "figure": list(report.overview),
            "value": [_md_value(v, k) for k, v in report.overview.items()],
        }
    )
    out += [
        serialize.to_markdown(ov),
        serialize.md_text(definitions(report)[:1].upper() + definitions(report)[1:] + "."),
        "",
        f"## Sessions per {report.by}",
        "",
        serialize.to_markdown(report.shown_series()),
    ]
    for name, df in report.tables.items():
        if df is None or df.height == 0:
            continue
        shown = labelled(name, df)
        out += [f"## {report_title(name)}", "", serialize.to_markdown(_md_rates(shown))]
        caption = table_caption(report, name)
        if caption:
            out += [serialize.md_text(caption[:1].upper() + caption[1:]), ""]
    empty = empty_tables(report)
    if empty:
        out += [serialize.md_text(empty[:1].upper() + empty[1:] + "."), ""]
    for note in report.notes:
        out += [f"Note: {serialize.strip_control(note)}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_value(v: Any, name: str = "") -> str:
    """An overview figure in Markdown: a rate as a percentage, as the terminal shows it."""
    from jtrack.render.theme import RATE_COLUMNS

    if v is None:
        return ""
    if name in RATE_COLUMNS and isinstance(v, float):
        return f"{v * 100:.1f}%"
    return str(v)


def _md_rates(df: Any) -> Any:
    """A report table with its rates (RATE_COLUMNS) as percentages, as the terminal and
    HTML show them (`28.0%`; JSON keeps the fractions)."""
    import polars as pl

    from jtrack.render.theme import RATE_COLUMNS

    rates = [c for c, t in df.schema.items() if c in RATE_COLUMNS and t.is_float()]
    return df.with_columns(
        pl.when(pl.col(c).is_not_null())
        .then(pl.format("{}%", (pl.col(c) * 100).round(1).cast(pl.String)))
        .alias(c)
        for c in rates
    )
