"""Rules that are valid but can never match, or always match: warnings, not errors.

Data-driven: KNOWN_VALUES says which values a field's export holds (`device.category`:
desktop, mobile, tablet, other; `geolocation.country`: ISO 3166 alpha-2 codes; ...),
KIND_NAMES which of jtrack's event kinds Genesys names otherwise (`page_view` is
`page_viewed`), and EMPTY_VALUE what an empty value makes of each text operator. The
checks see one condition (`condition_warnings`) or the conditions that must hold together
on one event or session (`group_warnings`). Imports the standard library and the model only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from jtrack.core.rules.model import NUMERIC_OPERATORS, Condition

#: A warning: the index of the value it is about (None: the condition), message, hint.
Warning_ = tuple[int | None, str, str]


@dataclass(frozen=True)
class ValueSet:
    """The values the export holds in a field: a closed list (`values`) or a shape
    (`pattern`, a regular expression a value must match whole); `case`: whether the export
    writes them in one case only (a value in another case never matches unless ignore_case);
    `what`: how the hint names them."""

    what: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    case: bool = True

    def holds(self, value: str, ignore_case: bool) -> bool:
        if self.pattern is not None:
            flags = re.IGNORECASE if ignore_case else 0
            return re.fullmatch(self.pattern, value, flags) is not None
        if ignore_case or not self.case:
            return value.casefold() in {v.casefold() for v in self.values}
        return value in self.values


#: Fields whose values the export holds from a known set (docs: shared/domain.md, the
#: Genesys event shape; jtrack writes authenticated as true/false and visitNumber as a
#: whole number).
KNOWN_VALUES: dict[str, ValueSet] = {
    "authenticated": ValueSet("true or false", ("true", "false")),
    "device.category": ValueSet(
        "desktop, mobile, tablet or other", ("desktop", "mobile", "tablet", "other")
    ),
    "referrer.medium": ValueSet(
        "internal, search, social, email, unknown or paid",
        ("internal", "search", "social", "email", "unknown", "paid"),
    ),
    "geolocation.country": ValueSet(
        "a two-letter ISO 3166 code (DE, US; the name is geolocation.countryName)",
        pattern=r"[A-Z]{2}",
    ),
    "visitNumber": ValueSet("a whole number (1: a first visit)", pattern=r"[0-9]+"),
}

#: jtrack's event kinds whose Genesys eventName differs: a pattern testing eventName equal
#: to the kind's name never matches.
KIND_NAMES: dict[str, str] = {"page_view": "page_viewed"}

#: What an empty text value makes of a condition: every text contains, starts and ends
#: with "" (so any-of operators match everything, their negations nothing; of the
#: all-of operators it is a value that adds nothing).
EMPTY_VALUE: dict[str, str] = {
    "containsAny": "matches every value (every text contains the empty string)",
    "startsWith": "matches every value (every text starts with the empty string)",
    "endsWith": "matches every value (every text ends with the empty string)",
    "notContainsAny": "matches no value (every text contains the empty string)",
    "containsAll": "adds nothing (every text contains the empty string)",
    "notContainsAll": "adds nothing (every text contains the empty string)",
}
#: ... and of an all-of operator whose only value is empty.
EMPTY_ALONE: dict[str, str] = {
    "containsAll": "matches every value (every text contains the empty string)",
    "notContainsAll": "matches no value (every text contains the empty string)",
}

#: Of each numeric operator: a lower (True) or upper (False) bound, and whether strict.
_BOUNDS: dict[str, tuple[bool, bool]] = {
    "greaterThan": (True, True),
    "greaterThanOrEqual": (True, False),
    "lessThan": (False, True),
    "lessThanOrEqual": (False, False),
}


def condition_warnings(cond: Condition) -> list[Warning_]:
    """What makes one condition match never or always, value by value."""
    out: list[Warning_] = []
    if cond.operator in NUMERIC_OPERATORS:
        return out
    known = KNOWN_VALUES.get(cond.field)
    positive = cond.operator in ("equal", "startsWith", "endsWith", "containsAny")
    for i, value in enumerate(cond.values):
        if value == "" and cond.operator in EMPTY_VALUE:
            alone = EMPTY_ALONE.get(cond.operator) if len(cond.values) == 1 else None
            out.append(
                (
                    i,
                    f"an empty value: {cond.operator} {alone or EMPTY_VALUE[cond.operator]}",
                    'remove the empty value ("")',
                )
            )
            continue
        compared = cond.operator in ("equal", "notEqual")
        # (an empty value is the missing one, which any field may be; a value in another
        # case may be what an export sends, the store keeps values as sent; a number
        # written 1.0 is the whole number 1, as equal compares numbers)
        if known is not None and compared and value != "" and not known.holds(_probe(value), True):
            verdict = "never matches" if positive else "always holds"
            out.append(
                (
                    i,
                    f"the export's {cond.field} is {known.what}: {value!r} {verdict}",
                    "write a value it holds",
                )
            )
        if cond.field == "eventName" and value in KIND_NAMES and cond.operator == "equal":
            right = KIND_NAMES[value]
            out.append(
                (
                    i,
                    f"{value!r} is jtrack's name for the kind; the export's eventName is {right!r}",
                    f'write values = ["{right}"]',
                )
            )
    return out


def group_warnings(conds: Sequence[Condition]) -> list[tuple[int, str, str]]:
    """Conditions that must all hold on one event (or session) and cannot together: a
    range that is empty (greaterThan 100 and lessThan 50 on one field), two `equal` on one
    field with no value in common. Each as (the index of the condition that closes it,
    message, hint)."""
    out: list[tuple[int, str, str]] = []
    bounds: dict[tuple[str, str | None], dict[bool, list[tuple[float, bool, int]]]] = {}
    equals: dict[tuple[str, str | None], tuple[Condition, int]] = {}
    for i, c in enumerate(conds):
        key = (c.field, c.attribute)
        if c.operator in _BOUNDS:
            lower, strict = _BOUNDS[c.operator]
            bounds.setdefault(key, {True: [], False: []})[lower].append(
                (float(c.values[0]), strict, i)
            )
        elif c.operator == "equal":
            seen = equals.get(key)
            if seen is None:
                equals[key] = (c, i)
            elif not _overlap(seen[0], c):
                out.append(
                    (
                        i,
                        f"{c.field} equal {list(c.values)} and equal {list(seen[0].values)} "
                        "in one pattern: one value cannot be both, so it never matches",
                        "put the values in one condition (equal is any of its values), or "
                        "the conditions in two patterns",
                    )
                )
    for (field, _), sides in bounds.items():
        if not sides[True] or not sides[False]:
            continue
        # the tightest of each side (a strict bound is tighter than the same number)
        lo = max(sides[True], key=lambda b: (b[0], b[1]))
        hi = min(sides[False], key=lambda b: (b[0], not b[1]))
        if lo[0] > hi[0] or (lo[0] == hi[0] and (lo[1] or hi[1])):
            out.append(
                (
                    max(lo[2], hi[2]),
                    f"{field}: no number is {_bound(conds[lo[2]])} and "
                    f"{_bound(conds[hi[2]])}, so it never matches",
                    "check the bounds: greaterThan the lower one, lessThan the upper one",
                )
            )
    return sorted(out)


def _probe(value: str) -> str:
    """A value as a known set is checked: a whole number written with a fraction (`1.0`,
    as TOML's float 1.0 is written) as the whole number."""
    from jtrack.core.rules.load import number

    n = number(value)
    return str(int(n)) if n is not None and float(n).is_integer() else value


def _bound(c: Condition) -> str:
    return f"{c.operator} {c.values[0]}"


def _overlap(a: Condition, b: Condition) -> bool:
    """Whether one value can satisfy both `equal` conditions."""
    fold = a.ignore_case or b.ignore_case

    def texts(c: Condition) -> set[str]:
        # (composed: a value matches text as typed or composed, core.text.forms)
        composed = {unicodedata.normalize("NFC", v) for v in c.values}
        return {v.casefold() if fold else v for v in composed}

    if texts(a) & texts(b):
        return True

    def nums(c: Condition) -> set[float]:
        from jtrack.core.rules.load import number

        found = {number(v) for v in c.values}
        return {x for x in found if x is not None}

    # (a value written as a number matches its other spellings: 129.90 and "129.9")
    return bool(a.numbers and set(a.numbers) & nums(b)) or bool(
        b.numbers and set(b.numbers) & nums(a)
    )
