"""`jtrack store erase`: take every row of some visitors out of a store, as a new version.

The erased visitors' copies of events leave the run's decisions as if never read: the
event ids they shared with others are judged again (another visitor's duplicate copy may
be the one kept now) and so is the far-future cut, and the units sessionize again the
visitors whose rows change (the erased ones, whose sessions go, and those of copies judged
again), as an incremental run does; a contacts book that loses an erased contact's row
resolves every visitor again. The segments that hold their rows are written again without
them (with their own columns: an input kept as it was keeps its extra ones for the rows
left), and whatever points into those segments is moved: index parts (`segment`, `row`),
held and duplicate copies (`_pos`), the segments' line maps. Their rejected rows leave
`rejects.jsonl`, and each input's accounting counts them `erased`. The ids, hashed with
the store's salt (jtrack.engine.erasure), stay in the manifest: every later run drops
their rows as it reads.
The version names no base, and every earlier one (which holds the data) is removed, but a
version a reader holds, which the next run's clean-up removes once it is let go.
Imports Polars only; never prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from jtrack.engine.decide import decide
from jtrack.engine.erasure import Erasure
from jtrack.engine.ingest import ID_SCHEMA, LineBreaks, unit_ranges
from jtrack.engine.inputs import Planned
from jtrack.engine.run import (
    BASE_MEMORY,
    BYTES_PER_ROW,
    LocalEngine,
    _Context,
    _duplicates,
    _finish,
    _history_copies,
    _invalid_before,
    _job,
    _now,
    _session_options,
    _side_copies,
)
from jtrack.engine.subjects import find_rows, find_subjects
from jtrack.engine.unit import split_pos
from jtrack.errors import DataError
from jtrack.options import RunOptions
from jtrack.progress import ProgressFn, ProgressUpdate, no_progress
from jtrack.store import Manifest, PartInfo, SegmentInfo, Snapshot, Store, layout
from jtrack.store.writer import VersionWriter


@dataclass
class Erased:
    """What an erase took out (or, with dry_run, would take out)."""

    dry_run: bool
    store: str
    visitors: list[str] = field(default_factory=list)  # found in the store
    contacts: list[str] = field(default_factory=list)  # found in the book or sessions
    visitors_not_found: list[str] = field(default_factory=list)
    contacts_not_found: list[str] = field(default_factory=list)
    #: ids an earlier erase took out (not found, as they are gone; nothing to do for them)
    visitors_erased_before: list[str] = field(default_factory=list)
    contacts_erased_before: list[str] = field(default_factory=list)
    sessions: int = 0
    events: int = 0
    duplicates: int = 0
    held: int = 0  # far-future rows held aside
    rejected: int = 0  # rows of rejects.jsonl
    contacts_rows: int = 0  # rows of the store's contacts book
    rows: int = 0  # input rows accounted as erased (events, duplicates, held, rejected)
    segments_rewritten: list[str] = field(default_factory=list)
    parts_rewritten: int = 0
    version: str | None = None  # the version written
    versions_removed: list[str] = field(default_factory=list)
    #: saved contacts (not erased) an erased visitor belongs to: the store resolved it to
    #: the contact (by cookie, email, phone or external id) or the contact's row of the
    #: store's contacts book names its cookie. The row, its details and the contact's
    #: other visitors stay: erasing a device is not erasing the person
    book_contacts: list[str] = field(default_factory=list)
    #: each of book_contacts: {contact_id, matched_by (how the erased visitors were
    #: resolved to it: cookie for a cookie the book row names), visitors (the erased ones),
    #: other_visitors (its visitors and cookie ids that stay)}
    linked_contacts: list[dict[str, Any]] = field(default_factory=list)
    #: for ids not found: the visitors and contacts that carry one as an email or phone
    #: (an identity trait, the contacts book), or the id it is in another case
    hints: list[str] = field(default_factory=list)
    #: versions that hold the data still: with dry_run, every earlier one; else those a
    #: reader holds (removed by the next run's clean-up once it lets them go)
    versions_holding: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def erase(
    store: Store | str,
    visitors: Iterable[str] = (),
    contacts: Iterable[str] = (),
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    progress: ProgressFn | None = None,
) -> Erased:
    """Erase every row of `visitors` (customer ids) and of the visitors resolved to
    `contacts` (saved contacts' ids, whose row of the contacts book goes too)."""
    if not isinstance(store, Store):
        store = Store.open(store)
    say = progress or no_progress
    wanted_v = list(dict.fromkeys(visitors))
    wanted_c = list(dict.fromkeys(contacts))
    store.require_current()
    with contextlib.ExitStack() as held:
        if dry_run:  # (changes nothing: no write lock, read as a reader reads; read-only works)
            snap = held.enter_context(store.current_snapshot())
            base = snap.manifest
        else:
            held.enter_context(store.lock(wait=lock_wait))
            store.refresh()
            base = store.read_manifest()
            snap = Snapshot.at(store.version_dir(f"v{base.version:06d}"), base)
        out = Erased(dry_run=dry_run, store=store.shown)
        say(ProgressUpdate("reading"))
        gone = _resolve(snap, wanted_v, wanted_c, out)
        by_detail = False  # (a hint names who carries an id as an email or phone)
        if out.visitors_not_found or out.contacts_not_found:
            missing = list(dict.fromkeys([*out.visitors_not_found, *out.contacts_not_found]))
            out.hints, by_detail = _lookalikes(snap, missing)
        if not out.visitors and not out.contacts:
            said = [*out.visitors_not_found, *out.contacts_not_found]
            if not said:  # (every one erased before: nothing to do, and nothing wrong)
                # but the earlier versions that hold their data, where the erase that
                # took them out was cut short before it removed them (or a reader held
                # them): they go now, as that erase's clean-up would have done
                current = store.current_name()
                if not dry_run:
                    out.versions_removed = store.collect_garbage()
                out.versions_holding = [v for v in store.versions() if v != current]
                return out
            again = [*out.visitors_erased_before, *out.contacts_erased_before]
            hint = "; ".join(
                out.hints
                or [
                    "visitor ids are compared as written (`jtrack sessions --customer ID` "
                    "finds one); a contact id is one of the contacts book's or of "
                    "`jtrack contacts`"
                ]
            )
            if again:
                hint += f"; erased before: {', '.join(again[:5])}"
            hint += "; nothing was changed" + (
                " (an email or phone number erases nothing by itself: name the visitors or "
                "contacts)"
                if by_detail
                else ""
            )
            raise DataError(
                f"{store.shown}: the store holds none of "
                + ", ".join(said[:5])
                + (f" and {len(said) - 5} more" if len(said) > 5 else "")
                + (" as a visitor or contact id" if out.hints else ""),
                hint=hint,
            )
        plan = _plan(snap, gone, out)
        _linked(snap, gone, out)
        others = store.versions()  # (the current one included: it holds the data too)
        if dry_run:
            out.versions_holding = others
            return out
        erasure = Erasure.of(base.erased) or Erasure.new()
        # (ids not found are kept too: their rows, in an export still to come, never enter)
        erasure.add([*gone, *out.visitors_not_found], [*out.contacts, *out.contacts_not_found])
        writer = store.begin_version(base)
        try:
            manifest = _write(store, snap, base, writer, gone, erasure, plan, out, say)
            writer.commit(manifest, 0, history=False)
        except BaseException:
            writer.abort()
            raise
        store.refresh()
        out.version = writer.name
        left = set(store.versions())
        out.versions_removed = [v for v in others if v not in left]
        out.versions_holding = [v for v in others if v in left]
        return out


# ---------------------------------------------------------------------------- what goes


def _resolve(snap: Snapshot, visitors: list[str], contacts: list[str], out: Erased) -> list[str]:
    """The customer ids to erase: `visitors` the store holds and those resolved to
    `contacts`; `out` says which were found, which not, and which were erased before."""
    found = find_subjects(snap, visitors, contacts)
    for name in (
        "visitors",
        "contacts",
        "visitors_not_found",
        "contacts_not_found",
        "visitors_erased_before",
        "contacts_erased_before",
    ):
        setattr(out, name, list(getattr(found, name)))
    return list(found.visitors)


def _linked(snap: Snapshot, gone: list[str], out: Erased) -> None:
    """`out.book_contacts` and `out.linked_contacts`: the saved contacts (of the store's
    book, not erased now) the erased visitors were resolved to, by any match method, or
    whose book row names their cookie; and each one's visitors that stay."""
    book = snap.contacts_book()
    if book is None or not gone:
        return
    ids = pl.Series(gone, dtype=pl.String).implode()
    saved = book.filter(
        ~pl.col("contact_id").is_in(pl.Series(out.contacts, dtype=pl.String).implode())
    )
    resolved = (
        snap.scan_sessions()
        .filter(pl.col("customer_id").is_in(ids) & pl.col("contact_id").is_not_null())
        .select("contact_id", "customer_id", by="match_method")
        .unique()
        .collect(engine="in-memory")
        .join(saved.select("contact_id"), on="contact_id", how="semi")
    )
    named = (
        saved.select("contact_id", customer_id="cookie_ids")
        .explode("customer_id")
        .filter(pl.col("customer_id").is_in(ids))
        .with_columns(by=pl.lit("cookie"))  # (as resolution names a cookie the book lists)
    )
    links = pl.concat([resolved, named.select(resolved.columns)], how="vertical_relaxed")
    if links.height == 0:
        return
    linked = links.get_column("contact_id").unique()
    others = pl.concat(
        [
            snap.scan_sessions()
            .filter(pl.col("contact_id").is_in(linked.implode()))
            .select("contact_id", "customer_id")
            .unique()
            .collect(engine="in-memory"),
            saved.filter(pl.col("contact_id").is_in(linked.implode()))
            .select("contact_id", customer_id="cookie_ids")
            .explode("customer_id"),
        ],
        how="vertical_relaxed",
    ).filter(pl.col("customer_id").is_not_null() & ~pl.col("customer_id").is_in(ids))
    table = (
        links.group_by("contact_id")
        .agg(
            matched_by=pl.col("by").drop_nulls().unique().sort(),
            visitors=pl.col("customer_id").unique().sort(),
        )
        .join(
            others.group_by("contact_id").agg(other_visitors=pl.col("customer_id").unique().sort()),
            on="contact_id",
            how="left",
        )
        .with_columns(pl.col("other_visitors").fill_null(pl.lit([], pl.List(pl.String()))))
        .sort("contact_id")
    )
    out.book_contacts = table.get_column("contact_id").to_list()
    out.linked_contacts = table.to_dicts()


def _lookalikes(snap: Snapshot, missing: list[str]) -> tuple[list[str], bool]:
    """For ids named that are no visitor or contact id: who carries each as an email or a
    phone number (an identity trait of their events, the contacts book's emails and phones),
    else the id it is in another case. Nothing is erased by them: the hint names the
    visitors (`--visitor COOKIE`) and contacts (`--contact ID`) to choose from. Also
    whether one was found as an email or phone."""
    from jtrack.core.contacts import identity_traits, normalize_email, normalize_phones

    book = snap.contacts_book()
    region = snap.manifest.contacts.default_region if snap.manifest.contacts else None
    asked = pl.DataFrame({"asked": missing}, schema={"asked": pl.String()})
    phones = normalize_phones(asked.get_column("asked"), region).select(
        asked="value", _phone="e164"
    )
    asked = asked.join(phones, on="asked", how="left", maintain_order="left").with_columns(
        _email=pl.when(pl.col("asked").str.contains("@", literal=True)).then(
            normalize_email(pl.col("asked"))
        )
    )
    wanted = pl.concat(
        [
            asked.select("asked", kind=pl.lit("email"), value="_email"),
            asked.select("asked", kind=pl.lit("phone"), value="_phone"),
        ]
    ).drop_nulls("value")
    hints: dict[str, list[str]] = {}
    if wanted.height:
        traits = identity_traits(
            snap.scan_index().select(
                "customer_id", "created_date", "event_id", "traits", "customer_id_type"
            )
        )
        carriers = (
            traits.select("customer_id", "kind", "value")
            .join(wanted, on=["kind", "value"], how="inner")
            .select("asked", "kind", "customer_id")
            .unique()
            .sort("asked", "customer_id")
        )
        saved = (  # (the saved contacts those visitors were resolved to)
            snap.scan_sessions()
            .filter(pl.col("customer_id").is_in(carriers.get_column("customer_id").implode()))
            .select("customer_id", "contact_id")
            .unique()
            .collect(engine="in-memory")
            .join(book.select("contact_id"), on="contact_id", how="semi")
            if book is not None and carriers.height
            else None
        )
        for (who, kind), rows in carriers.group_by("asked", "kind", maintain_order=True):
            cookies = rows.get_column("customer_id").to_list()
            more = f" (and {len(cookies) - 5} more)" if len(cookies) > 5 else ""
            line = (
                f"{who} is {'an email' if kind == 'email' else 'a phone number'} the store "
                f"holds as an identity trait of {'visitor' if len(cookies) == 1 else 'visitors'}"
                f" {', '.join(cookies[:5])}{more}: pass "
                + " ".join(f"--visitor {c}" for c in cookies[:5])
            )
            if saved is not None:
                theirs = sorted(
                    set(saved.filter(pl.col("customer_id").is_in(cookies))["contact_id"])
                )
                if theirs:
                    line += (
                        f" (resolved to the saved contact{'s' if len(theirs) > 1 else ''} "
                        f"{', '.join(theirs[:5])}: "
                        + " ".join(f"--contact {c}" for c in theirs[:5])
                        + " erases every visitor of the person)"
                    )
            hints.setdefault(str(who), []).append(line)
        if book is not None:
            listed = (
                pl.concat(
                    [
                        book.select("contact_id", kind=pl.lit("email"), value="emails"),
                        book.select("contact_id", kind=pl.lit("phone"), value="phones"),
                    ]
                )
                .explode("value")
                .with_columns(
                    value=pl.when(pl.col("kind") == "email")
                    .then(normalize_email(pl.col("value")))
                    .otherwise(pl.col("value"))
                )
                .join(wanted, on=["kind", "value"], how="inner")
                .select("asked", "kind", "contact_id")
                .unique()
                .sort("asked", "contact_id")
            )
            for (who, kind), rows in listed.group_by("asked", "kind", maintain_order=True):
                ids = rows.get_column("contact_id").to_list()
                hints.setdefault(str(who), []).append(
                    f"{who} is the {kind} of the saved contact"
                    f"{'s' if len(ids) > 1 else ''} {', '.join(ids[:5])} in the store's "
                    f"contacts book: pass {' '.join(f'--contact {c}' for c in ids[:5])}"
                )
    from jtrack.core.text import did_you_mean  # (as `jtrack journey` says it)

    # ids in another case: one pass over the visitor and contact ids for all of them (an
    # id at a time was a pass each: a batch of 1,000 requests took 8x as long)
    rest = [who for who in missing if who not in hints]
    alike: dict[str, list[str]] = {}
    if rest:
        want = pl.DataFrame(
            {"who": rest, "_l": [who.strip().lower() for who in rest]},
            schema={"who": pl.String(), "_l": pl.String()},
        )
        named = [
            snap.scan_sessions().select(v=pl.col("customer_id")),
            snap.scan_sessions().select(v=pl.col("contact_id")),
        ]
        if book is not None:
            named.append(book.lazy().select(v=pl.col("contact_id")))
        found = (
            pl.concat(named, how="vertical")
            .drop_nulls()
            .unique()
            .with_columns(_l=pl.col("v").str.to_lowercase())
            .join(want.lazy(), on="_l", how="inner")
            .sort("who", "v")
            .collect(engine="in-memory")
        )
        for (who,), rows in found.group_by("who", maintain_order=True):
            alike[str(who)] = rows.get_column("v").head(3).to_list()
    out: list[str] = []
    for who in missing:
        if who in hints:
            out += hints[who]
        elif who in alike:
            out.append(f"{who}: {did_you_mean(alike[who])}")
    return out, bool(hints)


@dataclass
class _Plan:
    kept: pl.DataFrame  # COPY_SCHEMA: the erased visitors' kept copies (index rows)
    held: pl.DataFrame  # COPY_SCHEMA: their copies held aside
    dups: pl.DataFrame  # their copies in the duplicates table
    rejects: pl.Series  # bool per row of the store's rejects: theirs
    rows: pl.DataFrame  # segment, row: their rows in the segments
    book: pl.DataFrame | None  # the contacts book without the erased contacts' rows


def _plan(snap: Snapshot, gone: list[str], out: Erased) -> _Plan:
    theirs = find_rows(snap, gone)
    kept, held, dups, rows = theirs.kept, theirs.held, theirs.dups, theirs.rows
    rejects = snap.rejects()
    named = theirs.rejects
    if rejects.height:  # (a far-future one is a held row's: counted held)
        named = named & (rejects.get_column("reason") != "far_future")
    book = snap.contacts_book()
    if book is not None and out.contacts:
        erased_book = book.filter(pl.col("contact_id").is_in(out.contacts))
        out.contacts_rows = erased_book.height
        book = book.filter(~pl.col("contact_id").is_in(out.contacts))
    else:
        book = None
    out.sessions = theirs.sessions.select(pl.len()).collect(engine="in-memory").item()
    out.events = kept.height
    out.duplicates = dups.height
    out.held = held.height
    out.rejected = int(named.sum()) if named.len() else 0
    out.rows = out.events + out.duplicates + out.held + out.rejected
    names = {s.id: s.file for s in snap.manifest.segments}
    touched = rows.get_column("segment").unique().sort().to_list()
    out.segments_rewritten = [names[s] for s in touched]
    out.parts_rewritten = len(_pointing(snap.manifest.parts_of("index"), set(touched)))
    return _Plan(kept, held, dups, named, rows, book)


def _pointing(parts: Sequence[PartInfo], segments: set[int]) -> list[PartInfo]:
    """The index parts whose rows may point into `segments`."""
    if not segments:
        return []
    return [
        p
        for p in parts
        if p.segments is None or any(lo <= s <= hi for lo, hi in p.segments for s in segments)
    ]


# ---------------------------------------------------------------------------- writing


def _write(
    store: Store,
    snap: Snapshot,
    base: Manifest,
    writer: VersionWriter,
    gone: list[str],
    erasure: Erasure,
    plan: _Plan,
    out: Erased,
    say: ProgressFn,
) -> Manifest:
    started = _now()
    ids = pl.Series(gone, dtype=pl.String).implode()
    mine = pl.col("customer_id").is_in(ids)
    run_no = base.next_run
    opts = RunOptions()
    buckets = base.bucket_policy.buckets
    everyone = plan.book is not None  # (a book without a row: every visitor resolved again)
    hist_rows = int(base.counts.get("events_kept", 0)) if everyone else plan.kept.height
    usable = max(opts.memory_limit - BASE_MEMORY, opts.memory_limit // 2)
    ranges = unit_ranges(buckets, max(1, -(-hist_rows * BYTES_PER_ROW // usable)))
    engine = LocalEngine()
    new = engine.read(
        [],
        writer,
        first_segment=base.next_segment,
        run=run_no,
        buckets=buckets,
        ranges=ranges,
        options=opts,
        chunk_rows=1,
        progress=say,
        src_offset=len(base.inputs),
    )
    say(ProgressUpdate("deduplicating"))
    stored_dups = _duplicates(snap)
    if stored_dups is not None:
        stored_dups = stored_dups.filter(~mine)
    sides = _side_copies(snap, stored_dups)
    history = _history_copies(snap, sides).filter(~mine)
    rejudge = pl.concat(
        [
            plan.kept.get_column("event_id"),
            plan.held.get_column("event_id"),
            plan.dups.get_column("event_id"),
        ]
    ).unique()
    decisions = decide(
        pl.DataFrame(schema=ID_SCHEMA),
        history,
        lambda pos: pl.DataFrame(
            schema={"_pos": pl.UInt64(), "event_id": pl.String(), "customer_id": pl.String()}
        ),
        None,
        rejudge,
    )
    going = pl.concat([plan.kept, plan.held], how="vertical_relaxed").with_columns(
        new_status=pl.lit("erased")
    )
    changed = pl.concat(
        [decisions.changed, going.select(decisions.changed.columns)], how="vertical_relaxed"
    )
    decisions = replace(decisions, changed=changed)
    book_source = base.contacts
    ctx = _Context(
        options=opts,
        session=_session_options(base),
        base=base,
        snap=snap,
        writer=writer,
        run=run_no,
        everyone=everyone,
        decisions=decisions,
        duplicates=stored_dups,
        merge_duplicates=True,  # (written whole: _take_out_rows moves its positions)
        book=plan.book if plan.book is not None else snap.contacts_book(),
        default_region=book_source.default_region if book_source else None,
        far_new=decisions.far_new,
        invalid_entries=_invalid_before(base),
        reason=None,
        erasure=erasure,
    )
    jobs = [_job(ctx, u, lo, hi) for u, (lo, hi) in enumerate(ranges)]
    results = engine.run_units(jobs, new, say)
    layout.kill_point("after_index")
    say(ProgressUpdate("writing"))
    planned = Planned(read=[], skipped=[])
    manifest, run_info, _, _ = _finish(
        ctx, store, new, results, book_source, base, base, "erase", started, planned
    )
    _erased_inputs(manifest, snap, plan)
    _take_out_rows(snap, writer, manifest, plan.rows, run_no)
    layout.kill_point("after_segments")
    manifest.erased = erasure.record()
    manifest.counts["erased"] = sum(i.rows_erased for i in manifest.inputs)
    rejected = sum(i.rows_rejected for i in manifest.inputs) + (
        int(writer.read_frame(manifest.held).height) if manifest.held else 0
    )
    manifest.counts["rejected"] = rejected
    before = int(base.counts.get("events_kept", 0))
    n_v = len(out.visitors)
    manifest.runs[-1] = replace(
        run_info,
        events_added=int(manifest.counts["events_kept"]) - before,
        parts_rewritten=run_info.parts_rewritten + out.parts_rewritten,
        erased=0,
        reason=f"erased {n_v:,} visitor{'s' if n_v != 1 else ''} ({out.rows:,} rows)",
    )
    manifest.keep = base.keep  # (the --keep the store was given stays its own)
    return manifest


def _erased_inputs(manifest: Manifest, snap: Snapshot, plan: _Plan) -> None:
    """Each input's rows taken out, counted `erased` (its rejected ones no longer
    rejected)."""
    copies = pl.concat(
        [plan.kept.select("_pos"), plan.held.select("_pos"), plan.dups.select("_pos")]
    ).select(split_pos())
    per_segment = dict(copies.group_by("segment").len().iter_rows())
    rejects = snap.rejects()
    per_file: dict[str, int] = {}
    if plan.rejects.len() and plan.rejects.any():
        per_file = dict(rejects.filter(plan.rejects).group_by("file").len().iter_rows())
    last = {i.name: n for n, i in enumerate(manifest.inputs)}
    out = []
    for n, i in enumerate(manifest.inputs):
        erased = sum(int(per_segment.get(s, 0)) for s in i.segments)
        rejected = int(per_file.get(i.name, 0)) if last.get(i.name) == n else 0
        if erased or rejected:
            i = replace(
                i,
                rows_rejected=i.rows_rejected - rejected,
                rows_erased=i.rows_erased + erased + rejected,
            )
        out.append(i)
    manifest.inputs = out


def _take_out_rows(
    snap: Snapshot, writer: VersionWriter, manifest: Manifest, rows: pl.DataFrame, run: int
) -> None:
    """Write the segments holding `rows` (segment, row) again without them, and move what
    points into those segments: index parts, held and duplicate copies, line maps."""
    if rows.height == 0:
        return
    drops = rows.sort("segment", "row").with_columns(
        _k=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("segment")
    )
    touched = set(drops.get_column("segment").unique().to_list())
    segments: list[SegmentInfo] = []
    for s in manifest.segments:
        if s.id not in touched:
            segments.append(s)
            continue
        drop = drops.filter(pl.col("segment") == s.id).get_column("row")
        n = writer.write_segment_without(snap.segment_file(s.id), s.file, drop)
        lines = None
        if s.lines is not None:  # each row kept keeps its input line
            kept = pl.int_range(s.rows, eager=True, dtype=pl.UInt64)
            kept = kept.filter(~kept.is_in(drop.cast(pl.UInt64).implode()))
            breaks = LineBreaks()
            breaks.add(0, snap.input_lines(kept + (s.id << 32)))
            lines = breaks.value()
        segments.append(replace(s, rows=n, lines=lines))  # (kept as is: its own columns)
    manifest.segments = segments
    keep: list[PartInfo] = []
    moved: list[tuple[pl.DataFrame, int | None]] = []
    for p in manifest.parts:
        if p.table == "index" and p in _pointing([p], touched):
            frame = writer.read_part("index", p)
            moved.append((_moved(frame, drops), p.run))
            writer.forget_part(p)
        else:
            keep.append(p)
    manifest.parts = keep + writer.write_parts("index", moved, run)
    for rel in (manifest.held, manifest.duplicates):
        if rel:
            frame = writer.read_frame(rel)
            shifted = _moved(frame.select(split_pos()), drops)
            frame = frame.with_columns(
                _pos=shifted.get_column("segment").cast(pl.UInt64) * (1 << 32)
                + shifted.get_column("row").cast(pl.UInt64)
            )
            writer.write_frame(rel, frame)


def _moved(frame: pl.DataFrame, drops: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its `row` less the rows taken out before it in its `segment`."""
    if frame.height == 0:
        return frame
    at = frame.with_row_index("_i").sort("row")
    found = at.join_asof(
        drops.select("segment", pl.col("row").alias("_r"), "_k").sort("_r"),
        left_on="row",
        right_on="_r",
        by="segment",
        strategy="backward",
        check_sortedness=False,
    )
    return (
        found.sort("_i")
        .with_columns((pl.col("row") - pl.col("_k").fill_null(0)).cast(pl.UInt32).alias("row"))
        .drop("_i", "_r", "_k")
    )


__all__ = ["Erased", "erase"]
