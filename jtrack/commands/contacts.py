"""`jtrack contacts`: who was on the site: saved and temporary contacts, conflicts, file checks."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jtrack.commands._common import (
    LISTING_FORMATS,
    MAX_COUNT,
    TABLE_ROWS,
    ConfigOpt,
    Format,
    OutputOpt,
    QuietOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    emit_frame,
    format_option,
    handle_errors,
    named_file,
    open_store,
    resolve_format,
)
from jtrack.errors import ExitCode
from jtrack.render.text import plural

if TYPE_CHECKING:
    import polars as pl

FORMATS = LISTING_FORMATS
TABLE_COLUMNS = [
    "contact_id",
    "contact_name",
    "contact_state",
    "cookie_ids",
    "match_methods",
    "sessions",
    "last_seen",
    "expires",
]
VISITOR_COLUMNS = [
    "customer_id",
    "contact_id",
    "contact_name",
    "contact_state",
    "match_method",
    "sessions",
    "last_seen",
    "expires",
]
CONFLICT_COLUMNS = [
    "customer_id",
    "contact_id",
    "contact_name",
    "match_method",
    "last_seen",
    "chosen",
    "rule",
]

ContactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--contacts",
        help="Contacts file (CSV, JSON/JSONL or Parquet): contact_id, first_name/last_name or "
        "name, email(s), phone(s), cookie_id(s), external_id(s); several values separated by ;. "
        "Contacts `jtrack store erase` took out of the store are left out (a note says so).",
        show_default=False,
        readable=False,
        parser=named_file,
        metavar="<file>",
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        help="Region for phones written without a country code, e.g. GB.",
        show_default=False,
        metavar="<region>",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        help="The clock for expiry of temporary contacts (ISO-8601; default: now).",
        show_default=False,
        metavar="<time>",
    ),
]
TtlOpt = Annotated[
    str,
    typer.Option(
        help="A temporary contact expires this long after its last activity.", metavar="<duration>"
    ),
]


def check_region_option(contacts: Path | None, default_region: str | None) -> None:
    """A reading command's --default-region: a known region, and only with --contacts (it
    reads that file's phones; the store's own book was read with the region it was given)."""
    if default_region is None:
        return
    from jtrack.core.contacts import check_region
    from jtrack.errors import UsageError

    check_region(default_region)
    if contacts is None:
        raise UsageError(
            "--default-region reads the phones of a contacts file: it needs --contacts FILE",
            hint="add --contacts FILE, or leave out --default-region",
        )


def warn_invalid(
    path: Path,
    default_region: str | None,
    role: str | None = None,
    redact: bool = False,
    config: Path | None = None,
) -> None:
    """One warning line on stderr per invalid entry of a contacts file (never silent), with
    email and phone values masked or hashed as the role and --redact say (the roles of the
    `config` file named when it holds roles, as open_store finds them)."""
    from jtrack.access import load_policy
    from jtrack.commands._common import roles_config
    from jtrack.core.contacts import load_contacts

    _, invalid = load_contacts(path, default_region)
    print_warnings(invalid, load_policy(role, redact=redact, config=roles_config(config)))


def note_erased(store: Any, path: Path, default_region: str | None) -> None:
    """One `note:` line when the store erased saved contacts of the contacts file given:
    they are left out as it is read (as every run reads the book), never brought back."""
    from jtrack.commands._common import note_line
    from jtrack.render.text import plural
    from jtrack.usecases.sessions import erased_in_book

    n = erased_in_book(store, path, default_region)
    if n:
        note_line(
            f"{path}: {plural(n, 'saved contact')} left out: `jtrack store erase` took "
            f"{'them' if n > 1 else 'it'} out of the store (as every run reads the book)"
        )


def print_warnings(invalid: pl.DataFrame, policy: Any = None) -> None:
    """`warning: FILE row N (contact C): FIELD 'VALUE': REASON`, one unwrapped line each;
    `policy` (jtrack.access.Policy, default: the command's output policy) protects values."""
    from jtrack.core.contacts import invalid_messages
    from jtrack.serialize import strip_control

    if invalid.height:
        from jtrack.access import mask_invalid_entries

        invalid = mask_invalid_entries(invalid, policy)
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
    config: ConfigOpt = None,
    contacts: ContactsOpt = None,
    default_region: RegionOpt = None,
    as_of: AsOfOpt = None,
    ttl: Annotated[
        str | None,
        typer.Option(
            help="A temporary contact expires this long after its last activity [default: 60d].",
            show_default=False,
            metavar="<duration>",
        ),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            help="Only contacts in this state: known, temporary, expired (repeatable, or "
            "comma-separated).",
            show_default=False,
            metavar="<states>",
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
            "candidate, the one chosen and the rule that chose it (from --contacts FILE, else "
            "the contacts file the store took in).",
        ),
    ] = False,
    check: Annotated[
        Path | None,
        typer.Option(
            help="Only check this contacts file: list its invalid entries; exit 2 if any.",
            show_default=False,
            readable=False,
            parser=named_file,
            metavar="<file>",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Only the first N rows of the listing (as `jtrack sessions --limit`; a table on "
            "standard output shows the first 1,000 unless told).",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List contacts as of --as-of: saved contacts (known) and one temporary contact per
    unrecognised visitor cookie, shown as "Unknown" (temporary until 60 days after its last
    activity, then expired), with their cookies and session counts.

    Without --contacts the store's own resolution is listed. Match rules: a cookie listed on a
    contact wins; else the most recent email, phone or external-id trait seen on any of the
    cookie's events. Exit 2 on a bad option or, with --check, on invalid entries.
    """
    import polars as pl

    from jtrack.access import (
        identity_events,
        load_policy,
        mask_invalid_entries,
        protect_output,
        set_output_policy,
    )
    from jtrack.core import contacts as core
    from jtrack.errors import UsageError
    from jtrack.options import parse_duration
    from jtrack.usecases.sessions import parse_when, store_book, store_book_as_of

    out_fmt = resolve_format(fmt, output, FORMATS)
    if visitors and conflicts:
        raise UsageError("--visitors and --conflicts are two listings", hint="give one of them")
    listing = [
        name
        for name, given in (
            ("--contacts", contacts is not None),
            ("--as-of", as_of is not None),
            ("--ttl", ttl is not None),
            ("--state", bool(state)),
            ("--visitors", visitors),
            ("--conflicts", conflicts),
            ("--limit", limit is not None),
        )
        if given
    ]
    if check is not None and listing:  # (they were ignored: the check lists a file's entries)
        raise UsageError(
            f"--check FILE only checks the file: {', '.join(listing)} "
            f"{'is' if len(listing) == 1 else 'are'} for listing the store's contacts",
            hint="give --check alone (with --default-region), or leave it out",
        )
    if default_region is not None:
        core.check_region(default_region)
        if contacts is None and check is None:  # (--conflicts of the store's own book: the
            # region it was read with, as the store resolved its visitors)
            raise UsageError(
                "--default-region reads the phones of a contacts file: it needs --contacts "
                "FILE (or --check FILE)",
                hint="add --contacts FILE, or leave out --default-region (the store's own "
                "book is read with the region it was taken in with)",
            )
    if check is not None:
        set_output_policy(load_policy(role, redact=redact, config=config))
        checked, invalid = core.load_contacts(check, default_region)
        emit_frame(
            mask_invalid_entries(invalid),
            out_fmt,
            output,
            title=f"{plural(invalid.height, 'invalid entry', 'invalid entries')} in {check}",
            wrap=("reason",),  # (what the user needs there: never cut)
        )
        if invalid.height:
            sys.stderr.write(
                f"error: {check}: {plural(invalid.height, 'invalid entry', 'invalid entries')} "
                f"({checked.height} contacts read) (hint: each is listed with its row and "
                "reason; fix them, or they are left out when visitors are resolved)\n"
            )
            raise typer.Exit(int(ExitCode.USAGE))
        if not quiet:
            sys.stderr.write(f"{check}: {plural(checked.height, 'contact')}, no invalid entries\n")
        return

    when = parse_when(as_of, "--as-of") or datetime.now(UTC)
    life = parse_duration(ttl if ttl is not None else "60d", "--ttl")
    states = core.check_states(state)
    st = open_store(store, role, redact, config=config)
    # Resolve first, mask after: identity comes from the whole, unmasked store, so who is
    # known never depends on the role; what is shown is protected on the way out.
    cut = as_of is not None  # (a clock given: the sessions begun by then, up to it)
    shown = st.scan_sessions()
    if cut:
        shown = shown.filter(pl.col("created_date") <= when)
    visible = shown.select("customer_id").collect(engine="in-memory")
    plain = st.unfiltered()
    sessions = plain.scan_sessions()
    events = identity_events(st)
    book: pl.DataFrame | None = None  # (the book listed: its every saved contact)
    conflict_rows: pl.DataFrame | None = None
    against: pl.DataFrame | None  # (the book visitors are resolved against)
    if contacts is not None:
        from jtrack.usecases.sessions import reading_book

        _, invalid = core.load_contacts(contacts, default_region)
        print_warnings(invalid)
        note_erased(plain, contacts, default_region)
        book = reading_book(plain, contacts, default_region)  # (less the erased contacts)
        against = book
    elif conflicts:  # the contacts file the store took in (its copy)
        book, default_region = store_book(plain)
        against = book
    else:
        # as of a time before traits the store's resolution saw, its visitors are resolved
        # again against its own book, by the traits sent by then (as the card does); listed
        # as without a clock: the visitors, not every saved contact
        saved = store_book_as_of(plain, events, when) if cut else None
        against, default_region = saved if saved is not None else (None, default_region)
        if not visitors:  # (the listed contacts' emails, phones and external ids: the
            book = store_book(plain)[0]  # store's copy of the book has them)
    if against is not None:
        res = core.resolve_visitors(
            sessions, events, against, default_region=default_region, ttl=life, as_of=when, cut=cut
        )
        per_visitor = res.visitors
        conflict_rows = res.conflicts
    elif conflicts:
        raise UsageError(
            "--conflicts needs a contacts file, and the store keeps none",
            hint="add --contacts FILE (your saved contacts), or sessionize with --contacts",
        )
    else:
        per_visitor = core.visitors_from_sessions(sessions, events, as_of=when, ttl=life, cut=cut)
        if visitors:
            per_visitor = _with_matched_values(per_visitor, plain, sessions, events, when, life)
    per_visitor = _visible_visitors(per_visitor, visible)
    typed = _typed_ids(sessions)

    if conflicts and conflict_rows is not None:
        df = _protect_conflicts(
            conflict_rows.join(visible.unique(), on="customer_id", how="semi"), st.policy, typed
        )
        if st.policy.masks:  # (by the visitor id as shown; each visitor's rows as they were)
            df = df.sort("customer_id", maintain_order=True)
        emit_frame(
            df,
            out_fmt,
            output,
            title=f"{plural(df['customer_id'].n_unique(), 'visitor')} with conflicting identifiers",
            columns=CONFLICT_COLUMNS if out_fmt == Format.table else None,
        )
        return
    if visitors:
        df = core.visitor_listing(per_visitor, states)
        shown = VISITOR_COLUMNS
        title = f"{plural(df.height, 'visitor')} as of {_iso(when)}"
    else:
        if contacts is None and book is not None:  # (the store's book: its contacts seen)
            book = book.join(per_visitor.select("contact_id"), on="contact_id", how="semi")
        df = core.list_contacts(per_visitor, book, states)
        shown = TABLE_COLUMNS
        title = f"{plural(df.height, 'contact')} as of {_iso(when)}"
    df = _sorted_as_shown(protect_output(df, st.policy, typed), st.policy, visitors)
    capped = limit is None and out_fmt == Format.table and output is None
    if capped:  # (a terminal's table: the first rows, said in its title and caption)
        limit = TABLE_ROWS
    capped = capped and df.height > TABLE_ROWS
    if limit is not None and df.height > limit:  # (in the listing's order, as it is shown)
        title = f"First {limit:,} of {title}"
        df = df.head(limit)
    caption = (
        "emails, phones and external ids: -f csv or -f json"
        if book is not None and not visitors and df.height
        else None
    )
    if capped:
        more = f"the first {TABLE_ROWS:,}: --limit N shows N, -f csv (or -o FILE) every one"
        caption = f"{caption}\n{more}" if caption else more
    # (at 80 columns the contact's name stays, where its expiry date gives way: the name
    # answers who was on the site; -f csv and wider tables have both)
    emit_frame(
        df,
        out_fmt,
        output,
        title=title,
        columns=shown if out_fmt == Format.table else None,
        optional=("expires",),
        # (the book's details are too wide for a table: said where they are)
        caption=caption,
    )


def _sorted_as_shown(df: pl.DataFrame, policy: Any, visitors: bool) -> pl.DataFrame:
    """The listing in its order, taken of the ids as the role sees them (a masked id sorted
    by its raw value would tell its first characters by where it stands), ties in the order
    of when the visitor was first and last seen, never of the raw ids."""
    if not policy.masks or not df.height:
        return df
    import polars as pl

    from jtrack.core.contacts import STATES

    keys: list[Any] = ["customer_id"] if visitors else []
    if not visitors:
        keys += [
            pl.col("contact_state").replace_strict({s: i for i, s in enumerate(STATES)}),
            "contact_id",
        ]
    keys += ["first_seen", "last_seen"]
    return df.sort(keys, nulls_last=True, maintain_order=True)


def _with_matched_values(
    per_visitor: pl.DataFrame,
    plain: Any,
    sessions: pl.LazyFrame,
    events: pl.LazyFrame,
    when: datetime,
    life: timedelta,
) -> pl.DataFrame:
    """The stored answer's `matched_value` (the identifier each known visitor was matched
    by), which the session table does not keep: its known visitors (theirs only: each is
    resolved on its own events) resolved again against the store's own contacts book, as
    `--contacts` of that file resolves them; kept where that names the stored contact."""
    import polars as pl

    from jtrack.core import contacts as core
    from jtrack.usecases.sessions import store_book

    known = per_visitor.filter(pl.col("contact_state") == core.STATE_KNOWN).select("customer_id")
    if known.height == 0:
        return per_visitor
    book, region = store_book(plain)
    if book is None:
        return per_visitor
    ids = known.get_column("customer_id").implode()
    mine = pl.col("customer_id").is_in(ids)
    again = core.resolve_visitors(
        sessions.filter(mine),
        events.filter(mine),
        book,
        default_region=region,
        ttl=life,
        as_of=when,
    ).visitors.select("customer_id", "contact_id", _value="matched_value")
    return (
        per_visitor.join(again, on=["customer_id", "contact_id"], how="left")
        .with_columns(matched_value=pl.coalesce("matched_value", "_value"))
        .select(per_visitor.columns)
    )


def _visible_visitors(per_visitor: pl.DataFrame, visible: pl.DataFrame) -> pl.DataFrame:
    """Visitors with at least one session the role may see, their session counts over
    those sessions (their contact state was resolved on all of them)."""
    import polars as pl

    counts = visible.group_by("customer_id").agg(pl.len().cast(pl.UInt32).alias("_visible"))
    out = per_visitor.join(counts, on="customer_id", how="inner", maintain_order="left")
    return out.with_columns(sessions=pl.col("_visible")).drop("_visible")


def _typed_ids(sessions: pl.LazyFrame) -> pl.Series:
    """Visitor ids whose type is email or phone (personal data wherever they are shown)."""
    import polars as pl

    if "customer_id_type" not in sessions.collect_schema().names():
        return pl.Series("customer_id", [], dtype=pl.String)
    return (
        sessions.filter(pl.col("customer_id_type").is_in(["email", "phone"]))
        .select("customer_id")
        .unique()
        .collect(engine="in-memory")
        .get_column("customer_id")
    )


def _protect_conflicts(df: pl.DataFrame, policy: Any, typed: pl.Series) -> pl.DataFrame:
    """Conflict rows as they may be shown: the matching value is an email, phone, cookie or
    external id (masked or hashed with the contact details)."""
    from jtrack.access import personal_id, protect_output

    out = protect_output(df, policy, typed)
    if policy.masks:
        import polars as pl

        from jtrack.access import MASK, keyed_hash

        value = pl.col("value")
        masked = keyed_hash(value, policy.key) if policy.redact else pl.lit(MASK)
        # (the book's external ids are contact details, as its `external_ids` column is)
        personal = pl.col("match_method").is_in(["email", "phone", "external_id"]) | personal_id(
            value, None, typed
        )
        out = out.with_columns(
            pl.when(value.is_not_null() & personal).then(masked).otherwise(value).alias("value")
        )
    return out


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
