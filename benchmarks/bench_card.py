"""How fast `jtrack card` answers on a large store (target: under a second at 10M events).

    python benchmarks/bench_card.py                 # 10M events (builds the store once)
    python benchmarks/bench_card.py --events 1000000 --repeat 3

Builds benchmarks/data/card-<N>/ once (gitignored): synthetic flat events (tests/synth), then
a store with the pipeline's own layout and bucket count. The store is built one visitor
bucket at a time (the sessionizer is a pure function of each visitor's events), so building
10M events needs the memory of ~1.25M, not 10M. Then it times, for a few sessions (the
largest and some picked at random with a fixed seed):

- build_card in-process (store already on disk; the first call's import cost excluded);
- the whole command, `jtrack card PREFIX --store ... --format json` and the terminal form,
  as a new process each time (wall clock, Python start-up and imports included).

Prints one line per figure; informs, never gates CI.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build_store(n_events: int, root: Path) -> Path:
    """The store of N synthetic events (built once with `jtrack sessionize`, then reused;
    store-v3: session parts with id directories)."""
    from _synth import write_flat_parquet

    from jtrack.engine import run_sessionize
    from jtrack.store import Store

    events_file = root / "events.parquet"
    store_dir = root / "store-v3"
    if Store.open(store_dir).exists():
        return store_dir
    root.mkdir(parents=True, exist_ok=True)
    if not events_file.exists():
        t = time.perf_counter()
        write_flat_parquet(events_file, n_events)
        print(f"generated {n_events:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    t0 = time.perf_counter()
    run = run_sessionize([events_file], Store.open(store_dir))
    print(
        f"store: {run.summary.events_kept:,} events, {run.summary.sessions:,} sessions "
        f"({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    return store_dir


def pick_sessions(store_dir: Path, k: int) -> list[str]:
    from jtrack.store import Store

    sessions = Store.open(store_dir).scan_sessions().select("id", "event_count").collect()
    largest = sessions.sort(["event_count", "id"], descending=[True, False]).head(2)["id"]
    rand = sessions.sort("id").sample(n=max(0, k - 2), seed=42)["id"]
    return [*largest.to_list(), *rand.to_list()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--sessions", type=int, default=5, help="sessions to time")
    ap.add_argument("--repeat", type=int, default=3, help="runs per session and form")
    args = ap.parse_args(argv)

    store_dir = build_store(args.events, args.data / f"card-{args.events}")
    from jtrack.store import Store
    from jtrack.usecases.card import build_card

    store = Store.open(store_dir)
    ids = pick_sessions(store_dir, args.sessions)
    build_card(store, ids[0])  # warm: imports, first Polars use
    lib: list[float] = []
    lib_cpu: list[float] = []
    sizes = []
    for sid in ids:
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            card = build_card(store, sid[:8])
            lib.append(time.perf_counter() - t)
            lib_cpu.append(time.process_time() - c)
        sizes.append(card.to_dict()["counts"]["journey_events"])
    print(f"store: {store_dir} ({args.events:,} events)")
    print(f"sessions timed: {len(ids)} (journey entries: {', '.join(map(str, sizes))})")
    print(
        f"build_card in-process: median {statistics.median(lib) * 1000:.0f} ms, "
        f"max {max(lib) * 1000:.0f} ms"
    )
    jtrack = shutil.which("jtrack") or sys.executable + " -m jtrack.cli"
    # As installed: byte-code cached (a dev shell may set PYTHONDONTWRITEBYTECODE, which makes
    # every run compile jtrack from source); the cache goes to the data dir, warmed once.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(COLUMNS="100", PYTHONPYCACHEPREFIX=str(args.data / "pycache"))
    warm = [*jtrack.split(), "card", ids[0][:8], "--store", str(store_dir)]
    for form in (["--format", "json"], []):
        subprocess.run([*warm, *form], check=True, stdout=subprocess.DEVNULL, env=env)
    for form in (["--format", "json"], []):
        wall: list[float] = []
        cpu: list[float] = []
        for sid in ids:
            for _ in range(args.repeat):
                cmd = [*jtrack.split(), "card", sid[:8], "--store", str(store_dir), *form]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
                wall.append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        name = "jtrack card --format json" if form else "jtrack card (terminal form)"
        print(
            f"{name}, new process: median {statistics.median(wall) * 1000:.0f} ms wall "
            f"({statistics.median(cpu) * 1000:.0f} ms CPU), max {max(wall) * 1000:.0f} ms"
        )
    t = time.perf_counter()
    subprocess.run([*jtrack.split(), "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
    print(f"jtrack --help (start-up floor): {(time.perf_counter() - t) * 1000:.0f} ms wall")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
