"""Reading the store: session listing with filters, id prefixes, field names.

Imports Polars only; never prints.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from jtrack.checks import must_be, refuse_blank_name, utc_time
from jtrack.core.text import ascii_digits, compose, fold, fold_value, forms
from jtrack.errors import AmbiguousIdError, DataError, NotFoundError, UsageError
from jtrack.schema import FIELD_LABELS, SESSION_SCHEMA
from jtrack.store import Store
from jtrack.store.store import StoreLike, as_store
from jtrack.usecases.ids import ID_COLUMNS, unique_prefix_length
from jtrack.usecases.traffic import (
    DEFAULT_TRAFFIC,
    TrafficScope,
    check_traffic,
    traffic_expr,
    traffic_scope,
)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


#: Fields of Genesys's Session object whose names, in snake case, are not the column's.
_GENESYS_NAMES = {
    "last_event_event_name": "last_event_name",
    "last_event_created_date": "ended_date",
    "external_contact_id": "contact_id",
}


def column_for_field(name: str, columns: Sequence[str]) -> str:
    """Map a user's field name (`device.category`, `mktCampaign.source`, `device_category`,
    or a table's header for it: `duration`, `events`) to a column, or raise a UsageError
    naming the nearest valid field."""
    snake = _CAMEL.sub("_", name.replace(".", "_")).lower()
    snake = _GENESYS_NAMES.get(snake, snake)  # (`lastEvent.eventName`: `last_event_name`)
    lower = name.replace(".", "_").lower()  # (`ID`, `DEVICE_CATEGORY`: no camel case)
    for cand in (name, snake, lower):
        if cand in columns:
            return cand
    labelled = [c for c in columns if FIELD_LABELS.get(c) in (snake, lower)]
    if labelled:
        return labelled[0]
    # a Genesys name in capitals (`MKTCAMPAIGN.SOURCE`: no camel case left to tell its
    # words apart): the column it names, its words run together, when only one is
    squashed = lower.replace("_", "")
    names = {c: c for c in columns} | {k: v for k, v in _GENESYS_NAMES.items() if v in columns}
    alike = {v for k, v in names.items() if k.replace("_", "") == squashed}
    if len(alike) == 1:
        return alike.pop()
    # the nearest column, or table header (`durration` -> `duration`)
    labels = [FIELD_LABELS[c] for c in columns if c in FIELD_LABELS]
    near = (
        difflib.get_close_matches(snake, [*columns, *labels], n=1)
        or [c for c in columns if c.startswith(snake)][:1]
    )
    raise UsageError(
        f"unknown field {name!r}",
        hint=(f"did you mean {near[0]!r}? " if near else "") + "see `jtrack schema --sessions`",
    )


_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|>=|<=|==|=|~|>|<)\s*(.*)$")
#: A duration as the tables show it (h:mm:ss or m:ss), for a field counted in seconds.
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)\s*$")


#: What a `--where` on a true/false field takes.
_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def where_expr(clause: str, schema: dict[str, pl.DataType]) -> pl.Expr:
    """`field=value`, `field!=value`, `field~substring`, `field>=number`, ... as an expression."""
    m = _WHERE.match(clause)
    if not m:
        raise UsageError(
            f"--where {clause!r}: expected FIELD OP VALUE",
            hint="e.g. --where device.category=mobile or --where event_count>=5",
        )
    field, op, value = m.groups()
    op = "=" if op == "==" else op
    col_name = column_for_field(field, list(schema))
    dtype = schema[col_name]
    if value[:1] in ("<", ">", "=") and (dtype.is_numeric() or dtype.is_temporal()):
        # (`event_count<>5`: no such operator; a text may begin with one: `title=<b>Sale`)
        raise UsageError(
            f"--where {clause!r}: {op}{value[0]} is no operator",
            hint="use =, ==, !=, ~, >, >=, < or <= (e.g. --where event_count!=5)",
        )
    col = pl.col(col_name)
    lit: object = value
    clock = _CLOCK.match(value) if col_name.endswith("_seconds") else None
    if clock is not None:  # `duration>0:10:00`, as the tables show durations
        h, mnt, sec = clock.groups()
        lit = int(h or 0) * 3600 + int(mnt) * 60 + float(sec)
    elif dtype.is_numeric():
        try:
            lit = float(value)
        except ValueError:
            seconds = " (in seconds: 600, or 0:10:00)" if col_name.endswith("_seconds") else ""
            raise UsageError(
                f"--where {clause!r}: {col_name} is a number{seconds}, {value!r} is not",
                hint="compare numeric fields with numbers",
            ) from None
    elif dtype == pl.Boolean:
        word = value.strip().lower()
        if word not in _BOOLEAN_WORDS:
            raise UsageError(
                f"--where {clause!r}: {col_name} is true or false, {value!r} is neither",
                hint=f"e.g. --where {col_name}=true",
            )
        lit = _BOOLEAN_WORDS[word]
    elif isinstance(dtype, pl.Datetime):
        lit = _parse_when(value, "--where")
    elif isinstance(dtype, pl.List):
        # (a session without the list has none of its items: `!=` keeps it)
        if op == "~":  # case-insensitive, as on text
            item = fold(pl.element().cast(pl.String))
            hit = pl.any_horizontal(
                [item.str.contains(f, literal=True) for f in forms(value, ignore_case=True)]
            )
            return col.list.eval(hit).list.any().fill_null(False)
        has = pl.any_horizontal([col.list.contains(f) for f in forms(value)])
        if op == "=":
            return has.fill_null(False)
        if op == "!=":
            return (~has).fill_null(True)
        raise UsageError(
            f"--where {clause!r}: lists support =, != and ~ only",
            hint=f"{field}=ITEM keeps the sessions that have the item, {field}~TEXT those with "
            "one holding TEXT",
        )
    else:  # text: a missing value is the empty string (as in the rules), so that a filter
        # and its opposite (`=x`, `!=x`) share the sessions out between them
        col = col.cast(pl.String).fill_null("")
        if op in ("=", "!="):  # (as written or composed: text sent either way)
            same = col.is_in(forms(value))
            return same if op == "=" else ~same
    if op == "~":
        text = fold(col.cast(pl.String))
        return pl.any_horizontal([text.str.contains(f, literal=True) for f in forms(value, True)])
    if op == "=":
        return col.eq_missing(pl.lit(lit))
    if op == "!=":
        return col.ne_missing(pl.lit(lit))
    # (an order leaves out the sessions without a value: unknown is neither more nor less)
    ops = {">": col.gt, "<": col.lt, ">=": col.ge, "<=": col.le}
    return ops[op](pl.lit(lit)).fill_null(False)


def _whole_id(lf: pl.LazyFrame, clause: str, schema: dict[str, pl.DataType]) -> str:
    """`clause` with an id as tables show it (its shortest unique prefix) written whole:
    `id=97b6a5df` is `id=97b6a5df-...` when no id is `97b6a5df` and one id starts with it
    (as the role sees the ids: `lf`'s). An id that is one is kept as it is (external ids
    may be prefixes of each other: `123` is not `1234`); a prefix of several ids is refused
    (DataError), never taken as all of them."""
    m = _WHERE.match(clause)
    if not m:
        return clause
    field, op, value = m.groups()
    col_name = column_for_field(field, list(schema))
    if col_name not in ID_COLUMNS or schema[col_name] != pl.String:
        return clause
    if op not in ("=", "==", "!=") or not value:
        return clause
    col = pl.col(col_name)
    if lf.filter(col == value).select(col).head(1).collect(engine="in-memory").height:
        return clause
    found = (
        lf.filter(col.str.starts_with(value))
        .select(col)
        .unique()
        .head(2)
        .collect(engine="in-memory")
    )
    if found.height > 1:  # (the ids not listed: one may be what the role may not see)
        raise DataError(
            f"--where {clause!r}: {value!r} is no {col_name} but the start of several",
            hint="type more characters of the id, or use ~ to match every id holding it",
        )
    if found.height == 1:
        return f"{field}{op}{found.item()}"
    return clause


def _parse_when(value: str, option: str) -> datetime:
    from datetime import UTC

    v = value.strip()
    if v.lower() == "now":
        return datetime.now(UTC)
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        month = re.fullmatch(r"(\d{4})-(\d{2})", v)
        if month and 1 <= int(month.group(2)) <= 12:  # (a month, as report and usage take)
            y, m = int(month.group(1)), int(month.group(2))
            after = f"{y + m // 12:04d}-{m % 12 + 1:02d}-01"
            raise UsageError(
                f"{option}: {value!r} is a month; this option takes a date or time",
                hint=f"the month's sessions: --since {v}-01 --until {after} (UTC)"
                if option in ("--since", "--until")
                else f"give a day or a time, e.g. {v}-01",
            ) from None
        raise UsageError(
            f"{option}: cannot read {value!r} as a date or time",
            hint="use ISO-8601, e.g. 2026-10-03 or 2026-10-03T09:00Z, or now",
        ) from None
    return utc_time(d, option)


def parse_when(value: str | None, option: str) -> datetime | None:
    return None if value is None else _parse_when(value, option)


@dataclass(frozen=True)
class SessionQuery:
    """Filters and ordering for `list_sessions` (the options of `jtrack sessions`, by the
    same names; every field may be left out).

    - `since`, `until`: sessions still going at or after `since` (ended then or later),
      started before `until` (a datetime in any zone, a date as its midnight UTC, or ISO
      text; naive read as UTC): the sessions going on at some moment of the period
    - `customer`: one visitor's sessions: a customer id, or a unique prefix of one (the 8
      characters the CLI's tables show); several matching is a DataError naming them
    - `contact`: one contact's sessions (all its cookies); `contacts_file`,
      `default_region`, `as_of`, `ttl` ("30d" or a timedelta): resolve contacts again,
      as `--contacts`, `--default-region`, `--as-of`, `--ttl`
    - `type`: a session type ("web", "app", a custom one); `traffic`: the traffic classes
      listed ("human" by default; a class, a list, or "all")
    - `where`: `--where` clauses (`"event_count>3"`, `"page_url~checkout"`), a string or
      a list
    - `sort` (a field, `created_date` by default), `descending`, `limit` (None: all)
    - `columns`: only these fields (and `id`) are read and returned; None: every one
    """

    since: datetime | None = None
    until: datetime | None = None
    customer: str | None = None
    type: str | None = None
    where: tuple[str, ...] = ()
    sort: str = "created_date"
    descending: bool = False
    limit: int | None = None
    contact: str | None = None  # only this contact's sessions (all its cookies)
    contacts_file: str | None = None  # resolve again against this contacts file
    default_region: str | None = None
    as_of: datetime | None = None  # resolve contacts as of this time (traits by then, expiry)
    ttl: timedelta | None = None
    #: traffic classes shown (jtrack.usecases.traffic): people only unless told otherwise
    traffic: tuple[str, ...] = DEFAULT_TRAFFIC
    #: only these fields (and `id`) are read and returned (`--columns`); None: every one
    columns: tuple[str, ...] | None = None

    if TYPE_CHECKING:  # (what the constructor takes: __post_init__ normalises it)

        def __init__(
            self,
            since: datetime | date | str | None = None,
            until: datetime | date | str | None = None,
            customer: str | None = None,
            type: str | None = None,
            where: str | Sequence[str] = (),
            sort: str = "created_date",
            descending: bool = False,
            limit: int | None = None,
            contact: str | None = None,
            contacts_file: str | os.PathLike[str] | None = None,
            default_region: str | None = None,
            as_of: datetime | date | str | None = None,
            ttl: timedelta | str | None = None,
            traffic: str | Sequence[str] = DEFAULT_TRAFFIC,
            columns: str | Sequence[str] | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        from datetime import UTC

        for name in ("since", "until", "as_of"):  # (text as the CLI reads it; naive: UTC)
            value = getattr(self, name)
            if isinstance(value, str):
                value = _parse_when(value, name)
            elif isinstance(value, date) and not isinstance(value, datetime):  # (its midnight)
                value = datetime(value.year, value.month, value.day, tzinfo=UTC)
            elif isinstance(value, datetime):  # (in any zone: as UTC, the store's)
                value = utc_time(value, name)
            elif value is not None:
                raise UsageError(
                    f"{name} {value!r} is no time", hint="pass a datetime or ISO-8601 text"
                )
            object.__setattr__(self, name, value)
        for name in ("where", "columns"):  # (one clause or field, not its characters)
            value = getattr(self, name)
            what = "text or a list of texts" if name == "where" else "a field or a list of fields"
            if isinstance(value, str):
                value = (value,)
            must_be(value, name, (list, tuple), what, none=name == "columns")
            for item in value or ():
                must_be(item, name, str, what)
            object.__setattr__(self, name, tuple(value) if value is not None else None)
        for name in ("customer", "contact", "default_region"):
            must_be(getattr(self, name), name, str, "text", none=True)
        must_be(self.contacts_file, "contacts_file", (str, os.PathLike), "a file's path", none=True)
        refuse_blank_name(self.contacts_file, "contacts_file", "name the contacts file")
        if self.contacts_file is not None:
            object.__setattr__(self, "contacts_file", os.fspath(self.contacts_file))
        must_be(self.sort, "sort", str, "a field's name (created_date)")
        must_be(self.descending, "descending", bool, "True or False")
        object.__setattr__(self, "traffic", check_traffic(self.traffic))
        if self.type is not None and not isinstance(self.type, str):
            raise UsageError(
                f"type {self.type!r} is no session type", hint="pass web, app or a custom type"
            )
        if isinstance(self.ttl, str):  # ("30d", as --ttl reads it)
            from jtrack.options import parse_duration

            object.__setattr__(self, "ttl", parse_duration(self.ttl, "ttl"))
        elif type(self.ttl).__name__ == "timedelta64":  # (numpy's: to microseconds)
            ttl: Any = self.ttl
            unit = str(ttl.dtype).partition("[")[2].rstrip("]")
            if ttl != ttl or unit in ("", "Y", "M"):  # (NaT, no unit, or years/months)
                raise UsageError(f"ttl {ttl!r} is no duration", hint="pass a timedelta or 30d")
            object.__setattr__(self, "ttl", ttl.astype("timedelta64[us]").item())
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)
        ):
            raise UsageError(f"ttl {self.ttl!r} is no duration", hint="pass a timedelta or 30d")
        bad = not isinstance(self.limit, int) or isinstance(self.limit, bool)
        if self.limit is not None and (bad or self.limit < 0):
            raise UsageError(f"limit {self.limit!r}", hint="a whole number, 0 or more")
        # (equal bounds are a question: the sessions going on at that moment)
        if self.since and self.until and self.until < self.since:
            raise UsageError(
                "--until is before --since: no session can be in that span",
                hint="--since lists sessions still going at or after it, --until those "
                "started before it; give them the other way round",
            )


@dataclass(frozen=True)
class SessionListing:
    """The sessions a query lists, and the traffic its --traffic left out."""

    frame: pl.DataFrame
    scope: TrafficScope
    #: the sessions the query matched before its limit (the frame's height without one)
    total: int | None = None
    #: when nothing matched: the values a `--where FIELD=VALUE` missed by case only
    case_note: str | None = None


def list_sessions(store: StoreLike, q: SessionQuery | None = None) -> pl.DataFrame:
    """Sessions from the store matching the query (None: SessionQuery(), people's sessions
    of every time), in a deterministic order."""
    return session_listing(store, q).frame


def session_listing(store: StoreLike, q: SessionQuery | None = None) -> SessionListing:
    """list_sessions, with the sessions of other traffic classes the other filters kept
    counted (what `jtrack sessions` says it left out)."""
    store = as_store(store)
    must_be(q, "query", SessionQuery, "a SessionQuery", none=True)
    q = SessionQuery() if q is None else q
    if q.customer is not None:  # a unique prefix of a customer id is enough, as in the CLI
        full = resolve_customer_id(store, q.customer)
        if full is not None and full != q.customer:
            q = replace(q, customer=full)
    traffic = check_traffic(q.traffic)
    lf = store.scan_sessions(customer_id=q.customer)
    if q.contacts_file is not None or q.as_of is not None:
        from jtrack.access import identity_events
        from jtrack.core.contacts import DEFAULT_TTL, apply_contacts, resolve_contacts

        # resolve on the unmasked events (who is known never depends on the role); what
        # leaves is protected by the command's output guard
        events = identity_events(store, customer_id=q.customer)
        ttl = q.ttl or DEFAULT_TTL
        saved = None
        if q.contacts_file is None and q.as_of is not None:
            saved = store_book_as_of(store, events, q.as_of)
        if saved is not None:  # (as of a time before traits the store's resolution saw)
            book, region = saved
            sessions = lf.collect(engine="in-memory")
            lf = resolve_contacts(
                sessions,
                events,
                book,
                default_region=q.default_region or region,
                ttl=ttl,
                as_of=q.as_of,
                cut=True,
            ).lazy()
        else:
            book_given = (
                reading_book(store, q.contacts_file, q.default_region)
                if q.contacts_file is not None
                else None
            )
            lf = apply_contacts(lf, events, book_given, q.default_region, q.as_of, ttl).lazy()
    if q.contact is not None:  # (or a unique prefix of it)
        contact = resolve_contact_id(store, q.contact, lf) or q.contact
        q = replace(q, contact=contact)
        lf = lf.filter(pl.col("contact_id") == contact)
    schema = dict(lf.collect_schema())
    # a role that may not see personal ids filters and sorts on them as it sees them
    # (masked): a pattern must not spell out what it may not see a letter at a time (an id
    # it already knows whole it may still look up: --customer, --contact, journey)
    shown = _shown_ids(store, schema)
    plain = {c: f"_plain_{c}" for c in shown}
    if shown:
        lf = lf.with_columns(pl.col(c).alias(t) for c, t in plain.items()).with_columns(
            shown.values()
        )
    if q.since is not None:
        lf = lf.filter(pl.col("ended_date") >= q.since)
    if q.until is not None:
        lf = lf.filter(pl.col("created_date") < q.until)
    if q.type is not None:  # (`WEB` is web, as sessionize reads it; custom types as written)
        lf = lf.filter(pl.col("type") == _type_asked(q.type))
    before_where = lf
    for clause in q.where:
        lf = lf.filter(where_expr(_whole_id(lf, clause, schema), schema))
    sort_col = column_for_field(q.sort, list(schema))
    scope = traffic_scope(lf, traffic)
    lf = lf.filter(traffic_expr(traffic))
    matching = lf
    lf = lf.sort([sort_col, "id"], descending=[q.descending, False], nulls_last=True)
    if shown:
        lf = lf.with_columns(pl.col(t).alias(c) for c, t in plain.items()).drop(plain.values())
    if q.limit is not None:
        lf = lf.head(q.limit)
    wanted = _wanted_columns(q.columns, schema)
    if q.limit is not None and not shown and q.contacts_file is None and q.as_of is None:
        # the first sessions of a big store: the ids are found on the columns the filters
        # and the order need, then only their rows are read whole (by the id directories),
        # not every column of every session
        ids = lf.select("id").collect(engine="in-memory")
        cols = [c for c in wanted if c != "id"]
        rows = store.sessions_with_prefix(ids.get_column("id").to_list(), cols)
        out = ids.join(rows, on="id", how="left", maintain_order="left").select(wanted)
    else:  # (only the columns asked for are read: a year's sessions, 50 columns, are GBs)
        out = lf.select(wanted).collect(engine="in-memory")
    if (
        q.contact is not None
        and out.height == 0
        and not scope.sessions_left_out
        and not _contact_exists(store, q)
    ):
        raise NotFoundError(
            f"no contact {q.contact!r} in {store.shown}",
            hint="list contacts with `jtrack contacts` (temporary ids start with tmp-)",
        )
    if (
        q.customer is not None
        and out.height == 0
        and store.scan_sessions(customer_id=q.customer).select(pl.len()).collect().item() == 0
    ):
        raise NotFoundError(
            f"no visitor {q.customer!r} in {store.shown}",
            hint=case_hint(store, q.customer)
            or (email_hint(store, q.customer, "--contact ") if "@" in q.customer else None)
            or "--customer takes a visitor's cookie id, as the customer_id column shows "
            "it; a saved contact is --contact ID",
        )
    total = out.height
    if q.limit is not None and out.height == q.limit:  # (a limit that cut: how many more)
        total = int(matching.select(pl.len()).collect(engine="in-memory").item())
    note = None
    if total == 0 and q.type is not None:  # (a type no session has: a typo, a case?)
        note = _type_note(store, _type_asked(q.type))
    if total == 0 and q.where and note is None:  # (a --limit 0 matched nothing either)
        note = _case_note(before_where.filter(traffic_expr(traffic)), q.where, schema)
    return SessionListing(out, scope, total, note)


def _wanted_columns(fields: tuple[str, ...] | None, schema: dict[str, pl.DataType]) -> list[str]:
    """The session columns a listing returns: every one, or `id` and those `fields` name
    (a field of no session column is a UsageError naming the nearest, or the rules)."""
    if fields is None:
        return list(schema)
    names = list(schema)
    rules = [f for f in fields if f in ("segments", "outcomes")]
    if rules:  # (what `jtrack sessions --rules FILE` joins to the listing)
        raise UsageError(
            f"columns {rules[0]!r}: segments and outcomes come from rules, not the store",
            hint="join evaluate_store(store, RULES, ids) with jtrack.core.rules.join_rule_columns",
        )
    picked = {"id", *(column_for_field(field, names) for field in fields)}
    return [c for c in names if c in picked]


def _type_asked(wanted: str) -> str:
    """The session type `--type` asks for: web and app in any case, a custom type as
    written."""
    standard = wanted.strip().lower()
    return standard if standard in ("web", "app") else wanted


def _type_note(store: Store, wanted: str) -> str | None:
    """When no session of the store is of type `wanted`: the types it has."""
    types = (
        store.scan_sessions()
        .group_by("type")
        .agg(n=pl.len())
        .sort("n", "type", descending=[True, False])
        .collect()
    )
    if wanted in types.get_column("type").to_list():
        return None
    have = ", ".join(str(t) for t in types.get_column("type").head(5).to_list())
    policy = getattr(store, "policy", None)
    custom = wanted.lower() not in ("web", "app")
    if policy is not None and not policy.sees_custom_sessions and custom:
        return (  # (what the role may not see is not said to be absent)
            f"no session your role may see is of type {wanted!r} (the sessions it may see "
            f"are of: {have or 'no type: it may see none'}; custom session types need "
            "journey:sessiontype:view)"
        )
    return f"no session of the store is of type {wanted!r} (its types: {have or 'none'})"


def _case_note(
    lf: pl.LazyFrame, clauses: tuple[str, ...], schema: dict[str, pl.DataType]
) -> str | None:
    """When no session matched: a `FIELD=VALUE` clause on a text field whose value the
    sessions the other filters keep (`lf`: the query's but the `--where` clauses; the
    other clauses, another text `=` in any case too) hold in another case only, with those
    spellings (as the role may see them: none is shown that the output would mask): `=` is
    exact, `~` ignores case. Ids are left out (an id is only itself)."""

    def caseless(clause: str) -> tuple[str, str, str] | None:
        """(field, column, value) of `FIELD=VALUE` on a text field; else None."""
        m = _WHERE.match(clause)
        if m is None or m.group(2) not in ("=", "=="):
            return None
        field, _, value = m.groups()
        name = column_for_field(field, list(schema))
        if name in ID_COLUMNS or schema[name] != pl.String or not value:
            return None
        return field, name, value

    def any_case(name: str, value: str) -> pl.Expr:
        return fold(pl.col(name)) == fold_value(value)

    texts = [caseless(clause) for clause in clauses]
    loose: list[pl.Expr] = []
    for clause, text in zip(clauses, texts, strict=True):
        if text is not None:
            loose.append(any_case(text[1], text[2]))
            continue
        try:  # (an id prefix written whole against these sessions, as the query did)
            loose.append(where_expr(_whole_id(lf, clause, schema), schema))
        except (DataError, UsageError):
            return None
    for k, text in enumerate(texts):
        if text is None:
            continue
        field, name, value = text
        others = lf.filter(*[e for j, e in enumerate(loose) if j != k]) if len(loose) > 1 else lf
        found = (
            others.filter(any_case(name, value) & (pl.col(name) != value))
            .group_by(name)
            .agg(n=pl.len())
            .sort("n", name, descending=[True, False])
            .head(3)
            .collect(engine="in-memory")
        )
        if found.height == 0:
            continue
        from jtrack.access import protect_output

        if not protect_output(found).equals(found):  # (masked or hashed for this role)
            continue
        spelled = ", ".join(f"{n:,} have {v!r}" for v, n in found.iter_rows())
        fix = shlex.quote(f"{field}~{value}")
        return (
            f"no session has {name} {value!r}; {spelled} (`=` is exact; `--where {fix}` finds "
            "it in any case)"
        )
    return None


def _shown_ids(store: Store, schema: dict[str, pl.DataType]) -> dict[str, pl.Expr]:
    """The id columns as the store's role shows them (jtrack.access.shown_ids); none for a
    plain store."""
    policy = getattr(store, "policy", None)
    if policy is None:
        return {}
    from jtrack.access import shown_ids

    return shown_ids(pl.Schema(schema), policy)


def _nameable_contacts(store: Store, lf: pl.LazyFrame) -> pl.LazyFrame:
    """The contact ids of `lf` (its `contact_id` column) a lookup may match by their start
    or case, or name in a message: those the store's role sees as they are (a temporary
    contact's tmp-<email or phone>, a saved id holding one, would be spelt out a letter at
    a time)."""
    as_shown = _shown_ids(store, dict(lf.collect_schema())).get("contact_id")
    if as_shown is not None:
        lf = lf.filter((as_shown == pl.col("contact_id")).fill_null(False))
    return lf.select("contact_id")


def _contact_exists(store: Store, q: SessionQuery) -> bool:
    if q.contacts_file is not None:
        book = reading_book(store, q.contacts_file, q.default_region)
        if q.contact in book["contact_id"].to_list():
            return True
    found = store.scan_sessions().filter(pl.col("contact_id") == q.contact).head(1).collect()
    if found.height:
        return True
    # a saved contact of the book the store keeps, never seen on the site: no sessions, but
    # no mistake either
    plain = store.unfiltered() if hasattr(store, "unfiltered") else store
    if plain.exists():
        saved = plain.pinned().contacts_book()
        if saved is not None and q.contact in saved.get_column("contact_id").to_list():
            return True
    return False


def id_prefix_lengths(store: Store, shown: pl.DataFrame) -> dict[str, int]:
    """Prefix lengths at which the session ids and customer ids of `shown` are unique in the
    whole store (what `jtrack card` and `jtrack journey` tell apart). Session ids are
    checked against the plain store (card resolves them there, to tell "not permitted" from
    "not found")."""
    out: dict[str, int] = {}
    if "id" in shown.columns:
        out["id"] = session_prefix_length(store, shown["id"])
    if "customer_id" in shown.columns:
        out["customer_id"] = unique_prefix_length(
            shown["customer_id"], among=store.scan_sessions().select("customer_id")
        )
    return out


def session_prefix_length(store: Store, ids: pl.Series) -> int:
    """The prefix length (8 or more) at which the session ids `ids` are unique among every
    session of the plain store: how a table, a card's title or a journey shows them so that
    `jtrack card` takes them back (it resolves ids on the plain store, to tell "not
    permitted" from "not found"). Reads the session parts' id directories only."""
    from jtrack.access import StoreView

    plain = store.unfiltered() if isinstance(store, StoreView) else store
    return unique_prefix_length(
        ids, among=lambda prefixes: plain.sessions_with_prefix(prefixes).get_column("id")
    )


def _nameable_ids(store: Store) -> pl.LazyFrame:
    """The visitor ids (customer_id) a lookup may match by their start or case, or name in
    a message: under a role that masks personal ids, not those (an email typed a letter at
    a time must not be confirmed or spelt out; typed whole, it is matched as it is)."""
    lf = store.scan_sessions()
    policy = getattr(store, "policy", None)
    if policy is None or not policy.masks:
        return lf.select("customer_id")
    from jtrack.access import personal_id

    personal = personal_id(pl.col("customer_id"), pl.col("customer_id_type"))
    return lf.filter(~personal).select("customer_id")


def contacts_with_email(
    store: Store,
    email: str,
    contacts: str | os.PathLike[str] | pl.DataFrame | None = None,
    default_region: str | None = None,
) -> list[str]:
    """The ids of the saved contacts one of whose emails `email` is (in any case), in the
    contacts file given, else in the copy the store took of its own; none when `email` is no
    email, or the role masks personal data (an email must not be confirmed to a role that
    may not see it)."""
    if "@" not in email:
        return []
    book, _ = lookup_book(store, contacts, default_region)
    if book is None or "emails" not in book.columns:
        return []
    from jtrack.core.contacts import normalize_email

    wanted = compose(email.strip()).lower()
    mine = pl.col("emails").list.eval(normalize_email(pl.element()))
    return sorted(
        book.filter(mine.list.contains(wanted)).get_column("contact_id").unique().to_list()
    )


#: A phone number as a caller says it: a `+` or `00` and a country code, or a national
#: number (read with the contacts' default region), in groups of digits.
PHONE_TEXT = r"^\s*\+?\(?[0-9][0-9 ().\-]{4,}[0-9]\s*$"


def contacts_with_phone(
    store: Store,
    phone: str,
    contacts: str | os.PathLike[str] | pl.DataFrame | None = None,
    default_region: str | None = None,
) -> list[str]:
    """The ids of the saved contacts one of whose phone numbers `phone` is, in whatever
    notation (`+44 7700 900123`, `0044 7700 900123`, `07700 900123` with the contacts'
    default region: `--default-region` with a contacts file, else the region the store's
    own book was read with); compared in E.164, as the contacts code keeps them. None when
    `phone` is no phone number, or the role masks personal data."""
    phone = ascii_digits(phone)  # (`+٤٤ ٧٧٠٠ ...`: as the contacts code reads digits)
    if re.match(PHONE_TEXT, phone) is None:
        return []
    book, region = lookup_book(store, contacts, default_region)
    if book is None or "phones" not in book.columns:
        return []
    if book.filter(pl.col("contact_id") == phone.strip()).height:
        return []  # (a contact id of digits: the contact it names, not a phone)
    from jtrack.core.contacts import normalize_phones

    e164 = normalize_phones(pl.Series([phone]), region).get_column("e164")
    if e164.is_null().all():
        return []
    found = book.filter(pl.col("phones").list.contains(str(e164[0])))
    return sorted(found.get_column("contact_id").unique().to_list())


def erased_contacts(store: Store) -> pl.Expr | None:
    """True for a contacts book's rows `jtrack store erase` took out of `store` (the
    unmasked store's, for a view); None when it erased no contact."""
    unfiltered = getattr(store, "unfiltered", None)
    plain = unfiltered() if unfiltered is not None else store
    if not plain.exists():
        return None
    from jtrack.engine.erasure import Erasure

    erasure = Erasure.of(plain.pinned().manifest.erased)
    if erasure is None or not erasure.contacts:
        return None
    return erasure.contact_expr()


def reading_book(
    store: Store, contacts: str | os.PathLike[str] | pl.DataFrame, default_region: str | None
) -> pl.DataFrame:
    """The saved contacts of a contacts file given to a reading command (`--contacts`),
    without those `jtrack store erase` took out of `store`: a run drops their rows as it
    reads the book, and so does a read (an erased contact never comes back by a new
    visitor's email). A frame is taken as such a book already."""
    if isinstance(contacts, pl.DataFrame):
        return contacts
    from jtrack.core.contacts import load_contacts

    book = load_contacts(contacts, default_region)[0]
    gone = erased_contacts(store)
    return book if gone is None else book.filter(~gone)


def erased_in_book(
    store: Store, contacts: str | os.PathLike[str], default_region: str | None
) -> int:
    """How many saved contacts of the contacts file `store` erased (reading_book leaves them
    out)."""
    from jtrack.core.contacts import load_contacts

    gone = erased_contacts(store)
    if gone is None:
        return 0
    book = load_contacts(contacts, default_region)[0]
    return int(book.select(gone.sum()).item())


def lookup_book(
    store: Store,
    contacts: str | os.PathLike[str] | pl.DataFrame | None,
    default_region: str | None,
) -> tuple[pl.DataFrame | None, str | None]:
    """The contacts book a lookup by email or phone reads (the file given, without the
    contacts the store erased, else the store's copy of its own) and the default region its
    phones were read with; none for a role that masks personal data (a contact detail must
    not be confirmed to it)."""
    policy = getattr(store, "policy", None)
    if policy is not None and policy.masks:
        return None, None
    if contacts is not None:
        return reading_book(store, contacts, default_region), default_region
    return store_book(store)


def store_book(store: Store) -> tuple[pl.DataFrame | None, str | None]:
    """The contacts book the store took in (the unmasked store's, for a view) and the region
    its phones were read with; none without one."""
    unfiltered = getattr(store, "unfiltered", None)
    plain = unfiltered() if unfiltered is not None else store
    if not plain.exists():
        return None, None
    saved = plain.pinned()
    source = saved.manifest.contacts
    return saved.contacts_book(), source.default_region if source else None


def store_book_as_of(
    store: Store, identity: pl.LazyFrame, as_of: datetime
) -> tuple[pl.DataFrame, str | None] | None:
    """The store's own contacts book and the region its phones were read with, when visitors
    must be resolved again against it as of `as_of`: the store resolved them against a book
    (sessionize --contacts), and some of the events of `identity` (theirs) come after `as_of`,
    so the stored resolution saw traits sent after it. None otherwise: the stored resolution
    stands. For a role too: who is known never depends on the role (resolve first, mask
    after)."""
    book, region = store_book(store)
    if book is None:
        return None
    later = identity.filter(pl.col("created_date") > as_of).select(pl.len())
    return (book, region) if later.collect(engine="in-memory").item() else None


def email_hint(store: Store, email: str, option: str = "") -> str:
    """The hint for an email where a visitor or contact id is wanted: the contact it is the
    email of, when the store's contacts book has it, else how to find it."""
    ids = contacts_with_email(store, email)
    if len(ids) == 1:
        return f"{email.strip()} is the email of contact {ids[0]}: pass {option}{ids[0]}"
    if ids:
        return (
            f"{email.strip()} is the email of contacts {', '.join(ids[:5])}: pass "
            f"{option.strip() or 'the contact id'} of the one you mean"
        )
    hint = email_hint_for(store)
    return hint.replace("contact id", f"contact id: {option}ID") if option else hint


#: The hint for an email where a visitor or contact id is wanted.
EMAIL_HINT = (
    "the contact an email of your contacts file belongs to: `jtrack contacts --contacts "
    "FILE -f csv | grep -i EMAIL`, then pass its contact id"
)
#: ... to a role that may not see contact details (the listing masks emails for it).
MASKED_EMAIL_HINT = (
    "an email stands for a contact only for a role that may see contact details "
    "(externalContacts:contact:view); pass the contact id"
)


def _masked_hint(what: str, policy: Any) -> str:
    """MASKED_EMAIL_HINT for `what` ("an email", "a phone number"), or under --redact for a
    role that may see contact details, that --redact is what keeps it from the lookup."""
    if policy.redact and policy.sees_contacts:
        return f"{what} stands for a contact only without --redact; pass the contact id"
    return MASKED_EMAIL_HINT.replace("an email", what)


#: The hint for a phone number that named no saved contact, when it cannot be read as one.
PHONE_HINT = (
    "a saved contact's phone number stands for that contact: write it with its country code "
    "(+44 7700 900123) unless the contacts were read with --default-region"
)
#: What people write a phone number as (a `+` or `00`, or digits in groups), not an id of
#: digits run together or a date.
_PHONE_WRITTEN = r"^\s*(?:\+|00|\(|[0-9]+[ ()])"


def phone_hint_for(
    store: Store,
    phone: str,
    contacts: str | os.PathLike[str] | pl.DataFrame | None = None,
    default_region: str | None = None,
) -> str | None:
    """The hint for a phone number that named no saved contact: that none has it (a number
    read whole), how to write it (one that cannot be read), or the masked role's hint (as
    email_hint_for); None for text not written as a phone number."""
    phone = ascii_digits(phone)
    if re.match(PHONE_TEXT, phone) is None or re.match(_PHONE_WRITTEN, phone) is None:
        return None
    policy = getattr(store, "policy", None)
    if policy is not None and policy.masks:
        return _masked_hint("a phone number", policy)
    from jtrack.core.contacts import normalize_phones

    book, region = lookup_book(store, contacts, default_region)
    if book is None:
        return (
            "a phone number stands for a saved contact, and no contacts are known here: "
            "pass --contacts FILE"
        )
    from jtrack.core.contacts import LOCAL_ONLY

    e164, reason = normalize_phones(pl.Series([phone]), region).select("e164", "reason").row(0)
    if e164 is not None:
        return f"no saved contact has the phone number {e164}; pass a customer id or a contact id"
    if reason == LOCAL_ONLY:  # (with its country code: said as a contacts file's entry is)
        return LOCAL_ONLY
    if reason is None or reason.startswith("no country code"):
        return PHONE_HINT
    return f"{reason} ({phone.strip()}): write the number whole, as +44 7700 900123"


def email_hint_for(store: Store) -> str:
    """EMAIL_HINT, or the masked role's hint when the store is read by a role whose output
    masks contact details (the grep it suggests would find nothing)."""
    policy = getattr(store, "policy", None)
    return _masked_hint("an email", policy) if policy is not None and policy.masks else EMAIL_HINT


def case_hint(store: Store, who: str, contacts: bool = False) -> str | None:
    """A hint naming the customer id (and with `contacts`, else the contact id) that `who`
    (or the start of one) is in another case: ids are compared as written (a cookie id may
    differ from another in case alone), so an id copied in another case is named, never
    taken silently. None when there is none."""
    from jtrack.core.text import did_you_mean, other_case

    ids = other_case(_nameable_ids(store), "customer_id", who)
    if not ids and contacts:
        lf = store.scan_sessions()
        if "contact_id" in lf.collect_schema().names():
            ids = other_case(_nameable_contacts(store, lf), "contact_id", who)
    return did_you_mean(ids) if ids else None


def resolve_customer_id(store: Store, prefix: str) -> str | None:
    """The customer id that is `prefix` or the only one starting with it; None when none
    does. Raises AmbiguousIdError when several do."""
    p = prefix.strip()
    if not p:
        return None
    exact = store.scan_sessions(customer_id=p).select("customer_id").head(1).collect()
    if exact.height:
        return p
    ids = (
        _nameable_ids(store)
        .filter(pl.col("customer_id").str.starts_with(p))
        .unique()
        .sort("customer_id")
        .head(11)
        .collect()
        .get_column("customer_id")
        .to_list()
    )
    if len(ids) > 1:
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        raise DataError(
            f"customer id prefix {p!r} matches {len(ids)}{'+' if len(ids) > 10 else ''} "
            f"visitors: {shown}",
            hint="type more characters of the id",
        )
    return str(ids[0]) if ids else None


def resolve_contact_id(
    store: Store, prefix: str, contact_ids: pl.LazyFrame | None = None
) -> str | None:
    """The contact id that is `prefix` or the only one starting with it (tables show
    contact ids by their shortest unique prefix, as other ids); None when none does.
    Raises DataError when several do. `contact_ids`: a frame with the `contact_id` column
    to look in (contacts resolved again against a file), else the store's sessions."""
    p = prefix.strip()
    lf = store.scan_sessions() if contact_ids is None else contact_ids
    schema = lf.collect_schema()
    if not p or "contact_id" not in schema.names():
        return None
    if lf.filter(pl.col("contact_id") == p).select("contact_id").head(1).collect().height:
        return p  # (typed whole: found whatever the role, as --customer does)
    # by its start only the ids the role may see as they are (see _nameable_contacts)
    ids = (
        _nameable_contacts(store, lf)
        .filter(pl.col("contact_id").str.starts_with(p))
        .unique()
        .sort("contact_id")
        .collect()
        .get_column("contact_id")
    )
    if ids.len() > 1:
        shown = ", ".join(ids.head(10).to_list()) + (" ..." if ids.len() > 10 else "")
        raise DataError(
            f"contact id prefix {p!r} matches {ids.len()} contacts: {shown}",
            hint="type more characters of the id",
        )
    return str(ids[0]) if ids.len() else None


def require_sessions(store: Store) -> None:
    """NotPermittedError for a role's view whose role may not see sessions: asked before a
    session id is looked up in the plain store (to tell "not permitted" from "not found"),
    whose answers, ambiguous prefixes and hints name ids the role may not see."""
    policy = getattr(store, "policy", None)
    if policy is not None:
        from jtrack.access import SESSION_VIEW

        policy.require(SESSION_VIEW, "sessions")


def resolve_visible_session(store: Store, prefix: str) -> str:
    """resolve_session_id for a store or a role's view: the role must see sessions (asked
    first), the id is resolved on the whole store, then checked, so that "not permitted"
    is told apart from "not found" (as `jtrack card` tells them)."""
    require_sessions(store)
    unfiltered = getattr(store, "unfiltered", None)
    if unfiltered is None:
        return resolve_session_id(store, prefix)
    sid = resolve_session_id(unfiltered(), prefix)
    store.check_session(sid)  # type: ignore[attr-defined]
    return sid


def _check_id_text(prefix: object) -> None:
    """A library caller's session id that is no text (None, a number) is a UsageError."""
    if not isinstance(prefix, str):
        raise UsageError(
            f"session id {prefix!r} is no text", hint="pass a session id or a unique prefix"
        )


#: What a session id pasted from elsewhere carries around it: a label (`session:`,
#: `session_id=`, `id:`), quotes, braces or brackets, a comma or full stop after it.
_ID_WRAPPING = re.compile(
    r"""^(?:(?:session[_ ]?id|session|sid|id)\s*[:=#]\s*)?[\s"'`{(\[<]*(.*?)[\s"'`})\]>,.;:]*$""",
    re.IGNORECASE,
)


def typed_session_id(prefix: str) -> str:
    """A session id (or its prefix) as typed or pasted, as the ids are: lower case, without
    a label, quotes, braces or the punctuation it was pasted with (`session:c7352fd5`,
    `{c7352fd5-...}`, `c7352fd5,`); an id with a space inside is refused, saying so."""
    p = prefix.strip().lower()
    m = _ID_WRAPPING.match(p)
    if m is not None and re.fullmatch(r"[0-9a-f-]+", m.group(1)):
        return m.group(1)
    if re.fullmatch(r"[0-9a-f-]+(?:\s+[0-9a-f-]+)+", p):
        raise UsageError(
            f"session id {prefix!r} has a space inside",
            hint="pass it without spaces (a line break where it was copied from may add one)",
        )
    return p


def resolve_session_id(store: Store, prefix: str) -> str:
    """The full id of the one session whose id starts with `prefix` (as typed_session_id
    reads it)."""
    _check_id_text(prefix)
    p = typed_session_id(prefix)
    if not p:
        raise UsageError("empty session id", hint="pass a session id or a unique prefix")
    # in id order, whichever engine and file order (the id directories make even a
    # one-character prefix cheap to count)
    found = store.sessions_with_prefix([p]).get_column("id")
    if not found.len():
        raise NotFoundError(
            f"no session with id {prefix!r} in {store.shown}",
            hint=_not_a_session(store, p, prefix.strip()),
        )
    if found.len() > 1:
        raise AmbiguousIdError(prefix, found.head(11).to_list(), found.len())
    return str(found[0])


def _not_a_session(store: Store, p: str, typed: str) -> str:
    """The hint of a session id not found: what the id is when it is another kind (a
    Genesys session id, which the card shows as its source session; a visitor's id). A
    visitor id is named when `typed` is all of it, as written, or when it is no personal
    data (an email or phone id is never spelt out from its start or another case: the
    store may be read here without the role that would mask it)."""
    sessions = store.scan_sessions()
    genesys_id = pl.col("source_session_id").str.to_lowercase()
    for found in (genesys_id == p, genesys_id.str.starts_with(p)):  # whole, else the start
        source = (  # (one Genesys id, whichever of its sessions; several ids: no hint)
            sessions.filter(found)
            .group_by("source_session_id")
            .agg(pl.col("id").min())
            .head(2)
            .collect()
        )
        if source.height == 1:
            # (the ids as stored: `--where` and `journey` compare them as written)
            genesys, sid = source.row(0)
            return (
                f"that is the Genesys session id of jtrack session {sid}: `jtrack card {sid}` "
                f"(each such session: `jtrack sessions --where source_session_id={genesys}`)"
            )
    from jtrack.access import personal_id

    visitor_id = pl.col("customer_id").str.to_lowercase()
    whole = sessions.filter(pl.col("customer_id") == typed).select("customer_id").head(1)
    plain = ~personal_id(pl.col("customer_id"), pl.col("customer_id_type"))
    start = sessions.filter(plain & visitor_id.str.starts_with(p)).select("customer_id")
    for visitor in (whole.collect(), start.unique().head(2).collect()):
        if visitor.height == 1:
            return f"that is a visitor's id: `jtrack journey {visitor.item()}` shows their sessions"
    return "list sessions with `jtrack sessions`"


def find_session(store: Store, prefix: str) -> tuple[str, str, str | None]:
    """(id, customer id, type) of the one session whose id starts with `prefix`; raises
    NotFoundError or AmbiguousIdError like resolve_session_id.

    Reads the plain store (roles are applied by the caller), through the session parts' id
    directories: one row group of each part, and the found row's visitor and type."""
    _check_id_text(prefix)
    require_sessions(store)  # (before the plain store is asked: ids are what it guards)
    p = typed_session_id(prefix)
    plain = store.unfiltered() if hasattr(store, "unfiltered") else store
    if p:
        hits = plain.sessions_with_prefix([p], ["customer_id", "type"], limit=2)
        if hits.height == 1:
            sid, customer, typ = hits.row(0)
            return str(sid), str(customer), typ
    # none, or several of which the role may see one
    full = resolve_session_id(store, prefix)  # raises NotFoundError / AmbiguousIdError
    sid, customer, typ = plain.sessions_with_prefix([full], ["customer_id", "type"]).row(0)
    return str(sid), str(customer), typ


SESSION_FIELDS = tuple(SESSION_SCHEMA)
