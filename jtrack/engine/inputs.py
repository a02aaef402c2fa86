"""Which inputs a run must read: files taken in before are recognised without being parsed.

A file is known by where it is (absolute path, size, modification time: unchanged means
skipped without reading a byte) and by its content digest (SHA-256 of its size, its
first and its last MiB: a file renamed by a rotation is still the same file). A file that
changed since it was taken in is read again; its events are deduplicated against the store.
Imports the standard library and jtrack.read only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from jtrack.read import Source
from jtrack.store.manifest import InputFile

_EDGE = 1 << 20


@dataclass(frozen=True)
class Identity:
    path: str  # absolute ("" for stdin)
    size: int
    mtime_ns: int
    digest: str


def identify(src: Source) -> Identity:
    """Size, modification time and content digest of a source."""
    if src.data is not None:
        h = hashlib.sha256(len(src.data).to_bytes(8, "big"))
        h.update(src.data[:_EDGE])
        h.update(src.data[-_EDGE:])
        return Identity("", len(src.data), 0, h.hexdigest())
    assert src.path is not None
    path = src.path.resolve()
    st = path.stat()
    h = hashlib.sha256(st.st_size.to_bytes(8, "big"))
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        if st.st_size > _EDGE:
            fh.seek(max(_EDGE, st.st_size - _EDGE))
            h.update(fh.read(_EDGE))
    return Identity(str(path), st.st_size, st.st_mtime_ns, h.hexdigest())


@dataclass
class Planned:
    """The sources of a run: those to read (with their identities) and those skipped."""

    read: list[tuple[Source, Identity]]
    skipped: list[tuple[Source, InputFile]]  # (source, the input it was taken in as)


def plan_inputs(sources: list[Source], taken: list[InputFile]) -> Planned:
    """Split the sources into new ones and ones the store already holds."""
    by_path = {t.path: t for t in taken if t.path}
    by_digest = {(t.size, t.sha256): t for t in taken}
    read: list[tuple[Source, Identity]] = []
    skipped: list[tuple[Source, InputFile]] = []
    seen: set[tuple[int, str]] = set()
    for src in sources:
        if src.path is not None:
            path = str(src.path.resolve())
            known = by_path.get(path)
            if known is not None:
                try:
                    st = os.stat(path)
                except OSError:
                    st = None
                if st is not None and (st.st_size, st.st_mtime_ns) == (
                    known.size,
                    known.mtime_ns,
                ):
                    skipped.append((src, known))
                    continue
        fp = identify(src)
        same = by_digest.get((fp.size, fp.digest))
        if same is not None:
            skipped.append((src, same))
            continue
        if (fp.size, fp.digest) in seen:  # the same file named twice in one run
            continue
        seen.add((fp.size, fp.digest))
        read.append((src, fp))
    return Planned(read, skipped)


def is_file_path(src: Source) -> bool:
    return src.path is not None and Path(src.path).is_file()


__all__ = ["Identity", "Planned", "identify", "plan_inputs"]
