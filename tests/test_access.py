"""Roles, permissions and redaction in the core view of the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from jtrack.access import (
    CONTACT_VIEW,
    EVENT_VIEW,
    MASK,
    PERMISSIONS,
    SESSION_VIEW,
    StoreView,
    load_policy,
    open_view,
)
from jtrack.engine import run_sessionize
from jtrack.errors import ConfigError, NotPermittedError
from jtrack.store import Store
from tests.helpers import T0, flat_event, flat_frame, minutes

ALL = ", ".join(f'"{p}"' for p in PERMISSIONS)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    trait = [{"name": "email", "data_type": "string", "value": "ada@example.org"}]
    rows = [
        flat_event(
            "a",
            "c1",
            T0,
            ip_address="81.2.69.160",
            traits=trait,
            page_url="https://shop.example/?email=ada@example.org&x=1",
        ),
        flat_event("b", "c1", T0 + minutes(1), event_name="product_added", kind="custom"),
        flat_event(
            "s",
            "c1",
            T0 + minutes(2),
            kind="segment_assigned",
            event_type="SegmentAssignmentEvent",
            event_name=None,
            segment_id="seg",
        ),
        flat_event(
            "o",
            "c1",
            T0 + minutes(3),
            kind="outcome_achieved",
            event_type="OutcomeAchievedEvent",
            event_name=None,
            outcome_id="out",
        ),
        flat_event(
            "d",
            "c2",
            T0,
            source_session_type="delivery",
            source_session_id="o-1",
            event_name="order_dispatched",
            kind="custom",
        ),
        flat_event("e", "c2", T0 + timedelta(hours=3)),
    ]
    src = tmp_path / "events.parquet"
    flat_frame(rows).write_parquet(src)
    st = Store.open(tmp_path / "store")
    run_sessionize([src], st)
    return st


def _config(tmp_path: Path, perms: str, extra: str = "") -> Path:
    p = tmp_path / "jtrack.toml"
    p.write_text(
        f'default_role = "agent"\n[roles.agent]\npermissions = [{perms}]\n'
        f"[roles.admin]\npermissions = [{ALL}]\n{extra}"
    )
    return p


def test_without_roles_everything_is_visible(store: Store, in_tmp: Path) -> None:
    view = open_view(store.root)
    assert view.policy.role is None
    assert view.scan_events().collect().height == 6
    assert view.scan_sessions().collect().height == 3


def test_unknown_role_is_a_config_error_naming_the_nearest(tmp_path: Path, in_tmp) -> None:
    cfg = _config(tmp_path, ALL)
    with pytest.raises(ConfigError, match="admin"):
        load_policy("admn", config=cfg)


def test_unknown_permission_is_a_config_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, '"journey:sesion:view"')
    with pytest.raises(ConfigError, match="journey:session:view"):
        load_policy(config=cfg)


def test_without_sessiontype_permission_custom_sessions_are_hidden(
    store: Store, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}"')
    view = StoreView(store, load_policy(config=cfg))
    types = view.scan_sessions().collect()["type"].to_list()
    assert "delivery" not in types and len(types) == 2
    custom = store.scan_sessions().filter(pl.col("type") == "delivery").collect()["id"][0]
    with pytest.raises(NotPermittedError):
        view.check_session(custom)


def test_a_custom_session_explained_for_a_role_that_may_not_see_it_is_not_permitted(
    store: Store, tmp_path: Path
) -> None:
    """`rules explain` says "not permitted" (exit 4) as `card` does, not "no session"."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    cfg = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}"')
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[segment]]\nid = "any"\ncontext = [{ field = "device.category", operator = '
        '"equal", values = ["mobile"] }]\n'
    )
    custom = store.scan_sessions().filter(pl.col("type") == "delivery").collect()["id"][0]
    runner = CliRunner(env={"JTRACK_CONFIG": str(cfg)})
    for cmd in (["card", custom[:8]], ["rules", "explain", custom[:8], "--rules", str(rules)]):
        res = runner.invoke(app, [*cmd, "--store", str(store.root), "-q"])
        assert res.exit_code == 4, (cmd, res.output)
        assert "is a custom session (delivery); role 'agent' may not see" in res.stderr
    other = store.scan_sessions().filter(pl.col("type") == "web").collect()["id"][0]
    args = ["rules", "explain", other, "--rules", str(rules), "--store", str(store.root), "-q"]
    assert runner.invoke(app, args).exit_code == 0


def test_without_eventtype_permission_custom_events_are_hidden_and_counted(
    store: Store, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}"')
    view = StoreView(store, load_policy(config=cfg))
    ev = view.scan_events().collect()
    assert "custom" not in ev["kind"].to_list()
    assert set(ev["kind"]) == {"page_view"}  # no segment or outcome permission either
    sid = ev.filter(pl.col("event_id") == "a")["session_id"][0]
    assert view.hidden_events(sid) == 3


def test_without_contact_permission_personal_data_is_masked(store: Store, tmp_path: Path) -> None:
    cfg = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}"')
    ev = StoreView(store, load_policy(config=cfg)).scan_events().collect()
    row = ev.filter(pl.col("event_id") == "a").row(0, named=True)
    assert row["ip_address"] == MASK
    assert row["traits"] == [{"name": "email", "data_type": "string", "value": MASK}]
    sess = StoreView(store, load_policy(config=cfg)).scan_sessions().collect()
    assert set(sess["ip_address"].drop_nulls()) == {MASK}


def _agent_view(tmp_path: Path, rows: list[dict[str, object]]) -> tuple[Store, StoreView]:
    """A store of `rows`, and its view for a role that sees sessions and events only."""
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    store = Store.open(tmp_path / "s")
    run_sessionize([src], store)
    config = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}"')
    return store, StoreView(store, load_policy(config=config))


def test_emails_inside_free_text_are_masked_for_a_role_without_contact_details(
    tmp_path: Path,
) -> None:
    """A visitor typed their email into the site search; a page title and a URL path hold
    one: the role sees the text with the address masked, a role with contact details sees
    it whole, and the rest of the text stays."""
    rows = [
        flat_event("a", "c1", T0, page_title="Orders of ada@example.org | Shop",
                   page_url="https://shop.example/u/ada%40example.org/orders",
                   page_pathname="/u/ada%40example.org/orders"),
        flat_event("b", "c1", T0 + minutes(1), kind="search", search_query="ada@example.org"),
    ]  # fmt: skip
    store, agent = _agent_view(tmp_path, rows)
    ev = agent.scan_events().collect().sort("event_id")
    assert ev["page_title"][0] == f"Orders of {MASK} | Shop"
    assert ev["page_url"][0] == f"https://shop.example/u/{MASK}/orders"
    assert ev["page_pathname"][0] == f"/u/{MASK}/orders" and ev["search_query"][1] == MASK
    assert agent.scan_sessions().collect()["search_terms"].to_list() == [[MASK]]
    # an image for dense screens is no email address (it was masked, as an attribute too)
    from jtrack.access import _emails_masked, personal_attribute

    img = pl.DataFrame({"t": ["/img/hero@2x.png, logo@1.5x.webp; bob@x.io"]})
    assert img.select(_emails_masked(pl.col("t"))).item() == (
        f"/img/hero@2x.png, logo@1.5x.webp; {MASK}"
    )
    assert not personal_attribute("banner", "hero@2x.png", frozenset())
    admin = StoreView(
        store, load_policy(role="admin", config=_config(tmp_path, f'"{SESSION_VIEW}"'))
    )
    assert admin.scan_events().collect().sort("event_id")["search_query"][1] == "ada@example.org"


def test_with_contact_permission_personal_data_is_shown(store: Store, tmp_path: Path) -> None:
    cfg = _config(tmp_path, f'"{SESSION_VIEW}", "{EVENT_VIEW}", "{CONTACT_VIEW}"')
    ev = StoreView(store, load_policy(config=cfg)).scan_events().collect()
    assert "81.2.69.160" in ev["ip_address"].to_list()


def test_without_session_permission_reading_is_not_permitted(store: Store, tmp_path: Path) -> None:
    cfg = _config(tmp_path, f'"{EVENT_VIEW}"')
    with pytest.raises(NotPermittedError):
        StoreView(store, load_policy(config=cfg)).scan_sessions()


def test_redaction_is_a_stable_keyed_hash(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, ALL, '[redact]\nkey = "k1"\nquery_params = ["email"]\n')
    a = StoreView(store, load_policy("admin", redact=True, config=cfg)).scan_events().collect()
    b = StoreView(store, load_policy("admin", redact=True, config=cfg)).scan_events().collect()
    row = a.filter(pl.col("event_id") == "a").row(0, named=True)
    assert row["ip_address"].startswith("h:") and row["ip_address"] != "81.2.69.160"
    assert row["traits"][0]["value"].startswith("h:")
    assert "ada@example.org" not in row["page_url"] and "x=1" in row["page_url"]
    assert a.equals(b)
    monkeypatch.setenv("JTRACK_REDACT_KEY", "another key")
    c = StoreView(store, load_policy("admin", redact=True, config=cfg)).scan_events().collect()
    assert c.filter(pl.col("event_id") == "a")["ip_address"][0] != row["ip_address"]


def test_phone_numbers_inside_free_text_are_masked_for_a_role_without_contact_details(
    tmp_path: Path,
) -> None:
    """A visitor typed their phone number into the site search ("call me 07700 900123"):
    emails in such text were masked, phone numbers shown whole. Numbers with a `+`, or
    written in groups as phones are, are masked; order numbers, dates, versions and ids
    stay."""
    searches = {
        "s1": ("call me on +44 7700 900123 please", f"call me on {MASK} please"),
        "s2": ("(555) 123-4567", MASK),
        "s3": ("07700 900123 or 020 7946 0001", f"{MASK} or {MASK}"),
        "s4": ("order 2026-10-01-12345", "order 2026-10-01-12345"),
        "s5": ("sku 1234-5678 v17.4.1", "sku 1234-5678 v17.4.1"),
        "s6": ("12345678-0123-4567-8901-234567890123", "12345678-0123-4567-8901-234567890123"),
        "s7": ("id 0123456789", "id 0123456789"),
        "s8": ("call 202-555-0197 or 1-800-555-0199", f"call {MASK} or {MASK}"),
        "s9": ("06 12 34 56 78, 0049 30 1234567", f"{MASK}, {MASK}"),
        "sa": ("Opening hours 0900-1730, SKU 0042-1180", "Opening hours 0900-1730, SKU 0042-1180"),
        "sb": ("/orders/0123-4567-89ab/status", "/orders/0123-4567-89ab/status"),
        "sc": ("Pack (12) 500 750, Batch 0010.2026.11", "Pack (12) 500 750, Batch 0010.2026.11"),
        "sd": ("Call 07700 900 123 or 030 1234567", f"Call {MASK} or {MASK}"),
        "se": ("Tel: 020 7946 0001x123, (202)555-0197", f"Tel: {MASK}, {MASK}"),
        "sf": ("020 7946 0001 020 7946 0002 020 7946 0003", f"{MASK} {MASK} {MASK}"),
        "sg": ("Event 05.10.2026 09:30, id 0123456789", "Event 05.10.2026 09:30, id 0123456789"),
        "sh": ("Part 012-34567, Invoice 0224-000123", "Part 012-34567, Invoice 0224-000123"),
        "si": ("/p/0123/456789 and 02134 02138", "/p/0123/456789 and 02134 02138"),
        "sj": (
            "Item 800-555-1234-XL, /a/202-555-0197-red",
            "Item 800-555-1234-XL, /a/202-555-0197-red",
        ),
        "sk": ("Tel 020 7946 0001 Ext. 12", f"Tel {MASK}"),
        # digits of another script or full width, a full-width `+`: the same numbers
        "sl": ("call ＋44 7700 900123 now", f"call {MASK} now"),
        "sm": ("call ٠٧٧٠٠ ٩٠٠١٢٣ now", f"call {MASK} now"),
        "sn": ("phone ०२० ७९४६ ०००१", f"phone {MASK}"),
    }
    rows = [
        flat_event(k, "c1", T0 + minutes(i), kind="search", search_query=text)
        for i, (k, (text, _)) in enumerate(searches.items())
    ]
    rows.append(flat_event("t", "c1", T0 + minutes(9), page_title="Call +1 (202) 555-0197"))
    store, agent = _agent_view(tmp_path, rows)
    ev = agent.scan_events().collect()
    shown = dict(zip(ev["event_id"], ev["search_query"], strict=True))
    assert {k: shown[k] for k in searches} == {k: want for k, (_, want) in searches.items()}
    assert ev.filter(pl.col("event_id") == "t")["page_title"].item() == f"Call {MASK}"
    from jtrack.access import _emails_masked_text

    assert _emails_masked_text("ring +44 20 7946 0001, ta") == f"ring {MASK}, ta"
    admin = StoreView(
        store, load_policy(role="admin", config=_config(tmp_path, f'"{SESSION_VIEW}"'))
    )
    plain = admin.scan_events().collect()
    assert (
        dict(zip(plain["event_id"], plain["search_query"], strict=True))["s2"] == "(555) 123-4567"
    )


def test_phone_numbers_in_urls_are_masked_as_a_url_writes_them(tmp_path: Path) -> None:
    """A number typed into a site search reaches the page URL as `call+me+07700+900123`
    or `%2007700%20900123`: the search term beside it was masked, the URL shown whole to a
    role without contact details and under --redact. Numbers written with `+` or `%20` for a
    space, `%2B`, `%28`/`%29`, `%2D` or after `tel%3A` are masked too; the rest of the URL
    and numbers that are no phones stay."""
    base = "https://s.example.com/search?q="
    urls = {
        "u1": ("call+me+07700+900123", f"call+me+{MASK}"),
        "u2": ("call%20me%2007700%20900123&x=1", f"call%20me%20{MASK}&x=1"),
        "u3": ("%2B447700900123", MASK),
        "u4": ("%28555%29%20123-4567", MASK),
        "u5": ("07700%2D900123", MASK),
        "u6": ("tel%3A07700900123", f"tel%3A{MASK}"),
        "u7": ("%2B44%207700%20900123#top", f"{MASK}#top"),
        "u8": ("ring+020+7946+0958+x12", f"ring+{MASK}"),
        # no phones: an order number, a timestamp, a date path, sizes, opening hours
        "u9": ("12345678901&t=1696500000000", "12345678901&t=1696500000000"),
        "ua": ("2026%2F10%2F05+size+10+12", "2026%2F10%2F05+size+10+12"),
        "ub": ("open+0900-1730&sku=0042-1180", "open+0900-1730&sku=0042-1180"),
    }
    rows = [
        flat_event(k, "c1", T0 + minutes(i), page_url=base + q)
        for i, (k, (q, _)) in enumerate(urls.items())
    ]
    _store, agent = _agent_view(tmp_path, rows)
    ev = agent.scan_events().collect()
    shown = dict(zip(ev["event_id"], ev["page_url"], strict=True))
    assert {k: shown[k] for k in urls} == {k: base + want for k, (_, want) in urls.items()}
    from jtrack.access import _emails_masked_text

    assert _emails_masked_text(base + urls["u1"][0]) == base + urls["u1"][1]


def test_masking_phone_numbers_never_changes_the_rest_of_the_text() -> None:
    """The dash between a digit and a letter is a marker character while numbers are
    looked for; a text that held that character itself came out with a dash instead."""
    from jtrack.access import _TOKEN_DASH, _emails_masked, _emails_masked_text

    text = f"x {_TOKEN_DASH} y, sku 12-ab, call 202-555-0197"
    want = f"x {_TOKEN_DASH} y, sku 12-ab, call {MASK}"
    assert _emails_masked_text(text) == want
    frame = pl.DataFrame({"t": [text, "sku 12-ab and 202-555-0197-red"]})
    assert frame.select(_emails_masked(pl.col("t")))["t"].to_list() == [
        want,
        "sku 12-ab and 202-555-0197-red",
    ]


def test_every_reading_command_takes_the_config_file_named_on_the_command_line(
    store: Store, tmp_path: Path, in_tmp: Path
) -> None:
    """`report`, `contacts` and `watch` could not be told which config holds the roles (the
    others take --config or --rules): a role file had to be $JTRACK_CONFIG or ./jtrack.toml."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = _config(elsewhere, '"journey:session:view", "journey:event:view"')
    runner = CliRunner()
    src = tmp_path / "events.parquet"
    base = ["--store", str(store.root)]
    for cmd in (["report"], ["contacts", "-f", "csv"], ["watch", str(src), "--once", "-q"]):
        res = runner.invoke(app, [*cmd, *base, "--role", "agent"])
        assert res.exit_code == 2 and "no roles are configured" in res.stderr, cmd
        res = runner.invoke(app, [*cmd, *base, "--role", "agent", "--config", str(cfg)])
        assert res.exit_code == 0, (cmd, res.stderr)
        res = runner.invoke(app, [*cmd, *base, "--role", "nobody", "--config", str(cfg)])
        assert res.exit_code == 2 and "nobody" in res.stderr, cmd  # (its roles, not none)
    # a contacts file named beside it is checked under the same roles (it was "no roles")
    book = tmp_path / "book.csv"
    book.write_text("contact_id,name,cookie_id\nA,Ada,c1\n")
    res = runner.invoke(
        app,
        ["journey", "c1", *base, "--role", "agent", "--config", str(cfg), "--contacts", str(book)],
    )
    assert res.exit_code == 0, res.stderr
