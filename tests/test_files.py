"""Files jtrack writes (-o FILE, --rejects FILE): unpredictable temp files, devices and FIFOs
written in place, symlinks never followed, a full disk is one line and leaves nothing."""

from __future__ import annotations

import errno
import io
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack import files, serialize
from jtrack.cli import app
from jtrack.errors import ExitCode, UsageError
from jtrack.files import OutputError, check_rejects_target, is_special_file, open_atomic

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files") / "store"
    res = runner.invoke(
        app,
        ["sessionize", str(ROOT / "sample_data" / "events.jsonl"), "--store", str(root), "-q"],
    )
    assert res.exit_code == 0, res.stderr
    return root


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_symlink_planted_at_the_old_temp_name_is_never_followed(
    store: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.csv"
    (tmp_path / ".out.csv.tmp").symlink_to(victim)  # the name jtrack used to write through
    res = runner.invoke(app, ["sessions", "--store", str(store), "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    assert victim.read_text() == "precious\n"
    assert out.read_text().startswith("id,")


def test_temp_files_are_created_exclusively_with_an_unpredictable_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    real = files.tempfile.mkstemp

    def spy(*a: object, **k: object) -> tuple[int, str]:
        fd, name = real(*a, **k)  # type: ignore[call-overload]
        seen.append((name, oct(os.fstat(fd).st_mode)))
        return fd, name

    monkeypatch.setattr(files.tempfile, "mkstemp", spy)
    files.atomic_write_text(tmp_path / "a.json", "{}")
    files.atomic_write_text(tmp_path / "a.json", "[]")
    names = [Path(n).name for n, _ in seen]
    assert len(set(names)) == 2 and all(n.startswith(".a.json.") for n in names)
    assert all(n != ".a.json.tmp" for n in names)
    assert (tmp_path / "a.json").read_text() == "[]" and _leftovers(tmp_path) == []


def test_a_temp_file_a_killed_write_left_goes_with_the_next_write(
    store: Path, tmp_path: Path
) -> None:
    """`subprocess.run(..., timeout=)` kills with SIGKILL: a 57 MB `.k2.jsonl.ypxa3m0s.tmp`
    stayed beside the report for good (the scripting audit). The next write of the same
    file removes such a temp file once it is hours old; a live write's, and any other
    file, stay."""
    import time

    out = tmp_path / "k2.jsonl"
    stale, fresh = tmp_path / ".k2.jsonl.ypxa3m0s.tmp", tmp_path / ".k2.jsonl.abcd1234.tmp"
    other = tmp_path / ".k2.jsonl.notes.tmp"
    old = time.time() - 2 * 86400  # (two days: any write that old is dead)
    for f in (stale, fresh, other):
        f.write_bytes(b"x" * 100)
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    res = runner.invoke(app, ["sessions", "--store", str(store), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    assert out.is_file() and not stale.exists()
    assert fresh.exists() and other.exists()


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.json"
    out.symlink_to(victim)
    serialize.write_text_file("{}\n", out)
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.read_text() == "{}\n"


def test_the_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old")
    out.chmod(0o640)
    files.atomic_write_text(out, "new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.csv"
    old = os.umask(0o027)
    try:
        files.atomic_write_text(fresh, "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def run() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_fifo_is_written_in_place_and_stays_a_fifo(store: Path, tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    res = runner.invoke(app, ["sessions", "--store", str(store), "-o", str(fifo), "--format", fmt])
    reader.join(timeout=30)
    assert res.exit_code == 0, res.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and (got[0].startswith(b"PAR1") if fmt == "parquet" else b"id," in got[0])
    assert _leftovers(tmp_path) == []


def test_dev_null_is_a_special_file_written_in_place() -> None:
    assert is_special_file("/dev/null")
    serialize.write_text_file("nothing\n", "/dev/null")
    serialize.write_parquet(pl.DataFrame({"a": [1]}), "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_no_file_is_ever_created_under_dev(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="/dev"):
        serialize.write_text_file("x", "/dev/jtrack-no-such-device")
    assert not os.path.exists("/dev/jtrack-no-such-device")


def test_a_directory_as_output_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory") as err:
        serialize.write_text_file("x", tmp_path)
    assert err.value.exit_code == ExitCode.DATA  # a file that cannot be written
    assert _leftovers(tmp_path) == []


class _FullDisk(io.FileIO):
    """A file whose device fills up after 200 bytes."""

    written = 0

    def write(self, data: object) -> int:  # type: ignore[override]
        n = len(memoryview(data))  # type: ignore[arg-type]
        if self.written + n > 200:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += n
        return super().write(data)  # type: ignore[arg-type]


def test_a_full_disk_during_o_parquet_is_one_line_exit_1_and_nothing_left(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.parquet"
    out.write_bytes(b"previous")
    real = os.fdopen

    def fdopen(fd: int, mode: str = "r", *a: object, **k: object) -> object:
        if mode == "wb":
            return _FullDisk(fd, "wb")
        return real(fd, mode, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(files.os, "fdopen", fdopen)
    res = runner.invoke(app, ["sessions", "--store", str(store), "-o", str(out)])
    assert res.exit_code == ExitCode.DATA, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "No space left on device" in lines[0] and "internal error" not in lines[0]
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def _limit_file_size() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.parametrize("name", ["x.parquet", "x.json"])
def test_a_file_size_limit_hit_by_the_writer_leaves_nothing_behind(
    store: Path, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-m", "jtrack.cli", "sessions", "--store", str(store), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0], proc.stderr
    assert "internal error" not in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_open_atomic_leaves_the_target_untouched_when_the_writer_fails(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), open_atomic(out) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert out.read_text() == "old" and _leftovers(tmp_path) == []


def test_an_enospc_from_the_writer_is_an_output_error(tmp_path: Path) -> None:
    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device"), open_atomic(tmp_path / "o"):
        Full().write(b"x")


# ---- --rejects targets ---------------------------------------------------------------------


def test_rejects_naming_an_input_file_is_refused(tmp_path: Path) -> None:
    inp = tmp_path / "events.jsonl"
    inp.write_text("{}\n")
    with pytest.raises(UsageError, match="a file this command reads") as err:
        check_rejects_target(inp, inputs=[str(inp)])
    assert err.value.exit_code == ExitCode.USAGE
    link = tmp_path / "link.jsonl"
    link.symlink_to(inp)
    with pytest.raises(UsageError, match="a file this command reads"):
        check_rejects_target(link, inputs=[inp])
    (tmp_path / "sub").mkdir()
    with pytest.raises(UsageError, match="a file this command reads"):
        check_rejects_target(inp, inputs=[tmp_path / "sub" / ".." / "events.jsonl"])
    check_rejects_target(tmp_path / "rejects.jsonl", inputs=[inp])  # another file: fine


def test_rejects_inside_the_store_is_refused_but_its_own_rejects_file_is_allowed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    for inside in (root / "lock", root / "CURRENT", root / "snap-1" / "manifest.json", root):
        with pytest.raises(UsageError, match="inside the store"):
            check_rejects_target(inside, store_root=root, allowed=[root / "rejects.jsonl"])
    check_rejects_target(root / "rejects.jsonl", store_root=root, allowed=[root / "rejects.jsonl"])
    check_rejects_target(tmp_path / "rejects.jsonl", store_root=root)
    check_rejects_target("/dev/null", inputs=["/dev/null"], store_root=root)


def test_write_rejects_refuses_an_input_and_writes_safely(tmp_path: Path) -> None:
    inp = tmp_path / "events.jsonl"
    inp.write_text('{"id": 1}\n')
    frame = pl.DataFrame({"file": ["events.jsonl"], "line": [1]})
    with pytest.raises(UsageError):
        files.write_rejects(frame, inp, inputs=[inp])
    assert inp.read_text() == '{"id": 1}\n'
    files.write_rejects(frame, tmp_path / "rejects.jsonl", inputs=[inp])
    assert (tmp_path / "rejects.jsonl").read_text() == '{"file":"events.jsonl","line":1}\n'


def test_sessionize_refuses_rejects_over_an_input_or_into_the_store(tmp_path: Path) -> None:
    from tests.helpers import T0, genesys_line

    inp = tmp_path / "events.jsonl"
    text = genesys_line("a", "v1", T0) + "\n" + "not json\n"
    inp.write_text(text)
    store = tmp_path / "store"
    for target in (inp, store / "lock"):
        res = runner.invoke(
            app,
            ["sessionize", str(inp), "--store", str(store), "-q", "--on-error", "skip",
             "--rejects", str(target)],
        )  # fmt: skip
        assert res.exit_code == ExitCode.USAGE, res.stderr
        assert "--rejects" in res.stderr
    assert inp.read_text() == text


def test_rejects_never_overwrite_the_contacts_file_or_the_o_file(tmp_path: Path) -> None:
    """`--rejects crm.csv` where the store follows crm.csv (or `--contacts X --rejects X`)
    overwrote the contacts with the rejected rows: exit 0, and every later run failed on
    the file. `--rejects F -o F` left F holding the session listing and no rejects, while
    the warning pointed at it. All are refused now (exit 2, nothing written), in the library
    too."""
    from jtrack.engine import run_sessionize
    from jtrack.options import RunOptions
    from jtrack.store import Store
    from tests.helpers import T0, genesys_line

    book = tmp_path / "crm.csv"
    book_text = "contact_id,name,cookie_ids\nC1,Ann,v1\n"
    book.write_text(book_text)
    day1, day2 = tmp_path / "day1.jsonl", tmp_path / "day2.jsonl"
    day1.write_text(genesys_line("a", "v1", T0) + "\n")
    day2.write_text(genesys_line("b", "v1", T0) + "\nnot json\n")
    st = tmp_path / "st"
    res = runner.invoke(app, ["sessionize", str(day1), "--contacts", str(book), "--store", str(st)])
    assert res.exit_code == 0, res.stderr
    version = (st / "CURRENT").read_text()
    skip = ["--on-error", "skip", "-q"]
    cases = [
        (["--store", str(st), "--rejects", str(book)], "the contacts file the store follows"),
        (["--store", str(tmp_path / "st2"), "--contacts", str(book), "--rejects", str(book)],
         "a file this command reads"),
        (["--store", str(st), "--rejects", str(tmp_path / "r.jsonl"), "-o",
          str(tmp_path / "." / "r.jsonl")], "that is the -o file too"),
    ]  # fmt: skip
    for extra, said in cases:
        res = runner.invoke(app, ["sessionize", str(day2), *skip, *extra])
        assert res.exit_code == ExitCode.USAGE, (extra, res.stderr)
        assert said in res.stderr, res.stderr
    assert book.read_text() == book_text
    assert (st / "CURRENT").read_text() == version
    assert not (tmp_path / "st2").exists() and not (tmp_path / "r.jsonl").exists()
    # (a device is written in place, never refused: both to /dev/null is fine)
    res = runner.invoke(
        app, ["sessionize", str(day2), *skip, "--store", str(st), "--rejects", os.devnull,
              "-o", os.devnull],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    version = (st / "CURRENT").read_text()
    for named in (None, str(book)):  # the library: the followed file, the named one
        opts = RunOptions(on_error="skip", rejects_path=str(book), contacts=named)
        with pytest.raises(UsageError, match=r"--rejects .*crm\.csv: that is a file this command"):
            run_sessionize([day2], Store(st), options=opts)
    assert book.read_text() == book_text


def test_an_output_in_a_folder_or_pattern_read_is_refused_when_it_would_be_read(
    tmp_path: Path,
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "day1.jsonl").write_text("{}\n")
    cases = {
        str(exports): ("rejects.jsonl", "sessions.parquet", "x.json.gz"),
        f"{exports}/*": ("rejects.jsonl", "sessions.parquet", "x.json.gz"),
        f"{exports}/*.jsonl": ("rejects.jsonl",),
    }
    for source, names in cases.items():
        for name in names:
            with pytest.raises(UsageError, match="the next run would read it as events"):
                files.check_output_target(exports / name, inputs=[source])
        files.check_output_target(exports / "report.md", inputs=[source])  # never read: fine
    files.check_output_target(tmp_path / "rejects.jsonl", inputs=[exports])
    files.check_output_target(exports / "x.parquet", inputs=[f"{exports}/*.jsonl"])
    # as jtrack's globs read: `*` never crosses a folder nor matches a dot-name; `**` is
    # any folders, none included
    (exports / "out").mkdir()
    files.check_output_target(exports / "out" / "s.jsonl", inputs=[f"{exports}/*.jsonl"])
    files.check_output_target(exports / ".s.jsonl", inputs=[f"{exports}/*.jsonl"])
    for deep in (exports / "s.jsonl", exports / "out" / "s.jsonl"):
        with pytest.raises(UsageError, match="the next run would read it as events"):
            files.check_output_target(deep, inputs=[f"{exports}/**/*.jsonl"])


def _sessions_of(store: Path) -> int:
    res = runner.invoke(app, ["sessions", "--store", str(store), "-f", "csv", "--columns", "id"])
    assert res.exit_code == 0, res.stderr
    return len(res.stdout.splitlines()) - 1


def test_o_never_overwrites_a_file_the_command_reads_nor_the_store(
    store: Path, tmp_path: Path
) -> None:
    """-o naming an export, the contacts file or a file of the store was written over (the
    export lost, the store shrunk to one session): refused, exit 2, nothing changed."""
    events = tmp_path / "events.jsonl"
    text = (ROOT / "sample_data" / "events.jsonl").read_text()
    events.write_text(text)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text((ROOT / "sample_data" / "contacts.csv").read_text())
    new_store = tmp_path / "new"
    sessions = _sessions_of(store)
    part = next((store / "current" / "sessions").glob("*.parquet"))
    before = part.read_bytes()
    calls = [
        ["sessionize", str(events), "--store", str(new_store), "-o", str(events)],
        ["sessionize", str(events), "--store", str(new_store), "-f", "csv",
         "--contacts", str(contacts), "-o", str(contacts)],
        ["usage", str(events), "--month", "2026-10", "-o", str(events)],
        ["report", str(tmp_path), "--month", "2026-10", "-o", str(tmp_path / "more.json")],
        ["sessions", "--store", str(store), "--limit", "1", "-o", str(part)],
        ["sessions", "--store", str(store), "-f", "csv", "--contacts", str(contacts),
         "-o", str(contacts)],
        ["contacts", "--store", str(store), "--contacts", str(contacts), "-o", str(contacts)],
        ["store", "--store", str(store), "-f", "json", "-o", str(store / "current" / "x.json")],
    ]  # fmt: skip
    for args in calls:
        res = runner.invoke(app, args)
        assert res.exit_code == ExitCode.USAGE, (args, res.stderr)
        assert res.stderr.startswith("error: -o ") and "(hint: " in res.stderr, res.stderr
        assert res.stdout == ""
    assert not new_store.exists()  # (refused before the run)
    assert events.read_text() == text
    assert contacts.read_text() == (ROOT / "sample_data" / "contacts.csv").read_text()
    assert part.read_bytes() == before and _sessions_of(store) == sessions
    assert not (tmp_path / "more.json").exists()
    ok = runner.invoke(app, ["sessions", "--store", str(store), "-o", str(tmp_path / "s.csv")])
    assert ok.exit_code == 0 and (tmp_path / "s.csv").exists()


def test_watch_html_is_refused_inside_the_store(store: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["watch", str(tmp_path), "--store", str(store), "--once", "-q",
         "--html", str(store / "live.html")],
    )  # fmt: skip
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "--html" in res.stderr and "inside the store" in res.stderr
    assert not (store / "live.html").exists()


def test_o_never_overwrites_the_store_named_before_store_s_subcommand_nor_its_contacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack store --store S files -o S/CURRENT` wrote over the store's pointer (the store
    unreadable after); `contacts --check FILE -o FILE` over the contacts file; `-o` over the
    contacts file the store follows (read again, as the book, by its next run); and
    `schema -o .jtrack/...` into the default store."""
    monkeypatch.chdir(tmp_path)
    book = tmp_path / "crm.csv"
    book.write_text((ROOT / "sample_data" / "contacts.csv").read_text())
    events = str(ROOT / "sample_data" / "events.jsonl")
    st = tmp_path / "st"
    ok = runner.invoke(app, ["sessionize", events, "--store", str(st), "--contacts", str(book)])
    assert ok.exit_code == 0, ok.stderr
    assert runner.invoke(app, ["sessionize", events, "-q"]).exit_code == 0  # (./.jtrack)
    pointer = (st / "CURRENT").read_text()
    text = book.read_text()
    calls = [
        ["store", "--store", str(st), "files", "-o", str(st / "CURRENT")],
        ["store", "--store", str(st), "-o", str(st / "x.json"), "files"],
        ["store", "--store", str(st), "verify", "-o", str(st / "v.txt")],
        ["contacts", "--check", str(book), "-o", str(book)],
        ["sessionize", events, "--store", str(st), "-f", "csv", "-o", str(book)],
        ["sessions", "--store", str(st), "-f", "csv", "-o", str(book)],
        ["schema", "-o", str(tmp_path / ".jtrack" / "x.json")],
    ]
    for args in calls:
        res = runner.invoke(app, args)
        assert res.exit_code == ExitCode.USAGE, (args, res.stderr)
        assert res.stderr.startswith("error: -o "), res.stderr
    assert (st / "CURRENT").read_text() == pointer and book.read_text() == text
    assert not (st / "x.json").exists() and not (tmp_path / ".jtrack" / "x.json").exists()


def test_the_guard_reads_globs_as_they_read_and_never_trips_on_a_damaged_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A glob reads any file not named as one of no events (`rejects.log`, a name without a
    suffix), through its folder as named or as it resolves; the guard's own reading of the
    store (for the contacts file it follows) made `schema -o` fail on a damaged default
    store; `watch --html` went over the followed contacts file and the config found."""
    exports = tmp_path / "exports"
    exports.mkdir()
    (tmp_path / "link").symlink_to(exports)
    for name in ("rejects.log", "new", "x.jsonl"):
        with pytest.raises(UsageError, match="the next run would read it as events"):
            files.check_output_target(exports / name, inputs=[f"{exports}/*"])
    with pytest.raises(UsageError, match="the next run would read it as events"):
        files.check_output_target(exports / "x.jsonl", inputs=[f"{tmp_path}/link/*.jsonl"])
    files.check_output_target(exports / "report.csv", inputs=[f"{exports}/*"])  # never read

    monkeypatch.chdir(tmp_path)
    book = tmp_path / "crm.csv"
    book.write_text((ROOT / "sample_data" / "contacts.csv").read_text())
    events = str(ROOT / "sample_data" / "events.jsonl")
    assert runner.invoke(app, ["sessionize", events, "--contacts", str(book), "-q"]).exit_code == 0
    (tmp_path / "jtrack.toml").write_text("")
    for target, said in (
        (book, "the contacts file the store follows"),
        (tmp_path / "jtrack.toml", "a file this command reads"),
    ):
        res = runner.invoke(app, ["watch", events, "--once", "-q", "--html", str(target)])
        assert res.exit_code == ExitCode.USAGE and said in res.stderr, res.stderr
    assert book.read_text() == (ROOT / "sample_data" / "contacts.csv").read_text()
    manifest = next((tmp_path / ".jtrack" / "versions").glob("*/manifest.json"))
    manifest.write_bytes(b"\xff\xfe{bad")
    res = runner.invoke(app, ["schema", "-f", "json", "-o", str(tmp_path / "schema.json")])
    assert res.exit_code == 0, res.stderr


def test_the_guard_knows_rotated_copies_and_folders_reached_through_a_link(
    tmp_path: Path,
) -> None:
    """`watch exp/a.jsonl --html exp/a.jsonl.1` wrote a page where the next run reads a
    rotated copy as events; `-o realfar/out.jsonl` with `exp/lnk -> ../realfar` wrote where
    the walk of `exp/` (or `exp/**`) reads it."""
    exp, far = tmp_path / "exp", tmp_path / "realfar"
    exp.mkdir()
    far.mkdir()
    (exp / "lnk").symlink_to(far)
    (exp / "a.jsonl").write_text("{}\n")
    for source, target in (
        (exp / "a.jsonl", exp / "a.jsonl.1"),
        (exp, exp / "b.jsonl-20261205.gz"),
        (f"{exp}/*.jsonl", exp / "a.jsonl.2"),
        (exp, far / "out.jsonl"),
    ):
        with pytest.raises(UsageError, match="the next run would read it as events"):
            files.check_output_target(target, inputs=[source])
    files.check_output_target(far / "out.jsonl", inputs=[f"{exp}/*.jsonl"])  # (not walked)
    files.check_output_target(exp / "a.jsonl.html", inputs=[exp / "a.jsonl"])
    # what no run reads is never refused: a `**` pattern's other parts and hidden folders
    # count; a config or contacts file has no rotated copies read; a link back up (a loop:
    # the run's own error says so) makes no folder "inside"; a target that is a symlink
    # loop is written over, not a traceback
    (exp / "2026-10" / "web").mkdir(parents=True)
    (exp / "2026-10" / "web" / "a.jsonl").write_text("{}\n")
    (exp / ".cache").mkdir()
    for target in (exp / "rejects.jsonl", exp / ".cache" / "x.jsonl"):
        files.check_output_target(target, inputs=[f"{exp}/2026-*/**/*.jsonl"])
    config = tmp_path / "jtrack.toml"
    config.write_text("")
    files.check_output_target(tmp_path / "jtrack.toml.1", inputs=[config])
    loop = tmp_path / "loop"
    (loop / "sub").mkdir(parents=True)
    (loop / "sub" / "up").symlink_to(Path("..") / "..")
    files.check_output_target(tmp_path / "report.json", inputs=[loop])
    selfl = tmp_path / "self.json"
    selfl.symlink_to(selfl)
    files.check_output_target(selfl, inputs=[exp])
