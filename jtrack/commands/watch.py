"""`jtrack watch`: follow export files as they are written, keep the store up to date, and show
who is on the site now (a live terminal view, a line log when not on a terminal, an HTML
status page, or one frame with --once).

The loop: file-system events (watchdog: inotify, or polling with --poll) mark the sources
dirty; after a short debounce the engine runs exactly as `jtrack sessionize` does
(jtrack.engine.run_sessionize, with `follow`: a line still being written waits for the next
run), and a stat of the sources every few seconds is the safety net for events that never
come. The frame (jtrack.usecases.live) is computed every --interval and after every run;
the hour's tables, which read every event of the hour, are worked out in a thread of their
own (on a version of its own), so that the runs that show new events never wait for them.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    MAX_COUNT,
    ConfigOpt,
    Format,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    TrafficOpt,
    check_on_error,
    file_path,
    format_option,
    handle_errors,
    offered_formats,
    warn_address_space_limit,
)

FORMATS = (Format.table, Format.json)
#: A file-system event starts a run once events have been quiet this long...
DEBOUNCE = 0.1
#: ...or once the first of them is this old (a writer that never pauses).
MAX_WAIT = 0.5
#: The sources are stat'ed this often in case file-system events never come (seconds).
SAFETY_POLL = 5.0
#: Failed runs in a row (a file vanishing mid-rotation) before the error is final.
MAX_RETRIES = 5
#: Seconds the hour's tables (top pages, per-minute figures...) are kept between refreshes...
HOUR_EVERY = 5.0
#: ...or this many times what working them out took, when longer (a busy hour's events)
HOUR_SHARE = 20.0
#: Seconds a frame's hour tables may be reused while newer ones are worked out (no limit).
_KEEP_HOUR = 1e9
#: Seconds a file named may be missing before watch says so (a rotation renames it and its
#: writer begins a new one; a folder gone is said at once).
GONE_AFTER = 60.0
#: Warnings the --html page shows at most (those of the last hour).
PAGE_WARNINGS = 5
#: What watch says while another run holds the store's lock.
LOCKED = "another jtrack run holds the store; trying again"
_DATA = re.compile(r"\.(?:jsonl|ndjson|json|parquet|pq)(?:\.gz|\.zst|\.bz2|\.xz)?$", re.IGNORECASE)


def live_screen(console: Any, stdin: Any) -> bool:
    """Whether `jtrack watch` draws its live view: on a terminal Rich can draw on (not a
    dumb one: it drew nothing there, exit 0) with the keys on a terminal (not a closed
    stdin: an internal error); else the line log."""
    return bool(
        console.is_terminal
        and not console.is_dumb_terminal
        and console.is_interactive  # (False without $TERM: render.text.console_colors)
        and stdin is not None
        and stdin.isatty()
    )


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_cmd)


@handle_errors
def watch_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Export files, folders (recursively) or globs that exports are written into.",
            show_default=False,
            metavar="SOURCES",
        ),
    ],
    store: StoreOpt = None,
    interval: Annotated[
        float,
        typer.Option(help="Seconds between refreshes of the view.", min=0.05, metavar="<seconds>"),
    ] = 1.0,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The clock, for replayed or old exports (ISO-8601, UTC if no offset) "
            "[default: the wall clock].",
            show_default=False,
            metavar="<time>",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One run and one frame, then exit (for scripts); --format implies it.",
        ),
    ] = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            help="Rewrite a self-contained HTML status page at FILE every refresh "
            "(atomically; it reloads itself).",
            show_default=False,
            readable=False,
            parser=file_path,
            metavar="<file>",
        ),
    ] = None,
    poll: Annotated[
        bool,
        typer.Option(
            "--poll",
            help="Poll the files instead of waiting for file-system events (network "
            "filesystems, where inotify does not fire).",
        ),
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds (a last run first), exit 0 [default: until q "
            "or Ctrl-C].",
            min=0.0,
            show_default=False,
            metavar="<seconds>",
        ),
    ] = None,
    traffic: TrafficOpt = None,
    top: Annotated[
        int, typer.Option(help="Rows of each top table.", min=1, max=MAX_COUNT, metavar="<n>")
    ] = 10,
    on_error: Annotated[
        str,
        typer.Option(
            help="skip: keep rejected rows in STORE/current/rejects.jsonl and go on. fail: "
            "stop at the first rejected row (exit 1).",
            metavar="<fail|skip>",
        ),
    ] = "skip",
    wait: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for another run's lock [default: --interval]; then the run "
            "is tried again at the next refresh.",
            show_default=False,
            min=0,
            metavar="<seconds>",
        ),
    ] = None,
    config: ConfigOpt = None,
    keep: Annotated[
        int | None,
        typer.Option(
            help="Earlier versions of the store to keep, as `jtrack sessionize --keep` (the "
            "store remembers it; default: what it was given last, else 2): watch writes a "
            "version each time something arrives, so a tool that reads a version's folder "
            "for minutes needs more.",
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
            show_default=False,
        ),
    ] = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    ascii_: Annotated[
        bool,
        typer.Option(
            "--ascii",
            help="ASCII marks, sparkline and rules (no block characters or emoji); the live "
            "screen all in ASCII.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No line log, and with --once no text frame (the store, --html and -f json "
            "are still written).",
        ),
    ] = False,
) -> None:
    """Follow the files and folders exports are written into, add what arrives to the store
    as `jtrack sessionize` would, and show who is on the site now.

    New files, JSON lines files that grow (read from where the last run stopped; a line still
    being written waits for the next run), and rotations (app.jsonl renamed app.jsonl.1, a new
    app.jsonl begun: rotated copies beside a followed file are read too). The store left is
    the one an incremental `jtrack sessionize` over the same files builds; killed at any
    moment, nothing is lost and a restart carries on.

    On a terminal: active sessions (last activity within the gap) with contact, current
    page, duration, events and traffic class; visitors and events per minute; top pages,
    searches and sources of the last hour; the automated share. Keys: up/down select, Enter
    the session's card (Esc back), s sort, / filter, h people only or all traffic, q quit.
    Not on a terminal: one line per refresh that changed something.

    Examples:

      jtrack watch exports/                        # live view in the terminal

      jtrack watch exports/ --html /var/www/live.html -q &

      jtrack watch exports/app.jsonl --poll        # NFS, SMB: no inotify there

      jtrack watch exports/ --once -f json         # one frame for a script

      jtrack watch replay/ --as-of 2026-10-03T09:30Z --once

    Exit 0 after q, --once or --duration (a file named that is not there yet is said in
    a warning and waited for); 130 on Ctrl-C; 1 on a folder that is not there, or a
    rejected row with --on-error fail; 2 on a bad option.
    """
    from jtrack.errors import UsageError
    from jtrack.usecases.sessions import parse_when
    from jtrack.usecases.traffic import parse_traffic

    check_on_error(on_error)
    warn_address_space_limit()
    if fmt is not None and fmt not in FORMATS:  # (refused before anything is read)
        raise UsageError(
            f"--format {fmt.value}: watch writes one frame as a table or JSON",
            hint="choose one of " + ", ".join(f.value for f in FORMATS),
        )
    offered_formats(FORMATS)  # (a table's note names -f json, the one watch writes)
    once = once or fmt is not None  # a format is of one frame: --format implies --once
    if "-" in sources:
        raise UsageError(
            "watch follows files, not stdin", hint="name the files or folders exports go to"
        )
    if fmt != Format.json and not quiet:  # (a frame, a screen or a log laid out: a bad
        from jtrack.commands._common import env_width  # $JTRACK_WIDTH before anything runs)

        env_width()
    if html is not None and str(html) == "-":  # (it wrote a file named `-`)
        raise UsageError(
            "--html -: the status page is a file, rewritten every refresh",
            hint="name a file: --html live.html",
        )
    if duration is not None and once:
        raise UsageError(
            "--duration and --once (or --format) contradict each other",
            hint="--once prints one frame; --duration watches for a while",
        )
    classes = parse_traffic(traffic)
    at = parse_when(as_of, "--as-of")
    if at is not None:  # (the live view's windows reach days around it: Python's calendar)
        from datetime import timedelta

        try:
            _ = (at - timedelta(days=8), at + timedelta(days=8))
        except OverflowError:
            raise UsageError(
                f"--as-of {as_of}: too near the calendar's edge for the live view's windows",
                hint="give a time between the years 1 and 9999, 8 days from either end",
            ) from None
    from jtrack.read.validate import run_clock

    run_clock()  # (a $JTRACK_NOW the runs cannot read: said now, not on every run)
    watched = watch_targets(sources)  # exit 1 on a missing folder, before anything runs
    from jtrack.commands._common import open_store
    from jtrack.store import Store

    cfg = LoopConfig(
        sources=list(sources),
        targets=watched,
        interval=interval,
        as_of=at,
        traffic=classes,
        top=top,
        on_error=on_error,
        wait=interval if wait is None else wait,
        keep=keep,
        html=html,
        poll=poll,
        duration=duration,
        quiet=quiet,
        ascii=ascii_,
        once=once,
    )
    writer = Store.open(store)
    writer.background_removal = True  # a version a second: old ones go in a thread
    _check_store_outside(writer.root, sources, watched)
    view = open_store(store, role, redact, config=config)
    if html is not None:  # (never over a file it reads, nor inside the store)
        from jtrack.commands._common import check_output

        check_output(html, option="--html", what="the page")
    loop = WatchLoop(cfg, writer, view)
    loop.run_warnings += missing_files(sources)  # (said with the first run's, -q too)
    if once:
        loop.run_once(fmt or Format.table)
        return
    prev_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # quietly: the engine has cleaned up its run
    finally:
        signal.signal(signal.SIGTERM, prev_term)


def _check_store_outside(
    root: Path, sources: Sequence[str], watched: Sequence[tuple[str, bool]]
) -> None:
    """A store inside a folder watch reads would be read as exports (its own Parquet
    files), and every run would wake the next: refused (exit 2)."""
    from jtrack.errors import UsageError

    store = root.resolve()
    for folder, recursive in watched:
        inside = store == Path(folder) or Path(folder) in store.parents
        direct = store.parent == Path(folder)
        named = any(Path(raw).is_dir() and Path(raw).resolve() == Path(folder) for raw in sources)
        if inside and named and (recursive or direct):
            raise UsageError(
                f"the store {root} is inside {folder}, which watch reads",
                hint="keep the store outside the exports' folder (--store DIR)",
            )


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# ---------------------------------------------------------------------------- sources


def _globbed(raw: str) -> bool:
    """Whether a source is a pattern (a path that is there is read literally, `[` and all)."""
    return any(ch in raw for ch in "*?[") and not Path(raw).exists()


def watch_targets(sources: Sequence[str]) -> list[tuple[str, bool]]:
    """The folders to watch (folder, recursive) for the sources: a folder itself, a file's
    folder (for its rotation), a glob's fixed prefix. A missing folder is exit 1, as for
    `jtrack sessionize`."""
    from jtrack.errors import FileAccessError

    out: dict[str, bool] = {}
    for raw in sources:
        p = Path(raw)
        seps = tuple({"/", os.sep})  # (Path drops a trailing one: `exports/` is a folder)
        globbed = _globbed(raw)
        if p.is_dir():
            out[str(p.resolve())] = True
        elif raw.endswith(seps) and not globbed and not p.exists():
            raise FileAccessError(f"{raw}: no folder {p}", hint="check the path")
        elif globbed:
            prefix = re.split(r"[*?\[]", raw, maxsplit=1)[0]
            base = Path(prefix) if prefix.endswith(seps) else Path(prefix).parent
            if not base.is_dir():
                raise FileAccessError(f"{raw}: no folder {base}", hint="check the pattern")
            out[str(base.resolve())] = True  # a pattern may reach into subfolders
        else:
            parent = p.parent if str(p.parent) else Path(".")
            if not parent.is_dir():
                raise FileAccessError(f"{raw}: no folder {parent}", hint="check the path")
            key = str(parent.resolve())
            out[key] = out.get(key, False)
    return sorted(out.items())


def missing_files(sources: Sequence[str]) -> list[str]:
    """Warnings for the files named that are not there (yet) and the patterns that match
    none: watch waits for them, but a typo must not look like a quiet day."""
    from jtrack.errors import JtrackError, UnreadableSourceError
    from jtrack.read import expand_sources

    out = []
    for raw in sources:
        if not _globbed(raw):
            if not Path(raw).exists():
                out.append(
                    f"{raw}: no such file yet; watch reads it once it appears (check the name)"
                )
            continue
        try:
            expand_sources([raw])
        except UnreadableSourceError:
            continue  # (said with the run's problems)
        except JtrackError as exc:
            if "matches no file" in exc.message:
                out.append(
                    f"{raw}: the pattern matches no file yet; watch reads the files it "
                    "matches once they appear (check the pattern)"
                )
            else:  # (only files it never reads: CSV, a store's)
                out.append(
                    f"{exc.message}; watch reads the event files it matches once they appear"
                )
    return out


def run_sources(
    sources: Sequence[str], problems: list[str] | None = None
) -> tuple[list[str], tuple[Any, ...]]:
    """What to hand the engine now (the sources that hold a file, and rotated copies), and
    a signature of the files (path, size, mtime, settled) that changes whenever one does
    (and when one is left alone long enough to be read as it is); the
    sources that hold something but nothing to read (a folder that cannot be read, files
    of no events) are said in `problems`, when given."""
    from jtrack.errors import JtrackError, UnreadableSourceError
    from jtrack.read import expand_sources, rotated_copies

    chosen: list[str] = []
    files: list[str] = []
    for raw in sources:
        try:
            found = expand_sources([raw])
        except UnreadableSourceError as exc:
            if problems is not None:
                problems.append(str(exc))
            continue
        except JtrackError:
            continue  # no file yet (an empty folder, a missing file, no match): wait
        chosen.append(raw)
        files += [str(s.path) for s in found if s.path is not None]
    from jtrack.engine.inputs import settled

    rotated = [r for r in rotated_copies(sources) if r not in files]
    sig = []
    for f in [*files, *rotated]:
        try:
            st = os.stat(f)
        except OSError:
            continue
        # (settled: a file left alone long enough has its unfinished last line read as it
        # is, by a run its settling starts)
        sig.append((f, st.st_size, st.st_mtime_ns, settled(st.st_mtime)))
    return [*chosen, *rotated], tuple(sorted(sig))


# ---------------------------------------------------------------------------- watching


class FileWatcher:
    """watchdog observers on the watched folders: an event on a data file (not in the store)
    marks the sources dirty and wakes the loop through a pipe."""

    def __init__(
        self,
        targets: Sequence[tuple[str, bool]],
        poll: bool,
        ignore: Sequence[Path],
        interval: float,
    ) -> None:
        import logging

        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        # watchdog logs its threads' shutdown races ("InotifyEmitter.queue_events() called
        # when the thread is inactive") as errors; with no handler Python prints them on
        # stderr, which is for jtrack's own diagnostics (and says nothing wrong here)
        quiet = logging.getLogger("watchdog")
        if not quiet.handlers:
            quiet.addHandler(logging.NullHandler())
            quiet.propagate = False

        self.lock = threading.Lock()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        from jtrack.read.sources import _ROTATED, bare_name

        ignored = [str(p.resolve()) for p in ignore]
        watcher = self

        def interesting(path: str, event_type: str, is_dir: bool) -> bool:
            if not path or any(path == i or path.startswith(i + os.sep) for i in ignored):
                return False
            if is_dir:  # a folder created or moved in may hold exports; "modified" says nothing
                return event_type in ("created", "moved")
            # (a name without an extension, `part-00000`, is read when it starts as events)
            return bool(_DATA.search(path) or _ROTATED.search(path) or bare_name(Path(path)))

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                for p in (event.src_path, getattr(event, "dest_path", "") or ""):
                    if interesting(os.fsdecode(p), event.event_type, event.is_directory):
                        watcher.touch()
                        return

        self.observer = PollingObserver(timeout=interval) if poll else Observer()
        handler = Handler()
        for folder, recursive in targets:
            self.observer.schedule(handler, folder, recursive=recursive)

    def touch(self) -> None:
        now = time.monotonic()
        with self.lock:
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
        with contextlib.suppress(OSError):  # full (BlockingIOError) or closed: awake anyway
            os.write(self.wake_w, b"x")

    def due(self, now: float) -> bool:
        """Events are pending and quiet for DEBOUNCE, or pending for MAX_WAIT."""
        with self.lock:
            if self.first_at is None or self.last_at is None:
                return False
            return now - self.last_at >= DEBOUNCE or now - self.first_at >= MAX_WAIT

    def take(self) -> None:
        with self.lock:
            self.first_at = self.last_at = None
        _drain(self.wake_r)

    def pending_for(self, now: float) -> float | None:
        """Seconds until the pending events are due (None: none pending)."""
        with self.lock:
            if self.first_at is None or self.last_at is None:
                return None
            return max(0.0, min(self.last_at + DEBOUNCE, self.first_at + MAX_WAIT) - now)

    def start(self) -> None:
        self.observer.start()
        self.started = True

    def stop(self) -> None:
        if getattr(self, "started", False):  # (a start that failed has no thread to stop)
            self.observer.stop()
            self.observer.join(timeout=2)
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


# ---------------------------------------------------------------------------- keys

_ESCAPES = {
    "\x1b[A": "up",
    "\x1bOA": "up",
    "\x1b[B": "down",
    "\x1bOB": "down",
    "\x1b[5~": "pgup",
    "\x1b[6~": "pgdn",
    "\x1b[H": "home",
    "\x1bOH": "home",
    "\x1b[1~": "home",
    "\x1b[F": "end",
    "\x1bOF": "end",
    "\x1b[4~": "end",
    "\x1b[C": "right",
    "\x1b[D": "left",
}


def _hour_frame(view: Any, opts: Any) -> tuple[Any, float]:
    """A frame with fresh hour tables, and what it took, read on a version of its own (a
    lease of its own: the runs may make newer versions meanwhile)."""
    from jtrack.usecases.live import live_frame

    own = view.another()
    try:
        started = time.monotonic()
        return live_frame(own, opts), time.monotonic() - started
    finally:
        own.close()


def parse_keys(data: str) -> list[str]:
    """Keys from what a terminal in cbreak mode sent: escape sequences as names (up, down,
    pgup, pgdn, home, end), a lone ESC as esc, CR/LF as enter, DEL/BS as backspace."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            for seq, name in _ESCAPES.items():
                if data.startswith(seq, i):
                    keys.append(name)
                    i += len(seq)
                    break
            else:
                m = re.match(r"\x1b\[[0-9;]*[A-Za-z~]", data[i:])
                if m:  # an unknown sequence: skipped whole
                    i += m.end()
                else:
                    keys.append("esc")
                    i += 1
            continue
        keys.append("enter" if ch in "\r\n" else "backspace" if ch in "\x7f\x08" else ch)
        i += 1
    return keys


def handle_key(state: Any, key: str) -> str | None:
    """Apply one key to the view state (jtrack.render.live.ViewState). Returns what the loop
    must do: "traffic" (the classes changed: recompute the frame), "card" (build
    state.card_request's card), "render" or None."""
    if state.card is not None:
        if key in ("esc", "q", "enter", "backspace", "left"):
            state.card = None
            state.scroll = 0
        elif key == "up":
            state.scroll = max(0, state.scroll - 1)
        elif key == "down":
            state.scroll += 1
        elif key == "pgup":
            state.scroll = max(0, state.scroll - 10)
        elif key in ("pgdn", " "):
            state.scroll += 10
        elif key == "home":
            state.scroll = 0
        return "render"
    if state.typing:
        if key == "enter":
            state.typing = False
        elif key == "esc":
            state.typing, state.text = False, ""
        elif key == "backspace":
            state.text = state.text[:-1]
        elif len(key) == 1 and key.isprintable():
            state.text += key
        else:
            return None
        state.selected = 0
        return "render"
    if key == "q":
        state.quit = True
        return None
    if key == "s":
        state.sort += 1
        state.selected = 0
    elif key == "/":
        state.typing = True
    elif key == "esc":
        state.text = ""
    elif key == "h":
        state.people_only = not state.people_only
        state.selected = 0
        return "traffic"
    elif key == "up":
        state.selected = max(0, state.selected - 1)
    elif key == "down":
        state.selected += 1
    elif key == "pgup":
        state.selected = max(0, state.selected - 10)
    elif key == "pgdn":
        state.selected += 10
    elif key == "home":
        state.selected = 0
    elif key == "end":
        state.selected = max(len(state.listed) - 1, 0)
    elif key == "enter":
        if not state.listed:
            return None
        index = max(0, min(state.selected, len(state.listed) - 1))
        state.card_request = state.listed[index]
        return "card"
    else:
        return None
    return "render"


class TerminalKeys:
    """Keys from the terminal in cbreak mode (restored on close), waited for with select
    together with the file watcher's wake-up pipe."""

    def __init__(self) -> None:
        import termios
        import tty

        self.fd = sys.stdin.fileno()
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def close(self) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def read(self, timeout: float, wake: int | None) -> list[str]:
        fds = [self.fd] + ([wake] if wake is not None else [])
        ready, _, _ = select.select(fds, [], [], max(timeout, 0.0))
        if wake is not None and wake in ready:
            _drain(wake)
        if self.fd not in ready:
            return []
        data = os.read(self.fd, 1024).decode("utf-8", "replace")
        # an ESC followed at once by more is a sequence; give its tail a moment to arrive
        if data.endswith("\x1b") or re.fullmatch(r".*\x1b\[[0-9;]*", data, re.S):
            more, _, _ = select.select([self.fd], [], [], 0.02)
            if more:
                data += os.read(self.fd, 1024).decode("utf-8", "replace")
        return parse_keys(data)


def _drain(fd: int) -> None:
    """Empty the wake-up pipe (the watcher keeps when events came; the pipe only wakes)."""
    with contextlib.suppress(OSError):  # BlockingIOError: empty
        while os.read(fd, 4096):
            pass


def _sleep_or_wake(timeout: float, wake: int | None) -> list[str]:
    """No keys (not a terminal): wait for the timeout or the file watcher."""
    if wake is None:
        time.sleep(max(timeout, 0.0))
        return []
    ready, _, _ = select.select([wake], [], [], max(timeout, 0.0))
    if ready:
        _drain(wake)
    return []


# ---------------------------------------------------------------------------- the loop


@dataclass
class LoopConfig:
    sources: list[str]
    targets: list[tuple[str, bool]] = field(default_factory=list)
    interval: float = 1.0
    as_of: Any = None
    traffic: tuple[str, ...] = ("human",)
    top: int = 10
    on_error: str = "skip"
    wait: float = 1.0
    keep: int | None = None
    html: Path | None = None
    poll: bool = False
    duration: float | None = None
    quiet: bool = False
    ascii: bool = False
    once: bool = False  # (one frame: an --html page that never changes does not reload)


class WatchLoop:
    """Runs and frames: `run_once` for --once, `run_forever` for the live view and the log."""

    def __init__(self, cfg: LoopConfig, writer: Any, view: Any) -> None:
        from jtrack.render.live import ViewState

        self.cfg = cfg
        self.writer = writer  # jtrack.store.Store: the engine writes through it
        self.view = view  # jtrack.access.StoreView: everything shown is read through it
        from jtrack.commands._common import stdout_utf8

        # (its arrows and marks in ASCII where the terminal is not UTF-8, as its boxes are)
        ascii = cfg.ascii or not stdout_utf8()
        self.state = ViewState(people_only=tuple(cfg.traffic) == ("human",), ascii=ascii)
        self.classes = tuple(cfg.traffic)
        self.frame: Any = None
        self.signature: tuple[Any, ...] | None = None
        self.failures = 0
        self.added_since_log = 0
        self.last_logged: tuple[Any, ...] | None = None
        self.message: str | None = None
        #: the last run's warnings (rows rejected, conflicting redeliveries...: what
        #: sessionize says), said once (warning lines; on the live screen, its message line)
        self.run_warnings: list[str] = []
        #: notes of the last runs not said yet: why every session was rebuilt (options, or
        #: a rule of an earlier jtrack), times without a zone (once a file: a growing
        #: file's new lines would say it every run), files whose every event was taken in
        #: already (an export given twice, a file edited in place)
        self.run_notes: list[str] = []
        self.zone_said: set[str] = set()
        #: warnings about the sources said already, of the last listing and of the last
        #: run (they hold until fixed: said once, and again once they come back)
        self.warned: set[str] = set()
        self.warned_runs: set[str] = set()
        self.card_renderable: Any = None
        self.waiting_said = False
        #: the warnings the --html page shows: (when, warning)
        self.page_warnings: list[tuple[Any, str]] = []
        #: the sources named that are not there, said already (missing_files says those
        #: missing at the start)
        self.gone: set[str] = {r for r in cfg.sources if not _globbed(r) and not Path(r).exists()}
        self.missing_since: dict[str, float] = {}
        self.folders: set[str] = {r for r in cfg.sources if not _globbed(r) and Path(r).is_dir()}
        #: another run holds the store's lock (the line log says it once each time)
        self.locked = False
        self.locked_said = False
        self.hour_cost = 0.0  # seconds the last hour tables took
        #: the ids `jtrack store erase` took out of the store, as last seen (how many)
        self.erased_seen: int | None = None
        # the hour's tables being worked out in the background: (future, the classes asked)
        self._hour_pool: Any = None
        self._hour_job: tuple[Any, tuple[str, ...]] | None = None

    # ------------------------------------------------------------------ runs

    def run_options(self) -> Any:
        from jtrack.options import RunOptions

        # follow: a line (or a Parquet footer, a JSON document) still being written waits
        return RunOptions(
            on_error=self.cfg.on_error,  # type: ignore[arg-type]
            lock_wait=self.cfg.wait,
            keep=self.cfg.keep,
            follow=True,
        )

    def run(self, force: bool = False) -> int:
        """Add what is new to the store; the events added (0: nothing new or no file yet)."""
        from jtrack.engine import run_sessionize
        from jtrack.engine.run import held_due
        from jtrack.errors import FileAccessError, StoreLockedError, UsageError

        problems: list[str] = []
        self._say_gone()
        srcs, files = run_sources(self.cfg.sources, problems)
        sig = (files, self._contacts_signature())  # (a contact added or renamed: a run too)
        self._warn_once(problems)
        if not srcs:
            self.message = "waiting for a file in " + ", ".join(self.cfg.sources)
            return 0
        # (nothing changed in the files: unless the clock passed an event held aside as
        # far-future, which a run takes in, as a rebuild would)
        if sig == self.signature and not force and not held_due(self.writer):
            return 0
        try:
            result = run_sessionize(srcs, self.writer, options=self.run_options())
        except StoreLockedError:
            if self.cfg.once:  # (a cron job keeping --html up to date: a stale page says so)
                raise
            self.message = LOCKED
            self.locked = True
            return 0
        except (FileAccessError, UsageError, FileNotFoundError) as exc:
            # a file renamed or removed between the listing and the read (a rotation)
            self.failures += 1
            if self.failures >= MAX_RETRIES:
                raise
            self.message = f"trying again: {exc}"
            return 0
        self.failures = 0
        self.message = None
        self.locked = False
        self.signature = sig
        from jtrack.commands.sessionize import run_warnings

        # (what holds every run until it is fixed, a file or folder left out: said once,
        # and again if it comes back after it was fixed)
        standing = [w for w in result.standing if w not in self.warned_runs]
        self.warned_runs = set(result.standing)
        self.run_warnings += [
            w
            for w in run_warnings(result)
            if (w not in result.standing or w in standing) and w not in result.zone_warnings
        ]
        info = result.summary.run or {}
        if info.get("mode") == "rebuild":  # (said once, as sessionize says it)
            self.run_notes.append(
                next((n for n in result.notes if "rebuilt" in n), "every session was rebuilt")
            )
        from jtrack.read import zone_warnings

        new = [st for st in result.read.files if st.no_zone and st.file not in self.zone_said]
        self.zone_said.update(st.file for st in new)
        self.run_warnings += zone_warnings(new)  # (a file followed: said once)
        self.run_notes += result.repeated_files  # (the files this run read: said once)
        return int(info.get("events_added", 0) or 0)

    def _say_gone(self) -> None:
        """A folder named that is not there any more (removed, a mount gone), or a file
        named gone for GONE_AFTER seconds (not a rotation's moment between the rename and
        the new file): said in a warning line (-q too: it must not look like a quiet day),
        and again if it comes back and goes again."""
        now = time.monotonic()
        for raw in self.cfg.sources:
            if _globbed(raw):
                continue
            p = Path(raw)
            if p.exists():
                self.gone.discard(raw)
                self.missing_since.pop(raw, None)
                if p.is_dir():
                    self.folders.add(raw)
                continue
            since = self.missing_since.setdefault(raw, now)
            folder = raw in self.folders
            if raw in self.gone or not (folder or now - since >= GONE_AFTER):
                continue
            self.gone.add(raw)
            what = "the folder" if folder else "the file"
            self.run_warnings.append(
                f"{raw}: {what} is not there any more; watch reads it again once it is back "
                "(check the path or the mount)"
            )

    def _contacts_signature(self) -> tuple[Any, ...] | None:
        """The contacts file the store follows (remembered from `sessionize --contacts`):
        path, size and mtime, so that a change to it makes a run as a change to an export
        does (the run resolves the visitors again); None without one."""
        from jtrack.errors import JtrackError

        try:
            source = self.writer.read_manifest().contacts if self.writer.exists() else None
        except JtrackError:
            return None
        if source is None or not source.file:
            return None
        try:
            st = os.stat(source.file)
        except OSError:
            return (source.file,)
        return (source.file, st.st_size, st.st_mtime_ns)

    def _warn_once(self, lines: list[str]) -> None:
        """Warnings about the sources (a folder that cannot be read, files of no events),
        said with the next run's, once each."""
        new = [w for w in lines if w not in self.warned]
        self.warned = set(lines)
        self.run_warnings += new

    # ------------------------------------------------------------------ frames

    def live_options(self, hour_every: float) -> Any:
        from jtrack.usecases.live import LiveOptions

        return LiveOptions(
            as_of=self.cfg.as_of, traffic=self.classes, top=self.cfg.top, hour_every=hour_every
        )

    def compute(self, fresh: bool = False) -> Any:
        """The frame now. The hour's tables come from the last frame, or from the newer ones
        the background worked out; `fresh` (the first frame, --once, another traffic
        choice) works them out here and now. Once they are older than `hour_every`, newer
        ones are started in the background."""
        from jtrack.usecases.live import live_frame

        self.view.refresh()
        if not self.view.exists():
            self.frame = None
            return None
        # (an erase since the last frame: the hour's tables kept from it hold their rows)
        erased = self._erased_since()
        previous = None if fresh or erased else self._newest_hour()
        if previous is None or previous.hour_as_of is None:
            started = time.monotonic()
            self.frame = live_frame(self.view, self.live_options(0.0))
            self.hour_cost = time.monotonic() - started
        else:
            self.frame = live_frame(self.view, self.live_options(_KEEP_HOUR), previous)
            self._start_hour()
        self.view.refresh()  # the lease goes: writers may remove the version
        return self.frame

    def _erased_since(self) -> bool:
        """Whether visitors were erased from the store since the last frame (`jtrack store
        erase`, run meanwhile)."""
        try:
            record = self.writer.read_manifest().erased or {}
        except Exception:  # (no store yet, or one switched meanwhile: the next frame)
            return False
        seen = len(record.get("visitors") or ()) + len(record.get("contacts") or ())
        changed = self.erased_seen is not None and seen != self.erased_seen
        self.erased_seen = seen
        return changed

    def _newest_hour(self) -> Any:
        """The frame with the newest hour tables: the background's once done (if asked
        for the classes shown now), else the last frame."""
        if self._hour_job is not None and self._hour_job[0].done():
            future, classes = self._hour_job
            self._hour_job = None
            frame, self.hour_cost = future.result()  # (its error is this frame's error)
            if classes == self.classes:
                return frame
        return self.frame

    def _start_hour(self) -> None:
        """Newer hour tables in the background, once the frame's are older than
        `hour_every` (one at a time)."""
        frame = self.frame
        if self._hour_job is not None or frame is None or frame.hour_as_of is None:
            return
        if (frame.as_of - frame.hour_as_of).total_seconds() < self.hour_every():
            return
        if self._hour_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._hour_pool = ThreadPoolExecutor(1, thread_name_prefix="jtrack-hour")
        future = self._hour_pool.submit(_hour_frame, self.view, self.live_options(0.0))
        self._hour_job = (future, self.classes)

    def close(self) -> None:
        """Let the background's hour tables finish (a second at most), and go."""
        if self._hour_pool is not None:
            self._hour_pool.shutdown(wait=True, cancel_futures=True)
            self._hour_pool = None
        self._hour_job = None

    def hour_every(self) -> float:
        """Seconds the hour's tables are kept: HOUR_EVERY (or --interval), longer when
        working them out takes long (a busy hour), so that they take at most 1/HOUR_SHARE
        of the time (of the two cores the runs share with them)."""
        return max(HOUR_EVERY, self.cfg.interval, HOUR_SHARE * self.hour_cost)

    def _keep_for_page(self) -> None:
        """The warnings not said yet, kept for the --html page with when they came (the
        last PAGE_WARNINGS of the last hour: a page is looked at now and then)."""
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        kept = [w for _, w in self.page_warnings]
        self.page_warnings += [(now, w) for w in self.run_warnings if w not in kept]
        recent = [(t, w) for t, w in self.page_warnings if now - t < timedelta(hours=1)]
        self.page_warnings = recent[-PAGE_WARNINGS:]

    def write_html(self, stopped: Any = None) -> None:
        """The --html page of the frame, with the warnings of the last hour and the state
        the message line says (the store locked, waiting for a file); `stopped`: when the
        watch stopped (the page says so and no longer reloads)."""
        if self.cfg.html is None or self.frame is None:
            return
        from jtrack.files import atomic_write_text
        from jtrack.render.live import live_html

        self._keep_for_page()
        warnings = [f"{w} ({t:%H:%M:%S} UTC)" for t, w in self.page_warnings]
        message = self.message
        if message and not any(message.startswith(w) for _, w in self.page_warnings):
            warnings.append(message)  # (a state: the lock, no file; a warning is above)
        refresh = None if self.cfg.once else max(self.cfg.interval, 5.0)
        atomic_write_text(self.cfg.html, live_html(self.frame, refresh, warnings, stopped))

    def log(self, added: int) -> None:
        """One line when the refresh changed something (not with -q)."""
        self.added_since_log += added
        if self.cfg.quiet or self.frame is None:
            return
        from jtrack.render.live import log_line

        o = self.frame.overview
        key = (self.frame.version, o["active_sessions"], o["events_per_minute"])
        if key == self.last_logged and not self.added_since_log:
            return
        self.last_logged = key
        from jtrack.commands._common import write_text

        write_text(log_line(self.frame, self.added_since_log) + "\n", None, terminal=True)
        self.added_since_log = 0

    # ------------------------------------------------------------------ --once

    def run_once(self, fmt: Any) -> None:
        from jtrack.commands._common import stdout_console, write_text
        from jtrack.errors import StoreError

        self.run(force=True)
        self._say_run()
        if self.compute(fresh=True) is None:
            raise StoreError(
                f"{self.view.shown}: no store yet and no export in {', '.join(self.cfg.sources)}",
                hint="point SOURCES at the export files, or --store at an existing store",
            )
        self.write_html()
        if fmt == Format.json:
            from jtrack.access import protect_tree
            from jtrack.serialize import to_json

            # read through the store view (the role and --redact applied to what was read);
            # what was worked out after reading (a visitor id that is an email) is
            # protected as it leaves, as by every other format
            write_text(to_json(protect_tree(self.frame.to_dict(), self.view.policy)), None)
            return
        if self.cfg.quiet:  # (a cron job that keeps --html up to date: no frame in its mail)
            return
        from jtrack.commands._common import stdout_utf8
        from jtrack.render.live import frame_renderable
        from jtrack.render.table import render_to_text

        console = stdout_console()
        ascii = self.cfg.ascii or not stdout_utf8()  # (automatic where stdout is not UTF-8)
        shown = frame_renderable(self.frame, console.width, self.cfg.top, ascii)
        if console.is_terminal:
            console.print(shown)
        else:  # plain text at the pipe's width, in ASCII with --ascii
            write_text(render_to_text(shown, width=console.width, ascii=ascii), None, terminal=True)

    # ------------------------------------------------------------------ the loop

    def run_forever(
        self,
        read_keys: Callable[[float, int | None], list[str]] | None = None,
        screen: bool | None = None,
        console: Any = None,
    ) -> None:
        """Watch until q, --duration or Ctrl-C. `read_keys(timeout, wake_fd)`: the keys
        pressed (tests hand their own); `screen`: draw the live view (default: on a
        terminal), else the line log; `console`: the Rich console drawn on."""
        from jtrack.commands._common import stdout_console

        console = console or stdout_console(ascii=self.cfg.ascii)
        if screen is None:
            screen = live_screen(console, sys.stdin)
        keys: TerminalKeys | None = None
        if read_keys is None:
            if screen:
                keys = TerminalKeys()
                read_keys = keys.read
            else:
                read_keys = _sleep_or_wake
        watcher = FileWatcher(
            self.cfg.targets, self.cfg.poll, [self.writer.root], self.cfg.interval
        )
        live = None
        try:
            watcher.start()
            if screen:
                from rich.live import Live

                live = Live(console=console, screen=True, auto_refresh=False, transient=True)
                live.start()
                self._draw(live, console)
            self._loop(watcher, read_keys, live, console)
        finally:
            watcher.stop()
            self.close()
            if live is not None:
                live.stop()
            if keys is not None:
                keys.close()
            self._write_stopped()

    def _write_stopped(self) -> None:
        """The --html page once more when the watch stops (q, Ctrl-C, --duration, an
        error): without the reload, saying when it stopped. (Killed outright it cannot: the
        page's time says how old it is.)"""
        from datetime import UTC, datetime

        from jtrack.errors import JtrackError

        with contextlib.suppress(OSError, JtrackError):  # (not over the error that stopped it)
            self.write_html(stopped=datetime.now(UTC))

    def _loop(
        self,
        watcher: FileWatcher,
        read_keys: Callable[[float, int | None], list[str]],
        live: Any,
        console: Any,
    ) -> None:
        cfg = self.cfg
        start = time.monotonic()
        end = start + cfg.duration if cfg.duration is not None else None
        added = self.run(force=True)
        self.compute(fresh=True)
        self._show(added, live, console)
        next_tick = time.monotonic() + cfg.interval
        next_safety = time.monotonic() + SAFETY_POLL
        while True:
            now = time.monotonic()
            if end is not None and now >= end:
                added = self.run()
                if added or self.frame is None:
                    self.compute(fresh=True)
                    self._show(added, live, console)
                return
            waits = [next_tick - now]
            pending = watcher.pending_for(now)
            if pending is not None:
                waits.append(pending)
            if end is not None:
                waits.append(end - now)
            pressed = read_keys(max(0.0, min(waits)), watcher.wake_r)
            redraw = False
            for key in pressed:
                what = handle_key(self.state, key)
                if what == "traffic":
                    from jtrack.core.traffic import TRAFFIC_CLASSES

                    self.classes = ("human",) if self.state.people_only else TRAFFIC_CLASSES
                    self.compute(fresh=True)
                elif what == "card":
                    self._open_card(console)
                redraw = redraw or what is not None
                if self.state.quit:
                    return
            now = time.monotonic()
            added = 0
            if watcher.due(now) or now >= next_safety:
                watcher.take()
                added = self.run()
                next_safety = now + SAFETY_POLL
            if added or now >= next_tick:
                self.compute()
                self._show(added, live, console)
                next_tick = max(next_tick + cfg.interval, now)
            elif redraw and live is not None:
                self._draw(live, console)

    def _open_card(self, console: Any) -> None:
        """The selected session's card, as `jtrack card` builds it (the config's rules and
        colours), at the view's clock."""
        from jtrack.commands.card import card_options
        from jtrack.errors import JtrackError
        from jtrack.render.card import card_renderable
        from jtrack.usecases.card import build_card

        sid = self.state.card_request
        self.state.card_request = None
        if sid is None:
            return
        try:
            opts = card_options(None, None, None, False)
            if self.frame is not None:
                opts["as_of"] = self.frame.as_of
            card = build_card(self.view, sid, **opts).to_dict()
        except JtrackError as exc:
            self.message = str(exc)
            return
        finally:
            self.view.refresh()
        self.state.card = card
        self.state.scroll = 0
        self.card_renderable = card_renderable(card, ascii=self.state.ascii)

    def _say_run(self) -> None:
        """The last run's warning lines (-q too: something is wrong), and its notes (not
        with -q): every session rebuilt, times without a zone, files taken in already."""
        self._keep_for_page()
        if self.run_warnings:
            from jtrack.commands._common import warning_line

            for line in self.run_warnings:
                warning_line(line)
            self.run_warnings = []
        if self.run_notes and not self.cfg.quiet:
            from jtrack.commands._common import note_line

            for note in self.run_notes:
                note_line(note)
        self.run_notes = []

    def _show(self, added: int, live: Any, console: Any) -> None:
        self.write_html()
        if live is not None:
            if self.run_warnings and self.message is None:
                first, more = self.run_warnings[0], len(self.run_warnings) - 1
                also = f" (and {more} more warning{'s' * (more > 1)})" if more else ""
                self.message = first + also
                self.run_warnings = []
            if self.run_notes and self.message is None:
                self.message, self.run_notes = self.run_notes[0], self.run_notes[1:]
            self._draw(live, console)
            return
        self._say_run()
        if self.locked and not self.locked_said and not self.cfg.quiet:
            from jtrack.commands._common import warning_line

            warning_line(LOCKED)  # (once, until a run gets the lock again)
        self.locked_said = self.locked
        if self.frame is None and self.message and not self.cfg.quiet and not self.waiting_said:
            from jtrack.commands._common import note_line

            note_line(self.message)  # once: a line log stays quiet until there is data
            self.waiting_said = True
        self.log(added)

    def _draw(self, live: Any, console: Any) -> None:
        from jtrack.render.live import screen

        width, height = console.size
        self.state.message = self.message
        card = self.card_renderable if self.state.card is not None else None
        live.update(
            screen(self.frame, self.state, width, height, self.message, card, self.state.ascii),
            refresh=True,
        )
