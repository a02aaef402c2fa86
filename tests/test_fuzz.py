"""Fuzzing: random and mutated events through read_events, deduplicate and sessionize.

Properties: reading never fails except with a DataError naming the file; rows read = events
kept + duplicates + rejected; the sessionizer keeps every event, puts each activity event in
exactly one session, keeps gaps inside a session below the gap and between sessions at or above
it, and gives the same result for any input order. The default budget is small; `-m slow` runs
a large one (FUZZ_EXAMPLES overrides it).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from jtrack.core.dedupe import deduplicate
from jtrack.core.sessionize import sessionize
from jtrack.errors import DataError
from jtrack.options import SessionizeOptions
from jtrack.read import SRC_FILE, SRC_LINE, Source, read_events
from jtrack.schema import ACTIVITY_KINDS, KV_LIST

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SLOW = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)

# ---- strategies -----------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["[bold]x[/bold]", "\x1b[31mred", '=HYPERLINK("x")', "<script>", "\x00", "\u202e", ""]
    ),
)


@st.composite
def timestamp(draw: st.DrawFn) -> Any:
    offset = timedelta(seconds=draw(st.integers(min_value=0, max_value=6 * 3600)))
    t = T0 + offset
    form = draw(st.integers(min_value=0, max_value=9))
    if form <= 5:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if form == 6:
        return int(t.timestamp() * 1000)
    if form == 7:
        return (t + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    if form == 8:
        return draw(
            st.sampled_from(
                ["0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "2040-01-01T00:00:00Z"]
            )
        )
    return draw(junk)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a value of `good`, one time in ten a value of any JSON type."""
    return st.integers(0, 9).flatmap(lambda n: junk if n == 0 else good)


@st.composite
def genesys_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["WebEvent"] * 6 + ["AppEvent", "SegmentAssignmentEvent", "Bogus"]))
    e: dict[str, Any] = {
        "id": draw(mostly(st.sampled_from([f"e{i}" for i in range(25)]))),
        "customerId": draw(mostly(st.sampled_from(["v1", "v2", "v3", "  ", "[red]v4"]))),
        "customerIdType": "cookie",
        "eventType": "com.genesys.journey." + kind,
        "createdDate": draw(timestamp()),
    }
    if draw(st.booleans()):
        e["session"] = {
            "id": draw(st.sampled_from(["s1", "s2"])),
            "type": draw(st.sampled_from(["web", "web", "web", "delivery"])),
        }
    if kind == "WebEvent":
        e["webEvent"] = {
            "eventName": draw(
                mostly(st.sampled_from(["page_viewed", "page_viewed", "form_submitted", ""]))
            ),
            "page": {"url": "https://x.example/", "title": draw(mostly(hostile_text))},
            "searchQuery": draw(st.none() | hostile_text),
            "attributes": draw(
                mostly(
                    st.dictionaries(
                        hostile_text,
                        st.fixed_dictionaries(
                            {"dataType": st.just("string"), "value": hostile_text}
                        ),
                        max_size=2,
                    )
                )
            ),
            "browser": {"viewWidth": draw(mostly(st.integers(0, 5000)))},
        }
    elif kind == "SegmentAssignmentEvent":
        e["segmentAssignmentEvent"] = {"segment": {"id": "seg-1"}}
    elif kind == "AppEvent":
        e["appEvent"] = {"eventName": "app_opened"}
    if draw(st.integers(0, 4)) == 0:
        for key in draw(st.lists(st.sampled_from(sorted(e)), max_size=2)):
            e.pop(key, None)
    return e


def mutate(line: bytes, rnd: random.Random) -> list[bytes]:
    """One mutation of a JSON line (possibly into several lines)."""
    op = rnd.randrange(9)
    if op == 0 and line:
        return [line[: rnd.randrange(len(line))]]  # truncated
    if op == 1 and line:
        i = rnd.randrange(len(line))
        return [line[:i] + bytes([line[i] ^ (1 << rnd.randrange(8))]) + line[i + 1 :]]
    if op == 2:
        i = rnd.randrange(len(line) + 1)
        junk_bytes = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 6)))
        return [line[:i] + junk_bytes + line[i:]]
    if op == 3:
        return [line, line]  # redelivered
    if op == 4:
        return [b"\xef\xbb\xbf" + line]
    if op == 5:
        return [line + b"\r"]
    if op == 6:
        return [b"[" * rnd.randrange(1, 300) + line]
    if op == 7:
        return [b"", b"   "]
    return [line]


@st.composite
def jsonl_bytes(draw: st.DrawFn) -> bytes:
    events = draw(st.lists(genesys_event(), max_size=25))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    lines: list[bytes] = []
    for e in events:
        line = json.dumps(e, ensure_ascii=draw(st.booleans())).encode()
        lines.extend(mutate(line, rnd) if rnd.random() < 0.3 else [line])
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    return sep.join(lines) + draw(st.sampled_from([b"", sep]))


# ---- properties -----------------------------------------------------------------------------


def check_read(data: bytes, max_line_bytes: int) -> None:
    try:
        read = read_events(
            [Source("fuzz.jsonl", data=data)], on_error="skip", max_line_bytes=max_line_bytes
        )
    except DataError as exc:  # a whole-document or compression problem: one clear message
        assert str(exc).startswith("fuzz.jsonl: ") and exc.hint
        return
    assert read.rows_read == read.events.height + read.rejects.height
    assert read.files[0].rows_rejected == read.rejects.height
    assert read.rejects["reason"].null_count() == 0
    assert (read.events["event_id"].str.strip_chars() != "").all()
    assert (read.events["customer_id"].str.strip_chars() != "").all()
    assert read.events["created_date"].null_count() == 0
    dedup = deduplicate(read.events)
    assert dedup.events.height + dedup.duplicates == read.events.height
    assert dedup.events["event_id"].n_unique() == dedup.events.height
    assert set(dedup.conflicts["event_id"]) <= set(dedup.events["event_id"])
    check_sessionize(dedup.events.drop(SRC_FILE, SRC_LINE), timedelta(minutes=20))


def check_sessionize(events: pl.DataFrame, gap: timedelta) -> None:
    opts = SessionizeOptions(gap=gap)
    out = sessionize(events, opts)
    ev, sess = out.events, out.sessions
    # nothing lost, nothing doubled
    assert sorted(ev["event_id"].to_list()) == sorted(events["event_id"].to_list())
    act = ev.filter(pl.col("kind").is_in(list(ACTIVITY_KINDS)))
    assert act["session_id"].null_count() == 0  # every activity event is in a session
    assert sess["id"].n_unique() == sess.height
    assert set(ev["session_id"].drop_nulls()) == set(sess["id"])
    counts = act.group_by("session_id").len()
    joined = sess.join(counts, left_on="id", right_on="session_id", how="left")
    custom = joined.filter(~pl.col("type").is_in(["web", "app"]))
    gapped = joined.filter(pl.col("type").is_in(["web", "app"]))
    assert (gapped["event_count"] == gapped["len"]).all()
    assert (custom["event_count"] >= 1).all()
    # inside a gap-based session activity gaps stay below the gap ...
    inner = (
        act.filter(pl.col("session_type").is_in(["web", "app"]))
        .sort("session_id", "created_date")
        .select((pl.col("created_date").diff().over("session_id")).max())
        .item()
    )
    assert inner is None or inner < gap
    # ... and between consecutive sessions of a visitor's stream they are at least the gap
    between = (
        gapped.sort("customer_id", "type", "created_date")
        .with_columns(prev_end=pl.col("ended_date").shift(1).over("customer_id", "type"))
        .select((pl.col("created_date") - pl.col("prev_end")).min())
        .item()
    )
    assert between is None or between >= gap
    # any input order gives the same sessions and the same assignment
    again = sessionize(events.sample(fraction=1.0, shuffle=True, seed=7), opts)
    assert_frame_equal(again.sessions.sort("id"), sess.sort("id"))
    assert_frame_equal(again.events.sort("event_id"), ev.sort("event_id"))


@FAST
@given(jsonl_bytes(), st.sampled_from([120, 400, 1_000_000]))
def test_mutated_jsonl_keeps_the_accounting_and_the_sessions_sound(data: bytes, limit: int) -> None:
    check_read(data, limit)


@pytest.mark.slow
@SLOW
@given(jsonl_bytes(), st.sampled_from([120, 400, 1_000_000]))
def test_mutated_jsonl_large_budget(data: bytes, limit: int) -> None:
    check_read(data, limit)


@FAST
@given(st.binary(max_size=400))
# text that starts like a zlib stream: Polars took it for one ("corrupt deflate stream")
@example(b"x\x01\x06\x00")
@example(b"x\x9c\x03\x00\x00\x00\x00\x01")
def test_random_bytes_never_crash_the_reader(data: bytes) -> None:
    check_read(data, 200)


@pytest.mark.slow
@SLOW
@given(st.binary(max_size=2000))
def test_random_bytes_large_budget(data: bytes) -> None:
    check_read(data, 200)


# ---- Parquet with random column types --------------------------------------------------------

_TYPES: list[Any] = [
    pl.String,
    pl.Int64,
    pl.Float64,
    pl.Boolean,
    pl.Datetime("ms"),
    pl.Datetime("us", "UTC"),
    pl.Date,
    pl.List(pl.String),
    pl.Struct({"a": pl.Int64}),
    pl.Null,
    pl.Categorical,
]
_WINDOW = st.datetimes(min_value=datetime(2026, 10, 3, 9), max_value=datetime(2026, 10, 3, 15))


@st.composite
def parquet_bytes(draw: st.DrawFn) -> bytes:
    """A flat-shaped Parquet file whose columns have plausible or random types."""
    any_type = st.sampled_from(_TYPES).map(lambda t: column(dtype=t))

    def usually(c: column) -> st.SearchStrategy[column]:
        return st.integers(0, 3).flatmap(lambda n: any_type if n == 0 else st.just(c))

    created = st.one_of(
        st.just(
            column(
                dtype=pl.Datetime("us", "UTC"),
                strategy=_WINDOW.map(lambda d: d.replace(tzinfo=UTC)),
            )
        ),
        st.just(column(dtype=pl.Datetime("ms"), strategy=_WINDOW)),
        st.just(column(dtype=pl.String, strategy=_WINDOW.map(lambda d: d.isoformat() + "Z"))),
        st.just(
            column(
                dtype=pl.Int64,
                strategy=_WINDOW.map(lambda d: int(d.replace(tzinfo=UTC).timestamp() * 1000)),
            )
        ),
        any_type,
    )
    customer = st.one_of(
        st.just(column(dtype=pl.String, strategy=st.sampled_from(["v1", "v2", "", "v3"]))),
        st.just(column(dtype=pl.Int64, strategy=st.integers(1, 3))),
        any_type,
    )
    text = usually(column(dtype=pl.String))
    chosen = {
        "event_id": column(dtype=pl.String, strategy=st.sampled_from(["a", "b", "c", "d", ""])),
        "customer_id": draw(customer),
        "created_date": draw(created),
        "event_type": column(dtype=pl.String, strategy=st.sampled_from(["WebEvent", "Nope"])),
        "event_name": column(dtype=pl.String, strategy=st.sampled_from(["page_viewed", "x"])),
        "page_title": draw(text),
        "browser_view_width": draw(usually(column(dtype=pl.Int64))),
        "device_is_mobile": draw(usually(column(dtype=pl.Boolean))),
        "attributes": draw(usually(column(dtype=KV_LIST))),
    }
    cols = []
    for name, c in chosen.items():
        allow_null = name not in ("event_id", "customer_id", "created_date") or draw(st.booleans())
        cols.append(column(name, dtype=c.dtype, strategy=c.strategy, allow_null=allow_null))
    df = draw(dataframes(cols, min_size=0, max_size=12, allow_chunks=False))
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


@FAST
@given(parquet_bytes())
def test_parquet_of_any_column_types_is_accounted_for(data: bytes) -> None:
    read = read_events([Source("fuzz.parquet", data=data)], on_error="skip")
    assert read.rows_read == read.events.height + read.rejects.height
    check_sessionize(deduplicate(read.events).events.drop(SRC_FILE, SRC_LINE), timedelta(minutes=5))


@pytest.mark.slow
@SLOW
@given(parquet_bytes())
def test_parquet_large_budget(data: bytes) -> None:
    read = read_events([Source("fuzz.parquet", data=data)], on_error="skip")
    assert read.rows_read == read.events.height + read.rejects.height
    check_sessionize(deduplicate(read.events).events.drop(SRC_FILE, SRC_LINE), timedelta(minutes=5))


# ---- sessionizer on clean events with a random gap -------------------------------------------


@st.composite
def clean_events(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 40))
    lines = []
    for i in range(n):
        t = T0 + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        kind = draw(st.sampled_from(["WebEvent"] * 5 + ["SegmentAssignmentEvent", "AppEvent"]))
        e: dict[str, Any] = {
            "id": f"e{i:03d}",
            "customerId": draw(st.sampled_from(["v1", "v2", "v3"])),
            "eventType": "com.genesys.journey." + kind,
            "createdDate": t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        }
        if kind == "WebEvent":
            e["webEvent"] = {"eventName": "page_viewed"}
        elif kind == "SegmentAssignmentEvent":
            e["segmentAssignmentEvent"] = {"segment": {"id": "s"}}
        lines.append(json.dumps(e))
    read = read_events([Source("clean.jsonl", data="\n".join(lines).encode())])
    return read.events.drop(SRC_FILE, SRC_LINE)


@FAST
@given(
    clean_events(),
    st.sampled_from([timedelta(seconds=1), timedelta(minutes=20), timedelta(hours=2)]),
)
def test_sessionizer_invariants_for_any_gap(events: pl.DataFrame, gap: timedelta) -> None:
    check_sessionize(events, gap)


@pytest.mark.slow
@SLOW
@given(
    clean_events(),
    st.sampled_from([timedelta(seconds=1), timedelta(minutes=20), timedelta(hours=2)]),
)
def test_sessionizer_invariants_large_budget(events: pl.DataFrame, gap: timedelta) -> None:
    check_sessionize(events, gap)


# ---- splitting lines ------------------------------------------------------------------------
# A block of a JSON lines file is split by Polars when it is UTF-8 (scan_lines) and in Python
# otherwise; both give the same lines, numbers and blank lines left out.

line_bytes = st.lists(
    st.sampled_from([b"a", b"{}", b" ", b"\t", b"\n", b"\r", b"\r\n", b"\r\r\n", b"\xef\xbb\xbf"])
    | st.sampled_from([b"\x00", b"\xc3\xa9", b"\xe2\x80\xa8", b"\xc2\x85", b"\x0b", b"\xff"]),
    max_size=30,
).map(b"".join)


def _split_both(data: bytes, first: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    from jtrack.read.decode import _decode_text
    from jtrack.read.jsonl import _lines_frame, _text_lines

    fast, mark = _text_lines(data, first, "x.jsonl")
    text, slow_mark = _decode_text(data, "x.jsonl")
    assert mark == slow_mark
    return fast, _lines_frame(text, first)


@FAST
@given(line_bytes, st.integers(min_value=1, max_value=10**6))
def test_lines_split_by_polars_equal_lines_split_by_python(data: bytes, first: int) -> None:
    fast, slow = _split_both(data, first)
    assert_frame_equal(fast, slow)


def test_lines_split_by_polars_keep_what_python_keeps() -> None:
    fast, slow = _split_both(b"a\r\r\n\r\n\xef\xbb\xbf\r\n \n\xef\xbb\xbfb\nc\r", 7)
    assert_frame_equal(fast, slow)
    assert fast.rows() == [(7, "a\r"), (11, "b"), (12, "c")]


@FAST
@given(
    st.lists(
        st.sampled_from([b"a", b"bb", b"\n", b"x" * 7, b"\r\n", b"\xc3\xa9"]), max_size=60
    ).map(b"".join),
    st.integers(min_value=1, max_value=16),
    st.none() | st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=5),
)
def test_blocks_keep_every_line_whatever_the_chunks(
    data: bytes, chunk: int, block: int | None, limit: int, first: int
) -> None:
    """A file's bytes, read in chunks of any size, split into blocks of whole lines: every
    physical line is in a block as it was, or (when longer than `limit`) left out as an
    empty line and recorded with its number, size and first bytes; the line numbers each
    block starts at and the newlines counted follow the bytes."""
    from jtrack.read.decode import _RAW_KEEP, _split_blocks

    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    blocks = list(_split_blocks(iter(pieces), limit, block, first))
    if not data:
        assert blocks == []
        return
    lines, got = data.split(b"\n"), b"".join(b.data for b in blocks).split(b"\n")
    assert len(got) == len(lines)
    over = {o.line: o for b in blocks for o in b.overlong}
    for i, line in enumerate(lines):
        if first + i in over:
            o = over.pop(first + i)
            assert (got[i], o.size) == (b"", len(line)) and len(line) > limit
            # (its first bytes, as far as they were read when it passed the limit)
            assert line.startswith(o.head) and len(o.head) >= min(limit + 1, _RAW_KEEP)
        else:
            assert got[i] == line
    assert not over
    assert blocks[0].first_line == first
    for before, after in itertools.pairwise(blocks):
        assert after.first_line == before.newlines + 1
    for b in blocks:
        assert b.newlines - (b.first_line - 1) == b.data.count(b"\n")
    assert blocks[-1].newlines == first - 1 + data.count(b"\n")


def test_a_line_of_unicode_whitespace_is_blank_and_a_zero_width_space_is_not() -> None:
    # (blank: what str.strip_chars would strip to nothing, NEL and ideographic space included)
    text = "a\n\u00a0\n\u2003\t\n\x85\n\u3000\n\x0b\x0c\n\u200b\nb\n"
    fast, slow = _split_both(text.encode(), 1)
    assert_frame_equal(fast, slow)
    assert fast.rows() == [(1, "a"), (7, "\u200b"), (8, "b")]
