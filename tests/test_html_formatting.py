"""What the HTML pages say, without a browser: the daily chart's axes, numbers with their
cents, times in UTC, where a segment or an outcome comes from, an empty page title, the
contrast of "not recorded", the rules explanation's heading, the watch page's chart and its
refresh. (The layout in a real browser is in test_html_hostile.py.)"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from jtrack.engine import run_sessionize
from jtrack.render.html import CSS as CARD_CSS
from jtrack.render.html import ROOT_CSS, card_html
from jtrack.render.report_html import daily_svg, html_table, report_html
from jtrack.render.rules import frame_html, report_renderables
from jtrack.render.table import render_to_text
from jtrack.store import Store
from jtrack.usecases.card import build_card
from tests.helpers import T0, flat_event, flat_frame

# ------------------------------------------------------------------------- the daily chart


def _daily(days: list[date], sessions: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"day": [d.isoformat() for d in days], "sessions": sessions, "visitors": sessions}
    )


def _texts(svg: str, cls: str) -> list[tuple[float, str]]:
    return [
        (float(x), t)
        for x, t in re.findall(rf'<text class="big {cls}" x="([0-9.]+)"[^>]*>([^<]*)</text>', svg)
    ]


def _char_w() -> float:
    """Width of a character of the chart's labels, in viewBox units (14-unit digits)."""
    return 0.62 * 14


def test_the_y_labels_fit_the_margin_with_every_digit() -> None:
    """172,321 sessions a day: the label once lost its leading digit in a 44-unit margin."""
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(30)]
    svg = daily_svg(_daily(days, [172_321 - i * 1000 for i in range(30)]))
    ys = _texts(svg, "y")
    labels = [t for _, t in ys]
    assert "200,000" in labels and "0" in labels
    assert len(labels) >= 3  # round figures between 0 and the top, not only peak and 0
    assert svg.count('class="grid"') >= 3
    for x, text in ys:  # right-aligned at x: the text starts at x - its width, inside the svg
        assert x - len(text) * _char_w() >= 0, (x, text)


def test_nice_ticks_are_round_and_cover_the_peak() -> None:
    from jtrack.render.report_html import nice_ticks

    assert nice_ticks(172_321) == [0, 50_000, 100_000, 150_000, 200_000]
    assert nice_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert nice_ticks(0) == [0, 1]
    for peak in (1, 7, 13, 99, 101, 999_999):
        ticks = nice_ticks(peak)
        assert ticks[0] == 0 and ticks[-1] >= peak and len(ticks) <= 6


def test_x_labels_show_the_year_over_a_year_and_never_overlap() -> None:
    days = [date(2025, 10, 1) + timedelta(days=i) for i in range(400)]
    svg = daily_svg(_daily(days, [i % 7 for i in range(400)]))
    xs = _texts(svg, "x")
    assert xs[0][1] == "2025-10-01" and xs[-1][1] == days[-1].isoformat()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", t) for _, t in xs)
    widths = [len(t) * _char_w() for _, t in xs]
    for (x1, _), (x2, _), w1, w2 in zip(xs, xs[1:], widths, widths[1:], strict=False):
        assert x2 - x1 >= (w1 + w2) / 2, (x1, x2)  # centred labels: no two overlap
    assert xs[0][0] - widths[0] / 2 >= 0 and xs[-1][0] + widths[-1] / 2 <= 1040


def test_x_labels_of_one_year_leave_the_year_out() -> None:
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
    xs = _texts(daily_svg(_daily(days, [3] * 31)), "x")
    assert xs[0][1] == "10-01" and xs[-1][1] == "10-31"


def test_the_daily_chart_keeps_a_readable_size_in_a_scroll_box() -> None:
    svg = daily_svg(_daily([date(2026, 10, 1)], [3]))
    assert svg.startswith('<div class="chartbox">')
    from jtrack.render.report_html import CSS

    assert ".chartbox svg { width: 100%; min-width: 720px;" in CSS


# ------------------------------------------------------------------------- numbers and times


def test_value_totals_keep_their_cents() -> None:
    df = pl.DataFrame({"outcome_id": ["out-purchase"], "value_total": [503.39]})
    assert ">503.39</td>" in html_table(df)
    from jtrack.render.report_html import fmt_float

    assert fmt_float(503.39, "value_total") == "503.39"
    assert fmt_float(1204.5, "value_total") == "1,204.50"
    assert fmt_float(503.39) == "503.39"
    assert fmt_float(503.4) == "503.4"
    assert fmt_float(0.0447) == "0.0447"


def test_the_terminal_rules_report_keeps_the_cents() -> None:
    class R:
        sessions, visitors = 3, 2

    df = pl.DataFrame(
        {
            "outcome_id": ["out-purchase", "out-lead"],
            "achieved": [4, 1],
            "value_total": [503.39, None],
        }
    )
    text = render_to_text(report_renderables(R(), {"outcomes": df})[-1], width=120)
    assert "503.39" in text and "503.4 " not in text


def test_times_in_tables_are_utc_like_the_other_pages() -> None:
    at = datetime(2026, 10, 4, 1, 32, 41, 646000, tzinfo=UTC)
    df = pl.DataFrame({"part": ["result"], "at": [at]})
    page = html_table(df)
    assert "2026-10-04 01:32:41 UTC" in page and "+00:00" not in page


# ------------------------------------------------------------------------- the rules explanation


def _explain_frame() -> pl.DataFrame:
    at = datetime(2026, 10, 4, 1, 32, 41, 646000, tzinfo=UTC)
    return pl.DataFrame(
        {
            "rule_kind": ["segment", "segment"],
            "rule_id": ["seg-cart", "seg-cart"],
            "part": ["pattern 1", "result"],
            "condition": ["eventName equal ['form_abandoned']", "segment matched"],
            "held": [True, True],
            "at": [at, at],
            "event_id": ["e1", "e1"],
            "detail": ["held on 1 of 4 events", "matched as 'Cart'"],
        }
    )


def test_the_explanation_says_what_it_is() -> None:
    sid = "5c114b18-0000-4000-8000-000000000001"
    page = frame_html(_explain_frame(), f"session {sid}")  # what `rules explain -o` calls
    h1 = re.findall(r"<h1>(.*?)</h1>", page)
    assert h1 == ["Rules explanation"]
    assert f"session {sid}" in page and "<h2>segment seg-cart</h2>" in page
    assert "2026-10-04 01:32:41 UTC" in page and "646000" not in page
    from jtrack.render.rules import explain_html

    named = explain_html(_explain_frame(), sid, rules_file="sample_data/jtrack.toml")
    assert "rules sample_data/jtrack.toml" in named
    assert "<title>Rules explanation: session" in named


# ------------------------------------------------------------------------- the card


RULES = """
[[outcome]]
id = "out-video-engaged"
display_name = "Watched a video"
[[outcome.stage]]
conditions = [{ field = "eventName", operator = "equal", values = ["video_played"] }]
"""


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from jtrack.core.rules.load import load_rules

    d = tmp_path_factory.mktemp("card")
    c, m = "cust-fmt", timedelta(minutes=1)
    rows = [
        flat_event("p1", c, T0, page_title="Home", page_url="https://shop.example/"),
        flat_event("p2", c, T0 + m, page_title="", page_url="https://shop.example/empty"),
        flat_event("v1", c, T0 + 2 * m, kind="custom", event_name="video_played", attributes=[]),
        flat_event(
            "o1",
            c,
            T0 + 3 * m,
            kind="outcome_achieved",
            event_type="OutcomeAchievedEvent",
            event_name=None,
            outcome_id="out-video-engaged",
        ),
        flat_event(
            "s1",
            c,
            T0 + 4 * m,
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            segment_id="seg-white",
        ),
    ]
    src = d / "events.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(d / "store")
    run_sessionize([src], store)
    (d / "rules.toml").write_text(RULES)
    rules = load_rules(d / "rules.toml")
    sid = str(store.scan_sessions().collect()["id"][0])
    out = build_card(
        store,
        sid,
        as_of=datetime(2027, 1, 1, tzinfo=UTC),
        rules=rules,
    ).to_dict()
    return out


def test_segment_names_are_in_the_normal_colour_with_a_dot(card: dict[str, Any]) -> None:
    card = {**card, "segments": [dict(s, color="#FFFFFF") for s in card["segments"]]}
    assert card["segments"], card["segments"]
    page = card_html(card)
    seg = page[page.index('<ul class="plain segments">') :]
    seg = seg[: seg.index("</ul>")]
    assert '<span class="dot" style="background: #FFFFFF">' in seg
    assert "<strong>" in seg and "color: #FFFFFF" not in seg.replace("background: #FFFFFF", "")


def test_outcomes_and_segments_say_where_they_come_from(card: dict[str, Any]) -> None:
    sources = sorted(o["source"] for o in card["outcomes"])
    assert sources == ["export", "rules"], card["outcomes"]
    page = card_html(card)
    outcomes = page[page.index('<ul class="plain outcomes">') :]
    outcomes = outcomes[: outcomes.index("</ul>")]
    assert outcomes.count(" · jtrack rules</span>") == 1
    assert outcomes.count(" · export</span>") == 1
    segments = page[page.index('<ul class="plain segments">') :]
    assert " · export</span>" in segments[: segments.index("</ul>")]
    # every tooltip of a segment or an outcome has a source row
    tips = re.findall(
        r'<div class="tip" role="tooltip" id="tip-\d+" popover="hint"><h3>(.*?)</h3>(.*?)</div>',
        page,
    )
    marked = [body for head, body in tips if head.startswith(("Outcome", "Segment"))]
    assert len(marked) == 3
    assert sorted(re.findall(r"<dt>source</dt><dd>([^<]*)</dd>", "".join(marked))) == [
        "export",
        "export",
        "jtrack rules",
    ]


def test_an_empty_page_title_falls_back_to_the_url(card: dict[str, Any]) -> None:
    page = card_html(card)
    ev = next(e for e in card["journey"] if e["event_id"] == "p2")
    assert ev["page_title"] == ""
    label = re.search(r'data-event-id="p2"[^>]*><button [^>]*aria-label="([^"]*)"', page)
    assert label is not None and label.group(1) == f"{ev['offset']} https://shop.example/empty"
    row = re.search(
        rf"<td class=\"nw\">{ev['offset']}</td><td class=\"nw\">[^<]*</td>"
        r'<td class="k">[^<]*</td><td>([^<]*)</td>',
        page,
    )
    assert row is not None and row.group(1) == "https://shop.example/empty"


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_not_recorded_text_meets_wcag_aa() -> None:
    rule = re.search(r"\.missing \{ color: ([^;]+);", CARD_CSS)
    assert rule is not None
    color = rule.group(1).strip()
    if color.startswith("var("):
        name = color[4:-1]
        found = re.search(rf"{name}: (#[0-9a-fA-F]{{6}})", ROOT_CSS)
        assert found is not None
        color = found.group(1)
    assert _contrast(color, "#ffffff") >= 4.5, color


def test_session_information_is_two_groups(card: dict[str, Any]) -> None:
    page = card_html(card)
    info = page[page.index('<div class="info">') :]
    groups = re.findall(r'<dl class="info">(.*?)</dl>', info)[:2]
    first = re.findall(r"<dt>([^<]*)</dt>", groups[0])
    second = re.findall(r"<dt>([^<]*)</dt>", groups[1])
    assert first[:3] == ["Device", "OS", "Browser"] and "Campaign" in first
    assert second[:3] == ["Activity", "Authenticated", "Visit"] and "Session id" in second


# ------------------------------------------------------------------------- the report


BOT_UA = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1)"


def _people_and_a_bot() -> list[dict[str, Any]]:
    rows = [
        flat_event(f"p{i}", f"c{i}", T0 + timedelta(minutes=i), search_query=None) for i in range(3)
    ]
    rows += [
        flat_event(f"b{i}", "bot", T0 + timedelta(seconds=i), user_agent_string=BOT_UA)
        for i in range(3)
    ]
    return rows


def test_the_left_out_note_is_beside_the_traffic_line() -> None:
    from jtrack.core.dedupe import deduplicate
    from jtrack.core.sessionize import sessionize
    from jtrack.usecases.report import ReportOptions, journey_report

    result = sessionize(deduplicate(flat_frame(_people_and_a_bot())).events)
    report = journey_report(result.sessions, result.events, ReportOptions(tz="UTC"))
    note = report.scope.note()
    assert note is not None and "--traffic all" in note
    page = report_html(report)
    top = page[: page.index('<div class="kpis">')]
    assert note in top and page.count(note) == 1


# ------------------------------------------------------------------------- the watch page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from jtrack.usecases.live import LiveOptions, live_frame

    d = tmp_path_factory.mktemp("live")
    src = d / "events.parquet"
    flat_frame(_people_and_a_bot()).write_parquet(src)
    store = Store.open(d / "store")
    run_sessionize([src], store)
    return live_frame(store, LiveOptions(as_of=T0 + timedelta(minutes=5)))


def test_the_per_minute_chart_has_times_a_scale_and_now() -> None:
    from jtrack.render.live import per_minute_svg

    now = datetime(2026, 10, 11, 7, 20, tzinfo=UTC)
    minutes = [now - timedelta(minutes=59 - i) for i in range(60)]
    values = [i % 13 for i in range(60)]
    per_minute = pl.DataFrame(
        {"minute": minutes, "events": values, "visitors": values},
        schema={"minute": pl.Datetime("us", "UTC"), "events": pl.Int64, "visitors": pl.Int64},
    )
    svg = per_minute_svg(per_minute, now)
    xs = [t for _, t in _texts(svg, "x")]
    assert xs == ["06:30", "06:40", "06:50", "07:00", "07:10"]
    ys = [t for _, t in _texts(svg, "y")]
    assert ys[0] == "0" and len(ys) >= 3 and int(ys[-1]) >= 12
    assert "now 07:20" in svg and 'class="now"' in svg
    assert "<title>06:21 UTC: 0 events</title>" in svg
    assert "<title>07:20 UTC: 7 events</title>" in svg
    assert 'width="600"' not in svg and svg.startswith('<div class="chartbox">')


def test_the_watch_page_reloads_itself_unless_it_is_one_frame(live: Any) -> None:
    from jtrack.render.live import live_html

    assert '<meta http-equiv="refresh" content="5">' in live_html(live, 5.0)
    assert 'http-equiv="refresh"' not in live_html(live, None)
    assert 'http-equiv="refresh"' not in live_html(live, 0)
    page = live_html(live, None)
    assert 'data-chart="per_minute"' in page and "now " in page


# ------------------------------------------------------------------- right-to-left text

RTL_TITLE = "עגלת קניות (2 פריטים)!"
RTL_RULES = """
[[segment]]
id = "seg-rtl"
display_name = "סל נטוש"
[[segment.pattern]]
count = 1
conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]
"""


def test_right_to_left_data_is_isolated_in_every_html_page(
    tmp_path: Any, card: dict[str, Any]
) -> None:
    """A Hebrew page title `עגלת קניות (2 פריטים)!` was laid out as `(עגלת קניות (2
    פריטים!` in the card, journey, report and rules report (no `dir`, no `<bdi>`). A text
    with right-to-left letters is in a `<bdi>` (its own direction, isolated from the text
    around it); attributes, titles and SVG text hold none; left-to-right text is unchanged."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    rows = [
        flat_event(
            f"r{i}",
            "cookie-rtl",
            T0 + timedelta(minutes=i),
            page_title=RTL_TITLE,
            page_url="https://shop.example/עגלה",
            referrer_hostname="דוגמה.ישראל" if i == 0 else None,
        )
        for i in range(2)
    ]
    rows.append(
        flat_event("q", "cookie-rtl", T0 + timedelta(minutes=3), kind="search", search_query="נעל")
    )
    src = tmp_path / "rtl.parquet"
    flat_frame(rows).write_parquet(src)
    (tmp_path / "rules.toml").write_text(RTL_RULES, encoding="utf-8")
    store, rules = str(tmp_path / "st"), str(tmp_path / "rules.toml")
    runner = CliRunner()
    assert runner.invoke(app, ["sessionize", str(src), "--store", store, "-q"]).exit_code == 0
    sid = runner.invoke(app, ["sessions", "--store", store, "-f", "csv", "--columns", "id"])
    runs = {
        "card": ["card", sid.stdout.splitlines()[1], "--rules", rules],
        "journey": ["journey", "cookie-rtl", "--rules", rules],
        "report": ["report", "-q"],
        "rules": ["rules", "report", "--rules", rules],
    }
    for name, args in runs.items():
        out = tmp_path / f"{name}.html"
        as_of = ["--as-of", "2027-01-01"] if name in ("card", "journey") else []
        res = runner.invoke(app, [*args, "--store", store, *as_of, "-o", str(out)])
        assert res.exit_code == 0, (name, res.stderr)
        page = out.read_text(encoding="utf-8")
        shown = {"rules": "סל נטוש"}.get(name, RTL_TITLE)
        assert f"<bdi>{shown}</bdi>" in page, name
        assert f">{shown}<" not in page.replace(f"<bdi>{shown}</bdi>", ""), name
        # no markup where none may be: attributes, <title>, SVG text
        assert not re.search(r'="[^"]*<bdi>', page), name
        assert not re.search(r"<title>[^<]*<bdi>", page), name
        assert not re.search(r"<text[^>]*><bdi>", page), name
    page = (tmp_path / "card.html").read_text(encoding="utf-8")
    assert "<bdi>https://shop.example/עגלה</bdi>" in page and "<bdi>נעל</bdi>" in page
    assert "<bdi>" not in card_html(card)  # (left-to-right text only)


# --------------------------------------------------------------- accessibility (an audit)


def _cells(html: str) -> list[list[str]]:
    """The body rows of the tables in `html`, each as its cells' text."""
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    return [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in rows if "<td" in r]


def _section(page: str, start: str) -> str:
    part = page[page.index(start) :]
    return part[: part.index("</section>")]


def test_each_chart_has_its_figures_in_a_table(live: Any) -> None:
    """The report's daily chart and the watch page's per-minute chart were an `<svg
    role="img">` alone: their figures only in `<title>` tooltips, which role=img hides from a
    screen reader and the keyboard never reaches (WCAG 1.1.1, 1.3.1)."""
    from jtrack.core.dedupe import deduplicate
    from jtrack.core.sessionize import sessionize
    from jtrack.render.live import live_html
    from jtrack.usecases.report import ReportOptions, journey_report

    rows = [
        flat_event(f"e{i}", f"c{i % 2}", T0 + timedelta(days=i // 3, minutes=i)) for i in range(7)
    ]
    result = sessionize(deduplicate(flat_frame(rows)).events)
    report = journey_report(result.sessions, result.events, ReportOptions(tz="UTC"))
    daily = _section(report_html(report), '<section id="daily">')
    figures = daily[daily.index("<details><summary>The figures per day</summary>") :]
    expected = [
        [day, f"{s:,}", f"{v:,}"]
        for day, s, v in report.daily.select("day", "sessions", "visitors").iter_rows()
    ]
    assert len(expected) == 3 and _cells(figures) == expected
    assert re.findall(r"<th [^>]*>([^<]*)</th>", figures) == ["day", "sessions", "visitors"]

    minute = _section(live_html(live, None), '<section id="per_minute">')
    figures = minute[minute.index("<details><summary>The figures per minute</summary>") :]
    expected = [
        [f"{m:%H:%M}", f"{n:,}"] for m, n in live.per_minute.select("minute", "events").iter_rows()
    ]
    assert len(expected) == 60 and sum(int(n) for _, n in expected) > 0
    assert _cells(figures) == expected


def test_every_table_header_is_a_column_header(card: dict[str, Any]) -> None:
    page = card_html(card)
    heads = re.findall(r"<th[ >]", page)
    assert heads and page.count('<th scope="col"') == len(heads)
    table = html_table(pl.DataFrame({"page": ["/a"], "sessions": [3]}))
    assert table.count('<th scope="col"') == 2


def test_chart_tooltips_say_one_in_the_singular() -> None:
    from jtrack.render.live import per_minute_svg

    now = datetime(2026, 10, 11, 7, 20, tzinfo=UTC)
    per_minute = pl.DataFrame(
        {"minute": [now - timedelta(minutes=1), now], "events": [1, 2], "visitors": [1, 1]},
        schema={"minute": pl.Datetime("us", "UTC"), "events": pl.Int64, "visitors": pl.Int64},
    )
    svg = per_minute_svg(per_minute, now)
    assert "<title>07:19 UTC: 1 event</title>" in svg
    assert "<title>07:20 UTC: 2 events</title>" in svg
    days = _daily([date(2026, 10, 4), date(2026, 10, 5)], [1, 2])
    svg = daily_svg(days)
    assert "<title>2026-10-04: 1 session</title>" in svg
    assert "<title>2026-10-04: 1 visitor</title>" in svg
    assert "<title>2026-10-05: 2 sessions</title>" in svg


def _css_rule(css: str, selector: str, prop: str) -> str:
    rule = re.search(rf"(?m)^{re.escape(selector)} \{{([^}}]*)\}}", css)
    assert rule is not None, selector
    found = re.search(rf"(?:^|[;\s]){prop}: (#[0-9a-fA-F]{{6}})", rule.group(1))
    assert found is not None, (selector, prop, rule.group(1))
    return found.group(1)


def test_the_active_pill_meets_wcag_aa() -> None:
    """The `active` pill was #2e7d32 on #e3f4e6 (4.48:1 at 12 px; AA asks 4.5:1)."""
    fg = _css_rule(CARD_CSS, ".state.active", "color")
    bg = _css_rule(CARD_CSS, ".state.active", "background")
    assert _contrast(fg, bg) >= 4.5, (fg, bg)


def test_the_daily_charts_visitors_bars_stand_out() -> None:
    """The daily chart's visitors bars were #9cc0f5 on white (1.86:1; a graphic needs 3:1,
    WCAG 1.4.11), touching the sessions bar beside them."""
    from jtrack.render.report_html import CSS as REPORT_CSS

    rules = dict(re.findall(r"\.(s|vi) \{ fill: (#[0-9a-fA-F]{6}); \}", REPORT_CSS))
    for cls in ("s", "vi"):
        assert _contrast(rules[cls], "#ffffff") >= 3, (cls, rules[cls])
    # the legend shows the bars' own colours: its keys are drawn with the bars' classes
    # (marks, where a CSS background would not print)
    found = re.search(r'<p class="legend">.*?</p>', _report_page())
    assert found is not None
    legend = found.group(0)
    for cls in ("s", "vi"):
        assert f'<rect class="{cls}" ' in legend
    # a day's two bars have white between them: neither touches the other
    svg = daily_svg(_daily([date(2026, 10, 4)], [5]))
    bars = re.findall(r'<rect class="bar (s|vi)"[^>]* x="([0-9.]+)"[^>]* width="([0-9.]+)"', svg)
    (_, x1, w1), (_, x2, _) = bars
    assert float(x2) > float(x1) + float(w1)


def _report_page() -> str:
    from jtrack.core.dedupe import deduplicate
    from jtrack.core.sessionize import sessionize
    from jtrack.usecases.report import ReportOptions, journey_report

    result = sessionize(deduplicate(flat_frame(_people_and_a_bot())).events)
    return report_html(journey_report(result.sessions, result.events, ReportOptions(tz="UTC")))


def _negative_video(card: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """The card's journey with its video_played event made negative (and that entry's index)."""
    video = next(e["index"] for e in card["journey"] if e["event_name"] == "video_played")
    return video, [dict(e, tone="negative") if e["index"] == video else e for e in card["journey"]]


def test_the_journey_maps_legend_says_what_the_signs_mean(card: dict[str, Any]) -> None:
    """The legend was three coloured dots, never saying that the `+` and `−` on the icons mean
    positive and negative (the terminal's does), and its text ran `…swatch)hover or focus…`."""
    from jtrack.render.html import journey_html

    legend = re.search(r'<p class="legend">(.*?)</p>', card_html(card))
    assert legend is not None
    text = re.sub(r"<[^>]+>", "", legend.group(1))
    assert "+ positive" in text and "\u2212 negative" in text, text
    assert "swatch) hover" in text and "Esc" in text, text
    assert "+ positive" in re.sub(r"<[^>]+>", "", journey_html(_one_visit(card)))


def test_an_icons_name_says_its_tone(card: dict[str, Any]) -> None:
    """An icon's accessible name (`0:11:30 form_abandoned`) left its tone out: its `+`/`−`
    mark is hidden from a screen reader."""
    video, journey = _negative_video(card)
    page = card_html({**card, "journey": journey})
    names = {
        int(i): name
        for i, name in re.findall(
            r'data-index="(\d+)"[^>]*>?(?:<button [^>]*)?aria-label="([^"]*)"', page
        )
    }
    assert len(names) == len(journey) and names[video] == "0:02:00 video_played, negative"
    outcome = next(e for e in journey if e["event_id"] == "o1")
    assert outcome["tone"] == "positive", outcome
    assert names[outcome["index"]].endswith(", positive"), names
    assert names[1] == "0:00:00 Home", names  # neutral: no tone said


def test_card_help_names_the_signs() -> None:
    """`jtrack card --help` said "green, blue or red for positive, neutral or negative
    events": colour alone."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    res = CliRunner().invoke(app, ["card", "--help"], env={"COLUMNS": "200"})
    helptext = " ".join(res.stdout.split())
    assert "green with +" in helptext and "red with -" in helptext, helptext


def _one_visit(card: dict[str, Any]) -> dict[str, Any]:
    """A visitor profile of this one card (what journey_html reads)."""
    return {
        "contact": card["contact"],
        "customer_ids": [card["contact"]["customer_id"]],
        "totals": {
            "sessions": 1,
            "web_sessions": 1,
            "first_visit": card["timing"]["start"],
            "last_visit": card["timing"]["start"],
            "web_duration": card["timing"]["duration"],
            "page_views": 1,
            "searches": 0,
            "events": len(card["journey"]),
            "segments": 0,
            "outcomes": 0,
        },
        "sessions": [card],
        "notes": [],
        "matched_by": "customer_id",
        "query": "x",
    }
