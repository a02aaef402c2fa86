"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_library_example_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", _section("Library"), re.S)
    assert code is not None
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    out = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    promised = re.search(r"# (\d+ \d+ \d+)\n", code.group(1))
    assert promised is not None and out.stdout.splitlines()[0] == promised.group(1)


def test_the_quickstart_transcript_is_what_the_command_prints(tmp_path: Path) -> None:
    """The transcript under Quickstart is the real output of its command (80 columns)."""
    section = _section("Quickstart")
    block = re.search(r"```console\n\$ (jtrack [^\n]*)\n(.*?)```", section, re.S)
    assert block is not None
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    args = block.group(1).split()[1:]
    out = subprocess.run(
        [sys.executable, "-m", "jtrack.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "TZ": "UTC", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout == block.group(2)
