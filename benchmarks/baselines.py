"""Baseline web sessionizers to compare `jtrack sessionize` against.

Both read a flat event Parquet file (jtrack.schema.EVENT_SCHEMA columns) and do the same
work, reading only the columns they need:

1. deduplicate by event_id, keeping the first copy by (created_date, event_id);
2. keep activity events (kind in page_view, search, custom, app) of web sessions
   (source_session_type 'web' or null: custom sessions such as 'delivery' are grouped by their
   own id, not by inactivity, so they are left out);
3. per customer_id, ordered by (created_date, event_id), start a new session at the first event
   and whenever the gap to the previous event is >= 20 minutes; a running sum of those starts
   numbers the sessions;
4. write OUTDIR/sessions.parquet (customer_id, session_number, created_date = first event,
   ended_date = last event, event_count, pageview_count = page views incl. searches) and
   OUTDIR/events.parquet (event_id, customer_id, created_date, kind, session_number).

Usage: python benchmarks/baselines.py duckdb|polars INPUT.parquet OUTDIR
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

GAP_MINUTES = 20
ACTIVITY_KINDS = ("page_view", "search", "custom", "app")
PAGEVIEW_KINDS = ("page_view", "search")
COLUMNS = ("event_id", "customer_id", "created_date", "kind", "source_session_type")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def duckdb_sessionize(source: Path, outdir: Path) -> int:
    """The DuckDB SQL baseline. Returns the number of sessions written."""
    import duckdb

    outdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""
        CREATE TEMP TABLE numbered AS
        WITH dedup AS (
            SELECT {", ".join(COLUMNS)}
            FROM read_parquet({_sql_path(source)})
            QUALIFY row_number() OVER (
                PARTITION BY event_id ORDER BY created_date, event_id) = 1
        ),
        activity AS (
            SELECT event_id, customer_id, created_date, kind
            FROM dedup
            WHERE kind IN ({_sql_list(ACTIVITY_KINDS)})
              AND coalesce(source_session_type, 'web') = 'web'
        ),
        starts AS (
            SELECT *,
                CASE WHEN lag(created_date) OVER w IS NULL
                       OR created_date - lag(created_date) OVER w
                          >= INTERVAL {GAP_MINUTES} MINUTE
                     THEN 1 ELSE 0 END AS is_start
            FROM activity
            WINDOW w AS (PARTITION BY customer_id ORDER BY created_date, event_id)
        )
        SELECT event_id, customer_id, created_date, kind,
            CAST(sum(is_start) OVER (
                PARTITION BY customer_id ORDER BY created_date, event_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS UINTEGER) AS session_number
        FROM starts
    """)
    con.execute(f"""
        COPY (
            SELECT customer_id, session_number,
                min(created_date) AS created_date,
                max(created_date) AS ended_date,
                CAST(count(*) AS UINTEGER) AS event_count,
                CAST(count(*) FILTER (WHERE kind IN ({_sql_list(PAGEVIEW_KINDS)}))
                    AS UINTEGER) AS pageview_count
            FROM numbered
            GROUP BY customer_id, session_number
        ) TO {_sql_path(outdir / "sessions.parquet")} (FORMAT parquet, COMPRESSION zstd)
    """)
    con.execute(f"""
        COPY numbered TO {_sql_path(outdir / "events.parquet")}
        (FORMAT parquet, COMPRESSION zstd)
    """)
    row = con.execute(
        f"SELECT count(*) FROM read_parquet({_sql_path(outdir / 'sessions.parquet')})"
    ).fetchone()
    con.close()
    return int(row[0]) if row else 0


def polars_sessionize(source: Path, outdir: Path) -> int:
    """The hand-tuned Polars baseline. Returns the number of sessions written."""
    import polars as pl

    outdir.mkdir(parents=True, exist_ok=True)
    customer = pl.col("customer_id")
    created = pl.col("created_date")
    events = (
        pl.scan_parquet(source)
        .select(COLUMNS)
        .sort("customer_id", "created_date", "event_id")
        # copies of an event share its customer_id: after the sort the first is the earliest
        .unique("event_id", keep="first", maintain_order=True)
        .filter(
            pl.col("kind").is_in(ACTIVITY_KINDS),
            pl.col("source_session_type").fill_null("web") == "web",
        )
        .with_columns(
            session_number=(
                (customer != customer.shift()) | (created.diff() >= timedelta(minutes=GAP_MINUTES))
            )
            .fill_null(True)
            .cast(pl.UInt32)
            .cum_sum()
            .over("customer_id")
        )
        .drop("source_session_type")
        .collect(engine="in-memory")
    )
    sessions = events.group_by("customer_id", "session_number").agg(
        created_date=created.min(),
        ended_date=created.max(),
        event_count=pl.len(),
        pageview_count=pl.col("kind").is_in(PAGEVIEW_KINDS).sum(),
    )
    sessions.write_parquet(outdir / "sessions.parquet", compression="zstd")
    events.write_parquet(outdir / "events.parquet", compression="zstd")
    return sessions.height


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in ("duckdb", "polars"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    engine, source, outdir = args[0], Path(args[1]), Path(args[2])
    run = duckdb_sessionize if engine == "duckdb" else polars_sessionize
    sessions = run(source, outdir)
    print(f"{engine}: {sessions} sessions -> {outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
