"""`jtrack rules check|report|explain` through the CLI: exit codes, formats, parity."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core.rules import load_rules, rules_report
from jtrack.errors import ConfigError, UsageError
from jtrack.serialize import to_records
from jtrack.store import Store
from jtrack.usecases.rules import evaluate_store
from jtrack.usecases.usage import UsageOptions
from tests.helpers import genesys_line, spy_on_evaluate
from tests.test_rules_helpers import write_rules
from tests.test_rules_load import BROKEN, SAMPLE_RULES

runner = CliRunner()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth import generate_flat

    from jtrack.engine import run_sessionize

    root = tmp_path_factory.mktemp("rules-cli")
    src = root / "events.parquet"
    generate_flat(2500, seed=5, visitors=100).write_parquet(src)
    run_sessionize([src], Store.open(root / "store"))
    return root / "store"


def invoke(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def sessionized(folder: Path, lines: list[str]) -> Path:
    """The JSON `lines` as `e.jsonl` in `folder`, sessionized into `folder/st`."""
    (folder / "e.jsonl").write_text("\n".join(lines) + "\n")
    assert invoke("sessionize", folder / "e.jsonl", "--store", folder / "st", "-q").exit_code == 0
    return folder / "st"


def test_check_a_valid_file_prints_a_summary(in_tmp: Path) -> None:
    res = invoke("rules", "check", SAMPLE_RULES)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"{SAMPLE_RULES}: valid: 9 segments")
    assert res.stderr == ""


def test_check_warns_of_half_an_allowance(in_tmp: Path) -> None:
    """`[usage] users` without `per_user` passed as valid, and the nightly `jtrack usage`
    then refused it (exit 2). It stays valid (--per-user may give the other half), with a
    warning."""
    for table, lacks in (("users = 25", "--per-user"), ("per_user = 10000", "--users")):
        path = write_rules(in_tmp, f"[usage]\n{table}\n", "half.toml")
        res = invoke("rules", "check", path, "-q")
        assert res.exit_code == 0 and res.stdout == ""
        said = res.stderr.removeprefix("warning: ").strip()
        assert said.startswith(f"{path}: [usage] has ") and said.endswith(f"without {lacks}")
        # (a job that reads the verdict learns it too: JSON, and the -o file)
        doc = json.loads(invoke("rules", "check", path, "-f", "json").stdout)
        assert doc["valid"] is True and doc["warnings"] == [said]
        assert invoke("rules", "check", path, "-o", in_tmp / "v.txt").exit_code == 0
        assert (in_tmp / "v.txt").read_text().startswith(f"warning: {said}\n{path}: valid: ")
    # said beside the file's other problems (every problem at once), not beside its own
    path = write_rules(in_tmp, '[usage]\nusers = 25\n\n[[segment]]\nid = "x"\n', "also.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2 and res.stderr.startswith(f"warning: {path}: [usage] has users")
    # (not where the half is itself a problem: a bad value, a misspelt key)
    for text, key in (
        ("users = 25\nper_user = -1\n", "usage.per_user"),
        ("user = 25\nper_user = 100\n", "usage.user"),
    ):
        path = write_rules(in_tmp, f"[usage]\n{text}", "bad.toml")
        res = invoke("rules", "check", path)
        assert res.exit_code == 2 and "warning" not in res.stderr and key in res.stderr
    res = invoke("rules", "check", in_tmp / "none.toml", "-f", "json", "-o", in_tmp / "v.json")
    assert res.exit_code == 1 and json.loads((in_tmp / "v.json").read_text())["warnings"] == []
    path = write_rules(in_tmp, "[usage]\nusers = 25\nper_user = 10000\n", "whole.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 0 and res.stderr == ""
    assert json.loads(invoke("rules", "check", path, "-f", "json").stdout)["warnings"] == []


def test_check_lists_every_problem_on_stderr_and_exits_2(in_tmp: Path) -> None:
    path = write_rules(in_tmp, BROKEN, "broken.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[-1] == (
        f"error: {path}: 24 problems; the rules were not loaded (hint: fix each line named above)"
    )  # (the rules' 23, and its [usage] allowance, a key `jtrack usage` refuses)
    assert any(
        line.startswith(f"error: {path}:2: usage.allowance: unknown key 'allowance'")
        for line in lines
    )
    assert all(line.startswith(f"error: {path}:") for line in lines)
    assert any("did you mean 'equal'?" in line for line in lines)


def test_check_as_json_reports_problems_with_lines(in_tmp: Path) -> None:
    path = write_rules(in_tmp, BROKEN, "broken.toml")
    res = invoke("rules", "check", path, "--format", "json")
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert doc["valid"] is False and len(doc["problems"]) == 24
    assert {"file", "line", "where", "message", "hint"} == set(doc["problems"][0])
    ok = json.loads(invoke("rules", "check", SAMPLE_RULES, "-f", "json").stdout)
    assert ok["valid"] is True and ok["problems"] == [] and ok["action_maps"] == 4
    # -o, as every command with -f has: the document to the file, the problems on stderr
    res = invoke("rules", "check", path, "-o", in_tmp / "check.json")
    assert res.exit_code == 2 and res.stdout == "" and "24 problems" in res.stderr
    assert len(json.loads((in_tmp / "check.json").read_text())["problems"]) == 24
    res = invoke("rules", "check", SAMPLE_RULES, "-o", in_tmp / "check.txt", "-q")
    assert (res.exit_code, res.stdout) == (0, "")
    assert (in_tmp / "check.txt").read_text().startswith(f"{SAMPLE_RULES}: valid: 9 segments")
    # a file that went bad: the status file says so (not the "valid" of the run before)
    res = invoke("rules", "check", path, "-o", in_tmp / "check.txt")
    assert res.exit_code == 2
    status = (in_tmp / "check.txt").read_text().splitlines()
    assert len(status) == 25 and status[-1] == f"{path}: invalid: 24 problems"
    res = invoke("rules", "check", in_tmp / "gone.toml", "-o", in_tmp / "check.txt")
    assert res.exit_code == 1 and "no such rules file" in (in_tmp / "check.txt").read_text()
    res = invoke("rules", "check", in_tmp / "gone.toml", "-o", in_tmp / "check.json")
    gone = json.loads((in_tmp / "check.json").read_text())  # (the keys of every verdict)
    assert res.exit_code == 1 and {"file", "valid", "problems"} <= set(gone)
    assert gone["file"] == str(in_tmp / "gone.toml") and gone["valid"] is False


@pytest.mark.parametrize("zone", ["Factory", "localtime"])
def test_a_zone_the_system_has_and_polars_does_not_is_refused(in_tmp: Path, zone: str) -> None:
    """`--tz Factory` (a name in the system's zone files that Polars, which counts the
    days, does not know) was an internal error in `usage` and `report`: it is refused as
    any unknown zone is, on the command line and in [usage]."""
    src = in_tmp / "e.jsonl"
    src.write_text(genesys_line("e1", "v1", "2026-10-03T09:00:00Z") + "\n")
    for cmd in ("usage", "report"):
        res = invoke(cmd, src, "--tz", zone, "-q")
        assert res.exit_code == 2, res.stderr
        assert f"--tz {zone!r} is not a known time zone" in res.stderr
        assert f"did you mean {zone!r}" not in res.stderr
    for near in (zone.upper(), zone.lower()):  # (never a name it refuses itself)
        res = invoke("usage", src, "--tz", near, "-q")
        assert res.exit_code == 2 and "Factory" not in res.stderr.replace(near, "")
        assert "'localtime'" not in res.stderr.replace(repr(near), "")
    path = write_rules(in_tmp, f'[usage]\ntz = "{zone}"\n', "factory.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2 and f"usage.tz: {zone!r} is not a known time zone" in res.stderr
    with pytest.raises(UsageError, match="not a known time zone"):
        UsageOptions(as_of="2026-12-31", tz=zone)


def test_the_library_takes_no_more_users_than_the_command_line() -> None:
    with pytest.raises(UsageError, match="is more than 1,000,000,000"):
        UsageOptions(as_of="2026-12-31", users=10**10, per_user=10**9)


def test_check_reports_a_usage_table_the_reports_would_refuse(in_tmp: Path) -> None:
    """`rules report` reads [usage] tz from its rules file: `rules check` passed a file
    whose tz `rules report` then refused."""
    path = write_rules(in_tmp, '[usage]\ntz = "Mars/Olympus"\n', "badtz.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2
    assert "usage.tz: 'Mars/Olympus' is not a known time zone" in res.stderr
    # the commands that only load rules (card, journey, sessions, explain) never read the
    # zone: a bad one does not stop them
    assert load_rules(path) is not None
    from jtrack.core.rules import check_rules

    assert check_rules(path)[0] is None  # (the library's check is the command's)
    path = write_rules(in_tmp, '[usage]\ntz = "Europe/Paris"\nusers = 3\n', "ok.toml")
    assert invoke("rules", "check", path).exit_code == 0


@pytest.mark.parametrize(
    ("usage", "said"),
    [
        ("users = -1", "bad.toml:3: usage.users: must be a whole number >= 0, not -1"),
        # (as --users takes it: 10^10 users x 10^9 per user was an internal error)
        ("users = 10000000000", "bad.toml:3: usage.users: 10,000,000,000 is more than"),
        ("alowance = 5", "bad.toml:3: usage.alowance: unknown key 'alowance'"),
        ('billable = ["page_vew"]', "bad.toml:3: usage.billable: 'page_vew' is not a usage"),
        ('billable = "search"', "bad.toml:3: usage.billable: must be a list of class names"),
        ('tz = "Mars/Olympus"', "bad.toml:3: usage.tz: 'Mars/Olympus' is not a known time"),
    ],
)
def test_check_reports_what_jtrack_usage_would_refuse_in_its_table(
    in_tmp: Path, usage: str, said: str
) -> None:
    """`rules check` of the config checked [usage] tz only: a file whose users, billable
    classes or keys `jtrack usage` then refused (exit 2) was valid. Each is a problem on
    its line, beside the rules' own."""
    path = write_rules(in_tmp, f"# the config\n[usage]\n{usage}\n", "bad.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2 and said in res.stderr, res.stderr
    assert "bad.toml: 1 problem;" in res.stderr
    usage_run = invoke("usage", "--config", path, "--store", str(in_tmp / "none"))
    assert usage_run.exit_code == 2, usage_run.stderr  # (what it foretold)
    if "unknown key" in said:  # (a name no command knows: an error for every one of them)
        with pytest.raises(ConfigError, match="unknown key 'alowance'"):
            load_rules(path)
    else:  # (a value of jtrack usage's own: the rules alone load)
        assert load_rules(path) is not None


def test_check_reports_every_problem_of_the_usage_table(in_tmp: Path) -> None:
    """The first problem `jtrack usage` found was all `rules check` said (a bad tz after a
    bad users was hidden, where it had been said before [usage] was checked whole)."""
    text = '[usage]\nusers = -1\ntz = "Mars/X"\nbillable = ["x"]\nfoo = 1\n'
    path = write_rules(in_tmp, text, "many.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert [line.split(": ")[2] for line in lines[:4]] == [
        "usage.users",
        "usage.tz",
        "usage.billable",
        "usage.foo",
    ]
    assert [line.split(": ")[1].rsplit(":", 1)[1] for line in lines[:4]] == ["2", "3", "4", "5"]
    assert lines[-1].endswith(
        "many.toml: 4 problems; the rules were not loaded (hint: fix each line named above)"
    )


def test_check_finds_jtrack_toml_in_the_working_directory_or_says_there_is_none(
    in_tmp: Path,
) -> None:
    res = invoke("rules", "check")
    assert res.exit_code == 2 and "no rules file" in res.stderr
    write_rules(in_tmp, SAMPLE_RULES.read_text())
    res = invoke("rules", "check")
    assert res.exit_code == 0 and "jtrack.toml: valid" in res.stdout


def test_report_and_explain_need_a_rules_file(in_tmp: Path, store_dir: Path) -> None:
    res = invoke("rules", "report", "--store", store_dir)
    assert res.exit_code == 2 and "no rules file" in res.stderr and "--rules" in res.stderr
    path = write_rules(in_tmp, BROKEN, "broken.toml")
    res = invoke("rules", "report", "--store", store_dir, "--rules", path)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "and 23 more" in res.stderr


def test_report_json_equals_the_library_call(store_dir: Path) -> None:
    res = invoke("rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir, "-f", "json")
    assert res.exit_code == 0, res.stderr
    rules = load_rules(SAMPLE_RULES)
    store = Store.open(store_dir)
    report = rules_report(rules, evaluate_store(store, rules), store.scan_sessions())
    doc = json.loads(res.stdout)
    # the sample store is all people: the default (people only) leaves nothing out
    assert doc.pop("traffic") == {
        "classes": ["human"],
        "left_out": {"sessions": 0, "events": 0, "by_class": {}},
    }
    made = report.to_dict()
    assert made.pop("source") is None  # (the library's report knows no store nor file)
    assert doc.pop("source")["rules"] == str(SAMPLE_RULES)
    assert doc == json.loads(json.dumps(made))
    assert doc["sessions"] > 0 and {r["source"] for r in doc["segments"]} == {"rules", "export"}
    assert sum(r["qualified"] for r in doc["action_maps"]) > 0


@pytest.mark.parametrize("fmt", ["table", "md", "html", "csv", "jsonl"])
def test_report_in_every_format_shows_every_section(fmt: str, store_dir: Path) -> None:
    res = invoke("rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir, "-f", fmt)
    assert res.exit_code == 0, res.stderr
    # (a terminal table may wrap long column names, so look for values and titles there)
    last = "Action maps" if fmt == "table" else "blocked_lower_weight"
    shown = res.stdout.replace("<wbr>", "")  # HTML headers may break after an "_"
    for word in ("seg-cart-abandoners", "out-purchase", "am-returns-chat", last):
        assert word in shown, (fmt, word)


def test_report_csv_jsonl_and_parquet_hold_all_sections_in_one_table(
    store_dir: Path, tmp_path: Path
) -> None:
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir]
    csv = pl.read_csv(io.StringIO(invoke(*base, "-f", "csv").stdout))
    lines = [json.loads(x) for x in invoke(*base, "-f", "jsonl").stdout.splitlines()]
    out = tmp_path / "report.parquet"
    assert invoke(*base, "-o", out).exit_code == 0
    parquet = pl.read_parquet(out)
    sections = ["segments", "outcomes", "outcomes_by_segment", "action_maps"]
    for frame in (csv, parquet, pl.DataFrame(lines)):
        assert frame["section"].unique(maintain_order=True).to_list() == sections
    assert csv.height == parquet.height == len(lines)


def test_report_table_lets_flags_and_colours_go_before_it_cuts_a_display_name(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir]
    monkeypatch.setenv("COLUMNS", "95")
    out = invoke(*base, "--section", "segments").stdout
    assert "Abandoned the checkout form" in out and "Came from the newsletter" in out
    assert "#E53935" in out and "not shown at 95 columns: active (" in out
    out = invoke(*base, "--section", "outcomes").stdout
    assert "Watched a long product video" in out and "value_total" in out
    assert "not shown at 95 columns: active, positive, visitors, valued (" in out
    monkeypatch.setenv("COLUMNS", "80")
    out = invoke(*base, "--section", "segments").stdout
    assert "Browsing outdoor gear" in out and "not shown at 80 columns: active, color" in out


def test_report_of_one_section_and_a_misspelt_section(store_dir: Path) -> None:
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir]
    doc = json.loads(invoke(*base, "--section", "action_maps", "-f", "json").stdout)
    assert set(doc) == {
        *("report", "tz", "period", "source", "sessions", "visitors", "traffic"),
        *("action_maps", "notes"),
    }
    res = invoke(*base, "--section", "action_map")
    assert res.exit_code == 2 and "did you mean 'action_maps'?" in res.stderr


def test_explain_a_session_by_prefix_for_one_rule(store_dir: Path) -> None:
    rules = load_rules(SAMPLE_RULES)
    results = evaluate_store(Store.open(store_dir), rules)
    own = results.segments.filter(pl.col("source") == "rules")
    hit = own.filter(pl.col("segment_id") == "seg-high-value-basket").row(0, named=True)
    res = invoke(
        "rules", "explain", hit["session_id"][:12], "--rule", "seg-high-value-basket",
        "--rules", SAMPLE_RULES, "--store", store_dir, "-f", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["rule_id"] for r in rows} == {"seg-high-value-basket"}
    result = [r for r in rows if r["part"] == "result"]
    assert result == [
        {
            "session_id": hit["session_id"],  # (so that explanations can be put together)
            "rule_kind": "segment",
            "rule_id": "seg-high-value-basket",
            "display_name": "High-value basket",
            "part": "result",
            "condition": "segment matched",
            "held": True,
            "at": to_records(own.filter(pl.col("event_id") == hit["event_id"]))[0]["matched_at"],
            "event_id": hit["event_id"],
            "detail": "matched as 'High-value basket'",
        }
    ]


def test_explain_of_an_unknown_rule_is_exit_2_and_of_an_unknown_session_exit_1(
    store_dir: Path,
) -> None:
    """A --rule the rules file lacks is a mistake in the invocation, as an unknown --section
    or --traffic is (exit 2); a session the store lacks is not found (exit 1)."""
    sid = Store.open(store_dir).scan_sessions().select("id").sort("id").head(1).collect()["id"][0]
    base = ["rules", "explain", "--rules", SAMPLE_RULES, "--store", store_dir]
    res = invoke(*base, sid, "--rule", "seg-searcher")
    assert res.exit_code == 2 and "did you mean 'seg-searchers'?" in res.stderr
    res = invoke(*base, "zzzz-not-a-session")
    assert res.exit_code == 1 and "no session" in res.stderr


def test_explain_table_is_the_default_and_every_format_works(store_dir: Path) -> None:
    sid = Store.open(store_dir).scan_sessions().select("id").sort("id").head(1).collect()["id"][0]
    base = ["rules", "explain", sid, "--rules", SAMPLE_RULES, "--store", store_dir]
    for fmt in ("table", "md", "csv", "jsonl", "html"):
        res = invoke(*base, "-f", fmt)
        assert res.exit_code == 0 and "am-cart-help" in res.stdout, fmt
    page = invoke(*base, "-f", "html").stdout  # says what it is and which rules file
    assert "<h1>Rules explanation</h1>" in page and Path(SAMPLE_RULES).name in page


def test_rule_names_are_shown_literally_never_as_markup(in_tmp: Path, store_dir: Path) -> None:
    text = SAMPLE_RULES.read_text().replace(
        'display_name = "Mobile visitors"', 'display_name = "[bold red]Mob<script>x"'
    )
    path = write_rules(in_tmp, text)
    base = ["rules", "report", "--rules", path, "--store", store_dir, "--section", "segments"]
    assert "[bold red]Mob<script>x" in invoke(*base).stdout
    html = invoke(*base, "-f", "html").stdout
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_rules_check_is_silent_with_quiet_when_the_file_is_valid(tmp_path: Path) -> None:
    """A cron job checking its rules file had no way to silence the "valid" line."""
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "jtrack.toml"
    res = CliRunner().invoke(app, ["rules", "check", str(sample), "-q"])
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    bad = tmp_path / "bad.toml"
    bad.write_text('[[segment]]\nid = "s"\ndisplay_name = "S"\n[segment.when]\nbogus = 1\n')
    res = CliRunner().invoke(app, ["rules", "check", str(bad), "-q"])
    assert res.exit_code == 2 and "bad.toml" in res.stderr


def test_true_and_false_are_written_alike_in_every_format(store_dir: Path) -> None:
    """A boolean reads true/false in the table, Markdown, CSV, JSON and HTML alike (HTML said
    yes/no, and so did the explanation's table)."""
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir]
    base += ["--section", "action_maps"]
    page = invoke(*base, "-f", "html").stdout
    assert 'data-label="active">true<' in page and ">yes<" not in page
    sid = Store.open(store_dir).scan_sessions().select("id").sort("id").head(1).collect()["id"][0]
    explain = ["rules", "explain", sid, "--rules", SAMPLE_RULES, "--store", store_dir]
    table = invoke(*explain, "--rule", "am-cart-help").stdout
    held = [line.split()[1] for line in table.splitlines() if line.startswith("result")]
    assert held == ["false"]


@pytest.mark.parametrize(
    ("dates", "said"),
    [
        ("start_date = 2026-10-01", "from 2026-10-01T00:00:00Z on"),
        ("end_date = 2026-10-07", "before 2026-10-08T00:00:00Z"),
        (
            "start_date = 2026-10-01\nend_date = 2026-10-07",
            "from 2026-10-01T00:00:00Z until before 2026-10-08T00:00:00Z",
        ),
    ],
)
def test_explain_says_an_open_date_window_plainly(
    store_dir: Path, tmp_path: Path, dates: str, said: str
) -> None:
    """An action map with a start date alone was explained "from ... until before any
    time"."""
    rules = tmp_path / "rules.toml"
    sample = Path(SAMPLE_RULES).read_text()
    both = "start_date = 2026-10-01\nend_date = 2026-10-07"
    assert sample.count(both) == 1  # (am-newsletter-offer's)
    rules.write_text(sample.replace(both, dates))
    sid = Store.open(store_dir).scan_sessions().select("id").sort("id").head(1).collect()["id"][0]
    res = invoke(
        *("rules", "explain", sid, "--rules", rules, "--store", store_dir, "-f", "json"),
        *("--rule", "am-newsletter-offer"),
    )
    assert res.exit_code == 0, res.stderr
    steps = json.loads(res.stdout)
    found = [s for s in json.dumps(steps).split('"') if "T00:00:00Z" in s]
    assert found == [said], found


def test_report_of_a_period_counts_the_sessions_started_in_it(store_dir: Path) -> None:
    """`rules report` had no period: "this week's conversion by segment" needed a store of
    its own. --since/--until (and --month) count the sessions started in the period, as
    `jtrack report` does, from rules replayed over every session."""
    from datetime import date

    from jtrack.usecases.rules import evaluate_store

    st = Store.open(store_dir)
    rules = load_rules(SAMPLE_RULES)
    whole = evaluate_store(st, rules, traffic=["all"])
    sessions = st.scan_sessions().collect()
    week = sessions.filter(
        pl.col("created_date").dt.date().is_between(date(2026, 10, 5), date(2026, 10, 11))
    )
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir, "--traffic", "all"]
    res = invoke(*base, "--since", "2026-10-05", "--until", "2026-10-12", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert 0 < doc["sessions"] == week.height < sessions.height
    assert doc["visitors"] == week["customer_id"].n_unique()
    assert doc["period"] == {"from": "2026-10-05", "to": "2026-10-11"}
    # the zone beside the period, as `jtrack report` gives them
    assert doc["report"] == "rules" and doc["tz"] == "UTC"
    period = ["--since", "2026-10-05", "--until", "2026-10-12", "-f", "json"]
    journeys = json.loads(invoke("report", "--store", store_dir, *period).stdout)
    assert (journeys["tz"], journeys["period"]) == (doc["tz"], doc["period"])
    zoned = json.loads(invoke(*base, *period, "--tz", "Europe/London").stdout)
    assert zoned["tz"] == "Europe/London" and zoned["period"] == doc["period"]
    ids = week.get_column("id").implode()
    expected = (
        whole.segments.filter(pl.col("session_id").is_in(ids))
        .group_by("segment_id", "source")
        .agg(pl.col("session_id").n_unique().alias("sessions"))
    )
    got = {(r["segment_id"], r["source"]): r["sessions"] for r in doc["segments"]}
    want = {(r["segment_id"], r["source"]): r["sessions"] for r in expected.to_dicts()}
    assert want and all(got[k] == n for k, n in want.items())
    assert all(n == 0 for k, n in got.items() if k not in want)
    # the table says the period; --month is the month; a period before the data is empty
    table = invoke(*base, "--since", "2026-10-05", "--until", "2026-10-12").stdout
    assert table.splitlines()[0] == (
        f"{week.height:,} sessions started 2026-10-05 .. 2026-10-11 (UTC), "
        f"{week['customer_id'].n_unique():,} visitors"
    )
    month = json.loads(invoke(*base, "--month", "2026-10", "-f", "json").stdout)
    october = sessions.filter(pl.col("created_date").dt.month() == 10)
    assert month["sessions"] == october.height
    res = invoke(*base, "--since", "2026-10-12", "--until", "2026-10-05")
    assert res.exit_code == 2 and "--until must be after --since" in res.stderr
    res = invoke(*base, "--month", "2026-10", "--since", "2026-10-05")
    assert res.exit_code == 2 and "--month cannot be combined" in res.stderr
    whole_doc = json.loads(invoke(*base, "-f", "json").stdout)
    assert whole_doc["period"] is None and whole_doc["sessions"] == sessions.height
    # the rows of a period are those of the whole store (an export's segment or outcome the
    # period has none of is a row of 0, not gone: reports of two months join row for row)
    day = json.loads(
        invoke(*base, "--since", "2026-10-06", "--until", "2026-10-07", "-f", "json").stdout
    )
    for section, key, count in (
        ("segments", "segment_id", "sessions"),
        ("outcomes", "outcome_id", "achieved"),
    ):
        rows = [(r[key], r["source"]) for r in day[section]]
        assert rows == [(r[key], r["source"]) for r in whole_doc[section]], section
        zero = [r for r in day[section] if r["source"] == "export" and r[count] == 0]
        assert zero, section
    # a file with no headline names its period; a period with no session is a warning
    res = invoke(*base, "--month", "2026-10", "-f", "csv")
    assert res.stderr == "note: sessions started in 2026-10 (UTC)\n"  # (a month named as one)
    res = invoke(*base, "--since", "2027-01-01", "-f", "csv", "-q")
    assert res.exit_code == 0 and res.stderr.startswith(
        "warning: no sessions started on or after 2027-01-01 (UTC) (hint: "
    )
    # a period of sessions none of which is of the class asked for is no empty period; an
    # open end is the last day with sessions, as `jtrack report` gives it
    only = [*base[:-2], "--traffic", "ai_agent", "--since", "2026-10-05", "-f", "json", "-q"]
    res = invoke(*only)
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    assert json.loads(res.stdout)["period"] == {"from": "2026-10-05", "to": None}
    last = sessions["created_date"].max().date().isoformat()  # (the days of those counted)
    res = invoke(*base, "--since", "2026-10-05", "-f", "json")
    assert json.loads(res.stdout)["period"] == {"from": "2026-10-05", "to": last}


def test_check_reads_a_rules_file_given_as_a_pipe(in_tmp: Path) -> None:
    """`rules check <(git show HEAD:jtrack.toml)` was refused with the commands that read a
    config more than once; the check reads it once, so a pipe will do. `rules report
    --rules` of a pipe is refused, its hint naming --rules (not --config)."""
    import os
    import threading

    fifo = in_tmp / "rules.fifo"
    os.mkfifo(fifo)
    text = SAMPLE_RULES.read_text()

    def feed() -> None:
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    res = invoke("rules", "check", fifo)
    writer.join(timeout=10)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"{fifo}: valid: 9 segments")
    res = invoke("rules", "report", "--rules", fifo)
    assert res.exit_code == 1 and "(hint: save it to a file and name that" in res.stderr


def test_check_warns_of_an_action_map_that_never_fires(in_tmp: Path) -> None:
    """An active action map whose every segment is inactive passed as valid with no word,
    and then never fired. Still valid (a season's segments switched off on purpose), with a
    warning naming the map and its segments; not for an inactive map, nor for one with an
    active segment among its triggers."""
    seg = (
        '[[segment]]\nid = "{0}"\nactive = {1}\n[[segment.pattern]]\n'
        'conditions = [{{ field = "eventName", operator = "equal", values = ["x"] }}]\n\n'
    )
    text = (
        seg.format("winter", "false")
        + seg.format("summer", "false")
        + seg.format("always", "true")
        + '[[action_map]]\nid = "sale"\nsegments = ["winter", "summer"]\n\n'
        + '[[action_map]]\nid = "off"\nactive = false\nsegments = ["winter"]\n\n'
        + '[[action_map]]\nid = "mixed"\nsegments = ["winter", "always"]\n'
    )
    path = write_rules(in_tmp, text, "maps.toml")
    res = invoke("rules", "check", path)
    assert res.exit_code == 0 and res.stdout.startswith(f"{path}: valid: ")
    said = (
        f"{path}: action map 'sale' triggers only on inactive segments (winter, summer), so "
        "it never fires: set active = true on one of them, or active = false on the map"
    )
    assert res.stderr.replace("\n", " ").split() == f"warning: {said}".split()
    doc = json.loads(invoke("rules", "check", path, "-f", "json").stdout)
    assert doc["valid"] is True and doc["warnings"] == [said]


def test_report_counts_the_visitors_of_each_outcome(in_tmp: Path) -> None:
    """Outcomes had achievements but no visitors (segments had both, as `jtrack report` has
    for outcomes): a visitor who bought in two sessions is one visitor, two achievements."""
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    lines = [
        genesys_line(f"{c}{k}", c, t0 + timedelta(hours=h), eventName="bought")
        for c, hours in (("alice", (0, 5)), ("bob", (1,)))
        for k, h in enumerate(hours)
    ]
    sessionized(in_tmp, lines)
    rules = write_rules(
        in_tmp,
        '[[outcome]]\nid = "buy"\n[[outcome.stage]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["bought"] }]\n',
        "buy.toml",
    )
    base = ("rules", "report", "--rules", rules, "--store", in_tmp / "st", "--traffic", "all")
    doc = json.loads(invoke(*base, "--section", "outcomes", "-f", "json").stdout)
    (row,) = doc["outcomes"]
    assert (row["achieved"], row["visitors"]) == (3, 2)
    res = invoke(*base, "--section", "outcomes", "-f", "csv")
    assert res.stdout.splitlines()[0].split(",")[6:8] == ["achieved", "visitors"]


def test_report_of_a_traffic_class_lists_the_exports_rows_at_zero(store_dir: Path) -> None:
    """The export's segments and outcomes a period without them lists at 0 were dropped for
    a traffic class without them (`--traffic ai_agent`): its rows are those of every class,
    so two reports line up."""
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir, "-f", "json"]
    every = json.loads(invoke(*base, "--traffic", "all").stdout)
    res = invoke(*base, "--traffic", "ai_agent")
    assert res.exit_code == 0, res.stderr
    only = json.loads(res.stdout)
    assert only["sessions"] == 0 < every["sessions"]
    for section, key, count in (
        ("segments", "segment_id", "sessions"),
        ("outcomes", "outcome_id", "achieved"),
    ):
        rows = [(r[key], r["source"]) for r in every[section]]
        assert ("export" in {s for _, s in rows}) and [
            (r[key], r["source"]) for r in only[section]
        ] == rows
        assert {r[count] for r in only[section]} == {0}
        names = {(r[key], r["source"]): r["display_name"] for r in every[section]}
        assert {(r[key], r["source"]): r["display_name"] for r in only[section]} == names


def test_a_rules_file_saved_with_a_byte_order_mark_is_read(in_tmp: Path) -> None:
    """A config saved by a Windows editor begins with a UTF-8 byte-order mark: it was "not
    valid TOML (Invalid statement (at line 1, column 1))" for `rules check` and every command
    that read it as the config."""
    path = in_tmp / "jtrack.toml"
    path.write_bytes(b'\xef\xbb\xbf[usage]\ntz = "Europe/Istanbul"\n\n' + SAMPLE_RULES.read_bytes())
    res = invoke("rules", "check", path)
    assert res.exit_code == 0 and res.stdout.startswith(f"{path}: valid: 9 segments"), res.stderr
    from jtrack.config import load_config

    data, _ = load_config(path)
    assert data["usage"]["tz"] == "Europe/Istanbul" and load_rules(path) is not None


def test_a_period_reads_only_its_sessions_and_the_columns_the_rules_read(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rules report --since/--until` evaluated every session of the store, all their
    columns, and kept the period's afterwards: a day of a year's store took 11-18 s and
    720-840 MB. A rule looks at its session alone: only the period's sessions are read, and
    of their events only the columns the rules read."""
    from datetime import date

    from jtrack.core.rules.evaluate import event_columns
    from jtrack.usecases.report import started_in

    seen = spy_on_evaluate(monkeypatch)
    base = ["rules", "report", "--rules", SAMPLE_RULES, "--store", store_dir, "--traffic", "all"]
    res = invoke(*base, "--since", "2026-10-06", "--until", "2026-10-07", "-f", "json")
    assert res.exit_code == 0, res.stderr
    day = started_in("UTC", date(2026, 10, 6), date(2026, 10, 7))
    sessions = Store.open(store_dir).scan_sessions().collect()
    ids = set(sessions.filter(day).get_column("id"))
    assert 0 < len(ids) < sessions.height
    (events,) = seen
    assert set(events.get_column("session_id")) <= ids
    assert set(events.columns) <= set(event_columns(load_rules(SAMPLE_RULES)))
    assert "user_agent_string" not in events.columns


def test_report_counts_and_names_the_achievements_without_a_number(in_tmp: Path) -> None:
    """value_total left out the achievements whose value was no plain number ("1,299.00",
    "EUR 450") and said nothing: a `valued` column counts those it sums, in every format,
    and a note names the outcome, how many had none and one value met (stderr for CSV;
    JSON's `notes`; Markdown and HTML; -q silences it)."""
    t0 = datetime(2026, 10, 20, 10, tzinfo=UTC)
    prices = {"c1": "129.90", "c2": "1,299.00", "c3": "EUR 450"}
    lines = [
        genesys_line(
            f"e{c}",
            c,
            t0,
            eventName="product_purchased",
            attributes={"price": {"dataType": "number", "value": p}},
        )
        for c, p in prices.items()
    ]
    sessionized(in_tmp, lines)
    rules = write_rules(
        in_tmp,
        '[[outcome]]\nid = "out-purchase"\nvalue_attribute = "price"\n[[outcome.stage]]\n'
        'conditions = [{ field = "eventName", operator = "equal", '
        'values = ["product_purchased"] }]\n',
        "buy.toml",
    )
    base = ("rules", "report", "--rules", rules, "--store", in_tmp / "st", "--traffic", "all")
    doc = json.loads(invoke(*base, "-f", "json").stdout)
    (row,) = doc["outcomes"]
    assert (row["achieved"], row["valued"], row["value_total"]) == (3, 1, 129.9)
    (note,) = doc["notes"]
    assert "'out-purchase'" in note and "2 of 3" in note and "'1,299.00'" in note
    res = invoke(*base, "--section", "outcomes", "-f", "csv")
    header = res.stdout.splitlines()[0].split(",")
    assert header[-2:] == ["valued", "value_total"]
    assert "note: outcome 'out-purchase': 2 of 3" in res.stderr
    assert "note:" not in invoke(*base, "-f", "csv", "-q").stderr
    assert "note:" not in invoke(*base, "--section", "segments", "-f", "csv").stderr
    for fmt in ("md", "html"):
        assert "2 of 3 achievements had no number" in invoke(*base, "-f", fmt).stdout


def test_check_warns_of_rules_that_never_match_and_of_a_file_without_rules(in_tmp: Path) -> None:
    """Warnings, not errors: exit 0, `warning:` lines with file:line, `warnings` in JSON."""
    rules = write_rules(
        in_tmp,
        '[[segment]]\nid = "s"\n'
        'context = [{ field = "device.category", operator = "equal", values = ["phone"] }]\n',
        "dev.toml",
    )
    res = invoke("rules", "check", rules)
    assert res.exit_code == 0 and "valid: 1 segment" in res.stdout
    assert f"warning: {rules}:3: segment[1] 's': context[1].values[1]: " in res.stderr
    doc = json.loads(invoke("rules", "check", rules, "-f", "json").stdout)
    assert doc["valid"] is True and "'phone' never matches" in doc["warnings"][0]
    empty = write_rules(in_tmp, "", "empty.toml")
    res = invoke("rules", "check", empty)
    assert res.exit_code == 0 and f"warning: {empty}: no rules" in res.stderr


def test_explain_at_80_columns_keeps_the_condition_and_ids_unique_across_tables(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event ids sharing a long prefix: at 80 columns the condition was left out before a
    36-character event_id; and an id was shortened to a prefix unique in its own table
    (`00000000`), which stood for several events of the explanation."""
    t0 = datetime(2026, 10, 21, 10, tzinfo=UTC)
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3)]
    lines = [
        genesys_line(eid, "c1", t0 + timedelta(minutes=i), eventName=name)
        for i, (eid, name) in enumerate(
            zip(ids, ["page_viewed", "product_added", "x"], strict=True)
        )
    ]
    sessionized(in_tmp, lines)
    rules = write_rules(
        in_tmp,
        '[[segment]]\nid = "viewed"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["page_viewed"] }]\n'
        '[[segment]]\nid = "added"\n[[segment.pattern]]\n'
        'conditions = [{ field = "eventName", operator = "equal", values = ["product_added"] }]\n',
        "r.toml",
    )
    sid = json.loads(invoke("sessions", "--store", in_tmp / "st", "-f", "json").stdout)[0]["id"]
    base = ("rules", "explain", sid, "--rules", rules, "--store", in_tmp / "st")
    monkeypatch.setenv("COLUMNS", "80")
    out = invoke(*base).stdout
    assert "eventName equal" in out and "not shown at 80 columns: event_id" in out
    monkeypatch.setenv("COLUMNS", "200")
    out = invoke(*base).stdout
    assert ids[0] in out and ids[1] in out  # (each whole: they differ at the end)


def test_report_and_explain_name_the_rules_and_the_store_they_were_made_from(
    in_tmp: Path, store_dir: Path
) -> None:
    """`rules report -f json` had no `source` (`jtrack report` has one), no format named the
    rules file or its hash, and `explain -f html` named no store version: JSON `source`
    {store, version, rules, rules_sha256}, the same names on a line of the others."""
    import hashlib

    rules = write_rules(in_tmp, Path(SAMPLE_RULES).read_text(), "mine.toml")
    sha = hashlib.sha256(Path(rules).read_bytes()).hexdigest()
    base = ("rules", "report", "--rules", rules, "--store", store_dir)
    doc = json.loads(invoke(*base, "-f", "json").stdout)
    assert doc["source"] == {
        "store": str(store_dir),
        "version": "v000001",
        "rules": str(rules),
        "rules_sha256": sha,
    }
    # (Markdown and HTML say the store and its version on the `made` line, as every shared
    # output does, and the rules on theirs)
    line = f"source: rules {rules} · rules_sha256 {sha}"
    made = f"store {store_dir} (v000001) · made "
    for fmt in ("md", "html"):
        out = invoke(*base, "-f", fmt).stdout
        assert line in out and made in out, fmt
    table = invoke(*base, "--section", "action_maps").stdout
    assert "rules_sha256" in table and sha[:12] in table.replace("\n", "")
    sid = json.loads(invoke("sessions", "--store", store_dir, "-f", "json", "--limit", "1").stdout)
    page = invoke(
        "rules", "explain", sid[0]["id"], "--rules", rules, "--store", store_dir, "-f", "html"
    ).stdout
    assert f"store {store_dir} · version v000001" in page
