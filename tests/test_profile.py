"""What the visitor profile (`jtrack journey`) and the report say, checked against the sample:
visits and time on site are web sessions, a negative outcome is marked by a sign and not
by colour alone, each visit keeps its notes, and sessions a role may not see are counted in
a note instead of vanishing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from jtrack.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
runner = CliRunner()
ROLES = """
[roles.agent]
permissions = ["journey:session:view", "journey:event:view", "journey:segment:view",
  "journey:outcome:view"]
[roles.supervisor]
permissions = ["journey:session:view", "journey:event:view", "journey:sessiontype:view",
  "journey:eventtype:view", "journey:segment:view", "journey:outcome:view",
  "externalContacts:contact:view"]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("profile")
    config = d / "jtrack.toml"
    config.write_text((SAMPLE / "jtrack.toml").read_text() + ROLES)
    store = d / "store"
    res = runner.invoke(
        app,
        [
            "sessionize",
            str(SAMPLE / "events.jsonl"),
            "--contacts",
            str(SAMPLE / "contacts.csv"),
            "--store",
            str(store),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.stderr
    return {"store": str(store), "config": str(config), "dir": str(d)}


def _run(world: dict[str, str], *args: str, role: str = "supervisor") -> Result:
    res = runner.invoke(
        app,
        [*args, "--store", world["store"], "--role", role],
        env={"JTRACK_CONFIG": world["config"], "COLUMNS": "100"},
    )
    assert res.exit_code == 0, res.stderr
    return res


def _kpis(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-kpi="([^"]+)"><div class="v">([^<]*)<', html))


def test_visits_and_time_on_site_count_web_sessions(world: dict[str, str]) -> None:
    # C0001: one 5-minute web visit, and a 26-hour delivery session of the order system
    data = json.loads(_run(world, "journey", "C0001", "-f", "json").stdout)
    tot = data["totals"]
    assert tot["by_type"] == {"delivery": 1, "web": 1}
    web = [s for s in data["sessions"] if s["session"]["type"] == "web"]
    assert tot["web_sessions"] == len(web) == 1 < tot["sessions"]
    assert tot["web_duration_seconds"] == web[0]["timing"]["duration_seconds"]
    assert tot["web_duration_seconds"] < tot["duration_seconds"]
    assert tot["last_visit"] == web[0]["timing"]["start"]
    html = _run(world, "journey", "C0001", "-f", "html").stdout
    kpis = _kpis(html)
    assert kpis["visits"] == "1" and kpis["other sessions"] == "1"
    assert kpis["time on site"] == web[0]["timing"]["duration"] == tot["web_duration"]


def test_last_visit_is_when_the_latest_visit_began(world: dict[str, str]) -> None:
    data = json.loads(_run(world, "journey", "C0017", "-f", "json").stdout)
    newest = data["sessions"][0]["timing"]
    assert data["totals"]["last_visit"] == newest["start"] != data["totals"]["last_seen"]
    html = _run(world, "journey", "C0017", "-f", "html").stdout
    assert _kpis(html)["last visit"] == newest["start"][:19].replace("T", " ") + " UTC"


def test_a_negative_outcome_has_a_sign_not_only_a_colour(world: dict[str, str]) -> None:
    who = "e78fed2a"  # a sample visitor who abandoned a checkout (positive = false)
    data = json.loads(_run(world, "journey", who, "-f", "json").stdout)
    tones = {o["display_name"]: o["tone"] for s in data["sessions"] for o in s["outcomes"]}
    assert tones["Abandoned the checkout"] == "negative"
    html = _run(world, "journey", who, "-f", "html").stdout
    profile = html.split("<h2>Outcomes</h2>", 1)[1].split("</section>", 1)[0]
    assert 'class="sign neg"' in profile and "Abandoned the checkout" in profile
    neg = re.findall(r'<span class="sign neg"[^>]*>\u2212</span>', html)
    assert len(neg) >= 2  # the profile's summary and the visit's line
    text = _run(world, "journey", who).stdout
    assert re.search(r"outcomes .*-Abandoned the checkout", text)


def test_each_visit_keeps_its_notes_and_hidden_sessions_are_counted(
    world: dict[str, str],
) -> None:
    data = json.loads(_run(world, "journey", "C0017", "-f", "json", role="agent").stdout)
    notes = [n for s in data["sessions"] for n in s["notes"]]
    assert any("hidden by your role" in n for n in notes)
    html = _run(world, "journey", "C0017", "-f", "html", role="agent").stdout
    text = _run(world, "journey", "C0017", role="agent").stdout
    for note in notes:
        assert note in html.replace("&#x27;", "'").replace("&quot;", '"')
        assert " ".join(note.split()) in " ".join(text.split())
    # C0001's delivery session is a custom session: the agent may not see it, and is told
    agent = json.loads(_run(world, "journey", "C0001", "-f", "json", role="agent").stdout)
    assert agent["totals"]["sessions"] == 1
    assert any("1 custom session hidden by your role" in n for n in agent["notes"])
    supervisor = json.loads(_run(world, "journey", "C0001", "-f", "json").stdout)
    assert not any("hidden by your role" in n for n in supervisor["notes"])
    report = json.loads(_run(world, "report", "-f", "json", role="agent").stdout)
    full = json.loads(_run(world, "report", "-f", "json").stdout)
    hidden = full["overview"]["sessions"] - report["overview"]["sessions"]
    assert hidden > 0
    assert f"{hidden} custom sessions of the period hidden by your role" in " ".join(
        report["notes"]
    )


def test_a_rules_report_says_what_a_role_leaves_out_of_its_counts(
    world: dict[str, str],
) -> None:
    """The agent (no journey:sessiontype:view, no journey:eventtype:view) got fewer sessions
    and fewer outcomes from `rules report` than the supervisor, and nothing said why (where
    `report` and the card say it)."""
    args = ("rules", "report", "--rules", world["config"], "-f", "json")
    agent = _run(world, *args, role="agent")
    full = json.loads(_run(world, *args).stdout)
    hidden = full["sessions"] - json.loads(agent.stdout)["sessions"]
    assert hidden > 0
    said = " ".join(agent.stderr.split())
    assert f"{hidden} custom sessions of the period hidden by your role" in said
    assert re.search(r"[\d,]+ custom events of the period hidden by your role", said), said
    assert "hidden by your role" not in _run(world, *args).stderr
    quiet = _run(world, *args, "-q", role="agent")
    assert "hidden by your role" not in quiet.stderr


def test_a_visitor_of_custom_sessions_only_has_no_visit_dates(tmp_path: Path) -> None:
    """Its profile showed first and last visit dates beside "0 visits"."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers import flat_event, flat_frame

    t0 = datetime(2026, 10, 3, 9, tzinfo=UTC)
    rows = [
        flat_event(f"d{i}", "v-order", t0 + timedelta(hours=i), kind="custom",
                   event_name="order_dispatched", source_session_type="delivery",
                   source_session_id="order-1")
        for i in range(2)
    ]  # fmt: skip
    src = tmp_path / "orders.parquet"
    flat_frame(rows).write_parquet(src)
    store = str(tmp_path / "store")
    res = runner.invoke(app, ["sessionize", str(src), "--store", store, "-q"])
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(app, ["journey", "v-order", "--store", store, "-f", "json"])
    assert res.exit_code == 0, res.stderr
    tot = json.loads(res.stdout)["totals"]
    assert tot["sessions"] == 1 and tot["web_sessions"] == 0
    assert tot["first_visit"] is None and tot["last_visit"] is None
    html = runner.invoke(app, ["journey", "v-order", "--store", store, "-f", "html"]).stdout
    kpis = _kpis(html)
    assert kpis["visits"] == "0" and kpis["other sessions"] == "1"
    assert kpis["first visit"] == kpis["last visit"] == "not recorded"


def test_the_report_counts_hidden_sessions_of_the_traffic_it_shows(
    world: dict[str, str], tmp_path: Path
) -> None:
    """It counted the hidden custom sessions of every traffic class: 5 where the people-only
    report left out 2 (the other 3 were a crawler's)."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers import flat_event, flat_frame

    t0 = datetime(2026, 10, 3, 9, tzinfo=UTC)
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36"
    )
    rows = []
    for i, agent in enumerate([chrome, bot, bot]):
        v, when = f"v{i}", t0 + timedelta(hours=i)
        rows.append(flat_event(f"p{i}", v, when, user_agent_string=agent))
        rows.append(
            flat_event(f"c{i}", v, when + timedelta(minutes=1), kind="custom",
                       event_name="order_dispatched", source_session_type="delivery",
                       source_session_id=f"o{i}", user_agent_string=agent)
        )  # fmt: skip
    src = tmp_path / "events.parquet"
    flat_frame(rows).write_parquet(src)
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["sessionize", str(src), "--store", store, "-q"]).exit_code == 0
    env = {"JTRACK_CONFIG": world["config"]}
    for traffic, hidden in (("human", 1), ("all", 3)):
        # (a report of the export files says it as the store's does: it said nothing)
        for source in (["--store", store], [str(src)]):
            res = runner.invoke(
                app,
                ["report", *source, "--role", "agent", "--traffic", traffic, "-f", "json"],
                env=env,
            )
            assert res.exit_code == 0, res.stderr
            note = f"{hidden} custom session{'s' if hidden != 1 else ''} of the period hidden"
            assert any(n.startswith(note) for n in json.loads(res.stdout)["notes"]), source


def test_top_pages_count_every_page_view_and_a_tile_of_one_is_singular(
    world: dict[str, str],
) -> None:
    """A page view that carried a search was left out of the top pages (7 page views, the
    list summed to 6); a tile read "1 searches"."""
    data = json.loads(_run(world, "journey", "C0008", "-f", "json").stdout)
    html = _run(world, "journey", "C0008", "-f", "html").stdout
    pages = html.split("<h2>Top pages</h2>", 1)[1].split("</section>", 1)[0]
    listed = sum(int(n.replace(",", "")) for n in re.findall(r'<span class="n">([\d,]+)<', pages))
    views = sum(s["counts"]["page_views"] for s in data["sessions"])
    assert listed == views == data["totals"]["page_views"] > 0
    tiles = re.findall(
        r'data-kpi="([^"]+)"><div class="v">([^<]*)</div><div class="k">([^<]*)<', html
    )
    singular = {"visits": "visit", "other sessions": "other session", "searches": "search"}
    singular |= {k: k[:-1] for k in ("page views", "events", "segments", "outcomes")}
    ones = [(key, label) for key, value, label in tiles if value == "1"]
    assert ones and all(label == singular[key] for key, label in ones), ones


def test_a_segment_of_the_rules_and_the_export_is_one_segment_of_the_visit(
    tmp_path: Path,
) -> None:
    """A rules file giving the export's segment id its own rule: the journey listed the
    segment twice for a visit that both matched ("Tents, Tents") and counted it twice."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers import flat_event, flat_frame

    t0 = datetime(2026, 10, 3, 9, tzinfo=UTC)
    rows = [
        flat_event("p1", "v-tent", t0, page_title="Tents | Shop"),
        flat_event("x1", "v-tent", t0 + timedelta(seconds=5), kind="segment",
                   event_type="SegmentAssignmentEvent", event_name=None, segment_id="seg-tents",
                   page_url=None, page_title=None),
    ]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[segment]]\nid = "seg-tents"\ndisplay_name = "Tents"\n'
        'context = [{ field = "sessionType", operator = "equal", values = ["web"] }]\n'
    )
    store = str(tmp_path / "st")
    assert runner.invoke(app, ["sessionize", str(src), "--store", store, "-q"]).exit_code == 0
    args = ["journey", "v-tent", "--store", store, "--rules", str(rules)]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    assert data["totals"]["segments"] == 1
    [visit] = data["sessions"]
    assert sorted(s["source"] for s in visit["segments"]) == ["export", "rules"]  # (both said)
    text = runner.invoke(app, args, env={"COLUMNS": "100"}).stdout
    assert re.search(r"segments Tents\s*$", text, re.M), text
    html = runner.invoke(app, [*args, "-f", "html"]).stdout
    assert '</span>Tents</span><span class="n">1</span>' in html  # (the profile's count)
    assert re.search(r"<p>segments <span [^>]*></span>Tents</p>", html)
