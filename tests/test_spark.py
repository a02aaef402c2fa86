"""The Spark engine (`--engine spark`, on local[2]) builds the store the local engine builds.

Same sessions (ids and every column), index (which event is in which session, and where
its row is), rejects, held rows, accounting and usage; part files byte for byte where the
units are the same. Over the hostile corpus (its valid cases in one run, each failing case
alone, a sample of cases with --on-error fail), JSON lines split by Spark in many places,
the sample data with contacts, a Hypothesis property, and incremental runs that switch
engines. The reading commands and Spark itself read what it wrote; the CLI is quiet, also
under spark-submit. Java absent: skipped (JTRACK_REQUIRE_SPARK=1 makes that a failure).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import make_corpus
import polars as pl
import pytest
from externals import required
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_engine import assert_same_store, journeys
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.commands._common import INTERRUPTED
from jtrack.engine import StoredRun, run_sessionize
from jtrack.engine.compact import compact
from jtrack.errors import JtrackError, UsageError
from jtrack.store import Store
from tests.helpers import T0, flat_event, flat_frame, genesys_line

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
CASES = [c for c in make_corpus.build(None) if not c.big]
FAILING = [c for c in CASES if c.expected.error]
#: Cases run alone with --on-error fail: one per way of reading (and of being rejected).
FAIL_SAMPLE = [
    "valid_genesys",
    "malformed_json_variants",
    "invalid_utf8",
    "long_line_middle",
    "utf16_le_bom",
    "gzip_ok",
    "json_array_mixed",
    "parquet_created_date_text",
    "far_future_across_files",
]


@pytest.fixture(scope="session")
def spark(java: str) -> Any:
    """One SparkSession on local[2] for the module (what the engine finds and uses)."""
    if importlib.util.find_spec("pyspark") is None:
        reason = "pyspark is missing (pip install -e '.[spark]')"
        if required("JTRACK_REQUIRE_SPARK"):
            pytest.fail(f"{reason} and JTRACK_REQUIRE_SPARK=1 requires it", pytrace=False)
        pytest.skip(reason)
    from jtrack.engine.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_corpus.build(out)
    return out


# ---------------------------------------------------------------------------- helpers


def run(sources: list[Path], store: Store, **kw: Any) -> StoredRun | JtrackError:
    try:
        return run_sessionize(sources, store, **kw)
    except JtrackError as exc:
        return exc


def both(tmp: Path, sources: list[Path], **kw: Any) -> tuple[Store, Store, Any, Any]:
    """The same run through the local engine and through Spark."""
    local, spark = Store(tmp / "local"), Store(tmp / "spark")
    return (
        local,
        spark,
        run(sources, local, **kw),
        run(sources, spark, engine="spark", **kw),
    )


def part_digests(store: Store) -> dict[str, str]:
    """sha256 of every index and session part of the current version."""
    out = {}
    for table in ("index", "sessions"):
        for f in sorted((store.root / "current" / table).glob("*.parquet")):
            out[f"{table}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def assert_same(local: Store, spark: Store, a: Any, b: Any, *, byte_identical: bool = True) -> None:
    if isinstance(a, JtrackError) or isinstance(b, JtrackError):
        assert type(a) is type(b) and str(a) == str(b), (a, b)
        assert not spark.exists(), "a failed run left a version behind"
        return
    sa, sb = a.summary.to_dict(), b.summary.to_dict()
    for s in (sa, sb):
        s.pop("store")
        s.pop("rejects_file")
        s["run"] = {k: v for k, v in s["run"].items() if k not in ("started", "finished")}
        for f in s.get("files") or []:  # (the README: Spark gives no unread-fields note)
            f.pop("unread_fields", None)
            f.pop("unread_sample", None)
    assert sa == sb
    assert_frame_equal(a.read.rejects, b.read.rejects)
    assert a.read.warnings == b.read.warnings
    unread = "jtrack does not read were left out"
    # (times without a zone counted on every path)
    assert [n for n in a.notes if unread not in n] == b.notes
    assert_frame_equal(a.conflicts, b.conflicts)
    assert_same_store(local, spark)
    assert_same_segments(local, spark)
    if byte_identical:
        assert part_digests(local) == part_digests(spark)
    assert not list(spark.root.glob(".tmp-*")), "staging files left behind"


def assert_same_segments(a: Store, b: Store) -> None:
    """The wide rows of every segment, in order (positions point at them)."""
    ma, mb = a.read_manifest(), b.read_manifest()
    assert [s.file for s in ma.segments] == [s.file for s in mb.segments]
    for s in ma.segments:
        fa = pl.read_parquet(a.root / "current" / "segments" / s.file)
        fb = pl.read_parquet(b.root / "current" / "segments" / s.file)
        assert_frame_equal(fa, fb)


# ---------------------------------------------------------------------------- the corpus


def test_the_valid_hostile_corpus_in_one_run(spark: Any, corpus: Path, tmp_path: Path) -> None:
    files = [corpus / f for c in CASES if not c.expected.error for f in c.files]
    local, sp, a, b = both(tmp_path, files, on_error="skip", units=4)
    assert not isinstance(b, JtrackError), b
    assert_same(local, sp, a, b)
    assert b.summary.rejected > 50 and b.summary.duplicates > 0
    limited = [c for c in CASES if c.max_line_bytes and not c.expected.error]
    files = [corpus / f for c in limited for f in c.files]
    limit = limited[0].max_line_bytes
    local, sp, a, b = both(tmp_path / "limited", files, on_error="skip", max_line_bytes=limit)
    assert_same(local, sp, a, b)


@pytest.mark.parametrize("case", FAILING, ids=[c.name for c in FAILING])
def test_a_failing_file_fails_as_it_does_locally(
    spark: Any, case: make_corpus.Case, corpus: Path, tmp_path: Path
) -> None:
    local, sp, a, b = both(tmp_path, [corpus / f for f in case.files], on_error="skip")
    assert isinstance(b, JtrackError) and case.expected.error in str(b)
    assert_same(local, sp, a, b)


@pytest.mark.parametrize("name", FAIL_SAMPLE)
def test_on_error_fail_stops_at_the_same_row(
    spark: Any, name: str, corpus: Path, tmp_path: Path
) -> None:
    case = next(c for c in CASES if c.name == name)
    kw: dict[str, Any] = {"on_error": "fail"}
    if case.max_line_bytes:
        kw["max_line_bytes"] = case.max_line_bytes
    local, sp, a, b = both(tmp_path, [corpus / f for f in case.files], **kw)
    assert_same(local, sp, a, b)


def test_a_rejected_row_comes_before_an_unreadable_file_after_it(
    spark: Any, corpus: Path, tmp_path: Path
) -> None:
    files = [corpus / "not_objects.jsonl", corpus / "parquet_corrupt_footer.parquet"]
    local, sp, a, b = both(tmp_path, files, on_error="fail")
    assert "not_an_object" in str(b)
    assert_same(local, sp, a, b)


# ---------------------------------------------------------------------------- splits


def _padded(raw: bytes, size: int) -> bytes:
    """A JSON object line padded (with a field) to `size` bytes."""
    pad = b',"pad":"' + b"x" * (size - len(raw) - 8) + b'"}'
    return raw[:-1] + pad


def _hostile_lines(n: int, limit: int) -> bytes:
    """A Genesys JSON lines file with, every so often, what breaks line counting: blank and
    white-space lines (Unicode ones too), CRLF, byte-order marks, bytes that are not UTF-8,
    NULs, lines over `limit` bytes and lines just under it with a CR, redeliveries,
    truncated lines, an unterminated last line; and times without a zone."""
    out = [b"\xef\xbb\xbf" + genesys_line("e0", "v0", T0).encode()]
    for i in range(1, n):
        line = genesys_line(f"e{i % (n - 7)}", f"v{i % 37}", T0 + timedelta(minutes=i % 500))
        raw = line.encode()
        k = i % 97
        if k == 1:
            raw += b"\r"
        elif k == 2:
            out.append(b"")
        elif k == 3:
            out.append(b" \t \xe2\x80\x83\xc2\x85")  # blank: spaces, a tab, em space, NEL
            out.append(b"\xef\xbb\xbf")  # blank: a byte-order mark
            out.append(b"\x1c")  # not blank: a separator is no white space
        elif k == 4:
            raw = raw[:40] + b"\xff\xfe" + raw[40:]
        elif k == 5:
            raw = b"\xef\xbb\xbf" + raw
        elif k == 6:
            raw = raw[:30] + b"\x00" + raw[30:]
        elif k == 7:
            raw = _padded(raw, limit + 600)
        elif k == 8:
            raw = raw[:-12]  # truncated
        elif k == 9:
            raw = _padded(raw, limit) + b"\r"  # not too long: the CR does not count
        elif k == 10:
            raw = _padded(raw, limit + 1)
        elif k == 11:
            raw = b"\xef\xbb\xbf" + _padded(raw, limit + 2) + b"\r"
        elif k == 12:  # a time without zone (counted, per file, for a note)
            raw = raw.replace(b'.000Z"', b'"', 1)
        out.append(raw)
    return b"\n".join(out)  # no final newline


def test_json_lines_split_by_spark_in_many_places(spark: Any, tmp_path: Path) -> None:
    from jtrack.engine.spark import _classify, _Input
    from jtrack.read import Source

    data = tmp_path / "big.jsonl"
    data.write_bytes(_hostile_lines(6000, 2500))
    other = tmp_path / "small.jsonl"
    other.write_bytes(_hostile_lines(300, 2500))
    inp = _Input(0, Source(str(data), path=data), 1, "s", "s", "file")
    _classify(inp, 2500, 1 << 20)
    assert inp.how == "text" and inp.genesys
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    try:
        assert spark.read.text(str(data)).rdd.getNumPartitions() > 10
        local, sp, a, b = both(tmp_path, [data, other], on_error="skip", max_line_bytes=2500)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert not isinstance(b, JtrackError), b
    reasons = set(b.read.rejects["reason"])
    assert {"invalid_utf8", "nul_bytes", "line_too_long", "malformed_json"} <= reasons
    assert b.summary.duplicates > 0
    assert [n.split(": ")[1].split(" event")[0] for n in b.warnings if "no time zone" in n] == [
        "62",  # (big.jsonl: lines 12, 109, 206, ... of 6,000)
        "3",
    ]
    assert_same(local, sp, a, b)


def test_how_each_input_is_read(tmp_path: Path, corpus: Path) -> None:
    from jtrack.engine.spark import _classify, _Input
    from jtrack.read import Source

    def how(path: Path) -> str:
        inp = _Input(0, Source(str(path), path=path), 1, "s", "s", "file")
        _classify(inp, 1_000_000, 1 << 20)
        return inp.how

    flat = tmp_path / "flat.parquet"
    flat_frame([flat_event("a", "v", T0)]).write_parquet(flat)
    odd = tmp_path / "odd[1].jsonl"
    odd.write_bytes((corpus / "valid_flat.jsonl").read_bytes())
    gz = tmp_path / "plain.jsonl.gz"  # not compressed, but Spark would think so
    gz.write_bytes((corpus / "valid_flat.jsonl").read_bytes())
    assert how(corpus / "valid_genesys.jsonl") == "text"
    assert how(corpus / "crlf.jsonl") == "text"
    assert how(corpus / "utf8_bom.jsonl") == "text"
    assert how(corpus / "gzip_no_extension.jsonl") == "file"
    assert how(corpus / "zstd_ok.jsonl.zst") == "file"
    assert how(corpus / "utf16_le_bom.jsonl") == "file"
    assert how(corpus / "rest_page.json") == "file"
    assert how(corpus / "parquet_created_date_text.parquet") == "file"
    assert how(flat) == "passthrough"
    assert how(odd) == "file"
    assert how(gz) == "file"
    import bz2
    import lzma

    for name, pack in (("b.jsonl.bz2", bz2.compress), ("x-noext", lzma.compress)):
        (tmp_path / name).write_bytes(pack((corpus / "valid_flat.jsonl").read_bytes()))
        assert how(tmp_path / name) == "file"  # (decompressed whole by a Python task)
    # what Spark's text source reads otherwise than jtrack (each failed the Spark run):
    # a byte-order mark alone, a name not in UTF-8, a file a Hadoop checksum is beside
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf")
    latin = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jsonl"))
    latin.write_bytes((corpus / "valid_flat.jsonl").read_bytes())
    summed = tmp_path / "summed.jsonl"
    summed.write_bytes((corpus / "valid_flat.jsonl").read_bytes())
    assert how(summed) == "text"
    (tmp_path / ".summed.jsonl.crc").write_bytes(b"crc\x00\x00\x02\x00")
    assert (how(bom), how(latin), how(summed)) == ("file", "file", "file")


def test_files_spark_would_read_otherwise_give_the_local_store(
    spark: Any, tmp_path: Path, corpus: Path
) -> None:
    """A byte-order mark alone ("the file changed while Spark read it") and a Latin-1 file
    name (a Py4JError) failed the Spark run of a folder the local engine reads."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bom.jsonl").write_bytes(b"\xef\xbb\xbf")
    latin = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.jsonl"))
    latin.write_bytes((corpus / "valid_flat.jsonl").read_bytes())
    assert_same(*both(tmp_path, [folder]))


# ---------------------------------------------------------------------------- sample data


def test_sample_data_with_contacts(spark: Any, tmp_path: Path) -> None:
    sources = [SAMPLE / "events.jsonl", SAMPLE / "events.parquet"]
    kw = {"contacts": SAMPLE / "contacts.csv", "on_error": "skip", "units": 3}
    local, sp, a, b = both(tmp_path, sources, **kw)
    assert_same(local, sp, a, b)
    assert b.summary.contacts["visitors_known"] > 0
    assert len(part_digests(sp)) == 6  # three units, index and sessions: byte for byte


def test_stdin_is_read_by_the_driver(spark: Any, tmp_path: Path, corpus: Path) -> None:
    data = (corpus / "malformed_json_variants.jsonl").read_bytes()
    stores = [Store(tmp_path / "local"), Store(tmp_path / "spark")]
    runs = [
        run_sessionize(["-"], store, stdin=io.BytesIO(data), on_error="skip", engine=engine)
        for store, engine in zip(stores, ("local", "spark"), strict=True)
    ]
    assert runs[1].summary.rejected > 0
    assert_same(*stores, *runs)


def test_a_canonical_parquet_file_is_kept_as_is_and_read_in_ranges(
    spark: Any, tmp_path: Path
) -> None:
    from synth import generate_flat

    src = tmp_path / "synth.parquet"
    generate_flat(5_000, seed=5).write_parquet(src, row_group_size=700)
    local, sp, a, b = both(tmp_path, [src], chunk_rows=1000, units=2)
    assert_same(local, sp, a, b)
    seg = sp.read_manifest().segments[0]
    copied = sp.root / "current" / "segments" / seg.file
    assert seg.kept_as_is and copied.read_bytes() == src.read_bytes()


# ---------------------------------------------------------------------------- properties


@st.composite
def exports(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[str]]:
    runs, _ = draw(journeys())
    kinds = [draw(st.sampled_from(["parquet", "jsonl", "jsonl.gz"])) for _ in runs]
    return runs, kinds


def _write(folder: Path, i: int, rows: list[dict[str, Any]], kind: str) -> Path:
    frame = flat_frame(rows)
    path = folder / f"day{i}.{kind}"
    if kind == "parquet":
        frame.write_parquet(path)
    else:
        text = frame.with_columns(pl.col("created_date").dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ"))
        body = text.write_ndjson().encode()
        path.write_bytes(gzip.compress(body) if kind.endswith(".gz") else body)
    return path


def _same_store_property(factory: pytest.TempPathFactory, drawn: Any) -> None:
    runs, kinds = drawn
    d = factory.mktemp("prop")
    files = [
        _write(d, i, rows, kind) for i, (rows, kind) in enumerate(zip(runs, kinds, strict=True))
    ]
    local, sp, a, b = both(d, files, on_error="skip", units=2)
    assert_same(local, sp, a, b)


_SLOW_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=4, deadline=None, suppress_health_check=_SLOW_HEALTH)
@given(exports())
def test_spark_builds_the_store_the_local_engine_builds(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, drawn: Any
) -> None:
    _same_store_property(tmp_path_factory, drawn)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW_HEALTH)
@given(exports())
def test_spark_builds_the_store_the_local_engine_builds_many_times(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, drawn: Any
) -> None:
    _same_store_property(tmp_path_factory, drawn)


# ---------------------------------------------------------------------------- incremental


def _days(folder: Path) -> list[Path]:
    days = []
    for day in range(4):
        rows = [
            flat_event(f"d{day}-{i}", f"v{i % 5}", T0 + timedelta(days=day // 2, minutes=7 * i))
            for i in range(30)
        ]
        rows.append(flat_event("d0-3", "v3", T0 + timedelta(minutes=1)))  # a redelivery
        days.append(_write(folder, day, rows, "jsonl" if day % 2 else "parquet"))
    return days


@pytest.mark.parametrize("order", [("local", "spark"), ("spark", "local")])
def test_incremental_runs_switch_engines(
    spark: Any, tmp_path: Path, order: tuple[str, str]
) -> None:
    days = _days(tmp_path)
    mixed = Store(tmp_path / "mixed")
    kw: dict[str, Any] = {"on_error": "skip", "contacts": SAMPLE / "contacts.csv"}
    for i, day in enumerate(days):
        run_sessionize([day], mixed, engine=order[i % 2], **kw)
        kw.pop("contacts", None)
    once = Store(tmp_path / "once")
    run_sessionize(days, once, on_error="skip", contacts=SAMPLE / "contacts.csv")
    assert_same_store(mixed, once)
    rebuilt = run_sessionize([], mixed, engine=order[1], rebuild=True)
    assert rebuilt.summary.events_kept == once.read_manifest().counts["events_kept"]
    assert_same_store(mixed, once)


def test_a_grown_file_is_read_from_where_it_was_left_as_locally(spark: Any, tmp_path: Path) -> None:
    from tests.helpers import genesys_line

    t0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
    f = tmp_path / "live.jsonl"

    def lines(a: int, b: int) -> str:
        return "".join(
            genesys_line(f"e{i}", f"v{i % 3}", t0 + timedelta(minutes=9 * i)) + "\n"
            for i in range(a, b)
        )

    f.write_text(lines(0, 30))
    local, sp, a, b = both(tmp_path, [f], on_error="skip")
    assert_same(local, sp, a, b)
    with open(f, "a") as fh:
        fh.write(lines(30, 40) + "not json\n" + lines(40, 45))
    a, b = run([f], local, on_error="skip"), run([f], sp, on_error="skip", engine="spark")
    assert a.summary.run["rows_read"] == 16  # type: ignore[union-attr]
    assert_same(local, sp, a, b)


# ---------------------------------------------------------------------------- reading it


def test_the_reading_commands_read_a_store_spark_wrote(spark: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jtrack.cli import app

    sources = [SAMPLE / "events.jsonl"]
    local, sp, a, b = both(tmp_path, sources, contacts=SAMPLE / "contacts.csv")
    assert_same(local, sp, a, b)
    runner = CliRunner()
    for args in (
        ["sessions", "--format", "csv"],
        ["usage", "--month", "2026-10", "--as-of", "2026-11-01T00:00:00", "--format", "json"],
        ["contacts", "--as-of", "2026-11-01T00:00:00", "--format", "csv"],
    ):
        outs = [runner.invoke(app, [*args, "--store", str(s.root)]) for s in (local, sp)]
        assert outs[0].exit_code == 0, outs[0].output
        assert outs[1].exit_code == 0, outs[1].output
        texts = [
            o.stdout.replace(str(s.root), "STORE") for o, s in zip(outs, (local, sp), strict=True)
        ]
        assert texts[0] == texts[1]


def test_spark_reads_the_store_as_the_readme_shows(spark: Any, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Spark\n") :]
    code = re.search(r"```python\n(.*?)```", section[: section.index("\n## ", 1)], re.S)
    assert code is not None
    store = Store(tmp_path / "store")
    run_sessionize([SAMPLE / "events.jsonl"], store, engine="spark")
    found: dict[str, Any] = {"spark": spark}
    exec(code.group(1).replace("/shared/jtrack", str(store.root)), found)
    with store.snapshot() as snap:
        sessions = snap.scan_sessions().collect()
        want = snap.scan_events(columns=["event_id", "session_id", "page_title"]).collect()
    # a run and a compaction between the job's DataFrames and its actions: the files it
    # listed are those of its version's folder, still there (through `current/` they were
    # gone: FILE_NOT_EXIST)
    later = tmp_path / "later.jsonl"
    later.write_text(
        (SAMPLE / "events.jsonl").read_text().splitlines()[0].replace('"id":"', '"id":"later-', 1)
        + "\n"
    )
    run_sessionize([later], store)
    compact(store)
    assert found["sessions"].count() == sessions.height
    events = found["events"].select("event_id", "session_id", "page_title").toArrow()
    got = pl.from_arrow(events)
    assert isinstance(got, pl.DataFrame)
    assert_frame_equal(got.sort("event_id"), want.sort("event_id"))


# ---------------------------------------------------------------------------- the CLI


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def _sample_on_spark(
    cwd: Path, store: str, master: str, *extra: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m jtrack.engine.spark sessionize` of the sample export in `cwd`."""
    args = [sys.executable, "-m", "jtrack.engine.spark", "sessionize", str(SAMPLE / "events.jsonl")]
    return _cli([*args, "--store", store, "--spark-master", master, *extra], cwd, **env)


def test_the_cli_on_spark_is_quiet(spark: Any, tmp_path: Path) -> None:
    events = SAMPLE / "events.jsonl"
    out = _sample_on_spark(tmp_path, "store", "local[1]", "-q")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    local = Store(tmp_path / "local")
    run_sessionize([events], local)
    assert_same_store(Store(tmp_path / "store"), local)


def test_spark_submit_runs_jtrack(spark: Any, tmp_path: Path) -> None:
    events = SAMPLE / "events.jsonl"
    args = ["sessionize", str(events), "--store", "store", "-q", "-o", "sessions.json"]
    out = _submit(args, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == ""
    assert json.loads((tmp_path / "sessions.json").read_text(encoding="utf-8"))
    local = Store(tmp_path / "local")
    run_sessionize([events], local)
    assert_same_store(Store(tmp_path / "store"), local)


def _submit(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import pyspark

    import jtrack.engine.spark as engine

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    return _cli(
        [
            str(submit),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            engine.__file__,
            *args,
        ],
        cwd,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )


def test_spark_submit_refuses_a_data_format_on_stdout(spark: Any, tmp_path: Path) -> None:
    """spark-submit merges its Python's stderr into stdout: warnings would land in the JSON."""
    events = SAMPLE / "events.jsonl"
    out = _submit(["sessionize", str(events), "--store", "store", "-f", "json"], tmp_path)
    assert out.returncode == 2, (out.stdout[-2000:], out.stderr[-2000:])
    lines = out.stdout.splitlines()  # (the error too: Spark merged the streams)
    assert len(lines) == 1 and lines[0].startswith("error: -f json to standard output"), lines
    assert "hint: write the data to a file with -o FILE" in lines[0]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("args", "fmt"),
    [
        (["sessionize", "x", "-f", "json"], "json"),
        (["sessions", "--format=csv", "-q"], "csv"),
        (["sessions", "-fjsonl"], "jsonl"),
        (["sessions", "-f", "json", "-o", "out.json"], None),
        (["sessionize", "x", "-f", "csv", "-o", "-"], "csv"),
        (["sessionize", "x", "-fjson", "--output=/dev/stdout"], "json"),
        (["sessions", "-f", "jsonl", "-o", "/dev/stderr"], "jsonl"),
        (["sessions", "-o", "-"], None),
        (["sessions", "--output=out.csv", "-f", "csv"], None),
        (["sessions", "-f", "table"], None),
        (["sessionize", "x"], None),
        (["sessionize", "--", "-f", "json"], None),
    ],
)
def test_which_arguments_write_data_to_stdout(args: list[str], fmt: str | None) -> None:
    pytest.importorskip("pyspark")
    from jtrack.engine.spark import _data_to_stdout

    assert _data_to_stdout(args) == fmt


def test_spark_submit_streams_are_told_apart_by_the_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    from jtrack.engine.spark import _streams_merged

    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert not _streams_merged()
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    code = "from jtrack.engine.spark import _streams_merged as m; print(m())"
    merged = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    apart = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (merged.stdout.strip(), apart.stdout.strip()) == ("True", "False")


def _slow_python(folder: Path, seconds: float) -> str:
    """A PYSPARK_PYTHON that leaves a mark and starts `seconds` late: a Spark job is running,
    waiting for it, from the mark on."""
    script = folder / "slow-python"
    mark = shlex.quote(str(folder / "worker-starting"))
    script.write_text(
        f'#!/bin/sh\ntouch {mark}\nsleep {seconds}\nexec {shlex.quote(sys.executable)} "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script)


def _interrupted_run(
    tmp_path: Path, seconds: float, *, at: str = "worker-starting", times: int = 1, **popen: Any
) -> tuple[int, str, str]:
    """A CLI run on Spark, sent SIGINT `times` when `at` appears (worker-starting: while its
    first job waits for the Python workers; store: while the JVM starts)."""
    data = tmp_path / "events.jsonl.gz"  # read by one Python task: the first job needs one
    data.write_bytes(gzip.compress((SAMPLE / "events.jsonl").read_bytes()))
    args = [sys.executable, "-m", "jtrack.engine.spark", "sessionize", str(data)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYSPARK_PYTHON": _slow_python(tmp_path, seconds),
    }
    proc = subprocess.Popen(
        [*args, "--store", "store", "--spark-master", "local[1]", "-q"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / at).exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no {at}"
            time.sleep(0.1)
        time.sleep(1)  # the driver waits in a call to the JVM
        for _ in range(times):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_ctrl_c_during_a_spark_job_is_one_line(spark: Any, tmp_path: Path) -> None:
    code, out, err = _interrupted_run(tmp_path, 10)
    assert (code, out, err) == (
        130,
        "",
        f"error: {INTERRUPTED}\n",
    )
    assert not Store(tmp_path / "store").exists()
    assert not list((tmp_path / "store").glob(".tmp-*"))


def _jvms_in(folder: Path) -> list[int]:
    """Java processes working in `folder`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            java = b"java" in (proc / "cmdline").read_bytes().split(b"\0")[0]
            if java and os.readlink(proc / "cwd") == str(folder):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_ctrl_c_twice_while_the_jvm_starts_leaves_no_jvm_behind(spark: Any, tmp_path: Path) -> None:
    if not Path("/proc/self/cwd").exists():
        pytest.skip("needs /proc to find the JVM")
    code, out, err = _interrupted_run(tmp_path, 0, at="store", times=2)
    assert (code, out, err) == (
        130,
        "",
        f"error: {INTERRUPTED}\n",
    )
    deadline = time.monotonic() + 15
    while (left := _jvms_in(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "the JVM outlived jtrack"


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(spark: Any, tmp_path: Path) -> None:
    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    code, out, err = _interrupted_run(tmp_path, 5, preexec_fn=ignore)
    assert (code, out, err) == (0, "", "")
    assert Store(tmp_path / "store").exists()


def test_a_master_nobody_listens_on_is_one_quick_usage_error(java: str, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master = f"spark://127.0.0.1:{port}"
    started = time.monotonic()
    out = _sample_on_spark(tmp_path, "st", master)
    assert time.monotonic() - started < 30
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Spark did not start on {master} ")
    assert "hint: check --spark-master" in lines[0]


def test_a_session_that_fails_after_its_context_started_is_a_start_up_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A standalone master that takes the connection but never registers the app: the
    context starts, the SparkSession fails (after a minute); one line, exit 2."""
    pytest.importorskip("pyspark")
    import jtrack.engine.spark as engine

    class Conf:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def setMaster(self, value: str) -> Conf:
            return self

        def setAppName(self, value: str) -> Conf:
            return self

        def setIfMissing(self, key: str, value: str) -> None:
            self.values.setdefault(key, value)

        def get(self, key: str, default: str | None) -> str | None:
            return self.values.get(key, default)

        def set(self, key: str, value: str) -> None:
            self.values[key] = value

    class Context:
        _active_spark_context: Context | None = None
        stopped = False

        def __init__(self, conf: Conf, gateway: object) -> None:
            Context._active_spark_context = self

        def stop(self) -> None:
            Context.stopped = True
            Context._active_spark_context = None

    def get_or_create() -> None:
        raise RuntimeError("An error occurred while calling None.org.apache.spark.sql.Session.")

    fakes = {
        "pyspark": types.SimpleNamespace(SparkConf=Conf, SparkContext=Context),
        "pyspark.java_gateway": types.SimpleNamespace(launch_gateway=lambda conf, **kw: object()),
        "pyspark.sql": types.SimpleNamespace(
            SparkSession=types.SimpleNamespace(
                builder=types.SimpleNamespace(getOrCreate=get_or_create)
            )
        ),
    }
    monkeypatch.setattr(engine, "_pyspark", fakes.__getitem__)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # (the JVM's log folder, kept)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("", encoding="utf-8")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    with pytest.raises(UsageError, match=r"Spark did not start on local\[1\] \(An error") as exc:
        engine._start("local[1]")
    assert exc.value.exit_code == 2
    assert Context.stopped


def test_executors_without_jtrack_is_a_set_up_error_and_its_log_stays(
    spark: Any, tmp_path: Path
) -> None:
    bare = tmp_path / "bare-python"  # no site-packages: neither Polars nor PyArrow
    bare.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S "$@"\n', encoding="utf-8")
    bare.chmod(0o755)
    out = _sample_on_spark(tmp_path, "st", "local[1]", PYSPARK_PYTHON=str(bare))
    assert out.returncode == 2 and out.stdout == "", out.stderr[-2000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: the executors' Python cannot import ")
    assert f"PYSPARK_PYTHON={bare}" in lines[0]
    found = re.search(r"see the JVM's log (\S+/jvm\.log)\)$", lines[0])
    assert found, lines[0]
    log = Path(found.group(1))
    try:
        assert log.is_file(), "the log the error names is gone"
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)
    assert not Store(tmp_path / "st").exists()


def test_java_home_without_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from jtrack.engine.spark import _start

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(UsageError, match=r"^JAVA_HOME=\S+ has no bin/java \(hint: .*unset it"):
        _start("local[1]")


# (pyspark leaves the stdin pipe of a gateway that exited open: not jtrack's to close)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_java_older_than_17_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Java 11 on the machine was "Spark did not start on local[1] (Java gateway process
    exited before sending its port number)": the error says which Java was found."""
    pytest.importorskip("pyspark")
    import tempfile

    from jtrack.engine.spark import _start

    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(  # what Java 11 says of Spark's launcher, compiled for Java 17
        "#!/bin/sh\necho 'Error: LinkageError occurred while loading main class "
        "org.apache.spark.launcher.Main' >&2\necho '\tjava.lang.UnsupportedClassVersionError: "
        "org/apache/spark/launcher/Main has been compiled by a more recent version of the Java "
        "Runtime (class file version 61.0), this version of the Java Runtime only recognizes "
        "class file versions up to 55.0' >&2\nexit 1\n",
        encoding="utf-8",
    )
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(java.parent.parent))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(UsageError, match=r"^--engine spark needs Java 17 or later, and Java 11 "):
        _start("local[1]")
    assert not list(tmp_path.glob("jtrack-spark-*")), "the JVM's log is left, though not named"
    # another library's class too new for a Java 17 is not "Java too old": the log tells
    java.write_text(
        "#!/bin/sh\necho 'java.lang.UnsupportedClassVersionError: com/acme/SparkPlugin has "
        "been compiled by a more recent version of the Java Runtime (class file version "
        "65.0), this version of the Java Runtime only recognizes class file versions up to "
        "61.0' >&2\nexit 1\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match=r"^Spark did not start on local\[1\].*JVM's log"):
        _start("local[1]")


def test_no_java_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from jtrack.engine.spark import _start

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="needs Java 17"):
        _start("local[1]")


def test_without_pyspark_the_engine_is_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pyspark is imported when the engine is made (it used to be when the session started:
    "internal error: ModuleNotFoundError", exit 1)."""
    import jtrack.engine.spark as engine

    def missing(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(engine, "_pyspark", missing)
    res = CliRunner().invoke(
        app, ["sessionize", str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "s"),
              "--engine", "spark", "-q"],
    )  # fmt: skip
    assert res.exit_code == 2, res.stderr
    assert "--engine spark needs pyspark" in res.stderr and "jtrack[spark]" in res.stderr
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_spark_without_pandas_is_refused_before_the_jvm_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pyspark installed without pandas (which its Arrow functions check for) waited 30 s
    for the JVM, then was "internal error: PySparkImportError": it is exit 2 at once."""
    import importlib.util

    import jtrack.engine.spark as engine

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "pandas" else real(n, *a)
    )
    monkeypatch.setattr(engine, "spark_session", lambda *a: pytest.fail("the JVM started"))
    res = CliRunner().invoke(
        app, ["sessionize", str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "s"),
              "--engine", "spark", "-q"],
    )  # fmt: skip
    assert res.exit_code == 2, res.stderr
    assert "--engine spark needs pandas (hint: pip install 'jtrack[spark]'" in res.stderr


@pytest.mark.parametrize(
    "master", ["spark://127.0.0.1", "spark://h:abc", "spark://", "SPARK://h:1", "local[x]"]
)
def test_a_malformed_master_is_refused_before_any_jvm(master: str, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    res = CliRunner().invoke(
        app, ["sessionize", str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "s"),
              "--engine", "spark", "--spark-master", master, "-q"],
    )  # fmt: skip
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith(f"error: --spark-master {master!r}: not a master URL")
    import jtrack.engine.spark as engine

    assert engine.jvm_log() is None or "sessionize" not in str(engine.jvm_log())


def test_a_bad_master_from_the_environment_or_engine_is_named_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$SPARK_MASTER=foo was told as `--spark-master 'foo'`, a flag nobody gave; `--engine
    foo --spark-master local[2]` was told the master is for Spark, not that foo is no
    engine."""
    pytest.importorskip("pyspark")
    events = [str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "s"), "-q"]
    monkeypatch.setenv("SPARK_MASTER", "foo")
    res = CliRunner().invoke(app, ["sessionize", *events, "--engine", "spark"])
    assert res.exit_code == 2 and res.stderr.startswith("error: $SPARK_MASTER 'foo': not a")
    monkeypatch.delenv("SPARK_MASTER")
    res = CliRunner().invoke(
        app, ["sessionize", *events, "--engine", "foo", "--spark-master", "local[2]"]
    )
    assert res.exit_code == 2 and res.stderr.startswith("error: engine 'foo'"), res.stderr


def test_a_java_error_is_told_by_its_own_message() -> None:
    from jtrack.engine.spark import _first_words

    exc = RuntimeError(
        "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n"
        ": org.apache.spark.SparkException: Invalid master URL: spark://x\n\tat org.apache..."
    )
    assert _first_words(exc) == "Invalid master URL: spark://x"
    assert _first_words(ValueError("plain\nmore")) == "plain"


def test_a_failed_job_is_told_by_its_root_cause_not_a_stack_frame() -> None:
    """A failed Spark job said "the Spark job failed (... 20 more)" or "(at java.base/
    java.lang.Thread.run(Thread.java:840))": the last line of the Java stack."""
    from jtrack.engine.spark import _job_error

    checksum = RuntimeError(
        "An error occurred while calling o123.collectToPython.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 failed\n"
        "\tat org.apache.hadoop.fs.FSInputChecker.read(FSInputChecker.java:1)\n"
        "Caused by: org.apache.hadoop.fs.ChecksumException: Checksum error: file:/x.jsonl at 56\n"
        "\tat org.apache.hadoop.fs.ChecksumFileSystem.read(X.java:2)\n\t... 20 more"
    )
    assert str(_job_error(checksum)).startswith(
        "the Spark job failed (org.apache.hadoop.fs.ChecksumException: Checksum error: "
    )
    heap = RuntimeError(
        "java.lang.OutOfMemoryError: Java heap space\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:840)"
    )
    assert "(java.lang.OutOfMemoryError: Java heap space)" in str(_job_error(heap))
    python = RuntimeError(  # (a task's Python error: its traceback ends with the message)
        "An exception was thrown from the Python worker. Please see the stack trace below.\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n'
        '    raise ValueError(f"row count {n} is not what the split said")\n'
        "ValueError: row count 2 is not what the split said"
    )
    assert "(ValueError: row count 2 is not what the split said)" in str(_job_error(python))


@pytest.mark.parametrize(
    "master", ["local", "local[*]", "local[4, 2]", "local-cluster[2,1,1024]", "spark://h:7077,g:7077",
               "spark://[::1]:7077", "yarn", "k8s://https://k:443"]
)  # fmt: skip
def test_masters_spark_takes_are_taken(master: str) -> None:
    from jtrack.engine.spark import check_master

    check_master(master)


@pytest.mark.parametrize("size", ["-5", "0", " 0b"])
def test_a_split_size_spark_cannot_split_by_is_named(size: str) -> None:
    """spark.sql.files.maxPartitionBytes of -5 (from spark-defaults.conf) read no split and
    was "the file changed while Spark read it" (exit 1); 0 was "step cannot be 0" with a
    log that said nothing. Both are the setting's fault: exit 2, named."""
    pytest.importorskip("pyspark")
    from jtrack.engine.spark import _check_split_size

    class Conf:
        def __init__(self, value: str | None) -> None:
            self.value = value

        def get(self, key: str, default: Any = None) -> Any:
            assert key == "spark.sql.files.maxPartitionBytes"
            return self.value if self.value is not None else default

    class Session:
        def __init__(self, value: str | None) -> None:
            self.conf = Conf(value)

    with pytest.raises(UsageError) as err:
        _check_split_size(Session(size))
    assert err.value.message.startswith(f"spark.sql.files.maxPartitionBytes is {size.strip()}:")
    for fine in (None, "128MB", "32768", "64k"):
        _check_split_size(Session(fine))
