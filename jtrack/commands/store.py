"""`jtrack store`: what the store holds (files taken in, runs, versions); rollback; compact;
verify."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    MAX_COUNT,
    ConfigOpt,
    Format,
    OutputOpt,
    QuietOpt,
    RoleOpt,
    StoreOpt,
    emit_frame,
    format_option,
    handle_errors,
    named_file,
    print_renderables,
    resolve_format,
    stderr_line,
    write_text,
)
from jtrack.errors import JtrackError, UsageError

FORMATS = (Format.table, Format.json)
TABLE_FORMATS = (Format.table, Format.json, Format.jsonl, Format.csv, Format.tsv, Format.md)
CHANGE_FORMATS = (*TABLE_FORMATS, Format.parquet)

store_app = typer.Typer(
    name="store",
    help="What the store holds (files taken in, runs, versions); go back to an earlier "
    "version; compact the parts daily runs add; check its files; export or erase a "
    "person's data.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")


@store_app.callback()
@handle_errors
def store_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every input and run in the table (it shows the last 10 of each; -f json "
            "has them all).",
        ),
    ] = False,
    quiet: QuietOpt = False,  # (taken as every command takes it: it writes no notes)
) -> None:
    """Show what the store holds: its totals (rows read, duplicates, rejects, the time
    span), its session options and contacts file, the files it took in (name, size,
    shape, fingerprint, rows, when), its runs and its versions (the current one and those kept
    for rollback)."""
    if ctx.invoked_subcommand is not None:  # (`jtrack store --store DIR rollback V`)
        given = {
            "--store": store,
            "--format": fmt,
            "--output": output,
            "--all": every or None,
            "--quiet": quiet or None,
        }
        ctx.obj = {k: v for k, v in given.items() if v is not None}
        return
    import polars as pl

    from jtrack.store import Store
    from jtrack.usecases.store_info import overview

    out_fmt = resolve_format(fmt, output, FORMATS, "jtrack store")
    st = Store.open(store)
    info = overview(st)
    left = st.leftovers()
    live = st.being_written() if left else False  # (a run's own folder, or a killed one's)
    if out_fmt == Format.json:
        info["leftovers"] = [{"name": n, "bytes": b, "in_progress": live} for n, b in left]
        from jtrack.serialize import to_json, to_records

        data = {k: (to_records(v) if hasattr(v, "to_dicts") else v) for k, v in info.items()}
        write_text(to_json(data), output)
        return
    from rich.text import Text

    from jtrack.render.table import FrameTable

    # (the fingerprint by its first 12 characters, as git shows a commit; dropped first
    # where the table does not fit: -f json has it whole)
    inputs = info["inputs"].with_columns(pl.col("fingerprint").str.slice(0, 12))
    if not (inputs.get_column("rows_erased") > 0).any():  # (a store nothing was erased from)
        inputs = inputs.drop("rows_erased")
    runs = info["runs"].select(
        "run", "mode", "finished", "files_read", "events_added", "sessions_added", "reason"
    )
    lines = _totals(info)
    for name, size in left:  # (a run killed at once leaves it: the next run removes it)
        held = "unreadable (not this account's)" if size is None else _size(size)
        lines.append(f"  {name}: {held} {_leftover_words(live, name)}")
    parts: list[Any] = [_Hanging(lines), Text("")]
    for frame, title, what in ((inputs, "Inputs taken in", "inputs"), (runs, "Runs", "runs")):
        shown = frame if every else frame.tail(_LAST)
        if shown.height < frame.height:  # (a year of nightly runs: 365 lines of each)
            title += f": the last {shown.height} of {frame.height:,} (--all, or -f json)"
        parts.append(
            FrameTable(shown, title, tails=("name",), extra=("fingerprint", "shape"))
            if what == "inputs"
            else FrameTable(shown, title, wrap=("reason",))  # (a short text: whole)
        )
    versions = info["versions"]
    holding = versions.filter(pl.col("holds_erased")).get_column("version").to_list()
    if not holding:  # (no version left for a reader after an erase)
        versions = versions.drop("holds_erased")
    parts.append(FrameTable(versions, "Versions (jtrack store rollback VERSION)"))
    if holding:
        parts.append(
            Text(
                f"{', '.join(holding)} {'hold' if len(holding) > 1 else 'holds'} erased data "
                "(left for a reader while it was erased; never current again): removed by "
                "the next run or `jtrack store compact`"
            )
        )
    print_renderables(parts, output)


def _leftover_words(live: bool | None, name: str = "") -> str:
    """What a `.tmp-*` folder is, by whether a run holds the store's lock (None: unknown);
    an old version a run could not remove whole (`.tmp-gone-*`: files this account may not
    delete; `versions/NAME`: its manifest removed, never read again) said as such."""
    if name.startswith("versions/"):
        return "an old version left half-removed (never read again): remove it by hand"
    if name.startswith(".tmp-gone-"):  # (renamed first, then emptied: a kill between leaves it)
        if live:
            return "an old version a run in progress is removing"
        return (
            "an old version a run was removing when it was stopped, or could not remove "
            "whole (files it may not delete): the next run tries again, or remove it by hand"
        )
    if live:
        return "being written by a run in progress"
    if live is None:
        return "a run in progress is writing, or a killed run left"
    return "a killed run left (the next run removes it)"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f} TB"


def _group_options(ctx: typer.Context, command: str, **own: Any) -> dict[str, Any]:
    """The subcommand's options (`own`, by their long names without `--`, None where not
    given) with those given to `jtrack store` before it: the same option given both ways
    with different values, or one the subcommand does not take, is refused (they were
    ignored: a rollback went to the store of the current folder)."""
    group: dict[str, Any] = (ctx.parent.obj if ctx.parent is not None else None) or {}
    out = dict(own)
    for flag, value in group.items():
        name = flag.removeprefix("--")
        if name not in own:
            raise UsageError(
                f"{flag} is not an option of `jtrack store {command}`",
                hint=f"see `jtrack store {command} --help`",
            )
        mine = own[name]
        if mine not in (None, False) and mine != value:
            raise UsageError(
                f"{flag} given twice, before and after `{command}`, with different values",
                hint=f"give it once: jtrack store {command} {flag} ...",
            )
        out[name] = value
    if "store" in out:  # (-o never writes into the store named before the subcommand either)
        from jtrack.commands._common import guard_store

        guard_store(out["store"])
    return out


#: Inputs and runs the table shows (the last ones; --all for every one).
_LAST = 10


class _Hanging:
    """Lines laid out for the width they are printed at: one too long wraps between words
    onto lines indented 4 further than its own (a hanging indent), a word wider than a line
    (a path) broken after a `/` of its own; at 40 columns `  contacts:` ended a line and
    the path began the next at column 0."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        for line in self.lines:
            for row in _hang(line, options.max_width):
                yield Text(row, overflow="fold")  # (never cut: a row too wide folds)


def _hang(line: str, width: int) -> list[str]:
    """`line` in rows of at most `width` cells (see _Hanging)."""
    import re

    from rich.cells import cell_len, get_character_cell_size

    body = line.lstrip(" ")
    first, more = line[: len(line) - len(body)], " " * (len(line) - len(body) + 4)
    rows: list[str] = []
    row = first
    for word in body.split(" "):
        room = max(width - cell_len(more), 8)
        pieces = [word]
        if cell_len(word) > room:  # (a path: after its own `/`, by character if need be)
            pieces = []
            for part in re.findall(r"[^/]*/|[^/]+", word):
                while cell_len(part) > room:  # (measured in cells: 連 takes two)
                    cells = cut = 0
                    while cut < len(part) and cells + get_character_cell_size(part[cut]) <= room:
                        cells += get_character_cell_size(part[cut])
                        cut += 1
                    cut = max(cut, 1)
                    pieces.append(part[:cut])
                    part = part[cut:]
                if pieces and cell_len(pieces[-1] + part) <= room:
                    pieces[-1] += part
                else:
                    pieces.append(part)
        for i, piece in enumerate(pieces):
            gap = "" if row.strip() == "" or i else " "
            if row.strip() and cell_len(row + gap + piece) > width:
                rows.append(row)
                row = more
                gap = ""
            row += gap + piece
    rows.append(row)
    return rows


def _totals(info: dict[str, Any]) -> list[str]:
    """What the store holds, in short lines (each wraps alone at 80 columns): events and
    where they came from, the time span, the session options, the contacts file."""
    from jtrack.options import format_duration
    from jtrack.render.text import plural

    c, o = info["counts"], info["options"]
    dups = f"{c.get('duplicates', 0):,} duplicates"
    if c.get("conflicting_duplicates"):
        dups += f" ({c['conflicting_duplicates']:,} with different contents)"
    lines = [
        f"{info['store']} ({info['version']}): {c.get('events_kept', 0):,} events, "
        f"{c.get('sessions', 0):,} sessions, {c.get('visitors', 0):,} visitors",
        f"  from {plural(len(info['inputs']), 'input')}: {c.get('rows_read', 0):,} rows read, "
        f"{dups}, {c.get('rejected', 0):,} rejected"
        + (f", {c['erased']:,} erased" if c.get("erased") else ""),
    ]
    if c.get("first_event"):
        lines.append(f"  events from {c['first_event']} to {c.get('last_event')}")
    opts = [f"gap {format_duration(float(o.get('gap_seconds') or 1200))}"]
    if o.get("max_duration_seconds"):
        opts.append(f"max duration {format_duration(float(o['max_duration_seconds']))}")
    if o.get("split_on_campaign_change"):
        opts.append("split on campaign change")
    lines.append("  sessions: " + ", ".join(opts))
    if "keep" in info:
        lines.append(
            f"  keeps {plural(int(info['keep']), 'earlier version')} for rollback "
            "(--keep, remembered: a run without it keeps as many)"
        )
    k = info.get("contacts")
    if k:
        line = (
            f"    {k.get('contacts', 0):,} contacts; visitors {k.get('visitors_known', 0):,} "
            f"known, {k.get('visitors_temporary', 0):,} temporary"
        )
        if k.get("invalid_entries"):
            line += f"; {k['invalid_entries']:,} invalid entries"
        lines += [f"  contacts: {k.get('file')}", line]
    return lines


@store_app.command("rollback")
@handle_errors
def rollback_cmd(
    ctx: typer.Context,
    version: Annotated[
        str, typer.Argument(help="The version to make current, e.g. v000003.", metavar="VERSION")
    ],
    store: StoreOpt = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for another run's lock.", min=0, metavar="<seconds>"),
    ] = 0.0,
    quiet: QuietOpt = False,
) -> None:
    """Make an earlier version of the store current again (list them with `jtrack store`).
    The next run builds on it; later versions stay until they age out. A version whose
    files are not all there (see `jtrack store verify --all`) is refused."""

    from jtrack.store import Store
    from jtrack.store.manifest import kept_of

    opts = _group_options(ctx, "rollback", store=store, quiet=quiet)
    store, quiet = opts["store"], bool(opts["quiet"])
    st = Store.open(store)
    if not st.root.is_dir():  # (a missing folder or a file: said as such, not made; a store
        st.require_current()  # that lost its CURRENT file is what rollback mends)
    with st.lock(wait=wait):
        try:  # (a store that lost its CURRENT file, or whose current version is damaged:
            before: int | None = kept_of(st.read_manifest())  # what rollback mends)
        except JtrackError:
            before = None
        st.rollback(version.strip())
        after = kept_of(st.read_manifest())
    if not quiet:
        # (the --keep the store remembers is its version's: the one rolled back to brings
        # back its own, which the next run without --keep goes by)
        changed = (
            f"; it keeps {after} earlier version{'s' if after != 1 else ''}, the --keep it "
            f"was written with (it was {before}: a run's --keep changes it)"
            if before is not None and before != after
            else ""
        )
        stderr_line(f"{st.shown}: {version.strip()} is current{changed}")


@store_app.command("compact")
@handle_errors
def compact_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    keep: Annotated[
        int | None,
        typer.Option(
            help="Earlier versions to keep (the one compacted from, the same events, is not "
            "counted; default: the --keep the store was given last, else 2), remembered by "
            "the version written as a run's --keep is.",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for another run's lock.", min=0, metavar="<seconds>"),
    ] = 0.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Merge every part that runs added into one part per bucket range, small segments of
    one input into one, and the duplicates table's deltas into its file (a store appended
    to every day, or every second by `jtrack watch`, then reads as fast as a fresh one).
    Runs merge on their own, by size: 8 runs' parts of about the same size at a time.
    Versions no one needs go, as after a run: a version left for a reader during `jtrack
    store erase` (it holds erased data) goes once the reader is done."""

    from jtrack.engine.compact import compact
    from jtrack.store import Store
    from jtrack.store.manifest import kept_of

    opts = _group_options(ctx, "compact", store=store, quiet=quiet)
    store, quiet = opts["store"], bool(opts["quiet"])
    st = Store.open(store)
    holding = st.holding_erased() if st.exists() else []
    before = set(st.versions())
    done = compact(st, keep=keep, lock_wait=wait)
    if quiet:
        return
    gone = [v for v in holding if v not in st.versions()]  # (left for a reader during an erase)
    removed = f"removed {', '.join(gone)}, which held erased data" if gone else ""
    if done.version is not None:
        stderr_line(f"{done.version}: {done.describe()}")
        if removed:
            stderr_line(removed)
    else:  # (a line, not "nothing to compact" then what it did)
        said = "nothing to compact"
        if keep is not None and (kept := kept_of(st.read_manifest())) != keep:
            # (this --keep is used, not remembered: a --keep is remembered by the version
            # written, and none was)
            let_go = sorted(before - set(st.versions()) - set(holding))
            removed_now = f": removed {', '.join(let_go)}" if let_go else ""
            said += (
                f" (--keep {keep} used this once{removed_now}"
                f"; no version written, so the store goes on keeping {kept} earlier "
                f"version{'s' if kept != 1 else ''}: a run's --keep changes that)"
            )
        stderr_line(f"{said}; {removed}" if removed else said)


#: `--from FILE --kind visitor|contact`: the ids of a batch of requests (erase, access).
_FromOpt = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="A file of ids, one a line (blank lines and lines starting with # left "
        "out), of the kind --kind says: a batch of requests; - reads them from standard "
        "input.",
        metavar="<file>",
        show_default=False,
        parser=lambda value: _from_path(value),
    ),
]


def _from_path(value: Any) -> Path | None:
    """--from's value: a file, or `-` for standard input (`./-` a file named `-`: a Path
    drops the `./`); never empty."""
    if value is None or isinstance(value, Path):
        return value
    if str(value) == "-":
        return Path("-")
    path = named_file(value)
    return Path.cwd() / "-" if path == Path("-") else path


_KindOpt = Annotated[
    str,
    typer.Option(
        "--kind",
        help="What the ids of --from are: visitor (customer ids) or contact (saved contacts' ids).",
        metavar="<visitor|contact>",
    ),
]


@store_app.command("erase")
@handle_errors
def erase_cmd(
    ctx: typer.Context,
    visitor: Annotated[
        list[str] | None,
        typer.Option(
            "--visitor",
            help="A visitor id (customerId, the cookie) whose every row goes; repeat it for more. "
            "An email or phone number is not erased by itself: the error names the visitors "
            "and contacts that carry it.",
            metavar="<id>",
        ),
    ] = None,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            help="A saved contact's id: every visitor the store resolved to it goes, and its "
            "row of the store's contacts book; repeat it for more.",
            metavar="<id>",
        ),
    ] = None,
    from_file: _FromOpt = None,
    kind: _KindOpt = "visitor",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what would go (visitors, sessions, events, rejected rows, contacts "
            "rows, files rewritten, the versions that still hold the data) and change "
            "nothing (no write lock: works read-only, beside a run).",
        ),
    ] = False,
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for another run's lock.", min=0, metavar="<seconds>"),
    ] = 0.0,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing but errors and warning lines (-f json still writes its summary).",
        ),
    ] = False,
) -> None:
    """Erase a person's data from the store (a data-protection request: GDPR art. 17):
    every event, session, duplicate, far-future and rejected row of the visitors named,
    written as a new version under the store's lock (atomically, as a run). Segments
    that hold their rows are written again without them, and what points into them moved.

    Every earlier version goes at once (they hold the data): the rollback history is lost.
    A version a reader is using is left until it is done (a warning names it, `jtrack
    store` marks it holds_erased), and `jtrack store compact` or the next run removes it.
    The ids are kept in the manifest as salted SHA-256 hashes, so that later runs drop
    their rows as they read them (a changed or renamed export,
    `jtrack watch`, --rebuild, --replace, the contacts file given again), counted as
    `erased` (rows read = kept + duplicates + rejected + erased). An id erased before is
    said to be; a request naming only such ids changes nothing and exits 0. An erased
    visitor the store resolved to a saved contact (by any match method) leaves that
    contact's row of the contacts book and its other visitors: a warning names them and
    `--contact` erases the person.

    The exports and the contacts file outside the store are yours to erase. Roles do not
    apply: whoever may write the store's folder may erase (as `jtrack sessionize`)."""

    from jtrack.engine.erase import erase
    from jtrack.store import Store

    opts = _group_options(ctx, "erase", store=store, format=fmt, output=output, quiet=quiet)
    store, fmt, output = opts["store"], opts["format"], opts["output"]
    quiet = bool(opts["quiet"])
    out_fmt = resolve_format(fmt, output, FORMATS, "jtrack store erase", check_width=False)
    visitors, contacts = _requested(visitor, contact, from_file, kind, "nothing to erase")
    done = erase(Store.open(store), visitors, contacts, dry_run=dry_run, lock_wait=wait)
    if done.versions_holding and not dry_run:
        held = ", ".join(done.versions_holding)
        stderr_line(
            f"warning: {held} still {'hold' if len(done.versions_holding) > 1 else 'holds'} "
            "the erased data: a reader is using it; once the reader is done, `jtrack store "
            "compact` removes it (and so does the next run)"
        )
    for line in _linked_warnings(done):
        stderr_line(line)
    if out_fmt == Format.json:
        from jtrack.serialize import to_json

        write_text(to_json(done.to_dict()), output)
        return
    if quiet and output is None:
        return
    write_text("".join(line + "\n" for line in _erase_lines(done)), output, terminal=True)


def _requested(
    visitor: list[str] | None,
    contact: list[str] | None,
    from_file: Path | None,
    kind: str,
    nothing: str,
) -> tuple[list[str], list[str]]:
    """The visitor and contact ids of --visitor, --contact and --from FILE --kind (erase's
    and access's selection); UsageError for a blank id, or none (`nothing`)."""
    if kind not in ("visitor", "contact"):
        raise UsageError(f"--kind {kind!r}", hint="use visitor or contact")
    visitors = list(visitor or [])
    contacts = list(contact or [])
    if from_file is not None:
        ids = _ids_from(from_file)
        (visitors if kind == "visitor" else contacts).extend(ids)
    if any(not v.strip() for v in [*visitors, *contacts]):
        raise UsageError("a blank id", hint="name each visitor or contact by its id")
    if not visitors and not contacts:
        raise UsageError(
            nothing,
            hint="name visitors (--visitor ID), contacts (--contact ID) or a file of ids "
            "(--from FILE)",
        )
    return visitors, contacts


def _linked_warnings(done: Any) -> list[str]:
    """A `warning:` line for each saved contact an erased visitor belongs to (resolved to
    it by any match method, or its book row names the cookie): its row of the store's
    contacts book and its other visitors stay."""
    from jtrack.render.text import one_line
    from jtrack.serialize import strip_control

    def ids(values: list[str]) -> str:
        shown = ", ".join(strip_control(one_line(v)) for v in values[:5])
        return shown + (f" and {len(values) - 5:,} more" if len(values) > 5 else "")

    lines = []
    verb = "would stay" if done.dry_run else "stays"
    for link in done.linked_contacts:
        c = strip_control(one_line(link["contact_id"]))
        how = ", ".join(link["matched_by"])
        others = link["other_visitors"]
        rest = (
            f"; its other visitors stay: {ids(others)} (erasing a device is not erasing the person)"
            if others
            else ""
        )
        lines.append(
            f"warning: the erased visitor{'s' if len(link['visitors']) > 1 else ''} "
            f"{ids(link['visitors'])} {'were' if len(link['visitors']) > 1 else 'was'} "
            f"resolved to the saved contact {c} (by "
            f"{how}): its row of the store's contacts book (its details and cookie ids) "
            f"{verb}{rest}; `jtrack store erase --contact {c}` erases the contact"
        )
    return lines


def _ids_from(path: Path) -> list[str]:
    """The ids of --from: a UTF-8 text file's lines, or standard input's for `-` (a batch
    from a pipe); blank lines and `#` lines left out. What cannot be read is said in words
    (no such file, a directory, not UTF-8: which line), never an exception's name."""
    from jtrack.errors import DataError, FileAccessError

    hint = "--from names a UTF-8 text file of ids, one a line, or - for standard input"
    stdin = str(path) == "-"
    shown = "-: standard input" if stdin else str(path)
    try:
        if stdin:
            import sys

            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # (`<&-`)
                raise FileAccessError(
                    "-: standard input is closed", hint="pipe the ids in, or name their file"
                )
            data = stream.read()
        else:
            data = path.read_bytes()
    except IsADirectoryError:
        raise FileAccessError(f"{path}: is a directory, not a file of ids", hint=hint) from None
    except FileNotFoundError:
        raise FileAccessError(f"{path}: no such file of ids", hint=hint) from None
    except OSError as exc:
        raise FileAccessError(
            f"{shown}: cannot read the ids ({exc.strerror or 'the system refused it'})",
            hint=hint,
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{shown}: line {line:,} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            hint="save the ids as UTF-8 text, one a line",
        ) from None
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _erase_lines(done: Any) -> list[str]:
    """The summary's lines (ids as typed, each on one line and its control characters
    shown as U+FFFD: a terminal never runs them)."""
    from jtrack.render.text import one_line, plural
    from jtrack.serialize import strip_control

    def ids(values: list[str]) -> str:
        return ", ".join(strip_control(one_line(v)) for v in values)

    before = [*done.visitors_erased_before, *done.contacts_erased_before]
    if not done.visitors and not done.contacts:  # (each one erased before)
        lines = [
            f"{done.store}: nothing to erase: erased before: {ids(before)}",
            "  (every later run drops their rows as it reads)",
        ]
        if done.versions_removed:  # (an erase cut short before its clean-up)
            lines.append(
                f"  earlier versions that held their data removed: "
                f"{', '.join(done.versions_removed)}"
            )
        return lines
    would = "would erase" if done.dry_run else "erased"
    head = f"{done.store}: {would} " + (
        f"(a new version, {done.version})" if done.version else "(nothing changed: --dry-run)"
    )
    lines = [head]
    if done.visitors:
        lines.append(f"  visitors: {len(done.visitors):,} ({ids(done.visitors)})")
    if done.contacts:
        lines.append(f"  contacts: {len(done.contacts):,} ({ids(done.contacts)})")
    lines.append(
        f"  {plural(done.sessions, 'session')}, {plural(done.events, 'event')}, "
        f"{plural(done.duplicates, 'duplicate copy', 'duplicate copies')}, "
        f"{plural(done.held, 'far-future row')}, {plural(done.rejected, 'rejected row')}, "
        f"{plural(done.contacts_rows, 'contacts row')}"
    )
    lines.append(
        f"  files {'to rewrite' if done.dry_run else 'rewritten'}: "
        f"{plural(len(done.segments_rewritten), 'segment')}, "
        f"{plural(done.parts_rewritten, 'index part')} pointing into them"
    )
    if before:
        lines.append(f"  erased before: {ids(before)} (nothing left of them)")
    missing = [*done.visitors_not_found, *done.contacts_not_found]
    if missing:
        lines.append(
            f"  not in the store: {ids(missing)} (recorded all the same: later runs "
            "drop their rows)"
        )
        lines += [f"  hint: {strip_control(one_line(h))}" for h in done.hints]
    if done.dry_run:
        if done.versions_holding:
            lines.append(
                f"  versions that hold the data, which erase removes (a new one without it "
                f"is current; the rollback history is lost): "
                f"{', '.join(done.versions_holding)}"
            )
    elif done.versions_removed:
        lines.append(
            f"  earlier versions removed (the rollback history is lost): "
            f"{', '.join(done.versions_removed)}"
        )
    return lines


ACCESS_FORMATS = (Format.json, Format.parquet)


@store_app.command("access")
@handle_errors
def access_cmd(
    ctx: typer.Context,
    visitor: Annotated[
        list[str] | None,
        typer.Option(
            "--visitor",
            help="A visitor id (customerId, the cookie) whose every row is written; repeat "
            "it for more.",
            metavar="<id>",
        ),
    ] = None,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            help="A saved contact's id: every visitor the store resolved to it, and its row "
            "of the store's contacts book; repeat it for more.",
            metavar="<id>",
        ),
    ] = None,
    from_file: _FromOpt = None,
    kind: _KindOpt = "visitor",
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(ACCESS_FORMATS)] = None,
    output: OutputOpt = None,
    role: RoleOpt = None,
    config: ConfigOpt = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            hidden=True,
            help="Refused: an access export is never redacted.",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write everything the store holds about a person (a data-protection request for
    access: GDPR art. 15), found as `jtrack store erase` finds what it would take out:
    every event row of the visitors named (and of those resolved to the contacts named)
    with every column as stored (IP address, user agent, geolocation, traits, attributes),
    and its status (kept, duplicate, held far-future, rejected); their sessions (every
    column); the rejected rows that name them (raw text as kept); the contacts book's rows
    about them; and a header: the store, its version, when the export was made (UTC), the
    ids asked for, which were found, not found or erased before, and counts.

    -f json (the default): one document, to standard output or -o FILE.json. -f parquet
    -o DIR: a new (or empty) folder of one Parquet file per table (sessions, events,
    rejected, contacts: the store's own types) and access.json (the header), readable by
    its owner only.

    The export is whole or not made: with roles configured, only a role that holds every
    permission may make one (another exits 4); --redact is refused."""

    from jtrack.access import load_policy
    from jtrack.store import Store
    from jtrack.usecases.access import access_export, check_policy, redact_refused

    opts = _group_options(ctx, "access", store=store, format=fmt, output=output, quiet=quiet)
    store, fmt, output = opts["store"], opts["format"], opts["output"]
    quiet = bool(opts["quiet"])
    from jtrack.commands._common import TEXT_SUFFIXES

    if fmt is None and (output is None or output.suffix.lower() in TEXT_SUFFIXES):
        fmt = Format.json  # (a document, whatever -o is named)
    if fmt == Format.parquet and output is None:
        raise UsageError(
            "-f parquet writes a folder of Parquet files",
            hint="add -o DIR (a new or empty folder), or use -f json",
        )
    out_fmt = resolve_format(fmt, output, ACCESS_FORMATS, "jtrack store access", check_width=False)
    if redact:  # (before the config is read: no key is needed to refuse it)
        raise redact_refused()
    visitors, contacts = _requested(visitor, contact, from_file, kind, "no one to export")
    policy = load_policy(role, config=config)
    check_policy(policy)
    if out_fmt == Format.parquet:
        assert output is not None
        _check_folder(output)
    export = access_export(Store.open(store), visitors, contacts, policy=policy)
    if out_fmt == Format.parquet:
        assert output is not None
        _write_folder(export, output)
    else:
        from jtrack.commands._common import write_chunks
        from jtrack.serialize import to_json

        # (-o FILE readable by its owner only, as -f parquet's folder: a person's data)
        write_chunks((to_json(export.to_dict()),), output, private=True)
    _access_notes(export, quiet)


def _access_notes(export: Any, quiet: bool) -> None:
    """What was not found, or erased before (notes; a warning when no one was found);
    `wrote OUTPUT` follows (jtrack.commands._common.handle_errors)."""
    from jtrack.commands._common import note_line, warning_line
    from jtrack.render.text import one_line
    from jtrack.serialize import strip_control

    def ids(values: list[str]) -> str:
        return ", ".join(strip_control(one_line(v)) for v in values)

    missing = [*export.not_found["visitors"], *export.not_found["contacts"]]
    before = [*export.erased_before["visitors"], *export.erased_before["contacts"]]
    if not export.found["visitors"] and not export.found["contacts"]:
        warning_line(
            f"{export.store}: the store holds nothing of {ids(missing + before)}"
            + (f" (erased before: {ids(before)})" if before else "")
            + ": the export says so"
        )
    elif not quiet:
        if missing:
            note_line(f"not in the store: {ids(missing)}")
        if before:
            note_line(f"erased before (nothing left of them): {ids(before)}")


def _check_folder(output: Path) -> None:
    """-o DIR of -f parquet: a new folder, or an empty one, outside the store and the
    files read (exit 2), in a folder that can be written (exit 1)."""
    from jtrack.commands._common import check_output

    if output.is_dir():
        if any(output.iterdir()):
            raise UsageError(
                f"-o {output}: the folder is not empty",
                hint="name a new folder (or an empty one): the export never mixes with other files",
            )
        check_output(output / "access.json")
    elif output.exists() or output.is_symlink():
        raise UsageError(f"-o {output}: that is a file", hint="name a new folder for -f parquet")
    else:
        check_output(output)


def _write_folder(export: Any, output: Path) -> None:
    """The export as a folder: written beside it under a temporary name (readable by its
    owner only), then renamed into place, so it is whole or not there."""
    import os
    import shutil
    import tempfile

    from jtrack.serialize import to_json, write_parquet, write_text_file

    parent = output.parent if str(output.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    try:
        write_text_file(to_json(export.header()), tmp / "access.json")
        for name, frame in export.tables().items():
            write_parquet(frame, tmp / f"{name}.parquet")
        for written in tmp.iterdir():  # (each file its owner's only too: copied out of the
            os.chmod(written, 0o600)  # folder, or the folder opened up, they stay so)
        os.replace(tmp, output)  # (over an empty folder too)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@store_app.command("verify")
@handle_errors
def verify_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(TABLE_FORMATS)] = None,
    output: OutputOpt = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every version kept, not only the current one.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Decode every row of every file too (damage inside a file; reads the whole "
            "store).",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Check that the files of the current version are what its manifest says: there,
    whole Parquet files with their table's columns and the rows it counts (--full: every
    row readable). Prints the damaged files (version, file, problem) and exits 1 when there
    are any, with what to do; when the store is whole, a line on stderr (none with -q) and
    exit 0. Versions share the files they have in common, so a damaged file is damaged in
    every version that holds it: a run refuses to write a new version on top of one."""
    import sys

    from jtrack.errors import DataError
    from jtrack.render.text import plural
    from jtrack.store import Store
    from jtrack.usecases.store_info import verify

    opts = _group_options(
        ctx, "verify", store=store, format=fmt, output=output, all=every or None, quiet=quiet
    )
    store, fmt, output = opts["store"], opts["format"], opts["output"]
    out_fmt = resolve_format(
        fmt, output, TABLE_FORMATS, "jtrack store verify", check_width=False
    )  # (sentences, or a list: nothing laid out that a bad $JTRACK_WIDTH would stop)
    res = verify(Store.open(store), every=bool(opts["all"]), full=full)
    damaged = res["damaged"]
    checked = f"{plural(res['files_checked'], 'file')} of " + (
        ", ".join(res["versions"])
        if len(res["versions"]) <= 3
        else plural(len(res["versions"]), "version")
    )
    st = Store.open(store)
    older, kept = _without_checksums(st, res["versions"]) if full else (0, 0)
    if out_fmt == Format.json:
        from jtrack.serialize import to_json, to_records

        res = {
            **res,
            "decoded_only": older + kept if full else None,
            "decoded_only_kept_inputs": kept if full else None,
        }
        write_text(to_json({**res, "damaged": to_records(damaged)}), output)
    elif damaged.height or output is not None or out_fmt != Format.table:
        emit_frame(damaged, out_fmt, output)
    if damaged.height:
        first = damaged.row(0, named=True)
        more = f" (and {damaged.height - 1:,} more)" if damaged.height > 1 else ""
        raise DataError(
            f"{res['store']}: the store is damaged: {first['version']}/{first['file']} is "
            f"{first['problem']}{more}",
            hint=res["hint"],
        )
    link = st.link_problem()
    if link is not None:  # (the versions whole, but other tools read the wrong one)
        raise DataError(
            link,
            hint=f"`jtrack store rollback {st.current_name()} {st.flag}` (or the next "
            "run) points it at the current version again",
        )
    if not opts["quiet"]:
        stderr_line(f"{res['store']}: {checked} checked, all whole")
        # (whole as far as decoding tells: a flipped bit may still decode)
        if older:
            sys.stderr.write(
                f"note: {plural(older, 'file')} written before jtrack wrote page "
                "checksums: decoded only; parts a run or `jtrack store compact` writes again "
                "get them, and a store built anew from its exports has them all\n"
            )
        if kept:  # (a rebuild copies them again as they are: no advice that cannot work)
            sys.stderr.write(
                f"note: {plural(kept, 'input')} kept as {'they were' if kept > 1 else 'it was'} "
                "(Parquet exports copied without re-encoding, with no page checksums from "
                "their writer): decoded only; keep the exports, which a rebuild reads again\n"
            )


def _without_checksums(st: Any, versions: list[str]) -> tuple[int, int]:
    """The Parquet files of `versions` whose pages carry no checksum (decoded only): those
    an earlier jtrack wrote, and the inputs kept as they were (their writer's pages)."""
    from jtrack.errors import JtrackError

    older = kept = 0
    for name in versions:
        try:
            files = st.without_checksums(name)
            as_is = {f"segments/{s.file}" for s in st.read_manifest(name).segments if s.kept_as_is}
        except (OSError, JtrackError):
            continue  # (a version let go by a run meanwhile)
        kept += sum(f in as_is for f in files)
        older += sum(f not in as_is for f in files)
    return older, kept


@store_app.command("files")
@handle_errors
def files_cmd(
    ctx: typer.Context,
    table: Annotated[
        str,
        typer.Argument(
            help="sessions (the default), index, segments, duplicates (the table's file, "
            "then its deltas, oldest first) or held.",
            show_default=False,
            metavar="TABLE",
        ),
    ] = "sessions",
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(TABLE_FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,  # (taken as every command takes it: it writes no notes)
) -> None:
    """The files of one table of the current version, one per line (paths in the
    version's own folder, STORE/versions/vN/, which no run changes while it is current),
    for tools that read Parquet (DuckDB, Polars, Spark)."""
    import polars as pl

    from jtrack.store import Store
    from jtrack.usecases.store_info import current_files

    opts = _group_options(ctx, "files", store=store, format=fmt, output=output, quiet=quiet)
    store, fmt, output = opts["store"], opts["format"], opts["output"]
    if table not in ("sessions", "index", "segments", "duplicates", "held"):
        raise UsageError(
            f"no table {table!r}", hint="use sessions, index, segments, duplicates or held"
        )
    out_fmt = resolve_format(
        fmt, output, TABLE_FORMATS, "jtrack store files", check_width=False
    )  # (sentences, or a list: nothing laid out that a bad $JTRACK_WIDTH would stop)
    files = current_files(Store.open(store), table)
    if out_fmt == Format.table and output is None:
        write_text("".join(f + "\n" for f in files), None)
        return
    emit_frame(pl.DataFrame({"file": files}, schema={"file": pl.String()}), out_fmt, output)


@store_app.command("changes")
@handle_errors
def changes_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="The version whose session table the reader holds (v000012, or 12); "
            "default: the one the current version was written on.",
            metavar="<version>",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The version to go to (default: the current one; under `jtrack store pin` "
            "of this store, $JTRACK_VERSION: the version held).",
            metavar="<version>",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    fmt: Annotated[Format | None, format_option(CHANGE_FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The session ids the current version changed since an earlier one, for a reader that
    loads the session table incrementally: id, change (added, changed, removed), since,
    version. Delete the rows of removed and changed ids, insert those of added and changed
    ids from the current version's session table: the reader then holds that table. Exit
    1 when the changes are not known (a version between them written by an erase, a
    rebuild or --replace, or no longer kept): read the whole table again."""

    from jtrack.store import Store
    from jtrack.usecases.store_info import session_changes

    opts = _group_options(ctx, "changes", store=store, format=fmt, output=output, quiet=quiet)
    store, fmt, output = opts["store"], opts["format"], opts["output"]
    out_fmt = resolve_format(fmt, output, CHANGE_FORMATS, "jtrack store changes")
    st = Store.open(store)
    held = os.environ.get("JTRACK_VERSION")
    if to is None and held and _pinned_here(st):  # (under `store pin`: the version it holds)
        to = held
    frame = session_changes(st, since, to)
    if not opts["quiet"] and frame.height:
        counts = dict(frame.group_by("change").len().iter_rows())
        said = ", ".join(f"{counts.get(c, 0):,} {c}" for c in ("added", "changed", "removed"))
        row = frame.row(0, named=True)
        stderr_line(f"note: {row['since']} -> {row['version']}: {said}")
    emit_frame(frame, out_fmt, output, title="Session changes")


@store_app.command(
    "pin",
    context_settings={"allow_interspersed_args": False},
)
@handle_errors
def pin_cmd(
    ctx: typer.Context,
    command: Annotated[
        list[str],
        typer.Argument(
            help="The command to run, and its arguments, after -- (jtrack store pin -- "
            "duckdb -c ...).",
            show_default=False,
            metavar="COMMAND",
        ),
    ],
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run COMMAND while holding the current version for it: the reader's lease jtrack's
    own readers take (STORE/.readers/), so that no run, compaction or erase removes the
    version's files while COMMAND reads them. COMMAND finds the version's folder (an
    absolute path) in $JTRACK_VERSION_DIR, its name in $JTRACK_VERSION, and the store in
    $JTRACK_STORE (jtrack commands it runs read this store); the lease goes
    when it exits, and pin exits with its status (127: not found; 128+N: killed by signal
    N)."""
    import os
    import subprocess

    from jtrack.store import Store

    opts = _group_options(ctx, "pin", store=store, quiet=quiet)
    if not command:
        raise UsageError("no command to run", hint="jtrack store pin -- COMMAND [ARGS]...")
    st = Store.open(opts["store"])
    with st.current_snapshot() as snap:
        if not snap.leased and not _read_only_file_system(st.root):
            # (it said "held" and held nothing: a run removed the version; on a read-only
            # mount no run can, and pin runs the command as before)
            from jtrack.errors import FileAccessError

            readers = os.path.join(st.shown, ".readers")
            folder = os.path.join(st.root, ".readers")
            writable = os.access(folder if os.path.isdir(folder) else st.root, os.W_OK)
            why = (
                f"this account cannot write {readers}, where leases are kept"
                if not writable
                else f"its lease could not be written in {readers}"
            )
            raise FileAccessError(
                f"{st.shown}: cannot hold {snap.name} for {command[0]}: {why}, so a run could "
                "remove the version while it reads",
                hint="ask the store's owner for write access to .readers, or run the command "
                "on a copy of the version; the README says how a group shares a store",
            )
        env = {
            **os.environ,
            "JTRACK_VERSION_DIR": os.path.abspath(snap.dir),
            "JTRACK_VERSION": snap.name,
            "JTRACK_STORE": os.path.abspath(st.root),  # (jtrack commands it runs: this store)
        }
        if not opts["quiet"]:
            stderr_line(f"note: {st.shown}: {snap.name} held while {command[0]} runs")
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as exc:  # (not found: 127, not executable: 126, as a shell says)
            from jtrack.commands._common import error_line

            what = "command not found" if isinstance(exc, FileNotFoundError) else exc.strerror
            error_line(f"{command[0]}: {what} (hint: name a program on $PATH, or give its path)")
            raise typer.Exit(127 if isinstance(exc, FileNotFoundError) else 126) from None
        code = _wait_forwarding(child)
    raise typer.Exit(code if code >= 0 else 128 - code)


def _read_only_file_system(path: Any) -> bool:
    """Whether `path` is on a file system mounted read-only (no run can write there)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _pinned_here(st: Any) -> bool:
    """Whether this process runs under `jtrack store pin` of store `st` (its
    $JTRACK_VERSION_DIR a version folder of it)."""
    folder = os.environ.get("JTRACK_VERSION_DIR")
    if not folder:
        return False
    try:
        return Path(folder).resolve().parent == (Path(st.root) / "versions").resolve()
    except OSError:
        return False


def _wait_forwarding(child: Any) -> int:
    """COMMAND's status, the version held until it ends: a Ctrl-C (which the terminal gives
    COMMAND too, in its process group) is COMMAND's to handle, and a SIGTERM or SIGHUP sent
    to pin alone (a service stopping it) is passed on to COMMAND, so it can clean up as it
    would without pin; pin never kills it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return int(child.wait())

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signum)

    handlers: dict[signal.Signals, Any] = {
        signal.SIGINT: signal.SIG_IGN,
        signal.SIGTERM: forward,
        signal.SIGHUP: forward,
    }
    before = {sig: signal.signal(sig, h) for sig, h in handlers.items()}
    try:
        return int(child.wait())
    finally:
        for sig, h in before.items():
            signal.signal(sig, h)
