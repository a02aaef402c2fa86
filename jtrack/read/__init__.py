"""Reading exported events: sources, decompression, one reader per input shape, validation.


Sources: JSONL/NDJSON (plain, .gz, .zst; UTF-8 with or without BOM, or UTF-16 with a BOM),
JSON documents (a REST page `{"entities": [...]}` or an array), Parquet files, directories and
globs (recursive) and `-` for stdin. Shapes: the Genesys Journey envelope and the flat
snake_case shape of `jtrack.schema`. Each row either becomes a canonical event or a reject
with a reason (REJECT_REASONS); nothing is dropped silently, so rows read = events + rejects
for every file. JSONL is read a chunk at a time: a line longer than max_line_bytes is never
held whole. A whole-file problem (truncated .gz/.zst, malformed JSON document, corrupt
Parquet footer, missing required column) is one DataError naming the file.
Imports Polars only (no typer, no rich).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from jtrack.read.jsonl import _iter_json_lines, _read_json_lines, plain_json_lines
from jtrack.read.parquet import _iter_parquet, _read_parquet, canonical_from_parquet_frame
from jtrack.read.sources import (
    Source,
    _is_parquet,
    expand_sources,
    only_a_store,
    rotated_copies,
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
    "OnError",
    "ReadResult",
    "Source",
    "canonical_from_parquet_frame",
    "conform_rows",
    "expand_sources",
    "far_future_cut",
    "iter_source_rows",
    "mark_far_future",
    "nothing_accepted",
    "only_a_store",
    "plain_json_lines",
    "read_events",
    "read_source",
    "rejected_row_error",
    "rejects_frame",
    "rotated_copies",
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
    sources: Sequence[str | os.PathLike[str]] | Sequence[Source],
    *,
    on_error: OnError = "fail",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stdin: Any = None,
) -> ReadResult:
    """Read every source into canonical events.

    With on_error="fail", the first rejected row raises RejectedRowError (file, line, field,
    reason). With on_error="skip", rejected rows are returned in `rejects` and the run goes on.
    Either way rows_read == events + rejects for every file.
    """
    srcs: list[Source] = [s for s in sources if isinstance(s, Source)]
    if len(srcs) != len(sources):
        srcs = expand_sources([s for s in sources if not isinstance(s, Source)], stdin=stdin)
    frames: list[pl.DataFrame] = []
    stats: list[FileStats] = []
    for i, src in enumerate(srcs):
        assert isinstance(src, Source)
        frame, st = read_source(src, max_line_bytes)
        frames.append(conform_rows(frame, i))
        stats.append(st)
    allrows = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=ROW_SCHEMA)
    accepted = allrows.filter(pl.col(REASON).is_null())
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
        raise rejected_row_error(bad.row(0, named=True))
    rejects = rejects_frame(bad)
    events = allrows.filter(pl.col(REASON).is_null()).select(*EVENT_SCHEMA, SRC_FILE, SRC_LINE)
    return ReadResult(events=events, rejects=rejects, files=stats, warnings=warnings)
