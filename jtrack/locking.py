"""One exclusive advisory lock (fcntl) with a bounded wait: used by the store and by report
files written with -o. Imports stdlib only."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jtrack.errors import JtrackError


@contextlib.contextmanager
def exclusive_lock(
    lock_path: Path, wait: float, locked: Callable[[], JtrackError], poll: float = 0.05
) -> Iterator[Path]:
    """Hold an exclusive lock on `lock_path`; wait up to `wait` seconds, then raise `locked()`.

    The lock file stays behind (removing it would let a third run lock a different inode).
    """
    fh = open(lock_path, "a+")  # noqa: SIM115 - held for the context
    deadline = time.monotonic() + max(wait, 0.0)
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
        yield lock_path
    finally:
        fh.close()
