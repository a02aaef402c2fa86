"""Benchmark `jtrack sessionize` against the DuckDB and Polars baselines (baselines.py).

    python benchmarks/bench_sessionize.py [--quick] [--events N] [--repeat R] [--seed S]
    python benchmarks/bench_sessionize.py --shape genesys [--events N]
    python benchmarks/bench_sessionize.py --scale [--scale-sizes 10000000,100000000]

Inputs are generated with `python -m tests.synth` in a child process if missing (cached in
benchmarks/data/, gitignored). Every contender runs as a child process: one warm-up each, then
R rounds interleaved (A B C, A B C, ...). Before any time is reported, the web sessions of
every tool are compared as sets of (customer_id, created_date, ended_date, event_count,
pageview_count); a difference is reported on stderr and the script exits 1. Wall time is
measured around the child; CPU time (user + system) and peak RSS come from the child's
os.wait4 rusage (peak RSS also from sampling the child's process tree, in case it has
workers). Prints a markdown table with medians, ratios to DuckDB and peak RSS.

Modes:
- flat (default): 10M flat Parquet events (`--quick`: 1M), jtrack vs DuckDB vs Polars.
- `--shape genesys`: Genesys NDJSON (default 1M events), jtrack vs DuckDB read_ndjson vs
  Polars scan_ndjson, same SQL / same query after the read.
- `--scale`: flat Parquet at several sizes (default 10M and 100M), jtrack only unless
  `--scale-baselines`; reports the largest/smallest time ratio and the peak RSS against the
  targets (<= 1.1x the size ratio, < 8 GB). By default no warm-up run (the input file is read
  once to warm the page cache) and one timed run per size.

A contender that fails (non-zero exit, killed for using more than --kill-above-gb of memory,
or over --timeout) is reported as "failed: ..." in the table. Exit status: 0 when everything
ran and agreed, 1 when the session tables differ, 3 when a contender failed, 4 when a --scale
target is missed, 2 on bad usage or too little disk space.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
BASELINES = HERE / "baselines.py"

#: Approximate input bytes per event, for the free-disk check (measured on tests/synth output).
BYTES_PER_EVENT = {"flat": 95, "genesys": 1_400}
#: What the outputs of one run take, relative to a flat input of the same events.
OUTPUT_FACTOR = 1.5
#: Columns of the session tables that must agree between tools.
KEY = ["customer_id", "created_date", "ended_date", "event_count"]
COMPARED = [*KEY, "pageview_count"]
GB = 1024**3


# --------------------------------------------------------------------------------------------
# Tools and contenders
# --------------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One program: how to run it on (input, output dir)."""

    name: str
    argv: list[str] | None  # None: unavailable
    outputs_store: bool = False
    extra: list[str] = field(default_factory=list)  # appended (jtrack: --jtrack-arg)
    why_unavailable: str = ""

    def command(self, source: Path, out: Path) -> list[str]:
        assert self.argv is not None
        if self.outputs_store:
            return [*self.argv, str(source), "--store", str(out), "--quiet", *self.extra]
        return [*self.argv, str(source), str(out), *self.extra]


@dataclass
class Contender:
    """One tool on one input: its measurements and what its output held."""

    tool: Tool
    source: Path
    n_events: int
    label: str
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sessions: int | None = None
    failure: str | None = None
    checked: bool = False

    @property
    def runnable(self) -> bool:
        return self.tool.argv is not None and self.failure is None


@dataclass
class RunResult:
    wall: float
    cpu: float
    rss_kb: int  # max(ru_maxrss, sampled RSS of the process tree)
    code: int
    failure: str | None  # None: success


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------


def _tree_rss_kb(pid: int) -> int:
    """Resident set of a process and all its descendants, in KB (0 if it is gone)."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


class Watchdog(threading.Thread):
    """Samples the RSS of a child's process tree; kills the tree (its own process group)
    when it uses more than `limit_kb` or runs longer than `timeout` seconds."""

    def __init__(self, pid: int, limit_kb: int | None, timeout: float | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.limit_kb, self.timeout = pid, limit_kb, timeout
        self.peak_kb = 0
        self.killed: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        interval = 0.05
        while not self.done.wait(interval):
            interval = min(interval * 1.5, 0.5)
            rss = _tree_rss_kb(self.pid)
            self.peak_kb = max(self.peak_kb, rss)
            if self.limit_kb is not None and rss > self.limit_kb:
                self.killed = (
                    f"killed by the benchmark at {rss / 1024**2:.1f} GB RSS "
                    f"(over --kill-above-gb {self.limit_kb / 1024**2:.1f})"
                )
            elif self.timeout is not None and time.monotonic() - started > self.timeout:
                self.killed = f"killed by the benchmark after --timeout {self.timeout:.0f} s"
            if self.killed:
                if self.done.is_set():  # reaped meanwhile: its id may be reused
                    self.killed = None
                    return
                with contextlib.suppress(OSError):
                    os.killpg(self.pid, signal.SIGKILL)  # the child's own group only
                return


def run_child(argv: list[str], limit_kb: int | None, timeout: float | None) -> RunResult:
    """Run a child process in its own process group and measure it."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        dog = Watchdog(proc.pid, limit_kb, timeout)
        dog.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        dog.done.set()
        dog.join()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        failure = None
        if dog.killed:
            failure = dog.killed
        elif code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            failure = f"killed by {name}{hint}"
        elif code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            failure = f"exit status {code}: {lines[-1][:200] if lines else 'no stderr'}"
            tail = "\n".join(lines[-30:])
            print(f"failed ({code}): {shlex.join(argv)}\n{tail}", file=sys.stderr)
    rss = max(int(usage.ru_maxrss), dog.peak_kb)
    return RunResult(wall, usage.ru_utime + usage.ru_stime, rss, code, failure)


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


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def input_path(shape: str, n_events: int, seed: int) -> Path:
    if shape == "flat":
        return DATA / f"sessionize-events-{n_events}-s{seed}.parquet"
    return DATA / f"sessionize-genesys-{n_events}-s{seed}.jsonl"


def ensure_input(shape: str, n_events: int, seed: int) -> Path:
    """The benchmark input, generated (in a child process) if missing."""
    path = input_path(shape, n_events, seed)
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    print(f"generating {n_events:,} {shape} events -> {path.relative_to(ROOT)}", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tests.synth", shape, str(n_events), str(tmp), "--seed", str(seed)],
        check=True,
        cwd=ROOT,
    )
    tmp.replace(path)
    print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def check_disk(shape: str, sizes: list[int], seed: int, n_tools: int, scratch: Path) -> str | None:
    """None if the inputs still to generate plus the outputs of one round fit on the disk,
    else the reason they do not."""
    need = 0
    for n in sizes:
        if not input_path(shape, n, seed).exists():
            need += n * BYTES_PER_EVENT[shape]
    # outputs of the largest size, all tools at once at worst (they are deleted after each run,
    # but the equality check keeps one round of them)
    need += int(max(sizes) * BYTES_PER_EVENT["flat"] * OUTPUT_FACTOR * n_tools)
    for where in {DATA, scratch}:
        where.mkdir(parents=True, exist_ok=True)
    free = min(shutil.disk_usage(DATA).free, shutil.disk_usage(scratch).free)
    if need > free * 0.9:
        return (
            f"about {need / GB:.1f} GB of disk needed (inputs to generate + outputs), "
            f"only {free / GB:.1f} GB free"
        )
    return None


def warm_page_cache(path: Path) -> None:
    """Read a file once so that the first timed run does not pay for the disk."""
    with path.open("rb") as f:
        while f.read(16 << 20):
            pass


# --------------------------------------------------------------------------------------------
# Session tables and the equality check
# --------------------------------------------------------------------------------------------


def _sessions_glob(store: Path) -> str:
    """The session files of a jtrack store's current version (STORE/CURRENT names it:
    STORE/versions/<name>/sessions/*.parquet), as the README tells other tools to read them."""
    pointer = store / "CURRENT"
    if pointer.is_file():
        name = pointer.read_text().strip()
        return str(store / "versions" / name / "sessions" / "*.parquet")
    return f"{store}/current/sessions/*.parquet"


def web_sessions(contender: Contender, out: Path) -> pl.LazyFrame:
    """The web sessions a run produced, as a LazyFrame of the COMPARED columns (canonical
    dtypes). jtrack: rows with type == 'web' of its session table; custom ('delivery') and app
    sessions are left out, as the baselines do."""
    import polars as pl

    if contender.tool.outputs_store:
        lf = pl.scan_parquet(_sessions_glob(out)).filter(pl.col("type") == "web")
    else:
        lf = pl.scan_parquet(out / "sessions.parquet")
    schema = lf.collect_schema()
    exprs = [pl.col("customer_id").cast(pl.String)]
    for c in ("created_date", "ended_date"):
        dtype = schema[c]
        e = pl.col(c)
        tz = getattr(dtype, "time_zone", None)
        e = e.dt.replace_time_zone("UTC") if tz is None else e.dt.convert_time_zone("UTC")
        exprs.append(e.dt.cast_time_unit("us"))
    exprs += [pl.col(c).cast(pl.Int64) for c in ("event_count", "pageview_count")]
    return lf.select(exprs)


def compare_sessions(ref_name: str, ref: pl.DataFrame, name: str, other: pl.DataFrame) -> list[str]:
    """Differences between two session tables (empty: equal as sets), for stderr."""
    import polars as pl

    problems: list[str] = []
    only_ref = ref.join(other, on=KEY, how="anti", nulls_equal=True)
    only_other = other.join(ref, on=KEY, how="anti", nulls_equal=True)
    both = ref.join(other, on=KEY, how="inner", nulls_equal=True, suffix="_other")
    pv_diff = both.filter(pl.col("pageview_count") != pl.col("pageview_count_other"))
    with pl.Config(tbl_rows=6, tbl_cols=-1, tbl_width_chars=160, fmt_str_lengths=40):
        for label, frame in (
            (f"sessions only in {ref_name}", only_ref),
            (f"sessions only in {name}", only_other),
            (f"sessions with a different pageview_count ({ref_name} vs {name})", pv_diff),
        ):
            if frame.height:
                problems.append(f"{frame.height:,} {label}, e.g.:\n{frame.head(5)}")
        for label, frame in ((ref_name, ref), (name, other)):
            dups = frame.height - frame.select(KEY).unique().height
            if dups:
                problems.append(f"{label}: {dups:,} duplicated (customer_id, created, ended, n)")
    return problems


def check_group(outputs: list[tuple[Contender, Path]]) -> bool:
    """Compare the web sessions of every tool run on one input with the first baseline's (the
    reference). Sets `sessions` on each contender; prints any difference; True if all agree."""
    frames = []
    for c, out in outputs:
        try:
            df = web_sessions(c, out).collect()
        except Exception as exc:  # an unreadable output is a failed run
            c.failure = f"output unreadable: {str(exc).splitlines()[0][:160]}"
            continue
        c.sessions = df.height
        c.checked = True
        frames.append((c, df))
    baselines = [(c, df) for c, df in frames if not c.tool.outputs_store]
    ordered = baselines + [(c, df) for c, df in frames if c.tool.outputs_store]
    if len(ordered) < 2:
        return True
    (ref_c, ref), others = ordered[0], ordered[1:]
    ok = True
    for c, df in others:
        problems = compare_sessions(ref_c.label, ref, c.label, df)
        if problems:
            ok = False
            print(
                f"\nSESSION TABLES DIFFER: {c.label} ({df.height:,} web sessions) vs "
                f"{ref_c.label} ({ref.height:,}), compared on {', '.join(COMPARED)}:",
                file=sys.stderr,
            )
            for p in problems:
                print(f"- {p}", file=sys.stderr)
        else:
            print(
                f"check: {c.label} == {ref_c.label} ({df.height:,} web sessions)",
                file=sys.stderr,
            )
    return ok


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def run_once(
    c: Contender, scratch: Path, record: bool, limit_kb: int | None, timeout: float | None
) -> Path | None:
    """One run of a contender into a fresh output directory; returns it (None on failure)."""
    out = Path(tempfile.mkdtemp(prefix=f"{c.tool.name}-", dir=scratch))
    shutil.rmtree(out)  # the tools create it
    print(f"running {c.label} ...", file=sys.stderr, flush=True)
    res = run_child(c.tool.command(c.source, out), limit_kb, timeout)
    if res.failure is not None:
        c.failure = res.failure
        print(f"  failed: {res.failure}", file=sys.stderr)
        # a failed run still shows how far it got
        c.times.append(res.wall)
        c.cpu.append(res.cpu)
        c.rss_kb.append(res.rss_kb)
        shutil.rmtree(out, ignore_errors=True)
        return None
    print(
        f"  {res.wall:.2f} s wall, {res.cpu:.2f} s CPU, {res.rss_kb / 1024:.0f} MB peak RSS",
        file=sys.stderr,
    )
    if record:
        c.times.append(res.wall)
        c.rss_kb.append(res.rss_kb)
        c.cpu.append(res.cpu)
    return out


def run_round(
    groups: list[list[Contender]],
    scratch: Path,
    record: bool,
    args: argparse.Namespace,
) -> bool:
    """One run of every contender, group by group (interleaved), checking each group's
    outputs the first time they are all there. False if session tables differ."""
    ok = True
    limit_kb = int(args.kill_above_gb * 1024**2) if args.kill_above_gb else None
    for group in groups:
        outputs: list[tuple[Contender, Path]] = []
        try:
            for c in group:
                if not c.runnable:
                    continue
                out = run_once(c, scratch, record, limit_kb, args.timeout)
                if out is None:
                    continue
                if c.checked or args.no_check:
                    if c.sessions is None:
                        c.sessions = web_sessions(c, out).collect().height
                    shutil.rmtree(out, ignore_errors=True)
                else:
                    outputs.append((c, out))
            if outputs:
                ok = check_group(outputs) and ok
        finally:
            for _, out in outputs:
                shutil.rmtree(out, ignore_errors=True)
        if not ok:
            return False
    return ok


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mem_total_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def _versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for mod in ("polars", "duckdb"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} missing")
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
        if rev:
            parts.append(f"jtrack {rev}")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ", ".join(parts)


def _fmt_size(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def table(groups: list[list[Contender]]) -> list[str]:
    """The markdown table: one row per contender, ratios against DuckDB on the same input."""
    lines = [
        "| tool | median s | vs DuckDB | median CPU s | peak RSS MB | peak RSS vs DuckDB "
        "| web sessions |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in groups:
        duck = next((c for c in group if c.tool.name == "duckdb" and c.failure is None), None)
        duck_t = statistics.median(duck.times) if duck and duck.times else None
        duck_m = max(duck.rss_kb) if duck and duck.rss_kb else None
        for c in group:
            if c.tool.argv is None:
                lines.append(f"| {c.label} | unavailable: {c.tool.why_unavailable} | | | | | |")
                continue
            if c.failure is not None:
                after = f" (after {c.times[-1]:.1f} s)" if c.times else ""
                cpu = f"{c.cpu[-1]:.2f}" if c.cpu else ""
                rss_mb = f"{max(c.rss_kb) / 1024:.0f}" if c.rss_kb else ""
                lines.append(f"| {c.label} | failed: {c.failure}{after} | | {cpu} | {rss_mb} | | |")
                continue
            if not c.times:
                lines.append(f"| {c.label} | not run | | | | | |")
                continue
            t = statistics.median(c.times)
            rss = max(c.rss_kb)
            ratio = f"{t / duck_t:.2f}x" if duck_t else ""
            rss_ratio = f"{rss / duck_m:.2f}x" if duck_m else ""
            sessions = f"{c.sessions:,}" if c.sessions is not None else "?"
            lines.append(
                f"| {c.label} | {t:.2f} | {ratio} | {statistics.median(c.cpu):.2f} "
                f"| {rss / 1024:.0f} | {rss_ratio} | {sessions} |"
            )
    return lines


def checked_note(groups: list[list[Contender]], no_check: bool) -> str:
    """What the equality check covered, for the report."""
    if no_check:
        return "no (--no-check)"
    compared = [g for g in groups if sum(c.checked for c in g) >= 2]
    if not compared:
        return "nothing to compare (fewer than two tools ran)"
    names = sorted({c.tool.name for g in compared for c in g if c.checked})
    return f"yes, {' = '.join(names)}: web sessions as sets of ({', '.join(COMPARED)})"


def scale_summary(groups: list[list[Contender]], rss_target_gb: float) -> tuple[list[str], bool]:
    """jtrack's time at the largest size against the smallest, and its peak RSS, against the
    targets (time ratio <= 1.1 x size ratio; peak RSS < rss_target_gb)."""
    jt = [c for g in groups for c in g if c.tool.outputs_store]
    if len(jt) < 2:
        return [], True
    small, large = jt[0], jt[-1]
    size_ratio = large.n_events / small.n_events
    target = 1.1 * size_ratio
    lines, ok = [], True
    if small.failure is None and large.failure is None and small.times and large.times:
        r = statistics.median(large.times) / statistics.median(small.times)
        rc = statistics.median(large.cpu) / statistics.median(small.cpu)
        passed = r <= target
        ok = ok and passed
        lines.append(
            f"- jtrack {_fmt_size(large.n_events)} / {_fmt_size(small.n_events)} wall time: "
            f"{r:.2f}x (CPU {rc:.2f}x) for {size_ratio:.0f}x the events; target <= "
            f"{target:.1f}x: {'PASS' if passed else 'FAIL'}"
        )
    else:
        ok = False
        lines.append(
            f"- jtrack {_fmt_size(large.n_events)} / {_fmt_size(small.n_events)} wall time: "
            "n/a (a run failed): FAIL"
        )
    for c in jt:
        if c.rss_kb:
            gb = max(c.rss_kb) / 1024**2
            passed = c.failure is None and gb < rss_target_gb
            if c is large:
                ok = ok and passed
            lines.append(
                f"- jtrack peak RSS at {_fmt_size(c.n_events)}: {gb:.2f} GB; target < "
                f"{rss_target_gb:g} GB: {'PASS' if passed else 'FAIL'}"
                + ("" if c.failure is None else f" ({c.failure})")
            )
    return lines, ok


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(s.replace("_", ""))) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from exc
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}")
    return sorted(set(sizes))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("--quick", action="store_true", help="1M events instead of 10M (flat)")
    parser.add_argument("--events", type=int, default=None, help="number of events")
    parser.add_argument(
        "--shape",
        choices=("flat", "genesys"),
        default="flat",
        help="flat Parquet (default) or Genesys NDJSON (default 1M events)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-jtrack", action="store_true", help="baselines only")
    parser.add_argument(
        "--tools", default="jtrack,duckdb,polars", help="comma-separated subset of the tools"
    )
    parser.add_argument(
        "--jtrack-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `jtrack sessionize` (repeatable), e.g. "
        "--jtrack-arg=--memory-limit=6GB",
    )
    parser.add_argument("--scale", action="store_true", help="scale mode (flat, jtrack only)")
    parser.add_argument(
        "--scale-sizes",
        type=_sizes,
        default=[10_000_000, 100_000_000],
        help="comma-separated sizes for --scale (default 10000000,100000000)",
    )
    parser.add_argument(
        "--scale-baselines", action="store_true", help="run the baselines in --scale mode too"
    )
    parser.add_argument(
        "--warmup",
        choices=("run", "cache", "none"),
        default=None,
        help="run: one untimed run of each contender (default); cache: only read the input "
        "once (default with --scale); none",
    )
    parser.add_argument(
        "--rss-target-gb", type=float, default=8.0, help="--scale peak RSS target (8 GB)"
    )
    parser.add_argument(
        "--kill-above-gb",
        type=float,
        default=round(0.75 * _mem_total_gb(), 1),
        help="kill a contender whose process tree uses more memory (default 75%% of RAM); "
        "0 disables",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run")
    parser.add_argument("--no-check", action="store_true", help="do not compare the session tables")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=DATA / "scratch",
        help="where outputs are written (default benchmarks/data/scratch)",
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.scale and args.shape != "flat":
        parser.error("--scale uses flat Parquet input (drop --shape genesys)")
    if args.scale and (args.events or args.quick):
        parser.error("--scale takes its sizes from --scale-sizes, not --events/--quick")
    if args.repeat is None:
        args.repeat = 1 if args.scale else 3
    if args.warmup is None:
        args.warmup = "cache" if args.scale else "run"
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_sessionize.py", *(argv or sys.argv[1:])])
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.skip_jtrack:
        wanted = [t for t in wanted if t != "jtrack"]
    if args.scale and not args.scale_baselines:
        wanted = [t for t in wanted if t == "jtrack"]
    unknown = set(wanted) - {"jtrack", "duckdb", "polars"}
    if unknown or not wanted:
        print(f"--tools: unknown or no tools: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    if args.scale:
        sizes = args.scale_sizes
    elif args.events:
        sizes = [args.events]
    else:
        sizes = [1_000_000 if args.quick or args.shape == "genesys" else 10_000_000]
    scratch_root = args.scratch.resolve()
    problem = check_disk(args.shape, sizes, args.seed, len(wanted), scratch_root)
    if problem:
        print(f"not enough disk: {problem}", file=sys.stderr)
        return 2

    tools: list[Tool] = []
    baseline = [sys.executable, str(BASELINES)]
    for name in wanted:
        if name == "jtrack":
            jt_argv, why = _jtrack_argv()
            tools.append(Tool("jtrack", jt_argv, True, list(args.jtrack_arg), why))
        else:
            tools.append(Tool(name, [*baseline, name]))
    sources = {n: ensure_input(args.shape, n, args.seed) for n in sizes}
    multi = len(sizes) > 1
    groups = [
        [
            Contender(t, sources[n], n, f"{t.name} {_fmt_size(n)}" if multi else t.name)
            for t in tools
        ]
        for n in sizes
    ]
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sessionize-", dir=scratch_root))
    agreed = True
    try:
        if args.warmup == "cache":
            for n in sizes:
                warm_page_cache(sources[n])
        elif args.warmup == "run":
            print("warm-up round (also checks the results)", file=sys.stderr)
            agreed = run_round(groups, scratch, False, args)
        for r in range(args.repeat):
            if not agreed:
                break
            print(f"timed round {r + 1}/{args.repeat}", file=sys.stderr)
            agreed = run_round(groups, scratch, True, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            scratch_root.rmdir()  # only if empty
    if not agreed:
        print("\nthe session tables differ: no times reported", file=sys.stderr)
        return 1

    load_after = os.getloadavg()
    desc = (
        f"sessionize, {args.shape} "
        + ("Parquet" if args.shape == "flat" else "NDJSON")
        + f", {' and '.join(f'{n:,}' for n in sizes)} events "
        + f"({', '.join(sources[n].name for n in sizes)})"
    )
    warm = {
        "run": "after one warm-up run each",
        "cache": "after reading the input once (no warm-up run)",
        "none": "no warm-up",
    }[args.warmup]
    report = [
        f"{desc}; {args.repeat} timed run(s) each, interleaved, {warm}.",
        "",
        f"- command: `{command}`",
        f"- machine: {os.cpu_count()} CPUs, {_mem_total_gb():.1f} GB RAM, {platform.machine()}, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; {_versions()}",
        f"- results checked equal before timing: {checked_note(groups, args.no_check)}",
        "",
        *table(groups),
    ]
    ok = True
    if args.scale:
        lines, ok = scale_summary(groups, args.rss_target_gb)
        if lines:
            report += ["", *lines]
    text = "\n".join(report)
    print("\n" + text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    if any(c.failure for g in groups for c in g):
        return 3
    return 0 if ok else 4


if __name__ == "__main__":
    raise SystemExit(main())
