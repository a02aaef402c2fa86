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


def test_sessions_filter_on_the_segments_and_outcomes_their_rules_add(tmp_path: Path) -> None:
    """`--where segments~X` with --rules lists the sessions that matched segment X (it was
    "unknown field"), the limit applying to what the filter keeps; without --rules it says
    where segments come from."""
    store = tmp_path / "store"
    sample = ROOT / "sample_data"
    args = ["sessionize", str(sample / "events.jsonl"), "--store", str(store), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    rules = sample / "jtrack.toml"
    base = ["sessions", "--store", str(store), "--rules", str(rules), "--traffic", "all"]
    base += ["--columns", "id,segments,outcomes", "--format", "jsonl"]
    every = [json.loads(x) for x in runner.invoke(app, base).stdout.splitlines()]
    seg = next(s for r in every for s in r["segments"])
    res = runner.invoke(app, [*base, "--where", f"segments~{seg}"])
    assert res.exit_code == 0, res.stderr
    got = [json.loads(x) for x in res.stdout.splitlines()]
    want = [r for r in every if any(seg in s for s in r["segments"])]
    assert got == want and 0 < len(got) < len(every)
    res = runner.invoke(app, [*base, "--where", f"segments~{seg}", "--limit", "2"])
    assert [json.loads(x) for x in res.stdout.splitlines()] == want[:2]
    res = runner.invoke(app, [*base, "--where", f"segments={seg}", "--where", "events>=3"])
    both = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.exit_code == 0 and both and all(seg in r["segments"] for r in both)
    res = runner.invoke(app, ["sessions", "--store", str(store), "--where", f"segments~{seg}"])
    assert res.exit_code == 2 and "come from a rules file" in res.stderr
    # the rules' fields in any case, as every other field (`--columns id,Segments` was exit 2
    # "unknown field", `--where Segments~X` a filter on no column)
    upper = [*base[:-4], "--columns", "id,Segments,Outcomes", "--format", "jsonl"]
    res = runner.invoke(app, [*upper, "--where", f"Segments~{seg}"])
    assert res.exit_code == 0, res.stderr
    assert [json.loads(x) for x in res.stdout.splitlines()] == want


def test_an_empty_rules_file_lists_the_exports_own_segments_and_outcomes(tmp_path: Path) -> None:
    """As `--help` and the README say: `--rules /dev/null` (no rules of one's own) gives
    the segment and outcome events the export recorded, per session."""
    events = ROOT / "sample_data" / "events.jsonl"
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["sessionize", str(events), "--store", store, "-q"]).exit_code == 0
    res = runner.invoke(
        app,
        [
            *("sessions", "--store", store, "--rules", "/dev/null", "--traffic", "all"),
            *("--columns", "id,segments,outcomes", "-f", "jsonl"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    segments = {
        e["segmentAssignmentEvent"]["segment"]["id"]
        for e in recorded
        if "segmentAssignmentEvent" in e
    }
    outcomes = {
        e["outcomeAchievedEvent"]["outcome"]["id"] for e in recorded if "outcomeAchievedEvent" in e
    }
    assert segments and outcomes
    assert {s for r in rows for s in r["segments"]} == segments
    assert {o for r in rows for o in r["outcomes"]} == outcomes
