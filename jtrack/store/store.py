"""A jtrack store directory: the lock, its versions, reader leases and garbage collection.

`Store` is the only way into a store's files. Writers (the engine) take the lock and build a
version with `begin_version`; readers pin a version with `snapshot()` (a lease file tells
writers not to remove it) and read through the Snapshot. The reading methods on Store itself
(`scan_sessions`, `scan_events`, `manifest`, ...) read the version pinned on first use, so one
command sees one version however many reads it makes. Imports Polars only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import stat
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from jtrack.checks import arrow_path, local_path
from jtrack.errors import JtrackError, StoreError, StoreLockedError
from jtrack.locking import exclusive_lock
from jtrack.store.layout import (
    CHECKSUMS,
    CURRENT,
    CURRENT_LINK,
    LOCK,
    MANIFEST,
    READERS,
    REJECTS,
    SEGMENTS,
    STORE_ENV,
    TMP_PREFIX,
    VERSIONS,
    default_store_path,
    file_crc32,
    version_name,
    version_number,
)
from jtrack.store.manifest import Manifest, RunInfo, run_from_json

if TYPE_CHECKING:
    import polars as pl

    from jtrack.store.snapshot import Snapshot
    from jtrack.store.writer import VersionWriter

#: Versions kept besides the current one (for `jtrack store rollback`), unless --keep says.
DEFAULT_KEEP = 2
#: A reader lease older than this is taken as left behind by a reader that died.
LEASE_MAX_AGE = 24 * 3600.0

_OPEN: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _release_all() -> None:
    for store in list(_OPEN):
        store.close()


#: What file systems and desktops put in any folder (a fresh volume's lost+found, Finder's
#: and Explorer's files, snapshot folders): a store's folder may hold them.
_SYSTEM_ENTRIES = frozenset(
    {"lost+found", ".DS_Store", "Thumbs.db", "desktop.ini", ".snapshot", ".snapshots"}
)


def as_store(store: object) -> Store:
    """What a library caller gives as the store (StoreLike): a Store (or a role's view of
    one) as it is, a path (str or PathLike) opened as Store.open opens it; anything else is
    a UsageError, not an AttributeError deep in a read."""
    if isinstance(store, str | os.PathLike):
        return Store.open(store)
    if hasattr(store, "scan_sessions") and hasattr(store, "pinned"):
        return store  # type: ignore[return-value]  # (a Store, or one alike)
    from jtrack.errors import UsageError

    raise UsageError(
        f"store {store!r} is no jtrack store",
        hint="pass a jtrack.store.Store (Store.open(PATH)) or the store's folder",
    )


class Store:
    """A jtrack store directory."""

    def __init__(self, root: str | os.PathLike[str], *, shown: str | None = None) -> None:
        from jtrack.checks import refuse_blank_name

        # (as a path, the current folder: a run would make its store there; `--store ""`
        # is refused alike)
        refuse_blank_name(root, "store", "name the store's folder")
        #: The folder as it was named (`~` and all): what messages and reports show
        self.shown = shown if shown is not None else os.fspath(root)
        #: The folder as an absolute path (`~` expanded), taken when the store is opened:
        #: a later os.chdir (a notebook's `%cd`) leaves it the same store, and no file
        #: name is taken by pyarrow for a URI (a store named `gap:30m`)
        self.root = local_path(root)
        _OPENED.pop(str(self.root), None)  # (the last one opened last)
        _OPENED[str(self.root)] = self.shown
        self._pinned: Snapshot | None = None
        #: Threads sharing this object pin one version between them (see pinned)
        self._pin_lock = threading.Lock()
        #: Remove old versions in a thread of their own (see collect_garbage): for a process
        #: that writes a version every second (`jtrack watch`) and lives on.
        self.background_removal = False

    def __repr__(self) -> str:
        return f"Store({self.shown!r})"

    def __getstate__(self) -> dict[str, Any]:
        """A copy (pickled for another process, deep-copied) reads the store through a
        version of its own: the lock and the pinned version (its lease) stay here."""
        state = self.__dict__.copy()
        state["_pinned"] = None
        del state["_pin_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pin_lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Store:
        """The store in folder `path` (None: $JTRACK_STORE, else ./.jtrack); a blank name is
        a UsageError, as `--store ""` is."""
        return cls(path if path is not None else default_store_path())

    # ------------------------------------------------------------------ versions

    def version_dir(self, name: str) -> Path:
        if version_number(name) is None:  # never a path taken from a file unchecked
            raise StoreError(f"{self.shown}: {name!r} is not a version of this store")
        return self.root / VERSIONS / name

    def session_changes_of(self, name: str, rel: str) -> pl.DataFrame:
        """The `id` and `change` columns of version `name`'s session changes file (`rel`, as
        its manifest names it), read whole (a night's list is small); a file gone or
        unreadable is a StoreError saying what a reader does instead (reload the table:
        the rest of the store is not at fault)."""
        import polars as pl

        path = self.version_dir(name) / rel
        try:
            return pl.read_parquet(path, columns=["id", "change"])
        except (OSError, pl.exceptions.PolarsError) as exc:
            what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(
                f"{self.shown}: the session changes of {name} cannot be read ({what})",
                hint="read the whole session table again (it is whole: only the list of "
                "what changed is lost); `jtrack store verify --full "
                + self.flag
                + "` checks the store's files",
            ) from None

    def current_files(self, table: str) -> list[str]:
        """The files of `table` (sessions, index, segments, duplicates: its file then its
        deltas, held) of the current version, as paths
        through its own folder (STORE/versions/vNNNNNN), not STORE/current: a run that
        switches versions while another tool reads them would leave it a mix of two
        versions, or names that no longer exist there. They stay until retention lets the
        version go (`--keep`)."""
        name = self.current_name()
        m = self.read_manifest(name)
        base = self.version_dir(name) if name is not None else self.root / CURRENT_LINK
        base = self.named(base)  # (as given: `jtrack store files` prints them)
        if table == SEGMENTS:
            return [str(base / SEGMENTS / s.file) for s in m.segments]
        if table == "duplicates":  # (the table's file, then its deltas, oldest first)
            return [str(base / f) for f in [m.duplicates, *m.duplicate_deltas] if f]
        if table == "held":
            return [str(base / m.held)] if m.held else []
        return [str(base / table / p.file) for p in m.parts_of(table)]

    def rejects_file(self) -> Path:
        """Where the current version keeps the rows its runs rejected (JSON lines): through
        the `current` link when it names the current version, else in its own folder (named
        from the store's folder as it was given, as messages name it)."""
        name = self.current_name()
        if name is None or self.link_problem() is None:
            return self.named(self.root / CURRENT_LINK / REJECTS)
        return self.named(self.version_dir(name) / REJECTS)

    def named(self, path: Path) -> Path:
        """A path inside the store as messages and listings show it: from the store's folder
        as it was given (`st/versions/...`), not the absolute folder it is opened as."""
        try:
            return Path(self.shown) / path.relative_to(self.root)
        except ValueError:
            return path

    def current_name(self) -> str | None:
        """The current version's name; None when the store has none yet."""
        try:
            # (bytes that are no text are said below as a name that is no version's)
            name = (self.root / CURRENT).read_text(encoding="utf-8", errors="replace").strip()
        except (FileNotFoundError, NotADirectoryError):
            self._check_not_lost()
            return None
        except OSError as exc:
            at = self.named(Path(exc.filename)) if exc.filename else self.root / CURRENT
            raise StoreError(
                f"{self.shown}: cannot read the store ({at}: {exc.strerror or exc})",
                hint=f"check the permissions of {at} and of the folders above it (in a shared "
                "store, everything a run writes gets the store folder's read bits)",
            ) from None
        if name.startswith("snap-"):
            raise StoreError(
                f"{self.shown}: a store written by an older jtrack (layout 1)",
                hint="rebuild it from its exports into a new directory: "
                "`jtrack sessionize EXPORTS --store NEW_DIR`",
            )
        if version_number(name) is None:
            raise StoreError(
                f"{os.path.join(self.shown, CURRENT)}: names {name[:60]!r}, which is not a "
                "version of this store",
                hint="it was edited by hand or the store is damaged; " + self.rollback_hint(),
            )
        return name

    @property
    def flag(self) -> str:
        """`--store PATH` as a hint's command names this store (so that one followed acts
        on it, not on $JTRACK_STORE or ./.jtrack)."""
        import shlex

        return f"--store {shlex.quote(self.shown)}"

    def rollback_hint(self) -> str:
        """How to make a version current again, naming the newest the store has (`jtrack
        store`, which lists them, may be the command that fails)."""
        names = self.versions()
        if not names:
            return f"`jtrack store rollback VERSION {self.flag}` picks a version"
        return (
            f"`jtrack store rollback {names[-1]} {self.flag}` makes the newest of its "
            f"{len(names)} version{'s' if len(names) != 1 else ''} current "
            f"(`ls {os.path.join(self.shown, VERSIONS)}` lists them)"
        )

    def _check_not_lost(self) -> None:
        """A store without CURRENT whose versions were made current (the `current` link
        names one, or several versions are complete) lost its CURRENT file: refused, so that
        no run starts it again empty and throws its versions away. (A first run killed
        after its version was moved into place, before CURRENT was written, leaves one
        version and no link: a new store, whose next run removes that version.)"""
        names = self.versions()
        linked = (self.root / CURRENT_LINK).is_symlink() or (self.root / CURRENT_LINK).exists()
        if not names or (len(names) == 1 and not linked):
            return
        raise StoreError(
            f"{self.shown}: the store has versions ({', '.join(names[-3:])}) but no CURRENT "
            "file naming the current one",
            hint=f"make one current again with `jtrack store rollback {names[-1]} {self.flag}` "
            f"(the newest; `ls {os.path.join(self.shown, VERSIONS)}` lists them all)",
        )

    def exists(self) -> bool:
        """Whether the store has a current version (a store that lost its CURRENT file is
        refused: _check_not_lost)."""
        if (self.root / CURRENT).is_file():
            return True
        self._check_not_lost()
        return False

    def versions(self) -> list[str]:
        """Every complete version, oldest first."""
        d = self.root / VERSIONS
        if not d.is_dir():
            return []
        found = [
            (n, p.name)
            for p in d.iterdir()
            if (n := version_number(p.name)) is not None and (p / MANIFEST).is_file()
        ]
        return [name for _, name in sorted(found)]

    def read_manifest(self, name: str | None = None) -> Manifest:
        """The manifest of a version (default: the current one)."""
        name = name or self.require_current()
        path = self.version_dir(name) / MANIFEST
        try:
            key = _file_key(path)
            with _MANIFESTS_LOCK:
                hit = _MANIFESTS.get(str(path))
            if hit is not None and hit[0] == key:
                return hit[1].copy()
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StoreError(
                f"{self.named(path)}: the version's manifest is missing",
                hint="the store is damaged; " + self.rollback_hint(),
            ) from None
        except UnicodeDecodeError:  # (bytes that are no text: a raw error before)
            raise StoreError(
                f"{self.named(path)}: the version's manifest is not UTF-8 text",
                hint="the store is damaged; " + self.rollback_hint(),
            ) from None
        try:
            manifest = Manifest.from_json(text, str(self.named(path)))
        except StoreError as exc:  # (the way back named with this store's --store)
            if exc.hint is None or not exc.hint.startswith("the store is damaged; roll back"):
                raise
            hint = "the store is damaged; " + self.rollback_hint()
            raise StoreError(exc.message, hint=hint) from None
        remember_manifest(path, manifest, key)
        return manifest

    def runs(self, name: str | None = None, manifest: Manifest | None = None) -> list[RunInfo]:
        """Every run that wrote a version (default: the current one; `manifest`: its
        manifest, when read already) and its ancestors, oldest first: the run logs' and
        the manifest's."""
        name = name or self.require_current()
        m = manifest or self.read_manifest(name)
        out: list[RunInfo] = []
        for rel in m.run_logs:
            path = self.version_dir(name) / rel
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                raise StoreError(
                    f"{path}: a run log of the version is missing",
                    hint="the store is damaged; " + self.rollback_hint(),
                ) from None
            out += [run_from_json(line) for line in lines if line]
        return out + m.runs

    def require_current(self) -> str:
        """The current version's name; StoreError, saying what is at the path instead (nothing,
        a file, other files), when there is no store there."""
        name = self.current_name()
        if name is None:
            hint = (
                f"run `jtrack sessionize SOURCES... {self.flag}` first, or pass "
                f"--store / set ${STORE_ENV}"
            )
            first = self._first_run()
            if first == "building":
                raise StoreError(
                    f"{self.shown}: a first run is still building this store (it has no "
                    "version to read yet)",
                    hint="run this again once that run has finished",
                )
            if first == "stopped":
                raise StoreError(
                    f"{self.shown}: no jtrack store here: a first run that stopped left only "
                    "its unfinished files",
                    hint=f"run `jtrack sessionize SOURCES... {self.flag}` again: it "
                    "removes them and makes the store",
                )
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                what = "holds other files" if self.root.is_dir() else "is a file"
                hint = (  # (where sessionize would refuse to make one)
                    f"pass the store's folder with --store (or set ${STORE_ENV}): {self.shown} "
                    f"{what}; `jtrack sessionize SOURCES... --store DIR` makes a store in a "
                    "new or empty folder"
                )
            raise StoreError(f"{self.shown}: no jtrack store here", hint=hint)
        return name

    def _first_run(self) -> str | None:
        """What a store folder with no version yet holds, when it holds only what a first
        run makes (its `.lock`, a `.tmp-` version it writes): "building" while a run holds
        the lock, "stopped" when none does (a killed run's leftovers, which the next run
        removes); None for anything else. Whether a run holds the lock is found without
        taking it (being_written: a lock tried, even for an instant, would fail a run that
        starts in that instant); where that cannot be told, by a LOCK_SH tried for an
        instant (the file opened for reading only: a reader may not write the folder)."""
        try:
            names = {p.name for p in self.root.iterdir()}
        except OSError:
            return None
        if LOCK not in names or any(
            n not in (LOCK, READERS) and not n.startswith(TMP_PREFIX) for n in names
        ):
            return None
        live = self.being_written()
        if live is not None:
            return "building" if live else "stopped"
        try:
            fd = os.open(self.root / LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return "building"
        except OSError:  # (no lock to judge by)
            return None
        finally:
            os.close(fd)  # (releases the lock, when it was taken here)
        return "stopped"

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        """The version this Store reads, held for reading (a lease of its own keeps writers
        from removing it until `.close()` or the end of a `with` block): the version the
        Store pinned when it was first read (by `pinned()`, `scan_*`, `list_sessions`...),
        so that what a snapshot reads joins what was read through the Store before, however
        many runs have switched the store since; a Store that has not read yet gives the
        current version each time, pinning nothing (a service that only takes snapshots
        reads each night's version; to join what a snapshot read, read through the
        snapshot's methods, or through the Store after reading it first). `refresh()`
        moves the Store on.

        Its methods (`scan_sessions`, `scan_events`, `events`...) read that version only
        while it is held: a LazyFrame built in a `with` block is collected inside it (or
        the frame kept, collected); collected after, once runs have let the version go, it
        fails with Polars' FileNotFoundError naming the version's files."""
        from jtrack.store.snapshot import Snapshot

        with self._pin_lock:
            pinned = self._pinned
            if pinned is not None:
                lease = self._place_lease(self._new_lease(), pinned.name)
                try:
                    if not (pinned.dir / MANIFEST).is_file():
                        raise version_removed(self, pinned.name)
                except BaseException:
                    if lease is not None:
                        release_lease(lease)
                    raise
                return Snapshot(self, pinned.name, pinned.manifest, lease)
        return self.current_snapshot()  # (a Store not read yet: pinning nothing)

    def current_snapshot(self) -> Snapshot:
        """The current version held for reading, whatever version this Store pins (what a
        run, a compaction or a check of the store reads); release it with `.close()` or a
        `with` block."""
        from jtrack.store.snapshot import Snapshot

        self.require_current()  # (before any lease: a folder that holds no store is not written)
        lease = self._new_lease()
        try:
            for _ in range(100):
                name = self.require_current()
                lease = self._place_lease(lease, name)
                if (self.root / VERSIONS / name / MANIFEST).is_file():
                    return Snapshot(self, name, self.read_manifest(name), lease)
                if self.current_name() == name:  # not switched meanwhile: it is gone
                    others = [v for v in self.versions() if v != name]
                    raise StoreError(
                        f"{self.shown}: the current version {name} has no manifest "
                        "(the store is damaged)",
                        hint=f"`jtrack store rollback {others[-1]} {self.flag}` goes back to "
                        "the newest "
                        "whole version"
                        if others
                        else "rebuild it from its exports: `jtrack sessionize EXPORTS --store "
                        "NEW_DIR`",
                    )
                time.sleep(0.01)  # switched and removed meanwhile: look again
            raise StoreError(
                f"{self.shown}: the store keeps changing under this reader",
                hint="run the command again; if it goes on, look for a process that rewrites "
                "the store's CURRENT in a loop",
            )
        except BaseException:
            if lease is not None:
                release_lease(lease)
            raise

    @contextlib.contextmanager
    def holding(self, name: str) -> Iterator[bool]:
        """Hold version `name` with a lease while it is read (writers leave it alone);
        yields whether it is still there (a run may have let it go before the lease)."""
        lease = self._place_lease(self._new_lease(), name)
        try:
            yield (self.root / VERSIONS / name / MANIFEST).is_file()
        finally:
            if lease is not None:
                release_lease(lease)

    def pinned(self) -> Snapshot:
        """The version this Store object reads (pinned on first use, once: threads that
        share the object and read it first together read one version)."""
        snap = self._pinned
        if snap is not None:
            if snap._lease is None and not (snap.dir / MANIFEST).is_file():
                # (read without a lease, as one who cannot write STORE/.readers, and removed
                # by a run since: said, not a file "not found" halfway through a read)
                raise version_removed(self, snap.name)
            return snap
        with self._pin_lock:
            if self._pinned is None:
                self._pinned = self.current_snapshot()
                _OPEN.add(self)
            return self._pinned

    def _pin(self, snap: Snapshot) -> None:
        """Read `snap` (another Store's pinned version: StoreView.unfiltered)."""
        with self._pin_lock:
            self._pinned = snap

    def another(self) -> Store:
        """The same store read through another object: a version (and a lease) of its own
        (for a thread that should not read the version the others share)."""
        return type(self)(self.root, shown=self.shown)

    def refresh(self) -> None:
        """Let go of the pinned version: the next read sees the current one (call it when
        no other thread is reading through this object: the version it reads is let go)."""
        self.close()

    def close(self) -> None:
        with self._pin_lock:
            snap, self._pinned = self._pinned, None
        if snap is not None:
            snap.close()

    def manifest(self) -> dict[str, Any]:
        """The pinned version's manifest as plain data."""
        return asdict(self.pinned().manifest)

    def scan_sessions(self, customer_id: str | None = None) -> pl.LazyFrame:
        """The session table of the version this Store pins (`jtrack schema --sessions`:
        one row per session, `id`, `customer_id`, `created_date`, `event_count`...), as a
        Polars LazyFrame; `customer_id`: one visitor's sessions (the id exactly as stored:
        `list_sessions(store, SessionQuery(customer=PREFIX))` takes a prefix). Counts are
        UInt32: cast them to Int64 before subtracting (README, "Reading a store with other
        tools")."""
        snap = self.pinned()
        lf = snap.scan_sessions(customer_id)
        from jtrack.options import VISIT_RULE

        if snap.manifest.options.get("visit_rule") != VISIT_RULE:
            from jtrack.core.sessionize import visit_numbers

            # numbered by an earlier rule (every type of session a visit) until the store's
            # next run rebuilds it: read as today's (web sessions only), so that listings,
            # rules and cards agree, and no custom session shows through the numbers
            lf = lf.with_columns(
                visit_number=visit_numbers("customer_id", order_by=["created_date", "id"])
            )
        return lf

    def sessions_with_prefix(
        self, prefixes: Sequence[str], columns: Sequence[str] = (), limit: int | None = None
    ) -> pl.DataFrame:
        """The sessions whose id starts with one of `prefixes`, sorted by id: `id` and
        `columns` (see Snapshot.sessions_with_prefix)."""
        return self.pinned().sessions_with_prefix(prefixes, columns, limit)

    def scan_events(
        self, customer_id: str | None = None, columns: list[str] | None = None
    ) -> pl.LazyFrame:
        """The events the store kept (each event id once), with their `session_id` and
        `session_type`, from the version this Store pins, as a Polars LazyFrame in the
        index's order: `columns` (default every one: `jtrack schema`) and optionally one
        visitor's (`customer_id` exactly as stored). Columns the index holds are cheap;
        the others are read from the wide segments."""
        return self.pinned().scan_events(customer_id, columns)

    def scan_index(self, customer_id: str | None = None) -> pl.LazyFrame:
        """The index of the version this Store pins (`jtrack schema --index`: one narrow
        row per kept event: id, visitor, time, kind, page, session id, and where its wide
        row lives), as a Polars LazyFrame; `customer_id`: one visitor's rows (exactly as
        stored)."""
        return self.pinned().scan_index(customer_id)

    # ------------------------------------------------------------------ leases

    def _new_lease(self) -> Path | None:
        """A lease file of this reader in STORE/.readers, locked for as long as it reads (see
        _leased); where the file system takes no lock, one judged by its PID as before
        (None: the folder cannot be written here: see Snapshot's re-pin when the version
        read is removed meanwhile)."""
        try:
            readers = self._readers()
            name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            lease = readers / (name + LOCKED_LEASE)
            try:
                self._write_lease(lease, "?")
            except _NoLocks:
                lease = readers / name
                self._write_file(lease, "?")
            return lease
        except OSError:
            return None

    def _place_lease(self, lease: Path | None, name: str) -> Path | None:
        """`lease` made to name version `name`; None when that cannot be written (a disk
        with room for the lease's first write, not its second): given back, and the version
        read without a lease, as by one who cannot write STORE/.readers."""
        try:
            self._write_lease(lease, name)
        except OSError:
            if lease is not None:
                release_lease(lease)
            return None
        return lease

    def _shared_mode(self) -> int:
        """The permission bits (and setgid) of the store folder: `.readers` and the leases in
        it get them (a store shared by a group: every member's reads hold the versions they
        read, and any member's run can remove a lease a dead reader left)."""
        try:
            return stat.S_IMODE(os.stat(self.root).st_mode) & (0o777 | stat.S_ISGID)
        except OSError:
            return 0o755

    def _readers(self) -> Path:
        """STORE/.readers, made with the store folder's group and permissions (whatever the
        umask); one this user made earlier with fewer is given them."""
        readers = self.root / READERS
        want = self._shared_mode()
        with contextlib.suppress(FileExistsError):
            readers.mkdir()
        with contextlib.suppress(OSError):
            st = readers.stat()
            if st.st_uid == os.getuid():
                if stat.S_IMODE(st.st_mode) & want != want:
                    os.chmod(readers, stat.S_IMODE(st.st_mode) | want)
                gid = os.stat(self.root).st_gid
                if st.st_gid != gid:  # (no setgid on the store folder; a group of ours)
                    os.chown(readers, -1, gid)
        return readers

    def _write_file(self, path: Path, text: str) -> None:
        """A lease's content, readable by whoever may read the store folder."""
        mode = self._shared_mode() & 0o666
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            with contextlib.suppress(OSError):
                os.fchmod(fd, mode)  # (not the umask's)
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    def _write_lease(self, lease: Path | None, name: str) -> None:
        if lease is None:
            return
        if lease.name.endswith(LOCKED_LEASE):
            self._write_locked(lease, name)
            return
        tmp = lease.with_name(lease.name + ".tmp")
        self._write_file(tmp, name)
        os.replace(tmp, lease)

    def _write_locked(self, lease: Path, text: str) -> None:
        """Make `text` the content of `lease`, a lease this reader holds locked: a new file
        under a temporary name, locked (LOCK_EX), written and renamed over the lease (a
        rename keeps the file, and its lock); then the lock of the file it replaced is let
        go. A writer that judged the temporary file dead (it took its lock first) removed
        it: made again under another name."""
        mode = self._shared_mode() & 0o666
        for _ in range(100):
            tmp = lease.with_name(f"{lease.name}.{uuid.uuid4().hex[:8]}.tmp")
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
            key = _key(fd)
            with _HELD_LOCK:
                _OWN[key] = None  # (being placed: a reader of this process is choosing)
            try:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, mode)  # (not the umask's)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # a writer is judging it: it goes
                    _forget(key)
                    os.close(fd)
                    continue
                except OSError as exc:  # (a file system that takes no lock)
                    raise _NoLocks(exc.errno, str(exc)) from None
                if not _names(tmp, fd):  # (a writer took its lock first, and removed it)
                    _forget(key)
                    os.close(fd)
                    continue
                os.write(fd, text.encode("utf-8"))
                os.replace(tmp, lease)
            except BaseException:
                _forget(key)
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            with _HELD_LOCK:
                before = _HELD.get(str(lease))
                _HELD[str(lease)] = (fd, text)
                _OWN[key] = text
            if before is not None:  # (after the rename: the lease was locked throughout)
                _forget(_key(before[0]))
                os.close(before[0])
            return
        raise OSError(f"{lease}: cannot place the lease")

    def _leased(self) -> set[str] | None:
        """Versions held by live readers; None while a reader is choosing one, or when the
        leases cannot be read (nothing is removed then). A lease a reader locks (named
        `*.flock`) is alive while its lock is held, whatever PID namespace or host the
        reader runs in (its PID is not looked at); one of an earlier jtrack, or of a file
        system that takes no lock, while its PID is alive here. Either is let go after
        LEASE_MAX_AGE when its lock cannot be judged."""
        readers = self.root / READERS
        if not readers.is_dir():
            return set()
        held: set[str] = set()
        now = time.time()
        try:
            leases = list(readers.iterdir())
        except OSError:
            return None  # (another user's folder, not readable here: which versions are held?)
        for lease in leases:
            try:
                key = _key_of(lease)
            except OSError:
                continue  # (gone meanwhile)
            with _HELD_LOCK:
                mine = key in _OWN
                content: str | None = _OWN.get(key)
            if mine:  # (this process's: never opened, see _HELD)
                if content is None:
                    return None  # (being placed: a reader is choosing a version)
            elif LOCKED_LEASE in lease.name:
                content = _locked_content(lease, now)
                if content is None:
                    continue  # (dead, and removed; or gone meanwhile)
                if lease.name.endswith(".tmp"):
                    return None  # a live reader is choosing a version
            else:
                pid_text = lease.name.split("-", 1)[0]
                try:
                    st = lease.stat()
                except OSError:
                    continue  # (gone meanwhile)
                alive = pid_text.isdigit() and _alive(int(pid_text))
                if not alive or now - st.st_mtime > LEASE_MAX_AGE:
                    with contextlib.suppress(OSError):  # (another user's, in a folder not ours)
                        lease.unlink(missing_ok=True)
                    continue
                try:
                    content = lease.read_text(encoding="utf-8")
                except FileNotFoundError:
                    continue
                except OSError:
                    return None  # a live reader's lease this user cannot read: keep everything
            if content is _UNREADABLE:
                return None
            content = (content or "").strip()
            if content in ("?", ""):
                return None
            held.add(content)
        return held

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the store's write lock; wait up to `wait` seconds, then refuse clearly. A
        store folder this made is removed again when the run wrote nothing into it (a first
        run that failed leaves no folder holding only `.lock`)."""
        created = not self.root.exists()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"{self.shown}: is a file, not a store folder",
                hint="a store is a folder: choose a new or empty one with --store",
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.shown}: cannot create the store ({exc.strerror or exc})",
                hint="check the path and its permissions, or choose another --store",
            ) from None
        with (
            _group_umask(self._group_bits() | self._other_bits()),
            exclusive_lock(
                self.root / LOCK,
                wait,
                lambda: StoreLockedError(
                    f"{self.shown}: another jtrack run is writing this store"
                    + (f" (waited {wait:g} s)" if wait > 0 else ""),
                    hint="wait for it to finish, or pass "
                    + ("a longer --wait" if wait > 0 else "--wait SECONDS"),
                ),
            ),
        ):
            try:
                if not created:
                    self._share_own()
                    self._repair_link()
                yield
            finally:
                if created:
                    self._remove_if_unused()

    def _group_bits(self) -> int:
        """The group's permission bits of a store folder the group may write (`chgrp GROUP
        DIR; chmod 2775 DIR`: a store shared by a group), which everything a run creates
        in it gets, whatever the umask; 0 for any other folder (files as the umask makes
        them)."""
        try:
            mode = stat.S_IMODE(os.stat(self.root).st_mode)
        except OSError:
            return 0
        return mode & 0o070 if mode & stat.S_IWGRP else 0

    def _other_bits(self) -> int:
        """The read and search bits the store folder gives others (`chmod 2775 DIR`: 0o005),
        which everything a run creates in it gets too, whatever the umask (umask 027, the
        CIS default, made a service account's versions and CURRENT unreadable to analysts
        outside the group that the folder lets in)."""
        try:
            mode = stat.S_IMODE(os.stat(self.root).st_mode)
        except OSError:
            return 0
        # (of a store shared by a group only: a private store's files stay as the umask
        # makes them, a folder left 0755 by mkdir notwithstanding)
        return mode & 0o005 if mode & stat.S_IWGRP else 0

    def _share_own(self) -> None:
        """`.lock` and `versions/` given the group's bits (and the others' the folder has)
        when this user made them without (a run of an earlier jtrack under umask 022, or
        one under umask 027): another member's run opens the one and writes the other, and
        a reader the folder lets in reads it. (Called holding the lock.)"""
        bits = self._group_bits() | self._other_bits()
        if not bits:
            return
        for path in (self.root / LOCK, self.root / VERSIONS):
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                mode = stat.S_IMODE(st.st_mode)
                lock = path.name == LOCK  # (a file: no x bit; an earlier jtrack gave it 0674)
                want = bits & 0o666 if lock else bits
                new = (mode & ~0o111 if lock else mode) | want
                if st.st_uid == os.getuid() and new != mode and not path.is_symlink():
                    os.chmod(path, new)

    def point_link(self, name: str) -> None:
        """`current` -> versions/<name>, for other tools (best effort: it is a convenience;
        CURRENT is what jtrack goes by)."""
        link = self.root / f".{CURRENT_LINK}.{uuid.uuid4().hex[:8]}"
        try:
            os.symlink(f"{VERSIONS}/{name}", link)
            self._drop_copied_link()
            os.replace(link, self.root / CURRENT_LINK)
        except OSError:
            link.unlink(missing_ok=True)

    def _drop_copied_link(self) -> None:
        """A `current` that is a folder, not the link (a copy that followed symlinks: `cp
        -rL`, zip, an SMB copy) cannot be replaced by one, and stayed on its version for
        good: moved out of the way (a `.tmp-` folder: removed) when it is a copy of a
        version of this store (its manifest is one of theirs), never anything else."""
        here = self.root / CURRENT_LINK
        if here.is_symlink() or not here.is_dir():
            return
        try:
            mine = (here / MANIFEST).read_bytes()
        except OSError:
            return
        for name in reversed(self.versions()):
            try:
                if (self.version_dir(name) / MANIFEST).read_bytes() == mine:
                    break
            except OSError:
                continue
        else:
            return  # (not a copy of a version: left alone)
        trash = self.root / f"{TMP_PREFIX}current-{uuid.uuid4().hex[:8]}"
        os.rename(here, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def link_problem(self) -> str | None:
        """What is wrong with the `current` link, which other tools read: None when it
        names the version CURRENT names."""
        name = self.current_name()
        here = self.root / CURRENT_LINK
        if name is None:
            return None
        if here.is_symlink():
            target = os.readlink(here)
            if target == f"{VERSIONS}/{name}":
                return None
            return f"{here} names {target}, not {VERSIONS}/{name} (the current version)"
        if here.is_dir():
            with contextlib.suppress(OSError):  # (a copy of the current version: still right)
                mine = (here / MANIFEST).read_bytes()
                if mine == (self.version_dir(name) / MANIFEST).read_bytes():
                    return None
            return (
                f"{here} is a folder, not the link to {VERSIONS}/{name} (a copy that followed "
                "symlinks): other tools reading it read a version that is not current"
            )
        return None  # (none: a file system without symlinks; other tools go by CURRENT)

    def _repair_link(self) -> None:
        """Point `current` at the version CURRENT names, when they differ: a run killed
        between the two (or a power cut) left the link on the previous version, where other
        tools would read it, through any number of runs that find nothing new. (Called
        holding the lock.)"""
        try:
            name = self.current_name()
        except JtrackError:
            return  # (a damaged store: the command says so)
        if name is None or not (self.root / VERSIONS / name).is_dir():
            return
        try:
            linked = os.readlink(self.root / CURRENT_LINK)
        except OSError:
            linked = None
        if linked != f"{VERSIONS}/{name}":
            self.point_link(name)

    def _remove_if_unused(self) -> None:
        """The store folder, if it holds nothing but its lock (called holding the lock, which
        is deleted first: a run waiting for it then locks the file at the path again, see
        jtrack.locking)."""
        try:
            if {p.name for p in self.root.iterdir()} != {LOCK}:
                return
            (self.root / LOCK).unlink()
            self.root.rmdir()
        except OSError:
            pass

    def foreign_entries(self) -> list[str]:
        """What the store folder holds that no jtrack store does (sorted names): a folder of
        exports or of other work named as `--store` by mistake."""
        own = {CURRENT, CURRENT_LINK, VERSIONS, LOCK, READERS, f"{CURRENT}.tmp"}
        try:
            names = [p.name for p in self.root.iterdir()]
        except OSError:
            return []
        return sorted(
            n
            for n in names
            if n not in own
            and n not in _SYSTEM_ENTRIES
            and not n.startswith((TMP_PREFIX, ".current.", ".nfs", "._", ".Trash-"))
        )

    def begin_version(self, base: Manifest | None) -> VersionWriter:
        """Start writing the next version on top of `base` (the caller holds the lock)."""
        from jtrack.store.writer import VersionWriter

        self.remove_leftovers()
        taken = [version_number(n) or 0 for n in self.versions()]
        number = max([*taken, base.version if base else 0]) + 1
        return VersionWriter(self, base, number)

    def leftovers(self) -> list[tuple[str, int | None]]:
        """The `.tmp-*` folders in the store (a version a run is writing, one a killed run
        left, which the next run removes, or an old version a run could not remove whole:
        `.tmp-gone-*`) and the version folders that lost their manifest (half-removed in
        place: `versions/NAME`, never read), and the bytes each holds of its own (files not
        shared with a version by a hard link; None: a folder this account cannot read
        whole), by name."""
        found: list[tuple[str, Path]] = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return []
        for p in entries:
            if p.name.startswith(TMP_PREFIX) and not p.is_symlink() and p.is_dir():
                found.append((p.name, p))
        versions = self.root / VERSIONS
        with contextlib.suppress(OSError):
            for p in sorted(versions.iterdir()) if versions.is_dir() else []:
                if version_number(p.name) is not None and not (p / MANIFEST).exists():
                    found.append((f"{VERSIONS}/{p.name}", p))
        out: list[tuple[str, int | None]] = []
        for name, p in found:
            size = 0
            unreadable: list[OSError] = []
            for folder, _, files in os.walk(p, onerror=unreadable.append):
                for f in files:
                    with contextlib.suppress(OSError):
                        st = os.lstat(os.path.join(folder, f))
                        size += st.st_size if st.st_nlink == 1 else 0
            out.append((name, None if unreadable else size))
        return out

    def being_written(self) -> bool | None:
        """Whether a run holds the store's lock now (its `.tmp-*` folder is no leftover);
        None where that cannot be told without taking the lock."""
        from jtrack.locking import lock_in_use

        return lock_in_use(self.root / LOCK)

    @contextlib.contextmanager
    def scratch(self, what: str) -> Iterator[Path]:
        """A `.tmp-WHAT-*` folder's path in the store for a run's temporary files (standard
        input spooled: the personal data it holds stays with the store), not created here:
        kept from remove_leftovers while the run uses it, removed after; one a killed run
        left is removed by the next run, as its half-written version is."""
        folder = self.root / f"{TMP_PREFIX}{what}-{uuid.uuid4().hex[:8]}"
        _IN_USE.add(folder)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            _IN_USE.discard(folder)

    def remove_leftovers(self) -> None:
        """Remove what crashed runs left behind: only `.tmp-*` directories of this store."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if p in _REMOVING or p in _IN_USE:  # this process's thread is on it
                continue
            if p.name.startswith(TMP_PREFIX) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.name in (f"{CURRENT}.tmp",) or (
                p.name.startswith(".current.") and p.is_symlink()
            ):
                with contextlib.suppress(OSError):  # (left: replaced when written again)
                    p.unlink(missing_ok=True)

    def collect_garbage(self, keep: int = DEFAULT_KEEP) -> list[str]:
        """`_collect_garbage`, which never fails a run that committed: what it cannot remove
        (another user's lease or version, in a folder not writable here) is left."""
        try:
            return self._collect_garbage(keep)
        except OSError:
            return []

    def _collect_garbage(self, keep: int = DEFAULT_KEEP) -> list[str]:
        """Remove versions no one needs, unless a reader holds them: kept are the current
        one, the `keep` it was written on (its base, that one's base, ...: after a rollback
        and a run, the version rolled back to, not the ones abandoned), the newest of the
        older ones when that line stops at a version that does not say its base, and any
        newer than the current (what a rollback went back from, until the next run).
        Returns the names removed."""
        current = self.current_name()
        try:
            leased = self._leased()
        except OSError:
            leased = None
        if leased is None:  # a reader is choosing a version right now: next time
            return []
        names = self.versions()
        if keep < 0:
            return []
        rank = version_number(current) if current is not None else None
        # newer than the current: what a rollback went back from (kept until the next run)
        newer = {n for n in names if rank is not None and (version_number(n) or 0) > rank}
        line: list[str] = []  # the current's base, that one's base, ...
        counted = 0  # ... less the bases of compactions (the same events in more files)
        at = current
        recorded = True  # (False: a version an earlier jtrack wrote does not say its base)
        while at is not None and counted < keep:
            recorded, base, compacted = self._base_of(at)
            at = version_name(base) if base is not None else None
            if at is None or at not in names:  # the first version, or its base is gone
                break
            line.append(at)
            counted += not compacted
        wanted = {*line, *newer, *([current] if current is not None else [])}
        # a line cut short by an unknown base (an earlier jtrack's version): the newest of
        # those older than where it stops, which is what its base line was (never the ones
        # a rollback went back from, between the current and the version rolled back to)
        last = line[-1] if line else current
        below = version_number(last) if last is not None else None
        for name in reversed(names):
            if recorded or counted >= keep:
                break
            older = below is None or (version_number(name) or 0) < below
            if name not in wanted and older:
                wanted.add(name)
                line.append(name)
                counted += 1
        removed = []
        for name in names:
            if name in wanted or name in leased:
                continue
            path = self.version_dir(name)
            # out of versions/ at once (a rename), so that no copy or rollback ever meets it
            # half-removed and takes it for whole; what cannot be removed stays a `.tmp-gone-`
            # folder, which `jtrack store` shows and the next run tries again. With
            # `background_removal` its files are removed by a thread: after an hour of
            # `jtrack watch` a version has thousands, and the next run need not wait for them
            trash = self.root / f"{TMP_PREFIX}gone-{name}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(path, trash)
            except OSError:  # (its manifest first: a version without one is never read)
                with contextlib.suppress(OSError):
                    (path / MANIFEST).unlink()
                shutil.rmtree(path, ignore_errors=True)
            else:
                if self.background_removal:
                    _REMOVING.add(trash)
                    threading.Thread(target=_remove, args=(trash,), daemon=True).start()
                else:
                    shutil.rmtree(trash, ignore_errors=True)
            removed.append(name)
        return removed

    def _base_of(self, name: str) -> tuple[bool, int | None, bool]:
        """Whether the manifest of version `name` records its base, the version it was
        written on (None: none, the store's first), and whether compaction wrote it, from
        the manifest's first line (the head's plain fields; the long lists follow)."""
        try:
            with open(self.version_dir(name) / MANIFEST, encoding="utf-8") as fh:
                head = json.loads(fh.readline().rstrip("\n") + "}")
        except (OSError, ValueError):
            return False, None, False
        if not isinstance(head, dict) or "base" not in head:
            return False, None, False
        base = head["base"]
        return True, base if isinstance(base, int) else None, head.get("compacted") is True

    def without_checksums(self, name: str | None = None) -> list[str]:
        """The Parquet files of version `name` (None: the current one) whose pages carry no
        checksum (see has_checksums): `verify(full=True)` decodes them, and can say no more
        (compaction and `jtrack sessionize --rebuild` write them again, with checksums)."""
        name = name or self.require_current()
        folder = self.version_dir(name)
        manifest = self.read_manifest(name)
        crcs = known_crcs(manifest)
        return [
            rel
            for rel in manifest.files()
            if rel.endswith(".parquet")
            and rel not in crcs
            and (folder / rel).is_file()
            and not has_checksums(folder / rel)
        ]

    def verify(self, name: str | None = None, full: bool = False) -> list[Damage]:
        """What is wrong with the files of version `name` (None: the current one); see
        verify_version."""
        return verify_version(self, name or self.require_current(), full)

    def _erased_now(self) -> tuple[set[str], set[str]]:
        """The erased visitors' and contacts' hashes every version of the store knows of
        (the newest record: each erase keeps the ones before it)."""
        visitors: set[str] = set()
        contacts: set[str] = set()
        for v in self.versions():
            with contextlib.suppress(JtrackError, OSError):
                record = self.read_manifest(v).erased or {}
                visitors |= set(record.get("visitors") or ())
                contacts |= set(record.get("contacts") or ())
        return visitors, contacts

    def holding_erased(self) -> list[str]:
        """The versions that hold data `jtrack store erase` took out since they were
        written: left while a reader used them (an erase removes every other earlier
        version), until the next run or `jtrack store compact` removes them. Never current
        again (rollback refuses them)."""
        visitors, contacts = self._erased_now()
        if not visitors and not contacts:
            return []
        out = []
        for v in self.versions():
            with contextlib.suppress(JtrackError, OSError):
                record = self.read_manifest(v).erased or {}
                if visitors - set(record.get("visitors") or ()) or contacts - set(
                    record.get("contacts") or ()
                ):
                    out.append(v)
        return out

    def rollback(self, name: str) -> None:
        """Make an earlier (complete) version current again. The caller holds the lock."""
        from jtrack.store.layout import fsync_dir

        if not self.versions():
            raise StoreError(
                f"{self.shown}: no jtrack store here",
                hint="pass the store's folder with --store (or set $" + STORE_ENV + ")",
            )
        if name not in self.versions():
            raise StoreError(
                f"{self.shown}: no version {name!r}",
                hint=f"list them with `jtrack store {self.flag}`",
            )
        folder = self.version_dir(name)
        missing = [rel for rel in self.read_manifest(name).files() if not (folder / rel).is_file()]
        if missing:  # (half-removed, or files deleted by hand: what `store verify` checks first)
            raise StoreError(
                f"{self.shown}: {name} is not whole: {len(missing):,} of its files "
                f"{'are' if len(missing) > 1 else 'is'} missing "
                f"({self.named(folder / missing[0])}{', ...' if len(missing) > 1 else ''})",
                hint=f"`jtrack store verify --all {self.flag}` lists the versions and "
                "their damage; roll back to a whole one",
            )
        if name in self.holding_erased():
            raise StoreError(
                f"{self.shown}: {name} holds data `jtrack store erase` took out since (it was "
                "left for a reader that used it); it cannot be made current again",
                hint=f"`jtrack store compact {self.flag}` removes it once no reader uses it (and "
                f"so does the next run); list the versions with `jtrack store {self.flag}`",
            )
        tmp = self.root / f"{CURRENT}.tmp"
        tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(tmp, self.root / CURRENT)
        fsync_dir(self.root)
        self.point_link(name)


#: The folders of the stores this process opened, in order, with their names as given (to
#: name a damaged file when a read fails: damaged_file_error).
_OPENED: dict[str, str] = {}


@dataclass(frozen=True)
class Damage:
    """A file of a store version that is not what the manifest says it is."""

    version: str
    file: str  # relative to the version's folder
    problem: str


#: Columns every file of a table has (whatever jtrack wrote it): a file without them is
#: another file put in its place.
_CORE_COLUMNS = {
    "segments": ("event_id", "customer_id", "created_date"),
    "index": ("bucket", "customer_id", "created_date", "event_id", "session_id", "segment", "row"),
    "sessions": ("id", "bucket", "customer_id", "created_date"),
    "duplicates": ("event_id", "_pos", "status"),  # (the deltas: DUPLICATE_DELTAS)
}


def _decode_parquet(path: Path) -> None:
    """Decode every value of a Parquet file, one column of one row group at a time: memory
    of one column chunk, not of the file (a canonical input kept as a segment may be a
    gigabyte and more). Raises what a damaged page raises (an OSError or PolarsError)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # (pages written with a CRC have it checked: a flipped bit that still decodes)
        with pq.ParquetFile(arrow_path(path), page_checksum_verification=True) as pf:
            names = pf.schema_arrow.names
            for group in range(pf.num_row_groups):
                for column in names:
                    pf.read_row_group(group, columns=[column])
    except (pa.ArrowException, OSError) as exc:  # (ArrowInvalid, ...: damage inside a page)
        text = str(exc) or type(exc).__name__
        if "CRC checksum verification failed" in text:
            text = "a page's checksum does not match its bytes (changed on disk)"
        raise OSError(text) from exc


def has_checksums(path: Path) -> bool:
    """Whether a store's Parquet file says its pages carry checksums (CHECKSUMS, which
    jtrack writes in the footer of every file it writes): False for an earlier jtrack's
    files and for inputs kept as segments as they were, which verify can only decode."""
    import pyarrow.parquet as pq

    try:
        kv = pq.read_metadata(arrow_path(path)).metadata or {}
    except (OSError, ValueError):
        return False
    return all(kv.get(k) == v for k, v in CHECKSUMS.items())


def known_crcs(manifest: Manifest) -> dict[str, int]:
    """The CRC32 of the files the manifest's parts wrote (PartInfo.crc32), by path."""
    out: dict[str, int] = {}
    for p in manifest.parts:
        out.update(p.crc32 or {})
    return out


def verify_version(store: Store, name: str, full: bool = False) -> list[Damage]:
    """What is wrong with the files of version `name`: missing, not whole Parquet (its
    first and last bytes), a Parquet footer that cannot be read, or rows other than the
    manifest's; with `full`, every row of every file decoded too (damage inside a file).
    Versions share the files they have in common (hard links), so damage to one is damage
    to every version that holds it."""
    import polars as pl

    manifest = store.read_manifest(name)
    folder = store.version_dir(name)
    rows = {f"segments/{s.file}": s.rows for s in manifest.segments}
    rows.update({f"{p.table}/{p.file}": p.rows for p in manifest.parts})
    crcs = known_crcs(manifest)
    out: list[Damage] = []
    for rel in manifest.files():
        path = folder / rel
        problem = None
        try:
            if not path.is_file():
                problem = "missing"
            elif path.suffix == ".parquet":
                if not _whole_parquet(path):
                    problem = "not a whole Parquet file"
                else:
                    scan = pl.scan_parquet(path, glob=False)
                    n = scan.select(pl.len()).collect().item()
                    names = scan.collect_schema().names()
                    core = _CORE_COLUMNS.get(rel.split("/", 1)[0], ())
                    lacking = [c for c in core if c not in names]
                    if lacking:  # (another Parquet file in its place)
                        problem = f"a Parquet file without {', '.join(lacking)}"
                    elif rel in rows and n != rows[rel]:
                        problem = (
                            f"{n:,} row{'s' if n != 1 else ''} where the manifest says "
                            f"{rows[rel]:,}"
                        )
                    elif full:
                        _decode_parquet(path)  # (damage that does not decode said first)
                        if rel in crcs and file_crc32(path) != crcs[rel]:
                            problem = (
                                "its bytes changed on disk (the CRC32 written with it differs)"
                            )
            elif full:
                path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problem = f"unreadable: {first}"
        if problem is not None:
            out.append(Damage(name, rel, problem))
    return out


def ways_back(store: Store, name: str, damaged: Sequence[str]) -> list[str]:
    """The versions (oldest first) but `name` that do not hold the `damaged` files of
    `name` (paths in its folder: not the same file, as a version sharing it by a hard link
    would, or not there at all) and whose Parquet files all look whole: those a rollback
    can go to."""
    bad: list[tuple[str, os.stat_result | None]] = []
    for rel in damaged:
        try:
            bad.append((rel, os.stat(store.version_dir(name) / rel)))
        except OSError:
            bad.append((rel, None))  # (missing: any other version's copy will do)
    out = []
    for v in store.versions():
        if v == name:
            continue
        try:
            folder = store.version_dir(v)
            shared = False
            for rel, st in bad:
                try:
                    other = os.stat(folder / rel)
                except FileNotFoundError:
                    continue
                if st is not None and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    shared = True
                    break
            if not shared and _whole_version(store, v):
                out.append(v)
        except (OSError, StoreError):
            continue
    return out


#: Said after the way back from a damaged file a run or a reading command met.
VERIFY_HINT = "; `jtrack store verify` lists every damaged file"


def damaged_hint(store: Store, name: str, damaged: Sequence[str]) -> str:
    """What to do about the `damaged` files (paths in its folder) of version `name`: roll
    back to the newest version that does not hold them, else rebuild from the exports."""
    back = ways_back(store, name, damaged)
    earlier = [v for v in back if (version_number(v) or 0) < (version_number(name) or 0)]
    if earlier:
        return (
            f"`jtrack store rollback {earlier[-1]} {store.flag}` goes back to a version without it"
        )
    if back:  # (after a rollback: the versions rolled back from)
        return (
            f"`jtrack store rollback {back[-1]} {store.flag}` makes a later version without "
            "it current "
            "(the one rolled back from)"
        )
    return "rebuild it from its exports: `jtrack sessionize EXPORTS --store NEW_DIR`"


#: damaged_file_error decodes a store's Parquet files (one at a time, to find damage inside
#: one) when they hold at most this many bytes (decoded, some six times as many); a bigger
#: store is left to `jtrack store verify --full`, which the message names.
FULL_CHECK_BYTES = 256 << 20


def damaged_file_error() -> StoreError | None:
    """When reading failed on a Parquet file: the StoreError that names it, for a store this
    process opened (the newest first) whose current version holds a damaged file: one that
    is not whole Parquet (each file's first and last 4 bytes are read), else, when the
    version's files hold at most FULL_CHECK_BYTES, one that cannot be decoded (damage inside
    it, which Polars reported without naming the file); None when none is found."""
    versions: list[tuple[Store, str, Path, list[str]]] = []
    for root, shown in reversed(list(_OPENED.items())):
        store = Store(root, shown=shown)
        try:
            name = store.current_name()
            if name is None:
                continue
            files = store.read_manifest(name).files()
        except (OSError, StoreError):
            continue
        parquet = [rel for rel in files if rel.endswith(".parquet")]
        versions.append((store, name, store.version_dir(name), parquet))
    for store, name, folder, parquet in versions:  # a file cut short or overwritten
        try:
            for rel in parquet:
                if not _whole_parquet(folder / rel):
                    return StoreError(
                        f"{store.shown}: the store is damaged: "
                        f"{store.named(folder / rel)} is not a whole Parquet file",
                        hint=damaged_hint(store, name, [rel]) + VERIFY_HINT,
                    )
        except (OSError, StoreError):
            continue
    for store, name, folder, parquet in versions:  # damage inside a file
        try:
            if sum((folder / rel).stat().st_size for rel in parquet) > FULL_CHECK_BYTES:
                continue
            for damage in verify_version(store, name, full=True):
                return StoreError(
                    f"{store.shown}: the store is damaged: {store.named(folder / damage.file)} "
                    f"({damage.problem})",
                    hint=damaged_hint(store, name, [damage.file])
                    + "; `jtrack store verify --full` lists every damaged file",
                )
        except (OSError, StoreError):
            continue
    return None


def version_removed(store: Store, name: str) -> StoreError:
    """Version `name`, being read, was removed by a run (its reader held no lease)."""
    readers = store.root / READERS
    writable = os.access(readers if readers.is_dir() else store.root, os.W_OK)
    why = "" if writable else f" (no lease: {readers} is not writable for you)"
    return StoreError(
        f"{store.shown}: the version being read ({name}) was removed by a run that wrote the "
        f"store meanwhile{why}",
        hint="run the command again"
        + ("" if writable else "; the store's owner can make .readers writable for its group"),
    )


def missing_file_error(text: str) -> StoreError | None:
    """When reading failed on a file that is not there (`text`: the error's message, which
    names it): for a file of a version of a store this process opened, the StoreError that
    says what happened. The version gone (a run removed it while it was read: a reader
    without a lease, as one who cannot write STORE/.readers is): run the command again; the
    version there but the file not: the store is damaged, with the way back."""
    import re

    # (Polars cuts a long path short at its start: ".../st/versions/v000002/index/p.parquet")
    m = re.search(r"(\S*)\b" + VERSIONS + r"/(v\d{6,})/(\S+)", text)
    if m is None:
        return None
    head, name, rel = m.group(1).lstrip("."), m.group(2), m.group(3)
    for root, shown in reversed(list(_OPENED.items())):
        store = Store(root, shown=shown)
        if not (os.path.join(root, "") if root not in ("", ".") else "").endswith(head):
            continue  # (another store's)
        path = store.root / VERSIONS / name / rel
        try:
            current = store.current_name()
        except JtrackError:
            current = None
        if not (store.root / VERSIONS / name / MANIFEST).is_file() and current != name:
            return version_removed(store, name)
        try:
            hint = damaged_hint(store, name, [rel]) + VERIFY_HINT
        except (OSError, JtrackError):
            hint = "`jtrack store verify` lists every damaged file; " + store.rollback_hint()
        return StoreError(
            f"{store.shown}: the store is damaged: {store.named(path)} is missing", hint=hint
        )
    return None


def _whole_version(store: Store, name: str) -> bool:
    folder = store.version_dir(name)
    files = store.read_manifest(name).files()
    return all(_whole_parquet(folder / f) for f in files if f.endswith(".parquet"))


#: _whole_parquet's answers by file identity: a process that commits many versions (`jtrack
#: watch`) looks at each file it carries over once, not at every commit.
_WHOLE_SEEN: set[tuple[int, int, int, int]] = set()


def carried_damage(paths: Sequence[str]) -> str | None:
    """The first of `paths` (Parquet files a new version takes over from its base) that is
    not whole, so that a run does not commit a version on top of a damaged file (which every
    later version would share); None when all look whole."""
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue  # (linking it says it is missing)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key in _WHOLE_SEEN:
            continue
        if not _whole_parquet(Path(path)):
            return path
        if len(_WHOLE_SEEN) > 200_000:
            _WHOLE_SEEN.clear()
        _WHOLE_SEEN.add(key)
    return None


def _whole_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0, os.SEEK_END)
            if fh.tell() < 12:
                return False
            fh.seek(-4, os.SEEK_END)
            return head == b"PAR1" and fh.read(4) == b"PAR1"
    except FileNotFoundError:
        return False


#: Manifests this process read or wrote (a copy each), by path and file identity: a
#: version's manifest is written once and never changed, and a process that writes a
#: version a second (`jtrack watch`: its runs and its view) parses each once, not thrice
#: (0.055 s each at 4,800 segments). Callers get copies of their own.
_MANIFESTS: dict[str, tuple[tuple[int, int, int, int], Manifest]] = {}
#: Manifests kept (the current ones of a few stores).
_MANIFESTS_KEPT = 4
#: (the runs and the hour's tables of `jtrack watch` read manifests from two threads)
_MANIFESTS_LOCK = threading.Lock()


def _file_key(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def remember_manifest(
    path: Path, manifest: Manifest, key: tuple[int, int, int, int] | None = None
) -> None:
    """Keep a copy of `manifest`, the content of the file at `path` (whose identity is
    `key`, when known)."""
    key = key or _file_key(path)
    kept = manifest.copy()  # (the cached one is never handed out, nor changed)
    with _MANIFESTS_LOCK:
        _MANIFESTS.pop(str(path), None)
        _MANIFESTS[str(path)] = (key, kept)
        while len(_MANIFESTS) > _MANIFESTS_KEPT:
            del _MANIFESTS[next(iter(_MANIFESTS))]


#: Old versions this process's threads are removing (see Store.collect_garbage).
_REMOVING: set[Path] = set()
#: Temporary folders this process's runs are using (see Store.scratch).
_IN_USE: set[Path] = set()


def _remove(path: Path) -> None:
    try:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        _REMOVING.discard(path)


#: The umask of the process before a group's store lock cleared its group bits (see
#: _group_umask), and how many such locks are held.
_UMASK: list[int] = []
_UMASK_LOCK = threading.Lock()


def _umask_now() -> int:
    """The process umask, read without a moment of another one where Linux reports it."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)  # (the strictest meanwhile)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _group_umask(bits: int) -> Iterator[None]:
    """While a run holds the lock of a store shared by a group: the umask without `bits`
    (the store folder's group bits), so that everything it creates in the store (the lock,
    version folders and their files, written by Polars too, temporary folders) is the
    group's to write and remove, as git's core.sharedRepository=group makes a repository.
    The umask is the process's: what it creates elsewhere meanwhile gets those bits too."""
    if not bits:
        yield
        return
    with _UMASK_LOCK:
        mask = _umask_now()
        _UMASK.append(mask)
        os.umask(mask & ~bits)
    try:
        yield
    finally:
        with _UMASK_LOCK:
            first = _UMASK.pop()
            if not _UMASK:
                os.umask(first)


class _NoLocks(OSError):
    """The file system of `.readers` takes no lock (flock): leases judged by their PID."""


#: The name a lease a reader holds locked ends with (one without it: an earlier jtrack's,
#: judged by its PID).
LOCKED_LEASE = ".flock"
#: The leases this process holds locked, by path: the open file (its lock) and the content.
#: A writer never opens one of its own process's leases (_OWN: their files, and those it is
#: placing, by device and inode): on NFS, where flock is a POSIX lock, closing any
#: descriptor of the file would let go of the lock.
_HELD: dict[str, tuple[int, str]] = {}
_OWN: dict[tuple[int, int], str | None] = {}
_HELD_LOCK = threading.Lock()
#: _locked_content's answer for a live lease this user cannot read.
_UNREADABLE = "\0unreadable"


def release_lease(lease: Path) -> None:
    """Give a lease back: its file removed, then its lock let go."""
    lease.unlink(missing_ok=True)
    with _HELD_LOCK:
        mine = _HELD.pop(str(lease), None)
    if mine is not None:
        with contextlib.suppress(OSError):
            _forget(_key(mine[0]))
            os.close(mine[0])


def _key(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _key_of(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _forget(key: tuple[int, int]) -> None:
    with _HELD_LOCK:
        _OWN.pop(key, None)


def _names(path: Path, fd: int) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _locked_content(lease: Path, now: float) -> str | None:
    """The content of another process's locked lease while its reader holds the lock (any
    process on this kernel, in any PID namespace, or on another host where the file system
    passes locks to its server, as NFS does); None when the lock was free (its reader
    ended: the lease is removed) or the file is gone. The lock is tested with LOCK_SH,
    which needs the file open for reading only (a writer of the group may not write
    another member's lease)."""
    try:
        fd = os.open(lease, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:  # (not readable here: its reader's liveness is unknown)
        try:
            old = now - lease.stat().st_mtime > LEASE_MAX_AGE
        except OSError:
            return None
        if old:
            with contextlib.suppress(OSError):
                lease.unlink(missing_ok=True)
            return None
        return _UNREADABLE
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode("utf-8", "replace")  # alive
        except OSError:  # (no lock here to judge by: its age alone)
            if now - os.fstat(fd).st_mtime <= LEASE_MAX_AGE:
                return os.pread(fd, 4096, 0).decode("utf-8", "replace")
        # its reader let go of it without removing it (killed): removed, while its lock is
        # held here and the name still names it (not a file a reader renamed over it since)
        if _names(lease, fd):
            with contextlib.suppress(OSError):  # (another user's, in a folder not ours)
                lease.unlink(missing_ok=True)
        return None
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: What the library takes as a store: a Store (or a role's view), or the store's folder.
StoreLike: TypeAlias = Store | str | os.PathLike[str]

__all__ = ["DEFAULT_KEEP", "Store", "StoreLike", "version_name"]
