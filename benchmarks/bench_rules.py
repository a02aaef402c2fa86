"""Benchmark: evaluating 20 segments, 5 outcomes and 5 action maps vs sessionizing.

    python benchmarks/bench_rules.py [N_EVENTS ...]      (default 1000000)

For each N: synthetic events (tests/synth, the generate_flat rows written chunk by chunk),
sessionized into a temporary store (timed: read + dedup + sessionize + write), then the
rules evaluated over the store (timed: scan + evaluate_store). Wall-clock and process CPU
time (all threads) are both reported: on a shared machine the CPU ratio is the steadier one.
Prints one line per N on stderr and a JSON summary on stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

SEGMENTS = [
    (
        "mobile",
        'context = [{ field = "device.category", operator = "equal", values = ["mobile"] }]',
    ),
    (
        "desktop",
        'context = [{ field = "device.category", operator = "equal", values = ["desktop"] }]',
    ),
    ("uk", 'context = [{ field = "geolocation.country", operator = "equal", values = ["GB"] }]'),
    (
        "us",
        'context = [{ field = "geolocation.country", operator = "equal", values = ["us"], '
        "ignore_case = true }]",
    ),
    (
        "campaign",
        'context = [{ field = "mktCampaign.name", operator = "notEqual", values = [""] }]',
    ),
    (
        "search-ref",
        'context = [{ field = "referrer.medium", operator = "equal", values = ["search"] }]',
    ),
    ("returning", 'context = [{ field = "visitNumber", operator = "greaterThan", values = [1] }]'),
    ("ios", 'context = [{ field = "device.osFamily", operator = "startsWith", values = ["iOS"] }]'),
]
PATTERNS = [
    ("adder", 2, '{ field = "eventName", operator = "equal", values = ["product_added"] }'),
    ("searcher", 1, '{ field = "searchQuery", operator = "notEqual", values = [""] }'),
    ("jackets", 3, '{ field = "page.pathname", operator = "startsWith", values = ["/jackets"] }'),
    ("video", 1, '{ field = "eventName", operator = "equal", values = ["video_played"] }'),
    ("abandoner", 1, '{ field = "eventName", operator = "equal", values = ["form_abandoned"] }'),
    (
        "cart",
        1,
        '{ field = "page.url", operator = "containsAny", values = ["/cart", "/checkout"] }',
    ),
    (
        "big-basket",
        1,
        '{ field = "attributes.price", operator = "greaterThanOrEqual", values = [150] }',
    ),
    ("multi-qty", 1, '{ field = "attributes.quantity", operator = "greaterThan", values = [2] }'),
    (
        "sale",
        2,
        '{ field = "page.title", operator = "containsAny", values = ["sale"], ignore_case = true }',
    ),
    ("help", 1, '{ field = "page.pathname", operator = "startsWith", values = ["/help"] }'),
    ("login", 1, '{ field = "page.pathname", operator = "equal", values = ["/account/login"] }'),
    (
        "newsletter-form",
        1,
        '{ field = "attributes.formName", operator = "equal", values = ["newsletter"] }',
    ),
]


def rules_text() -> str:
    """20 segments (8 context-only, 12 journey patterns, 4 of them mixed), 5 outcomes of
    2-3 stages, 5 action maps (3 by segments, 2 by activity, page and date conditions)."""
    out: list[str] = []
    for sid, ctx in SEGMENTS:
        out += ["[[segment]]", f'id = "seg-{sid}"', ctx, ""]
    for i, (sid, count, cond) in enumerate(PATTERNS):
        out += ["[[segment]]", f'id = "seg-{sid}"']
        if i % 3 == 0:
            out.append(SEGMENTS[i % len(SEGMENTS)][1])
        out += ["[[segment.pattern]]", f"count = {count}", f"conditions = [{cond}]", ""]
    ev = '{{ field = "eventName", operator = "equal", values = ["{}"] }}'
    path = '{{ field = "page.pathname", operator = "startsWith", values = ["{}"] }}'
    outcomes = [
        ("basket", [ev.format("product_added"), path.format("/cart")]),
        (
            "checkout",
            [
                ev.format("product_added"),
                path.format("/checkout"),
                path.format("/checkout/thank-you"),
            ],
        ),
        ("newsletter", [path.format("/newsletter"), ev.format("form_submitted")]),
        ("video", [ev.format("video_played"), ev.format("product_added")]),
        (
            "help-contact",
            [path.format("/help"), path.format("/contact"), ev.format("form_submitted")],
        ),
    ]
    for oid, stages in outcomes:
        out += ["[[outcome]]", f'id = "out-{oid}"', 'value_attribute = "price"']
        for s in stages:
            out += ["[[outcome.stage]]", f"conditions = [{s}]"]
        out.append("")
    maps = [
        ("cart-help", 3, 'segments = ["seg-cart", "seg-abandoner"]', "/checkout"),
        ("big", 2, 'segments = ["seg-big-basket"]', "/cart"),
        ("uk-sale", 1, 'segments = ["seg-uk", "seg-sale"]', "/"),
    ]
    for mid, w, trig, page in maps:
        out += [
            "[[action_map]]",
            f'id = "am-{mid}"',
            f"weight = {w}",
            trig,
            f'page_url = [{{ operator = "containsAny", values = ["{page}"] }}]',
            "",
        ]
    out += [
        "[[action_map]]",
        'id = "am-video"',
        "weight = 2",
        "start_date = 2026-10-03",
        "end_date = 2026-10-10",
        "[[action_map.activity]]",
        f"conditions = [{ev.format('video_played')}]",
        "[[action_map.activity]]",
        "count = 2",
        f"conditions = [{path.format('/')}]",
        "",
        "[[action_map]]",
        'id = "am-returns"',
        "weight = 1",
        "[[action_map.activity]]",
        f"conditions = [{path.format('/help/returns')}]",
        "",
    ]
    return "\n".join(out)


def run(n: int, workdir: Path) -> dict[str, float | int]:
    from _synth import write_flat_parquet

    from jtrack.core.rules import parse_rules
    from jtrack.engine import run_sessionize
    from jtrack.store import Store
    from jtrack.usecases.rules import evaluate_store

    src = workdir / f"events-{n}.parquet"
    t = time.perf_counter()
    write_flat_parquet(src, n, seed=11)
    gen_s = time.perf_counter() - t

    store = Store.open(workdir / f"store-{n}")
    t, c = time.perf_counter(), time.process_time()
    run_sessionize([src], store)
    sess_s, sess_cpu = time.perf_counter() - t, time.process_time() - c

    rules = parse_rules(rules_text(), "bench.toml")
    assert (len(rules.segments), len(rules.outcomes), len(rules.action_maps)) == (20, 5, 5)
    t, c = time.perf_counter(), time.process_time()
    res = evaluate_store(store, rules)
    rules_s, rules_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "events": n,
        "generate_s": round(gen_s, 2),
        "sessionize_s": round(sess_s, 2),
        "rules_s": round(rules_s, 2),
        "ratio": round(rules_s / sess_s, 3),
        "sessionize_cpu_s": round(sess_cpu, 2),
        "rules_cpu_s": round(rules_cpu, 2),
        "cpu_ratio": round(rules_cpu / sess_cpu, 3),
        "segment_matches": res.segments.filter(res.segments["source"] == "rules").height,
        "outcomes": res.outcomes.filter(res.outcomes["source"] == "rules").height,
        "action_map_rows": res.action_maps.height,
    }


def main(argv: list[str]) -> int:
    sizes = [int(a.replace("_", "")) for a in argv] or [1_000_000]
    results = []
    with tempfile.TemporaryDirectory(prefix="jtrack-bench-rules-") as tmp:
        for n in sizes:
            r = run(n, Path(tmp))
            results.append(r)
            print(
                f"{n:>11,} events: sessionize {r['sessionize_s']:.2f} s, rules "
                f"{r['rules_s']:.2f} s ({r['ratio']:.0%} of sessionize); CPU time "
                f"{r['sessionize_cpu_s']:.2f} s vs {r['rules_cpu_s']:.2f} s "
                f"({r['cpu_ratio']:.0%})",
                file=sys.stderr,
            )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
