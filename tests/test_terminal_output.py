"""What reading commands print to a terminal or a pipe: any locale, values with tabs and line
breaks, ids never cut, narrow widths (the reviewer's findings A-I)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.render.table import FrameTable, render_to_text
from tests.helpers import flat_event

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
runner = CliRunner()
FANCY = set("─━│…·▁▂▃▄▅▆▇█")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample store with its contacts (`s1`), and a store whose page titles hold a tab,
    a newline and a CRLF (`odd`)."""
    d = tmp_path_factory.mktemp("terminal")
    res = runner.invoke(
        app,
        [
            *("sessionize", str(SAMPLE / "events.jsonl"), "--store", str(d / "s1")),
            *("--contacts", str(SAMPLE / "contacts.csv"), "-q", "-f", "json"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    at = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    rows = [
        flat_event("e1", "cookie-a", at, page_title="Tab\there\tand\nnewline\r\ncrlf end"),
        flat_event("e2", "cookie-b", at, page_title='Café ✓ "plain"'),
    ]
    src = d / "odd.jsonl"
    src.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    res = runner.invoke(
        app, ["sessionize", str(src), "--store", str(d / "odd"), "-q", "-f", "json"]
    )
    assert res.exit_code == 0, res.stderr
    cookies = ["ab", "visitor-0001", "visitor-0001x", "visitor-0002", "visitor-0003-long"]
    rows = [flat_event(f"c{i}", c, at) for i, c in enumerate(cookies)]
    src = d / "cs.jsonl"
    src.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    res = runner.invoke(app, ["sessionize", str(src), "--store", str(d / "cs"), "-q", "-f", "json"])
    assert res.exit_code == 0, res.stderr
    yield d


def _jtrack(args: list[str], **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "COLUMNS": "80", **env}
    full.pop("JTRACK_WIDTH", None)
    cmd = [sys.executable, "-m", "jtrack.cli", *args]
    return subprocess.run(cmd, capture_output=True, env=full, check=False, cwd=ROOT)


def _run(args: list[str], width: int = 80) -> str:
    env = {"COLUMNS": str(width)}
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 0, res.stderr
    return res.stdout


# ---------------------------------------------------------------------------- A: any locale


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "--limit", "2"],
        ["contacts"],
        ["usage", "--month", "2026-10"],
        ["report"],
        ["store"],
        ["rules", "report", "--rules", str(SAMPLE / "jtrack.toml")],
    ],
)
def test_an_ascii_stdout_gets_ascii_tables_not_an_internal_error(
    world: Path, args: list[str]
) -> None:
    out = _jtrack([*args, "--store", str(world / "s1")], PYTHONIOENCODING="ascii")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("ascii")  # every byte is ASCII
    assert "---" in text and "internal error" not in out.stderr.decode()


def test_an_ascii_stdout_cuts_with_three_dots(world: Path) -> None:
    out = _jtrack(
        ["sessions", "--store", str(world / "s1"), "--limit", "3"], PYTHONIOENCODING="ascii"
    )
    assert out.returncode == 0, out.stderr
    assert "..." in out.stdout.decode("ascii")


def test_schema_in_the_c_locale(world: Path) -> None:
    out = _jtrack(["schema"], LC_ALL="C", PYTHONUTF8="0", PYTHONIOENCODING="")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("ascii")
    assert "datetime[us, UTC]" in text and "event_id" in text


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "md"])
def test_data_formats_are_utf8_whatever_the_locale(world: Path, fmt: str) -> None:
    args = ["sessions", "--store", str(world / "odd"), "--columns", "id,last_page_title"]
    ascii_out = _jtrack([*args, "-f", fmt], PYTHONIOENCODING="ascii")
    utf8_out = _jtrack([*args, "-f", fmt], PYTHONIOENCODING="utf-8")
    assert ascii_out.returncode == 0, ascii_out.stderr
    assert ascii_out.stdout == utf8_out.stdout and "Café ✓".encode() in ascii_out.stdout


def test_watch_once_ascii_piped_has_no_block_or_box_characters(tmp_path: Path) -> None:
    args = ["watch", str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "w")]
    text = _run([*args, "--as-of", "2026-10-14T23:40:00Z", "--once", "--ascii"])
    assert "---" in text and not FANCY & set(text)


# ---------------------------------------------------------------------------- B: one line


def test_a_title_with_tabs_and_line_breaks_is_one_table_line(world: Path) -> None:
    text = _run(["sessions", "--store", str(world / "odd"), "--columns", "id,last_page_title"])
    lines = text.splitlines()
    assert any("Tab here and newline crlf end" in line for line in lines)
    assert len(lines) == 3 + 2 + 1  # title, header, rule, 2 sessions, traffic note
    assert "\t" not in text


def test_frame_table_cells_collapse_every_kind_of_line_break() -> None:
    df = pl.DataFrame({"id": ["a"], "title": ["x\u2028y\u2029z\x85w\x0bv \t\n  u"]})
    text = render_to_text(FrameTable(df), width=80)
    assert "x y z w v u" in text and len(text.splitlines()) == 3


def test_tsv_escapes_tabs_and_line_breaks(world: Path) -> None:
    text = _run(
        ["sessions", "--store", str(world / "odd"), "--columns", "id,last_page_title", "-f", "tsv"]
    )
    lines = text.splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 2 for line in lines)
    assert "Tab\\there\\tand\\nnewline\\r\\ncrlf end" in text


def test_tsv_quotes_no_value_that_does_not_start_with_a_quote(world: Path) -> None:
    """TSV was written with CSV quoting on top of its escapes: a title with quotes came out
    quoted, its quotes doubled, and an empty list as two quotes, not as the text and an
    empty field."""
    cols = "id,last_page_title,search_terms"
    text = _run(["sessions", "--store", str(world / "odd"), "--columns", cols, "-f", "tsv"])
    rows = [line.split("\t") for line in text.splitlines()]
    assert rows[0] == ["id", "last_page_title", "search_terms"]
    assert ['Café ✓ "plain"', ""] in [r[1:] for r in rows[1:]], rows


# ---------------------------------------------------------------------------- C: ids whole


def test_rule_ids_are_wrapped_never_cut(world: Path) -> None:
    text = _run(
        [
            *("sessions", "--store", str(world / "s1"), "--rules", str(SAMPLE / "jtrack.toml")),
            *("--columns", "id,segments,outcomes,duration", "--limit", "3"),
        ]
    )
    assert "…" not in text and "seg-returning-visitor" in text


def test_cookie_ids_are_never_cut_to_an_ambiguous_prefix(world: Path) -> None:
    text = _run(["contacts", "--store", str(world / "cs"), "--as-of", "2026-10-02"], 100)
    cells = [line.split()[3] for line in text.splitlines()[4:]]
    assert cells == ["ab", "visitor-0001", "visitor-0001x", "visitor-0002", "visitor-0003-"]


def test_contacts_at_80_columns_keep_the_cookie_ids_and_the_names(world: Path) -> None:
    """The ids a contact is looked up by stay, and so does the name (who was on the site,
    which went first); the expiry date gives way."""
    text = _run(["contacts", "--store", str(world / "s1"), "--as-of", "2026-10-15"], 80)
    head = " ".join(text.splitlines()[1:3])
    assert "cookie_ids" in head and "expires" not in head
    assert "Elias O'Br" in text  # (the names of the sample's contacts, cut to fit)
    assert text.rstrip().endswith(
        "not shown at 80 columns: expires (a wider terminal, or -f csv, shows it)"
    )


def test_a_journeys_time_is_time_on_site_when_it_has_other_sessions(world: Path) -> None:
    """C0001's order system kept a 26-hour delivery session: not time on site (as the
    profile and JSON's web_duration say)."""
    text = _run(["journey", "C0001", "--store", str(world / "s1"), "--as-of", "2026-10-15"])
    assert "0:05:04 on site (web sessions)" in text and "in total" not in text


def test_what_a_left_out_column_made_room_for_is_used(world: Path) -> None:
    """At 60 columns the page title goes; the clock it made room for comes back (every
    session of a day looked the same), and so does a column that fits again."""
    text = _run(["sessions", "--store", str(world / "s1"), "--limit", "2"], 60)
    assert "2026-10-01 01:30 " in text and "not shown at 60 columns: last_page_title " in text
    assert all(len(line) <= 60 for line in text.splitlines())


def test_a_name_is_not_left_out_to_give_times_their_seconds(world: Path) -> None:
    """Columns come back before times get their clock (the order _fit gave them up in),
    and rule ids give way as text does, before a visitor's name."""
    cols = "id,created_date,ended_date,contact_name,last_page_title,first_page_url,segments"
    text = _run(
        [
            *("sessions", "--store", str(world / "s1"), "--rules", str(SAMPLE / "jtrack.toml")),
            *("--columns", cols, "--limit", "2"),
        ],
        53,
    )
    assert "Olivia Wilson" in text and "not shown at 53 columns: segments" in text


def test_a_limited_listing_says_how_many_there_are(world: Path) -> None:
    text = _run(["sessions", "--store", str(world / "s1"), "--limit", "5"])
    assert text.splitlines()[0] == "First 5 of 843 sessions"
    every = _run(["sessions", "--store", str(world / "s1"), "--limit", "900"])
    assert every.splitlines()[0] == "843 sessions"


@pytest.mark.parametrize("width", [40, 60])
def test_store_keeps_the_version_at_narrow_widths(world: Path, width: int) -> None:
    """The version (what `store rollback VERSION` takes) is a key: never dropped first."""
    text = _run(["store", "--store", str(world / "s1")], width)
    assert "v000001  true" in text


# ---------------------------------------------------------------------------- D, E: narrow


@pytest.mark.parametrize("width", [40, 60])
def test_the_sessionize_summary_wraps_with_a_hanging_indent(tmp_path: Path, width: int) -> None:
    args = ["sessionize", str(SAMPLE / "events.jsonl"), "--store", str(tmp_path / "x")]
    text = _run([*args, "--limit", "3"], width)
    summary = text.split("First 3")[0].splitlines()
    assert all(len(line) <= width and line == line.rstrip() for line in summary)
    assert any(line.startswith("rows read") and "4,000" in line for line in summary)
    # continuation lines are indented (no line starts with a note's second half)
    labels = ("this run", "rows read", "events kept", "duplicates", "rows rejected")
    labels += ("sessions", "visitors", "time span", "store")
    assert all(line.startswith((" ", *labels)) for line in summary)


@pytest.mark.parametrize("width", [40, 60])
def test_journey_never_cuts_ids_or_counts(world: Path, width: int) -> None:
    text = _run(
        ["journey", "652f931c", "--store", str(world / "s1"), "--as-of", "2026-10-15"], width
    )
    assert "652f931c-e845-4f2c-99e6-6cbd84c1ae75" in text
    assert "3 page views" in text and "contact C0008" in text
    # (a page's title is free text, cut to its line as the README says; nothing else is)
    pages = ("first page ", "last page ", "first and last page ")
    assert all("…" not in x or x.lstrip().startswith(pages) for x in text.splitlines())
    assert all(len(line) <= width for line in text.splitlines())


# ---------------------------------------------------------------------------- F, G, H, I


def test_the_left_out_note_names_a_format_the_command_writes(world: Path) -> None:
    text = _run(["store", "--store", str(world / "s1")], 40)
    assert "-f json" in text.replace("\n", " ") and "-f csv" not in text.replace("\n", " ")


def test_schema_shows_one_type_spelling_and_a_boolean_required() -> None:
    rows = json.loads(_run(["schema", "-f", "json"]))
    table = _run(["schema"], 140)
    csv = _run(["schema", "-f", "csv"])
    created = next(r for r in rows if r["column"] == "created_date")
    assert created["dtype"] == "datetime[μs, UTC]" and created["required"] is True
    assert "datetime[μs, UTC]" in table and "datetime[μs, UTC]" in csv
    assert next(r for r in rows if r["column"] == "kind")["required"] is False
    assert 'created_date,"datetime[μs, UTC]",createdDate,true,' in csv


@pytest.mark.parametrize(
    "args",
    [["contacts"], ["card", "c7352fd5", "--as-of", "2026-10-15"], ["journey", "652f931c"]],
)
def test_quiet_is_taken_by_contacts_card_and_journey(world: Path, args: list[str]) -> None:
    res = runner.invoke(app, [*args, "--store", str(world / "s1"), "-q"])
    assert res.exit_code == 0, res.stderr


def test_times_drop_their_clock_alike() -> None:
    at = datetime(2026, 10, 1, 1, 30, 16, tzinfo=UTC)
    df = pl.DataFrame(
        {
            "id": ["c7352fd5", "29707f91"],
            "customer_id": ["652f931c", "652f931c"],
            "contact_id": ["C0008", "C0008"],
            "created_date": [at, at],
            "ended_date": [at, at],
            "duration_in_seconds": [533.9, 23.8],
            "event_count": [2, 3],
        }
    )
    text = render_to_text(FrameTable(df), width=80)
    row = text.splitlines()[-1]
    assert row.count("2026-10-01") == 2 and "01:30" not in row


# ---------------------------------------------------------------------------- contact ids


def test_contact_ids_as_tables_show_them_are_taken_back(world: Path) -> None:
    """A contact id shown by its shortest unique prefix (`tmp-ff71ddb9`) is accepted back by
    `journey` and `sessions --contact`, as session and customer ids are; a prefix of
    several contacts is one line naming them (exit 1)."""
    store = ["--store", str(world / "s1")]
    listed = _run(["contacts", *store, "--as-of", "2026-10-15", "-f", "json"])
    full = next(c["contact_id"] for c in json.loads(listed) if c["contact_id"].startswith("tmp-ff"))
    short = full[:12]
    whole = _run(["sessions", *store, "--contact", full, "-f", "csv"])
    assert whole.count("\n") > 1
    assert _run(["sessions", *store, "--contact", short, "-f", "csv"]) == whole
    assert f"contact id {full}" in _run(["journey", short, *store])
    res = runner.invoke(app, ["journey", "C000", *store])
    assert res.exit_code == 1 and "matches 9 contacts" in res.stderr
    assert res.stderr.count("\n") == 1


def _closed(args: list[str], fd: int) -> subprocess.CompletedProcess[bytes]:
    """jtrack started with stdout (1) or stderr (2) closed (`>&-`, `2>&-`)."""
    cmd = [sys.executable, "-m", "jtrack.cli", *args]
    other = {"stderr": subprocess.PIPE} if fd == 1 else {"stdout": subprocess.PIPE}
    return subprocess.run(
        cmd, cwd=ROOT, check=False, pass_fds=(), preexec_fn=lambda: os.close(fd), **other
    )


def test_a_closed_stdout_or_stderr_keeps_the_exit_codes(world: Path) -> None:
    """With stdout closed, a listing was an internal error (None has no write); with stderr
    closed, a bad option exited 1, not 2."""
    store = str(world / "s1")
    res = _closed(["sessions", "--store", store, "--limit", "1", "-f", "csv"], 1)
    assert res.returncode == 1
    assert res.stderr.decode().startswith("error: standard output is closed")
    assert "internal error" not in res.stderr.decode()
    out = world / "closed.csv"
    written = _closed(["sessions", "--store", store, "--limit", "1", "-o", str(out)], 1)
    assert written.returncode == 0 and out.read_text().startswith("id,")
    assert _closed(["sessions", "--bogus"], 2).returncode == 2


def test_an_error_naming_a_path_with_a_line_break_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["usage", str(tmp_path / "no\nfile.jsonl")])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "no\\nfile.jsonl" in res.stderr


@pytest.mark.parametrize("command", ["card", "sessions", "report"])
def test_no_color_means_no_terminal_codes_at_all(world: Path, command: str) -> None:
    """NO_COLOR took the colours away but left bold, dim and underline: with FORCE_COLOR set
    (a CI's terminal settings), a log kept plain with NO_COLOR had them."""
    store = str(world / "s1")
    sid = runner.invoke(app, ["sessions", "--store", store, "-f", "csv", "--columns", "id"])
    args = {
        "card": ["card", sid.stdout.splitlines()[1], "--store", store],
        "sessions": ["sessions", "--store", store, "--limit", "5"],
        "report": ["report", "--store", store],
    }[command]
    forced = runner.invoke(app, args, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert forced.exit_code == 0 and "\x1b[" in forced.stdout  # (styled: the test can tell)
    plain = runner.invoke(app, args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.exit_code == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "\x1b" not in plain.stderr


def _commands_with_output() -> set[tuple[str, ...]]:
    """Every command (and `jtrack store` itself) that takes -o, as its words."""
    import typer

    found: set[tuple[str, ...]] = set()

    def walk(cmd: Any, words: tuple[str, ...]) -> None:
        if any(p.name == "output" for p in cmd.params):
            found.add(words)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def test_a_file_written_with_o_is_said_on_stderr_unless_quiet(world: Path, tmp_path: Path) -> None:
    """`report` and `usage` said where they wrote; `card`, `journey`, `sessions`, `contacts`
    and `rules report` said nothing (a screen-reader user heard nothing after `-o`), nor did
    `schema`, `sessionize`, `store`, `store files`, `store verify`, `store erase` and `rules
    check` (a script could not count on it; `usage` said it in its own words): every
    command that takes -o says `wrote FILE` alike, a line of its own, unless -q."""
    store = str(world / "s1")
    ids = runner.invoke(
        app, ["sessions", "--store", store, "-f", "csv", "--columns", "id,customer_id"]
    ).stdout.splitlines()[1]
    sid, cookie = ids.split(",")
    rules = str(SAMPLE / "jtrack.toml")
    events = str(SAMPLE / "events.jsonl")
    cases = {
        ("card",): ["card", sid, "--store", store],
        ("journey",): ["journey", cookie, "--store", store],
        ("sessions",): ["sessions", "--store", store],
        ("contacts",): ["contacts", "--store", store],
        ("rules", "report"): ["rules", "report", "--store", store, "--rules", rules],
        ("rules", "explain"): ["rules", "explain", sid, "--store", store, "--rules", rules],
        ("rules", "check"): ["rules", "check", rules],
        ("report",): ["report", "--store", store],
        ("usage",): ["usage", "--store", store, "--month", "2026-10"],
        ("schema",): ["schema"],
        ("sessionize",): ["sessionize", events, "--store", str(tmp_path / "new")],
        ("store",): ["store", "--store", store],
        ("store", "files"): ["store", "files", "--store", store],
        ("store", "changes"): ["store", "changes", "--since", "v000001", "--store", store],
        ("store", "verify"): ["store", "verify", "--store", store],
        ("store", "access"): ["store", "access", "--visitor", cookie, "--store", store],
        ("store", "erase"): ["store", "erase", "--visitor", cookie, "--dry-run", "--store", store],
    }
    assert set(cases) == _commands_with_output()  # (a new command with -o is tested here)
    for words, args in cases.items():
        out = tmp_path / f"{'-'.join(words)}.json"
        res = runner.invoke(app, [*args, "-o", str(out)])
        assert res.exit_code == 0 and out.is_file(), (args, res.stderr)
        assert res.stderr.splitlines()[-1] == f"wrote {out}", (args, res.stderr)
        assert res.stderr.count("wrote") == 1 and "written to" not in res.stderr, res.stderr
        quiet = runner.invoke(app, [*args, "-o", str(out), "-q"])
        assert quiet.exit_code == 0 and "wrote" not in quiet.stderr, (args, quiet.stderr)
    # `jtrack store`'s -o and -q given before its subcommand
    out = tmp_path / "before.json"
    res = runner.invoke(app, ["store", "-o", str(out), "files", "--store", store])
    assert res.exit_code == 0 and res.stderr == f"wrote {out}\n", res.stderr
    res = runner.invoke(app, ["store", "-q", "-o", str(out), "files", "--store", store])
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    piped = runner.invoke(app, ["card", sid, "--store", store, "-o", "-"])
    assert piped.exit_code == 0 and "wrote" not in piped.stderr
