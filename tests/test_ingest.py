"""Reading exports: shapes, formats, timestamps, rejects and accounting."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
from pathlib import Path

import polars as pl
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from jtrack.core.dedupe import deduplicate
from jtrack.core.sessionize import sessionize
from jtrack.errors import DataError, FileAccessError, RejectedRowError
from jtrack.read import REJECT_REASONS, read_events
from tests.helpers import T0, genesys_line


def _canon(path: Path | str) -> pl.DataFrame:
    return read_events([path]).canonical().sort("event_id", "created_date")


def test_examples_are_read_with_every_payload_kind(examples_dir: Path) -> None:
    r = read_events([examples_dir / "genesys-events.jsonl"])
    assert r.rows_read == 14 and r.rows_rejected == 0
    kinds = r.events.group_by("kind").len().sort("kind")
    assert dict(kinds.iter_rows()) == {
        "custom": 3,
        "outcome_achieved": 1,
        "page_view": 6,
        "search": 2,
        "segment_assigned": 1,
        "web_action": 1,
    }
    ada = r.events.filter(pl.col("event_name") == "form_submitted").row(0, named=True)
    traits = {t["name"]: t["value"] for t in ada["traits"]}
    assert traits["email"] == "ada.lovelace@example.org"
    assert ada["authenticated"] is True
    assert ada["attributes"] == [{"name": "formName", "data_type": "string", "value": "checkout"}]


def test_examples_sessionize_as_documented(examples_dir: Path) -> None:
    r = read_events([examples_dir / "genesys-events.jsonl"])
    d = deduplicate(r.canonical())
    assert d.duplicates == 1  # the redelivered event counts once
    s = sessionize(d.events).sessions
    per_visitor = s.group_by("customer_id").len().sort("customer_id")["len"].to_list()
    assert per_visitor == [2, 1]  # Ada's cookie: split; the 19:59.999 gap: not split


def test_rest_page_and_jsonl_give_the_same_events(examples_dir: Path, tmp_path: Path) -> None:
    page = _canon(examples_dir / "genesys-events-page.json")
    lines = _canon(examples_dir / "genesys-events.jsonl")
    subset = lines.filter(pl.col("event_id").is_in(page["event_id"].implode()))
    assert_frame_equal(page, subset.unique(maintain_order=True))


def test_flat_parquet_and_flat_jsonl_equal_the_genesys_shape(
    examples_dir: Path, tmp_path: Path
) -> None:
    genesys = _canon(examples_dir / "genesys-events.jsonl")
    genesys.write_parquet(tmp_path / "flat.parquet")
    genesys.write_ndjson(tmp_path / "flat.jsonl")
    assert_frame_equal(_canon(tmp_path / "flat.parquet"), genesys)
    assert_frame_equal(_canon(tmp_path / "flat.jsonl"), genesys)
    a = sessionize(deduplicate(genesys).events).sessions
    b = sessionize(deduplicate(_canon(tmp_path / "flat.parquet")).events).sessions
    assert_frame_equal(a, b)


def test_sample_data_shapes_are_identical() -> None:
    root = Path(__file__).resolve().parent.parent / "sample_data"
    genesys = _canon(root / "events.jsonl")
    flat = _canon(root / "events.parquet")
    assert genesys.height > 1000
    assert_frame_equal(genesys, flat)


def test_array_document_directory_and_glob(examples_dir: Path, tmp_path: Path) -> None:
    lines = (examples_dir / "genesys-events.jsonl").read_text().splitlines()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text("[" + ",".join(lines[:5]) + "]")
    (tmp_path / "sub" / "b.jsonl").write_text("\n".join(lines[5:]) + "\n")
    (tmp_path / "sub" / "notes.txt").write_text("not data")
    by_dir = read_events([tmp_path])
    by_glob = read_events([str(tmp_path / "**" / "*.json*")])
    assert by_dir.rows_read == by_glob.rows_read == 14
    assert [
        f.file.endswith(n) for f, n in zip(by_dir.files, ["a.json", "b.jsonl"], strict=True)
    ] == [True, True]


def test_compressed_input_is_detected_from_content(examples_dir: Path, tmp_path: Path) -> None:
    raw = (examples_dir / "genesys-events.jsonl").read_bytes()
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "e.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    (tmp_path / "noext").write_bytes(gzip.compress(raw))
    plain = _canon(examples_dir / "genesys-events.jsonl")
    for name in ("e.jsonl.gz", "e.jsonl.zst", "noext"):
        assert_frame_equal(_canon(tmp_path / name), plain)


def test_bzip2_and_xz_are_read_as_gzip_is(examples_dir: Path, tmp_path: Path) -> None:
    """bzip2 and xz, by name or content alone, several streams (xz's zero padding between
    them too), decompress to their lines (they were read as text: a pile of invalid_utf8
    rejects); a truncated one is the one error a truncated .gz is; neither is taken for
    plain JSON lines (a growing file read from where it was left)."""
    import bz2
    import lzma

    from jtrack.read import plain_json_lines

    raw = (examples_dir / "genesys-events.jsonl").read_bytes()
    half = raw.index(b"\n", len(raw) // 2) + 1
    (tmp_path / "e.jsonl.bz2").write_bytes(bz2.compress(raw))
    (tmp_path / "e.jsonl.xz").write_bytes(lzma.compress(raw))
    (tmp_path / "bz2-noext").write_bytes(bz2.compress(raw[:half]) + bz2.compress(raw[half:]))
    (tmp_path / "xz-noext").write_bytes(
        lzma.compress(raw[:half]) + b"\0" * 4 + lzma.compress(raw[half:])
    )
    plain = _canon(examples_dir / "genesys-events.jsonl")
    for name in ("e.jsonl.bz2", "e.jsonl.xz", "bz2-noext", "xz-noext"):
        assert_frame_equal(_canon(tmp_path / name), plain)
        assert not plain_json_lines(tmp_path / name, 1 << 20)
    r = read_events([tmp_path], on_error="skip")  # (a folder's walk takes them too)
    assert r.rows_rejected == 0 and {Path(f.file).name for f in r.files} >= {
        "e.jsonl.bz2",
        "e.jsonl.xz",
    }
    for name, data in (
        ("t.jsonl.bz2", bz2.compress(raw)[:-40]),
        ("t.jsonl.xz", lzma.compress(raw)[:-40]),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match="truncated or corrupt"):
            read_events([tmp_path / name])


def test_stdin_is_read_with_a_dash(examples_dir: Path) -> None:
    data = (examples_dir / "genesys-events.jsonl").read_bytes()
    r = read_events(["-"], stdin=io.BytesIO(data))
    assert r.rows_read == 14 and r.files[0].file == "<stdin>"


@pytest.mark.parametrize(
    "created",
    [
        "2026-10-03T09:00:00Z",
        "2026-10-03T09:00:00.000Z",
        "2026-10-03T11:00:00+02:00",
        "2026-10-03T09:00:00.000000Z",
        1791018000000,
        "1791018000000",
        # other ISO-8601 spellings (the CLI's own --until took `10:00+11:00`; exports were
        # rejected as bad_timestamp, "use ISO-8601")
        "2026-10-03T09:00Z",
        "2026-10-03T11:00+02:00",
        "2026-10-03T09:00:00,000Z",
        "2026-10-03t09:00:00z",
        "2026-10-03 09:00z",
    ],
)
def test_timestamps_in_every_accepted_form_are_utc_microseconds(created, tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text(genesys_line("e1", "c1", created) + "\n")
    ev = read_events([p]).events
    assert ev["created_date"].dtype == pl.Datetime("us", "UTC")
    assert ev["created_date"][0] == T0
    assert read_events([p]).files[0].no_zone == 0


def test_other_iso_spellings_are_read_in_parquet_text_too(tmp_path: Path) -> None:
    """A comma fraction, a lowercase t, no seconds: read from JSON lines and from a Parquet
    column of text alike, as the usual spelling is; a fraction of a minute (`10:00.5`) and
    a time without a zone (read as UTC, counted) as before."""
    times = [
        "2026-10-03T09:00Z",
        "2026-10-03T09:00:00,123Z",
        "2026-10-03t09:00:00z",
        "2026-10-03T09:00",
        "2026-10-03T09:00.5Z",
    ]
    rows = [
        {"event_id": f"e{i}", "customer_id": "c1", "created_date": t, "kind": "app"}
        for i, t in enumerate(times)
    ]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pl.DataFrame(rows).write_parquet(tmp_path / "e.parquet")
    for name in ("e.jsonl", "e.parquet"):
        r = read_events([tmp_path / name], on_error="skip")
        got = r.events.sort("event_id")["created_date"].dt.strftime("%H:%M:%S%.3f").to_list()
        assert got == ["09:00:00.000", "09:00:00.123", "09:00:00.000", "09:00:00.000"], name
        assert r.rejects["reason"].to_list() == ["bad_timestamp"]
        assert r.files[0].no_zone == 1


CASES = {
    "malformed_json": '{"id": "x", "customerId": ',
    "not_an_object": "[1, 2]",
    "missing_id": json.loads(genesys_line("", "c1", T0)),
    "missing_customer_id": json.loads(genesys_line("e1", "", T0)),
    "missing_created_date": {
        k: v for k, v in json.loads(genesys_line("e1", "c1", T0)).items() if k != "createdDate"
    },
    "bad_timestamp": json.loads(genesys_line("e1", "c1", "yesterday")),
    "implausible_timestamp": json.loads(genesys_line("e1", "c1", "0001-01-01T00:00:00Z")),
    "wrong_type": {**json.loads(genesys_line("e1", "c1", T0)), "id": {"nested": 1}},
    "unknown_event_type": {**json.loads(genesys_line("e1", "c1", T0)), "eventType": "Nope"},
    "missing_event_name": {
        **json.loads(genesys_line("e1", "c1", T0)),
        "webEvent": {"page": {"url": "u"}},
    },
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_every_rejection_reason_names_file_line_and_field(reason: str, tmp_path: Path) -> None:
    case = CASES[reason]
    bad = case if isinstance(case, str) else json.dumps(case)
    p = tmp_path / "e.jsonl"
    p.write_text(genesys_line("ok1", "c1", T0) + "\n\n" + bad + "\n")
    with pytest.raises(RejectedRowError) as exc:
        read_events([p])
    assert exc.value.reason == reason and exc.value.line == 3
    assert str(p) in str(exc.value) and "hint" in str(exc.value)
    r = read_events([p], on_error="skip")
    assert r.rows_read == 2 and r.events.height == 1 and r.rows_rejected == 1
    assert r.rejects.row(0, named=True)["reason"] == reason
    assert r.rejects["raw"][0]
    assert reason in REJECT_REASONS


def test_invalid_utf8_and_long_lines_are_rejected_alone(tmp_path: Path) -> None:
    good = genesys_line("ok1", "c1", T0).encode()
    p = tmp_path / "e.jsonl"
    p.write_bytes(good + b"\n" + b'{"id": "\xff\xfe"}\n' + b'{"x": "' + b"a" * 5000 + b'"}\n')
    r = read_events([p], on_error="skip", max_line_bytes=1000)
    assert r.events.height == 1
    assert r.rejects.sort("line")["reason"].to_list() == ["invalid_utf8", "line_too_long"]


def test_json_nested_too_deep_is_malformed_whatever_the_other_lines_are(tmp_path: Path) -> None:
    """A line nested 128 levels deep or more is rejected as malformed_json, whether every
    other line is clean (all lines decoded at once) or one is broken (line by line); a long
    list of objects, many brackets but shallow, is kept."""
    good = genesys_line("ok1", "c1", T0)
    wide = json.loads(genesys_line("wide", "c2", T0))
    wide["webEvent"]["extra"] = [{"n": i} for i in range(300)]  # 300 brackets, depth 3
    rows = [good, json.dumps(wide)]

    def nested(event_id: str, customer: str, lists: int) -> str:  # (as text: too deep for json)
        line = genesys_line(event_id, customer, T0)
        return line[:-1] + ', "extra": ' + "[" * lists + "]" * lists + "}"

    rows += [nested(f"deep{n}", "c3", n) for n in (127, 200, 1000)]  # 128 levels and more
    rows.append(nested("deep126", "c4", 126))  # 127 levels with the object: kept
    for broken in ("", '{"id": "trunc'):
        p = tmp_path / f"e{len(broken)}.jsonl"
        p.write_text("\n".join([*rows, broken]) + "\n")
        r = read_events([p], on_error="skip")
        assert sorted(r.events["event_id"].to_list()) == ["deep126", "ok1", "wide"]
        rejected = r.rejects.sort("line")
        assert rejected["line"].to_list()[:3] == [3, 4, 5]
        assert set(rejected["reason"].to_list()) == {"malformed_json"}


def test_empty_input_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    r = read_events([tmp_path / "empty.jsonl"])
    assert r.rows_read == 0 and r.events.height == 0


def test_missing_path_is_a_file_error(tmp_path: Path) -> None:
    """Exit 1, as a glob that matches nothing: a file that cannot be read."""
    with pytest.raises(FileAccessError, match="no such file"):
        read_events([tmp_path / "nope.jsonl"])


def test_truncated_gzip_is_a_clear_data_error(examples_dir: Path, tmp_path: Path) -> None:
    data = gzip.compress((examples_dir / "genesys-events.jsonl").read_bytes())
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_events([tmp_path / "t.jsonl.gz"])


def test_flat_parquet_missing_a_required_column_names_it(tmp_path: Path) -> None:
    pl.DataFrame({"event_id": ["a"], "customer": ["c"], "created_date": [T0]}).write_parquet(
        tmp_path / "f.parquet"
    )
    with pytest.raises(DataError, match="customer_id"):
        read_events([tmp_path / "f.parquet"])


# ---- sources: symlinked folders, loops, literal names, Hive partitions ---------------------


def _two_files(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "a.jsonl").write_text(genesys_line("a", "v1", T0) + "\n")
    (d / "b.jsonl").write_text(genesys_line("b", "v1", T0) + "\n")


def test_directory_mode_follows_symlinked_subfolders_like_a_glob(tmp_path: Path) -> None:
    from jtrack.read import expand_sources

    _two_files(tmp_path / "elsewhere")
    root = tmp_path / "exports"
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    by_dir = [s.name for s in expand_sources([root])]
    by_glob = [s.name for s in expand_sources([f"{root}/**/*.jsonl"])]
    assert by_dir == by_glob == [str(root / "link" / "a.jsonl"), str(root / "link" / "b.jsonl")]
    assert read_events([root]).events.height == 2


def test_a_file_reached_through_two_links_is_read_once(tmp_path: Path) -> None:
    from jtrack.read import expand_sources

    _two_files(tmp_path / "data")
    (tmp_path / "data" / "c.jsonl").symlink_to(tmp_path / "data" / "a.jsonl")
    (tmp_path / "mirror").symlink_to(tmp_path / "data")  # the same folder twice
    names = [s.name for s in expand_sources([tmp_path])]
    assert names == [str(tmp_path / "data" / "a.jsonl"), str(tmp_path / "data" / "b.jsonl")]


@pytest.mark.parametrize("pattern", [False, True])
def test_a_symlink_loop_is_reported_at_once_not_walked_for_minutes(
    tmp_path: Path, pattern: bool
) -> None:
    import time

    from typer.testing import CliRunner

    from jtrack.cli import app

    _two_files(tmp_path / "data" / "sub")
    for i in range(4):  # without loop detection: 4 links at every level, ~4**40 paths
        (tmp_path / "data" / "sub" / f"up{i}").symlink_to(tmp_path / "data")
    source = f"{tmp_path / 'data'}/**/*.jsonl" if pattern else str(tmp_path / "data")
    started = time.monotonic()
    res = CliRunner().invoke(app, ["sessionize", source, "--store", str(tmp_path / "s"), "-q"])
    assert time.monotonic() - started < 30
    assert res.exit_code == 2, res.stderr
    assert "symlink loop" in res.stderr and "up0" in res.stderr
    # the store is free again: the next run takes it at once
    ok = CliRunner().invoke(
        app, ["sessionize", str(tmp_path / "data" / "sub" / "a.jsonl"), "--store",
              str(tmp_path / "s"), "-q"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.stderr


def test_a_pipe_or_a_device_named_as_a_source_is_said_as_such(tmp_path: Path) -> None:
    """`sessionize <(zcat day.gz)` (a pipe) and `sessionize /dev/null` said "no such file or
    directory" of a path that is there; they are told what they are, and that standard
    input is read (exit 2: how jtrack was called)."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    fifo = tmp_path / "day.jsonl"
    os.mkfifo(fifo)
    store = ["--store", str(tmp_path / "s")]
    for cmd in (["sessionize", *store], ["usage"], ["report"]):
        res = CliRunner().invoke(app, [*cmd, str(fifo)])
        assert res.exit_code == 2, res.stderr
        assert "day.jsonl: a pipe (as `<(...)` and mkfifo make), not a file: " in res.stderr
        assert "hint: name - and pipe it in as standard input" in res.stderr
        res = CliRunner().invoke(app, [*cmd, os.devnull])
        assert res.exit_code == 2, res.stderr
        assert f"{os.devnull}: a device, not a file: " in res.stderr
    assert not (tmp_path / "s").exists()


def test_a_symlink_loop_or_a_dangling_link_named_alone_is_said_as_such(tmp_path: Path) -> None:
    """`sessionize h/loop1` (loop1 -> loop2 -> loop1) said "no such file or directory"
    (exit 1), where a loop inside a folder is "a symlink loop" (exit 2), as the README says;
    a link to nothing names where it leads."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "day.jsonl").symlink_to("gone.jsonl")
    store = ["--store", str(tmp_path / "s")]
    for cmd in (["sessionize", *store], ["usage"], ["report"]):
        res = CliRunner().invoke(app, [*cmd, str(tmp_path / "loop1")])
        assert res.exit_code == 2, res.stderr
        assert "loop1: a symlink loop: the link leads back to itself (hint: " in res.stderr
        res = CliRunner().invoke(app, [*cmd, str(tmp_path / "day.jsonl")])
        assert res.exit_code == 1, res.stderr
        assert "day.jsonl: a link to gone.jsonl, which leads to no file (hint: " in res.stderr
    assert not (tmp_path / "s").exists()


def test_a_path_that_exists_is_never_a_pattern(tmp_path: Path) -> None:
    from jtrack.read import expand_sources

    odd = tmp_path / "events[1].jsonl"
    odd.write_text(genesys_line("a", "v1", T0) + "\n")
    (tmp_path / "events1.jsonl").write_text(genesys_line("b", "v1", T0) + "\n")
    assert [s.name for s in expand_sources([odd])] == [str(odd)]
    assert read_events([odd]).events["event_id"].to_list() == ["a"]
    # as a pattern (no such file), `[1]` is a character class, as in a shell
    pattern = [s.name for s in expand_sources([str(tmp_path / "events[0-9].jsonl")])]
    assert pattern == [str(tmp_path / "events1.jsonl")]


def test_hive_partition_values_are_url_decoded_and_the_file_wins(tmp_path: Path) -> None:
    part = tmp_path / "customer_id=a%2Fb" / "event_name=__HIVE_DEFAULT_PARTITION__"
    part.mkdir(parents=True)
    pl.DataFrame(
        {
            "event_id": ["e1"],
            "created_date": ["2026-10-03T09:00:00Z"],
            "event_type": ["WebEvent"],
            "event_name": ["page_viewed"],  # in the file: it wins over the folder
        }
    ).write_parquet(part / "part-0.parquet")
    got = read_events([tmp_path]).events.row(0, named=True)
    assert (got["customer_id"], got["event_name"]) == ("a/b", "page_viewed")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 300), unique=True, max_size=60),
    st.sets(st.integers(0, 300), max_size=40),
    st.booleans(),
)
def test_staged_rows_are_found_by_position(
    positions: list[int], wanted: set[int], in_order: bool
) -> None:
    """The copies of events that may be redelivered are fetched from staged rows by their
    positions: found by binary search when a batch is in input order, else by lookup."""
    import pyarrow as pa

    from jtrack.engine.unit import rows_of

    pos = sorted(positions) if in_order else positions
    got = rows_of(
        pl.Series(pa.array(pos, type=pa.uint64())), pl.Series(sorted(wanted), dtype=pl.UInt64)
    )
    assert got.to_list() == [i for i, p in enumerate(pos) if p in wanted]


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0, 200_000), min_size=1, max_size=60))
def test_stored_rows_are_read_in_spans(rows: set[int]) -> None:
    """Rows read back from a stored file are read in slices: each wanted row in one, the
    slices in order, starting and ending on wanted rows, and apart by more than the gap
    (worked out in columns, not a loop over the rows)."""
    from jtrack.store.snapshot import _SLICE_GAP, _spans

    wanted = sorted(rows)
    spans = _spans(pl.Series(wanted, dtype=pl.UInt32))
    covered = [r for start, length in spans for r in wanted if start <= r < start + (length or 0)]
    assert covered == wanted
    for start, length in spans:
        assert length is not None
        assert start in rows and start + length - 1 in rows
    for (a, la), (b, _) in itertools.pairwise(spans):
        assert la is not None and b - (a + la - 1) > _SLICE_GAP
    gaps = itertools.pairwise(wanted)
    assert len(spans) == 1 + sum(q - r > _SLICE_GAP for r, q in gaps)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 15), max_size=40), min_size=1, max_size=8),
    st.integers(1, 4),
    st.integers(1, 6),
    st.sampled_from([0, 2_000, 1 << 30]),
)
def test_staged_rows_come_back_whole_and_in_order(
    chunks: list[list[int]], units: int, stage_rows: int, budget: int
) -> None:
    """Rows staged by work unit come back per unit in the order they were handed over, every
    one of them, whether a unit's rows are written as they come, held until there are
    enough of them, or written early because the rows held reach the budget."""
    import tempfile
    from unittest import mock

    from jtrack.engine import ingest
    from jtrack.engine.ingest import UnitRows, unit_ranges

    ranges = unit_ranges(16, units)
    frames, pos = [], 0
    for buckets in chunks:
        n = len(buckets)
        frames.append(
            pl.DataFrame(
                {
                    "event_id": pl.Series([f"e{pos + i}" for i in range(n)], dtype=pl.String),
                    "_pos": pl.Series(range(pos, pos + n), dtype=pl.UInt64),
                    "bucket": pl.Series(buckets, dtype=pl.UInt16),
                }
            )
        )
        pos += n
    every = pl.concat(frames)
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(ingest, "STAGE_ROWS", stage_rows):
        staged = UnitRows(ranges, Path(tmp) / "stage", buffer_bytes=budget)
        for f in frames:
            staged.add(f)
        staged.close()
        for u, (lo, hi) in enumerate(ranges):
            want = every.filter(pl.col("bucket").is_between(lo, hi))
            got = staged.rows(u)
            assert got.select(want.columns).to_dicts() == want.to_dicts()
        wanted = pl.Series(range(0, pos, 3), dtype=pl.UInt64)
        found = staged.rows_at(wanted, ["event_id"]).sort("_pos")
        assert found.get_column("event_id").to_list() == [f"e{p}" for p in range(0, pos, 3)]
        staged.remove()


def test_a_full_disk_while_staging_is_the_store_error(tmp_path: Path) -> None:
    """Polars reports a full disk as a ComputeError: a staging write that fails is the
    one-line store error (the previous store intact), raised when the writes are waited for,
    not an unexpected error."""
    from unittest import mock

    from jtrack.engine import ingest
    from jtrack.engine.ingest import UnitRows, unit_ranges
    from jtrack.errors import StoreError

    rows = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(8)],
            "_pos": pl.Series(range(8), dtype=pl.UInt64),
            "bucket": pl.Series([0, 9] * 4, dtype=pl.UInt16),
        }
    )

    def full(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        raise pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: No space left on "
            "device (os error 28)"
        )

    staged = UnitRows(unit_ranges(16, 2), tmp_path / "stage")
    with (
        mock.patch.object(ingest, "STAGE_ROWS", 1),
        mock.patch.object(pl.DataFrame, "write_parquet", full),
        pytest.raises(StoreError) as caught,
    ):
        staged.add(rows)
        staged.close()
    message = str(caught.value)
    assert "could not write the store" in message and "No space left on device" in message
    assert "previous store is intact" in (caught.value.hint or "")


def test_a_segment_is_copied_whole_in_pieces_and_a_failed_run_stops_the_copy(
    tmp_path: Path,
) -> None:
    """A canonical Parquet input is copied into its segment a piece at a time (in a thread,
    beside its reading): byte for byte, and no further once the run has failed."""
    import os
    import threading
    from unittest import mock

    from jtrack.store import writer

    source = tmp_path / "in.parquet"
    source.write_bytes(os.urandom(10_000))
    whole, cut = tmp_path / "whole.parquet", tmp_path / "cut.parquet"
    with mock.patch.object(writer, "COPY_PIECE", 1_000):
        writer.copy_segment(source, whole, threading.Event())
        stop = threading.Event()
        real = os.sendfile

        def one_piece(*args: int) -> int:
            sent = real(*args)
            stop.set()  # the run fails while the first piece is copied
            return sent

        with mock.patch.object(os, "sendfile", one_piece):
            writer.copy_segment(source, cut, stop)
    assert whole.read_bytes() == source.read_bytes()
    assert cut.read_bytes() == source.read_bytes()[:1_000]


# ---------------------------------------------------------------------------- not events


def test_a_file_whose_name_says_it_is_not_events_is_refused_in_one_line(tmp_path: Path) -> None:
    """A CSV (or TOML, Markdown, zip...) named as a source was read as JSON lines: one
    rejected row per line, and a hint to fix the row or skip it, which on a new store gave
    an empty store and exit 0. Now one error naming the file's kind, by name or by glob,
    compressed or not; a folder or a glob leaves them out, and says what it holds when that
    is all. JSON lines under a .txt name are still read (a name says nothing there)."""
    from typer.testing import CliRunner

    from jtrack.cli import app
    from jtrack.read import expand_sources

    csv = tmp_path / "contacts.csv"
    csv.write_text("contact_id,name\nC1,Ada\n")
    (tmp_path / "notes.md.gz").write_bytes(gzip.compress(b"# notes\n"))
    for named, kind in ((str(csv), "CSV"), (str(tmp_path / "notes.md.gz"), "Markdown")):
        with pytest.raises(FileAccessError, match=f"a {kind} file, not events"):
            expand_sources([named])
    # a glob, as a folder, leaves them out beside event files (a README, a manifest.csv);
    # matching nothing else, it says what it matched
    (tmp_path / "day1.jsonl").write_text(genesys_line("g1", "v1", T0) + "\n")
    assert [s.name for s in expand_sources([str(tmp_path / "*")])] == [str(tmp_path / "day1.jsonl")]
    with pytest.raises(FileAccessError, match="matches only CSV files, which are not read"):
        expand_sources([str(tmp_path / "*.csv")])
    folder = tmp_path / "only"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    with pytest.raises(FileAccessError, match=r"it holds CSV files, which are not read"):
        expand_sources([str(folder)])
    res = CliRunner().invoke(app, ["sessionize", str(csv), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "a CSV file, not events" in res.stderr
    assert not (tmp_path / "s").exists()
    txt = tmp_path / "events.txt"
    txt.write_text(genesys_line("e1", "v1", T0) + "\n")
    assert read_events(expand_sources([str(txt)])).events.height == 1


def test_reading_commands_given_files_without_one_event_fail_instead_of_counting_zero(
    tmp_path: Path,
) -> None:
    """`usage` and `report` over files none of whose rows is an event answered with zeros
    and exit 0 (a cron job wrote a usage file of zeros). Now exit 1, one line, even with
    -q; a file with one good row among bad ones is its first rejected row's error, or with
    --on-error skip counted as before."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    bad = tmp_path / "other.jsonl"
    bad.write_text('{"name": "not an event"}\n{"name": "nor this"}\n')
    runner = CliRunner()
    for args in (["usage", str(bad), "--month", "2026-10", "-q"], ["report", str(bad)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert res.stdout == ""
        assert "every one of the 2 rows read was rejected" in res.stderr
        # the first of them, as a rejected row is said everywhere (file, line, field, reason)
        assert f"the first: {bad}:1: field " in res.stderr and "[missing_" in res.stderr
        assert res.stderr.count("\n") == 1 and "--rejects" not in res.stderr
    good = tmp_path / "mixed.jsonl"
    good.write_text(bad.read_text() + genesys_line("e1", "v1", T0) + "\n")
    res = runner.invoke(app, ["usage", str(good), "--month", "2026-10", "-f", "json", "-q"])
    assert res.exit_code == 1 and "other.jsonl" not in res.stderr and "mixed.jsonl:1:" in res.stderr
    skip = ["--on-error", "skip"]
    res = runner.invoke(app, ["usage", str(good), "--month", "2026-10", "-f", "json", "-q", *skip])
    assert res.exit_code == 0 and json.loads(res.stdout)["reconciliation"]["rejected"] == 2
