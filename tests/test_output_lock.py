"""The lock of a report file written with -o: hidden beside the file (`.NAME.lock`), removed
when the run ends, and still exclusive, also in the race that removing a lock file opens
(a waiter that locked the deleted file while a newcomer locked a new one)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.locking import exclusive_lock
from jtrack.usecases.usage import OutputLockedError, output_lock
from tests.helpers import can_setpriv, jtrack_as, open_folder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [str(ROOT / "tests" / "data" / "examples" / f) for f in ("genesys-events.jsonl",)]
runner = CliRunner()


@pytest.mark.parametrize(
    "argv",
    [
        ["usage", *EXAMPLES, "--as-of", "2026-10-05", "-f", "csv"],
        ["usage", *EXAMPLES, "--as-of", "2026-10-05", "-f", "json"],
        ["report", *EXAMPLES, "-f", "html"],
        ["report", *EXAMPLES, "-f", "md"],
    ],
)
def test_a_run_leaves_nothing_but_the_report(argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / f"out.{argv[-1]}"
    for _ in range(2):  # a first run and one that replaces the file
        res = runner.invoke(app, [*argv, "-o", str(out), "-q"])
        assert res.exit_code == 0, res.stderr
        assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_lock_left_by_a_killed_run_is_taken_and_removed(tmp_path: Path) -> None:
    out = tmp_path / "usage.csv"
    stale = tmp_path / ".usage.csv.lock"
    stale.touch()  # SIGKILL leaves the (hidden, empty) lock file; nobody holds its lock
    res = runner.invoke(app, ["usage", *EXAMPLES, "--as-of", "2026-10-05", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_the_lock_is_hidden_beside_the_report_while_held(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with output_lock(out) as lock:
        assert lock == tmp_path / ".r.csv.lock" and lock.exists()
        with pytest.raises(OutputLockedError), output_lock(out, wait=0.1):
            pass  # pragma: no cover
    assert list(tmp_path.iterdir()) == []


def test_a_waiter_and_a_newcomer_never_hold_the_lock_together(tmp_path: Path) -> None:
    """A holds the lock; B waits with the lock file open; A releases (and deletes the file);
    C arrives at once and locks a new file. B then gets the lock of the deleted file: it must
    notice and wait for C, not run beside it."""
    out = tmp_path / "r.csv"
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    guard = threading.Lock()

    def critical(name: str, seconds: float) -> None:
        with guard:
            if inside:
                overlaps.append((*inside, name))
            inside.append(name)
        time.sleep(seconds)
        with guard:
            inside.remove(name)

    def run(name: str, seconds: float) -> None:
        with output_lock(out, wait=30):
            critical(name, seconds)

    for _ in range(3):
        a = output_lock(out)
        a.__enter__()
        b = threading.Thread(target=run, args=("B", 0.05))
        b.start()
        time.sleep(0.2)  # B has opened the lock file and polls it
        a.__exit__(None, None, None)
        c = threading.Thread(target=run, args=("C", 0.3))
        c.start()
        b.join(30)
        c.join(30)
        assert overlaps == []
        assert list(tmp_path.iterdir()) == []


def test_the_store_lock_file_stays(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with exclusive_lock(lock, 0, lambda: OutputLockedError("locked")):
        assert lock.exists()
    assert lock.exists()


def test_a_lock_file_gets_the_folders_bits_whatever_the_umask(tmp_path: Path) -> None:
    """A lock file was made by the umask (0600 under 077, 0644 under 022): another account
    of the folder's group could not open it once a killed run left it."""
    import os
    import stat

    os.chmod(tmp_path, 0o2775)
    old = os.umask(0o077)
    try:
        with output_lock(tmp_path / "u.csv") as lock:
            assert stat.S_IMODE(lock.stat().st_mode) == 0o664
        with exclusive_lock(tmp_path / ".lock", 0, lambda: OutputLockedError("locked")):
            assert stat.S_IMODE((tmp_path / ".lock").stat().st_mode) == 0o664
    finally:
        os.umask(old)


@pytest.mark.skipif(not can_setpriv(), reason="needs root and setpriv (runs as two users)")
# (a 0600 one another account left is refused: replacing it let two runs hold the lock)
@pytest.mark.parametrize("left", [0o644])
def test_a_lock_another_account_left_is_taken(left: int) -> None:
    """One member's `usage -o reports/u.csv` killed left `.u.csv.lock` (0600 under umask 077,
    0644 under 022, its own): every later run of another member stopped with "cannot create
    the lock file (Permission denied)", exit 1 (the file was opened for writing; flock(2)
    needs no write access)."""
    import os
    import shutil

    folder = open_folder()
    try:
        reports = folder / "reports"
        reports.mkdir()
        os.chown(reports, 0, 5000)
        os.chmod(reports, 0o2775)
        stale = reports / ".u.csv.lock"
        stale.touch()
        os.chown(stale, 12345, 5000)
        os.chmod(stale, left)
        example = folder / "events.jsonl"
        shutil.copy(EXAMPLES[0], example)
        os.chmod(example, 0o644)
        args = ["usage", str(example), "--as-of", "2026-10-05", "-o", "reports/u.csv", "-q"]
        done = jtrack_as(23456, 5000, *args, cwd=folder)
        assert (done.returncode, done.stderr) == (0, "")
        assert sorted(p.name for p in reports.iterdir()) == ["u.csv"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
