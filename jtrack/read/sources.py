"""Inputs: files, directories, globs and stdin as a sorted list of Sources. Imports no Polars."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jtrack.errors import DataError, UsageError


@dataclass(frozen=True)
class Source:
    """One input: a path on disk, or bytes already read (stdin)."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

_DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".pq")
_COMPRESSED = ("", ".gz", ".zst")


def _is_data_file(p: Path) -> bool:
    name = p.name.lower()
    return any(name.endswith(s + c) for s in _DATA_SUFFIXES for c in _COMPRESSED)


def expand_sources(sources: Sequence[str | os.PathLike[str]], stdin: Any = None) -> list[Source]:
    """Turn paths, directories, globs and `-` into a sorted list of Sources."""
    out: list[Source] = []
    for raw in sources:
        s = os.fspath(raw)
        if s == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            out.append(Source("<stdin>", data=stream.read()))
            continue
        p = Path(s)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and _is_data_file(f))
            if not files:
                raise UsageError(
                    f"{s}: the directory holds no .jsonl, .ndjson, .json or .parquet file",
                    hint="check the path (compressed .gz and .zst files count too)",
                )
            out.extend(Source(str(f), path=f) for f in files)
        elif p.is_file():
            out.append(Source(s, path=p))
        elif any(ch in s for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(s, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise UsageError(f"{s}: the pattern matches no file", hint="check the glob")
            out.extend(Source(str(f), path=f) for f in files)
        else:
            raise UsageError(f"{s}: no such file or directory", hint="check the path")
    return out


def _open_error(name: str, exc: OSError) -> DataError:
    return DataError(
        f"{name}: cannot read the file ({exc.strerror or exc})",
        hint="check the file exists and is readable",
    )


def _is_parquet(src: Source) -> bool:
    if src.data is not None:
        return src.data[:4] == b"PAR1"
    assert src.path is not None
    try:
        with open(src.path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise _open_error(src.name, exc) from exc
    if head == b"PAR1":
        return True
    return src.path.suffix.lower() in (".parquet", ".pq")
