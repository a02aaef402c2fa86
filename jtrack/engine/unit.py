"""One work unit: the visitors of a range of buckets that a run touches, sessionized again.

`run_unit(job, rows)` is what every engine calls per unit (the local engine in a loop, the
Spark engine in a task): the unit's new rows plus the index rows of the touched visitors'
history go through the sessionizer kernel; contacts are resolved; only the rows that differ
from the store's are written, as new parts in the version being built; the rows that changed
are reported so the driver rewrites the parts that held them. A UnitJob holds only paths and
small frames, so it can be shipped to another process. Imports Polars only; never prints.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from jtrack.core.contacts import CONTACT_COLUMNS
from jtrack.core.sessionize import (
    CONTEXT_COLUMNS,
    POINTERS,
    KernelOutput,
    attach_context,
    in_app_stream,
    in_custom_stream,
    kernel,
    locate,
)
from jtrack.engine.decide import content_hash
from jtrack.options import SessionizeOptions
from jtrack.read import SRC_LINE
from jtrack.schema import ACTIVITY_KINDS, INDEX_SCHEMA, KERNEL_COLUMNS, KIND_APP, WEB_KINDS
from jtrack.store.manifest import Manifest, PartInfo
from jtrack.store.snapshot import STORED_SESSION_SCHEMA, Snapshot
from jtrack.store.writer import write_store_part

_INDEX_KEYS = ["segment", "row", "session_id", "session_type"]
KERNEL_ROW = [*KERNEL_COLUMNS, "_pos", "bucket"]


@dataclass
class UnitJob:
    """Everything a unit needs besides its new rows (picklable)."""

    unit: int
    lo: int  # first bucket
    hi: int  # last bucket
    run: int
    out_dir: str  # the version being written
    base_dir: str | None  # the current version's directory (None: a new store)
    base_manifest: Manifest | None
    session: SessionizeOptions
    everyone: bool  # every visitor of the unit is touched (a rebuild, a new contacts book)
    drop: pl.Series  # positions of the unit's new rows left out (duplicates, far-future)
    far: pl.Series  # positions of the unit's new rows beyond the far-future cut
    changed: pl.DataFrame  # the store's copies (of this unit) whose judgement changed
    hash_new: pl.Series  # positions of new rows whose contents are hashed (Decisions)
    book: pl.DataFrame | None
    default_region: str | None
    #: the user-agent lists changed: every session's traffic class is worked out again
    reclassify: bool = False

    def base(self) -> Snapshot | None:
        if self.base_dir is None or self.base_manifest is None:
            return None
        return Snapshot.at(Path(self.base_dir), self.base_manifest)


@dataclass
class UnitResult:
    """What units wrote and what the driver must do about the rows that changed."""

    index_parts: list[PartInfo] = field(default_factory=list)
    session_parts: list[PartInfo] = field(default_factory=list)
    removed_index: list[pl.DataFrame] = field(default_factory=list)  # _part, segment, row
    removed_sessions: list[pl.DataFrame] = field(default_factory=list)  # _part, id
    held: list[pl.DataFrame] = field(default_factory=list)  # rows held aside (far-future)
    #: the content hashes of the new rows of job.hash_new (_pos, _hash)
    hashes: list[pl.DataFrame] = field(default_factory=list)
    touched: int = 0
    #: sessions by id: new ids, ids whose row changed, ids gone (merged into another, or
    #: begun by another event now); the store's others are as they were (see the run's
    #: record)
    sessions_added: int = 0
    sessions_changed: int = 0
    sessions_removed: int = 0
    #: those sessions by id (`id`, `change`: added, changed, removed), for readers that load
    #: the session table incrementally (the version's session_changes.parquet)
    session_changes: list[pl.DataFrame] = field(default_factory=list)
    #: of the changed, those whose row differs in visit_number alone (an earlier session
    #: of the visitor came in late: every later one is numbered again)
    sessions_renumbered: int = 0
    #: visitors with sessions, and per contact state, after the unit less before it (the
    #: store's totals are kept from them: only the touched visitors' sessions change)
    visitors_delta: int = 0
    states_delta: dict[str, int] = field(default_factory=dict)

    def merge(self, other: UnitResult) -> None:
        self.index_parts += other.index_parts
        self.session_parts += other.session_parts
        self.removed_index += other.removed_index
        self.removed_sessions += other.removed_sessions
        self.held += other.held
        self.hashes += other.hashes
        self.touched += other.touched
        self.sessions_added += other.sessions_added
        self.sessions_changed += other.sessions_changed
        self.sessions_renumbered += other.sessions_renumbered
        self.sessions_removed += other.sessions_removed
        self.session_changes += other.session_changes
        self.visitors_delta += other.visitors_delta
        for state, n in other.states_delta.items():
            self.states_delta[state] = self.states_delta.get(state, 0) + n


def _changes(
    added: pl.DataFrame, removed: pl.DataFrame, index_touched: pl.Series | None = None
) -> pl.DataFrame:
    """The ids of the session rows written (`added`) and of the stored rows they replace or
    that went (`removed`), each once, with its `change`: added (a new id), changed (written
    again under its id), removed; and, as changed, the sessions kept as they were whose
    index rows were written again (`index_touched`: a redelivered copy of one of their
    events kept in place of the stored one), so a reader's copy of the index follows."""
    new = added.select(pl.col("id").cast(pl.String), _new=pl.lit(True))
    if not removed.height:  # (no stored session of these visitors: every one is new)
        out = new.select("id", change=pl.lit("added"))
    else:
        old = removed.select(pl.col("id").cast(pl.String)).unique().with_columns(_old=pl.lit(True))
        both = new.join(old, on="id", how="full", coalesce=True)
        out = both.select(
            "id",
            change=pl.when(pl.col("_new") & pl.col("_old"))
            .then(pl.lit("changed"))
            .when(pl.col("_new"))
            .then(pl.lit("added"))
            .otherwise(pl.lit("removed")),
        )
    if index_touched is None or not index_touched.len():
        return out
    only_index = (
        index_touched.cast(pl.String)
        .drop_nulls()
        .unique()
        .to_frame("id")
        .join(out, on="id", how="anti")
        .with_columns(change=pl.lit("changed"))
    )
    return pl.concat([out, only_index.sort("id")])


def pos_expr() -> pl.Expr:
    """`_pos` (segment << 32 | row) from an index row's `segment` and `row`."""
    seg = pl.col("segment").cast(pl.UInt64) * (1 << 32)
    return (seg + pl.col("row").cast(pl.UInt64)).alias("_pos")


def split_pos(col: str = "_pos") -> list[pl.Expr]:
    """`segment` and `row` of a `_pos`."""
    return [
        (pl.col(col) // (1 << 32)).cast(pl.UInt32).alias("segment"),
        (pl.col(col) % (1 << 32)).cast(pl.UInt32).alias("row"),
    ]


#: a unit's new sessions, this many or more, are written as two parts: the sessions still
#: open (ending within a gap of the unit's latest, and custom ones) in a small part of their
#: own. The next run's events change those: it rewrites that part, not one of every session.
OPEN_SPLIT_MIN = 4096


def _by_openness(sessions: pl.DataFrame, gap: timedelta) -> list[tuple[str, pl.DataFrame]]:
    """A unit's new sessions as parts: ("", all), or ("", closed) and ("-open", open) when
    there are enough of them and the open ones are at most a quarter."""
    if sessions.height < OPEN_SPLIT_MIN:
        return [("", sessions)] if sessions.height else []
    edge = sessions.get_column("ended_date").max()
    # (a custom session is its whole stream, whatever the gaps: it stays open)
    custom = ~pl.col("type").is_in(["web", "app"])
    is_open = ((pl.col("ended_date") >= edge - gap) | custom).fill_null(False)  # type: ignore[operator]
    open_ = sessions.filter(is_open)
    if open_.height == 0 or open_.height * 4 > sessions.height:
        return [("", sessions)]
    return [("", sessions.filter(~is_open)), ("-open", open_)]


def part_name(run: int, unit: int) -> str:
    """The file name of a unit's part (the same in the index and the session table)."""
    return f"p{run:06d}-u{unit:04d}.parquet"


def same_rows(new: pl.DataFrame, old: pl.DataFrame, key: str = "id") -> pl.Series:
    """The `key`s whose row in `new` equals, column by column (nulls equal, lists too),
    the row with the same key in `old`; the key is unique in each frame."""
    cols = [c for c in new.columns if c != key]
    both = new.join(old.select(new.columns), on=key, how="inner", suffix="_old")
    if both.height == 0:
        return pl.Series(key, [], dtype=new.schema[key])
    equal = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in cols])
    return both.filter(equal).get_column(key)


def rows_of(pos: pl.Series, wanted: pl.Series) -> pl.Series:
    """The row numbers of `pos` (unique `_pos` values) whose value is in `wanted` (sorted,
    unique). Rows in input order have sorted positions: the wanted ones in their range are
    found by binary search, with no hash set of every wanted position (built for each
    64k-row batch of staged rows, that took 3.4 s of a 10M-event run)."""
    if pos.len() == 0 or wanted.len() == 0:
        return pl.Series(dtype=pl.UInt32)
    pos = pos.cast(pl.UInt64)
    if not pos.is_sorted():
        return pos.is_in(wanted.implode()).arg_true()
    lo = int(wanted.search_sorted(pos[0], side="left"))
    hi = int(wanted.search_sorted(pos[-1], side="right"))
    candidates = wanted.slice(lo, hi - lo)
    if candidates.len() == 0:
        return pl.Series(dtype=pl.UInt32)
    at = pos.search_sorted(candidates, side="left")
    found = pos.gather(at.clip(0, pos.len() - 1)) == candidates
    return at.filter(found).cast(pl.UInt32)


def _kept_rows(rows: pl.DataFrame, drop: pl.Series) -> pl.DataFrame:
    """`rows` but those whose `_pos` is in `drop`, in one piece per column. Empties `rows`, a
    few columns at a time: each is given up as soon as it is copied, so the unit's wide rows
    are never held twice. (Rows read in chunks would otherwise stay in pieces, and sorting
    or gathering from pieces is slower and takes twice the memory.)"""
    keep = ~rows.get_column("_pos").is_in(drop.implode()) if drop.len() else None
    if keep is None and max(rows.n_chunks("all"), default=1) == 1:
        return rows
    pieces = []
    names = rows.columns
    for i in range(0, len(names), 8):
        taken = pl.DataFrame([rows.drop_in_place(c) for c in names[i : i + 8]]).rechunk()
        pieces.append(taken.filter(keep) if keep is not None else taken)
        del taken
    return pl.concat(pieces, how="horizontal")


def run_unit(job: UnitJob, rows: pl.DataFrame) -> UnitResult:
    """Sessionize again the visitors of buckets lo..hi that the run touches; `rows` are the
    unit's new accepted rows (kernel and context columns, `_pos`, `bucket`, `_line`), given
    up to it (it empties the frame)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jtrack-part") as pool:
        return _run_unit(job, rows, pool)


def _run_unit(job: UnitJob, rows: pl.DataFrame, pool: ThreadPoolExecutor) -> UnitResult:
    res = UnitResult()
    snap = job.base()
    if job.hash_new.len():  # copies of a redelivered event: their contents, hashed here
        res.hashes.append(  # (lazy: only the content columns are filtered)
            rows.lazy()
            .filter(pl.col("_pos").is_in(job.hash_new.implode()))
            .select("_pos", content_hash())
            .collect(engine="in-memory")
        )
    if job.far.len():
        far = rows.filter(pl.col("_pos").is_in(job.far.implode()))
        if far.height:
            res.held.append(far.select(*KERNEL_ROW, SRC_LINE))
    new_kept = _kept_rows(rows, job.drop)
    del rows
    changed = job.changed.filter(pl.col("bucket").is_between(job.lo, job.hi))
    touched = pl.concat(
        [new_kept.select("customer_id"), changed.select("customer_id")], how="vertical"
    ).unique()
    read_history = snap is not None and (job.everyone or touched.height > 0)
    who = None if job.everyone else touched.get_column("customer_id")
    # the sessions' search terms (a list: Polars would decode every row of the parts) are
    # read for the few rows compared whole or written again, unless a contacts book may
    # change every one
    lazy_terms = job.book is None
    if read_history:
        assert snap is not None
        old_sess = snap.visitor_rows(
            "sessions",
            job.lo,
            job.hi,
            who,
            skip=("search_terms",) if lazy_terms else (),
            positions=lazy_terms,
        )
    else:
        old_sess = pl.DataFrame(schema={**STORED_SESSION_SCHEMA, "_part": pl.String()})
    # the touched visitors' sessions that nothing of this run can change stay out of the kernel
    settled, last = _settled_sessions(job, old_sess, new_kept, changed)
    not_settled = ~pl.col("session_id").is_in(settled.get_column("id").implode()).fill_null(False)
    # their index rows are not even read, unless a contacts book resolves visitors on all
    # their events
    pruned = settled.height > 0 and job.book is None
    # and their traits only for a contacts book: the few stored rows written again or held
    # aside take theirs from the segments (a nested column would make Polars decode every
    # row of the parts, not the visitors' only)
    lazy_traits = job.book is None
    if read_history:
        assert snap is not None
        old_idx = snap.visitor_rows(
            "index",
            job.lo,
            job.hi,
            who,
            keep=not_settled if pruned else None,
            skip=("traits",) if lazy_traits else (),
        )
    else:
        old_idx = pl.DataFrame(schema={**INDEX_SCHEMA, "_part": pl.String()})
    if "traits" not in old_idx.columns:
        old_idx = old_idx.with_columns(pl.lit(None, INDEX_SCHEMA["traits"]).alias("traits"))
    if job.everyone:
        touched = pl.concat([touched, old_idx.select("customer_id")], how="vertical").unique()
    res.touched = touched.height
    old_rows = old_idx.with_columns(pos_expr())
    leaving = changed.filter(pl.col("new_status") != "kept").get_column("_pos")
    stay = old_rows.filter(~pl.col("_pos").is_in(leaving.implode())) if leaving.len() else old_rows
    going_held = changed.filter(pl.col("new_status") == "held")
    if going_held.height:
        back = old_rows.join(going_held.select("_pos"), on="_pos", how="semi")
        assert snap is not None
        if lazy_traits:
            back = _with_stored_traits(snap, back)
        back = back.select(KERNEL_ROW)
        # (a duplicate copy now beyond the cut is in no index part: its row is read from
        # its segment, as a rebuild holds it aside)
        dropped = going_held.filter(pl.col("status") == "duplicate")
        if dropped.height:
            more = _returning_rows(snap, dropped).select(KERNEL_ROW)
            back = pl.concat([back, more], how="vertical_relaxed")
        lines = snap.input_lines(back.get_column("_pos"))
        res.held.append(back.with_columns(lines.alias(SRC_LINE)))
    returning = changed.filter((pl.col("new_status") == "kept") & (pl.col("status") != "kept"))
    back_rows = _returning_rows(snap, returning).select(KERNEL_ROW)
    if settled.height and not pruned:
        in_kernel = stay.filter(not_settled)
        old_idx = old_idx.filter(not_settled)
    else:
        in_kernel = stay
    last = _settled_last(last, old_idx)
    if last.height:  # settled too: out of the kernel, their rows left as they are
        settled = pl.concat([settled, last], how="vertical")
        not_last = ~pl.col("session_id").is_in(last.get_column("id").implode()).fill_null(False)
        in_kernel = in_kernel.filter(not_last)
        old_idx = old_idx.filter(not_last)
    kernel_in = pl.concat(
        [in_kernel.select(KERNEL_ROW), back_rows, new_kept.select(KERNEL_ROW)],
        how="vertical_relaxed",
    )
    out = kernel(kernel_in, job.session)  # (rows validated as read)
    # (no session field but its id and type: a session that grows or changes class leaves
    # the index rows of its earlier events as they are)
    index = out.index.with_columns(split_pos()).select(list(INDEX_SCHEMA))
    # only what differs from the store is written
    if old_idx.height:
        added_idx = index.join(
            old_idx, on=_INDEX_KEYS, how="anti", nulls_equal=True, maintain_order="left"
        )
        removed_idx = old_idx.join(index, on=_INDEX_KEYS, how="anti", nulls_equal=True)
        if lazy_traits and added_idx.height:
            assert snap is not None
            added_idx = _with_stored_traits(snap, added_idx, old_idx)
    else:
        added_idx, removed_idx = index, old_idx
    del index
    name = part_name(job.run, job.unit)
    # written while the sessions are built
    index_part = (
        pool.submit(_write_part, job, "index", name, added_idx) if added_idx.height else None
    )
    if settled.height:  # visits are numbered after the settled sessions, which come first
        visits = settled.join(old_sess.select("id", "type"), on="id", how="left").filter(
            pl.col("type") == "web"  # (web sessions are the visits)
        )
        out.sessions = (
            out.sessions.join(
                visits.group_by("customer_id").agg(_earlier=pl.len().cast(pl.UInt32)),
                on="customer_id",
                how="left",
                maintain_order="left",
            )
            .with_columns(pl.col("visit_number") + pl.col("_earlier").fill_null(0))
            .drop("_earlier")
        )
    # sessions whose kernel rows did not change keep their stored row (contacts aside)
    if old_sess.height and not job.reclassify:
        same = _unchanged_sessions(out, old_sess, new_kept, returning)
    else:
        same = pl.Series("id", [], dtype=pl.String)
    fresh = out.sessions.filter(~pl.col("id").is_in(same.implode()))
    if read_history or back_rows.height:
        built = attach_context(fresh, _context_rows(snap, fresh, new_kept))
    else:  # every row the kernel saw is a new kept row: the sessions point at them only
        built = attach_context(fresh, new_kept.select("_pos", *CONTEXT_COLUMNS))
    kept_ids = pl.concat([same, settled.get_column("id")]).implode()
    kept_rows = _stored_rows(old_sess.filter(pl.col("id").is_in(kept_ids)))
    sessions = pl.concat([kept_rows, built], how="vertical_relaxed")
    if job.book is not None and settled.height:  # a visitor is resolved on all their events
        kernel_in = pl.concat(
            [stay.select(KERNEL_ROW), back_rows, new_kept.select(KERNEL_ROW)],
            how="vertical_relaxed",
        )
    sessions = _with_contacts(job, sessions, kernel_in)
    if kept_rows.height:  # stored rows among the kernel's: in the store's order again
        sessions = (
            sessions.with_columns(_h=pl.col("customer_id").nchash.xxh3_64())  # type: ignore[attr-defined]
            .sort("bucket", "_h", "customer_id", "created_date", "id")
            .drop("_h")
        )
    # (else the kernel's order is the store's: bucket, visitor hash, visitor, start, id)
    res.visitors_delta, res.states_delta = _visitor_delta(old_sess, sessions)
    if old_sess.height:
        # the rows kept are the stored ones but for their contacts: only those are compared
        stored = _stored_rows(old_sess)
        was_kept = pl.col("id").is_in(kept_ids)
        contact = ["id", *CONTACT_COLUMNS]
        kept_same = same_rows(sessions.filter(was_kept).select(contact), stored.select(contact))
        if "search_terms" not in old_sess.columns:
            assert snap is not None
            # (those of every stored row not kept as it is: compared whole, or written
            # again, or gone)
            need = old_sess.filter(~pl.col("id").is_in(kept_same.implode()))
            terms = snap.part_values("sessions", need, ["search_terms"]).select(
                need.get_column("id"), pl.col("search_terms").alias("_terms")
            )
            stored = _with_terms(_stored_rows(need), terms, pl.lit(True))
            if kept_same.len() < kept_rows.height:  # stored rows written again
                sessions = _with_terms(sessions, terms, was_kept)
        kept = pl.concat([kept_same, same_rows(sessions.filter(~was_kept), stored)]).implode()
        added_sess = sessions.filter(~pl.col("id").is_in(kept))
        removed_sess = old_sess.filter(~pl.col("id").is_in(kept))
        # (rows written again that differ from the stored ones in their visit number alone)
        again = added_sess.join(removed_sess.select("id").unique(), on="id", how="semi")
        if again.height and "visit_number" in again.columns:
            res.sessions_renumbered = same_rows(
                again.drop("visit_number"), stored.drop("visit_number", strict=False)
            ).len()
    else:  # nothing stored for these visitors: every session is new
        added_sess, removed_sess = sessions, old_sess
    # (a row written again under the id it had is a session changed, not one added and one
    # removed)
    rewritten = added_sess.join(removed_sess.select("id").unique(), on="id", how="semi").height
    res.sessions_added = added_sess.height - rewritten
    res.sessions_changed = rewritten
    res.sessions_removed = removed_sess.select(pl.col("id").n_unique()).item() - rewritten
    # (the sessions whose events' index rows were written or went: a session kept as it
    # was may have them, when a redelivered copy of its event took the stored one's place)
    # (an event no session row counts, a system event, adds an index row alone)
    of_index = pl.concat([added_idx.get_column("session_id"), removed_idx.get_column("session_id")])
    if job.base_dir is not None and (added_sess.height or removed_sess.height or of_index.len()):
        res.session_changes.append(_changes(added_sess, removed_sess, of_index))  # (a first
        # build: none)
    try:
        for suffix, part in _by_openness(added_sess, job.session.gap):
            name_ = name.replace(".parquet", f"{suffix}.parquet")
            res.session_parts.append(_write_part(job, "sessions", name_, part))
    except BaseException:
        if index_part is not None:  # (started first: its failure is the one reported)
            index_part.result()
        raise
    if index_part is not None:  # (written while the sessions were built and written)
        res.index_parts.append(index_part.result())
    if removed_idx.height:
        res.removed_index.append(removed_idx.select("_part", "segment", "row"))
    if removed_sess.height:
        res.removed_sessions.append(removed_sess.select("_part", "id"))
    return res


def _settled_sessions(
    job: UnitJob, old_sess: pl.DataFrame, new_rows: pl.DataFrame, changed: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The touched visitors' stored sessions (id, customer_id) that this run cannot change,
    left out of the kernel with their rows: a visitor's web or app sessions that end more
    than a gap before the earliest of the visitor's rows the run adds, takes back or drops
    (time T), and are not the last of their stream to start before T (a new system event
    joins the session open at its time, and one whose sessions from T on are gone joins
    that last one). They must all start before every session the kernel
    sees (custom sessions, which any event may extend, included), so that visits are
    numbered after them. Runs that work out every session again, and options under which
    a session depends on the ones before it (a campaign change, a longest duration), keep
    every session in the kernel.

    And those last sessions of their stream that are settled too if none of their stored
    rows comes at or after `_a` (see _settled_last): the ones that no moved row of their
    stream can join, because the stream's earliest new activity (at `_a`, which opens a new
    session, a gap after theirs) comes before every new system row of the stream and every
    copy taken back or dropped (of any stream), and that start before every session the
    kernel sees but the other such last sessions of their visitor."""
    none = pl.DataFrame(schema={"id": pl.String(), "customer_id": pl.String()})
    no_last = pl.DataFrame(schema={**none.schema, "_a": new_rows.schema["created_date"]})
    opts = job.session
    if (
        old_sess.height == 0
        or job.everyone
        or job.reclassify
        or opts.split_on_campaign_change
        or opts.max_duration is not None
    ):
        return none, no_last
    # per visitor: the earliest row moved (T), and of their own streams (not a custom
    # session's) the earliest new web activity, web system event, app activity and app
    # system event (one naming an app session)
    kind, at = pl.col("kind"), pl.col("created_date")
    marks = new_rows.select(
        "customer_id",
        "created_date",
        _own=~in_custom_stream(),
        _web=kind.is_in(list(WEB_KINDS)),
        _sys=~kind.is_in(list(ACTIVITY_KINDS)).fill_null(True),
        _app=kind == KIND_APP,
        _in_app=in_app_stream(),
    )
    own, sys_, in_app = pl.col("_own"), pl.col("_sys"), pl.col("_in_app")
    per = marks.group_by("customer_id").agg(
        _t=at.min(),
        _a_web=at.filter(own & pl.col("_web")).min(),
        _y_web=at.filter(own & sys_ & ~in_app).min(),
        _a_app=at.filter(own & pl.col("_app")).min(),
        _y_app=at.filter(own & sys_ & in_app).min(),
    )
    taken = changed.group_by("customer_id").agg(_yc=at.min())
    first = per.join(taken, on="customer_id", how="full", coalesce=True).with_columns(
        _t=pl.min_horizontal("_t", "_yc")
    )
    s = old_sess.select("id", "customer_id", "type", "created_date", "ended_date").join(
        first, on="customer_id", how="inner"
    )
    stream = pl.col("type").is_in(["web", "app"])
    # (before T: a session that starts at T may be one whose first row the run drops, and
    # then the system events after it join the session before it)
    last = (
        s.filter(stream & (pl.col("created_date") < pl.col("_t")))
        .group_by("customer_id", "type")
        .agg(_last=pl.col("created_date").max())
    )
    s = s.join(last, on=["customer_id", "type"], how="left")
    can = (
        stream
        & (pl.col("ended_date") < pl.col("_t") - opts.gap)
        & (pl.col("created_date") < pl.col("_last"))
    ).fill_null(False)
    s = s.with_columns(_can=can)
    kept_from = (
        s.filter(~pl.col("_can")).group_by("customer_id").agg(_k=pl.col("created_date").min())
    )
    s = s.join(kept_from, on="customer_id", how="left")
    settled = pl.col("_can") & (pl.col("created_date") < pl.col("_k")).fill_null(False)
    # the last sessions of their stream that no moved row can join
    app = pl.col("type") == "app"
    a = pl.when(app).then(pl.col("_a_app")).otherwise(pl.col("_a_web"))
    y = pl.min_horizontal(
        pl.when(app).then(pl.col("_y_app")).otherwise(pl.col("_y_web")), pl.col("_yc")
    )
    s = s.with_columns(
        _a=a,
        _last_ok=(
            ~settled
            & stream
            & (pl.col("ended_date") < pl.col("_t") - opts.gap)
            & (pl.col("created_date") == pl.col("_last"))
            & (y.is_null() | (y >= a))
        ).fill_null(False),
    )
    rest = s.filter(~settled & ~pl.col("_last_ok"))
    first_rest = rest.group_by("customer_id").agg(_k2=pl.col("created_date").min())
    last = (
        s.filter(pl.col("_last_ok"))
        .join(first_rest, on="customer_id", how="left")
        .filter((pl.col("created_date") < pl.col("_k2")).fill_null(True))
        .select("id", "customer_id", "_a")
    )
    return s.filter(settled).select("id", "customer_id"), last


def _settled_last(last: pl.DataFrame, old_idx: pl.DataFrame) -> pl.DataFrame:
    """Of the `last` sessions (see _settled_sessions), those settled: none of their stored
    rows (system events join a session whatever the gap) comes at or after `_a`, where a
    new session opens that would take them; all of a visitor's or none (they are settled
    only if they start before every session the kernel sees)."""
    if last.height == 0:
        return last.select("id", "customer_id")
    ends = (
        old_idx.join(last.select("id"), left_on="session_id", right_on="id", how="semi")
        .group_by("session_id")
        .agg(_end=pl.col("created_date").max())
    )
    judged = last.join(ends, left_on="id", right_on="session_id", how="left").with_columns(
        _ok=(pl.col("_a").is_null() | (pl.col("_end") < pl.col("_a"))).fill_null(False)
    )
    return judged.filter(pl.col("_ok").all().over("customer_id")).select("id", "customer_id")


def _unchanged_sessions(
    out: KernelOutput, old_sess: pl.DataFrame, new_rows: pl.DataFrame, returning: pl.DataFrame
) -> pl.Series:
    """Ids of the kernel's sessions that equal their stored row, found without computing
    the stored sessions again: the stored row is the kernel's output over the stored rows
    plus context, so its kernel columns are compared. A session holding a new row, or a
    copy taken back, is never the same; every other session's rows were all stored, at the
    same positions, so equal counts, ends and ids mean the same rows and the same pointers
    (sessions of one stream never interleave in time) and its context is the stored one."""
    moved = pl.concat([new_rows.get_column("_pos"), returning.get_column("_pos")])
    dirty = (
        out.index.filter(pl.col("_pos").is_in(moved.implode()))
        .get_column("session_id")
        .drop_nulls()
        .unique()
    )
    compared = [c for c in out.sessions.columns if c in old_sess.columns]
    candidates = out.sessions.filter(~pl.col("id").is_in(dirty.implode())).select(compared)
    return same_rows(candidates, old_sess.select(compared))


def visitor_states(sessions: pl.DataFrame | pl.LazyFrame) -> dict[str, int]:
    """Visitors of a session table per contact state (a visitor's, on each of their
    sessions); the values sum to the visitors."""
    per = (
        sessions.lazy()
        .group_by("customer_id")
        .agg(pl.col("contact_state").first())
        .collect(engine="in-memory")
    )
    return _state_counts(per.get_column("contact_state"))


def _ordered_visitor_states(sessions: pl.DataFrame) -> dict[str, int]:
    """visitor_states of sessions in store order (a visitor's sessions next to each other):
    each visitor's first row, no hash grouping."""
    cid = sessions.get_column("customer_id")
    return _state_counts(sessions.get_column("contact_state").filter(cid.ne_missing(cid.shift(1))))


def _state_counts(states: pl.Series) -> dict[str, int]:
    """Visitors per contact state, one state a visitor."""
    return {str(k): int(n) for k, n in states.value_counts().iter_rows()}


def _visitor_delta(before: pl.DataFrame, after: pl.DataFrame) -> tuple[int, dict[str, int]]:
    """Visitors with sessions, and per contact state, in `after` less in `before`."""
    b, a = visitor_states(before), _ordered_visitor_states(after)
    delta = {k: a.get(k, 0) - b.get(k, 0) for k in sorted(set(a) | set(b))}
    return sum(a.values()) - sum(b.values()), {k: n for k, n in delta.items() if n}


def _write_part(job: UnitJob, table: str, name: str, frame: pl.DataFrame) -> PartInfo:
    return write_store_part(Path(job.out_dir), table, name, frame, job.run)


def _returning_rows(snap: Snapshot | None, returning: pl.DataFrame) -> pl.DataFrame:
    """Kernel rows of copies the store held aside or dropped that are kept again."""
    if returning.height == 0 or snap is None:
        return pl.DataFrame(
            schema={
                **{c: INDEX_SCHEMA[c] for c in KERNEL_COLUMNS},
                "_pos": pl.UInt64(),
                "bucket": pl.UInt16(),
            }
        )
    frames = []
    held = snap.held()
    from_held = returning.filter(pl.col("status") == "held")
    if from_held.height and held is not None:
        frames.append(held.join(from_held.select("_pos"), on="_pos", how="semi").select(KERNEL_ROW))
    others = returning.filter(pl.col("status") != "held")
    if others.height:
        wide = snap.wide_rows(others.select(split_pos()), KERNEL_COLUMNS)
        frames.append(
            wide.with_columns(pos_expr())
            .join(others.select("_pos", "bucket"), on="_pos", how="left")
            .select(KERNEL_ROW)
        )
    return pl.concat(frames, how="vertical_relaxed")


def _stored_rows(sessions: pl.DataFrame) -> pl.DataFrame:
    """Stored session rows as STORED_SESSION_SCHEMA (search terms null when not read)."""
    return sessions.select(
        pl.col(c) if c in sessions.columns else pl.lit(None, t).alias(c)
        for c, t in STORED_SESSION_SCHEMA.items()
    )


def _with_terms(sessions: pl.DataFrame, terms: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    """`sessions` with the stored search terms `terms` (id, _terms) on the rows `where`
    is true for and `terms` has."""
    return (
        sessions.join(terms, on="id", how="left", maintain_order="left")
        .with_columns(
            pl.when(where & pl.col("id").is_in(terms.get_column("id").implode()))
            .then(pl.col("_terms"))
            .otherwise(pl.col("search_terms"))
            .alias("search_terms")
        )
        .drop("_terms")
    )


def _with_stored_traits(
    snap: Snapshot, rows: pl.DataFrame, stored: pl.DataFrame | None = None
) -> pl.DataFrame:
    """`rows` (with segment and row) whose stored rows were read without their traits
    (those of `stored`; every row when None) with the traits from the segments."""
    old = rows.select("segment", "row")
    if stored is not None:
        old = old.join(stored.select("segment", "row"), on=["segment", "row"], how="semi")
    old = old.unique()
    if old.height == 0:
        return rows
    traits = snap.wide_rows(old, ["traits"]).rename({"traits": "_traits"})
    return (
        rows.join(traits, on=["segment", "row"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("_traits", "traits").alias("traits"))
        .drop("_traits")
    )


def _context_rows(
    snap: Snapshot | None, sessions: pl.DataFrame, new_rows: pl.DataFrame
) -> pl.DataFrame:
    """CONTEXT_COLUMNS of every event the sessions point at, with `_pos`: from the new rows,
    else from the store's segments (by position)."""
    wanted = pl.concat([sessions.get_column(p) for p in POINTERS]).drop_nulls().unique()
    cols = ["_pos", *CONTEXT_COLUMNS]
    new_pos = new_rows.get_column("_pos")
    # rows in input order that hold every event the sessions point at: the sessions take
    # their context from them as they are
    if new_pos.is_sorted() and locate(new_pos, wanted).null_count() == 0:
        return new_rows.select(cols)
    here = new_rows.filter(pl.col("_pos").is_in(wanted.implode())).select(cols)
    missing = wanted.filter(~wanted.is_in(here.get_column("_pos").implode()))
    if missing.len() == 0 or snap is None:
        return here
    positions = pl.DataFrame({"_pos": missing}).select(split_pos())
    old = snap.wide_rows(positions, CONTEXT_COLUMNS).with_columns(pos_expr()).select(cols)
    return pl.concat([here, old], how="vertical_relaxed")


def _with_contacts(job: UnitJob, sessions: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """The contact columns of the sessions, resolved per visitor (no clock: see contacts)."""
    from jtrack.core.contacts import (
        STATE_TEMPORARY,
        TEMP_PREFIX,
        UNKNOWN,
        resolve_visitors,
        sessions_with_contacts,
    )

    if sessions.height == 0:
        return sessions
    if job.book is None:  # no contacts file: every visitor is a temporary contact
        return sessions.with_columns(
            contact_id=pl.lit(TEMP_PREFIX) + pl.col("customer_id"),
            contact_name=pl.lit(UNKNOWN),
            contact_state=pl.lit(STATE_TEMPORARY),
            match_method=pl.lit(None, pl.String),
        )
    resolution = resolve_visitors(
        sessions.select("customer_id", "created_date", "ended_date"),
        events,
        job.book,
        default_region=job.default_region,
    )
    out = sessions_with_contacts(sessions.drop("bucket"), resolution)
    return pl.concat([sessions.select("bucket"), out], how="horizontal").select(
        list(STORED_SESSION_SCHEMA)
    )


__all__ = [
    "KERNEL_ROW",
    "UnitJob",
    "UnitResult",
    "part_name",
    "pos_expr",
    "rows_of",
    "run_unit",
    "same_rows",
    "visitor_states",
]
