"""What a store's admin meets: bits flipped on disk, a store shared by a group of users,
copies and backups, versions removed under a reader.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.store import Store

#: What jtrack's store files say in their footer: their pages carry a CRC each.
CHECKSUMS = {b"jtrack.page_checksums": b"crc32"}
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"


def _jt(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _split_sample(tmp_path: Path, n: int = 3) -> list[Path]:
    """The sample events in `n` files, as `n` nights' exports."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    size = -(-len(lines) // n)
    out = []
    for i in range(n):
        p = tmp_path / f"night{i}.jsonl"
        p.write_text("".join(lines[i * size : (i + 1) * size]), encoding="utf-8")
        out.append(p)
    return out


def _silent_flip(path: Path) -> None:
    """Flip, in place (as a disk would), one bit inside a data page of `path` where the
    file still decodes, with other values: what a disk's bit rot does that no decoder
    notices."""
    import pyarrow.parquet as pq

    data = path.read_bytes()
    meta = pq.read_metadata(path)
    original = pq.read_table(path)
    probe = path.with_name("probe.parquet")
    for c in range(meta.num_columns):
        chunk = meta.row_group(0).column(c)
        start = chunk.data_page_offset + 32
        for at in range(start, chunk.data_page_offset + chunk.total_compressed_size, 11):
            b = bytearray(data)
            b[at] ^= 4
            probe.write_bytes(bytes(b))
            try:
                changed = not pq.read_table(probe).equals(original)
            except Exception:
                continue
            if changed:
                probe.unlink()
                path.write_bytes(bytes(b))
                return
    raise AssertionError(f"no silent flip found in {path}")


def test_verify_full_finds_a_flipped_bit_by_its_checksum(tmp_path: Path) -> None:
    """A bit flipped inside a page of an index part: `store verify --full` decoded it,
    said "all whole" (exit 0) and `usage` billed other numbers. jtrack's store files carry
    a CRC now (the parts' in the manifest, the others' per page), which --full checks: the
    file is named, exit 1, with the way back."""
    import pyarrow.parquet as pq

    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 2)
    for night in nights:
        assert _jt("sessionize", str(night), "--store", str(root), "-q")[0] == 0
    current = root / "versions" / "v000002"
    part = next(p for p in sorted((current / "index").iterdir()) if p.stat().st_nlink == 1)
    _silent_flip(part)
    code, out, err = _jt("store", "verify", "--full", "--store", str(root), "-f", "csv")
    assert code == 1, err
    rel = f"index/{part.name}"
    changed = "its bytes changed on disk (the CRC32 written with it differs)"
    assert f"v000002,{rel},{changed}" in out, out
    assert f"v000002/{rel} is {changed}" in err, err
    assert f"`jtrack store rollback v000001 --store {root}`" in err, err
    code, out, err = _jt("store", "verify", "--store", str(root))  # (no decoding: no check)
    assert code == 0, err
    # every file jtrack wrote has a CRC: its pages' (segments and the version's own files,
    # written by pyarrow) or its bytes' in the manifest (the parts, written by Polars)
    manifest = json.loads((current / "manifest.json").read_text())
    crcs = {k for p in manifest["parts"] for k in p["crc32"]}
    for f in current.rglob("*.parquet"):
        rel_f = str(f.relative_to(current))
        paged = (pq.read_metadata(f).metadata or {}).items() >= CHECKSUMS.items()
        assert paged or rel_f in crcs, f


def test_verify_full_says_how_many_files_it_could_only_decode(tmp_path: Path) -> None:
    """Files an earlier jtrack wrote carry no page checksums: verify --full says so, once,
    rather than calling them whole; `-f json` has the count (`decoded_only`)."""
    root = tmp_path / "st"
    assert _jt("sessionize", str(SAMPLE), "--store", str(root), "-q")[0] == 0
    # an index part as an earlier jtrack wrote it: no CRC32 in the manifest (Polars writes
    # no page checksums either)
    version = root / "versions" / "v000001"
    manifest = json.loads((version / "manifest.json").read_text())
    part = next(p for p in manifest["parts"] if p["table"] == "index")
    del part["crc32"][f"index/{part['file']}"]
    (version / "manifest.json").unlink()  # (a new file: the manifest cache is keyed by it)
    (version / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = _jt("store", "verify", "--full", "--store", str(root))
    assert code == 0, err
    assert "note: 1 file written before jtrack wrote page checksums" in err, err
    assert "decoded only" in err
    code, out, _ = _jt("store", "verify", "--full", "--store", str(root), "-f", "json", "-q")
    assert code == 0 and json.loads(out)["decoded_only"] == 1
    code, _, err = _jt("store", "verify", "--store", str(root))
    assert code == 0 and "note:" not in err


def test_verify_full_gives_inputs_kept_as_they_were_advice_that_works(tmp_path: Path) -> None:
    """A store just built from canonical Parquet exports (copied as they are: no page
    checksums) was told "a store built anew from its exports has them all": false, a
    rebuild copies them again as they are (the year-in-the-store audit)."""
    from tests.helpers import T0, flat_event, flat_frame

    src = tmp_path / "e.parquet"
    flat_frame([flat_event(f"e{i}", "v1", T0) for i in range(3)]).write_parquet(src)
    root = tmp_path / "st"
    assert _jt("sessionize", str(src), "--store", str(root), "-q")[0] == 0
    code, _, err = _jt("store", "verify", "--full", "--store", str(root))
    assert code == 0, err
    assert "built anew" not in err, err
    assert "note: 1 input kept as it was (Parquet exports copied without re-encoding" in err
    code, out, _ = _jt("store", "verify", "--full", "--store", str(root), "-f", "json", "-q")
    got = json.loads(out)
    assert got["decoded_only"] == got["decoded_only_kept_inputs"] == 1


# --------------------------------------------------------------------- a shared store


def test_readers_folder_and_leases_take_the_store_folders_group_permissions(
    tmp_path: Path,
) -> None:
    """In a store folder shared by a group (chmod 2775), a reader whose umask is 077 made
    `.readers` as drwx--S---: another member's nightly run could not read or clean it
    (exit 1 after it committed). `.readers` and the leases in it get the store folder's
    permissions; one made earlier with fewer is given them by its owner's next read."""
    root = tmp_path / "st"
    root.mkdir()
    os.chmod(root, 0o2775)
    assert run_sessionize([SAMPLE], Store.open(root))
    old = os.umask(0o077)
    try:
        with Store.open(root).snapshot() as snap:
            readers = root / ".readers"
            assert stat.S_IMODE(readers.stat().st_mode) == 0o2775
            lease = snap._lease
            assert lease is not None and stat.S_IMODE(lease.stat().st_mode) == 0o664
        os.chmod(readers, 0o2700)  # (as an earlier jtrack made it)
        with Store.open(root).snapshot():
            assert stat.S_IMODE(readers.stat().st_mode) == 0o2775
    finally:
        os.umask(old)


def test_a_run_that_cannot_clean_another_users_leases_still_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a run committed, removing old versions met `.readers` it could not read, or a
    dead reader's lease it could not delete (another user's): `error: ...: Permission
    denied`, exit 1, though CURRENT had moved. What it cannot read or delete is left (no
    version removed while the leases are unknown); the run exits 0."""
    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 3)
    assert _jt("sessionize", str(nights[0]), "--store", str(root), "-q")[0] == 0
    readers = root / ".readers"
    readers.mkdir(exist_ok=True)
    real_iterdir = Path.iterdir

    def no_listing(self: Path):  # type: ignore[no-untyped-def]
        if self == readers:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", no_listing)
    code, _, err = _jt("sessionize", str(nights[1]), "--store", str(root), "-q", "--keep", "0")
    assert (code, err) == (0, "")
    assert (root / "CURRENT").read_text().strip() == "v000002"
    assert (root / "versions" / "v000001").is_dir()  # (the leases unknown: kept)
    monkeypatch.undo()
    dead = readers / "999999999-deadbeef0000"  # (no such process)
    dead.write_text("v000002")
    real_unlink = Path.unlink

    def not_mine(self: Path, missing_ok: bool = False) -> None:
        if self == dead:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", not_mine)
    code, _, err = _jt("sessionize", str(nights[2]), "--store", str(root), "-q", "--keep", "0")
    assert (code, err) == (0, "")
    assert dead.exists() and (root / "CURRENT").read_text().strip() == "v000003"
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000003"]


def test_a_lease_that_cannot_be_written_stops_no_reading_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk with one free block: a reader's lease took its first write (guarded) and
    failed on its second, the version's name: `error: No space left on device`, exit 1.
    Such a reader reads without a lease, as one who cannot write `.readers` does (README),
    and leaves none behind."""
    import errno

    root = tmp_path / "st"
    assert run_sessionize([SAMPLE], Store.open(root))
    real = Store._write_locked

    def full_disk(self: Store, lease: Path, text: str) -> None:
        if text != "?":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, lease, text)

    monkeypatch.setattr(Store, "_write_locked", full_disk)
    code, out, err = _jt("sessions", "--store", str(root), "-f", "csv")
    assert (code, err) == (0, "") and len(out.splitlines()) > 1
    assert list((root / ".readers").iterdir()) == []
    with Store.open(root).snapshot() as snap:
        assert snap._lease is None and snap.scan_sessions().collect().height


def test_rollback_refuses_a_version_whose_files_are_missing(tmp_path: Path) -> None:
    """A copy of the store without v000001's segments and index (a backup taken while a
    run removed it): `store rollback v000001` said "v000001 is current"; then `sessions`
    printed nothing and `card` and the next run failed on a damaged store."""
    import shutil

    root = tmp_path / "st"
    for night in _split_sample(tmp_path, 3):
        assert _jt("sessionize", str(night), "--store", str(root), "-q", "--keep", "2")[0] == 0
    for sub in ("segments", "index"):
        shutil.rmtree(root / "versions" / "v000001" / sub)
    code, _, err = _jt("store", "rollback", "v000001", "--store", str(root))
    assert code == 1 and f"{root}: v000001 is not whole:" in err, err
    assert f"`jtrack store verify --all --store {root}`" in err
    assert (root / "CURRENT").read_text().strip() == "v000003"
    assert _jt("store", "rollback", "v000002", "--store", str(root), "-q")[0] == 0


def test_a_version_that_cannot_be_removed_whole_is_no_version_and_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run removing an old version whose subfolders it may not empty (another account's)
    removed its manifest and left the rest in versions/: no listing, `verify --all` nor
    `jtrack store` showed the room it took. It is moved out of versions/ first (nothing
    half-removed there for a copy or a rollback to take for whole), and what stays is
    shown by `jtrack store`."""
    import shutil

    import jtrack.store.store as store_module

    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 2)
    assert _jt("sessionize", str(nights[0]), "--store", str(root), "-q")[0] == 0

    def not_index(path: Any, ignore_errors: bool = False, **_: Any) -> None:
        for folder, _dirs, files in os.walk(path, topdown=False):
            if Path(folder).name != "index":  # (files there: another account's)
                for f in files:
                    os.unlink(os.path.join(folder, f))

    monkeypatch.setattr(store_module.shutil, "rmtree", not_index)
    assert _jt("sessionize", str(nights[1]), "--store", str(root), "-q", "--keep", "0")[0] == 0
    monkeypatch.setattr(store_module.shutil, "rmtree", shutil.rmtree)
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000002"]
    code, out, _ = _jt("store", "--store", str(root))
    assert code == 0 and "could not remove whole" in out and ".tmp-gone-v000001-" in out, out
    # (a run killed while it emptied one leaves it too; a run in progress is removing it)
    from jtrack.commands.store import _leftover_words

    assert "was removing when it was stopped" in _leftover_words(False, ".tmp-gone-v1-x")
    assert _leftover_words(True, ".tmp-gone-v1-x") == "an old version a run in progress is removing"


def test_every_way_back_names_the_store_it_was_given(tmp_path: Path) -> None:
    """A backup copy (`cp -a`) without its current version: `sessions --store bkr` hinted
    `jtrack store rollback v000001`, which, followed, acted on $JTRACK_STORE or ./.jtrack,
    not on bkr (`jtrack store --store bkr` named it)."""
    import shutil

    root = tmp_path / "bkr"
    for night in _split_sample(tmp_path, 2):
        assert _jt("sessionize", str(night), "--store", str(root), "-q")[0] == 0
    shutil.rmtree(root / "versions" / "v000002")
    code, _, err = _jt("sessions", "--store", str(root))
    assert code == 1 and f"`jtrack store rollback v000001 --store {root}`" in err, err


def test_keep_is_remembered_by_the_store(tmp_path: Path) -> None:
    """`--keep` was per run: a cron job's `--keep 6`, then one ad-hoc run without it, and
    the store held 3 versions (the default 2 kept), the week's way back gone."""
    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 6)
    for night in nights[:4]:
        assert _jt("sessionize", str(night), "--store", str(root), "-q", "--keep", "6")[0] == 0
    assert _jt("sessionize", str(nights[4]), "--store", str(root), "-q")[0] == 0
    assert len(list((root / "versions").iterdir())) == 5
    code, out, _ = _jt("store", "--store", str(root))
    assert code == 0 and "keeps 6 earlier versions for rollback" in out, out
    assert json.loads(_jt("store", "--store", str(root), "-f", "json")[1])["keep"] == 6
    assert _jt("store", "compact", "--store", str(root), "-q")[0] == 0
    assert len(list((root / "versions").iterdir())) >= 5  # (compact keeps as many too)
    assert _jt("sessionize", str(nights[5]), "--store", str(root), "-q", "--keep", "0")[0] == 0
    assert _jt("store", "compact", "--store", str(root), "-q")[0] == 0
    assert len(list((root / "versions").iterdir())) == 1


def test_compact_remembers_its_keep_and_a_rollback_says_the_keep_it_brings_back(
    tmp_path: Path,
) -> None:
    """`store compact --keep N` used N once and forgot it (the next run went back to the
    store's 2); a rollback brought back the --keep of the version rolled back to without a
    word (the setting is the version's manifest's)."""
    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 4)
    assert _jt("sessionize", str(nights[0]), "--store", str(root), "-q", "--keep", "1")[0] == 0
    for night in nights[1:3]:
        assert _jt("sessionize", str(night), "--store", str(root), "-q")[0] == 0
    code, _, err = _jt("store", "compact", "--store", str(root), "--keep", "5")
    assert code == 0, err
    assert json.loads(_jt("store", "--store", str(root), "-f", "json")[1])["keep"] == 5
    assert _jt("sessionize", str(nights[3]), "--store", str(root), "-q")[0] == 0
    # (the version the first nights wrote stays: with the store's 1, it went)
    assert sorted(p.name for p in (root / "versions").iterdir())[0] == "v000002"
    code, _, err = _jt("store", "compact", "--store", str(root), "--keep", "3")
    assert code == 0 and err.startswith("v0"), err  # (a version written: remembered)
    code, _, err = _jt("store", "compact", "--store", str(root), "--keep", "4")
    assert code == 0, err
    assert err.startswith(
        "nothing to compact (--keep 4 used this once; no version written, so the store goes "
        "on keeping 3 earlier versions"
    ), err
    assert json.loads(_jt("store", "--store", str(root), "-f", "json")[1])["keep"] == 3
    code, _, err = _jt("store", "rollback", "v000003", "--store", str(root))
    assert code == 0, err
    assert err == (
        f"{root}: v000003 is current; it keeps 1 earlier version, the --keep it was written "
        "with (it was 3: a run's --keep changes it)\n"
    )
    code, _, err = _jt("store", "rollback", "v000004", "--store", str(root))
    assert (
        code == 0
        and err
        == f"{root}: v000004 is current; it keeps 5 earlier versions, "
        "the --keep it was written with (it was 1: a run's --keep changes it)\n"
    ), err


def test_store_pin_refuses_when_it_can_hold_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account that cannot write `.readers` takes no lease: `pin` said "v000001 held
    while sh runs" and a run removed the version under the tool. It refuses now, naming why,
    and runs nothing."""
    root = tmp_path / "st"
    assert _jt("sessionize", str(_split_sample(tmp_path, 1)[0]), "--store", str(root), "-q")[0] == 0
    monkeypatch.setattr(Store, "_new_lease", lambda self: None)  # (.readers not writable)
    ran = tmp_path / "ran"
    code, _, err = _jt("store", "pin", "--store", str(root), "--", "touch", str(ran))
    assert code == 1 and not ran.exists(), err
    assert err.startswith(f"error: {root}: cannot hold v000001 for touch: "), err
    assert "a run could remove the version while it reads" in err and err.count("\n") == 1
    # (a store on a read-only mount: no run can remove anything, and pin runs the command)
    import jtrack.commands.store as store_cmd

    monkeypatch.setattr(store_cmd, "_read_only_file_system", lambda path: True)
    code, _, err = _jt("store", "pin", "--store", str(root), "-q", "--", "touch", str(ran))
    assert code == 0 and ran.exists(), err
    ran.unlink()
    monkeypatch.undo()
    code, _, err = _jt("store", "pin", "--store", str(root), "-q", "--", "touch", str(ran))
    assert code == 0 and ran.exists(), err


# --------------------------------------------------------------------- files not there


def test_a_reader_without_a_lease_whose_version_a_run_removed_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader who cannot write `.readers` holds no lease: a run with `--keep 0` removed
    the version it read, and the library raised a raw FileNotFoundError (the CLI: "No such
    file or directory (os error 2) ... check the path"). Now a jtrack StoreError says what
    happened and to run the command again; the CLI says the same of a file gone mid-read."""
    from jtrack.commands._common import _unexpected_message
    from jtrack.errors import StoreError
    from jtrack.options import RunOptions

    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 2)
    assert run_sessionize([nights[0]], Store.open(root))
    reader = Store.open(root)
    monkeypatch.setattr(Store, "_new_lease", lambda self: None)  # (.readers not writable)
    assert reader.scan_sessions().collect().height
    monkeypatch.undo()
    assert run_sessionize([nights[1]], Store.open(root), options=RunOptions(keep=0))
    assert not (root / "versions" / "v000001").exists()
    with pytest.raises(StoreError) as caught:
        reader.scan_events().collect()
    assert "the version being read (v000001) was removed by a run that wrote the store" in str(
        caught.value
    )
    assert caught.value.hint and "run the command again" in caught.value.hint
    gone = root / "versions" / "v000001" / "segments" / "s000001.parquet"
    said = _unexpected_message(FileNotFoundError(f"No such file or directory (os error 2): {gone}"))
    assert said.startswith(f"{root}: the version being read (v000001) was removed"), said
    assert "run the command again" in said and "check the path" not in said


def test_a_missing_part_of_a_version_that_is_there_is_damage_with_the_way_back(
    tmp_path: Path,
) -> None:
    """A part file deleted from the current version: reading commands said "No such file or
    directory (os error 2) ... check the path, the permissions and the free space", where
    `store verify` said the store is damaged and which version to roll back to. They say so
    too now."""
    root = tmp_path / "st"
    for night in _split_sample(tmp_path, 2):
        assert _jt("sessionize", str(night), "--store", str(root), "-q")[0] == 0
    v2 = root / "versions" / "v000002"
    part = next(p for p in sorted((v2 / "sessions").iterdir()) if p.stat().st_nlink == 1)
    part.unlink()
    for args in (["sessions"], ["usage", "--month", "2026-10"]):
        code, _, err = _jt(*args, "--store", str(root))
        assert code == 1, err
        assert err.startswith(f"error: {root}: the store is damaged: {part} is missing"), err
        assert (
            f"`jtrack store rollback v000001 --store {root}`" in err
            and "jtrack store verify" in err
        ), err
        assert err.count("\n") == 1


def test_a_rebuild_over_a_damaged_segment_stops_and_keeps_the_way_back(tmp_path: Path) -> None:
    """A bit flipped in a segment three versions share: `sessionize --rebuild` read it
    without noticing, exited 0 and, by --keep, removed v000002, the only version without
    it (the one the way back names). A rebuild decodes the segments it carries, their
    checksums checked: it stops, naming the file and the way back, and removes nothing."""
    root = tmp_path / "st"
    for night in _split_sample(tmp_path, 5):
        assert _jt("sessionize", str(night), "--store", str(root), "-q", "--keep", "3")[0] == 0
    seg = root / "versions" / "v000005" / "segments" / "s000003.parquet"
    assert seg.stat().st_nlink == 3  # (v000003, v000004, v000005)
    _silent_flip(seg)
    versions = sorted(p.name for p in (root / "versions").iterdir())
    code, _, err = _jt("sessionize", "--rebuild", "--store", str(root), "-q")
    assert code == 1, err
    assert f"the store is damaged: {seg} (unreadable: a page's checksum" in err, err
    assert (
        f"`jtrack store rollback v000002 --store {root}` goes back to a version without it" in err
    ), err
    assert sorted(p.name for p in (root / "versions").iterdir()) == versions
    assert (root / "CURRENT").read_text().strip() == "v000005"


# --------------------------------------------------------------------- copies and backups


def test_a_current_folder_left_by_a_copy_that_followed_links_is_replaced_by_the_link(
    tmp_path: Path,
) -> None:
    """After `cp -rL` (or a zip, an SMB copy) `STORE/current` is a folder: the link could
    not replace it, so it stayed on its version for good (other tools read stale data) and
    messages named `current/rejects.jsonl`, which is not there. `store verify` says so; the
    next run replaces a folder that is a copy of a version by the link (anything else is
    left alone); the rejects file named is the current version's own."""
    import shutil

    root = tmp_path / "st"
    nights = _split_sample(tmp_path, 3)
    for night in nights[:2]:
        assert _jt("sessionize", str(night), "--store", str(root), "-q")[0] == 0
    current = root / "current"
    current.unlink()
    shutil.copytree(root / "versions" / "v000001", current)  # (stale: CURRENT is v000002)
    code, _, err = _jt("store", "verify", "--store", str(root))
    assert code == 1, err
    assert f"{current} is a folder, not the link to versions/v000002" in err, err
    assert "`jtrack store rollback v000002" in err
    assert Store.open(root).rejects_file() == root / "versions" / "v000002" / "rejects.jsonl"
    assert _jt("sessionize", str(nights[2]), "--store", str(root), "-q")[0] == 0
    assert current.is_symlink() and os.readlink(current) == "versions/v000003"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    assert _jt("store", "verify", "--store", str(root))[0] == 0
    current.unlink()
    current.mkdir()
    (current / "notes.txt").write_text("mine")  # (not a copy of a version: never removed)
    assert _jt("store", "rollback", "v000002", "--store", str(root), "-q")[0] == 0
    assert (current / "notes.txt").read_text() == "mine"


def test_jtrack_store_mentions_what_a_killed_run_left(tmp_path: Path) -> None:
    """A run killed at once leaves its `.tmp-v...` folder (3.8 MB, measured), which the
    next run removes: `jtrack store` said nothing of it. One line says it now, with its
    size; `-f json` has it as `leftovers`."""
    root = tmp_path / "st"
    assert _jt("sessionize", str(SAMPLE), "--store", str(root), "-q")[0] == 0
    left = root / ".tmp-v000002-0123abcd"
    (left / "segments").mkdir(parents=True)
    (left / "segments" / "s000002.parquet").write_bytes(b"x" * 3_800_000)
    code, out, err = _jt("store", "--store", str(root))
    assert code == 0, err
    line = ".tmp-v000002-0123abcd: 3.8 MB a killed run left (the next run removes it)"
    assert line in out, out
    assert all(len(x) <= 80 for x in out.splitlines() if ".tmp-" in x)
    code, out, _ = _jt("store", "--store", str(root), "-f", "json")
    assert json.loads(out)["leftovers"] == [
        {"name": left.name, "bytes": 3_800_000, "in_progress": False}
    ]
    # a run that holds the lock is writing it: it said "a killed run left" (an operator
    # invited to remove the folder of a live run), found by the year-in-the-store audit
    from jtrack.locking import exclusive_lock
    from jtrack.store.layout import LOCK

    with exclusive_lock(root / LOCK, 0, lambda: AssertionError("locked")):
        code, out, _ = _jt("store", "--store", str(root))
        assert ".tmp-v000002-0123abcd: 3.8 MB being written by a run in progress" in out, out
        assert all(len(x) <= 80 for x in out.splitlines() if ".tmp-" in x)
        code, out, _ = _jt("store", "--store", str(root), "-f", "json")
        assert json.loads(out)["leftovers"][0]["in_progress"] is True


def test_compaction_stops_on_a_damaged_segment_rather_than_merging_it(tmp_path: Path) -> None:
    """A file that grew (`jtrack watch`) leaves a small segment a run, which compaction
    merges into one: a bit flipped in one was merged into a new segment whose own checksums
    then vouched for it. Compaction checks the pages it reads: it stops, naming the file."""
    live = tmp_path / "live.jsonl"
    live.write_text("")
    root = tmp_path / "st"
    for night in _split_sample(tmp_path, 3):
        with open(live, "a", encoding="utf-8") as fh:
            fh.write(night.read_text(encoding="utf-8"))
        assert _jt("sessionize", str(live), "--store", str(root), "-q", "--keep", "3")[0] == 0
    seg = root / "versions" / "v000003" / "segments" / "s000002.parquet"
    _silent_flip(seg)
    versions = sorted(p.name for p in (root / "versions").iterdir())
    code, _, err = _jt("store", "compact", "--store", str(root), "-q")
    assert code == 1, err
    assert f"the store is damaged: {seg} (unreadable: a page's checksum" in err, err
    assert (
        f"`jtrack store rollback v000001 --store {root}` goes back to a version without it" in err
    ), err
    assert sorted(p.name for p in (root / "versions").iterdir()) == versions
