"""Small builders for test events in the flat and Genesys shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from jtrack.schema import EVENT_SCHEMA

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


def flat_event(event_id: str, customer: str, at: datetime, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in EVENT_SCHEMA}
    row.update(
        event_id=event_id,
        customer_id=customer,
        created_date=at,
        event_type="WebEvent",
        event_name="page_viewed",
        kind="page_view",
        customer_id_type="cookie",
        source_session_type="web",
        page_url=f"https://shop.example/{event_id}",
        page_title=f"Page {event_id}",
        attributes=[],
        traits=[],
    )
    row.update(extra)
    return row


def flat_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def genesys_line(event_id: str, customer: str, at: datetime | str | int, **web: Any) -> str:
    created = (
        at if not isinstance(at, datetime) else (at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    )
    ev: dict[str, Any] = {
        "id": event_id,
        "customerId": customer,
        "customerIdType": "cookie",
        "session": {"id": "s-" + customer, "type": "web"},
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": created,
        "webEvent": {
            "eventName": "page_viewed",
            "page": {"url": f"https://shop.example/{event_id}", "title": f"Page {event_id}"},
            **web,
        },
    }
    return json.dumps(ev)


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)
