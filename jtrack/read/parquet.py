"""The Parquet reader: Genesys or flat shape, read by row-group ranges; values of a type
the schema cannot hold become rejects. Imports Polars and PyArrow only."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

import polars as pl

from jtrack.checks import arrow_path
from jtrack.errors import DataError
from jtrack.read.fields import (
    FLAT_NAMES,
    GENESYS_TREE,
    case_renames,
    near_name,
    unread_columns,
)
from jtrack.read.sources import Source
from jtrack.read.validate import (
    FLAT_REQUIRED,
    GENESYS_ONLY,
    PARQUET_WRONG_TYPE,
    RAW,
    REASON,
    ROW_SCHEMA,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    _canonical_select,
    _finish,
    _is_text,
    conform_rows,
    is_genesys_shape,
    kept_without_zone,
    with_value_details,
)
from jtrack.schema import EVENT_FIELDS

# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _read_parquet(src: Source) -> tuple[pl.DataFrame, FileStats]:
    try:
        if src.path is not None:
            fixed = arrow_fixes(src.path)
            if fixed is not None:
                df = _read_arrow(src.path, fixed)
            else:  # a path is a path: `[` or `*` in a file name is not a pattern
                df = pl.read_parquet(src.path, glob=False)
        else:
            import io

            data = src.read_bytes()
            fixed = arrow_fixes(io.BytesIO(data))
            if fixed is not None:
                df = _read_arrow(io.BytesIO(data), fixed)
            else:
                df = pl.read_parquet(io.BytesIO(data))
    except _READ_ERRORS as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    return canonical_from_parquet_frame(
        with_partitions(df, src), src.name, partitions=[k for k, _ in src.partitions]
    )


_READ_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
    ValueError,
    TypeError,
    NotImplementedError,
)


# ---- what Polars cannot read as written: extension types, time zones it does not know ---------


def _tz_ok(tz: str) -> bool:
    import zoneinfo

    return tz == "UTC" or tz in zoneinfo.available_timezones()


def _fix_type(t: Any) -> Any:
    """An Arrow type Polars reads, for `t`: an extension type as its storage type, a timestamp
    in a zone Polars does not know (`+05:30`, `Z`) as the same instants in UTC, a decimal of
    more than 38 digits (BigQuery's BIGNUMERIC) as its text."""
    import pyarrow as pa

    if isinstance(t, pa.ExtensionType):
        return _fix_type(t.storage_type)
    if pa.types.is_decimal(t) and t.precision > 38:
        return pa.string()
    if pa.types.is_timestamp(t) and t.tz is not None and not _tz_ok(t.tz):
        return pa.timestamp(t.unit, "UTC")
    if pa.types.is_struct(t):
        return pa.struct([_fix_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_map(t):
        return pa.map_(_fix_type(t.key_type), _fix_field(t.item_field), t.keys_sorted)
    if pa.types.is_large_list(t):
        return pa.large_list(_fix_field(t.value_field))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_fix_field(t.value_field), t.list_size)
    if pa.types.is_list(t):
        return pa.list_(_fix_field(t.value_field))
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, _fix_type(t.value_type), t.ordered)
    return t


def _fix_field(f: Any) -> Any:
    import pyarrow as pa

    return pa.field(f.name, _fix_type(f.type), f.nullable)  # no metadata: no extension name


def _needs_fix(f: Any) -> bool:
    meta = f.metadata or {}
    if b"ARROW:extension:name" in meta:  # an extension type pyarrow does not know
        return True
    return bool(_fix_type(f.type) != f.type) or _nested_needs_fix(f.type)


def _nested_needs_fix(t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(t):
        return any(_needs_fix(t.field(i)) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _needs_fix(t.key_field) or _needs_fix(t.item_field)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _needs_fix(t.value_field)
    return False


def arrow_fixes(source: Any) -> Any:
    """The Arrow schema to read a Parquet file with when Polars cannot read it as written
    (extension types, unknown time zones); None when Polars reads it as it is."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(arrow_path(source))
    if not any(_needs_fix(f) for f in schema):
        return None
    import pyarrow as pa

    return pa.schema([_fix_field(f) for f in schema])


def _read_arrow(source: Any, fixed: Any, groups: list[int] | None = None) -> pl.DataFrame:
    """Row groups `groups` (default all) of a file, read by PyArrow and cast to `fixed`."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(arrow_path(source))
    wanted = groups if groups is not None else list(range(pf.num_row_groups))
    # one row group at a time: PyArrow reads some nested types into one chunk only
    frames = [_frame(pf.read_row_group(i).cast(fixed)) for i in wanted]
    if not frames:
        return _frame(fixed.empty_table())
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def _frame(table: Any) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def with_partitions(df: pl.DataFrame, src: Source) -> pl.DataFrame:
    """The Hive partition columns of the file's path (`customer_id=v/`), as text, where the
    file itself has no column of that name (a column in the file wins)."""
    extra = [
        pl.lit(value, pl.String).alias(key)
        for key, value in src.partitions
        if key not in df.columns
    ]
    return df.with_columns(extra) if extra else df


def _unreadable_parquet(name: str, exc: Exception) -> DataError:
    return DataError(
        f"{name}: not a readable Parquet file ({str(exc).splitlines()[0][:160]})",
        hint="the file may be truncated or its footer corrupt; re-export it",
    )


def canonical_from_parquet_frame(
    df: pl.DataFrame, name: str, offset: int = 0, partitions: Collection[str] = ()
) -> tuple[pl.DataFrame, FileStats]:
    """Canonical rows plus bookkeeping (like read_source) from a frame read from Parquet.

    `offset` is the number of rows of the same file before this frame (for chunked reads):
    row numbers in `_line` and in rejects continue from it. `partitions`: the columns the
    file's path added (Hive partitions), never counted as columns jtrack does not read.
    """
    df = _undotted(df, name)
    df, renamed = _case_matched(df)
    original = df
    df = _safe_temporals(df)
    schema = dict(df.schema)
    genesys = is_genesys_shape(schema, default=False)
    stats = FileStats(name, "genesys-parquet" if genesys else "flat-parquet", df.height)
    stats.renamed = renamed
    id_type = schema.get("customerId" if genesys else "customer_id")
    stats.float_ids = id_type is not None and (id_type.is_float() or id_type.is_decimal())
    stats.unread = _unread_counts(df, genesys, partitions)
    required = (
        ("customerId", "createdDate", "id")
        if genesys
        else ("event_id", "customer_id", "created_date")
    )
    missing = [c for c in required if c not in schema]
    if missing and df.height == 0:  # (pandas' `DataFrame().to_parquet()`: no rows, no columns)
        empty = pl.DataFrame(schema={c: t for c, t in ROW_SCHEMA.items() if c != "_src"})
        return empty, stats
    if missing:
        raise _missing_column(name, missing[0], list(schema), genesys)
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
    canon = (
        df.lazy()  # (lazy: the columns are worked out side by side)
        .select(
            *sel,
            *extra,
            original.get_column(created_raw).is_null().alias("_created_raw_missing"),
            (pl.col("kind").cast(pl.String) if has_kind else pl.lit(None, pl.String)).alias("kind"),
        )
        .collect()
    )
    canon = _finish(canon, genesys, flat_kind=not genesys, details=details)
    if canon.height and canon.get_column(REASON).eq("wrong_type").any():
        wrong = pl.col(REASON) == "wrong_type"  # (a Parquet type, not a JSON one, is wrong)
        canon = canon.with_columns(
            pl.when(wrong)
            .then(
                pl.concat_str(
                    [pl.col("_detail"), pl.lit(PARQUET_WRONG_TYPE)],
                    separator="; ",
                    ignore_nulls=True,
                )
            )
            .otherwise(pl.col("_detail"))
            .alias("_detail")
        )
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
    canon = with_value_details(canon, genesys, PARQUET_WRONG_TYPE)
    stats.rows_rejected = int(bad.sum())
    stats.no_zone = kept_without_zone(canon)
    return canon, stats


def _missing_column(name: str, missing: str, columns: list[str], genesys: bool) -> DataError:
    """The error of a file without a required column: what the file has instead (a column
    named near it, or the flat shape's names in camelCase read as the Genesys shape)."""
    import difflib

    flat_like = {c: near_name(c, columns) for c in FLAT_REQUIRED}
    if genesys and all(flat_like.values()) and not set(GENESYS_ONLY) & set(columns):
        # (customerId and createdDate are Genesys names: eventId, customerId, createdDate
        # is the flat shape in camelCase, not the envelope, which has id and webEvent)
        found = ", ".join(str(v) for v in flat_like.values())
        return DataError(
            f"{name}: required column {missing!r} is missing: read as the Genesys shape "
            f"(by customerId, createdDate), its columns {found} look like the flat shape "
            "in camelCase",
            hint="name the flat shape's columns in snake_case (event_id, customer_id, "
            "created_date, event_type, ...: `jtrack schema`), or export the Genesys shape "
            "(id, customerId, createdDate, webEvent)",
        )
    near = near_name(missing, columns)
    if near is None:
        close = difflib.get_close_matches(missing, columns, n=1)
        near = close[0] if close else None
    shape = "Genesys shape (the genesys_path column)" if genesys else "flat shape"
    return DataError(
        f"{name}: required column {missing!r} is missing"
        + (f" (the file has {near!r})" if near else ""),
        hint=(f"did you mean {near!r}? rename it in the export; " if near else "")
        + f"see `jtrack schema` for the {shape}",
    )


def _case_matched(df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """`df` with columns named as a field but for case (`EVENT_ID`, `CUSTOMERID`, as
    Snowflake and BigQuery write unquoted names) renamed to the field, where no column has
    the field's exact name (an exact name is read first); the renames, for a note. Only
    the names of the file's shape are matched."""
    renames = case_renames(df.columns)
    if not renames:
        return df, {}
    genesys = is_genesys_shape([renames.get(c, c) for c in df.columns], default=False)
    names = GENESYS_TREE if genesys else FLAT_NAMES
    renames = {c: f for c, f in renames.items() if f in names}
    return (df.rename(renames), renames) if renames else (df, {})


def _unread_counts(
    df: pl.DataFrame, genesys: bool, partitions: Collection[str]
) -> dict[str, int | None]:
    """The columns (struct fields) of a Parquet frame jtrack does not read, each with the
    rows holding a value (a count of nulls: no value is looked at)."""
    schema = {c: t for c, t in df.schema.items() if c not in partitions}
    paths = unread_columns(schema, genesys)
    if not paths:
        return {}
    exprs = []
    for i, path in enumerate(paths):
        top, *rest = path.split(".")
        expr = pl.col(top)
        for part in rest:
            expr = expr.struct.field(part)
        exprs.append(expr.is_not_null().sum().alias(str(i)))
    counts = df.select(exprs).row(0)
    return {p: int(n) for p, n in zip(paths, counts, strict=True)}


#: The Genesys objects whose fields a flattening writer names with dots (pandas
#: `json_normalize`, Spark's flatten): `webEvent.eventName`, `segmentAssignmentEvent.segment.id`.
_DOTTED_TOPS = frozenset(
    f.genesys.split(".")[0] for f in EVENT_FIELDS if "." in f.genesys
) | frozenset(GENESYS_ONLY)


def _undotted(df: pl.DataFrame, name: str) -> pl.DataFrame:
    """`df` with columns named by dotted paths of a Genesys object (`webEvent.page.url`) put
    back into that object (a struct, null in a row where all its fields are, as a missing
    object is in JSON), where the file has no column of the object's own name."""
    dotted = [
        c
        for c in df.columns
        if "." in c and c.split(".")[0] in _DOTTED_TOPS and c.split(".")[0] not in df.columns
    ]
    if not dotted:
        return df
    # an object null in some rows and set in others: `json_normalize` writes both a
    # `webEvent.referrer` column (null in every row) and its `webEvent.referrer.url`
    empty = [
        c
        for c in dotted
        if any(d.startswith(c + ".") for d in dotted) and df.get_column(c).null_count() == df.height
    ]
    if empty:
        df = df.drop(empty)
        dotted = [c for c in dotted if c not in empty]
    tree: dict[str, Any] = {}
    for c in dotted:
        node = tree
        parts = c.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        if not isinstance(node, dict) or isinstance(node.get(parts[-1]), dict):
            raise DataError(
                f"{name}: column {c!r} and other columns named below it "
                "(a value and an object at one path)",
                hint="export the nested objects as they are (Parquet structs), or JSON lines",
            )
        node[parts[-1]] = c

    def build(node: dict[str, Any]) -> tuple[pl.Expr, list[str]]:
        fields, leaves = [], []
        for key, sub in node.items():
            if isinstance(sub, dict):
                expr, below = build(sub)
                fields.append(expr.alias(key))
                leaves += below
            else:
                fields.append(pl.col(sub).alias(key))
                leaves.append(sub)
        present = pl.any_horizontal([pl.col(c).is_not_null() for c in leaves])
        return pl.when(present).then(pl.struct(fields)), leaves

    objects = [build(sub)[0].alias(top) for top, sub in tree.items()]
    return df.with_columns(objects).drop(dotted)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _json_encodable(dtype: Any) -> bool:
    """Whether Polars encodes this type as JSON (it panics on binary, among others)."""
    if isinstance(dtype, pl.Struct):
        return all(_json_encodable(f.dtype) for f in dtype.fields)
    if isinstance(dtype, pl.List | pl.Array):
        return _json_encodable(dtype.inner)
    return not (dtype in (pl.Binary, pl.Object, pl.Unknown) or isinstance(dtype, pl.Decimal))


def _json_default(value: Any) -> str:
    """A value JSON has no type for, as text: bytes as `0x` and their hex digits (a binary
    UUID's 16 bytes are no text; never Python's `b'...'`), anything else as str()."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    return str(value)


def _raw_json(rows: pl.DataFrame) -> pl.Series:
    """Rejected Parquet rows as JSON text (bad rows only), whatever their column types."""
    if all(_json_encodable(t) for t in rows.schema.values()):
        try:
            return rows.select(pl.struct(pl.all()).struct.json_encode().alias(RAW)).get_column(RAW)
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
            pass
    try:
        text = [json.dumps(r, default=_json_default, ensure_ascii=False) for r in rows.to_dicts()]
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
    errors = _READ_ERRORS
    try:
        import pyarrow.parquet as pq

        fixed = arrow_fixes(src.path)  # PyArrow reads the footer (Polars may panic on it)
        if fixed is None:
            with open(src.path, "rb") as fh:  # a path, never a pattern (`[` in a file name)
                pl.read_parquet_schema(fh)  # the footer checked as a whole read checks it
        meta = pq.read_metadata(arrow_path(src.path))
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except errors as exc:
        raise _unreadable_parquet(src.name, exc) from exc
    offset = 0
    total: FileStats | None = None
    for start, length in _parquet_ranges(groups, chunk_rows):
        try:
            if fixed is not None:
                df = _arrow_range(src, fixed, groups, start, length)
            else:
                # a slice reads only the row groups it covers (the streaming engine's batches
                # would read ahead of us, without bound)
                df = (
                    pl.scan_parquet(src.path, glob=False)
                    .slice(start, length)
                    .collect(engine="in-memory")
                )
        except errors as exc:
            raise _unreadable_parquet(src.name, exc) from exc
        canon, st = canonical_from_parquet_frame(
            with_partitions(df, src), src.name, offset, [k for k, _ in src.partitions]
        )
        offset += df.height
        del df  # not held while the consumer works on the chunk
        if total is None:
            total = st
        else:
            total.add(st)
        rows = conform_rows(canon, src_index)
        del canon
        yield rows, total
        del rows
    if total is None:  # no rows at all: the same checks and accounting as a whole read
        canon, total = _read_parquet(src)
        yield conform_rows(canon, src_index), total


def _arrow_range(src: Source, fixed: Any, groups: list[int], start: int, length: int) -> Any:
    """Rows [start, start + length) of a file read through PyArrow (see arrow_fixes)."""
    first = 0
    wanted: list[int] = []
    skip = 0
    for i, n in enumerate(groups):
        if first + n > start and first < start + length:
            if not wanted:
                skip = start - first
            wanted.append(i)
        first += n
    df = _read_arrow(src.path, fixed, wanted)
    return df.slice(skip, length)


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
