"""What an SRE running jtrack's nightly job in containers meets: readers in another PID
namespace (another pod), a volume mounted at another path the next night, a store shared
by a group of users whose umask is 022.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from jtrack.engine import run_sessionize
from jtrack.options import RunOptions
from jtrack.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "events.jsonl"


def _nights(folder: Path, n: int) -> list[Path]:
    """The sample events in `n` files, as `n` nights' exports."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    size = -(-len(lines) // n)
    out = []
    for i in range(n):
        p = folder / f"night{i}.jsonl"
        p.write_text("".join(lines[i * size : (i + 1) * size]), encoding="utf-8")
        out.append(p)
    return out


# --------------------------------------------------------------------- readers' leases

#: A reader: pins the current version, says which and its lease, waits for a line on its
#: standard input, then reads every session and event of the version it pinned.
_READER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from jtrack.store import Store
    store = Store.open(sys.argv[1])
    snap = store.snapshot()
    lease = snap._lease.name if snap._lease is not None else "-"
    print(snap.name, lease, os.getpid(), flush=True)
    sys.stdin.readline()
    try:
        n = snap.scan_sessions().collect().height + snap.scan_events().collect().height
        print("read", n, flush=True)
    except Exception as exc:
        print("failed", type(exc).__name__, exc, flush=True)
    """
)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


def _reader(root: Path, own_pid_namespace: bool, burn: int = 0) -> subprocess.Popen[str]:
    """A reader process of the store at `root`: in a PID namespace of its own (another pod),
    after `burn` processes there (its PID is then burn + 2), or in ours."""
    cmd = [sys.executable, "-c", _READER.format(root=str(ROOT)), str(root)]
    if own_pid_namespace:
        script = 'exec "$@"'  # (PID 1 there)
        if burn:  # (not exec: the reader a child, after `burn` others)
            script = f'for i in $(seq {burn}); do /bin/true; done; "$@"; exit $?'
        cmd = ["unshare", "--pid", "--fork", "--kill-child", "bash", "-c", script, "reader", *cmd]
    return subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def readers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def _pinned(p: subprocess.Popen[str]) -> tuple[str, str, int]:
    assert p.stdout is not None
    line = p.stdout.readline().split()
    assert len(line) == 3, (line, p.stderr.read() if p.stderr else "")
    return line[0], line[1], int(line[2])


def _finish(p: subprocess.Popen[str]) -> str:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("go\n")
    p.stdin.flush()
    out = p.stdout.readline().strip()
    p.wait(timeout=120)
    return out


def _alive_here(pid: int) -> bool:
    from jtrack.store.store import _alive

    return _alive(pid)


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare --pid` (root)")
def test_a_reader_in_another_pid_namespace_keeps_its_version_through_runs_that_keep_none(
    tmp_path: Path, readers: list[subprocess.Popen[str]]
) -> None:
    """A reader in another PID namespace (another pod on the volume) had its version
    removed by runs with `--keep 0` (`the version being read (v000001) was removed`): a
    writer judged its lease by `kill(pid, 0)` on the PID in the lease's name, another
    process's or none here. A reader that is PID 1 of its namespace, killed, left a lease
    that lived 24 hours (PID 1 is alive here). Now a reader holds a lock on its lease for
    as long as it reads, which a writer on the same kernel sees whatever the namespace."""
    root = tmp_path / "st"
    nights = _nights(tmp_path, 4)
    assert run_sessionize([nights[0]], Store.open(root))
    far = _reader(root, own_pid_namespace=True, burn=400)  # (a PID no process has here)
    readers.append(far)
    version, lease, pid = _pinned(far)
    assert version == "v000001" and lease != "-"
    if _alive_here(pid) or int(lease.split("-", 1)[0]) != pid:
        pytest.skip(f"the reader's PID {pid} in its namespace is a process's here too")
    assert run_sessionize([nights[1]], Store.open(root), options=RunOptions(keep=0))
    assert (root / "versions" / "v000001").is_dir()
    first = _reader(root, own_pid_namespace=True)  # (PID 1 there: init's here)
    readers.append(first)
    assert _pinned(first)[::2] == ("v000002", 1)
    first.kill()  # (its lease left behind)
    first.wait()
    assert run_sessionize([nights[2]], Store.open(root), options=RunOptions(keep=0))
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000001", "v000003"]
    assert [p.name for p in (root / ".readers").iterdir()] == [lease]
    assert _finish(far).startswith("read ")
    assert run_sessionize([nights[3]], Store.open(root), options=RunOptions(keep=0))
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000004"]
    assert sorted(p.name for p in (root / ".readers").iterdir()) == []


def test_a_lease_whose_lock_is_held_is_kept_whatever_its_pid_and_let_go_when_free(
    tmp_path: Path, readers: list[subprocess.Popen[str]]
) -> None:
    """The same without a PID namespace: a lease named by a PID no process has here (as
    one of another pod's or host's reader is) whose file a live process holds locked
    keeps its version; once the lock is let go, the next run removes lease and version."""
    root = tmp_path / "st"
    nights = _nights(tmp_path, 3)
    assert run_sessionize([nights[0]], Store.open(root))
    reader = _reader(root, own_pid_namespace=False)
    readers.append(reader)
    version, lease, _ = _pinned(reader)
    there = root / ".readers" / lease
    elsewhere = there.with_name("999999999-" + lease.split("-", 1)[1])  # (no such PID)
    assert not _alive_here(999999999)
    os.rename(there, elsewhere)  # (the file, and the lock its reader holds on it)
    assert run_sessionize([nights[1]], Store.open(root), options=RunOptions(keep=0))
    assert (root / "versions" / version).is_dir() and elsewhere.exists()
    reader.kill()  # (its lease left behind, its lock let go)
    reader.wait()
    assert elsewhere.exists()
    assert run_sessionize([nights[2]], Store.open(root), options=RunOptions(keep=0))
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000003"]
    assert not elsewhere.exists()


def test_a_lease_of_an_earlier_jtrack_is_still_judged_by_its_pid(tmp_path: Path) -> None:
    """During an upgrade, leases an earlier jtrack's readers wrote (no lock, no `.flock`)
    are honoured as they were: kept while their PID lives here, removed when it does not."""
    root = tmp_path / "st"
    nights = _nights(tmp_path, 3)
    assert run_sessionize([nights[0]], Store.open(root))
    readers = root / ".readers"
    readers.mkdir(exist_ok=True)
    live = readers / f"{os.getpid()}-0123456789ab"
    live.write_text("v000001")
    assert run_sessionize([nights[1]], Store.open(root), options=RunOptions(keep=0))
    assert (root / "versions" / "v000001").is_dir() and live.exists()
    dead = readers / "999999999-0123456789ab"
    live.rename(dead)
    assert run_sessionize([nights[2]], Store.open(root), options=RunOptions(keep=0))
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000003"]
    assert not dead.exists()


# --------------------------------------------------------------------- a group's store

#: jtrack's command line as another user: the worktree's jtrack, under umask 022.
_AS_USER = (
    "import os, sys; os.umask(0o022); sys.path.insert(0, {root!r}); "
    "from jtrack._entry import main; sys.argv[0] = 'jtrack'; main()"
)


def _can_setpriv() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def _group_store(folder: Path, n: int) -> tuple[list[Path], Path]:
    """`n` nights' files any account may read, and the store folder `folder/st` shared by
    group 5000 (`chgrp 5000 st; chmod 2775 st`)."""
    nights = _nights(folder, n)
    for night in nights:
        os.chmod(night, 0o644)
    root = folder / "st"
    root.mkdir()
    os.chown(root, 0, 5000)
    os.chmod(root, 0o2775)
    return nights, root


def _jtrack_as(uid: int, gid: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    cmd += [sys.executable, "-c", _AS_USER.format(root=str(ROOT)), *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _jtrack_as_umask(
    uid: int, gid: int, umask: int, *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    from tests.helpers import jtrack_as

    return jtrack_as(uid, gid, *args, cwd=cwd, umask=umask)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder other users can reach (pytest's tmp_path is root's alone)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="jtrack-group-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _modes(root: Path) -> dict[str, int]:
    """The permission bits of everything in the store but `.readers` (made as before)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".readers"]
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                out[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return out


@pytest.mark.skipif(not _can_setpriv(), reason="needs root and setpriv (runs as two users)")
def test_a_group_store_is_written_by_every_member_under_umask_022(open_folder: Path) -> None:
    """A store folder shared by a group (`chgrp 5000 DIR; chmod 2775 DIR`): night 1 as
    one member, night 2 as another, both under umask 022: `error: store/.lock: Permission
    denied`, exit 1 (`.lock` was made 0644, `versions/` 0755). Everything a run makes in
    such a store is the group's to write now, so any member's run writes it and removes
    the versions another made; a store folder the group may not write keeps the umask's
    modes."""
    nights, root = _group_store(open_folder, 3)
    first = _jtrack_as(12345, 5000, "sessionize", str(nights[0]), "--store", "st", "-q",
                       cwd=open_folder)  # fmt: skip
    assert (first.returncode, first.stderr) == (0, "")
    second = _jtrack_as(23456, 5000, "sessionize", str(nights[1]), "--store", "st", "-q",
                        "--keep", "0", cwd=open_folder)  # fmt: skip
    assert (second.returncode, second.stderr) == (0, "")
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000002"]
    third = _jtrack_as(12345, 5000, "sessionize", str(nights[2]), "--store", "st", "-q",
                       "--keep", "0", cwd=open_folder)  # fmt: skip
    assert (third.returncode, third.stderr) == (0, "")
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000003"]
    modes = _modes(root)
    assert {rel: m for rel, m in modes.items() if m & 0o060 != 0o060} == {}
    assert all(os.stat(root / rel).st_gid == 5000 for rel in modes)
    # a store folder the group may not write: files as the umask makes them
    (open_folder / "own").mkdir()
    os.chown(open_folder / "own", 12345, 5000)
    done = _jtrack_as(12345, 5000, "sessionize", str(nights[0]), "--store", "own/st", "-q",
                      cwd=open_folder)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    modes = _modes(open_folder / "own" / "st")
    assert modes and {m & 0o077 for m in modes.values()} == {0o055, 0o044}


# --------------------------------------------------------------------- a volume moved


def _jt(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from jtrack.cli import app

    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_a_store_mounted_at_another_path_follows_the_contacts_file_that_moved_with_it(
    tmp_path: Path,
) -> None:
    """Night 1 mounts the volume at /data with `--contacts /data/contacts.csv`; night 2 at
    /mnt/jtrack: the store remembered the absolute path, found nothing there and went on
    with its copy, a `note:` that -q leaves out (exit 0, the CRM's rename not applied). It
    follows the file where it was beside the store now; one that is gone from both is a
    `warning:`, which -q says."""
    vol = tmp_path / "data"
    (vol / "exports").mkdir(parents=True)
    shutil.copy(SAMPLE, vol / "exports" / "events.jsonl")
    shutil.copy(ROOT / "sample_data" / "contacts.csv", vol / "contacts.csv")
    store = vol / "store"
    code, _, err = _jt("sessionize", str(vol / "exports"), "--store", str(store), "--contacts",
                       str(vol / "contacts.csv"), "-q")  # fmt: skip
    assert (code, err) == (0, "")
    moved = tmp_path / "mnt" / "jtrack"
    moved.parent.mkdir()
    vol.rename(moved)  # (the volume mounted at another path: the one it had is gone)
    book = moved / "contacts.csv"
    book.write_text(book.read_text().replace("Olivia,", "Olivia-Renamed,"))
    store = moved / "store"
    code, _, err = _jt("sessionize", str(moved / "exports"), "--store", str(store), "-q")
    assert (code, err) == (0, "")
    code, out, _ = _jt("sessions", "--store", str(store), "-f", "csv", "--columns", "contact_name")
    assert code == 0 and "Olivia-Renamed" in out
    code, _, err = _jt("sessionize", str(moved / "exports"), "--store", str(store))
    assert code == 0 and "contacts" not in err  # (nothing new: said nothing of it)
    book.unlink()  # (gone from both paths: the store's copy, said even by a quiet run)
    code, _, err = _jt("sessionize", str(moved / "exports"), "--store", str(store), "-q")
    assert code == 0 and err.startswith(
        f"warning: {moved / 'contacts.csv'}: the contacts file the store follows is gone"
    ), err


@pytest.mark.skipif(not _can_setpriv(), reason="needs root and setpriv (runs as two users)")
# (a 0600 one is refused: replacing it let two runs hold the lock)
@pytest.mark.parametrize("left", [0o644])
def test_a_store_lock_root_made_with_the_backup_recipe_stops_no_run(
    open_folder: Path, left: int
) -> None:
    """A store restored from a backup of its current version has no `.lock`; README's
    `flock STORE/.lock cp -a ...` as root made one, root's (0644 under umask 022, 0600 under
    077): every run of the service account failed `.../.lock: Permission denied`. Then the
    lock a run makes has the folder's read and write bits, no group-execute (it was 0674)."""
    (night,), root = _group_store(open_folder, 1)
    lock = root / ".lock"
    lock.touch()
    os.chmod(lock, left)
    done = _jtrack_as(12345, 5000, "sessionize", str(night), "--store", "st", "-q",
                      cwd=open_folder)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    lock.unlink()
    done = _jtrack_as(12345, 5000, "sessionize", str(night), "--store", "st", "-q",
                      cwd=open_folder)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o664


def _strip_others(root: Path) -> None:
    """What a run under umask 027 of an earlier jtrack left: no "other" bits anywhere."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o007)


@pytest.mark.skipif(not _can_setpriv(), reason="needs root and setpriv (runs as two users)")
def test_a_writer_with_umask_027_leaves_the_store_readable_to_whom_the_folder_lets_in(
    open_folder: Path,
) -> None:
    """A store folder `chgrp jteam; chmod 2775`, the service account under umask 027 (the
    CIS default): CURRENT, versions/ and every file came out 0660/2770, and an analyst
    outside the group (whom the folder lets read) failed "cannot read the store
    (Permission denied) (hint: check the folder's permissions)", the file at fault unsaid.
    Everything a run writes gets the folder's "other" read bits; files linked from versions
    written without them are given them by their owner's next run; the hint names the
    file."""
    nights, root = _group_store(open_folder, 2)
    done = _jtrack_as_umask(12345, 5000, 0o027, "sessionize", str(nights[0]), "--store", "st",
                            "-q", cwd=open_folder)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    read = _jtrack_as(34567, 34567, "sessions", "--store", "st", "-f", "csv", cwd=open_folder)
    assert (read.returncode, read.stderr) == (0, "") and len(read.stdout.splitlines()) > 1
    assert {rel: m for rel, m in _modes(root).items() if m & 0o004 == 0} == {}
    _strip_others(root)  # (as an earlier jtrack under umask 027 left it)
    read = _jtrack_as(34567, 34567, "sessions", "--store", "st", cwd=open_folder)
    assert read.returncode == 1 and read.stderr.startswith(
        "error: st: cannot read the store (st/CURRENT: Permission denied)"
    ), read.stderr
    assert "check the permissions of st/CURRENT" in read.stderr
    done = _jtrack_as(12345, 5000, "sessionize", str(nights[1]), "--store", "st", "-q",
                      cwd=open_folder)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    read = _jtrack_as(34567, 34567, "sessions", "--store", "st", "-f", "csv", cwd=open_folder)
    assert (read.returncode, read.stderr) == (0, "") and len(read.stdout.splitlines()) > 1
    current = root / "versions" / (root / "CURRENT").read_text().strip()
    assert {rel: m for rel, m in _modes(current).items() if m & 0o004 == 0} == {}


@pytest.mark.skipif(not _can_setpriv(), reason="needs root and setpriv (runs as two users)")
def test_a_leftover_another_account_cannot_read_is_said_so_not_0_bytes(open_folder: Path) -> None:
    """`jtrack store` showed another account's unreadable `.tmp-*` folder as "0 bytes"."""
    night = _nights(open_folder, 1)[0]
    os.chmod(night, 0o644)
    root = open_folder / "st"
    assert run_sessionize([night], Store.open(root))
    left = root / ".tmp-v000002-deadbeef"
    (left / "segments").mkdir(parents=True)
    (left / "segments" / "s.parquet").write_bytes(b"x" * 5000)
    os.chmod(left, 0o700)
    done = _jtrack_as(34567, 34567, "store", "--store", "st", cwd=open_folder)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ".tmp-v000002-deadbeef" in ln)
    assert "unreadable" in line and "0 bytes" not in line, line
