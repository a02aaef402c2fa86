"""Loading and validating rules files: every problem at once, with its line and a fix."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from jtrack.core.rules import RulesError, check_rules, check_text, load_rules, parse_rules
from jtrack.core.rules.locate import KeyLocator
from jtrack.errors import ConfigError, ExitCode, FileAccessError
from tests.test_rules_helpers import write_rules

SAMPLE_RULES = Path(__file__).resolve().parent.parent / "sample_data" / "jtrack.toml"


def line_of(text: str, marker: str) -> int:
    """The 1-based line of the first line containing `marker`."""
    for i, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(marker)


def test_the_sample_rules_file_is_valid_and_realistic() -> None:
    rules, problems, path = check_rules(SAMPLE_RULES)
    assert problems == [] and path == SAMPLE_RULES and rules is not None
    assert len(rules.segments) >= 5 and len(rules.outcomes) >= 4 and len(rules.action_maps) >= 3
    assert any(not s.active for s in rules.segments)
    assert any(not s.shown_to_agents for s in rules.segments)
    assert any(m.start_date for m in rules.action_maps)
    assert any(m.activity for m in rules.action_maps) and any(m.segments for m in rules.action_maps)


BROKEN = textwrap.dedent(
    """\
    [usage]
    allowance = 1000

    [[segmnet]]
    id = "typo-section"

    [[segment]]
    id = "seg-mobile"
    dispaly_name = "Mobile"
    color = "blue"
    context = [
      { field = "device.categroy", operator = "equals", values = ["mobile"] },
      { field = "eventName", operator = "equal", values = ["x"] },
    ]

    [[segment]]
    id = "seg-big"
    [[segment.pattern]]
    count = 0
    conditions = [
      { field = "attributes.price", operator = "greaterThan", values = ["lots"] },
      { field = "page.titel", operator = "startWith", values = "Shoes" },
      { field = "page.url", operator = "equal", values = [], ignoreCase = true },
    ]

    [[segment]]
    id = "seg-mobile"
    context = [{ field = "device.type", operator = "lessThan", values = [1, 2] }]

    [[outcome]]
    id = "out-none"

    [[action_map]]
    id = "am-both"
    weight = 5
    segments = ["seg-mobil"]
    [[action_map.activity]]
    conditions = [{ field = "eventName", operator = "equal", values = ["x"] }]
    page_url = [{ operator = "equal", values = ["/x"] }]

    [[action_map]]
    id = "am-none"
    start_date = 2026-10-05
    end_date = 2026-10-01
    page_url = [{ field = "page.title", operator = "equal", values = ["x"] }]
    """
)

# (a marker on the expected line, a piece of the message, a piece of the hint); a problem
# with a whole table points at its [[header]]
EXPECTED = [
    ("allowance = 1000", "unknown key 'allowance'", "valid keys: users, per_user, billable, tz"),
    ("[[segmnet]]", "unknown section 'segmnet'", "did you mean [[segment]]?"),
    ("dispaly_name", "unknown key 'dispaly_name'", "did you mean 'display_name'?"),
    ('color = "blue"', "color must be #RRGGBB", "#1E88E5"),
    ("device.categroy", "unknown visitor-context field 'device.categroy'", "'device.category'"),
    ('operator = "equals"', "unknown operator 'equals'", "did you mean 'equal'?"),
    ('field = "eventName", operator = "equal", values = ["x"] },', "is an event field", "pattern"),
    ("count = 0", "count must be a whole number >= 1", None),
    ('values = ["lots"]', "greaterThan needs a number, 'lots' is not one", None),
    ("page.titel", "unknown event field 'page.titel'", "did you mean 'page.title'?"),
    ('operator = "startWith"', "unknown operator 'startWith'", "did you mean 'startsWith'?"),
    ('values = "Shoes"', "values must be a list", 'values = ["Shoes"]'),
    ("ignoreCase", "unknown key 'ignoreCase'", "did you mean 'ignore_case'?"),
    ("values = [], ignoreCase", "values is empty", None),
    ('id = "seg-mobile"#2', "duplicate id 'seg-mobile'", None),
    ("values = [1, 2]", "lessThan compares with exactly one number, got 2", None),
    ("[[outcome]]", "outcome has no stages", "[[outcome.stage]]"),
    ("weight = 5", "weight must be a whole number 1..3, not 5", None),
    ('segments = ["seg-mobil"]', "unknown segment 'seg-mobil'", "did you mean 'seg-mobile'?"),
    ("[[action_map]]", "both segments and activity", "not both"),
    ('page_url = [{ operator = "equal"', "unknown key 'page_url'", "move page_url above it"),
    ("[[action_map]]#2", "action map has no trigger", None),
    ("end_date = 2026-10-01", "end_date is not after start_date", None),
    ('{ field = "page.title"', "page_url conditions test the page URL only", None),
]


def _marker_line(marker: str) -> int:
    """A marker's line; `marker#n`: the line of its n-th occurrence."""
    if "#" in marker and marker.rsplit("#", 1)[1].isdigit():
        text, n = marker.rsplit("#", 1)
        lines = [i for i, line in enumerate(BROKEN.splitlines(), 1) if text in line]
        return lines[int(n) - 1]
    return line_of(BROKEN, marker)


def test_every_problem_is_reported_at_once_with_its_line_and_a_fix() -> None:
    rules, problems = check_text(BROKEN, "broken.toml")
    assert rules is None
    found = [(p.line, p.message, p.hint or "") for p in problems]
    for marker, message, hint in EXPECTED:
        hits = [f for f in found if message in f[1]]
        assert hits, f"no problem says {message!r}: {found}"
        line, _, got_hint = hits[0]
        assert line == _marker_line(marker), (message, line)
        if hint:
            assert hint in got_hint, (message, got_hint)
    assert len(problems) == len(EXPECTED), [str(p) for p in problems]


def test_problems_read_as_file_line_rule_key_message_hint() -> None:
    _, problems = check_text(BROKEN, "broken.toml")
    text = [str(p) for p in problems]
    line = line_of(BROKEN, 'operator = "equals"')
    assert (
        f"broken.toml:{line}: segment[1] 'seg-mobile': context[1].operator: unknown operator "
        "'equals' (hint: did you mean 'equal'?" in "\n".join(text)
    )


def test_a_wrong_type_is_reported_once_where_it_is() -> None:
    text = textwrap.dedent(
        """\
        [[segment]]
        display_name = 3
        context = "x"
        [[segment.pattern]]
        conditions = "y"
        [[action_map]]
        id = "m"
        segments = ["s"]
        page_url = 3
        [[outcome]]
        id = 5
        [[outcome.stage]]
        conditions = [{ field = "eventName", operator = "equal", values = ["x"], extra = 1 }]
        """
    )
    _, problems = check_text(text, "x.toml")
    assert [(p.line, p.where, p.message) for p in problems] == [
        (1, "segment[1]", "missing 'id'"),
        (2, "segment[1].display_name", "display_name must be a non-empty string, not 3"),
        (3, "segment[1].context", "context must be a list, not str"),
        (5, "segment[1].pattern[1].conditions", "conditions must be a list, not str"),
        (8, "action_map[1] 'm': segments[1]", "unknown segment 's'"),
        (9, "action_map[1] 'm': page_url", "page_url must be a list, not int"),
        (11, "outcome[1].id", "id must be a non-empty string, not 5"),
        (13, "outcome[1].stage[1].conditions[1].extra", "unknown key 'extra'"),
    ]


def test_invalid_toml_is_one_problem_with_the_line_number() -> None:
    rules, problems = check_text('[[segment]]\nid = "x\n', "bad.toml")
    assert rules is None and len(problems) == 1
    assert problems[0].line == 2 and "not valid TOML" in problems[0].message


def test_toml_cut_short_names_the_last_line() -> None:
    """An unclosed bracket runs to the end: TOML says "at end of document", no line; the
    problem names the last line rather than none (its hint speaks of "that line")."""
    _, problems = check_text('[[segment]]\nid = "x"\nx = [\n', "bad.toml")
    assert len(problems) == 1 and problems[0].line == 3


def test_a_segment_needs_conditions_and_numbers_accept_toml_numbers_or_text() -> None:
    _, problems = check_text('[[segment]]\nid = "empty"\n', "x.toml")
    assert [p.message for p in problems] == ["segment has no conditions"]
    rules = parse_rules(
        """
        [[segment]]
        id = "n"
        context = [
          { field = "visitNumber", operator = "greaterThan", values = [1] },
          { field = "visitNumber", operator = "lessThan", values = ["2.5e1"] },
          { field = "authenticated", operator = "equal", values = [true] },
        ]
        """.replace("\n        ", "\n")
    )
    assert [c.values for c in rules.segments[0].context] == [("1",), ("2.5e1",), ("true",)]


def test_load_rules_raises_one_line_naming_the_first_problem_and_the_count(tmp_path: Path) -> None:
    path = write_rules(tmp_path, BROKEN, "broken.toml")
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert isinstance(err.value, ConfigError) and err.value.exit_code == ExitCode.USAGE
    assert f"and {len(EXPECTED) - 1} more" in str(err.value)
    assert "jtrack rules check" in str(err.value) and "\n" not in str(err.value)
    assert len(err.value.problems) == len(EXPECTED)


def test_rules_are_found_by_name_env_var_or_in_the_working_directory(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_rules(None) is None
    write_rules(in_tmp, '[[segment]]\nid = "cwd"\ncontext = [{ field = "ipOrganization", '
                'operator = "equal", values = ["x"] }]\n')  # fmt: skip
    found = load_rules(None)
    assert found is not None and found.segments[0].id == "cwd"
    other = write_rules(in_tmp, SAMPLE_RULES.read_text(), "other.toml")
    monkeypatch.setenv("JTRACK_CONFIG", str(other))
    env_rules = load_rules(None)
    assert env_rules is not None and len(env_rules.segments) > 1
    with pytest.raises(FileAccessError, match="no such rules file"):  # exit 1
        load_rules(in_tmp / "missing.toml")


def test_other_sections_of_jtrack_toml_are_left_to_their_owners_but_not_their_names() -> None:
    """The values of [usage] and [card] are their commands' to check; an unknown name there
    is a problem for every command that reads the config (a typo must not be read as
    nothing)."""
    rules, problems = check_text(
        '[usage]\nusers = 25\n[card.colors]\n"video_*" = "positive"\n'
        "[roles.agent]\npermissions = []\n",
        "j.toml",
    )
    assert problems == [] and rules is not None and rules.segments == ()
    _, problems = check_text("[usage]\nallowance = 5\n[card]\nwidth = 80\n", "j.toml")
    assert [p.where for p in problems] == ["usage.allowance", "card.width"]


def test_the_locator_finds_keys_in_tables_inline_tables_and_multiline_arrays() -> None:
    text = textwrap.dedent(
        """\
        # a comment with [[brackets]] and "quotes"
        title = "a # not a comment [x]"
        [[segment]]
        id = 'one'
        [[segment]]
        id = "two"
        context = [
          { field = "a", values = ["]", "}"] },   # tricky strings
          {
            field = "b" },
        ]
        [[segment.pattern]]
        conditions = [{ field = "c" }]
        [[segment.pattern]]
        count = 2
        text = \"\"\"
        [[segment]]
        \"\"\"
        [[outcome]]
        id = "o"
        """
    )
    loc = KeyLocator(text)
    assert loc.line(("segment", 0, "id")) == 4
    assert loc.line(("segment", 1)) == 5
    assert loc.line(("segment", 1, "context", 0, "field")) == 8
    assert loc.line(("segment", 1, "context", 1)) == 9
    assert loc.line(("segment", 1, "context", 1, "field")) == 10
    assert loc.line(("segment", 1, "pattern", 0, "conditions", 0, "field")) == 13
    assert loc.line(("segment", 1, "pattern", 1, "count")) == 15
    assert loc.line(("outcome", 0, "id")) == 20
    assert loc.line(("segment", 1, "pattern", 1, "nothing", 3)) == 14  # longest known prefix


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("IGNORE-CASE", "ignore_case"),
        ("ignorecase", "ignore_case"),
    ],
)
def test_an_api_or_case_spelling_of_a_key_is_named_for_what_it_means(
    written: str, meant: str
) -> None:
    cond = f'field = "device.category", operator = "equal", values = ["x"], "{written}" = true'
    text = f'[[segment]]\nid = "s"\ndisplay_name = "S"\ncontext = [{{ {cond} }}]\n'

    _, problems = check_text(text, "r.toml")
    assert [(p.message, p.hint) for p in problems] == [
        (
            f"unknown key {written!r}",
            f"did you mean {meant!r}? valid keys: field, operator, values, ignore_case",
        )
    ]


def test_genesys_should_ignore_case_is_taken_as_ignore_case() -> None:
    """A condition copied from Genesys (`shouldIgnoreCase = true`) was "unknown key
    'shouldIgnoreCase'"; both names at once is a problem naming them."""
    condition = 'field = "geolocation.country", operator = "equal", values = ["gb"]'
    text = (
        '[[segment]]\nid = "seg-gb"\ndisplay_name = "GB"\n'
        f"context = [{{ {condition}, shouldIgnoreCase = true }}]\n"
    )
    rules = parse_rules(text)
    (cond,) = rules.segments[0].context
    assert cond.ignore_case is True
    _, problems = check_text(text.replace("true }", "true, ignore_case = false }"), "x.toml")
    assert len(problems) == 1 and "both ignore_case and shouldIgnoreCase" in str(problems[0])


def test_a_bad_should_ignore_case_is_named_as_written_at_its_line() -> None:
    """`shouldIgnoreCase = "yes"` was reported as `ignore_case`, a key the file does not
    hold, at the table's header line."""
    text = (
        '[[segment]]\nid = "s"\ndisplay_name = "S"\n\n[[segment.context]]\n'
        'field = "geolocation.country"\noperator = "equal"\nvalues = ["gb"]\n'
        'shouldIgnoreCase = "yes"\n'
    )
    _, problems = check_text(text, "r.toml")
    assert [(p.line, p.message) for p in problems] == [
        (9, "shouldIgnoreCase must be true or false, not 'yes'")
    ]


def test_every_problem_of_a_file_comes_with_a_hint() -> None:
    """Problems of type and shape (`active = "yes"`, `weight = "3"`, `[segment.pattern]`
    with one bracket, a date value, an end before the start) came with no hint."""
    text = textwrap.dedent(
        """\
        [[segment]]
        id = ""
        active = "yes"
        [segment.pattern]
        conditions = [{ field = "eventName", operator = "equal", values = ["a"] }]

        [[segment]]
        id = "s2"
        context = [
          { field = "device.category", operator = "equal", values = [2026-10-01] },
          { field = "device.type", operator = "equal", values = ["x"], shouldIgnoreCase = "no" },
        ]

        [[outcome]]
        id = 5
        value_attribute = 7
        [[outcome.stage]]
        count = 0
        conditions = [{ field = "eventName", operator = "equal", values = ["b"] }]

        [[action_map]]
        id = "m"
        weight = "3"
        segments = "s2"
        start_date = 2026-10-05T10:00:00
        end_date = 2026-10-04
        page_url = { operator = "equal", values = ["x"] }
        """
    )
    _, problems = check_text(text, "x.toml")
    assert len(problems) >= 10
    assert [p for p in problems if not p.hint] == []
    said = {p.message.split(" must ")[0]: p.hint for p in problems}
    assert said["pattern"] == "write [[segment.pattern]] (two brackets: one table for each pattern)"
    assert said["weight"] == "write a number without quotes, e.g. weight = 1"
    assert said["segments"] == 'write segments = ["s2"]'
    assert said["active"] == "write true or false, without quotes"
    assert any(p.hint == 'quote it: "2026-10-01"' for p in problems)


def test_a_condition_list_given_as_text_or_a_table_is_shown_its_form() -> None:
    """`context = "device.category"` was told to write `context = ["device.category"]`,
    which is refused in turn: the hint shows a list of condition tables; a number out of
    range is not told to drop its quotes."""
    text = textwrap.dedent(
        """\
        [[segment]]
        id = "s"
        context = "device.category"
        [[action_map]]
        id = "m"
        weight = 5
        segments = ["s"]
        page_url = "/cart"
        """
    )
    _, problems = check_text(text, "x.toml")
    hints = {p.where.rsplit(": ", 1)[-1]: p.hint for p in problems}
    assert (
        hints["context"]
        == 'write context = [{ field = "...", operator = "equal", values = ["..."] }]'
    )
    assert hints["page_url"] == 'write page_url = [{ operator = "equal", values = ["..."] }]'
    assert hints["weight"] == "write a whole number from 1 to 3"
    assert not [p for p in problems if p.message == "segment has no conditions"]  # (said)
    _, problems = check_text('[[segment]]\nid = "s"\npattern = "eventName"\n', "y.toml")
    assert [p.hint for p in problems] == [
        "write [[segment.pattern]] (two brackets: one table for each pattern)"
    ]


def test_a_segment_with_an_empty_context_has_no_conditions() -> None:
    """`context = []` alone passed `rules check` (the segment then matched every session)
    once a wrong `context` no longer also said "no conditions"."""
    _, problems = check_text('[[segment]]\nid = "s"\ncontext = []\n', "z.toml")
    assert [p.message for p in problems] == ["segment has no conditions"]


def test_a_typo_in_usage_or_card_is_an_error_for_every_command_and_rules_check(
    tmp_path: Path,
) -> None:
    """`per_usr = 10000` in [usage] was read by `report`, `card`, `contacts`, ... as no
    allowance, silently (only `usage` said so), and `rules check` called a config with
    `[card] colours` or a tone `positiv` valid, which `card` then refused."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    runner = CliRunner()
    res = runner.invoke(app, ["sessionize", str(sample / "events.parquet"), "--store", st, "-q"])
    assert res.exit_code == 0, res.stderr
    bad = {
        "[usage]\nusers = 25\nper_usr = 10000\n": "usage.per_usr: unknown key 'per_usr' "
        "(hint: did you mean 'per_user'?",
        "[card]\ncolours = {}\n": "card.colours: unknown key 'colours' (hint: did you mean "
        "'colors'?",
        '[card.colors]\n"video_*" = "positiv"\n': "card.colors.video_*: 'positiv' is not a tone",
    }
    for i, (text, said) in enumerate(bad.items()):
        cfg = tmp_path / f"c{i}.toml"
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(said)):
            load_rules(cfg)
        for cmd in (
            ["report", "--store", st, "--config", str(cfg)],
            ["contacts", "--store", st, "--config", str(cfg)],
            ["card", "c7352fd5", "--store", st, "--config", str(cfg)],
            ["rules", "check", str(cfg)],
        ):
            res = runner.invoke(app, cmd)
            assert res.exit_code == ExitCode.USAGE, (cmd, res.stderr)
            assert said in res.stderr, (cmd, res.stderr)


NEVER = textwrap.dedent(
    """\
    [[segment]]
    id = "s-auth"
    context = [{ field = "authenticated", operator = "equal", values = ["yes"] }]  # auth
    [[segment]]
    id = "s-country"
    context = [
      { field = "geolocation.country", operator = "equal", values = ["DE", "Germany"] },  # ctry
    ]
    [[segment]]
    id = "s-dev"
    context = [{ field = "device.category", operator = "notEqual", values = ["phone"] }]  # dev
    [[segment]]
    id = "s-ref"
    context = [{ field = "referrer.medium", operator = "equal", values = ["google"] }]  # ref
    [[segment]]
    id = "s-kind"
    [[segment.pattern]]
    conditions = [{ field = "eventName", operator = "equal", values = ["page_view"] }]  # kind
    [[segment]]
    id = "s-empty"
    [[segment.pattern]]
    conditions = [{ field = "searchQuery", operator = "containsAny", values = ["x", ""] }]  # empty
    [[segment]]
    id = "s-range"
    [[segment.pattern]]
    conditions = [
      { field = "attributes.price", operator = "greaterThan", values = [100] },
      { field = "attributes.price", operator = "lessThan", values = [50] },  # range
    ]
    [[outcome]]
    id = "o-both"
    [[outcome.stage]]
    conditions = [
      { field = "eventName", operator = "equal", values = ["page_viewed"] },
      { field = "eventName", operator = "equal", values = ["product_added"] },  # both
    ]
    """
)

FINE = textwrap.dedent(
    """\
    [[segment]]
    id = "ok"
    context = [
      { field = "authenticated", operator = "equal", values = [true] },
      { field = "geolocation.country", operator = "equal", values = ["de"], ignore_case = true },
      { field = "device.category", operator = "equal", values = ["Mobile"], ignore_case = true },
      { field = "visitNumber", operator = "equal", values = [1] },
    ]
    [[segment]]
    id = "ok-as-sent"
    context = [
      { field = "visitNumber", operator = "notEqual", values = [2.0] },
      { field = "device.category", operator = "equal", values = ["Mobile", ""] },
      { field = "referrer.medium", operator = "notEqual", values = [""] },
      { field = "geolocation.country", operator = "equal", values = ["gb"] },
      { field = "authenticated", operator = "equal", values = ["True"] },
    ]
    [[segment.pattern]]
    conditions = [
      { field = "attributes.price", operator = "greaterThanOrEqual", values = [50] },
      { field = "attributes.price", operator = "lessThanOrEqual", values = [50] },
      { field = "eventName", operator = "equal", values = ["a", "b"] },
      { field = "eventName", operator = "equal", values = ["b", "c"] },
      { field = "attributes.n", operator = "equal", values = [129.90] },
      { field = "attributes.n", operator = "equal", values = ["129.9"] },
      { field = "eventName", operator = "startsWith", values = ["page_view"] },
      { field = "page.title", operator = "equal", values = ["Cafe\u0301 Noir"] },
      { field = "page.title", operator = "equal", values = ["Caf\u00e9 Noir"] },
    ]
    """
)


def test_rules_that_never_or_always_match_are_warned_of_at_their_line() -> None:
    """(FINE: what the export may send in another case, an empty value (the missing one) for
    equal/notEqual, a number written 2.0, `startsWith page_view`, one title composed and
    decomposed: no warning; the review found each warned of falsely.)

    `rules check` passed rules that can never match (authenticated "True", a country's
    name, "Mobile", `page_view` (Genesys' name is page_viewed), price > 100 and < 50, two
    disjoint `equal` on one field) or always match (containsAny ""): each is a warning
    (the rules load) at its line, from a table of the values the export holds."""
    warnings: list = []
    rules, problems = check_text(NEVER, "r.toml", warnings=warnings)
    assert problems == [] and rules is not None
    got = {w.line: str(w) for w in warnings}
    for marker, said in (
        ("# auth", "'yes' never matches (hint: write a value it holds)"),
        ("# ctry", "'Germany' never matches"),
        ("# dev", "'phone' always holds"),
        ("# ref", "'google' never matches"),
        ("# kind", "the export's eventName is 'page_viewed'"),
        ("# empty", "containsAny matches every value"),
        ("# range", "no number is greaterThan 100 and lessThan 50"),
        ("# both", "one value cannot be both"),
    ):
        line = line_of(NEVER, marker)
        assert said in got.pop(line, ""), (marker, got)
        assert f"r.toml:{line}: " in str(next(w for w in warnings if w.line == line))
    assert got == {}  # ("DE" of the same condition is no warning)
    fine: list = []
    assert check_text(FINE, warnings=fine)[1] == [] and fine == []
    for op, said in (("containsAll", "matches every value"), ("notContainsAll", "matches no")):
        alone: list = []
        text = '[[segment]]\nid = "a"\n[[segment.pattern]]\nconditions = [{ field = "page.url",'
        text += f' operator = "{op}", values = [""] }}]\n'
        assert check_text(text, warnings=alone)[1] == []
        assert [said in str(w) for w in alone] == [True], (op, [str(w) for w in alone])
    empty: list = []
    assert check_text("# nothing yet\n", "e.toml", warnings=empty)[1] == []
    assert [str(w) for w in empty] == [
        "e.toml: no rules: no [[segment]], [[outcome]] or [[action_map]] table "
        "(hint: see sample_data/jtrack.toml for an example)"
    ]


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        ("shouldDisplayToAgent = false", "did you mean 'shown_to_agents'?"),
        ("isActive = true", "did you mean 'active'?"),
        ('displayName = "X"', "did you mean 'display_name'?"),
        (
            'scope = "customer"',
            "scope 'customer': jtrack matches segments per session (Genesys' customer scope",
        ),
        (
            'context = [{ key = "device.category", operator = "equal", values = ["mobile"] }]',
            "unknown key 'key' (hint: did you mean 'field'?",
        ),
        (
            'context = [{ field = "utm_source", operator = "equal", values = ["x"] }]',
            "did you mean 'mktCampaign.source'?",
        ),
        (
            'context = [{ field = "device.isMobile", operator = "equal", values = [true] }]',
            "did you mean 'device.category'?",
        ),
        (
            'context = [{ field = "referrer.domain", operator = "equal", values = ["x"] }]',
            "did you mean 'referrer.hostname'?",
        ),
        (
            'context = [{ field = "mktCampaign.clickId", operator = "equal", values = ["x"] }]',
            "jtrack has none; campaign fields: mktCampaign.source|",
        ),
        (
            "[[segment.pattern]]\n"
            'conditions = [{ field = "geolocation.countryCode", operator = "equal", '
            'values = ["DE"] }]',
            "'geolocation.countryCode' is a visitor-context field (jtrack's "
            "'geolocation.country') (hint: test field = \"geolocation.country\" in the "
            "segment's context",
        ),
        (
            "[[segment.pattern]]\n"
            'conditions = [{ field = "referrer.domain", operator = "equal", values = ["x"] }]',
            'test field = "referrer.hostname" in the segment\'s context',
        ),
        (
            'context = [{ field = "device.type", operator = "lt", values = ["1"] }]',
            "did you mean 'lessThan'?",
        ),
    ],
)
def test_names_met_in_genesys_or_elsewhere_get_jtracks_name(lines: str, said: str) -> None:
    """Genesys' API names (shouldDisplayToAgent, isActive, a condition's `key`, scope),
    UTM and API field names (utm_source, device.isMobile, referrer.domain,
    geolocation.countryCode in a pattern) got no hint, a wrong one (page.domain), or a
    second line ("missing 'field'"): one problem each, naming jtrack's."""
    text = f'[[segment]]\nid = "s"\n{lines}\n'
    if "context" not in lines and "pattern" not in lines:
        text += 'context = [{ field = "device.type", operator = "equal", values = ["x"] }]\n'
    _, problems = check_text(text, "r.toml")
    assert len(problems) == 1 and said in str(problems[0]), problems


def test_an_attribute_name_is_checked_alike_in_conditions_and_value_attribute() -> None:
    """`attributes.price.Value` said "no attribute name"; value_attribute = "attributes."
    was taken (a blank total). An attribute named with a space or a dot (`order total`,
    `order.sum`), which an export may carry, stays a value attribute (the review: refusing
    it stopped a rules file that worked)."""
    stage = 'conditions = [{ field = "eventName", operator = "equal", values = ["x"] }]'
    rules = parse_rules(
        '[[segment]]\nid = "s"\n[[segment.pattern]]\nconditions = [{ field = '
        '"attributes.price.Value", operator = "greaterThan", values = [1] }]\n'
        f'[[outcome]]\nid = "o"\nvalue_attribute = "attributes.price.Value"\n'
        f"[[outcome.stage]]\n{stage}\n"
    )
    assert rules.segments[0].patterns[0].conditions[0].attribute == "price"
    assert rules.outcomes[0].value_attribute == "price"
    for bad, said in (("attributes.", "no attribute name"), ("  ", "non-empty")):
        text = f'[[outcome]]\nid = "o"\nvalue_attribute = "{bad}"\n[[outcome.stage]]\n{stage}\n'
        _, problems = check_text(text, "r.toml")
        assert [(p.line, p.where) for p in problems] == [(3, "outcome[1] 'o': value_attribute")]
        assert said in problems[0].message
    for name, kept in (("order total", "order total"), ("attributes.order.sum", "order.sum")):
        text = f'[[outcome]]\nid = "o"\nvalue_attribute = "{name}"\n[[outcome.stage]]\n{stage}\n'
        got, problems = check_text(text, "r.toml")
        assert problems == [] and got is not None
        assert got.outcomes[0].value_attribute == kept


def test_a_config_error_met_by_any_command_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`./jtrack.toml` with `[[segmnet]]`: `card` and `sessions` said "jtrack.toml: segmnet:
    unknown section" with no line, where `rules check` said jtrack.toml:3."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    st = str(tmp_path / "st")
    runner = CliRunner()
    res = runner.invoke(app, ["sessionize", str(sample / "events.parquet"), "--store", st, "-q"])
    assert res.exit_code == 0, res.stderr
    (tmp_path / "jtrack.toml").write_text('[usage]\nusers = 2\n[[segmnet]]\nid = "x"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JTRACK_CONFIG", raising=False)
    said = "jtrack.toml:3: segmnet: unknown section 'segmnet'"
    for cmd in (["card", "c7352fd5", "--store", st], ["sessions", "--store", st]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == ExitCode.USAGE and said in res.stderr, (cmd, res.stderr)
    assert said in runner.invoke(app, ["rules", "check"]).stderr


def test_toml_errors_say_what_a_rules_author_did() -> None:
    """A condition's inline table over several lines was "Invalid initial character for a
    key part ... check quoting and brackets"; a YAML file "Expected '=' after a key": the
    one line an inline table needs (and the [[...]] form that spans lines), and that
    rules are TOML."""
    text = textwrap.dedent(
        """\
        [[segment]]
        id = "a"
        [[segment.pattern]]
        conditions = [
          { field = "eventName",
            operator = "equal", values = ["x"] },
        ]
        """
    )
    _, (problem,) = check_text(text, "r.toml")
    assert problem.line == 5 and "an inline table { ... } is not closed on its own line" in str(
        problem
    )
    assert "[[segment.pattern.conditions]] then field = ..." in str(problem)
    # (which is TOML that reads as those conditions)
    fixed = text.split("conditions = [")[0] + (
        '[[segment.pattern.conditions]]\nfield = "eventName"\noperator = "equal"\nvalues = ["x"]\n'
    )
    rules = parse_rules(fixed)
    assert rules.segments[0].patterns[0].conditions[0].values == ("x",)
    for name, kind in (("rules.yaml", "YAML"), ("rules.yml", "YAML"), ("rules.json", "JSON")):
        _, (problem,) = check_text("segment:\n  - id: s\n", name)
        assert f"the file is {kind} by its name, and jtrack's rules and config are TOML" in str(
            problem
        )
    _, (problem,) = check_text('[[segment]]\nid = "a\n', "r.toml")
    assert "check quoting and brackets on that line" in str(problem)
