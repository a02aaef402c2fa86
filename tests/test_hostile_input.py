"""The hostile-input corpus (tests/make_corpus.py): every case ends in its expected outcome.

Each case is either a clear file-level error or an exact accounting (rows read = events kept +
duplicates + rejected, rejects by reason and field, accepted oddities as which values), both
through the library and through `jtrack sessionize`, which never shows a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
import typer.main
from typer.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

import make_corpus
from make_corpus import Case

from jtrack.cli import app
from jtrack.core.dedupe import deduplicate
from jtrack.errors import DataError
from jtrack.read import REJECT_REASONS, SRC_FILE, ReadResult, read_events
from jtrack.store import Store
from tests.helpers import genesys_line

CASES = make_corpus.build(None)

_COMMAND = typer.main.get_command(app)  # built once: building it costs ~0.25 s per invoke


def invoke(args: list[str]) -> Result:
    """CliRunner().invoke(app, args), without rebuilding the Click command every time."""
    with mock.patch("typer.testing._get_command", lambda _app: _COMMAND):
        return CliRunner().invoke(app, args)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    built = make_corpus.build(out)
    assert [c.name for c in built] == [c.name for c in CASES]
    return out


def _read(case: Case, corpus: Path) -> ReadResult:
    kwargs = {"max_line_bytes": case.max_line_bytes} if case.max_line_bytes else {}
    return read_events([corpus / f for f in case.files], on_error="skip", **kwargs)


def _cli_args(case: Case, corpus: Path, store: Path) -> list[str]:
    args = ["sessionize", *[str(corpus / f) for f in case.files], "--store", str(store)]
    if case.max_line_bytes:
        args += ["--max-line-bytes", str(case.max_line_bytes)]
    return args


def test_the_corpus_is_large_and_covers_every_reject_reason() -> None:
    reasons = {r for c in CASES for r in c.expected.rejects}
    errors = [c for c in CASES if c.expected.error]
    assert len(CASES) >= 80
    assert reasons == set(REJECT_REASONS)
    assert len(errors) >= 12
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case_gives_its_expected_outcome(case: Case, corpus: Path) -> None:
    exp = case.expected
    if exp.error:
        with pytest.raises(DataError, match=exp.error.replace("(", r"\(")):
            _read(case, corpus)
        return
    read = _read(case, corpus)
    dedup = deduplicate(read.events)
    kept = dedup.events.height
    # the accounting holds, overall and file by file
    assert read.rows_read == kept + dedup.duplicates + read.rows_rejected
    for i, st in enumerate(read.files):
        name = str(corpus / case.files[i])
        from_file = read.events.filter(pl.col(SRC_FILE) == name).height
        rejected = read.rejects.filter(pl.col("file") == name).height
        assert st.rows_read == from_file + rejected, st
        assert st.rows_rejected == rejected
    # and equals what the case expects
    got = read.rejects["reason"].value_counts().rows()
    assert (kept, dedup.duplicates, dedup.conflicts.height, dict(got)) == (
        exp.kept,
        exp.duplicates,
        exp.conflicts,
        exp.rejects,
    )
    if exp.reject_rows is not None:
        names = [str(corpus / f) for f in case.files]
        rows = [
            (names.index(r["file"]), r["line"], r["reason"], r["field"])
            for r in read.rejects.iter_rows(named=True)
        ]
        assert rows == exp.reject_rows
    for column, values in exp.values.items():
        assert dedup.events.sort("event_id")[column].to_list() == values, column
    assert len(read.warnings) == exp.warnings
    # every reject says why and keeps (the start of) its raw row for fixing
    for r in read.rejects.iter_rows(named=True):
        assert r["reason"] in REJECT_REASONS
        assert r["detail"]
        assert r["raw"] is not None
        assert len(r["raw"]) <= 10_000


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case_through_sessionize_skip(case: Case, corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = [*_cli_args(case, corpus, store), "--on-error", "skip", "-q", "-f", "json"]
    result = invoke(args)
    assert "Traceback" not in result.stderr + result.stdout
    exp = case.expected
    if exp.error:
        assert result.exit_code == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert exp.error in lines[0] and "hint:" in lines[0]
        assert not (store / "CURRENT").exists()
        return
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["rows_read"] == (
        summary["events_kept"] + summary["duplicates"] + summary["rejected"]
    )
    assert (
        summary["events_kept"],
        summary["duplicates"],
        summary["conflicting_duplicates"],
        summary["rejected"],
    ) == (exp.kept, exp.duplicates, exp.conflicts, exp.rejected)
    rejects = store / "current" / "rejects.jsonl"
    if exp.rejected:
        assert len(rejects.read_text().splitlines()) == exp.rejected
    else:
        assert not rejects.exists()


@pytest.mark.parametrize("case", [c for c in CASES if c.expected.rejected], ids=lambda c: c.name)
def test_corpus_case_with_rejects_fails_clearly_by_default(
    case: Case, corpus: Path, tmp_path: Path
) -> None:
    result = invoke([*_cli_args(case, corpus, tmp_path / "s"), "-q"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    first = case.expected.reject_rows[0] if case.expected.reject_rows else None
    if first is not None:
        file_index, line, reason, _ = first
        assert f"{case.files[file_index]}:{line}:" in lines[0]
        assert f"[{reason}]" in lines[0]
    assert "--on-error skip" in lines[0]
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_corpus_generator_writes_a_manifest(tmp_path: Path) -> None:
    assert make_corpus.main([str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "cases.json").read_text())
    assert len(manifest) == len(CASES)
    for entry in manifest:
        for f in entry["files"]:
            assert (tmp_path / f).is_file()


# ---- the 50 MB line --------------------------------------------------------------------------

_RSS_SCRIPT = """
import resource, sys
from jtrack.read import read_events
small = read_events([sys.argv[2]], on_error="skip")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = read_events([sys.argv[1]], on_error="skip")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, r.rows_read, r.events.height, r.rejects["reason"].to_list(),
      r.rejects["detail"].to_list())
"""


def test_a_50mb_line_is_rejected_without_reading_it_whole(
    tmp_path_factory: pytest.TempPathFactory, corpus: Path
) -> None:
    out = tmp_path_factory.mktemp("big")
    case = make_corpus.big_line_case(out)
    path = out / case.files[0]
    assert path.stat().st_size > make_corpus.BIG_LINE_BYTES
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), str(corpus / "valid_genesys.jsonl")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "POLARS_MAX_THREADS": "2"},
    )
    before, after, read, kept, reasons, details = proc.stdout.split(" ", 5)
    growth_mb = (int(after) - int(before)) / 1024  # ru_maxrss is in KiB on Linux
    assert (int(read), int(kept)) == (3, 2)
    size = len(b'{"id": "huge", "pad": "') + make_corpus.BIG_LINE_BYTES + len(b'"}')
    assert "line_too_long" in reasons and f"the line is {size} bytes long" in details
    # reading it whole would cost at least 50 MB (more as text and in Polars)
    assert growth_mb < 30, f"peak memory grew by {growth_mb:.0f} MB"


# ---- no traceback, ever ----------------------------------------------------------------------


def _jtrack(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jtrack.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TZ": "UTC"},
    )


def test_the_cli_shows_one_line_and_no_traceback_for_bad_input(
    corpus: Path, tmp_path: Path
) -> None:
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("nothing here")
    runs = [
        ([str(corpus / "deeply_nested_document.json")], 1, "nested too deeply"),
        ([str(corpus / "gzip_truncated.jsonl.gz")], 1, "truncated or corrupt"),
        ([str(corpus / "parquet_corrupt_footer.parquet")], 1, "not a readable Parquet"),
        ([str(corpus / "deeply_nested_first_line.jsonl")], 1, "[malformed_json]"),
        ([str(empty_dir)], 1, "holds no .jsonl"),
        ([str(tmp_path / "missing.jsonl")], 1, "no such file"),
    ]
    for sources, code, message in runs:
        result = invoke(["sessionize", *sources, "--store", str(tmp_path / "s"), "-q"])
        assert result.exit_code == code, (sources, result.stderr)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_the_installed_entry_point_shows_no_traceback(corpus: Path, tmp_path: Path) -> None:
    proc = _jtrack(
        "sessionize", str(corpus / "deeply_nested_document.json"), "--store", str(tmp_path)
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(corpus: Path, tmp_path: Path) -> None:
    proc = _jtrack(
        "--debug", "sessionize", str(corpus / "gzip_truncated.jsonl.gz"), "--store", str(tmp_path)
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_a_conflicting_redelivery_is_reported_on_stderr(corpus: Path, tmp_path: Path) -> None:
    result = invoke(
        [
            "sessionize",
            str(corpus / "duplicate_conflicting.jsonl"),
            "--store",
            str(tmp_path),
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["conflicting_duplicates"] == 2
    assert (
        "warning: 2 event id(s) came more than once with different contents; "
        "the earliest (then the first read) of each was kept: e0001, e0002; they differ in "
        "page_title only\n"
    ) in result.stderr


def test_an_empty_file_is_reported_on_stderr(corpus: Path, tmp_path: Path) -> None:
    result = invoke(
        ["sessionize", str(corpus / "empty_file.jsonl"), "--store", str(tmp_path), "-q"]
    )
    assert result.exit_code == 0
    path = corpus / "empty_file.jsonl"
    assert result.stderr == f"warning: {path}: the file holds no events (it is empty)\n"


def test_each_new_empty_export_is_warned_of(tmp_path: Path) -> None:
    """An empty export was warned of the first night only: every later one had the bytes of
    the first (none), so it was skipped as "nothing new" without a word."""
    store = tmp_path / "store"
    first = tmp_path / "day1.jsonl"
    first.write_text(
        '{"id":"e1","customerId":"v1","createdDate":"2026-10-01T10:00:00Z",'
        '"eventType":"WebEvent","webEvent":{"eventName":"pageviewed"}}\n'
    )
    assert invoke(["sessionize", str(first), "--store", str(store), "-q"]).exit_code == 0
    for day in (2, 3):
        empty = tmp_path / f"day{day}.jsonl"
        empty.write_text("")
        res = invoke(["sessionize", str(empty), "--store", str(store), "-q"])
        assert res.exit_code == 0
        assert res.stderr == f"warning: {empty}: the file holds no events (it is empty)\n"
    # taken in: a later run says nothing again, even of a file touched since
    os.utime(tmp_path / "day3.jsonl")
    again = invoke(["sessionize", str(tmp_path / "day3.jsonl"), "--store", str(store), "-q"])
    assert again.exit_code == 0 and again.stderr == ""
    # several new empty files in one run: each is warned of
    more = [tmp_path / f"more{i}.jsonl" for i in range(3)]
    for f in more:
        f.write_text("")
    res = invoke(["sessionize", *map(str, more), "--store", str(store), "-q"])
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        f"warning: {f}: the file holds no events (it is empty)" for f in more
    ]
    inputs = json.loads((store / "current" / "manifest.json").read_text())["inputs"]
    assert len(inputs) == 1 + 2 + 3  # (day1, the two empty days, the three more)


def test_a_page_of_session_objects_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A REST page of Genesys Session objects (the sessions list, not their events) was
    rejected row by row as events without an eventType: it is named, and nothing is read."""
    session = {
        "id": "a1b2", "type": "web", "shortId": "ABCD", "customerId": "c1",
        "customerIdType": "cookie", "createdDate": "2026-10-01T10:00:00.000Z",
        "endedDate": "2026-10-01T10:10:00.000Z",
        "lastEvent": {"id": "e1", "eventName": "page_viewed"},
    }  # fmt: skip
    page = tmp_path / "sessions.json"
    page.write_text(json.dumps({"entities": [session], "pageSize": 25, "total": 1}))
    store = tmp_path / "store"
    for extra in ([], ["--on-error", "skip"]):
        res = CliRunner().invoke(app, ["sessionize", str(page), "--store", str(store), *extra])
        assert res.exit_code == 1
        assert "page of Genesys sessions (Session objects), not of events" in res.stderr
        assert "/events" in res.stderr and not store.exists()
    # an event page whose events lack eventType stays a matter of rows (one rejected)
    event = {k: v for k, v in session.items() if k not in ("shortId", "endedDate", "lastEvent")}
    page.write_text(json.dumps({"entities": [event]}))
    res = CliRunner().invoke(app, ["sessionize", str(page), "--store", str(store)])
    assert res.exit_code == 1 and "[unknown_event_type]" in res.stderr


def test_a_web_page_saved_as_json_says_so(tmp_path: Path) -> None:
    page = tmp_path / "events.json"
    page.write_text('<!DOCTYPE html>\n<html><body>{"id": 1}</body></html>\n')
    res = CliRunner().invoke(app, ["sessionize", str(page), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1
    assert "events.json:1:" in res.stderr and "markup, not JSON" in res.stderr
    assert "[malformed_json]" in res.stderr
    # no row to fix and none worth skipping (each would be rejected): the hint says what it is
    assert "the file looks like a web page" in res.stderr and "--on-error" not in res.stderr


@pytest.mark.parametrize("indent", [None, 2])
def test_events_under_another_key_say_which_and_how_to_take_them_out(
    tmp_path: Path, indent: int | None
) -> None:
    """Another API's page (`{"data": [...]}`, on one line or pretty-printed) was one row
    rejected for its missing id with the hint to fix or skip it (skipping loses the events),
    or "export one event per line": the hint names the key and a command that takes the
    events out."""
    events = [json.loads(genesys_line(f"e{i}", "c1", f"2026-10-01T10:0{i}:00Z")) for i in range(3)]
    for key, path in (("data", ".data[]"), ("my events", '."my events"[]')):
        doc = tmp_path / "export.json"
        doc.write_text(json.dumps({"total": 3, key: events}, indent=indent))
        res = CliRunner().invoke(app, ["sessionize", str(doc), "--store", str(tmp_path / "s")])
        assert res.exit_code == 1
        assert f"its events seem to sit under {key!r}" in res.stderr
        assert f"jq -c '{path}' {doc} > events.jsonl" in res.stderr
        assert "--on-error" not in res.stderr and not (tmp_path / "s").exists()
    # an object of no events under any key keeps the row's own hint
    doc.write_text(json.dumps({"total": 3, "data": [{"name": "x"}]}, indent=indent))
    res = CliRunner().invoke(app, ["sessionize", str(doc), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1 and "sit under" not in res.stderr


def test_the_hint_for_events_under_another_key_works_whatever_wraps_them(tmp_path: Path) -> None:
    """The hint's jq command must run: the events under a list of wrappers (`.[].data[]`),
    a page's entities (`.entities[].data[]`), two levels down (`.a.b[]`), a compressed file
    (decompressed first), documents appended one after another, and a list of other objects
    with ids before the events; `usage` and `report` of such a file give it too. An object
    with no events in it, or an event (with or without its id) carrying a list of objects
    that look like events, keeps the usual hint; a JSON lines file whose over-long first
    line is such an event is read as JSON lines, that line rejected."""
    import gzip

    events = [json.loads(genesys_line(f"e{i}", "c1", f"2026-10-01T10:0{i}:00Z")) for i in range(3)]
    meta = [{"id": 1, "name": "page"}]
    cases: list[tuple[str, bytes, str]] = [
        ("wrapped.json", json.dumps([{"data": events}]).encode(), "jq -c '.[].data[]' {f}"),
        ("page.json", json.dumps({"entities": [{"data": events}]}).encode(),
         "jq -c '.entities[].data[]' {f}"),
        ("deep.json", json.dumps({"a": {"b": events}}).encode(), "jq -c '.a.b[]' {f}"),
        ("data.json.gz", gzip.compress(json.dumps({"data": events}).encode()),
         "gzip -dc {f} | jq -c '.data[]'"),
        ("pages.json", (json.dumps({"data": events[:2]}, indent=1) + "\n"
                        + json.dumps({"data": events[2:]}, indent=1)).encode(),
         "jq -c '.data[]' {f}"),
        ("meta.json", json.dumps({"meta": meta, "data": events}).encode(), "jq -c '.data[]' {f}"),
        # a wrapper with an id of its own, or one event-like key, is still a wrapper
        ("export.json", json.dumps({"id": "export-7", "events": events}).encode(),
         "jq -c '.events[]' {f}"),
        ("visitor.json", json.dumps([{"customerId": "c1", "events": events}]).encode(),
         "jq -c '.[].events[]' {f}"),
    ]  # fmt: skip
    for name, body, command in cases:
        path = tmp_path / name
        path.write_bytes(body)
        for cmd in (["sessionize", "--store", str(tmp_path / "s")], ["usage"], ["report"]):
            res = CliRunner().invoke(app, [*cmd, str(path)])
            assert res.exit_code == 1, (name, cmd, res.stderr)
            assert command.format(f=path) + " > events.jsonl" in res.stderr, (name, cmd, res.stderr)
            assert "--on-error skip" not in res.stderr, (name, cmd)
        assert not (tmp_path / "s").exists()
    other = tmp_path / "users.json"
    other.write_text(json.dumps({"users": meta}))
    res = CliRunner().invoke(app, ["sessionize", str(other), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1 and "sit under" not in res.stderr
    # an event without its id, carrying order lines that look like events: its row's hint
    lines = tmp_path / "orders.jsonl"
    order = {k: v for k, v in events[0].items() if k != "id"}
    lines.write_text("\n".join(json.dumps(e) for e in (events[1], {**order, "lines": events})))
    res = CliRunner().invoke(app, ["sessionize", str(lines), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1 and "sit under" not in res.stderr and "[missing_id]" in res.stderr
    # another tracker's event (its own names for visitor and time) with a list of outcomes
    for own in ({"id": "e1", "customer": "c1", "time": "2026-10-01T10:00:00Z"},
                {"customerId": "c1", "timestamp": "2026-10-01T10:00:00Z"}):  # fmt: skip
        lines.write_text(json.dumps({**own, "outcomes": events}) + "\n")
        res = CliRunner().invoke(app, ["sessionize", str(lines), "--store", str(tmp_path / "s")])
        assert res.exit_code == 1 and "sit under" not in res.stderr, own
    # an over-long first line that is such an event: JSON lines, that line rejected
    long_first = {**events[0], "outcomes": events, "padding": "x" * 400}
    lines.write_text("\n".join(json.dumps(e) for e in (long_first, *events[1:])) + "\n")
    res = CliRunner().invoke(
        app,
        ["sessionize", str(lines), "--store", str(tmp_path / "s"), "--max-line-bytes", "300",
         "--on-error", "skip", "-f", "json", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)["summary"]
    assert (summary["rows_read"], summary["rejected"]) == (3, 1)


@pytest.mark.parametrize("how", ["plain", "gzip", "stdin"])
def test_a_rest_page_saved_on_one_long_line_is_read_whole(tmp_path: Path, how: str) -> None:
    """A REST page as json.dump or curl writes it (one line) longer than --max-line-bytes was
    taken for JSON lines: its 300 events became one rejected line (gone, exit 0 with
    --on-error skip). It is a document, read whole, whatever keys come before "entities"."""
    import gzip

    events = [
        json.loads(genesys_line(f"e{i}", f"c{i % 7}", f"2026-10-01T10:{i % 60:02d}:00.000Z"))
        for i in range(300)
    ]
    text = json.dumps({"pageSize": 300, "nextUri": None, "entities": events})
    assert "\n" not in text and len(text) > 20_000
    page = tmp_path / "page.json"
    args = ["--max-line-bytes", "20000", "--on-error", "skip", "-q"]
    if how == "gzip":
        page = tmp_path / "page.json.gz"
        page.write_bytes(gzip.compress(text.encode()))
    else:
        page.write_text(text)
    source = "-" if how == "stdin" else str(page)
    store = tmp_path / "store"
    res = CliRunner().invoke(
        app,
        ["sessionize", source, "--store", str(store), *args],
        input=text if how == "stdin" else None,
    )
    assert res.exit_code == 0, res.stderr
    counts = Store.open(store).manifest()["counts"]
    assert (counts["rows_read"], counts["events_kept"], counts["rejected"]) == (300, 300, 0)


def test_a_reject_in_a_pretty_printed_document_names_the_line_the_event_starts_on(
    tmp_path: Path,
) -> None:
    """A reject in a JSON document said the entity's place ("pp.json:2") where line 2 was
    the first, valid event: a pretty-printed page names the line its event starts on."""
    good = json.loads(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z"))
    bad = {**json.loads(genesys_line("b", "c1", "2026-10-01T10:01:00.000Z")), "customerId": ""}
    text = json.dumps({"pageSize": 2, "entities": [good, bad]}, indent=2)
    at = text.splitlines().index("    {", text.splitlines().index("    {") + 1) + 1
    page = tmp_path / "pp.json"
    page.write_text(text)
    res = CliRunner().invoke(app, ["sessionize", str(page), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1 and f"pp.json:{at}: field 'customer_id'" in res.stderr
    # saved on one line: the events' places (1, 2), as before
    page.write_text(json.dumps([good, bad]))
    res = CliRunner().invoke(app, ["sessionize", str(page), "--store", str(tmp_path / "s")])
    assert res.exit_code == 1 and "pp.json:2: field 'customer_id'" in res.stderr


def test_a_fraction_in_a_whole_number_field_gets_the_same_verdict_from_parquet_as_json(
    tmp_path: Path,
) -> None:
    """Parquet cut 100.5 to 100 in an integer field and took 1790848800000.9 as a time,
    where JSON rejects both: every path gives one verdict, and never a changed value."""
    base = {"customer_id": "c", "event_type": "WebEvent", "event_name": "page_viewed"}
    rows = [
        {**base, "event_id": "e1", "created_date": 1790848800000.0, "browser_view_width": 100.0},
        {**base, "event_id": "e2", "created_date": 1790848800000.0, "browser_view_width": 100.5},
        {**base, "event_id": "e3", "created_date": 1790848800000.9, "browser_view_width": 1.0},
    ]
    (tmp_path / "f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pl.DataFrame(rows).write_parquet(tmp_path / "f.parquet")
    verdicts = []
    for name in ("f.jsonl", "f.parquet"):
        read = read_events([tmp_path / name], on_error="skip")
        kept = read.events.select("event_id", "browser_view_width").rows()
        verdicts.append((kept, read.rejects.select("line", "reason", "field").rows()))
    assert (
        verdicts[0]
        == verdicts[1]
        == (
            [("e1", 100)],
            [(2, "wrong_type", "browser_view_width"), (3, "bad_timestamp", "created_date")],
        )
    )


def test_rest_pages_appended_one_a_line_are_read_as_their_events(tmp_path: Path) -> None:
    """A paging script that appends each response to one file writes a page a line: the
    file was refused whole as a malformed document ("Extra data"), even with --on-error
    skip. Each line's events are read; anything else on a line is still refused."""
    pages = []
    for p in range(3):
        events = [
            json.loads(genesys_line(f"e{p}-{i}", f"c{i}", f"2026-10-01T1{p}:0{i}:00.000Z"))
            for i in range(4)
        ]
        pages.append(json.dumps({"entities": events, "pageNumber": p + 1}))
    f = tmp_path / "pages.jsonl"
    f.write_text("\n".join(pages) + "\n")
    read = read_events([f])
    assert (read.events.height, read.rejects.height) == (12, 0)
    f.write_text("\n".join([*pages, '{"id": "x"}']) + "\n")
    with pytest.raises(DataError, match="malformed"):
        read_events([f], on_error="skip")
    # each response pretty-printed (`json.dump(page, f, indent=2)` in a loop): read too
    pretty = tmp_path / "pages.json"
    pretty.write_text("".join(json.dumps(json.loads(p), indent=2) + "\n" for p in pages))
    read = read_events([pretty])
    assert (read.events.height, read.rejects.height) == (12, 0)
    pretty.write_text(pretty.read_text() + '{"entities": [')  # a last page cut short
    with pytest.raises(DataError, match="malformed"):
        read_events([pretty], on_error="skip")


def test_max_line_bytes_takes_a_size_as_memory_limit_does(tmp_path: Path) -> None:
    """`--max-line-bytes 64MB` was refused ("Input should be a valid integer") while the
    README writes its default as 1 MB and --memory-limit takes 2GB."""
    f = tmp_path / "e.jsonl"
    f.write_text(genesys_line("a", "c", "2026-10-01T10:00:00.000Z") + "\n")
    for value, code in (("64MB", 0), ("1000000", 0), ("1KiB", 0), ("0", 2), ("12x", 2)):
        store = tmp_path / f"s-{value}"
        res = invoke(["sessionize", str(f), "--store", str(store), "--max-line-bytes", value, "-q"])
        assert res.exit_code == code, (value, res.stderr)
    res = invoke(["sessionize", str(f), "--store", str(tmp_path / "t"), "--max-line-bytes", "100B"])
    assert res.exit_code == 1 and "[line_too_long]" in res.stderr


def test_a_long_first_event_that_begins_like_a_page_is_one_rejected_line(tmp_path: Path) -> None:
    """An over-long first event whose keys (sorted) put an "entities" member before its id
    was taken for a one-line REST page and the whole file refused ("Extra data"), even with
    --on-error skip: the file is JSON lines after all, that line rejected as too long."""
    first = json.loads(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z"))
    first["entities"], first["webEvent"]["page"]["title"] = [1], "x" * 3000
    lines = [json.dumps(dict(sorted(first.items())))]
    lines += [genesys_line(f"e{i}", f"c{i}", f"2026-10-01T10:0{i}:00.000Z") for i in range(4)]
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(lines) + "\n")
    assert lines[0].startswith('{"createdDate"') and lines[0].index('"entities"') < lines[0].index(
        '"id"'
    )
    read = read_events([f], on_error="skip", max_line_bytes=2000)
    assert (read.events.height, read.rejects["reason"].to_list()) == (4, ["line_too_long"])


def test_a_time_in_a_32_bit_float_is_no_time(tmp_path: Path) -> None:
    """A Parquet float32 `created_date` of 1790848800123.0 was stored 5.5 s early (a float32
    there steps by 131,072 ms): such a column holds no time to the millisecond, and each row
    is rejected (wrong_type, the detail naming the Float32 column), never shifted."""
    f = tmp_path / "t.parquet"
    pl.DataFrame(
        {"event_id": ["a"], "customer_id": ["c"], "created_date": [1790848800123.0],
         "event_type": ["WebEvent"], "event_name": ["page_viewed"]},
        schema_overrides={"created_date": pl.Float32},
    ).write_parquet(f)  # fmt: skip
    read = read_events([f], on_error="skip")
    assert (read.events.height, read.rejects["reason"].to_list()) == (0, ["wrong_type"])
    assert "created_date has type Float32 in the file" in read.rejects["detail"][0]


def test_a_page_on_one_long_line_before_a_broken_one_refuses_the_file(tmp_path: Path) -> None:
    """A whole REST page on one long line, then a page cut short: the file was read as JSON
    lines and the first page became one rejected line (its events gone, exit 0 under skip).
    A first line that is a whole page makes the file a document: broken, it is refused
    whole, nothing read, as before."""
    events = [
        json.loads(genesys_line(f"e{i}", f"c{i}", f"2026-10-01T10:{i:02d}:00.000Z"))
        for i in range(30)
    ]
    page = json.dumps({"entities": events, "pageSize": 30})
    f = tmp_path / "pages.jsonl"
    f.write_text(page + "\n" + page[: len(page) // 2] + "\n")
    with pytest.raises(DataError, match="malformed"):
        read_events([f], on_error="skip", max_line_bytes=2000)


@pytest.mark.parametrize(
    "name, content, said",
    [
        ("export.json", b"PK\x03\x04\x14\x00rest-of-a-workbook", "a zip file by its content"),
        ("old.json", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel file by its content"),
        ("csv_as.jsonl", b"event_id,customer_id\ne1,v1\n", "a CSV file by its content"),
    ],
)
def test_a_file_named_as_events_that_is_no_events_is_named_for_what_it_is(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    """A workbook saved as .json was "not valid UTF-8; re-export the file as UTF-8", and a
    CSV saved as .jsonl a malformed JSON line: the advice led the wrong way."""
    src = tmp_path / name
    src.write_bytes(content)
    res = invoke(["sessionize", str(src), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1, res.stderr
    assert f"{src}: {said}, not events" in res.stderr and res.stderr.count("\n") == 1
    # a file of JSON lines with one stray first line is still read, that line rejected
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('id,x\n{"id": "e1"}\n')
    res = invoke(["sessionize", str(mixed), "--store", str(tmp_path / "st2")])
    assert "malformed_json" in res.stderr


def test_a_file_without_the_field_on_any_row_is_said_to_be_another_trackers(
    tmp_path: Path,
) -> None:
    """Every row lacking customerId was "fix the row": the file is not an export jtrack
    reads, which the hint now says; one row lacking it keeps the row's hint."""
    other = tmp_path / "other.jsonl"
    other.write_text(
        "".join(
            json.dumps({"event_id": f"e{i}", "user_id": "u", "timestamp": "2026-10-01"}) + "\n"
            for i in range(3)
        )
    )
    res = invoke(["sessionize", str(other), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1
    assert (
        "none of the 3 events read from it has one" in res.stderr
        and "fix the row" not in res.stderr
    )
    one = tmp_path / "one.jsonl"
    good = genesys_line("a", "c1", "2026-10-01T10:00:00.000Z")
    one.write_text(good + "\n" + json.dumps({"id": "b", "createdDate": "2026-10-01"}) + "\n")
    res = invoke(["sessionize", str(one), "--store", str(tmp_path / "st2")])
    assert res.exit_code == 1 and "fix the row" in res.stderr


def test_a_folder_run_names_the_files_it_leaves_out(tmp_path: Path) -> None:
    """A CSV export and a workbook in the exports folder were left out without a word."""
    ex = tmp_path / "ex"
    (ex / "sub").mkdir(parents=True)
    (ex / "a.jsonl").write_text(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z") + "\n")
    for name in ("events.csv", "export.xlsx", "sub/notes.md"):
        (ex / name).write_text("x,y\n")
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st")])
    assert res.exit_code == 0, res.stderr
    assert (
        "note: left out 3 files whose names say they hold no events "
        "(events.csv, export.xlsx, notes.md)"
    ) in res.stderr


def test_every_file_a_folder_holds_is_read_or_named(tmp_path: Path) -> None:
    """Of a year of drifting exports in one folder only the `.jsonl` was read, "1 file
    read", exit 0, no word of the rest: now bzip2 and xz are read, and so are files whose
    names have no extension (Hadoop's part-00000, a bare .gz) when they start as events;
    every other file is named in a note (with why, where known), one in a compression
    jtrack does not read in a warning; hidden files are left out unsaid."""
    import bz2
    import gzip
    import lzma

    ex = tmp_path / "ex"
    ex.mkdir()

    def events(day: str) -> bytes:
        return (genesys_line(f"e{day}", f"c{day}", f"2026-10-{day}T10:00:00.000Z") + "\n").encode()

    (ex / "2025-10.jsonl").write_bytes(events("01"))
    (ex / "2025-11.jsonl.bz2").write_bytes(bz2.compress(events("02")))
    (ex / "2025-11b.jsonl.xz").write_bytes(lzma.compress(events("03")))
    (ex / "2026-01-export.gz").write_bytes(gzip.compress(events("04")))
    (ex / "part-00000").write_bytes(events("05"))
    (ex / "2025-12.log").write_bytes(events("06"))  # (named as a log: not read, named)
    (ex / "notes.txt").write_text("hello\n")
    (ex / "LICENSE").write_text("MIT\n")
    # (JSON without an extension that is no export: a config, a -o output without a suffix;
    # the review found it read as events, its rows rejected, the night failed)
    (ex / "config").write_text('{"name": "my-config", "version": 2}\n')
    (ex / "metadata").write_text('{\n  "exported": "2026-01-02",\n  "rows": 5\n}\n')
    (ex / "old.jsonl.lz4").write_bytes(b"\x04\x22\x4d\x18junk")
    (ex / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st")])
    assert res.exit_code == 0, res.stderr
    assert "5 files read" in res.stdout
    assert (
        "note: left out 5 files not named as exports (2025-12.log, LICENSE (no extension, "
        "and no events by its first bytes), config (no extension, and no events by its "
        "first bytes), metadata (no extension, and no events by its first bytes), notes.txt)"
    ) in " ".join(res.stderr.split())
    assert (
        f"warning: {ex / 'old.jsonl.lz4'}: lz4-compressed, which jtrack does not read: "
        "decompress it; it is not read"
    ) in res.stderr
    assert ".DS_Store" not in res.stderr
    quiet = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st2"), "-q"])
    assert "lz4-compressed" in quiet.stderr and "not named as exports" not in quiet.stderr
    # named alone, the log is read (whatever its name); the lz4 file is refused in a line
    res = invoke(["sessionize", str(ex / "2025-12.log"), "--store", str(tmp_path / "st3")])
    assert res.exit_code == 0, res.stderr
    res = invoke(["sessionize", str(ex / "old.jsonl.lz4"), "--store", str(tmp_path / "st3")])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "lz4-compressed, which jtrack does not read" in res.stderr


def _workbook(path: Path) -> None:
    """An Excel workbook (a zip file) at `path`, whatever its name."""
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")


def test_a_workbook_named_like_an_export_in_a_folder_is_left_out_and_named(tmp_path: Path) -> None:
    """An Excel workbook saved as export.json in the exports folder was read as JSON lines:
    its bytes were an invalid_utf8 error (advice: re-export as UTF-8), or with --on-error
    skip a rejected "row" holding the zip's bytes, the run going on with exit 0."""
    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / "a.jsonl").write_text(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z") + "\n")
    _workbook(ex / "export.json")
    for extra in (["-q"], ["--on-error", "skip", "-q"]):
        store = tmp_path / f"st{len(extra)}"
        res = invoke(["sessionize", str(ex), "--store", str(store), *extra])
        assert res.exit_code == 0, res.stderr
        assert res.stderr == (
            "warning: 1 file named like exports whose content is no events is not read "
            "(export.json: a zip file); an Excel workbook is a zip file too: save the events "
            "as JSON lines or Parquet\n"
        )  # (said with -q too: it may have been meant as an export)
        assert "invalid_utf8" not in res.stderr and "rejected" not in res.stderr
        m = Store.open(store).read_manifest()
        assert m.counts["rows_read"] == 1 and m.counts["rejected"] == 0
        assert [Path(i.path).name for i in m.inputs] == ["a.jsonl"]
    # a glob reaches it too (said once, the folder and a glob over it named together);
    # `usage` and `report` of the folder count the other file alone, and say so
    res = invoke(["sessionize", str(ex), str(ex / "*.json*"), "--store", str(tmp_path / "g"), "-q"])
    assert res.exit_code == 0 and res.stderr.count("export.json: a zip file") == 1, res.stderr
    not_counted = "content is no events is not counted (export.json: a zip file)"
    res = invoke(["usage", str(ex), "--month", "2026-10", "--format", "json", "-q"])
    assert res.exit_code == 0 and not_counted in res.stderr, res.stderr
    assert json.loads(res.stdout)["totals"]["billable"] == 1
    res = invoke(["report", str(ex), "--format", "json", "-q"])
    assert res.exit_code == 0 and not_counted in res.stderr, res.stderr


def test_a_folder_or_glob_of_workbooks_alone_is_one_line_naming_one(tmp_path: Path) -> None:
    """A folder holding only workbooks saved as .json: 'no events', naming what they are."""
    ex = tmp_path / "ex"
    ex.mkdir()
    _workbook(ex / "export.json")
    _workbook(ex / "more.parquet")
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1
    assert res.stderr.strip() == (
        f"error: {ex}: the directory holds no events: export.json is a zip file by its "
        "content (and 1 more file of no events) (hint: an Excel workbook is a zip file too: "
        "save the events as JSON lines or Parquet)"
    )
    res = invoke(["sessionize", str(ex / "*.json"), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1
    assert "the pattern matches no events: export.json is a zip file by its content" in res.stderr
    assert not (tmp_path / "st").exists()


def test_epoch_seconds_are_said_to_be_seconds_with_the_fix(tmp_path: Path) -> None:
    """Times written as epoch seconds (a script's export) are read as milliseconds, in
    January 1970, and rejected as implausible; the hint said to fix the row, or (every row
    rejected) to give event exports, which the file is."""
    seconds = tmp_path / "secs.jsonl"
    row = {"event_id": "s1", "customer_id": "x", "event_type": "WebEvent"}
    seconds.write_text(
        "".join(
            json.dumps({**row, "event_id": f"s{i}", "created_date": t, "event_name": "page_viewed"})
            + "\n"
            for i, t in enumerate((1793872800, 1793872860))
        )
    )
    detail = (
        "1970-01-21T18:17:52.800Z: epoch seconds read as milliseconds? 1793872800 seconds is "
        "2026-11-05T10:00:00Z"
    )
    hint = (
        "(hint: jtrack reads epoch numbers as milliseconds: multiply times in seconds by 1000, "
        "or write ISO-8601 times"
    )
    pq = tmp_path / "secs.parquet"
    pl.read_ndjson(seconds).write_parquet(pq)
    for src in (seconds, pq):
        for args in (
            ["sessionize", str(src), "--store", str(tmp_path / "st")],
            ["usage", str(src), "--month", "2026-11"],
            ["report", str(src)],
        ):
            res = invoke(args)
            assert res.exit_code == 1, (args, res.stderr)
            assert res.stderr.count("\n") == 1 and detail in res.stderr, (args, res.stderr)
            assert hint in res.stderr, (args, res.stderr)
            # (a row that stops sessionize may be one of many: skipping it is said too)
            skip = "; or pass --on-error skip to write rejects to a file and go on)"
            assert res.stderr.rstrip().endswith(skip if args[0] == "sessionize" else "times)")
    # with --on-error skip the rejects file says it too
    rejects = tmp_path / "rejects.jsonl"
    store = str(tmp_path / "st")
    res = invoke(
        [
            "sessionize",
            str(seconds),
            "--store",
            store,
            "--on-error",
            "skip",
            "--rejects",
            str(rejects),
        ]
    )
    assert res.exit_code == 0, res.stderr
    assert json.loads(rejects.read_text().splitlines()[0])["detail"] == detail
    # a time before 2000 that is no such number keeps the plain detail and hint
    old = tmp_path / "old.jsonl"
    old.write_text(genesys_line("a", "c1", "1999-12-31T23:00:00Z") + "\n")
    res = invoke(["sessionize", str(old), "--store", str(tmp_path / "st2")])
    assert res.exit_code == 1 and "seconds read" not in res.stderr and "fix the row" in res.stderr


class _Locked:
    """A folder entry whose stat fails as in a folder that lists its names but lets no one
    in (mode r--)."""

    def __init__(self, entry: Any) -> None:
        self.name, self.path = entry.name, entry.path
        # (the kind comes with the listing, as readdir's d_type does)
        self._dir, self._file = entry.is_dir(), entry.is_file()

    def is_dir(self, follow_symlinks: bool = True) -> bool:
        return self._dir

    def is_file(self, follow_symlinks: bool = True) -> bool:
        return self._file

    def is_symlink(self) -> bool:
        return False

    def stat(self, follow_symlinks: bool = True) -> Any:
        raise PermissionError(13, "Permission denied", self.path)


class _Entries:
    """A listing, usable as os.scandir's is (an iterator and a context manager)."""

    def __init__(self, items: Any) -> None:
        self._items = iter(list(items))

    def __iter__(self) -> _Entries:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def __enter__(self) -> _Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.mark.parametrize("locked_as", ["---", "r--"])
def test_a_folder_that_cannot_be_read_is_said_not_skipped_or_blamed_on_a_store_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked_as: str
) -> None:
    """An exports subfolder without read permission: the run failed naming `sub/CURRENT` (a
    file that does not exist: looking for a store in it), and once past that would have
    skipped the folder without a word (one whose names can be listed, r--, was skipped so
    even then). Now a warning names it (even with -q), `usage` and `report` say its files
    are not counted, and the folder named itself is a one-line error."""
    import jtrack.read.sources as sources

    ex = tmp_path / "ex"
    (ex / "sub").mkdir(parents=True)
    (ex / "a.jsonl").write_text(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z") + "\n")
    (ex / "sub" / "b.jsonl").write_text(genesys_line("b", "c2", "2026-10-01T11:00:00.000Z") + "\n")
    locked = {str(ex / "sub")}
    scandir, store_dir = os.scandir, sources.is_store_dir

    def no_listing(path: Any) -> Any:
        if str(path) in locked and locked_as == "---":
            raise PermissionError(13, "Permission denied", str(path))
        if str(path) in locked:
            return _Entries(_Locked(e) for e in scandir(path))
        return scandir(path)

    def no_look(folder: Path) -> bool:
        if str(folder) in locked:  # (what Path.is_file does for CURRENT in such a folder)
            raise PermissionError(13, "Permission denied", str(folder / "CURRENT"))
        return store_dir(folder)

    monkeypatch.setattr(sources.os, "scandir", no_listing)
    monkeypatch.setattr(sources, "is_store_dir", no_look)
    warning = f"warning: {ex / 'sub'}: cannot read the folder (Permission denied); the files"
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st"), "-q"])
    assert res.exit_code == 0, res.stderr
    assert res.stderr == warning + " in it are not read\n"
    assert Store.open(tmp_path / "st").read_manifest().counts["events_kept"] == 1
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st"), "-q"])
    assert (res.exit_code, res.stderr) == (0, warning + " in it are not read\n")
    for cmd in (["usage", str(ex), "--month", "2026-10", "-q"], ["report", str(ex), "-q"]):
        res = invoke(cmd)
        assert res.exit_code == 0 and res.stderr == warning + " in it are not counted\n"
    res = invoke(["sessionize", str(ex / "sub"), "--store", str(tmp_path / "st2")])
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: {ex / 'sub'}: cannot read the folder (Permission denied) "
        "(hint: check its permissions)\n"
    )


def test_a_link_that_cannot_be_followed_is_named_and_its_folder_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link in the exports folder to a file in a folder this user may not enter: the
    folder holding the link was said to be unreadable (and named alone, refused), though
    its other files were read. A hidden folder below that cannot be read (another user's
    `.jtrack` store) is left out without a word."""
    import jtrack.read.sources as sources

    ex = tmp_path / "ex"
    (ex / ".jtrack").mkdir(parents=True)
    (ex / "a.jsonl").write_text(genesys_line("a", "c1", "2026-10-01T10:00:00.000Z") + "\n")
    (ex / "b-link.jsonl").symlink_to(ex / "a.jsonl")
    scandir, store_dir = os.scandir, sources.is_store_dir

    class _Link(_Locked):
        def is_symlink(self) -> bool:
            return True

    def listing(path: Any) -> Any:
        if str(path) == str(ex / ".jtrack"):
            raise PermissionError(13, "Permission denied", str(path))
        if str(path) == str(ex):
            return _Entries(_Link(e) if e.name == "b-link.jsonl" else e for e in scandir(path))
        return scandir(path)

    def look(folder: Path) -> bool:
        if folder.name == ".jtrack":
            raise PermissionError(13, "Permission denied", str(folder / "CURRENT"))
        return store_dir(folder)

    monkeypatch.setattr(sources.os, "scandir", listing)
    monkeypatch.setattr(sources, "is_store_dir", look)
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st"), "-q"])
    assert res.exit_code == 0, res.stderr
    assert res.stderr == (
        f"warning: {ex / 'b-link.jsonl'}: cannot follow the link (Permission denied); it is "
        "not read\n"
    )
    assert Store.open(tmp_path / "st").read_manifest().counts["events_kept"] == 1


def test_an_r_folder_whose_first_entry_is_a_link_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder of mode r-- whose first entry by name is a link, the link was named and
    the folder (its other files unread) never, then the link too where the folder is the
    cause; a source that holds only what cannot be read was "no .jsonl file"."""
    import jtrack.read.sources as sources

    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / "b.jsonl").write_text(genesys_line("b", "c2", "2026-10-01T11:00:00.000Z") + "\n")
    (ex / "a.jsonl").symlink_to("b.jsonl")
    scandir = os.scandir

    class _Link(_Locked):
        def is_symlink(self) -> bool:
            return True

    def listing(path: Any) -> Any:
        if str(path) == str(ex):  # (r--: names, and no entry can be looked at)
            return _Entries(_Link(e) if e.name == "a.jsonl" else _Locked(e) for e in scandir(path))
        return scandir(path)

    monkeypatch.setattr(sources.os, "scandir", listing)
    res = invoke(["sessionize", str(ex), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: {ex}: cannot read the folder (Permission denied) (hint: check its permissions)\n"
    )
    assert sources.left_out([str(tmp_path)]).unreadable == [
        (str(ex), "Permission denied", "folder")
    ]
    res = invoke(["sessionize", str(tmp_path), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1 and res.stderr.startswith(
        f"error: {tmp_path}: holds no file that can be read: {ex} cannot be read"
    )


def test_a_parquet_column_of_76_digit_decimals_is_read_as_text(tmp_path: Path) -> None:
    """BigQuery's BIGNUMERIC (decimal256) in an export, alone or inside a struct or a list,
    stopped sessionize: an internal error (a canonical file with a rejected row; a panic
    for a nested one) or "may be truncated; re-export it". Polars reads no decimal of more
    than 38 digits: it is read as its text, and the file's events kept."""
    import decimal
    import json as _json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.helpers import T0, flat_event, flat_frame

    rows = [flat_event("a1", "v1", T0), flat_event("", "v1", T0)]  # (the second rejected)
    table = flat_frame(rows).to_arrow()
    big = pa.array([decimal.Decimal(1), decimal.Decimal(2)], pa.decimal256(76, 0))
    nested = pa.StructArray.from_arrays([big], ["x"])
    listed = pa.array([[decimal.Decimal(1)], []], pa.list_(pa.decimal256(76, 2)))
    narrow = table.select(["event_id", "customer_id", "created_date", "event_type", "event_name"])
    for name, frame, extra in (
        ("canonical", table, big), ("other", narrow, big),
        ("struct", table, nested), ("list", narrow, listed),
    ):  # fmt: skip
        path = tmp_path / f"{name}.parquet"
        pq.write_table(frame.append_column("amount", extra), path)
        store = tmp_path / f"s-{name}"
        res = CliRunner().invoke(
            app,
            ["sessionize", str(path), "--store", str(store), "--on-error", "skip", "-f", "json"],
        )
        assert res.exit_code == 0, (name, res.stderr)
        summary = _json.loads(res.stdout)["summary"]
        assert (summary["events_kept"], summary["rejected"]) == (1, 1), name


def test_a_line_rejected_as_a_whole_names_the_same_field_in_rejects_as_in_the_error(
    tmp_path: Path,
) -> None:
    """An invalid_utf8 row had `"field": ""` in rejects.jsonl while the error line of the
    same row said `field '(line)'`: both say `(line)` now, for every line-level reason."""
    f = tmp_path / "u.jsonl"
    good = genesys_line("a", "c1", "2026-10-01T10:00:00.000Z")
    f.write_bytes(b'{"id":"a\xff"}\n{bad\n' + good.encode() + b"\n\x00\n")
    res = invoke(["sessionize", str(f), "--store", str(tmp_path / "st")])
    assert res.exit_code == 1 and "field '(line)'" in res.stderr and "[invalid_utf8]" in res.stderr
    res = invoke(["sessionize", str(f), "--store", str(tmp_path / "st"), "--on-error", "skip"])
    assert res.exit_code == 0, res.stderr
    rows = [
        json.loads(x) for x in (tmp_path / "st/current/rejects.jsonl").read_text().split("\n") if x
    ]
    assert [(r["reason"], r["field"]) for r in rows] == [
        ("invalid_utf8", "(line)"),
        ("malformed_json", "(line)"),
        ("nul_bytes", "(line)"),
    ]


def test_an_integer_beyond_an_integer_fields_range_is_number_out_of_range(
    tmp_path: Path,
) -> None:
    """`browser_view_width: 12345678901234567890123` (beyond i64, within what jtrack reads)
    was rejected as wrong_type ("a JSON type the schema does not allow"): it is
    number_out_of_range, saying the field's range, in JSON lines, JSON documents, the
    Genesys shape and Parquet alike; text or a fraction in the field stays wrong_type."""
    import json as _json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.helpers import T0, flat_event, flat_frame

    detail = (
        "an integer beyond the field's range (i64: -9223372036854775808 to 9223372036854775807)"
    )
    base = {"event_id": "e", "customer_id": "v", "created_date": "2026-10-01T10:00:00Z",
            "kind": "page_view", "event_type": "WebEvent", "event_name": "page_viewed"}  # fmt: skip
    values = ["12345678901234567890123", "9223372036854775808", "-9223372036854775809", "1e30"]
    values += ["5", '"wide"', "1.5"]  # (kept; wrong_type; wrong_type)
    lines = [
        _json.dumps({**base, "event_id": f"e{i}"})[:-1] + f', "browser_view_width": {v}}}'
        for i, v in enumerate(values)
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "a.json").write_text("[" + ",".join(lines) + "]")
    genesys = genesys_line("g1", "v", T0).replace(
        '"webEvent": {', '"webEvent": {"browser": {"viewWidth": 12345678901234567890123}, '
    )
    (tmp_path / "g.jsonl").write_text(genesys + "\n")
    table = flat_frame([flat_event(f"p{i}", "v", T0) for i in range(3)]).to_arrow()
    i = table.schema.get_field_index("browser_view_width")
    for name, column in (
        ("u64", pa.array([2**63, 7, None], pa.uint64())),
        ("f64", pa.array([1e20, 7.0, None], pa.float64())),
    ):
        pq.write_table(
            table.set_column(i, "browser_view_width", column), tmp_path / f"{name}.parquet"
        )
    expected = {
        "a.jsonl": ["number_out_of_range"] * 4 + ["wrong_type"] * 2,
        "a.json": ["number_out_of_range"] * 4 + ["wrong_type"] * 2,
        "g.jsonl": ["number_out_of_range"],
        "u64.parquet": ["number_out_of_range"],
        "f64.parquet": ["number_out_of_range"],
    }  # fmt: skip
    for name, reasons in expected.items():
        res = read_events([tmp_path / name], on_error="skip")
        rejects = res.rejects.sort("line")
        assert rejects["reason"].to_list() == reasons, (name, rejects)
        assert set(rejects["field"]) == {"browser_view_width"}, name
        ranged = rejects.filter(pl.col("reason") == "number_out_of_range")
        assert set(ranged["detail"]) == {detail}, (name, ranged["detail"].to_list())
    cli = CliRunner().invoke(
        app, ["sessionize", str(tmp_path / "a.jsonl"), "--store", str(tmp_path / "s")]
    )
    said = f"error: {tmp_path / 'a.jsonl'}:1: field 'browser_view_width': {detail} ["
    assert cli.exit_code == 1 and cli.stderr.startswith(said + "number_out_of_range]")


# ---- standard input and JSON documents within the memory bound ------------------------------

_CHILD_RSS = """
import resource, subprocess, sys
with open(sys.argv[1], "rb") as stdin:
    res = subprocess.run(sys.argv[2:], stdin=stdin, capture_output=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(res.returncode, peak, res.stderr.decode().replace(chr(10), " | ") or "-")
"""


def _peak(stdin: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple:
    """A jtrack command run with `stdin` as its standard input: exit code, peak RSS (MB)
    of that process alone, stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD_RSS, str(stdin), sys.executable, "-m", "jtrack.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "TZ": "UTC", "POLARS_MAX_THREADS": "2", **(env or {})},
    )
    code, peak, err = proc.stdout.strip().split(" ", 2)
    return int(code), int(peak), err


def _events_file(path: Path, n: int) -> Path:
    line = genesys_line("ID", "CUST", "2026-10-03T09:00:00Z")
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(line.replace("ID", f"e{i}").replace("CUST", f"c{i % 997}") + "\n")
    return path


def test_stdin_is_read_within_the_memory_bound_as_its_file_is(tmp_path: Path) -> None:
    """`cat g300k.jsonl | jtrack sessionize - --memory-limit 64MB` peaked at 2,810 MB, the
    same file by path at 415 MB: stdin was read whole (about 7 times its size)."""
    src = _events_file(tmp_path / "e.jsonl", 90_000)  # (about 30 MB)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    args = ("-q", "--memory-limit", "64MB", "-f", "json", "-o")
    code, by_path, err = _peak(
        empty, "sessionize", str(src), "--store", "a", *args, "a.json", cwd=tmp_path
    )
    assert code == 0, err
    code, by_stdin, err = _peak(
        src, "sessionize", "-", "--store", "b", *args, "b.json", cwd=tmp_path
    )
    assert code == 0, err
    a = json.loads((tmp_path / "a.json").read_text())["summary"]
    b = json.loads((tmp_path / "b.json").read_text())["summary"]
    assert (a["rows_read"], a["sessions"]) == (b["rows_read"], b["sessions"]) == (90_000, 997)
    # (read whole, stdin cost about 7 times its 30 MB more than its file did)
    assert by_stdin < by_path * 1.2, (by_stdin, by_path)
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".tmp-")]


def test_stdin_keeps_its_line_numbers_its_compression_and_what_was_taken_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Standard input is copied to a temporary file and read as files are: rejects name its
    lines, compressed stdin is decompressed, a JSON document is read, the same bytes again
    are nothing new, and the copy is gone after the run (in the store's own folder, or in
    $TMPDIR for a command without a store)."""
    import gzip

    lines = [genesys_line(f"e{i}", f"c{i % 3}", f"2026-10-03T09:0{i}:00Z") for i in range(6)]
    lines[2] = "{not json"
    lines[4] = lines[4].replace('"createdDate": "', '"createdDate": "x')
    raw = ("\n".join(lines) + "\n").encode()
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    for name, data in (("plain", raw), ("gz", gzip.compress(raw))):
        store, rej = tmp_path / f"s-{name}", tmp_path / f"{name}.jsonl"
        args = ["sessionize", "-", "--store", str(store), "-q", "--on-error", "skip"]
        res = CliRunner().invoke(app, [*args, "--rejects", str(rej)], input=data)
        assert res.exit_code == 0, res.output
        got = pl.read_ndjson(rej).select("file", "line").rows()
        assert got == [("<stdin>", 3), ("<stdin>", 5)], name
        assert not [p for p in store.iterdir() if p.name.startswith(".tmp-")]
        again = CliRunner().invoke(app, [*args, "-f", "json"], input=data)
        run = json.loads(again.stdout)["summary"]["run"]
        assert (run["mode"], run["files_skipped"]) == ("unchanged", 1), again.output
    page = json.dumps({"entities": [json.loads(x) for x in (lines[0], lines[1])]}).encode()
    res = CliRunner().invoke(app, ["usage", "-", "-f", "json"], input=page)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["reconciliation"]["rows_read"] == 2
    assert list(spool.iterdir()) == []  # (usage spooled it in $TMPDIR, and removed it)


def test_a_gzip_bomb_of_a_json_document_is_refused_as_it_is_decompressed(tmp_path: Path) -> None:
    """A 1.5 MB `.json.gz` of whitespace inside `[` and `]` took 97 s and 3.7 GB: a JSON
    document is read whole, and its size was not bounded. It is counted as it is
    decompressed, against a quarter of --memory-limit (or $JTRACK_MAX_DOCUMENT_BYTES)."""
    import gzip

    good = _events_file(tmp_path / "good.jsonl", 10)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    bomb = tmp_path / "b.json.gz"
    with gzip.open(bomb, "wb", 9) as fh:
        fh.write(b"[")
        for _ in range(300):
            fh.write(b" " * (1 << 20))
        fh.write(b"]")
    assert bomb.stat().st_size < 1 << 20
    code, small, err = _peak(empty, "sessionize", str(good), "--store", "s", "-q", cwd=tmp_path)
    assert code == 0, err
    current = (tmp_path / "s" / "CURRENT").read_text()
    args = ("sessionize", str(bomb), "--store", "s", "-q", "--memory-limit", "64MB")
    code, peak, err = _peak(empty, *args, cwd=tmp_path)
    assert code == 1 and " | " not in err.rstrip(" |"), err  # (one line)
    assert "b.json.gz: the JSON document holds more than 16.0MB once decompressed" in err
    assert "jq -c '.[]'" in err and "--memory-limit" in err
    assert peak < small + 100, (peak, small)  # (stopped at 16 MB, not at 300)
    assert (tmp_path / "s" / "CURRENT").read_text() == current
    # (a command without --memory-limit: bounded by the variable, or the machine's memory)
    env = {"JTRACK_MAX_DOCUMENT_BYTES": "8MB"}
    code, _, err = _peak(empty, "usage", str(bomb), cwd=tmp_path, env=env)
    assert code == 1 and "holds more than 8.0MB once decompressed" in err, err
    # (zstd: its decompressor takes no bound on its output, and 10 KB were all 300 MB at once)
    zstandard = pytest.importorskip("zstandard")
    packer = zstandard.ZstdCompressor(level=19).compressobj()
    packed = [packer.compress(b"[")] + [packer.compress(b" " * (1 << 20)) for _ in range(300)]
    (tmp_path / "b.json.zst").write_bytes(b"".join(packed) + packer.compress(b"]") + packer.flush())
    code, zpeak, err = _peak(empty, "usage", "b.json.zst", cwd=tmp_path, env=env)
    assert code == 1 and "holds more than 8.0MB once decompressed" in err, err
    assert zpeak < small + 100, (zpeak, small)
