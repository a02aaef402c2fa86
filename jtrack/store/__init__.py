"""The on-disk store: layout, atomic snapshot writes, the lock, and reading back.

Layout (one snapshot is current; a run writes a new one beside it and switches atomically):

    STORE/CURRENT                          name of the current snapshot (replaced atomically)
    STORE/.lock                            held while a run writes
    STORE/snap-<run>/manifest.json         inputs, options, counts, jtrack version, buckets
    STORE/snap-<run>/events/bucket=NNNN.parquet    events + session ids, by visitor bucket
    STORE/snap-<run>/sessions/bucket=NNNN.parquet  the session table, same buckets

A visitor's events and sessions all live in the bucket `xxh3_64(customer_id) % buckets`,
so later incremental runs and cluster runs can rewrite one bucket at a time. Files are sorted
by customer_id then time, with row-group statistics, so readers skip what they do not need.
Imports Polars only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.errors import StoreError, StoreLockedError
from jtrack.locking import exclusive_lock
from jtrack.schema import SESSION_SCHEMA, STORED_EVENT_SCHEMA

STORE_ENV = "JTRACK_STORE"
DEFAULT_STORE = ".jtrack"
LAYOUT_VERSION = 1
ROW_GROUP_SIZE = 100_000


#: Crash-safety tests only: `JTRACK_TEST_KILL_AT=<point>` SIGKILLs the process at that point
#: of a snapshot write; `<point>:INT` sends SIGINT (as Ctrl-C would), `<point>:STOP` SIGSTOP.
KILL_ENV = "JTRACK_TEST_KILL_AT"
KILL_POINTS = ("after_events", "after_sessions", "before_rename", "after_rename", "after_current")
_KILL_SIGNALS = {"": signal.SIGKILL, "INT": signal.SIGINT, "STOP": signal.SIGSTOP}


def _kill_point(point: str) -> None:
    name, _, sig = os.environ.get(KILL_ENV, "").partition(":")
    if name == point:
        os.kill(os.getpid(), _KILL_SIGNALS.get(sig, signal.SIGKILL))


def default_store_path() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def bucket_expr(buckets: int, column: str = "customer_id") -> pl.Expr:
    """The visitor bucket of each row: stable across runs, versions and machines (XXH3)."""
    h = pl.col(column).nchash.xxh3_64()  # type: ignore[attr-defined]
    return (h % buckets).cast(pl.UInt32)


def bucket_of(customer_id: str, buckets: int) -> int:
    """The bucket of one visitor (the same function the writer uses)."""
    return int(pl.DataFrame({"c": [customer_id]}).select(bucket_expr(buckets, "c")).item())


@dataclass
class Store:
    """A jtrack store directory."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Store:
        return cls(Path(path) if path is not None else default_store_path())

    # ---------------------------------------------------------------- reading

    def current(self) -> Path:
        """The current snapshot directory; a clear error when there is none."""
        pointer = self.root / "CURRENT"
        try:
            name = pointer.read_text().strip()
        except FileNotFoundError:
            raise StoreError(
                f"{self.root}: no jtrack store here",
                hint="run `jtrack sessionize SOURCES... --store "
                f"{self.root}` first, or pass --store / set ${STORE_ENV}",
            ) from None
        snap = self.root / name
        if not (snap / "manifest.json").is_file():
            raise StoreError(
                f"{snap}: the store's current snapshot is missing its manifest",
                hint="re-run `jtrack sessionize` to rebuild the store",
            )
        return snap

    def exists(self) -> bool:
        return (self.root / "CURRENT").is_file()

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.current() / "manifest.json").read_text())
        return data

    def _scan(
        self, table: str, schema: dict[str, pl.DataType], bucket: int | None = None
    ) -> pl.LazyFrame:
        snap = self.current()
        pattern = f"bucket={bucket:04d}.parquet" if bucket is not None else "*.parquet"
        files = sorted((snap / table).glob(pattern))
        if not files:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(files, hive_partitioning=False)

    def scan_events(self, customer_id: str | None = None) -> pl.LazyFrame:
        """Stored events (canonical columns plus session_id and session_type)."""
        bucket = self._bucket_for(customer_id)
        lf = self._scan("events", STORED_EVENT_SCHEMA, bucket)
        if customer_id is not None:
            lf = lf.filter(pl.col("customer_id") == customer_id)
        return lf

    def scan_sessions(self, customer_id: str | None = None) -> pl.LazyFrame:
        """The stored session table."""
        bucket = self._bucket_for(customer_id)
        lf = self._scan("sessions", SESSION_SCHEMA, bucket)
        if customer_id is not None:
            lf = lf.filter(pl.col("customer_id") == customer_id)
        return lf

    def _bucket_for(self, customer_id: str | None) -> int | None:
        if customer_id is None:
            return None
        buckets = int(self.manifest().get("buckets", 1))
        return bucket_of(customer_id, buckets)

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the store's write lock; wait up to `wait` seconds, then refuse clearly."""
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(
            self.root / ".lock",
            wait,
            lambda: StoreLockedError(
                f"{self.root}: another jtrack run is writing this store",
                hint="wait for it to finish, or pass --wait SECONDS",
            ),
        ):
            yield

    def begin_snapshot(self) -> SnapshotWriter:
        """Start writing a new snapshot beside the current one (the caller holds the lock)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        name = f"snap-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        tmp = self.root / f".tmp-{name}"
        (tmp / "events").mkdir(parents=True)
        (tmp / "sessions").mkdir()
        return SnapshotWriter(self, name, tmp)

    def write_snapshot(
        self,
        events: pl.DataFrame,
        sessions: pl.DataFrame,
        manifest: dict[str, Any],
        buckets: int = 1,
    ) -> Path:
        """Write a complete snapshot, then make it current in one atomic rename.

        The caller holds the lock. A crash at any point leaves the previous snapshot
        current and intact; leftovers of the crashed run are removed by the next run.
        """
        writer = self.begin_snapshot()
        try:
            for table, frame in (("events", events), ("sessions", sessions)):
                if buckets > 1:
                    frame = frame.with_columns(_bucket=bucket_expr(buckets))
                    parts = frame.partition_by("_bucket", as_dict=True, include_key=False)
                    for key, part in sorted(parts.items(), key=lambda kv: kv[0]):
                        writer.write_bucket(table, int(key[0]), part)
                else:
                    writer.write_bucket(table, 0, frame)
            return writer.commit(manifest, buckets)
        except BaseException:
            writer.abort()
            raise

    def _current_name(self) -> str | None:
        try:
            return (self.root / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _remove_stale(self) -> None:
        """Remove what crashed runs left behind (never the current snapshot)."""
        current = self._current_name()
        for p in self.root.iterdir():
            stale_snapshot = p.name.startswith("snap-") and p.name != current
            if p.name.startswith((".tmp-", ".stage-")) or stale_snapshot:
                shutil.rmtree(p, ignore_errors=True)
            elif p.name == "CURRENT.tmp":
                p.unlink(missing_ok=True)


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write one bucket file; frames arrive sorted by visitor (the sessionizer's order)."""
    try:
        frame.write_parquet(
            path,
            compression="zstd",
            compression_level=1,  # level 3 costs ~45% more CPU for ~the same size here
            statistics=True,
            row_group_size=ROW_GROUP_SIZE,
        )
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    except (OSError, pl.exceptions.PolarsError) as exc:  # Polars reports ENOSPC as ComputeError
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise StoreError(
            f"{path}: could not write the store ({reason or exc})",
            hint="free some disk space or choose another --store; the previous store is intact",
        ) from exc


def _write_text(path: Path, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreError(
            f"{path}: could not write the store ({exc.strerror or exc})",
            hint="free some disk space or choose another --store; the previous store is intact",
        ) from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SnapshotWriter:
    """A snapshot being written: bucket files first, then one atomic switch in commit()."""

    store: Store
    name: str
    tmp: Path

    def write_bucket(self, table: str, bucket: int, frame: pl.DataFrame) -> None:
        """Write one bucket file of `events` or `sessions` (frames sorted by visitor)."""
        _write_parquet(frame, self.tmp / table / f"bucket={bucket:04d}.parquet")
        _kill_point(f"after_{table}")

    def commit(self, manifest: dict[str, Any], buckets: int) -> Path:
        """Write the manifest and make this snapshot current; the previous one is removed."""
        root = self.store.root
        try:
            manifest = {
                **manifest,
                "layout_version": LAYOUT_VERSION,
                "buckets": buckets,
                "snapshot": self.name,
            }
            _write_text(self.tmp / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
            _fsync_dir(self.tmp)
            _kill_point("before_rename")
            os.rename(self.tmp, root / self.name)
            _fsync_dir(root)
            _kill_point("after_rename")
            previous = self.store._current_name()
            _write_text(root / "CURRENT.tmp", self.name + "\n")
            os.replace(root / "CURRENT.tmp", root / "CURRENT")
            _fsync_dir(root)
            _kill_point("after_current")
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise StoreError(
                    f"{root}: could not write the store ({exc.strerror or exc})",
                    hint="free some disk space or choose another --store; "
                    "the previous store is intact",
                ) from exc
            raise
        if previous and previous != self.name:
            shutil.rmtree(root / previous, ignore_errors=True)
        return root / self.name

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.store._current_name() != self.name:  # renamed but never made current
            shutil.rmtree(self.store.root / self.name, ignore_errors=True)
