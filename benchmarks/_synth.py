"""The sample-data generator for the benchmark scripts. It is dev only and lives in tests/synth/
(it needs numpy, from the `test` extra), not in the installed jtrack: `write_flat_parquet` runs
its command line in a child process (`python tests/synth flat N OUT --seed S`); `load()` imports
it, as the tests do, for the scripts that mutate or chunk its rows in process."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parent.parent / "tests"


def command(shape: str, n_events: int, out: str | Path, *, seed: int = 7) -> list[str]:
    """The generator's command line: `shape` is flat (Parquet) or genesys (NDJSON)."""
    synth = str(TESTS / "synth")
    return [sys.executable, synth, shape, str(n_events), str(out), "--seed", str(seed)]


def write_flat_parquet(path: str | Path, n_events: int, *, seed: int = 7) -> None:
    """N flat events (the rows of generate_flat(N, seed=S)) as one Parquet file."""
    subprocess.run(command("flat", n_events, path, seed=seed), check=True)


def load() -> ModuleType:
    """The generator package (`synth`), imported from tests/."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    return importlib.import_module("synth")
