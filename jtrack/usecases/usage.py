"""Billing usage: distinct billable web events by day or month, month-to-date, allowance, overage.

Works on a LazyFrame of canonical events (the store, or raw sources) and projects only
event_id, created_date, kind and source_session_type (flat Parquet exports are scanned for the
raw columns these come from). Aggregation is pure Polars: events are deduplicated on their id,
then counted per 15-minute UTC bucket and usage class, and only the small bucket table is
turned into local days (every UTC offset since 2000 is a whole number of quarter hours, and
this is checked). Imports Polars and the stdlib only; never prints, never imports typer or rich.

Definitions (also in the README):
- usage classes: page_view, search, custom (web events of web sessions), custom_session
  (activity of custom session types such as `delivery`), app, system (segment, outcome and
  web-action events). Billable by default: page_view, search, custom.
- an event is billed once: distinct `event_id`; its time is the earliest copy's createdDate.
- days and months are local to `tz`; `as_of` is a cut-off: events created at or after it do
  not exist yet for the report (they are counted in the reconciliation).
- projection = month-to-date / days elapsed * days in month, where days elapsed is the local
  wall-clock time from the 1st 00:00 to `as_of`, in days (fractions count).
- late events (raw sources only): a file is a daily export when more than half of its events
  were created on one local day (its day); its events created on an earlier day are late
  (created before midnight, delivered after). An event is late when every copy of it is late.
  The store does not keep which file an event came from, so late events are null there.
- automated: billable events of automated traffic (every traffic class but `human`, see
  jtrack.core.traffic), counted beside the bill, never out of it: in the store, the events
  of sessions classed automated (user agent lists and behaviour); from export files, which
  are not sessionized, the events whose user agent is classed automated (behaviour signals
  need sessions). `automated_share` = automated / billable (null when nothing is billable).
"""

from __future__ import annotations

import calendar
import contextlib
import math
import numbers
import os
import re
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from jtrack.checks import must_be, utc_time
from jtrack.config import check_tz, config_tz
from jtrack.core.traffic import AUTOMATED_CLASSES, HUMAN
from jtrack.errors import (
    ConfigError,
    DataError,
    FileAccessError,
    JtrackError,
    RejectedRowError,
    UsageError,
)
from jtrack.locking import exclusive_lock, folder_mode, open_lock
from jtrack.options import MAX_COUNT
from jtrack.schema import (
    ACTIVITY_KINDS,
    EVENT_TYPE_PREFIX,
    KIND_APP,
    KIND_CUSTOM,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
    is_blank,
)
from jtrack.serialize import iso_z

if TYPE_CHECKING:
    from jtrack.store.store import StoreLike

Granularity = Literal["day", "month"]

#: Usage classes in report order; the codes are their positions.
CLASSES: tuple[str, ...] = ("page_view", "search", "custom", "custom_session", "app", "system")
DEFAULT_BILLABLE: tuple[str, ...] = ("page_view", "search", "custom")
_CODE = {c: i for i, c in enumerate(CLASSES)}

#: The only event columns usage reads.
USAGE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "created_date",
    "kind",
    "source_session_type",
    "source_session_id",
)

#: Stable column names of the per-period table (every format uses these).
ROW_COLUMNS: tuple[str, ...] = (
    "period",
    *CLASSES,
    "billable",
    "month_to_date",
    "allowance",
    "overage",
    "events",
    "rows",
    "duplicates",
    "late",
    "automated",
    "automated_share",
    # (the zone whose days or months the periods are: a CSV alone says it; last, as a
    # column added later is, so that a reader of columns by position reads as before)
    "tz",
)

#: Stable column names of the one-row summary (`--summary`).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "month",
    "as_of",
    "tz",
    "billable_classes",
    "month_to_date",
    "days_elapsed",
    "days_in_month",
    "projection",
    "users",
    "per_user",
    "allowance",
    "remaining",
    "overage",
    "projected_overage",
    "over_allowance",
    "rows_read",
    "rejected",
    "duplicates",
    "conflicting_duplicates",
    "events",
    "events_in_period",
    "events_outside_period",
    "events_after_as_of",
    "billable_in_period",
    "late_events",
    "months_with_events",
    "automated",
    "automated_share",
)

_BUCKET_US = 900 * 1_000_000  # 15 minutes: every UTC offset since 2000 is a multiple of it
_KEY_MULT = 16  # created_us * 16 + class code: one integer, so min() picks time then class
_AUTO_BIT = 8  # added to the class code of an automated event (class codes are < 8)


# --------------------------------------------------------------------------------------------
# Options and parsing
# --------------------------------------------------------------------------------------------


#: Month words for cron: the month of as-of ("current"), the one before it ("previous"), and
#: the month of the local day before as-of ("yesterday": at 00:15 on the 1st, the month that
#: just ended; on any other day, the current one).
MONTH_WORDS = ("current", "previous", "last", "yesterday")


#: The years a day, month or --as-of may be in: a month before or after one of them, and
#: a day's end, must still be a date (Python's run from year 1 to 9999).
YEARS = (1900, 9998)


def in_years(d: date, option: str, text: str) -> date:
    """`d` (read from `text`), if its year is in YEARS; else a UsageError (not Python's
    "year 0 is out of range" as an internal error)."""
    if not YEARS[0] <= d.year <= YEARS[1]:
        raise UsageError(
            f"{option} {text.strip()}: out of range (jtrack takes years {YEARS[0]} to {YEARS[1]})",
            hint="check the year",
        )
    return d


def parse_month(text: str, option: str = "--month") -> date:
    """`2026-10` as the first day of that month."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        hint = "write it as 2026-10, or previous, yesterday or current"
        raise UsageError(f"{option}: cannot read {text!r} as a month", hint=hint)
    year = int(m.group(1))
    return in_years(date(max(year, 1), int(m.group(2)), 1), option, text)


def resolve_month(text: str, as_of: datetime, tz: str, option: str = "--month") -> date:
    """`--month`: `2026-10`, or a word relative to `as_of` in `tz` (MONTH_WORDS):
    current (the month of as-of), previous / last (the month before it), yesterday (the
    month of the local day before as-of's day). The first day of that month."""
    word = text.strip().lower()
    if word not in MONTH_WORDS:
        return parse_month(text, option)
    local = as_of.astimezone(zoneinfo.ZoneInfo(check_tz(tz)))
    # the day of as-of itself: `--as-of 2026-12-01` is in December, its previous month
    # November (as-of being exclusive does not move it back a month)
    today = local.date()
    if word == "current":
        return _month_start(today)
    if word == "yesterday":
        return _month_start(local.date() - timedelta(days=1))
    return _month_start(_month_start(today) - timedelta(days=1))


def months_text(months: Sequence[str]) -> str:
    """Months (`2026-02`, sorted) in words: all of them when few, else how many, the first
    two and the last (never `first .. last`, which reads as every month between)."""
    if len(months) <= 4:
        return ", ".join(months)
    return f"{len(months)} months: {months[0]}, {months[1]}, ..., {months[-1]}"


def period_words(first: Any, last: Any) -> str:
    """A period by its first and last day (dates or ISO text; either may be None: open) in
    words: a whole month as the month (`2026-09`), one day as that day."""
    if first and last:
        a, b = date.fromisoformat(str(first)), date.fromisoformat(str(last))
        if _whole_month(a, b):
            return f"{a:%Y-%m}"
        return str(a) if a == b else f"{a} .. {b}"
    return f"{first} or later" if first else f"{last} or earlier"


def started_words(first: Any, last: Any) -> str:
    """What follows "sessions started": `in 2026-10`, `on 2026-10-05`, `2026-10-05 ..
    2026-10-11`, `on or after 2027-01-01`, `on or before 2025-12-31`."""
    if first and last:
        a, b = date.fromisoformat(str(first)), date.fromisoformat(str(last))
        words = period_words(a, b)
        return f"in {words}" if _whole_month(a, b) else f"on {words}" if a == b else words
    return f"on or after {first}" if first else f"on or before {last}"


def _whole_month(first: date, last: date) -> bool:
    return first.day == 1 and last + timedelta(days=1) == next_month(first)


def parse_day(text: str, option: str) -> date:
    """`2026-10-03` as that day, or `2026-10` as the first day of the month."""
    t = text.strip()
    if re.fullmatch(r"\d{4}-\d{1,2}", t):
        return parse_month(t, option)
    try:
        day = date.fromisoformat(t)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {text!r} as a day",
            hint="write it as 2026-10-03 (or 2026-10 for the 1st of the month)",
        ) from None
    return in_years(day, option, text)


def as_day(value: object, name: str) -> date | None:
    """A library caller's day: a date, or text as parse_day reads it ("2026-10-03",
    "2026-10"); None stays None; anything else is a UsageError (not a late Polars error)."""
    if value is None:
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return in_years(value, name, value.isoformat())
    if isinstance(value, str):
        return parse_day(value, name)
    raise UsageError(
        f"{name} {value!r}: a day is a datetime.date or text such as 2026-10-03",
        hint='pass date(2026, 10, 3) or "2026-10-03"',
    )


def parse_as_of(text: str, tz: str) -> datetime:
    """ISO-8601 date or time (or `now`); without an offset it is read in `tz`. Returned in
    UTC."""
    t = text.strip()
    if t.lower() == "now":
        return datetime.now(UTC)
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--as-of: cannot read {text!r} as a date or time",
            hint="use ISO-8601, e.g. 2026-10-15 or 2026-10-15T06:00:00Z, or now",
        ) from None
    in_years(d.date(), "--as-of", text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=zoneinfo.ZoneInfo(tz))
        back = d.astimezone(UTC).astimezone(d.tzinfo).replace(tzinfo=None)
        # a wall time the clocks skip (a date alone is its day's first instant: 01:00 where
        # midnight is skipped)
        if back != d.replace(tzinfo=None) and len(t) > 10:
            raise UsageError(
                f"--as-of {t}: no such time in {tz} (the clocks went forward over it that day)",
                hint="give a local time before or after the change, or a UTC time ending in Z",
            )
        if len(t) > 10:  # (a date alone: its day's first instant, the first of a repeat)
            _refuse_repeated(d, tz, f"--as-of {t}")
    return d.astimezone(UTC)


def _refuse_repeated(local: datetime, tz: str, what: str) -> None:
    """UsageError when the wall time `local` (aware, in `tz`) comes twice that day (the
    clocks went back over it): a bill's cut-off must not pick one of the two unsaid."""
    first, second = local.replace(fold=0), local.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return
    wall = local.replace(tzinfo=None).isoformat()
    raise UsageError(
        f"{what}: this time comes twice in {tz} (the clocks went back over it that day)",
        hint=f"give its offset: {wall}{_offset(first)} (the first) or {wall}{_offset(second)} "
        "(the second), or a UTC time ending in Z",
    )


def _offset(d: datetime) -> str:
    """`d`'s UTC offset as ISO-8601 writes it: +01:00."""
    return d.isoformat()[19:] if d.microsecond == 0 else d.isoformat()[26:]


def usage_config(config: Mapping[str, Any], path: Path | None = None) -> dict[str, Any]:
    """The checked `[usage]` table of the config file: users, per_user, billable, tz."""
    table = config.get("usage", {})
    where = f"{path or '<config>'}: [usage]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint="write [usage] then key = value lines")
    from jtrack.config import USAGE_KEYS, unknown_key_error

    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in USAGE_KEYS:
            raise unknown_key_error(path, "[usage]", key, list(USAGE_KEYS))
        if key in ("users", "per_user"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(
                    f"{where}: {key} must be a whole number >= 0, not {value!r}",
                    hint=f"e.g. {key} = {25 if key == 'users' else 10000}",
                )
            if value > MAX_COUNT:  # (as --users and --per-user: figures stay 64-bit)
                raise ConfigError(
                    f"{where}: {key} {value:,} is more than {MAX_COUNT:,}",
                    hint=f"e.g. {key} = {25 if key == 'users' else 10000}",
                )
        elif key == "billable":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"{where}: billable must be a list of class names",
                    hint='e.g. billable = ["page_view", "search", "custom"]',
                )
            value = check_billable(value, f"{where}: billable")
        elif key == "tz":
            value = config_tz(config, path)
        out[key] = value
    return out


def check_billable(names: Sequence[str] | str, where: str = "--billable") -> tuple[str, ...]:
    """Validated billable classes, in report order, without repeats (a string is read as
    --billable reads it: "page_view,search")."""
    import difflib

    if isinstance(names, str):
        names = names.split(",")

    cleaned = [n.strip() for n in names if n.strip()]
    for n in cleaned:
        if n not in CLASSES:
            near = difflib.get_close_matches(n, list(CLASSES), n=1)
            raise UsageError(
                f"{where}: {n!r} is not a usage class",
                hint=(f"did you mean {near[0]!r}? " if near else "")
                + "classes: "
                + ", ".join(CLASSES),
            )
    if not cleaned:
        raise UsageError(f"{where}: no billable class given", hint="e.g. page_view,search,custom")
    return tuple(c for c in CLASSES if c in cleaned)


@dataclass(frozen=True)
class UsageOptions:
    """Everything a usage report depends on besides its input."""

    #: the clock (`--as-of`): None, now (as the CLI without --as-of)
    as_of: datetime = None  # type: ignore[assignment]  # (None: now, set by __post_init__)
    by: Granularity = "day"
    tz: str = "UTC"
    month: date | None = None  # first day of the billing month (`--month`)
    since: date | None = None  # first local day (inclusive)
    until: date | None = None  # first local day not reported (exclusive)
    billable: tuple[str, ...] = DEFAULT_BILLABLE
    users: int | None = None
    per_user: int | None = None

    if TYPE_CHECKING:  # (what the constructor takes: __post_init__ normalises it)

        def __init__(
            self,
            as_of: datetime | str | None = None,
            by: Granularity = "day",
            tz: str = "UTC",
            month: date | str | None = None,
            since: date | str | None = None,
            until: date | str | None = None,
            billable: str | Sequence[str] = DEFAULT_BILLABLE,
            users: int | None = None,
            per_user: int | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_tz(self.tz)
        if self.as_of is None:  # (as the CLI without --as-of: now)
            object.__setattr__(self, "as_of", datetime.now(UTC))
        if isinstance(self.as_of, str):  # (as --as-of reads it: no offset is in `tz`)
            object.__setattr__(self, "as_of", parse_as_of(self.as_of, self.tz))
        if not isinstance(self.as_of, datetime):
            raise UsageError(
                f"as_of {self.as_of!r} is no datetime", hint="pass an aware datetime.datetime"
            )
        if self.as_of.tzinfo is None:  # (read in `tz`, as text without an offset is)
            zone = zoneinfo.ZoneInfo(self.tz)
            local = self.as_of.replace(tzinfo=zone)  # (its `fold` picks one of a repeated hour)
            try:
                back = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            except OverflowError:  # (year 1 east of UTC, 9999 west of it)
                raise UsageError(
                    f"as_of {self.as_of.isoformat()} is out of range in {self.tz}",
                    hint="pass a time between the years 2000 and 2100",
                ) from None
            if back != self.as_of:
                raise UsageError(
                    f"as_of {self.as_of.isoformat()}: no such time in {self.tz} (the clocks "
                    "went forward over it that day)",
                    hint="give a local time before or after the change, or an aware datetime",
                )
            object.__setattr__(self, "as_of", local.astimezone(UTC))
        else:  # (an aware time in any zone: as UTC, what the counts compare with)
            object.__setattr__(self, "as_of", utc_time(self.as_of, "as_of"))
        in_years(self.as_of.date(), "as_of", self.as_of.isoformat())
        text = self.month.strip() if isinstance(self.month, str) else None
        if text is not None and re.fullmatch(r"\d{4}-\d{1,2}", text):  # (as --month reads it)
            object.__setattr__(self, "month", parse_month(text, "month"))
        month = as_day(self.month, "month")  # (a day: only a month's first)
        if month is not None and month.day != 1:  # (a bill of part of a month reads as 0)
            raise UsageError(
                f"month {month.isoformat()} is no month's first day",
                hint=f'pass {month.replace(day=1).isoformat()!r} or "{month:%Y-%m}"',
            )
        object.__setattr__(self, "month", month)
        for name in ("since", "until"):  # (text read as --since/--until read it)
            object.__setattr__(self, name, as_day(getattr(self, name), name))
        if self.by not in ("day", "month"):
            raise UsageError(
                f"--by {self.by!r}: usage is counted by day or by month", hint="use day or month"
            )
        if self.month is not None and (self.since is not None or self.until is not None):
            raise UsageError(
                "--month cannot be combined with --since/--until",
                hint="use either --month 2026-10 or --since/--until",
            )
        if self.since and self.until and self.until <= self.since:
            raise UsageError(
                "--until must be after --since",
                hint="--until is the first day not reported (exclusive)",
            )
        if self.by == "month":  # (a month row of part of a month would read as the month)
            for name, day in (("--since", self.since), ("--until", self.until)):
                if day is not None and day.day != 1:
                    first = day.replace(day=1)
                    raise UsageError(
                        f"{name} {day.isoformat()}: --by month counts whole months, and "
                        f"{day.isoformat()} is not the first day of one",
                        hint=f"give {name} {first.isoformat()} (or "
                        f"{next_month(first).isoformat()}), or count by day: --by day",
                    )
        for name in ("users", "per_user"):  # (as --users and --per-user take them)
            n = getattr(self, name)
            whole = isinstance(n, numbers.Integral) or (
                isinstance(n, numbers.Real) and float(n).is_integer()
            )
            if n is not None and (isinstance(n, bool) or not whole or n < 0):
                raise UsageError(
                    f"{name} {n!r} is no whole number of 0 or more", hint=f"e.g. {name}=25"
                )
            if n is not None and n > MAX_COUNT:
                raise UsageError(f"{name} {n:,} is more than {MAX_COUNT:,}", hint=f"e.g. {name}=25")
            if n is not None:  # (a numpy integer, 1000.0: a plain int)
                object.__setattr__(self, name, int(n))
        if (self.users is None) != (self.per_user is None):
            raise UsageError(
                "the allowance needs both --users and --per-user",
                hint="or set users and per_user in the [usage] table of the config file",
            )
        object.__setattr__(self, "billable", check_billable(self.billable))

    @property
    def allowance(self) -> int | None:
        if self.users is None or self.per_user is None:
            return None
        return self.users * self.per_user


# --------------------------------------------------------------------------------------------
# Input: the store or raw sources, as a lazy frame of the usage columns
# --------------------------------------------------------------------------------------------


#: The columns of UsageInput.events: id, time, usage class code, file number, reject flag,
#: automated flag.
INPUT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "created_date": pl.Datetime("us", "UTC"),
    "_cls": pl.Int64(),
    "_fi": pl.Int64(),
    "_rejected": pl.Boolean(),
    "_auto": pl.Boolean(),
}

#: How the automated share was worked out: per session (the store) or per user agent (files).
BASIS_SESSIONS = "sessions"
BASIS_USER_AGENT = "user_agent"


def automated_user_agents(uas: pl.Series) -> list[str]:
    """The distinct user agents of `uas` that jtrack.core.traffic classes as automated (one
    match per distinct value)."""
    from jtrack.core.traffic import classify_user_agents

    lut = classify_user_agents(uas.cast(pl.String).drop_nulls())
    return lut.filter(pl.col("traffic_class") != HUMAN).get_column("user_agent").to_list()


def _auto_expr(automated: list[str], column: str = "user_agent_string") -> pl.Expr:
    if not automated:
        return pl.lit(False)
    return pl.col(column).cast(pl.String).is_in(automated).fill_null(False)


def _conform(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select([pl.col(c).cast(t) for c, t in INPUT_SCHEMA.items()])


def _contents(events: pl.LazyFrame) -> pl.LazyFrame:
    """UsageInput.contents of canonical events: the columns sessionize compares (a column
    they lack is missing), hashed only for the rows of repeated ids (_conflicting)."""
    from jtrack.engine.decide import CONTENT_COLUMNS
    from jtrack.schema import EVENT_SCHEMA

    have = events.collect_schema()
    return events.select(
        pl.col(c) if c in have else pl.lit(None, EVENT_SCHEMA[c]).alias(c) for c in CONTENT_COLUMNS
    )


@dataclass
class UsageInput:
    """The events usage counts, and what is known about how they were read.

    `events` has INPUT_SCHEMA: event_id, created_date, `_cls` (index into CLASSES), `_fi`
    (index into `names`, the file an event came from), `_rejected` (a row that fails the
    ingest checks; only lazily scanned Parquet has such rows, read_events drops them) and
    `_auto` (automated traffic: by the session's class in the store, by the event's user
    agent in files; `traffic_basis` says which).
    For the store the events are already unique and the read counts come from its manifest.
    """

    events: pl.LazyFrame
    origin: Literal["store", "sources"]
    names: list[str]
    deduplicated: bool
    rows_read: int = 0  # rows read by read_events (lazily scanned rows are counted later)
    rejected: int = 0
    store_counts: dict[str, Any] | None = None
    #: The store only: its events' created_date, kind and source_session_type, so that the
    #: usage class is worked out per (15-minute bucket, kind, session type), not per event.
    classes_from: pl.LazyFrame | None = None
    traffic_basis: str = BASIS_USER_AGENT
    traffic_lists: str | None = None  # the user-agent lists' version (jtrack.core.traffic)
    #: files: "fail" (a rejected row is an error naming it, as in sessionize) or "skip" (it
    #: is counted in the reconciliation and left out of the figures)
    on_error: str = "skip"
    #: files: the sources read, in `names` order (the first file that holds a rejected row
    #: is read again to name the row), and the indexes of those read by jtrack.read that
    #: hold one
    sources: list[Any] = field(default_factory=list)
    rejected_files: list[int] = field(default_factory=list)
    #: files that hold no row (an empty export: a zero bill that may be a mistake), of those
    #: read by jtrack.read; `lazy_files` are the indexes of those scanned lazily
    empty_files: list[str] = field(default_factory=list)
    lazy_files: list[int] = field(default_factory=list)
    #: files: what the sources' folders and globs reach and is not counted (warned of)
    left_out: list[str] = field(default_factory=list)
    #: files: the warnings of files whose times had no zone (read as UTC), in `names` order
    zone_warnings: list[str] = field(default_factory=list)
    #: files: what sessionize compares of the events read by jtrack.read (or given in
    #: memory): jtrack.engine.decide.CONTENT_COLUMNS, for telling conflicting copies; the
    #: files scanned lazily are read again for that, their repeated ids' rows alone
    #: (`scanned`: their indexes and paths)
    contents: pl.LazyFrame | None = None
    scanned: dict[int, Path] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store: StoreLike) -> UsageInput:
        """Events of a jtrack store (`jtrack.store.Store`, or its folder)."""
        from jtrack.store.store import as_store

        store = as_store(store)
        scan = store.scan_events(
            columns=[
                "event_id",
                "created_date",
                "kind",
                "source_session_type",
                "session_type",
                "traffic_class",
            ]
        )
        auto = pl.col("traffic_class").is_in(list(AUTOMATED_CLASSES)).fill_null(False)
        lf = scan.with_columns(_in_custom_session()).select(
            "event_id",
            "created_date",
            _cls=usage_class_expr(),
            _fi=pl.lit(0, pl.Int64),
            _rejected=pl.lit(False),
            _auto=auto,
        )
        manifest = store.manifest()
        counts = manifest.get("counts", {})
        return cls(
            classes_from=scan.select(
                pl.col("created_date").cast(INPUT_SCHEMA["created_date"]),
                "kind",
                "source_session_type",
                "session_type",
                _auto=auto,
            ),
            traffic_basis=BASIS_SESSIONS,
            traffic_lists=manifest.get("traffic_lists"),
            events=_conform(lf),
            origin="store",
            names=[store.shown],
            deduplicated=True,
            store_counts={
                k: counts.get(k)
                for k in ("rows_read", "rejected", "duplicates", "conflicting_duplicates", "erased")
            },
        )

    @classmethod
    def from_frame(cls, events: pl.DataFrame | pl.LazyFrame, name: str = "<frame>") -> UsageInput:
        """Canonical events already in memory (the `_file` column is used when present)."""
        lf = events.lazy()
        has_file = "_file" in lf.collect_schema().names()
        names = (
            sorted(lf.select(pl.col("_file").unique()).collect()["_file"].to_list())
            if has_file
            else [name]
        )
        fi = (
            pl.col("_file").replace_strict(
                {n: i for i, n in enumerate(names)}, return_dtype=pl.Int64
            )
            if has_file
            else pl.lit(0, pl.Int64)
        )
        auto: pl.Expr = pl.lit(False)
        if "traffic_class" in lf.collect_schema().names():  # sessionized events
            auto = pl.col("traffic_class").is_in(list(AUTOMATED_CLASSES)).fill_null(False)
            basis = BASIS_SESSIONS
        else:
            basis = BASIS_USER_AGENT
            if "user_agent_string" in lf.collect_schema().names():
                uas = lf.select(pl.col("user_agent_string").unique()).collect()
                auto = _auto_expr(automated_user_agents(uas.get_column("user_agent_string")))
        lf = lf.select(
            "event_id",
            "created_date",
            _cls=usage_class_expr(),
            _fi=fi,
            _rejected=pl.lit(False),
            _auto=auto,
        )
        return cls(
            events=_conform(lf),
            contents=_contents(events.lazy()),
            origin="sources",
            names=names,
            deduplicated=False,
            traffic_basis=basis,
            traffic_lists=_lists_version(),
        )

    @classmethod
    def from_sources(
        cls,
        sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        stdin: Any = None,
        max_line_bytes: int | None = None,
        on_error: str = "fail",
    ) -> UsageInput:
        """Raw exports: flat Parquet is scanned lazily (only the usage columns); everything
        else goes through `jtrack.read.read_events`. With `on_error="fail"` (the default, as
        `jtrack usage` and `read_events` have it), compute_usage raises the first rejected
        row's error (RejectedRowError, naming file, line, field and reason), unless no row
        at all is an event (that error comes first); with "skip" the row is left out and
        counted."""
        from jtrack.options import check_on_error

        check_on_error(on_error)
        from jtrack.read import (
            FileStats,
            as_source_list,
            discard_spools,
            expand_sources,
            left_out,
            only_a_store,
            read_events,
            zone_warnings,
        )

        sources = as_source_list(sources)  # (one source, not its letters)
        sources = [os.fsdecode(s) if isinstance(s, bytes) else s for s in sources]
        if not sources:
            raise UsageError(
                "no export to read: the sources are empty",
                hint="name export files, folders or globs, or '-' for standard input",
            )
        srcs = expand_sources(sources, stdin=stdin)
        try:
            skipped = left_out(sources).warnings("counted")
            if not srcs:  # (a folder that holds only a jtrack store)
                raise only_a_store(sources)
            names = [s.name for s in srcs]
            lazy: list[pl.LazyFrame] = []
            slow = []
            zoneless: list[tuple[int, FileStats]] = []  # (times without a zone: for a note)
            for i, src in enumerate(srcs):
                # (a file in Hive partition folders gets their columns from jtrack.read)
                # (stdin, spooled: read now, its temporary file removed below)
                path = None if src.partitions or src.stdin else src.path
                scan = _flat_parquet_scan(path) if path is not None else None
                if scan is None:
                    slow.append((i, src))
                    continue
                fast, naive = scan
                lazy.append(_conform(fast.with_columns(_fi=pl.lit(i, pl.Int64))))
                if naive:  # (the kept rows, counted as sessionize counts them)
                    kept = fast.filter(~pl.col("_rejected")).select(pl.len()).collect().item()
                    zoneless.append((i, FileStats(src.name, "flat-parquet", no_zone=int(kept))))
            rows_read = rejected = 0
            if slow:
                # (the far-future cut is made over every file, those scanned here too: below)
                kwargs: dict[str, Any] = {"on_error": "skip", "far_future": False}
                if max_line_bytes is not None:
                    kwargs["max_line_bytes"] = max_line_bytes
                read = read_events([src for _, src in slow], **kwargs)
                rows_read, rejected = read.rows_read, read.rows_rejected
                empty = [f.file for f in read.files if f.rows_read == 0]
                zoneless += [(i, f) for (i, _), f in zip(slow, read.files, strict=True)]
                bad = [i for (i, _), f in zip(slow, read.files, strict=True) if f.rows_rejected]
                automated = automated_user_agents(read.events.get_column("user_agent_string"))
                # read_events names each file; the same name may appear twice (a repeated source)
                index = {src.name: i for i, src in slow}
                lazy.append(
                    _conform(
                        read.events.lazy().select(
                            "event_id",
                            "created_date",
                            _cls=usage_class_expr(),
                            _fi=pl.col("_file").replace_strict(index, return_dtype=pl.Int64),
                            _rejected=pl.lit(False),
                            _auto=_auto_expr(automated),
                        )
                    )
                )
            else:
                empty, bad = [], []
            lf = pl.concat(lazy, how="vertical") if lazy else pl.LazyFrame(schema=INPUT_SCHEMA)
            read_by_jtrack = {i for i, _ in slow}
            return cls(
                events=lf,
                contents=_contents(read.events.lazy()) if slow else None,
                scanned={
                    i: src.path
                    for i, src in enumerate(srcs)
                    if i not in read_by_jtrack and src.path is not None
                },
                origin="sources",
                names=names,
                deduplicated=False,
                rows_read=rows_read,
                rejected=rejected,
                traffic_lists=_lists_version(),
                on_error=on_error,
                sources=srcs,
                empty_files=empty,
                rejected_files=bad,
                lazy_files=[i for i in range(len(srcs)) if i not in read_by_jtrack],
                left_out=skipped,
                zone_warnings=zone_warnings(
                    [f for _, f in sorted(zoneless, key=lambda x: x[0])], stored=False
                ),
            )
        finally:  # (stdin spooled: read by now, its file removed)
            discard_spools(srcs)


@contextlib.contextmanager
def reading_hint() -> Iterator[None]:
    """A rejected row's error with the hint of a reading command (usage, report), which
    writes no rejects file as sessionize does."""
    try:
        yield
    except RejectedRowError as exc:
        from jtrack.read.validate import reject_hint

        if exc.own_hint:  # (events nested under another key: no row to fix or skip)
            raise
        special = reject_hint(exc.message)
        skip = "pass --on-error skip to leave it out, counted as rejected"
        exc.hint = f"{special}; or {skip}" if special else f"fix the row, or {skip}"
        raise


def _repeated_files(rows: pl.DataFrame, names: list[str]) -> list[int]:
    """The files (indexes) every accepted row of which is an event of a file before it, in
    the order of their names (so that the report is the same whatever order the files are
    given in): one export given twice, under two names or in two formats (`usage
    sample_data/` reads the demo export as JSON lines and as Parquet). Worked out only when
    some file is no bigger than the input's repeated rows, the only case where it can be
    one."""
    order = sorted(range(len(names)), key=lambda i: (names[i], i))
    rank = pl.col("_fi").replace_strict(order, list(range(len(order))), return_dtype=pl.Int64)
    ok = rows.lazy().filter(~pl.col("_rejected")).with_columns(_fi=rank)
    per_file = ok.group_by("_fi").agg(n=pl.len()).collect()
    repeated = ok.select(pl.len() - pl.col("_h").n_unique()).collect().item()
    if not repeated or per_file.get_column("n").min() > repeated:
        return []
    first = ok.group_by("_h").agg(_m=pl.col("_fi").min())
    out = (
        ok.join(first, on="_h")
        .group_by("_fi")
        .agg(n=pl.len(), r=(pl.col("_m") < pl.col("_fi")).sum())
        .filter(pl.col("n") == pl.col("r"))
        .sort("_fi")
        .collect()
    )
    return [order[int(r)] for r in out.get_column("_fi")]


#: Rows of a lazily scanned file made canonical at a time to tell conflicting copies.
_BATCH_ROWS = 100_000


def _id_hash() -> pl.Expr:
    """A 128-bit hash of the event id as text (two independently seeded 64-bit hashes)."""
    text = pl.col("event_id").cast(pl.String)
    return text.hash(0).cast(pl.UInt128) * pl.lit(1 << 64, pl.UInt128) + text.hash(1).cast(
        pl.UInt128
    )


def _conflicting(inp: UsageInput, repeated: pl.Series, cut_us: int | None) -> pl.Series:
    """The id hashes among `repeated` whose accepted copies differ in what sessionize
    compares (jtrack.engine.decide.content_hash of the rows as jtrack.read makes them),
    worked out for those ids' rows alone: a lazily scanned file is read again with a filter
    on the id, which the Parquet reader applies before it decodes the other columns, and
    its rows made canonical as sessionize makes them."""
    if repeated.len() == 0:
        return repeated
    from jtrack.engine.decide import CONTENT_COLUMNS, content_hash
    from jtrack.read.parquet import canonical_from_parquet_frame
    from jtrack.read.validate import REASON

    wanted, id_hash = repeated.implode(), _id_hash()
    parts = []
    if inp.contents is not None:
        parts.append(  # (hashed after the filter: the repeated ids' rows alone)
            inp.contents.filter(id_hash.is_in(wanted)).select(
                _h=id_hash, t="created_date", _c=content_hash()
            )
        )
    for i, path in inp.scanned.items():
        scan = pl.scan_parquet(path, hive_partitioning=False, glob=False)
        # (the columns compared, and the type a kind comes from: nothing else is decoded)
        sources = {*CONTENT_COLUMNS, "event_type"}
        scan = scan.select([c for c in scan.collect_schema() if c in sources])
        # (in batches: a file whose every id repeats, the same export under two names, is
        # not held whole; only each row's id hash, time and content hash are kept)
        for raw in scan.filter(id_hash.is_in(wanted)).collect_batches(chunk_size=_BATCH_ROWS):
            if raw.height == 0:
                continue
            hashes = raw.select(id_hash).to_series()
            canon, _ = canonical_from_parquet_frame(raw, inp.names[i])
            canon = canon.with_columns(_h=hashes).filter(pl.col(REASON).is_null())
            parts.append(canon.select("_h", t="created_date", _c=content_hash()).lazy())
    if not parts:
        return repeated.clear()
    rows = pl.concat(parts, how="vertical_relaxed")
    if cut_us is not None:  # (the far-future cut: those copies are rejected)
        rows = rows.filter(pl.col("t").dt.epoch("us") < cut_us)
    return (
        rows.group_by("_h")
        .agg(n=pl.col("_c").n_unique())
        .filter(pl.col("n") > 1)
        .collect()
        .get_column("_h")
    )


def _far_future_rejected(
    rows: pl.DataFrame,
) -> tuple[pl.DataFrame, int | None, tuple[datetime, str] | None]:
    """`rows` (of _aggregate) with the events beyond the far-future cut of the whole input
    marked rejected, as jtrack.read marks them (and sessionize, over every file of a run):
    a lazily scanned Parquet file's far-future event was billed where the same row of a JSON
    lines file was rejected. Also the cut (epoch microseconds), None without one, and the
    cut as far_future_cut gives it (its time and the rejects' detail)."""
    from jtrack.read import far_future_cut

    at_us = (pl.col("_k") // _KEY_MULT).alias("_us")
    times = (
        rows.lazy()
        .filter(~pl.col("_rejected"))
        .select("_h", created_date=at_us.cast(pl.Datetime("us", "UTC")))
    )
    cut = far_future_cut(times, key="_h")
    if cut is None:
        return rows, None, None
    cut_us = (cut[0] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return rows.with_columns(_rejected=pl.col("_rejected") | (at_us >= cut_us)), cut_us, cut


def _first_reject(
    inp: UsageInput, first: int, cut: tuple[datetime, str] | None = None
) -> JtrackError:
    """The error of the first rejected row of file `first` (an index into the sources): the
    file is read again by jtrack.read, which names the row, field and reason as sessionize
    does (with `cut`, the far-future cut of the whole input, rows at or after it too)."""
    from jtrack.read import read_events

    try:
        with reading_hint():  # raises RejectedRowError
            read_events([inp.sources[first]], on_error="fail", far_future=cut or True)
    except RejectedRowError as exc:
        return exc
    return DataError(  # (a row far after the rest of the input, not of its own file alone)
        f"{inp.names[first]}: a row is rejected: dated far after the rest of the input, or "
        "failing the checks of usage [far_future]",
        hint="fix the row, or pass --on-error skip to leave it out, counted as rejected; "
        "`jtrack sessionize FILES --on-error skip --rejects FILE` lists why",
    )


def _lists_version() -> str:
    from jtrack.core.traffic import user_agent_list_version

    return user_agent_list_version()


_KIND_TO_TYPE = {
    KIND_PAGE_VIEW: "WebEvent",
    KIND_SEARCH: "WebEvent",
    KIND_CUSTOM: "WebEvent",
    KIND_APP: "AppEvent",
    KIND_SEGMENT: "SegmentAssignmentEvent",
    KIND_OUTCOME: "OutcomeAchievedEvent",
    KIND_WEB_ACTION: "WebActionEvent",
}


def _flat_parquet_scan(path: Path) -> tuple[pl.LazyFrame, bool] | None:
    """A lazy scan of a flat-shape Parquet file reading only what usage needs, and whether
    its times have no zone (read as UTC); None when the file must go through read_events
    (Genesys shape, text timestamps, not Parquet).

    Rows are checked with the rules of jtrack.read for the columns read (missing id,
    customer id or time, implausible time, unknown event type, web event without a name) and
    flagged `_rejected`; a type error in a column usage does not read does not reject the
    event, because Genesys billed it all the same.
    """
    import pyarrow as pa

    from jtrack.read.parquet import arrow_fixes

    try:
        with open(path, "rb") as fh:  # a path, never a pattern (`[` in a file name)
            if fh.read(4) != b"PAR1":
                return None
            fh.seek(0)
            if arrow_fixes(fh) is not None:  # Polars would panic on the footer: read_events
                return None
            fh.seek(0)
            schema = pl.read_parquet_schema(fh)
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError):
        return None
    from jtrack.read.validate import is_genesys_shape

    required = ("event_id", "customer_id", "created_date")
    if not all(c in schema for c in required) or is_genesys_shape(schema, default=False):
        return None  # (a file of both shapes' names is read as jtrack.read reads it)
    cd = schema["created_date"]
    if not isinstance(cd, pl.Datetime):
        return None
    from jtrack.read.validate import _type_fits
    from jtrack.schema import EVENT_FIELDS

    if not all(
        _type_fits(f.name, schema[f.name], f.dtype) for f in EVENT_FIELDS if f.name in schema
    ):
        # (a column of a type no event field holds, binary ids say: jtrack.read rejects its
        # rows with their reason, as sessionize does)
        return None
    wanted_all = (
        "event_id",
        "customer_id",
        "created_date",
        "kind",
        "event_type",
        "event_name",
        "search_query",
        "source_session_type",
        "source_session_id",
        "user_agent_string",
    )
    wanted = [c for c in wanted_all if c in schema]
    lf = pl.scan_parquet(path, hive_partitioning=False, glob=False).select(wanted)
    missing = {
        c: pl.lit(None, pl.String)
        for c in wanted_all[3:-1]  # (all but the ids, the time and the user agent)
        if c not in schema
    }
    if missing:
        lf = lf.with_columns(**missing)
    automated: list[str] = []
    if "user_agent_string" in schema:  # one pass over the (dictionary-encoded) column
        uas = (
            pl.scan_parquet(path, hive_partitioning=False, glob=False)
            .select(pl.col("user_agent_string").cast(pl.String).unique())
            .collect()
        )
        automated = automated_user_agents(uas.get_column("user_agent_string"))
    created = pl.col("created_date")
    created = (
        created.dt.replace_time_zone("UTC")
        if cd.time_zone is None
        else created.dt.convert_time_zone("UTC")
    ).dt.cast_time_unit("us")

    def text(c: str) -> pl.Expr:
        return pl.col(c) if schema.get(c) == pl.String else pl.col(c).cast(pl.String)

    def blank(c: str) -> pl.Expr:
        return ~text(c).str.contains(r"\S").fill_null(False)

    # The event type, else the one the flat `kind` implies (when/then: replace_strict is not
    # streamed in Polars 2.1 and held whole columns in memory).
    kind = text("kind")
    from_kind: Any = pl
    for kind_name, event_type in _KIND_TO_TYPE.items():
        from_kind = from_kind.when(kind == kind_name).then(pl.lit(event_type))
    lf = lf.with_columns(
        _et=text("event_type")
        .str.strip_chars()
        .str.strip_prefix(EVENT_TYPE_PREFIX)
        .replace("", None)  # (a blank type is none: the kind's, as jtrack.read takes it)
        .fill_null(from_kind.otherwise(None))
    )
    et = pl.col("_et")
    st = text("source_session_type")
    # Stage 1: one flag column per test, each computed once.
    lf = lf.select(
        "event_id",
        created_date=created,
        _web=et == "WebEvent",
        _app=et == "AppEvent",
        _sys=et.is_in(["SegmentAssignmentEvent", "OutcomeAchievedEvent", "WebActionEvent"]),
        _search=~is_blank(text("search_query")),
        _pv=text("event_name") == "page_viewed",
        _no_name=blank("event_name"),
        _cs=st.is_not_null()
        & ~st.str.contains(r"^(?i:web|app)$")
        & text("source_session_id").is_not_null(),
        _bad_ids=blank("event_id") | blank("customer_id"),
        _auto=_auto_expr(automated),
    )
    # Stage 2: the usage class (the ingest kind, then custom sessions apart) and the checks.
    web, cs = pl.col("_web"), pl.col("_cs")
    cls = (
        pl.when(cs & (web | pl.col("_app")))
        .then(pl.lit(_CODE["custom_session"]))
        .when(web & pl.col("_search"))
        .then(pl.lit(_CODE["search"]))
        .when(web & pl.col("_pv"))
        .then(pl.lit(_CODE["page_view"]))
        .when(web)
        .then(pl.lit(_CODE["custom"]))
        .when(pl.col("_app"))
        .then(pl.lit(_CODE["app"]))
        .when(pl.col("_sys"))
        .then(pl.lit(_CODE["system"]))
        .cast(pl.Int64)
    )
    t = pl.col("created_date")
    rejected = (
        pl.col("_bad_ids")
        | t.is_null()
        | (t < datetime(2000, 1, 1, tzinfo=UTC))
        | (t >= datetime(2100, 1, 1, tzinfo=UTC))
        | ~(web | pl.col("_app") | pl.col("_sys")).fill_null(False)
        | (web & pl.col("_no_name")).fill_null(False)
    )
    out = lf.select("event_id", "created_date", "_auto", _cls=cls, _rejected=rejected)
    # (a timestamp column without a zone holds UTC, as Spark and pandas write it: not said,
    # as jtrack.read does not say it; only text times without a zone are)
    return out, False


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


@dataclass
class UsageReport:
    """A usage report: one row per period, the billing month, and the reconciliation."""

    rows: pl.DataFrame  # ROW_COLUMNS
    month: dict[str, Any]
    reconciliation: dict[str, Any]
    options: UsageOptions
    source: dict[str, Any]
    period: dict[str, Any]
    months_over_allowance: list[str] = field(default_factory=list)
    #: Set when the period holds no events but the input does: {period, months_with_events,
    #: message, hint} (a job that runs early on the 1st reports the new, empty month).
    empty_period: dict[str, Any] | None = None
    #: How `automated` was counted: {automated_classes, basis ("sessions" in the store,
    #: "user_agent" from files), lists (the user-agent lists' version)}.
    traffic: dict[str, Any] = field(default_factory=dict)
    #: What may make the figures wrong, said on stderr even with --quiet: rejected rows left
    #: out (--on-error skip), an export that holds no events, a store that holds none.
    warnings: list[str] = field(default_factory=list)
    #: The warnings of export files whose times had no zone (read as UTC; also among
    #: `warnings`): the Markdown report says them.
    zone_warnings: list[str] = field(default_factory=list)

    @property
    def over_allowance(self) -> bool:
        """True when a reported month, or the billing month, is above the allowance."""
        return bool(self.months_over_allowance) or bool(self.month.get("over_allowance"))

    def totals(self) -> dict[str, Any]:
        cols = [*CLASSES, "billable", "events", "rows", "duplicates", "late", "automated"]
        out: dict[str, Any] = {}
        for c in cols:
            s = self.rows.get_column(c)
            out[c] = None if (s.len() and s.null_count() == s.len()) else int(s.sum())
        billable, automated = out["billable"], out["automated"]
        out["automated_share"] = round(automated / billable, 4) if billable else None
        return out

    def as_of_text(self) -> str:
        """The as-of as the table and Markdown headers say it: UTC, and in the report's zone
        when that is another (`2026-10-14T13:00:00.000Z (2026-10-15 00:00 Australia/Sydney)`:
        the 14th is not partly counted)."""
        said = iso_z(self.options.as_of) or ""
        tz = self.options.tz
        if tz in ("UTC", "Etc/UTC", "Z") or self.options.as_of is None:
            return said
        local = self.options.as_of.astimezone(zoneinfo.ZoneInfo(tz))
        clock = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
        return f"{said} ({clock} {tz})"

    def all_warnings(self) -> list[str]:
        """Every `warning:` line the CLI says of this report: `warnings`, then an empty
        period's (with its hint), as JSON lists them."""
        said = list(self.warnings)
        if self.empty_period is not None:
            e = self.empty_period
            said.append(f"{e['message']} (hint: {e['hint']})")
        return said

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready, keys in a fixed order (what `--format json` prints)."""
        from jtrack.serialize import to_records

        return {
            "report": "usage",
            "as_of": iso_z(self.options.as_of),
            "tz": self.options.tz,
            "by": self.options.by,
            "period": self.period,
            "billable_classes": list(self.options.billable),
            "source": self.source,
            "month": self.month,
            "months_over_allowance": self.months_over_allowance,
            "empty_period": self.empty_period,
            "warnings": self.all_warnings(),
            "totals": self.totals(),
            "traffic": self.traffic,
            "reconciliation": self.reconciliation,
            "rows": to_records(self.rows),
        }

    def summary_frame(self) -> pl.DataFrame:
        """The billing month and the reconciliation as one row (SUMMARY_COLUMNS)."""
        m, r, o = self.month, self.reconciliation, self.options
        row = {
            "month": m["month"],
            "as_of": iso_z(o.as_of),
            "tz": o.tz,
            "billable_classes": list(o.billable),
            "month_to_date": m["month_to_date"],
            "days_elapsed": m["days_elapsed"],
            "days_in_month": m["days_in_month"],
            "projection": m["projection"],
            "users": o.users,
            "per_user": o.per_user,
            "allowance": m["allowance"],
            "remaining": m["remaining"],
            "overage": m["overage"],
            "projected_overage": m["projected_overage"],
            "over_allowance": m["over_allowance"],
            "rows_read": r["rows_read"],
            "rejected": r["rejected"],
            "duplicates": r["duplicates"],
            "conflicting_duplicates": r["conflicting_duplicates"],
            "events": r["events"],
            "events_in_period": r["events_in_period"],
            "events_outside_period": r["events_outside_period"],
            "events_after_as_of": r["events_after_as_of"],
            "billable_in_period": r["billable_in_period"],
            "late_events": r["late_events"],
            "months_with_events": list(r["months_with_events"]),
            "automated": m["automated"],
            "automated_share": m["automated_share"],
        }
        schema = {
            c: (
                pl.List(pl.String())  # (lists as in every format: joined with "; " in text)
                if c in ("billable_classes", "months_with_events")
                else pl.String()
                if c in ("month", "as_of", "tz")
                else pl.Float64()
                if c in ("days_elapsed", "automated_share")
                else pl.Boolean()
                if c == "over_allowance"
                else pl.Int64()
            )
            for c in SUMMARY_COLUMNS
        }
        return pl.DataFrame([row], schema=schema)


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """part / whole to 4 decimals; null when whole is 0."""
    return pl.when(whole > 0).then((part / whole).round(4))


# --------------------------------------------------------------------------------------------
# The computation
# --------------------------------------------------------------------------------------------


def usage_class_expr() -> pl.Expr:
    """The usage class code (index into CLASSES) of each event."""
    from jtrack.core.sessionize import in_custom_stream

    kind = pl.col("kind")
    # a custom session as the sessionizer has it: a type other than web or app, with its
    # own session id (without one the event is in the visitor's web or app session)
    custom_session = in_custom_stream() & kind.is_in(ACTIVITY_KINDS)
    return (
        pl.when(custom_session)
        .then(pl.lit(_CODE["custom_session"]))
        .when(kind == KIND_PAGE_VIEW)
        .then(pl.lit(_CODE["page_view"]))
        .when(kind == KIND_SEARCH)
        .then(pl.lit(_CODE["search"]))
        .when(kind == KIND_CUSTOM)
        .then(pl.lit(_CODE["custom"]))
        .when(kind == KIND_APP)
        .then(pl.lit(_CODE["app"]))
        .otherwise(pl.lit(_CODE["system"]))
        .cast(pl.Int64)
    )


def _bucket_days(buckets: pl.Series, tz: str, bucket_us: int) -> pl.DataFrame:
    """Local day of each bucket; checks that no bucket straddles a local midnight."""
    start = pl.from_epoch(buckets * bucket_us, time_unit="us").dt.replace_time_zone("UTC")
    frame = pl.DataFrame({"bucket": buckets, "_s": start})
    return frame.select(
        "bucket",
        day=pl.col("_s").dt.convert_time_zone(tz).dt.date(),
        _end_day=(pl.col("_s") + pl.duration(microseconds=bucket_us - 1))
        .dt.convert_time_zone(tz)
        .dt.date(),
    )


def _file_days(lf: pl.LazyFrame, tz: str) -> dict[int, int]:
    """For each daily-export file (`_fi`), where its day starts (UTC epoch microseconds), from
    the accepted rows' `_k` keys.

    A file is a daily export when more than half of its events were created on one local day;
    see the module docstring.
    """
    per = (
        lf.group_by("_fi", bucket=pl.col("_k") // _KEY_MULT // _BUCKET_US).agg(n=pl.len()).collect()
    )
    if per.height == 0:
        return {}
    days = _bucket_days(per["bucket"].unique().sort(), tz, _BUCKET_US)
    by_day = (
        per.join(days.select("bucket", "day"), on="bucket", how="left")
        .group_by("_fi", "day")
        .agg(n=pl.col("n").sum())
    )
    totals = by_day.group_by("_fi").agg(total=pl.col("n").sum())
    top = (
        by_day.sort(["_fi", "n", "day"], descending=[False, True, True])
        .group_by("_fi", maintain_order=True)
        .first()
        .join(totals, on="_fi")
        .filter(pl.col("n") * 2 > pl.col("total"))
    )
    out: dict[int, int] = {}
    z = zoneinfo.ZoneInfo(tz)
    for fi, day in top.select("_fi", "day").iter_rows():
        # A midnight that does not exist (a DST jump at 00:00) resolves to the jump itself.
        midnight = datetime(day.year, day.month, day.day, tzinfo=z).astimezone(UTC)
        out[int(fi)] = _epoch_us(midnight)
    return out


def _epoch_us(d: datetime) -> int:
    return round((d - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _aggregate(
    inp: UsageInput, opts: UsageOptions
) -> tuple[pl.DataFrame, dict[str, Any], dict[str, Any]]:
    """Distinct events per (15-minute bucket, class, created at/after as_of) with their rows,
    late and conflicting counts, plus the read accounting of lazily scanned files (and the
    far-future cut of the input, `far_cut`, far_future_cut's; None without one), and the
    names of the files that hold no row (`empty`) or only events of earlier files
    (`repeats`), and (name, late rows, rows) of the daily export files a tenth of whose
    rows are late (`cut_elsewhere`).

    Event ids are compared through two independently seeded 64-bit hashes joined into one
    128-bit key: grouping on it is about twice as fast as on the strings, and two different
    ids share a key with a probability below 1e-20 for a billion events.
    """
    as_of_us = _epoch_us(opts.as_of)
    if inp.deduplicated and inp.classes_from is not None:
        return (
            _aggregate_store(inp.classes_from, as_of_us),
            {"rows": 0, "rejected": 0},
            {"empty": [], "repeats": []},
        )
    # the automated flag rides in the key (class code + _AUTO_BIT): the earliest copy's
    key = (
        pl.col("created_date").dt.epoch("us") * _KEY_MULT
        + pl.col("_cls")
        + pl.col("_auto").fill_null(False).cast(pl.Int64) * _AUTO_BIT
    )
    counts: dict[str, Any] = {"rows": 0, "rejected": 0}
    empties: list[str] = []
    repeats: list[int] = []
    cut_elsewhere: list[tuple[str, int, int]] = []  # (export files only)
    if inp.deduplicated:
        # The store: one row per event already; stream it, nothing is kept in memory.
        per_event = inp.events.select(
            _k=key,
            n=pl.lit(1, pl.UInt32),
            late=pl.lit(None, pl.Boolean),
            conflict=pl.lit(False),
        )
    else:
        # Read once, keeping only compact columns (no id strings): the file-day pass, the
        # accounting and the dedup all reuse them.
        id_hash = _id_hash()
        rows = inp.events.select(_h=id_hash, _k=key, _fi="_fi", _rejected="_rejected").collect()
        if not rows.get_column("_fi").is_sorted():  # input order: files, then their rows
            rows = rows.sort("_fi", maintain_order=True)
        rows, cut_us, far_cut = _far_future_rejected(rows)
        counts = {"rows": rows.height, "rejected": int(rows["_rejected"].sum()), "far_cut": far_cut}
        if counts["rejected"]:
            first = rows.filter(pl.col("_rejected")).get_column("_fi").min()
            counts["first_rejected"] = int(first)  # type: ignore[arg-type]
        present = set(rows.get_column("_fi").unique().to_list())
        empties = [inp.names[i] for i in inp.lazy_files if i not in present]
        repeats = _repeated_files(rows, inp.names)
        ok = rows.lazy().filter(~pl.col("_rejected"))
        file_days = _file_days(ok, opts.tz)
        if file_days:
            start = pl.col("_fi").replace_strict(file_days, default=None, return_dtype=pl.Int64)
            late = (pl.col("_k") // _KEY_MULT < start).fill_null(False)
            # files with a tenth of their rows or more late: most likely cut at another
            # zone's midnight than `tz`'s (a Sydney day's export read on UTC days has its
            # first eleven hours late), said in a note
            many = (
                ok.group_by("_fi")
                .agg(n=pl.len(), late=late.sum())
                .filter(pl.col("late") * 10 >= pl.col("n"))
                .sort("_fi")
                .collect()
            )
            cut_elsewhere = [(inp.names[fi], int(k), int(n)) for fi, n, k in many.iter_rows()]
        else:
            late = pl.lit(False)
        # Each event once, as sessionize keeps it: the copy first by time, then in input
        # order (a page view and a segment event under one id at one instant are billed as
        # the one given first); late when that copy is; conflicting when copies differ in
        # what sessionize compares. Most ids come once: only the others are grouped.
        ok = ok.with_columns(_late=late)
        repeated = pl.col("_h").is_duplicated()
        t_k = pl.col("_k") // _KEY_MULT
        kept = t_k == t_k.min()
        singles = ok.filter(~repeated).select(
            "_k", n=pl.lit(1, pl.UInt32), late="_late", conflict=pl.lit(False)
        )
        copies = (
            ok.filter(repeated)
            .group_by("_h")
            .agg(
                pl.col("_k").filter(kept).first(),
                n=pl.len().cast(pl.UInt32),
                late=pl.col("_late").filter(kept).first(),
            )
            .collect()
        )
        conflicted = _conflicting(inp, copies.get_column("_h"), cut_us)
        per_event = pl.concat(
            [
                singles,
                copies.lazy().select(
                    "_k", "n", "late", conflict=pl.col("_h").is_in(conflicted.implode())
                ),
            ],
            how="vertical",
        )
    t = pl.col("_k") // _KEY_MULT
    agg = (
        per_event.group_by(
            bucket=t // _BUCKET_US,
            cls=pl.col("_k") % _KEY_MULT % _AUTO_BIT,
            after=t >= as_of_us,
            auto=pl.col("_k") % _KEY_MULT >= _AUTO_BIT,
        )
        .agg(
            events=pl.len().cast(pl.Int64),
            rows=pl.col("n").sum().cast(pl.Int64),
            late=pl.col("late").sum().cast(pl.Int64),
            conflicts=pl.col("conflict").sum().cast(pl.Int64),
        )
        .sort("bucket", "cls", "after", "auto")
    )
    return (
        agg.collect(),
        counts,
        {
            "empty": empties,
            "repeats": [inp.names[i] for i in repeats],
            "cut_elsewhere": cut_elsewhere,
        },
    )


def _own_session() -> pl.Expr:
    """Whether a stored event is in a custom session (the sessionizer put it there: a custom
    type with its own session id; a custom session's type is never web or app, in any
    case)."""
    stype = pl.col("session_type")
    return stype.is_not_null() & ~stype.is_in(["web", "app"])


def _in_custom_session(own: pl.Expr | None = None) -> pl.Expr:
    """The session id usage_class_expr asks about, as far as it asks ("" or null): the
    store's usage reads the event's session type instead (the id is a wide column of
    unique values)."""
    flag = _own_session() if own is None else own
    return pl.when(flag).then(pl.lit("")).otherwise(None).alias("source_session_id")


def _aggregate_store(events: pl.LazyFrame, as_of_us: int) -> pl.DataFrame:
    """_aggregate for the store (one row per event already, nothing late or conflicting).

    Grouping on the raw (bucket, kind, source_session_type, whether in a custom session)
    and classifying the few
    thousand groups afterwards is about twice as fast as classifying ten million events
    (a chain of string tests per event) and grouping on the class.
    """
    t = pl.col("created_date").dt.epoch("us")
    groups = (
        events.group_by(
            bucket=t // _BUCKET_US,
            after=t >= as_of_us,
            kind="kind",
            source_session_type="source_session_type",
            own=_own_session(),
            auto="_auto",
        )
        .agg(events=pl.len().cast(pl.Int64))
        .collect(engine="streaming")
        .with_columns(_in_custom_session(pl.col("own")))  # (of the groups)
    )
    # A null created_date has no bucket and, as in _aggregate, no class either.
    cls = pl.when(pl.col("bucket").is_not_null()).then(usage_class_expr())
    return (
        groups.group_by("bucket", cls=cls, after="after", auto="auto")
        .agg(
            events=pl.col("events").sum().cast(pl.Int64),
            rows=pl.col("events").sum().cast(pl.Int64),
            late=pl.lit(0, pl.Int64),
            conflicts=pl.lit(0, pl.Int64),
        )
        .sort("bucket", "cls", "after", "auto")
    )


def _local_days(agg: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The bucket table with each bucket's local day."""
    buckets = agg["bucket"].unique().sort()
    days = _bucket_days(buckets, tz, _BUCKET_US)
    if days.height and not (days["day"] == days["_end_day"]).all():  # pragma: no cover
        raise JtrackError(
            f"time zone {tz} has an offset that is not a whole quarter hour",
            hint="report in UTC or a neighbouring zone",
        )
    return agg.join(days.select("bucket", "day"), on="bucket", how="left")


def _month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    """The first day of the month after `d`'s."""
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def _days_elapsed(month: date, as_of_local: datetime) -> float:
    """Local wall-clock days from the 1st 00:00 of `month` to as_of, clamped to the month."""
    start = datetime(month.year, month.month, 1)
    end = datetime.combine(next_month(month), datetime.min.time())
    now = as_of_local.replace(tzinfo=None)
    now = min(max(now, start), end)
    return (now - start) / timedelta(days=1)


def compute_usage(inp: UsageInput, opts: UsageOptions) -> UsageReport:
    """Billable usage of `inp` for the period and billing month of `opts`."""
    must_be(inp, "inp", UsageInput, "a UsageInput (UsageInput.from_store(store))")
    must_be(opts, "opts", UsageOptions, "a UsageOptions")
    agg, counts, files = _aggregate(inp, opts)
    agg = _local_days(agg, opts.tz)
    z = zoneinfo.ZoneInfo(opts.tz)
    as_of_local = opts.as_of.astimezone(z)
    # the last local day that has begun before as_of (as_of itself is excluded)
    as_of_day = (opts.as_of - timedelta(microseconds=1)).astimezone(z).date()

    before = agg.filter(~pl.col("after"))
    # The period: --month, --since/--until, or the month of as_of (`--month current`'s: at
    # 00:00 on the 1st that is the month begun, not the one that ended; see resolve_month)
    chosen = opts.month
    if chosen is None and opts.since is None and opts.until is None:
        chosen = _month_start(as_of_local.date())
    if chosen is not None:
        since, until = chosen, next_month(chosen)
    else:
        until = opts.until if opts.until is not None else as_of_day + timedelta(days=1)
        if opts.since is not None and until <= opts.since:  # (--since after as-of: its day)
            until = opts.since + timedelta(days=1)
        first = before["day"].min() if before.height else None
        if not isinstance(first, date) or first >= until:  # (none before --until: its eve)
            first = until - timedelta(days=1)
        since = opts.since or first
    if opts.by == "month":
        since, until = _month_start(since), next_month(until - timedelta(days=1))
    last_day = min(until - timedelta(days=1), as_of_day)
    billing_month = chosen or _month_start(
        last_day if last_day >= since else min(as_of_day, until - timedelta(days=1))
    )

    # Daily table from the 1st of the first month (so month_to_date is right mid-month), to
    # as-of within the billing month (its month-to-date and projection do not stop at an
    # --until before as-of: they are as of as-of, as its days elapsed are)
    lo = min(_month_start(since), billing_month)
    month_end = next_month(billing_month) - timedelta(days=1)
    hi = max(last_day, billing_month - timedelta(days=1), min(month_end, as_of_day))
    billable_codes = [_CODE[c] for c in opts.billable]
    cls = pl.col("cls")
    daily = (
        before.filter(pl.col("day") >= lo, pl.col("day") <= hi)
        .group_by("day")
        .agg(
            *[
                pl.col("events").filter(cls == code).sum().cast(pl.Int64).alias(name)
                for name, code in _CODE.items()
            ],
            billable=pl.col("events").filter(cls.is_in(billable_codes)).sum().cast(pl.Int64),
            automated=pl.col("events")
            .filter(cls.is_in(billable_codes) & pl.col("auto"))
            .sum()
            .cast(pl.Int64),
            events=pl.col("events").sum().cast(pl.Int64),
            rows=pl.col("rows").sum().cast(pl.Int64),
            late=pl.col("late").sum().cast(pl.Int64),
        )
    )
    calendar_days = (
        pl.DataFrame({"day": pl.date_range(lo, hi, "1d", eager=True)})
        if hi >= lo
        else pl.DataFrame(schema={"day": pl.Date()})
    )
    daily = (
        calendar_days.join(daily, on="day", how="left", maintain_order="left")
        .fill_null(0)
        .with_columns(month=pl.col("day").dt.truncate("1mo"))
        .with_columns(month_to_date=pl.col("billable").cum_sum().over("month", order_by="day"))
    )
    allowance = opts.allowance
    if opts.by == "day":
        rows = daily.filter(pl.col("day") >= since, pl.col("day") <= last_day).with_columns(
            period=pl.col("day").dt.strftime("%Y-%m-%d")
        )
    else:
        rows = (
            daily.filter(pl.col("day") >= since, pl.col("day") <= last_day)
            .group_by("month")
            .agg(pl.col(*CLASSES, "billable", "automated", "events", "rows", "late").sum())
            .sort("month")
            .with_columns(
                period=pl.col("month").dt.strftime("%Y-%m"),
                month_to_date=pl.col("billable"),
            )
        )
    store = inp.origin == "store"
    rows = rows.with_columns(
        allowance=pl.lit(allowance, pl.Int64),
        overage=(
            (pl.col("month_to_date") - allowance).clip(lower_bound=0)
            if allowance is not None
            else pl.lit(None, pl.Int64)
        ),
        duplicates=(pl.col("rows") - pl.col("events")) if not store else pl.lit(None, pl.Int64),
        rows=pl.col("rows") if not store else pl.lit(None, pl.Int64),
        late=pl.col("late") if not store else pl.lit(None, pl.Int64),
        automated_share=_share(pl.col("automated"), pl.col("billable")),
        tz=pl.lit(opts.tz, pl.String),
    ).select(
        [
            pl.col(c).cast(
                pl.String
                if c in ("period", "tz")
                else pl.Float64
                if c == "automated_share"
                else pl.Int64
            )
            for c in ROW_COLUMNS
        ]
    )
    rows = rows.sort("period")

    # The billing month.
    in_month = daily.filter(pl.col("month") == billing_month)
    mtd = int(in_month["billable"].sum()) if in_month.height else 0
    automated_mtd = int(in_month["automated"].sum()) if in_month.height else 0
    days_in_month = calendar.monthrange(billing_month.year, billing_month.month)[1]
    elapsed = _days_elapsed(billing_month, as_of_local)
    projection = math.floor(mtd / elapsed * days_in_month + 0.5) if elapsed > 0 else None
    month = {
        "month": billing_month.strftime("%Y-%m"),
        "month_to_date": mtd,
        "days_elapsed": round(elapsed, 4),
        "days_in_month": days_in_month,
        "projection": projection,
        "allowance": allowance,
        "remaining": None if allowance is None else max(0, allowance - mtd),
        "overage": None if allowance is None else max(0, mtd - allowance),
        "projected_overage": (
            None if allowance is None or projection is None else max(0, projection - allowance)
        ),
        "over_allowance": None if allowance is None else mtd > allowance,
        "automated": automated_mtd,
        "automated_share": round(automated_mtd / mtd, 4) if mtd else None,
    }
    over: list[str] = []
    if allowance is not None and rows.height:
        per_month = (
            rows.with_columns(m=pl.col("period").str.slice(0, 7))
            .group_by("m")
            .agg(pl.col("month_to_date").max())
        )
        over = sorted(per_month.filter(pl.col("month_to_date") > allowance)["m"].to_list())

    # Reconciliation.
    total_events = int(agg["events"].sum()) if agg.height else 0
    after_as_of = int(agg.filter(pl.col("after"))["events"].sum()) if agg.height else 0
    in_period = int(rows["events"].sum()) if rows.height else 0
    billable_in_period = int(rows["billable"].sum()) if rows.height else 0
    notes: list[str] = []
    erased = 0
    if store:
        sc = inp.store_counts or {}
        rows_read, rejected = sc.get("rows_read"), sc.get("rejected")
        duplicates, conflicting = sc.get("duplicates"), sc.get("conflicting_duplicates")
        erased = int(sc.get("erased") or 0)  # (rows of visitors `jtrack store erase` took out)
        late_events: int | None = None
        notes.append(
            "rows_read, rejected and duplicates are the store's: those of the sessionize runs "
            "that built it (all of their input)"
        )
        notes.append(
            "late events need the export files: the store does not keep which file an event "
            "came from; run `jtrack usage FILES...` to count them"
        )
    else:
        # lazily scanned rows (rejects included) + read_events' kept events and its rejects
        rows_read = counts["rows"] + inp.rejected
        rejected = counts["rejected"] + inp.rejected
        from jtrack.read import nothing_accepted

        if rejected and (rejected == rows_read or inp.on_error == "fail"):
            lazy = [counts["first_rejected"]] if "first_rejected" in counts else []
            first = min([*inp.rejected_files, *lazy])
            bad_row = _first_reject(inp, first, counts.get("far_cut"))
            # (a wrong input, every row rejected: said with its first row)
            own = bad_row.hint if getattr(bad_row, "own_hint", False) else None
            error = nothing_accepted(rows_read, rejected, bad_row.message, own)
            if error is not None:
                raise error
            if inp.on_error == "fail":
                raise bad_row
        all_rows = int(agg["rows"].sum()) if agg.height else 0
        duplicates = all_rows - total_events
        conflicting = int(agg["conflicts"].sum()) if agg.height else 0
        late_events = int(rows["late"].sum()) if rows.height else 0
        notes.append(
            "late events: events of a daily export file (more than half of its events on one "
            "local day) created on an earlier day"
        )
        cut = files.get("cut_elsewhere") or []
        if cut:
            name, k, n = cut[0]
            first = f"the first: {name}, {k:,} of {n:,}" if len(cut) > 1 else f"{k:,} of {n:,}"
            notes.append(
                f"{len(cut):,} daily export file{'s have' if len(cut) != 1 else ' has'} a "
                f"tenth of {'their' if len(cut) != 1 else 'its'} rows or more late on "
                f"{opts.tz} days ({first if len(cut) > 1 else name + ': ' + first}): an "
                "export cut at another zone's midnight counts its first hours late; give "
                "--tz the zone the exports are cut in"
            )
        notes += [
            f"{name}: every one of its events is one of an earlier file's (the same export "
            "twice, under another name or in another format?): counted once"
            for name in files["repeats"]
        ]
    if inp.traffic_basis == BASIS_USER_AGENT:
        notes.append(
            "automated from export files: events whose user agent is automated; behaviour "
            "(30 page views a minute, 500 pages in one visit, hours without a pause) needs "
            "sessions: sessionize and run usage on the store"
        )
    if after_as_of:
        were = "event was" if after_as_of == 1 else "events were"
        notes.append(f"{after_as_of} {were} created at or after as_of and are not counted")
    months_with_events = sorted(
        {
            d.strftime("%Y-%m")
            for d in before.filter(pl.col("events") > 0).get_column("day").unique().to_list()
            if d is not None
        }
    )
    empty_period = None
    # the period in words, an end the user left open said so ("2026-10-04 or earlier")
    open_start = chosen is None and opts.since is None
    open_end = chosen is None and opts.until is None
    said_to: date | None
    if last_day >= since:
        said_from, said_to, begun = None if open_start else since, last_day, ""
    else:  # (a period open at its start has begun: it holds every day before as-of)
        said_from = None if open_start else since
        said_to = None if open_end else until - timedelta(days=1)
        begun = "" if open_start else " (not begun at as_of)"
    span = period_words(said_from, said_to) + begun
    words = started_words(said_from, said_to)  # (in 2026-10, on 2026-10-05, on or before ...)
    words = (words if words.startswith(("in ", "on ")) else f"in {words}") + begun
    if in_period == 0 and months_with_events:
        where = "the store holds" if store else "the files hold"
        shown = months_text(months_with_events)
        empty_period = {
            "period": span,
            "months_with_events": months_with_events,
            "message": f"no events {words}; {where} events in {shown}",
            # (the words for a job run early on the 1st: said on the 1st, of the month it
            # begins, never to a job of a later day, that may have passed one of them)
            "hint": f"pass --month {months_with_events[-1]}"
            + (
                ", or --month previous / --month yesterday in a job that runs early on the 1st"
                if as_of_local.day == 1 and chosen == _month_start(as_of_local.date())
                else ""
            ),
        }
    elif in_period == 0 and after_as_of:  # (a mistyped --as-of: a zero bill, said so)
        where = "the store holds" if store else "the files hold"
        at = iso_z(opts.as_of)
        empty_period = {
            "period": span,
            "months_with_events": months_with_events,
            "message": f"no events {words}; every event {where} was created at or after "
            f"as_of ({at})",
            "hint": "check --as-of: events created at or after it are not counted",
        }
    reconciliation = {
        "input": inp.origin,
        "rows_read": rows_read,
        "rejected": rejected,
        "duplicates": duplicates,
        "erased": erased,
        "conflicting_duplicates": conflicting,
        "events": total_events,
        "events_in_period": in_period,
        "events_outside_period": total_events - after_as_of - in_period,
        "events_after_as_of": after_as_of,
        "billable_in_period": billable_in_period,
        "not_billable_in_period": in_period - billable_in_period,
        "late_events": late_events,
        "months_with_events": months_with_events,
        "notes": notes,
    }
    period = {
        "from": since.isoformat(),
        "until": until.isoformat(),
        "last_day": last_day.isoformat() if last_day >= since else None,
    }
    source: dict[str, Any] = {"store": inp.names[0]} if store else {"files": sorted(set(inp.names))}
    traffic = {
        "automated_classes": list(AUTOMATED_CLASSES),
        "basis": inp.traffic_basis,
        "lists": inp.traffic_lists,
    }
    warnings = [
        f"{name}: the file holds no events (it is empty)"
        for name in sorted({*inp.empty_files, *files["empty"]})
    ]
    warnings += inp.left_out
    warnings += inp.zone_warnings  # (times read as UTC: a month's edge hours off, maybe)
    if store and total_events == 0:
        warnings.append(f"{inp.names[0]}: the store holds no events")
    if not store and conflicting:  # (as sessionize says it: such copies may move a month)
        warnings.append(
            f"{conflicting:,} event id(s) came more than once with different contents; the "
            "earliest of each was counted (`jtrack sessionize FILES` names them)"
        )
    if not store and rejected:
        warnings.append(
            f"{rejected:,} rejected {'row is' if rejected == 1 else 'rows are'} not counted "
            "(--on-error skip; `jtrack sessionize FILES --on-error skip --rejects FILE` "
            "lists why)"
        )
    return UsageReport(
        warnings=warnings,
        traffic=traffic,
        rows=rows,
        month=month,
        reconciliation=reconciliation,
        options=opts,
        source=source,
        period=period,
        months_over_allowance=over,
        empty_period=empty_period,
        zone_warnings=list(inp.zone_warnings),  # (a store's input has none)
    )


# --------------------------------------------------------------------------------------------
# The output lock
# --------------------------------------------------------------------------------------------


class OutputLockedError(JtrackError):
    """Another jtrack run is writing the same report file (exit 1)."""


@contextlib.contextmanager
def output_lock(path: str | os.PathLike[str], wait: float = 0.0) -> Iterator[Path]:
    """Hold an exclusive lock on `.<name>.lock` beside the report file while it is computed
    and written; the hidden lock file is removed again when the lock is released.

    Waits up to `wait` seconds, then raises OutputLockedError.
    """
    target = Path(path)
    from jtrack.files import check_writable

    # (the file named, not the lock: a directory, `.` among them, or a missing or unwritable
    # folder; first: `.` has no name to put the lock's beside)
    check_writable(target)
    lock_path = target.with_name(f".{target.name}.lock")
    try:  # (with the folder's read and write bits; one another account left is taken too)
        os.close(open_lock(lock_path, folder_mode(lock_path.parent)))
    except OSError as exc:
        raise FileAccessError(
            f"{lock_path}: cannot create the lock file ({exc.strerror})",
            hint="check the directory exists and is writable",
        ) from exc
    with exclusive_lock(
        lock_path,
        wait,
        lambda: OutputLockedError(
            f"another jtrack run is writing {target}",
            hint="wait for it to finish, or pass --wait SECONDS",
        ),
        remove=True,
    ) as held:
        yield held


__all__ = [
    "CLASSES",
    "DEFAULT_BILLABLE",
    "MONTH_WORDS",
    "ROW_COLUMNS",
    "SUMMARY_COLUMNS",
    "USAGE_COLUMNS",
    "YEARS",
    "OutputLockedError",
    "UsageInput",
    "UsageOptions",
    "UsageReport",
    "check_billable",
    "check_tz",
    "compute_usage",
    "in_years",
    "months_text",
    "next_month",
    "output_lock",
    "parse_as_of",
    "parse_day",
    "parse_month",
    "period_words",
    "resolve_month",
    "started_words",
    "usage_class_expr",
    "usage_config",
]
