"""The jtrack config file (TOML): found, read and checked in one place.

`jtrack.toml` in the working directory is used when no file is named (`--config`/`--rules`,
or $JTRACK_CONFIG). Sections: [[segment]], [[outcome]], [[action_map]] (rules), [usage],
[card], [roles]/[permissions]. Each feature validates its own section. Imports stdlib only.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from jtrack.errors import ConfigError

CONFIG_ENV = "JTRACK_CONFIG"
DEFAULT_NAME = "jtrack.toml"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use: the one named, else $JTRACK_CONFIG, else ./jtrack.toml."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file", hint="check the path")
        return p
    env = os.environ.get(CONFIG_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(
                f"{p}: no such config file (from ${CONFIG_ENV})", hint=f"fix or unset ${CONFIG_ENV}"
            )
        return p
    p = Path.cwd() / DEFAULT_NAME
    return p if p.is_file() else None


def load_config(
    explicit: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], Path | None]:
    """The parsed config and its path ({} and None when there is no config file)."""
    path = find_config(explicit)
    if path is None:
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ConfigError(
            f"{where}: not valid TOML ({exc})", hint="check quoting and brackets on that line"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from exc
    return data, path


def unknown_key_error(path: Path | None, where: str, key: str, valid: list[str]) -> ConfigError:
    """A ConfigError for a key that is not known, naming the nearest valid key."""
    near = difflib.get_close_matches(key, valid, n=1)
    hint = (f"did you mean {near[0]!r}? " if near else "") + "valid keys: " + ", ".join(valid)
    return ConfigError(f"{path or '<config>'}: {where}: unknown key {key!r}", hint=hint)
