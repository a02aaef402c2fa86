"""Turn result frames into JSON, JSONL, CSV, Markdown and Parquet the same way everywhere.

Field names are the frame's column names; datetimes are ISO-8601 UTC with milliseconds and a
`Z` (microseconds where a value has them: the store keeps microseconds); CSV
cells that a spreadsheet would run as a formula are neutralised with a leading `'`.
Imports Polars only.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl

ISO_FMT = "%Y-%m-%dT%H:%M:%S%.3fZ"

#: CSV cells starting with one of these are formulas to Excel, LibreOffice and Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: ...except a number: a sign, then digits with spaces, dashes, dots or brackets between
#: (`+12025550123`, `+44 (0)20 7946 0958`, `-5`): no function or cell reference, no formula.
_NUMBER_LIKE = r"^[+-][0-9][0-9 ().\-]*$"
#: Characters that act on the reader's screen: terminal controls (ESC, BEL, C1, ...) and the
#: bidirectional embeddings, overrides and isolates, which reorder the text around them (a
#: search term ending in U+202E shows the time after it backwards: "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def iso_z(d: datetime | None) -> str | None:
    """A datetime as iso_text writes it: ISO-8601 UTC with a `Z`, to the millisecond, or the
    microsecond when it has them (a naive datetime is taken as UTC)."""
    if d is None:
        return None
    text = (d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )
    return (text if d.microsecond % 1000 else text[:-3]) + "Z"


def iso_text(col: pl.Expr, fmt: str = ISO_FMT) -> pl.Expr:
    """A UTC datetime as ISO-8601 text with a `Z` (or as `fmt`, whose fraction is `%.3f`):
    milliseconds, or microseconds when the value has them (the store keeps microseconds;
    each value is written alike whatever the rows beside it)."""
    return (
        pl.when(col.dt.microsecond() % 1000 != 0)
        .then(col.dt.strftime(fmt.replace("%.3f", "%.6f")))
        .otherwise(col.dt.strftime(fmt))
    )


def jsonable(df: pl.DataFrame) -> pl.DataFrame:
    """Datetimes as ISO strings (UTC, `Z`), durations as seconds, a float that is no number
    (NaN, an infinity: JSON has none, and `NaN` breaks every strict parser) as null;
    everything else as is."""
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC")
            exprs.append(iso_text(col).alias(name))
        elif isinstance(dtype, pl.Date):
            exprs.append(col.dt.strftime("%Y-%m-%d").alias(name))
        elif isinstance(dtype, pl.Duration):
            exprs.append((col.dt.total_microseconds() / 1_000_000).alias(name))
        elif dtype.is_float():
            exprs.append(pl.when(col.is_finite()).then(col).alias(name))
        else:
            exprs.append(col)
    return df.select(exprs)


def _finite(obj: Any) -> Any:
    """`obj` with every float that is no number (NaN, an infinity) as None, for JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _dumps(obj: Any, **kw: Any) -> str:
    """json.dumps that writes no `NaN`/`Infinity` (no JSON: null in their place), at no cost
    when there is none."""
    try:
        return json.dumps(obj, ensure_ascii=False, default=_default, allow_nan=False, **kw)
    except ValueError:
        return json.dumps(_finite(obj), ensure_ascii=False, default=_default, **kw)


def to_records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (what `--format json` prints)."""
    return jsonable(df).to_dicts()


#: JSON escapes C0 controls itself; DEL and C1 (e.g. U+009B, a CSI) are escaped too, so JSON
#: printed to a terminal cannot drive it, and so are U+2028 and U+2029 (LINE and PARAGRAPH
#: SEPARATOR), which split a JSON line for `str.splitlines`, editors and JavaScript.
_JSON_ESCAPES = {
    c: f"\\u{c:04x}" for c in [*range(0x7F, 0xA0), *range(0x2028, 0x202F), *range(0x2066, 0x206A)]
}


#: ... as one class: found by a search (rare), not a translation of every character (which
#: took 5 of 7 s of writing 50,000 sessions as JSON).
_JSON_ESCAPE_RE = re.compile("[\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
#: Rows turned into JSON at a time: a listing of a year's sessions is written a slice at a
#: time (it took 7 times its size in memory as one document: 10 GB for 659,000 sessions).
JSON_CHUNK = 10_000


def _escaped(text: str) -> str:
    if _JSON_ESCAPE_RE.search(text) is None:
        return text
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[ord(m.group())], text)


def _needs_escapes(df: pl.DataFrame) -> bool:
    """Whether any text of `df` (or a column's name) holds a character _escaped rewrites:
    asked of Polars once for a whole listing, so text without any (nearly all) skips the
    search of every piece's JSON (a fifth of the time of writing it)."""
    pattern = _JSON_ESCAPE_RE.pattern
    if any(_JSON_ESCAPE_RE.search(name) for name in df.columns):
        return True
    checks = []
    for name, dtype in df.schema.items():
        text: pl.Expr | None = None
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            text = pl.col(name).cast(pl.String)
        elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
            text = pl.col(name).list.join("\n")
        elif dtype.is_nested() or dtype == pl.Object:  # (texts inside: searched as written)
            return True
        if text is not None:
            checks.append(text.str.contains(pattern).any().alias(name))
    if not checks or df.height == 0:
        return False
    return any(df.select(checks).row(0))


def to_json(obj: pl.DataFrame | Any) -> str:
    if isinstance(obj, pl.DataFrame):
        return "".join(iter_json(obj))
    return _escaped(_dumps(obj, indent=2)) + "\n"


def to_jsonl(obj: pl.DataFrame | list[dict[str, Any]]) -> str:
    if isinstance(obj, pl.DataFrame):
        return "".join(iter_jsonl(obj))
    text = "".join(_dumps(r) + "\n" for r in obj)
    return _escaped(text)


def iter_json(df: pl.DataFrame) -> Iterator[str]:
    """`to_json` of a frame in pieces of JSON_CHUNK rows: the same text, never held whole
    (an array indented by 2, as json.dumps writes it)."""
    if df.height == 0:
        yield "[]\n"
        return
    starts = range(0, df.height, JSON_CHUNK)
    escape = _escaped if _needs_escapes(df) else str
    for i, start in enumerate(starts):
        text = _dumps(to_records(df.slice(start, JSON_CHUNK)), indent=2)
        # (inside its `[\n` ... `\n]`; a document of one piece is one write: a reader that
        # stops early, `| head -1`, meets no half-written document in between)
        yield (
            ("[\n" if i == 0 else ",\n")
            + escape(text[2:-2])
            + ("\n]\n" if i == len(starts) - 1 else "")
        )


def iter_jsonl(df: pl.DataFrame) -> Iterator[str]:
    """`to_jsonl` of a frame in pieces of JSON_CHUNK rows."""
    escape = _escaped if _needs_escapes(df) else str
    for start in range(0, df.height, JSON_CHUNK):
        rows = to_records(df.slice(start, JSON_CHUNK))
        yield escape("".join(_dumps(r) + "\n" for r in rows))


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def flat_strings(df: pl.DataFrame, *, neutralise: bool) -> pl.DataFrame:
    """Every column as text: lists joined with `; `, structs as JSON, formulas neutralised."""
    df = jsonable(df)
    exprs = []
    text_columns = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            inner = dtype.inner
            if isinstance(inner, pl.Struct | pl.List):
                col = col.list.eval(
                    pl.element().struct.json_encode()
                    if isinstance(inner, pl.Struct)
                    else pl.element().cast(pl.String)
                )
            # (an empty list is an empty cell, as a missing one is: never CSV's quoted "")
            joined = col.cast(pl.List(pl.String)).list.join("; ")
            col = pl.when(pl.col(name).list.len() > 0).then(joined)
        elif isinstance(dtype, pl.Struct):
            col = col.struct.json_encode()
        elif dtype == pl.Boolean:
            col = pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
        else:
            col = col.cast(pl.String)
        if dtype == pl.String or isinstance(dtype, _TEXTUAL):
            text_columns.append(name)
        exprs.append(col.alias(name))
    flat = df.select(exprs)
    if not neutralise or not text_columns or flat.height == 0:
        return flat
    # Which columns hold a cell to neutralise at all: one scan of each column's cells joined
    # by line breaks (a cell that starts like a formula starts a line; a line break is not a
    # control character here), so the cell-by-cell work is done only where it is needed.
    probe = flat.select(pl.col(text_columns).str.join("\n"))
    found = probe.select(
        *[pl.col(c).str.contains(_NEUTRALISE_PROBE).fill_null(False).alias(c) for c in text_columns]
    ).row(0, named=True)
    fixes = []
    for name in text_columns:
        if not found[name]:
            continue
        col = pl.col(name)
        col = pl.when(_starts_any(col)).then(pl.lit("'") + col).otherwise(col)
        # control characters mean nothing in a spreadsheet and act in a terminal
        fixes.append(col.str.replace_all(_CONTROL.pattern, "\ufffd").alias(name))
    return flat.with_columns(fixes) if fixes else flat


#: Types whose cells are text made from the data (lists joined, structs as JSON, categories).
_TEXTUAL = (pl.List, pl.Struct, pl.Categorical, pl.Enum)
#: What may stand before a formula's first character and still leave it one to a
#: spreadsheet that trims it (spaces, line breaks, a no-break space, zero-width characters,
#: a byte-order mark): a cell `\u200b=1+1` is neutralised too.
_LEADING_BLANK = r"[\s\x{a0}\x{200b}-\x{200f}\x{2060}-\x{2064}\x{feff}]*"
#: A line that starts like a formula (see _FORMULA_START), in a column's cells joined by "\n".
_FORMULA_LINE = rf"(?m)^{_LEADING_BLANK}[=+\-@\t\r\x{{ff1d}}\x{{ff0b}}\x{{ff0d}}\x{{ff20}}]"
#: ...or a control character anywhere (one scan finds either).
_NEUTRALISE_PROBE = f"{_FORMULA_LINE}|{_CONTROL.pattern}"


def _starts_any(col: pl.Expr) -> pl.Expr:
    """Cells a spreadsheet would run as a formula (see _FORMULA_START, _NUMBER_LIKE)."""
    out = pl.lit(False)
    bare = col.str.replace(f"^{_LEADING_BLANK}", "")
    for p in _FORMULA_START:
        out = out | col.str.starts_with(p) | bare.str.starts_with(p)
    return out & ~col.str.contains(_NUMBER_LIKE) & ~bare.str.contains(_NUMBER_LIKE)


def to_csv(df: pl.DataFrame) -> str:
    """CSV with formula-looking cells prefixed by `'` and control characters replaced by
    U+FFFD (see README, Guarantees and limits). A cell with a U+2028 or U+2029 (a line
    break to `str.splitlines` and editors) is quoted, as one with a line break is."""
    buf = io.StringIO()
    flat = flat_strings(df, neutralise=True)
    text = [n for n, t in flat.schema.items() if t == pl.String]
    found = (
        bool(text)
        and flat.select(pl.any_horizontal(pl.col(text).str.contains(_SEPARATORS).any())).item()
    )
    if not found:
        flat.write_csv(buf)
        return buf.getvalue()
    # quoted as Polars quotes (a quote, comma or line break inside, or empty) and on a U+2028
    quote = [
        pl.when(pl.col(n).str.contains(f'[",\r\n{_SEPARATORS[1:-1]}]') | (pl.col(n) == ""))
        .then(pl.lit('"') + pl.col(n).str.replace_all('"', '""', literal=True) + pl.lit('"'))
        .otherwise(pl.col(n))
        .alias(n)
        for n in text
    ]
    flat.with_columns(quote).write_csv(buf, quote_style="never")
    return buf.getvalue()


#: U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks to `str.splitlines`,
#: editors and JavaScript, which CSV quotes, TSV and Markdown escape, JSON writes as `\u2028`.
_SEPARATORS = "[\u2028\u2029]"


def to_tsv(df: pl.DataFrame) -> str:
    """Tab-separated values, formulas neutralised as in CSV. A tab, line break or backslash
    inside a value must already be written as its escape (`\\t`, `\\n`, `\\r`, `\\\\`:
    commands._common.tsv_escaped), so no value needs quotes: a quote inside a value is a
    quote, and an empty value an empty field. Only a value that starts with a double quote is
    quoted as in CSV (its quotes doubled), so that readers that follow CSV's rules
    (spreadsheets, Python's csv, Polars) read it whole."""
    flat = flat_strings(df, neutralise=True)
    text = [n for n, t in flat.schema.items() if t == pl.String]
    if text:
        flat = flat.with_columns(
            pl.when(pl.col(n).str.starts_with('"'))
            .then(pl.lit('"') + pl.col(n).str.replace_all('"', '""', literal=True) + pl.lit('"'))
            .otherwise(pl.col(n))
            .alias(n)
            for n in text
        )
    buf = io.StringIO()
    flat.write_csv(buf, separator="\t", quote_style="never")
    return buf.getvalue()


def to_markdown(df: pl.DataFrame) -> str:
    flat = flat_strings(df, neutralise=False)
    cols = flat.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in flat.iter_rows():
        cells = [_md_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def md_text(v: Any) -> str:
    """A data value in Markdown text (a line of a report, as a table cell is written): what
    Markdown would interpret backslash-escaped, line breaks and tabs as spaces."""
    return _md_cell(v)


def _md_cell(v: Any) -> str:
    if v is None:
        return ""
    text = _CONTROL.sub("\ufffd", str(v))
    # backslash-escape what Markdown would turn into HTML (`&lt;b&gt;` too), links, code,
    # emphasis or a strikethrough (`*star*`, `_a_`, `~~a~~`: the marks are data, shown as
    # typed; an `_` between two letters or digits, `as_of`, emphasises nothing and is left
    # as it is); a line break or a tab would end the row or the cell, as a reader sees it
    return _MD_SPACES.sub(" ", _MD_SPECIAL.sub(r"\\\g<0>", text))


_MD_SPECIAL = re.compile(r"[\\|<>\[\]`*~&]|_(?![^\W_])|(?<![^\W_])_")
_MD_SPACES = re.compile("\r\n|[\r\n\t\u2028\u2029]")


def html_attr(value: Any) -> str:
    """A data value escaped for an HTML attribute or a `<title>` (control characters
    replaced first)."""
    return _html_separators(html.escape(strip_control("" if value is None else str(value))))


def html_text(value: Any) -> str:
    """A data value as HTML text: escaped as html_attr, and in a `<bdi>` when it holds a
    right-to-left letter (Hebrew, Arabic, ...), so that it is laid out in its own direction
    and does not reorder the text around it (`עגלת קניות (2 פריטים)!` was shown as
    `(עגלת קניות (2 פריטים!`). Not for SVG text, where a `<bdi>` hides its content."""
    text = strip_control("" if value is None else str(value))
    escaped = _html_separators(html.escape(text, quote=True))
    return f"<bdi>{escaped}</bdi>" if _right_to_left(text) else escaped


def _html_separators(text: str) -> str:
    """U+2028 and U+2029 as character references: the page's source lines stay whole."""
    return text.replace("\u2028", "&#x2028;").replace("\u2029", "&#x2029;")


def _right_to_left(text: str) -> bool:
    """Whether `text` holds a right-to-left letter (bidi class R or AL)."""
    if text.isascii():
        return False
    import unicodedata

    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def strip_control(text: str) -> str:
    """Replace terminal control characters (ESC, BEL, C1, ...) and bidi controls with
    U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def write_parquet(df: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """`-o FILE.parquet`: through jtrack.files.open_atomic (unpredictable temp file, then a
    rename; a device or FIFO is written in place; a full disk is one error, nothing left)."""
    from jtrack.files import write_with

    write_with(path, df.write_parquet)


def write_text_file(text: str, path: str | os.PathLike[str]) -> None:
    """`-o FILE` for every text format (JSON, CSV, Markdown, HTML, tables), as write_parquet."""
    from jtrack.files import atomic_write_text

    atomic_write_text(path, text)
