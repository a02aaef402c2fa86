"""The store protects what it holds: from hand-edited pointers, from readers caught in a
switch, from rejects of another run, from one visitor's clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.errors import StoreError
from jtrack.options import RunOptions
from jtrack.store import Store
from tests.helpers import T0, flat_event, flat_frame


def _export(path: Path, prefix: str, n: int, visitors: int = 5) -> Path:
    rows = [
        flat_event(f"{prefix}{i}", f"v{i % visitors}", T0 + timedelta(minutes=7 * i))
        for i in range(n)
    ]
    flat_frame(rows).write_parquet(path)
    return path


def test_a_pointer_naming_a_directory_outside_the_store_is_refused_and_nothing_removed(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    store = Store.open(tmp_path / "store")
    run_sessionize([_export(tmp_path / "a.parquet", "a", 10)], store)
    for bad in ("../victim", "/etc", "versions/../../victim", "v1/../../victim"):
        (store.root / "CURRENT").write_text(bad + "\n")
        res = CliRunner().invoke(
            app, ["sessionize", str(tmp_path / "a.parquet"), "--store", str(store.root), "-q"]
        )
        assert res.exit_code == 1, res.stderr
        assert "not a version of this store" in res.stderr
        assert (victim / "precious.txt").read_text() == "keep me"
    with pytest.raises(StoreError):
        Store.open(store.root).scan_sessions()
    # the hint names the version to make current: "`jtrack store rollback` picks a version"
    # sent the user to `jtrack store`, which lists versions, and which refused the same way
    res = CliRunner().invoke(app, ["store", "--store", str(store.root)])
    assert res.exit_code == 1
    assert f"`jtrack store rollback v000001 --store {store.root}`" in res.stderr, res.stderr
    back = CliRunner().invoke(app, ["store", "rollback", "v000001", "--store", str(store.root)])
    assert back.exit_code == 0, back.stderr
    assert (victim / "precious.txt").read_text() == "keep me"


def test_a_store_that_lost_its_current_file_is_refused_not_started_again_empty(
    tmp_path: Path,
) -> None:
    """Without CURRENT, a store whose versions were made current is refused by every
    command, runs included (a run used to start it again empty and remove its versions),
    with a hint that `store rollback` answers; a first run killed before CURRENT was written
    (one version, no `current` link) is a new store again."""
    a, b = _export(tmp_path / "a.parquet", "a", 10), _export(tmp_path / "b.parquet", "b", 4)
    store = Store.open(tmp_path / "store")
    run_sessionize([a], store)
    run_sessionize([b], store)
    runner = CliRunner()
    before = runner.invoke(app, ["sessions", "--store", str(store.root), "-f", "csv"]).stdout
    (store.root / "CURRENT").unlink()
    for args in (["sessionize", str(b)], ["sessions"], ["store"], ["usage", "--month", "2026-10"]):
        res = runner.invoke(app, [*args, "--store", str(store.root)])
        assert res.exit_code == 1, (args, res.stdout, res.stderr)
        assert "no CURRENT" in res.stderr and "store rollback v000002" in res.stderr
    assert sorted(p.name for p in (store.root / "versions").iterdir()) == ["v000001", "v000002"]
    res = runner.invoke(app, ["store", "rollback", "v000002", "--store", str(store.root)])
    assert res.exit_code == 0, res.stderr
    listed = runner.invoke(app, ["sessions", "--store", str(store.root), "-f", "csv"])
    assert listed.exit_code == 0 and listed.stdout == before and before.count("\n") > 5
    # one version never made current (no link, no CURRENT): a new store
    first = Store.open(tmp_path / "first")
    run_sessionize([a], first)
    (first.root / "CURRENT").unlink()
    (first.root / "current").unlink()
    run = run_sessionize([b], Store.open(first.root))
    assert run.summary.run is not None


def test_an_output_that_cannot_be_written_is_refused_before_the_store_changes(
    tmp_path: Path,
) -> None:
    """--rejects naming a directory, -o into a folder that does not exist: refused (exit 1)
    before the run, so no version is committed whose rejects or listing were never written
    (a run again would then say "nothing new")."""
    a = _export(tmp_path / "a.parquet", "a", 10)
    (tmp_path / "dir").mkdir()
    store = tmp_path / "store"
    runner = CliRunner()
    for extra in (["--rejects", str(tmp_path / "dir")], ["-o", str(tmp_path / "no" / "x.csv")]):
        res = runner.invoke(app, ["sessionize", str(a), "--store", str(store), *extra])
        assert res.exit_code == 1, res.stderr
        assert res.stderr.count("\n") == 1
        assert "cannot write" in res.stderr or "is a directory" in res.stderr
        assert not store.exists()  # (a failed first run leaves no folder behind either)
    run_sessionize([a], Store.open(store))
    b = _export(tmp_path / "b.parquet", "b", 4)
    res = runner.invoke(
        app, ["sessionize", str(b), "--store", str(store), "--rejects", str(tmp_path / "dir")]
    )
    assert res.exit_code == 1
    assert (store / "CURRENT").read_text().strip() == "v000001"


def test_failed_first_runs_and_commands_on_no_store_leave_no_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n')
    cases = [
        ["sessionize", str(tmp_path / "missing.jsonl")],
        ["sessionize", str(bad)],
        ["store", "rollback", "v000001"],
        ["store", "compact"],
    ]
    for i, args in enumerate(cases):
        where = tmp_path / f"s{i}"
        res = runner.invoke(app, [*args, "--store", str(where)])
        assert res.exit_code == 1, (args, res.stderr)
        assert not where.exists(), (args, sorted(p.name for p in where.iterdir()))
    res = runner.invoke(app, ["store", "rollback", "v000001", "--store", str(tmp_path / "s9")])
    assert "no jtrack store here" in res.stderr


def test_a_store_path_that_is_a_file_is_said_so_and_left_as_it_is(tmp_path: Path) -> None:
    """`sessionize --store FILE` said "cannot create the store (File exists)" and told to
    check permissions: it says the path is a file, as the reading commands do."""
    events = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    res = CliRunner().invoke(app, ["sessionize", str(events), "--store", str(afile), "-q"])
    assert res.exit_code == 1, res.stderr
    assert "is a file, not a store folder" in res.stderr and "(hint: " in res.stderr
    assert afile.read_text() == "mine\n"


def test_reading_commands_write_nothing_into_a_folder_that_holds_no_store(
    tmp_path: Path,
) -> None:
    """A reading command pointed at an empty folder, or at a folder of exports, changes
    nothing there (it made `.readers/`, then said the folder held other files)."""
    runner = CliRunner()
    empty, exports = tmp_path / "empty", tmp_path / "exports"
    empty.mkdir()
    exports.mkdir()
    (exports / "day1.jsonl").write_text("")
    commands = [["sessions"], ["card", "abc"], ["report"], ["usage"], ["contacts"]]
    for args in commands:
        for where, hint in ((empty, "first, or pass --store"), (exports, "holds other files")):
            res = runner.invoke(app, [*args, "--store", str(where)])
            assert res.exit_code == 1 and hint in res.stderr, (args, res.stderr)
    assert sorted(p.name for p in empty.iterdir()) == []
    assert sorted(p.name for p in exports.iterdir()) == ["day1.jsonl"]


def _two_runs_damaged(tmp_path: Path, damage: Callable[[bytes], bytes]) -> tuple[Store, Path]:
    """A store of two runs whose second version's own session part (not shared with the
    first) holds `damage(bytes)` instead of its bytes; the store and that part."""
    a, b = _export(tmp_path / "a.parquet", "a", 10), _export(tmp_path / "b.parquet", "b", 4)
    store = Store.open(tmp_path / "store")
    run_sessionize([a], store)
    run_sessionize([b], store)
    v2 = store.root / "versions" / "v000002"
    part = next(p for p in sorted((v2 / "sessions").iterdir()) if p.stat().st_nlink == 1)
    data = part.read_bytes()
    part.unlink()  # (a new file: the earlier version's links stay whole)
    part.write_bytes(damage(data))
    return store, part


def test_a_damaged_store_is_named_as_such_not_an_internal_error(tmp_path: Path) -> None:
    """A part file cut short: every reading command says which file and that the store is
    damaged, with the rollback to the newest whole version (not "internal error" and the
    Parquet reader's bytes); a current version without its manifest, the same (not "the
    store keeps changing" after a second of retries); a store of a newer layout asks for
    a newer jtrack, not a rebuild."""
    store, part = _two_runs_damaged(tmp_path, lambda data: data[:200])
    v2 = store.root / "versions" / "v000002"
    runner = CliRunner()
    for args in (["sessions"], ["usage", "--month", "2026-10"], ["report"], ["contacts"]):
        res = runner.invoke(app, [*args, "--store", str(store.root)])
        assert res.exit_code == 1, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and "internal error" not in res.stderr
        assert f"{part} is not a whole Parquet file" in res.stderr, res.stderr
        assert "jtrack store rollback v000001" in res.stderr
    (v2 / "manifest.json").unlink()
    res = runner.invoke(app, ["sessions", "--store", str(store.root)])
    assert res.exit_code == 1 and "v000002 has no manifest" in res.stderr
    assert "jtrack store rollback v000001" in res.stderr
    res = runner.invoke(app, ["store", "rollback", "v000001", "--store", str(store.root)])
    assert res.exit_code == 0, res.stderr
    manifest = store.root / "versions" / "v000001" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["layout_version"] += 1
    manifest.unlink()
    manifest.write_text(json.dumps(data))
    res = runner.invoke(app, ["sessions", "--store", str(store.root)])
    assert res.exit_code == 1 and "or newer" in res.stderr and "rebuild" not in res.stderr


def test_damage_inside_a_store_file_is_named_not_an_internal_error(tmp_path: Path) -> None:
    """Bytes overwritten in the middle of a session part (its first and last bytes whole):
    every reading command and the next run said "internal error: ComputeError: parquet:
    File out of specification ... report the traceback", naming no file. The file is named,
    with the way back and `verify --full`."""

    def overwrite(data: bytes) -> bytes:
        at = len(data) // 4
        return data[:at] + b"\xff" * 200 + data[at + 200 :]

    store, part = _two_runs_damaged(tmp_path, overwrite)
    runner = CliRunner()
    for args in (["sessions", "-f", "csv"], ["report"]):
        res = runner.invoke(app, [*args, "--store", str(store.root)])
        assert res.exit_code == 1, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and "internal error" not in res.stderr, res.stderr
        assert f"the store is damaged: {part} (unreadable: " in res.stderr, res.stderr
        assert "jtrack store rollback v000001" in res.stderr and "verify --full" in res.stderr


def test_a_run_never_builds_on_a_damaged_file_and_verify_names_it(tmp_path: Path) -> None:
    """A segment cut short in place (versions share it: a hard link): nightly runs,
    `--rebuild` and `store compact` exited 0 and committed version after version on top of
    it, and nothing but a reading command (weeks later) said so. Now each refuses before
    writing, and `jtrack store verify` lists every damaged file and the way back."""
    a, b = _export(tmp_path / "a.parquet", "a", 10), _export(tmp_path / "b.parquet", "b", 4)
    c = _export(tmp_path / "c.parquet", "c", 6)
    root = tmp_path / "store"
    runner = CliRunner()

    def jt(*args: str) -> tuple[int, str, str]:
        res = runner.invoke(app, [*args, "--store", str(root)])
        return res.exit_code, res.stdout, res.stderr

    assert jt("sessionize", str(a), "-q")[0] == 0
    assert jt("sessionize", str(b), "-q")[0] == 0
    code, out, err = jt("store", "verify")
    assert (code, out) == (0, "") and err.endswith("files of v000002 checked, all whole\n"), err
    code, out, _ = jt("store", "verify", "--all", "--full", "-q", "-f", "csv")
    assert (code, out) == (0, "version,file,problem\n")
    seg = next((root / "versions" / "v000002" / "segments").iterdir())
    assert seg.stat().st_nlink == 2  # (the same file in both versions)
    with open(seg, "r+b") as fh:
        fh.truncate(seg.stat().st_size // 2)
    versions = sorted(p.name for p in (root / "versions").iterdir())
    for args in (["sessionize", str(c)], ["sessionize", "--rebuild"], ["store", "compact"]):
        code, _, err = jt(*args, "-q")
        assert code == 1, (args, err)
        assert err.count("\n") == 1 and f"{seg.name} is not a whole Parquet file" in err, err
        assert "`jtrack store verify` lists every damaged file" in err
        assert sorted(p.name for p in (root / "versions").iterdir()) == versions
    code, out, err = jt("store", "verify", "--all")
    assert code == 1
    assert out.splitlines()[2:] == [
        f"v000001  segments/{seg.name}  not a whole Parquet file",
        f"v000002  segments/{seg.name}  not a whole Parquet file",
    ]
    assert err == (
        f"error: {root}: the store is damaged: v000001/segments/{seg.name} is not a whole "
        "Parquet file (and 1 more) (hint: rebuild it from its exports: `jtrack sessionize "
        "EXPORTS --store NEW_DIR`)\n"
    )
    data = json.loads(jt("store", "verify", "-f", "json")[1])
    assert data["versions"] == ["v000002"] and data["damaged"] == [
        {
            "version": "v000002",
            "file": f"segments/{seg.name}",
            "problem": "not a whole Parquet file",
        }
    ]


def test_verify_finds_a_part_missing_or_of_other_rows(tmp_path: Path) -> None:
    """A part deleted, or replaced by another whole Parquet file: named, with a rollback
    when an earlier version holds its own copy."""
    a, b = _export(tmp_path / "a.parquet", "a", 10), _export(tmp_path / "b.parquet", "b", 4)
    store = Store.open(tmp_path / "store")
    run_sessionize([a], store)
    run_sessionize([b], store)
    v2 = store.root / "versions" / "v000002"
    mine = [p for p in sorted((v2 / "sessions").iterdir()) if p.stat().st_nlink == 1]
    mine[0].unlink()
    idx = next(p for p in sorted((v2 / "index").iterdir()) if p.stat().st_nlink == 1)
    rows = pl.read_parquet(idx)
    idx.unlink()
    rows.head(1).write_parquet(idx)
    assert sorted((d.file.split("/")[0], d.problem) for d in store.verify()) == [
        ("index", f"1 row where the manifest says {rows.height:,}"),
        ("sessions", "missing"),
    ]
    res = CliRunner().invoke(app, ["store", "verify", "--store", str(store.root)])
    assert res.exit_code == 1
    said = f"(hint: `jtrack store rollback v000001 --store {store.root}` goes back to a version"
    assert said + " without it)" in res.stderr


def test_rejects_belong_to_the_version_they_describe(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n{"id": "y"}\n')
    good = _export(tmp_path / "good.parquet", "g", 10)
    store = Store.open(tmp_path / "store")
    run = run_sessionize([bad, good], store, on_error="skip")
    assert run.summary.rejected == 2
    rejects = store.root / "current" / "rejects.jsonl"
    assert len(rejects.read_text().splitlines()) == 2
    # a replacement by a clean export: the store no longer holds the bad file, nor its rejects
    run = run_sessionize([_export(tmp_path / "other.parquet", "o", 12)], store, replace=True)
    assert run.summary.rejected == 0 and store.manifest()["counts"]["rejected"] == 0
    assert not rejects.exists()


def test_a_run_where_every_row_is_rejected_leaves_a_store_that_holds_events_alone(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "store")
    run_sessionize([_export(tmp_path / "a.parquet", "a", 10)], store)
    version = store.current_name()
    junk = tmp_path / "contacts.csv"
    junk.write_text("contact_id,name\nC1,Ada\n")
    res = CliRunner().invoke(
        app, ["sessionize", str(junk), "--store", str(store.root), "--on-error", "skip", "-q"]
    )
    assert res.exit_code == 2 or res.exit_code == 1, res.stderr  # (not a data file, or refused)
    assert store.current_name() == version
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"note": 1}\n{"note": 2}\n')
    res = CliRunner().invoke(
        app, ["sessionize", str(notes), "--store", str(store.root), "--on-error", "skip", "-q"]
    )
    assert res.exit_code == 1 and "every one of the 2 rows read was rejected" in res.stderr
    assert "--force" in res.stderr and store.current_name() == version
    # the hint's --rejects FILE is written on the refusal too (where the rows are said)
    rej = tmp_path / "rejects.jsonl"
    args = ["sessionize", str(notes), "--store", str(store.root), "--on-error", "skip"]
    res = CliRunner().invoke(app, [*args, "--rejects", str(rej)])
    assert res.exit_code == 1 and f"they are in {rej}" in res.stderr
    assert len(rej.read_text().splitlines()) == 2 and store.current_name() == version
    forced = CliRunner().invoke(
        app,
        ["sessionize", str(notes), "--store", str(store.root), "--on-error", "skip", "--force"],
    )
    assert forced.exit_code == 0, forced.stderr
    store.refresh()
    assert store.scan_index().collect().height == 10  # nothing lost either way


def test_replace_refuses_to_shrink_the_store_unless_forced(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    run_sessionize([_export(tmp_path / "a.parquet", "a", 40)], store)
    small = _export(tmp_path / "b.parquet", "b", 3)
    res = CliRunner().invoke(
        app, ["sessionize", str(small), "--store", str(store.root), "--replace", "-q"]
    )
    assert res.exit_code == 1 and "would shrink the store from 40 events" in res.stderr
    ok = CliRunner().invoke(
        app, ["sessionize", str(small), "--store", str(store.root), "--replace", "--force", "-q"]
    )
    assert ok.exit_code == 0, ok.stderr
    # said even with -q: the store is smaller than it was
    assert "warning: --replace: the store holds 3 events, 37 fewer than before (40)" in (ok.stderr)
    store.refresh()
    assert store.scan_index().collect().height == 3


def test_a_contacts_file_cut_short_is_refused_and_a_change_is_said(tmp_path: Path) -> None:
    """A contacts file the store remembers, left with its header alone by a CRM sync that
    failed (or cut mid-row): the next nightly run resolved every visitor with it, silently,
    and every known visitor became Unknown. Now a book of less than half the store's
    copy is refused (the store unchanged) unless --force, and any change is said."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    book = tmp_path / "contacts.csv"
    book.write_text("".join(lines))
    root = tmp_path / "store"
    runner = CliRunner()

    def jt(*args: str) -> tuple[int, str]:
        events = str(sample / "events.parquet")
        res = runner.invoke(app, ["sessionize", events, *args, "--store", str(root)])
        return res.exit_code, res.stderr

    assert jt("--contacts", str(book), "-q") == (0, "")
    had = Store.open(root).read_manifest().contact_counts
    assert had is not None and had["contacts"] == len(lines) - 1 and had["visitors_known"] > 0
    for cut in ("".join(lines[:1]), "".join(lines[:3])):
        book.write_text(cut)
        code, err = jt("-q")
        assert code == 1 and err.count("\n") == 1, err
        assert (
            f"{book}: the contacts file holds {cut.count(chr(10)) - 1} contacts where the "
            f"store's copy has {had['contacts']}; the store is unchanged"
        ) in err
        assert "pass --force to resolve every visitor with it anyway" in err
        assert Store.open(root).current_name() == "v000001"
    code, err = jt("--force", "-q")
    assert (code, err) == (0, "")
    counts = Store.open(root).read_manifest().contact_counts
    assert counts is not None and counts["contacts"] == 2
    book.write_text("".join(lines[:3] + lines[5:]))  # (two contacts fewer than at first)
    code, err = jt()
    changed = (
        f"note: {book}: the contacts file changed (2 contacts, now {len(lines) - 3}): "
        "every visitor is resolved again"
    )
    assert code == 0 and changed in err
    # another file named, as small: refused too (a name is no proof: a link re-pointed at a
    # file cut short is another name), taken with --force; a region alone: said so
    other = tmp_path / "few.csv"
    other.write_text("".join(lines[:2]))
    code, err = jt("--contacts", str(other))
    assert code == 1 and err.startswith(
        f"error: {other}: the contacts file holds 1 contacts where the store's copy has "
        f"{len(lines) - 3}; the store is unchanged (another file) (hint: pass --force"
    ), err
    code, err = jt("--contacts", str(other), "--force")
    another = (
        f"note: {other}: another contacts file (1 contacts, the store's had {len(lines) - 3}): "
        "every visitor is resolved again"
    )
    assert code == 0 and another in err
    code, err = jt("--contacts", str(other), "--default-region", "GB")
    region = (
        "note: contacts read with --default-region GB (the store's: none): every visitor is "
        "resolved again"
    )
    assert code == 0 and region in err
    runs = Store.open(root).runs()
    assert [r.reason for r in runs[-2:]] == [
        f"another contacts file ({len(lines) - 3} -> 1 contacts)",
        "--default-region GB",
    ]


def test_a_copy_of_the_contacts_file_named_is_followed_from_then_on(tmp_path: Path) -> None:
    """Naming another contacts file with the same bytes as the store's was "nothing new":
    the store went on following the old path, and the new file's later edits were never
    read. The run records the file named (said in a note), and its edits are taken in."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    old, new = tmp_path / "crm.csv", tmp_path / "crm-new.csv"
    old.write_text((sample / "contacts.csv").read_text())
    root = tmp_path / "store"

    def jt(*args: str) -> tuple[int, str]:
        events = str(sample / "events.parquet")
        res = CliRunner().invoke(app, ["sessionize", events, *args, "--store", str(root)])
        return res.exit_code, res.stderr

    assert jt("--contacts", str(old), "-q") == (0, "")
    new.write_text(old.read_text())
    code, err = jt("--contacts", str(new))
    assert code == 0 and f"note: {new}: another contacts file, the same contents" in err, err
    remembered = Store.open(root).read_manifest().contacts
    assert remembered is not None and remembered.file == str(new)
    visitor = "652f931c-e845-4f2c-99e6-6cbd84c1ae75"  # (Olivia Wilson's cookie: C0008)
    kept = [line for line in new.read_text().splitlines(keepends=True) if visitor not in line]
    new.write_text("".join(kept))  # (her contact gone from the file followed)
    assert jt("-q") == (0, "")  # (the file the store follows changed: read again)
    row = Store.open(root).scan_sessions(customer_id=visitor).collect().row(0, named=True)
    assert row["contact_state"] == "temporary", row


def test_a_watch_keeps_the_stores_contacts_when_the_file_is_cut_short(tmp_path: Path) -> None:
    """`jtrack watch` (a run that follows files) met the guard above and stopped, with a
    hint to pass --force, which it does not take: it goes on with the store's copy and
    warns once."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    book = tmp_path / "contacts.csv"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    book.write_text("".join(lines))
    store = Store.open(tmp_path / "store")
    a, b = _export(tmp_path / "a.parquet", "a", 10), _export(tmp_path / "b.parquet", "b", 4)
    run_sessionize([a], store, options=RunOptions(contacts=str(book)))
    book.write_text(lines[0])
    first = run_sessionize([a, b], store, options=RunOptions(follow=True))
    said = [w for w in first.warnings if "contacts" in w]
    assert said == [
        f"{book}: the contacts file holds 0 contacts where the store's copy has "
        f"{len(lines) - 1}: the store goes on with its copy (a file cut short? `jtrack "
        "sessionize --force` takes it as it is)"
    ]
    m = store.read_manifest()
    assert m.contact_counts is not None and m.contact_counts["contacts"] == len(lines) - 1
    c = _export(tmp_path / "c.parquet", "c", 3)
    again = run_sessionize([a, b, c], store, options=RunOptions(follow=True))
    assert not [w for w in again.warnings if "contacts" in w]  # (once per process)
    book.write_text("".join(lines))  # whole again, then cut short again: said again
    d = _export(tmp_path / "d.parquet", "d", 3)
    run_sessionize([a, b, c, d], store, options=RunOptions(follow=True))
    book.write_text(lines[0])
    e = _export(tmp_path / "e.parquet", "e", 3)
    third = run_sessionize([a, b, c, d, e], store, options=RunOptions(follow=True))
    assert [w for w in third.warnings if "contacts" in w] == said


def test_a_contacts_link_repointed_to_a_file_cut_short_is_guarded(tmp_path: Path) -> None:
    """`--contacts contacts-latest.csv`, a link a sync points at each day's file: the store
    kept the link's target, so a link re-pointed at a file with its header alone was
    "another contacts file", taken as it was (every known visitor became Unknown), and
    runs without --contacts kept reading the old target."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    day1, day2 = tmp_path / "contacts-1205.csv", tmp_path / "contacts-1206.csv"
    day1.write_text("".join(lines))
    day2.write_text(lines[0])
    latest = tmp_path / "contacts-latest.csv"
    latest.symlink_to(day1.name)
    root = str(tmp_path / "store")
    events = str(sample / "events.parquet")

    def jt(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, ["sessionize", events, *args, "--store", root, "-q"])
        return res.exit_code, res.stderr

    assert jt("--contacts", str(latest)) == (0, "")
    latest.unlink()
    latest.symlink_to(day2.name)
    for args in (["--contacts", str(latest)], []):
        code, err = jt(*args)
        assert code == 1 and "holds 0 contacts where the store's copy has" in err, err
    day2.write_text("".join(lines[:-1]))  # (the day's file, one contact fewer: taken)
    assert jt()[0] == 0
    counts = Store.open(root).read_manifest().contact_counts
    assert counts is not None and counts["contacts"] == len(lines) - 2


def test_a_quiet_run_that_rejects_rows_says_so(tmp_path: Path) -> None:
    """The cron recipe (-q --on-error skip): rows left out are not left out silently."""
    store = tmp_path / "store"
    good = _export(tmp_path / "a.parquet", "a", 5)
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "half\n')
    args = ["sessionize", str(good), str(bad), "--store", str(store), "--on-error", "skip", "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert res.stderr == (
        "warning: 1 row of this run was rejected and left out "
        f"(see {store}/current/rejects.jsonl)\n"
    )
    again = CliRunner().invoke(app, args)  # nothing new: nothing to say
    assert again.exit_code == 0 and again.stderr == ""


def test_one_visitors_clock_moves_no_one_elses_contact_state(tmp_path: Path) -> None:
    """A device dated 2099 (above the far-future share) must not expire anyone else."""
    rows = [flat_event(f"e{i}", f"v{i % 20}", T0 + timedelta(minutes=i)) for i in range(400)]
    rows += [flat_event(f"z{i}", "skewed", T0.replace(year=2099)) for i in range(10)]  # 2.4%
    src = tmp_path / "x.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "store")
    run = run_sessionize([src], store)
    assert run.summary.rejected == 0  # 2.4% is more than the far-future share: kept
    states = store.scan_sessions().select("customer_id", "contact_state").collect()
    assert set(states["contact_state"]) == {"temporary"}
    # read at a time within 60 days of the ordinary visitors' activity: still temporary
    res = CliRunner().invoke(
        app,
        ["sessions", "--store", str(store.root), "--as-of", "2026-11-01", "-f", "csv"],
    )
    assert res.exit_code == 0, res.stderr
    listed = pl.read_csv(res.stdout.encode())
    ordinary = listed.filter(pl.col("customer_id") != "skewed")
    assert set(ordinary["contact_state"]) == {"temporary"}


# ---- readers while a writer switches versions ----------------------------------------------


def test_readers_never_fail_or_see_a_partial_store_while_a_writer_switches(
    tmp_path: Path,
) -> None:
    """Library readers and CLI readers loop while another process adds an export at a time
    and keeps no earlier version (--keep 0): every read sees one whole version."""
    store = Store.open(tmp_path / "store")
    first = _export(tmp_path / "e0.parquet", "e0-", 30)
    run_sessionize([first], store)
    exports = [_export(tmp_path / f"e{k}.parquet", f"e{k}-", 30) for k in range(1, 9)]
    stop = threading.Event()
    errors: list[str] = []
    reads = [0]

    def library_reader() -> None:
        while not stop.is_set():
            s = Store.open(store.root)
            try:
                sessions = s.scan_sessions().collect()
                events = s.scan_events().collect()
                m = s.manifest()
                if events.height != m["counts"]["events_kept"]:
                    errors.append(f"{events.height} events, manifest {m['counts']}")
                if events.height != int(sessions["event_count"].sum()):
                    errors.append("sessions and events disagree")
                reads[0] += 1
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                s.close()

    threads = [threading.Thread(target=library_reader) for _ in range(2)]
    for t in threads:
        t.start()
    env = {**os.environ, "TZ": "UTC"}
    cli_failures: list[str] = []
    try:
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from jtrack.engine import run_sessionize; "
                "from jtrack.store import Store\n"
                "for f in sys.argv[2:]:\n"
                "    run_sessionize([f], Store(sys.argv[1]), keep=0)\n",
                str(store.root),
                *map(str, exports),
            ],
            env=env,
        )
        while writer.poll() is None:
            r = subprocess.run(
                [sys.executable, "-m", "jtrack.cli", "sessions", "--store", str(store.root),
                 "-f", "csv"],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            if r.returncode != 0:
                cli_failures.append(r.stderr)
        assert writer.returncode == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == [] and cli_failures == []
    assert reads[0] > 0
    # the versions the readers held are gone now that they let go
    run_sessionize([_export(tmp_path / "last.parquet", "z", 3)], store, keep=0)
    assert len(store.versions()) == 1
    time.sleep(0)  # (nothing else to wait for)


def test_verify_sends_back_only_to_a_version_without_the_damaged_file(tmp_path: Path) -> None:
    """A part shared by three versions (hard links) replaced in place by a smaller Parquet
    file: verify named the previous version as the way back (only each file's first and
    last bytes were looked at), and from there the next one: back and forth between
    versions holding the same damage. Another Parquet file with the manifest's row count
    passed `--full`, then every reader failed on it."""
    store = Store.open(tmp_path / "store")
    for i in range(4):
        run_sessionize([_export(tmp_path / f"d{i}.parquet", f"d{i}", 6 + i)], store)
    v4 = store.root / "versions" / "v000004"
    shared = next(p for p in sorted((v4 / "index").iterdir()) if p.stat().st_nlink >= 3)
    rows = pl.read_parquet(shared)
    smaller = tmp_path / "smaller.parquet"
    rows.head(2).write_parquet(smaller)
    with open(shared, "r+b") as fh:  # (in place: every version holding it sees it)
        fh.write(smaller.read_bytes())
        fh.truncate()
    runner = CliRunner()

    def verify(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["store", "verify", "--store", str(store.root), *args])
        return res.exit_code, res.stderr

    code, err = verify()
    assert code == 1 and f"2 rows where the manifest says {rows.height}" in err, err
    holding = [
        v
        for v in ("v000001", "v000002", "v000003")
        if (store.root / "versions" / v / "index" / shared.name).exists()
        and (store.root / "versions" / v / "index" / shared.name).stat().st_ino
        == shared.stat().st_ino
    ]
    assert holding  # (the previous versions share it)
    others = [v for v in ("v000001", "v000002", "v000003") if v not in holding]
    kept = [v for v in others if (store.root / "versions" / v).is_dir()]
    if kept:
        said = f"`jtrack store rollback {kept[-1]} --store {store.root}` goes back to a version"
        assert said + " without it" in err
    else:
        assert "rebuild it from its exports" in err and "rollback" not in err, err
    # another whole Parquet file with the same number of rows: its columns give it away
    part = next(p for p in sorted((v4 / "sessions").iterdir()))
    n = pl.read_parquet(part).height
    part.unlink()
    pl.DataFrame({"x": range(n)}).write_parquet(part)
    code, _ = verify("--full")
    out = runner.invoke(app, ["store", "verify", "--store", str(store.root), "-f", "json"]).stdout
    problems = {d["file"]: d["problem"] for d in json.loads(out)["damaged"]}
    assert code == 1 and problems[f"sessions/{part.name}"].startswith(
        "a Parquet file without id, bucket, customer_id, created_date"
    )


def test_verify_holds_what_it_reads_while_a_run_lets_versions_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify read the versions without a lease: a run that committed meanwhile let the
    oldest go, and its files were reported missing (exit 1 on a healthy store)."""
    import jtrack.store.store as store_module

    store = Store.open(tmp_path / "store")
    for i in range(3):
        run_sessionize([_export(tmp_path / f"d{i}.parquet", f"d{i}", 5)], store)
    whole = store_module._whole_parquet
    ran: list[int] = []

    def with_a_run_meanwhile(path: Path) -> bool:
        if not ran:  # (the first file verify looks at: a run commits, keeping 0)
            ran.append(1)
            extra = _export(tmp_path / "extra.parquet", "x", 5)
            run_sessionize([extra], Store.open(store.root), options=RunOptions(keep=0))
        return whole(path)

    monkeypatch.setattr(store_module, "_whole_parquet", with_a_run_meanwhile)
    from jtrack.usecases.store_info import verify

    res = verify(Store.open(store.root), every=True)
    assert ran and res["damaged"].height == 0, res["damaged"]


def test_the_way_back_prefers_an_earlier_version_and_says_a_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a rollback the versions rolled back from are newer: the hint called one of
    them "an earlier version"."""
    import jtrack.store.store as store_module

    store = Store.open(tmp_path / "store")
    for found, said in (
        (["v000001", "v000003"], f"`jtrack store rollback v000001 {store.flag}` goes back to"),
        (["v000003"], f"`jtrack store rollback v000003 {store.flag}` makes a later version"),
        ([], "rebuild it from its exports"),
    ):
        monkeypatch.setattr(store_module, "ways_back", lambda *a, f=found: f)
        assert store_module.damaged_hint(store, "v000002", ["x"]).startswith(said)


def test_a_contacts_path_through_a_link_and_dotdot_is_remembered_as_read(
    tmp_path: Path,
) -> None:
    """`--contacts linkdir/../contacts.csv`, linkdir a link into another folder: the path
    was collapsed to a file that does not exist, and the next run said "the contacts file
    is gone"."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "contacts.csv").write_text((sample / "contacts.csv").read_text())
    (tmp_path / "linkdir").symlink_to(tmp_path / "real" / "sub")
    root = str(tmp_path / "store")
    events = str(sample / "events.parquet")
    given = str(tmp_path / "linkdir" / ".." / "contacts.csv")
    res = CliRunner().invoke(app, ["sessionize", events, "--contacts", given, "--store", root])
    assert res.exit_code == 0, res.stderr
    res = CliRunner().invoke(app, ["sessionize", events, "--store", root, "--rebuild"])
    assert res.exit_code == 0 and "gone" not in res.stderr, res.stderr


def test_the_contacts_guard_holds_whatever_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--contacts ../crm/contacts.csv` from two working folders was two files: the second
    run took a file cut short as "another contacts file"."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    for d in ("crm", "a", "b"):
        (tmp_path / d).mkdir()
    book = tmp_path / "crm" / "contacts.csv"
    book.write_text("".join(lines))
    events, root = str(sample / "events.parquet"), str(tmp_path / "store")
    monkeypatch.chdir(tmp_path / "a")
    args = ["sessionize", events, "--contacts", "../crm/contacts.csv", "--store", root, "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0
    book.write_text("".join(lines[:3]))
    monkeypatch.chdir(tmp_path / "b")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "holds 2 contacts where the store's copy has" in res.stderr


def test_the_contacts_guard_holds_through_a_folder_link_and_the_files_own_path(
    tmp_path: Path,
) -> None:
    """`--contacts current/contacts.csv`, `current` a link to each day's folder: the store
    kept the day's folder, so the next day's file cut short was "another contacts file"
    (and runs without --contacts read the old day's). Naming the file behind a remembered
    link skipped the guard too."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    for day, text in (("d1", "".join(lines)), ("d2", "".join(lines[:6]))):
        (tmp_path / day).mkdir()
        (tmp_path / day / "contacts.csv").write_text(text)
    current = tmp_path / "current"
    current.symlink_to("d1")
    events = str(sample / "events.parquet")

    def jt(root: str, *args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, ["sessionize", events, *args, "--store", root, "-q"])
        return res.exit_code, res.stderr

    one = str(tmp_path / "s1")
    assert jt(one, "--contacts", str(current / "contacts.csv")) == (0, "")
    current.unlink()
    current.symlink_to("d2")
    for args in (["--contacts", str(current / "contacts.csv")], []):
        code, err = jt(one, *args)
        assert code == 1 and "holds 5 contacts where the store's copy has" in err, err
    # the store remembers a link to the file; the run names the file itself
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "contacts.csv").write_text("".join(lines))
    (tmp_path / "latest.csv").symlink_to(tmp_path / "crm" / "contacts.csv")
    two = str(tmp_path / "s2")
    assert jt(two, "--contacts", str(tmp_path / "latest.csv")) == (0, "")
    (tmp_path / "crm" / "contacts.csv").write_text("".join(lines[:6]))
    code, err = jt(two, "--contacts", str(tmp_path / "crm" / "contacts.csv"))
    assert code == 1 and "holds 5 contacts where the store's copy has" in err, err


def test_the_contacts_guard_holds_whatever_name_a_run_gives_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard compared names: a store that remembered `day1/c.csv` took `latest/c.csv`
    (a link re-pointed at a file cut short) as "another contacts file", and so did a job
    run from inside the `latest` folder link (`--contacts c.csv`, the working folder read
    resolved). A book of less than half the store's copy is refused whatever its name."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    for day, text in (("day1", "".join(lines)), ("day2", "".join(lines[:5]))):
        (tmp_path / day).mkdir()
        (tmp_path / day / "c.csv").write_text(text)
    latest = tmp_path / "latest"
    latest.symlink_to("day1")
    events, root = str(sample / "events.parquet"), str(tmp_path / "store")

    def jt(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, ["sessionize", events, *args, "--store", root, "-q"])
        return res.exit_code, res.stderr

    assert jt("--contacts", str(tmp_path / "day1" / "c.csv")) == (0, "")
    assert jt("--contacts", str(latest / "c.csv"))[0] == 0  # (the same file: nothing new)
    latest.unlink()
    latest.symlink_to("day2")
    code, err = jt("--contacts", str(latest / "c.csv"))
    assert code == 1 and "holds 4 contacts where the store's copy has" in err, err
    monkeypatch.chdir(latest)
    monkeypatch.setenv("PWD", str(latest))
    code, err = jt("--contacts", "c.csv")
    assert code == 1 and "holds 4 contacts where the store's copy has" in err, err


def test_verify_full_decodes_a_column_chunk_at_a_time_and_finds_damage_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`store verify --full` decoded each file whole (a canonical input kept as one segment:
    3.6 GB to verify a 300 MB store, measured). It reads one column of one row group at a
    time, and still names bytes overwritten inside a page."""
    import pyarrow.parquet as pq

    root = tmp_path / "store"
    assert run_sessionize([_export(tmp_path / "a.parquet", "a", 50)], Store.open(root))
    asked: list[list[str] | None] = []
    real = pq.ParquetFile.read_row_group

    def spy(self: pq.ParquetFile, i: int, columns: list[str] | None = None, **kw: object):
        asked.append(columns)
        return real(self, i, columns=columns, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    monkeypatch.setattr(pl, "read_parquet", None)  # (never the whole file)
    runner = CliRunner()
    res = runner.invoke(app, ["store", "verify", "--full", "--store", str(root)])
    assert res.exit_code == 0, res.stderr
    assert asked and all(c is not None and len(c) == 1 for c in asked)
    monkeypatch.undo()
    seg = next((root / "current" / "segments").iterdir())
    data = seg.read_bytes()
    at = len(data) // 3
    seg.unlink()  # (a copy: the versions share the file)
    seg.write_bytes(data[:at] + b"\xff" * 64 + data[at + 64 :])
    res = runner.invoke(app, ["store", "verify", "--full", "--store", str(root)])
    assert res.exit_code == 1 and f"segments/{seg.name}" in res.stdout + res.stderr
    assert "internal error" not in res.stderr
