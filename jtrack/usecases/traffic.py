"""Which traffic a reading command shows: `--traffic` read, the filter, what was left out.

Reports, `sessions`, `journey` and `rules report` show people (`human`) unless told
otherwise; whatever a filter leaves out is counted so the output can say so. The classes
themselves come from jtrack.core.traffic (stored per session at sessionize time); a session
without a class (none is stored so) counts as human. Imports Polars only; never prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from jtrack.core.traffic import AUTOMATED_CLASSES, HUMAN, TRAFFIC_CLASSES
from jtrack.errors import UsageError

#: What reading commands show when --traffic is not given: people only.
DEFAULT_TRAFFIC: tuple[str, ...] = (HUMAN,)
#: Words --traffic takes besides the class names.
TRAFFIC_WORDS = {"all": TRAFFIC_CLASSES, "automated": AUTOMATED_CLASSES}


def parse_traffic(text: str | None, option: str = "--traffic") -> tuple[str, ...]:
    """`--traffic human,ai_agent` (or `all`, or `automated`) as classes in TRAFFIC_CLASSES
    order; None gives DEFAULT_TRAFFIC. An unknown name is a UsageError (exit 2) naming the
    nearest class."""
    if text is None:
        return DEFAULT_TRAFFIC
    chosen: set[str] = set()
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(
            f"{option}: no traffic class given",
            hint="e.g. --traffic human, --traffic human,ai_agent or --traffic all",
        )
    valid = [*TRAFFIC_CLASSES, *TRAFFIC_WORDS]
    for name in names:
        if name in TRAFFIC_WORDS:
            chosen.update(TRAFFIC_WORDS[name])
        elif name in TRAFFIC_CLASSES:
            chosen.add(name)
        else:
            near = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
            raise UsageError(
                f"{option}: {name!r} is not a traffic class",
                hint=(f"did you mean {near[0]!r}? " if near else "")
                + "classes: "
                + ", ".join(TRAFFIC_CLASSES)
                + "; or all, automated",
            )
    return tuple(c for c in TRAFFIC_CLASSES if c in chosen)


def check_traffic(classes: Iterable[str] | str) -> tuple[str, ...]:
    """Library callers' classes, checked like --traffic (UsageError on an unknown name); a
    string is read as --traffic reads it ("human", "all", "crawler,ai_agent")."""
    if classes is None:
        raise UsageError(
            "traffic None: no classes",
            hint='traffic="all" counts every class, "human" people only; or give a list',
        )
    if isinstance(classes, str):
        return parse_traffic(classes, "traffic")
    from jtrack.checks import must_be

    what = 'a traffic class ("human", "all") or a list of classes'
    must_be(classes, "traffic", Iterable, what)
    names = list(classes)
    for name in names:
        must_be(name, "traffic", str, what)
    return parse_traffic(",".join(names), "traffic")


def is_all(classes: Sequence[str]) -> bool:
    return set(classes) >= set(TRAFFIC_CLASSES)


def traffic_expr(classes: Sequence[str], column: str = "traffic_class") -> pl.Expr:
    """True for rows whose traffic class is one of `classes` (a null class counts as
    human)."""
    if is_all(classes):
        return pl.lit(True)
    return pl.col(column).fill_null(HUMAN).is_in(list(classes))


def describe_classes(classes: Sequence[str]) -> str:
    """`human (people only)`, `all classes`, `automated (every class but human)`, or the
    names."""
    if tuple(classes) == DEFAULT_TRAFFIC:
        return "human (people only)"
    if is_all(classes):
        return "all classes (people and automated)"
    if tuple(classes) == AUTOMATED_CLASSES:
        return "automated only (every class but human)"
    return ", ".join(classes)


@dataclass(frozen=True)
class TrafficScope:
    """The traffic classes shown, and the sessions (and their events) left out, per class."""

    classes: tuple[str, ...] = DEFAULT_TRAFFIC
    left_out: dict[str, int] = field(default_factory=dict)  # class -> sessions, > 0 only
    left_out_events: int = 0

    @property
    def sessions_left_out(self) -> int:
        return sum(self.left_out.values())

    @property
    def option(self) -> str:
        """The --traffic value that gives this selection."""
        if is_all(self.classes):
            return "all"
        if self.classes == AUTOMATED_CLASSES:
            return "automated"
        return ",".join(self.classes)

    def line(self) -> str:
        """`traffic: human (people only)`: what the output counts."""
        return f"traffic: {describe_classes(self.classes)}"

    def note(self) -> str | None:
        """How many sessions were left out and how to include them (None: none were)."""
        n = self.sessions_left_out
        if not n:
            return None
        automated = all(c != HUMAN for c in self.left_out)
        what = "automated session" if automated else "session"
        noun = what if n == 1 else what + "s"
        by = ", ".join(f"{c} {k:,}" for c, k in self.left_out.items())
        events = f"{self.left_out_events:,} event{'s' if self.left_out_events != 1 else ''}"
        return (
            f"{n:,} {noun} ({by}; {events}) left out: --traffic all includes them"
            if automated
            else f"{n:,} {noun} of other classes ({by}; {events}) left out: --traffic all "
            "includes them"
        )

    def summary(self) -> str:
        """The line and the note as one sentence, for a caption under a table."""
        note = self.note()
        return self.line() + (f"; {note}" if note else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {classes, left_out {sessions, events, by_class}}."""
        return {
            "classes": list(self.classes),
            "left_out": {
                "sessions": self.sessions_left_out,
                "events": self.left_out_events,
                "by_class": dict(self.left_out),
            },
        }


def traffic_scope(sessions: pl.LazyFrame | pl.DataFrame, classes: Sequence[str]) -> TrafficScope:
    """The scope of `classes` over `sessions` (a session table, already filtered by whatever
    else the command filters on): the sessions and events of the other classes."""
    classes = tuple(classes)
    if is_all(classes):
        return TrafficScope(classes)
    lf = sessions.lazy()
    cls = pl.col("traffic_class").fill_null(HUMAN)
    events = pl.col("event_count") if "event_count" in lf.collect_schema().names() else pl.lit(0)
    counts = (
        lf.filter(~cls.is_in(list(classes)))
        .group_by(cls.alias("c"))
        .agg(n=pl.len(), e=events.sum().cast(pl.Int64))
        .collect(engine="in-memory")
    )
    by = dict(zip(counts["c"].to_list(), counts["n"].to_list(), strict=True))
    left_out = {c: int(by[c]) for c in TRAFFIC_CLASSES if by.get(c)}
    return TrafficScope(classes, left_out, int(counts["e"].sum() or 0))


def class_shares(per_class: pl.DataFrame, n_sessions: int, n_events: int) -> pl.DataFrame:
    """A per-class table (`traffic_class`, `sessions`, `events`) with each class's share of
    the sessions and events (None when there are none), in class order."""
    order = {c: i for i, c in enumerate(TRAFFIC_CLASSES)}
    return (
        per_class.with_columns(
            share_of_sessions=(pl.col("sessions") / n_sessions).round(4)
            if n_sessions
            else pl.lit(None, pl.Float64),
            share_of_events=(pl.col("events") / n_events).round(4)
            if n_events
            else pl.lit(None, pl.Float64),
        )
        .sort(pl.col("traffic_class").replace_strict(order, default=len(order)))
        .select("traffic_class", "sessions", "share_of_sessions", "events", "share_of_events")
    )


__all__ = [
    "DEFAULT_TRAFFIC",
    "TRAFFIC_WORDS",
    "TrafficScope",
    "check_traffic",
    "class_shares",
    "describe_classes",
    "is_all",
    "parse_traffic",
    "traffic_expr",
    "traffic_scope",
]
