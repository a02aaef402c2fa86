"""Evaluate rules over stored sessions: segments matched, outcomes achieved, action maps.

Vectorised throughout. The activity events of the sessions are sorted by session, time and
event id; every condition of every rule becomes one Boolean column (a Polars expression);
a rule's progress through a session is then found with whole-column primitives ("the k-th
event at or after row x where this flag holds": a backward fill of the next true row, or a
sorted search in the running count), gathered once per session. Nothing loops over events or
sessions in Python; loops run over rules only. Imports Polars only.

jtrack's rule semantics (what the property test's reference implementation spells out):
- journey patterns, outcome stages and action-map activity look at activity events only
  (page_view, search, custom, app), in the order created_date, event_id;
- a segment matches when its context conditions hold on the session and each pattern has its
  `count` matching events; it is matched at the event where the last of them happens (the
  session's first event when it has only context conditions). A context field that can
  change within a session (`authenticated`, model.EVENT_TIME_CONTEXT) is tested at events,
  on each one's own value: the segment is matched at the first event from there on where it
  holds;
- an outcome is achieved at the first event completing its stages in order, each stage on a
  strictly later event than the one before;
- an action map is triggered at the first match of any of its segments, or at the event where
  all its activity patterns hold; it qualifies at the first event from there on whose page
  URL meets its page conditions and whose time is within its dates. When it does not, it is
  blocked (`outside_dates` when no such event is within the dates, else `page_condition`).
  When several maps would qualify at one event, the highest weight qualifies (ties: the
  smallest id) and the others are blocked (`lower_weight`) for the session. A map that
  qualified and is triggered again later (another of its segments matches, or another event
  meets one of its activity patterns) is blocked once with `already_qualified`.

Each session is evaluated on its own activity events and its own row of the session table
(`visitNumber`, the visitor's count of visits, is that row's `visit_number`): no rule looks
at another session, the visitor's earlier or later ones or anyone else's. So the results of
some sessions are those sessions' rows of the results of all: a reader gives `evaluate` only
the sessions it wants, and of their events only `event_columns(rules)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from jtrack.core.rules.compile import (
    all_of,
    attribute_column,
    attribute_exprs,
    number_expr,
    pattern_expr,
)
from jtrack.core.rules.model import (
    REASON_ALREADY,
    REASON_DATES,
    REASON_PAGE,
    REASON_WEIGHT,
    ActionMap,
    Outcome,
    Rules,
    Segment,
)
from jtrack.schema import ACTIVITY_KINDS, KIND_OUTCOME, KIND_SEGMENT, UTC_US

SOURCE_RULES = "rules"
SOURCE_EXPORT = "export"

SEGMENTS_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "segment_id": pl.String(),
    "display_name": pl.String(),
    "color": pl.String(),
    "matched_at": UTC_US,
    "event_id": pl.String(),
    "source": pl.String(),
}
OUTCOMES_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "outcome_id": pl.String(),
    "display_name": pl.String(),
    "achieved_at": UTC_US,
    "event_id": pl.String(),
    "source": pl.String(),
}
ACTION_MAPS_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "action_map_id": pl.String(),
    "display_name": pl.String(),
    "status": pl.String(),
    "at": UTC_US,
    "event_id": pl.String(),
    "reason": pl.String(),
}
OUTCOME_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "outcome_id": pl.String(),
    "value": pl.Float64(),
    "text": pl.String(),
}

_ORDER = ["session_id", "created_date", "event_id"]


@dataclass
class RuleResults:
    """What the rules found, one frame per kind (see the *_SCHEMA constants).

    `segments` and `outcomes` hold jtrack's own matches (source "rules") and the
    segment_assigned / outcome_achieved events of the export (source "export");
    `action_maps` one row per session, map and status; `outcome_values` the value attribute
    of each achievement by the rules (`value` null when absent or not a number; `text` the
    attribute as the event wrote it).
    """

    segments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SEGMENTS_SCHEMA))
    outcomes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OUTCOMES_SCHEMA))
    action_maps: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=ACTION_MAPS_SCHEMA)
    )
    outcome_values: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=OUTCOME_VALUES_SCHEMA)
    )


def _cols(schema: dict[str, pl.DataType]) -> list[pl.Expr]:
    return [pl.col(c).cast(t) for c, t in schema.items()]


# ------------------------------------------------------------------------------ primitives


class _Flags:
    """The per-event Boolean columns of the sorted activity frame.

    `kth(name, x, k, end)` answers, for every session at once, "which row holds the k-th
    event at or after row x where flag `name` is true": through the flag's next-true-row
    column (one backward fill) for small k, and a sorted search in its running count for
    large k.
    """

    _SEARCH_FROM = 8

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._next: dict[str, pl.Series] = {}
        self._cum: dict[str, tuple[pl.Series, pl.Series]] = {}

    def next_true(self, name: str) -> pl.Series:
        """Per row: the first row at or after it where the flag holds (null: none)."""
        if name not in self._next:
            row = pl.int_range(pl.len(), dtype=pl.Int64)
            self._next[name] = self.frame.select(
                pl.when(pl.col(name)).then(row).backward_fill().alias("row")
            ).to_series()
        return self._next[name]

    def kth(self, name: str, x: pl.Series, k: int, end: pl.Series) -> pl.Series:
        if k >= self._SEARCH_FROM:
            return self._kth_by_count(name, x, k, end)
        nxt = self.next_true(name)
        row = x
        for i in range(k):
            if i:
                row = _after(row, end)
            row = nxt.gather(row)
            row = _rows(pl.when(pl.col("row") <= pl.col("end")).then("row"), row=row, end=end)
        return row

    def _kth_by_count(self, name: str, x: pl.Series, k: int, end: pl.Series) -> pl.Series:
        if name not in self._cum:
            m = self.frame.get_column(name).cast(pl.Int64)
            self._cum[name] = (m, m.cum_sum())
        m, cum = self._cum[name]
        target = (cum.gather(x) - m.gather(x) + k).fill_null(cum.len() + k + 1)
        idx = cum.search_sorted(target, side="left").cast(pl.Int64)
        return _rows(pl.when(x.is_not_null() & (idx <= end)).then(idx), idx=idx, x=x, end=end)


def _rows(expr: pl.Expr, **cols: pl.Series) -> pl.Series:
    """Evaluate a row-number expression over same-length Series (named by keyword)."""
    frame = pl.DataFrame({k: v.alias(k) for k, v in cols.items()})
    return frame.select(expr.cast(pl.Int64).alias("row")).to_series()


def _after(row: pl.Series, end: pl.Series) -> pl.Series:
    """row + 1 where that is still inside the session, else null."""
    return _rows(pl.when(pl.col("row") < pl.col("end")).then(pl.col("row") + 1), row=row, end=end)


def _max_all(cols: Sequence[pl.Series], default: pl.Series) -> pl.Series:
    """Row-wise max; null when any input is null (a pattern that never completed)."""
    if not cols:
        return default
    named = {f"c{i}": c for i, c in enumerate(cols)}
    return _rows(
        pl.when(pl.all_horizontal(pl.all().is_not_null())).then(pl.max_horizontal(pl.all())),
        **named,
    )


def _min_any(cols: Sequence[pl.Series], length: int) -> pl.Series:
    """Row-wise min of the non-null inputs (null when all are null)."""
    if not cols:
        return pl.Series("row", [None] * length, dtype=pl.Int64)
    return _rows(pl.min_horizontal(pl.all()), **{f"c{i}": c for i, c in enumerate(cols)})


# ------------------------------------------------------------------------------ inputs


def needed_event_columns(rules: Rules) -> tuple[list[str], list[str]]:
    """Event columns and attribute names the rules read."""
    cols: set[str] = set()
    attrs: set[str] = set()
    for c in rules.event_conditions():
        if c.attribute is not None:
            attrs.add(c.attribute)
        elif c.column is not None:
            cols.add(c.column)
    for o in rules.outcomes:
        if o.value_attribute:
            attrs.add(o.value_attribute)
    return sorted(cols), sorted(attrs)


#: The event columns every evaluation reads, whatever the rules: a session's activity events
#: in order (activity_frame) and the export's own rows (EXPORT_COLUMNS, defined below).
_BASE_COLUMNS = ("session_id", "kind", "created_date", "event_id")


def rule_event_columns(rules: Rules | None) -> list[str]:
    """The stored event columns the rules' conditions read at activity events (`attributes`
    when they read an attribute, or an outcome's value attribute), beside _BASE_COLUMNS:
    what a reader of a store needs to fetch for `evaluate`, no other column."""
    if rules is None:
        return []
    cols, attrs = needed_event_columns(rules)
    return sorted({*cols, *(["attributes"] if attrs else [])})


def event_columns(rules: Rules | None) -> list[str]:
    """Every stored event column `evaluate` reads for `rules`: the session, kind, time and
    id of each event, the export's own segment and outcome columns (EXPORT_COLUMNS, at
    those events only) and the columns the rules read (rule_event_columns, at activity
    events only)."""
    return sorted({*_BASE_COLUMNS, *EXPORT_COLUMNS, *rule_event_columns(rules)})


def session_columns(rules: Rules | None) -> list[str]:
    """The session-table columns `evaluate` reads for `rules`: `id` and the columns of the
    segments' visitor-context conditions tested on the session (every segment's, active or
    not: what `explain_session` reads too)."""
    if rules is None:
        return ["id"]
    ctx = {c.column for s in rules.segments for c in s.session_context if c.column}
    return ["id", *sorted(ctx - {"id"})]


def event_schema(events: pl.LazyFrame, rules: Rules) -> dict[str, pl.DataType]:
    """The event columns' dtypes, plus the attribute columns the rules read (String)."""
    schema = dict(events.collect_schema())
    _, attrs = needed_event_columns(rules)
    schema.update({attribute_column(a): pl.String() for a in attrs})
    return schema


def activity_frame(
    events: pl.LazyFrame,
    rules: Rules,
    flags: dict[str, pl.Expr] | None = None,
    presorted: bool = False,
) -> pl.DataFrame:
    """The sessions' activity events in session, time, event-id order.

    Columns: session_id, created_date, event_id, then either the event columns and
    attributes the rules read (`flags` None) or the given Boolean flag expressions and the
    outcome value attributes. `presorted`: the events arrive ordered by time then event id
    within each visitor (the store's file order), so a stable sort by session is enough;
    that is checked, and a full sort done when it does not hold.
    """
    cols, attrs = needed_event_columns(rules)
    lf = events.filter(
        pl.col("kind").is_in(list(ACTIVITY_KINDS)) & pl.col("session_id").is_not_null()
    )
    if "authenticated" in cols:  # (not recorded: not logged in, as the session table says)
        lf = lf.with_columns(pl.col("authenticated").fill_null(False))
    if attrs:
        lf = lf.with_columns(attribute_exprs(attrs))
    base = ["session_id", "created_date", "event_id"]
    if flags is None:
        lf = lf.select(*base, *cols, *(attribute_column(a) for a in attrs))
    else:
        values = sorted(
            {attribute_column(o.value_attribute) for o in rules.outcomes if o.value_attribute}
        )
        lf = lf.select(*base, *flags.values(), *values)
    df = lf.collect()
    if presorted:
        df = df.sort("session_id", maintain_order=True)
        if _in_order(df):
            return df
    return df.sort(_ORDER)


def _in_order(df: pl.DataFrame) -> bool:
    """True when rows are ordered by created_date, event_id within each session."""
    t, e, s = pl.col("created_date"), pl.col("event_id"), pl.col("session_id")
    bad = (s == s.shift(1)) & ((t < t.shift(1)) | ((t == t.shift(1)) & (e < e.shift(1))))
    return not df.select(bad.fill_null(False).any()).item()


def session_frame(
    act: pl.DataFrame, sessions: pl.LazyFrame, context_columns: Sequence[str]
) -> pl.DataFrame:
    """One row per session of `act`, in its order: session_id, start and end rows (inclusive)
    and the session-table columns the context conditions read."""
    first = act.select(
        (pl.col("session_id") != pl.col("session_id").shift(1)).fill_null(True).alias("f")
    ).to_series()
    starts = first.arg_true().cast(pl.Int64)
    ends = pl.concat([starts.slice(1) - 1, pl.Series([act.height - 1], dtype=pl.Int64)])
    frame = pl.DataFrame(
        {
            "session_id": act.get_column("session_id").gather(starts),
            "start": starts,
            "end": ends.slice(0, starts.len()),
        }
    )
    if context_columns:
        ctx = sessions.select(pl.col("id").alias("session_id"), *context_columns).collect()
        frame = frame.join(ctx, on="session_id", how="left", maintain_order="left")
    return frame


# ------------------------------------------------------------------------------ evaluation


def evaluate(
    events: pl.LazyFrame | pl.DataFrame,
    sessions: pl.LazyFrame | pl.DataFrame,
    rules: Rules | None,
    session_ids: Sequence[str] | None = None,
    presorted: bool = False,
) -> RuleResults:
    """Evaluate `rules` over stored events (canonical columns + session_id) and the session
    table; `session_ids` restricts the work to those sessions. With `rules` None only the
    export's own segment and outcome events are returned. `presorted`: the events come in
    the store's order (see activity_frame)."""
    ev = events.lazy()
    ss = sessions.lazy()
    if session_ids is not None:
        ids = sorted(set(session_ids))
        ev = ev.filter(pl.col("session_id").is_in(ids))
        ss = ss.filter(pl.col("id").is_in(ids))
    export_seg, export_out = _export_rows(ev, rules)
    if rules is None or not (rules.segments or rules.outcomes or rules.action_maps):
        return RuleResults(segments=export_seg, outcomes=export_out)
    own, sess = _evaluate_rules(ev, ss, rules, presorted)
    sidx = sess.select("session_id", pl.int_range(pl.len(), dtype=pl.Int64).alias("_sidx"))
    # Every part is in session order already; a stable sort on integers merges them.
    # Ties (same session and time): export rows first, then the rules in file order.
    segs = pl.concat(
        [export_seg.join(sidx, on="session_id", how="left", maintain_order="left"), own.segments],
        how="diagonal",
    ).sort(["_sidx", "matched_at"], maintain_order=True, nulls_last=True)
    outs = pl.concat(
        [export_out.join(sidx, on="session_id", how="left", maintain_order="left"), own.outcomes],
        how="diagonal",
    ).sort(["_sidx", "achieved_at"], maintain_order=True, nulls_last=True)
    return RuleResults(
        segments=segs.select(_cols(SEGMENTS_SCHEMA)),
        outcomes=outs.select(_cols(OUTCOMES_SCHEMA)),
        action_maps=own.action_maps,
        outcome_values=own.outcome_values,
    )


#: The event columns the export's own segment and outcome rows are read from.
EXPORT_COLUMNS = (
    "session_id",
    "kind",
    "segment_id",
    "outcome_id",
    "outcome_display_name",
    "created_date",
    "event_id",
)


def export_results(events: pl.LazyFrame, rules: Rules | None = None) -> RuleResults:
    """The export's own segment_assigned / outcome_achieved rows of `events` (EXPORT_COLUMNS
    at least), without evaluating any rule: what a rules report lists beside its own."""
    segs, outs = _export_rows(events, rules)
    return RuleResults(segments=segs, outcomes=outs)


def _export_rows(ev: pl.LazyFrame, rules: Rules | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """segment_assigned / outcome_achieved events of the export, first per session and id,
    sorted by session, time, id; names (and colours) from the rules when they know the id."""
    segments = rules.segments if rules else ()
    outcomes = rules.outcomes if rules else ()
    seg_names = pl.DataFrame(
        {
            "segment_id": [s.id for s in segments],
            "_name": [s.display_name for s in segments],
            "_color": [s.color for s in segments],
        },
        schema={"segment_id": pl.String, "_name": pl.String, "_color": pl.String},
    )
    out_names = pl.DataFrame(
        {"outcome_id": [o.id for o in outcomes], "_name": [o.display_name for o in outcomes]},
        schema={"outcome_id": pl.String, "_name": pl.String},
    )
    system = (
        ev.filter(
            pl.col("kind").is_in([KIND_SEGMENT, KIND_OUTCOME]) & pl.col("session_id").is_not_null()
        )
        .select(EXPORT_COLUMNS)
        .collect()
    )
    segs = (
        system.filter((pl.col("kind") == KIND_SEGMENT) & pl.col("segment_id").is_not_null())
        .sort(["session_id", "created_date", "segment_id", "event_id"])
        .unique(["session_id", "segment_id"], keep="first", maintain_order=True)
        .join(seg_names, on="segment_id", how="left", maintain_order="left")
        .select(
            "session_id",
            "segment_id",
            pl.col("_name").alias("display_name"),
            pl.col("_color").alias("color"),
            pl.col("created_date").alias("matched_at"),
            "event_id",
            pl.lit(SOURCE_EXPORT).alias("source"),
        )
    )
    outs = (
        system.filter((pl.col("kind") == KIND_OUTCOME) & pl.col("outcome_id").is_not_null())
        .sort(["session_id", "created_date", "outcome_id", "event_id"])
        .unique(["session_id", "outcome_id"], keep="first", maintain_order=True)
        .join(out_names, on="outcome_id", how="left", maintain_order="left")
        .select(
            "session_id",
            "outcome_id",
            pl.coalesce("outcome_display_name", "_name").alias("display_name"),
            pl.col("created_date").alias("achieved_at"),
            "event_id",
            pl.lit(SOURCE_EXPORT).alias("source"),
        )
    )
    return segs.select(_cols(SEGMENTS_SCHEMA)), outs.select(_cols(OUTCOMES_SCHEMA))


@dataclass
class Plan:
    """The rules compiled to per-event flag expressions, by rule part."""

    rules: Rules
    exprs: dict[str, pl.Expr] = field(default_factory=dict)
    segment_patterns: dict[tuple[int, int], str] = field(default_factory=dict)
    outcome_stages: dict[tuple[int, int], str] = field(default_factory=dict)
    segment_context: dict[int, str] = field(default_factory=dict)  # at events
    map_activity: dict[tuple[int, int], str] = field(default_factory=dict)
    map_qualify: dict[int, str] = field(default_factory=dict)  # page conditions and dates
    map_dates: dict[int, str] = field(default_factory=dict)
    map_any_activity: dict[int, str] = field(default_factory=dict)

    @property
    def segments(self) -> list[Segment]:
        return [s for s in self.rules.segments if s.active]

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for o in self.rules.outcomes if o.active]

    @property
    def action_maps(self) -> list[ActionMap]:
        return [m for m in self.rules.action_maps if m.active]

    def add(self, name: str, expr: pl.Expr) -> str:
        self.exprs[name] = expr.alias(name)
        return name

    @classmethod
    def build(cls, rules: Rules, schema: dict[str, pl.DataType]) -> Plan:
        plan = cls(rules)
        for i, s in enumerate(plan.segments):
            for j, p in enumerate(s.patterns):
                plan.segment_patterns[i, j] = plan.add(f"s{i}p{j}", pattern_expr(p, schema))
            if s.event_context:
                plan.segment_context[i] = plan.add(f"s{i}c", all_of(s.event_context, schema))
        for i, o in enumerate(plan.outcomes):
            for j, p in enumerate(o.stages):
                plan.outcome_stages[i, j] = plan.add(f"o{i}s{j}", pattern_expr(p, schema))
        for i, m in enumerate(plan.action_maps):
            for j, p in enumerate(m.activity):
                plan.map_activity[i, j] = plan.add(f"m{i}a{j}", pattern_expr(p, schema))
            win = date_window(m)
            plan.map_qualify[i] = plan.add(f"m{i}q", all_of(m.page_url, schema) & win)
            plan.map_dates[i] = plan.add(f"m{i}d", win)
            acts = [pattern_expr(p, schema) for p in m.activity]
            plan.map_any_activity[i] = plan.add(
                f"m{i}any", pl.any_horizontal(acts) if acts else pl.lit(False)
            )
        return plan

    def context_columns(self) -> list[str]:
        return sorted({c.column for s in self.segments for c in s.session_context if c.column})


def date_window(m: ActionMap) -> pl.Expr:
    """True on events within the action map's start/end dates."""
    t = pl.col("created_date")
    e = pl.lit(True)
    if m.start_date is not None:
        e = e & (t >= m.start_date)
    if m.end_date is not None:
        e = e & (t < m.end_date)
    return e


def _at(act: pl.DataFrame, sess: pl.DataFrame, row: pl.Series) -> pl.DataFrame:
    """_sidx, session_id, _row, at and event_id of one row per session (nulls dropped)."""
    frame = pl.DataFrame(
        {
            "_sidx": pl.int_range(sess.height, dtype=pl.Int64, eager=True),
            "session_id": sess.get_column("session_id"),
            "_row": row,
        }
    ).filter(pl.col("_row").is_not_null())
    r = frame.get_column("_row")
    return frame.with_columns(
        at=act.get_column("created_date").gather(r),
        event_id=act.get_column("event_id").gather(r),
    )


def _evaluate_rules(
    ev: pl.LazyFrame, ss: pl.LazyFrame, rules: Rules, presorted: bool
) -> tuple[RuleResults, pl.DataFrame]:
    """jtrack's own matches (frames carry _sidx, the session's position) and the sessions."""
    plan = Plan.build(rules, event_schema(ev, rules))
    act = activity_frame(ev, rules, plan.exprs, presorted)
    sess = session_frame(act, ss, plan.context_columns())
    out = RuleResults()
    if act.height == 0:
        return out, sess
    flags = _Flags(act)
    start = sess.get_column("start")
    end = sess.get_column("end")
    sschema = dict(sess.schema)

    seg_rows: dict[str, pl.Series] = {}
    seg_frames = []
    for i, s in enumerate(plan.segments):
        rows = [
            flags.kth(plan.segment_patterns[i, j], start, p.count, end)
            for j, p in enumerate(s.patterns)
        ]
        row = _max_all(rows, start)
        if i in plan.segment_context:  # the first event from there on where it holds
            row = flags.kth(plan.segment_context[i], row, 1, end)
        if s.session_context:
            ok = sess.select(all_of(s.session_context, sschema)).to_series()
            row = _rows(pl.when(pl.col("ok")).then(pl.col("row")), ok=ok, row=row)
        seg_rows[s.id] = row
        seg_frames.append(
            _at(act, sess, row).select(
                "_sidx",
                "session_id",
                pl.lit(s.id).alias("segment_id"),
                pl.lit(s.display_name).alias("display_name"),
                pl.lit(s.color, pl.String).alias("color"),
                pl.col("at").alias("matched_at"),
                "event_id",
                pl.lit(SOURCE_RULES).alias("source"),
            )
        )
    if seg_frames:
        out.segments = pl.concat(seg_frames)

    out_frames = []
    value_frames = []
    for i, o in enumerate(plan.outcomes):
        x: pl.Series = start
        row = start
        for j in range(len(o.stages)):
            row = flags.kth(plan.outcome_stages[i, j], x, 1, end)
            x = _after(row, end)
        hit = _at(act, sess, row)
        out_frames.append(
            hit.select(
                "_sidx",
                "session_id",
                pl.lit(o.id).alias("outcome_id"),
                pl.lit(o.display_name).alias("display_name"),
                pl.col("at").alias("achieved_at"),
                "event_id",
                pl.lit(SOURCE_RULES).alias("source"),
            )
        )
        if o.value_attribute:
            vals = act.get_column(attribute_column(o.value_attribute)).gather(hit["_row"])
            value_frames.append(
                hit.select("_sidx", "session_id", pl.lit(o.id).alias("outcome_id")).with_columns(
                    value=number_series(vals), text=vals.cast(pl.String)
                )
            )
    if out_frames:
        out.outcomes = pl.concat(out_frames)
    if value_frames:
        out.outcome_values = (
            pl.concat(value_frames)
            .sort("_sidx", maintain_order=True)
            .select(_cols(OUTCOME_VALUES_SCHEMA))
        )
    if plan.action_maps:
        out.action_maps = _action_maps(act, sess, flags, plan, seg_rows)
    return out, sess


def number_series(vals: pl.Series) -> pl.Series:
    """Text as numbers the way numeric operators read them (null when not a number)."""
    return pl.DataFrame({"v": vals}).select(number_expr("v", pl.String())).to_series()


def _action_maps(
    act: pl.DataFrame,
    sess: pl.DataFrame,
    flags: _Flags,
    plan: Plan,
    seg_rows: dict[str, pl.Series],
) -> pl.DataFrame:
    n = sess.height
    start = sess.get_column("start")
    end = sess.get_column("end")
    sidx = pl.int_range(n, dtype=pl.Int64, eager=True)
    maps = plan.action_maps
    cands = []
    blocked = []
    for i, m in enumerate(maps):
        seg_cols = [seg_rows[s] for s in m.segments if s in seg_rows]
        if m.segments:
            trig = _min_any(seg_cols, n)
        else:
            done = [
                flags.kth(plan.map_activity[i, j], start, p.count, end)
                for j, p in enumerate(m.activity)
            ]
            trig = _max_all(done, start)
        q = flags.kth(plan.map_qualify[i], trig, 1, end)
        d = flags.kth(plan.map_dates[i], trig, 1, end)
        if m.segments:
            later = [
                _rows(pl.when(pl.col("c") > pl.col("q")).then("c"), c=c, q=q) for c in seg_cols
            ]
            again = _min_any(later, n)
        else:
            again = flags.kth(plan.map_any_activity[i], _after(q, end), 1, end)
        frame = pl.DataFrame(
            {"sidx": sidx, "trig": trig, "q": q, "d": d, "again": again}
        ).with_columns(map=pl.lit(i, pl.Int32), weight=pl.lit(m.weight, pl.Int32), id=pl.lit(m.id))
        frame = frame.filter(pl.col("trig").is_not_null())
        cands.append(frame.filter(pl.col("q").is_not_null()))
        blocked.append(
            frame.filter(pl.col("q").is_null()).select(
                "sidx",
                "map",
                pl.col("trig").alias("row"),
                pl.when(pl.col("d").is_null())
                .then(pl.lit(REASON_DATES))
                .otherwise(pl.lit(REASON_PAGE))
                .alias("reason"),
            )
        )
    ranked = pl.concat(cands).sort(
        ["sidx", "q", "weight", "id"], descending=[False, False, True, False]
    )
    ranked = ranked.with_columns(win=pl.struct("sidx", "q").is_first_distinct())
    winners = ranked.filter(pl.col("win"))
    qualified = winners.select(
        "sidx", "map", pl.col("q").alias("row"), pl.lit(None, pl.String).alias("reason")
    )
    losers = ranked.filter(~pl.col("win")).select(
        "sidx", "map", pl.col("q").alias("row"), pl.lit(REASON_WEIGHT).alias("reason")
    )
    again_rows = winners.filter(pl.col("again").is_not_null()).select(
        "sidx", "map", pl.col("again").alias("row"), pl.lit(REASON_ALREADY).alias("reason")
    )
    # session, then row; at one row: qualified before blocked, then maps in file order
    rows: pl.DataFrame = pl.concat([qualified, *blocked, losers, again_rows]).sort(
        ["sidx", "row"], maintain_order=True
    )
    names = pl.DataFrame(
        {
            "map": list(range(len(maps))),
            "action_map_id": [m.id for m in maps],
            "display_name": [m.display_name for m in maps],
        },
        schema={"map": pl.Int32, "action_map_id": pl.String, "display_name": pl.String},
    )
    r = rows.get_column("row")
    return (
        rows.with_columns(
            session_id=sess.get_column("session_id").gather(rows.get_column("sidx")),
            at=act.get_column("created_date").gather(r),
            event_id=act.get_column("event_id").gather(r),
            status=pl.when(pl.col("reason").is_null())
            .then(pl.lit("qualified"))
            .otherwise(pl.lit("blocked")),
        )
        .join(names, on="map", how="left", maintain_order="left")
        .select(_cols(ACTION_MAPS_SCHEMA))
    )
