"""Inputs: files, directories, globs and stdin as a sorted list of Sources. Imports no Polars."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from jtrack.errors import DataError, FileAccessError, UnreadableSourceError, UsageError
from jtrack.store.layout import is_store_dir


@dataclass(frozen=True)
class Source:
    """One input: a path on disk, or bytes already read (stdin)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    #: Hive partition values of the file's path (`customer_id=v/part-0.parquet`), in order
    partitions: tuple[tuple[str, str | None], ...] = ()
    #: the part of a growing JSON lines file to read: bytes [offset, end) (end None: to the
    #: end), whose first line is the file's physical line `first_line`
    offset: int = 0
    end: int | None = None
    first_line: int = 1
    #: `path` is standard input spooled to a temporary file (spool_stdin): no file a user
    #: named, known by its bytes as stdin always was (never by its path or inode), read by
    #: Spark's driver, and removed once the command is done with it (discard_spools)
    stdin: bool = False

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        if self.offset or self.end is not None:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                return fh.read(-1 if self.end is None else self.end - self.offset)
        return self.path.read_bytes()


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

_DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".pq")
_COMPRESSED = ("", ".gz", ".zst", ".bz2", ".xz")


def compression(head: bytes) -> str | None:
    """The compression a file's first (10 or more) bytes say it is in: "gzip", "zstd",
    "bzip2" or "xz" (which jtrack decompresses, whatever the file's name); None: none of
    them. bzip2 is told by its header and first block's magic, not `BZh` alone (text)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if (
        head[:3] == b"BZh"
        and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9")
        and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")  # (a block, or an empty stream's end)
    ):
        return "bzip2"
    return None


def is_data_file(p: Path) -> bool:
    """Whether a folder's walk reads `p`, by its name (events: JSON, JSON lines, Parquet).
    A file whose name says nothing of its type (bare_name) is read by its content too."""
    name = p.name.lower()
    return any(name.endswith(s + c) for s in _DATA_SUFFIXES for c in _COMPRESSED)


def bare_name(p: Path) -> bool:
    """Whether `p`'s name says nothing of what it holds: no extension, but maybe one of a
    compression jtrack reads (Hadoop's `part-00000`, `part-00000.gz`, an export saved as
    `2026-01-export.gz`). A folder's walk reads such a file when its first bytes are events
    (events_by_content); a name ending in a number, a rotated copy's, has an extension."""
    name = p.name.lower()
    for c in _COMPRESSED:
        if c and name.endswith(c):
            name = name[: -len(c)]
            break
    return bool(name) and Path(name).suffix == ""


#: events_by_content's answers by file and version (a watch polls a folder again and again).
_EVENTS_SEEN: dict[tuple[str, int, int, int, int], bool] = {}


def events_by_content(p: Path) -> bool:
    """Whether a file's first bytes are those of events jtrack reads: Parquet, or, once
    decompressed (gzip, zstd, bzip2, xz) and decoded (UTF-8, UTF-16), a JSON object (JSON
    lines, a REST page). An empty file, text, a file that cannot be read: no. A few bytes
    are read, once per version of the file."""
    key = _version_key(p)
    if key is None:
        return False
    if key not in _EVENTS_SEEN:
        _remember(_EVENTS_SEEN, key, _starts_as_events(p))
    return _EVENTS_SEEN[key]


_VersionKey = tuple[str, int, int, int, int]


def _version_key(p: Path) -> _VersionKey | None:
    """A file's path and version (device, inode, size, modification time): what the answers
    about its first bytes are kept by; None when it cannot be looked at."""
    try:
        st = p.stat()
    except OSError:
        return None
    return (str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _remember(cache: dict[_VersionKey, Any], key: _VersionKey, value: Any) -> None:
    """Keep `value` for `key` (a cache emptied past 100,000 files: a watch of a huge tree)."""
    if len(cache) > 100_000:
        cache.clear()
    cache[key] = value


def _starts_as_events(p: Path) -> bool:
    from jtrack.errors import JtrackError
    from jtrack.read.decode import _decoded_chunks

    try:
        with open(p, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return True
        head = b""
        for chunk in _decoded_chunks(Source(str(p), path=p)):
            head += chunk
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if (text and b"\n" in text) or len(head) >= _SNIFF_BYTES:
                break
    except (OSError, JtrackError):  # (a truncated stream, no permission: not by content)
        return False
    return _looks_like_events(head.lstrip(b"\xef\xbb\xbf \t\r\n")[:_SNIFF_BYTES])


#: Bytes of a file without an extension looked at to tell events (its first line, or this).
_SNIFF_BYTES = 1 << 16
#: The keys of a first event, by shape, or of a REST page of them.
_EVENT_KEYS = ({"event_id", "customer_id"}, {"id", "customerId"}, {"entities"})


def _looks_like_events(text: bytes) -> bool:
    """Whether `text` (a file's first bytes) starts as events: a JSON object whose keys are
    those of an event of either shape (its id and visitor) or of a REST page (`entities`):
    a `config` or `metadata` file of JSON without an extension is no export."""
    if not text.startswith(b"{"):
        return False
    import json

    try:
        first = json.loads(text.split(b"\n", 1)[0])
    except ValueError:  # (an object over several lines, or cut at _SNIFF_BYTES)
        first = None
    if isinstance(first, dict):
        keys = set(first)
    else:
        keys = {k.decode("utf-8", "replace") for k in re.findall(rb'"([A-Za-z_]+)"\s*:', text)}
    return any(need <= keys for need in _EVENT_KEYS)


def walk_reads(p: Path) -> bool:
    """Whether a folder's walk reads the file `p`: named as events (is_data_file) and not
    something else by its first bytes (a workbook saved as `export.json`), or of a name
    that says nothing (bare_name) and events by its content."""
    if is_data_file(p):
        return _magic_kind(p) is None
    return bare_name(p) and events_by_content(p)


#: Compressions and archives jtrack does not read, by the name's last extension: why a file
#: a folder holds is left out.
_UNREAD_PACKING = {
    ".lz4": "lz4",
    ".snappy": "snappy",
    ".br": "brotli",
    ".deflate": "deflate",
    ".lzo": "lzo",
    ".lz": "lzip",
    ".7z": "7-Zip",
    ".rar": "RAR",
    ".tar": "tar",
    ".tgz": "tar",
    ".z": "compress",
}


def _unread_packing(p: Path) -> str | None:
    """Why a file is not read when its name says it is compressed or packed in a way jtrack
    does not read (`x.jsonl.lz4`, `x.tar`), unless its first bytes are events all the same
    (a file misnamed); None otherwise."""
    suffix = p.suffix.lower()
    packing = _UNREAD_PACKING.get(suffix)
    if packing is None or events_by_content(p):
        return None
    if packing in ("tar", "7-Zip", "RAR"):
        return f"a {packing} archive, which jtrack does not read: extract it"
    return f"{packing}-compressed, which jtrack does not read: decompress it"


def _unread_why(p: Path) -> tuple[str | None, bool]:
    """Why a file a folder holds is not read (None: its name is not an export's, a `.log`,
    a `.txt`), and whether it may have held events (its name says so, but in a form jtrack
    does not read: a warning, not a note)."""
    packed = _unread_packing(p)
    if packed is not None:
        inner = p.name.lower()[: -len(p.suffix)]
        return packed, any(inner.endswith(s) for s in _DATA_SUFFIXES)
    if bare_name(p):
        return "no extension, and no events by its first bytes", False
    return None, False


#: Files that are not events, by what their name ends in (any compression aside): named as a
#: source, one of these is refused in one line, not read as JSON lines with a rejected row
#: for each of its lines.
_NOT_EVENTS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".xlsx": "Excel",
    ".xls": "Excel",
    ".toml": "TOML",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".md": "Markdown",
    ".html": "HTML",
    ".htm": "HTML",
    ".xml": "XML",
    ".pdf": "PDF",
    ".zip": "zip",
}


def _not_events(p: Path) -> str | None:
    """What kind of file `p` is when its name says it holds no events (None: it may)."""
    name = p.name.lower()
    for c in _COMPRESSED:
        if c and name.endswith(c):
            name = name[: -len(c)]
            break
    return _NOT_EVENTS.get(Path(name).suffix)


def _contacts_header(p: Path) -> bool:
    """Whether a CSV file's first line names a contact_id column (a contacts file)."""
    try:
        with open(p, "rb") as fh:
            first = fh.readline(4096).decode("utf-8", "replace").lstrip("\ufeff").lower()
    except OSError:
        return False
    return "contact_id" in [c.strip().strip('"') for c in first.replace(";", ",").split(",")]


#: What a file's first bytes say it is, whatever its name (an Excel workbook is a zip).
_NOT_EVENTS_MAGIC = ((b"PK\x03\x04", "zip"), (b"\xd0\xcf\x11\xe0", "Excel"), (b"%PDF", "PDF"))


#: _magic_kind's answers by file and version (a watch polls the same folder again and again).
_MAGIC_SEEN: dict[tuple[str, int, int, int, int], str | None] = {}


def _magic_kind(p: Path) -> str | None:
    """What a file is by its first bytes when they say it holds no events (a zip, an old
    Excel workbook, a PDF); None when they do not say so, or it cannot be read (the reader
    says what is wrong with it). Four bytes are read, once per version of the file."""
    key = _version_key(p)
    if key is None:
        return None
    if key not in _MAGIC_SEEN:
        try:
            with open(p, "rb") as fh:
                head = fh.read(4)
        except OSError:
            return None
        kind = next((k for sig, k in _NOT_EVENTS_MAGIC if head.startswith(sig)), None)
        _remember(_MAGIC_SEEN, key, kind)
    return _MAGIC_SEEN[key]


#: First bytes of what jtrack reads (Parquet, UTF-16; compressed: see compression): never
#: sniffed further.
_READ_MAGIC = (b"PAR1", b"\xff\xfe", b"\xfe\xff")


def _sniffed(p: Path) -> str | None:
    """What a file named as events is by its content when that is no events: a zip, an old
    Excel workbook, a PDF, or CSV (two first lines that are no JSON, with the same number of
    commas: a file of JSON lines with one stray line is still read, that line rejected)."""
    kind = _magic_kind(p)
    if kind is not None:
        return kind
    try:
        with open(p, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return None  # (the reader says what is wrong with it)
    if head.startswith(_READ_MAGIC) or compression(head) or b"\x00" in head[:4096]:
        # (UTF-16 without a BOM too)
        return None
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    lines = [x.strip() for x in text.splitlines() if x.strip()][:2]
    if (
        len(lines) == 2
        and not any(x[0] in "{[" for x in lines)
        and lines[0].count(",") >= 1
        and lines[0].count(",") == lines[1].count(",")
    ):
        return "CSV"
    return None


def _a_file(kind: str) -> str:
    """A kind of file with its article: "a zip file", "an Excel file"."""
    return ("an" if kind in ("Excel", "HTML", "XML") else "a") + f" {kind} file"


_WORKBOOK_HINT = "an Excel workbook is a zip file too: save the events as JSON lines or Parquet"


def _by_content(files: Sequence[Path]) -> str:
    """What the first of `files` is ("a.json is a zip file by its content"), and how many
    more there are."""
    kind = _magic_kind(files[0]) or "zip"
    n = len(files) - 1
    more = f" (and {n:,} more file{'s' if n != 1 else ''} of no events)" if n else ""
    return f"{files[0].name} is {_a_file(kind)} by its content{more}"


def _content_hint(files: Sequence[Path]) -> str:
    """The hint for files left out by their content: how to save a workbook as events, when
    one of them may be one."""
    if any(_magic_kind(f) in ("zip", "Excel") for f in files):
        return _WORKBOOK_HINT
    return "jtrack reads events from JSON lines, JSON or Parquet files"


def _refuse_not_events(p: Path, shown: str) -> None:
    packed = _unread_packing(p)
    if packed is not None:
        what, _, how = packed.partition(": ")
        raise FileAccessError(
            f"{shown}: {what}",
            hint=f"{how}, and name what it holds (JSON lines, JSON or Parquet files)",
        )
    named = _not_events(p)
    kind = named or _sniffed(p)
    if kind is None:
        return
    hint = (
        "unzip it and name the files inside"
        if kind == "zip"
        else "jtrack reads events from JSON lines, JSON or Parquet files (`jtrack schema`); "
        "leave this file out"
    )
    if kind == "zip" and named is None:  # (named as events: more likely a workbook)
        hint = _WORKBOOK_HINT
    if kind == "CSV" and _contacts_header(p):  # the contacts file, given as events
        hint = f"this looks like a contacts file: pass it as --contacts {shown}"
    elif kind == "CSV":
        hint += ", or convert it: duckdb -c \"COPY (FROM 'x.csv') TO 'x.parquet'\""
    what = _a_file(kind) + (" by its content" if named is None else "")
    raise FileAccessError(f"{shown}: {what}, not events", hint=hint)


@dataclass
class LeftOut:
    """What the folders and globs among a run's sources reach but do not read, said so that
    every file is accounted for."""

    #: files whose names say they hold no events (a CSV, a workbook, a README.md)
    by_name: list[str] = field(default_factory=list)
    #: files named like exports whose first bytes say otherwise, each with what it is ("a zip
    #: file": an Excel workbook saved as `export.json`)
    by_content: list[tuple[str, str]] = field(default_factory=list)
    #: folders that cannot be read (no permission), each with why
    unreadable: list[tuple[str, str, str]] = field(default_factory=list)
    #: the other files a folder holds that its walk does not read, each with why (None: its
    #: name is not an export's) and whether it may hold events (`x.jsonl.lz4`: a warning)
    unread: list[tuple[str, str | None, bool]] = field(default_factory=list)

    def notes(self) -> list[str]:
        """The note lines of the files left out as expected: named as no events (a CSV, a
        README), or not named as exports (a `.log`, a `.txt`, a name without an extension
        whose first bytes are no events)."""
        out = []
        if self.by_name:
            n = len(self.by_name)
            shown = ", ".join(Path(f).name for f in self.by_name[:5])
            more = f" and {n - 5:,} more" if n > 5 else ""
            out.append(
                f"left out {n:,} file{'s' if n != 1 else ''} whose names say they hold no "
                f"events ({shown}{more})"
            )
        other = [(f, why) for f, why, maybe in self.unread if not maybe]
        if other:
            n = len(other)
            shown = ", ".join(Path(f).name + (f" ({why})" if why else "") for f, why in other[:5])
            more = f" and {n - 5:,} more" if n > 5 else ""
            out.append(
                f"left out {n:,} file{'s' if n != 1 else ''} not named as "
                f"{'exports' if n != 1 else 'an export'} "
                f"({shown}{more}): a folder's walk reads .jsonl, .ndjson, .json, .parquet and "
                ".pq files (plain, .gz, .zst, .bz2, .xz) and files without an extension that "
                "start as events; name a file to read it whatever its name"
            )
        return out

    def warnings(self, verb: str = "read") -> list[str]:
        """The warning lines of what may have held events and is not `verb` ("read",
        "counted"): files named like exports whose content is no events, folders that
        cannot be read. (Files named as no events are left out as expected: notes.)"""
        out = []
        if self.by_content:
            n = len(self.by_content)
            shown = ", ".join(f"{Path(f).name}: {what}" for f, what in self.by_content[:5])
            more = f" and {n - 5:,} more" if n > 5 else ""
            workbook = any(what in ("a zip file", "an Excel file") for _, what in self.by_content)
            out.append(
                f"{n:,} file{'s' if n != 1 else ''} named like exports whose content is no "
                f"events {'are' if n != 1 else 'is'} not {verb} ({shown}{more})"
                + (
                    "; an Excel workbook is a zip file too: save the events as JSON lines or "
                    "Parquet"
                    if workbook
                    else ""
                )
            )
        out += [f"{f}: {why}; it is not {verb}" for f, why, maybe in self.unread if maybe]
        out += [
            f"{where}: cannot read the folder ({why}); the files in it are not {verb}"
            if kind == "folder"
            else f"{where}: cannot follow the link ({why}); it is not {verb}"
            for where, why, kind in self.unreadable
        ]
        return out


def left_out(sources: Sequence[str | os.PathLike[str]]) -> LeftOut:
    """What the folders among `sources` hold that is not read because of its name, and what
    the folders and globs reach that is not read because of its content or because it
    cannot be read (a file named alone is refused instead)."""
    out = LeftOut()
    sources = as_source_list(sources)
    for s in sources:
        if not isinstance(s, str | os.PathLike):
            continue  # (a Source a library caller made: no folder of its own)
        raw = home_expanded(s)
        p = Path(raw)
        unreadable: list[tuple[str, str, str]] = []
        try:
            if raw == "-" or p.is_file():
                continue
            if p.is_dir():
                reached = _walk(p, raw, unreadable=unreadable)
                out.by_name += [str(f) for f in reached if _not_events(f) is not None]
                out.unread += [
                    (str(f), *_unread_why(f))
                    for f in reached
                    if _not_events(f) is None
                    and not is_data_file(f)
                    and not _ROTATED.search(f.name)  # (read as a rotated copy: see there)
                    and not walk_reads(f)
                ]
            elif _MAGIC.search(raw):
                reached = _glob(raw, unreadable=unreadable)
                # (a pattern reads any name it matches but for files of no events)
                out.by_name += [
                    str(f) for f in reached if _not_events(f) is not None and not _in_store(f)
                ]
                out.unread += [
                    (str(f), packed, True)
                    for f in reached
                    if _not_events(f) is None and (packed := _unread_packing(f)) is not None
                ]
            else:
                continue
        except UsageError:
            continue  # (expand_sources says what is wrong)
        out.by_content += [
            (str(f), _a_file(k)) for f in reached if is_data_file(f) and (k := _magic_kind(f))
        ]
        out.unreadable += unreadable
    # (a folder named twice, or a folder and a glob over it: each file said once)
    out.by_name = list(dict.fromkeys(out.by_name))
    out.by_content = list(dict.fromkeys(out.by_content))
    out.unread = list(dict.fromkeys(out.unread))
    # (one folder reached by several paths, a link to it among them: said once)
    real: dict[str, tuple[str, str, str]] = {}
    for where, why, kind in out.unreadable:
        real.setdefault(os.path.realpath(where), (where, why, kind))
    out.unreadable = list(real.values())
    return out


#: What a DataFrame given as a source is named (the second and later: `<DataFrame 2>`...)
FRAME_NAME = "<DataFrame>"


def is_frame(source: object) -> bool:
    """Whether `source` is a Polars DataFrame (read as a source: frame_source)."""
    polars = sys.modules.get("polars")
    return polars is not None and isinstance(source, polars.DataFrame)


def as_source_list(sources: Any) -> list[Any]:
    """`sources` as a list: one path (str, bytes or PathLike), or one DataFrame, is one
    source, never its characters or its columns."""
    if isinstance(sources, str | bytes | os.PathLike) or is_frame(sources):
        return [sources]
    return list(sources)


def frame_source(frame: Any, nth: int = 1) -> Source:
    """A Polars DataFrame in the flat shape (`jtrack schema`: the columns of an export,
    times as datetimes or ISO text) as a source: its rows written once as Parquet in
    memory and read as a Parquet export is (row N is its line N, counted from 1), named
    `<DataFrame>` (`<DataFrame 2>`... for the second and later). A run takes it in as it
    takes standard input: known again by its bytes (a digest of its rows rides in their
    footer), so the same frame given to a later run is taken in before, and another one
    is read (an event it holds again is a redelivery, counted once)."""
    import io

    import polars as pl

    if frame.width == 0:
        raise UsageError(
            f"{FRAME_NAME}: a DataFrame with no columns",
            hint="pass a frame in the flat shape (`jtrack schema` lists its columns)",
        )
    try:
        digest = str(frame.hash_rows(seed=0).hash(seed=0).sum())
    except pl.exceptions.PolarsError:  # (a column type rows cannot be hashed by: the bytes)
        digest = ""
    buf = io.BytesIO()
    frame.write_parquet(buf, metadata={"jtrack.frame_rows": digest})
    name = FRAME_NAME if nth == 1 else f"<DataFrame {nth}>"
    return Source(name, data=buf.getvalue())


def not_a_source(raw: object) -> UsageError:
    """The UsageError for a source of a type jtrack does not read, naming it."""
    kind = type(raw).__name__
    hint = (
        "pass a path (str or pathlib.Path), a folder or a glob of exports, a list of them, "
        'a Polars DataFrame in the flat shape, or "-" with stdin=io.BytesIO(EXPORT_BYTES)'
    )
    if kind == "LazyFrame":
        hint = "collect it first (a DataFrame is read as a source): " + hint
    elif kind == "Series":  # (a DataFrame iterated as a list: its columns)
        hint = "pass the DataFrame itself, not a list of its columns: " + hint
    return UsageError(f"sources: a {kind} is not a source", hint=hint)


def home_expanded(source: str | os.PathLike[str]) -> str:
    """A source as named, `~` (or `~user`) at its start expanded as a shell expands it
    (`Store.open` expands it alike): a library caller's `"~/exports"` reads the exports in
    the home folder, not a folder named `~` in the current one."""
    s = os.fspath(source)
    return os.path.expanduser(s) if s.startswith("~") else s


def check_source_names(sources: Sequence[Any], stdin: bool = True) -> None:
    """UsageError for a blank source name (`"$EXPORTS"` of an unset variable), which would
    name the current folder: refused before anything is read. `stdin`: whether the command
    reads `-` (`jtrack watch` does not: its hint does not offer it)."""
    from jtrack.checks import is_blank_name

    if any(is_blank_name(s) for s in sources):
        raise UsageError(
            "an empty source name",
            hint="name export files, folders or globs (a variable in the command line may be "
            "unset)" + (", or - for standard input" if stdin else ""),
        )


def expand_sources(
    sources: Sequence[str | os.PathLike[str]], stdin: Any = None, spool: Path | None = None
) -> list[Source]:
    """Turn paths, directories, globs and `-` into a sorted list of Sources.

    Standard input (`-`) is copied, a MiB at a time, to a temporary file (spool_stdin: in
    the folder `spool`, a store's own temporary folder, else in $TMPDIR), read as a file is
    (a block at a time) and removed by discard_spools once the caller is done with it.

    A path that exists is taken literally (`[` or `*` in a file name is no pattern).
    Directories and `**` patterns are walked following symlinked folders, as globs do; a
    folder reached again below itself (a symlink loop) is an error, and a file reached through
    several links is read once. Each file's Hive partition values (`key=value` folders in its
    path) go with it (jtrack.read.parquet adds them as columns). One path given as a string
    or a path (not in a list) is one source, never its characters.
    """
    sources = as_source_list(sources)
    out: list[Source] = []
    read_stdin = False
    check_source_names(sources)
    frames = 0
    for raw in sources:
        if is_frame(raw):
            frames += 1
            out.append(frame_source(raw, frames))
            continue
        if not isinstance(raw, str | os.PathLike):
            raise not_a_source(raw)
        s = home_expanded(raw)
        if s == "-":
            if not read_stdin:  # (stdin is read once, however often `-` is named)
                stream = stdin if stdin is not None else stdin_bytes()
                stream = getattr(stream, "buffer", stream)  # (sys.stdin itself: its bytes)
                out.append(Source(STDIN_NAME, path=spool_stdin(stream, spool), stdin=True))
            read_stdin = True
            continue
        p = Path(s)
        if p.is_dir() and _is_store_dir(p):
            raise UsageError(
                f"{s}: a jtrack store, not a folder of exports",
                hint=f"read what it holds with --store {s}",
            )
        if p.is_dir():
            stores: list[Path] = []
            unreadable: list[tuple[str, str, str]] = []
            walked = _walk(p, s, stores=stores, unreadable=unreadable)
            if unreadable and unreadable[0][0] == str(p) and unreadable[0][2] == "folder":
                raise UnreadableSourceError(
                    f"{s}: cannot read the folder ({unreadable[0][1]})",
                    hint="check its permissions",
                )
            # (a file named like an export whose bytes say otherwise is left out too, and
            # named by sessionize, as are folders below that cannot be read: see left_out)
            files = [f for f in walked if walk_reads(f)]
            if not files and stores:
                continue  # only a jtrack store (its own, say): nothing to read, no error
            if not files and unreadable:  # (what it holds cannot be read)
                where, why, kind = unreadable[0]
                what = "cannot be read" if kind == "folder" else "is a link that cannot be followed"
                raise UnreadableSourceError(
                    f"{s}: holds no file that can be read: {where} {what} ({why})",
                    hint="check the permissions",
                )
            if not files:
                content = [f for f in walked if is_data_file(f)]  # (all left out by content)
                if content:
                    raise UnreadableSourceError(
                        f"{s}: the directory holds no events: {_by_content(content)}",
                        hint=_content_hint(content),
                    )
                kinds = sorted({k for f in walked if (k := _not_events(f)) is not None})
                holds = f" (it holds {', '.join(kinds)} files, which are not read)" if kinds else ""
                left = [f for f in _walk(p, s, private=False) if is_data_file(f)]
                if left and not walked:  # (every file of it below a `_` or `.` name)
                    holds = (
                        f" outside names starting with _ or . ({left[0].relative_to(p)}), "
                        "which reading a folder leaves out, as Spark does"
                    )
                raise FileAccessError(
                    f"{s}: the directory holds no .jsonl, .ndjson, .json or .parquet file{holds}",
                    hint="name the files, or a glob that spells out the name"
                    if left and not walked
                    else "check the path (compressed .gz, .zst, .bz2 and .xz files count too)",
                )
            out.extend(_source(f) for f in files)
        elif p.is_file():
            _refuse_not_events(p, s)
            if _in_store(p):
                raise UsageError(
                    f"{s}: a file of a jtrack store, not an export",
                    hint="read what a store holds with --store DIR",
                )
            out.append(_source(p))
        elif any(ch in s for ch in "*?["):
            matched = _glob(s)
            if not matched:
                raise FileAccessError(f"{s}: the pattern matches no file", hint="check the glob")
            # (as in a folder, files whose names say they hold no events are left out: a
            # README or a manifest.csv beside the exports; only a file named alone is
            # refused; and so are a jtrack store's files, wherever the pattern reaches)
            memo: dict[Path, bool] = {}
            files = [
                f
                for f in matched
                if _not_events(f) is None
                and not _in_store(f, memo)
                and _magic_kind(f) is None
                and _unread_packing(f) is None
            ]
            if not files and all(_in_store(f, memo) for f in matched):
                raise UsageError(
                    f"{s}: the pattern matches only a jtrack store's files, never read as exports",
                    hint="read what a store holds with --store DIR",
                )
            if not files:
                content = [f for f in matched if _not_events(f) is None and not _in_store(f, memo)]
                if content:  # (all left out by content)
                    raise UnreadableSourceError(
                        f"{s}: the pattern matches no events: {_by_content(content)}",
                        hint=_content_hint(content),
                    )
                kinds = sorted({k for f in matched if (k := _not_events(f)) is not None})
                raise FileAccessError(
                    f"{s}: the pattern matches only {', '.join(kinds)} files, which are not read",
                    hint="jtrack reads events from JSON lines, JSON or Parquet files",
                )
            out.extend(_source(f) for f in files)
        else:
            _missing(p, s)
    return _once(out)


def _missing(p: Path, named: str) -> NoReturn:
    """The error for a source that is neither a file, a folder nor a pattern: a symlink
    loop (exit 2, as one found in a folder), a link to nothing, or no such path."""
    if os.path.islink(p):
        try:
            os.stat(p)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(
                    f"{named}: a symlink loop: the link leads back to itself",
                    hint="remove the link, or name the files or folders to read",
                ) from None
            raise FileAccessError(
                f"{named}: a link to {os.readlink(p)}, which leads to no file",
                hint="check the link, or name the file it should lead to",
            ) from None
    try:
        mode = os.stat(p).st_mode
    except OSError:
        mode = 0
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        what = (
            "a pipe (as `<(...)` and mkfifo make)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        raise UsageError(
            f"{named}: {what}, not a file: jtrack reads export files, folders and standard input",
            hint="name - and pipe it in as standard input (`zcat export.gz | jtrack ... -`)",
        )
    raise FileAccessError(f"{named}: no such file or directory", hint="check the path")


#: What standard input is named in rejects, errors and notes.
STDIN_NAME = "<stdin>"
#: Standard input spooled by this process and not yet removed (removed at exit at the latest).
_SPOOLS: set[Path] = set()
_SPOOL_CHUNK = 1 << 20
#: The locks this process holds on its spools in $TMPDIR (path -> descriptor): a spool no
#: process holds, and older than _STALE_SPOOL_SECONDS, a killed process left.
_SPOOL_LOCKS: dict[Path, int] = {}
_STALE_SPOOL_SECONDS = 60


def spool_stdin(stream: Any, folder: Path | None = None) -> Path:
    """Copy a stream (bytes, or text: written as UTF-8) to a new temporary file, a MiB at a
    time, and return its path: in `folder` (created, owner only: a store's temporary folder,
    so the personal data it holds stays with the store, and a run killed before removing it
    leaves it for the next run to remove), else in $TMPDIR (the system's temporary folder),
    readable by the owner only (0600) either way. A copy that fails (a full disk) is removed
    and is a FileAccessError (exit 1)."""
    import atexit
    import tempfile

    where = str(folder) if folder is not None else tempfile.gettempdir()
    path: Path | None = None
    try:
        if folder is not None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder is None:  # (those a killed `usage -` left)
            from jtrack.files import remove_unheld

            remove_unheld(where, "jtrack-stdin-", min_age=_STALE_SPOOL_SECONDS)
        fd, name = tempfile.mkstemp(prefix="jtrack-stdin-", dir=folder)  # (0600)
        path = Path(name)
        if folder is None:  # (held while this process may read it: see files.remove_unheld)
            import fcntl

            with contextlib.suppress(OSError):
                lock = os.open(name, os.O_RDONLY)
                _SPOOL_LOCKS[path] = lock
                fcntl.flock(lock, fcntl.LOCK_EX)
        if not _SPOOLS:
            atexit.register(_remove_spools)
        _SPOOLS.add(path)
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_SPOOL_CHUNK):
                if isinstance(chunk, str):  # (a text stream: io.StringIO, its text as UTF-8)
                    chunk = chunk.encode("utf-8", errors="surrogateescape")
                out.write(chunk)
    except OSError as exc:
        if path is not None:
            _discard(path)
        raise FileAccessError(
            f"-: cannot copy standard input to a temporary file in {where} ({exc.strerror or exc})",
            hint="free space there, or set TMPDIR to a folder with room (a store's run copies "
            "it into the store's folder)",
        ) from exc
    except BaseException:
        if path is not None:
            _discard(path)
        raise
    return path


def discard_spools(sources: Sequence[Any]) -> None:
    """Remove the spooled standard input among `sources` (see spool_stdin)."""
    for src in sources:
        if isinstance(src, Source) and src.stdin and src.path is not None:
            _discard(src.path)


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
    _SPOOLS.discard(path)
    lock = _SPOOL_LOCKS.pop(path, None)
    if lock is not None:
        with contextlib.suppress(OSError):
            os.close(lock)


def _remove_spools() -> None:
    for path in list(_SPOOLS):
        _discard(path)


def stdin_bytes() -> Any:
    """Standard input, as bytes; a FileAccessError (exit 1) when it is closed (`<&-`), not
    Python's `NoneType has no attribute buffer`."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise FileAccessError(
            "-: standard input is closed", hint="pipe the export in, or name its file"
        )
    return stream


def only_a_store(sources: Sequence[str | os.PathLike[str]]) -> FileAccessError:
    """The error of a reading command whose sources name no export: folders that hold only
    a jtrack store (which expand_sources leaves out; sessionize finds nothing new there)."""
    shown = ", ".join(os.fspath(s) for s in sources)
    return FileAccessError(
        f"{shown}: no export file to read, only a jtrack store (never read as exports)",
        hint="read what a store holds with --store DIR",
    )


def _in_store(path: Path, memo: dict[Path, bool] | None = None) -> bool:
    """Whether a file lies inside a jtrack store's folder (at any depth); `memo` keeps the
    answers for folders within one expansion (the files of a glob share their folders)."""
    memo = {} if memo is None else memo
    for folder in Path(os.path.abspath(path)).parents:
        if folder not in memo:
            memo[folder] = _is_store_dir(folder)
        if memo[folder]:
            return True
    return False


def _once(sources: list[Source]) -> list[Source]:
    """The sources less a file met again (named twice, or reached through another link):
    the first time it comes is kept."""
    seen: set[tuple[int, int]] = set()
    out = []
    for src in sources:
        if src.path is not None:
            try:
                st = os.stat(src.path)
            except OSError:
                out.append(src)  # (the read reports it)
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
        out.append(src)
    return out


#: A rotated copy's name: app.jsonl.1, app.jsonl.2.gz
#: What rotation adds to a file's name: `.1` (logrotate, Python's RotatingFileHandler) or
#: logrotate's `dateext` (`-20261205`, `-2026120523`), then maybe its compression.
_ROTATION = r"(?:\.\d+|-\d{8}(?:\d{2})?)(?:\.gz|\.zst|\.bz2|\.xz)?"
_ROTATED = re.compile(r"\.(?:jsonl|ndjson|json)" + _ROTATION + "$", re.IGNORECASE)


def rotated_copies(sources: Sequence[str]) -> list[str]:
    """Rotated copies (app.jsonl.1, app.jsonl.2.gz, app.jsonl-20261205) beside a named file,
    beside each file a glob names, or in a named folder, sorted: a folder's listing and a
    glob leave them out (they end in a number), yet the lines written to a file after the
    last run and before it was renamed are only there. `jtrack sessionize` and `jtrack
    watch` read them with the sources (the store knows a renamed file by its inode: only
    its new lines are read)."""
    found: set[str] = set()
    listings: dict[Path, list[str]] = {}

    def beside(p: Path) -> None:
        parent = p.parent if str(p.parent) else Path(".")
        if parent not in listings:
            try:
                listings[parent] = os.listdir(parent)
            except OSError:
                listings[parent] = []
        pat = re.compile(re.escape(p.name) + _ROTATION)
        found.update(str(parent / n) for n in listings[parent] if pat.fullmatch(n))

    for named in sources:
        raw = home_expanded(named)
        p = Path(raw)
        if p.is_dir():
            for folder, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if not private_name(d)]  # (as _walk leaves them)
                found.update(
                    str(Path(folder) / n)
                    for n in names
                    if _ROTATED.search(n) and not private_name(n)
                )
        elif not any(ch in raw for ch in "*?[") or p.exists():
            beside(p)
        else:  # (jtrack's own glob: a symlink loop is the error it is, not walked for ever)
            for match in _glob(raw):
                if match.is_file():
                    beside(match)
    return sorted(found)


def with_rotated_copies(sources: Sequence[str]) -> list[str]:
    """`sources` and the rotated copies they reach that they do not name (rotated_copies):
    what `jtrack sessionize`, `usage` and `report` read of them alike (standard input, `-`,
    has none)."""
    srcs = list(sources)
    named = [s for s in srcs if s != "-"]
    return srcs + [r for r in rotated_copies(named) if r not in named]


def folders_reached(folder: str | os.PathLike[str]) -> set[Path]:
    """The real paths of the folders a source folder's walk reaches, symlinked ones below it
    included (as _walk follows them; each real folder once, so a loop ends)."""
    seen: set[Path] = set()
    todo = [Path(folder)]
    while todo:
        here = todo.pop()
        try:
            real = here.resolve()
        except OSError:
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for e in entries:
            if not e.is_dir(follow_symlinks=True):
                continue
            if e.is_symlink():  # (a link back up is a loop: the run says so, not this)
                try:
                    to = Path(e.path).resolve()
                except (OSError, RuntimeError):
                    continue
                if to == real or to in real.parents:
                    continue
            todo.append(Path(e.path))
    return seen


def rotation_read(source: str, path: str | os.PathLike[str]) -> bool:
    """Whether `path` would be read as a rotated copy along with `source` (see
    rotated_copies): named like one beside a file of events the source names (`app.jsonl.1`
    beside `app.jsonl`), or anywhere in a source folder (as its walk goes: by real paths)."""
    target = Path(os.path.abspath(path))
    if not re.search(_ROTATION + "$", target.name):  # (cheap: most names are no copy)
        return False
    from jtrack.files import real_path

    src = Path(source)
    if src.is_dir():
        inside = real_path(src) in real_path(target).parents
        return inside and bool(_ROTATED.search(target.name))
    if not any(ch in source for ch in "*?[") or src.exists():
        files = [src] if _not_events(src) is None else []  # (a config, a contacts file: none)
    else:
        files = [m for m in _glob(source) if m.is_file()]
    for f in files:
        beside = Path(os.path.abspath(f)).parent == target.parent
        if beside and re.fullmatch(re.escape(f.name) + _ROTATION, target.name):
            return True
    return False


def _source(path: Path) -> Source:
    return Source(text_name(str(path)), path=path, partitions=partitions_of(path))


def text_name(name: str) -> str:
    """A file's name as text that can be stored and shown: where the locale could not
    decode its bytes (a C locale without UTF-8 mode: `ü` as two surrogates), the UTF-8 they
    are, else escaped (a surrogate in a Polars frame was an internal error)."""
    if not any("\udc80" <= ch <= "\udcff" for ch in name):
        return name
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def partitions_of(path: Path) -> tuple[tuple[str, str | None], ...]:
    """The `key=value` folders of a path, values URL-decoded (`__HIVE_DEFAULT_PARTITION__`:
    null), the innermost last."""
    from urllib.parse import unquote

    out: list[tuple[str, str | None]] = []
    for part in path.parts[:-1]:
        key, eq, value = part.partition("=")
        if eq and key and "/" not in key:
            decoded = unquote(value)
            out.append((unquote(key), None if decoded == "__HIVE_DEFAULT_PARTITION__" else decoded))
    return tuple(out)


def private_name(name: str) -> bool:
    """Whether a file or folder below a folder read is left out by its name, as Hadoop and
    Spark leave such paths out: one starting with `.`, or with `_` but for a partition's
    `_name=value` (a Delta table's `_delta_log`, `_SUCCESS`, `_committed_*`, `.crc`
    checksums, hidden files). A glob reaches them as it always did (its wildcards leave out
    names starting with `.`, and a name it spells out is read)."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name)


def _walk(
    root: Path,
    shown: str,
    depth: int | None = None,
    stores: list[Path] | None = None,
    unreadable: list[tuple[str, str, str]] | None = None,
    private: bool = True,
) -> list[Path]:
    """Every file below `root` (to `depth` folder levels; None: all), following symlinked
    folders; sorted; a file reached through several links once (by its real path). A folder
    that is its own ancestor (a symlink loop) raises UsageError at once. A jtrack store's
    folder is left out (added to `stores`, when given); so is a folder that cannot be
    listed, and a link that cannot be followed (added to `unreadable` with why and "folder"
    or "link", when given); a hidden folder below `root` that cannot be listed is left out
    without a word (another user's `.jtrack` store, a `.snapshot` folder). Files and
    folders below `root` whose names start with `_` or `.` are left out (private_name),
    unless `private` is False (a glob's walk: its pattern decides)."""
    seen_files: set[tuple[int, int]] = set()
    found: list[Path] = []

    def visit(folder: Path, ancestors: frozenset[tuple[int, int]], level: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:  # skipped, as glob does (and said: see left_out)
            hidden = folder != root and folder.name.startswith(".")
            if unreadable is not None and not hidden:
                unreadable.append((str(folder), exc.strerror or type(exc).__name__, "folder"))
            return
        said = hidden = folder != root and folder.name.startswith(".")
        links: list[tuple[str, str, str]] = []
        for entry in entries:
            try:
                st = entry.stat()  # follows symlinks
            except PermissionError as exc:
                why = exc.strerror or type(exc).__name__
                if entry.is_symlink():  # (to a file in a folder this user may not enter)
                    links.append((entry.path, why, "link"))
                elif unreadable is not None and not said:  # (one that lets no one in: r--)
                    unreadable.append((str(folder), why, "folder"))
                    said = True
                continue
            except OSError:
                continue  # a dangling link
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if depth is not None and level >= depth:
                    continue  # deeper than the pattern reaches
                if _is_store_dir(Path(entry.path)):
                    if stores is not None:  # a store among the exports: its files are no input
                        stores.append(Path(entry.path))
                    continue
                if private and private_name(entry.name):
                    continue  # (`_delta_log`, `_temporary`, `.git`: no exports, as in Spark)
                if key in ancestors:
                    raise UsageError(
                        f"{shown}: a symlink loop: {entry.path} leads back to "
                        f"{os.path.realpath(entry.path)}",
                        hint="remove the link, or name the files or folders to read",
                    )
                visit(Path(entry.path), ancestors | {key}, level + 1)
            elif private and private_name(entry.name):
                continue  # (`_SUCCESS`, `.part-0.parquet.crc`, `.DS_Store`)
            elif stat.S_ISREG(st.st_mode) and key not in seen_files:
                seen_files.add(key)
                found.append(Path(entry.path))
        # (links that could not be followed, unless the folder itself lets no one in)
        if unreadable is not None and not said:
            unreadable.extend(links)

    rst = root.stat()
    visit(root, frozenset({(rst.st_dev, rst.st_ino)}), 0)
    return sorted(found)


_MAGIC = re.compile(r"[*?\[]")


def _is_store_dir(folder: Path) -> bool:
    """is_store_dir, False for a folder that cannot be looked into (_walk says it)."""
    try:
        return is_store_dir(folder)
    except OSError:
        return False


def _glob(pattern: str, unreadable: list[tuple[str, str, str]] | None = None) -> list[Path]:
    """Files matching a glob pattern (`*`, `?`, `[...]`, `**` for any folders), found by
    _walk from the pattern's fixed leading folders (so symlink loops are caught). As with
    glob, a wildcard does not match a name starting with `.`."""
    parts = Path(pattern).parts
    fixed = _fixed_parts(parts)
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = parts[fixed:]
    if not root.is_dir():
        return []
    depth = None if "**" in rest else len(rest) - 1
    regex = re.compile(_glob_regex(rest))
    out = []
    for f in _walk(root, pattern, depth, unreadable=unreadable, private=False):
        rel = f.relative_to(root) if fixed else f
        if regex.fullmatch("/".join(rel.parts if fixed else Path(os.path.normpath(rel)).parts)):
            out.append(f)
    return out


def glob_reads(pattern: str, path: str | os.PathLike[str]) -> bool:
    """Whether the glob `pattern`, as a source, reads `path` once it exists: it matches it
    as _glob does (a wildcard never crosses `/` nor matches a name starting with `.`; `**`
    is any folders, none included; through the pattern's folder as named or as it
    resolves), and its name is not one of a file of no events (a README, a CSV)."""
    from jtrack.files import real_path

    if _not_events(Path(path)) is not None:
        return False
    parts = Path(os.path.abspath(pattern)).parts
    fixed = _fixed_parts(parts)
    regex = _glob_regex(parts[fixed:])
    root = Path(*parts[:fixed])
    names = {Path(os.path.abspath(path)), real_path(path)}
    for base in {root, real_path(root)}:
        for name in names:
            try:
                rel = name.relative_to(base)
            except ValueError:
                continue
            if re.fullmatch(regex, "/".join(rel.parts)) is not None:
                return True
    return False


def _fixed_parts(parts: Sequence[str]) -> int:
    """How many leading components of a glob's path hold no wildcard (its fixed folders)."""
    fixed = 0
    while fixed < len(parts) - 1 and not _MAGIC.search(parts[fixed]):
        fixed += 1
    return fixed


def _glob_regex(parts: Sequence[str]) -> str:
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:[^/.][^/]*/)*" if not last else "(?:[^/.][^/]*/)*[^/.][^/]*")
            continue
        out.append(_part_regex(part) + ("" if last else "/"))
    return "".join(out)


def _part_regex(part: str) -> str:
    """One path component of a glob as a regex: `*`, `?` and `[...]` never cross `/`."""
    out = ["(?![.])"] if part[:1] in ("*", "?", "[") else []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif (
            ch == "["
            and (end := part.find("]", i + 2 if part[i + 1 : i + 2] in "!]" else i + 1)) > 0
        ):
            body = part[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append("[" + ("^/" if negate else "") + body + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _open_error(name: str, exc: OSError) -> DataError:
    return FileAccessError(
        f"{name}: cannot read the file ({exc.strerror or exc})",
        hint="check the file exists and is readable",
    )


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
