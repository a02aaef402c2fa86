"""Traffic classes: accuracy on the labelled user agents, and the cost of classifying a big input.

    python benchmarks/bench_traffic.py                          # 10M events, 10,000 distinct UAs
    python benchmarks/bench_traffic.py --events 100000 --distinct 1000 --repeat 1
    python benchmarks/bench_traffic.py --accuracy-only
    python benchmarks/bench_traffic.py --labelled other.tsv     # another class<TAB>user_agent list

Part 1 prints per-class precision and recall of jtrack.core.traffic.classify_user_agents on
tests/data/user_agents.tsv (hand-collected real user agents; see its header), the overall
accuracy, and every user agent it gets wrong.

Part 2 builds N events whose user agents are D distinct strings (the labelled ones plus
browser and bot user agents with varied versions, about 10% automated), then times, as the
median of R rounds: `unique` on the column, `classify_user_agents` on the distinct values,
and the join back onto the N rows (user_agent_traffic does all three). One match per distinct
user agent, never per event. In the sessionizer the join is onto the session table, which is
smaller still. Informs, never gates CI; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "user_agents.tsv"

sys.path.insert(0, str(ROOT))
from jtrack.core.traffic import (  # noqa: E402
    TRAFFIC_CLASSES,
    classify_user_agents,
    user_agent_list_version,
    user_agent_traffic,
)


def read_labelled(path: Path) -> pl.DataFrame:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            cls, _, ua = line.partition("\t")
            rows.append((cls, ua))
    return pl.DataFrame(rows, schema={"truth": pl.String, "user_agent": pl.String}, orient="row")


def accuracy(path: Path) -> None:
    lab = read_labelled(path)
    got = lab.join(classify_user_agents(lab["user_agent"]), on="user_agent", how="left")
    print(f"## Accuracy on {path.name} ({lab.height} user agents)\n")
    print(f"Pattern data: {user_agent_list_version()}\n")
    print("| class | precision | recall | labelled | predicted |")
    print("|---|---:|---:|---:|---:|")
    for cls in TRAFFIC_CLASSES:
        tp = got.filter((pl.col("truth") == cls) & (pl.col("traffic_class") == cls)).height
        predicted = got.filter(pl.col("traffic_class") == cls).height
        actual = got.filter(pl.col("truth") == cls).height
        p = f"{tp / predicted:.2f}" if predicted else "-"
        r = f"{tp / actual:.2f}" if actual else "-"
        print(f"| {cls} | {p} | {r} | {actual} | {predicted} |")
    right = got.filter(pl.col("truth") == pl.col("traffic_class")).height
    print(f"\nOverall accuracy: {right / lab.height:.3f} ({right}/{lab.height})\n")
    wrong = got.filter(pl.col("truth") != pl.col("traffic_class"))
    for truth, cls, signal, ua in wrong.select(
        "truth", "traffic_class", "traffic_signal", "user_agent"
    ).iter_rows():
        print(f"- labelled {truth}, classed {cls} ({signal}): {ua!r}")
    print()


#: (template, the version columns that fill its {} in order): browsers, then bots.
BROWSERS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{}.0.{}.{} Safari/537.36",
        "abc",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{} like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.{} Mobile/15E{} Safari/604.1",
        "cba",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S9{}B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{}.0.{}.0 Mobile Safari/537.36",
        "cab",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{}.{}) Gecko/20100101 Firefox/{}.{}",
        "acab",
    ),
]
BOTS = [
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.{}.{}; "
        "+https://openai.com/gptbot)",
        "ab",
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.{}; +http://www.google.com/bot.html) {}.{}", "abc"),
    ("curl/8.{}.{}", "ab"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/{}.0.{}.{} Safari/537.36",
        "abc",
    ),
    ("python-requests/2.{}.{}", "ab"),
]


def distinct_user_agents(n: int, labelled: pl.Series) -> pl.Series:
    """`n` distinct user agents: the labelled ones, then browsers (90%) and bots (10%) whose
    version numbers vary."""
    versions = pl.DataFrame(pl.int_range(0, n + 1, eager=True).alias("i")).with_columns(
        a=(pl.col("i") % 97 + 60).cast(pl.String),
        b=(pl.col("i") // 97 % 997 + 1000).cast(pl.String),
        c=(pl.col("i") // (97 * 997)).cast(pl.String),
    )
    parts = [labelled]
    for templates, share in ((BROWSERS, 0.9), (BOTS, 0.1)):
        rows = versions.head(int(n * share / len(templates)) + 1)
        for text, cols in templates:
            parts.append(rows.select(pl.format(text, *[pl.col(c) for c in cols])).to_series())
    return pl.concat(parts).unique(maintain_order=True).head(n)


def cost(n_events: int, n_distinct: int, repeat: int) -> None:
    uas = distinct_user_agents(n_distinct, read_labelled(LABELLED)["user_agent"])
    d = uas.len()
    # each event takes one of the distinct user agents, spread by a hash of its row number
    pick = pl.int_range(0, n_events, eager=True).hash(7) % d
    events = pl.DataFrame({"user_agent_string": uas.gather(pick)})
    classify_user_agents(uas.head(10))  # load and compile the lists outside the timings
    times: dict[str, list[float]] = {"unique": [], "classify": [], "join": [], "total": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        distinct = events.get_column("user_agent_string").unique()
        t1 = time.perf_counter()
        lut = classify_user_agents(distinct)
        t2 = time.perf_counter()
        events.join(
            lut.rename({"user_agent": "user_agent_string"}),
            on="user_agent_string",
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        t3 = time.perf_counter()
        out = user_agent_traffic(events)
        t4 = time.perf_counter()
        times["unique"].append(t1 - t0)
        times["classify"].append(t2 - t1)
        times["join"].append(t3 - t2)
        times["total"].append(t4 - t3)
    automated = out.filter(pl.col("traffic_class") != "human").height / max(out.height, 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"## Cost: {n_events:,} events, {d:,} distinct user agents, median of {repeat}\n")
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| unique user agents | {med['unique']:.3f} |")
    print(
        f"| classify the distinct ones | {med['classify']:.3f} "
        f"({med['classify'] / d * 1e6:.1f} µs each) |"
    )
    print(f"| join back onto the events | {med['join']:.3f} |")
    print(f"| user_agent_traffic (all three) | {med['total']:.3f} |")
    print(f"\nAutomated share of the simulated events: {automated:.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--distinct", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--labelled", type=Path, default=LABELLED)
    ap.add_argument("--accuracy-only", action="store_true")
    args = ap.parse_args(argv)
    accuracy(args.labelled)
    if not args.accuracy_only:
        cost(args.events, args.distinct, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
