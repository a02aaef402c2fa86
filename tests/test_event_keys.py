"""Index parts' event keys (`event-keys/<part>`) on every path that writes them.

A run decides redeliveries against the hashes of every event id the store holds. Those are
kept beside each index part (each row's `event_hash` and `created_date`, in the part's
order), so a night reads two numbers per stored event instead of reading and hashing every
id. Every path that writes, rewrites, merges or carries index parts is taken here, and
after each the store is checked: each index part has its keys, the manifest lists them,
they match the part row for row, nothing else lies in `event-keys/`, and what a run reads
(`Snapshot.event_keys`) is what hashing the index gives. A store an earlier jtrack wrote
(no keys) is read by hashing, and runs on it decide as before.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)
from polars.testing import assert_frame_equal

from jtrack.engine import run_sessionize
from jtrack.engine.compact import compact
from jtrack.store import Store
from tests.helpers import (
    T0,
    as_an_earlier_jtrack_wrote,
    as_parquet,
    flat_frame,
    genesys_line,
    minutes,
    views,
)


def _hashed_index(snap: Any) -> pl.DataFrame:
    return (
        snap.scan_index()
        .select(pl.col("event_id").nchash.xxh3_64().alias("_h"), "created_date")
        .collect()
        .sort("_h", "created_date")
    )


def _check(store: Store, older: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Every index part (but those named in `older`: an earlier jtrack's) has its keys,
    listed, row for row those of the part, and alone in `event-keys/`; every listed file
    exists; the keys a run reads are the index's ids hashed."""
    store.refresh()
    with store.snapshot() as snap:
        for rel in snap.manifest.files():
            assert (snap.dir / rel).is_file(), rel
        parts = snap.manifest.parts_of("index")
        for part in parts:
            if part.file in older:
                assert part.keys is None, part
                continue
            assert part.keys == f"event-keys/{part.file}", part
            keys = pl.read_parquet(snap.dir / part.keys, glob=False)
            rows = pl.read_parquet(
                snap.dir / "index" / part.file, columns=["event_id", "created_date"], glob=False
            )
            want = rows.select(
                pl.col("event_id").nchash.xxh3_64().alias("event_hash"), "created_date"
            )
            assert keys.height == part.rows
            assert_frame_equal(keys, want)
        folder = snap.dir / "event-keys"
        on_disk = {f"event-keys/{p.name}" for p in folder.iterdir()} if folder.is_dir() else set()
        assert on_disk == {p.keys for p in parts if p.keys}
        for p in snap.manifest.parts:
            assert p.table == "index" or p.keys is None, p
        got = snap.event_keys().sort("_h", "created_date")
        assert_frame_equal(got, _hashed_index(snap))


def test_every_kind_of_run_gives_each_index_part_its_keys(tmp_path: Path) -> None:
    """New store, new visitors, late events that rewrite stored parts, a redelivery, a new
    contacts file, --rebuild, `jtrack store compact`, a rollback and a run on it."""
    store = Store.open(tmp_path / "store")
    day1 = as_parquet(tmp_path / "d1.parquet", views("a", range(40), T0))
    run_sessionize([day1], store, units=2)
    _check(store)
    day2 = as_parquet(tmp_path / "d2.parquet", views("b", range(40, 60), T0 + timedelta(days=1)))
    run_sessionize([day2], store, units=2)
    _check(store)
    late = as_parquet(tmp_path / "late.parquet", views("c", range(0, 60, 7), T0 + minutes(3), n=1))
    res = run_sessionize([late], store, units=2)
    assert res.summary.run["parts_rewritten"] > 0
    _check(store)
    # an event of day 1 delivered again, earlier: the stored copy becomes the duplicate
    again = flat_frame(views("a", range(3, 4), T0 - minutes(30), n=1)).with_columns(
        event_id=pl.lit("a-3-0")
    )
    again.write_parquet(tmp_path / "again.parquet")
    res = run_sessionize([tmp_path / "again.parquet"], store)
    assert res.summary.duplicates == 1
    _check(store)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "contact_id,first_name,last_name,emails,phones,cookie_ids,external_ids\n"
        "C1,Ada,Lovelace,ada@example.org,,visitor-3,\n"
    )
    run_sessionize([], store, contacts=contacts)
    _check(store)
    run_sessionize([], store, rebuild=True, units=3)
    _check(store)
    assert compact(store).version is not None
    _check(store)
    store.rollback(store.versions()[-2])
    _check(store)
    day3 = as_parquet(tmp_path / "d3.parquet", views("d", range(5, 80, 3), T0 + timedelta(days=2)))
    run_sessionize([day3], store, units=2)
    _check(store)


def test_a_growing_file_followed_run_after_run_gives_each_index_part_its_keys(
    tmp_path: Path,
) -> None:
    """`jtrack watch` (follow): a growing JSON lines file, a run per piece, the keys of
    earlier parts kept in the process."""
    store = Store.open(tmp_path / "store")
    src = tmp_path / "live.jsonl"
    src.write_text("")
    for piece in range(6):
        with open(src, "a", encoding="utf-8") as fh:
            for v in range(piece, piece + 12):
                at = T0 + minutes(5 * piece + v % 3)
                fh.write(genesys_line(f"e{piece}-{v}", f"visitor-{v}", at) + "\n")
            if piece:  # one event of the last piece again
                fh.write(genesys_line(f"e{piece - 1}-{piece}", "visitor-0", T0) + "\n")
        run_sessionize([src], store, follow=True)
        _check(store)


def test_a_store_an_earlier_jtrack_wrote_decides_as_one_with_keys(tmp_path: Path) -> None:
    """Parts without keys are hashed; a run beside them finds the same redeliveries as on
    a store with keys, and the store it writes equals the other's; compaction gives every
    part its keys."""
    stores = {}
    for name in ("old", "new"):
        store = Store.open(tmp_path / name)
        d1 = as_parquet(tmp_path / f"{name}-1.parquet", views("a", range(30), T0))
        run_sessionize([d1], store)
        stores[name] = store
    older = as_an_earlier_jtrack_wrote(stores["old"].root, "keys", "event-keys")
    stores["old"].refresh()
    _check(stores["old"], older)
    # a day whose rows include redeliveries of day 1 (an earlier copy, a later one)
    rows = views("b", range(20, 50), T0 + timedelta(hours=5))
    rows += views("a", range(0, 30, 5), T0 - minutes(40), n=1)
    rows += views("a", range(1, 30, 5), T0 + timedelta(hours=9), n=1)
    for name, store in stores.items():
        d2 = as_parquet(tmp_path / f"{name}-2.parquet", rows)
        res = run_sessionize([d2], store)
        assert res.summary.duplicates == 12, name
        _check(store, older if name == "old" else set())
    a, b = (s.scan_sessions().collect().sort("id") for s in stores.values())
    assert_frame_equal(a, b)
    ea, eb = (
        s.scan_events(columns=["event_id", "session_id", "created_date"]).collect().sort("event_id")
        for s in stores.values()
    )
    assert_frame_equal(ea, eb)
    compact(stores["old"])
    _check(stores["old"])
