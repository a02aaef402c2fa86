"""Read and validate a rules file: every problem at once, each with its line and a fix.

A rules file is TOML with `[[segment]]`, `[[outcome]]` and `[[action_map]]` tables (it may
be the same `jtrack.toml` that holds other sections, which are left to their owners).
`check_rules` returns the Rules (or None) and the list of Problems; `load_rules` raises
RulesError when there is any problem. Imports the standard library and jtrack.config only.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeAlias

from jtrack.config import find_config, toml_error_line, toml_error_words
from jtrack.core.rules.lint import condition_warnings, group_warnings
from jtrack.core.rules.locate import KeyLocator, Path_
from jtrack.core.rules.model import (
    ATTRIBUTE_PREFIX,
    CONTEXT_FIELDS,
    EQUALITY_OPERATORS,
    EVENT_FIELDS,
    NUMERIC_OPERATORS,
    OPERATORS,
    ActionMap,
    Condition,
    Outcome,
    Pattern,
    Rules,
    Segment,
)
from jtrack.errors import ConfigError, FileAccessError

SECTIONS = ("segment", "outcome", "action_map")
#: Top-level sections other features own; never reported as unknown.
OTHER_SECTIONS = ("usage", "card", "roles", "permissions", "contacts", "store", "sessionize")

SEGMENT_KEYS = ("id", "display_name", "color", "active", "shown_to_agents", "context", "pattern")
PATTERN_KEYS = ("count", "conditions")
STAGE_KEYS = ("conditions",)
CONDITION_KEYS = ("field", "operator", "values", "ignore_case")
#: Genesys' name for a condition's ignore_case, taken as it.
GENESYS_IGNORE_CASE = "shouldIgnoreCase"
PAGE_CONDITION_KEYS = ("operator", "values", "ignore_case", "field")
OUTCOME_KEYS = ("id", "display_name", "positive", "active", "value_attribute", "stage")
ACTION_MAP_KEYS = (
    "id",
    "display_name",
    "weight",
    "active",
    "segments",
    "activity",
    "page_url",
    "start_date",
    "end_date",
)

_SECTION_KEYS = {
    "segment": SEGMENT_KEYS,
    "outcome": OUTCOME_KEYS,
    "action_map": ACTION_MAP_KEYS,
}

NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_ATTR_NAME_RE = re.compile(r"^[^\s.]+$")


#: The hint of a flag given as something else (`active = "yes"`).
_BOOL_HINT = "write true or false, without quotes"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rules file, located as precisely as the text allows."""

    file: str
    line: int | None
    where: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "where": self.where,
            "message": self.message,
            "hint": self.hint,
        }


class RulesError(ConfigError):
    """A rules file has problems (exit 2); `problems` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        loc = f"{first.file}:{first.line}" if first.line else first.file
        where = f"{first.where}: " if first.where else ""
        super().__init__(
            f"{loc}: {where}{first.message}{more}",
            hint=(first.hint + "; " if first.hint else "")
            + f"`jtrack rules check {first.file}` lists every problem",
        )
        self.problems = problems


def number(text: str) -> float | None:
    """The number a string holds, or None (no `inf`, `nan`, hex or thousands separators)."""
    t = text.strip()
    return float(t) if NUMBER_RE.match(t) else None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


#: Genesys API names whose jtrack key difflib does not find (compared as _plain gives them):
#: a condition's `key` is Genesys' criteria name for its field.
_API_NAMES = {
    "shouldignorecase": "ignorecase",
    "shoulddisplaytoagent": "showntoagents",
    "isactive": "active",
    "key": "field",
}

#: Field names a rules author meets elsewhere (Genesys' API, UTM parameters) -> jtrack's
#: field, and what to add to "did you mean" (None: no field of jtrack holds it).
FIELD_NAMES: dict[str, tuple[str | None, str]] = {
    "utm_source": ("mktCampaign.source", ""),
    "utm_medium": ("mktCampaign.medium", ""),
    "utm_campaign": ("mktCampaign.name", ""),
    "utm_term": ("mktCampaign.term", ""),
    "utm_content": ("mktCampaign.content", ""),
    "mktCampaign.campaign": ("mktCampaign.name", ""),
    "mktCampaign.clickId": (None, "campaign fields: mktCampaign.source|medium|name|term|content"),
    "mktCampaign.network": (None, "campaign fields: mktCampaign.source|medium|name|term|content"),
    "device.isMobile": ("device.category", ' (equal ["mobile"])'),
    "geolocation.countryCode": ("geolocation.country", " (it holds the ISO code)"),
    "geolocation.region": ("geolocation.regionName", ""),
    "geolocation.city": ("geolocation.locality", ""),
    "referrer.domain": ("referrer.hostname", ""),
    "referrer.host": ("referrer.hostname", ""),
}

#: Operators as other languages write them -> Genesys' (`lt` is lessThan).
OPERATOR_NAMES = {
    "lt": "lessThan",
    "le": "lessThanOrEqual",
    "lte": "lessThanOrEqual",
    "gt": "greaterThan",
    "ge": "greaterThanOrEqual",
    "gte": "greaterThanOrEqual",
    "eq": "equal",
    "ne": "notEqual",
    "neq": "notEqual",
    "contains": "containsAny",
    "in": "equal",
}


def attribute_name(text: str) -> tuple[str | None, str | None]:
    """The attribute `text` names (`price`, `attributes.price`, Genesys'
    `attributes.price.value` in any case), or None and why not."""
    name = text[len(ATTRIBUTE_PREFIX) :] if text.startswith(ATTRIBUTE_PREFIX) else text
    if name.lower().endswith(".value"):  # (Genesys spells it attributes.<name>.value)
        name = name[: -len(".value")]
    if not name.strip():
        return None, "no attribute name"
    if not _ATTR_NAME_RE.match(name):
        return None, f"{name!r} is no attribute name (it has a space or a dot)"
    return name, None


def _value_attribute(text: str) -> tuple[str | None, str | None]:
    """The attribute an outcome's `value_attribute` names: as written (a name with a space
    or a dot, `order total`, is an attribute's name an export may carry: no condition can
    name it, a value attribute can), or `attributes.<name>` and Genesys'
    `attributes.<name>.value` (in any case); None and why for no name at all."""
    name = text
    if text.startswith(ATTRIBUTE_PREFIX):
        name = text[len(ATTRIBUTE_PREFIX) :]
        if name.lower().endswith(".value"):
            name = name[: -len(".value")]
    return (name, None) if name.strip() else (None, "no attribute name")


def _plain(word: str) -> str:
    """A key as compared with another: lower case, letters and digits (`displayName`,
    `display_name` and `display-name` are one)."""
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _nearest(word: str, valid: Iterable[str]) -> str | None:
    """The valid key meant by `word`: the same but for case and separators, a Genesys API
    name of it, else the closest by spelling."""
    choices = list(valid)
    plain = _API_NAMES.get(_plain(word), _plain(word))
    same = [v for v in choices if _plain(v) == plain]
    if same:
        return same[0]
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return near[0] if near else None


class _Checker:
    def __init__(
        self,
        data: dict[str, Any],
        file: str,
        text: str,
        zone: bool = False,
        usage: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        self.data = data
        self.file = file
        self.loc = KeyLocator(text)
        self.problems: list[Problem] = []
        #: what is valid but never (or always) matches: lint.py's checks, on their lines
        self.warnings: list[Problem] = []
        self._reported: set[tuple[Path_, str]] = set()
        self.zone = zone  # check [usage] tz too (`rules check`)
        self.usage = usage  # check the whole of [usage] with this (see check_text)

    # ---------------------------------------------------------------- reporting

    def where(self, path: Path_) -> str:
        out = ""
        node: Any = self.data
        for i, part in enumerate(path):
            if isinstance(part, int):
                out += f"[{part + 1}]"
                node = node[part] if isinstance(node, list) and part < len(node) else None
                if i == 1 and isinstance(node, dict) and isinstance(node.get("id"), str):
                    out += f" {node['id']!r}" + (":" if i < len(path) - 1 else "")
            else:
                sep = "" if not out or out.endswith(":") else "."
                out += (" " if out.endswith(":") else sep) + part
                node = node.get(part) if isinstance(node, dict) else None
        return out

    def add(self, path: Path_, message: str, hint: str | None = None) -> None:
        # a value read twice (e.g. a list checked, then its items) is reported once
        if (path, message) in self._reported:
            return
        self._reported.add((path, message))
        self.problems.append(
            Problem(self.file, self.loc.line(path), self.where(path), message, hint)
        )

    def warn(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.warnings.append(
            Problem(self.file, self.loc.line(path), self.where(path), message, hint)
        )

    def unknown_keys(
        self,
        path: Path_,
        table: dict[str, Any],
        valid: tuple[str, ...],
        parent: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Report keys not in `valid`. `parent`: the enclosing table's header and keys, for
        the TOML trap of writing a parent's key below a [[parent.child]] header."""
        for key in table:
            if key in valid:
                continue
            if parent is not None and key in parent[1]:
                header = ".".join(str(p) for p in path if isinstance(p, str))
                hint = (
                    f"{key!r} belongs to the [[{parent[0]}]] table: TOML gives every key "
                    f"below a [[{header}]] header to that {path[-2]}, so move {key} above it"
                )
            else:
                near = _nearest(key, valid)
                hint = (
                    (f"did you mean {near!r}? " if near else "") + "valid keys: " + ", ".join(valid)
                )
            self.add((*path, key), f"unknown key {key!r}", hint)

    # ---------------------------------------------------------------- typed getters

    def get_str(
        self, path: Path_, table: dict[str, Any], key: str, required: bool = False
    ) -> str | None:
        if key not in table:
            if required:
                self.add(path, f"missing {key!r}", f'add {key} = "..."')
            return None
        v = table[key]
        if not isinstance(v, str) or not v.strip():
            number = isinstance(v, int | float) and not isinstance(v, bool)
            example = f'"{v}"' if number else '"..."'
            self.add(
                (*path, key),
                f"{key} must be a non-empty string, not {v!r}",
                f"write {key} = {example} (text in quotes)",
            )
            return None
        return v

    def get_bool(self, path: Path_, table: dict[str, Any], key: str, default: bool) -> bool:
        v = table.get(key, default)
        if not isinstance(v, bool):
            self.add((*path, key), f"{key} must be true or false, not {v!r}", _BOOL_HINT)
            return default
        return v

    def get_int(
        self, path: Path_, table: dict[str, Any], key: str, default: int, lo: int, hi: int | None
    ) -> int:
        v = table.get(key, default)
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            self.add(
                (*path, key),
                f"{key} must be a whole number {rng}, not {v!r}",
                f"write a number without quotes, e.g. {key} = {lo if hi else max(lo, 2)}"
                if isinstance(v, str)
                else (
                    f"write a whole number from {lo} to {hi}"
                    if hi is not None
                    else f"write a whole number, {lo} or more"
                ),
            )
            return default
        return v

    def get_list(
        self, path: Path_, table: dict[str, Any], key: str, items: str = "values"
    ) -> list[Any]:
        """`table[key]`, a list (empty when not given); what its items are says the hint of
        a value that is no list: "values", "tables" ([[...]] tables) or "conditions" (inline
        condition tables)."""
        v = table.get(key, [])
        if not isinstance(v, list):
            if items == "tables":  # ([segment.pattern]: one bracket; or text)
                header = ".".join(str(x) for x in (*path, key) if isinstance(x, str))
                hint = f"write [[{header}]] (two brackets: one table for each {key})"
            elif items == "conditions":
                field = "" if key == "page_url" else 'field = "...", '
                hint = f'write {key} = [{{ {field}operator = "equal", values = ["..."] }}]'
            elif isinstance(v, dict):
                hint = f"put it in a list: {key} = [{{ ... }}]"
            elif isinstance(v, str):
                hint = f'write {key} = ["{v}"]'
            else:
                hint = f"write {key} = [...]"
            self.add((*path, key), f"{key} must be a list, not {type(v).__name__}", hint)
            return []
        return v

    def get_tables(
        self, path: Path_, table: dict[str, Any], key: str, items: str = "tables"
    ) -> list[tuple[Path_, dict]]:
        out: list[tuple[Path_, dict]] = []
        for i, item in enumerate(self.get_list(path, table, key, items)):
            if isinstance(item, dict):
                out.append(((*path, key, i), item))
            else:
                self.add((*path, key, i), f"each {key} entry must be a table, not {item!r}")
        return out

    def get_date(self, path: Path_, table: dict[str, Any], key: str, end: bool) -> datetime | None:
        if key not in table:
            return None
        v = table[key]
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                try:
                    v = date.fromisoformat(v)
                except ValueError:
                    self.add(
                        (*path, key),
                        f"cannot read {table[key]!r} as a date or time",
                        "write a TOML date (2026-10-01) or date-time (2026-10-01T09:00:00Z)",
                    )
                    return None
        if isinstance(v, datetime):
            return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        if isinstance(v, date):
            d = datetime(v.year, v.month, v.day, tzinfo=UTC)
            # a date as end_date includes that whole day (UTC)
            return d + timedelta(days=1) if end else d
        self.add((*path, key), f"{key} must be a date or date-time, not {v!r}")
        return None

    # ---------------------------------------------------------------- conditions

    def condition(
        self, path: Path_, c: dict[str, Any], scope: str, page: bool = False
    ) -> Condition | None:
        """scope: "context" (session fields) or "event" (event fields). Genesys' own name
        for ignore_case, `shouldIgnoreCase`, is taken as it (conditions copied from Genesys)."""
        if GENESYS_IGNORE_CASE in c:
            if "ignore_case" in c:
                self.add(
                    (*path, GENESYS_IGNORE_CASE),
                    f"both ignore_case and {GENESYS_IGNORE_CASE} (Genesys' name for it)",
                    "keep one of them",
                )
            given = c[GENESYS_IGNORE_CASE]
            c = {k: v for k, v in c.items() if k != GENESYS_IGNORE_CASE}
            if not isinstance(given, bool):  # (named as written, at its own line)
                self.add(
                    (*path, GENESYS_IGNORE_CASE),
                    f"{GENESYS_IGNORE_CASE} must be true or false, not {given!r}",
                    _BOOL_HINT,
                )
            elif "ignore_case" not in c:
                c["ignore_case"] = given
        self.unknown_keys(path, c, PAGE_CONDITION_KEYS if page else CONDITION_KEYS)
        ok = True
        column: str | None = None
        attribute: str | None = None
        if page:
            field = c.get("field", "page.url")
            if field != "page.url":
                self.add(
                    (*path, "field"),
                    f"page_url conditions test the page URL only, not {field!r}",
                    'leave field out (or write field = "page.url")',
                )
                ok = False
            column = EVENT_FIELDS["page.url"]
        else:  # (Genesys' `key`: unknown_keys said "did you mean 'field'", once)
            field = self.get_str(path, c, "field", required="key" not in c)
            if field is None:
                ok = False
            else:
                column, attribute, good = self.field(path, field, scope)
                ok = ok and good
        op = self.get_str(path, c, "operator", required=True)
        if op is None:
            ok = False
        elif op not in OPERATORS:
            near = _nearest(op, OPERATORS)
            low = {o.lower(): o for o in OPERATORS}.get(op.lower())
            near = low or OPERATOR_NAMES.get(op.lower()) or near
            self.add(
                (*path, "operator"),
                f"unknown operator {op!r}",
                (f"did you mean {near!r}? " if near else "") + "operators: " + ", ".join(OPERATORS),
            )
            ok = False
        ignore_case = self.get_bool(path, c, "ignore_case", False)
        values: list[str] = []
        numbers: list[float] = []
        if "values" not in c:
            self.add(path, "missing 'values'", 'add values = ["..."] (a list, even for one value)')
            ok = False
        else:
            raw = c["values"]
            if not isinstance(raw, list):
                self.add(
                    (*path, "values"),
                    f"values must be a list, not {raw!r}",
                    f"write values = [{_toml_repr(raw)}]",
                )
                ok = False
            elif not raw:
                self.add((*path, "values"), "values is empty", "give at least one value")
                ok = False
            else:
                for i, v in enumerate(raw):
                    if isinstance(v, str | int | float | bool):
                        values.append(_text(v))
                        # (a whole number past 2^53 is no float: an order id of 19 digits
                        # would equal its neighbours; it stays text)
                        if isinstance(v, float) or (
                            isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53
                        ):
                            numbers.append(float(v))
                    else:
                        quoted = v.isoformat() if isinstance(v, date | time) else None
                        self.add(
                            (*path, "values", i),
                            f"a value must be text or a number: {v!r}",
                            f'quote it: "{quoted}"'
                            if quoted
                            else "write each value as text or a number",
                        )
                        ok = False
        if ok and op in NUMERIC_OPERATORS:
            if len(values) != 1:
                self.add(
                    (*path, "values"),
                    f"{op} compares with exactly one number, got {len(values)} values",
                    "give one value, e.g. values = [100]",
                )
                ok = False
            elif number(values[0]) is None:
                self.add(
                    (*path, "values", 0),
                    f"{op} needs a number, {values[0]!r} is not one",
                    'write e.g. values = [100] or values = ["99.5"]',
                )
                ok = False
        if not ok or field is None or op is None:
            return None
        numbers = [x for x in numbers if math.isfinite(x)] if op in EQUALITY_OPERATORS else []
        cond = Condition(
            field, op, tuple(values), ignore_case, column, attribute, tuple(dict.fromkeys(numbers))
        )
        for at, message, hint in condition_warnings(cond):
            self.warn(path if at is None else (*path, "values", at), message, hint)
        return cond

    def field(self, path: Path_, field: str, scope: str) -> tuple[str | None, str | None, bool]:
        fp = (*path, "field")
        if field in FIELD_NAMES:  # (a name met elsewhere: jtrack's, where it belongs)
            meant, more = FIELD_NAMES[field]
            hint = f"did you mean {meant!r}?{more}" if meant else f"jtrack has none; {more}"
            if meant in CONTEXT_FIELDS and scope != "context":
                message = f"{field!r} is a visitor-context field (jtrack's {meant!r})"
                hint = (
                    f'test field = "{meant}" in the segment\'s context = [...]{more} '
                    "(patterns test event fields)"
                )
            else:
                kind = "visitor-context" if scope == "context" else "event"
                message = f"unknown {kind} field {field!r}"
            self.add(fp, message, hint)
            return None, None, False
        if scope == "context":
            if field in CONTEXT_FIELDS:
                return CONTEXT_FIELDS[field], None, True
            if field in EVENT_FIELDS or field.startswith(ATTRIBUTE_PREFIX):
                self.add(
                    fp,
                    f"{field!r} is an event field, not a visitor-context field",
                    "test event fields in a [[segment.pattern]]",
                )
                return None, None, False
            near = _nearest(field, CONTEXT_FIELDS)
            self.add(
                fp,
                f"unknown visitor-context field {field!r}",
                (f"did you mean {near!r}? " if near else "")
                + "fields: "
                + ", ".join(CONTEXT_FIELDS),
            )
            return None, None, False
        if field in EVENT_FIELDS:
            return EVENT_FIELDS[field], None, True
        if field.startswith(ATTRIBUTE_PREFIX):
            name, why = attribute_name(field)
            if name is None:
                self.add(fp, f"{field!r}: {why}", "write attributes.<name>")
                return None, None, False
            return None, name, True
        if field in CONTEXT_FIELDS:
            self.add(
                fp,
                f"{field!r} is a visitor-context field, not an event field",
                "test it in the segment's context = [...]",
            )
            return None, None, False
        valid = [*EVENT_FIELDS, "attributes.<name>"]
        near = _nearest(field, valid)
        self.add(
            fp,
            f"unknown event field {field!r}",
            (f"did you mean {near!r}? " if near else "") + "fields: " + ", ".join(valid),
        )
        return None, None, False

    def conditions(self, path: Path_, table: dict[str, Any], key: str, scope: str) -> list:
        """The conditions of table[key], all to hold together (on one event, or of one
        session): those that cannot are warned of (lint.group_warnings)."""
        out = []
        paths: list[Path_] = []
        for p, c in self.get_tables(path, table, key, "conditions"):
            cond = self.condition(p, c, scope, page=key == "page_url")
            if cond is not None:
                out.append(cond)
                paths.append(p)
        for i, message, hint in group_warnings(out):
            self.warn(paths[i], message, hint)
        return out

    def patterns(
        self, path: Path_, table: dict[str, Any], key: str, keys: tuple[str, ...]
    ) -> tuple[list[Pattern], bool]:
        out: list[Pattern] = []
        ok = True
        section = str(path[0])
        parent = (section, _SECTION_KEYS[section])
        for p, t in self.get_tables(path, table, key):
            self.unknown_keys(p, t, keys, parent)
            count = self.get_int(p, t, "count", 1, 1, None) if "count" in keys else 1
            raw = self.get_list(p, t, "conditions", "conditions")
            if not raw:
                if t.get("conditions", []) != []:  # not a list: reported just above
                    ok = False
                    continue
                self.add(
                    p,
                    "no conditions",
                    'add conditions = [{ field = "eventName", operator = "equal", '
                    'values = ["..."] }]',
                )
                ok = False
                continue
            conds = self.conditions(p, t, "conditions", "event")
            if len(conds) != len(raw):
                ok = False
                continue
            out.append(Pattern(tuple(conds), count))
        return out, ok

    def usage_problem(self) -> None:
        """The problems `self.usage` finds in [usage], each on the line of the key it names
        (its table's line else): each key is checked alone, so every one is reported, not
        the first only."""
        table = self.data.get("usage")
        if isinstance(table, dict) and table:
            for key, value in table.items():
                self.usage_check({**self.data, "usage": {key: value}}, key)
        else:
            self.usage_check(self.data, None)

    def usage_check(self, data: dict[str, Any], key: str | None) -> None:
        """A problem of [usage] (`key`'s alone, when given) on that key's line."""
        from jtrack.errors import JtrackError

        assert self.usage is not None
        try:
            self.usage(data)
        except JtrackError as exc:
            message = re.sub(r"^<config>: \[usage\]:? ?", "", exc.message)
            if key is None:
                self.add(("usage",), message, exc.hint)
            else:
                self.add(("usage", key), re.sub(rf"^{re.escape(key)}:? ", "", message), exc.hint)

    # ---------------------------------------------------------------- rules

    def rules(self, path: Path) -> Rules:
        from jtrack.config import config_problems  # the whole config, roles included

        for problem in config_problems(self.data):
            self.add(problem.where, problem.message, problem.hint)
        if self.usage is not None:  # (`rules check`: jtrack usage's own check of [usage])
            self.usage_problem()
        elif self.zone:  # (the one key of [usage] rules report reads)
            from jtrack.config import config_tz

            try:
                config_tz(self.data)
            except ConfigError as exc:
                message = exc.message.removeprefix("<config>: [usage]: tz ")
                self.add(("usage", "tz"), message, exc.hint)
        tables: dict[str, list[tuple[Path_, dict]]] = {}
        for sec in SECTIONS:
            if sec in self.data and not isinstance(self.data[sec], list):
                self.add((sec,), f"{sec} must be an array of tables", f"write [[{sec}]]")
                tables[sec] = []
            else:
                tables[sec] = self.get_tables((), self.data, sec)
        seen: dict[str, Path_] = {}
        ids: dict[str, list[str]] = {s: [] for s in SECTIONS}
        for sec in SECTIONS:
            for p, t in tables[sec]:
                rid = self.get_str(p, t, "id", required=True)
                if rid is None:
                    continue
                if rid in seen:
                    self.add(
                        (*p, "id"),
                        f"duplicate id {rid!r} (also {self.where(seen[rid])})",
                        "give every segment, outcome and action map its own id",
                    )
                else:
                    seen[rid] = p
                ids[sec].append(rid)
        segments = [s for s in (self.segment(p, t) for p, t in tables["segment"]) if s]
        outcomes = [o for o in (self.outcome(p, t) for p, t in tables["outcome"]) if o]
        maps = [m for m in (self.action_map(p, t, ids["segment"]) for p, t in tables["action_map"])]
        return Rules(tuple(segments), tuple(outcomes), tuple(m for m in maps if m), path)

    def segment(self, p: Path_, t: dict[str, Any]) -> Segment | None:
        if "scope" in t:  # (Genesys' Session|Customer: jtrack matches per session only)
            scope = t["scope"]
            t = {k: v for k, v in t.items() if k != "scope"}
            if not (isinstance(scope, str) and scope.lower() == "session"):
                self.add(
                    (*p, "scope"),
                    f"scope {scope!r}: jtrack matches segments per session (Genesys' customer "
                    "scope, a segment kept across a visitor's sessions, is not supported)",
                    'leave scope out, or write scope = "session"',
                )
        self.unknown_keys(p, t, SEGMENT_KEYS)
        sid = self.get_str(p, t, "id", required=True)
        name = self.get_str(p, t, "display_name") or sid
        color = t.get("color")
        if color is not None and (not isinstance(color, str) or not _COLOR_RE.match(color)):
            self.add((*p, "color"), f"color must be #RRGGBB, not {color!r}", 'e.g. "#1E88E5"')
            color = None
        active = self.get_bool(p, t, "active", True)
        shown = self.get_bool(p, t, "shown_to_agents", True)
        raw_ctx = self.get_list(p, t, "context", "conditions")
        context = self.conditions(p, t, "context", "context")
        patterns, pat_ok = self.patterns(p, t, "pattern", PATTERN_KEYS)
        wrong_ctx = "context" in t and not isinstance(t["context"], list)  # (said above)
        if not raw_ctx and "pattern" not in t and not wrong_ctx:
            self.add(
                p,
                "segment has no conditions",
                "add context = [...] conditions and/or [[segment.pattern]] tables",
            )
            return None
        if sid is None or len(context) != len(raw_ctx) or not pat_ok:
            return None
        return Segment(
            sid,
            name or sid,
            color.upper() if color else None,
            active,
            shown,
            tuple(context),
            tuple(patterns),
        )

    def outcome(self, p: Path_, t: dict[str, Any]) -> Outcome | None:
        self.unknown_keys(p, t, OUTCOME_KEYS)
        oid = self.get_str(p, t, "id", required=True)
        name = self.get_str(p, t, "display_name") or oid
        positive = self.get_bool(p, t, "positive", True)
        active = self.get_bool(p, t, "active", True)
        value_attr = self.get_str(p, t, "value_attribute")
        if value_attr is not None:
            value_attr, why = _value_attribute(value_attr)
            if value_attr is None:
                self.add(
                    (*p, "value_attribute"),
                    f"{t['value_attribute']!r}: {why}",
                    'write the attribute\'s name, e.g. value_attribute = "price"',
                )
                oid = None
        if "stage" not in t:
            self.add(
                p,
                "outcome has no stages",
                "add one [[outcome.stage]] table per step, in order",
            )
            return None
        stages, ok = self.patterns(p, t, "stage", STAGE_KEYS)
        if not stages and ok:
            self.add((*p, "stage"), "outcome has no stages", "add [[outcome.stage]] tables")
            return None
        if oid is None or not ok:
            return None
        return Outcome(oid, name or oid, tuple(stages), positive, active, value_attr)

    def action_map(self, p: Path_, t: dict[str, Any], segment_ids: list[str]) -> ActionMap | None:
        self.unknown_keys(p, t, ACTION_MAP_KEYS)
        mid = self.get_str(p, t, "id", required=True)
        name = self.get_str(p, t, "display_name") or mid
        weight = self.get_int(p, t, "weight", 2, 1, 3)
        active = self.get_bool(p, t, "active", True)
        ok = True
        segs: list[str] = []
        for i, s in enumerate(self.get_list(p, t, "segments")):
            if not isinstance(s, str):
                self.add((*p, "segments", i), f"a segment id must be text, not {s!r}")
                ok = False
            elif s not in segment_ids:
                near = _nearest(s, segment_ids)
                self.add(
                    (*p, "segments", i),
                    f"unknown segment {s!r}",
                    (f"did you mean {near!r}? " if near else "")
                    + (
                        "segments: " + ", ".join(dict.fromkeys(segment_ids))
                        if segment_ids
                        else "no [[segment]]"
                    ),
                )
                ok = False
            else:
                segs.append(s)
        activity, act_ok = self.patterns(p, t, "activity", PATTERN_KEYS)
        has_segs = bool(t.get("segments"))
        has_act = bool(t.get("activity"))
        if has_segs and has_act:
            self.add(
                p,
                "action map has both segments and activity triggers",
                "use either segments = [...] (any of them) or [[action_map.activity]] (all of "
                "them), not both",
            )
            ok = False
        elif not has_segs and not has_act:
            self.add(
                p,
                "action map has no trigger",
                'add segments = ["seg-id"] or [[action_map.activity]] conditions',
            )
            ok = False
        raw_page = self.get_list(p, t, "page_url", "conditions")
        page = self.conditions(p, t, "page_url", "event")
        start = self.get_date(p, t, "start_date", end=False)
        end = self.get_date(p, t, "end_date", end=True)
        if start is not None and end is not None and end <= start:
            self.add(
                (*p, "end_date"),
                "end_date is not after start_date",
                "give an end after the start (an end date alone takes in that whole day)",
            )
            ok = False
        if mid is None or not ok or not act_ok or len(page) != len(raw_page):
            return None
        return ActionMap(
            mid, name or mid, weight, active, tuple(segs), tuple(activity), tuple(page), start, end
        )


def _toml_repr(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _text(v)


def check_text(
    text: str,
    file: str = "<rules>",
    zone: bool = False,
    usage: Callable[[dict[str, Any]], object] | None = None,
    warnings: list[Problem] | None = None,
) -> tuple[Rules | None, list[Problem]]:
    """Validate rules TOML text: the Rules when valid, and every problem found (`zone`: its
    [usage] tz too, which `rules report` reads; the commands that only load rules never
    read it, so a bad one does not stop them; `usage`: the whole [usage] table checked by
    this function, which raises a JtrackError: `jtrack usage`'s own check, which `jtrack
    rules check` passes, the rules layer knowing nothing of usage; `warnings`: a list the
    warnings are added to, what is valid but never or always matches, as lint.py finds it,
    and a file without rules)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, hint = toml_error_words(exc, text, file)
        return None, [Problem(file, toml_error_line(exc, text), "", message, hint)]
    checker = _Checker(data, file, text, zone, usage)
    rules = checker.rules(Path(file))
    if not data:  # (nothing to check: an empty file, or comments alone)
        checker.warn(
            (),
            "no rules: no [[segment]], [[outcome]] or [[action_map]] table",
            "see sample_data/jtrack.toml for an example",
        )
    if warnings is not None:
        warnings.extend(sorted(checker.warnings, key=lambda p: p.line or 0))
    if checker.problems:
        return None, sorted(checker.problems, key=lambda p: p.line or 0)
    return rules, []


def check_rules(
    path: str | os.PathLike[str] | None = None,
    zone: bool = True,
    usage: Callable[[dict[str, Any]], object] | None = None,
    once: bool = False,
    warnings: list[Problem] | None = None,
) -> tuple[Rules | None, list[Problem], Path | None]:
    """Validate a rules file (or the discovered jtrack.toml): rules, problems, path used
    (`zone`: its [usage] tz too; `usage`: its whole [usage] table, as `jtrack rules check`
    does; see check_text; `once`: the caller reads nothing more of it, so a pipe will do;
    `warnings`: a list its warnings are added to, see check_text)."""
    found = find_config(path, "rules", once=once)
    if found is None:
        return None, [], None
    try:
        raw = found.read_bytes()
        text = raw.decode("utf-8-sig")  # (a BOM: Windows editors)
    except UnicodeDecodeError:
        return None, [Problem(str(found), None, "", "not UTF-8 text", "save it as UTF-8")], found
    except OSError as exc:  # a file that cannot be read is exit 1, as every other
        raise FileAccessError(
            f"{found}: cannot read the rules file ({exc.strerror or exc})",
            hint="check the file's permissions",
        ) from None
    rules, problems = check_text(text, str(found), zone, usage, warnings)
    if rules is not None:
        sha = hashlib.sha256(raw).hexdigest()
        rules = Rules(rules.segments, rules.outcomes, rules.action_maps, found, sha)
    return rules, problems, found


def load_rules(path: str | os.PathLike[str] | None = None) -> Rules | None:
    """The rules from FILE, else $JTRACK_CONFIG, else ./jtrack.toml; None when there is none.

    Raises RulesError (a ConfigError, exit 2) naming the first problem when the file is
    invalid, ConfigError when a named file does not exist.
    """
    rules, problems, _ = check_rules(path, zone=False)  # (loading reads no zone)
    if problems:
        raise RulesError(problems)
    return rules


#: What the library takes as rules: Rules (load_rules(FILE)), or a rules file's path.
RulesLike: TypeAlias = Rules | str | os.PathLike[str]


def as_rules(rules: object) -> Rules | None:
    """What a library caller gives as rules: Rules (or None) as they are, a rules file's path
    loaded (load_rules); anything else is a UsageError."""
    if rules is None or isinstance(rules, Rules):
        return rules
    if isinstance(rules, str | os.PathLike):
        return load_rules(rules)
    from jtrack.errors import UsageError

    raise UsageError(
        f"rules {rules!r}", hint="a jtrack.core.rules.Rules (load_rules(FILE)), or the file"
    )


def parse_rules(text: str, file: str = "<rules>") -> Rules:
    """Rules from TOML text; raises RulesError when invalid."""
    rules, problems = check_text(text, file)
    if problems:
        raise RulesError(problems)
    assert rules is not None
    return rules
