"""The CLI of the foundation: sessionize, sessions, schema; exit codes and format parity."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine import sessionize_sources
from jtrack.errors import ExitCode
from jtrack.serialize import to_records
from jtrack.store import Store
from jtrack.usecases.sessions import SessionQuery, list_sessions
from tests.helpers import T0, flat_event, flat_frame, genesys_line

runner = CliRunner()


def _run(*args: str, input: bytes | str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def store(examples_dir: Path, tmp_path: Path) -> Path:
    st = tmp_path / "store"
    res = _run(
        "sessionize",
        str(examples_dir / "genesys-events.jsonl"),
        "--store",
        str(st),
        "-q",
        "--format",
        "jsonl",
    )
    assert res.exit_code == 0, res.stderr
    return st


def test_sessionize_prints_accounting_that_adds_up(examples_dir: Path, tmp_path: Path) -> None:
    res = _run(
        "sessionize", str(examples_dir / "genesys-events.jsonl"), "--store", str(tmp_path / "s")
    )
    assert res.exit_code == 0
    assert "rows read" in res.stdout and "adds up" in res.stdout
    assert "First 3 of 3 sessions" in res.stdout


def test_sessionize_json_equals_the_library_result(examples_dir: Path, tmp_path: Path) -> None:
    src = str(examples_dir / "genesys-events.jsonl")
    res = _run("sessionize", src, "--store", str(tmp_path / "s"), "--format", "json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    lib = sessionize_sources([src])
    assert out["sessions"] == to_records(lib.result.sessions)
    s = out["summary"]
    assert (s["rows_read"], s["events_kept"], s["duplicates"], s["rejected"]) == (14, 13, 1, 0)
    assert s["rows_read"] == s["events_kept"] + s["duplicates"] + s["rejected"]


def test_sessions_lists_what_sessionize_stored(store: Path) -> None:
    res = _run("sessions", "--store", str(store), "--format", "json")
    assert res.exit_code == 0
    listed = json.loads(res.stdout)
    lib = list_sessions(Store.open(store), SessionQuery())
    assert listed == to_records(lib)
    assert len(listed) == 3


def test_sessions_filters(store: Path) -> None:
    def ids(*args: str) -> list[str]:
        res = _run("sessions", "--store", str(store), "--format", "jsonl", *args)
        assert res.exit_code == 0, res.stderr
        return [json.loads(line)["id"] for line in res.stdout.splitlines()]

    assert len(ids("--where", "device.category=mobile")) == 2
    assert len(ids("--where", "geolocation.country=DE")) == 1
    assert len(ids("--where", "event_count>=4")) == 1
    assert len(ids("--since", "2026-10-03T20:00:00Z")) == 1
    assert len(ids("--until", "2026-10-03T09:30:00Z")) == 1
    assert len(ids("--customer", "d23f0824-128b-4f33-8c5c-7fd0a6a3a450")) == 1
    assert len(ids("--type", "delivery")) == 0
    assert len(ids("--limit", "1")) == 1
    assert ids("--sort", "duration_in_seconds", "--desc")[0].startswith("2b7d92a8")


def test_sessions_says_which_sessions_shown_began_before_since(tmp_path: Path) -> None:
    """`sessions --since` keeps the sessions still going at it, `report --since` counts them
    by their start: the two disagreed without a word (a newcomer's first check)."""
    sample_store_path = tmp_path / "st"
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    assert _run("sessionize", str(sample), "--store", str(sample_store_path), "-q").exit_code == 0
    s = Store.open(sample_store_path).scan_sessions().collect()
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    across = s.filter((pl.col("created_date") < at) & (pl.col("ended_date") >= at)).height
    assert across  # (the sample has sessions going on at noon)
    until = "2026-10-06T00:00:00Z"
    base = ("sessions", "--store", str(sample_store_path), "--since", "2026-10-05T12:00:00Z")
    res = _run(*base, "--until", until, "-f", "csv")
    assert res.exit_code == 0, res.stderr
    assert res.stderr == (
        f"note: {across} of the sessions shown began before --since and were still going at "
        "it (`jtrack report` counts sessions by their start: --where "
        "'created_date>=2026-10-05T12:00:00Z' leaves those out)\n"
    )
    later = _run(
        *base, "--until", until, "-f", "csv", "--where", "created_date>=2026-10-05T12:00:00Z"
    )
    assert later.exit_code == 0 and later.stderr == "", later.stderr
    assert len(res.stdout.splitlines()) - len(later.stdout.splitlines()) == across
    assert _run(*base, "--until", until, "-f", "csv", "-q").stderr == ""


def test_sessions_csv_and_parquet_use_the_same_field_names(store: Path, tmp_path: Path) -> None:
    res = _run("sessions", "--store", str(store), "--format", "csv")
    header = res.stdout.splitlines()[0].split(",")
    _run("sessions", "--store", str(store), "-o", str(tmp_path / "s.parquet"))
    assert pl.read_parquet(tmp_path / "s.parquet").columns == header


def test_a_tables_header_names_its_field_in_sort_where_and_columns(store: Path) -> None:
    """The table shows `duration` and `events`; a user types what they see."""

    def out(*args: str) -> str:
        res = _run("sessions", "--store", str(store), "--format", "csv", *args)
        assert res.exit_code == 0, res.stderr
        return res.stdout

    assert out("--sort", "duration", "--desc") == out("--sort", "duration_in_seconds", "--desc")
    assert out("--where", "events>=4") == out("--where", "event_count>=4")
    assert out("--columns", "id,duration,events").splitlines()[0] == (
        "id,duration_in_seconds,event_count"
    )
    # in capitals too, as any other spelling of a field (`ID` was "unknown field")
    assert out("--columns", "ID,EVENTS,DEVICE_CATEGORY") == out(
        "--columns", "id,events,device_category"
    )
    assert out("--where", "DEVICE.CATEGORY=mobile") == out("--where", "device.category=mobile")
    # the Genesys Session object's names whose snake case is not the column's
    assert out("--where", "lastEvent.eventName=page_viewed") == out(
        "--where", "last_event_name=page_viewed"
    )
    assert out("--columns", "id,externalContact.id,lastEvent.createdDate").splitlines()[0] == (
        "id,contact_id,ended_date"
    )
    # and in capitals, the camel case gone (`MKTCAMPAIGN.SOURCE` was "unknown field")
    assert out("--columns", "MKTCAMPAIGN.SOURCE,LASTEVENT.EVENTNAME").splitlines()[0] == (
        "mkt_campaign_source,last_event_name"
    )
    for typo in ("durat", "durration"):  # the nearest field or header is suggested
        res = _run("sessions", "--store", str(store), "--sort", typo)
        assert res.exit_code == ExitCode.USAGE and "did you mean 'duration'?" in res.stderr


def test_unknown_where_field_is_a_usage_error_naming_the_nearest(store: Path) -> None:
    res = _run("sessions", "--store", str(store), "--where", "device.categry=mobile")
    assert res.exit_code == ExitCode.USAGE
    assert "device_category" in res.stderr and res.stderr.startswith("error:")


def test_a_where_with_no_such_operator_or_an_order_on_a_list_says_what_works(
    store: Path,
) -> None:
    """`event_count<>5` was "'>5' is not" a number, and an order on a list
    (`search_terms>5`) was an error without a hint; `~` takes any text (`~=` in a URL)."""
    for clause, said in (
        ("event_count<>5", "--where 'event_count<>5': <> is no operator (hint: use =, ==,"),
        ("event_count=>5", "=> is no operator"),
        ("search_terms>5", "lists support =, != and ~ only (hint: search_terms=ITEM keeps"),
    ):
        res = _run("sessions", "--store", str(store), "--where", clause)
        assert res.exit_code == ExitCode.USAGE, res.stderr
        assert said in res.stderr, res.stderr
    res = _run("sessions", "--store", str(store), "--where", "last_page_url~=", "-f", "csv")
    assert res.exit_code == 0, res.stderr
    for text in ("last_page_title=<b>Sale", "referrer_url=>x", "last_page_title!==x"):
        res = _run("sessions", "--store", str(store), "--where", text, "-f", "csv")
        assert res.exit_code == 0, (text, res.stderr)


def test_filters_written_as_people_write_them(store: Path) -> None:
    """`==` is `=` (it read `=mobile` as the value: 0 rows, exit 0); a duration as the tables
    show it (0:10:00) is seconds; a visitor the store has never seen is a mistake (exit 1,
    one line), not an empty listing. (--until before --since is no mistake: --since bounds
    the end, --until the start, and a session spanning both matches.)"""

    def out(*args: str) -> str:
        res = _run("sessions", "--store", str(store), "--format", "csv", "--traffic", "all", *args)
        assert res.exit_code == 0, res.stderr
        return res.stdout

    every = out()
    assert len(every.splitlines()) > 2
    for field in ("type", "device.category"):
        one = out("--columns", field).splitlines()[1]
        assert out("--where", f"{field}=={one}") == out("--where", f"{field}={one}")
        assert len(out("--where", f"{field}=={one}").splitlines()) > 1
    assert out("--where", "duration>=0:01:30") == out("--where", "duration>=90")
    assert out("--where", "duration<1:30") == out("--where", "duration<90")
    res = _run("sessions", "--store", str(store), "--where", "duration>ten")
    assert res.exit_code == ExitCode.USAGE and "in seconds: 600, or 0:10:00" in res.stderr
    res = _run("sessions", "--store", str(store), "--customer", "nobody")
    assert res.exit_code == ExitCode.DATA and "no visitor 'nobody'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    seen = out("--columns", "customer_id").splitlines()[1]
    assert out("--customer", seen).count("\n") >= 2
    # a visitor seen, but not in the period asked: an empty listing, no error
    assert out("--customer", seen, "--since", "2030-01-01").count("\n") == 1


def test_a_where_that_misses_by_case_only_says_which_spellings_the_sessions_have(
    store: Path,
) -> None:
    """`--where device.category=Mobile` listed no session without a word, the store's
    sessions being `mobile`: `=` is exact, so when nothing matches a note names the
    spellings the sessions have and the `~` that finds them (-q: no note; a value no
    session has in any case, an id, and a listing with sessions: none either)."""
    base = ("sessions", "--store", str(store), "--traffic", "all")
    res = _run(*base, "--columns", "device.category", "--format", "csv")
    values = res.stdout.splitlines()[1:]
    kind = values[0]
    n = values.count(kind)
    asked = kind.swapcase()
    res = _run(*base, "--where", f"device.category={asked}")
    assert res.exit_code == 0 and res.stdout.startswith("0 sessions")
    assert res.stderr.splitlines() == [
        f"note: no session has device_category {asked!r}; {n:,} have {kind!r} (`=` is exact; "
        f"`--where 'device.category~{asked}'` finds it in any case)"
    ]
    # the other filters count: a clause that keeps none of those sessions, --limit 0
    res = _run(*base, "--where", f"device.category={asked}", "--where", "event_count>100000")
    assert res.exit_code == 0 and "finds it in any case" not in res.stderr
    res = _run(*base, "--where", f"device.category={asked}", "--limit", "0")
    assert res.exit_code == 0 and f"{n:,} have {kind!r}" in res.stderr
    # an id prefix among them counts whatever the order; two values in the wrong case: the
    # first is said (the other taken in any case)
    rows = _run(*base, "--columns", "id,device.category", "--format", "csv").stdout
    one = next(r.split(",")[0][:8] for r in rows.splitlines()[1:] if r.endswith(f",{kind}"))
    for args in (
        ["--where", f"device.category={asked}", "--where", f"id={one}"],
        ["--where", f"id={one}", "--where", f"device.category={asked}"],
    ):
        res = _run(*base, *args)
        assert f"1 have {kind!r}" in res.stderr, args
    typ = _run(*base, "--columns", "type", "--format", "csv").stdout.splitlines()[1]
    res = _run(*base, "--where", f"device.category={asked}", "--where", f"type={typ.upper()}")
    assert f"have {kind!r}" in res.stderr
    res = _run(*base, "--where", f"device.category={asked}", "--format", "json")
    assert json.loads(res.stdout) == [] and "finds it in any case" in res.stderr
    for args in (
        ["--where", f"device.category={asked}", "-q"],
        ["--where", "device.category=toaster"],
        ["--where", f"device.category={kind}"],
        ["--where", "id=ZZZZ"],
    ):
        res = _run(*base, *args)
        assert res.exit_code in (0, 1) and "finds it in any case" not in res.stderr, args


def test_a_type_no_session_has_is_said_with_the_types_the_store_has(store: Path) -> None:
    """`--type Delivery` (or a typo) listed "0 sessions" without a word; `--type WEB` is
    the web sessions (sessionize reads web and app in any case; custom types as written)."""
    base = ("sessions", "--store", str(store), "--traffic", "all")
    types = _run(*base, "--columns", "type", "--format", "csv").stdout.splitlines()[1:]
    common = max(set(types), key=types.count)
    assert common == "web"
    ids = _run(*base, "--type", "web", "--columns", "id", "-f", "csv").stdout
    assert _run(*base, "--type", " WEB", "--columns", "id", "-f", "csv").stdout == ids
    res = _run(*base, "--type", "Delivery")
    assert res.exit_code == 0 and res.stdout.startswith("0 sessions")
    assert "note: no session of the store is of type 'Delivery' (its types: " in res.stderr
    assert common in res.stderr.split("its types: ", 1)[1]
    for asked in (common, common.upper()):  # (a type it has, in any case: no note)
        res = _run(*base, "--type", asked, "--since", "2099-01-01")
        assert res.exit_code == 0 and "of type" not in res.stderr, asked
    assert "of type" not in _run(*base, "--type", "bogus", "-q").stderr
    # a role that may not see custom sessions is not told the store has none
    config = store.parent / "roles.toml"
    config.write_text(
        '[roles.agent]\npermissions = ["journey:session:view", "journey:event:view"]\n'
    )
    res = _run(*base, "--type", "delivery", "--rules", str(config), "--role", "agent")
    assert "no session your role may see is of type 'delivery'" in res.stderr


def test_rejected_row_exits_1_naming_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text(genesys_line("e1", "c1", T0) + "\n" + genesys_line("e2", "c1", "never") + "\n")
    res = _run("sessionize", str(p), "--store", str(tmp_path / "s"))
    assert res.exit_code == ExitCode.DATA
    assert f"{p}:2" in res.stderr and "created_date" in res.stderr and "hint" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_on_error_skip_writes_rejects_and_goes_on(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text(genesys_line("e1", "c1", T0) + "\nnot json\n")
    rej = tmp_path / "rejects.jsonl"
    res = _run(
        "sessionize",
        str(p),
        "--store",
        str(tmp_path / "s"),
        "--on-error",
        "skip",
        "--rejects",
        str(rej),
        "--format",
        "json",
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["summary"]["rejected"] == 1
    rows = [json.loads(line) for line in rej.read_text().splitlines()]
    assert rows[0]["reason"] == "malformed_json" and rows[0]["raw"] == "not json"
    assert rows[0]["line"] == 2
    # a night without rejects leaves no earlier night's in the file: `[ -s rejects.jsonl ]`
    # fired every night after one bad one (the scripting audit)
    q = tmp_path / "f.jsonl"
    q.write_text(genesys_line("e2", "c1", T0) + "\n")
    base = ["--store", str(tmp_path / "s"), "--on-error", "skip", "--rejects", str(rej), "-q"]
    assert _run("sessionize", str(q), *base).exit_code == 0
    assert rej.is_file() and rej.read_text() == ""
    rej.write_text("stale\n")
    assert _run("sessionize", str(q), *base).exit_code == 0  # (nothing new: none rejected)
    assert rej.read_text() == ""


def test_stdin_and_missing_file(examples_dir: Path, tmp_path: Path) -> None:
    data = (examples_dir / "genesys-events.jsonl").read_bytes()
    res = _run("sessionize", "-", "--store", str(tmp_path / "s"), "--format", "json", input=data)
    assert res.exit_code == 0 and json.loads(res.stdout)["summary"]["rows_read"] == 14
    res = _run("sessionize", str(tmp_path / "missing.jsonl"), "--store", str(tmp_path / "s"))
    assert res.exit_code == ExitCode.DATA and "no such file" in res.stderr


def test_bad_gap_is_a_usage_error(examples_dir: Path, tmp_path: Path) -> None:
    res = _run(
        "sessionize",
        str(examples_dir / "genesys-events.jsonl"),
        "--gap",
        "soon",
        "--store",
        str(tmp_path / "s"),
    )
    assert res.exit_code == ExitCode.USAGE and "--gap" in res.stderr


def test_reading_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    res = _run("sessions", "--store", str(tmp_path / "nothing"))
    assert res.exit_code == ExitCode.DATA and "jtrack sessionize" in res.stderr


def test_empty_input_gives_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("")
    res = _run(
        "sessionize", str(tmp_path / "e.jsonl"), "--store", str(tmp_path / "s"), "--format", "json"
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["sessions"] == []
    res = _run("sessions", "--store", str(tmp_path / "s"), "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout) == []


def test_store_from_env_and_a_rerun_of_the_same_file_changes_nothing(
    examples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JTRACK_STORE", str(tmp_path / "envstore"))
    src = str(examples_dir / "genesys-events.jsonl")
    first = _run("sessionize", src, "-q", "--format", "jsonl")
    assert first.exit_code == 0
    version = (tmp_path / "envstore" / "CURRENT").read_text()
    again = _run("sessionize", src, "-q", "--format", "jsonl")
    assert again.exit_code == 0 and again.stdout == first.stdout  # the same sessions
    assert (tmp_path / "envstore" / "CURRENT").read_text() == version  # no new version
    versions = sorted(p.name for p in (tmp_path / "envstore" / "versions").iterdir())
    assert versions == [version.strip()]
    manifest = Store.open(tmp_path / "envstore").manifest()
    assert manifest["counts"]["events_kept"] == 13 and manifest["options"]["gap_seconds"] == 1200


def test_schema_lists_the_flat_columns() -> None:
    res = _run("schema", "--format", "json")
    cols = [r["column"] for r in json.loads(res.stdout)]
    assert cols[:3] == ["event_id", "correlation_id", "customer_id"]
    assert "webEvent.page.url" in res.stdout


def test_schema_lists_the_store_files_columns_each_with_what_it_means(tmp_path: Path) -> None:
    """A data engineer mapping the store's files: `--sessions` listed no meanings and left
    out `bucket` (in every session file); the index's columns were listed nowhere."""
    import polars as pl

    store = tmp_path / "st"
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    assert _run("sessionize", str(sample), "--store", str(store), "-q").exit_code == 0
    for flag, table in (("--sessions", "sessions"), ("--index", "index")):
        res = _run("schema", flag, "--format", "json")
        assert res.exit_code == 0, res.stderr
        rows = json.loads(res.stdout)
        first = sorted((store / "current" / table).glob("*.parquet"))[0]
        files = pl.read_parquet_schema(first)
        assert [r["column"] for r in rows] == list(files), flag
        assert all(r["description"] for r in rows), flag
    res = _run("schema", "--sessions", "--index")
    assert res.exit_code == 2 and "one at a time" in res.stderr


def test_a_store_carries_a_schema_version_and_its_never_null_columns_hold_no_null(
    tmp_path: Path,
) -> None:
    """A dashboard had no contract to pin: layout_version follows what the store holds (2, 3
    after an erase, 4 with deltas, back to 3), no Parquet file carried a version, every
    column was nullable in Parquet and `jtrack schema` said which never are nowhere. The
    manifest, every Parquet file jtrack writes into the store and `jtrack schema` (every
    format) carry one schema_version, and the columns it calls never null hold none, in a
    store built from inputs that leave out everything they may (only the required columns;
    system and app events; a synthetic export; the sample)."""
    import pyarrow.parquet as pq
    from synth import generate_flat

    from jtrack.core.traffic import TRAFFIC_CLASSES
    from jtrack.engine import run_sessionize
    from jtrack.schema import INDEX_NEVER_NULL, SESSION_DESCRIPTIONS, SESSION_NEVER_NULL
    from jtrack.store.manifest import SCHEMA_VERSION

    bare = tmp_path / "bare.parquet"
    pl.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "customer_id": ["x", "x", "y", "y"],
            "created_date": ["2026-10-01T10:00:00Z", "2026-10-01T10:05:00Z"] * 2,
            "event_type": ["WebEvent", "WebEvent", "SegmentAssignmentEvent", "AppEvent"],
        }
    ).write_parquet(bare)
    synth = tmp_path / "synth.parquet"
    generate_flat(3000, seed=4).write_parquet(synth)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    store = Store.open(tmp_path / "st")
    run_sessionize([bare, synth, sample], store, on_error="skip")
    version = store.root / "versions" / str(store.current_name())
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    for f in version.rglob("*.parquet"):
        meta = pq.ParquetFile(f).metadata.metadata or {}  # (the file's key-value metadata)
        if f.parent.name == "segments" and any(
            s.kept_as_is and s.file == f.name for s in store.read_manifest().segments
        ):
            continue  # (an input kept as it was: its writer's bytes)
        assert meta.get(b"jtrack.schema_version") == str(SCHEMA_VERSION).encode(), f
    for table, never in (("sessions", SESSION_NEVER_NULL), ("index", INDEX_NEVER_NULL)):
        frame = pl.read_parquet(store.current_files(table))
        nulls = frame.select(pl.col(sorted(never)).null_count()).row(0, named=True)
        assert not any(nulls.values()), (table, nulls)
        res = _run("schema", f"--{table}", "-f", "json")
        rows = json.loads(res.stdout)
        assert {r["column"] for r in rows if r["never_null"]} == never
        assert {r["schema_version"] for r in rows} == {SCHEMA_VERSION}
    assert f"(schema version {SCHEMA_VERSION})" in _run("schema").stdout
    csv = _run("schema", "-f", "csv").stdout.splitlines()
    assert csv[0].endswith(",schema_version") and csv[1].endswith(f",{SCHEMA_VERSION}")
    # the traffic classes, as the files hold them
    assert all(c in SESSION_DESCRIPTIONS["traffic_class"] for c in TRAFFIC_CLASSES)
    assert "crawler, ..." not in SESSION_DESCRIPTIONS["traffic_class"]


def test_lines_written_before_a_rotation_are_read_from_the_rotated_copy(tmp_path: Path) -> None:
    """A nightly `jtrack sessionize exports/`: the log got lines after the last run, then was
    renamed app.jsonl.1 (which a folder's listing leaves out) and a new app.jsonl begun. The
    lines of the renamed file are read from it, and the store equals one run over both."""
    from datetime import timedelta

    folder = tmp_path / "exports"
    folder.mkdir()
    log = folder / "app.jsonl"

    def lines(lo: int, hi: int) -> str:
        return "".join(
            genesys_line(f"e{i}", f"v{i % 3}", T0 + timedelta(minutes=7 * i)) + "\n"
            for i in range(lo, hi)
        )

    store = tmp_path / "store"
    log.write_text(lines(0, 10))
    assert _run("sessionize", str(folder), "--store", str(store), "-q").exit_code == 0
    with log.open("a") as fh:
        fh.write(lines(10, 15))
    log.rename(folder / "app.jsonl.1")
    log.write_text(lines(15, 20))
    res = _run("sessionize", str(folder), "--store", str(store), "-f", "json")
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)["summary"]
    assert (summary["rows_read"], summary["events_kept"]) == (20, 20)
    once = tmp_path / "once"
    res = _run("sessionize", str(log), str(folder / "app.jsonl.1"), "--store", str(once), "-q")
    assert res.exit_code == 0

    def sessions(s: Path) -> str:
        out = _run("sessions", "--store", str(s), "--traffic", "all", "-f", "csv")
        return "\n".join(sorted(out.stdout.splitlines()))

    assert sessions(store) == sessions(once)
    # the bill and the report of the folder read the copy too: those of the store
    for cmd, extra in (("usage", ["--month", "2026-10"]), ("report", ["--traffic", "all"])):
        by_files = _run(cmd, str(folder), *extra, "-f", "json")
        by_store = _run(cmd, "--store", str(store), *extra, "-f", "json")
        assert by_files.exit_code == by_store.exit_code == 0, by_files.stderr
        if cmd == "usage":
            assert json.loads(by_files.stdout)["totals"]["billable"] == 20
            assert json.loads(by_store.stdout)["totals"]["billable"] == 20
        else:
            assert json.loads(by_files.stdout)["overview"]["events"] == 20
            assert json.loads(by_store.stdout)["overview"]["events"] == 20


def test_the_summary_counts_visitors_sessionized_apart_from_the_sessions_written(
    tmp_path: Path,
) -> None:
    """A visitor with only a system event is sessionized but has no session: the run's
    lines say how many visitors were sessionized and how many sessions written, not
    "2 sessions for 2 visitors" when both sessions are one visitor's."""
    rows = [
        flat_event("a1", "v1", T0),
        flat_event("a2", "v1", T0 + timedelta(hours=2)),
        flat_event(
            "s1",
            "v2",
            T0,
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
        ),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    res = _run("sessionize", str(src), "--store", str(tmp_path / "st"))
    assert res.exit_code == 0, res.stderr
    lines = [line.strip() for line in res.stdout.splitlines()]
    assert "2 visitors sessionized" in lines
    assert "2 new sessions, 0 changed, 0 removed" in lines
    assert any(line.startswith("visitors") and line.split()[1] == "1" for line in lines)
    # the next run's line counts the sessions it left as they were too (#16: "sessions
    # added/changed/unchanged"; only JSON had them)
    more = tmp_path / "f.parquet"
    flat_frame([flat_event("b1", "v3", T0 + timedelta(hours=3))]).write_parquet(more)
    res = _run("sessionize", str(more), "--store", str(tmp_path / "st"))
    assert res.exit_code == 0, res.stderr
    assert "1 new session, 0 changed, 0 removed, 2 unchanged" in res.stdout
    # (a rebuild works every session out again: none is said to be left as it was)
    res = _run("sessionize", "--rebuild", "--store", str(tmp_path / "st"))
    assert res.exit_code == 0, res.stderr
    assert "every session was rebuilt" in res.stdout and "unchanged" not in res.stdout


def test_a_rules_file_that_cannot_be_read_is_exit_1_from_jtrack_not_2_from_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files named by options are read by jtrack: one that cannot be read is one line and
    exit 1, as every other file (Click's own readability check made it exit 2: "invalid
    value for '--rules': path ... is not readable"; root reads anything, so both checks
    are simulated here)."""
    import os

    rules = tmp_path / "rules.toml"
    rules.write_text((Path(__file__).parent.parent / "sample_data" / "jtrack.toml").read_text())
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if str(p) == str(rules) else real_access(p, mode)
    )
    real_read = Path.read_text

    def read_text(self: Path, *a: Any, **kw: Any) -> str:
        if self == rules:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *a, **kw)

    real_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # (the rules are read as bytes: their hash)
        if self == rules:
            raise PermissionError(13, "Permission denied", str(self))
        return real_bytes(self)

    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    res = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert res.exit_code == 1, res.stderr
    assert "cannot read the rules file (Permission denied)" in res.stderr


def test_a_directory_named_as_a_rules_file_says_so(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["rules", "report", "--rules", str(tmp_path), "--store", str(tmp_path / "s")]
    )
    assert res.exit_code == 1 and "is a directory, not a rules file" in res.stderr


def test_one_format_to_one_place_and_options_that_contradict_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-f json -f csv` or two `-o` (Click kept the last silently), `--rebuild --replace`
    (replace won), `--rebuild` with no store (an empty store was made): exit 2, one line."""
    from jtrack.cli import _given_twice, main

    for args in (
        ["sessions", "-f", "json", "-f", "csv"],
        ["sessions", "-o", "a.csv", "--output=b.json"],
        ["usage", "--format=json", "-fcsv"],
        ["sessions", "-qfjson", "-f", "csv"],  # (a bundle of short options, as Click reads it)
        ["sessions", "-qf", "json", "--format", "csv"],
        ["sessions", "-qo", "a.csv", "-o", "b.csv"],
        # (a cron line's second --store made a new store there, exit 0)
        ["sessionize", "x.jsonl", "--store", str(tmp_path / "a"), "--store", str(tmp_path / "b")],
        ["store", "--store", str(tmp_path / "a"), "--store=" + str(tmp_path / "b")],
    ):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "given twice" in err, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # one store however it is written (a trailing slash, relative and absolute), and a
    # value of another option, are no second store
    a = tmp_path / "a"
    for args in (
        ["store", "--store", str(a), "verify", "--store", f"{a}/"],
        ["store", "--store", str(a), "--store", os.path.relpath(a)],
        ["sessions", "--store", str(a), "-o", "--store"],
        ["sessions", "--store", str(a), "--since", "--store"],
    ):
        assert _given_twice(args) is None, args
    runner = CliRunner()
    res = runner.invoke(app, ["sessionize", "x.jsonl", "--rebuild", "--replace"])
    assert res.exit_code == 2 and "contradict" in res.stderr
    where = tmp_path / "none"
    res = runner.invoke(app, ["sessionize", "--rebuild", "--store", str(where)])
    assert res.exit_code == 2 and "no store to rebuild" in res.stderr and not where.exists()


def test_a_spark_master_without_the_spark_engine_is_refused(tmp_path: Path) -> None:
    """`--spark-master URL` alone ran the local engine, silently: the user meant Spark."""
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    res = _run(
        "sessionize", str(sample), "--store", str(tmp_path / "s"), "--spark-master",
        "spark://nowhere:7077", "-q",
    )  # fmt: skip
    assert res.exit_code == ExitCode.USAGE and "add --engine spark" in res.stderr
    assert not (tmp_path / "s").exists()


def test_times_without_a_zone_are_counted_in_a_warning_naming_the_file(tmp_path: Path) -> None:
    """A time with no zone is read as UTC: an export written in local time would put every
    event hours off without a word, so the run says how many times had none, per file.
    Times with Z, an offset or as epoch milliseconds, and rejected rows, are not counted;
    nor is a file skipped as taken in already; -q keeps it quiet."""
    genesys = tmp_path / "genesys.jsonl"
    genesys.write_text(
        "\n".join(
            [
                genesys_line("g1", "c1", "2026-10-01T10:00:00"),
                genesys_line("g2", "c1", "2026-10-01T10:01:00.000Z"),
                genesys_line("g3", "c1", "2026-10-01T10:02:00+02:00"),
                genesys_line("g4", "c1", 1790848800000),
            ]
        )
        + "\n"
    )
    flat = tmp_path / "flat.jsonl"
    times = [
        "2026-10-01 10:05:00.123",  # no zone
        "2026-10-01T10:06:00",  # no zone
        "2026-10-01T10:07:00z",
        "2026-10-01T10:08:00-0500",
        "2026-10-01T10:09:00+05",
        "1790848800000",
        "not a time",  # rejected: not counted
    ]
    flat.write_text(
        "".join(
            json.dumps({"event_id": f"f{i}", "customer_id": "c2", "created_date": t, "kind": "app"})
            + "\n"
            for i, t in enumerate(times)
        )
    )
    naive, zoned = tmp_path / "naive.parquet", tmp_path / "zoned.parquet"
    rows = flat_frame([flat_event("p1", "c3", T0), flat_event("p2", "c3", T0 + timedelta(1))])
    rows.with_columns(pl.col("created_date").dt.replace_time_zone(None)).write_parquet(naive)
    rows.with_columns(pl.col("event_id") + "z").write_parquet(zoned)
    st = str(tmp_path / "s")
    res = _run(
        "sessionize", str(genesys), str(flat), str(naive), str(zoned), "--store", st,
        "--on-error", "skip",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    lines = res.stderr.replace(f"{tmp_path}/", "").splitlines()
    assert [line for line in lines if "no time zone" in line] == [
        "warning: genesys.jsonl: 1 event time has no time zone (such as 2026-10-01T10:00:00) and "
        "was read as UTC; if the export wrote local times, have it write their offset (+02:00) "
        "and take the corrected exports in with `jtrack sessionize --replace`",
        "warning: flat.jsonl: 2 event times have no time zone (such as 2026-10-01T10:00:00) and "
        "were read as UTC; if the export wrote local times, have it write their offset "
        "(+02:00) and take the corrected exports in with `jtrack sessionize --replace`",
    ]  # (not naive.parquet: a timestamp column without a zone holds UTC, as Spark writes it)
    res = _run("sessionize", str(genesys), str(flat), "--store", st, "--on-error", "skip")
    assert res.exit_code == 0 and "no time zone" not in res.stderr  # (taken in already)
    # a warning, said by a quiet run too (the README's cron line has -q: a local-time export
    # hours off said nothing), and counted in the run's record
    res = _run("sessionize", str(flat), "--store", str(tmp_path / "q"), "-q", "--on-error", "skip")
    assert res.exit_code == 0
    said = [line for line in res.stderr.splitlines() if "no time zone" in line]
    assert len(said) == 1 and said[0].startswith("warning: ") and "flat.jsonl: 2 event" in said[0]
    res = _run("store", "--store", str(tmp_path / "q"), "-f", "json")
    assert [r["no_zone"] for r in json.loads(res.stdout)["runs"]] == [2]
    res = _run("store", "--store", st, "-f", "json")
    assert [r["no_zone"] for r in json.loads(res.stdout)["runs"]] == [
        3
    ]  # (the second run read nothing new)
    # more files than that are said in one warning (a first build of a year of exports)
    for i in range(4):
        (tmp_path / f"day{i}.jsonl").write_text(genesys_line(f"d{i}", "c9", "2026-10-02T09:00:00"))
    res = _run("sessionize", *(str(tmp_path / f"day{i}.jsonl") for i in range(4)), "--store", st)
    lines = res.stderr.replace(f"{tmp_path}/", "").splitlines()
    assert [line for line in lines if "no time zone" in line] == [
        "warning: 4 event times in 4 files (day0.jsonl, day1.jsonl, day2.jsonl and 1 more) have "
        "no time zone (such as 2026-10-01T10:00:00) and were read as UTC; if the export wrote "
        "local times, have it write their offset (+02:00) and take the corrected exports in with "
        "`jtrack sessionize --replace`"
    ]
    # a report of the files says it too (its hours and months are as far off)
    res = _run("report", str(flat), "--on-error", "skip", "--format", "json")
    assert res.exit_code == 0, res.stderr
    said = json.loads(res.stdout)["warnings"]
    assert [n.replace(f"{tmp_path}/", "") for n in said if "no time zone" in n] == [
        "flat.jsonl: 2 event times have no time zone (such as 2026-10-01T10:00:00) and were "
        "read as UTC; if the export wrote local times, have it write their offset (+02:00)"
    ]


def test_a_late_file_says_its_days_and_the_sessions_only_renumbered(tmp_path: Path) -> None:
    """A late day's file reported `38 new sessions, 452 changed`, 451 of them changed in
    their visit_number alone (an earlier visit came in): the summary says so, and the days
    of the run's events, in -f json and the store's record of the run too."""
    line = lambda i, v, t: json.dumps(  # noqa: E731
        {"event_id": i, "customer_id": v, "created_date": t, "event_type": "WebEvent",
         "event_name": "page_viewed"}
    ) + "\n"  # fmt: skip
    days = tmp_path / "days.jsonl"
    days.write_text("".join(line(f"e{d}", "v", f"2026-10-{d}T09:00:00Z") for d in (10, 12, 14)))
    late = tmp_path / "late.jsonl"
    late.write_text(
        line("e11", "v", "2026-10-11T09:00:00Z") + line("w", "w", "2026-10-13T23:00:00Z")
    )
    st = str(tmp_path / "s")
    assert _run("sessionize", str(days), "--store", st, "-q").exit_code == 0
    res = _run("sessionize", str(late), "--store", st, "--limit", "0")
    assert res.exit_code == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "2 new sessions, 2 changed (2 renumbered only), 0 removed, 1 unchanged" in text
    assert "this run's events: 2026-10-11 .. 2026-10-13 (UTC)" in text
    runs = json.loads(_run("store", "--store", st, "-f", "json").stdout)["runs"]
    assert [(r["sessions_changed"], r["sessions_renumbered"]) for r in runs] == [(0, 0), (2, 2)]
    assert runs[1]["events_from"] == "2026-10-11T09:00:00.000Z"
    assert runs[1]["events_to"] == "2026-10-13T23:00:00.000Z"
    # (a session that gained an event is changed, not renumbered only)
    # (an export overlapping the day before: its copy of e12, a duplicate, adds no day)
    (tmp_path / "more.jsonl").write_text(
        line("e12", "v", "2026-10-12T09:00:00Z") + line("e14b", "v", "2026-10-14T09:05:00Z")
    )
    res = _run("sessionize", str(tmp_path / "more.jsonl"), "--store", st, "-f", "json")
    run = json.loads(res.stdout)["summary"]["run"]
    assert (run["sessions_changed"], run["sessions_renumbered"]) == (1, 0)
    assert run["events_from"] == run["events_to"] == "2026-10-14T09:05:00.000Z"


def test_a_conflict_whose_copies_cannot_be_read_back_leaves_the_run_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies' fields are read back after the commit: a failure there leaves the
    warning without its fields, not the committed run reported failed (exit 1)."""
    from jtrack.store.snapshot import Snapshot

    line = lambda i, t: json.dumps(  # noqa: E731
        {"event_id": i, "customer_id": "v", "created_date": t, "event_type": "WebEvent",
         "event_name": "page_viewed"}
    ) + "\n"  # fmt: skip
    (tmp_path / "a.jsonl").write_text(line("n1", "2026-10-31T21:30:00Z"))
    (tmp_path / "b.jsonl").write_text(line("n1", "2026-10-31T21:30:01Z"))
    st = str(tmp_path / "s")
    assert _run("sessionize", str(tmp_path / "a.jsonl"), "--store", st, "-q").exit_code == 0

    def broken(*_: object, **__: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Snapshot, "wide_rows", broken)
    res = _run("sessionize", str(tmp_path / "b.jsonl"), "--store", st, "-q")
    assert res.exit_code == 0, res.stderr
    assert "different contents" in res.stderr and "they differ" not in res.stderr
    assert Store(st).read_manifest().run_count == 2


def test_a_conflicting_redelivery_says_which_fields_differ(tmp_path: Path) -> None:
    """A re-sent copy whose times had no zone (a New York time read as UTC, 4 hours
    earlier) replaced the right one with only "different contents" said; copies differing
    in their times' precision alone (.413Z, .413268Z) were "different contents" while a note
    called them the same export twice. The warning says which fields differ, and why the
    times may."""
    line = lambda i, t, url="/": json.dumps(  # noqa: E731
        {"event_id": i, "customer_id": "v", "created_date": t, "event_type": "WebEvent",
         "event_name": "page_viewed", "page_url": url}
    ) + "\n"  # fmt: skip
    (tmp_path / "events.jsonl").write_text(line("n1", "2026-10-31T21:30:00-04:00"))
    (tmp_path / "resend.jsonl").write_text(line("n1", "2026-10-31T21:30:00"))
    st = str(tmp_path / "s")
    assert _run("sessionize", str(tmp_path / "events.jsonl"), "--store", st, "-q").stderr == ""
    res = _run("sessionize", str(tmp_path / "resend.jsonl"), "--store", st, "-q")
    said = [x for x in res.stderr.splitlines() if "different contents" in x]
    assert said == [
        "warning: 1 event id(s) came more than once with different contents; the earliest "
        "(then the first read) of each was kept: n1; they differ in created_date only, by 4h, "
        "as a UTC offset does: a copy whose time has no zone (read as UTC) may be the one kept"
    ]
    (tmp_path / "daily.jsonl").write_text(
        line("p0", "2026-10-10T09:00:00.413Z") + line("p1", "2026-10-10T09:01:00Z", "/a")
    )
    (tmp_path / "weekly.jsonl").write_text(
        line("p0", "2026-10-10T09:00:00.413268Z") + line("p1", "2026-10-10T09:01:00Z", "/b")
    )
    st = str(tmp_path / "p")
    res = _run("sessionize", str(tmp_path / "daily.jsonl"), str(tmp_path / "weekly.jsonl"),
               "--store", st, "-q")  # fmt: skip
    said = [x for x in res.stderr.splitlines() if "different contents" in x]
    assert said == [
        "warning: 2 event id(s) came more than once with different contents; the earliest "
        "(then the first read) of each was kept: p0, p1; they differ in created_date (1), "
        "page_url (1); the times by less than a second (one copy's times more precise: .413Z "
        "and .413268Z?)"
    ]
    (tmp_path / "weekly.jsonl").write_text(line("p0", "2026-10-10T09:00:00.413268Z"))
    res = _run("sessionize", str(tmp_path / "daily.jsonl"), str(tmp_path / "weekly.jsonl"),
               "--store", str(tmp_path / "q"), "-q")  # fmt: skip
    said = [x for x in res.stderr.splitlines() if "different contents" in x]
    assert said == [
        "warning: 1 event id(s) came more than once with different contents; the earliest "
        "(then the first read) of each was kept: p0; they differ in created_date only, by "
        "less than a second (one copy's times more precise: .413Z and .413268Z?)"
    ]


def test_a_file_that_only_repeats_events_taken_in_is_named(tmp_path: Path) -> None:
    """`jtrack sessionize sample_data/` reads the JSON lines export and its Parquet copy:
    the summary's 4,045 duplicates were right but did not say why; a note names the file
    whose every event was taken in already, in this run or an earlier one. A file that
    adds something, and a run with -q, get no note."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "s")
    res = _run("sessionize", str(sample), "--store", st)
    assert res.exit_code == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if "taken in already" in line]
    assert (
        len(notes) == 1 and "events.parquet: all 4,000 of its accepted rows are events" in notes[0]
    )
    assert "events.jsonl" not in notes[0] and "duplicates dropped  4,045" in res.stdout
    lines = (sample / "events.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "part.jsonl").write_text("".join(lines[:100]))
    res = _run("sessionize", str(tmp_path / "part.jsonl"), "--store", st)
    assert res.exit_code == 0
    assert "part.jsonl: all 100 of its accepted rows are events taken in already" in res.stderr
    # its rows rejected are not counted as its events (it said "all 3 of its rows" of 5)
    (tmp_path / "bad.jsonl").write_text("".join(lines[:3]) + "not json\n{}\n")
    res = _run("sessionize", str(tmp_path / "bad.jsonl"), "--store", st, "--on-error", "skip")
    assert "bad.jsonl: all 3 of its accepted rows are events taken in already" in res.stderr, (
        res.stderr
    )
    (tmp_path / "more.jsonl").write_text(
        "".join(lines[:10]) + genesys_line("brand-new", "c-new", "2026-10-05T10:00:00.000Z") + "\n"
    )
    res = _run("sessionize", str(tmp_path / "more.jsonl"), "--store", st)
    assert res.exit_code == 0 and "taken in already" not in res.stderr
    (tmp_path / "again.jsonl").write_text("".join(lines[200:300]))
    res = _run("sessionize", str(tmp_path / "again.jsonl"), "--store", st, "-q")
    assert res.exit_code == 0 and res.stderr == ""
    # a file edited in place since it was taken in is not "the same export twice"
    (tmp_path / "part.jsonl").write_text("".join(lines[:100]).replace("Example Shop", "Shop"))
    res = _run("sessionize", str(tmp_path / "part.jsonl"), "--store", st)
    assert res.exit_code == 0
    assert "part.jsonl: changed since it was taken in, read again: all 100 of its" in res.stderr
    assert "the same export twice" not in res.stderr


def test_an_empty_listing_prints_no_header_over_no_rows(store: Path) -> None:
    """A filter that matches nothing says so in the title, without a table header (and its
    rule) over nothing; machine formats keep their header (CSV) or empty list (JSON)."""
    res = runner.invoke(app, ["sessions", "--store", str(store), "--where", "events>1000"])
    assert res.exit_code == 0
    assert res.stdout.splitlines()[0] == "0 sessions"
    assert "created_date" not in res.stdout and "─" not in res.stdout
    res = _run("sessions", "--store", str(store), "--where", "events>1000", "-f", "csv")
    assert res.stdout.startswith("id,type,customer_id,")


def test_a_report_of_a_period_without_sessions_says_so_plainly(store: Path) -> None:
    """No header over no days, and the period as a person writes it (it read `2030-01-01
    .. ..`)."""
    res = _run("report", "--store", str(store), "--since", "2030-01-01")
    assert res.exit_code == 0
    out = res.stdout
    assert "Sessions per day\n(none)\n" in out and "day  sessions" not in out
    assert "no sessions in 2030-01-01 or later; the input holds sessions in" in out
    res = _run("report", "--store", str(store), "--until", "2000-01-01", "-f", "json")
    assert any("no sessions in 1999-12-31 or earlier" in n for n in json.loads(res.stdout)["notes"])


def test_an_id_typed_in_another_case_is_named_not_taken(store: Path) -> None:
    """Ids are compared as written (two cookies may differ in case alone): a visitor id
    copied in upper case is not found, and the hint names the id it may be."""
    res = _run("sessions", "--store", str(store), "-f", "csv", "--columns", "customer_id")
    cid = res.stdout.splitlines()[1]
    assert cid != cid.upper()
    for args in (["sessions", "--customer", cid.upper()], ["journey", cid.upper()[:12]]):
        res = _run(*args, "--store", str(store))
        assert res.exit_code == 1
        assert f"did you mean {cid!r}" in res.stderr and res.stderr.count("\n") == 1
    res = _run("journey", "--store", str(store), "no-such-visitor")
    assert res.exit_code == 1 and "did you mean" not in res.stderr


def test_where_takes_back_an_id_as_the_table_shows_it(store: Path) -> None:
    """Tables show ids by their shortest unique prefix, "which every command accepts back":
    `--where id=97b6a5df` compared the whole id and silently matched nothing."""
    full = _run("sessions", "--store", str(store), "-f", "csv", "--columns", "id,customer_id")
    rows = [line.split(",") for line in full.stdout.splitlines()[1:]]
    sid, cid = rows[0]
    for clause, expected in (
        (f"id={sid[:8]}", {sid}),
        (f"id={sid}", {sid}),
        (f"customer_id={cid[:8]}", {r[0] for r in rows if r[1] == cid}),
        (f"customer_id!={cid[:8]}", {r[0] for r in rows if r[1] != cid}),
    ):
        res = _run(
            "sessions", "--store", str(store), "--where", clause, "-f", "csv", "--columns", "id"
        )
        assert res.exit_code == 0, res.stderr
        assert set(res.stdout.splitlines()[1:]) == expected, clause
    # the start of several ids is refused, never taken as all of them
    res = _run("sessions", "--store", str(store), "--where", "contact_id=tmp-")
    assert res.exit_code == 1 and "the start of several" in res.stderr


def test_where_matches_an_id_that_is_whole_before_any_it_starts(tmp_path: Path) -> None:
    """External ids may be prefixes of each other: `customer_id=123` is visitor 123 alone,
    and `!=123` keeps 1234 (the first version took every id starting with 123)."""
    src = tmp_path / "e.parquet"
    flat_frame(
        [flat_event("a", "123", T0), flat_event("b", "1234", T0), flat_event("c", "99", T0)]
    ).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    for clause, expected in (
        ("customer_id=123", ["123"]),
        ("customer_id!=123", ["1234", "99"]),
        ("customer_id=12", None),
    ):
        res = _run(
            "sessions", "--store", st, "--where", clause, "-f", "csv", "--columns", "customer_id"
        )
        if expected is None:
            assert res.exit_code == 1 and "the start of several" in res.stderr
        else:
            assert sorted(res.stdout.splitlines()[1:]) == expected, clause


def test_listed_contact_states_say_they_are_the_stored_ones(store: Path) -> None:
    """`sessions` shows the states sessionize stored (a temporary contact never expires
    there), while card, journey and contacts judge expiry now: a supervisor filtering on
    `contact_state=temporary` got visitors whose card said "expired". Where the states are
    shown or filtered on, a note says so; `--as-of now` judges expiry."""
    cols = ["--columns", "id,contact_state"]
    res = _run("sessions", "--store", str(store), *cols)
    assert res.exit_code == 0 and "temporary" in res.stdout
    assert "as sessionize stored it" in " ".join(res.stdout.split())
    res = _run("sessions", "--store", str(store), "--where", "contact_state=temporary", "-f", "csv")
    assert res.stdout.count("\n") > 1 and "as sessionize stored it" in res.stderr
    assert _run("sessions", "--store", str(store), "-f", "csv", "-q", *cols).stderr == ""
    now = _run("sessions", "--store", str(store), "--as-of", "now", "-f", "csv", *cols)
    assert now.exit_code == 0 and now.stderr == ""
    assert {r.split(",")[1] for r in now.stdout.splitlines()[1:]} == {"expired"}
    plain = _run("sessions", "--store", str(store))
    assert "as sessionize stored it" not in plain.stdout  # (no state shown, nothing said)


def test_a_card_asked_for_a_visitor_or_genesys_id_prefix_says_what_it_is(store: Path) -> None:
    """The id columns of tables show prefixes: a visitor's id copied from one into `card`
    got the generic hint, the whole id the helpful one. And `-o card.xlsx` named every
    suffix card writes but .txt."""
    res = _run("sessions", "--store", str(store), "-f", "csv", "--columns", "customer_id")
    cid = res.stdout.splitlines()[1]
    res = _run("card", cid[:8], "--store", str(store))
    assert res.exit_code == 1
    assert f"that is a visitor's id: `jtrack journey {cid}`" in res.stderr
    res = _run("sessions", "--store", str(store), "-f", "csv", "--columns", "source_session_id")
    genesys = next(v for v in res.stdout.splitlines()[1:] if v)
    res = _run("card", genesys[:8], "--store", str(store))
    assert res.exit_code == 1 and "that is the Genesys session id of jtrack session" in res.stderr
    res = _run("card", "no-such-id", "--store", str(store))
    assert "list sessions with `jtrack sessions`" in res.stderr
    res = _run("card", cid[:8], "--store", str(store), "-o", "card.xlsx")
    assert res.exit_code == 2 and ".txt for the table" in res.stderr


def test_hints_for_the_wrong_inputs_a_new_user_gives(store: Path, tmp_path: Path) -> None:
    """Each names what works: the contacts file given as events is a --contacts file; a
    folder of other files or a file given as --store is no place to make a store; the
    segments column needs a rules file (not a field spelt like it)."""
    book = tmp_path / "contacts.csv"
    book.write_text("\ufeffcontact_id,name,email\nC1,Ada,ada@example.org\n")
    res = _run("sessionize", str(book), "--store", str(tmp_path / "new"))
    assert res.exit_code == 1
    assert f"(hint: this looks like a contacts file: pass it as --contacts {book})" in res.stderr
    for where, what in ((tmp_path, "holds other files"), (book, "is a file")):
        res = _run("sessions", "--store", str(where))
        assert res.exit_code == 1 and f"{where} {what}; `jtrack sessionize" in res.stderr
        assert f"--store {where}` first" not in res.stderr  # (sessionize would refuse it)
    res = _run("sessions", "--store", str(tmp_path / "none"))
    assert f"run `jtrack sessionize SOURCES... --store {tmp_path / 'none'}` first" in res.stderr
    res = _run("sessions", "--store", str(store), "--columns", "id,segments")
    assert res.exit_code == 2
    assert "--columns segments: segments and outcomes come from a rules file" in res.stderr
    for cmd in (["sessions", "--customer", "ada@example.org"], ["journey", "ada@example.org"]):
        res = _run(*cmd, "--store", str(store))
        assert res.exit_code == 1
        assert "`jtrack contacts --contacts FILE -f csv | grep -i EMAIL`" in res.stderr


@pytest.mark.parametrize(
    "cmd",
    [
        "sessionize", "watch", "sessions", "contacts", "card", "journey", "usage", "report",
        "schema", "rules check", "rules report", "rules explain", "store", "store rollback",
        "store compact", "store files", "store verify",
    ],
)  # fmt: skip
def test_every_command_takes_quiet(cmd: str) -> None:
    res = _run(*cmd.split(), "--help")
    assert res.exit_code == 0 and "--quiet" in res.stdout and "-q" in res.stdout, cmd


def _visitors_where(st: str, where: str) -> list[str]:
    """The visitors of the sessions `sessions --where WHERE` lists, sorted."""
    res = _run("sessions", "--store", st, "--where", where, "-f", "csv", "--columns",
               "customer_id", "-q")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    return sorted(res.stdout.split()[1:])


def test_a_where_and_its_opposite_share_the_sessions_out(tmp_path: Path) -> None:
    """A session without the field (a direct visit has no referrer) is kept by `!=`, found
    by `=` with nothing after it (a missing text is the empty string, as in the rules); `~`
    ignores case on lists too; a true/false field takes only true or false."""
    rows = [
        flat_event("a", "v1", T0, referrer_hostname="www.google.com", search_query="Wander"),
        flat_event("b", "v2", T0, referrer_hostname=None, authenticated=True),
        flat_event("c", "v3", T0, referrer_hostname="bing.com"),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0

    def ids(where: str) -> list[str]:
        return _visitors_where(st, where)

    assert ids("referrer_hostname!=www.google.com") == ["v2", "v3"]
    assert ids("referrer_hostname=www.google.com") == ["v1"]
    assert ids("referrer_hostname=") == ["v2"]
    assert ids("search_terms~wander") == ["v1"] and ids("search_terms!=Wander") == ["v2", "v3"]
    assert ids("authenticated=yes") == ["v2"] and ids("authenticated!=true") == ["v1", "v3"]
    bad = _run("sessions", "--store", st, "--where", "authenticated=banana")
    assert bad.exit_code == 2 and "authenticated is true or false" in bad.stderr
    for args, said in (
        (["--ttl", "1d"], "--ttl judges expiry at a clock"),
        (["--default-region", "XX"], "is not a region phonenumbers knows"),
        (["--default-region", "GB"], "--default-region reads the phones of a contacts file"),
        (["--sort", "segments"], "--sort segments: a list"),
    ):
        res = _run("sessions", "--store", st, *args)
        assert res.exit_code == 2 and said in res.stderr, (args, res.stderr)
    assert _run("sessions", "--store", st, "--ttl", "1d", "--as-of", "now").exit_code == 0


def test_an_email_of_a_saved_contact_finds_that_contact(tmp_path: Path) -> None:
    """`jtrack journey EMAIL` with the store's contacts book holding it: the hint said to
    grep the contacts file for the contact id, though the store keeps a copy of the book.
    Now the journey is the contact's (in any case); `sessions --customer EMAIL` names the
    contact id; a role that may not see contact details gets no answer about the email."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "store")
    res = _run(
        "sessionize", str(sample / "events.parquet"), "--contacts",
        str(sample / "contacts.csv"), "--store", st, "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    clock = ("--as-of", "2026-11-01T00:00:00Z")
    by_id = _run("journey", "C0001", "--store", st, "-f", "json", *clock)
    assert by_id.exit_code == 0, by_id.stderr
    contact = json.loads(by_id.stdout)
    assert (contact["query"], contact["matched_by"]) == ("C0001", "contact_id")

    def by_email(out: str, email: str) -> dict:
        """The journey, which says it was asked by email (it said C0001, contact_id: a
        script could not tell an email's answer from the id's)."""
        got = json.loads(out)
        assert (got["query"], got["matched_by"]) == (email.strip(), "email"), got["query"]
        return {**got, "query": "C0001", "matched_by": "contact_id"}

    for email in ("elias.obrien63@example.net", " Elias.OBrien63@EXAMPLE.net"):
        res = _run("journey", email, "--store", st, "-f", "json", *clock)
        assert res.exit_code == 0, res.stderr
        assert by_email(res.stdout, email) == contact
    res = _run("sessions", "--customer", "elias.obrien63@example.net", "--store", st)
    assert res.exit_code == 1
    assert res.stderr.rstrip().endswith(
        "(hint: elias.obrien63@example.net is the email of contact C0001: pass --contact C0001)"
    )
    res = _run("journey", "nobody@example.net", "--store", st)
    assert res.exit_code == 1 and "grep -i EMAIL" in res.stderr
    # the same book, given as --contacts; and a role that may not see contact details
    res = _run(
        "journey", "elias.obrien63@example.net", "--store", st, "--contacts",
        str(sample / "contacts.csv"), "-f", "json", *clock,
    )  # fmt: skip
    assert res.exit_code == 0 and by_email(res.stdout, "elias.obrien63@example.net") == contact
    config = tmp_path / "jtrack.toml"
    config.write_text(
        '[roles.agent]\npermissions = ["journey:session:view", "journey:event:view"]\n'
    )
    with mock.patch.dict(os.environ, {"JTRACK_CONFIG": str(config)}):
        for cmd in (["journey", "elias.obrien63@example.net"], ["sessions", "--customer"]):
            if cmd[0] == "sessions":
                cmd.append("elias.obrien63@example.net")
            res = _run(*cmd, "--store", st, "--role", "agent")
            assert res.exit_code == 1 and "C0001" not in res.stderr, res.stderr
            # (not the grep of a listing that masks emails for this role: it finds nothing)
            assert "grep" not in res.stderr and "may see contact details" in res.stderr


def test_a_contact_id_in_another_case_is_named_in_the_hint(tmp_path: Path) -> None:
    """`jtrack journey c0008` said only "no visitor or contact", where a cookie typed in
    another case got "did you mean"."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "store")
    book = str(sample / "contacts.csv")
    res = _run("sessionize", str(sample / "events.parquet"), "--contacts", book, "--store", st)
    assert res.exit_code == 0, res.stderr
    res = _run("journey", "c0001", "--store", st)
    assert res.exit_code == 1
    assert res.stderr.rstrip().endswith("did you mean 'C0001'?)"), res.stderr


def test_a_phone_number_of_a_saved_contact_finds_that_contact(tmp_path: Path) -> None:
    """A caller gives their phone number as they say it: `jtrack journey '+44 7723 364093'`
    was "no visitor or contact", though the store's book holds it (as +447723364093). Now
    any notation of it names the contact, a national number with the region the contacts
    were read with; a number no contact has, or read with no region, says how to write it;
    a role that may not see contact details gets no answer about it."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "store")
    book = str(sample / "contacts.csv")
    res = _run("sessionize", str(sample / "events.parquet"), "--contacts", book, "--store", st)
    assert res.exit_code == 0, res.stderr
    clock = ("--as-of", "2026-11-01T00:00:00Z")
    by_id = json.loads(_run("journey", "C0020", "--store", st, "-f", "json", *clock).stdout)
    for phone in ("+44 7723 364093", "0044 7723 364093", "+44-7723-364093", "+447723364093"):
        res = _run("journey", phone, "--store", st, "-f", "json", *clock)
        assert res.exit_code == 0, (phone, res.stderr)
        got = json.loads(res.stdout)
        assert (got["query"], got["matched_by"]) == (phone, "phone")
        assert {**got, "query": "C0020", "matched_by": "contact_id"} == by_id
    national = ("journey", "07723 364093", "--store", st)
    res = _run(*national)
    assert res.exit_code == 1 and "with its country code" in res.stderr, res.stderr
    res = _run(*national, "--contacts", book, "--default-region", "GB", "-f", "json", *clock)
    assert res.exit_code == 0 and json.loads(res.stdout)["contact"]["contact_id"] == "C0020"
    text = _run("journey", "+44 7723 364093", "--store", st, *clock)
    assert "phone +44 7723 364093 · contact C0020" in text.stdout
    config = tmp_path / "jtrack.toml"
    config.write_text(
        '[roles.agent]\npermissions = ["journey:session:view", "journey:event:view"]\n'
    )
    with mock.patch.dict(os.environ, {"JTRACK_CONFIG": str(config)}):
        res = _run("journey", "+44 7723 364093", "--store", st, "--role", "agent")
        assert res.exit_code == 1 and "C0020" not in res.stderr, res.stderr
        assert "may see contact details" in res.stderr
    # a number read whole that no contact has is said so (not "write it with its country
    # code"); --redact names itself; a date or digits run together get no phone hint
    res = _run("journey", "+44 7700 900123", "--store", st)
    assert "no saved contact has the phone number +447700900123" in res.stderr, res.stderr
    with mock.patch.dict(os.environ, {"JTRACK_REDACT_KEY": "a-key-long-enough"}):
        res = _run("journey", "+44 7723 364093", "--store", st, "--redact")
    assert res.exit_code == 1 and "only without --redact" in res.stderr, res.stderr
    for text in ("2026-10-01", "12345678"):
        res = _run("journey", text, "--store", st)
        assert res.exit_code == 1 and "(hint: pass a customer id (cookie)" in res.stderr
    # digits of another script or full width are the same number (as in the contacts file)
    for phone in ("+٤٤ ٧٧٢٣ ٣٦٤٠٩٣", "＋４４ ７７２３ ３６４０９３", "+४४ ७७२३ ३६४०९३"):
        res = _run("journey", phone, "--store", st, "-f", "json", *clock)
        assert res.exit_code == 0, (phone, res.stderr)
        assert json.loads(res.stdout)["contact"]["contact_id"] == "C0020"
    # a number with its country code that cannot be read says why (it was told to be
    # written with its country code)
    for phone, why in (
        ("+44 20 7946", "(hint: a local number without its area code: give it whole"),
        ("+999 123456", "(hint: unknown country code (+999 123456): write the number whole"),
        ("+44 77 1", "(hint: not a possible length for +44 numbers (+44 77 1): write the"),
    ):
        res = _run("journey", phone, "--store", st)
        assert res.exit_code == 1 and why in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (PermissionError(13, "Permission denied", "/srv/st/.lock"), "check the permissions"),
        (FileNotFoundError(2, "No such file or directory", "/x"), "check the path"),
        (OSError(28, "No space left on device", "/srv/st/v2"), "check the free space"),
        (OSError(30, "Read-only file system", "/srv/st/.lock"), "the file system is read-only"),
        (OSError(5, "Input/output error", "/x"), "check the path, the permissions and the free"),
    ],
)
def test_an_unforeseen_file_error_gets_the_hint_its_cause_calls_for(
    error: OSError, hint: str
) -> None:
    """Every such error said "check the path, the permissions and the free space": a store
    that may not be read was sent looking for free space."""
    from jtrack.commands._common import _unexpected_message

    message = _unexpected_message(error)
    assert message.startswith(f"{error.filename}: {error.strerror} (hint: {hint}")
    assert message.endswith("; --debug shows where it happened)")


def test_sessionize_limit_0_prints_the_summary_alone(tmp_path: Path) -> None:
    """`--limit 0` printed "First 0 of N sessions" and "(none)" under the summary."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    res = _run("sessionize", str(sample / "events.parquet"), "--store", st, "--limit", "0")
    assert res.exit_code == 0, res.stderr
    assert "rows read" in res.stdout and "First" not in res.stdout and "(none)" not in res.stdout
    res = _run("sessionize", str(sample / "events.parquet"), "--store", st, "--limit", "2")
    assert "First 2 of 843 sessions" in res.stdout


def test_an_email_two_saved_contacts_share_names_both(tmp_path: Path) -> None:
    """An email of two contacts: `journey` asks which one, and `sessions --customer` no
    longer tells to pass the first."""
    events = tmp_path / "e.parquet"
    flat_frame([flat_event("1", "c1", T0), flat_event("2", "c2", T0)]).write_parquet(events)
    book = tmp_path / "contacts.csv"
    book.write_text(
        "contact_id,name,email,cookie_id\nA,Ann,x@example.org,c1\nB,Bob,X@example.org,c2\n"
    )
    st = str(tmp_path / "st")
    res = _run("sessionize", str(events), "--contacts", str(book), "--store", st, "-q")
    assert res.exit_code == 0, res.stderr
    res = _run("journey", "x@example.org", "--store", st)
    assert res.exit_code == 1
    assert "'x@example.org' is the email of 2 contacts (A, B)" in res.stderr
    res = _run("sessions", "--customer", "x@example.org", "--store", st)
    assert res.exit_code == 1 and res.stderr.rstrip().endswith(
        "(hint: x@example.org is the email of contacts A, B: pass --contact of the one you mean)"
    )


def test_o_naming_the_current_directory_is_one_line_in_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report -o .` and `usage -o ""` (an unset shell variable) were internal errors
    (`PosixPath('.') has an empty name`); the others said "is a directory". (`-o ""` is
    now refused as an empty name: test_an_empty_file_name_is_refused_for_every_file_option.)"""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    monkeypatch.chdir(tmp_path)
    for cmd in (
        ["report"],
        ["usage", "--month", "2026-10"],
        ["rules", "report", "--rules", str(sample / "jtrack.toml")],
        ["sessions"],
    ):
        res = _run(*cmd, "--store", st, "-o", ".")
        assert res.exit_code == 1, (cmd, res.stderr)
        assert res.stderr == "error: .: is a directory (hint: name a file to write)\n", cmd


def test_reading_a_closed_stdin_is_one_line(tmp_path: Path) -> None:
    """`jtrack report - <&-` (and usage, sessionize) was `internal error: AttributeError:
    'NoneType' object has no attribute 'buffer'`."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    for cmd in (["report", "-"], ["usage", "-"], ["sessionize", "-", "--store", "st"]):
        res = subprocess.run(
            [sys.executable, "-m", "jtrack.cli", *cmd],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.close(0),  # (stdin closed, as `<&-`)
            timeout=60,
        )
        assert res.returncode == 1, (cmd, res.stderr)
        assert res.stderr == (
            "error: -: standard input is closed (hint: pipe the export in, or name its file)\n"
        ), cmd
    assert not (tmp_path / "st").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["sessions", "--help"]])
def test_help_and_version_to_a_full_disk_are_one_line(args: list[str]) -> None:
    """`jtrack --version >/dev/full` printed a 46-line traceback (commands' own output
    gave one line)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-m", "jtrack.cli", *args],
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert res.returncode == 1
    assert res.stderr == (
        "error: No space left on device (hint: check the free space; --debug shows where it "
        "happened)\n"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_an_output_that_fails_after_the_commit_says_the_run_was_committed(tmp_path: Path) -> None:
    """The summary to a full disk, or --rejects to one: `error: No space left on device`
    (and for --rejects "nothing was written"), exit 1, while the store had moved to a new
    version; a run again then said "nothing new". Now the error says the run was
    committed, and where the rejects are."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    env = {**os.environ, "PYTHONPATH": str(root)}
    events = str(root / "sample_data" / "events.jsonl")
    for extra, stdout in (([], "/dev/full"), (["--rejects", "/dev/full", "-q"], None)):
        st = tmp_path / f"st{len(extra)}"
        with open(stdout or os.devnull, "w") as out:
            res = subprocess.run(
                [sys.executable, "-m", "jtrack.cli", "sessionize", events, str(bad),
                 "--store", str(st), "--on-error", "skip", *extra],
                env=env, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120,
            )  # fmt: skip
        assert res.returncode == 1
        last = res.stderr.splitlines()[-1]
        assert last.startswith("error: ") and "nothing was written" not in last, last
        assert "; the run itself was committed (the store is at v000001" in last, last
        assert (st / "CURRENT").read_text().strip() == "v000001"
        if extra:
            assert f"its rejects in {st / 'current' / 'rejects.jsonl'})" in last


def test_an_empty_store_option_is_refused_not_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--store "$STORE"` with the variable unset made the store in the current
    directory (`.lock CURRENT current versions` beside the user's files)."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    monkeypatch.chdir(tmp_path)
    for cmd in (["sessionize", str(sample / "events.parquet")], ["sessions"], ["store"]):
        for given in (["--store", ""], ["--store=  "]):
            res = _run(*cmd, *given)
            assert res.exit_code == 2, (cmd, res.stderr)
            assert "invalid value for '--store': empty: name the store's folder" in res.stderr
    assert list(tmp_path.iterdir()) == []


def _file_options() -> list[tuple[list[str], str, bool]]:
    """(command path, option or argument name, whether the command takes --store) of every
    FILE option of every command."""
    import typer

    out: list[tuple[list[str], str, bool]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):  # a group
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        stored = any("--store" in p.opts for p in cmd.params)
        for p in cmd.params:
            if p.metavar in ("<file>", "FILE"):
                flag = p.opts[0] if p.param_type_name == "option" else ""
                out.append((path, flag, stored))

    walk(typer.main.get_command(app), [])
    return out


def test_an_empty_file_name_is_refused_for_every_file_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o "$OUT"`, `--contacts "$BOOK"`, `--config ""` with the variable unset named the
    current folder ("is a directory", exit 1), and `-o " "` wrote a file named with a space:
    every FILE option and argument refuses an empty or blank name (exit 2), before anything
    is read or written."""
    monkeypatch.chdir(tmp_path)
    options = _file_options()
    flags = {flag for _, flag, _ in options}
    assert {"-o", "--contacts", "--config", "--rules", "--rejects", "--html", ""} <= flags
    for path, flag, stored in options:
        for blank in ("", " "):
            given = [flag, blank] if flag else [blank]
            res = _run(*path, *given, *(["--store", "st"] if stored else []))
            assert res.exit_code == 2, (path, flag, res.stderr)
            assert "empty: name a file" in res.stderr, (path, flag, res.stderr)
    assert list(tmp_path.iterdir()) == []


def test_values_out_of_range_or_blank_are_invocation_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of these was an internal error (exit 1: OverflowError, ZeroDivisionError, a
    Polars error, DuplicateError) or was taken silently as the default (a blank --gap,
    --ttl, --state, --columns, --role or --default-region: `"$VAR"` unset): each is exit 2,
    one line that names the option, and nothing is written."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    version = (tmp_path / "st" / "CURRENT").read_text()
    roles = tmp_path / "roles.toml"
    roles.write_text('default_role = "agent"\n[roles.agent]\npermissions = []\n')
    huge = "99999999999999999999999"
    events = str(sample / "events.parquet")
    cases = [
        (["sessionize", events, "--gap", "99999999999d"], "--gap: '99999999999d' is longer"),
        (["sessionize", events, "--memory-limit", "1B"], "--memory-limit 1B: less than a run"),
        (["sessionize", events, "--contacts", str(sample / "contacts.csv"),
          "--default-region", ""], "--default-region '' is not a region"),
        (["card", "c7352fd5", "--gap", "99999999999d"], "--gap: '99999999999d' is longer"),
        (["card", "c7352fd5", "--gap", ""], "--gap: cannot read ''"),
        (["journey", "652f931c", "--gap", " "], "--gap: cannot read ' '"),
        (["contacts", "--ttl", "99999999999d"], "--ttl: '99999999999d' is longer"),
        (["contacts", "--ttl", ""], "--ttl: cannot read ''"),
        (["contacts", "--state", ""], "--state '' names no state"),
        (["sessions", "--since", "0001-01-01T00:00:00+01:00"], "out of range (in UTC it"),
        (["sessions", "--until", "9999-12-31T23:59:59-01:00"], "out of range (in UTC it"),
        (["card", "c7352fd5", "--as-of", "0001-01-01T00:00:00+01:00"], "out of range"),
        (["journey", "652f931c", "--as-of", "9999-12-31T23:59:59-01:00"], "out of range"),
        (["watch", events, "--once", "-f", "json", "--as-of", "0001-01-01"], "calendar's edge"),
        (["contacts", "--as-of", "9999-12-31T23:59:59-01:00"], "out of range"),
        (["sessions", "--limit", huge], "less than or equal to 1000000000"),
        (["journey", "652f931c", "--limit", huge], "less than or equal to 1000000000"),
        (["report", "--top", huge], "less than or equal to 1000000000"),
        (["usage", "--month", "2026-10", "--users", huge, "--per-user", "1"],
         "less than or equal to 1000000000"),
        (["sessions", "--columns", "id,id"], "--columns id: the 'id' field is named twice"),
        (["sessions", "--columns", "duration,duration_in_seconds"], "named twice"),
        (["sessions", "--columns", ""], "--columns '' names no field"),
        # (taken and doing nothing: a store's rows were checked when it was built)
        (["usage", "--month", "2026-10", "--on-error", "skip"], "--on-error skip is for export"),
        (["report", "--on-error", "skip"], "--on-error skip is for export files"),
        (["card", "c7352fd5", "--role", "", "--config", str(roles)], "--role '' names no role"),
    ]  # fmt: skip
    for args, said in cases:
        res = _run(*args, "--store", st)
        assert res.exit_code == 2, (args, res.stderr)
        assert said in res.stderr and len(res.stderr.splitlines()) == 1, (args, res.stderr)
        assert res.stdout == "", args
    assert (tmp_path / "st" / "CURRENT").read_text() == version
    # the edges themselves are taken
    for args in (
        ["sessions", "--limit", "1000000000", "-f", "csv", "--columns", "id,,events"],
        ["contacts", "--ttl", "36500d", "-f", "csv"],
        ["sessions", "--since", "1900-01-01", "-f", "csv"],
        ["sessions", "--since", "0001-01-01", "--until", "9999-12-31", "-f", "csv"],  # (no end)
        ["sessions", "--where", "last_page_title=<b>Sale", "-f", "csv"],  # (a text may)
    ):
        res = _run(*args, "--store", st)
        assert res.exit_code == 0, (args, res.stderr)
    res = _run("sessions", "--limit", "1", "-f", "csv", "--columns", "id,,events", "--store", st)
    assert res.stdout.splitlines()[0] == "id,event_count"


def _c_locale_env(root: Path) -> dict[str, str]:
    """The environment of a process in the C locale without UTF-8 mode, running this tree."""
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONUTF8": "0",
        "PYTHONCOERCECLOCALE": "0",
    }


def test_a_file_name_a_c_locale_cannot_decode_is_read_and_named(tmp_path: Path) -> None:
    """In a C locale without Python's UTF-8 mode, `sessionize ü.jsonl` was an internal
    error (the name's undecodable bytes, as surrogates, in a Polars frame). The file is
    read and named as the UTF-8 it is; a run again takes it as the same file."""
    import subprocess
    import sys

    from tests.helpers import genesys_line

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "ü.jsonl").write_text(
        genesys_line("e1", "v1", datetime(2026, 10, 1, tzinfo=UTC)) + "\n", encoding="utf-8"
    )
    env = _c_locale_env(root)
    cmd = [sys.executable, "-m", "jtrack.cli", "sessionize", "ü.jsonl", "--store", "st"]
    for _ in range(2):
        res = subprocess.run(
            [*cmd, "-f", "json", "-q"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr.decode(errors="replace")
    store = json.loads((tmp_path / "st" / "current" / "manifest.json").read_text())
    assert [i["name"] for i in store["inputs"]] == ["ü.jsonl"]
    from jtrack.read.sources import text_name

    assert text_name("\udcc3\udcbc.jsonl") == "ü.jsonl"
    assert text_name("\udcff.jsonl") == "\\xff.jsonl"  # (not UTF-8 either: escaped)


def test_o_dash_is_standard_output_and_dev_null_a_config_of_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o -` wrote a file named `-`; `--config /dev/null` (the usual way to say "no
    config") was "no such config file"."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    monkeypatch.chdir(tmp_path)
    plain = _run("sessions", "--store", st, "-f", "csv", "--limit", "3")
    dash = _run("sessions", "--store", st, "-f", "csv", "--limit", "3", "-o", "-")
    assert dash.exit_code == 0 and dash.stdout == plain.stdout and dash.stdout
    assert not (tmp_path / "-").exists()
    if Path("/dev/null").exists():
        res = _run("report", "--store", st, "--config", "/dev/null", "-f", "json")
        assert res.exit_code == 0, res.stderr
        monkeypatch.setenv("JTRACK_CONFIG", "/dev/null")
        assert _run("sessions", "--store", st, "--limit", "1").exit_code == 0
        assert _run("rules", "check").exit_code == 0


def test_a_config_that_is_a_pipe_is_refused_not_read_as_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config is read more than once: given as a pipe (`--config <(cat roles.toml)`,
    /dev/stdin, a FIFO) the second read found it empty and the roles it held masked
    nothing (a FIFO hung). Only a regular file, or /dev/null for none, is taken."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    fifo = tmp_path / "roles.fifo"
    os.mkfifo(fifo)
    for args in (["report", "--config", str(fifo)], ["sessions", "--rules", str(fifo)]):
        res = _run(*args, "--store", st)
        assert res.exit_code == 1 and res.stdout == "", res.stderr
        assert "not a regular file (a pipe or a device)" in res.stderr
    monkeypatch.setenv("JTRACK_CONFIG", str(fifo))
    res = _run("card", "c7352fd5", "--store", st, "-f", "json")
    assert res.exit_code == 1 and "not a regular file" in res.stderr
    assert res.stderr.startswith(f"error: {fifo} (from $JTRACK_CONFIG): ")  # (whence it came)
    assert "(hint: save it to a file and point $JTRACK_CONFIG at that, or unset it)" in res.stderr


def test_a_dash_where_a_file_is_needed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rejects -` and `watch --html -` wrote a file named `-` (and "see -"), where `-o -`
    is standard output."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    monkeypatch.chdir(tmp_path)
    for args, said in (
        (["sessionize", str(sample / "events.jsonl"), "--rejects", "-"], "--rejects -: "),
        (["watch", str(sample / "events.jsonl"), "--once", "--html", "-"], "--html -: "),
    ):
        res = _run(*args, "--store", "st")
        assert res.exit_code == 2 and res.stderr.startswith(f"error: {said}"), res.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_dash_is_written_as_dot_slash_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rejects ./-` (the Unix way to name a file `-`) was refused as standard output."""
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{bad\n" + genesys_line("e1", "v1", "2026-10-03T09:00:00.000Z") + "\n")
    res = _run("sessionize", str(bad), "--store", "st", "--on-error", "skip", "--rejects", "./-")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "-").read_text())["reason"] == "malformed_json"
    res = _run("watch", str(bad), "--store", "st", "--once", "--html", "./-", "-q")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "-").read_text().startswith("<!DOCTYPE html>")


def test_a_bad_jtrack_width_stops_a_run_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`JTRACK_WIDTH=abc jtrack sessionize ...` committed the run, then failed drawing its
    table (exit 1, "the run itself was committed"); `JTRACK_WIDTH=²` (a digit to isdigit,
    none to int) was an internal error; `COLUMNS=0` blanked the summary panel on stderr."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    events = str(sample / "events.jsonl")
    for value in ("abc", "²", "5"):
        monkeypatch.setenv("JTRACK_WIDTH", value)
        for args in (["sessionize", events], ["watch", events, "--once"]):
            res = _run(*args, "--store", str(tmp_path / "st"))
            assert res.exit_code == 2, (value, args, res.stderr)
            assert res.stderr.startswith(f"error: JTRACK_WIDTH={value}: not a width")
            assert not (tmp_path / "st").exists()
        # (data has no width: a stale $JTRACK_WIDTH does not stop a script or a repair)
        st = str(tmp_path / "json")
        res = _run("sessionize", events, "--store", st, "-f", "json", "--limit", "1")
        assert res.exit_code == 0 and json.loads(res.stdout)["summary"]["rows_read"] == 4000
        assert _run("store", "--store", st, "-f", "json").exit_code == 0
    monkeypatch.delenv("JTRACK_WIDTH")
    monkeypatch.setenv("COLUMNS", "0")
    out = str(tmp_path / "o.csv")
    res = _run("sessionize", events, "--store", str(tmp_path / "st"), "-f", "csv", "-o", out)
    assert res.exit_code == 0 and "4,000 rows: 3,955 kept, 45 duplicates" in res.stderr


def test_a_bad_width_stops_a_table_before_its_warnings_and_not_a_quiet_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rules report` of an empty month warned, then refused the width; `watch -q --html`
    lays out no text but was refused."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    monkeypatch.setenv("JTRACK_WIDTH", "abc")
    rules = str(sample / "jtrack.toml")
    res = _run("rules", "report", "--store", st, "--rules", rules, "--month", "2025-01")
    assert res.exit_code == 2 and res.stderr.startswith("error: JTRACK_WIDTH=abc"), res.stderr
    page = tmp_path / "live.html"
    res = _run(
        "watch", str(sample / "events.jsonl"), "--store", st, "--once", "-q", "--html", str(page)
    )
    assert res.exit_code == 0 and page.is_file(), res.stderr


def test_commands_that_lay_nothing_out_ignore_a_bad_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rules check`, `store verify` and `store files` print sentences or a list: a stale
    $JTRACK_WIDTH refused them (and hid the rules' own problems)."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st, "-q").exit_code == 0
    monkeypatch.setenv("JTRACK_WIDTH", "abc")
    assert _run("rules", "check", str(sample / "jtrack.toml")).exit_code == 0
    assert _run("store", "verify", "--store", st).exit_code == 0
    assert _run("store", "files", "--store", st).exit_code == 0


def test_a_phone_number_on_a_store_without_contacts_says_so(tmp_path: Path) -> None:
    """A phone number looked up in a store that knows no contacts was told "no saved contact
    has the phone number", as though there were contacts to have it."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "store")
    assert _run("sessionize", str(sample / "events.parquet"), "--store", st).exit_code == 0
    res = _run("journey", "+44 7723 364093", "--store", st)
    assert res.exit_code == 1 and "no contacts are known here" in res.stderr, res.stderr


def test_an_empty_source_name_is_refused_never_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack sessionize "$EXPORTS"` with the variable unset read the current folder (every
    export below it, into the store); `usage ""` billed it."""
    monkeypatch.chdir(tmp_path)
    flat_frame([flat_event("a1", "v1", T0)]).write_parquet(tmp_path / "e.parquet")
    for cmd in (["sessionize"], ["usage"], ["report"], ["watch", "--once"]):
        for blank in ("", " "):
            res = _run(*cmd, blank, "--store", str(tmp_path / "st"))
            assert res.exit_code == 2, (cmd, res.stderr)
            assert res.stderr.startswith("error: an empty source name (hint: "), res.stderr
            # (watch follows files, never standard input: its hint does not offer `-`)
            assert ("standard input" in res.stderr) == (cmd[0] != "watch"), res.stderr
            assert not (tmp_path / "st").exists()


def test_the_summary_counts_one_row_and_one_duplicate_in_the_singular(tmp_path: Path) -> None:
    """ "1 rows: 1 kept, 0 duplicates" and "1 duplicates"."""
    src = tmp_path / "e.jsonl"
    line = genesys_line("e1", "v1", T0)
    src.write_text(line + "\n")
    res = _run("sessionize", str(src), "--store", str(tmp_path / "a"))
    assert "1 row: 1 kept, 0 duplicates, 0 rejected" in res.stdout, res.stdout
    src.write_text(line + "\n" + line + "\n")
    res = _run("sessionize", str(src), "--store", str(tmp_path / "b"))
    assert "2 rows: 1 kept, 1 duplicate, 0 rejected" in res.stdout, res.stdout


def test_a_missing_rules_file_is_called_a_rules_file(tmp_path: Path) -> None:
    """`sessions --rules nope.toml` said "no such config file" (sessions has no --config);
    so did `card`/`journey --rules nope.toml`."""
    src = tmp_path / "e.jsonl"
    src.write_text(genesys_line("e1", "v1", T0) + "\n")
    store = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", store, "-q").exit_code == 0
    res = _run("sessions", "--store", store, "--rules", str(tmp_path / "nope.toml"))
    assert res.exit_code == 1 and "nope.toml: no such rules file" in res.stderr, res.stderr
    # card and journey: their one option is the rules (and config) file, --rules first
    for cmd in ("card", "journey"):
        for opt in ("--rules", "--config"):
            res = _run(cmd, "v1", "--store", store, opt, str(tmp_path / "nope.toml"))
            assert res.exit_code == 1, res.stderr
            assert "nope.toml: no such rules file" in res.stderr, (cmd, opt, res.stderr)


def test_a_where_folds_greek_and_composes_what_is_typed(tmp_path: Path) -> None:
    """`--where title~ΠΡΟΣ` found nothing in `ΠΡΟΣΦΟΡΕΣ` (the value alone lowered to a final
    sigma), where a rule with ignore_case matched it; and a value typed decomposed
    (`cafe` + a combining accent) missed the composed text a page sends, with `~` and `=`."""
    rows = [
        flat_event("g", "v1", T0, page_title="ΠΡΟΣΦΟΡΕΣ", search_query="ΠΡΟΣΦΟΡΕΣ"),
        flat_event("c", "v2", T0, page_title="Café", search_query="café"),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0

    def ids(where: str) -> list[str]:
        return _visitors_where(st, where)

    for where in ("last_page_title~ΠΡΟΣ", "search_terms~ΠΡΟΣ", "last_page_title~ΟΣ"):
        assert ids(where) == ["v1"], where
    for where in ("last_page_title~cafe\u0301", "last_page_title=Cafe\u0301",
                  "search_terms=cafe\u0301", "search_terms~CAFE\u0301"):  # fmt: skip
        assert ids(where) == ["v2"], where
    # text a page sent decomposed is found by a value typed as it was sent (as written)
    rows = [flat_event("d", "v3", T0, page_title="Cafe\u0301", search_query="cafe\u0301")]
    flat_frame(rows).write_parquet(src)
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    assert ids("last_page_title=Cafe\u0301") == ["v2", "v3"]
    assert ids("search_terms=cafe\u0301") == ["v2", "v3"]
    assert ids("last_page_title=Café") == ["v2"] and ids("last_page_title!=Cafe\u0301") == ["v1"]


def test_sessions_columns_reads_only_the_columns_asked(tmp_path: Path) -> None:
    """`sessions --columns id,created_date -f csv` collected every column of every session
    before picking two (1.7 GB on a year's store, against 1.2 GB for all of them as
    Parquet): the listing reads `id` and the columns named, in the store's order."""
    from jtrack.store import Store
    from jtrack.usecases.sessions import SessionQuery, session_listing

    rows = [flat_event(f"e{i}", f"v{i % 3}", T0 + timedelta(minutes=30 * i)) for i in range(6)]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    store = Store.open(st)
    q = SessionQuery(columns=("duration", "created_date"), traffic=("all",))
    frame = session_listing(store, q).frame
    assert frame.columns == ["id", "created_date", "duration_in_seconds"] and frame.height == 6
    whole = session_listing(store, SessionQuery(traffic=("all",))).frame
    assert frame.equals(whole.select(frame.columns))
    for extra in ([], ["--limit", "2"], ["--as-of", "2026-12-01"]):
        res = _run("sessions", "--store", st, "--traffic", "all", "--columns",
                   "created_date,id", "-f", "csv", *extra)  # fmt: skip
        assert res.exit_code == 0 and res.stdout.splitlines()[0] == "created_date,id", extra


def test_arguments_in_a_c_locale_are_their_utf8_text_and_paths_name_their_files(
    tmp_path: Path,
) -> None:
    """In a C locale without UTF-8 mode, Python reads `café` as surrogates: `--where
    search_terms~café` found nothing, `--customer ck-ärger` and `--store ストア` were
    internal errors, hints showed `\\udce3...`. Values are read as UTF-8 text, a path
    names the same folder, a value that is not UTF-8 is a one-line usage error."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    e = (
        '"event_type":"WebEvent","event_name":"page_viewed",'
        '"page_url":"https://shop.example/","created_date":"2026-10-01T10:00:00Z"'
    )
    (tmp_path / "ev.jsonl").write_text(
        '{"event_id":"a1","customer_id":"ck-\\u00e4rger",' + e + ',"search_query":"caf\\u00e9"}\n'
        '{"event_id":"b1","customer_id":"ck-b",' + e + ',"search_query":"tea"}\n',
        encoding="utf-8",
    )
    env = _c_locale_env(root)
    env.pop("PYTHONIOENCODING", None)

    def run(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "jtrack.cli", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=120)

    store = "ストア".encode()
    made = run("sessionize", "ev.jsonl", "--store", store, "-q")
    assert made.returncode == 0, made.stderr.decode(errors="replace")
    assert (tmp_path / "ストア" / "CURRENT").exists()
    for option in ("--where=search_terms~café".encode(), "--customer=ck-ärger".encode()):
        res = run("sessions", "--store", store, option, "-f", "csv", "--columns", "customer_id")
        assert res.returncode == 0, res.stderr.decode(errors="replace")
        assert res.stdout.decode().splitlines() == ["customer_id", "ck-ärger"]
    bad = run("sessions", "--store", store, "--customer", b"ck-\xff")
    assert bad.returncode == 2 and b"internal error" not in bad.stderr
    assert bad.stderr.count(b"\n") == 1 and b"'ck-\\xff' is not UTF-8" in bad.stderr
    missing = run("sessions", "--store", "ストアX".encode())
    assert missing.returncode == 1 and b"\\udc" not in missing.stderr
    assert b"\\u30b9\\u30c8\\u30a2X: no jtrack store here" in missing.stderr


def test_a_misspelt_column_names_the_nearest_field(tmp_path: Path) -> None:
    """`sessions --columns id,device_categry` lost its "did you mean" (the listing had read
    only the columns named, and the field was looked for among them)."""
    src = tmp_path / "e.parquet"
    flat_frame([flat_event("e1", "v1", T0)]).write_parquet(src)
    st = str(tmp_path / "s")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0
    res = _run("sessions", "--store", st, "--columns", "id,device_categry")
    assert res.exit_code == 2
    assert "unknown field 'device_categry' (hint: did you mean 'device_category'?" in res.stderr


def test_help_says_which_zone_a_time_without_an_offset_is_in() -> None:
    """`--since` said UTC, `--until`, `--where` and `--as-of` of `jtrack sessions` did not
    (`jtrack usage` and `report` read such a time in their --tz: each help says which)."""
    text = " ".join(_run("sessions", "-h").stdout.split())
    for option in ("--until <time>", "--as-of <time>"):
        said = text.split(option, 1)[1][:120]
        assert "UTC if no offset" in said, option
    assert "A time without an offset is UTC." in text
    usage = " ".join(_run("usage", "-h").stdout.split())
    assert "no offset = --tz" in usage


def test_sessionize_notes_fields_it_does_not_read_once_a_file(tmp_path: Path) -> None:
    line = json.loads(genesys_line("e1", "v1", T0))
    line["webEvent"]["search_query"] = "tent"
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps(line) + "\n")
    st = str(tmp_path / "s")
    res = _run("sessionize", str(src), "--store", st, "--limit", "0", "-f", "json")
    assert res.exit_code == 0, res.stderr
    notes = [n for n in res.stderr.splitlines() if "does not read" in n]
    assert len(notes) == 1 and notes[0].startswith("note: ")
    assert "(did you mean `webEvent.searchQuery`?)" in notes[0]
    (f,) = json.loads(res.stdout)["summary"]["files"]
    assert f["unread_fields"] == {"webEvent.search_query": 1} and f["unread_sample"] == 1
    (record,) = Store(st).read_manifest().inputs
    assert record.unread == ["webEvent.search_query"]
    again = _run("sessionize", str(src), "--store", st, "--limit", "0")  # (taken in already)
    assert "does not read" not in again.stderr
    quiet = _run("sessionize", str(src), "--store", str(tmp_path / "q"), "-q", "--limit", "0")
    assert quiet.exit_code == 0 and "does not read" not in quiet.stderr


def test_schema_help_says_what_the_flat_shape_takes_beyond_its_columns() -> None:
    res = _run("schema", "--help")
    text = " ".join(res.stdout.split())
    assert "exactly these columns" not in text
    assert "are not read (a note names them" in text and "(not 390.5)" in text
    assert "a map of name to text" in text


@pytest.mark.parametrize("blank", ["", " "])
def test_a_jtrack_variable_set_empty_or_blank_is_refused(
    blank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`JTRACK_STORE= jtrack sessionize ...` (cron, a variable unset) ran into ./.jtrack,
    exit 0; a blank $JTRACK_CONFIG was exit 1 ("error:  : no such config file"), a blank
    $JTRACK_ROLE asked for a table `[roles. ]`, an empty $JTRACK_CONFIG, $JTRACK_WIDTH or
    $JTRACK_NOW was taken as unset. One rule: set but empty or blank, exit 2, naming it."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    events = str(sample / "events.jsonl")
    st = str(tmp_path / "st")
    assert _run("sessionize", events, "--store", st, "-q").exit_code == 0
    monkeypatch.chdir(tmp_path)
    cases = {
        "JTRACK_STORE": ["sessionize", events, "-q"],
        "JTRACK_CONFIG": ["sessions", "--store", st],
        "JTRACK_ROLE": ["sessions", "--store", st],
        "JTRACK_REDACT_KEY": ["sessions", "--store", st, "--redact"],
        "JTRACK_NOW": ["sessionize", events, "--store", str(tmp_path / "new"), "-q"],
    }
    for var, args in cases.items():
        res = runner.invoke(app, args, env={var: blank})
        assert res.exit_code == ExitCode.USAGE, (var, res.stderr)
        said = "empty" if not blank else "blank"
        assert res.stderr.startswith(f"error: ${var} is {said}"), res.stderr
        assert "or unset it for" in res.stderr and res.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["st"]
    # unset, each is its default again
    assert _run("sessions", "--store", st).exit_code == 0
    # read only by what it changes (the review: an empty key or width, left so by a
    # deployment's template, stopped every reading command and an un-quiet nightly run)
    for var in ("JTRACK_REDACT_KEY", "JTRACK_WIDTH"):
        for args in (["sessions", "--store", st], ["sessionize", events, "--store", st]):
            res = runner.invoke(app, args, env={var: blank})
            assert res.exit_code == 0, (var, args, res.stderr)


def test_jtrack_debug_is_off_when_empty_or_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """`JTRACK_DEBUG=0` turned tracebacks on (any value was on)."""
    from jtrack.commands._common import debug_enabled

    for value, on in (("", False), (" ", False), ("0", False), ("1", True), ("yes", True)):
        monkeypatch.setenv("JTRACK_DEBUG", value)
        assert debug_enabled() is on, value


def test_a_library_that_fails_to_load_is_said_as_the_environments_problem(
    tmp_path: Path,
) -> None:
    """pyarrow next to numpy 1 (`pyarrow requires NumPy 2.0 or newer`), or a library too old
    for a name jtrack imports, was "internal error ... report the traceback": it is said as
    the environment's, with what to do."""
    src = tmp_path / "e.parquet"
    flat_frame([flat_event("e1", "v1", T0)]).write_parquet(src)
    failing = ImportError("pyarrow requires NumPy 2.0 or newer, found 1.26.4")
    with mock.patch("jtrack.usecases.report.report_from_sources", side_effect=failing):
        res = _run("report", str(src))
    assert res.exit_code == 1
    line = res.stderr.strip()
    assert "\n" not in line and "internal error" not in line
    assert line.startswith("error: a library jtrack uses failed to load: ImportError: pyarrow")
    assert "pip check" in line and "fresh virtual environment" in line
    # (a name missing from jtrack's own modules is jtrack's bug, not the environment's)
    own = ImportError("cannot import name 'no_such_helper' from 'jtrack.core.text'")
    own.name = "jtrack.core.text"
    with mock.patch("jtrack.usecases.report.report_from_sources", side_effect=own):
        res = _run("report", str(src))
    assert res.stderr.startswith("error: internal error: ImportError:"), res.stderr


def test_python_dash_m_jtrack_is_the_jtrack_command(tmp_path: Path) -> None:
    """`python -m jtrack` (an environment whose scripts folder is not on PATH)."""
    import subprocess
    import sys

    from jtrack import __version__

    done = subprocess.run(
        [sys.executable, "-m", "jtrack", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"jtrack {__version__}\n"), done.stderr
    typo = subprocess.run(
        [sys.executable, "-m", "jtrack", "sessons"], capture_output=True, text=True, check=False
    )
    assert typo.returncode == 2 and "did you mean 'sessions'" in typo.stderr


def test_the_shell_completion_of_commands_and_options(tmp_path: Path) -> None:
    """Typer's completion: `--show-completion` prints a script to install, and the script's
    calls complete commands (and a command's options)."""
    import subprocess
    import sys

    env = {**os.environ, "_JTRACK_COMPLETE": "complete_bash", "COMP_CWORD": "1"}
    code = "import sys; from jtrack._entry import main; sys.argv[0] = 'jtrack'; main()"
    words = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "COMP_WORDS": "jtrack sess"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert words == ["sessionize", "sessions"]
    options = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "COMP_WORDS": "jtrack report --by", "COMP_CWORD": "2"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert options == ["--by"]
    # a command's formats are those it writes (every format was offered: `report -f csv`)
    for words, cword, expected in (
        ("jtrack report -f ", "3", ["table", "json", "md", "html"]),
        ("jtrack sessions --format j", "3", ["json", "jsonl"]),
        ("jtrack report -f H", "3", ["HTML"]),  # (--format takes any case)
    ):
        formats = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "COMP_WORDS": words, "COMP_CWORD": cword},
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        assert formats == expected, (words, formats)
    # a completion request without the shell's variables: one line, exit 2 (a traceback)
    bare = subprocess.run(
        [sys.executable, "-c", code],
        env={k: v for k, v in env.items() if not k.startswith("COMP_")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bare.returncode == 2, bare.stderr
    assert bare.stderr.startswith("error: shell completion: $COMP_WORDS is not set"), bare.stderr
    assert bare.stderr.count("\n") == 1, bare.stderr
    script = _run("--show-completion", "bash")
    assert script.exit_code == 0 and "_JTRACK_COMPLETE=complete_bash" in script.stdout
    for shell, mark in (
        ("zsh", "#compdef jtrack"),
        ("fish", "complete --command jtrack --no-files"),
    ):
        # (the README's way to a given shell's script, whatever shell runs it)
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "_JTRACK_COMPLETE": f"source_{shell}"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0 and mark in done.stdout, (shell, done.stdout[:200])


def test_a_tilde_with_no_home_to_expand_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--store '~/st'` (or $JTRACK_STORE from a Kubernetes env:, never shell-expanded) as a
    uid with no password entry and no $HOME made `./~/st` in the working folder, exit 0 (a
    store lost with the pod); an empty $HOME read it as `/st`."""
    monkeypatch.chdir(tmp_path)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    monkeypatch.setenv("HOME", "")
    for args in (["sessionize", str(sample), "--store", "~/st"], ["sessions", "--store", "~"]):
        res = _run(*args)
        assert res.exit_code == 2, res.stderr
        assert "`~` cannot be expanded ($HOME is empty)" in res.stderr, res.stderr
    monkeypatch.delenv("HOME")
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # (no password entry either)
    monkeypatch.setenv("JTRACK_STORE", "~/st")
    res = _run("sessionize", str(sample), "-q")
    assert res.exit_code == 2 and "($HOME is unset, and this account has no home)" in res.stderr
    assert not (tmp_path / "~").exists()


def test_a_store_typed_as_dot_slash_tilde_is_the_folder_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--store ./~/s` is a folder named `~` here: a Path dropped the `./`, and jtrack
    expanded `~/s` to the home's `s` (review)."""
    home, here = tmp_path / "home", tmp_path / "here"
    home.mkdir()
    here.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    res = _run("sessionize", str(sample), "--store", "./~/s", "-q")
    assert res.exit_code == 0, res.stderr
    assert (here / "~" / "s" / "CURRENT").is_file() and not (home / "s").exists()
    assert _run("sessions", "--store", "~/s").exit_code == 1  # (the home's: none there)


def test_a_bad_document_bound_in_the_environment_is_said_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$JTRACK_MAX_DOCUMENT_BYTES that is no size was said only once a JSON document was
    met (a run of JSON lines files went through, one with a document among them stopped
    half-way); it is an invocation error before any file is read, by every command that
    reads exports."""
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    for value, said in (("junk", "cannot read 'junk' as a size"), ("", "is empty")):
        monkeypatch.setenv("JTRACK_MAX_DOCUMENT_BYTES", value)
        for args in (
            ["sessionize", str(sample), "--store", str(tmp_path / "st")],
            ["usage", str(sample)],
            ["report", str(sample)],
        ):
            res = _run(*args)
            assert res.exit_code == 2, (args, res.stderr)
            assert res.stderr.startswith("error: $JTRACK_MAX_DOCUMENT_BYTES"), res.stderr
            assert said in res.stderr, res.stderr
    assert not (tmp_path / "st").exists()
    monkeypatch.setenv("JTRACK_MAX_DOCUMENT_BYTES", "64MB")
    assert _run("usage", str(sample), "--month", "2026-10", "-q").exit_code == 0


def test_an_address_space_limit_is_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under `ulimit -v` Polars aborted the run mid-way (exit 134, a Rust backtrace) and the
    README said it stopped at start-up; a run under one now says what to do instead."""
    import resource

    sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
    limits = {resource.RLIMIT_AS: (3_000_000_000, resource.RLIM_INFINITY)}
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit", lambda r: limits.get(r) or real(r))
    res = _run("sessionize", str(sample), "--store", str(tmp_path / "st"), "-q")
    assert res.exit_code == 0, res.stderr
    assert res.stderr == (
        "warning: an address-space limit (ulimit -v, LimitAS=) of 3.0 GB is set: Polars "
        "reserves address space beyond what it uses and may abort the run past it (exit 134; "
        "the store stays whole); limit memory with the cgroup and --memory-limit instead\n"
    )
    limits[resource.RLIMIT_AS] = (16_000_000_000, resource.RLIM_INFINITY)  # (high enough)
    res = _run("sessionize", str(sample), "--store", str(tmp_path / "st3"), "-q")
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    monkeypatch.setattr(resource, "getrlimit", real)
    res = _run("sessionize", str(sample), "--store", str(tmp_path / "st2"), "-q")
    assert res.exit_code == 0 and res.stderr == "", res.stderr


def test_a_deleted_working_directory_is_one_error_line_with_a_hint(tmp_path: Path) -> None:
    """The folder the shell was in, deleted (a release directory swapped, a tmp folder
    cleaned): every command said a bare "No such file or directory"."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    gone = tmp_path / "gone"
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("JTRACK_CONFIG", None)
    env.pop("JTRACK_STORE", None)
    # (the default store, ./.jtrack, too: `sessions`, `store` and `rollback` said the bare
    # error, and `watch` with a relative folder)
    for args in (
        "sessions --store /x",
        "sessions",
        "sessions --store rel",  # (a relative one: a traceback from the check of --store)
        "store",
        "store rollback v1",
        "watch in",
    ):
        gone.mkdir()
        script = f"cd {gone} && rmdir {gone} && exec {sys.executable} -m jtrack {args}"
        res = subprocess.run(
            ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 1, (args, res.stderr)
        assert res.stderr.startswith("error: the current folder no longer exists"), res.stderr
        assert "(hint: `cd` to a folder that exists" in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1, res.stderr
