"""The jtrack command line: a thin Typer layer over the library.

Parses options, calls the core, picks the output format, and turns JtrackError into one line
on stderr and an exit code (`--debug` shows the traceback). Commands live in jtrack.commands.
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Annotated

import typer

from jtrack import __version__
from jtrack.errors import ExitCode, JtrackError


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="jtrack",
        help="Analyse exported website journey-tracking events (Genesys Predictive Engagement "
        "shape or flat): sessions, contacts, session cards, rules and billing usage.",
        no_args_is_help=True,
        add_completion=False,
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


def _register() -> None:
    from jtrack.commands import register_all
    from jtrack.commands._coerce import install

    install()  # option values without importing pydantic (Typer >= 0.29); see _coerce
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
    for arg in args:
        if arg in _ROOT_FLAGS:
            continue
        if arg.startswith("-"):
            break
        return command_app(arg) or app
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Commands map their own errors (commands._common
    .handle_errors); this catches what is raised outside a command, e.g. in a callback."""
    from jtrack.commands._common import debug_enabled, error_line

    # `jtrack ... | head` should end quietly, like other Unix tools.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = sys.argv[1:] if argv is None else argv
    try:
        app_for(args)(args=argv, prog_name="jtrack", standalone_mode=True)
    except JtrackError as exc:
        if debug_enabled():
            traceback.print_exc()
        error_line(str(exc))
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
