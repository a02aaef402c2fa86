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

app = typer.Typer(
    name="jtrack",
    help="Analyse exported website journey-tracking events (Genesys Predictive Engagement "
    "shape or flat): sessions, contacts, session cards, rules and billing usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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

    register_all(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Commands map their own errors (commands._common
    .handle_errors); this catches what is raised outside a command, e.g. in a callback."""
    from jtrack.commands._common import debug_enabled, error_line

    # `jtrack ... | head` should end quietly, like other Unix tools.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        app(args=argv, prog_name="jtrack", standalone_mode=True)
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
