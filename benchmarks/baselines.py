"""Baseline web sessionizers to compare `jtrack sessionize` against.

Both baselines read flat event Parquet (jtrack.schema.EVENT_SCHEMA columns; `.parquet`/`.pq`)
or Genesys-shaped NDJSON (`.jsonl`, `.ndjson`, `.json`: top-level id, customerId, createdDate,
eventType, session{id, type}, webEvent{eventName, ...}). They read only the fields they need
and do the same work, with jtrack's semantics (jtrack.core.sessionize, jtrack.read):

1. deduplicate by event id over ALL rows, keeping the first copy by created_date, then input
   order (the file row number);
2. keep the web activity of each visitor: WebEvents (page views, searches and custom events;
   the event type is `eventType` without the `com.genesys.journey.` prefix, else the flat `kind`
   column, else, in NDJSON, the presence of a `webEvent` object) that are not in a custom
   session. A custom session is a session type other than web/app (any case) with a session
   id; jtrack groups those by their id, not by inactivity, and calls them e.g. 'delivery'.
   Left out as well: app events (jtrack's separate 'app' stream) and system events (segment
   assignments, outcomes, web actions), which never start or extend a session and are not
   counted in event_count;
3. per customer_id, ordered by created_date, start a new session at the first event and
   whenever the gap to the previous event is >= 20 minutes;
4. write OUTDIR/sessions.parquet (customer_id, session_number, created_date = first event,
   ended_date = last event, event_count, pageview_count = events named page_viewed, i.e. page
   views and searches) and OUTDIR/events.parquet (event_id, customer_id, created_date,
   session_number).

Timestamps follow jtrack's reader: ISO-8601 with Z or an offset, naive ISO read as UTC, or epoch
milliseconds as text; all compared in UTC with microsecond precision.

Usage: python benchmarks/baselines.py duckdb|polars INPUT OUTDIR
"""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the DuckDB child never loads Polars
    import polars as pl

GAP_MINUTES = 20
#: Flat `kind` values of WebEvents (jtrack.schema.WEB_KINDS).
WEB_KINDS = ("page_view", "search", "custom")
#: The event type of web activity, short and long form (jtrack.schema.EVENT_TYPE_PREFIX).
WEB_EVENT_TYPES = ("WebEvent", "com.genesys.journey.WebEvent")
#: Session types that are not custom sessions (compared in lower case).
STREAM_TYPES = ("web", "app")
PAGE_VIEWED = "page_viewed"

FLAT_SUFFIXES = (".parquet", ".pq")


def shape_of(path: Path) -> str:
    """'flat' for Parquet, 'genesys' for NDJSON (by the file name)."""
    return "flat" if path.suffix.lower() in FLAT_SUFFIXES else "genesys"


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------


def _duckdb_is_web(event_type: str, fallback: str, sess_type: str, sess_id: str) -> str:
    """SQL: the row is web activity outside a custom session."""
    return f"""(
        CASE WHEN nullif(trim({event_type}), '') IS NOT NULL
             THEN trim({event_type}) IN ({_sql_list(WEB_EVENT_TYPES)})
             ELSE {fallback} END
        AND NOT ({sess_type} IS NOT NULL
                 AND lower({sess_type}) NOT IN ({_sql_list(STREAM_TYPES)})
                 AND {sess_id} IS NOT NULL))"""


def _duckdb_source(source: Path) -> str:
    """SQL for one row per input row: rn (input order), event_id, customer_id, created_date,
    is_web, is_pv."""
    if shape_of(source) == "flat":
        is_web = _duckdb_is_web(
            "event_type",
            f"coalesce(kind IN ({_sql_list(WEB_KINDS)}), false)",
            "source_session_type",
            "source_session_id",
        )
        return f"""
            SELECT file_row_number AS rn, event_id, customer_id,
                CAST(created_date AS TIMESTAMPTZ) AS created_date,
                {is_web} AS is_web,
                coalesce(event_name = '{PAGE_VIEWED}', false) AS is_pv
            FROM read_parquet({_sql_path(source)}, file_row_number = true)
        """
    columns = (
        "{id: 'VARCHAR', customerId: 'VARCHAR', createdDate: 'VARCHAR', eventType: 'VARCHAR', "
        "session: 'STRUCT(id VARCHAR, type VARCHAR)', webEvent: 'STRUCT(eventName VARCHAR)'}"
    )
    is_web = _duckdb_is_web("eventType", "webEvent IS NOT NULL", "session.type", "session.id")
    created = "trim(createdDate)"
    # read_json has no file_row_number: WITH ORDINALITY numbers the rows in file order
    return f"""
        SELECT ordinality AS rn, id AS event_id, customerId AS customer_id,
            CASE WHEN regexp_full_match({created}, '-?[0-9]{{1,15}}')
                 THEN CAST(epoch_ms(CAST({created} AS BIGINT)) AS TIMESTAMPTZ)
                 ELSE TRY_CAST(replace({created}, ' ', 'T') AS TIMESTAMPTZ) END AS created_date,
            {is_web} AS is_web,
            coalesce(webEvent.eventName = '{PAGE_VIEWED}', false) AS is_pv
        FROM read_ndjson({_sql_path(source)}, columns = {columns}) WITH ORDINALITY
    """


def duckdb_sessionize(source: Path, outdir: Path) -> int:
    """The DuckDB SQL baseline. Returns the number of sessions written."""
    import duckdb

    outdir.mkdir(parents=True, exist_ok=True)
    spill = outdir / ".duckdb-tmp"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # spill next to the output, not into ./.tmp of the working directory
    con.execute(f"SET temp_directory = {_sql_path(spill)}")
    con.execute(f"""
        CREATE TEMP TABLE numbered AS
        WITH src AS ({_duckdb_source(source)}),
        dedup AS (
            SELECT * FROM src
            QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY created_date, rn) = 1
        ),
        web AS (
            SELECT event_id, customer_id, created_date, is_pv FROM dedup WHERE is_web
        ),
        starts AS (
            SELECT *,
                CASE WHEN lag(created_date) OVER w IS NULL
                       OR created_date - lag(created_date) OVER w
                          >= INTERVAL {GAP_MINUTES} MINUTE
                     THEN 1 ELSE 0 END AS is_start
            FROM web
            WINDOW w AS (PARTITION BY customer_id ORDER BY created_date, event_id)
        )
        SELECT event_id, customer_id, created_date, is_pv,
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
                CAST(count(*) FILTER (WHERE is_pv) AS UINTEGER) AS pageview_count
            FROM numbered
            GROUP BY customer_id, session_number
        ) TO {_sql_path(outdir / "sessions.parquet")} (FORMAT parquet, COMPRESSION zstd)
    """)
    con.execute(f"""
        COPY (SELECT event_id, customer_id, created_date, session_number FROM numbered)
        TO {_sql_path(outdir / "events.parquet")} (FORMAT parquet, COMPRESSION zstd)
    """)
    row = con.execute(
        f"SELECT count(*) FROM read_parquet({_sql_path(outdir / 'sessions.parquet')})"
    ).fetchone()
    con.close()
    shutil.rmtree(spill, ignore_errors=True)
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------------------------
# Polars
# --------------------------------------------------------------------------------------------


def _polars_parse_time(text: pl.Expr) -> pl.Expr:
    """jtrack's text timestamps: epoch milliseconds, ISO with Z/offset, naive ISO as UTC."""
    import polars as pl

    t = text.str.strip_chars()
    iso_t = t.str.replace(" ", "T", literal=True)
    epoch = (
        pl.when(t.str.contains(r"^-?\d{1,15}$"))
        .then(t)
        .cast(pl.Int64, strict=False)
        .cast(pl.Datetime("ms", "UTC"))
        .dt.cast_time_unit("us")
    )
    iso = iso_t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us")
    naive = iso_t.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"
    ).dt.replace_time_zone("UTC")
    return pl.coalesce(epoch, iso, naive)


def _polars_is_web(
    event_type: pl.Expr, fallback: pl.Expr, sess_type: pl.Expr, sess_id: pl.Expr
) -> pl.Expr:
    import polars as pl

    et = event_type.str.strip_chars()
    web_type = pl.when(et != "").then(et.is_in(list(WEB_EVENT_TYPES))).otherwise(fallback)
    custom = (
        sess_type.is_not_null()
        & ~sess_type.str.to_lowercase().is_in(list(STREAM_TYPES))
        & sess_id.is_not_null()
    )
    return (web_type.fill_null(False) & ~custom).alias("is_web")


def _polars_source(source: Path) -> pl.LazyFrame:
    """A LazyFrame in input order: event_id, customer_id, created_date, is_web, is_pv."""
    import polars as pl

    if shape_of(source) == "flat":
        created = pl.col("created_date")
        return pl.scan_parquet(source).select(
            "event_id",
            "customer_id",
            created,
            _polars_is_web(
                pl.col("event_type"),
                pl.col("kind").is_in(list(WEB_KINDS)),
                pl.col("source_session_type"),
                pl.col("source_session_id"),
            ),
            (pl.col("event_name") == PAGE_VIEWED).fill_null(False).alias("is_pv"),
        )
    schema: dict[str, pl.DataType] = {
        "id": pl.String(),
        "customerId": pl.String(),
        "createdDate": pl.String(),
        "eventType": pl.String(),
        "session": pl.Struct({"id": pl.String(), "type": pl.String()}),
        "webEvent": pl.Struct({"eventName": pl.String()}),
    }
    session = pl.col("session")
    web = pl.col("webEvent")
    # the common ISO form first; _fix_times falls back to every form jtrack reads
    iso = pl.col("createdDate").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us"
    )
    return pl.scan_ndjson(source, schema=schema).select(
        pl.col("id").alias("event_id"),
        pl.col("customerId").alias("customer_id"),
        iso.alias("created_date"),
        pl.col("createdDate").alias("_created_text"),
        _polars_is_web(
            pl.col("eventType"),
            web.is_not_null(),
            session.struct.field("type"),
            session.struct.field("id"),
        ),
        (web.struct.field("eventName") == PAGE_VIEWED).fill_null(False).alias("is_pv"),
    )


def _fix_times(df: pl.DataFrame) -> pl.DataFrame:
    """Parse the timestamps the fast ISO parse missed (NDJSON only), then drop the text."""
    import polars as pl

    if "_created_text" not in df.columns:
        return df
    missed = df.select(
        (pl.col("created_date").is_null() & pl.col("_created_text").is_not_null()).any()
    ).item()
    if missed:
        df = df.with_columns(_polars_parse_time(pl.col("_created_text")).alias("created_date"))
    return df.drop("_created_text")


def polars_sessionize(source: Path, outdir: Path) -> int:
    """The hand-tuned Polars baseline. Returns the number of sessions written.

    Dedup hashes the ids once and sorts only the duplicated rows. One sort of the web rows
    by (customer_id, created_date) then gives everything by linear scans: a session starts
    where the visitor changes or the gap is >= 20 minutes; its first and last rows give
    created/ended, row positions give event_count, and a running sum gives pageview_count.
    (Rows of one visitor with the same timestamp are never split, so no third sort key is
    needed for the session table.)
    """
    import polars as pl

    outdir.mkdir(parents=True, exist_ok=True)
    df = _fix_times(_polars_source(source).collect(engine="in-memory"))
    if df.schema["created_date"] != pl.Datetime("us", "UTC"):
        t = pl.col("created_date")
        tz = getattr(df.schema["created_date"], "time_zone", None)
        t = t.dt.replace_time_zone("UTC") if tz is None else t.dt.convert_time_zone("UTC")
        df = df.with_columns(t.dt.cast_time_unit("us"))

    # 1. dedup: the first copy by (created_date, input position)
    dup = df.get_column("event_id").is_duplicated()
    keep = pl.col("is_web")
    if dup.any():
        dropped = (
            df.with_row_index("_i")
            .filter(dup)
            .select("event_id", "created_date", "_i")
            .sort("event_id", "created_date", "_i")
            .filter(~pl.col("event_id").is_first_distinct())
            .get_column("_i")
        )
        mask = pl.repeat(True, df.height, eager=True).scatter(dropped, False)
        keep = keep & mask

    # 2.-3. web activity, one sort, session starts by a linear scan
    customer = pl.col("customer_id")
    created = pl.col("created_date")
    events = (
        df.lazy()
        .filter(keep)
        .select("event_id", "customer_id", "created_date", "is_pv")
        .sort("customer_id", "created_date")
        .with_columns(
            _cust_start=(customer != customer.shift()).fill_null(True),
            _new=(
                (customer != customer.shift())
                | ((created - created.shift()) >= timedelta(minutes=GAP_MINUTES))
            ).fill_null(True),
        )
        .with_columns(_s=pl.col("_new").cast(pl.UInt32).cum_sum())
        .with_columns(
            session_number=(
                pl.col("_s") - pl.when(pl.col("_cust_start")).then(pl.col("_s")).forward_fill() + 1
            ).cast(pl.UInt32),
            _pv=pl.col("is_pv").cast(pl.UInt32).cum_sum(),
            _last=pl.col("_new").shift(-1).fill_null(True),
        )
        .with_row_index("_i")
        .collect(engine="in-memory")
    )
    del df
    # 4. the session table from its first and last rows
    firsts = events.filter(pl.col("_new")).select(
        "customer_id",
        "session_number",
        "created_date",
        pl.col("_i").alias("_i0"),
        (pl.col("_pv") - pl.col("is_pv").cast(pl.UInt32)).alias("_pv0"),
    )
    lasts = events.filter(pl.col("_last")).select(
        pl.col("created_date").alias("ended_date"),
        pl.col("_i").alias("_i1"),
        pl.col("_pv").alias("_pv1"),
    )
    sessions = pl.concat([firsts, lasts], how="horizontal").select(
        "customer_id",
        "session_number",
        "created_date",
        "ended_date",
        (pl.col("_i1") - pl.col("_i0") + 1).cast(pl.UInt32).alias("event_count"),
        (pl.col("_pv1") - pl.col("_pv0")).cast(pl.UInt32).alias("pageview_count"),
    )
    sessions.write_parquet(outdir / "sessions.parquet", compression="zstd")
    events.select("event_id", "customer_id", "created_date", "session_number").write_parquet(
        outdir / "events.parquet", compression="zstd"
    )
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
