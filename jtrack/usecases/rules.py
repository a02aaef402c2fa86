"""Evaluate rules over a jtrack store, cheaply for a few sessions. Imports Polars only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from jtrack.core.rules.evaluate import RuleResults, evaluate
from jtrack.core.rules.explain import explain_session
from jtrack.core.rules.load import RulesLike, as_rules
from jtrack.core.rules.model import Rules
from jtrack.store import Store
from jtrack.store.store import StoreLike, as_store
from jtrack.usecases.traffic import DEFAULT_TRAFFIC, check_traffic, is_all, traffic_expr


def _visitor_events(store: Store, session_ids: list[str]) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """The events of the visitors owning `session_ids` (one bucket when they share one
    visitor) and those sessions' rows of the session table."""
    sessions = store.scan_sessions().filter(pl.col("id").is_in(session_ids)).collect()
    customers = sorted(set(sessions.get_column("customer_id").drop_nulls().to_list()))
    if len(customers) == 1:
        events = store.scan_events(customer_id=customers[0])
    else:
        events = store.scan_events().filter(pl.col("customer_id").is_in(customers))
    return events, sessions


def evaluate_store(
    store: StoreLike,
    rules: RulesLike | None,
    session_ids: Sequence[str] | None = None,
    traffic: Sequence[str] | str = DEFAULT_TRAFFIC,
) -> RuleResults:
    """Evaluate `rules` over the store's sessions of the `traffic` classes (people only
    unless told otherwise, as `jtrack rules report`; "all" or a list of classes, see
    jtrack.usecases.traffic), or over the sessions `session_ids` (ids or unique prefixes, as
    `jtrack card` takes them; NotFoundError or AmbiguousIdError otherwise), whatever their
    class.

    With session ids the store is read only for their visitors (one bucket when they share
    one visitor), so a card can call this for one session cheaply.
    """
    store = as_store(store)
    rules = as_rules(rules)
    if isinstance(session_ids, str):  # (one id, not its characters)
        session_ids = [session_ids]
    traffic = check_traffic(traffic)
    if session_ids is None:
        all_events, all_sessions = store.scan_events(), store.scan_sessions()
        if not is_all(traffic):
            # an event's class is its session's (null for events in no session)
            keep = traffic_expr(traffic)
            all_events, all_sessions = all_events.filter(keep), all_sessions.filter(keep)
        return evaluate(all_events, all_sessions, rules, presorted=True)
    ids = sorted(_whole_ids(store, session_ids))
    events, sessions = _visitor_events(store, ids)
    return evaluate(events, sessions, rules, session_ids=ids, presorted=True)


def _whole_ids(store: Store, session_ids: Sequence[str]) -> set[str]:
    """The full ids of `session_ids`: each a session's id, or a unique prefix of one
    (resolved as `jtrack card` resolves it: NotFoundError or AmbiguousIdError otherwise).
    The ids found whole are looked up together (a listing's page of ids); only the others
    are resolved one by one."""
    from jtrack.usecases.sessions import _check_id_text, resolve_visible_session

    for sid in session_ids:
        _check_id_text(sid)
    asked = {sid.strip().lower() for sid in session_ids}
    lookup = sorted(p for p in asked if p)  # (a blank one is refused below, not all ids)
    found: list[str] = []
    if lookup:
        found = store.sessions_with_prefix(lookup).get_column("id").to_list()
    whole = asked & set(found)
    return whole | {resolve_visible_session(store, p) for p in asked - whole}


def store_export_results(store: Store, rules: Rules | None) -> RuleResults:
    """The export's own segment and outcome matches over every session of the store, of any
    traffic class and period (no rule evaluated): the rows a rules report of some sessions
    lists, at 0 where those sessions have none."""
    from jtrack.core.rules.evaluate import EXPORT_COLUMNS, export_results

    events = as_store(store).scan_events(columns=list(EXPORT_COLUMNS))
    return export_results(events, as_rules(rules))


def in_period(
    results: RuleResults,
    sessions: pl.LazyFrame,
    tz: str,
    since: date | None,
    until: date | None,
) -> tuple[RuleResults, pl.LazyFrame]:
    """The results and sessions of the sessions started on local days `since` to before
    `until` of `tz` (a rules report of a week or a month). The rules are evaluated over every
    session first, so a visitor's earlier sessions count as they do in the whole report."""
    from jtrack.usecases.report import started_in

    kept = sessions.filter(started_in(tz, since, until))
    ids = kept.select("id").collect(engine="in-memory").get_column("id").implode()
    mine = pl.col("session_id").is_in(ids)
    return (
        RuleResults(
            segments=results.segments.filter(mine),
            outcomes=results.outcomes.filter(mine),
            action_maps=results.action_maps.filter(mine),
            outcome_values=results.outcome_values.filter(mine),
        ),
        kept,
    )


def hidden_notes(
    store: Store,
    counted: pl.LazyFrame,
    tz: str,
    since: date | None,
    until: date | None,
    traffic: tuple[str, ...],
) -> list[str]:
    """What a rules report of `counted` (the sessions it counts, as the role sees them) leaves
    out for the store's role, said as `jtrack report` and the card say it: the custom sessions
    of its period and traffic classes, and the custom events of its sessions, that the rules
    were evaluated without. None for the plain store or a role that sees them all."""
    from jtrack.access import EVENTTYPE_VIEW, StoreView
    from jtrack.schema import KIND_CUSTOM
    from jtrack.usecases.report import ReportOptions, hidden_sessions, hidden_sessions_note

    if not isinstance(store, StoreView):
        return []
    opts = ReportOptions(tz=tz, since=since, until=until, traffic=traffic)
    hidden = hidden_sessions(store, opts)
    notes = [hidden_sessions_note(hidden)] if hidden else []
    if not store.policy.sees_custom_events:
        ids = counted.filter(traffic_expr(traffic)).select(session_id="id")
        events = store.unfiltered().scan_events(columns=["kind", "session_id"])
        n = (
            events.filter(pl.col("kind") == KIND_CUSTOM)
            .join(ids, on="session_id", how="semi")
            .select(pl.len())
            .collect(engine="in-memory")
            .item()
        )
        if n:
            notes.append(
                f"{n:,} custom event{'s' if n != 1 else ''} of the period hidden by your role "
                f"(needs {EVENTTYPE_VIEW}): the rules were evaluated without them"
            )
    return notes


def explain_store(
    store: StoreLike, rules: RulesLike, session_id: str, rule_ids: Sequence[str] | None = None
) -> pl.DataFrame:
    """`explain_session` for one session of the store: its id or a unique prefix of it (as
    `jtrack card` takes; NotFoundError or AmbiguousIdError otherwise); `rule_ids`: only these
    rules (one id may be given as a string)."""
    from jtrack.usecases.sessions import resolve_visible_session

    store = as_store(store)
    loaded = as_rules(rules)
    if loaded is None:
        from jtrack.errors import UsageError

        raise UsageError("explain needs rules", hint="pass load_rules(FILE), or the file")
    rules = loaded
    if isinstance(rule_ids, str):
        rule_ids = [rule_ids]
    session_id = resolve_visible_session(store, session_id)
    events, sessions = _visitor_events(store, [session_id])
    return explain_session(events, sessions, rules, session_id, rule_ids=rule_ids)
