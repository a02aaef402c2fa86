"""How things look: icons, colours, labels and titles for the names the data uses.

The data (jtrack.usecases.card, jtrack.usecases.report, ...) says *what* something is: an
event kind, a tone (positive, neutral, negative), a session icon name, a table name. The
renderers (terminal, HTML) look up here how to show it, so a theme change touches no data and
the JSON output carries no presentation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: The journey-map colour of each tone (green, blue, red).
TONE_COLORS = {"positive": "#2e7d32", "neutral": "#1565c0", "negative": "#c62828"}
#: The terminal style of each tone.
TONE_STYLES = {"positive": "green", "neutral": "blue", "negative": "red"}
#: Segment matches are neither good nor bad news: their icons use a colour of their own,
#: never a tone's (the segment's own colour is shown beside it as a swatch).
SEGMENT_COLOR = "#6a3d9a"
SEGMENT_STYLE = "magenta"

#: Session-type icons by icon name: emoji, and the plain-text fallback (`--ascii`).
SESSION_ICONS = {
    "web": ("🌐", "[web]"),
    "app": ("📱", "[app]"),
    "custom": ("🧩", "[custom]"),
}
#: Journey-map icons per event kind: emoji and plain text of equal meaning.
KIND_ICONS = {
    "page_view": ("📄", "[PAG]"),
    "search": ("🔍", "[SRC]"),
    "custom": ("⚡", "[EVT]"),
    "app": ("📲", "[APP]"),
    "segment_assigned": ("🎯", "[SEG]"),
    "outcome_achieved": ("🏆", "[OUT]"),
    "web_action": ("💬", "[ACT]"),
}
#: What each event kind is called in a card.
KIND_LABELS = {
    "page_view": "page view",
    "search": "search",
    "custom": "custom event",
    "app": "app event",
    "segment_assigned": "segment matched",
    "outcome_achieved": "outcome achieved",
    "web_action": "web action",
}

#: The tables of a journey summary (jtrack.usecases.report.TABLES), with a title each.
REPORT_TITLES: dict[str, str] = {
    "session_types": "Session types",
    "contacts": "Known and Unknown",
    "top_pages": "Top pages",
    "entry_pages": "Entry pages",
    "exit_pages": "Exit pages",
    "top_searches": "Top searches",
    "channels": "Channels (web sessions)",
    "referrers": "Referrers",
    "campaigns": "Campaigns",
    "devices": "Devices",
    "browsers": "Browsers",
    "countries": "Countries",
    "segments": "Segments",
    "outcomes": "Outcomes",
    "web_actions": "Web actions (offers) by action map",
    "traffic": "Traffic: people and automated",
    "traffic_agents": "Top automated agents",
}

#: What the channels table counts, under it (terminal, Markdown, HTML).
CHANNELS_CAPTION = (
    "web sessions by their first event's campaign, else its referrer (README: channels); "
    "internal: the site itself, left out of Referrers"
)


def definitions(report: Any) -> str:
    """What bounce and engaged mean, where the figures are shown (they overlap: a bounce
    that lasts or achieves an outcome is engaged)."""
    secs = f"{report.options.engaged_seconds:g}"
    return (
        "bounce: a web session of one page view; engaged: a web session of "
        f"{secs} s or more, two or more page views, or an outcome (a bounce can be "
        "engaged: the bounce rate is not 1 - the engagement rate)"
    )


def empty_tables(report: Any) -> str | None:
    """`none in the period: Campaigns, Segments` (the report's empty tables, which are not
    shown), or None."""
    empty = [report_title(n) for n, df in report.tables.items() if df is None or not df.height]
    return f"none in the period: {', '.join(empty)}" if empty else None


#: The sections of the rules report (jtrack.core.rules.report.SECTIONS), with a title each.
RULES_TITLES = {
    "segments": "Segments: sessions and visitors matched",
    "outcomes": "Outcomes: achievements and conversion rate",
    "outcomes_by_segment": "Outcomes by segment (jtrack's own matches)",
    "action_maps": "Action maps: sessions qualified, and blocked by reason",
}


#: The badge of an automated session (a person's session has none): icon and ASCII marker,
#: terminal style, HTML colours (text, background).
AUTOMATED_ICONS = ("🤖", "[BOT]")
AUTOMATED_STYLE = "bold yellow"
AUTOMATED_COLORS = ("#7a4b00", "#fff1cc")


def traffic_badge(traffic: dict[str, Any] | None) -> str | None:
    """`automated: ai_agent (GPTBot, user_agent_list:GPTBot)` for a card's `traffic` of an
    automated session: the class, then the agent and the signal that decided it; None for
    a person's session."""
    if not traffic or not traffic.get("automated"):
        return None
    reason = ", ".join(str(x) for x in (traffic.get("agent"), traffic.get("signal")) if x)
    return f"automated: {traffic.get('class')}" + (f" ({reason})" if reason else "")


def typed_details(contact: dict[str, Any]) -> list[str]:
    """What an unknown visitor typed about themselves (a card's contact: name, emails,
    phones), shown as unverified details; nothing for a known contact."""
    if contact.get("known"):
        return []
    values = (
        contact.get("unverified_name"),
        *(contact.get("unverified_emails") or []),
        *(contact.get("unverified_phones") or []),
    )
    return [str(v) for v in values if v]


#: A visit whose referrer names no host (typed in, a bookmark, an email client's link), as
#: the journey summary's referrers table shows it.
DIRECT = "(direct)"


#: What `arrival` tells of a visit, in its order (the card's labels, lower case).
ARRIVAL = ("device", "referrer", "campaign")


def campaign_parts(campaign: dict[str, Any], quote: tuple[str, str] | None = None) -> list[str]:
    """A card's `campaign` as it is shown: `source / medium` and the name (those it has);
    with `quote` (the opening and closing marks), its term (quoted) and content too."""
    parts = [
        " / ".join(str(x) for x in (campaign.get("source"), campaign.get("medium")) if x),
        str(campaign.get("name") or ""),
    ]
    if quote is not None:
        if campaign.get("term"):
            parts.append(f"term {quote[0]}{campaign['term']}{quote[1]}")
        if campaign.get("content"):
            parts.append(f"content {campaign['content']}")
    return [p for p in parts if p]


def arrival(card: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """How a session arrived, for a journey's visit in brief: (label, parts) of its device
    category, its referrer's host and its campaign (source / medium, name), with the labels
    the card's session information uses; what the export does not give is left out, and a
    web session with neither referrer nor campaign is `(direct)`."""
    device = card["device"].get("category")
    ref = card["referrer"]
    # (a host in lower case; a URL without one, `data:...` or `www.x.com/?token=...`, by its
    # scheme or its first 40 characters before a query: never its query, which may hold a
    # token, nor a whole long URL in a one-line summary)
    host = (ref.get("hostname") or "").lower() or _url_brief(ref.get("url"))
    web = card["session"].get("type") == "web"
    campaign = campaign_parts(card["campaign"])
    out: list[tuple[str, list[str]]] = []
    if device:
        out.append(("device", [str(device)]))
    if host or (web and not campaign):
        out.append(("referrer", [str(host) if host else DIRECT]))
    if campaign:
        out.append(("campaign", campaign))
    return out


def _url_brief(url: str | None) -> str:
    """A referrer URL without a host, in brief: up to its query or fragment, 40 characters
    at most (`…` where cut); empty for none."""
    if not url:
        return ""
    head = re.split(r"[?#]", str(url).strip(), maxsplit=1)[0]
    return head if len(head) <= 40 else head[:39] + "…"


def visit_pages(card: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pages of a journey's visit in brief, as (label, page): its first page (where it
    landed) and its last, or the one page as `first and last page` where they are the same."""
    first, last = card.get("first_page"), card["current_page"]
    if first and last and first == last:
        return [("first and last page", last)]
    return [(label, p) for label, p in (("first page", first), ("last page", last)) if p]


def short_cookie(customer_id: str | None, cookies: Sequence[str] = ()) -> str:
    """A visitor id as a journey over several `cookies` names each visit's: its shortest
    prefix of 8 characters or more that tells it from the journey's other cookies (the
    journey's `cookies:` line lists them whole)."""
    cid = str(customer_id or "")
    ids = {str(c) for c in cookies if c} | {cid}
    k, longest = 8, max(len(i) for i in ids)
    while k < longest and len({i[:k] for i in ids}) < len(ids):  # (a journey's few cookies)
        k += 1
    return cid[:k]


def automated_icon(ascii: bool = False) -> str:
    return AUTOMATED_ICONS[1] if ascii else AUTOMATED_ICONS[0]


def report_title(name: str) -> str:
    return REPORT_TITLES.get(name, name.replace("_", " ").capitalize())


def session_icon(name: str, ascii: bool = False) -> str:
    emoji, text = SESSION_ICONS.get(name, SESSION_ICONS["custom"])
    return text if ascii else emoji


def kind_icon(kind: str, ascii: bool = False) -> str:
    emoji, text = KIND_ICONS.get(kind, ("•", "[???]"))
    return text if ascii else emoji


__all__ = [
    "ARRIVAL",
    "AUTOMATED_COLORS",
    "AUTOMATED_ICONS",
    "AUTOMATED_STYLE",
    "DIRECT",
    "KIND_ICONS",
    "KIND_LABELS",
    "REPORT_TITLES",
    "RULES_TITLES",
    "SEGMENT_COLOR",
    "SESSION_ICONS",
    "TONE_COLORS",
    "arrival",
    "automated_icon",
    "campaign_parts",
    "kind_icon",
    "report_title",
    "session_icon",
    "traffic_badge",
    "visit_pages",
]

#: The Visit row of a session of another type than web: visits are web sessions.
NOT_A_VISIT = "none (visits are web sessions)"


#: Rates (fractions 0..1), shown as percentages by the terminal's tables and the HTML pages
#: (one list, so that a rate is never a percentage in one and a raw fraction in the other).
RATE_COLUMNS = frozenset(
    {
        "share",
        "rate",
        "bounce_rate",
        "conversion_rate",
        "acceptance_rate",
        "qualified_rate",
        "engagement_rate",
        "share_of_sessions",
        "share_of_events",
        "automated_share",
        "known_share",
    }
)
