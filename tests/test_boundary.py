"""The headless core never imports typer or rich, and never prints."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import jtrack

UI_PACKAGES = ("jtrack.cli", "jtrack.commands", "jtrack.render")


def _core_modules() -> list[str]:
    root = Path(jtrack.__file__).parent
    names = []
    for mod in pkgutil.walk_packages([str(root)], prefix="jtrack."):
        if not mod.name.startswith(UI_PACKAGES):
            names.append(mod.name)
    return sorted(names)


def test_core_modules_import_neither_typer_nor_rich() -> None:
    modules = _core_modules()
    assert "jtrack.core.sessionize" in modules and "jtrack.read" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported UI modules: {out.stdout}"


def test_core_modules_never_print() -> None:
    root = Path(jtrack.__file__).parent
    offenders = []
    for name in _core_modules():
        path = root.joinpath(*name.split(".")[1:])
        file = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
        text = file.read_text()
        # a module's own script entry point (`def main` behind a __main__ guard) may print
        main_at = text.find("def main(") if '__name__ == "__main__"' in text else -1
        body = text if main_at < 0 else text[:main_at]
        if "print(" in body.replace("def print(", "") or "sys.stdout.write" in body:
            offenders.append(name)
    assert offenders == []


def test_importing_jtrack_is_light() -> None:
    code = "import sys, jtrack; print('polars' in sys.modules, 'typer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
