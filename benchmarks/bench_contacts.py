"""What contact resolution adds to `jtrack sessionize`: N events with and without K contacts.

    python benchmarks/bench_contacts.py                        # 1M events, 100k contacts
    python benchmarks/bench_contacts.py --events 10000000 --repeat 1

Generates synthetic flat events once (tests/synth, kept in benchmarks/data/, gitignored) and a
contacts file of K saved contacts built from the visitors' own identity traits (so that real
matches happen): some listed by cookie, some found by email, some by phone written the way
people type it (`+44 (0)7700 900123`, `+1 (202) 555-0143`), a few with two cookies, and the
rest people who never visited. Then it times, in-process:

- sessionize_sources(events) with no contacts file (every visitor a temporary contact);
- sessionize_sources(events, contacts=FILE): the same plus reading and resolving K contacts;
- the parts: load_contacts (file -> normalised identifiers, invalid entries) and
  resolve_visitors with no contacts and with the K contacts, on the in-memory result
  (`--parts-only` times just these, after one sessionize run).

The end-to-end difference is noisy on a busy machine; the parts are the better figure.

Prints one line per figure, best of --repeat; informs, never gates CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent


def events_file(n_events: int, seed: int) -> Path:
    from _synth import write_flat_parquet

    path = HERE / "data" / f"contacts-events-{n_events}-{seed}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        write_flat_parquet(path, n_events, seed=seed)
        print(f"generated {n_events:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def chunked_inputs(n_events: int, seed: int) -> tuple[Path, Path]:
    """For --chunked: the session table and the slim events resolution reads (customer_id,
    customer_id_type, created_date, event_id, traits), built one chunk of visitors at a time
    (a visitor never straddles two chunks and sessionizing is per visitor), so 10M events fit
    in the memory of one chunk."""
    from _synth import load

    from jtrack.core.dedupe import deduplicate
    from jtrack.core.sessionize import sessionize

    base = HERE / "data" / f"contacts-chunked-{n_events}-{seed}"
    sess_path, slim_path = base.with_suffix(".sessions.parquet"), base.with_suffix(".slim.parquet")
    if sess_path.exists() and slim_path.exists():
        return sess_path, slim_path
    base.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    sessions, slim = [], []
    for chunk in load().iter_flat_chunks(n_events, seed=seed, chunk_size=1_000_000):
        out = sessionize(deduplicate(chunk).events)
        sessions.append(out.sessions)
        slim.append(
            out.events.select("customer_id", "customer_id_type", "created_date", "event_id",
                              "traits")
        )  # fmt: skip
    pl.concat(sessions).write_parquet(sess_path)
    pl.concat(slim).write_parquet(slim_path)
    print(f"sessionized {n_events:,} events in chunks in {time.perf_counter() - t:.1f} s")
    return sess_path, slim_path


def _human(e164: pl.Expr, style: pl.Expr) -> pl.Expr:
    """E.164 as people write it: UK `+44 (0)7700 900123` / `+44 7700 900123`, US
    `+1 (202) 555-0143`, others grouped by spaces, or unchanged."""
    uk = e164.str.starts_with("+44")
    us = e164.str.starts_with("+1")
    rest44 = e164.str.slice(3)
    rest1 = e164.str.slice(2)
    return (
        pl.when(uk & (style == 0))
        .then(pl.lit("+44 (0)") + rest44.str.slice(0, 4) + pl.lit(" ") + rest44.str.slice(4))
        .when(uk & (style == 1))
        .then(pl.lit("+44 ") + rest44.str.slice(0, 4) + pl.lit(" ") + rest44.str.slice(4))
        .when(us & (style <= 1))
        .then(
            pl.lit("+1 (")
            + rest1.str.slice(0, 3)
            + pl.lit(") ")
            + rest1.str.slice(3, 3)
            + pl.lit("-")
            + rest1.str.slice(6)
        )
        .when(style == 2)
        .then(e164.str.slice(0, 3) + pl.lit(" ") + e164.str.slice(3))
        .otherwise(e164)
    )


def build_contacts(events: Path, k: int, out: Path) -> dict[str, int]:
    """K contacts from the visitors' traits (vectorised); written as CSV with `;` lists."""
    traits = (
        pl.scan_parquet(events)
        .select("customer_id", "created_date", "traits")
        .filter(pl.col("traits").list.len() > 0)
        .explode("traits")
        .select(
            "customer_id",
            "created_date",
            name=pl.col("traits").struct.field("name"),
            value=pl.col("traits").struct.field("value"),
        )
        .collect()
        .sort("customer_id", "created_date")
        .unique(["customer_id", "name"], keep="last", maintain_order=True)
        .pivot(on="name", index="customer_id", values="value")
    )
    for c in ("email", "givenName", "familyName", "cellPhone"):
        if c not in traits.columns:
            traits = traits.with_columns(pl.lit(None, pl.String).alias(c))
    ident = traits.sort("customer_id").with_row_index("i")
    n_ident = min(ident.height, k)
    ident = ident.head(n_ident)
    anon = (
        pl.scan_parquet(events)
        .select("customer_id")
        .unique()
        .join(ident.lazy().select("customer_id"), on="customer_id", how="anti")
        .collect()
        .sort("customer_id")
    )
    way = pl.col("i") % 4  # 0: cookie listed, 1: email only, 2: phone only, 3: both + 2nd cookie
    style = (pl.col("i") // 4) % 4
    second = anon.head(n_ident).with_row_index("i").rename({"customer_id": "_second"})
    known = ident.join(second, on="i", how="left").select(
        contact_id=pl.format("C{}", pl.col("i").cast(pl.String).str.zfill(7)),
        first_name="givenName",
        last_name="familyName",
        emails=pl.when(way != 2).then(pl.col("email")),
        phones=pl.when(way >= 2).then(_human(pl.col("cellPhone"), style)),
        cookie_ids=pl.when(way == 0)
        .then(pl.col("customer_id"))
        .when(way == 3)
        .then(pl.col("_second")),
        external_ids=pl.format("CRM-{}", pl.col("i")),
    )
    n_off = max(k - known.height, 0)
    offline = pl.DataFrame({"i": pl.arange(0, n_off, eager=True)}).select(
        contact_id=pl.format("X{}", pl.col("i").cast(pl.String).str.zfill(7)),
        first_name=pl.lit("Pat"),
        last_name=pl.format("Offline{}", pl.col("i")),
        emails=pl.format("pat.offline{}@example.net", pl.col("i")),
        phones=_human(
            pl.format("+4478{}", (pl.col("i") + 10_000_000).cast(pl.String)), pl.col("i") % 4
        ),
        cookie_ids=pl.lit(None, pl.String),
        external_ids=pl.format("OFF-{}", pl.col("i")),
    )
    allc = pl.concat([known, offline], how="vertical")
    allc.write_csv(out)
    return {"contacts": allc.height, "from_visitors": known.height, "offline": offline.height}


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument(
        "--chunked",
        action="store_true",
        help="Build the inputs chunk by chunk (for 10M events) and time only the parts.",
    )
    ap.add_argument(
        "--parts-only",
        action="store_true",
        help="Sessionize once and time only load_contacts and resolve_visitors.",
    )
    a = ap.parse_args(argv)

    from jtrack.core.contacts import _load_cached, load_contacts, resolve_visitors
    from jtrack.engine import sessionize_sources

    if a.chunked:
        a.parts_only = True
        sess_path, src = chunked_inputs(a.events, a.seed)
    else:
        src = events_file(a.events, a.seed)
    cfile = HERE / "data" / f"contacts-{a.events}-{a.contacts}-{a.seed}.csv"
    t = time.perf_counter()
    info = build_contacts(src, a.contacts, cfile)
    print(f"built {info} in {time.perf_counter() - t:.1f} s", flush=True)

    def load() -> Any:
        _load_cached.cache_clear()
        return load_contacts(cfile)

    def with_contacts() -> Any:
        _load_cached.cache_clear()  # the file is read and normalised inside the timed run
        return sessionize_sources([src], contacts=cfile)

    run_c: Any = None
    if a.chunked:
        t_plain = t_with = float("nan")
        sess, ev = pl.read_parquet(sess_path), pl.read_parquet(src)
    elif a.parts_only:
        t_plain, run = best(lambda: sessionize_sources([src]), 1)
        t_with = float("nan")
        sess, ev = run.result.sessions, run.result.events
    else:
        t_plain, run = best(lambda: sessionize_sources([src]), a.repeat)
        t_with, run_c = best(with_contacts, a.repeat)
        sess, ev = run.result.sessions, run.result.events
    t_load, (book, invalid) = best(load, a.repeat)
    t_none, _ = best(lambda: resolve_visitors(sess, ev, None), a.repeat)
    t_book, res = best(lambda: resolve_visitors(sess, ev, book), a.repeat)

    states = res.visitors["contact_state"].value_counts(sort=True).rows()
    methods = res.visitors["match_method"].drop_nulls().value_counts(sort=True).rows()
    print(
        f"events {a.events:,}  sessions {sess.height:,}  visitors {res.visitors.height:,}  "
        f"contacts {book.height:,} ({invalid.height} invalid entries)"
    )
    print(f"visitor states {dict(states)}  matched by {dict(methods)}")
    print(f"conflicting visitors {res.conflicts['customer_id'].n_unique():,}")
    print(f"sessionize, no contacts file          {t_plain:7.2f} s")
    print(f"sessionize, {book.height:,} contacts       {t_with:7.2f} s")
    print(f"  extra for the contacts file          {t_with - t_plain:+7.2f} s")
    print(f"  load_contacts ({book.height:,})             {t_load:7.2f} s")
    print(f"  resolve_visitors, no contacts        {t_none:7.2f} s")
    print(f"  resolve_visitors, {book.height:,} contacts {t_book:7.2f} s")
    print(
        f"  => resolution with {book.height:,} contacts adds "
        f"{t_load + t_book - t_none:.2f} s (load + resolve - resolve without contacts)"
    )
    assert run_c is None or run_c.summary.contacts is not None
    return 0


if __name__ == "__main__":
    sys.exit(main())
