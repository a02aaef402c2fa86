"""Visitor buckets: which bucket a visitor's rows live in, for the life of a store.

A bucket is `xxh3_64(customer_id) % buckets` (XXH3 is stable across versions, platforms and
processes). The store records its bucket count in its manifest and never changes it, so a
visitor stays in its bucket; any engine (in memory, bucketed, incremental, Spark) computes
the same bucket with these functions. Pure Polars.
"""

from __future__ import annotations

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

#: Buckets of a new store: enough that a bucket of a billion-event store fits one worker.
DEFAULT_BUCKETS = 1024


def visitor_hash(column: str = "customer_id") -> pl.Expr:
    """A stable 64-bit hash of the visitor id: the order of visitors inside a bucket."""
    return pl.col(column).nchash.xxh3_64()  # type: ignore[attr-defined]


def bucket_expr(buckets: int, column: str = "customer_id") -> pl.Expr:
    """The visitor bucket of each row (UInt16)."""
    return (visitor_hash(column) % buckets).cast(pl.UInt16)


def bucket_of(customer_id: str, buckets: int) -> int:
    """The bucket of one visitor (the same function the writers use)."""
    return int(pl.DataFrame({"c": [customer_id]}).select(bucket_expr(buckets, "c")).item())


__all__ = ["DEFAULT_BUCKETS", "bucket_expr", "bucket_of", "visitor_hash"]
