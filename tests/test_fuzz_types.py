"""Fuzzing by value type and Arrow type: whatever a row holds, a `--on-error skip` read accounts
for it (an event or a reject with a reason), never an internal error, and the same rule holds on
every path.

JSON: events whose fields hold any JSON value (huge integers, 1e400, lone surrogate escapes,
repeated keys, objects where text is expected, ...) read the same as JSON lines and as a JSON
document. Parquet: flat files whose columns have any Arrow type (extension types, time zones
Polars does not know, decimals, binary, nested lists and maps, dictionaries, ...) read the same
whole and a few rows at a time. The default budget is small; `-m slow` runs a large one
(FUZZ_EXAMPLES overrides it).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jtrack.errors import DataError
from jtrack.read import SRC_FILE, SRC_LINE, Source, expand_sources, iter_source_rows, read_events

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SLOW = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = "2026-10-03T09:12:03.120Z"

# ---- JSON values, written as raw JSON text ----------------------------------------------------


class Raw:
    """JSON text written as it is (numbers JSON allows but Python would not write so)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:30]!r})"


def _number_texts() -> st.SearchStrategy[Raw]:
    return st.one_of(
        st.integers(-(2**130), 2**130).map(lambda n: Raw(str(n))),
        st.integers(40, 5000).map(lambda n: Raw("1" * n)),
        st.sampled_from(["1e400", "-1e400", "1E5", "-0", "0.1", "1.5e-400", "2e308", "1.50"]).map(
            Raw
        ),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Raw(repr(f))),
    )


_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_texts = st.one_of(
    st.text(max_size=6),
    st.lists(st.one_of(st.characters(), _surrogates), max_size=4).map("".join),
    st.sampled_from(["2026-10-03T09:00:00Z", "page_viewed", "", "  ", "\x00"]),
)
_scalars = st.one_of(st.none(), st.booleans(), _texts, _number_texts())


class Dup:
    """An object as (key, value) pairs: keys may repeat."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"Dup({self.pairs!r})"


json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.lists(st.tuples(st.sampled_from(["k", "value", "dataType"]), inner), max_size=3).map(
            Dup
        ),
    ),
    max_leaves=6,
)


def encode(value: Any) -> str:
    """Raw JSON text: repeated keys and raw numbers as they are; strings ASCII-escaped (so a
    lone surrogate is an escape, as exports write it)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Dup):
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=True)


# the Genesys paths a value may land on (and their parents, so objects are replaced whole)
_PATHS = [
    "id",
    "customerId",
    "createdDate",
    "eventType",
    "customerIdType",
    "session",
    "webEvent",
    "webEvent.eventName",
    "webEvent.page",
    "webEvent.page.title",
    "webEvent.page.url",
    "webEvent.searchQuery",
    "webEvent.browser.viewWidth",
    "webEvent.device.isMobile",
    "webEvent.geolocation.latitude",
    "webEvent.attributes",
    "webEvent.attributes.sku",
    "webEvent.attributes.sku.value",
    "webEvent.traits",
    "webEvent.totalEventCount",
    "note",
]


def _base(i: int) -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "customerId": f"v{i % 3}",
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": T0,
        "webEvent": {
            "eventName": "page_viewed",
            "page": {"url": "https://x.example/", "title": "Home"},
            "browser": {"viewWidth": 1280},
            "attributes": {"sku": {"dataType": "string", "value": "A-1"}},
        },
    }


def _put(event: dict[str, Any], path: str, value: Any) -> None:
    node = event
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = node[p] = {}
        node = nxt
    node[parts[-1]] = value


@st.composite
def json_events(draw: st.DrawFn) -> list[str]:
    """JSON text of a few events, each with some fields holding any JSON value."""
    lines = []
    for i in range(draw(st.integers(1, 6))):
        e: dict[str, Any] = _base(i)
        for path in draw(st.lists(st.sampled_from(_PATHS), max_size=3, unique=True)):
            _put(e, path, draw(json_values))
        lines.append(encode(e))
    return lines


def _outcome(read: Any) -> tuple[Any, ...]:
    events = read.events.drop(SRC_FILE).sort(SRC_LINE)
    rejects = read.rejects.select("line", "reason", "field").sort("line").rows()
    return events.to_dicts(), rejects, read.rows_read


def _read(name: str, data: bytes) -> Any:
    return read_events([Source(name, data=data)], on_error="skip")


def check_json_paths_agree(lines: list[str]) -> None:
    jl = ("\n".join(lines) + "\n").encode()
    # (each entity starts on the line it has in the JSON lines: a document's rejects name
    # the line an entity starts on)
    doc = ("[" + ",\n".join(lines) + "\n]\n").encode()
    a = _read("fuzz.jsonl", jl)
    b = _read("fuzz.json", doc)
    for read in (a, b):
        assert read.rows_read == read.events.height + read.rejects.height == len(lines)
        assert read.rejects["reason"].null_count() == 0
        assert read.rejects["detail"].null_count() == 0
    assert _outcome(a) == _outcome(b)


@FAST
@given(json_events())
def test_any_json_value_in_any_field_reads_the_same_as_lines_and_as_a_document(
    lines: list[str],
) -> None:
    check_json_paths_agree(lines)


@pytest.mark.slow
@SLOW
@given(json_events())
def test_json_values_large_budget(lines: list[str]) -> None:
    check_json_paths_agree(lines)


@pytest.mark.parametrize(
    "attributes",
    [
        '{"k": null, "k": {"value": false}}',  # found at the large budget
        '{"k": {"value": false}, "k": null}',
        '{"k": 1, "k": {"value": "x", "dataType": "string"}}',
    ],
)
def test_a_repeated_attribute_name_keeps_its_first_value_in_json_lines_too(
    attributes: str,
) -> None:
    """Polars keeps the last value of a repeated key in a map; rows where a name repeats
    with a value that is no {"value": ...} object were not decoded again, so JSON lines
    kept the last value and a JSON document the first."""
    line = (
        '{"id": "e0", "customerId": "v0", "eventType": "com.genesys.journey.WebEvent", '
        '"createdDate": "2026-10-03T09:12:03.120Z", "webEvent": {"eventName": "page_viewed", '
        f'"page": {{"url": "https://x.example/"}}, "attributes": {attributes}}}}}'
    )
    check_json_paths_agree([line])


# ---- Arrow types --------------------------------------------------------------------------------


class _Ext(pa.ExtensionType):
    def __init__(self, storage: pa.DataType) -> None:
        super().__init__(storage, "jtrack.fuzz.ext")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> _Ext:
        return cls(storage_type)


_ZONES = ["UTC", "+02:00", "+05:30", "-03:30", "Z", "Europe/London", "UTC+2", "Mars/Olympus"]
_T = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)

_primitive_types = st.one_of(
    st.sampled_from(
        [
            pa.int8(),
            pa.int32(),
            pa.int64(),
            pa.uint64(),
            pa.float32(),
            pa.float64(),
            pa.bool_(),
            pa.string(),
            pa.large_string(),
            pa.binary(),
            pa.large_binary(),
            pa.binary(4),
            pa.date32(),
            pa.date64(),
            pa.time64("us"),
            pa.duration("ms"),
            pa.null(),
            pa.decimal128(12, 2),
            pa.dictionary(pa.int32(), pa.string()),
        ]
    ),
    st.builds(pa.timestamp, st.sampled_from(["s", "ms", "us", "ns"]), st.sampled_from(_ZONES)),
    st.builds(pa.timestamp, st.sampled_from(["ms", "us"])),
)
arrow_types = st.recursive(
    _primitive_types,
    lambda inner: st.one_of(
        st.builds(pa.list_, inner),
        st.builds(pa.large_list, inner),
        st.builds(lambda t: pa.struct([("name", pa.string()), ("value", t)]), inner),
        st.builds(lambda t: pa.struct([("a", t)]), inner),
        st.builds(lambda t: pa.map_(pa.string(), pa.struct([("value", t)])), inner),
    ),
    max_leaves=3,
)
#: a column's type: any of the above, sometimes as an extension type over it
column_types = st.one_of(arrow_types, st.builds(_Ext, arrow_types))


def _values(draw: st.DrawFn, t: pa.DataType, n: int) -> list[Any]:
    """n Python values of Arrow type t (None allowed)."""
    maybe = st.booleans()

    def one(t: pa.DataType) -> Any:
        if draw(maybe) and draw(maybe):
            return None
        if isinstance(t, pa.ExtensionType):
            return one(t.storage_type)
        if pa.types.is_null(t):
            return None
        if pa.types.is_boolean(t):
            return draw(st.booleans())
        if pa.types.is_integer(t):
            info = (8 if t.bit_width == 8 else t.bit_width) - (
                0 if pa.types.is_unsigned_integer(t) else 1
            )
            lo = 0 if pa.types.is_unsigned_integer(t) else -(2**info)
            return draw(st.integers(lo, 2**info - 1))
        if pa.types.is_floating(t):
            return draw(st.floats(width=32 if t.bit_width == 32 else 64))
        if pa.types.is_decimal(t):
            return Decimal(draw(st.integers(-(10**9), 10**9))) / 100
        if pa.types.is_dictionary(t):
            return draw(st.sampled_from(["WebEvent", "x", ""]))
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return draw(st.sampled_from(["2026-10-03T09:00:00Z", "page_viewed", "v1", "", "x"]))
        if pa.types.is_fixed_size_binary(t):
            return draw(st.binary(min_size=t.byte_width, max_size=t.byte_width))
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return draw(st.binary(max_size=4))
        if pa.types.is_timestamp(t):
            when = _T + timedelta(minutes=draw(st.integers(-(10**6), 10**6)))
            return when if t.tz else when.replace(tzinfo=None)
        if pa.types.is_date(t):
            return (_T + timedelta(days=draw(st.integers(-1000, 1000)))).date()
        if pa.types.is_time(t):
            return (_T + timedelta(seconds=draw(st.integers(0, 86399)))).time()
        if pa.types.is_duration(t):
            return timedelta(seconds=draw(st.integers(-1000, 1000)))
        if pa.types.is_struct(t):
            return {t.field(i).name: one(t.field(i).type) for i in range(t.num_fields)}
        if pa.types.is_map(t):
            return [
                (k, one(t.item_type)) for k in draw(st.lists(st.sampled_from("abc"), max_size=2))
            ]
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return [one(t.value_type) for _ in range(draw(st.integers(0, 2)))]
        raise AssertionError(t)

    return [one(t) for _ in range(n)]


def _array(t: pa.DataType, values: list[Any]) -> pa.Array:
    if isinstance(t, pa.ExtensionType):
        return pa.ExtensionArray.from_storage(t, _array(t.storage_type, values))
    if pa.types.is_dictionary(t):
        return pa.array(values, type=pa.string()).dictionary_encode()
    return pa.array(values, type=t)


_COLUMNS = [
    "event_id",
    "customer_id",
    "created_date",
    "event_type",
    "event_name",
    "page_title",
    "browser_view_width",
    "device_is_mobile",
    "geolocation_latitude",
    "attributes",
    "traits",
    "extra",
]


@st.composite
def arrow_parquet(draw: st.DrawFn) -> bytes:
    """A flat-shaped Parquet file: plausible columns, some of them of a random Arrow type."""
    n = draw(st.integers(0, 7))
    stamps = [_T + timedelta(minutes=i) for i in range(n)]
    cols: dict[str, pa.Array] = {
        "event_id": pa.array([f"e{i % 5}" for i in range(n)]),
        "customer_id": pa.array([f"v{i % 2}" for i in range(n)]),
        "created_date": pa.array(stamps, type=pa.timestamp("us", tz="UTC")),
        "event_type": pa.array(["WebEvent"] * n),
        "event_name": pa.array(["page_viewed"] * n),
    }
    for name in draw(st.lists(st.sampled_from(_COLUMNS), min_size=1, max_size=4, unique=True)):
        t = draw(column_types)
        cols[name] = _array(t, _values(draw, t, n))
    table = pa.table(cols)
    buf = io.BytesIO()
    try:
        pq.write_table(table, buf, row_group_size=max(1, draw(st.integers(1, 4))))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        assume(False)  # a type Parquet cannot hold at all: not an input anyone has
    return buf.getvalue()


def check_parquet(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.parquet"
        path.write_bytes(data)
        try:
            whole = read_events([path], on_error="skip")
        except DataError as exc:  # the file as a whole: one clear message naming it
            assert str(exc).startswith(str(path)) and exc.hint
            with pytest.raises(DataError):
                list(iter_source_rows(expand_sources([path])[0], 0, 2))
            return
        assert whole.rows_read == whole.events.height + whole.rejects.height
        assert whole.rejects["reason"].null_count() == 0
        assert whole.rejects["raw"].null_count() == 0
        chunks = list(iter_source_rows(expand_sources([path])[0], 0, 2))
        rows = pl.concat([c for c, _ in chunks], how="vertical") if chunks else None
        assert rows is not None
        # far_future is decided over the whole run (read_events), not per chunk
        far = whole.rejects.filter(pl.col("reason") == "far_future")["line"].to_list()
        kept = rows.filter(pl.col("_reason").is_null() & ~pl.col(SRC_LINE).is_in(far))
        assert kept.height == whole.events.height
        assert kept.select(whole.events.columns).equals(whole.events)
        assert sorted(rows["_reason"].drop_nulls().to_list()) == sorted(
            whole.rejects.filter(pl.col("reason") != "far_future")["reason"].to_list()
        )
        assert chunks[-1][1].rows_read == whole.rows_read


@FAST
@given(arrow_parquet())
def test_parquet_of_any_arrow_type_is_accounted_for_whole_and_in_chunks(data: bytes) -> None:
    check_parquet(data)


@pytest.mark.slow
@SLOW
@given(arrow_parquet())
def test_arrow_types_large_budget(data: bytes) -> None:
    check_parquet(data)


# ---- numbers: Parquet and JSON give the same text ---------------------------------------------


@st.composite
def numbers_both_ways(draw: st.DrawFn) -> tuple[pa.DataType, list[Any], list[str]]:
    """A column of numbers of one Arrow type (float64, the column pandas writes for whole
    numbers with a null; int64; a decimal of at most 15 digits, which a JSON reader's
    double holds exactly), and each number as JSON text (Python's shortest, `1e+21` too)."""
    kind = draw(st.sampled_from(["float64", "int64", "decimal"]))
    n = draw(st.integers(1, 8))
    if kind == "float64":
        special = st.sampled_from([100003.0, 27.0, -0.0, 1e21, 1e16, 1e-7, 5e-324, 1e300, 0.1])
        floats = st.floats(allow_nan=False, allow_infinity=False)
        whole = st.integers(-(2**53), 2**53).map(float)
        xs = draw(st.lists(st.one_of(floats, whole, special), min_size=n, max_size=n))
        return pa.float64(), xs, [repr(x) for x in xs]
    if kind == "int64":
        ints = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
        return pa.int64(), ints, [str(x) for x in ints]
    scale = draw(st.integers(0, 6))
    units = draw(st.lists(st.integers(-(10**15) + 1, 10**15 - 1), min_size=n, max_size=n))
    values = [Decimal(u).scaleb(-scale) for u in units]
    return pa.decimal128(15, scale), values, [str(abs(v)) if v == 0 else str(v) for v in values]


def _number_events(
    t: pa.DataType, values: list[Any], texts: list[str], layout: str
) -> tuple[bytes, bytes]:
    """The same events as JSON lines and as Parquet, each number as customer_id, page_title
    and attribute `a`'s value (in Parquet: attributes as a list of entries, a struct keyed
    by name, or a map)."""
    n = len(values)
    lines = [
        f'{{"event_id":"e{i}","customer_id":{x},"created_date":"{T0}","event_type":"WebEvent",'
        f'"event_name":"page_viewed","page_title":{x},'
        f'"attributes":[{{"name":"a","data_type":"number","value":{x}}}]}}'
        for i, x in enumerate(texts)
    ]
    entry = pa.struct([("dataType", pa.string()), ("value", t)])
    if layout == "list":
        attrs = pa.array(
            [[{"name": "a", "data_type": "number", "value": v}] for v in values],
            pa.list_(pa.struct([("name", pa.string()), ("data_type", pa.string()), ("value", t)])),
        )
    elif layout == "struct":
        attrs = pa.array(
            [{"a": {"dataType": "number", "value": v}} for v in values], pa.struct([("a", entry)])
        )
    else:
        attrs = pa.array(
            [[("a", {"dataType": "number", "value": v})] for v in values],
            pa.map_(pa.string(), entry),
        )
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "customer_id": pa.array(values, t),
            "created_date": [T0] * n,
            "event_type": ["WebEvent"] * n,
            "event_name": ["page_viewed"] * n,
            "page_title": pa.array(values, t),
            "attributes": attrs,
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return ("\n".join(lines) + "\n").encode(), buf.getvalue()


@FAST
@given(numbers_both_ways(), st.sampled_from(["list", "struct", "map"]))
def test_a_number_reads_as_the_same_text_from_parquet_and_from_json(
    column: tuple[pa.DataType, list[Any], list[str]], layout: str
) -> None:
    """A float64 customer_id 100003.0 (pandas writes a whole-number column with a null as
    float64) was "100003.0" from Parquet but "100003" from JSON: one visitor split in two;
    page titles and attribute values alike (27.0 and 27). Every number is its shortest
    text, without an exponent, on both paths."""
    jsonl, parquet = _number_events(*column, layout)
    cols = ["event_id", "customer_id", "page_title", "attributes"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "n.jsonl").write_bytes(jsonl)
        (Path(tmp) / "n.parquet").write_bytes(parquet)
        from_json = read_events([Path(tmp) / "n.jsonl"]).events.select(cols)
        from_parquet = read_events([Path(tmp) / "n.parquet"]).events.select(cols)
    assert from_parquet.to_dicts() == from_json.to_dicts()
    assert not from_json["customer_id"].str.contains("[eE]").any()


def test_nan_from_parquet_is_missing_and_an_infinity_a_wrong_type() -> None:
    """JSON holds neither: NaN (pandas' missing value) reads as null, as null does, and an
    infinity in a text field rejects its row as a wrong type (it was the text `inf`)."""
    nan, inf = float("nan"), float("inf")
    table = pa.table(
        {
            "event_id": ["a", "b", "c"],
            "customer_id": ["v1", "v2", "v3"],
            "created_date": [T0] * 3,
            "event_type": ["WebEvent"] * 3,
            "event_name": ["page_viewed"] * 3,
            "page_title": pa.array([nan, -inf, 2.0]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "n.parquet").write_bytes(buf.getvalue())
        read = read_events([Path(tmp) / "n.parquet"], on_error="skip")
    assert read.events.sort("event_id")["page_title"].to_list() == [None, "2"]
    assert [(r["line"], r["reason"], r["field"]) for r in read.rejects.iter_rows(named=True)] == [
        (2, "wrong_type", "page_title")
    ]


def test_a_float_id_read_into_a_store_an_earlier_jtrack_wrote_is_warned_of(
    tmp_path: Path,
) -> None:
    """The review of the change that made 100003.0 the visitor `100003`: a store an earlier
    jtrack wrote holds that visitor as `100003.0`, and the next export split it in two with
    nothing said (a rebuild reads the stored text: only --replace mends it). A run that
    reads a float id column into such a store says so, once; a store of this jtrack, or a
    new one, is told nothing."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    def day(name: str, d: int) -> Path:
        path = tmp_path / f"{name}.parquet"
        pq.write_table(
            pa.table(
                {
                    "event_id": [f"{name}-1", f"{name}-2"],
                    "customer_id": pa.array([100003.0, None]),
                    "created_date": [f"2026-04-0{d}T10:00:00Z"] * 2,
                    "event_type": ["WebEvent"] * 2,
                    "event_name": ["page_viewed"] * 2,
                }
            ),
            path,
        )
        return path

    runner = CliRunner()
    root = tmp_path / "s"
    args = ["--store", str(root), "--on-error", "skip", "-q"]
    first = runner.invoke(app, ["sessionize", str(day("a", 1)), *args])
    assert first.exit_code == 0 and "float column" not in first.stderr, first.stderr
    # (as an earlier jtrack wrote it: no number rule in its options)
    manifest = root / "versions" / "v000001" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["options"]["number_rule"]
    manifest.unlink()  # (a new file: the manifest cache is keyed by it)
    manifest.write_text(json.dumps(data))
    res = runner.invoke(app, ["sessionize", str(day("b", 2)), *args])
    assert res.exit_code == 0, res.stderr
    assert "its visitor ids are a float column, read as `100003`" in res.stderr
    assert "`jtrack sessionize --replace EXPORTS`" in res.stderr
    again = runner.invoke(app, ["sessionize", str(day("c", 3)), *args])
    assert again.exit_code == 0 and "float column" not in again.stderr
