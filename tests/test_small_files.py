"""Small JSON lines files are decoded together (jtrack.read.SmallFiles), with the result of
reading each alone: the same rows, rejects, accounting, errors in input order, and the same
store. A folder of 4,000 one-line exports took 110 s for `usage` and 190 s for `sessionize`
when each file paid a decoding's fixed cost."""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import jtrack.read.jsonl as jsonl
from jtrack.engine import run_sessionize
from jtrack.errors import DataError, RejectedRowError
from jtrack.read import ReadResult, read_events
from jtrack.store import Store
from tests.helpers import genesys_line

sys.path.insert(0, str(Path(__file__).parent))

import make_corpus


def _alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file read on its own, as before small files were decoded together."""
    monkeypatch.setattr(jsonl, "SMALL_FILE_BYTES", -1)


def _flat_line(i: int) -> str:
    return json.dumps(
        {
            "event_id": f"f-{i}",
            "customer_id": f"v{i % 3}",
            "created_date": f"2026-10-03T09:{i % 60:02d}:00Z",
            "kind": "page_view",
            "event_name": "page_viewed",
            "page_url": f"https://shop.example/p{i}",
        }
    )


def _folder(tmp_path: Path, n: int = 40) -> Path:
    """n small Genesys exports, then n flat ones, an empty one, one of blank lines and
    n / 4 REST pages."""
    d = tmp_path / "exports"
    d.mkdir()
    for i in range(n):
        line = genesys_line(f"g-{i}", f"v{i % 3}", f"2026-10-03T09:{i % 60:02d}:00.000Z")
        (d / f"a{i:03d}.jsonl").write_text(line + "\n")
    for i in range(n):
        (d / f"b{i:03d}.jsonl").write_text(_flat_line(i) + "\n")
    (d / "c-empty.jsonl").write_text("")
    (d / "c-blank.jsonl").write_text("\n  \n")
    for i in range(n // 4):  # REST pages of two events each
        page = [json.loads(genesys_line(f"d-{i}-{k}", "v9", f"2026-10-03T10:{k:02d}:00.000Z"))
                for k in range(2)]  # fmt: skip
        (d / f"d{i:03d}.json").write_text(json.dumps({"entities": page, "pageSize": 2}))
    return d


def _same(a: ReadResult, b: ReadResult) -> None:
    assert_frame_equal(a.events, b.events)
    assert_frame_equal(a.rejects, b.rejects)
    assert [f.accounting() for f in a.files] == [f.accounting() for f in b.files]
    assert a.warnings == b.warnings


def test_small_files_are_decoded_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _folder(tmp_path)
    calls: list[int] = []
    decode = jsonl._decode_lines

    def counted(name: str, lines: pl.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append(lines.height)
        return decode(name, lines, *args, **kwargs)

    monkeypatch.setattr(jsonl, "_decode_lines", counted)
    together = read_events([d])
    assert together.rows_read == together.events.height == 100
    # one decoding for the Genesys files, one for the flat ones (the empty files join one),
    # one for the pages
    assert calls == [40, 40, 20]
    calls.clear()
    _alone(monkeypatch)
    alone = read_events([d])
    assert len(calls) == 92
    _same(together, alone)
    shapes = {f.file.rsplit("/", 1)[-1]: f.shape for f in together.files}
    assert shapes["a000.jsonl"] == shapes["c-empty.jsonl"] == "genesys-jsonl"
    assert shapes["b000.jsonl"] == "flat-jsonl"
    assert shapes["d000.json"] == "genesys-json-document"


def _corpus_groups(out: Path) -> dict[int | None, list[Path]]:
    """The corpus's JSON files of cases that read without a file-level error, by the
    --max-line-bytes their case reads them with."""
    groups: dict[int | None, list[Path]] = defaultdict(list)
    for case in make_corpus.build(out):
        if case.expected.error:
            continue
        for f in case.files:
            if not f.endswith((".parquet", ".pq")):
                groups[case.max_line_bytes].append(out / f)
    return groups


def test_the_hostile_corpus_reads_the_same_together_and_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _corpus_groups(tmp_path)
    assert sum(len(g) for g in groups.values()) > 60
    for limit, files in groups.items():
        kwargs = {"max_line_bytes": limit} if limit else {}
        together = read_events(files, on_error="skip", **kwargs)
        with monkeypatch.context() as m:
            _alone(m)
            alone = read_events(files, on_error="skip", **kwargs)
        _same(together, alone)
        assert together.rows_rejected > 0


def test_errors_still_come_in_input_order(tmp_path: Path) -> None:
    T = "2026-10-03T09:00:00.000Z"
    good = tmp_path / "a-good.jsonl"
    good.write_text(genesys_line("e1", "v1", T) + "\n")
    bad_row = tmp_path / "b-bad-row.jsonl"
    bad_row.write_text(genesys_line("e2", "v1", T) + "\n{not json\n")
    truncated = tmp_path / "c-truncated.jsonl.gz"
    truncated.write_bytes(gzip.compress((genesys_line("e3", "v1", T) + "\n").encode())[:-12])
    # sessionize stops at the rejected row of the second file, before the third's error...
    with pytest.raises(RejectedRowError, match=r"b-bad-row\.jsonl:2"):
        run_sessionize([good, bad_row, truncated], Store.open(tmp_path / "s1"))
    # ...which is raised when it is that file's turn
    with pytest.raises(DataError, match="c-truncated"):
        run_sessionize([good, truncated, bad_row], Store.open(tmp_path / "s2"))
    # (read_events reads every file before it looks at rows)
    with pytest.raises(DataError, match="c-truncated"):
        read_events([good, bad_row, truncated])
    r = read_events([good, bad_row], on_error="skip")
    assert (r.rows_read, r.rows_rejected) == (3, 1)


def test_sessionize_writes_the_same_store_together_and_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _folder(tmp_path, n=12)
    (d / "d-mixed.jsonl").write_text(
        genesys_line("x1", "v1", "2026-10-03T10:05:00.000Z") + "\nnot json\n\n"
    )
    runs = {}
    for name in ("together", "alone"):
        with monkeypatch.context() as m:
            if name == "alone":
                _alone(m)
            store = Store.open(tmp_path / name)
            run_sessionize([d], store, on_error="skip")
            runs[name] = store
    one, two = runs["together"], runs["alone"]
    for sub in ("segments", "index", "sessions"):
        a = sorted((one.root / "versions" / "v000001" / sub).iterdir())
        b = sorted((two.root / "versions" / "v000001" / sub).iterdir())
        assert [p.name for p in a] == [p.name for p in b]
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b], sub
    m1, m2 = one.read_manifest(), two.read_manifest()
    assert m1.inputs == m2.inputs
    assert m1.segments == m2.segments
    assert len(m1.segments) == 12 * 2 + 3 + 3
