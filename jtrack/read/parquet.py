"""The Parquet reader: Genesys or flat shape, read by row-group ranges; values of a type
the schema cannot hold become rejects. Imports Polars and PyArrow only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import polars as pl

from jtrack.errors import DataError
from jtrack.read.sources import Source
from jtrack.read.validate import (
    RAW,
    REASON,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    _canonical_select,
    _finish,
    _is_text,
    conform_rows,
)

# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _read_parquet(src: Source) -> tuple[pl.DataFrame, FileStats]:
    try:
        if src.path is not None:
            df = pl.read_parquet(src.path)
        else:
            import io

            df = pl.read_parquet(io.BytesIO(src.read_bytes()))
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError) as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    return canonical_from_parquet_frame(df, src.name)


def _unreadable_parquet(name: str, exc: Exception) -> DataError:
    return DataError(
        f"{name}: not a readable Parquet file ({str(exc).splitlines()[0][:160]})",
        hint="the file may be truncated or its footer corrupt; re-export it",
    )


def canonical_from_parquet_frame(
    df: pl.DataFrame, name: str, offset: int = 0
) -> tuple[pl.DataFrame, FileStats]:
    """Canonical rows plus bookkeeping (like read_source) from a frame read from Parquet.

    `offset` is the number of rows of the same file before this frame (for chunked reads):
    row numbers in `_line` and in rejects continue from it.
    """
    original = df
    df = _safe_temporals(df)
    schema = dict(df.schema)
    genesys = "customerId" in schema or "createdDate" in schema
    stats = FileStats(name, "genesys-parquet" if genesys else "flat-parquet", df.height)
    required = (
        ("customerId", "createdDate", "id")
        if genesys
        else ("event_id", "customer_id", "created_date")
    )
    missing = [c for c in required if c not in schema]
    if missing:
        import difflib

        near = difflib.get_close_matches(missing[0], list(schema), n=1)
        raise DataError(
            f"{name}: required column {missing[0]!r} is missing",
            hint=(f"did you mean {near[0]!r}? " if near else "")
            + "see `jtrack schema` for the flat shape",
        )
    created_raw = "createdDate" if genesys else "created_date"
    if genesys:
        df = df.with_columns(
            *[
                (pl.col(k).is_not_null() if k in schema else pl.lit(False)).alias(flag)
                for k, flag in (
                    ("webEvent", "_has_web"),
                    ("segmentAssignmentEvent", "_has_seg"),
                    ("outcomeAchievedEvent", "_has_out"),
                    ("webActionEvent", "_has_act"),
                )
            ]
        )
    sel, details = _canonical_select(schema, genesys)
    extra = [c for c in df.columns if c.startswith("_has_")]
    has_kind = "kind" in schema and not genesys and _is_text(schema["kind"])
    canon = df.select(
        *sel,
        *extra,
        original.get_column(created_raw).is_null().alias("_created_raw_missing"),
        (pl.col("kind").cast(pl.String) if has_kind else pl.lit(None, pl.String)).alias("kind"),
    )
    canon = _finish(canon, genesys, flat_kind=not genesys, details=details)
    canon = canon.with_row_index(SRC_LINE, offset=offset + 1).with_columns(
        pl.col(SRC_LINE).cast(pl.Int64),
        pl.lit(name).alias(SRC_FILE),
    )
    # The raw row of a reject, as JSON, so the rejects file can be fixed and re-read.
    bad = canon[REASON].is_not_null()
    if bad.any():
        idx = bad.arg_true()
        raw_rows = _raw_json(df.select(list(schema))[idx.to_list()])
        raw = pl.Series(RAW, [None] * canon.height, dtype=pl.String).scatter(idx, raw_rows)
        canon = canon.with_columns(raw)
    else:
        canon = canon.with_columns(pl.lit(None, pl.String).alias(RAW))
    stats.rows_rejected = int(bad.sum())
    return canon, stats


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _raw_json(rows: pl.DataFrame) -> pl.Series:
    """Rejected Parquet rows as JSON text (bad rows only), whatever their column types."""
    try:
        return rows.select(pl.struct(pl.all()).struct.json_encode().alias(RAW)).get_column(RAW)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        pass
    try:
        text = [json.dumps(r, default=str, ensure_ascii=False) for r in rows.to_dicts()]
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError):
        text = ["(this row cannot be shown as JSON)"] * rows.height
    return pl.Series(RAW, text, dtype=pl.String)


#: Temporal values Polars can format and convert safely: years 1 to 9999 (seconds, days).
_SECONDS_RANGE = (-62_135_596_800, 253_402_300_799)
_DAYS_RANGE = (-719_162, 2_932_896)
_PER_SECOND = {"ms": 1_000, "us": 1_000_000}


def _safe_temporal(col: pl.Expr, dtype: Any) -> pl.Expr:
    """`col` with values outside years 1..9999 clamped to those bounds (Polars panics when it
    formats or converts some of them); a clamped created_date is then an implausible one."""
    if isinstance(dtype, pl.Datetime) and dtype.time_unit in _PER_SECOND:
        k = _PER_SECOND[dtype.time_unit]
        lo, hi = _SECONDS_RANGE[0] * k, _SECONDS_RANGE[1] * k
    elif isinstance(dtype, pl.Date):
        lo, hi = _DAYS_RANGE
    elif isinstance(dtype, pl.Struct):
        fields = [
            _safe_temporal(col.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields
        ]
        return pl.when(col.is_not_null()).then(pl.struct(fields))
    else:
        return col
    phys = col.to_physical()
    return (
        pl.when(phys < lo)
        .then(pl.lit(lo).cast(pl.Int64).cast(dtype))
        .when(phys > hi)
        .then(pl.lit(hi).cast(pl.Int64).cast(dtype))
        .otherwise(col)
    )


def _has_temporal(dtype: Any) -> bool:
    if isinstance(dtype, pl.Struct):
        return any(_has_temporal(f.dtype) for f in dtype.fields)
    return isinstance(dtype, pl.Datetime | pl.Date)


def _safe_temporals(df: pl.DataFrame) -> pl.DataFrame:
    """Clamp absurd dates (beyond year 9999, say) before anything formats or converts them."""
    risky = {n: t for n, t in df.schema.items() if _has_temporal(t)}
    if not risky:
        return df
    return df.with_columns([_safe_temporal(pl.col(n), t).alias(n) for n, t in risky.items()])


def _iter_parquet(
    src: Source, src_index: int, chunk_rows: int
) -> Iterator[tuple[pl.DataFrame, FileStats]]:
    assert src.path is not None
    errors = (OSError, ValueError, TypeError, pl.exceptions.PolarsError)
    try:
        import pyarrow.parquet as pq

        pl.read_parquet_schema(src.path)  # the footer checked as a whole read checks it
        meta = pq.read_metadata(src.path)
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except errors as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    offset = 0
    total: FileStats | None = None
    for start, length in _parquet_ranges(groups, chunk_rows):
        try:
            # a slice reads only the row groups it covers (the streaming engine's batches
            # would read ahead of us, without bound)
            df = pl.scan_parquet(src.path).slice(start, length).collect(engine="in-memory")
        except errors as exc:
            raise _unreadable_parquet(src.name, exc) from exc
        canon, st = canonical_from_parquet_frame(df, src.name, offset)
        offset += df.height
        del df  # not held while the consumer works on the chunk
        if total is None:
            total = st
        else:
            total.rows_read += st.rows_read
            total.rows_rejected += st.rows_rejected
        rows = conform_rows(canon, src_index)
        del canon
        yield rows, total
        del rows
    if total is None:  # no rows at all: the same checks and accounting as a whole read
        canon, total = _read_parquet(src)
        yield conform_rows(canon, src_index), total


def _parquet_ranges(groups: list[int], chunk_rows: int) -> list[tuple[int, int]]:
    """(start, length) row ranges of about chunk_rows that follow row-group boundaries:
    small groups are read together, a group over twice chunk_rows in slices."""
    out: list[tuple[int, int]] = []
    start = pending = 0
    for n in groups:
        if n > 2 * chunk_rows:  # up to twice chunk_rows is read whole: slices re-read it
            if pending:
                out.append((start, pending))
                start += pending
                pending = 0
            out.extend((start + k, min(chunk_rows, n - k)) for k in range(0, n, chunk_rows))
            start += n
            continue
        if pending and pending + n > chunk_rows:
            out.append((start, pending))
            start += pending
            pending = 0
        pending += n
    if pending:
        out.append((start, pending))
    return out
