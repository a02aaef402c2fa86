"""Every table command at 80 and 140 columns (goldens), and the rules that make them fit.

The goldens are the sample store (sample_data/) rendered at a fixed width with colour off;
regenerate them with JTRACK_UPDATE_GOLDEN=1 and read the diff. At 80 columns (what a pipe
gets) every key column must show in full: ids as unique prefixes, numbers, times, states.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.render.table import FrameTable, render_to_text, thousands_expr
from jtrack.usecases.ids import unique_prefix_length

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
GOLDEN = ROOT / "tests" / "golden"
AS_OF = "2026-10-20T00:00:00Z"

runner = CliRunner()

BAD_CONTACTS = (
    "contact_id,first_name,last_name,email,phone,cookie_id\n"
    "ext-1,Ada,Lovelace,ada@example.com,+442079460958,\n"
    "ext-2,Grace,Hopper,not-an-email,+12025550123,\n"
    "ext-3,Alan,Turing,alan@example.com,12345,\n"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample store (with the sample contacts) in a directory of its own, and a
    contacts file with invalid entries; commands run from there."""
    d = tmp_path_factory.mktemp("tables")
    res = runner.invoke(
        app,
        [
            "sessionize",
            str(SAMPLE / "events.jsonl"),
            "--store",
            str(d / ".jtrack"),
            "--contacts",
            str(SAMPLE / "contacts.csv"),
            "-q",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    (d / "contacts.csv").write_text(BAD_CONTACTS)
    # (named as a reader names it, relative: the rules report's source line shows it)
    (d / "rules.toml").write_bytes((SAMPLE / "jtrack.toml").read_bytes())
    old = Path.cwd()
    os.chdir(d)
    try:
        yield d
    finally:
        os.chdir(old)


RULES = str(SAMPLE / "jtrack.toml")
#: name -> (arguments, key headers that must show at 80 columns)
COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "schema": (["schema"], ["column", "dtype", "genesys_path", "required"]),
    "schema_sessions": (["schema", "--sessions"], ["column", "dtype"]),
    "schema_index": (["schema", "--index"], ["column", "dtype", "description"]),
    "contacts_check": (["contacts", "--check", "contacts.csv"], ["row", "field", "value"]),
    "sessions": (
        ["sessions", "--limit", "8"],
        ["id", "created_date", "duration", "events"],
    ),
    "sessions_rules": (
        [
            "sessions",
            "--limit",
            "8",
            "--rules",
            RULES,
            "--columns",
            "id,segments,outcomes",
        ],
        ["id", "segments", "outcomes"],
    ),
    "usage": (
        ["usage", "--month", "2026-10", "--as-of", AS_OF, "--users", "2", "--per-user", "1500"],
        ["period", "page_view", "search", "custom", "billable", "month_to_date", "overage"],
    ),
    "report": (["report", "--top", "5"], ["day", "sessions", "visitors", "page_views", "share"]),
    "rules_report": (
        ["rules", "report", "--rules", "rules.toml"],
        ["segment_id", "source", "sessions", "share", "outcome_id", "conversion", "qualified"],
    ),
    "rules_explain": (
        ["rules", "explain", "c7352fd5", "--rules", RULES],
        ["part", "held", "at", "condition", "detail"],
    ),
    "journey": (
        ["journey", "652f931c-e845-4f2c-99e6-6cbd84c1ae75", "--as-of", AS_OF, "--no-rules"],
        [
            "Customer journey of Olivia Wilson",
            "visit 3 of 3",
            "cb0fd25c",
            # how each visit arrived, whole at 80 columns (a part wraps, never cut)
            "referrer www.outdoor-blog.example",
            "campaign partner / referral · blog_review",
            "first page Summit GTX Boot | Example Shop",
        ],
    ),
    "contacts": (
        ["contacts", "--as-of", AS_OF, "--state", "known"],
        ["contact_", "state", "sessions", "last_seen"],  # (contact_state, wrapped)
    ),
    "contacts_visitors": (
        ["contacts", "--visitors", "--as-of", AS_OF, "--state", "temporary"],
        ["customer_", "contact_id", "state", "sessions", "last_seen", "expires"],
    ),
}
WIDTHS = (80, 140)


def _render(args: list[str], width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("JTRACK_WIDTH", raising=False)
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 2), res.stderr  # contacts --check exits 2 on invalid entries
    return res.stdout


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_table_commands_match_their_goldens(
    name: str, width: int, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, _ = COMMANDS[name]
    out = _render(args, width, monkeypatch)
    path = GOLDEN / f"{name}_{width}.txt"
    if os.environ.get("JTRACK_UPDATE_GOLDEN"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_line_is_wider_than_the_terminal_and_key_columns_show(
    name: str, width: int, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, keys = COMMANDS[name]
    out = _render(args, width, monkeypatch)
    assert max(len(line) for line in out.splitlines()) <= width
    for key in keys:
        assert key in out, (name, width, key)
    # no header or id split mid-word: every key header is on one line
    for line in out.splitlines():
        assert not re.search(r"\b(?:durati|sessio|conver)\s*$", line), line


def test_ids_in_tables_are_unique_prefixes_that_card_accepts(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _render(["sessions"], 80, monkeypatch)
    lines = out.splitlines()
    assert lines[-1] == "traffic: human (people only)"  # what the table counts, under it
    ids = [line.split()[0] for line in lines[3:-1] if line.strip()]
    assert len(ids) == 843 and len(set(ids)) == 843
    assert all(len(i) >= 8 and "…" not in i for i in ids)
    res = runner.invoke(app, ["card", ids[5], "--as-of", AS_OF, "-f", "json", "--no-rules"])
    assert res.exit_code == 0, res.stderr


def test_a_customer_id_prefix_works_where_a_customer_id_is_asked(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_id = "652f931c-e845-4f2c-99e6-6cbd84c1ae75"
    full = runner.invoke(app, ["journey", full_id, "-f", "json", "--as-of", AS_OF])
    short = runner.invoke(app, ["journey", "652f931c", "-f", "json", "--as-of", AS_OF])
    assert short.exit_code == 0, short.stderr
    assert short.stdout == full.stdout
    listed = runner.invoke(app, ["sessions", "--customer", "652f931c", "-f", "csv"])
    assert listed.stdout.count("652f931c-e845-4f2c-99e6-6cbd84c1ae75") == 3
    ambiguous = runner.invoke(app, ["journey", "0", "-f", "json"])
    assert ambiguous.exit_code == 1 and "type more characters" in ambiguous.stderr


def test_durations_are_hms_in_tables_and_seconds_in_data(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _render(["sessions", "--limit", "1"], 140, monkeypatch)
    data = runner.invoke(app, ["sessions", "--limit", "1", "-f", "csv"]).stdout
    assert "0:08:53" in table and "534." not in table
    assert ",533.9" in data or ",534." in data


def test_headers_are_the_field_names_or_documented_labels(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every header of a table is a field of the CSV, or one of the README's labels."""
    readme = (ROOT / "README.md").read_text()
    from jtrack.render.table import LABELS

    for label in set(LABELS.values()):
        assert f"`{label}`" in readme, label
    out = _render(["sessions", "--limit", "3"], 140, monkeypatch)
    csv_fields = runner.invoke(app, ["sessions", "--limit", "1", "-f", "csv"]).stdout.split("\n")[0]
    line = out.splitlines()[1]
    assert "created_date (UTC)" in line and "`created_date (UTC)`" in readme  # (times: UTC)
    headers = line.replace(" (UTC)", "").split()
    for h in headers:
        assert h in csv_fields.split(",") or h in LABELS.values(), h


def test_singular_and_plural(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = _render(["sessions", "--where", "id=c7352fd5", "--limit", "1"], 80, monkeypatch)
    assert one.startswith("1 session\n")
    two = _render(["sessions", "--limit", "2"], 80, monkeypatch)
    assert two.startswith("First 2 of 843 sessions\n")
    (world / "one.csv").write_text("contact_id,email\nx1,not-an-email\n")
    res = runner.invoke(app, ["contacts", "--check", "one.csv"])
    assert res.stdout.startswith("1 invalid entry in one.csv\n")
    assert "1 invalid entry (" in res.stderr
    rules = world / "one.toml"
    rules.write_text(
        '[[segment]]\nid = "s"\ncontext = [{ field = "authenticated", operator = "equal", '
        'values = ["true"] }]\n'
    )
    assert (
        "valid: 1 segment, 0 outcomes, 0 action maps"
        in runner.invoke(app, ["rules", "check", str(rules)]).stdout
    )


# ---------------------------------------------------------------------------- the fitting


def _text(df: pl.DataFrame, width: int, **kw: object) -> str:
    return render_to_text(FrameTable(df, "t", **kw), width)  # type: ignore[arg-type]


def test_the_widest_text_column_gives_way_first() -> None:
    df = pl.DataFrame({"id": ["a" * 36], "name": ["Ada Lovelace"], "title": ["x" * 100], "n": [3]})
    out = _text(df, 60)
    assert "Ada Lovelace" in out and "aaaaaaaa" in out and "…" in out
    assert max(len(line) for line in out.splitlines()) <= 60


def test_key_columns_never_lose_characters_when_text_makes_room() -> None:
    df = pl.DataFrame(
        {
            "segment_id": ["seg-newsletter-readers"],
            "display_name": ["Came from the newsletter and read it all"],
            "sessions": [1234567],
            "share_of_sessions": [0.1234],
        }
    )
    out = _text(df, 56)
    assert "seg-newsletter-readers" in out and "1,234,567" in out and "12.3%" in out
    assert "Came from" in out and "…" in out


def test_headers_wrap_between_words_never_inside_one() -> None:
    df = pl.DataFrame({"k": ["x"], "blocked_already_qualified": [1], "blocked_lower_weight": [2]})
    out = _text(df, 24)
    lines = out.splitlines()
    assert any("blocked_" in line for line in lines)
    assert any("qualified" in line for line in lines)
    assert "blocked_already_qualified" not in out


def test_text_columns_are_left_out_only_as_a_last_resort_and_named() -> None:
    df = pl.DataFrame(
        {
            "contact_id": ["C0001"],
            "notes": ["a long free text " * 3],
            "state": ["temporary"],
            "last_seen": [datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC)],
        }
    )
    wide = _text(df, 120)
    assert "2026-10-01 12:00:00" in wide and "not shown" not in wide
    narrow = _text(df, 32)
    assert "C0001" in narrow and "temporary" in narrow and "2026-10-01" in narrow
    assert "not shown at 32 columns: notes" in narrow


def test_key_columns_are_left_out_from_the_right_rather_than_cut() -> None:
    """Twelve columns of ids, times and numbers asked for at 80: once text is gone and
    times show their date only, the rightmost keys are left out and named; every value
    shown is whole (they were folded across lines before)."""
    at = datetime(2026, 10, 1, 1, 30, 16, tzinfo=UTC)
    df = pl.DataFrame(
        {
            "id": ["c7352fd5-e5c2-8663-a370-bc92d7fddd4f"],
            "customer_id": ["652f931c-e845-4f2c-99e6-6cbd84c1ae75"],
            "created_date": [at],
            "ended_date": [at],
            **{f"figure_{i}": [1_234_567 + i] for i in range(8)},
            "type": ["delivery"],
        }
    )
    out = _text(df, 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    row = next(line for line in out.splitlines() if line.startswith("c7352fd5"))
    cells = row.split()
    assert cells[:4] == ["c7352fd5", "652f931c", "2026-10-01", "2026-10-01"]
    assert cells[4:] == [f"1,234,{567 + i}" for i in range(len(cells) - 4)]  # whole
    assert len(cells) > 5
    note = " ".join(out.split("not shown at 80 columns: ")[1].split())
    assert note.startswith("type, figure_7, figure_6")  # the rightmost first


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="0123456789abcdef", min_size=12, max_size=12), min_size=1),
    st.integers(min_value=1, max_value=10),
)
def test_unique_prefixes_are_unique_and_no_shorter_than_asked(ids: list[str], lo: int) -> None:
    k = unique_prefix_length(pl.Series(ids), lo)
    assert k >= lo
    distinct = set(ids)
    assert len({i[:k] for i in distinct}) == len(distinct)
    if k > lo:  # one shorter would not do
        assert len({i[: k - 1] for i in distinct}) < len(distinct)


def test_a_prefix_among_a_directorys_ids_equals_among_all_and_many_shown_read_them_once() -> None:
    """`among` as a lookup (a store's id directories): the same length as against every id;
    with more than 1,000 ids shown, every id is read once (one sort), not prefix by prefix."""
    ids = pl.Series([f"{i * 7919 % 100_003:05x}{i:04x}" for i in range(3_000)])
    calls: list[list[str]] = []

    def lookup(prefixes: list[str]) -> pl.Series:
        calls.append(prefixes)
        return ids.filter(
            ids.to_frame("id")
            .select(pl.any_horizontal([pl.col("id").str.starts_with(p) for p in prefixes]))
            .to_series()
        )

    for shown in (ids.head(5), ids.head(1_500)):
        calls.clear()
        k = unique_prefix_length(shown, 3, among=lookup)
        assert k == unique_prefix_length(shown, 3, among=ids)
        if shown.len() > 1_000:
            assert calls == [[""]]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-(10**15), max_value=10**15), min_size=1, max_size=20))
def test_thousands_separators(values: list[int]) -> None:
    got = pl.DataFrame({"n": values}).select(thousands_expr(pl.col("n")).alias("n"))["n"]
    assert got.to_list() == [f"{v:,}" for v in values]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="0123", min_size=1, max_size=14), min_size=2, unique=True),
    st.data(),
)
def test_a_prefix_among_all_ids_tells_the_shown_ones_apart(
    ids: list[str], data: st.DataObject
) -> None:
    """Against `among` (the store), each shown id's prefix matches no other id."""
    shown = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    k = unique_prefix_length(pl.Series(shown), 3, among=pl.Series(ids))
    for s in shown:
        if len(s) > k:  # an id no longer than k is shown whole
            assert [i for i in ids if i.startswith(s[:k])] == [s], (s, k)


def test_titles_and_cells_are_shown_literally() -> None:
    df = pl.DataFrame({"title": ["[bold]x[/] \x1b[31mred"], "n": [1]})
    out = _text(df.rename({"title": "page_title"}), 80)
    table = FrameTable(df, "in \x1b]0;pwned\x07 [red]file[/]")
    text = render_to_text(table, 80)
    assert "\x1b" not in out + text and "\x07" not in text
    assert "[bold]x[/]" in out and "[red]file[/]" in text


@pytest.mark.parametrize("name", ["sessions", "journey", "report", "usage"])
def test_a_width_of_0_or_not_a_number_never_empties_the_output(
    name: str, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`COLUMNS=0` or `JTRACK_WIDTH=0` printed nothing, exit 0 (Rich took 0 as the width);
    `JTRACK_WIDTH=abc` was an internal error. A $COLUMNS of 0 or not a number is left
    unread (as shutil leaves it); a narrow one is 20; a $JTRACK_WIDTH that is no width of
    20 or more is a config error (exit 2)."""
    args, _ = COMMANDS[name]
    at_80 = _render(args, 80, monkeypatch)
    for columns in ("0", "-1", "abc", ""):
        monkeypatch.setenv("COLUMNS", columns)
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and res.stdout == at_80, (columns, res.stderr)
    monkeypatch.setenv("COLUMNS", "5")
    narrow = runner.invoke(app, args)
    assert narrow.exit_code == 0 and narrow.stdout.strip()
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 30  # (20, and a note)
    for value in ("0", "-5", "abc", "12"):
        monkeypatch.setenv("JTRACK_WIDTH", value)
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and res.stdout == "", (value, res.stdout)
        assert res.stderr.startswith(f"error: JTRACK_WIDTH={value}: not a width jtrack can")


def test_ascii_text_keeps_a_character_s_width() -> None:
    """A table laid out with 東京 (two columns a character) and then written as ASCII put
    one `?` for each: the numbers after it sat columns to the left."""
    from rich.cells import cell_len

    from jtrack.render.text import ascii_text

    for text in (
        "Sale 🎉🔥 jetzt",
        "東京店 ショップ 商品",
        "Ñandú — niño ✓",
        "e\u0301 é",
        "Family 👨\u200d👩\u200d👧\u200d👦 Deals",  # (one cluster of 2 cells: was 8 `?`)
        "❤️ 1️⃣ 🏳️\u200d🌈 ⛺ 🏕️",  # (variation selectors, a keycap, a flag)
    ):
        out = ascii_text(text)
        assert out.isascii() and cell_len(out) == cell_len(text), (text, out)
    assert ascii_text("Größe", "latin-1") == "Größe"
    assert ascii_text("Cafe\u0301", "latin-1") == "Café"  # (composed, which Latin-1 shows)
    # what a cluster took with it that the encoding shows stays: a row's newline, an escape
    # code, a letter after a zero-width joiner (the rows of a table ran together)
    assert ascii_text("東京\nfoo") == "????\nfoo"
    assert ascii_text("東\x1b[31m") == "??\x1b[31m"
    assert ascii_text("a\u200db") == "ab"


def test_a_long_campaign_source_gives_way_before_the_counts() -> None:
    """UTM sources, mediums and countries were kept whole like ids: a 55-character source
    squeezed the Campaigns table down to source and medium, every count left out. They are
    the export's free text: cut with … before a column of numbers goes."""
    long = "facebook_instagram_audience_network_ads_emea_lookalike"
    df = pl.DataFrame(
        {
            "source": [long, "google"],
            "medium": ["paid_social_retargeting", "cpc"],
            "name": ["autumn", "autumn"],
            "sessions": [3, 3],
            "visitors": [3, 3],
        }
    )
    text = render_to_text(FrameTable(df, "Campaigns"), 80)
    assert "not shown" not in text, text
    header = next(line for line in text.splitlines() if line.startswith("source"))
    assert header.split() == ["source", "medium", "name", "sessions", "visitors"]
    assert "facebook_instagram_audienc…" in text and "google" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_short_label_such_as_a_matchs_source_stays_whole_when_narrow() -> None:
    """`source` (rules or export) was left out before the counts at 50 columns once labels
    could be cut: two rows alike. A label stays a key while every value is short."""
    df = pl.DataFrame(
        {
            "segment_id": ["seg-newsletter-readers"] * 2,
            "display_name": ["Newsletter readers"] * 2,
            "source": ["rules", "export"],
            "sessions": [64, 9],
            "visitors": [58, 9],
            "share_of_sessions": [0.0759, 0.0107],
        }
    )
    text = render_to_text(FrameTable(df, "Segments"), 50)
    assert "export" in text and "rules" in text, text


def test_a_note_about_a_column_is_said_only_when_the_table_shows_it() -> None:
    """`jtrack sessions` said how to read `contact_state` under a table too narrow to show
    that column (it was in the "not shown" line)."""
    df = pl.DataFrame({"id": ["c7352fd5"], "title": ["x" * 60], "contact_state": ["temporary"]})
    note = "contact_state as sessionize stored it"
    wide = render_to_text(FrameTable(df, "t", column_notes={"contact_state": note}), 80)
    assert note in wide
    narrow = render_to_text(FrameTable(df, "t", column_notes={"contact_state": note}), 20)
    assert note not in narrow and "contact_state" in narrow  # (named as not shown)


def test_a_key_left_out_for_another_comes_back_when_it_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are left out from the right when a table does not fit; one left out before
    another never came back, though it fit once that other was gone: `id, customer_id,
    contact_id, event_count` with long visitor ids showed id and customer_id alone (double
    width ids, or 42-character ones, make it likely)."""
    from tests.helpers import T0, flat_event, flat_frame

    src = tmp_path / "e.parquet"
    long_id = "お客様クッキー識別子二〇二六年十月版-000"  # (double width: 2 cells a letter)
    flat_frame([flat_event(f"e{i}", f"{long_id}{i}", T0) for i in (1, 2)]).write_parquet(src)
    st = str(tmp_path / "st")
    assert runner.invoke(app, ["sessionize", str(src), "--store", st, "-q"]).exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    res = runner.invoke(
        app, ["sessions", "--store", st, "--columns", "id,customer_id,contact_id,event_count"]
    )
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[1].split() == ["id", "customer_id", "events"]
    assert "not shown at 80 columns: contact_id (" in res.stdout
    assert all(len(line) <= 80 for line in res.stdout.splitlines())


def test_a_terminal_table_shows_the_first_rows_unless_told(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jtrack sessions` (the Quickstart's next step) laid out every session of the store
    through Rich: six minutes and 4 GB for a year's 659,000 sessions before the first line.
    A table on standard output shows the first TABLE_ROWS (here made 25), said in its title
    and a caption; --limit, another format and -o are as asked."""
    import jtrack.commands.contacts as contacts_cmd
    import jtrack.commands.sessions as sessions_cmd

    monkeypatch.setattr(sessions_cmd, "TABLE_ROWS", 25)
    monkeypatch.setattr(contacts_cmd, "TABLE_ROWS", 25)
    out = _render(["sessions", "--traffic", "all"], 100, monkeypatch)
    assert out.startswith("First 25 of 843 sessions\n")
    assert "the first 25: --limit N shows N, -f csv (or -o FILE) every one" in out
    assert len(out.splitlines()) < 40
    out = _render(["sessions", "--traffic", "all", "--limit", "30"], 100, monkeypatch)
    assert out.startswith("First 30 of 843 sessions\n") and "the first 25" not in out
    csv = runner.invoke(app, ["sessions", "--traffic", "all", "-f", "csv"]).stdout
    assert len(csv.splitlines()) == 844
    out = _render(["contacts", "--visitors"], 100, monkeypatch)
    assert out.startswith("First 25 of 300 visitors as of ") and "the first 25: --limit" in out
    out = _render(["contacts", "--contacts", str(SAMPLE / "contacts.csv")], 100, monkeypatch)
    assert "emails, phones and external ids: -f csv" in out and "the first 25: --limit" in out


def test_the_terminal_tables_first_rows_count_what_a_rule_clause_keeps(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--where segments~...` (a rule field, filtered after the rules) the capped
    table said "N sessions" without "First N of", and under fewer sessions than the cap it
    still said it showed the first ones: both count what the rule clause keeps."""
    import jtrack.commands.sessions as sessions_cmd

    monkeypatch.setattr(sessions_cmd, "TABLE_ROWS", 25)
    base = ["sessions", "--traffic", "all", "--rules", RULES]
    every = runner.invoke(app, [*base, "--where", "segments~seg", "-f", "csv"])
    kept = len(every.stdout.splitlines()) - 1
    assert kept > 25
    out = _render([*base, "--where", "segments~seg"], 100, monkeypatch)
    assert out.startswith(f"First 25 of {kept:,} sessions\n") and "the first 25:" in out
    few = runner.invoke(app, [*base, "--where", "segments~seg-cart", "-f", "csv"])
    n = len(few.stdout.splitlines()) - 1
    assert 0 < n < 25
    out = _render([*base, "--where", "segments~seg-cart"], 100, monkeypatch)
    assert out.startswith(f"{n} sessions\n") and "the first 25" not in out


def _table_rows(out: str, headers: list[str]) -> list[tuple[str, ...]]:
    """The rows of the one table in `out` as the whole values of its `headers` columns,
    each header starting its column: a wrapped row (rows a blank line apart) joined back."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(headers[0]))
    starts = [lines[head].index(h) for h in headers] + [None]
    body = []
    for line in lines[head + 2 :]:
        if line.startswith("not shown"):
            break
        body.append(line)
    if any(not line.strip() for line in body):  # rows of several lines, a blank line apart
        blocks: list[list[str]] = [[]]
        for line in body:
            if line.strip():
                blocks[-1].append(line)
            else:
                blocks.append([])
    else:
        blocks = [[line] for line in body]
    return [
        tuple("".join(line[a:b].strip() for line in block) for a, b in itertools.pairwise(starts))
        for block in blocks
    ]


@pytest.mark.parametrize("width", [40, 60])
def test_outcomes_by_segment_keep_both_ids_and_their_figure_when_narrow(
    width: int, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 40 columns `rules report`'s outcomes by segment left out outcome_id, achieved
    and conversion_rate and brought back segment_sessions: `seg-mobile-visitors 313` six
    times, rows that could not be told apart; at 60 it kept both ids and dropped achieved
    and conversion. Both ids stay (wrapped between their parts when they alone do not
    fit, a blank line between rows) and the section's figures go after segment_sessions."""
    args = ["rules", "report", "--rules", RULES, "--section", "outcomes_by_segment"]
    csv = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()[1:]
    want = [(f[1], f[2], f[4]) for f in (line.split(",") for line in csv)]
    out = _render(args, width, monkeypatch)
    assert max(len(line) for line in out.splitlines()) <= width
    assert _table_rows(out, ["segment_id", "outcome_id", "achieved"]) == want
    assert "achieved" in out and "segment_sessions" in " ".join(out.split("not shown")[1:])


@pytest.mark.parametrize("width", [40, 60])
def test_a_label_never_wraps_under_or_after_its_value(
    width: int, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 40 columns `usage` printed `projected        7,412` and `overage` on the next line
    (read line by line, "projected 7,412" looked like the projection), `in the 3,955` then
    `period`; `report` `known /  103 / 740` then `Unknown`; `store` (also at 60) wrapped
    its header lines back to column 0 (`contacts:` then the path). Labels stay whole
    beside their figures; a note or a long value goes on indented lines."""
    usage = ["usage", "--month", "2026-10", "--users", "1", "--per-user", "1000"]
    out = _render([*usage, "--as-of", "2026-10-15T00:00Z"], width, monkeypatch)
    lines = out.splitlines()
    for label in ("projected overage", "  in the period", "  outside the period", "overage"):
        assert any(re.match(f"{label} +[-\\d,]+( |$)", line) for line in lines), (label, out)
    assert not any(line.strip() in ("overage", "period") for line in lines), out
    out = _render(["report"], width, monkeypatch)
    assert any(re.match(r"known / Unknown +[\d,]+ / [\d,]+", line) for line in out.splitlines())
    assert not any(re.match(r"Unknown +visitors", line) for line in out.splitlines()), out
    out = _render(["store"], width, monkeypatch)
    head = out.split("\n\n")[0].splitlines()
    assert all(line.startswith(" ") for line in head[1:]), out  # (nothing back at column 0)
    assert all(len(line) <= width for line in out.splitlines())


@pytest.mark.parametrize(
    ("first", "width"), [("segment_id", 40), ("outcome_id", 60), ("action_map_id", 80)]
)
def test_a_tables_first_column_is_kept_and_wraps_when_it_alone_does_not_fit(
    first: str, width: int
) -> None:
    """`report`'s Segments at 40 columns showed `sessions visitors` rows of bare figures
    and `not shown at 40 columns: segment_id` (an outcome id of 69 characters at 60 columns
    likewise, display_name kept and outcome_id dropped; an action map id; a 147-character
    segment id at 80 and 140). The first column, which tells the rows apart, stays: the
    figures go first, and where it alone does not fit it wraps after its own `-`."""
    long = "-".join(["part"] * ((width + 10) // 5)) + "-end"
    df = pl.DataFrame(
        {
            first: [long, "seg-uk-visitors"],
            "display_name": ["A name of some length here", "Short"],
            "sessions": [1234, 1],
            "visitors": [567, 1],
        }
    )
    out = render_to_text(FrameTable(df, "Title"), width)
    assert max(len(line) for line in out.splitlines()) <= width
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) == {"─"})
    body = [line for line in lines[rule + 1 :] if not line.startswith("not shown")]
    blocks = "\n".join(body).split("\n\n") if "" in body else body
    rows = [
        ("".join(line.split()[0] for line in b.splitlines()), *b.splitlines()[0].split()[-2:])
        for b in blocks
    ]
    assert rows == [(long, "1,234", "567"), ("seg-uk-visitors", "1", "1")]
    assert lines[rule - 1].startswith(first) or lines[rule - 2].startswith(first[:8])


@pytest.mark.parametrize("width", [20, 22, 24, 26])
def test_a_figure_beside_its_label_is_never_cut(
    width: int, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 24 columns `report` printed `sessions 8` (really 843), `visitors 3` (300),
    `page views 2,9`, `duration 0:04:`; at 20 `usage --summary` printed `month 2026-10  3`
    (3,799) and its automated and rows-read figures were gone: a label and its figure were
    one line cut at the line's end. Every figure shows whole, beside its label where both
    fit, else on the line under it."""
    usage = ["usage", "--summary", "--month", "2026-10", "--as-of", AS_OF, "--users", "1"]
    usage += ["--per-user", "1000"]
    csv = runner.invoke(app, [*usage, "-f", "csv"]).stdout.splitlines()
    fields = dict(zip(*(row.split(",") for row in csv[:2]), strict=True))
    out = _render(usage, width, monkeypatch)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), out

    def figure(label: str) -> str:
        i = next(i for i, line in enumerate(lines) if line.startswith(label))
        rest = lines[i][len(label) :].strip() or lines[i + 1].strip()
        return rest.replace(",", "")

    assert figure("month 2026-10") == fields["month_to_date"]
    assert figure("automated") == fields["automated"]
    assert figure("rows read") == fields["rows_read"]
    assert figure("projected overage") == fields["projected_overage"]
    out = _render(["report", "--month", "2026-10"], width, monkeypatch)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), out
    assert re.search(r"^sessions +[\d,]{3,}$", out, re.M), out
    assert re.search(r"^duration +\d:\d\d:\d\d$", out, re.M), out


def test_outcomes_by_segment_at_20_columns_break_their_ids_between_parts(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 20 columns `rules report`'s outcomes by segment folded its row keys inside a part
    (`seg-mobil` then `e-`): the row keys' narrowest widths added up to more than the line,
    and Rich narrowed them again. Each row key gets its share of the line, and a part that
    fits it is never broken (`seg-`, `mobile-`, `visitors`)."""
    args = ["rules", "report", "--rules", RULES, "--section", "outcomes_by_segment"]
    csv = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()[1:]
    want = [(f[1], f[2]) for f in (line.split(",") for line in csv)]
    out = _render(args, 20, monkeypatch)
    lines = out.splitlines()
    assert all(len(line) <= 20 for line in lines), out
    head = next(i for i, line in enumerate(lines) if line.startswith("segment_"))
    one_header = "\n".join(lines[: head + 1] + lines[head + 2 :])  # (`segment_`, then `id`)
    assert _table_rows(one_header, ["segment_", "outcome_"]) == want
    keys = {line[: lines[head].index("outcome_")].strip() for line in lines[head + 3 :]}
    assert {"seg-", "mobile-", "visitors"} <= keys and "seg-mobil" not in keys, out
