"""The generator's command line (dev only): see `python -m tests.synth --help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .generator import write_flat_parquet
from .genesys import write_genesys_ndjson
from .sample import SAMPLE_SEED, write_sample


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.synth", description="Generate synthetic tracking events."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_sample = sub.add_parser("sample", help="write the demo export (jsonl, parquet, contacts)")
    p_sample.add_argument("directory")
    p_sample.add_argument("--seed", type=int, default=SAMPLE_SEED)
    for cmd, helptext in (("flat", "flat events as Parquet"), ("genesys", "Genesys NDJSON")):
        p = sub.add_parser(cmd, help=helptext)
        p.add_argument("n", type=int, help="number of events (rows)")
        p.add_argument("out")
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--days", type=int, default=14)
        p.add_argument("--visitors", type=int, default=None)
        p.add_argument("--duplicate-rate", type=float, default=0.01)
        p.add_argument("--no-shuffle", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "sample":
        counts = write_sample(args.directory, seed=args.seed)
        summary = ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"wrote {args.directory}: {summary}", file=sys.stderr)
        return 0
    opts: dict[str, Any] = {
        "days": args.days,
        "visitors": args.visitors,
        "duplicate_rate": args.duplicate_rate,
        "shuffle": not args.no_shuffle,
    }
    if args.command == "flat":
        n = write_flat_parquet(args.out, args.n, seed=args.seed, **opts)
    else:
        n = write_genesys_ndjson(args.out, args.n, seed=args.seed, **opts)
    print(f"wrote {n} events to {args.out}", file=sys.stderr)
    return 0
