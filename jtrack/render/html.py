"""A session card as one self-contained HTML page (inline CSS, no script, no network).

The journey map is a horizontal timeline of icons; each icon is a button that shows its
tooltip (a popover, with what the terminal's `--details` shows) on hover and keyboard focus,
and Esc hides it where the browser has interest invokers (`interestfor`, Chromium); a tap
or click shows it while the icon has the focus, and a browser without interest invokers
shows it on :hover and :focus-within (CSS). Every string from the
data goes through html.escape (control characters replaced first); colours are used only
when they are exactly #RRGGBB. A Content-Security-Policy forbids every network fetch and
every script.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from jtrack.render.text import CARD_EVENTS, events_not_shown, once_each, split_events
from jtrack.render.theme import (
    AUTOMATED_COLORS,
    KIND_LABELS,
    NOT_A_VISIT,
    SEGMENT_COLOR,
    TONE_COLORS,
    arrival,
    campaign_parts,
    short_cookie,
    traffic_badge,
    typed_details,
    visit_pages,
)
from jtrack.serialize import html_attr, html_text, strip_control

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

ROOT_CSS = (
    f":root {{ --pos: {TONE_COLORS['positive']}; --neu: {TONE_COLORS['neutral']}; "
    f"--neg: {TONE_COLORS['negative']}; --seg: {SEGMENT_COLOR}; --fg: #1d2330; "
    f"--bot: {AUTOMATED_COLORS[0]}; --bot-bg: {AUTOMATED_COLORS[1]}; "
    "--muted: #5b6475; --line: #d9dee8; --bg: #f6f7fa; --card: #ffffff; }"
)
CSS = """
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
/* Text from the data may be one unbroken string of thousands of characters: everything may
   break anywhere when it has to (table cells keep a readable width, see table.list). */
.card { max-width: 1100px; margin: 0 auto; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; padding: 20px 24px; overflow-wrap: anywhere; }
header > div { min-width: 0; }
header { display: flex; gap: 14px; align-items: flex-start; }
h1 { font-size: 20px; margin: 0; }
h1 .unknown { font-style: italic; }
.meta { color: var(--muted); margin-top: 2px; }
.state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  background: #eceff4; color: var(--muted); }
/* #1b5e20 on #e3f4e6 is 6.9:1 (the tone's #2e7d32 was 4.48:1, under AA's 4.5:1) */
.state.active { background: #e3f4e6; color: #1b5e20; }
.badge.automated { display: inline-block; margin-top: 6px; padding: 2px 10px;
  border-radius: 10px; font-size: 12.5px; font-weight: 600; color: var(--bot);
  background: var(--bot-bg); border: 1px solid var(--bot); overflow-wrap: anywhere; }
.scope { color: var(--muted); margin: 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  margin: 22px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.page-title { font-weight: 600; }
.url { color: var(--muted); word-break: break-all; }
/* Session information: two groups (the visitor's device and origin; the session and the
   contact) side by side, one under the other on a narrow screen. */
.info { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr));
  gap: 4px 32px; }
dl.info { display: grid; grid-template-columns: max-content minmax(0, 1fr);
  gap: 4px 16px; margin: 0; align-content: start; }
dl.info dt { color: var(--muted); }
dl.info dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
/* #5b6475 on white is 6.0:1 (WCAG AA asks 4.5:1 for text) */
.missing { color: var(--muted); font-style: italic; }
.legend > span { margin-right: 10px; }
/* a segment's own colour may be white or pale: the dot has a rim */
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  vertical-align: middle; margin-right: 4px; box-shadow: inset 0 0 0 1px rgba(0,0,0,.3); }
ol.timeline { list-style: none; margin: 0; padding: 10px 0 4px; display: flex; flex-wrap: wrap;
  gap: 18px 6px; border-top: 3px solid var(--line); position: relative; }
.ev { width: 58px; text-align: center; padding-top: 6px; }
.ev .evb { display: block; width: 100%; margin: 0; padding: 0; border: 0; border-radius: 8px;
  background: none; color: inherit; font: inherit; cursor: default;
  interest-delay-start: 0s; }
/* focus: a dark ring with room around it (15.7:1 on white; WCAG 1.4.11 asks 3:1) */
.ev .evb:focus { outline: none; }
.ev .evb:focus-visible { outline: 3px solid var(--fg); outline-offset: 2px; }
.ev .ico { position: relative; display: flex; align-items: center; justify-content: center;
  width: 40px; height: 40px; margin: 0 auto; border-radius: 50%; color: var(--c, var(--neu));
  border: 3px solid var(--c, var(--neu)); background: #fff; }
.sicon { color: var(--neu); flex: none; }
.sign { font-weight: 700; margin-right: 4px; }
.sign.pos { color: var(--pos); }
.sign.neg { color: var(--neg); }
.oico { color: var(--pos); vertical-align: middle; }
.ev .off { display: block; font-size: 11px; color: var(--muted); margin-top: 2px;
  white-space: nowrap; }
.ev .mark { position: absolute; top: -9px; right: -7px; font-weight: 700; color: var(--c); }
.ev .swatch { position: absolute; right: -4px; bottom: -4px; width: 12px; height: 12px;
  border-radius: 50%; border: 2px solid #fff; }
.ev.repeat .ico { border-style: dashed; }
.ev .evb:hover .ico { box-shadow: 0 0 0 3px #c9d7f2; }
/* The tooltip hangs from the timeline, not from its icon: it spans the timeline's width
   below the icon's row, so an icon at the right edge never pushes it off the page. It is a
   popover its button shows on hover and keyboard focus (`interestfor`), which Esc hides (it
   covers the next row: WCAG 1.4.13); a tap or click shows it while the icon has the focus;
   a browser without `interestfor` shows it on hover and focus (no popover: a pressed
   popover would open in the top layer, at the top of the page). */
.tip { display: none; position: absolute; z-index: 10; left: 0; right: 0; inset-block: auto;
  width: auto; height: auto; overflow: visible;
  margin: 6px 0 0; padding: 10px 12px; border: 0; text-align: left; background: #1d2330;
  color: #f4f6fa; border-radius: 8px; box-shadow: 0 6px 24px rgba(0,0,0,.25);
  font-size: 12.5px; }
.tip:popover-open { display: block; }
@supports selector(:interest-source) {
  ol.timeline { anchor-name: --map; anchor-scope: --map; }
  .tip:popover-open { position: fixed; top: anchor(bottom); bottom: auto;
    left: anchor(--map left); right: anchor(--map right); }
  /* a tap or a click focuses the icon without showing interest: shown under its row */
  .ev:has(.evb:focus:not(:focus-visible)) .tip:not(:popover-open) { display: block; }
}
@supports not selector(:interest-source) {
  .ev:hover .tip, .ev:focus-within .tip { display: block; }
}
.tip h3 { margin: 0 0 6px; font-size: 13px; color: #fff; overflow-wrap: anywhere; }
.tip dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
.tip dt { color: #aab3c5; }
.tip dd { margin: 0; overflow-wrap: anywhere; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.plain li { padding: 3px 0; }
.when { color: var(--muted); margin-left: 8px; font-size: 12.5px; }
.empty { color: var(--muted); font-style: italic; }
.scroll { overflow-x: auto; }
table.list { border-collapse: collapse; width: 100%; font-size: 13px; }
/* Every text cell may break anywhere (in an auto-layout table `break-word` would not shrink
   a column: a 2,000-letter name made it 15,000 px wide) but keeps a readable width (never a
   letter or two a line); a URL a little wider. */
table.list th, table.list td { text-align: left; padding: 3px 8px;
  border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere;
  min-width: 12ch; }
table.list th { overflow-wrap: normal; min-width: 0; }
table.list td.nw, table.list th.nw { white-space: nowrap; overflow-wrap: normal; min-width: 0; }
table.list td.u { min-width: 18ch; }
table.list td.k, table.list td.tone { min-width: 0; overflow-wrap: normal; }
.notes li { color: var(--muted); }
footer { margin-top: 20px; color: var(--muted); font-size: 12px; }
@media screen and (max-width: 720px) {
  body { padding: 8px; }
  .card { padding: 12px; }
}
/* Below 900 px (a tablet held upright, a phone) each event of the list is a block: its
   offset, time, kind, name and tone on a line that wraps, its URL in full width below; a
   table there would leave the name and the URL a few words a line. (On screen only: a page
   printed to A4 or Letter is as narrow, and keeps its tables.) */
@media screen and (max-width: 900px) {
  table.list thead { display: none; }
  table.list tr { display: block; padding: 5px 0; border-bottom: 1px solid var(--line); }
  table.list td { display: inline; padding: 0 6px 0 0; border: 0; min-width: 0; }
  table.list td.nw:first-child { font-weight: 600; }
  table.list td.k, table.list td.tone { color: var(--muted); }
  table.list td.u, table.list td.d { display: block; min-width: 0; }
}
table.list td.d { min-width: 16ch; }
table.list .kv { display: block; }
table.list .kv .key { color: var(--muted); }
.print-only { display: none; }
/* On paper no tooltip shows and nothing can be opened: the list is open (every event's time,
   name, page and details), the hints for a pointer and a keyboard are left out, colours
   (the dots, the swatches) print as they show, tables keep their header on each page, and
   a heading stays with what follows it. */
@media print {
  body { padding: 0; background: #fff; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  .card, article.visit { border: 0; border-radius: 0; padding: 0; max-width: none; }
  .screen-only, .tip { display: none !important; }
  .print-only { display: inline; }
  details.list::details-content { content-visibility: visible; display: block; }
  details.list > summary { list-style: none; font-weight: 600; margin: 8px 0 4px; }
  .scroll { overflow: visible; }
  table.list thead { display: table-header-group; }
  table.list tr, ol.timeline .ev, .kpi, ul.plain li { break-inside: avoid; }
  h1, h2, h3, summary { break-after: avoid; }
  article.visit h3 { break-after: avoid; }
}
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
    """One data value as HTML text: escaped (control characters replaced), and isolated in
    a `<bdi>` when it holds right-to-left letters (see serialize.html_text)."""
    return html_text(value)


def _a(value: Any) -> str:
    """One data value escaped for an attribute or the page's `<title>`."""
    return html_attr(value)


def _color(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _HEX.match(value) else default


def _missing() -> str:
    return '<span class="missing">not recorded</span>'


def _typed_row(c: dict[str, Any]) -> list[tuple[str, str]]:
    """What an unknown visitor typed, as unverified details."""
    typed = typed_details(c)
    if not typed:
        return []
    return [("Typed", _e(" · ".join(typed)) + ' <span class="missing">(unverified)</span>')]


def _v(*parts: Any, sep: str = " · ") -> str:
    shown = [_e(p) for p in parts if p not in (None, "")]
    return sep.join(shown) if shown else _missing()


def _when(iso: str | None) -> str:
    return (iso[:19].replace("T", " ") + " UTC") if iso else "not recorded"


def _offset(local: str) -> str:
    """The UTC offset of an ISO local time (`+01:00`), whatever its fraction's digits."""
    return re.sub(r"^\.\d+", "", local[19:])


#: Events of the visitor's own (a system event's name, `segment_assigned`, says no more
#: than its kind).
_VISITOR_KINDS = ("page_view", "search", "custom", "app")


def _tip_rows(ev: dict[str, Any], listed: bool = False) -> list[tuple[str, str]]:
    """What the tooltip says of an event, as (key, HTML) rows; `listed`: what the list view
    adds to its columns (offset, time, kind, label, page URL, tone): the event's name and
    page title where the label is not them, what was searched where it is no search, the
    repeat view, segment, outcome or action, every attribute and who says so."""
    label = _label(ev)
    rows: list[tuple[str, str]] = []
    if not listed:
        rows.append(("time", _e(_when(ev["time"]))))
    if ev["time_local"] and not listed:
        rows.append(
            (
                "local time",
                _e(f"{ev['time_local'][:19].replace('T', ' ')} ({_offset(ev['time_local'])})"),
            )
        )
    if not listed:
        rows.append(("offset", _e(ev["offset"])))
        rows.append(
            ("event", _e(ev["event_name"]) + " · " + _e(KIND_LABELS.get(ev["kind"], ev["kind"])))
        )
    elif ev["event_name"] and ev["event_name"] != label and ev["kind"] in _VISITOR_KINDS:
        rows.append(("event", _e(ev["event_name"])))
    if ev["page_title"] and not (listed and ev["page_title"] == label):
        rows.append(("page", _e(ev["page_title"])))
    if ev["page_url"] and not listed:
        rows.append(("url", _e(ev["page_url"])))
    if ev["search_query"] is not None and not (listed and ev["kind"] == "search"):
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
        typed = a.get("data_type") and not listed
        rows.append(
            (
                _e(a["name"]),
                _e(a["value"]) + (f" <small>({_e(a['data_type'])})</small>" if typed else ""),
            )
        )
    if ev["kind"] in ("segment_assigned", "outcome_achieved") or ev["source"] == "rules":
        rows.append(("source", _e(source_label(ev["source"]))))
    if not listed:
        rows.append(("tone", _e(ev["tone"])))
    return rows


def _tip(ev: dict[str, Any], tip_id: str) -> str:
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in _tip_rows(ev))
    return (
        f'<div class="tip" role="tooltip" id="{tip_id}" popover="hint">'
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
        return f"Web action: {ev['label']}"
    # an empty page title is no title: the URL (then the event's name), as for a missing one
    for text in (ev["label"], ev.get("page_url"), ev.get("event_name")):
        if text is not None and str(text).strip():
            return str(text)
    return KIND_LABELS.get(kind, str(kind))


def _gap(n: int) -> str:
    """The line in place of the events split_events leaves out of a long journey."""
    return f'<p class="empty gap">{_e(events_not_shown(n))}</p>'


def _timeline(
    journey: list[dict[str, Any]], prefix: str = "tip", limit: int | None = CARD_EVENTS
) -> str:
    """The journey map: one focusable icon per entry; `prefix` keeps tooltip ids unique when
    a page holds several maps (a visitor profile); of a long journey the first and last
    entries (`limit` in all: split_events), a line between them saying how many are not."""
    if not journey:
        return '<p class="empty">No events in this session.</p>'
    head, tail, left_out = split_events(journey, limit)
    return _map(head, prefix) + (_gap(left_out) + _map(tail, prefix) if left_out else "")


def _map(journey: list[dict[str, Any]], prefix: str) -> str:
    items = []
    for ev in journey:
        i = int(ev["index"])
        tip_id = f"{prefix}-{i}"
        segment = ev["kind"] == "segment_assigned" and ev["tone"] == "neutral"
        # a segment match has a colour of its own (never a tone's); its segment's colour is
        # the swatch on the icon
        color = SEGMENT_COLOR if segment else TONE_COLORS.get(ev["tone"], TONE_COLORS["neutral"])
        swatch = (
            f'<span class="swatch" style="background: {_color(ev["color"], SEGMENT_COLOR)}"></span>'
            if segment
            else ""
        )
        mark = {"positive": "+", "negative": "−"}.get(ev["tone"], "")
        classes = f"ev tone-{_a(ev['tone'])}" + (" repeat" if ev["repeat_view"] else "")
        # the name says the tone the mark shows (the mark itself is hidden from it)
        tone = f", {ev['tone']}" if mark else ""
        items.append(
            f'<li class="{classes}" data-index="{i}" '
            f'data-event-id="{_a(ev["event_id"])}" style="--c: {color}">'
            f'<button type="button" class="evb" tabindex="0" interestfor="{tip_id}" '
            f'aria-describedby="{tip_id}" '
            f'aria-label="{_a(ev["offset"])} {_a(_label(ev))}{_a(tone)}">'
            f'<span class="ico" aria-hidden="true">{_svg(ev["kind"])}'
            f'<span class="mark">{mark}</span>{swatch}</span>'
            f'<span class="off">{_e(ev["offset"])}</span></button>'
            f"{_tip(ev, tip_id)}</li>"
        )
    return '<ol class="timeline" aria-label="Journey map">' + "".join(items) + "</ol>"


def _journey_table(journey: list[dict[str, Any]], limit: int | None = CARD_EVENTS) -> str:
    """The journey as a list (closed on screen, open on paper, where no tooltip shows): each
    event's offset, time, kind, name, page URL and tone, and the rest of what its tooltip
    says (its event name, page title, attributes, search, segment...) in `details`; of a
    long journey the first and last events (as _timeline), a row between saying how many
    are not shown."""
    if not journey:
        return ""
    head, tail, left_out = split_events(journey, limit)
    gap = f'<tr><td colspan="7" class="gap">{_e(events_not_shown(left_out))}</td></tr>'
    return _list(_rows(head) + (gap + _rows(tail) if left_out else ""))


def _rows(journey: list[dict[str, Any]]) -> str:
    return "".join(
        f'<tr><td class="nw">{_e(ev["offset"])}</td><td class="nw">{_e(_when(ev["time"]))}</td>'
        f'<td class="k">{_e(KIND_LABELS.get(ev["kind"], ""))}</td>'
        f'<td>{_e(_label(ev))}</td><td class="u">{_e(ev["page_url"])}</td>'
        f'<td class="tone">{_e(ev["tone"])}</td><td class="d">'
        + "".join(
            f'<span class="kv"><span class="key">{k}</span> {v}</span>'
            for k, v in _tip_rows(ev, listed=True)
        )
        + "</td></tr>"
        for ev in journey
    )


def _list(rows: str) -> str:
    return (
        '<details class="list"><summary>The journey as a list</summary>'
        '<div class="scroll"><table class="list"><thead><tr><th scope="col" class="nw">offset'
        '</th><th scope="col" class="nw">time</th><th scope="col">kind</th>'
        '<th scope="col">event</th><th scope="col">page URL</th><th scope="col">tone</th>'
        '<th scope="col">details</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div></details>"
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
    campaign = _v(*campaign_parts(cam, ("“", "”")))
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
    visitor = [
        ("Device", _v(d["category"], d["type"])),
        ("OS", _v(_join(d["os_family"], d["os_version"]) or None)),
        (
            "Browser",
            _v(_join(d["browser_family"], d["browser_version"]) or None, d["browser_lang"]),
        ),
        ("Location", _v(place or None, loc["country"])),
        ("Time zone", _v(loc["timezone"])),
        ("IP organisation", _v(loc["ip_organization"])),
        ("Referrer", _v(ref["name"], ref["medium"], ref["url"] or ref["hostname"])),
        ("Campaign", campaign),
    ]
    session = [
        ("Activity", _e(activity)),
        ("Authenticated", ("yes" if auth else "no") if auth is not None else _missing()),
        (
            "Visit",
            _e(f"{visit['number']} of {visit['of']}")
            if visit["number"]
            else _e(NOT_A_VISIT)
            if s["type"] != "web"
            else _missing(),
        ),
        ("Contact", contact),
        ("Contact match", match),
        *_typed_row(c),
        ("Customer", _v(c["customer_id"], c["customer_id_type"])),
        ("Session id", _v(s["id"])),
        ("Source session", _v(s["source_session_id"])),
    ]
    groups = "".join(
        '<dl class="info">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"
        for pairs in (visitor, session)
    )
    return f'<div class="info">{groups}</div>'


def source_label(source: Any) -> str:
    """Who says a segment matched or an outcome was achieved: `jtrack rules` or `export`."""
    return "jtrack rules" if source == "rules" else "export"


def _at(offset: Any, when: str | None, source: Any = None) -> str:
    """`at 0:02:05 · 2026-10-04 09:14:08 UTC · export`: when, and (for a segment or an
    outcome) who says so, as the terminal card does."""
    src = f" · {source_label(source)}" if source is not None else ""
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


def _section(card: dict[str, Any], key: str, title: str, body: Any) -> str:
    """A section of the card, or nothing when the role may not see it (not "none")."""
    if key in (card.get("hidden_sections") or ()):
        return ""
    return f"<h2>{title}</h2>{body(card)}"


def _segments(card: dict[str, Any]) -> str:
    if not card["segments"]:
        return '<p class="empty">No segments matched in this session.</p>'
    items = []
    for s in card["segments"]:
        color = _color(s["color"], SEGMENT_COLOR)
        items.append(
            f'<li><span class="dot" style="background: {color}"></span>'
            f"<strong>{_e(s['display_name'])}</strong>"
            f"{_ident(s['display_name'], s['segment_id'])}"
            f"{_at(s['offset'], s['matched_at'], s['source'])}</li>"
        )
    return '<ul class="plain segments">' + "".join(items) + "</ul>"


def _sign(negative: bool) -> str:
    """The outcome's tone in text as well as colour: `+` or `−`, as the terminal shows it."""
    if negative:
        return '<span class="sign neg" title="negative outcome">\u2212</span>'
    return '<span class="sign pos" title="positive outcome">+</span>'


def _outcomes(card: dict[str, Any]) -> str:
    if not card["outcomes"]:
        return '<p class="empty">No outcomes achieved in this session.</p>'
    items = []
    for o in card["outcomes"]:
        negative = o.get("tone") == "negative"
        neg = ' style="color: var(--neg)"' if negative else ""
        items.append(
            f'<li><span class="oico"{neg}>{_svg("outcome_achieved", 16)}</span> '
            f"{_sign(negative)}<strong{neg}>{_e(o['display_name'])}</strong>"
            f"{_ident(o['display_name'], o['outcome_id'])}"
            f"{_at(o['offset'], o['achieved_at'], o['source'])}</li>"
        )
    return '<ul class="plain outcomes">' + "".join(items) + "</ul>"


def _session_svg(name: str) -> str:
    return {"web": "web", "app": "app_session"}.get(name, "custom_session")


def _legend() -> str:
    """What the colours and marks say: the `+` and `−` on an icon say its tone without
    colour (as the terminal's legend says); spaces between the parts for a screen reader."""
    tones = (
        ("positive", "+ positive"),
        ("neutral", "neutral (no mark)"),
        ("negative", "\u2212 negative"),
    )
    parts = [
        f'<span><span class="dot" style="background: {TONE_COLORS[t]}"></span>{text}</span>'
        for t, text in tones
    ]
    parts.append(
        f'<span><span class="dot" style="background: {SEGMENT_COLOR}"></span>'
        "segment (its own colour on the swatch)</span>"
    )
    parts.append(
        '<span><span class="screen-only">hover, focus (Tab) or press an icon for its details, '
        "Esc to hide them; </span>"
        '<span class="print-only">each event\'s details are in the list below; </span>'
        "a dashed ring is a repeat view</span>"
    )
    return f'<p class="legend">{" ".join(parts)}</p>'


_BOT_PATH = (
    '<rect x="4" y="8" width="16" height="12" rx="2"/><path d="M12 4v4"/>'
    '<circle cx="12" cy="3" r="1"/><path d="M9 13h.01M15 13h.01M9 17h6"/>'
)


def _badge(card: dict[str, Any]) -> str:
    """The badge of an automated session (class, agent, signal); nothing for a person."""
    text = traffic_badge(card.get("traffic"))
    if text is None:
        return ""
    t = card["traffic"]
    icon = (
        '<svg width="14" height="14" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
        f'focusable="false" style="vertical-align: -2px">{_BOT_PATH}</svg>'
    )
    return (
        f'<div class="badge automated" data-traffic-class="{_a(t.get("class"))}" '
        f'title="{_a(text)}">{icon} {_e(text)}</div>'
    )


def _header(card: dict[str, Any]) -> str:
    s, c, tm = card["session"], card["contact"], card["timing"]
    name = f'<span class="{"known" if c["known"] else "unknown"}">{_e(c["name"])}</span>'
    state_cls = "state active" if s["state"] == "active" else "state"
    local = ""
    if tm["start_local"]:
        # start and end, each with its offset: in the hour the clocks go back over, a wall
        # time alone is two instants (as the terminal card gives BST or GMT)
        ends = [
            f"{t[:19].replace('T', ' ')} ({_offset(t)})"
            for t in (tm["start_local"], tm["end_local"])
            if t
        ]
        local = f" · local {_e(' – '.join(ends))} {_e(tm['timezone'])}"
    icon = _svg(_session_svg(card["icon"]["name"]), 36)
    return (
        f'<header><div class="sicon" title="{_a(s["type_label"])}">{icon}</div><div>'
        f"<h1>{name} · {_e(s['type_label'])} "
        f'<span class="{state_cls}">{_e(s["state"].replace("_", " "))}</span></h1>'
        f'<div class="meta">{_e(s["short_id"])} · duration <strong>{_e(tm["duration"])}</strong>'
        f" · {_e(_when(tm['start']))} – {_e(_when(tm['end']))}{local}</div>{_badge(card)}"
        "</div></header>"
    )


def card_html(
    card: dict[str, Any],
    source: dict[str, Any] | None = None,
    made: datetime | None = None,
    events: int | None = CARD_EVENTS,
) -> str:
    """The whole page for one card dict (`Card.to_dict()`); its footer says where it comes
    from (`source`: the store, see report_html.store_source) and when it was made (`made`,
    else now or $JTRACK_NOW: report_html.made_words); `events`: the journey-map events
    shown of a longer journey (the first and last: split_events; None: every one)."""
    from jtrack.render.report_html import made_words

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
        f"session {_e(s['id'])} · state as of {_e(_when(s['as_of']))} · "
        f"{_e(made_words(source, made))}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_a(card['title'])}</title><style>{ROOT_CSS}{CSS}</style></head><body>"
        f'<main class="card">{_header(card)}'
        f"<h2>Current page</h2>{page_html}"
        f"<h2>Session information</h2>{_info(card)}"
        f"<h2>Journey map ({n_journey})</h2>{_legend()}"
        f"{_timeline(card['journey'], limit=events)}{_journey_table(card['journey'], events)}"
        f"<h2>Searches performed ({n_search})</h2>{_searches(card)}"
        f"{_section(card, 'segments', f'Segments matched ({n_seg})', _segments)}"
        f"{_section(card, 'outcomes', f'Outcomes achieved ({n_out})', _outcomes)}"
        f"{notes}<footer>{footer}</footer></main></body></html>\n"
    )


# ---------------------------------------------------------------------------- visitor profile

PROFILE_CSS = """
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px;
  margin: 14px 0 4px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.kpi .v { font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
.kpi .k { color: var(--muted); font-size: 12px; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr));
  gap: 0 24px; }
ol.counts { list-style: none; margin: 0; padding: 0; }
ol.counts li { display: flex; gap: 8px; padding: 3px 0; border-bottom: 1px solid var(--line); }
ol.counts .what { flex: 1; min-width: 0; overflow-wrap: anywhere; }
ol.counts .n { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
article.visit { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px;
  margin: 10px 0; }
article.visit h3 { margin: 0; font-size: 15px; display: flex; flex-wrap: wrap; gap: 4px 10px;
  align-items: center; }
article.visit .meta { font-size: 13px; }
article.visit p { margin: 4px 0; overflow-wrap: anywhere; }
"""


def _count_list(
    items: list[tuple[str, int]],
    empty: str,
    swatches: dict[str, str] | None = None,
    negative: set[str] | None = None,
) -> str:
    """A ranked list; `swatches`: a colour dot for each; `negative`: outcomes, these of a
    negative tone (each gets its sign, see _sign)."""
    if not items:
        return f'<p class="empty">{_e(empty)}</p>'
    rows = []
    for what, n in items:
        dot = ""
        if swatches is not None:
            color = _color(swatches.get(what), SEGMENT_COLOR)
            dot = f'<span class="dot" style="background: {color}"></span>'
        if negative is not None:
            dot = _sign(what in negative)
        rows.append(
            f'<li><span class="what">{dot}{_e(what)}</span><span class="n">{n:,}</span></li>'
        )
    return '<ol class="counts">' + "".join(rows) + "</ol>"


def _ranked(counts: dict[str, int], top: int = 10) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def _profile(journey: dict[str, Any]) -> dict[str, Any]:
    """What the profile lists, counted over the sessions shown: devices, pages, searches,
    segments (with their colours) and outcomes."""
    devices: dict[str, int] = {}
    pages: dict[str, int] = {}
    searches: dict[str, int] = {}
    segments: dict[str, int] = {}
    colors: dict[str, str] = {}
    outcomes: dict[str, int] = {}
    negative: set[str] = set()
    places: dict[str, int] = {}
    for card in journey["sessions"]:
        d, loc = card["device"], card["location"]
        device = " · ".join(
            x
            for x in (
                d["category"],
                " ".join(v for v in (d["os_family"], d["os_version"]) if v),
                d["browser_family"],
            )
            if x
        )
        if device:
            devices[device] = devices.get(device, 0) + 1
        place = ", ".join(x for x in (loc["locality"], loc["country_name"] or loc["country"]) if x)
        if place:
            places[place] = places.get(place, 0) + 1
        for ev in card["journey"]:
            if ev["kind"] in ("page_view", "search"):  # (a search is a page view too)
                page = ev["page_title"] or ev["page_url"] or "(untitled page)"
                pages[page] = pages.get(page, 0) + 1
        for q in card["searches"]:
            query = " ".join(str(q["query"] or "").split())
            if query:
                searches[query] = searches.get(query, 0) + 1
        for seg in once_each(card["segments"], "segment_id"):
            name = str(seg["display_name"])
            segments[name] = segments.get(name, 0) + 1
            if seg["color"]:
                colors[name] = seg["color"]
        for out in once_each(card["outcomes"], "outcome_id"):
            name = str(out["display_name"])
            outcomes[name] = outcomes.get(name, 0) + 1
            if out.get("tone") == "negative":
                negative.add(name)
    return {
        "devices": _ranked(devices),
        "places": _ranked(places),
        "pages": _ranked(pages),
        "searches": _ranked(searches),
        "segments": _ranked(segments, 50),
        "colors": colors,
        "outcomes": _ranked(outcomes, 50),
        "negative": negative,
    }


def _visit(card: dict[str, Any], n: int, cookies: list[str] | None = None) -> str:
    """One session of the profile in brief: when, how long, what, and its journey map;
    `cookies`: those of a profile that spans several (visits are numbered per cookie)."""
    s, tm, cnt = card["session"], card["timing"], card["counts"]
    state_cls = "state active" if s["state"] == "active" else "state"
    icon = _svg(_session_svg(card["icon"]["name"]), 20)
    visit = card["visit"]
    what = [
        _plural(cnt["events"], "event"),
        _plural(cnt["page_views"], "page view"),
        _plural(cnt["searches"], "search", "searches"),
    ]
    lines = [
        f'<div class="meta">{_e(_when(tm["start"]))} · duration <strong>{_e(tm["duration"])}'
        f"</strong> · {_e(' · '.join(what))}</div>"
    ]
    came = arrival(card)
    if came:  # (how the visit arrived: device, referrer, campaign)
        parts = " · ".join(
            f'<span class="came">{label} <strong>{_v(*values)}</strong></span>'
            for label, values in came
        )
        lines.append(f'<p class="arrival">{parts}</p>')
    for label, page in visit_pages(card):
        lines.append(f"<p>{label} <strong>{_e(page['title'] or page['url'])}</strong></p>")
    if card["searches"]:
        qs = ", ".join(f"“{_e(q['query'])}”" for q in card["searches"])
        lines.append(f"<p>searched {qs}</p>")
    if card["segments"]:
        segs = ", ".join(
            f'<span class="dot" style="background: {_color(x["color"], SEGMENT_COLOR)}"></span>'
            f"{_e(x['display_name'])}"
            for x in once_each(card["segments"], "segment_id")
        )
        lines.append(f"<p>segments {segs}</p>")
    if card["outcomes"]:
        outs = ", ".join(
            _sign(x.get("tone") == "negative")
            + f'<strong style="color: var(--{"neg" if x.get("tone") == "negative" else "pos"})">'
            f"{_e(x['display_name'])}</strong>"
            for x in once_each(card["outcomes"], "outcome_id")
        )
        lines.append(f"<p>outcomes {outs}</p>")
    notes = ""
    if card["notes"]:  # (below the map: a map's tooltip hangs over what follows it)
        items = "".join(f"<li>{_e(n)}</li>" for n in card["notes"])
        notes = f'<ul class="notes visit-notes">{items}</ul>'
    number = f" · visit {_e(visit['number'])} of {_e(visit['of'])}" if visit["number"] else ""
    if number and cookies:
        number += f" on cookie {_e(short_cookie(card['contact']['customer_id'], cookies))}"
    return (
        f'<article class="visit" id="visit-{n}" data-session-id="{_a(s["id"])}">'
        f'<h3><span class="sicon">{icon}</span>{_e(s["type_label"])} '
        f'<span class="{state_cls}">{_e(s["state"].replace("_", " "))}</span>'
        f'<small class="when">{_e(s["short_id"])}{number}</small></h3>'
        + _badge(card)
        + "".join(lines)
        + _timeline(card["journey"], f"tip-{n}")
        + _journey_table(card["journey"])
        + notes
        + "</article>"
    )


def _scope(journey: dict[str, Any]) -> str:
    """`traffic: human (people only)`: which sessions the profile shows."""
    scope = journey.get("traffic")
    if scope is None:
        return ""
    from jtrack.usecases.traffic import describe_classes

    classes = ",".join(scope["classes"])
    return (
        f'<p class="scope" data-traffic="{_a(classes)}">traffic: '
        f"{_e(describe_classes(scope['classes']))}</p>"
    )


def journey_html(
    journey: dict[str, Any], source: dict[str, Any] | None = None, made: datetime | None = None
) -> str:
    """A visitor profile as one self-contained page (the `Journey.to_dict()` of `jtrack
    journey`): who, first and last visit, visits, devices, top pages, searches, segments and
    outcomes, then each session in brief with its journey map (hover or Tab for details);
    the footer says where it comes from and when it was made (as card_html's)."""
    from jtrack.render.report_html import made_words

    c, tot = journey["contact"], journey["totals"]
    prof = _profile(journey)
    name_cls = "known" if c["known"] else "unknown"
    ids = ", ".join(_e(x) for x in journey["customer_ids"])
    who = []
    if c["contact_id"]:
        who.append(f"contact {_e(c['contact_id'])}")
    who.append(f"{'cookie' if len(journey['customer_ids']) == 1 else 'cookies'} {ids}")
    other = tot["sessions"] - tot["web_sessions"]

    def counted(n: int | None, many: str, one: str) -> list[tuple[str, str, str]]:
        """A count's tile, its label singular for 1 (none for a count the role may not see:
        null)."""
        return [] if n is None else [(many, one if n == 1 else many, f"{n:,}")]

    kpis = [  # (key, label, value)
        ("first visit", "first visit", _when(tot["first_visit"])),
        ("last visit", "last visit", _when(tot["last_visit"])),
        *counted(tot["web_sessions"], "visits", "visit"),
        *(counted(other, "other sessions", "other session") if other else []),
        ("time on site", "time on site", str(tot["web_duration"] or "0:00:00")),
        *counted(tot["page_views"], "page views", "page view"),
        *counted(tot["searches"], "searches", "search"),
        *counted(tot["events"], "events", "event"),
        *counted(tot["segments"], "segments", "segment"),
        *counted(tot["outcomes"], "outcomes", "outcome"),
    ]
    kpi_html = "".join(
        f'<div class="kpi" data-kpi="{_a(k)}"><div class="v">{_e(v)}</div>'
        f'<div class="k">{_e(label)}</div></div>'
        for k, label, v in kpis
    )
    shown = len(journey["sessions"])
    scope = f" (the newest {shown} of {tot['sessions']} visits)" if shown < tot["sessions"] else ""
    notes = "".join(f"<li>{_e(n)}</li>" for n in journey["notes"])
    cookies = journey["customer_ids"] if len(journey["customer_ids"]) > 1 else []
    visits = "".join(
        _visit(card, n, cookies) for n, card in enumerate(journey["sessions"], start=1)
    )
    title = f"{c['name']} · visitor profile"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_a(title)}</title><style>{ROOT_CSS}{CSS}{PROFILE_CSS}</style></head><body>"
        f'<main class="card profile"><header><div class="sicon">{_svg("web", 36)}</div><div>'
        f'<h1><span class="{name_cls}">{_e(c["name"])}</span> · visitor profile</h1>'
        f'<div class="meta">{" · ".join(who)}</div>{_scope(journey)}</div></header>'
        f'<div class="kpis">{kpi_html}</div>'
        f'<div class="cols"><section><h2>Devices{_e(scope)}</h2>'
        f"{_count_list(prof['devices'], 'No device recorded.')}"
        f"<h2>Locations</h2>{_count_list(prof['places'], 'No location recorded.')}</section>"
        f"<section><h2>Top pages</h2>{_count_list(prof['pages'], 'No page viewed.')}</section>"
        f"<section><h2>Searches</h2>{_count_list(prof['searches'], 'No searches.')}</section>"
        f"<section><h2>Segments</h2>"
        + (
            _count_list(prof["segments"], "No segments matched.", prof["colors"])
            if tot["segments"] is not None
            else '<p class="empty">Hidden by your role.</p>'
        )
        + "<h2>Outcomes</h2>"
        + (
            _count_list(prof["outcomes"], "No outcomes achieved.", negative=prof["negative"])
            if tot["outcomes"] is not None
            else '<p class="empty">Hidden by your role.</p>'
        )
        + "</section>"
        f"</div><h2>Visits, newest first ({shown})</h2>{_legend()}{visits}"
        + (f'<h2>Notes</h2><ul class="notes">{notes}</ul>' if notes else "")
        + f"<footer>{_e(journey['matched_by'].replace('_', ' '))} {_e(journey['query'])} · "
        f"{_e(made_words(source, made))}</footer></main></body></html>\n"
    )
