"""`jtrack store access`: everything a store holds about a person (GDPR art. 15, the right
of access), found as `jtrack store erase` finds what it takes out (jtrack.engine.subjects).

The export is whole or not made: it is for the person it is about, so no role masks part
of it, and a role that would see only part of it (masked contact details, hidden custom
sessions or events, segments, outcomes) may not make one (NotPermittedError, exit 4);
`redact` is refused (UsageError). Plain frames and dicts; imports Polars only, never prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from jtrack import __version__
from jtrack.engine.erasure import quoted_strings
from jtrack.engine.subjects import find_rows, find_subjects
from jtrack.engine.unit import split_pos
from jtrack.errors import NotPermittedError, UsageError
from jtrack.read import REJECT_SCHEMA
from jtrack.schema import SESSION_SCHEMA
from jtrack.serialize import iso_z, to_records
from jtrack.store import Store

#: The tables of an export, in the order the document and the folder give them.
TABLES = ("sessions", "events", "rejected", "contacts")

#: An event row's `status`: why the store keeps it (the index's `kept`, the duplicates'
#: `duplicate`, the far-future rows `held` aside, a row `rejected` when read and kept in its
#: segment, as every row of an input is).
STATUSES = ("kept", "duplicate", "held", "rejected")


@dataclass
class AccessExport:
    """What a store holds about some visitors and contacts (see access_export)."""

    store: str
    version: str
    version_created: str
    made: str  # when the export was made (ISO-8601 UTC)
    asked: dict[str, list[str]]  # visitors, contacts: the ids asked for, as given
    found: dict[str, list[str]]
    not_found: dict[str, list[str]]
    erased_before: dict[str, list[str]]
    counts: dict[str, int]
    sessions: pl.DataFrame
    events: pl.DataFrame
    rejected: pl.DataFrame
    contacts: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        """Everything but the tables (what `access.json` of a folder export holds)."""
        return {
            "what": "everything this jtrack store holds about the visitors and contacts "
            "asked for (GDPR art. 15)",
            "store": self.store,
            "version": self.version,
            "version_created": self.version_created,
            "made": self.made,
            "jtrack_version": __version__,
            "asked": self.asked,
            "found": self.found,
            "not_found": self.not_found,
            "erased_before": self.erased_before,
            "counts": self.counts,
            "notes": self.notes,
        }

    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}

    def to_dict(self) -> dict[str, Any]:
        """The one JSON document: the header, then each table as a list of rows (times
        ISO-8601 UTC)."""
        return {**self.header(), **{k: to_records(v) for k, v in self.tables().items()}}


def access_export(
    store: Store | str,
    visitors: Iterable[str] = (),
    contacts: Iterable[str] = (),
    *,
    now: datetime | None = None,
    policy: Any = None,
) -> AccessExport:
    """Everything `store` holds about `visitors` (customer ids) and `contacts` (saved
    contacts' ids: every visitor resolved to one, and its row of the contacts book): the
    rows `jtrack store erase` of the same ids would take out, whole. `policy` (a
    jtrack.access.Policy; a StoreView's own when `store` is one) must allow everything and
    not redact. `now` is the export's time (default: now)."""
    if policy is None:
        policy = getattr(store, "policy", None)
    if policy is not None:
        check_policy(policy)
    plain = store if isinstance(store, Store) else Store.open(store)
    unfiltered = getattr(plain, "unfiltered", None)
    if unfiltered is not None:  # (a StoreView: the store as it is)
        plain = unfiltered()
    wanted_v = list(dict.fromkeys(visitors))
    wanted_c = list(dict.fromkeys(contacts))
    if not wanted_v and not wanted_c:
        raise UsageError(
            "no one to export",
            hint="name visitors (--visitor ID), contacts (--contact ID) or a file of ids "
            "(--from FILE)",
        )
    made = now if now is not None else datetime.now(UTC)
    # (the current version, as an erase takes out of: a version this Store pinned before
    # an erase still holds what it took out)
    with plain.current_snapshot() as snap:
        who = find_subjects(snap, wanted_v, wanted_c)
        rows = find_rows(snap, who.visitors)
        sessions = rows.sessions.collect(engine="in-memory").sort(
            "created_date", "id", nulls_last=True
        )
        events = _events(snap, rows, who.visitors)
        all_rejects = snap.rejects()
        rejected = (
            all_rejects.filter(rows.rejects)
            if all_rejects.height
            else pl.DataFrame(schema=REJECT_SCHEMA)
        )
        # a rejected line is theirs (as an erase takes it out) when one of its strings is
        # their id; exported only when their id is its visitor id (`customerId`): another
        # person's line that names them elsewhere (a page title, a search) is not theirs
        # to see, and is counted
        mentions = 0
        if rejected.height:
            named = (
                quoted_strings(rejected.get_column("raw"), id_fields=True)
                .filter(pl.col("_t").is_in(pl.Series(who.visitors, dtype=pl.String).implode()))
                .get_column("_i")
                .unique()
            )
            own = pl.int_range(rejected.height, eager=True, dtype=pl.UInt32).is_in(named.implode())
            mentions = int((~own).sum())
            rejected = rejected.filter(own)
        book = _book_rows(snap, who.contacts, who.visitors, sessions)
        version, created = snap.name, snap.manifest.created
    counts = {
        "visitors": len(who.visitors),
        "contacts": len(who.contacts),
        "sessions": sessions.height,
        "events": rows.kept.height,
        "duplicates": rows.dups.height,
        "held": rows.held.height,
        # (as `jtrack store erase` counts them: rows rejected when read; a far-future row's
        # line is its held row's)
        "rejected": int((rejected.get_column("reason") != "far_future").sum()),
        "rejected_far_future": int((rejected.get_column("reason") == "far_future").sum()),
        "rejected_mentions": mentions,
        "event_rows": events.height,
        "contacts_rows": book.height,
    }
    notes = []
    if mentions:
        notes.append(
            f"{mentions:,} rejected line{'s' if mentions != 1 else ''} "
            f"name{'s' if mentions == 1 else ''} them other than as the visitor id (a "
            "page title, a search): not exported, as it may be another person's line "
            "(`jtrack store erase` takes it out too)"
        )
    if events.height > rows.kept.height + rows.dups.height + rows.held.height:
        notes.append(
            "events with status rejected are rows rejected when read, kept in the store's "
            "copy of their input (their raw text is under rejected)"
        )
    return AccessExport(
        store=plain.shown,
        version=version,
        version_created=created,
        made=iso_z(made) or "",
        asked={"visitors": wanted_v, "contacts": wanted_c},
        found={"visitors": who.visitors, "contacts": who.contacts},
        not_found={"visitors": who.visitors_not_found, "contacts": who.contacts_not_found},
        erased_before={
            "visitors": who.visitors_erased_before,
            "contacts": who.contacts_erased_before,
        },
        counts=counts,
        sessions=sessions.select(list(SESSION_SCHEMA)),
        events=events,
        rejected=rejected,
        contacts=book,
        notes=notes,
    )


def redact_refused() -> UsageError:
    """Why --redact is refused (before any key is looked for: none is needed)."""
    return UsageError(
        "--redact: an access export is the person's own data as the store holds it, never redacted",
        hint="leave out --redact; to share data without identities, `jtrack sessions "
        "--redact` and `jtrack report --redact` hash them",
    )


def check_policy(policy: Any) -> None:
    """An access export is whole and unmasked, or not made."""
    if policy.redact:
        raise redact_refused()
    from jtrack.access import PERMISSIONS

    missing = [p for p in PERMISSIONS if not policy.allows(p)]
    if missing:
        raise NotPermittedError(
            f"role {policy.role!r} may not export a person's data: an access export holds "
            f"all of it, unmasked, and needs every permission (missing: {', '.join(missing)})",
            hint="run it with a role that holds every permission (--role NAME), as whoever "
            "answers data-protection requests",
        )


def _events(snap: Any, rows: Any, visitors: list[str]) -> pl.DataFrame:
    """Every row of theirs in the segments, whole, with its `status` (STATUSES) and, for
    a kept one, its `session_id` and `session_type` (the index's); ordered by time, event
    id and position (a row rejected for its time, with none, last)."""
    kept = (
        snap.scan_index()
        .filter(pl.col("customer_id").is_in(pl.Series(visitors, dtype=pl.String).implode()))
        .select("segment", "row", "session_id", "session_type")
        .collect(engine="in-memory")
    )
    copies = pl.concat(
        [
            rows.held.select("_pos", status=pl.lit("held")),
            rows.dups.select("_pos", status=pl.lit("duplicate")),
        ]
    ).select(*split_pos(), "status")
    whole = snap.whole_rows(rows.rows.sort("segment", "row"))
    status = (
        whole.select("segment", "row")
        .join(kept.with_columns(status=pl.lit("kept")), on=["segment", "row"], how="left")
        .join(copies, on=["segment", "row"], how="left", suffix="_copy")
        .select(
            "segment",
            "row",
            pl.coalesce("status", "status_copy", pl.lit("rejected")).alias("status"),
            "session_id",
            "session_type",
        )
    )
    out = whole.join(status, on=["segment", "row"], how="left", maintain_order="left")
    front = ["status", "session_id", "session_type"]
    return out.select(
        *front,
        *[c for c in out.columns if c not in front and c not in ("segment", "row")],
        "segment",
        "row",
    ).sort("created_date", "event_id", "segment", "row", nulls_last=True)


def _book_rows(
    snap: Any, contacts: list[str], visitors: list[str], sessions: pl.DataFrame
) -> pl.DataFrame:
    """The contacts book's rows about them: the contacts asked for, those their visitors
    were resolved to, and those naming one of their visitors' cookies."""
    book = snap.contacts_book()
    if book is None:
        return pl.DataFrame(schema={"contact_id": pl.String()})
    resolved = sessions.get_column("contact_id").drop_nulls().unique()
    ids = pl.Series(visitors, dtype=pl.String).implode()
    theirs = (
        pl.col("contact_id").is_in(pl.Series(contacts, dtype=pl.String).implode())
        | pl.col("contact_id").is_in(resolved.implode())
        | pl.col("cookie_ids").list.eval(pl.element().is_in(ids)).list.any().fill_null(False)
    )
    return book.filter(theirs).sort("contact_id")


__all__ = [
    "STATUSES",
    "TABLES",
    "AccessExport",
    "access_export",
    "check_policy",
    "redact_refused",
]
