"""Builders shared by the rules tests (no tests here): events, stores and rules in a line."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from jtrack.core.rules import RuleResults, Rules, evaluate, parse_rules
from jtrack.core.sessionize import sessionize
from jtrack.schema import KIND_CUSTOM, KIND_PAGE_VIEW, KIND_SEARCH
from tests.helpers import T0, flat_event, flat_frame

EVENT = '{{ field = "eventName", operator = "equal", values = ["{}"] }}'


def ev(
    eid: str,
    at_s: float,
    name: str = "page_viewed",
    *,
    customer: str = "c1",
    path: str | None = None,
    attrs: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One flat event `at_s` seconds after T0; custom unless a page view or a search."""
    kind = KIND_PAGE_VIEW if name == "page_viewed" else KIND_CUSTOM
    if extra.get("search_query"):
        kind = KIND_SEARCH
    row = flat_event(eid, customer, T0 + timedelta(seconds=at_s), event_name=name, kind=kind)
    if path is not None:
        row.update(page_url=f"https://shop.example{path}", page_pathname=path)
    row["attributes"] = [
        {"name": k, "data_type": "string", "value": v} for k, v in (attrs or {}).items()
    ]
    row.update(extra)
    return row


def frames(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stored events and the session table for these events (sessionized)."""
    s = sessionize(flat_frame(rows))
    return s.events, s.sessions


def rules_of(text: str) -> Rules:
    return parse_rules(textwrap.dedent(text), "test.toml")


def run(rows: list[dict[str, Any]], text: str) -> RuleResults:
    events, sessions = frames(rows)
    return evaluate(events, sessions, rules_of(text))


def own(frame: pl.DataFrame) -> pl.DataFrame:
    """jtrack's own rows of a segments/outcomes frame."""
    return frame.filter(pl.col("source") == "rules")


def matched(res: RuleResults) -> dict[str, str]:
    """segment id -> event id where jtrack matched it (single-session tests)."""
    rows = own(res.segments)
    return dict(zip(rows["segment_id"].to_list(), rows["event_id"].to_list(), strict=True))


def achieved(res: RuleResults) -> dict[str, str]:
    rows = own(res.outcomes)
    return dict(zip(rows["outcome_id"].to_list(), rows["event_id"].to_list(), strict=True))


def map_rows(res: RuleResults) -> list[tuple[str, str, str, str | None]]:
    """(action map id, status, event id, reason), in frame order."""
    return [
        (r["action_map_id"], r["status"], r["event_id"], r["reason"])
        for r in res.action_maps.iter_rows(named=True)
    ]


def write_rules(directory: Path, text: str, name: str = "jtrack.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
