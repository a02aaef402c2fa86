"""Deduplication: keep one row per event id (the first by created_date, then input order),
and how copies of one event are compared (jtrack.options.CONTENT_RULE): what a run and
`deduplicate` alike call a conflicting redelivery.

Pure Polars; imports nothing else from jtrack.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

#: Columns a copy's contents are compared on to tell a conflicting redelivery.
CONTENT_COLUMNS = (
    "event_id",
    "customer_id",
    "customer_id_type",
    "created_date",
    "kind",
    "event_name",
    "page_url",
    "page_title",
    "search_query",
    "source_session_type",
    "source_session_id",
    "authenticated",
    "traits",
    "mkt_campaign_source",
    "mkt_campaign_name",
    "referrer_hostname",
    "referrer_medium",
)


def content_hash(present: Collection[str] | None = None) -> pl.Expr:
    """A stable hash of a copy's contents (CONTENT_COLUMNS), the same in every jtrack. With
    `present` (the columns a frame has), a content column it lacks counts as null."""
    texts = [
        content_text(c) if present is None or c in present else pl.lit("\x00")
        for c in CONTENT_COLUMNS
    ]
    key = pl.concat_str(texts, separator="\x1f")
    return key.nchash.xxh3_64().alias("_hash")  # type: ignore[attr-defined]


def content_text(c: str) -> pl.Expr:
    """A content column as copies are compared on it (content_hash hashes these)."""
    col = pl.col(c)
    text: pl.Expr
    if c == "traits":
        item = pl.element().struct
        fields = [item.field(f).fill_null("\x00") for f in ("name", "data_type", "value")]
        # entries in any order (a Parquet struct has one order for a file, a JSON object
        # each its own), an entry with neither type nor value none (`"email": null`), and
        # no entry left the same as none at all (`{}`, `[]`, a missing column): CONTENT_RULE
        present = item.field("data_type").is_not_null() | item.field("value").is_not_null()
        entries = pl.concat_str(fields, separator="\x1e").filter(present).sort()
        joined = col.list.eval(entries).list.join("\x1d")
        text = pl.when(joined != "").then(joined)
    elif c == "created_date":
        text = col.dt.epoch("us").cast(pl.String)
    else:
        text = col.cast(pl.String)
    return text.fill_null("\x00")


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

    A redelivered event with different contents (CONTENT_COLUMNS, compared as a run
    compares them: content_hash) is a conflict: it is still kept once, and listed in
    `conflicts` with how many distinct versions were seen; `events` needs those columns
    (as jtrack.read.read_events gives them). Candidates are found by
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
    dups = events.with_row_index("_ord").filter(candidate)
    dups = dups.filter(pl.col("event_id").is_duplicated())  # exact, on the few candidates
    if dups.height == 0:
        return DedupResult(events, None, 0, no_conflicts)
    # the contents compared as a run compares them (CONTENT_RULE): its columns, traits in
    # any order, an empty list the same as none
    conflicts = (
        dups.select("event_id", content_hash(dups.columns))
        .group_by("event_id")
        .agg(versions=pl.col("_hash").n_unique().cast(pl.UInt32))
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
