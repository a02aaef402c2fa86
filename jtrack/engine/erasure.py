"""What `jtrack store erase` took out of a store, as every later run checks it.

The store keeps no erased id in clear: each is kept as SHA-256 of a random salt of the
store's own (made by its first erase, kept in the manifest) followed by the id. Runs must
drop the erased visitors' rows as they read, unattended (a cron job, `jtrack watch`), so
the hash takes no secret a run would need to be given; the salt makes the list useless
against a table of hashes made for every store, and an id is not readable from it. Whoever
can read the store can still test a guessed id against it (hash it with the store's salt),
as they could test it against the events it held: the list says who asked, not their data.
Imports Polars only.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash namespace)

#: A quoted JSON string in a rejected row's raw text (its visitor id may be any of them).
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
#: One that is valid JSON, escapes and all (decoded as JSON; another is taken as written).
_JSON_STRING = r'^"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"$'


#: A visitor id field's string in a raw text (`"customerId": "..."`, flat or Genesys).
_ID_FIELD = r'"(?:customerId|customer_id)"\s*:\s*"(?:[^"\\]|\\.)*"'


def quoted_strings(raw: pl.Series, *, id_fields: bool = False) -> pl.DataFrame:
    """Each quoted string of each text (`_i`: its row, `_t`: the string), JSON escapes
    decoded: a rejected row's raw text writes an id as `"m\\u00fcller"` (a JSON document's
    rows and a Parquet file's are written back with non-ASCII escaped) or `"a\\/b"`.
    `id_fields`: only the values of its visitor id fields (`customerId`, `customer_id`),
    not a page title or any other string that happens to equal an id."""
    pattern = _ID_FIELD if id_fields else _QUOTED
    tokens = (
        raw.cast(pl.String)
        .to_frame("raw")
        .with_row_index("_i")
        .select("_i", pl.col("raw").str.extract_all(pattern).alias("_t"))
        .explode("_t")
        .drop_nulls("_t")
    )
    if id_fields:  # (the value alone)
        tokens = tokens.with_columns(pl.col("_t").str.replace(r'^"[^"]*"\s*:\s*', ""))
    escaped = pl.col("_t").str.contains("\\", literal=True)
    valid = pl.col("_t").str.contains(_JSON_STRING)
    plain = tokens.filter(~(escaped & valid)).with_columns(
        pl.col("_t").str.slice(1, pl.col("_t").str.len_chars() - 2)
    )
    decoded = tokens.filter(escaped & valid)
    if decoded.height:
        decoded = decoded.with_columns(pl.col("_t").str.json_decode(pl.String()))
    return pl.concat([plain, decoded], how="vertical")


@dataclass
class Erasure:
    """The erased visitors (and contacts) of a store, hashed with its salt."""

    salt: str
    visitors: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, recorded: dict[str, Any] | None) -> Erasure | None:
        """The manifest's record (Manifest.erased), or None when nothing was erased."""
        if not recorded:
            return None
        return cls(
            str(recorded["salt"]),
            set(recorded.get("visitors") or ()),
            set(recorded.get("contacts") or ()),
        )

    @classmethod
    def new(cls) -> Erasure:
        return cls(secrets.token_hex(16))

    def record(self) -> dict[str, Any]:
        return {
            "hash": "sha256(salt + id)",
            "salt": self.salt,
            "visitors": sorted(self.visitors),
            "contacts": sorted(self.contacts),
        }

    def digest(self, value: str) -> str:
        return hashlib.sha256((self.salt + value).encode("utf-8")).hexdigest()

    def add(self, visitors: Iterable[str], contacts: Iterable[str] = ()) -> None:
        self.visitors.update(self.digest(v) for v in visitors)
        self.contacts.update(self.digest(c) for c in contacts)

    def _hashed(self, col: pl.Expr) -> pl.Expr:
        return pl.concat_str(pl.lit(self.salt), col).chash.sha2_256()  # type: ignore[attr-defined]

    def visitor_expr(self, column: str = "customer_id") -> pl.Expr:
        """True where the row's visitor was erased (False for a null id)."""
        if not self.visitors:
            return pl.lit(False)
        wanted = pl.Series(sorted(self.visitors), dtype=pl.String).implode()
        return self._hashed(pl.col(column)).is_in(wanted).fill_null(False)

    def contact_expr(self, column: str = "contact_id") -> pl.Expr:
        if not self.contacts:
            return pl.lit(False)
        wanted = pl.Series(sorted(self.contacts), dtype=pl.String).implode()
        return self._hashed(pl.col(column)).is_in(wanted).fill_null(False)

    def raw_erased(self, raw: pl.Series) -> pl.Series:
        """Of rejected rows' raw texts: whether one of its quoted strings is an erased
        visitor's id (a row rejected before its visitor was read, such as malformed JSON,
        still names them)."""
        if not self.visitors or raw.len() == 0:
            return pl.repeat(False, raw.len(), dtype=pl.Boolean, eager=True).rename(raw.name)
        wanted = pl.Series(sorted(self.visitors), dtype=pl.String).implode()
        hits = (
            quoted_strings(raw)
            .with_columns(self._hashed(pl.col("_t")).is_in(wanted).fill_null(False).alias("_hit"))
            .group_by("_i")
            .agg(pl.col("_hit").any())
        )
        return (
            pl.DataFrame({"_i": pl.int_range(raw.len(), eager=True, dtype=pl.UInt32)})
            .join(hits, on="_i", how="left", maintain_order="left")
            .get_column("_hit")
            .fill_null(False)
            .rename(raw.name)
        )

    def rows(self, frame: pl.DataFrame, reason: str, raw: str) -> pl.Series:
        """Of rows as read (accepted, or rejected with `reason` and their `raw` text): which
        are an erased visitor's."""
        by_id = frame.select(self.visitor_expr()).to_series()
        bad = frame.get_column(reason).is_not_null()
        if bad.any():
            idx = bad.arg_true()
            hit = self.raw_erased(frame.get_column(raw).gather(idx))
            extra = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).scatter(
                idx.filter(hit), True
            )
            by_id = by_id | extra
        return by_id


__all__ = ["Erasure", "quoted_strings"]
