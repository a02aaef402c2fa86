"""Files jtrack writes for the user (`-o FILE`, `--rejects FILE`): safe and all-or-nothing.

Rules (README, Guarantees and limits):
- A regular target is written to a temp file created in the target's directory with an
  unpredictable name and O_CREAT|O_EXCL (`tempfile.mkstemp`: it never opens an existing path,
  so a symlink planted under a temp name is never followed), then renamed over the target
  (`os.replace`). Readers see the old file or the new one, never a part; a failure (a full
  disk, say) removes the temp file and leaves the target as it was.
- A symlink at the target is replaced by the new file, never followed (another user could
  point it anywhere).
- A character device, FIFO or socket (`/dev/null`, a named pipe, `/dev/stdout` on a pipe or
  terminal) is written directly and never replaced; paths under /dev and /proc are always
  written in place and never created or renamed.
- The new file keeps the mode of the file it replaces (else the default of the umask).
Imports the stdlib only (a Polars writer is a callable taking a binary file).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, cast

from jtrack.errors import ExitCode, JtrackError, UsageError

#: Directories whose entries are the kernel's, not files: written in place, never replaced.
_SYSTEM_DIRS = ("/dev/", "/proc/")


class OutputError(JtrackError):
    """An output file could not be written (a full disk, an I/O error): exit 1."""

    exit_code = ExitCode.DATA


def is_special_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` (symlinks followed) is a character device, FIFO or socket, or an
    existing entry of /dev or /proc: something written in place, never replaced."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        return False
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return True
    return os.path.abspath(p).startswith(_SYSTEM_DIRS)


def _umask() -> int:
    """The process umask, without changing it where Linux reports it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """The mode of the regular file being replaced, else what open() would create."""
    try:
        st = os.lstat(target)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode) & 0o777
    return 0o666 & ~_umask()


def _check_target(target: Path) -> None:
    """Refuse up front what could only fail after the data was written."""
    if os.path.abspath(target).startswith(_SYSTEM_DIRS):
        raise UsageError(
            f"{target}: no such device", hint="jtrack never creates files under /dev or /proc"
        )
    if target.is_dir() and not target.is_symlink():
        raise OutputError(f"{target}: is a directory", hint="name a file to write")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse, before a run changes anything, an output file that could not be written
    after it: a directory, a missing or unwritable folder (OutputError, exit 1). Devices,
    FIFOs and sockets are written in place and pass."""
    target = Path(path)
    if is_special_file(target):
        return
    _check_target(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(
            f"{target}: cannot write (no such directory {folder})",
            hint="check the directory exists",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"{target}: cannot write (the directory {folder} is not writable)",
            hint="write to a directory you may write to",
        )


def _write_error(target: Path, exc: OSError) -> JtrackError:
    reason = exc.strerror or str(exc)
    # a file that cannot be written is exit 1, as every other file jtrack cannot read or write
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return OutputError(f"{target}: cannot write ({reason})", hint="check the directory exists")
    if exc.errno == errno.EISDIR:
        return OutputError(f"{target}: is a directory", hint="name a file to write")
    return OutputError(
        f"{target}: cannot write ({reason}); nothing was written",
        hint="check the free space and that the directory is writable",
    )


class _Recording:
    """A binary file that remembers the OSError its writes raised (Polars wraps it in a
    ComputeError; the original tells a full disk from a bug)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@contextmanager
def open_atomic(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write `path` through (see the module rules): on a clean exit the
    target holds exactly what was written; on an exception it is untouched and no temp file
    is left. OSErrors (ENOSPC, EIO, ...) become one OutputError/UsageError line. `private`:
    readable by its owner only (0600), whatever the umask or the file it replaces (a
    person's data: `jtrack store access`)."""
    target = Path(path)
    if is_special_file(target):
        yield from _open_in_place(target)
        return
    _check_target(target)
    directory = target.parent if str(target.parent) else Path(".")
    mode = 0o600 if private else _mode_for(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    tmp = Path(tmp_name)
    fh = os.fdopen(fd, "wb")
    rec = _Recording(fh)
    done = False
    try:
        yield cast(IO[bytes], rec)
        fh.flush()
        os.fsync(fh.fileno())
        os.fchmod(fh.fileno(), mode)
        fh.close()
        os.replace(tmp, target)
        done = True
        _remove_stale_temps(directory, target.name)
    except OSError as exc:
        raise _write_error(target, rec.error or exc) from exc
    except Exception as exc:
        if rec.error is not None:  # a library wrapped the write's OSError
            raise _write_error(target, rec.error) from exc
        raise
    finally:
        if not done:
            fh.close()
            tmp.unlink(missing_ok=True)


def _open_in_place(target: Path) -> Iterator[IO[bytes]]:
    """A device, FIFO or /dev, /proc entry: opened for writing as it is (never created,
    truncated or replaced; a regular file behind /dev/stdout is appended to)."""
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        st = os.stat(target)
        if stat.S_ISREG(st.st_mode):
            flags |= os.O_APPEND
        fd = os.open(target, flags)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    fh = os.fdopen(fd, "wb")
    rec = _Recording(fh)
    try:
        yield cast(IO[bytes], rec)
        fh.flush()
    except OSError as exc:
        raise _write_error(target, rec.error or exc) from exc
    except Exception as exc:
        if rec.error is not None:
            raise _write_error(target, rec.error) from exc
        raise
    finally:
        with suppress(OSError):
            fh.close()


def write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], None]) -> None:
    """Write `path` through open_atomic with `writer(file)` (e.g. `df.write_parquet`)."""
    with open_atomic(path) as fh:
        writer(fh)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with open_atomic(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(path, text.encode(encoding))


def check_rejects_target(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    store_root: str | os.PathLike[str] | None = None,
    allowed: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """UsageError (exit 2) when a rejects path is `-`, names one of the run's input files or
    lies inside the store (its lock, CURRENT, snapshots, ...); `allowed` lists store paths
    that are the store's own rejects file. See check_output_target."""
    if os.fspath(path) == "-":  # (as -o takes it: stdout, which carries the run's listing)
        raise UsageError(
            "--rejects -: the rejected rows go to a file, not standard output",
            hint="name a file: --rejects rejects.jsonl",
        )
    check_output_target(
        path,
        option="--rejects",
        inputs=inputs,
        store_root=store_root,
        allowed=allowed,
        what="rejects",
    )


def check_output_target(
    path: str | os.PathLike[str],
    *,
    option: str = "-o",
    inputs: Iterable[str | os.PathLike[str]] = (),
    store_root: str | os.PathLike[str] | None = None,
    allowed: Iterable[str | os.PathLike[str]] = (),
    what: str = "the output",
) -> None:
    """UsageError (exit 2) when a file jtrack is asked to write (`option`'s value) is one of
    the files the command reads (`inputs`: files, or folders and globs as given, whose data
    files it reads; a data file written into an input folder would be read by the next run)
    or lies inside the store at `store_root` (but for `allowed` paths). Symlinks are
    resolved before comparing. And one that could not be written (check_writable:
    OutputError, exit 1). Devices and FIFOs (/dev/stdout) are never refused."""
    target = Path(path)
    if is_special_file(target):
        return
    resolved = real_path(target)
    for inp in inputs:
        if os.fspath(inp) == "-":
            continue
        why = _reads(Path(inp), target, resolved)
        if why is not None:
            raise UsageError(f"{option} {target}: {why}", hint=f"write {what} to another file")
    if resolved in {real_path(a) for a in allowed}:
        return  # (the store's own rejects file)
    if store_root is not None:
        root = real_path(store_root)
        if resolved == root or root in resolved.parents:
            raise UsageError(
                f"{option} {target}: that is inside the store ({root})",
                hint=f"the store keeps its own files; write {what} outside it",
            )
    check_writable(target)


def real_path(path: str | os.PathLike[str]) -> Path:
    """A path's real path; its absolute path when it cannot be resolved (a symlink loop)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (by inode when both exist, else by real path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return real_path(a) == real_path(b)


def _reads(source: Path, target: Path, resolved: Path) -> str | None:
    """What reading `source` (a file, a folder or a glob, as a command takes it) does with
    `target` (`resolved`: its real path): "reads" it, or "would read" it once written
    (a file of events in a folder or matching a pattern it reads); None: neither."""
    from jtrack.read.sources import (
        bare_name,
        folders_reached,
        glob_reads,
        is_data_file,
        rotation_read,
    )

    if same_file(source, target):
        return "that is a file this command reads"
    if rotation_read(os.fspath(source), target):
        return (
            f"named as a rotated copy of what this command reads ({source}): the next run "
            "would read it as events"
        )
    would = (
        f"inside what this command reads events from ({source}): the next run would read "
        "it as events"
    )
    if source.is_dir():  # (its walk follows symlinked folders: by their real paths too)
        if not is_data_file(target) and not bare_name(target):  # (bare: read as JSON lines)
            return None
        inside = real_path(source) in resolved.parents
        return would if inside or resolved.parent in folders_reached(source) else None
    if source.exists() or not any(c in os.fspath(source) for c in "*?["):
        return None
    return would if glob_reads(os.fspath(source), target) else None


#: A temp file of a write to the same target not changed for this long was left by a
#: process killed while it wrote (SIGKILL: no clean-up ran); a live write keeps changing it.
STALE_TEMP_SECONDS = 6 * 3600


def _remove_stale_temps(directory: Path, name: str) -> None:
    """Remove the temp files a killed write of `name` left in `directory` (`.NAME.XXXXXXXX.tmp`
    as mkstemp names them, regular files of ours untouched for STALE_TEMP_SECONDS): a run
    killed by a service's timeout left 57 MB hidden beside the report, for good."""
    import re
    import time

    pattern = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}\.tmp")
    cut = time.time() - STALE_TEMP_SECONDS
    with suppress(OSError):
        for entry in os.scandir(directory):
            if not pattern.fullmatch(entry.name):
                continue
            with suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and st.st_mtime < cut:
                    os.unlink(entry.path)


def write_rejects(
    rejects: Any,
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    store_root: str | os.PathLike[str] | None = None,
    allowed: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write rejected rows (a frame with `write_ndjson`) as JSONL through open_atomic, after
    check_rejects_target: never over an input, never into the store's internals."""
    check_rejects_target(path, inputs=inputs, store_root=store_root, allowed=allowed)
    write_with(path, ndjson_writer(rejects))


def ndjson_writer(frame: Any) -> Callable[[IO[bytes]], None]:
    """A writer of `frame` as JSON lines (for write_with) with U+2028 and U+2029 written as
    `\\u2028`, `\\u2029`, as jtrack's other JSON (Polars writes them raw, and they split a
    line for `str.splitlines`, editors and JavaScript; raw, they can only be inside a string,
    so the bytes are replaced alike)."""

    def write(fh: IO[bytes]) -> None:
        buf = io.BytesIO()
        frame.write_ndjson(buf)
        data = buf.getvalue()
        if b"\xe2\x80\xa8" in data or b"\xe2\x80\xa9" in data:
            data = data.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        fh.write(data)

    return write


__all__ = [
    "OutputError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_target",
    "check_rejects_target",
    "check_writable",
    "is_special_file",
    "open_atomic",
    "real_path",
    "same_file",
    "write_rejects",
    "write_with",
]


def remove_unheld(folder: str, prefix: str, lock: str | None = None, min_age: float = 0) -> None:
    """Remove what processes of this user killed before they could (SIGKILL, an
    out-of-memory kill) left in `folder` (a temporary folder): each entry named `prefix...`
    whose lock no process holds (flock on its file `lock` inside it, a folder; else on the
    entry itself, a file), untouched for `min_age` seconds (a file just made is not locked
    yet). A lock is held whatever process namespace its holder runs in (containers sharing
    /tmp), where a process id would say nothing; another user's entry, a link, a folder
    without its lock file, or one on a file system without locks is left."""
    import fcntl
    import shutil
    import time

    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            kind_ok = stat.S_ISDIR(st.st_mode) if lock else stat.S_ISREG(st.st_mode)
            if not kind_ok or st.st_uid != os.getuid() or time.time() - st.st_mtime < min_age:
                continue
            target = os.path.join(entry.path, lock) if lock else entry.path
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # (held: its process runs)
        try:
            if lock:
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with suppress(OSError):
                    os.unlink(entry.path)
        finally:
            os.close(fd)
