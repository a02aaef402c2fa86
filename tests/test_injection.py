"""Output injection: data typed by visitors never acts on the person reading the output.

A store is built from the injection corpus (tests/make_corpus.py: Rich markup, ANSI/OSC/C1
escapes, bidi overrides, HTML and <script>, spreadsheet formulas, Markdown pipes and links in
every visitor-typed field, visitor ids and contact names). Then every registered command runs
in every format it offers, discovered from the Typer app, so commands added later are covered:

- terminal output (stdout and stderr of every format) holds no raw control characters
  (ESC, BEL, C1, ...): shown literally with U+FFFD in their place, or escaped by the format;
- Rich markup is shown literally, never interpreted;
- HTML escapes everything: no element, attribute or javascript: URL comes from the data;
- CSV cells that a spreadsheet would run as a formula are neutralised with a leading `'`;
- JSON stays valid and lossless.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
import typer.main
from typer.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

import make_corpus
from make_corpus import INJECTION, INJECTION_VISITORS

from jtrack.cli import app
from jtrack.store import Store

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "sample_data" / "jtrack.toml"
AS_OF = "2026-10-31T00:00:00Z"
_COMMAND = typer.main.get_command(app)

#: Raw control characters that must never reach a terminal (tab and newline are fine), and
#: the bidi embeddings, overrides and isolates that reorder the text around them.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: What a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class Run:
    path: tuple[str, ...]  # e.g. ("rules", "explain")
    fmt: str
    required: tuple[str, ...]  # required argument names
    optional: tuple[str, ...]  # optional argument names
    options: frozenset[str]  # option flags the command accepts (--store, -o, ...)

    @property
    def id(self) -> str:
        return " ".join(self.path) + f" -f {self.fmt}"


def _formats(help_text: str) -> list[str]:
    m = re.search(r"Output format: ([a-z, ]+)\.", help_text or "")
    assert m, f"cannot read the formats from {help_text!r}"
    return [f.strip() for f in m.group(1).split(",")]


def discover() -> list[Run]:
    """Every leaf command of the app, with every format its --format option offers."""
    runs: list[Run] = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, (*path, name))
            return
        params = getattr(cmd, "params", [])
        fmt = [p for p in params if "--format" in getattr(p, "opts", [])]
        formats = _formats(fmt[0].help) if fmt else ["default"]
        arguments = [p for p in params if p.param_type_name == "argument"]
        required = tuple(p.name for p in arguments if p.required)
        optional = tuple(p.name for p in arguments if not p.required)
        options = frozenset(o for p in params if p.param_type_name == "option" for o in p.opts)
        runs.extend(Run(path, f, required, optional, options) for f in formats)

    walk(_COMMAND, ())
    return runs


#: Commands that change or check the store and print no data of a visitor's (`store pin`
#: runs another program; `store verify` names the store's files, and prints nothing when
#: they are whole; `store erase` takes the data out, and echoes the ids it is given:
#: test_store_erase shows them harmless).
MAINTENANCE = {
    ("store", "pin"),  # (runs the command it is given: prints nothing of its own)
    ("store", "compact"),
    ("store", "rollback"),
    ("store", "verify"),
    ("store", "erase"),
}
RUNS = [r for r in discover() if r.path not in MAINTENANCE]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("injection")
    events = d / "injection.jsonl"
    events.write_bytes(make_corpus.injection_events())
    contacts = d / "contacts.csv"
    contacts.write_bytes(make_corpus.injection_contacts())
    store = d / "store"
    result = invoke(
        [
            "sessionize",
            str(events),
            "--store",
            str(store),
            "--contacts",
            str(contacts),
            "-q",
            "-f",
            "json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    # a second night: one event redelivered under a new id (`store changes` lists a session)
    again = d / "again.jsonl"
    first = json.loads(events.read_bytes().splitlines()[0])
    first["id"] = "0f0f0f0f-0000-4000-8000-000000000001"
    again.write_text(json.dumps(first) + "\n")
    result = invoke(["sessionize", str(again), "--store", str(store), "-q"])
    assert result.exit_code == 0, result.stderr
    sessions = Store.open(store).scan_sessions().collect().sort("customer_id")
    payload_visitor = INJECTION_VISITORS[1]
    session_id = sessions.filter(pl.col("customer_id") == payload_visitor)["id"][0]
    return {
        "dir": d,
        "store": store,
        "events": events,
        "contacts": contacts,
        "arguments": {
            "sources": [str(events)],
            "session_id": [session_id],
            "who": [payload_visitor],
            "customer": [payload_visitor],
        },
        "optional_arguments": {"file": [str(RULES)]},  # `rules check [FILE]`
    }


def invoke(args: list[str]) -> Result:
    with mock.patch("typer.testing._get_command", lambda _app: _COMMAND):
        return CliRunner().invoke(app, args)


def _args(run: Run, world: dict[str, object], output: Path | None) -> list[str]:
    arguments = world["arguments"]
    assert isinstance(arguments, dict)
    args = list(run.path)
    for name in run.required:
        assert name in arguments, (
            f"`jtrack {' '.join(run.path)}` takes a required argument {name!r}: add a value for "
            "it to world()['arguments'] in tests/test_injection.py"
        )
        args += arguments[name]
    optional = world["optional_arguments"]
    assert isinstance(optional, dict)
    for name in run.optional:
        args += optional.get(name, [])
    extra = {
        "--store": ["--store", str(world["store"])],
        "--rules": ["--rules", str(RULES)],
        "--as-of": ["--as-of", AS_OF],
        "--contacts": ["--contacts", str(world["contacts"])],
        # the payload visitors' user agents are no browser's: every class, so they show
        "--traffic": ["--traffic", "all"],
        "--visitor": ["--visitor", str(arguments["who"][0])],  # (`store access`)
    }
    if run.path == ("report",):  # (its --contacts resolves export files, not the store)
        del extra["--contacts"]
    if run.path == ("sessionize",):  # a fresh store: do not replace the shared one
        extra["--store"] = ["--store", str(Path(str(world["dir"])) / "store-2")]
        if "sources" in run.optional:  # (optional: --rebuild needs none) the payloads
            args += [str(world["events"])]
    for name, value in extra.items():
        if name in run.options:
            args += value
    if run.path in (("report",), ("rules", "report")):  # (--as-of: the clock of a month word)
        args += ["--month", "current"]
    if run.fmt != "default":
        args += ["-f", run.fmt]
    if output is not None:
        args += ["-o", str(output)]
    return args


# ---- the checks ------------------------------------------------------------------------------


def check_terminal(text: str, where: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in CONTROL.findall(text)})
    assert not bad, f"{where}: raw control characters {bad} reach the terminal"


def check_markup_literal(text: str, where: str) -> None:
    """Rich markup in the data is printed as typed (when the marker shows at all)."""
    for key in ("markup", "link", "closing_tag"):
        payload = INJECTION[key]
        marker = re.search(r"[A-Z]+1", payload)
        assert marker
        for m in re.finditer(rf"(?<![A-Z]){marker.group(0)}", text):
            line = text[max(0, m.start() - 60) : m.end() + 20]
            before = payload[: payload.index(marker.group(0))]
            # the text right before the marker is the literal markup (or the cell was cut)
            assert before[-3:] in line or "…" in line, f"{where}: {key!r} lost its markup: {line!r}"


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def check_html(text: str, where: str) -> None:
    assert "<script>alert(1)" not in text, f"{where}: <script> from the data is not escaped"
    assert "<img src=x" not in text, f"{where}: an element from the data is not escaped"
    parser = _Html()
    parser.feed(text)
    for tag, attrs in parser.tags:
        assert not (tag == "img" and ("src", "x") in attrs), f"{where}: injected <img>"
        for name, value in attrs:
            v = (value or "").lower()
            assert not (name.startswith("on") and "alert(" in v), f"{where}: injected {name}"
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert not v.strip().startswith("javascript:"), f"{where}: javascript: URL"
    for script in parser.script_text:  # data embedded in a script must not break out of it
        assert not script.strip().startswith("alert("), f"{where}: script breakout"


def check_csv(text: str, where: str) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows, f"{where}: empty CSV"
    for row in rows[1:]:
        for cell in row:
            if cell.startswith(FORMULA_START):
                try:
                    float(cell)
                except ValueError:
                    pytest.fail(f"{where}: formula cell not neutralised: {cell[:40]!r}")


def check_json(text: str, fmt: str, where: str) -> None:
    if fmt == "jsonl":
        for line in text.splitlines():
            json.loads(line)
    else:
        json.loads(text)


def check_markdown(text: str, where: str) -> None:
    assert "<script>" not in text, f"{where}: raw <script> in Markdown"


def check_output(text: str, fmt: str, where: str) -> None:
    if fmt == "html":
        check_html(text, where)
    elif fmt == "csv":
        check_csv(text, where)
    elif fmt in ("json", "jsonl"):
        check_json(text, fmt, where)
    elif fmt == "md":
        check_markdown(text, where)


# ---- the test --------------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_every_command_and_format_shows_visitor_data_harmlessly(
    run: Run, world: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JTRACK_WIDTH", "1000")
    monkeypatch.setenv("COLUMNS", "1000")
    where = run.id
    if run.fmt != "parquet":
        result = invoke(_args(run, world, None))
        assert result.exit_code == 0, f"{where}: exit {result.exit_code}: {result.stderr}"
        assert result.stdout, f"{where}: no output"
        check_terminal(result.stdout, where + " (stdout)")
        check_terminal(result.stderr, where + " (stderr)")
        if run.fmt in ("table", "default"):
            check_markup_literal(result.stdout, where)
        check_output(result.stdout, run.fmt, where)
    if "--output" in run.options and run.fmt != "default":
        suffix = {"table": "txt", "jsonl": "jsonl"}.get(run.fmt, run.fmt)
        out = tmp_path / f"out.{suffix}"
        result = invoke(_args(run, world, out))
        assert result.exit_code == 0, f"{where} -o: exit {result.exit_code}: {result.stderr}"
        check_terminal(result.stderr, where + " -o (stderr)")
        if run.fmt == "parquet" and out.is_dir():  # (`store access`: a file per table)
            assert all(pl.read_parquet(f).height >= 0 for f in out.glob("*.parquet"))
            check_output((out / "access.json").read_text(encoding="utf-8"), "json", where)
        elif run.fmt == "parquet":
            assert pl.read_parquet(out).height >= 0
        else:
            text = out.read_text(encoding="utf-8")
            check_output(text, run.fmt, where + " -o")
            if run.fmt == "table":
                check_terminal(text, where + " -o")
                check_markup_literal(text, where + " -o")


def test_the_injection_corpus_reaches_the_outputs(world: dict[str, object]) -> None:
    """Guard against a vacuous pass: the payloads are stored and shown, literally."""
    all_traffic = ["--traffic", "all"]
    result = invoke(["sessions", "--store", str(world["store"]), "-f", "json", *all_traffic])
    data = json.loads(result.stdout)
    titles = {s["last_page_title"] for s in data}
    assert titles <= set(INJECTION.values()) and titles
    result = invoke(["sessions", "--store", str(world["store"]), "-f", "csv", *all_traffic])
    assert "'=1+1 VISITOR1" in result.stdout  # the visitor id, neutralised
    result = invoke(["sessions", "--store", str(world["store"]), *all_traffic])
    assert "[bold]VISITOR2[/bold]" in result.stdout or "VISITOR2" not in result.stdout


def test_discovery_finds_the_known_commands() -> None:
    paths = {r.path for r in RUNS}
    assert {("sessionize",), ("sessions",), ("schema",)} <= paths
    assert len(RUNS) >= 10


def test_names_from_the_data_in_notes_and_debug_tracebacks_are_harmless(tmp_path: Path) -> None:
    """A JSON key (the note on fields jtrack does not read) and a file name in a folder of
    exports reached stderr raw from `sessionize` (an OSC 52 clipboard write, a screen
    clear, a forged `error:` line), and `--debug`'s traceback printed an event's value
    raw; every other line jtrack writes makes them harmless."""
    payload = "x\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202e\nerror: forged"
    row = {
        "event_id": "e1",
        "customer_id": "c1",
        "created_date": "2026-10-01T10:00:00Z",
        "event_type": "WebEvent",
        "event_name": "page_viewed",
        payload: 1,
    }
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (folder / ("y\x1b]52;c;cHduZWQ=\x07.csv")).write_text("a\n", encoding="utf-8")
    res = invoke(["sessionize", str(folder), "--store", str(tmp_path / "st")])
    assert res.exit_code == 0, res.stderr
    assert "fields jtrack does not read" in res.stderr and "cHduZWQ=" in res.stderr
    assert not CONTROL.search(res.stderr), repr(res.stderr)
    assert not any(line.startswith("error: forged") for line in res.stderr.splitlines())
    bad = {**row, "event_type": "\x1b]52;c;cHduZWQ=\x07\x1b[31m"}
    del bad[payload]
    (tmp_path / "d.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    res = invoke(
        ["--debug", "sessionize", str(tmp_path / "d.jsonl"), "--store", str(tmp_path / "s2")]
    )
    assert res.exit_code == 1 and "Traceback (most recent call last)" in res.stderr
    assert "cHduZWQ=" in res.stderr and not CONTROL.search(res.stderr), repr(res.stderr[-300:])
