"""The decisions a run makes over every event the store holds, before any bucket is worked on.

Two rules look beyond one visitor: the far-future cut (events dated a year after all the
others, when they are at most 1% of them, are held aside: `jtrack.read.far_future_cut`) and
deduplication (an event id is kept once, its first copy by created_date then input position,
whichever visitor the copies name). Both are decided over the history plus the new rows, so
an incremental run decides exactly what a rebuild over the same files would. Only the id
groups a run can change are looked at: those of new rows, and those of rows whose side of
the cut moved. Imports Polars only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.dedupe import CONTENT_COLUMNS, content_hash
from jtrack.read import far_future_cut

#: The history of one copy of an event: where it is and what it was judged.
COPY_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "created_date": pl.Datetime("us", "UTC"),
    "_pos": pl.UInt64(),
    "bucket": pl.UInt16(),
    "customer_id": pl.String(),
    "status": pl.String(),  # "kept", "duplicate", "held" (beyond the far-future cut)
}


@dataclass
class Decisions:
    """What the run decided."""

    cut: tuple[datetime, str] | None
    #: new rows left out (duplicates of an earlier copy, and rows beyond the cut), sorted by
    #: position, with their bucket and whether beyond the cut (each work unit is given its
    #: own: the run's every duplicate, 1.9M at 100M events, made each of 147 units build a
    #: hash set of them)
    dropped: pl.DataFrame  # _pos, bucket, far
    #: copies already in the store whose judgement changed (kept, duplicate, held)
    changed: pl.DataFrame  # COPY_SCHEMA plus new_status
    #: every live copy of the event ids that have more than one, with its contents' hash
    #: (null for the new rows': their units work it out, see hash_new)
    groups: pl.DataFrame  # event_id, created_date, _pos, bucket, customer_id, new_status, _hash
    #: the new rows among `groups` (_pos, bucket), whose contents their units hash
    hash_new: pl.DataFrame
    #: every event id judged again (its copies in the store's duplicates table are replaced)
    judged_ids: pl.Series
    #: duplicate copies among the new rows and the store's copies that became duplicates
    duplicates: int

    @property
    def drop_new(self) -> pl.Series:
        """Positions of the new rows left out, sorted."""
        return self.dropped.get_column("_pos")

    @property
    def far_new(self) -> pl.Series:
        """Positions of the new rows beyond the cut, sorted."""
        return self.dropped.filter("far").get_column("_pos")


def decide(
    new_ids: pl.DataFrame,
    history: pl.LazyFrame,
    new_event_ids: Callable[[pl.Series], pl.DataFrame],
    stored: pl.DataFrame | None = None,
    rejudge: pl.Series | None = None,
) -> Decisions:
    """Decide duplicates and the far-future cut.

    `new_ids`: the new accepted rows (_h, created_date, _pos, bucket). `history`: every copy
    the store holds (COPY_SCHEMA, lazily; empty for a new store); only the copies that share
    an id with a new row, or that cross the cut, are read whole. `new_event_ids(positions)`
    gives (_pos, event_id, customer_id) of new rows: their contents are not fetched, the
    work units hash them (`hash_new`; the driver fills `groups`' `_hash` in). `stored`:
    the event id's `_h`, `created_date` and whether it is held aside (`held`) of every copy
    in `history`, when the caller has them at hand (see jtrack.engine.run._stored_keys):
    the history is then read only for the copies that share an id with a new row or cross
    the cut. `rejudge`: event ids whose copies are judged again whatever the new rows (those
    of the copies an erasure takes out of `history`).
    """
    old_times = (
        history.select("created_date", _h=pl.col("event_id").nchash.xxh3_64())  # type: ignore[attr-defined]
        if stored is None
        else stored.lazy().select("created_date", "_h")
    )
    times = pl.concat(
        [new_ids.lazy().select("created_date", "_h"), old_times], how="vertical_relaxed"
    )
    cut = far_future_cut(times, key="_h")  # (a redelivered copy is not a second event)
    at = cut[0] if cut is not None else None

    def beyond(t: pl.Expr) -> pl.Expr:
        return t >= at if at is not None else pl.lit(False)

    far_at = new_ids.filter(beyond(pl.col("created_date"))).select("_pos", "bucket")
    far_new = far_at.get_column("_pos")
    # (no copy of the id table when nothing is beyond the cut: it may hold 100M rows)
    live_new = new_ids.filter(~beyond(pl.col("created_date"))) if far_new.len() else new_ids
    hist = history.with_columns(
        _far=beyond(pl.col("created_date")),
        _h=pl.col("event_id").nchash.xxh3_64(),  # type: ignore[attr-defined]
    )
    # groups that can change: ids of new rows (found by hash first) and of copies whose
    # side of the cut moved
    if stored is None:
        moved_h = hist.filter(pl.col("_far") != (pl.col("status") == "held")).select("_h")
        every_h = hist.select("_h")
    else:
        keys = stored.lazy()
        moved_h = keys.filter(beyond(pl.col("created_date")) != pl.col("held")).select("_h")
        every_h = keys.select("_h")
    shared_h = every_h.join(live_new.lazy().select("_h"), on="_h", how="semi")
    moved, shared = pl.collect_all([moved_h.unique(), shared_h.unique()], engine="in-memory")
    hist_h = pl.concat([moved, shared], how="vertical").unique()
    new_dup_h = _repeated(live_new.get_column("_h"))
    touched = pl.concat([hist_h, new_dup_h], how="vertical").unique()
    cand = live_new.join(touched, on="_h", how="semi")
    cand_new = new_event_ids(cand.get_column("_pos")).join(
        cand.select("_pos", "_h", "created_date", "bucket"), on="_pos", how="inner"
    )
    # the ids whose stored copies are read whole: those of new rows that share a hash with
    # the store (their ids are at hand), and those of copies whose side of the cut moved
    # (rare: found by hash). A filter on the id is pushed into the scans, where a join
    # would decode every content column of the history.
    ids = cand_new.join(shared, on="_h", how="semi").get_column("event_id")
    if moved.height:
        ids = pl.concat(
            [
                ids,
                hist.select("event_id", "_h")
                .join(moved.lazy(), on="_h", how="semi")
                .select("event_id")
                .collect(engine="in-memory")
                .get_column("event_id"),
            ]
        )
    if rejudge is not None and rejudge.len():
        ids = pl.concat([ids, rejudge.cast(pl.String).rename(ids.name)])
    ids = ids.unique()
    cand_new = cand_new.drop("_h")
    if ids.len():
        found = history.filter(pl.col("event_id").is_in(ids.implode()))
    else:  # no new row shares an id with the store (the usual case): nothing to read
        found = pl.LazyFrame(schema=history.collect_schema())
    cand_hist = found.with_columns(_far=beyond(pl.col("created_date"))).collect(engine="in-memory")
    if "_hash" not in cand_hist.columns:
        cand_hist = cand_hist.with_columns(_hash=pl.lit(None, pl.UInt64))
    hashed = [c for c in CONTENT_COLUMNS if c in cand_hist.columns]
    stored_hash = (
        pl.coalesce(pl.col("_hash"), content_hash())
        if len(hashed) == len(CONTENT_COLUMNS)
        else pl.col("_hash")
    )
    copies = pl.concat(
        [
            cand_new.select(
                "event_id",
                "created_date",
                "_pos",
                "bucket",
                "customer_id",
                status=pl.lit("new"),
                origin=pl.lit("new"),
                _far=pl.lit(False),
                _hash=pl.lit(None, pl.UInt64),
            ),
            cand_hist.select(
                "event_id",
                "created_date",
                "_pos",
                "bucket",
                "customer_id",
                "status",
                origin=pl.lit("store"),
                _far="_far",
                _hash=stored_hash,
            ),
        ],
        how="vertical",
    )
    live = copies.filter(~pl.col("_far"))
    winners = (
        live.sort("event_id", "created_date", "_pos")
        .unique("event_id", keep="first", maintain_order=True)
        .select("_pos", _win=pl.lit(True))
    )
    judged = copies.join(winners, on="_pos", how="left").with_columns(
        new_status=pl.when(pl.col("_far"))
        .then(pl.lit("held"))
        .when(pl.col("_win").fill_null(False))
        .then(pl.lit("kept"))
        .otherwise(pl.lit("duplicate"))
    )
    new_dups = judged.filter((pl.col("origin") == "new") & (pl.col("new_status") == "duplicate"))
    changed = judged.filter(
        (pl.col("origin") == "store") & (pl.col("status") != pl.col("new_status"))
    ).select(*COPY_SCHEMA.keys(), "new_status")
    multi = live.filter(pl.col("event_id").is_duplicated()).select("_pos")
    grouped = judged.join(multi, on="_pos", how="semi")
    groups = grouped.select(
        "event_id", "created_date", "_pos", "bucket", "customer_id", "new_status", "_hash"
    )
    became_dups = changed.filter(pl.col("new_status") == "duplicate").height
    # (a row beyond the cut is no candidate: the two sets are apart)
    dropped = pl.concat(
        [
            new_dups.select("_pos", "bucket", far=pl.lit(False)),
            far_at.with_columns(far=pl.lit(True)),
        ],
        how="vertical",
    ).sort("_pos")
    return Decisions(
        cut=cut,
        dropped=dropped,
        changed=changed,
        groups=groups,
        hash_new=grouped.filter(pl.col("origin") == "new").select("_pos", "bucket"),
        judged_ids=copies.get_column("event_id").unique(),
        duplicates=new_dups.height + became_dups,
    )


def _repeated(hashes: pl.Series) -> pl.DataFrame:
    """The hashes that occur more than once (`_h`), by sorting: a sorted copy of the column
    costs 8 bytes a row, where a hash table over 100M distinct values costs several GB."""
    s = hashes.sort()
    return s.filter(s == s.shift(1)).unique().to_frame("_h")


__all__ = ["CONTENT_COLUMNS", "COPY_SCHEMA", "Decisions", "content_hash", "decide"]
