"""Rule results summarised: per segment, per outcome (overall and by segment), per action
map; and the per-session segment/outcome lists for the session table. Imports Polars only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from jtrack.core.rules.evaluate import SOURCE_EXPORT, SOURCE_RULES, RuleResults
from jtrack.core.rules.model import BLOCK_REASONS, Rules
from jtrack.errors import DataError

SECTIONS = ("segments", "outcomes", "outcomes_by_segment", "action_maps")


def session_rule_columns(results: RuleResults) -> pl.DataFrame:
    """Per session with any match: `segments` and `outcomes` as lists of ids (both sources,
    each id once, in the order first matched). Columns: session_id, segments, outcomes."""
    lists = pl.List(pl.String())

    def ids(frame: pl.DataFrame, col: str, at: str, name: str) -> pl.DataFrame:
        return (
            frame.sort(["session_id", at, col], maintain_order=True)
            .unique(["session_id", col], keep="first", maintain_order=True)
            .group_by("session_id", maintain_order=True)
            .agg(pl.col(col).alias(name))
        )

    seg = ids(results.segments, "segment_id", "matched_at", "segments")
    out = ids(results.outcomes, "outcome_id", "achieved_at", "outcomes")
    both = seg.join(out, on="session_id", how="full", coalesce=True)
    return (
        both.with_columns(
            pl.col("segments").fill_null(pl.lit([], dtype=lists)),
            pl.col("outcomes").fill_null(pl.lit([], dtype=lists)),
        )
        .select("session_id", pl.col("segments").cast(lists), pl.col("outcomes").cast(lists))
        .sort("session_id")
    )


def join_rule_columns(sessions: pl.DataFrame, results: RuleResults) -> pl.DataFrame:
    """The session table with `segments` and `outcomes` list columns (empty when none),
    in the session table's own row order."""
    cols = session_rule_columns(results).rename({"session_id": "id"})
    lists = pl.List(pl.String())
    return sessions.join(cols, on="id", how="left", maintain_order="left").with_columns(
        pl.col("segments").fill_null(pl.lit([], dtype=lists)),
        pl.col("outcomes").fill_null(pl.lit([], dtype=lists)),
    )


@dataclass
class RulesReport:
    """The `jtrack rules report` sections, each a frame; totals over the sessions read."""

    sessions: int
    visitors: int
    segments: pl.DataFrame
    outcomes: pl.DataFrame
    outcomes_by_segment: pl.DataFrame
    action_maps: pl.DataFrame
    #: the sessions counted, when not every one: those started on local days `from` to
    #: `to` (ISO dates, both included) of zone `tz`
    period: dict[str, Any] | None = None
    tz: str = "UTC"
    #: without a period, the first and the last local day (`from`, `to`) of the sessions
    #: counted: what the Markdown and HTML headlines name (not in JSON, whose period is null)
    span: dict[str, Any] | None = None
    #: what the figures leave out (unvalued_notes: achievements without a number in their
    #: outcome's value attribute), said as `note:` lines
    notes: list[str] = field(default_factory=list)
    #: what the report was made from: {store, version, rules (the file), rules_sha256}
    source: dict[str, Any] | None = None

    def sections(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in SECTIONS}

    def to_dict(self) -> dict[str, Any]:
        from jtrack.serialize import to_records

        return {
            "report": "rules",
            "tz": self.tz,
            "period": self.period,
            "source": self.source,
            "sessions": self.sessions,
            "visitors": self.visitors,
            **{name: to_records(df) for name, df in self.sections().items()},
            "notes": self.notes,
        }

    def to_frame(self) -> pl.DataFrame:
        """All sections in one frame, a `section` column first (for CSV, JSONL, Parquet)."""
        parts = [
            df.select(pl.lit(name).alias("section"), pl.all())
            for name, df in self.sections().items()
        ]
        return pl.concat(parts, how="diagonal_relaxed")


def _rate(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then((num / den).round(4)).otherwise(None)


def rules_report(
    rules: Rules | None,
    results: RuleResults,
    sessions: pl.DataFrame | pl.LazyFrame,
    every: RuleResults | None = None,
) -> RulesReport:
    """Summaries of `results` over `sessions` (the session table: id, customer_id).
    `every`: the results of the whole store when `results` are a period's: the export's
    segments and outcomes it knows are listed too, with 0 where the period has none (so the
    rows of two periods are the same)."""
    table = sessions.lazy().select("id", "customer_id").collect()
    total = table.height
    visitors = table.get_column("customer_id").n_unique() if total else 0
    who = table.rename({"id": "session_id"})
    rules = rules or Rules()
    return RulesReport(
        sessions=total,
        visitors=visitors,
        segments=_segments(rules, results, who, total, every or results),
        outcomes=_outcomes(rules, results, who, total, every or results),
        outcomes_by_segment=_by_segment(rules, results),
        action_maps=_action_maps(rules, results, total),
        notes=unvalued_notes(rules, results),
    )


def _order(ids: list[str], found: pl.Series) -> pl.DataFrame:
    """Rule ids in file order, then ids only the export knows, sorted."""
    distinct = found.unique()
    extra = distinct.filter(~distinct.is_in(ids)).sort().to_list()
    return pl.DataFrame({"_id": ids + extra, "_ord": range(len(ids) + len(extra))}).with_columns(
        pl.col("_id").cast(pl.String)
    )


def _exported(frame: pl.DataFrame, id_col: str) -> pl.Series:
    """The ids the export's own events name in `frame`."""
    return frame.filter(pl.col("source") == SOURCE_EXPORT).get_column(id_col).unique()


def _segments(
    rules: Rules, res: RuleResults, who: pl.DataFrame, total: int, every: RuleResults
) -> pl.DataFrame:
    seg = res.segments.join(who, on="session_id", how="left")
    counts = seg.group_by("segment_id", "source").agg(
        sessions=pl.col("session_id").n_unique().cast(pl.Int64),
        visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
    )
    ids = [s.id for s in rules.segments]
    order = _order(ids, every.segments.get_column("segment_id"))
    known = _exported(every.segments, "segment_id").implode()
    meta = pl.DataFrame(
        {
            "_id": ids,
            "display_name": [s.display_name for s in rules.segments],
            "color": [s.color for s in rules.segments],
            "active": [s.active for s in rules.segments],
        },
        schema={
            "_id": pl.String,
            "display_name": pl.String,
            "color": pl.String,
            "active": pl.Boolean,
        },
    )
    rows = order.join(pl.DataFrame({"source": [SOURCE_RULES, SOURCE_EXPORT]}), how="cross")
    rows = rows.join(counts.rename({"segment_id": "_id"}), on=["_id", "source"], how="left").filter(
        (pl.col("source") == SOURCE_RULES) & pl.col("_id").is_in(ids)
        | (pl.col("source") == SOURCE_EXPORT) & pl.col("_id").is_in(known)
    )
    return (
        rows.join(meta, on="_id", how="left")
        .sort(["_ord", "source"], descending=[False, True])
        .select(
            pl.col("_id").alias("segment_id"),
            "display_name",
            "color",
            "active",
            "source",
            pl.col("sessions").fill_null(0),
            pl.col("visitors").fill_null(0),
            _rate(pl.col("sessions").fill_null(0), pl.lit(total)).alias("share_of_sessions"),
        )
    )


def _outcomes(
    rules: Rules, res: RuleResults, who: pl.DataFrame, total: int, every: RuleResults
) -> pl.DataFrame:
    counts = (
        res.outcomes.join(who, on="session_id", how="left")
        .group_by("outcome_id", "source")
        .agg(
            achieved=pl.col("session_id").n_unique().cast(pl.Int64),
            visitors=pl.col("customer_id").n_unique().cast(pl.Int64),
        )
    )
    values = res.outcome_values.group_by("outcome_id").agg(
        value_total=pl.col("value").sum(), _valued=pl.col("value").is_not_null().sum()
    )
    _refuse_overflow(rules, values)
    ids = [o.id for o in rules.outcomes]
    order = _order(ids, every.outcomes.get_column("outcome_id"))
    known = _exported(every.outcomes, "outcome_id").implode()
    meta = pl.DataFrame(
        {
            "_id": ids,
            "_name": [o.display_name for o in rules.outcomes],
            "positive": [o.positive for o in rules.outcomes],
            "_has_value": [o.value_attribute is not None for o in rules.outcomes],
            "active": [o.active for o in rules.outcomes],
        },
        schema={
            "_id": pl.String,
            "_name": pl.String,
            "positive": pl.Boolean,
            "_has_value": pl.Boolean,
            "active": pl.Boolean,
        },
    )
    export_names = (
        every.outcomes.filter(pl.col("source") == SOURCE_EXPORT)
        .group_by("outcome_id")
        .agg(pl.col("display_name").drop_nulls().sort().first().alias("_export_name"))
        .rename({"outcome_id": "_id"})
    )
    rows = order.join(pl.DataFrame({"source": [SOURCE_RULES, SOURCE_EXPORT]}), how="cross")
    rows = rows.join(counts.rename({"outcome_id": "_id"}), on=["_id", "source"], how="left")
    rows = rows.filter(
        (pl.col("source") == SOURCE_RULES) & pl.col("_id").is_in(ids)
        | (pl.col("source") == SOURCE_EXPORT) & pl.col("_id").is_in(known)
    )
    is_rules = pl.col("source") == SOURCE_RULES
    achieved = pl.col("achieved").fill_null(0)
    _valued = (pl.col("_valued").fill_null(0) > 0) | (achieved == 0)
    _valued = _valued & pl.col("value_total").fill_null(0.0).is_finite()
    return (
        rows.join(meta, on="_id", how="left")
        .join(export_names, on="_id", how="left")
        .join(values.rename({"outcome_id": "_id"}), on="_id", how="left")
        .sort(["_ord", "source"], descending=[False, True])
        .select(
            pl.col("_id").alias("outcome_id"),
            # (each row named by its source: the export's own name on the export's row)
            pl.when(is_rules)
            .then(pl.coalesce("_name", "_export_name"))
            .otherwise(pl.coalesce("_export_name", "_name"))
            .alias("display_name"),
            "positive",
            "active",
            "source",
            pl.col("achieved").fill_null(0),
            pl.col("visitors").fill_null(0),
            _rate(pl.col("achieved").fill_null(0), pl.lit(total)).alias("conversion_rate"),
            # (to a millionth: a sum of 129.90s is 21790.29, not its binary 21790.289999...;
            # none when achievements carried no number in the value attribute, a misspelt
            # one say; a sum beyond a float's range is an error, _refuse_overflow)
            # (how many achievements had a number there: value_total is their sum alone)
            pl.when(is_rules & pl.col("_has_value"))
            .then(pl.col("_valued").fill_null(0).cast(pl.Int64))
            .alias("valued"),
            pl.when(is_rules & pl.col("_has_value") & _valued)
            .then(_to_millionths(pl.col("value_total").fill_null(0.0)))
            .alias("value_total"),
        )
    )


def unvalued_notes(rules: Rules | None, results: RuleResults) -> list[str]:
    """A note per outcome (in file order) some of whose achievements carried no number in
    its value attribute (`"1,299.00"`, `"EUR 450"`, or none at all): value_total leaves
    them out, which the `valued` column counts and this says, with one value it met."""
    if rules is None or not any(o.value_attribute for o in rules.outcomes):
        return []
    vals = results.outcome_values
    text = pl.col("text") if "text" in vals.columns else pl.lit(None, pl.String)
    missing = (
        vals.filter(pl.col("value").is_null())
        .group_by("outcome_id")
        .agg(
            n=pl.len(),
            example=text.filter(text.str.strip_chars() != "").sort().first(),
        )
    )
    found = {r["outcome_id"]: r for r in missing.iter_rows(named=True)}  # (one per outcome)
    totals = dict(vals.group_by("outcome_id").len().iter_rows())
    notes = []
    for o in rules.outcomes:
        row = found.get(o.id)
        if o.value_attribute is None or row is None:
            continue
        n, of = row["n"], totals.get(o.id, row["n"])
        example = f", e.g. {row['example']!r}" if row["example"] is not None else ""
        notes.append(
            f"outcome {o.id!r}: {n:,} of {of:,} achievement{'s' if of != 1 else ''} had no "
            f"number in {o.value_attribute!r}{example}; "
            + (f"value_total sums the {of - n:,} valued" if of > n else "value_total is empty")
            + " (write plain numbers such as 1299.00, no thousands separators or currency)"
        )
    return notes


def _refuse_overflow(rules: Rules, values: pl.DataFrame) -> None:
    """A DataError naming the first outcome (in file order) whose values add up beyond a
    float's range (±1.8e308): its value_total was none, as if its achievements carried no
    value, which a billing or analytics reader takes for "worth nothing" (and infinity is
    no JSON). `values`: one row per outcome."""
    over = values.filter(~pl.col("value_total").fill_null(0.0).is_finite())
    if not over.height:
        return
    ids = set(over.get_column("outcome_id").to_list())
    first = next((o for o in rules.outcomes if o.id in ids), None)
    name = first.id if first is not None else sorted(ids)[0]
    attribute = first.value_attribute if first is not None else None
    more = f" (and {len(ids) - 1:,} more)" if len(ids) > 1 else ""
    raise DataError(
        f"outcome {name!r}{more}: its values add up beyond a number's range (±1.8e308): "
        "no value_total can be given",
        hint=f"the events' {attribute!r} values hold numbers too large to add (an export's "
        "error?): fix them, or leave value_attribute out of the outcome",
    )


def _to_millionths(x: pl.Expr) -> pl.Expr:
    """`x` rounded to a millionth, or to fewer places where a float's 15 significant
    digits leave it fewer (a sum of 4000000001.1s is 4000000001.1, not its binary
    4000000001.0999994), as decimal text rounds (Polars' round scales by a million, and
    past 10^11 that changes exact amounts: 606692516747.0001). One value per outcome: no
    loop over the input."""

    def rounded(v: float) -> float:
        if not math.isfinite(v) or abs(v) >= 1e15:
            return v
        places = max(0, min(6, 15 - len(str(int(abs(v))))))
        return float(f"{v:.{places}f}")

    return x.map_elements(rounded, return_dtype=pl.Float64)


def _by_segment(rules: Rules, res: RuleResults) -> pl.DataFrame:
    segs = res.segments.filter(pl.col("source") == SOURCE_RULES).select("session_id", "segment_id")
    outs = res.outcomes.filter(pl.col("source") == SOURCE_RULES).select("session_id", "outcome_id")
    sizes = segs.group_by("segment_id").agg(segment_sessions=pl.len().cast(pl.Int64))
    hits = (
        segs.join(outs, on="session_id", how="inner")
        .group_by("segment_id", "outcome_id")
        .agg(achieved=pl.len().cast(pl.Int64))
    )
    segments = [s for s in rules.segments if s.active]
    outcomes = [o for o in rules.outcomes if o.active]
    grid = pl.DataFrame(
        {
            "segment_id": [s.id for s in segments for _ in outcomes],
            "outcome_id": [o.id for _ in segments for o in outcomes],
        },
        schema={"segment_id": pl.String, "outcome_id": pl.String},
    )
    return (
        grid.join(sizes, on="segment_id", how="left", maintain_order="left")
        .join(hits, on=["segment_id", "outcome_id"], how="left", maintain_order="left")
        .select(
            "segment_id",
            "outcome_id",
            pl.col("segment_sessions").fill_null(0),
            pl.col("achieved").fill_null(0),
            _rate(pl.col("achieved").fill_null(0), pl.col("segment_sessions").fill_null(0)).alias(
                "conversion_rate"
            ),
        )
    )


def _action_maps(rules: Rules, res: RuleResults, total: int) -> pl.DataFrame:
    am = res.action_maps
    key = (
        pl.when(pl.col("status") == "qualified")
        .then(pl.lit("qualified"))
        .otherwise(pl.lit("blocked_") + pl.col("reason"))
    )
    counts = am.group_by("action_map_id", key.alias("k")).agg(
        n=pl.col("session_id").n_unique().cast(pl.Int64)
    )
    cols = ["qualified", *(f"blocked_{r}" for r in BLOCK_REASONS)]
    base = pl.DataFrame(
        {
            "action_map_id": [m.id for m in rules.action_maps],
            "display_name": [m.display_name for m in rules.action_maps],
            "weight": [m.weight for m in rules.action_maps],
            "active": [m.active for m in rules.action_maps],
        },
        schema={
            "action_map_id": pl.String,
            "display_name": pl.String,
            "weight": pl.Int64,
            "active": pl.Boolean,
        },
    )
    for c in cols:
        part = counts.filter(pl.col("k") == c).select("action_map_id", pl.col("n").alias(c))
        base = base.join(part, on="action_map_id", how="left", maintain_order="left")
    return base.with_columns([pl.col(c).fill_null(0) for c in cols]).with_columns(
        _rate(pl.col("qualified"), pl.lit(total)).alias("qualified_rate")
    )


__all__ = [
    "SECTIONS",
    "RulesReport",
    "join_rule_columns",
    "rules_report",
    "session_rule_columns",
    "unvalued_notes",
]
