"""jtrack from a notebook (the README's "Library"): cells run one after another, with cron
runs, `%cd` and half-remembered arguments in between; each answer is the one the CLI would
give, or a jtrack.errors class saying what to do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from jtrack.engine import run_sessionize
from jtrack.store import Store
from jtrack.usecases.sessions import list_sessions
from tests.helpers import T0, flat_event, flat_frame


def _day(tmp: Path, name: str, day: int, n: int = 6) -> Path:
    rows = [
        flat_event(f"{name}-e{i}", f"v{i % 3}", T0 + timedelta(days=day, minutes=i))
        for i in range(n)
    ]
    path = tmp / f"{name}.parquet"
    flat_frame(rows).write_parquet(path)
    return path


def test_a_snapshot_holds_the_version_the_store_reads(tmp_path: Path) -> None:
    """`with store.snapshot()` read the current version, not the one the Store had pinned
    (README: a Store keeps to the version it first read): after a run elsewhere, events
    read in the snapshot had no session in the listing read a cell before."""
    root = tmp_path / "store"
    run_sessionize([_day(tmp_path, "d1", 0)], root)
    store = Store.open(root)
    sessions = list_sessions(store)
    run_sessionize([_day(tmp_path, "d2", 1)], Store.open(root))  # cron, meanwhile
    with store.snapshot() as snap:
        assert snap.name == store.pinned().name == "v000001"
        events = snap.scan_events(columns=["session_id"]).collect()
    assert events.height == 6
    assert events.join(sessions, left_on="session_id", right_on="id", how="anti").is_empty()
    store.refresh()  # the way on
    with store.snapshot() as snap:
        assert snap.name == "v000002"
        assert snap.scan_events(columns=["session_id"]).collect().height == 12
    fresh = Store.open(root)  # one not read yet holds the current version
    with fresh.snapshot() as snap:
        assert snap.name == "v000002"
    assert isinstance(sessions, pl.DataFrame)


def test_sessionize_counts_a_redelivered_event_once_as_the_cli_does(tmp_path: Path) -> None:
    """`sessionize(read_events(...).events)` (what `help(jtrack)` points to) counted an
    event delivered twice twice: event_count 3852 where `jtrack sessionize` said 3808."""
    from jtrack.core.sessionize import sessionize
    from jtrack.read import read_events

    rows = [flat_event(f"e{i}", "v1", T0 + timedelta(minutes=i)) for i in range(4)]
    src = tmp_path / "twice.parquet"
    flat_frame(rows + rows[:2]).write_parquet(src)  # two events redelivered
    events = read_events(str(src)).events
    out = sessionize(events)
    assert out.sessions["event_count"].sum() == 4
    assert sorted(out.events["event_id"]) == ["e0", "e1", "e2", "e3"]
    cli = run_sessionize([src], tmp_path / "store").session_table()
    assert cli["event_count"].sum() == 4
    every = sessionize(events, keep=pl.Series([True] * events.height))  # asked for: each row
    assert every.sessions["event_count"].sum() == 6
