"""Read exported events of every supported shape into canonical events, accounting for every row.

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

import codecs
import glob
import json
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl

from jtrack.errors import DataError, RejectedRowError, UsageError
from jtrack.schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    EVENT_TYPE_PREFIX,
    EVENT_TYPES,
    KIND_APP,
    KIND_CUSTOM,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
    KV_LIST,
)

OnError = Literal["fail", "skip"]

#: Internal bookkeeping columns carried next to the canonical ones until the store is written.
SRC_FILE = "_file"
SRC_LINE = "_line"
REASON = "_reason"
REASON_FIELD = "_field"
RAW = "_raw"

#: Longest accepted input line; longer lines are rejected unread (no memory blow-up).
DEFAULT_MAX_LINE_BYTES = 1_000_000

#: Timestamps outside this window are rejected as implausible (year 1, year 9999, ...).
MIN_TIME = "2000-01-01T00:00:00Z"
MAX_TIME = "2100-01-01T00:00:00Z"

#: "Far future relative to the rest": events after a gap of at least FAR_FUTURE_GAP in the
#: time line of the input, when they are at most FAR_FUTURE_SHARE of it (and at least one
#: event stays), are rejected as far_future.
FAR_FUTURE_GAP = timedelta(days=365)
FAR_FUTURE_SHARE = 0.01

#: Every reason a row can be rejected for, with the hint shown to the user.
REJECT_REASONS: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8; re-export the file as UTF-8",
    "line_too_long": "the line is longer than --max-line-bytes; raise the limit if it is real",
    "nul_bytes": "the line holds NUL bytes, as a file that was not completely written does",
    "malformed_json": "the line is not one complete JSON value (truncated, invalid, or nested "
    "more than 128 levels deep)",
    "not_an_object": "each line must be one JSON object (an event)",
    "wrong_type": "a field has a JSON type the schema does not allow (see `jtrack schema`)",
    "missing_id": "every event needs an `id` (event_id in the flat shape)",
    "missing_customer_id": "every event needs a `customerId` (customer_id in the flat shape)",
    "missing_created_date": "every event needs a `createdDate` (created_date in the flat shape)",
    "bad_timestamp": "use ISO-8601 with Z or an offset, or epoch milliseconds",
    "implausible_timestamp": "timestamps must fall between 2000 and 2100 (epoch numbers are "
    "read as milliseconds)",
    "far_future": "the event is dated more than a year after all the other events of the input "
    "(a wrong device clock?)",
    "unknown_event_type": "eventType must be one of " + ", ".join(EVENT_TYPES),
    "missing_event_name": "a web event needs a webEvent.eventName",
}


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


@dataclass
class FileStats:
    """Accounting for one input file."""

    file: str
    shape: str
    rows_read: int = 0
    rows_rejected: int = 0


@dataclass
class ReadResult:
    """Canonical events plus the accounting of everything that was read.

    `events` holds the canonical columns plus `_file` and `_line` (where each row came from);
    `rejects` holds file, line, field, reason, detail and the raw row.
    """

    events: pl.DataFrame
    rejects: pl.DataFrame
    files: list[FileStats] = field(default_factory=list)
    #: things worth telling the user that are not rejects (an empty file, ...)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return self.rejects.height

    def canonical(self) -> pl.DataFrame:
        """The events with the canonical columns only."""
        return self.events.select(list(EVENT_SCHEMA))


REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "field": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "raw": pl.String(),
}

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


# --------------------------------------------------------------------------------------------
# Struct dtypes used to decode JSON lines: String leaves, cast afterwards
# --------------------------------------------------------------------------------------------

_KV_MAP = pl.Map(pl.String, pl.Struct({"dataType": pl.String, "value": pl.String}))


def _nest(paths: Iterable[tuple[str, pl.DataType]]) -> pl.Struct:
    tree: dict[str, Any] = {}
    for dotted, dtype in paths:
        node = tree
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = dtype

    def build(node: dict[str, Any]) -> pl.Struct:
        return pl.Struct({k: build(v) if isinstance(v, dict) else v for k, v in node.items()})

    return build(tree)


def _leaf_dtype(f_dtype: pl.DataType) -> pl.DataType:
    return _KV_MAP if f_dtype == KV_LIST else pl.String()


_GENESYS_PATHS = [(f.genesys, _leaf_dtype(f.dtype)) for f in EVENT_FIELDS if f.genesys]
GENESYS_STRUCT = _nest(_GENESYS_PATHS)
FLAT_STRUCT = pl.Struct(
    {f.name: (KV_LIST if f.dtype == KV_LIST else pl.String()) for f in EVENT_FIELDS}
)


def _path_expr(dtype: pl.DataType, root: pl.Expr, path: str) -> pl.Expr:
    """`root.a.b.c` as a Polars expression, or a null literal when the struct lacks a field."""
    expr, cur = root, dtype
    for part in path.split("."):
        if not isinstance(cur, pl.Struct):
            return pl.lit(None)
        names: dict[str, Any] = {f.name: f.dtype for f in cur.fields}
        if part not in names:
            return pl.lit(None)
        expr, cur = expr.struct.field(part), names[part]
    return expr


# --------------------------------------------------------------------------------------------
# Conversion of decoded values to canonical dtypes, with per-row reasons
# --------------------------------------------------------------------------------------------


#: Epoch values beyond this many milliseconds (year ~33658) are not timestamps (and would
#: overflow microseconds).
_EPOCH_MS_LIMIT = 10**15


def _parse_time(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Parse ISO-8601 text (Z or offset, any fraction) or epoch milliseconds into UTC us.

    Values that cannot be read become null; nothing here raises or overflows.
    """
    if isinstance(dtype, pl.Datetime):
        if dtype.time_unit == "ms":
            # is_between, not abs(): abs() of the smallest Int64 overflows and stays negative
            phys = col.cast(pl.Int64)
            col = pl.when(phys.is_between(-_EPOCH_MS_LIMIT, _EPOCH_MS_LIMIT)).then(col)
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if dtype.is_integer():
        ms = col.cast(pl.Int64, strict=False)
        ms = pl.when(ms.is_between(-_EPOCH_MS_LIMIT, _EPOCH_MS_LIMIT)).then(ms)
        return ms.cast(pl.Datetime("ms", "UTC")).dt.cast_time_unit("us")
    if dtype.is_float():
        us = col.cast(pl.Float64) * 1000
        us = pl.when(us.is_finite() & (us.abs() < _EPOCH_MS_LIMIT * 1000)).then(us)
        return us.cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC"))
    text = col.cast(pl.String).str.strip_chars()
    epoch = (
        pl.when(text.str.contains(r"^-?\d{1,15}$"))
        .then(text)
        .otherwise(None)
        .cast(pl.Int64, strict=False)
        .cast(pl.Datetime("ms", "UTC"))
        .dt.cast_time_unit("us")
    )
    iso = text.str.replace(" ", "T", literal=True).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us"
    )
    naive = (
        text.str.replace(" ", "T", literal=True)
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        .dt.replace_time_zone("UTC")
    )
    return pl.coalesce(epoch, iso, naive)


def _to_bool(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return col
    low = col.cast(pl.String).str.to_lowercase().str.strip_chars()
    return pl.when(low == "true").then(True).when(low == "false").then(False).otherwise(None)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _type_fits(name: str, src: pl.DataType, target: pl.DataType) -> bool:
    """Whether a column of type `src` can hold values of `target` at all.

    When it cannot (a list where text is expected, a boolean timestamp, ...), every value
    in it is a wrong type; when it can, values are converted one by one and those that do
    not convert are wrong types.
    """
    if src == pl.Null:
        return True
    if target == KV_LIST:
        if isinstance(src, pl.Map):
            value = src.value
            return isinstance(value, pl.Struct) and "value" in {f.name for f in value.fields}
        if isinstance(src, pl.List) and isinstance(src.inner, pl.Struct):
            return {"name", "value"} <= {f.name for f in src.inner.fields}
        return False
    if src.is_nested() or src in (pl.Binary, pl.Object):
        return False
    if name == "created_date":
        return isinstance(src, pl.Datetime) or src.is_numeric() or _is_text(src)
    # a date or time column cannot hold a text, number or boolean field
    return not src.is_temporal()


def _convert(name: str, col: pl.Expr, src: pl.DataType, target: pl.DataType) -> pl.Expr:
    """`col` (of type `src`) as `target`; a value that does not convert becomes null."""
    if src == pl.Null:
        return pl.lit(None, target)
    if name == "created_date":
        return _parse_time(col, src)
    if target == pl.Boolean:
        return _to_bool(col, src)
    if target == KV_LIST:
        if src == KV_LIST:
            return col
        if isinstance(src, pl.Map):
            dt_field = (
                pl.element().struct.field("value").struct.field("dataType")
                if isinstance(src.value, pl.Struct)
                and "dataType" in {f.name for f in src.value.fields}
                else pl.lit(None, pl.String)
            )
            return col.map.entries().list.eval(
                pl.struct(
                    name=pl.element().struct.field("key").cast(pl.String),
                    data_type=dt_field.cast(pl.String),
                    value=pl.element().struct.field("value").struct.field("value").cast(pl.String),
                )
            )
        return col.cast(KV_LIST, strict=False)
    if target == pl.String:
        return col.cast(pl.String)
    if _is_text(src):
        return col.cast(pl.String).str.strip_chars().cast(target, strict=False)
    return col.cast(target, strict=False)


def _canonical_select(
    schema: dict[str, pl.DataType], genesys: bool
) -> tuple[list[pl.Expr], dict[str, str]]:
    """Expressions turning a decoded frame into canonical columns, plus flags.

    `_bad_<col>`: a value was present but could not be converted; `_type_<col>`: a value was
    present in a column whose type cannot hold the field at all. Also returns, for each such
    column, the detail shown with its rejects.
    """
    exprs: list[pl.Expr] = []
    details: dict[str, str] = {}
    for f in EVENT_FIELDS:
        if f.name == "kind":
            continue
        src_expr: pl.Expr
        src_dtype: pl.DataType
        if genesys:
            if not f.genesys:
                continue
            top, _, rest = f.genesys.partition(".")
            if top not in schema:
                src_expr, src_dtype = pl.lit(None, pl.String), pl.String()
            elif rest:
                src_expr = _path_expr(schema[top], pl.col(top), rest)
                src_dtype = _leaf_of(schema[top], rest)
            else:
                src_expr, src_dtype = pl.col(top), schema[top]
        else:
            if f.name not in schema:
                src_expr, src_dtype = pl.lit(None, pl.String), pl.String()
            else:
                src_expr, src_dtype = pl.col(f.name), schema[f.name]
        if not _type_fits(f.name, src_dtype, f.dtype):
            exprs.append(pl.lit(None, f.dtype).alias(f.name))
            exprs.append(src_expr.is_not_null().alias(f"_type_{f.name}"))
            where = f.genesys if genesys else f.name
            details[f.name] = f"{where} has type {src_dtype} in the file, expected {f.dtype}"
            continue
        converted = _convert(f.name, src_expr, src_dtype, f.dtype).cast(f.dtype).alias(f.name)
        exprs.append(converted)
        if f.dtype not in (pl.String, KV_LIST) or f.name == "created_date":
            # a value that was present but could not be converted is a wrong type
            exprs.append((src_expr.is_not_null() & converted.is_null()).alias(f"_bad_{f.name}"))
    return exprs, details


def _leaf_of(dtype: pl.DataType, path: str) -> pl.DataType:
    cur: pl.DataType = dtype
    for part in path.split("."):
        if not isinstance(cur, pl.Struct):
            return pl.String()
        names: dict[str, Any] = {f.name: f.dtype for f in cur.fields}
        if part not in names:
            return pl.String()
        cur = names[part]
    return cur


def _kind_expr(genesys_kind: pl.Expr | None = None) -> pl.Expr:
    search = pl.col("search_query").str.strip_chars().fill_null("") != ""
    et = pl.col("event_type")
    return (
        pl.when(et == "WebEvent")
        .then(
            pl.when(search)
            .then(pl.lit(KIND_SEARCH))
            .when(pl.col("event_name") == "page_viewed")
            .then(pl.lit(KIND_PAGE_VIEW))
            .otherwise(pl.lit(KIND_CUSTOM))
        )
        .when(et == "AppEvent")
        .then(pl.lit(KIND_APP))
        .when(et == "SegmentAssignmentEvent")
        .then(pl.lit(KIND_SEGMENT))
        .when(et == "OutcomeAchievedEvent")
        .then(pl.lit(KIND_OUTCOME))
        .when(et == "WebActionEvent")
        .then(pl.lit(KIND_WEB_ACTION))
        .otherwise(None)
    )


_KIND_TO_TYPE = {
    KIND_PAGE_VIEW: "WebEvent",
    KIND_SEARCH: "WebEvent",
    KIND_CUSTOM: "WebEvent",
    KIND_APP: "AppEvent",
    KIND_SEGMENT: "SegmentAssignmentEvent",
    KIND_OUTCOME: "OutcomeAchievedEvent",
    KIND_WEB_ACTION: "WebActionEvent",
}


def _finish(
    frame: pl.DataFrame, genesys: bool, flat_kind: bool, details: dict[str, str] | None = None
) -> pl.DataFrame:
    """Normalise event types, derive kinds, and compute the reject reason of every row.

    Adds `_reason`, `_field` and `_detail` (null for kept rows); `details` explains the
    columns whose type cannot hold their field (see _canonical_select).
    """
    et = pl.col("event_type").str.strip_chars().str.strip_prefix(EVENT_TYPE_PREFIX)
    et = pl.when(et != "").then(et)  # an empty eventType counts as absent
    if not genesys and flat_kind:
        et = pl.coalesce(et, pl.col("kind").replace_strict(_KIND_TO_TYPE, default=None))
    if genesys:
        # Real exports always carry eventType; older ones may only carry the payload.
        et = pl.coalesce(
            et,
            pl.when(pl.col("_has_web"))
            .then(pl.lit("WebEvent"))
            .when(pl.col("_has_seg"))
            .then(pl.lit("SegmentAssignmentEvent"))
            .when(pl.col("_has_out"))
            .then(pl.lit("OutcomeAchievedEvent"))
            .when(pl.col("_has_act"))
            .then(pl.lit("WebActionEvent")),
        )
    frame = frame.with_columns(event_type=et)
    frame = frame.with_columns(kind=_kind_expr())
    bad_cols = [c for c in frame.columns if c.startswith("_bad_")]
    wrong = (
        pl.coalesce(
            *[pl.when(pl.col(c)).then(pl.lit(c.removeprefix("_bad_"))) for c in bad_cols],
        )
        if bad_cols
        else pl.lit(None, pl.String)
    )
    type_cols = [c for c in frame.columns if c.startswith("_type_")]
    mistyped = (
        pl.coalesce(
            *[pl.when(pl.col(c)).then(pl.lit(c.removeprefix("_type_"))) for c in type_cols],
        )
        if type_cols
        else pl.lit(None, pl.String)
    )
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    lo = pl.lit(MIN_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    hi = pl.lit(MAX_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    reason = (
        pl.when(mistyped.is_not_null())
        .then(pl.struct(r=pl.lit("wrong_type"), f=mistyped))
        .when(blank("event_id"))
        .then(pl.struct(r=pl.lit("missing_id"), f=pl.lit("event_id")))
        .when(blank("customer_id"))
        .then(pl.struct(r=pl.lit("missing_customer_id"), f=pl.lit("customer_id")))
        .when(pl.col("_created_raw_missing"))
        .then(pl.struct(r=pl.lit("missing_created_date"), f=pl.lit("created_date")))
        .when(pl.col("created_date").is_null())
        .then(pl.struct(r=pl.lit("bad_timestamp"), f=pl.lit("created_date")))
        .when((pl.col("created_date") < lo) | (pl.col("created_date") >= hi))
        .then(pl.struct(r=pl.lit("implausible_timestamp"), f=pl.lit("created_date")))
        .when(wrong.is_not_null())
        .then(pl.struct(r=pl.lit("wrong_type"), f=wrong))
        .when(pl.col("kind").is_null())
        .then(pl.struct(r=pl.lit("unknown_event_type"), f=pl.lit("event_type")))
        .when((pl.col("event_type") == "WebEvent") & blank("event_name"))
        .then(pl.struct(r=pl.lit("missing_event_name"), f=pl.lit("event_name")))
    )
    frame = frame.with_columns(_r=reason).with_columns(
        pl.col("_r").struct.field("r").alias(REASON),
        pl.col("_r").struct.field("f").alias(REASON_FIELD),
    )
    frame = frame.with_columns(
        pl.when(mistyped.is_not_null())
        .then(pl.col(REASON_FIELD).replace_strict(details or {}, default=None))
        .otherwise(None)
        .cast(pl.String)
        .alias("_detail")
    )
    return frame.drop(
        "_r",
        *bad_cols,
        *type_cols,
        *[c for c in frame.columns if c.startswith("_has_")],
        "_created_raw_missing",
        strict=False,
    )


# --------------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------------


_CHUNK = 1 << 20  # bytes read at a time; memory per line is bounded by max_line_bytes + this


def _open_error(name: str, exc: OSError) -> DataError:
    return DataError(
        f"{name}: cannot read the file ({exc.strerror or exc})",
        hint="check the file exists and is readable",
    )


def _raw_chunks(src: Source) -> Iterator[bytes]:
    """The source's bytes, a chunk at a time (never the whole file at once for paths)."""
    if src.data is not None:
        for i in range(0, len(src.data), _CHUNK):
            yield src.data[i : i + _CHUNK]
        return
    assert src.path is not None
    try:
        with open(src.path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise _open_error(src.name, exc) from exc


def _corrupt(name: str, codec: str, detail: object) -> DataError:
    return DataError(
        f"{name}: the {codec} stream is truncated or corrupt ({detail})",
        hint="re-download or re-export the file; nothing from it was read",
    )


def _gunzip(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Decompress gzip (several members too); a truncated or corrupt stream raises DataError."""
    d, started = zlib.decompressobj(wbits=31), False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = d.decompress(data, _CHUNK)  # bounded output: no blow-up on a bomb
                started = True
                if out:
                    yield out
                if d.eof:  # end of a member: what follows is another member or padding
                    data = d.unused_data
                    d, started = zlib.decompressobj(wbits=31), False
                    if not data.strip(b"\0"):
                        data = b""
                else:
                    data = d.unconsumed_tail
        if started:
            tail = d.flush()
            if tail:
                yield tail
            if not d.eof:
                raise _corrupt(name, "gzip", "the stream ends before its end-of-stream marker")
    except zlib.error as exc:
        raise _corrupt(name, "gzip", exc) from exc


def _unzstd(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Decompress zstd (several frames too); a truncated or corrupt stream raises DataError."""
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard ships with the test extras
        # Polars reads zstd itself, but cannot tell a truncated stream from a short one.
        data = b"".join(chunks)
        yield "\n".join(pl.scan_lines(data).collect()["line"].to_list()).encode() + b"\n"
        return
    d, started = zstandard.ZstdDecompressor().decompressobj(), False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = d.decompress(data)
                started = True
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    d, started = zstandard.ZstdDecompressor().decompressobj(), False
                else:
                    data = b""
        if started and not d.eof:
            raise _corrupt(name, "zstd", "the stream ends before its last frame is complete")
    except zstandard.ZstdError as exc:
        raise _corrupt(name, "zstd", exc) from exc


def _utf16_to_utf8(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """Re-encode UTF-16 (as written by some Windows tools) to UTF-8, a chunk at a time.

    Unpaired surrogates survive as bytes that are not UTF-8, so their lines are rejected
    as invalid_utf8 rather than silently altered.
    """
    dec = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
    for chunk in chunks:
        yield dec.decode(chunk).encode("utf-8", errors="surrogatepass")
    yield dec.decode(b"", final=True).encode("utf-8", errors="surrogatepass")


def _pushback(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _decoded_chunks(src: Source) -> Iterator[bytes]:
    """UTF-8 bytes of the source: decompressed (gzip, zstd: detected from content) and
    re-encoded from UTF-16 when the file starts with a UTF-16 byte-order mark."""
    raw = _raw_chunks(src)
    head = b""
    for chunk in raw:
        head += chunk
        if len(head) >= 4:
            break
    chunks = _pushback(head, raw)
    if head[:2] == b"\x1f\x8b":
        chunks = _gunzip(chunks, src.name)
    elif head[:4] == b"\x28\xb5\x2f\xfd":
        chunks = _unzstd(chunks, src.name)
    # look at the (decompressed) start for a UTF-16 byte-order mark
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 4:
            break
    chunks = _pushback(head, chunks)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _utf16_to_utf8(chunks, "utf-16")
    return chunks


@dataclass
class _Overlong:
    line: int  # 1-based physical line number
    size: int  # bytes, without the newline
    head: bytes  # the first bytes, for the rejects file


def _split_limited(chunks: Iterator[bytes], max_line_bytes: int) -> tuple[bytes, list[_Overlong]]:
    """Join the chunks, leaving out lines longer than max_line_bytes.

    An overlong line is replaced by an empty line (so line numbers stay right) and recorded;
    it is never held in memory whole. Lines shorter than a chunk are checked later, in Polars.
    """
    blocks = list(_split_blocks(chunks, max_line_bytes, block_bytes=None))
    if not blocks:
        return b"", []
    return b"".join(b.data for b in blocks), [o for b in blocks for o in b.overlong]


@dataclass
class _Block:
    """Whole lines of a file: `data` starts at physical line `first_line`; `overlong` lists
    (with file line numbers) the lines left out of it because they were too long."""

    data: bytes
    first_line: int
    overlong: list[_Overlong]


def _split_blocks(
    chunks: Iterator[bytes], max_line_bytes: int, block_bytes: int | None
) -> Iterator[_Block]:
    """The lines of the chunks in blocks of about block_bytes (None: one block), each ending
    at a line end; overlong lines are left out as in _split_limited."""
    kept: list[bytes] = []
    size = 0
    overlong: list[_Overlong] = []
    newlines = 0  # newlines before the end of `kept`
    first = 1  # file line number of the current block's first line
    partial = b""  # the current, unfinished line
    skip: _Overlong | None = None  # the overlong line being skipped
    for chunk in chunks:
        if skip is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                skip.size += len(chunk)
                continue
            skip.size += nl
            overlong.append(skip)
            kept.append(b"\n")
            size += 1
            newlines += 1
            skip = None
            chunk = chunk[nl + 1 :]
        buf = partial + chunk
        last = buf.rfind(b"\n")
        if last >= 0:
            done = buf[: last + 1]
            kept.append(done)
            size += len(done)
            newlines += done.count(b"\n")
            partial = buf[last + 1 :]
        else:
            partial = buf
        if len(partial) > max_line_bytes:
            skip = _Overlong(newlines + 1, len(partial), partial[:_RAW_KEEP])
            partial = b""
        if block_bytes is not None and size >= block_bytes and skip is None:
            yield _Block(b"".join(kept), first, overlong)
            kept, size, overlong, first = [], 0, [], newlines + 1
    if skip is not None:
        overlong.append(skip)
    elif partial:
        kept.append(partial)
    if kept or overlong:
        yield _Block(b"".join(kept), first, overlong)


_RAW_KEEP = 10_000  # characters of a rejected line kept in the rejects file

#: Unicode noncharacters: one that does not occur in a file marks its bytes that are not UTF-8.
_MARKERS = ("\U0010fffe", "\U0010ffff", "\U000ffffe", "\U000fffff", "\ufdd0", "\ufdd1")


def _register_markers() -> None:
    for i, mark in enumerate(_MARKERS):

        def handler(err: UnicodeError, mark: str = mark) -> tuple[str, int]:
            assert isinstance(err, UnicodeDecodeError)
            return mark, err.end

        codecs.register_error(f"jtrack-mark-{i}", handler)


_register_markers()


def _decode_text(data: bytes, name: str) -> tuple[str, str | None]:
    """UTF-8 text, plus the marker standing for bytes that were not UTF-8 (None: all valid)."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    for i, mark in enumerate(_MARKERS):
        if mark.encode("utf-8") not in data:
            return data.decode("utf-8", errors=f"jtrack-mark-{i}"), mark
    raise DataError(  # pragma: no cover - needs a file holding all six noncharacters
        f"{name}: the file is not UTF-8",
        hint="re-export the file as UTF-8",
    )


def _json_or_none(text: str) -> Any:
    """json.loads, or None for text that is not JSON (or is nested too deep for Python)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _first_line(chunks: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes]]:
    """Read ahead to the end of the first non-blank line (at most `limit` bytes past it)."""
    head = b""
    for chunk in chunks:
        head += chunk
        body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if b"\n" in body or len(body) > limit:
            break
    return head, _pushback(head, chunks)


def _is_document(head: bytes, max_line_bytes: int) -> bool:
    """Whether a file starting with `head` is a JSON document (array, REST page), not lines."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    first = start.split(b"\n", 1)[0].strip()
    document = start.startswith(b"[")
    if not document and first.startswith(b"{") and len(first) <= max_line_bytes:
        obj = _json_or_none(first.decode("utf-8", errors="replace"))
        if obj is None:
            # a pretty-printed page starts with a line that is not JSON on its own
            document = first == b"{" or b'"entities"' in first
        else:
            document = isinstance(obj, dict) and "entities" in obj and "id" not in obj
    return document


def _read_json_lines(src: Source, max_line_bytes: int) -> tuple[pl.DataFrame, FileStats]:
    """JSONL, or a JSON document (array, REST page): the document is read whole, the lines
    with max_line_bytes enforced while reading."""
    head, chunks = _first_line(_decoded_chunks(src), max_line_bytes)
    if _is_document(head, max_line_bytes):
        text, mark = _decode_text(b"".join(chunks), src.name)
        if mark is not None:
            raise DataError(
                f"{src.name}: the JSON document is not valid UTF-8",
                hint="re-export the file as UTF-8; nothing from it was read",
            )
        return _read_json_document(src, text.lstrip("\ufeff"), max_line_bytes)
    data, overlong = _split_limited(chunks, max_line_bytes)
    text, mark = _decode_text(data, src.name)
    lines = _lines_frame(text)
    return _decode_lines(src.name, lines, max_line_bytes, "line", mark, _too_long_frame(overlong))


def _too_long_frame(overlong: list[_Overlong]) -> pl.DataFrame | None:
    if not overlong:
        return None
    return pl.DataFrame(
        {
            SRC_LINE: [o.line for o in overlong],
            "line": [o.head.decode("utf-8", errors="replace") for o in overlong],
            "_size": [o.size for o in overlong],
        },
        schema={SRC_LINE: pl.Int64, "line": pl.String, "_size": pl.Int64},
    )


def _iter_json_lines(
    src: Source, max_line_bytes: int, block_bytes: int
) -> Iterator[tuple[pl.DataFrame, FileStats]]:
    """A JSON lines file as frames of about block_bytes of lines each (read_source's rows and
    accounting, block by block: memory holds one block, not the file). A JSON document
    (array, REST page) is read whole, as read_source does. The shape is detected on the
    first block (a file's first 20 lines, unless its lines are longer than block_bytes / 20)."""
    head, chunks = _first_line(_decoded_chunks(src), max_line_bytes)
    if _is_document(head, max_line_bytes):
        del chunks
        yield _read_json_lines(src, max_line_bytes)
        return
    total: FileStats | None = None
    genesys: bool | None = None
    for block in _split_blocks(chunks, max_line_bytes, block_bytes):
        text, mark = _decode_text(block.data, src.name)
        lines = _lines_frame(text, block.first_line)
        del text
        if genesys is None:
            genesys = _detect_shape(lines["line"])
        frame, st = _decode_lines(
            src.name, lines, max_line_bytes, "line", mark, _too_long_frame(block.overlong), genesys
        )
        if total is None:
            total = st
        else:
            total.rows_read += st.rows_read
            total.rows_rejected += st.rows_rejected
        yield frame, total
    if total is None:  # an empty file: the same accounting as a whole read
        yield _decode_lines(src.name, _lines_frame(""), max_line_bytes, "line")


def _lines_frame(text: str, first_line: int = 1) -> pl.DataFrame:
    """Physical lines with their numbers (blank lines counted, then dropped)."""
    s = pl.Series("line", text.split("\n"), dtype=pl.String)  # str.split: C speed
    df = s.to_frame().with_row_index(SRC_LINE, offset=first_line)
    return df.with_columns(pl.col("line").str.strip_suffix("\r").str.strip_prefix("\ufeff")).filter(
        pl.col("line").str.strip_chars() != ""
    )


def _decode_all(lines: pl.Series, dtype: pl.Struct) -> pl.Series | None:
    """The fast path of clean input: every line is an object and all of them decode at once
    (json_decode raises on anything malformed or misfitting). None: look line by line."""
    if not lines.str.strip_chars_start().str.starts_with("{").all():
        return None
    try:
        return lines.str.json_decode(dtype)
    except pl.exceptions.PolarsError:
        return None


def _decode_robust(lines: pl.Series, dtype: pl.Struct) -> tuple[pl.Series, pl.Series]:
    """json_decode, isolating rows whose shape does not fit `dtype` by bisection.

    Returns the decoded struct series (null where the row did not fit) and the error text of
    each row that did not fit. Cost grows with the number of bad rows times log(n), never a
    Python loop over all rows.
    """
    n = lines.len()
    errors: dict[int, str] = {}

    def attempt(lo: int, hi: int) -> list[tuple[int, pl.Series]]:
        part = lines.slice(lo, hi - lo)
        try:
            return [(lo, part.str.json_decode(dtype))]
        except pl.exceptions.PolarsError as exc:
            if hi - lo == 1:
                errors[lo] = str(exc).splitlines()[0][:200]
                return [(lo, pl.Series([None], dtype=dtype))]
            mid = (lo + hi) // 2
            return attempt(lo, mid) + attempt(mid, hi)

    if n == 0:
        return pl.Series([], dtype=dtype), pl.Series([], dtype=pl.String)
    parts = attempt(0, n)
    decoded = pl.concat([p for _, p in parts]) if len(parts) > 1 else parts[0][1]
    err = pl.Series([errors.get(i) for i in sorted(errors)], dtype=pl.String)
    idx = pl.Series(sorted(errors), dtype=pl.Int64)
    err_full = (
        pl.DataFrame({"i": pl.arange(0, n, eager=True)})
        .join(pl.DataFrame({"i": idx, "e": err}), on="i", how="left", maintain_order="left")
        .get_column("e")
    )
    return decoded, err_full


def _read_json_document(
    src: Source, text: str, max_line_bytes: int
) -> tuple[pl.DataFrame, FileStats]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{src.name}: line {exc.lineno}: the JSON document is malformed ({exc.msg})",
            hint="check the file is complete; nothing from it was read",
        ) from exc
    except RecursionError:
        raise DataError(
            f"{src.name}: the JSON document is nested too deeply to be events",
            hint="events nest a few levels; check the export; nothing from it was read",
        ) from None
    if isinstance(doc, dict):
        entities = doc.get("entities")
        if not isinstance(entities, list):
            raise DataError(
                f"{src.name}: a JSON document must be an array of events or a page "
                'with an "entities" array',
                hint="export one event per line (JSONL) or a REST page",
            )
    else:
        entities = doc
    # REST pages hold at most a few hundred events: re-encoding them is cheap.
    try:
        encoded = [json.dumps(e, ensure_ascii=False) for e in entities]
    except (RecursionError, ValueError) as exc:
        raise DataError(
            f"{src.name}: an entity of the JSON document cannot be read ({exc})",
            hint="check the export; nothing from it was read",
        ) from None
    lines = pl.DataFrame({"line": pl.Series(encoded, dtype=pl.String)}).with_row_index(
        SRC_LINE, offset=1
    )
    return _decode_lines(src.name, lines, max_line_bytes, "entity")


_GENESYS_TO_FIELD = {f.genesys: f.name for f in EVENT_FIELDS if f.genesys}


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "text"


def _type_error_at(value: Any, dtype: Any, path: str) -> tuple[str, str] | None:
    """The first place where a decoded JSON value does not fit `dtype`: (path, message)."""
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            return path, f"{path} is {_json_kind(value)}, expected an object"
        for f in dtype.fields:
            sub = f"{path}.{f.name}" if path else f.name
            found = _type_error_at(value.get(f.name), f.dtype, sub)
            if found:
                return found
        return None
    if isinstance(dtype, pl.Map):
        if not isinstance(value, dict):
            return path, f"{path} is {_json_kind(value)}, expected an object of {{dataType, value}}"
        for k, v in value.items():
            found = _type_error_at(v, dtype.value, f"{path}.{k}")
            if found:
                return path, found[1]
        return None
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            return path, f"{path} is {_json_kind(value)}, expected an array"
        for i, v in enumerate(value):
            found = _type_error_at(v, dtype.inner, f"{path}[{i}]")
            if found:
                return path, found[1]
        return None
    if isinstance(value, dict | list):
        return path, f"{path} is {_json_kind(value)}, expected text or a number"
    return None


def _locate_decode_errors(
    lines: pl.Series, errs: pl.Series, genesys: bool
) -> tuple[pl.Series, pl.Series]:
    """For rows Polars could not decode, the canonical field and a message saying why.

    Runs in Python, but only over the rows that failed (already isolated one by one).
    """
    n = lines.len()
    field_s = pl.Series([None] * n, dtype=pl.String)
    detail_s = pl.Series([None] * n, dtype=pl.String)
    bad = errs.is_not_null()
    if not bad.any():
        return field_s, detail_s
    idx = bad.arg_true()
    dtype = GENESYS_STRUCT if genesys else FLAT_STRUCT
    fields: list[str] = []
    details: list[str] = []
    for line, err in zip(lines.gather(idx).to_list(), errs.gather(idx).to_list(), strict=True):
        found = _type_error_at(_json_or_none(line), dtype, "")
        if found is None:
            fields.append("")
            details.append(str(err))
            continue
        path, message = found
        if genesys:
            name = _GENESYS_TO_FIELD.get(path, "")
            if not name:  # an object holding fields, e.g. webEvent.page
                name = next((v for k, v in _GENESYS_TO_FIELD.items() if k.startswith(path)), "")
        else:
            name = path.split(".", 1)[0].split("[", 1)[0]
        fields.append(name)
        details.append(message)
    field_s = field_s.scatter(idx, pl.Series(fields, dtype=pl.String))
    detail_s = detail_s.scatter(idx, pl.Series(details, dtype=pl.String))
    return field_s, detail_s


def _detect_shape(lines: pl.Series) -> bool:
    """True for the Genesys envelope, False for the flat shape (by the first object's keys)."""
    for line in lines.head(20).to_list():
        obj = _json_or_none(line) if isinstance(line, str) else None
        if isinstance(obj, dict):
            return not ("customer_id" in obj or "event_id" in obj or "created_date" in obj)
    return True


def _decode_lines(
    name: str,
    lines: pl.DataFrame,
    max_line_bytes: int,
    unit: str,
    mark: str | None = None,
    too_long: pl.DataFrame | None = None,
    genesys: bool | None = None,
) -> tuple[pl.DataFrame, FileStats]:
    """Decode JSON lines into canonical columns; every line is kept or gets a reason.

    `mark` stands for bytes that were not UTF-8; `too_long` lists the lines left out unread
    because they were longer than max_line_bytes; `genesys` the file's shape (None: detect
    it from these lines).
    """
    if genesys is None:
        genesys = _detect_shape(lines["line"])
    n_long = too_long.height if too_long is not None else 0
    stats = FileStats(
        name,
        ("genesys" if genesys else "flat") + ("-jsonl" if unit == "line" else "-json-document"),
        rows_read=lines.height + n_long,
    )
    line = pl.col("line")
    invalid = line.str.contains(mark, literal=True) if mark is not None else pl.lit(False)
    dtype = GENESYS_STRUCT if genesys else FLAT_STRUCT
    cheap = (
        pl.when(line.str.len_bytes() > max_line_bytes)
        .then(pl.lit("line_too_long"))
        .when(invalid)
        .then(pl.lit("invalid_utf8"))
        .when(line.str.contains("\x00", literal=True))
        .then(pl.lit("nul_bytes"))
    )
    pre = lines.with_columns(cheap.alias("_pre"))
    ok = pre.filter(pl.col("_pre").is_null())
    decoded = _decode_all(ok["line"], dtype)
    if decoded is not None:
        # every other line is a JSON object that fits: nothing malformed, nothing else
        errs = pl.repeat(None, ok.height, dtype=pl.String, eager=True)
    else:
        pre = lines.with_columns(
            pl.when(cheap.is_not_null())
            .then(cheap)
            .when(line.str.json_path_match("$").is_null() & (line.str.strip_chars() != "null"))
            .then(pl.lit("malformed_json"))
            .when(~line.str.strip_chars_start().str.starts_with("{"))
            .then(pl.lit("not_an_object"))
            .alias("_pre")
        )
        ok = pre.filter(pl.col("_pre").is_null())
        decoded, errs = _decode_robust(ok["line"], dtype)
    body = pl.DataFrame({"_ev": decoded, "_decode_err": errs}).unnest("_ev")
    raw_created = "createdDate" if genesys else "created_date"
    body = body.with_columns(
        (pl.col(raw_created).is_null() & pl.col("_decode_err").is_null()).alias(
            "_created_raw_missing"
        )
    )
    if genesys:
        body = body.with_columns(
            pl.col("webEvent").is_not_null().alias("_has_web"),
            pl.col("segmentAssignmentEvent").is_not_null().alias("_has_seg"),
            pl.col("outcomeAchievedEvent").is_not_null().alias("_has_out"),
            pl.col("webActionEvent").is_not_null().alias("_has_act"),
        )
    schema = dict(body.schema)
    sel, details = _canonical_select(schema, genesys)
    extra = ["_created_raw_missing", "_decode_err"] + (
        ["_has_web", "_has_seg", "_has_out", "_has_act"] if genesys else []
    )
    canon = body.select(*sel, *extra, kind=pl.lit(None, pl.String))
    if not genesys and "kind" in schema:
        canon = canon.with_columns(kind=body["kind"])
    canon = _finish(canon, genesys, flat_kind=not genesys, details=details)
    err_field, err_detail = _locate_decode_errors(ok["line"], errs, genesys)
    canon = canon.with_columns(
        pl.when(pl.col("_decode_err").is_not_null())
        .then(pl.lit("wrong_type"))
        .otherwise(pl.col(REASON))
        .alias(REASON),
        pl.when(pl.col("_decode_err").is_not_null())
        .then(err_field)
        .otherwise(pl.col(REASON_FIELD))
        .alias(REASON_FIELD),
        pl.when(pl.col("_decode_err").is_not_null())
        .then(err_detail)
        .otherwise(pl.col("_detail"))
        .alias("_detail"),
    ).drop("_decode_err")
    canon = canon.with_columns(ok[SRC_LINE].cast(pl.Int64).alias(SRC_LINE), ok["line"].alias(RAW))
    bad_pre = pre.filter(pl.col("_pre").is_not_null())
    pre_rejects = bad_pre.select(
        pl.col(SRC_LINE).cast(pl.Int64),
        pl.col("_pre").alias(REASON),
        pl.lit("").alias(REASON_FIELD),
        pl.when(pl.col("_pre") == "line_too_long")
        .then(pl.format("the line is {} bytes long", pl.col("line").str.len_bytes()))
        .alias("_detail"),
        pl.col("line").str.slice(0, _RAW_KEEP).alias(RAW),
    )
    parts = [canon, pre_rejects]
    if too_long is not None and too_long.height:
        parts.append(
            too_long.select(
                pl.col(SRC_LINE).cast(pl.Int64),
                pl.lit("line_too_long").alias(REASON),
                pl.lit("").alias(REASON_FIELD),
                pl.format("the line is {} bytes long", pl.col("_size")).alias("_detail"),
                pl.col("line").alias(RAW),
            )
        )
    out = pl.concat(parts, how="diagonal_relaxed").sort(SRC_LINE)
    out = out.with_columns(pl.lit(name).alias(SRC_FILE))
    stats.rows_rejected = int(out[REASON].is_not_null().sum())
    return out, stats


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

#: Every row read, kept or rejected: the canonical columns plus where the row came from
#: (`_src`: the source's position in the run, `_file`, `_line`) and why it was rejected.
ROW_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_SCHEMA,
    SRC_FILE: pl.String(),
    SRC_LINE: pl.Int64(),
    REASON: pl.String(),
    REASON_FIELD: pl.String(),
    "_detail": pl.String(),
    RAW: pl.String(),
    "_src": pl.UInt32(),
}


def conform_rows(frame: pl.DataFrame, src_index: int) -> pl.DataFrame:
    """A frame of read_source (or canonical_from_parquet_frame) with exactly ROW_SCHEMA."""
    frame = frame.with_columns(pl.lit(src_index, pl.UInt32).alias("_src"))
    return frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in ROW_SCHEMA.items()
        ]
    )


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
    allrows = mark_far_future(allrows, far_future_cut(allrows.filter(pl.col(REASON).is_null())))
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


def rejected_row_error(row: dict[str, Any]) -> RejectedRowError:
    """The error that stops a run at a rejected row (a row of ROW_SCHEMA with a reason)."""
    reason = row[REASON]
    fld = row[REASON_FIELD] or _field_for_reason(reason)
    detail = REJECT_REASONS.get(reason, reason)
    if row["_detail"]:
        detail = f"{row['_detail']}; {detail}"
    return RejectedRowError(row[SRC_FILE], int(row[SRC_LINE]), fld, reason, detail)


def far_future_cut(times: pl.DataFrame | pl.LazyFrame) -> tuple[datetime, str] | None:
    """Where "far future relative to the rest" starts in a run, and the reject detail.

    `times` holds the `created_date` of the run's accepted events (a lazy scan is fine). The
    cut is the first time after a gap of at least FAR_FUTURE_GAP in the sorted time line such
    that at most FAR_FUTURE_SHARE of the events (at least one) lie at or after it. Only the
    latest share of the times is sorted (a top-k), so a scan of any size is fine.
    """
    lf = times.lazy().select(pl.col("created_date").drop_nulls().alias("t"))
    n = int(lf.select(pl.len()).collect(engine="in-memory").item())
    if n < 2:
        return None
    limit = max(1, int(n * FAR_FUTURE_SHARE))
    # the latest limit + 1 times, ascending: a cut at position j >= 1 leaves at most
    # `limit` events at or after it, and top[j - 1] is the time before the gap
    top = lf.select(pl.col("t").top_k(limit + 1).sort()).collect(engine="in-memory")
    gaps = top.with_columns(prev=pl.col("t").shift(1)).with_row_index("j")
    cuts = gaps.filter((pl.col("j") >= 1) & ((pl.col("t") - pl.col("prev")) >= FAR_FUTURE_GAP))
    if cuts.height == 0:
        return None
    prev = cuts["prev"][0]
    detail = (
        f"dated more than {FAR_FUTURE_GAP.days} days after the latest other event "
        f"({prev.strftime('%Y-%m-%dT%H:%M:%S')}Z)"
    )
    return cuts["t"][0], detail


def mark_far_future(rows: pl.DataFrame, cut: tuple[datetime, str] | None) -> pl.DataFrame:
    """Reject (reason far_future) the accepted rows at or after the cut of far_future_cut."""
    if cut is None:
        return rows
    at, detail = cut
    far = pl.col(REASON).is_null() & (pl.col("created_date") >= at)
    return rows.with_columns(
        pl.when(far).then(pl.lit("far_future")).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(far)
        .then(pl.lit("created_date"))
        .otherwise(pl.col(REASON_FIELD))
        .alias(REASON_FIELD),
        pl.when(far).then(pl.lit(detail)).otherwise(pl.col("_detail")).alias("_detail"),
    )


def rejects_frame(bad: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows (with the internal `_reason`... columns) as the rejects file's columns:
    file, line, field, reason, detail, raw."""
    return bad.select(
        pl.col(SRC_FILE).alias("file"),
        pl.col(SRC_LINE).alias("line"),
        pl.when(pl.col(REASON_FIELD).fill_null("") == "")
        .then(pl.col(REASON).replace_strict(_REASON_FIELD, default=""))
        .otherwise(pl.col(REASON_FIELD))
        .alias("field"),
        pl.col(REASON).alias("reason"),
        pl.coalesce(
            pl.col("_detail"), pl.col(REASON).replace_strict(REJECT_REASONS, default=None)
        ).alias("detail"),
        pl.col(RAW).alias("raw"),
    )


_REASON_FIELD = {
    "invalid_utf8": "",
    "line_too_long": "",
    "malformed_json": "",
    "not_an_object": "",
    "missing_id": "event_id",
    "missing_customer_id": "customer_id",
    "missing_created_date": "created_date",
    "bad_timestamp": "created_date",
    "implausible_timestamp": "created_date",
    "far_future": "created_date",
    "nul_bytes": "",
    "unknown_event_type": "event_type",
    "missing_event_name": "event_name",
}


def _field_for_reason(reason: str) -> str:
    return _REASON_FIELD.get(reason, "") or "(line)"


__all__ = [
    "REJECT_REASONS",
    "ROW_SCHEMA",
    "FileStats",
    "ReadResult",
    "Source",
    "canonical_from_parquet_frame",
    "conform_rows",
    "expand_sources",
    "far_future_cut",
    "iter_source_rows",
    "mark_far_future",
    "read_events",
    "read_source",
    "rejected_row_error",
    "rejects_frame",
]
