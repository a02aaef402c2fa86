"""The canonical event and session columns, their dtypes, and the event kinds.

Everything downstream of ingest works on these names. The flat input shape names its
columns as the event columns below (snake_case; other columns are not read, and noted);
the Genesys shape maps onto them through the fields' Genesys paths.
Imports only Polars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

UTC_US = pl.Datetime("us", "UTC")

#: attributes and traits: one entry per name, values kept as the strings the export holds.
KV_ENTRY = pl.Struct({"name": pl.String, "data_type": pl.String, "value": pl.String})
KV_LIST = pl.List(KV_ENTRY)

#: Event kinds. Web kinds are billable visitor activity; app is activity, not billed;
#: the rest are system events that never start or extend a session.
KIND_PAGE_VIEW = "page_view"
KIND_SEARCH = "search"

#: A text that shows nothing: whitespace, control characters and the invisible ones (Unicode's
#: default-ignorable code points: zero-width space and joiners, U+FEFF, HANGUL FILLER U+3164,
#: variation selectors, ...; and BRAILLE PATTERN BLANK U+2800, a blank cell).
_BLANK_TEXT = r"^[\s\p{Cc}\p{Default_Ignorable_Code_Point}\x{2800}]*$"


def is_blank(text: pl.Expr) -> pl.Expr:
    """Whether a text is blank, which is a missing value (a search query that is blank is no
    search): null, or nothing but whitespace, control and invisible characters (a query of
    a zero-width space or a HANGUL FILLER showed as a blank row of the top searches)."""
    return text.is_null() | text.str.contains(_BLANK_TEXT)


KIND_CUSTOM = "custom"
KIND_APP = "app"
KIND_SEGMENT = "segment_assigned"
KIND_OUTCOME = "outcome_achieved"
KIND_WEB_ACTION = "web_action"
WEB_KINDS = (KIND_PAGE_VIEW, KIND_SEARCH, KIND_CUSTOM)
ACTIVITY_KINDS = (*WEB_KINDS, KIND_APP)
SYSTEM_KINDS = (KIND_SEGMENT, KIND_OUTCOME, KIND_WEB_ACTION)
KINDS = (*ACTIVITY_KINDS, *SYSTEM_KINDS)

#: Short event types (notification-topic form); the long form is "com.genesys.journey." + short.
EVENT_TYPES = (
    "WebEvent",
    "AppEvent",
    "WebActionEvent",
    "SegmentAssignmentEvent",
    "OutcomeAchievedEvent",
)
EVENT_TYPE_PREFIX = "com.genesys.journey."


@dataclass(frozen=True)
class Field:
    """One canonical event column: its name, dtype, Genesys path and meaning."""

    name: str
    dtype: pl.DataType
    genesys: str  # dotted path in the Genesys event envelope ("" when derived)
    doc: str
    required: bool = False


def _f(name: str, dtype: pl.DataType, genesys: str, doc: str, required: bool = False) -> Field:
    return Field(name, dtype, genesys, doc, required)


S = pl.String()
I64 = pl.Int64()
F64 = pl.Float64()
B = pl.Boolean()

EVENT_FIELDS: tuple[Field, ...] = (
    _f("event_id", S, "id", "unique event id (uuid); the deduplication key", True),
    _f("correlation_id", S, "correlationId", "shared by events with one cause"),
    _f("customer_id", S, "customerId", "visitor id (the _actmu cookie value)", True),
    _f("customer_id_type", S, "customerIdType", "cookie, email or phone"),
    _f("source_session_id", S, "session.id", "session id in the export, if any"),
    _f("source_session_type", S, "session.type", "web, app, or a custom session type"),
    _f("event_type", S, "eventType", "short event type, e.g. WebEvent"),
    _f("created_date", UTC_US, "createdDate", "when it happened (UTC, microseconds)", True),
    _f(
        "kind",
        S,
        "",
        "page_view, search, custom, app, segment_assigned, outcome_achieved, web_action",
    ),
    _f("event_name", S, "webEvent.eventName", "page_viewed or a custom event name"),
    _f("page_url", S, "webEvent.page.url", "page URL"),
    _f("page_title", S, "webEvent.page.title", "page title"),
    _f("page_domain", S, "webEvent.page.domain", "page domain"),
    _f("page_hostname", S, "webEvent.page.hostname", "page host name"),
    _f("page_pathname", S, "webEvent.page.pathname", "page path"),
    _f("page_query_string", S, "webEvent.page.queryString", "page query string"),
    _f("page_fragment", S, "webEvent.page.fragment", "page URL fragment"),
    _f("page_keywords", S, "webEvent.page.keywords", "page keywords"),
    _f("page_lang", S, "webEvent.page.lang", "page language"),
    _f("search_query", S, "webEvent.searchQuery", "site search query (non-empty: a search)"),
    _f("user_agent_string", S, "webEvent.userAgentString", "browser user agent"),
    _f("browser_family", S, "webEvent.browser.family", "browser family"),
    _f("browser_version", S, "webEvent.browser.version", "browser version"),
    _f("browser_lang", S, "webEvent.browser.lang", "browser language"),
    _f("browser_view_width", I64, "webEvent.browser.viewWidth", "viewport width"),
    _f("browser_view_height", I64, "webEvent.browser.viewHeight", "viewport height"),
    _f("device_category", S, "webEvent.device.category", "desktop, mobile, tablet or other"),
    _f("device_type", S, "webEvent.device.type", "device type"),
    _f("device_is_mobile", B, "webEvent.device.isMobile", "mobile device"),
    _f("device_os_family", S, "webEvent.device.osFamily", "operating system family"),
    _f("device_os_version", S, "webEvent.device.osVersion", "operating system version"),
    _f("device_screen_width", I64, "webEvent.device.screenWidth", "screen width"),
    _f("device_screen_height", I64, "webEvent.device.screenHeight", "screen height"),
    _f("geolocation_country", S, "webEvent.geolocation.country", "ISO 3166 alpha-2 country"),
    _f("geolocation_country_name", S, "webEvent.geolocation.countryName", "country name"),
    _f("geolocation_region", S, "webEvent.geolocation.region", "region code"),
    _f("geolocation_region_name", S, "webEvent.geolocation.regionName", "region name"),
    _f("geolocation_locality", S, "webEvent.geolocation.locality", "city"),
    _f("geolocation_postal_code", S, "webEvent.geolocation.postalCode", "postal code"),
    _f("geolocation_latitude", F64, "webEvent.geolocation.latitude", "latitude"),
    _f("geolocation_longitude", F64, "webEvent.geolocation.longitude", "longitude"),
    _f("geolocation_timezone", S, "webEvent.geolocation.timezone", "visitor's IANA time zone"),
    _f("ip_address", S, "webEvent.ipAddress", "IP address (personal data)"),
    _f("ip_organization", S, "webEvent.ipOrganization", "IP organisation"),
    _f(
        "mkt_campaign_source",
        S,
        "webEvent.mktCampaign.source",
        "UTM source (flat: or utm_source); with no campaign field at all, the page URL's "
        "utm_source, as Genesys derives it (so every UTM field)",
    ),
    _f("mkt_campaign_medium", S, "webEvent.mktCampaign.medium", "UTM medium (or utm_medium)"),
    _f("mkt_campaign_name", S, "webEvent.mktCampaign.name", "UTM campaign name (or utm_campaign)"),
    _f("mkt_campaign_term", S, "webEvent.mktCampaign.term", "UTM term (or utm_term)"),
    _f("mkt_campaign_content", S, "webEvent.mktCampaign.content", "UTM content (or utm_content)"),
    _f(
        "mkt_campaign_click_id",
        S,
        "webEvent.mktCampaign.clickId",
        "ad click id (with no campaign: the page URL's gclid, fbclid or msclkid)",
    ),
    _f("mkt_campaign_network", S, "webEvent.mktCampaign.network", "ad network"),
    _f("referrer_url", S, "webEvent.referrer.url", "referrer URL"),
    _f(
        "referrer_domain",
        S,
        "webEvent.referrer.domain",
        "referrer domain (google.com; with no host name given: from the URL, as the other "
        "referrer parts)",
    ),
    _f(
        "referrer_hostname",
        S,
        "webEvent.referrer.hostname",
        "referrer host name (not given: the URL's, lower case, as Genesys derives it)",
    ),
    _f("referrer_pathname", S, "webEvent.referrer.pathname", "referrer path"),
    _f(
        "referrer_query_string",
        S,
        "webEvent.referrer.queryString",
        "referrer query string (without ?)",
    ),
    _f("referrer_name", S, "webEvent.referrer.name", "referrer name, e.g. Google"),
    _f(
        "referrer_medium",
        S,
        "webEvent.referrer.medium",
        "internal, search, social, email, unknown or paid",
    ),
    _f("authenticated", B, "webEvent.authenticated", "visitor was logged in"),
    _f("total_event_count", I64, "webEvent.totalEventCount", "lifetime events of the visitor"),
    _f(
        "total_pageview_count",
        I64,
        "webEvent.totalPageviewCount",
        "lifetime page views of the visitor",
    ),
    _f(
        "attributes", KV_LIST, "webEvent.attributes", "event data: list of {name, data_type, value}"
    ),
    _f("traits", KV_LIST, "webEvent.traits", "identity data: list of {name, data_type, value}"),
    _f("segment_id", S, "segmentAssignmentEvent.segment.id", "segment assigned"),
    _f("outcome_id", S, "outcomeAchievedEvent.outcome.id", "outcome achieved"),
    _f("outcome_display_name", S, "outcomeAchievedEvent.outcome.displayName", "outcome name"),
    _f("action_id", S, "webActionEvent.action.id", "web action id"),
    _f("action_state", S, "webActionEvent.action.state", "qualified, offered, accepted, ..."),
    _f("action_media_type", S, "webActionEvent.action.mediaType", "webchat, messaging, content"),
    _f("action_map_id", S, "webActionEvent.actionMap.id", "action map id"),
    _f("action_map_display_name", S, "webActionEvent.actionMap.displayName", "action map name"),
)

EVENT_SCHEMA: dict[str, pl.DataType] = {f.name: f.dtype for f in EVENT_FIELDS}
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA)
REQUIRED_COLUMNS = tuple(f.name for f in EVENT_FIELDS if f.required)

#: Columns the sessionizer adds to every stored event.
STORED_EVENT_EXTRA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "session_type": pl.String(),
    "traffic_class": pl.String(),
}
STORED_EVENT_SCHEMA: dict[str, pl.DataType] = {**EVENT_SCHEMA, **STORED_EVENT_EXTRA}

#: The store's narrow index: one row per kept event, sorted by visitor bucket, visitor and
#: time. It holds every column the sessionizer and contact resolution read (so an incremental
#: run re-sessionizes a visitor from the index alone), the session each event belongs to (its
#: id and type only: the session's fields, its traffic class among them, live in the session
#: table, so a session that grows or changes class leaves its earlier events' rows alone), and
#: where the event's wide row lives (`segment`, `row`: its position in the store's segments).
INDEX_SCHEMA: dict[str, pl.DataType] = {
    "bucket": pl.UInt16(),
    "customer_id": pl.String(),
    "customer_id_type": pl.String(),
    "created_date": UTC_US,
    "event_id": pl.String(),
    "kind": pl.String(),
    "event_name": pl.String(),
    "page_url": pl.String(),
    "page_title": pl.String(),
    "search_query": pl.String(),
    "source_session_type": pl.String(),
    "source_session_id": pl.String(),
    "authenticated": pl.Boolean(),
    "traits": KV_LIST,
    "mkt_campaign_source": pl.String(),
    "mkt_campaign_name": pl.String(),
    "referrer_hostname": pl.String(),
    "referrer_medium": pl.String(),
    "session_id": pl.String(),
    "session_type": pl.String(),
    "segment": pl.UInt32(),
    "row": pl.UInt32(),
}
#: The event columns of the index: what the sessionizer and contact resolution read.
KERNEL_COLUMNS: tuple[str, ...] = tuple(c for c in INDEX_SCHEMA if c in EVENT_SCHEMA)

#: The session table, in the Genesys Session vocabulary (snake_case).
SESSION_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "type": pl.String(),
    "customer_id": pl.String(),
    "customer_id_type": pl.String(),
    # who the visitor is (jtrack.core.contacts): a saved contact, else a temporary one, "Unknown"
    "contact_id": pl.String(),
    "contact_name": pl.String(),
    "contact_state": pl.String(),  # known, temporary or expired
    "match_method": pl.String(),  # cookie, email, phone, external_id; null when temporary
    "source_session_id": pl.String(),
    "created_date": UTC_US,
    "ended_date": UTC_US,
    "duration_in_seconds": pl.Float64(),
    "event_count": pl.UInt32(),
    "pageview_count": pl.UInt32(),
    "search_count": pl.UInt32(),
    "pageview_gap_max_seconds": pl.Float64(),  # the longest pause between two page views
    "search_terms": pl.List(pl.String()),
    "first_page_url": pl.String(),
    "first_page_title": pl.String(),
    "last_page_url": pl.String(),
    "last_page_title": pl.String(),
    "last_event_id": pl.String(),
    "last_event_name": pl.String(),
    "referrer_url": pl.String(),
    "referrer_hostname": pl.String(),
    "referrer_name": pl.String(),
    "referrer_medium": pl.String(),
    "mkt_campaign_source": pl.String(),
    "mkt_campaign_medium": pl.String(),
    "mkt_campaign_name": pl.String(),
    "mkt_campaign_term": pl.String(),
    "mkt_campaign_content": pl.String(),
    "device_category": pl.String(),
    "device_type": pl.String(),
    "device_os_family": pl.String(),
    "device_os_version": pl.String(),
    "browser_family": pl.String(),
    "browser_version": pl.String(),
    "browser_lang": pl.String(),
    "geolocation_country": pl.String(),
    "geolocation_country_name": pl.String(),
    "geolocation_region_name": pl.String(),
    "geolocation_locality": pl.String(),
    "geolocation_timezone": pl.String(),
    "ip_address": pl.String(),
    "ip_organization": pl.String(),
    "user_agent_string": pl.String(),
    "authenticated": pl.Boolean(),
    "visit_number": pl.UInt32(),
    # people or automated traffic (jtrack.core.traffic): class, agent, the signal that decided
    "traffic_class": pl.String(),
    "traffic_agent": pl.String(),
    "traffic_signal": pl.String(),
}


#: What each column of the store's session files means (`jtrack schema --sessions`).
SESSION_DESCRIPTIONS: dict[str, str] = {
    "bucket": "the visitor's bucket, xxh3_64(customer_id) % the store's buckets (in the "
    "store's files only: `jtrack sessions` leaves it out)",
    "id": "session id: UUID-shaped, a hash of the session's first event id (the same events "
    "give the same id)",
    "type": "web, app, or a custom session type (an order system's delivery)",
    "customer_id": "the visitor: the export's customerId (a cookie id for web visitors)",
    "customer_id_type": "the customerId's type (cookie, email, phone, ...)",
    "contact_id": "the contact the visitor was resolved to: a saved contact's id, else a "
    "temporary one (tmp-<customer_id>, shown as Unknown)",
    "contact_name": "the contact's name, or Unknown",
    "contact_state": "known or temporary, as sessionize stored it (expiry is judged when "
    "read: --as-of)",
    "match_method": "how the visitor was matched to a saved contact: cookie, email, phone, "
    "external_id; null when temporary or Unknown",
    "source_session_id": "the export's session.id of the first activity event",
    "created_date": "the first activity event's time (UTC)",
    "ended_date": "the last activity event's time (UTC)",
    "duration_in_seconds": "ended_date - created_date, cut to the millisecond",
    "event_count": "activity events (page views, searches, custom and app events); a "
    "custom session counts every event of its session id",
    "pageview_count": "page views",
    "search_count": "searches",
    "pageview_gap_max_seconds": "the longest pause between two page views (null under two)",
    "search_terms": "the searches' queries, in order, without leading and trailing spaces",
    "first_page_url": "the first page view's URL",
    "first_page_title": "the first page view's title",
    "last_page_url": "the last page view's URL",
    "last_page_title": "the last page view's title",
    "last_event_id": "the last activity event's id",
    "last_event_name": "the last activity event's name (page_viewed, form_submitted, ...)",
    "referrer_url": "where the visitor came from (the first activity event's)",
    "referrer_hostname": "the referrer's host (the URL's when the event gave a URL only)",
    "referrer_name": "the referrer's name (Google, Facebook, ...)",
    "referrer_medium": "internal, search, social, email, unknown or paid",
    "mkt_campaign_source": "utm_source of the first activity event (its mktCampaign; with "
    "none, its page URL's utm_* parameters, as Genesys derives them: every mkt_campaign_*)",
    "mkt_campaign_medium": "utm_medium of the first activity event",
    "mkt_campaign_name": "utm_campaign of the first activity event",
    "mkt_campaign_term": "utm_term of the first activity event",
    "mkt_campaign_content": "utm_content of the first activity event",
    "device_category": "desktop, mobile, tablet, ... (the first activity event's, else the "
    "last's; so is every device, browser, geolocation and IP column)",
    "device_type": "the device's type (iPhone, Other, ...)",
    "device_os_family": "the operating system",
    "device_os_version": "the operating system's version",
    "browser_family": "the browser",
    "browser_version": "the browser's version",
    "browser_lang": "the browser's language (en-GB, ...)",
    "geolocation_country": "ISO country code",
    "geolocation_country_name": "country name",
    "geolocation_region_name": "region name",
    "geolocation_locality": "city or town",
    "geolocation_timezone": "the visitor's IANA time zone",
    "ip_address": "the visitor's IP address",
    "ip_organization": "the IP address's organisation (an ISP, a company)",
    "user_agent_string": "the browser's user-agent string",
    "authenticated": "the visitor was logged in at some point of the session",
    "visit_number": "the visitor's visit (web session) number, in order of start; null for "
    "app and custom sessions",
    "traffic_class": "human, or the kind of automated traffic: ai_agent, search_crawler, "
    "monitoring, http_client, headless or suspect",
    "traffic_agent": "the automated agent's name (GPTBot, curl, ...); null for people",
    "traffic_signal": "what decided the class: a user-agent list entry or a behaviour rule",
}

#: The session table's columns that hold no null in any row a store holds (`jtrack schema
#: --sessions`: never_null); every other column may be null (and the Parquet files call
#: every column nullable).
SESSION_NEVER_NULL = frozenset(
    {
        "bucket",
        "id",
        "type",
        "customer_id",
        "contact_id",
        "contact_name",
        "contact_state",
        "created_date",
        "ended_date",
        "duration_in_seconds",
        "event_count",
        "pageview_count",
        "search_count",
        "search_terms",
        "last_event_id",
        "authenticated",
        "traffic_class",
    }
)
#: ... and the index's (`jtrack schema --index`)
INDEX_NEVER_NULL = frozenset(
    {"bucket", "customer_id", "created_date", "event_id", "kind", "segment", "row"}
)

#: What each column of the store's index files means (`jtrack schema --index`).
INDEX_DESCRIPTIONS: dict[str, str] = {
    "bucket": "the visitor's bucket, xxh3_64(customer_id) % the store's buckets",
    "customer_id": "the visitor (customerId)",
    "customer_id_type": "the customerId's type",
    "created_date": "the event's time (UTC)",
    "event_id": "the event's id (one row per event kept: duplicates are not here)",
    "kind": "page_view, search, custom, app, segment_assigned, outcome_achieved or web_action",
    "event_name": "the event's name (page_viewed, form_submitted, ...)",
    "page_url": "the page's URL",
    "page_title": "the page's title",
    "search_query": "a search's query",
    "source_session_type": "the export's session.type",
    "source_session_id": "the export's session.id",
    "authenticated": "the visitor was logged in at this event",
    "traits": "identity traits ({name, data_type, value}: email, phone, ...)",
    "mkt_campaign_source": "utm_source",
    "mkt_campaign_name": "utm_campaign",
    "referrer_hostname": "the referrer's host",
    "referrer_medium": "the referrer's medium",
    "session_id": "the session the event belongs to (the session table's id); null for a "
    "system event no session of its visitor takes",
    "session_type": "that session's type (null with it)",
    "segment": "where the event's wide row is: the segment file's number (s000007.parquet)",
    "row": "... and its row there, counted from 0",
}


#: Table headers for long field names (README: "Tables"); every other header is the field
#: name. Commands that take a field name (--sort, --where, --columns) take these too.
FIELD_LABELS: dict[str, str] = {
    "duration_in_seconds": "duration",
    "duration_seconds": "duration",
    "event_count": "events",
    "pageview_count": "pageviews",
    "search_count": "searches",
    "share_of_sessions": "share",
    "share_of_events": "event_share",
    "conversion_rate": "conversion",
    "acceptance_rate": "acceptance",
    "median_duration_seconds": "median_duration",
    "p90_duration_seconds": "p90_duration",
    "traffic_class": "traffic",
    "idle_seconds": "idle",
}


@dataclass(frozen=True)
class EventSchema:
    """The canonical event schema, for `jtrack schema` and documentation."""

    #: (a factory, not a default value: `help(EventSchema)` would print every field's
    #: documentation on one line)
    fields: tuple[Field, ...] = field(default_factory=lambda: EVENT_FIELDS, repr=False)

    def to_rows(self) -> list[dict[str, object]]:
        """One row per column, as `jtrack schema` shows it in every format: the type in
        Polars' short form (`str`, `datetime[μs, UTC]`), `required` a boolean."""
        return [
            {
                "column": f.name,
                "dtype": short_type(f.dtype),
                "genesys_path": f.genesys,
                "required": bool(f.required),
                "description": f.doc,
            }
            for f in self.fields
        ]


def short_type(dtype: object) -> str:
    """`datetime[μs, UTC]`, `list[struct[3]]`: Polars' own short form of a type."""
    short = getattr(dtype, "_string_repr", None)
    return str(short()) if callable(short) else str(dtype)


def empty_events() -> pl.DataFrame:
    """A zero-row frame with the canonical event schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)
