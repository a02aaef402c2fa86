"""`jtrack usage` (jtrack.usecases.usage): billable events, time zones, allowance, cron."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import zoneinfo
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.errors import ExitCode, UsageError
from jtrack.read import read_events
from jtrack.usecases.usage import (
    CLASSES,
    ROW_COLUMNS,
    SUMMARY_COLUMNS,
    OutputLockedError,
    UsageInput,
    UsageOptions,
    compute_usage,
    output_lock,
    usage_config,
)
from tests.helpers import flat_event, flat_frame, genesys_line

ROOT = Path(__file__).resolve().parent.parent

runner = CliRunner()
GOLDEN = ROOT / "tests" / "golden"
EXAMPLE_FILES = [
    "tests/data/examples/genesys-events.jsonl",
    "tests/data/examples/genesys-events-page.json",
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def usage_of(
    rows: list[dict[str, Any]] | pl.DataFrame, as_of: str = "2026-12-01T00:00:00Z", **opts: Any
) -> Any:
    frame = rows if isinstance(rows, pl.DataFrame) else flat_frame(rows)
    return compute_usage(UsageInput.from_frame(frame), UsageOptions(as_of=at(as_of), **opts))


def by_period(report: Any, column: str = "billable") -> dict[str, int]:
    return {p: v for p, v in report.rows.select("period", column).iter_rows() if v}


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args: str) -> Any:
    return runner.invoke(app, ["usage", *args])


# --------------------------------------------------------------------------------------------
# Time zones
# --------------------------------------------------------------------------------------------


def test_a_millisecond_before_utc_midnight_is_the_earlier_day() -> None:
    rows = [
        flat_event("a", "c1", at("2026-10-03T23:59:59.999Z")),
        flat_event("b", "c1", at("2026-10-04T00:00:00.000Z")),
    ]
    assert by_period(usage_of(rows, month=date(2026, 10, 1))) == {
        "2026-10-03": 1,
        "2026-10-04": 1,
    }


def test_days_are_local_to_the_time_zone() -> None:
    rows = [
        flat_event("a", "c1", at("2026-10-03T21:59:59Z")),  # 23:59:59 in Paris (UTC+2)
        flat_event("b", "c1", at("2026-10-03T22:00:00Z")),  # 00:00 on the 4th in Paris
        flat_event("c", "c1", at("2026-10-04T03:59:59Z")),  # 23:59:59 on the 3rd in New York
    ]
    paris = usage_of(rows, month=date(2026, 10, 1), tz="Europe/Paris")
    assert by_period(paris) == {"2026-10-03": 1, "2026-10-04": 2}
    new_york = usage_of(rows, month=date(2026, 10, 1), tz="America/New_York")
    assert by_period(new_york) == {"2026-10-03": 3}


def test_quarter_hour_offsets_split_at_local_midnight() -> None:
    rows = [
        flat_event("a", "c1", at("2026-10-03T18:14:59.999999Z")),  # 23:59:59.999999 Kathmandu
        flat_event("b", "c1", at("2026-10-03T18:15:00Z")),  # 00:00 on the 4th (UTC+05:45)
    ]
    report = usage_of(rows, month=date(2026, 10, 1), tz="Asia/Kathmandu")
    assert by_period(report) == {"2026-10-03": 1, "2026-10-04": 1}


def test_the_day_clocks_go_back_has_25_hours_of_events() -> None:
    # Europe/Paris leaves summer time on 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
    rows = [
        flat_event("a", "c1", at("2026-10-24T21:59:59Z")),  # 23:59:59 CEST on the 24th
        flat_event("b", "c1", at("2026-10-24T22:00:00Z")),  # 00:00 CEST on the 25th
        flat_event("c", "c1", at("2026-10-25T00:30:00Z")),  # 02:30 CEST (first 02:30)
        flat_event("d", "c1", at("2026-10-25T01:30:00Z")),  # 02:30 CET (second 02:30)
        flat_event("e", "c1", at("2026-10-25T22:59:59Z")),  # 23:59:59 CET on the 25th
        flat_event("f", "c1", at("2026-10-25T23:00:00Z")),  # 00:00 CET on the 26th
    ]
    report = usage_of(rows, month=date(2026, 10, 1), tz="Europe/Paris")
    assert by_period(report) == {"2026-10-24": 1, "2026-10-25": 4, "2026-10-26": 1}


def test_the_day_clocks_go_forward_has_23_hours_of_events() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; the day runs 23:00Z (28th) to 22:00Z.
    rows = [
        flat_event("a", "c1", at("2026-03-28T22:59:59Z")),
        flat_event("b", "c1", at("2026-03-28T23:00:00Z")),
        flat_event("c", "c1", at("2026-03-29T21:59:59Z")),
        flat_event("d", "c1", at("2026-03-29T22:00:00Z")),
    ]
    report = usage_of(rows, month=date(2026, 3, 1), tz="Europe/Paris")
    assert by_period(report) == {"2026-03-28": 1, "2026-03-29": 2, "2026-03-30": 1}


def test_months_are_local_too() -> None:
    rows = [
        flat_event("a", "c1", at("2026-10-31T22:30:00Z")),  # 23:30 CET on Oct 31
        flat_event("b", "c1", at("2026-10-31T23:30:00Z")),  # 00:30 CET on Nov 1
    ]
    report = usage_of(
        rows, by="month", since=date(2026, 10, 1), until=date(2026, 12, 1), tz="Europe/Paris"
    )
    assert by_period(report) == {"2026-10": 1, "2026-11": 1}
    utc = usage_of(rows, by="month", since=date(2026, 10, 1), until=date(2026, 12, 1))
    assert by_period(utc) == {"2026-10": 2}


ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seconds=st.lists(st.integers(0, 365 * 86400 - 1), min_size=1, max_size=60),
    zone=st.sampled_from(ZONES),
)
def test_daily_counts_match_a_per_event_time_zone_conversion(seconds: list[int], zone: str) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    times = [base + timedelta(seconds=s) for s in seconds]
    rows = [flat_event(f"e{i}", "c", t) for i, t in enumerate(times)]
    report = usage_of(
        rows,
        as_of="2027-02-01T00:00:00Z",
        since=date(2025, 12, 31),
        until=date(2027, 1, 2),
        tz=zone,
    )
    z = zoneinfo.ZoneInfo(zone)
    expected = Counter(t.astimezone(z).date().isoformat() for t in times)
    assert by_period(report) == dict(expected)


# --------------------------------------------------------------------------------------------
# Distinct events, classes
# --------------------------------------------------------------------------------------------


def test_a_redelivered_event_is_billed_once_across_overlapping_files(tmp_path: Path) -> None:
    t = at("2026-10-03T09:00:00Z")
    day1 = write_jsonl(
        tmp_path / "day1.jsonl",
        [genesys_line("e1", "c1", t), genesys_line("e2", "c1", t + timedelta(minutes=1))],
    )
    day2 = write_jsonl(
        tmp_path / "day2.jsonl",
        [genesys_line("e2", "c1", t + timedelta(minutes=1)), genesys_line("e3", "c1", t)],
    )
    again = tmp_path / "day1-again.jsonl"  # the first export downloaded again
    again.write_bytes(Path(day1).read_bytes())
    report = compute_usage(
        UsageInput.from_sources([day1, day2, again]),
        UsageOptions(as_of=at("2026-10-04T00:00:00Z")),
    )
    assert report.totals()["billable"] == 3
    assert report.totals()["rows"] == 6
    assert report.totals()["duplicates"] == 3
    rec = report.reconciliation
    assert (rec["rows_read"], rec["duplicates"], rec["events"]) == (6, 3, 3)


#: Copies an event may come as: a page view, a search, a custom event, an app event, a
#: segment event, a crawler's page view, another title (what sessionize compares).
_VARIANTS: dict[str, dict[str, Any]] = {
    "page": {},
    "search": {"kind": "search", "search_query": "tent"},
    "custom": {"kind": "custom", "event_name": "video_started"},
    "app": {"kind": "app", "event_type": "AppEvent", "event_name": "app_opened"},
    "segment": {"kind": "segment_assigned", "event_type": "SegmentAssignmentEvent",
                "event_name": None},
    "curl": {"user_agent_string": "curl/8.5.0"},
    "title": {"page_title": "Another title"},
}  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    copies=st.lists(
        st.tuples(
            st.sampled_from("abcd"),  # event id
            st.sampled_from([0, 0, 1, 86400]),  # seconds after a fixed time: ties are common
            st.sampled_from(sorted(_VARIANTS)),
            st.booleans(),  # which file: Parquet read as it is, or read by jtrack.read
        ),
        min_size=1,
        max_size=12,
    )
)
def test_a_bill_of_files_is_the_bill_of_the_store_sessionize_makes_of_them(
    tmp_path_factory: pytest.TempPathFactory, copies: list[tuple[str, int, str, bool]]
) -> None:
    """Copies of one event at one instant were billed from files as the copy of the lowest
    class (a page view over a segment event given first, whatever the order), where
    sessionize keeps the one given first: the same files gave two bills. Conflicting copies
    were told only by time and class (a title or visitor apart was no conflict), and a
    redelivered event was late only when every copy was."""
    from jtrack.engine import run_sessionize
    from jtrack.store import Store

    tmp = tmp_path_factory.mktemp("bill")
    t0 = at("2026-10-05T09:00:00Z")
    files: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for n, (eid, secs, variant, lazy) in enumerate(copies):
        row = flat_event(eid, f"v{n % 2}", t0 + timedelta(seconds=secs), **_VARIANTS[variant])
        files[lazy].append(row)
    paths = []
    for lazy, rows in files.items():  # (the file read as it is first: input order matters)
        if not rows:
            continue
        frame = flat_frame(rows)
        if not lazy:  # text times: not scanned lazily, read by jtrack.read
            frame = frame.with_columns(pl.col("created_date").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        paths.append(tmp / f"{'lazy' if lazy else 'read'}.parquet")
        frame.write_parquet(paths[-1])
    opts = UsageOptions(as_of=at("2026-11-01T00:00:00Z"), month=date(2026, 10, 1))
    files_bill = compute_usage(UsageInput.from_sources(paths), opts)
    store = Store.open(tmp / "store")
    run_sessionize(paths, store)
    store_bill = compute_usage(UsageInput.from_store(store), opts)
    # (not `automated`: files count it by the user agent, the store by the session)
    per_day = ["period", *CLASSES, "billable", "events"]
    assert files_bill.rows.select(per_day).equals(store_bill.rows.select(per_day))
    keys = ("rows_read", "duplicates", "conflicting_duplicates", "events", "billable_in_period")
    assert {k: files_bill.reconciliation[k] for k in keys} == {
        k: store_bill.reconciliation[k] for k in keys
    }


def test_the_far_future_cut_is_made_once_over_every_file_whatever_reads_it(
    tmp_path: Path,
) -> None:
    """The cut was made over the files jtrack.read reads alone (a JSON lines file's January
    event rejected beside a Parquet file of January), and again over all: a bill of files
    differed from the store's, which cuts once over the run's input."""
    from jtrack.engine import run_sessionize
    from jtrack.store import Store

    t, far = at("2026-10-05T09:00:00Z"), at("2028-01-10T09:00:00Z")
    lines = [genesys_line(f"j{i}", f"c{i % 7}", t + timedelta(minutes=i)) for i in range(200)]
    mixed = write_jsonl(tmp_path / "a.jsonl", [*lines, genesys_line("jfar", "c1", far)])
    january = tmp_path / "b.parquet"
    flat_frame(
        [flat_event(f"p{i}", f"d{i % 7}", far + timedelta(minutes=i)) for i in range(200)]
    ).write_parquet(january)
    alone = write_jsonl(
        tmp_path / "c.jsonl",
        [*lines[:98], genesys_line("f1", "c1", far), genesys_line("f2", "c1", at("2029-06-01"))],
    )
    opts = UsageOptions(as_of=at("2030-01-01T00:00:00Z"), since=date(2026, 1, 1))
    for n, paths in enumerate(([mixed, january], [alone])):
        bill = compute_usage(UsageInput.from_sources(paths, on_error="skip"), opts)
        store = Store.open(tmp_path / f"store{n}")
        run_sessionize(paths, store, on_error="skip")
        kept = store.manifest()["counts"]
        rec = bill.reconciliation
        assert (rec["events"], rec["rejected"]) == (kept["events_kept"], kept["rejected"]), paths


def test_a_redelivered_event_is_late_when_the_copy_kept_is(tmp_path: Path) -> None:
    """The copy billed is the earliest: when that one came late (in the next day's export,
    with an earlier time than the first delivery said) the event is late; it was late only
    when every copy was."""
    t = at("2026-10-05T10:00:00Z")
    day1 = write_jsonl(
        tmp_path / "day1.jsonl",
        [genesys_line(f"a{i}", "c1", t + timedelta(minutes=i)) for i in range(3)]
        + [genesys_line("x", "c2", t)],
    )
    day2 = write_jsonl(
        tmp_path / "day2.jsonl",
        [genesys_line(f"b{i}", "c1", t + timedelta(days=1, minutes=i)) for i in range(3)]
        + [genesys_line("x", "c2", t - timedelta(hours=1))],
    )
    report = compute_usage(
        UsageInput.from_sources([day1, day2]),
        UsageOptions(as_of=at("2026-11-01T00:00:00Z"), month=date(2026, 10, 1)),
    )
    assert report.reconciliation["late_events"] == 1
    assert report.totals()["late"] == 1


def test_files_whose_times_have_no_zone_are_named_in_the_warnings(tmp_path: Path) -> None:
    """A time with no zone is read as UTC: a bill of a local-time export is hours off at the
    month's edges, so usage of files says which had such times, as sessionize does: JSON
    read by jtrack.read; a zoned file not, nor a Parquet timestamp column without a zone
    (UTC, as Spark's INT96 and pandas write it: scanned lazily, it is not warned of)."""
    t = at("2026-10-03T09:00:00Z")
    zoned = write_jsonl(tmp_path / "zoned.jsonl", [genesys_line("e1", "c1", t)])
    naive = write_jsonl(
        tmp_path / "naive.jsonl",
        [genesys_line("e2", "c1", "2026-10-03T09:01:00"), genesys_line("e3", "c1", t)],
    )
    rows = flat_frame(
        [flat_event("p1", "c2", t), flat_event("p2", "c2", t), flat_event("", "c2", t)]
    )
    lazy = tmp_path / "naive.parquet"
    rows.with_columns(pl.col("created_date").dt.replace_time_zone(None)).write_parquet(lazy)
    report = compute_usage(
        UsageInput.from_sources([zoned, naive, lazy], on_error="skip"),
        UsageOptions(as_of=at("2026-10-04T00:00:00Z")),
    )
    assert not [n for n in report.reconciliation["notes"] if "no time zone" in n]
    notes = [n for n in report.warnings if "no time zone" in n]  # (warnings: JSON has them)
    assert [n.split(": ")[0].rsplit("/", 1)[-1] for n in notes] == ["naive.jsonl"]
    assert "naive.jsonl: 1 event time has no time zone" in notes[0]
    assert "--rebuild" not in notes[0]
    # said on stderr beside every data format and -o FILE, as sessionize says it (the cron
    # recipe writes CSV: a bill of a local-time export hours off said nothing); not with -q
    month = ["--month", "2026-10", "--as-of", "2026-10-04T00:00:00Z"]
    for fmt in (["-f", "csv"], ["-f", "jsonl"], ["-f", "md"], ["-o", str(tmp_path / "u.csv")]):
        res = runner.invoke(app, ["usage", str(zoned), str(naive), *month, *fmt])
        assert res.exit_code == 0, res.stderr
        said = [line for line in res.stderr.splitlines() if "no time zone" in line]
        assert len(said) == 1 and said[0].startswith("warning: ") and "naive.jsonl" in said[0]
    # said with -q too (the cron recipe has it), and in JSON's warnings
    quiet = runner.invoke(app, ["usage", str(naive), *month, "-f", "json", "-q"])
    assert quiet.exit_code == 0
    assert quiet.stderr.startswith("warning: ") and "naive.jsonl: 1 event time" in quiet.stderr
    said = [w for w in json.loads(quiet.stdout)["warnings"] if "no time zone" in w]
    assert len(said) == 1 and "naive.jsonl: 1 event time" in said[0]


def test_a_duplicate_with_another_time_is_billed_once_on_the_earliest_day(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [genesys_line("e1", "c1", at("2026-10-03T23:59:00Z"))])
    b = write_jsonl(tmp_path / "b.jsonl", [genesys_line("e1", "c1", at("2026-10-04T00:01:00Z"))])
    report = compute_usage(
        UsageInput.from_sources([b, a]), UsageOptions(as_of=at("2026-10-05T00:00:00Z"))
    )
    assert by_period(report) == {"2026-10-03": 1}
    assert report.reconciliation["conflicting_duplicates"] == 1


def _mixed_rows() -> list[dict[str, Any]]:
    t = at("2026-10-03T10:00:00Z")
    return [
        flat_event("pv", "c1", t),
        flat_event("s", "c1", t, search_query="boots", kind="search"),
        flat_event("cu", "c1", t, event_name="product_added", kind="custom"),
        flat_event("app", "c1", t, event_type="AppEvent", event_name="app_opened", kind="app"),
        flat_event(
            "seg",
            "c1",
            t,
            event_type="SegmentAssignmentEvent",
            event_name=None,
            kind="segment_assigned",
            segment_id="s1",
        ),
        flat_event(
            "out",
            "c1",
            t,
            event_type="OutcomeAchievedEvent",
            event_name=None,
            kind="outcome_achieved",
            outcome_id="o1",
        ),
        flat_event(
            "act",
            "c1",
            t,
            event_type="WebActionEvent",
            event_name=None,
            kind="web_action",
            action_state="offered",
        ),
        flat_event(
            "del",
            "c1",
            t,
            event_name="order_dispatched",
            kind="custom",
            source_session_type="delivery",
            source_session_id="d1",
        ),
    ]


def test_only_page_views_searches_and_custom_web_events_are_billable_by_default() -> None:
    report = usage_of(_mixed_rows(), month=date(2026, 10, 1))
    totals = report.totals()
    assert {c: totals[c] for c in CLASSES} == {
        "page_view": 1,
        "search": 1,
        "custom": 1,
        "custom_session": 1,
        "app": 1,
        "system": 3,
    }
    assert totals["billable"] == 3
    assert report.reconciliation["not_billable_in_period"] == 5


def test_the_table_shows_every_billable_class_so_its_rows_add_up(tmp_path: Path) -> None:
    """With `system` billable, its column is in the terminal table beside the others
    (billable 4 beside page_view 1 and nothing else read as a wrong sum)."""
    from jtrack.render.report import usage_renderables
    from jtrack.render.table import render_to_text

    report = usage_of(
        _mixed_rows(), month=date(2026, 10, 1), by="month", billable=("page_view", "system")
    )
    text = render_to_text(usage_renderables(report)[1], width=120)
    header, row = (line.split() for line in text.splitlines() if line.strip()[:1] in "p2")
    assert header[:4] == ["period", "page_view", "search", "custom"] and "system" in header
    cells = dict(zip(header, row, strict=False))
    assert int(cells["page_view"]) + int(cells["system"]) == int(cells["billable"]) == 4


def test_a_custom_session_type_without_a_session_id_is_billed_as_the_sessions_count_it(
    tmp_path: Path,
) -> None:
    """A custom session is a type other than web/app WITH its own session id (README, and
    the sessionizer): an event of type "delivery" but no id is in the visitor's web session,
    so usage bills it as a custom web event, from the store, JSON lines and flat Parquet."""
    t0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
    common = {"kind": "custom", "event_name": "product_added", "page_url": None}
    rows = [
        flat_event("c1", "A", t0, source_session_type="delivery", **common),
        flat_event(
            "c2",
            "A",
            t0 + timedelta(minutes=1),
            source_session_type="delivery",
            source_session_id="d1",
            **common,
        ),
    ]
    frame = flat_frame(rows)
    pq_path, jl_path = tmp_path / "e.parquet", tmp_path / "e.jsonl"
    frame.write_parquet(pq_path)
    frame.write_ndjson(jl_path)
    store = str(tmp_path / "st")
    res = runner.invoke(app, ["sessionize", str(pq_path), "--store", store, "-q"])
    assert res.exit_code == 0, res.stderr
    sessions = runner.invoke(app, ["sessions", "--store", store, "-f", "json", "--traffic", "all"])
    assert sorted(s["type"] for s in json.loads(sessions.stdout)) == ["delivery", "web"]
    args = ["--month", "2026-10", "--as-of", "2026-11-01", "-f", "json", "-q"]
    for source in (["--store", store], [str(pq_path)], [str(jl_path)]):
        totals = json.loads(run(*source, *args).stdout)["totals"]
        assert (totals["custom"], totals["custom_session"], totals["billable"]) == (1, 1, 1), source


def test_custom_session_events_can_be_made_billable() -> None:
    billable = ("page_view", "search", "custom", "custom_session")
    report = usage_of(_mixed_rows(), month=date(2026, 10, 1), billable=billable)
    assert report.totals()["billable"] == 4
    assert report.to_dict()["billable_classes"] == list(billable)


def test_billable_classes_come_from_the_config_file(tmp_path: Path) -> None:
    src = tmp_path / "e.parquet"
    flat_frame(_mixed_rows()).write_parquet(src)
    cfg = tmp_path / "jtrack.toml"
    cfg.write_text('[usage]\nbillable = ["page_view", "custom_session"]\ntz = "Europe/Paris"\n')
    res = run(str(src), "--config", str(cfg), "--as-of", "2026-10-04", "-f", "json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["billable_classes"] == ["page_view", "custom_session"]
    assert data["tz"] == "Europe/Paris"
    assert data["totals"]["billable"] == 2


def test_an_unknown_billable_class_is_a_usage_error_naming_the_nearest() -> None:
    res = run("--billable", "page_views", "--as-of", "2026-10-04")
    assert res.exit_code == 2
    assert "did you mean 'page_view'" in res.stderr


def test_config_keys_are_checked() -> None:
    with pytest.raises(UsageError, match="unknown key 'per_users'"):
        usage_config({"usage": {"per_users": 10}}, Path("jtrack.toml"))
    with pytest.raises(UsageError, match="whole number"):
        usage_config({"usage": {"users": "ten"}}, Path("jtrack.toml"))
    assert usage_config({"usage": {"users": 3, "per_user": 5}}) == {"users": 3, "per_user": 5}


# --------------------------------------------------------------------------------------------
# Month to date, allowance, overage, projection
# --------------------------------------------------------------------------------------------


def _october(n_per_day: int, days: int) -> list[dict[str, Any]]:
    return [
        flat_event(f"d{d}-{i}", "c1", datetime(2026, 10, d + 1, 12, i, tzinfo=UTC))
        for d in range(days)
        for i in range(n_per_day)
    ]


def test_month_to_date_allowance_overage_and_projection() -> None:
    report = usage_of(_october(5, 10), as_of="2026-10-05T00:00:00Z", users=2, per_user=7)
    m = report.month
    assert m["month"] == "2026-10"
    assert m["month_to_date"] == 20  # four days of five; later events do not exist yet
    assert m["days_elapsed"] == 4.0
    assert m["projection"] == 155  # 20 / 4 * 31
    assert (m["allowance"], m["overage"], m["remaining"]) == (14, 6, 0)
    assert m["projected_overage"] == 141
    assert m["over_allowance"] is True
    assert report.reconciliation["events_after_as_of"] == 30
    assert [r["period"] for r in report.to_dict()["rows"]] == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
    ]
    assert report.rows["month_to_date"].to_list() == [5, 10, 15, 20]
    assert report.rows["overage"].to_list() == [0, 0, 1, 6]


def test_days_elapsed_count_fractions_of_the_local_day() -> None:
    report = usage_of(_october(1, 3), as_of="2026-10-03T10:00:00Z", tz="Europe/Paris")
    assert report.month["days_elapsed"] == 2.5  # 12:00 in Paris on the 3rd
    assert report.month["month_to_date"] == 2  # the 3rd's event is at 12:00 UTC, after as_of
    assert report.month["projection"] == 25  # 2 / 2.5 * 31 = 24.8


def test_usage_at_the_allowance_is_not_an_overage(tmp_path: Path) -> None:
    src = tmp_path / "e.parquet"
    flat_frame(_october(5, 2)).write_parquet(src)
    base = [str(src), "--as-of", "2026-10-03", "--per-user", "5", "-q", "-f", "csv"]
    assert run(*base, "--users", "2", "--fail-over-allowance").exit_code == 0
    over = run(*base, "--users", "1", "--fail-over-allowance")
    assert over.exit_code == ExitCode.OVER_ALLOWANCE == 3
    assert over.stdout.startswith("period,")  # the report is still written
    # and it says why, even with -q (something is wrong), on one line
    assert over.stderr.count("\n") == 1 and "over the allowance of 5 by" in over.stderr
    assert "(hint: `jtrack usage --by day` shows which days" in over.stderr
    assert run(*base, "--users", "1").exit_code == 0
    # the notes are never wrapped (cron mail is read with grep)
    out = tmp_path / ("a-rather-long-name-" * 3 + ".csv")
    long = run(
        str(src), "--as-of", "2026-10-03", "--per-user", "5", "--users", "1", "-f", "csv",
        "-o", str(out),
    )  # fmt: skip
    lines = long.stderr.splitlines()  # (the month's line whole, then `wrote FILE`)
    assert long.exit_code == 0 and len(lines) == 2, long.stderr
    assert lines[0].endswith("OVER by 5") and lines[1] == f"wrote {out}"


def test_the_allowance_can_come_from_the_config(tmp_path: Path) -> None:
    src = tmp_path / "e.parquet"
    flat_frame(_october(5, 2)).write_parquet(src)
    (tmp_path / "jtrack.toml").write_text("[usage]\nusers = 1\nper_user = 4\n")
    res = run(
        str(src),
        "--config",
        str(tmp_path / "jtrack.toml"),
        "--as-of",
        "2026-10-03",
        "--fail-over-allowance",
        "-q",
        "--summary",
        "-f",
        "json",
    )
    assert res.exit_code == 3
    summary = json.loads(res.stdout)
    assert (summary["allowance"], summary["overage"], summary["month_to_date"]) == (4, 6, 10)


def test_fail_over_allowance_needs_an_allowance() -> None:
    res = run("--fail-over-allowance", "--as-of", "2026-10-03")
    assert res.exit_code == 2
    assert "--users" in res.stderr


def test_a_past_month_is_complete_and_projects_to_itself() -> None:
    report = usage_of(_october(2, 31), as_of="2026-11-15T00:00:00Z", month=date(2026, 10, 1))
    assert report.month["days_elapsed"] == 31.0
    assert report.month["projection"] == report.month["month_to_date"] == 62
    assert report.rows.height == 31


def test_a_period_that_ends_before_as_of_does_not_shorten_the_month_to_date() -> None:
    """--since/--until pick the rows shown; the billing month's figures are as of as-of, as
    its days elapsed are (a week's rows with the whole month's days elapsed gave a
    projection a quarter of the month's use, under the allowance it was over)."""
    report = usage_of(
        _october(2, 31),
        as_of="2026-11-01T00:00:00Z",
        since=date(2026, 10, 1),
        until=date(2026, 10, 8),
        users=1,
        per_user=50,
    )
    assert report.rows.height == 7
    m = report.month
    assert (m["month"], m["month_to_date"], m["days_elapsed"]) == ("2026-10", 62, 31.0)
    assert m["projection"] == 62 and m["over_allowance"] is True


def test_by_month_rows_across_a_year_boundary() -> None:
    rows = [
        flat_event("a", "c", at("2026-12-31T10:00:00Z")),
        flat_event("b", "c", at("2027-01-01T10:00:00Z")),
        flat_event("c", "c", at("2027-01-02T10:00:00Z")),
    ]
    report = usage_of(
        rows, as_of="2027-01-10T00:00:00Z", by="month", since=date(2026, 12, 1), users=1, per_user=1
    )
    assert by_period(report) == {"2026-12": 1, "2027-01": 2}
    assert report.months_over_allowance == ["2027-01"]
    assert report.month["month"] == "2027-01"


# --------------------------------------------------------------------------------------------
# Reconciliation
# --------------------------------------------------------------------------------------------


def test_the_reconciliation_adds_up_with_rejects_in_jsonl_and_parquet(tmp_path: Path) -> None:
    t = at("2026-10-03T09:00:00Z")
    js = write_jsonl(
        tmp_path / "a.jsonl",
        [
            genesys_line("e1", "c1", t),
            "{not json",
            genesys_line("e2", "c1", "yesterday"),
            genesys_line("e1", "c1", t),
        ],
    )
    pq = tmp_path / "b.parquet"
    flat_frame(
        [
            flat_event("e3", "c1", t),
            flat_event("", "c1", t),  # missing id
            flat_event("e4", " ", t),  # blank customer
            flat_event("e5", "c1", t, event_type="Nope", kind=None),  # unknown type
            flat_event("e6", "c1", t, event_name="  "),  # web event without a name
            flat_event("e7", "c1", datetime(1999, 1, 1, tzinfo=UTC)),  # implausible
            flat_event("e1", "c1", t),  # duplicate across shapes
        ]
    ).write_parquet(pq)
    report = compute_usage(
        UsageInput.from_sources([js, pq], on_error="skip"),
        UsageOptions(as_of=at("2026-10-04T00:00:00Z")),
    )
    r = report.reconciliation
    assert r["rows_read"] == 11
    assert r["rejected"] == 2 + 5
    assert r["duplicates"] == 2
    assert r["events"] == 2
    assert r["rows_read"] == r["rejected"] + r["duplicates"] + r["events"]
    assert (
        r["events"] == r["events_in_period"] + r["events_outside_period"] + r["events_after_as_of"]
    )


def test_the_parquet_fast_path_agrees_with_read_events(tmp_path: Path) -> None:
    t = at("2026-10-03T09:00:00Z")
    rows = [
        *_mixed_rows(),
        flat_event("", "c1", t),
        flat_event("ws", "c1", t, event_name=" \t"),
        flat_event("x", "c1", t, event_type=" com.genesys.journey.WebEvent ", kind=None),
        flat_event("y", "c1", t, event_type=None, kind="search", search_query="tent"),
        flat_event(
            "z",
            "c1",
            t,
            event_type="AppEvent",
            kind="app",
            source_session_type="Delivery",
            source_session_id="d9",
        ),
        flat_event("w", "c1", t, source_session_type="WEB"),
        flat_event("q", "c1", t, search_query="   "),
    ]
    pq = tmp_path / "f.parquet"
    flat_frame(rows).write_parquet(pq)
    fast = UsageInput.from_sources([pq], on_error="skip")
    read = read_events([pq], on_error="skip")
    slow = UsageInput.from_frame(read.events)
    opts = UsageOptions(as_of=at("2026-10-04T00:00:00Z"))
    a, b = compute_usage(fast, opts), compute_usage(slow, opts)
    assert a.rows.drop("rows", "duplicates").equals(b.rows.drop("rows", "duplicates"))
    assert a.reconciliation["rejected"] == read.rows_rejected
    assert a.reconciliation["rows_read"] == read.rows_read


def test_usage_reads_parquet_named_with_brackets_or_in_an_offset_zone(tmp_path: Path) -> None:
    """A `[` in a file name is no pattern, and a zone Polars does not know (`+05:30`, which
    made it panic reading the footer) is read as the same instants: the same bill."""
    import pyarrow as pa
    import pyarrow.parquet as papq

    plain = tmp_path / "plain.parquet"
    flat_frame(_mixed_rows()).write_parquet(plain)
    brackets = tmp_path / "export[1].parquet"
    brackets.write_bytes(plain.read_bytes())
    (tmp_path / "export1.parquet").write_bytes(b"not the file the name means")
    table = papq.read_table(plain)
    i = table.schema.get_field_index("created_date")
    offset = pa.timestamp("us", tz="+05:30")
    table = table.set_column(i, pa.field("created_date", offset), table.column(i).cast(offset))
    zoned = tmp_path / "zoned.parquet"
    papq.write_table(table, zoned)
    bills = []
    for src in (plain, brackets, zoned):
        result = run(str(src), "--month", "2026-10", "--format", "json")
        assert result.exit_code == 0, result.output
        bills.append(json.loads(result.stdout)["totals"])
    assert bills[0]["billable"] > 0
    assert bills[1] == bills[0]
    assert bills[2] == bills[0]


def test_late_events_are_counted_only_in_daily_export_files(tmp_path: Path) -> None:
    oct4 = write_jsonl(
        tmp_path / "2026-10-04.jsonl",
        [
            genesys_line("late1", "c1", at("2026-10-03T23:50:00Z")),
            genesys_line("late2", "c1", at("2026-10-03T23:55:00Z")),
            genesys_line("on3", "c1", at("2026-10-03T23:56:00Z")),
            *[
                genesys_line(f"x{i}", "c1", at("2026-10-04T08:00:00Z") + timedelta(minutes=i))
                for i in range(5)
            ],
        ],
    )
    # `on3` also came in the export of the 3rd: it was not late there
    oct3 = write_jsonl(
        tmp_path / "2026-10-03.jsonl", [genesys_line("on3", "c1", at("2026-10-03T23:56:00Z"))]
    )
    report = compute_usage(
        UsageInput.from_sources([oct3, oct4]), UsageOptions(as_of=at("2026-10-05T00:00:00Z"))
    )
    assert by_period(report, "late") == {"2026-10-03": 2}
    assert report.reconciliation["late_events"] == 2
    # In Europe/Paris everything is on the 4th (late events are local too)
    paris = compute_usage(
        UsageInput.from_sources([oct3, oct4]),
        UsageOptions(as_of=at("2026-10-05T00:00:00Z"), tz="Europe/Paris"),
    )
    assert paris.reconciliation["late_events"] == 0
    # A file spread evenly over many days is not a daily export: nothing is late
    multi = write_jsonl(
        tmp_path / "month.jsonl",
        [genesys_line(f"m{d}", "c1", datetime(2026, 10, d, 12, tzinfo=UTC)) for d in range(1, 8)],
    )
    spread = compute_usage(
        UsageInput.from_sources([multi]), UsageOptions(as_of=at("2026-10-09T00:00:00Z"))
    )
    assert spread.reconciliation["late_events"] == 0


def test_the_store_gives_the_same_billable_counts_and_says_why_late_is_null(
    tmp_path: Path,
) -> None:
    files = [str(ROOT / f) for f in EXAMPLE_FILES]
    res = runner.invoke(
        app, ["sessionize", *files, "--store", str(tmp_path / "st"), "-q", "-f", "json"]
    )
    assert res.exit_code == 0, res.stderr
    args = ["--as-of", "2026-10-05", "-f", "json", "-q"]
    from_store = json.loads(run("--store", str(tmp_path / "st"), *args).stdout)
    from_files = json.loads(run(*files, *args).stdout)
    assert from_store["totals"]["billable"] == from_files["totals"]["billable"] == 10
    assert from_store["month"] == from_files["month"]
    rec = from_store["reconciliation"]
    assert rec["input"] == "store" and rec["late_events"] is None
    assert rec["duplicates"] == from_files["reconciliation"]["duplicates"]
    assert any("late events need the export files" in n for n in rec["notes"])
    assert from_store["rows"][2]["rows"] is None  # per-day raw rows are not in the store


# --------------------------------------------------------------------------------------------
# Cron behaviour: formats, idempotence, atomic writes, the lock, quiet
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "md", "table"])
def test_the_same_inputs_give_byte_identical_files(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / f"usage.{fmt if fmt != 'table' else 'txt'}"
    args = [
        *EXAMPLE_FILES,
        "--as-of",
        "2026-10-05T00:00:00Z",
        "--users",
        "1",
        "--per-user",
        "5",
        "-f",
        fmt,
        "-o",
        str(out),
        "-q",
    ]
    assert run(*args).exit_code == 0
    first = out.read_bytes()
    # the same files named in another order give the same report
    args2 = [EXAMPLE_FILES[1], EXAMPLE_FILES[0], *args[2:]]
    assert run(*args2).exit_code == 0
    assert out.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no lock file left


def test_stable_column_names_in_every_flat_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    base = [*EXAMPLE_FILES, "--as-of", "2026-10-05", "-q"]
    assert run(*base, "-f", "csv").stdout.splitlines()[0] == ",".join(ROW_COLUMNS)
    # each row says the zone its period is a day of (only --summary and JSON said it)
    assert ROW_COLUMNS[0] == "period" and ROW_COLUMNS[-1] == "tz"  # (added last)
    csv = run(*base, "--tz", "Australia/Sydney", "-f", "csv").stdout.splitlines()
    assert csv[1].startswith("2026-10-01,") and csv[1].endswith(",Australia/Sydney")
    assert list(json.loads(run(*base, "-f", "jsonl").stdout.splitlines()[0])) == list(ROW_COLUMNS)
    assert list(json.loads(run(*base, "-f", "json").stdout)["rows"][0]) == list(ROW_COLUMNS)
    assert run(*base, "-f", "csv", "--summary").stdout.splitlines()[0] == ",".join(SUMMARY_COLUMNS)


def test_markdown_says_what_the_table_is_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Markdown bill is read by people (pasted into a ticket or a wiki page): it says its
    period, zone, as-of and billable classes as the table and the journey summary's Markdown
    do, then the month with the --summary row's field names (it was the bare rows table: a
    bill in Berlin time looked like one in UTC)."""
    monkeypatch.chdir(ROOT)
    base = [*EXAMPLE_FILES, "--as-of", "2026-10-05", "--tz", "Europe/Berlin", "-q"]
    md = run(*base, "-f", "md").stdout
    lines = md.splitlines()
    assert lines[0] == "# Billable usage 2026-10-01 .. 2026-10-04 (Europe/Berlin), by day"
    # (the as-of in the report's zone too: midnight in Berlin, not the 4th's 22:00)
    assert lines[2].startswith(
        "As of 2026-10-04T22:00:00.000Z (2026-10-05 00:00 Europe/Berlin); billable: page_view, "
        "search"
    )
    assert lines[4] == "| " + " | ".join(ROW_COLUMNS) + " |"
    month = md.split("## Month 2026-10\n\n", 1)[1]
    fields = [ln.split(" | ")[0].removeprefix("| ") for ln in month.splitlines()[2:]]
    assert fields[: len(SUMMARY_COLUMNS)] == list(SUMMARY_COLUMNS)
    assert "| billable_classes | page_view; search; custom |" in md  # (as CSV lists it)
    summary = run(*base, "-f", "md", "--summary").stdout
    assert summary.startswith(lines[0].removesuffix(", by day") + "\n")  # (no rows: no "by")
    assert "| period |" not in summary
    assert "## Month 2026-10" in summary


def test_quiet_means_nothing_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    base = [*EXAMPLE_FILES, "--as-of", "2026-10-05", "-f", "csv"]
    loud = run(*base)
    assert "billable events month to date" in loud.stderr
    quiet = run(*base, "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    assert "\x1b[" not in loud.stdout + loud.stderr  # no colour when not on a terminal


def test_a_second_run_writing_the_same_report_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "usage.csv"
    with output_lock(out):
        res = run("--store", str(tmp_path / "none"), "-o", str(out), "--as-of", "2026-10-05")
        assert res.exit_code == 1
        assert f"another jtrack run is writing {out}" in res.stderr
        assert "--wait" in res.stderr
    assert not out.exists()


def test_wait_takes_the_lock_when_the_other_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "usage.csv"
    held = threading.Event()

    def hold() -> None:
        with output_lock(out):
            held.set()
            time.sleep(0.3)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    res = run(*EXAMPLE_FILES, "-o", str(out), "--as-of", "2026-10-05", "--wait", "10", "-q")
    thread.join()
    assert res.exit_code == 0, res.stderr
    assert time.monotonic() - started >= 0.1
    assert out.read_text().startswith("period,")


def test_the_lock_is_exclusive_between_holders(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with output_lock(out), pytest.raises(OutputLockedError), output_lock(out, wait=0.1):
        pass  # pragma: no cover
    with output_lock(out):  # released: it can be taken again
        assert (tmp_path / ".r.json.lock").exists()  # hidden, beside the report
    assert not (tmp_path / ".r.json.lock").exists()


def test_writes_are_atomic_and_replace_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "usage.json"
    out.write_text("old")
    files = [str(ROOT / f) for f in EXAMPLE_FILES]
    assert run(*files, "-o", str(out), "--as-of", "2026-10-05", "-q").exit_code == 0
    assert json.loads(out.read_text())["report"] == "usage"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    cases = [
        ["--month", "2026-10", "--since", "2026-10-01"],
        ["--month", "October"],
        ["--since", "2026-10-05", "--until", "2026-10-01"],
        ["--tz", "Mars/Olympus"],
        ["--by", "week"],
        ["--users", "3"],
        ["--as-of", "tomorrow"],
        ["x.jsonl", "--store", str(tmp_path)],
    ]
    for extra in cases:
        res = run(*extra)
        assert res.exit_code == 2, (extra, res.stderr)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
        assert res.stdout == ""


def test_files_that_cannot_be_read_or_written_are_exit_1(tmp_path: Path) -> None:
    """README, exit codes: a file that cannot be read or written is 1 (a wrong option is 2)."""
    cases = [
        ["--config", str(tmp_path / "missing.toml")],
        ["tests/data/examples/genesys-events.jsonl", "-o", str(tmp_path / "no" / "u.csv")],
        ["tests/data/examples/genesys-events.jsonl", "-o", str(tmp_path)],
    ]
    for extra in cases:
        res = run(*extra, "--as-of", "2026-10-05")
        assert res.exit_code == 1, (extra, res.stderr)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    other = runner.invoke(app, ["sessions", "--contacts", str(tmp_path / "none.csv")])
    assert other.exit_code == 1 and "no such contacts file" in other.stderr
    rules = runner.invoke(app, ["rules", "report", "--rules", str(tmp_path / "none.toml")])
    assert rules.exit_code == 1 and "no such rules file" in rules.stderr


def test_an_empty_store_or_empty_input_does_not_crash(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = run(str(empty), "--as-of", "2026-10-05", "-f", "json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["totals"]["billable"] == 0 and len(data["rows"]) == 4
    assert data["month"]["projection"] == 0
    assert run("--store", str(tmp_path / "nostore"), "--as-of", "2026-10-05").exit_code == 1


def test_the_table_shows_the_month_and_the_reconciliation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    res = run(*EXAMPLE_FILES, "--as-of", "2026-10-05", "--users", "1", "--per-user", "5")
    assert res.exit_code == 0
    out = res.stdout
    for text in (
        "Billable usage",
        "month 2026-10",
        "OVER ALLOWANCE",
        "Reconciliation",
        "rows read",
        "duplicates",
    ):
        assert text in out, text


# --------------------------------------------------------------------------------------------
# Golden files (sample data)
# --------------------------------------------------------------------------------------------

GOLDEN_CASES = {
    "usage_day.csv": ["-f", "csv"],
    "usage_month_summary.csv": ["-f", "csv", "--by", "month", "--summary"],
    "usage.json": ["-f", "json"],
}
SAMPLE_ARGS = [
    "sample_data/events.jsonl",
    "--as-of",
    "2026-10-15T00:00:00Z",
    "--users",
    "2",
    "--per-user",
    "1500",
    "-q",
]


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_usage_reports_of_the_sample_data(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committed sample export; after regenerating it, update with JTRACK_UPDATE_GOLDEN=1
    and read the diff."""
    monkeypatch.chdir(ROOT)
    res = run(*SAMPLE_ARGS, *GOLDEN_CASES[name])
    assert res.exit_code == 0, res.stderr
    path = GOLDEN / name
    if os.environ.get("JTRACK_UPDATE_GOLDEN"):
        path.write_text(res.stdout, encoding="utf-8")
    assert res.stdout == path.read_text(encoding="utf-8")


def test_the_sample_data_adds_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cross-checked with sample_data/README.md: 4,000 rows, 3,955 distinct ids, 45
    redeliveries; page views, searches and custom events as documented."""
    monkeypatch.chdir(ROOT)
    data = json.loads(run(*SAMPLE_ARGS, "-f", "json").stdout)
    rec, totals = data["reconciliation"], data["totals"]
    assert (rec["rows_read"], rec["events"], rec["duplicates"], rec["rejected"]) == (
        4000,
        3955,
        45,
        0,
    )
    assert (totals["page_view"], totals["search"]) == (2638, 343)
    assert totals["custom"] + totals["custom_session"] == 827
    assert totals["custom_session"] == 9
    assert totals["system"] == 65 + 24 + 58
    assert data["month"]["over_allowance"] is True


def test_json_output_equals_the_library_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    res = run(*EXAMPLE_FILES, "--as-of", "2026-10-05", "-f", "json", "-q")
    lib = compute_usage(
        UsageInput.from_sources(EXAMPLE_FILES), UsageOptions(as_of=at("2026-10-05T00:00:00Z"))
    )
    assert json.loads(res.stdout) == json.loads(json.dumps(lib.to_dict()))


# --------------------------------------------------------------------------------------------
# Periods for cron: the month that just ended, the month of yesterday, an empty period
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "as_of", "tz", "month"),
    [
        ("current", "2026-11-01T00:15:00Z", "UTC", date(2026, 11, 1)),
        ("previous", "2026-11-01T00:15:00Z", "UTC", date(2026, 10, 1)),
        ("last", "2026-11-20T12:00:00Z", "UTC", date(2026, 10, 1)),
        ("yesterday", "2026-11-01T00:15:00Z", "UTC", date(2026, 10, 1)),
        ("yesterday", "2026-11-02T00:15:00Z", "UTC", date(2026, 11, 1)),
        ("previous", "2027-01-01T00:15:00Z", "UTC", date(2026, 12, 1)),
        ("yesterday", "2027-01-01T00:15:00Z", "UTC", date(2026, 12, 1)),
        # 00:15 on 1 November in London is still 31 October in UTC, and 23:30 UTC on
        # 31 October is already 1 November in Tokyo
        ("yesterday", "2026-11-01T00:15:00Z", "Europe/London", date(2026, 10, 1)),
        ("current", "2026-10-31T23:30:00Z", "Asia/Tokyo", date(2026, 11, 1)),
        ("yesterday", "2026-10-31T23:30:00Z", "Asia/Tokyo", date(2026, 10, 1)),
        ("Previous", "2026-03-31T12:00:00Z", "UTC", date(2026, 2, 1)),
        # as-of at midnight on the 1st (a date alone): that month, and the one before it
        ("previous", "2026-12-01T00:00:00Z", "UTC", date(2026, 11, 1)),
        ("current", "2026-12-01T00:00:00Z", "UTC", date(2026, 12, 1)),
        ("yesterday", "2026-12-01T00:00:00Z", "UTC", date(2026, 11, 1)),
    ],
)
def test_month_words_are_read_at_as_of_in_the_time_zone(
    word: str, as_of: str, tz: str, month: date
) -> None:
    from jtrack.usecases.usage import resolve_month

    assert resolve_month(word, at(as_of), tz) == month


def test_a_bad_month_names_the_words() -> None:
    from jtrack.usecases.usage import resolve_month

    with pytest.raises(UsageError, match="previous, yesterday or current"):
        resolve_month("lastmonth", at("2026-11-01T00:00:00Z"), "UTC")


def test_at_0015_on_the_1st_yesterday_reports_the_whole_month_just_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    res = run(
        "sample_data/events.jsonl",
        "--month",
        "yesterday",
        "--as-of",
        "2026-11-01T00:15",
        "-f",
        "csv",
        "-q",
    )
    assert res.exit_code == 0 and res.stderr == ""
    rows = res.stdout.splitlines()
    assert rows[1].startswith("2026-10-01,") and rows[-1].startswith("2026-10-31,")
    assert rows[-1].split(",")[ROW_COLUMNS.index("month_to_date")] == "3799"


def test_a_month_of_nightly_cron_runs_reports_every_day_once(tmp_path: Path) -> None:
    """A job at 00:15 every night with --month yesterday: every day of October is in the
    report of some night, and the run on 1 November gives October in full."""
    rows = [
        flat_event(f"e{d}", "c", datetime(2026, 10, d, 23, 59, tzinfo=UTC)) for d in range(1, 32)
    ]
    src = tmp_path / "events.parquet"
    flat_frame(rows).write_parquet(src)
    seen: dict[str, int] = {}
    for night in range(2, 33):  # 2 Oct .. 1 Nov, 00:15
        as_of = datetime(2026, 10, 1, 0, 15, tzinfo=UTC) + timedelta(days=night - 1)
        res = run(
            str(src), "--month", "yesterday", "--as-of", as_of.isoformat(), "-f", "json", "-q"
        )
        assert res.exit_code == 0, res.stderr
        for r in json.loads(res.stdout)["rows"]:
            seen[r["period"]] = r["billable"]
    assert seen == {f"2026-10-{d:02d}": 1 for d in range(1, 32)}


def test_an_empty_period_says_which_months_hold_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    base = ["sample_data/events.jsonl", "--as-of", "2026-12-01T00:15"]
    table = run(*base)
    assert table.exit_code == 0
    assert table.stderr.startswith(
        "warning: no events on 2026-12-01; the files hold events in 2026-10 "
        "(hint: pass --month 2026-10, or --month previous / --month yesterday"
    )
    quiet = run(*base, "-f", "csv", "-q")  # cron: quiet, but this is worth a mail
    assert quiet.stderr.startswith("warning: no events on 2026-12-01")
    data = json.loads(run(*base, "-f", "json", "-q").stdout)
    assert data["empty_period"]["months_with_events"] == ["2026-10"]
    assert data["reconciliation"]["months_with_events"] == ["2026-10"]
    summary = pl.read_csv(io.StringIO(run(*base, "-f", "csv", "--summary", "-q").stdout))
    assert summary["months_with_events"].to_list() == ["2026-10"]
    full = json.loads(run(*base, "--month", "2026-10", "-f", "json", "-q").stdout)
    assert full["empty_period"] is None
    # a job that passed --month yesterday on the 2nd was told to pass it
    job = run("sample_data/events.jsonl", "--as-of", "2027-01-02T00:15", "--month", "yesterday")
    assert "(hint: pass --month 2026-10)" in job.stderr, job.stderr


def test_a_period_before_every_event_says_as_of_is_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mistyped --as-of before the first event: a zero bill that says why, even -q."""
    monkeypatch.chdir(ROOT)
    res = run("sample_data/events.jsonl", "--as-of", "2026-09-15T00:00Z", "-f", "csv", "-q")
    assert res.exit_code == 0
    assert res.stderr == (
        "warning: no events in 2026-09-01 .. 2026-09-14; every event the files hold was "
        "created at or after as_of (2026-09-15T00:00:00.000Z) (hint: check --as-of: events "
        "created at or after it are not counted)\n"
    )
    res = run("sample_data/events.jsonl", "--as-of", "2026-09-15T00:00:00.000456Z", "-q")
    assert "as_of (2026-09-15T00:00:00.000456Z)" in res.stderr  # (as -f json writes it)


def test_by_month_refuses_days_that_do_not_start_a_month(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    base = ["sample_data/events.jsonl", "--by", "month", "--as-of", "2026-11-01T00:00Z", "-q"]
    res = run(*base, "--since", "2026-10-10", "--until", "2026-10-12")
    assert res.exit_code == 2 and res.stdout == ""
    assert "--since 2026-10-10: --by month counts whole months" in res.stderr
    assert "give --since 2026-10-01 (or 2026-11-01), or count by day: --by day" in res.stderr
    whole = run(*base, "--since", "2026-10-01", "--until", "2026-11-01", "-f", "csv")
    assert whole.exit_code == 0, whole.stderr


def test_conflicting_redeliveries_in_files_are_said_as_sessionize_says_them(
    tmp_path: Path,
) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [genesys_line("e1", "v1", at("2026-10-03T09:00Z"))])
    b = write_jsonl(tmp_path / "b.jsonl", [genesys_line("e1", "v1", at("2026-11-03T09:00Z"))])
    res = run(str(a), str(b), "--month", "2026-10", "-f", "csv", "-q")
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith(
        "warning: 1 event id(s) came more than once with different contents; the earliest of "
        "each was counted"
    )


def test_an_empty_input_is_not_an_empty_period(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    res = run(str(src), "--as-of", "2026-12-01", "-f", "json")
    assert res.exit_code == 0 and "warning: no events" not in res.stderr
    assert json.loads(res.stdout)["empty_period"] is None


def test_the_summary_keeps_lists_as_lists_in_json_and_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--summary -f json` (and Parquet) keep billable_classes and months_with_events as
    lists, as the full report's JSON does; text formats join them with "; " (they used to
    be one string joined with ";" everywhere)."""
    monkeypatch.chdir(ROOT)
    args = [*SAMPLE_ARGS, "--summary"]
    data = json.loads(run(*args, "-f", "json").stdout)
    assert data["billable_classes"] == ["page_view", "search", "custom"]
    out = tmp_path / "s.parquet"
    assert run(*args, "-o", str(out)).exit_code == 0
    assert pl.read_parquet(out)["months_with_events"].to_list() == [["2026-10"]]


# --------------------------------------------------------------------------------------------
# What a cron job must hear about: bad rows, empty inputs, the month over
# --------------------------------------------------------------------------------------------


T_OCT = datetime(2026, 10, 2, 9, tzinfo=UTC)


def test_a_rejected_row_stops_usage_from_files_unless_skipped(tmp_path: Path) -> None:
    """A bill from files silently left rejected rows out (exit 0, nothing under -q): now the
    first one is an error naming file, line and field, as in sessionize, whichever reader
    reads the file; with --on-error skip it is counted, and said even with -q."""
    good = [genesys_line(f"e{i}", "v1", T_OCT + timedelta(hours=i)) for i in range(3)]
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text("\n".join([*good, "{not json"]) + "\n")
    rows = [flat_event(f"p{i}", "v2", T_OCT + timedelta(hours=i)) for i in range(4)]
    bad_parquet = tmp_path / "bad.parquet"
    flat_frame(rows).with_columns(
        event_id=pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("event_id"))
    ).write_parquet(bad_parquet)
    base = ["--month", "2026-10", "--as-of", "2026-11-01", "-q", "-f", "csv"]
    for src, where in ((bad_json, "bad.jsonl:4:"), (bad_parquet, "bad.parquet:3:")):
        res = run(str(src), *base)
        assert res.exit_code == ExitCode.DATA and res.stdout == ""
        assert res.stderr.count("\n") == 1 and where in res.stderr
        assert "--on-error skip" in res.stderr
        skip = run(str(src), *base, "--on-error", "skip")
        assert skip.exit_code == 0 and skip.stdout.startswith("period,")
        assert skip.stderr == (
            "warning: 1 rejected row is not counted (--on-error skip; `jtrack sessionize "
            "FILES --on-error skip --rejects FILE` lists why)\n"
        )
    assert run(str(bad_json), *base, "--on-error", "later").exit_code == ExitCode.USAGE


def test_an_empty_export_or_store_is_a_warning_even_with_quiet(tmp_path: Path) -> None:
    """A zero bill from an empty input was exit 0 and silent."""
    (tmp_path / "empty.jsonl").write_text("")
    flat_frame([]).write_parquet(tmp_path / "empty.parquet")
    src = tmp_path / "e.parquet"
    flat_frame(_october(1, 2)).write_parquet(src)
    res = run(
        str(tmp_path / "empty.jsonl"), str(tmp_path / "empty.parquet"), str(src),
        "--month", "2026-10", "--as-of", "2026-11-01", "-q",
    )  # fmt: skip
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        f"warning: {tmp_path / 'empty.jsonl'}: the file holds no events (it is empty)",
        f"warning: {tmp_path / 'empty.parquet'}: the file holds no events (it is empty)",
    ]
    store = tmp_path / "store"
    assert (
        runner.invoke(
            app, ["sessionize", str(tmp_path / "empty.jsonl"), "--store", str(store), "-q"]
        ).exit_code
        == 0
    )
    res = run("--store", str(store), "-q", "-f", "json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["warnings"] == [f"{store}: the store holds no events"]
    assert res.stderr == f"warning: {store}: the store holds no events\n"
    # the summary's JSON too (it had no warnings: a cron job reading it saw a zero bill),
    # an empty period's included
    res = run("--store", str(store), "-q", "--summary", "-f", "json")
    assert json.loads(res.stdout)["warnings"] == [f"{store}: the store holds no events"]
    args = ["--month", "2026-09", "--as-of", "2026-11-01", "--summary", "-f", "json", "-q"]
    res = run(str(src), *args)
    said = json.loads(res.stdout)["warnings"]
    assert len(said) == 1 and said[0].startswith("no events in 2026-09") and "(hint: " in said[0]
    assert res.stderr == f"warning: {said[0]}\n"
    full = json.loads(run(str(src), *[a for a in args if a != "--summary"]).stdout)
    assert full["warnings"] == said and full["empty_period"]["message"] in said[0]


def test_a_store_among_the_exports_and_a_file_named_twice_are_not_counted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack usage .` in a folder that holds the default store failed on the store's
    files (and would have counted its segments as exports); a file named twice, or reached
    through a link, was read twice (the reconciliation's rows doubled)."""
    src = tmp_path / "day.parquet"
    flat_frame(_october(3, 2)).write_parquet(src)
    (tmp_path / "link.parquet").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["sessionize", str(src), "-q"]).exit_code == 0
    args = ["--month", "2026-10", "--as-of", "2026-11-01", "--summary", "-f", "json", "-q"]
    once = json.loads(run(str(src), *args).stdout)
    for sources in (["."], [str(src), str(src)], [str(src), "link.parquet"]):
        res = run(*sources, *args)
        assert res.exit_code == 0, (sources, res.stderr)
        assert json.loads(res.stdout) == once, sources
    res = run(".jtrack", *args)
    assert res.exit_code == ExitCode.USAGE and "--store .jtrack" in res.stderr
    res = runner.invoke(app, ["report", ".", "-f", "json", "-q"])
    assert res.exit_code == 0 and json.loads(res.stdout)["overview"]["events"] == 6


def test_the_error_of_fail_over_allowance_names_the_month_over(tmp_path: Path) -> None:
    """Over the allowance in October, run in November: the line named November (not over)."""
    src = tmp_path / "e.parquet"
    flat_frame(_october(5, 2)).write_parquet(src)
    res = run(
        str(src), "--by", "month", "--since", "2026-10", "--until", "2026-12",
        "--as-of", "2026-11-20", "--users", "1", "--per-user", "4",
        "--fail-over-allowance", "-q", "-f", "csv",
    )  # fmt: skip
    assert res.exit_code == ExitCode.OVER_ALLOWANCE
    assert res.stderr.startswith("error: 2026-10: over the allowance of 4 billable events")
    assert "2026-11" not in res.stderr


def test_a_far_future_row_is_rejected_in_parquet_as_in_json_lines(tmp_path: Path) -> None:
    """The lazily scanned Parquet path billed an event dated years after the rest, which
    the same row in JSON lines (and sessionize, and report) rejects: the exit code and the
    bill depended on the file's format."""
    rows = [flat_event(f"e{i}", "v1", T_OCT + timedelta(minutes=i)) for i in range(100)]
    rows[5] = flat_event("e5", "v1", datetime(2031, 1, 1, tzinfo=UTC))
    src = tmp_path / "far.parquet"
    flat_frame(rows).write_parquet(src)
    args = ["--as-of", "2031-02-01", "--since", "2026-10", "--until", "2031-02", "--by", "month"]
    res = run(str(src), *args, "-q", "-f", "json")
    assert res.exit_code == ExitCode.DATA and "far.parquet:6:" in res.stderr
    assert "[far_future]" in res.stderr
    res = run(str(src), *args, "-q", "-f", "json", "--on-error", "skip")
    out = json.loads(res.stdout)
    assert out["reconciliation"]["rejected"] == 1
    assert [(r["period"], r["billable"]) for r in out["rows"] if r["billable"]] == [("2026-10", 99)]
    jsonl = tmp_path / "far.jsonl"
    flat_frame(rows).write_ndjson(jsonl)
    same = json.loads(run(str(jsonl), *args, "-q", "-f", "json", "--on-error", "skip").stdout)
    assert same["rows"] == out["rows"] and same["reconciliation"]["rejected"] == 1


def test_stdin_named_twice_is_read_once(tmp_path: Path) -> None:
    """`usage - -` read stdin, then an empty second stdin, and warned it held no events."""
    lines = "".join(
        genesys_line(f"e{i}", "v1", T_OCT + timedelta(minutes=i)) + "\n" for i in range(5)
    )
    res = runner.invoke(
        app,
        ["usage", "-", "-", "--as-of", "2026-11-01", "--month", "previous", "-q", "-f", "json"],
        input=lines,
    )
    assert res.exit_code == 0, res.stderr
    assert res.stderr == "" and json.loads(res.stdout)["reconciliation"]["rows_read"] == 5


def test_a_folder_with_only_a_store_and_a_glob_into_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sessionize .` in a folder left with only its store found nothing new (exit 0)
    before stores were skipped in folders, and must still; usage and report have nothing
    to read there and say so; a glob or a path into a store's files is refused, never
    billed as exports."""
    src = tmp_path / "day.parquet"
    flat_frame(_october(3, 2)).write_parquet(src)
    work = tmp_path / "exports"
    work.mkdir()
    monkeypatch.chdir(work)
    assert runner.invoke(app, ["sessionize", str(src), "-q"]).exit_code == 0
    res = runner.invoke(app, ["sessionize", ".", "-f", "json", "-q"])
    assert res.exit_code == 0 and json.loads(res.stdout)["summary"]["files"] == []
    for cmd in (["usage", "."], ["report", "."]):
        res = runner.invoke(app, [*cmd, "-q"])
        assert res.exit_code == ExitCode.DATA and "only a jtrack store" in res.stderr, cmd
    part = next((work / ".jtrack" / "current" / "index").glob("*.parquet"))
    for source in (".jtrack/current/index/*.parquet", str(part)):
        res = run(source, "-q")
        assert res.exit_code == ExitCode.USAGE and "--store" in res.stderr, source
    res = runner.invoke(app, ["report", "--store", ".jtrack", "--as-of", "2026-10-05", "-q"])
    assert res.exit_code == ExitCode.USAGE and "--month previous" in res.stderr


def test_usage_names_a_file_that_only_repeats_an_earlier_one() -> None:
    """`usage sample_data/` reads the demo export twice (JSON lines and Parquet): the 4,045
    duplicates were right and unexplained; a note names the file that adds nothing."""
    sample = ROOT / "sample_data"
    args = ["--month", "2026-10", "--as-of", "2026-11-01", "-f", "json", "-q"]
    res = run(str(sample), *args)
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)["reconciliation"]
    assert rec["duplicates"] == 4045
    named = [n for n in rec["notes"] if "is one of an earlier file's" in n]
    assert len(named) == 1 and named[0].startswith(f"{sample / 'events.parquet'}: every one")
    alone = json.loads(run(str(sample / "events.jsonl"), *args).stdout)["reconciliation"]
    assert alone["duplicates"] == 45
    assert not [n for n in alone["notes"] if "earlier file" in n]


def test_an_output_in_a_missing_folder_names_the_folder_not_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "nodir" / "u.csv"
    res = run("sample_data/events.jsonl", "--month", "2026-10", "-q", "-o", str(out))
    assert res.exit_code == 1 and ".lock" not in res.stderr
    assert f"{out}: cannot write (no such directory {out.parent})" in res.stderr


def test_an_as_of_the_clocks_skipped_or_repeat_is_refused() -> None:
    from jtrack.usecases.usage import parse_as_of

    with pytest.raises(UsageError, match="no such time in Europe/London"):
        parse_as_of("2026-03-29T01:30", "Europe/London")
    # the hour that happens twice (autumn) was taken as the first of the two, unsaid: a
    # bill's cut-off names which, by its offset
    with pytest.raises(UsageError, match="comes twice in Europe/London") as said:
        parse_as_of("2026-10-25T01:30", "Europe/London")
    assert "2026-10-25T01:30:00+01:00 (the first) or 2026-10-25T01:30:00+00:00" in str(
        said.value.hint
    )
    assert parse_as_of("2026-10-25T01:30+00:00", "Europe/London") == at("2026-10-25T01:30Z")
    assert parse_as_of("2026-10-25T02:30", "Europe/London") == at("2026-10-25T02:30Z")
    assert parse_as_of("2026-10-25", "Europe/London") == at("2026-10-24T23:00Z")
    # (the library's naive datetime says which by its `fold`: tests/test_library.py)
    assert parse_as_of("2026-03-29T02:30", "Europe/London") == at("2026-03-29T01:30Z")
    # a date alone is its day's first instant, also where midnight is skipped (01:00 local)
    assert parse_as_of("2026-09-06", "America/Santiago") == at("2026-09-06T04:00Z")


# --------------------------------------------------------------------------------------------
# A billing admin's checks (the month by default, dates out of range, what stderr names)
# --------------------------------------------------------------------------------------------


def test_no_month_is_the_month_current_names_even_at_midnight_on_the_1st(tmp_path: Path) -> None:
    """At `--as-of 2026-11-01T00:00:00Z` no --month reported October (and exit 3 on its
    allowance) where `--month current`, documented as the default, reported November."""
    src = write_jsonl(
        tmp_path / "e.jsonl",
        [genesys_line(f"e{m}", "c1", at(f"2026-{m}-05T10:00:00Z")) for m in ("03", "10")],
    )
    for clock, tz in (("2026-11-01T00:00:00Z", "UTC"), ("2026-04-01T00:00:00", "Europe/Amsterdam")):
        args = [str(src), "--as-of", clock, "--tz", tz, "--summary", "-f", "json", "-q"]
        default, current = run(*args), run(*args, "--month", "current")
        assert default.exit_code == current.exit_code == 0, default.stderr
        assert json.loads(default.stdout) == json.loads(current.stdout)
        assert json.loads(default.stdout)["month"] == clock[:7]
        # the empty month named as a month, the way back in the hint
        month = clock[:7]
        assert f"warning: no events in {month} (not begun at as_of); the files hold" in (
            default.stderr
        )
        assert "--month previous" in default.stderr
    over = [str(src), "--users", "1", "--per-user", "0", "--fail-over-allowance", "-q"]
    assert run(*over, "--as-of", "2026-11-01T00:00:00Z").exit_code == 0  # (November: none)
    assert run(*over, "--as-of", "2026-11-01T00:00:00Z", "--month", "previous").exit_code == 3


@pytest.mark.parametrize(
    "args",
    [
        ["--month", "0000-01"],
        ["--month", "9999-12"],
        ["--as-of", "9999-12-31T23:59:59Z"],
        ["--as-of", "0001-01-01T00:00:00Z"],
        ["--since", "0001-01-01", "--until", "0001-01-03"],
        ["--month", "previous", "--as-of", "0001-01-15T00:00:00Z"],
    ],
)
def test_a_date_out_of_range_is_exit_2_with_a_hint(tmp_path: Path, args: list[str]) -> None:
    """Each was `error: internal error: ValueError: year 0 is out of range` (exit 1)."""
    src = write_jsonl(tmp_path / "e.jsonl", [genesys_line("e1", "c1", at("2026-10-05T10:00:00Z"))])
    res = run(str(src), *args, "-q")
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith(f"error: {args[-2] if args[0] != '--since' else '--since'} ")
    assert "out of range (jtrack takes years 1900 to 9998)" in res.stderr
    assert "internal error" not in res.stderr and res.stdout == ""
    # report takes the same words
    clock_only = "--as-of" in args and "--month" not in args  # (report: a clock for a word)
    rep = runner.invoke(app, ["report", str(src), *args, *(["--month", "previous"] * clock_only)])
    assert rep.exit_code == 2 and "out of range" in rep.stderr, rep.stderr


def test_months_the_input_holds_are_listed_not_spanned(tmp_path: Path) -> None:
    """`the files hold events in 2026-02 .. 2026-11 (5 months)` read as every month between,
    where they held five of them."""
    months = ["2026-02", "2026-03", "2026-09", "2026-10", "2026-11"]
    src = write_jsonl(
        tmp_path / "e.jsonl",
        [genesys_line(f"e{i}", "c1", at(f"{m}-05T10:00:00Z")) for i, m in enumerate(months)],
    )
    res = run(str(src), "--month", "2027-01", "--as-of", "2026-11-15T00:00:00Z", "-q")
    assert res.exit_code == 0
    assert "the files hold events in 5 months: 2026-02, 2026-03, ..., 2026-11" in res.stderr
    assert " .. 2026-11" not in res.stderr


def test_exit_3_names_every_month_of_the_period_over_the_allowance(tmp_path: Path) -> None:
    """Over in October and November: stderr named November alone (the JSON both)."""
    lines = [genesys_line(f"o{i}", "c1", at(f"2026-10-30T1{i}:00:00Z")) for i in range(6)] + [
        genesys_line(f"n{i}", "c1", at(f"2026-11-02T1{i}:00:00Z")) for i in range(5)
    ]
    src = write_jsonl(tmp_path / "e.jsonl", lines)
    res = run(
        str(src), "--since", "2026-10-30", "--until", "2026-11-03", "--users", "1",
        "--per-user", "3", "--as-of", "2026-12-01", "--fail-over-allowance", "-q",
    )  # fmt: skip
    assert res.exit_code == 3
    assert res.stderr.startswith("error: 2026-11: 5 billable events month to date, over the ")
    assert "by 2; 2026-10 of the period too (their rows show by how much)" in res.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--since", "2026-11-20", "--as-of", "2026-11-15"], "on or after 2026-11-20 (not"),
        (["--until", "2026-09-15", "--as-of", "2026-11-15"], "on or before 2026-09-14; the"),
        (["--until", "2026-09-15", "--as-of", "2026-09-10"], "on or before 2026-09-14; every"),
        (["--month", "2026-09"], "no events in 2026-09; the files hold"),
        (["--month", "2026-12", "--as-of", "2026-11-15"], "no events in 2026-12 (not begun at"),
    ],
)
def test_an_empty_period_is_named_as_it_was_asked(
    tmp_path: Path, args: list[str], said: str
) -> None:
    """The empty period's warning said `2026-11-20 .. 2026-11-14 (not begun at as_of)` (a
    range backwards) for a --since after as-of, `2026-10-01 .. 2026-09-14` for an --until
    before the input (and "not begun" of a period long past), and a past month as its days;
    an end left open was said as a day ("no events in 2026-09-14" for an --until with
    nothing before it: "on or before")."""
    src = write_jsonl(tmp_path / "e.jsonl", [genesys_line("e1", "c1", at("2026-10-05T10:00:00Z"))])
    res = run(str(src), *args, "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert said in res.stderr and res.stderr.startswith("warning: no events "), res.stderr
    period = json.loads(res.stdout)["empty_period"]["period"]
    assert " .. " not in period or period.split(" .. ")[0] <= period.split(" .. ")[1][:10]


def test_the_library_refuses_dates_out_of_range_as_the_options_do() -> None:
    """`UsageOptions(month=date(9999, 12, 1))` was a raw `ValueError: year 10000 is out of
    range` deep in the report (text was refused, dates were not)."""
    clock = datetime(2026, 10, 15, tzinfo=UTC)
    for kw in (
        {"as_of": clock, "month": date(9999, 12, 1)},
        {"as_of": datetime(9999, 12, 31, 23, tzinfo=UTC)},
        {"as_of": clock, "since": date(1, 1, 1)},
    ):
        with pytest.raises(UsageError, match=r"out of range \(jtrack takes years 1900 to 9998\)"):
            UsageOptions(**kw)


def test_a_row_far_after_the_other_files_is_named_with_its_line_and_field(
    tmp_path: Path,
) -> None:
    """A file of one event dated years after the other files' (far future only beside
    them): usage's error named neither its line nor its field ("a row is rejected: dated
    far after the rest of the input, or failing the checks of usage"), where sessionize
    names both."""
    base = tmp_path / "base.parquet"
    flat_frame(
        [flat_event(f"e{i}", "v1", T_OCT + timedelta(minutes=i)) for i in range(100)]
    ).write_parquet(base)
    far = tmp_path / "far.jsonl"
    flat_frame([flat_event("x1", "v2", datetime(2031, 1, 1, tzinfo=UTC))]).write_ndjson(far)
    args = ["--as-of", "2031-02-01", "--since", "2026-10", "--until", "2031-02", "--by", "month"]
    res = run(str(base), str(far), *args, "-q")
    assert res.exit_code == ExitCode.DATA
    said = res.stderr.splitlines()[0]
    assert said.startswith(f"error: {far}:1: field 'created_date': dated more than 365 days")
    assert "[far_future]" in said
    store = tmp_path / "st"
    res = runner.invoke(app, ["sessionize", str(base), str(far), "--store", str(store), "-q"])
    assert res.stderr.splitlines()[0].split(" (hint")[0] == said.split(" (hint")[0]


def test_exports_cut_at_another_zones_midnight_are_said_to_be(tmp_path: Path) -> None:
    """Daily exports cut at Sydney's midnight, counted on UTC days: each file's first
    eleven hours were late events (1,276 of an October in an audit, none late), and
    nothing said why. A note names them and the way out (--tz the zone of the cut)."""
    files = []
    for day in (5, 6, 7):
        local = datetime(2026, 10, day, tzinfo=zoneinfo.ZoneInfo("Australia/Sydney"))
        start = local.astimezone(UTC)  # (the helper writes a time's fields with a Z)
        rows = [
            genesys_line(f"d{day}-{h}", f"c{h}", start + timedelta(hours=h, minutes=30))
            for h in range(24)
        ]
        files.append(write_jsonl(tmp_path / f"events-2026-10-{day:02}.jsonl", rows))
    as_of = at("2026-10-09T00:00:00Z")
    utc = compute_usage(UsageInput.from_sources(files), UsageOptions(as_of=as_of))
    assert utc.reconciliation["late_events"] > 0
    said = [n for n in utc.reconciliation["notes"] if "cut at another zone's midnight" in n]
    assert len(said) == 1 and said[0].startswith("3 daily export files have a tenth"), said
    assert "on UTC days" in said[0] and "give --tz the zone" in said[0]
    sydney = compute_usage(
        UsageInput.from_sources(files), UsageOptions(as_of=as_of, tz="Australia/Sydney")
    )
    assert sydney.reconciliation["late_events"] == 0
    assert not [n for n in sydney.reconciliation["notes"] if "another zone's" in n]


def test_the_rejected_rows_note_says_they_are_the_inputs_not_the_months(tmp_path: Path) -> None:
    """A store whose inputs had a rejected row (of January) said "1 rows were rejected and
    are not counted" under the bill of every month, as if that month had lost them: the
    store's count, of no period (a rejected row's day is what may be wrong)."""
    good = [genesys_line(f"e{i}", "v1", T_OCT + timedelta(hours=i)) for i in range(3)]
    src = tmp_path / "oct.jsonl"
    src.write_text("\n".join([*good, "{not json"]) + "\n")
    root = str(tmp_path / "s")
    made = CliRunner().invoke(
        app, ["sessionize", str(src), "--store", root, "-q", "--on-error", "skip"]
    )
    assert made.exit_code == 0, made.output
    res = run("--store", root, "--month", "2026-10", "--as-of", "2026-11-01", "-f", "csv")
    assert res.exit_code == 0, res.output
    assert (
        "note: 1 row of the store's inputs was rejected and is not counted (in any period)"
        in res.stderr.splitlines()
    )


def test_a_copy_of_standard_input_a_killed_usage_left_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`usage -` copies standard input to $TMPDIR; one killed with SIGKILL left the copy (the
    exports' events) for ever. The next `usage -` removes those no process holds and
    untouched for a minute; one held (a running `usage -`), one just made, or a file of
    another name stays."""
    import fcntl
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = time.time() - 600
    left, held, fresh, other = (
        tmp_path / n for n in ("jtrack-stdin-a1", "jtrack-stdin-b2", "jtrack-stdin-c3", "notes")
    )
    for f in (left, held, fresh, other):
        f.write_bytes(b"{}\n")
    for f in (left, held, other):
        os.utime(f, (old, old))
    lock = os.open(held, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    try:
        res = CliRunner().invoke(
            app, ["usage", "-", "--month", "2026-10", "-q"], input=sample.read_bytes()
        )
    finally:
        os.close(lock)
    assert res.exit_code == 0, res.stderr
    assert not left.exists() and held.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (held, fresh, other)
    )  # (its own copy removed too)
