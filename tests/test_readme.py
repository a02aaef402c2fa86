"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_library_example_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", _section("Library"), re.S)
    assert code is not None
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    out = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    promised = re.search(r"# (\d+ \d+ \d+)\n", code.group(1))
    assert promised is not None and out.stdout.splitlines()[0] == promised.group(1)


def test_the_quickstart_transcript_is_what_the_command_prints(tmp_path: Path) -> None:
    """The transcript under Quickstart is the real output of its command (80 columns)."""
    section = _section("Quickstart")
    block = re.search(r"```console\n\$ (jtrack [^\n]*)\n(.*?)```", section, re.S)
    assert block is not None
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    args = block.group(1).split()[1:]
    out = subprocess.run(
        [sys.executable, "-m", "jtrack.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "TZ": "UTC", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout == block.group(2)


def _shims(tmp_path: Path) -> dict[str, str]:
    """`jtrack` (this checkout) and `duckdb` (the Python package: the SQL read from standard
    input against the database named) on a PATH of their own."""
    import os

    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "jtrack").write_text(f'#!/bin/sh\nexec {sys.executable} -m jtrack.cli "$@"\n')
    (bin_ / "duckdb").write_text(  # (duckdb [DATABASE] [-c SQL]: rows printed, one a line)
        f"#!{sys.executable}\n"
        "import sys, duckdb\n"
        "args = sys.argv[1:]\n"
        "sql = args.pop(args.index('-c') + 1) if '-c' in args else sys.stdin.read()\n"
        "db = [a for a in args if a != '-c']\n"
        "rows = duckdb.connect(db[0] if db else ':memory:').execute(sql).fetchall()\n"
        "print('\\n'.join(','.join(map(str, r)) for r in rows))\n"
    )
    for f in bin_.iterdir():
        f.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}


def test_the_incremental_load_script_keeps_the_session_table_of_the_store(
    tmp_path: Path,
) -> None:
    """The README's DuckDB script, run under `jtrack store pin` after each night (late events
    that retire session ids, a redelivery, a compaction, a rebuild), holds exactly the
    store's session table: ids and every column."""
    from datetime import UTC, datetime, timedelta

    import duckdb
    import polars as pl
    from polars.testing import assert_frame_equal

    from jtrack.engine import run_sessionize
    from jtrack.engine.compact import compact
    from jtrack.store import Store
    from tests.helpers import flat_event, flat_frame

    text = (ROOT / "README.md").read_text()
    start = text.index("**Loading the session table incrementally.**")
    script = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert script is not None
    (tmp_path / "load.sh").write_text(script.group(1))
    env = _shims(tmp_path)
    store = Store.open(tmp_path / "store")
    t0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
    nights = [
        [("e1", "v1", 0), ("e2", "v1", 30), ("e3", "v2", 0), ("e4", "v2", 100)],
        [("e5", "v1", 15), ("e6", "v3", 5)],  # joins v1's two sessions: one id retired
        [("e1", "v1", 0), ("e7", "v2", 80)],  # a redelivery; v2's second session grows
        [("e8", "v3", 1), ("e9", "v4", 0)],  # begins v3's session earlier: a new id
        [("e10", "v2", 60)],
    ]
    for i, rows in enumerate(nights):
        f = tmp_path / f"night{i}.parquet"
        flat_frame([flat_event(e, v, t0 + timedelta(minutes=m)) for e, v, m in rows]).write_parquet(
            f
        )
        run_sessionize([f], store)
        if i == 2:
            compact(store)
        if i == 4:
            run_sessionize([], store, rebuild=True)  # (no list: the script reloads)
        (tmp_path / "changes.parquet").unlink(missing_ok=True)
        subprocess.run(
            ["jtrack", "store", "pin", "--store", str(store.root), "-q", "--", "sh", "load.sh"],
            cwd=tmp_path,
            env=env,
            check=True,
        )
        held = duckdb.connect(str(tmp_path / "bi.duckdb")).sql("SELECT * FROM sessions").pl()
        files = sorted((store.root / "versions" / str(store.current_name()) / "sessions").glob("*"))
        truth = pl.read_parquet(files)
        assert_frame_equal(held.sort("id"), truth.sort("id"), check_dtypes=False)
        assert (tmp_path / "held_version").read_text().strip() == store.current_name()
        # (the first night and the rebuild load the table whole; the others, the changes)
        assert (tmp_path / "changes.parquet").exists() == (0 < i < 4), i


@pytest.mark.parametrize("kept_first", [True, False])
def test_the_polars_line_over_segments_reads_an_input_kept_with_extra_columns(
    tmp_path: Path, kept_first: bool
) -> None:
    """`pl.read_parquet('.../segments/*.parquet')` stopped with a SchemaError once an input
    kept as is had a column of its own (`campaign_cost`): the README's Polars line reads
    every segment, in either order."""
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from jtrack.engine import run_sessionize
    from jtrack.store import Store
    from tests.helpers import flat_event, flat_frame, genesys_line

    t0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
    kept = tmp_path / "kept.parquet"
    flat_frame(
        [flat_event(f"k{i}", "v1", t0 + timedelta(minutes=i)) for i in range(3)]
    ).with_columns(campaign_cost=pl.lit(1.5)).write_parquet(kept)
    jsonl = tmp_path / "other.jsonl"
    jsonl.write_text(
        "".join(genesys_line(f"j{i}", "v2", t0 + timedelta(minutes=i)) + "\n" for i in range(2))
    )
    store = Store.open(tmp_path / ".jtrack")
    for f in [kept, jsonl] if kept_first else [jsonl, kept]:
        run_sessionize([f], store)
    assert [s.kept_as_is for s in store.read_manifest().segments] == [kept_first, not kept_first]
    with pytest.raises(pl.exceptions.PolarsError):
        pl.read_parquet(str(tmp_path / ".jtrack/current/segments/*.parquet"))
    line = next(
        m.group(1)
        for m in re.finditer(r'python -c "(.*?)"', (ROOT / "README.md").read_text(), re.S)
        if "segments/*.parquet" in m.group(1)
    )
    out = subprocess.run(
        [sys.executable, "-c", line.replace(".collect())", ".collect().height)")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "5"


def test_the_duplicates_sql_counts_what_the_manifest_counts(tmp_path: Path) -> None:
    """The duplicates table and its deltas were documented nowhere and `jtrack store files
    duplicates` exited 2: a reader counting its rows counted 22,958 or 26,277 where the
    store counts 26,248. The README's SQL over the files `jtrack store files duplicates`
    lists counts what the manifest counts, deltas or not."""
    import json

    from test_engine import overlapping_exports

    from jtrack.engine import run_sessionize
    from jtrack.store import Store

    text = (ROOT / "README.md").read_text()
    start = text.index("**Duplicates and held rows.**")
    block = re.search(r"```console\n(.*?)```", text[start:], re.S)
    assert block is not None
    script = re.sub(r"\s+# none: no duplicates", "", block.group(1))
    env = _shims(tmp_path)
    store = Store.open(tmp_path / ".jtrack")
    seen_deltas = False
    for f in overlapping_exports(tmp_path / "exports", days=8, per_day=30):
        run_sessionize([f], store)
        manifest = json.loads((store.root / "current" / "manifest.json").read_text())
        seen_deltas |= bool(manifest.get("duplicate_deltas"))
        out = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        if not manifest.get("duplicates"):
            continue  # (no table yet: nothing to list)
        assert out.returncode == 0, out.stderr
        assert int(out.stdout.split()[-1]) == manifest["counts"]["duplicates"]
    assert seen_deltas
    listed = subprocess.run(
        ["jtrack", "store", "files", "held"], cwd=tmp_path, env=env, capture_output=True
    )
    assert listed.returncode == 0 and listed.stdout == b""


def test_the_blank_label_sql_counts_as_the_report_does(tmp_path: Path) -> None:
    """A referrer host "" and a campaign source " " are kept as sent, which the report
    counts as missing: the README's NULLIF(TRIM(col), '') (and its Polars form) counts the
    referrers and campaigns as `jtrack report` does."""
    import json
    from datetime import UTC, datetime

    import duckdb
    import polars as pl
    from typer.testing import CliRunner

    from jtrack.cli import app
    from jtrack.engine import run_sessionize
    from jtrack.store import Store
    from tests.helpers import flat_event, flat_frame

    t0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
    rows = [
        flat_event("a", "v1", t0, kind="page_view", referrer_hostname="", mkt_campaign_source=" "),
        flat_event("b", "v2", t0, kind="page_view"),
        flat_event("c", "v3", t0, kind="page_view", referrer_hostname="www.google.com"),
    ]
    f = tmp_path / "x.parquet"
    flat_frame(rows).write_parquet(f)
    store = Store.open(tmp_path / "st")
    run_sessionize([f], store)
    files = store.current_files("sessions")
    db = duckdb.connect()
    raw = db.execute(
        f"SELECT count(referrer_hostname), count(mkt_campaign_source) FROM read_parquet({files})"
    ).fetchall()[0]
    assert raw == (2, 1)  # (kept as sent)
    fixed = db.execute(
        "SELECT count(NULLIF(TRIM(referrer_hostname), '')), "
        f"count(NULLIF(TRIM(mkt_campaign_source), '')) FROM read_parquet({files})"
    ).fetchall()[0]
    frame = pl.read_parquet(files)
    polars_form = frame.select(
        pl.col(c).str.strip_chars().replace("", None).count()
        for c in ("referrer_hostname", "mkt_campaign_source")
    ).row(0)
    res = CliRunner().invoke(app, ["report", "--store", str(store.root), "-f", "json"])
    report = json.loads(res.stdout)
    tables = report["tables"]
    hosts = sum(r["sessions"] for r in tables["referrers"] if r["referrer"] is not None)
    assert fixed == polars_form == (hosts, len(tables["campaigns"])) == (1, 0)
