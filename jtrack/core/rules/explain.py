"""Why a rule did or did not match in one session: every condition, whether it held, where.

`explain_session` returns one row per condition and per rule part, then one result row per
rule (the answer `evaluate` gives). Columns: session_id, rule_kind, rule_id, display_name,
part, condition, held, at, event_id, detail. Each condition is one Boolean column over the
session's events, as in the evaluator. Imports Polars only.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from jtrack.core.rules.compile import condition_expr, pattern_expr, source_column
from jtrack.core.rules.evaluate import (
    SOURCE_EXPORT,
    SOURCE_RULES,
    RuleResults,
    activity_frame,
    date_window,
    evaluate,
    event_schema,
)
from jtrack.core.rules.model import ActionMap, Condition, Outcome, Pattern, Rules, Segment
from jtrack.errors import NotFoundError, UsageError
from jtrack.schema import UTC_US

EXPLAIN_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "rule_kind": pl.String(),
    "rule_id": pl.String(),
    "display_name": pl.String(),
    "part": pl.String(),
    "condition": pl.String(),
    "held": pl.Boolean(),
    "at": UTC_US,
    "event_id": pl.String(),
    "detail": pl.String(),
}

_Where = tuple[datetime | None, str | None]

#: The distinct values an event condition compared that its detail shows ("..." beyond).
_VALUES_SHOWN = 3


@dataclass
class _Session:
    """One session's activity events (sorted) and its session-table row."""

    events: pl.DataFrame
    table: pl.DataFrame  # the one session row
    schema: dict[str, pl.DataType]

    @property
    def n(self) -> int:
        return self.events.height

    def flag(self, expr: pl.Expr) -> pl.Series:
        return self.events.select(expr.alias("f")).to_series()

    def nth(self, flag: pl.Series, n: int = 1, from_row: int | None = 0) -> int | None:
        """Row of the n-th true value at or after from_row (None: there is none)."""
        if from_row is None:
            return None
        idx = flag.slice(from_row).arg_true()
        return int(idx[n - 1]) + from_row if idx.len() >= n else None

    def row_of(self, event_id: str) -> int | None:
        idx = (self.events.get_column("event_id") == event_id).arg_true()
        return int(idx[0]) if idx.len() else None

    def at(self, row: int | None) -> _Where:
        if row is None:
            return None, None
        return self.events["created_date"][row], self.events["event_id"][row]

    def held_on(self, flag: pl.Series, cond: Condition | None = None) -> str:
        """`held on 1 of 3 events`; with `cond`, the values it compared, as a context
        condition shows its session value: `held on 1 of 3 events; values '/Pricing/',
        '/pricing', '/cart', ...` (the first few distinct, in event order)."""
        n = int(flag.sum())
        said = f"held on {n} of {self.n} event" + ("" if self.n == 1 else "s")
        return said + (self.compared(cond) if cond is not None else "")

    def compared(self, cond: Condition) -> str:
        col = source_column(cond)
        if self.n == 0 or col not in self.events.columns:
            return ""
        seen = self.events.get_column(col).unique(maintain_order=True)
        shown = ", ".join(_text(v) for v in seen.head(_VALUES_SHOWN).to_list())
        more = ", ..." if seen.len() > _VALUES_SHOWN else ""
        return f"; value{'s' if seen.len() > 1 else ''} {shown}{more}"


class _Out:
    def __init__(
        self, session_id: str, rule: Segment | Outcome | ActionMap, rows: list[dict[str, Any]]
    ) -> None:
        self.session_id = session_id
        self.kind = {Segment: "segment", Outcome: "outcome", ActionMap: "action_map"}[type(rule)]
        self.rule_id = rule.id
        self.name = rule.display_name
        self.rows = rows

    def add(
        self,
        part: str,
        condition: str,
        held: bool,
        where: _Where = (None, None),
        detail: str = "",
    ) -> None:
        self.rows.append(
            {
                "session_id": self.session_id,
                "rule_kind": self.kind,
                "rule_id": self.rule_id,
                "display_name": self.name,
                "part": part,
                "condition": condition,
                "held": held,
                "at": where[0],
                "event_id": where[1],
                "detail": detail,
            }
        )


def explain_session(
    events: pl.LazyFrame | pl.DataFrame,
    sessions: pl.LazyFrame | pl.DataFrame,
    rules: Rules,
    session_id: str,
    rule_ids: Sequence[str] | None = None,
    results: RuleResults | None = None,
) -> pl.DataFrame:
    """Every condition of every rule (or of `rule_ids`) for one session (EXPLAIN_SCHEMA)."""
    ev = events.lazy().filter(pl.col("session_id") == session_id)
    table = sessions.lazy().filter(pl.col("id") == session_id).collect()
    if table.height == 0:
        raise NotFoundError(
            f"no session with id {session_id!r}", hint="list sessions with `jtrack sessions`"
        )
    wanted = set(rule_ids) if rule_ids else None
    for rid in sorted(wanted or ()):
        if rid not in rules.rule_ids():
            near = difflib.get_close_matches(rid, rules.rule_ids(), n=1)
            raise UsageError(  # (an option naming what the rules file lacks: exit 2)
                f"no rule with id {rid!r} in {rules.path or 'the rules'}",
                hint=(f"did you mean {near[0]!r}? " if near else "")
                + "rule ids: "
                + (", ".join(rules.rule_ids()) or "(none)"),
            )
    if results is None:
        results = evaluate(ev, table, rules, session_ids=[session_id])
    sess = _Session(activity_frame(ev, rules), table, event_schema(ev, rules))
    rows: list[dict[str, Any]] = []
    for s in rules.segments:
        if wanted is None or s.id in wanted:
            _segment(_Out(session_id, s, rows), sess, s, results)
    for o in rules.outcomes:
        if wanted is None or o.id in wanted:
            _outcome(_Out(session_id, o, rows), sess, o, results)
    for m in rules.action_maps:
        if wanted is None or m.id in wanted:
            _action_map(_Out(session_id, m, rows), sess, m, results, rules)
    return pl.DataFrame(rows, schema=EXPLAIN_SCHEMA, orient="row")


def _text(v: Any) -> str:
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(str(v))


def _pattern(out: _Out, sess: _Session, part: str, p: Pattern) -> int | None:
    """Rows for each condition of a pattern and for the pattern; its completing row."""
    for c in p.conditions:
        f = sess.flag(condition_expr(c, sess.schema))
        first = sess.nth(f)
        out.add(part, c.describe(), first is not None, sess.at(first), sess.held_on(f, c))
    f = sess.flag(pattern_expr(p, sess.schema))
    row = sess.nth(f, p.count)
    if len(p.conditions) > 1 or p.count > 1:
        what = "all conditions on one event" if len(p.conditions) > 1 else "the condition"
        out.add(
            part,
            f"{what}, on {p.count} event" + ("" if p.count == 1 else "s"),
            row is not None,
            sess.at(row),
            f"{int(f.sum())} matching, {p.count} needed",
        )
    return row


def _rule_row(frame: pl.DataFrame, id_col: str, rule_id: str, source: str) -> pl.DataFrame:
    return frame.filter((pl.col(id_col) == rule_id) & (pl.col("source") == source))


def _segment(out: _Out, sess: _Session, s: Segment, results: RuleResults) -> None:
    if not s.active:
        out.add("result", "active", False, detail="inactive: not evaluated")
        return
    failed = False
    schema = dict(sess.table.schema)
    for c in s.session_context:
        held = bool(sess.table.select(condition_expr(c, schema)).item())
        failed = failed or not held
        value = sess.table.get_column(c.column)[0] if c.column else None
        out.add("context", c.describe(), held, detail=f"session value {_text(value)}")
    for c in s.event_context:  # (a value that can change within the session: at events)
        f = sess.flag(condition_expr(c, sess.schema))
        first = sess.nth(f)
        detail = f"{sess.held_on(f)} (each event's own value){sess.compared(c)}"
        out.add("context", c.describe(), first is not None, sess.at(first), detail)
    done = [_pattern(out, sess, f"pattern {j + 1}", p) for j, p in enumerate(s.patterns)]
    missing = [str(j + 1) for j, row in enumerate(done) if row is None]
    late = None
    if s.event_context:
        since = max((r for r in done if r is not None), default=0)
        names = " and ".join(sorted({c.field for c in s.event_context}))
        at_events = sess.flag(
            pl.all_horizontal([condition_expr(c, sess.schema) for c in s.event_context])
        )
        if sess.nth(at_events) is None:
            late = f"no event met its {names} condition"
        elif not missing and sess.nth(at_events, 1, since) is None:
            late = f"no event from where its patterns completed on met its {names} condition"
    hit = _rule_row(results.segments, "segment_id", s.id, SOURCE_RULES)
    if hit.height:
        where = (hit["matched_at"][0], hit["event_id"][0])
        out.add("result", "segment matched", True, where, f"matched as {s.display_name!r}")
    else:
        why = ["a context condition failed"] if failed else []
        if missing:
            why.append("pattern " + ", ".join(missing) + " never completed")
        if late:
            why.append(late)
        out.add("result", "segment matched", False, detail="; ".join(why))
    exported = _rule_row(results.segments, "segment_id", s.id, SOURCE_EXPORT)
    if exported.height:
        where = (exported["matched_at"][0], exported["event_id"][0])
        out.add("export", "segment_assigned event in the export", True, where)


def _outcome(out: _Out, sess: _Session, o: Outcome, results: RuleResults) -> None:
    if not o.active:
        out.add("result", "active", False, detail="inactive: not evaluated")
        return
    from_row: int | None = 0
    reached = True  # (the stage before this one was reached)
    missing: int | None = None  # (the first stage not reached)
    for j, stage in enumerate(o.stages):
        part = f"stage {j + 1}"
        for c in stage.conditions:
            f = sess.flag(condition_expr(c, sess.schema))
            first = sess.nth(f)
            out.add(part, c.describe(), first is not None, sess.at(first), sess.held_on(f, c))
        f = sess.flag(pattern_expr(stage, sess.schema))
        row = sess.nth(f, 1, from_row)
        if row is not None:
            detail = "reached in order"
        elif not reached:
            detail = f"not reached: stage {j} was never reached"
        elif from_row is None and j > 0:
            detail = f"not reached: nothing after stage {j}"
        elif sess.nth(f) is not None:
            detail = f"matched only before stage {j} was reached (out of order)"
        else:
            detail = "no event meets all its conditions"
        label = f"stage {j + 1} after stage {j}" if j else "stage 1"
        out.add(part, label, row is not None, sess.at(row), detail)
        from_row = row + 1 if row is not None and row + 1 < sess.n else None
        reached = row is not None
        missing = j + 1 if missing is None and not reached else missing
    hit = _rule_row(results.outcomes, "outcome_id", o.id, SOURCE_RULES)
    if hit.height:
        where = (hit["achieved_at"][0], hit["event_id"][0])
        out.add("result", "outcome achieved", True, where, f"achieved as {o.display_name!r}")
    else:
        why = f"stage {missing} was never reached" if missing else "the stages were not all reached"
        out.add("result", "outcome achieved", False, detail=why)
    exported = _rule_row(results.outcomes, "outcome_id", o.id, SOURCE_EXPORT)
    if exported.height:
        where = (exported["achieved_at"][0], exported["event_id"][0])
        out.add("export", "outcome_achieved event in the export", True, where)


def _action_map(
    out: _Out, sess: _Session, m: ActionMap, results: RuleResults, rules: Rules
) -> None:
    if not m.active:
        out.add("result", "active", False, detail="inactive: not evaluated")
        return
    trig: int | None
    if m.segments:
        rows: list[int] = []
        for sid in m.segments:
            hit = _rule_row(results.segments, "segment_id", sid, SOURCE_RULES)
            seg = rules.segment(sid)
            name = seg.display_name if seg else sid
            if hit.height:
                row = sess.row_of(hit["event_id"][0])
                rows += [row] if row is not None else []
                out.add("trigger", f"segment {sid} matched", True, sess.at(row), repr(name))
            else:
                detail = f"{name!r} did not match (see --rule {sid})"
                out.add("trigger", f"segment {sid} matched", False, detail=detail)
        trig = min(rows) if rows else None
        out.add("trigger", "any of its segments", trig is not None, sess.at(trig))
    else:
        done = [_pattern(out, sess, f"activity {j + 1}", p) for j, p in enumerate(m.activity)]
        rows = [r for r in done if r is not None]
        trig = max(rows) if rows and len(rows) == len(done) else None
        out.add("trigger", "all of its activity conditions", trig is not None, sess.at(trig))
    note = "first event from the trigger on" if trig is not None else "not triggered"
    for c in m.page_url:
        row = sess.nth(sess.flag(condition_expr(c, sess.schema)), 1, trig)
        out.add("page_url", c.describe(), row is not None, sess.at(row), note)
    if m.start_date is not None or m.end_date is not None:
        iso = "%Y-%m-%dT%H:%M:%SZ"
        lo = f"from {m.start_date.strftime(iso)}" if m.start_date else ""
        hi = f"before {m.end_date.strftime(iso)}" if m.end_date else ""
        window = f"{lo} until {hi}" if lo and hi else f"{lo} on" if lo else hi
        row = sess.nth(sess.flag(date_window(m)), 1, trig)
        out.add("dates", window, row is not None, sess.at(row), note)
    mine = results.action_maps.filter(pl.col("action_map_id") == m.id)
    if mine.height == 0:
        out.add("result", "qualified", False, detail="not triggered in this session")
    for r in mine.iter_rows(named=True):  # at most two rows: qualified, then blocked
        qualified = r["status"] == "qualified"
        detail = f"weight {m.weight}" if qualified else f"blocked: {r['reason']}"
        out.add("result", "qualified", qualified, (r["at"], r["event_id"]), detail)


__all__ = ["EXPLAIN_SCHEMA", "explain_session"]
