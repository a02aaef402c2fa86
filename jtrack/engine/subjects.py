"""A person's rows in a store: who is asked for, and every row the store holds of them.

Shared by `jtrack store erase` (jtrack.engine.erase: the rows it takes out) and `jtrack
store access` (jtrack.usecases.access: the rows it writes out), so that what an access
request shows is exactly what an erasure would take. A person is named by visitor ids
(customer ids, as written) and by saved contacts' ids (every visitor the store resolved to
the contact; the contact's row of the store's contacts book). Their rows: the index rows
(kept events), held far-future and duplicate copies, rejected rows (a rejected line is
theirs when one of its quoted strings is their id, JSON escapes read), their rows of the
segments, and their sessions. Imports Polars only; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from jtrack.engine.decide import COPY_SCHEMA
from jtrack.engine.erasure import Erasure, quoted_strings
from jtrack.engine.unit import pos_expr
from jtrack.store import Snapshot


@dataclass
class Subjects:
    """The ids asked for, told apart: found in the store, not found, erased before."""

    #: customer ids found: those named that the store holds, then those resolved to the
    #: contacts found (each once): every visitor whose rows are the person's
    visitors: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)  # found in the book or the sessions
    visitors_not_found: list[str] = field(default_factory=list)
    contacts_not_found: list[str] = field(default_factory=list)
    #: ids an earlier erase took out (not found, as they are gone)
    visitors_erased_before: list[str] = field(default_factory=list)
    contacts_erased_before: list[str] = field(default_factory=list)


def find_subjects(snap: Snapshot, visitors: list[str], contacts: list[str]) -> Subjects:
    """Which of `visitors` (customer ids) and `contacts` (saved contacts' ids) the version
    holds, the visitors resolved to those contacts, and which an earlier erase took out
    (the manifest's `erased` record: their salted hashes)."""
    out = Subjects()
    resolved: list[str] = []
    if contacts:
        hit = (
            snap.scan_sessions()
            .filter(pl.col("contact_id").is_in(contacts))
            .select("contact_id", "customer_id")
            .unique()
            .collect(engine="in-memory")
        )
        resolved = hit.get_column("customer_id").unique().sort().to_list()
        book = snap.contacts_book()
        in_book = (
            set(book.filter(pl.col("contact_id").is_in(contacts)).get_column("contact_id"))
            if book is not None
            else set()
        )
        found_c = set(hit.get_column("contact_id")) | in_book
        out.contacts = [c for c in contacts if c in found_c]
        out.contacts_not_found = [c for c in contacts if c not in found_c]
    if visitors:
        ids = pl.Series(visitors, dtype=pl.String)
        seen = set(_held_ids(snap, ids))
        for lf in (snap.scan_index(), snap.scan_sessions()):
            seen |= set(
                lf.filter(pl.col("customer_id").is_in(ids.implode()))
                .select("customer_id")
                .unique()
                .collect(engine="in-memory")
                .get_column("customer_id")
            )
        rejects = snap.rejects()
        if rejects.height:
            seen |= set(
                quoted_strings(rejects.get_column("raw")).filter(pl.col("_t").is_in(ids.implode()))[
                    "_t"
                ]
            )
        out.visitors = [v for v in visitors if v in seen]
        out.visitors_not_found = [v for v in visitors if v not in seen]
    for v in resolved:
        if v not in out.visitors:
            out.visitors.append(v)
    before = Erasure.of(snap.manifest.erased)
    if before is not None:  # (asked again: said so, not "not in the store")
        for found, missing, hashed in (
            (out.visitors_erased_before, out.visitors_not_found, before.visitors),
            (out.contacts_erased_before, out.contacts_not_found, before.contacts),
        ):
            found += [i for i in missing if before.digest(i) in hashed]
            missing[:] = [i for i in missing if i not in found]
    return out


def _held_ids(snap: Snapshot, ids: pl.Series) -> list[str]:
    found: list[str] = []
    for frame in (snap.held(), snap.duplicates()):
        if frame is not None:
            found += frame.filter(pl.col("customer_id").is_in(ids.implode()))[
                "customer_id"
            ].to_list()
    return found


@dataclass
class SubjectRows:
    """Every row the version holds of some visitors."""

    kept: pl.DataFrame  # COPY_SCHEMA: their kept copies (index rows)
    held: pl.DataFrame  # COPY_SCHEMA: their copies held aside (far-future)
    dups: pl.DataFrame  # their copies in the duplicates table (status "duplicate")
    #: bool per row of the version's rejects (Snapshot.rejects): it names them (the
    #: far-future ones, their held rows, included)
    rejects: pl.Series
    rows: pl.DataFrame  # segment, row: their rows in the segments
    sessions: pl.LazyFrame  # their sessions (SESSION_SCHEMA)


def find_rows(snap: Snapshot, customer_ids: list[str]) -> SubjectRows:
    """The rows of the visitors `customer_ids` wherever the version keeps one."""
    ids = pl.Series(customer_ids, dtype=pl.String).implode()
    mine = pl.col("customer_id").is_in(ids)
    kept = (
        snap.scan_index()
        .filter(mine)
        .select(
            "event_id",
            "created_date",
            pos_expr(),
            "bucket",
            "customer_id",
            status=pl.lit("kept"),
        )
        .collect(engine="in-memory")
    )
    held_all = snap.held()
    held = (
        held_all.filter(mine).select(
            "event_id", "created_date", "_pos", "bucket", "customer_id", status=pl.lit("held")
        )
        if held_all is not None
        else pl.DataFrame(schema=COPY_SCHEMA)
    )
    dups_all = snap.duplicates()
    dups = (
        dups_all.filter(mine & (pl.col("status") == "duplicate"))
        if dups_all is not None
        else pl.DataFrame(schema={**COPY_SCHEMA, "_hash": pl.UInt64()})
    )
    rejects = snap.rejects()
    theirs = pl.Series("raw", [], dtype=pl.Boolean)
    if rejects.height:
        hit = (
            quoted_strings(rejects.get_column("raw"))
            .filter(pl.col("_t").is_in(ids))
            .get_column("_i")
            .unique()
        )
        theirs = pl.int_range(rejects.height, eager=True, dtype=pl.UInt32).is_in(hit.implode())
    rows = snap.segment_rows_where("customer_id", pl.Series(customer_ids, dtype=pl.String))
    sessions = snap.scan_sessions().filter(mine)
    return SubjectRows(kept, held, dups, theirs.rename("raw"), rows, sessions)


__all__ = ["SubjectRows", "Subjects", "find_rows", "find_subjects"]
