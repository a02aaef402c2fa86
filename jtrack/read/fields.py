"""Fields an input holds that jtrack does not read: found, named with the field they may be
(`did you mean searchQuery?`), and said once a file in a note.

The store keeps the canonical columns only, so a field an export renamed (`pageUrl` for
`page_url`, `search_query` for `webEvent.searchQuery`) is gone once a run took the file in:
the note is the only place it shows. Parquet (and flat JSON) columns come from the schema;
JSON lines are decoded with a fixed schema, so their keys are looked at in a bounded sample
of lines (see sample_rows), never line by line over the whole input.
Imports Polars only (no typer, no rich).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import polars as pl

from jtrack.read.urls import UTM_FIELDS
from jtrack.schema import EVENT_FIELDS, STORED_EVENT_EXTRA

#: Fields of the Genesys envelope jtrack knows and leaves unread on purpose (the
#: domain's event shape, and what the Journey API adds beside it): never noted.
GENESYS_UNUSED = frozenset(
    (
        "appEvent",  # (app events are counted by their eventType; their payload is not read)
        "webEvent.page.breadcrumb",
        "webEvent.browser.featuresFlash",
        "webEvent.browser.featuresJava",
        "webEvent.browser.featuresPdf",
        "webEvent.browser.featuresWebrtc",
        "webEvent.device.fingerprint",
        "webEvent.geolocation.source",
        "webEvent.referrer.fragment",
        "webEvent.referrer.keywords",
        "segmentAssignmentEvent.segment.version",
        "outcomeAchievedEvent.outcome.version",
        "webActionEvent.action.createdDate",
        "webActionEvent.action.prompt",
        "webActionEvent.actionMap.version",
    )
)
#: Keys left unread wherever they are (links of the REST API).
ANYWHERE_UNUSED = frozenset(("selfUri",))
#: Columns of the flat shape jtrack knows and leaves unread: those a store adds to its
#: events (an export of a store's events read again), pandas' index.
FLAT_UNUSED = frozenset(STORED_EVENT_EXTRA)
_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")

#: Other trackers' names of fields jtrack reads (UTM parameters as columns: a flat
#: export's are read as the campaign's fields, so named only where they are no field of
#: the flat shape: a Genesys event's).
_ALIASES = dict(UTM_FIELDS)

#: Objects whose keys are the user's own names (event data, identity data): not looked into.
_FREE_FORM = ("attributes", "traits")


def _tree() -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for f in EVENT_FIELDS:
        if not f.genesys:
            continue
        node = tree
        parts = f.genesys.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(parts[-1], None if parts[-1] not in _FREE_FORM else "free")
    return tree


GENESYS_TREE = _tree()
FLAT_NAMES = frozenset(f.name for f in EVENT_FIELDS)


def _norm(name: str) -> str:
    """A name as `pageUrl`, `page_url`, `PAGE-URL` all are: lower case, no separators."""
    return re.sub(r"[\s_\-.]", "", name).lower()


def near_name(name: str, known: Collection[str]) -> str | None:
    """The known name `name` may be: the same but for case, underscores and camelCase
    (`searchQuery` for `search_query`), an alias (`utm_source`), else the nearest by edit
    distance (close ones only); None when none is near."""
    if name in _ALIASES and _ALIASES[name] in known:
        return _ALIASES[name]
    same = [k for k in known if _norm(k) == _norm(name)]
    if same:
        return sorted(same)[0]
    lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.85)
    return lower[close[0]] if close else None


def _known_here(path: list[str]) -> dict[str, Any] | None:
    node: Any = GENESYS_TREE
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, dict) else None


def unread_paths(obj: Mapping[str, Any], genesys: bool) -> list[str]:
    """The fields of one decoded event (a JSON object) jtrack does not read, as dotted
    paths (`webEvent.search_query`); an unknown object is named once, not its keys."""
    if not genesys:
        return [str(k) for k in obj if not _flat_known(str(k))]
    out: list[str] = []

    def walk(value: Mapping[str, Any], node: dict[str, Any], path: list[str]) -> None:
        for key in value:
            key = str(key)
            dotted = ".".join([*path, key])
            if key in ANYWHERE_UNUSED or dotted in GENESYS_UNUSED:
                continue
            if key not in node:
                out.append(dotted)
                continue
            below, member = node[key], value[key]
            if isinstance(below, dict) and isinstance(member, Mapping):
                walk(member, below, [*path, key])

    walk(obj, GENESYS_TREE, [])
    return out


def _flat_known(name: str) -> bool:
    # (utm_source, ...: read as the campaign's fields, jtrack.read.validate._FLAT_ALIASES)
    return (
        name in FLAT_NAMES
        or name in FLAT_UNUSED
        or name in _ALIASES
        or bool(_PANDAS_INDEX.match(name))
    )


def alias_readable(dtype: pl.DataType) -> bool:
    """Whether a `utm_source`-style column of this type is read as its campaign field: text,
    or whole numbers (`utm_campaign` 2024), read as their text."""
    return dtype == pl.String or dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum)


def unread_columns(schema: Mapping[str, pl.DataType], genesys: bool) -> list[str]:
    """unread_paths of a Parquet file's columns (structs looked into as objects); a
    `utm_source`-style column of a type not read as the campaign (a float, a list) too."""

    def as_object(dtype: Any) -> Any:
        if isinstance(dtype, pl.Struct):
            return {f.name: as_object(f.dtype) for f in dtype.fields}
        return None

    found = unread_paths({name: as_object(t) for name, t in schema.items()}, genesys)
    if genesys:
        return found
    return found + [n for n, t in schema.items() if n in _ALIASES and not alias_readable(t)]


def suggestion(path: str, genesys: bool) -> str | None:
    """The field jtrack reads that an unread one may be (the same level of the envelope)."""
    if not genesys:
        return near_name(path, FLAT_NAMES)
    parts = path.split(".")
    node = _known_here(parts[:-1])
    if node is None:
        return None
    near = near_name(parts[-1], list(node))
    return ".".join([*parts[:-1], near]) if near else None


#: Lines of a JSON lines file looked at for unread fields: its first ones, and a few spread
#: through each block read (bytes read already; see sample_rows).
SAMPLE_HEAD = 20
SAMPLE_SPREAD = 5


def sample_rows(height: int, head: int, spread: int) -> list[int]:
    """The rows of a block looked at for unread fields: its first `head` and `spread` more
    evenly through the rest (a bound, whatever the block's size)."""
    rows = list(range(min(head, height)))
    rest = height - len(rows)
    if rest > 0 and spread > 0:
        step = rest / (spread + 1)
        rows += sorted({len(rows) + int(step * (k + 1)) for k in range(spread) if step >= 1})
        if step < 1:
            rows += list(range(len(rows), min(height, len(rows) + spread)))
    return sorted(set(r for r in rows if r < height))


def unread_in_lines(lines: Iterable[Any], genesys: bool) -> tuple[dict[str, int], int]:
    """Unread fields of sampled JSON lines: each path with the number of events holding it,
    and the number of events looked at (lines that are no JSON object are not counted)."""
    counts: dict[str, int] = {}
    looked = 0
    for line in lines:
        if not isinstance(line, str):
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(obj, dict):
            continue
        looked += 1
        for path in unread_paths(obj, genesys):
            counts[path] = counts.get(path, 0) + 1
    return counts, looked


#: Fields a note names; more are counted.
NOTE_FIELDS = 8


def unread_note(
    file: str, unread: Mapping[str, int | None], looked: int | None, genesys: bool
) -> str:
    """The note of a file holding fields jtrack does not read: each with the rows holding
    it and the field it may be; `looked`: the events of a sample (JSON lines), None when
    every row was (Parquet columns)."""
    items = []
    unit = "row" if looked is None else "event"
    for path, n in list(unread.items())[:NOTE_FIELDS]:
        near = suggestion(path, genesys)
        said = f"`{path}`"
        if n is not None:
            said += f" in {n:,} {unit}{'s' if n != 1 else ''}"
        if near:
            said += f" (did you mean `{near}`?)"
        items.append(said)
    more = len(unread) - NOTE_FIELDS
    if more > 0:
        items.append(f"{more:,} more")
    what = "columns" if looked is None else "fields"
    tail = (
        f"; of the {looked:,} event{'s' if looked != 1 else ''} looked at (a sample of the "
        "file's first lines and a few through it)"
        if looked is not None
        else ""
    )
    return (
        f"{file}: {what} jtrack does not read were left out: "
        + ", ".join(items)
        + tail
        + f"; `jtrack schema` lists the {what} read"
    )


def renamed_note(file: str, renamed: Mapping[str, str]) -> str:
    """The note of a file whose columns were matched ignoring case (`EVENT_ID`)."""
    pairs = list(renamed.items())
    shown = ", ".join(f"{a} as {b}" for a, b in pairs[:NOTE_FIELDS])
    if len(pairs) > NOTE_FIELDS:
        shown += f" and {len(pairs) - NOTE_FIELDS:,} more"
    return f"{file}: columns read ignoring case (no column of the exact name): {shown}"


def case_renames(columns: Collection[str]) -> dict[str, str]:
    """Columns named as a field of either shape but for case (`EVENT_ID`, `CUSTOMERID` as
    Snowflake and BigQuery write unquoted names): {column: field}, for fields that no
    column names exactly (an exact name is always read first) and that one column only
    matches."""
    names = set(FLAT_NAMES) | set(GENESYS_TREE)
    exact = set(columns)
    by_lower: dict[str, list[str]] = {}
    for c in columns:
        if c not in names and not _flat_known(c):
            by_lower.setdefault(c.lower(), []).append(c)
    out: dict[str, str] = {}
    for name in sorted(names):
        found = by_lower.get(name.lower(), [])
        if name not in exact and len(found) == 1:
            out[found[0]] = name
    # (a lower case matching names of both shapes, `id` only has one: never two targets)
    return out
