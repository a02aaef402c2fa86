"""`jtrack watch` against a feed: how soon a flushed line shows, and whether memory stays flat.

    python benchmarks/bench_watch.py                        # 1,000 events/s for 120 s
    python benchmarks/bench_watch.py --rate 1000 --seconds 3600   # the issue's hour
    python benchmarks/bench_watch.py --seconds 3600 --visitors new  # new visitors arriving
    python benchmarks/bench_watch.py --rate 200 --seconds 60 --interval 0.5

Target (issue 18): a newly written event shows within 2 s of its line being flushed, at
1,000 events/s sustained, with memory flat.

A writer process appends Genesys JSON lines to exports/app.jsonl in batches (every 0.1 s:
rate/10 lines, one write and a flush), each batch's events stamped with the wall-clock time
of its flush and given fresh ids; the events are the dev generator's (tests/synth), cycled.
With `--visitors returning` (the default, the worst case) each pass over the pool brings the
same visitors back, so every session stays active and grows for the whole run and each run
re-sessionizes a longer history; with `--visitors new` each pass brings new visitors (the
pool's visitors renamed), as a site's traffic does.
Half-way through it rotates the file once (app.jsonl renamed app.jsonl.1, a new app.jsonl).
Meanwhile `jtrack watch exports/ --html live.html` runs as a child process with its line log
on a pipe: each line says the newest event the store holds. A batch's lag is the time from
its flush to the first log line whose newest event is at least as new. The child's RSS is
sampled every second from /proc. Prints the lag's median, p95 and max, RSS after warm-up,
at its peak and at the end, the events written and stored, and whether the targets are met
(exit 0 when they are).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def jtrack() -> list[str]:
    exe = Path(sys.executable).with_name("jtrack")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jtrack.cli"]


# ---------------------------------------------------------------------------- the writer


def writer(
    folder: Path, rate: int, seconds: float, log: Path, pool_size: int, visitors: str
) -> None:
    """Append `rate` events a second for `seconds` (batches every 0.1 s), rotate once
    half-way; write one JSON line per batch to `log`: flush time, newest stamp, count.
    `visitors`: "new" renames the pool's visitors on each pass over it (new people keep
    arriving); "returning" keeps them, so that each comes back every pass (pool / rate
    seconds) and their sessions never end."""
    import _synth
    import polars as pl

    synth = _synth.load()
    pool = synth.generate_flat(pool_size, seed=11, duplicate_rate=0.0, days=1)
    pool = pool.with_columns(pl.col("event_id").alias("_orig"))
    app = folder / "app.jsonl"
    per_batch = max(1, rate // 10)
    written, pos, batch_no, cycle = 0, 0, 0, 0
    start = time.monotonic()
    rotated = False
    with open(log, "w") as out:
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            if not rotated and elapsed >= seconds / 2:
                os.rename(app, folder / "app.jsonl.1")
                rotated = True
            if pos + per_batch > pool.height:
                pos, cycle = 0, cycle + 1
            now = datetime.now(UTC)
            batch = (
                pool.slice(pos, per_batch)
                .with_columns(
                    event_id=pl.lit(f"b{batch_no}-") + pl.col("_orig"),
                    customer_id=pl.lit(f"p{cycle}-") + pl.col("customer_id")
                    if visitors == "new"
                    else pl.col("customer_id"),
                    created_date=pl.lit(now, dtype=pl.Datetime("us", "UTC")),
                )
                .drop("_orig")
            )
            pos += per_batch
            text = "".join(s + "\n" for s in synth.genesys_lines(batch).to_list())
            with open(app, "a") as fh:
                fh.write(text)
                fh.flush()
            flushed = time.time()
            written += batch.height
            out.write(json.dumps({"t": flushed, "stamp": now.timestamp(), "n": written}) + "\n")
            out.flush()
            batch_no += 1
            # keep the rate: the next batch is due 0.1 s after this one was
            due = start + batch_no * 0.1
            time.sleep(max(0.0, due - time.monotonic()))


# ---------------------------------------------------------------------------- measuring


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=1000, help="events per second written")
    ap.add_argument("--seconds", type=float, default=120.0, help="how long the feed runs")
    ap.add_argument("--interval", type=float, default=1.0, help="jtrack watch --interval")
    ap.add_argument("--warmup", type=float, default=15.0, help="seconds before RSS counts")
    ap.add_argument("--pool", type=int, default=200_000, help="generated events, cycled")
    ap.add_argument(
        "--visitors",
        choices=("returning", "new"),
        default="returning",
        help="returning: the pool's visitors come back on every pass over it, their sessions "
        "never end and grow all run long (the worst case); new: each pass brings new visitors",
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    ap.add_argument("--writer", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.writer:
        folder, rate, seconds, log, pool, visitors = args.writer
        writer(Path(folder), int(rate), float(seconds), Path(log), int(pool), visitors)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    exports = work / "exports"
    exports.mkdir()
    store = work / "store"
    wlog = work / "writer.jsonl"
    watch = subprocess.Popen(
        [
            *jtrack(),
            "watch",
            str(exports),
            "--store",
            str(store),
            "--interval",
            str(args.interval),
            "--html",
            str(work / "live.html"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[tuple[float, float, int]] = []  # (received, newest stamp, events in store)

    def read_log() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            t = time.time()
            parts = line.split()
            try:
                newest = parts[parts.index("newest") + 1]
                stored = int(parts[parts.index("in") - 1].replace(",", ""))
            except (ValueError, IndexError):
                continue
            if newest != "-":
                stamp = datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp()
                seen.append((t, stamp, stored))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    rss: list[tuple[float, float]] = []
    time.sleep(2.0)  # jtrack starts and waits for a file
    feed = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--writer",
            str(exports),
            str(args.rate),
            str(args.seconds),
            str(wlog),
            str(args.pool),
            args.visitors,
        ]
    )
    t0 = time.monotonic()
    while feed.poll() is None:
        r = rss_mb(watch.pid)
        if r is not None:
            rss.append((time.monotonic() - t0, r))
        time.sleep(1.0)
    time.sleep(max(5.0, 3 * args.interval))  # the last lines show
    watch.terminate()
    try:
        watch.wait(timeout=30)
    except subprocess.TimeoutExpired:
        watch.kill()
    reader.join(timeout=5)
    stderr = watch.stderr.read() if watch.stderr else ""

    batches = [json.loads(x) for x in wlog.read_text().splitlines()]
    lags: list[float] = []
    timed: list[tuple[float, float]] = []  # (flush time, lag) of each batch shown
    missing = 0
    j = 0
    for b in batches:
        stamp = int(b["stamp"] * 1000) / 1000 - 1e-6  # exports and the log carry milliseconds
        while j < len(seen) and seen[j][1] < stamp:
            j += 1
        if j == len(seen):
            missing += 1
            continue
        lags.append(max(0.0, seen[j][0] - b["t"]))
        timed.append((b["t"], lags[-1]))
    written = batches[-1]["n"] if batches else 0
    stored = seen[-1][2] if seen else 0
    warm = [r for t, r in rss if t >= args.warmup]
    half = len(warm) // 2
    first_half = max(warm[:half], default=float("nan"))
    second_half = max(warm[half:], default=float("nan"))
    load = os.getloadavg()
    print(
        f"jtrack watch, {args.rate:,} events/s for {args.seconds:g} s, --interval "
        f"{args.interval:g}, rotation once, {args.visitors} visitors; load average {load[0]:.1f}"
    )
    print(f"events written {written:,}; in the store at the end {stored:,}")
    if lags:
        print(
            f"lag flush -> shown: median {statistics.median(lags):.2f} s, p95 "
            f"{pct(lags, 0.95):.2f} s, max {max(lags):.2f} s ({len(lags)} batches, "
            f"{missing} never shown)"
        )
    if warm:
        print(
            f"watch RSS after {args.warmup:g} s warm-up: first {warm[0]:.0f} MB, peak "
            f"{max(warm):.0f} MB, last {warm[-1]:.0f} MB; peak of the first half "
            f"{first_half:.0f} MB, of the second half {second_half:.0f} MB"
        )
    # over time: does the lag or the memory grow as the store fills up?
    slices = 10 if args.seconds >= 300 else 0
    for k in range(slices):
        lo, hi = args.seconds * k / slices, args.seconds * (k + 1) / slices
        start = batches[0]["t"] if batches else 0.0
        part = [lag for t, lag in timed if lo <= t - start < hi]
        mem = [r for t, r in rss if lo <= t < hi]
        if part and mem:
            print(
                f"  {lo / 60:5.1f}-{hi / 60:5.1f} min: lag median {statistics.median(part):.2f} s, "
                f"p95 {pct(part, 0.95):.2f} s; RSS peak {max(mem):.0f} MB"
            )
    lag_ok = bool(lags) and pct(lags, 0.95) <= 2.0 and missing == 0
    flat = bool(warm) and second_half <= first_half * 1.2
    all_in = stored == written
    print(
        f"targets: shown within 2 s (p95): {'met' if lag_ok else 'NOT met'}; memory flat "
        f"(second half's peak <= 1.2x the first's): {'met' if flat else 'NOT met'}; "
        f"every event stored: {'yes' if all_in else 'NO'}"
    )
    if stderr.strip():
        print("watch stderr:", stderr.strip()[:2000])
    if args.keep:
        shutil.copytree(work, args.keep, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if lag_ok and flat and all_in else 1


if __name__ == "__main__":
    sys.exit(main())
