"""The HTML journey summary: self-contained, escaped, and its charts render in Chromium."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from jtrack.core.dedupe import deduplicate
from jtrack.core.sessionize import sessionize
from jtrack.render.report_html import report_html
from jtrack.usecases.report import JourneyReport, ReportOptions, journey_report
from tests.externals import CHROMIUM_ARGS, screenshot
from tests.helpers import T0, flat_event, flat_frame

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

HOSTILE_TITLE = '<script>alert("t")</script>'
HOSTILE_HOST = '"><img src=x onerror=alert(1)>'


def _report(rows: list[dict[str, Any]], **opts: Any) -> JourneyReport:
    result = sessionize(deduplicate(flat_frame(rows)).events)
    return journey_report(result.sessions, result.events, ReportOptions(**opts))


def _hostile() -> JourneyReport:
    return _report(
        [
            flat_event(
                "a",
                "v1",
                T0,
                page_title=HOSTILE_TITLE,
                page_url="javascript:alert(1)//?x=<b>",
                referrer_hostname=HOSTILE_HOST,
                device_category="mo\x1bbile",
                browser_family="</svg><svg onload=alert(1)>",
            ),
            flat_event(
                "b",
                "v2",
                T0 + timedelta(days=1),
                search_query="<i>boots</i>",
                kind="search",
                mkt_campaign_source="&amp;",
            ),
        ]
    )


ALLOWED_TAGS = {
    "html",
    "wbr",  # headers break after an "_" (field names, never data)
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "h2",
    "p",
    "div",
    "section",
    "span",
    "svg",
    "line",
    "text",
    "rect",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "footer",
    "details",  # (the daily chart's figures as a table)
    "summary",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


def test_every_data_string_is_escaped() -> None:
    page = report_html(_hostile())
    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags <= ALLOWED_TAGS  # no <script>, <img>, <i> or a second <svg> from data
    assert not [a for a in parsed.attrs if a.startswith("on")]
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&amp;amp;" in page  # an entity in the data is shown literally
    assert "\x1b" not in page


def test_the_page_is_self_contained() -> None:
    page = report_html(_hostile())
    parsed = _Tags()
    parsed.feed(page)
    # no attribute may load anything, and the CSP forbids it anyway
    assert not parsed.attrs & {"src", "href", "action", "xlink:href", "srcset", "poster"}
    assert "url(" not in page and "@import" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == page.count("</svg>") >= 2


def test_the_daily_chart_has_two_bars_per_day() -> None:
    report = _report(
        [flat_event(f"e{i}", f"v{i % 3}", T0 + timedelta(days=i % 4, hours=i)) for i in range(12)]
    )
    page = report_html(report)
    daily = page[page.index('data-chart="daily"') :]
    daily = daily[: daily.index("</svg>")]
    assert daily.count('class="bar s"') == daily.count('class="bar vi"') == report.daily.height


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JourneyReport]:
    from synth import generate_flat

    frame = generate_flat(1500, seed=11)
    result = sessionize(deduplicate(frame).events)
    report = journey_report(result.sessions, result.events, ReportOptions(top=8))
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(report_html(report), encoding="utf-8")
    return path, report


@pytest.mark.browser
def test_the_charts_render_in_headless_chromium_offline(
    chromium: str, sample_page: tuple[Path, JourneyReport]
) -> None:
    from playwright.sync_api import sync_playwright

    path, report = sample_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report_html.png"
    shot.unlink(missing_ok=True)
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            charts = page.evaluate(
                """() => Array.from(document.querySelectorAll('svg.chart')).map(svg => {
                    const box = svg.getBoundingClientRect();
                    const bars = Array.from(svg.querySelectorAll('rect.bar')).map(r => {
                        const b = r.getBoundingClientRect();
                        return {value: Number(r.dataset.value), w: b.width, h: b.height};
                    });
                    return {name: svg.dataset.chart, w: box.width, h: box.height, bars};
                })"""
            )
            kpi = page.inner_text('[data-kpi="sessions"] .v')
            screenshot(page, shot)
        finally:
            browser.close()

    assert requests == [path.as_uri()]  # nothing but the file itself was fetched
    assert errors == []
    by_name = {c["name"]: c for c in charts}
    assert {"daily", "devices", "browsers", "countries", "referrers"} <= set(by_name)
    for chart in charts:
        assert chart["w"] > 100 and chart["h"] > 20, chart["name"]
    daily = by_name["daily"]
    assert len(daily["bars"]) == 2 * report.daily.height
    peak = max(b["value"] for b in daily["bars"])
    tallest = max(daily["bars"], key=lambda b: b["h"])
    assert tallest["value"] == peak and tallest["h"] > 100
    for b in daily["bars"]:
        assert (b["h"] > 0) == (b["value"] > 0)
        assert b["h"] == pytest.approx(tallest["h"] * b["value"] / peak, abs=1.0)
    devices = by_name["devices"]["bars"]
    widest = max(devices, key=lambda b: b["w"])
    for b in devices:
        assert b["w"] == pytest.approx(max(widest["w"] * b["value"] / widest["value"], 1), abs=1)
    assert kpi.replace(",", "") == str(report.overview["sessions"])
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_every_rate_is_a_percentage_as_the_other_rates_are() -> None:
    """The web actions' acceptance_rate was a raw fraction (`0.25`, `0`) where every other
    rate on the page (and the terminal's) is a percentage."""
    from jtrack.render.table import RATE_COLUMNS  # (the terminal's)

    def action(event_id: str, who: str, state: str) -> dict[str, Any]:
        return flat_event(
            event_id, who, T0 + timedelta(seconds=5), kind="web_action",
            event_type="WebActionEvent", event_name=None, action_id=f"act-{who}",
            action_state=state, action_map_id="am-1",
        )  # fmt: skip

    rows = [flat_event(f"p{i}", f"v{i}", T0) for i in range(4)]
    rows += [action(f"o{i}", f"v{i}", "offered") for i in range(4)]
    rows.append(action("x", "v0", "accepted"))
    report = _report(rows)
    page = report_html(report)
    web = page[page.index('<section id="web_actions"') :]
    web = web[: web.index("</section>")]
    assert 'data-label="acceptance_rate">25.0%</td>' in web
    # every rate-like column of every table is among those shown as percentages
    for df in [*report.tables.values(), report.daily]:
        if df is None:
            continue
        for c in df.columns:
            if c.endswith(("_rate", "share")) or c.startswith("share"):
                assert c in RATE_COLUMNS, c
