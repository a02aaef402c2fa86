"""The store: the only module that opens a store's files.

A store is a directory of versions (see jtrack.store.layout for the layout): each version
holds wide event rows in input order (segments, written once), a narrow index sorted by
visitor and time, the session table, the rejects and a typed manifest; a run writes a new
version beside the current one and switches to it atomically. Readers pin a version with a
lease, so a switch never pulls files from under them.
"""

from __future__ import annotations

from jtrack.store.layout import (
    DEFAULT_STORE,
    KILL_ENV,
    KILL_POINTS,
    STORE_ENV,
    default_store_path,
)
from jtrack.store.manifest import (
    LAYOUT_VERSION,
    BucketPolicy,
    ContactsSource,
    InputFile,
    Manifest,
    PartInfo,
    RunInfo,
    SegmentInfo,
)
from jtrack.store.snapshot import STORED_SESSION_SCHEMA, Snapshot
from jtrack.store.store import DEFAULT_KEEP, Damage, Store, StoreLike

__all__ = [
    "DEFAULT_KEEP",
    "DEFAULT_STORE",
    "KILL_ENV",
    "KILL_POINTS",
    "LAYOUT_VERSION",
    "STORED_SESSION_SCHEMA",
    "STORE_ENV",
    "BucketPolicy",
    "ContactsSource",
    "Damage",
    "InputFile",
    "Manifest",
    "PartInfo",
    "RunInfo",
    "SegmentInfo",
    "Snapshot",
    "Store",
    "StoreLike",
    "default_store_path",
]
