"""The engine: one way to turn exports into a store, whatever their size or the store's age.

`run_sessionize(sources, store, options=RunOptions(...))` plans the run, reads the new inputs into
segments, decides duplicates and far-future rows over everything the store holds, runs the
sessionizer kernel (jtrack.core.sessionize) per work unit of visitor buckets and commits a
new version of the store. A new store, an incremental run and a rebuild are the same code;
`sessionize_sources` runs it into a temporary store for read-only uses. Never prints.
"""

from __future__ import annotations

from jtrack.engine.run import (
    RunSummary,
    SessionizeRun,
    StoredRun,
    iso,
    run_sessionize,
    sessionize_sources,
)

__all__ = [
    "RunSummary",
    "SessionizeRun",
    "StoredRun",
    "iso",
    "run_sessionize",
    "sessionize_sources",
]
