"""The committed sample export (sample_data/): events and a contacts file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .generator import generate_flat
from .genesys import to_genesys_ndjson
from .tables import OFFLINE_CONTACTS, SAVED_CONTACTS

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
    for (first, last), cookie in zip(SAVED_CONTACTS, anon[:6], strict=False):
        add(first, last, [f"{first.lower()}.{last.lower()}@example.com"], cookies=[cookie])
    # no web activity at all
    for i, (first, last, phone) in enumerate(OFFLINE_CONTACTS):
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
