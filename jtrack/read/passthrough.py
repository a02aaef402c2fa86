"""Parquet files already in the canonical flat shape: validated from a few columns, kept as is.

A Parquet file whose columns are exactly the canonical ones with the canonical types
(`jtrack schema`; extra columns are allowed) needs no conversion: every value of a wide
column is already what jtrack would store. Such a file is validated by reading only the
columns the sessionizer, the session table and the reject rules need, and the store keeps
the file itself (copied, not re-encoded). If its event types or kinds are not in the
canonical form (`com.genesys.journey.WebEvent`, a kind that disagrees with the event), or
if a referrer's host name or a campaign is derived from a URL for some row (jtrack.read.urls:
a referrer URL without its host, a page URL's utm_* parameters without a campaign), the
engine re-encodes it instead; so does a file with `utm_source`-style columns (read as the
campaign's). Imports Polars and PyArrow only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from jtrack.checks import arrow_path
from jtrack.read.fields import unread_columns
from jtrack.read.parquet import (
    _parquet_ranges,
    _raw_json,
    _unreadable_parquet,
    arrow_fixes,
    canonical_from_parquet_frame,
)
from jtrack.read.sources import Source
from jtrack.read.urls import CAMPAIGN_FIELDS, UTM_FIELDS
from jtrack.read.validate import RAW, REASON, FileStats
from jtrack.schema import EVENT_SCHEMA

_ERRORS = (OSError, ValueError, TypeError, pl.exceptions.PolarsError)

#: The columns a URL fills where the export left them out (jtrack.read.urls) that tell
#: whether it did (a derived domain, path or query comes with a derived host name), and
#: those read to know whether an event has a campaign at all.
_DERIVED = ("referrer_hostname", *CAMPAIGN_FIELDS)
_URL_READ = (*_DERIVED, "referrer_url", "page_url")


#: Names a reader of the store's files gives its own columns (the README's DuckDB and
#: Spark joins of the index and the segments; Spark's `_metadata`): an input column named so,
#: in any case (DuckDB and Spark compare names without it), would be taken for them, so a
#: file that has one is not kept as it is.
STORE_READER_NAMES = frozenset(
    {
        "segment",
        "row",
        "session_id",
        "session_type",
        "bucket",
        "filename",
        "file_row_number",
        "_metadata",
    }
)


def canonical_parquet(path: Path) -> bool:
    """Whether the file holds every canonical column with its canonical type, and no column
    named as a reader of the store names its own (STORE_READER_NAMES). The file is
    opened first (a `[` in its name is no pattern), and a schema Polars cannot read as
    written (an unknown time zone would make it panic) is not canonical."""
    import pyarrow as pa

    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PAR1":
                return False
            fh.seek(0)
            if arrow_fixes(fh) is not None:
                return False
            fh.seek(0)
            schema = pl.read_parquet_schema(fh)
    except (*_ERRORS, pa.ArrowException, pl.exceptions.PanicException):
        return False
    if {name.lower() for name in schema} & STORE_READER_NAMES:
        return False  # (re-encoded without them: a reader's join would take them for its own)
    if set(schema) & set(UTM_FIELDS):
        return False  # (utm_source, ...: read as the campaign's fields, into its columns)
    return all(schema.get(name) == dtype for name, dtype in EVENT_SCHEMA.items())


@dataclass
class PassthroughChunk:
    """Rows of a canonical Parquet file: the wanted columns plus the reject bookkeeping
    (`_line` is the row's number in the file, from 1), and whether the accepted rows' event
    types and kinds are already canonical."""

    rows: pl.DataFrame
    stats: FileStats
    canonical: bool


def iter_passthrough(
    src: Source, columns: Sequence[str], chunk_rows: int
) -> Iterator[PassthroughChunk]:
    """Validate a canonical Parquet file a row-group range at a time, reading `columns`
    (and what validation needs) only."""
    total: FileStats | None = None
    for start, length in passthrough_ranges(src, chunk_rows):
        chunk = passthrough_range(src, columns, start, length)
        if total is None:
            total = chunk.stats
            total.unread = dict.fromkeys(_unread_of(src))  # (not counted: not read)
        else:
            total.add(chunk.stats)
        yield PassthroughChunk(chunk.rows, total, chunk.canonical)


def _unread_of(src: Source) -> list[str]:
    """The columns of a canonical Parquet file jtrack does not read (beside the canonical
    ones: its schema only; the path's partitions are not the file's)."""
    assert src.path is not None
    try:
        with open(src.path, "rb") as fh:
            schema = pl.read_parquet_schema(fh)
    except (*_ERRORS, pl.exceptions.PanicException):
        return []
    parts = {k for k, _ in src.partitions}
    return unread_columns({c: t for c, t in schema.items() if c not in parts}, False)


def passthrough_ranges(src: Source, chunk_rows: int) -> list[tuple[int, int]]:
    """The (start, length) row ranges iter_passthrough reads a file in (one empty range for
    a file without rows): any engine may validate them apart, in any order."""
    assert src.path is not None
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(arrow_path(src.path))
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except _ERRORS as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    return _parquet_ranges(groups, chunk_rows) or [(0, 0)]


def passthrough_range(
    src: Source, columns: Sequence[str], start: int, length: int
) -> PassthroughChunk:
    """Rows [start, start + length) of a canonical Parquet file, validated (`stats` counts
    these rows only)."""
    assert src.path is not None
    need = list(
        dict.fromkeys([*columns, "event_type", "kind", "event_id", "created_date", *_URL_READ])
    )
    try:
        df = pl.scan_parquet(src.path, glob=False).slice(start, length).select(need).collect()
    except _ERRORS as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    canon, st = canonical_from_parquet_frame(df, src.name, start)
    bad = canon.get_column(REASON).is_not_null()
    if bad.any():  # the raw row of a reject: every column, not just those read
        idx = bad.arg_true()
        try:
            full = pl.scan_parquet(src.path, glob=False).slice(start, length).collect()
        except _ERRORS as exc:  # (another column no reader here takes: said as for any)
            raise _unreadable_parquet(src.name, exc) from exc
        raw = pl.Series(RAW, [None] * canon.height, dtype=pl.String).scatter(
            idx, _raw_json(full[idx.to_list()])
        )
        canon = canon.with_columns(raw)
    # (event types and kinds in canonical form, and no referrer host or campaign derived
    # from a URL: jtrack.read.urls; else the engine stores the rows it read instead)
    kept = df.filter(~bad)
    same = (
        canon.filter(~bad)
        .select(
            pl.all_horizontal(
                pl.col(c).eq_missing(kept.get_column(c)) for c in ("event_type", "kind", *_DERIVED)
            ).all()
        )
        .item()
    )
    return PassthroughChunk(canon, st, bool(same) if same is not None else True)


__all__ = [
    "PassthroughChunk",
    "canonical_parquet",
    "iter_passthrough",
    "passthrough_range",
    "passthrough_ranges",
]
