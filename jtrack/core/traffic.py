"""Traffic classes: people told apart from AI agents, crawlers, monitors, scripts and scanners.

`classify_user_agents` matches each distinct user agent once against two maintained lists
(crawler-user-agents and ai-crawler-index, vendored in jtrack/core/data/) and jtrack's own rules
(jtrack/core/data/traffic_rules.toml). `session_traffic` adds what no list can see: how a session
behaves (page views faster than a person reads, no pause over hours). Pure Polars: imports Polars
and the standard library only, never prints, reads no store.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import polars as pl

# ---- the classes ----------------------------------------------------------------------------
HUMAN = "human"
AI_AGENT = "ai_agent"
SEARCH_CRAWLER = "search_crawler"
MONITORING = "monitoring"
HTTP_CLIENT = "http_client"
HEADLESS = "headless"
SUSPECT = "suspect"
TRAFFIC_CLASSES = (HUMAN, AI_AGENT, SEARCH_CRAWLER, MONITORING, HTTP_CLIENT, HEADLESS, SUSPECT)
#: The classes in sort order, for a column that reports group by class.
TRAFFIC_CLASS_DTYPE = pl.Enum(list(TRAFFIC_CLASSES))
#: Every class but `human`.
AUTOMATED_CLASSES = TRAFFIC_CLASSES[1:]

#: When a user agent matches entries of several classes, the first class here wins: the more
#: specific and the more consequential kind of automation first.
CLASS_PRIORITY = (AI_AGENT, HEADLESS, SUSPECT, MONITORING, SEARCH_CRAWLER, HTTP_CLIENT)

#: crawler-user-agents tags, in priority order, and the class each gives. An entry with tags
#: from several rows takes the first row's class. The list's other crawler tags (advertising,
#: social-preview, feed-reader, archiver, academic) are crawlers: SEARCH_CRAWLER.
TAG_CLASSES: tuple[tuple[str, str], ...] = (
    ("ai-crawler", AI_AGENT),
    ("browser-automation", HEADLESS),
    ("scanner", SUSPECT),
    ("monitoring", MONITORING),
    ("seo", MONITORING),
    ("search-engine", SEARCH_CRAWLER),
    ("http-library", HTTP_CLIENT),
)
#: ai-crawler-index categories that make an AI agent (its other categories are covered by
#: crawler-user-agents).
AI_INDEX_CATEGORIES = ("ai-training", "ai-search", "user-fetch", "dataset")

# ---- where a class came from (the `traffic_signal` prefix) ---------------------------------
SIGNAL_LIST = "user_agent_list"
SIGNAL_RULES = "jtrack_rules"
SIGNAL_BEHAVIOUR = "behaviour"

# ---- behaviour thresholds (session_traffic) -------------------------------------------------
#: A person does not read more than this many pages a minute over a whole session...
MAX_PAGEVIEWS_PER_MINUTE = 30.0
#: ...counted only on sessions with at least this many page views (a few quick page views,
#: redirects or a double load, say nothing).
RATE_MIN_PAGEVIEWS = 20
#: No person views this many pages in one session (no pause of the session gap, 20 minutes).
MAX_HUMAN_PAGEVIEWS = 500
#: A session at least this long...
NO_PAUSE_MIN_DURATION = timedelta(hours=2)
#: ...whose longest gap between two page views is shorter than this never paused: a person
#: reading for hours stops for longer at least once; a monitor polling every minute does not.
NO_PAUSE_MAX_GAP = timedelta(minutes=6)
#: Session types the behaviour signals apply to. App sessions (an app in the foreground) and
#: custom sessions (an order system's events, grouped by their own id, not by a gap) say
#: nothing about a person's reading speed.
BEHAVIOUR_SESSION_TYPES = ("web",)

#: Columns session_traffic reads from the session table. `pageview_gap_max_seconds` (the
#: longest pause between two page views) is the one the sessionizer adds for it; `type` is
#: optional (absent: web).
SESSION_INPUT_COLUMNS = (
    "user_agent_string",
    "pageview_count",
    "duration_in_seconds",
    "pageview_gap_max_seconds",
)
TRAFFIC_COLUMNS = ("traffic_class", "traffic_agent", "traffic_signal")

_DATA = "data"
_LISTS_FILE = "user_agent_lists.toml"
_RULES_FILE = "traffic_rules.toml"
_CUA = "crawler-user-agents"
_ACI = "ai-crawler-index"
_SOURCE_ORDER = {SIGNAL_RULES: 0, _ACI: 1, _CUA: 2}


# ---- data -----------------------------------------------------------------------------------
def _data_bytes(name: str) -> bytes:
    return files("jtrack.core").joinpath(_DATA, name).read_bytes()


@dataclass(frozen=True)
class UserAgentList:
    """One vendored list: the package it was copied from, its version and date."""

    key: str
    package: str
    version: str
    date: str
    file: str
    sha256: str
    licence: str

    def __str__(self) -> str:
        return f"{self.package} {self.version} ({self.date})"


@cache
def user_agent_lists() -> tuple[UserAgentList, ...]:
    """The vendored user-agent lists (package, version, date), as user_agent_lists.toml says."""
    meta = tomllib.loads(_data_bytes(_LISTS_FILE).decode("utf-8"))
    return tuple(
        UserAgentList(
            key=key,
            package=v["package"],
            version=v["version"],
            date=v["date"],
            file=v["file"],
            sha256=v["sha256"],
            licence=v["licence"],
        )
        for key, v in meta.items()
    )


def user_agent_list_version() -> str:
    """One line naming the pattern data in use, for output and reports, e.g.
    "crawler-user-agents 1.67.0 (2026-10-22), ai-crawler-index 1.3.0 (2026-09-05)"."""
    return ", ".join(str(x) for x in user_agent_lists())


def user_agent_list_checksums() -> dict[str, tuple[str, str]]:
    """For each list file: (the sha256 recorded in user_agent_lists.toml, the file's sha256)."""
    return {
        x.file: (x.sha256, hashlib.sha256(_data_bytes(x.file)).hexdigest())
        for x in user_agent_lists()
    }


# ---- compiling the lists and rules into one matcher -----------------------------------------
_REGEX_META = set("[](){}|^$*+?.")


def _as_literal(pattern: str) -> str | None:
    """The plain text a regex matches when it has no regex features (`Googlebot\\/` gives
    `Googlebot/`); None when it needs the regex engine."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern) and not pattern[i + 1].isalnum():
                out.append(pattern[i + 1])
                i += 2
                continue
            return None  # \d, \s, \b, ...
        if c in _REGEX_META:
            return None
        out.append(c)
        i += 1
    return "".join(out) or None


_NAME_TRIM = " ;:(),+-_.[]"


def _name_of(text: str) -> str:
    """An agent name from the text an entry matches: up to the version, trimmed."""
    return text.split("/", 1)[0].split(" (", 1)[0].strip(_NAME_TRIM) or text.strip()


def _name_expr(text: pl.Expr) -> pl.Expr:
    """_name_of for a column of matched texts."""
    first = text.str.split("/").list.first().str.split(" (").list.first()
    return first.str.strip_chars(_NAME_TRIM).replace("", None)


@dataclass(frozen=True)
class _Entry:
    cls: str
    source: str  # SIGNAL_RULES, _ACI or _CUA
    pattern: str
    literal: str | None
    agent: str | None  # a fixed name
    label: str | None  # what the signal says instead of the agent's name
    name_from_match: bool  # without a fixed name, the matched text names the agent
    fallback: bool

    def key(self, index: int) -> tuple[int, int, int, int, int, int]:
        """Sort key: fallbacks last, then class priority, rules before lists, plain text
        before regexes, longer text first, then the order of the files."""
        return (
            int(self.fallback),
            CLASS_PRIORITY.index(self.cls),
            _SOURCE_ORDER[self.source],
            int(self.literal is None),
            -len(self.literal or ""),
            index,
        )


def _cua_class(tags: list[str]) -> str:
    for tag, cls in TAG_CLASSES:
        if tag in tags:
            return cls
    return SEARCH_CRAWLER


def _check_regex(pattern: str, what: str) -> None:
    """Compile a rules-file regex once (Rust syntax, as Polars runs it): a typo fails here,
    naming the rule, rather than per row."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"traffic rules: {what} {pattern!r}: {exc}") from exc


def _rule_entry(rule: dict[str, Any], fallback: bool) -> _Entry:
    pattern, cls = rule["pattern"], rule["class"]
    if cls not in CLASS_PRIORITY:
        raise ValueError(f"traffic rules: {pattern!r} has an unknown class {cls!r}")
    if not (rule.get("agent") or rule.get("label")):
        raise ValueError(f"traffic rules: {pattern!r} needs an agent or a label")
    _check_regex(pattern, "rule")
    literal = _as_literal(pattern)
    return _Entry(
        cls=cls,
        source=SIGNAL_RULES,
        pattern=pattern,
        literal=literal,
        agent=rule.get("agent"),
        label=rule.get("label"),
        name_from_match=bool(rule.get("name_from_match", False)),
        fallback=fallback,
    )


def _cua_entry(e: dict[str, Any]) -> _Entry:
    literal = _as_literal(e["pattern"])
    return _Entry(
        cls=_cua_class(e.get("tags", [])),
        source=_CUA,
        pattern=e["pattern"],
        literal=literal,
        agent=_name_of(literal) if literal else None,
        label=None,
        name_from_match=literal is None,
        fallback=False,
    )


@dataclass(frozen=True)
class _Matcher:
    """Everything compiled once. Row i of `entries` is the entry of order i (0 is the best);
    `literals` go to the Aho-Corasick matcher, each with the order of its best entry;
    `regexes` are one regex per class (and one per fallback), each entry a named group
    `e<order>`; `exceptions` are removed from a user agent before matching."""

    entries: pl.DataFrame  # order, cls, source, agent, label, name_from_match, pattern
    literals: list[str]
    literal_orders: list[int]
    regexes: list[tuple[str, tuple[int, ...]]]  # (regex, the orders of its named groups)
    exceptions: list[str]
    browser: str


@cache
def _matcher() -> _Matcher:
    rules = tomllib.loads(_data_bytes(_RULES_FILE).decode("utf-8"))
    ignored = {r["pattern"] for r in rules.get("ignore", [])}
    entries = [_rule_entry(r, False) for r in rules.get("rule", [])]
    entries += [_rule_entry(r, True) for r in rules.get("fallback", [])]
    cua = json.loads(_data_bytes(f"{_CUA}.json"))
    entries += [_cua_entry(e) for e in cua if e["pattern"] not in ignored]
    aci = json.loads(_data_bytes(f"{_ACI}.json"))
    for c in aci["crawlers"]:
        token = c["ua"]
        if c["category"] not in AI_INDEX_CATEGORIES or not re.fullmatch(r"[\w.\- ]+", token):
            continue  # other categories, and control tokens that no crawler sends
        entries.append(
            _Entry(AI_AGENT, _ACI, re.escape(token), token, c["name"], None, False, False)
        )
    browser = rules["browser"]["pattern"]
    _check_regex(browser, "browser")

    ordered = [e for _, e in sorted((e.key(i), e) for i, e in enumerate(entries))]
    # A plain text that several entries share goes to the first of them (the best).
    literals: dict[str, int] = {}
    for order, e in enumerate(ordered):
        if e.literal is not None:
            literals.setdefault(e.literal, order)
    # One regex per class for the entries that need the regex engine. Each fallback gets a
    # regex of its own, so that a specific regex of the same class never hides it.
    by_class: dict[str, list[int]] = {}
    fallbacks: list[list[int]] = []
    for order, e in enumerate(ordered):
        if e.literal is None:
            if e.fallback:
                fallbacks.append([order])
            else:
                by_class.setdefault(e.cls, []).append(order)
    groups = [by_class[c] for c in CLASS_PRIORITY if c in by_class] + fallbacks
    regexes = [("|".join(f"(?P<e{i}>{ordered[i].pattern})" for i in g), tuple(g)) for g in groups]
    table = pl.DataFrame(
        {
            "order": range(len(ordered)),
            "cls": [e.cls for e in ordered],
            "source": [SIGNAL_RULES if e.source == SIGNAL_RULES else SIGNAL_LIST for e in ordered],
            "agent": [e.agent for e in ordered],
            "label": [e.label for e in ordered],
            "name_from_match": [e.name_from_match for e in ordered],
            "pattern": [e.pattern for e in ordered],
        },
        schema={
            "order": pl.UInt32,
            "cls": pl.String,
            "source": pl.String,
            "agent": pl.String,
            "label": pl.String,
            "name_from_match": pl.Boolean,
            "pattern": pl.String,
        },
    )
    return _Matcher(
        entries=table,
        literals=list(literals),
        literal_orders=list(literals.values()),
        regexes=regexes,
        exceptions=[x["text"] for x in rules.get("exception", [])],
        browser=browser,
    )


# ---- classifying user agents ----------------------------------------------------------------
def classify_user_agents(uas: pl.Series) -> pl.DataFrame:
    """The traffic class of each distinct user agent in `uas`.

    One row per distinct value (null included), sorted by user agent (nulls first):
    `user_agent` (String), `traffic_class` (one of TRAFFIC_CLASSES), `traffic_agent` (the
    agent's name where known: "GPTBot", "Googlebot", "curl"), `traffic_source`
    (SIGNAL_LIST, SIGNAL_RULES, or null when nothing matched) and `traffic_signal`
    (e.g. "user_agent_list:GPTBot", "jtrack_rules:empty user agent"; null for a person).

    A null user agent is no evidence: human, with no signal. Matching is case-sensitive, as
    the lists are written. The result for a user agent depends on that string alone, so
    classifying parts of a data set separately gives the same answers.
    """
    m = _matcher()
    df = pl.DataFrame({"user_agent": uas.cast(pl.String).unique().sort(nulls_last=False)})
    ua = pl.col("user_agent")
    # the text that is matched: the user agent less the exception texts (computed once; as an
    # expression it would be recomputed for every regex below)
    if m.exceptions:
        df = df.with_columns(_p=ua.str.replace_many(m.exceptions, [""] * len(m.exceptions)))
    else:
        df = df.with_columns(_p=ua)
    probe = pl.col("_p")

    # Every entry that matched gives its order; the smallest wins. Plain texts: one
    # Aho-Corasick pass. Regexes: one pass per class, whose named group tells the entry.
    lit_order = (
        probe.str.extract_many(m.literals, overlapping=True)
        .list.eval(
            pl.element().replace_strict(m.literals, m.literal_orders, return_dtype=pl.UInt32)
        )
        .list.min()
    )
    df = df.with_columns(
        lit_order.alias("_o_lit"),
        *[probe.str.extract_groups(rx).alias(f"_g{i}") for i, (rx, _) in enumerate(m.regexes)],
    )
    hits: list[tuple[pl.Expr, pl.Expr]] = []  # (order, matched text)
    for i, (_, names) in enumerate(m.regexes):
        g = pl.col(f"_g{i}")
        fields = [g.struct.field(f"e{n}") for n in names]
        order = pl.coalesce(
            [
                pl.when(f.is_not_null()).then(pl.lit(n, pl.UInt32))
                for f, n in zip(fields, names, strict=True)
            ]
        )
        hits.append((order, pl.coalesce(fields)))
    df = df.with_columns(
        *[o.alias(f"_o{i}") for i, (o, _) in enumerate(hits)],
        *[t.alias(f"_t{i}") for i, (_, t) in enumerate(hits)],
    )
    best = pl.min_horizontal(pl.col("_o_lit"), *[pl.col(f"_o{i}") for i in range(len(hits))])
    df = df.with_columns(_o=best)
    regex_text = pl.coalesce(
        [pl.when(pl.col(f"_o{i}") == pl.col("_o")).then(pl.col(f"_t{i}")) for i in range(len(hits))]
    )
    df = df.with_columns(_text=regex_text).join(
        m.entries, left_on="_o", right_on="order", how="left", maintain_order="left"
    )
    matched = pl.col("cls").is_not_null()
    agent = pl.coalesce(
        pl.col("agent"), pl.when(pl.col("name_from_match")).then(_name_expr(pl.col("_text")))
    )
    entry_signal = pl.concat_str(
        [pl.col("source"), pl.coalesce(pl.col("label"), agent, pl.col("pattern"))], separator=":"
    )
    not_browser = ua.is_not_null() & ~ua.str.contains(m.browser)
    return df.select(
        "user_agent",
        pl.when(matched)
        .then(pl.col("cls"))
        .when(not_browser)
        .then(pl.lit(SUSPECT))
        .otherwise(pl.lit(HUMAN))
        .alias("traffic_class"),
        agent.alias("traffic_agent"),
        pl.when(matched)
        .then(pl.col("source"))
        .when(not_browser)
        .then(pl.lit(SIGNAL_RULES))
        .alias("traffic_source"),
        pl.when(matched)
        .then(entry_signal)
        .when(not_browser)
        .then(pl.lit(f"{SIGNAL_RULES}:not a browser"))
        .alias("traffic_signal"),
    )


def user_agent_traffic(df: pl.DataFrame, column: str = "user_agent_string") -> pl.DataFrame:
    """`df` with traffic_class, traffic_agent and traffic_signal from its user-agent column,
    in the same row order: each distinct user agent is matched once and joined back."""
    lut = classify_user_agents(df.get_column(column)).select(
        pl.col("user_agent").alias(column), *TRAFFIC_COLUMNS
    )
    return df.join(lut, on=column, how="left", nulls_equal=True, maintain_order="left")


# ---- behaviour ------------------------------------------------------------------------------
def _short(seconds: pl.Expr) -> pl.Expr:
    """A duration as text: "2h 14m", "45m", "50s"."""
    s = seconds.floor().cast(pl.Int64)
    h, mnt = s // 3600, (s % 3600) // 60
    return (
        pl.when(s >= 3600)
        .then(pl.format("{}h {}m", h, mnt))
        .when(s >= 60)
        .then(pl.format("{}m", mnt))
        .otherwise(pl.format("{}s", s))
    )


def behaviour_signal() -> pl.Expr:
    """The behaviour signal of a session row (null: none), from SESSION_INPUT_COLUMNS and
    `type`. The first that holds, in this order:

    - more than MAX_PAGEVIEWS_PER_MINUTE page views a minute over the session, counted from
      RATE_MIN_PAGEVIEWS page views: "behaviour:page views per minute 45 > 30";
    - MAX_HUMAN_PAGEVIEWS page views or more: "behaviour:page views 900 >= 500";
    - NO_PAUSE_MIN_DURATION or longer with no gap between page views of NO_PAUSE_MAX_GAP:
      "behaviour:no pause over 2h 14m (longest 1m)".
    """
    pv = pl.col("pageview_count").cast(pl.Float64)
    duration = pl.col("duration_in_seconds").cast(pl.Float64)
    per_minute = pv * 60.0 / pl.max_horizontal(duration, pl.lit(1.0))
    gap_max = pl.col("pageview_gap_max_seconds").cast(pl.Float64)
    too_fast = (pv >= RATE_MIN_PAGEVIEWS) & (per_minute > MAX_PAGEVIEWS_PER_MINUTE)
    too_many = pv >= MAX_HUMAN_PAGEVIEWS
    no_pause = (duration >= NO_PAUSE_MIN_DURATION.total_seconds()) & (
        gap_max < NO_PAUSE_MAX_GAP.total_seconds()
    )
    b = SIGNAL_BEHAVIOUR
    return (
        pl.when(too_fast.fill_null(False))
        .then(
            pl.format(
                f"{b}:page views per minute {{}} > {MAX_PAGEVIEWS_PER_MINUTE:g}",
                per_minute.floor().cast(pl.Int64),
            )
        )
        .when(too_many.fill_null(False))
        .then(
            pl.format(
                f"{b}:page views {{}} >= {MAX_HUMAN_PAGEVIEWS}",
                pl.col("pageview_count").cast(pl.Int64),
            )
        )
        .when(no_pause.fill_null(False))
        .then(
            pl.format(f"{b}:no pause over {{}} (longest {{}})", _short(duration), _short(gap_max))
        )
    )


def session_traffic(sessions: pl.DataFrame) -> pl.DataFrame:
    """traffic_class, traffic_agent and traffic_signal for each row of a session table, in
    the same order (hstack it, or `with_columns` its columns).

    The user agent decides first: a session whose user agent a list or rule classes as
    automated keeps that class, agent and signal ("user_agent_list:GPTBot"). A session that
    looks like a person's (or has no user agent) and is a web session is then checked for
    behaviour (behaviour_signal); when a signal holds, the class is `suspect` with that
    signal and no agent. Otherwise: human, with null agent and signal.

    Reads SESSION_INPUT_COLUMNS (and `type` when present); raises ValueError naming any
    that is missing.
    """
    missing = [c for c in SESSION_INPUT_COLUMNS if c not in sessions.columns]
    if missing:
        raise ValueError(f"session_traffic needs the session columns {', '.join(missing)}")
    if "type" in sessions.columns:
        web = pl.col("type").is_in(list(BEHAVIOUR_SESSION_TYPES)).fill_null(False)
    else:
        web = pl.lit(True)
    by_ua = user_agent_traffic(sessions.select(*SESSION_INPUT_COLUMNS, web.alias("_web")))
    behaviour = pl.when(pl.col("_web") & (pl.col("traffic_class") == HUMAN)).then(
        behaviour_signal()
    )
    return by_ua.with_columns(_b=behaviour).select(
        pl.when(pl.col("_b").is_not_null())
        .then(pl.lit(SUSPECT))
        .otherwise(pl.col("traffic_class"))
        .alias("traffic_class"),
        pl.when(pl.col("_b").is_null()).then(pl.col("traffic_agent")).alias("traffic_agent"),
        pl.coalesce(pl.col("_b"), pl.col("traffic_signal")).alias("traffic_signal"),
    )


__all__ = [
    "AUTOMATED_CLASSES",
    "BEHAVIOUR_SESSION_TYPES",
    "CLASS_PRIORITY",
    "MAX_HUMAN_PAGEVIEWS",
    "MAX_PAGEVIEWS_PER_MINUTE",
    "NO_PAUSE_MAX_GAP",
    "NO_PAUSE_MIN_DURATION",
    "RATE_MIN_PAGEVIEWS",
    "SESSION_INPUT_COLUMNS",
    "SIGNAL_BEHAVIOUR",
    "SIGNAL_LIST",
    "SIGNAL_RULES",
    "TRAFFIC_CLASSES",
    "TRAFFIC_CLASS_DTYPE",
    "TRAFFIC_COLUMNS",
    "UserAgentList",
    "behaviour_signal",
    "classify_user_agents",
    "session_traffic",
    "user_agent_list_checksums",
    "user_agent_list_version",
    "user_agent_lists",
    "user_agent_traffic",
]
