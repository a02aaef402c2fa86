"""Flat event rows as Genesys event JSON (one object per line), as in a real export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl

from jtrack.schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    EVENT_TYPE_PREFIX,
    KIND_APP,
    KIND_CUSTOM,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
    KV_LIST,
)

from .generator import iter_flat_chunks

# --------------------------------------------------------------------------------------------
# Flat rows -> Genesys event JSON
# --------------------------------------------------------------------------------------------
#
# Rows are grouped by their shape: which fields are present (non-null) and the event type.
# Each shape gets a static template, so a row's line is one concat_str of its present values
# and the literal JSON text between them (keys, quotes, braces, commas). Absent fields and
# empty objects are therefore omitted, as real exports omit them, with no per-row branching.
# The object tree comes from the `genesys` paths of jtrack.schema.EVENT_FIELDS. String values
# are JSON-escaped only in the columns where some value needs it.

_ESC_FROM = ["\\", '"', *(chr(i) for i in range(32))]
_ESC_TO = [
    "\\\\",
    '\\"',
    *(
        {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(i, f"\\u{i:04x}")
        for i in range(32)
    ),
]
_KIND_TO_TYPE = {
    KIND_PAGE_VIEW: "WebEvent",
    KIND_SEARCH: "WebEvent",
    KIND_CUSTOM: "WebEvent",
    KIND_APP: "AppEvent",
    KIND_SEGMENT: "SegmentAssignmentEvent",
    KIND_OUTCOME: "OutcomeAchievedEvent",
    KIND_WEB_ACTION: "WebActionEvent",
}
#: payload object (first segment of the schema's Genesys paths) -> (short event type, object
#: name) pairs that carry it; app events reuse the webEvent fields under "appEvent".
_PAYLOADS: dict[str, tuple[tuple[str, str], ...]] = {
    "webEvent": (("WebEvent", "webEvent"), ("AppEvent", "appEvent")),
    "segmentAssignmentEvent": (("SegmentAssignmentEvent", "segmentAssignmentEvent"),),
    "outcomeAchievedEvent": (("OutcomeAchievedEvent", "outcomeAchievedEvent"),),
    "webActionEvent": (("WebActionEvent", "webActionEvent"),),
}
_SHORT = "__short"
_LONG = "__event_type"
_CREATED = "__created"


@dataclass
class _Node:
    """A JSON object: its fields in order (a leaf is (column, dtype)); a payload object also
    lists the event types that carry it, with the object's name for each."""

    fields: dict[str, _Node | tuple[str, pl.DataType]]
    carriers: tuple[tuple[str, str], ...] = ()


def _genesys_tree() -> _Node:
    root = _Node({})
    for f in EVENT_FIELDS:
        if not f.genesys:
            continue
        *parents, leaf = f.genesys.split(".")
        node = root
        for p in parents:
            child = node.fields.setdefault(p, _Node({}))
            assert isinstance(child, _Node)
            node = child
        node.fields[leaf] = (f.name, f.dtype)
    root.fields["eventType"] = (_LONG, pl.String())
    root.fields["createdDate"] = (_CREATED, pl.String())
    for name, carriers in _PAYLOADS.items():
        payload = root.fields.get(name)
        if isinstance(payload, _Node):
            payload.carriers = carriers
    order = ["id", "correlationId", "customerId", "customerIdType", "session", "eventType"]
    order += ["createdDate"]
    order += [k for k in root.fields if k not in order and k not in _PAYLOADS]
    order += list(_PAYLOADS)
    root.fields = {k: root.fields[k] for k in order if k in root.fields}
    return root


def _esc(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.String).str.replace_many(_ESC_FROM, _ESC_TO)


def _js(e: pl.Expr) -> pl.Expr:
    """A JSON string literal (null stays null)."""
    return pl.concat_str([pl.lit('"'), _esc(e), pl.lit('"')])


def _jobj(fields: Sequence[tuple[str, pl.Expr]], empty: str | None = None) -> pl.Expr:
    """A JSON object of the non-null (already JSON) fields; `empty` when all are null."""
    frags = [pl.concat_str([pl.lit(f'"{key}":'), value]) for key, value in fields]
    obj = pl.concat_str(
        [pl.lit("{"), pl.concat_str(frags, separator=",", ignore_nulls=True), pl.lit("}")]
    )
    present = pl.any_horizontal([value.is_not_null() for _, value in fields])
    return pl.when(present).then(obj).otherwise(pl.lit(empty, dtype=pl.String))


def _jmap(e: pl.Expr) -> pl.Expr:
    """A list of {name, data_type, value} structs as a Genesys {name: {dataType, value}} map."""
    el = pl.element()
    entry = pl.concat_str(
        [
            _js(el.struct.field("name")),
            pl.lit(":"),
            _jobj(
                [
                    ("dataType", _js(el.struct.field("data_type"))),
                    ("value", _js(el.struct.field("value"))),
                ],
                empty="{}",
            ),
        ]
    )
    body = e.list.eval(entry).list.join(",", ignore_nulls=True)
    return pl.concat_str([pl.lit("{"), body, pl.lit("}")])


def _columns_to_escape(frame: pl.DataFrame) -> set[str]:
    """The String columns holding a quote, a backslash or a control character somewhere
    (the others go into the JSON text as they are)."""
    names = [c for c, t in frame.schema.items() if t == pl.String]
    if not names:
        return set()
    flags = frame.select(
        [pl.col(c).str.contains_any(_ESC_FROM).fill_null(False).any() for c in names]
    )
    return {c for c, flag in zip(names, flags.row(0), strict=True) if flag}


def _short_type() -> pl.Expr:
    return pl.coalesce(
        pl.col("event_type").str.strip_prefix(EVENT_TYPE_PREFIX),
        pl.col("kind").replace_strict(_KIND_TO_TYPE, default=None, return_dtype=pl.String),
    )


@dataclass(frozen=True)
class _Leaf:
    col: str
    dtype: pl.DataType
    payload: str | None  # the payload object holding it, if any


def _leaves(node: _Node, payload: str | None = None) -> list[_Leaf]:
    out: list[_Leaf] = []
    for key, child in node.fields.items():
        if isinstance(child, _Node):
            out += _leaves(child, key if child.carriers else payload)
        else:
            out.append(_Leaf(child[0], child[1], payload))
    return out


def _template(
    node: _Node, present: set[str], short: str | None, escape: set[str]
) -> list[str | pl.Expr]:
    """The pieces of one JSON object for rows where exactly the `present` columns are set and
    the event type is `short` (literal text and value expressions), or [] if it is empty."""
    pieces: list[str | pl.Expr] = []
    for key, child in node.fields.items():
        if isinstance(child, _Node):
            name = key
            if child.carriers:
                names = [n for t, n in child.carriers if t == short]
                if not names:
                    continue
                name = names[0]
            inner = _template(child, present, short, escape)
            if not inner and not child.carriers:
                continue
            pieces += [f'"{name}":{{', *inner, "}", ","]
            continue
        col, dtype = child
        c = pl.col(col)
        if dtype == KV_LIST:
            if not any(short == t for t, _ in _PAYLOADS["webEvent"]):
                continue
            pieces += [f'"{key}":', _jmap(c).fill_null("{}"), ","]
        elif col not in present:
            continue
        elif dtype == pl.Boolean:
            value = pl.when(c).then(pl.lit("true")).otherwise(pl.lit("false"))
            pieces += [f'"{key}":', value, ","]
        elif dtype.is_integer() or dtype.is_float():
            pieces += [f'"{key}":', c.cast(pl.String), ","]
        else:
            pieces += [f'"{key}":"', _esc(c) if col in escape else c, '",']
    if pieces:  # drop the trailing comma
        last = pieces[-1]
        assert isinstance(last, str)
        pieces[-1] = last[:-1]
    return [p for p in pieces if not (isinstance(p, str) and p == "")]


def _line_expr(pieces: Sequence[str | pl.Expr]) -> pl.Expr:
    parts: list[pl.Expr] = []
    text = ""
    for p in pieces:
        if isinstance(p, str):
            text += p
        else:
            if text:
                parts.append(pl.lit(text))
            parts.append(p)
            text = ""
    if text:
        parts.append(pl.lit(text))
    return pl.concat_str(parts)


_SHORT_CODES = (
    "",
    "WebEvent",
    "AppEvent",
    "SegmentAssignmentEvent",
    "OutcomeAchievedEvent",
    "WebActionEvent",
)


def _genesys_json(frame: pl.DataFrame, newline: bool = False) -> pl.Series:
    """The Genesys event object text of each row of `frame` (conformed flat events).

    Rows are grouped by their shape (which fields are present, and the event type); each
    shape gets a static template, so a line is one concat_str of its present values and the
    literal text between them (absent fields are omitted, as in real exports)."""
    if frame.height == 0:
        return pl.Series("json", [], dtype=pl.String)
    escape = _columns_to_escape(frame)
    tree = _genesys_tree()
    leaves = [leaf for leaf in _leaves(tree) if leaf.dtype != KV_LIST]
    flags = [
        (pl.col(leaf.col).is_finite() if leaf.dtype.is_float() else pl.col(leaf.col).is_not_null())
        .fill_null(False)
        .cast(pl.UInt64)
        for leaf in leaves
    ]
    words = [
        pl.sum_horizontal([f * (1 << (i % 64)) for i, f in enumerate(flags) if i // 64 == w])
        .cast(pl.UInt64)
        .alias(f"__k{w}")
        for w in range((len(flags) + 63) // 64)
    ]
    code = (
        pl.col(_SHORT)
        .replace_strict(
            {t: i for i, t in enumerate(_SHORT_CODES) if t}, default=0, return_dtype=pl.UInt8
        )
        .alias("__code")
    )
    keyed = frame.with_row_index("__row").with_columns(*words, code)
    key_cols = [*(w.meta.output_name() for w in words), "__code"]
    lazies: list[pl.LazyFrame] = []
    for key, part in keyed.partition_by(key_cols, as_dict=True, maintain_order=False).items():
        *bits, short_code = (int(k) for k in key)
        present = {leaf.col for i, leaf in enumerate(leaves) if (bits[i // 64] >> (i % 64)) & 1}
        short = _SHORT_CODES[short_code] or None
        pieces = ["{", *_template(tree, present, short, escape), "}\n" if newline else "}"]
        lazies.append(part.lazy().select("__row", _line_expr(pieces).alias("json")))
    lines = pl.concat(pl.collect_all(lazies, engine="streaming")).sort("__row")
    return lines["json"]


def _conform(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Add missing EVENT_SCHEMA columns as nulls, the short and long event type and the
    createdDate text, and clear payload columns on rows whose event type does not carry that
    payload."""
    lf = df.lazy()
    schema = lf.collect_schema()
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in EVENT_SCHEMA.items() if c not in schema]
    if missing:
        lf = lf.with_columns(missing)
    created = pl.col("created_date")
    dtype = schema.get("created_date")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        created = created.dt.replace_time_zone("UTC")
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone != "UTC":
        created = created.dt.convert_time_zone("UTC")
    lf = lf.with_columns(
        _short_type().alias(_SHORT),
        created.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(_CREATED),
    ).with_columns(pl.concat_str([pl.lit(EVENT_TYPE_PREFIX), pl.col(_SHORT)]).alias(_LONG))
    frame = lf.collect(engine="in-memory")
    groups: dict[str, list[str]] = {root: [] for root in _PAYLOADS}
    for f in EVENT_FIELDS:
        root = f.genesys.split(".", 1)[0]
        if root in groups:
            groups[root].append(f.name)
    carried = {root: [t for t, _ in carriers] for root, carriers in _PAYLOADS.items()}
    stray = [
        (
            pl.any_horizontal([pl.col(c).is_not_null() for c in cols])
            & ~pl.col(_SHORT).is_in(carried[root]).fill_null(False)
        )
        .any()
        .alias(root)
        for root, cols in groups.items()
    ]
    found = frame.select(stray).row(0, named=True)
    fixes = [
        pl.when(pl.col(_SHORT).is_in(carried[root])).then(pl.col(c)).alias(c)
        for root, cols in groups.items()
        if found[root]
        for c in cols
    ]
    return frame.with_columns(fixes) if fixes else frame


def genesys_lines(df: pl.DataFrame | pl.LazyFrame) -> pl.Series:
    """The rows of a flat event frame as Genesys event JSON text (one String per row, row
    order kept), shaped like the objects of a Genesys export: the envelope (`id`,
    `correlationId`, `customerId`, `customerIdType`, `session {id, type}`, `eventType` in its
    long form, `createdDate` as ISO-8601 with milliseconds and `Z`) and one payload object
    (`webEvent`, `segmentAssignmentEvent`, `outcomeAchievedEvent`, `webActionEvent`; app events
    get `appEvent`). Null fields and empty objects are omitted; web events always carry
    `attributes` and `traits` (possibly `{}`). Columns absent from the frame count as null."""
    return _genesys_json(_conform(df))


def _write_lines(lines: pl.Series, out: IO[bytes]) -> None:
    """Write lines that already end in a newline, as they are."""
    lines.to_frame("json").write_csv(
        out, include_header=False, quote_style="never", line_terminator=""
    )


def _ndjson_lines(df: pl.DataFrame | pl.LazyFrame) -> pl.Series:
    return _genesys_json(_conform(df), newline=True)


def to_genesys_ndjson(df: pl.DataFrame | pl.LazyFrame, path: str | Path) -> int:
    """Write flat event rows to `path` as Genesys-shaped NDJSON (one event per line, in row
    order; see `genesys_lines`). Returns the number of lines written."""
    lines = _ndjson_lines(df)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        _write_lines(lines, out)
    return lines.len()


def write_genesys_ndjson(
    path: str | Path, n_events: int, *, seed: int = 7, chunk_size: int = 1_000_000, **options: Any
) -> int:
    """Write `generate_flat(n_events, seed=seed, **options)` as Genesys NDJSON, chunk by chunk.
    Returns the number of lines written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as out:
        for chunk in iter_flat_chunks(n_events, seed=seed, chunk_size=chunk_size, **options):
            _write_lines(_ndjson_lines(chunk), out)
            written += chunk.height
    return written
