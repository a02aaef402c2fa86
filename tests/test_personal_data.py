"""Personal data leaves jtrack only as the role and --redact allow: on every reading command,
in every format and on stderr; identity is resolved before anything is masked; the config's
roles fail closed; --redact never uses a key anyone can read."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jtrack.access import (
    MASK,
    PERMISSIONS,
    Policy,
    load_policy,
    protect_output,
    protect_tree,
)
from jtrack.cli import app
from jtrack.config import config_problems
from jtrack.errors import ConfigError, ExitCode
from tests.helpers import T0, flat_event, flat_frame, minutes, role_world

runner = CliRunner()
ALL = ", ".join(f'"{p}"' for p in PERMISSIONS)
KEY = "a-test-secret-that-is-long-enough"
CONFIG = f"""
default_role = "agent"
[roles.agent]
permissions = ["journey:session:view", "journey:event:view", "journey:eventtype:view"]
[roles.supervisor]
permissions = [{ALL}]
[redact]
key = "{KEY}"
query_params = ["email", "token"]
"""
AS_OF = "2026-10-20T00:00:00Z"

# what must never be shown to the agent (no contact permission) or under --redact
ADA_EMAIL = "ada@example.org"
BOB_PHONE = "+447700900123"
TYPED_EMAIL = "carol@example.net"  # a visitor whose customerId is an email
FORM_EMAIL = "dave@example.com"  # typed into a form, a custom-event attribute
ADA_CRM = "CRM-ADA-1815"  # the contact book's external id of Ada (another system's key)
# attributes not named exactly like personal data: named like it, or holding an email
CAMEL_EMAIL, NOTE_EMAIL, BILLING_PHONE = "camel@example.org", "note@example.org", "+4477009"
# a second phone, a postal address, a postcode and a birth date typed into a form
PHONE_2, STREET, POSTCODE, BIRTH = "07700 900456", "221B Baker Street", "NW1 6XE", "1815-12-10"
LINE_1 = "Flat 3, 12 Marylebone Road"
SECRETS = (
    ADA_EMAIL, BOB_PHONE, TYPED_EMAIL, FORM_EMAIL, "s3cr3t-token", ADA_CRM,
    CAMEL_EMAIL, NOTE_EMAIL, BILLING_PHONE, PHONE_2, STREET, POSTCODE, BIRTH, LINE_1,
)  # fmt: skip
NAMES = ("Ada Lovelace", "Bob Baker")


def _trait(name: str, value: str) -> dict[str, str]:
    return {"name": name, "data_type": "string", "value": value}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(12):  # visitors known by an email trait on a login (custom) event
        cookie = f"cookie-{i:02d}"
        rows.append(flat_event(f"p{i}", cookie, T0 + minutes(i)))
        rows.append(
            flat_event(
                f"l{i}",
                cookie,
                T0 + minutes(i) + timedelta(seconds=30),
                event_name="logged_in",
                kind="custom",
                traits=[_trait("email", f"user{i}@example.org")],
            )
        )
    rows += [
        flat_event(
            "a1",
            "cookie-ada",
            T0,
            traits=[_trait("email", ADA_EMAIL)],
            page_url=f"https://shop.example/cart?EMAIL={ADA_EMAIL}&x=1",
        ),
        flat_event(
            "a2",
            "cookie-ada",
            T0 + minutes(1),
            page_url="https://shop.example/p?a=1;Token=s3cr3t-token#frag",
        ),
        flat_event(
            "a3",
            "cookie-ada",
            T0 + minutes(2),
            page_url=f"https://shop.example/p?%65mail={ADA_EMAIL}",
        ),
        flat_event(
            "a4",
            "cookie-ada",
            T0 + minutes(3),
            event_name="form_submitted",
            kind="custom",
            attributes=[
                _trait("Email", FORM_EMAIL),
                _trait("formName", "CHECKOUT"),
                _trait("customerEmail", CAMEL_EMAIL),
                _trait("billing_phone_number", BILLING_PHONE),
                _trait("reachMeAt", NOTE_EMAIL),  # (any name: the value is an email)
                _trait("phoneModel", "Pixel 9"),  # (named like nothing personal: shown)
                _trait("phone2", PHONE_2),
                _trait("shipping_address", STREET),
                _trait("postCode", POSTCODE),
                _trait("dateOfBirth", BIRTH),
                _trait("addressLine1", LINE_1),
                _trait("Birthday", BIRTH),
            ],
        ),
        flat_event("b1", "cookie-bob", T0, traits=[_trait("cellPhone", BOB_PHONE)]),
        # Bob's cookie later sends user 0's email: a conflict (most recent trait wins)
        flat_event(
            "b2", "cookie-bob", T0 + minutes(5), traits=[_trait("email", "user0@example.org")]
        ),
        flat_event("c1", TYPED_EMAIL, T0, customer_id_type="email"),
    ]
    return rows


BOOK = "contact_id,name,emails,phones,external_ids\n" + "".join(
    f"U{i},User {i},user{i}@example.org,,\n" for i in range(12)
)
BOOK += f"ADA,Ada Lovelace,{ADA_EMAIL},,{ADA_CRM}\nBOB,Bob Baker,,{BOB_PHONE},\n"
BOOK += f"CAR,Carol,{TYPED_EMAIL},,\nDUP,Ada Twin,{ADA_EMAIL},,\n"  # ADA's email on two contacts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return role_world(tmp_path_factory.mktemp("pd"), _rows(), CONFIG, BOOK)


def _run(world: dict[str, Path], *args: str, role: str | None = None, env: Any = None):
    old = os.getcwd()
    os.chdir(world["tmp"])
    try:
        extra = ["--role", role] if role else []
        return runner.invoke(app, [*args, "--store", str(world["store"]), *extra], env=env)
    finally:
        os.chdir(old)


def _leaks(text: str, names: bool = False) -> list[str]:
    found = [s for s in SECRETS if s in text]
    if names:
        found += [n for n in NAMES if n in text]
    return found


# ---- jtrack contacts --contacts FILE ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl", "table"])
def test_contacts_with_a_file_hides_contact_details_from_a_role_without_them(world, fmt) -> None:
    res = _run(world, "contacts", "--contacts", str(world["book"]), "--as-of", AS_OF, "-f", fmt)
    assert res.exit_code == 0, res.stderr
    assert _leaks(res.stdout) == [] and _leaks(res.stderr) == []
    assert "Ada Lovelace" in res.stdout  # names stay visible to the role (as in Genesys)
    full = _run(
        world, "contacts", "--contacts", str(world["book"]), "--as-of", AS_OF, "-f", fmt,
        role="supervisor",
    )  # fmt: skip
    assert ADA_EMAIL in full.stdout or fmt == "table"  # the table has no email column
    assert ADA_CRM in full.stdout or fmt == "table"


@pytest.mark.parametrize("view", [[], ["--visitors"], ["--conflicts"]])
def test_contacts_redacted_shows_no_email_phone_or_name(world, view) -> None:
    res = _run(
        world, "contacts", "--contacts", str(world["book"]), "--as-of", AS_OF, "-f", "json",
        "--redact", *view, role="supervisor",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert _leaks(res.stdout, names=True) == [] and _leaks(res.stderr) == []
    assert '"h:' in res.stdout


def test_a_conflicts_external_id_is_a_contact_detail(tmp_path: Path) -> None:
    """`contacts --conflicts` showed the book's external id a visitor matched by (CRM-ADA)
    to a role without contact details, and in clear under --redact, where the listing's
    `external_ids` masks and hashes it."""
    rows = [
        flat_event("x1", "cookie-x", T0, traits=[_trait("externalId", ADA_CRM)]),
        flat_event(
            "x2", "cookie-x", T0 + minutes(5), traits=[_trait("email", "user0@example.org")]
        ),
    ]
    w = role_world(tmp_path, rows, CONFIG, BOOK)
    args = ["contacts", "--contacts", str(w["book"]), "--as-of", AS_OF]
    full = _run(w, *args, "--conflicts", "-f", "csv", role="supervisor")
    assert full.exit_code == 0 and ADA_CRM in full.stdout, full.stdout  # (the evidence)
    for fmt in ("csv", "json", "jsonl", "md"):
        res = _run(w, *args, "--conflicts", "-f", fmt)
        assert res.exit_code == 0, res.stderr
        assert ADA_CRM not in res.stdout and MASK in res.stdout, res.stdout
    red = _run(w, *args, "--conflicts", "-f", "json", "--redact", role="supervisor")
    listed = _run(w, *args, "-f", "json", "--redact", role="supervisor")
    assert ADA_CRM not in red.stdout
    [ada] = [c for c in json.loads(listed.stdout) if c["external_ids"]]
    shown = {r["value"] for r in json.loads(red.stdout) if r["match_method"] == "external_id"}
    assert shown == set(ada["external_ids"])  # (hashed alike: one can be matched with the other)


def test_the_number_of_known_visitors_does_not_depend_on_the_role(world) -> None:
    def known(role: str, *extra: str) -> int:
        res = _run(
            world, "contacts", "--contacts", str(world["book"]), "--visitors", "--as-of", AS_OF,
            "-f", "json", *extra, role=role,
        )  # fmt: skip
        assert res.exit_code == 0, res.stderr
        return sum(1 for v in json.loads(res.stdout) if v["contact_state"] == "known")

    # 12 users, Bob, Carol (her customerId is her email); Ada's email is on two contacts
    assert known("supervisor") == 14
    assert known("agent") == known("supervisor") == known("supervisor", "--redact")


def test_duplicate_entry_warnings_on_stderr_hide_emails(world) -> None:
    for cmd in (["contacts"], ["sessions"]):
        res = _run(world, *cmd, "--contacts", str(world["book"]), "--as-of", AS_OF, "-f", "json")
        assert res.exit_code == 0, res.stderr
        warnings = [w for w in res.stderr.splitlines() if w.startswith("warning:")]
        assert len(warnings) == 2 and all(MASK in w for w in warnings), res.stderr
        assert _leaks(res.stderr) == []
    check = _run(world, "contacts", "--check", str(world["book"]), "-f", "csv")
    assert check.exit_code == ExitCode.USAGE and ADA_EMAIL not in check.stdout


# ---- every reading command, every format -----------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl", "md", "table"])
def test_sessions_hide_typed_customer_ids_and_query_parameters(world, fmt) -> None:
    for args in ([], ["--contacts", str(world["book"])]):
        res = _run(world, "sessions", "-f", fmt, "--as-of", AS_OF, *args)
        assert res.exit_code == 0, res.stderr
        assert _leaks(res.stdout) == []
        red = _run(world, "sessions", "-f", fmt, "--redact", *args, role="supervisor")
        assert red.exit_code == 0, red.stderr
        assert _leaks(red.stdout, names=True) == []


def test_a_customer_id_that_is_an_email_is_masked_even_alone(world) -> None:
    res = _run(world, "sessions", "-f", "csv", "--columns", "customer_id")
    assert res.exit_code == 0 and TYPED_EMAIL not in res.stdout and MASK in res.stdout


def test_sessions_with_contacts_names_are_hashed_under_redact(world) -> None:
    res = _run(
        world, "sessions", "--contacts", str(world["book"]), "-f", "json", "--redact",
        role="supervisor",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    names = {s["contact_name"] for s in json.loads(res.stdout)}
    assert "Ada Lovelace" not in names and any(n.startswith("h:") for n in names)


def test_a_where_missed_by_case_never_spells_a_name_the_output_hashes(world) -> None:
    """`--where contact_name=carol` lists nothing (`=` is exact); the note that names the
    spellings the sessions have must not show one the role's output hashes (--redact)."""
    args = ("sessions", "--contacts", str(world["book"]), "--where", "contact_name=carol")
    res = _run(world, *args, "--redact", "--traffic", "all", role="supervisor")
    assert res.exit_code == 0, res.stderr
    assert "Carol" not in res.stderr and "finds it in any case" not in res.stderr
    res = _run(world, *args, "--traffic", "all", role="supervisor")  # (names are no secret)
    assert res.exit_code == 0 and "1 have 'Carol'" in res.stderr


@pytest.mark.parametrize("fmt", ["json", "table", "html"])
def test_card_hides_form_attributes_urls_and_the_contact(world, fmt, tmp_path: Path) -> None:
    sid = _session_of(world, "cookie-ada")
    out = tmp_path / "card.html"
    extra = ["-o", str(out)] if fmt == "html" else []
    for role, redact in (("agent", []), ("supervisor", ["--redact"])):
        res = _run(
            world, "card", sid, "--contacts", str(world["book"]), "--details", "--as-of", AS_OF,
            "-f", fmt, *redact, *extra, role=role,
        )  # fmt: skip
        assert res.exit_code == 0, res.stderr
        text = out.read_text() if fmt == "html" else res.stdout
        assert _leaks(text, names=bool(redact)) == [], (role, fmt)
        assert "CHECKOUT" in text or fmt != "json"  # other attributes stay
        assert "Pixel 9" in text or fmt != "json"


def test_journey_of_a_visitor_whose_id_is_an_email(world) -> None:
    res = _run(world, "journey", TYPED_EMAIL, "-f", "json", "--as-of", AS_OF)
    assert res.exit_code == 0, res.stderr
    assert TYPED_EMAIL not in res.stdout
    data = json.loads(res.stdout)
    assert data["customer_ids"] == [MASK] and data["query"] == MASK
    red = _run(world, "journey", TYPED_EMAIL, "-f", "json", "--redact", role="supervisor")
    assert red.exit_code == 0 and TYPED_EMAIL not in red.stdout
    assert json.loads(red.stdout)["customer_ids"][0].startswith("h:")


def _session_of(world: dict[str, Path], cookie: str) -> str:
    res = _run(world, "sessions", "--customer", cookie, "-f", "json", role="supervisor")
    return str(json.loads(res.stdout)[0]["id"])


# ---- --redact needs a key ----------------------------------------------------------------------


def test_redact_without_a_key_is_refused_with_a_hint(
    tmp_path: Path, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config at all
    res = runner.invoke(app, ["sessions", "--store", str(world["store"]), "--redact"])
    assert res.exit_code == ExitCode.USAGE
    assert "--redact needs a secret key" in res.stderr and "JTRACK_REDACT_KEY" in res.stderr
    ok = runner.invoke(
        app,
        ["sessions", "--store", str(world["store"]), "--redact", "-f", "json"],
        env={"JTRACK_REDACT_KEY": KEY},
    )
    assert ok.exit_code == 0 and '"h:' in ok.stdout
    # a blank key is none (`" "` hashed every value under a key anyone can guess), in the
    # environment (refused as every JTRACK_* variable set blank) and in the config
    for blank in (" ", "\t"):
        res = runner.invoke(
            app,
            ["sessions", "--store", str(world["store"]), "--redact"],
            env={"JTRACK_REDACT_KEY": blank},
        )
        assert res.exit_code == ExitCode.USAGE and "$JTRACK_REDACT_KEY is blank" in res.stderr
    (tmp_path / "jtrack.toml").write_text('[redact]\nkey = "  "\n')
    res = runner.invoke(app, ["sessions", "--store", str(world["store"]), "--redact"])
    assert res.exit_code == ExitCode.USAGE and "redact.key: must be non-empty text" in res.stderr


def test_no_redaction_key_is_written_in_the_source() -> None:
    import jtrack.access as access

    text = Path(access.__file__).read_text()
    assert "default-redaction-key" not in text
    a, b = Policy(redact=True), Policy(redact=True)
    assert a.key == b.key and len(a.key) >= 32  # random per process, stable within it


# ---- roles fail closed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ('default_role = "agent"\n[role.agent]\npermissions = []\n', "'role'", "[roles.agent]"),
        ("[roles]\n", "no role is defined", "[roles.NAME]"),
        ('default_role = "agnet"\n[roles.agent]\npermissions = []\n', "names no role", "agent"),
        ('default_role = "agent"\n', "no roles are configured", "[roles.agent]"),
        ('[roles.agent]\npermission = ["journey:session:view"]\n', "'permission'", "permissions"),
        ("[redacted]\nkey = 'x'\n", "unknown section 'redacted'", "[redact]"),
        ("[redact]\nparams = ['email']\n", "unknown key 'params'", "query_params"),
        ('[roles.agent]\npermissions = ["journey:sesion:view"]\n', "sesion", "session"),
    ],
)
def test_a_role_config_mistake_is_an_error_naming_the_nearest_valid_name(
    tmp_path: Path, text: str, message: str, hint: str
) -> None:
    cfg = tmp_path / "jtrack.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy(config=cfg)
    assert message in str(err.value) and hint in str(err.value)
    checked = runner.invoke(app, ["rules", "check", str(cfg)])
    assert checked.exit_code == ExitCode.USAGE, checked.stdout
    assert message in checked.stdout + checked.stderr


def test_a_typo_in_the_roles_table_no_longer_lets_everyone_see_everything(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jtrack.toml").write_text(
        'default_role = "agent"\n[role.agent]\npermissions = ["journey:session:view"]\n'
    )
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["sessions", "--store", str(world["store"]), "-f", "json"])
    assert res.exit_code == ExitCode.USAGE and "did you mean [roles.agent]" in res.stderr
    assert res.stdout == ""


def test_a_valid_config_has_no_problems() -> None:
    import tomllib

    assert config_problems(tomllib.loads(CONFIG)) == []
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "jtrack.toml"
    assert config_problems(tomllib.loads(sample.read_text())) == []


# ---- the masking functions -------------------------------------------------------------------


def _encoded(draw: Any, name: str) -> str:
    out = []
    for ch in name:
        how = draw(st.sampled_from(["lower", "upper", "pct-lower", "pct-upper"]))
        c = ch.upper() if draw(st.booleans()) else ch.lower()
        if how == "lower":
            out.append(ch.lower())
        elif how == "upper":
            out.append(ch.upper())
        else:
            code = f"%{ord(c):02x}"
            out.append(code if how == "pct-lower" else code.upper())
    return "".join(out)


@st.composite
def _urls(draw: Any) -> tuple[str, str]:
    value = draw(st.from_regex(r"[A-Za-z0-9@.+%\-]{1,20}", fullmatch=True))
    name = _encoded(draw, draw(st.sampled_from(["email", "token"])))
    before = draw(st.sampled_from(["?", "?a=1&", "?a=1;", "#", "#/x?", "?a=1#b=2&"]))
    after = draw(st.sampled_from(["", "&z=9", ";z=9", "#frag"]))
    url = f"https://shop.example/p{before}{name}={value}{after}"
    return url, f"https://shop.example/p{before}{name}=REDACTED{after}"


@settings(max_examples=200, deadline=None)
@given(_urls())
def test_configured_parameters_are_found_however_a_url_spells_them(case: tuple[str, str]) -> None:
    url, expected = case
    policy = Policy(role="agent", permissions=frozenset(), query_params=("email", "token"))
    frame = pl.DataFrame({"page_url": [url]})
    out = protect_output(frame, policy)["page_url"][0]
    assert out == expected
    tree = protect_tree({"page_url": url}, policy)
    assert tree["page_url"] == out


def test_other_parameters_and_lookalike_names_are_kept() -> None:
    policy = Policy(permissions=frozenset(), query_params=("email",))
    urls = ["https://x/?emailx=1&xemail=2&q=shoes", "https://x/email=1"]
    out = protect_output(pl.DataFrame({"page_url": urls}), policy)["page_url"].to_list()
    assert out == urls


def test_protection_is_idempotent() -> None:
    policy = Policy(redact=True, redact_key=KEY, query_params=("email",))
    frame = pl.DataFrame(
        {
            "customer_id": [TYPED_EMAIL, "cookie-1"],
            "customer_id_type": ["email", "cookie"],
            "contact_name": ["Ada Lovelace", "Unknown"],
            "ip_address": ["81.2.69.160", None],
            "page_url": [f"https://x/?email={ADA_EMAIL}", "https://x/"],
        }
    )
    once = protect_output(frame, policy)
    assert once.equals(protect_output(once, policy))
    assert once["customer_id"][1] == "cookie-1" and once["contact_name"][1] == "Unknown"
    assert all(v.startswith("h:") for v in once["customer_id"][:1].to_list())


@pytest.mark.parametrize(
    "clause",
    [
        f"customer_id~{TYPED_EMAIL[:3]}",
        "customer_id~@",
        f"customer_id={TYPED_EMAIL}",
        f"contact_id~tmp-{TYPED_EMAIL[:2]}",
    ],
)
def test_a_filter_sees_personal_ids_as_the_role_does(world, clause: str) -> None:
    """`--where customer_id~car` matched the hidden email: guessing a letter at a time spelt
    it out. A role that may not see it filters on what it sees (the mask); under --redact,
    on the hash; a role that may see it, on the id."""
    for role, redact in (("agent", []), ("supervisor", ["--redact"])):
        res = _run(world, "sessions", "--where", clause, "-f", "csv", *redact, role=role)
        assert res.exit_code == 0, res.stderr
        assert res.stdout.count("\n") <= 1, (role, clause)  # the header only
    full = _run(world, "sessions", "--where", clause, "-f", "csv", role="supervisor")
    assert full.exit_code == 0 and TYPED_EMAIL in full.stdout


def test_a_role_sorting_by_a_hidden_id_learns_nothing_of_its_order(world) -> None:
    agent = _run(world, "sessions", "--sort", "customer_id", "-f", "csv", "--columns", "id")
    masked = _run(world, "sessions", "-f", "csv", "--columns", "id,customer_id")
    rows = [line.split(",") for line in masked.stdout.splitlines()[1:]]
    want = [i for i, _ in sorted(rows, key=lambda r: (r[1], r[0]))]
    assert agent.stdout.splitlines()[1:] == want


RULES = """
[[segment]]
id = "seg-all"
display_name = "Everyone"
context = [{ field = "sessionType", operator = "equal", values = ["web"] }]

[[outcome]]
id = "out-view"
display_name = "Viewed a page"
[[outcome.stage]]
conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]
"""


def test_segments_and_outcomes_are_left_out_for_a_role_without_them(world) -> None:
    """The agent here has neither journey:segment:view nor journey:outcome:view: the rules'
    results are left out of `rules report`, `rules explain`, `sessions --rules` and the
    card (not shown as "none matched"), and asking for them by name is exit 4."""
    rules = world["tmp"] / "rules.toml"
    rules.write_text(RULES)
    check = runner.invoke(app, ["rules", "check", str(rules)])
    assert check.exit_code == 0, check.stdout + check.stderr
    sid = _session_of(world, "cookie-ada")
    full = _run(world, "rules", "report", "--rules", str(rules), "-f", "json", role="supervisor")
    assert {"segments", "outcomes"} <= set(json.loads(full.stdout))
    rep = _run(world, "rules", "report", "--rules", str(rules), "-f", "json")
    assert rep.exit_code == 0, rep.stderr
    assert not {"segments", "outcomes", "outcomes_by_segment"} & set(json.loads(rep.stdout))
    assert "segments are hidden by your role" in rep.stderr
    one = _run(world, "rules", "report", "--rules", str(rules), "--section", "segments")
    assert one.exit_code == ExitCode.NOT_PERMITTED
    expl = _run(world, "rules", "explain", sid, "--rules", str(rules), "-f", "csv")
    assert expl.exit_code == 0 and "seg-all" not in expl.stdout and "out-view" not in expl.stdout
    asked = _run(world, "rules", "explain", sid, "--rules", str(rules), "--rule", "seg-all")
    assert asked.exit_code == ExitCode.NOT_PERMITTED
    ses = _run(world, "sessions", "--rules", str(rules), "-f", "csv")
    header = ses.stdout.splitlines()[0].split(",")
    assert ses.exit_code == 0 and "segments" not in header and "outcomes" not in header
    for by_name in (["--columns", "id,segments"], ["--where", "outcomes~out-view"]):
        # (was exit 2, "unknown field 'segments'", with a hint naming another field)
        named = _run(world, "sessions", "--rules", str(rules), *by_name)
        assert named.exit_code == ExitCode.NOT_PERMITTED, named.stderr
        assert "may not see" in named.stderr
    card = _run(world, "card", sid, "--rules", str(rules), "--as-of", AS_OF)
    assert card.exit_code == 0, card.stderr
    assert "Segments matched" not in card.stdout and "Outcomes achieved" not in card.stdout
    assert "segments are hidden by your role" in card.stdout


def test_a_lookup_by_the_start_or_case_of_an_id_never_names_a_hidden_one(world) -> None:
    """`jtrack journey c` listed carol@example.net among the ids it could mean, and
    `sessions --customer carol` found her by the start of her email: to a role that may not
    see it, a personal id is matched only when typed whole, and never named in a hint. A
    role that may see it keeps prefixes and the case hint."""
    for role, redact in (("agent", []), ("supervisor", ["--redact"])):
        for args in (
            ["journey", "c"],
            ["journey", "carol"],
            ["sessions", "--customer", "carol"],
            ["sessions", "--customer", TYPED_EMAIL.upper()],
            ["journey", TYPED_EMAIL.upper()],
            ["card", "carol"],  # (card's hint named the visitor whose id it was)
            ["card", "ca"],
            ["card", TYPED_EMAIL.upper()],
        ):
            res = _run(world, *args, *redact, role=role)
            assert TYPED_EMAIL not in res.stdout + res.stderr, (role, args)
            assert res.exit_code == 1, (role, args)  # no such visitor, or several
        whole = _run(world, "sessions", "--customer", TYPED_EMAIL, "-f", "csv", *redact, role=role)
        assert whole.exit_code == 0 and whole.stdout.count("\n") == 2
    full = _run(world, "sessions", "--customer", "carol", "-f", "csv", role="supervisor")
    assert full.exit_code == 0 and TYPED_EMAIL in full.stdout
    upper = _run(world, "journey", TYPED_EMAIL.upper(), role="supervisor")
    assert upper.exit_code == 1 and f"did you mean {TYPED_EMAIL!r}?" in upper.stderr


def test_what_an_unknown_visitor_typed_is_on_the_card_as_the_role_may_see_it(world) -> None:
    """The card showed only "Unknown" for a visitor who had typed an email: the agent on the
    phone could not see it. It now shows the unverified details, masked for a role without
    contact details and hashed under --redact, like `jtrack contacts --visitors`."""
    sid = _session_of(world, "cookie-ada")
    full = _run(world, "card", sid, "-f", "json", "--as-of", AS_OF, role="supervisor")
    assert full.exit_code == 0, full.stderr
    contact = json.loads(full.stdout)["contact"]
    assert not contact["known"] and contact["unverified_emails"] == [ADA_EMAIL]
    table = _run(world, "card", sid, "--as-of", AS_OF, role="supervisor")
    assert "Typed" in table.stdout and ADA_EMAIL in table.stdout
    for role, redact in (("agent", []), ("supervisor", ["--redact"])):
        for fmt in ("json", "table"):
            res = _run(world, "card", sid, "-f", fmt, "--as-of", AS_OF, *redact, role=role)
            assert res.exit_code == 0, res.stderr
            assert ADA_EMAIL not in res.stdout, (role, fmt)
        journey = _run(world, "journey", "cookie-ada", "-f", "json", *redact, role=role)
        assert journey.exit_code == 0 and ADA_EMAIL not in journey.stdout, role


def test_a_contact_saved_without_a_name_does_not_show_its_email_as_the_name(
    world, tmp_path: Path
) -> None:
    """A contact with no name is named by its email: the `emails` column was masked for a
    role without contact details and the same address shown as `contact_name`."""
    book = tmp_path / "unnamed.csv"
    book.write_text(f"contact_id,name,emails,phones,external_ids\nNN,,{ADA_EMAIL},,\n")
    sid = _session_of(world, "cookie-ada")
    for args in (
        ["contacts", "--contacts", str(book), "-f", "csv"],
        ["contacts", "--contacts", str(book)],
        ["sessions", "--contacts", str(book), "-f", "json"],
        ["card", sid, "--contacts", str(book), "-f", "json", "--as-of", AS_OF],
        ["card", sid, "--contacts", str(book), "--as-of", AS_OF],
        ["journey", "cookie-ada", "--contacts", str(book), "-f", "json", "--as-of", AS_OF],
    ):
        res = _run(world, *args, role="agent")
        assert res.exit_code == 0, (args, res.stderr)
        assert ADA_EMAIL not in res.stdout, args
    full = _run(world, "contacts", "--contacts", str(book), "-f", "csv", role="supervisor")
    assert full.exit_code == 0 and f"NN,{ADA_EMAIL}," in full.stdout


def test_the_roles_of_the_file_named_by_rules_apply(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rules FILE` names the config file: roles kept in it were ignored (everything shown,
    and `--role agent` refused as "no roles are configured")."""
    sample_rules = (
        Path(__file__).resolve().parent.parent / "sample_data" / "jtrack.toml"
    ).read_text()
    cfg = tmp_path / "shop.toml"
    cfg.write_text(CONFIG + "\n" + sample_rules)
    monkeypatch.chdir(tmp_path)  # (no ./jtrack.toml here)
    store = str(world["store"])
    base = ["rules", "report", "--rules", str(cfg), "--store", store, "-f", "json"]
    agent = runner.invoke(app, base)
    assert agent.exit_code == 0, agent.stderr
    assert "out-purchase" not in agent.stdout  # the default role may not see outcomes
    assert runner.invoke(app, [*base, "--role", "agent"]).exit_code == 0
    full = runner.invoke(app, [*base, "--role", "supervisor"])
    assert full.exit_code == 0 and "out-purchase" in full.stdout
    plain = tmp_path / "plain.toml"  # a rules file without roles: the config's apply
    plain.write_text(sample_rules)
    res = runner.invoke(
        app, ["rules", "report", "--rules", str(plain), "--store", store, "-f", "json"]
    )
    assert res.exit_code == 0 and "out-purchase" in res.stdout  # (no config, no roles here)


ANALYST_RULES = f"""
default_role = "analyst"
[roles.analyst]
permissions = ["journey:session:view", "journey:event:view", "journey:eventtype:view",
  "journey:segment:view", "journey:outcome:view", "journey:sessiontype:view"]
[roles.supervisor]
permissions = [{ALL}]
[redact]
key = "{KEY}"
query_params = ["email"]

[[segment]]
id = "seg-mail-link"
display_name = "Came by a mailed link"
color = "#1E88E5"
context = [{{ field = "referrer.url", operator = "containsAny", values = ["@example.org"] }}]

[[segment]]
id = "seg-email-in-url"
display_name = "An email in a page address"
color = "#3949AB"
[[segment.pattern]]
conditions = [{{ field = "page.url", operator = "containsAny", values = ["ada@example.org"] }}]
"""


def test_rules_never_answer_guesses_about_what_a_role_sees_masked(tmp_path: Path) -> None:
    """The rules file is the reader's own: matched on the unmasked data, a segment on an
    email in a URL (or `ipAddress equal ...`) told an agent whether a guess was right, and
    `startsWith` spelt a value out. Rules are matched on the data as the role sees it, so a
    guess at a masked value matches nothing for an agent or under --redact (the
    supervisor's figures differ, as the README says), and `rules explain` quotes the mask."""
    referrer = f"https://mail.example/r?to={ADA_EMAIL}"
    rows = [
        flat_event("a1", "cookie-ada", T0, referrer_url=referrer,
                   page_url=f"https://shop.example/p?email={ADA_EMAIL}"),
        flat_event("z1", "cookie-zed", T0),
    ]  # fmt: skip
    events = tmp_path / "events.parquet"
    flat_frame(rows).write_parquet(events)
    store = tmp_path / "store"
    assert (
        runner.invoke(app, ["sessionize", str(events), "--store", str(store), "-q"]).exit_code == 0
    )
    rules = tmp_path / "rules.toml"
    rules.write_text(ANALYST_RULES)
    base = ["--rules", str(rules), "--store", str(store)]

    def matched(*extra: str) -> dict[str, int]:
        res = runner.invoke(app, ["rules", "report", *base, "-f", "json", *extra])
        assert res.exit_code == 0, res.stderr
        doc = json.loads(res.stdout)
        return {r["segment_id"]: r["sessions"] for r in doc["segments"]}

    none = {"seg-mail-link": 0, "seg-email-in-url": 0}
    assert matched("--role", "supervisor") == {"seg-mail-link": 1, "seg-email-in-url": 1}
    assert matched("--role", "analyst") == none
    assert matched("--role", "supervisor", "--redact") == none
    sid = pl.read_parquet(next((store / "current" / "sessions").glob("*.parquet"))).filter(
        pl.col("customer_id") == "cookie-ada"
    )["id"][0]
    for extra in (["--role", "analyst"], ["--role", "supervisor", "--redact"]):
        res = runner.invoke(app, ["rules", "explain", sid, *base, "-f", "json", *extra])
        assert res.exit_code == 0, res.stderr
        rows_ = json.loads(res.stdout)
        results = {r["rule_id"]: r["held"] for r in rows_ if r["part"] == "result"}
        assert results == {"seg-mail-link": False, "seg-email-in-url": False}
        (quoted,) = [r["detail"] for r in rows_ if r["part"] == "context"]
        assert quoted.startswith("session value 'https://mail.example/r?to=")
        assert ADA_EMAIL not in quoted  # (the rules file's own values are quoted as written)


def test_journey_totals_leave_out_the_counts_a_role_may_not_see(world) -> None:
    """The journey's totals counted segments and outcomes for a role without them (its
    sections were left out): the counts are null, and the table and the profile say nothing
    of them but that they are hidden."""
    rules = world["tmp"] / "rules.toml"
    rules.write_text(RULES)
    base = ["journey", "cookie-ada", "--rules", str(rules), "--as-of", AS_OF]
    full = json.loads(_run(world, *base, "-f", "json", role="supervisor").stdout)["totals"]
    assert full["segments"] > 0 and full["outcomes"] > 0
    doc = _run(world, *base, "-f", "json")
    assert doc.exit_code == 0, doc.stderr
    tot = json.loads(doc.stdout)["totals"]
    assert tot["segments"] is None and tot["outcomes"] is None
    table = _run(world, *base).stdout
    (counts,) = [line for line in table.splitlines() if " events · " in line and "search" in line]
    assert "segment" not in counts and "outcome" not in counts, counts
    page = _run(world, *base, "-f", "html").stdout
    assert 'data-kpi="segments"' not in page and 'data-kpi="segment"' not in page
    assert page.count("Hidden by your role.") == 2


def test_a_role_without_segments_is_not_told_how_many_agents_do_not_see(world) -> None:
    """The card said "1 segment match not shown to agents" to a role that may see no
    segment at all (its totals hide the count): the note is for roles that see segments."""
    rules = world["tmp"] / "rules-hidden.toml"
    rules.write_text(RULES + '\n[[segment]]\nid = "seg-quiet"\ndisplay_name = "Quiet"\n'
                     'shown_to_agents = false\ncontext = [{ field = "sessionType", '
                     'operator = "equal", values = ["web"] }]\n')  # fmt: skip
    sid = _session_of(world, "cookie-ada")
    base = ["card", sid, "--rules", str(rules), "--as-of", AS_OF, "-f", "json"]
    seen = json.loads(_run(world, *base, role="supervisor").stdout)["notes"]
    assert any("not shown to agents" in n for n in seen)
    res = _run(world, *base)
    assert res.exit_code == 0, res.stderr
    notes = json.loads(res.stdout)["notes"]
    assert not any("not shown to agents" in n for n in notes), notes
    assert any("segments are hidden by your role" in n for n in notes)


def test_a_contact_whose_id_is_an_email_or_a_phone_is_masked_like_one(
    world, tmp_path: Path
) -> None:
    """A contact saved with an email or a phone number as its id showed it as `contact_id`
    beside the masked name (and under --redact, beside the hashed one), and `--contact` found
    it by its start."""
    book = tmp_path / "ids.csv"
    book.write_text(
        "contact_id,name,emails,phones,external_ids\n"
        f"{ADA_EMAIL},,{ADA_EMAIL},,\n{BOB_PHONE},,,{BOB_PHONE},\n"
    )
    sid = _session_of(world, "cookie-ada")
    for args in (
        ["contacts", "--contacts", str(book), "-f", "csv"],
        ["sessions", "--contacts", str(book), "-f", "json"],
        ["sessions", "--contacts", str(book), "-f", "csv", "--columns", "id,contact_id"],
        ["card", sid, "--contacts", str(book), "-f", "json", "--as-of", AS_OF],
        ["card", sid, "--contacts", str(book), "--as-of", AS_OF],
        ["journey", "cookie-ada", "--contacts", str(book), "--as-of", AS_OF],
        ["journey", "cookie-ada", "--contacts", str(book), "-f", "json", "--as-of", AS_OF],
    ):
        for extra in ([], ["--redact"]):
            res = _run(world, *args, *extra, role="agent", env={"JTRACK_REDACT_KEY": KEY})
            assert res.exit_code == 0, (args, res.stderr)
            assert ADA_EMAIL not in res.stdout and BOB_PHONE not in res.stdout, (args, extra)
    # under --redact the id hashes as the contact's email does (one person, one hash)
    red = _run(world, "contacts", "--contacts", str(book), "-f", "json", "--redact")
    ada = [r for r in json.loads(red.stdout) if r["emails"] and r["contact_id"].startswith("h:")]
    assert len(ada) == 1 and ada[0]["contact_id"] == ada[0]["emails"][0]
    prefix = _run(world, "sessions", "--contacts", str(book), "--contact", "ada@", role="agent")
    assert prefix.exit_code != 0 and ADA_EMAIL not in prefix.stdout + prefix.stderr
    full = _run(world, "contacts", "--contacts", str(book), "-f", "csv", role="supervisor")
    assert full.exit_code == 0 and f"{ADA_EMAIL}," in full.stdout


def test_an_email_in_the_referrer_name_or_beside_an_image_name_is_masked(tmp_path: Path) -> None:
    """The referrer's name was left out of the free text searched for addresses, and an
    address at a host starting `2x.` (`bob@2x.example.org`) was taken for an image for
    dense screens (`hero@2x.png`, kept as it is)."""
    rows = [
        flat_event(
            "r1",
            "cookie-r",
            T0,
            referrer_name="bob@example.org",
            referrer_url="https://mail.example/",
            search_query="bob@2x.example.org hero@2x.png",
        )
    ]
    w = role_world(tmp_path, rows, CONFIG, BOOK)
    for extra in ([], ["--redact"]):
        res = _run(w, "sessions", "-f", "json", *extra, env={"JTRACK_REDACT_KEY": KEY})
        assert res.exit_code == 0, res.stderr
        row = json.loads(res.stdout)[0]
        assert row["referrer_name"] == MASK, extra
        assert row["search_terms"] == [f"{MASK} hero@2x.png"], extra
    shown = _run(w, "sessions", "-f", "json", role="supervisor")
    assert json.loads(shown.stdout)[0]["referrer_name"] == "bob@example.org"


def test_an_id_with_40_for_its_at_hashes_as_the_address_does() -> None:
    """Under --redact `jane.doe%40example.com` (a visitor id) and `jane.doe@example.com`
    (the contact's email) hashed apart, breaking the join the README promises; so did an
    address with `%2D` or `%2E` for a hyphen or a dot (`x%40my%2Dshop%2Ecom`)."""
    policy = Policy(role="agent", permissions=frozenset(), redact=True, redact_key=KEY)
    frame = pl.DataFrame(
        {
            "customer_id": ["jane.doe%40example.com", "Jane.Doe@Example.com"],
            "emails": [["jane.doe@example.com"], None],
        }
    )
    out = protect_output(frame, policy)
    hashed = out.get_column("customer_id").to_list()
    assert hashed[0] == hashed[1] == out.get_column("emails")[0][0]
    frame = pl.DataFrame({"customer_id": ["x%40my%2Dshop%2Ecom", "x@my-shop.com"]})
    first, second = protect_output(frame, policy).get_column("customer_id").to_list()
    assert first == second and first.startswith("h:")


def test_card_and_journey_take_config_dev_null_as_no_config(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`card` and `journey` take their --config as a rules file (roles from it when it holds
    some, else from the config): `--config /dev/null` (none, the README says) was a rules file
    without roles, and $JTRACK_CONFIG's roles still applied."""
    monkeypatch.setenv("JTRACK_CONFIG", str(world["tmp"] / "jtrack.toml"))
    sid = _session_of(world, "cookie-ada")
    for args in (["card", sid], ["journey", "cookie-ada"]):
        base = [*args, "--as-of", AS_OF, "-f", "json"]
        agent = _run(world, *base)
        assert agent.exit_code == 0 and ADA_EMAIL not in agent.stdout
        none = _run(world, *base, "--config", os.devnull)
        assert none.exit_code == 0, none.stderr
        assert ADA_EMAIL in none.stdout, args  # (no roles: everything, as documented)


def test_rules_dev_null_keeps_the_configs_roles(world, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--rules /dev/null` (no rules) turned the roles off for `sessions`, `rules report` and
    `rules explain` for a while: /dev/null is no config only where it is named by --config
    (card and journey take their --config as both)."""
    monkeypatch.setenv("JTRACK_CONFIG", str(world["tmp"] / "jtrack.toml"))
    res = _run(world, "sessions", "--rules", os.devnull, "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert ADA_EMAIL not in res.stdout and not _leaks(res.stdout)


def test_contact_ids_in_the_contacts_files_warnings_are_masked_too(world, tmp_path: Path) -> None:
    """The `warning:` lines about a contacts file named a contact whose id is an email or a
    phone number as it is (`row 1 (contact ada@...)`, `also on contact +44...`), under a
    role that masks it and under --redact, beside its own hash."""
    book = tmp_path / "ids.csv"
    book.write_text(
        "contact_id,name,emails,phones,external_ids\n"
        f"{ADA_EMAIL},,,{BOB_PHONE},\n{BOB_PHONE},,,{BOB_PHONE},\n"
    )
    for extra in ([], ["--redact"]):
        res = _run(world, "contacts", "--contacts", str(book), "-f", "csv", *extra,
                   role="agent", env={"JTRACK_REDACT_KEY": KEY})  # fmt: skip
        assert res.exit_code == 0, res.stderr
        assert "also on contact" in res.stderr, res.stderr
        assert ADA_EMAIL not in res.stderr and BOB_PHONE not in res.stderr, (extra, res.stderr)
        if extra:  # (the ids a reason names hashed as the contact they are: `•••` before)
            named = set(re.findall(r"\(contact (h:[0-9a-f]{16})\)", res.stderr))
            also = set(re.findall(r"also on contact (h:[0-9a-f]{16}):", res.stderr))
            assert len(named) == 2 and also == named, res.stderr
    full = _run(world, "contacts", "--contacts", str(book), "-f", "csv", role="supervisor")
    assert f"(contact {ADA_EMAIL})" in full.stderr


def test_ids_and_image_names_that_are_no_contact_details_are_kept() -> None:
    """Masking a contact id that is an email or a phone number masked every contact id of
    seven digits or more (a CRM key `12345678`, `2026-10-01`), and an image name at the end
    of a sentence (`hero@2x.png.`) was taken for an address."""
    policy = Policy(role="agent", permissions=frozenset())
    ids = ["C0001", "12345678", "CRM-100-200-300", "ACME-2026-10-01", "2025550197"]
    personal = [ADA_EMAIL, BOB_PHONE, "07700 900123", "202-555-0123"]
    frame = pl.DataFrame({"contact_id": ids + personal})
    shown = protect_output(frame, policy).get_column("contact_id").to_list()
    assert shown == ids + [MASK] * len(personal)
    tree = protect_tree(
        {"contact": {"contact_id": "12345678"}, "x": [{"contact_id": BOB_PHONE}]}, policy
    )
    assert tree == {"contact": {"contact_id": "12345678"}, "x": [{"contact_id": MASK}]}
    texts = pl.DataFrame(
        {
            "search_query": [
                "Photo hero@2x.png.",
                "see logo@2x.png. Done",
                "bob@2x.example.org.",
                "(see hero@2x.png.)",
            ]
        }
    )
    out = protect_output(texts, policy).get_column("search_query").to_list()
    assert out == ["Photo hero@2x.png.", "see logo@2x.png. Done", f"{MASK}.", "(see hero@2x.png.)"]


def test_a_contact_id_and_the_name_made_of_it_are_masked_alike(world, tmp_path: Path) -> None:
    """A contact saved without a name is named by its id: the id holding a phone number was
    masked beside the same text shown as `contact_name`, and in the contacts file's warnings
    (`contacts --check`) the `value` of a repeated id was judged by another rule than the
    `contact_id` beside it (masked in one column, shown in the next)."""
    phone_id = "tel 07700 900123"
    book = tmp_path / "named.csv"
    book.write_text(
        "contact_id,name,emails,phones,cookie_ids\n"
        f"{phone_id},,,,cookie-ada\n12345678,,,,cookie-bob\n"
        f"{phone_id},,,,\n12345678,,,,\n"  # (each id again: a warning each)
    )
    res = _run(world, "sessions", "--contacts", str(book), "-f", "csv", role="agent")
    assert res.exit_code == 0, res.stderr
    assert phone_id not in res.stdout + res.stderr and "12345678" in res.stdout
    journey = _run(world, "journey", phone_id, "--contacts", str(book), "-f", "json",
                   "--as-of", AS_OF, role="agent")  # fmt: skip
    assert journey.exit_code == 0, journey.stderr  # (asked by the contact id: as it is shown)
    assert phone_id not in journey.stdout and json.loads(journey.stdout)["query"] == MASK
    check = _run(world, "contacts", "--check", str(book), "-f", "csv", role="agent")
    assert phone_id not in check.stdout + check.stderr, check.stdout
    rows = [line for line in check.stdout.splitlines() if "12345678" in line]
    assert rows and all(MASK not in line for line in rows), check.stdout


def test_an_external_id_on_two_contacts_is_masked_in_warnings_and_the_check(
    world, tmp_path: Path
) -> None:
    """An external id (a CRM key of the contact book: contact details, masked as README's
    roles say) on two contacts was printed as it is in the `warning:` lines and in the
    `--check` listing, beside the masked email and phone, and under --redact unhashed."""
    secret = "EXT-SECRET-77"
    book = tmp_path / "ext.csv"
    book.write_text(
        f"contact_id,name,emails,phones,external_ids\nC1,Alice,,,{secret}\nC2,Carl,,,{secret}\n"
    )
    env = {"JTRACK_REDACT_KEY": KEY}
    for extra in ([], ["--redact"]):
        res = _run(world, "contacts", "--contacts", str(book), "-f", "csv", *extra,
                   role="agent", env=env)  # fmt: skip
        assert res.exit_code == 0, res.stderr
        assert "external_id" in res.stderr and secret not in res.stderr + res.stdout, res.stderr
        check = _run(world, "contacts", "--check", str(book), "-f", "csv", *extra,
                     role="agent", env=env)  # fmt: skip
        assert "external_id" in check.stdout and secret not in check.stdout, check.stdout
        if extra:
            assert re.search(r"external_id,h:[0-9a-f]{16}", check.stdout), check.stdout
    full = _run(world, "contacts", "--check", str(book), "-f", "csv", role="supervisor")
    assert secret in full.stdout


def test_an_email_at_an_internationalised_domain_is_masked(tmp_path: Path) -> None:
    """Addresses whose top-level domain is not ASCII letters (`пример.рф`, `παράδειγμα.ελ`,
    punycode `xn--p1ai`) or whose domain is percent-encoded in a URL (`ex%C3%A4mple.com`)
    were shown whole to a role without contact details and under --redact, inside text and
    as a whole attribute value."""
    addresses = (
        "bob@пример.рф",
        "αλέξης@παράδειγμα.ελ",
        "bob%40ex%C3%A4mple.com",
        "x@xn--e1afmkfd.xn--p1ai",
        "bob%40%D0%BF%D1%80.%D1%80%D1%84",
    )
    rows = [
        flat_event(
            "i1",
            "cookie-i",
            T0,
            page_title="mail " + " or ".join(addresses) + ".",
            attributes=[{"name": "note", "data_type": "string", "value": addresses[0]}],
        )
    ]
    w = role_world(tmp_path, rows, CONFIG, BOOK)
    sid = json.loads(_run(w, "sessions", "-f", "json", role="supervisor").stdout)[0]["id"]
    for extra in ([], ["--redact"]):
        res = _run(
            w,
            "sessions",
            "-f",
            "json",
            "--columns",
            "id,last_page_title",
            *extra,
            env={"JTRACK_REDACT_KEY": KEY},
        )
        assert res.exit_code == 0, res.stderr
        title = json.loads(res.stdout)[0]["last_page_title"]
        assert title == "mail " + " or ".join([MASK] * len(addresses)) + ".", (extra, title)
        card = _run(
            w, "card", sid, "--details", "-f", "json", *extra, env={"JTRACK_REDACT_KEY": KEY}
        )
        assert card.exit_code == 0, card.stderr
        assert not [a for a in addresses if a in card.stdout], extra
    shown = _run(w, "sessions", "-f", "json", "--columns", "id,last_page_title", role="supervisor")
    assert addresses[1] in json.loads(shown.stdout)[0]["last_page_title"]


def test_percent_encoded_text_that_is_no_address_is_kept_and_masking_never_backtracks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The internationalised-domain patterns took any `%XX` for a letter of a domain: encoded
    text that is no address (`shoes%20%40%20store.%20Sale`, an npm scope, `user%40host` in
    a URL) was masked where its decoded form is not; and `%2E`, both a label's byte and a
    dot, made Python's regex backtrack exponentially over `a%40` + `1%2E` * 26 in a card
    (43 s; longer, never done). Only bytes of letters beyond ASCII count, and text of a
    card or journey is masked by Polars' engine (linear), as columns are."""
    import jtrack.access as access

    def no_python_regex(*args: object, **kw: object) -> None:
        raise AssertionError("masked with Python's backtracking regex engine")

    monkeypatch.setattr(access.re, "sub", no_python_regex)
    kept = (
        "running%20shoes%20%40%20store.%20Sale",
        "https%3A%2F%2Fuser%40host%2Fpath%2Ffile.html",
        "https%3A%2F%2Fwww.npmjs.com%2Fpackage%2F%40babel%2Fcore.js",
        "Meet%20us%40the%20park.%20Today",
        "a@b.%20%20",
        "hi@%25.%25%25",
        "a%40" + "1%2E" * 40 + "1",
    )
    for text in kept:
        assert access._emails_masked_text(text) == text, text
    for text in ("bob%40ex%C3%A4mple.com", "x@xn--e1afmkfd.xn--p1ai", "a%40b%2Ecom", "b@a%2Db.com"):
        assert access._emails_masked_text(f"see {text} now") == f"see {MASK} now", text
    assert access._emails_masked_text("a" * 50_000 + "@" + "b." * 10_000 + "com") == MASK


def test_a_cards_texts_are_masked_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Masking a card's texts one Polars call each (every title or URL with a digit) made
    a card of 3,000 events ten times slower and a journey twenty: a tree's texts are
    gathered and masked in one call, to the same result."""
    import jtrack.access as access

    tree = {
        "events": [
            {"page_title": f"Item {i} page", "page_url": f"https://shop.example/p/{i}?ref={i}"}
            for i in range(200)
        ]
        + [{"page_title": "mail ann@example.org or +44 7700 900123"}],
    }
    policy = Policy(role="agent", permissions=frozenset())
    calls: list[object] = []
    real = pl.DataFrame.select

    def counted(self: pl.DataFrame, *args: object, **kw: object) -> pl.DataFrame:
        calls.append(args)
        return real(self, *args, **kw)  # type: ignore[arg-type]

    def one_at_a_time(*args: object, **kw: object) -> None:
        raise AssertionError("a text masked on its own")

    monkeypatch.setattr(access.pl, "select", one_at_a_time)
    monkeypatch.setattr(pl.DataFrame, "select", counted)
    out = protect_tree(tree, policy)
    assert len(calls) <= 2
    assert out["events"][-1]["page_title"] == f"mail {MASK} or {MASK}"
    assert out["events"][:200] == tree["events"][:200]
    for extra in ({"redact": True, "redact_key": KEY},):
        red = protect_tree(tree, Policy(role="agent", permissions=frozenset(), **extra))
        assert red["events"][-1]["page_title"] == f"mail {MASK} or {MASK}"
