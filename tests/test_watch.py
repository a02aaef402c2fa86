"""`jtrack watch`: the live frame (jtrack.usecases.live), its renderings, the keys, and the
watch loop end to end against a writer process (new file, growth, rotation, a partial line),
a kill -9 and a restart, compared with `jtrack sessionize` over the same files.

Golden files (tests/golden/watch_once_*.txt) are regenerated with JTRACK_UPDATE_GOLDEN=1;
read the diff before committing them.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.commands.watch import (
    HOUR_EVERY,
    HOUR_SHARE,
    FileWatcher,
    LoopConfig,
    WatchLoop,
    handle_key,
    parse_keys,
    run_sources,
)
from jtrack.engine import run_sessionize
from jtrack.read import rotated_copies
from jtrack.render.live import ViewState, keys_line, log_line, render_frame_text, sparkline
from jtrack.store import Store
from jtrack.usecases.live import LiveOptions, live_frame, view_sessions
from tests.helpers import flat_event, flat_frame, genesys_line

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("JTRACK_UPDATE_GOLDEN") == "1"
T = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
AS_OF = T + timedelta(minutes=30)  # 09:30
AS_OF_TEXT = "2026-10-03T09:30:00Z"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)

runner = CliRunner()


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def page(eid: str, visitor: str, minute: float, path: str, **web: Any) -> str:
    web.setdefault("userAgentString", CHROME)
    line = json.loads(genesys_line(eid, visitor, at(minute), **web))
    line["webEvent"]["page"] = {"url": f"https://shop.example{path}?q=1", "title": f"T{path}"}
    return json.dumps(line)


def search(eid: str, visitor: str, minute: float, query: str) -> str:
    line = json.loads(page(eid, visitor, minute, "/search", searchQuery=query))
    line["webEvent"]["eventName"] = "search"
    return json.dumps(line)


def scenario_lines() -> list[str]:
    """At 09:30: v1 browsing (active, from google), v2 left at 08:50 (inactive, in the
    hour), a GPTBot crawling every minute (active, automated), v4 arrived at 09:29:30 from a
    newsletter and goes on at 09:45 (after the clock: cut), v5 at 07:00 (outside the hour)."""
    google = {"referrer": {"hostname": "www.google.com", "medium": "search"}}
    utm = {"mktCampaign": {"source": "newsletter", "medium": "email"}}
    out = [
        page("e01", "v1", 0, "/a", **google),
        page("e02", "v1", 5, "/b"),
        page("e03", "v1", 20, "/a"),
        search("e04", "v1", 26, "Tents"),
        page("e05", "v2", -20, "/b"),
        page("e06", "v2", -10, "/c"),
        page("e07", "v4", 29.5, "/sale", **utm),
        page("e08", "v4", 45, "/later"),
        page("e09", "v5", -120, "/old"),
    ]
    out += [page(f"b{i:02d}", "bot", 20 + i, f"/p{i}", userAgentString=GPTBOT) for i in range(10)]
    return out


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live")
    src = root / "events.jsonl"
    src.write_text("\n".join(scenario_lines()) + "\n")
    run_sessionize([str(src)], Store(root / "store"))
    return root


@pytest.fixture
def store(store_dir: Path) -> Store:
    s = Store(store_dir / "store")
    yield s
    s.close()


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with JTRACK_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


# ---------------------------------------------------------------------------- the frame


def test_active_sessions_are_those_with_activity_within_the_gap(store: Store) -> None:
    f = live_frame(store, LiveOptions(as_of=AS_OF))
    assert f.clock == "--as-of" and f.as_of == AS_OF and f.gap_seconds == 1200
    active = f.active.sort("customer_id")
    # people only: v1 (last 09:26) and v4 (09:29:30); v2 left 40 minutes ago; the bot is out
    assert active.get_column("customer_id").to_list() == ["v1", "v4"]
    v1 = active.row(0, named=True)
    assert v1["contact_name"] == "Unknown"
    assert v1["last_page_title"] == "T/a"  # the last page view (a search is no page view)
    assert v1["ended_date"] == at(26) and v1["duration_in_seconds"] == 26 * 60
    assert v1["event_count"] == 4 and v1["idle_seconds"] == 4 * 60
    assert f.overview["active_sessions"] == 2 and f.overview["active_visitors"] == 2


def test_a_replay_cuts_a_session_that_goes_on_after_the_clock(store: Store) -> None:
    v4 = live_frame(store, LiveOptions(as_of=AS_OF)).active.filter(pl.col("customer_id") == "v4")
    row = v4.row(0, named=True)
    # the store knows v4's 09:45 page view; at 09:30 the session has one event on /sale
    assert row["event_count"] == 1 and row["last_page_title"] == "T/sale"
    assert row["ended_date"] == at(29.5) and row["duration_in_seconds"] == 0
    later = live_frame(store, LiveOptions(as_of=at(50))).active
    assert later.filter(pl.col("customer_id") == "v4").row(0, named=True)["event_count"] == 2


def test_per_minute_rates_and_the_hour_tables(store: Store) -> None:
    f = live_frame(store, LiveOptions(as_of=AS_OF))
    o = f.overview
    # the 60 s up to 09:30: v4's page view at 09:29:30 (people only)
    assert o["events_per_minute"] == 1 and o["visitors_per_minute"] == 1
    # the hour (08:30, 09:30]: v1 4, v2 2, v4 1 (its 09:45 event is after the clock)
    assert o["events_last_hour"] == 7 and o["visitors_last_hour"] == 3
    assert o["page_views_last_hour"] == 6 and o["searches_last_hour"] == 1
    pm = f.per_minute
    assert pm.height == 60 and pm.get_column("events").sum() == 7
    assert pm.row(-1, named=True)["minute"] == AS_OF  # the current minute, last
    assert pm.filter(pl.col("minute") == at(26)).row(0, named=True)["events"] == 1
    pages = f.tables["top_pages"]
    assert pages.row(0, named=True) == {
        "page": "https://shop.example/a",
        "title": "T/a",
        "page_views": 2,
        "visitors": 1,
    }
    assert f.tables["top_searches"].to_dicts() == [
        {"search": "tents", "searches": 1, "visitors": 1}
    ]
    sources = {(r["source"], r["medium"]): r["sessions"] for r in f.tables["sources"].to_dicts()}
    assert sources == {("www.google.com", "search"): 1, ("newsletter", "email"): 1, (None, None): 1}


def test_the_hour_sources_label_as_the_report_does(tmp_path: Path) -> None:
    """A host in two cases was two sources, and a blank campaign source hid the referrer
    (a blank is a missing value, as in `jtrack report`)."""
    blank = {"mktCampaign": {"source": " ", "medium": ""}}
    lines = [
        page("e01", "v1", 0, "/a", referrer={"hostname": "www.google.com", "medium": "search"}),
        page("e02", "v2", 1, "/a", referrer={"hostname": "WWW.Google.COM", "medium": "search"}),
        page(
            "e03", "v3", 2, "/a", referrer={"hostname": "www.bing.com", "medium": "search"}, **blank
        ),
    ]
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(lines) + "\n")
    st = Store(tmp_path / "store")
    try:
        run_sessionize([str(src)], st)
        f = live_frame(st, LiveOptions(as_of=at(10)))
    finally:
        st.close()
    sources = {(r["source"], r["medium"]): r["sessions"] for r in f.tables["sources"].to_dicts()}
    assert sources == {("www.google.com", "search"): 2, ("www.bing.com", "search"): 1}


def test_the_hour_sources_count_web_sessions_only(tmp_path: Path) -> None:
    """An order system's delivery session active in the hour was a direct visit among the
    sources (as it was in `jtrack report`'s Referrers)."""
    dispatched = json.loads(page("d01", "v2", 3, "/"))
    dispatched["session"] = {"id": "order-1", "type": "delivery"}
    dispatched["webEvent"] = {"eventName": "order_dispatched", "userAgentString": CHROME}
    # (an app session a campaign brought is one of the sources, as in the report's Campaigns)
    pushed = flat_event(
        "a01",
        "v3",
        at(4),
        event_type="AppEvent",
        kind="app",
        event_name="app_opened",
        source_session_type="app",
        page_url=None,
        mkt_campaign_source="push",
        mkt_campaign_medium="app",
        user_agent_string=CHROME,
    )
    lines = [
        page("e01", "v1", 0, "/a", referrer={"hostname": "www.google.com", "medium": "search"}),
        json.dumps(dispatched),
    ]
    src, app = tmp_path / "events.jsonl", tmp_path / "app.parquet"
    src.write_text("\n".join(lines) + "\n")
    flat_frame([pushed]).write_parquet(app)
    st = Store(tmp_path / "store")
    try:
        run_sessionize([str(src), str(app)], st)
        f = live_frame(st, LiveOptions(as_of=at(10), traffic=("human", "suspect")))
    finally:
        st.close()
    assert sorted(f.active.get_column("type").to_list()) == ["app", "delivery", "web"]
    sources = {(r["source"], r["medium"]): r["sessions"] for r in f.tables["sources"].to_dicts()}
    assert sources == {("www.google.com", "search"): 1, ("push", "app"): 1}


def test_the_automated_share_counts_all_traffic_of_the_hour(store: Store) -> None:
    f = live_frame(store, LiveOptions(as_of=AS_OF))
    o = f.overview
    # sessions of the hour: v1, v2, v4 and the bot: one automated in four
    assert o["automated_sessions_last_hour"] == 1 and o["automated_share"] == 0.25
    # events of the hour: 7 people's, 10 the bot's
    assert o["automated_event_share"] == round(10 / 17, 4)
    traffic = {
        r["traffic_class"]: (r["sessions"], r["events"]) for r in f.tables["traffic"].to_dicts()
    }
    assert traffic == {"human": (3, 7), "ai_agent": (1, 10)}
    assert f.scope.left_out == {"ai_agent": 1}
    everyone = live_frame(store, LiveOptions(as_of=AS_OF, traffic=("all",)))
    assert sorted(everyone.active.get_column("customer_id").to_list()) == ["bot", "v1", "v4"]
    bot = everyone.active.filter(pl.col("customer_id") == "bot").row(0, named=True)
    assert bot["traffic_class"] == "ai_agent" and bot["traffic_agent"] == "GPTBot"
    assert everyone.overview["events_last_hour"] == 17


def test_nothing_is_active_before_the_first_event_or_long_after(store: Store) -> None:
    assert live_frame(store, LiveOptions(as_of=at(-200))).active.height == 0
    late = live_frame(store, LiveOptions(as_of=at(24 * 60)))
    assert late.active.height == 0 and late.overview["events_last_hour"] == 0
    assert late.overview["automated_share"] is None


def test_the_view_sorts_and_filters_the_active_sessions(store: Store) -> None:
    active = live_frame(store, LiveOptions(as_of=AS_OF, traffic=("all",))).active
    assert view_sessions(active).get_column("customer_id").to_list() == ["v4", "bot", "v1"]
    by_events = view_sessions(active, "event_count")
    assert by_events.get_column("customer_id").to_list() == ["bot", "v1", "v4"]
    assert view_sessions(active, "event_count", descending=False).get_column(
        "customer_id"
    ).to_list() == ["v4", "v1", "bot"]
    assert view_sessions(active, text="SALE").get_column("customer_id").to_list() == ["v4"]
    assert view_sessions(active, text="gptbot").get_column("customer_id").to_list() == ["bot"]


def test_hour_tables_are_reused_only_while_young(store: Store) -> None:
    opts = LiveOptions(as_of=AS_OF, hour_every=5)
    first = live_frame(store, opts)
    again = live_frame(store, LiveOptions(as_of=AS_OF + timedelta(seconds=3), hour_every=5), first)
    assert again.tables is first.tables and again.hour_as_of == AS_OF
    fresh = live_frame(store, LiveOptions(as_of=AS_OF + timedelta(seconds=6), hour_every=5), first)
    assert fresh.tables is not first.tables and fresh.hour_as_of == fresh.as_of


def test_a_slow_hour_is_worked_out_less_often(store_dir: Path) -> None:
    """The hour's tables are kept HOUR_EVERY seconds, or HOUR_SHARE times what they took:
    a busy hour's tables must not hold up the runs that show new events."""
    cfg = LoopConfig(
        sources=[str(store_dir / "events.jsonl")], targets=[(str(store_dir), False)], as_of=AS_OF
    )
    loop = WatchLoop(cfg, Store(store_dir / "store"), Store(store_dir / "store"))
    assert loop.hour_every() == HOUR_EVERY
    loop.run(force=True)
    first = loop.compute(fresh=True)
    took = loop.hour_cost
    assert took > 0
    loop.hour_cost = 0.7
    assert loop.hour_every() == pytest.approx(0.7 * HOUR_SHARE)
    again = loop.compute()  # the same clock: the tables are kept, and so is their cost
    assert again.tables is first.tables and loop.hour_cost == 0.7


def test_newer_hour_tables_are_worked_out_in_the_background(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a frame's hour tables are old, the next frames keep them while newer ones are
    worked out in a thread (on a version of its own); the frame after that has them. The
    loop never waits for them."""
    import jtrack.commands.watch as watch

    monkeypatch.setattr(watch, "HOUR_EVERY", 0.0)
    cfg = LoopConfig(
        sources=[str(store_dir / "events.jsonl")], targets=[(str(store_dir), False)], interval=0
    )
    store = Store(store_dir / "store")
    loop = WatchLoop(cfg, store, store)
    try:
        loop.run(force=True)
        first = loop.compute(fresh=True)
        loop.hour_cost = 0.0
        release = threading.Event()
        real = watch._hour_frame

        def held(view: Any, opts: Any) -> tuple[Any, float]:
            release.wait(30)
            return real(view, opts)

        monkeypatch.setattr(watch, "_hour_frame", held)
        second = loop.compute()  # the tables are old: newer ones started, these kept
        assert second.tables is first.tables and second.hour_as_of == first.hour_as_of
        assert loop._hour_job is not None
        third = loop.compute()  # still being worked out: not waited for
        assert third.tables is first.tables and loop._hour_job is not None
        release.set()
        loop._hour_job[0].result(timeout=30)
        fourth = loop.compute()
        assert fourth.hour_as_of > first.hour_as_of and fourth.tables is not first.tables
        assert fourth.overview["events_last_hour"] == first.overview["events_last_hour"]
    finally:
        release.set()
        loop.close()
    # the background's lease is given back: nothing keeps old versions from going
    assert not [p for p in (store_dir / "store" / ".readers").iterdir() if p.is_file()]


# ---------------------------------------------------------------------------- --once


@pytest.mark.parametrize("width", [80, 140])
def test_once_table_matches_its_golden_file(
    store_dir: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JTRACK_WIDTH", str(width))
    monkeypatch.chdir(store_dir)  # paths as a user types them: the golden has no temp path
    res = runner.invoke(
        app,
        [
            "watch",
            "events.jsonl",
            "--store",
            "store",
            "--as-of",
            AS_OF_TEXT,
            "--traffic",
            "all",
            "--once",
        ],
    )
    assert res.exit_code == 0, res.stderr
    assert all(len(line) <= width for line in res.stdout.splitlines())
    text = res.stdout
    assert "(--as-of: a replay)" in text and "3 active sessions" in text
    assert_golden(f"watch_once_{width}.txt", text)


def test_a_short_id_is_unique_in_the_store_and_the_note_names_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The active sessions' ids were cut to 8 characters whatever the store held (events
    e74416 and e120718 of v1 start sessions whose ids share `4e966511`: `jtrack card`
    refused the id shown), and a column left out at 60 columns was said to be shown by
    `-f csv`, which watch refuses (it writes JSON)."""
    src = tmp_path / "events.jsonl"
    src.write_text(page("e74416", "v1", 0, "/a") + "\n" + page("e120718", "v1", 120, "/b") + "\n")
    st = str(tmp_path / "s")
    monkeypatch.setenv("JTRACK_WIDTH", "60")
    res = runner.invoke(
        app, ["watch", str(src), "--store", st, "--as-of", at(121).isoformat(), "--once"]
    )
    assert res.exit_code == 0, res.stderr
    ids = Store.open(st).scan_sessions().select("id").collect()["id"].sort().to_list()
    assert ids[0][:8] == ids[1][:8] == "4e966511"
    active = next(i for i in ids if i.startswith("4e966511-81"))
    rows = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("4e96")]
    assert rows == [active[:11]], res.stdout
    card = runner.invoke(app, ["card", rows[0], "--store", st, "-q"])
    assert card.exit_code == 0, card.stderr
    assert "not shown at 60 columns" in res.stdout and "-f csv" not in res.stdout
    assert "or -f json, shows" in " ".join(res.stdout.split())


def test_once_json_is_the_library_frame(store_dir: Path, store: Store) -> None:
    res = runner.invoke(
        app,
        [
            "watch",
            str(store_dir / "events.jsonl"),
            "--store",
            str(store_dir / "store"),
            "--as-of",
            AS_OF_TEXT,
            "--once",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    want = live_frame(store, LiveOptions(as_of=AS_OF)).to_dict()
    assert data == json.loads(json.dumps(want))
    assert (
        data["live"]["clock"] == "--as-of" and data["live"]["as_of"] == "2026-10-03T09:30:00.000Z"
    )
    assert data["traffic"]["classes"] == ["human"]
    row = data["active_sessions"][0]
    for field in (
        "id",
        "customer_id",
        "contact_name",
        "last_page_title",
        "duration_in_seconds",
        "event_count",
        "traffic_class",
        "ended_date",
    ):
        assert field in row
    assert set(data["tables"]) == {"top_pages", "top_searches", "sources", "traffic"}


def test_once_writes_a_self_contained_html_page(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "live.html"
    res = runner.invoke(
        app,
        [
            "watch",
            str(store_dir / "events.jsonl"),
            "--store",
            str(store_dir / "store"),
            "--as-of",
            AS_OF_TEXT,
            "--once",
            "-f",
            "json",
            "--html",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.stderr
    html = out.read_text()
    assert '<h1>Live now <span class="asof">2026-10-03 09:30:00 UTC</span></h1>' in html
    assert "<script" not in html
    assert 'http-equiv="refresh"' not in html  # (one frame: nothing to reload)
    assert "T/sale" in html and "newsletter" in html


def test_once_quiet_with_html_writes_the_page_and_prints_nothing(
    store_dir: Path, tmp_path: Path
) -> None:
    """A cron job keeping a status page up to date: `--once --html PAGE -q` printed the
    whole text frame into every cron mail."""
    out = tmp_path / "live.html"
    args = ["watch", str(store_dir / "events.jsonl"), "--store", str(store_dir / "store")]
    args += ["--as-of", AS_OF_TEXT, "--once", "--html", str(out), "-q"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""
    assert "<h1>Live now " in out.read_text()


def test_a_format_is_one_frame_and_stdin_is_refused(store_dir: Path, tmp_path: Path) -> None:
    args = [str(store_dir / "events.jsonl"), "--store", str(store_dir / "store")]
    res = runner.invoke(app, ["watch", *args, "--as-of", AS_OF_TEXT, "-f", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["overview"]["active_sessions"] == 2
    res = runner.invoke(app, ["watch", *args, "-f", "json", "--duration", "3"])
    assert res.exit_code == 2 and "--duration" in res.stderr
    res = runner.invoke(app, ["watch", "-"])
    assert res.exit_code == 2 and "stdin" in res.stderr
    res = runner.invoke(app, ["watch", str(tmp_path / "nowhere" / "x.jsonl")])
    assert res.exit_code == 1 and "no folder" in res.stderr  # (a path, as for sessionize)
    # a store inside the folder watched would be read as exports
    res = runner.invoke(app, ["watch", str(tmp_path), "--store", str(tmp_path / ".jtrack")])
    assert res.exit_code == 2 and "outside" in res.stderr


# ---------------------------------------------------------------------------- renderings


def test_the_line_log_says_time_events_added_active_and_rate(store: Store) -> None:
    f = live_frame(store, LiveOptions(as_of=AS_OF))
    line = log_line(f, 12)
    assert line.startswith("2026-10-03T09:30:00Z  +12 events  2 active  1 events/min")
    assert "newest 2026-10-03T09:45:00.000Z" in line
    from dataclasses import replace

    finer = replace(f, last_event=f.last_event + timedelta(microseconds=456))
    assert "newest 2026-10-03T09:45:00.000456Z" in log_line(finer, 0)  # (as -f json says)


def test_sparkline_scales_to_the_peak() -> None:
    assert sparkline([0, 1, 2, 4]) == " ▂▄█"
    assert sparkline([0, 0]) == "  " and sparkline([]) == ""  # (no events: no bars)


def test_an_hour_without_events_draws_no_bars_and_the_scale_is_said(store: Store) -> None:
    """An hour with no events drew every minute as `▁` (`.` with --ascii), the mark of
    "some events", though a minute without events is blank otherwise; and nothing said
    what the tallest bar stands for. The top of the scale is said (`max 3/min`, on the
    line where it fits, else under the bars' start)."""
    from jtrack.render.live import per_minute_line

    quiet = live_frame(store, LiveOptions(as_of=AS_OF + timedelta(days=3)))
    for ascii in (False, True):
        text = per_minute_line(quiet, 80, ascii).plain
        assert set(text.split("\n")[0].removeprefix("events/min, 60 min ")) <= {" "}, text
        assert "no events" in text
    frame = live_frame(store, LiveOptions(as_of=AS_OF))
    top = max(frame.per_minute.get_column("events").to_list())
    assert top > 0
    wide = per_minute_line(frame, 200).plain
    assert "\n" not in wide and wide.endswith(f"  max {top:,}/min")
    lines = per_minute_line(frame, 80).plain.split("\n")
    assert lines[1] == " " * len("events/min, 60 min ") + f"max {top:,}/min"


@pytest.mark.parametrize("width", [20, 24, 30, 34, 35, 40, 60])
def test_the_per_minute_line_fits_and_never_breaks_its_scale(store: Store, width: int) -> None:
    """At 30 columns `watch --once` printed `max` under the bars and `1/min` at column 0 (the
    label and its 10 bars were wider than the line, and the scale under them too); at 20
    a blank line came before it. Every line fits: where not even 10 bars fit beside the
    label they go under it, at 2, and the scale `max N/min` stays whole, under the bars'
    start."""
    from jtrack.render.live import per_minute_line

    frame = live_frame(store, LiveOptions(as_of=AS_OF))
    top = max(frame.per_minute.get_column("events").to_list())
    lines = per_minute_line(frame, width).plain.split("\n")
    assert all(len(line) <= width - 1 for line in lines), lines
    assert all(line.strip() for line in lines), lines  # (no blank line)
    scale = f"max {top:,}/min"
    assert lines[-1].endswith(scale) and "".join(lines).count("max") == 1, lines
    assert re.match(r"events/min, (last )?\d+ min", lines[0]), lines
    if lines[-1].strip() == scale:  # (under the bars' start, beside the label or at 2)
        bars = lines[-2]
        start = bars.index(" min ") + 5 if bars.startswith("events/min") else 2
        assert lines[-1] == " " * start + scale, lines


def test_render_fits_80_columns_with_hostile_text(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    line = json.loads(page("x1", "v\x1b[31m", 29, "/x"))
    line["webEvent"]["page"]["title"] = "\x1b]0;pwned\x07" + "W" * 200
    src.write_text(json.dumps(line) + "\n")
    st = Store(tmp_path / "s")
    run_sessionize([str(src)], st)
    text = render_frame_text(live_frame(st, LiveOptions(as_of=AS_OF)), 80)
    assert "\x1b" not in text and "\x07" not in text
    assert all(len(x) <= 80 for x in text.splitlines())
    st.close()


# ---------------------------------------------------------------------------- keys


def test_keys_from_a_terminal_are_parsed() -> None:
    assert parse_keys("s/ab\x7f\r\x1b[A\x1b[B\x1b\x1b[6~q") == [
        "s",
        "/",
        "a",
        "b",
        "backspace",
        "enter",
        "up",
        "down",
        "esc",
        "pgdn",
        "q",
    ]


def test_keys_sort_filter_toggle_select_open_and_quit() -> None:
    st = ViewState(listed=["a", "b", "c"])
    assert handle_key(st, "s") == "render" and st.sort_key == ("duration_in_seconds", True)
    handle_key(st, "/")
    for k in "sale":
        handle_key(st, k)
    handle_key(st, "backspace")
    assert st.typing and st.text == "sal"
    handle_key(st, "q")  # typed into the filter, not quit
    assert st.text == "salq" and not st.quit
    handle_key(st, "enter")
    assert not st.typing
    handle_key(st, "esc")
    assert st.text == ""
    assert handle_key(st, "h") == "traffic" and not st.people_only
    handle_key(st, "down")
    handle_key(st, "down")
    assert handle_key(st, "enter") == "card" and st.card_request == "c"
    st.card = {"session": {"id": "c"}}
    handle_key(st, "down")
    assert st.scroll == 1
    handle_key(st, "esc")
    assert st.card is None
    handle_key(st, "q")
    assert st.quit
    assert "↑↓ select" in keys_line(ViewState()).plain
    assert "up/down select" in keys_line(ViewState(ascii=True)).plain


def test_the_loop_takes_keys_opens_a_card_and_quits(store_dir: Path) -> None:
    """The watch loop fed keys (no terminal): sort, select, Enter shows the card as
    `jtrack card` renders it, Esc back, q quits."""
    from rich.console import Console

    cfg = LoopConfig(
        sources=[str(store_dir / "events.jsonl")],
        targets=[(str(store_dir), False)],
        interval=0.05,
        as_of=AS_OF,
        traffic=("human", "ai_agent"),
    )
    loop = WatchLoop(cfg, Store(store_dir / "store"), Store(store_dir / "store"))
    script = [["s", "s"], ["down"], ["enter"], [], ["esc"], ["q"]]
    seen: list[Any] = []

    def keys(timeout: float, wake: int | None) -> list[str]:
        seen.append((loop.state.card is not None, list(loop.state.listed)))
        return script.pop(0) if script else ["q"]

    buf = io.StringIO()
    console = Console(file=buf, width=80, height=40, force_terminal=True, color_system=None)
    loop.run_forever(read_keys=keys, screen=True, console=console)
    assert loop.state.quit
    # sorted by events: the bot (10) first, then v1 (4), v4 (1); down selects v1
    listed = seen[2][1]
    assert len(listed) == 3
    opened = [s for s in seen if s[0]]
    assert opened, "Enter opened no card"
    text = buf.getvalue()
    assert "Current page" in text  # the card, as `jtrack card` renders it
    assert "Active now: 3 sessions" in text


# ---------------------------------------------------------------------------- sources


def test_rotated_copies_beside_a_file_and_in_a_folder_are_followed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("app.jsonl", "app.jsonl.1", "app.jsonl.2.gz", "sub/x.ndjson.3", "notes.txt.1"):
        (tmp_path / name).write_text("")
    assert rotated_copies([str(tmp_path / "app.jsonl")]) == [
        str(tmp_path / "app.jsonl.1"),
        str(tmp_path / "app.jsonl.2.gz"),
    ]
    assert [Path(p).name for p in rotated_copies([str(tmp_path)])] == [
        "app.jsonl.1",
        "app.jsonl.2.gz",
        "x.ndjson.3",
    ]


def test_rotation_by_date_and_rotated_copies_beside_a_glob_lose_nothing(tmp_path: Path) -> None:
    """logrotate's dateext (`app.jsonl-20261205`) and a glob as the source: the lines written
    just before the rename were lost (15 of 20 events, exit 0, nothing said)."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    lines = [page(f"e{i}", f"v{i % 4}", i, f"/p{i}") + "\n" for i in range(20)]
    app_log = ex / "app.jsonl"
    for source, rotated in ((str(ex / "*.jsonl"), "app.jsonl.1"), (str(ex), "app.jsonl-20261205")):
        for f in ex.iterdir():
            f.unlink()
        shutil.rmtree(st, ignore_errors=True)
        app_log.write_text("".join(lines[:10]))
        assert (
            runner.invoke(app, ["watch", source, "--store", str(st), "--once", "-q"]).exit_code == 0
        )
        with app_log.open("a") as fh:
            fh.write("".join(lines[10:15]))
        app_log.rename(ex / rotated)
        app_log.write_text("".join(lines[15:]))
        res = runner.invoke(app, ["watch", source, "--store", str(st), "--once", "-q"])
        assert res.exit_code == 0, res.stderr
        assert Store(st).read_manifest().counts["events_kept"] == 20, (source, rotated)
    assert [Path(p).name for p in rotated_copies([str(ex / "*.jsonl")])] == ["app.jsonl-20261205"]


def test_sources_without_a_file_yet_are_waited_for(tmp_path: Path) -> None:
    empty = tmp_path / "exports"
    empty.mkdir()
    assert run_sources([str(empty), str(tmp_path / "later.jsonl")]) == ([], ())
    (empty / "a.jsonl").write_text("{}\n")
    srcs, sig = run_sources([str(empty)])
    assert srcs == [str(empty)] and sig[0][0] == str(empty / "a.jsonl")


@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "poll"])
def test_the_file_watcher_wakes_on_data_files_only(tmp_path: Path, poll: bool) -> None:
    store = tmp_path / "store"
    store.mkdir()
    watcher = FileWatcher([(str(tmp_path), True)], poll, [store], 0.1)
    watcher.start()
    try:

        def woken(within: float) -> bool:
            end = time.monotonic() + within
            while time.monotonic() < end:
                if watcher.pending_for(time.monotonic()) is not None:
                    return True
                time.sleep(0.02)
            return False

        (store / "x.parquet").write_text("")  # the store's own files
        (tmp_path / "live.html").write_text("")  # a status page beside the exports
        assert not woken(0.6)
        (tmp_path / "app.jsonl").write_text("{}\n")
        assert woken(3.0)
        time.sleep(0.6)
        assert watcher.due(time.monotonic())
        watcher.take()
        assert watcher.pending_for(time.monotonic()) is None
        os.rename(tmp_path / "app.jsonl", tmp_path / "app.jsonl.1")  # a rotation
        assert woken(3.0)
    finally:
        watcher.stop()


# ---------------------------------------------------------------------------- end to end

#: A writer process: a new file, a file that grows (flushed line by line), a partial last
#: line completed later, a rotation (rename and a new file), then another new file.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import datetime, timedelta, timezone
    d = sys.argv[1]
    pause = float(sys.argv[2])
    t0 = datetime(2026, 10, 3, 9, 0, tzinfo=timezone.utc)
    n = [0]
    def line(visitor):
        n[0] += 1
        at = t0 + timedelta(minutes=3 * n[0])
        return json.dumps({"id": "w%05d" % n[0], "customerId": visitor,
            "customerIdType": "cookie", "eventType": "com.genesys.journey.WebEvent",
            "createdDate": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "webEvent": {"eventName": "page_viewed",
                         "page": {"url": "https://shop.example/%d" % n[0], "title": "P"}}})
    def write(path, text):
        with open(path, "a") as fh:
            fh.write(text)
            fh.flush()
    app = os.path.join(d, "app.jsonl")
    for i in range(5):
        write(app, line("v%d" % (i % 3)) + "\\n")
    time.sleep(pause)
    for i in range(5):
        write(app, line("v%d" % (i % 3)) + "\\n")
        time.sleep(pause / 5)
    half = line("v9")
    write(app, half[:20])
    time.sleep(pause)
    write(app, half[20:] + "\\n")
    time.sleep(pause)
    write(app, line("v1") + "\\n")
    os.rename(app, app + ".1")
    write(app, line("v2") + "\\n" + line("v3") + "\\n")
    time.sleep(pause)
    write(os.path.join(d, "other.jsonl"), line("v4") + "\\n" + line("v0") + "\\n")
    time.sleep(pause)
    print(n[0])
    """
)


def _jtrack(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "TZ": "UTC", "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "jtrack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def _writer(folder: Path, pause: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(pause)], stdout=subprocess.PIPE, text=True
    )


def _sessions(path: Path) -> pl.DataFrame:
    s = Store(path)
    try:
        return s.scan_sessions().collect().sort("id")
    finally:
        s.close()


def _rebuilt(folder: Path, tmp: Path) -> pl.DataFrame:
    """The store `jtrack sessionize` builds over the same files (the folder and the rotated
    copy it lists out)."""
    ref = tmp / "ref"
    run_sessionize([str(folder), *rotated_copies([str(folder)])], Store(ref))
    return _sessions(ref)


def test_watch_follows_a_writer_and_leaves_the_store_sessionize_builds(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    watch = _jtrack(
        "watch",
        str(exports),
        "--store",
        str(tmp_path / "store"),
        "--interval",
        "0.2",
        "--duration",
        "9",
    )
    # started and waiting for a file (a fixed sleep lost the race on a busy machine, where
    # the writer's first file was there before the watch looked)
    assert watch.stderr is not None
    note = watch.stderr.readline()
    assert note.startswith("note: waiting for a file in "), note
    writer = _writer(exports, 0.8)
    written = int(writer.communicate(timeout=60)[0])
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, note + err
    assert err == ""  # the note is said once, on stderr
    assert written == 16
    lines = out.splitlines()
    assert lines and all(" events/min " in x for x in lines)
    watched = _sessions(tmp_path / "store")
    assert int(watched.get_column("event_count").sum()) == written
    # the line caught half-written was left for a later run, never rejected
    assert Store(tmp_path / "store").read_manifest().counts.get("rejected") == 0
    assert_frame_equal(watched, _rebuilt(exports, tmp_path), check_exact=True)


def test_killed_mid_way_a_restart_carries_on_and_ctrl_c_exits_130(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    store = str(tmp_path / "store")
    writer = _writer(exports, 0.6)
    first = _jtrack("watch", str(exports), "--store", store, "--interval", "0.1", "-q")
    time.sleep(3.0)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    written = int(writer.communicate(timeout=60)[0])
    second = _jtrack("watch", str(exports), "--store", store, "--interval", "0.1", "-q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if int(_sessions(Path(store)).get_column("event_count").sum()) == written:
                break
        except Exception:
            continue
    second.send_signal(signal.SIGINT)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 130
    assert out == "" and err == ""  # -q, and Ctrl-C is quiet
    assert_frame_equal(_sessions(Path(store)), _rebuilt(exports, tmp_path), check_exact=True)


def test_watchdogs_own_log_lines_stay_off_stderr(tmp_path: Path) -> None:
    """watchdog logs a harmless shutdown race as an error; stderr is jtrack's diagnostics.
    (In a child process: pytest's own log handlers would hide Python's last-resort one.)"""
    code = textwrap.dedent(
        f"""
        import logging
        from jtrack.commands.watch import FileWatcher
        watcher = FileWatcher([({str(tmp_path)!r}, False)], False, [], 1.0)
        watcher.start()
        watcher.stop()
        logging.getLogger("watchdog.observers.inotify").error(
            "InotifyEmitter.queue_events() called when the thread is inactive"
        )
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr


# ---------------------------------------------------------------------------- bad input


def _once(folder: Path | str, store: Path, *extra: str) -> Any:
    return runner.invoke(app, ["watch", str(folder), "--store", str(store), "--once", "-q", *extra])


def test_a_file_of_bad_rows_is_kept_as_rejects_and_said_and_the_watch_goes_on(
    tmp_path: Path,
) -> None:
    """A new file whose every row is rejected stopped watch (exit 1, the all-rejected guard
    of sessionize), at every start for as long as the file was there; rejected rows were
    never mentioned."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "good.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once(ex, st).exit_code == 0
    (ex / "bad.jsonl").write_text('{"id": "q1", "customerId": "c"}\n')
    (ex / "good.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    res = _once(ex, st)
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith("warning: 1 row of this run was rejected and left out (see ")
    assert Store(st).read_manifest().counts["rejected"] == 1
    again = _once(ex, st)  # nothing new: nothing said
    assert again.exit_code == 0 and again.stderr == ""


def test_a_missing_folder_is_refused_even_written_with_a_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack watch exports/` with no such folder (a typo) was taken for a file `exports`
    still to come: exit 0 and an empty view forever; a glob in it likewise. A path that is
    not there is exit 1, as for `jtrack sessionize` (not 2, an invocation's)."""
    monkeypatch.chdir(tmp_path)
    for source in ("nosuchdir/", "nosuchdir/*.jsonl", "nosuchdir/app.jsonl"):
        res = _once(source, tmp_path / "st")
        assert res.exit_code == 1, (source, res.stderr)
        assert "no folder nosuchdir" in res.stderr
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once("exports/", tmp_path / "st").exit_code == 0
    # a file not written yet, in a folder that is there, is waited for, said (-q too: a
    # typo must not look like a quiet day); a file named with a slash is read, as
    # sessionize reads it
    res = _once("app.jsonl", tmp_path / "st")
    assert res.exit_code == 0 and res.stderr == (
        "warning: app.jsonl: no such file yet; watch reads it once it appears (check the name)\n"
    )
    (tmp_path / "file.jsonl").write_text(page("e2", "v2", 1, "/") + "\n")
    assert _once("file.jsonl/", tmp_path / "st2").exit_code == 0


def test_watch_keeps_the_versions_it_is_told_to(tmp_path: Path) -> None:
    """watch writes a version each time something arrives; a tool reading a version's
    folder for longer than two arrivals lost it (no --keep, as sessionize has)."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    for keep, want in (("2", 3), ("4", 5)):
        shutil.rmtree(st, ignore_errors=True)
        feed = ex / "app.jsonl"
        feed.write_text("")
        for i in range(7):
            with feed.open("a") as f:
                f.write(page(f"e{i}", "v1", i, "/") + "\n")
            assert _once(ex, st, "--keep", keep).exit_code == 0
        assert len(list((st / "versions").iterdir())) == want, keep


def test_watch_says_the_warnings_sessionize_says(tmp_path: Path) -> None:
    """watch said rejected rows only: an event redelivered with other contents (the earliest
    kept) passed without a word, where sessionize warns. (An empty file is not warned of:
    in a followed folder it is a file not written yet.)"""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once(ex, st).exit_code == 0
    (ex / "b.jsonl").write_text(page("e1", "v1", 0, "/other") + "\n")
    (ex / "c.jsonl").write_text("")
    res = _once(ex, st)
    assert res.exit_code == 0, res.stderr
    lines = res.stderr.splitlines()
    assert any(
        "1 event id(s) came more than once with different contents" in x and "e1" in x
        for x in lines
    ), res.stderr
    assert all(x.startswith("warning: ") for x in lines), res.stderr
    # the same warnings as sessionize over the same files
    st2 = tmp_path / "st2"
    runner.invoke(app, ["sessionize", str(ex / "a.jsonl"), "--store", str(st2), "-q"])
    ses = runner.invoke(app, ["sessionize", str(ex / "b.jsonl"), "--store", str(st2), "-q"])
    assert sorted(ses.stderr.splitlines()) == sorted(lines)
    assert _once(ex, st).stderr == ""  # said once


def test_a_compressed_file_or_document_being_written_waits_for_its_end(tmp_path: Path) -> None:
    """logrotate's `compress` writes app.jsonl.2.gz in place, and a REST page saved as it is
    written ends with `}` after each entity: watch stopped on them (exit 1), and took in
    none of the other files' new lines."""
    import gzip
    import zlib

    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    lines = [page(f"g{i}", "v2", i, "/g") for i in range(3)]
    z = zlib.compressobj(6, 8, 31)
    body = "\n".join(lines).encode() + b"\n"
    (ex / "b.jsonl.2.gz").write_bytes(z.compress(body) + z.flush(zlib.Z_SYNC_FLUSH))
    entities = [json.loads(page(f"d{i}", "v3", i, "/d")) for i in range(2)]
    whole = json.dumps({"entities": entities}, indent=1)
    (ex / "page.json").write_text(whole[: whole.rindex("}", 0, len(whole) - 10) + 1])
    with (ex / "a.jsonl").open("a") as fh:
        fh.write(page("e2", "v1", 1, "/x") + "\n")
    res = _once(ex, st)
    assert res.exit_code == 0, res.stderr
    assert Store(st).read_manifest().counts["events_kept"] == 2  # a.jsonl's
    (ex / "b.jsonl.2.gz").write_bytes(gzip.compress(body))
    (ex / "page.json").write_text(whole)
    assert _once(ex, st).exit_code == 0
    assert Store(st).read_manifest().counts["events_kept"] == 7


def test_a_file_whose_first_line_is_bad_is_followed_as_json_lines(tmp_path: Path) -> None:
    """It was taken for a JSON document: read whole at each growth (its rejects counted
    again), and its new events held back while its last line was bad."""
    ex, st, fresh = tmp_path / "ex", tmp_path / "st", tmp_path / "fresh"
    ex.mkdir()
    f = ex / "a.jsonl"
    f.write_text("oops\n" + "".join(page(f"e{i}", "v", i, "/") + "\n" for i in range(3)))
    assert _once(ex, st).exit_code == 0
    with f.open("a") as fh:
        fh.write(page("e3", "v", 3, "/") + "\noops2\n" + page("e4", "v", 4, "/") + "\noops3\n")
    assert _once(ex, st).exit_code == 0
    run_sessionize([ex], Store.open(fresh), on_error="skip")
    counts = Store(st).read_manifest().counts
    assert counts == Store(fresh).read_manifest().counts
    assert (counts["events_kept"], counts["rejected"], counts["rows_read"]) == (5, 3, 8)


def test_once_on_a_store_another_run_holds_is_an_error(tmp_path: Path) -> None:
    """It exited 0 with the frame (and the --html page) of before, saying nothing."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once(ex, st).exit_code == 0
    with (ex / "a.jsonl").open("a") as fh:
        fh.write(page("e2", "v1", 1, "/x") + "\n")
    with Store(st).lock():
        res = _once(ex, st, "--wait", "0")
    assert res.exit_code == 1 and "another jtrack run is writing this store" in res.stderr


def test_utf16_lines_are_read_and_a_settled_broken_file_is_its_error(tmp_path: Path) -> None:
    """Telling an unfinished document by parsing it held back, for ever and silently, a
    UTF-16 JSON lines file (no document, it never parses whole) and a truncated .gz; a file
    left alone SETTLE_SECONDS is read as it is, a corrupt one the error it is."""
    import gzip

    from jtrack.engine.inputs import SETTLE_SECONDS

    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    text = "".join(page(f"u{i}", "v1", i, "/u") + "\n" for i in range(3))
    (ex / "utf16.jsonl").write_bytes(text.encode("utf-16"))
    res = _once(ex, st)
    assert res.exit_code == 0, res.stderr
    assert Store(st).read_manifest().counts["events_kept"] == 3
    broken = ex / "old.jsonl.gz"
    broken.write_bytes(gzip.compress(text.replace("u", "w").encode())[:-12])
    res = _once(ex, st)  # just written: it may still grow
    assert res.exit_code == 0 and Store(st).read_manifest().counts["events_kept"] == 3
    past = time.time() - SETTLE_SECONDS - 5
    os.utime(broken, (past, past))
    res = _once(ex, st)
    assert res.exit_code == 1 and "old.jsonl.gz: the gzip stream is truncated" in res.stderr


def test_watch_says_when_its_run_rebuilt_every_session(tmp_path: Path) -> None:
    """A store numbered by the earlier visit rule is rebuilt once by its next run, which
    `sessionize` says; `jtrack watch` rebuilt it without a word."""
    import json as _json

    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once(ex, st).exit_code == 0
    store = Store(st)
    version = st / "versions" / str(store.current_name())
    manifest = _json.loads((version / "manifest.json").read_text())
    del manifest["options"]["visit_rule"]  # (as an earlier jtrack wrote it)
    (version / "manifest.json").write_text(_json.dumps(manifest))
    (ex / "b.jsonl").write_text(page("e2", "v2", 5, "/") + "\n")
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert res.exit_code == 0, res.stderr
    assert "note: " in res.stderr and "web sessions only" in res.stderr
    again = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert again.exit_code == 0 and "rebuilt" not in again.stderr


def test_watch_says_which_files_have_times_without_a_zone(tmp_path: Path) -> None:
    """`sessionize` warns of a file whose times have no zone (read as UTC: a local-time
    export would be hours off); `jtrack watch` said nothing of it. Even with -q."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    lines = [json.loads(page(f"e{i}", "v1", i, "/")) for i in range(3)]
    lines[1]["createdDate"] = lines[1]["createdDate"].removesuffix("Z")
    (ex / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert res.exit_code == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if "no time zone" in line]
    assert len(notes) == 1 and notes[0].startswith("warning: ") and "a.jsonl: 1 event" in notes[0]
    (ex / "b.jsonl").write_text(json.dumps(lines[1] | {"id": "e9"}) + "\n")
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once", "-q"])
    assert res.exit_code == 0  # (a warning: said with -q too, once, of the new file)
    said = [line for line in res.stderr.splitlines() if "no time zone" in line]
    assert len(said) == 1 and said[0].startswith("warning: ") and "b.jsonl: 1 event" in said[0]
    assert Store(st).read_manifest().counts["events_kept"] == 4


def test_watch_names_a_file_whose_every_event_was_taken_in_already(tmp_path: Path) -> None:
    """`sessionize` notes an export given twice (under another name) or a file edited in
    place; `jtrack watch` took such a file in without a word (only a count of duplicates
    in the store)."""
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    text = "".join(page(f"e{i}", "v1", i, "/") + "\n" for i in range(3))
    (ex / "a.jsonl").write_text(text)
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert res.exit_code == 0 and "taken in already" not in res.stderr, res.stderr
    (ex / "a-again.jsonl").write_text(text + "\n")  # (not the same bytes: read)
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert res.exit_code == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if "taken in already" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and "a-again.jsonl: all 3" in notes[0]
    res = runner.invoke(app, ["watch", str(ex), "--store", str(st), "--once"])
    assert res.exit_code == 0 and "taken in already" not in res.stderr  # (said once)


def test_a_watch_says_what_it_leaves_out_once(tmp_path: Path) -> None:
    """A workbook saved as export.json beside a growing export: the warning came at every
    run of the watch; a source folder holding only such files (or that cannot be read) was
    left out without a word, where sessionize refuses it."""
    import zipfile

    ex, wb = tmp_path / "ex", tmp_path / "wb"
    ex.mkdir()
    wb.mkdir()
    for folder in (ex, wb):
        with zipfile.ZipFile(folder / "export.json", "w") as z:
            z.writestr("xl/workbook.xml", "<w/>")
    live = ex / "live.jsonl"
    cfg = LoopConfig(sources=[str(ex), str(wb)], targets=[(str(ex), True)], interval=0)
    store = Store(tmp_path / "store")
    loop = WatchLoop(cfg, store, store)
    said: list[str] = []
    try:
        for i in range(3):
            with open(live, "a") as fh:
                fh.write(genesys_line(f"e{i}", "c1", f"2026-10-01T10:0{i}:00.000Z") + "\n")
            assert loop.run() == 1
            said += loop.run_warnings
            loop.run_warnings = []
    finally:
        loop.close()
    assert said == [
        f"{wb}: the directory holds no events: export.json is a zip file by its content "
        "(hint: an Excel workbook is a zip file too: save the events as JSON lines or Parquet)",
        "1 file named like exports whose content is no events is not read (export.json: a "
        "zip file); an Excel workbook is a zip file too: save the events as JSON lines or "
        "Parquet",
    ]


def test_a_watcher_that_failed_to_start_stops_cleanly(tmp_path: Path) -> None:
    """A folder the observer may not watch: starting failed, and stopping it then raised
    "cannot join thread before it is started" (an internal error hid the real one)."""
    watcher = FileWatcher([(str(tmp_path), False)], True, [], 0.1)
    watcher.stop()  # (never started: nothing to join)


def test_a_watch_says_a_contacts_file_cut_short_again_after_it_was_whole(
    tmp_path: Path,
) -> None:
    """The loop kept every warning it had said for the whole process: a contacts file cut
    short, restored, then cut short again was said only the first time."""
    from jtrack.options import RunOptions

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    book = tmp_path / "contacts.csv"
    book.write_text("".join(lines))
    ex = tmp_path / "ex"
    ex.mkdir()
    live = ex / "live.jsonl"
    live.write_text(genesys_line("e0", "c1", "2026-10-01T10:00:00.000Z") + "\n")
    store = Store(tmp_path / "store")
    run_sessionize([str(ex)], store, options=RunOptions(contacts=str(book)))
    loop = WatchLoop(LoopConfig(sources=[str(ex)], targets=[(str(ex), True)]), store, store)
    said = []
    try:
        for i, text in enumerate((lines[0], "".join(lines), lines[0]), start=1):
            book.write_text(text)
            with open(live, "a") as fh:
                fh.write(genesys_line(f"e{i}", "c1", f"2026-10-01T10:0{i}:00.000Z") + "\n")
            assert loop.run() == 1
            said.append([w for w in loop.run_warnings if "contacts" in w])
            loop.run_warnings = []
    finally:
        loop.close()
    assert [len(w) for w in said] == [1, 0, 1], said


def test_the_live_view_needs_a_terminal_rich_draws_on_and_keys_to_read() -> None:
    """On a TERM=dumb terminal the live view drew nothing (exit 0, the run's events
    unseen); with stdin closed on a terminal it was an internal error (`NoneType` has no
    `isatty`). Both get the line log."""
    from rich.console import Console

    from jtrack.commands.watch import live_screen

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def console(term: str) -> Console:
        return Console(file=Tty(), force_terminal=True, _environ={"TERM": term})

    assert live_screen(console("xterm-256color"), Tty())
    assert not live_screen(console("dumb"), Tty())
    assert not live_screen(console("xterm-256color"), None)
    assert not live_screen(console("xterm-256color"), io.StringIO())  # (keys from a pipe)
    assert not live_screen(Console(file=io.StringIO()), Tty())  # (output to a pipe)


def test_the_live_view_is_ascii_with_ascii_or_where_stdout_is_not_utf8(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live screen drew `??` for its arrows where the terminal is not UTF-8 (its boxes
    were ASCII, its own marks not), and `--ascii` on a UTF-8 terminal still drew `─` and
    `…`."""
    from jtrack.commands._common import stdout_console

    def loop_of(ascii: bool) -> WatchLoop:
        cfg = LoopConfig(
            sources=[str(store_dir / "events.jsonl")],
            targets=[(str(store_dir), False)],
            as_of=AS_OF,
            ascii=ascii,
        )
        return WatchLoop(cfg, Store(store_dir / "store"), Store(store_dir / "store"))

    assert not loop_of(False).state.ascii  # (stdout here is UTF-8)
    assert loop_of(True).state.ascii
    latin = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    monkeypatch.setattr(sys, "stdout", latin)
    assert loop_of(False).state.ascii  # (its arrows as `up/down`, its mark as `>`)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    console = stdout_console(width=40, ascii=True)
    from rich.table import Table

    table = Table("a somewhat long header", "b")
    table.add_row("x" * 60, "y")
    console.print(table)
    sys.stdout.flush()
    out = sys.stdout.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    assert out and out.isascii(), out


def test_a_pattern_that_matches_nothing_yet_is_said_like_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack watch 'exports/*.jsnl'` (a typo in the pattern) was as silent as a quiet day,
    where a missing file named is warned about: the pattern is said too (-q as well), and
    one that matches only files watch never reads."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\n")
    assert _once("exports/", tmp_path / "st").exit_code == 0
    res = _once("exports/*.jsnl", tmp_path / "st")
    assert res.exit_code == 0 and res.stderr == (
        "warning: exports/*.jsnl: the pattern matches no file yet; watch reads the files it "
        "matches once they appear (check the pattern)\n"
    )
    (tmp_path / "exports" / "b.csv").write_text("a,b\n")
    res = _once("exports/*.csv", tmp_path / "st")
    assert res.exit_code == 0 and res.stderr.startswith(
        "warning: exports/*.csv: the pattern matches only CSV files, which are not read; "
    ), res.stderr
    assert _once("exports/*.jsonl", tmp_path / "st").stderr == ""


def test_the_hours_page_views_count_searches_sent_as_page_views_as_sessions_do(
    tmp_path: Path,
) -> None:
    """A search Genesys sends as `page_viewed` (with a query) is a page view in the session
    table and the report; the live view left it out of the hour's page views and top pages
    (the search page, most viewed, was missing), and kept a query holding a line break."""

    def viewed_search(eid: str, minute: float, query: str) -> str:
        line = json.loads(page(eid, "v1", minute, "/search", searchQuery=query))
        line["webEvent"]["page"]["url"] = f"https://shop.example/search?q={query}\nx"
        return json.dumps(line)

    src = tmp_path / "events.jsonl"
    lines = [
        page("e1", "v1", 1, "/a"),
        viewed_search("e2", 2, "tents"),
        viewed_search("e3", 3, "pegs"),
    ]
    src.write_text("\n".join(lines) + "\n")
    st = Store(tmp_path / "store")
    run_sessionize([str(src)], st)
    stored = st.scan_sessions().collect().row(0, named=True)
    f = live_frame(st, LiveOptions(as_of=at(4)))
    assert f.overview["page_views_last_hour"] == stored["pageview_count"] == 3
    assert f.overview["searches_last_hour"] == 2
    top = f.tables["top_pages"].row(0, named=True)
    assert (top["page"], top["page_views"]) == ("https://shop.example/search", 2)
    assert f.tables["top_pages"].height == 2
    cut = live_frame(st, LiveOptions(as_of=at(2.5))).active.row(0, named=True)
    assert cut["last_page_title"] == "T/search"  # (the session as it stood: its last page)
    st.close()


def test_a_running_watch_takes_in_a_held_event_once_the_clock_passes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running `jtrack watch` never re-ran while its files were unchanged, so an event
    held aside as far-future stayed out of the store (and the bill) after the clock passed
    it, where `watch --once` or `sessionize` took it in."""
    from datetime import timedelta

    from tests.helpers import T0, flat_event, flat_frame

    rows = [flat_event(f"a{i}", "v1", T0 + timedelta(minutes=i)) for i in range(20)]
    rows.append(flat_event("later", "v2", T0 + timedelta(days=400)))
    src = tmp_path / "e.jsonl"
    src.write_text(flat_frame(rows).write_ndjson())
    monkeypatch.setenv("JTRACK_NOW", (T0 + timedelta(days=399)).isoformat())
    cfg = LoopConfig(sources=[str(src)], targets=[(str(src), False)], interval=0)
    store = Store(tmp_path / "store")
    loop = WatchLoop(cfg, store, store)
    assert loop.run() == 20
    assert loop.run() == 0  # (nothing new, nothing due)
    monkeypatch.setenv("JTRACK_NOW", (T0 + timedelta(days=401)).isoformat())
    assert loop.run() == 1  # (the clock passed the held event: taken in)
    assert loop.run() == 0


def test_the_hours_sessions_are_those_with_an_event_in_it(tmp_path: Path) -> None:
    """An order's delivery session that spans the hour without an event in it was counted
    among the hour's sessions, beside 0 events and 0 visitors ("last hour: 0 events, 1
    sessions, 0 visitors"): the hour's sessions are those with an event in the hour."""
    placed = json.loads(page("d01", "v1", -90, "/"))
    placed["session"] = {"id": "order-1", "type": "delivery"}
    placed["webEvent"] = {"eventName": "product_purchased", "userAgentString": CHROME}
    dispatched = json.loads(json.dumps(placed))
    dispatched["id"] = "d02"
    dispatched["createdDate"] = at(150).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    dispatched["webEvent"]["eventName"] = "order_dispatched"
    src = tmp_path / "events.jsonl"
    src.write_text(json.dumps(placed) + "\n" + json.dumps(dispatched) + "\n")
    st = Store(tmp_path / "store")
    try:
        run_sessionize([str(src)], st)
        f = live_frame(st, LiveOptions(as_of=at(30), traffic=("all",)))
    finally:
        st.close()
    o = f.overview
    assert (o["events_last_hour"], o["sessions_last_hour"], o["visitors_last_hour"]) == (0, 0, 0)
    res = runner.invoke(
        app,
        ["watch", str(src), "--store", str(tmp_path / "store"), "--once", "--as-of",
         at(30).isoformat(), "--traffic", "all"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "last hour: 0 events, 0 sessions, 0 visitors" in res.stdout


def test_one_active_session_is_said_in_the_singular(tmp_path: Path) -> None:
    """ "1 active sessions (1 visitors)" and "1 sessions": counts of one are singular."""
    src = tmp_path / "events.jsonl"
    src.write_text(page("e01", "v1", 0, "/a") + "\n")
    res = runner.invoke(
        app,
        ["watch", str(src), "--store", str(tmp_path / "store"), "--once", "--as-of",
         at(1).isoformat(), "--traffic", "all"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "1 active session (1 visitor)" in res.stdout
    assert "last hour: 1 event, 1 session, 1 visitor" in res.stdout


# ---------------------------------------------------------------------------- a sign-in

SIGN_IN = [
    {"id": "b1", "customerId": "cookie-pat", "eventType": "WebEvent",
     "createdDate": "2026-10-11T07:00:00Z",
     "webEvent": {"eventName": "page_viewed",
                  "page": {"url": "https://shop.example/a", "title": "/a"}}},
    {"id": "b2", "customerId": "cookie-pat", "eventType": "SegmentAssignmentEvent",
     "createdDate": "2026-10-11T07:01:00Z",
     "segmentAssignmentEvent": {"segment": {"id": "seg-x"}}},
    {"id": "b3", "customerId": "cookie-pat", "eventType": "WebEvent",
     "createdDate": "2026-10-11T07:05:00Z",
     "webEvent": {"eventName": "page_viewed",
                  "page": {"url": "https://shop.example/b", "title": "/b"}}},
    {"id": "b4", "customerId": "cookie-pat", "eventType": "WebEvent",
     "createdDate": "2026-10-11T07:15:00Z",
     "webEvent": {"eventName": "page_viewed",
                  "page": {"url": "https://shop.example/login", "title": "/login"},
                  "traits": {"email": {"dataType": "string", "value": "alice@example.com"}}}},
]  # fmt: skip
SIGNED_IN = datetime(2026, 10, 11, 7, 15, tzinfo=UTC)


@pytest.fixture
def sign_in(tmp_path: Path) -> Path:
    """One visitor who signs in at 07:15 (a segment assigned at 07:01), a contacts file that
    knows her email, a store that followed it."""
    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / "b.jsonl").write_text("".join(json.dumps(e) + "\n" for e in SIGN_IN))
    book = tmp_path / "contacts.csv"
    book.write_text("contact_id,first_name,last_name,emails\nC1,Alice,Known,alice@example.com\n")
    res = runner.invoke(
        app,
        ["sessionize", str(ex), "--contacts", str(book), "--store", str(tmp_path / "st"), "-q"],
    )
    assert res.exit_code == 0, res.stderr
    return tmp_path


def test_a_replay_names_a_visitor_only_once_they_identified_themselves(sign_in: Path) -> None:
    """`watch --as-of 07:10` showed `Alice Known` for a visitor whose email came at 07:15,
    where `jtrack card --as-of 07:10` says Unknown: a session is shown as it stood then."""
    st = Store(sign_in / "st")
    try:
        before = live_frame(st, LiveOptions(as_of=SIGNED_IN - timedelta(minutes=5))).active
        after = live_frame(st, LiveOptions(as_of=SIGNED_IN + timedelta(minutes=5))).active
    finally:
        st.close()
    assert before.get_column("contact_name").to_list() == ["Unknown"]
    assert after.get_column("contact_name").to_list() == ["Alice Known"]
    sid = before.get_column("id")[0]
    card = runner.invoke(
        app,
        ["card", sid, "--store", str(sign_in / "st"), "--as-of", "2026-10-11T07:10Z",
         "-f", "json"],
    )  # fmt: skip
    assert card.exit_code == 0, card.stderr
    assert json.loads(card.stdout)["contact"]["known"] is False


def test_a_replays_refresh_keeps_the_contacts_it_resolved(
    sign_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each refresh of a replay resolved its visitors' contacts again (their identity events
    and the contacts book read anew: 3x a frame's time on 1M events), though the version, the
    clock and the sessions were the last refresh's."""
    from jtrack.usecases import live as live_module

    st = Store(sign_in / "st")
    try:
        opts = LiveOptions(as_of=SIGNED_IN - timedelta(minutes=5))
        first = live_frame(st, opts)
        with monkeypatch.context() as m:
            m.setattr(live_module, "_contacts_as_of", None)  # (not called again)
            again = live_frame(st, opts, previous=first)
        later = live_frame(st, LiveOptions(as_of=SIGNED_IN + timedelta(minutes=5)), first)
    finally:
        st.close()
    assert_frame_equal(again.active, first.active)
    assert later.active.get_column("contact_name").to_list() == ["Alice Known"]


def test_a_cut_session_counts_events_as_the_stored_event_count(sign_in: Path) -> None:
    """A session cut at --as-of counted its segment event in `events` (3 at 07:10, where the
    card says 2): the stored event_count counts activity only."""
    st = Store(sign_in / "st")
    try:
        cut = live_frame(st, LiveOptions(as_of=SIGNED_IN - timedelta(minutes=5)))
        whole = live_frame(st, LiveOptions(as_of=SIGNED_IN + timedelta(minutes=5)))
        stored = st.scan_sessions().collect().get_column("event_count").to_list()
    finally:
        st.close()
    assert cut.active.get_column("event_count").to_list() == [2]  # b1, b3; not the segment
    assert stored == [3]
    assert whole.active.get_column("event_count").to_list() == stored


def test_the_hours_figures_count_events_as_the_sessions_event_count(sign_in: Path) -> None:
    """The hour's figures (last hour, per minute, the traffic table) counted segment, outcome
    and web-action events that the sessions' event_count and the report leave out."""
    st = Store(sign_in / "st")
    try:
        frames = [
            (live_frame(st, LiveOptions(as_of=SIGNED_IN + timedelta(minutes=m))), n)
            for m, n in ((-5, 2), (5, 3))
        ]
    finally:
        st.close()
    for f, n in frames:
        assert f.overview["events_last_hour"] == n
        assert int(f.per_minute.get_column("events").sum()) == n
        assert f.tables["traffic"].get_column("events").to_list() == [n]


def test_a_running_watch_takes_in_a_change_to_the_contacts_file_the_store_follows(
    sign_in: Path,
) -> None:
    """A run happened only when an export changed: a contact renamed in the followed
    contacts file showed only after the next export (where --once and sessionize took it
    in at once)."""
    ex, st = sign_in / "ex", Store(sign_in / "st")
    loop = WatchLoop(LoopConfig(sources=[str(ex)], targets=[(str(ex), True)]), st, st)
    after = LiveOptions(as_of=SIGNED_IN + timedelta(minutes=5))
    try:
        loop.run(force=True)
        loop.run()
        assert live_frame(st, after).active.get_column("contact_name").to_list() == ["Alice Known"]
        book = sign_in / "contacts.csv"
        book.write_text(book.read_text().replace("Known", "Renamed"))
        stamp = book.stat().st_mtime + 2
        os.utime(book, (stamp, stamp))
        loop.run()  # (no export changed)
        names = live_frame(st, after).active.get_column("contact_name").to_list()
    finally:
        loop.close()
        st.close()
    assert names == ["Alice Renamed"]


@pytest.mark.parametrize("quiet", [False, True])
def test_the_line_log_warns_when_the_folder_goes_or_the_store_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    """Not on a terminal, a watched folder removed and a store another run holds were
    silent (exit 0, empty stderr) where the live screen says so: one warning line when such
    a state begins, again when it ends and comes back; the folder gone with -q too."""
    import jtrack.commands.watch as watch_mod

    monkeypatch.setattr(watch_mod, "SAFETY_POLL", 0.0)  # (a run every turn)
    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e0", "v1", 0, "/") + "\n")
    cfg = LoopConfig(
        sources=[str(ex)], targets=[(str(ex), True)], interval=0.02, wait=0, quiet=quiet
    )
    loop = WatchLoop(cfg, Store(st), Store(st))
    held: list[Any] = []

    def lock() -> None:
        held.append(Store(st).lock())
        held[-1].__enter__()
        with (ex / "a.jsonl").open("a") as fh:  # (something new: a run is tried)
            fh.write(page(f"l{len(held)}", "v1", len(held), "/") + "\n")

    def back() -> None:
        ex.mkdir()
        (ex / "a.jsonl").write_text(page("e0", "v1", 0, "/") + "\n")

    script = {
        2: lambda: shutil.rmtree(ex),
        5: back,
        8: lambda: shutil.rmtree(ex),
        11: back,
        14: lock,
        18: lambda: held[-1].__exit__(None, None, None),
        21: lock,
        25: lambda: held[-1].__exit__(None, None, None),
    }
    turns = [0]

    def keys(timeout: float, wake: int | None) -> list[str]:
        turns[0] += 1
        if turns[0] in script:
            script[turns[0]]()
        time.sleep(min(max(timeout, 0.0), 0.05))
        return ["q"] if turns[0] >= 28 else []

    loop.run_forever(read_keys=keys, screen=False)
    err = capsys.readouterr().err.splitlines()
    gone = [x for x in err if "not there any more" in x]
    locked = [x for x in err if "another jtrack run holds the store" in x]
    assert len(gone) == 2 and all(x.startswith("warning: ") for x in gone), err
    assert len(locked) == (0 if quiet else 2), err
    assert all(x.startswith("warning: ") for x in locked), err


def test_a_truncated_last_line_left_alone_is_read_as_it_is_and_rejected(tmp_path: Path) -> None:
    """A writer that died mid-line: its half line waited for ever (`--duration` then
    `--once`: 1 row read, 0 rejected, no warning, where sessionize says malformed_json).
    Left alone SETTLE_SECONDS, as a gzip stream or a JSON document, it is read as it is:
    rejected, counted and warned of; a --once while it is fresh still waits for it."""
    from jtrack.engine.inputs import SETTLE_SECONDS

    ex, st = tmp_path / "ex", tmp_path / "st"
    ex.mkdir()
    feed = ex / "app.jsonl"
    half = page("e2", "v1", 1, "/x")
    feed.write_text(page("e1", "v1", 0, "/") + "\n" + half[: len(half) // 2])
    res = _once(ex, st)  # (just written: the line may still be being written)
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    assert Store(st).read_manifest().counts.get("rejected", 0) == 0
    loop = WatchLoop(LoopConfig(sources=[str(ex)], targets=[(str(ex), True)]), Store(st), Store(st))
    try:
        loop.run(force=True)
        assert loop.run() == 0 and loop.run_warnings == []
        old = time.time() - SETTLE_SECONDS - 1
        os.utime(feed, (old, old))  # (left alone: nothing else changed)
        loop.run()
        said = list(loop.run_warnings)
    finally:
        loop.close()
    counts = Store(st).read_manifest().counts
    assert (counts["events_kept"], counts["rejected"]) == (1, 1)
    assert any("1 row of this run was rejected" in w for w in said), said
    assert _once(ex, st).stderr == ""  # (said once)
    # the file grows on: the line was a line after all, read whole
    with feed.open("a") as fh:
        fh.write(half[len(half) // 2 :] + "\n")
    assert _once(ex, st).exit_code == 0
    assert Store(st).read_manifest().counts["events_kept"] == 2


def test_the_live_screen_keeps_its_keys_and_message_line_at_80x24(store: Store) -> None:
    """At 80x24 the message line (rows rejected, the store locked, waiting for a file) and
    the keys were cut off the screen: the layout guessed 6 header lines where the traffic
    line wraps, and kept 3 session rows whatever the height. Laid out from what the parts
    take, the keys and the message always show; smaller heights lose table rows first."""
    from jtrack.render.live import screen
    from jtrack.render.table import render_to_text

    frame = live_frame(store, LiveOptions(as_of=AS_OF))
    message = "1 row of this run was rejected and left out (see st/current/rejects.jsonl)"
    for height in (24, 20, 16, 12):
        state = ViewState(message=message)
        text = render_to_text(screen(frame, state, 80, height, message), width=80)
        lines = text.splitlines()
        assert len(lines) <= height, (height, text)
        tail = " ".join(lines[-3:])
        assert "q quit" in tail and "st/current/rejects.jsonl)" in tail, (height, text)
        if height >= 24:
            assert "Active now: 2 sessions" in text, text
            assert text.count("Unknown") == 2, text  # (both sessions listed)


def test_a_session_row_gives_way_before_the_hours_tables_lose_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sessions' column heads were measured on a table of one row; with more rows (a
    crawler's class, a longer title) they wrapped to two lines, the screen came out a line
    taller than planned, and the cut took the hour's tables' rows: "Top searches" stood
    with its heads and no row, though the hour had searches."""
    from jtrack.render.live import screen
    from jtrack.render.table import render_to_text

    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    crawl = tmp_path / "bot.jsonl"
    crawl.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"b{i}",
                    "customerId": "bot-1",
                    "eventType": "WebEvent",
                    "createdDate": f"2026-10-03T10:0{i}:00.000Z",
                    "webEvent": {
                        "eventName": "page_viewed",
                        "page": {"url": f"https://www.example-shop.com/p{i}"},
                        "userAgentString": bot,
                    },
                }
            )
            + "\n"
            for i in range(5)
        )
    )
    monkeypatch.chdir(tmp_path)  # (the store's name, in the header, one line long)
    store = Store.open("s")
    run_sessionize([ROOT / "sample_data" / "events.jsonl", crawl], store)
    frame = live_frame(store, LiveOptions(as_of="2026-10-03T10:07:00Z", traffic=("all",)))
    for height in (24, 23, 22):
        text = render_to_text(screen(frame, ViewState(), 80, height), width=80)
        lines = text.splitlines()
        assert len(lines) <= height and "q quit" in lines[-1], text
        heads = [i for i, line in enumerate(lines) if line.startswith("search ")]
        assert heads or height < 24, text  # (the tables go whole, at 22, not their rows)
        for i in heads:
            assert "gift card" in lines[i + 2], text  # (a row under the heads)


def test_the_live_screen_at_40_columns_gives_columns_up_as_once_does(store: Store) -> None:
    """At 40 columns the live screen dropped contact_name and kept traffic (the selection
    mark's column tipped the fitting), against the README's order, where --once kept
    contact_name; and its note on the columns left out was cut off."""
    from jtrack.render.live import screen
    from jtrack.render.table import render_to_text

    frame = live_frame(store, LiveOptions(as_of=AS_OF))
    once = " ".join(render_frame_text(frame, width=40).split())
    live = render_to_text(screen(frame, ViewState(), 40, 60), width=40)
    left_out = "not shown at 40 columns: idle_seconds, traffic_class, last_page_title"
    assert left_out + " (a wider terminal" in once, once
    assert left_out in " ".join(live.split()), live  # (whole, on lines of its own)
    assert all(len(line) <= 40 for line in live.splitlines())
    row = next(line for line in live.splitlines() if line.startswith("›"))
    assert "Unknown" in row and "human" not in row, live


def test_the_html_page_has_what_the_terminal_has_and_says_when_the_watch_stopped(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The --html page lacked the idle column, the visitors of the hour, the run's warnings
    and the automated sessions left out; and once the watch stopped it went on reloading
    the last frame with nothing saying it was stale."""
    from jtrack.render.live import live_html

    st = Store(store_dir / "store")
    try:
        frame = live_frame(st, LiveOptions(as_of=AS_OF))
    finally:
        st.close()
    shown = live_html(frame, 5.0, ["another jtrack run holds the store; trying again"])
    assert '<th scope="col" class="">idle</th>' in shown  # (v1)
    assert 'data-label="idle">0:04:00<' in shown
    assert 'data-kpi="visitors, last hour"' in shown
    assert "1 automated session (ai_agent 1; 10 events) left out" in shown
    assert "warning: another jtrack run holds the store" in shown
    assert 'http-equiv="refresh"' in shown and "stopped at" not in shown
    # a watch that stops writes the page once more: no reload, when it stopped
    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / "a.jsonl").write_text(page("e1", "v1", 0, "/") + "\nnot json\n")
    html = tmp_path / "live.html"
    cfg = LoopConfig(sources=[str(ex)], targets=[(str(ex), True)], interval=0.02, html=html)
    loop = WatchLoop(cfg, Store(tmp_path / "st"), Store(tmp_path / "st"))
    turns = [0]

    def keys(timeout: float, wake: int | None) -> list[str]:
        turns[0] += 1
        time.sleep(min(max(timeout, 0.0), 0.05))
        return ["q"] if turns[0] >= 3 else []

    loop.run_forever(read_keys=keys, screen=False)
    capsys.readouterr()
    stopped = html.read_text()
    assert "jtrack watch stopped at " in stopped
    assert 'http-equiv="refresh"' not in stopped
    assert "warning: 1 row of this run was rejected and left out" in stopped


def test_the_sparkline_shows_the_whole_hour_at_80_columns_or_says_how_much(store: Store) -> None:
    """At 80 columns the "events/min, last hour" sparkline showed 56 minutes."""
    from jtrack.render.live import per_minute_line

    frame = live_frame(store, LiveOptions(as_of=AS_OF))
    for width, label, minutes in (
        (200, "events/min, last hour ", 60),
        (80, "events/min, 60 min ", 60),
        (40, "events/min, last 15 min ", 15),
    ):
        line = per_minute_line(frame, width).plain.split("\n")[0]
        line = re.sub(r"  max [\d,]+/min$", "", line)  # (the scale, where it fits)
        assert line.startswith(label) and len(line) - len(label) == minutes, (width, line)
        assert len(line) < width


def test_a_role_asked_for_with_an_empty_config_says_the_config_is_empty(tmp_path: Path) -> None:
    """`--role agent --config /dev/null` hinted "add [roles.agent] to /dev/null"."""
    src = tmp_path / "events.jsonl"
    src.write_text(page("e01", "v1", 0, "/a") + "\n")
    args = ["watch", str(src), "--store", str(tmp_path / "st"), "--once", "--role", "agent"]
    res = runner.invoke(app, [*args, "--config", os.devnull])
    assert res.exit_code == 2, res.stderr
    assert "no roles are configured" in res.stderr and f"to {os.devnull}" not in res.stderr
    assert f"the config {os.devnull} is empty: add a [roles.agent] table" in res.stderr
