"""People and automated traffic on the reading side: `--traffic` on report, sessions, journey
and rules report (people only by default, and said so), the report's traffic section, the
automated share beside the bill in `jtrack usage`, the card's badge, and roles leaving the
traffic fields alone. Goldens at 80 and 140 columns (JTRACK_UPDATE_GOLDEN=1, then read the
diff)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core.traffic import TRAFFIC_CLASSES, user_agent_list_version
from jtrack.errors import UsageError
from jtrack.store import Store
from jtrack.usecases.report import ReportOptions, report_from_store
from jtrack.usecases.traffic import parse_traffic
from tests.externals import CHROMIUM_ARGS
from tests.helpers import T0, flat_event, flat_frame

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
AS_OF = "2026-10-05T00:00:00Z"
runner = CliRunner()

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.5.0"


def traffic_rows() -> list[dict[str, Any]]:
    """Two people (one of whom also runs curl later that day), GPTBot, Googlebot, curl, a
    crawler with a browser's user agent loading 900 pages, and a monitor loading a page every
    minute for three hours."""
    rows: list[dict[str, Any]] = []

    def ev(event_id: str, customer: str, seconds: float, ua: str, **extra: Any) -> None:
        at = T0 + timedelta(seconds=seconds)
        rows.append(
            flat_event(
                event_id, customer, at, user_agent_string=ua, device_category="desktop", **extra
            )
        )

    for k in range(3):
        ev(f"h1-{k}", "human-1", 60 * k, CHROME, page_title="Home" if k == 0 else f"Tent {k}")
    ev("h1-s", "human-1", 150, CHROME, kind="search", search_query="tent", page_title="Search")
    ev("h1-c", "human-1", 200, CHROME, kind="custom", event_name="product_added")
    ev("mx-0", "mixed", 0, CHROME, page_title="Home")
    ev("mx-1", "mixed", 90, CHROME, page_title="Boots")
    ev("mx-2", "mixed", 7200, CURL, page_title="Home")  # two hours later: a session of its own
    ev("mx-3", "mixed", 7205, CURL, page_title="Boots")
    for k in range(5):
        ev(f"gpt-{k}", "bot-gpt", 10 * k, GPTBOT, page_title=f"Guide {k}")
    ev(
        "gpt-seg",
        "bot-gpt",
        15,
        GPTBOT,
        kind="segment_assigned",
        event_type="SegmentAssignmentEvent",
        event_name=None,
        segment_id="seg-readers",
    )
    for k in range(3):
        ev(f"ggl-{k}", "bot-google", 20 * k, GOOGLEBOT, page_title=f"Tent {k}")
    for k in range(2):
        ev(f"curl-{k}", "bot-curl", 5 * k, CURL, page_title="Home")
    for k in range(900):
        ev(f"crawl-{k:03d}", "crawler", 3 * k, CHROME, page_title=f"Product {k}")
    for k in range(181):
        ev(f"mon-{k:03d}", "monitor", 60 * k, CHROME, page_title="Status")
    return rows


#: Billable events per visitor and session (page views, searches, custom web events).
HUMAN_SESSIONS, HUMAN_EVENTS = 2, 5 + 2  # human-1, and the first session of "mixed"
UA_AUTOMATED = 5 + 3 + 2 + 2  # GPTBot, Googlebot, curl, mixed's curl session
BEHAVIOUR_AUTOMATED = 900 + 181  # the crawler and the monitor


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("traffic")
    src = d / "traffic.parquet"
    flat_frame(traffic_rows()).write_parquet(src)
    store = d / ".jtrack"
    res = runner.invoke(app, ["sessionize", str(src), "--store", str(store), "-q"])
    assert res.exit_code == 0, res.stderr
    sessions = Store.open(store).scan_sessions().collect()
    ids = {
        (r["customer_id"], r["traffic_class"]): r["id"]
        for r in sessions.select("customer_id", "traffic_class", "id").iter_rows(named=True)
    }
    old = Path.cwd()
    os.chdir(d)
    try:
        yield {"dir": d, "store": store, "source": src, "ids": ids, "sessions": sessions}
    finally:
        os.chdir(old)


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_the_test_data_has_every_kind_of_traffic(world: dict[str, Any]) -> None:
    by = dict(world["sessions"].group_by("traffic_class").len().iter_rows())
    assert by == {"human": 2, "ai_agent": 1, "search_crawler": 1, "http_client": 2, "suspect": 2}
    signals = set(world["sessions"]["traffic_signal"].drop_nulls())
    assert "behaviour:page views 900 >= 500" in signals
    assert any(s.startswith("behaviour:no pause over 3h") for s in signals)


# ---- --traffic ---------------------------------------------------------------------------


def test_traffic_names_are_read_in_class_order_with_all_and_automated() -> None:
    assert parse_traffic(None) == ("human",)
    assert parse_traffic("suspect, AI_AGENT,human,human") == ("human", "ai_agent", "suspect")
    assert parse_traffic("all") == TRAFFIC_CLASSES
    assert parse_traffic("automated") == TRAFFIC_CLASSES[1:]
    with pytest.raises(UsageError, match="did you mean 'search_crawler'"):
        parse_traffic("human,search_crawlers")
    with pytest.raises(UsageError, match="no traffic class"):
        parse_traffic(" , ")
    with pytest.raises(UsageError):
        ReportOptions(traffic=("bots",))


@pytest.mark.parametrize(
    "command",
    [["report"], ["sessions"], ["journey", "human-1"], ["rules", "report", "--rules", "r.toml"]],
)
def test_an_unknown_traffic_class_is_exit_2_naming_the_nearest(
    command: list[str], world: dict[str, Any]
) -> None:
    res = run(*command, "--store", str(world["store"]), "--traffic", "human,ai-agent")
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("error: --traffic: 'ai-agent' is not a traffic class")
    assert "did you mean 'ai_agent'?" in res.stderr


# ---- jtrack sessions ---------------------------------------------------------------------


def test_sessions_are_people_only_by_default_and_say_what_was_left_out(
    world: dict[str, Any],
) -> None:
    store = ["--store", str(world["store"])]
    table = run("sessions", *store)
    assert table.exit_code == 0, table.stderr
    assert table.stdout.startswith("2 sessions\n")
    flat = " ".join(table.stdout.split())
    assert "traffic: human (people only); 6 automated sessions" in flat
    assert "(ai_agent 1, search_crawler 1, http_client 2, suspect 2; 1,093 events)" in flat
    assert "left out: --traffic all includes them" in flat
    data = run("sessions", *store, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(data.stdout)))
    assert {r["customer_id"] for r in rows} == {"human-1", "mixed"}
    assert {r["traffic_class"] for r in rows} == {"human"}
    assert data.stderr.startswith("note: traffic: human (people only); 6 automated sessions")
    assert run("sessions", *store, "-f", "csv", "-q").stderr == ""
    everyone = json.loads(run("sessions", *store, "-f", "json", "--traffic", "all").stdout)
    assert len(everyone) == 8
    gpt = next(s for s in everyone if s["customer_id"] == "bot-gpt")
    assert (gpt["traffic_class"], gpt["traffic_agent"], gpt["traffic_signal"]) == (
        "ai_agent",
        "GPTBot",
        "user_agent_list:GPTBot",
    )


def test_sessions_of_chosen_classes_count_the_others_as_left_out(world: dict[str, Any]) -> None:
    res = run("sessions", "--store", str(world["store"]), "--traffic", "http_client", "-f", "jsonl")
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert sorted(r["customer_id"] for r in rows) == ["bot-curl", "mixed"]
    assert "6 sessions of other classes (human 2, ai_agent 1" in res.stderr
    assert "1,096 events) left out" in res.stderr
    # the other filters apply first: one visitor's left-out sessions only
    one = run("sessions", "--store", str(world["store"]), "--customer", "mixed", "-f", "csv")
    assert "1 automated session (http_client 1; 2 events)" in one.stderr


def test_the_sessions_table_with_several_classes_has_a_traffic_column(
    world: dict[str, Any],
) -> None:
    out = run("sessions", "--store", str(world["store"]), "--traffic", "all").stdout
    header = out.splitlines()[1:3]
    assert any("traffic" in line for line in header)
    assert "ai_agent" in out and "suspect" in out
    assert out.rstrip().endswith("traffic: all classes (people and automated)")


# ---- jtrack report -------------------------------------------------------------------------


def test_the_report_counts_people_and_has_a_traffic_section(world: dict[str, Any]) -> None:
    res = run("report", "--store", str(world["store"]), "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["traffic"]["classes"] == ["human"]
    assert doc["traffic"]["left_out"] == {
        "sessions": 6,
        "events": UA_AUTOMATED + BEHAVIOUR_AUTOMATED,  # activity (event_count), as everywhere
        "by_class": {"ai_agent": 1, "search_crawler": 1, "http_client": 2, "suspect": 2},
    }
    assert doc["traffic"]["lists"] == user_agent_list_version()
    assert doc["overview"]["sessions"] == HUMAN_SESSIONS
    assert doc["overview"]["visitors"] == 2
    # pages of the automated sessions are not among the top pages
    assert all(
        "crawl" not in p["page"] and "mon-" not in p["page"] for p in doc["tables"]["top_pages"]
    )
    by_class = {r["traffic_class"]: r for r in doc["tables"]["traffic"]}
    assert list(by_class) == ["human", "ai_agent", "search_crawler", "http_client", "suspect"]
    assert by_class["suspect"]["sessions"] == 2 and by_class["suspect"]["share_of_sessions"] == 0.25
    assert sum(r["sessions"] for r in by_class.values()) == 8
    assert abs(sum(r["share_of_events"] for r in by_class.values()) - 1) < 1e-3
    agents = [
        (a["agent"], a["traffic_class"], a["sessions"]) for a in doc["tables"]["traffic_agents"]
    ]
    assert agents == [
        ("curl", "http_client", 2),
        ("GPTBot", "ai_agent", 1),
        ("Googlebot", "search_crawler", 1),
    ]
    assert any("6 automated sessions" in n and "--traffic all" in n for n in doc["notes"])


def test_the_report_of_all_traffic_counts_everyone_with_the_same_traffic_section(
    world: dict[str, Any],
) -> None:
    people = report_from_store(Store.open(world["store"]))
    everyone = report_from_store(Store.open(world["store"]), ReportOptions(traffic=TRAFFIC_CLASSES))
    assert everyone.overview["sessions"] == 8 and everyone.scope.sessions_left_out == 0
    assert everyone.tables["traffic"].equals(people.tables["traffic"])
    bots = report_from_store(Store.open(world["store"]), ReportOptions(traffic=("ai_agent",)))
    assert bots.overview["sessions"] == 1 and bots.overview["page_views"] == 5
    assert [r["segment_id"] for r in bots.tables["segments"].to_dicts()] == ["seg-readers"]
    assert people.tables["segments"].height == 0


def test_the_report_of_export_files_classes_traffic_as_the_store_does(
    world: dict[str, Any],
) -> None:
    files = json.loads(run("report", str(world["source"]), "-f", "json", "-q").stdout)
    store = json.loads(run("report", "--store", str(world["store"]), "-f", "json").stdout)
    for key in ("overview", "tables"):
        assert files[key] == store[key]
    assert files["traffic"] == store["traffic"]


def test_the_report_says_what_it_counts_in_markdown_and_html(world: dict[str, Any]) -> None:
    store = ["--store", str(world["store"])]
    md = run("report", *store, "-f", "md").stdout
    assert md.splitlines()[2] == "traffic: human (people only)"
    assert "## Traffic: people and automated" in md and "## Top automated agents" in md
    assert f"User-agent lists: {user_agent_list_version()}" in md
    assert "Note: 6 automated sessions" in md
    html = run("report", *store, "-f", "html").stdout
    head = html[: html.index('<div class="kpis">')]
    assert 'data-traffic="human"' in head and "traffic: human (people only)" in head
    assert '<section id="traffic"' in html and 'data-chart="traffic"' in html
    assert '<section id="traffic_agents"' in html
    assert f"User-agent lists: {user_agent_list_version()}" in html


# ---- goldens ------------------------------------------------------------------------------

GOLDENS: dict[str, list[str]] = {
    "traffic_report": ["report", "--top", "3"],
    "traffic_sessions": ["sessions", "--traffic", "all"],
    "traffic_usage": ["usage", "--as-of", AS_OF, "--since", "2026-10-03"],
    "traffic_card": ["card", "{gpt}", "--as-of", AS_OF, "--no-rules"],
}


def _golden_output(name: str, width: int, world: dict[str, Any], monkeypatch: Any) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("JTRACK_WIDTH", raising=False)
    gpt = world["ids"][("bot-gpt", "ai_agent")]
    args = [a.replace("{gpt}", gpt) for a in GOLDENS[name]]
    res = run(*args, "--store", str(world["store"]))
    assert res.exit_code == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("width", [80, 140])
@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_traffic_tables_match_their_goldens(
    name: str, width: int, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _golden_output(name, width, world, monkeypatch)
    assert max(len(line) for line in out.splitlines()) <= width
    path = GOLDEN / f"{name}_{width}.txt"
    if os.environ.get("JTRACK_UPDATE_GOLDEN"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")


# ---- jtrack usage --------------------------------------------------------------------------


def test_usage_bills_all_traffic_and_shows_the_automated_share_beside_it(
    world: dict[str, Any],
) -> None:
    res = run("usage", "--store", str(world["store"]), "--as-of", AS_OF, "-f", "json", "-q")
    doc = json.loads(res.stdout)
    total = HUMAN_EVENTS + UA_AUTOMATED + BEHAVIOUR_AUTOMATED
    assert doc["totals"]["billable"] == doc["month"]["month_to_date"] == total
    assert doc["totals"]["system"] == 1  # the segment event: neither billed nor automated
    automated = UA_AUTOMATED + BEHAVIOUR_AUTOMATED
    assert doc["totals"]["automated"] == doc["month"]["automated"] == automated
    assert doc["month"]["automated_share"] == round(automated / total, 4)
    assert doc["traffic"]["basis"] == "sessions"
    day = next(r for r in doc["rows"] if r["period"] == "2026-10-03")
    assert (day["billable"], day["automated"]) == (total, automated)
    empty = next(r for r in doc["rows"] if r["period"] == "2026-10-01")
    assert (empty["automated"], empty["automated_share"]) == (0, None)
    summary_csv = run(
        "usage", "--store", str(world["store"]), "--as-of", AS_OF, "-f", "csv", "--summary", "-q"
    ).stdout
    summary = next(csv.DictReader(io.StringIO(summary_csv)))
    assert (summary["automated"], summary["month_to_date"]) == (str(automated), str(total))


def test_usage_of_export_files_counts_automated_by_user_agent(world: dict[str, Any]) -> None:
    src = str(world["source"])
    doc = json.loads(run("usage", src, "--as-of", AS_OF, "-f", "json", "-q").stdout)
    store = json.loads(
        run("usage", "--store", str(world["store"]), "--as-of", AS_OF, "-f", "json", "-q").stdout
    )
    assert doc["totals"]["billable"] == store["totals"]["billable"]  # the bill is the bill
    assert doc["totals"]["automated"] == UA_AUTOMATED  # behaviour needs sessions
    assert doc["traffic"]["basis"] == "user_agent"
    assert any("behaviour" in n and "store" in n for n in doc["reconciliation"]["notes"])
    # a redelivered bot event is still billed (and counted automated) once
    jsonl = world["dir"] / "twice.jsonl"
    from tests.helpers import genesys_line

    lines = [genesys_line("g-1", "bot", T0, userAgentString=GPTBOT)] * 2
    lines.append(genesys_line("p-1", "person", T0, userAgentString=CHROME))
    jsonl.write_text("\n".join(lines) + "\n")
    twice = json.loads(run("usage", str(jsonl), "--as-of", AS_OF, "-f", "json", "-q").stdout)
    assert (twice["totals"]["billable"], twice["totals"]["automated"]) == (2, 1)
    assert twice["totals"]["duplicates"] == 1


def test_the_usage_note_names_the_automated_events(world: dict[str, Any]) -> None:
    res = run("usage", "--store", str(world["store"]), "--as-of", AS_OF, "-f", "csv")
    assert "1,093 of them automated (99.4%)" in res.stderr
    header = res.stdout.splitlines()[0].split(",")
    assert header[-3:] == ["automated", "automated_share", "tz"]  # (each added last)


# ---- jtrack journey -------------------------------------------------------------------------


def test_a_journey_shows_the_visitors_people_sessions_and_counts_the_others(
    world: dict[str, Any],
) -> None:
    store = ["--store", str(world["store"]), "--as-of", AS_OF, "--no-rules"]
    doc = json.loads(run("journey", "mixed", *store, "-f", "json").stdout)
    assert doc["traffic"] == {
        "classes": ["human"],
        "left_out": {"sessions": 1, "events": 2, "by_class": {"http_client": 1}},
    }
    assert doc["totals"]["sessions"] == 1 and doc["totals"]["page_views"] == 2
    assert [s["traffic"]["class"] for s in doc["sessions"]] == ["human"]
    assert any("1 automated session" in n for n in doc["notes"])
    everything = json.loads(
        run("journey", "mixed", *store, "-f", "json", "--traffic", "all").stdout
    )
    assert [s["traffic"]["class"] for s in everything["sessions"]] == ["http_client", "human"]
    text = run("journey", "mixed", *store, "--traffic", "all").stdout
    assert "traffic: all classes (people and automated)" in text
    assert "automated: http_client (curl, user_agent_list:curl)" in text
    html = run("journey", "mixed", *store, "--traffic", "all", "-f", "html").stdout
    assert html.count('class="badge automated"') == 1 and 'data-traffic="' in html


def test_a_journey_of_a_bot_alone_is_exit_1_with_a_hint(world: dict[str, Any]) -> None:
    res = run("journey", "bot-gpt", "--store", str(world["store"]))
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "'bot-gpt' has 1 session but none of traffic human (ai_agent 1)" in res.stderr
    assert "--traffic all" in res.stderr
    ok = run("journey", "bot-gpt", "--store", str(world["store"]), "--traffic", "ai_agent")
    assert ok.exit_code == 0 and "automated: ai_agent (GPTBot" in ok.stdout


# ---- jtrack rules report -------------------------------------------------------------------

RULES = """
[[segment]]
id = "seg-tents"
display_name = "Tent browsers"
[[segment.pattern]]
conditions = [{ field = "page.title", operator = "startsWith", values = ["Tent"] }]
"""


def test_the_rules_report_counts_people_unless_told(world: dict[str, Any]) -> None:
    rules = world["dir"] / "rules.toml"
    rules.write_text(RULES)
    base = ["rules", "report", "--rules", str(rules), "--store", str(world["store"])]
    people = json.loads(run(*base, "-f", "json").stdout)
    everyone = json.loads(run(*base, "-f", "json", "--traffic", "all").stdout)
    assert people["sessions"] == 2 and everyone["sessions"] == 8
    assert people["traffic"]["left_out"]["sessions"] == 6
    tents = {r["segment_id"]: r["sessions"] for r in people["segments"] if r["source"] == "rules"}
    assert tents == {"seg-tents": 1}  # Googlebot read the tent pages too, but is no person
    tents_all = {r["segment_id"]: r["sessions"] for r in everyone["segments"]}
    assert tents_all["seg-tents"] == 2
    table = run(*base).stdout.splitlines()
    assert table[1] == "traffic: human (people only)" and table[2].startswith("note: 6 automated")
    csv_run = run(*base, "-f", "csv")
    assert csv_run.stdout.startswith("section,") and "note: traffic: human" in csv_run.stderr
    assert 'data-traffic="human"' in run(*base, "-f", "html").stdout
    assert "\ntraffic: human (people only)\n" in run(*base, "-f", "md").stdout


# ---- jtrack card --------------------------------------------------------------------------


def test_the_card_of_an_automated_session_has_a_badge_and_a_persons_has_none(
    world: dict[str, Any],
) -> None:
    ids = world["ids"]
    store = ["--store", str(world["store"]), "--as-of", AS_OF, "--no-rules"]
    gpt = json.loads(run("card", ids[("bot-gpt", "ai_agent")], *store, "-f", "json").stdout)
    assert gpt["traffic"] == {
        "class": "ai_agent",
        "agent": "GPTBot",
        "signal": "user_agent_list:GPTBot",
        "automated": True,
    }
    text = run("card", ids[("bot-gpt", "ai_agent")], *store).stdout.splitlines()
    assert text[1].strip() == "🤖 automated: ai_agent (GPTBot, user_agent_list:GPTBot)"
    ascii_ = run("card", ids[("crawler", "suspect")], *store, "--ascii").stdout.splitlines()
    assert ascii_[1].strip() == "[BOT] automated: suspect (behaviour:page views 900 >= 500)"
    human = ids[("human-1", "human")]
    person = json.loads(run("card", human, *store, "-f", "json").stdout)
    assert person["traffic"] == {
        "class": "human",
        "agent": None,
        "signal": None,
        "automated": False,
    }
    assert "automated" not in run("card", human, *store).stdout
    assert "badge automated" not in run("card", human, *store, "-f", "html").stdout
    page = run("card", ids[("bot-gpt", "ai_agent")], *store, "-f", "html").stdout
    header = page[page.index("<header>") : page.index("</header>")]
    assert 'class="badge automated" data-traffic-class="ai_agent"' in header
    assert "automated: ai_agent (GPTBot, user_agent_list:GPTBot)" in header


# ---- roles and redaction ------------------------------------------------------------------

CONFIG = """
default_role = "agent"
[roles.agent]
permissions = ["journey:session:view", "journey:event:view"]
[redact]
key = "test-key"
"""


def test_roles_and_redaction_leave_the_traffic_fields_alone(world: dict[str, Any]) -> None:
    (world["dir"] / "jtrack.toml").write_text(CONFIG)
    try:
        store = ["--store", str(world["store"]), "--traffic", "all"]
        for extra in ([], ["--redact"]):
            rows = json.loads(run("sessions", *store, "-f", "json", *extra).stdout)
            gpt = next(r for r in rows if r["traffic_agent"] == "GPTBot")
            assert (gpt["traffic_class"], gpt["traffic_signal"]) == (
                "ai_agent",
                "user_agent_list:GPTBot",
            )
            card = json.loads(
                run(
                    "card",
                    gpt["id"],
                    "--store",
                    str(world["store"]),
                    "-f",
                    "json",
                    "--no-rules",
                    *extra,
                ).stdout
            )
            assert card["traffic"]["agent"] == "GPTBot" and card["traffic"]["automated"]
            report = json.loads(run("report", *store, "-f", "json", *extra).stdout)
            assert {a["agent"] for a in report["tables"]["traffic_agents"]} == {
                "GPTBot",
                "Googlebot",
                "curl",
            }
            assert run("usage", "--store", str(world["store"]), "-f", "json", "-q").exit_code == 0
    finally:
        (world["dir"] / "jtrack.toml").unlink()


# ---- in a browser -------------------------------------------------------------------------


@pytest.mark.browser
def test_the_badge_and_the_traffic_section_show_in_a_browser(
    world: dict[str, Any], chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    gpt = world["ids"][("bot-gpt", "ai_agent")]
    card, report = tmp_path / "card.html", tmp_path / "report.html"
    store = ["--store", str(world["store"])]
    assert run("card", gpt, *store, "--as-of", AS_OF, "-o", str(card)).exit_code == 0
    assert run("report", *store, "-o", str(report), "-q").exit_code == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for width in (400, 1280):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(card.as_uri())
                badge = page.locator(".badge.automated")
                assert badge.is_visible()
                assert "automated: ai_agent (GPTBot" in badge.inner_text()
                box = badge.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
                page.goto(report.as_uri())
                assert page.locator("p.traffic").inner_text() == "traffic: human (people only)"
                assert page.locator("#traffic svg rect.bar").count() == 5
                assert page.locator("#traffic_agents table tbody tr").count() == 3
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width
                page.close()
        finally:
            browser.close()
