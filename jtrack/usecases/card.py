"""Session cards and customer journeys as plain data: what an agent looks at, for any renderer.

`build_card(store, id_or_prefix)` reads only the one session's rows (its visitor's bucket,
filtered by customer id and session id) and returns a `Card`; `build_journey(store, who)`
returns every session of one visitor or contact, newest first, with totals. The terminal
(jtrack.render.card), HTML (jtrack.render.html) and JSON outputs all render `Card.to_dict()`.
Imports Polars, the stdlib and other core modules (contacts, rules) only; never prints.

The JSON shape of `Card.to_dict()` (`jtrack card --format json`; every key always present,
`null` when the export does not say; times are ISO-8601 UTC with a `Z`, `*_local` times carry
the visitor's offset; `offset` is `h:mm:ss` from the session start, `offset_seconds` a float):

    card_version      2 (version 1 also carried emoji and tone colours: CHANGELOG)
    title             "Ada Lovelace · Web session · ended · a3cddf1f"
    session           {id, short_id, type, type_label, custom, source_session_id,
                       state ("active"|"ended"|"not_started"), as_of, gap_seconds}
    icon              {name ("web"|"app"|"custom")}: renderers draw it
    contact           {name ("Unknown" unless a saved contact matched), known, contact_id,
                       state ("known"|"temporary"|"expired"|null), match_method,
                       customer_id, customer_id_type, unverified_name,
                       unverified_emails, unverified_phones (what an unknown visitor
                       typed: null and [] for a known one)}
    traffic           {class (human, ai_agent, search_crawler, monitoring, http_client,
                       headless, suspect), agent (e.g. "GPTBot", or null), signal (what
                       decided it, e.g. "user_agent_list:GPTBot" or "behaviour:page views
                       900 >= 500"; null for a person), automated (class is not human)}
    timing            {start, end, duration_seconds, duration, timezone, start_local,
                       end_local}
    current_page      {title, url} or null when the session viewed no page
    first_page        {title, url} of its first page view (the landing page), or null
    device            {category, type, os_family, os_version, browser_family,
                       browser_version, browser_lang}
    location          {locality, region_name, country, country_name, timezone,
                       ip_organization}
    referrer          {url, hostname, name, medium}
    campaign          {source, medium, name, term, content}
    counts            {events, page_views, searches, journey_events}
    authenticated     true|false|null
    visit             {number, of}: "visit 3 of 5" for this visitor
    journey           [{index, event_id, kind, event_name, label, time, time_local,
                        offset, offset_seconds, tone ("positive"|"neutral"|"negative"),
                        color (the segment's own #RRGGBB on a segment entry that has
                        one, else null), page_title, page_url, search_query,
                        attributes [{name, data_type, value}], view_number, repeat_view,
                        segment_id, segment_name, outcome_id, outcome_name, action_id,
                        action_state, action_media_type, action_map_id, action_map_name,
                        source ("export"|"rules")}]  in time order
    searches          [{query, time, offset, offset_seconds, page_url, event_id}]
    segments          [{segment_id, display_name, color, matched_at, offset, event_id, source}]
    outcomes          [{outcome_id, display_name, achieved_at, offset, event_id, source,
                       tone ("positive", or "negative" when the rules say positive = false)}]
    notes             [str]: what the card does not know, and why
    hidden_events     int: events of this session the active role may not see

Segments and outcomes: each once per source. "export": the first segment_assigned /
outcome_achieved event of the session (its own event id). "rules": jtrack's rule matches,
from frames of SEGMENT_FRAME_SCHEMA / OUTCOME_FRAME_SCHEMA (jtrack.core.rules produces them; their
event_id is the event that completed the match) or from `rules=`; they also appear in the
journey map right after that event. A segment's display name is the id unless a frame names
it; its colour is used only when it is exactly #RRGGBB. Segments whose rule says
shown_to_agents = false are left off (and counted in the notes).

`Journey.to_dict()` (`jtrack journey --format json`): {card_version, query, matched_by
("customer_id"|"contact_id"|"email"|"phone"), contact {name, known, contact_id, state,
unverified_name, unverified_emails, unverified_phones}, customer_ids,
traffic {classes, left_out {sessions, events, by_class}}, totals {sessions, events,
page_views, searches, segments, outcomes, duration_seconds, duration, first_seen, last_seen,
by_type {type: sessions}, first_visit, last_visit, web_sessions, web_duration_seconds,
web_duration}, sessions [card objects, newest first], notes}. `first_seen`/`last_seen` span
every session (the first start, the last end); `first_visit`/`last_visit` are the starts of
the first and latest web sessions (null when there is none) and `web_*` count web
sessions only: visits and time on site (a custom session of an order system may last a
day). Totals count every
session of the traffic classes asked for (people only by default), also those a `limit`
leaves out; `traffic.left_out` counts the others. `segments`/`outcomes` are null for a role
that may not see them (as their sections are left out).

System events have no event name in the export; their `event_name` is `segment_assigned`,
`outcome_achieved` or `action_<state>` (e.g. `action_accepted`), which is also the name the
colour rules match.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from jtrack.checks import must_be
from jtrack.config import TONES
from jtrack.core.rules.load import RulesLike, as_rules
from jtrack.core.rules.model import SHOWN_TO_AGENTS_NOTE
from jtrack.core.traffic import HUMAN
from jtrack.errors import DataError, NotFoundError, UsageError
from jtrack.schema import (
    ACTIVITY_KINDS,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
)
from jtrack.serialize import iso_text
from jtrack.serialize import iso_z as _iso
from jtrack.store import Store
from jtrack.store.store import StoreLike, as_store
from jtrack.usecases.ids import ID_MIN
from jtrack.usecases.sessions import store_book_as_of
from jtrack.usecases.traffic import (
    DEFAULT_TRAFFIC,
    TrafficScope,
    check_traffic,
    traffic_expr,
    traffic_scope,
)

if TYPE_CHECKING:  # pragma: no cover
    from jtrack.core.rules.model import Rules

CARD_VERSION = 2
LOCAL_FMT = "%Y-%m-%dT%H:%M:%S%.3f%:z"
DEFAULT_GAP = timedelta(minutes=20)
UNKNOWN = "Unknown"


#: Event-name globs and their tone, tried after the `[card.colors]` table of the config;
#: the first match wins, anything unmatched is neutral.
DEFAULT_TONE_RULES: tuple[tuple[str, str], ...] = (
    ("*_added", "positive"),
    ("form_submitted", "positive"),
    ("*_completed", "positive"),
    ("*_purchased", "positive"),
    ("outcome_achieved", "positive"),
    ("action_accepted", "positive"),
    ("action_engaged", "positive"),
    ("*_abandoned", "negative"),
    ("*_removed", "negative"),
    ("*error*", "negative"),
    ("*_failed", "negative"),
    ("action_rejected", "negative"),
    ("action_timedout", "negative"),
)

_US = pl.Datetime("us", "UTC")
#: The frame of segment matches build_card accepts (the rules engine produces exactly this).
SEGMENT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "segment_id": pl.String(),
    "display_name": pl.String(),
    "color": pl.String(),
    "matched_at": _US,
    "event_id": pl.String(),
    "source": pl.String(),
}
#: The frame of outcome achievements build_card accepts.
OUTCOME_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "outcome_id": pl.String(),
    "display_name": pl.String(),
    "achieved_at": _US,
    "event_id": pl.String(),
    "source": pl.String(),
}
#: Optional contact columns of the session table (added by contact resolution).
CONTACT_COLUMNS = ("contact_id", "contact_name", "contact_state", "match_method")

_HEX = r"^#[0-9A-Fa-f]{6}$"


# ---------------------------------------------------------------------------- colour rules


def _glob_regex(glob: str) -> str:
    """A shell-style glob (`*`, `?`) as an anchored, case-insensitive regex."""
    out = []
    for ch in glob:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "(?i)^" + "".join(out) + "$"


def tone_rules_from_config(
    config: Mapping[str, Any], path: Path | None = None
) -> list[tuple[str, str]]:
    """The `[card.colors]` table of a config (event-name glob = positive|neutral|negative),
    checked as jtrack.config checks it (ConfigError naming the file and the key), in file
    order."""
    from jtrack.config import card_problems, problem_error

    problems = card_problems(config)
    if problems:
        raise problem_error(path, problems[0], len(problems) - 1)
    colors = config.get("card", {}).get("colors", {})
    return [(str(glob), str(tone).lower()) for glob, tone in colors.items()]


def tone_expr(name: pl.Expr, rules: Sequence[tuple[str, str]] = ()) -> pl.Expr:
    """positive|neutral|negative for each event name: `rules` first, then the defaults."""
    out: Any = pl
    for glob, tone in (*rules, *DEFAULT_TONE_RULES):
        out = out.when(name.str.contains(_glob_regex(glob))).then(pl.lit(tone))
    return pl.lit("neutral") if out is pl else out.otherwise(pl.lit("neutral"))


# ---------------------------------------------------------------------------- small helpers


def hms(seconds: float | None) -> str | None:
    """Seconds as h:mm:ss (whole seconds, truncated; negative with a leading -)."""
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _hms_expr(seconds: pl.Expr) -> pl.Expr:
    s = seconds.abs().floor().cast(pl.Int64)
    return pl.concat_str(
        [
            pl.when(seconds < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            (s // 3600).cast(pl.String),
            pl.lit(":"),
            (s % 3600 // 60).cast(pl.String).str.zfill(2),
            pl.lit(":"),
            (s % 60).cast(pl.String).str.zfill(2),
        ]
    )


def _offset_expr(at: pl.Expr, start: pl.Expr) -> pl.Expr:
    """Seconds from the session start (`start`, null: none), to the millisecond (cut down,
    as the session's duration is)."""
    us = (at - start).dt.total_microseconds()
    return (us.abs() // 1_000 * us.sign() / 1_000).round(3)  # (toward zero both ways)


def _local_iso(d: datetime | None, tz: ZoneInfo | None) -> str | None:
    if d is None or tz is None:
        return None
    spec = "microseconds" if d.microsecond % 1000 else "milliseconds"
    return d.astimezone(tz).isoformat(timespec=spec)


def _zone(name: str | None) -> ZoneInfo | None:
    """The visitor's zone, None for a name that is none (the card shows UTC only): unknown,
    or one Python's zone files have and Polars, which converts the times, does not
    (`posix/Europe/London`, `localtime`)."""
    from jtrack.config import polars_knows_zone

    if not name:
        return None
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        return None
    return zone if polars_knows_zone(name) else None


def type_label(session_type: str | None) -> str:
    """`web` -> "Web session", `delivery` -> "Delivery session"."""
    t = (session_type or "unknown").strip()
    if t.lower() == "web":
        return "Web session"
    if t.lower() == "app":
        return "App session"
    words = re.sub(r"[_\-]+", " ", t).strip() or "custom"
    return words[:1].upper() + words[1:] + " session"


def session_icon(session_type: str | None) -> dict[str, str]:
    """The icon name of a session type: web, app, or custom (renderers draw it)."""
    name = (session_type or "").lower()
    return {"name": name if name in ("web", "app") else "custom"}


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _valid_color(c: Any) -> str | None:
    return c if isinstance(c, str) and re.fullmatch(_HEX, c) else None


# ---------------------------------------------------------------------------- the card


@dataclass
class Card:
    """One session card: the documented JSON object (see the module docstring)."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @property
    def session_id(self) -> str:
        return str(self.data["session"]["id"])


@dataclass
class Journey:
    """All sessions of one visitor or contact, newest first, with totals."""

    query: str
    matched_by: str  # "customer_id", "contact_id", "email" or "phone" (a saved contact's)
    contact: dict[str, Any]
    customer_ids: list[str]
    cards: list[Card]
    totals: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    scope: TrafficScope = field(default_factory=TrafficScope)

    def to_dict(self) -> dict[str, Any]:
        return {
            "card_version": CARD_VERSION,
            "query": self.query,
            "matched_by": self.matched_by,
            "contact": self.contact,
            "customer_ids": self.customer_ids,
            "traffic": self.scope.to_dict(),
            "totals": self.totals,
            "sessions": [c.to_dict() for c in self.cards],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Context:
    as_of: datetime
    gap: timedelta
    rules: tuple[tuple[str, str], ...]
    #: outcomes a rules file says are not a success (`positive = false`): negative, whatever
    #: the tone of `outcome_achieved`
    negative_outcomes: frozenset[str] = frozenset()


def _context(
    store: Store,
    as_of: datetime | str | None,
    gap: timedelta | str | None,
    colors: Sequence[tuple[str, str]] | Mapping[str, str] | None,
) -> _Context:
    manifest = store.manifest()
    if isinstance(gap, str):  # (as --gap takes it: "30m")
        from jtrack.options import parse_duration

        gap = parse_duration(gap, "gap")
    if gap is not None and not isinstance(gap, timedelta):
        raise UsageError(f"gap {gap!r}", hint='a datetime.timedelta, or text such as "30m"')
    if gap is None:
        secs = (manifest.get("options") or {}).get("gap_seconds")
        gap = timedelta(seconds=float(secs)) if secs else DEFAULT_GAP
    if isinstance(as_of, str):  # (as --as-of takes it)
        from jtrack.usecases.sessions import parse_when

        as_of = parse_when(as_of, "as_of")
    if as_of is None:
        as_of = datetime.now(UTC)
    elif not isinstance(as_of, datetime):
        raise UsageError(f"as_of {as_of!r}", hint="a datetime, or ISO-8601 text")
    elif as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    if colors is None:
        rules: tuple[tuple[str, str], ...] = ()
    elif isinstance(colors, Mapping):
        rules = tuple((str(k), str(v)) for k, v in colors.items())
    else:
        rules = tuple(colors)
    for glob, tone in rules:
        if tone not in TONES:
            raise UsageError(
                f"colour rule {glob!r}: {tone!r} is not a tone",
                hint="use positive, neutral or negative",
            )
    return _Context(as_of.astimezone(UTC), gap, rules)


def _check_frame(
    frame: pl.DataFrame | None, schema: dict[str, pl.DataType], what: str
) -> pl.DataFrame | None:
    if frame is None:
        return None
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{what} frame is missing columns: {', '.join(missing)}",
            hint="expected columns: " + ", ".join(schema),
        )
    return _conform(frame, schema)


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def _hidden_visits(store: Store, customer: str, until: datetime | None = None) -> pl.Series:
    """The traffic classes of the visitor's sessions (begun by `until`) that the active role
    may not see (custom sessions, no visits), for the note that counts them (none for the
    plain store, or a role that sees every session)."""
    from jtrack.access import StoreView

    hidden = store.hidden_sessions(customer) if isinstance(store, StoreView) else None
    if hidden is None:
        return pl.Series("traffic_class", [], dtype=pl.String)
    if until is not None:
        hidden = hidden.filter(pl.col("created_date") <= until)
    return hidden.select("traffic_class").collect(engine="in-memory").get_column("traffic_class")


def _short_len(store: Store, ids: pl.Series) -> int:
    """jtrack.usecases.sessions.session_prefix_length (imported when a card needs it)."""
    from jtrack.usecases.sessions import session_prefix_length

    return session_prefix_length(store, ids)


def _find_session(store: Store, id_or_prefix: str) -> tuple[str, str, str | None]:
    """(session id, customer id, session type) for a full id or unique prefix (looked up in
    the session parts' id directories: see Snapshot.sessions_with_prefix)."""
    from jtrack.usecases.sessions import find_session

    return find_session(store, id_or_prefix)


#: The event columns contact resolution reads (all in the store's index).
_IDENTITY = ["customer_id", "created_date", "event_id", "traits", "customer_id_type"]

#: The event columns a card shows (the rest of what it shows comes from the session row).
CARD_EVENT_COLUMNS = (
    "event_id",
    "customer_id",
    "session_id",
    "kind",
    "event_name",
    "created_date",
    "page_title",
    "page_url",
    "search_query",
    "attributes",
    "authenticated",
    "segment_id",
    "outcome_id",
    "outcome_display_name",
    "action_id",
    "action_state",
    "action_media_type",
    "action_map_id",
    "action_map_display_name",
)


def _session_events(store: Store, customer_id: str, session_ids: Iterable[str]) -> pl.DataFrame:
    """The events of these sessions of one visitor, the card's columns: the visitor's index
    rows (one bucket's row groups), then the wide columns of just those events."""
    from jtrack.access import StoreView

    ids = list(session_ids)
    view = store if isinstance(store, StoreView) else None
    plain = view.unfiltered() if view is not None else store
    need = [c for c in ("kind", "session_type") if c not in CARD_EVENT_COLUMNS]
    ev = plain.pinned().events([*CARD_EVENT_COLUMNS, *need], customer_id, ids).lazy()
    if view is not None:
        ev = view.restrict_events(ev)
    return ev.select(CARD_EVENT_COLUMNS).collect(engine="in-memory")


#: The event columns a journey reads of every session (for the totals and the sessions
#: worked out again as of a time): the index's, and the segment and outcome ids.
_INDEX_EVENT_COLUMNS = (
    "session_id",
    "created_date",
    "kind",
    "event_name",
    "page_title",
    "page_url",
    "authenticated",
    "segment_id",
    "outcome_id",
)


def _index_events(store: Store, customer_id: str, session_ids: pl.Series) -> pl.DataFrame:
    """The events of these sessions of one visitor, _INDEX_EVENT_COLUMNS: read from the
    index, but the segment and outcome ids, read for segment and outcome events alone."""
    from jtrack.access import StoreView

    view = store if isinstance(store, StoreView) else None
    plain = view.unfiltered() if view is not None else store
    need = [c for c in ("kind", "session_type") if c not in _INDEX_EVENT_COLUMNS]
    ev = (
        plain.pinned()
        .events(
            [*_INDEX_EVENT_COLUMNS, *need],
            customer_id,
            session_ids,
            wide_where=pl.col("kind").is_in([KIND_SEGMENT, KIND_OUTCOME]),
        )
        .lazy()
    )
    if view is not None:
        ev = view.restrict_events(ev)
    return ev.select(_INDEX_EVENT_COLUMNS).collect(engine="in-memory")


def _session_params(
    items: Sequence[tuple[dict[str, Any], int, str | None]],
) -> tuple[pl.DataFrame, dict[str, str | None]]:
    """Per session: its start (`_start`) and the zone its local times are shown in (`_tz`:
    its own, else the visitor's; null when none Polars can convert to), by `session_id`; and
    the zone each session is said to be in (a name that may not be a known zone)."""
    names: dict[str, str | None] = {}
    rows = []
    for row, _, visitor_zone in items:
        sid = str(row["id"])
        tz_name = _str(row.get("geolocation_timezone")) or visitor_zone
        names[sid] = tz_name
        valid = tz_name if tz_name and _zone(tz_name) is not None else None
        rows.append((sid, row.get("created_date"), valid))
    params = pl.DataFrame(
        rows, schema={"session_id": pl.String(), "_start": _US, "_tz": pl.String()}, orient="row"
    )
    return params, names


def _with_params(frame: pl.DataFrame, params: pl.DataFrame) -> pl.DataFrame:
    return frame.join(params, on="session_id", how="left", maintain_order="left")


def _local_times(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (with `_tz`) with `time_local`: each row's `created_date` in its session's
    zone, null where there is none (one conversion per zone, whatever the sessions)."""
    if frame.get_column("_tz").null_count() == frame.height:
        return frame.with_columns(time_local=pl.lit(None, dtype=pl.String))
    parts = []
    for part in frame.with_row_index("_r").partition_by("_tz", maintain_order=True):
        tz = part.get_column("_tz")[0]
        local = (
            iso_text(pl.col("created_date").dt.convert_time_zone(tz), LOCAL_FMT)
            if tz is not None
            else pl.lit(None, dtype=pl.String)
        )
        parts.append(part.with_columns(time_local=local))
    return pl.concat(parts).sort("_r").drop("_r")


def _journey_frames(
    ev: pl.DataFrame,
    params: pl.DataFrame,
    ctx: _Context,
    seg_names: pl.DataFrame,
    rule_segments: pl.DataFrame,
    rule_outcomes: pl.DataFrame,
) -> pl.DataFrame:
    """One row per journey-map entry of each session (`session_id`), in time order within
    the session, with everything the card shows."""
    kind = pl.col("kind")
    state = pl.col("action_state").str.to_lowercase().fill_null("unknown")
    name = (
        pl.when(kind == KIND_SEGMENT)
        .then(pl.lit("segment_assigned"))
        .when(kind == KIND_OUTCOME)
        .then(pl.lit("outcome_achieved"))
        .when(kind == KIND_WEB_ACTION)
        .then(pl.lit("action_") + state)
        .otherwise(pl.coalesce(pl.col("event_name"), kind))
    )
    base = ev.select(
        "session_id",
        "event_id",
        "kind",
        "created_date",
        "page_title",
        "page_url",
        "search_query",
        "attributes",
        "segment_id",
        "outcome_id",
        "action_id",
        "action_state",
        "action_media_type",
        "action_map_id",
        pl.col("action_map_display_name").alias("action_map_name"),
        pl.col("outcome_display_name").alias("outcome_name"),
        name.alias("event_name"),
        pl.lit("export").alias("source"),
    )
    extra = []
    if rule_segments.height:
        extra.append(
            rule_segments.select(
                pl.col("session_id"),
                pl.col("event_id"),
                pl.lit(KIND_SEGMENT).alias("kind"),
                pl.col("matched_at").alias("created_date"),
                pl.col("segment_id"),
                pl.lit("segment_assigned").alias("event_name"),
                pl.col("source"),
            )
        )
    if rule_outcomes.height:
        extra.append(
            rule_outcomes.select(
                pl.col("session_id"),
                pl.col("event_id"),
                pl.lit(KIND_OUTCOME).alias("kind"),
                pl.col("achieved_at").alias("created_date"),
                pl.col("outcome_id"),
                pl.col("display_name").alias("outcome_name"),
                pl.lit("outcome_achieved").alias("event_name"),
                pl.col("source"),
            )
        )
    frame = pl.concat([base, *extra], how="diagonal_relaxed") if extra else base
    is_sys = ~pl.col("kind").is_in(list(ACTIVITY_KINDS))
    # (segments and outcomes at one moment in the order of their sections and of `sessions
    # --rules`: time, id)
    ids = [c for c in ("segment_id", "outcome_id") if c in frame.columns]
    frame = frame.sort(
        [
            pl.col("session_id"),
            pl.col("created_date"),
            is_sys,
            *ids,
            pl.col("source"),
            pl.col("event_id"),
        ],
        nulls_last=True,
        maintain_order=True,
    )
    frame = frame.join(seg_names, on="segment_id", how="left", maintain_order="left").with_columns(
        segment_name=pl.coalesce(pl.col("segment_name"), pl.col("segment_id"))
    )
    is_view = pl.col("event_name") == "page_viewed"
    page_key = pl.coalesce(pl.col("page_url"), pl.col("page_title"), pl.lit(""))
    offset_s = _offset_expr(pl.col("created_date"), pl.col("_start"))

    def given(c: str) -> pl.Expr:  # (an empty title is no title: the URL stands for it)
        return pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c))

    label = (
        pl.when(kind.is_in([KIND_PAGE_VIEW]))
        .then(pl.coalesce(given("page_title"), given("page_url"), pl.lit("(untitled page)")))
        .when(kind == KIND_SEARCH)
        .then(pl.col("search_query").fill_null(""))
        .when(kind == KIND_SEGMENT)
        .then(pl.coalesce(pl.col("segment_name"), pl.col("segment_id"), pl.lit("(segment)")))
        .when(kind == KIND_OUTCOME)
        .then(pl.coalesce(pl.col("outcome_name"), pl.col("outcome_id"), pl.lit("(outcome)")))
        .when(kind == KIND_WEB_ACTION)
        .then(
            pl.concat_str(
                [
                    pl.coalesce(
                        pl.col("action_map_name"), pl.col("action_map_id"), pl.lit("web action")
                    ),
                    pl.lit(" ("),
                    pl.col("action_state").fill_null("unknown state"),
                    pl.lit(")"),
                ]
            )
        )
        .otherwise(pl.col("event_name"))
    )
    tone = tone_expr(pl.col("event_name"), ctx.rules)
    if ctx.negative_outcomes:
        failed = (kind == KIND_OUTCOME) & pl.col("outcome_id").is_in(list(ctx.negative_outcomes))
        tone = pl.when(failed.fill_null(False)).then(pl.lit("negative")).otherwise(tone)
    # the data's own colour only (a segment's); tones are coloured by the renderers
    color = pl.when(kind == KIND_SEGMENT).then(pl.col("segment_color"))
    view_no = pl.when(is_view).then(
        is_view.cast(pl.UInt32).cum_sum().over([pl.col("session_id"), page_key])
    )
    frame = _local_times(_with_params(frame, params)).with_columns(
        index=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("session_id"),
        label=label,
        time=iso_text(pl.col("created_date")),
        offset_seconds=offset_s,
        tone=tone,
        view_number=view_no.cast(pl.Int64),
    )
    return frame.with_columns(
        offset=_hms_expr(pl.col("offset_seconds")),
        color=color,
        repeat_view=(pl.col("view_number") > 1).fill_null(False),
    ).drop("_start", "_tz")


JOURNEY_KEYS = (
    "index",
    "event_id",
    "kind",
    "event_name",
    "label",
    "time",
    "time_local",
    "offset",
    "offset_seconds",
    "tone",
    "color",
    "page_title",
    "page_url",
    "search_query",
    "attributes",
    "view_number",
    "repeat_view",
    "segment_id",
    "segment_name",
    "outcome_id",
    "outcome_name",
    "action_id",
    "action_state",
    "action_media_type",
    "action_map_id",
    "action_map_name",
    "source",
)


def _records(frame: pl.DataFrame, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each session's rows (by `session_id`, in the frame's order) as dicts of exactly
    `keys`, datetimes already ISO strings."""
    present = [k for k in keys if k in frame.columns]
    out: dict[str, list[dict[str, Any]]] = {}
    if not frame.height:
        return out
    sids = frame.get_column("session_id").to_list()
    for sid, r in zip(sids, frame.select(present).to_dicts(), strict=True):
        out.setdefault(sid, []).append({k: r.get(k) for k in keys})
    return out


def _segment_frames(
    ev: pl.DataFrame, session_ids: Sequence[str], segments: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(names by segment id, rules matches of these sessions, all matches for their
    sections, by `session_id`).

    A section lists each segment once per source: the export's first assignment (from the
    session's own events) and the rules' match. Export rows of `segments` only lend names."""
    given = segments if segments is not None else pl.DataFrame(schema=SEGMENT_FRAME_SCHEMA)
    rules = given.filter(
        pl.col("session_id").is_in(list(session_ids)) & (pl.col("source") != "export")
    )
    names = (
        given.filter(pl.col("display_name").is_not_null() | pl.col("color").is_not_null())
        .group_by("segment_id", maintain_order=True)
        .agg(
            pl.col("display_name").drop_nulls().first().alias("segment_name"),
            pl.col("color")
            .filter(pl.col("color").str.contains(_HEX))
            .first()
            .alias("segment_color"),
        )
    )
    exported = (
        ev.filter((pl.col("kind") == KIND_SEGMENT) & pl.col("segment_id").is_not_null())
        .unique(["session_id", "segment_id"], keep="first", maintain_order=True)
        .select("session_id", "segment_id", "created_date", "event_id")
        .join(names, on="segment_id", how="left", maintain_order="left")
        .select(
            "session_id",
            "segment_id",
            pl.col("segment_name").alias("display_name"),
            pl.col("segment_color").alias("color"),
            pl.col("created_date").alias("matched_at"),
            "event_id",
            pl.lit("export").alias("source"),
        )
    )
    section = pl.concat(
        [_conform(exported, SEGMENT_FRAME_SCHEMA), _conform(rules, SEGMENT_FRAME_SCHEMA)]
    ).with_columns(
        color=pl.when(pl.col("color").str.contains(_HEX)).then(pl.col("color")),
        display_name=pl.coalesce(pl.col("display_name"), pl.col("segment_id")),
    )
    section = section.sort(
        ["session_id", "matched_at", "segment_id", "source"], maintain_order=True
    )
    return names, rules, section


def _outcome_frames(
    ev: pl.DataFrame, session_ids: Sequence[str], outcomes: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rules achievements of these sessions, all achievements for their sections, by
    `session_id`)."""
    given = outcomes if outcomes is not None else pl.DataFrame(schema=OUTCOME_FRAME_SCHEMA)
    rules = given.filter(
        pl.col("session_id").is_in(list(session_ids)) & (pl.col("source") != "export")
    )
    names = (
        given.filter(pl.col("display_name").is_not_null())
        .group_by("outcome_id", maintain_order=True)
        .agg(pl.col("display_name").first().alias("_name"))
    )
    exported = (
        ev.filter((pl.col("kind") == KIND_OUTCOME) & pl.col("outcome_id").is_not_null())
        .unique(["session_id", "outcome_id"], keep="first", maintain_order=True)
        .join(names, on="outcome_id", how="left", maintain_order="left")
        .select(
            "session_id",
            "outcome_id",
            pl.coalesce(pl.col("outcome_display_name"), pl.col("_name")).alias("display_name"),
            pl.col("created_date").alias("achieved_at"),
            "event_id",
            pl.lit("export").alias("source"),
        )
    )
    section = pl.concat(
        [_conform(exported, OUTCOME_FRAME_SCHEMA), _conform(rules, OUTCOME_FRAME_SCHEMA)]
    ).with_columns(display_name=pl.coalesce(pl.col("display_name"), pl.col("outcome_id")))
    section = section.sort(
        ["session_id", "achieved_at", "outcome_id", "source"], maintain_order=True
    )
    return rules, section


def _offset_cols(frame: pl.DataFrame, at: str, params: pl.DataFrame) -> pl.DataFrame:
    secs = _offset_expr(pl.col(at), pl.col("_start"))
    return (
        _with_params(frame, params.select("session_id", "_start"))
        .with_columns(iso_text(pl.col(at)).alias(at), offset=_hms_expr(secs), offset_seconds=secs)
        .drop("_start")
    )


def _cards_from(
    items: Sequence[tuple[dict[str, Any], int, str | None]],
    ev: pl.DataFrame,
    ctx: _Context,
    segments: pl.DataFrame | None,
    outcomes: pl.DataFrame | None,
    contacts_resolved: bool,
    hidden: frozenset[str] = frozenset(),
    short_len: int = ID_MIN,
) -> list[Card]:
    """The cards of sessions, each given as (its row, the visits of its visitor begun by
    then, the visitor's zone on the site), from `ev`: their events (`session_id`), each
    session's in its order. Every session's journey is worked out in one set of queries,
    whatever their number (a crawler's journey holds thousands). `short_len`: how many
    characters of an id a title shows (their shortest unique prefix, which `jtrack card`
    takes back)."""
    sids = [str(row["id"]) for row, _, _ in items]
    params, tz_names = _session_params(items)
    n_hidden: dict[str, int] = {}
    if hidden:
        # segments not shown to agents (shown_to_agents = false): neither listed nor mapped
        hide = pl.col("segment_id").is_in(sorted(hidden)).fill_null(False)
        dropped = [ev.filter((pl.col("kind") == KIND_SEGMENT) & hide).select("session_id")]
        ev = ev.filter(~((pl.col("kind") == KIND_SEGMENT) & hide))
        if segments is not None:
            dropped.append(
                segments.filter(
                    pl.col("session_id").is_in(sids) & (pl.col("source") != "export") & hide
                ).select("session_id")
            )
            segments = segments.filter(~hide)
        counted = pl.concat(dropped).group_by("session_id").len()
        n_hidden = dict(counted.iter_rows())

    names, rule_segs, seg_section = _segment_frames(ev, sids, segments)
    rule_outs, out_section = _outcome_frames(ev, sids, outcomes)
    jf = _journey_frames(ev, params, ctx, names, rule_segs, rule_outs)
    journeys = _records(jf, JOURNEY_KEYS)
    searches_f = _offset_cols(
        jf.filter(pl.col("kind") == KIND_SEARCH).select(
            "session_id",
            pl.col("search_query").alias("query"),
            pl.col("created_date").alias("time"),
            "page_url",
            "event_id",
        ),
        "time",
        params,
    )
    searches = _records(
        searches_f, ("query", "time", "offset", "offset_seconds", "page_url", "event_id")
    )
    segs = _records(
        _offset_cols(seg_section, "matched_at", params),
        ("segment_id", "display_name", "color", "matched_at", "offset", "event_id", "source"),
    )
    outs = _records(
        _offset_cols(out_section, "achieved_at", params),
        ("outcome_id", "display_name", "achieved_at", "offset", "event_id", "source"),
    )
    # the sessions whose events record whether the visitor was logged in (else: null)
    flagged: set[str] | None = None
    if "authenticated" in ev.columns:
        flagged = set(
            ev.filter(pl.col("authenticated").is_not_null()).get_column("session_id").unique()
        )
    return [
        _card(
            row,
            visits,
            ctx,
            contacts_resolved,
            tz_names[str(row["id"])],
            short_len,
            journeys.get(str(row["id"]), []),
            searches.get(str(row["id"]), []),
            segs.get(str(row["id"]), []),
            outs.get(str(row["id"]), []),
            n_hidden.get(str(row["id"]), 0),
            flagged is None or str(row["id"]) in flagged,
        )
        for row, visits, _ in items
    ]


def _card(
    row: dict[str, Any],
    visits: int,
    ctx: _Context,
    contacts_resolved: bool,
    tz_name: str | None,
    short_len: int,
    journey: list[dict[str, Any]],
    searches: list[dict[str, Any]],
    segs: list[dict[str, Any]],
    outs: list[dict[str, Any]],
    n_hidden: int,
    flagged: bool,
) -> Card:
    """One session's card from its row and its sections (see _cards_from)."""
    sid = str(row["id"])
    start: datetime | None = row.get("created_date")
    end: datetime | None = row.get("ended_date")
    own_zone = _str(row.get("geolocation_timezone"))
    # a session the export gives no zone (an order system's delivery) is shown in the
    # visitor's zone on the site, where one is known (see _visitor_zone)
    zone = _zone(tz_name)
    notes: list[str] = []
    if n_hidden:
        notes.append(
            f"{n_hidden} segment match{'es' if n_hidden > 1 else ''} not shown to agents "
            + SHOWN_TO_AGENTS_NOTE
        )
    for o in outs:  # (an outcome the rules call no success is negative: jtrack.core.rules)
        o["tone"] = "negative" if o["outcome_id"] in ctx.negative_outcomes else "positive"

    # ---- state relative to as_of
    if start is not None and ctx.as_of < start:
        state = "not_started"
    elif end is not None and ctx.as_of - end < ctx.gap:
        state = "active"
    else:
        state = "ended"

    contact_state = _str(row.get("contact_state"))
    contact_name = _str(row.get("contact_name"))
    if contact_state is not None:
        known = contact_state == "known"
    else:
        known = bool(contact_name) and contact_name != UNKNOWN
    if not known:
        contact_name = None
    if not contacts_resolved:
        notes.append(
            "visitor not matched to a contact: no contacts were resolved for this store "
            "(pass --contacts FILE)"
        )
    if tz_name and zone is None:
        notes.append(f"time zone {tz_name!r} in the export is not a known IANA zone")
    elif not tz_name:
        notes.append("the export gives this session no time zone; times are UTC only")
    elif not own_zone:
        notes.append(
            f"local times are in {tz_name}, the visitor's zone on the site: the export "
            "gives this session none"
        )
    stype = _str(row.get("type")) or "web"
    custom = stype.lower() not in ("web", "app")
    short_id = sid[:short_len]
    name = contact_name or UNKNOWN
    title = f"{name} · {type_label(stype)} · {state.replace('_', ' ')} · {short_id}"
    page_title = _str(row.get("last_page_title"))
    page_url = _str(row.get("last_page_url"))
    first_title = _str(row.get("first_page_title"))
    first_url = _str(row.get("first_page_url"))
    data: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "title": title,
        "session": {
            "id": sid,
            "short_id": short_id,
            "type": stype,
            "type_label": type_label(stype),
            "custom": custom,
            "source_session_id": _str(row.get("source_session_id")),
            "state": state,
            "as_of": _iso(ctx.as_of),
            "gap_seconds": ctx.gap.total_seconds(),
        },
        "icon": session_icon(stype),
        "contact": {
            "name": name,
            "known": known,
            "contact_id": _str(row.get("contact_id")),
            "state": contact_state,
            "match_method": _str(row.get("match_method")),
            "customer_id": _str(row.get("customer_id")),
            "customer_id_type": _str(row.get("customer_id_type")),
            # what an unknown visitor typed (set by build_card / build_journey)
            "unverified_name": None,
            "unverified_emails": [],
            "unverified_phones": [],
        },
        "traffic": _traffic(row),
        "timing": {
            "start": _iso(start),
            "end": _iso(end),
            "duration_seconds": row.get("duration_in_seconds"),
            "duration": hms(row.get("duration_in_seconds")),
            "timezone": tz_name,
            "start_local": _local_iso(start, zone),
            "end_local": _local_iso(end, zone),
        },
        "current_page": (
            {"title": page_title, "url": page_url} if (page_title or page_url) else None
        ),
        "first_page": (
            {"title": first_title, "url": first_url} if (first_title or first_url) else None
        ),
        "device": {
            "category": _str(row.get("device_category")),
            "type": _str(row.get("device_type")),
            "os_family": _str(row.get("device_os_family")),
            "os_version": _str(row.get("device_os_version")),
            "browser_family": _str(row.get("browser_family")),
            "browser_version": _str(row.get("browser_version")),
            "browser_lang": _str(row.get("browser_lang")),
        },
        "location": {
            "locality": _str(row.get("geolocation_locality")),
            "region_name": _str(row.get("geolocation_region_name")),
            "country": _str(row.get("geolocation_country")),
            "country_name": _str(row.get("geolocation_country_name")),
            "timezone": own_zone,
            "ip_organization": _str(row.get("ip_organization")),
        },
        "referrer": {
            "url": _str(row.get("referrer_url")),
            "hostname": _str(row.get("referrer_hostname")),
            "name": _str(row.get("referrer_name")),
            "medium": _str(row.get("referrer_medium")),
        },
        "campaign": {
            "source": _str(row.get("mkt_campaign_source")),
            "medium": _str(row.get("mkt_campaign_medium")),
            "name": _str(row.get("mkt_campaign_name")),
            "term": _str(row.get("mkt_campaign_term")),
            "content": _str(row.get("mkt_campaign_content")),
        },
        "counts": {
            "events": row.get("event_count"),
            "page_views": row.get("pageview_count"),
            "searches": row.get("search_count"),
            "journey_events": len(journey),
        },
        "authenticated": (
            None if not flagged or row.get("authenticated") is None else bool(row["authenticated"])
        ),
        "visit": {"number": row.get("visit_number"), "of": visits},
        "journey": journey,
        "searches": searches,
        "segments": segs,
        "outcomes": outs,
        "notes": notes,
    }
    return Card(data)


def _traffic(row: dict[str, Any]) -> dict[str, Any]:
    """The session's traffic class, agent and deciding signal (a session without a class
    counts as human)."""
    cls = _str(row.get("traffic_class")) or HUMAN
    return {
        "class": cls,
        "agent": _str(row.get("traffic_agent")),
        "signal": _str(row.get("traffic_signal")),
        "automated": cls != HUMAN,
    }


def _add_unverified(
    cards: Sequence[Card], identity: pl.LazyFrame | pl.DataFrame, default_region: str | None
) -> None:
    """The unverified details (what the visitor typed: name, emails, phones) on the cards
    of unknown visitors, from the traits of `identity` (their events, up to the clock)."""
    unknown = sorted(
        {c.data["contact"]["customer_id"] for c in cards if not c.data["contact"]["known"]} - {None}
    )
    if not unknown:
        return
    from jtrack.core.contacts import unverified_details

    found = {
        r["customer_id"]: r
        for r in unverified_details(identity, unknown, default_region).iter_rows(named=True)
    }
    for card in cards:
        contact = card.data["contact"]
        got = found.get(contact["customer_id"]) if not contact["known"] else None
        if got is not None:
            contact["unverified_name"] = got["unverified_name"]
            contact["unverified_emails"] = list(got["unverified_emails"] or [])
            contact["unverified_phones"] = list(got["unverified_phones"] or [])


def _with_outcome_tones(ctx: _Context, rules: Rules | None) -> _Context:
    """`ctx` knowing the outcomes the rules call no success (`positive = false`)."""
    if rules is None:
        return ctx
    negative = frozenset(o.id for o in rules.outcomes if not o.positive)
    return replace(ctx, negative_outcomes=negative) if negative else ctx


def _rule_frames(
    store: Store,
    rules: Rules | None,
    session_ids: list[str],
    segments: pl.DataFrame | None,
    outcomes: pl.DataFrame | None,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None, frozenset[str]]:
    """The segment and outcome frames with the rules' matches for these sessions added, and
    the ids of segments not shown to agents."""
    if rules is None:
        return segments, outcomes, frozenset()
    from jtrack.usecases.rules import evaluate_store

    res = evaluate_store(store, rules, session_ids)
    segs = _conform(res.segments, SEGMENT_FRAME_SCHEMA)
    outs = _conform(res.outcomes, OUTCOME_FRAME_SCHEMA)
    if segments is not None:
        segs = pl.concat([segments, segs])
    if outcomes is not None:
        outs = pl.concat([outcomes, outs])
    hidden = frozenset(s.id for s in rules.segments if not s.shown_to_agents)
    return segs, outs, hidden


def _reading_book(
    store: Store,
    contacts: str | os.PathLike[str] | pl.DataFrame | None,
    default_region: str | None,
) -> pl.DataFrame | None:
    """The contacts file given, read once, without the contacts the store erased (as runs
    read it: jtrack.usecases.sessions.reading_book)."""
    if contacts is None:
        return None
    from jtrack.usecases.sessions import reading_book

    return reading_book(store, contacts, default_region)


def _resolve_contacts(
    sessions: pl.DataFrame,
    events: pl.LazyFrame,
    contacts: str | os.PathLike[str] | pl.DataFrame | None,
    default_region: str | None,
    as_of: datetime,
    saved: tuple[pl.DataFrame, str | None] | None = None,
) -> tuple[pl.DataFrame, bool]:
    """Sessions with the contact columns as of `as_of`, and whether contacts were resolved.

    With a contacts file, the sessions are resolved against it (jtrack.core.contacts reads the
    traits of `events`, the unfiltered events of the sessions' visitors, up to `as_of`);
    without one, with `saved` (the store's own book and the region it was read with, passed
    when `as_of` comes before some of the visitor's events: store_book_as_of) the same
    against it; else the store's own resolution (if any) is kept
    and only temporary-contact expiry re-evaluated.
    """
    stored = "contact_id" in sessions.columns
    if contacts is None and not stored:
        return sessions, False
    from jtrack.core.contacts import apply_contacts, resolve_contacts

    if contacts is None and saved is not None:
        # the store's resolution is over every event; as of a time before some of them, the
        # visitor is resolved again against the store's own book, from the traits seen by then
        book, region = saved
        out = resolve_contacts(
            sessions, events, book, default_region=default_region or region, as_of=as_of, cut=True
        )
        return out.select(sessions.columns), True
    out = apply_contacts(sessions, events, contacts, default_region=default_region, as_of=as_of)
    return out, True


#: The session figures _sessions_as_of works out again.
_AS_OF_FIELDS = (
    "ended_date",
    "duration_in_seconds",
    "event_count",
    "pageview_count",
    "search_count",
    "authenticated",
    "first_page_title",
    "first_page_url",
    "last_page_title",
    "last_page_url",
)


def _sessions_as_of(sessions: pl.DataFrame, ev: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """`sessions` with the figures of those that have events after `as_of` (in `ev`: at
    least session_id, created_date, kind, event_name, page_title, page_url) worked out again
    from their events by then, as sessionize does (over activity events): the end, duration,
    counts, logged in, first and last page. One query, whatever the number of sessions."""
    at = pl.col("created_date")
    late = ev.filter(at > as_of).select("session_id").unique()
    if not late.height:
        return sessions
    act = (
        ev.join(late, on="session_id", how="semi")
        .filter((at <= as_of) & pl.col("kind").is_in(list(ACTIVITY_KINDS)))
        .sort("session_id", "created_date", maintain_order=True)
    )
    view = pl.col("event_name") == "page_viewed"
    figures = [
        at.max().alias("ended_date"),
        pl.len().alias("event_count"),
        view.sum().alias("pageview_count"),
        (pl.col("kind") == KIND_SEARCH).sum().alias("search_count"),
        pl.col("page_title").filter(view).first().alias("first_page_title"),
        pl.col("page_url").filter(view).first().alias("first_page_url"),
        pl.col("page_title").filter(view).last().alias("last_page_title"),
        pl.col("page_url").filter(view).last().alias("last_page_url"),
    ]
    auth = "authenticated" in act.columns and "authenticated" in sessions.columns
    if auth:  # (as sessionize: any activity event by then)
        figures.append(pl.col("authenticated").fill_null(False).any().alias("authenticated"))
    agg = late.join(act.group_by("session_id").agg(figures), on="session_id", how="left")
    fields = [f for f in _AS_OF_FIELDS if f in sessions.columns and (auth or f != "authenticated")]
    start = pl.col("created_date")
    new = (
        sessions.select("id", "created_date")
        .join(agg.rename({"session_id": "id"}), on="id", how="inner")
        .with_columns(
            pl.col("event_count", "pageview_count", "search_count").fill_null(0),
            duration_in_seconds=(
                (pl.col("ended_date") - start).dt.total_microseconds() / 1e6
            ).fill_null(0.0),
            _late=pl.lit(True),
        )
        .select("id", "_late", *(pl.col(f).alias(f"_new_{f}") for f in fields))
    )
    joined = sessions.join(new, on="id", how="left", maintain_order="left")
    return joined.with_columns(
        pl.when(pl.col("_late").fill_null(False))
        .then(pl.col(f"_new_{f}"))
        .otherwise(pl.col(f))
        .cast(sessions.schema[f])
        .alias(f)
        for f in fields
    ).select(sessions.columns)


def _matches_as_of(
    segments: pl.DataFrame | None, outcomes: pl.DataFrame | None, as_of: datetime
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """Rule matches made by `as_of` (a match is made at the event that completes it)."""
    if segments is not None:
        segments = segments.filter(pl.col("matched_at").is_null() | (pl.col("matched_at") <= as_of))
    if outcomes is not None:
        outcomes = outcomes.filter(
            pl.col("achieved_at").is_null() | (pl.col("achieved_at") <= as_of)
        )
    return segments, outcomes


def build_card(
    store: StoreLike,
    session_id_or_prefix: str,
    *,
    as_of: datetime | str | None = None,
    gap: timedelta | str | None = None,
    contacts: str | os.PathLike[str] | pl.DataFrame | None = None,
    segments: pl.DataFrame | None = None,
    outcomes: pl.DataFrame | None = None,
    colors: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    default_region: str | None = None,
    rules: RulesLike | None = None,
) -> Card:
    """The card of one session (full id or unique prefix), reading only its visitor's rows.

    as_of: the card as it stood then (default now): events after it are left out (the current
    page, searches, counts, duration, segments and outcomes are those up to it), the state
    (active/ended/not started) and the contact (sessions begun and traits seen by then, and
    expiry) are judged at it.
    gap: inactivity after which a session counts as ended (default: the store's gap).
    contacts: a contacts file to resolve the visitor against at read time
    (jtrack.core.contacts.apply_contacts); default: the store's own resolution, if any.
    segments/outcomes: frames of SEGMENT_FRAME_SCHEMA / OUTCOME_FRAME_SCHEMA (e.g. from the
    rules engine); the export's own segment and outcome events are always included.
    colors: event-name glob -> positive|neutral|negative, tried before the defaults.
    rules: jtrack rules (jtrack.core.rules.load_rules) evaluated for this session: their matches
    join the frames above; segments with shown_to_agents = false are left off the card.
    Raises NotFoundError, AmbiguousIdError (exit 1) or UsageError.
    """
    store = as_store(store)
    rules = as_rules(rules)
    ctx = _context(store, as_of, gap, colors)
    segments = _check_frame(segments, SEGMENT_FRAME_SCHEMA, "segments")
    outcomes = _check_frame(outcomes, OUTCOME_FRAME_SCHEMA, "outcomes")
    contacts = _reading_book(store, contacts, default_region)
    from jtrack.access import StoreView, identity_events  # identity: resolve first, mask after

    view = store if isinstance(store, StoreView) else None
    # "not permitted" is told apart from "not found": the id is resolved on the whole store
    # (once the role may see sessions at all: the plain store's answers name ids)
    if view is not None:
        from jtrack.usecases.sessions import require_sessions

        require_sessions(view)
    sid, customer, session_type = _find_session(
        view.unfiltered() if view else store, session_id_or_prefix
    )
    if view is not None:
        view.check_session(sid, session_type)
    visitor_sessions = store.scan_sessions(customer_id=customer).collect(engine="in-memory")
    # The visitor as of `as_of`: the sessions begun by then, traits seen by then.
    begun = visitor_sessions.filter(pl.col("created_date") <= ctx.as_of)
    # "visit N of M": M counts the visits (web sessions) begun by then; a role's hidden
    # sessions are custom ones, no visits, so every role reads the same numbers
    visits = begun.filter(pl.col("type") == "web").height
    not_begun = begun.filter(pl.col("id") == sid).height == 0
    if not_begun:
        begun = visitor_sessions  # resolve as the store does
    identity = identity_events(store, customer, columns=_IDENTITY)
    visitor_sessions, resolved = _resolve_contacts(
        begun,
        identity.filter(pl.col("created_date") <= ctx.as_of),
        contacts,
        default_region,
        ctx.as_of,
        None if contacts is not None else store_book_as_of(store, identity, ctx.as_of),
    )
    ev = _session_events(store, customer, [sid])
    later = ev.filter(pl.col("created_date") > ctx.as_of).height  # (as it stood then)
    this = _sessions_as_of(visitor_sessions.filter(pl.col("id") == sid), ev, ctx.as_of)
    ev = ev.filter(pl.col("created_date") <= ctx.as_of)
    row = this.row(0, named=True)
    if not_begun:  # (a visit not begun yet counts as the one it will be)
        visits = max(visits, int(row.get("visit_number") or 0))
    segments, outcomes, hidden = _rule_frames(store, rules, [sid], segments, outcomes)
    segments, outcomes = _matches_as_of(segments, outcomes, ctx.as_of)
    ctx = _with_outcome_tones(ctx, rules)
    # the title's short id as a table would show it: one `jtrack card` takes back (a prefix
    # of 8 or fewer characters typed and found is; else the id directories are asked)
    typed = session_id_or_prefix.strip().lower()
    short_len = (
        ID_MIN
        if len(typed) <= ID_MIN and sid.startswith(typed)
        else _short_len(store, pl.Series([sid]))
    )
    (card,) = _cards_from(
        [(row, visits, _visitor_zone(begun))],
        ev,
        ctx,
        segments,
        outcomes,
        resolved,
        hidden,
        short_len,
    )
    _add_unverified([card], identity.filter(pl.col("created_date") <= ctx.as_of), default_region)
    _note_later(card, later, ctx.as_of)
    card.data["hidden_events"] = 0  # events the active role may not see (jtrack.access)
    if view is not None:
        view.restrict_card(card.data, customer)
    return card


def _visitor_zone(sessions: pl.DataFrame) -> str | None:
    """The time zone of the visitor's latest web session (of `sessions`, whatever traffic
    the reader asked for: a card and a journey agree) that the export gives one, a
    person's before an automated one's, if a known IANA zone."""
    zoned = sessions.filter(
        (pl.col("type") == "web") & pl.col("geolocation_timezone").is_not_null()
    ).sort(pl.col("traffic_class") == HUMAN, "created_date", nulls_last=False)
    name = _str(zoned.get_column("geolocation_timezone")[-1]) if zoned.height else None
    return name if _zone(name) is not None else None


def _note_later(card: Card, later: int, as_of: datetime) -> None:
    """The note of a card shown as of a time with events of its session after it."""
    if later:
        card.data["notes"].append(
            f"as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {later} later "
            f"event{'s' if later != 1 else ''} of this session not shown"
        )


def _names_a_contact(
    store: Store,
    plain: Store,
    who: str,
    contacts: str | os.PathLike[str] | pl.DataFrame | None,
    default_region: str | None,
) -> bool:
    """Whether `who` is (or starts) a contact id: of the store's sessions, of the contacts
    file given, else of the store's own book. Cheap: no resolution."""
    from jtrack.errors import DataError
    from jtrack.usecases.sessions import lookup_book, resolve_contact_id

    try:
        if contacts is None and resolve_contact_id(store, who) is not None:
            return True
    except DataError:  # (several contacts start so: the contact path says so)
        return True
    book, _ = lookup_book(plain, contacts, default_region)
    if book is None:
        return False
    return bool(book.get_column("contact_id").str.starts_with(who).any())


def build_journey(
    store: StoreLike,
    customer_or_contact: str,
    *,
    as_of: datetime | str | None = None,
    gap: timedelta | str | None = None,
    contacts: str | os.PathLike[str] | pl.DataFrame | None = None,
    segments: pl.DataFrame | None = None,
    outcomes: pl.DataFrame | None = None,
    colors: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    default_region: str | None = None,
    rules: RulesLike | None = None,
    limit: int | None = None,
    traffic: str | Sequence[str] = DEFAULT_TRAFFIC,
) -> Journey:
    """Every session of one visitor (customer id) or contact (contact id), newest first.

    A customer id (or a unique prefix of one) reads only that visitor's bucket. A contact id
    is looked up in the session table's `contact_id` column; with `contacts` every visitor is
    resolved first, which reads the whole store. `limit` keeps the newest sessions (the
    totals still count them all). `traffic`: the traffic classes shown (people only by
    default; jtrack.usecases.traffic); the others are counted in `Journey.scope`, and a
    visitor with none of those classes is NotFoundError naming what it has.
    """
    store = as_store(store)
    rules = as_rules(rules)
    classes = check_traffic(traffic)
    must_be(limit, "limit", int, "a whole number of sessions, 0 or more", none=True)
    limit = int(limit) if limit is not None else None
    ctx = _context(store, as_of, gap, colors)
    segments = _check_frame(segments, SEGMENT_FRAME_SCHEMA, "segments")
    outcomes = _check_frame(outcomes, OUTCOME_FRAME_SCHEMA, "outcomes")
    contacts = _reading_book(store, contacts, default_region)
    if not isinstance(customer_or_contact, str):
        raise UsageError(
            f"customer or contact id {customer_or_contact!r} is no text",
            hint="pass a customer id or contact id",
        )
    who = customer_or_contact.strip()
    if not who:
        raise UsageError("empty customer or contact id", hint="pass a customer id or contact id")
    from jtrack.access import StoreView, identity_events  # identity: resolve, then mask

    sessions = store.scan_sessions(customer_id=who).collect(engine="in-memory")
    matched_by = "customer_id"
    plain = store.unfiltered() if isinstance(store, StoreView) else store
    asked = who
    by_detail = None  # "email" or "phone": asked by a saved contact's email or phone number
    if not sessions.height:  # the email or phone number of a saved contact: that contact
        from jtrack.usecases.sessions import contacts_with_email, contacts_with_phone

        detail = "email" if "@" in who else "phone"
        find = contacts_with_email if detail == "email" else contacts_with_phone
        ids = find(store, who, contacts, default_region)
        if len(ids) > 1:
            raise DataError(
                f"{who!r} is the {detail} of {len(ids)} contacts ({', '.join(ids[:5])})",
                hint="pass the contact id of the one you mean",
            )
        if ids:
            who, by_detail = ids[0], detail
    if sessions.height:
        identity = identity_events(store, who, columns=_IDENTITY)
        sessions, resolved = _resolve_contacts(
            sessions,
            identity.filter(pl.col("created_date") <= ctx.as_of),
            contacts,
            default_region,
            ctx.as_of,
            None if contacts is not None else store_book_as_of(plain, identity, ctx.as_of),
        )
    else:
        from jtrack.usecases.sessions import resolve_contact_id, resolve_customer_id

        matched_by = "contact_id"
        everything = store.scan_sessions()
        stored = "contact_id" in everything.collect_schema().names()
        # a unique prefix of a customer id that names no contact is that visitor: found
        # through the id directories before any resolution of the whole store (as of a
        # time, that resolves every visitor: seconds and a gigabyte on a year's store)
        cookie_first = (
            by_detail is None
            and not _names_a_contact(store, plain, who, contacts, default_region)
            and resolve_customer_id(store, who) is not None
        )
        if cookie_first:
            resolved = False
        elif contacts is not None or stored:
            # the contact's visitors by the present resolution (the store's, or the file's
            # as of now), then each of their sessions as it stood at as_of: who they were
            # then by the traits sent by then (as `journey COOKIE --as-of` and the card)
            every_identity = identity_events(store, columns=_IDENTITY)
            if contacts is None:
                who = resolve_contact_id(store, who) or who  # (or a unique prefix of it)
                now = everything.select("customer_id", "contact_id")
                saved = (
                    store_book_as_of(plain, every_identity, ctx.as_of)
                    if as_of is not None
                    else None
                )
                if saved is not None:  # (and who was the contact then, by the store's book)
                    from jtrack.core.contacts import resolve_contacts

                    then = resolve_contacts(
                        everything.collect(engine="in-memory"),
                        every_identity,
                        saved[0],
                        default_region=default_region or saved[1],
                        as_of=ctx.as_of,
                        cut=True,
                    )
                    now = pl.concat([now, then.lazy().select("customer_id", "contact_id")])
            else:  # (and, as of a time, those who were the contact then: both are its)
                from jtrack.core.contacts import apply_contacts

                found_by = [
                    apply_contacts(
                        everything,
                        every_identity,
                        contacts,
                        default_region=default_region,
                        as_of=when,
                    ).lazy()
                    for when in ([None] if as_of is None else [None, ctx.as_of])
                ]
                now = pl.concat(found_by, how="vertical")
                who = resolve_contact_id(store, who, now) or who
            cookies = (
                now.filter(pl.col("contact_id") == who)
                .select("customer_id")
                .unique()
                .collect(engine="in-memory")
                .get_column("customer_id")
                .sort()
                .implode()
            )
            mine = pl.col("customer_id").is_in(cookies)
            identity = every_identity.filter(mine)
            sessions, resolved = _resolve_contacts(  # (their full session lists: expiry)
                everything.filter(mine).collect(engine="in-memory"),
                identity.filter(pl.col("created_date") <= ctx.as_of),
                contacts,
                default_region,
                ctx.as_of,
                None if contacts is not None else store_book_as_of(plain, identity, ctx.as_of),
            )
        else:
            resolved = False
    if not sessions.height:
        # a unique prefix of a customer id (tables show ids that way)
        from jtrack.usecases.sessions import resolve_customer_id

        full = resolve_customer_id(store, who)
        if full is not None:
            who, matched_by = full, "customer_id"
            sessions, resolved = _resolve_contacts(
                store.scan_sessions(customer_id=who).collect(engine="in-memory"),
                identity_events(store, who, columns=_IDENTITY),
                contacts,
                default_region,
                ctx.as_of,
            )
    if not sessions.height:
        hint = "pass a customer id (cookie) or a contact id; list sessions with `jtrack sessions`"
        if not resolved:
            hint += "; contact ids need resolved contacts (--contacts FILE)"
        from jtrack.usecases.sessions import case_hint, email_hint_for, phone_hint_for

        if by_detail is not None:  # (an email or phone number that named a contact)
            raise NotFoundError(
                f"{asked!r} is the {by_detail} of contact {who}, who has no sessions in "
                f"{store.shown}",
                hint="the contact was never seen on the site (as far as the store knows)",
            )
        from jtrack.usecases.sessions import lookup_book

        book, _ = lookup_book(store, contacts, default_region)
        if book is not None and who in book.get_column("contact_id").to_list():
            raise NotFoundError(  # (as one asked by email or phone: no mistake in the id)
                f"contact {who} has no sessions in {store.shown}",
                hint="the contact was never seen on the site (as far as the store knows)",
            )
        if "@" in who:
            hint = email_hint_for(store)
        else:
            hint = phone_hint_for(store, who, contacts, default_region) or hint
        hint = case_hint(store, who, contacts=True) or hint
        raise NotFoundError(f"no visitor or contact {who!r} in {store.shown}", hint=hint)
    scope = traffic_scope(sessions, classes)
    sessions = sessions.filter(traffic_expr(classes))
    if not sessions.height:
        by = ", ".join(f"{c} {n:,}" for c, n in scope.left_out.items())
        n = scope.sessions_left_out
        raise NotFoundError(
            f"{who!r} has {n:,} session{'s' if n != 1 else ''} but none of traffic "
            f"{', '.join(classes)} ({by})",
            hint="--traffic all shows them; `jtrack card SESSION_ID` shows any one",
        )
    sessions = sessions.sort(["created_date", "id"], descending=[True, True])
    # as of a time asked for: the sessions begun by then, as they stood then (see build_card;
    # without one, every session, as before: data dated ahead of this clock is still shown)
    until = ctx.as_of if as_of is not None else None
    begun = sessions.filter(pl.col("created_date") <= until) if until is not None else sessions
    if not begun.height:
        first_start = sessions.get_column("created_date").min()
        raise NotFoundError(
            f"{who!r} had no session by {_iso(ctx.as_of)} (the first began "
            f"{_iso(first_start if isinstance(first_start, datetime) else None)})",
            hint="pass a later --as-of, or none",
        )
    sessions = begun
    customers = sorted(sessions.get_column("customer_id").unique().to_list())
    hidden_visits = {c: _hidden_visits(store, c, until) for c in customers}
    per_customer, zones = {}, {}  # each cookie's visits (web sessions) begun by then; zone
    for c in customers:
        begun_c = (
            store.scan_sessions(customer_id=c)
            .filter(pl.col("created_date") <= until if until is not None else pl.lit(True))
            .select("type", "created_date", "geolocation_timezone", "traffic_class")
            .collect()
        )
        per_customer[c] = begun_c.filter(pl.col("type") == "web").height
        zones[c] = _visitor_zone(begun_c)
    if limit is not None and limit < 0:
        raise UsageError(f"limit {limit!r} is below 0", hint="give 0 or more (0: the totals)")
    shown = sessions.head(limit) if limit is not None else sessions
    # every session's events from the index alone (no wide column but the few segment and
    # outcome ids the totals count): a bot's journey holds thousands of sessions, and only
    # those shown are read in full, below
    events = pl.concat(
        [
            _index_events(store, c, sessions.filter(pl.col("customer_id") == c).get_column("id"))
            for c in customers
        ],
        how="vertical_relaxed",
    )
    segments, outcomes, hidden = _rule_frames(
        store, rules, sessions.get_column("id").to_list(), segments, outcomes
    )
    segments, outcomes = _matches_as_of(segments, outcomes, ctx.as_of)
    ctx = _with_outcome_tones(ctx, rules)
    # each session as it stood at as_of: those with events after it worked out again from
    # their events by then, in one query (see _sessions_as_of); how many each leaves out
    later_by = dict(
        events.filter(pl.col("created_date") > ctx.as_of).group_by("session_id").len().iter_rows()
    )
    sessions = _sessions_as_of(sessions, events, ctx.as_of)
    # (one length for every session shown, as a table's column: unique in the whole store)
    short_len = _short_len(store, shown.get_column("id")) if shown.height else ID_MIN
    # (one at least: the newest session's card says who the visitor is, --limit 0 too)
    carded = sessions.head(max(shown.height, 1))
    carded_ev = pl.concat(
        [
            _session_events(
                store, c, carded.filter(pl.col("customer_id") == c).get_column("id").to_list()
            )
            for c in carded.get_column("customer_id").unique(maintain_order=True)
        ],
        how="vertical_relaxed",
    )
    cards = _cards_from(
        [
            (row, per_customer[row["customer_id"]], zones[row["customer_id"]])
            for row in carded.iter_rows(named=True)
        ],
        carded_ev.filter(pl.col("created_date") <= ctx.as_of),
        ctx,
        segments,
        outcomes,
        resolved,
        hidden,
        short_len,
    )
    for card in cards:
        _note_later(card, later_by.get(card.session_id, 0), ctx.as_of)  # (as its card says)
    events = events.filter(pl.col("created_date") <= ctx.as_of)
    hidden_events: dict[str, int] = {}  # (events the active role may not see: jtrack.access)
    if isinstance(store, StoreView):
        for c in customers:
            hidden_events.update(store.hidden_event_counts([card.session_id for card in cards], c))
    for card, customer_id in zip(cards, sessions.get_column("customer_id"), strict=False):
        card.data["hidden_events"] = 0
        if isinstance(store, StoreView):
            hidden_n = hidden_events.get(card.session_id, 0)
            store.restrict_card(card.data, customer_id, hidden_n, protect=False)
    if isinstance(store, StoreView):
        store.protect_cards([card.data for card in cards])
    totals = _totals(sessions, events, segments, outcomes, hidden)
    if isinstance(store, StoreView):  # counts of what the role may not see: null, as left out
        for key, kind in (("segments", "segment"), ("outcomes", "outcome")):
            if kind in store.policy.hidden_rule_kinds:
                totals[key] = None
    # (lazy: read only for the visitors _add_unverified finds unknown)
    typed = pl.concat(
        [identity_events(store, c, columns=_IDENTITY) for c in customers], how="vertical"
    )
    _add_unverified(cards, typed.filter(pl.col("created_date") <= ctx.as_of), default_region)
    first = cards[0].to_dict()["contact"] if cards else {}
    cards = cards[: shown.height]
    contact = {
        "name": first.get("name", UNKNOWN),
        "known": first.get("known", False),
        "contact_id": first.get("contact_id"),
        "state": first.get("state"),
        "unverified_name": first.get("unverified_name"),
        "unverified_emails": first.get("unverified_emails", []),
        "unverified_phones": first.get("unverified_phones", []),
    }
    notes = []
    if shown.height == 0 < sessions.height:  # (--limit 0: the totals alone)
        n = sessions.height
        notes.append(
            "the totals alone: "
            + ("its one session not shown" if n == 1 else f"none of the {n:,} sessions shown")
        )
    elif shown.height < sessions.height:
        notes.append(f"showing the newest {shown.height:,} of {sessions.height:,} sessions")
    if not resolved:
        notes.append("visitor not matched to a contact: no contacts were resolved (--contacts)")
    left_out = scope.note()
    if left_out:
        notes.append(left_out)
    # (those of the traffic classes shown: what this journey leaves out)
    n_hidden = sum(
        int(h.to_frame().filter(traffic_expr(classes)).height) for h in hidden_visits.values()
    )
    if n_hidden:
        from jtrack.access import SESSIONTYPE_VIEW

        notes.append(
            f"{n_hidden} custom session{'s' if n_hidden != 1 else ''} hidden by your role "
            f"(needs {SESSIONTYPE_VIEW})"
        )
    if matched_by == "contact_id" and "contact_id" in sessions.columns:
        other = sessions.filter(pl.col("contact_id") != who).height
        if other:  # (found by the present resolution; shown as they stood at the clock)
            notes.append(  # (not naming the id: it may be an email a role masks)
                f"{other} of these sessions {'was' if other == 1 else 'were'} not this "
                f"contact's as of {_iso(ctx.as_of)}: its visitors are found by who they are "
                "now or were then, each session shown as it stood then"
            )
    if by_detail and matched_by == "contact_id":  # (asked by email or phone: said so, the
        who, matched_by = asked, by_detail  # contact's id is the contact's own field)
    return Journey(who, matched_by, contact, customers, cards, totals, notes, scope)


def _totals(
    sessions: pl.DataFrame,
    events: pl.DataFrame,
    segments: pl.DataFrame | None,
    outcomes: pl.DataFrame | None,
    hidden: frozenset[str],
) -> dict[str, Any]:
    """Totals over all the journey's sessions (also those a limit leaves out)."""
    agg = sessions.select(
        pl.len().alias("sessions"),
        pl.col("event_count").sum().alias("events"),
        pl.col("pageview_count").sum().alias("page_views"),
        pl.col("search_count").sum().alias("searches"),
        pl.col("duration_in_seconds").sum().alias("duration_seconds"),
        pl.col("created_date").min().alias("first_seen"),
        pl.col("ended_date").max().alias("last_seen"),
    ).row(0, named=True)
    ids = sessions.get_column("id").implode()
    shown = ~pl.col("segment_id").is_in(sorted(hidden)).fill_null(False)

    def count(kind: str, key: str, frame: pl.DataFrame | None, extra: pl.Expr) -> int:
        """Each id once a session: the export's and the rules' match of one id (the rules
        file's segment of the export's id) are one."""
        pairs = [
            events.filter((pl.col("kind") == kind) & pl.col(key).is_not_null() & extra).select(
                "session_id", key
            )
        ]
        if frame is not None:
            mine = pl.col("session_id").is_in(ids) & (pl.col("source") != "export") & extra
            pairs.append(frame.filter(mine).select("session_id", key))
        return pl.concat(pairs).unique().height

    by_type = sessions.group_by("type").len().sort("type")
    duration = float(agg["duration_seconds"] or 0.0)
    webs = sessions.filter(pl.col("type") == "web")
    web = webs.select(
        pl.len().alias("n"),
        pl.col("duration_in_seconds").sum().alias("seconds"),
    )
    web_seconds = float(web.item(0, "seconds") or 0.0)
    starts = webs.get_column("created_date")  # (no web session: no visit, no dates)
    return {
        "sessions": int(agg["sessions"]),
        "events": int(agg["events"] or 0),
        "page_views": int(agg["page_views"] or 0),
        "searches": int(agg["searches"] or 0),
        "segments": count(KIND_SEGMENT, "segment_id", segments, shown),
        "outcomes": count(KIND_OUTCOME, "outcome_id", outcomes, pl.lit(True)),
        "duration_seconds": duration,
        "duration": hms(duration),
        "first_seen": _iso(agg["first_seen"]),
        "last_seen": _iso(agg["last_seen"]),
        "by_type": {str(t): int(n) for t, n in by_type.iter_rows()},
        "first_visit": _iso(starts.min()),  # type: ignore[arg-type]
        "last_visit": _iso(starts.max()),  # type: ignore[arg-type]
        "web_sessions": int(web.item(0, "n")),
        "web_duration_seconds": web_seconds,
        "web_duration": hms(web_seconds),
    }


__all__ = [
    "CARD_VERSION",
    "DEFAULT_TONE_RULES",
    "OUTCOME_FRAME_SCHEMA",
    "SEGMENT_FRAME_SCHEMA",
    "Card",
    "Journey",
    "build_card",
    "build_journey",
    "hms",
    "tone_expr",
    "tone_rules_from_config",
    "type_label",
]
