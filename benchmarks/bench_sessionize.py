"""Benchmark `jtrack sessionize` against the DuckDB and Polars baselines (baselines.py).

    python benchmarks/bench_sessionize.py [--quick] [--events N] [--repeat R] [--seed S]

Generates the input with jtrack.synth if it is missing (benchmarks/data/, gitignored), checks
that every tool finds the same number of web sessions, then runs each tool as a child process:
one warm-up each, then R rounds interleaved (A B C, A B C, ...). Wall time is measured around
the child; CPU time (user + system) and peak RSS (ru_maxrss) come from the child's os.wait4
rusage. Prints a markdown table with the median wall seconds, the ratio to DuckDB, the median
CPU seconds and the peak RSS. `--quick` means 1M events (default 10M). A tool that cannot run
(e.g. the jtrack CLI is not installed) is reported as "unavailable".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
BASELINES = HERE / "baselines.py"


@dataclass
class Tool:
    """One contender: how to run it on (input, output dir) and how to count its sessions."""

    name: str
    argv: list[str] | None  # None: unavailable
    outputs_store: bool = False
    why_unavailable: str = ""
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sessions: int | None = None

    def command(self, source: Path, out: Path) -> list[str]:
        assert self.argv is not None
        if self.outputs_store:
            return [*self.argv, str(source), "--store", str(out), "--quiet"]
        return [*self.argv, str(source), str(out)]


def count_sessions_baseline(outdir: Path) -> int:
    """Rows of a baseline's OUTDIR/sessions.parquet."""
    import polars as pl

    return int(pl.scan_parquet(outdir / "sessions.parquet").select(pl.len()).collect().item())


def count_sessions_jtrack(store: Path) -> int:
    """Web sessions in a jtrack store: rows of the session table with type == 'web'.

    Reads the snapshot named by STORE/CURRENT (STORE/<snapshot>/sessions/*.parquet); if there
    is no CURRENT pointer, falls back to every STORE/**/sessions/*.parquet file. Custom
    sessions (e.g. type 'delivery') are not counted, as the baselines leave them out."""
    import polars as pl

    pointer = store / "CURRENT"
    if pointer.is_file():
        pattern = str(store / pointer.read_text().strip() / "sessions" / "*.parquet")
    else:
        pattern = f"{store}/**/sessions/*.parquet"
    return int(
        pl.scan_parquet(pattern).filter(pl.col("type") == "web").select(pl.len()).collect().item()
    )


def _jtrack_argv() -> tuple[list[str] | None, str]:
    """How to run the jtrack CLI here, or None and the reason it cannot run."""
    candidates: list[list[str]] = []
    exe = shutil.which("jtrack")
    if exe:
        candidates.append([exe])
    candidates.append([sys.executable, "-c", "import sys; from jtrack.cli import main; main()"])
    reason = "jtrack CLI not found"
    for argv in candidates:
        try:
            probe = subprocess.run(
                [*argv, "sessionize", "--help"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = str(exc)
            continue
        if probe.returncode == 0 and "--store" in probe.stdout:
            return [*argv, "sessionize"], ""
        last = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        reason = f"`jtrack sessionize --help` failed: {last[0]}"
    return None, reason


def ensure_input(n_events: int, seed: int) -> Path:
    """The benchmark input, generated (in a child process) if missing."""
    path = DATA / f"sessionize-events-{n_events}-s{seed}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    print(f"generating {n_events:,} events -> {path.relative_to(ROOT)}", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jtrack.synth",
            "flat",
            str(n_events),
            str(tmp),
            "--seed",
            str(seed),
        ],
        check=True,
        cwd=ROOT,
    )
    tmp.replace(path)
    print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def run_child(argv: list[str]) -> tuple[float, float, int, int]:
    """Run a child process; returns (wall seconds, CPU seconds (user + system), peak RSS in KB,
    exit status)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-4000:]
            print(f"failed ({code}): {' '.join(argv)}\n{tail}", file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), code


def run_once(tool: Tool, source: Path, scratch: Path, record: bool) -> Path | None:
    """One run of a tool into a fresh output directory; returns it (None on failure)."""
    out = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=scratch))
    shutil.rmtree(out)  # the tools create it
    wall, cpu, rss, code = run_child(tool.command(source, out))
    if code != 0:
        tool.argv, tool.why_unavailable = None, f"exit status {code}"
        return None
    if record:
        tool.times.append(wall)
        tool.rss_kb.append(rss)
        tool.cpu.append(cpu)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M events instead of 10M")
    parser.add_argument("--events", type=int, default=None, help="number of events")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per tool")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-jtrack", action="store_true", help="baselines only")
    args = parser.parse_args(argv)
    n_events = args.events or (1_000_000 if args.quick else 10_000_000)

    source = ensure_input(n_events, args.seed)
    jtrack_argv, why = (None, "skipped (--skip-jtrack)") if args.skip_jtrack else _jtrack_argv()
    baseline = [sys.executable, str(BASELINES)]
    tools = [
        Tool("jtrack", jtrack_argv, outputs_store=True, why_unavailable=why),
        Tool("duckdb", [*baseline, "duckdb"]),
        Tool("polars", [*baseline, "polars"]),
    ]
    scratch = Path(tempfile.mkdtemp(prefix="bench-sessionize-"))
    try:
        # warm-up, which also checks that everyone finds the same sessions
        for tool in tools:
            if tool.argv is None:
                continue
            out = run_once(tool, source, scratch, record=False)
            if out is not None:
                count = count_sessions_jtrack if tool.outputs_store else count_sessions_baseline
                tool.sessions = count(out)
                shutil.rmtree(out, ignore_errors=True)
        counts = {t.name: t.sessions for t in tools if t.sessions is not None}
        if len(set(counts.values())) > 1:
            print(f"SESSION COUNTS DIFFER: {counts}", file=sys.stderr)
        for _ in range(args.repeat):
            for tool in tools:
                if tool.argv is not None:
                    out = run_once(tool, source, scratch, record=True)
                    if out is not None:
                        shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    duck = tools[1]
    duck_median = statistics.median(duck.times) if duck.times else None
    print(
        f"\nsessionize, {n_events:,} events ({source.name}), {args.repeat} timed runs each after "
        f"one warm-up, {os.cpu_count()} CPUs\n"
    )
    print("| tool | median s | vs DuckDB | median CPU s | peak RSS MB | web sessions |")
    print("|---|---:|---:|---:|---:|---:|")
    for tool in tools:
        if not tool.times:
            print(f"| {tool.name} | unavailable | | | | {tool.why_unavailable} |")
            continue
        median = statistics.median(tool.times)
        ratio = f"{median / duck_median:.2f}x" if duck_median else ""
        rss = max(tool.rss_kb) / 1024
        sessions = f"{tool.sessions:,}" if tool.sessions is not None else "?"
        cpu = statistics.median(tool.cpu)
        print(f"| {tool.name} | {median:.2f} | {ratio} | {cpu:.2f} | {rss:.0f} | {sessions} |")
    return 1 if len(set(counts.values())) > 1 else 0


if __name__ == "__main__":
    raise SystemExit(main())
