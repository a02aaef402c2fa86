"""The JSON reader: JSON lines (a block at a time) and JSON documents (a REST page or an
array), Genesys or flat shape, decoded with Polars; malformed lines and misfitting values
become rejects with the line and the field. Imports Polars only."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
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
    line_bytes,
    shown_bytes,
    shown_head,
    utf16_without_bom,
)
from jtrack.read.fields import SAMPLE_HEAD, SAMPLE_SPREAD, sample_rows, unread_in_lines
from jtrack.read.sources import Source, compression
from jtrack.read.validate import (
    CONCATENATED_DETAIL,
    FLAT_STRUCT,
    GENESYS_STRUCT,
    MARKUP_DETAIL,
    RAW,
    REASON,
    REASON_FIELD,
    SRC_FILE,
    SRC_LINE,
    FileStats,
    _canonical_select,
    _finish,
    is_genesys_shape,
    kept_without_zone,
    nested_events_hint,
    with_value_details,
)
from jtrack.schema import (
    EVENT_FIELDS,
)

# ---- JSON as jtrack reads it (the same rules for JSON lines and JSON documents) -------------

#: Integers Polars reads; beyond them (and beyond the float range) a row is number_out_of_range.
_INT_MIN, _INT_MAX = -(2**127), 2**128 - 1
_OUT_OF_RANGE_DETAIL = "holds the number {}, beyond what any field holds"
#: A \uD800-\uDFFF escape not part of a surrogate pair encodes no character.
LONE_SURROGATE_DETAIL = (
    "holds a \\uD800-\\uDFFF escape that is not half of a surrogate pair: not a character"
)


#: Text that may hold an out-of-range number (39+ digits, or an exponent of 3+ digits).
_NUMBER_SUSPECT = re.compile(r"\d{39}|[eE][+-]?\d{3}")


class _OutOfRange(str):
    """A number jtrack cannot hold, kept as its text (see _loads)."""


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose repeated keys keep their first value (as Polars decodes them)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k not in out:
            out[k] = v
    return out


def _parse_int(text: str) -> Any:
    digits = len(text) - (text[0] == "-")
    if digits > 39:  # beyond 2**128 whatever the digits (and never int() a huge one)
        return _OutOfRange(text)
    v = int(text)
    return v if _INT_MIN <= v <= _INT_MAX else _OutOfRange(text)


def _parse_float(text: str) -> Any:
    v = float(text)
    return v if v not in (float("inf"), float("-inf")) else _OutOfRange(text)


def _loads(text: str) -> Any:
    """json.loads with jtrack's rules: a key repeated in an object keeps its first value;
    a number beyond what a field holds stays as its text, marked _OutOfRange."""
    return json.loads(
        text, object_pairs_hook=_first_wins, parse_int=_parse_int, parse_float=_parse_float
    )


def _out_of_range(value: Any) -> str | None:
    """The first out-of-range number in a decoded value (as text), if any."""
    if isinstance(value, _OutOfRange):
        return str(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            found = _out_of_range(v)
            if found is not None:
                return found
    return None


def _out_of_range_detail(number: str) -> str:
    shown = number if len(number) <= 24 else f"{number[:12]}…({len(number)} characters)"
    return _OUT_OF_RANGE_DETAIL.format(shown)


def _json_or_none(text: str) -> Any:
    """_loads, or None for text that is not JSON (or is nested too deep for Python)."""
    try:
        return _loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        return None


#: JSON nested this many levels deep or more is malformed (serde_json's limit, which the
#: line-by-line path meets in json_path_match; json_decode has none): so on every path.
MAX_DEPTH = 128


def _too_deep(lines: pl.Series) -> pl.Series:
    """Lines nested MAX_DEPTH levels deep or more: rejected as malformed whatever else is in
    the file (the fast path, which decodes every line at once, would keep them, and the
    line-by-line path, taken when any other line is bad, would not). Only lines with that
    many brackets at all (a count in Rust) are parsed again, to tell depth from breadth (a
    long list of objects)."""
    suspect = (lines.str.count_matches(r"[\[{]") >= MAX_DEPTH).fill_null(False)
    if not suspect.any():
        return suspect
    idx = suspect.arg_true()
    some = lines.gather(idx)
    # (null: not parsed; a line that is malformed for another reason is rejected either way)
    deep = some.str.json_path_match("$").is_null() & (some.str.strip_chars() != "null")
    return suspect.scatter(idx, deep.fill_null(True))


def _lone_surrogates(lines: pl.Series) -> pl.Series:
    """Lines holding a \\uD800-\\uDFFF escape that is not part of a pair, where it counts
    (not in the ignored value of a repeated key: the rule of JSON documents, see _loads).
    Only lines with such an escape at all (rare) are looked at closely."""
    suspect = lines.str.contains(r"\\u[dD][89a-fA-F]").fill_null(False)
    if not suspect.any():
        return suspect
    idx = suspect.arg_true()
    lone = _has_lone(lines.gather(idx))
    if lone.any():  # look again at the value that counts, in Python (a few lines)
        again = []
        for text in lines.gather(idx.filter(lone)).to_list():
            obj = _json_or_none(text)
            again.append(text if obj is None else json.dumps(obj, ensure_ascii=True))
        lone = lone.scatter(lone.arg_true(), _has_lone(pl.Series(again, dtype=pl.String)))
    return pl.repeat(False, lines.len(), dtype=pl.Boolean, eager=True).scatter(idx, lone)


def _has_lone(text: pl.Series) -> pl.Series:
    text = text.str.replace_all(r"\\\\", "")  # an escaped backslash escapes nothing
    text = text.str.replace_all(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}", "")
    return text.str.contains(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}").fill_null(False)


def _first_line(chunks: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes]]:
    """Read ahead to the end of the first non-blank line (at most `limit` bytes past it)."""
    head = b""
    for chunk in chunks:
        head += chunk
        body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if b"\n" in body or len(body) > limit:
            break
    return head, _pushback(head, chunks)


def plain_json_lines(path: str | os.PathLike[str], max_line_bytes: int) -> bool:
    """Whether a file is JSON lines as written (UTF-8, not compressed, not a JSON document):
    such a file can be read from any line on, so one that grows is read from where it was
    left. Looks at its first line only."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 16)
    except OSError:
        return False
    if raw[:4] == b"PAR1" or compression(raw) is not None:
        return False
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or utf16_without_bom(raw[:64]) is not None:
        return False
    head, _ = _first_line(_decoded_chunks(Source(str(path), Path(path))), max_line_bytes)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    # (a first line that is no JSON object is a rejected line of JSON lines all the same:
    # taken for a document, the file was read whole at each growth, its rejects again)
    return bool(start) and not start.startswith(b"[") and not _is_document(head, max_line_bytes)


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
    elif not document and first.startswith(b"{"):
        # a page saved on one line (json.dump, curl) longer than a line may be: told by its
        # keys before the "entities" array (scalars only, as a REST page's are)
        page = _PAGE_START.match(first)
        document = page is not None and re.search(rb'"(?:event_)?id"\s*:', page.group()) is None
    return document


def _first_line_is_page(text: str) -> bool:
    """Whether the first line is a whole REST page (an "entities" array and no event id),
    not an event that only begins like one."""
    first = text.lstrip("\ufeff \t\r\n").split("\n", 1)[0]
    obj = _json_or_none(first)
    return isinstance(obj, dict) and isinstance(obj.get("entities"), list) and "id" not in obj


def _long_first_line(head: bytes, max_line_bytes: int) -> bool:
    """Whether the first line is longer than a line may be (a page is told by its start)."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].strip()
    return len(first) > max_line_bytes


#: The start of a REST page written on one line: `{`, any scalar members, `"entities": [`.
_PAGE_START = re.compile(
    rb'\{\s*(?:"[^"\\]*"\s*:\s*(?:null|true|false|-?[0-9][0-9.eE+-]*|"(?:[^"\\]|\\.)*")\s*,\s*)*'
    rb'"entities"\s*:\s*\['
)


#: The environment variable that sets the most bytes a JSON document (an array, a REST
#: page: read whole) may hold once decompressed, as a size (`64MB`), when no
#: --memory-limit is given.
DOCUMENT_LIMIT_ENV = "JTRACK_MAX_DOCUMENT_BYTES"
#: The bound a run set from its --memory-limit (documents_within); None: the machine's.
_DOCUMENT_LIMIT: int | None = None
#: A document may hold this share of --memory-limit (reading one costs 2.5 to 7 times its
#: size: its bytes, its text, its events as lines, then as rows) ...
DOCUMENT_SHARE_OF_LIMIT = 4
#: ... or, without one, this share of the machine's memory (or of the cgroup's limit).
DOCUMENT_SHARE_OF_MEMORY = 16


@contextlib.contextmanager
def documents_within(memory_limit: int | None) -> Iterator[None]:
    """While in it, the JSON documents this process reads may hold a quarter of
    `memory_limit` once decompressed (None: the default, see document_limit)."""
    global _DOCUMENT_LIMIT
    before = _DOCUMENT_LIMIT
    if memory_limit is not None:
        _DOCUMENT_LIMIT = memory_limit // DOCUMENT_SHARE_OF_LIMIT
    try:
        yield
    finally:
        _DOCUMENT_LIMIT = before


def document_limit() -> int:
    """The most bytes a JSON document may hold once decompressed: what the run set from
    the --memory-limit it was given (a quarter of it: an option wins over a variable);
    else $JTRACK_MAX_DOCUMENT_BYTES when set; else a sixteenth of the memory the machine
    has (its cgroup's limit where that is lower)."""
    if _DOCUMENT_LIMIT is not None:
        return _DOCUMENT_LIMIT
    from jtrack.checks import env_value

    raw = env_value(DOCUMENT_LIMIT_ENV, "a size (256MB)", "a share of the machine's memory")
    if raw is not None:
        from jtrack.options import parse_size

        return parse_size(raw, f"${DOCUMENT_LIMIT_ENV}")
    return machine_memory() // DOCUMENT_SHARE_OF_MEMORY


def check_document_limit_env() -> None:
    """A UsageError for a $JTRACK_MAX_DOCUMENT_BYTES that is no size, said before anything is
    read (it was said only once a document was met, after the run had read other files)."""
    from jtrack.checks import env_value

    raw = env_value(DOCUMENT_LIMIT_ENV, "a size (256MB)", "a share of the machine's memory")
    if raw is not None:
        from jtrack.options import parse_size

        parse_size(raw, f"${DOCUMENT_LIMIT_ENV}")


def machine_memory() -> int:
    """The memory this process may have: the machine's (physical pages), or its cgroup's
    limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) where lower; 8 GiB if unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(f) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _document_bytes(chunks: Iterator[bytes], name: str) -> bytes:
    """A JSON document's bytes, whole; a DataError as soon as they pass document_limit
    (counted as they are decompressed: a bomb stops there, not once inflated)."""
    limit = document_limit()
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            from jtrack.options import format_size

            parts.clear()
            raise DataError(
                f"{name}: the JSON document holds more than {format_size(limit)} once "
                "decompressed, more than it may be read whole; nothing from it was read",
                hint="convert it to JSON lines (`jq -c '.[]'`, `jq -c '.entities[]'` for a "
                "REST page), read a block at a time, or raise --memory-limit (or "
                f"${DOCUMENT_LIMIT_ENV})",
            )
        parts.append(chunk)
    return b"".join(parts)


def _read_json_lines(src: Source, max_line_bytes: int) -> tuple[pl.DataFrame, FileStats]:
    """JSONL, or a JSON document (array, REST page): the document is read whole (at most
    document_limit bytes), the lines with max_line_bytes enforced while reading."""
    head, chunks = _first_line(_decoded_chunks(src), max_line_bytes)
    if _is_document(head, max_line_bytes):
        raw = _document_bytes(chunks, src.name)
        text, mark = _decode_text(raw, src.name)
        if mark is not None:
            raise DataError(
                f"{src.name}: the JSON document is not valid UTF-8",
                hint="re-export the file as UTF-8; nothing from it was read",
            )
        try:
            return _read_json_document(src, text.lstrip("\ufeff"), max_line_bytes)
        except NestedEventsError:
            raise
        except DataError:
            if not _long_first_line(head, max_line_bytes) or _first_line_is_page(text):
                raise  # (a page whose file is broken further on: nothing is read)
            # an over-long first event that only began like a page (sorted keys, an
            # "entities" member): JSON lines after all, that line rejected as too long
            chunks = iter([raw])
    data, overlong = _split_limited(chunks, max_line_bytes, src.first_line)
    lines, mark = _text_lines(data, src.first_line, src.name)
    return _decode_lines(src.name, lines, max_line_bytes, "line", mark, _too_long_frame(overlong))


#: JSON lines files of at most this many bytes (decoded) are decoded together with the small
#: files beside them (see decode_small): a decoding has a fixed cost of about 25 ms (the
#: expressions of 71 columns are built and planned), which a folder of 4,000 one-line
#: exports paid 4,000 times (110 s for `usage`, 190 s for `sessionize`).
SMALL_FILE_BYTES = 1 << 20
#: Line numbers of the files decoded together are offset by their place in the batch
#: shifted this far (a file has fewer than 2**40 lines).
_FILE_SHIFT = 40


@dataclass
class SmallFile:
    """The lines of a small JSON lines file, read but not decoded (see small_json_lines)."""

    src: Source
    lines: pl.DataFrame  # _text_lines, or a document's _document_lines
    too_long: pl.DataFrame | None
    newlines: int | None
    genesys: bool
    nbytes: int
    document: bool = False  # a JSON document (an array, a REST page) of few events


def small_json_lines(src: Source, max_line_bytes: int) -> SmallFile | None:
    """The lines of `src` (its events, one a line, for a JSON document) when it is a file
    of at most SMALL_FILE_BYTES once decompressed, in valid UTF-8; None: read it the usual
    way. Raises what reading the file raises (a truncated .gz, a malformed document:
    DataError)."""
    if src.path is None:
        return None
    try:
        end = src.end if src.end is not None else src.path.stat().st_size
        if end - src.offset > SMALL_FILE_BYTES:
            return None
    except OSError:
        return None

    def bounded(chunks: Iterator[bytes]) -> Iterator[bytes]:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > SMALL_FILE_BYTES:
                raise _TooBig
            yield chunk

    try:
        head, chunks = _first_line(bounded(_decoded_chunks(src)), max_line_bytes)
        if _is_document(head, max_line_bytes):
            text, mark = _decode_text(b"".join(chunks), src.name)
            if mark is not None:
                return None  # (read alone: the error it is)
            try:
                lines = _document_lines(src, text.lstrip("\ufeff"))
            except DataError:
                return None  # (read alone: the error it is, or JSON lines after all)
            genesys = _detect_shape(lines["line"])
            return SmallFile(src, lines, None, None, genesys, len(text), document=True)
        blocks = list(_split_blocks(chunks, max_line_bytes, None, src.first_line))
    except _TooBig:
        return None
    data = b"".join(b.data for b in blocks)
    lines, mark = _text_lines(data, src.first_line, src.name)
    if mark is not None:
        return None
    overlong = [o for b in blocks for o in b.overlong]
    newlines = blocks[-1].newlines if blocks else src.first_line - 1
    genesys = _detect_shape(lines["line"])
    return SmallFile(src, lines, _too_long_frame(overlong), newlines, genesys, len(data))


class _TooBig(Exception):
    """A file grew past SMALL_FILE_BYTES once decompressed."""


def decode_small(
    files: Sequence[SmallFile], max_line_bytes: int
) -> list[tuple[pl.DataFrame, FileStats]]:
    """Each file's rows and accounting, as read_source gives them (its block-wise stats'
    `lines` too), from one decoding of all their lines. The files are of one shape (but for
    files without a line, which count as the shape read_source gives them) and all JSON
    lines or all documents."""
    shapes = {f.genesys for f in files if f.lines.height}
    assert len(shapes) <= 1, "decode_small: files of one shape"
    assert len({f.document for f in files}) <= 1, "decode_small: lines or documents"
    genesys = shapes.pop() if shapes else True
    unit = "entity" if files and files[0].document else "line"

    def shifted(frame: pl.DataFrame, k: int) -> pl.DataFrame:
        return frame.with_columns(pl.col(SRC_LINE).cast(pl.Int64) + (k << _FILE_SHIFT))

    lines = pl.concat([shifted(f.lines, k) for k, f in enumerate(files)], how="vertical_relaxed")
    long_parts = [shifted(f.too_long, k) for k, f in enumerate(files) if f.too_long is not None]
    too_long = pl.concat(long_parts) if long_parts else None
    out, stats = _decode_lines(
        "", lines, max_line_bytes, unit, None, too_long, genesys, sample=(0, 0)
    )
    out = out.with_columns(
        (pl.col(SRC_LINE) // (1 << _FILE_SHIFT)).cast(pl.UInt32).alias("_k"),
        pl.col(SRC_LINE) % (1 << _FILE_SHIFT),
    )
    parts = out.partition_by("_k", as_dict=True, include_key=False)
    empty = out.clear().drop("_k")
    results = []
    for k, f in enumerate(files):
        rows = parts.get((k,), empty).with_columns(pl.lit(f.src.name).alias(SRC_FILE))
        n_long = f.too_long.height if f.too_long is not None else 0
        st = FileStats(
            f.src.name,
            ("genesys" if f.genesys else "flat") + ("-json-document" if f.document else "-jsonl"),
            rows_read=f.lines.height + n_long,
            rows_rejected=int(rows.get_column(REASON).is_not_null().sum()),
            no_zone=kept_without_zone(rows),
            lines=f.newlines,
        )
        # (a small file: its first lines and a few more, as a large one's first block)
        st.unread, st.looked = _sampled_unread(f.lines, genesys, SAMPLE_HEAD, SAMPLE_SPREAD)
        results.append((rows, st))
    assert sum(st.rows_read for _, st in results) == stats.rows_read
    return results


def _too_long_frame(overlong: list[_Overlong]) -> pl.DataFrame | None:
    if not overlong:
        return None
    return pl.DataFrame(
        {
            SRC_LINE: [o.line for o in overlong],
            "line": [shown_head(o.head)[:_RAW_KEEP] for o in overlong],
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
    newlines = src.first_line - 1
    for block in _split_blocks(chunks, max_line_bytes, block_bytes, src.first_line):
        newlines = block.newlines
        lines, mark = _text_lines(block.data, block.first_line, src.name)
        if genesys is None:
            genesys = _detect_shape(lines["line"])
        sample = (SAMPLE_HEAD if total is None else 0, SAMPLE_SPREAD)
        frame, st = _decode_lines(
            src.name,
            lines,
            max_line_bytes,
            "line",
            mark,
            _too_long_frame(block.overlong),
            genesys,
            sample,
        )
        if total is None:
            total = st
        else:
            total.add(st)
        yield frame, total
    if total is None:  # an empty file: the same accounting as a whole read
        frame, total = _decode_lines(src.name, _lines_frame(""), max_line_bytes, "line")
        yield frame, total
    # (the stats yielded last, filled in once every block was read)
    total.lines = newlines


#: A line holding more than whitespace (Unicode's, as strip_chars strips: a regex that stops
#: at a line's first character, where stripping would copy every line).
_NOT_BLANK = pl.col("line").str.contains(r"\S")


def _lines_frame(text: str, first_line: int = 1) -> pl.DataFrame:
    """Physical lines with their numbers (blank lines counted, then dropped)."""
    s = pl.Series("line", text.split("\n"), dtype=pl.String)  # str.split: C speed
    df = s.to_frame().with_row_index(SRC_LINE, offset=first_line)
    line = pl.col("line")
    # (only the few lines that have them are copied)
    bare = line.str.strip_suffix("\r").str.strip_prefix("\ufeff")
    trimmed = pl.when(line.str.ends_with("\r") | line.str.starts_with("\ufeff")).then(bare)
    return (
        df.lazy().with_columns(trimmed.otherwise(line).alias("line")).filter(_NOT_BLANK).collect()
    )


def _looks_compressed(data: bytes) -> bool:
    """Whether Polars' readers would take `data` for a compressed stream (its magic bytes)."""
    head = data[:4]
    return (
        head[:2] == b"\x1f\x8b"
        or head == b"\x28\xb5\x2f\xfd"
        or (len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0)
    )


def _text_lines(data: bytes, first_line: int, name: str) -> tuple[pl.DataFrame, str | None]:
    """_lines_frame of `data`'s text, and the marker standing for bytes that were not UTF-8
    (_decode_text). Valid UTF-8 (nearly always) is split by Polars without a Python string
    (a third of the time): scan_lines splits at "\n" and removes one "\r" before it, as
    _lines_frame does. Text that starts like a compressed stream (gzip, zstd, zlib: Polars
    would decompress it, or fail with an OSError) goes the Python way too."""
    if _looks_compressed(data):
        text, mark = _decode_text(data, name)
        return _lines_frame(text, first_line), mark
    try:
        df = (
            pl.scan_lines(data, name="line")
            .with_row_index(SRC_LINE, offset=first_line)
            .with_columns(pl.col("line").str.strip_prefix("\ufeff"))
            .filter(_NOT_BLANK)
            .collect()
        )
    except pl.exceptions.PolarsError:  # not UTF-8: Python marks the bytes that are not
        text, mark = _decode_text(data, name)
        return _lines_frame(text, first_line), mark
    return df, None


def _decode_all(lines: pl.Series, dtype: pl.Struct) -> pl.Series | None:
    """The fast path of clean input: every line is an object and all of them decode at once
    (json_decode raises on anything malformed or misfitting). None: look line by line."""
    # (the plain test first: stripping copies every line, and lines rarely start with a space)
    if not (
        lines.str.starts_with("{").all() or lines.str.strip_chars_start().str.starts_with("{").all()
    ):
        return None
    try:
        return _json_decode(lines, dtype)
    except pl.exceptions.PolarsError:
        return None


#: Lines json_decode takes at a time: Polars decodes a long series more slowly per line (1.1 s
#: for 80k Genesys lines at once, 0.45 s in pieces of 5k, 0.26 s with the pieces side by side
#: on two cores).
_DECODE_LINES = 4096


def _json_decode(lines: pl.Series, dtype: pl.Struct) -> pl.Series:
    """lines.str.json_decode(dtype), in pieces of _DECODE_LINES decoded side by side; raises
    as json_decode does."""
    n = lines.len()
    if n <= _DECODE_LINES:
        return lines.str.json_decode(dtype)
    frame = lines.to_frame("line")
    pieces = pl.collect_all(
        [
            frame.slice(start, _DECODE_LINES).lazy().select(pl.col("line").str.json_decode(dtype))
            for start in range(0, n, _DECODE_LINES)
        ]
    )
    return pl.concat([p.get_column("line") for p in pieces]).alias(lines.name)


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
            return [(lo, _json_decode(part, dtype))]
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
    return _decode_lines(src.name, _document_lines(src, text), max_line_bytes, "entity")


def _document_lines(src: Source, text: str) -> pl.DataFrame:
    """A JSON document's events, each written as one line (with `_number`: an out-of-range
    number found in it), numbered from 1; DataError for a document that holds no events."""
    try:
        doc = _loads(text)
    except json.JSONDecodeError as exc:
        # REST pages a paging script appended to one file (a page a line, or each
        # pretty-printed): their events
        pages = _pages_per_line(text) if exc.msg == "Extra data" else None
        if pages is None:
            nested = _nested_pages_hint(text, src.name) if exc.msg == "Extra data" else None
            if nested is not None:  # (documents appended one after another: jq reads them)
                raise NestedEventsError(
                    f"{src.name}: the JSON documents in it hold no events of their own",
                    hint=nested,
                ) from None
            raise DataError(
                f"{src.name}: line {exc.lineno}: the JSON document is malformed ({exc.msg})",
                hint="check the file is complete; nothing from it was read",
            ) from exc
        doc = {"entities": [e for page in pages for e in page]}
    except RecursionError:
        raise DataError(
            f"{src.name}: the JSON document is nested too deeply to be events",
            hint="events nest a few levels; check the export; nothing from it was read",
        ) from None
    if isinstance(doc, dict):
        entities = doc.get("entities")
        if not isinstance(entities, list):
            nested = nested_events_hint(doc, src.name)
            raise (DataError if nested is None else NestedEventsError)(
                f"{src.name}: a JSON document must be an array of events or a page "
                'with an "entities" array',
                hint=nested or "export one event per line (JSONL) or a REST page",
            )
        each = ".entities[]"
    else:
        entities, each = doc, ".[]"
    if entities and all(
        isinstance(e, dict) and "id" not in e and "event_id" not in e for e in entities[:100]
    ):  # (each item an object holding events of its own: `[{"data": [...]}]`)
        nested = nested_events_hint(entities[0], src.name, each)
        if nested is not None:
            raise NestedEventsError(
                f"{src.name}: the items of the JSON document are not events", hint=nested
            )
    if entities and all(_is_session_object(e) for e in entities):
        raise DataError(
            f"{src.name}: this is a page of Genesys sessions (Session objects), not of events",
            hint="export the events (GET /api/v2/journey/sessions/{sessionId}/events, or "
            "the Journey events export); nothing from it was read",
        )
    # REST pages hold at most a few hundred events: re-encoding them is cheap. ASCII escapes
    # keep a lone surrogate visible (\\ud800) for the same check as in JSON lines.
    try:
        encoded = [json.dumps(e, ensure_ascii=True) for e in entities]
    except (RecursionError, ValueError) as exc:
        raise DataError(
            f"{src.name}: an entity of the JSON document cannot be read ({exc})",
            hint="check the export; nothing from it was read",
        ) from None
    numbers = _NUMBER_SUSPECT.search(text) is not None
    big = [_out_of_range(e) for e in entities] if numbers else [None] * len(entities)
    # each entity is numbered by the file line it starts on (a pretty-printed page: where
    # an editor finds it), or by its place in the document when some share a line
    lines = _entity_lines(text, len(entities))
    if lines is None or any(a >= b for a, b in pairwise(lines)):
        lines = list(range(1, len(entities) + 1))
    return pl.DataFrame(
        {
            SRC_LINE: pl.Series(lines, dtype=pl.UInt32),
            "line": pl.Series(encoded, dtype=pl.String),
            "_number": pl.Series(big, dtype=pl.String),
        }
    )


class NestedEventsError(DataError):
    """A JSON document whose events sit under keys jtrack does not read (its hint says
    where, and how to take them out): never read again as JSON lines."""


def _nested_pages_hint(text: str, name: str) -> str | None:
    """nested_events_hint of the first of JSON documents written one after another."""
    try:
        first, _ = json.JSONDecoder().raw_decode(text, _SPACE.match(text, 0).end())  # type: ignore[union-attr]
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(first, dict) and isinstance(first.get("entities"), list):
        return None  # (REST pages, one of them broken further on: that is said instead)
    return nested_events_hint(first, name)  # (None for an event: pretty-printed lines)


def _pages_per_line(text: str) -> list[list[Any]] | None:
    """The entities of each page of a file of REST pages written one after another (a paging
    script appending each response: one a line, or pretty-printed); None when anything in it
    is not such a page."""
    decode = json.JSONDecoder(
        object_pairs_hook=_first_wins, parse_int=_parse_int, parse_float=_parse_float
    ).raw_decode
    pages = []
    i, n = _SPACE.match(text, 0).end(), len(text)  # type: ignore[union-attr]
    while i < n:
        try:
            page, i = decode(text, i)
        except (json.JSONDecodeError, RecursionError):
            return None
        if not isinstance(page, dict) or not isinstance(page.get("entities"), list):
            return None
        pages.append(page["entities"])
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
    return pages


_SPACE = re.compile(r"[ \t\n\r]*")


def _entity_lines(text: str, n: int) -> list[int] | None:
    """The file line each of the first `n` entities of a valid JSON document (an array, or a
    page whose first "entities" member is one) starts on; None when they cannot be told."""
    decode = json.JSONDecoder().raw_decode

    def skip(i: int) -> int:  # past the white space at i (_SPACE matches anywhere)
        return _SPACE.match(text, i).end()  # type: ignore[union-attr]

    try:
        i = skip(0)
        if text.startswith("{", i):  # a page: its members up to the first "entities"
            i = skip(i + 1)
            while True:
                key, i = decode(text, i)
                i = skip(skip(i) + 1)  # (past the ":")
                if key == "entities":
                    break
                i = skip(decode(text, i)[1])
                if not text.startswith(",", i):
                    return None
                i = skip(i + 1)
        if not text.startswith("[", i):
            return None
        i = skip(i + 1)
        starts: list[int] = []
        while len(starts) < n:
            starts.append(i)
            i = skip(decode(text, i)[1])
            if text.startswith(",", i):
                i = skip(i + 1)
    except (ValueError, IndexError, RecursionError):
        return None
    lines, line, prev = [], 1, 0
    for start in starts:
        line += text.count("\n", prev, start)
        lines.append(line)
        prev = start
    return lines


#: The reject detail of a line of JSON objects one after another (`{...}{...}`), as AWS
#: Firehose writes records without a delimiter (see validate.reject_hint).


def _several_values(line: str) -> bool:
    """Whether a rejected line is two or more whole JSON objects one after another (a
    Firehose record stream), not one object broken in the middle (`{...} {...}` inside
    it, a comma missing). Called on rejected lines only."""
    decoder = json.JSONDecoder()
    at, n, text = 0, 0, line.strip()
    while at < len(text):
        try:
            value, end = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):  # (not JSON, or nested past Python's stack)
            return False
        if not isinstance(value, dict):
            return False
        n += 1
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return n >= 2


#: The reject detail of a line of markup: a web page saved under the export's name.
_GENESYS_TO_FIELD = {f.genesys: f.name for f in EVENT_FIELDS if f.genesys}
#: Fields of a Genesys Session object that no event has (GET /api/v2/journey/sessions/...).
_SESSION_ONLY = ("endedDate", "shortId", "lastEvent", "awayDate", "idleDate")


def _is_session_object(entity: Any) -> bool:
    """Whether a REST page's entity is a Session object (no eventType, a session's fields)."""
    return (
        isinstance(entity, dict)
        and "eventType" not in entity
        and any(k in entity for k in _SESSION_ONLY)
    )


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
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """For rows Polars could not decode: the reason (wrong_type, or number_out_of_range), the
    canonical field and a message saying why.

    Runs in Python, but only over the rows that failed (already isolated one by one).
    """
    n = lines.len()
    reason_s = pl.repeat("wrong_type", n, dtype=pl.String, eager=True)
    field_s = pl.repeat(None, n, dtype=pl.String, eager=True)
    detail_s = pl.repeat(None, n, dtype=pl.String, eager=True)
    bad = errs.is_not_null()
    if not bad.any():
        return reason_s, field_s, detail_s
    idx = bad.arg_true()
    dtype = GENESYS_STRUCT if genesys else FLAT_STRUCT
    reasons: list[str] = []
    fields: list[str] = []
    details: list[str] = []
    for line, err in zip(lines.gather(idx).to_list(), errs.gather(idx).to_list(), strict=True):
        obj = _json_or_none(line)
        number = _out_of_range(obj)
        if number is not None:
            reasons.append("number_out_of_range")
            fields.append("")
            details.append(_out_of_range_detail(number))
            continue
        reasons.append("wrong_type")
        found = _type_error_at(obj, dtype, "")
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
    reason_s = reason_s.scatter(idx, pl.Series(reasons, dtype=pl.String))
    field_s = field_s.scatter(idx, pl.Series(fields, dtype=pl.String))
    detail_s = detail_s.scatter(idx, pl.Series(details, dtype=pl.String))
    return reason_s, field_s, detail_s


def _detect_shape(lines: pl.Series) -> bool:
    """True for the Genesys envelope, False for the flat shape, by the first object's keys
    (jtrack.read.validate.is_genesys_shape: the shape whose required keys are there)."""
    for line in lines.head(20).to_list():
        obj = _json_or_none(line) if isinstance(line, str) else None
        if isinstance(obj, dict):
            return is_genesys_shape(obj)
    return True


def _decode_lines(
    name: str,
    lines: pl.DataFrame,
    max_line_bytes: int,
    unit: str,
    mark: str | None = None,
    too_long: pl.DataFrame | None = None,
    genesys: bool | None = None,
    sample: tuple[int, int] = (SAMPLE_HEAD, SAMPLE_SPREAD),
) -> tuple[pl.DataFrame, FileStats]:
    """Decode JSON lines into canonical columns; every line is kept or gets a reason.

    `mark` stands for bytes that were not UTF-8; `too_long` lists the lines left out unread
    because they were longer than max_line_bytes; `genesys` the file's shape (None: detect
    it from these lines). `lines` may carry `_number`: an out-of-range number already found
    in the line (JSON documents are parsed in Python first). `sample`: the first lines and
    the lines spread through the rest looked at for fields jtrack does not read
    (FileStats.unread; (0, 0): none).
    """
    if genesys is None:
        genesys = _detect_shape(lines["line"])
    n_long = too_long.height if too_long is not None else 0
    stats = FileStats(
        name,
        ("genesys" if genesys else "flat") + ("-jsonl" if unit == "line" else "-json-document"),
        rows_read=lines.height + n_long,
    )
    if any(sample):
        stats.unread, stats.looked = _sampled_unread(lines, genesys, *sample)
    if "_number" not in lines.columns:
        lines = lines.with_columns(pl.lit(None, pl.String).alias("_number"))
    lines = lines.with_columns(
        _lone_surrogates(lines["line"]).alias("_lone"), _too_deep(lines["line"]).alias("_deep")
    )
    line = pl.col("line")
    invalid = line.str.contains(mark, literal=True) if mark is not None else pl.lit(False)
    dtype = GENESYS_STRUCT if genesys else FLAT_STRUCT
    cheap = (
        pl.when(line_bytes(line, mark) > max_line_bytes)
        .then(pl.lit("line_too_long"))
        .when(invalid | pl.col("_lone"))
        .then(pl.lit("invalid_utf8"))
        .when(line.str.contains("\x00", literal=True))
        .then(pl.lit("nul_bytes"))
        .when(pl.col("_number").is_not_null())
        .then(pl.lit("number_out_of_range"))
        .when(pl.col("_deep"))
        .then(pl.lit("malformed_json"))
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
        pre = _readable_by_python(pre)
        ok = pre.filter(pl.col("_pre").is_null())
        decoded, errs = _decode_robust(ok["line"], dtype)
    decoded, errs = _decode_again(ok["line"], decoded, errs, dtype, genesys)
    body = pl.DataFrame({"_ev": decoded, "_decode_err": errs}).unnest("_ev")
    raw_created = "createdDate" if genesys else "created_date"
    extra = [
        (pl.col(raw_created).is_null() & pl.col("_decode_err").is_null()).alias(
            "_created_raw_missing"
        ),
        pl.col("_decode_err"),
    ]
    if genesys:
        extra += [
            pl.col("webEvent").is_not_null().alias("_has_web"),
            pl.col("segmentAssignmentEvent").is_not_null().alias("_has_seg"),
            pl.col("outcomeAchievedEvent").is_not_null().alias("_has_out"),
            pl.col("webActionEvent").is_not_null().alias("_has_act"),
        ]
    schema = dict(body.schema)
    sel, details = _canonical_select(schema, genesys)
    # (lazy: the columns are worked out side by side)
    canon = body.lazy().select(*sel, *extra, kind=pl.lit(None, pl.String)).collect()
    if not genesys and "kind" in schema:
        canon = canon.with_columns(kind=body["kind"])
    canon = _finish(canon, genesys, flat_kind=not genesys, details=details)
    err_reason, err_field, err_detail = _locate_decode_errors(ok["line"], errs, genesys)
    failed = pl.col("_decode_err").is_not_null()
    canon = canon.with_columns(
        pl.when(failed).then(err_reason).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(failed).then(err_field).otherwise(pl.col(REASON_FIELD)).alias(REASON_FIELD),
        pl.when(failed).then(err_detail).otherwise(pl.col("_detail")).alias("_detail"),
    ).drop("_decode_err")
    canon = canon.with_columns(ok[SRC_LINE].cast(pl.Int64).alias(SRC_LINE), ok["line"].alias(RAW))
    canon = with_value_details(canon, genesys)
    bad_pre = pre.filter(pl.col("_pre").is_not_null())
    pre_rejects = bad_pre.select(
        pl.col(SRC_LINE).cast(pl.Int64),
        pl.col("_pre").alias(REASON),
        pl.lit("").alias(REASON_FIELD),
        pl.when(pl.col("_pre") == "line_too_long")
        .then(pl.format("the line is {} bytes long", line_bytes(pl.col("line"), mark)))
        .when((pl.col("_pre") == "invalid_utf8") & pl.col("_lone"))
        .then(pl.lit(LONE_SURROGATE_DETAIL))
        .when(pl.col("_pre") == "number_out_of_range")
        .then(pl.col("_number").map_elements(_out_of_range_detail, return_dtype=pl.String))
        .when(
            (pl.col("_pre") == "malformed_json")
            & pl.col("line").str.strip_chars_start().str.starts_with("<")
        )
        .then(pl.lit(MARKUP_DETAIL))
        .when(
            (pl.col("_pre") == "malformed_json")
            & pl.col("line").str.contains(r"^\s*\{.*\}\s*\{.*\}\s*$")
            # (and the line is such values, whole: not an object missing a comma)
            & pl.col("line").map_elements(_several_values, return_dtype=pl.Boolean)
        )
        .then(pl.lit(CONCATENATED_DETAIL))
        .alias("_detail"),
        (shown_bytes(pl.col("line"), mark) if mark is not None else pl.col("line"))
        .str.slice(0, _RAW_KEEP)
        .alias(RAW),
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
    if any(part.height for part in parts[1:]):
        out = pl.concat(parts, how="diagonal_relaxed").sort(SRC_LINE)
    else:  # nothing rejected before decoding: the decoded rows are in line order already
        shape = pl.concat([part.head(0) for part in parts], how="diagonal_relaxed").schema
        out = canon.select(
            pl.col(c).cast(t) if c in canon.columns else pl.lit(None, t).alias(c)
            for c, t in shape.items()
        )
    out = out.with_columns(pl.lit(name).alias(SRC_FILE))
    stats.rows_rejected = int(out[REASON].is_not_null().sum())
    stats.no_zone = kept_without_zone(out)
    return out, stats


def _sampled_unread(
    lines: pl.DataFrame, genesys: bool, head: int, spread: int
) -> tuple[dict[str, int | None], int]:
    """The fields jtrack does not read of a sample of `lines` (jtrack.read.fields: the
    first `head` lines and `spread` more through the rest; lines read already, a bound on
    the Python work whatever their number)."""
    rows = sample_rows(lines.height, head, spread)
    if not rows:
        return {}, 0
    picked = lines.get_column("line").gather(rows).to_list()
    counts, looked = unread_in_lines(picked, genesys)
    return dict(counts), looked


def _readable_by_python(pre: pl.DataFrame) -> pl.DataFrame:
    """Lines Polars found malformed that are JSON to _loads (Polars reads no integer of 400
    digits at all, nor some escapes, even as a repeated key's ignored value): as in a JSON
    document, number_out_of_range when an out-of-range number counts; else they go on to be
    decoded (from _loads, see _decode_again). Python looks at malformed lines only."""
    cand = pre.filter((pl.col("_pre") == "malformed_json").fill_null(False))
    if cand.height == 0:
        return pre
    found: dict[int, str] = {}
    parsed: list[tuple[int, str]] = []
    for n, text in cand.select(SRC_LINE, "line").iter_rows():
        obj = _json_or_none(text)
        if obj is None:
            continue
        number = _out_of_range(obj)
        if number is not None:
            found[n] = number
        elif isinstance(obj, dict):
            parsed.append((n, json.dumps(obj, ensure_ascii=True)))
    # readable: what Polars reads once written plainly (not NaN, not 200 levels deep)
    again = pl.Series([t for _, t in parsed], dtype=pl.String)
    ok = again.str.json_path_match("$").is_not_null().to_list()
    readable = [n for (n, _), good in zip(parsed, ok, strict=True) if good]
    if not found and not readable:
        return pre
    hit = pl.col(SRC_LINE).is_in(list(found))
    return pre.with_columns(
        pl.when(hit)
        .then(pl.lit("number_out_of_range"))
        .when(pl.col(SRC_LINE).is_in(readable))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("_pre"))
        .alias("_pre"),
        pl.when(hit)
        .then(pl.col(SRC_LINE).replace_strict(found, default=None, return_dtype=pl.String))
        .otherwise(pl.col("_number"))
        .alias("_number"),
    )


def _decode_again(
    lines: pl.Series, decoded: pl.Series, errs: pl.Series, dtype: pl.Struct, genesys: bool
) -> tuple[pl.Series, pl.Series]:
    """Rows Polars could not decode as written, or may have decoded by another rule, decoded
    again from _loads (the rules of JSON documents: a repeated key keeps its first value, a
    number beyond range only matters where it counts), so one rule holds on every path.

    Polars keeps the first value of a repeated key in an object it decodes as a struct but
    the last in attributes and traits (maps): rows with more `"value"` or `"dataType"` keys
    than map entries may have lost a repeated name. Only those rows and failed rows are
    looked at in Python."""
    if decoded.len() == 0:
        return decoded, errs
    cand = errs.is_not_null()
    if genesys:
        web = pl.col("d").struct.field("webEvent")
        counts = (  # (lazy: the three counts side by side)
            pl.DataFrame({"line": lines, "d": decoded})
            .lazy()
            .select(
                entries=web.struct.field("attributes").map.len().fill_null(0).cast(pl.Int64)
                + web.struct.field("traits").map.len().fill_null(0).cast(pl.Int64),
                values=pl.col("line").str.count_matches(r'"value"\s*:').cast(pl.Int64),
                types=pl.col("line").str.count_matches(r'"dataType"\s*:').cast(pl.Int64),
            )
            .collect()
        )
        entries = counts.get_column("entries")
        cand = (
            cand | (counts.get_column("values") > entries) | (counts.get_column("types") > entries)
        )
        # a name repeated with a value that is no {"value": ...} object (null, a scalar) is
        # not counted above: rows where a decoded name occurs twice as a quoted string (a
        # superset: the name may also be some value of the row) are decoded again too
        # (the keys are taken before any row is left out: filtering the decoded rows first
        # would copy the whole nested struct, three times the cost of the rest)
        rows = pl.DataFrame({"line": lines, "d": decoded}).lazy().with_row_index("_i")
        names = (
            pl.concat(
                [
                    rows.select("_i", "line", key=web.struct.field(m).map.keys())
                    for m in ("attributes", "traits")
                ]
            )
            .explode("key")
            .filter(pl.col("key").is_not_null())
            .filter(
                pl.col("line").str.count_matches(
                    pl.lit('"') + pl.col("key") + pl.lit('"'), literal=True
                )
                > 1
            )
            .select(pl.col("_i").unique())
            .collect()
            .get_column("_i")
        )
        if names.len():
            cand = cand.scatter(names, True)
    if not cand.any():
        return decoded, errs
    idx = cand.arg_true()
    again: list[str | None] = []
    for text in lines.gather(idx).to_list():
        obj = _json_or_none(text)
        ok = isinstance(obj, dict) and _out_of_range(obj) is None
        again.append(json.dumps(obj, ensure_ascii=True) if ok else None)
    redo = pl.Series(again, dtype=pl.String)
    use = redo.is_not_null()
    if not use.any():
        return decoded, errs
    sub = idx.filter(use)
    dec2, err2 = _decode_robust(redo.filter(use), dtype)
    keep = pl.DataFrame({"_i": pl.arange(0, decoded.len(), eager=True), "d": decoded, "e": errs})
    keep = keep.filter(~pl.col("_i").is_in(sub.cast(pl.Int64).implode()))
    redone = pl.DataFrame({"_i": sub.cast(pl.Int64), "d": dec2, "e": err2})
    both = pl.concat([keep, redone], how="vertical_relaxed").sort("_i")
    return both["d"].alias(decoded.name), both["e"].alias(errs.name)
