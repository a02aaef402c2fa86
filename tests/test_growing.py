"""Files that grow: a JSON lines export appended to is read from where the last run left it.

Only the new lines are read (numbered as lines of the whole file), a rotation (rename and a
new file) is recognised by the file's inode, a file whose earlier bytes changed is read again
whole (its events deduplicated), and with `follow` (jtrack watch) a line still being written
is left for the next run. Whatever the steps, the store equals one run over the final files.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from jtrack.engine import StoredRun, run_sessionize
from jtrack.errors import DataError
from jtrack.store import Store
from tests.helpers import flat_event, flat_frame, genesys_line

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


def lines(start: int, n: int, visitors: int = 3) -> str:
    return "".join(
        genesys_line(f"e{i:04d}", f"v{i % visitors}", T0 + timedelta(minutes=7 * i)) + "\n"
        for i in range(start, start + n)
    )


def read_by(run: StoredRun) -> int:
    """Rows the run read (the summary's other counts are the store's)."""
    assert run.summary.run is not None
    return int(run.summary.run["rows_read"])


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def sessions(store: Store) -> pl.DataFrame:
    store.refresh()
    with store.snapshot() as snap:
        return snap.scan_sessions(bucket=True).collect().sort("id")


def rejects(store: Store) -> pl.DataFrame:
    store.refresh()
    with store.snapshot() as snap:
        r = snap.rejects()
    return r.select("file", "line", "reason").sort("file", "line")


def assert_same_result(a: Store, b: Store) -> None:
    """Same sessions, same rejects, same counts (rows read, events, duplicates, rejects...)."""
    assert_frame_equal(sessions(a), sessions(b), check_exact=True)
    assert_frame_equal(rejects(a), rejects(b))
    assert a.read_manifest().counts == b.read_manifest().counts


def rebuilt(tmp: Path, files: list[Path], **kw: Any) -> Store:
    once = Store.open(tmp / f"once-{len(list(tmp.glob('once-*')))}")
    run_sessionize(files, once, **kw)
    return once


# ---------------------------------------------------------------------------- growing


def test_a_grown_file_is_read_from_where_it_was_left(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_text(lines(0, 20))
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    append(f, lines(20, 5))
    run = run_sessionize([f], store)
    assert read_by(run) == 5  # only the new lines
    assert run.summary.duplicates == 0
    (taken,) = store.read_manifest().inputs  # one entry per file, extended
    assert (taken.start, taken.offset, taken.rows_read, taken.lines) == (
        0,
        f.stat().st_size,
        25,
        25,
    )
    assert len(taken.segments) == 2
    assert_same_result(store, rebuilt(tmp_path, [f]))
    again = run_sessionize([f], store)  # nothing new: nothing read, nothing written
    assert read_by(again) == 0
    assert again.summary.run is not None and again.summary.run["mode"] == "unchanged"


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_the_lines_a_file_holds_are_counted_as_it_is_read(
    tmp_path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store records how many lines it took of a JSON lines file (a later run numbers
    the new lines from there); the reader counts them as it reads, in blocks of any size,
    through blank, CRLF and overlong lines and a last line without a newline."""
    import jtrack.read as read

    monkeypatch.setattr(read, "MIN_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(read, "JSON_LINE_BYTES", 0)  # blocks of block_bytes
    f = tmp_path / "export.jsonl"
    long = genesys_line("long", "v9", datetime(2026, 3, 1, tzinfo=UTC)).replace(
        '"eventName"', '"pad": "' + "x" * 500 + '", "eventName"'
    )
    body = lines(0, 3) + "\n" + lines(3, 2).replace("\n", "\r\n") + long + "\n" + lines(5, 2)
    f.write_bytes(body.rstrip("\n").encode())
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, on_error="skip", max_line_bytes=400)
    (taken,) = store.read_manifest().inputs
    assert taken.lines == body.rstrip("\n").count("\n")
    append(f, "\n" + lines(7, 2) + "\nnot json\n")
    run_sessionize([f], store, on_error="skip", max_line_bytes=400)
    (taken,) = store.read_manifest().inputs
    assert taken.lines == f.read_bytes().count(b"\n")
    assert rejects(store).get_column("line").to_list()[-1] == taken.lines


def test_a_line_a_run_met_unfinished_is_read_again_whole_and_its_reject_goes(
    tmp_path: Path,
) -> None:
    """A nightly run (no follow) over an export still being written rejects its half
    line; the next night reads from that line's start, not the whole file again: the
    reject goes, nothing is counted twice, and the store equals one run over the file."""
    f = tmp_path / "export.jsonl"
    whole = lines(0, 6)
    cut = len(lines(0, 4)) + 30  # mid-line 5
    f.write_text(whole[:cut])
    store = Store.open(tmp_path / "store")
    first = run_sessionize([f], store, on_error="skip")
    assert first.summary.rejected == 1 and rejects(store).get_column("line").to_list() == [5]
    (taken,) = store.read_manifest().inputs
    assert taken.tail == len(lines(0, 4))
    f.write_text(whole + '{"id": "half')  # line 5 finished, 6 whole, 7 unfinished
    run = run_sessionize([f], store, on_error="skip")
    assert read_by(run) == 3 and run.summary.duplicates == 0  # lines 5-7 only
    assert rejects(store).get_column("line").to_list() == [7]
    (taken,) = store.read_manifest().inputs  # one entry, its accounting the whole file's
    assert (taken.rows_read, taken.rows_rejected, taken.tail) == (7, 1, len(whole))
    assert_same_result(store, rebuilt(tmp_path, [f], on_error="skip"))
    # a last line that stays broken is not read again: the file did not change
    assert run_sessionize([f], store, on_error="skip").summary.run["mode"] == "unchanged"  # type: ignore[index]
    # a whole last line without a newline is an event: one appended after it is new
    g = tmp_path / "closed.jsonl"
    g.write_text(lines(10, 2).rstrip("\n"))
    run_sessionize([g], store, on_error="skip")
    assert store.read_manifest().inputs[-1].tail is None
    append(g, "\n" + lines(12, 1))
    assert read_by(run_sessionize([g], store, on_error="skip")) == 1
    assert_same_result(store, rebuilt(tmp_path, [f, g], on_error="skip"))


def test_an_unfinished_line_of_a_rotated_file_never_takes_another_files_reject(
    tmp_path: Path,
) -> None:
    """Rejects are known by file name and line: after a rotation the new file at the path
    has the old one's name, and its own bad line at the same number must stay. (The
    rotated file is then read again whole, as before tails were kept: its old reject stays
    beside the event its finished line gave, counted.)"""
    f = tmp_path / "app.jsonl"
    f.write_text(lines(0, 4) + lines(4, 1)[:30])  # line 5 half-written
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, on_error="skip")
    rotated = tmp_path / "app.jsonl.1"
    f.rename(rotated)
    f.write_text(lines(10, 4) + "not json\n")  # the new file's line 5 is bad
    run_sessionize([f], store, on_error="skip")
    append(rotated, lines(4, 1)[30:])  # the old writer finishes its line
    run_sessionize([rotated, f], store, on_error="skip")
    assert rejects(store).rows() == [(str(f), 5, "malformed_json")] * 2
    counts = store.read_manifest().counts
    assert counts["rejected"] == 2 and counts["events_kept"] == 9  # e0004 stored once
    assert counts["rows_read"] == counts["events_kept"] + counts["duplicates"] + 2


def test_a_line_a_watch_left_waiting_is_read_by_a_run_that_does_not_follow(
    tmp_path: Path,
) -> None:
    f = tmp_path / "live.jsonl"
    f.write_text(lines(0, 3) + '{"id": "half')
    store = Store.open(tmp_path / "store")
    assert read_by(run_sessionize([f], store, follow=True, on_error="skip")) == 3
    assert read_by(run_sessionize([f], store, follow=True, on_error="skip")) == 0  # waits
    run = run_sessionize([f], store, on_error="skip")  # the nightly cron: it is finished
    assert read_by(run) == 1 and rejects(store).get_column("line").to_list() == [4]
    assert_same_result(store, rebuilt(tmp_path, [f], on_error="skip"))
    assert read_by(run_sessionize([f], store, on_error="skip")) == 0


def test_rejected_lines_of_a_grown_file_keep_their_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_text(lines(0, 4) + "\n" + "not json\n")  # a blank line 5, a bad line 6
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, on_error="skip")
    append(f, lines(4, 2) + "{broken\n" + "\n" + lines(6, 1))  # 7, 8 ok; 9 bad; 10 blank; 11
    run = run_sessionize([f], store, on_error="skip")
    assert run.read.rejects.get_column("line").to_list() == [9]
    assert rejects(store).get_column("line").to_list() == [6, 9]
    assert_same_result(store, rebuilt(tmp_path, [f], on_error="skip"))


def test_a_grown_file_with_fail_names_the_line_in_the_whole_file(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_text(lines(0, 3))
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    append(f, lines(3, 1) + "nope\n")
    with pytest.raises(Exception, match=r"export.jsonl:5: "):
        run_sessionize([f], store)


def test_a_file_whose_earlier_bytes_changed_is_read_again_whole(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_text(lines(0, 10))
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    f.write_text(lines(0, 12).replace("shop.example/e0003", "shop.example/X0003"))  # rewritten
    run = run_sessionize([f], store)
    assert read_by(run) == 12  # all of it: the bytes taken in changed
    assert run.summary.events_kept == 12  # the ten known ones deduplicated, nothing lost
    assert len(store.read_manifest().inputs) == 2  # taken in twice, whole


def test_a_rotated_file_is_recognised_by_its_inode(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    live = exports / "app.jsonl"
    live.write_text(lines(0, 10))
    store = Store.open(tmp_path / "store")
    run_sessionize([exports], store)
    append(live, lines(10, 3))  # written after the run, before the rotation
    live.rename(exports / "app.jsonl.1.jsonl")
    live.write_text(lines(13, 4))  # a new file under the old name
    run = run_sessionize([exports], store)
    assert read_by(run) == 3 + 4  # the rotated file's new lines and the new file
    assert run.summary.duplicates == 0
    assert store.read_manifest().counts["events_kept"] == 17


def test_a_last_line_without_a_newline_then_more_lines(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_text(lines(0, 3).rstrip("\n"))  # a complete last line without its newline
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    append(f, "\n" + lines(3, 2))
    run = run_sessionize([f], store)
    assert read_by(run) == 2 and run.summary.duplicates == 0
    assert_same_result(store, rebuilt(tmp_path, [f]))


def test_compressed_and_parquet_files_that_change_are_read_again(tmp_path: Path) -> None:
    f = tmp_path / "day.parquet"
    flat_frame([flat_event("a", "v", T0)]).write_parquet(f)
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store)
    flat_frame([flat_event("a", "v", T0), flat_event("b", "v", T0)]).write_parquet(f)
    run = run_sessionize([f], store)
    assert read_by(run) == 2 and run.summary.duplicates == 1


# ---------------------------------------------------------------------------- follow


def test_follow_leaves_a_line_being_written_for_the_next_run(tmp_path: Path) -> None:
    f = tmp_path / "live.jsonl"
    whole = lines(0, 6)
    cut = len(lines(0, 4)) + 25  # in the middle of the 5th line
    f.write_text(whole[:cut])
    store = Store.open(tmp_path / "store")
    run = run_sessionize([f], store, follow=True)
    assert read_by(run) == 4 and run.summary.rejected == 0
    again = run_sessionize([f], store, follow=True)  # unchanged: the half line still waits
    assert read_by(again) == 0
    append(f, whole[cut:])
    run = run_sessionize([f], store, follow=True)
    assert read_by(run) == 2
    assert_same_result(store, rebuilt(tmp_path, [f]))


def test_follow_takes_a_whole_last_line_without_a_newline(tmp_path: Path) -> None:
    f = tmp_path / "live.jsonl"
    f.write_text(lines(0, 3).rstrip("\n"))
    store = Store.open(tmp_path / "store")
    assert read_by(run_sessionize([f], store, follow=True)) == 3


def test_follow_waits_for_a_file_of_one_unfinished_line(tmp_path: Path) -> None:
    f = tmp_path / "live.jsonl"
    f.write_text(lines(0, 1)[:30])
    store = Store.open(tmp_path / "store")
    other = tmp_path / "other.jsonl"
    other.write_text(lines(1, 1))
    run = run_sessionize([f, other], store, follow=True)
    assert read_by(run) == 1
    assert any("live.jsonl: still being written" in n for n in run.notes)


def test_follow_waits_for_a_parquet_file_without_its_footer(tmp_path: Path) -> None:
    good = tmp_path / "a.parquet"
    flat_frame([flat_event("a", "v", T0)]).write_parquet(good)
    partial = tmp_path / "b.parquet"
    partial.write_bytes(good.read_bytes()[:-20])  # still being written
    store = Store.open(tmp_path / "store")
    run = run_sessionize([good, partial], store, follow=True)
    assert read_by(run) == 1
    assert any("b.parquet: still being written" in n for n in run.notes)
    flat_frame([flat_event("b", "v", T0)]).write_parquet(partial)  # finished
    assert read_by(run_sessionize([good, partial], store, follow=True)) == 1


# ---------------------------------------------------------------------------- property


@st.composite
def growth(draw: st.DrawFn) -> tuple[bytes, list[int], bool]:
    """A JSON lines file (some bad and blank lines, CRLF now and then) and the byte sizes it
    had at each run (anywhere, mid-line too), and whether the runs follow the file."""
    n = draw(st.integers(1, 25))
    parts = []
    for i in range(n):
        kind = draw(st.sampled_from(["ok", "ok", "ok", "bad", "blank", "dup"]))
        if kind == "bad":
            parts.append(b'{"id": "broken' + str(i).encode() + b"\n")
        elif kind == "blank":
            parts.append(b"\n")
        else:
            j = i if kind == "ok" else max(0, i - 1)
            line = genesys_line(
                f"e{j}", f"v{j % 4}", T0 + timedelta(minutes=draw(st.integers(0, 300)))
            )
            parts.append(line.encode() + draw(st.sampled_from([b"\n", b"\r\n"])))
    data = b"".join(parts)
    cuts = sorted(set(draw(st.lists(st.integers(1, len(data)), max_size=5))))
    return data, [*cuts, len(data)], draw(st.booleans())


@settings(
    max_examples=int(os.environ.get("JTRACK_GROWTH_EXAMPLES", 20)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(growth())
def test_runs_over_a_growing_file_equal_one_run_over_the_whole(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[bytes, list[int], bool]
) -> None:
    data, sizes, follow = drawn
    d = tmp_path_factory.mktemp("grow")
    f = d / "live.jsonl"
    f.write_bytes(b"")
    store = Store.open(d / "store")
    prev = 0
    for size in sizes:
        append(f, data[prev:size])
        prev = size
        # without follow a run takes a half-written line as it is: rejected, then read
        # again whole once the file grows from it, its reject gone (a file of one
        # unfinished line is not told from a broken JSON document: refused)
        whole_lines = data[:size].split(b"\n")[:-1]
        if not follow and size < len(data) and not any(x.strip() for x in whole_lines):
            continue
        run_sessionize([f], store, on_error="skip", follow=follow)
    once = Store.open(d / "once")
    run_sessionize([f], once, on_error="skip")
    assert_same_result(store, once)


def test_follow_waits_for_a_json_document_until_it_is_closed(tmp_path: Path) -> None:
    f = tmp_path / "page.json"
    events = [json.loads(line) for line in lines(0, 3).splitlines()]
    whole = json.dumps({"entities": events}, indent=1)
    f.write_text(whole[: len(whole) // 2])
    store = Store.open(tmp_path / "store")
    run = run_sessionize([f], store, follow=True)
    assert read_by(run) == 0 and any("still being written" in n for n in run.notes)
    f.write_text(whole + "\n")
    assert read_by(run_sessionize([f], store, follow=True)) == 3


@pytest.mark.parametrize("follow", [True, False])
def test_a_broken_line_alone_at_the_end_of_a_grown_file_is_rejected_not_refused(
    tmp_path: Path, follow: bool
) -> None:
    """A run whose every row is rejected is refused (a wrong input, most likely), but not
    when the rows are the new lines of a file taken in before: `jtrack watch` would retry
    the same broken line for ever."""
    f = tmp_path / "live.jsonl"
    f.write_text(lines(0, 3))
    store = Store.open(tmp_path / "store")
    run_sessionize([f], store, follow=follow, on_error="skip")
    append(f, '{"id": "broken\n')
    run = run_sessionize([f], store, follow=follow, on_error="skip")
    assert run.summary.rejected == 1 and run.summary.events_kept == 3
    assert run.read.rejects.get_column("line").to_list() == [4]
    # a new file of nothing but broken lines is still refused by sessionize; a run that
    # follows files (jtrack watch) keeps them as rejects and goes on (refused, the watch
    # stopped, and again at every start while the file was there)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x\n')
    if not follow:
        with pytest.raises(DataError, match="the one row read was rejected"):
            run_sessionize([f, bad], store, follow=follow, on_error="skip")
        return
    run = run_sessionize([f, bad], store, follow=follow, on_error="skip")
    assert run.summary.rejected == 2 and run.summary.events_kept == 3


def test_a_nightly_run_leaves_a_parquet_file_being_written_for_the_next_night(
    tmp_path: Path,
) -> None:
    """A Parquet file begun (`PAR1`) without its footer, changed in the last seconds: an
    exporter writing it beside the nightly run, which failed the whole night on it (exit
    1, no file taken in). The run takes the others, says so in a warning (which -q says),
    and the next run takes the finished file; one left alone that long is an error."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    t0 = datetime(2026, 10, 3, 10, 0, tzinfo=UTC)
    day1 = tmp_path / "day1.parquet"
    flat_frame([flat_event("a1", "v1", t0)]).write_parquet(day1)
    full = flat_frame([flat_event(f"b{i}", f"v{i}", t0 + timedelta(days=1)) for i in range(50)])
    day2 = tmp_path / "day2.parquet"
    full.write_parquet(day2)
    whole = day2.read_bytes()
    day2.write_bytes(whole[: len(whole) // 2])  # (being written: no footer yet)
    args = ["sessionize", str(day1), str(day2), "--store", str(tmp_path / "s"), "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"warning: {day2}: still being written (changed in the last 10 s and unfinished), "
        "left for the next run\n"
    )
    store = Store(tmp_path / "s")
    assert [i.name for i in store.read_manifest().inputs] == [str(day1)]
    day2.write_bytes(whole)  # finished
    res = CliRunner().invoke(app, args)
    assert (res.exit_code, res.stderr) == (0, "")
    store.refresh()
    assert store.read_manifest().counts["events_kept"] == 51
    # one whose writer stopped (left alone): read, and refused as before
    day3 = tmp_path / "day3.parquet"
    day3.write_bytes(whole[: len(whole) // 2])
    os.utime(day3, (day3.stat().st_atime - 60, day3.stat().st_mtime - 60))
    res = CliRunner().invoke(app, [*args[:3], str(day3), *args[3:]])
    assert res.exit_code == 1 and "day3.parquet: not a readable Parquet file" in res.stderr


def test_the_readmes_way_to_take_a_corrected_export_takes_it(tmp_path: Path) -> None:
    """The README said "to take the corrections, `--replace` with every export named": a
    correction named after the original (a `.v2` export, a later date) lost the tie to the
    first read, so the store kept the wrong copy. The corrected export named first wins."""
    ex = tmp_path / "ex"
    ex.mkdir()
    row = json.loads(genesys_line("e1", "v1", T0))
    row["webEvent"]["page"] = {"title": "Old title"}
    (ex / "2025-12.jsonl").write_text(json.dumps(row) + "\n")
    row["webEvent"]["page"]["title"] = "Corrected title"
    fixed = ex / "2025-12.v2.jsonl"
    fixed.write_text(json.dumps(row) + "\n")
    store = Store.open(tmp_path / "s")
    run_sessionize(ex / "2025-12.jsonl", store)
    run_sessionize(fixed, store)  # (the nightly run: the first copy stays)
    assert sessions(store)["last_page_title"].to_list() == ["Old title"]
    run_sessionize(ex, store, replace=True)  # (every export, in name order: still the first)
    assert sessions(store)["last_page_title"].to_list() == ["Old title"]
    run_sessionize([fixed, ex], store, replace=True)  # (the README's way)
    assert sessions(store)["last_page_title"].to_list() == ["Corrected title"]
    assert "`jtrack sessionize --replace exports/2025-12.v2.jsonl exports/`" in " ".join(
        (Path(__file__).resolve().parent.parent / "README.md").read_text().split()
    )
