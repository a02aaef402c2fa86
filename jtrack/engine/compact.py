"""Compaction: the parts that daily runs add are merged into a few, one per bucket range.

Each run adds one part per table and work unit; a visitor's rows may then sit in several
parts, and a reader opens every part of its bucket. Compaction rewrites all the parts of a
table into parts covering disjoint bucket ranges of about TARGET_ROWS rows each, sorted as a
fresh build sorts them, as a new version (atomically; the content is unchanged: only the
files are). A run compacts on its own once a table has more than MAX_PARTS parts.
Imports Polars only; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.sessionize import index_order
from jtrack.store import Manifest, PartInfo, Snapshot, Store
from jtrack.store.manifest import TABLES
from jtrack.store.snapshot import STORED_SESSION_SCHEMA
from jtrack.store.writer import VersionWriter

#: Rows of a compacted part (a part is read whole when a visitor's bucket is in it).
TARGET_ROWS = 2_000_000
#: A run compacts a table that has more parts than this.
MAX_PARTS = 24
#: Runs whose parts a run's own compaction leaves alone (the ones late events still touch).
RECENT_RUNS = 7


@dataclass
class Compaction:
    """What a compaction did."""

    version: str | None  # the new version (None: nothing to do)
    parts_before: dict[str, int]
    parts_after: dict[str, int]


def needs_compaction(manifest: Manifest) -> bool:
    return any(len(manifest.parts_of(t)) > MAX_PARTS for t in TABLES)


def compact_parts(
    snap: Snapshot, writer: VersionWriter, manifest: Manifest, run: int, force: bool = False
) -> list[PartInfo]:
    """The parts of the new version: each table with more than one part (or more than
    MAX_PARTS, unless `force`) rewritten into disjoint bucket ranges. Unless `force`, the
    parts of the last RECENT_RUNS runs stay as they are: the next night's late events and
    sessions that run past midnight change those, and rewriting a small part is cheap."""
    parts: list[PartInfo] = []
    recent = {r.run for r in manifest.runs[-RECENT_RUNS:]} if not force else set()
    for table in TABLES:
        mine = manifest.parts_of(table)
        if len(mine) <= 1 or (not force and len(mine) <= MAX_PARTS):
            parts += mine
            continue
        keep = [p for p in mine if p.run in recent]
        old = [p for p in mine if p.run not in recent]
        parts += keep
        if len(old) <= 1:
            parts += old
            continue
        names = {p.file for p in old}
        for lo, hi in _ranges(old, snap.buckets):
            rows = (
                snap.scan_parts(table, lo, hi)
                .filter(pl.col("_part").is_in(list(names)))
                .drop("_part")
                .collect(engine="in-memory")
            )
            if rows.height == 0:
                continue
            rows = index_order(rows) if table == "index" else _session_order(rows)
            parts.append(writer.write_part(table, rows, run))
    return parts


def _session_order(rows: pl.DataFrame) -> pl.DataFrame:
    h = pl.col("customer_id").nchash.xxh3_64().alias("_h")  # type: ignore[attr-defined]
    return (
        rows.with_columns(h)
        .sort("bucket", "_h", "customer_id", "created_date", "id")
        .select(list(STORED_SESSION_SCHEMA))
    )


def _ranges(parts: list[PartInfo], buckets: int) -> list[tuple[int, int]]:
    """Disjoint bucket ranges of about TARGET_ROWS rows (rows spread evenly over each
    part's buckets, as a hash spreads visitors)."""
    per_bucket = [0.0] * buckets
    for p in parts:
        width = p.bucket_hi - p.bucket_lo + 1
        for b in range(p.bucket_lo, p.bucket_hi + 1):
            per_bucket[b] += p.rows / width
    ranges: list[tuple[int, int]] = []
    start, acc = 0, 0.0
    for b in range(buckets):
        acc += per_bucket[b]
        if acc >= TARGET_ROWS:
            ranges.append((start, b))
            start, acc = b + 1, 0.0
    if start < buckets:
        ranges.append((start, buckets - 1))
    return ranges


def compact(store: Store, *, keep: int = 2, lock_wait: float = 0.0) -> Compaction:
    """Compact every table of the store with more than one part, as a new version."""
    with store.lock(wait=lock_wait):
        return compact_locked(store, keep=keep, force=True)


def compact_locked(store: Store, *, keep: int = 2, force: bool = False) -> Compaction:
    """compact() for a caller that holds the store's lock (`force`: every table with more
    than one part; else only those with more than MAX_PARTS)."""
    from datetime import UTC, datetime

    from jtrack import __version__
    from jtrack.store import RunInfo

    base = store.read_manifest()
    before = {t: len(base.parts_of(t)) for t in TABLES}
    limit = 1 if force else MAX_PARTS
    if all(n <= limit for n in before.values()):
        return Compaction(None, before, before)
    with store.snapshot() as snap:
        writer = store.begin_version(base)
        try:
            run = base.next_run
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            parts = compact_parts(snap, writer, base, run, force=force)
            m = Manifest(**{**base.__dict__})
            m.version = writer.number
            m.created = now
            m.parts = parts
            m.runs = [
                *base.runs,
                RunInfo(run, now, now, __version__, "compact", parts_written=len(parts)),
            ]
            writer.commit(m, keep)
        except BaseException:
            writer.abort()
            raise
    store.refresh()
    after = {t: len(m.parts_of(t)) for t in TABLES}
    return Compaction(writer.name, before, after)


__all__ = [
    "MAX_PARTS",
    "TARGET_ROWS",
    "Compaction",
    "compact",
    "compact_locked",
    "compact_parts",
    "needs_compaction",
]
