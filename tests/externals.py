"""Programs outside Python that some tests need (a browser, Java), found in one place.

Where a program is absent its tests skip, and the reason says how to get it; where the
program's JTRACK_REQUIRE_* variable is 1 (CI sets them in .ci/run) its absence is a failure,
so CI cannot pass without it. Tests ask for it with a fixture from conftest.py (`chromium`,
`java`) or call `require(NAME)`; a new kind is one more entry in EXTERNALS.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@dataclass(frozen=True)
class External:
    what: str  # what it is, for the reason
    env: str  # set to 1: absent is a failure, not a skip
    install: str  # how to get it, shown in the reason
    find: Callable[[], str | None]  # its path, or None where it is absent


EXTERNALS = {
    "chromium": External(
        "chromium (the browser tests drive it headless)",
        "JTRACK_REQUIRE_BROWSER",
        "Debian: apt-get install chromium",
        lambda: shutil.which("chromium"),
    ),
    "java": External(
        "Java 17 (Spark needs it)",
        "JTRACK_REQUIRE_SPARK",
        "Debian: apt-get install openjdk-17-jre-headless",
        _java,
    ),
}


def required(env: str) -> bool:
    return os.environ.get(env, "").strip().lower() in {"1", "true", "yes"}


def require(name: str) -> str:
    """The path of the external program `name` (a key of EXTERNALS); where it is absent, skip
    the test with how to get it, or fail it if its JTRACK_REQUIRE_* variable is set."""
    ext = EXTERNALS[name]
    path = ext.find()
    if path:
        return path
    reason = f"{ext.what} is missing ({ext.install})"
    if required(ext.env):
        pytest.fail(f"{reason} and {ext.env}=1 requires it", pytrace=False)
    pytest.skip(f"{reason}; {ext.env}=1 would make this a failure")


# Chromium's flags in every browser test: headless as root, and quiet on a closed network
# (without the background-networking flags it keeps trying to reach Google's hosts).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def screenshot(page: object, path: Path) -> None:
    """A full-page screenshot for a reviewer to look at (tests/artifacts/). It is not an
    assertion: headless Chromium sometimes fails to capture a tall page ("Unable to capture
    screenshot"), so it tries twice, then keeps the viewport alone; what failed is written
    beside it as NAME.txt (pytest turns warnings into errors here)."""
    from playwright.sync_api import Error

    note = path.with_suffix(".txt")
    note.unlink(missing_ok=True)
    failed: list[str] = []
    for full_page in (True, True, False):
        try:
            page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
        except Error as exc:
            failed.append(f"full_page={full_page}: {str(exc).splitlines()[0]}")
            continue
        break
    if failed:
        note.write_text("\n".join(failed) + "\n")
