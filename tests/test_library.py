"""jtrack as a library (the README's "Library"): what a hurried caller gives is taken as the
CLI takes it, or refused with a jtrack.errors class, never a bare Python or Polars error nor
a silently wrong answer."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jtrack.core.rules import parse_rules
from jtrack.engine import run_sessionize
from jtrack.errors import UsageError
from jtrack.store import Store
from jtrack.usecases.card import build_card, build_journey
from jtrack.usecases.live import LiveOptions, live_frame
from jtrack.usecases.report import ReportOptions, report_from_sources, report_from_store
from jtrack.usecases.rules import evaluate_store, explain_store
from jtrack.usecases.sessions import SessionQuery, list_sessions
from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage
from tests.helpers import T0, flat_event, flat_frame

RULES = parse_rules(
    '[[segment]]\nid = "viewer"\n[[segment.pattern]]\n'
    'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n',
    "r.toml",
)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Store, Path]:
    rows = [flat_event(f"e{i}", f"v{i % 3}", T0 + timedelta(minutes=i)) for i in range(9)]
    src = tmp_path / "day1.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    return store, src


def test_a_misspelt_on_error_never_skips_bad_rows_in_a_report_or_a_bill(tmp_path: Path) -> None:
    """`on_error="Fail"` was taken for skip: a report and a bill left a bad row out."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_id": "x"}\n')
    for call in (
        lambda: report_from_sources([bad], on_error="Fail"),
        lambda: UsageInput.from_sources([bad], on_error="raise"),
    ):
        with pytest.raises(UsageError, match="not a way to handle bad rows"):
            call()


def test_one_string_where_a_sequence_is_wanted_is_one_item(built: tuple[Store, Path]) -> None:
    """A session id, a traffic class, a billable class, a rule id or a --where clause given
    as a string was iterated as characters: an empty answer or "'h' is not a class"."""
    store, _ = built
    sid = store.scan_sessions().collect()["id"][0]
    one = evaluate_store(store, RULES, session_ids=sid)
    assert one.segments.equals(evaluate_store(store, RULES, session_ids=[sid]).segments)
    assert one.segments.height == 1
    assert build_journey(store, "v0", traffic="human").to_dict()["totals"]["sessions"] == 1
    assert ReportOptions(traffic="human").traffic == ("human",)
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    assert UsageOptions(as_of=as_of, billable="page_view,search").billable == (
        "page_view",
        "search",
    )
    assert set(explain_store(store, RULES, sid, rule_ids="viewer")["rule_id"]) == {"viewer"}
    q = SessionQuery(where="customer_id=v1")
    assert list_sessions(store, q)["customer_id"].to_list() == ["v1"]


def test_a_store_is_a_store_or_its_folder_everywhere(built: tuple[Store, Path]) -> None:
    """run_sessionize took a path; every reading entry point failed on one with an
    AttributeError."""
    store, _ = built
    path = str(store.root)
    sid = store.scan_sessions().collect()["id"][0]
    assert build_card(path, sid[:8]).to_dict()["session"]["id"] == sid
    assert build_journey(path, "v0").to_dict()["totals"]["sessions"] == 1
    assert report_from_store(path).overview["sessions"] == 3
    assert evaluate_store(store.root, RULES).segments.height == 3
    assert list_sessions(path, SessionQuery()).height == 3
    assert live_frame(path, LiveOptions(as_of=T0 + timedelta(minutes=9))).version
    opts = UsageOptions(as_of=datetime(2026, 11, 1, tzinfo=UTC), month="2026-10")
    assert compute_usage(UsageInput.from_store(path), opts).to_dict()["totals"]
    with pytest.raises(UsageError, match="is no jtrack store"):
        report_from_store(42)


def test_days_and_times_are_taken_as_the_cli_takes_them(built: tuple[Store, Path]) -> None:
    """A naive datetime or ISO text as `since` failed late with a Polars schema error or a
    query-plan dump; a month as text, with an AttributeError."""
    store, _ = built
    every = list_sessions(store, SessionQuery()).height
    naive = SessionQuery(since=T0.replace(tzinfo=None))
    assert naive.since == T0 and list_sessions(store, naive).height == every
    assert SessionQuery(since="2026-10-03T09:00Z").since == T0
    assert ReportOptions(since="2026-10-01").since == date(2026, 10, 1)
    opts = UsageOptions(as_of=datetime(2026, 11, 1, tzinfo=UTC), month="2026-10")
    assert opts.month == date(2026, 10, 1)
    with pytest.raises(UsageError):
        SessionQuery(limit=-1)
    with pytest.raises(UsageError):
        UsageOptions(as_of=20261101)  # type: ignore[arg-type]


def test_no_sources_for_a_new_store_is_refused_not_an_empty_store(tmp_path: Path) -> None:
    """A glob that matched nothing built an empty store without a word."""
    with pytest.raises(UsageError, match="no sources"):
        run_sessionize([], Store.open(tmp_path / "new"))
    assert not (tmp_path / "new").exists()


def test_reading_now_sees_the_version_of_now(built: tuple[Store, Path], tmp_path: Path) -> None:
    """A Store pins the version it first reads (a report never mixes two) until refresh();
    a live frame is of now (it was frozen at the first), and a report says which version
    it read."""
    store, _ = built
    first = live_frame(store, LiveOptions(as_of=T0 + timedelta(hours=1)))
    version = report_from_store(store).source["version"]
    more = tmp_path / "day2.parquet"
    flat_frame([flat_event("n1", "v9", T0 + timedelta(minutes=30))]).write_parquet(more)
    run_sessionize([more], Store.open(store.root))  # (another process's run)
    assert report_from_store(store).source["version"] == version  # (pinned)
    later = live_frame(store, LiveOptions(as_of=T0 + timedelta(hours=1)))
    assert later.version != first.version
    assert report_from_store(store).source["version"] != version


def test_a_run_gives_every_warning_the_cli_says(built: tuple[Store, Path], tmp_path: Path) -> None:
    """`run.warnings` left out what the reading warned of (an empty file) and conflicting
    redeliveries, which `jtrack sessionize` says: `all_warnings()` has them all."""
    store, _ = built
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    run = run_sessionize([empty], store)
    assert any("holds no events" in w for w in run.all_warnings())


def test_wrong_types_are_usage_errors_and_text_is_read_as_the_cli_reads_it(
    built: tuple[Store, Path], tmp_path: Path
) -> None:
    """`gap="30m"` in build_card was a TypeError deep inside, `rebuild="yes"` was taken,
    `buckets="4"` a TypeError, a rules file's path an AttributeError, a negative journey
    limit dropped the oldest card."""
    from jtrack.options import RunOptions

    store, _ = built
    sid = store.scan_sessions().collect()["id"][0]
    assert build_card(store, sid, gap="30m", as_of="2026-10-04").to_dict()["session"]["id"] == sid
    with pytest.raises(UsageError, match="gap 30"):
        build_card(store, sid, gap=30)  # type: ignore[arg-type]
    for bad in ({"rebuild": "yes"}, {"buckets": "4"}, {"force": 1}, {"contacts": 12}):
        with pytest.raises(UsageError):
            RunOptions(**bad)  # type: ignore[arg-type]
    # a path is a file's name, kept as its text (what the manifest and the summary say)
    named = RunOptions(contacts=tmp_path / "c.csv", rejects_path=tmp_path / "r.jsonl")
    assert (named.contacts, named.rejects_path) == (
        str(tmp_path / "c.csv"),
        str(tmp_path / "r.jsonl"),
    )
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[[segment]]\nid = "viewer"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n'
    )
    assert evaluate_store(store, rules_file).segments.height == 3
    assert build_card(store, sid, rules=str(rules_file)).to_dict()["segments"]
    with pytest.raises(UsageError):
        explain_store(store, None, sid)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="below 0"):
        build_journey(store, "v0", limit=-1)


def test_what_the_cli_takes_the_library_takes_and_a_callers_slip_is_a_usage_error(
    built: tuple[Store, Path],
) -> None:
    """explain_store took a full session id only (a prefix, as `jtrack card` takes, was "no
    session"); an unknown column in scan_events was a store problem (exit 1, as if the store
    were damaged); no sources to a bill said ": no export file to read, only a jtrack store"."""
    store, _ = built
    sid = store.scan_sessions().collect()["id"][0]
    whole = explain_store(store, RULES, sid)
    assert whole.height and explain_store(store, RULES, sid[:8]).equals(whole)
    with pytest.raises(UsageError, match="no event column 'nope'"):
        store.scan_events(columns=["event_id", "nope"])
    with pytest.raises(UsageError, match="no export to read"):
        UsageInput.from_sources([])
    with pytest.raises(UsageError, match="no export to read"):
        UsageInput.from_sources(p for p in ())
    for blank in ("", [""], [" "]):  # (they read the current folder)
        with pytest.raises(UsageError, match="an empty source name"):
            UsageInput.from_sources(blank)
    # a naive as_of is a local time in the bill's zone, as `--as-of` text is (it was refused)
    for naive in (datetime(2026, 11, 1), "2026-11-01T00:00"):
        opts = UsageOptions(as_of=naive, tz="Europe/Berlin")
        assert opts.as_of == datetime(2026, 10, 31, 23, tzinfo=UTC)
    # the repeated hour: `fold` picks which; a skipped one is refused, naming as_of
    for fold, utc in ((0, datetime(2026, 10, 25, 0, 30)), (1, datetime(2026, 10, 25, 1, 30))):
        opts = UsageOptions(as_of=datetime(2026, 10, 25, 2, 30, fold=fold), tz="Europe/Paris")
        assert opts.as_of == utc.replace(tzinfo=UTC), fold
    with pytest.raises(UsageError, match=r"^as_of 2026-03-29T02:30:00: no such time"):
        UsageOptions(as_of=datetime(2026, 3, 29, 2, 30), tz="Europe/Paris")
    for edge, tz in ((datetime(1, 1, 1), "Asia/Tokyo"), (datetime(9999, 12, 31, 23), "Etc/GMT+5")):
        with pytest.raises(UsageError, match="out of range"):  # (an OverflowError)
            UsageOptions(as_of=edge, tz=tz)
    # other calls given no text where text is wanted (AttributeErrors)
    with pytest.raises(UsageError, match="is no text"):
        build_journey(store, None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="is no session type"):
        SessionQuery(type=5)  # type: ignore[arg-type]


def test_a_bill_of_a_month_is_of_a_whole_month(built: tuple[Store, Path]) -> None:
    """`month="2026-10-15"` (or a mid-month date) billed 0 events for a month that had
    them; a date as SessionQuery's `since` was refused; text `as_of` of a bill, a
    `traffic=None` and a `limit="5"` were bare Python errors."""
    store, _ = built
    as_of = datetime(2026, 12, 31, tzinfo=UTC)
    for month in ("2026-10-15", date(2026, 10, 15)):
        with pytest.raises(UsageError):
            UsageOptions(as_of=as_of, month=month)  # type: ignore[arg-type]
    whole = UsageOptions(as_of="2026-12-31", month=date(2026, 10, 1))
    assert whole.as_of == as_of
    assert UsageOptions(as_of=as_of, month="2026-10-01").month == date(2026, 10, 1)
    with pytest.raises(UsageError, match="not a known time zone"):
        UsageOptions(as_of="2026-12-31", tz="Mars/Base")
    assert LiveOptions(as_of=date(2026, 10, 4)).as_of == datetime(2026, 10, 4, tzinfo=UTC)
    assert compute_usage(UsageInput.from_store(store), whole).to_dict()["month"]["month_to_date"]
    since = SessionQuery(since=date(2026, 10, 3))
    assert since.since == datetime(2026, 10, 3, tzinfo=UTC)
    assert list_sessions(store, since).height == 3
    for bad in ({"traffic": None}, {"limit": "5"}):
        with pytest.raises(UsageError):
            list_sessions(store, SessionQuery(**bad))  # type: ignore[arg-type]


def test_the_reader_options_and_stdin_are_taken_as_the_cli_takes_them(
    built: tuple[Store, Path], tmp_path: Path
) -> None:
    """read_events took on_error="Fail" for skip and one path for its characters;
    SessionQuery(ttl="30d") and UsageOptions(users="10") failed deep inside (a Polars error,
    an allowance of "1010101010"), users=-10 was a negative allowance, engaged_seconds="10"
    a Polars error; run_sessionize(["-"], stdin=io.StringIO(...)) a TypeError."""
    import io

    from jtrack.read import read_events

    store, src = built
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_id": "x"}\n')
    with pytest.raises(UsageError, match="not a way to handle bad rows"):
        read_events([bad], on_error="Fail")  # type: ignore[arg-type]
    assert read_events(str(src)).events.height == 9
    listed = list_sessions(store, SessionQuery(as_of="2026-12-20", ttl="30d"))  # type: ignore[arg-type]
    assert listed.height == list_sessions(store, SessionQuery(as_of="2026-12-20")).height
    for bad_query in ({"ttl": "soon"}, {"ttl": 30}):
        with pytest.raises(UsageError):
            SessionQuery(**bad_query)  # type: ignore[arg-type]
    for users in ("10", -10, 2.5):
        with pytest.raises(UsageError, match="users"):
            UsageOptions(as_of="2026-10-20T00:00:00Z", users=users, per_user=5)  # type: ignore[arg-type]
    for secs in ("10", -5):
        with pytest.raises(UsageError, match="engaged_seconds"):
            ReportOptions(engaged_seconds=secs)  # type: ignore[arg-type]
    # numbers from numpy (a notebook's), and a whole float, are taken as before
    import numpy as np

    opts = UsageOptions(as_of="2026-10-20T00:00:00Z", users=np.int64(5), per_user=1000.0)  # type: ignore[arg-type]
    assert opts.allowance == 5000 and isinstance(opts.users, int)
    assert ReportOptions(engaged_seconds=np.int64(10)).engaged_seconds == 10  # type: ignore[arg-type]
    assert SessionQuery(ttl=np.timedelta64(30, "D")).ttl == timedelta(days=30)  # type: ignore[arg-type]
    for loose in (np.timedelta64("NaT"), np.timedelta64(5), np.timedelta64(1, "M")):
        with pytest.raises(UsageError, match="ttl"):
            SessionQuery(ttl=loose)  # type: ignore[arg-type]
    text = "".join(
        f'{{"id": "t{i}", "customerId": "v", "eventType": "WebEvent", '
        f'"createdDate": "2026-10-01T10:0{i}:00Z", "webEvent": {{"eventName": "page_viewed", '
        f'"page": {{"url": "https://x.example/"}}}}}}\n'
        for i in range(3)
    )
    run = run_sessionize(["-"], Store.open(tmp_path / "piped"), stdin=io.StringIO(text))
    assert run.summary.events_kept == 3


BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_rules_of_a_whole_store_count_people_only_as_the_cli_does(tmp_path: Path) -> None:
    """evaluate_store(store, RULES) evaluated every traffic class where `jtrack rules report`
    and every other reader count people only."""
    rows = [flat_event("p1", "person", T0), flat_event("b1", "bot", T0, user_agent_string=BOT)]
    src = tmp_path / "day.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run_sessionize([src], store)
    sessions = store.scan_sessions().select("id", "customer_id").collect()
    person = sessions.filter(customer_id="person")["id"].item()
    bot = sessions.filter(customer_id="bot")["id"].item()
    assert evaluate_store(store, RULES).segments["session_id"].to_list() == [person]
    assert evaluate_store(store, RULES, traffic="all").segments.height == 2
    # sessions named by id are evaluated whatever their class (a card of a bot's session)
    assert evaluate_store(store, RULES, session_ids=[bot]).segments.height == 1


def test_rules_of_sessions_take_id_prefixes_and_refuse_unknown_ids(
    built: tuple[Store, Path],
) -> None:
    """evaluate_store(session_ids=[PREFIX]) returned empty frames, as did an unknown id,
    without a word; ids take unique prefixes wherever an id is asked for."""
    from jtrack.errors import AmbiguousIdError, NotFoundError

    store, _ = built
    ids = sorted(store.scan_sessions().collect()["id"])
    whole = evaluate_store(store, RULES, session_ids=ids)
    assert whole.segments.height == 3
    prefixes = [sid[:8].upper() for sid in ids]
    assert evaluate_store(store, RULES, session_ids=prefixes).segments.equals(whole.segments)
    with pytest.raises(NotFoundError):
        evaluate_store(store, RULES, session_ids=[ids[0], "zzzz"])
    common = ""  # (the longest start two ids share, if any: ambiguous)
    for a, b in zip(ids[0], ids[1], strict=True):
        if a != b:
            break
        common += a
    if common:
        with pytest.raises(AmbiguousIdError):
            evaluate_store(store, RULES, session_ids=[common])
    with pytest.raises(UsageError, match="empty session id"):
        evaluate_store(store, RULES, session_ids=[" "])


def test_deduplicate_tells_conflicts_as_a_run_does(tmp_path: Path) -> None:
    """deduplicate hashed every column with traits in delivered order: a copy whose traits
    came in another order, with another IP address or with `traits: {}` was a conflict that
    `jtrack sessionize` (the content rule) does not report."""
    from jtrack.core.dedupe import deduplicate
    from jtrack.read import read_events

    def line(eid: str, title: str = "Home", **web: object) -> str:
        import json

        page = {"url": "https://shop.example/", "title": title}
        ev = {
            "id": eid,
            "customerId": "v1",
            "customerIdType": "cookie",
            "session": {"id": "s1", "type": "web"},
            "eventType": "WebEvent",
            "createdDate": "2026-10-01T10:00:00Z",
            "webEvent": {"eventName": "page_viewed", "page": page, **web},
        }
        return json.dumps(ev) + "\n"

    email = {"dataType": "string", "value": "a@example.com"}
    name = {"dataType": "string", "value": "Ann"}
    src = tmp_path / "dups.jsonl"
    src.write_text(
        line("d1", traits={"email": email, "givenName": name})
        + line("d1", traits={"givenName": name, "email": email})
        + line("d2", ipAddress="192.0.2.1")
        + line("d2", ipAddress="192.0.2.99")
        + line("d3", traits={})
        + line("d3")
        + line("d4", title="Home")
        + line("d4", title="Sale")
    )
    dedup = deduplicate(read_events([src]).events)
    assert dedup.duplicates == 4
    run = run_sessionize([src], Store.open(tmp_path / "store"))
    assert run.conflicts is not None
    assert dedup.conflicts["event_id"].to_list() == run.conflicts["event_id"].to_list() == ["d4"]
    # a frame of fewer columns (a caller's own) is compared on those it has: the content
    # rule's columns it lacks were a ColumnNotFoundError ("traits") at the first duplicate
    narrow = read_events([src]).events.select(
        "event_id", "customer_id", "created_date", "page_title"
    )
    dedup = deduplicate(narrow)
    assert dedup.duplicates == 4 and dedup.conflicts["event_id"].to_list() == ["d4"]


def test_a_listings_columns_are_one_field_as_text_and_a_misspelt_one_is_refused(
    built: tuple[Store, Path],
) -> None:
    """`columns="duration_in_seconds"` and a misspelt column returned only `id`, silently."""
    store, _ = built
    one = list_sessions(store, SessionQuery(columns="duration_in_seconds"))  # type: ignore[arg-type]
    assert one.columns == ["id", "duration_in_seconds"]
    with pytest.raises(UsageError, match="unknown field 'duraton'") as err:
        list_sessions(store, SessionQuery(columns=("duraton",)))
    assert "duration" in (err.value.hint or "")
    with pytest.raises(UsageError, match="come from rules"):
        list_sessions(store, SessionQuery(columns=("id", "segments")))


def test_a_report_or_a_bill_of_files_fails_on_a_bad_row_unless_told_to_skip(
    built: tuple[Store, Path], tmp_path: Path
) -> None:
    """report_from_sources and UsageInput.from_sources skipped bad rows by default, where
    the CLI, read_events and run_sessionize fail on the first."""
    from jtrack.errors import RejectedRowError

    _, src = built
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_id": "x"}\n')
    opts = UsageOptions(as_of=datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(RejectedRowError):
        report_from_sources([src, bad])
    with pytest.raises(RejectedRowError):
        compute_usage(UsageInput.from_sources([src, bad]), opts)
    assert report_from_sources([src, bad], on_error="skip").overview["sessions"] == 3
    assert compute_usage(UsageInput.from_sources([src, bad], on_error="skip"), opts).to_dict()


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_store_contacts_or_rejects_name_is_refused_as_the_cli_refuses_it(
    built: tuple[Store, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    """run_sessionize(files, "") and Store.open("") built or opened a store in the current
    folder (the CLI refuses a blank --store); contacts="" and rejects_path="" gave confusing
    file errors."""
    store, src = built
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"^store .*an empty name"):
        run_sessionize([src], blank)
    with pytest.raises(UsageError, match=r"^store .*an empty name"):
        Store.open(blank)
    with pytest.raises(UsageError, match=r"^store .*an empty name"):
        list_sessions(blank, SessionQuery())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day1.parquet", "store"]
    for name in ("contacts", "rejects_path"):
        with pytest.raises(UsageError, match=f"{name} .*an empty name"):
            run_sessionize([src], store, **{name: blank})
    if blank.strip() == "" and blank:  # (a name of spaces, as a Path or from the environment)
        with pytest.raises(UsageError, match=r"^store .*an empty name"):
            Store.open(Path(blank))
        monkeypatch.setenv("JTRACK_STORE", blank)
        from typer.testing import CliRunner

        from jtrack.cli import app

        res = CliRunner().invoke(app, ["sessionize", str(src), "-q"])
        assert res.exit_code == 2 and "$JTRACK_STORE is blank" in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day1.parquet", "store"]


def test_an_aware_time_in_a_named_zone_is_taken(built: tuple[Store, Path]) -> None:
    """A datetime in a ZoneInfo zone as `since`, `until` or a bill's `as_of` was a Polars
    SchemaError (fixed offsets and UTC worked)."""
    from zoneinfo import ZoneInfo

    store, _ = built
    paris = ZoneInfo("Europe/Paris")
    q = SessionQuery(since=datetime(2026, 10, 3, 11, tzinfo=paris), until=datetime(2026, 10, 4))
    assert q.since == T0 and q.since.tzinfo is UTC
    assert list_sessions(store, q).height == 3
    until = SessionQuery(until=datetime(2026, 10, 3, 11, 1, tzinfo=paris))
    assert list_sessions(store, until).height == 1
    opts = UsageOptions(as_of=datetime(2026, 11, 1, 1, tzinfo=paris), month="2026-10")
    assert opts.as_of == datetime(2026, 11, 1, tzinfo=UTC)
    assert compute_usage(UsageInput.from_store(store), opts).to_dict()["totals"]


def test_wrong_types_at_the_entry_points_are_usage_errors_naming_the_argument(
    built: tuple[Store, Path],
) -> None:
    """Bare TypeErrors, AttributeErrors and Polars errors deep inside, for a number where text
    is wanted, text for a flag or a count, None for a zone, a dict for options, a third
    positional argument to run_sessionize; `list_sessions(store, None)` is the default
    query."""
    from jtrack.read import read_events

    store, src = built
    cases = [
        ("customer", lambda: SessionQuery(customer=5)),
        ("descending", lambda: SessionQuery(descending="yes")),
        ("traffic", lambda: SessionQuery(traffic=5)),
        ("traffic", lambda: ReportOptions(traffic=[5])),
        ("limit", lambda: build_journey(store, "v0", limit="2")),
        ("tz", lambda: ReportOptions(tz=None)),
        ("max_line_bytes", lambda: read_events([src], max_line_bytes="1MB")),
        ("sources", lambda: read_events(None)),
        ("run_sessionize", lambda: run_sessionize([src], store, "skip")),
        ("sources", lambda: run_sessionize(None, store)),
        ("options", lambda: report_from_store(store, {"tz": "UTC"})),
        ("opts", lambda: compute_usage(UsageInput.from_store(store), {"month": "2026-10"})),
    ]
    for name, call in cases:
        with pytest.raises(UsageError, match=f"^{name}[ :]") as err:
            call()
        assert err.value.hint, name
    assert list_sessions(store, None).equals(list_sessions(store, SessionQuery()))
    assert run_sessionize([src], store, options=None).summary.sessions == 3
    # a whole number of NumPy's is a whole number (it was refused once checked)
    import numpy as np

    assert build_journey(store, "v0", limit=np.int64(1)).to_dict()["sessions"]
    assert read_events([src], max_line_bytes=np.int64(10_000)).events.height


USER_SCRIPT = """
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from jtrack.core.rules import load_rules
from jtrack.engine import run_sessionize
from jtrack.options import RunOptions, SessionizeOptions
from jtrack.store import Store
from jtrack.usecases.card import build_card, build_journey
from jtrack.read import read_events
from jtrack.usecases.report import ReportOptions, report_from_sources, report_from_store
from jtrack.usecases.rules import evaluate_store, explain_store
from jtrack.usecases.sessions import SessionQuery, list_sessions
from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage


def main(folder: str, events: Path) -> None:
    store = Store.open(folder)
    run = run_sessionize([events], store, contacts="contacts.csv", on_error="skip")
    run_sessionize(str(events), folder, session=SessionizeOptions(gap=timedelta(minutes=30)))
    run_sessionize([events], Path(folder), options=RunOptions(lock_wait=5))
    named = RunOptions(contacts=Path("contacts.csv"), rejects_path=Path("rejects.jsonl"))
    run_sessionize([events], folder, options=named, rejects=Path("rejects.jsonl"))
    print(run.summary.sessions, run.all_warnings())
    query = SessionQuery(
        since=date(2026, 10, 1),
        until="2026-10-05T00:00Z",
        as_of=datetime(2026, 10, 5, tzinfo=UTC),
        traffic="human",
        where="device_category=mobile",
        columns=["duration_in_seconds"],
        ttl="30d",
    )
    print(list_sessions(folder, query).height, list_sessions(Path(folder)).height)
    print(SessionQuery(since=datetime(2026, 10, 1), traffic=["human", "ai_agent"]).since)
    card = build_card(folder, "97b6a5df", as_of="2026-10-04", gap="30m", rules="rules.toml")
    journey = build_journey(Path(folder), "v1", traffic="all", limit=2)
    print(card.to_dict(), journey.to_dict())
    opts = ReportOptions(tz="Europe/Paris", since="2026-10-01", until=date(2026, 10, 8))
    print(report_from_store(folder, opts).to_dict(), ReportOptions(traffic=["human"]))
    bill = UsageOptions(as_of="2026-11-01", month="2026-10", billable="page_view")
    print(compute_usage(UsageInput.from_store(Path(folder)), bill).to_dict())
    print(UsageOptions(as_of=datetime(2026, 11, 1, tzinfo=UTC), month=date(2026, 10, 1)))
    print(evaluate_store(folder, "rules.toml", traffic="all").segments.height)
    # one path, not in a list: one source
    print(read_events(events).events.height, report_from_sources(events).to_dict())
    print(UsageInput.from_sources(events, on_error="skip"))
    print(evaluate_store(store, Path("rules.toml"), session_ids=["97b6a5df"]).outcomes)
    print(evaluate_store(Path(folder), load_rules("rules.toml")).segments)
    print(explain_store(folder, "rules.toml", "97b6a5df").height)
"""


def test_a_users_script_of_the_documented_forms_passes_mypy_strict(tmp_path: Path) -> None:
    """jtrack had no py.typed, and its signatures refused the forms the README documents
    (a store's folder, text times and days, a traffic class, a rules file's path): a user's
    `mypy --strict` failed on correct code."""
    pytest.importorskip("mypy", reason="pip install mypy")
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    assert (root / "jtrack" / "py.typed").is_file()
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    config = ["--config-file", str(tmp_path / "mypy.ini"), "--cache-dir", str(tmp_path / "c")]
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", *config, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(root)},
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
