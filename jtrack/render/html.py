"""A session card as one self-contained HTML page (inline CSS, no script, no network).

The journey map is a horizontal timeline of icons; each icon is keyboard-focusable
(tabindex=0) and shows its tooltip on :hover and on :focus-within, with what the terminal's
`--details` shows. Every string from the data goes through html.escape (control characters
replaced first); colours are used only when they are exactly #RRGGBB. A Content-Security-
Policy forbids every network fetch and every script.
"""

from __future__ import annotations

import html
import re
from typing import Any

from jtrack import __version__
from jtrack.serialize import strip_control
from jtrack.usecases.card import KIND_LABELS, TONE_COLORS

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

ROOT_CSS = (
    f":root {{ --pos: {TONE_COLORS['positive']}; --neu: {TONE_COLORS['neutral']}; "
    f"--neg: {TONE_COLORS['negative']}; --fg: #1d2330; --muted: #5b6475; --line: #d9dee8; "
    "--bg: #f6f7fa; --card: #ffffff; }"
)
CSS = """
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.card { max-width: 1100px; margin: 0 auto; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; padding: 20px 24px; }
header { display: flex; gap: 14px; align-items: flex-start; }
h1 { font-size: 20px; margin: 0; }
h1 .unknown { font-style: italic; }
.meta { color: var(--muted); margin-top: 2px; }
.state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  background: #eceff4; color: var(--muted); }
.state.active { background: #e3f4e6; color: var(--pos); }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  margin: 22px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.page-title { font-weight: 600; }
.url { color: var(--muted); word-break: break-all; }
dl.info { display: grid; grid-template-columns: max-content 1fr max-content 1fr;
  gap: 4px 16px; margin: 0; }
dl.info dt { color: var(--muted); }
dl.info dd { margin: 0; word-break: break-word; }
.missing { color: #98a0ae; font-style: italic; }
.legend span { margin-right: 14px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  vertical-align: middle; margin-right: 4px; }
ol.timeline { list-style: none; margin: 0; padding: 10px 0 4px; display: flex; flex-wrap: wrap;
  gap: 18px 6px; border-top: 3px solid var(--line); }
.ev { position: relative; width: 58px; text-align: center; cursor: default; outline: none;
  padding-top: 6px; border-radius: 8px; }
.ev .ico { display: flex; align-items: center; justify-content: center; width: 40px;
  height: 40px; margin: 0 auto; border-radius: 50%; color: var(--c, var(--neu));
  border: 3px solid var(--c, var(--neu)); background: #fff; }
.sicon { color: var(--neu); }
.oico { color: var(--pos); vertical-align: middle; }
.ev .off { display: block; font-size: 11px; color: var(--muted); margin-top: 2px; }
.ev .mark { position: absolute; top: 0; right: 4px; font-weight: 700; color: var(--c); }
.ev.repeat .ico { border-style: dashed; }
.ev:focus-visible .ico, .ev:hover .ico { box-shadow: 0 0 0 3px #c9d7f2; }
.tip { display: none; position: absolute; z-index: 10; top: 100%; left: 0;
  width: min(360px, 90vw);
  margin-top: 6px; padding: 10px 12px; text-align: left; background: #1d2330; color: #f4f6fa;
  border-radius: 8px; box-shadow: 0 6px 24px rgba(0,0,0,.25); font-size: 12.5px; }
.ev:nth-last-child(-n+5):not(:nth-child(-n+5)) .tip { left: auto; right: 0; }
.ev:hover .tip, .ev:focus-within .tip, .ev:focus .tip { display: block; }
.tip h3 { margin: 0 0 6px; font-size: 13px; color: #fff; word-break: break-word; }
.tip dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
.tip dt { color: #aab3c5; }
.tip dd { margin: 0; word-break: break-all; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.plain li { padding: 3px 0; }
.when { color: var(--muted); margin-left: 8px; font-size: 12.5px; }
.empty { color: var(--muted); font-style: italic; }
table.list { border-collapse: collapse; width: 100%; font-size: 13px; }
table.list th, table.list td { text-align: left; padding: 3px 8px;
  border-bottom: 1px solid var(--line); vertical-align: top; word-break: break-word; }
.notes li { color: var(--muted); }
footer { margin-top: 20px; color: var(--muted); font-size: 12px; }
"""


#: Inline SVG icons (no emoji font needed; stroke in the event's colour).
_SVG_PATHS = {
    "page_view": '<path d="M6 2h9l5 5v15H6z"/><path d="M14 2v6h6"/>',
    "search": '<circle cx="10" cy="10" r="6"/><path d="M15 15l6 6"/>',
    "custom": '<path d="M13 2L4 14h7l-1 8 9-12h-7z"/>',
    "app": '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
    "segment_assigned": '<circle cx="12" cy="12" r="9"/><circle cx="12" cy="12" r="5"/>'
    '<circle cx="12" cy="12" r="1"/>',
    "outcome_achieved": '<path d="M8 3h8v6a4 4 0 0 1-8 0z"/><path d="M8 5H4a4 4 0 0 0 4 5"/>'
    '<path d="M16 5h4a4 4 0 0 1-4 5"/><path d="M12 13v5M8 21h8"/>',
    "web_action": '<path d="M4 4h16v12H9l-5 4z"/>',
    "web": '<circle cx="12" cy="12" r="9"/><path d="M3 12h18"/>'
    '<path d="M12 3c3.5 3 3.5 15 0 18M12 3c-3.5 3-3.5 15 0 18"/>',
    "app_session": '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
    "custom_session": '<path d="M3 7l9-4 9 4v10l-9 4-9-4z"/><path d="M3 7l9 4 9-4M12 11v10"/>',
}


def _svg(name: str, size: int = 22) -> str:
    paths = _SVG_PATHS.get(name, '<circle cx="12" cy="12" r="4"/>')
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        f'stroke-linejoin="round" aria-hidden="true" focusable="false">{paths}</svg>'
    )


def _e(value: Any) -> str:
    """Escape one data value for HTML text or attributes (control characters replaced)."""
    return html.escape(strip_control("" if value is None else str(value)), quote=True)


def _color(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _HEX.match(value) else default


def _missing() -> str:
    return '<span class="missing">not recorded</span>'


def _v(*parts: Any, sep: str = " · ") -> str:
    shown = [_e(p) for p in parts if p not in (None, "")]
    return sep.join(shown) if shown else _missing()


def _when(iso: str | None) -> str:
    return (iso[:19].replace("T", " ") + " UTC") if iso else "not recorded"


def _tip(ev: dict[str, Any], tip_id: str) -> str:
    rows: list[tuple[str, str]] = [("time", _e(_when(ev["time"])))]
    if ev["time_local"]:
        rows.append(
            (
                "local time",
                _e(f"{ev['time_local'][:19].replace('T', ' ')} ({ev['time_local'][23:]})"),
            )
        )
    rows.append(("offset", _e(ev["offset"])))
    rows.append(
        ("event", _e(ev["event_name"]) + " · " + _e(KIND_LABELS.get(ev["kind"], ev["kind"])))
    )
    if ev["page_title"]:
        rows.append(("page", _e(ev["page_title"])))
    if ev["page_url"]:
        rows.append(("url", _e(ev["page_url"])))
    if ev["search_query"] is not None:
        rows.append(("search", _e(ev["search_query"])))
    if ev["repeat_view"]:
        rows.append(("view", _e(f"repeat view {ev['view_number']} of this page")))
    if ev["segment_id"]:
        rows.append(("segment", _v(ev["segment_name"], ev["segment_id"])))
    if ev["outcome_id"]:
        rows.append(("outcome", _v(ev["outcome_name"], ev["outcome_id"])))
    if ev["action_state"] or ev["action_id"]:
        rows.append(
            ("action", _v(ev["action_map_name"], ev["action_state"], ev["action_media_type"]))
        )
    for a in ev["attributes"] or []:
        rows.append(
            (
                _e(a["name"]),
                _e(a["value"])
                + (f" <small>({_e(a['data_type'])})</small>" if a.get("data_type") else ""),
            )
        )
    if ev["source"] == "rules":
        rows.append(("source", "jtrack rules"))
    rows.append(("tone", _e(ev["tone"])))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (
        f'<div class="tip" role="tooltip" id="{tip_id}">'
        f"<h3>{_e(_label(ev))}</h3><dl>{body}</dl></div>"
    )


def _label(ev: dict[str, Any]) -> str:
    kind = ev["kind"]
    if kind == "search":
        return f"Search: {strip_control(str(ev['search_query'] or ''))}"
    if kind == "segment_assigned":
        return f"Segment matched: {ev['label']}"
    if kind == "outcome_achieved":
        return f"Outcome achieved: {ev['label']}"
    if kind == "web_action":
        return f"Offer: {ev['label']}"
    return str(ev["label"] or "")


def _timeline(journey: list[dict[str, Any]]) -> str:
    if not journey:
        return '<p class="empty">No events in this session.</p>'
    items = []
    for ev in journey:
        i = int(ev["index"])
        tip_id = f"tip-{i}"
        color = _color(ev["color"], TONE_COLORS.get(ev["tone"], TONE_COLORS["neutral"]))
        mark = {"positive": "+", "negative": "−"}.get(ev["tone"], "")
        classes = f"ev tone-{_e(ev['tone'])}" + (" repeat" if ev["repeat_view"] else "")
        items.append(
            f'<li class="{classes}" tabindex="0" data-index="{i}" '
            f'data-event-id="{_e(ev["event_id"])}" style="--c: {color}" '
            f'aria-describedby="{tip_id}" aria-label="{_e(ev["offset"])} {_e(_label(ev))}">'
            f'<span class="ico" aria-hidden="true">{_svg(ev["kind"])}</span>'
            f'<span class="mark" aria-hidden="true">{mark}</span>'
            f'<span class="off">{_e(ev["offset"])}</span>'
            f"{_tip(ev, tip_id)}</li>"
        )
    return '<ol class="timeline" aria-label="Journey map">' + "".join(items) + "</ol>"


def _journey_table(journey: list[dict[str, Any]]) -> str:
    if not journey:
        return ""
    rows = "".join(
        f"<tr><td>{_e(ev['offset'])}</td><td>{_e(_when(ev['time']))}</td>"
        f"<td>{_e(KIND_LABELS.get(ev['kind'], ''))}</td>"
        f"<td>{_e(_label(ev))}</td><td>{_e(ev['page_url'])}</td><td>{_e(ev['tone'])}</td></tr>"
        for ev in journey
    )
    return (
        "<details><summary>The journey as a list</summary>"
        '<table class="list"><thead><tr><th>offset</th><th>time</th><th>kind</th>'
        "<th>event</th><th>page URL</th><th>tone</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def _plural(n: Any, one: str, many: str | None = None) -> str:
    k = int(n or 0)
    return f"{k:,} {one if k == 1 else (many or one + 's')}"


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _info(card: dict[str, Any]) -> str:
    d, loc, ref, cam = card["device"], card["location"], card["referrer"], card["campaign"]
    s, c, cnt, visit = card["session"], card["contact"], card["counts"], card["visit"]
    place = ", ".join(x for x in (loc["locality"], loc["region_name"], loc["country_name"]) if x)
    campaign = _v(
        " / ".join(x for x in (cam["source"], cam["medium"]) if x) or None,
        cam["name"],
        f"term “{cam['term']}”" if cam["term"] else None,
        f"content {cam['content']}" if cam["content"] else None,
    )
    if campaign == _missing():
        campaign = '<span class="missing">none</span>'
    auth = card["authenticated"]
    if c["known"]:
        match = _v(c["match_method"])
        contact = _v(c["name"], c["contact_id"])
    else:
        reason = "no saved contact matched" if c["state"] else "contacts not resolved"
        match = f'<span class="missing">{reason}</span>'
        contact = '<span class="missing">Unknown</span>'
        if c["state"]:
            contact += f" · {_e(c['state'])} contact {_e(c['contact_id'])}"
    activity = " · ".join(
        (
            _plural(cnt["events"], "event"),
            _plural(cnt["page_views"], "page view"),
            _plural(cnt["searches"], "search", "searches"),
        )
    )
    pairs = [
        ("Device", _v(d["category"], d["type"])),
        ("Activity", _e(activity)),
        ("OS", _v(_join(d["os_family"], d["os_version"]) or None)),
        ("Authenticated", ("yes" if auth else "no") if auth is not None else _missing()),
        (
            "Browser",
            _v(_join(d["browser_family"], d["browser_version"]) or None, d["browser_lang"]),
        ),
        ("Visit", _e(f"{visit['number']} of {visit['of']}") if visit["number"] else _missing()),
        ("Location", _v(place or None, loc["country"])),
        ("Contact", contact),
        ("Time zone", _v(loc["timezone"])),
        ("Contact match", match),
        ("IP organisation", _v(loc["ip_organization"])),
        ("Customer", _v(c["customer_id"], c["customer_id_type"])),
        ("Referrer", _v(ref["name"], ref["medium"], ref["url"] or ref["hostname"])),
        ("Session id", _v(s["id"])),
        ("Campaign", campaign),
        ("Source session", _v(s["source_session_id"])),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="info">{body}</dl>'


def _at(offset: Any, when: str | None, source: Any = None) -> str:
    src = " · jtrack rules" if source == "rules" else ""
    return f'<span class="when">at {_e(offset)} · {_e(_when(when))}{src}</span>'


def _searches(card: dict[str, Any]) -> str:
    if not card["searches"]:
        return '<p class="empty">No searches in this session.</p>'
    items = "".join(
        f"<li>“{_e(s['query'])}”{_at(s['offset'], s['time'])}</li>" for s in card["searches"]
    )
    return f'<ul class="plain searches">{items}</ul>'


def _ident(name: Any, ident: Any) -> str:
    return f' <small class="when">({_e(ident)})</small>' if name != ident else ""


def _segments(card: dict[str, Any]) -> str:
    if not card["segments"]:
        return '<p class="empty">No segments matched in this session.</p>'
    items = []
    for s in card["segments"]:
        color = _color(s["color"], TONE_COLORS["neutral"])
        items.append(
            f'<li><span class="dot" style="background: {color}"></span>'
            f'<strong style="color: {color}">{_e(s["display_name"])}</strong>'
            f"{_ident(s['display_name'], s['segment_id'])}"
            f"{_at(s['offset'], s['matched_at'], s['source'])}</li>"
        )
    return '<ul class="plain segments">' + "".join(items) + "</ul>"


def _outcomes(card: dict[str, Any]) -> str:
    if not card["outcomes"]:
        return '<p class="empty">No outcomes achieved in this session.</p>'
    items = []
    for o in card["outcomes"]:
        items.append(
            f'<li><span class="oico">{_svg("outcome_achieved", 16)}</span> '
            f"<strong>{_e(o['display_name'])}</strong>"
            f"{_ident(o['display_name'], o['outcome_id'])}"
            f"{_at(o['offset'], o['achieved_at'], o['source'])}</li>"
        )
    return '<ul class="plain outcomes">' + "".join(items) + "</ul>"


def _session_svg(name: str) -> str:
    return {"web": "web", "app": "app_session"}.get(name, "custom_session")


def _legend() -> str:
    dots = "".join(
        f'<span><span class="dot" style="background: {TONE_COLORS[t]}"></span>{t}</span>'
        for t in ("positive", "neutral", "negative")
    )
    hint = "<span>hover or focus (Tab) an icon for details; a dashed ring is a repeat view</span>"
    return f'<p class="legend">{dots}{hint}</p>'


def _header(card: dict[str, Any]) -> str:
    s, c, tm = card["session"], card["contact"], card["timing"]
    name = f'<span class="{"known" if c["known"] else "unknown"}">{_e(c["name"])}</span>'
    state_cls = "state active" if s["state"] == "active" else "state"
    local = ""
    if tm["start_local"]:
        start_local = tm["start_local"][:19].replace("T", " ")
        local = f" · local {_e(start_local)} ({_e(tm['timezone'])})"
    icon = _svg(_session_svg(card["icon"]["name"]), 36)
    return (
        f'<header><div class="sicon" title="{_e(s["type_label"])}">{icon}</div><div>'
        f"<h1>{name} · {_e(s['type_label'])} "
        f'<span class="{state_cls}">{_e(s["state"].replace("_", " "))}</span></h1>'
        f'<div class="meta">{_e(s["short_id"])} · duration <strong>{_e(tm["duration"])}</strong>'
        f" · {_e(_when(tm['start']))} – {_e(_when(tm['end']))}{local}</div></div></header>"
    )


def card_html(card: dict[str, Any]) -> str:
    """The whole page for one card dict (`Card.to_dict()`)."""
    s = card["session"]
    page = card["current_page"]
    if page:
        title = _e(page["title"]) if page["title"] else "(untitled)"
        page_html = f'<div class="page-title">{title}</div><div class="url">{_e(page["url"])}</div>'
    else:
        page_html = '<p class="empty">No page viewed in this session.</p>'
    notes = ""
    if card["notes"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in card["notes"])
        notes = f'<h2>What this card does not know</h2><ul class="notes">{items}</ul>'
    n_journey, n_search = len(card["journey"]), len(card["searches"])
    n_seg, n_out = len(card["segments"]), len(card["outcomes"])
    footer = (
        f"jtrack {_e(__version__)} · session {_e(s['id'])} · state as of {_e(_when(s['as_of']))}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(card['title'])}</title><style>{ROOT_CSS}{CSS}</style></head><body>"
        f'<main class="card">{_header(card)}'
        f"<h2>Current page</h2>{page_html}"
        f"<h2>Session information</h2>{_info(card)}"
        f"<h2>Journey map ({n_journey})</h2>{_legend()}{_timeline(card['journey'])}"
        f"{_journey_table(card['journey'])}"
        f"<h2>Searches performed ({n_search})</h2>{_searches(card)}"
        f"<h2>Segments matched ({n_seg})</h2>{_segments(card)}"
        f"<h2>Outcomes achieved ({n_out})</h2>{_outcomes(card)}"
        f"{notes}<footer>{footer}</footer></main></body></html>\n"
    )
