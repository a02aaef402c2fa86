"""`jtrack store access`: everything a store holds about a person (GDPR art. 15).

- The export holds every row an erase of the same ids takes out (the same selection:
  jtrack.engine.subjects), counted alike, and those rows are what the erase removes.
- Every column as stored: IP address, user agent, geolocation, traits, a kept input's own
  extra columns; the contacts book's row; sessions.
- Ids not found and erased before are said; a role without every permission may not
  export (exit 4), --redact is refused (exit 2); the JSON is deterministic; the folder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.engine import run_sessionize
from jtrack.engine.erase import erase
from jtrack.errors import NotPermittedError, UsageError
from jtrack.store import Store
from jtrack.usecases.access import access_export
from tests.helpers import T0, flat_event, flat_frame
from tests.test_engine import nightly_stores, overlapping_exports

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TRAITS = [
    {"name": "email", "data_type": "string", "value": "ada@x.org"},
    {"name": "givenName", "data_type": "string", "value": "Ada"},
    {"name": "familyName", "data_type": "string", "value": "Lovelace"},
]
PERSONAL = {
    "ip_address": "198.51.100.7",
    "user_agent_string": "Mozilla/5.0 (Ada's browser)",
    "geolocation_postal_code": "NW1 6XE",
    "geolocation_latitude": 51.5237,
    "geolocation_longitude": -0.1585,
}


def _store(root: Path) -> Store:
    """v1 (Ada, contact C1 by her email trait): two kept events, one shared with v2 (whose
    copy is the duplicate), a redelivery of her own (a duplicate copy), a far-future row
    held aside, a rejected line; in a canonical Parquet input kept as it is, with a column
    of its own. v2 and v3: others."""
    rows = [
        flat_event("e1", "v1", T0, traits=TRAITS, **PERSONAL),
        flat_event("e1", "v2", T0 + timedelta(minutes=5)),
        flat_event("e2", "v2", T0 + timedelta(minutes=6)),
        flat_event("e3", "v1", T0 + timedelta(minutes=7), **PERSONAL),
        flat_event("e3", "v1", T0 + timedelta(minutes=7), **PERSONAL),
        flat_event("e4", "v3", T0 + timedelta(minutes=8)),
        flat_event("e6", "v3", T0 + timedelta(minutes=9)),
        flat_event("far", "v1", T0 + timedelta(days=900)),
    ]
    root.mkdir(parents=True, exist_ok=True)
    a = root / "a.parquet"
    flat_frame(rows).with_columns(loyalty_tier=pl.lit("gold")).write_parquet(a)
    b = root / "b.jsonl"
    b.write_text(
        json.dumps({"event_id": "e5", "customer_id": "v1", "created_date": "bad"})
        + "\n"
        + json.dumps({"event_id": "e7", "customer_id": "v3", "created_date": "bad"})
        + "\n"
        + json.dumps(
            {
                "event_id": "e8",
                "customer_id": "v3",
                "created_date": "2026-10-03T12:00:00Z",
                "kind": "page_view",
                "event_type": "WebEvent",
                "event_name": "page_viewed",
            }
        )
        + "\n"
    )
    contacts = root / "contacts.csv"
    contacts.write_text("contact_id,name,email\nC1,Ada Lovelace,ada@x.org\nC2,Bob,bob@x.org\n")
    store = Store.open(root / "store")
    run_sessionize([a], store, contacts=contacts, on_error="skip")
    run_sessionize([b], store, on_error="skip")
    return store


def _segment_rows(store: Store) -> pl.DataFrame:
    store.refresh()
    with store.snapshot() as snap:
        return pl.concat(
            [
                pl.read_parquet(snap.dir / "segments" / s.file, glob=False).select(
                    "event_id", "customer_id"
                )
                for s in snap.manifest.segments
            ]
        )


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# ---------------------------------------------------------------------------- the rows


@pytest.mark.parametrize("by", ["visitor", "contact"])
def test_the_export_holds_every_row_an_erase_takes_out(tmp_path: Path, by: str) -> None:
    store = _store(tmp_path)
    asked: dict[str, list[str]] = {"visitors": ["v1"]} if by == "visitor" else {"contacts": ["C1"]}
    out = access_export(store, **asked, now=NOW)
    would = erase(store, **asked, dry_run=True)
    assert out.found["visitors"] == would.visitors == ["v1"]
    c = out.counts
    assert (c["sessions"], c["events"], c["duplicates"], c["held"], c["rejected"]) == (
        would.sessions,
        would.events,
        would.duplicates,
        would.held,
        would.rejected,
    )
    assert (c["events"], c["duplicates"], c["held"], c["rejected"]) == (2, 1, 1, 1)
    if by == "contact":
        assert c["contacts_rows"] == would.contacts_rows == 1
    events = out.events
    assert events.height == c["event_rows"]
    assert events.get_column("customer_id").unique().to_list() == ["v1"]
    assert sorted(events.get_column("status").to_list()) == [
        "duplicate",
        "held",
        "kept",
        "kept",
        "rejected",  # (e5, kept in the store's copy of b.jsonl)
    ]
    kept = events.filter(pl.col("status") == "kept")
    assert kept.get_column("session_id").is_not_null().all()
    assert set(kept.get_column("session_id")) == set(out.sessions.get_column("id"))
    assert sorted(out.rejected.get_column("reason").to_list()) == ["bad_timestamp", "far_future"]
    assert (
        out.rejected.filter(pl.col("reason") == "bad_timestamp")["raw"].str.contains('"e5"').all()
    )

    # what the erase takes out is what the export showed
    before_rows = _segment_rows(store)
    with store.snapshot() as snap:
        before_rejects = snap.rejects()
    done = erase(store, **asked)
    after_rows = _segment_rows(store)
    assert before_rows.height - after_rows.height == events.height
    gone = before_rows.filter(pl.col("customer_id") == "v1").sort("event_id")
    assert_ids = events.select("event_id", "customer_id").sort("event_id")
    assert gone.get_column("event_id").to_list() == assert_ids.get_column("event_id").to_list()
    store.refresh()
    with store.snapshot() as snap:
        after_rejects = snap.rejects()
        book = snap.contacts_book()
    removed = before_rejects.join(after_rejects, on=list(before_rejects.columns), how="anti")
    # (a far-future line is its held row's: it goes with it, and is counted held)
    assert removed.height == done.rejected + done.held == out.rejected.height
    if by == "contact":
        assert book is not None and "C1" not in book.get_column("contact_id").to_list()
    again = access_export(store, **asked, now=NOW)
    assert again.counts["event_rows"] == 0 and again.sessions.height == 0


def test_a_duplicates_table_in_deltas_exports_as_one_file(tmp_path: Path) -> None:
    """The copies a person's export lists are the same whether later runs wrote theirs as
    deltas of the duplicates table or the table whole."""
    deltas, whole = nightly_stores(tmp_path, overlapping_exports(tmp_path / "in"))
    outs = [access_export(store, visitors=["v1", "v9"], now=NOW) for store in (deltas, whole)]
    assert outs[0].counts == outs[1].counts and outs[0].counts["duplicates"] > 0
    assert_frame_equal(outs[0].events, outs[1].events)
    assert_frame_equal(outs[0].sessions, outs[1].sessions)


def test_every_column_as_stored_and_the_contacts_row(tmp_path: Path) -> None:
    store = _store(tmp_path)
    doc = access_export(store, ["v1"], now=NOW).to_dict()
    first = next(e for e in doc["events"] if e["event_id"] == "e1")
    for name, value in PERSONAL.items():
        assert first[name] == value, name
    assert {t["name"]: t["value"] for t in first["traits"]} == {
        "email": "ada@x.org",
        "givenName": "Ada",
        "familyName": "Lovelace",
    }
    assert first["loyalty_tier"] == "gold"  # (the input's own column, as the store keeps it)
    assert first["created_date"] == "2026-10-03T09:00:00.000Z"
    assert first["status"] == "kept" and first["session_id"]
    # the visitor resolved to C1: the book's row about her, every field
    assert [r["contact_id"] for r in doc["contacts"]] == ["C1"]
    assert doc["contacts"][0]["emails"] == ["ada@x.org"]
    assert doc["sessions"][0]["ip_address"] == "198.51.100.7"
    assert doc["sessions"][0]["contact_id"] == "C1"
    assert doc["made"] == "2026-12-01T12:00:00.000Z" and doc["version"].startswith("v")
    assert doc["asked"] == {"visitors": ["v1"], "contacts": []}


def test_sample_data_contact_c0017(tmp_path: Path) -> None:
    """The request that found no command: C0017's IP address, user agent, postcode,
    latitude and longitude, and the book's email."""
    root = tmp_path / "store"
    res = _run(
        "sessionize",
        str(SAMPLE / "events.jsonl"),
        "--contacts",
        str(SAMPLE / "contacts.csv"),
        "--store",
        str(root),
        "-q",
    )
    assert res.exit_code == 0, res.output
    res = _run(
        "store", "access", "--contact", "C0017", "--store", str(root), "--config", "/dev/null"
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["found"]["contacts"] == ["C0017"] and doc["contacts"][0]["emails"]
    kept = [e for e in doc["events"] if e["status"] == "kept"]
    assert len(kept) == doc["counts"]["events"]
    assert {e["session_id"] for e in kept} == {s["id"] for s in doc["sessions"]}
    views = [e for e in kept if e["kind"] == "page_view"]
    assert views
    for name in ("ip_address", "user_agent_string", "geolocation_postal_code"):
        assert all(e[name] for e in views), name
    for name in ("geolocation_latitude", "geolocation_longitude"):
        assert all(isinstance(e[name], float) for e in views), name
    would = erase(Store.open(root), contacts=["C0017"], dry_run=True)
    assert doc["counts"]["duplicates"] == would.duplicates and would.events == len(kept)


# ---------------------------------------------------------------------------- what is said


def test_ids_not_found_and_erased_before_are_said(tmp_path: Path) -> None:
    store = _store(tmp_path)
    erase(store, ["v1"])
    out = access_export(store, ["v1", "v404", "v3"], ["C404"], now=NOW)
    assert out.found == {"visitors": ["v3"], "contacts": []}
    assert out.erased_before == {"visitors": ["v1"], "contacts": []}
    assert out.not_found == {"visitors": ["v404"], "contacts": ["C404"]}
    res = _run(
        "store", "access", "--visitor", "v1", "--visitor", "v404", "--store", str(store.root)
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["erased_before"]["visitors"] == ["v1"] and doc["not_found"]["visitors"] == ["v404"]
    assert doc["counts"]["event_rows"] == 0 and doc["events"] == []
    assert "warning: " in res.stderr and "holds nothing of v404, v1" in res.stderr
    assert "erased before: v1" in res.stderr
    res = _run(
        "store", "access", "--visitor", "v3", "--visitor", "v404", "--store", str(store.root)
    )
    assert res.exit_code == 0 and "note: not in the store: v404" in res.stderr


def test_a_role_without_every_permission_may_not_export(tmp_path: Path) -> None:
    store = _store(tmp_path)
    cfg = tmp_path / "roles.toml"
    every = (
        '"journey:session:view", "journey:event:view", "journey:sessiontype:view", '
        '"journey:eventtype:view", "journey:segment:view", "journey:outcome:view", '
        '"externalContacts:contact:view"'
    )
    cfg.write_text(
        'default_role = "agent"\n[roles.agent]\npermissions = ["journey:session:view", '
        '"journey:event:view"]\n[roles.dpo]\npermissions = [' + every + "]\n"
        '[redact]\nkey = "a long secret"\n'
    )
    base = ["store", "access", "--visitor", "v1", "--store", str(store.root), "--config", str(cfg)]
    out = tmp_path / "out.json"
    res = _run(*base, "-o", str(out))
    assert res.exit_code == 4, res.output
    assert "role 'agent' may not export a person's data" in res.stderr
    assert "externalContacts:contact:view" in res.stderr and "hint: " in res.stderr
    assert not out.exists()
    res = _run(*base, "--role", "dpo", "-o", str(out), "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["events"][0]["ip_address"] == "198.51.100.7"
    res = _run(*base, "--role", "dpo", "--redact")
    assert res.exit_code == 2
    assert "--redact: an access export is the person's own data" in res.stderr
    from jtrack.access import load_policy

    with pytest.raises(NotPermittedError):
        access_export(store, ["v1"], policy=load_policy("agent", config=cfg))
    with pytest.raises(UsageError):
        access_export(store, ["v1"], policy=load_policy("dpo", redact=True, config=cfg))


# ---------------------------------------------------------------------------- formats


def test_the_json_is_deterministic(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = access_export(store, ["v1", "v3"], ["C1"], now=NOW).to_dict()
    b = access_export(store, ["v1", "v3"], ["C1"], now=NOW).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert list(a)[:3] == ["what", "store", "version"]
    assert list(a)[-4:] == ["sessions", "events", "rejected", "contacts"]
    times = [e["created_date"] for e in a["events"] if e["created_date"] is not None]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    cmd = ["store", "access", "--contact", "C1", "--visitor", "v3", "--store", str(store.root)]
    one, two = _run(*cmd), _run(*cmd)
    assert one.exit_code == 0, one.output

    def without_made(text: str) -> str:
        return "\n".join(line for line in text.splitlines() if '"made":' not in line)

    assert without_made(one.stdout) == without_made(two.stdout)
    assert one.stdout != "" and json.loads(one.stdout)["made"].endswith("Z")


def test_a_folder_of_parquet_files(tmp_path: Path) -> None:
    store = _store(tmp_path)
    folder = tmp_path / "C1"
    base = ["store", "access", "--contact", "C1", "--store", str(store.root)]
    res = _run(*base, "-f", "parquet", "-o", str(folder))
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == f"wrote {folder}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "access.json",
        "contacts.parquet",
        "events.parquet",
        "rejected.parquet",
        "sessions.parquet",
    ]
    assert folder.stat().st_mode & 0o077 == 0  # (personal data: its owner's only)
    assert all(f.stat().st_mode & 0o077 == 0 for f in folder.iterdir())  # (its files too)
    header = json.loads((folder / "access.json").read_text())
    events = pl.read_parquet(folder / "events.parquet")
    assert events.height == header["counts"]["event_rows"] == 5
    assert events.schema["created_date"] == pl.Datetime("us", "UTC")
    assert events.schema["traits"] == pl.List(
        pl.Struct({"name": pl.String, "data_type": pl.String, "value": pl.String})
    )
    assert pl.read_parquet(folder / "contacts.parquet")["contact_id"].to_list() == ["C1"]
    # a folder that is not empty, and parquet without a folder, are refused
    res = _run(*base, "-f", "parquet", "-o", str(folder))
    assert res.exit_code == 2 and "not empty" in res.stderr
    res = _run(*base, "-f", "parquet")
    assert res.exit_code == 2 and "-o DIR" in res.stderr
    res = _run(*base, "-f", "csv")
    assert res.exit_code == 2
    # an empty folder is taken; a folder inside the store is not
    (tmp_path / "empty").mkdir()
    assert _run(*base, "-f", "parquet", "-o", str(tmp_path / "empty"), "-q").exit_code == 0
    res = _run(*base, "-f", "parquet", "-o", str(store.root / "x"))
    assert res.exit_code == 2 and "inside the store" in res.stderr


def test_no_one_named_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    res = _run("store", "access", "--store", str(store.root))
    assert res.exit_code == 2 and "no one to export" in res.stderr
    ids = tmp_path / "ids.txt"
    ids.write_text("# a batch\nC1\n\n")
    res = _run(
        "store", "access", "--from", str(ids), "--kind", "contact", "--store", str(store.root)
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["found"]["contacts"] == ["C1"]
    # a batch from a pipe: `--from -` ("cannot read the ids (FileNotFoundError)")
    res = CliRunner().invoke(
        app,
        ["store", "access", "--from", "-", "--kind", "contact", "--store", str(store.root)],
        input="# a batch\nC1\n",
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["found"]["contacts"] == ["C1"]


def test_a_rejected_row_with_json_escapes_is_theirs_as_erase_finds_it(tmp_path: Path) -> None:
    """The selection is erase's: a rejected row that writes the id with JSON escapes (a
    JSON document's rows are kept with non-ASCII escaped) is the person's."""
    doc = [
        {"event_id": "e1", "customer_id": "müller", "created_date": "2026-10-01T10:00:00Z",
         "kind": "page_view", "event_type": "WebEvent", "event_name": "page_viewed"},
        {"event_id": "e2", "customer_id": "müller", "created_date": "bad"},
        {"event_id": "e3", "customer_id": "other", "created_date": "bad"},
    ]  # fmt: skip
    (tmp_path / "doc.json").write_text(json.dumps(doc, ensure_ascii=False))
    store = Store(tmp_path / "store")
    run_sessionize([tmp_path / "doc.json"], store, on_error="skip")
    out = access_export(store, ["müller"], now=NOW)
    assert out.rejected.height == out.counts["rejected"] == 1
    assert "\\u00fc" in out.rejected["raw"][0] and '"e2"' in out.rejected["raw"][0]
    assert out.counts["rejected"] == erase(store, ["müller"], dry_run=True).rejected


def test_another_persons_line_that_names_them_is_not_exported(tmp_path: Path) -> None:
    """A rejected line is the person's for an erase when any of its strings is their id; the
    export gave another visitor's line (their IP, their user agent) whose page title was
    that id. Only lines whose visitor id is theirs are exported; the others are counted."""
    lines = [
        {"event_id": "e1", "customer_id": "vis-1", "created_date": "2026-10-01T10:00:00Z",
         "kind": "page_view", "event_type": "WebEvent", "event_name": "page_viewed"},
        {"event_id": "e2", "customer_id": "vis-1", "created_date": "bad"},
        {"event_id": "e3", "customer_id": "other-2", "created_date": "bad",
         "page_title": "vis-1", "ip_address": "192.0.2.7"},
    ]  # fmt: skip
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    store = Store(tmp_path / "store")
    run_sessionize([tmp_path / "a.jsonl"], store, on_error="skip")
    out = access_export(store, ["vis-1"], now=NOW)
    assert out.rejected.height == out.counts["rejected"] == 1
    assert '"e2"' in out.rejected["raw"][0]
    assert out.counts["rejected_mentions"] == 1
    assert any("not exported" in n for n in out.notes)
    assert "192.0.2.7" not in json.dumps(out.to_dict(), default=str)


def test_the_export_reads_the_current_version_and_a_json_file_is_private(tmp_path: Path) -> None:
    """A Store that pinned a version before an erase exported that version (the person's
    data, the erase not said); `-o FILE.json` was written 0644 under umask 022."""
    import os
    import stat

    from jtrack.usecases.sessions import list_sessions

    store = _store(tmp_path)
    list_sessions(store)  # (pins the version)
    erase(Store(store.root), ["v1"])
    out = access_export(store, ["v1"], now=NOW)
    assert out.erased_before["visitors"] == ["v1"] and out.counts["events"] == 0
    old = os.umask(0o022)
    try:
        res = CliRunner().invoke(
            app, ["store", "access", "--store", str(store.root), "--visitor", "v3", "-o",
                  str(tmp_path / "v3.json")],
        )  # fmt: skip
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE((tmp_path / "v3.json").stat().st_mode) == 0o600


def test_a_float_that_is_no_number_is_null_in_every_json_output(tmp_path: Path) -> None:
    """A Parquet export's NaN latitude and infinite longitude came out of `store access`
    (the export a data subject is given, for other systems) as `NaN` and `Infinity`: no
    JSON, refused by every strict parser (exit 0 all the same)."""
    src = tmp_path / "nan.parquet"
    pl.DataFrame(
        {
            "event_id": ["n1"],
            "customer_id": ["cn"],
            "created_date": [datetime(2026, 10, 1, 10, tzinfo=UTC)],
            "event_type": ["WebEvent"],
            "event_name": ["page_viewed"],
            "geolocation_latitude": [float("nan")],
            "geolocation_longitude": [float("-inf")],
        }
    ).write_parquet(src)
    root = str(tmp_path / "s")
    runner = CliRunner()
    assert runner.invoke(app, ["sessionize", str(src), "--store", root, "-q"]).exit_code == 0

    def strict(text: str) -> Any:
        def refuse(name: str) -> None:
            raise ValueError(name)

        return json.loads(text, parse_constant=refuse)

    res = runner.invoke(app, ["store", "access", "--store", root, "--visitor", "cn"])
    assert res.exit_code == 0, res.output
    rows = [r for r in strict(res.stdout)["events"] if r.get("event_id") == "n1"]
    assert rows and rows[0]["geolocation_latitude"] is None
    assert rows[0]["geolocation_longitude"] is None
    for fmt in ("json", "jsonl"):
        out = runner.invoke(app, ["sessions", "--store", root, "-f", fmt, "--traffic", "all"])
        assert out.exit_code == 0, out.output
        for line in [out.stdout] if fmt == "json" else out.stdout.splitlines():
            strict(line)
    from jtrack.serialize import to_json, to_jsonl

    assert strict(to_json({"share": float("nan"), "xs": [1.5, float("inf")]})) == {
        "share": None,
        "xs": [1.5, None],
    }
    assert strict(to_jsonl([{"x": float("nan")}])) == {"x": None}
