"""Reading exported events: sources, decompression, one reader per input shape, validation.


Sources: JSONL/NDJSON (plain, .gz, .zst, .bz2, .xz; UTF-8 with or without BOM, or UTF-16
with a BOM), JSON documents (a REST page `{"entities": [...]}` or an array), Parquet files,
directories and globs (recursive) and `-` for stdin. Shapes: the Genesys Journey envelope and
the flat snake_case shape of `jtrack.schema`. Each row either becomes a canonical event or a
reject with a reason (REJECT_REASONS); nothing is dropped silently, so rows read = events +
rejects for every file. JSONL is read a chunk at a time: a line longer than max_line_bytes is
never held whole. A whole-file problem (truncated .gz/.zst/.bz2/.xz, malformed JSON document,
corrupt Parquet footer, missing required column) is one DataError naming the file.
Imports Polars only (no typer, no rich).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from jtrack.options import check_on_error
from jtrack.read.jsonl import (
    SmallFile,
    _iter_json_lines,
    _read_json_lines,
    decode_small,
    plain_json_lines,
    small_json_lines,
)
from jtrack.read.parquet import _iter_parquet, _read_parquet, canonical_from_parquet_frame
from jtrack.read.sources import (
    LeftOut,
    Source,
    _is_parquet,
    as_source_list,
    discard_spools,
    expand_sources,
    left_out,
    only_a_store,
    rotated_copies,
    with_rotated_copies,
)
from jtrack.read.validate import (
    DEFAULT_MAX_LINE_BYTES,
    RAW,
    REASON,
    REASON_FIELD,
    REJECT_REASONS,
    REJECT_SCHEMA,
    ROW_SCHEMA,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    OnError,
    ReadResult,
    conform_rows,
    far_future_cut,
    mark_far_future,
    nothing_accepted,
    rejected_row_error,
    rejects_frame,
    zone_warnings,
)
from jtrack.schema import EVENT_SCHEMA

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "RAW",
    "REASON",
    "REASON_FIELD",
    "REJECT_REASONS",
    "REJECT_SCHEMA",
    "ROW_SCHEMA",
    "SRC_FILE",
    "SRC_LINE",
    "FileStats",
    "LeftOut",
    "OnError",
    "ReadResult",
    "SmallFiles",
    "Source",
    "as_source_list",
    "canonical_from_parquet_frame",
    "conform_rows",
    "discard_spools",
    "expand_sources",
    "far_future_cut",
    "iter_source_rows",
    "left_out",
    "mark_far_future",
    "nothing_accepted",
    "only_a_store",
    "plain_json_lines",
    "read_events",
    "read_source",
    "rejected_row_error",
    "rejects_frame",
    "rotated_copies",
    "with_rotated_copies",
    "zone_warnings",
]


def read_source(
    src: Source, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> tuple[pl.DataFrame, FileStats]:
    """Read one source into canonical columns plus bookkeeping (`_reason` null = kept)."""
    if _is_parquet(src):
        return _read_parquet(src)
    return _read_json_lines(src, max_line_bytes)


#: JSON lines read at a time in the bucketed path: this many bytes per chunk row (a 1M-line
#: Genesys export then peaks at ~2.2 GB instead of 6.5 GB with 512, for the same time).
JSON_LINE_BYTES = 128
MIN_BLOCK_BYTES = 1 << 20


#: Small files read ahead to be decoded together: at most this many bytes of their lines...
SMALL_BATCH_BYTES = 16 << 20
#: ... and this many files.
SMALL_BATCH_FILES = 2_000


class SmallFiles:
    """Small JSON files among `sources` (JSON lines, and documents of few events: a REST
    page) decoded together (jtrack.read.jsonl.decode_small):
    `take(i)` gives source i's rows (ROW_SCHEMA, `_src` 0) and accounting as reading it alone
    would, or None for a source to be read the usual way. Sources are taken in order; the
    small ones that follow source i are read with it (SMALL_BATCH_BYTES at most), and an
    error reading one of them is raised when that one is taken, so errors still come in
    input order."""

    def __init__(self, sources: Sequence[Source], max_line_bytes: int) -> None:
        self.sources = sources
        self.max_line_bytes = max_line_bytes
        self._ready: dict[int, tuple[pl.DataFrame, FileStats] | BaseException | None] = {}
        self._next = 0  # the first source not looked at

    def take(self, i: int) -> tuple[pl.DataFrame, FileStats] | None:
        if i >= self._next:
            self._read_ahead(i)
        got = self._ready.pop(i, None)
        if isinstance(got, BaseException):
            raise got
        return got

    def _read_ahead(self, i: int) -> None:
        self._next = i
        batch: list[tuple[int, SmallFile]] = []
        size = 0
        while self._next < len(self.sources) and size < SMALL_BATCH_BYTES:
            if len(batch) >= SMALL_BATCH_FILES:
                break
            j = self._next
            src = self.sources[j]
            self._next += 1
            if src.path is None or _is_parquet(src):
                self._ready[j] = None
                break
            try:
                small = small_json_lines(src, self.max_line_bytes)
            except Exception as exc:  # raised when source j is taken (input order)
                self._ready[j] = exc
                break
            if small is None:
                self._ready[j] = None
                break
            batch.append((j, small))
            size += small.nbytes
        self._decode(batch)

    def _decode(self, batch: list[tuple[int, SmallFile]]) -> None:
        """Decode the files read ahead, a run of one shape at a time."""
        while batch:
            shape: bool | None = None
            n = 0
            kind = batch[0][1].document
            for _, f in batch:
                if f.document != kind:
                    break
                if f.lines.height:
                    if shape is not None and f.genesys != shape:
                        break
                    shape = f.genesys
                n += 1
            run, batch = batch[:n], batch[n:]
            decoded = decode_small([f for _, f in run], self.max_line_bytes)
            frames = conform_rows(pl.concat([d for d, _ in decoded], how="vertical"), 0)
            at = 0
            for (j, _), (d, st) in zip(run, decoded, strict=True):
                self._ready[j] = (frames.slice(at, d.height), st)
                at += d.height


def iter_source_rows(
    src: Source, src_index: int, chunk_rows: int, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[pl.DataFrame, FileStats]]:
    """One source as frames of at most about `chunk_rows` rows (ROW_SCHEMA), with the file's
    accounting so far. Parquet files on disk are read a batch at a time; other sources are
    read whole (see read_source) and then sliced."""
    if src.path is not None and _is_parquet(src):
        yield from _iter_parquet(src, src_index, chunk_rows)
        return
    if src.path is not None:
        # JSON lines a block at a time (~JSON_LINE_BYTES a row): memory holds one block
        block = max(chunk_rows * JSON_LINE_BYTES, MIN_BLOCK_BYTES)
        for frame, st in _iter_json_lines(src, max_line_bytes, block):
            rows = conform_rows(frame, src_index)
            del frame
            for start in range(0, max(rows.height, 1), chunk_rows):
                yield rows.slice(start, chunk_rows), st
        return
    frame, st = read_source(src, max_line_bytes)
    rows = conform_rows(frame, src_index)
    for start in range(0, max(rows.height, 1), chunk_rows):
        yield rows.slice(start, chunk_rows), st


def read_events(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[Source],
    *,
    on_error: OnError = "fail",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stdin: Any = None,
    far_future: bool | tuple[datetime, str] = True,
) -> ReadResult:
    """Read every source into canonical events.

    With on_error="fail", the first rejected row raises RejectedRowError (file, line, field,
    reason). With on_error="skip", rejected rows are returned in `rejects` and the run goes on.
    Either way rows_read == events + rejects for every file. One path given as a string or
    a path (not in a list) is one source, as everywhere. `far_future=False`: events dated
    far after the rest are kept, for a caller that cuts over more input than these sources
    (`jtrack usage` of files some of which it scans itself); a cut (far_future_cut's) is
    the cut of such a caller, applied to these rows.
    """
    check_on_error(on_error)  # (a misspelt "Fail" must never skip bad rows silently)
    from collections.abc import Iterable

    from jtrack.checks import must_be
    from jtrack.errors import UsageError

    must_be(
        sources,
        "sources",
        (str, bytes, os.PathLike, Iterable),
        "a path, a list of paths or a Polars DataFrame",
    )
    must_be(max_line_bytes, "max_line_bytes", int, "a whole number of bytes (1000000)")
    max_line_bytes = int(max_line_bytes)
    if max_line_bytes < 1:
        raise UsageError(f"max_line_bytes {max_line_bytes!r}", hint="1 or more bytes")
    given: list[Any] = as_source_list(sources)
    srcs: list[Source] = [s for s in given if isinstance(s, Source)]
    expanded = len(srcs) != len(given)
    if expanded:
        srcs = expand_sources([s for s in given if not isinstance(s, Source)], stdin=stdin)
    frames: list[pl.DataFrame] = []
    stats: list[FileStats] = []
    small = SmallFiles(srcs, max_line_bytes)
    try:
        for i, src in enumerate(srcs):
            assert isinstance(src, Source)
            got = small.take(i)
            if got is not None:
                frame, st = got
                frames.append(frame.with_columns(pl.lit(i, pl.UInt32).alias("_src")))
            else:
                frame, st = read_source(src, max_line_bytes)
                frames.append(conform_rows(frame, i))
            st.lines = None  # (counted for the store's records only)
            stats.append(st)
    finally:  # (standard input this call spooled: read by now)
        if expanded:
            discard_spools(srcs)
    allrows = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=ROW_SCHEMA)
    accepted = allrows.filter(pl.col(REASON).is_null())
    if isinstance(far_future, tuple):
        allrows = mark_far_future(allrows, far_future)
    elif far_future:
        allrows = mark_far_future(allrows, far_future_cut(accepted, key="event_id"))
    counts = (
        allrows.filter(pl.col(REASON).is_not_null()).group_by("_src").len().rows()
        if allrows.height
        else []
    )
    for st in stats:
        st.rows_rejected = 0
    for i, n in counts:
        stats[i].rows_rejected = int(n)
    warnings = [
        f"{st.file}: the file holds no events (it is empty)" for st in stats if st.rows_read == 0
    ]
    bad = allrows.filter(pl.col(REASON).is_not_null())
    if on_error == "fail" and bad.height:
        first = bad.row(0, named=True)
        raise rejected_row_error(first, allrows, stats[first["_src"]])
    rejects = rejects_frame(bad)
    events = allrows.filter(pl.col(REASON).is_null()).select(*EVENT_SCHEMA, SRC_FILE, SRC_LINE)
    notes = [note for st in stats for note in st.notes()]
    return ReadResult(events=events, rejects=rejects, files=stats, warnings=warnings, notes=notes)
