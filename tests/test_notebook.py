"""jtrack from a notebook (the README's "Library"): cells run one after another, with cron
runs, `%cd` and half-remembered arguments in between; each answer is the one the CLI would
give, or a jtrack.errors class saying what to do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from jtrack.engine import run_sessionize
from jtrack.store import Store
from jtrack.usecases.sessions import list_sessions
from tests.helpers import T0, flat_event, flat_frame


def _day(tmp: Path, name: str, day: int, n: int = 6) -> Path:
    rows = [
        flat_event(f"{name}-e{i}", f"v{i % 3}", T0 + timedelta(days=day, minutes=i))
        for i in range(n)
    ]
    path = tmp / f"{name}.parquet"
    flat_frame(rows).write_parquet(path)
    return path


def test_a_snapshot_holds_the_version_the_store_reads(tmp_path: Path) -> None:
    """`with store.snapshot()` read the current version, not the one the Store had pinned
    (README: a Store keeps to the version it first read): after a run elsewhere, events
    read in the snapshot had no session in the listing read a cell before."""
    root = tmp_path / "store"
    run_sessionize([_day(tmp_path, "d1", 0)], root)
    store = Store.open(root)
    sessions = list_sessions(store)
    run_sessionize([_day(tmp_path, "d2", 1)], Store.open(root))  # cron, meanwhile
    with store.snapshot() as snap:
        assert snap.name == store.pinned().name == "v000001"
        events = snap.scan_events(columns=["session_id"]).collect()
    assert events.height == 6
    assert events.join(sessions, left_on="session_id", right_on="id", how="anti").is_empty()
    store.refresh()  # the way on
    with store.snapshot() as snap:
        assert snap.name == "v000002"
        assert snap.scan_events(columns=["session_id"]).collect().height == 12
    fresh = Store.open(root)  # one not read yet holds the current version
    with fresh.snapshot() as snap:
        assert snap.name == "v000002"
    assert isinstance(sessions, pl.DataFrame)


def test_snapshots_of_a_store_not_read_yet_are_each_of_the_current_version(
    tmp_path: Path,
) -> None:
    """A Store only ever read through `with store.snapshot()` (a service that opens it once)
    reads each new version, and pins nothing that would keep a version (one holding erased
    data) after its `with` block: what the review of a change that pinned it found."""
    root = tmp_path / "store"
    run_sessionize([_day(tmp_path, "d1", 0)], root)
    store = Store.open(root)
    with store.snapshot() as snap:
        assert snap.name == "v000001"
    run_sessionize([_day(tmp_path, "d2", 1)], Store.open(root), keep=0)
    with store.snapshot() as snap:
        assert snap.name == "v000002"
        assert snap.scan_events(columns=["session_id"]).collect().height == 12
    assert not (root / "versions" / "v000001").exists()  # (no lease of the Store left)


def test_sessionize_counts_a_redelivered_event_once_as_the_cli_does(tmp_path: Path) -> None:
    """`sessionize(read_events(...).events)` (what `help(jtrack)` points to) counted an
    event delivered twice twice: event_count 3852 where `jtrack sessionize` said 3808."""
    from jtrack.core.sessionize import sessionize
    from jtrack.read import read_events

    rows = [flat_event(f"e{i}", "v1", T0 + timedelta(minutes=i)) for i in range(4)]
    src = tmp_path / "twice.parquet"
    flat_frame(rows + rows[:2]).write_parquet(src)  # two events redelivered
    events = read_events(str(src)).events
    out = sessionize(events)
    assert out.sessions["event_count"].sum() == 4
    assert sorted(out.events["event_id"]) == ["e0", "e1", "e2", "e3"]
    cli = run_sessionize([src], tmp_path / "store").session_table()
    assert cli["event_count"].sum() == 4
    every = sessionize(events, keep=pl.Series([True] * events.height))  # asked for: each row
    assert every.sessions["event_count"].sum() == 6


def test_names_with_a_colon_are_files_not_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timestamped export (`events-2026-12-07T10:00:00.parquet`) was "not a readable
    Parquet file (Unrecognized filesystem type in URI)", a store named `gap:30m` an
    ArrowInvalid: pyarrow took a relative name whose first part holds a colon for a URI."""
    monkeypatch.chdir(tmp_path)
    _day(tmp_path, "d1", 0).rename(tmp_path / "events-2026-12-07T10:00:00.parquet")
    run = run_sessionize("events-2026-12-07T10:00:00.parquet", "gap:30m")
    assert run.summary.sessions == 3
    assert list_sessions("gap:30m").height == 3
    assert Store.open("gap:30m").verify(full=True) == []


def test_a_tilde_is_the_home_folder_for_a_store_and_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Store.open("~/jt")` made a folder named `~` in the current one (and pyarrow, which
    expands `~` itself, wrote elsewhere: a failed run); a source `~/...` was missing."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    _day(home, "d1", 0)
    run = run_sessionize("~/d1.parquet", "~/jt")
    assert run.summary.sessions == 3
    assert (home / "jt" / "CURRENT").is_file() and not (work / "~").exists()
    assert Store.open("~/jt").root == home / "jt"
    assert repr(Store.open("~/jt")) == "Store('~/jt')"  # (shown as named)


def test_a_store_opened_by_a_relative_name_survives_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `%cd` in a notebook, a Store opened as `Store.open("stc")` read
    `sub/stc/versions/...`: FileNotFoundError. Its messages still name it as given."""
    monkeypatch.chdir(tmp_path)
    run_sessionize([_day(tmp_path, "d1", 0)], "stc")
    store = Store.open("stc")
    assert list_sessions(store).height == 3
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert list_sessions(store).height == 3
    store.refresh()
    assert list_sessions(store).height == 3
    run_sessionize([_day(tmp_path, "d2", 1)], store)  # and a run through it
    assert list_sessions(store).height == 6
    assert store.shown == "stc" and store.root == tmp_path / "stc"


def test_a_dataframe_in_the_flat_shape_is_a_source(tmp_path: Path) -> None:
    """`run_sessionize(df)` and `read_events(df)` raised a bare TypeError (`expected str,
    bytes or os.PathLike object, not Series`: the frame iterated as its columns)."""
    from jtrack.errors import RejectedRowError, UsageError
    from jtrack.read import read_events

    frame = pl.read_parquet(_day(tmp_path, "d1", 0))
    read = read_events(frame)
    assert read.events.height == 6 and set(read.events["_file"]) == {"<DataFrame>"}
    assert read.events["_line"].to_list() == [1, 2, 3, 4, 5, 6]  # its rows, from 1
    bad = pl.concat([frame, frame.head(1).with_columns(event_id=pl.lit(None, pl.String))])
    with pytest.raises(RejectedRowError, match="<DataFrame>:7"):
        read_events(bad)
    run = run_sessionize(frame, tmp_path / "store")
    assert run.summary.sessions == 3
    again = run_sessionize([frame], tmp_path / "store")  # the same frame: taken in before
    assert again.summary.run["mode"] == "unchanged" and again.summary.version == "v000001"
    more = pl.read_parquet(_day(tmp_path, "d2", 1))
    assert run_sessionize([frame, more], tmp_path / "store").summary.sessions == 6
    for wrong in (frame.lazy(), [frame.lazy()], list(frame)):
        with pytest.raises(UsageError, match="sources"):
            run_sessionize(wrong, tmp_path / "other")
        with pytest.raises(UsageError, match="sources"):
            read_events(wrong)


def test_a_session_query_takes_a_customer_id_prefix_as_the_cli_does(tmp_path: Path) -> None:
    """`jtrack sessions --customer 652f931c` (what its tables show) listed the visitor's
    sessions; `SessionQuery(customer="652f931c")` raised NotFoundError."""
    from jtrack.errors import DataError, NotFoundError
    from jtrack.usecases.sessions import SessionQuery

    ids = ["652f931c-0001", "652f931c-0002", "a81b7c2e-0003"]
    rows = [flat_event(f"e{i}", ids[i % 3], T0 + timedelta(minutes=i)) for i in range(9)]
    src = tmp_path / "d.parquet"
    flat_frame(rows).write_parquet(src)
    run_sessionize([src], tmp_path / "store")
    store = Store.open(tmp_path / "store")
    whole = list_sessions(store, SessionQuery(customer="a81b7c2e-0003"))
    assert whole.height == 1
    assert list_sessions(store, SessionQuery(customer="a81b7c2e")).equals(whole)
    with pytest.raises(DataError, match="matches 2"):
        list_sessions(store, SessionQuery(customer="652f931c"))
    with pytest.raises(NotFoundError, match="no visitor"):
        list_sessions(store, SessionQuery(customer="ffff"))


def test_options_take_what_the_cli_takes(tmp_path: Path) -> None:
    """`SessionizeOptions(gap="30m")` was refused, `ReportOptions(month=...)` unknown,
    `UsageOptions(month=...)` wanted an as_of, and `run_sessionize(..., gap=...)` said
    "see RunOptions", which has no gap."""
    from datetime import UTC, date, datetime

    from jtrack.errors import UsageError
    from jtrack.options import SessionizeOptions
    from jtrack.usecases.report import ReportOptions, report_from_store
    from jtrack.usecases.usage import UsageOptions

    opts = SessionizeOptions(gap="30m", max_duration="2h")
    assert opts.gap == timedelta(minutes=30) and opts.max_duration == timedelta(hours=2)
    with pytest.raises(UsageError, match="gap"):
        SessionizeOptions(gap="30")  # (no unit: as --gap refuses it)
    with pytest.raises(TypeError, match=r"session=jtrack.options.SessionizeOptions\(gap='30m'\)"):
        run_sessionize([_day(tmp_path, "d1", 0)], tmp_path / "store", gap="30m")
    report = ReportOptions(month="2026-10")
    assert (report.since, report.until, report.month) == (
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 10, 1),
    )
    assert ReportOptions(month=date(2026, 12, 1)).until == date(2027, 1, 1)
    with pytest.raises(UsageError, match="month cannot be combined"):
        ReportOptions(month="2026-10", since="2026-10-03")
    import dataclasses  # (a copy with another zone: the month's own span comes with it)

    paris = dataclasses.replace(report, tz="Europe/Paris")
    assert (paris.month, paris.since, paris.until, paris.tz) == (
        report.month,
        report.since,
        report.until,
        "Europe/Paris",
    )
    with pytest.raises(UsageError, match="month"):
        ReportOptions(month=date(2026, 10, 3))
    run_sessionize([_day(tmp_path, "d1", 0)], tmp_path / "store")
    assert report_from_store(tmp_path / "store", ReportOptions(month="2026-10")) is not None
    before = datetime.now(UTC)
    usage = UsageOptions(month="2026-10")
    assert usage.month == date(2026, 10, 1) and usage.as_of >= before


def test_the_public_api_is_found_from_jtrack_without_slowing_its_import() -> None:
    """`dir(jtrack)` showed none of the public names, `from jtrack import run_sessionize`
    failed, `Store.scan_*` had no docstring, and `help(jtrack.EventSchema)` printed a line
    of 9,085 characters."""
    import contextlib
    import io
    import subprocess
    import sys

    code = (
        "import sys, jtrack\n"
        "names = dir(jtrack)\n"
        "print(sorted(set(jtrack.__all__) - set(names)), 'polars' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["[]", "False"]  # every name listed, nothing heavy imported
    import jtrack
    from jtrack import SessionQuery, run_sessionize, sessionize  # noqa: F401

    for name in jtrack.__all__:
        assert getattr(jtrack, name) is not None
    from jtrack.core.sessionize import sessionize as kernel_side

    assert sessionize is kernel_side
    for method in (Store.scan_sessions, Store.scan_events, Store.scan_index, SessionQuery):
        assert method.__doc__ and len(method.__doc__) > 100
    assert "customer" in (SessionQuery.__doc__ or "") and "prefix" in (SessionQuery.__doc__ or "")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        help(jtrack.EventSchema)
    assert max(len(line) for line in buf.getvalue().splitlines()) <= 120
    assert len(jtrack.EventSchema().fields) > 5  # (its fields still the canonical ones)


def test_the_readme_cast_of_counts_subtracts_without_wrapping(tmp_path: Path) -> None:
    """The counts are UInt32 (kept so: every store has them so): `pageview_count -
    event_count` wrapped to 4294967295 in Polars. The README's cast gives -1."""
    rows = [flat_event("e0", "v1", T0), flat_event("e1", "v1", T0 + timedelta(minutes=1))]
    rows[1]["event_name"] = "search"
    rows[1]["event_type"] = "WebEvent"
    src = tmp_path / "d.parquet"
    flat_frame(rows).write_parquet(src)
    run_sessionize([src], tmp_path / "store")
    sessions = Store.open(tmp_path / "store").scan_sessions().collect()
    counts = ["event_count", "pageview_count", "search_count", "visit_number"]
    assert all(sessions.schema[c] == pl.UInt32 for c in counts)  # (the stored type stays)
    cast = sessions.with_columns(pl.col(counts).cast(pl.Int64))
    diff = cast.select(pl.col("pageview_count") - pl.col("event_count")).item()
    assert diff < 0
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert '"visit_number").cast(pl.Int64))' in readme
    assert "event_count::BIGINT - pageview_count::BIGINT" in readme


def test_a_path_through_a_link_and_dotdot_is_the_one_the_system_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lnk/../events.parquet`, lnk a link to other/sub: the system opens
    other/events.parquet; made absolute as text (os.path.abspath) it was ./events.parquet,
    read under the other's fingerprint (and the store `lnk/../st` made in the wrong folder).
    Messages name the store as given, damaged files and the rejects too."""
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "other" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "other" / "sub", tmp_path / "lnk")
    right = _day(tmp_path / "other", "events", 0, n=9)
    (tmp_path / "events.parquet").write_bytes(_day(tmp_path, "decoy", 1, n=2).read_bytes())
    res = run_sessionize(["lnk/../events.parquet"], "lnk/../st")
    assert res.summary.rows_read == 9
    assert (tmp_path / "other" / "st").is_dir() and not (tmp_path / "st").exists()
    store = Store.open("lnk/../st")
    assert str(store.rejects_file()).startswith("lnk/../st/")
    from jtrack.usecases.store_info import current_files

    assert all(f.startswith("lnk/../st/versions/") for f in current_files(store, "sessions"))
    assert right.is_file()


def test_a_damaged_store_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jtrack.cli import app

    monkeypatch.chdir(tmp_path)
    run_sessionize([_day(tmp_path, "d1", 0)], "st")
    part = next((tmp_path / "st" / "versions" / "v000001" / "sessions").iterdir())
    part.write_bytes(part.read_bytes()[:100])
    res = CliRunner().invoke(app, ["sessions", "--store", "st"])
    assert res.exit_code == 1
    assert res.stderr.startswith(
        f"error: st: the store is damaged: st/versions/v000001/sessions/{part.name} "
    ), res.stderr


def test_a_manifest_or_current_file_that_is_no_text_is_damage_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest of bytes that are no UTF-8 was `internal error: UnicodeDecodeError`; and
    in a process that had opened such a store, another store's damage check (which looks at
    every store the process opened) failed the same way."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    monkeypatch.chdir(tmp_path)
    run_sessionize([_day(tmp_path, "d1", 0)], "bad")
    (tmp_path / "bad" / "versions" / "v000001" / "manifest.json").write_bytes(b"\xff\xfe{bad")
    res = CliRunner().invoke(app, ["sessions", "--store", "bad"])
    assert res.exit_code == 1
    assert res.stderr.startswith(
        "error: bad/versions/v000001/manifest.json: the version's manifest is not UTF-8 text"
    ), res.stderr
    (tmp_path / "bad" / "CURRENT").write_bytes(b"\xff\xfe")
    res = CliRunner().invoke(app, ["sessions", "--store", "bad"])
    assert res.exit_code == 1 and "which is not a version of this store" in res.stderr
    # another store's damage, in the same process, is still found and named
    run_sessionize([_day(tmp_path, "d2", 1)], "st")
    part = next((tmp_path / "st" / "versions" / "v000001" / "sessions").iterdir())
    part.write_bytes(part.read_bytes()[:100])
    res = CliRunner().invoke(app, ["sessions", "--store", "st"])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: st: the store is damaged: st/versions/v000001/"), (
        res.stderr
    )
