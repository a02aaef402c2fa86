"""Contacts: the contacts file, resolution of visitors (cookie, email, phone, external id),
conflicts, temporary contacts and their 60-day TTL, and the `jtrack contacts` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core import contacts as C
from jtrack.core.sessionize import sessionize
from jtrack.engine import sessionize_sources
from jtrack.errors import ConfigError, ExitCode, FileAccessError, UsageError
from jtrack.schema import SESSION_SCHEMA
from jtrack.serialize import to_records
from tests.helpers import T0, flat_event, flat_frame

runner = CliRunner()

ADA_COOKIE = "6513270e-269e-4d37-b2a7-4de452e6b438"
OTHER_COOKIE = "d23f0824-128b-4f33-8c5c-7fd0a6a3a450"


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _trait(name: str, value: str) -> dict[str, str]:
    return {"name": name, "data_type": "string", "value": value}


def _ev(eid: str, cookie: str, at: datetime, **traits: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if traits:
        extra["traits"] = [_trait(k, v) for k, v in traits.items()]
        extra["event_name"], extra["kind"] = "form_submitted", "custom"
    return flat_event(eid, cookie, at, **extra)


def _csv(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _resolve(rows: list[dict[str, Any]], book: pl.DataFrame | None, **kw: Any) -> C.Resolution:
    s = sessionize(flat_frame(rows))
    return C.resolve_visitors(s.sessions, s.events, book, **kw)


def _who(res: C.Resolution) -> dict[str, tuple[str, str, str | None]]:
    v = res.visitors
    return {
        r["customer_id"]: (r["contact_id"], r["contact_state"], r["match_method"])
        for r in v.iter_rows(named=True)
    }


BOOK = """contact_id,name,emails,phones,cookie_ids,external_ids
A,Alice Able,alice@example.org,+44 20 7946 0001,cookie-a1,CRM-1
B,Bob Baker,bob@example.org;BOB@work.example,+1 (202) 555-0143,,CRM-2
"""


@pytest.fixture
def book(tmp_path: Path) -> pl.DataFrame:
    contacts, invalid = C.load_contacts(_csv(tmp_path, BOOK))
    assert invalid.height == 0
    return contacts


# ----------------------------------------------------------------------------- the file


def test_example_contacts_normalise_adas_spaced_phone_to_e164(examples_dir: Path) -> None:
    contacts, invalid = C.load_contacts(examples_dir / "contacts.csv")
    assert invalid.height == 0
    ada = contacts.row(0, named=True)
    assert ada["contact_id"] == "ext-1001" and ada["contact_name"] == "Ada Lovelace"
    assert ada["phones"] == ["+447700900123"] and ada["cookie_ids"] == []
    assert ada["emails"] == ["ada.lovelace@example.org"]
    assert contacts.row(1, named=True)["cookie_ids"] == ["119a72d1-74c9-4f6a-8c01-1cdd9474031b"]


def test_plural_columns_take_several_values_and_emails_are_case_folded(
    book: pl.DataFrame,
) -> None:
    bob = book.filter(pl.col("contact_id") == "B").row(0, named=True)
    assert bob["emails"] == ["bob@example.org", "bob@work.example"]
    assert bob["phones"] == ["+12025550143"]
    assert bob["external_ids"] == ["CRM-2"] and bob["cookie_ids"] == []
    assert list(book.schema) == list(C.CONTACTS_SCHEMA)


def test_a_phone_without_country_code_is_invalid_and_reported_with_file_row_reason(
    tmp_path: Path,
) -> None:
    p = _csv(tmp_path, "contact_id,first_name,phone,email\nX,Xena,07700 900123, X@Example.org \n")
    contacts, invalid = C.load_contacts(p)
    assert contacts["phones"].to_list() == [[]]
    assert contacts["emails"].to_list() == [["x@example.org"]]
    r = invalid.row(0, named=True)
    assert (r["file"], r["row"], r["contact_id"], r["field"]) == (str(p), 1, "X", "phone")
    assert r["value"] == "07700 900123" and "country code" in r["reason"]
    line = C.invalid_messages(invalid)[0]
    assert line.startswith(f"{p} row 1 (contact X): phone '07700 900123': no country code")


def test_default_region_makes_a_national_phone_valid(tmp_path: Path) -> None:
    p = _csv(tmp_path, "contact_id,phone\nX,07700 900123\nY,0044 20 7946 0001\n")
    contacts, invalid = C.load_contacts(p, default_region="gb")
    assert invalid.height == 0
    assert contacts["phones"].to_list() == [["+447700900123"], ["+442079460001"]]


def test_every_invalid_entry_is_reported_never_dropped_silently(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "contact_id,name,email,phone\n"
        ",No Id,a@example.org,\n"
        "K,Kim,not-an-email;kim@example.org,+44 12\n"
        "K,Kim again,k2@example.org,\n"
        "L,Lee,kim@example.org,call me\n",
    )
    contacts, invalid = C.load_contacts(p)
    assert contacts["contact_id"].to_list() == ["K", "L"]
    got = [(r["row"], r["field"], r["reason"].split(":")[0]) for r in invalid.iter_rows(named=True)]
    assert got == [
        (1, "contact_id", "missing contact id"),
        (2, "email", "not an email address"),
        (2, "email", "also on contact L"),
        (2, "phone", "not a possible length for +44 numbers"),
        (3, "contact_id", "contact id already used on row 2"),
        (4, "email", "also on contact K"),
        (4, "phone", "not a phone number"),
    ]
    # a shared identifier stays listed on both contacts: nothing is lost
    assert contacts["emails"].to_list() == [["kim@example.org"], ["kim@example.org"]]


@pytest.mark.parametrize("kind", ["json", "jsonl", "parquet"])
def test_json_jsonl_and_parquet_files_read_like_csv(
    tmp_path: Path, book: pl.DataFrame, kind: str
) -> None:
    records = [
        {
            "contact_id": "A",
            "name": "Alice Able",
            "emails": ["alice@example.org"],
            "phones": ["+44 20 7946 0001"],
            "cookie_ids": ["cookie-a1"],
            "external_ids": ["CRM-1"],
        },
        {
            "contact_id": "B",
            "name": "Bob Baker",
            "emails": ["bob@example.org", "BOB@work.example"],
            "phones": ["+1 (202) 555-0143"],
            "cookie_ids": [],
            "external_ids": ["CRM-2"],
        },
    ]
    p = tmp_path / f"c.{kind}"
    if kind == "json":
        p.write_text(json.dumps({"contacts": records}))
    elif kind == "jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        pl.DataFrame(records).write_parquet(p)
    contacts, invalid = C.load_contacts(p)
    assert invalid.height == 0
    assert contacts.equals(book)


def test_an_events_export_passed_as_contacts_is_refused_before_the_store_changes(
    tmp_path: Path,
) -> None:
    """An export has an `id` and a `customerId` (aliases of contact_id and cookie_ids): it
    was taken as a book of thousands of contacts named after event ids, and the store's
    known visitors changed. Either shape is refused, exit 2, the store left as it was."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    store = tmp_path / "store"
    assert (
        _run("sessionize", str(root / "events.jsonl"), "--store", str(store), "-q").exit_code == 0
    )
    before = sorted(p.name for p in (store / "versions").iterdir())
    for export in ("events.jsonl", "events.parquet"):
        res = _run("sessionize", "--contacts", str(root / export), "--store", str(store), "-q")
        assert res.exit_code == ExitCode.USAGE, res.output
        assert "an events export, not a contacts file" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        with pytest.raises(ConfigError, match="events export"):
            C.load_contacts(root / export)
    assert sorted(p.name for p in (store / "versions").iterdir()) == before
    # a book with a column named like an event's (a `kind` of contact) is still a book
    book = _csv(tmp_path, "contact_id,kind,email\nC1,customer,a@example.org\n")
    assert C.load_contacts(book)[0].height == 1


def test_a_saved_contact_never_seen_on_the_site_has_no_sessions_not_an_error(
    tmp_path: Path,
) -> None:
    """The store keeps its contacts book: `sessions --contact ID` of a contact in it who
    has no sessions is an empty listing (exit 0), where it said "no contact" (exit 1); an
    id in no book is still an error."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    store = tmp_path / "store"
    args = ["--contacts", str(root / "contacts.csv"), "--store", str(store), "-q"]
    assert _run("sessionize", str(root / "events.jsonl"), *args).exit_code == 0
    book, _ = C.load_contacts(root / "contacts.csv")
    seen = _run(
        "sessions", "--store", str(store), "--traffic", "all", "-f", "csv", "--columns",
        "contact_id",
    )  # fmt: skip
    ids = set(seen.stdout.splitlines()[1:])
    assert any(c in ids for c in book["contact_id"].to_list())
    unseen = [c for c in book["contact_id"].to_list() if c not in ids]
    assert unseen
    res = _run("sessions", "--store", str(store), "--contact", unseen[0], "-f", "csv")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.count("\n") == 1  # the header only
    res = _run("sessions", "--store", str(store), "--contact", "C99999")
    assert res.exit_code == ExitCode.DATA and "no contact 'C99999'" in res.stderr


def test_a_file_without_an_id_column_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no contact id column"):
        C.load_contacts(_csv(tmp_path, "name,email\nA,a@example.org\n"))
    with pytest.raises(FileAccessError, match="no such contacts file"):  # exit 1
        C.load_contacts(tmp_path / "missing.csv")
    with pytest.raises(FileAccessError, match="is a folder, not a contacts file"):
        C.load_contacts(tmp_path)  # (not "no such file": it is there)
    with pytest.raises(FileAccessError, match="is a folder, not a contacts file"):
        C.file_digest(tmp_path)
    with pytest.raises(UsageError, match="default-region"):
        C.load_contacts(_csv(tmp_path, "contact_id\nA\n"), default_region="Atlantis")


# ----------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+44 7700 900123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("+1.202.555.0143", "+12025550143"),
        ("+39 06 1234 5678", "+390612345678"),
        ("+353-861234567", "+353861234567"),
        ("tel:+44-7700-900123", "+447700900123"),
        ("+44 12", None),
        ("+999 1234567", None),
        ("07700 900123", None),
        ("phone me", None),
    ],
)
def test_phones_are_normalised_to_e164(raw: str, e164: str | None) -> None:
    got = C.normalize_phones(pl.Series([raw]))
    assert got.row(0, named=True)["e164"] == e164
    assert (got["reason"][0] is None) == (e164 is not None)


def test_a_local_number_without_its_area_code_is_no_phone_number() -> None:
    """`12345` with --default-region GB was +4412345 and identified any visitor who typed
    those digits (`7946 0958` without London's 20, `555-1234` without a US area code)."""
    got = C.normalize_phones(pl.Series(["12345", "+4412345", "7946 0958"]), "GB")
    assert got["e164"].to_list() == [None, None, None]
    assert set(got["reason"]) == {C.LOCAL_ONLY}
    us = C.normalize_phones(pl.Series(["555-1234", "202 555 0143"]), "US")
    assert us["e164"].to_list() == [None, "+12025550143"]
    whole = C.normalize_phones(pl.Series(["020 7946 0958"]), "GB")
    assert whole["e164"].to_list() == ["+442079460958"]


_CCS = ["1", "7", "20", "33", "39", "44", "49", "52", "54", "55", "61", "81", "82", "86", "353"]
_PLAIN = st.builds(
    lambda cc, trunk, body, seps: (
        "+"
        + cc
        + trunk
        + "".join(d + s for d, s in zip(body, seps + [""] * len(body), strict=False))
    ),
    st.sampled_from(_CCS),
    st.sampled_from(["", "", " ", " (0)", "0", " 0", "(0)"]),
    st.text("0123456789", min_size=1, max_size=16),
    st.lists(st.sampled_from(["", "", " ", "-", ".", "(", ")"]), max_size=16),
)


def _agrees_with_phonenumbers(values: list[str]) -> None:
    got = C.normalize_phones(pl.Series(values))
    for row in got.iter_rows(named=True):
        try:
            num = phonenumbers.parse(row["value"], None)
            # (possible, and not only locally: a number without its area code is no E.164)
            verdict = phonenumbers.is_possible_number_with_reason(num)
            ok = verdict == phonenumbers.ValidationResult.IS_POSSIBLE
            want = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            ok, want = False, None
        assert row["e164"] == (want if ok else None), row


@settings(max_examples=120, deadline=None)
@given(st.lists(_PLAIN, min_size=1, max_size=20))
def test_the_polars_fast_path_agrees_with_phonenumbers(values: list[str]) -> None:
    _agrees_with_phonenumbers(values)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.lists(_PLAIN, min_size=1, max_size=40))
def test_the_polars_fast_path_agrees_with_phonenumbers_at_length(values: list[str]) -> None:
    _agrees_with_phonenumbers(values)


# ----------------------------------------------------------------------------- resolution


def test_ada_earlier_anonymous_session_is_hers_and_the_other_visitor_is_unknown(
    examples_dir: Path,
) -> None:
    run = sessionize_sources(
        [examples_dir / "genesys-events.jsonl"], contacts=examples_dir / "contacts.csv"
    )
    s = run.result.sessions.sort("created_date")
    assert s["customer_id"].to_list() == [ADA_COOKIE, ADA_COOKIE, OTHER_COOKIE]
    assert s["contact_name"].to_list() == ["Ada Lovelace", "Ada Lovelace", "Unknown"]
    assert s["contact_id"].to_list() == ["ext-1001", "ext-1001", "tmp-" + OTHER_COOKIE]
    assert s["match_method"].to_list() == ["email", "email", None]
    assert s["contact_state"].to_list() == ["known", "known", "temporary"]
    assert run.summary.contacts is not None
    assert run.summary.contacts["visitors_known"] == 1
    assert run.summary.contacts["visitors_temporary"] == 1


def test_on_the_sample_data_activity_before_the_trait_belongs_to_the_person() -> None:
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    run = sessionize_sources([sample / "events.parquet"], contacts=sample / "contacts.csv")
    assert run.contacts_invalid is not None and run.contacts_invalid.height == 0
    s = run.result.sessions
    by_trait = s.filter(pl.col("match_method").is_in(["email", "phone"]))
    first_trait = (
        run.result.events.filter(pl.col("traits").list.len() > 0)
        .group_by("customer_id")
        .agg(pl.col("created_date").min().alias("trait_at"))
    )
    before = by_trait.join(first_trait, on="customer_id").filter(
        pl.col("ended_date") < pl.col("trait_at")
    )
    assert before.height > 0  # sessions that ended before the login/form are attributed too
    assert (s["contact_name"] == "Unknown").sum() == (s["contact_state"] != "known").sum() > 0
    book, _ = C.load_contacts(sample / "contacts.csv")
    visitors = C.resolve_visitors(s, run.result.events, book).visitors
    listing = C.list_contacts(visitors, book, ("known",))
    assert listing.filter(pl.col("cookie_ids").list.len() > 1).height >= 1  # cross-device
    assert listing.filter(pl.col("sessions") == 0).height >= 1  # never visited, still listed


def test_the_session_table_has_the_contact_columns_after_customer_id_type(
    examples_dir: Path,
) -> None:
    run = sessionize_sources([examples_dir / "genesys-events.jsonl"])
    assert run.result.sessions.schema == pl.Schema(SESSION_SCHEMA)
    cols = list(SESSION_SCHEMA)
    at = cols.index("customer_id_type")
    assert cols[at + 1 : at + 5] == ["contact_id", "contact_name", "contact_state", "match_method"]
    # with no contacts file everybody is a temporary contact shown as Unknown
    assert set(run.result.sessions["contact_name"]) == {"Unknown"}


def test_each_match_path_is_recorded(book: pl.DataFrame) -> None:
    rows = [
        _ev("1", "cookie-a1", T0),
        _ev("2", "c-email", T0, email="  BOB@Work.Example "),
        _ev("3", "c-phone", T0, cellPhone="+1 202-555-0143"),
        _ev("4", "c-ext", T0, externalId="CRM-1"),
        _ev("5", "c-none", T0, email="stranger@example.org"),
    ]
    assert _who(_resolve(rows, book)) == {
        "cookie-a1": ("A", "known", "cookie"),
        "c-email": ("B", "known", "email"),
        "c-phone": ("B", "known", "phone"),
        "c-ext": ("A", "known", "external_id"),
        "c-none": ("tmp-c-none", "temporary", None),
    }


def test_a_visitor_identified_by_customer_id_type_email_is_matched(book: pl.DataFrame) -> None:
    row = flat_event("1", "alice@example.org", T0, customer_id_type="email")
    assert _who(_resolve([row], book))["alice@example.org"] == ("A", "known", "email")


def test_a_trait_resolves_every_session_of_the_cookie_retroactively(book: pl.DataFrame) -> None:
    rows = [
        _ev("1", "c1", T0),
        _ev("2", "c1", T0 + timedelta(days=2)),
        _ev("3", "c1", T0 + timedelta(days=5), email="bob@example.org"),
        _ev("4", "c1", T0 + timedelta(days=9)),
    ]
    s = sessionize(flat_frame(rows))
    out = C.resolve_contacts(s.sessions, s.events, book)
    assert out.height == 4
    assert out["contact_name"].to_list() == ["Bob Baker"] * 4


def test_a_contact_owns_several_cookies(book: pl.DataFrame) -> None:
    rows = [
        _ev("1", "cookie-a1", T0),
        _ev("2", "phone-cookie", T0 + timedelta(hours=3), email="alice@example.org"),
        _ev("3", "phone-cookie", T0 + timedelta(days=1)),
    ]
    res = _resolve(rows, book)
    listing = C.list_contacts(res.visitors, book)
    alice = listing.filter(pl.col("contact_id") == "A").row(0, named=True)
    assert alice["cookie_ids"] == ["cookie-a1", "phone-cookie"]
    assert alice["match_methods"] == ["cookie", "email"]
    assert alice["sessions"] == 3 and alice["contact_state"] == "known"


def test_the_cookie_listing_beats_a_trait_and_the_conflict_is_reported(
    book: pl.DataFrame,
) -> None:
    rows = [_ev("1", "cookie-a1", T0, email="bob@example.org")]
    res = _resolve(rows, book)
    assert _who(res)["cookie-a1"] == ("A", "known", "cookie")
    c = res.conflicts.select("contact_id", "match_method", "chosen", "rule").rows()
    assert c == [
        ("A", "cookie", True, "cookie listing wins"),
        ("B", "email", False, "cookie listing wins"),
    ]


def test_between_traits_the_most_recent_wins_and_nothing_is_lost(book: pl.DataFrame) -> None:
    rows = [
        _ev("1", "shared-pc", T0, email="alice@example.org"),
        _ev("2", "shared-pc", T0 + timedelta(days=3), cellPhone="+12025550143"),
    ]
    res = _resolve(rows, book)
    assert _who(res)["shared-pc"] == ("B", "known", "phone")
    c = res.conflicts.select("contact_id", "match_method", "chosen", "event_id", "rule").rows()
    assert c == [
        ("B", "phone", True, "2", "most recent trait wins"),
        ("A", "email", False, "1", "most recent trait wins"),
    ]


def test_traits_at_the_same_instant_go_email_then_phone_then_external_id(
    book: pl.DataFrame,
) -> None:
    rows = [_ev("1", "c1", T0, externalId="CRM-1", cellPhone="+12025550143")]
    res = _resolve(rows, book)
    assert _who(res)["c1"] == ("B", "known", "phone")
    # the conflicts say which rule decided: the kind, not recency (it said "most recent")
    assert set(res.conflicts.get_column("rule")) == {
        "same instant: email beats phone beats external id"
    }
    rows = [_ev("1", "c1", T0, externalId="CRM-2", email="alice@example.org")]
    assert _who(_resolve(rows, book))["c1"] == ("A", "known", "email")


def test_a_cookie_listed_on_two_contacts_is_not_guessed(tmp_path: Path) -> None:
    p = _csv(tmp_path, "contact_id,name,cookie_ids,email\nA,Al,c1,al@example.org\nB,Bo,c1,\n")
    book, invalid = C.load_contacts(p)
    assert [r["reason"] for r in invalid.iter_rows(named=True)] == [
        "also on contact B: not used for matching",
        "also on contact A: not used for matching",
    ]
    res = _resolve([_ev("1", "c1", T0)], book)
    assert _who(res)["c1"] == ("tmp-c1", "temporary", None)
    assert res.conflicts["contact_id"].to_list() == ["A", "B"]
    assert not any(res.conflicts["chosen"])
    # a trait naming one of them decides
    res = _resolve([_ev("1", "c1", T0, email="al@example.org")], book)
    assert _who(res)["c1"] == ("A", "known", "email")


def test_an_identifier_on_two_contacts_does_not_merge_anyone(tmp_path: Path) -> None:
    p = _csv(tmp_path, "contact_id,name,email\nA,Al,family@example.org\nB,Bo,family@example.org\n")
    book, _ = C.load_contacts(p)
    res = _resolve([_ev("1", "c1", T0, email="family@example.org")], book)
    assert _who(res)["c1"] == ("tmp-c1", "temporary", None)
    # but --conflicts lists the visitor, with both contacts, neither chosen
    c = res.conflicts.select("customer_id", "contact_id", "match_method", "chosen", "rule")
    unresolved = "email listed on several contacts and no trait decides: unresolved"
    assert c.rows() == [
        ("c1", "A", "email", False, unresolved),
        ("c1", "B", "email", False, unresolved),
    ]


def test_two_contacts_emails_at_one_instant_leave_the_visitor_unresolved(
    tmp_path: Path,
) -> None:
    """One event with `email=carol@...` and `emailAddress=bob@...`: Bob was chosen, the
    lower contact id, with the rule "same instant: email beats phone beats external id",
    which decided nothing. Nothing decides: the visitor stays unresolved, and --conflicts
    says why; a later trait decides as ever."""
    p = _csv(tmp_path, "contact_id,name,email\nB,Bob,bob@example.org\nC,Carol,carol@example.org\n")
    book, _ = C.load_contacts(p)
    both = _ev("1", "c1", T0, email="carol@example.org", emailAddress="bob@example.org")
    res = _resolve([both], book)
    assert _who(res)["c1"] == ("tmp-c1", "temporary", None)
    tie = "another contact's email at the same instant: unresolved"
    assert res.conflicts.select("contact_id", "chosen", "rule").rows() == [
        ("B", False, tie),
        ("C", False, tie),
    ]
    later = _ev("2", "c1", T0 + timedelta(minutes=1), email="carol@example.org")
    assert _who(_resolve([both, later], book))["c1"] == ("C", "known", "email")
    # an older trait beside the tie is not "at the same instant"
    p3 = _csv(tmp_path, "contact_id,name,email,phone\nB,Bob,bob@example.org,\n"
              "C,Carol,carol@example.org,\nD,Dan,,+12025550143\n")  # fmt: skip
    book3, _ = C.load_contacts(p3)
    older = _ev("0", "c1", T0 - timedelta(days=1), cellPhone="+12025550143")
    res3 = _resolve([older, both], book3)
    assert _who(res3)["c1"] == ("tmp-c1", "temporary", None)
    assert res3.conflicts.select("contact_id", "rule").rows() == [
        ("B", tie),
        ("C", tie),
        ("D", "outranked by a tie of two other contacts: unresolved"),
    ]
    # an email and a phone at one instant: the email decides, as before
    p2 = _csv(tmp_path, "contact_id,name,email,phone\nB,Bob,bob@example.org,\nC,Cy,,+12025550143\n")
    book2, _ = C.load_contacts(p2)
    mixed = _ev("1", "c2", T0, email="bob@example.org", cellPhone="+12025550143")
    assert _who(_resolve([mixed], book2))["c2"] == ("B", "known", "email")


def test_a_shared_email_beside_a_trait_that_decides_is_listed_as_not_used(
    tmp_path: Path,
) -> None:
    def conflicts(text: str, rows: list[dict[str, Any]], *cols: str) -> tuple[Any, list[Any]]:
        book, _ = C.load_contacts(_csv(tmp_path, text))
        res = _resolve(rows, book)
        return _who(res)[rows[0]["customer_id"]], res.conflicts.select(*cols).rows()

    who, c = conflicts(
        "contact_id,name,email,phone\nA,Al,family@example.org,\nB,Bo,family@example.org,\n"
        "C,Cy,,+12025550143\n",
        [
            _ev("1", "c1", T0, cellPhone="+12025550143"),
            _ev("2", "c1", T0 + timedelta(days=1), email="family@example.org"),
        ],
        "contact_id", "match_method", "chosen", "rule",
    )  # fmt: skip
    assert who == ("C", "known", "phone")
    assert c == [
        ("C", "phone", True, "the only match not listed on several contacts"),
        ("A", "email", False, "email listed on several contacts: not used"),
        ("B", "email", False, "email listed on several contacts: not used"),
    ]
    # the shared email is also the chosen contact's: its row was marked chosen beside
    # "not used"
    who, c = conflicts(
        "contact_id,name,email\nA,Al,family@example.org;al@example.org\nB,Bo,family@example.org\n",
        [
            _ev("1", "c2", T0, email="family@example.org"),
            _ev("2", "c2", T0 + timedelta(days=1), email="al@example.org"),
        ],
        "contact_id", "value", "chosen", "rule",
    )  # fmt: skip
    assert who == ("A", "known", "email")
    assert c == [
        ("A", "al@example.org", True, "the only match not listed on several contacts"),
        ("A", "family@example.org", False, "email listed on several contacts: not used"),
        ("B", "family@example.org", False, "email listed on several contacts: not used"),
    ]


def test_traits_of_an_unknown_visitor_are_shown_unverified_not_as_the_name(
    book: pl.DataFrame,
) -> None:
    rows = [_ev("1", "anon", T0, givenName="Zed", familyName="Zulu", email="Zed@Example.org")]
    res = _resolve(rows, book)
    v = res.visitors.row(0, named=True)
    assert v["contact_name"] == "Unknown"
    assert v["unverified_name"] == "Zed Zulu"
    assert v["unverified_emails"] == ["zed@example.org"]
    listed = C.list_contacts(res.visitors, book).filter(pl.col("contact_state") == "temporary")
    assert listed.row(0, named=True)["unverified_name"] == "Zed Zulu"
    assert listed.row(0, named=True)["contact_name"] == "Unknown"


_COOKIES = ["c0", "c1", "c2", "c3"]
_EMAILS = ["e0@x.org", "e1@x.org", "e2@x.org", "e3@x.org"]
_scenario = st.tuples(
    # contacts: (cookie listed or not, emails)
    st.lists(
        st.tuples(
            st.sampled_from([None, *_COOKIES]), st.lists(st.sampled_from(_EMAILS), max_size=2)
        ),
        max_size=4,
    ),
    # events: (cookie, minute, email trait or none)
    st.lists(
        st.tuples(
            st.sampled_from(_COOKIES),
            st.integers(0, 600),
            st.sampled_from([None, *_EMAILS]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)


@settings(max_examples=40, deadline=None)
@given(_scenario)
def test_resolution_does_not_depend_on_row_order(scenario: Any) -> None:
    people, visits, rnd = scenario
    book = pl.DataFrame(
        [
            {"contact_id": f"P{i}", "contact_name": f"Person {i}", "first_name": None,
             "last_name": None, "emails": sorted(set(emails)), "phones": [],
             "cookie_ids": [cookie] if cookie else [], "external_ids": [], "row": i + 1}
            for i, (cookie, emails) in enumerate(people)
        ],
        schema=C.CONTACTS_SCHEMA,
    )  # fmt: skip
    rows = [
        _ev(f"e{i:02d}", cookie, T0 + timedelta(minutes=m), **({"email": em} if em else {}))
        for i, (cookie, m, em) in enumerate(visits)
    ]

    def resolve(contacts: pl.DataFrame, event_rows: list[dict[str, Any]]) -> pl.DataFrame:
        return _resolve(event_rows, contacts).visitors.drop("matched_value")

    first = resolve(book, rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    again = resolve(book.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 99)), shuffled)
    assert first.equals(again)
    for v in first.iter_rows(named=True):
        assert (v["contact_name"] == "Unknown") == (v["contact_state"] != "known")
        listed = [f"P{i}" for i, (c, _) in enumerate(people) if c == v["customer_id"]]
        if len(listed) == 1:
            assert (v["contact_id"], v["match_method"]) == (listed[0], "cookie")


# ----------------------------------------------------------------------------- TTL


def test_a_temporary_contact_expires_exactly_sixty_days_after_last_activity() -> None:
    last = T0 + timedelta(minutes=5)
    rows = [_ev("1", "c1", T0), _ev("2", "c1", last)]
    expiry = last + timedelta(days=60)
    at = {
        "just before": expiry - timedelta(microseconds=1),
        "exactly": expiry,
    }
    states = {k: _who(_resolve(rows, None, as_of=v))["c1"][1] for k, v in at.items()}
    assert states == {"just before": "temporary", "exactly": "expired"}
    assert _resolve(rows, None).visitors["expires"].to_list() == [expiry]


def test_the_clock_restarts_on_every_event() -> None:
    rows = [_ev("1", "c1", T0), _ev("2", "c1", T0 + timedelta(days=50))]
    at = T0 + timedelta(days=70)
    assert _who(_resolve(rows, None, as_of=at))["c1"][1] == "temporary"
    assert _who(_resolve(rows[:1], None, as_of=at))["c1"][1] == "expired"


def test_ttl_can_be_changed_and_known_contacts_never_expire(book: pl.DataFrame) -> None:
    rows = [_ev("1", "c1", T0), _ev("2", "cookie-a1", T0)]
    res = _resolve(rows, book, ttl=timedelta(days=1), as_of=T0 + timedelta(days=1))
    assert _who(res) == {
        "c1": ("tmp-c1", "expired", None),
        "cookie-a1": ("A", "known", "cookie"),
    }


def test_refresh_contact_state_re_evaluates_stored_sessions() -> None:
    s = sessionize(flat_frame([_ev("1", "c1", T0)]))
    stored = C.resolve_contacts(s.sessions, s.events, None)
    later = C.refresh_contact_state(stored, T0 + timedelta(days=61)).collect()
    assert later["contact_state"].to_list() == ["expired"]
    assert later["contact_name"].to_list() == ["Unknown"]


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    """A store of three cookies: Alice's listed laptop, Alice's phone (email trait in its
    second session), an anonymous visitor who typed a name; plus the contacts file."""
    rows = [
        _ev("1", "cookie-a1", T0),
        _ev("2", "phone-cookie", T0 + timedelta(hours=1)),
        _ev("3", "phone-cookie", T0 + timedelta(hours=5), email="ALICE@example.org"),
        _ev("4", "anon", T0 + timedelta(days=1), givenName="Zed"),
    ]
    events = tmp_path / "events.parquet"
    flat_frame(rows).write_parquet(events)
    contacts = _csv(tmp_path, BOOK)
    st_dir = tmp_path / "store"
    res = _run("sessionize", str(events), "--store", str(st_dir), "--contacts", str(contacts), "-q")
    assert res.exit_code == 0, res.stderr
    return st_dir, contacts


def test_contacts_lists_known_and_temporary_in_json_equal_to_the_library(
    store: tuple[Path, Path],
) -> None:
    st_dir, contacts = store
    args = ["contacts", "--store", str(st_dir), "--contacts", str(contacts)]
    res = _run(*args, "--as-of", "2026-10-10", "--format", "json")
    assert res.exit_code == 0, res.stderr
    got = {r["contact_id"]: r for r in json.loads(res.stdout)}
    assert set(got) == {"A", "B", "tmp-anon"}
    assert got["A"]["cookie_ids"] == ["cookie-a1", "phone-cookie"]
    assert got["A"]["sessions"] == 3 and got["B"]["sessions"] == 0
    assert got["tmp-anon"]["contact_name"] == "Unknown"
    assert got["tmp-anon"]["unverified_name"] == "Zed"
    assert got["tmp-anon"]["expires"] == "2026-12-03T09:00:00.000Z"
    from jtrack.store import Store

    s = Store.open(st_dir)
    book, _ = C.load_contacts(contacts)
    as_of = datetime(2026, 10, 10, tzinfo=UTC)
    lib = C.resolve_visitors(s.scan_sessions(), s.scan_events(), book, as_of=as_of)
    assert json.loads(res.stdout) == to_records(C.list_contacts(lib.visitors, book))


def test_contacts_limit_keeps_the_first_rows_of_the_listing(store: tuple[Path, Path]) -> None:
    """`sessions` takes --limit; `contacts` (hundreds of rows) did not."""
    st_dir, contacts = store
    args = [
        "contacts",
        "--store",
        str(st_dir),
        "--contacts",
        str(contacts),
        "--as-of",
        "2026-10-10",
    ]
    every = json.loads(_run(*args, "-f", "json").stdout)
    res = _run(*args, "-f", "json", "--limit", "2")
    assert res.exit_code == 0 and json.loads(res.stdout) == every[:2]
    table = _run(*args, "--limit", "1").stdout
    assert table.startswith(f"First 1 of {len(every)} contacts as of 2026-10-10")
    assert json.loads(_run(*args, "-f", "json", "--limit", "0").stdout) == []
    res = _run(*args, "--visitors", "-f", "csv", "--limit", "1")
    assert res.exit_code == 0 and res.stdout.count("\n") == 2


def test_contacts_filters_by_state_as_of_a_date(store: tuple[Path, Path]) -> None:
    st_dir, _ = store

    def ids(*extra: str) -> list[str]:
        res = _run("contacts", "--store", str(st_dir), "--format", "jsonl", *extra)
        assert res.exit_code == 0, res.stderr
        return [json.loads(x)["contact_id"] for x in res.stdout.splitlines()]

    assert ids("--as-of", "2026-12-03T09:00:00Z", "--state", "expired") == ["tmp-anon"]
    assert ids("--as-of", "2026-12-03T08:59:59Z", "--state", "expired") == []
    assert ids("--as-of", "2026-10-05", "--state", "temporary,known") == ["A", "tmp-anon"]
    assert ids("--as-of", "2026-10-05T09:00Z", "--ttl", "1d", "--state", "expired") == ["tmp-anon"]
    res = _run("contacts", "--store", str(st_dir), "--state", "gone")
    assert res.exit_code == ExitCode.USAGE and "known, temporary or expired" in res.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "md", "jsonl"])
def test_contacts_prints_every_format_with_the_same_names(
    store: tuple[Path, Path], fmt: str
) -> None:
    st_dir, contacts = store
    res = _run("contacts", "--store", str(st_dir), "--contacts", str(contacts), "--format", fmt)
    assert res.exit_code == 0, res.stderr
    assert "Alice Able" in res.stdout and "Unknown" in res.stdout
    if fmt == "csv":
        assert res.stdout.splitlines()[0].split(",") == list(C.LISTING_SCHEMA)


def test_sessions_of_a_contact_span_all_its_cookies(store: tuple[Path, Path]) -> None:
    st_dir, _ = store
    res = _run("sessions", "--store", str(st_dir), "--contact", "A", "--format", "jsonl")
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert sorted(r["customer_id"] for r in rows) == ["cookie-a1", "phone-cookie", "phone-cookie"]
    assert {(r["contact_name"], r["contact_state"]) for r in rows} == {("Alice Able", "known")}
    assert sorted(r["match_method"] for r in rows) == ["cookie", "email", "email"]
    missing = _run("sessions", "--store", str(st_dir), "--contact", "Z")
    assert missing.exit_code == ExitCode.DATA and "no contact 'Z'" in missing.stderr


def test_sessions_resolve_again_against_a_new_contacts_file(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    st_dir, _ = store
    newer = _csv(tmp_path, "contact_id,name,cookie_ids\nZ,Zed Zulu,anon\n", "newer.csv")
    res = _run(
        "sessions", "--store", str(st_dir), "--contacts", str(newer), "--contact", "Z", "-f", "json"
    )
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["customer_id"], r["contact_name"], r["match_method"]) for r in rows] == [
        ("anon", "Zed Zulu", "cookie")
    ]
    # without a contacts file the stored resolution is shown
    res = _run("sessions", "--store", str(st_dir), "--customer", "anon", "-f", "json")
    assert json.loads(res.stdout)[0]["contact_name"] == "Unknown"


def test_conflicts_are_listed_from_a_file_or_the_book_the_store_keeps(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    st_dir, contacts = store
    clash = _csv(
        tmp_path,
        "contact_id,name,cookie_ids,email\nA,Al,,alice@example.org\nQ,Quinn,phone-cookie,\n",
        "clash.csv",
    )
    res = _run(
        "contacts", "--store", str(st_dir), "--contacts", str(clash), "--conflicts", "-f", "json"
    )
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["customer_id"], r["contact_id"], r["chosen"]) for r in rows] == [
        ("phone-cookie", "Q", True),
        ("phone-cookie", "A", False),
    ]
    # without --contacts: the book the store took in (it was refused before)
    kept = _run("contacts", "--store", str(st_dir), "--conflicts", "-f", "json")
    named = _run("contacts", "--store", str(st_dir), "--conflicts", "-f", "json", "--contacts",
                 str(contacts))  # fmt: skip
    assert kept.exit_code == 0 and kept.stdout == named.stdout
    events = tmp_path / "events.parquet"
    again = tmp_path / "clashing"
    args = ["sessionize", str(events), "--store", str(again), "--contacts", str(clash), "-q"]
    assert _run(*args).exit_code == 0
    res = _run("contacts", "--store", str(again), "--conflicts", "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == rows
    bare = tmp_path / "bare"
    assert _run("sessionize", str(events), "--store", str(bare), "-q").exit_code == 0
    res = _run("contacts", "--store", str(bare), "--conflicts")
    assert res.exit_code == ExitCode.USAGE and "the store keeps none" in res.stderr


def test_check_exits_2_listing_every_invalid_entry(tmp_path: Path) -> None:
    bad = _csv(
        tmp_path, "contact_id,phone,email\nA,07700 900123,a@example.org\nB,+44 20 7946 0001,b@\n"
    )
    res = _run("contacts", "--check", str(bad), "--format", "csv")
    assert res.exit_code == ExitCode.USAGE
    lines = res.stdout.splitlines()
    assert lines[0] == "file,row,contact_id,field,value,reason"
    assert len(lines) == 3 and "2 invalid entries" in res.stderr
    good = _csv(tmp_path, BOOK, "good.csv")
    res = _run("contacts", "--check", str(good))
    assert res.exit_code == 0 and "2 contacts, no invalid entries" in res.stderr
    one = _csv(tmp_path, "contact_id,email\nA,a@example.org\n", "one.csv")
    res = _run("contacts", "--check", str(one))
    assert res.exit_code == 0 and res.stderr == f"{one}: 1 contact, no invalid entries\n"


def test_the_contacts_table_says_where_the_books_details_are(tmp_path: Path) -> None:
    """With --contacts FILE the listing has every saved contact's emails, phones and
    external ids, which the table leaves out (too wide) without a word."""
    events = tmp_path / "e.parquet"
    flat_frame([_ev("1", "c1", T0)]).write_parquet(events)
    store = str(tmp_path / "st")
    assert _run("sessionize", str(events), "--store", store, "-q").exit_code == 0
    book = _csv(tmp_path, BOOK)
    note = "emails, phones and external ids: -f csv or -f json"
    res = _run("contacts", "--store", store, "--contacts", str(book))
    assert res.exit_code == 0 and note in res.stdout.splitlines()
    assert (
        "emails" in _run("contacts", "--store", store, "--contacts", str(book), "-f", "csv").stdout
    )
    res = _run("contacts", "--store", store)  # (no book: no such details)
    assert res.exit_code == 0 and note not in res.stdout


def test_sessionize_warns_once_per_invalid_entry_and_counts_them(tmp_path: Path) -> None:
    events = tmp_path / "e.parquet"
    flat_frame([_ev("1", "c1", T0)]).write_parquet(events)
    bad = _csv(tmp_path, "contact_id,phone\nA,07700 900123\nB,nope\n")
    res = _run(
        "sessionize", str(events), "--store", str(tmp_path / "s"), "--contacts", str(bad),
        "-q", "--format", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    warnings = [x for x in res.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"warning: {bad} row 1 (contact A): phone '07700 900123'")
    assert json.loads(res.stdout)["summary"]["contacts"]["invalid_entries"] == 2
    manifest = json.loads(next((tmp_path / "s").glob("versions/*/manifest.json")).read_text())
    assert manifest["contacts"]["file"] == str(bad)
    assert manifest["contact_counts"]["invalid_entries"] == 2
    # a later night with the same file says nothing again, but the store still counts them
    more = tmp_path / "more.parquet"
    flat_frame([_ev("2", "c2", T0)]).write_parquet(more)
    res = _run("sessionize", str(more), "--store", str(tmp_path / "s"), "--format", "json")
    assert res.exit_code == 0 and "warning:" not in res.stderr
    assert json.loads(res.stdout)["summary"]["contacts"]["invalid_entries"] == 2


@pytest.mark.parametrize("list_first", [False, True])
def test_a_json_contacts_file_mixing_lists_and_text_is_refused(
    tmp_path: Path, list_first: bool
) -> None:
    """README allows a field's values as `a;b` text or a list; mixed in one JSON lines file,
    the reader typed the column by its first records and kept the other's list as the text
    `["p4@example.com"]`: a contact that matched nothing, reported as valid."""
    rows = [
        '{"contact_id":"J1","emails":"p1@example.com"}',
        '{"contact_id":"J2","emails":["p4@example.com"]}',
    ]
    if list_first:
        rows.reverse()
    book = tmp_path / "mixed.jsonl"
    book.write_text("\n".join(rows) + "\n")
    res = runner.invoke(app, ["contacts", "--check", str(book)])
    assert res.exit_code == ExitCode.USAGE
    assert "emails is a list where earlier records give text" in res.stderr
    with pytest.raises(ConfigError):
        C.load_contacts(book)
    same = tmp_path / "lists.jsonl"  # every value a list (or every value text) is fine
    same.write_text('{"contact_id":"J2","emails":["p4@example.com","p5@example.com"]}\n')
    book_ok, invalid = C.load_contacts(same)
    assert book_ok.get_column("emails").to_list() == [["p4@example.com", "p5@example.com"]]
    assert invalid.height == 0


def test_a_contacts_csv_separated_by_semicolons_gets_a_hint_about_it(tmp_path: Path) -> None:
    """Spreadsheets in many locales save CSV with `;`: the error named the one column it saw
    and said to add a contact_id column, which the file has."""
    book = tmp_path / "semi.csv"
    book.write_text("contact_id;name;emails\nA;Al;a@b.com\n")
    res = runner.invoke(app, ["contacts", "--check", str(book)])
    assert res.exit_code == ExitCode.USAGE and res.stderr.count("\n") == 1
    assert "the header looks separated by ';': jtrack reads comma-separated CSV" in res.stderr
    plain = tmp_path / "other.csv"
    plain.write_text("who,name\nA,Al\n")
    res = runner.invoke(app, ["contacts", "--check", str(plain)])
    assert "name one column contact_id" in res.stderr


def test_a_contact_nothing_can_match_is_reported_and_00_is_read_as_plus(tmp_path: Path) -> None:
    """A contact without one usable identifier is an entry that does nothing: reported
    (kept in the book); `0044 ...` is +44 where no region is given (00 is the international
    prefix ITU recommends, dialled from most countries). Reasons are wrapped, never cut."""
    book = _csv(tmp_path, "contact_id,name,emails,phones\nP2,Two,,0044 7400 147516\nP7,Seven,,\n")
    checked, invalid = C.load_contacts(book)
    assert checked.filter(pl.col("contact_id") == "P2")["phones"].to_list() == [["+447400147516"]]
    assert invalid.select("row", "contact_id", "field").rows() == [(2, "P7", "contact_id")]
    assert invalid["reason"][0].startswith("no email, phone, cookie id or external id")
    assert checked.height == 2
    res = runner.invoke(app, ["contacts", "--check", str(book)], env={"COLUMNS": "80"})
    assert res.exit_code == ExitCode.USAGE
    assert "nothing can match" in res.stdout and "…" not in res.stdout.split("contact_id")[-1]


def test_a_book_reads_phones_and_emails_from_every_column_name_events_use(tmp_path: Path) -> None:
    """`Mobile`, `Telephone` and `Work Email` columns were not read (phones dropped without a
    word, `--check` said nothing), though events' traits of those names are identities."""
    book = (
        "Contact ID,First Name,Last Name,Work Email,Mobile,Telephone,Tel,Notes\n"
        "C1,Jane,Doe,jane.doe@example.org,+44 7700 900123,+44 20 7946 0958,+1 212 555 0100,x\n"
    )
    contacts, invalid = C.load_contacts(_csv(tmp_path, book))
    row = contacts.row(0, named=True)
    assert row["emails"] == ["jane.doe@example.org"]
    assert sorted(row["phones"]) == ["+12125550100", "+442079460958", "+447700900123"]
    assert invalid.height == 0


def test_a_contacts_file_that_cannot_be_read_is_exit_1_with_a_hint_for_its_kind(
    tmp_path: Path,
) -> None:
    """A zero-byte CSV or a cut-short Parquet file was exit 2 (an invocation problem), and
    the Parquet one was told to write its JSON lists alike: a file that cannot be read is
    exit 1, as for an events file, with a hint that fits."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    events = str(root / "events.jsonl")
    empty = tmp_path / "contacts.csv"
    empty.write_bytes(b"")
    cut = tmp_path / "contacts.parquet"
    cut.write_bytes((root / "events.parquet").read_bytes()[:300])
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"contact_id,first_name\nC1,Ren\xe9\n")
    quote = tmp_path / "quote.csv"  # (its words say "empty" and "utf8": not its bytes)
    quote.write_text('contact_id,name\n"C-empty-utf8-1,x\n')
    blank = tmp_path / "blank.json"
    blank.write_text("  \n")
    hints = {
        empty: "the file is empty",
        cut: "check that the file is whole",
        latin: "save it as UTF-8",
        quote: "its quotes paired",
        blank: "the file is empty",
    }
    for book, hint in hints.items():
        res = _run("sessionize", events, "--contacts", str(book), "--store", str(tmp_path / "s"))
        assert res.exit_code == ExitCode.DATA, res.output
        assert "cannot read the contacts file" in res.stderr
        assert hint in res.stderr and "(a list" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
    # named as written, as "no such contacts file" and its invalid entries name it (it
    # was the absolute path)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        for name in ("quote.csv", "contacts.parquet", "latin.csv"):
            res = _run("contacts", "--check", name)
            assert res.exit_code == ExitCode.DATA
            assert res.stderr.startswith(f"error: {name}: cannot read the contacts file")


def test_as_of_a_past_time_counts_the_activity_before_it_only(tmp_path: Path) -> None:
    """A visitor seen on 1 August and again on 15 October was, `--as-of` 1 October, listed
    by `contacts` (and `sessions`, `journey`) as temporary with 2 sessions, expiring in
    December: activity after the clock kept the contact alive before it happened (the card
    said expired). As of a time, a visitor's last activity is what they did by then (and
    one not seen by then is not listed)."""
    rows = [flat_event("u1", "cookU2", datetime(2026, 8, 1, 10, tzinfo=UTC)),
            flat_event("u2", "cookU2", datetime(2026, 10, 15, 10, tzinfo=UTC))]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st, "-q").exit_code == 0

    def listing(*args: str) -> list[dict[str, Any]]:
        res = _run(*args, "--store", st, "-f", "jsonl")
        assert res.exit_code == 0, res.stderr
        return [json.loads(x) for x in res.stdout.splitlines()]

    [c] = listing("contacts", "--as-of", "2026-10-01T00:00Z")
    assert (c["contact_state"], c["sessions"]) == ("expired", 1)
    assert c["last_seen"].startswith("2026-08-01T10:00") and c["expires"].startswith("2026-09-30")
    [v] = listing("contacts", "--visitors", "--as-of", "2026-10-01T00:00Z")
    assert (v["contact_state"], v["sessions"]) == ("expired", 1)
    assert listing("contacts", "--as-of", "2026-07-01") == []
    states = listing("sessions", "--as-of", "2026-10-01T00:00Z", "--columns", "contact_state")
    assert states[0] == {"contact_state": "expired"}
    res = _run("journey", "cookU2", "--store", st, "--as-of", "2026-10-01T00:00Z", "-f", "json")
    assert json.loads(res.stdout)["contact"]["state"] == "expired"
    [later] = listing("contacts", "--as-of", "2026-11-01")  # (both, the October one last)
    assert (later["contact_state"], later["sessions"]) == ("temporary", 2)
    # with a contacts file (another way through), the same answers
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nC1,Kim,kim@example.com\n")
    got = listing("contacts", "--as-of", "2026-10-01T00:00Z", "--contacts", str(book))
    [c] = [r for r in got if r["contact_id"] == "tmp-cookU2"]
    assert (c["contact_state"], c["sessions"]) == ("expired", 1)
    assert c["last_seen"].startswith("2026-08-01T10:00")
    states = listing("sessions", "--as-of", "2026-10-01T00:00Z", "--contacts", str(book),
                     "--columns", "contact_state")  # fmt: skip
    assert states[0] == {"contact_state": "expired"}


def test_without_as_of_a_session_dated_after_now_still_counts(tmp_path: Path) -> None:
    """With the clock of `--as-of` applied when none was given, `jtrack contacts` left out
    a known contact whose only session a skewed clock dated three minutes after now."""
    now = datetime.now(UTC)
    rows = [flat_event("s1", "early", now - timedelta(days=1)),
            flat_event("s2", "k1", now + timedelta(minutes=3))]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,cookie_ids\nC1,Kim,k1\n")
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st, "--contacts", str(book)).exit_code == 0
    res = _run("contacts", "--store", st, "-f", "jsonl")
    got = {json.loads(x)["contact_id"]: json.loads(x)["sessions"] for x in res.stdout.splitlines()}
    assert got == {"C1": 1, "tmp-early": 1}, res.stdout
    # resolved through the contacts file too, by every command (it lost its contact there)
    st2 = str(tmp_path / "st2")
    assert _run("sessionize", str(src), "--store", st2).exit_code == 0
    res = _run("sessions", "--store", st2, "--contacts", str(book), "--customer", "k1",
               "--columns", "contact_id,contact_state", "-f", "csv")  # fmt: skip
    assert res.stdout.splitlines()[1:] == ["C1,known"], res.stdout
    res = _run("journey", "C1", "--store", st2, "--contacts", str(book), "-f", "json")
    assert json.loads(res.stdout)["contact"]["name"] == "Kim", res.stderr
    res = _run("journey", "k1", "--store", st, "-f", "json")
    assert json.loads(res.stdout)["contact"]["name"] == "Kim", res.stderr


def test_every_command_judges_expiry_by_the_activity_before_its_clock(tmp_path: Path) -> None:
    """A visitor seen 100 days ago and again (a skewed clock) in 30 days: `contacts` said
    temporary, 2 sessions, where `card`, `journey` and `contacts --as-of now` said expired.
    Every command judges by what the visitor did by its clock (default now)."""
    now = datetime.now(UTC)
    rows = [flat_event("f1", "c5", now - timedelta(days=100)),
            flat_event("f2", "c5", now + timedelta(days=30)),
            flat_event("f3", "c6", now + timedelta(days=30))]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st).exit_code == 0
    for extra in ([], ["--as-of", "now"]):
        res = _run("contacts", "--store", st, "-f", "jsonl", *extra)
        got = {json.loads(x)["contact_id"]: json.loads(x) for x in res.stdout.splitlines()}
        assert got["tmp-c5"]["contact_state"] == "expired", (extra, got)
        # (no activity by the clock at all: judged by the sessions it has, with an expiry,
        # not left temporary for ever)
        c6 = got.get("tmp-c6")
        if not extra:
            assert c6 is not None and c6["contact_state"] == "temporary"
            assert c6["expires"] is not None and c6["last_seen"] is not None
    res = _run("journey", "c5", "--store", st, "-f", "json")
    assert json.loads(res.stdout)["contact"]["state"] == "expired"
    res = _run("sessions", "--store", st, "--as-of", "now", "--columns", "contact_state",
               "--customer", "c5", "-f", "csv")  # fmt: skip
    assert res.stdout.splitlines()[1:] == ["expired", "expired"], res.stdout


def test_as_of_a_past_time_a_contacts_file_matches_by_the_traits_sent_by_then(
    tmp_path: Path,
) -> None:
    """A visitor who sent the email of a saved contact on 10 October was that contact on 1
    October by `contacts --contacts FILE --as-of`, where the card said Unknown: as of a time,
    the traits sent by then identify a visitor."""
    email = [{"name": "email", "data_type": "string", "value": "k8@example.com"}]
    rows = [
        flat_event("a", "c8", datetime(2026, 9, 15, 10, tzinfo=UTC)),
        {**flat_event("b", "c8", datetime(2026, 10, 10, 10, tzinfo=UTC)), "traits": email},
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nK8,Kate,k8@example.com\n")
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st).exit_code == 0

    def who(*extra: str) -> dict[str, int]:
        res = _run("contacts", "--store", st, "--contacts", str(book), "-f", "jsonl", *extra)
        assert res.exit_code == 0, res.stderr
        return {
            json.loads(x)["contact_id"]: json.loads(x)["sessions"] for x in res.stdout.splitlines()
        }

    assert who("--as-of", "2026-10-01T00:00Z") == {"K8": 0, "tmp-c8": 1}
    assert who("--as-of", "2026-10-11T00:00Z") == {"K8": 2}


def test_as_of_a_past_time_the_stores_own_book_matches_by_the_traits_sent_by_then(
    tmp_path: Path,
) -> None:
    """A store built with `--contacts FILE`: a visitor who sent a saved contact's email on 10
    October was that contact on 1 October for `contacts` and `sessions --as-of` (the store's
    resolution, made with every trait), where the card and journey said Unknown: as of a
    time, the store's own book matches by the traits sent by then, as a file given does."""
    email = [{"name": "email", "data_type": "string", "value": "k8@example.com"}]
    rows = [
        flat_event("a", "c8", datetime(2026, 9, 15, 10, tzinfo=UTC)),
        {**flat_event("b", "c8", datetime(2026, 10, 10, 10, tzinfo=UTC)), "traits": email},
        flat_event("c", "c9", datetime(2026, 9, 20, 10, tzinfo=UTC)),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nK8,Kate,k8@example.com\nK9,Nobody,k9@example.com\n")
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st, "--contacts", str(book)).exit_code == 0

    def rows_of(*args: str) -> list[dict[str, Any]]:
        res = _run(*args, "--store", st, "-f", "jsonl")
        assert res.exit_code == 0, res.stderr
        return [json.loads(x) for x in res.stdout.splitlines()]

    def who(*extra: str) -> dict[str, int]:
        return {r["contact_id"]: r["sessions"] for r in rows_of("contacts", *extra)}

    early, late = ("--as-of", "2026-10-01T00:00Z"), ("--as-of", "2026-10-11T00:00Z")
    # the visitors only (as without a clock), not every saved contact of the book
    assert who(*early) == {"tmp-c8": 1, "tmp-c9": 1}
    assert who(*late) == who() == {"K8": 2, "tmp-c9": 1}
    listed = rows_of("sessions", *early, "--columns", "id,customer_id,contact_id,contact_state")
    assert {(r["customer_id"], r["contact_id"], r["contact_state"]) for r in listed} == {
        ("c8", "tmp-c8", "temporary"),
        ("c9", "tmp-c9", "temporary"),
    }
    later = rows_of("sessions", *late, "--columns", "customer_id,contact_id")
    assert {(r["customer_id"], r["contact_id"]) for r in later} == {("c8", "K8"), ("c9", "tmp-c9")}
    [first] = [r["id"] for r in listed if r["customer_id"] == "c8"][:1]
    res = _run("card", first, "--store", st, *early, "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["contact"]["contact_id"] == "tmp-c8"


def test_a_journey_by_contact_id_as_of_a_time_shows_who_each_session_was_then(
    tmp_path: Path,
) -> None:
    """A visitor who gave Kate's email on 6 October and Eve's on 20 October: `journey EVE
    --as-of 10 October` labelled the 6 October session Eve's (the present resolution, with
    traits sent after the clock) where its card says Kate; and with `--contacts FILE` (the
    same book) it found no such contact at all. Found by who the visitor is now, each
    session is shown as it stood then, and a note says so."""

    def email(address: str) -> list[dict[str, str]]:
        return [{"name": "email", "data_type": "string", "value": address}]

    rows = [
        {
            **flat_event("a", "c1", datetime(2026, 10, 6, 12, tzinfo=UTC)),
            "traits": email("k@x.org"),
        },
        {
            **flat_event("b", "c1", datetime(2026, 10, 20, 12, tzinfo=UTC)),
            "traits": email("e@x.org"),
        },
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nKATE,Kate,k@x.org\nEVE,Eve,e@x.org\n")
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st, "--contacts", str(book)).exit_code == 0
    when = ("--as-of", "2026-10-10T00:00Z")
    for extra in ([], ["--contacts", str(book)]):
        res = _run("journey", "EVE", "--store", st, *when, *extra, "-f", "json")
        assert res.exit_code == 0, res.stderr
        data = json.loads(res.stdout)
        assert [s["contact"]["contact_id"] for s in data["sessions"]] == ["KATE"], extra
        said = "1 of these sessions was not this contact's as of 2026-10-10"  # (no id: a
        assert any(said in n for n in data["notes"]), data["notes"]  # masked one may be it)
        now = json.loads(_run("journey", "EVE", "--store", st, *extra, "-f", "json").stdout)
        assert [s["contact"]["contact_id"] for s in now["sessions"]] == ["EVE", "EVE"]
        assert not any("not this contact's" in n for n in now["notes"])
    # who was KATE then is found too, with the contacts file or the store's own book
    for extra in ([], ["--contacts", str(book)]):
        res = _run("journey", "KATE", "--store", st, *when, *extra, "-f", "json")
        assert res.exit_code == 0, res.stderr
        then = json.loads(res.stdout)
        assert [s["contact"]["contact_id"] for s in then["sessions"]] == ["KATE"], extra
    [sid] = [s["session"]["id"] for s in data["sessions"]]
    card = json.loads(_run("card", sid, "--store", st, *when, "-f", "json").stdout)
    assert card["contact"]["contact_id"] == "KATE"


def test_a_trailing_separator_or_a_blank_cell_is_no_entry(tmp_path: Path) -> None:
    """`tara@example.com; ` (a separator and a space at the end) gave an invalid entry
    "email '': not an email address" and exit 2, where `tia@example.com;` was fine; a cell
    of spaces was "not an email" rather than no email at all."""
    book = tmp_path / "trailing.csv"
    book.write_text(
        "contact_id,name,emails,phones\n"
        "T1,Tara,tara@example.com; ,+44 7700 900301; \n"
        "T2,Tom, ,\n"
        "T3,Tia,tia@example.com;,+44 7700 900303;\n"
    )
    res = _run("contacts", "--check", str(book), "--format", "csv")
    assert res.exit_code == 2
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["contact_id"], r["field"]) for r in rows] == [("T2", "contact_id")], rows
    assert "nothing can match it" in rows[0]["reason"]


def test_an_email_written_as_no_visitor_sends_it_is_an_invalid_entry(tmp_path: Path) -> None:
    """`mailto:m1@...`, `<m2@...>`, `"m3@..."` and `m4@....` passed `--check` ("no invalid
    entries") and could never match a visitor: each is an invalid entry naming the address
    to write; an apostrophe stays an email's (o'brien@...)."""
    book = tmp_path / "emails.csv"
    book.write_text(
        "contact_id,name,emails\n"
        'M1,A,mailto:m1@example.com\nM2,B,<m2@example.com>\nM3,C,"""m3@example.com"""\n'
        "M4,D,m4@example.com.\nM5,E,o'brien@example.com\n"
        "M6,F,'m6@example.com'\nM7,G,\"m7@example.com, m8@example.com\"\n"
    )
    res = _run("contacts", "--check", str(book), "--format", "csv")
    assert res.exit_code == 2
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["contact_id"], r["reason"]) for r in rows] == [
        (f"M{i}", f"not an email address as visitors send one: write m{i}@example.com")
        for i in (1, 2, 3, 4, 6)
    ] + [("M7", "several addresses in one entry: one address an entry (in a cell: ; between)")]


def test_a_journey_of_a_saved_contact_never_seen_says_so(tmp_path: Path) -> None:
    """`journey K9` of a contact of the store's book with no visit said "no visitor or
    contact 'K9'" (a mistyped id?), where asking by its email said it was never seen."""
    src = tmp_path / "e.parquet"
    flat_frame([flat_event("a", "c8", datetime(2026, 9, 15, 10, tzinfo=UTC))]).write_parquet(src)
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,emails\nK9,Nobody,k9@example.com\n")
    st = str(tmp_path / "st")
    assert _run("sessionize", str(src), "--store", st, "--contacts", str(book)).exit_code == 0
    for who in ("K9", "k9@example.com"):
        res = _run("journey", who, "--store", st)
        assert res.exit_code == 1
        assert "never seen on the site" in res.stderr, res.stderr
    res = _run("journey", "K99", "--store", st)
    assert res.exit_code == 1 and "no visitor or contact 'K99'" in res.stderr


def test_visitors_of_a_store_with_a_book_name_the_value_each_was_matched_by(
    tmp_path: Path,
) -> None:
    """`contacts --visitors` on a store built with --contacts left `matched_value` empty
    (the session table keeps the method, not the value), where `--contacts` of the same
    file filled it: the two listings are the same now."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    book = str(root / "contacts.csv")
    with_book, without = str(tmp_path / "a"), str(tmp_path / "b")
    for where, extra in ((with_book, ["--contacts", book]), (without, [])):
        res = _run("sessionize", str(root / "events.jsonl"), "--store", where, "-q", *extra)
        assert res.exit_code == 0, res.stderr
    stored = _run("contacts", "--store", with_book, "--visitors", "-f", "csv")
    given = _run("contacts", "--store", without, "--visitors", "-f", "csv", "--contacts", book)
    assert stored.exit_code == given.exit_code == 0
    assert stored.stdout == given.stdout
    rows = list(csv.DictReader(io.StringIO(stored.stdout)))
    known = [r for r in rows if r["contact_state"] == "known"]
    assert {r["match_method"] for r in known} >= {"cookie", "email", "phone"}
    assert all(r["matched_value"] for r in known)
    assert not any(r["matched_value"] for r in rows if r["contact_state"] != "known")


def test_an_email_sent_decomposed_is_the_contacts_composed_one(tmp_path: Path) -> None:
    """A trait email with its accent sent as a combining mark (`jose` + U+0301) did not
    resolve to the contact `JOSÉ@exämple.com`, and `journey` of the decomposed address
    said "no visitor or contact": emails are compared composed (NFC) and lower-cased."""
    events = tmp_path / "e.jsonl"
    trait = {"name": "email", "data_type": "string", "value": "jose\u0301@ex\u00e4mple.com"}
    row = {
        "event_id": "p1",
        "customer_id": "ck-nfd",
        "created_date": "2026-10-05T10:00:00Z",
        "event_type": "WebEvent",
        "event_name": "page_viewed",
        "page_url": "https://shop.example/",
        "traits": [trait],
    }
    events.write_text(json.dumps(row) + "\n")
    book = tmp_path / "c.csv"
    book.write_text("contact_id,name,emails\nC1,José,JOSÉ@exämple.com\n", encoding="utf-8")
    st = str(tmp_path / "s")
    res = _run("sessionize", str(events), "--store", st, "--contacts", str(book), "-q")
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(_run("contacts", "--store", st, "--visitors",
                                               "-f", "csv").stdout)))  # fmt: skip
    assert [(r["contact_id"], r["match_method"]) for r in rows] == [("C1", "email")]
    res = _run("journey", "jose\u0301@ex\u00e4mple.com", "--store", st, "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["contact"]["contact_id"] == "C1"


def test_journey_of_a_cookie_prefix_as_of_a_time_resolves_no_other_visitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`journey PREFIX --as-of T` on a store with a contacts book resolved every visitor of
    the store as of T (seconds and a gigabyte on a year's store) before it tried the prefix
    as a cookie id: a prefix that names no contact is that visitor, found first."""
    import jtrack.core.contacts as core

    root = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "s")
    book = str(root / "contacts.csv")
    res = _run("sessionize", str(root / "events.jsonl"), "--store", st, "--contacts", book, "-q")
    assert res.exit_code == 0, res.stderr
    cookie = "652f931c-e845-4f2c-99e6-6cbd84c1ae75"
    when = ("--as-of", "2026-10-10T00:00:00Z", "-f", "json")
    whole = _run("journey", cookie, "--store", st, *when)
    assert whole.exit_code == 0, whole.stderr

    def everyone(*args: object, **kw: object) -> None:
        raise AssertionError("resolved the whole store")

    monkeypatch.setattr(core, "resolve_contacts", everyone)
    short = _run("journey", cookie[:8], "--store", st, *when)
    assert short.exit_code == 0, short.stderr
    assert json.loads(short.stdout) == json.loads(whole.stdout)
    # (a contact id, and a prefix of several contact ids, still go the contact's way)
    monkeypatch.undo()
    assert (
        "contact id C0026"
        in _run("journey", "C0026", "--store", st, "--as-of", "2026-10-15").stdout
    )
    res = _run("journey", "C00", "--store", st)
    assert res.exit_code == 1 and "matches 35 contacts" in res.stderr


def test_contacts_of_a_store_with_a_book_list_their_emails_and_phones(tmp_path: Path) -> None:
    """`jtrack contacts -f json` on a store built with --contacts gave every contact empty
    `emails`, `phones` and `external_ids` unless the file was given again (the store's copy
    of the book has them; `store access` showed them): its contacts now carry them, the
    same as with --contacts of the same file (which lists every saved contact, seen or not)."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    book = str(root / "contacts.csv")
    st = str(tmp_path / "s")
    res = _run("sessionize", str(root / "events.jsonl"), "--store", st, "-q", "--contacts", book)
    assert res.exit_code == 0, res.stderr
    stored = _run("contacts", "--store", st, "-f", "json")
    given = _run("contacts", "--store", st, "-f", "json", "--contacts", book)
    assert stored.exit_code == given.exit_code == 0
    by_id = {c["contact_id"]: c for c in json.loads(given.stdout)}
    listed = json.loads(stored.stdout)
    known = [c for c in listed if c["contact_state"] == "known"]
    assert known and all(c == by_id[c["contact_id"]] for c in listed)
    assert all(c["emails"] or c["phones"] or c["external_ids"] for c in known)
    seen = {c["contact_id"] for c in listed}
    assert all(c["sessions"] == 0 for i, c in by_id.items() if i not in seen)
    table = _run("contacts", "--store", st)
    assert "emails, phones and external ids: -f csv or -f json" in table.stdout
