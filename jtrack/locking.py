"""One exclusive advisory lock (fcntl) with a bounded wait: used by the store and by report
files written with -o. Imports stdlib only."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jtrack.errors import JtrackError


def _is_linked(fd: int, lock_path: Path) -> bool:
    """True if `lock_path` still names the file `fd` has open (not unlinked or replaced)."""
    try:
        there = lock_path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def folder_mode(folder: Path) -> int:
    """The read and write bits of `folder` (0o666 of its mode): what a lock file made in
    it gets, whatever the umask, so that every account that may write there can take it."""
    try:
        return stat.S_IMODE(os.stat(folder).st_mode) & 0o666
    except OSError:
        return 0o644


def open_lock(lock_path: Path, mode: int) -> int:
    """A descriptor on `lock_path` to flock: made with `mode` (whatever the umask) when
    missing; opened read-only when this account may not write it (flock(2) needs no write
    access: a lock file another account left, even root's, is still taken); when it may not
    even read it (another account's 0600), a PermissionError (replacing it raced: two runs
    could hold the lock at once)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        pass
    else:
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)  # (not the umask's)
        return fd
    for flags in (os.O_RDWR, os.O_RDONLY):
        try:
            return os.open(lock_path, flags | os.O_CLOEXEC)
        except FileNotFoundError:  # (removed meanwhile by its holder: made again)
            return open_lock(lock_path, mode)
        except PermissionError:
            continue
    # (one this account may not even read, another account's 0600: never replaced, which
    # could let two runs hold the lock at once; said, for its owner to mend)
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(lock_path))


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
    mode: int | None = None,
) -> Iterator[Path]:
    """Hold an exclusive lock on `lock_path`; wait up to `wait` seconds, then raise `locked()`.

    With `remove`, the lock file is deleted when the lock is released. That is safe because
    every holder follows one protocol: it deletes the file while it still holds the lock, and a
    run that gets the lock checks that `lock_path` still names the file it locked; if the
    holder before it deleted it, the run locks the file now at the path instead. So two runs
    never both believe they hold it (one locking a deleted file, the other a new one). Without
    `remove` the lock file stays (the store's own `.lock`). A lock file made here gets
    `mode` (default: the read and write bits of its folder), whatever the umask; one this
    account may not write is locked through a read-only descriptor (see open_lock).
    """
    if mode is None:
        mode = folder_mode(lock_path.parent)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fd = open_lock(lock_path, mode)
        except FileNotFoundError:  # its folder was removed by the holder before us
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_lock(lock_path, mode)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise locked() from None
                    time.sleep(poll)
            if _is_linked(fd, lock_path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder deleted it while we waited: lock the file at the path now
    try:
        yield lock_path
    finally:
        try:
            if remove and _is_linked(fd, lock_path):
                with contextlib.suppress(OSError):  # left behind, it is only an empty file
                    lock_path.unlink()  # before the lock is released (see above)
        finally:
            os.close(fd)
