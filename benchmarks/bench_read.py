"""The reading commands on a 10M-event store, end to end, against the targets of issue #13.

    python benchmarks/bench_read.py                       # 10M events, 7 runs per command
    python benchmarks/bench_read.py --events 1000000 --repeat 5
    python benchmarks/bench_read.py --profile             # also: where each command's time goes
    git archive HEAD jtrack | tar -x -C /tmp/base         # an older jtrack, to compare with:
    python benchmarks/bench_read.py --baseline /tmp/base  # "before" and "after" columns

Targets (a new process each time, wall clock, Python start-up and imports included; issue
#13's, stricter than issue #7's this script first checked): `jtrack --help` < 0.2 s,
`jtrack card ID` < 0.5 s, `jtrack sessions --customer X` < 0.5 s, `jtrack usage --month M`
< 1 s.

Reuses (or builds once, a bucket at a time) the store of bench_card.py in
benchmarks/data/card-<N>/ (gitignored). Picks a session (an 8-character id prefix, as people
type it) and that session's visitor, with a fixed seed. Every command runs as a child process:
one warm-up, then --repeat rounds interleaved (A B C ..., A B C ...; with --baseline each
command runs before and after, side by side) so that a noisy neighbour hits every command
alike. Wall time is measured around the child; CPU time (user + system) and peak RSS come from
the child's own os.wait4 rusage. On a busy machine the CPU time is steadier than the wall
time, so both are printed, with the load average. (The store is built and the session picked
in a child process too: a child's peak RSS starts at its parent's size when it forks, so this
process stays small and imports neither Polars nor jtrack.)

The command is the console script installed next to this interpreter (`bin/jtrack`); a pyenv
or asdf shim on PATH adds its own start-up (a shell and `pyenv exec`), shown on a separate,
informative row. --profile runs each command once more with PYTHONPROFILEIMPORTTIME and splits
its wall time into Python start-up, the imports of Typer, Polars, Rich and jtrack, and the
rest (parsing, reading, rendering); -X importtime itself adds some overhead.

Prints markdown tables; exit status 0 when every target is met, 1 when one is not (it
informs, never gates CI).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MONTH = "2026-10"  # the synthetic events (tests/synth) are in October 2026
AS_OF = "2026-11-01T00:00:00Z"


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    failure: str | None = None

    def add(self, wall: float, cpu: float, rss_kb: int, failure: str | None) -> None:
        self.failure = self.failure or failure
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.rss_kb.append(rss_kb)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


@dataclass
class Case:
    name: str
    args: list[str]
    target: float | None  # seconds; None: an informative row
    runs: dict[str, Runs] = field(default_factory=dict)  # "after" (this tree), "before"


def jtrack_command() -> list[str]:
    """The installed console script of this interpreter, else `python -m jtrack.cli`."""
    script = Path(sys.executable).parent / "jtrack"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "jtrack.cli"]


def find_shim(script: Path) -> Path | None:
    """A version-manager shim (pyenv, asdf) named jtrack on PATH, other than `script`.
    (`python` run through a pyenv shim gets the version's bin directory put first on PATH,
    so shutil.which would find the script itself: look at every PATH entry.)"""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        cand = Path(entry) / "jtrack"
        if not (cand.is_file() and os.access(cand, os.X_OK)) or cand.resolve() == script.resolve():
            continue
        if "shims" in cand.parts:
            return cand
    return None


def child_env(data: Path, baseline: Path | None = None) -> dict[str, str]:
    """As installed and used: byte-code cached (a dev shell may set PYTHONDONTWRITEBYTECODE,
    which would make every run compile jtrack from source), no terminal, 100 columns.
    With `baseline`, the jtrack package in that directory is imported instead."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(COLUMNS="100", PYTHONPYCACHEPREFIX=str(data / "pycache"))
    if baseline is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(baseline), env.get("PYTHONPATH")]))
    return env


def run_child(
    argv: list[str], env: dict[str, str], stderr_to: Path | None = None
) -> tuple[float, float, int, str | None]:
    """(wall s, CPU s, peak RSS KB, failure) of one child process; its stderr goes to
    `stderr_to` (kept) or a temporary file."""
    with open(stderr_to, "w+b") if stderr_to else tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        failure = None
        if code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            failure = f"exit {code}: {lines[-1][:160] if lines else 'no stderr'}"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, failure


def pick(store_dir: Path, seed: int) -> tuple[str, str]:
    """(an 8-character prefix that names exactly one web session, its visitor)."""
    import polars as pl

    from jtrack.store import Store

    ids = (
        Store.open(store_dir)
        .scan_sessions()
        .select("id", "customer_id", "type")
        .collect(engine="in-memory")
        .sort("id")
    )
    counts = ids.group_by(p=pl.col("id").str.slice(0, 8)).len()
    unique = set(counts.filter(pl.col("len") == 1)["p"].to_list())
    web = ids.filter(pl.col("type") == "web")
    rng = random.Random(seed)
    while True:
        sid, customer, _ = web.row(rng.randrange(web.height))
        if sid[:8] in unique:
            return sid[:8], customer


def prepare(events: int, data: Path, seed: int) -> None:
    """(In a child process.) Build or reuse the store, pick the session; print them as JSON."""
    sys.path.insert(0, str(HERE))
    from bench_card import build_store

    store_dir = build_store(events, data / f"card-{events}").resolve()
    prefix, customer = pick(store_dir, seed)
    print(json.dumps({"store": str(store_dir), "prefix": prefix, "customer": customer}))


def cases(store_dir: Path, prefix: str, customer: str) -> list[Case]:
    s = ["--store", str(store_dir)]
    return [
        Case("jtrack --help", ["--help"], 0.2),
        Case(f"jtrack card {prefix}", ["card", prefix, *s], 0.5),
        Case(f"jtrack card {prefix} --format json", ["card", prefix, *s, "-f", "json"], 0.5),
        Case("jtrack sessions --customer X", ["sessions", "--customer", customer, *s], 0.5),
        Case(
            "jtrack sessions --customer X --format json",
            ["sessions", "--customer", customer, *s, "-f", "json"],
            0.5,
        ),
        Case(
            f"jtrack usage --month {MONTH}", ["usage", "--month", MONTH, "--as-of", AS_OF, *s], 1.0
        ),
    ]


def result_table(todo: list[Case], baseline: bool) -> list[str]:
    head = "| command | "
    head += "before: median s (CPU s) | after: median s | " if baseline else "median s | "
    head += "median CPU s | max s | peak RSS MB | target s | met? |"
    lines = [head, "|---|" + "---:|" * (6 if baseline else 5) + "---|"]
    for c in todo:
        after = c.runs["after"]
        cells = [f"`{c.name}`"]
        if baseline:
            b = c.runs["before"]
            cells.append(
                f"failed: {b.failure}"
                if b.failure
                else f"{b.median:.3f} ({statistics.median(b.cpu):.3f})"
            )
        if after.failure:
            cells += [f"failed: {after.failure}", "", "", ""]
        else:
            cells += [
                f"{after.median:.3f}",
                f"{statistics.median(after.cpu):.3f}",
                f"{max(after.wall):.3f}",
                f"{max(after.rss_kb) / 1024:.0f}",
            ]
        met = after.failure is None and (c.target is None or after.median < c.target)
        cells += [
            f"< {c.target:g}" if c.target is not None else "(info)",
            "" if c.target is None else ("yes" if met else "**no**"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


_IMPORT = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")
GROUPS = ("site", "typer", "polars", "rich", "jtrack")
#: Top-level packages counted with a group (what they import counts with them too).
_GROUP_OF = {
    "site": "site",
    "typer": "typer",
    "click": "typer",
    "pydantic": "typer",
    "pydantic_core": "typer",
    "shellingham": "typer",
    "polars": "polars",
    "polars_hash": "polars",
    "pyarrow": "polars",
    "rich": "rich",
    "jtrack": "jtrack",
}


def import_split(stderr: str) -> dict[str, float]:
    """Seconds of imports by group, from -X importtime output: each module's own time goes
    to its package's group, or else to the group of the module that imported it (the
    standard library modules Polars imports count as Polars)."""
    rows = []
    for line in stderr.splitlines():
        m = _IMPORT.match(line)
        if m:
            rows.append((len(m.group(3)), m.group(4), int(m.group(1)) / 1e6))
    out = dict.fromkeys((*GROUPS, "other"), 0.0)
    stack: list[tuple[int, str]] = []  # (depth, group) of the importers of the current row
    for depth, name, self_s in reversed(rows):  # the output is post-order: reverse it
        while stack and stack[-1][0] >= depth:
            stack.pop()
        group = _GROUP_OF.get(name.split(".")[0]) or (stack[-1][1] if stack else "other")
        out[group] += self_s
        stack.append((depth, group))
    return out


def profile(todo: list[Case], base: list[str], env: dict[str, str], tmp: Path) -> list[str]:
    lines = [
        "| command | wall s | CPU s | start-up (site) | typer | polars | rich | jtrack | "
        "other imports | the rest |",
        "|---|" + "---:|" * 9,
    ]
    penv = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    for c in todo:
        err = tmp / "importtime.txt"
        wall, cpu, _, failure = run_child([*base, *c.args], penv, stderr_to=err)
        if failure:
            lines.append(f"| `{c.name}` | failed: {failure} |" + " |" * 8)
            continue
        split = import_split(err.read_text(errors="replace"))
        rest = wall - sum(split.values())
        cells = [f"{split[g]:.3f}" for g in (*GROUPS, "other")]
        lines.append(
            f"| `{c.name}` | {wall:.3f} | {cpu:.3f} | " + " | ".join(cells) + f" | {rest:.3f} |"
        )
        err.unlink()
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per command")
    ap.add_argument("--seed", type=int, default=7, help="which session and visitor")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="a directory holding another jtrack package (e.g. from git archive): run it too",
    )
    ap.add_argument("--profile", action="store_true", help="also split each command's time")
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        prepare(args.events, args.data, args.seed)
        return 0
    if args.baseline is not None and not (args.baseline / "jtrack" / "__init__.py").is_file():
        ap.error(f"--baseline {args.baseline}: no jtrack package there")

    prep = subprocess.run(
        [
            sys.executable,
            __file__,
            "--prepare",
            f"--events={args.events}",
            f"--data={args.data}",
            f"--seed={args.seed}",
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    picked = json.loads(prep.stdout.strip().splitlines()[-1])
    store_dir, prefix, customer = Path(picked["store"]), picked["prefix"], picked["customer"]

    base = jtrack_command()
    envs = {"after": child_env(args.data)}
    if args.baseline is not None:
        envs["before"] = child_env(args.data, args.baseline.resolve())
    todo = cases(store_dir, prefix, customer)
    shim_path = find_shim(Path(base[0]))
    shim = Case("jtrack --help (through the PATH shim)", ["--help"], None) if shim_path else None
    if shim is not None:
        todo.append(shim)

    def argv_of(c: Case) -> list[str]:
        return [str(shim_path), *c.args] if c is shim else [*base, *c.args]

    for c in todo:
        for variant, env in envs.items():
            c.runs[variant] = Runs()
            _, _, _, c.runs[variant].failure = run_child(argv_of(c), env)  # warm-up
    load = [os.getloadavg()[0]]
    for _ in range(args.repeat):
        for c in todo:
            for variant, env in envs.items():
                if not c.runs[variant].failure:
                    c.runs[variant].add(*run_child(argv_of(c), env))
        load.append(os.getloadavg()[0])

    print(f"store: {store_dir} ({args.events:,} events)")
    print(f"session prefix {prefix}, its visitor {customer}")
    print(f"command: {' '.join(base)}; {args.repeat} runs each after a warm-up, interleaved")
    if args.baseline is not None:
        print(f"before: the jtrack package in {args.baseline}; after: this tree")
    print(
        f"load average while measuring: {min(load):.1f} to {max(load):.1f} on "
        f"{os.cpu_count()} CPUs\n"
    )
    print("\n".join(result_table(todo, args.baseline is not None)))
    if args.profile:
        print("\nWhere the time goes (one run each, with -X importtime; seconds):\n")
        print("\n".join(profile(todo[:-1] if shim else todo, base, envs["after"], args.data)))
    missed = [
        c
        for c in todo
        if c.target is not None and (c.runs["after"].failure or c.runs["after"].median >= c.target)
    ]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
