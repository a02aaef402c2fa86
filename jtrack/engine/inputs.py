"""Which inputs a run must read: files taken in before are recognised without being parsed.

A file is known by where it is (absolute path, or device and inode for one renamed by a
rotation; size and modification time unchanged means skipped without reading a byte) and by
its content digest (SHA-256 of the bytes taken in: their count, their first and their last
MiB). A JSON lines file that grew since it was taken in, whose bytes taken in are unchanged,
is read from where it was left: only its new lines are read, numbered as lines of the whole
file (a growing file is taken to be appended to: only the count and the first and last MiB
of its bytes taken in are checked). Any other file that changed is read again; its events
are deduplicated against the store. A file whose modification time changed but whose size
and digest did not is taken to be the same (a file touched, or synced again, is not read
again: nightly runs must not pay for the whole history; an edit in its middle that keeps its
size is not seen, and `--rebuild` reads everything again). Two sources with one digest in a
run are read once only if their bytes are the same. With `follow` (files still being
written: `jtrack watch`), a JSON lines file's unfinished last line is left for the next run
(read as it is once the file is left alone SETTLE_SECONDS), and a Parquet file without its
footer yet is left for later; without `follow`, so is a Parquet file begun (its leading
magic bytes written) without its footer that changed within SETTLE_SECONDS (an exporter
writing it beside a nightly run). Imports the standard library
and jtrack.read only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from jtrack.read import DEFAULT_MAX_LINE_BYTES, Source, plain_json_lines
from jtrack.read.decode import _decoded_chunks
from jtrack.read.sources import compression
from jtrack.store.manifest import InputFile

_EDGE = 1 << 20
_BLOCK = 1 << 16


@dataclass(frozen=True)
class Identity:
    """A source as taken in: the file's size and time, and the bytes [start, end) read."""

    path: str  # absolute ("" for stdin)
    size: int
    mtime_ns: int
    digest: str  # of the bytes [0, end)
    start: int = 0
    #: bytes of the file taken in once this source is read (None: all of it, as it is then)
    end: int | None = None
    #: physical lines in [0, end), when counted
    lines: int | None = None
    dev: int = 0
    ino: int = 0
    #: of a piece of a JSON lines file, its first line's number (its lines are counted as
    #: it is read: see piece_lines)
    first_line: int | None = None
    #: of a JSON lines file whose last line has no newline (an export cut mid-write): where
    #: that line starts (see InputFile.tail)
    open_line: int | None = None

    @property
    def nbytes(self) -> int:
        return (self.size if self.end is None else self.end) - self.start


def _digest(fh: BinaryIO, n: int) -> str:
    """SHA-256 of n, the first MiB of the first n bytes and the last MiB of them."""
    h = hashlib.sha256(n.to_bytes(8, "big"))
    fh.seek(0)
    h.update(fh.read(min(_EDGE, n)))
    if n > _EDGE:
        fh.seek(max(_EDGE, n - _EDGE))
        h.update(fh.read(n - max(_EDGE, n - _EDGE)))
    return h.hexdigest()


def identify(src: Source) -> Identity:
    """Size, modification time and content digest of a source."""
    if src.data is not None:
        h = hashlib.sha256(len(src.data).to_bytes(8, "big"))
        h.update(src.data[:_EDGE])
        h.update(src.data[-_EDGE:])
        return Identity("", len(src.data), 0, h.hexdigest())
    assert src.path is not None
    if src.stdin:  # (spooled: known by its bytes alone, digested as stdin always was)
        with open(src.path, "rb") as fh:
            n = os.fstat(fh.fileno()).st_size
            h = hashlib.sha256(n.to_bytes(8, "big"))
            h.update(fh.read(_EDGE))
            fh.seek(max(0, n - _EDGE))
            h.update(fh.read(_EDGE))
        return Identity("", n, 0, h.hexdigest())
    path = src.path.resolve()
    st = path.stat()
    with open(path, "rb") as fh:
        digest = _digest(fh, st.st_size)
    return Identity(str(path), st.st_size, st.st_mtime_ns, digest, dev=st.st_dev, ino=st.st_ino)


def _count_lines(fh: BinaryIO, start: int, end: int) -> int:
    """Newlines in the bytes [start, end)."""
    fh.seek(start)
    n, left = 0, end - start
    while left > 0:
        chunk = fh.read(min(_EDGE, left))
        if not chunk:
            break
        n += chunk.count(b"\n")
        left -= len(chunk)
    return n


def _last_newline(fh: BinaryIO, start: int, size: int) -> int:
    """The position after the last newline in [start, size) (start: none there)."""
    pos = size
    while pos > start:
        step = min(_BLOCK, pos - start)
        fh.seek(pos - step)
        nl = fh.read(step).rfind(b"\n")
        if nl >= 0:
            return pos - step + nl + 1
        pos -= step
    return start


def _complete_end(fh: BinaryIO, start: int, size: int, max_line_bytes: int) -> int:
    """Where the complete lines of [start, size) end: after the last newline, or at `size`
    when what follows it is blank or a whole JSON object (a last line without a newline).
    A line still being written is left out."""
    cut = _last_newline(fh, start, size)
    if size - cut > max_line_bytes:  # still being written, or overlong: taken once whole
        return cut
    fh.seek(cut)
    tail = fh.read(size - cut)
    if not tail.strip():
        return size
    try:
        if isinstance(json.loads(tail), dict):
            return size
    except ValueError:
        pass
    return cut


#: A compressed file or a JSON document changed this recently (seconds) may still be being
#: written: it is decompressed or parsed to its end, and waits while that fails. One left
#: alone longer is read as it is (a corrupt one is the error it is, as in `sessionize`),
#: and never looked at twice: a settled file costs no such read.
SETTLE_SECONDS = 10.0


def settled(mtime: float) -> bool:
    """Whether a file last changed at `mtime` has been left alone SETTLE_SECONDS: a line,
    stream or document it ends with unfinished is read as it is."""
    return time.time() - mtime >= SETTLE_SECONDS


#: ... a document bigger than this is judged by its last byte alone.
_PARSE_DOCUMENT = 64 << 20


def _unfinished(fh: BinaryIO, path: str, size: int, mtime: float) -> bool:
    """Whether a file that is not plain JSON lines is still being written: a Parquet file
    without its footer, a JSON document whose last character is no `]` or `}`; and, changed
    within SETTLE_SECONDS, a compressed stream that stops before its end (logrotate's
    `compress` writes `app.jsonl.2.gz` in place) or a document that does not parse yet (a
    REST page saved as it is written ends with `}` after every entity)."""
    fh.seek(0)
    head = fh.read(10)
    fresh = not settled(mtime)
    if compression(head) is not None:
        return fresh and not _whole_stream(path)
    if head[:4] == b"PAR1" or _parquet_suffix(path):
        fh.seek(max(0, size - 4))
        return size < 12 or fh.read(4) != b"PAR1"
    fh.seek(max(0, size - _BLOCK))
    end = fh.read(_BLOCK).rstrip(b" \t\r\n\x00")  # UTF-16 too
    if not end.endswith((b"]", b"}")):
        return True
    if not fresh or size > _PARSE_DOCUMENT:
        return False
    data = b"".join(_decoded_chunks(Source(path, Path(path))))  # (UTF-16 too)
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        # JSON lines that are not plain (UTF-16; a first line starting with `[`) never
        # parse whole: whole lines, they are read
        return not _whole_lines(text)
    return False


def _parquet_begun(fh: BinaryIO, size: int) -> bool:
    """Whether a file starts as Parquet (`PAR1`) and does not end as one: its writer has
    not written the footer yet (or died first)."""
    fh.seek(0)
    if size < 4 or fh.read(4) != b"PAR1":
        return False
    fh.seek(max(0, size - 4))
    return size < 12 or fh.read(4) != b"PAR1"


def _whole_lines(text: str) -> bool:
    """Whether text that is no JSON document is JSON lines whose last line is whole (a JSON
    value of its own): the file is read, and any bad line before it is its reject."""
    lines = text.rstrip().rsplit("\n", 1)
    if len(lines) < 2:
        return False
    try:
        json.loads(lines[-1])
    except (ValueError, RecursionError):
        return False
    return True


def _whole_stream(path: str) -> bool:
    """Whether a compressed file (gzip, zstd, bzip2, xz) decompresses to its end (read
    through, nothing kept)."""
    from jtrack.errors import DataError

    try:
        for _ in _decoded_chunks(Source(path, Path(path))):
            pass
    except DataError:
        return False
    return True


def _same_bytes(a: Identity, b: Identity) -> bool:
    """Whether two sources hold the same bytes taken in: one file (the same inode) named
    twice, or two files equal byte for byte. (The digest reads only a file's first and last
    MiB: two exports can share those and still differ in between.)"""
    if (a.dev, a.ino) == (b.dev, b.ino) and a.ino:
        return True
    if not a.path or not b.path or (a.start, a.end) != (b.start, b.end):
        return False
    n = (a.size if a.end is None else a.end) - a.start
    try:
        with open(a.path, "rb") as fa, open(b.path, "rb") as fb:
            fa.seek(a.start)
            fb.seek(b.start)
            while n > 0:
                x, y = fa.read(min(_EDGE, n)), fb.read(min(_EDGE, n))
                if x != y or not x:
                    return False
                n -= len(x)
    except OSError:
        return False
    return True


@dataclass
class Planned:
    """The sources of a run: those to read (with their identities) and those skipped."""

    read: list[tuple[Source, Identity]]
    skipped: list[tuple[Source, InputFile]]  # (source, the input it was taken in as)
    #: files still being written, left for a later run (with `follow`)
    waiting: list[Source] = field(default_factory=list)
    #: files of the same bytes as another of this run, read once: (file, the one read)
    twins: list[tuple[Source, Source]] = field(default_factory=list)


def plan_inputs(
    sources: list[Source],
    taken: list[InputFile],
    *,
    follow: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Planned:
    """Split the sources into new ones (or new parts of grown ones) and ones the store holds."""
    by_path = {t.path: t for t in taken if t.path}  # a file's last piece
    by_inode = {(t.dev, t.ino): t for t in taken if t.ino}
    by_digest = {(t.end, t.sha256): t for t in taken}
    shared = shared_names(taken)
    planned = Planned([], [])
    seen: dict[tuple[int, str], Identity] = {}
    firsts: dict[tuple[int, str], Source] = {}
    for src in sources:
        if src.path is not None and not src.stdin:
            path = str(src.path.resolve())
            try:
                st: os.stat_result | None = os.stat(path)
            except OSError:
                st = None  # the reader says what is wrong with it
            if st is not None:
                # the file itself (renamed by a rotation, too), else what was at its path
                # when that was not recorded; a new file at an old path is a new file
                known = by_inode.get((st.st_dev, st.st_ino))
                if known is None:
                    at_path = by_path.get(path)
                    known = at_path if at_path is not None and not at_path.ino else None
                if (
                    known is not None
                    and (st.st_size, st.st_mtime_ns) == (known.size, known.mtime_ns)
                    # (a line a follow run left waiting is read by a run that does not
                    # follow, or once the file is left alone: it is as finished as it
                    # will be)
                    and (known.end >= st.st_size or (follow and not settled(st.st_mtime)))
                ):
                    planned.skipped.append((src, known))
                    continue
                if known is not None and known.name in shared and known.tail is not None:
                    # (its reject is known by file name and line: another input of that name
                    # may have one there too; read again whole, as before tails were kept)
                    known = replace(known, tail=None)
                part = _plan_file(src, path, st, known, follow, max_line_bytes, by_digest)
                if part is None:
                    planned.waiting.append(src)
                    continue
                if isinstance(part, InputFile):
                    planned.skipped.append((src, part))
                    continue
                src, fp = part
                # (empty files are all alike: each is a file of its own, warned of)
                key = (fp.start, fp.digest if fp.size else f"{fp.dev}:{fp.ino}:{path}")
                if key in seen and _same_bytes(seen[key], fp):  # one file named twice
                    if firsts[key].path != src.path:  # (the same bytes under two names)
                        planned.twins.append((src, firsts[key]))
                    continue
                seen.setdefault(key, fp)
                firsts.setdefault(key, src)
                planned.read.append((src, fp))
                continue
        fp = identify(src)
        same = by_digest.get((fp.size, fp.digest))
        if same is not None:
            planned.skipped.append((src, same))
            continue
        if (0, fp.digest) in seen:
            continue
        seen[(0, fp.digest)] = fp
        planned.read.append((src, fp))
    return planned


def shared_names(taken: list[InputFile]) -> set[str]:
    """The names more than one input taken in has (a rotated file and the new one at its
    path): an unfinished line's reject, known by file name and line, is ambiguous there."""
    from collections import Counter

    return {name for name, n in Counter(t.name for t in taken).items() if n > 1}


def _plan_file(
    src: Source,
    path: str,
    st: os.stat_result,
    known: InputFile | None,
    follow: bool,
    max_line_bytes: int,
    by_digest: dict[tuple[int, str], InputFile],
) -> tuple[Source, Identity] | InputFile | None:
    """What to read of a file on disk: all of it, its new lines (a grown JSON lines file),
    nothing yet (None: still being written) or nothing new (the piece already taken, or the
    same bytes taken in under another name or inode: `by_digest`, by (end, digest); known
    before the lines are counted, which a restored folder would pay every run)."""
    size = st.st_size
    if follow and size == 0:
        return None  # just created: its writer has not written yet
    ident = {"dev": st.st_dev, "ino": st.st_ino}
    if size == 0 and known is not None and known.end == 0:
        return known  # (an empty file taken in before, touched: still nothing in it)
    with open(path, "rb") as fh:
        if not plain_json_lines(path, max_line_bytes):
            if follow and _unfinished(fh, path, size, st.st_mtime):
                return None
            # (a run that does not follow leaves alone a Parquet file begun and without
            # its footer that changed within SETTLE_SECONDS: a nightly run beside an
            # exporter still writing one takes it the next night; it failed the night)
            if not follow and not settled(st.st_mtime) and _parquet_begun(fh, size):
                return None
            digest = _digest(fh, size)
            same = by_digest.get((size, digest))
            # (an empty file is the same bytes as any other: a new one is read, and warned
            # of as empty, or refused as a 0-byte .parquet, not skipped as one taken before)
            if same is not None and size:
                return same
            return src, Identity(path, size, st.st_mtime_ns, digest, end=size, **ident)
        start, before = 0, 0
        if known is not None and known.end < size and _digest(fh, known.end) == known.sha256:
            if _continues(fh, known.end):
                start = known.end
            elif known.tail is not None:  # its rejected last line, unfinished then, grew
                start = known.tail
        if start:
            assert known is not None
            # (no newline in [tail, end): the newlines before the tail are the known ones)
            before = known.lines if known.lines is not None else _count_lines(fh, 0, start)
        # (a last line without a newline waits while the file is written; left alone
        # SETTLE_SECONDS, it is read as it is, as a document or a stream is)
        whole = not follow or settled(st.st_mtime)
        end = size if whole else _complete_end(fh, start, size, max_line_bytes)
        if end <= start:
            if start == 0:
                return None  # one line, still being written
            assert known is not None
            return known
        digest = _digest(fh, end)
        same = by_digest.get((end, digest)) if start == 0 else None
        if same is not None:
            return same
        open_line = None
        fh.seek(end - 1)
        if fh.read(1) != b"\n":
            open_line = _last_newline(fh, start, end)
    piece = replace(src, offset=start, end=end, first_line=before + 1)
    return piece, Identity(
        path,
        size,
        st.st_mtime_ns,
        digest,
        start=start,
        end=end,
        first_line=before + 1,
        open_line=open_line,
        **ident,
    )


def piece_lines(fp: Identity, counted: int | None) -> int | None:
    """The physical lines in [0, end) of a source taken in: of a piece of a JSON lines file,
    those its reader `counted` (a reader that did not count them: counted here, a pass over
    the piece), else what the plan knew."""
    if fp.first_line is None:
        return fp.lines
    if counted is not None:
        return counted
    assert fp.end is not None
    with open(fp.path, "rb") as fh:
        return fp.first_line - 1 + _count_lines(fh, fp.start, fp.end)


def _continues(fh: BinaryIO, end: int) -> bool:
    """Whether the bytes after `end` start a new line: the piece taken ended with a newline,
    or with a whole last line the new bytes end with their first newline."""
    if end == 0:
        return False
    fh.seek(end - 1)
    around = fh.read(3)
    return around[:1] == b"\n" or around[1:2] == b"\n" or around[1:3] == b"\r\n"


def _parquet_suffix(path: str) -> bool:
    return path.lower().endswith((".parquet", ".pq"))


def is_file_path(src: Source) -> bool:
    return src.path is not None and not src.stdin and Path(src.path).is_file()


__all__ = ["Identity", "Planned", "identify", "piece_lines", "plan_inputs"]
