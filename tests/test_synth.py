"""The synthetic event generator (tests/synth/, dev only): determinism, schema, realism,
messiness and the Genesys NDJSON shape. Small inputs only; the whole file runs in a few
seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from synth import (
    GAP_MS,
    SAMPLE_EVENTS,
    SAMPLE_SEED,
    SAMPLE_VISITORS,
    generate_flat,
    genesys_lines,
    iter_flat_chunks,
    to_genesys_ndjson,
    write_sample,
)

from jtrack.schema import ACTIVITY_KINDS, EVENT_SCHEMA, EVENT_TYPE_PREFIX, SYSTEM_KINDS

N = 2_000
SEED = 11
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
ENVELOPE = {
    "id",
    "correlationId",
    "customerId",
    "customerIdType",
    "session",
    "eventType",
    "createdDate",
}
PAYLOAD_KEY = {
    "WebEvent": "webEvent",
    "SegmentAssignmentEvent": "segmentAssignmentEvent",
    "OutcomeAchievedEvent": "outcomeAchievedEvent",
    "WebActionEvent": "webActionEvent",
}
WEB_COLUMNS = [c for c in EVENT_SCHEMA if c.startswith(("page_", "browser_", "device_", "geo"))]


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return generate_flat(N, seed=SEED, visitors=160)


@pytest.fixture(scope="module")
def lines(events: pl.DataFrame) -> list[dict[str, object]]:
    return [json.loads(line) for line in genesys_lines(events)]


def _web_activity(events: pl.DataFrame) -> pl.DataFrame:
    """Distinct web-session activity events, per visitor in time order, with the gap before
    each and whether its source session differs from the previous event's."""
    return (
        events.unique("event_id", keep="first", maintain_order=True)
        .filter(pl.col("kind").is_in(ACTIVITY_KINDS) & (pl.col("source_session_type") == "web"))
        .sort("customer_id", "created_date", "event_id")
        .with_columns(
            gap=pl.col("created_date").diff().over("customer_id"),
            changed=(pl.col("source_session_id") != pl.col("source_session_id").shift())
            .over("customer_id")
            .fill_null(True),
        )
    )


def test_same_seed_same_frame_other_seed_other_frame(events: pl.DataFrame) -> None:
    assert_frame_equal(events, generate_flat(N, seed=SEED, visitors=160))
    small, other = (generate_flat(200, seed=s, visitors=20) for s in (SEED, SEED + 1))
    assert not small["event_id"].equals(other["event_id"])


def test_exact_schema_and_row_count(events: pl.DataFrame) -> None:
    assert list(events.schema.items()) == list(EVENT_SCHEMA.items())
    assert events.height == N
    assert generate_flat(0).schema == pl.Schema(EVENT_SCHEMA)
    assert generate_flat(1).height == 1


def test_chunks_concatenate_to_the_one_shot_frame(events: pl.DataFrame) -> None:
    chunks = list(iter_flat_chunks(N, seed=SEED, visitors=160, chunk_size=500))
    assert len(chunks) > 1
    assert_frame_equal(pl.concat(chunks), events)
    # a visitor never straddles two chunks
    owners = pl.concat(
        [
            c.select("customer_id").unique().with_columns(chunk=pl.lit(i))
            for i, c in enumerate(chunks)
        ]
    )
    assert owners["customer_id"].is_unique().all()


def test_redeliveries_are_exact_duplicate_rows(events: pl.DataFrame) -> None:
    n_dup = events.height - events["event_id"].n_unique()
    assert 0 < n_dup < 0.05 * events.height
    assert events.unique().height == events["event_id"].n_unique()
    assert generate_flat(500, seed=3, duplicate_rate=0.0)["event_id"].is_unique().all()


def test_rows_are_shuffled_unless_asked_not_to(events: pl.DataFrame) -> None:
    assert not events["created_date"].is_sorted()
    ordered = generate_flat(500, seed=3, shuffle=False)
    assert ordered.select(pl.col("created_date").is_sorted().over("customer_id")).to_series().all()


def test_source_sessions_follow_the_20_minute_rule(events: pl.DataFrame) -> None:
    act = _web_activity(events)
    new = act["gap"].is_null() | (act["gap"] >= timedelta(minutes=20))
    assert (new == act["changed"]).all()
    inside = act.filter(~pl.col("changed"))
    assert (inside["gap"] >= timedelta(seconds=5)).all()
    assert act.filter(pl.col("changed"))["kind"].unique().to_list() == ["page_view"]


def test_gap_boundary_cases_are_present(events: pl.DataFrame) -> None:
    act = _web_activity(events)
    exact = act.filter(pl.col("gap") == timedelta(milliseconds=GAP_MS))
    just_below = act.filter(pl.col("gap") == timedelta(milliseconds=GAP_MS - 1))
    assert exact.height >= 1 and exact["changed"].all()
    assert just_below.height >= 1 and not just_below["changed"].any()


def test_times_are_utc_milliseconds_inside_the_window(events: pl.DataFrame) -> None:
    t = events["created_date"]
    assert (t.dt.microsecond() % 1000 == 0).all()
    assert str(t.min()) >= "2026-10-01" and str(t.max()) < "2026-10-18"


def test_visitor_context_is_constant_and_counters_run(events: pl.DataFrame) -> None:
    web = events.filter(
        pl.col("source_session_type") == "web", pl.col("kind").is_in(ACTIVITY_KINDS)
    )
    per_visitor = web.group_by("customer_id").agg(
        pl.col("user_agent_string", "geolocation_locality", "ip_address").n_unique()
    )
    assert (per_visitor.drop("customer_id").max_horizontal() == 1).all()
    act = _web_activity(events)
    steps = act.select(pl.col("total_event_count").diff().over("customer_id")).drop_nulls()
    assert (steps.to_series() == 1).all()
    assert (events["customer_id_type"] == "cookie").all()
    # referrer and campaign only on the first event of a session
    assert (
        act.filter(~pl.col("changed"))["referrer_url"].null_count()
        == act.filter(~pl.col("changed")).height
    )


def test_kinds_and_payload_columns(events: pl.DataFrame) -> None:
    kinds = events["kind"].value_counts().to_dict(as_series=False)
    counts = dict(zip(kinds["kind"], kinds["count"], strict=True))
    assert counts["page_view"] > events.height / 2
    assert {"search", "custom", *SYSTEM_KINDS} <= counts.keys()
    system = events.filter(pl.col("kind").is_in(SYSTEM_KINDS))
    assert 0 < system.height < 0.1 * events.height
    assert system.select([*WEB_COLUMNS, "event_name", "attributes"]).null_count().row(0) == tuple(
        [system.height] * (len(WEB_COLUMNS) + 2)
    )
    seg = events.filter(pl.col("kind") == "segment_assigned")
    assert (seg["event_type"] == "SegmentAssignmentEvent").all() and seg[
        "segment_id"
    ].is_not_null().all()
    out = events.filter(pl.col("kind") == "outcome_achieved")
    assert out["outcome_display_name"].is_not_null().all()
    act = events.filter(pl.col("kind") == "web_action")
    assert (
        act.select("action_id", "action_state", "action_map_id").null_count().sum_horizontal()[0]
        == 0
    )
    searches = events.filter(pl.col("kind") == "search")
    assert (searches["event_name"] == "page_viewed").all()
    assert searches["page_url"].str.contains(r"\?q=").all()
    assert (
        events.filter(pl.col("kind") != "search")["search_query"].null_count()
        == events.filter(pl.col("kind") != "search").height
    )


def test_custom_events_carry_attributes_and_some_carry_traits(events: pl.DataFrame) -> None:
    added = events.filter(pl.col("event_name") == "product_added")
    names = added["attributes"].list.eval(pl.element().struct.field("name")).explode()
    assert {"productId", "quantity", "price"} <= set(names.to_list())
    traits = events.filter(pl.col("traits").list.len() > 0)
    assert traits.height > 0 and (traits["event_name"] == "form_submitted").all()
    phones = (
        traits.select(pl.col("traits").explode())
        .unnest("traits")
        .filter(pl.col("name") == "cellPhone")["value"]
    )
    assert phones.len() > 0 and phones.str.contains(r"^\+[1-9]\d{7,14}$").all()


def test_custom_delivery_sessions() -> None:
    df = generate_flat(2_000, seed=5, visitors=100, custom_session_rate=0.3)
    delivery = df.filter(pl.col("source_session_type") == "delivery")
    assert delivery.height > 0
    assert set(delivery["event_name"].unique()) == {"product_purchased", "order_dispatched"}
    assert (delivery["kind"] == "custom").all() and (delivery["event_type"] == "WebEvent").all()
    spans = (
        delivery.unique("event_id")
        .group_by("source_session_id")
        .agg(
            pl.col("customer_id").n_unique(),
            pl.col("created_date").sort().diff().min().alias("gap"),
        )
    )
    assert (spans["customer_id"] == 1).all()
    assert (spans["gap"].drop_nulls() >= timedelta(hours=2)).all()


def test_genesys_lines_have_the_envelope_and_one_payload(
    events: pl.DataFrame, lines: list[dict[str, object]]
) -> None:
    assert len(lines) == events.height
    for obj, short in zip(lines, events["event_type"], strict=True):
        assert obj.keys() >= ENVELOPE
        assert obj["eventType"] == EVENT_TYPE_PREFIX + short
        payloads = [k for k in obj if k.endswith("Event") and k != "eventType"]
        assert payloads == [PAYLOAD_KEY[short]]
    first = lines[0]
    assert isinstance(first["createdDate"], str) and first["createdDate"].endswith("Z")
    assert len(first["createdDate"]) == len("2026-10-03T09:12:03.120Z")


def test_genesys_web_events_look_like_the_real_export(lines: list[dict[str, object]]) -> None:
    web = [o["webEvent"] for o in lines if "webEvent" in o]
    assert all(isinstance(w, dict) and "attributes" in w and "traits" in w for w in web)
    added = next(w for w in web if isinstance(w, dict) and w["eventName"] == "product_added")
    assert isinstance(added, dict)
    attributes = added["attributes"]
    assert isinstance(attributes, dict) and attributes["quantity"]["dataType"] == "number"
    # absent fields are omitted, not null
    assert all(v is not None for w in web if isinstance(w, dict) for v in w.values())


def test_genesys_lines_escape_and_omit() -> None:
    df = generate_flat(20, seed=1, visitors=2, shuffle=False, duplicate_rate=0.0)
    df = df.with_columns(
        page_title=pl.lit('a "quoted" \\ back\nslash {,"x":null} \x01'),
        geolocation_latitude=pl.lit(float("nan")),
        event_type=pl.lit(None, pl.String),
    ).drop("traits")
    for obj in map(json.loads, genesys_lines(df)):
        web = obj.get("webEvent")
        if isinstance(web, dict) and "page" in web:
            assert web["page"]["title"] == 'a "quoted" \\ back\nslash {,"x":null} \x01'
            assert "latitude" not in web["geolocation"] and web["traits"] == {}
        assert str(obj["eventType"]).startswith(EVENT_TYPE_PREFIX)


def test_ndjson_round_trips_through_ingest(events: pl.DataFrame, tmp_path: Path) -> None:
    ingest = pytest.importorskip("jtrack.read")
    path = tmp_path / "events.jsonl"
    some = events.head(600)
    assert to_genesys_ndjson(some, path) == some.height
    back = ingest.read_events([path]).events.select(list(EVENT_SCHEMA))
    key = ["event_id", "created_date"]
    assert_frame_equal(back.sort(key), some.sort(key))


def test_committed_sample_matches_its_generator(tmp_path: Path) -> None:
    parquet = SAMPLE / "events.parquet"
    if not parquet.exists():
        pytest.skip("sample_data not generated")
    expected = generate_flat(SAMPLE_EVENTS, seed=SAMPLE_SEED, visitors=SAMPLE_VISITORS)
    assert_frame_equal(pl.read_parquet(parquet), expected)
    with (SAMPLE / "events.jsonl").open() as f:
        ids = [json.loads(line)["id"] for line in f]
    assert ids == expected["event_id"].to_list()
    # the committed files are exactly what the generator writes, byte for byte
    write_sample(tmp_path)
    for name in ("events.jsonl", "contacts.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


@pytest.mark.parametrize("how", ["module", "directory"])
def test_the_dev_entry_point_writes_the_same_rows(how: str, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "flat.parquet"
    runner = ["-m", "tests.synth"] if how == "module" else [str(root / "tests" / "synth")]
    proc = subprocess.run(
        [sys.executable, *runner, "flat", "300", str(out), "--seed", "3"],
        cwd=root if how == "module" else tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == f"wrote 300 events to {out}\n"
    assert_frame_equal(pl.read_parquet(out), generate_flat(300, seed=3))


def test_committed_contacts_are_valid_and_match_visitors() -> None:
    phonenumbers = pytest.importorskip("phonenumbers")
    path = SAMPLE / "contacts.csv"
    if not path.exists():
        pytest.skip("sample_data not generated")
    contacts = pl.read_csv(path, infer_schema=False)
    assert contacts.columns == [
        "contact_id",
        "first_name",
        "last_name",
        "emails",
        "phones",
        "cookie_ids",
        "external_ids",
    ]
    assert 35 <= contacts.height <= 45 and contacts["contact_id"].is_unique().all()
    events = pl.read_parquet(SAMPLE / "events.parquet")
    traits = events.select(pl.col("traits").explode()).unnest("traits").drop_nulls("value")
    trait_phones = set(traits.filter(pl.col("name") == "cellPhone")["value"])
    trait_emails = set(traits.filter(pl.col("name") == "email")["value"])
    cookies = set(events["customer_id"])
    by_phone = by_email = by_cookie = two_cookies = 0
    for row in contacts.iter_rows(named=True):
        phones = (row["phones"] or "").split(";") if row["phones"] else []
        e164 = set()
        for p in phones:
            number = phonenumbers.parse(p, None)
            assert phonenumbers.is_valid_number(number), p
            e164.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        own = set(row["cookie_ids"].split(";")) if row["cookie_ids"] else set()
        emails = set(row["emails"].split(";")) if row["emails"] else set()
        assert own <= cookies
        by_cookie += bool(own)
        two_cookies += len(own) == 2
        by_email += bool(emails & trait_emails) and not own
        by_phone += bool(e164 & trait_phones) and not own and not emails & trait_emails
    assert by_cookie >= 5 and by_email >= 5 and by_phone >= 3 and two_cookies == 1
    assert any(" " in p or "(" in p or "-" in p for p in contacts["phones"].drop_nulls())
