"""Text compared without regard to case, the same way everywhere (`--where FIELD~TEXT`, a
rule's `ignore_case`, the hints that name other spellings).

Lower-cased, with a final sigma taken as any other (`ΠΡΟΣ` lowers to `προς`, which
`ΠΡΟΣΦΟΡΕΣ`, lowered to `προσφορες`, does not contain); the text a user types (one value)
is looked for as written and in Unicode's composed form (NFC), as web pages and forms send
text, so a value typed on a keyboard or terminal that composes otherwise (`Cafe` + a
combining accent) finds it, and one typed as a page sent it decomposed finds that. Stored
text is compared as it was sent (normalising every row would cost more than the
comparison). Imports Polars only; never prints.
"""

from __future__ import annotations

import unicodedata

import polars as pl


def fold(expr: pl.Expr) -> pl.Expr:
    """A text column folded for a comparison that ignores case."""
    return expr.str.to_lowercase().str.replace_all("ς", "σ", literal=True)


def _folded(value: str) -> str:
    """One text lower-cased as `fold` lower-cases a column (a final sigma as any other)."""
    return value.lower().replace("ς", "σ")


def fold_value(value: str) -> str:
    """One value the user gave, folded as `fold` folds a column (and composed: NFC)."""
    return _folded(compose(value))


def compose(value: str) -> str:
    """One value the user gave in Unicode's composed form (NFC), case kept."""
    return unicodedata.normalize("NFC", value)


def forms(value: str, ignore_case: bool = False) -> list[str]:
    """The forms a value the user gave is looked for in: as written and composed (NFC),
    folded with `ignore_case` (one form when they are the same). Stored text is compared as
    it was sent, and is never decomposed here: a value typed decomposed finds text sent
    composed (and text sent decomposed, as typed), but a value typed composed does not find
    text a page sent decomposed (NFD), as the README says."""
    both = [value, compose(value)]
    return list(dict.fromkeys([_folded(v) for v in both] if ignore_case else both))


def ascii_digits(value: str) -> str:
    """`value` with its digits of any script as ASCII digits, and full-width forms as their
    plain ones (`＋４４`, `+٤٤` are `+44`): a phone number typed as it is written in
    Arabic, Persian, Devanagari or full width, read as the contacts code reads it."""
    text = unicodedata.normalize("NFKC", value)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def other_case(ids: pl.LazyFrame, name: str, who: str, n: int = 3) -> list[str]:
    """The values of column `name` of `ids` (at most `n`, sorted) that `who`, or the start
    of one, is in another case: what a hint names where ids are compared as written."""
    p = who.strip().lower()
    if not p:
        return []
    return (
        ids.filter(pl.col(name).str.to_lowercase().str.starts_with(p))
        .select(name)
        .unique()
        .sort(name)
        .head(n)
        .collect()
        .get_column(name)
        .to_list()
    )


def did_you_mean(ids: list[str]) -> str:
    """The hint naming `ids` (found by other_case)."""
    shown = " or ".join(repr(i) for i in ids[:2]) + (" ..." if len(ids) > 2 else "")
    return f"ids are compared as written: did you mean {shown}?"
