"""The main job end to end: read, deduplicate, sessionize, (resolve contacts), keep the result.

`run_sessionize` is what `jtrack sessionize` calls; it returns a RunSummary whose counts
always add up (rows read = events kept + duplicates dropped + rows rejected).
Imports Polars only; never prints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from jtrack import __version__
from jtrack.core.dedupe import deduplicate
from jtrack.core.sessionize import Sessionized, sessionize
from jtrack.errors import UsageError
from jtrack.options import SessionizeOptions
from jtrack.read import OnError, ReadResult, Source, expand_sources, read_events
from jtrack.schema import STORED_EVENT_SCHEMA
from jtrack.store import Store

#: Events per visitor bucket the store aims at (more buckets for larger inputs).
EVENTS_PER_BUCKET = 2_000_000

Progress = Callable[[str], None]


@dataclass
class RunSummary:
    """What a sessionize run read, kept, dropped and produced."""

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
    contacts: dict[str, Any] | None = (
        None  # with a contacts file: its counts (jtrack.core.contacts)
    )

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.events_kept + self.duplicates + self.rejected

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
            "first_event": _iso(self.first_event),
            "last_event": _iso(self.last_event),
            "files": self.files,
            "rejects_file": self.rejects_file,
            "store": self.store,
        }
        if self.contacts is not None:
            out["contacts"] = self.contacts
        return out


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class StoredRun:
    """A run kept in a store: the summary, the accounting, and its sessions read back."""

    summary: RunSummary
    read: ReadResult
    contacts_invalid: pl.DataFrame | None = None  # invalid entries of the contacts file
    conflicts: pl.DataFrame | None = None  # event ids delivered with different contents
    store: Store | None = None

    def session_table(self, limit: int | None = None) -> pl.DataFrame:
        """The run's sessions by visitor, start and id (the first `limit` of them).

        Each bucket file is sorted that way already, so the first `limit` overall are among
        the first `limit` of each file: only those are read (a 100M-event run has ~20M
        sessions; reading them all to show ten would need several GB)."""
        assert self.store is not None, "a bucketed run is read back from its store"
        order = ["customer_id", "created_date", "id"]
        files = sorted((self.store.current() / "sessions").glob("*.parquet"))
        if limit is None or not files:
            return self.store.scan_sessions().sort(order).collect(engine="in-memory")
        heads = [pl.scan_parquet(f).head(limit).collect(engine="in-memory") for f in files]
        return pl.concat(heads).sort(order).head(limit)


@dataclass
class SessionizeRun(StoredRun):
    """The result of sessionizing in memory: the summary plus the frames."""

    result: Sessionized = field(kw_only=True)

    def session_table(self, limit: int | None = None) -> pl.DataFrame:
        sessions = self.result.sessions
        return sessions if limit is None else sessions.head(limit)


def sessionize_sources(
    sources: Sequence[str | os.PathLike[str]] | Sequence[Source],
    *,
    options: SessionizeOptions | None = None,
    on_error: OnError = "fail",
    max_line_bytes: int | None = None,
    stdin: Any = None,
    progress: Progress | None = None,
    contacts: str | os.PathLike[str] | None = None,
    default_region: str | None = None,
) -> SessionizeRun:
    """Read, deduplicate, sessionize and resolve contacts; nothing is written."""
    say = progress or (lambda _msg: None)
    say("reading")
    kwargs: dict[str, Any] = {"on_error": on_error, "stdin": stdin}
    if max_line_bytes is not None:
        kwargs["max_line_bytes"] = max_line_bytes
    read = read_events(sources, **kwargs)
    say("deduplicating")
    dedup = deduplicate(read.events)
    say("sessionizing")
    result = sessionize(read.events, options, keep=dedup.keep)
    events = result.events
    say("resolving contacts")
    book, invalid, resolution = _resolve(result, contacts, default_region)
    span = events.select(
        pl.col("created_date").min().alias("a"), pl.col("created_date").max().alias("b")
    )
    summary = RunSummary(
        rows_read=read.rows_read,
        events_kept=events.height,
        duplicates=dedup.duplicates,
        rejected=read.rows_rejected,
        conflicting_duplicates=dedup.conflicts.height,
        sessions=result.sessions.height,
        visitors=int(result.sessions["customer_id"].n_unique()) if result.sessions.height else 0,
        unattached_events=result.unattached,
        first_event=span["a"][0] if events.height else None,
        last_event=span["b"][0] if events.height else None,
        files=[vars(f) for f in read.files],
    )
    if contacts is not None:
        summary.contacts = _contacts_counts(contacts, book, invalid, resolution)
    run = SessionizeRun(summary, read, invalid if contacts is not None else None, result=result)
    run.conflicts = dedup.conflicts
    return run


def _resolve(
    result: Sessionized, contacts: str | os.PathLike[str] | None, default_region: str | None
) -> tuple[pl.DataFrame | None, pl.DataFrame, Any]:
    """Fill the session table's contact columns (in place); as of the end of the data."""
    from jtrack.core.contacts import INVALID_SCHEMA, load_contacts, resolve_visitors
    from jtrack.core.contacts import sessions_with_contacts as with_contacts

    book, invalid = (
        load_contacts(contacts, default_region)
        if contacts is not None
        else (None, pl.DataFrame(schema=INVALID_SCHEMA))
    )
    res = resolve_visitors(result.sessions, result.events, book, default_region=default_region)
    result.sessions = with_contacts(result.sessions, res)
    return book, invalid, res


def _contacts_counts(
    path: str | os.PathLike[str], book: pl.DataFrame | None, invalid: pl.DataFrame, res: Any
) -> dict[str, Any]:
    from jtrack.core.contacts import file_digest

    states = res.visitors["contact_state"].value_counts()
    by_state = dict(zip(states["contact_state"].to_list(), states["count"].to_list(), strict=True))
    return {
        "file": str(path),
        "sha256": file_digest(path),
        "contacts": book.height if book is not None else 0,
        "invalid_entries": invalid.height,
        "visitors_known": int(by_state.get("known", 0)),
        "visitors_temporary": int(by_state.get("temporary", 0)),
        "visitors_expired": int(by_state.get("expired", 0)),
        "conflicts": int(res.conflicts["customer_id"].n_unique()),
        "as_of": _iso(res.as_of),
        "ttl_seconds": res.ttl.total_seconds(),
    }


def write_rejects(rejects: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write rejected rows (file, line, field, reason, detail, raw) as JSONL, atomically."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    rejects.write_ndjson(tmp)
    os.replace(tmp, target)


def choose_buckets(events: int) -> int:
    """One bucket per ~2M events, as a power of two (stable for similar input sizes)."""
    n = 1
    while n * EVENTS_PER_BUCKET < events:
        n *= 2
    return n


#: Peak memory per row of an in-memory run: ~3 GB for 1M wide flat events.
BYTES_PER_ROW = 3_000
#: Peak memory per row of a bucket of the bucketed path (measured: 3.3 GB with buckets of
#: 573k rows at 10M events; the staged rows come back in less compact buffers).
BUCKET_BYTES_PER_ROW = 5_000
#: Peak memory per row of a chunk being staged (read, validated, split by bucket).
STAGE_BYTES_PER_ROW = 1_600
#: Memory taken before any row: the interpreter, Polars, PyArrow.
BASE_MEMORY = 400 * 1024**2
#: The memory a run aims to stay under when no --memory-limit is given.
DEFAULT_MEMORY_LIMIT = 4 * 1024**3
#: The bucketed path holds one bucket at a time; staging works in chunks of at most this.
MAX_CHUNK_ROWS = 1_000_000

Mode = Literal["auto", "memory", "partitioned"]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str, option: str = "--memory-limit") -> int:
    """Bytes from `4GB`, `512MB`, `1.5G`, `2GiB` (powers of 1024) or a plain byte count."""
    m = _SIZE_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(
            f"{option}: cannot read {text!r} as a size",
            hint="write it like 4GB, 512MB or 1.5G",
        )
    power = " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * 1024**power)


@dataclass(frozen=True)
class Plan:
    """How a run is executed: in memory, or one visitor bucket at a time."""

    partitioned: bool
    buckets: int
    chunk_rows: int
    estimated_rows: int


def plan_run(
    sources: Sequence[Source],
    *,
    memory_limit: int | None = None,
    mode: Mode = "auto",
    buckets: int | None = None,
) -> Plan:
    """In memory when the estimated input fits the memory limit, else bucketed: just enough
    visitor buckets that one bucket fits it. `buckets` forces the count."""
    from jtrack.engine.partitioned import estimate_rows

    limit = memory_limit or DEFAULT_MEMORY_LIMIT
    # what the rows may use: the interpreter and libraries take ~0.4 GB before any row
    usable = max(limit - BASE_MEMORY, limit // 2)
    rows = estimate_rows(sources)
    per_bucket = max(1_000, usable // BUCKET_BYTES_PER_ROW)
    fits = rows * BYTES_PER_ROW <= usable
    partitioned = mode == "partitioned" or (mode == "auto" and not fits)
    if buckets is None:
        # as few buckets as fit (each costs files); 0: in memory, from the events kept
        buckets = max(1, -(-rows // per_bucket)) if partitioned else 0
    chunk_rows = max(10_000, min(MAX_CHUNK_ROWS, usable // STAGE_BYTES_PER_ROW))
    return Plan(partitioned, buckets, chunk_rows, rows)


def _manifest(
    sources: Sequence[str | os.PathLike[str]],
    opts: SessionizeOptions,
    summary: RunSummary,
    default_region: str | None,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "jtrack_version": __version__,
        "inputs": [str(s) for s in sources],
        "options": opts.to_dict(),
        "counts": {
            k: v
            for k, v in summary.to_dict().items()
            if k not in ("files", "store", "rejects_file", "contacts")
        },
        "files": summary.files,
    }
    if summary.contacts is not None:
        manifest["contacts"] = {**summary.contacts, "default_region": default_region}
    return manifest


def run_sessionize(
    sources: Sequence[str | os.PathLike[str]],
    store: Store,
    *,
    options: SessionizeOptions | None = None,
    on_error: OnError = "fail",
    rejects_path: str | os.PathLike[str] | None = None,
    max_line_bytes: int | None = None,
    stdin: Any = None,
    lock_wait: float = 0.0,
    progress: Progress | None = None,
    contacts: str | os.PathLike[str] | None = None,
    default_region: str | None = None,
    memory_limit: int | None = None,
    mode: Mode = "auto",
    buckets: int | None = None,
    chunk_rows: int | None = None,
) -> StoredRun:
    """Sessionize the sources and replace the store's contents with the result, atomically.

    With `contacts`, sessions are resolved to known contacts (see jtrack.core.contacts). Inputs
    larger than `memory_limit` (estimated from Parquet footers and file sizes) are processed
    one visitor bucket at a time (jtrack.engine.partitioned), with the same result; `mode` forces
    one path, `buckets` the number of buckets and `chunk_rows` the rows read at a time.
    """
    opts = options or SessionizeOptions()
    with store.lock(wait=lock_wait):
        srcs = expand_sources(sources, stdin=stdin)
        plan = plan_run(srcs, memory_limit=memory_limit, mode=mode, buckets=buckets)
        if chunk_rows is not None:
            plan = replace(plan, chunk_rows=chunk_rows)
        run: StoredRun
        if plan.partitioned:
            run = _run_partitioned(
                sources,
                srcs,
                store,
                plan,
                opts,
                on_error=on_error,
                max_line_bytes=max_line_bytes,
                progress=progress,
                contacts=contacts,
                default_region=default_region,
            )
        else:
            run = sessionize_sources(
                srcs,
                options=opts,
                on_error=on_error,
                max_line_bytes=max_line_bytes,
                progress=progress,
                contacts=contacts,
                default_region=default_region,
            )
        if rejects_path is not None and run.read.rejects.height:
            write_rejects(run.read.rejects, rejects_path)
            run.summary.rejects_file = str(rejects_path)
        if isinstance(run, SessionizeRun):
            if progress:
                progress("writing the store")
            events = run.result.events.select(list(STORED_EVENT_SCHEMA))
            store.write_snapshot(
                events,
                run.result.sessions,
                _manifest(sources, opts, run.summary, default_region),
                buckets=plan.buckets or choose_buckets(events.height),
            )
        run.summary.store = str(store.root)
        run.store = store
    return run


def _run_partitioned(
    sources: Sequence[str | os.PathLike[str]],
    srcs: list[Source],
    store: Store,
    plan: Plan,
    opts: SessionizeOptions,
    *,
    on_error: OnError,
    max_line_bytes: int | None,
    progress: Progress | None,
    contacts: str | os.PathLike[str] | None,
    default_region: str | None,
) -> StoredRun:
    from jtrack.engine.partitioned import PartitionedRun, sessionize_partitioned

    def summary_of(p: PartitionedRun) -> RunSummary:
        return RunSummary(
            rows_read=p.read.rows_read,
            events_kept=p.events_kept,
            duplicates=p.duplicates,
            rejected=p.read.rows_rejected,
            conflicting_duplicates=p.conflicts.height,
            sessions=p.sessions,
            visitors=p.visitors,
            unattached_events=p.unattached,
            first_event=p.first_event,
            last_event=p.last_event,
            files=[vars(f) for f in p.read.files],
            contacts=p.contacts,
        )

    part = sessionize_partitioned(
        srcs,
        store,
        buckets=plan.buckets,
        chunk_rows=plan.chunk_rows,
        options=opts,
        on_error=on_error,
        max_line_bytes=max_line_bytes,
        progress=progress,
        contacts=contacts,
        default_region=default_region,
        manifest=lambda p: _manifest(sources, opts, summary_of(p), default_region),
        estimated_rows=plan.estimated_rows,
    )
    return StoredRun(summary_of(part), part.read, part.contacts_invalid, part.conflicts)


def summary_json(summary: RunSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2)
