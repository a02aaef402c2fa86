"""`jtrack rules check|report|explain`: validate a rules file, summarise what its segments,
outcomes and action maps find in the store, and explain one session rule by rule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    Format,
    OutputOpt,
    QuietOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    TrafficOpt,
    emit_frame,
    error_line,
    format_option,
    handle_errors,
    named_file,
    note_line,
    open_store,
    print_renderables,
    resolve_format,
    traffic_classes,
    warning_line,
    write_text,
)
from jtrack.commands.report import AsOfOpt, MonthOpt, SinceOpt, TzOpt, UntilOpt

CHECK_FORMATS = (Format.table, Format.json)
REPORT_FORMATS = (
    Format.table,
    Format.json,
    Format.jsonl,
    Format.csv,
    Format.tsv,
    Format.md,
    Format.html,
    Format.parquet,
)
EXPLAIN_FORMATS = REPORT_FORMATS

rules_app = typer.Typer(
    name="rules",
    help="Segments, outcomes and action maps from a TOML rules file (--rules FILE, "
    "$JTRACK_CONFIG or ./jtrack.toml), evaluated over the store.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Rules file (default: $JTRACK_CONFIG, else ./jtrack.toml).",
        show_default=False,
        readable=False,
        parser=named_file,
        metavar="<file>",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")


def _require_rules(path: Path | None) -> Any:
    from jtrack.core.rules import load_rules
    from jtrack.errors import UsageError

    rules = load_rules(path)
    if rules is None:
        raise UsageError(
            "no rules file: none given and no ./jtrack.toml",
            hint="pass --rules FILE (see sample_data/jtrack.toml for an example)",
        )
    return rules


@rules_app.command("check")
@handle_errors
def check_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Rules file (default: $JTRACK_CONFIG, else ./jtrack.toml).",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="FILE",
        ),
    ] = None,
    fmt: Annotated[Format | None, format_option(CHECK_FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Validate a rules file and list every problem at once (file:line, the key, and the
    nearest valid key or operator); exit 2 when the file is invalid. Rules that are valid
    but never or always match (a value the export never holds, such as device.category
    "Mobile"; bounds no number meets) are warnings, as is a file with nothing in it. With
    -q a valid file prints nothing (the exit status says it). -o writes the verdict to a
    file (the summary, the problems, or why the file could not be read; with -f json the
    document); the problems are on stderr either way."""
    from jtrack import serialize
    from jtrack.core.rules import check_rules
    from jtrack.errors import ExitCode, JtrackError, UsageError
    from jtrack.usecases.usage import usage_config

    out_fmt = resolve_format(
        fmt, output, CHECK_FORMATS, "rules check", check_width=False
    )  # (a verdict in sentences: nothing laid out)
    keys: set[str] = set()  # of [usage] (checked a key at a time)

    def usage_checked(data: dict[str, Any]) -> object:
        table = usage_config(data)
        keys.update(table)
        return table

    linted: list[Any] = []  # (valid, but never or always matches: warnings, file:line)
    try:
        # (the file is the config: its [usage] is checked as `jtrack usage` checks it)
        rules, problems, path = check_rules(file, usage=usage_checked, once=True, warnings=linted)
        if path is None:
            raise UsageError(
                "no rules file: none given and no ./jtrack.toml",
                hint="name the file: jtrack rules check FILE",
            )
    except JtrackError as exc:
        if output is not None:  # (the file says the verdict: never a "valid" left from before)
            import os

            from jtrack.config import CONFIG_ENV, DEFAULT_NAME

            looked = file or os.environ.get(CONFIG_ENV) or DEFAULT_NAME
            verdict = {
                "file": str(looked),
                "valid": False,
                "problems": [],
                "warnings": [],
                "error": str(exc),
            }
            text = serialize.to_json(verdict) if out_fmt == Format.json else f"error: {exc}\n"
            write_text(text, output)
        raise
    # half an allowance (valid: --users or --per-user may give the other half; a key that
    # is itself a problem is said as that)
    warnings = [str(w) for w in linted]
    faulty = any(p.where.startswith("usage") for p in problems)  # (a misspelt `user`, say)
    if ("users" in keys) != ("per_user" in keys) and not faulty:
        has, lacks = ("users", "per_user") if "users" in keys else ("per_user", "users")
        warnings.append(
            f"{path}: [usage] has {has} but no {lacks}: the allowance is users x per_user, "
            f"and `jtrack usage` refuses to run without --{lacks.replace('_', '-')}"
        )
    if rules is not None:  # (valid, and never fires: a map on inactive segments only)
        inactive = {s.id for s in rules.segments if not s.active}
        for m in rules.action_maps:
            if m.active and m.segments and all(s in inactive for s in m.segments):
                segs = ", ".join(dict.fromkeys(m.segments))
                warnings.append(
                    f"{path}: action map {m.id!r} triggers only on inactive segments "
                    f"({segs}), so it never fires: set active = true on one of them, or "
                    "active = false on the map"
                )
    if out_fmt == Format.json:
        doc: dict[str, Any] = {"file": str(path), "valid": not problems}
        if rules is not None:
            doc.update(
                segments=len(rules.segments),
                outcomes=len(rules.outcomes),
                action_maps=len(rules.action_maps),
            )
        doc["problems"] = [p.to_dict() for p in problems]
        doc["warnings"] = warnings
        write_text(serialize.to_json(doc), output)
    elif rules is not None and (output is not None or not quiet):
        said = [f"warning: {w}" for w in warnings] if output is not None else []
        write_text(
            "".join(f"{line}\n" for line in [*said, f"{path}: valid: {rules.summary()}"]), output
        )
    elif output is not None:  # (the file says the verdict: never a "valid" left from before)
        n = len(problems)
        lines = [f"warning: {w}" for w in warnings] + [str(p) for p in problems]
        total = f"{path}: invalid: {n} problem{'s' if n != 1 else ''}"
        write_text("".join(f"{line}\n" for line in [*lines, total]), output)
    for w in warnings:
        warning_line(w)
    for p in problems:
        error_line(str(p))
    if problems:
        n = len(problems)
        error_line(
            f"{path}: {n} problem{'s' if n != 1 else ''}; the rules were not loaded "
            f"(hint: fix {'each line' if n != 1 else 'the line'} named above)"
        )
        raise typer.Exit(int(ExitCode.USAGE))


@rules_app.command("report")
@handle_errors
def report_cmd(
    rules_file: RulesOpt = None,
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    section: Annotated[
        str | None,
        typer.Option(
            help="Only this section: segments, outcomes, outcomes_by_segment, action_maps.",
            show_default=False,
            metavar="<name>",
        ),
    ] = None,
    traffic: TrafficOpt = None,
    month: MonthOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tz: TzOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[Format | None, format_option(REPORT_FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Replay the rules over every session in the store: per segment the sessions and
    visitors matched; per outcome the achievements, visitors and conversion rate, overall and by
    segment; per action map how often it qualified and why it was blocked. Segment and
    outcome events already in the export are counted beside jtrack's own (source column).

    --month, or --since/--until, counts the sessions started in that period (local days of
    --tz, as `jtrack report` counts them); only those sessions are read (a rule looks at
    its session alone), and each is matched as in the whole store's report.

    People only unless --traffic says otherwise (said under the headline; a `traffic`
    field in JSON; a note on stderr for CSV, JSONL and Parquet when sessions were left out).
    CSV, JSONL and Parquet hold all sections in one table with a `section` column.

    An outcome's `valued` counts the achievements with a number in its value attribute,
    which `value_total` sums (a note names the others). What made the report: JSON's
    `source` (store, version, rules, rules_sha256), a `source:` line in the table, Markdown
    and HTML (none in CSV, JSONL and Parquet, which hold the sections' rows only)."""
    import difflib
    from datetime import timedelta

    from jtrack import serialize
    from jtrack.commands.report import report_period
    from jtrack.core.rules import rules_report
    from jtrack.core.rules.report import SECTIONS
    from jtrack.errors import UsageError
    from jtrack.usecases.report import ReportOptions, started_in
    from jtrack.usecases.rules import evaluate_store, hidden_notes, store_export_results
    from jtrack.usecases.traffic import is_all, traffic_expr, traffic_scope
    from jtrack.usecases.usage import started_words

    classes = traffic_classes(traffic)
    out_fmt = resolve_format(fmt, output, REPORT_FORMATS, "rules report")
    if section is not None and section not in SECTIONS:
        near = difflib.get_close_matches(section, SECTIONS, n=1)
        raise UsageError(
            f"--section {section!r}: no such section",
            hint=(f"did you mean {near[0]!r}? " if near else "")
            + "sections: "
            + ", ".join(SECTIONS),
        )
    rules = _require_rules(rules_file)
    # (days in the zone `jtrack usage` counts them in: the rules file is the config)
    zone, first, last = report_period(month, since, until, tz, as_of, rules=rules.path)
    ReportOptions(tz=zone, since=first, until=last)  # (checks the period)
    st = open_store(store, role, redact, rules=rules.path)
    # (only the sessions of the period and traffic classes are read: a rule looks at its
    # session alone, so they are matched as in the whole store's report)
    results = evaluate_store(st, rules, traffic=classes, tz=zone, since=first, until=last)
    in_period = first is not None or last is not None
    # (the export's segments and outcomes a period or traffic class lists, 0 where it has none)
    every = results if is_all(classes) and not in_period else store_export_results(st, rules)
    counted = st.scan_sessions()
    period = None
    empty = False
    if in_period:
        import polars as pl

        counted = counted.filter(started_in(zone, first, last))
        # (open ends: the days of the sessions counted, as `jtrack report` gives them; an
        # empty period: of any traffic, as there)
        lo, hi = _days_counted(counted, classes, zone)
        empty = counted.select(pl.len()).collect().item() == 0
        period = {  # (as `jtrack report` gives it: the first and the last day)
            "from": (first or lo).isoformat() if (first or lo) else None,
            "to": (last - timedelta(days=1) if last else hi).isoformat() if (last or hi) else None,
        }
    scope = traffic_scope(counted, classes)
    report = rules_report(rules, results, counted.filter(traffic_expr(classes)), every)
    report.period = period
    report.tz = zone
    from jtrack.render.report_html import store_source

    report.source = {  # (what made it, the same names in every format)
        **store_source(st),
        "rules": str(rules.path) if rules.path is not None else None,
        "rules_sha256": rules.sha256,
    }
    if period is None and out_fmt in (Format.md, Format.html):  # (the headline's days)
        lo, hi = _days_counted(counted, classes, zone)
        report.span = {"from": lo.isoformat(), "to": hi.isoformat()} if lo and hi else None
    words = started_words(period["from"], period["to"]) if period is not None else ""
    if period is not None and empty:  # (even with -q: a cron job's empty month)
        warning_line(
            f"no sessions started {words} ({zone}) (hint: pass a period the store holds "
            "sessions in; `jtrack store` shows its span)"
        )
    elif period is not None and not quiet and out_fmt in _FILE_FORMATS:
        note_line(f"sessions started {words} ({zone})")  # (no headline to say it)
    sections = report.sections()
    hidden = _hidden_sections(st)  # what the role may not see is left out, and said
    if section is not None and section in hidden:
        st.policy.require(hidden[section], section)
    for name, perm in hidden.items():
        sections.pop(name, None)
        if not quiet:
            note_line(f"{name} are hidden by your role (needs {perm})")
    if not quiet:  # (what else the role leaves out of the counts, as `jtrack report` says)
        for left_out in hidden_notes(st, counted, zone, first, last, classes):
            note_line(left_out)
    if section is not None:
        sections = {section: sections[section]}
    if "outcomes" not in sections:  # (its notes are of the outcomes' value_total)
        report.notes = []
    if out_fmt == Format.json:
        # (as `jtrack report` and `jtrack usage` give them: the zone beside the period)
        doc: dict[str, Any] = {"report": "rules", "tz": zone, "period": report.period}
        doc["source"] = report.source
        doc.update(sessions=report.sessions, visitors=report.visitors)
        doc["traffic"] = scope.to_dict()
        doc.update({k: serialize.to_records(v) for k, v in sections.items()})
        doc["notes"] = report.notes
        write_text(serialize.to_json(doc), output)
    elif out_fmt in (Format.jsonl, Format.csv, Format.tsv, Format.parquet):
        import polars as pl

        frame = pl.concat(
            [df.select(pl.lit(k).alias("section"), pl.all()) for k, df in sections.items()],
            how="diagonal_relaxed",
        )
        emit_frame(frame, out_fmt, output)
        note = scope.note()
        if note and not quiet:
            note_line(f"{scope.line()}; {note}")
        for said in report.notes if not quiet else []:
            note_line(said)
    elif out_fmt == Format.md:
        from jtrack.render.rules import report_markdown

        write_text(report_markdown(report, sections, scope, report.source), output)
    elif out_fmt == Format.html:
        from jtrack.render.rules import report_html

        write_text(report_html(report, sections, scope, report.source), output)
    else:
        from jtrack.render.rules import report_renderables

        print_renderables(report_renderables(report, sections, scope), output)


#: Formats of the rules report without a headline to name its period in.
_FILE_FORMATS = (Format.jsonl, Format.csv, Format.tsv, Format.parquet)


def _days_counted(counted: Any, classes: Any, zone: str) -> tuple[Any, Any]:
    """The first and last day (in `zone`) of the sessions counted of these traffic classes
    (None, None: none)."""
    import polars as pl

    from jtrack.usecases.traffic import traffic_expr

    day = pl.col("created_date").dt.convert_time_zone(zone).dt.date()
    lo, hi = (
        counted.filter(traffic_expr(classes))
        .select(day.min().alias("lo"), day.max().alias("hi"))
        .collect()
        .row(0)
    )
    return lo, hi


def _hidden_sections(store: Any) -> dict[str, str]:
    """Report sections the store's role may not see, with the permission each needs."""
    policy = getattr(store, "policy", None)
    kinds = policy.hidden_rule_kinds if policy is not None else {}
    out: dict[str, str] = {}
    if "segment" in kinds:
        out.update(segments=kinds["segment"], outcomes_by_segment=kinds["segment"])
    if "outcome" in kinds:
        out.update(outcomes=kinds["outcome"], outcomes_by_segment=kinds["outcome"])
    return out


@rules_app.command("explain")
@handle_errors
def explain_cmd(
    session_id: Annotated[
        str, typer.Argument(help="Session id or a unique prefix of one.", metavar="SESSION_ID")
    ],
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule", help="Only this rule id (repeatable).", show_default=False, metavar="<id>"
        ),
    ] = None,
    rules_file: RulesOpt = None,
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    fmt: Annotated[Format | None, format_option(EXPLAIN_FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,  # (taken as every command takes it: it writes no notes)
) -> None:
    """For one session, every condition of every rule: whether it held and at which event,
    then each rule's result (matched, achieved, qualified or blocked and why)."""
    from jtrack.usecases.rules import explain_store
    from jtrack.usecases.sessions import resolve_visible_session

    out_fmt = resolve_format(fmt, output, EXPLAIN_FORMATS, "rules explain")
    rules = _require_rules(rules_file)
    st = open_store(store, role, redact, rules=rules.path)
    sid = resolve_visible_session(st, session_id)  # (its full id, for the title)
    frame = explain_store(st, rules, sid, rule_ids=rule)
    hidden = getattr(st, "policy", None) and st.policy.hidden_rule_kinds
    if hidden:  # a segment or outcome the role may not see: not explained
        import polars as pl

        mine = pl.col("rule_kind").is_in(list(hidden))
        if rule and frame.select(mine.any()).item():  # asked for by name
            kind = frame.filter(mine)["rule_kind"][0]
            st.policy.require(hidden[kind], f"{kind}s")
        frame = frame.filter(~mine)
    title = f"session {sid}"
    if out_fmt == Format.html:
        from jtrack.render.report_html import store_source
        from jtrack.render.rules import explain_html

        write_text(explain_html(frame, sid, rules_file=rules.path, source=store_source(st)), output)
    elif out_fmt == Format.table:
        from jtrack.render.rules import explain_renderables

        print_renderables(explain_renderables(frame, sid), output)
    else:
        emit_frame(frame, out_fmt, output, title=title)
