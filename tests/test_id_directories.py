"""Session parts' id directories (`session-ids/<part>`) on every path that writes them.

Every path that writes, rewrites, merges or carries session parts is taken here, and after
each the store is checked: each session part written by this jtrack has its id directory
(ids sorted, each with its row in the part), the manifest lists it, it exists, nothing else
lies in `session-ids/`, and a prefix lookup through the directories answers what a scan of
every id answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from jtrack.access import EVENT_VIEW, SESSION_VIEW, StoreView, load_policy
from jtrack.core.traffic import TRAFFIC_CLASSES
from jtrack.engine import run_sessionize
from jtrack.engine.compact import compact
from jtrack.errors import AmbiguousIdError, NotFoundError
from jtrack.store import Store
from jtrack.usecases.sessions import (
    SessionQuery,
    find_session,
    id_prefix_lengths,
    list_sessions,
    resolve_session_id,
)
from tests.helpers import (
    T0,
    as_an_earlier_jtrack_wrote,
    as_parquet,
    flat_event,
    genesys_line,
    minutes,
    views,
)

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------- helpers


def _check(store: Store, older: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Every session part (but those named in `older`: an earlier jtrack's) has its id
    directory, listed, whole and alone in `session-ids/`; every listed file exists; prefix
    lookups equal a scan of every id."""
    store.refresh()
    with store.snapshot() as snap:
        listed = set(snap.manifest.files())
        for rel in listed:
            assert (snap.dir / rel).is_file(), rel
        parts = snap.manifest.parts_of("sessions")
        for part in parts:
            if part.file in older:
                assert part.ids is None, part
                continue
            assert part.ids == f"session-ids/{part.file}", part
            ids = pl.read_parquet(snap.dir / part.ids, glob=False)
            assert ids.columns == ["id", "row"] and ids.schema["row"] == pl.UInt32()
            assert ids.get_column("id").is_sorted()
            rows = pl.read_parquet(snap.dir / "sessions" / part.file, columns=["id"], glob=False)
            assert ids.height == rows.height == part.rows
            assert ids.get_column("id").to_list() == rows.get_column("id")[ids["row"]].to_list()
        on_disk = (
            {f"session-ids/{p.name}" for p in (snap.dir / "session-ids").iterdir()}
            if (snap.dir / "session-ids").is_dir()
            else set()
        )
        assert on_disk == {p.ids for p in parts if p.ids}
        every = snap.scan_sessions().select("id", "customer_id", "type").collect().sort("id")
        ids_all = every.get_column("id")
        probes = (
            [ids_all[0][:1], ids_all[-1][:2], ids_all[len(ids_all) // 2]] if len(ids_all) else []
        )
        for p in [*probes, "zz"]:
            want = every.filter(pl.col("id").str.starts_with(p))
            got = snap.sessions_with_prefix([p], ["customer_id", "type"])
            assert_frame_equal(got, want)
        many = sorted(set(ids_all.str.slice(0, 4).to_list()) | {"ffff", "0000"})
        want = every.filter(pl.any_horizontal([pl.col("id").str.starts_with(p) for p in many]))
        assert_frame_equal(snap.sessions_with_prefix(many).select("id"), want.select("id"))
    # a listing with a limit (ids found first, rows read by them) is the head of the whole
    for sort, desc, where in [
        ("created_date", False, ()),
        ("duration", True, ()),
        ("customer_id", False, ("pageview_count>=2",)),
    ]:
        q = SessionQuery(sort=sort, descending=desc, where=where, traffic=TRAFFIC_CLASSES)
        whole = list_sessions(store, q)
        for k in (1, 7, 100):
            assert_frame_equal(list_sessions(store, replace(q, limit=k)), whole.head(k))


# ---------------------------------------------------------------------------- writers


def test_every_kind_of_run_gives_each_session_part_its_directory(tmp_path: Path) -> None:
    """New store, new visitors, late events that rewrite stored parts (copy-on-write),
    a new contacts file (every session worked out again), --rebuild, other options,
    `jtrack store compact`, a rollback and a run on it."""
    store = Store.open(tmp_path / "store")
    day1 = as_parquet(tmp_path / "d1.parquet", views("a", range(40), T0))
    run_sessionize([day1], store, units=2)
    _check(store)
    # new visitors: a part of their own, the stored ones carried (hard links)
    day2 = as_parquet(tmp_path / "d2.parquet", views("b", range(40, 60), T0 + timedelta(days=1)))
    run_sessionize([day2], store, units=2)
    _check(store)
    # late events of stored visitors: their sessions change, their parts are written again
    late = as_parquet(tmp_path / "late.parquet", views("c", range(0, 60, 7), T0 + minutes(3), n=1))
    res = run_sessionize([late], store, units=2)
    assert res.summary.run["parts_rewritten"] > 0
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
    versions = store.versions()
    store.rollback(versions[-2])
    _check(store)
    day3 = as_parquet(tmp_path / "d3.parquet", views("d", range(5, 80, 3), T0 + timedelta(days=2)))
    run_sessionize([day3], store, units=2)
    _check(store)


def test_a_growing_file_followed_run_after_run_gives_each_part_its_directory(
    tmp_path: Path,
) -> None:
    """`jtrack watch` (follow): a growing JSON lines file, a run per piece."""
    store = Store.open(tmp_path / "store")
    src = tmp_path / "live.jsonl"
    src.write_text("")
    for piece in range(6):
        with open(src, "a", encoding="utf-8") as fh:
            for v in range(piece, piece + 12):
                at = T0 + minutes(5 * piece + v % 3)
                fh.write(genesys_line(f"e{piece}-{v}", f"visitor-{v}", at) + "\n")
        run_sessionize([src], store, follow=True)
        _check(store)


def test_a_store_an_earlier_jtrack_wrote_is_read_then_given_directories(
    tmp_path: Path,
) -> None:
    """A store whose parts have no id directory: read by scanning; a run that adds visitors
    leaves the old part as it is (scanned) beside a new one (looked up); a run that changes
    the old visitors writes their part again with a directory; compaction gives every part
    one. Lookups (plain and through a role) answer the same at every step."""
    store = Store.open(tmp_path / "store")
    run_sessionize([as_parquet(tmp_path / "d1.parquet", views("a", range(30), T0))], store)
    older = as_an_earlier_jtrack_wrote(store.root, "ids", "session-ids")
    store.refresh()
    _check(store, older)
    d2 = as_parquet(tmp_path / "d2.parquet", views("b", range(30, 50), T0 + timedelta(days=1)))
    run_sessionize([d2], store)
    store.refresh()
    kinds = {p.file: p.ids for p in store.pinned().manifest.parts_of("sessions")}
    assert any(v is None for v in kinds.values()) and any(v for v in kinds.values())
    _check(store, older)
    every = store.scan_sessions().select("id").collect().sort("id").get_column("id")
    for sid in every:
        assert find_session(store, sid[:10].upper())[0] == sid
    assert id_prefix_lengths(store, pl.DataFrame({"id": every}))["id"] >= 8
    late = as_parquet(tmp_path / "late.parquet", views("c", range(0, 30, 4), T0 + minutes(1), n=1))
    run_sessionize([late], store)
    _check(store, older)
    compact(store)
    _check(store)


# ---------------------------------------------------------------------------- readers


def _custom_and_web(tmp_path: Path) -> tuple[Store, str, str, str]:
    """A store with a web and a custom session whose ids share a prefix (of 2 characters at
    least), and that prefix."""
    rows = []
    for v in range(60):
        rows += views("w", range(v, v + 1), T0, n=2)
        rows.append(
            flat_event(
                f"d-{v}",
                f"visitor-{v}",
                T0 + timedelta(hours=2),
                source_session_type="delivery",
                source_session_id=f"o-{v}",
                event_name="order_dispatched",
                kind="custom",
            )
        )
    store = Store.open(tmp_path / "store")
    run_sessionize([as_parquet(tmp_path / "e.parquet", rows)], store)
    every = store.scan_sessions().select("id", "type").collect().sort("id")
    best: tuple[int, str, str, str] | None = None
    ids, types = every["id"].to_list(), every["type"].to_list()
    for i in range(len(ids) - 1):
        if (types[i] == "web") != (types[i + 1] == "web"):
            k = next(j for j in range(len(ids[i])) if ids[i][j] != ids[i + 1][j])
            if best is None or k > best[0]:
                web, custom = (ids[i], ids[i + 1]) if types[i] == "web" else (ids[i + 1], ids[i])
                best = (k, web, custom, ids[i][:k])
    assert best is not None and best[0] >= 2
    return store, best[1], best[2], best[3]


def test_a_role_without_custom_sessions_resolves_a_shared_prefix_to_the_web_one(
    tmp_path: Path,
) -> None:
    store, web, custom, prefix = _custom_and_web(tmp_path)
    cfg = tmp_path / "jtrack.toml"
    cfg.write_text(
        f'default_role = "agent"\n[roles.agent]\npermissions = ["{SESSION_VIEW}", "{EVENT_VIEW}"]\n'
    )
    view = StoreView(store, load_policy(config=cfg))
    assert resolve_session_id(view, prefix) == web
    assert find_session(view, prefix)[0] == web
    assert find_session(view, prefix.upper())[0] == web
    assert view.sessions_with_prefix([prefix], ["type"]).to_dicts() == [{"id": web, "type": "web"}]
    assert view.sessions_with_prefix([prefix], limit=1).columns == ["id"]
    # the plain store sees both: ambiguous
    with pytest.raises(AmbiguousIdError):
        resolve_session_id(store, prefix)
    # a prefix of the custom session alone resolves on the plain store (card then says
    # "not permitted"), and through the role is not found
    own = custom[: len(prefix) + 4]
    assert find_session(view, own)[0] == custom
    with pytest.raises(NotFoundError):
        resolve_session_id(view, own)


def test_prefixes_longer_than_an_id_or_past_the_last_character_find_nothing(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "store")
    run_sessionize([as_parquet(tmp_path / "e.parquet", views("a", range(20), T0))], store)
    sid = store.scan_sessions().select("id").collect().item(0, 0)
    snap = store.pinned()
    assert snap.sessions_with_prefix([sid + "0"]).height == 0
    assert snap.sessions_with_prefix([sid]).get_column("id").to_list() == [sid]
    assert snap.sessions_with_prefix(["\U0010ffff", "\U0010ffff\U0010ffff", "\ud7ff"]).height == 0
    assert snap.sessions_with_prefix([sid[:3] + "\U0010ffff"]).height == 0
    assert snap.sessions_with_prefix([]).height == 0
    with pytest.raises(NotFoundError):
        find_session(store, sid + "0")


def test_a_store_without_sessions_finds_nothing(tmp_path: Path) -> None:
    """A store whose rows are all system events (no session)."""
    rows = [
        flat_event(
            "s",
            "c1",
            T0,
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            segment_id="seg",
            source_session_type=None,
        )
    ]
    store = Store.open(tmp_path / "store")
    run_sessionize([as_parquet(tmp_path / "e.parquet", rows)], store)
    assert store.sessions_with_prefix(["a"], ["type"]).schema == {
        "id": pl.String,
        "type": pl.String,
    }
    with pytest.raises(NotFoundError):
        find_session(store, "abcd")


# ---------------------------------------------------------------------------- documents
