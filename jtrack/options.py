"""Run options: what a sessionize run's result depends on, and parsers for option values.

Imports the standard library only (no Polars), so the CLI can parse options before loading it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from jtrack.errors import UsageError

DEFAULT_GAP = timedelta(minutes=20)
#: The longest duration an option takes (--gap, --ttl, ...): longer ones overflowed in
#: Python's and Polars' time arithmetic.
MAX_DURATION = timedelta(days=36_500)

#: The largest count an option takes (--limit, --top, --keep, --users, --per-user, and
#: [usage] users and per_user): more than any store holds, and small enough that jtrack's
#: figures (users x per-user) stay 64-bit integers.
MAX_COUNT = 1_000_000_000

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s|d)", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--gap") -> timedelta:
    """Parse `20m`, `1h30m`, `90s`, `1d`, `500ms`. A number needs its unit, and a duration
    must be longer than zero."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        raise UsageError(
            f"{option}: {text!r} has no unit",
            hint=f"write {t}m for minutes, {t}s for seconds or {t}h for hours",
        )
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2).lower()]
        pos = m.end()
    if pos == len(t) and t and total <= 0:
        raise UsageError(
            f"{option}: {text!r} is no time at all; a duration must be more than zero",
            hint="write it like 20m, 1h30m, 90s or 1d",
        )
    if pos != len(t) or not t:
        raise UsageError(
            f"{option}: cannot read {text!r} as a duration",
            hint="write it like 20m, 1h30m, 90s or 1d",
        )
    if total > MAX_DURATION.total_seconds():
        raise UsageError(
            f"{option}: {text!r} is longer than jtrack takes",
            hint=f"give at most {format_duration(MAX_DURATION.total_seconds())} (100 years)",
        )
    return timedelta(seconds=total)


def format_duration(seconds: float) -> str:
    """A duration as parse_duration reads it: `20m`, `1h30m`, `90s` rather than `5400s`
    (`2d`; fractions of a second as `500ms`)."""
    left = round(seconds * 1000)
    if left <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, left = divmod(left, size)
        if n:
            out.append(f"{n}{unit}")
    if left:
        out.append(f"{left}ms")
    return "".join(out)


@dataclass(frozen=True)
class SessionizeOptions:
    """How events are split into sessions (everything a run's result depends on)."""

    gap: timedelta = DEFAULT_GAP
    split_on_campaign_change: bool = False
    max_duration: timedelta | None = None

    if TYPE_CHECKING:  # (what the constructor takes: __post_init__ normalises it)

        def __init__(
            self,
            gap: timedelta | str = DEFAULT_GAP,
            split_on_campaign_change: bool = False,
            max_duration: timedelta | str | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        """What the CLI refuses is refused here too (a library caller's `gap=20` or a
        negative gap must not build a store of nonsense sessions). A duration may be text
        as `--gap` and `--max-duration` read it ("30m", "1h30m")."""
        for name in ("gap", "max_duration"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, parse_duration(value, name))
        if not isinstance(self.gap, timedelta) or self.gap <= timedelta(0):
            raise UsageError(
                f"gap {self.gap!r}",
                hint='a datetime.timedelta of more than zero, or text such as "30m"',
            )
        if self.max_duration is not None and (
            not isinstance(self.max_duration, timedelta) or self.max_duration <= timedelta(0)
        ):
            raise UsageError(
                f"max_duration {self.max_duration!r}",
                hint='a datetime.timedelta of more than zero, text such as "2h", or None',
            )
        if not isinstance(self.split_on_campaign_change, bool):
            raise UsageError(
                f"split_on_campaign_change {self.split_on_campaign_change!r}",
                hint="True or False",
            )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "gap_seconds": self.gap.total_seconds(),
            "split_on_campaign_change": self.split_on_campaign_change,
            "max_duration_seconds": (
                self.max_duration.total_seconds() if self.max_duration else None
            ),
        }
        if self.split_on_campaign_change:  # (which rule the store's sessions were split by)
            out["campaign_rule"] = CAMPAIGN_RULE
        out["visit_rule"] = VISIT_RULE  # (how the store's visits are numbered)
        out["id_rule"] = ID_RULE  # (how the store's session ids are made)
        out["identity_rule"] = IDENTITY_RULE  # (how its visitors were matched to contacts)
        out["content_rule"] = CONTENT_RULE  # (how copies' contents were compared)
        out["stream_rule"] = STREAM_RULE  # (which session a system event joins)
        out["number_rule"] = NUMBER_RULE  # (how a number from Parquet became text)
        return out


#: The rule campaign changes are told by (SessionizeOptions.split_on_campaign_change): 5, an
#: arrival is compared with its own session's source (its first instant's: the events of
#: one page load; none for a direct visit), never an earlier session's, and a split moves
#: its whole instant (3, never released: per row; 2: with the visitor's last source,
#: however long ago); since 2, a referrer on the page's own host is internal whatever its
#: medium (1: only the medium said so); since 9 hosts are compared as sites (in any case,
#: without a port, a leading `www.` or a trailing dot; a URL as its host, none without
#: one) and a UTM campaign (its blank fields none) is the source whatever the referrer
#: beside it (4: the page's own host in any case, an external referrer as written, and UTM
#: and referrer together; 5 to 8, never released, on the way); since 10 a host in punycode
#: is the site it names (`xn--r8jz45g.jp` is `例え.jp`), since 11 a name of IDNA 2008 too
#: (`xn--strae-oqa.de` is `straße.de`). A store split by another rule is rebuilt once by its
#: next run.
CAMPAIGN_RULE = 11
#: How visits are numbered (`visit_number`): 2, a visitor's web sessions only (1: sessions of
#: every type, a delivery of an order system too). A store numbered by another rule is
#: rebuilt once by its next run.
VISIT_RULE = 2
#: How visitors are matched to the contacts of a book: 2, a phone number of a local-only
#: length (no area code) matches no one, and two contacts' identifiers of one kind at one
#: instant decide nothing (1: both matched, the lower contact id winning a tie). A store
#: resolved against a book by another rule is rebuilt once by its next run.
IDENTITY_RULE = 2
#: How two copies of an event are told apart (a conflicting redelivery; the content hash
#: the duplicates table keeps): 2, traits in any order, an entry with neither type nor value
#: none, and none at all the same as `{}` or `[]` (1: as delivered; a JSON copy and a
#: Parquet copy of one event differed). A store whose duplicates were hashed by another
#: rule has them hashed again from its segments by its next run.
CONTENT_RULE = 2
#: Which session a system event (segment, outcome, web action) joins: 2, one that names an
#: app session (its `session.type`) joins the visitor's app session open at its time, the
#: others the web session (1: every system event the web session; one naming an app
#: session of a visitor without web sessions was in none). A store built by another rule
#: is rebuilt once by its next run.
STREAM_RULE = 2
#: How a number read from Parquet becomes text (a float64 `customer_id`, a title, an
#: attribute value): 2, the text the JSON path gives the same number (`100003` for
#: 100003.0, `27` for 27.0); 1 (no record: an earlier jtrack), Polars' cast (`100003.0`). A
#: run of this rule that reads such a column into a store of the other is told its
#: earlier exports' visitors may be another's text (RunInfo: a warning, not a rebuild:
#: the segments keep the text as it was read).
NUMBER_RULE = 2
#: How session ids are made: 2, a hash of the session's first event id (1: of the visitor id
#: and it, so that whoever saw a session's id and its first event's could test a guessed
#: email or phone number, a visitor id their role masks, against them). A store whose ids
#: were made by another rule is rebuilt once by its next run.
ID_RULE = 2


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str, option: str = "--memory-limit") -> int:
    """Bytes from `4GB`, `512MB`, `1.5G`, `2GiB` (powers of 1024) or `1000000B`. A plain
    number is refused: `4` is far more likely to mean 4GB than 4 bytes."""
    m = _SIZE_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(
            f"{option}: cannot read {text!r} as a size",
            hint="write it like 4GB, 512MB or 1.5G",
        )
    if not m.group(2) and not m.group(3):
        raise UsageError(
            f"{option}: {text!r} has no unit",
            hint=f"write {m.group(1)}GB or {m.group(1)}MB (or {m.group(1)}B for bytes)",
        )
    power = " kmgt".index(m.group(2).lower() or " ")
    size = int(float(m.group(1)) * 1024**power)
    if option == "--memory-limit" and size < MIN_MEMORY_LIMIT:
        raise UsageError(
            f"{option} {text}: less than a run needs",
            hint="give at least 64MB (the default is 2GB)",
        )
    return size


def format_size(n: int) -> str:
    """`4.0GB`, `512MB`: sizes as the options take them."""
    for unit, power in (("GB", 3), ("MB", 2), ("KB", 1)):
        if n >= 1024**power:
            return f"{n / 1024**power:.1f}{unit}"
    return f"{n}B"


OnError = Literal["fail", "skip"]
#: Memory a run aims to stay under when no --memory-limit is given.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
#: The least --memory-limit the CLI takes: less than Python and Polars take to start.
MIN_MEMORY_LIMIT = 64 * 1024**2


def check_on_error(value: object, name: str = "on_error") -> str:
    """`on_error` as every reader takes it: "fail" or "skip"; anything else is a UsageError
    (a misspelt "Fail" must never skip bad rows silently, in a report or a bill either).
    `name`: as the caller spells the option (the CLI's `--on-error`)."""
    if value not in ("fail", "skip"):
        words = "fail or skip" if name.startswith("--") else '"fail" or "skip"'
        raise UsageError(f"{name} {value!r} is not a way to handle bad rows", hint=f"use {words}")
    return str(value)


@dataclass(frozen=True)
class RunOptions:
    """Everything `jtrack sessionize` is told, in one object (the engine's only options)."""

    #: how sessions are split (None: as the store was built, or the defaults for a new store)
    session: SessionizeOptions | None = None
    on_error: OnError = "fail"
    max_line_bytes: int = 1_000_000
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    #: a contacts file to resolve visitors with (None: the one the store remembers); a path
    #: is kept as its text
    contacts: str | os.PathLike[str] | None = None
    #: stop resolving contacts (forget the remembered file)
    forget_contacts: bool = False
    default_region: str | None = None
    #: also write this run's rejected rows to this file (JSON lines; a path is kept as its
    #: text)
    rejects_path: str | os.PathLike[str] | None = None
    lock_wait: float = 0.0
    #: versions kept besides the current one, for `jtrack store rollback` (None: what the
    #: store was given last, remembered in its manifest, else 2); remembered for later runs
    keep: int | None = None
    #: re-sessionize everything the store holds (and the sources), from scratch
    rebuild: bool = False
    #: start a new history from the sources alone (the store's events are dropped)
    replace: bool = False
    #: go on where jtrack would refuse to lose data (all rows rejected, a shrinking store)
    force: bool = False
    #: where inputs are read and units run: "local" (this process) or "spark"
    engine: str = "local"
    #: the Spark master (default: $SPARK_MASTER or local[*]); with engine="spark"
    spark_master: str | None = None
    #: files are being written while jtrack reads them (`jtrack watch`): a JSON lines file's
    #: unfinished last line is left for the next run
    follow: bool = False
    #: buckets of a new store (tests; the default suits any size)
    buckets: int | None = None
    #: split the work into this many bucket ranges (tests; default: by memory_limit)
    units: int | None = None
    #: rows read at a time (tests; default: by memory_limit)
    chunk_rows: int | None = None

    def __post_init__(self) -> None:
        """Values the CLI would refuse are refused here too (a library caller's misspelt
        `on_error="Fail"` must not skip bad rows silently)."""
        check_on_error(self.on_error)
        from jtrack.checks import must_be, refuse_blank_name

        for name, hint in (
            ("contacts", "name the contacts file, or pass None"),
            ("rejects_path", "name a file, or pass None"),
        ):
            value = getattr(self, name)
            must_be(value, name, (str, os.PathLike), "a file's path", none=True)
            refuse_blank_name(value, name, hint)
            if isinstance(value, os.PathLike):  # (kept as text: the manifest says it so)
                object.__setattr__(self, name, os.fspath(value))
        if self.engine not in ("local", "spark"):
            import difflib

            near = difflib.get_close_matches(str(self.engine), ["local", "spark"], n=1)
            raise UsageError(
                f"engine {self.engine!r}: jtrack runs on the local engine or on Spark",
                hint=(f"did you mean {near[0]!r}? " if near else "") + 'use "local" or "spark"',
            )
        for name, low in (("keep", 0), ("max_line_bytes", 1), ("memory_limit", 1)):
            value = getattr(self, name)
            if name == "keep" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UsageError(f"{name} {value!r}", hint=f"a whole number of at least {low}")
        if self.session is not None and not isinstance(self.session, SessionizeOptions):
            raise UsageError(
                f"session {self.session!r}", hint="a jtrack.options.SessionizeOptions, or None"
            )
        wait = self.lock_wait
        if not isinstance(wait, int | float) or isinstance(wait, bool) or wait < 0:
            raise UsageError(f"lock_wait {self.lock_wait!r}", hint="seconds, 0 or more")
        for name in ("buckets", "units", "chunk_rows"):
            value = getattr(self, name)
            bad = not isinstance(value, int) or isinstance(value, bool) or value < 1
            if value is not None and bad:
                raise UsageError(f"{name} {value!r}", hint="a whole number of at least 1")
        for name in ("forget_contacts", "rebuild", "replace", "force", "follow"):
            if not isinstance(getattr(self, name), bool):  # ("yes" would read as True)
                raise UsageError(f"{name} {getattr(self, name)!r}", hint="True or False")
