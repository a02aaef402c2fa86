"""`jtrack sessionize` end to end: one engine for new stores, incremental runs and rebuilds.

1. plan: which inputs are new (jtrack.engine.inputs), what mode the run is (a new store, an
   incremental run, a rebuild because the options changed, or a replacement), how many work
   units (bucket ranges) memory allows;
2. read: new inputs become segments of the new version and kernel rows split by unit
   (jtrack.engine.ingest);
3. decide: duplicates and the far-future cut over everything the store holds
   (jtrack.engine.decide);
4. for each unit: the visitors the run touches are sessionized again from the index rows of
   their history plus the new rows (jtrack.core.sessionize, the kernel every engine calls),
   their contacts resolved; only rows that differ from the store's are written (new parts),
   and the parts that held rows which changed are rewritten without them;
5. commit: the manifest and one atomic switch (jtrack.store).

Whatever the order and split of the runs, the store equals a rebuild over the same inputs in
the same order. Imports Polars only; never prints.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Never, Protocol

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack import __version__
from jtrack.checks import arrow_path, current_folder, must_be
from jtrack.core.buckets import DEFAULT_BUCKETS
from jtrack.core.dedupe import content_text
from jtrack.core.traffic import user_agent_list_version
from jtrack.engine.decide import CONTENT_COLUMNS, COPY_SCHEMA, Decisions, content_hash, decide
from jtrack.engine.erasure import Erasure
from jtrack.engine.ingest import STAGE_SHARE, NewData, UnitRows, read_inputs, unit_ranges
from jtrack.engine.inputs import SETTLE_SECONDS, Identity, plan_inputs, shared_names
from jtrack.engine.unit import UnitJob, UnitResult, pos_expr, run_unit, split_pos, visitor_states
from jtrack.errors import DataError, JtrackError, UsageError
from jtrack.options import (
    CAMPAIGN_RULE,
    CONTENT_RULE,
    DEFAULT_MEMORY_LIMIT,
    ID_RULE,
    IDENTITY_RULE,
    STREAM_RULE,
    VISIT_RULE,
    RunOptions,
    SessionizeOptions,
    format_duration,
)
from jtrack.progress import ProgressFn, ProgressUpdate, no_progress
from jtrack.read import (
    REJECT_REASONS,
    SRC_FILE,
    SRC_LINE,
    LeftOut,
    ReadResult,
    Source,
    as_source_list,
    expand_sources,
    left_out,
    rejects_frame,
    zone_warnings,
)
from jtrack.read.sources import compression
from jtrack.schema import INDEX_SCHEMA, KERNEL_COLUMNS
from jtrack.serialize import iso_z
from jtrack.serialize import iso_z as iso  # (jtrack.engine's name for it)
from jtrack.store import (
    BucketPolicy,
    ContactsSource,
    InputFile,
    Manifest,
    PartInfo,
    RunInfo,
    SegmentInfo,
    Snapshot,
    Store,
    layout,
)
from jtrack.store.layout import (
    CONTACTS_BOOK,
    DUPLICATE_DELTAS,
    DUPLICATES,
    HELD,
    REJECTS,
    version_name,
)
from jtrack.store.manifest import kept_of
from jtrack.store.snapshot import collect_side_by_side
from jtrack.store.writer import VersionWriter, no_session_changes

#: Peak memory per row of a work unit (kernel and context columns, sorted and grouped;
#: measured: one unit of 1M flat Parquet events peaks at 1.85 GiB in all, ~1,620 bytes a
#: row over BASE_MEMORY, with some room for longer texts).
BYTES_PER_ROW = 1_700
#: What a row read from JSON costs on top: the text and decoded pieces its reading leaves
#: behind (one unit of 1M Genesys NDJSON events peaks at 2.5 GB in all).
TEXT_BYTES_PER_ROW = 900
#: Memory per new row that the run keeps whatever its split: the id table every decision
#: reads (26 bytes a row) and the copies its joins and sorts make.
RUN_BYTES_PER_ROW = 64
#: Memory taken before any row: the interpreter, Polars, PyArrow.
BASE_MEMORY = 300 * 1024**2
#: Rows read at a time (at most): larger chunks save little time and cost memory.
MAX_CHUNK_ROWS = 250_000
#: Memory per row of a chunk being read and validated.
CHUNK_BYTES_PER_ROW = 1_500
#: Memory per stored event of the history's keys for duplicate decisions (_stored_keys).
KEY_BYTES_PER_EVENT = 17

#: The held (far-future) rows: what the kernel needs of them, where they are and came from.
HELD_SCHEMA: dict[str, pl.DataType] = {
    **{c: INDEX_SCHEMA[c] for c in KERNEL_COLUMNS},
    "bucket": pl.UInt16(),
    "_pos": pl.UInt64(),
    "_file": pl.String(),
    SRC_LINE: pl.Int64(),
}
#: Copies of event ids delivered more than once (kept and duplicate), with their contents'
#: hash: the duplicates the store dropped and the conflicting redeliveries.
DUPS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "created_date": pl.Datetime("us", "UTC"),
    "_pos": pl.UInt64(),
    "bucket": pl.UInt16(),
    "customer_id": pl.String(),
    "status": pl.String(),
    "_hash": pl.UInt64(),
}


# ---------------------------------------------------------------------------- results


@dataclass
class RunSummary:
    """What a store holds after a run (totals over every input taken in) and what the run did.

    rows_read = events_kept + duplicates + rejected + erased, always (erased: rows of
    visitors `jtrack store erase` took out, dropped as read).
    """

    rows_read: int
    events_kept: int
    duplicates: int
    rejected: int
    conflicting_duplicates: int
    sessions: int
    visitors: int
    unattached_events: int
    first_event: datetime | None
    last_event: datetime | None
    files: list[dict[str, Any]] = field(default_factory=list)
    rejects_file: str | None = None
    store: str | None = None
    contacts: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    version: str | None = None
    erased: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.events_kept + self.duplicates + self.rejected + self.erased

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows_read": self.rows_read,
            "events_kept": self.events_kept,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicting_duplicates": self.conflicting_duplicates,
            "sessions": self.sessions,
            "visitors": self.visitors,
            "unattached_events": self.unattached_events,
            "first_event": iso_z(self.first_event),
            "last_event": iso_z(self.last_event),
            "files": self.files,
            "rejects_file": self.rejects_file,
            "store": self.store,
            "version": self.version,
        }
        if self.erased:
            out["erased"] = self.erased
        if self.contacts is not None:
            out["contacts"] = self.contacts
        if self.run is not None:
            out["run"] = self.run
        return out


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def conflict_fields(conflicts: pl.DataFrame) -> str:
    """What the copies of conflicting redeliveries differ in (StoredRun.conflicts' `fields`
    and `spread`), as the warning ends with it: `; they differ in created_date only, by 4h
    ...`; empty when not compared."""
    if "fields" not in conflicts.columns:
        return ""
    known = conflicts.filter(pl.col("fields").is_not_null())
    if known.height == 0:
        return ""
    counts = (
        known.select(pl.col("fields").explode().drop_nulls())
        .group_by("fields")
        .len()
        .sort("len", "fields", descending=[True, False])
    )
    if counts.height == 0:
        return ""
    sets = known.get_column("fields").list.sort().list.join(",").unique()
    names = counts.get_column("fields").to_list()
    if sets.len() == 1:  # (every one alike)
        said = f"they differ in {', '.join(names)}{' only' if len(names) < 4 else ''}"
    else:
        said = "they differ in " + ", ".join(
            f"{f} ({n:,})" for f, n in counts.select("fields", "len").iter_rows()
        )
    if "created_date" in names:
        by_ = ", by " if sets.len() == 1 else "; the times by "
        spreads = known.filter(pl.col("fields").list.contains("created_date")).get_column("spread")
        most, least = spreads.max(), spreads.min()
        if isinstance(most, timedelta) and isinstance(least, timedelta):
            quarter = timedelta(minutes=15)
            if most < timedelta(seconds=1):
                said += (
                    f"{by_}less than a second (one copy's times more precise: .413Z and .413268Z?)"
                )
            elif (
                least >= quarter
                and most <= timedelta(hours=14)
                and all(t % quarter == timedelta(0) for t in spreads.unique().to_list())
            ):
                by = _hours(most) if most == least else f"{_hours(least)} to {_hours(most)}"
                said += (
                    f"{by_}{by}, as a UTC offset does: a copy whose time has no zone (read as "
                    "UTC) may be the one kept"
                )
    return f"; {said}"


def _hours(t: timedelta) -> str:
    """A whole number of quarter hours as `4h`, `5h30m`."""
    minutes = int(t.total_seconds() // 60)
    return f"{minutes // 60}h" + (f"{minutes % 60}m" if minutes % 60 else "")


@dataclass
class StoredRun:
    """A run kept in a store: the summary, the accounting, and its sessions read back."""

    summary: RunSummary
    read: ReadResult
    contacts_invalid: pl.DataFrame | None = None
    conflicts: pl.DataFrame | None = None
    store: Store | None = None
    notes: list[str] = field(default_factory=list)
    #: what may mean something is wrong, said even by a quiet run: rows this run rejected
    #: (--on-error skip), a --replace that left the store smaller (all_warnings(): these,
    #: the reading's and the conflicting redeliveries', every line `jtrack sessionize` says)
    warnings: list[str] = field(default_factory=list)
    #: those of `warnings` about the sources that hold every run until fixed (files and
    #: folders left out, a contacts file cut short): `jtrack watch` says them once
    standing: list[str] = field(default_factory=list)
    #: what the sources' folders and globs reach and the run did not read (jtrack.read
    #: left_out: said in `notes` and `standing`; a report of files says it its own way)
    left_out: LeftOut | None = None
    #: the notes (also in `notes`) of the files of this run whose every event was taken in
    #: already: the same export twice, or a file edited in place (jtrack watch says them)
    repeated_files: list[str] = field(default_factory=list)
    #: those of `warnings` about files of this run some of whose times had no zone and were
    #: read as UTC (zone_warnings): `jtrack watch` says them once a file it follows
    zone_warnings: list[str] = field(default_factory=list)

    def all_warnings(self) -> list[str]:
        """Every warning of the run, as `jtrack sessionize` and `jtrack watch` say them (even
        with -q): the reading's (empty inputs, files left out, times without a zone that
        matter...), the run's own, and event ids that came more than once with different
        contents."""
        lines = [*self.read.warnings, *self.warnings]
        conflicts = self.conflicts
        if conflicts is not None and conflicts.height:
            ids = conflicts["event_id"].head(5).to_list()
            more = f" (+{conflicts.height - 5} more)" if conflicts.height > 5 else ""
            lines.append(
                f"{conflicts.height} event id(s) came more than once with different contents; "
                f"the earliest (then the first read) of each was kept: {', '.join(ids)}{more}"
                + conflict_fields(conflicts)
            )
        return lines

    def session_table(self, limit: int | None = None) -> pl.DataFrame:
        """The store's sessions by start and id (the first `limit` of them)."""
        assert self.store is not None
        from jtrack.store.snapshot import first_by_start

        with self.store.current_snapshot() as snap:
            return first_by_start(snap.scan_sessions(), limit)


# ---------------------------------------------------------------------------- the run


@dataclass
class _Context:
    """What every unit of a run shares."""

    options: RunOptions
    session: SessionizeOptions
    base: Manifest | None
    snap: Snapshot | None
    writer: VersionWriter
    run: int
    everyone: bool  # every visitor of the store is touched (rebuild, new contacts book)
    decisions: Decisions
    book: pl.DataFrame | None
    default_region: str | None
    far_new: pl.Series
    invalid_entries: int = 0
    reclassify: bool = False
    #: the first and last time of the run's accepted rows (RunInfo.events_from, events_to)
    span: tuple[str | None, str | None] = (None, None)
    reason: str | None = None  # why every session is worked out again (RunInfo.reason)
    #: the store's duplicates table as the run reads it (_duplicates: hashed again once)
    duplicates: pl.LazyFrame | None = None
    #: the duplicates table is written whole, in one file (see _write_duplicates)
    merge_duplicates: bool = False
    #: visitors being erased (jtrack store erase): their stored rejects are left out
    erasure: Erasure | None = None


def run_sessionize(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    store: Store | str | os.PathLike[str],
    *given: Never,
    options: RunOptions | SessionizeOptions | None = None,
    progress: ProgressFn | None = None,
    stdin: Any = None,
    **fields: Any,
) -> StoredRun:
    """Add what is new in `sources` (a path, or a list of paths) to the store (a Store or
    its folder), or build it, atomically.

    `options=` is a RunOptions; any of its fields may also be given as a keyword
    (`run_sessionize(paths, store, contacts="contacts.csv", on_error="skip")`); options are
    keywords only (a third argument is a UsageError)."""
    if given:
        raise UsageError(
            f"run_sessionize: a {type(given[0]).__name__} after the store: options are keywords",
            hint="pass it as options=, or the options as keywords: "
            'run_sessionize(paths, store, on_error="skip")',
        )
    must_be(
        sources, "sources", (str, os.PathLike, Iterable), "a path, a list of paths or a DataFrame"
    )
    must_be(
        options, "options", (RunOptions, SessionizeOptions), "a RunOptions (or keywords)", none=True
    )
    opts = _legacy_options(options, fields)
    if isinstance(store, str | os.PathLike):  # (a folder: the store in it)
        store = Store.open(store)
    if not isinstance(store, Store):
        raise UsageError(f"store {store!r}", hint="a jtrack.store.Store, or the store's folder")
    say = progress or no_progress
    started = _now()
    foreign = [] if store.exists() else store.foreign_entries()
    if foreign:  # (a store is started in a new or empty folder, never among other files)
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise UsageError(
            f"{store.shown}: not a jtrack store, and not empty (it holds {shown})",
            hint="--store names the folder jtrack keeps its store in: a new or empty "
            "folder (default ./.jtrack), not the exports folder",
        )
    named = as_source_list(sources)
    sources = named  # (an iterator is read once)
    from jtrack.read.validate import run_clock

    run_clock()  # (a $JTRACK_NOW it cannot read: said before anything, not on a busy night)
    if not named and not store.exists():  # (a glob that matched nothing: no empty store)
        raise UsageError(
            "no sources, and no store to work on",
            hint='pass export files, folders or globs (or "-" with stdin)',
        )
    from jtrack.read.jsonl import documents_within

    # (stdin is spooled inside the store: its personal data stays there, removed after; a
    # JSON document is bounded by --memory-limit when one is given, else by the machine's)
    bound = opts.memory_limit if opts.memory_limit != DEFAULT_MEMORY_LIMIT else None
    with (
        store.lock(wait=opts.lock_wait),
        store.scratch("stdin") as spool,
        documents_within(bound),
    ):
        store.refresh()
        base = store.read_manifest() if store.exists() else None
        srcs = expand_sources(sources, stdin=stdin, spool=spool)
        if opts.rejects_path is not None:  # refused before anything is written
            from jtrack.files import check_rejects_target

            inputs: list[str | Path] = [s.path for s in srcs if s.path and not s.stdin]
            inputs += _contacts_files(base, opts, store.root)
            check_rejects_target(opts.rejects_path, inputs=inputs, store_root=store.root)
        srcs, own = _outside(srcs, store)
        mode, notes, reason = _mode(base, opts)
        skipped = left_out(sources)
        notes += skipped.notes()
        # (what may hold exports and is not read: said even by a quiet run)
        early_warnings = skipped.warnings("read")
        if own:
            notes.append(
                f"left out {own} file{'s' if own != 1 else ''} inside the store's own "
                f"folder ({store.shown})"
            )
        book_source, book, book_invalid, book_changed, book_notes = _contacts(
            base, opts, early_warnings, store.root
        )
        notes += book_notes
        if reason == IDENTITY_REASON and book is not None:
            book_changed = True  # (every entry judged again by the newer rule: said again)
        if reason is None and book_changed and base is not None:
            reason = _contacts_reason(base, book_source, book, store.root)
        history_base = None if mode in ("new", "replace") else base
        planned = plan_inputs(
            srcs,
            history_base.inputs if history_base else [],
            follow=opts.follow,
            max_line_bytes=opts.max_line_bytes,
        )
        if opts.follow:
            notes += [
                f"{s.name}: still being written, left for the next run" for s in planned.waiting
            ]
        else:  # (a nightly run: said even by -q, as a file it did not take)
            early_warnings += [
                f"{s.name}: still being written (changed in the last "
                f"{SETTLE_SECONDS:.0f} s and unfinished), left for the next run"
                for s in planned.waiting
            ]
        notes += [
            f"{s.name}: the same bytes as {first.name}, read once (skipped)"
            for s, first in planned.twins
        ]
        relabel = base is not None and base.traffic_lists != user_agent_list_version()
        nothing_new = (
            not planned.read
            and mode == "incremental"
            and not book_changed
            and not relabel
            and not held_due(store, base)
        )
        if nothing_new and base is not None:
            if opts.rejects_path is not None:  # (this run rejected nothing: said by the file)
                from jtrack.files import write_rejects

                write_rejects(_empty_rejects(), opts.rejects_path, store_root=store.root)
            run = _nothing_new(store, base, planned, started)
            run.notes = notes
            run.warnings = early_warnings
            run.standing = list(early_warnings)
            run.left_out = skipped
            store.refresh()
            return run
        # the writer holds the lock: no one can remove the version it builds on, so it
        # reads it without a lease (and may remove it once the new version is current)
        snap = (
            Snapshot.at(store.version_dir(f"v{history_base.version:06d}"), history_base)
            if history_base is not None
            else None
        )
        return _run(
            store,
            opts,
            say,
            started,
            base,
            history_base,
            snap,
            mode,
            notes,
            planned,
            (book_source, book, book_invalid, book_changed),
            early_warnings,
            reason,
            skipped,
        )


def _run(
    store: Store,
    opts: RunOptions,
    say: ProgressFn,
    started: str,
    base: Manifest | None,
    history: Manifest | None,
    snap: Snapshot | None,
    mode: str,
    notes: list[str],
    planned: Any,
    contacts: tuple[ContactsSource | None, pl.DataFrame | None, pl.DataFrame | None, bool],
    early_warnings: list[str],
    reason: str | None = None,
    skipped: LeftOut | None = None,
) -> StoredRun:
    book_source, book, book_invalid, book_changed = contacts
    if book is None and book_source is not None and snap is not None:
        book = snap.contacts_book()  # the file is gone: the copy the store took
    if not book_changed:
        book_invalid = None  # reported when the file was taken in, not every night
    erasure = Erasure.of(base.erased) if base is not None else None
    if book is not None and erasure is not None and erasure.contacts:
        book = book.filter(~erasure.contact_expr())  # (an erased contact's row: never again)
    engine = engine_for(opts.engine, opts)
    writer: VersionWriter | None = None
    try:
        writer = store.begin_version(base)
        run_no = base.next_run if base else 1
        policy = (
            history.bucket_policy
            if history
            else BucketPolicy(buckets=opts.buckets or DEFAULT_BUCKETS)
        )
        buckets = policy.buckets
        new_rows_est, text_rows_est = _estimate_rows([s for s, _ in planned.read])
        hist_rows = int(history.counts.get("events_kept", 0)) if history else 0
        lists = user_agent_list_version()
        relabel = history is not None and history.traffic_lists != lists
        if relabel and history is not None and history.traffic_lists is not None:
            notes.append(
                f"the user-agent lists changed ({history.traffic_lists} -> {lists}): every "
                "session's traffic class is worked out again"
            )
            reason = reason or "user-agent lists changed"
        everyone = history is not None and (mode == "rebuild" or book_changed or relabel)
        work_rows = new_rows_est + (hist_rows if everyone else min(hist_rows, new_rows_est))
        usable = max(opts.memory_limit - BASE_MEMORY, opts.memory_limit // 2)
        # the history's id hashes and times, read once (16 bytes an event) when they fit in
        # a share of the memory; a process that follows files (jtrack watch) keeps them
        # between runs. Else the decisions scan the store for each of its questions.
        # (and those of the duplicate copies: as many again for a store fed overlapping exports)
        key_rows = hist_rows + (int(history.counts.get("duplicates", 0)) if history else 0)
        keys_held = opts.follow or key_rows * KEY_BYTES_PER_EVENT <= usable // 4
        run_wide = new_rows_est * RUN_BYTES_PER_ROW + (
            key_rows * KEY_BYTES_PER_EVENT if keys_held else 0
        )
        for_units = max(usable - run_wide, usable * 3 // 5, 1)  # (1 byte: no division by 0)
        work_bytes = work_rows * BYTES_PER_ROW + text_rows_est * TEXT_BYTES_PER_ROW
        n_units = opts.units or max(1, -(-work_bytes // for_units))
        ranges = unit_ranges(buckets, n_units)
        chunk_rows = opts.chunk_rows or max(
            10_000, min(MAX_CHUNK_ROWS, usable // CHUNK_BYTES_PER_ROW)
        )
        first_segment = history.next_segment if history else 1
        new = engine.read(
            planned.read,
            writer,
            first_segment=first_segment,
            run=run_no,
            buckets=buckets,
            ranges=ranges,
            options=opts,
            chunk_rows=chunk_rows,
            progress=say,
            src_offset=len(history.inputs) if history else 0,
            erasure=erasure,
        )
        _guard(new, base, mode, opts)
        zone_said = zone_warnings(new.files)
        zone_said += _number_rule_warning(new.files, base, mode)
        notes += new.notes  # (fields the files hold that jtrack does not read)
        layout.kill_point("after_segments")
        say(ProgressUpdate("deduplicating", rows=new.rows_read))
        stored_dups = _duplicates(snap) if snap is not None else None
        sides = _side_copies(snap, stored_dups) if snap is not None else []
        copies = _history_copies(snap, sides) if snap is not None else _empty_copies()
        decisions = decide(
            new.ids,
            copies,
            lambda pos: engine.rows_at(new, pos, ["customer_id", "event_id"]),
            _stored_keys(snap, sides) if snap is not None and keys_held else None,
        )
        repeated = _repeated_files(
            new, decisions, {i.path for i in history.inputs} if history else set()
        )
        notes += repeated
        span = _events_span(new.ids, decisions.drop_new)
        new.release_ids()
        if opts.on_error == "fail":
            # stored rows the new ones put beyond the cut come first in input order: a run
            # over every file at once stops at them, and this one does not take them away
            stored = _far_stored_error(snap, decisions) if snap is not None else None
            if stored is not None:
                raise stored
            if decisions.far_new.len():
                raise _far_future_error(engine, new, decisions)
        base_session = _session_options(history) if history else None
        session = opts.session or base_session or SessionizeOptions()
        ctx = _Context(
            options=opts,
            session=session,
            base=history,
            snap=snap,
            writer=writer,
            run=run_no,
            everyone=everyone,
            decisions=decisions,
            duplicates=stored_dups,
            book=book,
            default_region=book_source.default_region if book_source else None,
            far_new=decisions.far_new,
            invalid_entries=book_invalid.height
            if book_invalid is not None
            else _invalid_before(base),
            reclassify=relabel,
            reason=reason,
            span=span,
        )
        jobs = [_job(ctx, u, lo, hi) for u, (lo, hi) in enumerate(ranges)]
        results = engine.run_units(jobs, new, say)
        layout.kill_point("after_index")
        say(ProgressUpdate("writing", steps_done=len(ranges), steps_total=len(ranges)))
        manifest, run_info, conflicts, run_rejects = _finish(
            ctx, store, new, results, book_source, base, history, mode, started, planned
        )
        keep = opts.keep if opts.keep is not None else kept_of(base)
        manifest.keep = opts.keep if opts.keep is not None else (base.keep if base else None)
        writer.commit(manifest, keep)
    except BaseException:
        # One Ctrl-C can arrive twice (Polars raises KeyboardInterrupt inside a query, then
        # Python its own pending one, at the next call): the clean-up is retried, not left
        # half done.
        try:
            _clean_up(store, writer)
        except KeyboardInterrupt:
            _clean_up(store, writer)
        raise
    store.refresh()
    # (read from the version just committed, outside the clean-up above: it is the store's)
    conflicts = _conflict_fields(store, conflicts)
    from jtrack.engine.compact import FOLLOW_MERGE_ROWS, compact_locked, needs_compaction

    # (a process that follows files merges small parts only: it must not stop for long)
    most = FOLLOW_MERGE_ROWS if opts.follow else None
    if needs_compaction(manifest, most):  # the parts of many daily runs: merged now and then
        say(ProgressUpdate("compacting"))
        done = compact_locked(store, keep=keep, max_rows=most)
        if done.version is not None:
            manifest = store.read_manifest(done.version)
            notes.append(f"compacted the store: {done.describe()}")
    summary = _summary(manifest, store, new, run_info)
    summary.contacts = manifest.contact_counts
    per_file = dict(run_rejects.group_by("file").len().iter_rows())
    for f in new.files:
        f.rows_rejected = int(per_file.get(f.file, 0))
    summary.files = [f.accounting() for f in new.files]
    read = ReadResult(
        events=pl.DataFrame(),
        rejects=run_rejects,
        files=new.files,
        warnings=new.warnings,
        notes=new.notes,
    )
    if opts.rejects_path is not None:  # (empty when none: an earlier run's are not this one's)
        from jtrack.files import write_rejects  # safe file writes

        inputs: list[str | Path] = [s.path for s, _ in planned.read if s.path and not s.stdin]
        inputs += _contacts_files(base, opts)
        try:
            write_rejects(read.rejects, opts.rejects_path, inputs=inputs, store_root=store.root)
        except JtrackError as exc:  # (after the commit: said, and where the rejects are)
            said = exc.message.removesuffix("; nothing was written")
            raise type(exc)(
                f"{said}; the run itself was committed (the store is at {summary.version}, "
                f"its rejects in {store.rejects_file()})",
                hint="copy that file, or name a --rejects file that can be written",
            ) from exc
        summary.rejects_file = str(opts.rejects_path)
    elif manifest.rejects:
        summary.rejects_file = str(store.rejects_file())
    warnings = [*early_warnings, *zone_said]
    if read.rejects.height:
        # (rows of earlier runs' files: stored events this run's put beyond the far-future cut)
        ours = read.rejects.get_column("file").is_in([f.file for f in new.files]).sum()
        n, earlier = int(ours), read.rejects.height - int(ours)
        if n:
            warnings.append(
                f"{n:,} row{'s' if n != 1 else ''} of this run {'were' if n != 1 else 'was'} "
                f"rejected and left out (see {summary.rejects_file})"
            )
        if earlier:
            warnings.append(
                f"{earlier:,} event{'s' if earlier != 1 else ''} the store held "
                f"{'are' if earlier != 1 else 'is'} now far in the future (this run's events "
                f"moved the cut) and left out as rejected (see {summary.rejects_file})"
            )
    if mode == "replace" and base is not None:
        before, after = int(base.counts.get("events_kept", 0)), summary.events_kept
        if after < before:
            warnings.append(
                f"--replace: the store holds {after:,} events, {before - after:,} fewer than "
                f"before ({before:,}); `jtrack store rollback {version_name(base.version)} "
                f"{store.flag}` goes back"
            )
    return StoredRun(
        summary=summary,
        read=read,
        contacts_invalid=book_invalid,
        conflicts=conflicts,
        store=store,
        notes=notes,
        warnings=warnings,
        standing=list(early_warnings),
        left_out=skipped,
        repeated_files=repeated,
        zone_warnings=zone_said,
    )


def _contacts_files(
    base: Manifest | None, opts: RunOptions, store_root: Path | None = None
) -> list[str]:
    """The contacts files a run reads, or its store follows (read by the next run; where it
    is, or beside the store as it was): never overwritten by its --rejects."""
    named = [os.fspath(opts.contacts)] if opts.contacts else []
    if base is not None and base.contacts is not None and base.contacts.file:
        named.append(base.contacts.file)
        moved = _moved_contacts(base, store_root)
        if moved is not None:
            named.append(str(moved))
    return named


def _events_span(ids: pl.DataFrame, dropped: pl.Series) -> tuple[str | None, str | None]:
    """The first and last time of the events a run added (`ids`: created_date, _pos; the
    rows `dropped`, positions, left out: duplicates of copies taken in before, which a
    daily export overlapping yesterday's holds, and those beyond the far-future cut), as
    ISO-8601 UTC text."""
    t = pl.col("created_date")
    if dropped.len():
        t = t.filter(~pl.col("_pos").is_in(dropped.implode()))
    lo, hi = ids.select(t.min().alias("lo"), t.max().alias("hi")).row(0)
    return (iso_z(lo) if lo is not None else None, iso_z(hi) if hi is not None else None)


def _repeated_files(new: NewData, decisions: Decisions, taken: set[str]) -> list[str]:
    """A note for each file of the run whose every accepted row repeats an event taken in
    before it (earlier in the run, or by an earlier run): most often one export given twice,
    under two names or in two formats, which the accounting alone shows only as a count of
    duplicates; or, at a path `taken` in before, a file changed since (edited in place)."""
    seg = (pl.col("_pos") // (1 << 32)).alias("segment")
    dups = decisions.dropped.filter(~pl.col("far")).group_by(seg).agg(dups=pl.len())
    if dups.height == 0:
        return []
    pos = new.ids.get_column("_pos")
    if pos.is_sorted():
        # rows in input order: a segment's rows are one run of positions, counted by two
        # binary searches (a filter of the id table copied it whole, 2.6 GB at 100M
        # events: the run's peak)
        at = dups.get_column("segment").cast(pl.UInt64)
        lo = pos.search_sorted(at * (1 << 32), side="left")
        hi = pos.search_sorted((at + 1) * (1 << 32), side="left")
        rows = pl.DataFrame({"segment": dups.get_column("segment"), "rows": hi - lo})
    else:
        rows = (
            new.ids.lazy()
            .select(seg)
            .filter(pl.col("segment").is_in(dups.get_column("segment").implode()))
            .group_by("segment")
            .agg(rows=pl.len())
            .collect(engine="in-memory")
        )
    whole = dict(
        dups.join(rows, on="segment")
        .filter(pl.col("dups") == pl.col("rows"))
        .select("segment", "rows")
        .iter_rows()
    )
    again = {seg for i in new.inputs if i.start == 0 and i.path in taken for seg in i.segments}
    return [
        f"{s.source}: changed since it was taken in, read again: all {whole[s.id]:,} of its "
        "accepted rows are events taken in already (the copy taken first is kept)"
        if s.id in again
        else f"{s.source}: all {whole[s.id]:,} of its accepted rows are events taken in "
        "already (the same export twice, under another name or in another format?)"
        for s in new.segments
        if s.id in whole
    ]


def _outside(srcs: list[Source], store: Store) -> tuple[list[Source], int]:
    """The sources that are not the store's own files (a store kept inside the exports
    folder, or `jtrack sessionize .` with the default store), and how many were."""
    root = store.root.resolve()
    keep = [
        s for s in srcs if s.path is None or s.stdin or not s.path.resolve().is_relative_to(root)
    ]
    return keep, len(srcs) - len(keep)


def _clean_up(store: Store, writer: VersionWriter | None) -> None:
    """Remove what a failed or interrupted run wrote."""
    if writer is not None:
        writer.abort()
    store.remove_leftovers()  # (the lock is ours: any .tmp-* is ours or a crashed run's)


# ---------------------------------------------------------------------------- planning


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _session_options(m: Manifest) -> SessionizeOptions:
    o = m.options
    max_d = o.get("max_duration_seconds")
    return SessionizeOptions(
        gap=timedelta(seconds=float(o.get("gap_seconds", 1200))),
        split_on_campaign_change=bool(o.get("split_on_campaign_change", False)),
        max_duration=timedelta(seconds=float(max_d)) if max_d else None,
    )


#: The note of a run over a store whose session ids an earlier rule made (ID_RULE).
_NEW_IDS = (
    "the store's session ids were made from the visitor id (whoever saw a session's id and "
    "its first event's could test a guessed email or phone against them): every session is "
    "rebuilt once, with new ids"
)


def _mode(base: Manifest | None, opts: RunOptions) -> tuple[str, list[str], str | None]:
    """The run's mode, its note, and why (in short, for the store's list of runs) it works
    out every session again when it does. A run that rebuilds or replaces a store whose
    session ids an earlier rule made says too that the ids change."""
    mode, notes, reason = _mode_of(base, opts)
    old_ids = base is not None and base.options.get("id_rule") != ID_RULE
    if old_ids and mode in ("rebuild", "replace") and _NEW_IDS not in notes:
        notes = [*notes, "the session ids change: they are no longer made from the visitor id"]
    return mode, notes, reason


def _mode_of(base: Manifest | None, opts: RunOptions) -> tuple[str, list[str], str | None]:
    if base is None:
        return "new", [], None
    if opts.replace:
        return (
            "replace",
            [f"replacing the store's {base.counts.get('events_kept', 0):,} events"],
            "--replace",
        )
    changed = opts.session is not None and _set_options(opts.session.to_dict()) != _set_options(
        base.options
    )
    if opts.rebuild:
        note = "rebuilding every session from the store's history"
        if not changed:
            return "rebuild", [note], "--rebuild"
        assert opts.session is not None
        change = _describe_change(base.options, opts.session.to_dict())
        # (the options that changed are said and kept, as without --rebuild)
        return "rebuild", [f"{note}, with other options ({change})"], f"--rebuild, {change}"
    if changed:
        assert opts.session is not None
        change = _describe_change(base.options, opts.session.to_dict())
        return (
            "rebuild",
            [
                f"the options differ from those the store was built with ({change}): "
                "every session is rebuilt once"
            ],
            change,
        )
    if base.options.get("split_on_campaign_change") and (
        base.options.get("campaign_rule") != CAMPAIGN_RULE
    ):
        return (
            "rebuild",
            [
                "the store's sessions were split on campaign changes by an earlier rule (now "
                "an arrival is compared with its own session's source, instant by instant, "
                "hosts are compared as sites, a name in punycode as the one it stands for, "
                "and a UTM campaign is the source whatever referrer comes with it): every "
                "session is rebuilt once"
            ],
            "campaign rule of a newer jtrack",
        )
    if base.options.get("id_rule") != ID_RULE:
        return "rebuild", [_NEW_IDS], "session id rule of a newer jtrack"
    book = base.contacts is not None and bool(base.contacts.book)
    if book and base.options.get("identity_rule") != IDENTITY_RULE:
        return (
            "rebuild",
            [
                "the store's visitors were matched to its contacts by an earlier rule (now a "
                "phone number without its area code matches no one, and two contacts' "
                "identifiers of one kind at one instant decide nothing): every session is "
                "rebuilt once"
            ],
            IDENTITY_REASON,
        )
    if base.options.get("visit_rule") != VISIT_RULE:
        return (
            "rebuild",
            [
                "the store numbered visits over sessions of every type (now web sessions "
                "only: a delivery of an order system is no visit): every session is rebuilt "
                "once"
            ],
            "visit rule of a newer jtrack",
        )
    if base.options.get("stream_rule", 1) != STREAM_RULE:
        return (
            "rebuild",
            [
                "the store put every segment, outcome and web action event in a web session "
                "(now one that names an app session joins the visitor's app session): every "
                "session is rebuilt once"
            ],
            "stream rule of a newer jtrack",
        )
    return "incremental", [], None


def _number_rule_warning(files: list[Any], base: Manifest | None, mode: str) -> list[str]:
    """A warning when the run reads a visitor id from a Parquet float column into a store an
    earlier jtrack wrote, whose text for such a number was another (`100003.0`, where this
    run's is `100003`: one visitor split in two if earlier exports held it)."""
    from jtrack.options import NUMBER_RULE

    if base is None or mode != "incremental":
        return []
    if base.options.get("number_rule", 1) == NUMBER_RULE:
        return []
    named = [f.file for f in files if getattr(f, "float_ids", False)]
    if not named:
        return []
    return [
        f"{named[0]}: its visitor ids are a float column, read as `100003` where the jtrack "
        "that wrote this store read `100003.0`: a visitor of earlier such exports is now "
        "split in two; take the exports in again: `jtrack sessionize --replace EXPORTS`"
    ]


#: Why a run rebuilds a store matched to its contacts by an earlier identity rule.
IDENTITY_REASON = "identity rule of a newer jtrack"


def _set_options(o: dict[str, Any]) -> dict[str, Any]:
    """The session options a user sets (not the versions of the rules jtrack applies)."""
    rules = (
        "campaign_rule",
        "visit_rule",
        "id_rule",
        "identity_rule",
        "content_rule",
        "stream_rule",
        "number_rule",
    )
    return {k: v for k, v in o.items() if k not in rules}


def _describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The session options that changed, each as `name old -> new`."""

    def seconds(v: Any) -> str:
        return format_duration(float(v)) if v else "none"

    shown = [
        ("gap", "gap_seconds", seconds),
        ("split on campaign change", "split_on_campaign_change", lambda v: "on" if v else "off"),
        ("max duration", "max_duration_seconds", seconds),
    ]
    return ", ".join(
        f"{name} {fmt(old.get(key))} -> {fmt(new.get(key))}"
        for name, key, fmt in shown
        if fmt(old.get(key)) != fmt(new.get(key))
    )


#: Contacts files a following run (jtrack watch) kept the store's copy of, by path and
#: digest: warned of once per process, not at every run.
_SHRUNK_SAID: set[tuple[str, str]] = set()


def _contacts(
    base: Manifest | None, opts: RunOptions, warnings: list[str], store_root: Path | None = None
) -> tuple[ContactsSource | None, pl.DataFrame | None, pl.DataFrame | None, bool, list[str]]:
    """The contacts source of the run: (source, book, invalid entries, changed, notes); its
    warning lines go to `warnings`. The file the store follows, gone from its path, is
    looked for where it was beside the store (`store_root`: a volume mounted at another
    path than the night before)."""
    from jtrack.core.contacts import file_digest, load_contacts

    remembered = base.contacts if base is not None else None
    if opts.forget_contacts:
        notes = ["contacts are no longer resolved (the store forgot its contacts file)"]
        return None, None, None, remembered is not None, notes if remembered else []
    if opts.contacts is None and remembered is None:
        return None, None, None, False, []
    path = Path(opts.contacts) if opts.contacts is not None else Path(remembered.file)  # type: ignore[union-attr]
    region = (
        opts.default_region
        if opts.default_region is not None
        else (remembered.default_region if remembered else None)
    )
    moved_note = []
    if opts.contacts is None and not path.is_file():
        assert remembered is not None and base is not None
        moved = _moved_contacts(base, store_root)
        if moved is None:
            # (a warning, said by a quiet run: the analysts' book no longer follows the CRM)
            rel = base.contacts_relative
            there = os.path.normpath(os.path.join(os.path.realpath(store_root or "."), rel or ""))
            beside = (
                f" (nor at {rel} from the store's folder)"
                if rel and store_root is not None and there != os.path.normpath(path)
                else ""
            )
            warnings.append(
                f"{path}: the contacts file the store follows is gone{beside}; the store goes "
                "on with the copy it took, which no longer changes (pass --contacts FILE to "
                "change it, --no-contacts to stop)"
            )
            return remembered, _stored_book(base), None, False, []
        # the store's volume mounted at another path: the file beside it as it was is the
        # one it follows (from now on by this path)
        moved_note.append(
            f"{path}: the contacts file is gone; the store follows {_as_named(moved)}, where it "
            "is beside the store as it was (the store's folder moved)"
        )
        path = moved
        remembered = replace(remembered, file=_as_named(moved))
    digest = file_digest(path)
    # (as named, not resolved: a link to the file or to its folder, re-pointed every night,
    # is the file the store remembers, read through the link and guarded as such)
    absolute = _as_named(path)
    source = ContactsSource(absolute, digest, region, CONTACTS_BOOK)
    book, invalid = load_contacts(path, region)
    changed = remembered is None or (remembered.sha256, remembered.default_region) != (
        digest,
        region,
    )
    # the same book under another name: the store follows the file named from now on (its
    # later edits are read), so the run records it
    renamed = remembered is not None and not _same_contacts(remembered.file, absolute)
    changed = changed or renamed
    notes = moved_note
    had = int((base.contact_counts or {}).get("contacts") or 0) if base is not None else 0
    if book.height >= had / 2:  # (whole again: a later failure is said again)
        _SHRUNK_SAID.difference_update({k for k in _SHRUNK_SAID if k[0] == absolute})
    if changed and remembered is not None and base is not None:
        same_file = _same_contacts(remembered.file, absolute)
        # a book of less than half the store's copy, the remembered file's (cut short, or
        # left with its header alone by a CRM sync that failed) or another one named (by
        # mistake, or through a link re-pointed at such a file): refused, not taken (every
        # known visitor would become Unknown), unless --force
        if remembered.sha256 != digest and book.height < had / 2 and not opts.force:
            what = (
                f"{path}: the contacts file holds {book.height:,} contacts where the store's "
                f"copy has {had:,}"
            )
            if opts.follow:  # (a watch goes on, with the copy)
                if (absolute, digest) not in _SHRUNK_SAID:
                    _SHRUNK_SAID.add((absolute, digest))
                    warnings.append(
                        f"{what}: the store goes on with its copy (a file cut short? "
                        "`jtrack sessionize --force` takes it as it is)"
                    )
                return remembered, _stored_book(base), None, False, []
            raise DataError(
                f"{what}; the store is unchanged ("
                + (
                    "a file cut short, or an export that failed?)" if same_file else "another file)"
                ),
                hint="pass --force to resolve every visitor with it anyway"
                + (
                    "; or restore the file (removed, the store goes on with its copy)"
                    if same_file
                    else ""
                ),
            )
        if remembered.sha256 != digest and same_file:
            notes.append(
                f"{path}: the contacts file changed ({had:,} contacts, now {book.height:,}): "
                "every visitor is resolved again"
            )
        elif remembered.sha256 != digest:
            notes.append(
                f"{path}: another contacts file ({book.height:,} contacts, the store's had "
                f"{had:,}): every visitor is resolved again"
            )
        elif renamed and remembered.default_region == region:
            notes.append(
                f"{path}: another contacts file, the same contents as the store's "
                f"({remembered.file}): the store follows it from now on (every visitor is "
                "resolved again, the same)"
            )
        else:
            notes.append(
                f"contacts read with --default-region {region or 'none'} (the store's: "
                f"{remembered.default_region or 'none'}): every visitor is resolved again"
            )
    return source, book, invalid, changed, notes


def _moved_contacts(base: Manifest, store_root: Path | None) -> Path | None:
    """The contacts file the store follows where it was beside the store (its path
    relative to the store's folder, recorded when both were on one file system), when a
    file is there: a volume holding both, mounted at another path."""
    rel = base.contacts_relative
    if not rel or store_root is None:
        return None
    candidate = Path(os.path.realpath(store_root)) / rel
    return candidate if candidate.is_file() else None


def _relative_contacts(store_root: Path, file: str) -> str | None:
    """The contacts file's path relative to the store's folder, when both are on one file
    system (a volume mounted elsewhere another night holds both there too) and the path
    names the file from the store's folder (through links as named, else resolved); None
    otherwise."""
    try:
        root = os.path.realpath(store_root)
        if os.stat(root).st_dev != os.stat(file).st_dev:
            return None
        for target in (file, os.path.realpath(file)):
            rel = os.path.relpath(target, root)
            if os.path.samefile(os.path.join(root, rel), file):
                return rel
    except (OSError, ValueError):
        pass
    return None


def _as_named(path: Path) -> str:
    """A contacts file's path as the store remembers it: absolute, as named (a link to the
    file or to its folder stays one, re-pointed or not; a relative name from the working
    folder as the shell names it, `$PWD`, a link too), `..` taken out where that is the
    same folder (not after a link to another one)."""
    here = os.environ.get("PWD", "")
    cwd = current_folder()
    if not (here and os.path.isabs(here) and os.path.realpath(here) == os.path.realpath(cwd)):
        here = cwd
    named = str(path if path.is_absolute() else Path(here) / path)
    lexical = os.path.normpath(named)
    same = os.path.realpath(os.path.dirname(named)) == os.path.realpath(os.path.dirname(lexical))
    return lexical if same else named


def _same_contacts(remembered: str, named: str) -> bool:
    """Whether the contacts file a run names is the one the store remembers: the same name
    (a link re-pointed stays itself), or the same file now (another spelling of its path,
    another link to it, a store that remembered it resolved)."""
    if remembered == named or remembered == os.path.realpath(named):
        return True
    try:
        return os.path.samefile(remembered, named)
    except OSError:  # (the remembered one gone)
        return os.path.realpath(remembered) == os.path.realpath(named)


def _contacts_reason(
    base: Manifest,
    source: ContactsSource | None,
    book: pl.DataFrame | None,
    store_root: Path | None = None,
) -> str:
    """Why a run that changed the contacts book resolved every visitor again, in short."""
    if source is None:
        return "--no-contacts"
    had = int((base.contact_counts or {}).get("contacts") or 0) if base.contacts else None
    now = book.height if book is not None else 0
    if had is None or base.contacts is None:
        return f"contacts file taken in ({now:,} contacts)"
    moved = _moved_contacts(base, store_root) if not os.path.exists(base.contacts.file) else None
    if not _same_contacts(str(moved or base.contacts.file), source.file):
        return f"another contacts file ({had:,} -> {now:,} contacts)"
    if base.contacts.sha256 == source.sha256:
        return f"--default-region {source.default_region or 'none'}"
    return f"contacts file changed ({had:,} -> {now:,} contacts)"


def _events_added(new: NewData, d: Decisions) -> int:
    """How many events the run added to the store: its new rows kept, less the stored
    copies they replaced (an earlier copy of an event redelivered: the event is not new)
    or that left for the far future, plus stored ones that came back (summed over the
    runs, the store's events)."""
    was = pl.col("status") == "kept"
    now = pl.col("new_status") == "kept"
    moved = d.changed.select(left=(was & ~now).sum(), back=(~was & now).sum()).row(0)
    return int(new.rows_accepted - d.drop_new.len() - (moved[0] or 0) + (moved[1] or 0))


def _invalid_before(base: Manifest | None) -> int:
    """The contacts file's invalid entries, as counted when it was taken in (a run that
    keeps the file does not report them again, but the store still has them)."""
    counts = base.contact_counts if base is not None else None
    return int(counts.get("invalid_entries") or 0) if counts else 0


def _stored_book(base: Manifest) -> pl.DataFrame | None:
    return None  # replaced by the snapshot's copy when the run reads the base (see _run)


def _estimate_rows(sources: list[Source]) -> tuple[int, int]:
    """About how many rows the sources hold, and how many of them are read from text (JSON).
    Parquet footers are exact. JSON is the size it has once decompressed (gzip's ISIZE,
    zstd's frame content size, else, bzip2 and xz too, ten times the compressed size) over
    the length of its lines, measured on samples of the text (the start, middle and end of a
    plain file; the start of a compressed one or of stdin), or 400 bytes where the samples
    hold too few lines (a JSON document on one line)."""
    parquet = text = 0
    for src in sources:
        if src.data is not None:
            text += int(len(src.data) / _line_bytes([_text_head(src)]))
            continue
        assert src.path is not None
        try:
            with open(src.path, "rb") as fh:
                head = fh.read(18)
                if head[:4] == b"PAR1":
                    import pyarrow.parquet as pq

                    parquet += int(pq.read_metadata(arrow_path(src.path)).num_rows)
                    continue
                size = os.fstat(fh.fileno()).st_size
                if head[:2] == b"\x1f\x8b":
                    size, samples = _gzip_size(fh, size), [_text_head(src)]
                elif head[:4] == b"\x28\xb5\x2f\xfd":
                    size, samples = _zstd_size(head, size), [_text_head(src)]
                elif compression(head) is not None:  # bzip2, xz: no size recorded
                    size, samples = size * 10, [_text_head(src)]
                else:
                    end = size if src.end is None else src.end
                    size, samples = end - src.offset, _samples(fh, src.offset, end)
        except (OSError, ValueError):
            continue  # the read itself reports an unreadable file
        text += int(size / _line_bytes(samples))
    return parquet + text, text


#: Bytes of text a row estimate reads at each of its sample points.
_SAMPLE = 64 * 1024


def _samples(fh: Any, start: int, end: int) -> list[bytes]:
    """The text at the start, middle and end of bytes start..end of a plain file."""
    if end - start <= _SAMPLE * 3:
        fh.seek(start)
        return [fh.read(end - start)]
    out = []
    for at in (start, (start + end - _SAMPLE) // 2, end - _SAMPLE):
        fh.seek(at)
        out.append(fh.read(_SAMPLE))
    return out


def _text_head(src: Source) -> bytes:
    """The first bytes (three sample points' worth) of a source's text as the readers see it
    (decompressed, UTF-8); nothing when it cannot be read (the read itself reports that)."""
    from jtrack.read.decode import _decoded_chunks

    head = b""
    try:
        for chunk in _decoded_chunks(src):  # (the file is closed as the generator goes)
            head += chunk
            if len(head) >= _SAMPLE * 3:
                break
    except DataError:  # a truncated or corrupt stream
        pass
    return head[: _SAMPLE * 3]


def _line_bytes(samples: list[bytes]) -> float:
    """The mean length of a line in the samples; 400 when they hold fewer than 16 lines."""
    lines = sum(s.count(b"\n") for s in samples)
    if lines < 16:
        return 400
    return sum(len(s) for s in samples) / lines


def _gzip_size(fh: Any, size: int) -> int:
    """The uncompressed size of a gzip file from its trailer (ISIZE: the size modulo 2**32
    of its last member); ten times the compressed size when that cannot be right."""
    if size < 18:
        return size
    fh.seek(size - 4)
    isize = int.from_bytes(fh.read(4), "little")
    if isize == 0:
        return size * 10
    if isize >= size:
        return isize
    if size < 1 << 28:  # small and barely compressible
        return size
    while isize < size:  # over 4 GiB uncompressed: ISIZE wrapped around
        isize += 1 << 32
    return isize


def _zstd_size(head: bytes, size: int) -> int:
    """The content size a zstd frame header records; ten times the compressed size when it
    records none."""
    import zstandard

    try:
        content = zstandard.get_frame_parameters(head).content_size
    except zstandard.ZstdError:
        return size * 10
    if content in (0, zstandard.CONTENTSIZE_UNKNOWN) or content < size:
        return size * 10
    return int(content)


def _guard(new: NewData, base: Manifest | None, mode: str, opts: RunOptions) -> None:
    """Refuse runs that would lose data, unless --force."""
    if opts.force:
        return
    accepted = new.rows_accepted
    holds = int(base.counts.get("events_kept", 0)) if base is not None else 0
    # the new lines of files taken in before are no sign of a wrong input: a broken line
    # that arrives alone at the end of a growing export is rejected, not refused; nor is a
    # file of bad lines that a run following files (jtrack watch) meets: it keeps them as
    # rejects and goes on (refused, the watch stopped, and again at every start)
    grown = bool(new.inputs) and all(i.start > 0 for i in new.inputs)
    # (nor are rows dropped as an erased visitor's: an export that holds only those is
    # taken care of, counted erased, not a wrong input)
    erased = new.erased
    if new.rows_read and accepted == 0 and not erased and holds and not grown and not opts.follow:
        see = "see them with --rejects FILE"
        if opts.rejects_path is not None and new.rejects.height:  # (checked at the start)
            from jtrack.files import ndjson_writer, write_with

            write_with(opts.rejects_path, ndjson_writer(rejects_frame(new.rejects)))
            see = f"they are in {opts.rejects_path}"
        raise DataError(
            (
                "the one row read was rejected"
                if new.rows_read == 1
                else f"every one of the {new.rows_read:,} rows read was rejected"
            )
            + f"; the store ({holds:,} events) is unchanged",
            hint=f"check the inputs are event exports ({see}), or pass --force to record the "
            "run anyway",
        )
    if mode == "replace" and base is not None:
        before = int(base.counts.get("events_kept", 0))
        if accepted < before / 2:
            raise DataError(
                f"--replace would shrink the store from {before:,} events to at most "
                f"{accepted:,}; the store is unchanged",
                hint="pass --force to replace it anyway, or leave out --replace to add the "
                "inputs to what the store holds",
            )


def held_due(store: Store, base: Manifest | None = None) -> bool:
    """Whether the clock has passed an event the store holds aside as far-future (no event
    dated before it is far-future): a run with nothing new then takes it in, as a rebuild
    would, instead of saying the store is unchanged (`jtrack watch` asks it between files)."""
    from jtrack.read.validate import run_clock

    if base is not None:  # (a run holds the lock: its base is read without a lease)
        held = Snapshot.at(store.version_dir(f"v{base.version:06d}"), base) if base.held else None
        first = held.first_held() if held is not None else None
    elif not store.exists() or not store.read_manifest().held:
        return False  # (a poll of `watch`: no lease taken for a store that holds nothing)
    else:
        with store.current_snapshot() as snap:
            first = snap.first_held()
    return first is not None and first <= run_clock()


def _nothing_new(store: Store, base: Manifest, planned: Any, started: str) -> StoredRun:
    """Every input was taken in before (and nothing else changed): no new version. What a
    killed run left behind goes all the same (the lock is ours): a quiet site's store would
    keep it until its next export."""
    store.remove_leftovers()
    summary = _summary_from_manifest(base, store)
    info = RunInfo(  # (its rows add up: none read; every session as it was)
        run=0,
        started=started,
        finished=_now(),
        jtrack_version=__version__,
        mode="unchanged",
        files_skipped=len(planned.skipped) + len(planned.twins),
        sessions_changed=0,
        sessions_unchanged=summary.sessions,
        duplicates=0,
        rejected=0,
        events_kept=0,
    )
    summary.run = {**info.__dict__}
    read = ReadResult(events=pl.DataFrame(), rejects=_empty_rejects(), files=[], warnings=[])
    return StoredRun(summary=summary, read=read, store=store)


def _far_future_error(engine: Engine, new: NewData, d: Decisions) -> Exception:
    """The error that stops a failing run at its first far-future row (in input order)."""
    first = d.far_new.min()
    hit = engine.rows_at(new, pl.Series([first], dtype=pl.UInt64), [SRC_LINE])
    line = hit.get_column(SRC_LINE).item() if hit.height else None
    return _far_row_error(new.segments, first, line, d)


def _far_stored_error(snap: Snapshot, d: Decisions) -> Exception | None:
    """The error that stops a failing run at the first stored row it puts beyond the
    far-future cut (held aside now, kept before); None when there is none."""
    going = d.changed.filter((pl.col("new_status") == "held") & (pl.col("status") != "held"))
    if not going.height:
        return None
    first = going.get_column("_pos").min()
    line = snap.input_lines(pl.Series([first], dtype=pl.UInt64)).item()
    extra = " (an event the store holds, beyond the cut once this run's events are counted)"
    return _far_row_error(snap.manifest.segments, first, line, d, extra)


def _far_row_error(
    segments: Sequence[SegmentInfo], pos: Any, line: int | None, d: Decisions, extra: str = ""
) -> Exception:
    """The far_future RejectedRowError of the row at `pos` (its file from its segment)."""
    from jtrack.read import rejected_row_error

    source = next(s.source for s in segments if s.id == int(pos) >> 32)
    assert d.cut is not None
    return rejected_row_error(
        {
            "_file": source,
            SRC_LINE: line or 0,
            "_reason": "far_future",
            "_field": "created_date",
            "_detail": d.cut[1] + extra,
        }
    )


# ---------------------------------------------------------------------------- history


def _empty_copies() -> pl.LazyFrame:
    return pl.LazyFrame(schema={**COPY_SCHEMA, "_hash": pl.UInt64()})


def _history_copies(snap: Snapshot, sides: list[pl.LazyFrame]) -> pl.LazyFrame:
    """Every copy the store holds (COPY_SCHEMA, lazily): the kept ones of the index, with
    their contents (for conflict hashes), and `sides` (_side_copies)."""
    kept = snap.scan_index().select(
        "event_id",
        "created_date",
        pos_expr(),
        "bucket",
        "customer_id",
        pl.lit("kept").alias("status"),
        *_STORED_CONTENT,
    )
    return pl.concat([kept, *sides], how="diagonal_relaxed")


def _duplicates(snap: Snapshot) -> pl.LazyFrame | None:
    """The store's duplicates table, its copies' content hashes made again from their rows
    in the segments when an earlier jtrack hashed them by another rule (CONTENT_RULE: once,
    as the run writes the table back whole). In no particular order: a run reads the copies
    of the ids it judges (filters pushed into the scans of its files), and writes them as a
    delta (_write_duplicates)."""
    dups = snap.scan_duplicates(ordered=False)
    if dups is None or snap.manifest.options.get("content_rule") == CONTENT_RULE:
        return dups
    table = dups.collect(engine="in-memory")
    rows = snap.wide_rows(table.select(split_pos()), list(CONTENT_COLUMNS))
    return table.with_columns(_hash=rows.select(content_hash()).to_series()).lazy()


def _side_copies(snap: Snapshot, dups: pl.LazyFrame | None) -> list[pl.LazyFrame]:
    """The store's few duplicate copies (COPY_SCHEMA and their stored hash, from `dups`, its
    duplicates table) and held copies (COPY_SCHEMA and their contents), lazily."""
    frames = []
    if dups is not None:
        frames.append(
            dups.filter(pl.col("status") == "duplicate").select(*COPY_SCHEMA.keys(), "_hash")
        )
    held = snap.held()
    if held is not None:
        frames.append(
            held.lazy().select(
                "event_id",
                "created_date",
                "_pos",
                "bucket",
                "customer_id",
                pl.lit("held").alias("status"),
                *_STORED_CONTENT,
            )
        )
    return frames


def _stored_keys(snap: Snapshot, sides: list[pl.LazyFrame]) -> pl.DataFrame:
    """The event id's xxh3 (`_h`), `created_date` and whether it is held aside (`held`) of
    every copy _history_copies gives: the index's (kept in the process,
    Snapshot.event_keys) and those of `sides` (streamed: the duplicate copies' ids are not
    held, only their hashes)."""
    h = pl.col("event_id").nchash.xxh3_64().alias("_h")  # type: ignore[attr-defined]
    kept = snap.event_keys().with_columns(held=pl.lit(False))
    others = [
        f.select(h, "created_date", held=pl.col("status") == "held").collect(engine="streaming")
        for f in sides
    ]
    return pl.concat([kept, *others], how="vertical_relaxed", rechunk=False)


# ---------------------------------------------------------------------------- engines

#: The content columns of a stored copy besides those every copy has (id, visitor, time).
_STORED_CONTENT = [
    c for c in CONTENT_COLUMNS if c not in ("event_id", "customer_id", "created_date")
]


class Engine(Protocol):
    """Where a run reads its inputs and runs its units: this process, or a Spark cluster.
    Everything else (planning, decisions, finishing, the commit) is the same for all."""

    name: str

    def read(
        self,
        sources: list[tuple[Source, Identity]],
        writer: VersionWriter,
        *,
        first_segment: int,
        run: int,
        buckets: int,
        ranges: list[tuple[int, int]],
        options: RunOptions,
        chunk_rows: int,
        progress: ProgressFn,
        src_offset: int,
        erasure: Erasure | None = None,
    ) -> NewData: ...

    def rows_at(self, new: NewData, positions: pl.Series, columns: Sequence[str]) -> pl.DataFrame:
        """`_pos` and `columns` of new rows at `positions`."""
        ...

    def run_units(self, jobs: list[UnitJob], new: NewData, progress: ProgressFn) -> UnitResult: ...


class LocalEngine:
    """Reads inputs and runs the units one after the other, in this process."""

    name = "local"

    def read(
        self,
        sources: list[tuple[Source, Identity]],
        writer: VersionWriter,
        *,
        first_segment: int,
        run: int,
        buckets: int,
        ranges: list[tuple[int, int]],
        options: RunOptions,
        chunk_rows: int,
        progress: ProgressFn,
        src_offset: int,
        erasure: Erasure | None = None,
    ) -> NewData:
        stage = writer.path("stage") if len(ranges) > 1 else None
        return read_inputs(
            sources,
            writer,
            first_segment=first_segment,
            run=run,
            buckets=buckets,
            units=UnitRows(ranges, stage, options.memory_limit // STAGE_SHARE),
            options=options,
            chunk_rows=chunk_rows,
            progress=progress,
            src_offset=src_offset,
            erasure=erasure,
        )

    def rows_at(self, new: NewData, positions: pl.Series, columns: Sequence[str]) -> pl.DataFrame:
        return new.units.rows_at(positions, list(columns))

    def run_units(self, jobs: list[UnitJob], new: NewData, progress: ProgressFn) -> UnitResult:
        results = UnitResult()
        for job in jobs:
            progress(ProgressUpdate("sessionizing", steps_done=job.unit, steps_total=len(jobs)))
            results.merge(run_unit(job, new.units.rows(job.unit)))
        new.units.remove()
        return results


def engine_for(name: str, options: RunOptions) -> Engine:
    if name == "local":
        return LocalEngine()
    if name == "spark":
        import importlib.util

        # (pyspark's Arrow functions want pandas too, and say so only once the JVM is up)
        missing = [m for m in ("pyspark", "pandas") if importlib.util.find_spec(m) is None]
        try:
            if missing:
                raise ImportError(name=missing[0])
            from jtrack.engine.spark import SparkEngine

            return SparkEngine(options)  # (which imports pyspark)
        except ImportError as exc:
            what = " and ".join(missing) or (
                "pyspark" if exc.name in (None, "pyspark") else f"pyspark ({exc.name})"
            )
            raise UsageError(
                f"--engine spark needs {what}",
                hint="pip install 'jtrack[spark]' (and Java 17+)",
            ) from None
    import difflib

    near = difflib.get_close_matches(name, ["local", "spark"], n=1, cutoff=0.5)
    raise UsageError(
        f"--engine {name!r}: jtrack runs on the local engine or on Spark",
        hint=(f"did you mean {near[0]}? " if near else "") + "use local or spark",
    )


# ---------------------------------------------------------------------------- units


def _job(ctx: _Context, u: int, lo: int, hi: int) -> UnitJob:
    d = ctx.decisions
    dropped = d.dropped.filter(pl.col("bucket").is_between(lo, hi))
    return UnitJob(
        unit=u,
        lo=lo,
        hi=hi,
        run=ctx.run,
        out_dir=str(ctx.writer.tmp),
        base_dir=str(ctx.snap.dir) if ctx.snap is not None else None,
        base_manifest=ctx.snap.manifest if ctx.snap is not None else None,
        session=ctx.session,
        everyone=ctx.everyone,
        drop=dropped.get_column("_pos"),
        far=dropped.filter("far").get_column("_pos"),
        changed=d.changed.filter(pl.col("bucket").is_between(lo, hi)),
        hash_new=d.hash_new.filter(pl.col("bucket").is_between(lo, hi)).get_column("_pos"),
        book=ctx.book,
        default_region=ctx.default_region,
        reclassify=ctx.reclassify,
    )


# ---------------------------------------------------------------------------- finishing


def _rewrite_parts(
    ctx: _Context, table: str, removed: list[pl.DataFrame], keys: list[str], parts: list[PartInfo]
) -> int:
    """Copy-on-write: parts that held rows which changed are written again without them."""
    if not removed or ctx.snap is None:
        return 0
    gone = pl.concat(removed, how="vertical")
    names = []
    queries = []
    for (name,), rows in gone.group_by("_part", maintain_order=True):
        names.append(str(name))
        queries.append(
            ctx.snap.scan_part(table, str(name)).join(
                rows.select(keys).lazy(), on=keys, how="anti", maintain_order="left"
            )
        )
    kept = collect_side_by_side(queries)
    group = {p.file: p.run for p in parts if p.table == table}
    done = set(names)
    parts[:] = [p for p in parts if not (p.table == table and p.file in done)]
    # (each in the group of the part it replaces: see jtrack.engine.compact)
    frames = [(keep, group[name]) for name, keep in zip(names, kept, strict=True) if keep.height]
    parts += ctx.writer.write_parts(table, frames, ctx.run)
    return len(names)


def _finish(
    ctx: _Context,
    store: Store,
    new: NewData,
    res: UnitResult,
    book_source: ContactsSource | None,
    base: Manifest | None,
    history: Manifest | None,
    mode: str,
    started: str,
    planned: Any,
) -> tuple[Manifest, RunInfo, pl.DataFrame, pl.DataFrame]:
    d = ctx.decisions
    parts = list(history.parts) if history else []
    rewritten = _rewrite_parts(ctx, "index", res.removed_index, ["segment", "row"], parts)
    rewritten += _rewrite_parts(ctx, "sessions", res.removed_sessions, ["id"], parts)
    parts += res.index_parts + res.session_parts
    segments = (list(history.segments) if history else []) + new.segments
    inputs, superseded = _merge_pieces(
        list(history.inputs) if history else [], _rejected_tails(new.inputs, new.rejects)
    )
    seg_source = pl.DataFrame(
        {
            "segment": [s.id for s in segments],
            "_file": [s.source for s in segments],
        },
        schema={"segment": pl.UInt32(), "_file": pl.String()},
    )

    # far-future rows held aside
    held_parts: list[pl.DataFrame] = []
    base_held = ctx.snap.held() if ctx.snap is not None else None
    if base_held is not None:
        leaving = d.changed.filter(
            (pl.col("status") == "held") & (pl.col("new_status") != "held")
        ).get_column("_pos")
        held_parts.append(base_held.filter(~pl.col("_pos").is_in(leaving.implode())))
    for h in res.held:
        held_parts.append(
            h.with_columns(segment=(pl.col("_pos") // (1 << 32)).cast(pl.UInt32))
            .join(seg_source, on="segment", how="left")
            .drop("segment")
        )
    held = (
        pl.concat(held_parts, how="diagonal_relaxed").select(list(HELD_SCHEMA)).sort("_pos")
        if held_parts
        else pl.DataFrame(schema=HELD_SCHEMA)
    )
    held_rel = ctx.writer.write_frame(HELD, held) if held.height else None

    # duplicates and conflicting redeliveries
    groups = d.groups
    if res.hashes:  # the new copies' content hashes, worked out by their units
        hashes = pl.concat(res.hashes, how="vertical").rename({"_hash": "_unit_hash"})
        groups = groups.join(hashes, on="_pos", how="left", maintain_order="left").with_columns(
            pl.coalesce("_hash", "_unit_hash").alias("_hash")
        )
    # (every copy of the ids the run judged: what the table holds of them from now on)
    fresh = _dups_frame(groups.rename({"new_status": "status"})).sort("event_id", "_pos")
    table = _write_duplicates(ctx, fresh)
    # the run reports the conflicts it saw; the store counts all of them
    seen = _conflicting(fresh)
    # (where the copies of the first of them are: compared field by field once committed)
    first = seen.get_column("event_id").head(CONFLICTS_COMPARED).implode()
    where = fresh.filter(pl.col("event_id").is_in(first))
    seen = seen.join(
        where.group_by("event_id").agg(_copies=pl.col("_pos")), on="event_id", how="left"
    )

    # rejects: of reading (kept from the inputs' runs) and of the cut (judged again)
    rejects, run_rejects = _rejects(ctx, new, held, inputs, d, superseded)
    rejects_rel = ctx.writer.write_text(REJECTS, _jsonl(rejects)) if rejects.height else None

    book_rel = None
    if book_source is not None and ctx.book is not None:
        book_rel = ctx.writer.write_frame(CONTACTS_BOOK, ctx.book)
    contacts = (
        ContactsSource(book_source.file, book_source.sha256, book_source.default_region, book_rel)
        if book_source is not None
        else None
    )
    duplicates = int(d.drop_new.len() - d.far_new.len())
    rejected = int(new.rows_read - new.rows_accepted + d.far_new.len() - new.erased)
    run_info = RunInfo(
        run=ctx.run,
        started=started,
        finished=_now(),
        jtrack_version=__version__,
        mode=mode,
        files_read=len(new.files),
        files_skipped=len(planned.skipped) + len(planned.twins),
        rows_read=new.rows_read,
        events_added=_events_added(new, d),
        visitors_touched=res.touched,
        sessions_added=res.sessions_added,
        sessions_changed=res.sessions_changed,
        sessions_removed=res.sessions_removed,
        sessions_renumbered=res.sessions_renumbered,
        events_from=ctx.span[0],
        events_to=ctx.span[1],
        parts_written=len(res.index_parts) + len(res.session_parts),
        parts_rewritten=rewritten,
        duplicates=duplicates,
        rejected=rejected,
        events_kept=new.rows_read - duplicates - rejected - new.erased,
        reason=ctx.reason,
        erased=new.erased,
        no_zone=sum(f.no_zone for f in new.files),
    )
    manifest = Manifest(
        version=ctx.writer.number,
        created=_now(),
        jtrack_version=__version__,
        bucket_policy=history.bucket_policy
        if history
        else BucketPolicy(buckets=ctx.options.buckets or DEFAULT_BUCKETS),
        options=ctx.session.to_dict(),
        contacts=contacts,
        contacts_relative=_relative_contacts(store.root, contacts.file) if contacts else None,
        segments=segments,
        parts=parts,
        inputs=inputs,
        runs=(list(base.runs) if base and mode != "replace" else []) + [run_info],
        run_logs=list(base.run_logs) if base and mode != "replace" else [],
        runs_logged=base.runs_logged if base and mode != "replace" else 0,
        rejects=rejects_rel,
        held=held_rel,
        duplicates=table.base,
        duplicate_deltas=table.deltas,
        traffic_lists=user_agent_list_version(),
        erased=base.erased if base is not None else None,
    )
    _totals(manifest, ctx, res, held, table)
    after = int(manifest.counts["sessions"])
    if mode == "replace":  # (no session of the store replaced is compared: all written anew)
        before = int(base.counts.get("sessions", 0)) if base is not None else 0
        run_info = replace(
            run_info,
            sessions_added=after,
            sessions_changed=0,
            sessions_removed=before,
            sessions_renumbered=0,
        )
    else:  # (the units count the touched visitors' sessions; the others stay as they were)
        kept = after - run_info.sessions_added - res.sessions_changed
        run_info = replace(run_info, sessions_unchanged=kept)
    manifest.runs[-1] = run_info
    if mode != "replace" and not (mode == "rebuild" and ctx.everyone):
        # (every stored session the run could change was compared with the one it wrote)
        ctx.writer.set_session_changes(
            pl.concat(res.session_changes, how="vertical")
            if res.session_changes
            else no_session_changes()
        )
    return manifest, run_info, seen, run_rejects


#: Conflicting redeliveries whose copies a run compares field by field (the warning says
#: which fields differ in them): a few rows each, read back from the segments.
CONFLICTS_COMPARED = 1_000

# ---------------------------------------------------------------------------- duplicates

#: The duplicates table is written whole again (its base file, its deltas merged in) when
#: its deltas would hold more rows than this share of its base's: until then a run writes
#: the copies of the ids it judged as a delta file, so that a run costs its own duplicates,
#: and the table's size only in the merges, one run in many (a store fed overlapping
#: exports, every event delivered twice, has as many copies there as events).
DELTA_SHARE = 0.25
#: Delta files at most: a run that would write one more merges the deltas into one (their
#: own rows only: the base file is left as it is).
MAX_DELTAS = 8


@dataclass
class _DupsTable:
    """The duplicates table a run wrote: its files and what it counts."""

    base: str | None
    deltas: list[str]
    duplicates: int  # copies of status "duplicate"
    conflicting: int  # event ids whose copies' contents differ


def _dups_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s DUPS_SCHEMA columns, of those types."""
    return frame.select([pl.col(c).cast(t) for c, t in DUPS_SCHEMA.items()])


def _conflicting(dups: pl.DataFrame) -> pl.DataFrame:
    """The event ids of the copies `dups` whose contents differ (event_id, versions)."""
    return (
        dups.group_by("event_id")
        .agg(versions=pl.col("_hash").n_unique().cast(pl.UInt32))
        .filter(pl.col("versions") > 1)
        .sort("event_id")
    )


def _dup_count(dups: pl.DataFrame) -> int:
    return int((dups.get_column("status") == "duplicate").sum()) if dups.height else 0


def _write_duplicates(ctx: _Context, fresh: pl.DataFrame) -> _DupsTable:
    """Write the store's duplicates table with `fresh`, every copy of the ids the run
    judged (sorted by event id and position), in place of what it held of those ids.
    `ctx.duplicates` is the table the run read (the version's, lazily). The table is a
    base file plus deltas (Manifest.duplicate_deltas): the run writes a delta of its ids'
    copies, and of the ids that have none left (a row without a status), and adds its
    counts to the version's, unless the deltas outgrow DELTA_SHARE of the base, or the
    table is to be written whole (ctx.merge_duplicates; a run that works out every session
    again; copies hashed by another content rule; a version without the counts), when the
    table is written again in one file."""
    writer = ctx.writer
    stored = ctx.duplicates
    snap = ctx.snap
    if stored is None or snap is None:
        rel = writer.write_frame(DUPLICATES, fresh) if fresh.height else None
        return _DupsTable(rel, [], _dup_count(fresh), _conflicting(fresh).height)
    m = snap.manifest
    judged = ctx.decisions.judged_ids.implode()
    rows = snap.duplicate_file_rows()
    has_base = m.duplicates is not None
    base_rows = rows[0] if has_base else 0
    delta_rows = sum(rows[1:] if has_base else rows)
    whole = (
        ctx.merge_duplicates
        or ctx.everyone  # (a run that reads every session: the table is read whole too)
        or not has_base
        or m.options.get("content_rule") != CONTENT_RULE
        or not {"duplicates", "conflicting_duplicates"} <= set(m.counts)
        or delta_rows + fresh.height > base_rows * DELTA_SHARE
    )
    if whole:
        others = stored.filter(~pl.col("event_id").is_in(judged)).collect(engine="in-memory")
        table = pl.concat([_dups_frame(others), fresh], how="vertical").sort("event_id", "_pos")
        rel = writer.write_frame(DUPLICATES, table) if table.height else None
        return _DupsTable(rel, [], _dup_count(table), _conflicting(table).height)
    # the rows it held of the judged ids (a filter on the id, pushed into each file's scan)
    old = _dups_frame(stored.filter(pl.col("event_id").is_in(judged)).collect(engine="in-memory"))
    duplicates = int(m.counts["duplicates"]) - _dup_count(old) + _dup_count(fresh)
    conflicting = (
        int(m.counts["conflicting_duplicates"])
        - _conflicting(old).height
        + _conflicting(fresh).height
    )
    gone = (
        old.select("event_id")
        .unique()
        .join(fresh.select("event_id"), on="event_id", how="anti")
        .with_columns(pl.lit(None, t).alias(c) for c, t in DUPS_SCHEMA.items() if c != "event_id")
    )
    delta = pl.concat([fresh, _dups_frame(gone)], how="vertical").sort("event_id", "_pos")
    deltas = list(m.duplicate_deltas)
    if delta.height == 0:  # (no id the run judged has or had copies there)
        return _DupsTable(m.duplicates, deltas, duplicates, conflicting)
    if len(deltas) >= MAX_DELTAS:  # one delta of the others and this one's rows
        earlier = snap.scan_duplicate_deltas()
        delta = (
            pl.concat(
                [
                    *(e.with_columns(_f=pl.lit(n)) for n, e in enumerate(earlier)),
                    delta.lazy().with_columns(_f=pl.lit(len(earlier))),
                ],
                how="vertical",
            )
            .filter(pl.col("_f") == pl.col("_f").max().over("event_id"))
            .drop("_f")
            .sort("event_id", "_pos")
            .collect(engine="in-memory")
        )
        deltas = []
    rel = writer.write_frame(f"{DUPLICATE_DELTAS}/d{writer.number:06d}.parquet", delta)
    return _DupsTable(m.duplicates, [*deltas, rel], duplicates, conflicting)


def _conflict_fields(store: Store, seen: pl.DataFrame) -> pl.DataFrame:
    """The run's conflicting redeliveries (_finish's `seen`: event_id, versions, _copies,
    their positions) with the content columns their copies differ in (`fields`: null for
    those beyond CONFLICTS_COMPARED) and how far apart their times are (`spread`), read
    from the version just committed."""
    if "_copies" not in seen.columns:
        return seen
    copies = seen.select("event_id", "_copies").explode("_copies").drop_nulls("_copies")
    out = seen.drop("_copies")
    if copies.height == 0:
        return out.with_columns(fields=pl.lit(None, pl.List(pl.String)), spread=pl.lit(None))
    compared = [c for c in CONTENT_COLUMNS if c != "event_id"]
    at = copies.select(
        "event_id",
        (pl.col("_copies") // (1 << 32)).cast(pl.UInt32).alias("segment"),
        (pl.col("_copies") % (1 << 32)).cast(pl.UInt32).alias("row"),
    )
    try:
        with store.current_snapshot() as snap:
            rows = snap.wide_rows(at.select("segment", "row"), compared)
    except (OSError, JtrackError, pl.exceptions.PolarsError):
        # (the run is committed: a copy that cannot be read back leaves the warning
        # without its fields, never the run failed)
        return out.with_columns(fields=pl.lit(None, pl.List(pl.String)), spread=pl.lit(None))
    rows = rows.with_columns(at.get_column("event_id"))
    differ = rows.group_by("event_id").agg(
        *[(content_text(c).n_unique() > 1).alias(c) for c in compared],
        spread=pl.col("created_date").max() - pl.col("created_date").min(),
    )
    differ = differ.select(
        "event_id",
        pl.concat_list([pl.when(pl.col(c)).then(pl.lit(c)) for c in compared])
        .list.drop_nulls()
        .alias("fields"),
        "spread",
    )
    return out.join(differ, on="event_id", how="left", maintain_order="left")


def _rejected_tails(inputs: list[InputFile], rejects: pl.DataFrame) -> list[InputFile]:
    """The inputs read, each keeping the start of its unfinished last line (`tail`) only
    where that line was rejected: a line that was a whole event is not read again."""
    open_lines = [(i.name, (i.lines or 0) + 1) for i in inputs if i.tail is not None]
    if not open_lines:
        return inputs
    wanted = pl.DataFrame(
        open_lines, schema={SRC_FILE: pl.String(), SRC_LINE: pl.Int64()}, orient="row"
    )
    bad = set(  # (of the run's rejects, only those lines: a run may reject millions)
        rejects.select(SRC_FILE, pl.col(SRC_LINE).cast(pl.Int64))
        .join(wanted, on=[SRC_FILE, SRC_LINE], how="semi")
        .iter_rows()
    )
    return [
        i if i.tail is None or (i.name, (i.lines or 0) + 1) in bad else replace(i, tail=None)
        for i in inputs
    ]


def _merge_pieces(
    taken: list[InputFile], new: list[InputFile]
) -> tuple[list[InputFile], set[tuple[str, int]]]:
    """The inputs taken in after this run: the new lines of a grown file extend its entry
    (one entry per file, however many runs read it), any other input is a new entry. A
    piece read from the start of its file's rejected unfinished last line (InputFile.tail)
    takes that line's place: the line's reject, as (file, line), is in the second value."""
    out = list(taken)
    superseded: set[tuple[str, int]] = set()
    shared = shared_names(taken)  # (their tails are not read again: see plan_inputs)
    where = {(i.dev, i.ino): n for n, i in enumerate(out) if i.ino}
    for piece in new:
        n = where.get((piece.dev, piece.ino)) if piece.ino else None
        prev = out[n] if n is not None else None
        if (
            prev is not None
            and prev.tail is not None
            and prev.tail == piece.start
            and prev.name not in shared
        ):
            assert n is not None
            # (a tail at 0 is a file of one rejected line and no event: replaced whole)
            superseded.add((prev.name, (prev.lines or 0) + 1))
            out[n] = replace(
                piece,
                start=prev.start,
                rows_read=prev.rows_read - 1 + piece.rows_read,
                rows_rejected=prev.rows_rejected - 1 + piece.rows_rejected,
                rows_erased=prev.rows_erased + piece.rows_erased,
                segments=prev.segments + piece.segments,
                unread=prev.unread or piece.unread,
                unread_more=prev.unread_more if prev.unread else piece.unread_more,
            )
            continue
        if piece.start and prev is not None and prev.end == piece.start:
            assert n is not None
            out[n] = replace(
                piece,
                start=prev.start,
                rows_read=prev.rows_read + piece.rows_read,
                rows_rejected=prev.rows_rejected + piece.rows_rejected,
                rows_erased=prev.rows_erased + piece.rows_erased,
                segments=prev.segments + piece.segments,
                unread=prev.unread or piece.unread,
                unread_more=prev.unread_more if prev.unread else piece.unread_more,
            )
            continue
        out.append(piece)
        if piece.ino:
            where[(piece.dev, piece.ino)] = len(out) - 1
    return out, superseded


def _rejects(
    ctx: _Context,
    new: NewData,
    held: pl.DataFrame,
    inputs: list[InputFile],
    d: Decisions,
    superseded: set[tuple[str, int]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every rejected row of the inputs the store holds (less the `superseded` unfinished
    lines, read again whole), and those this run rejected (rows of its new inputs, rows it
    held aside as far-future), in input order."""
    from jtrack.read import REJECT_SCHEMA

    def far(rows: pl.DataFrame) -> pl.DataFrame:
        assert d.cut is not None
        return rows.select(
            pl.col("_file").alias("file"),
            pl.col(SRC_LINE).alias("line"),
            pl.lit("created_date").alias("field"),
            pl.lit("far_future").alias("reason"),
            pl.lit(d.cut[1] + "; " + REJECT_REASONS["far_future"]).alias("detail"),
            pl.struct(KERNEL_COLUMNS).struct.json_encode().alias("raw"),
        )

    order = {i.name: n for n, i in enumerate(inputs)}

    def ordered(frames: list[pl.DataFrame]) -> pl.DataFrame:
        if not frames:
            return pl.DataFrame(schema=REJECT_SCHEMA)
        schema = pl.Schema(REJECT_SCHEMA)
        out = pl.concat([f.select(list(REJECT_SCHEMA)).cast(schema) for f in frames])
        return (
            out.with_columns(_o=pl.col("file").replace_strict(order, default=len(order)))
            .sort("_o", "line", nulls_last=True, maintain_order=True)
            .drop("_o")
        )

    parsed = [rejects_frame(new.rejects)] if new.rejects.height else []
    old = [ctx.snap.rejects().filter(pl.col("reason") != "far_future")] if ctx.snap else []
    if old and ctx.erasure is not None:
        old = [old[0].filter(~ctx.erasure.raw_erased(old[0].get_column("raw")))]
    if old and superseded:
        gone = pl.DataFrame(
            list(superseded), schema={"file": pl.String(), "line": pl.Int64()}, orient="row"
        )
        old = [old[0].join(gone, on=["file", "line"], how="anti", nulls_equal=True)]
    held_now = [far(held)] if held.height and d.cut is not None else []
    newly = d.changed.filter(pl.col("new_status") == "held").get_column("_pos")
    fresh = held.filter(pl.col("_pos").is_in(pl.concat([d.far_new, newly]).implode()))
    run_far = [far(fresh)] if fresh.height and d.cut is not None else []
    return ordered(old + parsed + held_now), ordered(parsed + run_far)


def _jsonl(frame: pl.DataFrame) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dicts())


def _empty_rejects() -> pl.DataFrame:
    from jtrack.read import REJECT_SCHEMA

    return pl.DataFrame(schema=REJECT_SCHEMA)


def _totals(
    manifest: Manifest,
    ctx: _Context,
    res: UnitResult,
    held: pl.DataFrame,
    table: _DupsTable,
) -> None:
    ix = _index_totals(ctx, manifest)
    n_sessions = sum(p.rows for p in manifest.parts_of("sessions"))
    base = ctx.base
    if (
        base is not None
        and not ctx.everyone
        and "visitors" in base.counts
        and (manifest.contacts is None or base.contact_counts is not None)
    ):
        # only the touched visitors' sessions changed: the units' differences are added
        visitors = int(base.counts["visitors"]) + res.visitors_delta
        known = temporary = 0
        if base.contact_counts is not None:
            known = int(base.contact_counts.get("visitors_known", 0))
            temporary = int(base.contact_counts.get("visitors_temporary", 0))
        known += res.states_delta.get("known", 0)
        temporary += res.states_delta.get("temporary", 0)
    else:  # a new store, a rebuild, a new contacts book: counted over the session table
        sessions = manifest.parts_of("sessions")
        states = visitor_states(ctx.writer.scan_parts("sessions", sessions)) if sessions else {}
        visitors = sum(states.values())
        known = states.get("known", 0)
        temporary = states.get("temporary", 0)
    rows_read = sum(i.rows_read for i in manifest.inputs)
    parse_rejects = sum(i.rows_rejected for i in manifest.inputs)
    erased = sum(i.rows_erased for i in manifest.inputs)
    manifest.counts = {
        "rows_read": rows_read,
        "events_kept": int(ix["n"]),
        "duplicates": table.duplicates,
        "rejected": parse_rejects + held.height,
        "conflicting_duplicates": table.conflicting,
        "sessions": n_sessions,
        "visitors": visitors,
        "unattached_events": int(ix["unattached"]),
        "first_event": iso_z(ix["lo"]),
        "last_event": iso_z(ix["hi"]),
        "far_future_cut": iso_z(ctx.decisions.cut[0]) if ctx.decisions.cut else None,
    }
    if erased or manifest.erased:
        manifest.counts["erased"] = erased
    if manifest.contacts is not None:
        manifest.contact_counts = {
            "file": manifest.contacts.file,
            "sha256": manifest.contacts.sha256,
            "contacts": ctx.book.height if ctx.book is not None else 0,
            "invalid_entries": ctx.invalid_entries,
            "visitors_known": known,
            "visitors_temporary": temporary,
        }


def _index_totals(ctx: _Context, manifest: Manifest) -> dict[str, Any]:
    """Events, first and last event time and events without a session of the version's
    index: from the parts' manifest entries (parts an earlier jtrack wrote are read)."""
    parts = [p for p in manifest.parts_of("index") if p.rows]
    old = [p for p in parts if p.first_us is None]
    lo = [p.first_us for p in parts if p.first_us is not None]
    hi = [p.last_us for p in parts if p.last_us is not None]
    unattached = sum(p.unattached or 0 for p in parts)
    if old:
        row = (
            ctx.writer.scan_parts("index", old)
            .select(
                lo=pl.col("created_date").min().dt.epoch("us"),
                hi=pl.col("created_date").max().dt.epoch("us"),
                unattached=pl.col("session_id").null_count(),
            )
            .collect(engine="in-memory")
            .row(0, named=True)
        )
        lo.append(row["lo"])
        hi.append(row["hi"])
        unattached += int(row["unattached"])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return {
        "n": sum(p.rows for p in parts),
        "lo": epoch + timedelta(microseconds=min(lo)) if lo else None,
        "hi": epoch + timedelta(microseconds=max(hi)) if hi else None,
        "unattached": unattached,
    }


def _summary_from_manifest(m: Manifest, store: Store) -> RunSummary:
    c = m.counts
    return RunSummary(
        rows_read=int(c.get("rows_read", 0)),
        events_kept=int(c.get("events_kept", 0)),
        duplicates=int(c.get("duplicates", 0)),
        rejected=int(c.get("rejected", 0)),
        conflicting_duplicates=int(c.get("conflicting_duplicates", 0)),
        sessions=int(c.get("sessions", 0)),
        visitors=int(c.get("visitors", 0)),
        unattached_events=int(c.get("unattached_events", 0)),
        first_event=_parse_iso(c.get("first_event")),
        last_event=_parse_iso(c.get("last_event")),
        store=store.shown,
        contacts=m.contact_counts,
        version=f"v{m.version:06d}",
        erased=int(c.get("erased", 0)),
    )


def _summary(m: Manifest, store: Store, new: NewData, run_info: RunInfo) -> RunSummary:
    s = _summary_from_manifest(m, store)
    s.files = [f.accounting() for f in new.files]
    s.run = dict(run_info.__dict__)
    return s


# ---------------------------------------------------------------------------- in memory


@dataclass
class SessionizeRun(StoredRun):
    """Sources sessionized for a read-only use (a report): the frames, in memory."""

    result: Any = None  # jtrack.core.sessionize.Sessionized

    def session_table(self, limit: int | None = None) -> pl.DataFrame:
        sessions = self.result.sessions
        return sessions if limit is None else sessions.head(limit)


#: The temporary stores of `report FILES` (sessionize_sources): in $TMPDIR, each with a
#: file its process holds a lock on (flock) for as long as it lives.
_TEMP_PREFIX = "jtrack-files-"
_ALIVE = ".alive"


@contextlib.contextmanager
def _temporary_store_folder() -> Iterator[Path]:
    """A folder for a temporary store, its `.alive` file locked while the block runs (so
    that the next one, if this process is killed, removes it: files.remove_unheld), removed
    after it."""
    import fcntl
    import tempfile

    from jtrack.files import remove_unheld

    remove_unheld(tempfile.gettempdir(), _TEMP_PREFIX, _ALIVE)
    with tempfile.TemporaryDirectory(prefix=f"{_TEMP_PREFIX}{os.getpid()}-") as tmp:
        fd = os.open(os.path.join(tmp, _ALIVE), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with contextlib.suppress(OSError):  # (a file system without locks: no marker)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield Path(tmp)
        finally:
            os.close(fd)


def sessionize_sources(
    sources: Sequence[str | os.PathLike[str]],
    options: RunOptions | None = None,
    *,
    stdin: Any = None,
    progress: ProgressFn | None = None,
    **fields: Any,
) -> SessionizeRun:
    """Sessionize sources without keeping a store: the same engine, into a temporary store
    that is read back into memory and removed. Options as for run_sessionize."""

    from jtrack.core.sessionize import Sessionized

    opts = _legacy_options(options, fields)
    with _temporary_store_folder() as tmp:
        store = Store(tmp / "store")
        run = run_sessionize(sources, store, options=opts, progress=progress, stdin=stdin)
        with store.current_snapshot() as snap:
            sessions = snap.scan_sessions().sort("created_date", "id").collect(engine="in-memory")
            events = snap.events()
        store.close()
    out = SessionizeRun(
        summary=run.summary,
        read=run.read,
        contacts_invalid=run.contacts_invalid,
        conflicts=run.conflicts,
        store=None,
        notes=run.notes,
        left_out=run.left_out,
        result=Sessionized(events=events, sessions=sessions),
    )
    out.summary.store = None
    return out


def _legacy_options(options: Any, fields: dict[str, Any]) -> RunOptions:
    """RunOptions from `options` and keyword fields (a SessionizeOptions is its `session`)."""
    from dataclasses import fields as dc_fields
    from dataclasses import replace

    if isinstance(options, SessionizeOptions):
        fields = {"session": options, **fields}
        options = None
    opts = options or RunOptions()
    if "options" in fields:  # the keyword name of older releases
        fields["session"] = fields.pop("options")
    if "rejects" in fields:
        fields["rejects_path"] = fields.pop("rejects")
    known = {f.name for f in dc_fields(RunOptions)}
    unknown = sorted(set(fields) - known)
    session_fields = {f.name for f in dc_fields(SessionizeOptions)}
    if set(unknown) & session_fields:  # (how sessions are split: options of their own)
        given = ", ".join(f"{k}={fields[k]!r}" for k in unknown if k in session_fields)
        raise TypeError(
            f"unexpected options: {', '.join(unknown)}: how sessions are split is "
            f"session=jtrack.options.SessionizeOptions({given})"
        )
    if unknown:
        raise TypeError(f"unexpected options: {', '.join(unknown)} (see jtrack.options.RunOptions)")
    changes = {k: v for k, v in fields.items() if v is not None}
    return replace(opts, **changes)  # (a path given is kept as its text: RunOptions)


__all__ = [
    "RunSummary",
    "SessionizeRun",
    "StoredRun",
    "iso",
    "run_sessionize",
    "sessionize_sources",
]
