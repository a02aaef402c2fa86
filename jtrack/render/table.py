"""Rich tables of result frames that fit the width they are given; data shown literally.

Tables are for people; every machine format (JSON, CSV, ...) carries the full values. A column
is one of three sorts, decided from its name and type (`column_sort`):

- id: uuid-shaped ids (`id`, `session_id`, `event_id`, `customer_id`, `contact_id`, ...),
  shown as their shortest unique prefix, 8 characters or more (like git); every command
  accepts such a prefix. Never cut.
- key: numbers, times, durations, rates, booleans, rule ids and short enumerated text
  (`state`, `type`, `period`, ...). Never cut and never wrapped inside a word.
- list: lists of ids or rule ids (`cookie_ids`, a session's `segments`). Wrapped between
  their items, never cut: a column too narrow for its longest item is left out.
- text: free text (titles, URLs, names, descriptions, other lists). Cut with an ellipsis, or
  wrapped between words where the caller asks for it.

Every cell is one line of the table's rows: tabs and line breaks inside a value show as one
space. Where the output cannot show more than ASCII, rules are drawn with `-` and a cut ends in
`...`.

When the table is wider than the space it gets: headers first wrap between words (after an
`_`, so they still read as the field name); then the widest text column gives way, then the
next widest (down to 10 characters); then times drop their seconds, then their clock (every
time column alike); last,
the columns a table marks optional, then text columns (widest first), then key columns
from the right (ids last) are left out, and a line under the table names them: a value is
never cut. Numbers are shown with
thousands separators, floats to one decimal, rates as percentages, durations as h:mm:ss.

Headers are the frame's field names (the names of every other format), except the few long
ones in LABELS, which the README lists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from rich import box
from rich.cells import cell_len, chop_cells, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from jtrack.render.text import OTHER_FORMATS, one_line
from jtrack.render.theme import RATE_COLUMNS
from jtrack.schema import FIELD_LABELS
from jtrack.serialize import flat_strings, strip_control
from jtrack.usecases.ids import ID_COLUMNS, ID_LIST_COLUMNS, ID_MIN, unique_prefix_length

#: List columns of rule ids (a session's segments and outcomes): never cut either.
RULE_LIST_COLUMNS = frozenset({"segments", "outcomes", "action_maps"})

#: Short text that is never cut: enumerations, rule ids, names of things.
KEY_TEXT_COLUMNS = frozenset(
    {
        "column",
        "period",
        "day",
        "month",
        "section",
        "state",
        "contact_state",
        "type",
        "kind",
        "rule_kind",
        "part",
        "held",
        "matched_by",
        "match_method",
        "match_methods",
        "method",
        "chosen",
        "rule",
        "field",
        "required",
        "segment_id",
        "outcome_id",
        "action_map_id",
        "rule_id",
        "color",
        "contact",
        "traffic_class",
        "version",  # (the store's versions: what `jtrack store rollback VERSION` takes)
    }
)
#: Labels taken from the export (a UTM source or medium, a country; also the short
#: `source` of a rule match, rules or export): kept whole like key text while short, cut
#: like free text when some value is long (a 55-character UTM source must not push every
#: count out of the table).
LABEL_COLUMNS = frozenset({"source", "medium", "country"})
LABEL_MAX = 16
#: The formats a note prefers to name, best first.
_NOTE_FORMATS = ("csv", "tsv", "json", "md")
#: A table's header rule in plain ASCII (box.SIMPLE_HEAD with `-`).
ASCII_SIMPLE_HEAD = box.Box(
    "    \n    \n -- \n    \n    \n    \n    \n    \n",
    ascii=True,
)

#: Seconds shown as h:mm:ss.
DURATION_COLUMNS = frozenset(
    {
        "duration_in_seconds",
        "duration_seconds",
        "median_duration_seconds",
        "p90_duration_seconds",
        "mean_duration_seconds",
    }
)
#: Table headers for long field names (README: "Tables"); every other header is the field name.
LABELS: dict[str, str] = FIELD_LABELS

GAP = 2  # columns are two cells apart: one of padding, one of the (blank) separator
TEXT_MIN = 10  # a cut text column keeps at least this much before times get coarser
WRAP_MAX_WORD = 24  # a wrapped column need not be wider than this for its longest word
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def label_for(name: str) -> str:
    return LABELS.get(name, name)


def column_sort(name: str, dtype: pl.DataType) -> str:
    """The sort of a column: "id", "key" or "text" (see the module docstring)."""
    if name in ID_COLUMNS:
        return "id"
    if name in ID_LIST_COLUMNS or (name in RULE_LIST_COLUMNS and isinstance(dtype, pl.List)):
        return "list"  # wrapped between its items, left out rather than cut
    if name in KEY_TEXT_COLUMNS or name in RATE_COLUMNS or name in DURATION_COLUMNS:
        return "key"
    if dtype.is_numeric() or dtype == pl.Boolean or dtype.is_temporal():
        return "key"
    if name.endswith("_id"):
        return "key"
    return "text"


def hms_expr(seconds: pl.Expr) -> pl.Expr:
    """Seconds as h:mm:ss (whole seconds, truncated; a leading - when negative)."""
    s = seconds.abs().floor().cast(pl.Int64)
    return pl.concat_str(
        [
            pl.when(seconds < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            (s // 3600).cast(pl.String),
            pl.lit(":"),
            (s % 3600 // 60).cast(pl.String).str.zfill(2),
            pl.lit(":"),
            (s % 60).cast(pl.String).str.zfill(2),
        ]
    )


def thousands_expr(col: pl.Expr) -> pl.Expr:
    """An integer column as text with thousands separators (1,234,567)."""
    digits = col.abs().cast(pl.String)
    grouped = (
        digits.str.reverse()
        .str.replace_all(r"(\d{3})", "$1,")
        .str.reverse()
        .str.strip_chars_start(",")
    )
    return pl.when(col < 0).then(pl.lit("-") + grouped).otherwise(grouped)


def percent_expr(col: pl.Expr) -> pl.Expr:
    """A fraction as a percentage with one decimal (0.1234 -> 12.3%)."""
    return (col.cast(pl.Float64) * 100).round(1).cast(pl.String) + pl.lit("%")


def display_frame(
    df: pl.DataFrame, time_format: str = TIME_FORMATS[0], prefixes: Mapping[str, int] | None = None
) -> pl.DataFrame:
    """Every column as the text a table shows (see the module docstring)."""
    prefixes = prefixes or {}
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if name in DURATION_COLUMNS and dtype.is_numeric():
            col = hms_expr(col)
        elif isinstance(dtype, pl.Duration):
            col = hms_expr(col.dt.total_microseconds() / 1_000_000)
        elif name in RATE_COLUMNS and dtype.is_numeric():
            col = percent_expr(col)
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC")
            col = col.dt.strftime(time_format)
        elif dtype.is_integer():
            col = thousands_expr(col)
        elif dtype.is_float():
            col = col.round(1)
        elif name in ID_COLUMNS and dtype == pl.String and name in prefixes:
            col = col.str.slice(0, prefixes[name])
        elif name in ID_LIST_COLUMNS and dtype == pl.List(pl.String) and name in prefixes:
            col = col.list.eval(pl.element().str.slice(0, prefixes[name]))
        exprs.append(col.alias(name))
    return flat_strings(df.select(exprs), neutralise=False)


def _id_values(df: pl.DataFrame, name: str) -> pl.Series:
    s = df.get_column(name)
    if isinstance(s.dtype, pl.List):
        s = s.explode()
    return s.cast(pl.String).drop_nulls()


def frame_prefixes(df: pl.DataFrame, given: Mapping[str, int] | None = None) -> dict[str, int]:
    """Prefix lengths for the id columns of `df`: `given` (worked out by the caller over
    everything a prefix must tell apart, e.g. the whole store), else unique within `df`."""
    out: dict[str, int] = {}
    for name, dtype in df.schema.items():
        if name not in ID_COLUMNS and name not in ID_LIST_COLUMNS:
            continue
        if dtype != pl.String and dtype != pl.List(pl.String):
            continue
        values = _id_values(df, name)
        # temporary contacts are "tmp-" + the cookie: the prefix counts after "tmp-"
        minimum = ID_MIN + (4 if values.str.starts_with("tmp-").any() else 0)
        k = unique_prefix_length(values, minimum) if values.len() else minimum
        out[name] = max(k, (given or {}).get(name, 0))
    return out


def _header_parts(label: str) -> list[str]:
    """A header split where it may wrap: after each `_` (and at spaces)."""
    return [p for p in re.findall(r"[^_ ]+_?|_| ", label) if p != " "]


def _key_parts(value: str) -> list[str]:
    """A row key's value split where it may wrap: after each `-`, `_`, `/` or `.` (and at
    spaces): `seg-mobile-visitors` as `seg-`, `mobile-`, `visitors`."""
    return [p for p in re.findall(r"[^-_/. ]+[-_/.]*|[-_/.]+| ", value) if p != " "]


def _wrap_key(value: str, width: int) -> str:
    """A row key's value packed into lines of at most `width` cells, broken between parts
    (a part wider than a line, at the narrowest, in lines of `width` cells)."""
    if cell_len(value) <= width:
        return value
    parts = [c for p in _key_parts(value) for c in chop_cells(p, max(width, 1))]
    return _pack(parts, width, "-_/.")


def _wrap_header(label: str, width: int) -> str:
    """The header packed into lines of at most `width` cells, breaking only between parts."""
    return _pack(_header_parts(label), width, "_")


def _pack(parts: list[str], width: int, joins: str) -> str:
    """`parts` packed into lines of at most `width` cells: one after a part ending in one of
    `joins` follows it directly, any other after a space."""
    lines: list[str] = []
    line = ""
    for part in parts:
        joined = line + part if not line or line[-1] in joins else line + " " + part
        if line and cell_len(joined) > width:
            lines.append(line)
            line = part
        else:
            line = joined
    lines.append(line)
    return "\n".join(lines)


def _longest_word(values: Iterable[str]) -> int:
    longest = 0
    for v in values:
        for word in v.split():
            longest = max(longest, cell_len(word))
    return longest


@dataclass
class _Col:
    name: str
    label: str
    sort: str  # "id", "key", "list", "text"
    numeric: bool
    time: bool
    wrap: bool
    variants: list[list[str]]  # cell texts; times have one variant per TIME_FORMATS entry
    row_key: bool = False  # one of the columns that tell the rows apart: never left out
    level: int = 0
    width: int = 0
    cells: list[int] = field(default_factory=list)  # widest cell of each variant

    @property
    def header_min(self) -> int:
        return max((cell_len(p) for p in _header_parts(self.label)), default=0)

    @property
    def cell_width(self) -> int:
        return self.cells[self.level]

    @property
    def natural(self) -> int:
        return max(self.cell_width, cell_len(self.label))

    def floor(self) -> int:
        """The narrowest this column gets before it is left out (text) or never (others)."""
        if self.sort == "list":  # its longest item, whole
            return max(self.header_min, _longest_word(self.variants[self.level]))
        if self.sort != "text":
            return max(self.cell_width, self.header_min)
        if self.wrap:
            words = _longest_word(self.variants[self.level])
            return max(self.header_min, min(max(words, TEXT_MIN), WRAP_MAX_WORD, self.natural))
        return max(self.header_min, min(self.natural, TEXT_MIN))

    def wrap_floor(self) -> int:
        """The narrowest a row key gets when the row keys alone do not fit: its longest
        part (values wrap after a `-`, `_`, `/` or `.`, never inside a part)."""
        parts = [p for v in self.variants[self.level] for p in _key_parts(v)]
        return max(self.header_min, max((cell_len(p) for p in parts), default=0))


#: The sorts of column that give way (narrowed, then left out) before key columns.
_GIVING = ("text", "list")


def _total(cols: Sequence[_Col]) -> int:
    return sum(c.width for c in cols) + GAP * max(len(cols) - 1, 0)


def _fit(
    cols: list[_Col], width: int, optional: Sequence[str] = (), extra: Sequence[str] = ()
) -> tuple[list[_Col], list[str]]:
    """Column widths for `width` cells (see the module docstring); the columns left out.
    `extra` columns are left out (in this order) before anything else gives way."""
    for c in cols:
        c.width = c.natural
    if _total(cols) <= width:
        return cols, []
    every = list(cols)
    # 0. extra columns the caller would rather lose than have any other column give way
    dropped: list[str] = []
    for name in extra:
        if _total(cols) <= width or len(cols) <= 1:
            break
        if any(c.name == name and not c.row_key for c in cols):
            cols = [c for c in cols if c.name != name]
            dropped.append(name)
    if dropped:
        kept, also = _fit(cols, width, optional)
        return kept, [*dropped, *also]
    # 1. headers of id and key columns wrap between words, largest saving first
    for c in sorted(cols, key=lambda c: c.floor() - c.natural):
        if _total(cols) <= width:
            break
        if c.sort in ("id", "key"):
            c.width = max(c.floor(), c.width - (_total(cols) - width))
    # 2. the widest text column gives way, then the next widest, down to their floors
    _shrink_text(cols, width)
    # 3. times drop their seconds, then their clock (every time column alike)
    for level in range(1, len(TIME_FORMATS)):
        if _total(cols) <= width:
            return cols, []
        for c in cols:
            if c.time and c.level < level:
                c.level = level
                c.width = max(c.cell_width, c.header_min)
    if _total(cols) <= width:
        return cols, []
    # 4. columns the caller marked optional are left out, in its order
    left_out: list[str] = []
    for name in optional:
        if _total(cols) <= width:
            break
        named = [c for c in cols if c.name == name and not c.row_key]
        if named and len(cols) > 1:
            cols = [c for c in cols if c is not named[0]]
            left_out.append(name)
            for c in cols:
                if c.sort in _GIVING:
                    c.width = c.natural
            _shrink_text(cols, width)
    # 5. text columns are left out, widest first (rule ids among them), then lists of
    # visitor ids (at least one column stays: free text goes before the ids a reader looks
    # things up by)
    while _total(cols) > width:
        texts = [c for c in cols if c.sort in _GIVING and c.name not in ID_LIST_COLUMNS] or [
            c for c in cols if c.sort == "list"
        ]
        if not texts or len(cols) == 1:
            break
        drop = max(texts, key=lambda c: (c.natural, -cols.index(c)))
        cols = [c for c in cols if c is not drop]
        left_out.append(drop.name)
        for c in cols:
            if c.sort in _GIVING:
                c.width = c.natural
        _shrink_text(cols, width)
    if left_out and _total(cols) <= width:
        cols = _restore(every, cols, left_out, width)
    # 6. last, key columns are left out from the right, ids only when nothing else is left:
    # a value is never cut (the others are laid out again, times with their clock if they fit)
    # (the row keys are never left out: when they alone are too wide, they wrap)
    rows = [c for c in cols if c.row_key]
    if rows and _total(rows) > width:
        return _wrap_rows(every, cols, left_out, width)
    keys = [c for c in cols if c.sort != "id" and not c.row_key] or [
        c for c in cols[1:] if not c.row_key
    ]
    if _total(cols) > width and keys:
        drop = keys[-1]
        rest = [c for c in cols if c is not drop]
        for c in rest:
            c.level = 0
        kept, also = _fit(rest, width)
        gone = [*left_out, drop.name, *also]
        # (a key left out for one left out after it may fit again: `id, customer_id,
        # contact_id, event_count` at 80 columns loses contact_id, not event_count too)
        return _restore(every, kept, gone, width), gone
    return cols, left_out


def _wrap_rows(
    every: list[_Col], cols: list[_Col], left_out: list[str], width: int
) -> tuple[list[_Col], list[str]]:
    """The row keys alone are wider than `width`, so they wrap between their parts (see
    `_Col.wrap_floor`): the other columns are left out from the right (ids last) until the
    table fits with the row keys at their narrowest; what fits then comes back, and the row
    keys widen into the room left (fewer lines a row)."""
    rows = [c for c in cols if c.row_key]
    for c in rows:
        c.width = c.wrap_floor()
    # (at the narrowest the row keys may not fit even so: the widest gives way a cell at a
    # time, so that none is narrower than its share of the line and Rich folds none again;
    # 20 columns folded seg-mobile- as seg-mobil, e-)
    while _total(rows) > width and max(c.width for c in rows) > 1:
        max(rows, key=lambda c: c.width).width -= 1
    gone = list(left_out)
    while _total(cols) > width:
        others = [c for c in cols if not c.row_key]
        if not others:
            break
        drop = ([c for c in others if c.sort != "id"] or others)[-1]
        cols = [c for c in cols if c is not drop]
        gone.append(drop.name)
    cols = _restore(every, cols, gone, width)
    while _total(cols) < width:  # (a cell at a time to the row key most wrapped)
        short = [c for c in rows if c.width < max(c.cell_width, c.header_min)]
        if not short:
            break
        max(short, key=lambda c: c.cell_width - c.width).width += 1
    return cols, gone


def _restore(every: list[_Col], cols: list[_Col], left_out: list[str], width: int) -> list[_Col]:
    """Once columns were left out, what that made room for, in the order _fit gave it up:
    the columns left out come back, the last first (a key at its width, text at its floor,
    times as coarse as the others), each only if the table still fits; then times get back
    their clock (all alike) with the room left; text columns widen into what remains.
    `left_out` keeps the names still left out."""
    level = max((c.level for c in cols if c.time), default=0)
    for name in reversed(list(left_out)):
        back = next((c for c in every if c.name == name), None)
        if back is None:
            continue
        if back.time:
            back.level = level
        back.width = back.floor() if back.sort in _GIVING else max(back.cell_width, back.header_min)
        trial = [c for c in every if c is back or any(c is k for k in cols)]
        if _total(trial) <= width:
            cols = trial
            left_out.remove(name)
    while True:
        times = [c for c in cols if c.time and c.level > 0]
        if not times:
            break
        saved = [(c, c.level, c.width) for c in times]
        for c in times:
            c.level -= 1
            c.width = max(c.cell_width, c.header_min)
        if _total(cols) > width:
            for c, lvl, w in saved:
                c.level, c.width = lvl, w
            break
    for c in sorted((c for c in cols if c.sort in _GIVING), key=lambda c: c.natural - c.width):
        c.width = min(c.natural, c.width + max(width - _total(cols), 0))
    return cols


def _shrink_text(cols: list[_Col], width: int) -> None:
    """Narrow the widest text columns, one cell at a time, down to their floors."""
    while _total(cols) > width:
        texts = [c for c in cols if c.sort in _GIVING and c.width > c.floor()]
        if not texts:
            return
        widest = max(c.width for c in texts)
        for c in texts:
            if c.width == widest and _total(cols) > width:
                c.width -= 1


class FrameTable:
    """A result frame as a Rich table laid out for the width it is rendered at.

    prefixes: id column -> prefix length worked out by the caller (e.g. over the store);
    wrap: text columns wrapped between words instead of cut;
    sorts: column -> "id"|"key"|"text", overriding `column_sort`;
    optional: columns left out first (in this order) when the table does not fit;
    extra: columns left out (in this order) before any other column gives way, even before
    headers wrap (figures that other lines or formats show as well);
    tails: text columns cut at their start rather than their end (file paths, whose name is
    at the end: `…ple_data/events.jsonl`);
    marks: one mark per row (a live view's selection), drawn in a gutter left of the table
    with one space after it: the columns are fitted into the width the gutter leaves, and
    give way in their usual order;
    hint: the note naming the columns left out says what shows them (a live screen, whose
    keys say it, leaves that out);
    keys: the columns that tell the rows apart (`segment_id` and `outcome_id`), never left
    out nor cut: when they alone do not fit, their values wrap after a `-`, `_`, `/` or `.`,
    a blank line between rows.
    """

    def __init__(
        self,
        df: pl.DataFrame,
        title: str | Text | None = None,
        *,
        prefixes: Mapping[str, int] | None = None,
        wrap: Iterable[str] = (),
        sorts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        caption: str | None = None,
        optional: Sequence[str] = (),
        extra: Sequence[str] = (),
        tails: Iterable[str] = (),
        column_notes: Mapping[str, str] | None = None,
        marks: Sequence[str] | None = None,
        hint: bool = True,
        keys: Iterable[str] = (),
    ) -> None:
        self.df = df
        self.keys = frozenset(keys)
        self.marks = list(marks) if marks is not None else None
        self.hint = hint
        self.tails = frozenset(tails)
        self.title = title
        self.caption = caption
        #: notes about a column, under the table only when it shows that column
        self.column_notes = dict(column_notes or {})
        self.wrap = frozenset(wrap)
        self.sorts = dict(sorts or {})
        self.labels = {**LABELS, **(labels or {})}
        self.prefixes = frame_prefixes(df, prefixes)
        self.optional = tuple(optional)
        self.extra = tuple(extra)

    def _columns(self) -> list[_Col]:
        times = [n for n, t in self.df.schema.items() if isinstance(t, pl.Datetime)]
        variants = [display_frame(self.df, TIME_FORMATS[0], self.prefixes)]
        if times:
            variants += [
                display_frame(self.df.select(times), fmt, self.prefixes) for fmt in TIME_FORMATS[1:]
            ]
        cols = []
        for name, dtype in self.df.schema.items():
            is_time = name in times
            texts = [
                [_cell(v) for v in frame.get_column(name)]
                for frame in (variants if is_time else variants[:1])
            ]
            sort = self.sorts.get(name, column_sort(name, dtype))
            if name in LABEL_COLUMNS and name not in self.sorts:
                longest = max((cell_len(v) for v in texts[0]), default=0)
                sort = "key" if longest <= LABEL_MAX else "text"
            if name in self.keys and sort == "text":
                sort = "key"  # (a row key is never cut)
            label = one_line(self.labels.get(name, name))
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
                label += " (UTC)"  # (shown in UTC, as display_frame converts it: said)
            col = _Col(
                name=name,
                label=label,
                sort=sort,
                numeric=dtype.is_numeric() and name not in self.wrap,
                time=is_time,
                wrap=name in self.wrap or sort == "list",
                variants=texts,
                row_key=name in self.keys,
            )
            col.cells = [max((cell_len(v) for v in vs), default=0) for vs in texts]
            cols.append(col)
        # (a table's first column, its label or id, tells its rows apart where the caller
        # names no keys: it stays, wrapped where it alone does not fit, the figures go first)
        if cols and not self.keys and cols[0].sort in ("id", "key"):
            cols[0].row_key = True
        return cols

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title is not None:  # above the table, never wrapped to the table's width
            title = self.title
            yield (
                title
                if isinstance(title, Text)
                else Text(strip_control(one_line(title)), style="bold")
            )
        if self.df.height == 0 and self.title is not None:  # no header over no rows
            if not str(self.title)[:1].isdigit():  # a title that counts them says so
                yield Text("(none)", style="dim")
            for line in self.caption.split("\n") if self.caption else []:
                yield Text(strip_control(one_line(line)), style="dim")
            return
        gutter = max((cell_len(m) for m in self.marks), default=0) + 1 if self.marks else 0
        room = max(options.max_width - gutter, 1)
        cols, left_out = _fit(self._columns(), room, self.optional, self.extra)
        ascii = options.ascii_only
        cells = []
        for c in cols:
            texts = c.variants[c.level]
            if c.name in self.tails and c.sort == "text" and not c.wrap:
                texts = [_cut_start(v, c.width, ascii) for v in texts]
            elif ascii and c.sort == "text" and not c.wrap:  # Rich would cut with `…`
                texts = [_cut_ascii(v, c.width) for v in texts]
            elif c.row_key and c.width < c.cell_width:
                texts = [_wrap_key(v, c.width) for v in texts]
            cells.append(texts)
        # (rows of more than one line are told apart by a blank line between them)
        wrapped = any(c.row_key and c.width < c.cell_width for c in cols)
        table = Table(
            box=ASCII_SIMPLE_HEAD if ascii else box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),
            expand=False,
            header_style="bold",
            show_lines=wrapped,
        )
        for c in cols:
            cut = c.sort == "text" and not c.wrap
            table.add_column(
                Text(_wrap_header(c.label, c.width)),
                justify="right" if c.numeric else "left",
                width=c.width,
                # text is cut; everything else folds rather than lose characters when even
                # the key columns alone are wider than the terminal
                no_wrap=cut,
                overflow="ellipsis" if cut else "fold",
            )
        rows = zip(*cells, strict=True) if cols else iter(())
        for row in rows:
            table.add_row(*[Text(v) for v in row])
        if self.marks is None:
            yield table
        else:  # the rows' marks in the gutter, the table's lines beside them
            lines = console.render_lines(table, options.update_width(room), pad=False)
            first = len(lines) - len(self.marks)  # (the head's lines: a header may wrap)
            for i, segments in enumerate(lines):
                mark = self.marks[i - first] if i >= first else ""
                yield Segment(mark + " " * (gutter - cell_len(mark)))
                yield from segments
                yield Segment.line()
        notes = self.caption.split("\n") if self.caption else []  # (one note a line)
        shown = {c.name for c in cols}
        notes += [note for name, note in self.column_notes.items() if name in shown]
        if left_out:
            hint = f" ({_every_field_hint(len(left_out))})" if self.hint else ""
            notes.append(f"not shown at {options.max_width} columns: {', '.join(left_out)}{hint}")
        for note in notes:
            yield Text(strip_control(one_line(note)), style="dim")


def _cell(value: str | None) -> str:
    """A value as one line of a table cell (see the module docstring)."""
    return "" if value is None else strip_control(one_line(value))


def _every_field_hint(n: int = 2) -> str:
    """What shows the `n` fields a table left out: a wider terminal, or a format the
    running command writes (none named when it writes none that lists them)."""
    offered = OTHER_FORMATS.get()
    if offered is None:
        offered = _NOTE_FORMATS
    named = next((f for f in _NOTE_FORMATS if f in offered), None)
    them = "them" if n != 1 else "it"
    if named is None:
        return f"a wider terminal shows {them}"
    return f"a wider terminal, or -f {named}, shows {them}"


def _cut_start(value: str, width: int, ascii: bool) -> str:
    """`value` cut to `width` cells at its start, which `…` (`...` in ASCII) stands for."""
    if cell_len(value) <= width:
        return value
    mark = "..." if ascii else "…"
    keep = max(width - len(mark), 0)
    tail = value[-keep:] if keep else ""
    while cell_len(tail) > keep:  # (wide characters)
        tail = tail[1:]
    return (mark + tail)[-width:] if width < len(mark) else mark + tail


def _cut_ascii(value: str, width: int) -> str:
    """`value` cut to `width` cells ending in `...` (where `…` cannot be shown)."""
    if cell_len(value) <= width:
        return value
    if width <= 3:
        return set_cell_size(value, width)
    return set_cell_size(value, width - 3) + "..."


def frame_table(df: pl.DataFrame, title: str | None = None, **kwargs: Any) -> FrameTable:
    """A frame as a table that fits the width it is printed at (see FrameTable)."""
    return FrameTable(df, title, **kwargs)


class _AsciiBuffer(io.StringIO):
    """Where Rich renders plain ASCII: it draws boxes and rules in ASCII for this encoding."""

    encoding = "ascii"


def render_to_text(renderable: RenderableType, width: int = 100, ascii: bool = False) -> str:
    """Plain text at a fixed width: no colour, no terminal codes, no trailing blanks; with
    `ascii`, tables and rules drawn in ASCII (the caller replaces what else is not)."""
    console = Console(
        width=width,
        record=True,
        color_system=None,
        force_terminal=False,
        file=_AsciiBuffer() if ascii else io.StringIO(),
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())


__all__ = [
    "LABELS",
    "FrameTable",
    "column_sort",
    "display_frame",
    "frame_table",
    "hms_expr",
    "label_for",
    "render_to_text",
    "unique_prefix_length",
]
