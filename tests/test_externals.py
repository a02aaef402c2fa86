"""Tests that need a program outside Python (chromium, Java) skip where it is absent, with how
to get it, and fail instead when its JTRACK_REQUIRE_* variable is 1 (as .ci/run sets it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from externals import EXTERNALS, require

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_VARS = [e.env for e in EXTERNALS.values()]
CARD_HTML = "tests/test_card_html.py"


@pytest.fixture
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with no programs on it, no JAVA_HOME, no JTRACK_REQUIRE_* variable."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    for var in REQUIRE_VARS:
        monkeypatch.delenv(var, raising=False)
    return empty


def _program(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("name", "install"),
    [
        ("chromium", "apt-get install chromium"),
        ("java", "apt-get install openjdk-17-jre-headless"),
    ],
)
def test_absent_skips_with_how_to_get_it_or_fails_when_required(
    name: str, install: str, nothing_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(name)
    assert install in str(skipped.value)
    monkeypatch.setenv(EXTERNALS[name].env, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        require(name)
    assert install in str(failed.value) and f"{EXTERNALS[name].env}=1" in str(failed.value)
    monkeypatch.setenv(EXTERNALS[name].env, "0")
    with pytest.raises(pytest.skip.Exception):
        require(name)


def test_present_gives_its_path(nothing_installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JTRACK_REQUIRE_BROWSER", "1")
    chromium = _program(nothing_installed, "chromium")
    assert require("chromium") == str(chromium)
    home = nothing_installed.parent / "jdk"
    (home / "bin").mkdir(parents=True)
    java = _program(home / "bin", "java")
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert require("java") == str(java)


def _browser_test_run(require_browser: str | None) -> subprocess.CompletedProcess[str]:
    """tests/test_card_html.py in a new pytest where chromium is not on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in REQUIRE_VARS}
    env["PATH"] = str(Path(sys.executable).parent)  # python and the venv's scripts only
    if require_browser is not None:
        env["JTRACK_REQUIRE_BROWSER"] = require_browser
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", CARD_HTML],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_browser_test_without_chromium_skips_or_fails_in_ci() -> None:
    skipped = _browser_test_run(None)
    assert skipped.returncode == 0, skipped.stdout
    assert "SKIPPED [1]" in skipped.stdout and "apt-get install chromium" in skipped.stdout
    required = _browser_test_run("1")
    assert required.returncode == 1, required.stdout
    assert "ERROR at setup" in required.stdout and "JTRACK_REQUIRE_BROWSER=1" in required.stdout
