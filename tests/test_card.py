"""Session cards and journeys: goldens at 80 and 120 columns, JSON parity, literal data,
colour rules, id prefixes, reading only one visitor's rows.

Golden files (tests/golden/card_*.txt) are regenerated with JTRACK_UPDATE_GOLDEN=1; read the
diff after regenerating.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core.rules import Rules, load_rules
from jtrack.engine import run_sessionize
from jtrack.errors import ConfigError, ExitCode, NotFoundError
from jtrack.render.card import (
    JourneyView,
    card_renderable,
    render_card_text,
    render_journey_text,
)
from jtrack.render.html import card_html
from jtrack.store import Store
from jtrack.usecases.card import (
    DEFAULT_TONE_RULES,
    OUTCOME_FRAME_SCHEMA,
    SEGMENT_FRAME_SCHEMA,
    build_card,
    build_journey,
    hms,
    tone_expr,
    tone_rules_from_config,
)
from jtrack.usecases.rules import evaluate_store
from tests.helpers import T0, as_an_earlier_jtrack_wrote, flat_event, flat_frame, spy_on_evaluate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("JTRACK_UPDATE_GOLDEN") == "1"
AS_OF = "2027-01-01T00:00:00Z"
AS_OF_DT = datetime(2027, 1, 1, tzinfo=UTC)
BOX_DRAWING = {chr(c) for c in range(0x2500, 0x2580)}


def no_fancy_glyphs(text: str) -> bool:
    """No emoji, box drawing or typographic marks (data letters such as é may remain)."""
    return not any(ord(ch) >= 0x2000 or ch in "·•●…" for ch in text)


runner = CliRunner()


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with JTRACK_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The sample export sessionized with its contacts file (built once per test run)."""
    store = Store.open(tmp_path_factory.mktemp("card") / "store")
    run_sessionize(
        [SAMPLE / "events.jsonl"], store, contacts=SAMPLE / "contacts.csv", default_region="GB"
    )
    return store


def _pick(store: Store, cond: pl.Expr) -> str:
    """The first session (by id) matching cond with a readable number of events."""
    found = (
        store.scan_sessions()
        .filter(cond & pl.col("event_count").is_between(3, 14))
        .sort("id")
        .select("id")
        .head(1)
        .collect()
    )
    assert found.height == 1, "the sample data lacks a session of this kind"
    return str(found.item())


@pytest.fixture(scope="session")
def sample_rules() -> Rules:
    rules = load_rules(SAMPLE / "jtrack.toml")
    assert rules is not None
    return rules


@pytest.fixture(scope="session")
def picks(sample_store: Store) -> dict[str, str]:
    web = pl.col("type") == "web"
    known = pl.col("contact_state") == "known"
    return {
        "known": _pick(sample_store, web & known & (pl.col("search_count") > 0)),
        "unknown": _pick(sample_store, web & ~known & (pl.col("search_count") > 0)),
        "custom": _pick(sample_store, pl.col("type") == "delivery"),
        "nosearch": _pick(sample_store, web & (pl.col("search_count") == 0)),
    }


def _tiny_store(tmp_path: Path, rows: list[dict[str, Any]], name: str = "tiny") -> Store:
    src = tmp_path / f"{name}.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / name)
    run_sessionize([src], store)
    return store


HOSTILE_TITLE = "[bold red]x[/] <b>bold</b>"
HOSTILE_QUERY = "\x1b[31mred\x1b[0m <script>window.__pwned=1</script>"
HOSTILE_VALUE = '<script>window.__pwned=1</script>"><img src=x onerror=alert(1)>'


def hostile_rows() -> list[dict[str, Any]]:
    cust = "cust-hostile"
    m = timedelta(minutes=1)
    return [
        flat_event("e1", cust, T0, page_title=HOSTILE_TITLE, page_url="https://shop.example/a"),
        flat_event(
            "e2",
            cust,
            T0 + m,
            kind="search",
            search_query=HOSTILE_QUERY,
            page_title="Search [link=https://evil.example]here[/link]",
            page_url="https://shop.example/search?q=%1b",
        ),
        flat_event(
            "e3",
            cust,
            T0 + 2 * m,
            kind="custom",
            event_name="product_added",
            page_title=HOSTILE_TITLE,
            attributes=[{"name": "note", "data_type": "string", "value": HOSTILE_VALUE}],
        ),
        flat_event(
            "e4", cust, T0 + 3 * m, page_title=HOSTILE_TITLE, page_url="https://shop.example/a"
        ),
        flat_event(
            "e5",
            cust,
            T0 + 4 * m,
            kind="custom",
            event_name="form_abandoned",
            page_title="Form",
            attributes=[],
        ),
        flat_event(
            "e6",
            cust,
            T0 + 4 * m + timedelta(seconds=1),
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            page_url=None,
            page_title=None,
            segment_id="seg-<b>vip</b>",
        ),
    ]


# ---------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("kind", ["known", "unknown", "custom", "nosearch"])
@pytest.mark.parametrize("width", [80, 120])
def test_card_matches_its_golden_file(
    sample_store: Store, picks: dict[str, str], kind: str, width: int
) -> None:
    card = build_card(sample_store, picks[kind], as_of=AS_OF_DT).to_dict()
    text = render_card_text(card, width=width)
    assert_golden(f"card_{kind}_{width}.txt", text)
    assert all(cell_len(line) <= width for line in text.splitlines())


@pytest.mark.parametrize("ascii", [False, True])
def test_a_narrow_card_breaks_its_counts_and_times_between_their_parts(
    sample_store: Store, picks: dict[str, str], ascii: bool
) -> None:
    """At 60 columns the card's second line broke inside "visit 1 of 3", and a start time
    inside its local date."""
    card = build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()
    visit = f"visit {card['visit']['number']} of {card['visit']['of']}"
    for width in (50, 60, 72):
        lines = render_card_text(card, width=width, ascii=ascii).splitlines()
        assert all(cell_len(line) <= width for line in lines)
        assert any(line.strip().endswith(visit) for line in lines[1:4]), lines[:4]
        local = [line for line in lines[:8] if "local " in line]
        assert len(local) == 2 and all(re.search(r"local \S+ \S+ \S+$", x) for x in local)


def test_card_with_details_and_ascii_match_their_golden_files(
    sample_store: Store, picks: dict[str, str]
) -> None:
    card = build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()
    details = render_card_text(card, width=120, details=True)
    assert_golden("card_known_details_120.txt", details)
    plain = render_card_text(card, width=80, ascii=True)
    assert_golden("card_known_ascii_80.txt", plain)
    assert no_fancy_glyphs(plain)
    assert all(cell_len(line) <= 80 for line in plain.splitlines())


def test_card_with_the_sample_rules_matches_its_golden_file(
    sample_store: Store, picks: dict[str, str], sample_rules: Rules
) -> None:
    card = build_card(sample_store, picks["known"], as_of=AS_OF_DT, rules=sample_rules)
    text = render_card_text(card.to_dict(), width=120)
    assert_golden("card_known_rules_120.txt", text)


def test_rules_matches_join_the_card_and_hidden_segments_stay_hidden(
    sample_store: Store, sample_rules: Rules
) -> None:
    hidden = {s.id for s in sample_rules.segments if not s.shown_to_agents}
    assert hidden, "the sample rules hide a segment from agents"
    returning = _pick(sample_store, (pl.col("visit_number") > 1) & (pl.col("type") == "web"))
    card = build_card(sample_store, returning, as_of=AS_OF_DT, rules=sample_rules).to_dict()
    assert {s["source"] for s in card["segments"]} >= {"rules"}
    shown_ids = {s["segment_id"] for s in card["segments"]}
    shown_ids |= {e["segment_id"] for e in card["journey"] if e["segment_id"]}
    assert not shown_ids & hidden
    assert any("shown_to_agents" in n for n in card["notes"])
    res = _run(
        "card",
        returning,
        "--store",
        str(sample_store.root),
        "-f",
        "json",
        "--as-of",
        AS_OF,
        "--rules",
        str(SAMPLE / "jtrack.toml"),
    )
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == card
    res = _run(
        "card",
        returning,
        "--store",
        str(sample_store.root),
        "-f",
        "json",
        "--as-of",
        AS_OF,
        "--rules",
        str(SAMPLE / "jtrack.toml"),
        "--no-rules",
    )
    assert {s["source"] for s in json.loads(res.stdout)["segments"]} <= {"export"}


def test_journey_matches_its_golden_file(sample_store: Store, picks: dict[str, str]) -> None:
    customer = (
        sample_store.scan_sessions().filter(pl.col("id") == picks["known"]).collect()["customer_id"]
    )
    journey = build_journey(sample_store, str(customer[0]), as_of=AS_OF_DT).to_dict()
    for width in (80, 120):
        text = render_journey_text(journey, width=width)
        assert_golden(f"card_journey_{width}.txt", text)
        assert all(cell_len(line) <= width for line in text.splitlines())


# ---------------------------------------------------------------------------- card content


def test_card_of_a_known_contact_names_them_and_unknown_visitors_are_unknown(
    sample_store: Store, picks: dict[str, str]
) -> None:
    known = build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()
    assert known["contact"]["known"] and known["contact"]["name"] != "Unknown"
    assert known["contact"]["match_method"] is not None
    assert known["title"].startswith(known["contact"]["name"] + " · Web session · ended · ")
    unknown = build_card(sample_store, picks["unknown"], as_of=AS_OF_DT).to_dict()
    assert unknown["contact"]["name"] == "Unknown" and not unknown["contact"]["known"]


def test_custom_session_card_shows_its_type_and_source_session(
    sample_store: Store, picks: dict[str, str]
) -> None:
    card = build_card(sample_store, picks["custom"], as_of=AS_OF_DT).to_dict()
    assert card["session"]["custom"] and card["session"]["type"] == "delivery"
    assert card["session"]["type_label"] == "Delivery session"
    assert card["icon"]["name"] == "custom"
    assert card["session"]["source_session_id"]


def test_empty_sections_say_so(sample_store: Store, picks: dict[str, str]) -> None:
    card = build_card(sample_store, picks["nosearch"], as_of=AS_OF_DT).to_dict()
    assert card["searches"] == []
    assert "No searches in this session." in render_card_text(card, width=80)


def test_journey_map_is_in_time_order_with_offsets_from_the_start(
    sample_store: Store, picks: dict[str, str]
) -> None:
    card = build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()
    times = [e["time"] for e in card["journey"]]
    assert times == sorted(times)
    assert card["journey"][0]["offset"] == "0:00:00"
    assert [e["index"] for e in card["journey"]] == list(range(1, len(times) + 1))
    activity = [
        e
        for e in card["journey"]
        if e["kind"] not in ("segment_assigned", "outcome_achieved", "web_action")
    ]
    assert len(activity) == card["counts"]["events"]
    assert card["visit"]["number"] <= card["visit"]["of"]


def test_state_follows_as_of_and_the_gap(tmp_path: Path) -> None:
    store = _tiny_store(
        tmp_path, [flat_event("a", "c1", T0), flat_event("b", "c1", T0 + timedelta(minutes=5))]
    )
    end = T0 + timedelta(minutes=5)
    sid = store.scan_sessions().collect()["id"][0]

    def state(at: datetime) -> str:
        return str(build_card(store, sid, as_of=at).to_dict()["session"]["state"])

    assert state(end + timedelta(minutes=19, seconds=59)) == "active"
    assert state(end + timedelta(minutes=20)) == "ended"
    assert state(T0 - timedelta(seconds=1)) == "not_started"
    card = build_card(store, sid, as_of=end + timedelta(minutes=30), gap=timedelta(hours=1))
    assert card.to_dict()["session"]["state"] == "active"


def test_as_of_a_time_the_card_knows_only_what_had_happened_by_then(tmp_path: Path) -> None:
    """A store resolved against a contacts book: the card as of a time before the visitor
    gave their email shows them Unknown and not authenticated (the store's resolution saw
    the later trait), and "visit N of M" counts the visits begun by then."""
    email = {"name": "email", "data_type": "string", "value": "ada@example.org"}
    no = {"authenticated": False}
    rows = [
        flat_event("a1", "v1", T0, **no),
        flat_event("b1", "v1", T0 + timedelta(hours=2), **no),
        flat_event("b2", "v1", T0 + timedelta(hours=2, minutes=5), authenticated=True),
        flat_event("b3", "v1", T0 + timedelta(hours=2, minutes=6), traits=[email], **no),
        flat_event("c1", "v1", T0 + timedelta(hours=5), **no),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    book = tmp_path / "contacts.csv"
    book.write_text("contact_id,name,emails\nADA,Ada Lovelace,ada@example.org\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store, contacts=book)
    second = (
        store.scan_sessions().filter(pl.col("created_date") == T0 + timedelta(hours=2)).collect()
    )
    sid = str(second["id"][0])

    def card(at: datetime) -> dict[str, Any]:
        return build_card(store, sid, as_of=at).to_dict()

    before = card(T0 + timedelta(hours=2, minutes=1))  # one event, no trait yet
    assert before["contact"]["name"] == "Unknown" and not before["contact"]["known"]
    assert before["authenticated"] is False
    assert before["visit"] == {"number": 2, "of": 2}
    after = card(T0 + timedelta(hours=2, minutes=7))
    assert after["contact"]["name"] == "Ada Lovelace" and after["authenticated"] is True
    assert after["visit"] == {"number": 2, "of": 2}
    assert card(T0 + timedelta(hours=6))["visit"] == {"number": 2, "of": 3}
    not_yet = card(T0 + timedelta(hours=1))  # the session has not begun
    assert not_yet["session"]["state"] == "not_started"
    assert not_yet["visit"] == {"number": 2, "of": 2}
    assert card(T0 - timedelta(hours=1))["visit"] == {"number": 2, "of": 2}
    # the journey as of then: the sessions begun by then, as they stood, the contact as then
    j = build_journey(store, "v1", as_of=T0 + timedelta(hours=2, minutes=1)).to_dict()
    assert [c["visit"] for c in j["sessions"]] == [{"number": 2, "of": 2}, {"number": 1, "of": 2}]
    assert j["totals"]["sessions"] == 2 and j["totals"]["events"] == 2
    assert [c["counts"]["events"] for c in j["sessions"]] == [1, 1]
    # each card of the journey says what it leaves out, as the card itself does
    left = [n for n in before["notes"] if "later event" in n]
    assert left and [n for n in j["sessions"][0]["notes"] if "later event" in n] == left
    assert j["contact"]["name"] == "Unknown"
    later = build_journey(store, "v1", as_of=T0 + timedelta(hours=6)).to_dict()
    assert later["totals"]["events"] == 5 and later["contact"]["name"] == "Ada Lovelace"
    with pytest.raises(NotFoundError, match="had no session by"):
        build_journey(store, "v1", as_of=T0 - timedelta(hours=1))


def test_a_journey_without_as_of_shows_sessions_dated_ahead_of_the_clock(tmp_path: Path) -> None:
    """Only a time asked for leaves out the sessions begun after it: without --as-of, data
    dated ahead of this machine's clock (a skewed export) is still listed."""
    ahead = datetime.now(UTC) + timedelta(days=3)
    store = _tiny_store(tmp_path, [flat_event("f1", "v9", ahead), flat_event("p1", "v9", T0)])
    j = build_journey(store, "v9").to_dict()
    assert j["totals"]["sessions"] == 2
    assert build_journey(store, "v9", as_of=datetime.now(UTC)).to_dict()["totals"]["sessions"] == 1


def test_a_journey_of_many_sessions_shows_the_newest_in_every_format(tmp_path: Path) -> None:
    """A bot's journey holds thousands of sessions: every format (the table, JSON, Markdown,
    HTML) shows the newest JOURNEY_CARDS unless --limit or --all says otherwise, with a note
    saying how many are not shown and how to see more; the totals count every one (HTML of
    200,000 sessions was a 207 MB page, 6 minutes)."""
    from jtrack.commands.journey import JOURNEY_CARDS

    n = JOURNEY_CARDS + 3
    rows = [flat_event(f"e{i}", "v9", T0 + timedelta(hours=i)) for i in range(n)]
    store = _tiny_store(tmp_path, rows)
    where = ("--store", str(store.root), "--as-of", AS_OF)
    note = f"showing the newest {JOURNEY_CARDS} of {n} sessions: --limit N shows N, --all every one"
    table = _run("journey", "v9", *where, "--ascii")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.count("Web session") == JOURNEY_CARDS
    assert note in " ".join(table.stdout.split())
    pages = re.findall(r"last page Page (e\d+)", table.stdout)  # (the newest first)
    assert pages == [f"e{i}" for i in range(n - 1, n - 1 - JOURNEY_CARDS, -1)]
    data = json.loads(_run("journey", "v9", *where, "-f", "json").stdout)
    assert len(data["sessions"]) == JOURNEY_CARDS and data["totals"]["sessions"] == n
    assert data["totals"]["events"] == n and note in data["notes"]
    md = _run("journey", "v9", *where, "-f", "md").stdout
    assert md.count("| Web session |") == JOURNEY_CARDS and note in md
    page = _run("journey", "v9", *where, "-f", "html").stdout
    assert page.count('<article class="visit"') == JOURNEY_CARDS and note in page
    every = json.loads(_run("journey", "v9", *where, "-f", "json", "--all").stdout)
    assert len(every["sessions"]) == n and not any("showing" in x for x in every["notes"])
    told = _run("journey", "v9", *where, "--limit", str(n), "--ascii")
    assert told.stdout.count("Web session") == n and "showing the newest" not in told.stdout
    totals = _run("journey", "v9", *where, "--limit", "0", "-f", "html").stdout
    assert "<article" not in totals and f"none of the {n} sessions shown" in totals
    both = _run("journey", "v9", *where, "--all", "--limit", "3")
    assert both.exit_code == 2 and "--all and --limit" in both.stderr


def test_a_journey_worked_out_as_of_a_time_costs_no_query_per_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session with events after the clock was worked out again on its own (a query
    or more each: a bot's journey of 20,000 sessions dated ahead took 19 s with --limit 5);
    now all of them in one query, the same figures as a card of each, and only the sessions
    shown are read in full."""
    import jtrack.usecases.card as card_module

    def visitor(n: int, name: str) -> Store:
        rows = []
        for i in range(n):  # (each session: a view, then another after the clock)
            at = T0 + timedelta(hours=i)
            rows.append(flat_event(f"{name}{i}a", "v9", at, page_url=f"https://s.example/{i}"))
            rows.append(flat_event(f"{name}{i}b", "v9", at + timedelta(minutes=10)))
        return _tiny_store(tmp_path, rows, name=name)

    read: list[int] = []
    full = card_module._session_events

    def spied(store: Store, customer: str, ids: Any) -> pl.DataFrame:
        read.append(len(list(ids)))
        return full(store, customer, ids)

    monkeypatch.setattr(card_module, "_session_events", spied)
    counts = []
    for n, name in ((30, "few"), (300, "many")):
        store = visitor(n, name)
        as_of = T0 + timedelta(hours=n - 1, minutes=5)  # (inside the newest session)
        build_journey(store, "v9", as_of=as_of, limit=2)  # (warm)
        queries = _count_queries(monkeypatch)
        j = build_journey(store, "v9", as_of=as_of, limit=2).to_dict()
        counts.append(len(queries))
        monkeypatch.undo()
        monkeypatch.setattr(card_module, "_session_events", spied)
        assert j["totals"]["sessions"] == n and j["totals"]["events"] == 2 * n - 1
        newest = j["sessions"][0]
        assert newest["counts"]["events"] == 1 and newest["timing"]["duration_seconds"] == 0.0
        assert any("1 later event of this session not shown" in x for x in newest["notes"])
        assert read[-1] == 2  # (the events of the sessions shown, not of every one)
        card = build_card(store, newest["session"]["id"], as_of=as_of).to_dict()
        for key in ("counts", "timing", "current_page", "first_page", "notes"):
            assert card[key] == newest[key], key
    assert counts[0] == counts[1], counts


def _count_queries(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """A list that gets an item for each Polars query run from now on (eager operations
    run one too): work counted, not timed."""
    queries: list[None] = []
    eager, lazy = pl.LazyFrame._collect_eager, pl.LazyFrame.collect

    def counted_eager(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        queries.append(None)
        return eager(self, *args, **kwargs)

    def counted(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        queries.append(None)
        return lazy(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "_collect_eager", counted_eager)
    monkeypatch.setattr(pl.LazyFrame, "collect", counted)
    return queries


def _visitor_of_many_sessions(n: int, customer: str) -> list[dict[str, Any]]:
    """`n` sessions of one visitor, each of a view, a search and a segment, in three zones."""
    rows = []
    for i in range(n):
        at = T0 + timedelta(hours=i)
        zone = ("Europe/Paris", "America/New_York", None)[i % 3]
        rows += [
            flat_event(f"{customer}-v{i}", customer, at, geolocation_timezone=zone),
            flat_event(
                f"{customer}-s{i}",
                customer,
                at + timedelta(minutes=1),
                kind="search",
                event_name="search_submitted",
                search_query=f"tent {i % 4}",
                geolocation_timezone=zone,
            ),
            flat_event(
                f"{customer}-g{i}",
                customer,
                at + timedelta(minutes=2),
                kind="segment",
                event_type="SegmentAssignmentEvent",
                event_name=None,
                segment_id=f"seg-{i % 2}",
                geolocation_timezone=zone,
            ),
        ]
    return rows


def test_a_journey_works_out_its_cards_together_whatever_their_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each card of a journey was worked out by its own hundred small Polars queries (~20 ms
    a card: a crawler's JSON journey of 5,830 sessions took 110 s); they are worked out
    together, so a journey of 40 sessions runs the queries one of 4 does (counted, not
    timed), and each card is the one `jtrack card` shows of that session."""
    rows = _visitor_of_many_sessions(4, "few") + _visitor_of_many_sessions(40, "many")
    store = _tiny_store(tmp_path, rows)
    queries = _count_queries(monkeypatch)
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        """
[[segment]]
id = "seg-1"
display_name = "Hidden"
shown_to_agents = false
context = [{ field = "visitNumber", operator = "greaterThan", values = [1] }]
[[segment]]
id = "seg-returning"
display_name = "Returning"
color = "#00897B"
context = [{ field = "visitNumber", operator = "greaterThan", values = [1] }]
[[outcome]]
id = "out-search"
display_name = "Searched"
[[outcome.stage]]
conditions = [{ field = "eventName", operator = "equal", values = ["search_submitted"] }]
"""
    )
    rules = load_rules(rules_file)
    spent = {}
    journeys = {}
    for who in ("few", "many"):
        queries.clear()
        journeys[who] = build_journey(store, who, as_of=AS_OF_DT, rules=rules).to_dict()
        spent[who] = len(queries)
    assert len(journeys["many"]["sessions"]) == 40 and len(journeys["few"]["sessions"]) == 4
    assert 0 < spent["many"] <= spent["few"] + 2, spent
    cards = journeys["many"]["sessions"]
    assert any(c["segments"] for c in cards) and any(c["outcomes"] for c in cards)
    assert any("not shown to agents" in " ".join(c["notes"]) for c in cards)
    for card in cards[::7]:
        alone = build_card(store, card["session"]["id"], as_of=AS_OF_DT, rules=rules).to_dict()
        for key in ("journey", "searches", "segments", "outcomes", "timing", "notes", "counts"):
            assert card[key] == alone[key], key
    local = [e["time_local"] for c in journeys["many"]["sessions"] for e in c["journey"]]
    assert len({t[-6:] for t in local if t}) == 2 and None not in local  # (Paris, New York)
    # (a session of no zone is shown in the visitor's zone on the site, and says so)
    assert any("the visitor's zone on the site" in " ".join(c["notes"]) for c in cards)


def test_a_journey_under_a_role_masks_and_counts_its_cards_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a role that may not see contact details or segments, each card of a journey
    counted its hidden events by reading the visitor's events with their wide columns, and
    was masked by a Polars call of its own (a crawler's journey of 5,000 sessions took 14
    minutes for an agent). Both are done for all the cards at once: a journey of 40
    sessions runs the queries one of 4 does, and each card says what `jtrack card` does."""
    from jtrack.access import CONTACT_VIEW, PERMISSIONS, SEGMENT_VIEW, Policy, StoreView

    rows = _visitor_of_many_sessions(4, "few") + _visitor_of_many_sessions(40, "many")
    rows += [
        flat_event(f"m-{i}", "many", T0 + timedelta(hours=i, minutes=3), search_query=None,
                   page_url=f"https://shop.example/s?q=call+me+07700+9001{i:02d}")
        for i in range(40)
    ]  # fmt: skip
    store = _tiny_store(tmp_path, rows)
    agent = StoreView(
        store,
        Policy(role="agent", permissions=frozenset(PERMISSIONS) - {CONTACT_VIEW, SEGMENT_VIEW}),
    )
    queries = _count_queries(monkeypatch)
    spent, journeys = {}, {}
    for who in ("few", "many"):
        queries.clear()
        journeys[who] = build_journey(agent, who, as_of=AS_OF_DT).to_dict()
        spent[who] = len(queries)
    assert 0 < spent["many"] <= spent["few"] + 2, spent
    cards = journeys["many"]["sessions"]
    assert len(cards) == 40 and all(c["hidden_events"] == 1 for c in cards)
    urls = [e["page_url"] for c in cards for e in c["journey"] if "q=call" in (e["page_url"] or "")]
    assert len(urls) == 40 and all(u.endswith("q=call+me+•••") for u in urls)
    for card in cards[::9]:
        alone = build_card(agent, card["session"]["id"], as_of=AS_OF_DT).to_dict()
        for key in ("journey", "notes", "hidden_events", "segments", "contact"):
            assert card[key] == alone[key], key


def test_repeated_views_of_a_page_are_marked(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path, hostile_rows())
    card = build_card(store, store.scan_sessions().collect()["id"][0], as_of=AS_OF_DT).to_dict()
    views = [(e["event_id"], e["view_number"], e["repeat_view"]) for e in card["journey"]]
    assert ("e1", 1, False) in views and ("e4", 2, True) in views
    assert "view 2" in render_card_text(card, width=100)


def test_default_colour_code_and_config_overrides(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path, hostile_rows())
    sid = store.scan_sessions().collect()["id"][0]
    tones = {e["event_id"]: e["tone"] for e in build_card(store, sid).to_dict()["journey"]}
    assert (tones["e1"], tones["e3"], tones["e5"]) == ("neutral", "positive", "negative")
    cfg = tmp_path / "jtrack.toml"
    cfg.write_text('[card.colors]\n"form_*" = "positive"\n"product_*" = "Negative"\n')
    res = _run("card", sid[:10], "--store", str(store.root), "--config", str(cfg), "-f", "json")
    assert res.exit_code == 0, res.stderr
    tones = {e["event_id"]: e["tone"] for e in json.loads(res.stdout)["journey"]}
    assert (tones["e3"], tones["e5"]) == ("negative", "positive")
    # the data names the tone; the renderers colour it (green, blue, red)
    colors = {e["event_id"]: e["color"] for e in json.loads(res.stdout)["journey"]}
    assert colors["e5"] is None and colors["e1"] is None
    page = card_html(json.loads(res.stdout))
    assert 'data-event-id="e5" style="--c: #2e7d32"' in page


def test_a_bad_colour_rule_is_a_config_error_naming_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "jtrack.toml"
    cfg.write_text('[card.colors]\n"video_*" = "green"\n')
    res = _run("card", "x", "--store", str(tmp_path), "--config", str(cfg))
    assert res.exit_code == ExitCode.USAGE
    assert str(cfg) in res.stderr and "video_*" in res.stderr and "positive" in res.stderr
    with pytest.raises(ConfigError, match="did you mean 'colors'"):
        tone_rules_from_config({"card": {"colours": {}}}, cfg)


def test_rules_read_the_cards_session_alone_and_the_journeys_with_the_rules_columns(
    sample_store: Store, sample_rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With rules, a card read its visitor's whole history with every wide column (a
    1-event session of a crawler with 2,931 sessions: 2.6-8 s, 730-760 MB, against 0.8 s
    without rules; `journey --limit 1` 4.9 s). A rule looks at its session alone: the card
    evaluates its session's events only, and the card and the journey only the columns the
    rules read; the answers are the same (the golden files)."""
    from jtrack.core.rules.evaluate import event_columns

    seen = spy_on_evaluate(monkeypatch)
    returning = _pick(sample_store, (pl.col("visit_number") > 1) & (pl.col("type") == "web"))
    row = sample_store.scan_sessions().filter(pl.col("id") == returning).collect()
    customer = row["customer_id"].item()
    build_card(sample_store, returning, as_of=AS_OF_DT, rules=sample_rules)
    (events,) = seen
    assert set(events.get_column("session_id")) == {returning}
    wanted = set(event_columns(sample_rules))
    assert set(events.columns) <= wanted and "user_agent_string" not in events.columns
    seen.clear()
    journey = build_journey(sample_store, customer, as_of=AS_OF_DT, rules=sample_rules, limit=1)
    assert journey.to_dict()["sessions"]
    (events,) = seen
    theirs = sample_store.scan_sessions(customer_id=customer).select("id").collect()
    assert set(events.get_column("session_id")) <= set(theirs.get_column("id"))
    assert set(events.columns) <= wanted


def test_segments_and_outcomes_from_rules_join_the_exports_own(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path, hostile_rows())
    sid = store.scan_sessions().collect()["id"][0]
    at = T0 + timedelta(minutes=2)
    segs = pl.DataFrame(
        {
            "session_id": [sid, sid, "other"],
            "segment_id": ["seg-<b>vip</b>", "seg-cart", "seg-x"],
            "display_name": ["VIP <b>", "Cart builders", "X"],
            "color": ["#aa00ff", "red;background:url(x)", None],
            "matched_at": [at, at, at],
            "event_id": ["e3", "e3", "e3"],
            "source": ["rules", "rules", "rules"],
        },
        schema=SEGMENT_FRAME_SCHEMA,
    )
    outs = pl.DataFrame(
        {
            "session_id": [sid],
            "outcome_id": ["out-basket"],
            "display_name": ["Filled a basket"],
            "achieved_at": [at],
            "event_id": ["e3"],
            "source": ["rules"],
        },
        schema=OUTCOME_FRAME_SCHEMA,
    )
    card = build_card(store, sid, segments=segs, outcomes=outs, as_of=AS_OF_DT).to_dict()
    got = [(s["segment_id"], s["display_name"], s["color"], s["source"]) for s in card["segments"]]
    assert got == [
        ("seg-<b>vip</b>", "VIP <b>", "#aa00ff", "rules"),
        ("seg-cart", "Cart builders", None, "rules"),
        ("seg-<b>vip</b>", "VIP <b>", "#aa00ff", "export"),
    ]
    assert [o["display_name"] for o in card["outcomes"]] == ["Filled a basket"]
    rules_rows = [e for e in card["journey"] if e["source"] == "rules"]
    assert [e["kind"] for e in rules_rows] == ["segment_assigned"] * 2 + ["outcome_achieved"]
    after = [e["event_id"] for e in card["journey"]].index("e3")
    assert card["journey"][after + 1]["source"] == "rules"
    page = card_html(card)
    assert "url(x)" not in page and "background: #aa00ff" in page


def test_a_frame_with_missing_columns_is_refused(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path, hostile_rows())
    from jtrack.errors import UsageError

    with pytest.raises(UsageError, match="matched_at"):
        build_card(store, "", segments=pl.DataFrame({"session_id": ["x"]}))


# ---------------------------------------------------------------------------- literal data


def test_markup_escapes_and_script_are_shown_literally_in_every_format(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path, hostile_rows())
    sid = store.scan_sessions().collect()["id"][0]
    card = build_card(store, sid, as_of=AS_OF_DT).to_dict()
    # terminal, plain and with colour: markup shown as typed, ESC never reaches the terminal
    plain = render_card_text(card, width=120, details=True)
    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=True, color_system="truecolor").print(
        card_renderable(card, details=True, boxed=True)
    )
    colour = buf.getvalue()
    for text in (plain, colour):
        assert "[bold red]x[/]" in text and "[link=https://evil.example]here[/link]" in text
        assert "\ufffd[31mred\ufffd[0m" in text
    assert "\x1b" not in plain
    assert "\x1b[31mred" not in colour and "\x1b]8;" not in colour  # no injected colour or link
    # the commands, piped: card (with details) and the journey's compact card
    for args in (["card", sid, "--details"], ["journey", "cust-hostile"]):
        res = _run(*args, "--store", str(store.root), "--as-of", AS_OF)
        assert res.exit_code == 0, res.stderr
        assert "[bold red]x[/]" in res.stdout and "\ufffd[31mred" in res.stdout
        assert "\x1b" not in res.stdout
    # JSON: the exact strings, escaped by JSON itself
    res = _run("card", sid, "--store", str(store.root), "-f", "json", "--as-of", AS_OF)
    data = json.loads(res.stdout)
    assert data["journey"][1]["search_query"] == HOSTILE_QUERY
    assert data["journey"][0]["page_title"] == HOSTILE_TITLE
    assert "\x1b" not in res.stdout
    # HTML: escaped text, no element or attribute from the data
    page = card_html(card)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&quot;&gt;&lt;img" in page
    assert "[bold red]x[/] &lt;b&gt;bold&lt;/b&gt;" in page


def test_card_html_is_self_contained(sample_store: Store, picks: dict[str, str]) -> None:
    page = card_html(build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict())
    lowered = page.lower()
    for needle in ("<script", "<link", "src=", "href=", "@import", "url(", "<iframe"):
        assert needle not in lowered
    assert "default-src 'none'" in page
    assert page.count('tabindex="0"') == len(
        build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()["journey"]
    )


# ---------------------------------------------------------------------------- CLI


def test_card_json_equals_the_library_card(sample_store: Store, picks: dict[str, str]) -> None:
    sid = picks["known"]
    res = _run("card", sid[:12], "--store", str(sample_store.root), "-f", "json", "--as-of", AS_OF)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == build_card(sample_store, sid, as_of=AS_OF_DT).to_dict()


def test_journey_json_equals_the_library_journey(
    sample_store: Store, picks: dict[str, str]
) -> None:
    cust = str(
        sample_store.scan_sessions()
        .filter(pl.col("id") == picks["known"])
        .collect()["customer_id"][0]
    )
    res = _run("journey", cust, "--store", str(sample_store.root), "-f", "json", "--as-of", AS_OF)
    assert res.exit_code == 0, res.stderr
    got = json.loads(res.stdout)
    assert got == build_journey(sample_store, cust, as_of=AS_OF_DT).to_dict()
    starts = [s["timing"]["start"] for s in got["sessions"]]
    assert starts == sorted(starts, reverse=True)
    assert got["totals"]["sessions"] == len(got["sessions"])
    assert got["totals"]["events"] == sum(s["counts"]["events"] for s in got["sessions"])


def test_journey_of_a_contact_covers_all_its_cookies(sample_store: Store) -> None:
    per_contact = (
        sample_store.scan_sessions()
        .filter(pl.col("contact_state") == "known")
        .group_by("contact_id")
        .agg(pl.col("customer_id").n_unique().alias("cookies"), pl.len().alias("n"))
        .sort(["cookies", "n", "contact_id"], descending=[True, True, False])
        .head(1)
        .collect()
    )
    contact, cookies, n = per_contact.row(0)
    journey = build_journey(sample_store, contact, as_of=AS_OF_DT).to_dict()
    assert journey["matched_by"] == "contact_id"
    assert len(journey["customer_ids"]) == cookies and journey["totals"]["sessions"] == n
    assert journey["contact"]["known"]
    limited = build_journey(sample_store, contact, as_of=AS_OF_DT, limit=1).to_dict()
    assert len(limited["sessions"]) == 1 and limited["totals"]["sessions"] == n
    # --limit 0 (as `sessions` takes it): the totals alone, said so
    res = CliRunner().invoke(
        app, ["journey", contact, "--store", str(sample_store.root), "--limit", "0"]
    )
    assert res.exit_code == 0, res.stderr
    assert f"the totals alone: none of the {n} sessions shown" in res.stdout
    alone = build_journey(sample_store, contact, as_of=AS_OF_DT, limit=0).to_dict()
    assert alone["sessions"] == [] and alone["totals"] == journey["totals"]
    one = sample_store.scan_sessions().group_by("customer_id").len().filter(pl.col("len") == 1)
    visitor = one.sort("customer_id").collect().get_column("customer_id")[0]
    single = build_journey(sample_store, visitor, as_of=AS_OF_DT, limit=0).to_dict()
    assert "the totals alone: its one session not shown" in single["notes"]  # (not "the 1")
    assert alone["contact"] == journey["contact"] and alone["contact"]["known"]  # (not Unknown)


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_1(sample_store: Store) -> None:
    ids = sample_store.scan_sessions().select("id").collect()["id"]
    pairs = (
        ids.str.slice(0, 3).value_counts().filter(pl.col("count") == 2).sort("id")["id"]
    )  # a prefix shared by exactly two sessions
    prefix = str(pairs[0])
    res = _run("card", prefix, "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA
    matching = [i for i in ids.to_list() if i.startswith(prefix)]
    assert len(matching) == 2 and all(m in res.stderr for m in matching)
    assert "more characters" in res.stderr and res.stdout == ""


def test_a_session_id_pasted_with_what_was_around_it_is_found(sample_store: Store) -> None:
    """An id copied from a log line, a ticket or a JSON document (`session:...`,
    `{...}`, `...,`, quoted) said "no session with id" without a word on why; one with a
    space inside (a line break where it was copied from) says so."""
    from jtrack.usecases.sessions import typed_session_id

    sid = str(sample_store.scan_sessions().select("id").collect()["id"].sort()[4])
    plain = _run("card", sid[:8], "--store", str(sample_store.root), "--as-of", AS_OF)
    assert plain.exit_code == 0, plain.stderr
    for pasted in (
        f"session:{sid[:8]}",
        f"Session_ID={sid}",
        f"{{{sid}}}",
        f"{sid},",
        f'"{sid[:10]}".',
        f"<{sid.upper()}>",
        f"id: {sid[:9]};",
    ):
        assert typed_session_id(pasted) in (sid, sid[:8], sid[:9], sid[:10]), pasted
        res = _run("card", pasted, "--store", str(sample_store.root), "--as-of", AS_OF)
        assert res.exit_code == 0, (pasted, res.stderr)
        assert res.stdout == plain.stdout, pasted
    res = _run("card", f"{sid[:4]} {sid[4:8]}", "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "has a space inside" in res.stderr and res.stderr.count("\n") == 1
    # (what is no id is left as typed: a Genesys session id or a visitor's, for the hint)
    assert typed_session_id(" Visitor-42 ") == "visitor-42"
    assert typed_session_id("zz:9") == "zz:9"


def _without_id_directories(store: Store, target: Path) -> Store:
    """A copy of `store` as an earlier jtrack wrote it: session parts without id
    directories."""
    shutil.copytree(store.root, target, symlinks=True)
    as_an_earlier_jtrack_wrote(target, "ids", "session-ids")
    return Store.open(target)


def test_sessions_are_found_by_id_prefix_with_or_without_id_directories(
    sample_store: Store, tmp_path: Path
) -> None:
    """A prefix is looked up in the session parts' id directories (one row group of each);
    parts an earlier jtrack wrote, without one, have their ids scanned: same answers, for
    one prefix, a few, and many (matched against every id)."""
    older = _without_id_directories(sample_store, tmp_path / "older")
    every = sample_store.scan_sessions().select("id", "customer_id", "type").collect().sort("id")
    ids = every.get_column("id")

    def expected(prefixes: list[str]) -> pl.DataFrame:
        return every.filter(pl.any_horizontal([pl.col("id").str.starts_with(p) for p in prefixes]))

    few = [ids[0][:2], ids[5][:6], ids[7], "zz", ids[9][:8]]
    many = sorted(set(ids.str.slice(0, 3).to_list()))
    assert len(many) > 64  # (more than are looked up by range)
    for store in (sample_store, older):
        for prefixes in ([p] for p in few):
            got = store.sessions_with_prefix(prefixes, ["customer_id", "type"])
            assert_frame_equal(got, expected(prefixes))
        assert_frame_equal(
            store.sessions_with_prefix(few, ["type", "customer_id"]).select(every.columns),
            expected(few),
        )
        assert_frame_equal(store.sessions_with_prefix(many).select("id"), every.select("id"))
        assert store.sessions_with_prefix(few, limit=2).get_column("id").to_list() == (
            expected(few).get_column("id").head(2).to_list()
        )
    for sid in (ids[3][:8], ids[3]):
        new = _run("card", sid, "--store", str(sample_store.root), "--as-of", AS_OF)
        old = _run("card", sid, "--store", str(older.root), "--as-of", AS_OF)
        assert new.exit_code == old.exit_code == 0, new.stderr + old.stderr
        assert new.stdout == old.stdout


def test_an_ambiguous_prefix_says_how_many_sessions_it_matches(sample_store: Store) -> None:
    ids = sample_store.scan_sessions().select("id").collect()["id"]
    prefix = str(ids.str.slice(0, 1).mode().sort()[0])  # the commonest first character
    matching = sorted(i for i in ids.to_list() if i.startswith(prefix))
    assert len(matching) > 11
    res = _run("card", prefix, "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA
    assert f"matches {len(matching):,} sessions: {', '.join(matching[:10])} ..." in res.stderr


def test_a_short_id_shown_is_one_card_takes_back(tmp_path: Path) -> None:
    """The card's title and the journey showed every session id cut to 8 characters, where
    the README promises ids "as their shortest unique prefix ... which every command accepts
    back": on a 10M store 1,081 sessions share their first 8 with another, and `jtrack card`
    refused the id a journey had just shown. (Events e74416 and e120718 of visitor v1 start
    sessions whose ids share `4e966511`.)"""
    src = tmp_path / "e.parquet"
    flat_frame(
        [
            flat_event("e74416", "v1", T0),
            flat_event("e120718", "v1", T0 + timedelta(hours=2)),
            flat_event("x1", "v2", T0),
        ]
    ).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    ids = Store.open(st).scan_sessions().select("id", "customer_id").collect()
    v1 = sorted(ids.filter(pl.col("customer_id") == "v1")["id"])
    assert v1[0][:8] == v1[1][:8] == "4e966511"  # (the store's ids, as the test needs them)
    journey = _run("journey", "v1", "--store", st, "--as-of", AS_OF, "-f", "json")
    shown = {
        c["session"]["id"]: c["session"]["short_id"] for c in json.loads(journey.stdout)["sessions"]
    }
    assert shown == {i: i[:11] for i in v1}  # (they differ at the 11th)
    text = _run("journey", "v1", "--store", st, "--as-of", AS_OF)
    assert all(f"· {i[:11]} ·" in text.stdout for i in v1), text.stdout
    for sid in v1:
        for typed in (sid, sid[:11]):
            card = _run("card", typed, "--store", st, "--as-of", AS_OF, "-f", "json")
            short = json.loads(card.stdout)["session"]["short_id"]
            assert short == sid[:11] and json.loads(card.stdout)["title"].endswith(short)
            back = _run("card", short, "--store", st, "--as-of", AS_OF, "-f", "json")
            assert back.exit_code == 0 and json.loads(back.stdout)["session"]["id"] == sid
    other = ids.filter(pl.col("customer_id") == "v2")["id"][0]
    card = _run("card", other, "--store", st, "--as-of", AS_OF, "-f", "json")
    assert json.loads(card.stdout)["session"]["short_id"] == other[:8]


def test_an_unknown_id_exits_1_with_a_hint(sample_store: Store) -> None:
    res = _run("card", "nosuchsession", "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA
    assert "nosuchsession" in res.stderr and "jtrack sessions" in res.stderr
    res = _run("journey", "nobody-at-all", "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA and "nobody-at-all" in res.stderr


def test_piped_output_has_no_colour_and_no_box_drawing(
    sample_store: Store, picks: dict[str, str]
) -> None:
    for args in (["card", picks["known"], "--details"], ["journey", picks["known"]]):
        if args[0] == "journey":
            args[1] = str(
                sample_store.scan_sessions()
                .filter(pl.col("id") == picks["known"])
                .collect()["customer_id"][0]
            )
        res = _run(*args, "--store", str(sample_store.root), "--as-of", AS_OF)
        assert res.exit_code == 0, res.stderr
        assert "\x1b" not in res.stdout and not (BOX_DRAWING & set(res.stdout))
        assert all(line == line.rstrip() for line in res.stdout.splitlines())


def test_ascii_output_has_no_emoji_or_typographic_glyphs(
    sample_store: Store, picks: dict[str, str]
) -> None:
    for sid in (picks["custom"], picks["known"]):
        res = _run("card", sid, "--store", str(sample_store.root), "--ascii", "--details")
        assert res.exit_code == 0 and no_fancy_glyphs(res.stdout)
    assert (
        "[custom]"
        in _run("card", picks["custom"], "--store", str(sample_store.root), "--ascii").stdout
    )


def test_html_and_text_files_are_written_with_o(
    sample_store: Store, picks: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "card.html"
    res = _run("card", picks["known"], "--store", str(sample_store.root), "-o", str(out))
    assert res.exit_code == 0 and res.stdout == ""
    assert out.read_text().startswith("<!DOCTYPE html>")
    txt = tmp_path / "card.txt"
    res = _run("card", picks["known"], "--store", str(sample_store.root), "-o", str(txt))
    assert res.exit_code == 0 and "Journey map" in txt.read_text()


# ---------------------------------------------------------------------------- reading


def test_a_card_reads_only_its_visitors_rows(
    sample_store: Store, picks: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is read for the card's visitor only; wide columns for its events only."""
    from jtrack.store import Snapshot

    index_calls: list[str | None] = []
    fetched: list[pl.DataFrame] = []
    scan_index, wide_rows = Snapshot.scan_index, Snapshot.wide_rows

    def index(self: Snapshot, customer_id: str | None = None) -> pl.LazyFrame:
        index_calls.append(customer_id)
        return scan_index(self, customer_id)

    def wide(self: Snapshot, positions: pl.DataFrame, columns: Any) -> pl.DataFrame:
        fetched.append(positions)
        return wide_rows(self, positions, columns)

    monkeypatch.setattr(Snapshot, "scan_index", index)
    monkeypatch.setattr(Snapshot, "wide_rows", wide)
    sid = picks["known"]
    build_card(sample_store, sid[:10])
    customer = (
        sample_store.scan_sessions().filter(pl.col("id") == sid).collect()["customer_id"].item()
    )
    assert index_calls and set(index_calls) == {customer}
    mine = (
        sample_store.scan_index(customer_id=customer)
        .filter(pl.col("session_id") == sid)
        .select("segment", "row")
        .collect()
    )
    got = pl.concat(fetched).unique().sort("segment", "row")
    assert got.equals(mine.sort("segment", "row"))


def test_the_card_core_imports_neither_rich_nor_typer() -> None:
    code = (
        "import sys, jtrack.usecases.card; "
        "print(sorted(m for m in ('rich', 'typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- properties


@settings(deadline=None, max_examples=60)
@given(st.floats(min_value=-400_000, max_value=400_000, allow_nan=False))
def test_hms_in_python_and_in_polars_agree(seconds: float) -> None:
    from jtrack.usecases.card import _hms_expr

    got = pl.select(_hms_expr(pl.lit(seconds, dtype=pl.Float64))).item()
    assert got == hms(seconds)


NAMES = st.text(alphabet="abcdefgr_0123456789-.[]", min_size=1, max_size=12)
GLOBS = st.text(alphabet="abcdefr_*?-.[]", min_size=1, max_size=8)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(NAMES, min_size=1, max_size=8),
    st.lists(st.tuples(GLOBS, st.sampled_from(["positive", "neutral", "negative"])), max_size=4),
)
def test_tone_rules_are_first_match_wins_like_fnmatch(
    names: list[str], rules: list[tuple[str, str]]
) -> None:
    got = pl.DataFrame({"n": names}).select(tone_expr(pl.col("n"), rules).alias("t"))["t"].to_list()

    def expected(name: str) -> str:
        for glob, tone in (*rules, *DEFAULT_TONE_RULES):
            # only * and ? are special in a colour rule: [ is literal
            if fnmatch.fnmatchcase(name.lower(), glob.lower().replace("[", "[[]")):
                return tone
        return "neutral"

    assert got == [expected(n) for n in names]


def test_emoji_give_way_to_text_icons_when_the_output_is_not_utf8() -> None:
    from jtrack.render.card import wants_ascii

    assert wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    assert wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert not wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))


def test_contacts_given_at_read_time_name_the_visitor(
    sample_store: Store, picks: dict[str, str], tmp_path: Path
) -> None:
    sid = picks["unknown"]
    cookie = str(
        sample_store.scan_sessions().filter(pl.col("id") == sid).collect()["customer_id"][0]
    )
    book = tmp_path / "contacts.csv"
    book.write_text(f"contact_id,first_name,last_name,cookie_ids\next-9,Zed,Quill,{cookie}\n")
    res = _run(
        "card",
        sid,
        "--store",
        str(sample_store.root),
        "-f",
        "json",
        "--as-of",
        AS_OF,
        "--contacts",
        str(book),
    )
    assert res.exit_code == 0, res.stderr
    contact = json.loads(res.stdout)["contact"]
    assert (contact["name"], contact["contact_id"], contact["match_method"]) == (
        "Zed Quill",
        "ext-9",
        "cookie",
    )
    journey = build_journey(sample_store, "ext-9", contacts=book, as_of=AS_OF_DT).to_dict()
    assert journey["matched_by"] == "contact_id" and journey["customer_ids"] == [cookie]


def test_a_latin1_terminal_gets_text_icons_and_no_crash(
    sample_store: Store, picks: dict[str, str]
) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "latin-1", "COLUMNS": "100"}
    cmd = [
        sys.executable,
        "-m",
        "jtrack.cli",
        "card",
        picks["known"],
        "--store",
        str(sample_store.root),
        "--as-of",
        AS_OF,
    ]
    out = subprocess.run(cmd, capture_output=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("latin-1")
    assert "[PAG]" in text and "[web]" in text and no_fancy_glyphs(text)
    name = build_card(sample_store, picks["known"]).to_dict()["contact"]["name"]
    assert name.encode("latin-1", "replace").decode("latin-1") in text


def test_as_of_shows_the_session_as_it_stood_then(tmp_path: Path) -> None:
    """Before its last events a session's card shows the page, searches, counts and duration
    of that time (not later ones), and the state then."""
    c, m = "cust-asof", timedelta(minutes=1)
    rows = [
        flat_event("a1", c, T0, page_title="Home", page_url="https://shop.example/"),
        flat_event("a2", c, T0 + m, kind="search", search_query="tents", page_title="Search"),
        flat_event("a3", c, T0 + 2 * m, page_title="Tents", page_url="https://shop.example/t"),
        flat_event("a4", c, T0 + 5 * m, kind="search", search_query="boots", page_title="S"),
        flat_event("a5", c, T0 + 6 * m, page_title="Boots", page_url="https://shop.example/b"),
    ]
    store = _tiny_store(tmp_path, rows)
    sid = str(store.scan_sessions().collect()["id"][0])
    then = build_card(store, sid, as_of=T0 + 3 * m).to_dict()
    assert then["current_page"] == {"title": "Tents", "url": "https://shop.example/t"}
    assert [s["query"] for s in then["searches"]] == ["tents"]
    assert [e["event_id"] for e in then["journey"]] == ["a1", "a2", "a3"]
    # a search results page is a page view too (as sessionize counts it)
    assert then["counts"] == {"events": 3, "page_views": 3, "searches": 1, "journey_events": 3}
    assert then["timing"]["duration"] == "0:02:00" and then["session"]["state"] == "active"
    assert then["timing"]["end"] == "2026-10-03T09:02:00.000Z"
    when = (T0 + 3 * m).strftime("%Y-%m-%d %H:%M:%S")  # (written as the card writes times)
    assert f"as of {when} UTC: 2 later events of this session not shown" in then["notes"]
    now = build_card(store, sid, as_of=AS_OF_DT).to_dict()
    assert now["current_page"]["title"] == "Boots" and now["counts"]["events"] == 5
    assert not any("later event" in n for n in now["notes"])
    before = build_card(store, sid, as_of=T0 - m).to_dict()
    assert before["session"]["state"] == "not_started" and before["journey"] == []
    assert before["current_page"] is None and before["counts"]["events"] == 0
    # the landing page: the first page view, as the session table's first_page_url
    assert then["first_page"] == {"title": "Home", "url": "https://shop.example/"}
    assert now["first_page"] == then["first_page"] and before["first_page"] is None
    # the CLI says the same
    res = _run("card", sid[:8], "--store", str(store.root), "--as-of", "2026-10-03T09:03:00Z")
    assert res.exit_code == 0, res.stderr
    assert "Tents" in res.stdout and "boots" not in res.stdout and "Boots" not in res.stdout


def test_as_of_counts_only_the_visits_begun_by_then(tmp_path: Path) -> None:
    c = "cust-visits"
    rows = [flat_event(f"v{i}", c, T0 + timedelta(hours=i)) for i in range(3)]
    store = _tiny_store(tmp_path, rows)
    first = store.scan_sessions().sort("created_date").collect()["id"][0]
    early = build_card(store, first, as_of=T0 + timedelta(minutes=30)).to_dict()
    late = build_card(store, first, as_of=AS_OF_DT).to_dict()
    assert early["visit"] == {"number": 1, "of": 1} and late["visit"] == {"number": 1, "of": 3}


def test_card_json_names_icons_and_tones_and_carries_no_presentation(tmp_path: Path) -> None:
    """card_version 2: the icon is a name, journey colours only the data's own (a segment's);
    emoji and tone colours are the renderers' (jtrack.render.theme)."""
    store = _tiny_store(tmp_path, hostile_rows())
    card = build_card(store, store.scan_sessions().collect()["id"][0]).to_dict()
    assert card["card_version"] == 2 and card["icon"] == {"name": "web"}
    text = json.dumps(card, ensure_ascii=False)
    assert not any(e in text for e in ("🌐", "📄", "🔍", "#2e7d32", "#1565c0", "#c62828"))
    import jtrack.usecases.card as data

    for name in ("SESSION_ICONS", "KIND_ICONS", "KIND_LABELS", "TONE_COLORS"):
        assert not hasattr(data, name), name


def test_an_empty_page_title_is_labelled_by_its_url(tmp_path: Path) -> None:
    """A page view whose title is "" is labelled by its URL, as one with no title is (the
    terminal card showed a blank event; the HTML card already fell back to the URL)."""
    src = tmp_path / "e.parquet"
    flat_frame(
        [flat_event("a", "v", T0, page_title="", page_url="https://shop.example/x")]
    ).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    sid = store.scan_sessions().select("id").collect()["id"][0]
    card = build_card(store, sid).to_dict()
    assert [e["label"] for e in card["journey"]] == ["https://shop.example/x"]
    assert "https://shop.example/x" in render_card_text(card, width=100)


def test_an_id_that_is_no_session_says_what_it_is(sample_store: Store) -> None:
    """`card` given the Genesys session id an agent sees (the card's "Source session"), or
    a visitor's id: not found, exit 1, with a hint naming the jtrack session or `journey`;
    an unknown id keeps the plain hint."""
    row = (
        sample_store.scan_sessions()
        .filter(pl.col("source_session_id").is_not_null())
        .select("id", "source_session_id", "customer_id")
        .sort("id")
        .head(1)
        .collect()
        .row(0, named=True)
    )
    res = _run("card", row["source_session_id"], "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA
    assert f"that is the Genesys session id of jtrack session {row['id']}" in res.stderr
    res = _run("card", row["customer_id"].upper(), "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA
    assert f"jtrack journey {row['customer_id']}" in res.stderr
    res = _run("card", "ffffffff", "--store", str(sample_store.root))
    assert res.exit_code == ExitCode.DATA and "list sessions with `jtrack sessions`" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_an_outcome_the_rules_call_no_success_is_not_shown_as_one(
    sample_store: Store, sample_rules: Rules
) -> None:
    """`out-checkout-abandoned` has `positive = false`: the card marked it `+` in green,
    right under the `-` of the abandoned form."""
    negative = {o.id for o in sample_rules.outcomes if not o.positive}
    assert negative == {"out-checkout-abandoned"}
    res = evaluate_store(sample_store, sample_rules)
    hits = res.outcomes.filter(pl.col("outcome_id") == "out-checkout-abandoned")
    sid = sorted(hits.get_column("session_id").to_list())[0]
    card = build_card(sample_store, sid, as_of=AS_OF_DT, rules=sample_rules).to_dict()
    tones = {e["outcome_id"]: e["tone"] for e in card["journey"] if e["outcome_id"]}
    assert tones["out-checkout-abandoned"] == "negative"
    assert all(t == "positive" for o, t in tones.items() if o not in negative)
    text = render_card_text(card, width=80)
    line = next(x for x in text.splitlines() if "outcome Abandoned the checkout" in x)
    assert " - outcome" in line
    # the card's list of outcomes says so too, and HTML draws it in the negative colour
    listed = {o["outcome_id"]: o["tone"] for o in card["outcomes"]}
    assert listed["out-checkout-abandoned"] == "negative"
    assert all(t == "positive" for o, t in listed.items() if o not in negative)
    html = card_html(card)
    assert '<strong style="color: var(--neg)">Abandoned the checkout</strong>' in html


def test_the_card_shows_what_an_unknown_visitor_typed_as_unverified(
    sample_store: Store, picks: dict[str, str]
) -> None:
    """README: names or emails typed by an unknown visitor are shown as `unverified_*`
    details, never as the contact's name; the card (what an agent looks at) showed only
    "Unknown"."""
    sid = str(
        sample_store.scan_sessions()
        .filter(pl.col("customer_id").str.starts_with("e576ecf3"))
        .sort("created_date")
        .select("id")
        .collect()
        .item(0, 0)
    )
    card = build_card(sample_store, sid, as_of=AS_OF_DT).to_dict()
    contact = card["contact"]
    assert not contact["known"] and contact["name"] == "Unknown"
    assert contact["unverified_name"] == "Aoife García"
    assert contact["unverified_emails"] == ["aoife.garcia299@example.com"]
    assert contact["unverified_phones"] == ["+14155550181"]
    text = render_card_text(card, width=80)
    assert "Typed            Aoife García · aoife.garcia299@example.com" in text
    assert "(unverified)" in text and "Aoife" not in text.splitlines()[0]
    assert "Aoife García · aoife.garcia299@example.com · +14155550181" in card_html(card)
    journey = build_journey(sample_store, contact["customer_id"], as_of=AS_OF_DT).to_dict()
    assert journey["contact"]["unverified_name"] == "Aoife García"
    known = build_card(sample_store, picks["known"], as_of=AS_OF_DT).to_dict()["contact"]
    assert known["known"] and known["unverified_name"] is None
    assert known["unverified_emails"] == known["unverified_phones"] == []


def test_a_journey_over_several_cookies_says_which_each_visit_counts_on(
    sample_store: Store,
) -> None:
    """Visits are numbered per cookie: a contact's journey read "visit 1 of 1" beside "visit
    3 of 3" with nothing to say why."""
    from jtrack.render.html import journey_html

    journey = build_journey(sample_store, "C0029", as_of=AS_OF_DT).to_dict()
    assert len(journey["customer_ids"]) == 2
    text = render_journey_text(journey, width=80)
    for card in journey["sessions"]:
        cookie = card["contact"]["customer_id"][:8]
        visit = card["visit"]
        assert f"visit {visit['number']} of {visit['of']} on cookie {cookie}" in text
        assert f"visit {visit['number']} of {visit['of']} on cookie {cookie}" in journey_html(
            journey
        )
    one = build_journey(sample_store, journey["customer_ids"][0], as_of=AS_OF_DT).to_dict()
    assert "on cookie" not in render_journey_text(one, width=80)


LONG_HOST = "campaign-landing-pages.partner-network.example.co.uk"


def _arrivals(tmp_path: Path) -> Store:
    """One visitor's four visits, hours apart: mobile via Facebook with a campaign, desktop
    via Google, desktop by the newsletter (a campaign, no referrer), from a host wider than
    half a line, and one with nothing said (no device, referrer or campaign)."""
    c, h, m = "cust-vh", timedelta(hours=3), timedelta(minutes=1)
    fb = {
        "referrer_hostname": "m.facebook.com",
        "referrer_medium": "social",
        "mkt_campaign_source": "facebook",
        "mkt_campaign_medium": "social",
        "mkt_campaign_name": "fb1",
    }
    news = {"mkt_campaign_source": "newsletter", "mkt_campaign_medium": "email"}
    rows = [
        flat_event("a1", c, T0, device_category="mobile", page_title="Home", **fb),
        flat_event("a2", c, T0 + m, device_category="mobile", page_title="Cart"),
        flat_event(
            "b1",
            c,
            T0 + h,
            device_category="desktop",
            page_title="Login",
            referrer_hostname="www.google.com",
        ),
        flat_event("b2", c, T0 + h + m, device_category="desktop", page_title="Account"),
        flat_event(
            "c1",
            c,
            T0 + 2 * h,
            device_category="desktop",
            page_title="Home",
            mkt_campaign_name="oct",
            **news,
        ),
        flat_event(
            "d1",
            c,
            T0 + 3 * h,
            device_category="desktop",
            page_title="Tents",
            referrer_hostname=LONG_HOST,
            mkt_campaign_source="partner",
            mkt_campaign_name="spring",
        ),
        flat_event("e1", c, T0 + 4 * h, page_title="Boots"),
    ]
    return _tiny_store(tmp_path, rows)


def test_a_visits_arrival_names_a_referrer_without_a_host_in_brief() -> None:
    """Review: a referrer URL without a host was shown whole in the journey's one-line
    summary (`data:text/html,...`, a long URL, a `?token=` in its query), and a host as
    stored, `WWW.SHOP.TEST`."""
    from jtrack.render.theme import arrival

    def card(**ref: str) -> dict:
        return {"device": {}, "referrer": ref, "session": {"type": "web"}, "campaign": {}}

    assert arrival(card(hostname="WWW.SHOP.TEST")) == [("referrer", ["www.shop.test"])]
    assert arrival(card(url="www.x.com/login?token=SECRET123")) == [
        ("referrer", ["www.x.com/login"])
    ]
    long = "data:text/html," + "a" * 100
    (shown,) = arrival(card(url=long))[0][1]
    assert len(shown) == 40 and shown.endswith("…") and long.startswith(shown[:-1])
    assert arrival(card()) == [("referrer", ["(direct)"])]


def test_a_journey_says_how_each_visit_arrived_in_every_format(tmp_path: Path) -> None:
    """The journey showed no visit's referrer, campaign, device or landing page (only JSON and
    the card did): each visit says them now, in the terminal, the profile and Markdown, in
    the card's words, and the JSON's fields are the session table's."""
    from jtrack.render.card import journey_markdown
    from jtrack.render.html import journey_html

    store = _arrivals(tmp_path)
    journey = build_journey(store, "cust-vh", as_of=AS_OF_DT).to_dict()
    came = [
        "referrer (direct)",
        f"device desktop · referrer {LONG_HOST} · campaign partner · spring",
        "device desktop · campaign newsletter / email · oct",
        "device desktop · referrer www.google.com",
        "device mobile · referrer m.facebook.com · campaign facebook / social · fb1",
    ]
    pages = [
        ["first and last page Boots"],
        ["first and last page Tents"],
        ["first and last page Home"],
        ["first page Login", "last page Account"],
        ["first page Home", "last page Cart"],
    ]
    wide = render_journey_text(journey, width=120)
    blocks = wide.split("\n\n")[1:]
    assert len(blocks) == 5
    for block, line, shown in zip(blocks, came, pages, strict=True):
        assert f"   {line}\n" in block, block
        assert all(f"   {p}\n" in block for p in shown), block
    narrow = render_journey_text(journey, width=80)
    assert all(cell_len(x) <= 80 for x in narrow.splitlines())
    # (at 80 columns a part goes whole to the next line: the host is never cut)
    assert f"   device desktop\n   referrer {LONG_HOST}\n   campaign partner · spring\n" in narrow
    assert "…" not in narrow
    # JSON: the card's fields, and the session table's values under its own names
    table = json.loads(
        _run("sessions", "--store", str(store.root), "-f", "json", "--as-of", AS_OF).stdout
    )
    rows = {r["id"]: r for r in table}
    for card in journey["sessions"]:
        row = rows[card["session"]["id"]]
        assert card["referrer"]["hostname"] == row["referrer_hostname"]
        assert card["campaign"]["source"] == row["mkt_campaign_source"]
        assert card["campaign"]["name"] == row["mkt_campaign_name"]
        assert card["device"]["category"] == row["device_category"]
        assert card["first_page"] == {
            "title": row["first_page_title"],
            "url": row["first_page_url"],
        }
    html = journey_html(journey)
    assert html.count('<p class="arrival">') == 5
    assert (
        '<span class="came">device <strong>mobile</strong></span> · <span class="came">referrer '
        '<strong>m.facebook.com</strong></span> · <span class="came">campaign <strong>facebook '
        "/ social · fb1</strong></span>"
    ) in html
    assert (
        "<p>first page <strong>Login</strong></p><p>last page <strong>Account</strong></p>" in html
    )
    md = journey_markdown(journey)
    assert "| device | referrer | campaign | first_page | last_page |" in md
    assert "| mobile | m.facebook.com | facebook / social · fb1 | Home | Cart |" in md
    assert "| desktop |  | newsletter / email · oct | Home | Home |" in md
    res = _run("journey", "cust-vh", "--store", str(store.root), "--as-of", AS_OF, "-f", "md")
    assert res.exit_code == 0, res.stderr
    rows_md = md[md.index("## Sessions, newest first (5)") :]
    assert res.stdout.endswith(rows_md) and res.stdout.startswith("# Customer journey of Unknown")
    assert re.search(r"\n\nstore \S+ \(v\d{6}\) · made [-\d]+ [:\d]+ UTC by jtrack", res.stdout)
    out = tmp_path / "j.md"  # (and a .md file is Markdown, as the other commands' are)
    res = _run("journey", "cust-vh", "--store", str(store.root), "--as-of", AS_OF, "-o", str(out))
    assert res.exit_code == 0, res.stderr
    assert out.read_text(encoding="utf-8").endswith(rows_md)


def test_a_segment_name_is_never_drawn_in_a_tone_colour(
    sample_store: Store, sample_rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A red segment ("Abandoned the checkout form", #E53935) had its name drawn in red, as
    negative events are: only its dot takes the segment's colour; names are violet, in the
    card and in the journey's line of segments."""
    sid = _pick(sample_store, pl.lit(True))
    visitor = sample_store.scan_sessions().filter(pl.col("id") == sid).collect()["customer_id"]
    j = build_journey(sample_store, visitor[0], as_of=AS_OF_DT, rules=sample_rules).to_dict()
    card = j["sessions"][0]
    red = {"segment_id": "seg-red", "display_name": "Red segment", "color": "#FF0000"}
    at = {"matched_at": card["timing"]["start"], "offset": "0:00:00", "source": "rules"}
    card["segments"] = [{**(card["segments"] or [{}])[0], **at, **red}]
    monkeypatch.delenv("NO_COLOR")
    for view in (card_renderable(card), JourneyView(j)):
        buf = io.StringIO()
        Console(file=buf, width=120, force_terminal=True, color_system="truecolor").print(view)
        out = buf.getvalue()
        before = out[: out.index("Red segment")]
        assert "38;2;255;0;0m" not in before[before.rindex("\x1b") :], before[-30:]
        assert "\x1b[38;2;255;0;0m" in out or isinstance(view, JourneyView)  # (its dot)


def test_the_journey_span_never_folds_a_time_at_80_columns(sample_store: Store) -> None:
    """At 80 columns "... · 2026-10-12 04:18:35 UTC to 2026-10-13" ended a line and the time
    began the next: the dates go on a line of their own when both do not fit."""
    text = render_journey_text(build_journey(sample_store, "C0001").to_dict(), width=80)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    spans = [line for line in text.splitlines() if " to " in line and "UTC" in line]
    assert spans and all(re.search(f"{stamp} to {stamp}", line) for line in spans), spans
    assert "on site (web sessions)" in text


def test_a_journey_wraps_its_segment_and_outcome_names_never_cuts_them(
    sample_store: Store,
) -> None:
    """At 80 columns a visit's segment line ended "..., Searched, Fa…": the last name was
    cut. The names wrap under the visit, each whole."""
    from jtrack.core.rules import parse_rules

    names = [
        "Visitors browsing the shop on any page at all",
        "Every page view of the whole visit counted",
        "Final segment with a rather long display name",
    ]
    text = "".join(
        f'[[segment]]\nid = "s{i}"\ndisplay_name = "{name}"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n'
        for i, name in enumerate(names)
    )
    journey = build_journey(sample_store, "C0001", rules=parse_rules(text, "r.toml"))
    out = render_journey_text(journey.to_dict(), width=80)
    flat = " ".join(line.strip() for line in out.splitlines())
    assert all(name in flat for name in names)
    assert "…" not in "".join(line for line in out.splitlines() if "segments" in line)


def test_segments_matched_at_one_moment_are_in_one_order_in_the_map_and_the_list(
    sample_store: Store, picks: dict[str, str]
) -> None:
    """The journey map listed segments matched at one event in the rules file's order, the
    "Segments matched" section by id: two orders on one card."""
    from jtrack.core.rules import parse_rules

    text = "".join(
        f'[[segment]]\nid = "{sid}"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n'
        for sid in ("zeta", "alpha", "mid")
    )
    card = build_card(
        sample_store, picks["known"], rules=parse_rules(text, "r.toml"), as_of=AS_OF_DT
    ).to_dict()
    listed = [x["segment_id"] for x in card["segments"] if x["source"] == "rules"]
    mapped = [e["segment_id"] for e in card["journey"] if e["kind"] == "segment_assigned"]
    mapped = [x for x in mapped if x in listed]
    assert listed == mapped == ["alpha", "mid", "zeta"]


def test_a_store_numbered_by_the_earlier_rule_reads_the_visits_of_today(tmp_path: Path) -> None:
    """Until its next run rebuilds it, a store numbered by the earlier rule (every type of
    session counted) holds visit 3 for a second web visit after a delivery: a card counts
    the visits (web sessions) itself, so it never reads "visit 3 of 2"; a delivery's card
    is in the visitor's zone on the site, where the export gives it none."""
    rows = [
        flat_event("w1", "v", T0, geolocation_timezone="Europe/Berlin"),
        flat_event("d1", "v", T0 + timedelta(hours=1), kind="custom",
                   event_name="order_dispatched", source_session_type="delivery",
                   source_session_id="order-1"),
        flat_event("w2", "v", T0 + timedelta(hours=2), geolocation_timezone="Europe/Berlin"),
    ]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    for part in (store.root / "current" / "sessions").glob("*.parquet"):  # the earlier rule
        frame = pl.read_parquet(part)
        old = pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over(
            "customer_id", order_by="created_date"
        )
        frame.with_columns(visit_number=old).write_parquet(part)
    version = store.root / "versions" / str(store.current_name())
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["options"]["visit_rule"]  # (as the earlier jtrack wrote it)
    (version / "manifest.json").write_text(json.dumps(manifest))
    store.refresh()
    parts = (store.root / "current" / "sessions").glob("*.parquet")
    raw = pl.concat([pl.read_parquet(p) for p in parts]).sort("created_date")
    assert raw["visit_number"].to_list() == [1, 2, 3]
    # the store reads them as today's, for every reader (listings, rules, cards)
    stored = store.scan_sessions().sort("created_date").collect()
    assert stored["visit_number"].to_list() == [1, None, 2]
    web2, delivery = stored.filter(pl.col("type") == "web")["id"][1], stored["id"][1]
    assert build_card(store, web2, as_of=AS_OF_DT).to_dict()["visit"] == {"number": 2, "of": 2}
    card = build_card(store, delivery, as_of=AS_OF_DT).to_dict()
    assert card["visit"]["number"] is None
    assert card["timing"]["timezone"] == "Europe/Berlin" and card["location"]["timezone"] is None
    journey = build_journey(store, "v", as_of=AS_OF_DT).to_dict()
    assert [c["visit"] for c in journey["sessions"]] == [
        {"number": 2, "of": 2}, {"number": None, "of": 2}, {"number": 1, "of": 2}
    ]  # fmt: skip


def test_a_session_without_a_zone_takes_a_persons_zone_alike_in_card_and_journey(
    tmp_path: Path,
) -> None:
    """The borrowed zone was the latest session's, a crawler's included, and the journey
    (people only) took another than the card: both take the latest web session of a person
    that has one."""
    ua = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)"
    rows = [
        flat_event("w1", "v", T0, geolocation_timezone="Europe/Berlin"),
        flat_event("d1", "v", T0 + timedelta(hours=1), kind="custom",
                   event_name="order_dispatched", source_session_type="delivery",
                   source_session_id="order-1"),
        flat_event("b1", "v", T0 + timedelta(hours=2), geolocation_timezone="America/New_York",
                   user_agent_string=ua),
    ]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    sessions = store.scan_sessions().collect()
    assert set(sessions["traffic_class"].to_list()) == {"human", "ai_agent"}
    delivery = sessions.filter(pl.col("type") == "delivery")["id"][0]
    card = build_card(store, delivery, as_of=AS_OF_DT).to_dict()
    journey = build_journey(store, "v", as_of=AS_OF_DT).to_dict()
    (in_journey,) = [c for c in journey["sessions"] if c["session"]["id"] == delivery]
    assert card["timing"]["timezone"] == in_journey["timing"]["timezone"] == "Europe/Berlin"


def test_a_card_writes_its_times_as_the_listings_do(tmp_path: Path) -> None:
    """Cards and journeys cut times to milliseconds where `sessions` and `rules explain`
    kept the store's microseconds: the same instant written two ways."""
    rows = [
        flat_event(
            "a", "v", T0 + timedelta(microseconds=123456), geolocation_timezone="Europe/London"
        ),
        flat_event("b", "v", T0 + timedelta(minutes=1), geolocation_timezone="Europe/London"),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    sid = store.scan_sessions().collect()["id"][0]
    res = CliRunner().invoke(app, ["sessions", "--store", str(store.root), "-f", "json"])
    listed = json.loads(res.stdout)[0]["created_date"]
    card = build_card(store, sid, as_of=T0 + timedelta(days=1)).to_dict()
    assert listed == card["timing"]["start"] == card["journey"][0]["time"]
    assert listed.endswith(".123456Z") and card["journey"][1]["time"].endswith(":00.000Z")
    # the renderers read the fraction and the offset whatever the fraction's digits (a
    # tooltip said "(456+01:00)"; the details cut the UTC time but not the local one)
    page = card_html(card)
    assert "(+01:00)" in page and "456+01:00" not in page
    details = render_card_text(card, width=120, details=True)
    assert "09:00:00.123456 UTC" in details and "10:00:00.123456+01:00" in details


def test_matches_at_one_moment_are_listed_by_id_as_sessions_rules_lists_them(
    tmp_path: Path,
) -> None:
    """The export's segment events and jtrack's own matched at one moment: the card's map
    and its section list them by id, as `sessions --rules` does (the card put the export's
    first)."""
    from jtrack.core.rules import parse_rules, session_rule_columns

    def seg(eid: str, sid: str) -> dict[str, Any]:
        kind = {"kind": "segment_assigned", "event_type": "SegmentAssignmentEvent"}
        return flat_event(eid, "v", T0, event_name=None, segment_id=sid, **kind)

    rows = [flat_event("p", "v", T0), seg("x1", "seg-zz"), seg("x2", "seg-aa")]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    rules = parse_rules(
        '[[segment]]\nid = "seg-mm"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n',
        "r.toml",
    )
    sid = store.scan_sessions().collect()["id"][0]
    card = build_card(store, sid, rules=rules, as_of=T0 + timedelta(days=1)).to_dict()
    listed = [x["segment_id"] for x in card["segments"]]
    mapped = [e["segment_id"] for e in card["journey"] if e["kind"] == "segment_assigned"]
    columns = session_rule_columns(evaluate_store(store, rules))["segments"][0].to_list()
    assert listed == mapped == columns == ["seg-aa", "seg-mm", "seg-zz"]


def test_a_journeys_cookies_are_told_apart_however_alike(tmp_path: Path) -> None:
    """A contact's journey over two cookies sharing their first 8 characters said "visit 1
    of 1 on cookie hhhhhhhh" for both visits (text and HTML)."""
    a, b = "hhhhhhhh-0000-4000-8000-000000000008", "hhhhhhhh-0000-4000-8000-000000000009"
    src = tmp_path / "e.parquet"
    flat_frame(
        [flat_event("e1", a, T0), flat_event("e2", b, T0 + timedelta(hours=3))]
    ).write_parquet(src)
    book = tmp_path / "contacts.csv"
    book.write_text(f"contact_id,name,cookie_ids\nK,Kim,{a};{b}\n")
    st = str(tmp_path / "s")
    res = _run("sessionize", str(src), "--contacts", str(book), "--store", st, "-q")
    assert res.exit_code == 0, res.stderr
    text = _run("journey", "K", "--store", st, "--as-of", AS_OF)
    assert text.exit_code == 0, text.stderr
    for cookie in (a, b):  # (they differ in their last character: shown whole)
        assert f"on cookie {cookie}" in " ".join(text.stdout.split()), text.stdout
    page = tmp_path / "p.html"
    html = _run("journey", "K", "--store", st, "--as-of", AS_OF, "-f", "html", "-o", str(page))
    assert html.exit_code == 0, html.stderr
    assert f"on cookie {a}" in page.read_text() and f"on cookie {b}" in page.read_text()


def test_a_web_action_is_not_called_an_offer_whatever_its_state(tmp_path: Path) -> None:
    """A web action whose state was `frequencyCapReached` (nothing offered) was listed as
    "offer Chat (frequencyCapReached)": Genesys' web actions are qualified, offered,
    accepted, ... or capped; the state follows the action's name."""
    rows = [
        flat_event("p1", "v", T0),
        flat_event(
            "w1", "v", T0 + timedelta(minutes=1), kind="web_action", event_type="WebActionEvent",
            event_name=None, action_state="frequencyCapReached", action_media_type="webchat",
            action_map_id="am-9", action_map_display_name="Chat",
        ),
    ]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    sid = Store.open(st).scan_sessions().select("id").collect().item()
    res = _run("card", sid, "--store", st, "--as-of", AS_OF, "--details", "--no-rules")
    assert res.exit_code == 0, res.stderr
    flat = " ".join(res.stdout.split())
    assert "action Chat (frequencyCapReached)" in flat and "offer" not in flat, res.stdout
    page = tmp_path / "card.html"
    html = _run("card", sid, "--store", st, "--as-of", AS_OF, "--no-rules", "-o", str(page))
    assert html.exit_code == 0 and "Offer" not in page.read_text()
    assert "Web action: Chat (frequencyCapReached)" in page.read_text()
    text = _run("card", sid, "--store", st, "--as-of", AS_OF, "--no-rules", "--ascii")
    assert "[ACT]" in text.stdout and "[OFR]" not in text.stdout


@pytest.mark.parametrize("zone", ["posix/Europe/London", "right/Europe/London", "Factory"])
def test_a_zone_python_knows_and_polars_does_not_is_no_zone_on_a_card(
    tmp_path: Path, zone: str
) -> None:
    """A visitor's `geolocation_timezone` of `posix/Europe/London` (Python's zone files have
    it, Polars does not) made `card` and `journey` an internal error, exit 1: the card now
    shows UTC alone, as for a name no one knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        pytest.skip(f"this system's zone files lack {zone} (nothing to check)")
    rows = [
        {"event_id": f"e{i}", "customer_id": "v1", "created_date": f"2026-10-25T0{i}:40:00Z",
         "event_type": "WebEvent", "event_name": "page_viewed", "geolocation_timezone": zone}
        for i in (0, 1)
    ]  # fmt: skip
    src = tmp_path / "f.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = tmp_path / "st"
    run_sessionize([src], store)
    sid = Store.open(store).scan_sessions().collect().get_column("id")[0]
    runner = CliRunner()
    for args in (["card", sid], ["journey", "v1"]):
        res = runner.invoke(app, [*args, "--store", str(store)])
        assert res.exit_code == 0, res.stderr
        assert "UTC" in res.stdout
    res = runner.invoke(app, ["card", sid, "--store", str(store), "-f", "json"])
    assert res.exit_code == 0, res.stderr
    notes = json.loads(res.stdout)["notes"]
    assert f"time zone {zone!r} in the export is not a known IANA zone" in notes


def test_at_40_columns_a_card_never_splits_an_id_a_url_or_a_time(sample_store: Store) -> None:
    """At 40 columns `card` split ids and URLs mid-value (`Session id  b2278ff8-a57b-932c-1f`
    then `31-b031eaed1e1c`; `https://www.facebook.` then `com/`), and `journey` folded
    "... to 2026-10-12" then "22:14:34 UTC"; a segment's line cut its time (`05:3…`). A
    value that does not fit beside its label goes on lines of its own under it, whole; a
    time stays with its date, and when a match was made goes under its name."""
    sid = str(
        sample_store.scan_sessions()
        .filter(pl.col("id").str.starts_with("b2278ff8"))
        .select("id")
        .collect()
        .item()
    )
    card = build_card(sample_store, sid, as_of=AS_OF_DT).to_dict()
    text = render_card_text(card, width=40)
    lines = text.splitlines()
    assert all(cell_len(line) <= 40 for line in lines)
    ids = [card["session"]["id"], card["contact"]["customer_id"], card["referrer"]["url"]]
    ids.append(card["session"]["source_session_id"])
    for value in ids:
        assert value and any(value in line for line in lines), (value, text)
    at = next(i for i, line in enumerate(lines) if line.strip() == "Session id")
    assert lines[at + 1].strip() == sid  # (under its label)
    matched = [line for line in lines if re.match(r"\s+at \d+:\d\d:\d\d", line)]
    assert matched and all(re.search(r"\d\d:\d\d:\d\d UTC", x) for x in matched), text
    journey = render_journey_text(
        build_journey(sample_store, card["contact"]["customer_id"]).to_dict(), width=40
    )
    for line in journey.splitlines():
        assert cell_len(line) <= 40
        assert not re.search(r"\d{4}-\d\d-\d\d$", line), line  # (no date without its time)
        assert not re.match(r"\s*\d\d:\d\d:\d\d UTC", line), line


def _card_of(sample_store: Store, prefix: str) -> dict[str, Any]:
    sid = str(
        sample_store.scan_sessions()
        .filter(pl.col("id").str.starts_with(prefix))
        .select("id")
        .collect()
        .item()
    )
    return build_card(sample_store, sid, as_of=AS_OF_DT).to_dict()


TIME = r"\d\d:\d\d(:\d\d(\.\d+)?)?"


@pytest.mark.parametrize("width", [20, 24, 30, 40])
def test_a_date_time_too_wide_for_its_line_breaks_between_date_and_time(
    sample_store: Store, width: int
) -> None:
    """`card --details` at 40 columns printed `2026-10-04 08:11:57.` then `364 UTC`; at 20
    `Start 2026-10-01 10:` then `00:00 UTC`, and `journey` `2026-10-01 01:30:` then `16
    UTC to`: a date-time wider than its line was broken inside its time. It breaks at the
    space between date and time (the zone may go to the next line), a time never split."""
    card = _card_of(sample_store, "dae60ff9")
    texts = [render_card_text(card, width=width, details=True)]
    texts.append(render_card_text(card, width=width, details=True, ascii=True))
    journey = build_journey(sample_store, card["contact"]["customer_id"]).to_dict()
    texts.append(render_journey_text(journey, width=width))
    for text in texts:
        for line in text.splitlines():
            assert cell_len(line) <= width, text
            # (a line ending in a date's time cut short, or starting with a time's rest)
            assert not re.search(r"\d{4}-\d\d-\d\d \d\d:(\d\d:?)?$", line), (line, text)
            assert not re.search(r"\d\d:\d\d:\d\d\.$", line), (line, text)
            assert not re.match(r"\s*(\d\d\d|\d\d:\d\d|\d\d)( UTC| to|$)", line), (line, text)
        dates = re.findall(r"\b2026-10-0\d\b", text)
        times = re.findall(rf"\b{TIME}\b", text)
        assert dates and times


def test_a_separator_in_the_data_is_kept_where_a_line_breaks(sample_store: Store) -> None:
    """With `--ascii`, a page title `Waterproof jackets for hikers - Example Shop - Sale -
    20% off today` at 40 columns printed `hikers` / `Example Shop - Sale` / `20% off
    today`: a ` - ` of the title at a break was dropped as if the card had put it there
    (with UTF-8, a ` · ` likewise). Only the card's own separators are left out there."""
    card = _card_of(sample_store, "dae60ff9")
    for title, ascii in (
        ("Waterproof jackets for hikers - Example Shop - Sale - 20% off today", True),
        ("Waterproof jackets for hikers · Example Shop · Sale · 20% off today", False),
    ):
        card["journey"][0]["page_title"] = title
        card["current_page"]["title"] = title
        for width in (24, 30, 40, 52):
            text = render_card_text(card, width=width, details=True, ascii=ascii)
            assert all(cell_len(line) <= width for line in text.splitlines())
            words = re.sub(r"\s+", " ", text)
            assert title in words, (width, text)
            # (the card's own separators still go at a break: no line ends or starts with one)
            sep = "-" if ascii else "·"
            lines = [line.strip() for line in text.splitlines()]
            ev = [line for line in lines if "page_viewed" in line]
            assert ev and all(not line.endswith(" " + sep) for line in ev), text


def test_journey_details_at_20_columns_wrap_no_label_and_fill_a_line_before_breaking_an_id(
    sample_store: Store,
) -> None:
    """`card --details` at 20 columns left the details 4 cells beside the entries, so their
    labels wrapped (`loca` then `l`, `even` then `t`); a long id under a label broke after
    a short prefix (`tmp-` alone on its line, then `visitorxxx...`). The details go at an
    indent that leaves them room, a label whole on its line; an id fills a line before it
    breaks inside a piece."""
    card = _card_of(sample_store, "dae60ff9")
    long = "tmp-visitor" + "x" * 110 + "-end"
    card["contact"]["customer_id"] = long
    card["journey"][0]["event_id"] = long
    for width in (20, 24, 30):
        text = render_card_text(card, width=width, details=True)
        lines = text.splitlines()
        assert all(cell_len(line) <= width for line in lines), text
        for label in ("time", "local", "event", "event id"):  # (whole, at the line's start)
            assert any(re.match(rf"\s+{label}( |$)", line) for line in lines), (label, text)
        assert not any(line.strip() in ("loca", "l", "even", "t", "tmp-") for line in lines)
        assert re.sub(r"\s", "", text).count(long) == 2


def test_wrapping_a_long_url_costs_in_proportion_to_its_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`card --details` of 1,500 events with 4,000-character URLs took 40.8 s at 40 columns
    (11.9 s before): every cut of a piece wider than a line measured each longer slice
    again. Wrapping measures the text once: the characters it measures grow with the text,
    not faster (counted, not timed)."""
    import rich.cells
    import rich.text
    from rich.text import Text

    import jtrack.render.card as card_module
    from jtrack.render.card import _Glyphs, _wrap_text

    measured = [0]

    def counting(inner: Any) -> Any:
        def measure(text: str, *args: Any, **kw: Any) -> Any:
            measured[0] += len(text)
            return inner(text, *args, **kw)

        return measure

    for module in (card_module, rich.text, rich.cells):
        for name in ("cell_len", "split_graphemes"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting(getattr(module, name)))
    g = _Glyphs(False)

    def work(n: int) -> int:
        url = Text("https://www.shop.test/" + ("productcatalogueentrÿ" * n + "/a-b.c?") * 5)
        measured[0] = 0
        _wrap_text(url, 38, g)
        return measured[0]

    small, large = work(40), work(800)  # (twenty times the text)
    assert large < 40 * small, (small, large)


def test_a_card_of_a_session_of_thousands_of_events_shows_its_first_and_last(
    tmp_path: Path,
) -> None:
    """A crawler's one session of 200,000 events: `card --details` ran minutes and the HTML
    page was 240 MB. The journey map and its list show the first and last CARD_EVENTS / 2
    (a line between says how many are not shown, and that --all shows every one), in the
    terminal, with --details and in HTML; the counts are every event's; JSON has them all."""
    from jtrack.render.text import CARD_EVENTS

    n = 3000
    rows = [flat_event(f"e{i}", "v9", T0 + timedelta(seconds=i)) for i in range(n)]
    store = _tiny_store(tmp_path, rows)
    (sid,) = store.scan_sessions().collect().get_column("id").to_list()
    where = ("--store", str(store.root), "--as-of", AS_OF, "--ascii")
    gap = f"... {n - CARD_EVENTS:,} events not shown: `jtrack card --all` shows every one"
    half = CARD_EVENTS // 2
    shown = [f"e{i}" for i in [*range(half), *range(n - half, n)]]
    for extra in ((), ("--details",)):
        text = _run("card", sid, *where, *extra).stdout
        assert text.count(gap) == 1 and f"{n:,} entries" in text
        mapped = re.findall(r"\[PAG\]\s+Page (e\d+)", text)
        assert mapped == shown
        first, last = text.index("Page e49\n"), text.index("Page e2950\n")
        assert first < text.index(gap) < last
        every = _run("card", sid, *where, *extra, "--all").stdout
        assert gap not in every and len(re.findall(r"\[PAG\]\s+Page (e\d+)", every)) == n
    page = _run("card", sid, "--store", str(store.root), "--as-of", AS_OF, "-f", "html").stdout
    assert page.count('<li class="ev') == CARD_EVENTS
    assert page.count('<tr><td class="nw">') == CARD_EVENTS
    assert page.count(gap.replace("`", "&#x60;")) + page.count(gap) == 2
    assert f"Journey map ({n:,})" in page or f"Journey map ({n})" in page
    full = _run("card", sid, "--store", str(store.root), "-f", "html", "--all").stdout
    assert full.count('<li class="ev') == n
    data = json.loads(_run("card", sid, "--store", str(store.root), "-f", "json").stdout)
    assert len(data["journey"]) == n and data["counts"]["events"] == n
