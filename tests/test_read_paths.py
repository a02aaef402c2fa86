"""The fast read paths of `card`, `journey` and `usage` give what the plain scans give.

`jtrack card` finds a session by reading only the `id` column of the session table and then
the one match's bucket file, and reads a visitor's events as a slice of rows of its bucket
file; `jtrack usage` classifies (15-minute bucket, kind, session type) groups instead of
single events. These tests build a store with several buckets and check each fast path
against the ordinary scans (through roles and redaction too), never against timings.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from jtrack.access import Policy, StoreView
from jtrack.engine import run_sessionize
from jtrack.errors import AmbiguousIdError, NotFoundError, NotPermittedError, UsageError
from jtrack.store import Store
from jtrack.usecases.card import build_card, build_journey
from jtrack.usecases.sessions import find_session
from jtrack.usecases.usage import UsageInput, UsageOptions, _aggregate, compute_usage

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
AS_OF = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Store]:
    """The sample export in a store of one bucket, and in one of 1,024 buckets written by
    four work units (four parts per table)."""
    root = tmp_path_factory.mktemp("read")
    one = Store.open(root / "one")
    run_sessionize(
        [SAMPLE / "events.jsonl"],
        one,
        contacts=SAMPLE / "contacts.csv",
        default_region="GB",
        buckets=1,
    )
    four = Store.open(root / "four")
    run_sessionize(
        [SAMPLE / "events.jsonl"],
        four,
        contacts=SAMPLE / "contacts.csv",
        default_region="GB",
        units=4,
    )
    assert len(four.read_manifest().parts_of("sessions")) == 4
    return one, four


def _sessions(store: Store) -> pl.DataFrame:
    return (
        store.scan_sessions()
        .select("id", "customer_id", "type", "event_count")
        .collect(engine="in-memory")
        .sort("id")
    )


def _sample_ids(store: Store) -> list[str]:
    s = _sessions(store)
    picks = [
        *s.filter(pl.col("type") != "web")["id"].head(2).to_list(),
        *s.sort(["event_count", "id"], descending=[True, False])["id"].head(2).to_list(),
        *s.gather_every(max(1, s.height // 6))["id"].to_list(),
    ]
    return list(dict.fromkeys(picks))


def _cards(store: Store, ids: list[str], **kw: Any) -> list[dict[str, Any]]:
    return [build_card(store, sid[:10], as_of=AS_OF, **kw).to_dict() for sid in ids]


def test_find_session_matches_the_plain_scan(stores: tuple[Store, Store]) -> None:
    _, four = stores
    s = _sessions(four)
    for sid, customer, typ, _ in s.gather_every(max(1, s.height // 20)).iter_rows():
        for prefix in (sid, sid[:8], sid[:8].upper(), f"  {sid[:12]} "):
            assert find_session(four, prefix) == (sid, customer, typ)


def test_find_session_errors(stores: tuple[Store, Store]) -> None:
    one, four = stores
    with pytest.raises(NotFoundError):
        find_session(four, "zzzz")
    with pytest.raises(UsageError):
        find_session(four, " ")
    with pytest.raises(AmbiguousIdError) as in_four:
        find_session(four, "0")
    with pytest.raises(AmbiguousIdError) as in_one:
        find_session(one, "0")
    assert str(in_four.value) == str(in_one.value)


def test_cards_do_not_depend_on_the_layout(stores: tuple[Store, Store]) -> None:
    one, four = stores
    ids = _sample_ids(four)
    assert _cards(four, ids) == _cards(one, ids)


@pytest.mark.parametrize(
    "policy",
    [
        Policy(redact=True, query_params=("email",)),
        Policy(role="agent", permissions=frozenset({"journey:session:view", "journey:event:view"})),
    ],
    ids=["redacted", "agent"],
)
def test_cards_through_a_role_do_not_depend_on_the_layout(
    stores: tuple[Store, Store], policy: Policy
) -> None:
    one, four = stores
    ids = [
        sid for sid in _sample_ids(four) if policy.sees_custom_sessions or _type(four, sid) == "web"
    ]
    assert _cards(StoreView(four, policy), ids) == _cards(StoreView(one, policy), ids)


def _type(store: Store, sid: str) -> str:
    return str(_sessions(store).filter(pl.col("id") == sid)["type"].item())


def test_a_custom_session_stays_hidden_from_a_role_without_it(
    stores: tuple[Store, Store],
) -> None:
    _, four = stores
    custom = _sessions(four).filter(pl.col("type") != "web")["id"][0]
    view = StoreView(four, Policy(role="agent", permissions=frozenset({"journey:session:view"})))
    with pytest.raises(NotPermittedError):
        build_card(view, custom[:10], as_of=AS_OF)


def test_journeys_do_not_depend_on_the_layout(stores: tuple[Store, Store]) -> None:
    one, four = stores
    s = _sessions(four)
    busiest = s.group_by("customer_id").len().sort(["len", "customer_id"], descending=[True, False])
    customers = busiest["customer_id"].head(3).to_list()
    in_four = [build_journey(four, c, as_of=AS_OF).to_dict() for c in customers]
    assert in_four == [build_journey(one, c, as_of=AS_OF).to_dict() for c in customers]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "Asia/Kolkata"])
@pytest.mark.parametrize(
    "as_of", [AS_OF, datetime(2026, 10, 4, 13, 7, tzinfo=UTC)], ids=["after", "within"]
)
def test_store_usage_groups_are_those_of_the_per_event_classes(
    stores: tuple[Store, Store], tz: str, as_of: datetime
) -> None:
    _, four = stores
    inp = UsageInput.from_store(four)
    assert inp.classes_from is not None
    per_event = dataclasses.replace(inp, classes_from=None)
    billable = ("page_view", "custom_session", "system")
    opts = UsageOptions(as_of=as_of, tz=tz, billable=billable)
    fast, counts, _ = _aggregate(inp, opts)
    slow, slow_counts, _ = _aggregate(per_event, opts)
    assert_frame_equal(fast, slow)
    assert counts == slow_counts
    assert compute_usage(inp, opts).to_dict() == compute_usage(per_event, opts).to_dict()
