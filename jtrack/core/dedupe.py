"""Deduplication: keep one row per event id (the first by created_date, then input order).

Pure Polars; imports nothing else from jtrack.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)


@dataclass
class DedupResult:
    """Which rows keep each `event_id` once, plus what was dropped.

    `keep` is a boolean mask over the input rows; `events` materialises the kept rows (the
    pipeline passes `keep` to `sessionize` instead, so the wide rows are copied only once).
    """

    source: pl.DataFrame
    keep: pl.Series | None  # None: no duplicates, every row is kept
    duplicates: int
    conflicts: pl.DataFrame  # event ids delivered with different contents

    @property
    def events(self) -> pl.DataFrame:
        return self.source if self.keep is None else self.source.filter(self.keep)


def deduplicate(events: pl.DataFrame) -> DedupResult:
    """Keep one row per event id: the first by created_date (then input order).

    A redelivered event with different contents is a conflict: it is still kept once, and
    listed in `conflicts` with how many distinct versions were seen. Candidates are found by
    a 128-bit hash of the id and confirmed on the ids themselves; only the duplicated rows
    are sorted.
    """
    no_conflicts = pl.DataFrame(schema={"event_id": pl.String, "versions": pl.UInt32})
    if events.height == 0:
        return DedupResult(events, None, 0, no_conflicts)
    h = pl.col("event_id").nchash.xxh3_128()  # type: ignore[attr-defined]
    candidate = events.select(h.is_duplicated()).to_series()
    if not candidate.any():
        return DedupResult(events, None, 0, no_conflicts)
    content_cols = [c for c in events.columns if not c.startswith("_")]
    dups = events.with_row_index("_ord").filter(candidate)
    dups = dups.filter(pl.col("event_id").is_duplicated())  # exact, on the few candidates
    if dups.height == 0:
        return DedupResult(events, None, 0, no_conflicts)
    # an empty list (traits, attributes) is the same content as a missing one
    lists = [c for c in content_cols if isinstance(dups.schema[c], pl.List)]
    same = [pl.when(pl.col(c).list.len() > 0).then(pl.col(c)).alias(c) for c in lists]
    conflicts = (
        dups.with_columns(same)
        .with_columns(_h=pl.struct(content_cols).hash(0))
        .group_by("event_id")
        .agg(versions=pl.col("_h").n_unique().cast(pl.UInt32))
        .filter(pl.col("versions") > 1)
        .sort("event_id")
    )
    dropped = (
        dups.select("event_id", "created_date", "_ord")
        .sort(["event_id", "created_date", "_ord"])
        .filter(pl.col("event_id").is_first_distinct().not_())
        .get_column("_ord")
    )
    keep = pl.repeat(True, events.height, eager=True).scatter(dropped, False).alias("keep")
    return DedupResult(events, keep, dropped.len(), conflicts)
