"""Deterministic synthetic tracking events, modelled on Genesys Predictive Engagement exports.

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
This module never prints (the `python -m jtrack.synth` entry point writes one summary line to
stderr) and does not import typer or rich.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote_plus

import numpy as np
import numpy.typing as npt
import polars as pl

from jtrack.schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    EVENT_TYPE_PREFIX,
    KIND_APP,
    KIND_CUSTOM,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
    KV_LIST,
)

__all__ = [
    "DEFAULT_START",
    "GAP_MS",
    "SynthOptions",
    "generate_flat",
    "genesys_lines",
    "iter_flat_chunks",
    "main",
    "sample_contacts",
    "to_genesys_ndjson",
    "write_flat_parquet",
    "write_genesys_ndjson",
    "write_sample",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_START = datetime(2026, 10, 1, tzinfo=UTC)
#: The Genesys inactivity gap: a gap of exactly this many milliseconds starts a new session.
GAP_MS = 20 * 60 * 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_P_NEW_SESSION = 0.15  # chance that an activity event (not the visitor's first) starts a session
_BOUNDARY_RATE = 0.0005  # share of rows given an exact 20:00.000 / 19:59.999 gap (>= 1 per block)
_MIN_BLOCK_VISITORS = 64
_MAX_BLOCK_VISITORS = 16_384
_BLOCKS_TARGET = 16
_MEAN_EXCESS_MS = 52_500_000.0  # mean of the inter-session gap above 20 minutes (~14.6 h)

# Event kind codes used internally.
_K_PV, _K_SEARCH, _K_CUSTOM, _K_SEG, _K_OUT, _K_ACT = 0, 1, 2, 3, 4, 5
_KIND_BY_CODE = (
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_CUSTOM,
    KIND_SEGMENT,
    KIND_OUTCOME,
    KIND_WEB_ACTION,
)
_TYPE_BY_CODE = (
    "WebEvent",
    "WebEvent",
    "WebEvent",
    "SegmentAssignmentEvent",
    "OutcomeAchievedEvent",
    "WebActionEvent",
)

_CUSTOM_NAMES = (
    "product_added",
    "product_removed",
    "form_submitted",
    "form_abandoned",
    "video_played",
    "product_purchased",
    "order_dispatched",
)
_N_ADDED, _N_REMOVED, _N_FORM_OK, _N_FORM_ABANDONED, _N_VIDEO, _N_PURCHASED, _N_DISPATCHED = range(
    7
)
_WEB_CUSTOM_P = (0.32, 0.12, 0.16, 0.14, 0.26)

#: attribute fields per custom event: (name codes, ((name, dataType, helper column), ...))
_ATTRIBUTE_FIELDS: tuple[tuple[tuple[int, ...], tuple[tuple[str, str, str], ...]], ...] = (
    (
        (_N_ADDED,),
        (
            ("productId", "string", "_product_id"),
            ("quantity", "number", "_qty"),
            ("price", "number", "_price"),
        ),
    ),
    ((_N_REMOVED,), (("productId", "string", "_product_id"), ("quantity", "number", "_qty"))),
    ((_N_FORM_OK, _N_FORM_ABANDONED), (("formName", "string", "_form"),)),
    ((_N_VIDEO,), (("videoId", "string", "_video"), ("durationSeconds", "number", "_video_len"))),
    (
        (_N_PURCHASED,),
        (
            ("orderId", "string", "_order"),
            ("productId", "string", "_product_id"),
            ("quantity", "number", "_qty"),
            ("price", "number", "_price"),
        ),
    ),
    (
        (_N_DISPATCHED,),
        (
            ("orderId", "string", "_order"),
            ("carrier", "string", "_carrier"),
            ("parcel", "number", "_parcel"),
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Dimension tables (small, built once)
# --------------------------------------------------------------------------------------------

_HOST = "www.example-shop.com"
_DOMAIN = "example-shop.com"
_SITE = f"https://{_HOST}"

# (productId, name, price, path)
_PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("P17", "Storm Shell Jacket", "129.90", "/jackets/storm-shell-p17"),
    ("P21", "Down Parka", "219.00", "/jackets/down-parka-p21"),
    ("P24", "Fleece Midlayer", "59.95", "/jackets/fleece-midlayer-p24"),
    ("P31", "Trail Runner 3", "109.00", "/shoes/trail-runner-3-p31"),
    ("P33", "Summit GTX Boot", "179.50", "/shoes/summit-gtx-boot-p33"),
    ("P38", "Approach Shoe", "94.00", "/shoes/approach-shoe-p38"),
    ("P42", "Daypack 22L", "64.90", "/backpacks/daypack-22l-p42"),
    ("P45", "Trek 55L Backpack", "159.00", "/backpacks/trek-55l-p45"),
    ("P51", "Ridge 2 Tent", "249.00", "/tents/ridge-2-tent-p51"),
    ("P56", "Ultralight Tarp", "89.00", "/tents/ultralight-tarp-p56"),
    ("P61", "Merino Socks (2 pack)", "24.50", "/accessories/merino-socks-p61"),
    ("P64", "Headlamp 400", "39.99", "/accessories/headlamp-400-p64"),
    ("P67", "Insulated Bottle 750ml", "27.00", "/accessories/insulated-bottle-p67"),
    ("P72", "Sleeping Bag -5°C", "139.00", "/accessories/sleeping-bag-p72"),
    ("P75", "Walking Poles", "69.00", "/accessories/walking-poles-p75"),
    ("P78", "Gift Card", "50.00", "/gift-card-p78"),
)

# (path, query string, fragment, title, weight)
_OTHER_PAGES: tuple[tuple[str, str | None, str | None, str, float], ...] = (
    ("/", None, None, "Home | Example Shop", 14.0),
    ("/jackets", None, None, "Jackets | Example Shop", 4.0),
    ("/jackets", "sort=price_asc", None, "Jackets | Example Shop", 1.0),
    ("/shoes", None, None, "Shoes | Example Shop", 4.0),
    ("/backpacks", None, None, "Backpacks | Example Shop", 3.0),
    ("/tents", None, None, "Tents | Example Shop", 3.0),
    ("/accessories", None, None, "Accessories | Example Shop", 3.0),
    ("/sale", None, None, "Sale | Example Shop", 4.0),
    ("/cart", None, None, "Basket | Example Shop", 4.0),
    ("/checkout", None, None, "Checkout | Example Shop", 2.0),
    ("/checkout/thank-you", None, None, "Thank you | Example Shop", 1.0),
    ("/account/login", None, None, "Sign in | Example Shop", 2.0),
    ("/account", None, None, "My account | Example Shop", 1.0),
    ("/contact", None, None, "Contact us | Example Shop", 1.5),
    ("/newsletter", None, None, "Newsletter | Example Shop", 1.0),
    ("/help/delivery", None, None, "Delivery information | Example Shop", 1.5),
    ("/help/returns", None, None, "Returns | Example Shop", 1.5),
    ("/stores", None, None, "Store finder | Example Shop", 1.0),
    (
        "/blog/how-to-choose-trail-shoes",
        None,
        None,
        "How to choose trail shoes | Example Shop Blog",
        1.0,
    ),
)
_PRODUCT_PAGE_WEIGHT = 2.5

_SEARCH_TERMS = (
    "waterproof jacket",
    "trail shoes",
    "hiking boots",
    "tent 2 person",
    "down jacket",
    "sleeping bag",
    "headlamp",
    "merino socks",
    "gore-tex",
    "rain cover",
    "walking poles",
    "daypack",
    "gift card",
    "returns",
    "size guide",
    "kids jacket",
    "sale",
    "water bottle",
    "dry bag",
    "fleece",
    "Wanderschuhe",
    "veste imperméable",
    "zapatillas trail",
    "tarp",
)

# (family, version, category, type, isMobile, osFamily, osVersion, screen w, h, view w, h,
#  user agent, weight)
_DEVICES: tuple[tuple[Any, ...], ...] = (
    (
        "Mobile Safari",
        "17.4.1",
        "mobile",
        "iPhone",
        True,
        "iOS",
        "17.4.1",
        390,
        844,
        390,
        664,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        18.0,
    ),
    (
        "Chrome Mobile",
        "124.0.6367.113",
        "mobile",
        "Samsung SM-S911B",
        True,
        "Android",
        "14",
        360,
        780,
        360,
        668,
        "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.113 Mobile Safari/537.36",
        10.0,
    ),
    (
        "Chrome Mobile",
        "124.0.6367.113",
        "mobile",
        "Google Pixel 8",
        True,
        "Android",
        "14",
        412,
        915,
        412,
        815,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.113 Mobile Safari/537.36",
        6.0,
    ),
    (
        "Samsung Internet",
        "24.0",
        "mobile",
        "Samsung SM-A546B",
        True,
        "Android",
        "13",
        384,
        854,
        384,
        740,
        "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        4.0,
    ),
    (
        "Chrome",
        "124.0",
        "desktop",
        "Other",
        False,
        "Windows",
        "10",
        1920,
        1080,
        1903,
        961,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
        22.0,
    ),
    (
        "Edge",
        "124.0.2478.80",
        "desktop",
        "Other",
        False,
        "Windows",
        "10",
        1536,
        864,
        1519,
        754,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        8.0,
    ),
    (
        "Firefox",
        "125.0",
        "desktop",
        "Other",
        False,
        "Windows",
        "10",
        1920,
        1080,
        1903,
        955,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        5.0,
    ),
    (
        "Safari",
        "17.4.1",
        "desktop",
        "Mac",
        False,
        "Mac OS X",
        "10.15.7",
        1440,
        900,
        1440,
        789,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        9.0,
    ),
    (
        "Chrome",
        "124.0",
        "desktop",
        "Mac",
        False,
        "Mac OS X",
        "10.15.7",
        1728,
        1117,
        1728,
        980,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
        7.0,
    ),
    (
        "Firefox",
        "125.0",
        "desktop",
        "Other",
        False,
        "Ubuntu",
        "22.04",
        1920,
        1200,
        1920,
        1080,
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        2.0,
    ),
    (
        "Mobile Safari",
        "17.4.1",
        "tablet",
        "iPad",
        True,
        "iOS",
        "17.4.1",
        820,
        1180,
        820,
        1106,
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        5.0,
    ),
    (
        "Chrome",
        "124.0.6367.113",
        "tablet",
        "Samsung SM-X710",
        True,
        "Android",
        "14",
        800,
        1280,
        800,
        1184,
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.113 Safari/537.36",
        2.0,
    ),
    (
        "Chrome",
        "123.0",
        "other",
        "Other",
        False,
        "Chrome OS",
        "14541.0",
        1366,
        768,
        1366,
        657,
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36",
        1.0,
    ),
)

# (country, countryName, region, regionName, locality, postalCode, lat, lon, timezone, lang,
#  ip prefix, ip organisation, phone prefix, phone digits, phone base, phone span, weight)
_GEOS: tuple[tuple[Any, ...], ...] = (
    (
        "GB",
        "United Kingdom",
        "GB-ENG",
        "England",
        "London",
        "EC1A 1BB",
        51.5074,
        -0.1278,
        "Europe/London",
        "en-GB",
        "192.0.2.",
        "Example Broadband Ltd",
        "+447400",
        6,
        100000,
        900000,
        20.0,
    ),
    (
        "GB",
        "United Kingdom",
        "GB-ENG",
        "England",
        "Manchester",
        "M1 1AE",
        53.4808,
        -2.2426,
        "Europe/London",
        "en-GB",
        "198.51.100.",
        "Northern Fibre plc",
        "+447723",
        6,
        100000,
        900000,
        7.0,
    ),
    (
        "GB",
        "United Kingdom",
        "GB-SCT",
        "Scotland",
        "Edinburgh",
        "EH1 1YZ",
        55.9533,
        -3.1883,
        "Europe/London",
        "en-GB",
        "203.0.113.",
        "Example Broadband Ltd",
        "+447712",
        6,
        100000,
        900000,
        4.0,
    ),
    (
        "US",
        "United States",
        "US-NY",
        "New York",
        "New York",
        "10001",
        40.7128,
        -74.006,
        "America/New_York",
        "en-US",
        "198.51.100.",
        "Demo Telecom Inc.",
        "+121255501",
        2,
        0,
        100,
        10.0,
    ),
    (
        "US",
        "United States",
        "US-IL",
        "Illinois",
        "Chicago",
        "60601",
        41.8781,
        -87.6298,
        "America/Chicago",
        "en-US",
        "203.0.113.",
        "Lakeside Cable LLC",
        "+131255501",
        2,
        0,
        100,
        5.0,
    ),
    (
        "US",
        "United States",
        "US-CA",
        "California",
        "San Francisco",
        "94103",
        37.7749,
        -122.4194,
        "America/Los_Angeles",
        "en-US",
        "192.0.2.",
        "Demo Telecom Inc.",
        "+141555501",
        2,
        0,
        100,
        5.0,
    ),
    (
        "US",
        "United States",
        "US-DC",
        "District of Columbia",
        "Washington",
        "20001",
        38.9072,
        -77.0369,
        "America/New_York",
        "en-US",
        "203.0.113.",
        "Capitol Wireless Inc.",
        "+120255501",
        2,
        0,
        100,
        3.0,
    ),
    (
        "CA",
        "Canada",
        "CA-ON",
        "Ontario",
        "Toronto",
        "M5H 2N2",
        43.6532,
        -79.3832,
        "America/Toronto",
        "en-CA",
        "198.51.100.",
        "Maple Cable Co.",
        "+141655501",
        2,
        0,
        100,
        3.0,
    ),
    (
        "DE",
        "Germany",
        "DE-BE",
        "Berlin",
        "Berlin",
        "10115",
        52.52,
        13.405,
        "Europe/Berlin",
        "de-DE",
        "203.0.113.",
        "Beispiel Netz GmbH",
        "+49151",
        8,
        20000000,
        70000000,
        8.0,
    ),
    (
        "DE",
        "Germany",
        "DE-BY",
        "Bavaria",
        "Munich",
        "80331",
        48.1351,
        11.582,
        "Europe/Berlin",
        "de-DE",
        "192.0.2.",
        "Beispiel Netz GmbH",
        "+49160",
        7,
        1000000,
        8000000,
        4.0,
    ),
    (
        "FR",
        "France",
        "FR-IDF",
        "Île-de-France",
        "Paris",
        "75001",
        48.8566,
        2.3522,
        "Europe/Paris",
        "fr-FR",
        "198.51.100.",
        "Exemple Télécom SA",
        "+3361",
        7,
        1000000,
        8000000,
        6.0,
    ),
    (
        "IE",
        "Ireland",
        "IE-D",
        "Dublin",
        "Dublin",
        "D02 X285",
        53.3498,
        -6.2603,
        "Europe/Dublin",
        "en-IE",
        "192.0.2.",
        "Emerald Net Ltd",
        "+35387",
        7,
        1000000,
        8000000,
        4.0,
    ),
    (
        "NL",
        "Netherlands",
        "NL-NH",
        "North Holland",
        "Amsterdam",
        "1012 JS",
        52.3676,
        4.9041,
        "Europe/Amsterdam",
        "nl-NL",
        "203.0.113.",
        "Voorbeeld Kabel BV",
        "+3165",
        7,
        1000000,
        8000000,
        4.0,
    ),
    (
        "ES",
        "Spain",
        "ES-MD",
        "Madrid",
        "Madrid",
        "28013",
        40.4168,
        -3.7038,
        "Europe/Madrid",
        "es-ES",
        "198.51.100.",
        "Ejemplo Fibra SL",
        "+346",
        8,
        10000000,
        80000000,
        3.0,
    ),
    (
        "AU",
        "Australia",
        "AU-NSW",
        "New South Wales",
        "Sydney",
        "2000",
        -33.8688,
        151.2093,
        "Australia/Sydney",
        "en-AU",
        "192.0.2.",
        "Sample Mobile Pty Ltd",
        "+61491570",
        3,
        0,
        1000,
        3.0,
    ),
    (
        "SE",
        "Sweden",
        "SE-AB",
        "Stockholm County",
        "Stockholm",
        "111 29",
        59.3293,
        18.0686,
        "Europe/Stockholm",
        "sv-SE",
        "203.0.113.",
        "Exempel Bredband AB",
        "+4670",
        7,
        1000000,
        8000000,
        2.0,
    ),
)

# (referrer url, domain, hostname, pathname, queryString, name, medium,
#  utm source, utm medium, utm name, utm term, utm content, click id prefix, network, weight)
_SOURCES: tuple[tuple[Any, ...], ...] = (
    (None, None, None, None, None, None, None, None, None, None, None, None, None, None, 30.0),
    (
        "https://www.google.com/",
        "google.com",
        "www.google.com",
        "/",
        None,
        "Google",
        "search",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        22.0,
    ),
    (
        "https://www.google.com/",
        "google.com",
        "www.google.com",
        "/",
        None,
        "Google",
        "search",
        "google",
        "cpc",
        "autumn_sale",
        "trail shoes",
        None,
        "Cj0KCQjw",
        "g",
        6.0,
    ),
    (
        "https://www.google.com/",
        "google.com",
        "www.google.com",
        "/",
        None,
        "Google",
        "search",
        "google",
        "cpc",
        "autumn_sale",
        "waterproof jacket",
        None,
        "Cj0KCQjw",
        "g",
        4.0,
    ),
    (
        "https://www.bing.com/",
        "bing.com",
        "www.bing.com",
        "/",
        None,
        "Bing",
        "search",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        5.0,
    ),
    (
        "https://duckduckgo.com/",
        "duckduckgo.com",
        "duckduckgo.com",
        "/",
        None,
        "DuckDuckGo",
        "search",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        3.0,
    ),
    (
        "https://www.facebook.com/",
        "facebook.com",
        "www.facebook.com",
        "/",
        None,
        "Facebook",
        "social",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        6.0,
    ),
    (
        "https://www.facebook.com/",
        "facebook.com",
        "www.facebook.com",
        "/",
        None,
        "Facebook",
        "social",
        "facebook",
        "paid_social",
        "autumn_sale",
        None,
        "carousel_1",
        "IwAR",
        None,
        4.0,
    ),
    (
        "https://l.instagram.com/",
        "instagram.com",
        "l.instagram.com",
        "/",
        None,
        "Instagram",
        "social",
        "instagram",
        "social",
        "new_season",
        None,
        "story",
        None,
        None,
        4.0,
    ),
    (
        "https://mail.google.com/",
        "google.com",
        "mail.google.com",
        "/",
        None,
        "Gmail",
        "email",
        "newsletter",
        "email",
        "october_newsletter",
        None,
        "hero_button",
        None,
        None,
        8.0,
    ),
    (
        "https://www.outdoor-blog.example/best-jackets-2026",
        "outdoor-blog.example",
        "www.outdoor-blog.example",
        "/best-jackets-2026",
        None,
        None,
        "unknown",
        "partner",
        "referral",
        "blog_review",
        None,
        None,
        None,
        None,
        3.0,
    ),
    (
        "https://www.youtube.com/",
        "youtube.com",
        "www.youtube.com",
        "/",
        None,
        "YouTube",
        "social",
        "youtube",
        "video",
        "tent_pitching_howto",
        None,
        None,
        None,
        None,
        3.0,
    ),
    (
        "https://www.bing.com/",
        "bing.com",
        "www.bing.com",
        "/",
        None,
        "Bing",
        "paid",
        "bing",
        "cpc",
        "brand",
        "example shop",
        None,
        "msclkid",
        None,
        2.0,
    ),
)

_SEGMENTS = (
    "seg-outdoor-shoppers",
    "seg-returning-visitor",
    "seg-high-value-basket",
    "seg-mobile-visitors",
    "seg-newsletter-readers",
    "seg-uk-visitors",
    "seg-searchers",
    "seg-cart-abandoners",
)
_OUTCOMES = (
    ("out-purchase", "Made a purchase"),
    ("out-newsletter-signup", "Signed up for the newsletter"),
    ("out-lead", "Submitted a contact form"),
    ("out-video-engaged", "Watched a product video"),
)
# (actionMap id, displayName, mediaType)
_ACTION_MAPS = (
    ("am-cart-help", "Help with checkout", "webchat"),
    ("am-newsletter-offer", "Newsletter offer", "content"),
    ("am-returns-chat", "Returns assistance", "messaging"),
    ("am-high-value", "Priority advisor", "webchat"),
)
_ACTION_STATES = (
    ("offered", 30.0),
    ("qualified", 15.0),
    ("accepted", 10.0),
    ("rejected", 8.0),
    ("ignored", 12.0),
    ("timedout", 6.0),
    ("started", 6.0),
    ("engaged", 5.0),
    ("completed", 4.0),
    ("abandoned", 2.0),
    ("errored", 1.0),
    ("frequencyCapReached", 1.0),
)
_FORMS = ("newsletter", "contact", "checkout", "callback", "account_signup")
_VIDEOS = (
    ("vid-tent-pitching", "95"),
    ("vid-jacket-care", "140"),
    ("vid-trail-fit", "62"),
    ("vid-packing-tips", "210"),
)
_CARRIERS = ("Royal Mail", "DHL", "UPS", "DPD", "FedEx")

_GIVEN = (
    ("Ada", "ada"),
    ("Grace", "grace"),
    ("Alan", "alan"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Priya", "priya"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Lukas", "lukas"),
    ("Sofia", "sofia"),
    ("Mateo", "mateo"),
    ("Chloé", "chloe"),
    ("Aoife", "aoife"),
    ("Sean", "sean"),
    ("Mia", "mia"),
    ("Elias", "elias"),
    ("Freya", "freya"),
    ("Oskar", "oskar"),
    ("Amara", "amara"),
    ("Kenji", "kenji"),
    ("Fatima", "fatima"),
    ("Daniel", "daniel"),
    ("Hannah", "hannah"),
    ("Marta", "marta"),
    ("Jonas", "jonas"),
    ("Léa", "lea"),
    ("Ravi", "ravi"),
    ("Ingrid", "ingrid"),
    ("Tom", "tom"),
    ("Isla", "isla"),
)
_FAMILY = (
    ("Lovelace", "lovelace"),
    ("Hopper", "hopper"),
    ("Turing", "turing"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Patel", "patel"),
    ("O'Brien", "obrien"),
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Schmidt", "schmidt"),
    ("Dubois", "dubois"),
    ("Murphy", "murphy"),
    ("Jansen", "jansen"),
    ("Andersson", "andersson"),
    ("Rossi", "rossi"),
    ("Nguyen", "nguyen"),
    ("Okafor", "okafor"),
    ("Kowalski", "kowalski"),
    ("Fernández", "fernandez"),
    ("Brown", "brown"),
    ("Wilson", "wilson"),
    ("Tanaka", "tanaka"),
    ("Khan", "khan"),
    ("Silva", "silva"),
    ("Novak", "novak"),
    ("Walsh", "walsh"),
    ("Lindqvist", "lindqvist"),
    ("Moreau", "moreau"),
    ("Byrne", "byrne"),
    ("Taylor", "taylor"),
)
_MAIL_DOMAINS = ("example.org", "example.com", "example.net")


@dataclass(frozen=True)
class _Dims:
    pages: pl.DataFrame  # page_* columns, search_query, _product
    page_p: npt.NDArray[np.float64]  # weights of the non-search pages
    n_pages: int  # pages before the search-result pages
    page_product: IntArray
    products: pl.DataFrame
    devices: pl.DataFrame
    device_p: npt.NDArray[np.float64]
    geos: pl.DataFrame
    geo_p: npt.NDArray[np.float64]
    sources: pl.DataFrame
    source_p: npt.NDArray[np.float64]
    state_p: npt.NDArray[np.float64]


def _norm(weights: Sequence[float]) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


@functools.cache
def _dims() -> _Dims:
    page_rows: list[dict[str, Any]] = []
    weights: list[float] = []

    def page(
        path: str,
        qs: str | None,
        frag: str | None,
        title: str,
        product: int,
        search: str | None = None,
    ) -> dict[str, Any]:
        url = _SITE + path + (f"?{qs}" if qs else "") + (f"#{frag}" if frag else "")
        return {
            "page_url": url,
            "page_title": title,
            "page_domain": _DOMAIN,
            "page_hostname": _HOST,
            "page_pathname": path,
            "page_query_string": qs,
            "page_fragment": frag,
            "page_keywords": None,
            "page_lang": None,
            "search_query": search,
            "_product": product,
        }

    for path, qs, frag, title, w in _OTHER_PAGES:
        page_rows.append(page(path, qs, frag, title, -1))
        weights.append(w)
    for i, (_pid, name, _price, path) in enumerate(_PRODUCTS):
        page_rows.append(page(path, None, None, f"{name} | Example Shop", i))
        weights.append(_PRODUCT_PAGE_WEIGHT)
    page_rows.append(page(_PRODUCTS[0][3], None, "reviews", f"{_PRODUCTS[0][1]} | Example Shop", 0))
    weights.append(0.8)
    n_pages = len(page_rows)
    for term in _SEARCH_TERMS:
        qs = "q=" + quote_plus(term)
        page_rows.append(page("/search", qs, None, "Search results | Example Shop", -1, term))
    pages = pl.DataFrame(
        page_rows,
        schema={
            **{
                c: pl.String()
                for c in (
                    "page_url",
                    "page_title",
                    "page_domain",
                    "page_hostname",
                    "page_pathname",
                    "page_query_string",
                    "page_fragment",
                    "page_keywords",
                    "page_lang",
                    "search_query",
                )
            },
            "_product": pl.Int64(),
        },
    )
    products = pl.DataFrame(
        {"_product_id": [p[0] for p in _PRODUCTS], "_price": [p[2] for p in _PRODUCTS]}
    )
    devices = pl.DataFrame(
        [d[:12] for d in _DEVICES],
        orient="row",
        schema={
            "browser_family": pl.String(),
            "browser_version": pl.String(),
            "device_category": pl.String(),
            "device_type": pl.String(),
            "device_is_mobile": pl.Boolean(),
            "device_os_family": pl.String(),
            "device_os_version": pl.String(),
            "device_screen_width": pl.Int64(),
            "device_screen_height": pl.Int64(),
            "browser_view_width": pl.Int64(),
            "browser_view_height": pl.Int64(),
            "user_agent_string": pl.String(),
        },
    )
    geos = pl.DataFrame(
        [g[:16] for g in _GEOS],
        orient="row",
        schema={
            "geolocation_country": pl.String(),
            "geolocation_country_name": pl.String(),
            "geolocation_region": pl.String(),
            "geolocation_region_name": pl.String(),
            "geolocation_locality": pl.String(),
            "geolocation_postal_code": pl.String(),
            "geolocation_latitude": pl.Float64(),
            "geolocation_longitude": pl.Float64(),
            "geolocation_timezone": pl.String(),
            "browser_lang": pl.String(),
            "_ip_prefix": pl.String(),
            "ip_organization": pl.String(),
            "_phone_prefix": pl.String(),
            "_phone_digits": pl.Int64(),
            "_phone_base": pl.Int64(),
            "_phone_span": pl.Int64(),
        },
    )
    sources = pl.DataFrame(
        [s[:14] for s in _SOURCES],
        orient="row",
        schema={
            **{
                c: pl.String()
                for c in (
                    "referrer_url",
                    "referrer_domain",
                    "referrer_hostname",
                    "referrer_pathname",
                    "referrer_query_string",
                    "referrer_name",
                    "referrer_medium",
                    "mkt_campaign_source",
                    "mkt_campaign_medium",
                    "mkt_campaign_name",
                    "mkt_campaign_term",
                    "mkt_campaign_content",
                    "_click_prefix",
                    "mkt_campaign_network",
                )
            }
        },
    )
    return _Dims(
        pages=pages,
        page_p=_norm(weights),
        n_pages=n_pages,
        page_product=pages["_product"].to_numpy().astype(np.int64),
        products=products,
        devices=devices,
        device_p=_norm([d[12] for d in _DEVICES]),
        geos=geos,
        geo_p=_norm([g[16] for g in _GEOS]),
        sources=sources,
        source_p=_norm([s[14] for s in _SOURCES]),
        state_p=_norm([s[1] for s in _ACTION_STATES]),
    )


# --------------------------------------------------------------------------------------------
# Options and plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthOptions:
    """All knobs of the generator. The public functions take these as keyword arguments."""

    n_events: int
    seed: int = 7
    start: datetime = DEFAULT_START
    days: int = 14
    visitors: int | None = None  # default: about one visitor per 13 events
    duplicate_rate: float = 0.01  # share of rows that are redeliveries of another row
    shuffle: bool = True  # shuffle rows within each block (else visitor, time order)
    custom_session_rate: float = 0.02  # visitors that also have a "delivery" session
    identified_rate: float = 0.2  # visitors who send identity traits on a form_submitted event
    system_rate: float = 0.04  # share of web-session rows that are system events

    def validate(self) -> None:
        if self.n_events < 0:
            raise ValueError("n_events must be >= 0")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.days <= 0:
            raise ValueError("days must be > 0")
        if self.visitors is not None and self.visitors < 1:
            raise ValueError("visitors must be >= 1")
        for name in ("duplicate_rate", "custom_session_rate", "identified_rate", "system_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")


@dataclass(frozen=True)
class _Plan:
    counts: IntArray  # rows per visitor (redeliveries included); sums to n_events
    blocks: tuple[tuple[int, int], ...]  # [v0, v1) visitor ranges
    start_ms: int
    window_ms: int


def _plan(o: SynthOptions) -> _Plan:
    o.validate()
    start = o.start if o.start.tzinfo is not None else o.start.replace(tzinfo=UTC)
    start_ms = (start - _EPOCH) // timedelta(milliseconds=1)
    window_ms = o.days * 86_400_000
    if o.n_events == 0:
        return _Plan(np.zeros(0, np.int64), (), start_ms, window_ms)
    n_vis = o.visitors if o.visitors is not None else max(1, round(o.n_events / 13))
    n_vis = min(n_vis, o.n_events)
    rng = np.random.default_rng([o.seed, 0])
    weights = rng.lognormal(0.0, 0.9, n_vis)
    counts = 1 + rng.multinomial(o.n_events - n_vis, weights / weights.sum()).astype(np.int64)
    per_block = min(
        _MAX_BLOCK_VISITORS, max(_MIN_BLOCK_VISITORS, math.ceil(n_vis / _BLOCKS_TARGET))
    )
    blocks = tuple((v0, min(v0 + per_block, n_vis)) for v0 in range(0, n_vis, per_block))
    return _Plan(counts, blocks, start_ms, window_ms)


# --------------------------------------------------------------------------------------------
# Vectorised helpers
# --------------------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """n random (version 4 shaped) uuid strings."""
    b = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hexd = np.empty((n, 32), dtype=np.uint8)
    hexd[:, 0::2] = _HEX[b >> 4]
    hexd[:, 1::2] = _HEX[b & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexd[:, 0:8]
    out[:, 9:13] = hexd[:, 8:12]
    out[:, 14:18] = hexd[:, 12:16]
    out[:, 19:23] = hexd[:, 16:20]
    out[:, 24:36] = hexd[:, 20:32]
    return pl.Series(out.reshape(-1).view("S36")).cast(pl.String)


def _seg_cumsum(x: IntArray, group_start: IntArray) -> IntArray:
    """Inclusive cumulative sum of x restarting at each group (rows grouped contiguously);
    group_start[i] is the index of the first row of row i's group."""
    if x.size == 0:
        return x.copy()
    c = np.cumsum(x)
    return c - c[group_start] + x[group_start]


def _ffill_index(has: BoolArray) -> IntArray:
    """For each row, the index of the last row at or before it where `has` is true (0 if none)."""
    idx = np.where(has, np.arange(has.size, dtype=np.int64), 0)
    return np.maximum.accumulate(idx) if idx.size else idx


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> IntArray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.int64)


def _nullable(idx: IntArray) -> pl.Series:
    s = pl.Series("i", idx, dtype=pl.Int64)
    return pl.select(pl.when(s >= 0).then(s)).to_series()


def _take(table: pl.DataFrame, idx: IntArray) -> pl.DataFrame:
    """Rows of a small table by index; -1 gives a row of nulls."""
    return table.select(pl.all().gather(_nullable(idx)))


def _pick(
    values: Sequence[Any], idx: IntArray, name: str, dtype: pl.DataType | None = None
) -> pl.Series:
    table = pl.DataFrame({name: pl.Series(name, list(values), dtype=dtype)})
    return _take(table, idx).to_series()


def _kv_lists(
    frame: pl.DataFrame, specs: Sequence[tuple[BoolArray, str, str, pl.Expr]], valid: BoolArray
) -> pl.Series:
    """A KV_LIST column: row i holds, in spec order, {name, data_type, value} for every spec
    whose mask is true at i (value from the spec's expression); rows where `valid` is false
    are null, other rows without entries are empty lists."""
    import pyarrow as pa

    n = frame.height
    rows_parts: list[IntArray] = []
    pos_parts: list[IntArray] = []
    parts: list[pl.DataFrame] = []
    for i, (mask, name, data_type, value) in enumerate(specs):
        rows = np.flatnonzero(mask & valid)
        if rows.size == 0:
            continue
        rows_parts.append(rows)
        pos_parts.append(np.full(rows.size, i, dtype=np.int64))
        parts.append(
            frame.select(value.cast(pl.String).alias("value"))[rows].select(
                pl.lit(name, pl.String).alias("name"),
                pl.lit(data_type, pl.String).alias("data_type"),
                "value",
            )
        )
    if parts:
        rows_all = np.concatenate(rows_parts)
        order = np.lexsort((np.concatenate(pos_parts), rows_all))
        entries = pl.concat(parts)[order]
        counts = np.bincount(rows_all, minlength=n)
    else:
        entries = pl.DataFrame(schema=KV_LIST.inner.to_schema())  # type: ignore[union-attr]
        counts = np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = entries.to_struct("kv").to_arrow()
    lists = pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~valid))
    return pl.Series("kv", lists).cast(KV_LIST)


# --------------------------------------------------------------------------------------------
# One block of visitors
# --------------------------------------------------------------------------------------------


def _gen_block(o: SynthOptions, plan: _Plan, block_no: int) -> pl.DataFrame:
    d = _dims()
    v0, v1 = plan.blocks[block_no]
    k = plan.counts[v0:v1]
    nv = int(k.size)
    rng = np.random.default_rng([o.seed, 1, block_no])
    gidx = np.arange(v0, v1, dtype=np.int64)

    # ---- visitors -----------------------------------------------------------------------
    deliv = (rng.random(nv) < o.custom_session_rate) & (k >= 5)
    n_del = np.where(deliv, rng.integers(2, 4, nv), 0).astype(np.int64)
    n_dup = rng.binomial(np.maximum(k - n_del - 1, 0), o.duplicate_rate).astype(np.int64)
    n_web = k - n_del - n_dup  # >= 1
    identified = rng.random(nv) < o.identified_rate
    has_phone = rng.random(nv) < 0.7
    dev = rng.choice(len(_DEVICES), nv, p=d.device_p)
    geo = rng.choice(len(_GEOS), nv, p=d.geo_p)
    ip_last = rng.integers(1, 255, nv)
    given = rng.integers(0, len(_GIVEN), nv)
    family = rng.integers(0, len(_FAMILY), nv)
    mail = rng.integers(0, len(_MAIL_DOMAINS), nv)
    cookies = _uuids(rng, nv)

    vis_geo = _take(d.geos, geo).with_columns(
        _ip_last=pl.Series(ip_last),
        _gidx=pl.Series(gidx),
        _has_phone=pl.Series(has_phone),
        _given=_pick([g[0] for g in _GIVEN], given, "g"),
        _family=_pick([f[0] for f in _FAMILY], family, "f"),
        _given_slug=_pick([g[1] for g in _GIVEN], given, "g"),
        _family_slug=_pick([f[1] for f in _FAMILY], family, "f"),
        _mail_domain=_pick(_MAIL_DOMAINS, mail, "m"),
    )
    vis_ctx = pl.concat([_take(d.devices, dev), vis_geo], how="horizontal").select(
        *[c for c in (*d.devices.columns, *d.geos.columns) if not c.startswith("_")],
        ip_address=pl.concat_str([pl.col("_ip_prefix"), pl.col("_ip_last").cast(pl.String)]),
    )
    phone_num = pl.col("_phone_base") + (pl.col("_gidx") * 7919) % pl.col("_phone_span")
    vis_id = vis_geo.select(
        "_given",
        "_family",
        _email=pl.concat_str(
            [
                pl.col("_given_slug"),
                pl.lit("."),
                pl.col("_family_slug"),
                pl.col("_gidx").cast(pl.String),
                pl.lit("@"),
                pl.col("_mail_domain"),
            ]
        ),
        _phone=pl.when(pl.col("_has_phone")).then(
            pl.concat_str(
                [
                    pl.col("_phone_prefix"),
                    phone_num.cast(pl.String).str.zfill(pl.col("_phone_digits")),
                ]
            )
        ),
    )

    # ---- web-session slots (activity and system events) ---------------------------------
    W = int(n_web.sum())
    vis = np.repeat(np.arange(nv, dtype=np.int64), n_web)
    wstart = np.cumsum(n_web) - n_web
    gstart = wstart[vis]
    pos = np.arange(W, dtype=np.int64) - gstart
    first = pos == 0
    system = ~first & (rng.random(W) < o.system_rate)
    act = ~system
    new_sess = first | (act & (rng.random(W) < _P_NEW_SESSION))
    mid = act & ~new_sess  # activity inside a session (sessions always open with a page view)

    kind = np.full(W, _K_PV, dtype=np.int64)
    u = rng.random(W)
    kind[mid & (u >= 0.62) & (u < 0.74)] = _K_SEARCH
    kind[mid & (u >= 0.74)] = _K_CUSTOM
    name = np.full(W, -1, dtype=np.int64)
    cust = kind == _K_CUSTOM
    name[cust] = rng.choice(5, int(cust.sum()), p=_norm(_WEB_CUSTOM_P))
    # identified visitors send traits on a form_submitted event inside a session
    mid_i = mid.astype(np.int64)
    mid_rank = _seg_cumsum(mid_i, gstart)
    mid_cnt = np.bincount(vis, weights=mid_i, minlength=nv).astype(np.int64)
    ident = identified & (mid_cnt > 0)
    pick = (rng.random(nv) * mid_cnt).astype(np.int64) + 1
    forced = mid & ident[vis] & (mid_rank == pick[vis])
    kind[forced] = _K_CUSTOM
    name[forced] = _N_FORM_OK
    has_traits = (name == _N_FORM_OK) & ident[vis]
    kind[system] = rng.choice([_K_SEG, _K_OUT, _K_ACT], int(system.sum()), p=[0.45, 0.2, 0.35])

    # pages: page views and searches pick one; custom events stay on the last page
    page = np.full(W, -1, dtype=np.int64)
    pv = kind == _K_PV
    page[pv] = rng.choice(d.n_pages, int(pv.sum()), p=d.page_p)
    sr = kind == _K_SEARCH
    page[sr] = d.n_pages + rng.integers(0, len(_SEARCH_TERMS), int(sr.sum()))
    page = np.where(cust, page[_ffill_index(page >= 0)], page)
    product = np.where(cust & (page >= 0), d.page_product[np.maximum(page, 0)], -1)
    product = np.where(cust & (product < 0), rng.integers(0, len(_PRODUCTS), W), product)
    product = np.where(np.isin(name, (_N_ADDED, _N_REMOVED)), product, -1)
    qty = rng.choice([1, 2, 3], W, p=[0.8, 0.15, 0.05])
    form = np.where(
        np.isin(name, (_N_FORM_OK, _N_FORM_ABANDONED)), rng.integers(0, len(_FORMS), W), -1
    )
    video = np.where(name == _N_VIDEO, rng.integers(0, len(_VIDEOS), W), -1)

    # sessions and their traffic source (first event of the session only)
    sess = np.cumsum(new_sess) - 1
    n_sess = int(new_sess.sum())
    src_s = rng.choice(len(_SOURCES), n_sess, p=d.source_p)
    src = np.where(new_sess, src_s[np.maximum(sess, 0)], -1)

    # ---- times (ms offsets from the visitor's start) ------------------------------------
    gap = np.zeros(W, dtype=np.int64)
    intra = _log_uniform(rng, 5_000, 600_000, W)
    gap[mid] = intra[mid]
    later = new_sess & ~first
    sess_per_vis = np.bincount(vis[new_sess], minlength=nv)
    factor = np.minimum(
        1.0, 0.8 * plan.window_ms / (np.maximum(sess_per_vis - 1, 1) * _MEAN_EXCESS_MS)
    )
    mix = rng.random(W)
    excess = np.where(
        mix < 0.55,
        _log_uniform(rng, 1_000, 10_800_000, W),
        np.where(
            mix < 0.9,
            _log_uniform(rng, 10_800_000, 172_800_000, W),
            _log_uniform(rng, 172_800_000, 518_400_000, W),
        ),
    )
    excess = np.where(later, excess * factor[vis], 0.0)
    # fit each visitor into the window (leaving room for a delivery session) by shrinking the
    # part of the inter-session gaps above 20 minutes
    fixed_v = np.bincount(vis, weights=gap + np.where(later, GAP_MS, 0), minlength=nv)
    excess_v = np.bincount(vis, weights=excess, minlength=nv)
    room_v = 0.95 * plan.window_ms - np.where(deliv, 3 * 86_400_000, 0) - fixed_v
    shrink = np.clip(room_v / np.maximum(excess_v, 1.0), 0.0, 1.0)
    gap[later] = GAP_MS + np.maximum(1, (excess * shrink[vis]).astype(np.int64))[later]
    n_boundary = max(1, round(W * _BOUNDARY_RATE))
    for eligible, value in ((np.flatnonzero(later), GAP_MS), (np.flatnonzero(mid), GAP_MS - 1)):
        if eligible.size:
            chosen = rng.choice(eligible, min(n_boundary, eligible.size), replace=False)
            gap[chosen] = value
    off = _seg_cumsum(gap, gstart)  # system rows have gap 0: the time of the activity before
    off = off + np.where(system, rng.integers(100, 3_000, W), 0)
    last_off = np.maximum.reduceat(off, wstart)

    # ---- delivery (custom) sessions ------------------------------------------------------
    D = int(n_del.sum())
    dvis = np.repeat(np.arange(nv, dtype=np.int64), n_del)
    dstart = (np.cumsum(n_del) - n_del)[dvis]
    dpos = np.arange(D, dtype=np.int64) - dstart
    dgap = np.where(
        dpos == 0,
        (rng.random(D) * last_off[dvis]).astype(np.int64) + _log_uniform(rng, 6e5, 1.44e7, D),
        _log_uniform(rng, 7.2e6, 1.08e8, D),
    )
    doff = _seg_cumsum(dgap, dstart)
    dname = np.where(dpos == 0, _N_PURCHASED, _N_DISPATCHED)
    dproduct = np.where(dpos == 0, rng.integers(0, len(_PRODUCTS), D), -1)
    dqty = rng.choice([1, 2], D, p=[0.85, 0.15])
    dcarrier = np.where(dpos > 0, rng.integers(0, len(_CARRIERS), D), -1)

    span = last_off.copy()
    if D:
        np.maximum.at(span, dvis, doff)
    vstart = (rng.random(nv) * np.maximum(plan.window_ms - span, 0)).astype(np.int64)

    # ---- all base rows: web slots then delivery rows -------------------------------------
    B = W + D
    nothing = np.full(D, -1, dtype=np.int64)
    r_vis = np.concatenate([vis, dvis])
    r_act = np.concatenate([act, np.zeros(D, dtype=np.bool_)])
    r_kind = np.concatenate([kind, np.full(D, _K_CUSTOM, dtype=np.int64)])
    r_name = np.concatenate([name, dname])
    r_t = plan.start_ms + vstart[r_vis] + np.concatenate([off, doff])
    web_i = act.astype(np.int64)
    tot_ev = np.concatenate([np.where(act, _seg_cumsum(web_i, gstart), -1), nothing])
    pv_i = (act & ((kind == _K_PV) | (kind == _K_SEARCH))).astype(np.int64)
    tot_pv = np.concatenate([np.where(act, _seg_cumsum(pv_i, gstart), -1), nothing])
    auth_n = _seg_cumsum(has_traits.astype(np.int64), gstart)
    r_auth = np.concatenate([np.where(act, (auth_n > 0).astype(np.int64), -1), nothing])

    sess_ids = _uuids(rng, n_sess + int(deliv.sum()))
    deliv_rank = np.cumsum(deliv) - 1
    r_sess = np.concatenate([sess, n_sess + deliv_rank[dvis]])
    event_ids = _uuids(rng, B)
    corr = _uuids(rng, B)
    prev_act = _ffill_index(r_act | (np.arange(B) >= W))
    corr_idx = np.where(
        np.concatenate([system, np.zeros(D, np.bool_)]) & (rng.random(B) < 0.5),
        prev_act,
        np.arange(B),
    )
    r_seg = np.where(r_kind == _K_SEG, rng.integers(0, len(_SEGMENTS), B), -1)
    r_out = np.where(r_kind == _K_OUT, rng.integers(0, len(_OUTCOMES), B), -1)
    is_wa = r_kind == _K_ACT
    r_amap = np.where(is_wa, rng.integers(0, len(_ACTION_MAPS), B), -1)
    r_state = np.where(is_wa, rng.choice(len(_ACTION_STATES), B, p=d.state_p), -1)
    action_ids = _uuids(rng, int(is_wa.sum()))
    r_action = np.full(B, -1, dtype=np.int64)
    r_action[is_wa] = np.arange(int(is_wa.sum()))
    r_traits = np.concatenate([np.where(has_traits, vis, -1), nothing])
    r_ctx = np.concatenate([np.where(act, vis, -1), nothing])
    r_page = np.concatenate([np.where(act, page, -1), nothing])
    r_src = np.concatenate([src, nothing])
    r_product = np.concatenate([product, dproduct])
    r_qty = np.concatenate([qty, dqty])

    base = pl.concat(
        [
            pl.DataFrame(
                {
                    "event_id": event_ids,
                    "correlation_id": corr.gather(corr_idx),
                    "customer_id": cookies.gather(r_vis),
                    "customer_id_type": pl.Series(["cookie"]).gather(np.zeros(B, dtype=np.int64)),
                    "source_session_id": sess_ids.gather(r_sess),
                    "source_session_type": _pick(
                        ("web", "delivery"), (np.arange(B) >= W).astype(np.int64), "t"
                    ),
                    "event_type": _pick(_TYPE_BY_CODE, r_kind, "t"),
                    "created_date": pl.Series(r_t)
                    .cast(pl.Datetime("ms", "UTC"))
                    .cast(pl.Datetime("us", "UTC")),
                    "kind": _pick(_KIND_BY_CODE, r_kind, "k"),
                    "event_name": _pick(
                        ("page_viewed", *_CUSTOM_NAMES),
                        np.where(r_kind <= _K_SEARCH, 0, np.where(r_name >= 0, r_name + 1, -1)),
                        "n",
                    ),
                    "authenticated": _pick((False, True), r_auth, "a", pl.Boolean()),
                    "total_event_count": _nullable(tot_ev),
                    "total_pageview_count": _nullable(tot_pv),
                    "segment_id": _pick(_SEGMENTS, r_seg, "s"),
                    "outcome_id": _pick([x[0] for x in _OUTCOMES], r_out, "o"),
                    "outcome_display_name": _pick([x[1] for x in _OUTCOMES], r_out, "o"),
                    "action_id": _take(action_ids.to_frame("a"), r_action).to_series(),
                    "action_state": _pick([x[0] for x in _ACTION_STATES], r_state, "s"),
                    "action_media_type": _pick([x[2] for x in _ACTION_MAPS], r_amap, "m"),
                    "action_map_id": _pick([x[0] for x in _ACTION_MAPS], r_amap, "m"),
                    "action_map_display_name": _pick([x[1] for x in _ACTION_MAPS], r_amap, "m"),
                    "_name": _nullable(r_name),
                    "_qty": pl.Series(r_qty),
                    "_form": _pick(_FORMS, np.concatenate([form, nothing]), "f"),
                    "_video": _pick([v[0] for v in _VIDEOS], np.concatenate([video, nothing]), "v"),
                    "_video_len": _pick(
                        [v[1] for v in _VIDEOS], np.concatenate([video, nothing]), "v"
                    ),
                    "_carrier": _pick(_CARRIERS, np.concatenate([np.full(W, -1), dcarrier]), "c"),
                    "_parcel": pl.Series(np.concatenate([np.zeros(W, np.int64), dpos])),
                    "_order": pl.Series(1_000_000 + v0 + r_vis),
                }
            ),
            _take(vis_ctx, r_ctx),
            _take(d.pages.drop("_product"), r_page),
            _take(d.sources, r_src),
            _take(d.products, r_product),
            _take(vis_id, r_traits),
        ],
        how="horizontal",
    )

    # attributes and traits: list columns assembled from long (row, name, type, value) entries
    is_web = np.concatenate([act, np.ones(D, dtype=np.bool_)])
    order_id = pl.concat_str([pl.lit("ORD-"), pl.col("_order").cast(pl.String)])
    attr_specs: list[tuple[BoolArray, str, str, pl.Expr]] = []
    for codes, fields in _ATTRIBUTE_FIELDS:
        mask = np.isin(r_name, codes)
        for field, data_type, column in fields:
            attr_value = order_id if column == "_order" else pl.col(column)
            attr_specs.append((mask, field, data_type, attr_value))
    r_has_traits = r_traits >= 0
    r_has_phone = np.zeros(B, dtype=np.bool_)
    r_has_phone[r_has_traits] = has_phone[r_traits[r_has_traits]]
    trait_specs: list[tuple[BoolArray, str, str, pl.Expr]] = [
        (r_has_traits, "email", "string", pl.col("_email")),
        (r_has_traits, "givenName", "string", pl.col("_given")),
        (r_has_traits, "familyName", "string", pl.col("_family")),
        (r_has_phone, "cellPhone", "string", pl.col("_phone")),
    ]
    click = pl.when(pl.col("_click_prefix").is_not_null()).then(
        pl.concat_str(
            [
                pl.col("_click_prefix"),
                pl.col("source_session_id").str.replace_all("-", "", literal=True).str.slice(0, 20),
            ]
        )
    )
    frame = base.with_columns(
        attributes=_kv_lists(base, attr_specs, is_web),
        traits=_kv_lists(base, trait_specs, is_web),
        mkt_campaign_click_id=click,
        # custom events keep the page they happened on but are not searches
        search_query=pl.when(pl.col("kind") == KIND_SEARCH).then(pl.col("search_query")),
    ).select([pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items()])

    # ---- redeliveries and row order -------------------------------------------------------
    dup_vis = np.repeat(np.arange(nv, dtype=np.int64), n_dup)
    j = (rng.random(dup_vis.size) * (n_web + n_del)[dup_vis]).astype(np.int64)
    del_first = W + np.cumsum(n_del) - n_del
    dup_src = np.where(
        j < n_web[dup_vis], wstart[dup_vis] + j, del_first[dup_vis] + j - n_web[dup_vis]
    )
    rows = np.concatenate([np.arange(B, dtype=np.int64), dup_src])
    if o.shuffle:
        rows = rows[rng.permutation(rows.size)]
    else:
        rows = rows[np.lexsort((r_t[rows], r_vis[rows]))]
    return frame[rows]


# --------------------------------------------------------------------------------------------
# Public generator API
# --------------------------------------------------------------------------------------------


def _options(n_events: int, **kwargs: Any) -> SynthOptions:
    return replace(SynthOptions(n_events=n_events), **kwargs)


def iter_flat_chunks(
    n_events: int,
    *,
    seed: int = 7,
    chunk_size: int = 5_000_000,
    start: datetime = DEFAULT_START,
    days: int = 14,
    visitors: int | None = None,
    duplicate_rate: float = 0.01,
    shuffle: bool = True,
    custom_session_rate: float = 0.02,
    identified_rate: float = 0.2,
    system_rate: float = 0.04,
) -> Iterator[pl.DataFrame]:
    """Yield the rows of `generate_flat(...)` (same arguments) as frames of about `chunk_size`
    rows (whole blocks of visitors; a visitor never straddles two chunks)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    o = _options(
        n_events,
        seed=seed,
        start=start,
        days=days,
        visitors=visitors,
        duplicate_rate=duplicate_rate,
        shuffle=shuffle,
        custom_session_rate=custom_session_rate,
        identified_rate=identified_rate,
        system_rate=system_rate,
    )
    plan = _plan(o)
    pending: list[pl.DataFrame] = []
    rows = 0
    for block_no in range(len(plan.blocks)):
        frame = _gen_block(o, plan, block_no)
        pending.append(frame)
        rows += frame.height
        if rows >= chunk_size:
            yield pl.concat(pending, rechunk=True)
            pending, rows = [], 0
    if pending:
        yield pl.concat(pending, rechunk=True)


def generate_flat(
    n_events: int,
    *,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    days: int = 14,
    visitors: int | None = None,
    duplicate_rate: float = 0.01,
    shuffle: bool = True,
    custom_session_rate: float = 0.02,
    identified_rate: float = 0.2,
    system_rate: float = 0.04,
) -> pl.DataFrame:
    """Exactly `n_events` synthetic events (redeliveries included) with the columns and dtypes
    of `jtrack.schema.EVENT_SCHEMA`, over `days` days from `start`, deterministic in `seed`."""
    chunks = list(
        iter_flat_chunks(
            n_events,
            seed=seed,
            chunk_size=max(n_events, 1),
            start=start,
            days=days,
            visitors=visitors,
            duplicate_rate=duplicate_rate,
            shuffle=shuffle,
            custom_session_rate=custom_session_rate,
            identified_rate=identified_rate,
            system_rate=system_rate,
        )
    )
    if not chunks:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.concat(chunks, rechunk=True)


def write_flat_parquet(
    path: str | Path,
    n_events: int,
    *,
    seed: int = 7,
    chunk_size: int = 2_000_000,
    compression: str = "zstd",
    **options: Any,
) -> int:
    """Write `generate_flat(n_events, seed=seed, **options)` to one Parquet file, chunk by
    chunk (memory bounded by `chunk_size`). Returns the number of rows written."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pl.DataFrame(schema=EVENT_SCHEMA).to_arrow().schema
    written = 0
    with pq.ParquetWriter(str(path), schema, compression=compression) as writer:
        for chunk in iter_flat_chunks(n_events, seed=seed, chunk_size=chunk_size, **options):
            table = chunk.to_arrow()
            if table.schema != schema:
                table = table.cast(schema)
            writer.write_table(table, row_group_size=1_000_000)
            written += chunk.height
    return written


# --------------------------------------------------------------------------------------------
# Flat rows -> Genesys event JSON
# --------------------------------------------------------------------------------------------
#
# Rows are grouped by their shape: which fields are present (non-null) and the event type.
# Each shape gets a static template, so a row's line is one concat_str of its present values
# and the literal JSON text between them (keys, quotes, braces, commas). Absent fields and
# empty objects are therefore omitted, as real exports omit them, with no per-row branching.
# The object tree comes from the `genesys` paths of jtrack.schema.EVENT_FIELDS. String values
# are JSON-escaped only in the columns where some value needs it.

_ESC_FROM = ["\\", '"', *(chr(i) for i in range(32))]
_ESC_TO = [
    "\\\\",
    '\\"',
    *(
        {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(i, f"\\u{i:04x}")
        for i in range(32)
    ),
]
_KIND_TO_TYPE = {
    KIND_PAGE_VIEW: "WebEvent",
    KIND_SEARCH: "WebEvent",
    KIND_CUSTOM: "WebEvent",
    KIND_APP: "AppEvent",
    KIND_SEGMENT: "SegmentAssignmentEvent",
    KIND_OUTCOME: "OutcomeAchievedEvent",
    KIND_WEB_ACTION: "WebActionEvent",
}
#: payload object (first segment of the schema's Genesys paths) -> (short event type, object
#: name) pairs that carry it; app events reuse the webEvent fields under "appEvent".
_PAYLOADS: dict[str, tuple[tuple[str, str], ...]] = {
    "webEvent": (("WebEvent", "webEvent"), ("AppEvent", "appEvent")),
    "segmentAssignmentEvent": (("SegmentAssignmentEvent", "segmentAssignmentEvent"),),
    "outcomeAchievedEvent": (("OutcomeAchievedEvent", "outcomeAchievedEvent"),),
    "webActionEvent": (("WebActionEvent", "webActionEvent"),),
}
_SHORT = "__short"
_LONG = "__event_type"
_CREATED = "__created"


@dataclass
class _Node:
    """A JSON object: its fields in order (a leaf is (column, dtype)); a payload object also
    lists the event types that carry it, with the object's name for each."""

    fields: dict[str, _Node | tuple[str, pl.DataType]]
    carriers: tuple[tuple[str, str], ...] = ()


def _genesys_tree() -> _Node:
    root = _Node({})
    for f in EVENT_FIELDS:
        if not f.genesys:
            continue
        *parents, leaf = f.genesys.split(".")
        node = root
        for p in parents:
            child = node.fields.setdefault(p, _Node({}))
            assert isinstance(child, _Node)
            node = child
        node.fields[leaf] = (f.name, f.dtype)
    root.fields["eventType"] = (_LONG, pl.String())
    root.fields["createdDate"] = (_CREATED, pl.String())
    for name, carriers in _PAYLOADS.items():
        payload = root.fields.get(name)
        if isinstance(payload, _Node):
            payload.carriers = carriers
    order = ["id", "correlationId", "customerId", "customerIdType", "session", "eventType"]
    order += ["createdDate"]
    order += [k for k in root.fields if k not in order and k not in _PAYLOADS]
    order += list(_PAYLOADS)
    root.fields = {k: root.fields[k] for k in order if k in root.fields}
    return root


def _esc(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.String).str.replace_many(_ESC_FROM, _ESC_TO)


def _js(e: pl.Expr) -> pl.Expr:
    """A JSON string literal (null stays null)."""
    return pl.concat_str([pl.lit('"'), _esc(e), pl.lit('"')])


def _jobj(fields: Sequence[tuple[str, pl.Expr]], empty: str | None = None) -> pl.Expr:
    """A JSON object of the non-null (already JSON) fields; `empty` when all are null."""
    frags = [pl.concat_str([pl.lit(f'"{key}":'), value]) for key, value in fields]
    obj = pl.concat_str(
        [pl.lit("{"), pl.concat_str(frags, separator=",", ignore_nulls=True), pl.lit("}")]
    )
    present = pl.any_horizontal([value.is_not_null() for _, value in fields])
    return pl.when(present).then(obj).otherwise(pl.lit(empty, dtype=pl.String))


def _jmap(e: pl.Expr) -> pl.Expr:
    """A list of {name, data_type, value} structs as a Genesys {name: {dataType, value}} map."""
    el = pl.element()
    entry = pl.concat_str(
        [
            _js(el.struct.field("name")),
            pl.lit(":"),
            _jobj(
                [
                    ("dataType", _js(el.struct.field("data_type"))),
                    ("value", _js(el.struct.field("value"))),
                ],
                empty="{}",
            ),
        ]
    )
    body = e.list.eval(entry).list.join(",", ignore_nulls=True)
    return pl.concat_str([pl.lit("{"), body, pl.lit("}")])


def _columns_to_escape(frame: pl.DataFrame) -> set[str]:
    """The String columns holding a quote, a backslash or a control character somewhere
    (the others go into the JSON text as they are)."""
    names = [c for c, t in frame.schema.items() if t == pl.String]
    if not names:
        return set()
    flags = frame.select(
        [pl.col(c).str.contains_any(_ESC_FROM).fill_null(False).any() for c in names]
    )
    return {c for c, flag in zip(names, flags.row(0), strict=True) if flag}


def _short_type() -> pl.Expr:
    return pl.coalesce(
        pl.col("event_type").str.strip_prefix(EVENT_TYPE_PREFIX),
        pl.col("kind").replace_strict(_KIND_TO_TYPE, default=None, return_dtype=pl.String),
    )


@dataclass(frozen=True)
class _Leaf:
    col: str
    dtype: pl.DataType
    payload: str | None  # the payload object holding it, if any


def _leaves(node: _Node, payload: str | None = None) -> list[_Leaf]:
    out: list[_Leaf] = []
    for key, child in node.fields.items():
        if isinstance(child, _Node):
            out += _leaves(child, key if child.carriers else payload)
        else:
            out.append(_Leaf(child[0], child[1], payload))
    return out


def _template(
    node: _Node, present: set[str], short: str | None, escape: set[str]
) -> list[str | pl.Expr]:
    """The pieces of one JSON object for rows where exactly the `present` columns are set and
    the event type is `short` (literal text and value expressions), or [] if it is empty."""
    pieces: list[str | pl.Expr] = []
    for key, child in node.fields.items():
        if isinstance(child, _Node):
            name = key
            if child.carriers:
                names = [n for t, n in child.carriers if t == short]
                if not names:
                    continue
                name = names[0]
            inner = _template(child, present, short, escape)
            if not inner and not child.carriers:
                continue
            pieces += [f'"{name}":{{', *inner, "}", ","]
            continue
        col, dtype = child
        c = pl.col(col)
        if dtype == KV_LIST:
            if not any(short == t for t, _ in _PAYLOADS["webEvent"]):
                continue
            pieces += [f'"{key}":', _jmap(c).fill_null("{}"), ","]
        elif col not in present:
            continue
        elif dtype == pl.Boolean:
            value = pl.when(c).then(pl.lit("true")).otherwise(pl.lit("false"))
            pieces += [f'"{key}":', value, ","]
        elif dtype.is_integer() or dtype.is_float():
            pieces += [f'"{key}":', c.cast(pl.String), ","]
        else:
            pieces += [f'"{key}":"', _esc(c) if col in escape else c, '",']
    if pieces:  # drop the trailing comma
        last = pieces[-1]
        assert isinstance(last, str)
        pieces[-1] = last[:-1]
    return [p for p in pieces if not (isinstance(p, str) and p == "")]


def _line_expr(pieces: Sequence[str | pl.Expr]) -> pl.Expr:
    parts: list[pl.Expr] = []
    text = ""
    for p in pieces:
        if isinstance(p, str):
            text += p
        else:
            if text:
                parts.append(pl.lit(text))
            parts.append(p)
            text = ""
    if text:
        parts.append(pl.lit(text))
    return pl.concat_str(parts)


_SHORT_CODES = (
    "",
    "WebEvent",
    "AppEvent",
    "SegmentAssignmentEvent",
    "OutcomeAchievedEvent",
    "WebActionEvent",
)


def _genesys_json(frame: pl.DataFrame, newline: bool = False) -> pl.Series:
    """The Genesys event object text of each row of `frame` (conformed flat events).

    Rows are grouped by their shape (which fields are present, and the event type); each
    shape gets a static template, so a line is one concat_str of its present values and the
    literal text between them (absent fields are omitted, as in real exports)."""
    if frame.height == 0:
        return pl.Series("json", [], dtype=pl.String)
    escape = _columns_to_escape(frame)
    tree = _genesys_tree()
    leaves = [leaf for leaf in _leaves(tree) if leaf.dtype != KV_LIST]
    flags = [
        (pl.col(leaf.col).is_finite() if leaf.dtype.is_float() else pl.col(leaf.col).is_not_null())
        .fill_null(False)
        .cast(pl.UInt64)
        for leaf in leaves
    ]
    words = [
        pl.sum_horizontal([f * (1 << (i % 64)) for i, f in enumerate(flags) if i // 64 == w])
        .cast(pl.UInt64)
        .alias(f"__k{w}")
        for w in range((len(flags) + 63) // 64)
    ]
    code = (
        pl.col(_SHORT)
        .replace_strict(
            {t: i for i, t in enumerate(_SHORT_CODES) if t}, default=0, return_dtype=pl.UInt8
        )
        .alias("__code")
    )
    keyed = frame.with_row_index("__row").with_columns(*words, code)
    key_cols = [*(w.meta.output_name() for w in words), "__code"]
    lazies: list[pl.LazyFrame] = []
    for key, part in keyed.partition_by(key_cols, as_dict=True, maintain_order=False).items():
        *bits, short_code = (int(k) for k in key)
        present = {leaf.col for i, leaf in enumerate(leaves) if (bits[i // 64] >> (i % 64)) & 1}
        short = _SHORT_CODES[short_code] or None
        pieces = ["{", *_template(tree, present, short, escape), "}\n" if newline else "}"]
        lazies.append(part.lazy().select("__row", _line_expr(pieces).alias("json")))
    lines = pl.concat(pl.collect_all(lazies, engine="streaming")).sort("__row")
    return lines["json"]


def _conform(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Add missing EVENT_SCHEMA columns as nulls, the short and long event type and the
    createdDate text, and clear payload columns on rows whose event type does not carry that
    payload."""
    lf = df.lazy()
    schema = lf.collect_schema()
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in EVENT_SCHEMA.items() if c not in schema]
    if missing:
        lf = lf.with_columns(missing)
    created = pl.col("created_date")
    dtype = schema.get("created_date")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        created = created.dt.replace_time_zone("UTC")
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone != "UTC":
        created = created.dt.convert_time_zone("UTC")
    lf = lf.with_columns(
        _short_type().alias(_SHORT),
        created.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(_CREATED),
    ).with_columns(pl.concat_str([pl.lit(EVENT_TYPE_PREFIX), pl.col(_SHORT)]).alias(_LONG))
    frame = lf.collect(engine="in-memory")
    groups: dict[str, list[str]] = {root: [] for root in _PAYLOADS}
    for f in EVENT_FIELDS:
        root = f.genesys.split(".", 1)[0]
        if root in groups:
            groups[root].append(f.name)
    carried = {root: [t for t, _ in carriers] for root, carriers in _PAYLOADS.items()}
    stray = [
        (
            pl.any_horizontal([pl.col(c).is_not_null() for c in cols])
            & ~pl.col(_SHORT).is_in(carried[root]).fill_null(False)
        )
        .any()
        .alias(root)
        for root, cols in groups.items()
    ]
    found = frame.select(stray).row(0, named=True)
    fixes = [
        pl.when(pl.col(_SHORT).is_in(carried[root])).then(pl.col(c)).alias(c)
        for root, cols in groups.items()
        if found[root]
        for c in cols
    ]
    return frame.with_columns(fixes) if fixes else frame


def genesys_lines(df: pl.DataFrame | pl.LazyFrame) -> pl.Series:
    """The rows of a flat event frame as Genesys event JSON text (one String per row, row
    order kept), shaped like the objects of a Genesys export: the envelope (`id`,
    `correlationId`, `customerId`, `customerIdType`, `session {id, type}`, `eventType` in its
    long form, `createdDate` as ISO-8601 with milliseconds and `Z`) and one payload object
    (`webEvent`, `segmentAssignmentEvent`, `outcomeAchievedEvent`, `webActionEvent`; app events
    get `appEvent`). Null fields and empty objects are omitted; web events always carry
    `attributes` and `traits` (possibly `{}`). Columns absent from the frame count as null."""
    return _genesys_json(_conform(df))


def _write_lines(lines: pl.Series, out: IO[bytes]) -> None:
    """Write lines that already end in a newline, as they are."""
    lines.to_frame("json").write_csv(
        out, include_header=False, quote_style="never", line_terminator=""
    )


def _ndjson_lines(df: pl.DataFrame | pl.LazyFrame) -> pl.Series:
    return _genesys_json(_conform(df), newline=True)


def to_genesys_ndjson(df: pl.DataFrame | pl.LazyFrame, path: str | Path) -> int:
    """Write flat event rows to `path` as Genesys-shaped NDJSON (one event per line, in row
    order; see `genesys_lines`). Returns the number of lines written."""
    lines = _ndjson_lines(df)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        _write_lines(lines, out)
    return lines.len()


def write_genesys_ndjson(
    path: str | Path, n_events: int, *, seed: int = 7, chunk_size: int = 1_000_000, **options: Any
) -> int:
    """Write `generate_flat(n_events, seed=seed, **options)` as Genesys NDJSON, chunk by chunk.
    Returns the number of lines written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as out:
        for chunk in iter_flat_chunks(n_events, seed=seed, chunk_size=chunk_size, **options):
            _write_lines(_ndjson_lines(chunk), out)
            written += chunk.height
    return written


# --------------------------------------------------------------------------------------------
# The committed sample export
# --------------------------------------------------------------------------------------------

SAMPLE_EVENTS = 4_000
SAMPLE_VISITORS = 300
SAMPLE_SEED = 7


def _human_phone(e164: str, style: int) -> str:
    """An E.164 number written the way people type it (still parseable with its +CC)."""
    if e164.startswith("+1") and len(e164) == 12:
        a, b, c = e164[2:5], e164[5:8], e164[8:]
        return (f"+1 ({a}) {b}-{c}", f"+1 {a}-{b}-{c}", f"+1.{a}.{b}.{c}", e164)[style % 4]
    if e164.startswith("+44"):
        rest = e164[3:]
        return (
            f"+44 {rest[:4]} {rest[4:]}",
            f"+44 (0){rest[:4]} {rest[4:]}",
            f"+44-{rest[:4]}-{rest[4:7]}-{rest[7:]}",
            e164,
        )[style % 4]
    for cc in ("+353", "+49", "+33", "+31", "+34", "+61", "+46"):
        if e164.startswith(cc):
            rest = e164[len(cc) :]
            groups = " ".join(rest[i : i + 3] for i in range(0, len(rest), 3))
            return (f"{cc} {groups}", f"{cc}{rest}", f"{cc} {rest[:3]} {rest[3:]}", f"{cc}-{rest}")[
                style % 4
            ]
    return e164


def _identities(events: pl.DataFrame) -> pl.DataFrame:
    """customer_id, email, given, family, phone from the first traits of each cookie."""
    traits = (
        events.filter(pl.col("traits").list.len() > 0)
        .sort("created_date", "event_id")
        .unique("customer_id", keep="first", maintain_order=True)
        .select("customer_id", "traits")
        .explode("traits")
        .select(
            "customer_id",
            pl.col("traits").struct.field("name"),
            pl.col("traits").struct.field("value"),
        )
    )
    wide = traits.pivot(on="name", index="customer_id", values="value")
    for col in ("email", "givenName", "familyName", "cellPhone"):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    return wide.select("customer_id", "email", "givenName", "familyName", "cellPhone").sort(
        "customer_id"
    )


def sample_contacts(events: pl.DataFrame, *, seed: int = SAMPLE_SEED) -> pl.DataFrame:
    """About 40 saved contacts for a sample export: matched by cookie, by email only, by phone
    only, one owning two cookies (cross-device), agent-saved visitors without traits, and a few
    with no web activity. Multiple values are joined with `;`; phones are in mixed human
    formats (all valid numbers with a country code)."""
    rng = np.random.default_rng([seed, 99])
    ids = _identities(events)
    with_phone = ids.filter(pl.col("cellPhone").is_not_null())
    without_phone = ids.filter(pl.col("cellPhone").is_null())
    identified = set(ids["customer_id"].to_list())
    anonymous = sorted(set(events["customer_id"].unique().to_list()) - identified)

    phone_rows = with_phone.rows(named=True)
    plain_rows = without_phone.rows(named=True)
    order = rng.permutation(len(phone_rows)).tolist()
    phone_rows = [phone_rows[i] for i in order]
    anon = [anonymous[i] for i in rng.permutation(len(anonymous)).tolist()]

    contacts: list[dict[str, str | None]] = []
    style = 0

    def add(
        first: str,
        last: str,
        emails: Sequence[str] = (),
        phones: Sequence[str] = (),
        cookies: Sequence[str] = (),
        external: Sequence[str] = (),
    ) -> None:
        nonlocal style
        human = []
        for p in phones:
            human.append(_human_phone(p, style))
            style += 1
        contacts.append(
            {
                "contact_id": f"C{len(contacts) + 1:04d}",
                "first_name": first,
                "last_name": last,
                "emails": ";".join(emails) or None,
                "phones": ";".join(human) or None,
                "cookie_ids": ";".join(cookies) or None,
                "external_ids": ";".join(external) or None,
            }
        )

    def take(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        got = rows[:n]
        del rows[:n]
        return got

    # matched by cookie (and also carrying the trait email/phone)
    for i, r in enumerate(take(phone_rows, 8)):
        add(
            r["givenName"],
            r["familyName"],
            [r["email"]],
            [r["cellPhone"]],
            [r["customer_id"]],
            [f"CRM-{100200 + i}"] if i % 3 == 0 else [],
        )
    # matched by email only
    for r in take(phone_rows, 5) + take(plain_rows, 6):
        add(r["givenName"], r["familyName"], [r["email"]])
    # matched by phone only
    for r in take(phone_rows, 7):
        add(r["givenName"], r["familyName"], phones=[r["cellPhone"]])
    # several emails, one matching
    for r in take(phone_rows, 2):
        slug = r["email"].split("@")[0]
        add(
            r["givenName"],
            r["familyName"],
            [f"{slug}@work.example.com", r["email"]],
            [r["cellPhone"]],
        )
    # one contact owning two cookies: an identified laptop and an anonymous phone
    for r in take(phone_rows, 1):
        add(
            r["givenName"],
            r["familyName"],
            [r["email"]],
            [r["cellPhone"]],
            [r["customer_id"], anon.pop(0)],
            ["CRM-100900"],
        )
    # saved by an agent from an anonymous visit: cookie only
    saved = (
        ("Maya", "Lindgren"),
        ("Omar", "Haddad"),
        ("Nina", "Petrova"),
        ("Felix", "Wagner"),
        ("Clara", "Rossi"),
        ("Hugo", "Martin"),
    )
    for (first, last), cookie in zip(saved, anon[:6], strict=False):
        add(first, last, [f"{first.lower()}.{last.lower()}@example.com"], cookies=[cookie])
    # no web activity at all
    offline = (
        ("Beatrix", "Kiddo", "+447400555123"),
        ("Arthur", "Dent", "+16175550142"),
        ("Ford", "Prefect", "+4915123456789"),
        ("Tricia", "McMillan", "+33612345678"),
    )
    for i, (first, last, phone) in enumerate(offline):
        add(
            first,
            last,
            [f"{first.lower()}.{last.lower()}@example.net"],
            [phone],
            external=[f"CRM-{100700 + i}"],
        )
    return pl.DataFrame(
        contacts,
        schema={
            c: pl.String()
            for c in (
                "contact_id",
                "first_name",
                "last_name",
                "emails",
                "phones",
                "cookie_ids",
                "external_ids",
            )
        },
    )


def write_sample(
    directory: str | Path,
    *,
    seed: int = SAMPLE_SEED,
    n_events: int = SAMPLE_EVENTS,
    visitors: int = SAMPLE_VISITORS,
) -> dict[str, int]:
    """Write the demo export to `directory`: events.jsonl (Genesys shape), events.parquet
    (flat; the same rows in the same order) and contacts.csv. Returns counts for a summary."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    events = generate_flat(n_events, seed=seed, visitors=visitors)
    events.write_parquet(directory / "events.parquet", compression="zstd")
    to_genesys_ndjson(events, directory / "events.jsonl")
    contacts = sample_contacts(events, seed=seed)
    contacts.write_csv(directory / "contacts.csv")
    return {
        "events": events.height,
        "distinct_events": events["event_id"].n_unique(),
        "visitors": events["customer_id"].n_unique(),
        "contacts": contacts.height,
    }


# --------------------------------------------------------------------------------------------
# python -m jtrack.synth
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jtrack.synth", description="Generate synthetic tracking events."
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


if __name__ == "__main__":
    raise SystemExit(main())
