"""The journey summary: sessions, visitors, duration, bounce, pages, searches, sources, devices.

Computed from the session table plus the events (the store, or sources sessionized in memory)
with Polars aggregations only: every table is a group_by, explicitly sorted (count descending,
then label) so the output is deterministic. Imports Polars and the stdlib only; never prints.

Definitions (also in the README):
- the period is by session start, in local days of `tz`; events count with their session;
- duration, bounce and engagement are over web sessions; median and p90 are linear quantiles;
- a bounce is a web session with exactly one page view (a search result page is a page view);
- an engaged session lasts `engaged_seconds` (10 s) or more, or has two or more page views,
  or achieves an outcome (the GA4 rule);
- known sessions belong to a saved contact (`contact_state == "known"`, else a `contact_name`
  other than "Unknown"); without contact columns in the session table they are not counted;
- pages are URLs without query string and fragment; searches are trimmed and lower-cased;
- a session's referrer and campaign are those of its first activity event (the session
  table's columns);
- channels count web sessions by acquisition channel (jtrack.core.channels: GA4's default
  channel grouping simplified; every channel, whatever `top`);
- referrers are counted per referring host and medium over web sessions (a null host:
  direct, with the medium of a visit that had one), internal ones (the site itself) left
  out; a campaign is a session with any UTM source, medium or name; labels are trimmed, a
  blank one is missing, host names are lower-cased;
- traffic: everything above counts the sessions of `traffic` classes only (people by
  default); the `traffic` table shares sessions and events (their event_count) out by class
  over all traffic of the period, and `traffic_agents` ranks the named agents (bots, crawlers,
  tools) by sessions.
"""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from jtrack.checks import must_be
from jtrack.config import check_tz
from jtrack.core.channels import CHANNELS, with_channels
from jtrack.core.sessionize import unicode_hosts
from jtrack.core.traffic import HUMAN
from jtrack.errors import UsageError
from jtrack.progress import ProgressFn
from jtrack.schema import KIND_OUTCOME, KIND_SEARCH, KIND_SEGMENT, KIND_WEB_ACTION, is_blank
from jtrack.store.store import StoreLike, as_store
from jtrack.usecases.traffic import (
    DEFAULT_TRAFFIC,
    TrafficScope,
    check_traffic,
    class_shares,
    is_all,
    traffic_expr,
    traffic_scope,
)

UNKNOWN = "Unknown"

#: The tables of a report, in display order (their titles are the renderers': render.theme).
TABLES: tuple[str, ...] = (
    "session_types",
    "contacts",
    "top_pages",
    "entry_pages",
    "exit_pages",
    "top_searches",
    "channels",
    "referrers",
    "campaigns",
    "devices",
    "browsers",
    "countries",
    "segments",
    "outcomes",
    "web_actions",
    "traffic",
    "traffic_agents",
)

_EVENT_COLUMNS = (
    "session_id",
    "customer_id",
    "kind",
    "event_name",
    "page_url",
    "page_title",
    "search_query",
    "segment_id",
    "outcome_id",
    "outcome_display_name",
    "action_id",
    "action_state",
    "action_map_id",
    "action_map_display_name",
    "traffic_class",
)

#: The states of a web action the report's `web_actions` table counts, each a column (of
#: Genesys's: qualified, offered, accepted, rejected, timedout, ignored, errored, started,
#: engaged, completed, abandoned, frequencyCapReached; the others are in `events`).
ACTION_STATES = ("qualified", "offered", "accepted", "rejected", "ignored", "timedout")


@dataclass(frozen=True)
class ReportOptions:
    """What a journey summary covers and how it is cut."""

    tz: str = "UTC"
    since: date | None = None  # first local day (by session start)
    until: date | None = None  # first local day not reported (exclusive)
    top: int = 10
    engaged_seconds: float = 10.0
    #: traffic classes counted (jtrack.usecases.traffic): people only unless told otherwise
    traffic: tuple[str, ...] = DEFAULT_TRAFFIC
    #: a month instead of since/until (`--month`): "2026-10", a month's first day, or
    #: "previous", "yesterday", "current" (of now, in `tz`); kept as its first day, with
    #: since and until its first day and the next month's
    month: date | None = None
    #: the series' unit: "day", "week" (Monday to Sunday, named by its Monday), "month", or
    #: "auto" (days up to AUTO_DAYS days, weeks up to AUTO_WEEKS days, months beyond)
    by: str = "auto"

    if TYPE_CHECKING:  # (what the constructor takes: __post_init__ normalises it)

        def __init__(
            self,
            tz: str = "UTC",
            since: date | str | None = None,
            until: date | str | None = None,
            top: int = 10,
            engaged_seconds: float = 10.0,
            traffic: str | Sequence[str] = DEFAULT_TRAFFIC,
            month: date | str | None = None,
            by: str = "auto",
        ) -> None: ...

    def __post_init__(self) -> None:
        from jtrack.usecases.usage import as_day

        object.__setattr__(self, "traffic", check_traffic(self.traffic))
        if self.by not in SERIES_UNITS:
            near = difflib.get_close_matches(str(self.by), SERIES_UNITS, n=1, cutoff=0.5)
            raise UsageError(
                f"--by {self.by!r}: the report's series is cut by day, week or month",
                hint=(f"did you mean {near[0]!r}? " if near else "")
                + "use auto, day, week or month",
            )
        if self.month is not None:
            self._set_month()
        for name in ("since", "until"):  # (text read as --since/--until read it)
            object.__setattr__(self, name, as_day(getattr(self, name), name))
        if isinstance(self.top, bool) or not isinstance(self.top, int):
            raise UsageError(f"top {self.top!r} is no whole number", hint="e.g. top=10")
        check_tz(self.tz)
        if self.top < 1:
            raise UsageError("--top must be at least 1", hint="e.g. --top 10")
        secs = self.engaged_seconds
        if isinstance(secs, bool) or not isinstance(secs, numbers.Real) or not secs >= 0:
            raise UsageError(
                f"engaged_seconds {secs!r} is no number of seconds", hint="e.g. engaged_seconds=10"
            )
        if self.since and self.until and self.until <= self.since:
            raise UsageError(
                "--until must be after --since",
                hint="--until is the first day not reported (exclusive)",
            )

    def _set_month(self) -> None:
        """`month` as `--month` reads it (a word of now, in `tz`), into since and until."""
        from datetime import UTC, datetime

        from jtrack.usecases.usage import as_day, next_month, resolve_month

        if isinstance(self.month, str):
            first = resolve_month(self.month, datetime.now(UTC), check_tz(self.tz), "month")
        else:
            day = as_day(self.month, "month")
            if day is None or day.day != 1:
                raise UsageError(
                    f"month {self.month!r}", hint='"2026-10", or the first day of a month'
                )
            first = day
        given = (self.since, self.until)
        # (the month's own span may come with it: dataclasses.replace copies all three)
        if given != (None, None) and given != (first, next_month(first)):
            raise UsageError(
                "month cannot be combined with since/until",
                hint='use either month="2026-10" or since=/until=',
            )
        object.__setattr__(self, "month", first)
        object.__setattr__(self, "since", first)
        object.__setattr__(self, "until", next_month(first))


#: --by: the units the report's series is cut in ("auto" picks one by the period's length)
SERIES_UNITS = ("auto", "day", "week", "month")
#: "auto": a series of days for periods of up to this many days (two months) ...
AUTO_DAYS = 62
#: ... of weeks up to this many (half a year), and of months beyond
AUTO_WEEKS = 183
#: the JSON key of each unit's series (`daily` is always there: every day of the period)
SERIES_KEYS = {"day": "daily", "week": "weekly", "month": "monthly"}


def series_unit(by: str, days: int) -> str:
    """The unit of a series of `days` days for `--by` (see AUTO_DAYS, AUTO_WEEKS)."""
    if by != "auto":
        return by
    return "day" if days <= AUTO_DAYS else "week" if days <= AUTO_WEEKS else "month"


@dataclass
class JourneyReport:
    """A journey summary: headline figures, sessions per day, and ranked tables."""

    options: ReportOptions
    source: dict[str, Any]
    period: dict[str, Any]
    overview: dict[str, Any]
    daily: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)
    #: the unit of `series` ("day", "week" or "month": --by, or what "auto" picked)
    by: str = "day"
    #: the sessions, visitors, page views and known sessions per `by` (its first column is
    #: named by the unit: `day`, `week` (its Monday) or `month` (2026-10)); `daily` when by
    #: day. Visitors are counted once in each week or month, not summed over its days.
    series: pl.DataFrame | None = None
    #: the traffic classes counted and what they left out
    scope: TrafficScope = field(default_factory=TrafficScope)
    #: the user-agent lists the traffic classes come from (jtrack.core.traffic)
    traffic_lists: str | None = None
    #: set when the period holds no session but the input does (also one of `notes`): a
    #: job that runs early on the 1st reports the new, empty month
    empty_period: str | None = None
    #: what may make the figures wrong, said on stderr even with --quiet: rejected rows
    #: left out (--on-error skip), an export that holds no events
    warnings: list[str] = field(default_factory=list)

    def shown_series(self) -> pl.DataFrame:
        """What the terminal, Markdown and HTML show: `series`, or `daily`."""
        return self.daily if self.series is None else self.series

    def traffic(self) -> dict[str, Any]:
        """{classes, left_out {sessions, events, by_class}, lists}."""
        return {**self.scope.to_dict(), "lists": self.traffic_lists}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys in a fixed order (what `--format json` prints)."""
        from jtrack.serialize import to_records

        return {
            "report": "journey",
            "tz": self.options.tz,
            "period": self.period,
            "source": self.source,
            "traffic": self.traffic(),
            "overview": self.overview,
            "by": self.by,
            "daily": to_records(self.daily),
            **({SERIES_KEYS[self.by]: to_records(self.shown_series())} if self.by != "day" else {}),
            "tables": {name: to_records(df) for name, df in self.tables.items()},
            "notes": self.notes,
            "warnings": self.warnings,
        }


def bare_url(col: pl.Expr) -> pl.Expr:
    """The URL without its query string and fragment (whatever they hold: `(?s)`, a raw
    tab or line break in a query is part of it)."""
    return col.str.replace(r"(?s)[?#].*", "")


def _site_lower(bare: pl.Expr) -> pl.Expr:
    """A bare URL with its scheme and host in lower case (the path as it is)."""
    site = bare.str.extract(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/]*)", 1)
    return (
        pl.when(site.is_null())
        .then(bare)
        .otherwise(pl.concat_str(site.str.to_lowercase(), bare.str.slice(site.str.len_chars())))
    )


def strip_url(col: pl.Expr) -> pl.Expr:
    """bare_url, its scheme and host in lower case (they are in any case:
    `https://WWW.SHOP.TEST/a` is `https://www.shop.test/a`; the path is not). Per row: for
    a few rows (a report of millions of page views folds its distinct pages: site_folds)."""
    return _site_lower(bare_url(col))


def site_folds(pages: pl.Series) -> tuple[list[str], list[str]]:
    """Of distinct bare URLs, those whose scheme or host is not in lower case, and what
    they are in it (strip_url's): for `replace`, so that millions of rows are not each
    taken apart by a regex when, as nearly always, no host is in capitals."""
    pages = pages.drop_nulls()
    upper = pages.filter(pages.str.contains(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*[A-Z]"))
    if not upper.len():
        return [], []
    folded = upper.to_frame("u").select(_site_lower(pl.col("u"))).to_series()
    return upper.to_list(), folded.to_list()


def _page_tables(pv: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Page views per page (with their sessions and visitors), and per page and title."""
    return [
        pv.group_by("page").agg(
            page_views=pl.len().cast(pl.Int64),
            sessions=pl.col("session_id").n_unique().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        ),
        pv.group_by("page", "page_title").agg(n=pl.len()),
    ]


def _site_folded(df: pl.DataFrame, column: str) -> pl.Expr:
    """strip_url of a column of `df`, its distinct pages folded (see site_folds)."""
    bare = bare_url(pl.col(column))
    folds = site_folds(df.select(bare.unique()).to_series())
    return bare.replace(*folds) if folds[0] else bare


def _ranked(df: pl.DataFrame, count: str, labels: Sequence[str], top: int) -> pl.DataFrame:
    """Sorted by `count` descending, then labels ascending (nulls last); the first `top`."""
    return df.sort(
        [count, *labels],
        descending=[True] + [False] * len(labels),
        nulls_last=True,
    ).head(top)


def label_text(col: str, lower: bool = False) -> pl.Expr:
    """A text the tables group by, without the spaces around it: null when blank (an
    export's "" and its missing value are one row, not two that look alike); `lower`: in
    lower case (a host name)."""
    c = pl.col(col).str.strip_chars()  # (" www.google.com" is www.google.com)
    return pl.when(c != "").then(c.str.to_lowercase() if lower else c)


def _share(col: str, total: int) -> pl.Expr:
    return (
        (pl.col(col) / total if total else pl.lit(None, pl.Float64))
        .round(4)
        .alias("share_of_sessions")  # (as `jtrack rules report` names it; "share" in tables)
    )


def journey_report(
    sessions: pl.LazyFrame | pl.DataFrame,
    events: pl.LazyFrame | pl.DataFrame,
    options: ReportOptions | None = None,
    source: dict[str, Any] | None = None,
    events_of: Callable[[pl.Series], pl.LazyFrame | None] | None = None,
) -> JourneyReport:
    """The journey summary of `sessions` (SESSION_SCHEMA, optionally with contact columns)
    and their `events` (stored events, with session_id). `events_of`, where the events can
    be read by session more cheaply than all of them (a store's index), gives the events of
    a period's sessions from their ids, or None where reading them all costs less."""
    opts = options or ReportOptions()
    s_lf = sessions.lazy()
    e_lf = events.lazy()
    s_cols = s_lf.collect_schema().names()
    local_day = pl.col("created_date").dt.convert_time_zone(opts.tz).dt.date()
    s_lf = s_lf.with_columns(_day=local_day)
    if opts.since is not None:
        s_lf = s_lf.filter(pl.col("_day") >= opts.since)
    if opts.until is not None:
        s_lf = s_lf.filter(pl.col("_day") < opts.until)
    state_col = pl.col("contact_state") if "contact_state" in s_cols else pl.lit(None, pl.String)
    name_col = pl.col("contact_name") if "contact_name" in s_cols else pl.lit(None, pl.String)
    keep = [
        "id",
        "type",
        "customer_id",
        "created_date",
        "duration_in_seconds",
        "event_count",
        "pageview_count",
        "search_count",
        "first_page_url",
        "last_page_url",
        "_day",
    ]
    # the labels the tables group by: a blank text is a missing one (an export's "" and its
    # null are one row, not two that look alike), and a host is a host in any case
    labels = [
        "referrer_medium",
        "mkt_campaign_source",
        "mkt_campaign_medium",
        "mkt_campaign_name",
        "device_category",
        "browser_family",
        "geolocation_country",
        "geolocation_country_name",
    ]

    def opt(c: str) -> pl.Expr:
        return pl.col(c) if c in s_cols else pl.lit(None, pl.String)

    all_df = s_lf.select(
        *keep,
        *[label_text(c).alias(c) for c in labels],
        label_text("referrer_hostname", lower=True).alias("referrer_hostname"),
        _state=state_col,
        _name=name_col,
        _class=opt("traffic_class").fill_null(HUMAN),
        _agent=opt("traffic_agent"),
    ).collect(engine="in-memory")
    # one chunk: every group-by below would otherwise rechunk every column of the frame
    # again (the session parts' 60 chunks at 10M events: 0.2-0.7 s and 700 MB of fresh
    # pages each, a dozen times)
    all_df = all_df.rechunk()
    # a host in punycode is the site it names (`xn--r8jz45g.jp` is `例え.jp`: one row)
    all_df = all_df.with_columns(unicode_hosts(all_df.get_column("referrer_hostname")))
    scope = traffic_scope(
        all_df.select(traffic_class="_class", event_count="event_count"), opts.traffic
    )
    traffic_tables = _traffic_tables(all_df, opts.top)
    s_df = all_df.filter(traffic_expr(opts.traffic, "_class"))
    # Contacts were resolved when any session has a contact state or name (the columns are
    # always there, null until `sessionize --contacts`).
    contacts_known = s_df.height == 0 or bool(  # (an empty period: 0, as from files)
        s_df.select((pl.col("_state").is_not_null() | pl.col("_name").is_not_null()).any()).item()
    )
    known = (
        pl.when(pl.col("_state").is_not_null())
        .then(pl.col("_state") == "known")
        .otherwise(pl.col("_name").is_not_null() & (pl.col("_name") != UNKNOWN))
    )
    s_df = s_df.with_columns(_known=known if contacts_known else pl.lit(None, pl.Boolean))
    # Event tables are aggregated lazily (streamed), all in one collect_all: only the small
    # per-page, per-search, per-segment and per-outcome results are held in memory.
    e_cols = e_lf.collect_schema().names()
    e_lf = e_lf.select(
        [pl.col(c) if c in e_cols else pl.lit(None, pl.String).alias(c) for c in _EVENT_COLUMNS]
    )
    by_class = not is_all(opts.traffic)
    if by_class and "traffic_class" in e_cols:
        # an event's class is its session's: filtered on the events' own column
        e_lf = e_lf.filter(traffic_expr(opts.traffic))
        by_class = False
    in_period = opts.since is not None or opts.until is not None
    of_period = events_of(s_df.get_column("id")) if in_period and events_of is not None else None
    if of_period is not None:
        # a day or a month of a year: its sessions' events read by their ids (an index
        # scan), not every event of the store joined to them (seconds on a year's store)
        e_lf = of_period.select(_EVENT_COLUMNS)
    elif in_period or by_class:
        ids = s_df.select(session_id=pl.col("id")).lazy()
        e_lf = e_lf.join(ids, on="session_id", how="semi")
    else:
        e_lf = e_lf.filter(pl.col("session_id").is_not_null())
    pv = e_lf.filter(pl.col("event_name") == "page_viewed").select(
        "session_id", "customer_id", "page_title", page=bare_url(pl.col("page_url"))
    )
    kind = pl.col("kind")
    state = pl.col("action_state").str.to_lowercase()
    outcome_sessions, page_counts, title_counts, searches, segments, outcomes, actions = (
        pl.collect_all(
            [
                e_lf.filter(kind == KIND_OUTCOME).select("session_id").unique(),
                *_page_tables(pv),
                e_lf.filter((kind == KIND_SEARCH) & ~is_blank(pl.col("search_query")))
                .with_columns(search=pl.col("search_query").str.strip_chars().str.to_lowercase())
                .group_by("search")
                .agg(
                    searches=pl.len().cast(pl.Int64),
                    sessions=pl.col("session_id").n_unique().cast(pl.Int64),
                ),
                e_lf.filter(kind == KIND_SEGMENT)
                .group_by("segment_id")
                .agg(
                    sessions=pl.col("session_id").n_unique().cast(pl.Int64),
                    visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
                ),
                e_lf.filter(kind == KIND_OUTCOME)
                .group_by("outcome_id")
                .agg(
                    display_name=pl.col("outcome_display_name").drop_nulls().min(),
                    sessions=pl.col("session_id").n_unique().cast(pl.Int64),
                    visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
                ),
                # the export's web actions by action map: its events in each state (an offer
                # accepted is an `offered` event, then an `accepted` one)
                e_lf.filter(kind == KIND_WEB_ACTION)
                .group_by("action_map_id")
                .agg(
                    display_name=pl.col("action_map_display_name").drop_nulls().min(),
                    sessions=pl.col("session_id").n_unique().cast(pl.Int64),
                    **{a: (state == a).sum().cast(pl.Int64) for a in ACTION_STATES},
                    events=pl.len().cast(pl.Int64),
                ),
            ]
        )
    )

    # a page's scheme and host in any case are one (rare: the few pages it touches are
    # folded and their rows counted again)
    folds = site_folds(page_counts.get_column("page"))
    if folds[0]:
        folded = pv.with_columns(pl.col("page").replace(*folds))
        page_counts, title_counts = pl.collect_all(_page_tables(folded))

    # Outcomes per session feed engagement.
    s_df = s_df.with_columns(
        _outcome=pl.col("id").is_in(outcome_sessions["session_id"].implode()),
    )
    # a web session's referrer is internal when it is the site itself (its channel says so;
    # the referrers table leaves it out); its channel from its campaign and referrer
    web = s_df.filter(pl.col("type") == "web")
    web = with_channels(web)
    n_sessions = s_df.height
    n_web = web.height
    engaged = (
        (pl.col("duration_in_seconds") >= opts.engaged_seconds)
        | (pl.col("pageview_count") >= 2)
        | pl.col("_outcome")
    )
    bounce = pl.col("pageview_count") == 1
    w = web.select(
        median=pl.col("duration_in_seconds").median(),
        p90=pl.col("duration_in_seconds").quantile(0.9, interpolation="linear"),
        mean=pl.col("duration_in_seconds").mean(),
        bounces=bounce.sum(),
        engaged=engaged.sum(),
        pages=pl.col("pageview_count").sum(),
    ).row(0, named=True)
    counts = s_df.select(
        visitors=pl.col("customer_id").n_unique(),
        events=pl.col("event_count").sum(),
        page_views=pl.col("pageview_count").sum(),
        searches=pl.col("search_count").sum(),
        known=pl.col("_known").sum(),
        known_visitors=pl.col("customer_id").filter(pl.col("_known")).n_unique(),
    ).row(0, named=True)

    def rnd(x: Any, nd: int = 1) -> float | None:
        return None if x is None else round(float(x), nd)

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    overview = {
        "sessions": n_sessions,
        "web_sessions": n_web,
        "visitors": int(counts["visitors"] or 0),
        "events": int(counts["events"] or 0),
        "page_views": int(counts["page_views"] or 0),
        "searches": int(counts["searches"] or 0),
        "known_sessions": int(counts["known"] or 0) if contacts_known else None,
        "unknown_sessions": n_sessions - int(counts["known"] or 0) if contacts_known else None,
        "known_visitors": int(counts["known_visitors"] or 0) if contacts_known else None,
        "median_duration_seconds": rnd(w["median"]),
        "p90_duration_seconds": rnd(w["p90"]),
        "mean_duration_seconds": rnd(w["mean"]),
        "pages_per_web_session": rate(int(w["pages"] or 0), n_web),
        "bounces": int(w["bounces"] or 0),
        "bounce_rate": rate(int(w["bounces"] or 0), n_web),
        "engaged_sessions": int(w["engaged"] or 0),
        "engagement_rate": rate(int(w["engaged"] or 0), n_web),
    }

    # (an open period spans the sessions of every class, as the traffic section counts
    # them, not only those shown)
    first = opts.since or (all_df["_day"].min() if all_df.height else None)
    last = (
        (opts.until - timedelta(days=1))
        if opts.until
        else (all_df["_day"].max() if all_df.height else None)
    )
    if isinstance(first, date) and isinstance(last, date) and last >= first:
        days = pl.DataFrame({"_day": pl.date_range(first, last, "1d", eager=True)})
    else:
        days = pl.DataFrame(schema={"_day": pl.Date()})
    # Sessions and visitors per local day, every day of the period (and per week or month)
    daily = _series(s_df, days, "day", contacts_known)
    by = series_unit(opts.by, days.height)
    series = None if by == "day" else _series(s_df, days, by, contacts_known)

    top = opts.top
    tables: dict[str, pl.DataFrame] = {}
    tables["session_types"] = _ranked(
        s_df.group_by("type")
        .agg(sessions=pl.len().cast(pl.Int64))
        .with_columns(_share("sessions", n_sessions)),
        "sessions",
        ["type"],
        top,
    )
    if contacts_known:
        tables["contacts"] = _ranked(
            s_df.group_by(
                contact=pl.when(pl.col("_known")).then(pl.lit("known")).otherwise(pl.lit(UNKNOWN)),
                state=pl.col("_state"),
            ).agg(
                sessions=pl.len().cast(pl.Int64),
                visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            ),
            "sessions",
            ["contact", "state"],
            top,
        )
    else:
        tables["contacts"] = pl.DataFrame(
            schema={
                "contact": pl.String(),
                "state": pl.String(),
                "sessions": pl.Int64(),
                "visitors": pl.Int64(),
            }
        )

    titles = (
        title_counts.sort(
            ["page", "n", "page_title"], descending=[False, True, False], nulls_last=True
        )
        .group_by("page", maintain_order=True)
        .agg(title=pl.col("page_title").first())
    )
    tables["top_pages"] = _ranked(
        page_counts.join(titles, on="page", how="left").select(
            "page", "title", "page_views", "sessions", "visitors"
        ),
        "page_views",
        ["page"],
        top,
    )
    tables["entry_pages"] = _ranked(
        s_df.filter(pl.col("first_page_url").is_not_null())
        .group_by(page=_site_folded(s_df, "first_page_url"))
        .agg(
            sessions=pl.len().cast(pl.Int64),
            bounces=bounce.sum().cast(pl.Int64),
        )
        .with_columns(bounce_rate=(pl.col("bounces") / pl.col("sessions")).round(4)),
        "sessions",
        ["page"],
        top,
    )
    tables["exit_pages"] = _ranked(
        s_df.filter(pl.col("last_page_url").is_not_null())
        .group_by(page=_site_folded(s_df, "last_page_url"))
        .agg(sessions=pl.len().cast(pl.Int64)),
        "sessions",
        ["page"],
        top,
    )
    tables["top_searches"] = _ranked(searches, "searches", ["search"], top)
    # one row per referring host and medium (www.google.com search, www.google.com paid):
    # each row's sessions came that way, a visit with no host but a medium (an email
    # client's) among them, not under the direct visits. Only web sessions are visits: an
    # app or custom session (an order system's delivery) came from no page, and is no direct
    # visit either
    tables["channels"] = _channels(web, contacts_known)
    tables["referrers"] = _ranked(
        web.filter(~pl.col("_internal"))
        .group_by(referrer="referrer_hostname", medium="referrer_medium")
        .agg(
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        ),
        "sessions",
        ["referrer", "medium"],
        top,
    )
    camp = pl.any_horizontal(
        pl.col(c).is_not_null()
        for c in ("mkt_campaign_source", "mkt_campaign_medium", "mkt_campaign_name")
    )
    tables["campaigns"] = _ranked(
        s_df.filter(camp)
        .group_by(
            source="mkt_campaign_source", medium="mkt_campaign_medium", name="mkt_campaign_name"
        )
        .agg(
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        ),
        "sessions",
        ["source", "medium", "name"],
        top,
    )
    for name, col in (
        ("devices", "device_category"),
        ("browsers", "browser_family"),
    ):
        label = name[:-1]
        tables[name] = _ranked(
            s_df.group_by(pl.col(col).alias(label))
            .agg(sessions=pl.len().cast(pl.Int64))
            .with_columns(_share("sessions", n_sessions)),
            "sessions",
            [label],
            top,
        )
    tables["countries"] = _ranked(
        s_df.group_by(country="geolocation_country")
        .agg(
            country_name=pl.col("geolocation_country_name").drop_nulls().min(),
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        )
        .with_columns(_share("sessions", n_sessions)),
        "sessions",
        ["country"],
        top,
    )
    tables.update(traffic_tables)
    tables["segments"] = _ranked(segments, "sessions", ["segment_id"], top)
    tables["outcomes"] = _ranked(
        outcomes.with_columns(
            conversion_rate=(pl.col("sessions") / n_sessions).round(4)
            if n_sessions
            else pl.lit(None, pl.Float64)
        ),
        "sessions",
        ["outcome_id"],
        top,
    )
    tables["web_actions"] = _ranked(
        actions.select(
            "action_map_id",
            "sessions",
            "offered",
            "accepted",
            pl.when(pl.col("offered") > 0)
            .then((pl.col("accepted") / pl.col("offered")).round(4))
            .alias("acceptance_rate"),
            *[a for a in ACTION_STATES if a not in ("offered", "accepted")],
            "events",
            "display_name",
        ),
        "sessions",
        ["action_map_id"],
        top,
    )
    tables = {k: tables[k] for k in TABLES}

    notes: list[str] = []
    empty = None
    if all_df.height == 0 and (opts.since is not None or opts.until is not None):
        months = (
            sessions.lazy()
            .select(pl.col("created_date").dt.convert_time_zone(opts.tz).dt.strftime("%Y-%m"))
            .unique()
            .sort("created_date")
            .collect(engine="in-memory")
            .get_column("created_date")
            .to_list()
        )
        if months:
            end = opts.until - timedelta(days=1) if opts.until else None
            from jtrack.usecases.usage import months_text, period_words

            span = period_words(opts.since, end)

            shown = months_text(months)
            empty = f"no sessions in {span}; the input holds sessions in {shown}"
            notes.append(empty)
    elif not contacts_known and all_df.height:
        notes.append(
            "known versus Unknown needs resolved contacts: sessionize with --contacts FILE"
        )
    left_out = scope.note()
    if left_out:
        notes.append(left_out)
    period = {
        "from": first.isoformat() if isinstance(first, date) else None,
        "to": last.isoformat() if isinstance(last, date) else None,
    }
    return JourneyReport(
        options=opts,
        source=source or {},
        period=period,
        overview=overview,
        daily=daily,
        tables=tables,
        notes=notes,
        by=by,
        series=series,
        scope=scope,
        empty_period=empty,
    )


def _series(s_df: pl.DataFrame, days: pl.DataFrame, by: str, known: bool) -> pl.DataFrame:
    """The sessions of `s_df` (`_day`: their local day) per day, week or month of the
    period's `days`, every unit the days touch (a week at an edge of the period named by
    its Monday but counting the period's days only); visitors counted once in each unit."""
    every = {"day": "1d", "week": "1w", "month": "1mo"}[by]
    unit = pl.col("_day").dt.truncate(every).alias("_unit")
    per = s_df.group_by(unit).agg(
        sessions=pl.len().cast(pl.Int64),
        visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        page_views=pl.col("pageview_count").sum().cast(pl.Int64),
        known_sessions=pl.col("_known").sum().cast(pl.Int64),
    )
    label = pl.col("_unit").dt.strftime("%Y-%m" if by == "month" else "%Y-%m-%d")
    return (
        days.select(unit)
        .unique(maintain_order=True)
        .join(per, on="_unit", how="left", maintain_order="left")
        .with_columns(pl.col("sessions", "visitors", "page_views").fill_null(0))
        .with_columns(
            known_sessions=pl.col("known_sessions").fill_null(0)
            if known
            else pl.lit(None, pl.Int64)
        )
        .select(label.alias(by), pl.exclude("_unit"))
    )


def _channels(web: pl.DataFrame, known: bool) -> pl.DataFrame:
    """Web sessions per acquisition channel (`channel`, jtrack.core.channels): every channel
    that has any, whatever --top; their share of the web sessions, the share of them that
    are known (null without resolved contacts), and those that achieved an outcome."""
    n_web = web.height
    return _ranked(
        web.group_by("channel")
        .agg(
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            _known=pl.col("_known").sum().cast(pl.Int64),
            outcome_sessions=pl.col("_outcome").sum().cast(pl.Int64),
        )
        .select(
            "channel",
            "sessions",
            "visitors",
            _share("sessions", n_web),
            (
                (pl.col("_known") / pl.col("sessions")).round(4)
                if known
                else pl.lit(None, pl.Float64)
            ).alias("known_share"),
            "outcome_sessions",
        ),
        "sessions",
        ["channel"],
        len(CHANNELS),
    )


def _traffic_tables(s: pl.DataFrame, top: int) -> dict[str, pl.DataFrame]:
    """The traffic section over all sessions of the period (`_class`, `_agent`): sessions and
    events per class, in class order, and the `top` named agents by sessions."""
    n_sessions = s.height
    n_events = int(s.get_column("event_count").sum() or 0)
    per_class = class_shares(
        s.group_by(traffic_class="_class").agg(
            sessions=pl.len().cast(pl.Int64),
            events=pl.col("event_count").sum().cast(pl.Int64),
        ),
        n_sessions,
        n_events,
    )
    agents = _ranked(
        s.filter(pl.col("_agent").is_not_null())
        .group_by(agent="_agent", traffic_class="_class")
        .agg(
            sessions=pl.len().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
            events=pl.col("event_count").sum().cast(pl.Int64),
        ),
        "sessions",
        ["agent", "traffic_class"],
        top,
    )
    return {"traffic": per_class, "traffic_agents": agents}


def report_from_store(store: StoreLike, options: ReportOptions | None = None) -> JourneyReport:
    """The journey summary of a jtrack store (`jtrack.store.Store`)."""
    store = as_store(store)
    must_be(options, "options", ReportOptions, "a ReportOptions", none=True)
    report = journey_report(
        store.scan_sessions(),
        _store_events(store),
        options,
        {"store": store.shown, "version": store.pinned().name},
        events_of=_sessions_events(store),
    )
    _note_hidden(report, hidden_sessions(store, options or ReportOptions()))
    manifest = store.manifest()
    report.traffic_lists = manifest.get("traffic_lists")
    if not manifest.get("contacts") and report.overview.get("sessions"):
        report.notes.append(
            "the store follows no contacts file: every visitor is counted Unknown "
            "(`jtrack sessionize --contacts FILE` resolves them)"
        )
    if not manifest.get("counts", {}).get("events_kept"):
        report.warnings.append(f"{store.shown}: the store holds no events")
    return report


def started_in(tz: str, since: date | None, until: date | None) -> pl.Expr:
    """Whether a session (its `created_date`) started on a local day of `tz` from `since` to
    before `until` (None: open)."""
    day = pl.col("created_date").dt.convert_time_zone(tz).dt.date()
    keep = pl.lit(True)
    if since is not None:
        keep = keep & (day >= since)
    if until is not None:
        keep = keep & (day < until)
    return keep


def hidden_sessions(store: Any, opts: ReportOptions) -> int:
    """The custom sessions of the report's period and traffic classes that the active role
    may not see (0 for the plain store, or a role that sees them), so that the report says
    it counts fewer."""
    from jtrack.access import StoreView

    hidden = store.hidden_sessions() if isinstance(store, StoreView) else None
    if hidden is None:
        return 0
    return _count_hidden(hidden, opts)


def _note_hidden(report: JourneyReport, hidden: int) -> None:
    """The note of a report that counts fewer sessions than there are: `hidden` custom
    sessions of its period the role may not see."""
    if hidden:
        report.notes.append(hidden_sessions_note(hidden))


def hidden_sessions_note(hidden: int) -> str:
    """What a report says of the `hidden` custom sessions of its period its role may not see."""
    from jtrack.access import SESSIONTYPE_VIEW

    return (
        f"{hidden:,} custom session{'s' if hidden != 1 else ''} of the period hidden by "
        f"your role (needs {SESSIONTYPE_VIEW})"
    )


def _count_hidden(hidden: pl.LazyFrame, opts: ReportOptions) -> int:
    """How many of the `hidden` sessions are of the report's period and traffic classes."""
    lf = hidden.filter(traffic_expr(opts.traffic))  # (the classes the report counts)
    lf = lf.filter(started_in(opts.tz, opts.since, opts.until))
    return int(lf.select(pl.len()).collect(engine="in-memory").item())


#: The event columns of the report that the store keeps in its segments, not its index.
_SEGMENT_COLUMNS = (
    "segment_id",
    "outcome_id",
    "outcome_display_name",
    "action_id",
    "action_state",
    "action_map_id",
    "action_map_display_name",
)
#: The events those columns are read for (the others have none).
_WIDE_KINDS = (KIND_SEGMENT, KIND_OUTCOME, KIND_WEB_ACTION)


def _store_events(store: Any) -> pl.LazyFrame:
    """The report's event columns of a store. Only segment and outcome events need the
    columns kept in the segments (joined to the index by position): the others are read
    from the index alone, so the join is of those few events, not of every event (on a
    10M-event store it held every event's pages and ids in memory: 4.4 GB)."""
    narrow = [c for c in _EVENT_COLUMNS if c not in _SEGMENT_COLUMNS]
    marks = pl.col("kind").is_in(_WIDE_KINDS)
    plain = (
        store.scan_events(columns=narrow)
        .filter(~marks.fill_null(False))
        .with_columns(pl.lit(None, pl.String).alias(c) for c in _SEGMENT_COLUMNS)
    )
    # (read once for the report's seven tables, which collect_all runs together: each of
    # them joined the index to the segments again, 8.6 s of a year's report, now 3.4 s)
    marked = store.scan_events(columns=list(_EVENT_COLUMNS)).filter(marks.fill_null(False)).cache()
    cols = list(_EVENT_COLUMNS)
    return pl.concat([plain.select(cols), marked.select(cols)], how="vertical_relaxed")


#: Up to this share of a store's sessions, a period's events are read by their sessions' ids
#: (the index's narrow columns, then the segments' at the few segment and outcome events);
#: past it, every event is read and joined to them, streamed (a period of most of the store).
_BY_IDS_SHARE = 0.25


def _sessions_events(store: Any) -> Callable[[pl.Series], pl.LazyFrame | None]:
    """The report's event columns of some sessions of a store, from their ids (None past
    _BY_IDS_SHARE of its sessions), as its role may see them."""
    from jtrack.access import StoreView

    view = store if isinstance(store, StoreView) else None
    plain = view.unfiltered() if view is not None else store
    # (the pinned manifest's counts: not a copy of the whole manifest, its runs and inputs)
    stored = int((plain.pinned().manifest.counts or {}).get("sessions") or 0)

    def events_of(ids: pl.Series) -> pl.LazyFrame | None:
        if ids.len() > _BY_IDS_SHARE * stored:
            return None
        need = [c for c in ("kind", "session_type") if c not in _EVENT_COLUMNS]
        marks = pl.col("kind").is_in(_WIDE_KINDS)
        snap = plain.pinned()
        ev = snap.events([*_EVENT_COLUMNS, *need], session_ids=ids, wide_where=marks).lazy()
        if view is not None:
            ev = view.restrict_events(ev)
        return ev.select(_EVENT_COLUMNS)

    return events_of


def report_from_sources(
    sources: str | os.PathLike[str] | Sequence[Any],
    options: ReportOptions | None = None,
    *,
    stdin: Any = None,
    progress: ProgressFn | None = None,
    on_error: str = "fail",
    policy: Any = None,
    contacts: str | os.PathLike[str] | None = None,
    default_region: str | None = None,
) -> JourneyReport:
    """The journey summary of export files, sessionized in memory: a rejected row is an
    error (RejectedRowError; `on_error="fail"`, the default, as `jtrack report` and
    `read_events` have it), or with `on_error="skip"` left out and counted in a note and
    `warnings`; `progress` gets the engine's ProgressUpdates while the files are read and
    sessionized. `policy` (jtrack.access.Policy): the role's, applied to the sessions and
    events as a store's view applies it. `contacts`: a contacts file to resolve visitors
    with, as `sessionize --contacts` does (`default_region` for its phones without a
    country code); without one every visitor is Unknown, which a note says."""
    from jtrack.core.traffic import user_agent_list_version
    from jtrack.engine import sessionize_sources
    from jtrack.errors import RejectedRowError
    from jtrack.options import check_on_error
    from jtrack.read import nothing_accepted, zone_warnings
    from jtrack.read.validate import field_for_reason, nested_row_hint, reject_hint

    check_on_error(on_error)
    must_be(options, "options", ReportOptions, "a ReportOptions", none=True)
    from jtrack.read.sources import as_source_list

    sources = as_source_list(sources)  # (one path: one source, not its letters)
    run = sessionize_sources(
        sources,
        on_error="skip",
        stdin=stdin,
        progress=progress,
        contacts=os.fspath(contacts) if contacts is not None else None,
        default_region=default_region,
    )
    if not run.summary.files:  # (sources name only folders that hold a jtrack store)
        from jtrack.read import only_a_store

        raise only_a_store(sources)
    first_error = None
    own_hint = None
    if run.read.rejects.height:  # the first, in input order
        first = run.read.rejects.row(0, named=True)
        own_hint = nested_row_hint(first["reason"], first["raw"], first["file"])
        first_error = RejectedRowError(  # (named as sessionize and usage name it)
            first["file"],
            int(first["line"]),
            first["field"] or field_for_reason(first["reason"]),
            first["reason"],
            first["detail"],
            own_hint or reject_hint(first["detail"]),
        )
        first_error.own_hint = own_hint is not None
    error = nothing_accepted(
        run.summary.rows_read,
        run.summary.rejected,
        first_error.message if first_error is not None else None,
        own_hint,
    )
    if error is not None:
        raise error
    if on_error == "fail" and first_error is not None:
        from jtrack.usecases.usage import reading_hint

        with reading_hint():
            raise first_error
    sessions, events = run.result.sessions.lazy(), run.result.events.lazy()
    hidden = 0
    if policy is not None:  # what the role may see, masked as from a store
        from jtrack.access import SESSION_VIEW, STANDARD_SESSION_TYPES, protect, visible_events

        policy.require(SESSION_VIEW, "sessions")
        if not policy.sees_custom_sessions:
            standard = pl.col("type").is_in(list(STANDARD_SESSION_TYPES))
            hidden = _count_hidden(sessions.filter(~standard), options or ReportOptions())
            sessions = sessions.filter(standard)
        sessions = protect(sessions, policy)
        events = protect(events.filter(visible_events(policy)), policy)
    report = journey_report(
        sessions,
        events,
        options,
        {"files": sorted({f["file"] for f in run.summary.files})},
    )
    report.traffic_lists = user_agent_list_version()
    _note_hidden(report, hidden)
    if contacts is None:
        report.notes.append(
            "no contacts file: every visitor is counted Unknown (--contacts FILE resolves "
            "them, as sessionize does)"
        )
    report.notes += run.read.notes  # (fields the files hold that jtrack does not read)
    report.warnings += zone_warnings(run.read.files, stored=False)
    if run.summary.rejected:
        n = run.summary.rejected
        report.notes.append(f"{n} rejected {'row was' if n == 1 else 'rows were'} skipped")
        report.warnings.append(
            f"{n:,} rejected {'row is' if n == 1 else 'rows are'} left out (--on-error skip; "
            "`jtrack sessionize FILES --on-error skip --rejects FILE` lists why)"
        )
    report.warnings += [
        f"{f['file']}: the file holds no events (it is empty)"
        for f in run.summary.files
        if not f["rows_read"]
    ]
    if run.left_out is not None:  # (of folders and globs)
        report.warnings += run.left_out.warnings("counted")
    return report


__all__ = [
    "TABLES",
    "JourneyReport",
    "ReportOptions",
    "journey_report",
    "label_text",
    "report_from_sources",
    "report_from_store",
]
