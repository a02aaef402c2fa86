"""Sessionize inputs larger than memory: stage rows by visitor bucket, then one bucket at a time.

The sessionizer is a pure function of one visitor's events, so the run is split by the store's
own visitor buckets (`xxh3_64(customer_id) % buckets`) and memory holds one bucket, not the input:

1. stage: sources are read a chunk at a time and validated exactly as `read_events` does.
   Rejected rows are staged for the rejects file; accepted rows go to their visitor bucket's
   staging files under `STORE/.stage-<run>/`, with `_ord` (the row's position in the run).
   A narrow copy (event id, time, `_ord`, bucket, activity) is split by a hash of the event
   id, so redeliveries of one event meet in one partition whatever their visitor.
2. decide: the far-future cut (`ingest.far_future_cut`, on a lazy scan of the times), which
   copy of each redelivered event is kept (the first by created_date, then input order: the
   rule of `sessionize.deduplicate`), and the end of the data (the contacts' clock).
3. sessionize: per visitor bucket, the kept rows are sessionized, contacts resolved, and the
   bucket written to the new snapshot.

Every figure and every stored row equals what the in-memory path (`pipeline.sessionize_sources`)
gives with the same number of buckets; tests check that. Staging files are removed at the end,
and a crashed run's leftovers by the next run (`Store._remove_stale`). Imports Polars only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.sessionize import Sessionized, counts_as_activity, sessionize
from jtrack.errors import StoreError
from jtrack.options import SessionizeOptions
from jtrack.read import (
    RAW,
    REASON,
    REASON_FIELD,
    ROW_SCHEMA,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    OnError,
    ReadResult,
    Source,
    far_future_cut,
    iter_source_rows,
    rejected_row_error,
    rejects_frame,
)
from jtrack.schema import EVENT_SCHEMA, STORED_EVENT_SCHEMA
from jtrack.store import SnapshotWriter, Store, bucket_expr

Progress = Callable[[str], None]

#: Columns of a staged event row: the canonical event plus where it came from.
_STAGED = [*EVENT_SCHEMA, SRC_FILE, SRC_LINE, "_src", "_ord"]
_CONTENT = list(EVENT_SCHEMA)  # what "the same contents" means for a redelivered event
ID_PART_ROWS = 2_000_000  # narrow id rows per deduplication partition


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # lz4 without statistics: the cheapest Parquet to write that still packs strings well
    frame.write_parquet(path, compression="lz4", statistics=False)


def _read(paths: list[Path], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not paths:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_parquet(p) for p in paths], how="vertical")


class _Appender:
    """One Parquet file per key (a visitor bucket, an id partition), one row group appended per
    chunk: the number of files stays the number of keys however many chunks are read (many
    small files or row groups cost far more to write than the same rows in a few)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writers: dict[int, Any] = {}
        self.paths: dict[int, Path] = {}

    def append(self, frame: pl.DataFrame, key: str) -> None:
        """Append the rows of `frame` to the file of their `key` (input order is kept).
        Rows are copied one key at a time, so the chunk is never copied whole."""
        import pyarrow.parquet as pq

        order = frame.select(pl.col(key), pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i")).sort(
            key, maintain_order=True
        )
        runs = order.group_by(key, maintain_order=True).len().rows()
        index = order.get_column("_i")
        data = frame.drop(key)
        offset = 0
        for k, n in runs:
            part = data[index.slice(offset, n)].to_arrow(compat_level=pl.CompatLevel.oldest())
            offset += n
            writer = self.writers.get(k)
            if writer is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / f"{k:05d}.parquet"
                writer = pq.ParquetWriter(
                    path, part.schema, compression="lz4", write_statistics=False
                )
                self.writers[k], self.paths[k] = writer, path
            elif part.schema != writer.schema:
                part = part.cast(writer.schema)
            writer.write_table(part)
            del part

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


@dataclass
class _Stage:
    """The staging directory of one run and what was staged so far."""

    root: Path
    buckets: int
    id_parts: int = 1
    chunks: int = 0
    rows: int = 0
    accepted: int = 0
    reject_files: list[Path] = field(default_factory=list)
    raw_files: list[Path] = field(default_factory=list)
    events: _Appender = field(init=False)
    ids: _Appender = field(init=False)

    def __post_init__(self) -> None:
        self.events = _Appender(self.root / "events")
        self.ids = _Appender(self.root / "ids")

    @property
    def bucket_files(self) -> dict[int, Path]:
        return self.events.paths

    @property
    def id_files(self) -> dict[int, Path]:
        return self.ids.paths

    def add(self, rows: pl.DataFrame) -> None:
        """Stage one chunk of ROW_SCHEMA rows."""
        k = self.chunks
        self.chunks += 1
        rows = rows.with_columns(
            pl.int_range(self.rows, self.rows + rows.height, dtype=pl.UInt64).alias("_ord")
        )
        self.rows += rows.height
        rejected = rows.get_column(REASON).is_not_null()
        good = rows
        if rejected.any():  # (filtering copies every column: only when there is a reject)
            path = self.root / "rejects" / f"c{k:06d}.parquet"
            _write(rows.filter(rejected).drop("_ord"), path)
            self.reject_files.append(path)
            good = rows.filter(~rejected)
        del rows
        if good.height == 0:
            return
        self.accepted += good.height
        if good[RAW].null_count() < good.height:  # JSON lines keep their text for rejects
            path = self.root / "raw" / f"c{k:06d}.parquet"
            _write(good.select("_ord", RAW), path)
            self.raw_files.append(path)
        good = good.select(_STAGED).with_columns(bucket_expr(self.buckets).alias("_b"))
        self.ids.append(
            good.select(
                "event_id",
                "created_date",
                "_ord",
                "_b",
                "_src",
                SRC_LINE,
                counts_as_activity().alias("_act"),
                _id_part(self.id_parts),
            ),
            "_p",
        )
        self.events.append(good, "_b")

    def close(self) -> None:
        self.events.close()
        self.ids.close()

    def all_id_files(self) -> list[Path]:
        return list(self.id_files.values())


def _id_part(buckets: int) -> pl.Expr:
    h = pl.col("event_id").nchash.xxh3_64()  # type: ignore[attr-defined]
    return (h % buckets).cast(pl.UInt32).alias("_p")


@dataclass
class _Decisions:
    """What the whole run decided before any bucket is sessionized."""

    cut: tuple[datetime, str] | None
    drop: dict[int, pl.Series]  # bucket -> `_ord`s of redelivered copies left out
    involved: dict[int, pl.Series]  # bucket -> `_ord`s of every copy of a redelivered event
    duplicates: int
    first_event: datetime | None
    last_event: datetime | None
    end_of_data: datetime | None  # latest activity kept (None: no activity at all)
    first_far: tuple[int, int] | None  # (_src, _line) of the first far-future row


def _decide(stage: _Stage) -> _Decisions:
    files = stage.all_id_files()
    schema = {
        "event_id": pl.String(),
        "created_date": pl.Datetime("us", "UTC"),
        "_ord": pl.UInt64(),
        "_b": pl.UInt32(),
        "_src": pl.UInt32(),
        SRC_LINE: pl.Int64(),
        "_act": pl.Boolean(),
    }
    scan = (pl.scan_parquet(files) if files else pl.LazyFrame(schema=schema)).select("created_date")
    cut = far_future_cut(scan)
    drop: list[pl.DataFrame] = []
    involved: list[pl.DataFrame] = []
    first: datetime | None = None
    last: datetime | None = None
    end: datetime | None = None
    first_far: tuple[int, int] | None = None
    for p in sorted(stage.id_files):
        ids = _read([stage.id_files[p]], schema)
        if cut is not None:
            far = ids.filter(pl.col("created_date") >= cut[0])
            if far.height:
                row = far.sort("_src", SRC_LINE).row(0, named=True)
                here = (int(row["_src"]), int(row[SRC_LINE]))
                first_far = here if first_far is None else min(first_far, here)
            ids = ids.filter(pl.col("created_date") < cut[0])
        dups = ids.filter(pl.col("event_id").is_duplicated())
        dropped = (
            dups.sort("event_id", "created_date", "_ord")
            .filter(pl.col("event_id").is_first_distinct().not_())
            .select("_ord", "_b")
        )
        if dups.height:
            involved.append(dups.select("_ord", "_b"))
            drop.append(dropped)
            ids = ids.filter(pl.col("_ord").is_in(dropped.get_column("_ord").implode()).not_())
        stats = ids.select(
            lo=pl.col("created_date").min(),
            hi=pl.col("created_date").max(),
            act=pl.col("created_date").filter(pl.col("_act")).max(),
        ).row(0)
        first = _min(first, stats[0])
        last = _max(last, stats[1])
        end = _max(end, stats[2])

    def by_bucket(frames: list[pl.DataFrame]) -> dict[int, pl.Series]:
        if not frames:
            return {}
        allrows = pl.concat(frames)
        return {
            int(b): part.get_column("_ord").sort()
            for (b,), part in allrows.partition_by("_b", as_dict=True).items()
        }

    duplicates = sum(f.height for f in drop)
    return _Decisions(
        cut, by_bucket(drop), by_bucket(involved), duplicates, first, last, end, first_far
    )


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Totals:
    events_kept: int = 0
    sessions: int = 0
    visitors: int = 0
    unattached: int = 0
    states: dict[str, int] = field(default_factory=dict)
    contact_conflicts: int = 0
    conflict_hashes: list[pl.DataFrame] = field(default_factory=list)
    far: list[pl.DataFrame] = field(default_factory=list)


def estimate_rows(sources: Sequence[Source]) -> int:
    """About how many rows the sources hold: Parquet footers are exact; JSON is guessed from
    its size (~400 bytes a line, ten times that when compressed)."""
    total = 0
    for src in sources:
        if src.data is not None:
            total += len(src.data) // 400
            continue
        assert src.path is not None
        try:
            with open(src.path, "rb") as fh:
                head = fh.read(4)
            if head == b"PAR1":
                import pyarrow.parquet as pq

                total += int(pq.read_metadata(src.path).num_rows)
                continue
            size = src.path.stat().st_size
        except (OSError, ValueError):
            continue  # the read itself reports an unreadable file
        compressed = head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd"
        total += size * (10 if compressed else 1) // 400
    return total


@dataclass
class PartitionedRun:
    """What a partitioned run read, decided and wrote (the summary is built by the caller)."""

    read: ReadResult
    duplicates: int
    conflicts: pl.DataFrame
    events_kept: int
    sessions: int
    visitors: int
    unattached: int
    first_event: datetime | None
    last_event: datetime | None
    contacts: dict[str, Any] | None
    contacts_invalid: pl.DataFrame | None
    buckets: int


def sessionize_partitioned(
    srcs: Sequence[Source],
    store: Store,
    *,
    buckets: int,
    chunk_rows: int,
    options: SessionizeOptions,
    on_error: OnError = "fail",
    max_line_bytes: int | None = None,
    progress: Progress | None = None,
    contacts: str | os.PathLike[str] | None = None,
    default_region: str | None = None,
    manifest: Callable[[PartitionedRun], dict[str, Any]],
    estimated_rows: int = 0,
) -> PartitionedRun:
    """Sessionize the sources one visitor bucket at a time into a new snapshot of `store`,
    made current at the end (or not at all). The caller holds the store's lock; `manifest`
    builds the snapshot's manifest from the run."""
    say = progress or (lambda _msg: None)
    writer = store.begin_snapshot()  # also clears what crashed runs left behind
    # redeliveries are found per id partition of ~2M narrow rows
    stage = _Stage(
        store.root / f".stage-{uuid.uuid4().hex[:12]}",
        buckets,
        id_parts=max(1, -(-estimated_rows // ID_PART_ROWS)),
    )
    try:
        try:
            files = _stage_sources(stage, list(srcs), chunk_rows, max_line_bytes, say)
            stage.close()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                stage.close()
            if isinstance(exc, OSError) or (
                isinstance(exc, pl.exceptions.ComputeError) and "os error" in str(exc)
            ):
                reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
                raise StoreError(
                    f"{stage.root}: could not write the staged rows ({reason or exc})",
                    hint="free some disk space (about 130 MB per million events) or choose "
                    "another --store; the previous store is intact",
                ) from exc
            raise
        say("deduplicating")
        decisions = _decide(stage)
        rejects = _rejects(stage, decisions, files, on_error)
        return _sessionize_buckets(
            stage,
            writer,
            decisions,
            rejects,
            files,
            options=options,
            contacts=contacts,
            default_region=default_region,
            manifest=manifest,
            say=say,
        )
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(stage.root, ignore_errors=True)


def _stage_sources(
    stage: _Stage,
    srcs: list[Source],
    chunk_rows: int,
    max_line_bytes: int | None,
    say: Progress,
) -> list[FileStats]:
    files: list[FileStats] = []
    kwargs = {} if max_line_bytes is None else {"max_line_bytes": max_line_bytes}
    for i, src in enumerate(srcs):
        last: FileStats | None = None
        for rows, stats in iter_source_rows(src, i, chunk_rows, **kwargs):
            stage.add(rows)
            last = stats
            say(f"reading ({stage.rows:,} rows)")
        assert last is not None
        files.append(last)
    return files


def _rejects(
    stage: _Stage, decisions: _Decisions, files: list[FileStats], on_error: OnError
) -> pl.DataFrame:
    """Rows rejected while reading (far-future rows are added bucket by bucket later);
    with on_error="fail", the run's first rejected row raises, as read_events does."""
    staged = _read(stage.reject_files, ROW_SCHEMA)
    if on_error == "fail" and (staged.height or decisions.first_far is not None):
        first_bad = staged.row(0, named=True) if staged.height else None
        far = decisions.first_far
        if first_bad is None or (
            far is not None and far < (first_bad["_src"], first_bad[SRC_LINE])
        ):
            assert far is not None and decisions.cut is not None
            first_bad = {
                SRC_FILE: files[far[0]].file,
                SRC_LINE: far[1],
                REASON: "far_future",
                REASON_FIELD: "created_date",
                "_detail": decisions.cut[1],
            }
        raise rejected_row_error(first_bad)
    return staged


def _sessionize_buckets(
    stage: _Stage,
    writer: SnapshotWriter,
    decisions: _Decisions,
    staged_rejects: pl.DataFrame,
    files: list[FileStats],
    *,
    options: SessionizeOptions,
    contacts: str | os.PathLike[str] | None,
    default_region: str | None,
    manifest: Callable[[PartitionedRun], dict[str, Any]],
    say: Progress,
) -> PartitionedRun:
    from jtrack.core.contacts import (
        INVALID_SCHEMA,
        file_digest,
        load_contacts,
        resolve_visitors,
        sessions_with_contacts,
    )

    book, invalid = (
        load_contacts(contacts, default_region)
        if contacts is not None
        else (None, pl.DataFrame(schema=INVALID_SCHEMA))
    )
    totals = _Totals()
    staged_schema = {
        **{c: ROW_SCHEMA[c] for c in _STAGED if c != "_ord"},
        "_ord": pl.UInt64(),
    }
    as_of = None
    ttl = None
    for n, b in enumerate(sorted(stage.bucket_files), start=1):
        say(f"sessionizing bucket {n} of {len(stage.bucket_files)}")
        # one contiguous copy (the file's row groups arrive as pieces; gathers need one)
        rows = _read([stage.bucket_files[b]], staged_schema).rechunk()
        if decisions.cut is not None:
            far = rows.filter(pl.col("created_date") >= decisions.cut[0])
            if far.height:
                totals.far.append(far.select(SRC_FILE, SRC_LINE, "_src", "_ord"))
                rows = rows.filter(pl.col("created_date") < decisions.cut[0])
        involved = decisions.involved.get(b)
        if involved is not None:
            totals.conflict_hashes.append(
                rows.filter(pl.col("_ord").is_in(involved.implode())).select(
                    "event_id", _h=pl.struct(_CONTENT).hash(0)
                )
            )
        drop = decisions.drop.get(b)
        keep = (
            None
            if drop is None
            else rows.select(pl.col("_ord").is_in(drop.implode()).not_()).to_series()
        )
        result = sessionize(rows.drop("_src", "_ord"), options, keep=keep)
        del rows, keep  # the wide input is not needed past here (half the bucket's memory)
        res = resolve_visitors(
            result.sessions,
            result.events,
            book,
            default_region=default_region,
            as_of=decisions.end_of_data,
        )
        as_of, ttl = res.as_of, res.ttl
        result.sessions = sessions_with_contacts(result.sessions, res)
        _count(totals, result, res)
        events = result.events.select(list(STORED_EVENT_SCHEMA))
        if events.height:
            writer.write_bucket("events", b, events)
        if result.sessions.height:
            writer.write_bucket("sessions", b, result.sessions)
        del result, events, res
    rejects = _final_rejects(stage, staged_rejects, decisions, totals)
    for st in files:
        st.rows_rejected = 0
    if rejects.height:
        per = rejects.group_by("_src").len().rows()
        for i, k in per:
            files[int(i)].rows_rejected = int(k)
    conflicts = _conflicts(totals.conflict_hashes)
    contact_counts: dict[str, Any] | None = None
    if contacts is not None:
        from jtrack.engine.pipeline import _iso

        if as_of is None:  # no bucket at all: the clock of an empty run
            from jtrack.core.contacts import DEFAULT_TTL, _end_of_data

            as_of = _end_of_data(pl.DataFrame({"ended_date": []}))
            ttl = DEFAULT_TTL
        assert ttl is not None
        contact_counts = {
            "file": str(contacts),
            "sha256": file_digest(contacts),
            "contacts": book.height if book is not None else 0,
            "invalid_entries": invalid.height,
            "visitors_known": totals.states.get("known", 0),
            "visitors_temporary": totals.states.get("temporary", 0),
            "visitors_expired": totals.states.get("expired", 0),
            "conflicts": totals.contact_conflicts,
            "as_of": _iso(as_of),
            "ttl_seconds": ttl.total_seconds(),
        }
    warnings = [
        f"{st.file}: the file holds no events (it is empty)" for st in files if st.rows_read == 0
    ]
    run = PartitionedRun(
        read=ReadResult(
            events=pl.DataFrame(schema={**EVENT_SCHEMA, SRC_FILE: pl.String()}),
            rejects=rejects_frame(rejects),
            files=files,
            warnings=warnings,
        ),
        duplicates=decisions.duplicates,
        conflicts=conflicts,
        events_kept=totals.events_kept,
        sessions=totals.sessions,
        visitors=totals.visitors,
        unattached=totals.unattached,
        first_event=decisions.first_event,
        last_event=decisions.last_event,
        contacts=contact_counts,
        contacts_invalid=invalid if contacts is not None else None,
        buckets=stage.buckets,
    )
    say("writing the store")
    writer.commit(manifest(run), stage.buckets)
    return run


def _count(totals: _Totals, result: Sessionized, res: Any) -> None:
    totals.events_kept += result.events.height
    totals.sessions += result.sessions.height
    # visitors with at least one session; a visitor lives in exactly one bucket
    totals.visitors += (
        int(result.sessions["customer_id"].n_unique()) if result.sessions.height else 0
    )
    totals.unattached += result.unattached
    counts = res.visitors["contact_state"].value_counts()
    for state, k in zip(counts["contact_state"].to_list(), counts["count"].to_list(), strict=True):
        totals.states[state] = totals.states.get(state, 0) + int(k)
    totals.contact_conflicts += int(res.conflicts["customer_id"].n_unique())


def _final_rejects(
    stage: _Stage, staged: pl.DataFrame, decisions: _Decisions, totals: _Totals
) -> pl.DataFrame:
    """Every rejected row in input order, far-future ones with their text where it was kept."""
    if not totals.far:
        return staged
    assert decisions.cut is not None
    far = pl.concat(totals.far)
    raw_schema = {"_ord": pl.UInt64(), RAW: pl.String()}
    raw = pl.scan_parquet(stage.raw_files) if stage.raw_files else pl.LazyFrame(schema=raw_schema)
    raw_far = raw.join(far.lazy().select("_ord"), on="_ord", how="semi").collect(engine="in-memory")
    far = far.join(raw_far, on="_ord", how="left").select(
        pl.col(SRC_FILE),
        pl.col(SRC_LINE),
        pl.lit("far_future").alias(REASON),
        pl.lit("created_date").alias(REASON_FIELD),
        pl.lit(decisions.cut[1]).alias("_detail"),
        pl.col(RAW),
        pl.col("_src"),
    )
    staged = staged.select(far.columns)
    both = pl.concat([staged, far.cast(staged.schema)])
    return both.sort("_src", SRC_LINE, maintain_order=True)


def _conflicts(hashes: list[pl.DataFrame]) -> pl.DataFrame:
    empty = pl.DataFrame(schema={"event_id": pl.String, "versions": pl.UInt32})
    if not hashes:
        return empty
    return (
        pl.concat(hashes)
        .group_by("event_id")
        .agg(versions=pl.col("_h").n_unique().cast(pl.UInt32))
        .filter(pl.col("versions") > 1)
        .sort("event_id")
    )


__all__ = ["PartitionedRun", "estimate_rows", "sessionize_partitioned"]
