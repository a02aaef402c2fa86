"""`jtrack store erase`: a person's data taken out of a store, for good.

- The store after an erase equals a fresh build over the same inputs with the erased
  visitors' rows left out of them (a Hypothesis property: random events in random runs,
  redeliveries shared with other visitors, far-future rows, contacts; a random erasure).
- Every position stays right (index rows, held and duplicate copies point at their rows of
  the rewritten segments), and no file of the store holds the erased ids.
- The data does not come back: a changed file, a renamed one, --rebuild, the contacts file
  given again.
- Crash safety at every commit point, a reader's version, the lock, the dry run, the
  summary in table and JSON.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import jtrack.engine.run as run_module
from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.engine.erase import erase
from jtrack.errors import DataError
from jtrack.store import KILL_ENV, Store
from tests.helpers import T0, can_setpriv, flat_event, flat_frame, jtrack_as, open_folder
from tests.test_engine import VISITORS, journeys, nightly_stores, overlapping_exports

CONTACTS = "contact_id,name,email\nC1,Ada,v1@example.org\nC2,Bob,v3@example.org\n"


# ---------------------------------------------------------------------------- helpers


def _write_days(d: Path, runs: list[list[dict[str, Any]]], gone: set[str]) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    files = []
    for i, rows in enumerate(runs):
        f = d / f"day{i}.parquet"
        frame = flat_frame(rows)
        if gone:
            frame = frame.filter(~pl.col("customer_id").is_in(sorted(gone)))
        frame.write_parquet(f)
        files.append(f)
    return files


def _snapshot(store: Store) -> dict[str, Any]:
    store.refresh()
    with store.snapshot() as snap:
        index = snap.scan_index().collect()
        sessions = snap.scan_sessions(bucket=True).collect().sort("id")
        rejects = snap.rejects()
        m = snap.manifest
        held = snap.held()
        dups = snap.duplicates()
        wide = {
            s.id: pl.read_parquet(snap.dir / "segments" / s.file, glob=False) for s in m.segments
        }
    return {
        "index": index,
        "sessions": sessions,
        "rejects": rejects,
        "held": held,
        "dups": dups,
        "counts": dict(m.counts),
        "contact_counts": m.contact_counts,
        "wide": wide,
        "manifest": m,
    }


def _at(wide: dict[int, pl.DataFrame], pos: pl.DataFrame) -> pl.DataFrame:
    """event_id and customer_id of the wide rows at (segment, row)."""
    out = []
    for (seg,), rows in pos.group_by("segment", maintain_order=True):
        w = wide[int(seg)].select("event_id", "customer_id")
        out.append(w[rows.get_column("row").cast(pl.Int64)])
    if not out:
        return pl.DataFrame(schema={"event_id": pl.String, "customer_id": pl.String})
    return pl.concat(out)


def _assert_positions_right(c: dict[str, Any]) -> None:
    """Each index row, held and duplicate copy points at its own row of its segment."""
    index = c["index"].sort("segment", "row")
    assert_frame_equal(
        _at(c["wide"], index.select("segment", "row")),
        index.select("event_id", "customer_id"),
    )
    for side in (c["held"], c["dups"]):
        if side is None or side.height == 0:
            continue
        side = side.with_columns(
            segment=(pl.col("_pos") // (1 << 32)).cast(pl.UInt32),
            row=(pl.col("_pos") % (1 << 32)).cast(pl.UInt32),
        ).sort("segment", "row")
        assert_frame_equal(
            _at(c["wide"], side.select("segment", "row")), side.select("event_id", "customer_id")
        )
    for s in c["manifest"].segments:
        assert c["wide"][s.id].height == s.rows


def _assert_nothing_of(c: dict[str, Any], gone: set[str]) -> None:
    ids = sorted(gone)
    assert not c["index"].get_column("customer_id").is_in(ids).any()
    assert not c["sessions"].get_column("customer_id").is_in(ids).any()
    for w in c["wide"].values():
        assert not w.get_column("customer_id").is_in(ids).any()
    for side in (c["held"], c["dups"]):
        if side is not None:
            assert not side.get_column("customer_id").is_in(ids).any()
    for raw in c["rejects"].get_column("raw").to_list():
        assert not any(f'"{v}"' in raw for v in ids), raw


_INDEX_ORDER = ["event_id", "customer_id", "created_date", "session_id"]


def _assert_same_as_fresh(erased: Store, fresh: Store, gone: set[str]) -> None:
    a, b = _snapshot(erased), _snapshot(fresh)
    _assert_positions_right(a)
    _assert_nothing_of(a, gone)
    assert_frame_equal(a["sessions"], b["sessions"], check_exact=True)
    ia = a["index"].drop("segment", "row").sort(_INDEX_ORDER)
    ib = b["index"].drop("segment", "row").sort(_INDEX_ORDER)
    assert_frame_equal(ia, ib, check_exact=True)
    # (rejects: the line is the row's in the export the user has, not in the filtered one)
    ra = a["rejects"].drop("line").with_columns(pl.col("file").str.extract(r"([^/]+)$"))
    rb = b["rejects"].drop("line").with_columns(pl.col("file").str.extract(r"([^/]+)$"))
    assert_frame_equal(ra.sort(ra.columns), rb.sort(rb.columns))
    ca, cb = dict(a["counts"]), dict(b["counts"])
    erased_rows = ca.pop("erased")
    assert ca.pop("rows_read") - erased_rows == cb.pop("rows_read")
    cb.pop("erased", None)
    assert ca == cb
    if a["contact_counts"] is not None or b["contact_counts"] is not None:
        ka = {k: v for k, v in a["contact_counts"].items() if k not in ("file", "sha256")}
        kb = {k: v for k, v in b["contact_counts"].items() if k not in ("file", "sha256")}
        assert ka == kb
    m = a["manifest"]
    read = sum(i.rows_read for i in m.inputs)
    held = a["held"].height if a["held"] is not None else 0
    assert read == (
        m.counts["events_kept"]
        + m.counts["duplicates"]
        + sum(i.rows_rejected for i in m.inputs)
        + held
        + sum(i.rows_erased for i in m.inputs)
    )


# ---------------------------------------------------------------------------- property


@st.composite
def erasures(draw: st.DrawFn) -> tuple[set[str], bool]:
    """Visitors to erase (at least one), and whether contact C1 is erased too."""
    return set(draw(st.lists(st.sampled_from(VISITORS), min_size=1, max_size=3))), draw(
        st.booleans()
    )


def _erased_equals_fresh(
    tmp_path_factory: pytest.TempPathFactory,
    drawn: tuple[list[list[dict[str, Any]]], bool],
    erasure: tuple[set[str], bool],
) -> None:
    runs, with_contacts = drawn
    named, by_contact = erasure
    by_contact = by_contact and with_contacts
    d = tmp_path_factory.mktemp("erase")
    files = _write_days(d / "in", runs, set())
    contacts = d / "contacts.csv"
    contacts.write_text(CONTACTS)
    kw: dict[str, Any] = {"on_error": "skip"}
    daily = Store.open(d / "daily")
    for i, f in enumerate(files):
        run_sessionize(
            [f], daily, **(kw | ({"contacts": contacts} if with_contacts and i == 0 else {}))
        )
    daily.refresh()
    resolved: set[str] = set()
    if by_contact:
        resolved = set(
            daily.scan_sessions().filter(pl.col("contact_id") == "C1").collect()["customer_id"]
        )
    try:
        done = erase(daily, sorted(named), ["C1"] if by_contact else [])
    except DataError:  # (none of them in the store: nothing to compare)
        assert not set(daily.scan_index().collect()["customer_id"]) & named
        return
    assert set(done.visitors) >= resolved
    gone = set(done.visitors) | named
    fresh_files = _write_days(d / "fresh", runs, gone)
    fresh_contacts = d / "fresh-contacts.csv"
    fresh_contacts.write_text(
        CONTACTS if not by_contact else "contact_id,name,email\nC2,Bob,v3@example.org\n"
    )
    fresh = Store.open(d / "once")
    run_sessionize(
        fresh_files,
        fresh,
        on_error="skip",
        **({"contacts": fresh_contacts} if with_contacts else {}),
    )
    _assert_same_as_fresh(daily, fresh, gone)
    # nothing comes back: every file again under another name, and a rebuild
    again = []
    for f in files:
        g = d / "again" / f.name
        g.parent.mkdir(exist_ok=True)
        shutil.copy(f, g)
        again.append(g)
    run_sessionize(again, daily, on_error="skip")
    run_sessionize([], daily, rebuild=True)
    a, b = _snapshot(daily), _snapshot(fresh)
    _assert_positions_right(a)
    _assert_nothing_of(a, gone)
    assert_frame_equal(a["sessions"], b["sessions"], check_exact=True)


_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
_ERASED = given(journeys(), erasures())
test_an_erased_store_equals_a_fresh_build_without_the_erased_rows = settings(
    max_examples=20, deadline=None, suppress_health_check=_HEALTH
)(_ERASED(_erased_equals_fresh))
test_an_erased_store_equals_a_fresh_build_without_the_erased_rows_many = pytest.mark.slow(
    settings(max_examples=200, deadline=None, suppress_health_check=_HEALTH)(
        _ERASED(_erased_equals_fresh)
    )
)


# ---------------------------------------------------------------------------- examples


def test_an_erase_from_a_duplicates_table_in_deltas_is_an_erase_from_one_file(
    tmp_path: Path,
) -> None:
    """A store whose duplicates table is a file and deltas (later runs' copies): an erase
    takes the same rows out as from the table written whole, every copy's position moved
    with the rows taken out of its segment; the table is one file again."""
    files = overlapping_exports(tmp_path / "in")
    deltas, whole = nightly_stores(tmp_path, files)
    done = [vars(erase(store, ["v1", "v9"])) for store in (deltas, whole)]
    for d in done:
        d.pop("store")
    assert done[0] == done[1] and done[0]["duplicates"] > 0
    a, b = _snapshot(deltas), _snapshot(whole)
    assert not a["manifest"].duplicate_deltas
    for c in (a, b):
        _assert_positions_right(c)
        _assert_nothing_of(c, {"v1", "v9"})
    assert_frame_equal(a["dups"], b["dups"])
    assert_frame_equal(a["index"].sort("segment", "row"), b["index"].sort("segment", "row"))
    assert a["counts"] == b["counts"]
    # the next night writes a delta again, in a store that keeps its erased record
    more = overlapping_exports(tmp_path / "more", days=len(files) + 1)[-1:]
    for store, share in ((deltas, 1e9), (whole, 0.0)):
        with mock.patch.object(run_module, "DELTA_SHARE", share):
            run_sessionize(more, store)
    a, b = _snapshot(deltas), _snapshot(whole)
    m = a["manifest"]
    assert m.duplicate_deltas and m.erased and m.written_layout == 4
    _assert_nothing_of(a, {"v1", "v9"})
    assert_frame_equal(a["dups"], b["dups"])
    assert a["counts"] == b["counts"]


def _shared_store(root: Path) -> tuple[Store, Path]:
    """v1 and v2 share event e1 (v1's copy first, kept); v1 sends an email trait; one far
    row; a rejected row of v1's."""
    rows = [
        flat_event("e1", "v1", T0),
        flat_event("e1", "v2", T0 + timedelta(minutes=5)),
        flat_event("e2", "v2", T0 + timedelta(minutes=6)),
        flat_event("e3", "v1", T0 + timedelta(minutes=7)),
        flat_event("e4", "v3", T0 + timedelta(minutes=8)),
    ]
    root.mkdir(parents=True, exist_ok=True)
    a = root / "a.parquet"
    flat_frame(rows).write_parquet(a)
    b = root / "b.jsonl"
    b.write_text(
        json.dumps({"event_id": "e5", "customer_id": "v1", "created_date": "bad"})
        + "\n"
        + json.dumps(
            {
                "event_id": "e6",
                "customer_id": "v3",
                "created_date": "2026-10-03T12:00:00Z",
                "kind": "page_view",
                "event_type": "WebEvent",
                "event_name": "page_viewed",
            }
        )
        + "\n"
    )
    store = Store.open(root / "store")
    run_sessionize([a], store)
    run_sessionize([b], store, on_error="skip")
    return store, root


def test_a_copy_another_visitor_shared_is_kept_once_the_first_goes(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    before = store.scan_index().collect()
    assert before.filter(pl.col("event_id") == "e1")["customer_id"].to_list() == ["v1"]
    done = erase(store, ["v1"])
    assert done.events == 2 and done.rejected == 1 and done.duplicates == 0
    store.refresh()
    after = store.scan_index().collect()
    assert after.filter(pl.col("event_id") == "e1")["customer_id"].to_list() == ["v2"]
    c = _snapshot(store)
    _assert_positions_right(c)
    _assert_nothing_of(c, {"v1"})
    m = c["manifest"]
    assert m.counts["rows_read"] == 7
    assert m.counts["erased"] == 3  # e1 and e3 kept, e5 rejected
    assert m.counts["events_kept"] + m.counts["duplicates"] + m.counts["rejected"] + 3 == 7
    # (the canonical Parquet input stays its own segment, its columns kept)
    assert [s.kept_as_is for s in m.segments] == [True, False]
    assert "v1" not in json.dumps(m.erased)  # (hashed)
    assert store.versions() == [store.current_name()]  # the rollback history is gone


def test_an_earlier_jtrack_refuses_a_store_with_erased_visitors(tmp_path: Path) -> None:
    """An earlier jtrack would take the erased visitors' rows in again (and write a manifest
    without the record): the manifest says layout 3, which it refuses ("or newer")."""
    store, _ = _shared_store(tmp_path)
    erase(store, ["v1"])
    store.refresh()
    path = store.version_dir(str(store.current_name())) / "manifest.json"
    data = json.loads(path.read_text())
    assert data["layout_version"] == 3 and data["erased"]["visitors"]
    assert store.read_manifest().erased is not None  # (this jtrack reads it)
    del data["erased"]  # (as an earlier jtrack sees it: a layout it does not know)
    path.unlink()
    path.write_text(json.dumps(data))
    res = CliRunner().invoke(app, ["sessions", "--store", str(store.root)])
    assert res.exit_code == 1 and "or newer" in res.stderr


def test_the_data_does_not_come_back(tmp_path: Path) -> None:
    store, root = _shared_store(tmp_path)
    erase(store, ["v1"])
    a = root / "a.parquet"
    # renamed, changed (a row more), and a JSON lines copy
    changed = root / "a-resent.parquet"
    pl.concat(
        [pl.read_parquet(a), flat_frame([flat_event("e9", "v1", T0 + timedelta(hours=1))])]
    ).write_parquet(changed)
    lines = root / "more.jsonl"
    lines.write_text(
        json.dumps(
            {
                "event_id": "e10",
                "customer_id": "v1",
                "created_date": "2026-10-03T13:00:00Z",
                "kind": "page_view",
                "event_type": "WebEvent",
                "event_name": "page_viewed",
            }
        )
        + '\n{not json "v1"\n'
    )
    res = run_sessionize([changed, lines], store, on_error="skip")
    assert res.summary.balanced
    assert res.summary.run is not None and res.summary.run["erased"] == 5
    # (a canonical Parquet file is kept as it is, without an erased visitor's rows: the
    # first, a.parquet, written again by the erase; the changed one, as it was read)
    m = store.read_manifest()
    assert [s.kept_as_is for s in m.segments] == [True, False, True, False]
    kept = root / "clean.parquet"
    flat_frame([flat_event("e11", "v3", T0 + timedelta(hours=2))]).write_parquet(kept)
    # a grown file: its new lines only, one of them v1's
    with open(root / "b.jsonl", "a") as fh:
        fh.write(
            json.dumps({**json.loads(lines.read_text().splitlines()[0]), "event_id": "e12"})
            + "\n"
            + json.dumps(
                {
                    "event_id": "e13",
                    "customer_id": "v3",
                    "created_date": "2026-10-03T14:00:00Z",
                    "kind": "page_view",
                    "event_type": "WebEvent",
                    "event_name": "page_viewed",
                }
            )
            + "\n"
        )
    res = run_sessionize([kept, root / "b.jsonl"], store, on_error="skip")
    assert res.summary.run is not None and res.summary.run["erased"] == 1
    store.refresh()
    assert [s.kept_as_is for s in store.read_manifest().segments][-2:] == [True, False]
    run_sessionize([], store, rebuild=True)
    c = _snapshot(store)
    _assert_nothing_of(c, {"v1"})
    _assert_positions_right(c)
    m = c["manifest"]
    read = m.counts["rows_read"]
    assert read == (
        m.counts["events_kept"] + m.counts["duplicates"] + m.counts["rejected"] + m.counts["erased"]
    )


def test_an_id_written_with_json_escapes_in_a_rejected_row_is_erased(tmp_path: Path) -> None:
    """A rejected row keeps its raw text, where an id may be written with JSON escapes: a
    JSON document's rows (and a Parquet file's) are written back with non-ASCII escaped,
    and an export may escape it itself (`m\\u00fcller`, `a\\/b`): those rows were left in
    the rejects after an erase, and came back when the file was read again."""
    doc = [
        {"event_id": "e1", "customer_id": "müller", "created_date": "2026-10-01T10:00:00Z",
         "kind": "page_view", "event_type": "WebEvent", "event_name": "page_viewed"},
        {"event_id": "e2", "customer_id": "müller", "created_date": "bad"},
        {"event_id": "e3", "customer_id": "other", "created_date": "bad"},
    ]  # fmt: skip
    (tmp_path / "doc.json").write_text(json.dumps(doc, ensure_ascii=False))
    lines = [
        json.dumps({"event_id": "e4", "customer_id": "müller", "created_date": "bad"}),
        '{"event_id": "e5", "customer_id": "a\\/b", "created_date": "bad"}',
        '{"event_id": "e6", "customer_id": "a\\qb", "created_date": "bad"}',  # (not JSON)
    ]
    (tmp_path / "lines.jsonl").write_text("\n".join(lines) + "\n")
    files = [tmp_path / "doc.json", tmp_path / "lines.jsonl"]
    store = Store(tmp_path / "store")
    run_sessionize(files, store, on_error="skip")
    raw = store.snapshot().rejects().get_column("raw")
    assert raw.str.contains("\\u00fc", literal=True).sum() == 2  # (as the store keeps them)
    done = erase(store, ["müller", "a/b"])
    assert (done.events, done.rejected, done.visitors_not_found) == (1, 3, [])
    left = store.snapshot().rejects()
    assert sorted(left.get_column("raw").str.extract(r'"event_id": "(e\d)"').to_list()) == [
        "e3",
        "e6",
    ]
    # read again (changed, so not skipped): they do not come back
    (tmp_path / "lines.jsonl").write_text("\n".join(lines) + "\n\n")
    res = run_sessionize(files, store, on_error="skip", rebuild=True)
    assert res.summary.balanced
    assert store.read_manifest().counts["erased"] == 4
    assert store.snapshot().rejects().height == 2


def test_an_erased_contact_leaves_the_book_and_does_not_come_back(tmp_path: Path) -> None:
    rows = [
        flat_event(
            "e1", "v1", T0, traits=[{"name": "email", "data_type": "string", "value": "ada@x.org"}]
        ),
        flat_event("e2", "v2", T0),
    ]
    f = tmp_path / "a.parquet"
    flat_frame(rows).write_parquet(f)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada,ada@x.org\nC2,Bob,bob@x.org\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, contacts=contacts)
    done = erase(store, contacts=["C1", "C404"])
    assert done.visitors == ["v1"] and done.contacts == ["C1"]
    assert done.contacts_not_found == ["C404"] and done.contacts_rows == 1
    store.refresh()
    with store.snapshot() as snap:
        book = snap.contacts_book()
    assert book is not None and book["contact_id"].to_list() == ["C2"]
    # the file given again (changed: it is read again) does not bring the row back
    contacts.write_text("contact_id,name,email\nC1,Ada,ada@x.org\nC2,Bob,bob@x.org\nC3,C,c@x.org\n")
    run_sessionize([f], store, contacts=contacts, force=True)
    store.refresh()
    with store.snapshot() as snap:
        book = snap.contacts_book()
    assert book is not None and sorted(book["contact_id"].to_list()) == ["C2", "C3"]
    assert store.scan_sessions().collect()["customer_id"].to_list() == ["v2"]


def test_a_version_a_reader_holds_stays_until_it_is_let_go(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    old = store.current_name()
    reader = Store.open(store.root)
    with reader.snapshot() as snap:
        before = snap.scan_sessions().collect()
        done = erase(store, ["v1"])
        assert done.versions_holding == [old]
        # the reader's version is whole and unchanged: never a mix
        assert_frame_equal(snap.scan_sessions().collect(), before)
        assert snap.scan_events().collect().height == before["event_count"].sum()
    res = CliRunner().invoke(app, ["sessionize", "--rebuild", "--store", str(store.root), "-q"])
    assert res.exit_code == 0, res.output
    assert old not in store.versions()  # (let go: the next run's clean-up removed it)
    assert all(store.read_manifest(v).erased for v in store.versions())


def test_compact_with_nothing_to_compact_says_so_and_what_it_removed_in_one_line(
    tmp_path: Path,
) -> None:
    """`jtrack store compact` said "nothing to compact" and then, on a line of its own,
    that it had removed a version (one left for a reader during an erase)."""
    store, _ = _shared_store(tmp_path)
    old = store.current_name()
    base = ["--store", str(store.root)]
    runner = CliRunner()
    reader = Store.open(store.root)
    with reader.snapshot():
        assert runner.invoke(app, ["store", "erase", "--visitor", "v1", "-q", *base]).exit_code == 0
        assert runner.invoke(app, ["store", "compact", "-q", *base]).exit_code == 0
        assert old in store.versions()  # (still held)
    res = runner.invoke(app, ["store", "compact", *base])
    assert res.exit_code == 0, res.output
    assert res.stderr == f"nothing to compact; removed {old}, which held erased data\n"
    assert old not in store.versions()


def test_a_version_a_reader_holds_cannot_be_rolled_back_to(tmp_path: Path) -> None:
    """Left for its reader, the version before an erase holds the data still: a rollback
    to it would bring the data back, and is refused."""
    store, _ = _shared_store(tmp_path)
    old = store.current_name()
    with Store.open(store.root).snapshot():
        erase(store, ["v1"])
        res = CliRunner().invoke(app, ["store", "rollback", str(old), "--store", str(store.root)])
        assert res.exit_code == 1
        assert "holds data `jtrack store erase` took out since" in res.stderr
    store.refresh()
    assert store.scan_index().filter(pl.col("customer_id") == "v1").collect().height == 0


def test_the_cli_warns_of_a_version_a_reader_holds(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    old = store.current_name()
    with Store.open(store.root).snapshot():
        res = CliRunner().invoke(
            app, ["store", "erase", "--visitor", "v1", "--store", str(store.root), "-q"]
        )
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"warning: {old} still holds the erased data")


def test_dry_run_changes_nothing_and_says_what_would_go(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    versions = store.versions()
    files = sorted((p, p.stat().st_mtime_ns) for p in store.root.rglob("*") if p.is_file())
    res = CliRunner().invoke(
        app,
        [
            "store",
            "erase",
            "--visitor",
            "v1",
            "--visitor",
            "nobody",
            "--dry-run",
            "-f",
            "json",
            "--store",
            str(store.root),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dry_run"] is True and out["version"] is None
    assert out["visitors"] == ["v1"] and out["visitors_not_found"] == ["nobody"]
    assert (out["events"], out["rejected"], out["sessions"]) == (2, 1, 1)
    assert out["segments_rewritten"] == ["s000001.parquet", "s000002.parquet"]
    assert out["versions_holding"] == versions
    assert store.versions() == versions
    assert sorted((p, p.stat().st_mtime_ns) for p in store.root.rglob("*") if p.is_file()) == files


def test_the_summary_as_a_table(tmp_path: Path) -> None:
    store, root = _shared_store(tmp_path)
    ids = root / "requests.txt"
    ids.write_text("# GDPR requests\nv1\n\nnobody\n")
    res = CliRunner().invoke(
        app, ["store", "erase", "--from", str(ids), "--store", str(store.root)]
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"{store.root}: erased (a new version, {store.current_name()})"
    assert "  visitors: 1 (v1)" in lines
    assert (
        "  1 session, 2 events, 0 duplicate copies, 0 far-future rows, 1 rejected row, "
        "0 contacts rows" in lines
    )
    assert any(line.startswith("  not in the store: nobody") for line in lines)
    assert any("rollback history is lost" in line for line in lines)
    shown = CliRunner().invoke(app, ["store", "--store", str(store.root)])
    assert "7 rows read, 0 duplicates, 0 rejected, 3 erased" in " ".join(shown.stdout.split())


def test_ids_from_standard_input_and_unreadable_ids_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--from -` (a batch from a pipe) was "-: cannot read the ids (FileNotFoundError)";
    a folder, a missing file or a file not UTF-8 named Python's exception too."""
    store, root = _shared_store(tmp_path)
    base = ["store", "erase", "--store", str(store.root), "--dry-run", "-f", "json"]
    res = CliRunner().invoke(app, [*base, "--from", "-"], input="# batch\nv1\n\nnobody\n")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["visitors"] == ["v1"] and out["visitors_not_found"] == ["nobody"]
    bad = root / "latin1.txt"
    bad.write_bytes(b"v1\nm\xfcller\n")
    (root / "folder").mkdir()
    for named, said in (
        (bad, f"error: {bad}: line 2 is not UTF-8 text (byte 0xfc)"),
        (root / "folder", f"error: {root / 'folder'}: is a directory, not a file of ids"),
        (root / "nope.txt", f"error: {root / 'nope.txt'}: no such file of ids"),
    ):
        res = CliRunner().invoke(app, [*base, "--from", str(named)])
        assert res.exit_code == 1 and res.stderr.startswith(said), res.stderr
        assert "Error" not in res.stderr
    # `./-` is a file named -, not standard input
    monkeypatch.chdir(root)
    Path("-").write_text("v1\n")
    res = CliRunner().invoke(app, [*base, "--from", "./-"], input="nobody\n")
    assert res.exit_code == 0 and json.loads(res.stdout)["visitors"] == ["v1"], res.output


def test_ids_are_echoed_harmlessly(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "store",
            "erase",
            "--visitor",
            "v1",
            "--visitor",
            "\x1b[31mred\nX",
            "--store",
            str(store.root),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout
    assert "  not in the store: \ufffd[31mred X (recorded" in res.stdout


def test_ids_the_store_does_not_hold_exit_1_and_change_nothing(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    versions = store.versions()
    res = CliRunner().invoke(
        app, ["store", "erase", "--visitor", "V1", "--contact", "C9", "--store", str(store.root)]
    )
    assert res.exit_code == 1
    assert "the store holds none of V1, C9" in res.stderr
    assert "hint:" in res.stderr
    assert store.versions() == versions
    res = CliRunner().invoke(app, ["store", "erase", "--store", str(store.root)])
    assert res.exit_code == 2


def test_an_id_erased_before_is_said_so_and_a_batch_can_run_again(tmp_path: Path) -> None:
    """A request handled twice (a batch file run again) said the store held none of the
    ids and exited 1, as for a mistyped id: the erased ones are said to be, and a request
    of only those exits 0 and changes nothing."""
    store, _ = _shared_store(tmp_path)
    ids = tmp_path / "requests.txt"
    ids.write_text("v1\n")
    cmd = ["store", "erase", "--from", str(ids), "--store", str(store.root)]
    assert CliRunner().invoke(app, cmd).exit_code == 0
    versions = store.versions()
    again = CliRunner().invoke(app, cmd)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[0] == (f"{store.root}: nothing to erase: erased before: v1")
    assert store.versions() == versions
    out = json.loads(CliRunner().invoke(app, [*cmd, "-f", "json"]).stdout)
    assert (out["visitors_erased_before"], out["visitors_not_found"], out["version"]) == (
        ["v1"],
        [],
        None,
    )
    # with another id the store holds: erased, and v1 said
    ids.write_text("v1\nv3\n")
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code == 0 and "  erased before: v1 (nothing left of them)" in res.stdout
    assert "  visitors: 1 (v3)" in res.stdout
    # with an id it never held: exit 1, as before, the erased one named in the hint
    ids.write_text("v1\nnobody\n")
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code == 1
    assert "holds none of nobody" in res.stderr and "erased before: v1" in res.stderr
    # a contact too (here, one named while the store held none of its rows: recorded)
    erase(store, ["v2"], ["C9"])
    done = erase(store, contacts=["C9"])
    assert (done.contacts_erased_before, done.contacts_not_found, done.version) == (
        ["C9"],
        [],
        None,
    )


def test_erase_waits_for_the_lock_or_fails(tmp_path: Path) -> None:
    store, _ = _shared_store(tmp_path)
    with open(store.root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        res = CliRunner().invoke(
            app, ["store", "erase", "--visitor", "v1", "--store", str(store.root)]
        )
    assert res.exit_code == 1
    assert "another jtrack run is writing" in res.stderr
    assert store.scan_index().filter(pl.col("customer_id") == "v1").collect().height == 2


def test_roles_do_not_govern_erase(tmp_path: Path) -> None:
    """Roles are for reading commands: erase reads no config (a role that may not see
    contact details erases all the same)."""
    store, root = _shared_store(tmp_path)
    cfg = root / "jtrack.toml"
    cfg.write_text('default_role = "agent"\n[roles.agent]\npermissions = []\n')
    env = {"JTRACK_CONFIG": str(cfg), "JTRACK_ROLE": "agent"}
    res = CliRunner().invoke(
        app, ["store", "erase", "--visitor", "v1", "--store", str(store.root), "-q"], env=env
    )
    assert res.exit_code == 0, res.output


#: jtrack's command line as another user (root writes any folder: CI runs as root)
_AS_USER = "import sys; sys.path.insert(0, {root!r}); from jtrack._entry import main; main()"


def test_who_cannot_write_the_store_cannot_erase(tmp_path: Path) -> None:
    """Exit 1, one line, and the store as it was; as root (CI), run as `nobody`."""
    import tempfile

    if os.geteuid() != 0:
        store, _ = _shared_store(tmp_path)
        before = store.current_name()
        os.chmod(store.root, 0o555)
        try:
            res = CliRunner().invoke(
                app, ["store", "erase", "--visitor", "v1", "--store", str(store.root)]
            )
        finally:
            os.chmod(store.root, 0o755)
        code, err = res.exit_code, res.stderr
        assert store.current_name() == before
    elif shutil.which("setpriv") is None:
        pytest.skip("as root this runs jtrack as another user: needs setpriv (util-linux)")
    else:
        folder = Path(tempfile.mkdtemp(prefix="jtrack-erase-"))  # (tmp_path is root's alone)
        os.chmod(folder, 0o755)
        try:
            store, _ = _shared_store(folder)
            before = store.current_name()
            root = str(Path(__file__).resolve().parents[1])
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
            cmd += ["-c", _AS_USER.format(root=root), "store", "erase", "--visitor", "v1"]
            res2 = subprocess.run(
                [*cmd, "--store", str(store.root)],
                capture_output=True,
                text=True,
                cwd=folder,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)},
                timeout=300,
            )
            code, err = res2.returncode, res2.stderr
            assert store.current_name() == before
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    assert code == 1, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.skipif(not can_setpriv(), reason="needs root and setpriv (runs as another user)")
def test_a_dry_run_takes_no_write_lock_and_works_read_only() -> None:
    """`store erase --dry-run` by an analyst who may read the store, not write it: exit 1,
    "store/.lock: Permission denied" (it took the write lock), though it changes nothing;
    and it waited for (or failed on) a run holding the lock."""
    from jtrack.locking import exclusive_lock

    folder = open_folder()
    try:
        store, _ = _shared_store(folder)
        os.chmod(store.root / ".lock", 0o600)  # (the writer's alone)
        args = ["store", "erase", "--visitor", "v1", "--dry-run", "--store", "store", "-f", "json"]
        with exclusive_lock(store.root / ".lock", 0, lambda: DataError("held")):
            before = sorted(p.name for p in store.root.iterdir())
            done = jtrack_as(34567, 34567, *args, cwd=folder)
            assert sorted(p.name for p in store.root.iterdir()) == before
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert json.loads(done.stdout)["visitors"] == ["v1"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------- crash safety

#: the commit points an erase reaches
ERASE_POINTS = (
    "after_index",
    "after_segments",
    "after_sessions",
    "before_rename",
    "after_rename",
    "after_current",
)


def test_a_kill_at_each_commit_point_leaves_the_old_version_or_the_new(tmp_path: Path) -> None:
    stores = {}
    for point in ERASE_POINTS:
        stores[point], _ = _shared_store(tmp_path / point)
    procs = {
        p: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jtrack.cli",
                "store",
                "erase",
                "--visitor",
                "v1",
                "--store",
                str(stores[p].root),
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, KILL_ENV: p},
        )
        for p in ERASE_POINTS
    }
    for point, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (point, err)
        store = stores[point]
        store.refresh()
        v1 = store.scan_index().filter(pl.col("customer_id") == "v1").collect().height
        c = _snapshot(store)
        _assert_positions_right(c)
        if point == "after_current":
            assert v1 == 0
        else:
            assert v1 == 2, point
            assert store.read_manifest().erased is None
        # the next erase (or run) finishes the job and leaves nothing behind
        # (killed after the switch: the erase is done, and asking again removes the
        # earlier versions it had no time to remove)
        done = erase(store, ["v1"])
        assert done.visitors_erased_before == (["v1"] if point == "after_current" else [])
        store.refresh()
        c = _snapshot(store)
        _assert_nothing_of(c, {"v1"})
        assert all(store.read_manifest(v).erased for v in store.versions()), point
        assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_after_an_erase_usage_adds_up_the_layout_is_said_and_a_book_row_is_named(
    tmp_path: Path,
) -> None:
    """Found by the review: `jtrack usage` on an erased store said rows read = events +
    duplicates + rejected and did not add up (the erased rows were left out); `jtrack store
    -f json` said layout 2 of a store written as layout 3; and erasing a visitor whose
    cookie a saved contact's row of the book names left that row (name, email, the cookie)
    with nothing said."""
    rows = [flat_event("e1", "v1", T0), flat_event("e2", "v1", T0 + timedelta(minutes=1))]
    rows += [flat_event("e3", "v2", T0), flat_event("e3", "v2", T0)]  # (a duplicate)
    f = tmp_path / "a.parquet"
    flat_frame(rows).write_parquet(f)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,first_name,emails,cookie_ids\nC1,Ada,ada@x.org,v1\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, contacts=contacts)
    runner = CliRunner()
    base = ["--store", str(store.root)]
    res = runner.invoke(app, ["store", "erase", "--visitor", "v1", *base])
    assert res.exit_code == 0, res.stderr
    assert "v1 was resolved to the saved contact C1 (by cookie)" in res.stderr
    assert "its row of the store's contacts book (its details and cookie ids) stays" in res.stderr
    assert "jtrack store erase --contact C1" in res.stderr
    usage = runner.invoke(app, ["usage", "--month", T0.strftime("%Y-%m"), "-f", "json", *base])
    assert usage.exit_code == 0, usage.stderr
    r = json.loads(usage.stdout)["reconciliation"]
    assert (r["rows_read"], r["erased"], r["duplicates"], r["events"]) == (4, 2, 1, 1)
    assert r["rows_read"] == r["events"] + r["duplicates"] + r["rejected"] + r["erased"]
    table = runner.invoke(app, ["usage", "--month", T0.strftime("%Y-%m"), *base])
    assert "= events + duplicates + rejected + erased" in table.stdout
    info = json.loads(runner.invoke(app, ["store", "-f", "json", *base]).stdout)
    assert info["layout_version"] == 3


def test_a_visitor_resolved_to_a_saved_contact_by_email_names_the_contact(
    tmp_path: Path,
) -> None:
    """Found by the DPO's audit: erasing a visitor the store resolved to a saved contact by
    email (the book row not listing its cookie) left the contact's row of the book, and its
    other devices, with nothing said: erasing one device was taken for erasing the person."""
    email = [{"name": "email", "data_type": "string", "value": "ada@x.org"}]
    rows = [
        flat_event("e1", "v1", T0, traits=email),
        flat_event("e2", "v2", T0 + timedelta(hours=1), traits=email),  # (her other device)
        flat_event("e3", "v3", T0),
    ]
    f = tmp_path / "a.parquet"
    flat_frame(rows).write_parquet(f)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,first_name,emails,cookie_ids\nC1,Ada,ada@x.org,v9\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, contacts=contacts)
    base = ["--store", str(store.root)]
    runner = CliRunner()
    dry = runner.invoke(app, ["store", "erase", "--visitor", "v1", "--dry-run", *base])
    assert dry.exit_code == 0, dry.stderr
    assert "v1 was resolved to the saved contact C1 (by email)" in dry.stderr
    assert "would stay; its other visitors stay: v2, v9" in dry.stderr
    res = runner.invoke(app, ["store", "erase", "--visitor", "v1", "-f", "json", *base])
    assert res.exit_code == 0, res.stderr
    assert "the saved contact C1 (by email)" in res.stderr
    assert "jtrack store erase --contact C1" in res.stderr
    out = json.loads(res.stdout)
    assert out["book_contacts"] == ["C1"]
    assert out["linked_contacts"] == [
        {
            "contact_id": "C1",
            "matched_by": ["email"],
            "visitors": ["v1"],
            "other_visitors": ["v2", "v9"],
        }
    ]
    # an erased contact is named no more (its row goes with it)
    done = erase(store, contacts=["C1"])
    assert done.visitors == ["v2"] and done.book_contacts == [] and done.linked_contacts == []


def test_reading_commands_given_the_contacts_file_leave_an_erased_contact_out(
    tmp_path: Path,
) -> None:
    """Found by the DPO's audit: runs drop an erased contact's row as they read the book,
    but `sessions`, `contacts` and `journey --contacts FILE` read the file as it is: a new
    cookie that sent the erased contact's email was shown as that contact again."""
    email = [{"name": "email", "data_type": "string", "value": "ada@x.org"}]
    f = tmp_path / "a.parquet"
    flat_frame(
        [flat_event("e1", "v1", T0, traits=email), flat_event("e2", "v2", T0)]
    ).write_parquet(f)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada,ada@x.org\nC2,Bob,bob@x.org\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, contacts=contacts)
    erase(store, contacts=["C1"])
    g = tmp_path / "b.parquet"  # (she comes back on a new device and signs a form)
    flat_frame([flat_event("e3", "v9", T0 + timedelta(days=1), traits=email)]).write_parquet(g)
    run_sessionize([g], store)
    runner = CliRunner()
    base = ["--store", str(store.root), "--contacts", str(contacts)]
    none = ["--config", os.devnull]
    note = "1 saved contact left out: `jtrack store erase` took it out of the store"
    res = runner.invoke(
        app, ["sessions", *base, "--customer", "v9", "-f", "csv", "--columns", "contact_id"]
    )
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["contact_id", "tmp-v9"]
    assert note in res.stderr
    res = runner.invoke(app, ["contacts", *base, *none, "-f", "csv"])
    assert res.exit_code == 0, res.stderr
    assert "C1" not in res.stdout and "Ada" not in res.stdout and "C2" in res.stdout
    assert note in res.stderr
    res = runner.invoke(app, ["journey", "ada@x.org", *base, *none, "-f", "json"])
    assert res.exit_code == 1 and "Ada" not in res.output
    res = runner.invoke(app, ["journey", "v9", *base, *none, "-f", "json"])
    assert res.exit_code == 0, res.stderr
    assert "C1" not in res.stdout and "Ada" not in res.stdout
    assert note in res.stderr


@pytest.mark.parametrize("n", [1, 3])
def test_an_export_of_only_erased_visitors_rows_is_taken_care_of(tmp_path: Path, n: int) -> None:
    """Found by the DPO's audit: the next export, holding only rows of an erased visitor
    (they came back), failed the night: "every one of the 3 rows read was rejected; the
    store is unchanged", exit 1. Their rows are dropped as read: erased, not rejected."""
    store, _ = _shared_store(tmp_path)
    erase(store, ["v1"])
    night = tmp_path / "night.parquet"
    rows = [flat_event(f"n{i}", "v1", T0 + timedelta(days=1, minutes=i)) for i in range(n)]
    flat_frame(rows).write_parquet(night)
    base = ["--store", str(store.root), "--limit", "0"]
    res = CliRunner().invoke(app, ["sessionize", str(night), *base])
    assert res.exit_code == 0, res.output
    assert f"{n} erased" in res.stdout and "0 rejected" in res.stdout
    store.refresh()
    m = store.read_manifest()
    assert [i.rows_erased for i in m.inputs if i.name == str(night)] == [n]
    assert store.scan_index().filter(pl.col("customer_id") == "v1").collect().height == 0


def test_an_input_kept_as_is_keeps_its_extra_columns_for_the_rows_left(tmp_path: Path) -> None:
    """Found by the DPO's audit: a canonical Parquet input with a column of its own
    (`crm_tier`) is kept as is; erasing one visitor wrote its segment again as canonical
    rows, and every other visitor's rows lost the column, with nothing said."""
    rows = [
        flat_event("e1", "v1", T0),
        flat_event("e2", "v2", T0 + timedelta(minutes=1)),
        flat_event("e3", "v1", T0 + timedelta(minutes=2)),
        flat_event("e4", "v3", T0 + timedelta(minutes=3)),
    ]
    f = tmp_path / "a.parquet"
    flat_frame(rows).with_columns(crm_tier=pl.lit("gold")).write_parquet(f)
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    assert [s.kept_as_is for s in store.read_manifest().segments] == [True]
    erase(store, ["v1"])
    c = _snapshot(store)
    _assert_positions_right(c)
    _assert_nothing_of(c, {"v1"})
    (wide,) = c["wide"].values()
    assert wide.get_column("customer_id").to_list() == ["v2", "v3"]
    assert wide.get_column("crm_tier").to_list() == ["gold", "gold"]
    assert [s.kept_as_is for s in c["manifest"].segments] == [True]
    store.refresh()
    events = store.scan_events().collect()
    assert events.get_column("event_id").sort().to_list() == ["e2", "e4"]
    base = ["--store", str(store.root)]
    runner = CliRunner()
    res = runner.invoke(app, ["store", "verify", "--full", *base])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sessionize", "--rebuild", "-q", *base])
    assert res.exit_code == 0, res.output
    store.refresh()
    assert store.scan_events().collect().get_column("event_id").sort().to_list() == ["e2", "e4"]
    # a run that reads such a file again (changed: a row more) drops v1's rows as it reads
    # them, and the other rows keep their columns too
    more = [*rows, flat_event("e5", "v2", T0 + timedelta(minutes=4))]
    g = tmp_path / "b.parquet"
    flat_frame(more).with_columns(crm_tier=pl.lit("silver")).write_parquet(g)
    run_sessionize([g], store)
    c = _snapshot(store)
    _assert_positions_right(c)
    _assert_nothing_of(c, {"v1"})
    last = c["manifest"].segments[-1]
    assert last.kept_as_is and last.rows == 3
    assert c["wide"][last.id].get_column("crm_tier").to_list() == ["silver"] * 3


def test_an_email_or_phone_named_for_an_id_is_hinted_at_never_erased(tmp_path: Path) -> None:
    """Found by the DPO's audit: `erase --visitor EMAIL` of a visitor who typed the email
    into a form (an unsaved contact) said "the store holds none of EMAIL", which is false
    (an identity trait holds it); and an id in another case said the same. The hint names
    who carries it (and the id as written), and nothing is erased by it."""
    traits = [
        {"name": "email", "data_type": "string", "value": "Grace@Example.org"},
        {"name": "cellPhone", "data_type": "string", "value": "+44 7700 900123"},
    ]
    rows = [
        flat_event("e1", "cookie-g", T0, traits=traits),
        flat_event("e2", "cookie-a", T0, traits=[{**traits[0], "value": "ada@x.org"}]),
        flat_event("e3", "cookie-b", T0),
    ]
    f = tmp_path / "a.parquet"
    flat_frame(rows).write_parquet(f)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada,ada@x.org\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, contacts=contacts)
    before = store.current_name()
    runner = CliRunner()
    base = ["--store", str(store.root)]
    for option in ("--visitor", "--contact"):
        res = runner.invoke(app, ["store", "erase", option, "grace@example.org", *base])
        assert res.exit_code == 1, res.output
        assert "holds none of grace@example.org as a visitor or contact id" in res.stderr
        assert "grace@example.org is an email the store holds as an identity trait of " in (
            res.stderr
        )
        assert "visitor cookie-g: pass --visitor cookie-g" in res.stderr
    res = runner.invoke(app, ["store", "erase", "--visitor", "+447700900123", *base])
    assert res.exit_code == 1
    assert "is a phone number the store holds as an identity trait of visitor cookie-g" in (
        res.stderr
    )
    res = runner.invoke(app, ["store", "erase", "--visitor", "ada@x.org", *base])
    assert res.exit_code == 1
    assert "pass --visitor cookie-a (resolved to the saved contact C1: --contact C1" in res.stderr
    assert "ada@x.org is the email of the saved contact C1 in the store's contacts book" in (
        res.stderr
    )
    res = runner.invoke(app, ["store", "erase", "--visitor", "COOKIE-b", *base])
    assert res.exit_code == 1
    assert "did you mean 'cookie-b'?" in res.stderr and "an email" not in res.stderr
    res = runner.invoke(app, ["store", "erase", "--contact", "c1", *base])
    assert "did you mean 'C1'?" in res.stderr
    store.refresh()
    assert store.current_name() == before  # (nothing erased)
    # with an id found, the others' hints are in the summary and -f json
    two = ["--visitor", "cookie-b", "--visitor", "grace@example.org"]
    res = runner.invoke(app, ["store", "erase", *two, "-f", "json", "--dry-run", *base])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["visitors_not_found"] == ["grace@example.org"]
    assert "pass --visitor cookie-g" in out["hints"][0]


def test_a_version_left_for_a_reader_is_marked_and_compact_removes_it(tmp_path: Path) -> None:
    """Found by the DPO's audit: once the reader was done, `jtrack store` listed the version
    it had held (which holds the erased data) as any other, `-f json` had no flag, rollback
    said "it is left only while a reader uses it" though none did, and nothing said which
    command removes it before the next run."""
    store, _ = _shared_store(tmp_path)
    old = store.current_name()
    base = ["--store", str(store.root)]
    runner = CliRunner()
    with Store.open(store.root).snapshot():  # (a Store dropped: its lease goes with it)
        res = runner.invoke(app, ["store", "erase", "--visitor", "v1", "-q", *base])
    assert res.exit_code == 0, res.output
    assert "once the reader is done, `jtrack store compact` removes it" in res.stderr
    info = json.loads(runner.invoke(app, ["store", "-f", "json", *base]).stdout)
    flags = {v["version"]: v["holds_erased"] for v in info["versions"]}
    assert flags == {old: True, store.current_name(): False}
    table = runner.invoke(app, ["store", *base], env={"COLUMNS": "200"})
    assert f"{old} holds erased data" in table.stdout
    assert "removed by the next run or `jtrack store compact`" in table.stdout
    res = runner.invoke(app, ["store", "rollback", str(old), *base])
    assert res.exit_code == 1
    assert "left for a reader that used it" in res.stderr and "jtrack store compact" in res.stderr
    res = runner.invoke(app, ["store", "compact", *base])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[1:] == [f"removed {old}, which held erased data"]
    assert old not in store.versions()
    info = json.loads(runner.invoke(app, ["store", "-f", "json", *base]).stdout)
    assert not any(v["holds_erased"] for v in info["versions"])
    table = runner.invoke(app, ["store", *base], env={"COLUMNS": "200"})
    assert "holds_erased" not in table.stdout and "holds erased data" not in table.stdout
