"""Generate the hostile-input corpus: files that real exports break in, each with its outcome.

Every case names its input files and what jtrack must make of them: either a file-level error
(the message it must contain) or the exact accounting (events kept, duplicates, conflicts,
rejects by reason and field, and for accepted oddities the values they were accepted as).

    python tests/make_corpus.py OUT_DIR [--big]   # writes the files and OUT_DIR/cases.json

The tests call `build(out_dir)` from a session fixture, so nothing here is committed; `--big`
adds the 50 MB single-line file (also generated at test time, never committed).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

GENESYS = "com.genesys.journey."
T0 = "2026-10-03T09:12:03.120Z"
BIG_LINE_BYTES = 50 * 1024 * 1024


@dataclass
class Expected:
    """What reading a case must give. `error` set: the read fails with that in its message."""

    kept: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejects: dict[str, int] = field(default_factory=dict)  # reason -> count
    #: exact rejects, in order: (file index, line, reason, field); checked when given
    reject_rows: list[tuple[int, int, str, str]] | None = None
    #: canonical values of the kept events, by column, in event_id order ("accepted as what")
    values: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    warnings: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())


@dataclass
class Case:
    name: str
    files: list[str]
    about: str
    expected: Expected
    max_line_bytes: int | None = None
    big: bool = False


# ---------------------------------------------------------------------------------------------
# event builders
# ---------------------------------------------------------------------------------------------


def ev(
    i: int | str,
    cust: Any = "visitor-1",
    ts: Any = T0,
    *,
    name: str = "page_viewed",
    title: Any = "Home",
    **top: Any,
) -> dict[str, Any]:
    """A Genesys web event; keyword arguments replace top-level keys."""
    e: dict[str, Any] = {
        "id": f"e{i:04d}" if isinstance(i, int) else i,
        "customerId": cust,
        "customerIdType": "cookie",
        "eventType": GENESYS + "WebEvent",
        "createdDate": ts,
        "session": {"id": "s-1", "type": "web"},
        "webEvent": {
            "eventName": name,
            "page": {"url": "https://shop.example/", "title": title},
            "browser": {"family": "Firefox", "viewWidth": 1280},
            "device": {"category": "desktop", "isMobile": False},
            "geolocation": {"country": "GB", "latitude": 51.5},
            "attributes": {"sku": {"dataType": "string", "value": "A-1"}},
            "authenticated": False,
            "totalEventCount": 1,
        },
    }
    for k, v in top.items():
        if v is _DROP:
            e.pop(k, None)
        else:
            e[k] = v
    return e


_DROP = object()


def at(minute: int, day: int = 3, month: int = 10, year: int = 2026) -> str:
    """09:00 UTC on the day, plus `minute` minutes, as Genesys writes it."""
    t = datetime(year, month, day, 9, tzinfo=UTC) + timedelta(minutes=minute)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def jl(*events: dict[str, Any] | str | bytes) -> bytes:
    """JSON lines: dicts are encoded, str/bytes written as they are."""
    out = []
    for e in events:
        if isinstance(e, dict):
            out.append(json.dumps(e, ensure_ascii=False).encode())
        elif isinstance(e, str):
            out.append(e.encode())
        else:
            out.append(e)
    return b"\n".join(out) + b"\n"


def good(n: int, start: int = 0, cust: str = "visitor-1") -> list[dict[str, Any]]:
    return [ev(start + i, cust, at(start + i)) for i in range(n)]


def with_web(e: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set webEvent.<path> (dotted) to value."""
    node = e["webEvent"]
    parts = path.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return e


def flat(i: int, **cols: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": f"f{i:04d}",
        "customer_id": "visitor-f",
        "created_date": at(i),
        "event_type": "WebEvent",
        "event_name": "page_viewed",
        "page_title": "Flat",
    }
    row.update(cols)
    return row


def flat_frame(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"p{i:04d}" for i in range(n)],
            "customer_id": ["visitor-p"] * n,
            "created_date": [datetime(2026, 10, 3, 9, i, tzinfo=UTC) for i in range(n)],
            "event_type": ["WebEvent"] * n,
            "event_name": ["page_viewed"] * n,
            "browser_view_width": [1280] * n,
        }
    )


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def nested(depth: int, opener: str = "[", closer: str = "]", leaf: str = "1") -> str:
    return opener * depth + leaf + closer * depth


# ---------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------

#: Canonical fields and the Genesys path they come from, for the wrong-type cases.
_STRING_FIELDS = [
    ("id", "event_id"),
    ("customerId", "customer_id"),
    ("customerIdType", "customer_id_type"),
    ("correlationId", "correlation_id"),
]
_WEB_STRING_FIELDS = [
    ("eventName", "event_name"),
    ("page.title", "page_title"),
    ("page.url", "page_url"),
    ("searchQuery", "search_query"),
    ("browser.family", "browser_family"),
    ("device.category", "device_category"),
    ("geolocation.country", "geolocation_country"),
    ("referrer.hostname", "referrer_hostname"),
    ("mktCampaign.source", "mkt_campaign_source"),
    ("ipOrganization", "ip_organization"),
]
_WEB_TYPED_FIELDS = [  # (path, canonical, a value of the wrong type that is text)
    ("browser.viewWidth", "browser_view_width", "wide"),
    ("device.screenHeight", "device_screen_height", "1.5"),
    ("device.isMobile", "device_is_mobile", "yes"),
    ("geolocation.latitude", "geolocation_latitude", "north"),
    ("authenticated", "authenticated", "maybe"),
    ("totalEventCount", "total_event_count", "many"),
]


def _wrong_type_case(out: Path | None, label: str, wrong: Any) -> Case:
    """One line per field, each holding `wrong` (an object or an array) in that field."""
    lines: list[dict[str, Any]] = []
    rows: list[tuple[int, int, str, str]] = []
    n = 0
    for key, canon in [*_STRING_FIELDS, ("createdDate", "created_date")]:
        n += 1
        e = ev(n)
        e[key] = wrong
        lines.append(e)
        rows.append((0, n, "wrong_type", canon))
    for path, canon in _WEB_STRING_FIELDS + [(p, c) for p, c, _ in _WEB_TYPED_FIELDS]:
        n += 1
        lines.append(with_web(ev(n), path, wrong))
        rows.append((0, n, "wrong_type", canon))
    for path, canon in (("attributes", "attributes"), ("traits", "traits")):
        n += 1
        lines.append(with_web(ev(n), path, "plain text" if label == "object" else wrong))
        rows.append((0, n, "wrong_type", canon))
    n += 1
    e = ev(n)
    e["webEvent"] = "not an object"
    lines.append(e)
    rows.append((0, n, "wrong_type", "event_name"))
    name = f"wrong_type_{label}.jsonl"
    put(out, name, jl(*lines, *good(2, start=900)))
    return Case(
        f"wrong_type_{label}",
        [name],
        f"{label} in every kind of field (text, number, boolean, time, attributes) is rejected "
        "as wrong_type naming the field",
        Expected(kept=2, rejects={"wrong_type": n}, reject_rows=rows),
    )


def _typed_text_case(out: Path | None) -> Case:
    lines = []
    rows = []
    for n, (path, canon, text) in enumerate(_WEB_TYPED_FIELDS, start=1):
        lines.append(with_web(ev(n), path, text))
        rows.append((0, n, "wrong_type", canon))
    name = "wrong_type_text_in_typed_fields.jsonl"
    put(out, name, jl(*lines, *good(1, start=900)))
    return Case(
        "wrong_type_text_in_typed_fields",
        [name],
        "text that is not a number or boolean in numeric and boolean fields is wrong_type",
        Expected(kept=1, rejects={"wrong_type": len(lines)}, reject_rows=rows),
    )


def _scalars_as_text_case(out: Path | None) -> Case:
    events = [
        ev(1, cust=12345),
        ev("x", cust=True) | {"id": 777},
        with_web(ev(3), "page.title", 3.5),
        with_web(ev(4), "searchQuery", False),
    ]
    name = "numbers_and_booleans_as_text.jsonl"
    put(out, name, jl(*events))
    return Case(
        "numbers_and_booleans_as_text",
        [name],
        "numbers and booleans where text is expected are accepted as their JSON text",
        Expected(
            kept=4,
            values={
                "event_id": ["777", "e0001", "e0003", "e0004"],
                "customer_id": ["true", "12345", "visitor-1", "visitor-1"],
                "page_title": ["Home", "Home", "3.5", "Home"],
                "search_query": [None, None, None, "false"],
            },
        ),
    )


def put(out: Path | None, name: str, data: bytes) -> None:
    if out is not None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)


def arrow_parquet_bytes(table: Any) -> bytes:
    """A PyArrow table as Parquet (for Arrow types Polars does not write)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def doc(*events: dict[str, Any] | str) -> bytes:
    """A JSON document (an array) of these events; str items are inserted as JSON text."""
    items = [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events]
    return ("[\n" + ",\n".join(items) + "\n]\n").encode()


def _rules_cases(add: Any, pf: pl.DataFrame, out: Path | None, cases: list[Case]) -> None:
    """One rule per case, the same on every path (JSON lines, JSON documents, Parquet): see
    README, Guarantees and limits."""
    lone = [
        json.dumps(ev(2, ts=at(2))).replace('"Home"', '"Ho\\ud800me"'),
        json.dumps(ev(3, ts=at(3), correlationId="x")).replace('"x"', '"\\udc00"'),
        json.dumps(ev(4, ts=at(4))).replace('"Home"', '"\\ud83d\\ude00"'),  # a pair: valid
    ]
    for suffix, data in ((".jsonl", jl(*good(1), *lone)), (".json", doc(*good(1), *lone))):
        add(
            "lone_surrogate_escape" + ("_document" if suffix == ".json" else ""),
            data,
            "a \\ud800 escape with no pair is no character: invalid_utf8 (a pair is fine)",
            Expected(
                kept=2,
                rejects={"invalid_utf8": 2},
                values={"page_title": ["Home", "\U0001f600"]},
            ),
            suffix=suffix,
        )
    big = [
        json.dumps(ev(2, ts=at(2), note="N")).replace('"N"', "1" * 5000),
        json.dumps(ev(3, ts=at(3))).replace('"Home"', "9" * 60),
        json.dumps(with_web(ev(4, ts=at(4)), "browser.viewWidth", 1)).replace(
            '"viewWidth": 1', '"viewWidth": 1e400'
        ),
        json.dumps(ev(5, ts=at(5), note=2**127)),  # within range: kept
    ]
    for suffix, data in ((".jsonl", jl(*good(1), *big)), (".json", doc(*good(1), *big))):
        add(
            "number_out_of_range" + ("_document" if suffix == ".json" else ""),
            data,
            "a 5000-digit integer (beyond Python's int parsing), a 60-digit title, 1e400",
            Expected(kept=2, rejects={"number_out_of_range": 3}),
            suffix=suffix,
        )
    dup = (
        '{"id": "e0001", "customerId": "visitor-1", "customerId": "visitor-2", '
        '"eventType": "com.genesys.journey.WebEvent", "createdDate": "' + at(1) + '", '
        '"webEvent": {"eventName": "page_viewed", "page": {"title": "first", "title": "last"}, '
        '"attributes": {"sku": {"value": "first"}, "size": {"value": "M"}, '
        '"sku": {"value": "last"}}}}'
    )
    for suffix, data in ((".jsonl", jl(*good(1), dup)), (".json", doc(*good(1), dup))):
        add(
            "duplicate_keys" + ("_document" if suffix == ".json" else ""),
            data,
            "a key repeated in one object: its first value counts (attributes too)",
            Expected(
                kept=2,
                values={
                    "customer_id": ["visitor-1", "visitor-1"],
                    "page_title": ["Home", "first"],
                    "attributes": [
                        [{"name": "sku", "data_type": "string", "value": "A-1"}],
                        [
                            {"name": "sku", "data_type": None, "value": "first"},
                            {"name": "size", "data_type": None, "value": "M"},
                        ],
                    ],
                },
            ),
            suffix=suffix,
        )
    titled = jl(*[ev(i, ts=at(i), title="Café ✓ 東京") for i in range(2)]).decode()
    for enc in ("utf-16-le", "utf-16-be"):
        add(
            "utf16_" + enc[-2:] + "_without_bom",
            titled.encode(enc),
            "UTF-16 without a byte-order mark, recognised by the JSON it starts with",
            Expected(kept=2, values={"page_title": ["Café ✓ 東京"] * 2}),
        )
    extra = [ev(i, ts=at(i), customer_id="flat-named", event_id="x") for i in range(3)]
    add(
        "genesys_with_flat_named_keys",
        jl(*extra),
        "Genesys events with extra keys named like flat fields stay Genesys",
        Expected(kept=3, values={"customer_id": ["visitor-1"] * 3}),
    )
    add(
        "flat_with_genesys_named_keys",
        jl(*[flat(i, createdDate="x", customerId="y") for i in range(3)]),
        "flat events with extra keys named like Genesys fields stay flat",
        Expected(kept=3, values={"customer_id": ["visitor-f"] * 3}),
    )
    add(
        "parquet_flat_with_genesys_named_columns",
        parquet_bytes(pf.with_columns(createdDate=pl.lit("x"), customerId=pl.lit("y"))),
        "a flat Parquet file with extra columns named like Genesys fields stays flat",
        Expected(kept=3, values={"customer_id": ["visitor-p"] * 3}),
        suffix=".parquet",
    )
    page_text = ev(2, ts=at(2))
    page_text["webEvent"]["page"] = "https://shop.example/"
    add(
        "genesys_page_not_an_object",
        jl(*good(1), page_text),
        "webEvent.page as text in JSON lines: wrong_type (page_url), never a null page",
        Expected(kept=1, rejects={"wrong_type": 1}, reject_rows=[(0, 2, "wrong_type", "page_url")]),
    )
    import pyarrow as pa

    gen = pa.table(
        {
            "id": ["e1", "e2"],
            "customerId": ["visitor-1"] * 2,
            "createdDate": [T0, T0],
            "eventType": [GENESYS + "WebEvent"] * 2,
            "webEvent": pa.array(
                [
                    {"eventName": "page_viewed", "page": {"url": "https://shop.example/"}},
                    {"eventName": "page_viewed", "page": None},
                ]
            ),
        }
    )
    add(
        "parquet_genesys_page_ok",
        arrow_parquet_bytes(gen),
        "Genesys Parquet with webEvent.page an object (and one null page)",
        Expected(kept=2),
        suffix=".parquet",
    )
    gen_text = gen.set_column(
        4,
        "webEvent",
        pa.array(
            [
                {"eventName": "page_viewed", "page": "https://shop.example/"},
                {"eventName": "page_viewed", "page": None},
            ]
        ),
    )
    add(
        "parquet_genesys_page_not_an_object",
        arrow_parquet_bytes(gen_text),
        "webEvent.page as text in Parquet: wrong_type (page_url) as in JSON lines",
        Expected(kept=1, rejects={"wrong_type": 1}, reject_rows=[(0, 1, "wrong_type", "page_url")]),
        suffix=".parquet",
    )
    kv = pa.struct([("name", pa.string()), ("value", pa.list_(pa.string()))])
    add(
        "parquet_attribute_value_list",
        arrow_parquet_bytes(
            pf.to_arrow().append_column(
                "attributes",
                pa.array([[{"name": "sku", "value": ["a", "b"]}], [], None], type=pa.list_(kv)),
            )
        ),
        "an attribute whose value is a list: wrong_type, as in JSON (an empty list is fine)",
        Expected(
            kept=2, rejects={"wrong_type": 1}, reject_rows=[(0, 1, "wrong_type", "attributes")]
        ),
        suffix=".parquet",
    )
    add(
        "parquet_extension_type",
        arrow_parquet_bytes(
            pf.to_arrow().append_column(
                "page_title",
                pa.ExtensionArray.from_storage(_title_type(), pa.array(["a", "b", None])),
            )
        ),
        "an Arrow extension type is read as its storage type",
        Expected(kept=3, values={"page_title": ["a", "b", None]}),
        suffix=".parquet",
    )
    stamps = [datetime(2026, 10, 3, 9, i, tzinfo=UTC) for i in range(3)]
    for tz in ("+05:30", "Z"):
        add(
            "parquet_timestamp_zone_" + ("offset" if tz != "Z" else "z"),
            arrow_parquet_bytes(
                pf.drop("created_date")
                .to_arrow()
                .append_column("created_date", pa.array(stamps, type=pa.timestamp("ms", tz=tz)))
            ),
            f"timestamps in a zone written {tz!r} (Polars knows no such zone): the same instants",
            Expected(kept=3, values={"created_date": stamps}),
            suffix=".parquet",
        )
    # Hive partitions and literal names: files in folders, named as they are
    hive = "hive/customer_id=visitor-9/event_type=WebEvent/part-0.parquet"
    put(out, hive, parquet_bytes(pf.drop("customer_id", "event_type")))
    cases.append(
        Case(
            "parquet_hive_partitions",
            [hive],
            "Hive partition folders (customer_id=v/) give their columns, as Polars and Spark do",
            Expected(kept=3, values={"customer_id": ["visitor-9"] * 3}),
        )
    )
    put(out, "parquet_[brackets].parquet", parquet_bytes(pf))
    cases.append(
        Case(
            "parquet_brackets_in_name",
            ["parquet_[brackets].parquet"],
            "a Parquet file with `[` in its name is read as named, never as a pattern",
            Expected(kept=3),
        )
    )


def _title_type() -> Any:
    import pyarrow as pa

    class TitleType(pa.ExtensionType):
        def __init__(self) -> None:
            super().__init__(pa.string(), "jtrack.test.title")

        def __arrow_ext_serialize__(self) -> bytes:
            return b""

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type: Any, serialized: bytes) -> Any:
            return cls()

    return TitleType()


def build(out: Path | None, big: bool = False) -> list[Case]:
    """Write every corpus file into `out` (None: write nothing) and return the cases."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(
        name: str,
        data: bytes,
        about: str,
        expected: Expected,
        suffix: str = ".jsonl",
        max_line_bytes: int | None = None,
    ) -> None:
        fname = name + suffix
        put(out, fname, data)
        cases.append(Case(name, [fname], about, expected, max_line_bytes))

    base = jl(*good(3))

    # ---- baseline and empty -----------------------------------------------------------
    add(
        "valid_genesys", jl(*good(3), *good(2, 10, "visitor-2")), "a clean export", Expected(kept=5)
    )
    add(
        "valid_flat",
        jl(flat(1), flat(2), flat(3)),
        "the flat snake_case shape",
        Expected(kept=3, values={"page_title": ["Flat"] * 3}),
    )
    add("empty_file", b"", "an empty file: no events, one warning", Expected(warnings=1))
    add("blank_lines_only", b"\n\n  \r\n\t\n", "only blank lines", Expected(warnings=1))
    add(
        "blank_lines_between",
        b"\n" + base.replace(b"\n", b"\n\n\n") + b"\n\n",
        "blank lines are skipped, not counted",
        Expected(kept=3),
    )

    # ---- truncation and malformed JSON ------------------------------------------------
    last = json.dumps(ev(99)).encode()
    add(
        "truncated_last_line",
        base + last[: len(last) // 2],
        "the export stopped mid-line",
        Expected(
            kept=3, rejects={"malformed_json": 1}, reject_rows=[(0, 4, "malformed_json", "(line)")]
        ),
    )
    add(
        "half_written_line_in_middle",
        jl(*good(2), last[:40], *good(2, 50)),
        "a half-written line followed by more events",
        Expected(
            kept=4, rejects={"malformed_json": 1}, reject_rows=[(0, 3, "malformed_json", "(line)")]
        ),
    )
    bad_json = [
        "not json at all",
        '{"id": "a", "customerId": "c",}',
        "{'id': 'single-quoted'}",
        '{"id": "unclosed"',
        "}",
        '{"id": "a", "createdDate": NaN}',
        json.dumps(ev(7)) + " trailing",
        json.dumps(ev(8)) + json.dumps(ev(9)),
    ]
    add(
        "malformed_json_variants",
        jl(*good(1), *bad_json),
        "trailing commas, single quotes, unclosed, NaN, trailing text, two objects on a line",
        Expected(kept=1, rejects={"malformed_json": len(bad_json)}),
    )
    not_objects = ["[1, 2]", '"just text"', "42", "true", "null", "[]"]
    add(
        "not_objects",
        jl(*good(1), *not_objects),
        "JSON values that are not objects",
        Expected(kept=1, rejects={"not_an_object": len(not_objects)}),
    )
    add(
        "lone_cr_line_endings",
        base.replace(b"\n", b"\r"),
        "old Mac line endings: the whole file is one line, not JSON",
        Expected(rejects={"malformed_json": 1}),
    )
    add(
        "random_binary",
        bytes(range(11, 256)) * 4 + b"\n\x00\x01\x02\n\xff\xfe\xfd\n",
        "binary garbage in a .jsonl file",
        Expected(rejects={"invalid_utf8": 2, "nul_bytes": 1}),
    )

    # ---- encodings --------------------------------------------------------------------
    bad_utf8 = [
        json.dumps(ev(10, title="Caf__")).encode().replace(b"__", b"\xe9"),  # Latin-1
        json.dumps(ev(11, title="x__y")).encode().replace(b"__", b"\xc0\xaf"),  # overlong
        json.dumps(ev(12, title="__")).encode().replace(b"__", b"\x80\xbf"),  # lone continuation
        json.dumps(ev(13, title="__")).encode().replace(b"__", b"\xed\xa0\x80"),  # surrogate
    ]
    add(
        "invalid_utf8",
        jl(*good(2), *bad_utf8, *good(1, 20)),
        "Latin-1, overlong, lone continuation and surrogate bytes: those lines only",
        Expected(
            kept=3,
            rejects={"invalid_utf8": 4},
            reject_rows=[(0, n, "invalid_utf8", "(line)") for n in (3, 4, 5, 6)],
        ),
    )
    add(
        "invalid_utf8_with_noncharacter",
        jl(
            ev(1, title="\U0010fffe\U0010ffff\ufdd0"),
            json.dumps(ev(2)).encode().replace(b"Home", b"\xff"),
        ),
        "valid lines holding Unicode noncharacters stay valid beside a bad line",
        Expected(
            kept=1,
            rejects={"invalid_utf8": 1},
            values={"page_title": ["\U0010fffe\U0010ffff\ufdd0"]},
        ),
    )
    add("utf8_bom", b"\xef\xbb\xbf" + base, "a UTF-8 byte-order mark", Expected(kept=3))
    add(
        "utf8_bom_every_line",
        b"".join(b"\xef\xbb\xbf" + ln + b"\n" for ln in base.split(b"\n") if ln),
        "files concatenated with their BOMs",
        Expected(kept=3),
    )
    add("crlf", base.replace(b"\n", b"\r\n"), "Windows line endings", Expected(kept=3))
    add(
        "mixed_line_endings",
        jl(*good(1)) + json.dumps(ev(1, ts=at(1))).encode() + b"\r\n" + jl(*good(1, 2)),
        "\\n and \\r\\n in one file",
        Expected(kept=3),
    )
    titled = jl(*[ev(i, ts=at(i), title="Café ✓ 東京") for i in range(2)]).decode()
    add(
        "utf16_le_bom",
        titled.encode("utf-16"),
        "UTF-16 with a BOM (Windows PowerShell)",
        Expected(kept=2, values={"page_title": ["Café ✓ 東京"] * 2}),
    )
    add(
        "utf16_be_bom",
        b"\xfe\xff" + titled.encode("utf-16-be"),
        "UTF-16 big-endian with BOM",
        Expected(kept=2, values={"page_title": ["Café ✓ 東京"] * 2}),
    )

    # ---- NUL bytes --------------------------------------------------------------------
    add(
        "nul_in_string",
        jl(*good(1), json.dumps(ev(5)).encode().replace(b"Home", b"Ho\x00me")),
        "a raw NUL inside a string",
        Expected(kept=1, rejects={"nul_bytes": 1}),
    )
    add(
        "nul_padding_after_crash",
        base + b"\x00" * 4096,
        "a writer crashed and left a block of NULs",
        Expected(kept=3, rejects={"nul_bytes": 1}, reject_rows=[(0, 4, "nul_bytes", "(line)")]),
    )
    add(
        "nul_escaped",
        jl(ev(1, title="a\u0000b")),
        "an escaped \\u0000 is valid JSON text",
        Expected(kept=1, values={"page_title": ["a\x00b"]}),
    )

    # ---- long lines -------------------------------------------------------------------
    long_line = json.dumps(ev(50, title="x" * 5000)).encode()
    add(
        "long_line_middle",
        jl(*good(1), long_line, *good(1, 5)),
        "a line over --max-line-bytes (2000 here)",
        Expected(
            kept=2, rejects={"line_too_long": 1}, reject_rows=[(0, 2, "line_too_long", "(line)")]
        ),
        max_line_bytes=2000,
    )
    add(
        "long_line_first",
        jl(long_line, *good(2)),
        "the first line is over the limit",
        Expected(
            kept=2, rejects={"line_too_long": 1}, reject_rows=[(0, 1, "line_too_long", "(line)")]
        ),
        max_line_bytes=2000,
    )
    add(
        "long_line_last_unterminated",
        jl(*good(2)) + long_line,
        "an over-long last line with no newline",
        Expected(
            kept=2, rejects={"line_too_long": 1}, reject_rows=[(0, 3, "line_too_long", "(line)")]
        ),
        max_line_bytes=2000,
    )
    chunky = json.dumps(ev(60, title="y" * (3 << 20))).encode()
    add(
        "long_line_over_chunks",
        jl(*good(1), chunky, *good(1, 7)),
        "a 3 MB line spanning several read chunks (default limit 1 MB)",
        Expected(
            kept=2, rejects={"line_too_long": 1}, reject_rows=[(0, 2, "line_too_long", "(line)")]
        ),
    )

    # ---- nesting ----------------------------------------------------------------------
    deep_value = json.dumps(ev(70, title="@@")).replace('"@@"', nested(100_000))
    add(
        "deeply_nested_value",
        jl(*good(1), deep_value),
        "a title nested 100,000 arrays deep",
        Expected(kept=1, rejects={"malformed_json": 1}),
    )
    add(
        "deeply_nested_first_line",
        jl(nested(100_000, '{"a":', "}"), *good(2)),
        "the first line is 100,000 objects deep (shape detection must cope)",
        Expected(kept=2, rejects={"malformed_json": 1}),
    )
    mid = json.dumps(ev(71, title="@@")).replace('"@@"', nested(200))
    add(
        "nested_200_levels",
        jl(*good(1), mid),
        "deeper than Polars' limit, within Python's",
        Expected(kept=1, rejects={"malformed_json": 1}),
    )
    add(
        "deeply_nested_document",
        nested(100_000).encode(),
        "a JSON array 100,000 levels deep",
        Expected(error="nested too deeply"),
        suffix=".json",
    )

    # ---- wrong types ------------------------------------------------------------------
    cases.append(_wrong_type_case(out, "object", {"evil": 1}))
    cases.append(_wrong_type_case(out, "array", [1, 2]))
    cases.append(_typed_text_case(out))
    cases.append(_scalars_as_text_case(out))

    # ---- timestamps -------------------------------------------------------------------
    ts_cases = [
        (1759482723120, None),  # epoch ms as a number: accepted
        ("1759482723120", None),  # epoch ms as text: accepted
        ("2026-10-03T09:00:00+14:00", None),  # offset: accepted, converted to UTC
        ("2026-10-03T09:00:00", None),  # no offset: read as UTC
        ("2026-10-03T09:00:00.123456789Z", None),  # nanoseconds: truncated to us
        (True, "bad_timestamp"),
        (False, "bad_timestamp"),
        ({"$date": T0}, "wrong_type"),
        ([T0], "wrong_type"),
        ("", "bad_timestamp"),
        ("yesterday", "bad_timestamp"),
        ("2026-02-30T00:00:00Z", "bad_timestamp"),
        ("2026-10-03", "bad_timestamp"),
        (10**20, "bad_timestamp"),
        ("0001-01-01T00:00:00Z", "implausible_timestamp"),
        ("9999-12-31T23:59:59Z", "implausible_timestamp"),
        ("1969-12-31T23:59:59Z", "implausible_timestamp"),
        ("2100-01-01T00:00:00Z", "implausible_timestamp"),
        (5, "implausible_timestamp"),
        (-86_400_000, "implausible_timestamp"),
        (None, "missing_created_date"),
        (_DROP, "missing_created_date"),
    ]
    lines = [ev(i + 1, ts=t, createdDate=t) for i, (t, _) in enumerate(ts_cases)]
    rows = [(0, i + 1, r, "created_date") for i, (_, r) in enumerate(ts_cases) if r is not None]
    counts: dict[str, int] = {}
    for _, _, r, _ in rows:
        counts[r] = counts.get(r, 0) + 1
    add(
        "timestamps",
        jl(*lines),
        "epoch ms (number or text), offsets, naive, nanoseconds; booleans, objects, "
        "impossible dates, year 1, 9999, 1969, 2100, missing",
        Expected(
            kept=5,
            rejects=counts,
            reject_rows=rows,
            values={
                "created_date": [
                    datetime(2025, 10, 3, 9, 12, 3, 120000, tzinfo=UTC),
                    datetime(2025, 10, 3, 9, 12, 3, 120000, tzinfo=UTC),
                    datetime(2026, 10, 2, 19, 0, tzinfo=UTC),
                    datetime(2026, 10, 3, 9, 0, tzinfo=UTC),
                    datetime(2026, 10, 3, 9, 0, 0, 123456, tzinfo=UTC),
                ]
            },
        ),
    )
    future = [ev(i, ts=at(i % 60, day=1 + i // 60)) for i in range(200)]
    add(
        "far_future_one",
        jl(*future, ev(500, ts="2031-05-01T00:00:00Z")),
        "one event five years after 200 others (a wrong device clock)",
        Expected(
            kept=200,
            rejects={"far_future": 1},
            reject_rows=[(0, 201, "far_future", "created_date")],
        ),
    )
    put(out, "far_future_a.jsonl", jl(ev(1), ev(2, ts=at(5))))
    put(out, "far_future_b.jsonl", jl(ev(3, ts="2035-01-01T00:00:00Z")))
    cases.append(
        Case(
            "far_future_across_files",
            ["far_future_a.jsonl", "far_future_b.jsonl"],
            "the rule looks at the whole run, not one file",
            Expected(
                kept=2,
                rejects={"far_future": 1},
                reject_rows=[(1, 1, "far_future", "created_date")],
            ),
        )
    )
    add(
        "not_far_future_under_a_year",
        jl(ev(1), ev(2, ts="2027-09-01T00:00:00Z")),
        "a gap under a year is not far future",
        Expected(kept=2),
    )
    add(
        "not_far_future_when_many",
        jl(*good(10), *[ev(100 + i, ts=at(i, year=2031)) for i in range(5)]),
        "a third of the events after the gap: a real second period, kept",
        Expected(kept=15),
    )

    # ---- duplicates -------------------------------------------------------------------
    add(
        "duplicate_identical",
        jl(*good(3), *good(3)),
        "the same events delivered twice",
        Expected(kept=3, duplicates=3),
    )
    add(
        "duplicate_conflicting",
        jl(
            ev(1, title="First"),
            ev(1, title="Second"),
            ev(2, ts=at(1)),
            ev(2, ts=at(1), title="Changed"),
            ev(3),
        ),
        "same ids, different contents: kept once (the first), conflicts reported",
        Expected(
            kept=3, duplicates=2, conflicts=2, values={"page_title": ["First", "Home", "Home"]}
        ),
    )
    add(
        "duplicate_conflicting_time",
        jl(ev(1, ts=at(30), title="Later"), ev(1, ts=at(1), title="Earlier")),
        "a redelivery with an earlier time wins (earliest created_date is kept)",
        Expected(kept=1, duplicates=1, conflicts=1, values={"page_title": ["Earlier"]}),
    )
    put(out, "redelivery_b.jsonl", jl(*good(2, 1), ev(9, ts=at(9))))
    put(out, "redelivery_a.jsonl", jl(*good(3)))
    cases.append(
        Case(
            "redelivery_across_files",
            ["redelivery_a.jsonl", "redelivery_b.jsonl"],
            "a second export overlapping the first",
            Expected(kept=4, duplicates=2),
        )
    )

    # ---- required fields --------------------------------------------------------------
    add(
        "missing_visitor",
        jl(
            ev(1, cust=None),
            ev(2, customerId=_DROP),
            ev(3, cust=""),
            ev(4, cust="   "),
            *good(1, 10),
        ),
        "visitor id null, absent, empty, blank",
        Expected(
            kept=1,
            rejects={"missing_customer_id": 4},
            reject_rows=[(0, n, "missing_customer_id", "customer_id") for n in range(1, 5)],
        ),
    )
    add(
        "missing_event_id",
        jl(ev(1, id=None), ev(2, id=_DROP), ev(3, id=""), *good(1, 10)),
        "event id null, absent, empty",
        Expected(kept=1, rejects={"missing_id": 3}),
    )
    add(
        "empty_object",
        jl("{}", *good(1)),
        "an empty object",
        Expected(kept=1, rejects={"missing_id": 1}),
    )
    add(
        "unknown_event_type",
        jl(ev(1, eventType=GENESYS + "FooEvent"), ev(2, eventType=""), *good(1, 10)),
        "an event type jtrack does not know; an empty one with a webEvent payload is a web event",
        Expected(kept=2, rejects={"unknown_event_type": 1}),
    )
    no_name = ev(1)
    del no_name["webEvent"]["eventName"]
    add(
        "web_event_without_name",
        jl(no_name, *good(1, 10)),
        "a web event with no eventName",
        Expected(kept=1, rejects={"missing_event_name": 1}),
    )
    flat_missing = [flat(1, customer_id=None), flat(2, event_id=""), flat(3, created_date="x")]
    add(
        "flat_shape_problems",
        jl(*flat_missing, flat(4)),
        "the same checks in the flat shape",
        Expected(kept=1, rejects={"missing_customer_id": 1, "missing_id": 1, "bad_timestamp": 1}),
    )

    # ---- compression ------------------------------------------------------------------
    gz = gzip.compress(base)
    add("gzip_ok", gz, "a gzip export", Expected(kept=3), suffix=".jsonl.gz")
    add(
        "gzip_multi_member",
        gz + gzip.compress(jl(*good(2, 10))),
        "concatenated gzip members",
        Expected(kept=5),
        suffix=".jsonl.gz",
    )
    add(
        "gzip_no_extension",
        gz,
        "gzip detected from content, not the name",
        Expected(kept=3),
        suffix=".jsonl",
    )
    add(
        "gzip_truncated",
        gz[: len(gz) - 12],
        "a download cut short",
        Expected(error="gzip stream is truncated or corrupt"),
        suffix=".jsonl.gz",
    )
    add(
        "gzip_corrupt",
        gz[:20] + bytes(b ^ 0x55 for b in gz[20:40]) + gz[40:],
        "flipped bytes in the deflate stream",
        Expected(error="gzip stream is truncated or corrupt"),
        suffix=".jsonl.gz",
    )
    add(
        "gzip_trailing_garbage",
        gz + b"garbage",
        "bytes after the gzip stream",
        Expected(error="gzip stream is truncated or corrupt"),
        suffix=".jsonl.gz",
    )
    zs = zstd(base)
    add("zstd_ok", zs, "a zstd export", Expected(kept=3), suffix=".jsonl.zst")
    add(
        "zstd_multi_frame",
        zs + zstd(jl(*good(2, 10))),
        "concatenated zstd frames",
        Expected(kept=5),
        suffix=".jsonl.zst",
    )
    add(
        "zstd_truncated",
        zs[: len(zs) - 6],
        "a zstd download cut short",
        Expected(error="zstd stream is truncated or corrupt"),
        suffix=".jsonl.zst",
    )
    add(
        "zstd_garbage_after_magic",
        zs[:4] + b"\x00garbage" * 8,
        "a zstd header then garbage",
        Expected(error="zstd stream is truncated or corrupt"),
        suffix=".jsonl.zst",
    )
    bz = bz2.compress(base)
    add("bzip2_ok", bz, "a bzip2 export", Expected(kept=3), suffix=".jsonl.bz2")
    add(
        "bzip2_multi_stream_no_extension",
        bz + bz2.compress(jl(*good(2, 10))),
        "concatenated bzip2 streams, detected from content",
        Expected(kept=5),
        suffix=".jsonl",
    )
    add(
        "bzip2_truncated",
        bz[: len(bz) - 10],
        "a bzip2 download cut short",
        Expected(error="bzip2 stream is truncated or corrupt"),
        suffix=".jsonl.bz2",
    )
    xz = lzma.compress(base)
    add(
        "xz_multi_stream",
        xz + b"\0" * 4 + lzma.compress(jl(*good(2, 10))),
        "an xz export: two streams, zero padding between them",
        Expected(kept=5),
        suffix=".jsonl.xz",
    )
    add(
        "xz_truncated",
        xz[: len(xz) - 10],
        "an xz download cut short",
        Expected(error="xz stream is truncated or corrupt"),
        suffix=".jsonl.xz",
    )

    # ---- JSON documents ---------------------------------------------------------------
    page = {"entities": good(3), "pageSize": 25, "nextUri": None}
    add(
        "rest_page",
        json.dumps(page).encode(),
        "a REST page saved as JSON",
        Expected(kept=3),
        suffix=".json",
    )
    add(
        "rest_page_pretty",
        json.dumps(page, indent=2).encode(),
        "the same, pretty-printed",
        Expected(kept=3),
        suffix=".json",
    )
    add(
        "json_array",
        json.dumps(good(3)).encode(),
        "a JSON array of events",
        Expected(kept=3),
        suffix=".json",
    )
    add(
        "rest_page_truncated",
        json.dumps(page, indent=2).encode()[:-40],
        "a page cut short: nothing is read from it",
        Expected(error="the JSON document is malformed"),
        suffix=".json",
    )
    add(
        "rest_page_entities_not_list",
        json.dumps({"entities": {"id": 1}}).encode(),
        "entities is not an array",
        Expected(error='"entities" array'),
        suffix=".json",
    )
    add(
        "json_array_mixed",
        json.dumps([ev(1), 5, "x", None, ev(2, ts=at(1))]).encode(),
        "an array holding non-objects: those entities are rejected",
        Expected(kept=2, rejects={"not_an_object": 3}),
        suffix=".json",
    )
    add(
        "json_document_invalid_utf8",
        json.dumps(page).encode().replace(b"Home", b"\xff", 1),
        "a document with bytes that are not UTF-8",
        Expected(error="not valid UTF-8"),
        suffix=".json",
    )

    # ---- Parquet ----------------------------------------------------------------------
    pf = flat_frame(3)
    add(
        "parquet_ok",
        parquet_bytes(pf),
        "a flat Parquet export",
        Expected(kept=3),
        suffix=".parquet",
    )
    add(
        "parquet_missing_column",
        parquet_bytes(pf.drop("customer_id")),
        "a required column is missing",
        Expected(error="required column 'customer_id'"),
        suffix=".parquet",
    )
    add(
        "parquet_extra_columns",
        parquet_bytes(pf.with_columns(zzz=pl.lit(1), note=pl.lit("x"))),
        "columns jtrack does not know are ignored",
        Expected(kept=3),
        suffix=".parquet",
    )
    add(
        "parquet_customer_id_list",
        parquet_bytes(pf.with_columns(customer_id=pl.Series([["a"], ["b"], None]))),
        "customer_id is a list column: every non-null value is a wrong type",
        Expected(rejects={"wrong_type": 2, "missing_customer_id": 1}),
        suffix=".parquet",
    )
    add(
        "parquet_created_date_bool",
        parquet_bytes(pf.with_columns(created_date=pl.lit(True))),
        "created_date is boolean",
        Expected(rejects={"wrong_type": 3}),
        suffix=".parquet",
    )
    add(
        "parquet_created_date_date",
        parquet_bytes(pf.with_columns(created_date=pl.lit(date(2026, 10, 3)))),
        "created_date is a date without time",
        Expected(rejects={"wrong_type": 3}),
        suffix=".parquet",
    )
    add(
        "parquet_created_date_text",
        parquet_bytes(pf.with_columns(created_date=pl.Series([T0, "soon", None]))),
        "created_date as ISO text: parsed; bad text and nulls rejected",
        Expected(kept=1, rejects={"bad_timestamp": 1, "missing_created_date": 1}),
        suffix=".parquet",
    )
    add(
        "parquet_created_date_epoch",
        parquet_bytes(pf.with_columns(created_date=pl.Series([1759482723120, 10**18, -5]))),
        "created_date as epoch ms: parsed; absurd values rejected, no overflow",
        Expected(kept=1, rejects={"bad_timestamp": 1, "implausible_timestamp": 1}),
        suffix=".parquet",
    )
    add(
        "parquet_created_date_float",
        parquet_bytes(
            pf.with_columns(created_date=pl.Series([1.75948e12, float("nan"), float("inf")]))
        ),
        "created_date as float: NaN and infinity rejected",
        Expected(kept=1, rejects={"bad_timestamp": 2}),
        suffix=".parquet",
    )
    add(
        "parquet_width_text",
        parquet_bytes(pf.with_columns(browser_view_width=pl.Series(["1280", "wide", None]))),
        "a numeric column stored as text: numbers parsed, the rest wrong_type",
        Expected(kept=2, rejects={"wrong_type": 1}, values={"browser_view_width": [1280, None]}),
        suffix=".parquet",
    )
    add(
        "parquet_attributes_text",
        parquet_bytes(pf.with_columns(attributes=pl.lit("x"))),
        "attributes as text",
        Expected(rejects={"wrong_type": 3}),
        suffix=".parquet",
    )
    add(
        "parquet_ids_as_numbers",
        parquet_bytes(
            pf.with_columns(event_id=pl.Series([1, 2, 3]), customer_id=pl.Series([7, 7, 7]))
        ),
        "integer ids are accepted as text",
        Expected(kept=3, values={"event_id": ["1", "2", "3"], "customer_id": ["7"] * 3}),
        suffix=".parquet",
    )
    add(
        "parquet_epoch_int64_extremes",
        parquet_bytes(
            pf.with_columns(created_date=pl.Series([-(2**63), 2**63 - 1, 1759482723120]))
        ),
        "epoch values at the Int64 limits (abs() of the smallest overflows): rejected, no crash "
        "(found by fuzzing)",
        Expected(kept=1, rejects={"bad_timestamp": 2}),
        suffix=".parquet",
    )
    far = pl.Series([9 * 10**18, -9 * 10**18, 1_759_482_723_120_000])
    add(
        "parquet_datetimes_beyond_year_9999",
        parquet_bytes(pf.with_columns(created_date=far.cast(pl.Datetime("us", "UTC")))),
        "created_date in year 285,000 and before year 1 (Polars panics formatting these): "
        "rejected as implausible, no crash (found by fuzzing)",
        Expected(kept=1, rejects={"implausible_timestamp": 2}),
        suffix=".parquet",
    )
    add(
        "parquet_title_is_a_datetime",
        parquet_bytes(pf.with_columns(page_title=far.cast(pl.Datetime("ms")))),
        "a date-time column where text is expected, with absurd values: wrong_type",
        Expected(rejects={"wrong_type": 3}),
        suffix=".parquet",
    )
    add(
        "parquet_empty",
        parquet_bytes(pf.head(0)),
        "a Parquet file with no rows",
        Expected(warnings=1),
        suffix=".parquet",
    )
    add(
        "parquet_duplicates",
        parquet_bytes(pl.concat([pf, pf.with_columns(event_name=pl.lit("changed"))])),
        "duplicated ids with different contents in Parquet",
        Expected(kept=3, duplicates=3, conflicts=3),
        suffix=".parquet",
    )
    raw = parquet_bytes(pf)
    add(
        "parquet_corrupt_footer",
        raw[:-12] + b"\x00" * 8 + raw[-4:],
        "a corrupt footer",
        Expected(error="not a readable Parquet file"),
        suffix=".parquet",
    )
    add(
        "parquet_truncated",
        raw[: len(raw) // 2],
        "a Parquet file cut in half",
        Expected(error="not a readable Parquet file"),
        suffix=".parquet",
    )
    add(
        "parquet_zero_bytes",
        b"",
        "an empty .parquet file",
        Expected(error="not a readable Parquet file"),
        suffix=".parquet",
    )

    _rules_cases(add, pf, out, cases)

    if big and out is not None:
        cases.append(big_line_case(out))
    return cases


def big_line_case(out: Path) -> Case:
    """A 50 MB single line between two good events (streamed to disk, never held whole)."""
    name = "line_50mb.jsonl"
    with open(out / name, "wb") as fh:
        fh.write(jl(ev(1)))
        fh.write(b'{"id": "huge", "pad": "')
        chunk = b"A" * (1 << 20)
        for _ in range(BIG_LINE_BYTES >> 20):
            fh.write(chunk)
        fh.write(b'"}\n')
        fh.write(jl(ev(2, ts=at(1))))
    return Case(
        "line_50mb",
        [name],
        "a 50 MB single line is rejected unread (default limit 1 MB)",
        Expected(
            kept=2, rejects={"line_too_long": 1}, reject_rows=[(0, 2, "line_too_long", "(line)")]
        ),
        big=True,
    )


# ---------------------------------------------------------------------------------------------
# the injection corpus: data typed by visitors that must never act on the reader
# ---------------------------------------------------------------------------------------------

#: Payloads, each with a marker word that shows whether (part of) it reached an output.
INJECTION = {
    "markup": "[bold]MARKUP1[/bold]",
    "link": "[link=https://evil.example]LINK1[/link]",
    "closing_tag": "[/]CLOSE1[/bold]",
    "ansi": "\x1b[31mANSI1\x1b[0m\x1b[2J",
    "osc8": "\x1b]8;;https://evil.example\x07OSC1\x1b]8;;\x07",
    "bell": "\x07BELL1\x08\x7f",
    "c1_csi": "\x9b31mCSI1\x9d0;title\x9c",
    "bidi": "\u202eBIDI1\u202c",
    "script": "<script>alert(1)</script>SCRIPT1",
    "attr": '"><img src=x onerror=alert(2)>ATTR1',
    "js_url": "javascript:alert(3)//JSURL1",
    "formula": '=HYPERLINK("https://evil.example","FORMULA1")',
    "plus": "+1+cmd|' /C calc'!A0 PLUS1",
    "minus": "-2+3 MINUS1",
    "at": "@SUM(1+1) AT1",
    "tab": "\t=1+1 TAB1",
    "newline": "line1\nNEWLINE1\r\nline3",
    "md_pipe": "a | b | PIPE1",
    "md_link": "[MDJS1](javascript:alert(4))",
}
#: Visitor ids carrying payloads (a cookie value can be tampered with).
INJECTION_VISITORS = ["=1+1 VISITOR1", "[bold]VISITOR2[/bold]", "<b>VISITOR3</b>", "plain-visitor"]


def injection_events() -> bytes:
    """Web, search, custom and system events whose visitor-typed fields hold every payload."""
    payloads = list(INJECTION.values())
    events: list[dict[str, Any]] = []
    n = 0
    for v, visitor in enumerate(INJECTION_VISITORS):
        for k, text in enumerate(payloads):
            n += 1
            e = ev(
                f"inj-{n:04d}",
                visitor,
                at(v * 200 + k),
                title=text,
                name="page_viewed" if k % 3 else "form_submitted",
            )
            web = e["webEvent"]
            web["page"]["url"] = "https://shop.example/?q=" + text
            web["page"]["pathname"] = "/" + text
            web["searchQuery"] = text if k % 2 else None
            web["referrer"] = {"url": text, "hostname": text, "medium": "social", "name": text}
            web["mktCampaign"] = {"source": text, "medium": "email", "name": text, "term": text}
            web["browser"] = {"family": text, "version": "1", "lang": "en"}
            web["device"] = {"category": "mobile", "type": text, "osFamily": text}
            web["geolocation"] = {"country": "GB", "locality": text, "regionName": text}
            web["ipOrganization"] = text
            web["userAgentString"] = text
            web["attributes"] = {text: {"dataType": "string", "value": text}}
            web["traits"] = {
                "givenName": {"dataType": "string", "value": text},
                "email": {"dataType": "string", "value": "x@example.org"},
            }
            events.append(e)
        n += 1
        seg = ev(
            f"inj-{n:04d}",
            visitor,
            at(v * 200 + 1),
            eventType=GENESYS + "SegmentAssignmentEvent",
            webEvent=_DROP,
            segmentAssignmentEvent={"segment": {"id": payloads[v]}},
        )
        n += 1
        out = ev(
            f"inj-{n:04d}",
            visitor,
            at(v * 200 + 2),
            eventType=GENESYS + "OutcomeAchievedEvent",
            webEvent=_DROP,
            outcomeAchievedEvent={"outcome": {"id": "out-1", "displayName": payloads[-v - 1]}},
        )
        events += [seg, out]
    return jl(*events)


def injection_contacts() -> bytes:
    """A contacts file whose names hold payloads (names reach cards and contact lists)."""
    rows = ["contact_id,first_name,last_name,emails,phones,cookie_ids,external_ids"]
    for i, visitor in enumerate(INJECTION_VISITORS[:3]):
        first = list(INJECTION.values())[i * 3].replace('"', '""')
        last = list(INJECTION.values())[i * 3 + 8].replace('"', '""')
        rows.append(f'C{i},"{first}","{last}",c{i}@example.org,,"{visitor}",')
    return ("\n".join(rows) + "\n").encode()


def write_manifest(out: Path, cases: list[Case]) -> Path:
    path = out / "cases.json"
    path.write_text(json.dumps([asdict(c) for c in cases], indent=2, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--big", action="store_true", help="also write the 50 MB line")
    args = ap.parse_args(argv)
    cases = build(args.out, big=args.big)
    path = write_manifest(args.out, cases)
    sys.stdout.write(f"{len(cases)} cases written to {args.out} (manifest {path.name})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
