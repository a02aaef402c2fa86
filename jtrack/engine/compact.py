"""Compaction: the parts that runs add are merged, a few at a time, by size.

Each run adds one part per table and work unit; a visitor's rows may then sit in several
parts, and a reader opens every part of its bucket. A run's own compaction merges by size
tiers, as log-structured stores do: the parts a run wrote are a group, a group's level is
the order of magnitude (base MERGE_FACTOR) of its rows, and once MERGE_FACTOR groups of one
level pile up they are merged, with every smaller group, into one group of the next level.
Each row is so rewritten about log(rows) times over the store's life, and never because
a much smaller group was added beside it: a run every second (`jtrack watch`) merges small
parts into small parts, and the big old ones are left alone. A merge writes parts covering
disjoint bucket ranges of at most TARGET_ROWS rows each, sorted as a fresh build sorts
them, as a new version (atomically; the content is unchanged: only the files are).
`jtrack store compact` merges everything into one group. Imports Polars only; never prints.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.sessionize import index_order
from jtrack.engine.run import _session_options  # (the options the store was built with)
from jtrack.store import Manifest, PartInfo, Snapshot, Store
from jtrack.store.manifest import TABLES
from jtrack.store.snapshot import STORED_SESSION_SCHEMA
from jtrack.store.writer import VersionWriter

#: Rows of a compacted part (a part is read whole when a visitor's bucket is in it).
TARGET_ROWS = 2_000_000
#: Groups of one size level merged at once (and the base of the levels).
MERGE_FACTOR = 8
#: Runs whose parts a run's own compaction leaves alone (the ones late events still touch).
RECENT_RUNS = 7
#: The largest merge a run that follows files (`jtrack watch`) makes: a merge of 3.6M index
#: rows stops the view for 15 s, and each level up takes 8 times longer. Larger merges wait
#: for a run that does not follow (`jtrack sessionize`) or `jtrack store compact`.
FOLLOW_MERGE_ROWS = 1_000_000
#: The size level from which merges leave out session groups that may still change: parts
#: of up to MERGE_FACTOR ** LIVE_LEVEL (32,768) sessions are written again when one of their
#: sessions grows (a few milliseconds), never the big parts of the history.
LIVE_LEVEL = 5


@dataclass
class Compaction:
    """What a compaction did."""

    version: str | None  # the new version (None: nothing to do)
    parts_before: dict[str, int]
    parts_after: dict[str, int]


def level(rows: int) -> int:
    """The size level of a group of `rows` rows: 0 up to MERGE_FACTOR - 1 rows, 1 up to
    MERGE_FACTOR**2 - 1, and so on."""
    return int(math.log(rows, MERGE_FACTOR) + 1e-9) if rows > 0 else 0


def to_merge(manifest: Manifest, table: str, max_rows: int | None = None) -> list[PartInfo]:
    """The parts of `table` that a run's own compaction merges now: empty, or every part
    (outside the last RECENT_RUNS runs) of the groups up to the lowest level that holds
    MERGE_FACTOR groups. A group is the parts one run (or one compaction) wrote. With
    `max_rows`, no merge of more rows than that (the lowest level whose merge fits).

    Session groups that may still change (`live_groups`) only take part in merges below
    LIVE_LEVEL: a later run that extends one of their sessions writes its part again
    without it, and a big part written again every run is what made `jtrack watch` wait
    seconds after each big merge."""
    recent = {r.run for r in manifest.runs[-RECENT_RUNS:]}
    groups: dict[int, list[PartInfo]] = {}
    for p in manifest.parts_of(table):
        if p.run not in recent:
            groups.setdefault(p.run, []).append(p)
    of = {run: level(sum(p.rows for p in parts)) for run, parts in groups.items()}
    live = live_groups(manifest, groups) if table == "sessions" else set()
    counts = Counter(lv for run, lv in of.items() if run not in live or lv < LIVE_LEVEL)
    full = sorted(lv for lv, n in counts.items() if n >= MERGE_FACTOR)
    for top in full:
        picked = [
            p
            for run, parts in groups.items()
            if of[run] <= top and (run not in live or top < LIVE_LEVEL)
            for p in parts
        ]
        if max_rows is None or sum(p.rows for p in picked) <= max_rows:
            return picked
    return []


def live_groups(manifest: Manifest, groups: dict[int, list[PartInfo]]) -> set[int]:
    """The groups holding a session that may still grow: one that ends less than the
    store's gap before its newest event (a session part's `last_us`; a part an earlier
    jtrack wrote counts as settled)."""
    newest = max((p.last_us for p in manifest.parts_of("index") if p.last_us), default=None)
    if newest is None:
        return set()
    edge = newest - _session_options(manifest).gap // timedelta(microseconds=1)
    return {
        run
        for run, parts in groups.items()
        if any(p.last_us is not None and p.last_us >= edge for p in parts)
    }


def needs_compaction(manifest: Manifest, max_rows: int | None = None) -> bool:
    return any(to_merge(manifest, t, max_rows) for t in TABLES)


def compact_parts(
    snap: Snapshot,
    writer: VersionWriter,
    manifest: Manifest,
    run: int,
    force: bool = False,
    max_rows: int | None = None,
) -> list[PartInfo]:
    """The parts of the new version: with `force`, every table with more than one part
    rewritten into disjoint bucket ranges; else the parts `to_merge` picks (the parts of
    the last RECENT_RUNS runs stay as they are: the next night's late events and sessions
    that run past midnight change those, and rewriting a small part is cheap)."""
    parts: list[PartInfo] = []
    for table in TABLES:
        mine = manifest.parts_of(table)
        whole = mine if len(mine) > 1 else []
        old = whole if force else to_merge(manifest, table, max_rows)
        chosen = {p.file for p in old}
        parts += [p for p in mine if p.file not in chosen]
        if not old:
            continue
        for lo, hi in _ranges(old, snap.buckets):
            rows = snap.scan_parts(table, lo, hi, chosen).drop("_part").collect(engine="in-memory")
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


def compact_locked(
    store: Store, *, keep: int = 2, force: bool = False, max_rows: int | None = None
) -> Compaction:
    """compact() for a caller that holds the store's lock (`force`: every table with more
    than one part, merged whole; else what `to_merge` picks, up to `max_rows` rows a
    merge)."""
    from datetime import UTC, datetime

    from jtrack import __version__
    from jtrack.store import RunInfo

    base = store.read_manifest()
    before = {t: len(base.parts_of(t)) for t in TABLES}
    if (force and all(n <= 1 for n in before.values())) or (
        not force and not needs_compaction(base, max_rows)
    ):
        return Compaction(None, before, before)
    with store.snapshot() as snap:
        writer = store.begin_version(base)
        try:
            run = base.next_run
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            parts = compact_parts(snap, writer, base, run, force=force, max_rows=max_rows)
            done = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            m = Manifest(**{**base.__dict__})
            m.version = writer.number
            m.created = done
            m.parts = parts
            m.runs = [
                *base.runs,
                RunInfo(run, now, done, __version__, "compact", parts_written=len(parts)),
            ]
            writer.commit(m, keep)
        except BaseException:
            writer.abort()
            raise
    store.refresh()
    after = {t: len(m.parts_of(t)) for t in TABLES}
    return Compaction(writer.name, before, after)


__all__ = [
    "FOLLOW_MERGE_ROWS",
    "LIVE_LEVEL",
    "MERGE_FACTOR",
    "RECENT_RUNS",
    "TARGET_ROWS",
    "Compaction",
    "compact",
    "compact_locked",
    "compact_parts",
    "level",
    "live_groups",
    "needs_compaction",
    "to_merge",
]
