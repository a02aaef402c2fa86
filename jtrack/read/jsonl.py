"""The JSON reader: JSON lines (a block at a time) and JSON documents (a REST page or an
array), Genesys or flat shape, decoded with Polars; malformed lines and misfitting values
become rejects with the line and the field. Imports Polars only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import polars as pl

from jtrack.errors import DataError
from jtrack.read.decode import (
    _RAW_KEEP,
    _decode_text,
    _decoded_chunks,
    _Overlong,
    _pushback,
    _split_blocks,
    _split_limited,
)
from jtrack.read.sources import Source
from jtrack.read.validate import (
    FLAT_STRUCT,
    GENESYS_STRUCT,
    RAW,
    REASON,
    REASON_FIELD,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    _canonical_select,
    _finish,
)
from jtrack.schema import (
    EVENT_FIELDS,
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
