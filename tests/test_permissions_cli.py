"""Roles and redaction through every reading command and format: nothing hidden leaks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.access import PERMISSIONS
from jtrack.cli import app
from jtrack.errors import ExitCode
from jtrack.store import Store

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
ALL = ", ".join(f'"{p}"' for p in PERMISSIONS)
CONFIG = f"""
default_role = "agent"
[roles.agent]
permissions = ["journey:session:view", "journey:event:view"]
[roles.analyst]
permissions = [{ALL}]
[roles.blind]
permissions = ["journey:event:view"]
[redact]
key = "test-key"
"""
AS_OF = "2026-10-20T00:00:00Z"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("perm")
    store = tmp / "store"
    res = runner.invoke(
        app,
        [
            "sessionize",
            str(ROOT / "sample_data" / "events.jsonl"),
            "--store",
            str(store),
            "-q",
            "--format",
            "jsonl",
        ],
    )
    assert res.exit_code == 0, res.stderr
    (tmp / "jtrack.toml").write_text(CONFIG)
    sessions = Store.open(store).scan_sessions().collect()
    events = Store.open(store).scan_events().collect()
    custom = sessions.filter(pl.col("type") == "delivery").row(0, named=True)
    web_with_custom = events.filter(
        (pl.col("kind") == "custom") & (pl.col("session_type") == "web")
    ).row(0, named=True)
    ips = [ip for ip in events["ip_address"].drop_nulls().unique().to_list()]
    return {"tmp": tmp, "store": store, "custom": custom, "web_event": web_with_custom, "ips": ips}


def _run(world: dict[str, object], *args: str, role: str | None = None):
    old = os.getcwd()
    os.chdir(world["tmp"])  # type: ignore[arg-type]
    try:
        extra = ["--role", role] if role else []
        return runner.invoke(app, [*args, "--store", str(world["store"]), *extra])
    finally:
        os.chdir(old)


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv", "md"])
def test_sessions_hide_custom_sessions_without_sessiontype_permission(world, fmt) -> None:
    custom_id = world["custom"]["id"]
    res = _run(world, "sessions", "--format", fmt, "--columns", "id,type")
    assert res.exit_code == 0, res.stderr
    assert custom_id[:13] not in res.stdout and "delivery" not in res.stdout
    res = _run(world, "sessions", "--format", fmt, "--columns", "id,type", role="analyst")
    assert "delivery" in res.stdout


def test_card_on_a_custom_session_is_not_permitted(world) -> None:
    res = _run(world, "card", world["custom"]["id"], "--as-of", AS_OF)
    assert res.exit_code == ExitCode.NOT_PERMITTED
    assert "journey:sessiontype:view" in res.stderr
    ok = _run(world, "card", world["custom"]["id"], "--as-of", AS_OF, role="analyst")
    assert ok.exit_code == 0, ok.stderr


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_sessionize_lists_sessions_as_the_role_may_see_them(world, fmt) -> None:
    """`jtrack sessionize` prints the store's sessions after its run: through the role, as
    every reading command does (an agent could otherwise dump raw IPs and custom sessions)."""
    events = str(ROOT / "sample_data" / "events.jsonl")
    args = ["sessionize", events, "-q", "--format", fmt]  # (a run that finds nothing new)
    agent = _run(world, *args)
    assert agent.exit_code == 0, agent.stderr
    ips: list[str] = world["ips"]  # type: ignore[assignment]
    custom = str(world["custom"]["id"])  # type: ignore[index]
    assert not any(ip in agent.stdout for ip in ips)
    assert custom not in agent.stdout
    analyst = _run(world, *args, role="analyst")
    assert analyst.exit_code == 0, analyst.stderr
    if fmt != "table":  # (the table shows ten sessions, without these columns)
        assert any(ip in analyst.stdout for ip in ips) and custom in analyst.stdout
    redacted = _run(world, *args, "--redact", role="analyst")
    assert not any(ip in redacted.stdout for ip in ips)
    bad = _run(world, *args, role="nobody")
    assert bad.exit_code == ExitCode.USAGE and "nobody" in bad.stderr


def test_visit_numbers_count_web_sessions_alike_for_every_role(world) -> None:
    """Visits are a visitor's web sessions: a custom session (an order system's delivery) is
    no visit. Its number gave away a custom session to a role that may not see one ("visit
    4 of 4" above 3 sessions) and called a delivery a return visit; every role now reads
    the same numbers, of web sessions only."""
    sessions = Store.open(world["store"]).scan_sessions().collect()  # type: ignore[arg-type]
    custom = pl.col("type") == "delivery"
    visitor = str(
        sessions.filter(custom.any().over("customer_id") & ~custom)
        .sort("visit_number", "id", descending=[True, False])
        .get_column("customer_id")[0]
    )
    mine = sessions.filter(pl.col("customer_id") == visitor)
    web = mine.filter(pl.col("type") == "web").sort("created_date", "id")
    assert web["visit_number"].to_list() == list(range(1, web.height + 1))
    assert mine.filter(custom)["visit_number"].null_count() == mine.filter(custom).height > 0
    last = web.row(-1, named=True)
    for role in ("agent", "analyst"):
        res = _run(
            world,
            "card",
            last["id"],
            "--format",
            "json",
            "--as-of",
            "2030-01-01T00:00:00Z",
            role=role,
        )
        assert res.exit_code == 0, res.stderr
        visit = json.loads(res.stdout)["visit"]
        assert visit == {"number": web.height, "of": web.height}, role
        res = _run(world, "journey", visitor, "--format", "json", "--traffic", "all", role=role)
        assert res.exit_code == 0, res.stderr
        cards = [c for c in json.loads(res.stdout)["sessions"] if c["session"]["type"] == "web"]
        assert {c["visit"]["of"] for c in cards} == {web.height}, role
        assert sorted(c["visit"]["number"] for c in cards) == list(range(1, web.height + 1))
    res = _run(world, "card", last["id"], "--as-of", "2030-01-01T00:00:00Z")
    assert f"visit {web.height} of {web.height}" in res.stdout


@pytest.mark.parametrize("fmt", ["table", "json", "html"])
def test_card_hides_custom_events_and_says_how_many(world, fmt, tmp_path: Path) -> None:
    ev = world["web_event"]
    out = tmp_path / f"card.{'html' if fmt == 'html' else 'txt'}"
    args = ["card", ev["session_id"], "--as-of", AS_OF, "--format", fmt]
    if fmt == "html":
        args += ["-o", str(out)]
    res = _run(world, *args)
    assert res.exit_code == 0, res.stderr
    text = out.read_text() if fmt == "html" else res.stdout
    assert ev["event_id"] not in text
    assert "hidden by your role" in text
    if fmt == "json":
        card = json.loads(text)
        assert card["hidden_events"] >= 1
        assert all(e["kind"] != "custom" for e in card["journey"])
        assert card["segments"] == [] and card["outcomes"] == []
    full = _run(
        world, "card", ev["session_id"], "--as-of", AS_OF, "--format", "json", role="analyst"
    )
    assert ev["event_id"] in full.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl"])
def test_personal_data_is_masked_without_contact_permission(world, fmt) -> None:
    res = _run(world, "sessions", "--format", fmt)
    assert res.exit_code == 0
    assert not any(ip in res.stdout for ip in world["ips"])  # type: ignore[union-attr]
    shown = _run(world, "sessions", "--format", fmt, role="analyst")
    assert any(ip in shown.stdout for ip in world["ips"])  # type: ignore[union-attr]


def test_redact_gives_stable_hashes(world) -> None:
    a = _run(world, "sessions", "--format", "json", "--redact", role="analyst")
    b = _run(world, "sessions", "--format", "json", "--redact", role="analyst")
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert not any(ip in a.stdout for ip in world["ips"])  # type: ignore[union-attr]
    assert '"ip_address": "h:' in a.stdout


def test_unknown_role_is_a_config_error(world) -> None:
    res = _run(world, "sessions", role="nobody")
    assert res.exit_code == ExitCode.USAGE and "unknown role" in res.stderr


def test_usage_counts_stay_complete_for_any_role(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["usage", "--month", "2026-10", "--as-of", AS_OF, "--format", "json"]
    agent = _run(world, *args)  # the config's default role (no custom events) is in force
    assert agent.exit_code == 0, agent.stderr
    monkeypatch.chdir(tmp_path)  # no config: no roles at all
    free = runner.invoke(app, [*args, "--store", str(world["store"])])
    assert free.exit_code == 0
    assert json.loads(agent.stdout) == json.loads(free.stdout)
    assert '"custom"' in agent.stdout


def test_journey_report_and_contacts_do_not_leak_hidden_custom_data(world, tmp_path) -> None:
    ev = world["web_event"]
    custom = world["custom"]
    journey = _run(world, "journey", ev["customer_id"], "--as-of", AS_OF, "--format", "json")
    assert journey.exit_code == 0, journey.stderr
    data = json.loads(journey.stdout)
    assert ev["event_id"] not in journey.stdout
    assert sum(c["hidden_events"] for c in data["sessions"]) >= 1
    other = _run(world, "journey", custom["customer_id"], "--as-of", AS_OF, "--format", "json")
    assert custom["id"] not in other.stdout
    for fmt in ("json", "md"):
        rep = _run(world, "report", "--format", fmt)
        assert rep.exit_code == 0, rep.stderr
        assert "delivery" not in rep.stdout
        assert not any(ip in rep.stdout for ip in world["ips"])  # type: ignore[union-attr]
    html = tmp_path / "r.html"
    rep = _run(world, "report", "--format", "html", "-o", str(html))
    assert rep.exit_code == 0 and "delivery" not in html.read_text()
    contacts = _run(world, "contacts", "--format", "json", "--as-of", AS_OF)
    assert contacts.exit_code == 0, contacts.stderr
    assert not any(ip in contacts.stdout for ip in world["ips"])  # type: ignore[union-attr]
    full = _run(world, "report", "--format", "json", role="analyst")
    assert "delivery" in full.stdout


def test_a_role_that_may_not_see_sessions_is_told_so_before_any_id_is_looked_up(
    world: dict[str, object],
) -> None:
    """A role without journey:session:view asking `card` or `rules explain` for a prefix was
    answered from the plain store: an ambiguous prefix listed session ids, a visitor's
    prefix named the whole cookie id, a Genesys session id its jtrack id."""
    from jtrack.access import open_view
    from jtrack.errors import NotPermittedError
    from jtrack.usecases.card import build_card
    from jtrack.usecases.rules import explain_store

    custom = world["custom"]
    assert isinstance(custom, dict)
    rules = ROOT / "sample_data" / "jtrack.toml"
    for prefix in ("1", custom["id"][:8], custom["customer_id"][:8], "zzzz"):
        for args in (["card", prefix], ["rules", "explain", prefix, "--rules", str(rules)]):
            res = _run(world, *args, role="blind")
            assert res.exit_code == ExitCode.NOT_PERMITTED, (args, res.stderr)
            assert "may not see sessions (needs journey:session:view)" in res.stderr
            assert custom["customer_id"] not in res.stderr and custom["id"] not in res.stderr
        view = open_view(
            world["store"], role="blind", config=Path(str(world["tmp"])) / "jtrack.toml"
        )
        with pytest.raises(NotPermittedError, match="may not see sessions"):
            build_card(view, prefix)
        with pytest.raises(NotPermittedError, match="may not see sessions"):
            explain_store(view, rules, prefix)
