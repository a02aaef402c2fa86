"""Only the store package opens the store's files.

Every command is run in this process while the calls that open a file (Python's `open`,
Polars' and PyArrow's Parquet readers and writers) are watched: each one on a path inside the
store must come from `jtrack.store`. The engine may open the scratch files it stages a run's
rows in (a `stage` folder of the version being written); nothing else may, so that the
store's layout can change in one package.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import jtrack
from jtrack.cli import app
from tests.helpers import T0, flat_event, flat_frame, genesys_line

JTRACK = Path(jtrack.__file__).resolve().parent
#: Modules that open a file for whoever calls them: the caller is judged instead.
PASS_ON = {"locking.py", "files.py"}
#: (module, function) pairs of the libraries watched: Polars' and PyArrow's Parquet readers
#: and writers, and the two ways Python opens a file.
WATCHED: list[tuple[Any, str]] = [
    (pl, "scan_parquet"),
    (pl, "read_parquet"),
    (pl, "read_parquet_schema"),
    (pl, "read_ndjson"),
    (pl, "scan_ndjson"),
    (pl.DataFrame, "write_parquet"),
    (pl.LazyFrame, "sink_parquet"),
    (pq, "ParquetFile"),
    (pq, "ParquetWriter"),
    (pq, "read_table"),
    (pq, "read_metadata"),
    (pq, "read_schema"),
    (pq, "write_table"),
    (builtins, "open"),
    (io, "open"),
]


def _paths(value: Any) -> Iterator[Path]:
    if isinstance(value, str | os.PathLike):
        yield Path(os.fspath(value))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _paths(v)


def _opener() -> str | None:
    """The jtrack module (its path below jtrack/) whose code made the call being watched."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(JTRACK) and path.name not in PASS_ON:
            return path.relative_to(JTRACK).as_posix()
        frame = frame.f_back  # type: ignore[assignment]
    return None


class Watch:
    def __init__(self, store: Path) -> None:
        self.store = store.resolve()
        self.seen: list[tuple[str, str]] = []  # (module, path) of every store file opened
        self.outside: list[tuple[str, str, str]] = []  # (module, call, path) not by the store

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            first = args[1] if name in ("write_parquet", "sink_parquet") and len(args) > 1 else None
            candidates = [first] if first is not None else list(args[:1])
            candidates += [kwargs.get(k) for k in ("file", "path", "source", "where")]
            for p in (q for c in candidates for q in _paths(c)):
                try:
                    inside = p.resolve().is_relative_to(self.store)
                except (OSError, ValueError):
                    continue
                if not inside:
                    continue
                who = _opener()
                if who is None:
                    continue  # (the test's own reads)
                self.seen.append((who, str(p)))
                staged = "stage" in p.resolve().relative_to(self.store).parts
                if not who.startswith("store/") and not (staged and who.startswith("engine/")):
                    self.outside.append((who, name, str(p)))
            return fn(*args, **kwargs)

        return watched


@pytest.fixture
def exports(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A canonical Parquet export (kept as it is), then a Genesys export the next day with
    a late event that joins two of the first day's sessions, a redelivery that differs, and
    a broken line."""
    rows = []
    for v in range(6):
        rows += [flat_event(f"a{v}-{i}", f"v{v}", T0 + timedelta(minutes=25 * i)) for i in range(3)]
    first = tmp_path / "day1.parquet"
    flat_frame(rows).write_parquet(first)
    second = tmp_path / "day2.jsonl"
    lines = [
        genesys_line("late", "v0", T0 + timedelta(minutes=12)),  # joins v0's two first
        genesys_line("a1-0", "v1", T0, page={"url": "https://shop.example/other"}),
        "{not json",
        *(genesys_line(f"b{i}", f"w{i}", T0 + timedelta(days=1, minutes=i)) for i in range(4)),
    ]
    second.write_text("\n".join(lines) + "\n")
    return first, second, tmp_path / "store"


def test_only_the_store_package_opens_the_stores_files(
    exports: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, store = exports
    watch = Watch(store)
    for owner, name in WATCHED:
        monkeypatch.setattr(owner, name, watch.wrap(name, getattr(owner, name)))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, [*args, "--store", str(store)], catch_exceptions=False)
        assert res.exit_code == code, (args, res.output)
        return res.output

    run("sessionize", str(first), "-q")
    run(
        "sessionize",
        str(second),
        "-q",
        "--on-error",
        "skip",
        "--rejects",
        str(tmp_path / "r.jsonl"),
    )
    sessions = run("sessions", "-f", "csv", "--traffic", "all")
    session_id = sessions.splitlines()[1].split(",")[0]
    run("card", session_id)
    run("journey", "v0", "--traffic", "all")
    run("usage", "--month", T0.strftime("%Y-%m"))
    run("report", "--traffic", "all")
    run("contacts")
    rules = Path(__file__).resolve().parent.parent / "sample_data" / "jtrack.toml"
    run("rules", "report", "--rules", str(rules))
    live = tmp_path / "live"
    live.mkdir()
    (live / "day3.jsonl").write_text(genesys_line("c0", "v9", T0 + timedelta(days=2)) + "\n")
    run("watch", str(live), "--once", "-f", "json", "--as-of", "2026-10-05T09:10Z")
    taken = json.loads(run("store", "-f", "json"))["inputs"]
    assert [Path(i["name"]).name for i in taken] == ["day1.parquet", "day2.jsonl", "day3.jsonl"]
    run("store", "access", "--visitor", "v0", "-o", str(tmp_path / "v0.json"), "-q")
    run("store", "access", "--visitor", "v1", "-f", "parquet", "-o", str(tmp_path / "v1"), "-q")
    run("store", "files", "sessions")
    run("store", "verify", "--full")
    run("store", "compact", "-q")
    run("sessionize", "--rebuild", "-q")
    run("store", "rollback", "v000002")
    # (what was watched: the runs' own store files, read and written)
    openers = {who for who, _ in watch.seen}
    assert {"store/snapshot.py", "store/writer.py"} <= openers
    assert watch.outside == [], "\n".join(map(str, watch.outside))


@pytest.mark.parametrize("name", ["duplicates.parquet", "held.parquet"])
def test_a_run_over_a_store_missing_a_file_it_names_stops(tmp_path: Path, name: str) -> None:
    """The record of earlier copies was read as "none" when its file was gone: the next run
    committed a store whose accounting had lost them (rows read no longer added up); a
    missing held.parquet (events beyond the far-future cut) stopped it with Polars' bare
    "No such file or directory"."""
    rows = [flat_event(f"e{i}", f"v{i % 7}", T0 + timedelta(minutes=3 * i)) for i in range(150)]
    rows += [
        flat_event("e1", "v1", T0 + timedelta(minutes=3)),
        flat_event("far", "v1", T0 + timedelta(days=800)),
    ]
    first, again, store = tmp_path / "day1.parquet", tmp_path / "day2.parquet", tmp_path / "st"
    flat_frame(rows).write_parquet(first)
    flat_frame([flat_event("c1", "z1", T0 + timedelta(days=2))]).write_parquet(again)
    runner = CliRunner()
    res = runner.invoke(
        app, ["sessionize", str(first), "--store", str(store), "-q", "--on-error", "skip"]
    )
    assert res.exit_code == 0, res.output
    version = (store / "CURRENT").read_text().strip()
    (store / "versions" / version / name).unlink()
    res = runner.invoke(app, ["sessionize", str(again), "--store", str(store)])
    assert res.exit_code == 1
    assert f"{name}: a file of the store is missing (hint: the store is damaged: " in res.output
    assert (store / "CURRENT").read_text().strip() == version


def test_a_store_missing_its_contacts_book_says_how_to_write_it_again(tmp_path: Path) -> None:
    """Polars' bare "No such file or directory" before; the book alone can be written again
    (no rollback, no rebuild), as the hint says."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    store, contacts = str(tmp_path / "st"), str(sample / "contacts.csv")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, [*args, "--store", store])

    assert (
        run("sessionize", str(sample / "events.parquet"), "--contacts", contacts, "-q").exit_code
        == 0
    )
    (tmp_path / "st" / "current" / "contacts.parquet").unlink()
    res = run("card", "c7352fd5")
    assert res.exit_code == 1
    assert "contacts.parquet: a file of the store is missing (hint: the store's copy" in res.output
    assert run("sessionize", "--no-contacts", "-q").exit_code == 0
    assert run("sessionize", "--contacts", contacts, "-q").exit_code == 0
    res = run("card", "c7352fd5")
    assert res.exit_code == 0 and res.output.startswith("🌐 Olivia Wilson")
