"""Bytes to text: chunked reads, gzip, zstd, bzip2 and xz (detected from content), UTF-16
(with a BOM, or without one when the file starts with JSON), lines split in bounded blocks
(a line longer than max_line_bytes is never held whole), and UTF-8 checks that mark bytes
which are not UTF-8. Imports Polars only."""

from __future__ import annotations

import bz2
import codecs
import lzma
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from jtrack.errors import DataError
from jtrack.read.sources import Source, _open_error, compression

# --------------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------------


_CHUNK = 1 << 20  # bytes read at a time; memory per line is bounded by max_line_bytes + this


def _raw_chunks(src: Source) -> Iterator[bytes]:
    """The source's bytes, a chunk at a time (never the whole file at once for paths)."""
    if src.data is not None:
        for i in range(0, len(src.data), _CHUNK):
            yield src.data[i : i + _CHUNK]
        return
    assert src.path is not None
    try:
        with open(src.path, "rb") as fh:
            if src.offset:
                fh.seek(src.offset)
            left = -1 if src.end is None else src.end - src.offset
            while left and (chunk := fh.read(_CHUNK if left < 0 else min(_CHUNK, left))):
                left -= len(chunk) if left > 0 else 0
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


#: Compressed bytes handed to zstd's decompressor at a time: at most 8 MiB out of each.
_ZSTD_FEED = 256


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
            # (fed a little at a time: its decompressor takes no bound on its output, and a
            # byte of a bomb of spaces is 32 KiB of them)
            for at in range(0, len(chunk), _ZSTD_FEED):
                data = chunk[at : at + _ZSTD_FEED]
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


def _unstream(
    chunks: Iterator[bytes],
    name: str,
    codec: str,
    make: Callable[[], Any],
    error: type[Exception],
) -> Iterator[bytes]:
    """Decompress bzip2 or xz with the standard library's decompressor `make()` (several
    streams too, and xz's zero padding between them); output at most _CHUNK at a time (no
    blow-up on a bomb); a truncated or corrupt stream raises DataError."""
    d, started = make(), False
    try:
        for chunk in chunks:
            data = chunk
            while True:
                out = d.decompress(data, _CHUNK)
                started, data = True, b""
                if out:
                    yield out
                if d.eof:  # end of a stream: what follows is another stream or padding
                    data = d.unused_data.lstrip(b"\0")
                    d, started = make(), False
                    if not data:
                        break
                elif d.needs_input:
                    break
        if started and not d.eof:
            raise _corrupt(name, codec, "the stream ends before its end-of-stream marker")
    except (error, EOFError) as exc:
        raise _corrupt(name, codec, exc) from exc


def _bunzip2(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    return _unstream(chunks, name, "bzip2", bz2.BZ2Decompressor, OSError)


def _unxz(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    return _unstream(chunks, name, "xz", lzma.LZMADecompressor, lzma.LZMAError)


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
    """UTF-8 bytes of the source: decompressed (gzip, zstd, bzip2, xz: detected from
    content) and re-encoded from UTF-16 when the file starts with a UTF-16 byte-order mark."""
    raw = _raw_chunks(src)
    head = b""
    for chunk in raw:
        head += chunk
        if len(head) >= 10:
            break
    chunks = _pushback(head, raw)
    codec = compression(head)
    if codec is not None:
        chunks = _DECOMPRESS[codec](chunks, src.name)
    # look at the (decompressed) start for a UTF-16 byte-order mark, or UTF-16 without one
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _UTF16_SNIFF:
            break
    chunks = _pushback(head, chunks)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _utf16_to_utf8(chunks, "utf-16")
    bomless = utf16_without_bom(head)
    if bomless is not None:
        return _utf16_to_utf8(chunks, bomless)
    return chunks


#: How each compression jtrack reads (see sources.compression) is decompressed.
_DECOMPRESS: dict[str, Callable[[Iterator[bytes], str], Iterator[bytes]]] = {
    "gzip": _gunzip,
    "zstd": _unzstd,
    "bzip2": _bunzip2,
    "xz": _unxz,
}


#: Bytes looked at to recognise UTF-16 without a byte-order mark.
_UTF16_SNIFF = 64


def utf16_without_bom(head: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" when a file starts with JSON (`{` or `[`, after any blank)
    written as UTF-16 without a byte-order mark: every one of its first (up to 32) code
    units is an ASCII character, its other byte zero. None otherwise (a NUL byte elsewhere
    stays a nul_bytes reject)."""
    n = min(len(head), _UTF16_SNIFF) // 2 * 2
    if n < 4:
        return None
    for enc, low in (("utf-16-le", 0), ("utf-16-be", 1)):
        chars = head[low:n:2]
        zeros = head[1 - low : n : 2]
        ascii_units = zeros.count(0) == len(zeros) and 0 not in chars and max(chars) < 0x80
        if ascii_units and chars.lstrip(b" \t\r\n")[:1] in (b"{", b"["):
            return enc
    return None


@dataclass
class _Overlong:
    line: int  # 1-based physical line number
    size: int  # bytes, without the newline
    head: bytes  # the first bytes, for the rejects file


def _split_limited(
    chunks: Iterator[bytes], max_line_bytes: int, first_line: int = 1
) -> tuple[bytes, list[_Overlong]]:
    """Join the chunks, leaving out lines longer than max_line_bytes.

    An overlong line is replaced by an empty line (so line numbers stay right) and recorded;
    it is never held in memory whole. Lines shorter than a chunk are checked later, in Polars.
    """
    blocks = list(_split_blocks(chunks, max_line_bytes, None, first_line))
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
    #: newlines from the file's start to the end of this block (the last block's: the
    #: file's physical lines, but an unfinished last one)
    newlines: int = 0


def _split_blocks(
    chunks: Iterator[bytes], max_line_bytes: int, block_bytes: int | None, first_line: int = 1
) -> Iterator[_Block]:
    """The lines of the chunks in blocks of about block_bytes (None: one block), each ending
    at a line end; overlong lines are left out as in _split_limited. The chunks' first line
    is the file's line `first_line` (a growing file read from where it was left). A chunk's
    whole lines are kept as a view of it: the block is the one copy made of the bytes."""
    kept: list[bytes | memoryview] = []
    size = 0
    overlong: list[_Overlong] = []
    newlines = first_line - 1  # newlines before the end of `kept`, from the file's start
    first = first_line  # file line number of the current block's first line
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
        last = chunk.rfind(b"\n")
        if last >= 0:
            if partial:
                kept.append(partial)
                size += len(partial)
            kept.append(memoryview(chunk)[: last + 1])
            size += last + 1
            newlines += chunk.count(b"\n", 0, last + 1)
            partial = chunk[last + 1 :]
        else:
            partial += chunk
        if len(partial) > max_line_bytes:
            skip = _Overlong(newlines + 1, len(partial), partial[:_RAW_KEEP])
            partial = b""
        if block_bytes is not None and size >= block_bytes and skip is None:
            yield _Block(b"".join(kept), first, overlong, newlines)
            kept, size, overlong, first = [], 0, [], newlines + 1
    if skip is not None:
        overlong.append(skip)
    elif partial:
        kept.append(partial)
    if kept or overlong:
        yield _Block(b"".join(kept), first, overlong, newlines)


_RAW_KEEP = 10_000  # characters of a rejected line kept in the rejects file

#: Unicode noncharacters: one that does not occur in a file marks its bytes that are not
#: UTF-8, each byte the marker and its two hex digits (so a reject can show them: shown_bytes).
_MARKERS = ("\U0010fffe", "\U0010ffff", "\U000ffffe", "\U000fffff", "\ufdd0", "\ufdd1")


def _register_markers() -> None:
    for i, mark in enumerate(_MARKERS):

        def handler(err: UnicodeError, mark: str = mark) -> tuple[str, int]:
            assert isinstance(err, UnicodeDecodeError)
            bad = err.object[err.start : err.end]
            return "".join(f"{mark}{b:02x}" for b in bad), err.end

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


def shown_bytes(text: pl.Expr, mark: str) -> pl.Expr:
    """A line's text (decoded with `mark`, see _decode_text) with each byte that was not
    UTF-8 written `\\xNN` (its hex value), for a reject's raw: the line's bytes can be had
    back (no JSON text holds `\\x` outside an escaped backslash), where a marker or U+FFFD
    would lose them."""
    return text.str.replace_all(re.escape(mark) + "([0-9a-f]{2})", r"\x${1}")


def line_bytes(text: pl.Expr, mark: str | None) -> pl.Expr:
    """The length in bytes of a line as the file holds it, from its text decoded with `mark`
    (each byte that was not UTF-8 stands there as the marker and two hex digits)."""
    if mark is None:
        return text.str.len_bytes()
    stands_for = len(mark.encode("utf-8")) + 2 - 1  # (bytes more than the one it stands for)
    return text.str.len_bytes() - text.str.count_matches(mark, literal=True) * stands_for


def shown_head(head: bytes) -> str:
    """The first bytes of a line too long to be read, for a reject's raw: as shown_bytes
    shows a line, each byte that is not UTF-8 written `\\xNN`."""
    return head.decode("utf-8", errors="backslashreplace")
