"""Every HTML page in a real browser (Debian's headless chromium via the `chromium` fixture,
never a downloaded one) at 400 and 1280 px: no horizontal scrolling, every journey-map tooltip
inside the viewport, segment icons in a colour of their own, offsets on one line.

Screenshots go to tests/artifacts/ (gitignored) for a reviewer to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.render.theme import SEGMENT_COLOR, TONE_COLORS
from tests.externals import screenshot
from tests.helpers import T0, flat_event, flat_frame

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
ARTIFACTS = ROOT / "tests" / "artifacts"
WIDTHS = (400, 1280)
runner = CliRunner()


def _long_session() -> list[dict[str, Any]]:
    """One visitor, one long session: 40 events (so the map wraps and icons sit at the right
    edge), a segment and an outcome from the export, a long unbroken URL, a long referrer
    host and campaign."""
    c, m = "cust-long", timedelta(minutes=1)
    rows = []
    for i in range(36):
        url = "https://shop.example/" + ("very-long-path-segment-" * 8) + str(i)
        rows.append(flat_event(f"p{i:02d}", c, T0 + i * m / 2, page_url=url))
    rows[0].update(  # (landing untitled, from a long host, with a long campaign: a profile's
        # visit says how it arrived, and its URL is the landing page)
        page_title=None,
        device_category="desktop",
        referrer_hostname="landing-" * 12 + "partner.example.com",
        mkt_campaign_source="partner_network_with_a_long_name",
        mkt_campaign_medium="referral",
        mkt_campaign_name="autumn_" * 10 + "sale",
    )
    rows.append(
        flat_event(
            "s1",
            c,
            T0 + 20 * m,
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            segment_id="seg-cart-abandoners",
        )
    )
    rows.append(
        flat_event("x1", c, T0 + 21 * m, kind="custom", event_name="form_abandoned", attributes=[])
    )
    rows.append(
        flat_event("x2", c, T0 + 22 * m, kind="custom", event_name="product_added", attributes=[])
    )
    rows.append(flat_event("q1", c, T0 + 23 * m, kind="search", search_query="tent"))
    return rows


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    d = tmp_path_factory.mktemp("html")
    src = d / "long.parquet"
    flat_frame(_long_session()).write_parquet(src)
    contacts = ["--contacts", str(SAMPLE / "contacts.csv")]
    for store, source, extra in (
        ("long", str(src), []),
        ("sample", str(SAMPLE / "events.jsonl"), contacts),
    ):
        res = runner.invoke(app, ["sessionize", source, "--store", str(d / store), "-q", *extra])
        assert res.exit_code == 0, res.stderr
    rules = str(SAMPLE / "jtrack.toml")
    long_store, sample = str(d / "long"), str(d / "sample")
    names = ("card", "journey", "journey_long", "report", "rules")
    out = {name: d / f"{name}.html" for name in names}
    runs = {
        "card": ["card", "", "--store", long_store, "--as-of", "2027-01-01", "--no-rules"],
        "journey": ["journey", "652f931c", "--store", sample, "--as-of", "2027-01-01"],
        "journey_long": ["journey", "cust-long", "--store", long_store, "--as-of", "2027-01-01"],
        "report": ["report", "--store", sample, "-q"],
        "rules": ["rules", "report", "--store", sample, "--rules", rules],
    }
    sid = runner.invoke(app, ["sessions", "--store", long_store, "-f", "csv", "--columns", "id"])
    runs["card"][1] = sid.stdout.splitlines()[1]
    runs["journey"] += ["--rules", rules]
    for name, args in runs.items():
        res = runner.invoke(app, [*args, "-o", str(out[name])])
        assert res.exit_code == 0, (name, res.stderr)
    yield out


def _open(browser: Any, path: Path, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(path.as_uri())
    page.requested = requested
    return page


def _no_horizontal_overflow(page: Any) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, (scroll, inner)


def _no_squeezed_cells(page: Any) -> None:
    """No table cell with a few words in it is squeezed to a letter or two a line (the card's
    list view once set a 180-letter URL one letter a line at 400 px: 120,000 px tall)."""
    squeezed = page.evaluate(
        """() => Array.from(document.querySelectorAll('td, th'))
            .filter(c => c.getClientRects().length && c.textContent.trim().length >= 6)
            .map(c => [c.textContent.trim().slice(0, 40), c.getBoundingClientRect().width,
                       parseFloat(getComputedStyle(c).fontSize)])
            .filter(([, w, font]) => w < 3 * font)"""
    )
    assert squeezed == [], squeezed[:5]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["card", "journey", "journey_long", "report", "rules"])
def test_pages_fit_the_viewport_and_fetch_nothing(
    name: str, width: int, pages: dict[str, Path], browser: Any
) -> None:
    page = _open(browser, pages[name], width)
    try:
        _no_horizontal_overflow(page)
        for details in page.locator("details").all():  # the list view too
            details.evaluate("d => d.open = true")
        _no_horizontal_overflow(page)
        _no_squeezed_cells(page)
        assert page.requested == [pages[name].as_uri()]
        assert page.evaluate("document.scripts.length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(page, ARTIFACTS / f"{name}_{width}.png")
    finally:
        page.close()
    assert (ARTIFACTS / f"{name}_{width}.png").stat().st_size > 5_000


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["card", "journey"])
def test_every_tooltip_stays_inside_the_viewport(
    name: str, width: int, pages: dict[str, Path], browser: Any
) -> None:
    page = _open(browser, pages[name], width)
    try:
        icons = page.locator("li.ev")
        assert icons.count() >= 10
        rightmost = 0.0
        for i in range(icons.count()):
            icon = icons.nth(i)
            icon.scroll_into_view_if_needed()
            icon.hover()
            tip = icon.locator(".tip")
            tip.wait_for(state="visible", timeout=2000)
            box = tip.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (i, box)
            rightmost = max(rightmost, icon.bounding_box()["x"] + 60)
            _no_horizontal_overflow(page)
        if name == "card":  # its map wraps: icons at the right edge were among them
            assert rightmost > width - 160
        if name == "card":
            page.mouse.move(0, 0)
            icons.last.hover()
            screenshot(page, ARTIFACTS / f"card_tip_right_{width}.png")
    finally:
        page.close()


def _rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_segment_icons_have_a_colour_of_their_own(pages: dict[str, Path], browser: Any) -> None:
    page = _open(browser, pages["card"], 1280)
    try:
        seg = page.locator('li.ev[data-event-id="s1"] .ico')
        ring = seg.evaluate("e => getComputedStyle(e).borderTopColor")
        assert ring == _rgb(SEGMENT_COLOR)
        assert ring not in {_rgb(c) for c in TONE_COLORS.values()}
        negative = page.locator('li.ev[data-event-id="x1"] .ico')
        assert negative.evaluate("e => getComputedStyle(e).borderTopColor") == _rgb(
            TONE_COLORS["negative"]
        )
    finally:
        page.close()


def test_the_list_view_keeps_offsets_and_times_on_one_line(
    pages: dict[str, Path], browser: Any
) -> None:
    page = _open(browser, pages["card"], 400)
    try:
        page.locator("details").evaluate("d => d.open = true")
        lines = page.eval_on_selector_all(
            "table.list td.nw",
            """cells => cells.map(c => {
                const r = document.createRange(); r.selectNodeContents(c);
                return [c.textContent, r.getClientRects().length];
            })""",
        )
        assert len(lines) == 2 * 40  # offset and time of every entry
        assert all(n == 1 for _, n in lines), [t for t, n in lines if n != 1]
        _no_horizontal_overflow(page)
    finally:
        page.close()


def test_the_rules_report_has_swatches_and_percentages(
    pages: dict[str, Path], browser: Any
) -> None:
    text = pages["rules"].read_text()
    assert "Content-Security-Policy" in text and "<script" not in text
    page = _open(browser, pages["rules"], 1280)
    try:
        swatches = page.locator("span.swatch")
        assert swatches.count() >= 10
        first = swatches.first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert first.startswith("rgb(")
        body = page.inner_text("main")
        assert "%" in body and "0.0447" not in body
    finally:
        page.close()


def test_the_report_names_each_referrer_bar_by_host_and_medium_and_tooltips_carry_no_keys(
    pages: dict[str, Path],
) -> None:
    """A host's rows (one per medium) were one bar; a row per host and medium is a bar
    each, named by both (two bars named alike read as a mistake)."""
    text = pages["report"].read_text()
    chart = text[text.index('data-chart="referrers"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count(">www.bing.com (search)<") == 1
    assert chart.count(">www.bing.com (paid)<") == 1 and ">www.bing.com<" not in chart
    # a long host is cut, not its medium; the tooltip has it whole
    assert ">www.outdoor-blo… (unknown)<" in chart
    assert "<title>www.outdoor-blog.example (unknown): " in chart
    assert "<title>referrers</title>" not in text and "<title>session_types</title>" not in text
    assert "<title>Referrers</title>" in text


def test_the_journey_page_is_a_visitor_profile(pages: dict[str, Path], browser: Any) -> None:
    page = _open(browser, pages["journey"], 1280)
    try:
        kpis = {
            k: page.inner_text(f'[data-kpi="{k}"] .v')
            for k in ("first visit", "last visit", "visits", "page views", "searches")
        }
        assert kpis["visits"] == "3" and kpis["first visit"].startswith("2026-10-01 01:30")
        body = page.inner_text("main")
        for heading in ("DEVICES", "TOP PAGES", "SEARCHES", "SEGMENTS", "OUTCOMES"):
            assert heading in body.upper()
        assert "mobile" in body and "Wanderschuhe" in body and "Olivia Wilson" in body
        assert page.locator("article.visit").count() == 3
        ids = page.eval_on_selector_all(".tip", "ts => ts.map(t => t.id)")
        assert len(ids) == len(set(ids))  # one page, several maps: unique tooltip ids
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["journey", "journey_long"])
def test_each_visit_says_how_it_arrived_inside_its_box(
    name: str, width: int, pages: dict[str, Path], browser: Any
) -> None:
    """A profile's visit says its device, referrer, campaign and first page; a long host,
    campaign or landing URL wraps inside the visit's box at 400 px (never past it)."""
    page = _open(browser, pages[name], width)
    try:
        body = page.inner_text("main")
        if name == "journey":
            assert "device mobile · referrer www.outdoor-blog.example · campaign partner / " in body
            assert "first page Summit GTX Boot | Example Shop" in body
        else:
            assert "referrer " + "landing-" * 12 + "partner.example.com" in body.replace("\n", "")
            assert "first page https://shop.example/very-long-path-segment-" in body
        past = page.evaluate(
            """() => Array.from(document.querySelectorAll('article.visit')).flatMap(a => {
                const box = a.getBoundingClientRect();
                return Array.from(a.querySelectorAll('p')).filter(p =>
                    p.getBoundingClientRect().right > box.right + 0.5
                    || p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 60));
            })"""
        )
        assert past == [], past
        assert page.locator("p.arrival").count() == page.locator("article.visit").count()
    finally:
        page.close()


def test_a_wide_chart_opens_at_its_latest_end_and_icons_keep_their_size(
    pages: dict[str, Path], browser: Any
) -> None:
    """At 400 px a chart scrolls, and shows its latest days (the live page: its last minutes
    and "now") first; the card's session icon keeps its box beside a long title."""
    page = _open(browser, pages["report"], 400)
    try:
        box, svg = page.evaluate(
            """() => { const c = document.querySelector('.chartbox');
                return [c.getBoundingClientRect().right,
                        c.querySelector('svg').getBoundingClientRect().right]; }"""
        )
        assert abs(box - svg) < 2, (box, svg)
    finally:
        page.close()
    page = _open(browser, pages["card"], 400)
    try:
        icon, title = page.evaluate(
            """() => [document.querySelector('header .sicon').getBoundingClientRect(),
                      document.querySelector('header h1').getBoundingClientRect()]"""
        )
        assert icon["width"] >= 36 and icon["right"] <= title["left"], (icon, title)
    finally:
        page.close()


def test_a_right_to_left_title_is_laid_out_right_to_left(tmp_path: Path, browser: Any) -> None:
    """`עגלת קניות (2 פריטים)!` was shown as `(עגלת קניות (2 פריטים!` (its `!` at the right
    end, its brackets turned): laid out in its own direction, its first letter is right of
    its `!`, as in a Hebrew text."""
    title = "עגלת קניות (2 פריטים)!"
    src = tmp_path / "rtl.parquet"
    flat_frame([flat_event("r1", "cookie-rtl", T0, page_title=title)]).write_parquet(src)
    store = str(tmp_path / "st")
    assert runner.invoke(app, ["sessionize", str(src), "--store", store, "-q"]).exit_code == 0
    sid = runner.invoke(app, ["sessions", "--store", store, "-f", "csv", "--columns", "id"])
    out = tmp_path / "card.html"
    args = ["card", sid.stdout.splitlines()[1], "--store", store, "--no-rules", "-o", str(out)]
    assert runner.invoke(app, [*args, "--as-of", "2027-01-01"]).exit_code == 0
    page = _open(browser, out, 1280)
    try:
        first, bang = page.evaluate(
            """(title) => {
                const el = document.querySelector('.page-title');
                const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
                let node = walk.nextNode();
                while (node && !node.data.includes(title)) node = walk.nextNode();
                const at = (i) => { const r = document.createRange();
                    r.setStart(node, i); r.setEnd(node, i + 1);
                    return r.getBoundingClientRect().left; };
                const start = node.data.indexOf(title);
                return [at(start), at(start + title.length - 1)];
            }""",
            title,
        )
    finally:
        page.close()
    assert first > bang, (first, bang)


#: A4's width at 96 dpi: what Chromium lays a printed page out in (less its margins).
A4_WIDTH = 794


def _printed(browser: Any, path: Path) -> Any:
    page = browser.new_page(viewport={"width": A4_WIDTH, "height": 1123})
    page.goto(path.as_uri())
    page.emulate_media(media="print")
    return page


_TABLES = """() => Array.from(document.querySelectorAll('table')).map(t => [
    getComputedStyle(t).display, getComputedStyle(t.tHead).display,
    t.tBodies[0].rows.length, Array.from(t.tBodies[0].rows).filter(r =>
        r.getClientRects().length && getComputedStyle(r).breakInside === 'avoid').length])"""


@pytest.mark.parametrize("name", ["card", "journey", "report", "rules"])
def test_a_printed_page_keeps_its_tables_and_shows_what_a_screen_hides(
    name: str, pages: dict[str, Path], browser: Any
) -> None:
    """Printed to A4 a page was under its narrow-screen rules (A4 is 794 px wide): tables
    stacked as key/value blocks, what a closed <details> holds (the card's list, the figures
    per day) one line, swatches empty, headings alone at a page's foot. On paper tables
    stay tables (their header on each page, no row split), every <details> is open,
    headings keep with what follows, colours print, and no tooltip or pointer hint shows."""
    page = _printed(browser, pages[name])
    try:
        tables = page.evaluate(_TABLES)
        assert tables, name
        for display, head, n, whole in tables:
            assert (display, head) == ("table", "table-header-group"), name
            assert whole == n > 0, name  # every row shown, none split over two pages
        styles = page.evaluate(
            """() => Array.from(document.querySelectorAll('h2')).map(h =>
                getComputedStyle(h).breakAfter)"""
        )
        assert set(styles) == {"avoid"}, name
        assert page.evaluate("getComputedStyle(document.body).printColorAdjust") == "exact"
        assert not [t for t in page.locator(".tip").all() if t.is_visible()]
        assert "hover" not in page.locator("body").inner_text()
        if name == "journey":  # each visit's events with their attributes, as on the card
            lists = page.locator("article.visit table.list")
            assert lists.count() == page.locator("article.visit").count() >= 2
            assert "formName" in page.locator("body").inner_text()
        if name == "report":
            figures = page.locator("#daily details table")
            assert figures.is_visible()
            assert figures.locator("tbody tr").count() >= 14
    finally:
        page.close()


def test_the_printed_daily_chart_tells_its_two_series_apart_in_black_and_white(
    pages: dict[str, Path], browser: Any
) -> None:
    """The sessions' blue and the visitors' orange print as nearly the same grey (luma 103
    and 113), and the legend's keys were CSS backgrounds, which print drops: on paper the
    visitors' bars (and their key) are hollow, the sessions' solid, the keys drawn as the
    bars are."""
    page = _printed(browser, pages["report"])
    try:
        fills = page.evaluate(
            """() => ['rect.bar.s', 'rect.bar.vi', '.legend rect.s', '.legend rect.vi'].map(q => {
                const s = getComputedStyle(document.querySelector(q));
                return [s.fill, s.stroke === 'none' ? 0 : parseFloat(s.strokeWidth)]; })"""
        )
        (bar_s, bar_vi, key_s, key_vi) = fills
        assert bar_s == key_s and bar_vi == key_vi, fills
        assert bar_vi[0] == "rgb(255, 255, 255)" and bar_vi[1] >= 1, fills
        assert bar_s[0] not in ("rgb(255, 255, 255)", "none"), fills
    finally:
        page.close()
