"""The bounded-memory (bucketed) path gives exactly what the in-memory path gives.

`run_sessionize(mode="partitioned")` stages rows by visitor bucket and sessionizes one bucket
at a time; `mode="memory"` reads everything at once. With the same number of buckets, every
stored file, the summary, the rejects and the conflicts must be identical. Small inputs are
forced through many buckets and tiny chunks, so every cross-bucket and cross-chunk case
(redeliveries with another visitor, far-future rows, rejects between good rows) is exercised.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import make_corpus
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from make_corpus import Case
from polars.testing import assert_frame_equal
from synth import generate_flat
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine.pipeline import (
    BUCKET_BYTES_PER_ROW,
    StoredRun,
    parse_size,
    plan_run,
    run_sessionize,
)
from jtrack.errors import JtrackError
from jtrack.options import SessionizeOptions
from jtrack.store import Store

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
CASES = [c for c in make_corpus.build(None) if not c.big]


def stored(root: Path) -> dict[str, pl.DataFrame]:
    """Every file of the store's current snapshot, by its path inside the snapshot."""
    snap = root / (root / "CURRENT").read_text().strip()
    return {str(f.relative_to(snap)): pl.read_parquet(f) for f in sorted(snap.rglob("*.parquet"))}


def manifest(root: Path) -> dict[str, Any]:
    snap = root / (root / "CURRENT").read_text().strip()
    data: dict[str, Any] = json.loads((snap / "manifest.json").read_text())
    data.pop("snapshot")
    return data


def both(
    tmp: Path, sources: list[Path], buckets: int, chunk_rows: int, **kwargs: Any
) -> tuple[StoredRun | JtrackError, StoredRun | JtrackError]:
    """The same run in memory and bucket by bucket (errors are returned, not raised)."""
    out: list[StoredRun | JtrackError] = []
    for mode in ("memory", "partitioned"):
        try:
            out.append(
                run_sessionize(
                    sources,
                    Store.open(tmp / mode),
                    mode=mode,  # type: ignore[arg-type]
                    buckets=buckets,
                    chunk_rows=chunk_rows,
                    **kwargs,
                )
            )
        except JtrackError as exc:
            out.append(exc)
    return out[0], out[1]


def assert_same(tmp: Path, a: StoredRun | JtrackError, b: StoredRun | JtrackError) -> None:
    if isinstance(a, JtrackError) or isinstance(b, JtrackError):
        assert type(a) is type(b), (a, b)
        assert str(a) == str(b)
        assert not (tmp / "partitioned" / "CURRENT").exists()
        return
    sa, sb = a.summary.to_dict(), b.summary.to_dict()
    assert sa.pop("store") != sb.pop("store")
    assert sa == sb
    assert a.summary.balanced and b.summary.balanced
    assert_frame_equal(a.read.rejects, b.read.rejects)
    assert a.read.warnings == b.read.warnings
    assert a.conflicts is not None and b.conflicts is not None
    assert_frame_equal(a.conflicts, b.conflicts)
    fa, fb = stored(tmp / "memory"), stored(tmp / "partitioned")
    assert fa.keys() == fb.keys()
    for name in fa:
        assert_frame_equal(fa[name], fb[name], check_exact=True)
    ma, mb = manifest(tmp / "memory"), manifest(tmp / "partitioned")
    assert ma == mb
    assert_frame_equal(a.session_table(), b.session_table())
    assert not list((tmp / "partitioned").glob(".stage-*")), "staging files left behind"


def test_sample_data_with_contacts_through_many_buckets(tmp_path: Path) -> None:
    sources = [SAMPLE / "events.jsonl", SAMPLE / "events.parquet"]
    a, b = both(
        tmp_path,
        sources,
        buckets=16,
        chunk_rows=333,
        contacts=SAMPLE / "contacts.csv",
        on_error="skip",
    )
    assert_same(tmp_path, a, b)
    assert isinstance(b, StoredRun)
    assert b.summary.duplicates >= 4000  # the two files hold the same events
    assert b.summary.contacts is not None and b.summary.contacts["visitors_known"] > 0


def _one_event(i: int, customer: str, minute: float, **cols: Any) -> dict[str, Any]:
    t = datetime(2026, 10, 3, 9, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return {
        "event_id": f"e-{i:05d}",
        "customer_id": customer,
        "created_date": t,
        "event_type": "WebEvent",
        "kind": "page_view",
        "event_name": "page_viewed",
        "page_url": f"https://shop.example/p/{i}",
        **cols,
    }


def test_redeliveries_with_another_visitor_and_far_future_rows(tmp_path: Path) -> None:
    """An event id delivered for two visitors (two buckets), the later copy first in the
    input; far-future rows; system events; a custom session: all split across chunks."""
    rows = [_one_event(i, f"visitor-{i % 7}", i * 3.0) for i in range(60)]
    rows.append(_one_event(5, "visitor-other", 1.0))  # earlier copy, another visitor
    rows.append(_one_event(6, "visitor-6", 18.0, page_url="https://changed"))  # a conflict
    rows.append(_one_event(7, "visitor-0", 21.0))  # identical redelivery
    rows += [_one_event(900 + i, "visitor-3", 60 * 24 * 800 + i) for i in range(1)]
    rows.append(
        _one_event(
            950,
            "visitor-2",
            30.0,
            kind="segment",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            segment_id="s-1",
        )
    )
    rows += [
        _one_event(970 + i, "visitor-4", 100.0 + 45 * i, source_session_type="delivery")
        | {"source_session_id": "d-1"}
        for i in range(3)
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    src = tmp_path / "events.parquet"
    frame.write_parquet(src)
    for buckets, chunk in ((2, 7), (8, 1), (32, 64)):
        out = tmp_path / f"b{buckets}"
        a, b = both(out, [src], buckets=buckets, chunk_rows=chunk, on_error="skip")
        assert_same(out, a, b)
        assert isinstance(b, StoredRun)
        assert b.summary.duplicates == 3
        assert b.summary.conflicting_duplicates == 2
        assert b.read.rejects["reason"].to_list() == ["far_future"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_corpus.build(out)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_corpus_gives_the_same_result(case: Case, corpus: Path, tmp_path: Path) -> None:
    sources = [corpus / f for f in case.files]
    kwargs: dict[str, Any] = {}
    if case.max_line_bytes:
        kwargs["max_line_bytes"] = case.max_line_bytes
    for on_error in ("skip", "fail"):
        out = tmp_path / on_error
        a, b = both(out, sources, buckets=4, chunk_rows=2, on_error=on_error, **kwargs)
        assert_same(out, a, b)


_VISITORS = st.sampled_from([f"v{i}" for i in range(6)])


@st.composite
def event_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        kind = draw(st.sampled_from(["page_view", "page_view", "search", "app", "segment"]))
        rows.append(
            _one_event(
                draw(st.integers(0, n)),  # repeated ids: redeliveries, same visitor or not
                draw(_VISITORS),
                draw(st.floats(0, 600, allow_nan=False).map(lambda m: round(m, 3))),
                kind=kind,
                event_type={"app": "AppEvent", "segment": "SegmentAssignmentEvent"}.get(
                    kind, "WebEvent"
                ),
                event_name=None if kind == "segment" else "page_viewed",
                search_query="boots" if kind == "search" else None,
                page_title=draw(st.sampled_from(["A", "B"])),
            )
        )
    return rows


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=event_rows(), buckets=st.sampled_from([2, 4, 16]), chunk=st.integers(1, 9))
def test_any_events_any_buckets_any_chunks(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[dict[str, Any]],
    buckets: int,
    chunk: int,
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "events.parquet"
    pl.DataFrame(rows, infer_schema_length=None).write_parquet(src)
    options = SessionizeOptions(gap=timedelta(minutes=20), max_duration=timedelta(hours=1))
    a, b = both(tmp, [src], buckets=buckets, chunk_rows=chunk, options=options)
    assert_same(tmp, a, b)


def test_a_synthetic_export_in_many_chunks(tmp_path: Path) -> None:
    src = tmp_path / "events.parquet"
    generate_flat(20_000, seed=3).write_parquet(src, row_group_size=3_000)
    a, b = both(tmp_path, [src], buckets=8, chunk_rows=2_500)
    assert_same(tmp_path, a, b)


def test_the_plan_picks_buckets_from_the_memory_limit() -> None:
    from jtrack.read import Source

    src = SAMPLE / "events.parquet"
    rows = plan_run([Source(str(src), path=src)]).estimated_rows
    assert rows == pl.scan_parquet(src).select(pl.len()).collect().item()
    assert rows == 4_000
    # a small limit: half of it for rows, 1,500 rows a bucket
    small = plan_run([Source(str(src), path=src)], memory_limit=2 * 1_500 * BUCKET_BYTES_PER_ROW)
    assert small.partitioned and small.buckets == 3
    # in memory while the whole input fits
    assert not plan_run([Source(str(src), path=src)], memory_limit=30_000_000).partitioned
    assert not plan_run([Source(str(src), path=src)]).partitioned
    forced = plan_run([Source(str(src), path=src)], mode="partitioned")
    assert forced.partitioned and forced.buckets == 1


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GB", 4 * 1024**3), ("512mb", 512 * 1024**2), ("1.5G", int(1.5 * 1024**3)), ("100", 100)],
)
def test_memory_limit_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_cli_memory_limit_gives_the_same_store(tmp_path: Path) -> None:
    src = str(SAMPLE / "events.jsonl")
    runner = CliRunner()
    a = runner.invoke(app, ["sessionize", src, "--store", str(tmp_path / "a"), "-q"])
    b = runner.invoke(
        app,
        ["sessionize", src, "--store", str(tmp_path / "b"), "-q", "--memory-limit", "1MB"],
    )
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert b.stdout.replace(str(tmp_path / "b"), "STORE") == a.stdout.replace(
        str(tmp_path / "a"), "STORE"
    )
    assert manifest(tmp_path / "b")["buckets"] > 1
    bad = runner.invoke(
        app, ["sessionize", src, "--store", str(tmp_path / "c"), "--memory-limit", "lots"]
    )
    assert bad.exit_code == 2
    assert "--memory-limit" in bad.output


@pytest.mark.parametrize("block", [200, 1_000, 50_000])
def test_json_lines_read_in_blocks_equal_a_whole_read(tmp_path: Path, block: int) -> None:
    """The bucketed path reads JSON lines a block at a time: same rows, numbers, rejects."""
    from jtrack.read import Source, _iter_json_lines, read_source

    corpus = tmp_path / "corpus"
    cases = make_corpus.build(corpus)
    names = sorted(
        {f for c in cases for f in c.files if f.endswith((".jsonl", ".gz", ".zst", ".ndjson"))}
    )
    names.append(str(SAMPLE / "events.jsonl"))
    assert len(names) > 40
    for name in names:
        path = corpus / name
        src = Source(str(path), path=path)
        try:
            whole, st = read_source(src)
        except JtrackError as exc:
            with pytest.raises(type(exc)):
                list(_iter_json_lines(src, 1_000_000, block))
            continue
        parts = list(_iter_json_lines(src, 1_000_000, block))
        blocks = pl.concat([f for f, _ in parts], how="diagonal_relaxed")
        assert_frame_equal(blocks.select(whole.columns), whole, check_dtypes=False)
        last = parts[-1][1]
        assert (last.rows_read, last.rows_rejected, last.shape) == (
            st.rows_read,
            st.rows_rejected,
            st.shape,
        ), name


def test_a_full_disk_while_staging_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jtrack.engine import partitioned
    from jtrack.errors import StoreError

    root = tmp_path / "store"
    src = SAMPLE / "events.parquet"
    run_sessionize([src], Store.open(root))
    before = stored(root)

    def full(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(partitioned._Appender, "append", full)
    with pytest.raises(StoreError, match="No space left on device") as err:
        run_sessionize([src], Store.open(root), mode="partitioned", buckets=4)
    assert "free some disk space" in str(err.value)
    after = stored(root)
    assert after.keys() == before.keys()
    assert not list(root.glob(".stage-*")) and not list(root.glob(".tmp-*"))
