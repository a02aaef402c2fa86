"""Concurrent runs: two `jtrack sessionize` on one store, two `jtrack usage -o` on one file.

One run waits for (--wait) or refuses the other's lock with a clear message; nothing
interleaves: the store is always exactly the result of the runs that finished (the report
exactly one run's complete result).
Real subprocesses throughout; the first writer is paused deterministically with SIGSTOP at a
named point of its snapshot write (JTRACK_TEST_KILL_AT=<point>:STOP).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).parent))

from make_corpus import at, ev, jl

from jtrack.engine import run_sessionize
from jtrack.store import KILL_ENV, Store
from jtrack.usecases.usage import output_lock

AS_OF = "2026-10-31T00:00:00Z"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    (d / "a.jsonl").write_bytes(jl(*[ev(f"a{i}", f"v{i % 4}", at(i * 3)) for i in range(40)]))
    (d / "b.jsonl").write_bytes(jl(*[ev(f"b{i}", f"w{i % 5}", at(i * 2)) for i in range(70)]))
    return {"a": d / "a.jsonl", "b": d / "b.jsonl"}


@pytest.fixture(scope="module")
def expected(
    inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pl.DataFrame]:
    """The sessions of clean runs over a, and over a and b."""
    out = {}
    for key, files in (("a", ["a"]), ("ab", ["a", "b"])):
        store = Store.open(tmp_path_factory.mktemp(f"clean-{key}"))
        run_sessionize([inputs[f] for f in files], store)
        out[key] = store.scan_sessions().collect().sort("id")
    return out


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jtrack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TZ": "UTC", **(env or {})},
    )


def _wait_stopped(proc: subprocess.Popen[str]) -> None:
    """Block until the child stops itself with SIGSTOP (it still holds its lock)."""
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), status


def _which(store: Store, expected: dict[str, pl.DataFrame], inputs: dict[str, Path]) -> str:
    """The inputs the store holds, whole (sessions, events and manifest agree), in the order
    the runs took them in: "a", "ab" or "ba"."""
    store.refresh()
    sessions = store.scan_sessions().collect().sort("id")
    events = store.scan_events().collect()
    names = {str(p): k for k, p in inputs.items()}
    order = "".join(names[i["name"]] for i in store.manifest()["inputs"])
    assert_frame_equal(sessions, expected["".join(sorted(order))])
    assert events.height == sessions["event_count"].sum()
    assert set(events["session_id"]) == set(sessions["id"])
    leftovers = [p.name for p in store.root.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    return order


# ---- sessionize ------------------------------------------------------------------------------


def test_a_second_sessionize_refuses_then_waits_for_the_first(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "store")
    first = _spawn(
        "sessionize",
        str(inputs["b"]),
        "--store",
        str(store.root),
        "-q",
        env={KILL_ENV: "after_segments:STOP"},
    )
    _wait_stopped(first)  # paused mid-write, holding the lock
    try:
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "jtrack.cli",
                "sessionize",
                str(inputs["a"]),
                "--store",
                str(store.root),
                "-q",
            ],
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 1
        assert refused.stderr == (
            f"error: {store.root}: another jtrack run is writing this store "
            "(hint: wait for it to finish, or pass --wait SECONDS)\n"
        )
        assert not store.exists()  # the paused run has not switched anything yet
        waiter = _spawn(
            "sessionize", str(inputs["a"]), "--store", str(store.root), "-q", "--wait", "120"
        )
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting for the lock
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate(timeout=120)
    assert first.returncode == 0
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    # the waiter ran after the first one finished: it added its input to the first one's
    assert _which(store, expected, inputs) == "ba"


def test_two_sessionize_runs_started_together_never_mix(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "store")
    results = []
    for _ in range(2):
        procs = [
            _spawn("sessionize", str(inputs[k]), "--store", str(store.root), "-q", "--wait", "120")
            for k in ("a", "b")
        ]
        for p in procs:
            _, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
        results.append(_which(store, expected, inputs))
    # the second round found nothing new: the store is what the first round left
    assert results[0] in ("ab", "ba") and results[1] == results[0]


def test_a_reader_during_a_write_sees_the_previous_store(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "store")
    run_sessionize([inputs["a"]], store)
    writer = _spawn(
        "sessionize",
        str(inputs["b"]),
        "--store",
        str(store.root),
        "-q",
        env={KILL_ENV: "after_rename:STOP"},
    )
    _wait_stopped(writer)
    try:
        reader = subprocess.run(
            [
                sys.executable,
                "-m",
                "jtrack.cli",
                "sessions",
                "--store",
                str(store.root),
                "-f",
                "csv",
            ],
            capture_output=True,
            text=True,
        )
        assert reader.returncode == 0, reader.stderr
        listed = pl.read_csv(reader.stdout.encode())
        assert sorted(listed["id"]) == sorted(expected["a"]["id"])
    finally:
        writer.send_signal(signal.SIGCONT)
    writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert _which(store, expected, inputs) == "ab"


def test_a_reader_during_a_first_build_is_told_it_is_building(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """A reader while a store's first run was writing it was told the folder "holds other
    files" (its `.lock` and `.tmp-v000001-...`), no store: now that a first run is building
    it; once that run is killed (the lock free), that a stopped run left its files."""
    root = tmp_path / "store"
    writer = _spawn(
        "sessionize", str(inputs["a"]), "--store", str(root), "-q",
        env={KILL_ENV: "after_segments:STOP"},
    )  # fmt: skip
    _wait_stopped(writer)

    def read() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "jtrack.cli", "sessions", "--store", str(root)]
        return subprocess.run(cmd, capture_output=True, text=True)

    try:
        assert any(p.name.startswith(".tmp-v000001-") for p in root.iterdir())
        reader = read()
        assert reader.returncode == 1
        assert reader.stderr == (
            f"error: {root}: a first run is still building this store (it has no version to "
            "read yet) (hint: run this again once that run has finished)\n"
        )
    finally:
        writer.kill()
        writer.communicate(timeout=120)
    reader = read()  # (its leftovers, the lock free: not a live run)
    assert reader.returncode == 1
    assert reader.stderr.startswith(
        f"error: {root}: no jtrack store here: a first run that stopped left only its "
        "unfinished files (hint: run `jtrack sessionize SOURCES... --store"
    ), reader.stderr
    run_sessionize([inputs["a"]], Store.open(root))
    assert read().returncode == 0


# ---- usage -o --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def usage_store(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("usage-store"))
    run_sessionize([inputs["a"]], store)
    return store


def _usage(store: Store, out: Path, fmt: str, *extra: str) -> list[str]:
    return [
        "usage",
        "--store",
        str(store.root),
        "--as-of",
        AS_OF,
        "-f",
        fmt,
        "-o",
        str(out),
        "-q",
        *extra,
    ]


def test_a_second_usage_report_to_the_same_file_refuses_then_waits(
    usage_store: Store, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    clean = tmp_path / "clean.csv"
    assert (
        subprocess.run(
            [sys.executable, "-m", "jtrack.cli", *_usage(usage_store, clean, "csv")]
        ).returncode
        == 0
    )
    with output_lock(report):  # another writer holds the report's lock
        refused = subprocess.run(
            [sys.executable, "-m", "jtrack.cli", *_usage(usage_store, report, "csv")],
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: another jtrack run is writing {report}")
        assert "--wait" in refused.stderr and len(refused.stderr.splitlines()) == 1
        assert not report.exists()
        waiter = _spawn(*_usage(usage_store, report, "csv", "--wait", "120"))
        time.sleep(0.5)
        assert waiter.poll() is None
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert report.read_bytes() == clean.read_bytes()


def test_two_usage_reports_to_one_file_at_once_never_interleave(
    usage_store: Store, tmp_path: Path
) -> None:
    clean = {}
    for fmt in ("csv", "json"):
        path = tmp_path / f"clean.{fmt}"
        proc = subprocess.run([sys.executable, "-m", "jtrack.cli", *_usage(usage_store, path, fmt)])
        assert proc.returncode == 0
        clean[fmt] = path.read_bytes()
    report = tmp_path / "report.out"
    for _ in range(2):
        procs = [
            _spawn(*_usage(usage_store, report, fmt, "--wait", "120")) for fmt in ("csv", "json")
        ]
        for p in procs:
            _, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
        assert report.read_bytes() in clean.values()
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_threads_sharing_a_store_pin_one_version(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store.pinned() pinned on first use without a lock: threads reading a shared Store for
    the first time together each opened a Snapshot, and with a writer between them read two
    versions (15 in 17,161 trials). A slow snapshot open makes the race certain."""
    import threading

    store_dir = tmp_path / "s"
    run_sessionize([inputs["a"]], Store.open(store_dir))
    opened = []
    real = Store.current_snapshot  # (what pinned() opens)

    def slow_snapshot(self: Store) -> object:
        time.sleep(0.05)  # (the threads all get here before the first returns)
        snap = real(self)
        opened.append(snap)
        return snap

    monkeypatch.setattr(Store, "current_snapshot", slow_snapshot)
    shared = Store.open(store_dir)
    n = 8
    barrier = threading.Barrier(n)
    seen: list[object] = []

    def read() -> None:
        barrier.wait()
        seen.append(shared.pinned())

    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(seen) == n and len(opened) == 1 and all(s is opened[0] for s in seen)
    finally:
        shared.close()
        for snap in opened[1:]:
            snap.close()  # type: ignore[attr-defined]


def test_a_wait_that_runs_out_says_how_long_it_waited(tmp_path: Path) -> None:
    """`--wait 2` that ran out said "pass --wait SECONDS", as if it had not waited."""
    from jtrack.errors import StoreLockedError

    store = Store.open(tmp_path / "store")
    other = Store.open(tmp_path / "store")
    with store.lock(), pytest.raises(StoreLockedError) as err, other.lock(wait=0.2):
        pass
    assert err.value.message.endswith("another jtrack run is writing this store (waited 0.2 s)")
    assert (err.value.hint or "").startswith("wait for it to finish, or pass a longer --wait")


def test_a_store_pickled_or_copied_reads_a_version_of_its_own(tmp_path: Path) -> None:
    """The pin lock made a Store unpicklable (multiprocessing, copy.deepcopy); a copy pins
    its own version (never the original's lease)."""
    import copy
    import pickle

    from jtrack.access import Policy, StoreView

    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    run_sessionize([sample], tmp_path / "store")
    store = Store.open(tmp_path / "store")
    held = store.pinned()
    for clone in (pickle.loads(pickle.dumps(store)), copy.deepcopy(store)):
        assert clone.root == store.root and clone._pinned is None
        assert clone.pinned() is not held and clone.pinned().name == held.name
        clone.close()
    view = copy.deepcopy(StoreView(store, Policy()))
    assert isinstance(view, StoreView) and view.scan_sessions().collect().height == 843
    assert store.pinned() is held


def test_a_tool_run_under_store_pin_reads_its_version_whole_through_runs_and_an_erase(
    tmp_path: Path,
) -> None:
    """A tool outside jtrack (DuckDB, Polars, a dashboard) reading versions/$(cat CURRENT)/
    could take no lease: an erase (which removes every earlier version) or --keep + 1 runs
    removed the files under it. `jtrack store pin -- COMMAND` holds the current version
    with jtrack's own reader lease while COMMAND runs, names it in $JTRACK_VERSION_DIR,
    lets it go when COMMAND exits and exits with COMMAND's status."""
    from test_engine import T0

    from jtrack.engine.erase import erase
    from tests.helpers import flat_event, flat_frame

    store = Store.open(tmp_path / "store")
    days = []
    for d in range(4):
        f = tmp_path / f"day{d}.parquet"
        flat_frame(
            [
                flat_event(f"e{d}-{i}", f"v{i % 3}", T0 + timedelta(days=d, minutes=i))
                for i in range(6)
            ]
        ).write_parquet(f)
        days.append(f)
    run_sessionize([days[0]], store)
    ready, go = tmp_path / "ready", tmp_path / "go"
    reader = (
        "import os, sys, time, polars as pl\n"
        "d = os.environ['JTRACK_VERSION_DIR']\n"
        "assert os.path.isabs(d), d\n"
        f"assert os.environ['JTRACK_STORE'] == {str(store.root.absolute())!r}\n"
        "def read():\n"
        "    return pl.read_parquet(d + '/sessions/*.parquet').sort('id')\n"
        "first = read()\n"
        f"open({str(ready)!r}, 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "again = read()\n"
        "assert again.equals(first), 'the version changed under the reader'\n"
        "print(os.environ['JTRACK_VERSION'], first.height)\n"
        "sys.exit(5)\n"
    )
    proc = _spawn("store", "pin", "--store", str(store.root), "--", sys.executable, "-c", reader)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pinned = store.current_name()
    for f in days[1:]:
        run_sessionize([f], store, keep=0)
    erase(store, visitors=["v1"])
    assert (store.root / "versions" / str(pinned)).is_dir()  # (left for its reader)
    go.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err  # COMMAND's status
    assert out.split() == [str(pinned), "3"]
    from jtrack.engine.compact import compact

    compact(store)  # (the lease is gone: the version held goes now)
    assert not (store.root / "versions" / str(pinned)).exists()


def test_store_pin_passes_a_sigterm_on_and_its_changes_go_to_the_version_held(
    tmp_path: Path,
) -> None:
    """`store pin` killed COMMAND on a SIGTERM (mid-cleanup) and exited 130 with jtrack's
    own "interrupted" line: the signal is passed on and pin exits with COMMAND's status.
    Under pin, `jtrack store changes` went to the current version, not the one held."""
    import signal

    from test_engine import T0

    from tests.helpers import flat_event, flat_frame

    store = Store.open(tmp_path / "store")
    days = []
    for d in range(3):
        f = tmp_path / f"day{d}.parquet"
        flat_frame(
            [flat_event(f"e{d}-{i}", f"v{i}", T0 + timedelta(days=d, minutes=i)) for i in range(3)]
        ).write_parquet(f)
        days.append(f)
    run_sessionize([days[0]], store)
    run_sessionize([days[1]], store)
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = (
        f"trap 'echo cleaned; exit 3' TERM; touch {ready}; "
        f"while [ ! -e {go} ]; do sleep 0.05; done; "
        f"{sys.executable} -m jtrack.cli store changes -f csv -q; "
        "while :; do sleep 0.05; done"
    )
    proc = _spawn("store", "pin", "--store", str(store.root), "-q", "--", "sh", "-c", script)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    held = str(store.current_name())
    run_sessionize([days[2]], store)  # (a newer version while the tool runs)
    go.touch()
    time.sleep(3)  # (the tool's `store changes` printed)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err  # the tool's own status, after its cleanup
    assert out.rstrip().endswith("cleaned") and "interrupted" not in err
    rows = [line.split(",") for line in out.splitlines() if line.count(",") >= 3]
    assert rows[0][:2] == ["id", "change"] and len(rows) > 1
    assert {r[rows[0].index("version")] for r in rows[1:]} == {held}
