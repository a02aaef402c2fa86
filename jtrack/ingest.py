"""Read exported events of every supported shape into canonical events, accounting for every row.

Sources: JSONL/NDJSON (plain, .gz, .zst), JSON documents (a REST page `{"entities": [...]}` or
an array), Parquet files, directories and globs (recursive) and `-` for stdin. Shapes: the
Genesys Journey envelope and the flat snake_case shape of `jtrack.schema`. Each row either
becomes a canonical event or a reject with a reason; nothing is dropped silently.
Imports Polars only (no typer, no rich).
"""

from __future__ import annotations

import codecs
import glob
import gzip
import json
import os
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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

#: Every reason a row can be rejected for, with the hint shown to the user.
REJECT_REASONS: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8; re-export the file as UTF-8",
    "line_too_long": "the line is longer than --max-line-bytes; raise the limit if it is real",
    "malformed_json": "the line is not one complete JSON value; check for truncation",
    "not_an_object": "each line must be one JSON object (an event)",
    "wrong_type": "a field has a JSON type the schema does not allow (see `jtrack schema`)",
    "missing_id": "every event needs an `id` (event_id in the flat shape)",
    "missing_customer_id": "every event needs a `customerId` (customer_id in the flat shape)",
    "missing_created_date": "every event needs a `createdDate` (created_date in the flat shape)",
    "bad_timestamp": "use ISO-8601 with Z or an offset, or epoch milliseconds",
    "implausible_timestamp": "timestamps must fall between 2000 and 2100",
    "unknown_event_type": "eventType must be one of " + ", ".join(EVENT_TYPES),
    "missing_event_name": "a web event needs a webEvent.eventName",
}

_INVALID_CHAR = "\U0010fffe"  # a Unicode noncharacter marking bytes that were not UTF-8


def _mark_invalid(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    return _INVALID_CHAR, err.end


codecs.register_error("jtrack-mark", _mark_invalid)


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


def _parse_time(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Parse ISO-8601 text (Z or offset, any fraction) or epoch milliseconds into UTC us."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if dtype.is_integer():
        return col.cast(pl.Int64).cast(pl.Datetime("ms", "UTC")).dt.cast_time_unit("us")
    if dtype.is_float():
        return (col * 1000).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
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


def _convert(name: str, col: pl.Expr, src: pl.DataType, target: pl.DataType) -> pl.Expr:
    if name == "created_date":
        return _parse_time(col, src)
    if target == pl.Boolean:
        return _to_bool(col, src)
    if target == KV_LIST:
        if src == KV_LIST:
            return col
        if isinstance(src, pl.Map):
            return col.map.entries().list.eval(
                pl.struct(
                    name=pl.element().struct.field("key"),
                    data_type=pl.element().struct.field("value").struct.field("dataType"),
                    value=pl.element().struct.field("value").struct.field("value"),
                )
            )
        if isinstance(src, pl.List):
            return col.cast(KV_LIST, strict=False)
        return pl.lit(None, KV_LIST)
    if target == pl.String:
        return col.cast(pl.String)
    if src == pl.String:
        return col.str.strip_chars().cast(target, strict=False)
    return col.cast(target, strict=False)


def _canonical_select(schema: dict[str, pl.DataType], genesys: bool) -> list[pl.Expr]:
    """Expressions turning a decoded frame into canonical columns (plus `_bad_<col>` flags)."""
    exprs: list[pl.Expr] = []
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
        converted = _convert(f.name, src_expr, src_dtype, f.dtype).cast(f.dtype).alias(f.name)
        exprs.append(converted)
        if f.dtype not in (pl.String, KV_LIST) or f.name == "created_date":
            # a value that was present but could not be converted is a wrong type
            exprs.append((src_expr.is_not_null() & converted.is_null()).alias(f"_bad_{f.name}"))
    return exprs


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


def _finish(frame: pl.DataFrame, genesys: bool, flat_kind: bool) -> pl.DataFrame:
    """Normalise event types, derive kinds, and compute the reject reason of every row."""
    et = pl.col("event_type").str.strip_chars().str.strip_prefix(EVENT_TYPE_PREFIX)
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
    frame = frame.with_columns(event_type=et.str.replace(r"^$", "", literal=False))
    frame = frame.with_columns(kind=_kind_expr())
    bad_cols = [c for c in frame.columns if c.startswith("_bad_")]
    wrong = (
        pl.coalesce(
            *[pl.when(pl.col(c)).then(pl.lit(c.removeprefix("_bad_"))) for c in bad_cols],
        )
        if bad_cols
        else pl.lit(None, pl.String)
    )
    blank = lambda c: pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")  # noqa: E731
    lo = pl.lit(MIN_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    hi = pl.lit(MAX_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    reason = (
        pl.when(blank("event_id"))
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
    return frame.drop(
        "_r",
        *bad_cols,
        *[c for c in frame.columns if c.startswith("_has_")],
        "_created_raw_missing",
        strict=False,
    )


# --------------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------------


def _decode_bytes(data: bytes, name: str) -> bytes:
    """Undo gzip or zstd compression (detected from content, not the file name)."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{name}: the gzip stream is truncated or corrupt ({exc})",
                hint="re-download or re-export the file; nothing from it was read",
            ) from exc
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return _zstd_decompress(data, name)
    return data


def _zstd_decompress(data: bytes, name: str) -> bytes:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        lf = pl.scan_lines(data)
        return "\n".join(lf.collect()["line"].to_list()).encode()
    try:
        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            out = reader.read()
            # a truncated frame reads short without raising: check the frame really ended
            rest = reader.read(1)
        if rest:
            out += rest
        params = zstandard.get_frame_parameters(data)
        if params.content_size not in (0, zstandard.CONTENTSIZE_UNKNOWN) and len(out) != (
            params.content_size
        ):
            raise zstandard.ZstdError("frame is shorter than its declared size")
        if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
            zstandard.ZstdDecompressor().decompressobj().decompress(data)
            dobj = zstandard.ZstdDecompressor().decompressobj()
            dobj.decompress(data)
            if not dobj.eof:
                raise zstandard.ZstdError("stream ends before its last frame is complete")
        return out
    except zstandard.ZstdError as exc:
        raise DataError(
            f"{name}: the zstd stream is truncated or corrupt ({exc})",
            hint="re-download or re-export the file; nothing from it was read",
        ) from exc


def _lines_frame(text: str) -> pl.DataFrame:
    """Physical lines with 1-based numbers (blank lines counted, then dropped)."""
    s = pl.Series("line", [text]).str.split("\n").explode()
    df = s.to_frame().with_row_index(SRC_LINE, offset=1)
    return df.with_columns(pl.col("line").str.strip_suffix("\r").str.strip_prefix("\ufeff")).filter(
        pl.col("line").str.strip_chars() != ""
    )


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


def _read_json_lines(src: Source, max_line_bytes: int) -> tuple[pl.DataFrame, FileStats]:
    data = _decode_bytes(src.read_bytes(), src.name)
    text = data.decode("utf-8", errors="jtrack-mark")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return _read_json_document(src, stripped, "array", max_line_bytes)
    first = stripped.split("\n", 1)[0].strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            obj = None
        if obj is None or (isinstance(obj, dict) and "entities" in obj and "id" not in obj):
            try:
                json.loads(stripped)
                return _read_json_document(src, stripped, "page", max_line_bytes)
            except json.JSONDecodeError:
                if obj is None and "\n" in stripped.strip() and first == "{":
                    raise DataError(
                        f"{src.name}: the JSON document is malformed or truncated",
                        hint="check the end of the file; nothing from it was read",
                    ) from None
    lines = _lines_frame(text)
    return _decode_lines(src.name, lines, max_line_bytes, "line")


def _read_json_document(
    src: Source, text: str, kind: str, max_line_bytes: int
) -> tuple[pl.DataFrame, FileStats]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{src.name}: line {exc.lineno}: the JSON document is malformed ({exc.msg})",
            hint="check the file is complete; nothing from it was read",
        ) from exc
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
    encoded = [json.dumps(e, ensure_ascii=False) for e in entities]
    lines = pl.DataFrame({"line": pl.Series(encoded, dtype=pl.String)}).with_row_index(
        SRC_LINE, offset=1
    )
    return _decode_lines(src.name, lines, max_line_bytes, "entity")


def _detect_shape(lines: pl.Series) -> bool:
    """True for the Genesys envelope, False for the flat shape (by the first object's keys)."""
    for line in lines.head(20).to_list():
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(obj, dict):
            return not ("customer_id" in obj or "event_id" in obj or "created_date" in obj)
    return True


def _decode_lines(
    name: str, lines: pl.DataFrame, max_line_bytes: int, unit: str
) -> tuple[pl.DataFrame, FileStats]:
    genesys = _detect_shape(lines["line"])
    stats = FileStats(
        name,
        ("genesys" if genesys else "flat") + ("-jsonl" if unit == "line" else "-json-document"),
        rows_read=lines.height,
    )
    line = pl.col("line")
    pre = lines.with_columns(
        pl.when(line.str.len_bytes() > max_line_bytes)
        .then(pl.lit("line_too_long"))
        .when(line.str.contains(_INVALID_CHAR, literal=True))
        .then(pl.lit("invalid_utf8"))
        .when(line.str.json_path_match("$").is_null() & (line.str.strip_chars() != "null"))
        .then(pl.lit("malformed_json"))
        .when(~line.str.strip_chars_start().str.starts_with("{"))
        .then(pl.lit("not_an_object"))
        .alias("_pre")
    )
    ok = pre.filter(pl.col("_pre").is_null())
    decoded, errs = _decode_robust(ok["line"], GENESYS_STRUCT if genesys else FLAT_STRUCT)
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
    sel = _canonical_select(schema, genesys)
    extra = ["_created_raw_missing", "_decode_err"] + (
        ["_has_web", "_has_seg", "_has_out", "_has_act"] if genesys else []
    )
    canon = body.select(*sel, *extra, kind=pl.lit(None, pl.String))
    if not genesys and "kind" in schema:
        canon = canon.with_columns(kind=body["kind"])
    canon = _finish(canon, genesys, flat_kind=not genesys)
    canon = canon.with_columns(
        pl.when(pl.col("_decode_err").is_not_null())
        .then(pl.lit("wrong_type"))
        .otherwise(pl.col(REASON))
        .alias(REASON),
        pl.when(pl.col("_decode_err").is_not_null())
        .then(pl.lit(""))
        .otherwise(pl.col(REASON_FIELD))
        .alias(REASON_FIELD),
        pl.col("_decode_err").alias("_detail"),
    ).drop("_decode_err")
    canon = canon.with_columns(ok[SRC_LINE].cast(pl.Int64).alias(SRC_LINE), ok["line"].alias(RAW))
    bad_pre = pre.filter(pl.col("_pre").is_not_null())
    pre_rejects = bad_pre.select(
        pl.col(SRC_LINE).cast(pl.Int64),
        pl.col("_pre").alias(REASON),
        pl.lit("").alias(REASON_FIELD),
        pl.lit(None, pl.String).alias("_detail"),
        pl.col("line").str.slice(0, 10_000).alias(RAW),
    )
    out = pl.concat([canon, pre_rejects], how="diagonal_relaxed").sort(SRC_LINE)
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
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(
            f"{src.name}: not a readable Parquet file ({str(exc).splitlines()[0][:160]})",
            hint="the file may be truncated or its footer corrupt; re-export it",
        ) from exc
    schema = dict(df.schema)
    genesys = "customerId" in schema or "createdDate" in schema
    stats = FileStats(src.name, "genesys-parquet" if genesys else "flat-parquet", df.height)
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
            f"{src.name}: required column {missing[0]!r} is missing",
            hint=(f"did you mean {near[0]!r}? " if near else "")
            + "see `jtrack schema` for the flat shape",
        )
    for f in EVENT_FIELDS:
        if f.dtype == KV_LIST and f.name in schema and not genesys:
            dt = schema[f.name]
            if not (isinstance(dt, pl.List) and isinstance(dt.inner, pl.Struct)):
                raise DataError(
                    f"{src.name}: column {f.name!r} has type {dt}, expected {KV_LIST}",
                    hint="attributes and traits are lists of {name, data_type, value}",
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
    sel = _canonical_select(schema, genesys)
    extra = [c for c in df.columns if c.startswith("_has_")]
    canon = df.select(
        *sel,
        *extra,
        pl.col(created_raw).is_null().alias("_created_raw_missing"),
        (
            pl.col("kind").cast(pl.String)
            if ("kind" in schema and not genesys)
            else pl.lit(None, pl.String)
        ).alias("kind"),
    )
    canon = _finish(canon, genesys, flat_kind=not genesys)
    canon = canon.with_row_index(SRC_LINE, offset=1).with_columns(
        pl.col(SRC_LINE).cast(pl.Int64),
        pl.lit(src.name).alias(SRC_FILE),
        pl.lit(None, pl.String).alias("_detail"),
    )
    # The raw row of a reject, as JSON, so the rejects file can be fixed and re-read.
    bad = canon[REASON].is_not_null()
    if bad.any():
        idx = canon.filter(bad)[SRC_LINE] - 1
        raw_rows = (
            df.select(list(schema))[idx.to_list()]
            .select(pl.struct(pl.all()).struct.json_encode().alias(RAW))
            .get_column(RAW)
        )
        raw = pl.Series(RAW, [None] * canon.height, dtype=pl.String).scatter(idx, raw_rows)
        canon = canon.with_columns(raw)
    else:
        canon = canon.with_columns(pl.lit(None, pl.String).alias(RAW))
    stats.rows_rejected = int(bad.sum())
    return canon, stats


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _is_parquet(src: Source) -> bool:
    if src.data is not None:
        return src.data[:4] == b"PAR1"
    assert src.path is not None
    with open(src.path, "rb") as fh:
        head = fh.read(4)
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
    for src in srcs:
        assert isinstance(src, Source)
        frame, st = read_source(src, max_line_bytes)
        frames.append(frame)
        stats.append(st)
    internal = {
        SRC_FILE: pl.String(),
        SRC_LINE: pl.Int64(),
        REASON: pl.String(),
        REASON_FIELD: pl.String(),
        "_detail": pl.String(),
        RAW: pl.String(),
    }
    full_schema = {**EVENT_SCHEMA, **internal}
    if frames:
        allrows = pl.concat(
            [
                f.select(
                    [
                        pl.col(c).cast(t) if c in f.columns else pl.lit(None, t).alias(c)
                        for c, t in full_schema.items()
                    ]
                )
                for f in frames
            ],
            how="vertical",
        )
    else:
        allrows = pl.DataFrame(schema=full_schema)
    bad = allrows.filter(pl.col(REASON).is_not_null())
    if on_error == "fail" and bad.height:
        first = bad.row(0, named=True)
        reason = first[REASON]
        fld = first[REASON_FIELD] or _field_for_reason(reason)
        detail = REJECT_REASONS.get(reason, reason)
        if first["_detail"]:
            detail = f"{first['_detail']}; {detail}"
        raise RejectedRowError(first[SRC_FILE], int(first[SRC_LINE]), fld, reason, detail)
    rejects = bad.select(
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
    events = allrows.filter(pl.col(REASON).is_null()).select(*EVENT_SCHEMA, SRC_FILE, SRC_LINE)
    return ReadResult(events=events, rejects=rejects, files=stats)


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
    "unknown_event_type": "event_type",
    "missing_event_name": "event_name",
}


def _field_for_reason(reason: str) -> str:
    return _REASON_FIELD.get(reason, "") or "(line)"


def genesys_name(column: str) -> str:
    """The Genesys dotted path of a canonical column (for messages)."""
    for f in EVENT_FIELDS:
        if f.name == column:
            return f.genesys or column
    return column


__all__ = [
    "REJECT_REASONS",
    "FileStats",
    "ReadResult",
    "Source",
    "expand_sources",
    "read_events",
    "read_source",
]
