"""Traffic classes (jtrack.core.traffic): user agents against a labelled list of real ones, the
vendored data, and the behaviour signals on crafted and synthetic sessions."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import polars as pl
import pytest
from helpers import T0, flat_event, flat_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from jtrack.core import traffic
from jtrack.core.sessionize import sessionize
from jtrack.core.traffic import (
    HUMAN,
    MAX_HUMAN_PAGEVIEWS,
    MAX_PAGEVIEWS_PER_MINUTE,
    NO_PAUSE_MAX_GAP,
    NO_PAUSE_MIN_DURATION,
    RATE_MIN_PAGEVIEWS,
    SUSPECT,
    TRAFFIC_CLASSES,
    classify_user_agents,
    session_traffic,
    user_agent_list_checksums,
    user_agent_list_version,
    user_agent_lists,
    user_agent_traffic,
)

LABELLED = Path(__file__).parent / "data" / "user_agents.tsv"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)

#: Per-class floors on the labelled list. Human recall is 1: no person in the list may be
#: called automated, since reports show people only by default.
PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.9
ACCURACY_FLOOR = 0.97


def labelled() -> pl.DataFrame:
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line:
            continue
        cls, _, ua = line.partition("\t")
        rows.append((cls, ua))
    return pl.DataFrame(rows, schema={"truth": pl.String, "user_agent": pl.String}, orient="row")


def scored() -> pl.DataFrame:
    lab = labelled()
    got = classify_user_agents(lab["user_agent"])
    return lab.join(got, on="user_agent", how="left", maintain_order="left")


# ---- the labelled list ----------------------------------------------------------------------
def test_labelled_list_covers_every_class_with_real_user_agents() -> None:
    lab = labelled()
    assert lab.height >= 100
    assert lab["user_agent"].n_unique() == lab.height, "duplicate user agents in the list"
    counts = dict(lab.group_by("truth").len().iter_rows())
    assert set(counts) == set(TRAFFIC_CLASSES)
    assert min(counts.values()) >= 10


@pytest.mark.parametrize("cls", TRAFFIC_CLASSES)
def test_each_class_meets_its_precision_and_recall_floors(cls: str) -> None:
    s = scored()
    tp = s.filter((pl.col("truth") == cls) & (pl.col("traffic_class") == cls)).height
    predicted = s.filter(pl.col("traffic_class") == cls).height
    actual = s.filter(pl.col("truth") == cls).height
    precision, recall = tp / max(predicted, 1), tp / actual
    misses = s.filter((pl.col("truth") == cls) != (pl.col("traffic_class") == cls))
    detail = misses.select("truth", "traffic_class", "traffic_signal", "user_agent").rows()
    assert precision >= PRECISION_FLOOR, detail
    assert recall >= (1.0 if cls == HUMAN else RECALL_FLOOR), detail


def test_overall_accuracy_on_the_labelled_list() -> None:
    s = scored()
    accuracy = s.filter(pl.col("truth") == pl.col("traffic_class")).height / s.height
    assert accuracy >= ACCURACY_FLOOR


@pytest.mark.parametrize(
    ("ua", "cls", "agent", "signal"),
    [
        (GPTBOT, "ai_agent", "GPTBot", "user_agent_list:GPTBot"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "search_crawler",
            "Googlebot",
            "user_agent_list:Googlebot",
        ),
        ("curl/8.5.0", "http_client", "curl", "user_agent_list:curl"),
        ("Java/17.0.10", "http_client", "Java", "jtrack_rules:Java"),
        ("", "suspect", None, "jtrack_rules:empty user agent"),
        ("Mozilla/5.0", "suspect", None, "jtrack_rules:bare Mozilla/5.0"),
        ("MyScript 1.0", "suspect", None, "jtrack_rules:not a browser"),
        (
            "Mozilla/5.0 (compatible; FooFetchBot/0.3; +https://foo.example/bot)",
            "search_crawler",
            "FooFetchBot",
            "jtrack_rules:declares itself a bot",
        ),
        (CHROME, "human", None, None),
    ],
)
def test_a_user_agent_gets_a_class_an_agent_and_the_signal_that_fired(
    ua: str, cls: str, agent: str | None, signal: str | None
) -> None:
    row = classify_user_agents(pl.Series([ua])).row(0, named=True)
    assert (row["traffic_class"], row["traffic_agent"], row["traffic_signal"]) == (
        cls,
        agent,
        signal,
    )
    assert row["traffic_source"] == (signal.split(":")[0] if signal else None)


def test_known_false_matches_of_the_list_are_people() -> None:
    # each of these contains text that a crawler-user-agents entry matches
    people = [
        "Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.142 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 4.4.2; HTC Butterfly s Build/KOT49H) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/44.0.2403.133 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 10; V2027) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/87.0.4280.141 Mobile Safari/537.36 SogouMSE,SogouMobileBrowser/5.30.10",
    ]
    assert classify_user_agents(pl.Series(people))["traffic_class"].to_list() == [HUMAN] * 3
    # while the crawlers those entries are for are still caught
    spider = "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)"
    assert classify_user_agents(pl.Series([spider]))["traffic_class"].item() == "search_crawler"


def test_a_null_user_agent_is_no_evidence() -> None:
    out = classify_user_agents(pl.Series([None, CHROME], dtype=pl.String))
    assert out.row(0) == (None, HUMAN, None, None, None)


def test_one_row_per_distinct_user_agent_sorted_and_independent_of_input_order() -> None:
    uas = labelled()["user_agent"]
    once = classify_user_agents(uas)
    assert once.height == uas.n_unique()
    assert once["user_agent"].is_sorted()
    repeated = pl.concat([uas.shuffle(seed=1), uas, uas.reverse()])
    assert_frame_equal(classify_user_agents(repeated), once)
    assert_frame_equal(classify_user_agents(uas.shuffle(seed=2)), once)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(labelled()["user_agent"].to_list()), st.text(max_size=60)),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=0, max_value=30),
)
def test_a_user_agents_class_does_not_depend_on_the_rest_of_the_batch(
    uas: list[str], cut: int
) -> None:
    # what incremental runs and the Spark engine rely on: any split gives the same answers
    whole = classify_user_agents(pl.Series(uas, dtype=pl.String))
    parts = pl.concat(
        [
            classify_user_agents(pl.Series(uas[:cut], dtype=pl.String)),
            classify_user_agents(pl.Series(uas[cut:], dtype=pl.String)),
        ]
    ).unique("user_agent", keep="first")
    assert_frame_equal(whole, parts.sort("user_agent", nulls_last=False))


def test_user_agent_traffic_keeps_rows_and_their_order() -> None:
    df = pl.DataFrame({"n": [1, 2, 3, 4], "user_agent_string": [GPTBOT, CHROME, None, GPTBOT]})
    out = user_agent_traffic(df)
    assert out["n"].to_list() == [1, 2, 3, 4]
    assert out["traffic_class"].to_list() == ["ai_agent", HUMAN, HUMAN, "ai_agent"]
    assert out.columns == ["n", "user_agent_string", *traffic.TRAFFIC_COLUMNS]


# ---- the vendored data ----------------------------------------------------------------------
def test_vendored_lists_match_their_recorded_checksums() -> None:
    for file, (recorded, actual) in user_agent_list_checksums().items():
        assert recorded == actual, f"{file} changed: update user_agent_lists.toml"


def test_vendored_lists_name_their_version_date_and_licence() -> None:
    lists = {x.package: x for x in user_agent_lists()}
    assert set(lists) == {"crawler-user-agents", "ai-crawler-index"}
    version = user_agent_list_version()
    for x in lists.values():
        assert f"{x.package} {x.version} ({x.date})" in version
    data = files("jtrack.core").joinpath("data")
    assert "MIT License" in data.joinpath("crawler-user-agents.LICENSE").read_text()
    assert "CC0-1.0" in data.joinpath("ai-crawler-index.LICENSE").read_text()
    cua = json.loads(data.joinpath("crawler-user-agents.json").read_text())
    newest = max(e.get("addition_date", "") for e in cua).replace("/", "-")
    assert lists["crawler-user-agents"].date == newest
    aci = json.loads(data.joinpath("ai-crawler-index.json").read_text())
    assert lists["ai-crawler-index"].version == aci["version"]
    assert aci["generated_at"].startswith(lists["ai-crawler-index"].date)


def test_every_example_in_the_list_is_classed_as_automated() -> None:
    # the list's own instances check the compilation (plain text vs regex, unescaping, groups)
    data = files("jtrack.core").joinpath("data")
    cua = json.loads(data.joinpath("crawler-user-agents.json").read_text())
    rules = tomllib.loads(data.joinpath("traffic_rules.toml").read_text())
    ignored = {r["pattern"] for r in rules["ignore"]}
    instances = [i for e in cua if e["pattern"] not in ignored for i in e["instances"]]
    out = classify_user_agents(pl.Series(instances))
    people = out.filter(pl.col("traffic_class") == HUMAN)["user_agent"].to_list()
    assert people == []


def test_every_ai_crawler_index_token_is_an_ai_agent() -> None:
    data = files("jtrack.core").joinpath("data")
    aci = json.loads(data.joinpath("ai-crawler-index.json").read_text())
    tokens = [
        c["ua"]
        for c in aci["crawlers"]
        if c["category"] in traffic.AI_INDEX_CATEGORIES and "control token" not in c["ua"]
    ]
    assert len(tokens) > 50
    out = classify_user_agents(pl.Series([f"Mozilla/5.0 (compatible; {t}/1.0)" for t in tokens]))
    assert set(out["traffic_class"]) == {"ai_agent"}


def test_a_broken_rule_fails_once_naming_it() -> None:
    bad = {"class": "suspect", "pattern": "(unclosed", "label": "x"}
    with pytest.raises(ValueError, match="unclosed"):
        traffic._rule_entry(bad, fallback=False)
    with pytest.raises(ValueError, match="unknown class"):
        traffic._rule_entry({**bad, "pattern": "x", "class": "robot"}, fallback=False)


def test_the_data_is_compiled_once() -> None:
    classify_user_agents(pl.Series([CHROME]))
    before = traffic._matcher.cache_info()
    classify_user_agents(pl.Series([GPTBOT]))
    after = traffic._matcher.cache_info()
    assert after.misses == before.misses and after.currsize == 1


# ---- behaviour ------------------------------------------------------------------------------
def visit(
    customer: str, gaps_s: Sequence[float], ua: str = CHROME, start_s: float = 0.0
) -> list[dict]:
    """Page views of one visitor, `gaps_s` seconds apart."""
    at = T0 + timedelta(seconds=start_s)
    rows = [flat_event(f"{customer}-0", customer, at, user_agent_string=ua)]
    for i, gap in enumerate(gaps_s, start=1):
        at = at + timedelta(seconds=gap)
        rows.append(flat_event(f"{customer}-{i}", customer, at, user_agent_string=ua))
    return rows


def pageview_gap_max_expr(pageview: pl.Expr, time: str = "created_date") -> pl.Expr:
    """The longest gap between two consecutive page views of a group in time order, in
    seconds (ms precision; null under two page views): what the kernel works out its own way."""
    gap = pl.col(time).filter(pageview).diff().max()
    return (gap.dt.total_microseconds() / 1_000_000).round(3).alias("pageview_gap_max_seconds")


def sessions_with_gaps(events: pl.DataFrame) -> pl.DataFrame:
    """The session table, whose pageview_gap_max_seconds is checked against an aggregation
    of each session's events in time order."""
    s = sessionize(events)
    rows = s.events.filter(pl.col("session_id").is_not_null()).sort(
        "session_id", "created_date", "event_id"
    )
    gaps = rows.group_by("session_id", maintain_order=True).agg(
        pageview_gap_max_expr(pl.col("event_name") == "page_viewed").alias("_expected")
    )
    both = s.sessions.join(gaps, left_on="id", right_on="session_id", how="left")
    assert both.get_column("pageview_gap_max_seconds").equals(both.get_column("_expected"))
    return s.sessions


def traffic_of(rows: list[dict]) -> dict:
    sessions = sessions_with_gaps(flat_frame(rows))
    assert sessions.height == 1
    return session_traffic(sessions).row(0, named=True)


def test_a_crawler_hammering_900_pages_is_suspect_by_its_page_rate() -> None:
    got = traffic_of(visit("c", [1.0] * 899))
    assert got == {
        "traffic_class": SUSPECT,
        "traffic_agent": None,
        "traffic_signal": "behaviour:page views per minute 60 > 30",
    }


def test_a_slow_crawler_of_900_pages_is_suspect_by_its_page_count() -> None:
    got = traffic_of(visit("c", [4.0] * 899))  # 15 a minute for an hour
    assert got["traffic_class"] == SUSPECT
    assert got["traffic_signal"] == "behaviour:page views 900 >= 500"


def test_a_monitor_every_minute_for_hours_never_pauses() -> None:
    got = traffic_of(visit("m", [60.0] * 300))  # 5 hours
    assert got["traffic_class"] == SUSPECT
    assert got["traffic_signal"] == "behaviour:no pause over 5h 0m (longest 1m)"


def test_a_person_reading_normally_is_human() -> None:
    # three hours with pauses of up to 15 minutes, 40 pages
    reading = [45, 120, 300, 30, 600, 90, 240, 900, 60, 180] * 4
    assert traffic_of(visit("p", reading[:39]))["traffic_class"] == HUMAN
    # a few pages in quick succession (a redirect, a double load, fast clicks)
    assert traffic_of(visit("q", [0.5, 1, 2, 0.2, 1, 3, 1, 2, 1, 0.1, 1, 2]))["traffic_class"] == (
        HUMAN
    )


def test_the_user_agent_decides_before_behaviour() -> None:
    got = traffic_of(visit("g", [1.0] * 899, ua=GPTBOT))
    assert got == {
        "traffic_class": "ai_agent",
        "traffic_agent": "GPTBot",
        "traffic_signal": "user_agent_list:GPTBot",
    }


def session_row(**kw: object) -> pl.DataFrame:
    row = {
        "type": "web",
        "user_agent_string": CHROME,
        "pageview_count": 1,
        "duration_in_seconds": 0.0,
        "pageview_gap_max_seconds": None,
        **kw,
    }
    schema = {
        "type": pl.String,
        "user_agent_string": pl.String,
        "pageview_count": pl.UInt32,
        "duration_in_seconds": pl.Float64,
        "pageview_gap_max_seconds": pl.Float64,
    }
    return pl.DataFrame([row], schema=schema)


@pytest.mark.parametrize(
    ("kw", "signal"),
    [
        ({"pageview_count": 30, "duration_in_seconds": 60.0}, None),
        ({"pageview_count": 31, "duration_in_seconds": 60.0}, "page views per minute 31 > 30"),
        ({"pageview_count": RATE_MIN_PAGEVIEWS - 1, "duration_in_seconds": 0.0}, None),
        ({"pageview_count": RATE_MIN_PAGEVIEWS, "duration_in_seconds": 0.0}, "per minute 1200"),
        ({"pageview_count": MAX_HUMAN_PAGEVIEWS - 1, "duration_in_seconds": 36000.0}, None),
        ({"pageview_count": MAX_HUMAN_PAGEVIEWS, "duration_in_seconds": 36000.0}, "views 500"),
        (
            {
                "pageview_count": 100,
                "duration_in_seconds": NO_PAUSE_MIN_DURATION.total_seconds() - 1,
                "pageview_gap_max_seconds": 60.0,
            },
            None,
        ),
        (
            {
                "pageview_count": 100,
                "duration_in_seconds": NO_PAUSE_MIN_DURATION.total_seconds(),
                "pageview_gap_max_seconds": NO_PAUSE_MAX_GAP.total_seconds(),
            },
            None,
        ),
        (
            {
                "pageview_count": 100,
                "duration_in_seconds": NO_PAUSE_MIN_DURATION.total_seconds(),
                "pageview_gap_max_seconds": NO_PAUSE_MAX_GAP.total_seconds() - 0.001,
            },
            "no pause over 2h 0m (longest 5m)",
        ),
    ],
)
def test_behaviour_thresholds_at_their_edges(kw: dict, signal: str | None) -> None:
    assert MAX_PAGEVIEWS_PER_MINUTE == 30  # the expected texts above spell it out
    got = session_traffic(session_row(**kw)).row(0, named=True)
    if signal is None:
        assert got["traffic_class"] == HUMAN and got["traffic_signal"] is None
    else:
        assert got["traffic_class"] == SUSPECT
        assert got["traffic_signal"].startswith("behaviour:")
        assert signal in got["traffic_signal"]


@pytest.mark.parametrize("session_type", ["app", "delivery", None])
def test_behaviour_judges_web_sessions_only(session_type: str | None) -> None:
    row = session_row(type=session_type, pageview_count=900, duration_in_seconds=60.0)
    assert session_traffic(row)["traffic_class"].item() == HUMAN
    # without a type column every session counts as web
    assert session_traffic(row.drop("type"))["traffic_class"].item() == SUSPECT


def test_session_traffic_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="pageview_gap_max_seconds"):
        session_traffic(session_row().drop("pageview_gap_max_seconds"))


def test_synthetic_visitors_browsing_normally_are_all_human() -> None:
    from synth import generate_flat

    sessions = sessions_with_gaps(generate_flat(40_000, seed=5))
    out = session_traffic(sessions)
    assert out.height == sessions.height > 1000
    assert out["traffic_signal"].drop_nulls().to_list() == []
    assert set(out["traffic_class"]) == {HUMAN}


def test_session_traffic_is_row_aligned_and_order_free() -> None:
    rows = visit("a", [1.0] * 30) + visit("b", [60.0] * 10) + visit("c", [5.0] * 5, ua=GPTBOT)
    sessions = sessions_with_gaps(flat_frame(rows))
    got = pl.concat([sessions.select("id"), session_traffic(sessions)], how="horizontal")
    shuffled = sessions.sample(fraction=1.0, shuffle=True, seed=3)
    again = pl.concat([shuffled.select("id"), session_traffic(shuffled)], how="horizontal")
    assert_frame_equal(got.sort("id"), again.sort("id"))
    by_visitor = dict(zip(sessions["customer_id"], got["traffic_class"], strict=True))
    assert by_visitor == {"a": SUSPECT, "b": HUMAN, "c": "ai_agent"}


def test_an_empty_session_table_gives_an_empty_result() -> None:
    out = session_traffic(session_row().clear())
    assert out.height == 0 and out.columns == list(traffic.TRAFFIC_COLUMNS)
