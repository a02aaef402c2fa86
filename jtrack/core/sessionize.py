"""Split each visitor's deduplicated events into sessions. Pure Polars.

The sessionizer is a pure function of one visitor's events: any partition of the input by
customer_id gives the same sessions and the same ids. Imports Polars only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash and .nchash namespaces)

from jtrack.options import SessionizeOptions
from jtrack.schema import (
    ACTIVITY_KINDS,
    KIND_APP,
    KIND_SEARCH,
    SESSION_SCHEMA,
)


def blake3_hex(key: pl.Expr) -> pl.Expr:
    """BLAKE3 of a string expression as 64 hex characters (stable across versions)."""
    return key.chash.blake3()  # type: ignore[attr-defined]


def _hex_id(key: pl.Expr) -> pl.Expr:
    """A stable, uuid-shaped id from a string key (the first 128 bits of its BLAKE3)."""
    return blake3_hex(key).str.replace(r"^(.{8})(.{4})(.{4})(.{4})(.{12}).*$", "$1-$2-$3-$4-$5")


def session_id_expr(customer: pl.Expr, first_event_id: pl.Expr) -> pl.Expr:
    """The deterministic session id: a hash of the visitor and the session's first event id."""
    return _hex_id(pl.concat_str([customer, first_event_id], separator="\x1f"))


def _is_custom() -> pl.Expr:
    t = pl.col("source_session_type")
    return (
        t.is_not_null()
        & ~t.str.to_lowercase().is_in(["web", "app"])
        & pl.col("source_session_id").is_not_null()
    )


def counts_as_activity() -> pl.Expr:
    """Rows that start or extend sessions: web and app activity, and every event of a custom
    session. The latest of them is the end of the data (the contacts' clock)."""
    return pl.col("kind").is_in(list(ACTIVITY_KINDS)) | _is_custom()


def _campaign_key() -> pl.Expr:
    """What identifies an arrival's source: UTM source/campaign, else an external referrer."""
    external_ref = pl.when(pl.col("referrer_medium").fill_null("") != "internal").then(
        pl.col("referrer_hostname")
    )
    return pl.concat_str(
        [pl.col("mkt_campaign_source"), pl.col("mkt_campaign_name"), external_ref],
        separator="|",
        ignore_nulls=True,
    ).replace("", None)


def _assign_gap_sessions(df: pl.DataFrame, opts: SessionizeOptions) -> pl.DataFrame:
    """Add `_sess` (a dense session number, nondecreasing in the sort order) to every row.

    Rows are sorted by visitor, stream, time, activity-before-system, event id. A stream is
    `web`, `app`, or one custom session (its type and id). System rows never start or extend
    a session: they join the session open at their time, or the visitor's first session.
    A custom session is its whole stream, whatever the gaps.
    """
    act = pl.col("_act")
    gap_split = ~pl.col("_custom")
    t = pl.col("created_date")
    cust_change = (
        (pl.col("_c") != pl.col("_c").shift(1))
        | (pl.col("_st") != pl.col("_st").shift(1))
        | (pl.col("_ck") != pl.col("_ck").shift(1)).fill_null(False)
    )
    df = df.with_columns(_g=cust_change.fill_null(True).cum_sum())
    prev_g = pl.when(act).then(pl.col("_g")).forward_fill().shift(1)
    prev_t = pl.when(act).then(t).forward_fill().shift(1)
    has_prev = (prev_g == pl.col("_g")).fill_null(False)
    new = act & (~has_prev | (gap_split & ((t - prev_t) >= opts.gap)))
    if opts.split_on_campaign_change:
        key = pl.when(act).then(_campaign_key())
        prev_key = key.forward_fill().shift(1)
        prev_key_g = pl.when(key.is_not_null()).then(pl.col("_g")).forward_fill().shift(1)
        same_g = (prev_key_g == pl.col("_g")).fill_null(False)
        changed = key.is_not_null() & same_g & (key != prev_key).fill_null(False)
        new = new | (act & gap_split & changed)
    df = df.with_columns(_new=new)
    if opts.max_duration is not None:
        # Cut runaway sessions into windows of max_duration aligned on the session's start.
        start = pl.when(pl.col("_new")).then(t).forward_fill()
        max_us = int(opts.max_duration.total_seconds() * 1_000_000)
        window = (t - start).dt.total_microseconds() // max_us
        df = df.with_columns(_w=pl.when(act & gap_split).then(window))
        prev_w = pl.col("_w").forward_fill().shift(1)
        sess0 = pl.col("_new").cum_sum()
        same_sess = (pl.when(act).then(sess0).forward_fill().shift(1) == sess0).fill_null(False)
        df = df.with_columns(
            _new=pl.col("_new") | (act & same_sess & (pl.col("_w") != prev_w).fill_null(False))
        ).drop("_w")
    sess = pl.col("_new").cast(pl.UInt32).cum_sum()
    # a system row with no earlier activity in its stream belongs to the next session, if any
    has_act_before = pl.when(act).then(pl.col("_g")).forward_fill() == pl.col("_g")
    has_act_after = pl.when(act).then(pl.col("_g")).backward_fill() == pl.col("_g")
    df = df.with_columns(
        _sess=pl.when(has_act_before.fill_null(False))
        .then(sess)
        .when(has_act_after.fill_null(False))
        .then(sess + 1)
        .otherwise(None)
    )
    return df.drop("_g", "_new")


def _session_aggs() -> list[pl.Expr]:
    """Aggregations over the narrow rows of one session (row indices point into the input)."""
    a = pl.col("_act")
    pv = a & (pl.col("event_name") == "page_viewed")
    search = a & (pl.col("kind") == KIND_SEARCH)
    idx = pl.col("_idx")
    return [
        pl.col("customer_id").first(),
        pl.col("_type").first().alias("type"),
        pl.col("created_date").filter(a).min().alias("created_date"),
        pl.col("created_date").filter(a).max().alias("ended_date"),
        a.sum().cast(pl.UInt32).alias("event_count"),
        pv.sum().cast(pl.UInt32).alias("pageview_count"),
        search.sum().cast(pl.UInt32).alias("search_count"),
        pl.col("search_query").filter(search).str.strip_chars().alias("search_terms"),
        pl.col("event_id").filter(a).first().alias("_first_event_id"),
        pl.col("event_id").filter(a).last().alias("last_event_id"),
        pl.col("event_name").filter(a).last().alias("last_event_name"),
        pl.col("authenticated").filter(a).any().alias("authenticated"),
        idx.filter(a).first().alias("_first_idx"),
        idx.filter(a).last().alias("_last_idx"),
        idx.filter(pv).first().alias("_first_pv_idx"),
        idx.filter(pv).last().alias("_last_pv_idx"),
    ]


#: Session columns taken from the session's first activity event (else its last).
_FROM_FIRST_EVENT = (
    "customer_id_type",
    "source_session_id",
    "referrer_url",
    "referrer_hostname",
    "referrer_name",
    "referrer_medium",
    "mkt_campaign_source",
    "mkt_campaign_medium",
    "mkt_campaign_name",
    "mkt_campaign_term",
    "mkt_campaign_content",
)
_VISITOR_CONTEXT = (
    "device_category",
    "device_type",
    "device_os_family",
    "device_os_version",
    "browser_family",
    "browser_version",
    "browser_lang",
    "geolocation_country",
    "geolocation_country_name",
    "geolocation_region_name",
    "geolocation_locality",
    "geolocation_timezone",
    "ip_address",
    "ip_organization",
    "user_agent_string",
)
_NARROW = (
    "customer_id",
    "created_date",
    "event_id",
    "kind",
    "event_name",
    "search_query",
    "source_session_type",
    "source_session_id",
    "authenticated",
)
_CAMPAIGN = ("mkt_campaign_source", "mkt_campaign_name", "referrer_hostname", "referrer_medium")


@dataclass
class Sessionized:
    """Events with `session_id` and `session_type`, and the session table."""

    events: pl.DataFrame
    sessions: pl.DataFrame

    @property
    def unattached(self) -> int:
        """System events of visitors with no activity: kept, but in no session."""
        return int(self.events["session_id"].null_count())


def sessionize(
    events: pl.DataFrame,
    options: SessionizeOptions | None = None,
    keep: pl.Series | None = None,
) -> Sessionized:
    """Split deduplicated canonical events into sessions.

    Web and app activity of each visitor (customer_id) is ordered by created_date then
    event_id; a gap of `options.gap` or more starts a new session. Events of custom session
    types are grouped by their source session id. System events join the session open at
    their time (or the visitor's first session) and never start or extend one.

    Only a few narrow columns are sorted and grouped; the wide columns are gathered once by
    row index, which keeps time and memory close to a sort of the keys. `keep` (a mask from
    `deduplicate`) leaves rows out without copying the wide frame first.
    """
    opts = options or SessionizeOptions()
    if max(events.n_chunks("all"), default=1) > 1:
        # gathers from a frame in pieces (a Parquet file's row groups) are several times
        # slower than one copy into contiguous columns and gathers from that
        events = events.rechunk()
    cols = list(_NARROW) + (list(_CAMPAIGN) if opts.split_on_campaign_change else [])
    custom = _is_custom()
    activity = pl.col("kind").is_in(list(ACTIVITY_KINDS))
    # One sort of narrow keys orders everything: the sessionizer and the output. Visitors are
    # ordered by a stable 64-bit hash (much cheaper to sort than the id strings); the
    # categorical code only separates two visitors whose hashes collide.
    narrow = events.select(cols).with_row_index("_idx")
    if keep is not None:
        narrow = narrow.filter(keep)
    rows = (
        narrow.with_columns(
            _custom=custom,
            _is_sys=~activity,
            _h=pl.col("customer_id").nchash.xxh3_64(),  # type: ignore[attr-defined]
            _c=pl.col("customer_id").cast(pl.Categorical).to_physical(),
        )
        .with_columns(
            # in a custom session every event counts as the session's activity
            _act=activity | pl.col("_custom"),
            _st=pl.when(pl.col("_custom"))
            .then(pl.lit(2, pl.Int8))
            .when(pl.col("kind") == KIND_APP)
            .then(pl.lit(1, pl.Int8))
            .otherwise(pl.lit(0, pl.Int8)),
            _ck=pl.when(pl.col("_custom")).then(
                pl.concat_str(
                    [pl.col("source_session_type"), pl.col("source_session_id")], separator="\x1f"
                )
            ),
            _type=pl.when(pl.col("_custom"))
            .then(pl.col("source_session_type"))
            .when(pl.col("kind") == KIND_APP)
            .then(pl.lit("app"))
            .otherwise(pl.lit("web")),
        )
        .sort(["_h", "_c", "_st", "_ck", "created_date", "_is_sys", "event_id"])
    )
    rows = _assign_gap_sessions(rows, opts)

    # Every session number belongs to at least one activity row, so they are dense 1..S.
    sessions = (
        rows.filter(pl.col("_sess").is_not_null())
        .group_by("_sess")
        .agg(_session_aggs())
        .sort("_sess")
    )
    first = events.select(
        pl.col(list(_FROM_FIRST_EVENT + _VISITOR_CONTEXT)).gather(sessions["_first_idx"])
    )
    last = events.select(pl.col(list(_VISITOR_CONTEXT)).gather(sessions["_last_idx"]))
    first_pv = events.select(
        pl.col("page_url").gather(sessions["_first_pv_idx"]).alias("first_page_url"),
        pl.col("page_title").gather(sessions["_first_pv_idx"]).alias("first_page_title"),
    )
    last_pv = events.select(
        pl.col("page_url").gather(sessions["_last_pv_idx"]).alias("last_page_url"),
        pl.col("page_title").gather(sessions["_last_pv_idx"]).alias("last_page_title"),
    )
    context = first.with_columns(
        [pl.coalesce(pl.col(c), last.get_column(c)).alias(c) for c in _VISITOR_CONTEXT]
    )
    sessions = pl.concat([sessions, context, first_pv, last_pv], how="horizontal")
    sessions = sessions.with_columns(
        id=session_id_expr(pl.col("customer_id"), pl.col("_first_event_id")),
        # whole milliseconds, as the exports carry them (no float noise)
        duration_in_seconds=(
            (pl.col("ended_date") - pl.col("created_date")).dt.total_microseconds() / 1_000_000
        ).round(3),
    )
    # Each row's session by its dense number; rows in no session (no activity) get null.
    # Output rows keep the sort order: visitor (by hash), stream, time, activity first, id.
    pos = rows.get_column("_sess").cast(pl.Int64) - 1
    internal = [c for c in events.columns if c.startswith("_")]
    out = events.select(pl.all().exclude(internal).gather(rows.get_column("_idx"))).with_columns(
        session_id=sessions.get_column("id").gather(pos),
        session_type=sessions.get_column("type").gather(pos),
    )
    sessions = sessions.sort(["customer_id", "created_date", "id"]).with_columns(
        visit_number=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("customer_id")
    )
    sessions = sessions.select(
        [
            pl.col(c).cast(t) if c in sessions.columns else pl.lit(None, t).alias(c)
            for c, t in SESSION_SCHEMA.items()
        ]
    )
    return Sessionized(events=out, sessions=sessions)


__all__ = [
    "Sessionized",
    "counts_as_activity",
    "session_id_expr",
    "sessionize",
]
