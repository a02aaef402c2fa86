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
from jtrack.ingest import SRC_FILE, SRC_LINE, OnError, ReadResult, read_events
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

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.events_kept + self.duplicates + self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
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


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class SessionizeRun:
    """The result of sessionizing in memory: the summary plus the frames."""

    summary: RunSummary
    result: Sessionized
    read: ReadResult


def sessionize_sources(
    sources: Sequence[str | os.PathLike[str]],
    *,
    options: SessionizeOptions | None = None,
    on_error: OnError = "fail",
    max_line_bytes: int | None = None,
    stdin: Any = None,
    progress: Progress | None = None,
) -> SessionizeRun:
    """Read, deduplicate and sessionize; nothing is written."""
    say = progress or (lambda _msg: None)
    say("reading")
    kwargs: dict[str, Any] = {"on_error": on_error, "stdin": stdin}
    if max_line_bytes is not None:
        kwargs["max_line_bytes"] = max_line_bytes
    read = read_events(sources, **kwargs)
    say("deduplicating")
    dedup = deduplicate(read.events)
    say("sessionizing")
    result = sessionize(dedup.events.drop(SRC_FILE, SRC_LINE), options)
    events = result.events
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
    return SessionizeRun(summary, result, read)


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
        )
        if rejects_path is not None and run.read.rejects.height:
            write_rejects(run.read.rejects, rejects_path)
            run.summary.rejects_file = str(rejects_path)
        if progress:
            progress("writing the store")
        manifest = {
            "jtrack_version": __version__,
            "inputs": [str(s) for s in sources],
            "options": opts.to_dict(),
            "counts": {
                k: v
                for k, v in run.summary.to_dict().items()
                if k not in ("files", "store", "rejects_file")
            },
            "files": run.summary.files,
        }
        events = run.result.events.select(list(STORED_EVENT_SCHEMA))
        store.write_snapshot(
            events, run.result.sessions, manifest, buckets=choose_buckets(events.height)
        )
        run.summary.store = str(store.root)
    return run


def summary_json(summary: RunSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2)
