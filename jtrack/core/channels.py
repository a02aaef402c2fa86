"""Acquisition channels: where a web session came from, from its campaign and its referrer.

GA4's default channel grouping, simplified, over the session table's columns (those of the
session's first activity event): the first rule of CHANNEL_RULES a session meets is its
channel (the README lists them, in order). Polars expressions only (a session's channel is
a chain of when/then over its own columns: no pass over the events); imports Polars and
the core's own site rule.

Terms the rules use:
- the campaign: any of the UTM source, medium or name (as the report's campaigns table);
  sources and mediums are compared in any case, without the spaces around them;
- a paid medium: a campaign medium of `cpc`, `ppc`, `retargeting`, one holding `cp` (`cpm`,
  `cpv`) or starting with `paid` (GA4's `^(.*cp.*|ppc|retargeting|paid.*)$`), or, with no
  campaign medium, a referrer medium of `paid`;
- a search engine, a social network: a campaign source that names one (`google`,
  `google.com`, `www.google.co.uk`; SEARCH_ENGINES, SOCIAL_NETWORKS); with no campaign
  source, the referrer: its medium (`search`, `social`) when it has one, else (no medium,
  `unknown` or `paid`) its host in those lists. An internal referrer is neither;
- an internal referrer: one whose medium is `internal`, or whose site is the site of the
  session's first page (in any case, with or without `www.`, as sessionize compares them).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from jtrack.core.sessionize import _site, unicode_hosts


def _punycode(site: str) -> str:
    """A site's name as DNS writes it (`bücher.test` is `xn--bcher-kva.test`); an ASCII one
    as it is, a label that cannot be written so as it is."""
    if site.isascii():
        return site
    labels = []
    for label in site.split("."):
        try:
            labels.append(label if label.isascii() else "xn--" + label.encode("punycode").decode())
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


#: The channels, in the order of their first rule (a channel's rows sort by sessions).
CHANNELS = (
    "Paid search",
    "Paid social",
    "Display",
    "Paid other",
    "Organic social",
    "Organic search",
    "Referral",
    "Email",
    "Affiliates",
    "Internal",
    "Direct",
    "Unassigned",
)

#: Search engines, as a campaign source or a referrer's host names them.
SEARCH_ENGINES = (
    "google",
    "bing",
    "yahoo",
    "duckduckgo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "naver",
    "startpage",
    "ask",
    "aol",
    "seznam",
    "brave",
)
#: Social networks, as a campaign source or a referrer's host names them (and the short
#: hosts of their links: t.co, x.com, lnkd.in, fb.me, youtu.be).
SOCIAL_NETWORKS = (
    "facebook",
    "fb",
    "instagram",
    "twitter",
    "linkedin",
    "pinterest",
    "tiktok",
    "reddit",
    "snapchat",
    "youtube",
    "threads",
    "tumblr",
    "vk",
    "weibo",
    "quora",
    "whatsapp",
)
_SHORT_SOCIAL = ("t.co", "x.com", "lnkd.in", "fb.me", "youtu.be")

#: GA4's paid mediums.
PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
DISPLAY_MEDIUMS = ("display", "banner", "expandable", "interstitial", "cpm")
SOCIAL_MEDIUMS = (
    "social",
    "social-network",
    "social-media",
    "sm",
    "social network",
    "social media",
)
EMAIL_WORDS = ("email", "e-mail", "e_mail", "e mail")
REFERRAL_MEDIUMS = ("referral", "app", "link")


def _names(names: tuple[str, ...], prefixes: str, short: tuple[str, ...] = ()) -> str:
    """A name (`google`), or a host of it (`www.google.co.uk`, `search.yahoo.com`)."""
    alt = "|".join(names)
    whole = f"^(?:(?:{prefixes})\\.)?(?:{alt})(?:\\.[a-z]{{2,3}}){{0,2}}$"
    if short:
        whole += "|^(?:" + "|".join(s.replace(".", r"\.") for s in short) + ")$"
    return whole


#: Android apps a referrer names (`android-app://com.google.android.googlequicksearchbox/`,
#: its host the app's package): Google's search app is search, as GA4 takes it.
_SEARCH_APPS = ("com.google.android.googlequicksearchbox",)
SEARCH_RE = _names(SEARCH_ENGINES, "www|search|m|html", _SEARCH_APPS)
SOCIAL_RE = _names(SOCIAL_NETWORKS, "www|m|l|lm|mobile|old|out", _SHORT_SOCIAL)


def _lower(col: str) -> pl.Expr:
    c = pl.col(col).str.strip_chars().str.to_lowercase()
    return pl.when(c != "").then(c)


#: A URL's host (and port), without its scheme and user info (of a first page whose text
#: holds its referrer's site: the few whose referrer may be the site itself).
_PAGE_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*:/+(?:[^@/?#]*@)?([^/?#]*)"
#: What a session's channel depends on: its campaign source, medium and name (whether it
#: has one), its referrer's medium and host, and whether that host is its first page's site.
_KEYS = (
    "mkt_campaign_source",
    "mkt_campaign_medium",
    "_cn",
    "referrer_medium",
    "referrer_hostname",
    "_same",
)


def with_channels(sessions: pl.DataFrame, page_column: str = "first_page_url") -> pl.DataFrame:
    """`sessions` with `channel` (one of CHANNELS) and `_internal` (whether its referrer is
    the site itself: medium `internal`, or the referrer's site is its first page's, in
    `page_column`). Its labels as the report's tables have them (label_text: trimmed, a
    blank one null). The rules are worked out once per distinct combination of what they
    read (a few dozen in a store of millions of sessions) and joined back; a first page is
    taken apart only where its text holds its referrer's site."""
    n = sessions.height
    rh = sessions.get_column("referrer_hostname")
    hosts = rh.drop_nulls().unique()
    site = unicode_hosts(hosts.to_frame("h").select(_site(pl.col("h"))).to_series())
    ref_site = rh.replace_strict(hosts, site, default=None, return_dtype=pl.String)
    # (a site in Unicode, `bücher.test`, whose first page names it in punycode, or the other
    # way round: both spellings looked for, the pages' sites compared in Unicode)
    distinct = site.drop_nulls().unique()
    spelt = distinct.filter(~distinct.str.contains(r"^[\x00-\x7f]*$"))  # (not ASCII)
    ascii_site = ref_site.replace(spelt, [_punycode(s) for s in spelt.to_list()])
    url = pl.col(page_column).str.to_lowercase()
    maybe = sessions.select(
        (
            url.str.contains(pl.lit(ref_site), literal=True)
            | url.str.contains(pl.lit(ascii_site), literal=True)
        ).fill_null(False)
    ).to_series()
    same = pl.repeat(False, n, dtype=pl.Boolean, eager=True)
    at = maybe.arg_true()
    if at.len():
        few = pl.DataFrame(
            {"u": sessions.get_column(page_column).gather(at), "s": ref_site.gather(at)}
        )
        page_site = unicode_hosts(
            few.select(_site(pl.col("u").str.extract(_PAGE_HOST, 1))).to_series()
        )
        same = same.scatter(at, (page_site == few.get_column("s")).fill_null(False))
    keyed = sessions.with_columns(
        _cn=pl.col("mkt_campaign_name").is_not_null(), _same=same.alias("_same")
    )
    combos = keyed.select(_KEYS).unique()
    medium = pl.col("referrer_medium").str.to_lowercase()
    combos = combos.with_columns(
        _internal=(medium == "internal").fill_null(False) | pl.col("_same")
    ).with_columns(_channel_expr())
    return keyed.join(
        combos, on=list(_KEYS), how="left", nulls_equal=True, maintain_order="left"
    ).drop("_cn", "_same")


def _channel_expr() -> pl.Expr:
    """A combination's channel (one of CHANNELS) from its _KEYS and `_internal`: the first
    rule it meets."""
    internal = pl.col("_internal")
    cs, cm = _lower("mkt_campaign_source"), _lower("mkt_campaign_medium")
    rm, host = _lower("referrer_medium"), _lower("referrer_hostname")
    campaign = cs.is_not_null() | cm.is_not_null() | pl.col("_cn")
    by_host = rm.is_null() | rm.is_in(["unknown", "paid"])

    def source(names: str, medium: str) -> pl.Expr:
        """The campaign source names one, else (none) the referrer is one."""
        ref = ~internal & ((rm == medium) | (by_host & host.str.contains(names)))
        return (
            pl.when(cs.is_not_null()).then(cs.str.contains(names)).otherwise(ref).fill_null(False)
        )

    search, social = source(SEARCH_RE, "search"), source(SOCIAL_RE, "social")
    paid = (
        pl.when(cm.is_not_null())
        .then(cm.str.contains(PAID_MEDIUM))
        .otherwise(~internal & (rm == "paid"))
        .fill_null(False)
    )
    email = (
        cs.is_in(EMAIL_WORDS) | cm.is_in(EMAIL_WORDS) | (cm.is_null() & (rm == "email"))
    ).fill_null(False)
    no_source = cs.is_null() & cm.is_null()  # (the referrer stands for the campaign)
    rules = [
        (paid & search, "Paid search"),
        (paid & social, "Paid social"),
        (cm.is_in(DISPLAY_MEDIUMS).fill_null(False), "Display"),
        (paid, "Paid other"),
        (social | cm.is_in(SOCIAL_MEDIUMS).fill_null(False), "Organic social"),
        (search | (cm == "organic").fill_null(False), "Organic search"),
        (cm.is_in(REFERRAL_MEDIUMS).fill_null(False), "Referral"),
        (email, "Email"),
        ((cm == "affiliate").fill_null(False), "Affiliates"),
        (no_source & internal, "Internal"),
        (no_source & host.is_not_null(), "Referral"),
        (~campaign, "Direct"),
    ]
    (first, label), rest = rules[0], rules[1:]
    chain: Any = pl.when(first).then(pl.lit(label))
    for cond, label in rest:
        chain = chain.when(cond).then(pl.lit(label))
    return chain.otherwise(pl.lit("Unassigned")).alias("channel")


__all__ = ["CHANNELS", "with_channels"]
