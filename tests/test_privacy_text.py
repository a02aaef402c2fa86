"""What a role without contact permission, or `--redact`, could still learn (the privacy
review): personal temporary contact ids matched or named by their start, the JSON of
`sessionize` and `watch --once`, the contacts warnings of `sessionize`, addresses inside free
text outside the short list of columns, ids the detectors missed (`(020) ...`, `%40`, `%2E`),
hashes of one person that differed by notation, and the order of masked contact ids."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.access import Policy, _mask_text, keyed_hash
from jtrack.cli import app
from tests.helpers import T0, flat_event, minutes, role_world

runner = CliRunner()
KEY = "another-test-secret-long-enough"
CONFIG = f"""
default_role = "agent"
[roles.agent]
permissions = ["journey:session:view", "journey:event:view", "journey:eventtype:view",
  "journey:segment:view", "journey:outcome:view"]
[roles.supervisor]
permissions = ["journey:session:view", "journey:event:view", "journey:sessiontype:view",
  "journey:eventtype:view", "journey:segment:view", "journey:outcome:view",
  "externalContacts:contact:view"]
[redact]
key = "{KEY}"
"""
# visitor ids that are personal data (cookie-typed: only what they look like says so)
MARK = "mark.hidden@yahoo.co.uk"
PAREN_PHONE = "(020) 7946-0958"
PCT_EMAIL = "jane%40pct.com"
CAPS_EMAIL = "JANE.CAPS@GMAIL.COM"
SPACED_PHONE = "+44 20 7946 0999"
PLAIN = "cookie-plain"  # (sorts between the personal ids)
# addresses planted in free text
CAMP, TERM, CONTENT = "camp.person@gmail.com", "term.person@gmail.com", "content.person@gmail.com"
UA, SESS, EVENT = "ua.person@gmail.com", "sess.person@gmail.com", "signup_ev.person@gmail.com"
NOTE, DOTENC = "attr.free@mail.com", "dotenc%2Eperson%40gmail%2Ecom"
TEXT_SECRETS = (CAMP, TERM, CONTENT, UA, SESS, EVENT, NOTE, DOTENC, "dotenc")
ID_SECRETS = (MARK, "mark.hidden", PAREN_PHONE, PCT_EMAIL, CAPS_EMAIL, SPACED_PHONE)
BOOK = (
    "contact_id,name,emails,phones\n"
    "J01,Jane Caps,jane.caps@gmail.com,+442079460999\n"
    "K02,Bad Phone,,(020) 7946-0957\n"  # no country code: a warning naming the value
    "K03,Bad Mail,bad.email.warn.person,\n"
)


def _rows() -> list[dict[str, Any]]:
    rows = [
        flat_event(
            "m1",
            MARK,
            T0,
            mkt_campaign_source="newsletter",
            mkt_campaign_name=f"newsletter {CAMP}",
            mkt_campaign_term=f"t {TERM}",
            mkt_campaign_content=CONTENT,
            user_agent_string=f"Mozilla/5.0 {UA} Firefox/125.0",
        ),
        flat_event(
            "m2",
            MARK,
            T0 + minutes(1),
            event_name=EVENT,
            kind="custom",
            attributes=[{"name": "notes", "data_type": "string", "value": f"please mail {NOTE}"}],
        ),
        flat_event("s1", "cookie-sess", T0, source_session_id=SESS),
        flat_event("p1", PAREN_PHONE, T0 + minutes(2)),
        flat_event("j1", PCT_EMAIL, T0 + minutes(3)),
        flat_event("c1", CAPS_EMAIL, T0 + minutes(4)),
        flat_event("f1", SPACED_PHONE, T0 + minutes(5)),
        flat_event("k1", PLAIN, T0 + minutes(6), page_url=f"https://shop.example/c?q={DOTENC}"),
    ]
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return role_world(tmp_path_factory.mktemp("pt"), _rows(), CONFIG, BOOK)


def _run(world: dict[str, Path], *args: str, store: Path | None = None) -> Any:
    old = os.getcwd()
    os.chdir(world["tmp"])
    try:
        where = ["--store", str(store or world["store"])]
        return runner.invoke(app, [*args, *where], env={"JTRACK_CONFIG": None})
    finally:
        os.chdir(old)


def _found(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [s for s in secrets if s in text]


def _sid(world: dict[str, Path], customer: str) -> str:
    sessions = pl.read_parquet(next((world["store"] / "current" / "sessions").glob("*.parquet")))
    return str(sessions.filter(pl.col("customer_id") == customer)["id"][0])


# ---- 1. contact id prefixes ------------------------------------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_a_contact_id_prefix_neither_matches_nor_names_a_personal_temporary_id(
    world, redact
) -> None:
    """`journey tmp-` listed tmp-mark.hidden@... in its "matches N contacts" error, and
    `journey tmp-mark` / `sessions --contact tmp-m` found the visitor: an email spelt out a
    letter at a time. To a role that may not see it, such an id is found only typed whole."""
    for args in (
        ["journey", "tmp-"],
        ["journey", "tmp-m"],
        ["journey", "tmp-mark"],
        ["sessions", "--contact", "tmp-m", "-f", "csv"],
        ["sessions", "--contact", "tmp-", "-f", "csv"],
        ["journey", "tmp-mark", "--contacts", "contacts.csv"],
    ):
        res = _run(world, *args, "--role", "agent", *redact)
        out = res.stdout + res.stderr
        assert not _found(out, ID_SECRETS), (args, out)
        if args[1] != "tmp-":  # (tmp-cookie-… is one the role may see: it may match that)
            assert res.exit_code == 1, (args, out)
    whole = _run(world, "sessions", "--contact", f"tmp-{MARK}", "-f", "csv", "--role", "agent")
    assert whole.exit_code == 0 and whole.stdout.count("\n") == 2, whole.stderr
    sup = _run(world, "sessions", "--contact", "tmp-m", "-f", "csv", "--role", "supervisor")
    assert sup.exit_code == 0 and MARK in sup.stdout, sup.stderr


# ---- 2. the JSON of sessionize and watch --once -----------------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_sessionize_json_shows_the_sessions_as_the_role_may_see_them(
    world, redact, tmp_path: Path
) -> None:
    """`sessionize -f json` (and `-o x.json`) wrote the visitor ids that are emails or
    phones as they are, where every other format masked them."""
    out = tmp_path / "x.json"
    for extra in (["-f", "json"], ["-o", str(out)]):
        store = tmp_path / f"store{len(extra[1])}"
        res = _run(world, "sessionize", str(world["events"]), "--role", "agent", *redact, *extra,
                   store=store)  # fmt: skip
        assert res.exit_code == 0, res.stderr
        text = res.stdout if extra[0] == "-f" else out.read_text()
        doc = json.loads(text)
        assert doc["sessions"], text
        assert not _found(text, ID_SECRETS), extra
        ids = {s["customer_id"] for s in doc["sessions"]}
        assert PLAIN in ids  # (an id that is no personal data is shown)


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_watch_once_json_shows_the_active_sessions_as_the_role_may_see_them(
    world, redact, tmp_path: Path
) -> None:
    """`watch --once -f json` printed the active sessions' visitor ids as they are."""
    as_of = (T0 + minutes(3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = _run(world, "watch", str(world["events"]), "--as-of", as_of, "--once", "-f", "json",
               "--traffic", "all", "--role", "agent", *redact, store=tmp_path / "live")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["active_sessions"], res.stdout
    assert not _found(res.stdout, ID_SECRETS), res.stdout


# ---- 3. sessionize's warnings about the contacts file -----------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_sessionize_contacts_warnings_are_masked_for_the_role(
    world, redact, tmp_path: Path
) -> None:
    """`sessionize --contacts FILE --role agent` wrote the phones and emails of the invalid
    entries as they are in its `warning:` lines; the reading commands mask them."""
    res = _run(world, "sessionize", str(world["events"]), "--contacts", str(world["book"]),
               "--role", "agent", *redact, "-q", store=tmp_path / "s")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert res.stderr.count("warning:") >= 2, res.stderr
    assert "(020) 7946-0957" not in res.stderr and "bad.email.warn" not in res.stderr
    sup = _run(world, "sessionize", str(world["events"]), "--contacts", str(world["book"]),
               "--role", "supervisor", "-q", store=tmp_path / "s2")  # fmt: skip
    assert "(020) 7946-0957" in sup.stderr  # (a role with contact details sees them)


# ---- 4. addresses inside free text ------------------------------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_addresses_in_campaigns_user_agents_session_ids_and_event_names_are_masked(
    world, redact, fmt
) -> None:
    """An address in a campaign's name, term or content, a user agent, a Genesys session
    id or an event name was shown as it is; the rest of the text stays."""
    res = _run(world, "sessions", "--role", "agent", "-f", fmt, *redact)
    assert res.exit_code == 0, res.stderr
    assert not _found(res.stdout, TEXT_SECRETS), res.stdout
    assert "newsletter •••" in res.stdout and "Mozilla/5.0 ••• Firefox/125.0" in res.stdout
    sup = _run(world, "sessions", "--role", "supervisor", "-f", fmt)
    assert CAMP in sup.stdout and UA in sup.stdout and EVENT in sup.stdout


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_an_address_in_a_free_text_attribute_and_the_card_journey_is_masked(world, redact) -> None:
    sid = _sid(world, MARK)
    for fmt in ("json", "table"):
        res = _run(world, "card", sid, "--details", "-f", fmt, "--role", "agent", *redact)
        assert res.exit_code == 0, res.stderr
        assert not _found(res.stdout, TEXT_SECRETS), res.stdout
        assert "please mail •••" in res.stdout


def test_the_report_sources_mask_an_address_in_a_campaign(world) -> None:
    for redact in ([], ["--redact"]):
        res = _run(world, "report", "-f", "json", "--role", "agent", *redact)
        assert res.exit_code == 0, res.stderr
        assert not _found(res.stdout, TEXT_SECRETS), res.stdout
        assert "newsletter •••" in res.stdout


def test_rules_explain_quotes_the_masked_campaign(world, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[segment]]\nid = "seg-camp"\ndisplay_name = "Camp"\ncolor = "#1E88E5"\n'
        'context = [{ field = "mktCampaign.name", operator = "containsAny", '
        'values = ["newsletter"] }]\n'
    )
    sid = _sid(world, MARK)
    res = _run(world, "rules", "explain", sid, "--rules", str(rules), "-f", "json",
               "--role", "agent")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert CAMP not in res.stdout and "session value 'newsletter •••'" in res.stdout


# ---- 5. the detectors ------------------------------------------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_bracketed_phones_and_percent_encoded_emails_are_personal_ids(world, redact) -> None:
    """`(020) 7946-0958` and `jane%40pct.com` were listed as they are, found by their start
    (`--customer '('`) and named in a hint (`journey J`)."""
    res = _run(world, "sessions", "-f", "csv", "--columns", "customer_id,contact_id",
               "--role", "agent", *redact)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert PAREN_PHONE not in res.stdout and PCT_EMAIL not in res.stdout, res.stdout
    for args in (["sessions", "--customer", "("], ["journey", "J"], ["journey", "ja"]):
        found = _run(world, *args, "--role", "agent", *redact)
        assert found.exit_code == 1, (args, found.stdout)
        assert not _found(found.stdout + found.stderr, ID_SECRETS), args
    contacts = _run(world, "contacts", "-f", "csv", "--role", "agent", *redact)
    assert PAREN_PHONE not in contacts.stdout and PCT_EMAIL not in contacts.stdout


def test_an_email_with_percent_encoded_dots_in_a_url_is_masked(world) -> None:
    for redact in ([], ["--redact"]):
        sessions = _run(world, "sessions", "-f", "csv", "--role", "agent", *redact)
        assert "dotenc" not in sessions.stdout and "/c?q=•••" in sessions.stdout
        card = _run(world, "card", _sid(world, PLAIN), "--details", "-f", "json",
                    "--role", "agent", *redact)  # fmt: skip
        assert card.exit_code == 0 and "dotenc" not in card.stdout, card.stdout


# ---- 6. normalised hashes --------------------------------------------------------------------


def test_one_email_or_phone_hashes_alike_in_any_case_or_notation(world) -> None:
    """A visitor id `JANE.CAPS@GMAIL.COM` and the contact's `jane.caps@gmail.com` hashed
    differently, and so did `+44 20 7946 0999` and its E.164 form: redacted outputs could not
    be joined on them."""
    res = _run(world, "sessions", "-f", "csv", "--columns", "customer_id,ip_address",
               "--role", "supervisor", "--redact")  # fmt: skip
    ids = set(res.stdout.split())
    book = _run(world, "contacts", "--contacts", str(world["book"]), "-f", "json",
                "--role", "supervisor", "--redact")  # fmt: skip
    assert book.exit_code == 0, book.stderr
    (jane,) = [c for c in json.loads(book.stdout) if c["contact_id"] == "J01"]
    (email,), (phone,) = jane["emails"], jane["phones"]
    assert email.startswith("h:") and phone.startswith("h:")
    assert any(line.startswith(email + ",") for line in ids), (email, ids)
    assert any(line.startswith(phone + ",") for line in ids), (phone, ids)


@pytest.mark.parametrize(
    "forms",
    [
        ["jane.caps@gmail.com", "JANE.CAPS@GMAIL.COM", " Jane.Caps@Gmail.com "],
        ["+442079460958", "+44 20 7946 0958", "+44 (0)20 7946 0958", "0044 20 7946 0958",
         "+44-20-7946-0958"],
        ["+12025550147", "+1-202-555-0147", "+1 (202) 555-0147"],
    ],
)  # fmt: skip
def test_the_hash_of_a_frame_and_of_a_tree_agree_on_every_form(forms: list[str]) -> None:
    policy = Policy(redact=True, redact_key=KEY)
    framed = (
        pl.DataFrame({"v": forms}).select(keyed_hash(pl.col("v"), KEY).alias("v"))["v"].to_list()
    )
    assert len(set(framed)) == 1, framed
    assert {_mask_text(v, policy) for v in forms} == set(framed)


def test_other_values_hash_as_they_are() -> None:
    """Names, cookie ids, IP addresses and national numbers (no country: no E.164) keep
    their own hashes; a hash or a mask is left alone."""
    values = ["Zoe Secret", "zoe secret", "198.51.100.7", "(020) 7946-0958", "020 7946 0958"]
    hashed = (
        pl.DataFrame({"v": values}).select(keyed_hash(pl.col("v"), KEY).alias("v"))["v"].to_list()
    )
    assert len(set(hashed)) == len(values)
    again = pl.DataFrame({"v": [*hashed, "•••"]}).select(keyed_hash(pl.col("v"), KEY).alias("v"))[
        "v"
    ]
    assert again.to_list() == [*hashed, "•••"]


# ---- 7. the order of masked contact ids ------------------------------------------------------


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_contacts_are_listed_in_the_order_of_their_ids_as_shown(world, redact) -> None:
    """`contacts` sorted by the raw contact id, so where `tmp-•••` stood against a visible
    id told its first characters."""
    res = _run(world, "contacts", "-f", "csv", "--role", "agent", *redact)
    assert res.exit_code == 0, res.stderr
    df = pl.read_csv(res.stdout.encode())
    assert df.height >= 6
    keys = list(zip(df["contact_state"], df["contact_id"], df["first_seen"], strict=True))
    rank = {"known": 0, "temporary": 1, "expired": 2}
    assert keys == sorted(keys, key=lambda k: (rank[k[0]], k[1], k[2]))
    visitors = pl.read_csv(
        _run(
            world, "contacts", "--visitors", "-f", "csv", "--role", "agent", *redact
        ).stdout.encode()
    )
    vkeys = list(zip(visitors["customer_id"], visitors["first_seen"], strict=True))
    assert vkeys == sorted(vkeys)


def test_sessionize_quiet_warnings_follow_the_default_role(world, tmp_path: Path) -> None:
    """With -q and no --role the warnings were written as they are, though the config's
    default role (the agent) may not see contact details."""
    res = _run(world, "sessionize", str(world["events"]), "--contacts", str(world["book"]),
               "-q", store=tmp_path / "s")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert res.stderr.count("warning:") >= 2 and "(020) 7946-0957" not in res.stderr


@pytest.mark.parametrize("redact", [[], ["--redact"]])
def test_conflicts_are_listed_in_the_order_of_the_visitor_ids_as_shown(
    world, redact, tmp_path: Path
) -> None:
    book = tmp_path / "twice.csv"
    book.write_text(
        "contact_id,name,cookie_ids\n"
        f"A1,Ann One,{CAPS_EMAIL};{PLAIN};{MARK}\nA2,Ann Two,{CAPS_EMAIL};{PLAIN};{MARK}\n"
    )
    res = _run(world, "contacts", "--contacts", str(book), "--conflicts", "-f", "csv",
               "--role", "agent", *redact)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    ids = pl.read_csv(res.stdout.encode())["customer_id"].to_list()
    assert len(ids) == 6 and PLAIN in ids, ids  # (two candidates each)
    assert ids == sorted(ids)


def test_a_report_of_export_files_is_made_under_the_role_as_a_stores(world) -> None:
    """`jtrack report FILES` took no notice of --role or --redact: its campaigns, pages and
    searches showed the addresses a report of the store masks."""
    old = os.getcwd()
    os.chdir(world["tmp"])
    try:
        for args in (["--role", "agent"], ["--role", "supervisor", "--redact"]):
            res = runner.invoke(app, ["report", str(world["events"]), "-f", "json", *args])
            assert res.exit_code == 0, res.stderr
            assert not _found(res.stdout, TEXT_SECRETS), _found(res.stdout, TEXT_SECRETS)
            assert "newsletter •••" in res.stdout
        full = runner.invoke(
            app, ["report", str(world["events"]), "-f", "json", "--role", "supervisor"]
        )
        assert full.exit_code == 0 and CAMP in full.stdout
    finally:
        os.chdir(old)


def test_a_tree_is_hashed_in_one_call_alike_with_a_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --redact a card or journey hashed each value in a Polars call of its own (15 ms
    each: a journey of 600 sessions took 36 s, 13 s before): one call hashes a tree's
    values, and each is the hash a frame gives it."""
    import jtrack.access as access

    calls: list[int] = []
    real = access._hashed

    def counted(values: Any, key: str) -> dict[str, str]:
        calls.append(len(values))
        return real(values, key)

    monkeypatch.setattr(access, "_hashed", counted)
    policy = Policy(redact=True, redact_key=KEY, permissions=frozenset())
    ids = [f"user{i}@example.com" for i in range(50)]
    tree = {"sessions": [{"customer_id": c, "contact": {"name": f"N {c}"}} for c in ids]}
    out = access.protect_tree(tree, policy)
    assert calls == [100]
    frame = pl.DataFrame({"c": ids}).select(keyed_hash(pl.col("c"), KEY)).to_series().to_list()
    assert [s["customer_id"] for s in out["sessions"]] == frame


def test_sessionize_says_its_roles_config_is_broken_and_masks_the_warnings(
    world, tmp_path: Path
) -> None:
    """With a roles config naming no role, the run masked the contacts warnings without a
    word of the config: a `warning:` line names the problem (the run itself is done)."""
    broken = tmp_path / "broken.toml"
    broken.write_text('default_role = "nobody"\n[roles.agent]\npermissions = []\n')
    old = os.getcwd()
    os.chdir(world["tmp"])
    try:
        res = runner.invoke(
            app,
            ["sessionize", str(world["events"]), "--contacts", str(world["book"]), "-q",
             "--store", str(tmp_path / "s")],
            env={"JTRACK_CONFIG": str(broken)},
        )  # fmt: skip
    finally:
        os.chdir(old)
    assert res.exit_code == 0, res.stderr
    assert "nobody" in res.stderr and "warnings below are masked" in res.stderr
    assert "(020) 7946-0957" not in res.stderr
