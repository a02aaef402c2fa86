"""Conditions as Polars expressions.

A condition becomes a Boolean expression over a frame that has the condition's column (or,
for `attributes.<name>`, the column `attribute_column(name)` made by `attribute_exprs`).
Semantics, shared by every rule kind:
- a missing (null) text value is the empty string, so `notEqual ["google"]` holds for a
  session without a campaign, and `equal [""]` finds missing values;
- `equal`/`startsWith`/`endsWith`/`containsAny` hold when ANY value matches; `containsAll`
  when the text contains EVERY value; `notEqual`/`notContainsAny` when NONE matches;
  `notContainsAll` when at least one value is absent;
- `ignore_case` lowercases both sides (a final sigma as any other); it has no effect on
  numeric operators;
- numeric operators read the text as a decimal number (`12`, `-3.5`, `1e3`, surrounding
  spaces allowed; none beyond a float's range) and compare with the one value; text that is
  not a number never matches; `equal`/`notEqual` also compare a value the rules file wrote
  as a number (TOML `129.90`) as one, so that it matches "129.90" and "129.9" alike.
Imports Polars only.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from jtrack.core.rules.load import NUMBER_RE
from jtrack.core.rules.model import Condition, Pattern
from jtrack.core.text import fold, forms

_ATTR_PREFIX = "_attr:"


def attribute_column(name: str) -> str:
    return _ATTR_PREFIX + name


def attribute_exprs(names: Iterable[str], column: str = "attributes") -> list[pl.Expr]:
    """One String column per attribute name: the value of the first entry with that name."""
    out = []
    for name in sorted(set(names)):
        el = pl.element()
        out.append(
            pl.col(column)
            .list.eval(el.filter(el.struct.field("name") == name).struct.field("value"))
            .list.first()
            .alias(attribute_column(name))
        )
    return out


def source_column(cond: Condition) -> str:
    if cond.attribute is not None:
        return attribute_column(cond.attribute)
    assert cond.column is not None
    return cond.column


def _text(col: str, dtype: pl.DataType | None) -> pl.Expr:
    e = pl.col(col)
    if dtype is not None and dtype != pl.String:
        e = e.cast(pl.String)
    return e.fill_null("")


def number_expr(col: str, dtype: pl.DataType | None) -> pl.Expr:
    if dtype is not None and dtype.is_numeric():
        return pl.col(col).cast(pl.Float64)
    t = pl.col(col).cast(pl.String).str.strip_chars()
    x = t.cast(pl.Float64, strict=False)
    # (no infinity: "1e400" is beyond any number a value can be, as in the readers)
    return pl.when(t.str.contains(NUMBER_RE.pattern) & x.is_finite()).then(x)


def condition_expr(cond: Condition, schema: dict[str, pl.DataType] | None = None) -> pl.Expr:
    """The condition as a Boolean expression (never null)."""
    col = source_column(cond)
    dtype = (schema or {}).get(col)
    op = cond.operator
    if cond.numeric:
        x = number_expr(col, dtype)
        v = float(cond.values[0])
        cmp = {
            "greaterThan": x > v,
            "greaterThanOrEqual": x >= v,
            "lessThan": x < v,
            "lessThanOrEqual": x <= v,
        }[op]
        return cmp.fill_null(False)
    s = _text(col, dtype)
    if cond.ignore_case:  # (a final sigma folded to σ: "ΠΡΟΣ" starts "ΠΡΟΣΦΟΡΕΣ")
        s = fold(s)
    # each value as written and composed (NFC): found in text sent either way
    vals = [forms(v, cond.ignore_case) for v in cond.values]

    def any_of(fn: str) -> pl.Expr:
        parts = [getattr(s.str, fn)(pl.lit(f)) for v in vals for f in v]
        return pl.any_horizontal(parts)

    def contains(v: list[str]) -> pl.Expr:
        return pl.any_horizontal([s.str.contains(f, literal=True) for f in v])

    same = s.is_in([f for v in vals for f in v])
    if cond.numbers:  # (written as numbers: 129.90 is "129.90" and "129.9" alike)
        same = same | number_expr(col, dtype).is_in(list(cond.numbers)).fill_null(False)
    if op == "equal":
        out = same
    elif op == "notEqual":
        out = ~same
    elif op == "containsAll":
        out = pl.all_horizontal([contains(v) for v in vals])
    elif op == "containsAny":
        out = pl.any_horizontal([contains(v) for v in vals])
    elif op == "notContainsAll":
        out = ~pl.all_horizontal([contains(v) for v in vals])
    elif op == "notContainsAny":
        out = ~pl.any_horizontal([contains(v) for v in vals])
    elif op == "startsWith":
        out = any_of("starts_with")
    elif op == "endsWith":
        out = any_of("ends_with")
    else:  # pragma: no cover - the loader rejects unknown operators
        raise ValueError(f"unknown operator {op!r}")
    return out.fill_null(False)


def all_of(conds: Iterable[Condition], schema: dict[str, pl.DataType] | None = None) -> pl.Expr:
    exprs = [condition_expr(c, schema) for c in conds]
    return pl.all_horizontal(exprs) if exprs else pl.lit(True)


def pattern_expr(pattern: Pattern, schema: dict[str, pl.DataType] | None = None) -> pl.Expr:
    """True on events where every condition of the pattern holds."""
    return all_of(pattern.conditions, schema)
