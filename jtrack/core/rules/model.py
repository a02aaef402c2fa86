"""The rules model: segments, outcomes and action maps, their conditions and field names.

Plain frozen dataclasses built by `jtrack.core.rules.load` from a TOML rules file. Field names are
the Genesys names (`device.category`, `page.url`, `attributes.<name>`); each maps to a column
of the session table (visitor context) or of the stored events (journey patterns).
Imports the standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

#: Operators, exactly as Genesys names them.
STRING_OPERATORS = (
    "equal",
    "notEqual",
    "containsAll",
    "containsAny",
    "notContainsAll",
    "notContainsAny",
    "startsWith",
    "endsWith",
)
NUMERIC_OPERATORS = ("greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual")
OPERATORS = (*STRING_OPERATORS, *NUMERIC_OPERATORS)
#: The operators that also compare a value written as a number as one (Condition.numbers).
EQUALITY_OPERATORS = ("equal", "notEqual")

#: Visitor-context fields (conditions on the session table) -> session column.
CONTEXT_FIELDS: dict[str, str] = {
    "device.category": "device_category",
    "device.type": "device_type",
    "device.osFamily": "device_os_family",
    "device.osVersion": "device_os_version",
    "browser.family": "browser_family",
    "browser.version": "browser_version",
    "browser.lang": "browser_lang",
    "geolocation.country": "geolocation_country",
    "geolocation.countryName": "geolocation_country_name",
    "geolocation.regionName": "geolocation_region_name",
    "geolocation.locality": "geolocation_locality",
    "geolocation.timezone": "geolocation_timezone",
    "mktCampaign.source": "mkt_campaign_source",
    "mktCampaign.medium": "mkt_campaign_medium",
    "mktCampaign.name": "mkt_campaign_name",
    "mktCampaign.term": "mkt_campaign_term",
    "mktCampaign.content": "mkt_campaign_content",
    "referrer.url": "referrer_url",
    "referrer.hostname": "referrer_hostname",
    "referrer.name": "referrer_name",
    "referrer.medium": "referrer_medium",
    "ipOrganization": "ip_organization",
    "ipAddress": "ip_address",
    "userAgentString": "user_agent_string",
    "authenticated": "authenticated",
    "customerIdType": "customer_id_type",
    # jtrack extensions: known when the session starts
    "sessionType": "type",
    "visitNumber": "visit_number",
}

#: Visitor-context fields whose value can change within a session (a visitor logs in or
#: out): a segment is assigned "at the event where its conditions first all hold", so these
#: are tested at each activity event on its own value; the other context fields are the
#: session's (known when it starts).
EVENT_TIME_CONTEXT: frozenset[str] = frozenset({"authenticated"})

#: Event fields (journey patterns, outcome stages, action-map activity) -> event column.
#: `attributes.<name>` (or Genesys' `attributes.<name>.value`) is handled separately.
EVENT_FIELDS: dict[str, str] = {
    "eventName": "event_name",
    "page.url": "page_url",
    "page.title": "page_title",
    "page.pathname": "page_pathname",
    "page.hostname": "page_hostname",
    "page.domain": "page_domain",
    "page.queryString": "page_query_string",
    "page.fragment": "page_fragment",
    "page.keywords": "page_keywords",
    "page.lang": "page_lang",
    "searchQuery": "search_query",
}
ATTRIBUTE_PREFIX = "attributes."

#: Reasons an action map that was triggered in a session did not qualify there.
REASON_PAGE = "page_condition"
REASON_ALREADY = "already_qualified"
REASON_DATES = "outside_dates"
REASON_WEIGHT = "lower_weight"
BLOCK_REASONS = (REASON_PAGE, REASON_ALREADY, REASON_DATES, REASON_WEIGHT)


@dataclass(frozen=True)
class Condition:
    """One test of one field: `field operator values`, optionally ignoring case.

    `column` is the frame column the field maps to; for `attributes.<name>` it is None and
    `attribute` holds the name. `numbers`: the values the rules file wrote as numbers (TOML
    `129.90`, not `"129.90"`), which `equal` and `notEqual` also compare as numbers (their
    text, `129.9`, is not how an event writes them).
    """

    field: str
    operator: str
    values: tuple[str, ...]
    ignore_case: bool = False
    column: str | None = None
    attribute: str | None = None
    numbers: tuple[float, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.operator in NUMERIC_OPERATORS

    def describe(self) -> str:
        vals = ", ".join(repr(v) for v in self.values)
        ic = " (ignore case)" if self.ignore_case and not self.numeric else ""
        return f"{self.field} {self.operator} [{vals}]{ic}"


@dataclass(frozen=True)
class Pattern:
    """Conditions that must all hold on one event, needed on `count` events of a session."""

    conditions: tuple[Condition, ...]
    count: int = 1

    def describe(self) -> str:
        conds = " and ".join(c.describe() for c in self.conditions)
        return conds if self.count == 1 else f"{self.count} events with {conds}"


@dataclass(frozen=True)
class Segment:
    id: str
    display_name: str
    color: str | None = None
    active: bool = True
    shown_to_agents: bool = True
    context: tuple[Condition, ...] = ()
    patterns: tuple[Pattern, ...] = ()

    @property
    def session_context(self) -> tuple[Condition, ...]:
        """Context conditions tested on the session table."""
        return tuple(c for c in self.context if c.field not in EVENT_TIME_CONTEXT)

    @property
    def event_context(self) -> tuple[Condition, ...]:
        """Context conditions tested at each event (EVENT_TIME_CONTEXT)."""
        return tuple(c for c in self.context if c.field in EVENT_TIME_CONTEXT)


@dataclass(frozen=True)
class Outcome:
    """A funnel: stages achieved in order, on strictly later events each."""

    id: str
    display_name: str
    stages: tuple[Pattern, ...]
    positive: bool = True
    active: bool = True
    value_attribute: str | None = None


@dataclass(frozen=True)
class ActionMap:
    id: str
    display_name: str
    weight: int = 2
    active: bool = True
    segments: tuple[str, ...] = ()
    activity: tuple[Pattern, ...] = ()
    page_url: tuple[Condition, ...] = ()
    start_date: datetime | None = None
    end_date: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Rules:
    """A loaded, valid rules file."""

    segments: tuple[Segment, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    action_maps: tuple[ActionMap, ...] = ()
    path: Path | None = field(default=None, compare=False)
    #: the SHA-256 of the file's bytes as read (what a report names it by)
    sha256: str | None = field(default=None, compare=False)

    def segment(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def outcome(self, outcome_id: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.id == outcome_id), None)

    def action_map(self, map_id: str) -> ActionMap | None:
        return next((m for m in self.action_maps if m.id == map_id), None)

    @property
    def agent_visible_segment_ids(self) -> frozenset[str]:
        """Segments whose `shown_to_agents` is true (what a card shows)."""
        return frozenset(s.id for s in self.segments if s.shown_to_agents)

    def rule_ids(self) -> list[str]:
        return [
            *(s.id for s in self.segments),
            *(o.id for o in self.outcomes),
            *(m.id for m in self.action_maps),
        ]

    def event_conditions(self) -> list[Condition]:
        """Every condition evaluated on events (to know which attributes to extract)."""
        out: list[Condition] = []
        for s in self.segments:
            out.extend(s.event_context)
            for p in s.patterns:
                out.extend(p.conditions)
        for o in self.outcomes:
            for p in o.stages:
                out.extend(p.conditions)
        for m in self.action_maps:
            for p in m.activity:
                out.extend(p.conditions)
            out.extend(m.page_url)
        return out

    def summary(self) -> str:
        def n(items: Sequence[object], one: str) -> str:
            return f"{len(items)} {one}{'' if len(items) == 1 else 's'}"

        return (
            f"{n(self.segments, 'segment')}, {n(self.outcomes, 'outcome')}, "
            f"{n(self.action_maps, 'action map')}"
        )


#: How a card says it leaves out segment matches not shown to agents (a role that may not
#: see segments at all gets no such note: it would count them).
SHOWN_TO_AGENTS_NOTE = "(shown_to_agents = false in the rules)"
