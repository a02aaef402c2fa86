"""The `jtrack` console script: Ctrl-C and SIGTERM as a command takes them from the start.

Loading the command line (Typer, every command's module) takes 0.1-0.25 s. A Ctrl-C in that
time was a traceback of the imports, and a SIGTERM (`timeout`, a shutdown) a silent exit 143:
here both are one line and exit 130, as they are once a command runs (jtrack.cli.main).
Imports the standard library only, before the command line.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

#: What a stop while the command line loads says (as jtrack.cli says it once it runs).
INTERRUPTED = "error: interrupted (hint: run it again)\n"


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # SIGTERM and SIGHUP as Ctrl-C, unless the process was started to ignore them (nohup);
    # jtrack.cli keeps these handlers for the command
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _terminated)
    try:
        from jtrack.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        sys.exit(130)
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
