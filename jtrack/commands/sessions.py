"""`jtrack sessions`: list sessions from the store, filtered, sorted, in every format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from jtrack.commands._common import (
    LISTING_FORMATS,
    MAX_COUNT,
    TABLE_ROWS,
    Format,
    OutputOpt,
    QuietOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    TrafficOpt,
    emit_frame,
    format_option,
    handle_errors,
    named_file,
    note_line,
    open_store,
    resolve_format,
    traffic_classes,
)
from jtrack.commands.contacts import (
    ContactsOpt,
    RegionOpt,
    TtlOpt,
    check_region_option,
    note_erased,
    warn_invalid,
)
from jtrack.errors import UsageError

#: A --where clause on the columns --rules adds (lists: =, != and ~).
_RULE_FIELD = re.compile(r"^\s*(segments|outcomes)\s*(!=|=|~)", re.IGNORECASE)

#: --ttl when not given (told apart from one given: it needs a clock).
DEFAULT_TTL_TEXT = "60d"
FORMATS = LISTING_FORMATS
TABLE_COLUMNS = [
    "id",
    "contact_name",
    "created_date",
    "duration_in_seconds",
    "event_count",
    "last_page_title",
]


def register(app: typer.Typer) -> None:
    app.command("sessions")(sessions_cmd)


@handle_errors
def sessions_cmd(
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Rules file: add each session's matched `segments` and achieved `outcomes` "
            "(jtrack's own and the export's) as list columns; an empty file (/dev/null) "
            "adds the export's alone.",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="<file>",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Sessions still going at or after this time (ISO-8601, UTC if no offset).",
            show_default=False,
            metavar="<time>",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Sessions started before this time (ISO-8601, UTC if no offset).",
            show_default=False,
            metavar="<time>",
        ),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(help="Only this visitor (customer id).", show_default=False, metavar="<id>"),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only this session type (web, app, or a custom type).",
            show_default=False,
            metavar="<type>",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Field filter FIELD OP VALUE with OP one of = != ~ > >= < <= "
            "(e.g. device.category=mobile); repeatable, all must hold. A time without an "
            "offset is UTC.",
            show_default=False,
            metavar="<filter>",
        ),
    ] = None,
    sort: Annotated[
        str, typer.Option(help="Sort by this field.", metavar="<field>")
    ] = "created_date",
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            help="At most this many sessions (a table on standard output shows the first "
            f"{TABLE_ROWS:,} unless told).",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated fields to show (default: all but in a table).",
            show_default=False,
            metavar="<fields>",
        ),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(
            help="Only this contact's sessions, across all its cookies (see `jtrack contacts`).",
            show_default=False,
            metavar="<id>",
        ),
    ] = None,
    contacts: ContactsOpt = None,
    default_region: RegionOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Resolve contacts as of this time (ISO-8601, UTC if no offset): each visitor "
            "by the traits "
            "sent by then (a visitor who signed in later is Unknown), temporary contacts "
            "expiring at it; --contact matches who the visitor was then. Sessions are listed "
            "whatever their dates (--until leaves later ones out). Default: now with "
            "--contacts, else the contacts and states stored by sessionize.",
            show_default=False,
            metavar="<time>",
        ),
    ] = None,
    ttl: TtlOpt = DEFAULT_TTL_TEXT,
    traffic: TrafficOpt = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List sessions from the store, oldest first, filtered by time, visitor, type or any
    session field.

    People only unless --traffic says otherwise: the table says so under it, and other
    formats (whose stdout is only data) in a note on stderr when sessions were left out;
    every row carries traffic_class, traffic_agent and traffic_signal."""
    from datetime import UTC, datetime, timedelta

    from jtrack.options import parse_duration
    from jtrack.usecases.sessions import (
        SessionQuery,
        column_for_field,
        id_prefix_lengths,
        parse_when,
        resolve_customer_id,
        session_listing,
    )

    check_region_option(contacts, default_region)
    if ttl != DEFAULT_TTL_TEXT and contacts is None and as_of is None:
        raise UsageError(
            "--ttl judges expiry at a clock: the states sessionize stored never expire",
            hint="add --as-of now (or --as-of TIME, or --contacts FILE)",
        )
    classes = traffic_classes(traffic)
    out_fmt = resolve_format(fmt, output, FORMATS, "sessions")
    view = open_store(store, role, redact, rules=rules)
    if customer is not None:  # a unique prefix of a customer id is enough
        customer = resolve_customer_id(view, customer) or customer
    # clauses on the rules' columns (`segments~seg-cart`) filter after the rules are
    # evaluated, and the limit then applies to what they keep
    clauses = tuple(where or ())
    later = tuple(c for c in clauses if _RULE_FIELD.match(c))
    capped = limit is None and out_fmt == Format.table and output is None
    if capped:  # (a terminal's table: the first TABLE_ROWS, said in its title and caption)
        limit = TABLE_ROWS
    if sort in ("segments", "outcomes", "search_terms"):
        raise UsageError(
            f"--sort {sort}: a list of ids or terms has no order to sort sessions by",
            hint=f"sort by another field; --where {sort}~TEXT keeps the sessions that have it",
        )
    if columns is not None and not columns.strip(" ,"):  # (`--columns "$COLS"` unset)
        raise UsageError(
            f"--columns {columns!r} names no field",
            hint="name fields separated by commas (id,created_date,duration); see "
            "`jtrack schema --sessions`",
        )
    asked = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    if asked:  # (each field as its column: `Segments`, `device.category`; a misspelt one
        # named against every field, with its nearest)
        fields = [*view.scan_sessions().collect_schema().names(), "segments", "outcomes"]
        asked = [column_for_field(field, fields) for field in asked]
    from_rules = [c for c in asked if c in ("segments", "outcomes")]
    if from_rules and rules is None:
        raise UsageError(
            f"--columns {from_rules[0]}: segments and outcomes come from a rules file",
            hint="add --rules FILE (your segment and outcome rules, such as jtrack.toml)",
        )
    if later and rules is None:
        raise UsageError(
            f"--where {later[0]!r}: segments and outcomes come from a rules file",
            hint="add --rules FILE (your segment and outcome rules, such as jtrack.toml)",
        )
    policy = getattr(view, "policy", None)
    named = {*from_rules, *(m[1].lower() for c in later if (m := _RULE_FIELD.match(c)))}
    for kind in ("segment", "outcome"):  # (asked for by name: not permitted, exit 4)
        if policy is not None and f"{kind}s" in named and kind in policy.hidden_rule_kinds:
            policy.require(policy.hidden_rule_kinds[kind], f"{kind}s")
    q = SessionQuery(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        customer=customer,
        type=type_,
        where=tuple(c for c in clauses if c not in later),
        sort=sort,
        descending=desc,
        limit=None if later else limit,
        contact=contact,
        contacts_file=str(contacts) if contacts is not None else None,
        default_region=default_region,
        # with a contacts file, contact states are as of now unless --as-of says otherwise
        as_of=parse_when(as_of, "--as-of") or (datetime.now(UTC) if contacts is not None else None),
        ttl=parse_duration(ttl, "--ttl"),
        traffic=classes,
        # (the rules' columns are joined below)
        columns=tuple(c for c in asked if c not in from_rules) if asked else None,
    )
    if contacts is not None:
        warn_invalid(contacts, default_region, role, redact, rules)
        note_erased(view, contacts, default_region)
    listing = session_listing(view, q)
    df, scope = listing.frame, listing.scope
    # (the sessions shown that began before --since: `report` counts by start, and leaves
    # them out of the same period)
    began_before = (
        df.filter(df.get_column("created_date") < q.since).height
        if q.since is not None and q.since != q.until and "created_date" in df.columns
        else 0
    )
    matched = listing.total
    if rules is not None:
        from jtrack.core.rules import join_rule_columns, load_rules
        from jtrack.usecases.rules import evaluate_store

        loaded = load_rules(rules)
        df = join_rule_columns(df, evaluate_store(view, loaded, df.get_column("id").to_list()))
        hidden = getattr(view, "policy", None) and view.policy.hidden_rule_kinds
        if hidden:  # the columns of results the role may not see are left out
            df = df.drop([f"{k}s" for k in hidden], strict=False)
        if later:
            import polars as pl

            from jtrack.usecases.sessions import where_expr

            schema = dict(df.schema)
            df = df.filter(pl.all_horizontal([where_expr(c, schema) for c in later]))
            matched = df.height  # (the sessions the rule clauses keep, before the limit)
            df = df.head(limit) if limit is not None else df
    if columns:
        picked = [column_for_field(c, df.columns) for c in asked]
        twice = [
            (a, c) for i, (a, c) in enumerate(zip(asked, picked, strict=True)) if c in picked[:i]
        ]
        if twice:  # (a field, or a table header and its field: one column twice)
            name, col = twice[0]
            raise UsageError(
                f"--columns {name}: the {col!r} field is named twice",
                hint="name each field once",
            )
        df = df.select(picked)
        shown = None
    else:
        shown = [c for c in TABLE_COLUMNS if c in df.columns]
        if len(classes) > 1 and "traffic_class" in df.columns:
            shown.append("traffic_class")  # several classes: say which each session is
    # stored states never expire: said where the states are shown or filtered on
    filtered_on_state = any(re.search(r"contact[._]?state", c, re.IGNORECASE) for c in clauses)
    stored_states = q.as_of is None and (
        (columns is not None and "contact_state" in df.columns) or filtered_on_state
    )
    state_note = (
        "contact_state as sessionize stored it (a temporary contact never expires there); "
        "--as-of now judges expiry, as card, journey and contacts do"
    )
    if q.since is not None and q.since == q.until and not quiet:  # (a day typed twice?)
        day = (q.since + timedelta(days=1)).strftime("%Y-%m-%d")
        note_line(
            f"--since and --until are one moment ({q.since:%Y-%m-%d %H:%M} UTC): the sessions "
            f"going on then; a day's sessions: --since {q.since:%Y-%m-%d} --until {day}"
        )
    if began_before and not quiet:
        since = q.since.strftime("%Y-%m-%dT%H:%M:%SZ") if q.since else ""
        note_line(
            f"{began_before:,} of the sessions shown began before --since and were still "
            f"going at it (`jtrack report` counts sessions by their start: --where "
            f"'created_date>={since}' leaves those out)"
        )
    if out_fmt != Format.table:
        emit_frame(df, out_fmt, output)
        note = scope.note()
        if note and not quiet:
            note_line(f"{scope.line()}; {note}")
        if stored_states and not quiet:
            note_line(state_note)
        if listing.case_note and not quiet:
            note_line(listing.case_note)
        return
    from jtrack.render.text import plural

    emit_frame(
        df,
        out_fmt,
        output,
        title=plural(df.height, "session")
        if matched is None or matched <= df.height
        else f"First {df.height:,} of {plural(matched, 'session')}",
        columns=shown,
        prefixes=id_prefix_lengths(view, df.select(shown) if shown else df),
        # (said when the table shows the states, or they filtered it)
        caption=scope.summary()
        + (f"\n{state_note}" if stored_states and filtered_on_state else "")
        + (
            f"\nthe first {TABLE_ROWS:,}: --limit N shows N, -f csv (or -o FILE) every one"
            if capped and matched is not None and matched > df.height
            else ""
        ),
        column_notes={"contact_state": state_note}
        if stored_states and not filtered_on_state
        else None,
        optional=("traffic_class",),
    )
    if listing.case_note and not quiet:
        note_line(listing.case_note)
