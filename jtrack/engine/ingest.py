"""Reading a run's new inputs: segments written once, kernel rows split by visitor bucket.

Every new input becomes one segment of the new version: a canonical Parquet file is copied
as it is (validated from the few columns the sessionizer needs); any other input is read,
validated and written once as canonical rows in input order. Each row has a position
`_pos = segment << 32 | row`, which orders rows as the input did. The accepted rows' kernel
and context columns go to their visitor's work unit (a range of buckets), in memory or, when
the run is larger than memory allows, in staging files inside the version being written.
A compact id table (event id hash, time, position, bucket) stays in memory for the run-wide
decisions (duplicates, far-future rows). Imports Polars and PyArrow only.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from jtrack.checks import arrow_path
from jtrack.core.buckets import bucket_expr
from jtrack.core.sessionize import CONTEXT_COLUMNS
from jtrack.engine.erasure import Erasure
from jtrack.engine.inputs import Identity, piece_lines
from jtrack.engine.unit import rows_of
from jtrack.options import RunOptions
from jtrack.progress import ProgressFn, ProgressUpdate
from jtrack.read import (
    REASON,
    ROW_SCHEMA,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    SmallFiles,
    Source,
    iter_source_rows,
    rejected_row_error,
)
from jtrack.read.passthrough import canonical_parquet, iter_passthrough
from jtrack.schema import EVENT_SCHEMA, KERNEL_COLUMNS
from jtrack.store.manifest import InputFile, SegmentInfo
from jtrack.store.writer import (
    SEGMENT_ROW_GROUP,
    SegmentWriter,
    VersionWriter,
    copy_segment,
    disk_error,
    segment_without,
)

#: What a work unit holds of each accepted row: everything the kernel and the session
#: table read, its position, its bucket and where it came from (for far-future rejects).
ROW_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys([*KERNEL_COLUMNS, *CONTEXT_COLUMNS]))
UNIT_SCHEMA: dict[str, pl.DataType] = {
    **{c: EVENT_SCHEMA[c] for c in ROW_COLUMNS},
    "_pos": pl.UInt64(),
    "bucket": pl.UInt16(),
    SRC_LINE: pl.Int64(),
}
ID_SCHEMA: dict[str, pl.DataType] = {
    "_h": pl.UInt64(),
    "created_date": pl.Datetime("us", "UTC"),
    "_pos": pl.UInt64(),
    "bucket": pl.UInt16(),
}


#: A segment keeps at most this many changes of its rows' line offset (SegmentInfo.lines):
#: a file with more blank lines between its rows than that keeps none, and the reject of
#: one of its stored rows held aside by a later run names no line.
MAX_LINE_BREAKS = 1_000


class LineBreaks:
    """Where a segment's rows are in its input (SegmentInfo.lines), gathered as its rows
    are read: each row's input line less its row number changes only at a blank line."""

    def __init__(self) -> None:
        self.breaks: list[list[int]] | None = []

    def add(self, first_row: int, lines: pl.Series) -> None:
        """The input lines of rows first_row, first_row + 1, ..."""
        if self.breaks is None or lines.len() == 0:
            return
        if lines.null_count():
            self.breaks = None
            return
        first, last = int(lines[0]), int(lines[-1])
        if last - first == lines.len() - 1 and bool((lines.diff().drop_nulls() == 1).all()):
            # (consecutive lines, nearly always: one offset, no frame worked out; a folder of
            # small files paid 1 ms a file for it)
            self.extend([[first_row, first - first_row - 1]])
            return
        offset = lines.cast(pl.Int64) - pl.int_range(
            first_row + 1, first_row + 1 + lines.len(), dtype=pl.Int64, eager=True
        )
        prev = offset.shift(1)
        if self.breaks:
            prev = prev.fill_null(self.breaks[-1][1])
        changes = pl.DataFrame({"o": offset}).with_row_index("r", offset=first_row)
        changes = changes.filter(offset.ne_missing(prev))
        if changes.height > MAX_LINE_BREAKS:
            self.breaks = None
            return
        self.extend([[int(r), int(o)] for r, o in changes.iter_rows()])

    def extend(self, breaks: list[list[int]] | None) -> None:
        """The breaks of the rows that follow (another piece of the same segment)."""
        if self.breaks is None:
            return
        if breaks is None:
            self.breaks = None
            return
        for row, offset in breaks:
            if not self.breaks or self.breaks[-1][1] != offset:
                self.breaks.append([row, offset])
            if len(self.breaks) > MAX_LINE_BREAKS:
                self.breaks = None
                return

    def value(self) -> list[list[int]] | None:
        return self.breaks


def unit_ranges(buckets: int, units: int) -> list[tuple[int, int]]:
    """Contiguous bucket ranges [lo, hi] splitting the buckets into `units` work units."""
    units = max(1, min(units, buckets))
    bounds = [buckets * i // units for i in range(units + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(units)]


#: A unit's staged rows are written in files of at least this many rows (a run split
#: into many units would otherwise write each reading chunk's few rows of a unit on their
#: own: 1,700 rows at 100M events in 147 units, each costing 1.6x the time 6,000 rows do,
#: and the reads back 1.4x)...
STAGE_ROWS = 16_384
#: ... unless the rows held for that exceed this share of the memory limit: then the units
#: holding the most are written.
STAGE_SHARE = 4
#: Staged rows are written by this many threads, unit u's by thread u % STAGE_LANES (so each
#: unit's rows stay in input order). Encoding Parquet is the slow side of reading: at 100M
#: events one writer thread was busy 363 s, and the reading thread waited for it 60% of
#: the time, with the machine's second core mostly idle.
STAGE_LANES = 2


class UnitRows:
    """Accepted rows split by work unit: frames in memory, or Parquet files in `stage` (a
    file each time a unit's rows are written: `u{unit}-{n}.parquet`). Staged rows are held
    per unit until there are STAGE_ROWS of them (or the rows held reach `buffer_bytes`),
    then written in threads (STAGE_LANES) while the next chunks are read (two batches of
    writes in flight: `add` waits for the one before the last; `close` writes what is held
    and waits for all)."""

    def __init__(
        self, ranges: list[tuple[int, int]], stage: Path | None, buffer_bytes: int = 512 << 20
    ) -> None:
        self.ranges = ranges
        self.stage = stage
        self.buffer_bytes = buffer_bytes
        self._frames: list[list[pl.DataFrame]] = [[] for _ in ranges]
        self._held: list[list[pl.DataFrame]] = [[] for _ in ranges]
        self._held_rows = [0] * len(ranges)
        self._held_bytes = [0] * len(ranges)
        self._files: list[list[Path]] = [[] for _ in ranges]
        self._starts = pl.Series([lo for lo, _ in ranges], dtype=pl.UInt16)
        self._pools: list[ThreadPoolExecutor] = []
        self._inflight: list[Future[None]] = []  # the writes of the last `add`
        self._older: list[Future[None]] = []  # and of the one before

    def add(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        # (staged parts are sized by their rows: sizing each of 147 parts of a chunk took
        # 14 s of reading 100M events)
        row_bytes = rows.estimated_size() / rows.height if self.stage is not None else 0.0
        if len(self.ranges) == 1:
            self._settle()
            self._put(0, rows, rows.height * row_bytes)
            return
        unit = self._starts.search_sorted(rows.get_column("bucket"), side="right") - 1
        parts = rows.with_columns(_u=unit).partition_by("_u", as_dict=True, include_key=False)
        self._settle(keep_last=True)  # (the chunk was split while the writes went on)
        for (u,), part in parts.items():
            self._put(int(u), part, part.height * row_bytes)
        held = sum(self._held_bytes)
        if self.stage is not None and held > self.buffer_bytes:
            # the units holding the most are written, about a chunk's worth: written while
            # the next chunk is read, as when every unit's piece is written at once (half
            # the budget written at a time made reading wait for it, then the writers wait
            # for reading: 12 s of 31 s reading 10M events in 147 units)
            room = self.buffer_bytes - rows.height * row_bytes
            for u in sorted(range(len(self.ranges)), key=lambda k: -self._held_bytes[k]):
                if held <= room:
                    break
                held -= self._held_bytes[u]
                self._flush(u)

    def _put(self, u: int, rows: pl.DataFrame, nbytes: float) -> None:
        if self.stage is None:
            self._frames[u].append(rows)
            return
        self._held[u].append(rows)
        self._held_rows[u] += rows.height
        self._held_bytes[u] += int(nbytes)
        if self._held_rows[u] >= STAGE_ROWS:
            self._flush(u)

    def _flush(self, u: int) -> None:
        """Write the rows held for unit `u` (in its writer thread: a unit's rows are written
        in the order they are handed over, so they stay in input order)."""
        held = self._held[u]
        if not held:
            return
        rows = pl.concat(held, how="vertical", rechunk=False) if len(held) > 1 else held[0]
        self._held[u], self._held_rows[u], self._held_bytes[u] = [], 0, 0
        assert self.stage is not None
        if not self._pools:
            self.stage.mkdir(parents=True, exist_ok=True)
            self._pools = [
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"jtrack-stage{i}")
                for i in range(STAGE_LANES)
            ]
        path = self.stage / f"u{u:05d}-{len(self._files[u]):06d}.parquet"
        self._files[u].append(path)
        self._inflight.append(self._pools[u % STAGE_LANES].submit(self._write, path, rows))

    def _write(self, path: Path, rows: pl.DataFrame) -> None:
        """One file a flush, written by Polars itself. (PyArrow's writer could append to one
        file a unit, but it needs the rows as Arrow first: that conversion took as long as
        the encoding, 256 s of the writer threads' time at 100M events.)"""
        want = {c: UNIT_SCHEMA[c] for c in rows.columns if c in UNIT_SCHEMA}  # (files agree)
        if any(rows.schema[c] != t for c, t in want.items()):  # (a cast of pieces copies)
            rows = rows.cast(pl.Schema(want))
        try:
            rows.write_parquet(path, compression="lz4", statistics=False)
        except (OSError, pl.exceptions.PolarsError) as exc:  # (Polars: ComputeError)
            raise disk_error(path, exc) from exc

    def _settle(self, keep_last: bool = False) -> None:
        """Wait for the writes in flight (`keep_last`: but those of the last `add`, which go
        on while the next chunk is read); raise the first one's error."""
        if keep_last:
            done, self._older, self._inflight = self._older, self._inflight, []
        else:
            done, self._older, self._inflight = self._older + self._inflight, [], []
        wait(done)
        for write in done:
            write.result()

    def abandon(self) -> None:
        """Stop after a failure: wait for the writes in flight, whatever became of them."""
        wait(self._older + self._inflight)
        self._older, self._inflight = [], []
        self._held = [[] for _ in self.ranges]  # nothing more is written
        with suppress(Exception):  # the failure being handled is what counts
            self.close()

    def close(self) -> None:
        try:
            for u in range(len(self.ranges)):
                self._flush(u)
            self._settle()
        finally:
            for pool in self._pools:
                pool.shutdown(wait=True)
            self._pools = []

    def peek(self, u: int) -> pl.LazyFrame:
        """The rows of one unit, without handing them over."""
        if self.stage is None:
            frames = self._frames[u]
            if not frames:
                return pl.LazyFrame(schema=UNIT_SCHEMA)
            return pl.concat(frames, how="vertical").lazy()
        files = self._files[u]
        return pl.scan_parquet(files, glob=False) if files else pl.LazyFrame(schema=UNIT_SCHEMA)

    def rows_at(self, positions: pl.Series, columns: list[str] | tuple[str, ...]) -> pl.DataFrame:
        """`_pos` and `columns` of the rows at `positions` (a few of many: the copies of
        events that may be redelivered), in unit order."""
        schema = {"_pos": pl.UInt64(), **{c: UNIT_SCHEMA[c] for c in columns}}
        wanted = positions.implode()
        if self.stage is None:
            # (the columns asked for first: filtering every column of the unit's rows took
            # 470 MB at 1M events, a quarter of the run's peak)
            found = [
                frame.select(list(schema)).filter(pl.col("_pos").is_in(wanted))
                for frames in self._frames
                for frame in frames
            ]
            return pl.concat(found) if found else pl.DataFrame(schema=schema)
        # staged: read with PyArrow a batch at a time; its filter copies the few rows it keeps
        # into buffers of their own (a Polars filter of decoded pages keeps every page's text
        # alive until the end: 10 GB at 100M events)
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = positions.cast(pl.UInt64).unique().sort()

        def found_in(path: Path) -> list[Any]:
            found = []
            for batch in pq.ParquetFile(arrow_path(path)).iter_batches(
                batch_size=65_536, columns=list(schema)
            ):
                at = rows_of(pl.Series(batch.column("_pos")), wanted)
                if at.len():
                    found.append(batch.take(at.to_arrow()))
            return found

        # (files side by side: a run in many units stages many small files, each opened,
        # read and searched on one core; 880 of them at 10M events in 147 units)
        paths = [p for files in self._files for p in files]
        with ThreadPoolExecutor(max_workers=STAGE_LANES, thread_name_prefix="jtrack-find") as pool:
            parts: list[Any] = [b for found in pool.map(found_in, paths) for b in found]
        if not parts:
            return pl.DataFrame(schema=schema)
        table = pa.Table.from_batches(parts)
        return pl.DataFrame(pl.from_arrow(table)).cast(schema)  # type: ignore[arg-type]

    def rows(self, u: int) -> pl.DataFrame:
        """The accepted rows of one unit (in input order)."""
        if self.stage is None:
            frames = self._frames[u]
            self._frames[u] = []  # handed over: the unit is processed once
            if not frames:
                return pl.DataFrame(schema=UNIT_SCHEMA)
            return pl.concat(frames, how="vertical", rechunk=False)
        files = self._files[u]
        if not files:
            return pl.DataFrame(schema=UNIT_SCHEMA)
        return pl.read_parquet(files, glob=False)

    def remove(self) -> None:
        self.close()
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)


@dataclass
class NewData:
    """What reading the new inputs gave."""

    units: UnitRows
    ids: pl.DataFrame  # ID_SCHEMA: every accepted row
    rejects: pl.DataFrame  # rows rejected while reading (ROW_SCHEMA bookkeeping columns)
    files: list[FileStats] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)
    segments: list[SegmentInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the files' notes (FileStats.notes: fields they hold that jtrack does not read), once
    #: a file: when it is taken in from its start
    notes: list[str] = field(default_factory=list)

    #: the accepted rows: the id table's height, kept once the table is let go
    accepted: int = -1
    #: rows dropped as read because their visitor's data was erased (jtrack store erase)
    erased: int = 0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return self.ids.height if self.accepted < 0 else self.accepted

    def release_ids(self) -> None:
        """Let the id table go once the run's decisions are made (26 bytes an event: 2.6 GB
        at 100M, which the work units would otherwise hold on to)."""
        self.accepted = self.rows_accepted
        self.ids = self.ids.clear()


_REJECT_COLUMNS = [SRC_FILE, SRC_LINE, REASON, "_field", "_detail", "_raw", "_src"]


def read_inputs(
    sources: list[tuple[Source, Identity]],
    writer: VersionWriter,
    *,
    first_segment: int,
    run: int,
    buckets: int,
    units: UnitRows,
    options: RunOptions,
    chunk_rows: int,
    progress: ProgressFn,
    src_offset: int = 0,
    erasure: Erasure | None = None,
) -> NewData:
    """Read the new inputs into segments of `writer` and rows of `units`; the rows of
    visitors `erasure` names are dropped as they are read (not in the segments either)."""
    out = NewData(units=units, ids=pl.DataFrame(schema=ID_SCHEMA), rejects=_no_rejects())
    ids: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    total_bytes = sum(fp.nbytes for _, fp in sources)
    done_bytes = 0
    rows_so_far = 0
    copier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jtrack-copy")
    stop = threading.Event()  # (set when the run fails: the copy stops within a piece)
    small = SmallFiles([src for src, _ in sources], options.max_line_bytes)
    try:
        for i, (src, fp) in enumerate(sources):
            seg_id = first_segment + i
            seg_name, seg_path = writer.segment_path(seg_id)

            def report(
                rows: int, i: int = i, done: int = done_bytes, before: int = rows_so_far
            ) -> None:
                progress(
                    ProgressUpdate(
                        "reading",
                        files_done=i,
                        files_total=len(sources),
                        bytes_done=done,
                        bytes_total=total_bytes,
                        rows=before + rows,
                    )
                )

            report(0)
            kept_as_is = src.path is not None and canonical_parquet(src.path)
            erasing = _Erasing(erasure)
            chunks = (
                _passthrough_chunks(src, chunk_rows, seg_path, copier, stop)
                if kept_as_is
                else _reencoded_chunks(
                    src, chunk_rows, options.max_line_bytes, seg_path, small.take(i), erasing
                )
            )
            stats: FileStats | None = None
            row = 0
            lines = LineBreaks()
            for frame, st in chunks:
                stats = st
                if kept_as_is:  # (re-encoded rows were dropped before their segment)
                    frame = erasing.drop(frame)
                lines.add(row, frame.get_column(SRC_LINE))
                frame = frame.with_columns(
                    _pos=pl.int_range(row, row + frame.height, dtype=pl.UInt64) + (seg_id << 32),
                    _src=pl.lit(src_offset + i, pl.UInt32),
                )
                row += frame.height
                bad = frame.get_column(REASON).is_not_null()
                if bad.any():
                    if options.on_error == "fail":
                        raise rejected_row_error(frame.filter(bad).row(0, named=True), frame, st)
                    rejects.append(frame.filter(bad).select(_REJECT_COLUMNS))
                    frame = frame.filter(~bad)
                good = frame.select(
                    *ROW_COLUMNS, "_pos", bucket_expr(buckets).alias("bucket"), SRC_LINE
                )
                ids.append(
                    good.select(
                        pl.col("event_id").nchash.xxh3_64().alias("_h"),  # type: ignore[attr-defined]
                        "created_date",
                        "_pos",
                        "bucket",
                    )
                )
                units.add(good)
                del frame, good
                report(row)
            assert stats is not None
            if isinstance(chunks, _Chunks):
                chunks.copied()
                if not chunks.canonical:
                    # event types or kinds not in canonical form: store canonical rows
                    # (without an erased visitor's) instead
                    kept_as_is = False
                    _reencode_segment(
                        src, chunk_rows, options.max_line_bytes, seg_path, _Erasing(erasure)
                    )
                elif erasing.rows:  # (rows of erased visitors: the copy without them, its
                    # own columns kept for every other row)
                    _copy_without(seg_path, erasing.dropped())
            if erasing.rows:
                stats = replace(stats, rows_rejected=stats.rows_rejected - erasing.rejected)
                out.erased += erasing.rows
            out.files.append(stats)
            out.segments.append(
                SegmentInfo(seg_id, seg_name, row, src.name, kept_as_is, run, lines.value())
            )
            out.inputs.append(input_file(src.name, fp, stats, run, seg_id, erasing.rows))
            if stats.rows_read == 0 and fp.start == 0:
                out.warnings.append(f"{src.name}: the file holds no events (it is empty)")
            if fp.start == 0:  # (a file that grows: said of its first piece only)
                out.notes += stats.notes()
            done_bytes += fp.nbytes
            rows_so_far += stats.rows_read
    except BaseException:
        stop.set()
        units.abandon()  # no staging write left running into a version being removed
        raise
    finally:
        copier.shutdown(wait=True)  # (nor a copy)
    units.close()
    out.ids = pl.concat(ids, how="vertical") if ids else out.ids
    out.rejects = pl.concat(rejects, how="vertical_relaxed") if rejects else out.rejects
    return out


def input_file(
    name: str, fp: Identity, stats: FileStats, run: int, segment: int, erased: int = 0
) -> InputFile:
    """The manifest's record of a source read into `segment` (`erased`: its rows dropped
    as an erased visitor's)."""
    return InputFile(
        name=name,
        path=fp.path,
        size=fp.size,
        mtime_ns=fp.mtime_ns,
        sha256=fp.digest,
        shape=stats.shape,
        rows_read=stats.rows_read,
        rows_rejected=stats.rows_rejected,
        run=run,
        segments=[segment],
        start=fp.start,
        offset=fp.end,
        lines=piece_lines(fp, stats.lines),
        dev=fp.dev,
        ino=fp.ino,
        tail=fp.open_line,  # (kept by the run only if that line was rejected: see _finish)
        rows_erased=erased,
        **_unread_fields(list(stats.unread) if fp.start == 0 else []),
    )


def _unread_fields(names: list[str]) -> dict[str, Any]:
    """InputFile's `unread` and `unread_more` of the names a file's reading found."""
    from jtrack.store.manifest import kept_unread

    kept, more = kept_unread(names)
    return {"unread": kept, "unread_more": more}


class _Erasing:
    """Drops an erased visitor's rows from a source's chunks as they are read, counting
    them (and those among them that were rejected)."""

    def __init__(self, erasure: Erasure | None) -> None:
        self.erasure = erasure if erasure is not None and erasure.visitors else None
        self.rows = 0
        self.rejected = 0
        self._lines: list[pl.Series] = []  # (the input lines of the rows dropped)

    def dropped(self) -> pl.Series:
        """The rows dropped, as row numbers of their input (from 0)."""
        lines = pl.concat(self._lines) if self._lines else pl.Series([], dtype=pl.Int64)
        return lines.cast(pl.Int64) - 1

    def drop(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.erasure is None or frame.height == 0:
            return frame
        gone = self.erasure.rows(frame, REASON, "_raw")
        n = int(gone.sum())
        if not n:
            return frame
        self.rows += n
        self.rejected += int((gone & frame.get_column(REASON).is_not_null()).sum())
        self._lines.append(frame.get_column(SRC_LINE).filter(gone))
        return frame.filter(~gone)


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={c: ROW_SCHEMA.get(c, pl.UInt64()) for c in _REJECT_COLUMNS})


class _Chunks:
    """Chunks of a kept-as-is file, remembering whether all of it was canonical, while the
    file is copied into its segment (in a thread: the kernel copies, the GIL is free)."""

    def __init__(
        self, it: Iterator[tuple[pl.DataFrame, FileStats, bool]], copy: Future[None]
    ) -> None:
        self._it = it
        self.copy = copy
        self.canonical = True

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, FileStats]]:
        for frame, st, ok in self._it:
            self.canonical = self.canonical and ok
            yield frame, st

    def copied(self) -> None:
        """Wait for the copy; raise its error."""
        self.copy.result()


def _passthrough_chunks(
    src: Source, chunk_rows: int, seg_path: Path, pool: ThreadPoolExecutor, stop: threading.Event
) -> _Chunks:
    assert src.path is not None

    def gen() -> Iterator[tuple[pl.DataFrame, FileStats, bool]]:
        for chunk in iter_passthrough(src, ROW_COLUMNS, chunk_rows):
            yield chunk.rows, chunk.stats, chunk.canonical

    return _Chunks(gen(), pool.submit(copy_segment, src.path, seg_path, stop))


def _reencoded_chunks(
    src: Source,
    chunk_rows: int,
    max_line_bytes: int,
    seg_path: Path,
    read: tuple[pl.DataFrame, FileStats] | None = None,
    erasing: _Erasing | None = None,
) -> Iterator[tuple[pl.DataFrame, FileStats]]:
    """Rows of any input, read and validated; the canonical columns of every row (rejected
    ones too, so positions are row numbers) are written to the segment as they come. The
    next chunk is read in a thread while this one is written and then worked on by the
    caller (Polars and PyArrow leave the GIL, so the three overlap on two cores); a chunk
    is on disk before its rows are given out, so nothing is written while the caller works
    or after it gave up. `read`: the source's rows and accounting, read already
    (SmallFiles). `erasing`: drops an erased visitor's rows before they are written."""
    drop = erasing.drop if erasing is not None else (lambda rows: rows)
    segment = SegmentWriter(seg_path)
    if read is not None:  # (a small file read already: nothing to read while writing)
        try:
            for rows, st in _sliced(*read, chunk_rows):
                rows = drop(rows)
                segment.write(SegmentWriter.table(rows))
                yield rows, st
            segment.close()
        finally:
            segment.abort()
        return
    chunks = iter_source_rows(src, 0, chunk_rows, max_line_bytes)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jtrack-segment")
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jtrack-read")
    try:
        ahead = reader.submit(next, chunks, None)
        while True:
            # (a read that failed raises here, once every chunk before it is out: errors
            # come in input order)
            item = ahead.result()
            if item is None:
                break
            rows, st = item
            ahead = reader.submit(next, chunks, None)  # the next chunk, read meanwhile
            rows = drop(rows)
            pool.submit(_write_chunk, segment, rows).result()
            yield rows, st
        segment.close()  # (every write was waited for before its rows were given out)
    finally:
        reader.shutdown(wait=True)  # (no read left running in the generator)
        pool.shutdown(wait=True)
        segment.abort()


def _write_chunk(segment: SegmentWriter, rows: pl.DataFrame) -> None:
    segment.write(SegmentWriter.table(rows))


def _sliced(
    rows: pl.DataFrame, stats: FileStats, chunk_rows: int
) -> Iterator[tuple[pl.DataFrame, FileStats]]:
    for start in range(0, max(rows.height, 1), chunk_rows):
        yield rows.slice(start, chunk_rows), stats


def _copy_without(seg_path: Path, drop: pl.Series) -> None:
    """The copy of a canonical Parquet input (its segment) written again without its rows
    `drop` (row numbers), the other rows as they are, extra columns and all."""
    import pyarrow.parquet as pq

    def batches() -> Iterator[Any]:
        with pq.ParquetFile(seg_path) as pf:
            yield from pf.iter_batches(batch_size=SEGMENT_ROW_GROUP)

    segment_without(batches(), seg_path, drop)


def _reencode_segment(
    src: Source,
    chunk_rows: int,
    max_line_bytes: int,
    seg_path: Path,
    erasing: _Erasing | None = None,
) -> None:
    seg_path.unlink(missing_ok=True)
    for _ in _reencoded_chunks(src, chunk_rows, max_line_bytes, seg_path, None, erasing):
        pass


__all__ = [
    "ID_SCHEMA",
    "MAX_LINE_BREAKS",
    "ROW_COLUMNS",
    "UNIT_SCHEMA",
    "LineBreaks",
    "NewData",
    "UnitRows",
    "input_file",
    "read_inputs",
]
