"""The jtrack config file (TOML): found, read and checked in one place.

`jtrack.toml` in the working directory is used when no file is named (`--config`/`--rules`,
or $JTRACK_CONFIG). Top level: [[segment]], [[outcome]], [[action_map]] (rules), [usage],
[card], default_role, [roles.NAME], [redact]. Anything else is an error naming the nearest
valid name (a typo such as `[role.agent]` must not switch roles off); the roles and redaction
tables are checked here too (config_problems), and the names in [usage] and [card] (a typo
there is an error for every command); their values by the feature that owns them.
Imports stdlib only.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jtrack.checks import current_folder, env_value
from jtrack.errors import ConfigError, FileAccessError, UsageError

CONFIG_ENV = "JTRACK_CONFIG"
DEFAULT_NAME = "jtrack.toml"


def find_config(
    explicit: str | os.PathLike[str] | None = None, what: str = "config", once: bool = False
) -> Path | None:
    """The config file to use: the one named, else $JTRACK_CONFIG, else ./jtrack.toml
    (`what` it is to the caller, in errors about the one named: "config", "rules"; `once`:
    the caller reads it once, so a pipe will do, as for `jtrack rules check`)."""
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            raise FileAccessError(f"{p}: is a directory, not a {what} file", hint="name the file")
        if not p.exists():
            raise FileAccessError(f"{p}: no such {what} file", hint="check the path")
        if not once:
            _regular(p, what)
        return p
    env = env_value(CONFIG_ENV, "the config file", f"./{DEFAULT_NAME}, if any")
    if env is not None:
        p = Path(env)
        if not p.exists() or p.is_dir():
            raise FileAccessError(
                f"{p}: no such config file (from ${CONFIG_ENV})", hint=f"fix or unset ${CONFIG_ENV}"
            )
        if not once:
            _regular(p, "config", f" (from ${CONFIG_ENV})")
        return p
    p = Path(current_folder()) / DEFAULT_NAME
    return p if p.is_file() else None


def _regular(p: Path, what: str, origin: str = "") -> None:
    """A config is a regular file, or /dev/null (a config of nothing): it is read more than
    once (its rules, its roles, its [usage]), so a pipe (`<(...)`, /dev/stdin) would be
    empty at the second read, and its roles, unread, would mask nothing."""
    if p.is_file():
        return
    try:
        if os.path.samefile(p, os.devnull):
            return
    except OSError:
        pass
    raise FileAccessError(
        f"{p}{origin}: not a regular file (a pipe or a device), and a {what} file is read "
        "more than once",
        hint=f"save it to a file and point ${CONFIG_ENV} at that, or unset it"
        if origin
        else "save it to a file and name that, or name /dev/null for none",
    )


def toml_error_line(exc: Exception, text: str) -> int | None:
    """The line a TOML error is on: the one it names, or the last line of the text when it
    is "at end of document" (an unclosed bracket or quote runs to the end)."""
    m = re.search(r"line (\d+)", str(exc))
    if m:
        return int(m.group(1))
    if "end of document" in str(exc):
        return max(1, len(text.rstrip("\n").split("\n")))
    return None


#: What a file named so holds, when it is no TOML.
_NOT_TOML = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}
_HEADER_RE = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_ARRAY_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*\[")


def toml_error_words(exc: Exception, text: str, name: str) -> tuple[str, str]:
    """The message and hint of a TOML error in the file `name`: a YAML or JSON file is
    said to be one (the rules are TOML); an inline table written over several lines (TOML
    wants it on one) is said to be that, with the [[...]] form that may span lines."""
    suffix = Path(name).suffix.lower()
    if suffix in _NOT_TOML:
        return (
            f"not valid TOML: the file is {_NOT_TOML[suffix]} by its name, and jtrack's rules "
            f"and config are TOML ({exc})",
            "write it as TOML, [[segment]] tables and key = value lines (see "
            "sample_data/jtrack.toml), in a .toml file",
        )
    line = toml_error_line(exc, text)
    form = _multiline_inline_table(text, line) if line else None
    if form is not None:
        return (
            f"not valid TOML: an inline table {{ ... }} is not closed on its own line ({exc})",
            f"an inline table must be on one line; or write each as a table of its own, "
            f"[[{form}]] then field = ..., operator = ..., values = [...] on lines of their "
            "own",
        )
    return f"not valid TOML ({exc})", "check quoting and brackets on that line"


def _multiline_inline_table(text: str, line: int) -> str | None:
    """The [[header.key]] of an inline table still open at the end of line `line` (the one
    a TOML error is on: a line break inside the table), or None: `{` and `}` are counted
    outside quoted text and comments."""
    depth = 0
    header, key = "segment.pattern", "conditions"
    lines = text.split("\n")
    for raw in lines[:line]:
        code = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', "", raw).split("#", 1)[0]
        if depth == 0:
            h = _HEADER_RE.match(code)
            if h:
                header, key = h.group(1), key
            k = _ARRAY_KEY_RE.match(code)
            if k:
                key = k.group(1)
        depth = max(0, depth + code.count("{") - code.count("}"))
    if depth == 0:
        return None
    return f"{header}.{key}"


def load_config(
    explicit: str | os.PathLike[str] | None = None, what: str = "config"
) -> tuple[dict[str, Any], Path | None]:
    """The parsed config and its path ({} and None when there is no config file); `what`
    the file named is to the caller, in errors ("config", "rules")."""
    path = find_config(explicit, what)
    if path is None:
        return {}, None
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a BOM, as Windows editors write)
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = toml_error_line(exc, text)
        where = f"{path}:{line}" if line else str(path)
        message, hint = toml_error_words(exc, text, str(path))
        raise ConfigError(f"{where}: {message}", hint=hint) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from exc
    except OSError as exc:  # (a file that cannot be read: exit 1)
        raise FileAccessError(
            f"{path}: cannot read the config file ({exc.strerror or exc})",
            hint="check the file's permissions",
        ) from None
    problems = config_problems(data)
    if problems:  # (on its line, as `jtrack rules check` names it)
        from jtrack.core.rules.locate import KeyLocator

        line = KeyLocator(text).line(problems[0].where)
        raise problem_error(path, problems[0], len(problems) - 1, line)
    return data, path


def unknown_key_error(path: Path | None, where: str, key: str, valid: list[str]) -> ConfigError:
    """A ConfigError for a key that is not known, naming the nearest valid key."""
    near = difflib.get_close_matches(key, valid, n=1)
    hint = (f"did you mean {near[0]!r}? " if near else "") + "valid keys: " + ", ".join(valid)
    return ConfigError(f"{path or '<config>'}: {where}: unknown key {key!r}", hint=hint)


# ------------------------------------------------------------------ what the config may hold

#: Every top-level name a config may hold (rules sections are arrays of tables).
TOP_LEVEL = ("segment", "outcome", "action_map", "usage", "card", "default_role", "roles", "redact")
#: Keys of a [roles.NAME] table.
ROLE_KEYS = ("permissions",)
#: Keys of the [usage] table (its values are checked by jtrack usage, and `rules check`).
USAGE_KEYS = ("users", "per_user", "billable", "tz")
#: Keys of the [card] table, and the tones of its [card.colors] (event-name glob = tone).
CARD_KEYS = ("colors",)
TONES = ("positive", "neutral", "negative")
#: Keys of the [redact] table.
REDACT_KEYS = ("key", "query_params", "attributes")
#: Permission names a role may list (Genesys names; see jtrack.access).
PERMISSIONS = (
    "journey:session:view",
    "journey:event:view",
    "journey:sessiontype:view",
    "journey:eventtype:view",
    "journey:segment:view",
    "journey:outcome:view",
    "externalContacts:contact:view",
)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the config: where (a key path), what, and how to fix it."""

    where: tuple[str, ...]
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{'.'.join(self.where) or '<top>'}: {self.message} (hint: {self.hint})"


def _near(word: str, valid: Sequence[str]) -> str | None:
    near = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return near[0] if near else None


def _unknown(where: tuple[str, ...], key: str, valid: Sequence[str], what: str) -> ConfigProblem:
    near = _near(key, valid)
    hint = (f"did you mean {near!r}? " if near else "") + f"valid {what}: " + ", ".join(valid)
    return ConfigProblem(
        (*where, key), f"unknown {what[:-1] if what.endswith('s') else what} {key!r}", hint
    )


_RULE_SECTIONS = ("segment", "outcome", "action_map")


def _unknown_top(key: str, value: Any) -> ConfigProblem:
    """An unknown top-level name, with the nearest valid one written as it should be."""
    kind = "section" if isinstance(value, dict | list) else "key"
    near = _near(key, TOP_LEVEL)
    if near in _RULE_SECTIONS:
        shown = f"[[{near}]]"
    elif near == "roles" and isinstance(value, dict) and value:
        shown = f"[roles.{next(iter(value))}]"
    elif near in ("default_role",):
        shown = f"{near} = ..."
    elif near is not None:
        shown = f"[{near}]"
    hint = (f"did you mean {shown}? " if near else "") + "valid: " + ", ".join(TOP_LEVEL)
    return ConfigProblem((key,), f"unknown {kind} {key!r}", hint)


def config_problems(data: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem with the config's top level, [roles] and default_role, and [redact].

    Roles fail closed: an unknown table (`[role.agent]`), an empty [roles], a role holding an
    unknown key or permission, or a default_role that names no role is a problem, never a
    config in which everyone sees everything.
    """
    out: list[ConfigProblem] = []
    for key, value in data.items():
        if key not in TOP_LEVEL:
            out.append(_unknown_top(str(key), value))
    roles = data.get("roles")
    if "roles" in data:
        if not isinstance(roles, dict):
            out.append(ConfigProblem(("roles",), "must be a table of roles", "write [roles.NAME]"))
            roles = None
        elif not roles:
            out.append(
                ConfigProblem(
                    ("roles",),
                    "no role is defined (an empty [roles] would let everyone see everything)",
                    "add [roles.NAME] with permissions = [...], or remove [roles]",
                )
            )
    for name, spec in (roles or {}).items():
        where = ("roles", str(name))
        if isinstance(spec, dict):
            for k in spec:
                if k not in ROLE_KEYS:
                    out.append(_unknown(where, str(k), ROLE_KEYS, "keys"))
            if "permissions" not in spec:
                out.append(
                    ConfigProblem(
                        where,
                        "has no permissions list",
                        'add permissions = ["journey:session:view", ...] (an empty list '
                        "is allowed: a role that sees nothing)",
                    )
                )
            perms = spec.get("permissions", [])
        else:
            perms = spec
        if not isinstance(perms, list):
            out.append(
                ConfigProblem(
                    (*where, "permissions"),
                    "must be a list",
                    'e.g. permissions = ["journey:session:view"]',
                )
            )
            continue
        for p in perms:
            if p not in PERMISSIONS:
                out.append(_unknown((*where, "permissions"), str(p), PERMISSIONS, "permissions"))
    if "default_role" in data:
        default = data["default_role"]
        if not isinstance(default, str) or not default:
            out.append(
                ConfigProblem(
                    ("default_role",), "must be a role name", 'e.g. default_role = "agent"'
                )
            )
        elif not roles:
            if "roles" not in data:
                out.append(
                    ConfigProblem(
                        ("default_role",),
                        f"names role {default!r} but no roles are configured",
                        f"add [roles.{default}] with its permissions",
                    )
                )
        elif default not in roles:
            near = _near(default, [str(r) for r in roles])
            out.append(
                ConfigProblem(
                    ("default_role",),
                    f"names no role ({default!r})",
                    (f"did you mean {near!r}? " if near else "")
                    + "roles: "
                    + ", ".join(sorted(str(r) for r in roles)),
                )
            )
    out += _feature_problems(data)
    redact = data.get("redact")
    if "redact" in data:
        if not isinstance(redact, dict):
            out.append(ConfigProblem(("redact",), "must be a table", "write [redact]"))
        else:
            for k in redact:
                if k not in REDACT_KEYS:
                    out.append(_unknown(("redact",), str(k), REDACT_KEYS, "keys"))
            secret = redact.get("key")
            if "key" in redact and (not isinstance(secret, str) or not secret.strip()):
                out.append(
                    ConfigProblem(("redact", "key"), "must be non-empty text", "a long secret")
                )
            for k in ("query_params", "attributes"):
                v = redact.get(k, [])
                if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                    out.append(
                        ConfigProblem(("redact", k), "must be a list of names", f'{k} = ["email"]')
                    )
    return out


def _feature_problems(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """The names in [usage] and [card], and the tones of [card.colors]: a typo there is an
    error for every command that reads the config, not only for the one that uses it
    (`per_usr = 10000` was read by `jtrack report` as no allowance, silently)."""
    out: list[ConfigProblem] = []
    usage = data.get("usage")
    if isinstance(usage, dict):
        out += [
            _unknown(("usage",), str(k), USAGE_KEYS, "keys") for k in usage if k not in USAGE_KEYS
        ]
    elif "usage" in data:
        out.append(
            ConfigProblem(("usage",), "must be a table", "write [usage] then key = value lines")
        )
    return out + card_problems(data)


def card_problems(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """The problems of a config's [card] table: an unknown name, a [card.colors] tone that
    is none (`jtrack.usecases.card` reads the table so checked)."""
    out: list[ConfigProblem] = []
    card = data.get("card")
    if not isinstance(card, Mapping):
        if "card" in data:
            out.append(ConfigProblem(("card",), "must be a table", "write [card.colors]"))
        return out
    out += [_unknown(("card",), str(k), CARD_KEYS, "keys") for k in card if k not in CARD_KEYS]
    colors = card.get("colors", {})
    if not isinstance(colors, Mapping):
        hint = 'e.g. [card.colors] then "video_*" = "positive"'
        return [*out, ConfigProblem(("card", "colors"), "must be a table", hint)]
    for glob, tone in colors.items():
        if not isinstance(tone, str) or tone.lower() not in TONES:
            out.append(
                ConfigProblem(
                    ("card", "colors", str(glob)),
                    f"{tone!r} is not a tone",
                    "use positive (green), neutral (blue) or negative (red)",
                )
            )
    return out


def problem_error(
    path: Path | None, problem: ConfigProblem, more: int = 0, line: int | None = None
) -> ConfigError:
    """The ConfigError (exit 2) for the first problem of a config (`line`: where it is)."""
    where = ".".join(problem.where)
    extra = f" (and {more} more)" if more else ""
    at = f"{path or '<config>'}:{line}" if line else f"{path or '<config>'}"
    return ConfigError(
        f"{at}: {where}: {problem.message}{extra}",
        hint=problem.hint + (f"; `jtrack rules check {path}` lists every problem" if more else ""),
    )


def check_tz(tz: str, option: str = "--tz") -> str:
    """The IANA time-zone name, or a UsageError naming the nearest known zone (a name the
    system's zone files have that Polars does not, `Factory` or `localtime`, is none)."""
    from jtrack.checks import must_be

    must_be(tz, "tz" if option.startswith("--") else option, str, "a time zone name (UTC)")
    try:
        zoneinfo.ZoneInfo(tz)
        _polars_zone(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        import difflib

        # (never itself, nor a name the system has and Polars does not: Factory, localtime)
        known = sorted(zoneinfo.available_timezones() - {tz, *_NOT_POLARS_ZONES})
        near = difflib.get_close_matches(tz, known, n=1)
        raise UsageError(
            f"{option} {tz!r} is not a known time zone",
            hint=(f"did you mean {near[0]!r}? " if near else "")
            + "use an IANA name such as Europe/London or UTC",
        ) from None
    return tz


#: Zone names of the system's zone files that Polars (chrono-tz) does not know.
_NOT_POLARS_ZONES = ("Factory", "localtime", "posixrules")


def _polars_zone(tz: str) -> None:
    """ValueError when Polars, which counts the days, does not know the zone `tz`."""
    if not polars_knows_zone(tz):
        raise ValueError(tz)


@functools.lru_cache(maxsize=256)
def polars_knows_zone(tz: str) -> bool:
    """Whether Polars (chrono-tz) converts times to the zone `tz`: the system's zone files
    hold names it does not (`posix/Europe/London`, `right/...`, `Factory`, `localtime`)."""
    import polars as pl

    try:
        pl.Series([0], dtype=pl.Datetime("us", "UTC")).dt.convert_time_zone(tz)
    except pl.exceptions.PolarsError:
        return False
    return True


def config_tz(config: Mapping[str, Any], path: Path | None = None) -> str | None:
    """The config's `[usage] tz`, checked (ConfigError when it is no zone); None when it
    has none. The zone days are counted in by `jtrack usage`, and, without --tz, by `jtrack
    report` and `jtrack rules report` (the rest of [usage] is usage's to check)."""
    table = config.get("usage")
    if not isinstance(table, Mapping) or "tz" not in table:
        return None
    where = f"{path or '<config>'}: [usage]"
    value = table["tz"]
    if not isinstance(value, str):
        raise ConfigError(f"{where}: tz must be a string", hint='e.g. tz = "UTC"')
    try:
        return check_tz(value, f"{where}: tz")
    except UsageError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
