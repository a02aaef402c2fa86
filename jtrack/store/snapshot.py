"""Reading one version of a store: sessions, the index, and events with their wide columns.

A Snapshot is pinned by a lease (see Store.snapshot), so the files it reads stay while it
reads them, whatever writers do meanwhile. Sessions and the index are found by visitor
without reading anything but the visitor's row groups (files are sorted by bucket, and
Parquet statistics skip the rest); the wide columns of events are fetched by position from
the segments, reading only the row groups that hold them. Imports Polars only.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import operator
import weakref
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from jtrack.core.buckets import bucket_of
from jtrack.core.traffic import HUMAN
from jtrack.errors import StoreError, UsageError
from jtrack.schema import (
    EVENT_SCHEMA,
    INDEX_SCHEMA,
    SESSION_SCHEMA,
    STORED_EVENT_SCHEMA,
    UTC_US,
)
from jtrack.store.layout import SEGMENTS, VERSIONS
from jtrack.store.manifest import Manifest, PartInfo, SegmentInfo

if TYPE_CHECKING:
    from jtrack.store.store import Store

#: The session table as stored: the visitor's bucket first.
STORED_SESSION_SCHEMA: dict[str, pl.DataType] = {"bucket": pl.UInt16(), **SESSION_SCHEMA}
#: xxh3 of the event ids, and the times, of index parts this process has read (see
#: Snapshot.event_keys), by the part file's identity: parts are immutable and carried between
#: versions as hard links, so a long-lived process (`jtrack watch`) reads each once, not every
#: run.
_KEYS: dict[tuple[str, int, int, int, int], pl.DataFrame] = {}
#: Up to this many id prefixes are looked up by range in the session id directories (each
#: reads a row group of every part); more are matched against every id.
_FEW_PREFIXES = 64
#: Rows of a segment further apart than this are read in separate slices.
_SLICE_GAP = 20_000
#: Above this share of a segment's rows, the segment is read whole.
_WHOLE_SHARE = 0.2


#: Queries Polars runs side by side at most (collect_side_by_side): it gives each a thread
#: of a pool of 512, and warned of a deadlock ("POLARS_MAX_BLOCKING_THREAD_COUNT reached")
#: on stores of hundreds of segments.
SIDE_BY_SIDE = 64


def collect_side_by_side(queries: Sequence[pl.LazyFrame], **kw: Any) -> list[pl.DataFrame]:
    """pl.collect_all of `queries`, SIDE_BY_SIDE at a time (a store's segments or parts,
    one query each, can be thousands after a year of nights)."""
    out: list[pl.DataFrame] = []
    for i in range(0, len(queries), SIDE_BY_SIDE):
        out += pl.collect_all(list(queries[i : i + SIDE_BY_SIDE]), **kw)
    return out


def first_by_start(sessions: pl.LazyFrame, limit: int | None) -> pl.DataFrame:
    """A scan's sessions by start and id, the first `limit` of them: their keys found on
    the two columns of the order, then only their rows read whole (a year's session table
    sorted whole for its first ten rows costs seconds and half a GB)."""
    order = ["created_date", "id"]
    if limit is None:
        return sessions.sort(order).collect(engine="in-memory")
    keys = sessions.select(order).sort(order).head(limit).collect(engine="in-memory")
    wanted = keys.get_column("id").implode()
    return sessions.filter(pl.col("id").is_in(wanted)).sort(order).collect(engine="in-memory")


class Snapshot:
    """One version of a store, held for reading (`Store.snapshot()`, in a `with` block).

    Its `scan_*` methods return Polars LazyFrames over the version's files: collect them
    inside the block (or keep what was collected). A LazyFrame collected after the block,
    once runs have let the version go (`--keep`), fails with Polars' FileNotFoundError
    (naming STORE/versions/vNNNNNN/...): the snapshot that held those files was released.
    Its methods take ids as stored and compare them exactly (`customer_id=`,
    `session_ids=`): an 8-character prefix, as the CLI's tables show, matches nothing;
    `jtrack.usecases.sessions.list_sessions` (SessionQuery) and `card.build_card` take
    prefixes as the CLI does, and `Store.sessions_with_prefix` finds sessions by them.
    """

    def __init__(
        self, store: Store | None, name: str, manifest: Manifest, lease: Path | None
    ) -> None:
        # (weakly: a Store's pinned snapshot would otherwise make a cycle with it, and a
        # `Store.open(root)` read once and dropped would keep its lease until the garbage
        # collector came round, keeping the version from runs that would remove it)
        self._store = weakref.ref(store) if store is not None else None
        self.name = name
        self.manifest = manifest
        self.dir = store.version_dir(name) if store is not None else Path(name)
        self._lease = lease

    @property
    def leased(self) -> bool:
        """Whether a reader's lease holds this version (none where `.readers` cannot be
        written: a run may then remove the version while it is read)."""
        return self._lease is not None

    @classmethod
    def at(cls, directory: Path, manifest: Manifest) -> Snapshot:
        """A version read by path, without a lease: for a worker of a run that holds the
        store's lock (no writer can remove the version meanwhile)."""
        snap = cls(None, str(directory), manifest, None)
        snap.dir = directory
        return snap

    @property
    def store(self) -> Store | None:
        """The Store this snapshot was taken from (None for a worker's `at`, or once that
        Store is gone)."""
        return self._store() if self._store is not None else None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the version back: writers may remove it once it is no longer current."""
        if self._lease is not None:
            from jtrack.store.store import release_lease

            release_lease(self._lease)  # (its file, and the lock its reader holds)
            self._lease = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    # ------------------------------------------------------------------ files

    @property
    def buckets(self) -> int:
        return self.manifest.bucket_policy.buckets

    def part_files(self, table: str) -> list[Path]:
        return [self.dir / table / p.file for p in self.manifest.parts_of(table)]

    @functools.cached_property
    def _segments(self) -> dict[int, SegmentInfo]:
        """The version's segments by id (a version's manifest never changes)."""
        return {s.id: s for s in self.manifest.segments}

    def segment_file(self, segment: int) -> Path:
        s = self._segments.get(segment)
        if s is None:
            raise StoreError(f"{self.dir}: no segment {segment}", hint="the store is damaged")
        return self.dir / SEGMENTS / s.file

    def segment_rows_where(self, column: str, values: pl.Series) -> pl.DataFrame:
        """`segment` and `row` of every row of the version's segments whose `column` is
        one of `values` (one column of each segment read)."""
        wanted = values.implode()
        queries = [
            pl.scan_parquet(self.dir / SEGMENTS / s.file, glob=False, hive_partitioning=False)
            .select(pl.col(column))
            .with_row_index("row")
            .filter(pl.col(column).is_in(wanted))
            .select(pl.lit(s.id, pl.UInt32).alias("segment"), pl.col("row").cast(pl.UInt32))
            for s in self.manifest.segments
            if s.rows
        ]
        found = collect_side_by_side(queries, engine="in-memory")
        schema = {"segment": pl.UInt32(), "row": pl.UInt32()}
        return pl.concat([pl.DataFrame(schema=schema), *found], how="vertical")

    def _scan(self, table: str, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
        files = self.part_files(table)
        if not files:
            return pl.LazyFrame(schema=schema)
        return _scan_files(files, schema)

    def _parts(self, table: str, lo: int, hi: int) -> tuple[dict[str, pl.DataType], list[PartInfo]]:
        """The schema of `table` and its parts that may hold buckets lo..hi."""
        schema = INDEX_SCHEMA if table == "index" else STORED_SESSION_SCHEMA
        parts = [
            p for p in self.manifest.parts_of(table) if p.bucket_hi >= lo and p.bucket_lo <= hi
        ]
        return schema, parts

    def _scan_with_part(
        self,
        table: str,
        schema: dict[str, pl.DataType],
        parts: list[PartInfo],
        positions: bool = False,
    ) -> pl.LazyFrame:
        """One scan of `parts` of `table` (Polars reads the files side by side, and decodes
        the filter's columns first), with `_part`: the file each row is in, and with
        `positions`, `_at`: the row's number in that file."""
        extra = {"_part": pl.String(), **({"_at": pl.UInt32()} if positions else {})}
        if not parts:
            return pl.LazyFrame(schema={**schema, **extra})
        paths = {str(self.dir / table / p.file): p.file for p in parts}
        if not positions:
            return _scan_files(list(paths), schema, include_file_paths="_part").with_columns(
                pl.col("_part").replace_strict(paths, return_dtype=pl.String)
            )
        starts, n = {}, 0
        for path, part in zip(paths, parts, strict=True):
            starts[path] = n
            n += part.rows
        lf = _scan_files(list(paths), schema, include_file_paths="_part", row_index_name="_at")
        return lf.select(
            *schema,
            pl.col("_part").replace_strict(paths, return_dtype=pl.String),
            (pl.col("_at") - pl.col("_part").replace_strict(starts, return_dtype=pl.UInt64))
            .cast(pl.UInt32)
            .alias("_at"),
        )

    def scan_parts(
        self, table: str, lo: int = 0, hi: int = 65535, files: Collection[str] | None = None
    ) -> pl.LazyFrame:
        """Rows of `table` ("index" or "sessions") in buckets lo..hi, with `_part`: the file
        each row is in (writers rewrite a part without rows that changed); only the parts
        named in `files`, when given (the others are not opened)."""
        schema, parts = self._parts(table, lo, hi)
        if files is not None:
            parts = [p for p in parts if p.file in files]
        lf = self._scan_with_part(table, schema, parts)
        return lf.filter(pl.col("bucket").is_between(lo, hi))

    def visitor_rows(
        self,
        table: str,
        lo: int,
        hi: int,
        visitors: pl.Series | None,
        keep: pl.Expr | None = None,
        skip: Collection[str] = (),
        positions: bool = False,
    ) -> pl.DataFrame:
        """`scan_parts(table, lo, hi)` of the `visitors` (customer ids; None: everyone),
        without the columns in `skip`, and of those rows only the ones `keep` is true for,
        when given (applied in the scan, so the rows it leaves out are never gathered).
        With `positions`, each row's number in its part too (`_at`: `part_values` reads
        the columns skipped of the rows that need them).

        Polars decodes the filter's columns first and the others for the matching rows
        only, unless a nested column (the index's `traits`, the sessions' lists) is read:
        then it decodes every column of every row group it opens. So without one, the
        parts are read in one filtered scan. With one, which rows of each part are the
        visitors' is read first, from the visitor column alone: when they are spread over
        most of the parts that hold any (visitors who come back: a day's visitors are in
        every part), those parts are read in one scan; when they are a few spans (new
        visitors arriving), only each part's span is read, and the big parts that hold
        none of them are not opened for more than that."""
        schema, parts = self._parts(table, lo, hi)
        cols = [c for c in schema if c not in skip]
        mine = pl.col("bucket").is_between(lo, hi)
        if visitors is not None:
            mine = mine & pl.col("customer_id").is_in(visitors.implode())
        if keep is not None:
            mine = mine & keep
        out = [*cols, "_part", *(["_at"] if positions else [])]
        if visitors is None or not any(schema[c].is_nested() for c in cols):
            lf = self._scan_with_part(table, schema, parts, positions)
            return lf.filter(mine).select(out).collect(engine="in-memory")
        scans = [_scan_files([self.dir / table / p.file], schema) for p in parts]
        spans = collect_side_by_side(
            [
                sc.with_row_index("_r")
                .filter(mine)
                .select(lo=pl.col("_r").min(), hi=pl.col("_r").max())
                for sc in scans
            ]
        )
        held = [
            (p, sc, int(span[0, "lo"]), int(span[0, "hi"]))
            for p, sc, span in zip(parts, scans, spans, strict=True)
            if span[0, "lo"] is not None
        ]
        if not held:
            empty = {**schema, "_part": pl.String(), "_at": pl.UInt32()}
            return pl.DataFrame(schema={c: empty[c] for c in out})
        spanned = sum(last - first + 1 for _, _, first, last in held)
        if spanned * 2 > sum(p.rows for p, _, _, _ in held):
            whole = self._scan_with_part(table, schema, [p for p, _, _, _ in held], positions)
            return whole.filter(mine).select(out).collect(engine="in-memory")
        frames = [
            sc.with_row_index("_at")
            .slice(first, last - first + 1)
            .filter(mine)
            .with_columns(pl.col("_at").cast(pl.UInt32), _part=pl.lit(p.file))
            .select(out)
            for p, sc, first, last in held
        ]
        return pl.concat(frames, how="vertical").collect(engine="in-memory")

    def part_values(self, table: str, rows: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """The `columns` of `table`'s rows at `rows` (`_part`, `_at`: see visitor_rows), in
        that order."""
        cols = list(columns)
        schema, _ = self._parts(table, 0, 65535)
        out = {"_part": pl.String(), "_at": pl.UInt32(), **{c: schema[c] for c in cols}}
        if rows.height == 0:
            return pl.DataFrame(schema=out)
        sizes = {p.file: p.rows for p in self.manifest.parts_of(table)}
        queries: list[pl.LazyFrame] = []
        for (name,), part in rows.group_by("_part", maintain_order=False):
            wanted = part.get_column("_at").unique().sort()
            base = _scan_files([self.part_path(table, str(name))], schema)
            queries += [
                q.rename({"row": "_at"}).with_columns(_part=pl.lit(name, pl.String))
                for q in _rows_at(base, wanted, sizes.get(str(name), 1), cols)
            ]
        found = pl.concat(collect_side_by_side(queries), how="vertical").select(list(out))
        return rows.select("_part", "_at").join(
            found, on=["_part", "_at"], how="left", maintain_order="left"
        )

    def sessions_with_prefix(
        self, prefixes: Sequence[str], columns: Sequence[str] = (), limit: int | None = None
    ) -> pl.DataFrame:
        """The sessions whose id starts with one of `prefixes`, sorted by id (the first
        `limit`): their `id` and `columns`. Each part's id directory (PartInfo.ids) is read
        by range, so a prefix costs one row group of each part, however big the store;
        parts without one (an earlier jtrack's) have their ids scanned."""
        wanted = sorted(set(prefixes))
        cols = [c for c in columns if c != "id"]
        schema = {"id": pl.String(), **{c: STORED_SESSION_SCHEMA[c] for c in cols}}
        parts = self.manifest.parts_of("sessions")
        if not wanted or not parts:
            return pl.DataFrame(schema=schema)
        sid = pl.col("id")
        if len(wanted) <= _FEW_PREFIXES:
            match = pl.any_horizontal([sid.str.starts_with(p) for p in wanted])
            ranges = []
            for p in wanted:
                upper = _after(p)
                ranges.append((sid >= p) & (sid < upper) if upper is not None else sid >= p)
            # the ranges skip row groups by their statistics (with `match` beside them in
            # the scan, Polars reads more); `match` then keeps the ids that start alike
            found = functools.reduce(operator.or_, ranges)
        else:  # every id is read: compared by length, not prefix by prefix
            by_length: dict[int, list[str]] = {}
            for p in wanted:
                by_length.setdefault(len(p), []).append(p)
            match = pl.any_horizontal(
                [
                    sid.str.slice(0, n).is_in(pl.Series(ps, dtype=pl.String).implode())
                    for n, ps in by_length.items()
                ]
            )
            found = match
        queries = []
        dirs = {str(self.dir / p.ids): p.file for p in parts if p.ids}
        if dirs:  # one scan of them all (a scan per file costs more than the reading)
            scan = pl.scan_parquet(
                list(dirs), hive_partitioning=False, glob=False, include_file_paths="_path"
            )
            part = pl.col("_path").replace_strict(dirs, return_dtype=pl.String)
            queries.append(scan.filter(found).select("id", _part=part, _at=pl.col("row")))
        older = [p for p in parts if not p.ids]
        if older:
            scan = self._scan_with_part("sessions", STORED_SESSION_SCHEMA, older, positions=True)
            queries.append(scan.filter(match).select("id", "_part", "_at"))
        hits = pl.concat(collect_side_by_side(queries), how="vertical").filter(match).sort("id")
        if limit is not None:
            hits = hits.head(limit)
        if not cols:
            return hits.select("id")
        values = self.part_values("sessions", hits.select("_part", "_at"), cols)
        return pl.concat([hits.select("id"), values.select(cols)], how="horizontal")

    def part_path(self, table: str, name: str) -> Path:
        return self.dir / table / name

    def _visitor(self, lf: pl.LazyFrame, customer_id: str | None) -> pl.LazyFrame:
        if customer_id is None:
            return lf
        b = bucket_of(customer_id, self.buckets)
        return lf.filter((pl.col("bucket") == b) & (pl.col("customer_id") == customer_id))

    # ------------------------------------------------------------------ tables

    def scan_index(self, customer_id: str | None = None) -> pl.LazyFrame:
        """The index (INDEX_SCHEMA: `jtrack schema --index`), one narrow row per kept event,
        optionally one visitor's rows (`customer_id` exactly as stored). A LazyFrame: collect
        it while the snapshot is held."""
        return self._visitor(self._scan("index", INDEX_SCHEMA), customer_id)

    def event_keys(self) -> pl.DataFrame:
        """xxh3_64 of the event id (`_h`) and `created_date` of every index row, in no
        particular order: each part's event keys (PartInfo.keys; the ids of a part an
        earlier jtrack wrote are hashed). For a process that runs again and again (`jtrack
        watch`) they are kept per part file (its name, device, inode, size and
        modification time: a file written again is another file) and only new parts are
        read; parts no longer in the version are forgotten, so what is kept is 16 bytes per
        event of the version last asked."""
        import polars_hash  # noqa: F401  (registers the .nchash namespace)

        hashed = pl.col("event_id").nchash.xxh3_64().alias("_h")  # type: ignore[attr-defined]
        live: list[tuple[str, int, int, int, int]] = []
        missing: dict[tuple[str, int, int, int, int], pl.LazyFrame] = {}
        for p in self.manifest.parts_of("index"):
            path = self.part_path("index", p.file)
            st = path.stat()
            key = (p.file, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            live.append(key)
            if key in _KEYS:
                continue
            if p.keys:
                scan = pl.scan_parquet(self.dir / p.keys, hive_partitioning=False, glob=False)
                missing[key] = scan.select(pl.col("event_hash").alias("_h"), "created_date")
            else:
                scan = pl.scan_parquet(path, hive_partitioning=False, glob=False)
                missing[key] = scan.select(hashed, "created_date")
        read = collect_side_by_side(list(missing.values()))  # side by side
        _KEYS.update(zip(missing, read, strict=True))
        for key in set(_KEYS) - set(live):
            del _KEYS[key]
        if not live:
            return pl.DataFrame(schema={"_h": pl.UInt64(), "created_date": UTC_US})
        return pl.concat([_KEYS[key] for key in live], rechunk=False)

    def scan_sessions(self, customer_id: str | None = None, bucket: bool = False) -> pl.LazyFrame:
        """The session table (SESSION_SCHEMA: `jtrack schema --sessions`; with `bucket=True`
        the stored bucket too), optionally one visitor's sessions (`customer_id` exactly as
        stored, never a prefix). A LazyFrame: collect it while the snapshot is held."""
        lf = self._visitor(self._scan("sessions", STORED_SESSION_SCHEMA), customer_id)
        return lf if bucket else lf.drop("bucket")

    def scan_events(
        self, customer_id: str | None = None, columns: Sequence[str] | None = None
    ) -> pl.LazyFrame:
        """Events with `session_id` and `session_type` (STORED_EVENT_SCHEMA or `columns`),
        in the index's order, optionally one visitor's (`customer_id` exactly as stored, never
        a prefix). Columns the index holds are read from it; the others from the segments,
        by position. A LazyFrame: collect it while the snapshot is held."""
        if isinstance(columns, str):  # one column, not its letters
            columns = [columns]
        wanted = list(columns) if columns is not None else list(STORED_EVENT_SCHEMA)
        unknown = [c for c in wanted if c not in STORED_EVENT_SCHEMA]
        if unknown:
            raise UsageError(f"no event column {unknown[0]!r}", hint="see `jtrack schema`")
        wide = _wide(wanted)
        index = self._with_class(self.scan_index(customer_id), wanted, customer_id)
        if not wide:
            return index.select(wanted)
        if customer_id is not None:
            rows = index.collect(engine="in-memory")
            return self._with_wide(rows, wide).select(wanted).lazy()
        segments = self._segments_lazy(wide)
        return index.join(
            segments, on=["segment", "row"], how="left", maintain_order="left"
        ).select(wanted)

    def events(
        self,
        columns: Sequence[str] | None = None,
        customer_id: str | None = None,
        session_ids: Sequence[str] | pl.Series | None = None,
        wide_where: pl.Expr | None = None,
    ) -> pl.DataFrame:
        """scan_events, eagerly, optionally only some sessions (of one visitor; whole ids,
        compared exactly: a prefix matches nothing). With
        `wide_where` (an expression of the index's columns), the columns kept in the
        segments are read only for the rows it selects, null for the others: a period's few
        segment events, not every event (whose positions are all over the segments)."""
        if isinstance(columns, str):  # one column, not its letters
            columns = [columns]
        wanted = list(columns) if columns is not None else list(STORED_EVENT_SCHEMA)
        index = self.scan_index(customer_id)
        if session_ids is not None:
            ids = session_ids if isinstance(session_ids, pl.Series) else pl.Series(session_ids)
            index = index.filter(pl.col("session_id").is_in(ids.cast(pl.String).implode()))
        # only the index columns asked for, and those that find the rest (not every row's
        # traits: the index's widest column)
        used = {*wanted, "session_id", "segment", "row"}
        if wide_where is not None:
            used.update(wide_where.meta.root_names())
        index = index.select([c for c in INDEX_SCHEMA if c in used])
        rows = self._with_class(index, wanted, customer_id).collect(engine="in-memory")
        wide = _wide(wanted)
        if not wide:
            return rows.select(wanted)
        if wide_where is None:
            return self._with_wide(rows, wide).select(wanted)
        at = rows.filter(wide_where.fill_null(False)).select("segment", "row")
        got = self.wide_rows(at, wide)
        return rows.join(got, on=["segment", "row"], how="left", maintain_order="left").select(
            wanted
        )

    def _with_class(
        self, index: pl.LazyFrame, wanted: list[str], customer_id: str | None
    ) -> pl.LazyFrame:
        """`index` with its session's `traffic_class` when `wanted` (null for an event in no
        session), from the session table: the ids of the sessions that are not people's
        (few, as a rule) are read, and each event's session id looked up in them."""
        if "traffic_class" not in wanted:
            return index
        other = (
            self.scan_sessions(customer_id)
            .filter(pl.col("traffic_class").ne_missing(HUMAN))
            .select("id", "traffic_class")
            .collect(engine="in-memory")
        )
        sid = pl.col("session_id")
        cls: Any = pl.when(sid.is_null()).then(pl.lit(None, pl.String))
        for (name,), ids in other.group_by("traffic_class", maintain_order=True):
            cls = cls.when(sid.is_in(ids.get_column("id").implode())).then(pl.lit(name, pl.String))
        return index.with_columns(traffic_class=cls.otherwise(pl.lit(HUMAN)))

    def _with_wide(self, rows: pl.DataFrame, wide: list[str]) -> pl.DataFrame:
        got = self.wide_rows(rows.select("segment", "row"), wide)
        return pl.concat([rows, got.drop("segment", "row")], how="horizontal")

    def _segments_lazy(self, columns: list[str]) -> pl.LazyFrame:
        """`columns` of every segment's rows, with `row` (in its segment) and `segment`: one
        scan of them all (a scan per segment, put together, had Polars start a thread for
        each: past 512 segments, a year of nights, it warned of a deadlock). A row's number
        in its segment is its number in the scan less the rows of the segments before."""
        segs = self.manifest.segments
        if not segs:
            schema = {"row": pl.UInt32(), **{c: EVENT_SCHEMA[c] for c in columns}}
            return pl.LazyFrame(schema={**schema, "segment": pl.UInt32()})
        paths = [str(self.dir / SEGMENTS / s.file) for s in segs]
        starts = list(itertools.accumulate((s.rows for s in segs[:-1]), initial=0))
        path = pl.col("_path")
        scan = pl.scan_parquet(
            paths,
            hive_partitioning=False,
            glob=False,
            extra_columns="ignore",
            include_file_paths="_path",
            row_index_name="_at",
        )
        start = path.replace_strict(dict(zip(paths, starts, strict=True)), return_dtype=pl.UInt64)
        segment = dict(zip(paths, [s.id for s in segs], strict=True))
        return scan.select(
            (pl.col("_at").cast(pl.UInt64) - start).cast(pl.UInt32).alias("row"),
            *columns,
            path.replace_strict(segment, return_dtype=pl.UInt32).alias("segment"),
        )

    def wide_rows(self, positions: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """The `columns` of the events at `positions` (segment, row), in that order."""
        cols = list(columns)
        schema = {"segment": pl.UInt32(), "row": pl.UInt32(), **{c: EVENT_SCHEMA[c] for c in cols}}
        if positions.height == 0:
            return pl.DataFrame(schema=schema)
        queries: list[pl.LazyFrame] = []
        for (seg,), part in positions.group_by("segment", maintain_order=False):
            wanted = part.get_column("row").unique().sort()
            path = self.segment_file(int(seg))
            base = pl.scan_parquet(path, hive_partitioning=False, glob=False)
            queries += [
                q.with_columns(segment=pl.lit(seg, pl.UInt32))
                for q in _rows_at(base, wanted, self._segments[int(seg)].rows, cols)
            ]
        found = pl.concat(collect_side_by_side(queries), how="vertical").select(list(schema))
        return positions.select("segment", "row").join(
            found, on=["segment", "row"], how="left", maintain_order="left"
        )

    def whole_rows(self, positions: pl.DataFrame) -> pl.DataFrame:
        """Every column the segments hold of the rows at `positions` (segment, row), in
        that order, with `segment` and `row` first: the rows as stored, a segment kept as
        its input was with its extra columns too (the canonical columns first, in their
        order, then the others by name; null where a row's segment has no such column)."""
        base_schema = {"segment": pl.UInt32(), "row": pl.UInt32()}
        if positions.height == 0:
            return pl.DataFrame(schema={**base_schema, **EVENT_SCHEMA})
        found: list[pl.DataFrame] = []
        for (seg,), part in positions.group_by("segment", maintain_order=True):
            wanted = part.get_column("row").unique().sort()
            base = pl.scan_parquet(self.segment_file(int(seg)), hive_partitioning=False, glob=False)
            cols = base.collect_schema().names()
            queries = _rows_at(base, wanted, self._segments[int(seg)].rows, cols)
            rows = pl.concat(collect_side_by_side(queries), how="vertical")
            found.append(rows.with_columns(segment=pl.lit(seg, pl.UInt32)))
        every = pl.concat(found, how="diagonal_relaxed")
        extra = sorted(c for c in every.columns if c not in EVENT_SCHEMA and c not in base_schema)
        every = every.with_columns(
            pl.lit(None, dtype).alias(c) for c, dtype in EVENT_SCHEMA.items() if c not in every
        )
        return positions.select("segment", "row").join(
            every.select(*base_schema, *EVENT_SCHEMA, *extra),
            on=["segment", "row"],
            how="left",
            maintain_order="left",
        )

    # ------------------------------------------------------------------ side files

    def rejects(self) -> pl.DataFrame:
        """Every rejected row of the inputs the store holds (file, line, field, reason, ...)."""
        from jtrack.read import REJECT_SCHEMA

        if not self.manifest.rejects:
            return pl.DataFrame(schema=REJECT_SCHEMA)
        path = self.dir / self.manifest.rejects
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row")

    def input_lines(self, positions: pl.Series) -> pl.Series:
        """The input line (or Parquet row, from 1) of the events at `positions` (`_pos`:
        segment << 32 | row), in that order; null where the segment does not say
        (SegmentInfo.lines)."""
        breaks = [
            (s.id, row, offset)
            for s in self.manifest.segments
            if s.lines is not None
            for row, offset in s.lines
        ]
        table = pl.DataFrame(
            breaks, schema={"segment": pl.UInt32, "row": pl.Int64, "_o": pl.Int64}, orient="row"
        ).sort("row")
        wanted = (
            pl.DataFrame({"_pos": positions.cast(pl.UInt64)})
            .with_row_index("_i")
            .select(
                "_i",
                (pl.col("_pos") // (1 << 32)).cast(pl.UInt32).alias("segment"),
                (pl.col("_pos") % (1 << 32)).cast(pl.Int64).alias("row"),
            )
            .sort("row")
        )
        found = wanted.join_asof(
            table, on="row", by="segment", strategy="backward", check_sortedness=False
        )
        return (
            found.sort("_i")
            .select((pl.col("row") + 1 + pl.col("_o")).alias("line"))
            .get_column("line")
        )

    def _named(self, rel: str, hint: str | None = None) -> Path:
        """The version's file `rel`, which its manifest names: never read as "none" when it
        is gone (a run would commit a store that lost what it held), but a StoreError that
        names it and `hint`, else a version without it."""
        path = self.dir / rel
        if path.is_file():
            return path
        if hint is not None:
            raise StoreError(f"{path}: a file of the store is missing", hint=hint)
        hint = "the store is damaged; `jtrack store rollback` picks a version"
        if self.dir.parent.name == VERSIONS:
            from jtrack.store.store import VERIFY_HINT, Store, damaged_hint

            with contextlib.suppress(Exception):  # (the plain hint, if the store says no more)
                held = self._store() if self._store is not None else None
                store = held if held is not None else Store(self.dir.parent.parent)
                hint = f"the store is damaged: {damaged_hint(store, self.dir.name, [rel])}"
                hint += VERIFY_HINT
        raise StoreError(f"{path}: a file of the store is missing", hint=hint)

    def held(self) -> pl.DataFrame | None:
        if not self.manifest.held:
            return None
        return pl.read_parquet(self._named(self.manifest.held), glob=False)

    def first_held(self) -> datetime | None:
        """The earliest time of the events held aside as far-future (None: none held)."""
        if not self.manifest.held:
            return None
        held = pl.scan_parquet(self._named(self.manifest.held), glob=False)
        first = held.select(pl.col("created_date").min()).collect(engine="in-memory").item()
        return first if isinstance(first, datetime) else None

    def duplicates(self) -> pl.DataFrame | None:
        """Every copy of the event ids delivered more than once (engine.run.DUPS_SCHEMA;
        None: none, as when the table is written whole and left without rows)."""
        lf = self.scan_duplicates()
        table = None if lf is None else lf.collect(engine="in-memory")
        return table if table is not None and table.height else None

    def scan_duplicates(self, ordered: bool = True) -> pl.LazyFrame | None:
        """`duplicates`, lazily (None: the version records none). The table is a file and
        the deltas later runs wrote (Manifest.duplicate_deltas): a row is left out when a
        later file has its event id, and so are the rows without a status (an id whose
        copies a delta took out). `ordered`: by event id then position, as one file is
        written; else in no particular order, each file read as the query goes (the
        deltas' ids are read first: they are few, see engine.run.DELTA_SHARE)."""
        files = self.duplicate_files()
        if not files:
            return None
        scans = [pl.scan_parquet(f, glob=False, hive_partitioning=False) for f in files]
        if len(scans) == 1:
            return scans[0]
        out: list[pl.LazyFrame] = []
        later: pl.Series | None = None  # the ids of the files after the one at hand
        for scan in reversed(scans):
            out.append(
                scan if later is None else scan.filter(~pl.col("event_id").is_in(later.implode()))
            )
            if scan is scans[0]:
                break
            ids = scan.select("event_id").collect(engine="in-memory").get_column("event_id")
            later = ids if later is None else pl.concat([later, ids])
            later = later.unique()
        lf = pl.concat(out[::-1], how="vertical").filter(pl.col("status").is_not_null())
        return lf.sort("event_id", "_pos") if ordered else lf

    def duplicate_files(self) -> list[Path]:
        """The duplicates table's files: its base file, then its deltas, oldest first."""
        m = self.manifest
        rels = ([m.duplicates] if m.duplicates else []) + list(m.duplicate_deltas)
        return [self._named(rel) for rel in rels]

    def duplicate_file_rows(self) -> list[int]:
        """The rows of each of duplicate_files (their footers')."""
        return [
            int(pl.scan_parquet(f, glob=False).select(pl.len()).collect(engine="in-memory").item())
            for f in self.duplicate_files()
        ]

    def scan_duplicate_deltas(self) -> list[pl.LazyFrame]:
        """The duplicates table's delta files, oldest first, each as written (its rows
        without a status too: see scan_duplicates)."""
        return [
            pl.scan_parquet(self._named(rel), glob=False, hive_partitioning=False)
            for rel in self.manifest.duplicate_deltas
        ]

    def scan_part(self, table: str, name: str) -> pl.LazyFrame:
        """One part of `table` as it was written (every column it holds, in file order):
        for a writer that writes it again without some rows."""
        return pl.scan_parquet(self.part_path(table, name), glob=False, hive_partitioning=False)

    def contacts_book(self) -> pl.DataFrame | None:
        c = self.manifest.contacts
        if c is None or not c.book:
            return None
        lost = (  # (the book alone: no need to roll back or rebuild)
            "the store's copy of its contacts file is gone: `jtrack sessionize --no-contacts`, "
            "then `jtrack sessionize --contacts FILE`, writes it again"
        )
        return pl.read_parquet(self._named(c.book, lost), glob=False)


def _after(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (None: there is none,
    or it cannot be written)."""
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if 0xD800 <= code < 0xE000:  # (surrogates are not characters)
            code = 0xE000
        if code < 0x110000:
            return prefix[:i] + chr(code)
    return None


def _wide(columns: list[str]) -> list[str]:
    """The event columns of `columns` read from the segments (not the index, and not the
    session's class: Snapshot._with_class)."""
    return [c for c in columns if c not in INDEX_SCHEMA and c != "traffic_class"]


def _rows_at(
    base: pl.LazyFrame, wanted: pl.Series, total: int, cols: list[str]
) -> list[pl.LazyFrame]:
    """Queries of the `cols` of a file's rows `wanted` (sorted row numbers; `row`): the
    whole file when they are many of its `total` rows, else the spans that hold them."""
    whole = wanted.len() > _WHOLE_SHARE * total
    spans: list[tuple[int, int | None]] = [(0, None)] if whole else _spans(wanted)
    return [
        (base if length is None else base.slice(start, length))
        .select(cols)
        .with_row_index("row", offset=start)
        .with_columns(pl.col("row").cast(pl.UInt32))
        .join(pl.LazyFrame({"row": wanted.cast(pl.UInt32)}), on="row", how="semi")
        for start, length in spans
    ]


def _spans(rows: pl.Series) -> list[tuple[int, int | None]]:
    """Slices (start, length) covering sorted row numbers, split where they are far apart
    (one per span, not per row: worked out in columns)."""
    r = rows.cast(pl.Int64)
    span = (r.diff().fill_null(0) > _SLICE_GAP).cum_sum()
    ends = (
        pl.DataFrame({"r": r, "span": span})
        .group_by("span", maintain_order=True)
        .agg(start=pl.col("r").first(), last=pl.col("r").last())
    )
    return [(int(a), int(b) - int(a) + 1) for a, b in ends.select("start", "last").iter_rows()]


def _scan_files(
    files: Sequence[str | Path], schema: dict[str, pl.DataType], **kw: Any
) -> pl.LazyFrame:
    """A scan of store files by their names (never patterns) with the table's schema (an
    index part an earlier jtrack wrote also holds its session's traffic_class: ignored)."""
    return pl.scan_parquet(
        [str(f) for f in files],
        hive_partitioning=False,
        schema=schema,
        extra_columns="ignore",
        glob=False,
        **kw,
    )


__all__ = ["STORED_SESSION_SCHEMA", "Snapshot"]
