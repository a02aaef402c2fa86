"""One exclusive advisory lock (fcntl) with a bounded wait: used by the store and by report
files written with -o. Imports stdlib only."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from jtrack.errors import JtrackError


def _is_linked(fh: IO[str], lock_path: Path) -> bool:
    """True if `lock_path` still names the file `fh` has open (not unlinked or replaced)."""
    try:
        there = lock_path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fh.fileno())
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def lock_in_use(lock_path: Path) -> bool | None:
    """Whether a process holds the flock of `lock_path`, found without taking it (a lock
    tried, even for a moment, would fail a run that starts in that moment): from Linux's
    /proc/locks. None where that cannot be told (no such file, another system)."""
    try:
        st = lock_path.stat()
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            table = fh.read()
    except OSError:
        return None
    key = f" {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} "
    return any(" FLOCK " in line and key in line for line in table.splitlines())


@contextlib.contextmanager
def exclusive_lock(
    lock_path: Path,
    wait: float,
    locked: Callable[[], JtrackError],
    poll: float = 0.05,
    remove: bool = False,
) -> Iterator[Path]:
    """Hold an exclusive lock on `lock_path`; wait up to `wait` seconds, then raise `locked()`.

    With `remove`, the lock file is deleted when the lock is released. That is safe because
    every holder follows one protocol: it deletes the file while it still holds the lock, and a
    run that gets the lock checks that `lock_path` still names the file it locked; if the
    holder before it deleted it, the run locks the file now at the path instead. So two runs
    never both believe they hold it (one locking a deleted file, the other a new one). Without
    `remove` the lock file stays (the store's own `.lock`).
    """
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fh = open(lock_path, "a+")  # noqa: SIM115 - held for the context
        except FileNotFoundError:  # its folder was removed by the holder before us
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock_path, "a+")  # noqa: SIM115
        try:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise locked() from None
                    time.sleep(poll)
            if _is_linked(fh, lock_path):
                break
        except BaseException:
            fh.close()
            raise
        fh.close()  # its holder deleted it while we waited: lock the file at the path now
    try:
        yield lock_path
    finally:
        try:
            if remove and _is_linked(fh, lock_path):
                with contextlib.suppress(OSError):  # left behind, it is only an empty file
                    lock_path.unlink()  # before the lock is released (see above)
        finally:
            fh.close()
