"""The main job end to end: read, deduplicate, sessionize, (resolve contacts), keep the result.

`run_sessionize` is what `jtrack sessionize` calls; it returns a RunSummary whose counts
always add up (rows read = events kept + duplicates dropped + rows rejected).
Imports Polars only; never prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from jtrack import __version__
from jtrack.ingest import OnError, ReadResult, read_events
from jtrack.schema import STORED_EVENT_SCHEMA
from jtrack.sessionize import Sessionized, SessionizeOptions, deduplicate, sessionize
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
    contacts: dict[str, Any] | None = None  # with a contacts file: its counts (jtrack.contacts)

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
class SessionizeRun:
    """The result of sessionizing in memory: the summary plus the frames."""

    summary: RunSummary
    result: Sessionized
    read: ReadResult
    contacts_invalid: pl.DataFrame | None = None  # invalid entries of the contacts file
    conflicts: pl.DataFrame | None = None  # event ids delivered with different contents


def sessionize_sources(
    sources: Sequence[str | os.PathLike[str]],
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
    run = SessionizeRun(summary, result, read, invalid if contacts is not None else None)
    run.conflicts = dedup.conflicts
    return run


def _resolve(
    result: Sessionized, contacts: str | os.PathLike[str] | None, default_region: str | None
) -> tuple[pl.DataFrame | None, pl.DataFrame, Any]:
    """Fill the session table's contact columns (in place); as of the end of the data."""
    from jtrack.contacts import INVALID_SCHEMA, load_contacts, resolve_visitors
    from jtrack.contacts import sessions_with_contacts as with_contacts

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
    from jtrack.contacts import file_digest

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
) -> SessionizeRun:
    """Sessionize the sources and replace the store's contents with the result, atomically.

    With `contacts`, sessions are resolved to known contacts (see jtrack.contacts).
    """
    opts = options or SessionizeOptions()
    with store.lock(wait=lock_wait):
        run = sessionize_sources(
            sources,
            options=opts,
            on_error=on_error,
            max_line_bytes=max_line_bytes,
            stdin=stdin,
            progress=progress,
            contacts=contacts,
            default_region=default_region,
        )
        if rejects_path is not None and run.read.rejects.height:
            write_rejects(run.read.rejects, rejects_path)
            run.summary.rejects_file = str(rejects_path)
        if progress:
            progress("writing the store")
        manifest: dict[str, Any] = {
            "jtrack_version": __version__,
            "inputs": [str(s) for s in sources],
            "options": opts.to_dict(),
            "counts": {
                k: v
                for k, v in run.summary.to_dict().items()
                if k not in ("files", "store", "rejects_file", "contacts")
            },
            "files": run.summary.files,
        }
        if run.summary.contacts is not None:
            manifest["contacts"] = {**run.summary.contacts, "default_region": default_region}
        events = run.result.events.select(list(STORED_EVENT_SCHEMA))
        store.write_snapshot(
            events, run.result.sessions, manifest, buckets=choose_buckets(events.height)
        )
        run.summary.store = str(store.root)
    return run


def summary_json(summary: RunSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2)
