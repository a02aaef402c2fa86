"""Every HTML page with hostile text (a 2,000-letter event name, title and search, a URL of
3,000 characters with no place to break) in headless Chromium at 360, 768 and 1280 px: no
page wider than the screen, no table wider than its box, no text cell squeezed to a letter
or two a line, the figures of every table on screen, a page height in proportion to its text,
charts whose labels are readable. One browser for the module.

Screenshots go to tests/artifacts/ (gitignored) for a reviewer to look at.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.store import Store
from tests.externals import screenshot
from tests.helpers import T0, flat_event, flat_frame

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = (360, 768, 1280)
LONG = "x" * 2000
LONG_URL = (
    "https://www.example-shop.com/"
    + "/".join(f"segment{i}-averyveryverylongpathcomponentwithoutanybreaks" for i in range(30))
    + "?utm_source="
    + "q" * 500
)
RULES = """
[[segment]]
id = "seg-long"
display_name = "Added to the basket"
color = "#FFFFFF"
[[segment.pattern]]
count = 1
conditions = [{ field = "eventName", operator = "equal", values = ["product_added"] }]

[[outcome]]
id = "out-purchase"
display_name = "Made a purchase"
value_attribute = "price"
[[outcome.stage]]
conditions = [{ field = "eventName", operator = "equal", values = ["product_added"] }]
"""


def _rows() -> list[dict[str, Any]]:
    """Three visitors, one of them hostile: 24 events whose names, titles, URLs, searches
    and campaign have no place to break."""
    rows = []
    c, s = "cust-hostile", timedelta(seconds=20)
    for i in range(24):
        extra: dict[str, Any] = {}
        if i == 0:
            extra = dict(
                mkt_campaign_source=LONG,
                mkt_campaign_medium="email",
                mkt_campaign_name=LONG,
                referrer_url=LONG_URL,
                referrer_hostname="ref-" + "h" * 200 + ".example",
            )
        if i % 4 == 1:
            extra.update(kind="custom", event_name=LONG if i == 1 else "product_added")
            extra["attributes"] = [{"name": "price", "data_type": "number", "value": "129.90"}]
        if i % 4 == 2:
            extra.update(kind="search", search_query=LONG if i == 2 else "tent " + "y" * 300)
        rows.append(
            flat_event(
                f"h{i:02d}",
                c,
                T0 + i * s,
                page_url=LONG_URL if i % 3 == 0 else f"https://www.example-shop.com/p/{i}",
                page_title=[LONG, "", None, "Home | Example Shop"][i % 4],
                **extra,
            )
        )
    for k in range(2):
        rows += [
            flat_event(f"n{k}{j}", f"cust-{k}", T0 + timedelta(days=k, minutes=j)) for j in range(3)
        ]
    return rows


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from jtrack.render.live import live_html
    from jtrack.usecases.live import LiveOptions, live_frame

    d = tmp_path_factory.mktemp("hostile")
    src = d / "events.parquet"
    flat_frame(_rows()).write_parquet(src)
    store = Store.open(d / "store")
    run_sessionize([src], store)
    (d / "rules.toml").write_text(RULES)
    rules = ["--rules", str(d / "rules.toml")]
    sid = str(
        store.scan_sessions().collect().filter(customer_id="cust-hostile").get_column("id")[0]
    )
    out = {n: d / f"{n}.html" for n in ("card", "report", "rules", "explain", "watch")}
    s = ["--store", str(store.root)]
    runs = {
        "card": ["card", sid, *s, "--as-of", "2027-01-01", *rules],
        "report": ["report", *s, "-q"],
        "rules": ["rules", "report", *s, *rules],
        "explain": ["rules", "explain", sid, *s, *rules],
    }
    runner = CliRunner()
    for name, args in runs.items():
        res = runner.invoke(app, [*args, "-o", str(out[name])])
        assert res.exit_code == 0, (name, res.stderr)
    frame = live_frame(store, LiveOptions(as_of=T0 + timedelta(minutes=8)))
    out["watch"].write_text(live_html(frame, None))
    return out


def _open(browser: Any, path: Path, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(path.as_uri())
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    return page


#: The layout of a page in numbers: its size, every table against its box, every text cell's
#: width against its font, every figure's right edge.
MEASURE = """() => {
  const de = document.documentElement;
  const visible = e => e.getClientRects().length > 0;
  const tables = Array.from(document.querySelectorAll('table')).filter(visible).map(t => {
    const box = t.closest('section, details, main');
    return {id: (t.closest('section') || {}).id || '', width: t.getBoundingClientRect().width,
            box: box.getBoundingClientRect().width};
  });
  const squeezed = Array.from(document.querySelectorAll('td, dd, li:not(.ev)')).filter(visible)
    .filter(c => c.textContent.trim().length >= 8)
    .map(c => [c.textContent.trim().slice(0, 30), c.getBoundingClientRect().width,
               parseFloat(getComputedStyle(c).fontSize)])
    .filter(([, w, font]) => w < 4 * font);
  const offscreen = Array.from(document.querySelectorAll('td.n')).filter(visible)
    .map(c => [c.textContent, c.getBoundingClientRect().right])
    .filter(([, r]) => r > de.clientWidth + 1);
  const text = document.body.innerText.length;
  return {height: de.scrollHeight, width: de.scrollWidth, inner: de.clientWidth, tables,
          squeezed, offscreen, text};
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["card", "report", "rules", "explain", "watch"])
def test_hostile_text_never_blows_up_a_page(
    name: str, width: int, pages: dict[str, Path], browser: Any
) -> None:
    page = _open(browser, pages[name], width)
    try:
        m = page.evaluate(MEASURE)
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(page, ARTIFACTS / f"hostile_{name}_{width}.png")
    finally:
        page.close()
    assert m["width"] <= m["inner"], (m["width"], m["inner"])
    for t in m["tables"]:  # no table wider than its box (the figures would be off-screen)
        assert t["width"] <= t["box"] + 1, t
    assert m["squeezed"] == [], m["squeezed"][:5]
    assert m["offscreen"] == [], m["offscreen"][:5]
    # the height is what the text needs at that width: two long columns side by side, each
    # at least 30 letters a line (a squeezed column, 2 letters a line, is 15 times as tall)
    letters_a_line = max(30, (width - 60) / 16)
    assert m["height"] <= (m["text"] / letters_a_line + 600) * 22, (m["height"], m["text"])


def test_the_cards_list_keeps_the_event_column_inside_the_page(
    pages: dict[str, Path], browser: Any
) -> None:
    """The 2,000-letter event name once made the list's event column 15,403 px wide."""
    page = _open(browser, pages["card"], 1280)
    try:
        widths = page.eval_on_selector_all(
            "table.list tbody tr:first-child td",
            "cells => cells.map(c => c.getBoundingClientRect().width)",
        )
        searches = page.eval_on_selector_all(
            "ul.searches li", "items => items.map(i => i.getBoundingClientRect().width)"
        )
    finally:
        page.close()
    assert max(widths) < 800 and min(widths) > 30, widths
    assert searches and max(searches) <= 1100, searches


def test_the_daily_chart_stays_readable_on_a_phone(pages: dict[str, Path], browser: Any) -> None:
    page = _open(browser, pages["report"], 360)
    try:
        heights = page.eval_on_selector_all(
            '[data-chart="daily"] text',
            "ts => ts.map(t => t.getBoundingClientRect().height)",
        )
        box = page.locator("#daily .chartbox").evaluate(
            "b => [b.clientWidth, b.scrollWidth, getComputedStyle(b).overflowX]"
        )
    finally:
        page.close()
    assert heights and min(heights) >= 9, heights
    assert box[2] == "auto" and box[1] >= box[0], box


def test_the_watch_chart_fills_its_box(pages: dict[str, Path], browser: Any) -> None:
    page = _open(browser, pages["watch"], 1280)
    try:
        chart, section = page.locator('[data-chart="per_minute"]').evaluate(
            "s => [s.getBoundingClientRect().width, s.closest('section').clientWidth]"
        )
    finally:
        page.close()
    assert chart >= section - 40, (chart, section)


def test_the_explanation_keeps_its_detail_inside_its_box(
    pages: dict[str, Path], browser: Any
) -> None:
    for width in WIDTHS:
        page = _open(browser, pages["explain"], width)
        try:
            outside = page.evaluate(
                """() => Array.from(document.querySelectorAll('section td'))
                  .filter(c => c.getClientRects().length)
                  .filter(c => c.getBoundingClientRect().right >
                               c.closest('section').getBoundingClientRect().right + 1)
                  .map(c => c.textContent.slice(0, 30))"""
            )
            shown = page.locator("h1").inner_text()
        finally:
            page.close()
        assert outside == [], (width, outside[:5])
        assert shown == "Rules explanation"
