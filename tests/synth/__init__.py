"""Deterministic synthetic tracking events, modelled on Genesys Predictive Engagement exports.

Dev only: this package lives in tests/ (it needs numpy, from the `test` extra) and is not part
of the installed jtrack. Tests import it as `synth` (pytest puts tests/ on sys.path); from the
project root it runs as `python -m tests.synth flat|genesys N OUT [--seed S]` or
`python -m tests.synth sample DIR`, from anywhere as `python PATH/TO/tests/synth ...`. Its
tables (pages, products, devices, locations, traffic sources, names, ...) are JSON files in
data/ (see tables.py).

The generator is vectorised (numpy draws, Polars gathers and expressions; no Python loop over
rows) and works in fixed *blocks* of visitors, each drawn from its own random stream, so that
any number of events can be produced chunk by chunk with bounded memory and the output does
not depend on the chunk size.

Public API:

- `generate_flat(n_events, ...)`: one frame with exactly the columns and dtypes of
  `jtrack.schema.EVENT_SCHEMA`, `n_events` rows (redeliveries included).
- `iter_flat_chunks(n_events, ..., chunk_size=...)`: the same rows as frames of about
  `chunk_size` rows; their concatenation equals `generate_flat` for the same arguments.
- `write_flat_parquet(path, n_events, ...)`: the same rows written chunk by chunk.
- `genesys_lines(df)`, `to_genesys_ndjson(df, path)`, `write_genesys_ndjson(path, n_events,
  ...)`: flat rows as Genesys event JSON objects (one per line), as in a real export.
- `write_sample(directory)`, `sample_contacts(events)`: the committed demo export
  (events.jsonl, events.parquet, contacts.csv).

What the data looks like: visitors (a `_actmu`-like cookie id each) with constant device,
browser, location and IP; 1..N web sessions per visitor separated by 20 minutes or more
(sometimes hours or days), events 5 s to 10 min apart inside a session; page views, searches
(a `page_viewed` event with a search query), custom events with attributes, identity traits on
some `form_submitted` events, and a few % of system events (segment assignments, outcomes,
web action state changes). About 2% of visitors also have a custom `delivery` session from an
order system. Messiness: redelivered events (exact duplicate rows, `duplicate_rate`), shuffled
row order (`shuffle`), and inactivity gaps of exactly 20:00.000 (a new session) and 19:59.999
(the same session): at least one of each per block, about one per 2,000 rows.

Determinism: the same arguments give the same frame with the same numpy and Polars versions.
The library never prints (the command line writes one summary line to stderr).
"""

from .generator import (
    DEFAULT_START,
    GAP_MS,
    SynthOptions,
    generate_flat,
    iter_flat_chunks,
    write_flat_parquet,
)
from .genesys import genesys_lines, to_genesys_ndjson, write_genesys_ndjson
from .sample import SAMPLE_EVENTS, SAMPLE_SEED, SAMPLE_VISITORS, sample_contacts, write_sample

__all__ = [
    "DEFAULT_START",
    "GAP_MS",
    "SAMPLE_EVENTS",
    "SAMPLE_SEED",
    "SAMPLE_VISITORS",
    "SynthOptions",
    "generate_flat",
    "genesys_lines",
    "iter_flat_chunks",
    "sample_contacts",
    "to_genesys_ndjson",
    "write_flat_parquet",
    "write_genesys_ndjson",
    "write_sample",
]
