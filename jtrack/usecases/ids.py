"""Short ids: the shortest prefix at which ids stay unique (like git's short hashes).

Tables show ids this way and every command takes such a prefix back. Imports Polars only.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

#: The shortest id prefix tables show (git shows 7; 8 matches the card's short id).
ID_MIN = 8

#: Columns holding uuid-shaped ids: tables show them as their shortest unique prefix, and
#: `--where FIELD=VALUE` takes such a prefix back.
ID_COLUMNS = frozenset(
    {
        "id",
        "session_id",
        "event_id",
        "last_event_id",
        "first_event_id",
        "customer_id",
        "contact_id",
        "source_session_id",
    }
)
#: List columns of ids: each element is shortened the same way.
ID_LIST_COLUMNS = frozenset({"cookie_ids", "customer_ids", "session_ids"})


def _series(values: pl.Series | pl.LazyFrame) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.cast(pl.String).drop_nulls()
    name = values.collect_schema().names()[0]
    return values.select(pl.col(name).cast(pl.String).drop_nulls()).collect().to_series()


def unique_prefix_length(
    values: pl.Series | pl.LazyFrame,
    minimum: int = ID_MIN,
    among: pl.Series | pl.LazyFrame | Callable[[list[str]], pl.Series] | None = None,
) -> int:
    """The shortest prefix length (at least `minimum`) at which the distinct `values` stay
    distinct: how long an id must be shown to be typed back (like git's short hashes).

    `among`: every id a prefix must be told apart from (e.g. the store's whole `id` column),
    `values` being some of them; the length then makes each of `values` unique among them.
    Default: `values` themselves.
    Values and `among` are a Series or a LazyFrame of one column; `among` may also be a
    function giving the ids that start with any of some prefixes (a store's id directory;
    `[""]`: every id).

    Sorted, the ids that share the longest prefix are neighbours, so one sort and one pass
    find it (no hashing of every prefix length); against `among`, only the ids starting
    like one of `values` are looked at again."""
    shown = _series(values).unique()
    if shown.len() == 0:
        return minimum
    longest = int(shown.str.len_chars().max() or 0)  # type: ignore[arg-type]
    if among is None:
        ids = shown.sort()
        pairs = pl.DataFrame({"a": ids.slice(1), "b": ids.slice(0, ids.len() - 1)})
        k = minimum

        def same(n: int) -> pl.Expr:
            return pl.col("a").str.slice(0, n) == pl.col("b").str.slice(0, n)

        pairs = pairs.filter(same(k))
        while pairs.height and k < longest:
            k += 1
            pairs = pairs.filter(same(k))
        return k
    if callable(among):
        if shown.len() > 1_000:  # many ids shown: one sort of every id, not many lookups
            return unique_prefix_length(among([""]), minimum)
        lookup = among
    else:
        if shown.len() > 1_000:  # many ids shown (all of them among `among`): one sort of all
            return unique_prefix_length(among, minimum)
        lf = among.to_frame().lazy() if isinstance(among, pl.Series) else among
        col = pl.col(lf.collect_schema().names()[0]).cast(pl.String)

        def lookup(prefixes: list[str]) -> pl.Series:
            # only the ids starting like a shown one are read into memory
            hits = pl.Series(prefixes, dtype=pl.String).implode()
            wanted = col.str.slice(0, max(map(len, prefixes))).is_in(hits)
            return lf.filter(wanted).select(col.alias("id")).collect().to_series()

    k = minimum
    while k < longest:
        prefixes = shown.str.slice(0, k).unique().sort().to_list()
        near = lookup(prefixes).cast(pl.String).alias("id")
        alike = pl.concat([near, shown.alias("id")]).unique()
        if alike.str.slice(0, k).n_unique() == alike.len():
            return k
        k = max(k + 1, unique_prefix_length(alike, k))  # only the ids that look alike
    return max(longest, minimum)


__all__ = ["ID_MIN", "unique_prefix_length"]
