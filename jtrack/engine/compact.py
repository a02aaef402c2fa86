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
`jtrack store compact` merges everything into one group.

Small segments are merged too: a run that follows a growing file (`jtrack watch`) writes a
segment of a few hundred rows a second, and a version links and lists each of its segments.
Small segments in a row, of one input, become one segment under the first one's id when
every index part that points into them is being merged (their positions are rewritten in
those parts, in the held rows and in the duplicates' copies, which are small); positions
still order rows as the input did, since no other segment lies between them. A merged
segment holds at least SMALL_SEGMENT rows, so a wide row is rewritten about once.
Imports Polars only; never prints.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import timedelta

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.sessionize import index_order
from jtrack.engine.ingest import MAX_LINE_BREAKS, LineBreaks
from jtrack.engine.run import _session_options  # (the options the store was built with)
from jtrack.store import Manifest, PartInfo, Snapshot, Store
from jtrack.store.layout import DUPLICATES, HELD
from jtrack.store.manifest import TABLES, SegmentInfo
from jtrack.store.snapshot import STORED_SESSION_SCHEMA
from jtrack.store.writer import VersionWriter, no_session_changes

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
#: Segments of fewer rows are small, and merged (see the module's docstring).
SMALL_SEGMENT = 16_384
#: ... and so many small segments in a row are merged whatever their rows (a quiet site
#: followed by `jtrack watch` writes a segment of one row a run: 16,384 such segments
#: would take some 60 times the disk of one).
SMALL_SEGMENT_RUN = 64
#: The most rows a merged segment holds.
MERGED_SEGMENT_ROWS = 1_048_576


@dataclass
class Compaction:
    """What a compaction did."""

    version: str | None  # the new version (None: nothing to do)
    parts_before: dict[str, int]
    parts_after: dict[str, int]
    segments_before: int = 0
    segments_after: int = 0
    #: the duplicates table's delta files (Manifest.duplicate_deltas), merged into its file
    deltas_before: int = 0

    def describe(self) -> str:
        """`index parts 9 -> 1, sessions parts 9 -> 1`, the segments when small ones were
        merged, and the duplicates table's deltas when there were any."""
        out = ", ".join(  # (a table whose parts it left as they were is not named)
            f"{table} parts {self.parts_before.get(table, 0):,} -> "
            f"{self.parts_after.get(table, 0):,}"
            for table in sorted(set(self.parts_before) | set(self.parts_after))
            if self.parts_before.get(table, 0) != self.parts_after.get(table, 0)
        )
        if self.segments_after != self.segments_before:
            segments = f"segments {self.segments_before:,} -> {self.segments_after:,}"
            out = f"{out}, {segments}" if out else segments
        if self.deltas_before and self.version is not None:
            deltas = f"duplicates table {self.deltas_before + 1:,} files -> 1"
            out = f"{out}, {deltas}" if out else deltas
        return out or "nothing to merge"


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
) -> tuple[list[PartInfo], list[list[SegmentInfo]]]:
    """The parts of the new version, and the segments merged (`segments_to_merge`; their
    files are not written here): with `force`, every table with more than one part
    rewritten into disjoint bucket ranges (and every part of the index when small segments
    can be merged); else the parts `to_merge` picks (the parts of the last RECENT_RUNS runs
    stay as they are: the next night's late events and sessions that run past midnight
    change those, and rewriting a small part is cheap)."""
    chosen: dict[str, list[PartInfo]] = {}
    for table in TABLES:
        mine = manifest.parts_of(table)
        whole = mine if len(mine) > 1 else []
        chosen[table] = whole if force else to_merge(manifest, table, max_rows)
    every = manifest.parts_of("index")
    if force:
        merges = segments_to_merge(manifest, {p.file for p in every}, force=True)
        if merges:
            chosen["index"] = every
    else:
        merges = segments_to_merge(manifest, {p.file for p in chosen["index"]})
    moves = _moves(merges)
    parts: list[PartInfo] = []
    for table in TABLES:
        old = chosen[table]
        names = {p.file for p in old}
        parts += [p for p in manifest.parts_of(table) if p.file not in names]
        if not old:
            continue
        for lo, hi in _ranges(old, snap.buckets):
            rows = snap.scan_parts(table, lo, hi, names).drop("_part").collect(engine="in-memory")
            if rows.height == 0:
                continue
            if table == "index":
                rows = index_order(moved_rows(rows, moves))
            else:
                rows = _session_order(rows)
            parts.append(writer.write_part(table, rows, run))
    return parts, merges


def segments_to_merge(
    manifest: Manifest, rewritten: Collection[str], force: bool = False
) -> list[list[SegmentInfo]]:
    """Groups of small segments to merge, each into its first: segments in a row (no
    other segment between them), of one input, written by jtrack (not an input kept as
    it is), whose rows no index part outside `rewritten` (part files) points at, with line
    maps alike (both known or both not), at most MERGED_SEGMENT_ROWS together, and at least
    SMALL_SEGMENT rows or SMALL_SEGMENT_RUN segments unless no later segment can join them
    (the next is big, or of another input: a run of small segments left between merged
    ones) or with `force`."""
    ranges: list[list[int]] = []
    for p in manifest.parts_of("index"):
        if p.file not in rewritten:
            if p.segments is None:  # (an earlier jtrack's part: it may point anywhere)
                return []
            ranges += p.segments
    pinned = _Ranges(ranges)
    groups: list[list[SegmentInfo]] = []
    run: list[SegmentInfo] = []
    rows = breaks = 0  # of the run (kept as it grows: a run may be thousands long)

    def close(final: bool) -> None:
        """End the run; merged when `final` (what follows it will never join it: a big
        segment, another input's), big enough, or with `force`."""
        nonlocal rows, breaks
        if len(run) > 1 and (
            force or final or rows >= SMALL_SEGMENT or len(run) >= SMALL_SEGMENT_RUN
        ):
            groups.append(list(run))
        run.clear()
        rows = breaks = 0

    for s in sorted(manifest.segments, key=lambda s: s.id):
        if s.rows >= SMALL_SEGMENT or s.kept_as_is:
            close(final=True)
        elif pinned.covers(s.id):  # (mergeable once the parts pointing at it are merged)
            close(final=False)
        else:
            if run and not (
                s.source == run[0].source
                and (s.lines is None) == (run[0].lines is None)
                and rows + s.rows <= MERGED_SEGMENT_ROWS
                and breaks + len(s.lines or ()) <= MAX_LINE_BREAKS
            ):
                close(final=True)
            run.append(s)
            rows += s.rows
            breaks += len(s.lines or ())
    close(final=False)  # (the newest: segments still to come may join them)
    return groups


class _Ranges:
    """Sorted [first, last] ranges, overlapping ones joined, for `covers`."""

    def __init__(self, ranges: list[list[int]]) -> None:
        joined: list[list[int]] = []
        for lo, hi in sorted(ranges):
            if joined and lo <= joined[-1][1] + 1:
                joined[-1][1] = max(joined[-1][1], hi)
            else:
                joined.append([lo, hi])
        self._starts = [lo for lo, _ in joined]
        self._ends = [hi for _, hi in joined]

    def covers(self, value: int) -> bool:
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and self._ends[i] >= value


def merged_segment(members: list[SegmentInfo]) -> SegmentInfo:
    """The manifest's record of `members` merged into the first: its rows in turn, each
    member's line map moved by the rows before it."""
    lines: list[list[int]] | None = None
    if all(m.lines is not None for m in members):
        breaks, before = LineBreaks(), 0
        for m in members:
            breaks.extend([[row + before, offset - before] for row, offset in m.lines or ()])
            before += m.rows
        lines = breaks.value()
    first = members[0]
    return replace(first, rows=sum(m.rows for m in members), lines=lines)


#: Where the rows of merged segments went: segment -> (`_to`, `_shift`).
_Moves = tuple[list[int], list[int], list[int]]


def _moves(merges: list[list[SegmentInfo]]) -> _Moves:
    old: list[int] = []
    to: list[int] = []
    shift: list[int] = []
    for members in merges:
        before = 0
        for m in members:
            old.append(m.id)
            to.append(members[0].id)
            shift.append(before)
            before += m.rows
    return old, to, shift


def moved_rows(rows: pl.DataFrame, moves: _Moves) -> pl.DataFrame:
    """Index rows with the positions (`segment`, `row`) their wide rows have after `moves`."""
    old, to, shift = moves
    if not old:
        return rows
    seg = pl.col("segment")
    return rows.with_columns(
        segment=seg.replace(old, to).cast(pl.UInt32),
        row=(pl.col("row") + seg.replace_strict(old, shift, default=0, return_dtype=pl.UInt32)),
    )


def moved_positions(frame: pl.DataFrame, moves: _Moves) -> pl.DataFrame:
    """`frame` with its `_pos` (segment << 32 | row) after `moves`."""
    old, to, shift = moves
    if not old:
        return frame
    seg = (pl.col("_pos") // (1 << 32)).cast(pl.UInt32)
    row = pl.col("_pos") % (1 << 32)
    new_seg = seg.replace(old, to).cast(pl.UInt64)
    add = seg.replace_strict(old, shift, default=0, return_dtype=pl.UInt64)
    return frame.with_columns(_pos=new_seg * (1 << 32) + row + add)


def merge_segments(
    snap: Snapshot, writer: VersionWriter, m: Manifest, merges: list[list[SegmentInfo]]
) -> None:
    """Write the merged segments and point `m` (the new version's manifest, its parts
    already moved) at them: its segments, its inputs' segment lists, and the positions
    of the held rows and of the duplicates' copies."""
    if not merges:
        merge_duplicates(snap, writer, m)
        return
    moves = _moves(merges)
    gone: set[int] = set()
    merged: dict[int, SegmentInfo] = {}
    for members in merges:
        writer.write_merged_segment([snap.segment_file(s.id) for s in members], members[0].file)
        merged[members[0].id] = merged_segment(members)
        gone.update(s.id for s in members)
    m.segments = [merged.get(s.id, s) for s in m.segments if s.id in merged or s.id not in gone]
    to = dict(zip(moves[0], moves[1], strict=True))
    m.inputs = [
        replace(i, segments=list(dict.fromkeys(to.get(s, s) for s in i.segments))) for i in m.inputs
    ]
    held = snap.held()
    if held is not None:
        m.held = writer.write_frame(HELD, moved_positions(held, moves))
    dups = snap.duplicates()
    if dups is not None:
        m.duplicates = writer.write_frame(DUPLICATES, moved_positions(dups, moves))
        m.duplicate_deltas = []


def merge_duplicates(snap: Snapshot, writer: VersionWriter, m: Manifest) -> None:
    """The duplicates table in one file again, when runs wrote deltas to it (`m`: the new
    version's manifest)."""
    if not m.duplicate_deltas:
        return
    dups = snap.duplicates()
    m.duplicates = None
    if dups is not None and dups.height:
        m.duplicates = writer.write_frame(DUPLICATES, dups)
    m.duplicate_deltas = []


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


def compact(store: Store, *, keep: int | None = None, lock_wait: float = 0.0) -> Compaction:
    """Compact every table of the store with more than one part, as a new version (`keep`
    None: the `--keep` the store was given last, else 2; one given is remembered by the
    version written, as a run's is)."""
    from jtrack.store.manifest import kept_of

    store.require_current()  # (a missing folder or a file: said as such, not made)
    with store.lock(wait=lock_wait):
        remember = keep
        if keep is None:
            keep = kept_of(store.read_manifest())
        done = compact_locked(store, keep=keep, force=True, remember=remember)
        store.collect_garbage(keep)  # (also when there was nothing to compact)
        return done


def compact_locked(
    store: Store,
    *,
    keep: int = 2,
    force: bool = False,
    max_rows: int | None = None,
    remember: int | None = None,
) -> Compaction:
    """compact() for a caller that holds the store's lock (`force`: every table with more
    than one part, merged whole; else what `to_merge` picks, up to `max_rows` rows a
    merge). `remember`: a `--keep` the caller was given, which the version written keeps
    as the store's (as a run's does)."""
    from datetime import UTC, datetime

    from jtrack import __version__
    from jtrack.store import RunInfo

    base = store.read_manifest()
    before = {t: len(base.parts_of(t)) for t in TABLES}
    segments = len(base.segments)
    if force:
        every = {p.file for p in base.parts_of("index")}
        idle = (
            all(n <= 1 for n in before.values())
            and not segments_to_merge(base, every, True)
            and not base.duplicate_deltas
        )
    else:
        idle = not needs_compaction(base, max_rows)
    if idle:
        return Compaction(None, before, before, segments, segments)
    with store.current_snapshot() as snap:
        writer = store.begin_version(base)
        try:
            run = base.next_run
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            parts, merges = compact_parts(snap, writer, base, run, force=force, max_rows=max_rows)
            m = base.copy()
            if remember is not None:
                m.keep = remember
            m.parts = parts
            merge_segments(snap, writer, m, merges)
            done = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            m.version = writer.number
            m.created = done
            m.compacted = True
            kept = {(p.table, p.file) for p in parts} & {(p.table, p.file) for p in base.parts}
            m.runs = [
                *base.runs,
                RunInfo(
                    run,
                    now,
                    done,
                    __version__,
                    "compact",
                    sessions_changed=0,  # (its rows add up, as every run's: none read)
                    sessions_unchanged=int(base.counts.get("sessions", 0) or 0),
                    parts_written=len(parts) - len(kept),
                    parts_rewritten=len(base.parts) - len(kept),
                    duplicates=0,
                    rejected=0,
                    events_kept=0,
                ),
            ]
            writer.set_session_changes(no_session_changes())  # (the same sessions, in fewer files)
            writer.commit(m, keep)
        except BaseException:
            writer.abort()
            raise
    # (the commit kept the base: this process was reading it)
    store.collect_garbage(keep)
    store.refresh()
    after = {t: len(m.parts_of(t)) for t in TABLES}
    return Compaction(
        writer.name, before, after, segments, len(m.segments), len(base.duplicate_deltas)
    )


__all__ = [
    "FOLLOW_MERGE_ROWS",
    "LIVE_LEVEL",
    "MERGED_SEGMENT_ROWS",
    "MERGE_FACTOR",
    "RECENT_RUNS",
    "SMALL_SEGMENT",
    "SMALL_SEGMENT_RUN",
    "TARGET_ROWS",
    "Compaction",
    "compact",
    "compact_locked",
    "compact_parts",
    "level",
    "live_groups",
    "merge_duplicates",
    "merge_segments",
    "merged_segment",
    "moved_positions",
    "moved_rows",
    "needs_compaction",
    "segments_to_merge",
    "to_merge",
]
