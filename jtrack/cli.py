"""The jtrack command line: a thin Typer layer over the library.

Parses options, calls the core, picks the output format, and turns JtrackError into one line
on stderr and an exit code (`--debug` shows the traceback). Commands live in jtrack.commands.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import signal
import sys
import threading
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from jtrack import __version__
from jtrack.errors import ExitCode, JtrackError


def _debug_first(args: list[str]) -> list[str]:
    """`--debug` anywhere before `--` moved to the front, where the root option reads it
    (`jtrack card X --debug` works like `jtrack --debug card X`)."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    rest = [a for a in args[:end] if a != "--debug"]
    return ["--debug", *rest, *args[end:]]


class _RootGroup(TyperGroup):
    """The root command group: takes `--debug` after the command name too."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _debug_first(list(args)))


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="jtrack",
        cls=_RootGroup,
        help="Analyse exported website journey-tracking events (Genesys Predictive Engagement "
        "shape or flat): sessions, contacts, session cards, rules and billing usage.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


app = _new_app()


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"jtrack {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """jtrack: sessions, cards, rules and usage from website journey exports."""
    from jtrack.commands._common import set_debug

    set_debug(debug)


#: Other names of formats people type (for the hint of a --format jtrack does not know).
_FORMAT_NAMES = {
    "markdown": "md",
    "text": "table",
    "txt": "table",
    "ndjson": "jsonl",
    "jsonlines": "jsonl",
    "htm": "html",
    "pq": "parquet",
}


#: Options some commands name otherwise: a name typed, that command's name for it.
_OPTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "--limit": ("--top",),
    "--top": ("--limit",),
    "-n": ("--limit", "--top"),
    "--head": ("--limit", "--top"),
    "--config": ("--rules",),
    "--rules": ("--config",),
    "--output": ("-o",),
    "--out": ("-o",),
    "--silent": ("--quiet",),
    "--from": ("--since",),
    "--to": ("--until",),
    "--start": ("--since",),
    "--end": ("--until",),
    "--visitor": ("--customer",),
    "--timezone": ("--tz",),
}


def usage_error_line(exc: Any) -> str:
    """Typer's (Click's) usage errors as jtrack's one line: `error: ... (hint: ...)`."""
    from typer._click import exceptions as ce

    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "jtrack"
    help_hint = f"`{where} -h` lists what it takes"
    if isinstance(exc, ce.NoSuchOption):
        options = sorted(exc.possibilities or [])
        # an option another command names so (`report --limit` is its `--top`): that one,
        # not a name Click finds alike (`--wait`)
        own = {o for p in (ctx.command.params if ctx is not None else []) for o in p.opts}
        same = [o for o in _OPTION_SYNONYMS.get(exc.option_name, ()) if o in own]
        if exc.option_name in _OPTION_SYNONYMS:  # (a known name this command has not:
            options = same  # not one Click finds alike, `usage --limit` is not its --wait)
        hint = (f"did you mean {' or '.join(options)}? " if options else "") + help_hint
        return f"{where}: no such option {exc.option_name} (hint: {hint})"
    text = " ".join(exc.format_message().split())
    param = getattr(exc, "param", None)
    metavar = getattr(param, "metavar", None) or ""
    m = re.search(r"'([^']*)' is not one of ", text)
    if isinstance(exc, ce.BadParameter) and m and re.fullmatch(r"<[\w|]+>", metavar):
        # --format: the formats this command writes (its metavar), not every format jtrack has
        allowed = metavar[1:-1].split("|")
        typed = m.group(1).lower()
        alias = _FORMAT_NAMES.get(typed)
        guesses = [alias] if alias is not None and alias in allowed else []
        guesses += difflib.get_close_matches(typed, allowed, n=1, cutoff=0.5)
        did = f"did you mean {guesses[0]}? " if guesses else ""
        return (
            f"{where}: {m.group(1)!r} is not a format it writes: {', '.join(allowed)} "
            f"(hint: {did}{help_hint})"
        )
    m = re.fullmatch(r"Option '(.+)' requires an argument\.", text)
    if m:
        return f"{where}: {m.group(1)} needs a value (hint: {help_hint})"
    m = re.fullmatch(r"No such command '(.+)'\.(?: Did you mean (.+)\?)?", text)
    if m:
        near = f"did you mean {m.group(2)}? " if m.group(2) else ""
        return f"{where}: no such command {m.group(1)!r} (hint: {near}`{where} -h` lists them)"
    m = re.fullmatch(r"Missing argument '(.+)'\.", text)
    if m:
        return f"{where}: {m.group(1).upper()} is missing (hint: {help_hint})"
    text = text.replace("Value error, ", "").rstrip(".")
    return f"{where}: {text[:1].lower()}{text[1:]} (hint: {help_hint})"


def _install_usage_errors() -> None:
    """Typer's usage errors (unknown option, missing value, bad value) are shown as one
    `error:` line on stderr, exit 2, like every other jtrack error."""
    from typer._click import exceptions as ce

    def show(self: Any, file: Any = None) -> None:
        from jtrack.commands._common import error_line

        error_line(usage_error_line(self))

    ce.UsageError.show = show  # type: ignore[method-assign]

    # An option missing its value is reported by the parser without the command it belongs
    # to: give it the command's context, so the line names the command.
    from typer.core import TyperCommand

    original = TyperCommand.parse_args
    if getattr(original, "_jtrack", False):
        return

    def parse_args(self: Any, ctx: Any, args: list[str]) -> list[str]:
        try:
            rest = original(self, ctx, args)
        except ce.UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise
        _utf8_values(ctx)
        return rest

    parse_args._jtrack = True  # type: ignore[attr-defined]
    TyperCommand.parse_args = parse_args  # type: ignore[method-assign]


#: Arguments that name files, globs or `-` as text (list[str], not Path): kept as the
#: locale decoded them, so that they name the same files (see _utf8_values).
_PATH_ARGUMENTS = frozenset({"sources"})


def utf8_text(value: str) -> str | None:
    """A command-line value as the UTF-8 text its bytes are (None: they are not UTF-8).

    Python decodes arguments with the locale's encoding; bytes it cannot decode (any byte
    over 127 in a C locale without UTF-8 mode) become surrogates, which `os.fsencode` turns
    back into the bytes typed. Text the locale decoded (a Latin-1 locale's `café`) whose
    bytes are not UTF-8 is kept as it is."""
    raw = os.fsencode(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None if any("\udc80" <= ch <= "\udcff" for ch in value) else value


def _utf8_values(ctx: Any) -> None:
    """The text option values and arguments of a parsed command line as their UTF-8 text
    (`--where search_terms~café` in a C locale without UTF-8 mode found nothing); one that
    is not UTF-8 is a usage error. Paths are left as the locale decoded them: that string
    names the file (os.fsencode gives back its bytes)."""
    from typer._click import exceptions as ce

    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in _PATH_ARGUMENTS or value is None:
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not any(isinstance(v, str) and not v.isascii() for v in items):
            continue
        texts = [utf8_text(v) if isinstance(v, str) else v for v in items]
        if any(t is None for t in texts):
            bad = next(v for v, t in zip(items, texts, strict=True) if t is None)
            shown = os.fsencode(bad).decode("utf-8", "backslashreplace")
            raise ce.BadParameter(
                f"'{shown}' is not UTF-8 text: jtrack reads its arguments as UTF-8",
                ctx=ctx,
                param=param,
            )
        ctx.params[param.name] = texts[0] if isinstance(value, str) else type(value)(texts)


def _register() -> None:
    from jtrack.commands import register_all
    from jtrack.commands._coerce import install

    install()  # option values without importing pydantic (Typer >= 0.29); see _coerce
    _install_usage_errors()
    register_all(app)


_register()

#: Root options that may come before the command name and take no value.
_ROOT_FLAGS = frozenset({"--debug"})


def command_app(name: str) -> typer.Typer | None:
    """An app with the root options and the one command `name` (None: no such command).

    Typer builds every registered command's parameters (signatures, option objects) when an
    app runs; building only the command that runs saves ~0.1 s of each start-up."""
    from jtrack.commands import COMMAND_MODULES

    if name not in COMMAND_MODULES:
        return None
    import importlib

    one = _new_app()
    one.callback()(_root)
    importlib.import_module(f"jtrack.commands.{name}").register(one)
    return one


def app_for(args: list[str]) -> typer.Typer:
    """The app to run `args` with: the command's own app when the command line is
    `[--debug] COMMAND ...`; the full app otherwise (help, version, unknown commands)."""
    for arg in _debug_first(list(args)):
        if arg in _ROOT_FLAGS:
            continue
        if arg.startswith("-"):
            break
        return command_app(arg) or app
    return app


def output_options(args: list[str]) -> list[tuple[str, str]]:
    """The `--format` and `--output` options of a command line, in order, as (name, value)
    ("" when the value is missing): `-f json`, `-fjson`, `--format=json` alike, and in a
    bundle of short options as Click reads one (`-qf json`, `-qfjson`: jtrack's other short
    options, -q and -h, take no value)."""
    found: list[tuple[str, str]] = []
    longs = {"f": "--format", "o": "--output"}
    it = iter(args)
    for a in it:
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if name in longs.values():
                found.append((name, value if eq else next(it, "")))
            continue
        if not a.startswith("-"):
            continue
        for i, ch in enumerate(a[1:], start=1):
            if ch in longs:
                found.append((longs[ch], a[i + 1 :] or next(it, "")))
                break
            if ch not in "qh":
                break
    return found


def _given_twice(args: list[str]) -> str | None:
    """`--format` or `--output` given more than once, or `--store` twice with two values
    (Click keeps the last silently: a cron line's second --store made a new store there)."""
    seen: set[str] = set()
    for key, _ in output_options(args):
        if key in seen:
            return key
        seen.add(key)
    stores: set[str] = set()
    before = ""
    it = iter(args)
    for a in it:
        if a == "--":
            break
        name, eq, value = a.partition("=")
        # (`-o --store` names a file: a value of another option is no --store)
        if name == "--store" and before not in _TAKES_VALUE:
            given = value if eq else next(it, "")
            try:  # (a working folder deleted meanwhile: the command says so, not this)
                same = os.path.realpath(os.path.expanduser(given)) if given.strip() else given
            except OSError:
                same = given
            stores.add(same)
        before = a
    return "--store" if len(stores) > 1 else None


#: Options of jtrack's commands that take a value which could read `--store`.
_TAKES_VALUE = frozenset(
    ("-o", "--output", "--rejects", "--contacts", "--config", "--rules", "--html", "--check",
     "--where", "--columns", "--customer", "--contact", "--sort", "--since", "--until",
     "--as-of")
)  # fmt: skip


def _keep_python_sigint() -> None:
    """Ctrl-C as Python handles it, for a command (help never loads Polars). Polars installs
    its own SIGINT handler when it is imported; outside a query that handler ends the
    process at once (exit 130, no message, nothing cleaned up, a summary cut in the middle).
    With Python's, Ctrl-C raises KeyboardInterrupt once the current Polars call returns, and
    the command says "interrupted" (exit 130) or finishes what it had committed."""
    if threading.current_thread() is not threading.main_thread():
        return
    # what the process was started with: Python's handler, or SIG_IGN (a job a shell put in
    # the background, which Ctrl-C at the terminal must not stop), kept as it was
    before = signal.getsignal(signal.SIGINT)
    import polars  # noqa: F401  (installs Polars' handler, replaced below)

    signal.signal(
        signal.SIGINT, signal.SIG_IGN if before == signal.SIG_IGN else signal.default_int_handler
    )
    # SIGTERM (`timeout`, `kill`, systemd or a container stopping) as Ctrl-C: the run cleans
    # up what it staged and says so (exit 130), not a silent exit 143 that leaves it behind
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    # and SIGHUP (the SSH session dropped, the terminal closed) the same way, unless the run
    # was started to outlive it (nohup: ignored)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _terminated)


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class _ClosedStdout(io.TextIOBase):
    """sys.stdout when the process was started with it closed (`jtrack ... >&-`): writing
    data there is a one-line error (exit 1), not an internal error on None."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        from jtrack.errors import FileAccessError

        raise FileAccessError(
            "standard output is closed: nowhere to write the data",
            hint="redirect it (> FILE), or write to a file with -o FILE",
        )


def _closed_streams() -> None:
    """A closed stdout refuses data with a one-line error; a closed stderr is a sink, so
    that exit codes still say what went wrong (the usage error of a bad option: 2)."""
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  (for the process)


def print_traceback() -> None:
    """`--debug`'s traceback, its data's control characters made harmless (_common)."""
    from jtrack.commands._common import print_traceback as show

    show()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Commands map their own errors (commands._common
    .handle_errors); this catches what is raised outside a command, e.g. in a callback, and
    a Ctrl-C while the modules load (one line, exit 130: no traceback)."""
    if argv is None:
        _ascii_locale_again_in_utf8_mode()
    _closed_streams()
    try:
        _main(argv)
    except KeyboardInterrupt:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            print_traceback()
        sys.stderr.write("error: interrupted (hint: run it again)\n")
        sys.exit(int(ExitCode.INTERRUPTED))
    finally:
        if argv is None:  # (the process's own command, not a caller's)
            _done()


def _ascii_locale_again_in_utf8_mode() -> None:
    """In a C locale without Python's UTF-8 mode (`PYTHONUTF8=0`), the process runs itself
    again in UTF-8 mode when a non-ASCII argument (or $JTRACK_STORE, $JTRACK_CONFIG) names
    something. There, a file name's bytes over 127 are surrogates to Python, and Polars
    takes no such path (`--store ストア` was an internal error); in UTF-8 mode a name that
    is UTF-8 is its text, which Python and Polars both open as the same file, and one that
    is not keeps its bytes as surrogates, as before. Standard streams keep the encoding they
    had (tables are still drawn in ASCII)."""
    import codecs

    if os.name != "posix" or sys.flags.utf8_mode or getattr(sys, "frozen", False):
        return
    if codecs.lookup(sys.getfilesystemencoding()).name != "ascii":
        return
    args = sys.argv[1:]
    named = [*args, os.environ.get("JTRACK_STORE", ""), os.environ.get("JTRACK_CONFIG", "")]
    if all(a.isascii() for a in named):
        return
    orig = list(getattr(sys, "orig_argv", []))
    if not sys.executable or (args and orig[len(orig) - len(args) :] != args):
        return  # (sys.argv was changed by a caller: not the command line to run again)
    env = dict(os.environ)
    if "PYTHONIOENCODING" not in env and sys.stdout is not None:
        env["PYTHONIOENCODING"] = f"{sys.stdout.encoding}:{sys.stdout.errors}"
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os.execve(sys.executable, [sys.executable, "-X", "utf8", *orig[1:]], env)


def _done() -> None:
    """The command has finished (its output written, its run committed): a Ctrl-C or
    SIGTERM while Python shuts down (freeing a run's memory, joining its threads) is
    ignored, not a traceback or a silent 130 after a run that is whole."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _main(argv: list[str] | None) -> None:
    from jtrack.commands._common import debug_enabled, error_line

    # `jtrack ... | head` should end quietly, like other Unix tools.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = sys.argv[1:] if argv is None else argv
    twice = _given_twice(args)
    if twice is not None:
        why = (
            "a command works on one store"
            if twice == "--store"
            else "a command writes one format to one place"
        )
        error_line(f"{twice} given twice (hint: {why}: give it once)")
        sys.exit(int(ExitCode.USAGE))
    if args and not {"-h", "--help", "--version"} & set(args):
        _keep_python_sigint()
    try:
        app_for(args)(args=argv, prog_name="jtrack", standalone_mode=True)
    except JtrackError as exc:
        if debug_enabled():
            print_traceback()
        error_line(str(exc))
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        error_line("interrupted (hint: run it again)")
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyError as exc:
        if "_JTRACK_COMPLETE" not in os.environ:
            raise
        # (a completion request without the variables the shell's script sets: Click reads
        # COMP_WORDS, COMP_CWORD, _TYPER_COMPLETE_ARGS... and raised a KeyError traceback)
        error_line(
            f"shell completion: ${exc.args[0]} is not set (hint: the shell's completion "
            "script sets it: `jtrack --show-completion`, or unset $_JTRACK_COMPLETE)"
        )
        sys.exit(int(ExitCode.USAGE))
    except OSError as exc:  # (--help or --version to a full disk: outside any command)
        from jtrack.commands._common import _unexpected_message

        if debug_enabled():
            print_traceback()
        error_line(_unexpected_message(exc))
        _drop_stdout()
        sys.exit(int(ExitCode.DATA))


def _drop_stdout() -> None:
    """Send what stdout still buffers nowhere: the interpreter's flush at exit would fail
    again, with a second message."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    main()
