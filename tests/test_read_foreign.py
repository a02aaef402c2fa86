"""Other systems' exports: what pandas, Polars, pyarrow, DuckDB, Spark, Delta and Firehose
write of the same events is read as the same events (or refused or rejected, saying why)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from jtrack.engine import run_sessionize
from jtrack.errors import RejectedRowError
from jtrack.read import read_events
from jtrack.store import Store
from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)

GENESYS = [
    {
        "id": "e1",
        "customerId": "c1",
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": "2026-12-01T08:00:00.000Z",
        "webEvent": {
            "eventName": "page_viewed",
            "page": {"url": "https://shop.example.com/"},
            "attributes": {},
        },
    },
    {
        "id": "e2",
        "customerId": "c1",
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": "2026-12-01T08:05:00.000Z",
        "webEvent": {
            "eventName": "product_added",
            "page": {"url": "https://shop.example.com/p"},
            "attributes": {"price": {"dataType": "number", "value": "12"}},
            "traits": {"email": {"dataType": "string", "value": "a@example.org"}},
        },
    },
    {
        "id": "e3",
        "customerId": "c1",
        "eventType": "com.genesys.journey.SegmentAssignmentEvent",
        "createdDate": "2026-12-01T08:06:00.000Z",
        "segmentAssignmentEvent": {"segment": {"id": "seg-1"}},
    },
    {
        "id": "e4",
        "customerId": "c1",
        "eventType": "com.genesys.journey.OutcomeAchievedEvent",
        "createdDate": "2026-12-01T08:07:00.000Z",
        "outcomeAchievedEvent": {"outcome": {"id": "out-1", "displayName": "Bought"}},
    },
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _arrow_schema(src: Path) -> pa.Schema:
    return pl.read_ndjson(src).to_arrow().schema


def _canon(path: Path) -> pl.DataFrame:
    r = read_events([path], on_error="skip")
    assert r.rows_rejected == 0, r.rejects.to_dicts()
    return r.canonical().sort("event_id")


def _store(tmp: Path, name: str, src: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    store = Store.open(tmp / name)
    run_sessionize([src], store)
    events = store.scan_events().collect().sort("event_id")
    sessions = store.scan_sessions().collect().sort("id")
    return events, sessions


def test_genesys_objects_as_parquet_structs_read_as_the_json(tmp_path: Path) -> None:
    """Polars and pyarrow write `attributes`/`traits` objects as a struct keyed by name
    (null where a row lacks the name): the same events, and stores, as the JSON lines."""
    src = _jsonl(tmp_path / "g.jsonl", GENESYS)
    pl.read_ndjson(src).write_parquet(tmp_path / "g_polars.parquet")
    # (from_pylist would take its schema from the first row alone)
    pq.write_table(
        pa.Table.from_pylist(GENESYS, schema=_arrow_schema(src)), tmp_path / "g_pyarrow.parquet"
    )
    assert isinstance(
        pl.read_parquet_schema(tmp_path / "g_polars.parquet")["webEvent"].fields[2].dtype,
        pl.Struct,
    )
    want_events, want_sessions = _store(tmp_path, "sj", src)
    for name in ("g_polars", "g_pyarrow"):
        got = _canon(tmp_path / f"{name}.parquet")
        assert_frame_equal(got, _canon(src))
        events, sessions = _store(tmp_path, f"s_{name}", tmp_path / f"{name}.parquet")
        assert_frame_equal(events, want_events)
        assert_frame_equal(sessions, want_sessions)
    row = _canon(tmp_path / "g_polars.parquet").row(1, named=True)
    assert row["attributes"] == [{"name": "price", "data_type": "number", "value": "12"}]
    assert _canon(tmp_path / "g_polars.parquet")["attributes"][0].to_list() == []


def test_an_attribute_struct_holding_a_list_is_a_wrong_type_in_its_rows(tmp_path: Path) -> None:
    rows = [
        {**GENESYS[0], "webEvent": {"eventName": "x", "attributes": {"a": None}}},
        {**GENESYS[1], "webEvent": {"eventName": "x", "attributes": {"a": {"value": [1]}}}},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "l.parquet")
    r = read_events([tmp_path / "l.parquet"], on_error="skip")
    assert r.events.height == 1 and r.rejects["reason"].to_list() == ["wrong_type"]


def test_dotted_column_names_read_as_the_nested_fields(tmp_path: Path) -> None:
    """pandas `json_normalize` and Spark's flatten name nested fields with dots: they are
    read as the objects they name (system events keep their ids; page views their names)."""
    src = _jsonl(tmp_path / "g.jsonl", [{k: v for k, v in r.items()} for r in GENESYS])
    nested = pl.read_ndjson(src)
    flat = nested.unnest("webEvent", separator=".")
    for top in ("webEvent.page", "segmentAssignmentEvent", "outcomeAchievedEvent"):
        flat = flat.unnest(top, separator=".")
    flat = flat.unnest("segmentAssignmentEvent.segment", separator=".")
    flat = flat.unnest("outcomeAchievedEvent.outcome", separator=".")
    flat = flat.unnest("webEvent.attributes", separator=".")
    flat = flat.unnest("webEvent.attributes.price", separator=".")
    flat = flat.unnest("webEvent.traits", separator=".").unnest(
        "webEvent.traits.email", separator="."
    )
    assert "segmentAssignmentEvent.segment.id" in flat.columns
    flat.write_parquet(tmp_path / "dotted.parquet")
    got = _canon(tmp_path / "dotted.parquet")
    assert got["segment_id"].to_list() == [None, None, "seg-1", None]
    assert got["outcome_id"].to_list() == [None, None, None, "out-1"]
    # (a row without attributes has them null, as a missing object: JSON gives `{}` its [])
    assert_frame_equal(
        got.drop("attributes"), _canon(src).drop("attributes"), check_column_order=False
    )
    assert got["attributes"][1].to_list() == [
        {"name": "price", "data_type": "number", "value": "12"}
    ]


def test_a_list_column_empty_in_every_row_is_read_as_empty_lists(tmp_path: Path) -> None:
    rows = [
        {
            "event_id": f"e{i}",
            "customer_id": "c1",
            "created_date": datetime(2026, 12, 1, 8, i, tzinfo=UTC),
            "event_type": "WebEvent",
            "event_name": "page_viewed",
            "attributes": [],
        }
        for i in range(3)
    ]
    path = tmp_path / "pandas_flat.parquet"
    pl.DataFrame(rows).write_parquet(path)
    assert pl.read_parquet_schema(path)["attributes"] == pl.List(pl.Null)
    r = read_events([path], on_error="skip")
    assert r.rows_rejected == 0 and r.events["attributes"].to_list() == [[], [], []]
    usage = compute_usage(
        UsageInput.from_sources([path], on_error="fail"), UsageOptions(as_of=AS_OF)
    )
    assert usage.reconciliation["events"] == 3 and usage.reconciliation["rejected"] == 0


def _binary_ids(path: Path, ids: list[bytes]) -> Path:
    table = pa.table(
        {
            "event_id": pa.array(ids, pa.binary()),
            "customer_id": ["c1"] * len(ids),
            "created_date": pa.array(
                [datetime(2026, 12, 1, 8, i, tzinfo=UTC) for i in range(len(ids))],
                pa.timestamp("us", "UTC"),
            ),
            "event_type": ["WebEvent"] * len(ids),
            "event_name": ["page_viewed"] * len(ids),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    "ids",
    [
        [bytes.fromhex("6d207417acf64f7bae902b211968af4b"), bytes(range(16)), b"\xff" * 16],
        [b"6d207417-acf6-4f7b-ae90-2b211968af4b", b"b", b"c"],
    ],
    ids=["uuid-bytes", "utf8-bytes"],
)
def test_binary_ids_are_rejected_alike_by_every_command(tmp_path: Path, ids: list[bytes]) -> None:
    """Binary event ids (raw UUID bytes, or text stored as bytes) are rejected by
    sessionize, usage and report alike, never an internal error, never billed; the reject's
    raw shows the bytes as hex and the hint says to cast them to text."""
    path = _binary_ids(tmp_path / "b.parquet", ids)
    r = read_events([path], on_error="skip")
    assert r.rows_rejected == 3 and set(r.rejects["reason"]) == {"wrong_type"}
    raw = json.loads(r.rejects["raw"][0])
    assert raw["event_id"] == "0x" + ids[0].hex()
    assert "Parquet" in r.rejects["detail"][0]
    with pytest.raises(RejectedRowError) as err:
        read_events([path])
    assert "cast it to text" in (err.value.hint or "")
    # usage counts what sessionize takes in: the same rejects, no internal error
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"event_id":"g1","customer_id":"c2","created_date":"2026-12-01T09:00:00Z",'
        '"event_type":"WebEvent","event_name":"page_viewed"}\n'
    )
    usage = compute_usage(
        UsageInput.from_sources([path, good], on_error="skip"), UsageOptions(as_of=AS_OF)
    )
    assert usage.reconciliation["rejected"] == 3
    assert usage.reconciliation["events"] == 1


def _one(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    return path


_FLAT = (
    '{"event_id":"e1","customer_id":"c1","created_date":"2026-12-01T08:00:00Z",'
    '"event_type":"WebEvent","event_name":"page_viewed"'
)


@pytest.mark.parametrize("across_runs", [False, True])
def test_empty_and_missing_traits_are_the_same_contents(tmp_path: Path, across_runs: bool) -> None:
    """Traits `[]`, `{}` and none are the same content: no conflicting duplicate."""
    files = [
        _one(tmp_path / "t1.jsonl", _FLAT + ',"traits":[],"attributes":[]}'),
        _one(tmp_path / "t2.jsonl", _FLAT + "}"),
        _one(
            tmp_path / "t3.jsonl",
            '{"id":"e1","customerId":"c1","createdDate":"2026-12-01T08:00:00Z",'
            '"eventType":"com.genesys.journey.WebEvent","webEvent":{"eventName":"page_viewed",'
            '"traits":{},"attributes":{}}}',
        ),
    ]
    store = Store.open(tmp_path / "s")
    if across_runs:
        for f in files:
            run_sessionize([f], store)
    else:
        run_sessionize(files, store)
    counts = store.manifest()["counts"]
    assert counts["duplicates"] == 2 and counts["conflicting_duplicates"] == 0
    usage = compute_usage(UsageInput.from_sources(files), UsageOptions(as_of=AS_OF))
    assert usage.reconciliation["conflicting_duplicates"] == 0
    from jtrack.core.dedupe import deduplicate

    d = deduplicate(read_events(files).canonical())
    assert d.duplicates == 2 and d.conflicts.height == 0


def test_a_delta_table_folder_reads_its_parts_not_its_log(tmp_path: Path) -> None:
    """Below a folder read, paths starting with `_` or `.` are left out, as Spark leaves
    them (a Delta table's `_delta_log`, `_SUCCESS`, checksums); a file named is read."""
    from jtrack.read import expand_sources, rotated_copies

    table = tmp_path / "events"
    (table / "_delta_log").mkdir(parents=True)
    (table / ".hidden").mkdir()
    _jsonl(tmp_path / "g.jsonl", GENESYS)
    pl.read_ndjson(tmp_path / "g.jsonl").write_parquet(table / "part-00000-c000.snappy.parquet")
    log = _one(table / "_delta_log" / "00000000000000000000.json", '{"commitInfo":{}}')
    _one(table / "_delta_log" / "00000000000000000001.json.1", '{"commitInfo":{}}')
    _one(table / ".hidden" / "x.jsonl", '{"commitInfo":{}}')
    _one(table / "_tmp.jsonl", '{"commitInfo":{}}')
    (table / "_SUCCESS").write_bytes(b"")
    names = [Path(s.name).name for s in expand_sources([table])]
    assert names == ["part-00000-c000.snappy.parquet"]
    assert rotated_copies([str(table)]) == []
    r = read_events([table])
    assert r.rows_read == 4 and r.rows_rejected == 0
    assert [Path(s.name).name for s in expand_sources([log])] == [log.name]


def test_a_parquet_file_of_no_rows_and_no_columns_is_an_empty_file(tmp_path: Path) -> None:
    """pandas' `DataFrame().to_parquet()` beside good files: warned of as empty, not an
    error (as Spark's zero-row parts)."""
    folder = tmp_path / "x"
    folder.mkdir()
    pq.write_table(pa.table({}), folder / "empty.parquet")
    _jsonl(tmp_path / "g.jsonl", GENESYS)
    pl.read_ndjson(tmp_path / "g.jsonl").write_parquet(folder / "part-0.parquet")
    r = read_events([folder])
    assert r.rows_read == 4 and r.events.height == 4
    assert any("empty.parquet: the file holds no events" in w for w in r.warnings)
    run = run_sessionize([folder], Store.open(tmp_path / "s"))
    assert run is not None
    usage = compute_usage(UsageInput.from_sources([folder]), UsageOptions(as_of=AS_OF))
    assert usage.reconciliation["events"] == 4


def _bytes_of_raw(raw: str) -> bytes:
    """A rejected line's bytes from its raw: `\\xNN` a byte, read as JSON escapes are."""
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw.startswith("\\x", i):
            out.append(int(raw[i + 2 : i + 4], 16))
            i += 4
        elif raw[i] == "\\":  # (a JSON escape of the line: its two characters as they are)
            out += raw[i : i + 2].encode()
            i += 2
        else:
            out += raw[i].encode()
            i += 1
    return bytes(out)


def test_a_line_not_in_utf8_keeps_its_bytes_in_the_reject(tmp_path: Path) -> None:
    line = (
        b'{"event_id":"b1","customer_id":"v","created_date":"2026-10-08T10:00:00Z",'
        b'"event_type":"WebEvent","event_name":"page_viewed","page_title":"Caf\xe9 M\xfcller'
        b' \\\\x41 \xe2\x82 \xef\xbf\xbd"}'
    )
    good = _FLAT.replace("e1", "b2").encode() + b"}"
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(line + b"\n" + good + b"\n")
    r = read_events([path], on_error="skip")
    assert r.events.height == 1 and r.rejects["reason"].to_list() == ["invalid_utf8"]
    raw = r.rejects["raw"][0]
    assert "Caf\\xe9 M\\xfcller" in raw
    assert _bytes_of_raw(raw) == line


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("1790848800000000", "microseconds"),
        ("1790848800000000000", "nanoseconds"),
        ("1790848800.5", "seconds with a fraction"),
    ],
)
@pytest.mark.parametrize("form", ["json", "parquet"])
def test_epoch_times_in_other_units_say_which(
    tmp_path: Path, value: str, unit: str, form: str
) -> None:
    if form == "json":
        path = _one(tmp_path / "t.jsonl", _FLAT.replace('"2026-12-01T08:00:00Z"', value) + "}")
    else:
        number = float(value) if "." in value else int(value)
        path = tmp_path / "t.parquet"
        row = json.loads(_FLAT + "}")
        pl.DataFrame([{**row, "created_date": number}]).write_parquet(path)
    with pytest.raises(RejectedRowError) as err:
        read_events([path])
    assert f"epoch {unit}?" in err.value.message and err.value.reason == "bad_timestamp"
    assert "divide microseconds by 1000" in (err.value.hint or "")


@pytest.mark.parametrize("form", ["json", "parquet"])
def test_bigquery_times_ending_in_utc_are_read(tmp_path: Path, form: str) -> None:
    text = "2026-12-01 08:09:02.769 UTC"
    row = {**json.loads(_FLAT + "}"), "created_date": text}
    path = _jsonl(tmp_path / "t.jsonl", [row])
    if form == "parquet":
        pl.read_ndjson(path).write_parquet(tmp_path / "t.parquet")
        path = tmp_path / "t.parquet"
    r = read_events([path])
    assert r.events["created_date"][0] == datetime(2026, 12, 1, 8, 9, 2, 769000, tzinfo=UTC)
    assert r.files[0].no_zone == 0


def test_a_parquet_column_of_a_wrong_type_says_parquet_and_the_column(tmp_path: Path) -> None:
    row = json.loads(_FLAT + "}")
    path = tmp_path / "t.parquet"
    pl.DataFrame([{**row, "page_url": ["a", "b"]}]).write_parquet(path)
    with pytest.raises(RejectedRowError) as err:
        read_events([path])
    assert "Parquet (Arrow) type" in err.value.message and "JSON" not in err.value.message
    assert (err.value.hint or "").startswith("the column page_url has type List")


def test_firehose_objects_one_after_another_are_said_so(tmp_path: Path) -> None:
    one = _FLAT + "}"
    path = tmp_path / "firehose-1-2026-12-01-08-00-00-abc"
    path.write_text(one + one.replace("e1", "e2") + one.replace("e1", "e3"))
    r = read_events([path], on_error="skip")
    assert r.rows_read == 1 and r.rejects["reason"].to_list() == ["malformed_json"]
    assert "several JSON values one after another" in r.rejects["detail"][0]
    with pytest.raises(RejectedRowError) as err:
        read_events([path])
    assert "jq -c ." in (err.value.hint or "")
    # said alone: not followed by "not one complete JSON value (truncated, ...)", which it
    # contradicts (and a page of markup likewise)
    assert "complete JSON value" not in err.value.message
    page = tmp_path / "page.jsonl"
    page.write_text(one + "\n<html><body>Sign in</body></html>\n")
    with pytest.raises(RejectedRowError) as err:
        read_events([page])
    assert "the line is markup, not JSON" in err.value.message
    assert "complete JSON value" not in err.value.message
    # an object with a comma missing between two of its objects is no such line
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"webEvent":{"page":{"url":"u"} {"title":"t"}},"id":"e9"}\n')
    r = read_events([broken], on_error="skip")
    assert r.rejects["reason"].to_list() == ["malformed_json"]
    assert "several JSON values" not in r.rejects["detail"][0]


def test_one_event_as_json_and_as_parquet_is_no_conflict_whatever_its_traits_order(
    tmp_path: Path,
) -> None:
    """A Parquet struct has one field order for the whole file (its first row's); a JSON
    object each its own: the same event from both was a "conflicting duplicate" when its
    traits came in another order, or held a trait that is null (an entry in JSON, none in
    Parquet). Traits are compared in any order, an entry with neither type nor value none."""
    trait = {"dataType": "string"}
    rows = [
        {
            "id": f"e{i}",
            "customerId": "c1",
            "eventType": "com.genesys.journey.WebEvent",
            "createdDate": f"2026-12-01T08:0{i}:00.000Z",
            "webEvent": {"eventName": "page_viewed", "page": {"url": "https://shop.example/"}},
        }
        for i in range(3)
    ]
    rows[0]["webEvent"]["traits"] = {
        "email": {**trait, "value": "x@x.org"},
        "givenName": {**trait, "value": "X"},
    }
    rows[1]["webEvent"]["traits"] = {
        "givenName": {**trait, "value": "Y"},
        "email": {**trait, "value": "y@y.org"},
    }
    rows[2]["webEvent"]["traits"] = {"email": None, "givenName": {**trait, "value": "Z"}}
    src = _jsonl(tmp_path / "g.jsonl", rows)
    import pyarrow.json as pa_json

    as_parquet = tmp_path / "g.parquet"
    pq.write_table(pa_json.read_json(src), as_parquet)  # (as pyarrow's users write it)
    store = Store.open(tmp_path / "s")
    run_sessionize([src, as_parquet], store)
    counts = store.manifest()["counts"]
    assert counts["duplicates"] == 3 and counts["conflicting_duplicates"] == 0
    usage = compute_usage(UsageInput.from_sources([src, as_parquet]), UsageOptions(as_of=AS_OF))
    assert usage.reconciliation["conflicting_duplicates"] == 0


def test_a_store_hashed_by_the_earlier_content_rule_is_hashed_again_once(tmp_path: Path) -> None:
    """A store whose duplicates an earlier jtrack hashed (traits as delivered: `[]` apart
    from none) took a later redelivery for a conflict, for good: the duplicates table kept
    the earlier hashes. The next run hashes its copies again from the segments."""
    from jtrack.options import CONTENT_RULE

    first = _one(tmp_path / "t1.jsonl", _FLAT + ',"traits":[]}')
    again = _one(tmp_path / "t2.jsonl", _FLAT + ',"traits":[]}\n' + _FLAT.replace("e1", "e2") + "}")
    store = Store.open(tmp_path / "s")
    run_sessionize([first, again], store)
    version = tmp_path / "s" / "versions" / (tmp_path / "s" / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["options"]["content_rule"] == CONTENT_RULE
    # the duplicates as an earlier rule hashed them: another hash than this rule's
    dups_path = version / manifest["duplicates"]
    earlier = pl.read_parquet(dups_path).with_columns(_hash=pl.lit(12345, pl.UInt64))
    dups_path.unlink()
    earlier.write_parquet(dups_path)
    del manifest["options"]["content_rule"]
    (version / "manifest.json").unlink()
    (version / "manifest.json").write_text(json.dumps(manifest))
    later = _one(tmp_path / "t3.jsonl", _FLAT + "}")  # (no traits: the same contents)
    run_sessionize([later], Store.open(tmp_path / "s"))
    counts = Store.open(tmp_path / "s").manifest()["counts"]
    assert counts["duplicates"] == 2 and counts["conflicting_duplicates"] == 0
    version = tmp_path / "s" / "versions" / (tmp_path / "s" / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["options"]["content_rule"] == CONTENT_RULE
    hashes = pl.read_parquet(version / manifest["duplicates"]).get_column("_hash")
    assert hashes.n_unique() == 1 and 12345 not in hashes.to_list()


def test_one_misfitting_trait_name_rejects_its_rows_only(tmp_path: Path) -> None:
    """A traits struct one name of which holds a list: the rows that set it were rejected,
    and every other row of the file lost all its traits (the email gone, the visitor
    Unknown); a row whose misfitting name held no value was rejected, where its JSON is
    read. The rows that set it are rejected; the others keep their traits."""
    kv = pa.struct([("dataType", pa.string()), ("value", pa.string())])
    bad = pa.struct([("dataType", pa.string()), ("value", pa.list_(pa.string()))])
    web = pa.struct(
        [("eventName", pa.string()), ("traits", pa.struct([("email", kv), ("bad", bad)]))]
    )
    traits = [
        {"email": {"dataType": "string", "value": "ann@example.com"}, "bad": None},
        {"email": None, "bad": {"dataType": "string", "value": ["a"]}},
        {"email": None, "bad": {"dataType": "string", "value": None}},
    ]
    table = pa.table(
        {
            "id": ["e1", "e2", "e3"],
            "customerId": ["c1"] * 3,
            "eventType": ["com.genesys.journey.WebEvent"] * 3,
            "createdDate": [f"2026-12-01T08:0{i}:00.000Z" for i in range(3)],
            "webEvent": pa.array(
                [{"eventName": "page_viewed", "traits": t} for t in traits], type=web
            ),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    r = read_events([tmp_path / "t.parquet"], on_error="skip")
    assert r.rejects.select("line", "reason").rows() == [(2, "wrong_type")]
    got = dict(r.canonical().select("event_id", "traits").iter_rows())
    assert got["e1"] == [{"name": "email", "data_type": "string", "value": "ann@example.com"}]
    assert set(got) == {"e1", "e3"}


def test_a_glob_and_a_partition_named_with_an_underscore_are_read(tmp_path: Path) -> None:
    """Leaving `_` names out of a folder (a Delta log) also left out a Hive partition
    folder `_year=2026` without a word, and every `_` name a glob matched (`exp/*.jsonl`
    over `exp/_a.jsonl`, even `exp/_*.jsonl`: "the pattern matches no file"); a folder of
    only `_` files was said to hold no event file at all."""
    from jtrack.errors import JtrackError
    from jtrack.read import expand_sources

    line = _FLAT + "}"
    (tmp_path / "hive" / "_year=2026").mkdir(parents=True)
    _one(tmp_path / "hive" / "_year=2026" / "p.jsonl", line)
    (tmp_path / "exp").mkdir()
    _one(tmp_path / "exp" / "_a.jsonl", line)

    def names(src: str) -> list[str]:
        return [str(Path(s.name).relative_to(tmp_path)) for s in expand_sources([src])]

    assert names(str(tmp_path / "hive")) == ["hive/_year=2026/p.jsonl"]
    for pattern in ("exp/*.jsonl", "exp/_*.jsonl", "*/_a.jsonl"):
        assert names(str(tmp_path / pattern)) == ["exp/_a.jsonl"], pattern
    with pytest.raises(JtrackError) as err:
        expand_sources([str(tmp_path / "exp")])
    assert "outside names starting with _ or . (_a.jsonl)" in str(err.value)


def test_a_json_normalize_file_with_an_object_null_in_some_rows_is_read(tmp_path: Path) -> None:
    """`pandas.json_normalize` of events whose referrer is null in one row and an object in
    another writes a `webEvent.referrer` column (null in every row) beside
    `webEvent.referrer.url`: the whole file was refused ("a value and an object at one
    path"); it is read as its JSON is."""
    pd = pytest.importorskip("pandas", reason="pandas writes this file (pip install pandas)")
    rows = [
        {**GENESYS[0], "webEvent": {**GENESYS[0]["webEvent"], "referrer": None}},
        {
            **GENESYS[1],
            "webEvent": {
                **GENESYS[1]["webEvent"],
                "referrer": {"url": "https://www.google.com/", "hostname": "www.google.com"},
            },
        },
    ]
    for r in rows:  # (attributes and traits as json_normalize leaves them: one per row)
        r["webEvent"].pop("attributes", None)
        r["webEvent"].pop("traits", None)
    pd.json_normalize(rows).to_parquet(tmp_path / "jn.parquet")
    src = _jsonl(tmp_path / "jn.jsonl", rows)
    cols = ["event_id", "referrer_url", "referrer_hostname"]
    assert_frame_equal(_canon(tmp_path / "jn.parquet").select(cols), _canon(src).select(cols))


@pytest.mark.parametrize("last_newline", [True, False])
def test_a_line_with_bytes_not_in_utf8_is_measured_as_the_file_holds_it(
    tmp_path: Path, last_newline: bool
) -> None:
    """Each byte that is not UTF-8 counted as the escape that shows it (`\\xe9`, 4 or 6
    bytes) made a line that fits --max-line-bytes `line_too_long`, with a false length;
    and a line too long to be read (here the file's last, unfinished one) lost its bytes to
    U+FFFD in the reject's raw."""
    title = b"caf\xe9 cr\xe8me br\xfbl\xe9e"
    line = (
        b'{"event_id":"b1","customer_id":"v","created_date":"2026-10-08T10:00:00Z",'
        b'"event_type":"WebEvent","event_name":"page_viewed","page_title":"' + title + b'"}'
    )
    path = tmp_path / "cp1252.jsonl"
    path.write_bytes(line + (b"\n" if last_newline else b""))
    fits = read_events([path], on_error="skip", max_line_bytes=len(line))
    assert fits.rejects["reason"].to_list() == ["invalid_utf8"]
    over = read_events([path], on_error="skip", max_line_bytes=len(line) - 1)
    assert over.rejects["reason"].to_list() == ["line_too_long"]
    assert over.rejects["detail"][0] == f"the line is {len(line)} bytes long"
    assert "caf\\xe9 cr\\xe8me br\\xfbl\\xe9e" in over.rejects["raw"][0]


def test_the_raw_of_a_line_too_long_to_read_is_cut_after_its_bytes_are_shown(
    tmp_path: Path,
) -> None:
    """A line too long to be read keeps its first bytes in the reject's raw, each byte not in
    UTF-8 shown `\\xNN`: cut to the raw's length after that, as Spark cuts it (it was cut
    before, four times as long as any other reject's raw)."""
    from jtrack.read.decode import _RAW_KEEP

    good = _FLAT.replace("e1", "g1") + "}"
    path = tmp_path / "long.jsonl"
    path.write_bytes(good.encode() + b"\n" + b'{"page_title":"' + b"\xe9" * 2_000_000 + b'"}\n')
    r = read_events([path], on_error="skip", max_line_bytes=100_000)
    assert r.rejects["reason"].to_list() == ["line_too_long"]
    raw = r.rejects["raw"][0]
    assert len(raw) == _RAW_KEEP and raw.startswith('{"page_title":"\\xe9\\xe9')


# ---- drifting exports: fields jtrack does not read, and what a shape message names ---------


def _flat_rows(**extra: list) -> dict[str, list]:
    return {
        "event_id": ["e1", "e2"],
        "customer_id": ["v1", "v1"],
        "created_date": ["2026-09-01T10:00:00Z", "2026-09-01T10:01:00Z"],
        "event_type": ["WebEvent", "WebEvent"],
        "event_name": ["page_viewed", "page_viewed"],
        **extra,
    }


def test_renamed_parquet_columns_are_noted_with_the_field_they_may_be(tmp_path: Path) -> None:
    src = tmp_path / "month.parquet"
    pl.DataFrame(
        _flat_rows(
            pageUrl=["https://x/", None],
            searchQuery=["tent", "tent"],
            deviceCategory=["mobile", "mobile"],
            utm_source=["google", "google"],
            utm_id=["1", "1"],
            browser_engine=["blink", "blink"],
            __index_level_0__=[0, 1],
        )
    ).write_parquet(src)
    res = read_events([src])
    assert res.files[0].unread == {
        "pageUrl": 1,
        "searchQuery": 2,
        "deviceCategory": 2,
        "utm_id": 2,
        "browser_engine": 2,
    }
    (note,) = res.notes
    assert note.startswith(f"{src}: columns jtrack does not read were left out")
    assert "`pageUrl` in 1 row (did you mean `page_url`?)" in note
    assert "`searchQuery` in 2 rows (did you mean `search_query`?)" in note
    assert "utm_source" not in note  # (read as the campaign's source)
    assert res.events["mkt_campaign_source"].to_list() == ["google", "google"]
    assert "`browser_engine` in 2 rows;" in note  # (nothing near: no guess)
    assert "__index_level_0__" not in note
    assert res.files[0].accounting()["unread_fields"]["searchQuery"] == 2


def test_renamed_genesys_keys_are_noted_from_a_sample_of_lines(tmp_path: Path) -> None:
    rows = [
        {
            "id": f"e{i}",
            "customerId": "v1",
            "createdDate": f"2026-09-01T10:{i:02d}:00Z",
            "eventType": "WebEvent",
            "selfUri": "/api/v2/journey/events/x",  # (known, left unread on purpose)
            "webEvent": {
                "eventName": "page_viewed",
                "search_query": "tent",
                "mkt_campaign": {"source": "google"},
                "browser": {"family": "Chrome", "engine": "blink"},
                "device": {"hasTouch": True},
                "page": {"url": "https://x/", "breadcrumb": ["a"]},
                "attributes": {"anyName": {"dataType": "string", "value": "v"}},
            },
        }
        for i in range(3)
    ]
    res = read_events([_jsonl(tmp_path / "a.jsonl", rows)])
    st = res.files[0]
    assert st.looked == 3
    assert st.unread == {
        "webEvent.search_query": 3,
        "webEvent.mkt_campaign": 3,
        "webEvent.browser.engine": 3,
        "webEvent.device.hasTouch": 3,
    }
    (note,) = res.notes
    assert "(did you mean `webEvent.searchQuery`?)" in note
    assert "(did you mean `webEvent.mktCampaign`?)" in note
    assert "of the 3 events looked at (a sample" in note


def test_the_store_keeps_a_bounded_list_of_a_files_unread_fields(tmp_path: Path) -> None:
    """A file of junk keys (70,000 a line) put every name in the manifest's record of the
    input: 20 MB a file, rewritten by every run, and every command slower. The record keeps
    the first names, each cut, and how many more there were."""
    from jtrack.store.manifest import UNREAD_KEPT, UNREAD_NAME_CHARS

    row = {
        "event_id": "e1",
        "customer_id": "c1",
        "created_date": "2026-10-01T10:00:00Z",
        "event_type": "WebEvent",
        "event_name": "page_viewed",
        **{f"junk{i:05d}" + "x" * (i % 7) * 60: 1 for i in range(3_000)},
    }
    src = tmp_path / "junk.jsonl"
    src.write_text(json.dumps(row) + "\n", encoding="utf-8")
    store = Store.open(tmp_path / "st")
    run_sessionize([src], store)
    (record,) = store.read_manifest().inputs
    assert len(record.unread) == UNREAD_KEPT and record.unread_more == 3_000 - UNREAD_KEPT
    assert record.unread[0] == "junk00000" and max(map(len, record.unread)) == UNREAD_NAME_CHARS
    manifest = next((store.root / "versions").iterdir()) / "manifest.json"
    assert manifest.stat().st_size < 60_000, manifest.stat().st_size
    # (a manifest an earlier jtrack wrote, every name kept: read with the few)
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["inputs"][0]["unread"] = ["y" * 300 + str(i) for i in range(150)]
    del data["inputs"][0]["unread_more"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    (record,) = Store.open(store.root).read_manifest().inputs
    assert len(record.unread) == UNREAD_KEPT and record.unread_more == 50
    assert max(map(len, record.unread)) == UNREAD_NAME_CHARS


def test_a_large_json_lines_file_is_sampled_not_read_key_by_key(tmp_path: Path) -> None:
    from jtrack.read.fields import SAMPLE_HEAD, SAMPLE_SPREAD

    line = json.dumps(GENESYS[0])
    odd = json.dumps({**GENESYS[0], "id": "late", "newField": 1})
    src = tmp_path / "big.jsonl"
    src.write_text("\n".join([line] * 5000 + [odd]) + "\n")
    res = read_events([src])
    st = res.files[0]
    assert st.looked is not None and st.looked <= SAMPLE_HEAD + SAMPLE_SPREAD
    assert st.unread == {}  # (the last line only: not in the sample, as the README says)


def test_upper_case_columns_are_read_as_the_fields_exact_names_first(tmp_path: Path) -> None:
    src = tmp_path / "snowflake.parquet"
    pl.DataFrame({k.upper(): v for k, v in _flat_rows().items()}).write_parquet(src)
    res = read_events([src])
    assert res.events.height == 2
    assert res.files[0].renamed["EVENT_ID"] == "event_id"
    assert any("columns read ignoring case" in n for n in res.notes)
    both = tmp_path / "both.parquet"  # (the exact name is read; the other is not)
    pl.DataFrame({**_flat_rows(), "EVENT_NAME": ["x", "y"]}).write_parquet(both)
    res = read_events([both])
    assert res.events["event_name"].to_list() == ["page_viewed", "page_viewed"]
    assert res.files[0].renamed == {} and "EVENT_NAME" in res.files[0].unread


def test_camel_case_flat_parquet_is_said_to_be_the_flat_shape_in_camel_case(
    tmp_path: Path,
) -> None:
    src = tmp_path / "camel.parquet"
    pl.DataFrame(
        {
            "eventId": ["e1"],
            "customerId": ["v1"],
            "createdDate": ["2026-09-01T10:00:00Z"],
            "eventType": ["WebEvent"],
        }
    ).write_parquet(src)
    with pytest.raises(Exception) as err:
        read_events([src])
    said = str(err.value.message) + str(err.value.hint)  # type: ignore[attr-defined]
    assert "eventId, customerId, createdDate look like the flat shape in camelCase" in said
    assert "event_id, customer_id" in said


def test_a_missing_event_type_column_names_the_column_the_file_has(tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    rows = _flat_rows()
    rows["eventType"] = rows.pop("event_type")
    pl.DataFrame(rows).write_parquet(src)
    with pytest.raises(RejectedRowError) as err:
        read_events([src])
    assert "no event_type" in err.value.message
    assert "the file has `eventType`" in err.value.message
    assert "did you mean `event_type`?" in err.value.message


def test_an_unknown_event_type_shows_the_value_and_how_many_rows(tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    pl.DataFrame(
        _flat_rows(event_type=["com.genesys.journey.ConversationEvent"] * 2)
    ).write_parquet(src)
    with pytest.raises(RejectedRowError) as err:
        read_events([src])
    assert 'event_type is "com.genesys.journey.ConversationEvent"' in err.value.message
    assert "2 of the 2 rows read with it have it" in err.value.message
    res = read_events([src], on_error="skip")
    assert res.rejects["detail"].str.contains("ConversationEvent").all()


def test_a_renamed_web_event_object_is_named_in_the_reject(tmp_path: Path) -> None:
    row = {**GENESYS[0], "eventType": "WebEvent", "web_event": GENESYS[0]["webEvent"]}
    del row["webEvent"]
    with pytest.raises(RejectedRowError) as err:
        read_events([_jsonl(tmp_path / "a.jsonl", [row])])
    assert "the file has `web_event`" in err.value.message
    assert "did you mean `webEvent`?" in err.value.message


def test_attributes_as_a_map_of_text_are_read_without_a_data_type(tmp_path: Path) -> None:
    src = tmp_path / "m.parquet"
    t = pa.table(
        {
            **{k: v[:1] for k, v in _flat_rows().items()},
            "attributes": pa.array([[("price", "179.5")]], type=pa.map_(pa.string(), pa.string())),
        }
    )
    pq.write_table(t, src)
    res = read_events([src])
    assert res.events["attributes"].to_list() == [
        [{"name": "price", "data_type": None, "value": "179.5"}]
    ]


@pytest.mark.parametrize(
    ("value", "shown"), [(390.5, "browser_view_width is 390.5"), ("wide", '"wide"')]
)
def test_a_value_that_does_not_convert_is_shown_in_the_detail(
    tmp_path: Path, value: object, shown: str
) -> None:
    src = tmp_path / "p.parquet"
    pl.DataFrame(_flat_rows(browser_view_width=[value, value])).write_parquet(src)
    line = _jsonl(tmp_path / "p.jsonl", [{k: v[0] for k, v in _flat_rows().items()}])
    line.write_text(json.dumps({**json.loads(line.read_text()), "browser_view_width": value}))
    for path in (src, line):
        with pytest.raises(RejectedRowError) as err:
            read_events([path])
        assert shown in err.value.message and "expected a whole number" in err.value.message


# ---- fields Genesys derives from URLs, derived where the export left them out --------------


def _web(event_id: str, **web: object) -> dict:
    return {
        "id": event_id,
        "customerId": "c-" + event_id,
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": "2026-10-05T10:00:00Z",
        "webEvent": {"eventName": "page_viewed", **web},
    }


def test_a_referrer_given_as_a_url_only_gets_its_parts_as_genesys_fills_them(
    tmp_path: Path,
) -> None:
    """A referrer given only as a URL (flat `referrer_url`, Genesys `referrer.url`) was
    stored without a host: every report counted the visit as direct."""
    rows = [
        {
            "event_id": "f1",
            "customer_id": "c1",
            "created_date": "2026-10-05T10:00:00Z",
            "event_type": "WebEvent",
            "event_name": "page_viewed",
            "page_url": "https://www.shop.test/sale",
            "referrer_url": "https://WWW.Google.com:443/search?q=tents#top",
        },
        {  # (what the export gives is kept: the host, and the parts it gives)
            "event_id": "f2",
            "customer_id": "c2",
            "created_date": "2026-10-05T10:00:00Z",
            "event_type": "WebEvent",
            "event_name": "page_viewed",
            "referrer_url": "https://news.bbc.co.uk/a?b=1",
            "referrer_hostname": "bbc news",
        },
    ]
    f = _jsonl(tmp_path / "f.jsonl", rows)
    g = _jsonl(
        tmp_path / "g.jsonl",
        [
            _web(
                "g1",
                page={"url": "https://www.shop.test/"},
                referrer={"url": "https://www.bbc.co.uk"},
            ),
            _web("g2", referrer={"url": "https://l.instagram.com/x", "pathname": "/given"}),
            _web("g3", referrer={"url": "not a url"}),
        ],
    )
    pq_file = tmp_path / "f.parquet"
    pl.read_ndjson(f).write_parquet(pq_file)
    cols = ["referrer_hostname", "referrer_domain", "referrer_pathname", "referrer_query_string"]
    for src in (f, pq_file):
        got = _canon(src).select("event_id", *cols).rows()
        assert got == [
            ("f1", "www.google.com", "google.com", "/search", "q=tents"),
            ("f2", "bbc news", None, None, None),
        ], src
    assert _canon(g).select("event_id", *cols).rows() == [
        ("g1", "www.bbc.co.uk", "bbc.co.uk", "/", None),
        ("g2", "l.instagram.com", "instagram.com", "/given", None),
        ("g3", None, None, None, None),
    ]
    _, sessions = _store(tmp_path, "st", g)
    assert sorted(sessions["referrer_hostname"].drop_nulls()) == [
        "l.instagram.com",
        "www.bbc.co.uk",
    ]


def test_utm_parameters_of_the_page_url_are_the_campaign_of_an_event_without_one(
    tmp_path: Path,
) -> None:
    """UTM parameters in the landing page's URL with no mktCampaign gave no campaign (Genesys
    derives mktCampaign from them); a campaign the export gives is never changed, not even
    in part."""
    page = (
        "https://www.shop.test/jackets?x=1&UTM_Source=news+letter&utm_medium=e%2Dmail"
        "&utm_campaign=caf%C3%A9%20news&utm_content=100%&gclid=abc#utm_term=no"
    )
    g = _jsonl(
        tmp_path / "g.jsonl",
        [
            _web("g1", page={"url": page}),
            _web("g2", page={"url": page}, mktCampaign={"term": "given"}),
            _web("g3", page={"url": page}, mktCampaign={"clickId": "k"}),
            _web("g4", page={"url": "https://www.shop.test/?utm_source=&gclid="}),
            _web("g5", page={"url": "https://www.shop.test/?fbclid=f1&msclkid=m1"}),
        ],
    )
    cols = [
        "mkt_campaign_source",
        "mkt_campaign_medium",
        "mkt_campaign_name",
        "mkt_campaign_term",
        "mkt_campaign_content",
        "mkt_campaign_click_id",
    ]
    assert _canon(g).select("event_id", *cols).rows() == [
        ("g1", "news letter", "e-mail", "café news", None, "100%", "abc"),
        ("g2", None, None, None, "given", None, None),
        ("g3", None, None, None, None, None, "k"),
        ("g4", None, None, None, None, None, None),
        ("g5", None, None, None, None, None, "f1"),
    ]
    _, sessions = _store(tmp_path, "st", g)
    first = sessions.filter(pl.col("mkt_campaign_name").is_not_null())
    assert first.select("mkt_campaign_source", "mkt_campaign_name").rows() == [
        ("news letter", "café news")
    ]


def test_a_flat_exports_utm_columns_are_read_as_its_campaign(tmp_path: Path) -> None:
    """`utm_source`-style columns (another tracker's export) were left out with a "did you
    mean" note: they are the campaign's fields, read where its own column has no value."""
    rows = [
        {
            "event_id": "e1",
            "customer_id": "c1",
            "created_date": "2026-10-05T10:00:00Z",
            "event_type": "WebEvent",
            "event_name": "page_viewed",
            "page_url": "https://www.shop.test/?utm_medium=cpc",
            "utm_source": "Google",
            "utm_campaign": "Autumn",
            "mkt_campaign_name": "own",
        }
    ]
    for src in (_jsonl(tmp_path / "f.jsonl", rows), tmp_path / "f.parquet"):
        if src.suffix == ".parquet":
            pl.read_ndjson(tmp_path / "f.jsonl").write_parquet(src)
        res = read_events([src])
        got = res.events.select("mkt_campaign_source", "mkt_campaign_medium", "mkt_campaign_name")
        assert got.rows() == [("Google", None, "own")], src  # (the page's medium: not in part)
        assert not res.notes, res.notes


def test_url_fields_take_the_first_utm_value_the_last_at_and_keep_blanks_given(
    tmp_path: Path,
) -> None:
    """Review of the URL fields: a repeated utm key gave its last value (the README and URL
    parsers: the first); `&amp;` ended the query; `user@a@b` gave the host `a@b` (WHATWG:
    `b`); a blank host the export gave became null where nothing could be derived; a flat
    `utm_source` of whole numbers was dropped without a note, one of floats is noted."""
    from jtrack.read.urls import query_value, referrer_parts

    urls = pl.DataFrame(
        {
            "u": [
                "https://x.test/?utm_source=a&utm_source=b",
                "https://x.test/?utm_source=&utm_source=b",
                "https://x.test/?q=1&amp;utm_source=n&amp;utm_medium=email",
                "https://x.test/?xutm_source=z#utm_source=y",
                "https://user@shop.test@evil.com:8080/p?q=1",
            ]
        }
    )
    got = urls.select(
        s=query_value(pl.col("u"), "utm_source"),
        m=query_value(pl.col("u"), "utm_medium"),
        h=referrer_parts(pl.col("u"))["referrer_hostname"],
    )
    assert got.get_column("s").to_list() == ["a", None, "n", None, None]
    assert got.get_column("m").to_list() == [None, None, "email", None, None]
    assert got.get_column("h").to_list()[-1] == "evil.com"
    blank = _web("b1", referrer={"url": "www.google.com/search", "hostname": "", "pathname": ""})
    events = read_events([_jsonl(tmp_path / "b.jsonl", [blank])]).events
    assert events.select("referrer_hostname", "referrer_pathname").row(0) == ("", "")
    base = _flat_rows()
    n = len(base["event_id"])
    pl.DataFrame({**base, "utm_source": [2024] * n}).write_parquet(tmp_path / "i.parquet")
    res = read_events([tmp_path / "i.parquet"])
    assert res.events.get_column("mkt_campaign_source").to_list() == ["2024"] * n
    assert not res.notes
    pl.DataFrame({**base, "utm_source": [1.5] * n}).write_parquet(tmp_path / "x.parquet")
    res = read_events([tmp_path / "x.parquet"])
    assert res.events.get_column("mkt_campaign_source").is_null().all()
    assert res.notes and "`utm_source`" in res.notes[0], res.notes
