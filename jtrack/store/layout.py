"""Where things live in a store directory, and the few file operations every part shares.

    STORE/CURRENT                   name of the current version ("v000012"), replaced atomically
    STORE/current -> versions/v...  the same, as a symlink, for other tools (DuckDB, Polars, Spark)
    STORE/versions/v000012/         one version: manifest.json plus its files (hard links:
        manifest.json                 files that did not change are shared between versions)
        segments/s000001.parquet      wide event rows in input order (an input kept as is, or
                                      its canonical rows), written once
        index/p000012-0003.parquet    the narrow index, sorted by bucket, visitor, time
        sessions/p000012-0003.parquet the session table, sorted by bucket, visitor, start
        rejects.jsonl                 every rejected row of the inputs taken in
        held.parquet                  far-future rows kept aside (re-judged by every run)
        contacts.parquet              the contacts book the sessions were resolved with
        runs/r000001-000500.jsonl     earlier runs, RUN_CHUNK a file (the manifest keeps the
                                      latest ones: `jtrack watch` makes one a second)
    STORE/.lock                     held by the one run writing the store
    STORE/.readers/                 leases of readers: a version named there is not removed
    STORE/.tmp-*                    a version being written (removed if its run died)

Only jtrack.store opens these files. Imports the standard library only.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

STORE_ENV = "JTRACK_STORE"
DEFAULT_STORE = ".jtrack"

CURRENT = "CURRENT"
CURRENT_LINK = "current"
VERSIONS = "versions"
LOCK = ".lock"
READERS = ".readers"
TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
SEGMENTS = "segments"
RUNS = "runs"
#: Per session part, its ids sorted (with each one's row in the part): a prefix lookup
#: reads one row group of each, not every id of the store.
SESSION_IDS = "session-ids"
#: Per index part, each row's event id hash (xxh3_64) and time, in the part's row order: a
#: run finds redeliveries against the store's events reading these numbers, not the ids.
EVENT_KEYS = "event-keys"
#: Runs a run log file holds; the manifest keeps from RUN_CHUNK to 2 * RUN_CHUNK - 1 runs.
RUN_CHUNK = 500
REJECTS = "rejects.jsonl"
HELD = "held.parquet"
DUPLICATES = "duplicates.parquet"
#: The duplicates table's delta files (Manifest.duplicate_deltas): `dNNNNNN.parquet`, named
#: by the version that wrote it.
DUPLICATE_DELTAS = "duplicates"
CONTACTS_BOOK = "contacts.parquet"

#: What every Parquet file jtrack writes into a store says in its footer's key-value metadata:
#: its pages carry a CRC32 each (pyarrow's write_page_checksum), which `jtrack store verify
#: --full` checks. A file without it (an earlier jtrack's, or an input kept as a segment as
#: it was) can only be decoded.
CHECKSUMS = {b"jtrack.page_checksums": b"crc32"}

_VERSION_RE = re.compile(r"^v(\d{6,})$")

#: Crash-safety tests only: `JTRACK_TEST_KILL_AT=<point>` SIGKILLs the process at that point
#: of a version write; `<point>:INT` sends SIGINT (as Ctrl-C would), `<point>:STOP` SIGSTOP.
KILL_ENV = "JTRACK_TEST_KILL_AT"
KILL_POINTS = (
    "after_segments",
    "after_index",
    "after_sessions",
    "before_rename",
    "after_rename",
    "after_current",
)
_KILL_SIGNALS = {"": signal.SIGKILL, "INT": signal.SIGINT, "STOP": signal.SIGSTOP}


#: (the store as shown, the version) of every version this process made current, in turn:
#: what a command interrupted after a commit says (the store is not as it was)
COMMITS: list[tuple[str, str]] = []


def kill_point(point: str) -> None:
    name, _, sig = os.environ.get(KILL_ENV, "").partition(":")
    if name == point:
        os.kill(os.getpid(), _KILL_SIGNALS.get(sig, signal.SIGKILL))


def version_name(number: int) -> str:
    return f"v{number:06d}"


def version_number(name: str) -> int | None:
    """The number of a version directory name; None for anything else (never trusted)."""
    m = _VERSION_RE.match(name)
    return int(m.group(1)) if m else None


def is_store_dir(folder: Path) -> bool:
    """Whether a folder is a jtrack store (its CURRENT pointer and versions folder): readers
    of exports leave its files alone."""
    return (folder / CURRENT).is_file() and (folder / VERSIONS).is_dir()


def default_store_path() -> Path:
    """$JTRACK_STORE, else ./.jtrack; an empty or blank $JTRACK_STORE (`JTRACK_STORE=` in a
    crontab, `export JTRACK_STORE=" "`) is refused (a UsageError), never the current folder
    or one named with a space."""
    from jtrack.checks import env_value

    value = env_value(STORE_ENV, "the store's folder", f"./{DEFAULT_STORE}")
    return Path(value if value is not None else DEFAULT_STORE)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_crc32(path: Path) -> int:
    """The CRC32 of a file's bytes (read back from the page cache after a write)."""
    import zlib

    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


__all__ = [
    "CHECKSUMS",
    "CONTACTS_BOOK",
    "CURRENT",
    "CURRENT_LINK",
    "DEFAULT_STORE",
    "DUPLICATES",
    "DUPLICATE_DELTAS",
    "HELD",
    "KILL_ENV",
    "KILL_POINTS",
    "LOCK",
    "MANIFEST",
    "READERS",
    "REJECTS",
    "RUNS",
    "RUN_CHUNK",
    "SEGMENTS",
    "STORE_ENV",
    "TMP_PREFIX",
    "VERSIONS",
    "default_store_path",
    "file_crc32",
    "fsync_dir",
    "fsync_file",
    "kill_point",
    "version_name",
    "version_number",
]
