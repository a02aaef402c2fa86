"""What a store holds: the files it took in, its runs and its versions (for `jtrack store`).

Plain frames and dicts; imports Polars only, never prints.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from jtrack.store import Manifest, RunInfo, Store
from jtrack.store.manifest import kept_of

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
        # (the --keep a run without one keeps: the one the store was given last)
        "keep": kept_of(m),
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


#: The columns `jtrack store changes` gives: each session id changed between two versions,
#: how (added, changed, removed), and the versions it goes from and to.
CHANGES_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "change": pl.String(),
    "since": pl.String(),
    "version": pl.String(),
}

_RELOAD = (
    "read the whole session table of the current version again (`jtrack store files "
    "sessions`), then ask for the changes since it"
)


def session_changes(store: Store, since: str | None = None, to: str | None = None) -> pl.DataFrame:
    """The sessions the current version changed against version `since` (default: the
    version it was written on), folded over every version between: `id`, `change`
    (added: not in `since`; removed: in `since`, not now; changed: in both, another row,
    or removed and added again), `since`, `version`. A reader that holds the session table
    of `since` deletes the rows of removed and changed ids and inserts those of added and
    changed ones from the current version's table: it then holds that table.

    Raises StoreError when a version between does not list its changes (an erase, a
    rebuild, --replace, a version an earlier jtrack wrote) or is no longer kept, or when
    `since` is not an earlier version of the current one (rolled back from): the reader
    reloads the whole table. `to`: a version other than the current one (the one a reader
    holds with `jtrack store pin`)."""
    import contextlib

    from jtrack.errors import StoreError
    from jtrack.store.layout import version_name

    with contextlib.ExitStack() as held:
        if to is None:
            snap = held.enter_context(store.current_snapshot())
            current, m = snap.name, snap.manifest
        else:
            current = version_name(_version_arg(store, to, "--to"))
            if not held.enter_context(store.holding(current)):
                raise StoreError(
                    f"{store.shown}: --to {current} is not a version the store keeps",
                    hint="see `jtrack store` for its versions",
                )
            m = store.read_manifest(current)
        want = _version_arg(store, since, "--since") if since is not None else _base_of(store, m)
        chain: list[tuple[str, str | None, int]] = []  # (version, its file, its base)
        name = current
        while m.version > want:
            sc = m.session_changes
            if not sc or sc.get("reload") or sc.get("base") is None:
                why = (
                    "written by an earlier jtrack"
                    if not sc
                    else f"its {m.runs[-1].mode if m.runs else '?'} run wrote the session "
                    "table anew"
                )
                raise StoreError(
                    f"{store.shown}: {name} does not list the sessions it changed ({why}), "
                    f"so the changes since {version_name(want)} are not known",
                    hint=_RELOAD,
                )
            base = int(sc["base"])
            chain.append((name, sc.get("file"), base))
            if base <= want:
                break
            name = version_name(base)
            if not held.enter_context(store.holding(name)):
                raise StoreError(
                    f"{store.shown}: {name}, between {version_name(want)} and {current}, is "
                    "no longer kept (runs let it go: `--keep`), so its session changes are "
                    "gone",
                    hint=_RELOAD,
                )
            m = store.read_manifest(name)
        if m.version < want or (chain and chain[-1][2] != want):
            raise StoreError(
                f"{store.shown}: {version_name(want)} is not a version {current} was written "
                "on (a rollback went back past it, or it is newer)",
                hint=_RELOAD,
            )
        frames = [
            store.session_changes_of(n, rel).lazy().with_columns(_order=pl.lit(order, pl.UInt32))
            for order, (n, rel, _) in enumerate(reversed(chain))
            if rel
        ]
        if not frames:
            empty = pl.DataFrame(schema={"id": pl.String(), "change": pl.String()})
            return _changes_frame(empty, want, current)
        folded = (
            pl.concat(frames, how="vertical")
            .sort("_order")
            .group_by("id", maintain_order=True)
            .agg(_first=pl.col("change").first(), _last=pl.col("change").last())
            .filter(~((pl.col("_first") == "added") & (pl.col("_last") == "removed")))
            .select(
                "id",
                change=pl.when(pl.col("_first") == "added")
                .then(pl.lit("added"))
                .when(pl.col("_last") == "removed")
                .then(pl.lit("removed"))
                .otherwise(pl.lit("changed")),
            )
            .collect(engine="in-memory")
        )
        return _changes_frame(folded, want, current)


def _changes_frame(frame: pl.DataFrame, since: int, current: str) -> pl.DataFrame:
    from jtrack.store.layout import version_name

    return (
        frame.select(
            pl.col("id"),
            pl.col("change"),
            since=pl.lit(version_name(since)),
            version=pl.lit(current),
        )
        .sort("id")
        .select(pl.col(c).cast(t) for c, t in CHANGES_SCHEMA.items())
    )


def _base_of(store: Store, m: Manifest) -> int:
    """The version `m` was written on (for `jtrack store changes` without --since)."""
    from jtrack.errors import StoreError

    base = (m.session_changes or {}).get("base", m.base)
    if base is None:
        raise StoreError(
            f"{store.shown}: the current version was written on no earlier version (the "
            "first, or an erase)",
            hint="read the whole session table (`jtrack store files sessions`)",
        )
    return int(base)


def _version_arg(store: Store, since: str, option: str) -> int:
    """The number of the version `since` names (v000012, or 12), given as `option`."""
    from jtrack.errors import UsageError
    from jtrack.store.layout import version_number

    text = since.strip()
    n = version_number(text) if not text.isdigit() else int(text)
    if n is None:
        raise UsageError(f"{option} {since!r} is not a version", hint="name one as v000012 (or 12)")
    return n


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
