"""Check that the baselines (baselines.py) sessionize exactly like `jtrack sessionize`, on
input made to hit the edge cases the synthetic benchmark data never has.

    python benchmarks/check_semantics.py [--events N] [--seed S]

Starts from `generate_flat(N)` of the generator in tests/synth and mutates disjoint random rows:

- app events (kind app, AppEvent): jtrack's separate 'app' stream, not web sessions;
- web events whose session type is 'app', 'WEB', null, or 'delivery' without a session id
  (all web for jtrack), and 'Delivery' with an id (a custom session, not web);
- event types in long form, null (the flat `kind` decides) or blank, and `kind` values that
  disagree with `event_type` (jtrack derives the kind from the event type);
- searches whose event name is not page_viewed (not page views);
- conflicting redeliveries: copies with the same created_date but another visitor or another
  event type (the first copy in the file wins), and a later copy with an earlier created_date
  and a system event type (the earliest wins);
- web events of one visitor at the same microsecond;
- in the NDJSON, createdDate as epoch milliseconds (a number), with a +01:00/+02:00 offset, or
  naive with a space (read as UTC).

Writes benchmarks/data/semantics-N-sS.parquet and .jsonl (Genesys shape), runs jtrack, the
DuckDB and the Polars baseline on each, and compares their web sessions as the benchmark does
(bench_sessionize.check_group). Exit 1 if anything differs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sessionize as bench


def _pick(rng: np.random.Generator, free: np.ndarray, share: float) -> np.ndarray:
    """Take about `share` of all rows from the still-unmutated ones (marks them used)."""
    candidates = np.flatnonzero(free)
    n = max(1, int(free.size * share))
    chosen = rng.choice(candidates, size=min(n, candidates.size), replace=False)
    free[chosen] = False
    return np.sort(chosen)


def edge_case_events(n_events: int, seed: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """Synthetic events with the edge cases above, plus how many rows each mutation touched."""
    from _synth import load

    df = load().generate_flat(n_events, seed=seed).with_row_index("_i")
    rng = np.random.default_rng(seed)
    free = np.ones(df.height, dtype=bool)
    web = (df["event_type"] == "WebEvent").to_numpy()
    web_sess = web & (df["source_session_type"] == "web").to_numpy()
    free &= web_sess  # mutate only plain web rows
    counts: dict[str, int] = {}

    def rows(name: str, share: float) -> pl.Expr:
        idx = _pick(rng, free, share)
        counts[name] = idx.size
        return pl.col("_i").is_in(idx.tolist())

    app = rows("app events", 0.02)
    sst_app = rows("web, session type 'app'", 0.01)
    sst_upper = rows("web, session type 'WEB'", 0.01)
    sst_null = rows("web, session type and id null", 0.01)
    sst_noid = rows("web, session type 'delivery' without id", 0.01)
    sst_custom = rows("custom session 'Delivery' with id", 0.01)
    et_long = rows("event type long form", 0.01)
    et_null = rows("event type null (kind decides)", 0.01)
    et_blank = rows("event type blank (kind decides)", 0.01)
    kind_off = rows("kind disagrees with event_type WebEvent", 0.01)
    search_named = rows("search not named page_viewed", 0.01)
    df = df.with_columns(
        kind=pl.when(app)
        .then(pl.lit("app"))
        .when(kind_off)
        .then(pl.lit("segment_assigned"))
        .otherwise(pl.col("kind")),
        event_type=pl.when(app)
        .then(pl.lit("AppEvent"))
        .when(et_long)
        .then(pl.lit("com.genesys.journey.WebEvent"))
        .when(et_null)
        .then(pl.lit(None, pl.String))
        .when(et_blank)
        .then(pl.lit("  "))
        .otherwise(pl.col("event_type")),
        source_session_type=pl.when(sst_app)
        .then(pl.lit("app"))
        .when(sst_upper)
        .then(pl.lit("WEB"))
        .when(sst_null)
        .then(pl.lit(None, pl.String))
        .when(sst_noid)
        .then(pl.lit("delivery"))
        .when(sst_custom)
        .then(pl.lit("Delivery"))
        .otherwise(pl.col("source_session_type")),
        source_session_id=pl.when(sst_null | sst_noid)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("source_session_id")),
        event_name=pl.when(search_named)
        .then(pl.lit("site_search"))
        .otherwise(pl.col("event_name")),
        search_query=pl.when(search_named).then(pl.lit("tent")).otherwise(pl.col("search_query")),
    )
    # conflicting redeliveries
    other_visitor = df.filter(rows("copy: same time, other visitor (before)", 0.005))
    other_visitor_after = df.filter(rows("copy: same time, other visitor (after)", 0.005))
    as_app = df.filter(rows("copy: same time, as app event (before)", 0.005))
    earlier_system = df.filter(rows("copy: 1 h earlier, as segment event (after)", 0.005))
    same_time = df.filter(rows("web event at the same microsecond as another", 0.005))
    visitors = df["customer_id"].unique().sort()
    swap = pl.col("customer_id").hash(seed) % visitors.len()

    def another_visitor(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(customer_id=visitors.gather(frame.select(swap).to_series()))

    system = {"kind": pl.lit("segment_assigned"), "event_type": pl.lit("SegmentAssignmentEvent")}
    before = pl.concat(
        [
            another_visitor(other_visitor),
            as_app.with_columns(kind=pl.lit("app"), event_type=pl.lit("AppEvent")),
        ]
    )
    after = pl.concat(
        [
            another_visitor(other_visitor_after),
            earlier_system.with_columns(
                created_date=pl.col("created_date") - pl.duration(hours=1), **system
            ),
            same_time.with_columns(
                event_id=pl.col("event_id").str.reverse(), event_name=pl.lit("page_viewed")
            ),
        ]
    )
    # each copy right before or after its original, all through the file
    out = (
        pl.concat(
            [
                before.with_columns(_k=2 * pl.col("_i")),
                df.with_columns(_k=2 * pl.col("_i") + 1),
                after.with_columns(_k=2 * pl.col("_i") + 2),
            ]
        )
        .sort("_k", maintain_order=True)
        .drop("_i", "_k")
    )
    return out, counts


def write_ndjson(events: pl.DataFrame, path: Path, seed: int, counts: dict[str, int]) -> None:
    """The events as Genesys NDJSON, with some createdDate values in the other forms jtrack
    reads: epoch milliseconds (a JSON number), an offset (+02:00), naive with a space (UTC)."""
    from _synth import load

    # Genesys exports always carry an event type: blank ones become absent (the kind decides)
    blank = pl.col("event_type").str.strip_chars() == ""
    lines = load().genesys_lines(
        events.with_columns(
            event_type=pl.when(blank).then(pl.lit(None, pl.String)).otherwise("event_type")
        )
    )
    rng = np.random.default_rng(seed + 1)
    form = pl.Series(rng.integers(0, 100, events.height))  # 0, 1, 2: another form
    t = events.get_column("created_date")
    created = (
        pl.DataFrame({"line": lines, "form": form, "t": t})
        .with_columns(
            new=pl.when(pl.col("form") == 0)
            .then(pl.col("t").dt.epoch("ms").cast(pl.String))
            .when(pl.col("form") == 1)
            .then(
                pl.col("t")
                .dt.convert_time_zone("Europe/Paris")
                .dt.strftime('"%Y-%m-%dT%H:%M:%S%.3f%:z"')
            )
            .when(pl.col("form") == 2)
            .then(pl.col("t").dt.strftime('"%Y-%m-%d %H:%M:%S%.6f"'))
        )
        .select(
            pl.when(pl.col("new").is_not_null())
            .then(
                pl.concat_str(
                    pl.col("line").str.extract(r'^(.*?"createdDate":)', 1),
                    pl.col("new"),
                    pl.col("line").str.extract(r'^.*?"createdDate":"[^"]*"(.*)$', 1),
                )
            )
            .otherwise(pl.col("line"))
        )
        .to_series()
    )
    for code, name in enumerate(("epoch ms number", "+01:00/+02:00 offset", "naive, space")):
        counts[f"NDJSON createdDate as {name}"] = int((form == code).sum())
    path.write_text("\n".join(created.to_list()) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    events, counts = edge_case_events(args.events, args.seed)
    bench.DATA.mkdir(parents=True, exist_ok=True)
    flat = bench.DATA / f"semantics-{args.events}-s{args.seed}.parquet"
    ndjson = flat.with_suffix(".jsonl")
    events.write_parquet(flat)
    write_ndjson(events, ndjson, args.seed, counts)
    print(f"{events.height:,} rows; mutations:", file=sys.stderr)
    for name, n in counts.items():
        print(f"  {n:>6,}  {name}", file=sys.stderr)

    jt_argv, why = bench._jtrack_argv()
    if jt_argv is None:
        print(f"jtrack unavailable: {why}", file=sys.stderr)
        return 2
    baseline = [sys.executable, str(bench.BASELINES)]
    tools = [
        bench.Tool("duckdb", [*baseline, "duckdb"]),
        bench.Tool("polars", [*baseline, "polars"]),
        bench.Tool("jtrack", jt_argv, outputs_store=True),
    ]
    ok = True
    scratch = Path(tempfile.mkdtemp(prefix="check-semantics-", dir=bench.DATA))
    try:
        for source in (flat, ndjson):
            print(f"\n{source.name}:", file=sys.stderr)
            outputs = []
            for tool in tools:
                c = bench.Contender(tool, source, events.height, tool.name)
                out = scratch / f"{source.suffix[1:]}-{tool.name}"
                res = bench.run_child(tool.command(source, out), None, None)
                if res.failure:
                    print(f"  {tool.name} failed: {res.failure}", file=sys.stderr)
                    ok = False
                    continue
                outputs.append((c, out))
            ok = bench.check_group(outputs) and ok
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\nsame web sessions everywhere" if ok else "\nDIFFERENCES (see above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
