"""The store's manifest: what one version of a store holds, typed.

One JSON file per version (`versions/vNNNNNN/manifest.json`). It lists every file of the
version (segments of wide event rows, parts of the index and of the session table), the
bucket policy fixed for the store's life, the options the sessions were built with, the
contacts source, every input file taken in (with its fingerprint and accounting), every run,
and the totals. Readers and writers use these classes, never the raw JSON.
Imports the standard library only.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

from jtrack.errors import StoreError

#: The layout this jtrack writes and reads. Version 1 (one snapshot of bucket files) is not
#: read: it is rebuilt from its inputs.
LAYOUT_VERSION = 2
#: The layout of a store some visitors were erased from (`jtrack store erase`): layout 2
#: with the `erased` record, which an earlier jtrack would not honour (it would take their
#: rows in again, and write manifests without the record): it refuses the store instead.
ERASED_LAYOUT = 3
#: The layout of a store whose duplicates table has delta files (`duplicate_deltas`): an
#: earlier jtrack would read its base file alone, the copies later runs judged again left
#: out (and write a version without the deltas): it refuses the store instead. Written only
#: while there are deltas (`jtrack store compact` merges them into one file).
DELTAS_LAYOUT = 4

TABLES = ("index", "sessions")

#: The version of the reader-facing tables' schema (the columns of the session table, the
#: index, the segments' canonical columns, which `jtrack schema` documents, and
#: session_changes.parquet, which the README does): raised only when one of those columns changes (a
#: column added, removed, retyped, or its meaning or nullability changed), unlike
#: layout_version, which follows what the store holds. In every manifest, in `jtrack
#: schema`'s output and in the key-value metadata (`jtrack.schema_version`) of every
#: Parquet file jtrack writes into a store.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BucketPolicy:
    """How visitors map to buckets, for the life of the store."""

    hash: str = "xxh3_64"
    column: str = "customer_id"
    buckets: int = 1024


@dataclass(frozen=True)
class SegmentInfo:
    """A file of wide event rows in input order (`segments/<file>`), written once."""

    id: int
    file: str
    rows: int
    source: str  # the input it holds rows of
    #: the input file itself (canonical Parquet), copied without re-encoding (an erase
    #: writes it again without the erased rows, its own columns kept: never merged)
    kept_as_is: bool
    run: int
    #: where its rows are in the input: [[row, offset], ...], each entry's rows up to the
    #: next entry on input line `row + 1 + offset` (blank lines and the lines of earlier
    #: pieces of a growing file move the offset); None: not known (an earlier jtrack, or
    #: more than MAX_LINE_BREAKS changes)
    lines: list[list[int]] | None = None


@dataclass(frozen=True)
class PartInfo:
    """One file of the index or of the session table, sorted by bucket then visitor."""

    table: str  # "index" or "sessions"
    file: str
    rows: int
    bucket_lo: int
    bucket_hi: int
    run: int
    #: index parts: the first and last event time (microseconds since the epoch, UTC) and
    #: the events without a session; session parts: the first start and the last end
    #: (None: a part an earlier jtrack wrote)
    first_us: int | None = None
    last_us: int | None = None
    unattached: int | None = None
    #: index parts: the segments its rows point into, as [first, last] id ranges (None: a
    #: part an earlier jtrack wrote; it may point anywhere). Compaction merges small
    #: segments only when every part pointing into them is being rewritten.
    segments: list[list[int]] | None = None
    #: session parts: the part's id directory (`session-ids/<file>`: its ids sorted, with
    #: each one's row in the part), so that a session is found by an id prefix reading one
    #: row group of it (None: a part an earlier jtrack wrote; its ids are scanned)
    ids: str | None = None
    #: index parts: the part's event keys (`event-keys/<file>`: each row's `event_hash`,
    #: xxh3_64 of its event id, and `created_date`, in the part's row order), what a run
    #: reads to find redeliveries (None: a part an earlier jtrack wrote; its ids are hashed)
    keys: str | None = None
    #: the CRC32 of each of its files as written (the part, its ids or keys, by their path
    #: in the version), which `jtrack store verify --full` compares: Polars writes no page
    #: checksums (None: a part an earlier jtrack wrote)
    crc32: dict[str, int] | None = None


@dataclass
class InputFile:
    """An input taken in: where it was, its fingerprint, and its accounting."""

    name: str  # as the user named it
    path: str  # absolute path ("" for stdin)
    size: int
    mtime_ns: int
    sha256: str
    shape: str
    rows_read: int
    rows_rejected: int  # rows rejected while reading (far-future rows are counted per run)
    run: int
    segments: list[int] = field(default_factory=list)
    #: the bytes taken in: [start, offset) of the file (a file that grows is taken in piece
    #: by piece; offset None: all `size` bytes). sha256 is the digest of [0, offset).
    start: int = 0
    offset: int | None = None
    #: physical lines in [0, offset) (None: not counted; counted when the file grows)
    lines: int | None = None
    #: the file's device and inode: a file renamed by a rotation is still recognised
    dev: int = 0
    ino: int = 0
    #: of a JSON lines file whose last line had no newline and was rejected (an export a run
    #: met mid-write): where that line starts. A run that finds the file grown from there,
    #: its bytes taken in unchanged, reads that line again, whole now, and its reject goes.
    tail: int | None = None
    #: rows of the file dropped because their visitor's data was erased (`jtrack store
    #: erase`): rows_read = kept + duplicates + rejected + erased
    rows_erased: int = 0
    #: fields (columns) of the file jtrack does not read, as the run that took it in found
    #: them (its first piece's; a sample of a JSON file's lines): not in the store; the
    #: first UNREAD_KEPT names, each cut at UNREAD_NAME_CHARS characters (a file of junk
    #: keys made the manifest, which every run rewrites, 20 MB a file)
    unread: list[str] = field(default_factory=list)
    #: how many more fields it had than `unread` names
    unread_more: int = 0

    @property
    def end(self) -> int:
        """Bytes of the file taken in so far, from its start."""
        return self.size if self.offset is None else self.offset


@dataclass(frozen=True)
class RunInfo:
    """One run that wrote a version (never changed once written: versions share it)."""

    run: int
    started: str
    finished: str
    jtrack_version: str
    mode: str  # "new", "incremental", "rebuild", "replace", "contacts"
    files_read: int = 0
    files_skipped: int = 0
    rows_read: int = 0
    events_added: int = 0
    visitors_touched: int = 0
    #: sessions by id: new, changed (the same id), removed, and the store's others, as they
    #: were (`--replace`: every session written is added, every earlier one removed);
    #: sessions_changed None: an earlier jtrack, which counted a changed one as added and
    #: removed
    sessions_added: int = 0
    sessions_changed: int | None = None
    sessions_removed: int = 0
    sessions_unchanged: int = 0
    #: of sessions_changed, those whose visit_number alone changed (None: an earlier jtrack)
    sessions_renumbered: int | None = None
    #: the first and last time of this run's events (ISO-8601, UTC; None: none, or an
    #: earlier jtrack): a late file's run says which days it filled in
    events_from: str | None = None
    events_to: str | None = None
    parts_written: int = 0
    parts_rewritten: int = 0
    #: this run's rows as it judged them: rows_read = events_kept + duplicates + rejected
    #: (rejected: while reading, and beyond the far-future cut); None: an earlier jtrack
    duplicates: int | None = None
    rejected: int | None = None
    events_kept: int | None = None
    #: why the run worked out every session again, when it did (options that changed, a
    #: new contacts file, --rebuild); None: it did not, or an earlier jtrack
    reason: str | None = None
    #: rows of this run dropped because their visitor's data was erased (None: an earlier
    #: jtrack); an erase records the rows it took out of the store
    erased: int | None = None
    #: rows of this run kept whose time had no zone and was read as UTC (None: an earlier
    #: jtrack): an export written in local time is hours off
    no_zone: int | None = None


@dataclass
class ContactsSource:
    """The contacts file the store resolves visitors with (remembered between runs)."""

    file: str  # absolute path
    sha256: str
    default_region: str | None = None
    book: str | None = None  # the normalised book kept in the version (contacts.parquet)


@dataclass
class Manifest:
    """One version of a store."""

    version: int
    created: str
    jtrack_version: str
    bucket_policy: BucketPolicy = field(default_factory=BucketPolicy)
    options: dict[str, Any] = field(default_factory=dict)
    contacts: ContactsSource | None = None
    segments: list[SegmentInfo] = field(default_factory=list)
    parts: list[PartInfo] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    contact_counts: dict[str, Any] | None = None
    rejects: str | None = None  # rejects.jsonl in the version, when any row was rejected
    held: str | None = None  # held.parquet: far-future rows kept aside (re-judged every run)
    duplicates: str | None = None  # duplicates.parquet: every copy of ids delivered twice
    #: the duplicates table's delta files since `duplicates` was written (oldest first,
    #: `duplicates/dNNNNNN.parquet`): a delta's rows replace every row of an earlier file
    #: with the same event id (a row without a status: the id has no copies there any
    #: more). Readers see one table (Snapshot.scan_duplicates).
    duplicate_deltas: list[str] = field(default_factory=list)
    traffic_lists: str | None = None  # the user-agent lists the traffic classes come from
    #: files of earlier runs (runs/r*.jsonl, oldest first) and how many runs they hold
    run_logs: list[str] = field(default_factory=list)
    runs_logged: int = 0
    layout_version: int = LAYOUT_VERSION
    #: the version this one was written on (None: the first, or written before it was kept)
    base: int | None = None
    #: written by compaction: what its base holds, in fewer files (a base it holds the same
    #: as is not counted among the versions kept for rollback)
    compacted: bool = False
    #: the contacts file's path relative to the store folder (on its file system): followed
    #: when `contacts.file` is gone (the volume mounted at another path). Kept out of
    #: ContactsSource so that an earlier jtrack, which takes the manifest's head fields it
    #: knows, still reads the manifest.
    contacts_relative: str | None = None
    #: what `jtrack store erase` took out, for every later run to drop as it reads:
    #: {"hash": "sha256", "salt": hex, "visitors": [hex of sha256(salt + customer_id)],
    #: "contacts": [hex of sha256(salt + contact_id)]} (None: nothing erased)
    erased: dict[str, Any] | None = None
    #: the sessions this version changed against the version before it, for readers that
    #: load the session table incrementally (`jtrack store changes`):
    #: {"base": N, "file": "session_changes.parquet" or None (nothing changed), "added": n,
    #: "changed": n, "removed": n}, or {"base": N or None, "reload": True} (an erase, a
    #: rebuild, --replace, the first version: read the whole table again). None: a version
    #: an earlier jtrack wrote (not known: reload too). Written by VersionWriter.commit.
    session_changes: dict[str, Any] | None = None
    #: the `--keep` the store was given last (None: never; DEFAULT_KEEP): what a run
    #: without `--keep` keeps
    keep: int | None = None

    # ------------------------------------------------------------------ queries

    def parts_of(self, table: str) -> list[PartInfo]:
        return [p for p in self.parts if p.table == table]

    def files(self) -> list[str]:
        """Every data file of the version, relative to its directory."""
        out = [f"segments/{s.file}" for s in self.segments]
        out += [f"{p.table}/{p.file}" for p in self.parts]
        out += [p.ids for p in self.parts if p.ids]
        out += [p.keys for p in self.parts if p.keys]
        for extra in (self.rejects, self.held, self.duplicates):
            if extra:
                out.append(extra)
        out += self.duplicate_deltas
        changes = (self.session_changes or {}).get("file")
        if isinstance(changes, str):
            out.append(changes)
        if self.contacts is not None and self.contacts.book:
            out.append(self.contacts.book)
        return out + self.run_logs

    @property
    def written_layout(self) -> int:
        """The layout the manifest is written with: LAYOUT_VERSION, or the one an earlier
        jtrack refuses when the version holds what it would not honour (DELTAS_LAYOUT,
        ERASED_LAYOUT)."""
        if self.duplicate_deltas:
            return DELTAS_LAYOUT
        return ERASED_LAYOUT if self.erased else self.layout_version

    @property
    def run_count(self) -> int:
        """Runs that wrote this version and its ancestors (logged and in the manifest)."""
        return self.runs_logged + len(self.runs)

    @property
    def next_segment(self) -> int:
        return max((s.id for s in self.segments), default=0) + 1

    @property
    def next_run(self) -> int:
        return max((r.run for r in self.runs), default=0) + 1

    def copy(self) -> Manifest:
        """A copy whose lists and mutable records are its own (the frozen records, segments,
        parts and runs, are shared: a store `jtrack watch` appends to holds up to
        2 * RUN_CHUNK - 1 runs, and copying each took 13 ms a copy at 770)."""
        return replace(
            self,
            options=copy.deepcopy(self.options),
            contacts=replace(self.contacts) if self.contacts is not None else None,
            segments=list(self.segments),
            parts=list(self.parts),
            inputs=[replace(i, segments=list(i.segments)) for i in self.inputs],
            runs=list(self.runs),
            counts=copy.deepcopy(self.counts),
            erased=copy.deepcopy(self.erased),
            session_changes=copy.deepcopy(self.session_changes),
            contact_counts=copy.deepcopy(self.contact_counts),
            run_logs=list(self.run_logs),
            duplicate_deltas=list(self.duplicate_deltas),
        )

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> str:
        """The manifest as JSON: one record a line (segments, parts, inputs and runs grow
        with every run: `jtrack watch` makes thousands, so no indentation, which only
        Python's slow encoder writes, and no deep copy)."""
        head = {k: _plain(v) for k, v in self.__dict__.items() if k not in _LISTS}
        head["layout_version"] = self.written_layout
        head["schema_version"] = SCHEMA_VERSION
        if not self.duplicate_deltas:
            del head["duplicate_deltas"]  # (a manifest as an earlier jtrack wrote it)
        if self.keep is None:
            del head["keep"]
        lines = [_ENCODE(head)[:-1]]
        for k in _LISTS:  # records of plain fields (lists of numbers at most)
            items = ",\n".join(map(_ENCODE, (vars(x) for x in getattr(self, k))))
            lines.append(f', "{k}": [\n{items}\n]' if items else f', "{k}": []')
        return "\n".join(lines) + "\n}\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"{where}: the manifest is not valid JSON ({exc.msg})",
                hint="the store is damaged; roll back with `jtrack store rollback`",
            ) from None
        layout = data.get("layout_version") if isinstance(data, dict) else None
        if layout == ERASED_LAYOUT and isinstance(data, dict) and data.get("erased"):
            layout = LAYOUT_VERSION  # (read as layout 2, its erased record honoured)
        if layout == DELTAS_LAYOUT and isinstance(data, dict) and data.get("duplicate_deltas"):
            layout = LAYOUT_VERSION  # (read as layout 2, its duplicates' deltas read too)
        if isinstance(layout, int) and layout > LAYOUT_VERSION:
            by = data.get("jtrack_version") if isinstance(data, dict) else None
            raise StoreError(
                f"{where}: a store of layout {layout} (written by jtrack {by or '?'}); this "
                f"jtrack reads layout {LAYOUT_VERSION}",
                hint=f"read it with jtrack {by or 'that version'} or newer (upgrade this "
                "one); the store is left as it is",
            )
        if layout != LAYOUT_VERSION:
            raise StoreError(
                f"{where}: a store of layout {layout!r}; this jtrack reads layout {LAYOUT_VERSION}",
                hint="rebuild it from its exports: `jtrack sessionize EXPORTS --store NEW_DIR`",
            )
        try:
            return cls(
                version=int(data["version"]),
                created=str(data["created"]),
                jtrack_version=str(data["jtrack_version"]),
                bucket_policy=BucketPolicy(**data["bucket_policy"]),
                options=dict(data.get("options") or {}),
                contacts=ContactsSource(**data["contacts"]) if data.get("contacts") else None,
                segments=[SegmentInfo(**s) for s in data.get("segments", [])],
                parts=[_known(PartInfo, p) for p in data.get("parts", [])],
                inputs=[_capped(_known(InputFile, i)) for i in data.get("inputs", [])],
                runs=[_known(RunInfo, r) for r in data.get("runs", [])],
                counts=dict(data.get("counts") or {}),
                contact_counts=data.get("contact_counts"),
                rejects=data.get("rejects"),
                held=data.get("held"),
                duplicates=data.get("duplicates"),
                duplicate_deltas=[str(x) for x in data.get("duplicate_deltas") or []],
                traffic_lists=data.get("traffic_lists"),
                run_logs=[str(x) for x in data.get("run_logs") or []],
                runs_logged=int(data.get("runs_logged") or 0),
                base=int(data["base"]) if data.get("base") is not None else None,
                compacted=bool(data.get("compacted", False)),
                contacts_relative=rel
                if isinstance(rel := data.get("contacts_relative"), str)
                else None,
                erased=data.get("erased") or None,
                session_changes=changes
                if isinstance(changes := data.get("session_changes"), dict)
                else None,
                keep=keep if isinstance(keep := data.get("keep"), int) and keep >= 0 else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"{where}: the manifest is not one jtrack wrote ({exc})",
                hint="the store is damaged; roll back with `jtrack store rollback`",
            ) from None


#: The manifest's lists, written one record a line.
_LISTS = ("segments", "parts", "inputs", "runs")
#: One encoder for every record (json.dumps with options makes a new one each call).
_ENCODE = json.JSONEncoder(sort_keys=True).encode
_NAMES: dict[Any, frozenset[str]] = {}


def run_from_json(line: str) -> RunInfo:
    """One line of a run log."""
    return _known(RunInfo, json.loads(line))


def run_to_json(run: RunInfo) -> str:
    """A run as one line of a run log."""
    return str(_ENCODE(vars(run)))


def _plain(value: Any) -> Any:
    """A dataclass field of the manifest's head (BucketPolicy, ContactsSource: plain fields)
    as a dict; anything else as it is."""
    return vars(value) if hasattr(value, "__dataclass_fields__") else value


def _known(cls: Any, data: dict[str, Any]) -> Any:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    if names.issuperset(data):
        return cls(**data)
    return cls(**{k: v for k, v in data.items() if k in names})


#: The unread field names an input's record keeps, and the characters of each.
UNREAD_KEPT = 100
UNREAD_NAME_CHARS = 200


def _capped(record: InputFile) -> InputFile:
    """An input's record with its unread names as kept_unread keeps them (a manifest an
    earlier jtrack wrote kept them all: the next one written keeps the few)."""
    if len(record.unread) <= UNREAD_KEPT and all(
        len(n) <= UNREAD_NAME_CHARS for n in record.unread
    ):
        return record
    kept, more = kept_unread(record.unread)
    record.unread, record.unread_more = kept, record.unread_more + more
    return record


def kept_unread(names: list[str]) -> tuple[list[str], int]:
    """(the names an input's record keeps, how many more there were): see InputFile.unread."""
    return [n[:UNREAD_NAME_CHARS] for n in names[:UNREAD_KEPT]], max(0, len(names) - UNREAD_KEPT)


#: Versions a run keeps besides the current one when neither it nor the store says (as
#: jtrack.store.DEFAULT_KEEP).
_DEFAULT_KEEP = 2


def kept_of(manifest: Manifest | None) -> int:
    """The versions a run without `--keep` keeps: the `--keep` the store was given last."""
    if manifest is None or manifest.keep is None:
        return _DEFAULT_KEEP
    return manifest.keep


__all__ = [
    "DELTAS_LAYOUT",
    "ERASED_LAYOUT",
    "LAYOUT_VERSION",
    "SCHEMA_VERSION",
    "TABLES",
    "BucketPolicy",
    "ContactsSource",
    "InputFile",
    "Manifest",
    "PartInfo",
    "RunInfo",
    "SegmentInfo",
    "kept_of",
]
