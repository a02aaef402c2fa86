"""Incremental runs against the targets of the incremental-runs issue (#16).

    python benchmarks/bench_incremental.py                  # 10 daily files, 1M events
    python benchmarks/bench_incremental.py --events 200000 --repeat 3
    python benchmarks/bench_incremental.py --appends 365    # a year of daily appends (scaled down)
    python benchmarks/bench_incremental.py --unchanged 100  # a folder of 100 files, nothing new

Targets:
1. 10 daily files (1M events in all): adding the 10th costs <= 0.15x a full build of all ten,
   and <= 1.5x sessionizing that one file alone into an empty store;
2. 365 daily appends to one store: `card` and `sessions --customer` stay < 0.5 s, and the
   store's size stays within 1.2x of a fresh build's;
3. a run over an unchanged folder of 100 files finishes in < 1 s and changes nothing.

Every jtrack run is a child process (`jtrack sessionize ... -q`, the real CLI), timed around
the child, with its CPU time and peak RSS from os.wait4; rounds are interleaved (A B C, A B C)
so a noisy neighbour hits every contender alike. Inputs are generated once with the dev
generator (tests/synth) into benchmarks/data/ (gitignored) and split into one Parquet file per
day of the events' `created_date` (an export a day). Prints markdown tables with medians and
ratios, and the load average; exit status 0 when every target checked is met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))


def jtrack() -> str:
    exe = Path(sys.executable).with_name("jtrack")
    return str(exe) if exe.exists() else "jtrack"


def timed(args: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall s, cpu s, peak RSS MB) of one child process; raises when it fails."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def daily_files(n_events: int, days: int, seed: int = 7) -> list[Path]:
    """N synthetic events over `days` days, one Parquet file per day (cached)."""
    from _synth import write_flat_parquet

    d = DATA / f"incremental-{n_events}-{days}d-s{seed}"
    files = sorted(d.glob("day*.parquet"))
    if len(files) == days:
        return files
    d.mkdir(parents=True, exist_ok=True)
    whole = d / "all.parquet"
    if not whole.exists():
        subprocess.run([*_cmd(n_events, whole, seed), "--days", str(days)], check=True)
    # split in a child too: a child started by fork reports this process's peak RSS as its
    # own through wait4, so the 1.4 GB of a split done here showed as every run's peak
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import bench_incremental as b; b.split_days()"
    )
    subprocess.run([sys.executable, "-c", code, str(whole), str(d), str(days)], check=True)
    whole.unlink()
    del write_flat_parquet
    return sorted(d.glob("day*.parquet"))


def split_days() -> None:
    """`python -c ... WHOLE DIR DAYS`: WHOLE's events, one Parquet file per day in DIR."""
    import polars as pl

    whole, d, days = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    df = pl.read_parquet(whole)
    day = pl.col("created_date").dt.date()
    first = df.select(day.min()).item()
    df = df.with_columns(_d=(day - pl.lit(first)).dt.total_days())
    for k in range(days):
        df.filter(pl.col("_d") == k).drop("_d").write_parquet(d / f"day{k:03d}.parquet")


def _cmd(n: int, out: Path, seed: int) -> list[str]:
    from _synth import command

    return command("flat", n, out, seed=seed)


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_ten(n_events: int, repeat: int, scratch: Path) -> bool:
    files = daily_files(n_events, 10)
    base = scratch / "nine"
    shutil.rmtree(base, ignore_errors=True)
    for f in files[:9]:  # a store fed nightly, as cron does
        subprocess.run([jtrack(), "sessionize", str(f), "--store", str(base), "-q"], check=True)
    full, add, alone = [], [], []
    for _ in range(repeat):
        s = scratch / "full"
        shutil.rmtree(s, ignore_errors=True)
        full.append(timed([jtrack(), "sessionize", *map(str, files), "--store", str(s), "-q"]))
        s = scratch / "add"
        shutil.rmtree(s, ignore_errors=True)
        shutil.copytree(base, s, symlinks=True)
        add.append(timed([jtrack(), "sessionize", str(files[9]), "--store", str(s), "-q"]))
        s = scratch / "alone"
        shutil.rmtree(s, ignore_errors=True)
        alone.append(timed([jtrack(), "sessionize", str(files[9]), "--store", str(s), "-q"]))
    _check_same(scratch / "full", scratch / "add")
    f, a, one = (_median([r[0] for r in x]) for x in (full, add, alone))
    print(f"\n10 daily files, {n_events:,} events in all ({repeat} rounds, medians):\n")
    print("| run | wall s | CPU s | peak RSS MB |\n|---|---:|---:|---:|")
    for name, runs in (("full build of all ten", full), ("adding the 10th", add),
                       ("the 10th alone, empty store", alone)):  # fmt: skip
        print(
            f"| {name} | {_median([r[0] for r in runs]):.2f} | "
            f"{_median([r[1] for r in runs]):.2f} | {max(r[2] for r in runs):,} |"
        )
    print(f"\nadding the 10th / full build: {a / f:.2f}x (target <= 0.15x)")
    print(f"adding the 10th / the 10th alone: {a / one:.2f}x (target <= 1.5x)")
    return a / f <= 0.15 and a / one <= 1.5


def _check_same(x: Path, y: Path) -> None:
    from polars.testing import assert_frame_equal

    from jtrack.store import Store

    a, b = Store.open(x), Store.open(y)
    assert_frame_equal(
        a.scan_sessions().collect().sort("id"), b.scan_sessions().collect().sort("id")
    )
    assert a.manifest()["counts"] == b.manifest()["counts"], "counts differ"
    a.close()
    b.close()


def _store_bytes(root: Path) -> int:
    from jtrack.store import Store

    st = Store.open(root)
    m = st.read_manifest()
    d = st.version_dir(st.current_name() or "")
    return sum((d / rel).stat().st_size for rel in m.files())


def bench_appends(days: int, per_day: int, repeat: int, scratch: Path) -> bool:
    files = daily_files(days * per_day, days)
    store = scratch / "year"
    shutil.rmtree(store, ignore_errors=True)
    t = time.perf_counter()
    nights = []
    for f in files:
        nights.append(timed([jtrack(), "sessionize", str(f), "--store", str(store), "-q"])[0])
    print(f"\n{days} daily appends of ~{per_day:,} events: {time.perf_counter() - t:.0f} s in all")
    print(
        f"a night: median {_median(nights):.2f} s, first {nights[0]:.2f} s, last {nights[-1]:.2f} s"
    )
    fresh = scratch / "year-fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    subprocess.run(
        [jtrack(), "sessionize", *map(str, files), "--store", str(fresh), "-q"], check=True
    )
    _check_same(store, fresh)
    import polars as pl

    from jtrack.store import Store

    sessions = Store.open(store).scan_sessions().select("id", "customer_id").collect()
    busiest = sessions.group_by("customer_id").len().sort("len", "customer_id").row(-1)[0]
    sid = sessions.filter(pl.col("customer_id") == busiest)["id"][0][:8]
    ok = True
    print("\n| command | appended store s | fresh store s |\n|---|---:|---:|")
    for name, args in (
        ("card", ["card", sid, "--as-of", "2026-11-01"]),
        ("sessions --customer", ["sessions", "--customer", busiest]),
    ):
        row = []
        for root in (store, fresh):
            runs = [timed([jtrack(), *args, "--store", str(root)])[0] for _ in range(repeat)]
            row.append(_median(runs))
        ok = ok and row[0] < 0.5
        print(f"| {name} | {row[0]:.2f} | {row[1]:.2f} |")
    a, b = _store_bytes(store), _store_bytes(fresh)
    print(f"\nstore size: appended {a / 1e6:.1f} MB, fresh {b / 1e6:.1f} MB: {a / b:.2f}x "
          "(target <= 1.2x)")  # fmt: skip
    return ok and a / b <= 1.2


def bench_unchanged(n_files: int, repeat: int, scratch: Path) -> bool:
    files = daily_files(n_files * 500, n_files)
    folder = files[0].parent
    store = scratch / "folder"
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run([jtrack(), "sessionize", str(folder), "--store", str(store), "-q"], check=True)
    version = (store / "CURRENT").read_text()
    runs = [timed([jtrack(), "sessionize", str(folder), "--store", str(store), "-q"])
            for _ in range(repeat)]  # fmt: skip
    same = (store / "CURRENT").read_text() == version
    w = _median([r[0] for r in runs])
    print(f"\na folder of {n_files} files, unchanged: {w:.2f} s (target < 1 s), "
          f"store unchanged: {same}")  # fmt: skip
    return w < 1 and same


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--appends", type=int, default=0, help="days of daily appends (target 2)")
    ap.add_argument("--per-day", type=int, default=2_000)
    ap.add_argument("--unchanged", type=int, default=0, help="files in a folder (target 3)")
    ap.add_argument("--scratch", type=Path, default=DATA / "scratch-incremental")
    args = ap.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    print(f"load average: {os.getloadavg()}")
    ok = True
    if args.appends:
        ok = bench_appends(args.appends, args.per_day, args.repeat, args.scratch) and ok
    elif args.unchanged:
        ok = bench_unchanged(args.unchanged, args.repeat, args.scratch) and ok
    else:
        ok = bench_ten(args.events, args.repeat, args.scratch) and ok
    print(f"load average: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
