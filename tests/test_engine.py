"""One engine: the store does not depend on how a run was split or how many runs built it.

- Work units and chunks: the same inputs through one work unit in memory, or through many
  units staged on disk and read in tiny chunks, give the same store (sessions, index,
  rejects, conflicts, accounting).
- Incremental runs: inputs taken in over several runs (late events, redeliveries across runs
  and visitors, far-future rows, contacts) give exactly what one run over the same files in
  the same order gives (a Hypothesis property).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import make_corpus
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from make_corpus import Case
from polars.testing import assert_frame_equal
from synth import generate_flat
from typer.testing import CliRunner

import jtrack.engine.ingest as ingest
import jtrack.engine.run as run_module
import jtrack.engine.unit as unit
from jtrack.cli import app
from jtrack.engine import StoredRun, run_sessionize
from jtrack.engine.compact import compact
from jtrack.errors import FileAccessError, JtrackError, UsageError
from jtrack.options import CAMPAIGN_RULE, SessionizeOptions
from jtrack.store import Store
from jtrack.store.layout import KILL_POINTS
from tests.helpers import flat_event, flat_frame, genesys_line, minutes

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
CASES = [c for c in make_corpus.build(None) if not c.big]
T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers


def check_id_directories(snap: Any) -> None:
    """Every session part has its id directory: its ids sorted, each with its row in the
    part (what a prefix lookup reads instead of every id of the store)."""
    for part in snap.manifest.parts_of("sessions"):
        assert part.ids == f"session-ids/{part.file}", part
        ids = pl.read_parquet(snap.dir / part.ids, glob=False)
        assert ids.columns == ["id", "row"]
        assert ids.get_column("id").is_sorted()
        rows = pl.read_parquet(snap.dir / "sessions" / part.file, columns=["id"], glob=False)
        assert sorted(ids.get_column("row").to_list()) == list(range(rows.height))
        assert ids.get_column("id").to_list() == rows.get_column("id")[ids["row"]].to_list()


def contents(store: Store) -> dict[str, Any]:
    """What a store holds, independent of how its files are split (and its session parts'
    id directories checked)."""
    store.refresh()
    with store.snapshot() as snap:
        check_id_directories(snap)
        index = snap.scan_index().collect().sort("segment", "row")
        sessions = snap.scan_sessions(bucket=True).collect().sort("id")
        rejects = snap.rejects()
        m = snap.manifest
        held = snap.held()
        dups = snap.duplicates()
    return {
        "index": index,
        "sessions": sessions,
        "rejects": rejects,
        "held": held.sort("_pos") if held is not None else None,
        # (one logical table, however many files it is in)
        "duplicates": dups.sort("event_id", "_pos") if dups is not None else None,
        "counts": m.counts,
        "contact_counts": m.contact_counts,
        "inputs": [(i.name, i.rows_read, i.rows_rejected, i.segments) for i in m.inputs],
        "segments": [(s.id, s.rows, s.source, s.kept_as_is, s.lines) for s in m.segments],
    }


def assert_same_store(a: Store, b: Store) -> None:
    ca, cb = contents(a), contents(b)
    for key in ("index", "sessions", "rejects"):
        assert_frame_equal(ca[key], cb[key], check_exact=True)
    for key in ("held", "duplicates"):
        if ca[key] is None or cb[key] is None:
            assert ca[key] is None and cb[key] is None, key
        else:
            assert_frame_equal(ca[key], cb[key])
    for key in ("counts", "contact_counts", "inputs", "segments"):
        assert ca[key] == cb[key], key


def run_or_error(sources: list[Path], store: Store, **kw: Any) -> StoredRun | JtrackError:
    try:
        return run_sessionize(sources, store, **kw)
    except JtrackError as exc:
        return exc


def both(tmp: Path, sources: list[Path], **kw: Any) -> tuple[Store, Store, Any, Any]:
    """The same run in one unit (in memory) and in 7 units staged, in chunks of 333 rows."""
    one, many = Store.open(tmp / "one"), Store.open(tmp / "many")
    a = run_or_error(sources, one, units=1, **kw)
    b = run_or_error(sources, many, units=7, chunk_rows=333, **kw)
    return one, many, a, b


def assert_same_run(one: Store, many: Store, a: Any, b: Any) -> None:
    if isinstance(a, JtrackError) or isinstance(b, JtrackError):
        assert type(a) is type(b) and str(a) == str(b), (a, b)
        assert not many.exists()
        return
    assert a.summary.balanced and b.summary.balanced
    sa, sb = a.summary.to_dict(), b.summary.to_dict()
    for s in (sa, sb):
        s.pop("store")
        s.pop("rejects_file")
        s["run"] = {k: v for k, v in s["run"].items() if k not in ("started", "finished")}
        s["run"].pop("parts_written")
    assert sa == sb
    assert_frame_equal(a.read.rejects, b.read.rejects)
    assert a.read.warnings == b.read.warnings
    assert_frame_equal(a.conflicts, b.conflicts)
    assert_same_store(one, many)
    assert not list(many.root.glob(".tmp-*")), "staging files left behind"


# ---------------------------------------------------------------------------- work units


def test_sample_data_with_contacts_through_many_units(tmp_path: Path) -> None:
    sources = [SAMPLE / "events.jsonl", SAMPLE / "events.parquet"]
    one, many, a, b = both(tmp_path, sources, contacts=SAMPLE / "contacts.csv", on_error="skip")
    assert_same_run(one, many, a, b)
    assert b.summary.duplicates >= 4000  # the two files hold the same events
    assert b.summary.contacts["visitors_known"] > 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_corpus.build(out)
    return out


@pytest.mark.parametrize("mode", ["skip", "fail"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_corpus_through_many_units(
    case: Case, mode: str, corpus: Path, tmp_path: Path
) -> None:
    kw: dict[str, Any] = {"on_error": mode}
    if case.max_line_bytes is not None:
        kw["max_line_bytes"] = case.max_line_bytes
    one, many, a, b = both(tmp_path, [corpus / f for f in case.files], **kw)
    assert_same_run(one, many, a, b)


def test_a_synthetic_export_through_many_units(tmp_path: Path) -> None:
    src = tmp_path / "synth.parquet"
    generate_flat(20_000, seed=3).write_parquet(src)
    one, many, a, b = both(tmp_path, [src])
    assert_same_run(one, many, a, b)
    seg = many.read_manifest().segments[0]
    assert seg.kept_as_is  # a canonical Parquet file is kept, not re-encoded


def test_redeliveries_with_another_visitor_and_far_future_rows(tmp_path: Path) -> None:
    rows = [flat_event(f"e{i}", f"v{i % 7}", T0 + timedelta(minutes=3 * i)) for i in range(300)]
    rows += [flat_event("e5", "other-visitor", T0 - timedelta(minutes=1))]  # earlier copy
    rows += [flat_event("e9", "v2", T0 + timedelta(minutes=27), page_title="changed")]
    rows += [flat_event("far", "v1", T0 + timedelta(days=800))]
    src = tmp_path / "x.parquet"
    flat_frame(rows).write_parquet(src)
    one, many, a, b = both(tmp_path, [src], on_error="skip")
    assert_same_run(one, many, a, b)
    assert b.summary.duplicates == 2 and b.summary.conflicting_duplicates == 2
    assert b.read.rejects["reason"].to_list() == ["far_future"]


# ---------------------------------------------------------------------------- incremental

VISITORS = [f"v{i}" for i in range(6)]


def _in_runs(draw: st.DrawFn, events: list[dict[str, Any]], most: int) -> list[list[Any]]:
    """`events` shuffled and cut into 1 to `most` runs (each of one event at least)."""
    order = draw(st.permutations(list(range(len(events)))))
    shuffled = [events[i] for i in order]
    k = draw(st.integers(1, min(most, len(shuffled))))
    cuts = sorted(draw(st.lists(st.integers(1, len(shuffled) - 1), max_size=k - 1, unique=True)))
    runs, prev = [], 0
    for c in [*cuts, len(shuffled)]:
        runs.append(shuffled[prev:c])
        prev = c
    return runs


@st.composite
def journeys(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], bool]:
    """Events cut into runs: late events, redeliveries (also by another visitor, also with
    other contents), system events, app events, custom sessions, now and then a far-future
    row."""
    n = draw(st.integers(3, 40))
    events: list[dict[str, Any]] = []
    for i in range(n):
        who = draw(st.sampled_from(VISITORS))
        minute = draw(st.integers(0, 600))
        kind = draw(
            st.sampled_from(
                ["page_view", "page_view", "search", "custom", "segment", "app", "delivery"]
            )
        )
        extra: dict[str, Any] = {}
        if kind == "search":
            extra = {"search_query": draw(st.sampled_from(["boots", "tent"]))}
        elif kind == "custom":
            extra = {"event_name": "form_submitted", "kind": "custom"}
            if draw(st.booleans()):
                extra["traits"] = [
                    {"name": "email", "data_type": "string", "value": f"{who}@example.org"}
                ]
        elif kind == "segment":
            extra = {
                "event_type": "SegmentAssignmentEvent",
                "kind": "segment_assigned",
                "event_name": None,
                "segment_id": "seg-1",
                # (one naming an app session joins the visitor's app stream)
                "source_session_type": draw(st.sampled_from([None, "web", "app"])),
            }
        elif kind == "app":
            extra = {
                "event_type": "AppEvent",
                "kind": "app",
                "event_name": "screen_viewed",
                "source_session_type": "app",
            }
        elif kind == "delivery":  # a custom session: its whole stream, whatever the gaps
            extra = {
                "kind": "custom",
                "event_name": "parcel_sent",
                "source_session_type": "delivery",
                "source_session_id": f"d-{who}",
            }
        if kind == "search":
            extra["kind"] = "search"
        if kind in ("page_view", "search"):  # where a visitor came from (campaign changes)
            extra["page_url"] = f"https://shop.example/p{i}"
            extra["referrer_hostname"] = draw(st.sampled_from([None, "news.site", "shop.example"]))
            extra["mkt_campaign_source"] = draw(st.sampled_from([None, None, "google"]))
            # (a referrer or a campaign given as a URL only: derived by every reader)
            extra["referrer_url"] = draw(st.sampled_from([None, "https://www.bing.com/?q=t"]))
            if draw(st.booleans()):
                extra["page_url"] += draw(st.sampled_from(["?utm_source=mail", "?gclid=g"]))
        events.append(flat_event(f"e{i}", who, T0 + timedelta(minutes=minute), **extra))
        if draw(st.integers(0, 9)) == 0:  # a redelivery, maybe changed, maybe another visitor
            copy = dict(events[-1])
            copy["customer_id"] = draw(st.sampled_from([who, *VISITORS]))
            copy["created_date"] = T0 + timedelta(minutes=draw(st.integers(0, 600)))
            events.append(copy)
    if draw(st.integers(0, 4)) == 0:
        events.append(flat_event("far", "v1", T0 + timedelta(days=900)))
    return _in_runs(draw, events, 5), draw(st.booleans())


class Killed(BaseException):
    """A run stopped dead at a kill point: nothing of its clean-up runs (as with SIGKILL)."""


def killed_run(files: list[Path], store: Store, point: str, **kw: Any) -> None:
    """A run killed at `point`: the process dies there, so its clean-up never runs and
    whatever it wrote stays; its lock goes with it. A run with nothing new to write (its
    file is the same bytes as one the store took in under another name: skipped unread)
    writes no version and reaches no kill point: it must leave the store as it was."""
    import jtrack.engine.run as engine_run
    import jtrack.store.layout as layout

    def die(at: str) -> None:
        if at == point:
            raise Killed(at)

    before = store.current_name()
    with (
        mock.patch.object(layout, "kill_point", die),
        mock.patch.object(engine_run, "_clean_up", lambda *a: None),
    ):
        try:
            res = run_sessionize(files, store, **kw)
        except Killed:
            return
    assert res.summary.run is not None and res.summary.run["mode"] == "unchanged", point
    assert store.current_name() == before


#: The session options of a drawn store: the defaults, campaign changes split sessions, or
#: sessions cut at 30 minutes (under both, a session depends on the ones before it).
SESSION_OPTIONS = (
    None,
    SessionizeOptions(split_on_campaign_change=True),
    SessionizeOptions(max_duration=timedelta(minutes=30)),
)
_RUNS = given(
    journeys(),
    st.lists(st.sampled_from((None, *KILL_POINTS)), min_size=5, max_size=5),
    st.booleans(),
    st.sampled_from(SESSION_OPTIONS),
)
_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _incremental_property(
    tmp_path_factory: pytest.TempPathFactory,
    drawn: tuple[list[list[dict[str, Any]]], bool],
    kills: list[str | None],
    follow: bool,
    session: SessionizeOptions | None,
) -> None:
    """Random events cut into random runs, some runs killed at a random point before being
    run again, the runs made as `jtrack watch` makes them (with the history's ids and times
    kept in the process) or as for a history too large to hold those (the decisions scan
    the store): the store equals one run over all the files."""
    runs, with_contacts = drawn
    key_bytes = run_module.KEY_BYTES_PER_EVENT if follow else 1 << 40
    with (
        mock.patch.object(unit, "OPEN_SPLIT_MIN", 2),  # open sessions in parts of their own
        mock.patch.object(run_module, "KEY_BYTES_PER_EVENT", key_bytes),
    ):
        _incremental_equals_one_run(tmp_path_factory, runs, with_contacts, kills, follow, session)


test_incremental_runs_equal_one_run_over_the_same_files = settings(
    max_examples=25, deadline=None, suppress_health_check=_HEALTH
)(_RUNS(_incremental_property))
# (the sessions a run leaves out of the kernel need a few hundred examples to be caught out)
test_incremental_runs_equal_one_run_over_the_same_files_many = pytest.mark.slow(
    settings(max_examples=300, deadline=None, suppress_health_check=_HEALTH)(
        _RUNS(_incremental_property)
    )
)


def _incremental_equals_one_run(
    tmp_path_factory: pytest.TempPathFactory,
    runs: list[list[dict[str, Any]]],
    with_contacts: bool,
    kills: list[str | None],
    follow: bool,
    session: SessionizeOptions | None = None,
) -> None:
    d = tmp_path_factory.mktemp("incr")
    files = []
    for i, rows in enumerate(runs):
        f = d / f"day{i}.parquet"
        flat_frame(rows).write_parquet(f)
        files.append(f)
    contacts = d / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada,v1@example.org\nC2,Bob,v3@example.org\n")
    kw: dict[str, Any] = {"on_error": "skip", "follow": follow, "session": session}
    if with_contacts:
        kw["contacts"] = contacts
    daily = Store.open(d / "daily")
    for f, kill in zip(files, kills, strict=False):
        if kill is not None:
            killed_run([f], daily, kill, **kw)
            if kill == "after_current":  # the switch happened: the run is done
                kw.pop("contacts", None)
                continue
        run_sessionize([f], daily, **kw)
        kw.pop("contacts", None)  # remembered by the store
    once = Store.open(d / "once")
    run_sessionize(
        files,
        once,
        on_error="skip",
        session=session,
        **({"contacts": contacts} if with_contacts else {}),
    )
    assert_same_store(daily, once)


def _index_table(store: Store, name: str) -> pl.DataFrame:
    """The index of version `name` as a reader of its files gets it, but for where each
    event's row is (`segment`, `row`: the version's own, which a compaction moves)."""
    from jtrack.schema import INDEX_SCHEMA

    files = sorted((store.root / "versions" / name / "index").glob("*.parquet"))
    rows = pl.read_parquet(files) if files else pl.DataFrame(schema=dict(INDEX_SCHEMA))
    return rows.drop("segment", "row").sort("event_id")


def _has_sessions(store: Store, name: str) -> bool:
    return any((store.root / "versions" / name / "sessions").glob("*.parquet"))


def _session_table(store: Store, name: str, like: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every row of the session table of version `name`, as a reader of its files gets it
    (none: `like` without its rows)."""
    files = sorted((store.root / "versions" / name / "sessions").glob("*.parquet"))
    if not files and like is not None:
        return like.clear()
    return pl.read_parquet(files).sort("id")


@settings(max_examples=25, deadline=None, suppress_health_check=_HEALTH)
@given(
    journeys(), st.lists(st.booleans(), min_size=5, max_size=5), st.sampled_from(SESSION_OPTIONS)
)
def test_a_reader_that_applies_the_session_changes_holds_the_session_table(
    tmp_path_factory: pytest.TempPathFactory,
    drawn: tuple[list[list[dict[str, Any]]], bool],
    compacts: list[bool],
    session: SessionizeOptions | None,
) -> None:
    """Session ids change between nights (a late event merges two sessions, or begins one
    earlier: the later id is retired) and nothing said which: a reader that merged each
    night's table by id kept the retired sessions. A reader that deletes the removed and
    changed ids the store lists since the version it holds, and inserts the added and
    changed ones from the new version, holds exactly the store's session table (ids and
    every column), night after night, compactions between included."""
    from jtrack.usecases.store_info import session_changes

    runs, with_contacts = drawn
    d = tmp_path_factory.mktemp("changes")
    store = Store.open(d / "store")
    contacts = d / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada,v1@example.org\n")
    kw: dict[str, Any] = {"on_error": "skip", "session": session}
    if with_contacts:
        kw["contacts"] = contacts
    held: pl.DataFrame | None = None
    held_index: pl.DataFrame | None = None
    version = ""
    with mock.patch.object(unit, "OPEN_SPLIT_MIN", 2):
        for i, (rows, compact_after) in enumerate(zip(runs, compacts, strict=False)):
            run_sessionize([_day(d, f"day{i}.parquet", rows)], store, **kw)
            kw.pop("contacts", None)
            if compact_after:
                compact(store)
            current = str(store.current_name())
            if held is None and not _has_sessions(store, current):
                pass  # (nights of system events only: no table yet; the next is read whole)
            elif held is None:  # the first night with sessions: the whole table
                held = _session_table(store, current)
                held_index = _index_table(store, current)
            else:
                changes = session_changes(store, version)
                assert changes.get_column("id").is_unique().all()
                # (a removed or changed id is one the reader holds; an added one is not)
                assert set(changes.get_column("version")) <= {current}
                had = changes.get_column("id").is_in(held.get_column("id").implode())
                assert (had == (changes.get_column("change") != "added")).all()
                gone = changes.filter(pl.col("change") != "added").get_column("id")
                new = changes.filter(pl.col("change") != "removed").get_column("id")
                table = _session_table(store, current, like=held)
                held = pl.concat(
                    [
                        held.filter(~pl.col("id").is_in(gone.implode())),
                        table.filter(pl.col("id").is_in(new.implode())),
                    ],
                    how="vertical",
                ).sort("id")
                assert_frame_equal(held, table)
                # the README's recipe for a copy of the index: the rows of the removed and
                # changed sessions out, those of the added and changed in, the rows of no
                # session reloaded (an index row's segment and row are its version's own)
                assert held_index is not None
                index = _index_table(store, current)
                held_index = pl.concat(
                    [
                        held_index.filter(
                            pl.col("session_id").is_not_null()
                            & ~pl.col("session_id").is_in(gone.implode())
                        ),
                        index.filter(
                            pl.col("session_id").is_in(new.implode())
                            | pl.col("session_id").is_null()
                        ),
                    ],
                    how="vertical",
                ).sort("event_id")
                assert_frame_equal(held_index, index)
            version = current


def _as_an_earlier_jtrack_wrote(store: Store, option: str) -> None:
    """The store's current version as an earlier jtrack wrote it: without `option` (a rule
    of a newer jtrack: `id_rule`, `visit_rule`) among its manifest's options."""
    version = store.root / "versions" / str(store.current_name())
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["options"][option]
    (version / "manifest.json").unlink()  # (a new file: the manifest cache is keyed by it)
    (version / "manifest.json").write_text(json.dumps(manifest))
    store.refresh()


def _nightly_equals_once(tmp_path: Path, days: list[list[dict[str, Any]]]) -> Store:
    """A file a day, each run into one store, equals one run over them all; that one."""
    files = [_day(tmp_path, f"day{i}.parquet", rows) for i, rows in enumerate(days)]
    daily = Store.open(tmp_path / "daily")
    for f in files:
        run_sessionize([f], daily)
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(daily, once)
    return once


def _day(d: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    f = d / name
    flat_frame(rows).write_parquet(f)
    return f


def test_a_run_counts_sessions_by_id_and_its_rows_add_up(tmp_path: Path) -> None:
    """A session that grew under its own id was counted as one added and one removed
    (`sessions_changed` was always 0, `sessions_removed` read as sessions gone), and a run's
    record had no `events_kept`: its rows_read did not add up from what it kept when a
    redelivered copy replaced a stored event."""
    store = Store.open(tmp_path / "store")
    first = [
        flat_event("a", "V", T0),
        flat_event("b", "V", T0 + minutes(10)),
        flat_event("x", "V", T0 + minutes(60)),
        flat_event("y", "U", T0),
        flat_event("z", "U", T0 + minutes(30)),
    ]
    run_sessionize([_day(tmp_path, "1.parquet", first)], store)
    store.refresh()
    before = set(store.scan_sessions().select("id").collect()["id"])
    second = [
        flat_event("c", "V", T0 + minutes(5)),  # into V's first session: changed
        flat_event("d", "V", T0 + minutes(35)),  # a session of its own: new
        flat_event("w", "W", T0),  # a new visitor: new
        flat_event("m", "U", T0 + minutes(15)),  # joins U's two sessions: one removed
        flat_event("z", "U", T0 + minutes(29)),  # an earlier copy of z: replaces it
    ]
    run = run_sessionize([_day(tmp_path, "2.parquet", second)], store)
    r = run.summary.run
    assert r is not None
    store.refresh()
    after = set(store.scan_sessions().select("id").collect()["id"])
    assert r["sessions_added"] == len(after - before) == 2
    assert r["sessions_removed"] == len(before - after) == 1
    # V's first session grew, V's last is visit 3 now (was 2), U's first holds all three
    assert r["sessions_changed"] == 3 and r["sessions_unchanged"] == 0
    assert (r["rows_read"], r["events_kept"], r["duplicates"], r["rejected"]) == (5, 5, 0, 0)
    assert r["events_added"] == 4  # (the earlier copy of z replaced the stored one)
    runs = json.loads(
        CliRunner().invoke(app, ["store", "--store", str(store.root), "-f", "json"]).stdout
    )["runs"]
    assert all(x["rows_read"] == x["events_kept"] + x["duplicates"] + x["rejected"] for x in runs)
    assert runs[-1]["sessions_changed"] == 3 and "sessions_unchanged" in runs[-1]
    # the store's other sessions count as unchanged; --replace writes every one anew
    third = run_sessionize([_day(tmp_path, "3.parquet", [flat_event("q", "Q", T0)])], store)
    r3 = third.summary.run
    assert r3 is not None and (r3["sessions_added"], r3["sessions_changed"]) == (1, 0)
    assert r3["sessions_unchanged"] == len(after) and r3["sessions_removed"] == 0
    again = run_sessionize([_day(tmp_path, "4.parquet", first)], store, replace=True, force=True)
    r4 = again.summary.run
    assert r4 is not None and r4["mode"] == "replace"
    assert (r4["sessions_added"], r4["sessions_changed"], r4["sessions_removed"]) == (4, 0, 6)
    from jtrack.render.summary import summary_lines

    said = [note for _, _, note in summary_lines(again.summary)]
    assert "4 sessions written, replacing the store's 6" in said, said


def test_a_run_over_an_unchanged_folder_changes_nothing(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for i in range(3):
        _day(exports, f"day{i}.parquet", [flat_event(f"e{i}", "v1", T0 + timedelta(days=i))])
    store = Store.open(tmp_path / "store")
    run_sessionize([exports], store)
    version = store.current_name()
    again = run_sessionize([exports], store)
    assert store.current_name() == version
    assert again.summary.run is not None and again.summary.run["mode"] == "unchanged"
    assert again.summary.run["files_skipped"] == 3
    # (its record adds up as every run's does: no row read, every session as it was)
    run = again.summary.run
    assert run["rows_read"] == run["events_kept"] + run["duplicates"] + run["rejected"] == 0
    assert run["sessions_changed"] == 0 and run["sessions_unchanged"] == again.summary.sessions == 3


def test_untouched_sessions_keep_their_ids_and_their_files(tmp_path: Path) -> None:
    first = _day(
        tmp_path,
        "a.parquet",
        [flat_event(f"a{i}", f"v{i % 3}", T0 + timedelta(minutes=i)) for i in range(9)],
    )
    store = Store.open(tmp_path / "store")
    run_sessionize([first], store)
    before = store.scan_sessions().collect().sort("id")
    parts = {p.file for p in store.read_manifest().parts}
    second = _day(tmp_path, "b.parquet", [flat_event("b1", "new-visitor", T0)])
    run = run_sessionize([second], store)
    store.refresh()
    after = store.scan_sessions().collect()
    assert_frame_equal(after.filter(pl.col("id").is_in(before["id"].implode())).sort("id"), before)
    assert parts <= {p.file for p in store.read_manifest().parts}  # carried, not rewritten
    assert run.summary.run is not None and run.summary.run["parts_rewritten"] == 0


def test_a_system_event_whose_session_loses_its_first_row_joins_the_one_before(
    tmp_path: Path,
) -> None:
    """Found by the property test: a visitor's later session starts at the very row a run
    takes back (a redelivery dated earlier makes it a duplicate of another visitor's copy).
    The session before it ended long before, yet it is not settled: the system event that
    was in the later session joins it, as a rebuild has it."""
    segment = {"kind": "segment_assigned", "event_type": "SegmentAssignmentEvent"}
    days = [
        [
            flat_event("a", "v2", T0 + timedelta(hours=9, minutes=23)),
            flat_event("sys", "v2", T0 + timedelta(hours=13, minutes=55), **segment),
        ],
        [flat_event("x", "v2", T0 + timedelta(hours=13))],
        [flat_event("x", "v3", T0 + timedelta(hours=11, minutes=50))],  # the earlier copy
    ]
    once = _nightly_equals_once(tmp_path, days)
    index = once.scan_index().collect()
    assert index.filter(pl.col("event_id") == "sys")["session_id"].null_count() == 0


def test_a_late_system_event_naming_an_app_session_joins_it_in_a_nightly_run(
    tmp_path: Path,
) -> None:
    """A segment event that names an app session, arriving in a later run hours after the
    visitor's last app session ended, joins that session (the last one begun by its time),
    as a rebuild has it: the run must not leave that session out of the kernel as settled
    (its stream's new system events are the app stream's, not the web stream's)."""
    app = {"kind": "app", "event_type": "AppEvent", "event_name": "screen_viewed",
           "source_session_type": "app", "page_url": None}  # fmt: skip
    segment = {"kind": "segment_assigned", "event_type": "SegmentAssignmentEvent",
               "event_name": None, "segment_id": "seg-app"}  # fmt: skip
    days = [
        [flat_event("a1", "v", T0, **app), flat_event("w1", "v", T0 + timedelta(hours=1))],
        [flat_event("s1", "v", T0 + timedelta(hours=3), source_session_type="app", **segment)],
    ]
    once = _nightly_equals_once(tmp_path, days)
    sid = dict(once.scan_index().select("event_id", "session_id").collect().iter_rows())
    assert sid["s1"] == sid["a1"] != sid["w1"]


def test_a_store_whose_system_events_all_joined_web_sessions_is_rebuilt_once(
    tmp_path: Path,
) -> None:
    """A store built when every system event joined a web session (no `stream_rule` among
    its options) is rebuilt by its next run, which says why; the run after is incremental."""
    app = {"kind": "app", "event_type": "AppEvent", "event_name": "screen_viewed",
           "source_session_type": "app", "page_url": None}  # fmt: skip
    store = Store.open(tmp_path / "store")
    run_sessionize([_day(tmp_path, "1.parquet", [flat_event("a", "v", T0, **app)])], store)
    _as_an_earlier_jtrack_wrote(store, "stream_rule")
    more = _day(tmp_path, "2.parquet", [flat_event("w", "v", T0 + timedelta(hours=1))])
    run = run_sessionize([more], store)
    assert run.summary.run is not None and run.summary.run["mode"] == "rebuild"
    assert any("joins the visitor's app session" in n for n in run.notes), run.notes
    store.refresh()
    assert store.manifest()["options"]["stream_rule"] == 2
    again = run_sessionize([_day(tmp_path, "3.parquet", [flat_event("x", "v", T0)])], store)
    assert again.summary.run is not None and again.summary.run["mode"] == "incremental"


def test_a_unit_sessionizes_only_the_sessions_a_run_can_change_and_only_once(
    tmp_path: Path,
) -> None:
    """A visitor's sessions that end more than a gap before the run's first event of theirs
    (and are not the last one started by then) stay out of the kernel, and the stored
    sessions are compared as stored, not worked out again by a second kernel run; those
    the run leaves as they were keep their stored row, visits are still numbered from the
    first, and the store equals a rebuild."""
    rows = [flat_event(f"a{i}", f"v{i % 3}", T0 + timedelta(minutes=i)) for i in range(9)]
    rows += [flat_event(f"b{i}", f"v{i % 3}", T0 + timedelta(hours=2, minutes=i)) for i in range(3)]
    rows += [flat_event("n1", "v1", T0 + timedelta(hours=1), kind="segment_assigned",
                        event_type="SegmentAssignmentEvent", event_name=None)]  # fmt: skip
    files = [_day(tmp_path, "a.parquet", rows)]
    store = Store.open(tmp_path / "store")
    run_sessionize(files, store)
    before = store.scan_sessions().collect()
    late = [
        flat_event("c1", "v1", T0 + timedelta(hours=2, minutes=10)),
        flat_event("c2", "v1", T0 + timedelta(hours=3)),
    ]
    files.append(_day(tmp_path, "b.parquet", late))
    calls: list[int] = []
    kernel = unit.kernel

    def counted(rows: pl.DataFrame, options: Any = None) -> Any:
        calls.append(rows.height)
        return kernel(rows, options)

    with mock.patch.object(unit, "kernel", counted):
        run = run_sessionize(files[1:], store, units=1)
    assert calls == [3]  # v1's afternoon session (b1) and the two new rows, once
    assert run.summary.run is not None
    r = run.summary.run  # (c1 grows the afternoon session under its id; c2 begins one)
    assert (r["sessions_added"], r["sessions_changed"]) == (1, 1)
    assert r["sessions_unchanged"] == before.height - 1  # (the store's others)
    store.refresh()
    after = store.scan_sessions().collect()
    v1 = before.filter(pl.col("customer_id") == "v1").sort("created_date")
    assert_frame_equal(after.filter(pl.col("id") == v1["id"][0]), v1.head(1))
    assert after.filter(pl.col("customer_id") == "v1").sort("created_date")[
        "visit_number"
    ].to_list() == [1, 2, 3]
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(store, once)


def test_the_last_session_stays_out_of_the_kernel_unless_a_new_row_may_join_it(
    tmp_path: Path,
) -> None:
    """A visitor's last session (a gap before the run's rows) stays out of the kernel too when
    no moved row can join it: not when a new system event comes before the visitor's new
    activity (it joins the session open at its time), nor when a stored system event of the
    session comes after the new activity (it moves to the new session); the store equals a
    rebuild either way."""
    seg = {"kind": "segment_assigned", "event_type": "SegmentAssignmentEvent", "event_name": None}
    first = [
        flat_event("w1", "w", T0),  # w: a new visit later, nothing else: settled
        flat_event("w2", "w", T0 + timedelta(minutes=5)),
        flat_event("v1", "v", T0),  # v: its system event at 3h moves to the visit at 2h
        flat_event("v2", "v", T0 + timedelta(minutes=5)),
        flat_event("vs", "v", T0 + timedelta(hours=3), **seg),
        flat_event("u1", "u", T0),  # u: a new system event at 1h joins this session
    ]
    second = [
        flat_event("w3", "w", T0 + timedelta(hours=2)),
        flat_event("v3", "v", T0 + timedelta(hours=2)),
        flat_event("us", "u", T0 + timedelta(hours=1), **seg),
        flat_event("u2", "u", T0 + timedelta(hours=2)),
    ]
    files = [_day(tmp_path, "a.parquet", first), _day(tmp_path, "b.parquet", second)]
    store = Store.open(tmp_path / "store")
    run_sessionize(files[:1], store)
    calls: list[list[str]] = []
    kernel = unit.kernel

    def counted(rows: pl.DataFrame, options: Any = None) -> Any:
        calls.append(sorted(rows["event_id"]))
        return kernel(rows, options)

    with mock.patch.object(unit, "kernel", counted):
        run_sessionize(files[1:], store, units=1)
    assert calls == [["u1", "u2", "us", "v1", "v2", "v3", "vs", "w3"]]
    store.refresh()
    index = store.scan_index().collect()
    ids = dict(zip(index["event_id"], index["session_id"], strict=True))
    assert ids["vs"] == ids["v3"] and ids["us"] == ids["u1"]
    assert store.scan_sessions().collect().height == 6
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(store, once)


def test_open_sessions_get_a_part_of_their_own_which_the_next_day_rewrites(
    tmp_path: Path,
) -> None:
    """A unit with many new sessions writes those still open at its end (and custom ones,
    which any later event may extend) apart: the next night's events that extend them
    rewrite that small part, not the part of the day's closed sessions."""
    day1 = [flat_event(f"a{i}", f"v{i}", T0 + timedelta(minutes=i)) for i in range(40)]
    day1 += [
        flat_event("late", "v0", T0 + timedelta(hours=23, minutes=50)),
        flat_event("c1", "v1", T0 + timedelta(hours=3), source_session_type="delivery",
                   source_session_id="d1", kind="custom", event_name="parcel_sent"),
    ]  # fmt: skip
    day2 = [
        flat_event("b1", "v0", T0 + timedelta(days=1, minutes=5)),
        flat_event("c2", "v1", T0 + timedelta(days=1, hours=5), source_session_type="delivery",
                   source_session_id="d1", kind="custom", event_name="parcel_delivered"),
    ]  # fmt: skip
    files = [_day(tmp_path, "d1.parquet", day1), _day(tmp_path, "d2.parquet", day2)]
    store = Store.open(tmp_path / "store")
    with mock.patch.object(unit, "OPEN_SPLIT_MIN", 8):
        run_sessionize(files[:1], store)
        first = {p.file: p.rows for p in store.read_manifest().parts_of("sessions")}
        assert first == {"p000001-u0000.parquet": 40, "p000001-u0000-open.parquet": 2}
        run = run_sessionize(files[1:], store)
    store.refresh()
    now = {p.file for p in store.read_manifest().parts_of("sessions")}
    assert "p000001-u0000.parquet" in now and "p000001-u0000-open.parquet" not in now
    assert run.summary.run is not None and run.summary.run["parts_rewritten"] == 1
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(store, once)


BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def test_a_session_that_turns_automated_leaves_its_earlier_index_rows_alone(
    tmp_path: Path,
) -> None:
    """A growing session that a behaviour signal turns `suspect` changes its session row
    only: the index does not hold the class, so the parts with its earlier events stay."""

    def views(prefix: str, start: int, n: int) -> list[dict[str, Any]]:
        at = [T0 + timedelta(seconds=start + i) for i in range(n)]
        return [
            flat_event(f"{prefix}{i}", "v", t, user_agent_string=BROWSER) for i, t in enumerate(at)
        ]

    f1 = _day(tmp_path, "1.parquet", views("a", 0, 10))
    f2 = _day(tmp_path, "2.parquet", views("b", 10, 15))  # 25 page views in 25 s
    store = Store.open(tmp_path / "store")
    run_sessionize([f1], store)
    assert store.scan_sessions().collect()["traffic_class"].to_list() == ["human"]
    index_parts = {p.file for p in store.read_manifest().parts_of("index")}
    run_sessionize([f2], store)
    store.refresh()
    assert store.scan_sessions().collect()["traffic_class"].to_list() == ["suspect"]
    assert index_parts <= {p.file for p in store.read_manifest().parts_of("index")}
    events = store.scan_events(columns=["event_id", "traffic_class"]).collect()
    assert events.height == 25 and events["traffic_class"].unique().to_list() == ["suspect"]
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize([f1, f2], rebuilt)
    assert_same_store(store, rebuilt)


def test_index_parts_that_hold_traffic_class_as_an_earlier_jtrack_wrote_them(
    tmp_path: Path,
) -> None:
    """An earlier jtrack kept each event's session class in the index, and its manifest no
    times or unattached events per index part: such parts are read (the column ignored,
    the totals read from the part) beside new parts, and the store reads as a fresh build."""
    f1 = _day(tmp_path, "1.parquet", [flat_event(f"a{i}", f"v{i % 2}", T0) for i in range(4)])
    f2 = _day(tmp_path, "2.parquet", [flat_event(f"b{i}", f"v{i % 3}", T0) for i in range(6)])
    # (a part none of the next run's visitors are in is carried as it is: its totals read)
    early = [flat_event("z", "w", T0 - timedelta(days=1))]
    f0 = _day(tmp_path, "0.parquet", [*early, flat_event("y", "w", T0 - timedelta(days=2))])
    store = Store.open(tmp_path / "store")
    run_sessionize([f0, f1], store, units=2)
    for path in (store.root / "current" / "index").glob("*.parquet"):
        pl.read_parquet(path).with_columns(traffic_class=pl.lit("human")).write_parquet(path)
    manifest = store.root / "current" / "manifest.json"
    data = json.loads(manifest.read_text())
    for part in data["parts"]:
        for key in ("first_us", "last_us", "unattached"):
            part.pop(key)
    manifest.write_text(json.dumps(data))
    run_sessionize([f2], store)
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize([f0, f1, f2], rebuilt)
    assert_same_store(store, rebuilt)
    assert any(p.first_us is None for p in store.read_manifest().parts_of("index"))


@pytest.mark.parametrize(
    ("follow", "shape", "scanned"),
    [
        (False, "parquet", False),
        (True, "parquet", False),
        (False, "parquet", True),
        (False, "jsonl", False),
    ],
)
def test_rows_cross_the_far_future_cut_both_ways_as_a_rebuild_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow: bool, shape: str, scanned: bool
) -> None:
    """A held far-future row comes back when events near it arrive, and a stored row is
    held when earlier events arrive, its reject naming its input line as a rebuild's does
    (JSON lines with blank lines between the rows, too). The history's id hashes and times
    are read once (under `follow`, as jtrack watch runs, kept in the process between runs),
    or, when they would not fit in memory, the decisions scan the store for them."""
    if scanned:
        monkeypatch.setattr(run_module, "KEY_BYTES_PER_EVENT", 1 << 40)
    days = [
        [flat_event("late", "v1", T0 + timedelta(days=900))]
        + [flat_event(f"a{i}", "v2", T0 + timedelta(minutes=i)) for i in range(2)],
        [flat_event(f"c{i}", "v3", T0 + timedelta(days=899, minutes=i)) for i in range(3)],
        [flat_event(f"d{i}", "v4", T0 + timedelta(minutes=i)) for i in range(400)],
    ]
    if shape == "parquet":
        files = [_day(tmp_path, f"{i}.parquet", rows) for i, rows in enumerate(days)]
    else:
        files = []
        for i, rows in enumerate(days):
            f = tmp_path / f"{i}.jsonl"
            lines = flat_frame(rows).write_ndjson().splitlines()
            # blank lines before, between and after the rows move each row's line
            f.write_text("\n\n" + "\n\n\n".join(lines[:2]) + "\n" + "\n".join(lines[2:]) + "\n\n")
            files.append(f)
    store = Store.open(tmp_path / "store")
    held = []
    for i, f in enumerate(files):
        run_sessionize([f], store, on_error="skip", follow=follow)
        rebuilt = Store.open(tmp_path / f"rebuilt{i}")
        run_sessionize(files[: i + 1], rebuilt, on_error="skip")
        assert_same_store(store, rebuilt)
        h = contents(store)["held"]
        held.append([] if h is None else sorted(h["event_id"].to_list()))
    assert held == [["late"], [], ["c0", "c1", "c2", "late"]]
    lines = contents(store)["rejects"].select("file", "line").rows()
    at = [1, 1, 2, 3] if shape == "parquet" else [3, 3, 6, 7]  # late; c0, c1, c2
    assert lines == [(str(files[0]), at[0])] + [(str(files[1]), n) for n in at[1:]]


def test_no_event_dated_before_the_clock_is_far_future(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site that resumes tracking after a year's pause: its new events came after a gap
    of a year and were at most 1% of the store's, so they were rejected as far_future (and
    left out of the bill) though dated before now. Only events dated after the run's clock
    are cut; as the clock passes a held event, the next run takes it in, as a rebuild
    would. `$JTRACK_NOW` pins the clock (a time it cannot read is exit 2)."""
    from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage

    old = [flat_event(f"o{i}", "v1", T0 + timedelta(minutes=i)) for i in range(300)]
    back = [flat_event("b1", "v2", T0 + timedelta(days=400))]  # 2027-11-07
    files = [_day(tmp_path, "old.parquet", old), _day(tmp_path, "back.parquet", back)]
    monkeypatch.setenv("JTRACK_NOW", "2027-11-06T00:00:00Z")  # (a day before it: future)
    store = Store.open(tmp_path / "store")
    for f in files:
        run_sessionize([f], store, on_error="skip")
    held = contents(store)["held"]
    assert held is not None and held["event_id"].to_list() == ["b1"]
    monkeypatch.setenv("JTRACK_NOW", "2027-12-01T00:00:00Z")  # (the clock has passed it)
    run_sessionize([files[1]], store, on_error="skip")  # (nothing new: judged again)
    assert contents(store)["held"] is None
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize(files, rebuilt, on_error="skip")
    assert_same_store(store, rebuilt)
    month = UsageOptions(
        as_of=datetime(2027, 12, 1, tzinfo=UTC), month=datetime(2027, 11, 1, tzinfo=UTC).date()
    )
    for source in (UsageInput.from_store(store), UsageInput.from_sources(files)):
        report = compute_usage(source, month)
        assert report.rows["billable"].sum() == 1, report.rows
    for bad in ("soon", "9999-12-31T23:00:00-05:00"):  # (read at the start of every run)
        monkeypatch.setenv("JTRACK_NOW", bad)
        with pytest.raises(UsageError, match=r"\$JTRACK_NOW '.*' is no time"):
            run_sessionize([files[0]], Store.open(tmp_path / "s3"))
        assert not (tmp_path / "s3").exists()


@pytest.mark.parametrize("scanned", [False, True])
def test_a_redelivered_far_future_event_is_one_event_not_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: bool
) -> None:
    """Copies of one far-future event count once against the 1% share: two copies in one
    file, or a copy delivered again in a later run, are held aside as one would be (the
    second copy used to fill the share and let the event into the store)."""
    if scanned:
        monkeypatch.setattr(run_module, "KEY_BYTES_PER_EVENT", 1 << 40)
    near = [flat_event(f"a{i}", "v1", T0 + timedelta(minutes=i)) for i in range(2)]
    far = flat_event("f1", "v1", T0 + timedelta(days=900))
    both = _day(tmp_path, "both.parquet", [*near, far, far])
    store = Store.open(tmp_path / "one")
    run_sessionize([both], store, on_error="skip")
    assert contents(store)["held"]["event_id"].to_list() == ["f1", "f1"]
    assert store.read_manifest().counts["events_kept"] == 2
    days = [_day(tmp_path, "1.parquet", [*near, far]), _day(tmp_path, "2.parquet", [far])]
    store = Store.open(tmp_path / "two")
    for f in days:
        run_sessionize([f], store, on_error="skip")
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize(days, rebuilt, on_error="skip")
    assert_same_store(store, rebuilt)
    assert store.read_manifest().counts["events_kept"] == 2
    assert [r[0] for r in contents(store)["rejects"].select("reason").rows()] == ["far_future"] * 2
    # the library's read (no store) counts the same way
    from jtrack.read import read_events

    read = read_events([str(both)], on_error="skip")
    assert read.rejects.get_column("reason").to_list() == ["far_future"] * 2


@pytest.mark.parametrize(("cap", "known"), [(4, True), (3, False)])
def test_a_segment_keeps_where_its_rows_are_up_to_a_number_of_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: int, known: bool
) -> None:
    """The manifest keeps at most MAX_LINE_BREAKS changes of a segment's line offset: past
    that, the segment's lines are not known, and a row of it held aside by a later run is
    rejected without its line (as in a store written before the lines were kept)."""
    monkeypatch.setattr(ingest, "MAX_LINE_BREAKS", cap)
    rows = [flat_event(f"a{i}", "v2", T0 + timedelta(minutes=i)) for i in range(2)]
    rows.append(flat_event("c0", "v3", T0 + timedelta(days=899)))
    rows.append(flat_event("late", "v1", T0 + timedelta(days=900)))
    first = tmp_path / "first.jsonl"  # rows on lines 1, 3, 5 and 7
    first.write_text("\n\n".join(flat_frame(rows).write_ndjson().splitlines()) + "\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([first], store)
    kept = [[[0, 0], [1, 1], [2, 2], [3, 3]]] if known else [None]
    assert [s.lines for s in store.read_manifest().segments] == kept
    near = [flat_event(f"d{i}", "v4", T0 + timedelta(minutes=i)) for i in range(400)]
    run_sessionize([_day(tmp_path, "near.parquet", near)], store, on_error="skip")
    store.refresh()
    with store.snapshot() as snap:
        rejects = snap.rejects()
    lines = [5, 7] if known else [None, None]
    assert rejects.select("reason", "line").rows() == [("far_future", n) for n in lines]


def test_a_late_event_merges_two_sessions_as_a_rebuild_would(tmp_path: Path) -> None:
    early = [flat_event("a", "v", T0), flat_event("c", "v", T0 + timedelta(minutes=30))]
    late = [flat_event("b", "v", T0 + timedelta(minutes=15))]
    f1, f2 = _day(tmp_path, "1.parquet", early), _day(tmp_path, "2.parquet", late)
    store = Store.open(tmp_path / "store")
    run_sessionize([f1], store)
    assert store.scan_sessions().collect().height == 2
    run = run_sessionize([f2], store)
    store.refresh()
    assert store.scan_sessions().collect()["event_count"].to_list() == [3]
    r = run.summary.run
    assert r is not None  # (a's session grew, c's is gone: by id, not rows rewritten)
    assert (r["sessions_added"], r["sessions_changed"], r["sessions_removed"]) == (0, 1, 1)
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize([f1, f2], rebuilt)
    assert_same_store(store, rebuilt)


def test_totals_kept_from_the_runs_differences_equal_a_rebuilds(tmp_path: Path) -> None:
    """The store's totals are worked out from what each run changed (visitors, contact
    states, the index parts' times): a visitor identified in a later run turns known, a new
    one arrives, a later event moves the last event time; each run's totals equal those of
    one run over the files so far."""
    book = tmp_path / "contacts.csv"
    book.write_text("contact_id,name,email\nC1,Ada,v1@example.org\nC2,Bob,v3@example.org\n")
    email = {
        "event_name": "form_submitted",
        "kind": "custom",
        "traits": [{"name": "email", "data_type": "string", "value": "v1@example.org"}],
    }
    days = [
        [flat_event("a", "v1", T0), flat_event("b", "v2", T0 + timedelta(minutes=1))],
        [flat_event("c", "v1", T0 + timedelta(minutes=5), **email)],
        [flat_event("d", "v3", T0 + timedelta(hours=5)), flat_event("e", "v2", T0)],
    ]
    files = [_day(tmp_path, f"{i}.parquet", rows) for i, rows in enumerate(days)]
    store = Store.open(tmp_path / "store")
    for i, f in enumerate(files):
        run_sessionize([f], store, contacts=book, on_error="skip")
        rebuilt = Store.open(tmp_path / f"rebuilt{i}")
        run_sessionize(files[: i + 1], rebuilt, contacts=book, on_error="skip")
        assert_same_store(store, rebuilt)
    m = store.read_manifest()
    assert m.contact_counts is not None and m.contact_counts["visitors_known"] == 1
    assert m.counts["visitors"] == 3 and m.counts["events_kept"] == 5
    assert all(p.first_us is not None for p in m.parts_of("index"))


def test_a_changed_file_is_read_again_and_its_events_deduplicated(tmp_path: Path) -> None:
    f = _day(tmp_path, "export.parquet", [flat_event("a", "v", T0)])
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    _day(tmp_path, "export.parquet", [flat_event("a", "v", T0), flat_event("b", "v", T0)])
    run = run_sessionize([f], store)
    assert run.summary.events_kept == 2 and run.summary.duplicates == 1
    assert run.summary.rows_read == 3


def test_files_that_leave_the_folder_keep_their_events(tmp_path: Path) -> None:
    f = _day(tmp_path, "old.parquet", [flat_event("a", "v", T0)])
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    f.unlink()
    g = _day(tmp_path, "new.parquet", [flat_event("b", "w", T0)])
    run = run_sessionize([g], store)
    assert run.summary.events_kept == 2


def test_other_options_rebuild_every_session_and_say_so(tmp_path: Path) -> None:
    from jtrack.options import SessionizeOptions

    rows = [flat_event(f"e{i}", "v", T0 + timedelta(minutes=25 * i)) for i in range(4)]
    f = _day(tmp_path, "a.parquet", rows)
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    assert store.scan_sessions().collect().height == 4
    run = run_sessionize([f], store, session=SessionizeOptions(gap=timedelta(minutes=30)))
    store.refresh()
    assert store.scan_sessions().collect().height == 1
    assert any("rebuilt" in n for n in run.notes)
    assert store.manifest()["options"]["gap_seconds"] == 1800


def _as_an_earlier_jtrack_split_it(store: Store) -> None:
    """The current manifest as a jtrack before campaign rule 2 wrote it: no rule recorded.
    (A store of rule 2 is rebuilt the same way.)"""
    version = store.root / "versions" / str(store.current_name())
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["options"]["campaign_rule"]
    (version / "manifest.json").write_text(json.dumps(manifest))
    store.refresh()


def test_a_store_split_on_campaigns_by_an_earlier_rule_is_rebuilt_once(tmp_path: Path) -> None:
    """Sessions split on campaign change by the earlier rule (a same-site referrer without a
    medium was an arrival): the next run, options given or not, rebuilds every session once
    and says so, so the store equals a rebuild by today's rule; the run after is incremental."""
    from jtrack.options import SessionizeOptions

    split = SessionizeOptions(split_on_campaign_change=True)

    def page(event_id: str, m: int, referrer: str | None) -> dict[str, Any]:
        return flat_event(
            event_id, "v", T0 + timedelta(minutes=m), page_url=f"https://shop.example/{event_id}",
            referrer_hostname=referrer, referrer_medium=None,
        )  # fmt: skip

    first = _day(tmp_path, "a.parquet", [page("a", 0, "news.site"), page("b", 2, "shop.example")])
    store = Store.open(tmp_path / "store")
    run_sessionize([first], store, session=split)
    assert store.manifest()["options"]["campaign_rule"] == CAMPAIGN_RULE
    second = _day(tmp_path, "b.parquet", [page("c", 4, "shop.example")])
    for options in ({}, {"session": split}):
        _as_an_earlier_jtrack_split_it(store)
        run = run_sessionize([second], store, **options)
        assert any("earlier rule" in n for n in run.notes), run.notes
        store.refresh()
        assert store.scan_sessions().collect()["event_count"].to_list() == [3]
        assert store.manifest()["options"]["campaign_rule"] == CAMPAIGN_RULE
        again = run_sessionize([second], store, force=False)
        assert again.summary.run is not None and again.summary.run["mode"] != "rebuild"


def test_new_user_agent_lists_classify_every_session_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store classed with other lists (here: lists that class everyone as a person) is
    classed again on the next run, unchanged sessions included, as a fresh build is."""
    import jtrack.core.sessionize as kernel
    import jtrack.engine.run as engine_run

    rows = [
        flat_event("a1", "bot", T0, user_agent_string="Mozilla/5.0 (compatible; GPTBot/1.2)"),
        flat_event("a2", "bot", T0 + timedelta(minutes=1), user_agent_string="GPTBot/1.2"),
        flat_event("p1", "person", T0, user_agent_string="Mozilla/5.0 (X11; Linux x86_64)"),
    ]
    f = _day(tmp_path, "day.parquet", rows)
    real = kernel.session_traffic

    def everyone_human(sessions: pl.DataFrame) -> pl.DataFrame:
        return real(sessions.with_columns(user_agent_string=pl.lit(None, pl.String)))

    store = Store.open(tmp_path / "store")
    with monkeypatch.context() as m:
        m.setattr(kernel, "session_traffic", everyone_human)
        m.setattr(engine_run, "user_agent_list_version", lambda: "older lists")
        run_sessionize([f], store)
    store.refresh()
    assert set(store.scan_sessions().collect()["traffic_class"]) == {"human"}
    run = run_sessionize([], store)  # nothing new; the lists are not the store's
    assert any("user-agent lists changed" in n for n in run.notes)
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize([f], fresh)
    store.refresh()
    classes = dict(store.scan_sessions().collect().select("customer_id", "traffic_class").rows())
    assert classes == {"bot": "ai_agent", "person": "human"}
    assert_same_store(store, fresh)


def test_compressed_inputs_are_sized_from_their_header_or_trailer(tmp_path: Path) -> None:
    """The memory plan counts the rows of a compressed export by the size it will have
    once decompressed (gzip's trailer, zstd's frame header), not by a fixed ratio."""
    import gzip

    import zstandard

    from jtrack.engine.run import _estimate_rows
    from jtrack.read import Source

    text = ("x" * 399 + "\n").encode() * 5000  # 2 MB that compress ~400 times
    gz, zst, plain = tmp_path / "a.jsonl.gz", tmp_path / "a.jsonl.zst", tmp_path / "a.jsonl"
    gz.write_bytes(gzip.compress(text))
    zst.write_bytes(zstandard.ZstdCompressor().compress(text))
    plain.write_bytes(text)
    for f in (gz, zst, plain):
        rows, text = _estimate_rows([Source(f.name, f)])
        assert rows == text and abs(rows - 5000) <= 25, f  # lines measured on samples
    grown = Source(plain.name, plain, offset=400 * 1000, end=400 * 1500)
    rows, _ = _estimate_rows([grown])
    assert abs(rows - 500) <= 5  # the new lines only


def test_json_rows_are_counted_by_the_length_of_their_lines(tmp_path: Path) -> None:
    """The memory plan measures a JSON file's lines on samples (start, middle, end; the
    start of compressed text) instead of assuming 400 bytes a line: long Genesys lines are
    not taken for three times as many rows, and a document on one line keeps the guess."""
    import gzip

    from jtrack.engine.run import _estimate_rows
    from jtrack.read import Source

    line = b'{"id": "' + b"x" * 1290 + b'"}\n'  # 1,300 bytes
    long_lines = tmp_path / "genesys.jsonl"
    long_lines.write_bytes(line * 2000)
    gz = tmp_path / "genesys.jsonl.gz"
    gz.write_bytes(gzip.compress(line * 2000))
    mixed = tmp_path / "mixed.jsonl"  # many short lines at the start, long ones after
    mixed.write_bytes(b"{}\n" * 20_000 + line * 2000)
    doc = tmp_path / "doc.json"
    doc.write_bytes(b"[" + b",".join([b'{"id": "' + b"x" * 390 + b'"}'] * 1000) + b"]")
    for src in (
        Source(long_lines.name, long_lines),
        Source(gz.name, gz),
        Source("-", data=line * 2000),
    ):
        rows, text = _estimate_rows([src])
        assert rows == text and abs(rows - 2000) <= 20, src.name  # not 6,500
    rows, _ = _estimate_rows([Source(mixed.name, mixed)])
    assert rows >= 22_000  # on the safe side: more rows (more units), not fewer
    assert _estimate_rows([Source(doc.name, doc)]) == (doc.stat().st_size // 400,) * 2


def test_a_canonical_parquet_file_with_a_bracket_in_its_name_is_kept_as_is(
    tmp_path: Path,
) -> None:
    f = tmp_path / "export[1].parquet"  # a name, not a pattern
    flat_frame([flat_event("a", "v", T0), flat_event("b", "v", T0)]).write_parquet(f)
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    (segment,) = store.read_manifest().segments
    assert segment.kept_as_is


def test_a_parquet_input_with_a_column_named_as_a_store_reader_names_its_own_is_re_encoded(
    tmp_path: Path,
) -> None:
    """A canonical file with an extra `row` (or `segment`, `filename`, ...) column was kept
    as it is, and the README's join of the index and the segments (which adds `row` and
    `segment` of its own) lost or mis-joined its events without a word."""
    rows = [flat_event("a", "v", T0), flat_event("b", "v", T0 + timedelta(seconds=1))]
    cases = [("tenant", True), ("row", False), ("file_row_number", False), ("Segment", False)]
    for extra, kept in (*cases, ("FileName", False), ("_metadata", False)):
        f = tmp_path / f"with-{extra}.parquet"
        flat_frame(rows).with_columns(pl.lit(7).alias(extra)).write_parquet(f)
        store = Store.open(tmp_path / f"store-{extra}")
        run_sessionize([f], store)
        (segment,) = store.read_manifest().segments
        assert segment.kept_as_is is kept, extra
        files = list((store.root / "current" / "segments").glob("*.parquet"))
        names = set(pl.read_parquet_schema(files[0]))
        lower = {n.lower() for n in names}
        assert (extra in names) is kept and not lower & {"row", "segment", "file_row_number"}
        assert store.scan_events().select(pl.len()).collect().item() == 2


def test_a_canonical_parquet_file_whose_referrer_or_campaign_is_a_url_only_is_re_encoded(
    tmp_path: Path,
) -> None:
    """A canonical file kept as it is kept a referrer given as a URL only without its host,
    and a landing page's utm_* parameters without a campaign: its rows are stored with the
    parts derived (as every reader derives them), its sessions too; a file that needs
    none is still kept as it is."""
    plain = [flat_event("a", "v", T0), flat_event("b", "w", T0)]
    tagged = [
        flat_event("a", "v", T0, referrer_url="https://www.google.com/search?q=x"),
        flat_event("b", "w", T0, page_url="https://shop.example/?utm_source=news&utm_campaign=oct"),
        flat_event(
            "c", "x", T0, page_url="https://shop.example/?utm_source=news", mkt_campaign_network="n"
        ),
    ]
    for name, rows, kept in (("plain", plain, True), ("tagged", tagged, False)):
        f = tmp_path / f"{name}.parquet"
        flat_frame(rows).write_parquet(f)
        store = Store.open(tmp_path / name)
        run_sessionize([f], store)
        (segment,) = store.read_manifest().segments
        assert segment.kept_as_is is kept, name
        if kept:
            continue
        cols = ["referrer_hostname", "referrer_domain", "mkt_campaign_source", "mkt_campaign_name"]
        events = store.scan_events().select("event_id", *cols).collect().sort("event_id")
        assert events.rows() == [
            ("a", "www.google.com", "google.com", None, None),
            ("b", None, None, "news", "oct"),
            ("c", None, None, None, None),
        ]
        sessions = store.scan_sessions().collect().sort("customer_id")
        assert sessions.select(cols[0], *cols[2:]).rows() == [
            ("www.google.com", None, None),
            (None, "news", "oct"),
            (None, None, None),
        ]


def test_a_time_zone_polars_does_not_know_is_read_without_a_panic(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = flat_frame([flat_event("a", "v", T0)]).to_arrow()
    i = table.schema.get_field_index("created_date")
    table = table.set_column(
        i, "created_date", table.column(i).cast(pa.timestamp("us", tz="+05:30"))
    )
    f = tmp_path / "offset.parquet"
    pq.write_table(table, f)
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    assert store.read_manifest().counts["events_kept"] == 1
    assert "panicked" not in capfd.readouterr().err


def test_a_store_inside_the_exports_folder_is_not_read_as_exports(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    _day(exports, "day0.parquet", [flat_event("a", "v", T0)])
    store = Store.open(exports / ".jtrack")  # `jtrack sessionize .` with the default store
    run_sessionize([exports], store)
    _day(exports, "day1.parquet", [flat_event("b", "v", T0 + timedelta(days=1))])
    run = run_sessionize([exports], store)
    assert run.summary.run is not None and run.summary.run["files_read"] == 1
    assert store.read_manifest().counts["events_kept"] == 2
    # another store kept there is no input either (its segments are flat Parquet events)
    run_sessionize([exports], Store.open(exports / "old-store"))
    again = run_sessionize([exports], store)
    assert again.summary.run is not None and again.summary.run["files_read"] == 0
    assert store.read_manifest().counts["events_kept"] == 2


def test_a_folder_of_other_files_named_as_the_store_is_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    """`--store exports` by mistake: the inputs inside it were left out as the store's own
    files, and a store was started among them (exit 0, nothing read). Now refused, exit 2,
    nothing written there (not even the lock); an empty folder is a new store."""
    exports = tmp_path / "exports"
    exports.mkdir()
    day = _day(exports, "day0.parquet", [flat_event("a", "v", T0)])
    before = sorted(p.name for p in exports.iterdir())
    with pytest.raises(UsageError, match=r"not a jtrack store, and not empty .*day0\.parquet"):
        run_sessionize([day], Store.open(exports))
    assert sorted(p.name for p in exports.iterdir()) == before
    res = CliRunner().invoke(app, ["sessionize", str(day), "--store", str(exports), "-q"])
    assert res.exit_code == 2 and "not a jtrack store" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_sessionize([day], Store.open(empty)).summary.events_kept == 1
    # what file systems and desktops put in any folder is no sign of other work
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)
    (volume / ".DS_Store").write_bytes(b"\0")
    (volume / "._x").write_bytes(b"\0")
    assert run_sessionize([day], Store.open(volume)).summary.events_kept == 1


def test_a_rejected_row_comes_before_a_read_error_further_on(tmp_path: Path) -> None:
    """The next chunk of a file is read while the one before is written to its segment;
    an error reading it (a gzip stream cut short) still comes after the rows before it, so
    `--on-error fail` names the first rejected row, as when chunks were read one by one."""
    import gzip

    events = [flat_event(f"e{i}", f"v{i % 50}", T0 + timedelta(seconds=i)) for i in range(900)]
    lines = [json.dumps(e, default=str) for e in events]
    lines[1] = lines[1].replace('"event_id": "e1"', '"event_id": ""')  # missing_id on line 2
    head = ("\n".join(lines[:800]) + "\n").encode()  # the first block (1 MB) and more
    assert 1 << 20 < len(head) < 2 << 20
    rest = gzip.compress(("\n".join(lines[800:]) + "\n").encode())
    src = tmp_path / "cut.jsonl.gz"
    # a second member cut short: its end is reached reading the second block
    src.write_bytes(gzip.compress(head) + rest[: len(rest) // 2])
    store = Store.open(tmp_path / "store")
    err = run_or_error([src], store, on_error="fail", chunk_rows=2_000)
    assert isinstance(err, JtrackError)
    assert "cut.jsonl.gz:2:" in str(err) and "missing_id" in str(err), err
    assert not store.exists()
    # skipping rejects, the cut stream is the error
    err = run_or_error([src], store, on_error="skip", chunk_rows=2_000)
    assert isinstance(err, JtrackError) and "truncated or corrupt" in str(err), err


def test_every_segment_is_on_disk_before_its_version_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment kept as it is (copied) and one re-encoded from JSON lines are fsynced, as
    the parts are, before the switch to their version: a power cut after it cannot leave
    the store pointing at a segment the disk never got whole."""
    import os

    synced: set[str] = set()
    real = os.fsync

    def fsync(fd: int) -> None:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith("."):  # written under a temporary name, then renamed
            name = name[1:].rsplit(".", 1)[0]
        synced.add(name)
        real(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the files fsync is given (Linux)")
    kept = tmp_path / "kept.parquet"
    flat_frame([flat_event("a", "v", T0), flat_event("b", "w", T0)]).write_parquet(kept)
    lines = tmp_path / "more.jsonl"
    flat_frame([flat_event("c", "v", T0 + timedelta(hours=1))]).write_ndjson(lines)
    store = Store.open(tmp_path / "store")
    monkeypatch.setattr(os, "fsync", fsync)
    run_sessionize([kept, lines], store)
    segments = store.read_manifest().segments
    assert [s.kept_as_is for s in segments] == [True, False]
    assert {s.file for s in segments} <= synced


def test_session_and_index_parts_are_in_the_stores_order(tmp_path: Path) -> None:
    """Every part lists its rows by bucket, then visitor (by the visitor hash, then id), then
    time: a fresh build in many units, then parts written again by a run whose contacts book
    changes stored sessions beside new ones."""
    import polars_hash  # noqa: F401

    src = tmp_path / "synth.parquet"
    generate_flat(4_000, seed=11).write_parquet(src)
    sources = [SAMPLE / "events.jsonl", src]
    store = Store.open(tmp_path / "store")
    run_sessionize(sources[:1], store, units=7, chunk_rows=333)
    run_sessionize(sources, store, units=7, chunk_rows=333, contacts=SAMPLE / "contacts.csv")
    snap = store.snapshot()
    h = pl.col("customer_id").nchash.xxh3_64()  # type: ignore[attr-defined]
    keys = {
        "sessions": ["bucket", "_h", "customer_id", "created_date", "id"],
        "index": ["bucket", "_h", "customer_id"],
    }
    checked = 0
    for table, order in keys.items():
        for path in snap.part_files(table):
            rows = pl.read_parquet(path).with_columns(_h=h)
            assert rows.equals(rows.sort(order, maintain_order=True)), (table, path.name)
            checked += 1
    assert checked > 4


def _big_export(path: Path, middle_id: str) -> Path:
    """A JSON lines export of over 3 MiB whose middle line is the event `middle_id` (ids of
    one length: files that differ there have the same size, first and last MiB)."""
    lines = [
        genesys_line(f"e{i:05d}", f"v{i % 50}", T0 + timedelta(minutes=i)) for i in range(12000)
    ]
    lines[6000] = genesys_line(middle_id, "v0", T0 + timedelta(minutes=6000))
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 3 << 20
    return path


def test_two_exports_that_differ_only_in_the_middle_are_both_read(tmp_path: Path) -> None:
    """The fingerprint reads a file's first and last MiB; two files alike there are not
    taken for one file named twice unless their bytes are the same."""
    a = _big_export(tmp_path / "a.jsonl", "e06000")
    b = _big_export(tmp_path / "b.jsonl", "x06000")
    run = run_sessionize([a, b], Store.open(tmp_path / "store"))
    assert run.summary.rows_read == 24000
    assert run.summary.events_kept == 12001  # every event once, and the one that differs
    same = run_sessionize([a, a], Store.open(tmp_path / "again"))
    assert same.summary.rows_read == 12000  # one file named twice is read once


def test_a_file_touched_without_change_is_not_read_again(tmp_path: Path) -> None:
    """A nightly sync that rewrites the same bytes (a new modification time, the same size
    and digest) costs nothing: the file is known by its content. (The price, documented: an
    edit in the middle of a large file that keeps its size is not seen.)"""
    import os

    f = _big_export(tmp_path / "a.jsonl", "e06000")
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    version = store.current_name()
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    run = run_sessionize([f], store)
    assert store.current_name() == version
    assert run.summary.run is not None and run.summary.run["files_skipped"] == 1


def test_the_library_refuses_what_the_cli_refuses(tmp_path: Path) -> None:
    """run_sessionize's keywords are checked as the CLI's options are: a misspelt
    on_error="Fail" must not skip bad rows silently; one path given alone is one source, not
    its characters; a missing contacts file is a FileAccessError."""
    src = tmp_path / "day.parquet"
    flat_frame([flat_event("e1", "v1", T0)]).write_parquet(src)
    store = Store.open(tmp_path / "store")
    for bad in (
        {"on_error": "Fail"},
        {"keep": -3},
        {"engine": "sparky"},
        {"max_line_bytes": 0},
        {"lock_wait": -1.0},
        {"units": 0},
    ):
        with pytest.raises(UsageError):
            run_sessionize([src], store, **bad)
    with pytest.raises(TypeError, match="gap"):
        run_sessionize([src], store, gap="30m")
    assert not store.exists()
    run = run_sessionize(str(src), store)  # one path, as a string
    assert run.summary.events_kept == 1 and run.summary.run is not None
    assert run.summary.run["files_read"] == 1
    with pytest.raises(FileAccessError, match="no such contacts file"):
        run_sessionize([], store, contacts=tmp_path / "missing.csv")


def test_the_options_change_note_names_only_what_changed(tmp_path: Path) -> None:
    """Built with --gap 30m, then run with other options but no --gap: the note lists the
    two options that changed, not the gap (it used to read "gap 1800s -> gap 1800s, ...")."""
    day = _day(tmp_path, "1.parquet", [flat_event("a", "v", T0)])
    store = Store.open(tmp_path / "store")
    run_sessionize([day], store, session=SessionizeOptions(gap=timedelta(minutes=30)))
    later = _day(tmp_path, "2.parquet", [flat_event("b", "v", T0 + timedelta(hours=1))])
    opts = SessionizeOptions(
        gap=timedelta(minutes=30), split_on_campaign_change=True, max_duration=timedelta(minutes=5)
    )
    run = run_sessionize([later], store, session=opts)
    note = next(n for n in run.notes if "options differ" in n)
    assert "(split on campaign change off -> on, max duration none -> 5m)" in note
    assert "gap" not in note


def test_library_values_the_cli_refuses_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """A zero or negative gap, numbers where durations go, a dict for the session options,
    a string lock wait: UsageError at once (a negative gap used to build a store of
    nonsense sessions; the others failed deep inside, after the lock was taken). A store
    given as its folder, and one column named as a string, are what they mean."""
    for bad in (
        {"gap": timedelta(0)},
        {"gap": timedelta(minutes=-5)},
        {"gap": 20},
        {"max_duration": 3600},
        {"split_on_campaign_change": "yes"},
    ):
        with pytest.raises(UsageError):
            SessionizeOptions(**bad)
    from jtrack.options import RunOptions

    for bad_run in ({"session": {"gap": timedelta(minutes=5)}}, {"lock_wait": "5"}):
        with pytest.raises(UsageError):
            RunOptions(**bad_run)  # type: ignore[arg-type]
    day = _day(tmp_path, "1.parquet", [flat_event("a", "v", T0)])
    run = run_sessionize([day], str(tmp_path / "store"))  # type: ignore[arg-type]
    assert run.summary.events_kept == 1
    with Store.open(tmp_path / "store").snapshot() as snap:
        assert snap.scan_events(columns="session_id").collect().columns == ["session_id"]
    with pytest.raises(UsageError, match="more than zero"):
        from jtrack.options import parse_duration

        parse_duration("0m")


def test_the_same_export_under_two_names_in_one_run_is_read_once_and_said(
    tmp_path: Path,
) -> None:
    """Two files of the same bytes in one run: one is read, the other counted as skipped in
    the run's record and named in a note (it used to vanish from both)."""
    folder = tmp_path / "exp"
    folder.mkdir()
    a = _day(folder, "a.parquet", [flat_event("a", "v", T0)])
    (folder / "b.parquet").write_bytes(a.read_bytes())
    run = run_sessionize([folder], Store.open(tmp_path / "store"))
    assert run.summary.run is not None
    assert (run.summary.run["files_read"], run.summary.run["files_skipped"]) == (1, 1)
    assert any("b.parquet: the same bytes as" in n and "a.parquet" in n for n in run.notes)
    assert run.summary.events_kept == 1


def test_an_empty_parquet_file_is_refused_not_skipped_as_an_empty_file_taken_in(
    tmp_path: Path,
) -> None:
    """After an empty JSON lines file was taken in, a 0-byte .parquet (a failed export) has
    the same bytes: it used to be skipped as "already in the store"; it is read, and refused
    as on a new store."""
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "empty.jsonl").write_text("")
    _day(folder, "a.parquet", [flat_event("a", "v", T0)])
    store = Store.open(tmp_path / "store")
    run_sessionize([folder], store)
    (folder / "broken.parquet").write_bytes(b"")
    with pytest.raises(JtrackError, match="not a readable Parquet file"):
        run_sessionize([folder / "broken.parquet"], store)


def test_the_events_a_run_adds_sum_to_the_events_the_store_holds(tmp_path: Path) -> None:
    """A redelivered copy that takes the place of the stored one (it is earlier) adds no
    event: `events_added`, summed over the runs, is the store's events."""
    a = tmp_path / "a.parquet"
    flat_frame(
        [flat_event(f"e{i}", "v1", T0 + timedelta(minutes=i)) for i in range(5)]
    ).write_parquet(a)
    b = tmp_path / "b.parquet"
    rows = [flat_event("e4", "v1", T0 - timedelta(minutes=1))]  # e4 again, earlier
    rows += [flat_event(f"n{i}", "v2", T0 + timedelta(minutes=i)) for i in range(3)]
    flat_frame(rows).write_parquet(b)
    store = Store.open(tmp_path / "store")
    first = run_sessionize([a], store)
    second = run_sessionize([b], store)
    assert second.summary.run is not None and second.summary.run["events_added"] == 3
    added = [r.summary.run["events_added"] for r in (first, second) if r.summary.run]
    assert sum(added) == second.summary.events_kept == 8


def test_a_run_that_puts_stored_events_beyond_the_cut_fails_as_one_run_would(
    tmp_path: Path,
) -> None:
    """Two 2099 events are 2 of 12 in the first file (kept); 300 events of the next put them
    beyond the far-future cut. One run over both files stops at them (exit 1); the second run
    of two took them out of the store and exited 0, saying the rejected rows were "of this
    run". It stops as one run does, the store unchanged; with --on-error skip it says they
    were the store's."""
    first = [flat_event(f"a{i}", "v1", T0 + timedelta(minutes=i)) for i in range(10)]
    first += [flat_event(f"far{i}", "v1", datetime(2099, 1, 1, i, tzinfo=UTC)) for i in range(2)]
    second = [flat_event(f"b{i}", f"w{i % 30}", T0 + timedelta(minutes=i)) for i in range(300)]
    a, b = _day(tmp_path, "a.parquet", first), _day(tmp_path, "b.parquet", second)
    with pytest.raises(JtrackError) as once:
        run_sessionize([a, b], Store.open(tmp_path / "once"))
    assert "a.parquet:11: field 'created_date'" in str(once.value)
    store = Store.open(tmp_path / "store")
    run_sessionize([a], store)
    before = store.manifest()
    with pytest.raises(JtrackError) as later:
        run_sessionize([b], store)
    assert "a.parquet:11: field 'created_date'" in str(later.value)
    assert "[far_future]" in str(later.value) and "the store holds" in str(later.value)
    assert Store.open(tmp_path / "store").manifest() == before
    skipped = run_sessionize([b], Store.open(tmp_path / "store"), on_error="skip")
    assert skipped.warnings == [
        "2 events the store held are now far in the future (this run's events moved the cut)"
        f" and left out as rejected (see {tmp_path / 'store' / 'current' / 'rejects.jsonl'})"
    ]
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize([a, b], rebuilt, on_error="skip")
    assert_same_store(Store.open(tmp_path / "store"), rebuilt)


def test_each_run_keeps_its_rows_as_it_judged_them(tmp_path: Path) -> None:
    """rows read = kept + duplicates + rejected held for the store only: a run recorded its
    rows read and the events it added (300 read, 298 added, and nothing said where 2 went).
    Each run keeps its duplicates and rejected rows, and the summary says them."""
    one = [genesys_line(f"e{i}", "v1", T0 + timedelta(minutes=i)) for i in range(5)]
    one += [one[0], "{not json"]
    two = [genesys_line(f"f{i}", "v2", T0 + timedelta(minutes=i)) for i in range(2)] + [one[1]]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(one) + "\n")
    b.write_text("\n".join(two) + "\n")
    store = tmp_path / "store"
    for f in (a, b):
        res = CliRunner().invoke(
            app, ["sessionize", str(f), "--store", str(store), "--on-error", "skip"]
        )
        assert res.exit_code == 0, res.stderr
    assert "3 rows: 2 kept, 1 duplicate, 0 rejected" in res.stdout
    doc = json.loads(CliRunner().invoke(app, ["store", "--store", str(store), "-f", "json"]).stdout)
    runs = [
        (r["rows_read"], r["duplicates"], r["rejected"], r["events_added"]) for r in doc["runs"]
    ]
    assert runs == [(7, 1, 1, 5), (3, 1, 0, 2)]


def test_a_store_whose_session_ids_were_made_from_the_visitor_id_is_rebuilt_once(
    tmp_path: Path,
) -> None:
    """Session ids were a hash of the visitor id and the first event id (a guess at a masked
    visitor id could be tested against them): a store written so (no id rule recorded) is
    rebuilt once by its next run, which says so, and then holds the ids a fresh build
    makes; the run after is incremental again."""
    import jtrack.core.sessionize as kernel

    def old_key(first: pl.Expr) -> pl.Expr:  # (the earlier rule: visitor and first event)
        return pl.concat_str([pl.col("customer_id"), first], separator="\x1f")

    files = [
        _day(tmp_path, "1.parquet", [flat_event("a", "jane@example.org", T0)]),
        _day(tmp_path, "2.parquet", [flat_event("b", "v2", T0 + timedelta(hours=1))]),
    ]
    store = Store.open(tmp_path / "store")
    with mock.patch.object(kernel, "_session_key", old_key):
        run_sessionize(files[:1], store)
    _as_an_earlier_jtrack_wrote(store, "id_rule")
    old_ids = set(store.scan_sessions().select("id").collect()["id"])
    run = run_sessionize(files[1:], store)
    assert run.summary.run["mode"] == "rebuild"  # type: ignore[index]
    assert any("made from the visitor id" in n for n in run.notes), run.notes
    store.refresh()
    fresh = Store.open(tmp_path / "fresh")
    run_sessionize(files, fresh)
    assert_same_store(store, fresh)
    assert not old_ids & set(store.scan_sessions().select("id").collect()["id"])
    assert store.manifest()["options"]["id_rule"] == 2
    more = _day(tmp_path, "3.parquet", [flat_event("c", "v3", T0 + timedelta(hours=2))])
    assert run_sessionize([more], store).summary.run["mode"] == "incremental"  # type: ignore[index]


def test_visits_are_web_sessions_and_a_store_numbered_otherwise_is_rebuilt_once(
    tmp_path: Path,
) -> None:
    """A delivery of an order system took a visit number ("visit 2 of 3" between two web
    visits; a "Returning visitor" segment matched it): visits are web sessions, numbered
    1.. per visitor, the other types none. A store numbered by the earlier rule is rebuilt
    once by its next run, which says so; incremental runs number as a rebuild does."""
    web1 = [flat_event("w1", "v", T0)]
    delivery = [
        flat_event("d1", "v", T0 + timedelta(hours=1), kind="custom", event_name="order_dispatched",
                   source_session_type="delivery", source_session_id="order-1"),
    ]  # fmt: skip
    web2 = [flat_event("w2", "v", T0 + timedelta(hours=2))]
    files = [_day(tmp_path, f"{i}.parquet", rows) for i, rows in enumerate((web1, delivery, web2))]
    store = Store.open(tmp_path / "store")
    for f in files:
        run_sessionize([f], store)
    store.refresh()
    numbers = store.scan_sessions().sort("created_date").collect().select("type", "visit_number")
    assert numbers.rows() == [("web", 1), ("delivery", None), ("web", 2)]
    rebuilt = Store.open(tmp_path / "rebuilt")
    run_sessionize(files, rebuilt)
    assert_same_store(store, rebuilt)
    # a store numbered by the earlier rule (no rule recorded)
    version = store.root / "versions" / str(store.current_name())
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["options"]["visit_rule"]
    (version / "manifest.json").write_text(json.dumps(manifest))
    store.refresh()
    more = _day(tmp_path, "3.parquet", [flat_event("w3", "v", T0 + timedelta(hours=3))])
    run = run_sessionize([more], store)
    assert any("web sessions only" in n for n in run.notes), run.notes
    store.refresh()
    assert store.manifest()["options"]["visit_rule"] == 2
    assert run_sessionize([more], store).summary.run["mode"] != "rebuild"  # type: ignore[index]


def test_the_segments_are_read_by_one_scan_with_each_rows_own_number(tmp_path: Path) -> None:
    """Wide columns of every event were read through a scan per segment put together:
    Polars started a thread for each, and on a store of a year of nights (730 segments) it
    warned on stderr of a deadlock (`POLARS_MAX_BLOCKING_THREAD_COUNT reached (512)`), in
    cron mail, `-q` or not. One scan reads them all; each row keeps its number in its own
    segment (a kept-as-is input with a column of its own among them)."""
    days = [
        [flat_event(f"e{d}-{i}", f"v{i % 3}", T0 + timedelta(days=d, minutes=i)) for i in range(5)]
        for d in range(3)
    ]
    files = [_day(tmp_path, f"{d}.parquet", rows) for d, rows in enumerate(days)]
    pl.read_parquet(files[1]).with_columns(mine=pl.lit("x")).write_parquet(files[1])
    store = Store.open(tmp_path / "store")
    for f in files:
        run_sessionize([f], store)
    store.refresh()
    with store.snapshot() as snap:
        plan = snap._segments_lazy(["page_title"]).explain()
        assert plan.count("Parquet SCAN") == 1 and "UNION" not in plan, plan
    events = store.scan_events(columns=["event_id", "page_title"]).collect()
    assert events.height == 15
    assert (events["page_title"] == "Page " + events["event_id"]).all()


def test_a_rebuild_for_another_reason_says_too_that_old_session_ids_change(
    tmp_path: Path,
) -> None:
    """A store whose ids an earlier rule made, rebuilt for another reason first (`--rebuild`,
    another `--gap`): the note gave that reason only, and the ids changed unannounced."""
    f = _day(tmp_path, "1.parquet", [flat_event("a", "v", T0)])
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    _as_an_earlier_jtrack_wrote(store, "id_rule")
    run = run_sessionize([f], store, rebuild=True)
    assert any("session ids change" in n for n in run.notes), run.notes
    assert not any(
        "session ids change" in n for n in run_sessionize([f], store, rebuild=True).notes
    )


def test_the_files_whose_every_row_repeats_are_found_whatever_the_id_tables_order() -> None:
    """The rows of each file are counted by binary search when the id table is in input
    order (a filter of it copied the whole table: 2.6 GB at 100M events, the run's peak),
    and by grouping otherwise (an engine may hand its ids over in any order): alike."""
    from types import SimpleNamespace

    from jtrack.engine.run import _repeated_files

    def pos(seg: int, row: int) -> int:
        return (seg << 32) + row

    # segment 1: 3 rows, none repeated; 2: 4 rows, all repeated; 3: 2 rows, one repeated
    kept = [pos(1, r) for r in range(3)] + [pos(2, r) for r in range(4)] + [pos(3, 0), pos(3, 1)]
    dropped = [pos(2, r) for r in range(4)] + [pos(3, 1)]
    new = SimpleNamespace(
        inputs=[],
        segments=[SimpleNamespace(id=s, source=f"f{s}.jsonl") for s in (1, 2, 3)],
    )
    decisions = SimpleNamespace(
        dropped=pl.DataFrame(
            {"_pos": dropped, "far": [False] * 5}, schema_overrides={"_pos": pl.UInt64}
        )
    )
    notes = []
    for ids in (kept, kept[::-1]):
        new.ids = pl.DataFrame({"_pos": ids}, schema={"_pos": pl.UInt64})
        notes.append(_repeated_files(new, decisions, set()))  # type: ignore[arg-type]
    assert (
        notes[0]
        == notes[1]
        == [
            "f2.jsonl: all 4 of its accepted rows are events taken in already (the same "
            "export twice, under another name or in another format?)"
        ]
    )


def test_a_store_matched_to_its_contacts_by_the_earlier_identity_rule_is_rebuilt_once(
    tmp_path: Path,
) -> None:
    """A visitor who sent two contacts' emails in one event was matched to the lower contact
    id by an earlier jtrack, and kept so in a store it wrote: the newer rule (nothing
    decides) reached only the visitors a later run touched, and `contacts --conflicts`
    contradicted the stored answer. The store's next run rebuilds it once, and says so."""
    both = [
        {"name": "email", "data_type": "string", "value": "ann@example.org"},
        {"name": "emailAddress", "data_type": "string", "value": "bob@example.org"},
    ]
    first = _day(tmp_path, "1.parquet", [flat_event("t1", "vt", T0, traits=both)])
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nC1,Ann,ann@example.org\nC2,Bob,bob@example.org\n")
    store = Store.open(tmp_path / "store")
    run_sessionize([first], store, contacts=str(book))
    _as_an_earlier_jtrack_wrote(store, "identity_rule")
    other = _day(tmp_path, "2.parquet", [flat_event("o1", "vo", T0 + timedelta(hours=1))])
    run = run_sessionize([other], store)
    assert run.summary.run["mode"] == "rebuild"  # type: ignore[index]
    assert any("matched to its contacts by an earlier rule" in n for n in run.notes), run.notes
    store.refresh()
    assert store.manifest()["options"]["identity_rule"] == 2
    again = _day(tmp_path, "3.parquet", [flat_event("o2", "vo", T0 + timedelta(hours=2))])
    assert run_sessionize([again], store).summary.run["mode"] == "incremental"  # type: ignore[index]
    # an entry the newer rule refuses (a local number) is said by the rebuild, as a fresh
    # build says it (it kept the count of the earlier run, no warning naming it)
    local = tmp_path / "local.csv"
    local.write_text("contact_id,name,phones\nC3,Cy,12345\n")
    loc = Store.open(tmp_path / "loc")
    run_sessionize([first], loc, contacts=str(local), default_region="GB")
    _as_an_earlier_jtrack_wrote(loc, "identity_rule")
    rerun = run_sessionize([other], loc)
    assert rerun.contacts_invalid is not None and rerun.contacts_invalid.height == 1
    assert rerun.summary.contacts is not None
    assert rerun.summary.contacts["invalid_entries"] == 1
    # without a book there is nothing to match again: no rebuild
    plain = Store.open(tmp_path / "plain")
    run_sessionize([first], plain)
    _as_an_earlier_jtrack_wrote(plain, "identity_rule")
    assert run_sessionize([other], plain).summary.run["mode"] == "incremental"  # type: ignore[index]


def test_the_summary_says_one_more_event_in_the_singular(tmp_path: Path) -> None:
    """A redelivered copy that replaced the stored one, beside one new event: "the store
    holds 1 more events than before"."""
    from jtrack.render.summary import summary_lines

    store = Store.open(tmp_path / "store")
    run_sessionize([_day(tmp_path, "a.parquet", [flat_event("a1", "X", T0)])], store)
    earlier = [flat_event("a1", "X", T0 - timedelta(minutes=2)), flat_event("a2", "X", T0)]
    run = run_sessionize([_day(tmp_path, "b.parquet", earlier)], store)
    said = [note for _, _, note in summary_lines(run.summary)]
    assert "the store holds 1 more event than before" in said, said


def _cut_days(tmp_path: Path) -> list[Path]:
    """Three days: a duplicate copy (`x`) 900 days ahead with another far event, then enough
    events for the cut to hold them aside, then far events that move it back."""
    far = T0 + timedelta(days=900)
    days = [
        [
            flat_event("x", "v1", T0),
            flat_event("x", "v2", far),
            flat_event("y", "v3", far + timedelta(minutes=1)),
            *(flat_event(f"a{i}", "v2", T0 + timedelta(minutes=i)) for i in range(10)),
        ],
        [flat_event(f"b{i}", "v4", T0 + timedelta(minutes=i)) for i in range(250)],
        [flat_event(f"c{i}", "v5", far + timedelta(minutes=i)) for i in range(5)],
    ]
    return [_day(tmp_path, f"{i}.parquet", rows) for i, rows in enumerate(days)]


def test_a_duplicate_copy_that_crosses_the_cut_is_held_aside_as_a_rebuild_holds_it(
    tmp_path: Path,
) -> None:
    """An id delivered twice whose later copy, a duplicate, goes beyond the far-future cut
    when more events arrive is held aside as a rebuild holds it: the copy is in no index
    part and was lost (the run counted one row fewer than it read, for good, and the copy
    did not come back when the cut went)."""
    files = _cut_days(tmp_path)
    store = Store.open(tmp_path / "store")
    held = []
    for i, f in enumerate(files):
        run_sessionize([f], store, on_error="skip")
        rebuilt = Store.open(tmp_path / f"rebuilt{i}")
        run_sessionize(files[: i + 1], rebuilt, on_error="skip")
        assert_same_store(store, rebuilt)
        h = contents(store)["held"]
        held.append([] if h is None else sorted(h["event_id"].to_list()))
    assert held == [[], ["x", "y"], []]


# ---------------------------------------------------------------------------- duplicates


def overlapping_exports(d: Path, days: int = 6, per_day: int = 40) -> list[Path]:
    """A file a day, each holding the last two days' events (every event delivered twice),
    with now and then a copy by another visitor or with other contents (a conflict)."""
    d.mkdir(parents=True, exist_ok=True)
    by_day = [
        [
            flat_event(
                f"e{day}-{i}", VISITORS[i % len(VISITORS)], T0 + timedelta(days=day, minutes=i)
            )
            for i in range(per_day)
        ]
        for day in range(days)
    ]
    files = []
    for day in range(days):
        rows = [*(by_day[day - 1] if day else []), *by_day[day]]
        if day:
            rows.append(dict(by_day[day - 1][0], customer_id="v9"))  # another visitor's copy
            rows.append(dict(by_day[day - 1][1], page_url="https://shop.example/changed"))
        f = d / f"day{day}.parquet"
        flat_frame(rows).write_parquet(f)
        files.append(f)
    return files


def nightly_stores(tmp: Path, files: list[Path]) -> tuple[Store, Store]:
    """The files taken in a night at a time twice: a store whose duplicates table is a
    base and deltas, and one that writes it whole every night (one file)."""
    deltas, whole = Store.open(tmp / "deltas"), Store.open(tmp / "whole")
    for store, share in ((deltas, 1e9), (whole, 0.0)):
        with mock.patch.object(run_module, "DELTA_SHARE", share):
            for f in files:
                run_sessionize([f], store)
    assert len(deltas.read_manifest().duplicate_deltas) == len(files) - 2
    assert not whole.read_manifest().duplicate_deltas
    return deltas, whole


def test_a_run_writes_its_few_duplicates_as_a_delta_and_leaves_the_table_alone(
    tmp_path: Path,
) -> None:
    """A store fed overlapping exports holds a copy of nearly every event in its duplicates
    table: a nightly run that adds a few copies writes them in a small delta file, the
    table's file is the one the version before holds (a link, not written again), and the
    store is what one run over every file builds."""
    files = overlapping_exports(tmp_path / "in", days=3, per_day=400)
    store = Store.open(tmp_path / "store")
    run_sessionize(files, store)
    before = store.read_manifest()
    assert before.duplicates and not before.duplicate_deltas
    base_file = store.version_dir(f"v{before.version:06d}") / before.duplicates
    with store.snapshot() as snap:
        assert snap.duplicates().height == 2 * 800 + 4  # type: ignore[union-attr]
    # five events delivered twice already come once more, with new ones
    again = (
        pl.read_parquet(files[-1]).filter(pl.col("event_id").str.starts_with("e1-")).slice(10, 5)
    )
    new = flat_frame(
        [flat_event(f"n{i}", "v2", T0 + timedelta(days=3, minutes=i)) for i in range(9)]
    )
    few = tmp_path / "in" / "few.parquet"
    pl.concat([again, new], how="diagonal_relaxed").write_parquet(few)
    run_sessionize([few], store)
    m = store.read_manifest()
    assert m.duplicates == before.duplicates and len(m.duplicate_deltas) == 1
    version = store.version_dir(f"v{m.version:06d}")
    assert (version / m.duplicates).stat().st_ino == base_file.stat().st_ino
    delta = pl.read_parquet(version / m.duplicate_deltas[0])
    assert delta.height == 5 * 3  # (every copy of the ids it judged)
    assert json.loads((version / "manifest.json").read_text())["layout_version"] == 4
    files.append(few)
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(store, once)
    # a rebuild writes the table whole again
    run_sessionize(files, store, rebuild=True)
    assert not store.read_manifest().duplicate_deltas
    assert_same_store(store, once)


def test_deltas_are_merged_into_one_and_into_the_table_past_their_share(
    tmp_path: Path,
) -> None:
    """More than MAX_DELTAS deltas are merged into one (the table's file left alone); deltas
    past DELTA_SHARE of the table are merged into it: the store stays a rebuild's."""
    files = overlapping_exports(tmp_path / "in", days=7, per_day=30)
    store = Store.open(tmp_path / "store")
    with (
        mock.patch.object(run_module, "DELTA_SHARE", 1e9),
        mock.patch.object(run_module, "MAX_DELTAS", 2),
    ):
        run_sessionize(files[:2], store)
        first = store.read_manifest().duplicates
        shapes = []
        for f in files[2:]:
            run_sessionize([f], store)
            m = store.read_manifest()
            assert m.duplicates == first
            shapes.append(len(m.duplicate_deltas))
    assert shapes == [1, 2, 1, 2, 1]
    once = Store.open(tmp_path / "once")
    run_sessionize(files, once)
    assert_same_store(store, once)
    more = overlapping_exports(tmp_path / "more", days=8, per_day=30)[-1:]
    with mock.patch.object(run_module, "DELTA_SHARE", 0.01):
        run_sessionize(more, store)
    assert not store.read_manifest().duplicate_deltas
    run_sessionize(more, once)
    assert_same_store(store, once)


@st.composite
def redelivered(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Events delivered again and again over many runs: copies by other visitors, at other
    times, with other contents; now and then a far-future copy (which crosses the cut as
    the runs go on)."""
    events: list[dict[str, Any]] = []
    for i in range(draw(st.integers(2, 14))):
        who = draw(st.sampled_from(VISITORS))
        first = flat_event(f"e{i}", who, T0 + timedelta(minutes=draw(st.integers(0, 300))))
        events.append(first)
        for _ in range(draw(st.integers(0, 3))):
            copy = dict(first)
            change = draw(st.sampled_from(["same", "visitor", "time", "contents", "far"]))
            if change == "visitor":
                copy["customer_id"] = draw(st.sampled_from(VISITORS))
            elif change == "time":
                copy["created_date"] = T0 + timedelta(minutes=draw(st.integers(0, 300)))
            elif change == "contents":
                copy["page_url"] = "https://shop.example/other"
            elif change == "far":
                copy["created_date"] = T0 + timedelta(days=900)
            events.append(copy)
    return _in_runs(draw, events, 8)


@settings(max_examples=30, deadline=None, suppress_health_check=_HEALTH)
@given(redelivered(), st.sampled_from([0.25, 1e9]), st.sampled_from([1, 2, 8]), st.booleans())
def test_redeliveries_over_many_runs_equal_one_run_whatever_the_tables_deltas(
    tmp_path_factory: pytest.TempPathFactory,
    runs: list[list[dict[str, Any]]],
    share: float,
    most: int,
    follow: bool,
) -> None:
    """However the duplicates table is split into deltas and merged, the store (its
    duplicates table as one table, its counts) is what one run over the files builds, and
    `jtrack store compact` leaves it one file with the same rows."""
    d = tmp_path_factory.mktemp("dups")
    files = [_day(d, f"day{i}.parquet", rows) for i, rows in enumerate(runs)]
    daily = Store.open(d / "daily")
    key_bytes = run_module.KEY_BYTES_PER_EVENT if follow else 1 << 40
    with (
        mock.patch.object(run_module, "DELTA_SHARE", share),
        mock.patch.object(run_module, "MAX_DELTAS", most),
        mock.patch.object(run_module, "KEY_BYTES_PER_EVENT", key_bytes),
    ):
        for f in files:
            run_sessionize([f], daily, on_error="skip", follow=follow)
    once = Store.open(d / "once")
    run_sessionize(files, once, on_error="skip")
    assert_same_store(daily, once)
    compact(daily)
    assert not daily.read_manifest().duplicate_deltas
    a, b = contents(daily), contents(once)
    assert a["counts"] == b["counts"]
    if a["duplicates"] is None or b["duplicates"] is None:
        assert a["duplicates"] is None and b["duplicates"] is None
    else:  # (compaction may merge segments: the copies' positions move)
        order = ["event_id", "customer_id", "created_date", "status", "_hash"]
        assert_frame_equal(
            a["duplicates"].drop("_pos").sort(order), b["duplicates"].drop("_pos").sort(order)
        )


def test_a_delta_takes_out_the_copies_of_an_id_that_crossed_the_cut(tmp_path: Path) -> None:
    """An id delivered twice whose later copy goes beyond the far-future cut (held aside)
    has no copies left in the duplicates table: its delta holds a row without a status in
    place of them, and the store is a rebuild's; when the cut goes, the copies come back."""
    files = _cut_days(tmp_path)
    store = Store.open(tmp_path / "store")
    statuses = []
    with mock.patch.object(run_module, "DELTA_SHARE", 1e9):
        for i, f in enumerate(files):
            run_sessionize([f], store, on_error="skip")
            rebuilt = Store.open(tmp_path / f"rebuilt{i}")
            run_sessionize(files[: i + 1], rebuilt, on_error="skip")
            assert_same_store(store, rebuilt)
            m = store.read_manifest()
            if m.duplicate_deltas:
                version = store.version_dir(f"v{m.version:06d}")
                delta = pl.read_parquet(version / m.duplicate_deltas[-1])
                statuses.append(delta.filter(pl.col("event_id") == "x")["status"].to_list())
    assert statuses == [[None], ["kept", "duplicate"]]
