"""The generator's dimension tables, read from the JSON files in data/ beside this module.

- site.json: the shop (host, products, other pages with their weights, search terms, forms,
  videos, parcel carriers);
- devices.json, geos.json, sources.json: one row per device, location and traffic source, keyed
  by the flat column they fill (`jtrack.schema.EVENT_SCHEMA` names), plus `weight` (relative
  frequency). Keys without an EVENT_SCHEMA column feed helper columns: `ip_prefix`,
  `phone_prefix`, `phone_digits`, `phone_base`, `phone_span`, `click_prefix`;
- engagement.json: segments, outcomes, action maps and web-action states (with weights);
- people.json: given and family names (with the ASCII slug used in e-mail addresses), mail
  domains, and the fixed contacts of the committed sample export.

Changing a table changes the generated data: regenerate sample_data/ (see its README).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import numpy.typing as npt
import polars as pl

IntArray = npt.NDArray[np.int64]

DATA = Path(__file__).resolve().parent / "data"


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


_site = _load("site.json")
_engagement = _load("engagement.json")
_people = _load("people.json")

HOST: str = _site["host"]
DOMAIN: str = _site["domain"]
SITE = f"https://{HOST}"

#: (productId, name, price, path)
PRODUCTS: tuple[tuple[str, str, str, str], ...] = tuple(
    (p["id"], p["name"], p["price"], p["path"]) for p in _site["products"]
)
#: (path, query string, fragment, title, weight)
OTHER_PAGES: tuple[tuple[str, str | None, str | None, str, float], ...] = tuple(
    (p["path"], p["query_string"], p["fragment"], p["title"], p["weight"]) for p in _site["pages"]
)
PRODUCT_PAGE_WEIGHT: float = _site["product_page_weight"]
SEARCH_TERMS: tuple[str, ...] = tuple(_site["search_terms"])
FORMS: tuple[str, ...] = tuple(_site["forms"])
#: (videoId, durationSeconds)
VIDEOS: tuple[tuple[str, str], ...] = tuple(
    (v["id"], v["duration_seconds"]) for v in _site["videos"]
)
CARRIERS: tuple[str, ...] = tuple(_site["carriers"])

DEVICES: tuple[dict[str, Any], ...] = tuple(_load("devices.json"))
GEOS: tuple[dict[str, Any], ...] = tuple(_load("geos.json"))
SOURCES: tuple[dict[str, Any], ...] = tuple(_load("sources.json"))

SEGMENTS: tuple[str, ...] = tuple(_engagement["segments"])
#: (outcome id, display name)
OUTCOMES: tuple[tuple[str, str], ...] = tuple(
    (o["id"], o["display_name"]) for o in _engagement["outcomes"]
)
#: (actionMap id, displayName, mediaType)
ACTION_MAPS: tuple[tuple[str, str, str], ...] = tuple(
    (a["id"], a["display_name"], a["media_type"]) for a in _engagement["action_maps"]
)
#: (state, weight)
ACTION_STATES: tuple[tuple[str, float], ...] = tuple(
    (s["state"], s["weight"]) for s in _engagement["action_states"]
)

#: (name, slug)
GIVEN: tuple[tuple[str, str], ...] = tuple((g["name"], g["slug"]) for g in _people["given_names"])
FAMILY: tuple[tuple[str, str], ...] = tuple((f["name"], f["slug"]) for f in _people["family_names"])
MAIL_DOMAINS: tuple[str, ...] = tuple(_people["mail_domains"])
#: (first name, last name) of contacts saved by an agent from an anonymous visit
SAVED_CONTACTS: tuple[tuple[str, str], ...] = tuple(
    (c["first_name"], c["last_name"]) for c in _people["saved_contacts"]
)
#: (first name, last name, E.164 phone) of contacts with no web activity
OFFLINE_CONTACTS: tuple[tuple[str, str, str], ...] = tuple(
    (c["first_name"], c["last_name"], c["phone"]) for c in _people["offline_contacts"]
)

_DEVICE_SCHEMA = {
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
}
_GEO_SCHEMA = {
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
}
_SOURCE_SCHEMA = {
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


def _frame(rows: tuple[dict[str, Any], ...], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A table's rows as a frame; a helper column `_x` is read from the key `x`."""
    return pl.DataFrame(
        [[row[c.removeprefix("_")] for c in schema] for row in rows], orient="row", schema=schema
    )


@dataclass(frozen=True)
class Dims:
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


def norm(weights: Any) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


@functools.cache
def dims() -> Dims:
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
        url = SITE + path + (f"?{qs}" if qs else "") + (f"#{frag}" if frag else "")
        return {
            "page_url": url,
            "page_title": title,
            "page_domain": DOMAIN,
            "page_hostname": HOST,
            "page_pathname": path,
            "page_query_string": qs,
            "page_fragment": frag,
            "page_keywords": None,
            "page_lang": None,
            "search_query": search,
            "_product": product,
        }

    for path, qs, frag, title, w in OTHER_PAGES:
        page_rows.append(page(path, qs, frag, title, -1))
        weights.append(w)
    for i, (_pid, name, _price, path) in enumerate(PRODUCTS):
        page_rows.append(page(path, None, None, f"{name} | Example Shop", i))
        weights.append(PRODUCT_PAGE_WEIGHT)
    page_rows.append(page(PRODUCTS[0][3], None, "reviews", f"{PRODUCTS[0][1]} | Example Shop", 0))
    weights.append(0.8)
    n_pages = len(page_rows)
    for term in SEARCH_TERMS:
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
        {"_product_id": [p[0] for p in PRODUCTS], "_price": [p[2] for p in PRODUCTS]}
    )
    return Dims(
        pages=pages,
        page_p=norm(weights),
        n_pages=n_pages,
        page_product=pages["_product"].to_numpy().astype(np.int64),
        products=products,
        devices=_frame(DEVICES, _DEVICE_SCHEMA),
        device_p=norm([d["weight"] for d in DEVICES]),
        geos=_frame(GEOS, _GEO_SCHEMA),
        geo_p=norm([g["weight"] for g in GEOS]),
        sources=_frame(SOURCES, _SOURCE_SCHEMA),
        source_p=norm([s["weight"] for s in SOURCES]),
        state_p=norm([s[1] for s in ACTION_STATES]),
    )
