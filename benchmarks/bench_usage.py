"""`jtrack usage` on N events against a DuckDB GROUP BY over the same flat Parquet file.

    python benchmarks/bench_usage.py                  # 10M events, 3 interleaved rounds
    python benchmarks/bench_usage.py --events 1000000 --repeat 5

Generates synthetic flat events once (tests/synth, kept in benchmarks/data/, gitignored),
then runs, interleaved round by round so that machine noise hits every contender alike:

- `jtrack usage FILE --format csv` as a subprocess (the whole CLI: start-up, reading, the
  per-file checks, dedup on event id, day buckets, reconciliation, output);
- jtrack.usecases.usage.compute_usage in-process (the library call, no start-up);
- DuckDB, the plain query: distinct event ids per UTC day and kind
  (`SELECT date_trunc('day', created_date), kind, count(DISTINCT event_id) ... GROUP BY ALL`);
- DuckDB, the same semantics as jtrack: each event id once at its earliest time, then
  counted per day and kind.

Prints the median of each, the ratio to DuckDB, jtrack's peak RSS, and checks that the
billable totals agree. Informs, never gates CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AS_OF = "2026-11-01T00:00:00Z"
BILLABLE = ("page_view", "search", "custom")


def events_file(n_events: int, seed: int) -> Path:
    from _synth import write_flat_parquet

    path = HERE / "data" / f"usage-events-{n_events}-{seed}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        tmp = path.with_name(path.name + ".tmp")
        write_flat_parquet(tmp, n_events, seed=seed)
        tmp.rename(path)  # an interrupted run leaves no half-written cache behind
        print(f"generated {n_events:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    return path


PEAK_RSS_KB: list[int] = []


def run_cli(path: Path) -> int:
    """`jtrack usage` as cron would run it; returns the billable total from its CSV.

    GNU time (when installed) reports the child's own peak RSS; getrusage(RUSAGE_CHILDREN)
    would count the pages the child inherited from this (large) process at fork.
    """
    cmd = [
        sys.executable,
        "-m",
        "jtrack.cli",
        "usage",
        str(path),
        "--month",
        "2026-10",
        "--as-of",
        AS_OF,
        "-f",
        "csv",
        "-q",
    ]
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time:
        cmd = [gnu_time, "-f", "%M", *cmd]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    if gnu_time:
        PEAK_RSS_KB.append(int(proc.stderr.strip().splitlines()[-1]))
    lines = proc.stdout.splitlines()
    col = lines[0].split(",").index("billable")
    return sum(int(line.split(",")[col]) for line in lines[1:])


def run_library(path: Path) -> int:
    from datetime import UTC, date, datetime

    from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage

    report = compute_usage(
        UsageInput.from_sources([path]),
        UsageOptions(as_of=datetime(2026, 11, 1, tzinfo=UTC), month=date(2026, 10, 1)),
    )
    return int(report.totals()["billable"])


def duck(query: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(query.format(path=str(path), cls=CLS)).fetchall()
        con.close()
        return int(sum(n for _day, kind, n in rows if kind in BILLABLE))

    return run


#: jtrack's usage class: events of custom session types (e.g. delivery) are not web events.
CLS = (
    "CASE WHEN source_session_type IS NOT NULL AND lower(source_session_type) NOT IN "
    "('web', 'app') THEN 'custom_session' ELSE kind END"
)


def duck_peak_rss(path: Path) -> int | None:
    """Peak RSS (KB) of the dedup query run alone in a fresh process (GNU time)."""
    gnu_time = shutil.which("time")
    if not gnu_time:
        return None
    code = (
        "import duckdb; con = duckdb.connect(); con.execute(\"SET TimeZone = 'UTC'\"); "
        f"con.execute({DUCK_DEDUP.format(path=str(path), cls=CLS)!r}).fetchall()"
    )
    proc = subprocess.run(
        [gnu_time, "-f", "%M", sys.executable, "-c", code], capture_output=True, text=True
    )
    return int(proc.stderr.strip().splitlines()[-1]) if proc.returncode == 0 else None


DUCK_PLAIN = """
SELECT date_trunc('day', created_date) AS day, {cls} AS kind, count(DISTINCT event_id) AS n
FROM read_parquet('{path}')
WHERE created_date >= TIMESTAMPTZ '2026-10-01 00:00:00+00'
  AND created_date <  TIMESTAMPTZ '2026-11-01 00:00:00+00'
GROUP BY ALL
"""

DUCK_DEDUP = """
WITH ev AS (
  SELECT event_id, arg_min({cls}, created_date) AS kind, min(created_date) AS t
  FROM read_parquet('{path}') GROUP BY event_id
)
SELECT date_trunc('day', t) AS day, kind, count(*) AS n FROM ev
WHERE t >= TIMESTAMPTZ '2026-10-01 00:00:00+00' AND t < TIMESTAMPTZ '2026-11-01 00:00:00+00'
GROUP BY ALL
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    path = events_file(args.events, args.seed)
    size = path.stat().st_size / 1e6
    print(
        f"input: {path.name}, {args.events:,} events, {size:,.0f} MB, {os.cpu_count()} CPUs",
        flush=True,
    )
    contenders: dict[str, Callable[[Path], int]] = {
        "jtrack usage (CLI)": run_cli,
        "compute_usage (library)": run_library,
        "DuckDB GROUP BY (distinct per day)": duck(DUCK_PLAIN),
        "DuckDB dedup-then-GROUP BY": duck(DUCK_DEDUP),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    totals: dict[str, int] = {}
    names = list(contenders)
    for r in range(args.repeat):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            t = time.perf_counter()
            totals[name] = contenders[name](path)
            times[name].append(time.perf_counter() - t)
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)
    base = statistics.median(times["DuckDB GROUP BY (distinct per day)"])
    dedup = statistics.median(times["DuckDB dedup-then-GROUP BY"])
    print()
    print(f"{'contender':38s} {'median':>8s} {'vs DuckDB':>10s} {'vs dedup':>9s} {'billable':>12s}")
    for name in names:
        med = statistics.median(times[name])
        print(f"{name:38s} {med:7.2f}s {med / base:9.2f}x {med / dedup:8.2f}x {totals[name]:12,d}")
    if PEAK_RSS_KB:
        print(f"\njtrack usage (CLI) peak RSS: {max(PEAK_RSS_KB) / 1024:,.0f} MB")
        duck_rss = duck_peak_rss(path)
        if duck_rss:
            print(f"DuckDB dedup query in its own process, peak RSS: {duck_rss / 1024:,.0f} MB")
    agree: Any = len(set(totals.values())) == 1
    print("billable totals agree" if agree else f"billable totals DIFFER: {totals}")
    print(
        "note: the plain DuckDB query counts a redelivered event twice when its copies "
        "fall on different days; jtrack and the dedup query count it once"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
