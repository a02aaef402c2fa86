"""A folder of many small exports (a file a minute, as streaming sinks write them).

    python benchmarks/bench_small_files.py                          # 4,000 one-line files
    python benchmarks/bench_small_files.py --files 1440 --lines 50  # a day of minute files
    python benchmarks/bench_small_files.py --baseline /tmp/base     # beside an older jtrack

Times `jtrack usage FOLDER --month M` and `jtrack sessionize FOLDER` into a new store
(each a new process), and DuckDB reading the same files (`read_ndjson` of the folder's glob
and the baseline SQL of baselines.py), interleaved rounds, medians; with `--baseline DIR`
also the jtrack package in DIR (a `git archive` of an older commit), whose `usage` output
must equal this tree's. The files are Genesys NDJSON cut from the dev generator's events
(tests/synth) and cached in benchmarks/data/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
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


def small_files(files: int, lines: int, seed: int = 7) -> Path:
    """`files` Genesys NDJSON files of `lines` events each (cached)."""
    from _synth import command

    d = DATA / f"small-{files}x{lines}-s{seed}"
    if (d / ".done").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    whole = d / "all.ndjson"
    subprocess.run(command("genesys", files * lines, whole, seed=seed), check=True)
    with open(whole, "rb") as fh:
        rows = fh.read().splitlines(keepends=True)
    whole.unlink()
    for i in range(files):
        (d / f"export-{i:06d}.jsonl").write_bytes(b"".join(rows[i * lines : (i + 1) * lines]))
    (d / ".done").write_text("")
    return d


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """(wall s, cpu s, peak RSS MB, stdout) of one child process; raises when it fails."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        err = proc.stderr.read().decode() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(args)} failed: {err}")
        out.seek(0)
        text = out.read().decode()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4_000)
    ap.add_argument("--lines", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="a directory holding an older jtrack package")
    ap.add_argument("--scratch", type=Path, default=DATA / "scratch-small")
    args = ap.parse_args(argv)
    folder = small_files(args.files, args.lines)
    head = json.loads(next(folder.glob("*.jsonl")).read_text().splitlines()[0])
    month = head["createdDate"][:7]
    args.scratch.mkdir(parents=True, exist_ok=True)
    code = "import sys; from jtrack.cli import main; sys.exit(main())"
    trees = {"jtrack": None} if args.baseline is None else {"before": args.baseline, "jtrack": None}
    cases: dict[str, tuple[list[str], dict[str, str] | None]] = {}
    for name, tree in trees.items():
        env = dict(os.environ)
        if tree is not None:
            env["PYTHONPATH"] = str(tree.resolve())
        else:
            env["PYTHONPATH"] = str(HERE.parent)
        run = [sys.executable, "-P", "-c", code]  # (-P: not the working folder's jtrack)
        cases[f"{name} usage"] = (
            [*run, "usage", str(folder), "--month", month, "-f", "json", "-q", "--as-of", "now"],
            env,
        )
        cases[f"{name} sessionize"] = (
            [*run, "sessionize", str(folder), "--store", str(args.scratch / name), "-q"],
            env,
        )
    glob = str(folder / "*.jsonl")
    cases["DuckDB read_ndjson + SQL"] = (
        [sys.executable, str(HERE / "baselines.py"), "duckdb", glob, str(args.scratch / "duck")],
        None,
    )
    print(f"load average: {os.getloadavg()}")
    print(f"{args.files:,} files of {args.lines} line(s) each ({folder})")
    results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in cases}
    outputs: dict[str, str] = {}
    for _ in range(args.repeat):
        for name, (cmd, env) in cases.items():
            for tree in trees:
                shutil.rmtree(args.scratch / tree, ignore_errors=True)
            shutil.rmtree(args.scratch / "duck", ignore_errors=True)
            wall, cpu, rss, out = timed(cmd, env)
            results[name].append((wall, cpu, rss))
            if name.endswith("usage"):
                figures = json.loads(out)
                figures.pop("as_of", None)
                outputs[name] = json.dumps(figures, sort_keys=True)
    if args.baseline is not None and outputs["before usage"] != outputs["jtrack usage"]:
        raise SystemExit("usage differs between the two trees")
    duck = statistics.median(r[0] for r in results["DuckDB read_ndjson + SQL"])
    print("\n| command | median s | CPU s | peak RSS MB | vs DuckDB |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rss = max(r[2] for r in runs)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:,} | {wall / duck:.2f}x |")
    print(f"\nload average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
