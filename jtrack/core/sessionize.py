"""Split each visitor's deduplicated events into sessions. Pure Polars.

The sessionizer is a pure function of one visitor's events: any partition of the input by
customer_id gives the same sessions and the same ids. Imports Polars only.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash and .nchash namespaces)

from jtrack.core.buckets import DEFAULT_BUCKETS
from jtrack.core.traffic import TRAFFIC_COLUMNS, session_traffic
from jtrack.errors import DataError
from jtrack.options import SessionizeOptions
from jtrack.schema import (
    ACTIVITY_KINDS,
    EVENT_SCHEMA,
    KERNEL_COLUMNS,
    KIND_APP,
    KIND_SEARCH,
    KINDS,
    SESSION_SCHEMA,
)


def blake3_hex(key: pl.Expr) -> pl.Expr:
    """BLAKE3 of a string expression as 64 hex characters (stable across versions)."""
    return key.chash.blake3()  # type: ignore[attr-defined]


def _hex_id(key: pl.Expr) -> pl.Expr:
    """A stable, uuid-shaped id from a string key (the first 128 bits of its BLAKE3)."""
    return _uuid_shape(blake3_hex(key))


def _uuid_shape(h: pl.Expr) -> pl.Expr:
    parts = [h.str.slice(a, n) for a, n in ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))]
    return pl.concat_str(parts, separator="-")


def session_id_expr(first_event_id: pl.Expr) -> pl.Expr:
    """The deterministic session id: a hash of the session's first event id (an event is in
    one session: unique). Not of the visitor id, which a role may not see: a session id
    must not let anyone test a guess at it (jtrack.options.ID_RULE)."""
    return _hex_id(_session_key(first_event_id))


def _session_key(first_event_id: pl.Expr) -> pl.Expr:
    return pl.lit("session\x1f") + first_event_id


def _with_session_ids(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """`id` (session_id_expr of `_first_event_id`), hashing each key once: the one expression
    would hash it again for each of the five slices."""
    key = _session_key(pl.col("_first_event_id"))
    return (
        sessions.with_columns(blake3_hex(key).alias("_idh"))
        .with_columns(_uuid_shape(pl.col("_idh")).alias("id"))
        .drop("_idh")
    )


def in_custom_stream() -> pl.Expr:
    """Whether a row is in a custom session's stream (not the visitor's web or app one)."""
    return _is_custom()


def _is_custom() -> pl.Expr:
    t = pl.col("source_session_type")
    return (
        t.is_not_null()
        & ~t.str.to_lowercase().is_in(["web", "app"])
        & pl.col("source_session_id").is_not_null()
    )


def in_app_stream() -> pl.Expr:
    """Whether a row is in the visitor's app stream: app activity, and a system event
    (segment, outcome, web action) that names an app session (its `session.type`)."""
    kind = pl.col("kind")
    named_app = pl.col("source_session_type").str.to_lowercase() == "app"
    return ((kind == KIND_APP) | (~kind.is_in(list(ACTIVITY_KINDS)) & named_app)).fill_null(False)


def counts_as_activity() -> pl.Expr:
    """Rows that start or extend sessions: web and app activity, and every event of a custom
    session. The latest of them is the end of the data (the contacts' clock)."""
    return pl.col("kind").is_in(list(ACTIVITY_KINDS)) | _is_custom()


#: The host of a URL (`https://shop.example:8443/x` -> `shop.example`; an IPv6 address in
#: its brackets).
_URL_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*:/+(?:[^@/?#]*@)?(\[[^\]/?#]*\]|[^/?#:]+)"
#: A URL with a scheme (`https:/...`): its host or nothing, never the scheme.
_URL_SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*:/"


#: A punycode label (`xn--r8jz45g.jp`, `例え.jp` as an IDN is sent): in any case.
_ACE = "(?i)xn--"


def unicode_host(host: str) -> str:
    """A host name with each punycode label (`xn--...`, in any case) decoded to the Unicode
    it stands for, in lower case (`xn--r8jz45g.jp` is `例え.jp`); a label that is no valid
    punycode is kept as written."""
    labels = host.split(".")
    for i, label in enumerate(labels):
        if label[:4].lower() == "xn--":
            # (Python's idna codec is IDNA 2003, which refuses `xn--strae-oqa`, `straße`
            # under IDNA 2008: the punycode itself is decoded, as browsers show it)
            with contextlib.suppress(UnicodeError):
                text = label[4:].lower().encode("ascii").decode("punycode")
                # (`xn--bad-` encodes nothing beyond ASCII, `xn--a` a control character:
                # no name's label, kept as written)
                if not text.isascii() and all(
                    unicodedata.category(ch)[0] not in "CZ" for ch in text
                ):
                    labels[i] = text
    return ".".join(labels).lower()


def unicode_hosts(hosts: pl.Series) -> pl.Series:
    """`hosts` with those holding a punycode label as unicode_host gives them, decoded once
    per distinct value (a column without any costs one scan for `xn--`)."""
    ace = hosts.str.contains(_ACE)
    if not ace.any():
        return hosts
    found = hosts.filter(ace).unique().to_list()
    return hosts.replace({h: unicode_host(h) for h in found})


def _idna_sites(df: pl.DataFrame, columns: Sequence[str]) -> dict[str, str]:
    """The sites (as _site gives them) of `columns` that hold a punycode label, each with
    the Unicode site it stands for: worked out over distinct values, and nothing at all
    (one scan for `xn--`) when no host has one."""
    found = [
        col.filter(col.str.contains(_ACE)).unique() for col in (df.get_column(c) for c in columns)
    ]
    found = [f for f in found if len(f)]
    if not found:
        return {}
    sites = pl.concat(found).to_frame("h").select(_site(pl.col("h"))).to_series()
    distinct = sites.drop_nulls().unique().to_list()
    return {s: u for s in distinct if (u := unicode_host(s)) != s}


def _site(host: pl.Expr, idna: dict[str, str] | None = None) -> pl.Expr:
    """A host as a site: in any case, without user info, a path, a port, a leading `www.`
    or a trailing dot (`WWW.Shop.example.:8080` is `shop.example`), so a site's pages and
    its `www.` name are one; a URL (with a scheme, `//`, or none) is its host; an IPv6
    address is in brackets; nothing left is no site (null). `idna` (from _idna_sites): the
    sites written in punycode as their Unicode (`xn--r8jz45g.jp` is `例え.jp`)."""
    host = host.str.strip_chars()
    url_host = host.str.extract(_URL_HOST, 1)
    name = (
        pl.when(host.str.contains(_URL_SCHEME))
        .then(url_host)
        .otherwise(pl.coalesce(url_host, host))
        .str.strip_prefix("//")
        .str.replace(r"^[^/?#\[]*@", "")
        .str.replace(r"^([^\[/?#]*|\[[^\]]*\][^/?#]*)[/?#].*$", "${1}")
        .str.to_lowercase()
    )
    bare_ipv6 = name.str.contains(r"^[0-9a-f]*:[0-9a-f]*:[0-9a-f:.]*$")
    name = pl.when(bare_ipv6).then(pl.concat_str([pl.lit("["), name, pl.lit("]")])).otherwise(name)
    site = (
        name.str.replace(r"^(\[[^\]]*\]|[^:]*):\d*$", "${1}")
        .str.strip_suffix(".")
        .str.strip_prefix("www.")
        .replace("", None)
    )
    return site.replace(idna) if idna else site


def _given(column: str) -> pl.Expr:
    """A text column's value, null when blank (an export's `""` for a missing UTM field)."""
    return pl.col(column).str.strip_chars().replace("", None)


#: The hosts an arrival's source is told by (_campaign_key).
_SOURCE_HOSTS = ("referrer_hostname", "page_url")


def _campaign_key(idna: dict[str, str] | None = None) -> pl.Expr:
    """What identifies an arrival's source: its UTM source and campaign, else an external
    referrer: one whose medium is not `internal` and whose site is not the page's own
    (exports from other trackers often give no medium: a page reached from the site itself
    is no arrival; `www.shop.example` and `shop.example` are one site, and so are
    `xn--r8jz45g.jp` and `例え.jp`: `idna`, see _idna_sites). A page of the same UTM
    campaign reached from the site itself keeps its campaign's key."""
    ref_host = _site(pl.col("referrer_hostname"), idna)
    page_host = _site(pl.col("page_url"), idna)
    internal = (pl.col("referrer_medium").fill_null("") == "internal") | (
        ref_host == page_host
    ).fill_null(False)
    external_ref = pl.when(~internal).then(ref_host)
    utm = pl.concat_str(
        [_given("mkt_campaign_source"), _given("mkt_campaign_name")],
        separator="|",
        ignore_nulls=True,
    ).replace("", None)
    return pl.coalesce(utm, external_ref)


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
        (pl.col("_h") != pl.col("_h").shift(1))
        | (pl.col("_c") != pl.col("_c").shift(1))
        | (pl.col("_st") != pl.col("_st").shift(1))
        | (pl.col("_ck") != pl.col("_ck").shift(1)).fill_null(False)
    )
    df = df.with_columns(_g=cust_change.fill_null(True).cum_sum())
    prev_g = pl.when(act).then(pl.col("_g")).forward_fill().shift(1)
    prev_t = pl.when(act).then(t).forward_fill().shift(1)
    has_prev = (prev_g == pl.col("_g")).fill_null(False)
    new = act & (~has_prev | (gap_split & ((t - prev_t) >= opts.gap)))
    if opts.split_on_campaign_change:
        # Arrivals are told per instant of a gap session (the events of one page load):
        # an instant's source is that of its first row with one (UTM source/campaign, else
        # an external referrer). An instant whose source differs from the last source seen
        # earlier in the gap session, or that brings one after a start without any (a
        # direct visit), starts a new session at its first row; its other rows, whatever
        # their sources, stay in that session. So a session's own source is its first
        # instant's, never an earlier session's (which the gap closed).
        gs = new.cum_sum()
        df = df.with_columns(
            _gs=gs,
            _at=((gs != gs.shift(1)) | (t != t.shift(1))).fill_null(True).cum_sum(),
        )
        first_row = pl.col("_at") != pl.col("_at").shift(1).fill_null(-1)
        idna = _idna_sites(df, _SOURCE_HOSTS)
        source = pl.when(act).then(_campaign_key(idna)).drop_nulls().first().over("_at")
        at_first = pl.when(first_row).then(source)
        prev_source = at_first.forward_fill().shift(1)
        prev_gs = pl.when(at_first.is_not_null()).then(pl.col("_gs")).forward_fill().shift(1)
        sourced = (prev_gs == pl.col("_gs")).fill_null(False)  # (a source seen before)
        changed = (
            first_row
            & act
            & source.is_not_null()
            & (~sourced | (source != prev_source).fill_null(False))
        )
        new = new | (gap_split & changed)
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
    return df.drop("_g", "_new", *(["_gs", "_at"] if opts.split_on_campaign_change else []))


def _with_stream_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """Per row: its stream (`_st`: web 0, app 1, custom 2; `_ck` the custom session), whether
    it is visitor activity (`_act`) or a system event (`_is_sys`), its session type. (Each
    test is worked out once, in a column, then read by the others. Eager: a lazy plan would
    cut the columns in pieces, and sorting pieces takes twice the memory.)"""
    # (the session types lower-cased once each: a handful of values, not every row)
    types = rows.get_column("source_session_type").unique().drop_nulls()
    own = types.filter(types.str.to_lowercase().is_in(["web", "app"]))
    app_named = types.filter(types.str.to_lowercase() == "app")
    t = pl.col("source_session_type")
    custom = t.is_not_null() & ~t.is_in(own.implode()) & pl.col("source_session_id").is_not_null()
    activity = pl.col("kind").is_in(list(ACTIVITY_KINDS))
    rows = rows.with_columns(
        _custom=custom,
        _activity=activity,
        # (as in_app_stream: app activity, and system events naming an app session)
        _app=(pl.col("kind") == KIND_APP)
        | (~activity & t.is_in(app_named.implode())).fill_null(False),
    )
    custom, app = pl.col("_custom"), pl.col("_app")
    return rows.with_columns(
        (~pl.col("_activity")).alias("_is_sys"),
        # in a custom session every event counts as the session's activity
        (pl.col("_activity") | custom).alias("_act"),
        pl.when(custom)
        .then(pl.lit(2, pl.Int8))
        .when(app)
        .then(pl.lit(1, pl.Int8))
        .otherwise(pl.lit(0, pl.Int8))
        .alias("_st"),
        pl.when(custom)
        .then(
            pl.concat_str(
                [pl.col("source_session_type"), pl.col("source_session_id")], separator="\x1f"
            )
        )
        .alias("_ck"),
        pl.when(custom)
        .then(pl.col("source_session_type"))
        .when(app)
        .then(pl.lit("app"))
        .otherwise(pl.lit("web"))
        .alias("_type"),
    ).drop("_activity", "_app")


def index_order(rows: pl.DataFrame) -> pl.DataFrame:
    """Index rows (of any visitors, with `bucket`) in the store's order: bucket, visitor,
    stream, time, activity before system events, event id (what sessionize_rows gives)."""
    h = pl.col("customer_id").nchash.xxh3_64().alias("_h")  # type: ignore[attr-defined]
    keys = ["bucket", "_h", "customer_id", "_st", "_ck", "created_date", "_is_sys", "event_id"]
    return (
        _with_stream_columns(rows.with_columns(h))
        .sort(keys, maintain_order=True)
        .select(rows.columns)
    )


def _sessions_of(rows: pl.DataFrame, with_bucket: bool) -> pl.DataFrame:
    """One narrow row per session (`_sess`) from the sorted rows; `_pos` points at each
    row's wide data.

    Only activity rows make a session's figures, and every session has one. Within a session
    they are in time order (a session never spans two streams), so its start and end are
    its first and last activity rows. What depends on page views (the first and last one,
    the longest pause between two) is worked out on the rows, by filling forward and back
    within the session, so that the grouping does plain firsts, lasts, sums and maxima of
    sorted numbers (filtered aggregations are several times slower), and the text columns
    are gathered at each session's first and last row only. Search terms come from the few
    search rows, grouped apart.
    """
    s, t, pos = pl.col("_sess"), pl.col("created_date"), pl.col("_pos")
    pv = pl.col("_pv")
    pv_sess = pl.when(pv).then(s)
    flags = rows.select(
        _i=pl.int_range(pl.len(), dtype=pl.UInt32),
        _pv=pl.col("event_name") == "page_viewed",
        _search=pl.col("kind") == KIND_SEARCH,
    )
    activity = (
        pl.concat(
            [rows.select("_sess", "_act", "created_date", "_pos", "authenticated"), flags],
            how="horizontal",
        )
        .filter(pl.col("_act"))
        .with_columns(
            # the session's next and last page view, as seen from each row
            _next_pv=pl.when(pv_sess.backward_fill() == s).then(
                pl.when(pv).then(pos).backward_fill()
            ),
            _last_pv=pl.when(pv_sess.forward_fill() == s).then(
                pl.when(pv).then(pos).forward_fill()
            ),
            _pv_gap=pl.when(pv & (pv_sess.forward_fill().shift(1) == s)).then(
                t - pl.when(pv).then(t).forward_fill().shift(1)
            ),
            _sess=s.set_sorted(),
        )
    )
    sessions = activity.group_by("_sess", maintain_order=True).agg(
        pl.col("_i").first().alias("_fi"),
        pl.col("_i").last().alias("_li"),
        t.first().alias("created_date"),
        t.last().alias("ended_date"),
        pl.len().cast(pl.UInt32).alias("event_count"),
        pv.sum().cast(pl.UInt32).alias("pageview_count"),
        pl.col("_search").sum().cast(pl.UInt32).alias("search_count"),
        pl.col("authenticated").any().alias("authenticated"),
        pos.first().alias("_first_pos"),
        pos.last().alias("_last_pos"),
        pl.col("_next_pv").first().alias("_first_pv_pos"),
        pl.col("_last_pv").last().alias("_last_pv_pos"),
        # the longest pause between two page views (whole milliseconds, cut down as the
        # duration is; null under two views)
        (pl.col("_pv_gap").max().dt.total_microseconds() // 1_000 / 1_000)
        .round(3)
        .alias("pageview_gap_max_seconds"),
    )
    first, last = sessions.get_column("_fi"), sessions.get_column("_li")
    keys = ["customer_id", *(["bucket"] if with_bucket else []), "_h", "_c"]
    at_first = rows.select(
        *(pl.col(c).gather(first) for c in keys),
        pl.col("_type").gather(first).alias("type"),
        pl.col("event_id").gather(first).alias("_first_event_id"),
    )
    at_last = rows.select(
        pl.col("event_id").gather(last).alias("last_event_id"),
        pl.col("event_name").gather(last).alias("last_event_name"),
    )
    terms = (
        pl.concat(
            [rows.select("_sess", "_act", "search_query"), flags.select("_search")],
            how="horizontal",
        )
        .lazy()
        .filter(pl.col("_search") & pl.col("_act"))
        .group_by("_sess", maintain_order=True)
        .agg(pl.col("search_query").str.strip_chars().alias("search_terms"))
    )
    narrow = pl.concat([sessions, at_first, at_last], how="horizontal")
    return (
        _with_session_ids(
            narrow.lazy()
            .join(terms, on="_sess", how="left", maintain_order="left")
            .select(
                "_sess",
                *keys,
                "type",
                "created_date",
                "ended_date",
                "event_count",
                "pageview_count",
                "search_count",
                pl.col("search_terms").fill_null(pl.lit([], pl.List(pl.String()))),
                "_first_event_id",
                "last_event_id",
                "last_event_name",
                "authenticated",
                *POINTERS,
                "pageview_gap_max_seconds",
            )
        )
        .with_columns(
            # whole milliseconds, as the exports carry them (no float noise), cut down, never
            # rounded up: 19:59.9996 of a session is not the 20 minutes that would split it
            duration_in_seconds=(
                (pl.col("ended_date") - pl.col("created_date")).dt.total_microseconds()
                // 1_000
                / 1_000
            ).round(3),
        )
        .collect()
    )


#: Session columns taken from the session's first activity event.
FROM_FIRST_EVENT = (
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
#: Session columns taken from the first activity event, else (when null there) the last.
VISITOR_CONTEXT = (
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
#: Every event column the session table is built from (beyond the kernel's own columns):
#: what a context source must provide for the rows that sessions point at.
CONTEXT_COLUMNS: tuple[str, ...] = (*FROM_FIRST_EVENT, *VISITOR_CONTEXT, "page_url", "page_title")

#: The pointers of a narrow session row (positions of events whose context the session uses).
POINTERS = ("_first_pos", "_last_pos", "_first_pv_pos", "_last_pv_pos")


@dataclass
class KernelOutput:
    """What the sessionizer gives for one bucket's rows.

    index: the input rows in the store's order (bucket, visitor, stream, time, activity first,
    event id) with `session_id` and `session_type` (null: a system event of a visitor with no
    activity). sessions: one narrow row per session (ids, times, counts, search terms,
    visit number) plus POINTERS, the `_pos` of the events its context comes from; turn it
    into the session table with `attach_context`.
    """

    index: pl.DataFrame
    sessions: pl.DataFrame

    @property
    def unattached(self) -> int:
        """System events with no session of their stream (web or app) to join: kept, but in no
        session."""
        return int(self.index["session_id"].null_count())


def _sorted(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """`rows` sorted by `keys`. Where they start with a bucket of DEFAULT_BUCKETS (a power of
    two, 2^k) and the visitor hash it is taken of, the two are one key: the hash's low k bits
    (the bucket) then its high bits, which sorts alike and costs one key less (a third of
    the kernel's sort)."""
    k = DEFAULT_BUCKETS.bit_length() - 1
    if keys[:2] != ["bucket", "_h"] or rows.height == 0 or (1 << k) != DEFAULT_BUCKETS:
        return rows.sort(keys)
    h = pl.col("_h")
    low = h % DEFAULT_BUCKETS
    if not rows.select((pl.col("bucket").cast(pl.UInt64) == low).all()).item():
        return rows.sort(keys)  # (a store of another bucket count)
    one = (low * pl.lit(1 << (64 - k), pl.UInt64)) + (h // pl.lit(DEFAULT_BUCKETS, pl.UInt64))
    return rows.with_columns(_vk=one).sort(["_vk", *keys[2:]]).drop("_vk")


def visitor_hash() -> pl.Expr:
    """The 64-bit hash visitors are ordered by (xxh3 of customer_id, as buckets are)."""
    return pl.col("customer_id").nchash.xxh3_64()  # type: ignore[attr-defined]


def sessionize_rows(rows: pl.DataFrame, options: SessionizeOptions | None = None) -> KernelOutput:
    """Split deduplicated events into sessions: the kernel (`kernel`, which every engine
    calls on rows it has read and validated itself), its input checked first.

    `rows`: the KERNEL_COLUMNS of one or more visitors' events, of EVENT_SCHEMA's types (as
    `jtrack.read.read_events` gives them), and `_pos` (UInt64, unique: where each row's wide
    data lives; ties of time and id are never left to it). A missing column or another type
    is a UsageError naming it; an unknown `kind` or a null `created_date` a DataError.
    Not checked, and left to the caller: the rows are deduplicated (one row per event_id:
    `jtrack.core.dedupe.deduplicate`), far-future rows are left out, `_pos` is unique.
    See `kernel` for what it does.
    """
    from jtrack.checks import must_be

    must_be(rows, "rows", pl.DataFrame, "a polars DataFrame (of KERNEL_COLUMNS and _pos)")
    must_be(options, "options", SessionizeOptions, "a SessionizeOptions", none=True)
    rows = check_kernel_schema(rows)
    bad_kind = rows.filter(~pl.col("kind").is_in(KINDS) | pl.col("kind").is_null())
    if bad_kind.height:
        raise DataError(
            f"kind {bad_kind.item(0, 'kind')!r} (event {bad_kind.item(0, 'event_id')!r}) is "
            f"no event kind ({bad_kind.height:,} row{'s' if bad_kind.height != 1 else ''})",
            hint="kinds: " + ", ".join(KINDS) + " (as jtrack.read.read_events gives them)",
        )
    undated = rows.get_column("created_date").null_count()
    if undated:
        raise DataError(
            f"{undated:,} row{'s' if undated != 1 else ''} without a created_date",
            hint="every event needs its time (jtrack.read.read_events rejects such rows)",
        )
    return kernel(rows, options)


def check_kernel_schema(rows: pl.DataFrame, pos: bool = True) -> pl.DataFrame:
    """`rows` as the kernel reads them (KERNEL_COLUMNS, and `_pos` unless not `pos`): a time
    in another zone or unit converted (the same instants), `_pos` of another integer type
    cast; a missing column or another type a UsageError naming it. The schema only is read,
    and only a column of another type is touched."""
    from jtrack.errors import UsageError

    need = {c: EVENT_SCHEMA[c] for c in KERNEL_COLUMNS}
    if pos:
        need["_pos"] = pl.UInt64()
    schema = rows.schema
    casts: list[pl.Expr] = []
    for name, dtype in need.items():
        if name not in schema:
            raise UsageError(
                f"rows: no {name!r} column",
                hint=f"the kernel reads {', '.join(need)} ({name}: {dtype}); a frame in the "
                "flat shape (an export's columns) is read into them first: "
                "jtrack.read_events(frame).events",
            )
        have = schema[name]
        if have == dtype:
            continue
        if isinstance(dtype, pl.Datetime) and isinstance(have, pl.Datetime) and have.time_zone:
            col = pl.col(name).dt.convert_time_zone("UTC")
            casts.append(col.dt.cast_time_unit(dtype.time_unit or "us").cast(dtype))
        elif name == "_pos" and have.is_integer():
            low = rows.get_column(name).min()
            if isinstance(low, int) and low < 0:
                raise UsageError(
                    f"rows: column '_pos' holds {low}",
                    hint="_pos numbers the rows (where each one's wide data lives): 0, 1, 2...",
                )
            casts.append(pl.col(name).cast(dtype))
        else:
            raise UsageError(
                f"rows: column {name!r} is {have}, not {dtype}",
                hint=f"cast it (pl.col({name!r}).cast(...)), or read the events with "
                "jtrack.read.read_events",
            )
    return rows.with_columns(casts) if casts else rows


def kernel(rows: pl.DataFrame, options: SessionizeOptions | None = None) -> KernelOutput:
    """The sessionizer on rows known to be of its schema (sessionize_rows checks them).

    `rows`: the KERNEL_COLUMNS of one or more visitors' events (duplicates and far-future
    rows already left out) and `_pos` (UInt64, unique: where each row's wide data lives;
    ties of time and id are never left to it). A `bucket` column, when present, leads the
    order. Web and app activity of each visitor (customer_id) is ordered by created_date then
    event_id; a gap of `options.gap` or more starts a new session. Events of custom session
    types are grouped by their source session id. System events join the session open at
    their time (or the visitor's first session) and never start or extend one.

    The result depends on each visitor's rows only: any split of the input by visitor gives
    the same rows, sessions and ids. A pure function.
    """
    opts = options or SessionizeOptions()
    lead = ["bucket"] if "bucket" in rows.columns else []
    # One sort of narrow keys orders everything: the sessionizer and the output. Visitors are
    # ordered by a stable 64-bit hash (much cheaper to sort than the id strings); `_c`, the
    # id's rank, only separates two visitors whose hashes collide, and is only worked out
    # then (no Categorical: its global string cache grows with every visitor a long-lived
    # process such as `jtrack watch` ever sees).
    rows = _with_stream_columns(rows.with_columns(_h=visitor_hash(), _c=pl.lit(0, pl.UInt32)))
    # keys that cannot break a tie are left out of the sort (cheaper): the rank when no two
    # visitors share a hash, the custom session when there is none
    keys = [*lead, "_h", "_c", "_st", "_ck", "created_date", "_is_sys", "event_id"]
    if not rows.get_column("_custom").any():
        keys.remove("_ck")
    rows = _sorted(rows, [k for k in keys if k != "_c"])
    # two visitors share a hash when, sorted by it, two neighbours with the same hash are
    # different visitors (their rows interleave): then rank them, and sort again
    h, cid = pl.col("_h"), pl.col("customer_id")
    if rows.select(((h == h.shift(1)) & (cid != cid.shift(1))).any()).item():
        rows = rows.with_columns(_c=cid.rank("dense").cast(pl.UInt32)).sort(keys)
    rows = _assign_gap_sessions(rows, opts)

    # Every session number belongs to at least one activity row, so they are dense 1..S.
    # _sess never decreases in the sort order: a grouping of sorted keys (no hashing)
    sessions = _sessions_of(rows, bool(lead))
    # Each row's session by its dense number; rows in no session (no activity) get null.
    at = rows.get_column("_sess").cast(pl.Int64) - 1
    index = rows.with_columns(
        session_id=sessions.get_column("id").gather(at),
        session_type=sessions.get_column("type").gather(at),
    ).drop([c for c in rows.columns if c.startswith("_") and c != "_pos"])
    sessions = sessions.sort([*lead, "_h", "_c", "created_date", "id"]).with_columns(
        visit_number=visit_numbers("_h", "_c")
    )
    return KernelOutput(index=index, sessions=sessions.drop("_sess", "_h", "_c"))


def visit_numbers(*visitor: str, order_by: Sequence[str] | None = None) -> pl.Expr:
    """Each session's visit number: visits are web sessions (each arrival on the site),
    numbered 1.. per visitor (the `visitor` columns) in order of start (the frame's order, or
    `order_by`); an app or custom session (an order system's delivery) is no visit: null."""
    web = pl.col("type") == "web"
    count = web.cast(pl.UInt32).cum_sum()
    return pl.when(web).then(
        count.over(*visitor, order_by=list(order_by)) if order_by else count.over(*visitor)
    )


#: Positions spanning at most this many times their count are looked up in a table (a
#: unit of a 10M-event run in 15 units spans 15 times its rows: a 40 MB table, built and
#: gathered from four times in 35 ms, where the sorted search takes 85 ms).
_DENSE_SPAN = 16


class Positions:
    """Sorted, unique positions (`_pos`), and the row of each: `rows(values)`.

    Rows read in input order hold positions of few gaps: a table from position to row
    (scattered once, gathered for each lookup) finds them five times faster than a binary
    search of each value, whose probes miss the cache. Positions spread wider (several
    segments, a unit's share of a large input) are searched in sorted order, then put back."""

    def __init__(self, pos: pl.Series) -> None:
        self.pos = pos.cast(pl.UInt64)
        self.n = self.pos.len()
        self.lo = int(self.pos[0]) if self.n else 0
        self.hi = int(self.pos[-1]) if self.n else -1
        self.table: pl.Series | None = None
        if self.n and self.hi - self.lo < _DENSE_SPAN * self.n + 65_536:
            self.table = pl.repeat(None, self.hi - self.lo + 1, dtype=pl.UInt32, eager=True)
            self.table = self.table.scatter(
                self.pos - self.lo, pl.int_range(0, self.n, dtype=pl.UInt32, eager=True)
            )

    def rows(self, values: pl.Series) -> pl.Series:
        """The row (UInt32) of each of `values`, in their order; null where `values` is
        null or the positions do not hold it."""
        if self.n == 0 or values.len() == 0:
            return pl.repeat(None, values.len(), dtype=pl.UInt32, eager=True)
        values = values.cast(pl.UInt64)
        lo, hi = self.lo, self.hi
        if self.table is not None:
            inside = values.is_between(lo, hi)
            return self.table.gather(pl.select(pl.when(inside).then(values - lo)).to_series())
        order = values.arg_sort(nulls_last=True)
        wanted = values.gather(order)
        at = self.pos.search_sorted(wanted.fill_null(0), side="left").cast(pl.UInt32)
        found = self.pos.gather(at.clip(0, self.n - 1)) == wanted
        rows = pl.select(pl.when(found).then(at)).to_series()
        return pl.repeat(None, values.len(), dtype=pl.UInt32, eager=True).scatter(order, rows)


def locate(pos: pl.Series, values: pl.Series) -> pl.Series:
    """The row in `pos` (sorted, unique positions) of each of `values` (see Positions)."""
    return Positions(pos).rows(values)


def attach_context(
    sessions: pl.DataFrame, context: pl.DataFrame, positions: pl.Series | None = None
) -> pl.DataFrame:
    """The session table (SESSION_SCHEMA) from the kernel's narrow sessions and the context
    of the events they point at.

    `context` holds CONTEXT_COLUMNS for (at least) every position in the sessions' POINTERS;
    `positions` is each context row's `_pos` (default: its `_pos` column). A `bucket` column
    of the sessions is kept first. Contact columns are left null (see jtrack.core.contacts).
    """
    pos = positions if positions is not None else context.get_column("_pos")
    if not pos.is_sorted():
        order = pos.arg_sort()
        context, pos = context[order], pos.gather(order)
    if max(context.n_chunks("all"), default=1) > 1:
        # gathers from a frame in pieces (a Parquet file's row groups) are several times
        # slower than one copy into contiguous columns and gathers from that
        context = context.rechunk()

    at = Positions(pos)

    def take(pointer: str, cols: Sequence[str]) -> pl.DataFrame:
        return context.select(pl.col(list(cols)).gather(at.rows(sessions.get_column(pointer))))

    first = take("_first_pos", FROM_FIRST_EVENT + VISITOR_CONTEXT)
    # a visitor context field the first event lacks is the last event's: gathered for those
    # sessions only (a few: the rest keep their first event's)
    fp, lp = sessions.get_column("_first_pos"), sessions.get_column("_last_pos")
    todo = (
        first.select(
            pl.any_horizontal(pl.col(c).is_null() for c in VISITOR_CONTEXT)
            & pl.lit(fp).ne_missing(pl.lit(lp))
        )
        .to_series()
        .arg_true()
    )
    if todo.len():
        last = context.select(pl.col(list(VISITOR_CONTEXT)).gather(at.rows(lp.gather(todo))))
        mine = first.select(pl.col(list(VISITOR_CONTEXT)).gather(todo))
        first = first.with_columns(
            first.get_column(c).scatter(
                todo, mine.select(pl.coalesce(pl.col(c), last.get_column(c))).to_series()
            )
            for c in VISITOR_CONTEXT
        )
    first_pv = take("_first_pv_pos", ("page_url", "page_title")).rename(
        {"page_url": "first_page_url", "page_title": "first_page_title"}
    )
    last_pv = take("_last_pv_pos", ("page_url", "page_title")).rename(
        {"page_url": "last_page_url", "page_title": "last_page_title"}
    )
    out = pl.concat([sessions.drop(POINTERS), first, first_pv, last_pv], how="horizontal")
    out = out.drop(TRAFFIC_COLUMNS, strict=False)
    out = pl.concat([out, session_traffic(out)], how="horizontal")
    lead = ["bucket"] if "bucket" in out.columns else []
    return out.select(
        *lead,
        *[
            pl.col(c).cast(t) if c in out.columns else pl.lit(None, t).alias(c)
            for c, t in SESSION_SCHEMA.items()
        ],
    )


@dataclass
class Sessionized:
    """Canonical events with `session_id` and `session_type` (in the store's order), and the
    session table (SESSION_SCHEMA, contact columns null)."""

    events: pl.DataFrame
    sessions: pl.DataFrame

    @property
    def unattached(self) -> int:
        """System events with no session of their stream (web or app) to join: kept, but in no
        session."""
        return int(self.events["session_id"].null_count())


def sessionize(
    events: pl.DataFrame,
    options: SessionizeOptions | None = None,
    keep: pl.Series | None = None,
) -> Sessionized:
    """Sessionize a frame of canonical events held in memory (the kernel plus its context,
    for callers that have every column at hand), such as `jtrack.read_events(...).events`.

    An event delivered more than once is counted once, as `jtrack sessionize` counts it:
    without `keep`, the rows are deduplicated first (`jtrack.core.dedupe.deduplicate`: the
    first of each event id by created_date, then input order). `keep` (a boolean mask over
    `events`, such as `deduplicate(events).keep`) picks the rows itself: those it leaves
    out are in no session (an all-True mask keeps every row, a redelivered event counted
    each time). The engines call the kernel (`sessionize_rows`), which never deduplicates:
    their rows are deduplicated as they are read."""
    from jtrack.checks import must_be

    must_be(events, "events", pl.DataFrame, "a polars DataFrame (jtrack.read.read_events)")
    events = check_kernel_schema(events, pos=False)
    if keep is None:
        from jtrack.core.dedupe import deduplicate

        keep = deduplicate(events).keep  # (None still: no event id came twice)
    if max(events.n_chunks("all"), default=1) > 1:
        events = events.rechunk()
    rows = (
        events.select(KERNEL_COLUMNS)
        .with_row_index("_pos")
        .with_columns(pl.col("_pos").cast(pl.UInt64))
    )
    if keep is not None:
        rows = rows.filter(keep)
    out = sessionize_rows(rows, options)
    positions = pl.int_range(0, events.height, dtype=pl.UInt64, eager=True)
    sessions = attach_context(out.sessions, events, positions).sort(
        "customer_id", "created_date", "id"
    )
    internal = [c for c in events.columns if c.startswith("_")]
    order = out.index.get_column("_pos")
    wide = events.select(pl.all().exclude(internal).gather(order)).with_columns(
        out.index.get_column("session_id"), out.index.get_column("session_type")
    )
    return Sessionized(events=with_traffic_class(wide, sessions), sessions=sessions)


def with_traffic_class(rows: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Rows with their session's `traffic_class` (null for a row in no session)."""
    classes = sessions.select(session_id="id", traffic_class="traffic_class")
    return rows.drop("traffic_class", strict=False).join(
        classes, on="session_id", how="left", maintain_order="left"
    )


__all__ = [
    "CONTEXT_COLUMNS",
    "FROM_FIRST_EVENT",
    "POINTERS",
    "VISITOR_CONTEXT",
    "KernelOutput",
    "Positions",
    "Sessionized",
    "attach_context",
    "check_kernel_schema",
    "counts_as_activity",
    "in_app_stream",
    "in_custom_stream",
    "index_order",
    "kernel",
    "locate",
    "session_id_expr",
    "sessionize",
    "sessionize_rows",
    "with_traffic_class",
]
