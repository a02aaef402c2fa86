"""Short ids: the shortest prefix at which ids stay unique (like git's short hashes).

Tables show ids this way and every command takes such a prefix back. Imports Polars only.
"""

from __future__ import annotations

import polars as pl

#: The shortest id prefix tables show (git shows 7; 8 matches the card's short id).
ID_MIN = 8


def unique_prefix_length(values: pl.Series | pl.LazyFrame, minimum: int = ID_MIN) -> int:
    """The shortest prefix length (at least `minimum`) at which the distinct values stay
    distinct: how long an id must be shown to be typed back (like git's short hashes).

    `values` is a Series, or a LazyFrame of one column (read in one pass, e.g. the store's
    whole `id` column)."""
    lf = values.to_frame().lazy() if isinstance(values, pl.Series) else values
    name = lf.collect_schema().names()[0]
    col = pl.col(name).cast(pl.String)
    lengths = range(minimum, minimum + 25)
    counts = lf.select(
        col.n_unique().alias("all"),
        col.str.len_chars().max().alias("longest"),
        *[col.str.slice(0, k).n_unique().alias(f"k{k}") for k in lengths],
    ).collect()
    if counts.height == 0:
        return minimum
    row = counts.row(0, named=True)
    longest = int(row["longest"] or 0)
    for k in lengths:
        if row[f"k{k}"] == row["all"]:
            return k
    return max(longest, minimum)


__all__ = ["ID_MIN", "unique_prefix_length"]
