"""The live view's data: who is on the site now, and what the last hour looked like.

`live_frame(store, LiveOptions(...))` reads a store snapshot and returns a LiveFrame: the
sessions active at `as_of` (last activity less than the store's gap before it), visitors and
events per minute, the top pages, searches and sources of the last hour, and the automated
share. It reads only recent rows: sessions by `ended_date` and index rows by `created_date`,
both filters pushed down into the Parquet scans, aggregated by the streaming engine (memory
bounded by the groups, not the rows). Nothing is cached between calls except what the caller
hands back as `previous` (the last frame's hour tables, reused for `hour_every` seconds).
Pure Polars: imports Polars and the stdlib only; never prints.

Definitions (also in the README, "Live view"):
- active: a session whose last activity (web or app event) is at most `as_of` and less than
  the gap before it; with `--as-of` on a store holding later events, a session's later
  events are left out (current page, events, duration are those up to `as_of`);
- per minute: clock minutes (UTC) of the last hour; `events_per_minute` and
  `visitors_per_minute` count the 60 seconds up to `as_of`;
- the hour: events from `as_of` minus one hour up to `as_of`; sources and the traffic table
  count the sessions active in that hour (sources the web sessions and the others a
  campaign brought: utm source, else the referring host; null: direct);
- traffic: everything counts the `traffic` classes (people only by default) except the
  `traffic` table and the automated share, which count all traffic of the hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from jtrack.core.sessionize import unicode_hosts
from jtrack.core.traffic import HUMAN, TRAFFIC_CLASSES
from jtrack.options import DEFAULT_GAP
from jtrack.schema import ACTIVITY_KINDS, KIND_SEARCH, UTC_US, is_blank
from jtrack.store.store import as_store
from jtrack.usecases.ids import ID_MIN
from jtrack.usecases.report import label_text, strip_url
from jtrack.usecases.sessions import session_prefix_length
from jtrack.usecases.traffic import (
    DEFAULT_TRAFFIC,
    TrafficScope,
    check_traffic,
    class_shares,
    traffic_expr,
    traffic_scope,
)

UNKNOWN = "Unknown"
WALL_CLOCK = "wall clock"
AS_OF_CLOCK = "--as-of"
HOUR = timedelta(hours=1)

#: The columns of the active-session table, in display order.
ACTIVE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "customer_id": pl.String(),
    "contact_name": pl.String(),
    "last_page_title": pl.String(),
    "last_page_url": pl.String(),
    "created_date": UTC_US,
    "ended_date": UTC_US,
    "duration_in_seconds": pl.Float64(),
    "idle_seconds": pl.Float64(),
    "event_count": pl.UInt32(),
    "pageview_count": pl.UInt32(),
    "type": pl.String(),
    "traffic_class": pl.String(),
    "traffic_agent": pl.String(),
}
#: What `s` cycles through in the live view: (column, descending), the first the default.
SORTS: tuple[tuple[str, bool], ...] = (
    ("ended_date", True),
    ("duration_in_seconds", True),
    ("event_count", True),
    ("contact_name", False),
    ("last_page_title", False),
    ("traffic_class", False),
    ("created_date", True),
)
#: The hour's tables, in display order.
HOUR_TABLES = ("top_pages", "top_searches", "sources", "traffic")

_SESSION_COLUMNS = [
    "id",
    "type",
    "customer_id",
    "contact_name",
    "created_date",
    "ended_date",
    "duration_in_seconds",
    "event_count",
    "pageview_count",
    "last_page_title",
    "last_page_url",
    "referrer_hostname",
    "referrer_medium",
    "mkt_campaign_source",
    "mkt_campaign_medium",
    "traffic_class",
    "traffic_agent",
]
_EVENT_COLUMNS = [
    "customer_id",
    "created_date",
    "event_id",
    "event_name",
    "kind",
    "page_url",
    "page_title",
    "search_query",
    "session_id",
    "session_type",
    "traffic_class",
]


#: A page view, as sessions count them (`pageview_count`, the current page) and the report
#: does: a `page_viewed` event, a search with a query too.
_PAGE_VIEW = pl.col("event_name") == "page_viewed"
#: An event the sessions' `event_count` counts (and so the hour's figures and the report's
#: `events`): web and app activity, and every event of a custom session; the segment,
#: outcome and web-action events joined to a web or app session are left out.
_COUNTED = pl.col("kind").is_in(list(ACTIVITY_KINDS)) | (
    pl.col("session_type").is_not_null() & ~pl.col("session_type").is_in(["web", "app"])
)
#: The events a visitor's contact is resolved from (as `jtrack card` reads them).
_IDENTITY = ["customer_id", "created_date", "event_id", "traits", "customer_id_type"]


@dataclass(frozen=True)
class LiveOptions:
    """What a live frame shows."""

    #: the clock; None: the wall clock (datetime.now) at each call
    as_of: datetime | None = None
    #: inactivity that ends a session; None: the store's gap
    gap: timedelta | None = None
    #: traffic classes counted (people only by default); the automated share counts all
    traffic: tuple[str, ...] = DEFAULT_TRAFFIC
    #: rows of each hour table
    top: int = 10
    #: the hour tables of `previous` are reused while younger than this (seconds)
    hour_every: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "traffic", check_traffic(self.traffic))
        if isinstance(self.as_of, str):  # (as --as-of reads it)
            from jtrack.usecases.sessions import parse_when

            object.__setattr__(self, "as_of", parse_when(self.as_of, "as_of"))
        elif isinstance(self.as_of, date) and not isinstance(self.as_of, datetime):
            day = self.as_of  # (its midnight, as SessionQuery takes a day)
            object.__setattr__(self, "as_of", datetime(day.year, day.month, day.day))
        if self.as_of is not None:
            at = self.as_of if self.as_of.tzinfo else self.as_of.replace(tzinfo=UTC)
            object.__setattr__(self, "as_of", at.astimezone(UTC))


@dataclass
class LiveFrame:
    """One refresh of the live view: now, and the last hour."""

    as_of: datetime
    clock: str  # WALL_CLOCK or AS_OF_CLOCK
    gap_seconds: float
    store: str
    version: str | None
    events_in_store: int
    last_event: datetime | None
    overview: dict[str, Any]
    active: pl.DataFrame  # ACTIVE_COLUMNS
    per_minute: pl.DataFrame  # minute, events, visitors
    tables: dict[str, pl.DataFrame]  # HOUR_TABLES
    scope: TrafficScope = field(default_factory=TrafficScope)
    #: when the hour tables and per-minute figures were computed (<= as_of)
    hour_as_of: datetime | None = None
    options: LiveOptions = field(default_factory=LiveOptions)
    #: how many characters of the active sessions' ids a table shows: their shortest prefix
    #: unique in the whole store, which `jtrack card` takes back
    id_length: int = ID_MIN

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys in a fixed order (what `jtrack watch --once -f json` prints)."""
        from jtrack.serialize import iso_z, to_records

        return {
            "live": {
                "as_of": iso_z(self.as_of),
                "clock": self.clock,
                "gap_seconds": self.gap_seconds,
                "hour_as_of": iso_z(self.hour_as_of),
                "store": self.store,
                "version": self.version,
                "events_in_store": self.events_in_store,
                "last_event": iso_z(self.last_event),
            },
            "traffic": self.scope.to_dict(),
            "overview": self.overview,
            "active_sessions": to_records(self.active),
            "per_minute": to_records(self.per_minute),
            "tables": {name: to_records(df) for name, df in self.tables.items()},
        }


def _lit_time(t: datetime) -> pl.Expr:
    return pl.lit(t, dtype=UTC_US)


def _now(options: LiveOptions) -> tuple[datetime, str]:
    if options.as_of is not None:
        return options.as_of, AS_OF_CLOCK
    return datetime.now(UTC), WALL_CLOCK


def _store_gap(manifest: Any) -> timedelta:
    secs = (getattr(manifest, "options", None) or {}).get("gap_seconds")
    return timedelta(seconds=float(secs)) if secs else DEFAULT_GAP


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def live_frame(
    store: Any, options: LiveOptions | None = None, previous: LiveFrame | None = None
) -> LiveFrame:
    """The live frame of `store` (a jtrack.store.Store, or a jtrack.access.StoreView: the
    role applies) at `options.as_of`. `previous`: the last frame; its hour tables are reused
    while younger than `options.hour_every` seconds (and asked with the same options)."""
    store = as_store(store)
    store.refresh()  # ("now": the version current at this call, not one pinned earlier)
    opts = options or LiveOptions()
    now, clock = _now(opts)
    manifest = store.pinned().manifest
    gap = opts.gap or _store_gap(manifest)
    counts = manifest.counts or {}
    active = active_sessions(store.scan_sessions(), store, now, gap, opts.traffic)
    if opts.as_of is not None:  # (a replay: who they were then, as `jtrack card` says)
        version = f"v{manifest.version:06d}"
        same = (  # (the last refresh's answer, of the same version, clock and sessions)
            previous is not None
            and (previous.version, previous.as_of) == (version, now)
            and previous.active.get_column("id").equals(active.get_column("id"))
        )
        if same and previous is not None:
            active = active.with_columns(previous.active.get_column("contact_name"))
        else:
            active = _contacts_as_of(active, store, now)
    reuse = (
        previous is not None
        and previous.hour_as_of is not None
        and opts.hour_every > 0
        and previous.options
        == replace(opts, as_of=previous.options.as_of, hour_every=previous.options.hour_every)
        and timedelta(0) <= now - previous.hour_as_of < timedelta(seconds=opts.hour_every)
    )
    if reuse and previous is not None:
        hour: dict[str, Any] = {
            "per_minute": previous.per_minute,
            "tables": previous.tables,
            "scope": previous.scope,
            "figures": {k: previous.overview[k] for k in _HOUR_FIGURES},
            "at": previous.hour_as_of,
        }
    else:
        hour = _hour(store, now, opts)
    overview = {
        "active_sessions": active.height,
        "active_visitors": active.get_column("customer_id").n_unique(),
        **hour["figures"],
    }
    return LiveFrame(
        as_of=now,
        clock=clock,
        gap_seconds=gap.total_seconds(),
        store=store.shown,
        version=f"v{manifest.version:06d}",
        events_in_store=int(counts.get("events_kept", 0)),
        last_event=_parse_iso(counts.get("last_event")),
        overview=overview,
        active=active,
        per_minute=hour["per_minute"],
        tables=hour["tables"],
        scope=hour["scope"],
        hour_as_of=hour["at"],
        options=opts,
        id_length=session_prefix_length(store, active.get_column("id")),
    )


def active_sessions(
    sessions: pl.LazyFrame,
    store: Any,
    now: datetime,
    gap: timedelta,
    traffic: Sequence[str] = TRAFFIC_CLASSES,
) -> pl.DataFrame:
    """Sessions whose last activity is at most `now` and less than `gap` before it
    (ACTIVE_COLUMNS), most recent activity first. Sessions the store knows to go on after
    `now` (a replay with --as-of) are cut at `now` from their index rows."""
    lf = sessions.select(_SESSION_COLUMNS)
    t_now, t_from = _lit_time(now), _lit_time(now - gap)
    found = lf.filter(
        (pl.col("ended_date") > t_from) & (pl.col("created_date") <= t_now) & traffic_expr(traffic)
    ).collect(engine="in-memory")
    later = found.filter(pl.col("ended_date") > t_now)
    if later.height:
        found = pl.concat(
            [found.filter(pl.col("ended_date") <= t_now), _cut_at(later, store, now)],
            how="vertical_relaxed",
        ).filter(pl.col("ended_date") > t_from)
    return (
        found.with_columns(
            contact_name=pl.col("contact_name").fill_null(UNKNOWN),
            traffic_class=pl.col("traffic_class").fill_null(HUMAN),
            idle_seconds=(t_now - pl.col("ended_date")).dt.total_microseconds() / 1e6,
        )
        .select(list(ACTIVE_COLUMNS))
        .cast(ACTIVE_COLUMNS)  # type: ignore[arg-type]
        .sort(["ended_date", "id"], descending=[True, False])
    )


def _cut_at(later: pl.DataFrame, store: Any, now: datetime) -> pl.DataFrame:
    """`later` sessions as they stood at `now`: their events up to it (index rows)."""
    ids = later.get_column("id").implode()
    ev = (
        store.scan_events(columns=_EVENT_COLUMNS)
        .filter(pl.col("session_id").is_in(ids) & (pl.col("created_date") <= _lit_time(now)))
        .collect(engine="in-memory")
        .sort(["session_id", "created_date", "event_id"])
    )
    activity = _COUNTED  # (what the stored event_count counts, as sessionize does)
    has_page = _PAGE_VIEW  # the current page: the last page view
    cut = ev.group_by("session_id", maintain_order=True).agg(
        _ended=pl.col("created_date").filter(activity).max(),
        _events=activity.sum().cast(pl.UInt32),
        _pages=_PAGE_VIEW.sum().cast(pl.UInt32),
        _url=pl.col("page_url").filter(has_page).last(),
        _title=pl.col("page_title").filter(has_page).last(),
    )
    return (
        later.join(cut, left_on="id", right_on="session_id", how="inner")
        .filter(pl.col("_ended").is_not_null())
        .with_columns(
            ended_date=pl.col("_ended"),
            event_count=pl.col("_events"),
            pageview_count=pl.col("_pages"),
            last_page_url=pl.col("_url"),
            last_page_title=pl.col("_title"),
            duration_in_seconds=(pl.col("_ended") - pl.col("created_date")).dt.total_microseconds()
            / 1e6,
        )
        .select(later.columns)
    )


def _contacts_as_of(active: pl.DataFrame, store: Any, now: datetime) -> pl.DataFrame:
    """`active` with its visitors' contacts as they stood at `now`, as `jtrack card --as-of`
    resolves them: when the store resolved them against its contacts book from traits some of
    which came after `now` (store_book_as_of), they are resolved again against that book from
    the traits seen by then, over the sessions begun by then (the active sessions' visitors
    only). Resolved on the unmasked store (who is known never depends on the role), the names
    masked as the view masks them."""
    if not active.height:
        return active
    from jtrack.access import StoreView, identity_events, protect
    from jtrack.core.contacts import resolve_contacts
    from jtrack.usecases.sessions import store_book_as_of

    visitors = active.get_column("customer_id").drop_nulls().unique().implode()
    identity = identity_events(store, columns=_IDENTITY).filter(
        pl.col("customer_id").is_in(visitors)
    )
    saved = store_book_as_of(store, identity, now)
    if saved is None:  # (nothing of theirs after now: the stored resolution stands)
        return active
    book, region = saved
    plain = store.unfiltered() if isinstance(store, StoreView) else store
    begun = (
        plain.scan_sessions()
        .filter(pl.col("customer_id").is_in(visitors) & (pl.col("created_date") <= _lit_time(now)))
        .collect(engine="in-memory")
    )
    resolved = resolve_contacts(
        begun,
        identity.filter(pl.col("created_date") <= _lit_time(now)),
        book,
        default_region=region,
        as_of=now,
        cut=True,
    ).select("id", _name=pl.col("contact_name"))
    if isinstance(store, StoreView):
        named = resolved.rename({"_name": "contact_name"}).lazy()
        resolved = protect(named, store.policy).collect().rename({"contact_name": "_name"})
    return (
        active.join(resolved, on="id", how="left", maintain_order="left")
        .with_columns(contact_name=pl.coalesce("_name", "contact_name"))
        .drop("_name")
    )


#: The overview figures that come from the hour (reused with the hour tables).
_HOUR_FIGURES = (
    "events_per_minute",
    "visitors_per_minute",
    "events_last_hour",
    "visitors_last_hour",
    "sessions_last_hour",
    "page_views_last_hour",
    "searches_last_hour",
    "automated_sessions_last_hour",
    "automated_share",
    "automated_event_share",
)


def _ranked(df: pl.DataFrame, count: str, labels: Sequence[str], top: int) -> pl.DataFrame:
    return df.sort(
        [count, *labels], descending=[True] + [False] * len(labels), nulls_last=True
    ).head(top)


def _hour(store: Any, now: datetime, opts: LiveOptions) -> dict[str, Any]:
    """Per-minute figures, the hour's tables and the automated share, at `now`."""
    t_now = _lit_time(now)
    start = now - HOUR
    # (events as the sessions' event_count counts them: activity, no segment, outcome or
    # web-action rows)
    events = store.scan_events(columns=_EVENT_COLUMNS).filter(
        (pl.col("created_date") > _lit_time(start)) & (pl.col("created_date") <= t_now) & _COUNTED
    )
    sessions_all = store.scan_sessions()
    s_cols = sessions_all.collect_schema().names()
    utm = label_text("mkt_campaign_source")
    campaign = utm.is_not_null()
    # the sessions with an event in the hour (one that spans the hour without one, an
    # order's delivery session, was counted beside 0 events and 0 visitors)
    in_hour = events.select(id=pl.col("session_id")).drop_nulls().unique()
    hour_sessions = (
        sessions_all.filter(
            (pl.col("ended_date") > _lit_time(start)) & (pl.col("created_date") <= t_now)
        ).join(in_hour, on="id", how="semi")
    ).select(
        "id",
        "customer_id",
        "event_count",
        "type",
        traffic_class=pl.col("traffic_class").fill_null(HUMAN)
        if "traffic_class" in s_cols
        else pl.lit(HUMAN),
        # (labels as the report's: blank is missing, a host in lower case)
        source=pl.coalesce(utm, label_text("referrer_hostname", lower=True)),
        medium=pl.when(campaign)
        .then(label_text("mkt_campaign_medium"))
        .otherwise(label_text("referrer_medium")),
        _campaign=campaign,
    )
    shown = events.filter(traffic_expr(opts.traffic))
    # per row (traffic_expr is a literal for all classes, which sums to 1)
    keep = pl.col("traffic_class").fill_null(HUMAN).is_in(list(opts.traffic))
    first_minute = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
    minute = pl.col("created_date").dt.truncate("1m")
    pages = shown.filter(_PAGE_VIEW).with_columns(page=strip_url(pl.col("page_url")))
    search = pl.col("search_query").str.strip_chars().str.to_lowercase()
    (per_minute, last_minute, totals, page_counts, searches, s_df, by_class) = pl.collect_all(
        [
            shown.filter(minute >= _lit_time(first_minute))
            .group_by(minute=minute)
            .agg(
                events=pl.len().cast(pl.Int64),
                visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            ),
            shown.filter(pl.col("created_date") > _lit_time(now - timedelta(minutes=1))).select(
                events=pl.len().cast(pl.Int64),
                visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            ),
            events.select(
                events=pl.len().cast(pl.Int64),
                shown_events=keep.sum().cast(pl.Int64),
                visitors=pl.col("customer_id").filter(keep).n_unique(),
                page_views=(keep & _PAGE_VIEW).sum().cast(pl.Int64),
                searches=(keep & (pl.col("kind") == KIND_SEARCH)).sum().cast(pl.Int64),
                automated=(pl.col("traffic_class").fill_null(HUMAN) != HUMAN).sum().cast(pl.Int64),
            ),
            pages.group_by("page").agg(
                title=pl.col("page_title").drop_nulls().min(),
                page_views=pl.len().cast(pl.Int64),
                visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            ),
            shown.filter(pl.col("kind") == KIND_SEARCH)
            .filter(~is_blank(pl.col("search_query")))
            .with_columns(search=search)
            .group_by("search")
            .agg(
                searches=pl.len().cast(pl.Int64),
                visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            ),
            hour_sessions,
            events.group_by(traffic_class=pl.col("traffic_class").fill_null(HUMAN)).agg(
                events=pl.len().cast(pl.Int64)
            ),
        ],
        engine="streaming",
    )
    minutes = pl.DataFrame(
        {
            "minute": pl.datetime_range(
                first_minute,
                first_minute + timedelta(minutes=59),
                "1m",
                eager=True,
                time_zone="UTC",
            )
        }
    ).with_columns(pl.col("minute").dt.cast_time_unit("us"))
    per_minute = minutes.join(
        per_minute, on="minute", how="left", maintain_order="left"
    ).with_columns(pl.col("events", "visitors").fill_null(0))
    # (a referring host in punycode as its site: as the report's)
    host = pl.when(~pl.col("_campaign")).then(unicode_hosts(s_df.get_column("source")))
    s_df = s_df.with_columns(source=host.otherwise(pl.col("source")))
    scope = traffic_scope(s_df, opts.traffic)
    shown_sessions = s_df.filter(traffic_expr(opts.traffic))
    sources = _ranked(  # (visits, and app sessions a campaign brought: an app or custom
        # session came from no page, and is no direct visit)
        shown_sessions.filter((pl.col("type") == "web") | pl.col("_campaign"))
        .group_by("source", "medium")
        .agg(
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        ),
        "sessions",
        ["source", "medium"],
        opts.top,
    )
    n_all = s_df.height
    n_events = int(by_class.get_column("events").sum() or 0)
    # sessions active in the hour, and the events of the hour, per class
    traffic = class_shares(
        s_df.group_by("traffic_class")
        .agg(sessions=pl.len().cast(pl.Int64))
        .join(by_class, on="traffic_class", how="full", coalesce=True)
        .with_columns(pl.col("sessions", "events").fill_null(0)),
        n_all,
        n_events,
    )
    t = totals.row(0, named=True)
    lm = last_minute.row(0, named=True)
    automated_sessions = int((s_df.get_column("traffic_class") != HUMAN).sum())
    figures = {
        "events_per_minute": int(lm["events"] or 0),
        "visitors_per_minute": int(lm["visitors"] or 0),
        "events_last_hour": int(t["shown_events"] or 0),
        "visitors_last_hour": int(t["visitors"] or 0),
        "sessions_last_hour": shown_sessions.height,
        "page_views_last_hour": int(t["page_views"] or 0),
        "searches_last_hour": int(t["searches"] or 0),
        "automated_sessions_last_hour": automated_sessions,
        "automated_share": round(automated_sessions / n_all, 4) if n_all else None,
        "automated_event_share": round(int(t["automated"] or 0) / int(t["events"]), 4)
        if t["events"]
        else None,
    }
    tables = {
        "top_pages": _ranked(
            page_counts.select("page", "title", "page_views", "visitors"),
            "page_views",
            ["page"],
            opts.top,
        ),
        "top_searches": _ranked(searches, "searches", ["search"], opts.top),
        "sources": sources,
        "traffic": traffic,
    }
    return {
        "per_minute": per_minute,
        "tables": tables,
        "scope": scope,
        "figures": figures,
        "at": now,
    }


def view_sessions(
    active: pl.DataFrame,
    sort: str = SORTS[0][0],
    descending: bool | None = None,
    text: str | None = None,
) -> pl.DataFrame:
    """The active sessions as the view lists them: those matching `text` (case-insensitive,
    in the contact, page title or URL, visitor or session id, agent), sorted by `sort`
    (descending as SORTS says unless told), ties by last activity then id."""
    df = active
    if text:
        needle = text.lower()
        hit = pl.lit(False)
        for c in (
            "contact_name",
            "last_page_title",
            "last_page_url",
            "customer_id",
            "id",
            "traffic_agent",
        ):
            hit = hit | pl.col(c).fill_null("").str.to_lowercase().str.contains(
                needle, literal=True
            )
        df = df.filter(hit)
    if descending is None:
        descending = dict(SORTS).get(sort, False)
    keys, desc = [sort], [descending]
    for k, d in (("ended_date", True), ("id", False)):
        if k != sort:
            keys.append(k)
            desc.append(d)
    return df.sort(keys, descending=desc, nulls_last=True)


__all__ = [
    "ACTIVE_COLUMNS",
    "AS_OF_CLOCK",
    "HOUR_TABLES",
    "SORTS",
    "WALL_CLOCK",
    "LiveFrame",
    "LiveOptions",
    "active_sessions",
    "live_frame",
    "view_sessions",
]
