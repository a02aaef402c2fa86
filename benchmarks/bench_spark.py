"""Benchmark `jtrack sessionize --engine spark` (local[2]) against the local engine.

    python benchmarks/bench_spark.py                      # 10M flat events, 3 timed rounds
    python benchmarks/bench_spark.py --events 100000 --repeat 1     # a quick check
    python benchmarks/bench_spark.py --scale              # 100M flat events, one round each
    python benchmarks/bench_spark.py --scale --engines spark --timeout 7200

The input is the flat Parquet file of bench_sessionize.py (`python -m tests.synth flat N`,
cached in benchmarks/data/). Every run is the real CLI in a child process, in its own
process group, into a fresh store: `jtrack sessionize INPUT --store DIR --quiet` and the same
with `--engine spark --spark-master local[2]`. First the start-up overhead: an empty input
through each engine (Spark: the JVM, the session, the first jobs and Python workers). Then
one warm-up round and --repeat timed rounds, the engines interleaved. Before any time is
reported the two stores are compared (sessions, index, counts: they must be equal). Peak
memory is sampled over the child's process tree every 0.05-0.5 s, split into the driver
(the jtrack process), the JVM and the Python workers Spark starts (their sum and the largest
one). Prints a markdown table of medians and ratios to the local engine.

Exit status: 0 when everything ran and agreed, 1 when the stores differ, 3 when a run
failed, 2 on bad usage or too little disk space.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_sessionize as bs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GB = 1024**3


# --------------------------------------------------------------------------------------------
# Memory of a process tree, by kind of process
# --------------------------------------------------------------------------------------------


@dataclass
class Peaks:
    """Peak resident memory (KB) of a run's processes, sampled."""

    tree: int = 0
    driver: int = 0
    jvm: int = 0
    workers: int = 0  # all Python workers at once
    worker: int = 0  # the largest single Python worker


def _tree(pid: int) -> list[int]:
    out, stack, seen = [], [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, ValueError, IndexError):
        return 0.0


def _kind(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ")
    except OSError:
        return "other"
    if b"pyspark.daemon" in cmd or b"pyspark.worker" in cmd:
        return "worker"
    if b"java" in cmd.split(b" ", 1)[0]:
        return "jvm"
    return "other"


class Sampler(threading.Thread):
    """Samples a child's process tree; kills its group past `limit_kb` or `timeout`."""

    def __init__(self, pid: int, limit_kb: int | None, timeout: float | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.limit_kb, self.timeout = pid, limit_kb, timeout
        self.peaks = Peaks()
        self.cpu: dict[int, float] = {}  # CPU seconds of every process of the tree, last seen
        self.killed: str | None = None
        self.done = threading.Event()

    def sample(self) -> int:
        p = self.peaks
        total = workers = 0
        for pid in _tree(self.pid):
            rss = _rss_kb(pid)
            total += rss
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))
            kind = _kind(pid, self.pid)
            if kind == "driver":
                p.driver = max(p.driver, rss)
            elif kind == "jvm":
                p.jvm = max(p.jvm, rss)
            elif kind == "worker":
                workers += rss
                p.worker = max(p.worker, rss)
        p.workers = max(p.workers, workers)
        p.tree = max(p.tree, total)
        return total

    def run(self) -> None:
        started = time.monotonic()
        interval = 0.05
        while not self.done.wait(interval):
            interval = min(interval * 1.5, 0.5)
            total = self.sample()
            if self.limit_kb is not None and total > self.limit_kb:
                self.killed = f"killed at {total / 1024**2:.1f} GB RSS (over --kill-above-gb)"
            elif self.timeout is not None and time.monotonic() - started > self.timeout:
                self.killed = f"killed after --timeout {self.timeout:.0f} s"
            if self.killed:
                if self.done.is_set():
                    self.killed = None
                    return
                with contextlib.suppress(OSError):
                    os.killpg(self.pid, signal.SIGKILL)  # the child's own group only
                return


@dataclass
class Run:
    wall: float
    #: user + system CPU of the child (rusage) plus the other processes of its tree as last
    #: sampled (the JVM and its Python workers outlive the child's rusage; the seconds
    #: between their last sample and their end are missed)
    cpu: float
    peaks: Peaks
    failure: str | None


def run_child(argv: list[str], limit_kb: int | None, timeout: float | None) -> Run:
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        sampler = Sampler(proc.pid, limit_kb, timeout)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        failure = sampler.killed
        if failure is None and code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            failure = f"exit status {code}: {lines[-1][:200] if lines else 'no stderr'}"
            print(f"failed ({code}): {shlex.join(argv)}", file=sys.stderr)
            print("\n".join(lines[-30:]), file=sys.stderr)
    sampler.peaks.driver = max(sampler.peaks.driver, int(usage.ru_maxrss))
    others = sum(cpu for pid, cpu in sampler.cpu.items() if pid != proc.pid)
    return Run(wall, usage.ru_utime + usage.ru_stime + others, sampler.peaks, failure)


# --------------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------------


@dataclass
class Engine:
    name: str
    extra: list[str]
    runs: list[Run] = field(default_factory=list)
    empty: Run | None = None
    failure: str | None = None

    def command(self, jtrack: list[str], source: Path, store: Path, more: list[str]) -> list[str]:
        return [*jtrack, str(source), "--store", str(store), "--quiet", *self.extra, *more]


def engines(names: list[str], master: str) -> list[Engine]:
    known = {
        "local": Engine("local", []),
        "spark": Engine("spark", ["--engine", "spark", "--spark-master", master]),
    }
    return [known[n] for n in names]


def same_stores(a: Path, b: Path) -> list[str]:
    """How two stores differ, independent of how their files are split (as
    tests/test_engine.py compares stores): empty when they hold the same."""
    from jtrack.store import Store

    problems = []
    with Store(a).snapshot() as sa, Store(b).snapshot() as sb:
        for name, one, other in (
            (
                "index",
                sa.scan_index().sort("segment", "row"),
                sb.scan_index().sort("segment", "row"),
            ),
            (
                "sessions",
                sa.scan_sessions(bucket=True).sort("id"),
                sb.scan_sessions(bucket=True).sort("id"),
            ),
        ):
            fa, fb = one.collect(), other.collect()
            if not fa.equals(fb):
                problems.append(f"{name}: {fa.height:,} vs {fb.height:,} rows, not equal")
        if not sa.rejects().equals(sb.rejects()):
            problems.append("rejects differ")
        ha, hb = sa.held(), sb.held()
        if (ha is None) != (hb is None) or (
            ha is not None and hb is not None and not ha.equals(hb)
        ):
            problems.append("held rows differ")
        if sa.manifest.counts != sb.manifest.counts:
            problems.append(f"counts: {sa.manifest.counts} vs {sb.manifest.counts}")
    return problems


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def report(group: list[Engine], n_events: int, args: argparse.Namespace) -> list[str]:
    local = next((e for e in group if e.name == "local" and e.runs and not e.failure), None)
    base = statistics.median(r.wall for r in local.runs) if local else None
    lines = [
        f"{bs._fmt_size(n_events)} flat events (Parquet), Spark on {args.master}, "
        f"{os.cpu_count()} cores, {bs._mem_total_gb():.0f} GB RAM; {bs._versions()}",
        "",
        "| engine | empty run s | median s | vs local | median CPU s | peak RSS MB (all) "
        "| driver MB | JVM MB | Python workers MB (sum / largest) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in group:
        empty = f"{e.empty.wall:.2f}" if e.empty and not e.empty.failure else "-"
        if e.failure:
            lines.append(f"| {e.name} | {empty} | failed: {e.failure} | | | | | | |")
            continue
        if not e.runs:
            lines.append(f"| {e.name} | {empty} | not run | | | | | | |")
            continue
        t = statistics.median(r.wall for r in e.runs)
        cpu = statistics.median(r.cpu for r in e.runs)
        p = Peaks(
            tree=max(r.peaks.tree for r in e.runs),
            driver=max(r.peaks.driver for r in e.runs),
            jvm=max(r.peaks.jvm for r in e.runs),
            workers=max(r.peaks.workers for r in e.runs),
            worker=max(r.peaks.worker for r in e.runs),
        )
        ratio = f"{t / base:.2f}x" if base else ""
        workers = f"{_mb(p.workers)} / {_mb(p.worker)}" if p.workers else "-"
        jvm = _mb(p.jvm) if p.jvm else "-"
        lines.append(
            f"| {e.name} | {empty} | {t:.2f} | {ratio} | {cpu:.2f} | {_mb(p.tree)} "
            f"| {_mb(p.driver)} | {jvm} | {workers} |"
        )
    lines += [
        "",
        f"Runs: {len(group[0].runs)} timed (median), after "
        f"{'one warm-up round' if args.warmup else 'no warm-up'}; "
        f"stores compared: {'no (--no-check)' if args.no_check else 'yes, equal'}.",
    ]
    return lines


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=None, help="flat events (default 10M)")
    ap.add_argument("--scale", action="store_true", help="100M events, one round, no warm-up")
    ap.add_argument("--repeat", type=int, default=None, help="timed rounds (default 3; --scale 1)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--engines", default="local,spark", help="comma-separated: local,spark")
    ap.add_argument("--master", default="local[2]", help="the Spark master (default local[2])")
    ap.add_argument(
        "--jtrack-arg",
        action="append",
        default=[],
        help="an argument added to every jtrack command line (repeatable)",
    )
    ap.add_argument("--scratch", type=Path, default=HERE / "data" / "scratch")
    ap.add_argument("--timeout", type=float, default=None, help="seconds a run may take")
    ap.add_argument(
        "--kill-above-gb", type=float, default=None, help="kill a run above this RSS (GB)"
    )
    ap.add_argument("--no-check", action="store_true", help="do not compare the stores")
    ap.add_argument("--output", type=Path, help="also write the report to this file")
    args = ap.parse_args(argv)
    args.events = args.events or (100_000_000 if args.scale else 10_000_000)
    args.repeat = args.repeat or (1 if args.scale else 3)
    args.warmup = not args.scale
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if not names or any(n not in ("local", "spark") for n in names):
        ap.error("--engines: local and/or spark")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jtrack, why = bs._jtrack_argv()
    if jtrack is None:
        print(f"bench_spark: {why}", file=sys.stderr)
        return 2
    problem = bs.check_disk("flat", [args.events], args.seed, len(args.names), args.scratch)
    if problem:
        print(f"bench_spark: {problem}", file=sys.stderr)
        return 2
    source = bs.ensure_input("flat", args.events, args.seed)
    limit_kb = int(args.kill_above_gb * 1024**2) if args.kill_above_gb else None
    group = engines(args.names, args.master)
    args.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-spark-", dir=args.scratch))
    try:
        empty = work / "empty.jsonl"
        empty.write_bytes(b"")
        for e in group:  # start-up: the whole run over an input without events
            print(f"empty run, {e.name} ...", file=sys.stderr, flush=True)
            e.empty = run_child(
                e.command(jtrack, empty, work / f"empty-{e.name}", args.jtrack_arg),
                limit_kb,
                args.timeout,
            )
            print(f"  {e.empty.wall:.2f} s", file=sys.stderr)
        bs.warm_page_cache(source)
        kept: dict[str, Path] = {}
        rounds = (["warm-up"] if args.warmup else []) + [
            f"round {i + 1}" for i in range(args.repeat)
        ]
        for label in rounds:
            for e in group:
                if e.failure:
                    continue
                store = work / f"{e.name}-{len(e.runs)}-{label.replace(' ', '')}"
                print(f"{label}, {e.name} ...", file=sys.stderr, flush=True)
                r = run_child(
                    e.command(jtrack, source, store, args.jtrack_arg), limit_kb, args.timeout
                )
                print(
                    f"  {r.wall:.2f} s wall, {r.cpu:.2f} s CPU, {r.peaks.tree / 1024:.0f} MB "
                    f"peak RSS (workers {r.peaks.workers / 1024:.0f} MB)",
                    file=sys.stderr,
                )
                if r.failure:
                    e.failure = r.failure
                    continue
                if label != "warm-up":
                    e.runs.append(r)
                if e.name not in kept and not args.no_check:
                    kept[e.name] = store
                else:
                    shutil.rmtree(store, ignore_errors=True)
        status = 0
        if len(kept) == 2:
            problems = same_stores(kept["local"], kept["spark"])
            if problems:
                print("STORES DIFFER (local vs spark):", file=sys.stderr)
                for p in problems:
                    print(f"- {p}", file=sys.stderr)
                return 1
            print("check: the local and the Spark stores are equal", file=sys.stderr)
        if any(e.failure for e in group):
            status = 3
        lines = report(group, args.events, args)
        text = "\n".join(lines) + "\n"
        sys.stdout.write(text)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text, encoding="utf-8")
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
