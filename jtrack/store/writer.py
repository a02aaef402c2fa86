"""Writing a new version of a store: its files first, then one atomic switch.

A VersionWriter builds the version in `STORE/.tmp-vNNNNNN-*`: new segments, new parts, the
rejects and the manifest. Files the new version shares with the current one are hard links
(no copy, no re-encoding). `commit` renames the directory into `versions/`, then replaces
`CURRENT` and the `current` symlink atomically; a crash at any point leaves the previous
version current and whole, and the next run removes what was left. Old versions go only when
no reader holds them (see Store.collect_garbage). The caller holds the store's lock.
Imports Polars and PyArrow only.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from jtrack.checks import arrow_path
from jtrack.errors import StoreError
from jtrack.schema import EVENT_SCHEMA
from jtrack.store import layout
from jtrack.store.layout import (
    CHECKSUMS,
    CURRENT,
    DUPLICATE_DELTAS,
    EVENT_KEYS,
    LOCK,
    MANIFEST,
    RUN_CHUNK,
    RUNS,
    SEGMENTS,
    SESSION_IDS,
    TMP_PREFIX,
    VERSIONS,
    file_crc32,
    fsync_dir,
    fsync_file,
    version_name,
)
from jtrack.store.manifest import SCHEMA_VERSION, Manifest, PartInfo, run_to_json

if TYPE_CHECKING:
    from jtrack.store.store import Store

#: Rows per row group of index and session parts: a visitor lookup reads one of them.
PART_ROW_GROUP = 64_000
#: Rows per row group of segments jtrack writes: a card reads a few of them.
SEGMENT_ROW_GROUP = 64_000

#: Rows per row group of a session part's id directory: a prefix lookup reads one of them
#: (about 80 KB) of each part.
IDS_ROW_GROUP = 2_048

#: The folders of a version.
_FOLDERS = (SEGMENTS, "index", "sessions", SESSION_IDS, EVENT_KEYS, RUNS, DUPLICATE_DELTAS)

#: The key-value metadata of every Parquet file jtrack writes into a store: the schema
#: version of the reader-facing tables (manifest.SCHEMA_VERSION), which a reader can pin.
SCHEMA_META = {"jtrack.schema_version": str(SCHEMA_VERSION)}
#: ... and of those pyarrow writes, with the mark of their pages' checksums
_ARROW_META = {**CHECKSUMS, **{k.encode(): v.encode() for k, v in SCHEMA_META.items()}}

#: The file of a version listing the sessions it changed against its base (`id`, `change`:
#: added, changed or removed; `version`, `base`): see Manifest.session_changes.
SESSION_CHANGES = "session_changes.parquet"
#: Its columns.
SESSION_CHANGES_SCHEMA = {
    "id": pl.String(),
    "change": pl.String(),
    "version": pl.String(),
    "base": pl.String(),
}


def no_session_changes() -> pl.DataFrame:
    """The session changes of a version that changed none (VersionWriter.set_session_changes)."""
    return pl.DataFrame(schema={"id": pl.String(), "change": pl.String()})


_DISK_HINT = "free some disk space or choose another --store"

#: A store whose folders are on more than one file system (EXDEV: a rename or a hard link
#: across them).
_ONE_FS_HINT = (
    "a store must be on one file system (its versions share files through hard links and "
    "a version is renamed into versions/): move what was put on another (versions/, a "
    "link to another disk) back into the store's folder"
)


def disk_error(path: Path, exc: BaseException) -> StoreError:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:  # Polars and PyArrow report ENOSPC as their own errors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    cross = isinstance(exc, OSError) and exc.errno == errno.EXDEV
    hint = _ONE_FS_HINT if cross else _DISK_HINT
    return StoreError(
        f"{path}: could not write the store ({reason})", hint=hint + _left_as_it_was(path)
    )


def _left_as_it_was(path: Path) -> str:
    """What a failed run left: the previous store, intact; or, where the store had no
    version yet (a first run), nothing."""
    parts = path.parts
    at = [i for i, part in enumerate(parts) if part.startswith(TMP_PREFIX)]
    root = Path(*parts[: at[0]]) if at else path  # (a version being written, or the store)
    if (root / LOCK).exists() and not (root / CURRENT).exists():
        return "; nothing was written (the store had no version yet)"
    return "; the previous store is intact"


def write_parquet(frame: pl.DataFrame, path: Path, row_group: int = PART_ROW_GROUP) -> None:
    """One of a version's own files (its duplicates, held rows, contacts book: the parts are
    write_part_file's): zstd, statistics, a CRC of every page (`jtrack store verify --full`
    finds a flipped bit: see CHECKSUMS), fsynced."""
    import pyarrow.parquet as pq

    try:
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())  # (as Polars wrote them)
        pq.write_table(
            table.replace_schema_metadata(_ARROW_META),
            where=arrow_path(path),
            row_group_size=row_group,
            use_dictionary=_dictionary(table.schema),
            **_WRITE_OPTIONS,
        )
        fsync_file(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise disk_error(path, exc) from exc


def _dictionary(schema: Any) -> list[str]:
    """The columns worth a dictionary: not 64-bit numbers and times, nearly all distinct
    (the duplicates' content hashes: a dictionary tried and given up costs time and bytes)."""
    import pyarrow as pa

    def wide(t: Any) -> bool:
        return pa.types.is_timestamp(t) or (pa.types.is_primitive(t) and t.bit_width == 64)

    return [f.name for f in schema if not wide(f.type)]


#: How the store files pyarrow writes are written (the segments and a version's own files:
#: Polars writes no page checksums); level 3 costs ~45% more CPU for about the same size.
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": True,
    "write_page_checksum": True,
}


#: A segment is copied this many bytes at a time, so that a run that fails or is
#: interrupted stops its copy within one piece, not after the whole file (10 GB at 100M).
COPY_PIECE = 64 << 20


def copy_segment(source: Path, target: Path, stop: threading.Event | None = None) -> None:
    """Keep an input file as the segment `target`: copied, not re-encoded, in the kernel
    (sendfile) where it can, else through a buffer, a piece at a time until done or `stop`
    is set; fsynced once whole, so that a version is committed only over segments on disk."""
    try:
        with open(source, "rb") as fi, open(target, "wb") as fo:
            offset = 0
            kernel = hasattr(os, "sendfile")
            while stop is None or not stop.is_set():
                if kernel:
                    try:
                        sent = os.sendfile(fo.fileno(), fi.fileno(), offset, COPY_PIECE)
                    except OSError as exc:
                        unsupported = (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK)
                        if offset or exc.errno not in unsupported:
                            raise
                        kernel = False  # (not to a file on this system)
                        continue
                else:
                    data = fi.read(COPY_PIECE)
                    fo.write(data)
                    sent = len(data)
                if sent == 0:
                    os.fsync(fo.fileno())
                    break
                offset += sent
    except OSError as exc:
        raise disk_error(target, exc) from exc


class SegmentWriter:
    """A segment of canonical rows (EVENT_SCHEMA) written a batch at a time: zstd,
    SEGMENT_ROW_GROUP rows a row group, every batch cast to the first one's Arrow types.
    It is written under a temporary name; `close` fsyncs it and gives it its name, so a
    segment is whole or absent. Closed with no rows written, it is a segment of no rows."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}")
        self._writer: Any = None

    @staticmethod
    def table(rows: pl.DataFrame) -> Any:
        """The Arrow table a segment holds for `rows` (their EVENT_SCHEMA columns)."""
        return rows.select(list(EVENT_SCHEMA)).to_arrow(compat_level=pl.CompatLevel.oldest())

    def write(self, table: Any) -> None:
        """Append an Arrow table or record batch (see `table`)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        try:
            if self._writer is None:
                self._writer = pq.ParquetWriter(
                    arrow_path(self.tmp), table.schema.with_metadata(_ARROW_META), **_WRITE_OPTIONS
                )
            self._writer.write_table(
                table.cast(self._writer.schema), row_group_size=SEGMENT_ROW_GROUP
            )
        except OSError as exc:
            raise disk_error(self.path, exc) from exc

    def close(self) -> Path:
        try:
            if self._writer is None:
                self.write(SegmentWriter.table(pl.DataFrame(schema=EVENT_SCHEMA)))
            writer, self._writer = self._writer, None
            writer.close()
            fsync_file(self.tmp)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise disk_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        """Give the segment up (its temporary file removed)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with suppress(OSError):
                writer.close()
        self.tmp.unlink(missing_ok=True)


def segment_without(batches: Iterator[Any], target: Path, drop: pl.Series) -> int:
    """Write the Arrow record `batches` of a segment to `target` without its rows `drop`
    (row numbers), as they are (the segment's own columns and types), a segment whole or
    absent (SegmentWriter; `target` may be the file the batches are read from). Returns the
    rows written."""
    import pyarrow as pa

    segment = SegmentWriter(target)
    gone = drop.cast(pl.Int64).implode()
    at = rows = 0
    schema: Any = None
    try:
        for batch in batches:
            schema = batch.schema
            keep = pl.select(
                ~pl.int_range(at, at + batch.num_rows, dtype=pl.Int64).is_in(gone)
            ).to_series()
            at += batch.num_rows
            kept = batch.filter(pa.array(keep.to_arrow()))
            if kept.num_rows:
                segment.write(kept)
                rows += kept.num_rows
        if rows == 0 and schema is not None:  # (no row left: its columns all the same)
            segment.write(schema.empty_table())
        segment.close()
    except BaseException:
        segment.abort()
        raise
    return rows


def _together(batches: list[Any]) -> Any:
    """Record batches of segments as one table (cast to the first one's types)."""
    import pyarrow as pa

    first = batches[0].schema
    return pa.Table.from_batches([b.cast(first) for b in batches], schema=first)


def write_part_file(frame: pl.DataFrame, path: Path, row_group: int = PART_ROW_GROUP) -> int:
    """One file of a part (the part, its id directory or event keys), written by Polars:
    zstd, statistics (readers skip row groups by bucket), fsynced; its CRC32, which the
    manifest keeps (`jtrack store verify --full` finds a flipped bit by it: Polars writes no
    page checksums, and pyarrow writes these files at twice the time and more memory)."""
    try:
        frame.write_parquet(
            path,
            compression="zstd",
            compression_level=1,  # level 3 costs ~45% more CPU for about the same size here
            statistics=True,
            row_group_size=row_group,
            metadata=SCHEMA_META,
        )
        fsync_file(path)
        return file_crc32(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise disk_error(path, exc) from exc


def write_store_part(
    version: Path, table: str, name: str, frame: pl.DataFrame, run: int
) -> PartInfo:
    """Write a part of `table` ("index" or "sessions") in the version directory `version`,
    and beside it, for the session table its id directory (SESSION_IDS/<name>: the ids
    sorted, each with its row in the part), for the index its event keys (EVENT_KEYS/<name>:
    each row's event id hash and time); its manifest entry (`run`: the run its rows belong
    to)."""
    crcs = {f"{table}/{name}": write_part_file(frame, version / table / name)}
    info = part_info(table, name, frame, run)
    if table == "sessions":
        ids = f"{SESSION_IDS}/{name}"
        crcs[ids] = write_part_file(_id_directory(frame), version / ids, row_group=IDS_ROW_GROUP)
        return replace(info, ids=ids, crc32=crcs)
    keys = f"{EVENT_KEYS}/{name}"
    crcs[keys] = write_part_file(event_keys_of(frame), version / keys)
    return replace(info, keys=keys, crc32=crcs)


def event_keys_of(index: pl.DataFrame) -> pl.DataFrame:
    """An index part's event keys: `event_hash` (xxh3_64 of the event id, the hash the
    run's decisions compare) and `created_date` of each row, in its order."""
    import polars_hash  # noqa: F401  (registers the .nchash namespace)

    return index.select(
        pl.col("event_id").nchash.xxh3_64().alias("event_hash"),  # type: ignore[attr-defined]
        "created_date",
    )


def _id_directory(sessions: pl.DataFrame) -> pl.DataFrame:
    """The session ids sorted, each with its row in `sessions`. Ids are lowercase hex (UUID
    shape), so they sort as their first 8 digits read as a number, then whole: twice as
    fast as comparing the strings alone (ids that do not start with 8 hex digits are sorted
    as strings; and were an id's case mixed, its directory would only be read a little more:
    lookups rely on each row group's least and greatest id, not on the order)."""
    ids = sessions.select("id", row=pl.int_range(pl.len(), dtype=pl.UInt32))
    key = pl.col("id").str.slice(0, 8).str.to_integer(base=16, strict=False).cast(pl.UInt32)
    keyed = ids.with_columns(_k=key)
    if keyed.get_column("_k").null_count() == 0:
        return keyed.sort("_k", "id").drop("_k")
    return ids.sort("id")


def part_info(table: str, name: str, frame: pl.DataFrame, run: int) -> PartInfo:
    """The manifest's entry of a part just written: its rows and buckets, and for the
    index the totals the manifest keeps (first and last event time, events without a
    session), so that a run works the store's totals out from the entries alone; for the
    session table, its first start and last end."""
    stats: dict[str, Any] = {}
    if table == "index" and frame.height:
        t = frame.get_column("created_date").dt.epoch("us")
        stats = {
            "first_us": int(t.min()),  # type: ignore[arg-type]
            "last_us": int(t.max()),  # type: ignore[arg-type]
            "unattached": frame.get_column("session_id").null_count(),
            "segments": id_ranges(frame.get_column("segment")),
        }
    elif table == "index":
        stats = {"segments": []}
    elif table == "sessions" and frame.height:  # (compaction leaves open sessions alone)
        stats = {
            "first_us": int(frame.get_column("created_date").dt.epoch("us").min()),  # type: ignore[arg-type]
            "last_us": int(frame.get_column("ended_date").dt.epoch("us").max()),  # type: ignore[arg-type]
        }
    buckets = frame.get_column("bucket")
    return PartInfo(
        table=table,
        file=name,
        rows=frame.height,
        bucket_lo=int(buckets.min() or 0),  # type: ignore[arg-type]
        bucket_hi=int(buckets.max() or 0),  # type: ignore[arg-type]
        run=run,
        **stats,
    )


def id_ranges(ids: pl.Series) -> list[list[int]]:
    """The distinct values of `ids` as sorted [first, last] ranges of consecutive values."""
    u = ids.unique().sort().cast(pl.Int64)
    if u.len() == 0:
        return []
    starts = u.filter(u.diff().fill_null(2) != 1)
    ends = u.filter(u.diff(-1).fill_null(-2) != -1)
    return [[int(a), int(b)] for a, b in zip(starts, ends, strict=True)]


#: os.link relative to open folders (Linux, macOS)
_LINK_AT = os.link in os.supports_dir_fd


class _Folders:
    """Folders of a version directory opened once (`fd("segments")`; "" is the directory),
    closed on exit."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._fds: dict[str, int] = {}

    def fd(self, folder: str) -> int:
        fd = self._fds.get(folder)
        if fd is None:
            fd = self._fds[folder] = os.open(os.path.join(self.root, folder), os.O_RDONLY)
        return fd

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)


class VersionWriter:
    """A version being written. Use `commit` once, or `abort`."""

    def __init__(self, store: Store, base: Manifest | None, number: int) -> None:
        self.store = store
        self.base = base
        self.base_dir = store.version_dir(version_name(base.version)) if base else None
        self.number = number
        self.name = version_name(number)
        self.tmp = store.root / f"{TMP_PREFIX}{self.name}-{uuid.uuid4().hex[:8]}"
        try:
            for sub in _FOLDERS:
                (self.tmp / sub).mkdir(parents=True)
        except BaseException:  # (Ctrl-C included): nothing left behind
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self._seq: dict[tuple[str, int], int] = {}
        #: the sessions this version changes against its base (id, change), None: not known
        self._changes: pl.DataFrame | None = None

    # ------------------------------------------------------------------ files

    def path(self, rel: str) -> Path:
        return self.tmp / rel

    def scan_parts(self, table: str, parts: Sequence[PartInfo]) -> pl.LazyFrame:
        """`parts` of `table` in the version being written, each a new file or one it
        carries from the base version, as they were written (no schema applied)."""
        paths = []
        for p in parts:
            here = self.tmp / table / p.file
            if not here.exists() and self.base_dir is not None:
                here = self.base_dir / table / p.file
            paths.append(str(here))
        return pl.scan_parquet(paths, glob=False, hive_partitioning=False)

    def segment_path(self, segment_id: int) -> tuple[str, Path]:
        name = f"s{segment_id:06d}.parquet"
        return name, self.tmp / SEGMENTS / name

    def write_merged_segment(self, sources: list[Path], name: str) -> None:
        """A segment holding the rows of `sources` (segments of the base version, in that
        order), streamed: rows pass through once, however many files."""
        target = self.tmp / SEGMENTS / name

        segment = SegmentWriter(target)
        batches: list[Any] = []  # (rows put together into row groups of SEGMENT_ROW_GROUP)
        held = 0
        try:
            for source in sources:
                for batch in self._batches(Path(source)):
                    batches.append(batch)
                    held += batch.num_rows
                    if held >= SEGMENT_ROW_GROUP:
                        segment.write(_together(batches))
                        batches, held = [], 0
            if batches:
                segment.write(_together(batches))
            segment.close()
        except BaseException:
            segment.abort()
            raise

    def write_segment_without(self, source: Path, name: str, drop: pl.Series) -> int:
        """The segment `source` (of the base version) written again without its rows `drop`
        (row numbers), streamed; its rows are returned. The rows kept are written as they
        are, with the segment's own columns and types: an input kept as is keeps its extra
        columns for every row left."""
        return segment_without(self._batches(Path(source)), self.tmp / SEGMENTS / name, drop)

    def read_frame(self, rel: str) -> pl.DataFrame:
        """A Parquet file this writer wrote (`write_frame`)."""
        return pl.read_parquet(self.tmp / rel, glob=False)

    def read_part(self, table: str, part: PartInfo) -> pl.DataFrame:
        """A part of the version being written, as it was written (every column)."""
        return self.scan_parts(table, [part]).collect(engine="in-memory")

    def forget_part(self, part: PartInfo) -> None:
        """Remove a part this writer wrote and its side files (a part written again
        under another name); a part the base version holds is left alone."""
        for rel in (f"{part.table}/{part.file}", part.ids, part.keys):
            if rel:
                (self.tmp / rel).unlink(missing_ok=True)

    def _batches(self, source: Path) -> Iterator[Any]:
        """The rows of a segment of the base version, its pages' checksums checked: a
        damaged one stops the compaction, named, not merged into a new segment whose own
        checksums would vouch for the damage."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(arrow_path(source), page_checksum_verification=True) as pf:
                yield from pf.iter_batches(batch_size=SEGMENT_ROW_GROUP)
        except (OSError, pa.ArrowException) as exc:
            raise self._damaged(
                str(source.parent.parent), f"{SEGMENTS}/{source.name}", exc
            ) from None

    def _damaged(self, base: str, rel: str, exc: BaseException) -> StoreError:
        """The StoreError of a damaged file `rel` of the base version (folder `base`)."""
        from jtrack.store.store import damaged_hint

        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        if "CRC checksum verification failed" in text:
            text = "a page's checksum does not match its bytes (changed on disk)"
        return StoreError(
            f"{self.store.shown}: the store is damaged: {os.path.join(base, rel)} "
            f"(unreadable: {text})",
            hint=damaged_hint(self.store, os.path.basename(base), [rel])
            + "; `jtrack store verify --full` lists every damaged file",
        )

    def write_part(
        self, table: str, frame: pl.DataFrame, run: int, group: int | None = None
    ) -> PartInfo:
        """One part of `index` or `sessions`: rows sorted by bucket, then visitor. `group`:
        the run the part's rows belong to, when not `run` (a part rewritten without rows
        that changed stays in its group, which compaction merges by size)."""
        name = self._part_name(table, run)
        return write_store_part(self.tmp, table, name, frame, run if group is None else group)

    def write_parts(
        self, table: str, frames: Sequence[tuple[pl.DataFrame, int | None]], run: int
    ) -> list[PartInfo]:
        """`write_part` of each (frame, group), named in that order and written side by
        side (each file ends in an fsync: a `jtrack watch` run writes a dozen small ones)."""
        if len(frames) < 2:
            return [self.write_part(table, f, run, group) for f, group in frames]
        names = [self._part_name(table, run) for _ in frames]

        def one(name: str, frame: pl.DataFrame, group: int | None) -> PartInfo:
            return write_store_part(self.tmp, table, name, frame, run if group is None else group)

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="jtrack-parts") as pool:
            futures = [
                pool.submit(one, name, frame, group)
                for name, (frame, group) in zip(names, frames, strict=True)
            ]
            return [f.result() for f in futures]

    def _part_name(self, table: str, run: int) -> str:
        key = (table, run)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        return f"p{run:06d}-{seq:04d}.parquet"

    def write_frame(self, rel: str, frame: pl.DataFrame) -> str:
        write_parquet(frame, self.tmp / rel)
        return rel

    def write_text(self, rel: str, text: str) -> str:
        path = self.tmp / rel
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise disk_error(path, exc) from exc
        return rel

    def set_session_changes(self, changes: pl.DataFrame | None) -> None:
        """The sessions this version changes against its base: `id` and `change` (added,
        changed: the same id, another row; removed), each id once. None (the default): not
        known, readers reload the session table (an erase, a rebuild, --replace)."""
        self._changes = changes

    def _write_session_changes(self, manifest: Manifest) -> None:
        """Record the session changes in the manifest, and write their file when any."""
        base = manifest.base
        if self._changes is None or base is None:
            manifest.session_changes = {"base": base, "reload": True}
            return
        counts = {"added": 0, "changed": 0, "removed": 0}
        counts.update(self._changes.group_by("change").len().iter_rows())
        rel = None
        if self._changes.height:
            frame = self._changes.select(
                pl.col("id").cast(pl.String),
                pl.col("change").cast(pl.String),
                version=pl.lit(self.name),
                base=pl.lit(version_name(base)),
            ).sort("id")
            rel = self.write_frame(SESSION_CHANGES, frame)
        manifest.session_changes = {"base": base, "file": rel, **counts}

    # ------------------------------------------------------------------ commit

    def _log_runs(self, manifest: Manifest) -> None:
        """Runs beyond 2 * RUN_CHUNK - 1 in the manifest: the oldest RUN_CHUNK go to a run
        log file, shared by later versions as segments are (so that a manifest, which
        every run writes and every reader reads, does not grow by a run a second under
        `jtrack watch`)."""
        while len(manifest.runs) >= 2 * RUN_CHUNK:
            chunk = manifest.runs[:RUN_CHUNK]
            rel = f"{RUNS}/r{chunk[0].run:06d}-{chunk[-1].run:06d}.jsonl"
            self.write_text(rel, "".join(run_to_json(r) + "\n" for r in chunk))
            manifest.runs = manifest.runs[RUN_CHUNK:]
            manifest.run_logs = [*manifest.run_logs, rel]
            manifest.runs_logged += len(chunk)

    def _link_shared(self, manifest: Manifest) -> None:
        """Hard-link the files this version shares with the base version (thousands, after
        an hour of `jtrack watch`: plain strings, one listing per folder, and links made
        relative to the open folders, not a Path, a stat and a path walk per file)."""
        tmp = str(self.tmp)
        written = set(os.listdir(tmp))
        for sub in _FOLDERS:
            written.update(f"{sub}/{name}" for name in os.listdir(os.path.join(tmp, sub)))
        missing = [rel for rel in manifest.files() if rel not in written]
        if not missing:
            return
        if self.base_dir is None:
            raise StoreError(
                f"{missing[0]}: a file of the new version was never written",
                hint="the run was not committed and the store is as it was; run it again",
            )
        base = str(self.base_dir)
        from jtrack.store.store import VERIFY_HINT, carried_damage, damaged_hint

        damaged = carried_damage([os.path.join(base, r) for r in missing if r.endswith(".parquet")])
        if damaged is not None:  # (the new version would share it, as the ones before do)
            raise StoreError(
                f"{self.store.shown}: the store is damaged: {damaged} is not a whole Parquet file",
                hint=damaged_hint(
                    self.store, os.path.basename(base), [os.path.relpath(damaged, base)]
                )
                + VERIFY_HINT,
            )
        if manifest.runs and manifest.runs[-1].mode == "rebuild":
            self._check_segments(base, [r for r in missing if r.startswith(f"{SEGMENTS}/")])
        # the read (and, shared by a group, write) bits the store's files get, whatever the
        # umask: a file linked from a version an earlier umask made without them is given
        # them (its owner's run can; another account's leaves it: README)
        want = (self.store._group_bits() | self.store._other_bits()) & 0o666
        with _Folders(base) as src, _Folders(tmp) as dst:
            for rel in missing:
                folder, _, name = rel.rpartition("/")
                try:
                    if _LINK_AT:
                        os.link(name, name, src_dir_fd=src.fd(folder), dst_dir_fd=dst.fd(folder))
                    else:
                        os.link(os.path.join(base, rel), os.path.join(tmp, rel))
                except FileNotFoundError:
                    raise StoreError(
                        f"{os.path.join(base, rel)}: a file of the current version is missing",
                        hint="the store is damaged; " + self.store.rollback_hint(),
                    ) from None
                except OSError:
                    target = os.path.join(tmp, rel)
                    try:  # a filesystem without hard links: copy
                        shutil.copyfile(os.path.join(base, rel), target)
                    except OSError as exc:
                        raise disk_error(Path(target), exc) from exc
                else:
                    if want:
                        _give_bits(name, dst.fd(folder) if _LINK_AT else None, tmp, rel, want)

    def _check_segments(self, base: str, segments: list[str]) -> None:
        """A rebuild reads every segment, so its version would be trusted as a fresh one;
        it decodes each segment it carries whole, its pages' checksums checked, and stops
        on damage (as the nightly run that met it did), before its commit lets older
        versions go by --keep: the version without the damaged file, the way back, too."""
        from jtrack.store.store import _decode_parquet

        for rel in segments:
            try:
                _decode_parquet(Path(base) / rel)
            except OSError as exc:
                raise self._damaged(base, rel, exc) from None

    def commit(self, manifest: Manifest, keep: int, history: bool = True) -> Path:
        """Make this version current (atomically); then remove versions no one needs
        (`history` False: the version does not name its base, so that every earlier one
        goes, now or once its reader is done: `jtrack store erase`)."""
        root = self.store.root
        final = self.store.version_dir(self.name)
        manifest.base = self.base.version if self.base is not None and history else None
        try:
            self._write_session_changes(manifest)
            self._log_runs(manifest)
            self._link_shared(manifest)
            layout.kill_point("after_sessions")
            path = self.tmp / MANIFEST
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(manifest.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            for sub in (*_FOLDERS, "."):
                fsync_dir(self.tmp / sub)
            layout.kill_point("before_rename")
            (root / VERSIONS).mkdir(exist_ok=True)
            os.rename(self.tmp, final)
            fsync_dir(root / VERSIONS)
            from jtrack.store.store import remember_manifest  # (it imports this module)

            remember_manifest(final / MANIFEST, manifest)  # (read back: not parsed again)
            layout.kill_point("after_rename")
            tmp_current = root / f"{CURRENT}.tmp"
            with open(tmp_current, "w", encoding="utf-8") as fh:
                fh.write(self.name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_current, root / CURRENT)
            layout.COMMITS.append((self.store.shown, self.name))
            fsync_dir(root)
            layout.kill_point("after_current")
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise disk_error(root, exc) from exc
            raise
        self.store.point_link(self.name)
        self.store.collect_garbage(keep)
        return final

    def abort(self) -> None:
        """Remove what this writer wrote (never anything outside its own directories)."""
        if self.tmp.name.startswith(TMP_PREFIX) and self.tmp.parent == self.store.root:
            shutil.rmtree(self.tmp, ignore_errors=True)
        final = self.store.version_dir(self.name)
        if final.is_dir() and self.store.current_name() != self.name:
            shutil.rmtree(final, ignore_errors=True)


__all__ = [
    "PART_ROW_GROUP",
    "SCHEMA_META",
    "SEGMENT_ROW_GROUP",
    "SESSION_CHANGES",
    "SESSION_CHANGES_SCHEMA",
    "VersionWriter",
    "disk_error",
    "event_keys_of",
    "id_ranges",
    "no_session_changes",
    "write_parquet",
    "write_store_part",
]


def _give_bits(name: str, dir_fd: int | None, tmp: str, rel: str, want: int) -> None:
    """The permission bits `want` added to a file linked into a new version, when it lacks
    them and this account owns it (best effort: another account's file is left)."""
    path = name if dir_fd is not None else os.path.join(tmp, rel)
    with suppress(OSError):
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        mode = stat.S_IMODE(st.st_mode)
        if mode & want != want and st.st_uid == os.getuid() and stat.S_ISREG(st.st_mode):
            os.chmod(path, mode | want, dir_fd=dir_fd)
