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


def _rule_events(
    store: Store,
    rules: Rules | None,
    session_ids: pl.Series | None,
    customer_id: str | None = None,
) -> pl.LazyFrame:
    """The events `evaluate` reads of the sessions `session_ids` (None: of every session;
    `customer_id`: all of one visitor's, read from their bucket alone; `rules` None: the
    export's segment and outcome events alone), in the store's order,
    as the store's role may see them. Only the columns the rules read are fetched
    (evaluate.event_columns): those of the index from it, those kept in the wide segments
    only at the events that use them (the rules' at activity events, the export's segment
    and outcome columns at its segment and outcome events), never at every event."""
    from jtrack.access import EVENT_VIEW, SESSION_VIEW, StoreView
    from jtrack.core.rules.evaluate import EXPORT_COLUMNS, event_columns, rule_event_columns
    from jtrack.schema import ACTIVITY_KINDS, INDEX_SCHEMA, KIND_OUTCOME, KIND_SEGMENT

    view = store if isinstance(store, StoreView) else None
    if view is not None:  # (refused before anything is read)
        view.policy.require(SESSION_VIEW, "sessions")
        view.policy.require(EVENT_VIEW, "journey events")
    snap = (view.unfiltered() if view is not None else store).pinned()
    wanted = event_columns(rules)
    stored = int((snap.manifest.counts or {}).get("sessions") or 0)
    if customer_id is None and (session_ids is None or session_ids.len() > _BY_IDS * stored):
        # most of the store: every event's columns read in one streamed scan (by their
        # positions, the join of a million rows back to the index costs more than it saves)
        return _scanned_events(store, rules, session_ids)
    # (the columns the role's filter reads come along, and go once it has run)
    need = [c for c in ("kind", "session_type") if c not in wanted] if view is not None else []
    marks = (KIND_SEGMENT, KIND_OUTCOME)
    kinds = [*ACTIVITY_KINDS, *marks] if rules is not None else list(marks)
    keep = pl.col("session_id").is_not_null() & pl.col("kind").is_in(kinds)
    if session_ids is not None:
        keep = keep & pl.col("session_id").is_in(session_ids.cast(pl.String).implode())
    narrow = [c for c in INDEX_SCHEMA if c in {*wanted, *need, "segment", "row"}]
    rows = snap.scan_index(customer_id).filter(keep).select(narrow).collect(engine="in-memory")
    for at_kinds, cols in (
        (ACTIVITY_KINDS, rule_event_columns(rules)),
        (marks, list(EXPORT_COLUMNS)),
    ):
        wide = [c for c in cols if c not in INDEX_SCHEMA]
        if wide:
            at = rows.filter(pl.col("kind").is_in(list(at_kinds))).select("segment", "row")
            got = snap.wide_rows(at, wide)
            rows = rows.join(got, on=["segment", "row"], how="left", maintain_order="left")
    events = rows.drop("segment", "row").lazy()
    if view is not None:
        events = view.restrict_events(events).drop(need)
    return events


#: Past this share of a store's sessions, their events are read in one scan of the
#: columns wanted, not by their positions (as jtrack.usecases.report reads a period's).
_BY_IDS = 0.25


def _scanned_events(
    store: Store, rules: Rules | None, session_ids: pl.Series | None
) -> pl.LazyFrame:
    """_rule_events of most of a store: a scan of the columns wanted (lazy)."""
    from jtrack.core.rules.evaluate import event_columns
    from jtrack.schema import ACTIVITY_KINDS, KIND_OUTCOME, KIND_SEGMENT

    marks = [KIND_SEGMENT, KIND_OUTCOME]
    kinds = [*ACTIVITY_KINDS, *marks] if rules is not None else marks
    keep = pl.col("session_id").is_not_null() & pl.col("kind").is_in(kinds)
    if session_ids is not None:
        keep = keep & pl.col("session_id").is_in(session_ids.cast(pl.String).implode())
    return store.scan_events(columns=event_columns(rules)).filter(keep)


def _session_rows(
    store: Store, rules: Rules | None, session_ids: list[str]
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """The events `evaluate` reads of the sessions `session_ids` (whole ids; one visitor's
    bucket when they share one visitor) and those sessions' rows of the session table.
    A rule looks at its session alone (jtrack.core.rules.evaluate), so neither the visitor's
    other sessions nor the events' other columns are read."""
    sessions = store.scan_sessions().filter(pl.col("id").is_in(session_ids)).collect()
    customers = sorted(set(sessions.get_column("customer_id").drop_nulls().to_list()))
    one = customers[0] if len(customers) == 1 else None
    ids = pl.Series("id", session_ids, dtype=pl.String)
    return _rule_events(store, rules, ids, one), sessions


def evaluate_store(
    store: StoreLike,
    rules: RulesLike | None,
    session_ids: Sequence[str] | None = None,
    traffic: Sequence[str] | str = DEFAULT_TRAFFIC,
    *,
    tz: str = "UTC",
    since: date | str | None = None,
    until: date | str | None = None,
) -> RuleResults:
    """Evaluate `rules` over the store's sessions of the `traffic` classes (people only
    unless told otherwise, as `jtrack rules report`; "all" or a list of classes, see
    jtrack.usecases.traffic), or over the sessions `session_ids` (ids or unique prefixes, as
    `jtrack card` takes them; NotFoundError or AmbiguousIdError otherwise), whatever their
    class. `since`/`until`: only the sessions started on local days of `tz` from `since` to
    before `until` (as `jtrack rules report --since/--until` counts them; not with
    `session_ids`).

    A rule looks at one session alone (its events and its row of the session table), so
    only the sessions asked for are read, and of their events only the columns the rules
    read: a card's session, or a month of a year's store, costs what it holds. Their
    results are those the whole store's evaluation gives them.
    """
    store = as_store(store)
    rules = as_rules(rules)
    if isinstance(session_ids, str):  # (one id, not its characters)
        session_ids = [session_ids]
    traffic = check_traffic(traffic)
    period = since is not None or until is not None
    if period and session_ids is not None:
        from jtrack.errors import UsageError

        raise UsageError(
            "session_ids and since/until cannot be combined",
            hint="give the sessions, or the period",
        )
    if session_ids is None:
        from jtrack.core.rules.evaluate import session_columns
        from jtrack.usecases.report import ReportOptions, started_in

        opts = ReportOptions(tz=tz, since=since, until=until)  # (checked, as --since reads it)
        table = store.scan_sessions()
        if period or not is_all(traffic):
            # an event's class is its session's: the sessions kept name the events read
            keep = traffic_expr(traffic) & started_in(opts.tz, opts.since, opts.until)
            table = table.filter(keep)
        sessions = table.select(session_columns(rules)).collect(engine="in-memory")
        kept = sessions.get_column("id") if period or not is_all(traffic) else None
        events = _rule_events(store, rules, kept)
        return evaluate(events, sessions, rules, presorted=True)
    ids = sorted(_whole_ids(store, session_ids))
    events, sessions = _session_rows(store, rules, ids)
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
    from jtrack.core.rules.evaluate import export_results

    # (their columns read from the segments at those events alone, not at every event)
    return export_results(_rule_events(as_store(store), None, None), as_rules(rules))


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
    events, sessions = _session_rows(store, rules, [session_id])
    return explain_session(events, sessions, rules, session_id, rule_ids=rule_ids)
