"""`jtrack store`: what a store holds, rollback to an earlier version, compaction, file lists."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_engine import T0, assert_same_store, contents, nightly_stores, overlapping_exports
from test_growing import assert_same_result
from typer.testing import CliRunner

import jtrack.engine.run as run_module
from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.engine.compact import LIVE_LEVEL, MERGE_FACTOR, RECENT_RUNS, level, to_merge
from jtrack.options import RunOptions, SessionizeOptions
from jtrack.store import Manifest, PartInfo, RunInfo, Store
from jtrack.store.snapshot import Snapshot, first_by_start
from tests.helpers import flat_event, flat_frame


def _run(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def daily(tmp_path: Path) -> tuple[Store, list[Path]]:
    """A store fed three daily exports, one run each."""
    store = Store.open(tmp_path / "store")
    files = _exports(tmp_path, days=3, per_day=12, visitors=4, minutes=5)
    for f in files:
        run_sessionize([f], store)
    return store, files


def _exports(tmp_path: Path, days: int, per_day: int, visitors: int, minutes: int) -> list[Path]:
    """One Parquet export a day: `per_day` events of `visitors` visitors, `minutes` apart."""
    files = []
    for day in range(days):
        rows = [
            flat_event(
                f"d{day}-{i}", f"v{i % visitors}", T0 + timedelta(days=day, minutes=minutes * i)
            )
            for i in range(per_day)
        ]
        f = tmp_path / f"day{day}.parquet"
        flat_frame(rows).write_parquet(f)
        files.append(f)
    return files


def test_store_shows_inputs_runs_and_versions(daily: tuple[Store, list[Path]]) -> None:
    store, files = daily
    res = _run("store", "--store", str(store.root), "-f", "json")
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert [i["name"] for i in info["inputs"]] == [str(f) for f in files]
    assert all(len(i["fingerprint"]) == 64 and i["rows_read"] == 12 for i in info["inputs"])
    assert [r["mode"] for r in info["runs"]] == ["new", "incremental", "incremental"]
    assert [v["version"] for v in info["versions"]] == ["v000003", "v000002", "v000001"]
    assert info["versions"][0]["current"] and info["counts"]["events_kept"] == 36
    table = _run("store", "--store", str(store.root))
    assert table.exit_code == 0 and "Inputs taken in" in table.stdout
    # times in the tables are shown whole, to the second, at 80 columns (not cut)
    narrow = CliRunner().invoke(app, ["store", "--store", str(store.root)], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.stderr
    run_times = [r["finished"] for r in info["runs"]]  # "2026-12-05T10:49:44.123Z"
    inputs = narrow.stdout.split("Inputs taken in")[1].split("Runs")[0]
    assert all(t[:19].replace("T", " ") in inputs for t in run_times), narrow.stdout
    assert all(t[:19].replace("T", " ") in narrow.stdout.split("Runs")[1] for t in run_times)
    # (and said to be UTC, as the card, journey and watch say theirs)
    for header in ("taken_in (UTC)", "finished (UTC)", "created (UTC)"):
        assert header in narrow.stdout, header
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    assert info["inputs"][0]["taken_in"] == run_times[0]  # JSON keeps the manifest's form
    # each run says when it started and which jtrack wrote it (an upgrade shows there)
    from jtrack import __version__

    assert all(r["jtrack_version"] == __version__ for r in info["runs"])
    assert all(r["started"] <= r["finished"] for r in info["runs"])
    assert info["runs"][1]["started"] > run_times[0]


def test_store_table_says_what_an_admin_checks_and_the_last_inputs_and_runs(
    tmp_path: Path,
) -> None:
    """Totals (rows read, duplicates, rejects), the span, the gap as it was typed, the
    contacts file; a year of nightly runs is not 730 lines: the last 10 of each, --all."""
    store = Store.open(tmp_path / "store")
    files = _exports(tmp_path, days=12, per_day=2, visitors=2, minutes=5)
    for f in files:
        run_sessionize([f], store, options=SessionizeOptions(gap=timedelta(minutes=30)))
    res = CliRunner().invoke(app, ["store", "--store", str(store.root)], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.stderr
    head = res.stdout.split("Inputs taken in")[0].splitlines()
    assert "  from 12 inputs: 24 rows read, 0 duplicates, 0 rejected" in head
    assert "  sessions: gap 30m" in head and any(x.startswith("  events from 2026-") for x in head)
    assert all(len(line) <= 80 for line in head)
    assert "Inputs taken in: the last 10 of 12 (--all, or -f json)" in res.stdout
    assert "Runs: the last 10 of 12 (--all, or -f json)" in res.stdout
    assert "/day0.parquet" not in res.stdout and "/day11.parquet" in res.stdout
    every = CliRunner().invoke(app, ["store", "--store", str(store.root), "--all"])
    assert "the last 10" not in every.stdout and "/day0.parquet" in every.stdout
    # the files' fingerprints (#16: "name, size, fingerprint, rows, when"), by their first 12
    # characters where the table has room (only -f json had them)
    assert (
        "not shown at 80 columns: fingerprint, shape (a wider terminal, or -f json, shows them)"
        in " ".join(res.stdout.split())
    )
    wide = CliRunner().invoke(app, ["store", "--store", str(store.root)], env={"COLUMNS": "200"})
    sha = store.read_manifest().inputs[-1].sha256
    assert sha and f"  {sha[:12]}  " in wide.stdout and sha not in wide.stdout


def test_store_table_keeps_the_file_names_goes_to_o_and_has_no_trailing_blanks(
    daily: tuple[Store, list[Path]], tmp_path: Path
) -> None:
    """Long input paths were cut at their end (two inputs in one folder both read
    `/long/path/to/ev…`); the table is now cut at the start, keeps the names, has no blanks
    at the ends of its lines when piped, and `-o FILE` writes it there (it went to the
    terminal)."""
    store, _ = daily
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "exports"
    deep.mkdir(parents=True)
    for n, name in enumerate(("day-one", "day-two")):
        at = T0 + timedelta(days=5 + n)
        flat_frame([flat_event(f"{name}-1", "v1", at)]).write_parquet(deep / f"{name}.parquet")
    run_sessionize([deep / "day-one.parquet", deep / "day-two.parquet"], store)
    res = CliRunner().invoke(app, ["store", "--store", str(store.root)], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    inputs = res.stdout.split("Inputs taken in")[1].split("Runs")[0]
    cut = [line.split()[0] for line in inputs.splitlines() if line.startswith("…")]
    assert any(n.endswith("/exports/day-one.parquet") for n in cut)
    assert any(n.endswith("/exports/day-two.parquet") for n in cut)
    out = tmp_path / "store.txt"
    res = _run("store", "--store", str(store.root), "-o", str(out))
    assert res.exit_code == 0 and res.stdout == ""
    assert "Inputs taken in" in out.read_text() and "day-two.parquet" in out.read_text()


def test_earlier_runs_go_to_run_logs_and_the_store_still_shows_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest keeps the latest runs; earlier ones go to run log files (shared by later
    versions) and `jtrack store` still shows every run, and when each input was taken in."""
    import jtrack.store.writer as writer

    monkeypatch.setattr(writer, "RUN_CHUNK", 2)
    store = Store.open(tmp_path / "store")
    files = []
    for day in range(7):
        f = tmp_path / f"day{day}.parquet"
        flat_frame([flat_event(f"e{day}", f"v{day % 3}", T0 + timedelta(days=day))]).write_parquet(
            f
        )
        files.append(f)
        run_sessionize([f], store)
    m = store.read_manifest()
    assert m.run_logs == ["runs/r000001-000002.jsonl", "runs/r000003-000004.jsonl"]
    assert [r.run for r in m.runs] == [5, 6, 7] and m.run_count == 7
    info = json.loads(_run("store", "--store", str(store.root), "-f", "json").stdout)
    assert [r["run"] for r in info["runs"]] == list(range(1, 8))
    assert all(i["taken_in"] for i in info["inputs"])
    assert info["versions"][0]["runs"] == 7
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize(files, rebuilt)
    assert_same_store(store, rebuilt)
    # an earlier version keeps its own logs: rolled back to, it still shows its runs
    assert _run("store", "rollback", "v000005", "--store", str(store.root)).exit_code == 0
    assert [r.run for r in Store.open(store.root).runs()] == list(range(1, 6))


def test_rollback_makes_an_earlier_version_current_and_runs_build_on_it(
    daily: tuple[Store, list[Path]], tmp_path: Path
) -> None:
    store, files = daily
    res = _run("store", "rollback", "v000002", "--store", str(store.root))
    assert res.exit_code == 0, res.stderr
    store.refresh()
    assert store.current_name() == "v000002"
    assert store.scan_index().collect().height == 24
    # the third export is not in v000002: the next run takes it in again
    run = run_sessionize([files[2]], store)
    assert run.summary.events_kept == 36
    bad = _run("store", "rollback", "v000099", "--store", str(store.root))
    assert bad.exit_code == 1 and "no version" in bad.stderr


def test_options_before_a_store_subcommand_apply_to_it_or_are_refused(
    daily: tuple[Store, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack store --store DIR rollback V` rolled back the store of the current folder
    (exit 0): the group's options were ignored, as were `-f json`, `-o` and `-q` before
    `files`."""
    store, _ = daily
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    run_sessionize(
        _exports(tmp_path / "cwd", days=2, per_day=4, visitors=2, minutes=5),
        Store.open(here / ".jtrack"),
    )
    local_before = (here / ".jtrack" / "CURRENT").read_text()
    res = _run("store", "--store", str(store.root), "rollback", "v000002")
    assert res.exit_code == 0, res.stderr
    assert Store.open(store.root).current_name() == "v000002"
    assert (here / ".jtrack" / "CURRENT").read_text() == local_before
    listed = _run("store", "--store", str(store.root), "-f", "json", "files", "sessions")
    assert listed.exit_code == 0, listed.stderr
    files = [r["file"] for r in json.loads(listed.stdout)]
    assert files and all(f.startswith(str(store.root)) for f in files)
    out = tmp_path / "files.txt"
    assert _run("store", "--store", str(store.root), "-o", str(out), "files").exit_code == 0
    assert out.read_text().strip() and listed.stdout != ""
    quiet = _run("store", "-q", "--store", str(store.root), "rollback", "v000003")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    # an option the subcommand does not take, or one given twice differently: exit 2
    for args in (
        ("store", "-f", "json", "rollback", "v000002"),
        ("store", "--all", "files"),
        ("store", "--store", str(store.root), "compact", "--store", str(here / ".jtrack")),
    ):
        bad = _run(*args)
        assert bad.exit_code == 2, (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1
    assert Store.open(store.root).current_name() == "v000003"


@pytest.mark.parametrize("command", [["compact"], ["rollback", "v000001"]])
def test_compact_and_rollback_say_what_is_at_a_path_that_is_no_store(
    tmp_path: Path, command: list[str]
) -> None:
    """A missing folder was said to hold other files, and a file could not be "created",
    because the lock made the folder before anything was checked."""
    missing, file = tmp_path / "none", tmp_path / "notes.txt"
    file.write_text("x")
    res = _run("store", *command, "--store", str(missing))
    assert res.exit_code == 1 and "holds other files" not in res.stderr
    assert f"run `jtrack sessionize SOURCES... --store {missing}` first" in res.stderr
    assert not missing.exists()
    spaced = tmp_path / "my store ü"  # (the hint's command pasted as it is: quoted)
    res = _run("store", *command, "--store", str(spaced))
    assert res.exit_code == 1
    assert f"run `jtrack sessionize SOURCES... --store '{spaced}'` first" in res.stderr
    res = _run("store", *command, "--store", str(file))
    assert res.exit_code == 1 and "is a file" in res.stderr and "cannot create" not in res.stderr


def test_after_a_rollback_the_next_run_keeps_the_version_rolled_back_to(
    daily: tuple[Store, list[Path]], tmp_path: Path
) -> None:
    """Versions kept are the current one's line (what it was written on), not the newest
    numbers: the ones a rollback abandoned go first, and it stays possible to go back to
    the version rolled back to (the next run used to remove it)."""
    store, files = daily
    assert store.versions() == ["v000001", "v000002", "v000003"]
    assert _run("store", "rollback", "v000001", "--store", str(store.root)).exit_code == 0
    store.refresh()
    assert store.versions() == ["v000001", "v000002", "v000003"]  # nothing removed yet
    run_sessionize([files[1]], store, keep=1)
    store.refresh()
    assert store.current_name() == "v000004"
    assert store.read_manifest().base == 1
    assert store.versions() == ["v000001", "v000004"]  # v000002 and v000003 abandoned
    assert _run("store", "rollback", "v000001", "--store", str(store.root)).exit_code == 0


def test_a_rebuild_needs_no_sources_and_a_run_without_them_says_what_to_pass(
    daily: tuple[Store, list[Path]],
) -> None:
    store, _ = daily
    before = contents(store)
    res = _run("sessionize", "--rebuild", "--store", str(store.root), "-q")
    assert res.exit_code == 0, res.stderr
    store.refresh()
    assert store.read_manifest().runs[-1].mode == "rebuild"
    assert_same_store(store, store)  # (id directories checked)
    after = contents(store)
    assert_frame_equal(after["sessions"], before["sessions"])
    res = _run("sessionize", "--store", str(store.root))
    assert res.exit_code == 2 and "no sources" in res.stderr


def test_versions_an_earlier_jtrack_wrote_without_their_base_keep_the_newest(
    tmp_path: Path,
) -> None:
    """Manifests that do not record their base (an earlier jtrack's): the newest versions
    are kept, as that jtrack kept them."""
    store = Store.open(tmp_path / "store")
    days = _one_event_days(tmp_path, range(4))
    for f in days[:3]:
        run_sessionize([f], store)
    for name in store.versions():
        path = store.version_dir(name) / "manifest.json"
        data = json.loads(path.read_text())
        del data["base"]
        path.write_text(json.dumps(data, sort_keys=True))
    run_sessionize([days[3]], store)
    store.refresh()
    assert store.versions() == ["v000002", "v000003", "v000004"]


def test_after_a_rollback_to_an_earlier_jtracks_version_the_abandoned_ones_go(
    tmp_path: Path,
) -> None:
    """Rolled back to a version an earlier jtrack wrote (it does not say its base), the
    next run kept the versions rolled back from as "the newest others", and let go of the
    one the version rolled back to was written on."""
    store = Store.open(tmp_path / "store")
    days = _one_event_days(tmp_path, range(7))
    for f in days[:5]:
        run_sessionize([f], store, keep=4)
    for name in store.versions():  # (as an earlier jtrack wrote them)
        path = store.version_dir(name) / "manifest.json"
        data = json.loads(path.read_text())
        del data["base"]
        path.write_text(json.dumps(data, sort_keys=True))
    assert store.versions() == ["v000001", "v000002", "v000003", "v000004", "v000005"]
    assert _run("store", "rollback", "v000003", "--store", str(store.root)).exit_code == 0
    run_sessionize([days[5]], store, keep=2)
    store.refresh()
    assert store.current_name() == "v000006"
    assert store.versions() == ["v000002", "v000003", "v000006"]  # not v000004, v000005


def test_after_a_rollback_to_a_version_whose_base_is_gone_the_abandoned_ones_go(
    tmp_path: Path,
) -> None:
    """The version rolled back to has lost its own base (retention removed it): its line
    ends there, and the versions rolled back from are not kept to make up the number."""
    store = Store.open(tmp_path / "store")
    for f in _one_event_days(tmp_path, range(5)):
        run_sessionize([f], store)
    assert store.versions() == ["v000003", "v000004", "v000005"]  # (keep 2 earlier ones)
    assert _run("store", "rollback", "v000003", "--store", str(store.root)).exit_code == 0
    run_sessionize(_one_event_days(tmp_path, range(5, 6)), store)
    store.refresh()
    assert store.current_name() == "v000006"
    assert store.versions() == ["v000003", "v000006"]  # v000004 and v000005 abandoned


def test_compaction_changes_the_files_not_the_content(
    daily: tuple[Store, list[Path]], tmp_path: Path
) -> None:
    store, files = daily
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize(files, fresh)
    assert len(store.read_manifest().parts_of("sessions")) > 1
    before = {t: len(store.read_manifest().parts_of(t)) for t in ("index", "sessions")}
    res = _run("store", "compact", "--store", str(store.root))
    assert res.exit_code == 0, res.stderr
    assert res.stderr == (  # said in words, not as a Python dict
        f"v000004: index parts {before['index']} -> 1, sessions parts {before['sessions']} -> 1\n"
    )
    store.refresh()
    assert len(store.read_manifest().parts_of("sessions")) == 1
    assert_same_store(store, fresh)
    # the compacted parts are sorted as a fresh build sorts them
    with store.snapshot() as a, fresh.snapshot() as b:
        assert_frame_equal(a.scan_index().collect(), b.scan_index().collect())


def _one_event_days(tmp_path: Path, days: range) -> list[Path]:
    out = []
    for day in days:
        f = tmp_path / f"day{day}.parquet"
        flat_frame([flat_event(f"e{day}", f"v{day}", T0 + timedelta(days=day))]).write_parquet(f)
        out.append(f)
    return out


def test_a_run_compacts_on_its_own_when_parts_pile_up(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    files = _one_event_days(tmp_path, range(MERGE_FACTOR + RECENT_RUNS))
    for f in files[:-1]:
        run = run_sessionize([f], store)
        assert not any("compacted" in n for n in run.notes)
    run = run_sessionize([files[-1]], store)
    # the first MERGE_FACTOR runs' one-row parts (one size level) merged into one part; the
    # last RECENT_RUNS runs' parts left as they are
    assert any("compacted" in n for n in run.notes)
    m = store.read_manifest()
    assert len(m.parts_of("index")) == RECENT_RUNS + 1
    assert sorted(p.rows for p in m.parts_of("index")) == [1] * RECENT_RUNS + [MERGE_FACTOR]
    assert store.scan_sessions().collect().height == len(files)
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize(files, fresh)
    assert_same_store(store, fresh)
    # the night's compaction (the same events in fewer files) does not take the place of a
    # night among the versions kept (--keep 2): two nights can still be undone
    n = len(files)
    assert [r.mode for r in m.runs[-2:]] == ["incremental", "compact"]
    assert store.versions()[-4:] == [f"v{v:06d}" for v in (n - 2, n - 1, n, n + 1)]
    assert m.compacted and not store.read_manifest(f"v{n:06d}").compacted
    res = _run("store", "rollback", f"v{n - 2:06d}", "--store", str(store.root))
    assert res.exit_code == 0, res.stderr
    assert Store.open(store.root).scan_sessions().collect().height == n - 2


def test_compaction_leaves_a_big_old_part_alone(tmp_path: Path) -> None:
    """A run every second (jtrack watch) adds small parts: they are merged among themselves,
    never into the big part of the history (which would cost every run the whole store)."""
    store = Store.open(tmp_path / "store")
    history = tmp_path / "history.parquet"
    rows = [
        flat_event(f"h{i}", f"h{i % 50}", T0 - timedelta(days=30, minutes=i)) for i in range(300)
    ]
    flat_frame(rows).write_parquet(history)
    run_sessionize([history], store)
    big = {p.file for p in store.read_manifest().parts_of("index")}
    assert level(300) > level(MERGE_FACTOR)
    files = _one_event_days(tmp_path, range(3 * MERGE_FACTOR + RECENT_RUNS))
    opened: list[str] = []
    scan = Snapshot.scan_parts  # what compaction reads (a run reads its visitors' rows)

    def recorded(
        self: Snapshot, table: str, lo: int = 0, hi: int = 65535, files: Any = None
    ) -> Any:
        every = [p.file for p in self.manifest.parts_of(table)]
        opened.extend(every if files is None else files)
        return scan(self, table, lo, hi, files)

    with mock.patch.object(Snapshot, "scan_parts", recorded):
        runs = [run_sessionize([f], store) for f in files]
    assert sum(any("compacted" in n for n in r.notes) for r in runs) >= 3
    m = store.read_manifest()
    assert big <= {p.file for p in m.parts_of("index")}  # never rewritten
    # nor opened: a merge reads the parts it merges, not every part of their bucket range
    # (which cost a watch of 3.6M events 2.6 GB a merge)
    assert opened and not big & set(opened)
    # the small parts merged by level: what is left is bounded, not one part per run
    assert len(m.parts_of("index")) < len(files) // 2
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize([history, *files], fresh)
    assert_same_store(store, fresh)


def _manifest_of(groups: list[tuple[int, int]], newest_us: int) -> Manifest:
    """A manifest whose session table has one part per group (rows, last session end), the
    newest event at `newest_us`, and RECENT_RUNS later runs (whose parts merges leave)."""
    parts = [
        PartInfo("sessions", f"p{run:06d}.parquet", rows, 0, 1023, run, 0, last)
        for run, (rows, last) in enumerate(groups, start=1)
    ]
    parts.append(PartInfo("index", "i.parquet", 1, 0, 1023, len(groups), 0, newest_us))
    runs = [RunInfo(r, "", "", "t", "incremental") for r in range(1, len(groups) + RECENT_RUNS + 1)]
    return Manifest(version=1, created="", jtrack_version="t", parts=parts, runs=runs)


def test_big_merges_leave_sessions_that_may_still_grow_alone() -> None:
    """`jtrack watch` runs every second: a session still open (it ends less than the gap
    before the newest event) is written again by the run that extends it, with the part it
    is in. Small parts may be merged; a big merge leaves the groups holding such sessions
    out, or each following run would write a part of 300,000 sessions again (a watch of
    new visitors stalled for 6 s after such a merge, 21 s at the end of its hour)."""
    now = 10**15
    gap = int(20 * 60 * 1e6)
    open_, closed = now - gap // 2, now - 2 * gap
    big = MERGE_FACTOR**LIVE_LEVEL  # rows of a group at LIVE_LEVEL
    # MERGE_FACTOR closed groups of LIVE_LEVEL, and a small open one beside them
    m = _manifest_of([(big, closed)] * MERGE_FACTOR + [(10, open_)], now)
    picked = {p.run for p in to_merge(m, "sessions")}
    assert picked == set(range(1, MERGE_FACTOR + 1))  # the open group is not swept in
    # the same group once it has ended (the gap passed): merged with the others
    m = _manifest_of([(big, closed)] * MERGE_FACTOR + [(10, closed)], now)
    assert len(to_merge(m, "sessions")) == MERGE_FACTOR + 1
    # open groups of LIVE_LEVEL are not merged, however many
    m = _manifest_of([(big, open_)] * MERGE_FACTOR, now)
    assert to_merge(m, "sessions") == []
    # small open groups are merged among themselves (a run reads fewer parts)
    m = _manifest_of([(10, open_)] * MERGE_FACTOR, now)
    assert len(to_merge(m, "sessions")) == MERGE_FACTOR
    # the index is never written again when a session grows: its groups merge by size
    m = _manifest_of([(big, open_)] * MERGE_FACTOR, now)
    m.parts = [
        PartInfo("index", p.file, p.rows, 0, 1023, p.run, 0, now) for p in m.parts_of("sessions")
    ]
    assert len(to_merge(m, "index")) == MERGE_FACTOR


def test_a_process_that_follows_files_makes_no_big_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge of 3.6M index rows stopped `jtrack watch` for 15 s (and each level up takes
    8 times longer): a run that follows files merges up to FOLLOW_MERGE_ROWS rows; bigger
    merges wait for a run that does not follow."""
    from jtrack.engine import compact

    big = MERGE_FACTOR**6 // 2  # rows of a group one level below 8 such groups' merge
    m = _manifest_of([(big, 0)] * MERGE_FACTOR, 10**15)
    assert len(to_merge(m, "sessions")) == MERGE_FACTOR
    assert to_merge(m, "sessions", max_rows=big * MERGE_FACTOR - 1) == []
    # a full lower level is still merged beside a full level too big to merge
    m = _manifest_of([(big, 0)] * MERGE_FACTOR + [(10, 0)] * MERGE_FACTOR, 10**15)
    assert len(to_merge(m, "sessions", max_rows=10 * MERGE_FACTOR)) == MERGE_FACTOR

    monkeypatch.setattr(compact, "FOLLOW_MERGE_ROWS", MERGE_FACTOR - 1)
    files = _one_event_days(tmp_path, range(MERGE_FACTOR + RECENT_RUNS))
    store = Store.open(tmp_path / "store")
    follow = RunOptions(follow=True)
    runs = [run_sessionize([f], store, options=follow) for f in files]
    assert not any("compacted" in n for r in runs for n in r.notes)
    assert len(store.read_manifest().parts_of("index")) == len(files)
    # the next run that does not follow makes it
    run = run_sessionize(_one_event_days(tmp_path, range(40, 41)), store)
    assert any("compacted" in n for n in run.notes)
    assert len(store.read_manifest().parts_of("index")) == RECENT_RUNS + 1


def test_a_manifest_is_parsed_once_per_process_and_each_reader_has_its_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack watch` writes a version a second and reads it back (its next run, its view):
    the manifest it wrote is not parsed again (0.055 s each at 4,800 segments), and a
    caller that changes its copy changes nobody else's."""
    from jtrack.store import manifest as manifest_mod

    store = Store.open(tmp_path / "store")
    files = _one_event_days(tmp_path, range(2))
    run_sessionize([files[0]], store)
    parsed: list[str] = []
    real = manifest_mod.Manifest.from_json.__func__  # type: ignore[attr-defined]

    def counted(cls: Any, text: str, where: str) -> Any:
        parsed.append(where)
        return real(cls, text, where)

    monkeypatch.setattr(manifest_mod.Manifest, "from_json", classmethod(counted))
    run_sessionize([files[1]], store)
    first = store.read_manifest()
    assert parsed == []  # the run's own version, and the base it read: none parsed
    first.segments.append(first.segments[0])
    first.inputs[0].segments.append(99)
    first.counts["events_kept"] = -1
    again = store.read_manifest()
    assert len(again.segments) == 2 and 99 not in again.inputs[0].segments
    assert again.counts["events_kept"] == 2
    # a manifest not remembered (a fresh process) is parsed once, for every Store object
    from jtrack.store import store as store_mod

    store_mod._MANIFESTS.clear()
    assert Store.open(tmp_path / "store").read_manifest(store.versions()[0]).version == 1
    assert store.read_manifest(store.versions()[0]).version == 1
    assert len(parsed) == 1
    # a file that is not the one remembered (written again: never by jtrack) is read again
    path = store.version_dir(store.current_name() or "") / "manifest.json"
    text = path.read_text(encoding="utf-8").replace('"jtrack_version": "', '"jtrack_version": "x')
    path.write_text(text + " ", encoding="utf-8")
    assert store.read_manifest().jtrack_version.startswith("x")


def test_a_watch_removes_old_versions_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack watch` writes a version a second, each with thousands of files after an hour:
    an old version leaves versions/ at once, and its files go in a thread, so that the next
    run does not wait for them; one a crash left behind goes with the next run."""
    import threading

    from jtrack.store import store as store_mod

    release = threading.Event()
    removing: list[Path] = []

    def slow_remove(path: Path) -> None:
        removing.append(path)
        release.wait(30)
        store_mod.shutil.rmtree(path, ignore_errors=True)
        store_mod._REMOVING.discard(path)

    monkeypatch.setattr(store_mod, "_remove", slow_remove)
    store = Store.open(tmp_path / "store")
    store.background_removal = True
    files = _one_event_days(tmp_path, range(store_mod.DEFAULT_KEEP + 3))
    for f in files:
        run_sessionize([f], store)  # (returns while the removals wait)
    assert len(store.versions()) == store_mod.DEFAULT_KEEP + 1
    assert len(removing) == 2 and all(p.is_dir() for p in removing)
    assert all(p.name.startswith(".tmp-gone-") for p in removing)
    release.set()
    for p in removing:
        for _ in range(100):
            if not p.exists():
                break
            threading.Event().wait(0.05)
        assert not p.exists()
    # a process that died while removing one: the next run removes what is left
    left = tmp_path / "store" / ".tmp-gone-v000001-dead"
    (left / "segments").mkdir(parents=True)
    store.background_removal = False
    more = _one_event_days(tmp_path, range(20, 21))
    run_sessionize(more, store)
    assert not left.exists()
    assert store.scan_sessions().collect().height == len(files) + 1


def test_store_files_lists_the_current_files_for_other_tools(
    daily: tuple[Store, list[Path]],
) -> None:
    store, _ = daily
    res = _run("store", "files", "sessions", "--store", str(store.root))
    assert res.exit_code == 0, res.stderr
    files = res.stdout.splitlines()
    # the current version's own folder: a run that switches versions meanwhile changes
    # nothing under it (through current/ a reader would get a mix, or missing names)
    version = store.current_name()
    assert files and all(f"/versions/{version}/sessions/" in f for f in files)
    assert pl.read_parquet(files).height == store.scan_sessions().collect().height
    more = store.root.parent / "more.parquet"
    flat_frame([flat_event(f"m{i}", f"new{i}", T0) for i in range(5)]).write_parquet(more)
    run_sessionize([more], store)
    assert store.current_name() != version
    assert pl.read_parquet(files).height == store.scan_sessions().collect().height - 5
    segs = _run("store", "files", "segments", "--store", str(store.root), "-f", "json")
    assert len(json.loads(segs.stdout)) == 4  # (three days and the one added)


def test_a_rewritten_part_stays_in_the_group_of_the_part_it_replaces(tmp_path: Path) -> None:
    """Compaction merges the parts of each run by size: a part rewritten without rows that
    changed keeps the run it came from, or a big old part would join every small run."""
    store = Store.open(tmp_path / "store")
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    flat_frame(
        [flat_event(f"a{i}", f"v{i}", T0 + timedelta(minutes=i)) for i in range(5)]
    ).write_parquet(first)
    # v0's session goes on: its stored session row changes
    flat_frame([flat_event("b0", "v0", T0 + timedelta(minutes=3))]).write_parquet(second)
    run_sessionize([first], store)
    run = run_sessionize([second], store)
    assert run.summary.run is not None and run.summary.run["parts_rewritten"] >= 1
    m = store.read_manifest()
    assert {p.run for p in m.parts_of("sessions") if p.rows == 4} == {1}
    assert {p.run for p in m.parts_of("sessions") if p.rows == 1} == {2}


def test_event_keys_are_those_of_the_store_and_version_asked(tmp_path: Path) -> None:
    """Snapshot.event_keys keeps each part's hashes and times in the process (jtrack watch runs
    every second); another store's part of the same name, or a part written again under
    the same name (after a rollback the next run has the same number), is another file."""
    import polars_hash  # noqa: F401

    def hashes(store: Store) -> None:
        store.refresh()
        with store.snapshot() as snap:
            kept = sorted(snap.event_keys().rows())
            assert kept == sorted(snap.event_keys().rows())
            fresh = snap.scan_index().select(
                pl.col("event_id").nchash.xxh3_64().alias("_h"), "created_date"
            )
        assert kept == sorted(fresh.collect().rows())

    files = _one_event_days(tmp_path, range(3))
    a, b = Store.open(tmp_path / "a"), Store.open(tmp_path / "b")
    run_sessionize(files[:2], a)
    run_sessionize(files[1:], b)  # the same part names as a's
    hashes(a)
    hashes(b)
    hashes(a)
    run_sessionize([files[2]], a)  # run 2 writes p000002-u0000
    hashes(a)
    res = _run("store", "rollback", "v000001", "--store", str(a.root))
    assert res.exit_code == 0, res.stderr
    other = tmp_path / "other.parquet"
    flat_frame(
        [flat_event(f"o{i}", "w", T0 + timedelta(days=9, minutes=i)) for i in range(4)]
    ).write_parquet(other)
    run_sessionize([other], a)  # run 2 again: the same part name, other rows
    hashes(a)


def test_a_store_path_with_glob_characters_is_a_path(tmp_path: Path) -> None:
    """`[`, `*` and `?` in a store's path are not patterns: every file of the store is
    opened by its name (Polars globbed them, so reading the store failed)."""
    files = _exports(tmp_path, days=2, per_day=9, visitors=3, minutes=7)
    odd, plain = tmp_path / "stores [1] *?" / "s", tmp_path / "plain"
    for f in files:
        for root in (odd, plain):
            res = _run("sessionize", str(f), "--store", str(root), "-q")
            assert res.exit_code == 0, res.output
    assert_same_store(Store.open(plain), Store.open(odd))

    def both(*args: str) -> tuple[str, str]:
        a, b = _run(*args, "--store", str(plain)), _run(*args, "--store", str(odd))
        assert a.exit_code == 0 and b.exit_code == 0, b.output
        return a.stdout, b.stdout

    a, b = both("sessions", "-f", "csv", "--traffic", "all")
    assert b == a and len(a.splitlines()) > 3
    a, b = both("usage", "--month", T0.strftime("%Y-%m"), "-f", "json")
    assert json.loads(b)["totals"] == json.loads(a)["totals"]
    a, b = both("store", "-f", "json")
    assert json.loads(b)["counts"] == json.loads(a)["counts"]
    first = _run("sessions", "-f", "csv", "--traffic", "all", "--store", str(odd))
    sid = first.stdout.splitlines()[1].split(",")[0]
    card = _run("card", sid, "--store", str(odd), "-f", "json")
    assert card.exit_code == 0 and json.loads(card.stdout)["session"]["id"] == sid


# ---------------------------------------------------------------------------- segments


def _pieces() -> list[str]:
    """Pieces of a JSON lines export written in turn, as a live feed writes them: blank
    lines between rows (they move each row's line), a far-future row held aside then taken
    back then held again with rows near it, a bad line, redeliveries (one the same, one
    with other contents)."""

    def rows(*events: dict[str, Any], blanks: int = 0) -> str:
        lines = flat_frame(list(events)).write_ndjson().splitlines()
        return ("\n" * (blanks + 1)).join(lines) + "\n" + "\n" * blanks

    at = T0 + timedelta(days=900)
    near = [flat_event(f"d{i}", f"v{i % 5}", T0 + timedelta(minutes=3 * i)) for i in range(400)]
    changed = flat_event("a1", "v2", T0 + timedelta(minutes=1))
    changed["page_url"] = "https://example.com/other"
    return [
        rows(flat_event("late", "v1", at), flat_event("a0", "v2", T0), blanks=1),
        rows(flat_event("a1", "v2", T0 + timedelta(minutes=1))) + "{broken\n",
        rows(*(flat_event(f"c{i}", "v3", at - timedelta(days=1, minutes=i)) for i in range(3))),
        rows(flat_event("a0", "v2", T0), changed, blanks=2),
        rows(*near[:200]),
        rows(*near[200:], blanks=1),
    ]


def test_compaction_merges_the_small_segments_of_a_growing_file_into_a_rebuilds_one(
    tmp_path: Path,
) -> None:
    """A file that grows (`jtrack watch`) adds a segment a run, each linked into every
    version and listed in its manifest. `jtrack store compact` merges them: the store is
    then the one a single run over the whole file builds, to the positions (index, held
    rows, duplicates' copies) and the segment's line map (rejects of held rows name their
    lines); and later runs build on it as on any store."""
    f = tmp_path / "live.jsonl"
    f.write_text("")
    store = Store.open(tmp_path / "store")
    pieces = _pieces()
    for piece in pieces:
        with open(f, "a") as fh:
            fh.write(piece)
        run_sessionize([f], store, on_error="skip")
    m = store.read_manifest()
    assert len(m.segments) == len(pieces) and m.held and m.duplicates
    res = _run("store", "compact", "--store", str(store.root))
    assert res.exit_code == 0, res.stderr
    assert f"segments {len(pieces)} -> 1" in res.stderr
    once = Store.open(tmp_path / "once")
    run_sessionize([f], once, on_error="skip")
    assert_same_store(store, once)
    store.refresh()
    with store.snapshot() as a, once.snapshot() as b:
        assert sorted(a.dir.joinpath("segments").iterdir()) == [a.segment_file(1)]
        assert_frame_equal(a.duplicates(), b.duplicates())  # type: ignore[arg-type]
        assert_frame_equal(a.events(), b.events())
        assert sorted(a.held()["event_id"]) == ["c0", "c1", "c2", "late"]  # type: ignore[index]
    far = contents(store)["rejects"].filter(pl.col("reason") == "far_future")
    assert far.height == 4 and far["line"].null_count() == 0
    # the next runs take the merged segment's rows as a rebuild does: the held rows come
    # back when rows near them arrive, a row of the merged segment is redelivered
    more = [flat_event(f"z{i}", "v6", T0 + timedelta(days=899, hours=i)) for i in range(400)]
    with open(f, "a") as fh:
        fh.write(flat_frame([*more, flat_event("d7", "v2", T0)]).write_ndjson())
    run_sessionize([f], store, on_error="skip")
    again = Store.open(tmp_path / "again")
    run_sessionize([f], again, on_error="skip")
    with store.snapshot() as a, again.snapshot() as b:
        assert a.held() is None and b.held() is None
        assert a.manifest.counts == b.manifest.counts
        assert a.manifest.counts["duplicates"] == 3  # a0, a1 (other contents), d7
        assert_frame_equal(a.events().sort("event_id"), b.events().sort("event_id"))
    assert_frame_equal(contents(store)["sessions"], contents(again)["sessions"], check_exact=True)
    assert_frame_equal(contents(store)["rejects"], contents(again)["rejects"])


def test_runs_that_follow_a_file_merge_its_small_segments_on_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under `jtrack watch` segments are merged by the runs' own compaction, with the
    index parts that point into them: the last runs' segments (their parts are left alone)
    and segments already big stay as they are."""
    from jtrack.engine import compact

    monkeypatch.setattr(compact, "SMALL_SEGMENT", 6)
    f = tmp_path / "live.jsonl"
    f.write_text("")
    store = Store.open(tmp_path / "store")
    runs = 3 * MERGE_FACTOR + RECENT_RUNS
    for i in range(runs):
        rows = [
            flat_event(f"e{i}-{j}", f"v{(i + j) % 7}", T0 + timedelta(minutes=i)) for j in range(2)
        ]
        with open(f, "a") as fh:
            fh.write(flat_frame(rows).write_ndjson())
        run_sessionize([f], store, options=RunOptions(follow=True))
    m = store.read_manifest()
    sizes = [s.rows for s in m.segments]
    assert len(sizes) < runs // 2
    assert sizes[-RECENT_RUNS:] == [2] * RECENT_RUNS  # the last runs' own
    assert max(sizes) >= 6
    assert [s.id for s in m.segments] == sorted(s.id for s in m.segments)
    once = Store.open(tmp_path / "once")
    run_sessionize([f], once)
    assert_same_result(store, once)
    with store.snapshot() as a, once.snapshot() as b:
        assert_frame_equal(a.events().sort("event_id"), b.events().sort("event_id"))
        ids = {s.id for s in a.manifest.segments}
        assert set(a.scan_index().select("segment").unique().collect()["segment"]) <= ids


def test_many_one_row_segments_are_merged_before_they_hold_many_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet site followed by `jtrack watch` adds a segment of one row a run: a run of
    SMALL_SEGMENT_RUN small segments is merged whatever its rows (it used to wait for
    16,384 rows: thousands of files of one row)."""
    from jtrack.engine import compact

    monkeypatch.setattr(compact, "SMALL_SEGMENT_RUN", 4)
    f = tmp_path / "live.jsonl"
    f.write_text("")
    store = Store.open(tmp_path / "store")
    runs = 3 * MERGE_FACTOR + RECENT_RUNS
    for i in range(runs):
        with open(f, "a") as fh:
            fh.write(
                flat_frame([flat_event(f"e{i}", "v1", T0 + timedelta(minutes=i))]).write_ndjson()
            )
        run_sessionize([f], store, options=RunOptions(follow=True))
    m = store.read_manifest()
    assert len(m.segments) < runs // 2
    assert max(s.rows for s in m.segments) >= 4
    once = Store.open(tmp_path / "once")
    run_sessionize([f], once)
    assert_same_result(store, once)


def test_compact_keeps_the_versions_asked_for_even_with_nothing_to_compact(
    daily: tuple[Store, list[Path]], tmp_path: Path
) -> None:
    """`store compact --keep N` leaves the current version and N runs' versions before it
    (the version compacted from, the same events, is not counted), also when there is
    nothing to compact; the run record says how many parts were written and merged away."""
    store, files = daily
    base = store.read_manifest()
    res = _run("store", "compact", "--store", str(store.root), "--keep", "1")
    assert res.exit_code == 0, res.stderr
    kept = sorted(p.name for p in (store.root / "versions").iterdir())
    assert kept == ["v000002", "v000003", "v000004"]
    store.refresh()
    last = store.read_manifest().runs[-1]
    assert (last.mode, last.parts_written, last.parts_rewritten) == ("compact", 2, len(base.parts))
    # (its rows add up, as every run's: none read, no null a script summing runs trips on)
    assert (last.rows_read, last.events_kept, last.duplicates, last.rejected) == (0, 0, 0, 0)
    assert last.sessions_changed == 0 and last.sessions_unchanged == base.counts["sessions"]
    res = _run("store", "compact", "--store", str(store.root), "--keep", "0")
    assert res.exit_code == 0 and res.stderr == (
        "nothing to compact (--keep 0 used this once: removed v000002, v000003; no version "
        "written, so the store goes on keeping 1 earlier version: a run's --keep changes that)\n"
    )  # (the --keep 1 the compaction was given, which v000004 remembers; it said the store
    # went on keeping 1 while it removed the two)
    assert [p.name for p in (store.root / "versions").iterdir()] == ["v000004"]
    assert store.read_manifest().keep == 1
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize(files, fresh)
    assert_same_store(store, fresh)


def test_which_small_segments_are_merged() -> None:
    """Small segments in a row of one input, that no part left as it is points into, are
    merged once they are big enough together, or at once when no later segment can join
    them (the next is big or another input's: they would stay small for ever)."""
    from jtrack.engine.compact import SMALL_SEGMENT, segments_to_merge
    from jtrack.store.manifest import SegmentInfo

    def seg(i: int, source: str = "a.jsonl", rows: int = 100, kept: bool = False) -> SegmentInfo:
        return SegmentInfo(i, f"s{i:06d}.parquet", rows, source, kept, i, [[0, 0]])

    segments = [
        *(seg(i) for i in (1, 2, 3, 4, 5)),
        seg(6, "b.jsonl"),
        seg(7, "c.parquet", kept=True),
        seg(8),
        seg(9),
        seg(10, rows=SMALL_SEGMENT),
        seg(11),
        seg(12),
    ]
    parts = [
        PartInfo("index", "left.parquet", 1, 0, 1023, 1, segments=[[3, 3]]),
        PartInfo("index", "merged.parquet", 1, 0, 1023, 2, segments=[[1, 12]]),
    ]
    m = Manifest(version=1, created="", jtrack_version="t", segments=segments, parts=parts)

    def ids(groups: list[list[SegmentInfo]]) -> list[list[int]]:
        return [[s.id for s in g] for g in groups]

    # 1-2 wait for 3 (pinned by a part left as it is); 4-5 end at another input's; 8-9 at
    # a big one; 11-12 are the newest (more may come)
    assert ids(segments_to_merge(m, {"merged.parquet"})) == [[4, 5], [8, 9]]
    assert ids(segments_to_merge(m, {"merged.parquet"}, force=True)) == [
        [1, 2],
        [4, 5],
        [8, 9],
        [11, 12],
    ]
    assert ids(segments_to_merge(m, {"left.parquet", "merged.parquet"})) == [
        [1, 2, 3, 4, 5],
        [8, 9],
    ]
    assert segments_to_merge(m, {"left.parquet"}) == []  # every one pinned
    old = PartInfo("index", "old.parquet", 1, 0, 1023, 0)  # (an earlier jtrack's: no ranges)
    m.parts.append(old)
    assert segments_to_merge(m, {"left.parquet", "merged.parquet"}) == []
    big = [seg(i, rows=SMALL_SEGMENT // 2 + 1) for i in (1, 2)]
    m = Manifest(version=1, created="", jtrack_version="t", segments=big, parts=[])
    assert ids(segments_to_merge(m, set())) == [[1, 2]]  # big enough together


def test_each_run_that_works_out_every_session_again_says_why(tmp_path: Path) -> None:
    """A nightly run with `--gap 30m` by mistake rebuilt every session and made 30m the
    store's gap; `jtrack store` showed "rebuild" and no reason (and -q had silenced the
    note). Each such run keeps why, in short: the options changed, a contacts file taken
    in, changed or forgotten, --rebuild, --replace."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    files = _exports(tmp_path, days=3, per_day=4, visitors=2, minutes=5)
    book = tmp_path / "contacts.csv"
    lines = (sample / "contacts.csv").read_text().splitlines(keepends=True)
    book.write_text("".join(lines))
    st = str(tmp_path / "store")
    runs = [
        [str(files[0])],
        [str(files[1])],
        [str(files[1]), "--gap", "30m"],
        [str(files[2]), "--contacts", str(book)],
        [str(files[2]), "--contacts", str(book), "--rebuild"],
        [str(files[2]), "--no-contacts"],
        # (a rebuild with other options kept only "--rebuild": the change left no trace)
        [str(files[2]), "--rebuild", "--gap", "25m"],
    ]
    for args in runs:
        if args[-1] == "--no-contacts":
            book.write_text("".join(lines[:-2]))  # (changed, then forgotten)
        res = CliRunner().invoke(app, ["sessionize", *args, "--store", st, "-q"])
        assert res.exit_code == 0, res.stderr
    info = json.loads(CliRunner().invoke(app, ["store", "--store", st, "-f", "json"]).stdout)
    assert [(r["mode"], r["reason"]) for r in info["runs"]] == [
        ("new", None),
        ("incremental", None),
        ("rebuild", "gap 20m -> 30m"),
        ("incremental", f"contacts file taken in ({len(lines) - 1} contacts)"),
        ("rebuild", "--rebuild"),
        ("incremental", "--no-contacts"),
        ("rebuild", "--rebuild, gap 30m -> 25m"),
    ]
    table = CliRunner().invoke(app, ["store", "--store", st], env={"COLUMNS": "80"}).stdout
    assert "gap 20m ->" in table and "--no-contacts" in table
    args = ["sessionize", str(files[2]), "--replace", "--force", "--store", st, "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0  # (the history starts again)
    info = json.loads(CliRunner().invoke(app, ["store", "--store", st, "-f", "json"]).stdout)
    assert [(r["mode"], r["reason"]) for r in info["runs"]] == [("replace", "--replace")]


def test_a_compaction_names_only_what_it_merged() -> None:
    """ "compacted the store: index parts 9 -> 9" named a table whose parts it left alone."""
    from jtrack.engine.compact import Compaction

    both = Compaction("v2", {"index": 9, "sessions": 9}, {"index": 1, "sessions": 1})
    assert both.describe() == "index parts 9 -> 1, sessions parts 9 -> 1"
    one = Compaction("v2", {"index": 9, "sessions": 9}, {"index": 9, "sessions": 1})
    assert one.describe() == "sessions parts 9 -> 1"
    segs = Compaction("v2", {"index": 9}, {"index": 9}, segments_before=70, segments_after=2)
    assert segs.describe() == "segments 70 -> 2"
    dups = Compaction("v2", {"index": 1}, {"index": 1}, deltas_before=4)
    assert dups.describe() == "duplicates table 5 files -> 1"


@pytest.mark.parametrize("width", [20, 40, 60])
def test_the_stores_lines_keep_a_path_of_double_width_characters_whole(width: int) -> None:
    """At 40 columns `store` printed the contacts path `d/顧客の連絡先ファイル一覧表とても長
    い名前のフォルダ/連絡先.csv` without `い名前のフォルダ/` (no `…`): a path too wide
    was broken by characters, not cells, and the too-wide row was cut. Each row fits in
    cells, and the rows hold the whole path."""
    from rich.cells import cell_len

    from jtrack.commands.store import _Hanging
    from jtrack.render.table import render_to_text

    path = "/tmp/d/顧客の連絡先ファイル一覧表とても長い名前のフォルダ/連絡先.csv"
    out = render_to_text(_Hanging([f"  contacts: {path}", "    39 contacts"]), width)
    rows = out.splitlines()
    assert all(cell_len(row) <= width for row in rows), out
    assert "".join(rows).replace(" ", "") == f"contacts:{path}39contacts"


def test_store_says_the_shape_each_input_was_read_as(tmp_path: Path) -> None:
    """An admin whose exports changed shape during the year (a Genesys NDJSON month, a flat
    Parquet month) could not see afterwards which file was read as what: the manifest keeps
    it, `jtrack store` (table and -f json) left it out."""
    flat = _exports(tmp_path, 1, 4, 2, 5)[0]
    genesys = tmp_path / "g.jsonl"
    genesys.write_text(
        json.dumps(
            {
                "id": "g1",
                "customerId": "v9",
                "createdDate": "2026-10-05T10:00:00Z",
                "eventType": "WebEvent",
                "webEvent": {"eventName": "page_viewed"},
            }
        )
        + "\n"
    )
    root = str(tmp_path / "s")
    assert _run("sessionize", str(flat), str(genesys), "--store", root, "-q").exit_code == 0
    info = json.loads(_run("store", "--store", root, "-f", "json").stdout)
    assert [(Path(i["name"]).name, i["shape"]) for i in info["inputs"]] == [
        ("day0.parquet", "flat-parquet"),
        ("g.jsonl", "genesys-jsonl"),
    ]
    wide = CliRunner().invoke(app, ["store", "--store", root], env={"COLUMNS": "160"})
    assert "shape" in wide.stdout and "genesys-jsonl" in wide.stdout


def test_a_duplicates_table_in_deltas_reads_rolls_back_and_compacts_as_one_file(
    tmp_path: Path,
) -> None:
    """A store whose duplicates table is a file and deltas answers as the one that wrote it
    whole: its listing and verification, a rollback, `jtrack store compact` (which merges
    the deltas into one file and writes layout 2 again, for an earlier jtrack), the next
    runs and a rebuild."""
    files = overlapping_exports(tmp_path / "in")
    deltas, whole = nightly_stores(tmp_path, files)
    shown = []
    for store in (deltas, whole):
        res = _run("store", "-f", "json", "--store", str(store.root))
        assert res.exit_code == 0, res.stderr
        info = json.loads(res.stdout)
        shown.append((info.pop("layout_version"), info["counts"]))
        verified = _run("store", "verify", "--full", "--store", str(store.root))
        assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert shown[0] == (4, shown[1][1]) and shown[1][0] == 2
    assert_same_store(deltas, whole)
    listed = _run("store", "files", "--store", str(deltas.root))
    assert listed.exit_code == 0, listed.stderr
    # a rollback goes back to the version before, its deltas as they were
    for store in (deltas, whole):
        before = f"v{store.read_manifest().version - 1:06d}"
        assert _run("store", "rollback", before, "--store", str(store.root)).exit_code == 0
        store.refresh()
    assert len(deltas.read_manifest().duplicate_deltas) == len(files) - 3
    assert_same_store(deltas, whole)
    for store, share in ((deltas, 1e9), (whole, 0.0)):
        with mock.patch.object(run_module, "DELTA_SHARE", share):
            run_sessionize(files[-1:], store)
    assert len(deltas.read_manifest().duplicate_deltas) == len(files) - 2
    assert_same_store(deltas, whole)
    said = []
    for store in (deltas, whole):  # (the same parts and segments merged in both)
        res = _run("store", "compact", "--store", str(store.root))
        assert res.exit_code == 0, res.stderr
        said.append(res.stderr)
        store.refresh()
    assert "duplicates table 5 files -> 1" in said[0] and "duplicates" not in said[1]
    m = deltas.read_manifest()
    assert m.duplicates and not m.duplicate_deltas
    version = deltas.version_dir(f"v{m.version:06d}")
    assert json.loads((version / "manifest.json").read_text())["layout_version"] == 2
    assert not list((version / "duplicates").iterdir())
    assert_same_store(deltas, whole)
    with deltas.snapshot() as a, whole.snapshot() as b:  # (the same order too)
        assert_frame_equal(a.duplicates(), b.duplicates())  # type: ignore[arg-type]
    for store in (deltas, whole):
        run_sessionize(files, store, rebuild=True)
    assert_same_store(deltas, whole)


def test_an_earlier_jtrack_refuses_a_store_whose_duplicates_table_has_deltas(
    tmp_path: Path,
) -> None:
    """An earlier jtrack would read the duplicates table's file without its deltas (the
    copies later runs judged again left out, and its next version written without them):
    the manifest says layout 4, which it refuses ("or newer")."""
    deltas, _ = nightly_stores(tmp_path, overlapping_exports(tmp_path / "in", days=3))
    path = deltas.version_dir(str(deltas.current_name())) / "manifest.json"
    data = json.loads(path.read_text())
    assert data["layout_version"] == 4 and data["duplicate_deltas"]
    del data["duplicate_deltas"]  # (as an earlier jtrack sees it: a layout it does not know)
    path.unlink()
    path.write_text(json.dumps(data))
    res = _run("sessions", "--store", str(deltas.root))
    assert res.exit_code == 1 and "a store of layout 4" in res.stderr
    assert "or newer" in res.stderr


@settings(max_examples=60, deadline=None)
@given(
    starts=st.lists(st.integers(0, 5), min_size=0, max_size=30),
    limit=st.one_of(st.none(), st.integers(0, 12)),
)
def test_the_first_sessions_found_by_their_keys_are_the_first_of_the_whole_sort(
    starts: list[int], limit: int | None
) -> None:
    """The summary's first sessions are found on their two keys, then read whole: the
    same rows in the same order as the whole table sorted (ties in start broken by id)."""
    frame = pl.DataFrame(
        {
            "id": [f"s{i:03d}" for i in reversed(range(len(starts)))],
            "created_date": [T0 + timedelta(minutes=m) for m in starts],
            "wide": [f"x{i}" for i in range(len(starts))],
        },
        schema={"id": pl.String, "created_date": pl.Datetime("us", "UTC"), "wide": pl.String},
    )
    whole = frame.sort("created_date", "id")
    expected = whole if limit is None else whole.head(limit)
    assert_frame_equal(first_by_start(frame.lazy(), limit), expected)


def test_store_changes_lists_the_session_ids_a_night_retired_and_when_it_cannot(
    tmp_path: Path,
) -> None:
    """A late event merged two sessions: the later id was retired, and nothing but counts
    said so (a reader merging by id kept it). Each version now lists the ids it changed
    (session_changes.parquet) and `jtrack store changes` folds them since a version; when
    a version between lists none (a rebuild, an erase) or is gone, it says to reload."""
    store = Store.open(tmp_path / "store")
    one = _day(tmp_path, "n1", [("e1", 0), ("e2", 30)])
    run_sessionize([one], store)  # two sessions: 30 minutes apart
    first = pl.read_parquet(store.current_files("sessions")).get_column("id").sort()
    run_sessionize([_day(tmp_path, "n2", [("e3", 15)])], store)  # joins them into one
    res = _run("store", "changes", "--store", str(store.root), "-f", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {(r["id"], r["change"]) for r in rows} == {(first[0], "changed"), (first[1], "removed")}
    assert {(r["since"], r["version"]) for r in rows} == {("v000001", "v000002")}
    m = store.read_manifest()
    assert m.session_changes == {
        "base": 1,
        "file": "session_changes.parquet",
        "added": 0,
        "changed": 1,
        "removed": 1,
    }
    assert "session_changes.parquet" in m.files()
    # a version that changed no session lists none (no file), and folds to nothing
    run_sessionize([_day(tmp_path, "n3", [("e1", 0)])], store)  # (a redelivery)
    m = store.read_manifest()
    assert m.session_changes is not None and m.session_changes["file"] is None
    assert not (store.root / "versions" / "v000003" / "session_changes.parquet").exists()
    res = _run("store", "changes", "--store", str(store.root), "--since", "1", "-f", "csv")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1:] == sorted(
        [f"{first[0]},changed,v000001,v000003", f"{first[1]},removed,v000001,v000003"]
    )
    # a session added then removed is no change; removed then added again, a change
    run_sessionize([_day(tmp_path, "n4", [("e9", 300)])], store)
    added = _run("store", "changes", "--store", str(store.root), "-f", "json")
    assert [r["change"] for r in json.loads(added.stdout)] == ["added"]
    run_sessionize([_day(tmp_path, "n5", [("e8", 290)])], store)  # begins it earlier
    res = _run("store", "changes", "--store", str(store.root), "--since", "3", "-f", "json")
    assert sorted(r["change"] for r in json.loads(res.stdout)) == ["added"]
    # a rebuild writes the table anew: exit 1, reload
    run_sessionize([], store, rebuild=True)
    res = _run("store", "changes", "--store", str(store.root), "--since", "v000005")
    assert res.exit_code == 1
    assert "does not list the sessions it changed" in res.stderr
    assert "read the whole session table" in res.stderr
    # a version between that runs let go: exit 1, reload
    for i, minute in enumerate((400, 500, 600)):
        run_sessionize([_day(tmp_path, f"n{6 + i}", [(f"x{i}", minute)])], store, keep=0)
    res = _run("store", "changes", "--store", str(store.root), "--since", "v000007")
    assert res.exit_code == 1 and "no longer kept" in res.stderr, res.output
    res = _run("store", "changes", "--store", str(store.root), "--since", "v000008", "-q")
    assert res.exit_code == 0 and res.stderr == "", res.output
    res = _run("store", "changes", "--store", str(store.root), "--since", "latest")
    assert res.exit_code == 2


def _day(d: Path, name: str, events: list[tuple[str, int]]) -> Path:
    """An export of visitor v1's events (id, minutes after T0)."""
    f = d / f"{name}.parquet"
    flat_frame([flat_event(e, "v1", T0 + timedelta(minutes=m)) for e, m in events]).write_parquet(f)
    return f
