"""`jtrack contacts`: who was on the site: saved and temporary contacts, conflicts, file checks."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jtrack.commands._common import (
    Format,
    OutputOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    emit_frame,
    format_option,
    handle_errors,
    open_store,
    resolve_format,
)
from jtrack.errors import ExitCode

if TYPE_CHECKING:
    import polars as pl

FORMATS = (Format.table, Format.json, Format.jsonl, Format.csv, Format.md, Format.parquet)
TABLE_COLUMNS = [
    "contact_id",
    "contact_name",
    "state",
    "cookie_ids",
    "matched_by",
    "sessions",
    "last_seen",
    "expires",
]
VISITOR_COLUMNS = [
    "customer_id",
    "contact_id",
    "contact_name",
    "state",
    "match_method",
    "sessions",
    "last_seen",
    "expires",
]
CONFLICT_COLUMNS = [
    "customer_id",
    "contact_id",
    "contact_name",
    "method",
    "last_seen",
    "chosen",
    "rule",
]

ContactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--contacts",
        help="Contacts file (CSV, JSON/JSONL or Parquet): contact_id, first_name/last_name or "
        "name, email(s), phone(s), cookie_id(s), external_id(s); several values separated by ;.",
        show_default=False,
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        help="Region for phones written without a country code, e.g. GB.", show_default=False
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        help="The clock for expiry of temporary contacts (ISO-8601; default: now).",
        show_default=False,
    ),
]
TtlOpt = Annotated[
    str, typer.Option(help="A temporary contact expires this long after its last activity.")
]


def warn_invalid(path: Path, default_region: str | None) -> None:
    """One warning line on stderr per invalid entry of a contacts file (never silent)."""
    from jtrack.core.contacts import load_contacts

    _, invalid = load_contacts(path, default_region)
    print_warnings(invalid)


def print_warnings(invalid: pl.DataFrame) -> None:
    """`warning: FILE row N (contact C): FIELD 'VALUE': REASON`, one unwrapped line each."""
    from jtrack.core.contacts import invalid_messages
    from jtrack.serialize import strip_control

    for line in invalid_messages(invalid):
        sys.stderr.write("warning: " + strip_control(line) + "\n")
    sys.stderr.flush()


def register(app: typer.Typer) -> None:
    app.command("contacts")(contacts_cmd)


@handle_errors
def contacts_cmd(
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    contacts: ContactsOpt = None,
    default_region: RegionOpt = None,
    as_of: AsOfOpt = None,
    ttl: TtlOpt = "60d",
    state: Annotated[
        list[str] | None,
        typer.Option(
            help="Only contacts in this state: known, temporary, expired (repeatable, or "
            "comma-separated).",
            show_default=False,
        ),
    ] = None,
    visitors: Annotated[
        bool,
        typer.Option(
            "--visitors", help="One row per visitor cookie, with how it was matched, instead."
        ),
    ] = False,
    conflicts: Annotated[
        bool,
        typer.Option(
            "--conflicts",
            help="List cookies whose identifiers point to more than one contact: every "
            "candidate, the one chosen and the rule that chose it (needs --contacts).",
        ),
    ] = False,
    check: Annotated[
        Path | None,
        typer.Option(
            help="Only check this contacts file: list its invalid entries; exit 2 if any.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
) -> None:
    """List contacts as of --as-of: saved contacts (known) and one temporary contact per
    unrecognised visitor cookie, shown as "Unknown" (temporary until 60 days after its last
    activity, then expired), with their cookies and session counts.

    Without --contacts the store's own resolution is listed. Match rules: a cookie listed on a
    contact wins; else the most recent email, phone or external-id trait seen on any of the
    cookie's events. Exit 2 on a bad option or, with --check, on invalid entries.
    """
    from jtrack.core import contacts as core
    from jtrack.errors import UsageError
    from jtrack.options import parse_duration
    from jtrack.usecases.sessions import parse_when

    out_fmt = resolve_format(fmt, output, FORMATS)
    if check is not None:
        checked, invalid = core.load_contacts(check, default_region)
        emit_frame(
            invalid,
            out_fmt,
            output,
            title=f"{invalid.height} invalid entries in {check}",
        )
        if invalid.height:
            sys.stderr.write(
                f"error: {check}: {invalid.height} invalid entries "
                f"({checked.height} contacts read)\n"
            )
            raise typer.Exit(int(ExitCode.USAGE))
        sys.stderr.write(f"{check}: {checked.height} contacts, no invalid entries\n")
        return

    when = parse_when(as_of, "--as-of") or datetime.now(UTC)
    life = parse_duration(ttl, "--ttl")
    states = core.check_states(state)
    st = open_store(store, role, redact)
    sessions = st.scan_sessions()
    events = st.scan_events()
    book: pl.DataFrame | None = None
    conflict_rows: pl.DataFrame | None = None
    if contacts is not None:
        book, invalid = core.load_contacts(contacts, default_region)
        print_warnings(invalid)
        res = core.resolve_visitors(
            sessions, events, book, default_region=default_region, ttl=life, as_of=when
        )
        per_visitor = res.visitors
        conflict_rows = res.conflicts
    elif conflicts:
        raise UsageError(
            "--conflicts needs the contacts file", hint="add --contacts FILE (the one used to sync)"
        )
    else:
        per_visitor = core.visitors_from_sessions(sessions, events, as_of=when, ttl=life)

    if conflicts and conflict_rows is not None:
        df = conflict_rows
        emit_frame(
            df,
            out_fmt,
            output,
            title=f"{df['customer_id'].n_unique()} visitors with conflicting identifiers",
            columns=CONFLICT_COLUMNS if out_fmt == Format.table else None,
        )
        return
    if visitors:
        df = core.visitor_listing(per_visitor, states)
        shown = VISITOR_COLUMNS
        title = f"{df.height} visitors as of {_iso(when)}"
    else:
        df = core.list_contacts(per_visitor, book, states)
        shown = TABLE_COLUMNS
        title = f"{df.height} contacts as of {_iso(when)}"
    emit_frame(df, out_fmt, output, title=title, columns=shown if out_fmt == Format.table else None)


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
