"""What a store holds: the files it took in, its runs and its versions (for `jtrack store`).

Plain frames and dicts; imports Polars only, never prints.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from jtrack.store import Manifest, RunInfo, Store

INPUT_COLUMNS = [
    "name",
    "size",
    "shape",
    "fingerprint",
    "rows_read",
    "rows_rejected",
    "rows_erased",
    "run",
    "taken_in",
]
RUN_COLUMNS = [
    "run",
    "mode",
    "started",
    "finished",
    "jtrack_version",
    "files_read",
    "files_skipped",
    "rows_read",
    "events_kept",
    "duplicates",
    "rejected",
    "erased",
    "no_zone",
    "events_added",
    "visitors_touched",
    "sessions_added",
    "sessions_changed",
    "sessions_removed",
    "sessions_unchanged",
    "sessions_renumbered",
    "events_from",
    "events_to",
    "parts_written",
    "parts_rewritten",
    "reason",
]
VERSION_COLUMNS = ["version", "current", "created", "runs", "events", "sessions", "parts"]


def inputs_frame(m: Manifest, runs: list[RunInfo] | None = None) -> pl.DataFrame:
    """One row per input taken in: name, size, shape (as read: `genesys-jsonl`,
    `flat-parquet`...), fingerprint, rows, when (`runs`: every run,
    the logged ones too; default: those in the manifest)."""
    finished = {r.run: r.finished for r in (m.runs if runs is None else runs)}
    rows = [
        {
            "name": i.name,
            "size": i.size,
            "shape": i.shape,
            "fingerprint": i.sha256,
            "rows_read": i.rows_read,
            "rows_rejected": i.rows_rejected,
            "rows_erased": i.rows_erased,
            "run": i.run,
            "taken_in": finished.get(i.run),
        }
        for i in m.inputs
    ]
    schema = {
        "name": pl.String(),
        "size": pl.Int64(),
        "shape": pl.String(),
        "fingerprint": pl.String(),
        "rows_read": pl.Int64(),
        "rows_rejected": pl.Int64(),
        "rows_erased": pl.Int64(),
        "run": pl.Int64(),
        "taken_in": pl.String(),
    }
    return _times(pl.DataFrame(rows, schema=schema, orient="row"), "taken_in")


def runs_frame(m: Manifest, runs: list[RunInfo] | None = None) -> pl.DataFrame:
    rows = [{c: getattr(r, c) for c in RUN_COLUMNS} for r in (m.runs if runs is None else runs)]
    text = ("mode", "started", "finished", "jtrack_version", "reason", "events_from", "events_to")
    schema = {c: (pl.String() if c in text else pl.Int64()) for c in RUN_COLUMNS}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return _times(frame, "started", "finished", "events_from", "events_to")


def versions_frame(store: Store) -> pl.DataFrame:
    """Every complete version, newest first (the current one marked, and those that hold
    data `jtrack store erase` took out since: `holds_erased`)."""
    current = store.current_name()
    holding = set(store.holding_erased())
    rows: list[dict[str, Any]] = []
    for name in reversed(store.versions()):
        m = store.read_manifest(name)
        rows.append(
            {
                "version": name,
                "current": name == current,
                "created": m.created,
                "runs": m.run_count,
                "events": int(m.counts.get("events_kept", 0)),
                "sessions": int(m.counts.get("sessions", 0)),
                "parts": len(m.parts),
                "holds_erased": name in holding,
            }
        )
    schema = {
        "version": pl.String(),
        "current": pl.Boolean(),
        "created": pl.String(),
        "runs": pl.Int64(),
        "events": pl.Int64(),
        "sessions": pl.Int64(),
        "parts": pl.Int64(),
        "holds_erased": pl.Boolean(),
    }
    return _times(pl.DataFrame(rows, schema=schema, orient="row"), "created")


def _times(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`columns` (ISO-8601 UTC text, as the manifest keeps it) as times: tables show them as
    every time is shown (never cut), JSON as before."""
    return frame.with_columns(pl.col(*columns).str.to_datetime(time_unit="us", time_zone="UTC"))


def overview(store: Store) -> dict[str, Any]:
    """The store as plain data: where, which version, totals, options, contacts, and the
    inputs, runs and versions tables."""
    name = store.current_name()
    m = store.read_manifest(name)
    runs = store.runs(name, m)
    return {
        "store": store.shown,
        "version": name,
        # (as the manifest writes it: a store some visitors were erased from is layout 3,
        # one whose duplicates table has deltas layout 4)
        "layout_version": m.written_layout,
        "buckets": m.bucket_policy.buckets,
        "options": m.options,
        "counts": m.counts,
        "contacts": (m.contact_counts or {"file": m.contacts.file}) if m.contacts else None,
        "inputs": inputs_frame(m, runs),
        "runs": runs_frame(m, runs),
        "versions": versions_frame(store),
    }


def current_files(store: Store, table: str) -> list[str]:
    """The files of `table` (sessions, index, segments) of the current version, for tools
    that read Parquet (see Store.current_files)."""
    return store.current_files(table)


def verify(store: Store, every: bool = False, full: bool = False) -> dict[str, Any]:
    """The files of the current version (`every`: of every version kept) checked against
    their manifests (see Store.verify): which versions, how many files, and what is
    damaged (a frame of version, file, problem), with what to do about it when anything is."""
    from jtrack.store.store import damaged_hint

    damage = []
    files = 0
    with store.current_snapshot() as snap:  # (each version read under a lease: runs leave it alone)
        current = snap.name
        names = [current]
        files += len(snap.manifest.files())
        damage += store.verify(current, full=full)
        for name in store.versions() if every else []:
            if name == current:
                continue
            with store.holding(name) as there:
                if not there:
                    continue  # (let go by a run meanwhile: nothing to check)
                files += len(store.read_manifest(name).files())
                damage += store.verify(name, full=full)
                names.append(name)
    names.sort()
    frame = pl.DataFrame(
        [(d.version, d.file, d.problem) for d in damage],
        schema={"version": pl.String(), "file": pl.String(), "problem": pl.String()},
        orient="row",
    ).sort("version", "file")
    hint = None
    if frame.height:
        hint = (
            damaged_hint(
                store, current, frame.filter(pl.col("version") == current)["file"].to_list()
            )
            if current in set(frame["version"])
            else ("the current version is whole; the damaged versions are only for rollback")
        )
    return {
        "store": store.shown,
        "versions": names,
        "files_checked": files,
        "full": full,
        "damaged": frame,
        "hint": hint,
    }


__all__ = ["current_files", "inputs_frame", "overview", "runs_frame", "verify", "versions_frame"]
