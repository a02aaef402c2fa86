"""`jtrack sessions --rules`: the rule results feed the session table."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core.rules import load_rules, session_rule_columns
from jtrack.store import Store
from jtrack.usecases.rules import evaluate_store

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_sessions_gain_segment_and_outcome_lists(tmp_path: Path) -> None:
    store = tmp_path / "store"
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
    assert res.exit_code == 0
    rules = ROOT / "sample_data" / "jtrack.toml"
    res = runner.invoke(
        app,
        [
            "sessions",
            "--store",
            str(store),
            "--rules",
            str(rules),
            "--columns",
            "id,segments,outcomes",
            "--format",
            "jsonl",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rows = {r["id"]: r for r in map(json.loads, res.stdout.splitlines())}
    lib = session_rule_columns(evaluate_store(Store.open(store), load_rules(rules)))
    expected = {r["session_id"]: r for r in lib.to_dicts()}
    assert any(r["segments"] for r in rows.values())
    assert any(r["outcomes"] for r in rows.values())
    for sid, row in rows.items():
        want = expected.get(sid, {"segments": [], "outcomes": []})
        assert row["segments"] == want["segments"] and row["outcomes"] == want["outcomes"]
