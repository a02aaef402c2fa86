"""Shared CLI pieces: error handling, consoles, common options and output formats."""

from __future__ import annotations

import contextvars
import enum
import functools
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from jtrack.checks import current_folder
from jtrack.errors import ExitCode, JtrackError, UsageError
from jtrack.options import MAX_COUNT  # noqa: F401  (the commands' options read it here)

F = TypeVar("F", bound=Callable[..., Any])


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    md = "md"
    html = "html"
    parquet = "parquet"


#: What every listing writes (the README promises it of each one).
LISTING_FORMATS = (
    Format.table,
    Format.json,
    Format.jsonl,
    Format.csv,
    Format.tsv,
    Format.md,
    Format.parquet,
)

#: `-o FILE` suffixes and the format they mean when --format is not given.
SUFFIX_FORMATS = {
    ".json": Format.json,
    ".jsonl": Format.jsonl,
    ".ndjson": Format.jsonl,
    ".csv": Format.csv,
    ".tsv": Format.tsv,
    ".tab": Format.tsv,
    ".md": Format.md,
    ".markdown": Format.md,
    ".html": Format.html,
    ".htm": Format.html,
    ".parquet": Format.parquet,
    ".pq": Format.parquet,
}
#: Suffixes of plain text: an aligned table (or any text format given with --format).
TEXT_SUFFIXES = frozenset({"", ".txt", ".text", ".log", ".out"})


#: The rows a table on standard output shows without --limit (`sessions`, `contacts`): a
#: larger one is no reading, and Rich lays a table out a row at a time (659,000 sessions
#: took six minutes and 4 GB).
TABLE_ROWS = 1_000


def _suffix_of(fmt: Format) -> str:
    """The usual suffix of a file of `fmt` (.txt for the table)."""
    return next((k for k, v in SUFFIX_FORMATS.items() if v == fmt), ".txt")


#: What each format is called in messages.
FORMAT_NAMES = {
    Format.table: "an aligned text table",
    Format.json: "JSON",
    Format.jsonl: "JSON lines",
    Format.csv: "CSV",
    Format.tsv: "TSV",
    Format.md: "Markdown",
    Format.html: "HTML",
    Format.parquet: "Parquet",
}
_SPREADSHEETS = frozenset({".xlsx", ".xls", ".xlsm", ".xlsb", ".ods", ".numbers"})


#: JTRACK_DEBUG values that mean off (a service that sets it explicitly: `JTRACK_DEBUG=0`)
_OFF = frozenset({"", "0", "false", "no", "off"})


def debug_enabled() -> bool:
    return "--debug" in sys.argv or debug_env() or _DEBUG[0]


def debug_env() -> bool:
    """$JTRACK_DEBUG, the one switch among the variables: off for an empty or blank value
    and the words for off (read while an error is said: never an error itself)."""
    return os.environ.get("JTRACK_DEBUG", "").strip().lower() not in _OFF


_DEBUG = [False]


def set_debug(value: bool) -> None:
    _DEBUG[0] = value


_SURROGATES = re.compile("[\udc80-\udcff]+")


def print_traceback() -> None:
    """The exception being handled, as `--debug` shows it, with the control characters of
    data in it (a value or field name in an error's text) made harmless, as in every line
    jtrack writes (a cron mail or a terminal would take them as commands)."""
    from jtrack.serialize import strip_control

    sys.stderr.write(strip_control(traceback.format_exc()))


def stderr_line(message: str) -> None:
    """One line on stderr, as typed (never wrapped: cron mail is read with grep), with the
    control characters of data in it made harmless."""
    from jtrack.serialize import strip_control

    # (a line break or tab inside, from a path or a value: shown as its escape, so the line
    # stays one and says what was typed)
    one = message.replace("\n", "\\n").replace("\t", "\\t")
    # (a file name whose bytes the locale could not decode: the UTF-8 they are, else \xff)
    one = _SURROGATES.sub(
        lambda m: bytes(ord(c) - 0xDC00 for c in m[0]).decode("utf-8", "backslashreplace"), one
    )
    sys.stderr.write(strip_control(one) + "\n")
    sys.stderr.flush()


def error_line(message: str) -> None:
    stderr_line("error: " + message)


#: An address-space limit at or above which `sessionize` does not warn of it (runs of 300k
#: events aborted under 3 GB and went through under 4 GB; the margin is Polars').
_ADDRESS_SPACE_ENOUGH = 8_000_000_000


def warn_address_space_limit() -> None:
    """A `warning:` line when the process runs under an address-space limit (`ulimit -v`,
    systemd's LimitAS=, `prlimit --as`): Polars' allocator reserves address space well
    beyond what it uses, and past the limit it aborts the run mid-way (exit 134, a Rust
    backtrace), whatever --memory-limit says; the store stays whole."""
    try:
        import resource
    except ImportError:  # (not on Windows)
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0 or soft >= _ADDRESS_SPACE_ENOUGH:
        return  # (none, or one high enough that a run met no abort: no nightly mail of it)
    warning_line(
        f"an address-space limit (ulimit -v, LimitAS=) of {soft / 1e9:.1f} GB is set: Polars "
        "reserves address space beyond what it uses and may abort the run past it (exit 134; "
        "the store stays whole); limit memory with the cgroup and --memory-limit instead"
    )


def check_on_error(value: str) -> str:
    """--on-error's value (fail or skip); anything else is an invocation error."""
    from jtrack.options import check_on_error as check

    return check(value, "--on-error")


def warning_line(message: str) -> None:
    """One `warning: ...` line on stderr (shown even with --quiet: something may be wrong)."""
    stderr_line("warning: " + message)


#: What a command says when Ctrl-C or SIGTERM stops it (exit 130), before it changed a
#: store (interrupted_message says the rest).
INTERRUPTED = (
    "interrupted; nothing partial was written (hint: run it again: the store and any -o "
    "file are as they were)"
)


def interrupted_message(kwargs: dict[str, Any], commits: int) -> str:
    """What an interrupted command says: whether it had changed a store (the versions it
    made current after the first `commits` of the process: not "as it was") and whether
    what it printed on standard output may be cut short (an -o file never is)."""
    from jtrack.store.layout import COMMITS

    to_stdout = "output" in kwargs and kwargs["output"] in (None, "-") and "fmt" in kwargs
    if kwargs.get("quiet") and kwargs.get("fmt") is None and "sources" in kwargs:
        to_stdout = False  # (`sessionize -q`, `watch -q`: nothing shown)
    cut = "; what it printed on standard output may be cut short" if to_stdout else ""
    made = COMMITS[commits:]
    if made:
        shown, version = made[-1]
        return (
            f"interrupted after the run was committed (the store {shown} is at {version}){cut}"
            f" (hint: `jtrack store --store {shown}` shows what it holds; a run again takes "
            "in only what is new)"
        )
    if not to_stdout:
        return INTERRUPTED
    return f"interrupted; the store and any -o file are as they were{cut} (hint: run it again)"


#: The files a command reads (its sources, contacts, rules and config files as named) and
#: its store's folder (None or False: the default store's), which `-o` must not overwrite:
#: set when the command starts (handle_errors) and when it opens its store (open_store,
#: guard_store).
_GUARDED: contextvars.ContextVar[tuple[tuple[str, ...], Path | bool | None]] = (
    contextvars.ContextVar("jtrack_guarded", default=((), False))
)
#: The parameters of commands that name files the command reads.
_INPUT_PARAMS = ("sources", "file", "contacts", "check", "rules", "rules_file", "config")


def _named_inputs(kwargs: dict[str, Any]) -> tuple[str, ...]:
    paths: list[str] = []
    for name in _INPUT_PARAMS:
        value = kwargs.get(name)
        values = value if isinstance(value, list | tuple) else [value]
        paths += [os.fspath(v) for v in values if isinstance(v, str | os.PathLike)]
    return tuple(paths)


def guard_store(root: str | os.PathLike[str] | None) -> None:
    """-o of this command never writes inside the store at `root` (None: the default)."""
    _GUARDED.set((_GUARDED.get()[0], Path(root) if root is not None else None))


def check_output(output: Path | None, option: str = "-o", what: str = "the output") -> None:
    """UsageError (exit 2) when -o (or `option`) names a file this command reads (a source,
    the contacts, rules or config file, the contacts file its store follows) or one inside
    its store: a report must never overwrite an export or the store (as --rejects,
    jtrack.files.check_output_target)."""
    if output is None:
        return
    from jtrack.config import find_config
    from jtrack.files import check_output_target, same_file

    inputs, root = _GUARDED.get()
    if not isinstance(root, Path):  # (no store named, or no store taken: the default one)
        from jtrack.store.layout import default_store_path

        root = default_store_path()
    try:  # (the config found when none is named: ./jtrack.toml, $JTRACK_CONFIG)
        found = find_config(None)
    except JtrackError:
        found = None
    extra = [os.fspath(found)] if found is not None else []
    followed = _followed_contacts(root)
    if followed is not None and same_file(followed, output):
        raise UsageError(
            f"{option} {output}: that is the contacts file the store follows (its next run "
            "reads it again)",
            hint=f"write {what} to another file",
        )
    check_output_target(output, option=option, inputs=(*inputs, *extra), store_root=root, what=what)


def _followed_contacts(root: Path) -> str | None:
    """The contacts file the store at `root` follows, if any; None too whenever the store
    cannot be read (a command that only writes a report never fails on a damaged store)."""
    from jtrack.store import Store

    try:
        if not root.is_dir():
            return None
        remembered = Store.open(root).read_manifest().contacts
    except Exception:  # (a damaged, unreadable or half-written store: no file followed)
        return None
    file = remembered.file if remembered is not None else None
    return file if isinstance(file, str) and file and "\x00" not in file else None


def handle_errors(fn: F) -> F:
    """Turn JtrackError into one line on stderr and its exit code; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        commits = _commits_so_far()
        try:
            # own context: the output policy (jtrack.access) set by this command ends with
            # it, and the files -o must not overwrite
            context = contextvars.copy_context()
            store = kwargs.get("store", False)  # (None: the default store)
            root = Path(store) if isinstance(store, str | os.PathLike) else store
            context.run(_GUARDED.set, (_named_inputs(kwargs), root))
            sources = kwargs.get("sources")
            if isinstance(sources, list | tuple):  # (before any command's own checks)
                from jtrack.read.sources import check_source_names

                check_source_names(sources, stdin=fn.__name__ != "watch_cmd")
                from jtrack.read.jsonl import check_document_limit_env

                check_document_limit_env()
            result = context.run(fn, *args, **kwargs)
            _say_written(fn, kwargs)
            return result
        except JtrackError as exc:
            if debug_enabled():
                print_traceback()
            error_line(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            if debug_enabled():
                print_traceback()
            error_line(interrupted_message(kwargs, commits))
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None
        except (typer.Exit, SystemExit):
            raise
        except BaseException as exc:
            # Unforeseen (a disk error, a bug, a Polars panic): still one line, never a
            # traceback unless --debug. KeyboardInterrupt was handled above.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            if debug_enabled():
                print_traceback()
            if _interrupted_inside_polars(exc):
                error_line(interrupted_message(kwargs, commits))
                raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
            error_line(_unexpected_message(exc))
            raise typer.Exit(int(ExitCode.DATA)) from None

    return wrapper  # type: ignore[return-value]


def _say_written(fn: Any, kwargs: dict[str, Any]) -> None:
    """`wrote FILE` on stderr after every command that wrote its -o FILE (a screen-reader
    user heard nothing after `card ... -o card.html`; `schema`, `sessionize`, `store`,
    `rules check` and others said nothing, `usage` said it in words of its own: a script
    could not count on it); not with -q, not for `-o -` (standard output). A `jtrack store`
    subcommand's -o and -q may be given before it (`jtrack store -o x.json files`): the
    group's callback says nothing of them, the subcommand does."""
    if "output" not in kwargs:
        return
    output, quiet = kwargs["output"], bool(kwargs.get("quiet"))
    ctx = kwargs.get("ctx")
    if ctx is not None:
        if getattr(ctx, "invoked_subcommand", None) is not None:
            return  # (`jtrack store`'s callback before its subcommand)
        parent = getattr(ctx, "parent", None)
        group = getattr(parent, "obj", None) if parent is not None else None
        if isinstance(group, dict):
            output = output if output is not None else group.get("--output")
            quiet = quiet or bool(group.get("--quiet"))
    if output is None or quiet or str(output) == "-":
        return
    stderr_line(f"wrote {output}")


def _commits_so_far() -> int:
    """How many versions this process made current so far (0 before the store is loaded:
    then none was)."""
    layout = sys.modules.get("jtrack.store.layout")
    return len(layout.COMMITS) if layout is not None else 0


def _interrupted_inside_polars(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM landing while Polars ran a Python callback: Polars' Rust code gets
    the KeyboardInterrupt as an error it did not expect and panics with it (its text names
    it). An interrupt as any other, not an internal error (exit 1) that alerting would take
    for a problem with the data."""
    return type(exc).__name__ == "PanicException" and "KeyboardInterrupt" in str(exc)


def _unexpected_message(exc: BaseException) -> str:
    store_module = sys.modules.get("jtrack.store.store")
    if isinstance(exc, FileNotFoundError) and store_module is not None and store_module._OPENED:
        # (a store's file gone: a version removed under a reader, or a damaged store)
        gone = store_module.missing_file_error(f"{exc.filename or ''} {exc}")
        if gone is not None:
            return str(gone)
    if isinstance(exc, FileNotFoundError) and not exc.filename:
        try:  # (a relative name resolved, by jtrack or a library, from a folder now gone)
            current_folder()
        except JtrackError as gone:
            return str(gone)
    if isinstance(exc, OSError):
        import errno

        where = f"{exc.filename}: " if exc.filename else ""
        what = {
            errno.EACCES: "check the permissions",
            errno.EPERM: "check the permissions",
            errno.ENOENT: "check the path",
            errno.ENOTDIR: "check the path",
            errno.ENOSPC: "check the free space",
            errno.EDQUOT: "check the free space and the disk quota",
            errno.EROFS: "the file system is read-only",
        }.get(exc.errno or 0, "check the path, the permissions and the free space")
        return f"{where}{exc.strerror or exc} (hint: {what}; --debug shows where it happened)"
    text = str(exc).splitlines()[0] if str(exc) else ""
    own = (getattr(exc, "name", None) or "").split(".")[0] == "jtrack"
    if isinstance(exc, ImportError) and not own:  # (pyarrow beside numpy 1, a library too
        # old, ...; a name missing from jtrack's own modules is jtrack's bug: internal)
        return (
            f"a library jtrack uses failed to load: {type(exc).__name__}: {text} (hint: the "
            "environment's packages do not fit together: `pip check`, then install jtrack "
            "in a fresh virtual environment, or upgrade the package named; --debug shows "
            "where)"
        )
    if "parquet" in text.lower() and store_module is not None and store_module._OPENED:
        damaged = store_module.damaged_file_error()  # (a store file cut short or damaged)
        if damaged is not None:
            return str(damaged)
        return (
            f"internal error: {type(exc).__name__}: {text} (hint: if a file of the store is "
            "damaged, `jtrack store verify --full` names it; else run again with --debug "
            "and report the traceback)"
        )
    return (
        f"internal error: {type(exc).__name__}: {text} (hint: run again with --debug and "
        "report the traceback)"
    )


def stderr_console() -> Any:
    from rich.console import Console

    from jtrack.render.text import console_colors

    return Console(
        stderr=True, highlight=False, soft_wrap=False, width=columns_width(), **console_colors()
    )


def stdout_utf8(stream: Any = None) -> bool:
    """True when `stream` (stdout) is UTF-8: it can show every character jtrack writes."""
    enc = getattr(stream if stream is not None else sys.stdout, "encoding", None) or "utf-8"
    return enc.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")


class AsciiStream:
    """A text stream over one that is not UTF-8 (an ASCII or Latin-1 locale): what it cannot
    encode is written as plain ASCII (rules as `-`, `...`, `?`) instead of failing. Rich sees
    its encoding and draws boxes and rules in ASCII."""

    def __init__(self, stream: Any, encoding: str | None = None) -> None:
        self._stream = stream
        self.encoding = encoding or getattr(stream, "encoding", None) or "ascii"

    def write(self, text: str) -> int:
        from jtrack.render.text import ascii_text

        self._stream.write(ascii_text(text, self.encoding))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty()) if isatty is not None else False

    def fileno(self) -> int:
        return int(self._stream.fileno())


#: The narrowest width jtrack lays text out at (tables keep their key columns from 40 up).
MIN_WIDTH = 20


def env_width() -> int | None:
    """$JTRACK_WIDTH: None when unset, empty or blank (a layout only: a deployment's
    template that leaves it empty stops no command); a whole number of columns, MIN_WIDTH
    or more, else a ConfigError (exit 2). (Rich took 0 as a width and printed nothing,
    exit 0.)"""
    from jtrack.errors import ConfigError

    value = os.environ.get("JTRACK_WIDTH")
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < MIN_WIDTH:
        raise ConfigError(
            f"JTRACK_WIDTH={text}: not a width jtrack can lay text out at",
            hint=f"a whole number of columns, {MIN_WIDTH} or more (e.g. 100), or unset it",
        )
    return int(text)


def columns_width() -> int | None:
    """The width $COLUMNS says, MIN_WIDTH at the least; None when unset (Rich asks the
    terminal). A $COLUMNS of 0 or no number is left unread, as shutil leaves it: the
    terminal's width, else 80 (Rich took 0 as a width and printed nothing)."""
    import shutil

    columns = os.environ.get("COLUMNS", "").strip()
    if not columns:
        return None
    if columns.isascii() and columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def stdout_console(width: int | None = None, ascii: bool = False) -> Any:
    """A Rich console on stdout (on an AsciiStream when stdout is not UTF-8, or `ascii`), at
    `width`, else $JTRACK_WIDTH, else the terminal's (a pipe: 80, or $COLUMNS; a $COLUMNS of
    0 or not a number is left unread, as shutil does: Rich printed nothing at 0)."""
    from rich.console import Console

    w = width or env_width() or columns_width()
    file: Any = (
        AsciiStream(sys.stdout, "ascii")  # (--ascii: whatever the terminal takes, boxes too)
        if ascii
        else None
        if stdout_utf8()
        else AsciiStream(sys.stdout)
    )
    from jtrack.render.text import console_colors

    return Console(
        file=file, highlight=False, width=w, emoji=False, markup=False, **console_colors()
    )


def resolve_format(
    fmt: Format | None,
    output: Path | None,
    allowed: tuple[Format, ...],
    what: str = "this command",
    check_width: bool = True,
) -> Format:
    """The output format: --format, else the -o suffix, else an aligned table (whose width
    is checked then, `check_width`: a bad $JTRACK_WIDTH is exit 2 before the command says
    or does anything, not after its warnings).

    Refused (UsageError, exit 2) with a hint that names only what the user typed: a format
    `what` does not write, an -o suffix that means another format than --format, a data
    suffix under which a text table would land, and suffixes jtrack does not write (.xlsx)."""
    suffixes = "".join(f" .{f.value}" for f in allowed if f != Format.table)
    suffix = output.suffix.lower() if output is not None else ""
    if output is not None and suffix in _SPREADSHEETS:
        csv_like = [f.value for f in (Format.csv, Format.tsv) if f in allowed]
        raise UsageError(
            f"-o {output}: jtrack does not write {suffix} workbooks",
            hint=(
                f"write -o {output.with_suffix('.' + csv_like[0]).name} (spreadsheets open "
                f"{' and '.join('.' + c for c in csv_like)} files)"
                if csv_like
                else f"name the file with one of:{suffixes}"
                + (", or .txt for the table" if Format.table in allowed else "")
            ),
        )
    implied = SUFFIX_FORMATS.get(suffix) if output is not None else None
    if output is not None and implied is None and suffix not in TEXT_SUFFIXES:
        raise UsageError(
            f"-o {output}: {what} does not know what to write under {suffix!r}",
            hint=f"name the file with one of:{suffixes}, or .txt for the table",
        )
    if fmt is None:
        fmt = implied or Format.table
        if fmt not in allowed:
            raise UsageError(
                f"-o {output}: {what} cannot write {FORMAT_NAMES[fmt]}",
                hint=f"name the file with one of:{suffixes}"
                + (", or .txt for the table" if Format.table in allowed else ""),
            )
    elif fmt not in allowed:
        raise UsageError(
            f"--format {fmt.value}: {what} cannot write {FORMAT_NAMES[fmt]}",
            hint="choose one of " + ", ".join(f.value for f in allowed),
        )
    elif output is not None and implied is not None and implied != fmt:
        raise UsageError(
            f"-o {output} names a {FORMAT_NAMES[implied]} file but --format {fmt.value} "
            f"asks for {FORMAT_NAMES[fmt]}",
            hint=f"name the file {output.with_suffix(_suffix_of(fmt)).name}, or leave out --format",
        )
    if fmt == Format.parquet and (
        _stdout_terminal() if output is None else _names_a_terminal(output)
    ):
        raise UsageError(
            "Parquet is binary: it is not written to a terminal",
            hint="add -o FILE.parquet, or pipe it to a program that reads Parquet",
        )
    if fmt == Format.table and check_width:
        env_width()
    offered_formats(allowed)
    return fmt


def _names_a_terminal(path: Path) -> bool:
    """Whether -o names a terminal (`/dev/stdout` of a terminal, `/dev/tty`)."""
    import stat

    try:
        if not stat.S_ISCHR(os.stat(path).st_mode):
            return False
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def _stdout_terminal() -> bool:
    """Whether standard output is a terminal (where binary output is refused)."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty()) if isatty is not None else False


def offered_formats(allowed: tuple[Format, ...]) -> None:
    """Tell the tables of this command which formats it writes (their notes name one)."""
    from jtrack.render.text import OTHER_FORMATS

    OTHER_FORMATS.set(tuple(f.value for f in allowed if f not in (Format.table, Format.parquet)))


def write_text(text: str, output: Path | None, *, terminal: bool = False) -> None:
    """Write to -o FILE atomically (temp file, then rename), or to stdout.

    On stdout, data (the default: JSON, CSV, Markdown, HTML, ...) is written as UTF-8 bytes
    whatever the locale; `terminal` text (tables, cards) in the stream's own encoding, in
    plain ASCII where it cannot show a character (see AsciiStream)."""
    if output is None and terminal:
        stream: Any = sys.stdout if stdout_utf8() else AsciiStream(sys.stdout)
        stream.write(text)
        stream.flush()
        return
    write_chunks((text,), output)


def write_chunks(chunks: Iterable[str], output: Path | None, *, private: bool = False) -> None:
    """write_text of text made a piece at a time (JSON of a large listing): each piece
    written as it comes, to stdout as UTF-8 bytes, or to -o FILE through a temp file
    renamed when whole."""
    if output is None:
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None or stdout_utf8():
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        sys.stdout.flush()  # what was written as text comes first
        for chunk in chunks:
            buffer.write(chunk.encode("utf-8", errors="surrogateescape"))
        buffer.flush()
        return
    from jtrack.files import open_atomic  # safe temp file, renamed when whole

    check_output(output)
    with open_atomic(output, private=private) as fh:  # (private: 0600)
        for chunk in chunks:
            fh.write(chunk.encode("utf-8"))


def emit_frame(
    df: Any,
    fmt: Format,
    output: Path | None,
    title: str | None = None,
    columns: list[str] | None = None,
    **table: Any,
) -> None:
    """Print or write a result frame in the chosen format; `columns` and `table` (see
    jtrack.render.table.FrameTable: prefixes, wrap, sorts) shape the aligned table only."""
    from jtrack import serialize

    access = sys.modules.get("jtrack.access")  # the output policy is only ever set through it
    if access is not None:
        df = access.protect_output(df)  # role and --redact, where data leaves jtrack
    if fmt == Format.json:
        write_chunks(serialize.iter_json(df), output)
    elif fmt == Format.jsonl:
        write_chunks(serialize.iter_jsonl(df), output)
    elif fmt == Format.csv:
        write_text(serialize.to_csv(df), output)
    elif fmt == Format.tsv:
        write_text(serialize.to_tsv(tsv_escaped(df)), output)
    elif fmt == Format.md:
        write_text(serialize.to_markdown(df), output)
    elif fmt == Format.parquet and output is None:  # to a pipe (a terminal is refused)
        import io

        data = io.BytesIO()
        df.write_parquet(data)
        sys.stdout.flush()
        out: Any = getattr(sys.stdout, "buffer", sys.stdout)
        out.write(data.getvalue())
        out.flush()
    elif fmt == Format.parquet:
        assert output is not None
        check_output(output)
        serialize.write_parquet(df, output)
    else:
        from jtrack.render.table import FrameTable

        shown = df.select(columns) if columns else df
        print_renderables([FrameTable(shown, title, **table)], output)


def roles_config(
    rules: str | os.PathLike[str] | None, config: str | os.PathLike[str] | None = None
) -> str | os.PathLike[str] | None:
    """The config file a command's roles come from: the `--config` named, else the
    `--rules` file when it holds roles, else None (the config found as load_config finds
    it)."""
    if config is None and rules is not None and _holds_roles(Path(rules), "rules"):
        return rules
    return config


def rules_and_config(option: Path | None) -> dict[str, Path | None]:
    """open_store's `rules`/`config` for `card` and `journey`, whose --config is both the
    rules file and the config: a rules file (roles from it when it holds them, else from
    the config found), but /dev/null is no config at all, as --config /dev/null is for
    every other command."""
    if option is not None and Path(option) == Path(os.devnull):
        return {"config": option}
    return {"rules": option}


def _holds_roles(path: Path, what: str = "config") -> bool:
    """Whether a config file defines roles (a [roles] table or a default_role); `what` the
    file is to the user, in errors."""
    from jtrack.config import load_config

    data, _ = load_config(path, what)
    return "roles" in data or "default_role" in data


def _refuse_blank(text: str, hint: str = "name a file") -> None:
    """typer.BadParameter (exit 2) for an empty or blank file name: `"$VAR"` of an unset
    variable, which as a path is the current folder (it was "is a directory", exit 1) or,
    blank, a file named with spaces."""
    from jtrack.checks import UNSET_HINT, is_blank_name

    if is_blank_name(text):
        raise typer.BadParameter(f"empty: {hint} ({UNSET_HINT})")


def named_file(value: Any) -> Path | None:
    """A FILE option's value (--contacts, --config, --rules, ...): a path, never empty."""
    if value is None or isinstance(value, Path):
        return value
    _refuse_blank(str(value))
    return _as_typed(str(value))


def file_path(value: Any) -> Path | None:
    """A FILE option's value where `-` is refused (--rejects, --html): `./-` is a file
    named `-` (a Path drops the `./`, leaving the `-` that is refused); never empty."""
    if value is None or isinstance(value, Path):
        return value
    text = str(value)
    _refuse_blank(text)
    return Path.cwd() / "-" if text != "-" and Path(text) == Path("-") else Path(text)


def _output_path(value: Any) -> Path | None:
    """-o's value: a path; `-` is standard output, as for other Unix tools (it wrote a file
    named `-`); never empty."""
    if value is None or isinstance(value, Path):
        return value
    _refuse_blank(str(value), "name a file, or - for standard output")
    return None if str(value) == "-" else Path(value)


#: `--config FILE` of a command that reads the config but takes no rules file.
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file ([roles], [redact], [usage]) [default: $JTRACK_CONFIG, else "
        "./jtrack.toml].",
        show_default=False,
        readable=False,
        parser=named_file,
        metavar="<file>",
    ),
]


def text_width(default: int = 120) -> int:
    """The width of text written to a file (-o): $JTRACK_WIDTH, else `default`."""
    return env_width() or default


def print_renderables(parts: list[Any], output: Path | None) -> None:
    """Rich renderables to the terminal (or a pipe, at its width), or as plain text at
    text_width() to -o FILE."""
    from rich.console import Group

    from jtrack.render.table import render_to_text

    if output is None:
        console = stdout_console()
        if console.is_terminal:
            for part in parts:
                console.print(part)
        else:  # piped: plain text at the pipe's width (80 unless told), no trailing blanks
            text = render_to_text(Group(*parts), width=console.width, ascii=not stdout_utf8())
            write_text(text, None, terminal=True)
        return
    write_text(render_to_text(Group(*parts), width=text_width()), output)


def tsv_escaped(df: Any) -> Any:
    """`df` with the tabs, line breaks and backslashes inside its text written as the usual
    TSV escapes (`\\t`, `\\n`, `\\r`, `\\\\`; U+2028 and U+2029 as `\\u2028`,
    `\\u2029`): one row is one line, `cut -f` finds every field. Lists are joined with `; `
    first, as in CSV."""
    import polars as pl

    from jtrack.serialize import flat_strings

    textual = [
        n
        for n, t in df.schema.items()
        if t == pl.String or isinstance(t, pl.List | pl.Struct | pl.Categorical | pl.Enum)
    ]
    if not textual:
        return df
    flat = flat_strings(df.select(textual), neutralise=False)
    escaped = [
        pl.col(n)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
        # (line breaks to str.splitlines and editors too)
        .str.replace_all("\u2028", "\\u2028", literal=True)
        .str.replace_all("\u2029", "\\u2029", literal=True)
        for n in textual
    ]
    return df.with_columns(flat.select(escaped))


# ---- reusable option types ----------------------------------------------------------------


def _store_path(value: Any) -> Path:
    """--store's value: a path; an empty one (an unset shell variable) is an invocation
    error, not the current directory (where a run would have made its store)."""
    from jtrack.checks import is_blank_name

    if isinstance(value, Path):
        return value
    if is_blank_name(str(value)):
        raise typer.BadParameter(
            "empty: name the store's folder, or leave --store out for ./.jtrack or $JTRACK_STORE"
        )
    return _as_typed(str(value))


def _as_typed(text: str) -> Path:
    """A path as typed: `./~/s` is the folder `~` here (a Path drops the `./`, and `~/s` is
    then the home's `s`, which jtrack expands as a shell does)."""
    path = Path(text)
    if str(path).startswith("~") and not text.startswith("~"):
        return Path(current_folder()) / path
    return path


StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Store directory (default ./.jtrack or $JTRACK_STORE).",
        show_default=False,
        parser=_store_path,
        metavar="<dir>",
    ),
]


OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        help="Write to FILE (format from its suffix unless --format is given; - is stdout).",
        show_default=False,
        parser=_output_path,
        metavar="<file>",
    ),
]


def format_option(allowed: tuple[Format, ...]) -> Any:
    """--format: its metavar names the formats this command writes (not every Format)."""
    return typer.Option(
        "--format",
        "-f",
        metavar="<" + "|".join(f.value for f in allowed) + ">",
        help="Output format: " + ", ".join(f.value for f in allowed) + ".",
        show_default=False,
        case_sensitive=False,
        # (shell completion offers these, not every Format: the type is the whole enum;
        # in the case typed, `H` -> `HTML`: the shell keeps only what starts as typed)
        autocompletion=lambda incomplete: [
            f.value.upper() if incomplete.isupper() else incomplete + f.value[len(incomplete) :]
            for f in allowed
            if f.value.startswith(incomplete.lower())
        ],
    )


QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Nothing on stderr but errors and warning lines (something may be wrong).",
    ),
]
RoleOpt = Annotated[
    str | None,
    typer.Option(
        "--role",
        help="Role from the config's [roles] whose permissions apply "
        "(default: $JTRACK_ROLE, then default_role).",
        show_default=False,
        metavar="<name>",
    ),
]
RedactOpt = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Replace personal data (emails, phones, IPs, traits, "
        "configured query parameters) with a stable keyed hash.",
    ),
]


TrafficOpt = Annotated[
    str | None,
    typer.Option(
        "--traffic",
        help="Traffic classes to count, comma-separated: human, ai_agent, search_crawler, "
        "monitoring, http_client, headless, suspect; or all, automated [default: human, "
        "people only].",
        show_default=False,
        metavar="<classes>",
    ),
]


def traffic_classes(text: str | None) -> tuple[str, ...]:
    """--traffic as classes (exit 2 on an unknown name, naming the nearest)."""
    from jtrack.usecases.traffic import parse_traffic

    return parse_traffic(text)


def note_line(message: str) -> None:
    """One `note: ...` line on stderr (for data formats, whose stdout is only data)."""
    stderr_line("note: " + message)


def open_store(
    store: Path | None,
    role: str | None = None,
    redact: bool = False,
    *,
    rules: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> Any:
    """The store seen through the active role and --redact (jtrack.access.StoreView). The
    roles are those of the `--config` file named, else the config's ($JTRACK_CONFIG, else
    ./jtrack.toml), or those of the `--rules` file when it holds roles (the config file
    named: they are never ignored silently)."""
    from jtrack.access import open_view, set_output_policy

    config = roles_config(rules, config)
    view = open_view(store, role=role, redact=redact, config=config)
    set_output_policy(view.policy)  # every output of this command is protected with it
    guard_store(view.root)
    return view
