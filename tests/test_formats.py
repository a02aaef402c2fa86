"""The format matrix: every command writes exactly the formats its --help lists; -o suffixes;
TSV; the CSV formula guard; option typos and --debug anywhere; exit codes."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jtrack.cli import _debug_first, app
from jtrack.serialize import (
    _CONTROL,
    _FORMULA_START,
    _NUMBER_LIKE,
    flat_strings,
    to_csv,
    to_json,
    to_tsv,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RULES = str(SAMPLE / "jtrack.toml")
AS_OF = "2026-10-20T00:00:00Z"
ALL = ("table", "json", "jsonl", "csv", "tsv", "md", "html", "parquet")

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("formats")
    res = runner.invoke(
        app,
        ["sessionize", str(SAMPLE / "events.jsonl"), "--store", str(d / ".jtrack"), "-q"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.stderr
    (d / "contacts.csv").write_text("contact_id,name,email\nc1,Ada,ada@example.com\n")
    import os

    old = Path.cwd()
    os.chdir(d)
    try:
        yield d
    finally:
        os.chdir(old)


#: Every command that writes something, with what it needs to run.
COMMANDS = {
    "schema": ["schema"],
    "sessionize": ["sessionize", str(SAMPLE / "events.jsonl"), "--limit", "3"],
    "watch": ["watch", str(SAMPLE / "events.jsonl"), "--as-of", AS_OF],
    "sessions": ["sessions", "--limit", "3"],
    "contacts": ["contacts", "--as-of", AS_OF],
    "card": ["card", "c7352fd5", "--as-of", AS_OF, "--no-rules"],
    "journey": ["journey", "652f931c", "--as-of", AS_OF, "--no-rules"],
    "usage": ["usage", "--month", "2026-10", "--as-of", AS_OF],
    "report": ["report", "--top", "3"],
    "rules check": ["rules", "check", RULES],
    "rules report": ["rules", "report", "--rules", RULES],
    "rules explain": ["rules", "explain", "c7352fd5", "--rules", RULES],
}


def _help_formats(args: list[str]) -> list[str]:
    cmd = [a for a in args if not a.startswith("-")][:2]
    cmd = cmd[:2] if cmd[0] == "rules" else cmd[:1]
    text = " ".join(runner.invoke(app, [*cmd, "--help"]).stdout.split())
    m = re.search(r"Output format: ([a-z, ]+)\.", text)
    assert m, text
    return [f.strip() for f in m.group(1).split(",")]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_format_the_help_lists_works_and_no_other(
    name: str, world: Path, tmp_path: Path
) -> None:
    args = COMMANDS[name]
    listed = _help_formats(args)
    assert listed[0] == "table" and len(set(listed)) == len(listed)
    for fmt in ALL:
        out = tmp_path / f"out.{fmt if fmt != 'table' else 'txt'}"
        no_o = ("rules check", "watch")  # (no -o: a check, and a live view)
        extra = ["-o", str(out)] if fmt == "parquet" and name not in no_o else []
        res = runner.invoke(app, [*args, "-f", fmt, *extra])
        if fmt in listed:
            assert res.exit_code == 0, (name, fmt, res.stderr)
        else:
            assert res.exit_code == 2, (name, fmt, res.exit_code, res.stderr)
            assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
            assert "(hint: choose one of " + ", ".join(listed) + ")" in res.stderr


#: The commands whose output is a listing (a frame of rows), and what the README says every
#: listing writes.
LISTINGS = ("schema", "sessionize", "sessions", "contacts", "usage", "rules report")
LISTING_FORMATS = ("table", "json", "jsonl", "csv", "tsv", "md", "parquet")


@pytest.mark.parametrize("name", LISTINGS)
def test_every_listing_writes_the_formats_the_readme_promises(name: str) -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    promised = ", ".join(f"`{f}`" for f in LISTING_FORMATS[:-1])
    assert f"The listings take `--format` ({promised}, and `parquet` to" in readme
    assert set(LISTING_FORMATS) <= set(_help_formats(COMMANDS[name]))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_format_jtrack_does_not_know_is_refused_naming_the_commands_own(
    name: str, world: Path
) -> None:
    """`-f markdown`: one line naming the formats this command writes (not every format
    jtrack has), with the one meant."""
    args = COMMANDS[name]
    listed = _help_formats(args)
    for typed, meant in (("markdown", "md"), ("jsn", "json"), ("docx", None)):
        res = runner.invoke(app, [*args, "-f", typed])
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
        assert f"'{typed}' is not a format it writes: {', '.join(listed)} (hint: " in res.stderr
        if meant in listed:
            assert f"did you mean {meant}?" in res.stderr
        elif meant is None or meant not in listed:
            assert f"did you mean {meant}?" not in res.stderr


@pytest.mark.parametrize("name", [n for n in sorted(COMMANDS) if n not in ("rules check", "watch")])
def test_a_data_suffix_never_gets_an_aligned_table(name: str, world: Path, tmp_path: Path) -> None:
    args = COMMANDS[name]
    listed = _help_formats(args)
    for suffix, fmt in (("csv", "csv"), ("tsv", "tsv"), ("json", "json"), ("md", "md")):
        out = tmp_path / f"x.{suffix}"
        res = runner.invoke(app, [*args, "-o", str(out)])
        if fmt not in listed:
            assert res.exit_code == 2 and not out.exists(), (name, suffix)
            assert "--format" not in res.stderr, res.stderr  # the user typed no --format
            assert f"-o {out}" in res.stderr
            continue
        assert res.exit_code == 0, (name, suffix, res.stderr)
        text = out.read_text()
        assert "─" not in text, (name, suffix)
        if fmt == "json":
            json.loads(text)
        if fmt == "tsv":
            assert "\t" in text.splitlines()[0]


@pytest.mark.parametrize(("fmt", "named"), [("table", "x.txt"), ("md", "x.md"), ("json", "x.json")])
def test_a_format_and_a_suffix_that_disagree_name_a_file_that_works(
    world: Path, tmp_path: Path, fmt: str, named: str
) -> None:
    out = tmp_path / "x.csv"
    res = runner.invoke(app, ["sessions", "--limit", "3", "-f", fmt, "-o", str(out)])
    assert res.exit_code == 2 and f"(hint: name the file {named}, or leave out" in res.stderr
    ok = runner.invoke(app, ["sessions", "--limit", "3", "-f", fmt, "-o", str(tmp_path / named)])
    assert ok.exit_code == 0, ok.stderr


def test_xlsx_is_refused_with_a_hint_and_nothing_is_written(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "usage.xlsx"
    res = runner.invoke(app, ["usage", "--month", "2026-10", "--as-of", AS_OF, "-o", str(out)])
    assert res.exit_code == 2 and not out.exists()
    assert res.stderr == (
        f"error: -o {out}: jtrack does not write .xlsx workbooks (hint: write -o usage.csv "
        "(spreadsheets open .csv and .tsv files))\n"
    )


def test_usage_writes_parquet_with_the_csv_columns(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "usage.parquet"
    args = ["usage", "--month", "2026-10", "--as-of", AS_OF]
    res = runner.invoke(app, [*args, "-o", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    frame = pl.read_parquet(out)
    header = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()[0]
    assert frame.columns == header.split(",") and frame.height == 19  # to the as-of day


def test_parquet_goes_to_a_pipe_but_never_to_a_terminal(world: Path, tmp_path: Path) -> None:
    """`-f parquet` without -o, or with `-o -` (the help says "- is stdout"), was "Parquet
    is written to a file" even into a pipe (`| aws s3 cp - ...`); a terminal is still
    refused (binary)."""
    import os
    import pty
    import subprocess
    import sys

    out = tmp_path / "s.parquet"
    assert runner.invoke(app, ["sessions", "-o", str(out)]).exit_code == 0
    for extra in ([], ["-o", "-"]):
        res = runner.invoke(app, ["sessions", "-f", "parquet", *extra])
        assert res.exit_code == 0, res.stderr
        assert pl.read_parquet(io.BytesIO(res.stdout_bytes)).equals(pl.read_parquet(out))
    main, tty = pty.openpty()
    try:
        for extra in ([], ["-o", "/dev/stdout"], ["-o", os.ttyname(tty)]):
            proc = subprocess.run(
                [sys.executable, "-m", "jtrack.cli", "sessions", "-f", "parquet", *extra],
                stdout=tty, stderr=subprocess.PIPE, cwd=world, timeout=120,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
            )  # fmt: skip
            assert proc.returncode == 2, (extra, proc.stderr)
            assert b"Parquet is binary: it is not written to a terminal" in proc.stderr
    finally:
        os.close(tty)
        os.close(main)


def test_report_to_parquet_says_what_it_can_write_without_naming_a_flag(
    world: Path, tmp_path: Path
) -> None:
    res = runner.invoke(app, ["report", "-o", str(tmp_path / "r.parquet")])
    assert res.exit_code == 2
    assert "report cannot write Parquet" in res.stderr and "--format" not in res.stderr


def test_a_suffix_that_contradicts_format_is_refused(world: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["sessions", "-f", "csv", "-o", str(tmp_path / "s.json")])
    assert res.exit_code == 2 and "name the file s.csv" in res.stderr
    assert not (tmp_path / "s.json").exists()
    ok = runner.invoke(app, ["sessions", "-f", "csv", "-o", str(tmp_path / "s.txt")])
    assert ok.exit_code == 0 and (tmp_path / "s.txt").read_text().startswith("id,")


def test_an_unknown_suffix_is_refused(world: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["sessions", "-o", str(tmp_path / "s.yaml")])
    assert res.exit_code == 2 and "'.yaml'" in res.stderr and ".csv" in res.stderr


def test_tsv_holds_the_csv_fields(world: Path) -> None:
    c = runner.invoke(app, ["sessions", "--limit", "5", "-f", "csv"]).stdout
    t = runner.invoke(app, ["sessions", "--limit", "5", "-f", "tsv"]).stdout
    rows_c = list(csv.reader(io.StringIO(c)))
    rows_t = list(csv.reader(io.StringIO(t), delimiter="\t"))
    assert rows_c == rows_t


def test_times_keep_their_microseconds_in_every_text_format_where_there_are_any() -> None:
    """The store keeps microseconds; JSON, JSONL, CSV and TSV cut them to milliseconds, so
    a time did not survive a round trip and two events in one millisecond looked tied. Each
    value is written alike whatever the rows beside it (a filtered export of a session
    writes its times as the whole listing does)."""
    from datetime import UTC, datetime

    from jtrack.serialize import iso_z

    def at(us: int) -> datetime:
        return datetime(2026, 10, 1, 10, 0, 0, us, tzinfo=UTC)

    frame = pl.DataFrame({"t": [at(123456), at(1), None, at(123000), at(0), at(5000)]})
    rows = [r["t"] for r in json.loads(to_json(frame))]
    assert rows == [
        "2026-10-01T10:00:00.123456Z",
        "2026-10-01T10:00:00.000001Z",
        None,
        "2026-10-01T10:00:00.123Z",
        "2026-10-01T10:00:00.000Z",
        "2026-10-01T10:00:00.005Z",
    ]
    assert [json.loads(to_json(frame[i : i + 1]))[0]["t"] for i in range(6)] == rows
    assert [iso_z(t) for t in frame["t"].to_list()] == rows  # (cards, usage, summaries)
    assert to_csv(frame).splitlines()[1:3] == [rows[0], rows[1]]
    back = pl.read_csv(io.StringIO(to_csv(frame)), try_parse_dates=True)
    assert back["t"].dt.replace_time_zone(None).to_list() == [
        t.replace(tzinfo=None) if t else None for t in frame["t"].to_list()
    ]


# ---------------------------------------------------------------------------- the CSV guard


@pytest.mark.parametrize(
    "value",
    ["+12025550123", "+1 202 555 0123", "+44 (0)20 7946 0958", "-5", "-12.5", "+1-202-555-0123"],
)
def test_numbers_and_phone_numbers_are_not_mangled(value: str) -> None:
    frame = pl.DataFrame({"phone": [value]})
    assert to_csv(frame).splitlines()[1].strip('"') == value
    assert to_tsv(frame).splitlines()[1] == value


@pytest.mark.parametrize(
    "value",
    [
        "=cmd|' /C calc'!A0",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3",
        "=1+1",
        "+A1",
        "-SUM(A1:A2)",
        "\tx",
        "\uff1dSUM(1)",
        "+1+cmd|'/C calc'!A0",
        # (blanks and invisible characters before it: a spreadsheet may trim them)
        " =1+1",
        "\xa0+A1",
        "\u200b=1+1",
        "\ufeff@SUM(1)",
        "\n=cmd|x",
    ],
)
def test_formulas_are_still_neutralised(value: str) -> None:
    frame = pl.DataFrame({"v": [value]})
    cell = next(csv.reader(io.StringIO(to_csv(frame).splitlines()[1])))[0]
    assert cell.startswith("'"), cell
    tsv_cell = next(csv.reader(io.StringIO(to_tsv(frame).split("\n", 1)[1]), delimiter="\t"))[0]
    assert tsv_cell.startswith("'"), tsv_cell


#: Blanks a spreadsheet may trim before a formula, besides whitespace.
_INVISIBLE = "\xa0\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_CELL_CHARS = st.sampled_from(
    [
        *["a", "1", " ", "=", "+", "-", "@", "\t", "\r", "\n", "\x1b", "\x9b", "\u202e"],
        *["\uff1d", "é", "\xa0", "\u200b", "\ufeff", "\u3000"],
    ]
)


def _guarded(cell: str | None) -> str | None:
    """The guard, cell by cell: a formula start gets a `'`, control characters U+FFFD."""
    if cell is None:
        return None

    # (as Polars reads the pattern: `$` is the very end, where Python's re also takes the
    # place before a last line break)
    def number(text: str) -> bool:
        return bool(re.fullmatch(_NUMBER_LIKE.removeprefix("^").removesuffix("$"), text))

    # (what a spreadsheet may trim before the formula: blanks and invisible characters)
    bare = re.sub(f"^[\\s{_INVISIBLE}]+", "", cell)  # (Unicode white space, as Rust reads \s)
    if (cell.startswith(_FORMULA_START) or bare.startswith(_FORMULA_START)) and not (
        number(cell) or number(bare)
    ):
        cell = "'" + cell
    return _CONTROL.sub("\ufffd", cell)


@settings(max_examples=150, deadline=None)
@example([(None, ["-1\n"])])  # (found by the suite: a number and a line break is no number)
@given(
    st.lists(
        st.tuples(
            st.none() | st.text(_CELL_CHARS, max_size=6),
            st.lists(st.text(_CELL_CHARS, max_size=4), max_size=3),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_guard_is_the_cell_by_cell_rule_whichever_cells_need_it(
    rows: list[tuple[str | None, list[str]]],
) -> None:
    """The guard scans each column once and works cell by cell only in the columns that need
    it: the result is the rule applied to every cell, wherever the one cell to guard is."""
    texts = [t for t, _ in rows]
    lists = [xs for _, xs in rows]
    frame = pl.DataFrame(
        {"t": texts, "l": lists, "n": list(range(len(rows)))},
        schema={"t": pl.String, "l": pl.List(pl.String), "n": pl.Int64},
    )
    out = flat_strings(frame, neutralise=True)
    assert out["t"].to_list() == [_guarded(t) for t in texts]
    # (an empty list is an empty cell: None, which CSV writes bare, not a quoted "")
    assert out["l"].to_list() == [_guarded("; ".join(xs)) if xs else None for xs in lists]
    assert out["n"].to_list() == [str(i) for i in range(len(rows))]


# ---------------------------------------------------------------------------- option errors


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["sessions", "--limt", "5"],
            "error: jtrack sessions: no such option --limt (hint: did you mean --limit or "
            "--quiet? "
            "`jtrack sessions -h` lists what it takes)\n",
        ),
        (  # (an option another command names so: that command's name for it)
            ["report", "--limit", "5"],
            "error: jtrack report: no such option --limit (hint: did you mean --top? "
            "`jtrack report -h` lists what it takes)\n",
        ),
        (
            ["sessions", "--top", "5"],
            "error: jtrack sessions: no such option --top (hint: did you mean --limit? "
            "`jtrack sessions -h` lists what it takes)\n",
        ),
        (  # (not `--wait`, a name alike that Click offered)
            ["usage", "--limit", "5"],
            "error: jtrack usage: no such option --limit (hint: `jtrack usage -h` lists what "
            "it takes)\n",
        ),
        (
            ["usage", "--timezone", "Europe/Paris"],
            "error: jtrack usage: no such option --timezone (hint: did you mean --tz? "
            "`jtrack usage -h` lists what it takes)\n",
        ),
        (
            ["usage", "--month"],
            "error: jtrack usage: --month needs a value (hint: `jtrack usage -h` lists what it "
            "takes)\n",
        ),
        (
            ["card"],
            "error: jtrack card: SESSION_ID is missing (hint: `jtrack card -h` lists what it "
            "takes)\n",
        ),
        (
            ["sessionz"],
            "error: jtrack: no such command 'sessionz' (hint: did you mean 'sessionize', "
            "'sessions'? `jtrack -h` lists them)\n",
        ),
        (
            ["store", "rolback"],
            "error: jtrack store: no such command 'rolback' (hint: did you mean 'rollback'? "
            "`jtrack store -h` lists them)\n",
        ),
    ],
)
def test_option_typos_get_one_line_and_exit_2(args: list[str], expected: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr == expected and res.stdout == ""


def test_a_bad_option_value_is_one_line_exit_2() -> None:
    res = runner.invoke(app, ["sessions", "--limit", "many"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("error: jtrack sessions: invalid value for '--limit'")


def test_debug_after_the_command_shows_the_traceback(tmp_path: Path) -> None:
    assert _debug_first(["card", "x", "--debug"]) == ["--debug", "card", "x"]
    assert _debug_first(["card", "--", "--debug"]) == ["card", "--", "--debug"]
    res = runner.invoke(app, ["card", "x", "--store", str(tmp_path / "none"), "--debug"])
    assert res.exit_code == 1
    assert "Traceback" in res.stderr and res.stderr.rstrip().splitlines()[-1].startswith("error:")
    quiet = runner.invoke(app, ["card", "x", "--store", str(tmp_path / "none")])
    assert quiet.exit_code == 1 and "Traceback" not in quiet.stderr


def test_jtrack_debug_set_to_a_word_for_off_leaves_the_traceback_out(tmp_path: Path) -> None:
    """`JTRACK_DEBUG=0` (a service that sets it to be explicit) printed a 26-line traceback
    where one error line was due: any value but empty meant on."""
    args = ["card", "x", "--store", str(tmp_path / "none")]
    for off in ("0", "false", "No", "off", ""):
        res = runner.invoke(app, args, env={"JTRACK_DEBUG": off})
        assert res.exit_code == 1 and res.stderr.count("\n") == 1, (off, res.stderr)
    for on in ("1", "yes", "true"):
        res = runner.invoke(app, args, env={"JTRACK_DEBUG": on})
        assert res.exit_code == 1 and "Traceback" in res.stderr, on


def test_a_month_where_sessions_wants_a_time_says_how_to_ask_for_the_month(world: Path) -> None:
    """`report --since 2026-10` works, `sessions --since 2026-10` was "cannot read": the
    value a user carries from one to the other is answered with the month's bounds."""
    res = runner.invoke(app, ["sessions", "--since", "2026-12"])
    assert res.exit_code == 2
    assert res.stderr == (
        "error: --since: '2026-12' is a month; this option takes a date or time (hint: the "
        "month's sessions: --since 2026-12-01 --until 2027-01-01 (UTC))\n"
    )
    res = runner.invoke(app, ["sessions", "--since", "2026-13"])
    assert res.exit_code == 2 and "cannot read '2026-13'" in res.stderr


@pytest.mark.parametrize("command", [["sessions"], ["usage"], ["report"]])
def test_until_before_since_is_refused_by_every_command(world: Path, command: list[str]) -> None:
    """`sessions --since 2026-10-10 --until 2026-10-01` listed nothing (exit 0) where usage
    and report refuse it."""
    res = runner.invoke(app, [*command, "--since", "2026-10-10", "--until", "2026-10-01"])
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith("error: --until ")
    if command == ["sessions"]:  # equal bounds: the sessions going on at that moment
        at = "2026-10-03T10:00:00Z"
        res = runner.invoke(app, ["sessions", "--since", at, "--until", at, "-f", "csv"])
        assert res.exit_code == 0 and res.stdout.count("\n") > 1, res.stderr
        # a day typed twice is answered, and told how to ask for the day
        assert "a day's sessions: --since 2026-10-03 --until 2026-10-04" in res.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["contacts", "--default-region", "XX"], "not a region"),
        (["contacts", "--default-region", "GB"], "needs --contacts FILE"),
        # (the store's own book read again with another region than it was taken in with:
        # --conflicts then told another story than the store's resolution)
        (["contacts", "--conflicts", "--default-region", "GB"], "needs --contacts FILE"),
        (["contacts", "--visitors", "--conflicts"], "two listings"),
        (["contacts", "--check", "contacts.csv", "--state", "known"], "only checks the file"),
        (["contacts", "--check", "contacts.csv", "--visitors"], "--visitors is for listing"),
        (["contacts", "--check", "contacts.csv", "--ttl", "30d"], "--ttl is for listing"),
    ],
)
def test_contacts_options_that_do_nothing_are_refused(
    world: Path, args: list[str], message: str
) -> None:
    """They ran (exit 0) as if not given: a region read nowhere, and not even a region; two
    listings of which one was silently chosen."""
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and message in res.stderr, res.stderr
    ok = runner.invoke(app, ["contacts", "--contacts", "contacts.csv", "--default-region", "GB"])
    assert ok.exit_code == 0, ok.stderr


def test_a_tsv_value_starting_with_a_quote_is_read_whole_by_csv_readers() -> None:
    """Unquoted, `"Red" trail shoes` was misread by readers that follow CSV's rules (Python's
    csv dropped the quotes, Polars refused the file): such a value alone is quoted."""
    from jtrack.commands._common import tsv_escaped

    values = ['"Red" trail shoes', '"Quoted start', 'mid "q" x', "", "a\tb"]
    frame = pl.DataFrame({"v": values, "n": list(range(len(values)))})
    text = to_tsv(tsv_escaped(frame))
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    assert [r[0] for r in rows[1:]] == [
        '"Red" trail shoes',
        '"Quoted start',
        'mid "q" x',
        "",
        "a\\tb",
    ]
    back = pl.read_csv(io.StringIO(text), separator="\t", infer_schema=False)
    assert back.get_column("v").to_list()[:3] == values[:3]
    assert text.splitlines()[3] == 'mid "q" x\t2'  # (only a leading quote is quoted)


def test_an_empty_list_is_an_empty_csv_cell_as_a_missing_one_is() -> None:
    """A summary's empty `months_with_events` was written `""` in CSV, where a missing
    value is bare (README: an empty list and a missing one are both empty)."""
    from jtrack.serialize import to_csv

    frame = pl.DataFrame(
        {"n": [1, 2], "l": [[], None]}, schema={"n": pl.Int64, "l": pl.List(pl.String)}
    )
    assert to_csv(frame) == "n,l\n1,\n2,\n"


def test_line_and_paragraph_separators_never_split_a_row(tmp_path: Path) -> None:
    """U+2028 and U+2029 were written raw: TSV's "each row is one line" broke for
    `str.splitlines` and editors, and so did JSON lines and Markdown. TSV writes them as
    `\\u2028`, `\\u2029`; JSON as JSON's escapes; Markdown as a space; HTML as a character
    reference; CSV quotes their cell (as one with a line break) and keeps them."""
    from jtrack.commands._common import tsv_escaped
    from jtrack.render.report_html import html_table
    from jtrack.serialize import to_jsonl, to_markdown

    values = ["a\u2028b", "c\u2029d", "plain", ""]
    frame = pl.DataFrame({"v": values, "n": list(range(len(values)))})
    tsv = to_tsv(tsv_escaped(frame))
    assert len(tsv.splitlines()) == 1 + len(values)
    assert tsv.splitlines()[1:3] == ["a\\u2028b\t0", "c\\u2029d\t1"]
    for text in (to_jsonl(frame), to_json(frame), to_markdown(frame), html_table(frame)):
        assert "\u2028" not in text and "\u2029" not in text
    assert [json.loads(line)["v"] for line in to_jsonl(frame).splitlines()] == values
    assert len(to_markdown(frame).splitlines()) == 2 + len(values)
    assert "a&#x2028;b" in html_table(frame)
    csv_text = to_csv(frame)
    assert csv_text.split("\n")[1:3] == ['"a\u2028b",0', '"c\u2029d",1']
    assert pl.read_csv(io.StringIO(csv_text)).get_column("v").to_list()[:3] == values[:3]
    # (a frame without them: CSV as it always was)
    plain = frame.filter(pl.col("n") >= 2)
    assert to_csv(plain) == 'v,n\nplain,2\n"",3\n'
    # the rejects file (JSON lines of rejected input, whose raw line may hold them)
    from jtrack.files import write_rejects

    write_rejects(frame, tmp_path / "rejects.jsonl")
    lines = (tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["v"] for line in lines] == values


@settings(max_examples=80, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.none(),
            st.text(
                alphabet=st.sampled_from("ab \x7f\x85\x9f\u2028\u202a\u2066\u2069\u206a\xe9\n")
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    where=st.sampled_from(["text", "list", "struct", "name", "category"]),
)
def test_json_skips_the_escape_search_only_where_no_text_needs_it(
    texts: list[str | None], where: str
) -> None:
    """A listing's text is searched for characters JSON leaves raw (DEL, C1, U+2028...) only
    when Polars finds one in the frame: the JSON and JSON lines are those of the search of
    every piece, whatever column (a list's, a struct's, a name) holds the character."""
    from jtrack import serialize

    column = {
        "text": pl.Series("t", texts, pl.String),
        "list": pl.Series("t", [[t] if t is not None else [] for t in texts]),
        "struct": pl.Series("t", [{"k": t} for t in texts]),
        "name": pl.Series(texts[0] or "t", [1] * len(texts)),
        "category": pl.Series("t", texts, pl.Categorical),
    }[where]
    df = pl.DataFrame([pl.Series("n", range(len(texts))), column])
    records = serialize.to_records(df)
    assert (
        "".join(serialize.iter_json(df))
        == serialize._escaped(serialize._dumps(records, indent=2)) + "\n"
    )
    assert "".join(serialize.iter_jsonl(df)) == serialize._escaped(
        "".join(serialize._dumps(r) + "\n" for r in records)
    )


def test_json_of_a_listing_is_written_a_slice_at_a_time_with_the_same_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sessions -f json` built the whole document as one string, then a translated copy
    of it (10 GB for a year's 659,000 sessions, 1.4 GB of output): JSON and JSON lines of a
    frame are made JSON_CHUNK rows at a time, the text unchanged, escapes and all."""
    import json as json_mod
    from datetime import UTC, datetime

    from jtrack import serialize

    monkeypatch.setattr(serialize, "JSON_CHUNK", 3)
    df = pl.DataFrame(
        {
            "n": list(range(7)),
            "t": ["a\u2028b", "\u009b[31m", "café", None, "x", "\u202ey", "z"],
            "at": [datetime(2026, 10, 1, i, tzinfo=UTC) for i in range(7)],
            "l": [["p"], [], None, ["q", "r"], ["s"], [], ["t"]],
        }
    )
    records = serialize.to_records(df)
    whole = json_mod.dumps(records, indent=2, ensure_ascii=False).translate(serialize._JSON_ESCAPES)
    pieces = list(serialize.iter_json(df))
    assert len(pieces) == 3 and "".join(pieces) == whole + "\n"
    assert len(list(serialize.iter_json(df.head(2)))) == 1  # (one piece: one write)
    lines = "".join(json_mod.dumps(r, ensure_ascii=False) + "\n" for r in records)
    assert "".join(serialize.iter_jsonl(df)) == lines.translate(serialize._JSON_ESCAPES)
    assert "\\u2028" in whole and "\\u009b" in whole and "\\u202e" in whole
    assert serialize.to_json(df.clear()) == "[]\n" and serialize.to_jsonl(df.clear()) == ""
    # through a command, to stdout and to -o FILE alike
    from tests.helpers import T0, flat_event, flat_frame

    src = tmp_path / "e.parquet"
    flat_frame([flat_event(f"e{i}", f"v{i}", T0) for i in range(8)]).write_parquet(src)
    st = str(tmp_path / "st")
    assert runner.invoke(app, ["sessionize", str(src), "--store", st, "-q"]).exit_code == 0
    for fmt in ("json", "jsonl"):
        out = runner.invoke(app, ["sessions", "--store", st, "-f", fmt, "--traffic", "all"])
        target = tmp_path / f"s.{fmt}"
        res = runner.invoke(app, ["sessions", "--store", st, "-o", str(target), "--traffic", "all"])
        assert out.exit_code == res.exit_code == 0 and target.read_text() == out.stdout
        rows = json_mod.loads(out.stdout) if fmt == "json" else out.stdout.splitlines()
        assert len(rows) == 8
