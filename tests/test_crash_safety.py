"""Crash safety: SIGKILL, Ctrl-C and a full disk while `jtrack sessionize` writes a store.

A store holding export a gets export b added. Whatever happens, the store must be the
previous version (a) or the complete new one (a + b), readable, never a mix; the next run
must clean up what a crashed one left. Kill points are named in jtrack.store.KILL_POINTS and
reached through the JTRACK_TEST_KILL_AT hook.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
import typer.main
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from make_corpus import at, ev, jl

from jtrack.cli import app
from jtrack.commands._common import INTERRUPTED
from jtrack.engine import run_sessionize
from jtrack.store import KILL_ENV, KILL_POINTS, Store


def _events(n: int, visitors: int, prefix: str) -> bytes:
    return jl(*[ev(f"{prefix}{i}", f"visitor-{i % visitors}", at(i * 3)) for i in range(n)])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    (d / "a.jsonl").write_bytes(_events(40, 4, "a"))
    (d / "b.jsonl").write_bytes(_events(60, 5, "b"))
    return {"a": d / "a.jsonl", "b": d / "b.jsonl"}


@pytest.fixture(scope="module")
def expected(
    inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pl.DataFrame]:
    """The sessions of clean runs over a, and over a then b."""
    out = {}
    for key, files in (("a", [inputs["a"]]), ("ab", [inputs["a"], inputs["b"]])):
        store = Store.open(tmp_path_factory.mktemp(f"clean-{key}"))
        run_sessionize(files, store)
        out[key] = _sessions(store)
    return out


def _sessions(store: Store) -> pl.DataFrame:
    store.refresh()
    return store.scan_sessions().collect().sort("id")


def _store_with_a(root: Path, inputs: dict[str, Path]) -> Store:
    store = Store.open(root)
    run_sessionize([inputs["a"]], store)
    return store


def _assert_store_is(store: Store, sessions: pl.DataFrame, sources: list[Path]) -> None:
    """Readable, whole, and exactly the runs over `sources`."""
    store.refresh()
    assert [i["name"] for i in store.manifest()["inputs"]] == [str(s) for s in sources]
    assert_frame_equal(_sessions(store), sessions)
    events = store.scan_events().collect()
    assert events.height == sessions["event_count"].sum()
    assert events["session_id"].is_in(sessions["id"].implode()).all()


def _leftovers(root: Path) -> list[str]:
    """What a crashed run left: its directory being written, a half-written pointer, a
    version directory without a manifest."""
    names = [
        p.name
        for p in root.iterdir()
        if p.name.startswith((".tmp-", ".current.")) or p.name == "CURRENT.tmp"
    ]
    names += [
        f"versions/{p.name}"
        for p in (root / "versions").iterdir()
        if not (p / "manifest.json").is_file()
    ]
    return sorted(names)


def _spawn(
    args: list[str],
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jtrack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TZ": "UTC", **(env or {})},
        preexec_fn=preexec_fn,
    )


# ---- SIGKILL at every kill point -------------------------------------------------------------


def test_sigkill_at_every_point_leaves_a_whole_readable_store(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    stores = {p: _store_with_a(tmp_path / p, inputs) for p in KILL_POINTS}
    procs = {
        p: _spawn(
            ["sessionize", str(inputs["b"]), "--store", str(tmp_path / p), "-q"], {KILL_ENV: p}
        )
        for p in KILL_POINTS
    }
    for point, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (point, err)
        store = stores[point]
        if point == "after_current":  # the switch happened: the new store is whole
            _assert_store_is(store, expected["ab"], [inputs["a"], inputs["b"]])
        else:
            _assert_store_is(store, expected["a"], [inputs["a"]])
    # the lock died with the process; the next run succeeds and cleans up after the crash
    for point in KILL_POINTS:
        run_sessionize([inputs["b"]], stores[point])
        _assert_store_is(stores[point], expected["ab"], [inputs["a"], inputs["b"]])
        assert _leftovers(tmp_path / point) == []


def test_a_kill_between_the_switch_and_the_link_is_repaired_by_the_next_run(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """Killed right after CURRENT is replaced, `current` (what other tools read) still
    named the previous version, and stayed so through every run that found nothing new.
    The next run that takes the lock (here one with nothing new) points it again."""
    store = _store_with_a(tmp_path / "s", inputs)
    proc = _spawn(
        ["sessionize", str(inputs["b"]), "--store", str(store.root), "-q"],
        {KILL_ENV: "after_current"},
    )
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    name = (store.root / "CURRENT").read_text().strip()
    assert os.readlink(store.root / "current") != f"versions/{name}"  # the window
    res = CliRunner().invoke(
        app, ["sessionize", str(inputs["b"]), "--store", str(store.root), "--keep", "0", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert (store.root / "CURRENT").read_text().strip() == name  # nothing new
    assert os.readlink(store.root / "current") == f"versions/{name}"
    other = pl.read_parquet(store.root / "current" / "index" / "*.parquet")
    assert other.height == store.scan_index().collect().height == 100


def test_the_kill_points_are_all_reached(inputs: dict[str, Path], tmp_path: Path) -> None:
    """Guard the test above: a renamed or removed kill point would make it pass vacuously."""
    import jtrack.store.layout as layout

    seen: list[str] = []
    with mock.patch.object(layout, "kill_point", seen.append):
        run_sessionize([inputs["b"]], Store.open(tmp_path))
    assert seen == list(KILL_POINTS)


# ---- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_at_every_point_exits_130_with_the_store_intact(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    stores = {p: _store_with_a(tmp_path / p, inputs) for p in KILL_POINTS}
    procs = {
        p: _spawn(
            ["sessionize", str(inputs["b"]), "--store", str(tmp_path / p), "-q"],
            {KILL_ENV: f"{p}:INT"},
        )
        for p in KILL_POINTS
    }
    for point, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, (point, err)
        done = point == "after_current"
        if done:  # (it said "nothing partial was written ... as they were": it was committed)
            assert err.startswith("error: interrupted after the run was committed"), err
            assert f"{tmp_path / point} is at v000002" in err
        else:
            assert err == f"error: {INTERRUPTED}\n"
        assert out == ""
        files = [inputs["a"], inputs["b"]] if done else [inputs["a"]]
        _assert_store_is(stores[point], expected["ab" if done else "a"], files)
        # an interrupted run cleans up after itself
        assert _leftovers(tmp_path / point) == []
        run_sessionize([inputs["b"]], stores[point])
        _assert_store_is(stores[point], expected["ab"], [inputs["a"], inputs["b"]])
        assert _leftovers(tmp_path / point) == []


def _big_input(path: Path, n: int = 150_000) -> None:
    i = pl.int_range(0, n, eager=True)
    pl.DataFrame({"i": i}).select(
        event_id=pl.format("big-{}", pl.col("i")),
        customer_id=pl.format("visitor-{}", pl.col("i") % 500),
        created_date=pl.lit(datetime(2026, 10, 3, tzinfo=UTC))
        + pl.duration(seconds=pl.col("i") // 500 * 30),
        event_type=pl.lit("WebEvent"),
        event_name=pl.lit("page_viewed"),
        # hashes do not compress: the store of 60,000 events takes several MB
        page_url=pl.format("https://shop.example/{}/{}", pl.col("i").hash(1), pl.col("i").hash(2)),
    ).write_parquet(path)


def _lock_is_held(root: Path) -> bool:
    lock = root / ".lock"
    if not lock.exists():
        return False
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            assert exc.errno in (errno.EAGAIN, errno.EACCES)
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def _wait_for_lock(root: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _lock_is_held(root):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never took the store lock"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_a_real_sigint_during_a_run_exits_130_and_keeps_the_previous_store(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path, sig: int
) -> None:
    """Ctrl-C, or SIGTERM (`timeout`, systemd, a container stopping: it exited 143 without
    a word and left the version it was writing behind until the next run), or SIGHUP (an
    SSH session dropped: the same, a 58 MB `.tmp-v*` left behind)."""
    big = tmp_path / "big.parquet"
    _big_input(big)
    store = _store_with_a(tmp_path / "store", inputs)
    proc = _spawn(["sessionize", str(big), "--store", str(store.root), "-q"])
    _wait_for_lock(store.root, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.startswith("error: interrupted")
    _assert_store_is(store, expected["a"], [inputs["a"]])
    assert _leftovers(store.root) == []


# ---- a full disk -----------------------------------------------------------------------------


@pytest.fixture(params=["tmpfs", "rlimit"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 1 MB tmpfs (when this user may mount one), or a 1 MB file-size limit (RLIMIT_FSIZE)
    on the jtrack process. Either way writes fail for real, in the OS."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mounted = (
        request.param == "tmpfs"
        and os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mnt, "tmpfs" if mounted else "rlimit"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def _limit_file_size() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_full_disk_gives_a_clear_error_and_no_partial_store(
    inputs: dict[str, Path],
    expected: dict[str, pl.DataFrame],
    small_disk: tuple[Path, str],
    tmp_path: Path,
) -> None:
    root, kind = small_disk
    store = _store_with_a(root / "store", inputs)
    big = tmp_path / "big.parquet"
    _big_input(big, 60_000)
    proc = _spawn(
        ["sessionize", str(big), "--store", str(store.root), "-q"],
        preexec_fn=_limit_file_size if kind == "rlimit" else None,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    reason = "No space left on device" if kind == "tmpfs" else "File too large"
    assert "could not write the store" in lines[0] and reason in lines[0]
    assert "previous store is intact" in lines[0]
    _assert_store_is(store, expected["a"], [inputs["a"]])
    assert _leftovers(store.root) == []


def test_a_first_run_on_a_full_disk_does_not_speak_of_a_previous_store(
    inputs: dict[str, Path],
    small_disk: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """The disk filled by a store's first run: "the previous store is intact", when there
    was none."""
    root, kind = small_disk
    big = tmp_path / "big.parquet"
    _big_input(big, 60_000)
    proc = _spawn(
        ["sessionize", str(big), "--store", str(root / "new"), "-q"],
        preexec_fn=_limit_file_size if kind == "rlimit" else None,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "could not write the store" in err, err
    assert "previous store" not in err and "the store had no version yet" in err, err


def test_versions_on_another_file_system_are_said_so_not_a_full_disk(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """versions/ moved to another file system and linked back: reads worked, and every run
    failed "could not write the store (Invalid cross-device link) (hint: free some disk
    space ...)". A store must be on one file system (hard links, renames): said so."""
    import shutil
    import tempfile

    store = _store_with_a(tmp_path / "store", inputs)
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another file system")
    away = Path(tempfile.mkdtemp(dir="/dev/shm")) / "versions"
    try:
        shutil.move(store.root / "versions", away)
        (store.root / "versions").symlink_to(away)
        code, _, err = _jt_cli("sessionize", str(inputs["b"]), "--store", str(store.root), "-q")
        assert code == 1 and "Invalid cross-device link" in err, err
        assert "a store must be on one file system" in err and "disk space" not in err, err
    finally:
        shutil.rmtree(away.parent, ignore_errors=True)


def _jt_cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


_COMMAND = typer.main.get_command(app)


def test_an_injected_write_failure_is_one_line_and_changes_nothing(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = _store_with_a(tmp_path / "store", inputs)
    real = pl.DataFrame.write_parquet
    calls = []

    def failing(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        calls.append(file)
        if len(calls) == 2:  # one of the unit's parts
            raise pl.exceptions.ComputeError(
                "parquet: underlying IO error: No space left on device (os error 28)"
            )
        real(self, file, *a, **k)  # type: ignore[arg-type]

    with (
        mock.patch.object(pl.DataFrame, "write_parquet", failing),
        mock.patch("typer.testing._get_command", lambda _app: _COMMAND),
    ):
        result = CliRunner().invoke(
            app, ["sessionize", str(inputs["b"]), "--store", str(store.root), "-q"]
        )
    # (the unit's index part is written beside its session parts: those may be written
    # before the failure is met, inside the version being built, and are cleaned up)
    assert 2 <= len(calls) <= 4
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "could not write the store (parquet: underlying IO error: No space left" in result.stderr
    _assert_store_is(store, expected["a"], [inputs["a"]])
    assert _leftovers(store.root) == []


def test_when_every_part_fails_the_index_parts_failure_is_reported(
    inputs: dict[str, Path], expected: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """The unit's index part is started first, and written beside its session parts: when
    both fail (a full disk), the index part's failure is the one said, as before they were
    written side by side."""
    store = _store_with_a(tmp_path / "store", inputs)

    def failing(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        raise pl.exceptions.ComputeError(
            f"parquet: no space left writing {Path(str(file)).parent.name}"
        )

    with (
        mock.patch.object(pl.DataFrame, "write_parquet", failing),
        mock.patch("typer.testing._get_command", lambda _app: _COMMAND),
    ):
        result = CliRunner().invoke(
            app, ["sessionize", str(inputs["b"]), "--store", str(store.root), "-q"]
        )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "no space left writing index" in result.stderr, result.stderr
    _assert_store_is(store, expected["a"], [inputs["a"]])
    assert _leftovers(store.root) == []


def test_a_run_with_nothing_new_removes_what_a_killed_run_left(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """A killed run's `.tmp-v*` stayed until the next run with new data: on a quiet site a
    cron job found nothing new night after night and the space stayed taken (77 MB against
    44 MB in a helper's audit). A run that finds nothing new removes it too (it holds the
    lock)."""
    store = _store_with_a(tmp_path / "st", inputs)
    left = store.root / ".tmp-v000002-0badc0de"
    (left / "index").mkdir(parents=True)
    (left / "index" / "p.parquet").write_bytes(b"x" * 1000)
    run = run_sessionize([inputs["a"]], store)
    assert run.summary.run is not None and run.summary.run["mode"] == "unchanged"
    assert _leftovers(store.root) == []
