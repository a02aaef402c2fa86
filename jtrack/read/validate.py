"""Canonical rows and reject reasons, shared by every path that reads events.

Decoded values (from JSON or Parquet, Genesys or flat shape) become canonical columns
(`jtrack.schema`); every row either is an event or gets a reason (REJECT_REASONS) with
the field and a detail. The far-future rule and the rejects file's columns live here too.
Imports Polars only (no typer, no rich).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from jtrack.errors import DataError, RejectedRowError
from jtrack.read.fields import alias_readable
from jtrack.read.urls import UTM_FIELDS, derive_url_fields
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
    is_blank,
)

OnError = Literal["fail", "skip"]

#: Internal bookkeeping columns carried next to the canonical ones until the store is written.
SRC_FILE = "_file"
SRC_LINE = "_line"
REASON = "_reason"
REASON_FIELD = "_field"
RAW = "_raw"
#: Set on a row whose time had no zone and was read as UTC (see _zone_less); readers count
#: the kept ones in FileStats.no_zone.
NO_ZONE = "_no_zone"

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
#: The clock of that rule: no event dated before it is far-future (a site that resumes
#: tracking after a year's pause is billed for its new events, not told they are "after a
#: gap"). This environment variable pins it (ISO-8601): for reproducible runs and tests.
CLOCK_ENV = "JTRACK_NOW"


def run_clock() -> datetime:
    """Now (UTC), or the time $JTRACK_NOW pins (ISO-8601; no offset: UTC; set but empty
    or blank: a UsageError, as every JTRACK_* variable's)."""
    from datetime import UTC

    from jtrack.checks import env_value

    text = (env_value(CLOCK_ENV, "an ISO-8601 time", "the current time") or "").strip()
    if not text or text.lower() == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        from jtrack.errors import UsageError

        raise UsageError(
            f"${CLOCK_ENV} {text!r} is no time",
            hint="unset it, or give ISO-8601 such as 2026-10-03T09:00:00Z",
        ) from None
    return when


#: The details of a malformed_json reject that say what the line is instead (an error
#: names them alone, not followed by the reason's own words, which they contradict).
CONCATENATED_DETAIL = (
    "the line holds several JSON values one after another ({...}{...}, as Firehose writes "
    "records), not one"
)
MARKUP_DETAIL = "the line is markup, not JSON (an HTML or XML page, saved from a browser?)"

#: Every reason a row can be rejected for, with the hint shown to the user.
REJECT_REASONS: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8; re-export the file as UTF-8",
    "line_too_long": "the line is longer than --max-line-bytes; raise the limit if it is real",
    "nul_bytes": "the line holds NUL bytes, as a file that was not completely written does",
    "malformed_json": "the line is not one complete JSON value (truncated, invalid, or nested "
    "more than 128 levels deep)",
    "number_out_of_range": "a number is beyond what any field holds (an integer of 39 digits or "
    "more, or beyond ±1.8e308), or an integer beyond its field's range; quote it if it is an "
    "id",
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


@dataclass
class FileStats:
    """Accounting for one input file."""

    file: str
    shape: str
    rows_read: int = 0
    rows_rejected: int = 0
    #: JSON lines read a block at a time: newlines from the file's start to the end of what
    #: was read (None: not counted). For the store's records, not part of the accounting.
    lines: int | None = None
    #: Kept rows whose time had no zone and was read as UTC (see _zone_less): for a warning.
    no_zone: int = 0
    #: Fields (columns) of the file jtrack does not read (jtrack.read.fields), in the order
    #: found: each with the rows holding it (None: not counted)...
    unread: dict[str, int | None] = field(default_factory=dict)
    #: ... among the events `looked` at: a sample of a JSON file's lines; None: every row
    #: (a Parquet file's columns).
    looked: int | None = None
    #: Columns read as a field of another case (`EVENT_ID` as event_id): {column: field}.
    renamed: dict[str, str] = field(default_factory=dict)
    #: Its visitor ids came from a Parquet float (or decimal) column (options.NUMBER_RULE).
    float_ids: bool = False

    def add(self, other: FileStats) -> None:
        """Count a later piece of the same file (its rows read, rejected, without zone, its
        unread fields)."""
        self.rows_read += other.rows_read
        self.rows_rejected += other.rows_rejected
        self.no_zone += other.no_zone
        for name, n in other.unread.items():
            had = self.unread.get(name, 0)
            self.unread[name] = None if n is None or had is None else had + n
        if other.looked is not None:
            self.looked = (self.looked or 0) + other.looked
        self.renamed.update(other.renamed)
        self.float_ids = self.float_ids or other.float_ids

    def notes(self) -> list[str]:
        """The notes of the file: columns matched ignoring case, fields it holds that
        jtrack does not read (with the field each may be)."""
        from jtrack.read.fields import renamed_note, unread_note

        out = [renamed_note(self.file, self.renamed)] if self.renamed else []
        if self.unread:
            genesys = self.shape.startswith("genesys")
            out.append(unread_note(self.file, self.unread, self.looked, genesys))
        return out

    def accounting(self) -> dict[str, object]:
        """What a run reports of the file: its name, shape, rows read and rejected; the
        fields it holds that jtrack does not read (`unread_fields`: each with the rows
        holding it, `unread_sample`: the events looked at, null for every row), and the
        columns read ignoring case (`columns_renamed`), where there are some."""
        out: dict[str, object] = {
            "file": self.file,
            "shape": self.shape,
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
        }
        if self.unread:
            out["unread_fields"] = dict(self.unread)
            out["unread_sample"] = self.looked
        if self.renamed:
            out["columns_renamed"] = dict(self.renamed)
        return out


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
    #: the files' notes (FileStats.notes): fields they hold that jtrack does not read, ...
    notes: list[str] = field(default_factory=list)

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
#: Other trackers' names of flat fields read where the field's own column has no value
#: (UTM parameters as columns): {field: name}.
_FLAT_ALIASES = {field: name for name, field in UTM_FIELDS.items()}
FLAT_STRUCT = pl.Struct(
    {
        **{f.name: (KV_LIST if f.dtype == KV_LIST else pl.String()) for f in EVENT_FIELDS},
        **dict.fromkeys(UTM_FIELDS, pl.String()),
    }
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
        # whole milliseconds only, as a JSON number is read (1790848800000.9 is no time)
        ms = col.cast(pl.Float64)
        us = pl.when(ms == ms.floor()).then(ms * 1000)
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
    # (BigQuery writes `2026-12-01 08:09:02.769 UTC`: its ` UTC` is a Z)
    text = pl.when(text.str.ends_with(" UTC")).then(text.str.head(-4) + "Z").otherwise(text)
    text = text.str.replace(" ", "T", literal=True)
    iso, naive = _iso_or_naive(text)
    return pl.coalesce(epoch, iso, naive)


def _other_iso(text: pl.Expr) -> pl.Expr:
    """The ISO-8601 spellings _parse_time does not read (a lowercase `t`, a comma before
    the fraction, no seconds: `2026-10-01t10:00:00,5z`, `2026-10-01T10:00Z`) made the usual
    one and read as a UTC time (null where it is no time). _finish asks it only of the
    times _parse_time left null, and only when there are some: an export of usual times
    pays one null check, not a second parse."""
    text = text.cast(pl.String).str.strip_chars().str.to_uppercase()
    text = text.str.replace(" ", "T", literal=True).str.replace(",", ".", literal=True)
    # (hours and minutes, then a zone or the end: `10:00.5`, a fraction of a minute, is not)
    text = text.str.replace(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d)(Z|[+-]\d|$)", "${1}:00${2}")
    iso, naive = _iso_or_naive(text)
    return pl.coalesce(iso, naive)


def _iso_or_naive(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """ISO-8601 text (a `T`, seconds, a `.` fraction) as a UTC time: with its zone, and
    without one (read as UTC); null where it is not such a time."""
    iso = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us")
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    return iso, naive.dt.replace_time_zone("UTC")


#: Files named one a warning; more are said in one (a first build of a year of exports).
ZONE_WARNINGS = 3


def zone_warnings(files: Iterable[FileStats], stored: bool = True) -> list[str]:
    """The warnings of the files some of whose times had no zone (FileStats.no_zone): one a
    file, or one for them all when there are more than ZONE_WARNINGS. `stored`: the events
    went into a store (the warnings say how to replace them). Warnings, not notes: an
    export written in local time is hours off, and a quiet (cron) run must say so."""
    some = [st for st in files if st.no_zone]
    if not some:
        return []
    # (a store keeps an event's earliest copy: corrected exports replace the history;
    # --rebuild would keep the wrong time of every event of a zone behind UTC)
    again = (
        " and take the corrected exports in with `jtrack sessionize --replace`" if stored else ""
    )
    tail = (
        f"read as UTC; if the export wrote local times, have it write their offset (+02:00){again}"
    )
    if len(some) > ZONE_WARNINGS:
        n = sum(st.no_zone for st in some)
        named = ", ".join(st.file for st in some[:ZONE_WARNINGS])
        return [
            f"{n:,} event times in {len(some):,} files ({named} and "
            f"{len(some) - ZONE_WARNINGS:,} more) have no time zone (such as "
            f"2026-10-01T10:00:00) and were {tail}"
        ]
    return [
        f"{st.file}: {st.no_zone:,} event {'time has' if st.no_zone == 1 else 'times have'} no "
        f"time zone (such as 2026-10-01T10:00:00) and {'was' if st.no_zone == 1 else 'were'} "
        + tail
        for st in some
    ]


def kept_without_zone(rows: pl.DataFrame) -> int:
    """How many kept rows of a reader's frame had a time without zone (FileStats.no_zone)."""
    if NO_ZONE not in rows.columns:
        return 0
    return int(
        rows.select((pl.col(NO_ZONE) & pl.col(REASON).is_null()).fill_null(False).sum()).item()
    )


def _zone_less(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Whether a time, if _parse_time reads it, is read as UTC because its text has no zone
    at all (`2026-10-01T10:00:00`): an export written in local time would be hours off, so
    a run says how many there were (NO_ZONE, set in _finish for the times read). A Parquet
    timestamp column without a time zone is not counted: UTC is what it holds by the
    convention Spark (INT96, its default) and pandas write it by, and a warning on every
    such file of a nightly run would say nothing."""
    if isinstance(dtype, pl.Datetime):
        return pl.lit(False)
    if not _is_text(dtype):
        return pl.lit(False)
    # (neither epoch milliseconds nor ending with a zone)
    zoned = r"^\s*-?\d{1,15}\s*$|(?i:z|[+-]\d{2}(:?\d{2})?| UTC)\s*$"
    return ~col.cast(pl.String).str.contains(zoned).fill_null(True)


def _to_bool(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return col
    low = col.cast(pl.String).str.to_lowercase().str.strip_chars()
    return pl.when(low == "true").then(True).when(low == "false").then(False).otherwise(None)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


#: The columns (or top-level keys) each shape requires.
FLAT_REQUIRED = ("event_id", "customer_id", "created_date")
GENESYS_REQUIRED = ("id", "customerId", "createdDate")
#: Top-level names only the Genesys envelope has (its typed payloads and event type).
GENESYS_ONLY = ("webEvent", "segmentAssignmentEvent", "outcomeAchievedEvent", "webActionEvent")


def is_genesys_shape(names: Iterable[str], default: bool = True) -> bool:
    """Whether a file whose columns (Parquet) or first object's keys (JSON) are `names` is in
    the Genesys shape, decided by the required names: the shape with more of its required
    names present wins. On a tie: with required names on both sides, Genesys when a Genesys
    payload (`webEvent`, ...) is there, else flat; with none, flat when any flat column name
    is there, Genesys when any Genesys name is, else `default`. So an extra column named like
    the other shape's field never switches the shape of a file that has its own."""
    present = set(names)
    flat = sum(c in present for c in FLAT_REQUIRED)
    genesys = sum(c in present for c in GENESYS_REQUIRED)
    if flat != genesys:
        return genesys > flat
    if flat:
        return any(c in present for c in GENESYS_ONLY)
    if present & _FLAT_NAMES:
        return False
    if present & _GENESYS_NAMES:
        return True
    return default


_FLAT_NAMES = frozenset(f.name for f in EVENT_FIELDS) - {"attributes", "traits"}
_GENESYS_NAMES = frozenset(f.genesys.split(".")[0] for f in EVENT_FIELDS if f.genesys)


def _scalar(dtype: Any) -> bool:
    """A type whose values read as text (numbers, booleans, text; not lists, binary)."""
    return dtype == pl.Null or _is_text(dtype) or dtype.is_numeric() or dtype == pl.Boolean


def number_text(col: pl.Expr, dtype: Any) -> pl.Expr:
    """A column of type `dtype` as text, a number as the JSON path reads the same number
    into a text field (its shortest text, never an exponent: 100003.0 is `100003`, 27.50
    `27.5`, 1e21 `1000000000000000000000`, 1e-7 `0.0000001`, -0.0 `-0`), so a visitor id
    or an attribute read from Parquet is the one read from JSON. NaN and infinities, which
    JSON cannot hold, are null (NaN is pandas' missing value; an infinity in a text field
    is rejected as a wrong type: _canonical_select). Other types: cast."""
    if isinstance(dtype, pl.Decimal):  # (exact digits: trailing zeros of the fraction go)
        return col.cast(pl.String).str.replace(r"\.0+$|(\.\d*[1-9])0+$", "${1}")
    if not dtype.is_float():
        return col.cast(pl.String)
    text = col.cast(pl.String)  # shortest digits: `100003.0`, `1e21`, `-1.5e-10`, `-0.0`
    m = text.str.extract_groups(r"^(-?)(\d+)\.?(\d*)e([+-]?\d+)$")
    sign, whole, frac = m.struct.field("1"), m.struct.field("2"), m.struct.field("3")
    digits = whole + frac
    point = whole.str.len_chars().cast(pl.Int64) + m.struct.field("4").cast(pl.Int64)
    n = digits.str.len_chars().cast(pl.Int64)
    expanded = sign + (
        pl.when(point >= n)
        .then(digits.str.reverse().str.zfill(point.clip(0)).str.reverse())
        .when(point <= 0)
        .then("0." + digits.str.zfill((n - point).clip(0)))
        .otherwise(digits.str.slice(0, point.clip(0)) + "." + digits.str.slice(point.clip(0)))
    )
    return (
        pl.when(col.is_nan() | col.is_infinite())
        .then(pl.lit(None, pl.String))
        .when(m.struct.field("2").is_not_null())
        .then(expanded)
        .otherwise(text.str.replace(r"\.0$", ""))
    )


def _kv_object_fits(dtype: Any) -> bool:
    """Whether a field of an attributes (traits) struct holds one entry `{dataType, value}`
    of scalars (or is null in every row)."""
    if dtype == pl.Null:
        return True
    if not isinstance(dtype, pl.Struct):
        return False
    fields = {f.name: f.dtype for f in dtype.fields}
    return "value" in fields and all(_scalar(t) for t in fields.values())


def _kv_from_struct(col: pl.Expr, src: pl.Struct) -> pl.Expr:
    """An attributes (traits) struct keyed by name (see _type_fits) as KV_LIST: one entry a
    field that is not null, in the struct's field order; a null struct is a null list, as
    a missing object is in JSON, and `{}` an empty one."""
    entries = []
    for f in src.fields:
        if not isinstance(f.dtype, pl.Struct) or not _kv_object_fits(f.dtype):
            continue  # (null in every row; a misfit is rejected: _misfit)
        names = {x.name: x.dtype for x in f.dtype.fields}
        item = col.struct.field(f.name)
        dt = item.struct.field("dataType") if "dataType" in names else pl.lit(None, pl.String)
        entries.append(
            pl.when(item.is_not_null()).then(
                pl.struct(
                    name=pl.lit(f.name, pl.String),
                    data_type=dt.cast(pl.String),
                    value=number_text(item.struct.field("value"), names["value"]),
                )
            )
        )
    if not entries:
        return pl.when(col.is_not_null()).then(pl.lit(pl.Series([[]], dtype=KV_LIST)))
    return pl.when(col.is_not_null()).then(pl.concat_list(entries).list.drop_nulls())


def _type_fits(name: str, src: pl.DataType, target: pl.DataType) -> bool:
    """Whether a column of type `src` can hold values of `target` at all.

    When it cannot (a list where text is expected, a boolean timestamp, ...), every value
    in it is a wrong type; when it can, values are converted one by one and those that do
    not convert are wrong types.
    """
    if src == pl.Null:
        return True
    if target == KV_LIST:
        # attribute and trait values are scalars: a list or an object there is a wrong type
        if isinstance(src, pl.List) and src.inner == pl.Null:
            return True  # (a list empty in every row: pandas and Polars write list<null>)
        if isinstance(src, pl.Struct):
            # the Genesys object `{name: {dataType, value}}` as Parquet writers store it: a
            # struct whose fields are the names (pyarrow, Polars, DuckDB from the JSON)
            return all(_kv_object_fits(f.dtype) for f in src.fields)
        if isinstance(src, pl.Map):
            value = src.value
            if not isinstance(value, pl.Struct):
                # a map of name to value (`{"price": "179.5"}`), as BigQuery and Spark
                # write a map of strings: each value an entry without a dataType
                return _scalar(value) and value != pl.Null
            fields = {f.name: f.dtype for f in value.fields}
            return "value" in fields and all(_scalar(t) for t in fields.values())
        if isinstance(src, pl.List) and isinstance(src.inner, pl.Struct):
            fields = {f.name: f.dtype for f in src.inner.fields}
            return {"name", "value"} <= set(fields) and all(_scalar(t) for t in fields.values())
        return False
    if src.is_nested() or src in (pl.Binary, pl.Object):
        return False
    if name == "created_date":
        # (a 32-bit float holds an epoch-ms time to about two minutes, in steps of 131,072
        # ms: no time, never one minutes off)
        return (
            isinstance(src, pl.Datetime)
            or (src.is_numeric() and src != pl.Float32)
            or (_is_text(src))
        )
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
        if isinstance(src, pl.Struct):
            return _kv_from_struct(col, src)
        if isinstance(src, pl.Map) and not isinstance(src.value, pl.Struct):
            return col.map.entries().list.eval(
                pl.struct(
                    name=pl.element().struct.field("key").cast(pl.String),
                    data_type=pl.lit(None, pl.String),
                    value=pl.element().struct.field("value").cast(pl.String),
                )
            )
        if isinstance(src, pl.Map):
            dt_field = (
                pl.element().struct.field("value").struct.field("dataType")
                if isinstance(src.value, pl.Struct)
                and "dataType" in {f.name for f in src.value.fields}
                else pl.lit(None, pl.String)
            )
            value = pl.element().struct.field("value").struct.field("value")
            value_dtype = (
                {f.name: f.dtype for f in src.value.fields}["value"]
                if isinstance(src.value, pl.Struct)
                else pl.String()
            )
            return col.map.entries().list.eval(
                pl.struct(
                    name=pl.element().struct.field("key").cast(pl.String),
                    data_type=dt_field.cast(pl.String),
                    value=number_text(value, value_dtype),
                )
            )
        if isinstance(src, pl.List) and isinstance(src.inner, pl.Struct):
            inner = {f.name: f.dtype for f in src.inner.fields}
            value_dtype = inner.get("value", pl.String())
            if value_dtype.is_float() or isinstance(value_dtype, pl.Decimal):
                col = col.list.eval(
                    pl.element().struct.with_fields(
                        number_text(pl.field("value"), value_dtype).alias("value")
                    )
                )
        return col.cast(KV_LIST, strict=False)
    if target == pl.String:
        return number_text(col, src)
    if _is_text(src):
        return col.cast(pl.String).str.strip_chars().cast(target, strict=False)
    if src.is_float() and target.is_integer():
        # a whole number only (100.0 is 100; 100.5 was cut to 100), as JSON reads it
        return pl.when(col == col.floor()).then(col).cast(target, strict=False)
    return col.cast(target, strict=False)


def _fits_integer(src: pl.DataType, target: pl.DataType) -> bool:
    """Whether every value of a column of type `src` fits integer type `target` (Int8 to
    UInt32 in Int64): no value of it can be beyond the field's range."""
    narrower = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)
    return src == target or (target == pl.Int64 and src in narrower)


def _integer_range(dtype: pl.DataType) -> str:
    """An integer type's range, as a reject's detail says it."""
    bits = {"Int64": 64, "Int32": 32, "Int16": 16, "Int8": 8}.get(str(dtype), 64)
    return f"i{bits}: {-(2 ** (bits - 1))} to {2 ** (bits - 1) - 1}"


def _whole_number(col: pl.Expr, src: pl.DataType) -> pl.Expr:
    """Rows where `col` (of type `src`) holds a whole number, however large (a JSON value's
    text, a Parquet number): one that did not convert to an integer field is beyond its
    range, not a wrong type."""
    if _is_text(src):
        return col.cast(pl.String).str.strip_chars().str.contains(r"^[+-]?\d+$")
    if src.is_float():
        return col.is_finite() & (col == col.floor())
    return pl.lit(src.is_integer() or isinstance(src, pl.Decimal))


def _canonical_select(
    schema: dict[str, pl.DataType], genesys: bool
) -> tuple[list[pl.Expr], dict[str, str]]:
    """Expressions turning a decoded frame into canonical columns, plus flags.

    `_present_<col>`: a value was present (_finish sets `_bad_<col>` where it could not be
    converted); `_type_<col>`: a value was present in a column whose type cannot hold the
    field at all. Also returns, for each such column, the detail shown with its rejects.
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
            blocked = _non_object_on_path(schema, f.genesys) if top in schema else None
            if blocked is not None:
                # an object on the way (webEvent.page) holds something else: every field
                # under it is a wrong type, as in JSON (never a silent null)
                where, expr, dtype = blocked
                exprs.append(pl.lit(None, f.dtype).alias(f.name))
                exprs.append(expr.is_not_null().alias(f"_type_{f.name}"))
                details[f.name] = f"{where} has type {dtype} in the file, expected an object"
                continue
            if top not in schema:
                src_expr, src_dtype = pl.lit(None, pl.String), pl.String()
            elif rest:
                src_expr = _path_expr(schema[top], pl.col(top), rest)
                src_dtype = _leaf_of(schema[top], rest)
            else:
                src_expr, src_dtype = pl.col(top), schema[top]
        else:
            alias = _FLAT_ALIASES.get(f.name)
            if (
                alias is not None
                and alias in schema
                and alias_readable(schema[alias])
                and (f.name not in schema or _is_text(schema[f.name]))
            ):
                # (`utm_source` of another tracker's export: read where the field's own
                # column is absent or null)
                own = (
                    pl.col(f.name).cast(pl.String) if f.name in schema else pl.lit(None, pl.String)
                )
                src_expr = pl.coalesce(own, pl.col(alias).cast(pl.String))
                src_dtype = pl.String()
            elif f.name not in schema:
                src_expr, src_dtype = pl.lit(None, pl.String), pl.String()
            else:
                src_expr, src_dtype = pl.col(f.name), schema[f.name]
        if not _type_fits(f.name, src_dtype, f.dtype):
            # (attributes or traits as a struct keyed by name, one name of it misfitting:
            # the rows that set that name are wrong types, the others keep their entries)
            partial = f.dtype == KV_LIST and isinstance(src_dtype, pl.Struct)
            kept = (
                _convert(f.name, src_expr, src_dtype, f.dtype).cast(f.dtype)
                if partial
                else pl.lit(None, f.dtype)
            )
            exprs.append(kept.alias(f.name))
            exprs.append(_misfit(src_expr, src_dtype, f.dtype).alias(f"_type_{f.name}"))
            where = f.genesys if genesys else f.name
            details[f.name] = f"{where} has type {src_dtype} in the file, expected {f.dtype}"
            if src_dtype == pl.Binary:  # (raw bytes, a UUID's 16 say: no text to read)
                details[f.name] += ": bytes are no text"
            continue
        converted = _convert(f.name, src_expr, src_dtype, f.dtype).cast(f.dtype).alias(f.name)
        exprs.append(converted)
        if f.dtype.is_integer() and not _fits_integer(src_dtype, f.dtype):
            # (the value as read, to tell an integer beyond the field's range from a wrong
            # type: _finish, only where a value did not convert)
            exprs.append(src_expr.alias(f"_int_src_{f.name}"))
        if f.dtype == pl.String and src_dtype.is_float():
            # a text field from a float column: an infinity, no JSON number, is a wrong
            # type; NaN is missing (pandas' null), as null is
            exprs.append(src_expr.is_infinite().alias(f"_present_{f.name}"))
        elif f.dtype not in (pl.String, KV_LIST) or f.name == "created_date":
            # a value that was present but could not be converted is a wrong type (`_bad_`,
            # set in _finish from the converted column: an expression used twice in one
            # select is computed twice, and a time's parse is the select's dearest part)
            exprs.append(src_expr.is_not_null().alias(f"_present_{f.name}"))
        if f.name == "created_date":
            exprs.append(_zone_less(src_expr, src_dtype).alias("_zone_less"))
            if src_dtype.is_numeric() or _is_text(src_dtype):  # (for a bad time's detail)
                exprs.append(src_expr.alias("_created_src"))
    return exprs, details


def _non_object_on_path(
    schema: dict[str, pl.DataType], path: str
) -> tuple[str, pl.Expr, pl.DataType] | None:
    """The first object on a Genesys path (`webEvent`, `webEvent.page`) whose column is not an
    object (a struct): (its dotted path, its expression, its type); None when all are."""
    parts = path.split(".")
    expr = pl.col(parts[0])
    cur: pl.DataType = schema[parts[0]]
    for i in range(len(parts) - 1):
        if cur == pl.Null:
            return None
        if not isinstance(cur, pl.Struct):
            return ".".join(parts[: i + 1]), expr, cur
        names: dict[str, Any] = {f.name: f.dtype for f in cur.fields}
        if parts[i + 1] not in names:
            return None
        expr, cur = expr.struct.field(parts[i + 1]), names[parts[i + 1]]
    return None


def _misfit(col: pl.Expr, src: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Rows of a column whose type cannot hold the field that hold a value at all: any
    non-null value, or for attributes and traits an entry whose misfitting part (a list as a
    value, say) is not null (an empty list of attributes holds nothing wrong)."""
    if target == KV_LIST:
        if isinstance(src, pl.Struct):  # (a row is wrong where a misfitting name is set)
            misfits = [f for f in src.fields if not _kv_object_fits(f.dtype)]
            if misfits:
                return pl.any_horizontal(
                    [_misfit_set(col.struct.field(f.name), f.dtype) for f in misfits]
                )
        entries = None
        if isinstance(src, pl.List) and isinstance(src.inner, pl.Struct):
            entries, inner = col, src.inner
        elif isinstance(src, pl.Map) and isinstance(src.value, pl.Struct):
            entries, inner = col.map.values(), src.value
        if entries is not None:
            bad = [x.name for x in inner.fields if not _scalar(x.dtype)]
            if bad and {"value"} <= {x.name for x in inner.fields}:
                held = pl.any_horizontal([pl.element().struct.field(b).is_not_null() for b in bad])
                return entries.list.eval(held).list.any().fill_null(False)
    return col.is_not_null()


def _misfit_set(item: pl.Expr, dtype: Any) -> pl.Expr:
    """Rows where one name of an attributes (traits) struct holds what no entry can: its
    misfitting parts not null (`{dataType, value: null}` holds nothing wrong, as in JSON),
    or the whole name when it is no `{dataType, value}` object."""
    if isinstance(dtype, pl.Struct) and "value" in {x.name for x in dtype.fields}:
        parts = [x.name for x in dtype.fields if not _scalar(x.dtype)]
        if parts:
            return pl.any_horizontal([item.struct.field(p).is_not_null() for p in parts])
    return item.is_not_null()


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
    search = ~is_blank(pl.col("search_query"))
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


#: The detail of an integer field's value beyond its range (number_out_of_range).
_RANGE_DETAILS = {
    f.name: f"an integer beyond the field's range ({_integer_range(f.dtype)})"
    for f in EVENT_FIELDS
    if f.dtype.is_integer()
}


def _beyond_range(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.Expr]:
    """The rows whose integer field held a whole number that did not convert (beyond the
    field's range: number_out_of_range, not wrong_type), as an expression naming the
    field (null elsewhere); the sources kept for it (`_int_src_`) dropped. Looked at only
    for a field some value of which did not convert (`_bad_`): a clean chunk pays nothing."""
    sources = [c for c in frame.columns if c.startswith("_int_src_")]
    flags: dict[str, pl.Expr] = {}
    for c in sources:
        name = c.removeprefix("_int_src_")
        bad = f"_bad_{name}"
        if bad in frame.columns and frame.get_column(bad).any():
            whole = _whole_number(pl.col(c), frame.schema[c])
            flags[f"_range_{name}"] = pl.col(bad) & whole.fill_null(False)
    frame = frame.with_columns(**flags).drop(sources)
    ranged = (
        pl.coalesce(*[pl.when(pl.col(n)).then(pl.lit(n.removeprefix("_range_"))) for n in flags])
        if flags
        else pl.lit(None, pl.String)
    )
    return frame, ranged


def _finish(
    frame: pl.DataFrame, genesys: bool, flat_kind: bool, details: dict[str, str] | None = None
) -> pl.DataFrame:
    """Normalise event types, derive kinds, derive the referrer's parts and the campaign
    from their URLs where the export left them out (jtrack.read.urls), and compute the
    reject reason of every row.

    Adds `_reason`, `_field` and `_detail` (null for kept rows); `details` explains the
    columns whose type cannot hold their field (see _canonical_select).
    """
    if "_created_src" in frame.columns and _is_text(frame.schema["_created_src"]):
        missed = pl.col("created_date").is_null() & pl.col("_created_src").is_not_null()
        if frame.select(missed.any()).item():  # (times _parse_time did not read: a few)
            other = _other_iso(pl.when(missed).then(pl.col("_created_src")))
            frame = frame.with_columns(
                pl.coalesce("created_date", other.cast(frame.schema["created_date"]))
            )
    present = [c for c in frame.columns if c.startswith("_present_")]
    frame = frame.with_columns(
        *[
            (pl.col(c) & pl.col(c.removeprefix("_present_")).is_null()).alias(
                "_bad_" + c.removeprefix("_present_")
            )
            for c in present
        ],
        *(
            [(pl.col("_zone_less") & pl.col("created_date").is_not_null()).alias(NO_ZONE)]
            if "_zone_less" in frame.columns
            else []
        ),
    ).drop(*present, "_zone_less", strict=False)
    # (stripped once, in a column: an eager call computes an expression as often as it is
    # used)
    frame = frame.with_columns(
        _et=pl.col("event_type").str.strip_chars().str.strip_prefix(EVENT_TYPE_PREFIX),
        _et_raw=pl.col("event_type"),  # (the value found, for an unknown one's detail)
    )
    et = pl.col("_et")
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
    frame = frame.with_columns(event_type=et).drop("_et")
    frame = frame.with_columns(kind=_kind_expr())
    frame, ranged = _beyond_range(frame)
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
    # (a regex, not strip_chars: no stripped copy of every id)
    blank = lambda c: pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$")  # noqa: E731
    lo = pl.lit(MIN_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    hi = pl.lit(MAX_TIME).str.to_datetime(time_zone="UTC", time_unit="us")
    # (test, reason, field) in the order they are checked: the first that holds is the reason
    checks: list[tuple[pl.Expr, str, pl.Expr]] = [
        (mistyped.is_not_null(), "wrong_type", mistyped),
        (blank("event_id"), "missing_id", pl.lit("event_id")),
        (blank("customer_id"), "missing_customer_id", pl.lit("customer_id")),
        (pl.col("_created_raw_missing"), "missing_created_date", pl.lit("created_date")),
        (pl.col("created_date").is_null(), "bad_timestamp", pl.lit("created_date")),
        (
            (pl.col("created_date") < lo) | (pl.col("created_date") >= hi),
            "implausible_timestamp",
            pl.lit("created_date"),
        ),
        (ranged.is_not_null(), "number_out_of_range", ranged),
        (wrong.is_not_null(), "wrong_type", wrong),
        (pl.col("kind").is_null(), "unknown_event_type", pl.lit("event_type")),
        (
            (pl.col("event_type") == "WebEvent") & blank("event_name"),
            "missing_event_name",
            pl.lit("event_name"),
        ),
    ]
    reason: pl.Expr = pl.lit(None, pl.Struct({"r": pl.String(), "f": pl.String()}))
    for test, r, f in reversed(checks):
        reason = pl.when(test).then(pl.struct(r=pl.lit(r), f=f)).otherwise(reason)
    # the tests as booleans first: a clean chunk (the usual case) builds no reasons
    problem = pl.any_horizontal(*(test for test, _, _ in checks))
    if frame.height == 0 or not frame.select(problem.fill_null(True).any()).item():
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias(c) for c in ("_r", REASON, REASON_FIELD, "_detail")
        )
    else:
        has_src = pl.lit("_created_src" in frame.columns)
        src = pl.col("_created_src") if "_created_src" in frame.columns else pl.lit(None)
        frame = frame.with_columns(_r=reason).with_columns(
            pl.col("_r").struct.field("r").alias(REASON),
            pl.col("_r").struct.field("f").alias(REASON_FIELD),
        )
        frame = frame.with_columns(
            pl.when(mistyped.is_not_null())
            .then(pl.col(REASON_FIELD).replace_strict(details or {}, default=None))
            .when(pl.col(REASON) == "implausible_timestamp")
            .then(_seconds_detail(pl.col("created_date")))
            .when(pl.col(REASON) == "number_out_of_range")
            .then(pl.col(REASON_FIELD).replace_strict(_RANGE_DETAILS, default=None))
            .when((pl.col(REASON) == "bad_timestamp") & has_src)
            .then(_epoch_unit_detail(src))
            .when(pl.col(REASON) == "unknown_event_type")
            .then(_event_type_detail(pl.col("_et_raw"), genesys))
            .otherwise(None)
            .cast(pl.String)
            .alias("_detail")
        )
    frame = derive_url_fields(frame)  # (a referrer's host, a campaign: from their URLs)
    return frame.drop(
        "_r",
        "_et_raw",
        *bad_cols,
        *[c for c in frame.columns if c.startswith("_range_")],
        *type_cols,
        *[c for c in frame.columns if c.startswith("_has_")],
        "_created_raw_missing",
        "_created_src",
        strict=False,
    )


def _event_type_detail(raw: pl.Expr, genesys: bool) -> pl.Expr:
    """The detail of an unknown event type: the value found (`eventType is
    "com.genesys.journey.ConversationEvent"`), or that there is none."""
    name = "eventType" if genesys else "event_type"
    none = (
        "no eventType, and no webEvent (or other payload) to tell it by"
        if genesys
        else "no event_type (nor kind)"
    )
    shown = pl.format('{} is "{}"', pl.lit(name), raw.str.slice(0, 120))
    return (
        pl.when(raw.is_null() | (raw.str.strip_chars() == "")).then(pl.lit(none)).otherwise(shown)
    )


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


#: Reasons that, on every row of a file, say the file is not an export of this shape.
_FILE_WIDE = ("missing_id", "missing_customer_id", "missing_created_date")

#: How an implausible time that is an epoch time in seconds read as milliseconds (in January
#: or February 1970) is said, and the hint that goes with it.
_SECONDS_DETAIL = "epoch seconds read as milliseconds?"
EPOCH_SECONDS_HINT = (
    "jtrack reads epoch numbers as milliseconds: multiply times in seconds by 1000, or write "
    "ISO-8601 times"
)


def _seconds_detail(at: pl.Expr) -> pl.Expr:
    """The detail of an implausible time `at` that is a time in seconds read as epoch
    milliseconds (its number of milliseconds, as seconds, falls between 2000 and 2100):
    "1970-01-21T18:11:12.800Z: epoch seconds read as milliseconds? 1793872800 seconds is
    2026-11-05T10:40:00Z"; null for any other."""
    ms = at.dt.epoch("ms")
    lo = int(datetime.fromisoformat(MIN_TIME).timestamp())
    hi = int(datetime.fromisoformat(MAX_TIME).timestamp())
    return pl.when(ms.is_between(lo, hi, closed="left")).then(
        pl.format(
            "{}: " + _SECONDS_DETAIL + " {} seconds is {}",
            at.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            ms,
            pl.from_epoch(ms, "s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )


#: The wrong_type text of a row read from Parquet (REJECT_REASONS' says JSON).
PARQUET_WRONG_TYPE = (
    "a field has a Parquet (Arrow) type or value the schema does not allow (see `jtrack schema`)"
)

#: A column whose type cannot hold its field in any row (_canonical_select's detail).
_COLUMN_TYPE = re.compile(r"(?:^|: )(\S+) has type (.+?) in the file, expected (.+?)(?:;|$)")


def _column_type_hint(detail: str) -> str | None:
    """The hint of a row rejected because its file's column has a type the field cannot hold
    (every row of the file with a value there is rejected alike: no row to fix)."""
    m = _COLUMN_TYPE.search(detail)
    if m is None:
        return None
    column, have, want = m.groups()
    if have.startswith("Binary"):
        todo = "cast it to text (a UUID string, say) before export"
    elif want == "an object":
        todo = "export it as an object (a struct)"
    elif want.startswith("List"):
        todo = (
            "export it as a list of {name, data_type, value}, a map of name to "
            "{dataType, value} or a map of name to text (`jtrack schema`)"
        )
    else:
        todo = f"export it as {'text' if want == 'String' else want}"
    return f"the column {column} has type {have.split(':')[0]} in the whole file: {todo}"


#: What a field of each type takes, as a wrong value's detail says it.
_EXPECTED = {
    pl.Int64(): 'a whole number (390, "390" and 390.0 are read)',
    pl.Float64(): "a number",
    pl.Boolean(): "true or false",
}
_NUMBER = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"


def with_value_details(
    rows: pl.DataFrame, genesys: bool, reader_detail: str | None = None
) -> pl.DataFrame:
    """`rows` (with RAW set on rejected rows) where a value of a number or boolean field
    that does not convert (390.5 for a width, "wide") has its detail: the field, the value
    found (from the raw row) and what it takes, before `reader_detail` (the detail such a
    row has so far, if any). Only the rows so rejected are looked at."""
    no_detail = pl.col("_detail").is_null()
    if reader_detail is not None:
        no_detail = no_detail | (pl.col("_detail") == reader_detail)
    todo = (
        (pl.col(REASON) == "wrong_type")
        & no_detail
        & pl.col(REASON_FIELD).is_in([f.name for f in EVENT_FIELDS if f.dtype in _EXPECTED])
    )
    if rows.height == 0 or RAW not in rows.columns:
        return rows
    if rows.get_column(REASON).null_count() == rows.height or not rows.select(todo.any()).item():
        return rows  # (nothing rejected, the usual chunk: known without a pass)
    idx = rows.select(pl.arg_where(todo)).to_series()
    some = rows.select(REASON_FIELD, RAW)[idx.to_list()]
    details = pl.lit(None, pl.String)
    for f in EVENT_FIELDS:
        if f.dtype not in _EXPECTED:
            continue
        path = f.genesys if genesys else f.name
        value = pl.col(RAW).str.json_path_match("$." + path)
        shown = pl.when(value.str.contains(_NUMBER)).then(value).otherwise(pl.format('"{}"', value))
        said = pl.format(f"{path} is {{}}, expected {_EXPECTED[f.dtype]}", shown.str.slice(0, 80))
        details = pl.when(pl.col(REASON_FIELD) == f.name).then(said).otherwise(details)
    if reader_detail is not None:
        details = pl.concat_str([details, pl.lit(reader_detail)], separator="; ")
    found = some.select(details.alias("_detail")).to_series()
    return rows.with_columns(rows.get_column("_detail").scatter(idx, found))


#: How a time that is an epoch number in another unit than milliseconds is said, and the hint.
_UNIT_DETAIL = "epoch {}? epoch numbers are read as whole milliseconds"
EPOCH_UNIT_HINT = (
    "jtrack reads epoch numbers as whole milliseconds: divide microseconds by 1000 and "
    "nanoseconds by 1000000, multiply seconds by 1000, or write ISO-8601 times"
)


def _epoch_unit_detail(value: pl.Expr) -> pl.Expr:
    """The detail of a bad time that is an epoch number in microseconds or nanoseconds (16
    or 19 digits) or in seconds with a fraction (as Spark and BigQuery write them); null
    for any other value."""
    text = value.cast(pl.String).str.strip_chars()
    unit = (
        pl.when(text.str.contains(r"^-?\d{16,17}$"))
        .then(pl.lit("microseconds"))
        .when(text.str.contains(r"^-?\d{18,20}$"))
        .then(pl.lit("nanoseconds"))
        .when(text.str.contains(r"^-?\d{9,10}\.\d+$"))
        .then(pl.lit("seconds with a fraction"))
    )
    return pl.format("{}: " + _UNIT_DETAIL.format("{}"), text, unit)


def reject_hint(detail: str | None) -> str | None:
    """The hint of a rejected row whose detail calls for one of its own (epoch seconds, a
    column of the wrong type)."""
    if not detail:
        return None
    if _SECONDS_DETAIL in detail:
        return EPOCH_SECONDS_HINT
    if "? epoch numbers are read as whole milliseconds" in detail:
        return EPOCH_UNIT_HINT
    if "several JSON values one after another" in detail:
        return (
            "put each JSON object on a line of its own, e.g. `jq -c . FILE > FILE.jsonl` "
            "(jq reads objects one after another)"
        )
    return _column_type_hint(detail)


#: Keys that tell an object of a list for an event (beside its id), in either shape.
_EVENT_KEYS = frozenset(
    ("createdDate", "created_date", "eventType", "event_type", "customerId", "customer_id")
)


def _looks_like_event(item: object) -> bool:
    return (
        isinstance(item, dict)
        and ("id" in item or "event_id" in item)
        and not _EVENT_KEYS.isdisjoint(item)
    )


def _is_event_object(doc: object) -> bool:
    """Whether an object holding lists of events is an event itself (with its own lists of
    outcomes or products), not a wrapper of them: an id and a visitor or time of its own,
    or two of those without an id (keys named like `customer`, `visitor`, `time`, `date`,
    `session`, beside either shape's names)."""
    if not isinstance(doc, dict):
        return False
    marks = sum(
        1
        for key in doc
        if key in _EVENT_KEYS
        or any(w in str(key).lower() for w in ("customer", "visitor", "time", "date", "session"))
    )
    return marks >= (1 if "id" in doc or "event_id" in doc else 2)


def _events_path(value: object, depth: int = 0) -> list[str] | None:
    """The keys that lead from an object to a list of events (`["data"]`, `["a", "b"]`),
    looking a few levels down; None when no list there holds events."""
    if not isinstance(value, dict) or depth > 3:
        return None
    for key, member in value.items():
        if isinstance(member, list) and member and _looks_like_event(member[0]):
            return [str(key)]
    for key, member in value.items():
        below = _events_path(member, depth + 1)
        if below is not None:
            return [str(key), *below]
    return None


def _jq_command(program: str, file: str) -> str:
    """A shell command that writes the events `program` (jq) takes out of `file` as JSON
    lines; a compressed file is decompressed first, standard input named as EXPORT."""
    prog = shlex.quote(program)
    name = file.lower()
    if file in ("-", "<stdin>"):
        return f"jq -c {prog} EXPORT > events.jsonl"
    for suffix, tool in ((".gz", "gzip"), (".zst", "zstd"), (".bz2", "bzip2"), (".xz", "xz")):
        if name.endswith(suffix):
            return f"{tool} -dc {shlex.quote(file)} | jq -c {prog} > events.jsonl"
    return f"jq -c {prog} {shlex.quote(file)} > events.jsonl"


def nested_events_hint(doc: object, file: str = "FILE", each: str = "") -> str | None:
    """The hint for a JSON object holding its events under keys jtrack does not read
    (`{"data": [...]}`, another API's page, a few levels down): where they are, and a jq
    command that takes them out; None when no list in it holds events (objects with an id
    and a time, type or visitor). `each`: the jq path to each such object when they are
    themselves items of a document (`.[]`, `.entities[]`)."""
    if _is_event_object(doc):
        return None  # (an event itself, with or without its id: its own lists are its own)
    path = _events_path(doc)
    if path is None:
        return None
    program = each + "".join(
        "." + (key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key))
        for key in path
    )
    where = " > ".join(repr(key) for key in path)
    return (
        f"its events seem to sit under {where}: jtrack reads JSON lines, a JSON array of "
        'events or a page with an "entities" array; take them out first, e.g. '
        f"`{_jq_command(program + '[]', file)}`"
    )


def _nested_line_hint(raw: str | None, file: str) -> str | None:
    """nested_events_hint of a rejected line of `file` that is a whole JSON object."""
    if not raw or not raw.lstrip().startswith("{"):
        return None
    try:
        return nested_events_hint(json.loads(raw), file)
    except (ValueError, RecursionError):
        return None


def nested_row_hint(reason: str, raw: str | None, file: str) -> str | None:
    """The hint of a row rejected for a missing id, visitor or time that is a JSON object
    holding events under another key (nested_events_hint); None for any other row."""
    return _nested_line_hint(raw, file) if reason in _FILE_WIDE else None


def drift_detail(fld: str, stats: FileStats | None) -> str | None:
    """What a file holds instead of the field `fld` (canonical name) a row was rejected
    for: a field jtrack does not read (FileStats.unread) that may be it (`eventType` in a
    flat file, `web_event` for webEvent); None when none is near."""
    if stats is None or not stats.unread:
        return None
    from jtrack.read.fields import suggestion

    genesys = stats.shape.startswith("genesys")
    target = next((f.genesys for f in EVENT_FIELDS if f.name == fld), "") if genesys else fld
    if not target:
        return None
    for path in stats.unread:
        near = suggestion(path, genesys)
        if near and (near == target or target.startswith(near + ".")):
            return f"the file has `{path}`, which jtrack does not read: did you mean `{near}`?"
    return None


#: The reasons of a field that is missing or unusable, which a renamed one may explain.
_DRIFT_REASONS = (
    "missing_id",
    "missing_customer_id",
    "missing_created_date",
    "unknown_event_type",
    "missing_event_name",
)


def rejected_row_error(
    row: dict[str, Any], rows: pl.DataFrame | None = None, stats: FileStats | None = None
) -> RejectedRowError:
    """The error that stops a run at a rejected row (a row of ROW_SCHEMA with a reason);
    `rows`, the rows read with it: when every one of the file's lacks the same field, the
    hint says so (another tracker's export, not a row to fix); an unknown event type is
    counted among them. `stats`: the file's accounting so far, whose fields jtrack does
    not read may be the missing one renamed (drift_detail)."""
    reason = row[REASON]
    fld = row[REASON_FIELD] or field_for_reason(reason)
    detail = REJECT_REASONS.get(reason, reason)
    if row["_detail"] and (
        PARQUET_WRONG_TYPE in row["_detail"]
        or row["_detail"] in (CONCATENATED_DETAIL, MARKUP_DETAIL)
        or row["_detail"] in _RANGE_DETAILS.values()  # (its field's range, not any field's)
    ):
        detail = row["_detail"]
    elif row["_detail"]:
        detail = f"{row['_detail']}; {detail}"
    if reason == "unknown_event_type" and rows is not None and row.get("event_type"):
        same = rows.filter(
            (pl.col(SRC_FILE) == row[SRC_FILE])
            & (pl.col(REASON) == reason)
            & (pl.col("event_type") == row["event_type"])
        ).height
        if same > 1:
            detail += f" ({same:,} of the {rows.height:,} rows read with it have it)"
    drift = drift_detail(fld, stats) if reason in _DRIFT_REASONS else None
    if drift is not None:
        skip = "or pass --on-error skip to write rejects to a file and go on"
        return RejectedRowError(
            row[SRC_FILE],
            int(row[SRC_LINE]),
            fld,
            reason,
            f"{detail}; {drift}",
            f"rename the field in the export as `jtrack schema` names it; {skip}",
        )
    hint = reject_hint(row["_detail"])
    if hint is not None:  # (one row of many, maybe: skipping it is a way on too)
        hint += "; or pass --on-error skip to write rejects to a file and go on"
    if (row["_detail"] or "").startswith("the line is markup") and int(row[SRC_LINE]) <= 1:
        hint = (  # (a page from the start: no row to fix, no rows to skip)
            "the file looks like a web page, not an export (an error or sign-in page saved "
            "in its place?): leave it out, or download the export again"
        )
    if nested := nested_row_hint(reason, row.get(RAW), row[SRC_FILE]):
        error = RejectedRowError(row[SRC_FILE], int(row[SRC_LINE]), fld, reason, detail, nested)
        error.own_hint = True  # (no row to fix and none worth skipping: said as it is)
        return error
    if rows is not None and reason in _FILE_WIDE:
        mine = rows.filter(pl.col(SRC_FILE) == row[SRC_FILE]).get_column(REASON)
        if mine.len() > 1 and mine.eq_missing(reason).all():
            hint = (
                f"none of the {mine.len():,} events read from it has one: is it an export of "
                "another tracker? `jtrack schema` lists the fields jtrack reads (either shape)"
            )
    return RejectedRowError(row[SRC_FILE], int(row[SRC_LINE]), fld, reason, detail, hint)


def nothing_accepted(
    rows_read: int, rejected: int, first: str | None = None, hint: str | None = None
) -> DataError | None:
    """The error of a reading command given files none of whose rows is an event (a CSV,
    a contacts file, another tool's JSON), so that it does not answer with zeros and exit
    0; None when some rows were accepted, or none read. `first`: the first rejected row,
    as RejectedRowError says it (file, line, field, detail, reason); `hint`: that row's own
    hint (nested_row_hint), if it has one."""
    if rows_read == 0 or rejected < rows_read:
        return None
    what = (
        "the one row read was rejected"
        if rows_read == 1
        else f"every one of the {rows_read:,} rows read was rejected"
    )
    return DataError(
        f"{what}: the inputs hold no events" + (f"; the first: {first}" if first else ""),
        hint=hint
        or reject_hint(first)
        or "give event exports (Genesys Journey or flat events, as JSON lines, JSON or "
        "Parquet: `jtrack schema` lists the fields)",
    )


def far_future_cut(
    times: pl.DataFrame | pl.LazyFrame, key: str | None = None, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """Where "far future relative to the rest" starts in a run, and the reject detail.

    `times` holds the `created_date` of the run's accepted events (a lazy scan is fine). The
    cut is the first time after a gap of at least FAR_FUTURE_GAP in the sorted time line such
    that at most FAR_FUTURE_SHARE of the events (at least one) lie at or after it, and after
    the clock (`now`; default run_clock()): an event dated before the clock is no future
    one, however long the gap before it. Only the latest share of the times is sorted (a
    top-k), so a scan of any size is fine.

    With `key` (a column of `times`: the event id or its hash), copies of one event count
    once among the latest times (at their earliest time there), so a redelivered far-future
    event is as far as a single one.
    """
    t = pl.col("created_date")
    lf = times.lazy().filter(t.is_not_null())
    n = int(lf.select(pl.len()).collect(engine="in-memory").item())
    if n < 2:
        return None
    limit = max(1, int(n * FAR_FUTURE_SHARE))
    # the latest limit + 1 times (events), ascending: a cut at position j >= 1 leaves at
    # most `limit` events at or after it, and top[j - 1] is the time before the gap
    if key is None:
        top = lf.select(t.top_k(limit + 1).sort().alias("t")).collect(engine="in-memory")
    else:
        k = limit + 1
        while True:  # deeper while copies of the same events fill the latest k times
            start = lf.select(t.top_k(k).min()).collect(engine="in-memory").item()
            tail = lf.filter(t >= start).select(t, pl.col(key)).collect(engine="in-memory")
            events = tail.group_by(key).agg(t.min().alias("t")).select(pl.col("t").sort())
            if events.height >= limit + 1 or tail.height >= n:
                break
            k *= 4
        top = events.tail(limit + 1)
    gaps = top.with_columns(prev=pl.col("t").shift(1)).with_row_index("j")
    clock = run_clock() if now is None else now
    cuts = gaps.filter(
        (pl.col("j") >= 1)
        & ((pl.col("t") - pl.col("prev")) >= FAR_FUTURE_GAP)
        & (pl.col("t") > clock)  # (an event dated before the clock is no future one)
    )
    if cuts.height == 0:
        return None
    at = cuts["t"][0]
    prev = cuts["prev"][0]
    detail = (
        f"dated more than {FAR_FUTURE_GAP.days} days after the latest other event "
        f"({prev.strftime('%Y-%m-%dT%H:%M:%S')}Z)"
    )
    return at, detail


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
        # a Parquet row keeps no raw text unless rejected while read: its canonical values
        pl.when(far & pl.col(RAW).is_null())
        .then(pl.struct(list(EVENT_SCHEMA)).struct.json_encode())
        .otherwise(pl.col(RAW))
        .alias(RAW),
    )


def rejects_frame(bad: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows (with the internal `_reason`... columns) as the rejects file's columns:
    file, line, field, reason, detail, raw. `field` is the field the error line of the same
    row names: `(line)` for the line as a whole (invalid_utf8, malformed_json...)."""
    shown = {reason: field_for_reason(reason) for reason in _REASON_FIELD}
    return bad.select(
        pl.col(SRC_FILE).alias("file"),
        pl.col(SRC_LINE).alias("line"),
        pl.when(pl.col(REASON_FIELD).fill_null("") == "")
        .then(pl.col(REASON).replace_strict(shown, default=field_for_reason("")))
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
    "number_out_of_range": "",
    "unknown_event_type": "event_type",
    "missing_event_name": "event_name",
}


def field_for_reason(reason: str) -> str:
    """The field a reject reason is about, `(line)` for the line as a whole."""
    return _REASON_FIELD.get(reason, "") or "(line)"
