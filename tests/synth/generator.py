"""The flat event generator: options, the plan of visitor blocks, and one block of visitors
drawn with numpy and assembled with Polars (no Python loop over rows). See the package
docstring for what the data looks like."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from jtrack.schema import (
    EVENT_SCHEMA,
    KIND_CUSTOM,
    KIND_OUTCOME,
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_SEGMENT,
    KIND_WEB_ACTION,
    KV_LIST,
)

from .tables import (
    ACTION_MAPS,
    ACTION_STATES,
    CARRIERS,
    DEVICES,
    FAMILY,
    FORMS,
    GEOS,
    GIVEN,
    MAIL_DOMAINS,
    OUTCOMES,
    PRODUCTS,
    SEARCH_TERMS,
    SEGMENTS,
    SOURCES,
    VIDEOS,
    dims,
    norm,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_START = datetime(2026, 10, 1, tzinfo=UTC)
#: The Genesys inactivity gap: a gap of exactly this many milliseconds starts a new session.
GAP_MS = 20 * 60 * 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_P_NEW_SESSION = 0.15  # chance that an activity event (not the visitor's first) starts a session
_BOUNDARY_RATE = 0.0005  # share of rows given an exact 20:00.000 / 19:59.999 gap (>= 1 per block)
_MIN_BLOCK_VISITORS = 64
_MAX_BLOCK_VISITORS = 16_384
_BLOCKS_TARGET = 16
_MEAN_EXCESS_MS = 52_500_000.0  # mean of the inter-session gap above 20 minutes (~14.6 h)

# Event kind codes used internally.
_K_PV, _K_SEARCH, _K_CUSTOM, _K_SEG, _K_OUT, _K_ACT = 0, 1, 2, 3, 4, 5
_KIND_BY_CODE = (
    KIND_PAGE_VIEW,
    KIND_SEARCH,
    KIND_CUSTOM,
    KIND_SEGMENT,
    KIND_OUTCOME,
    KIND_WEB_ACTION,
)
_TYPE_BY_CODE = (
    "WebEvent",
    "WebEvent",
    "WebEvent",
    "SegmentAssignmentEvent",
    "OutcomeAchievedEvent",
    "WebActionEvent",
)

_CUSTOM_NAMES = (
    "product_added",
    "product_removed",
    "form_submitted",
    "form_abandoned",
    "video_played",
    "product_purchased",
    "order_dispatched",
)
_N_ADDED, _N_REMOVED, _N_FORM_OK, _N_FORM_ABANDONED, _N_VIDEO, _N_PURCHASED, _N_DISPATCHED = range(
    7
)
_WEB_CUSTOM_P = (0.32, 0.12, 0.16, 0.14, 0.26)

#: attribute fields per custom event: (name codes, ((name, dataType, helper column), ...))
_ATTRIBUTE_FIELDS: tuple[tuple[tuple[int, ...], tuple[tuple[str, str, str], ...]], ...] = (
    (
        (_N_ADDED,),
        (
            ("productId", "string", "_product_id"),
            ("quantity", "number", "_qty"),
            ("price", "number", "_price"),
        ),
    ),
    ((_N_REMOVED,), (("productId", "string", "_product_id"), ("quantity", "number", "_qty"))),
    ((_N_FORM_OK, _N_FORM_ABANDONED), (("formName", "string", "_form"),)),
    ((_N_VIDEO,), (("videoId", "string", "_video"), ("durationSeconds", "number", "_video_len"))),
    (
        (_N_PURCHASED,),
        (
            ("orderId", "string", "_order"),
            ("productId", "string", "_product_id"),
            ("quantity", "number", "_qty"),
            ("price", "number", "_price"),
        ),
    ),
    (
        (_N_DISPATCHED,),
        (
            ("orderId", "string", "_order"),
            ("carrier", "string", "_carrier"),
            ("parcel", "number", "_parcel"),
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Options and plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthOptions:
    """All knobs of the generator. The public functions take these as keyword arguments."""

    n_events: int
    seed: int = 7
    start: datetime = DEFAULT_START
    days: int = 14
    visitors: int | None = None  # default: about one visitor per 13 events
    duplicate_rate: float = 0.01  # share of rows that are redeliveries of another row
    shuffle: bool = True  # shuffle rows within each block (else visitor, time order)
    custom_session_rate: float = 0.02  # visitors that also have a "delivery" session
    identified_rate: float = 0.2  # visitors who send identity traits on a form_submitted event
    system_rate: float = 0.04  # share of web-session rows that are system events

    def validate(self) -> None:
        if self.n_events < 0:
            raise ValueError("n_events must be >= 0")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.days <= 0:
            raise ValueError("days must be > 0")
        if self.visitors is not None and self.visitors < 1:
            raise ValueError("visitors must be >= 1")
        for name in ("duplicate_rate", "custom_session_rate", "identified_rate", "system_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")


@dataclass(frozen=True)
class _Plan:
    counts: IntArray  # rows per visitor (redeliveries included); sums to n_events
    blocks: tuple[tuple[int, int], ...]  # [v0, v1) visitor ranges
    start_ms: int
    window_ms: int


def _plan(o: SynthOptions) -> _Plan:
    o.validate()
    start = o.start if o.start.tzinfo is not None else o.start.replace(tzinfo=UTC)
    start_ms = (start - _EPOCH) // timedelta(milliseconds=1)
    window_ms = o.days * 86_400_000
    if o.n_events == 0:
        return _Plan(np.zeros(0, np.int64), (), start_ms, window_ms)
    n_vis = o.visitors if o.visitors is not None else max(1, round(o.n_events / 13))
    n_vis = min(n_vis, o.n_events)
    rng = np.random.default_rng([o.seed, 0])
    weights = rng.lognormal(0.0, 0.9, n_vis)
    counts = 1 + rng.multinomial(o.n_events - n_vis, weights / weights.sum()).astype(np.int64)
    per_block = min(
        _MAX_BLOCK_VISITORS, max(_MIN_BLOCK_VISITORS, math.ceil(n_vis / _BLOCKS_TARGET))
    )
    blocks = tuple((v0, min(v0 + per_block, n_vis)) for v0 in range(0, n_vis, per_block))
    return _Plan(counts, blocks, start_ms, window_ms)


# --------------------------------------------------------------------------------------------
# Vectorised helpers
# --------------------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """n random (version 4 shaped) uuid strings."""
    b = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hexd = np.empty((n, 32), dtype=np.uint8)
    hexd[:, 0::2] = _HEX[b >> 4]
    hexd[:, 1::2] = _HEX[b & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexd[:, 0:8]
    out[:, 9:13] = hexd[:, 8:12]
    out[:, 14:18] = hexd[:, 12:16]
    out[:, 19:23] = hexd[:, 16:20]
    out[:, 24:36] = hexd[:, 20:32]
    return pl.Series(out.reshape(-1).view("S36")).cast(pl.String)


def _seg_cumsum(x: IntArray, group_start: IntArray) -> IntArray:
    """Inclusive cumulative sum of x restarting at each group (rows grouped contiguously);
    group_start[i] is the index of the first row of row i's group."""
    if x.size == 0:
        return x.copy()
    c = np.cumsum(x)
    return c - c[group_start] + x[group_start]


def _ffill_index(has: BoolArray) -> IntArray:
    """For each row, the index of the last row at or before it where `has` is true (0 if none)."""
    idx = np.where(has, np.arange(has.size, dtype=np.int64), 0)
    return np.maximum.accumulate(idx) if idx.size else idx


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> IntArray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.int64)


def _nullable(idx: IntArray) -> pl.Series:
    s = pl.Series("i", idx, dtype=pl.Int64)
    return pl.select(pl.when(s >= 0).then(s)).to_series()


def _take(table: pl.DataFrame, idx: IntArray) -> pl.DataFrame:
    """Rows of a small table by index; -1 gives a row of nulls."""
    return table.select(pl.all().gather(_nullable(idx)))


def _pick(
    values: Sequence[Any], idx: IntArray, name: str, dtype: pl.DataType | None = None
) -> pl.Series:
    table = pl.DataFrame({name: pl.Series(name, list(values), dtype=dtype)})
    return _take(table, idx).to_series()


def _kv_lists(
    frame: pl.DataFrame, specs: Sequence[tuple[BoolArray, str, str, pl.Expr]], valid: BoolArray
) -> pl.Series:
    """A KV_LIST column: row i holds, in spec order, {name, data_type, value} for every spec
    whose mask is true at i (value from the spec's expression); rows where `valid` is false
    are null, other rows without entries are empty lists."""
    import pyarrow as pa

    n = frame.height
    rows_parts: list[IntArray] = []
    pos_parts: list[IntArray] = []
    parts: list[pl.DataFrame] = []
    for i, (mask, name, data_type, value) in enumerate(specs):
        rows = np.flatnonzero(mask & valid)
        if rows.size == 0:
            continue
        rows_parts.append(rows)
        pos_parts.append(np.full(rows.size, i, dtype=np.int64))
        parts.append(
            frame.select(value.cast(pl.String).alias("value"))[rows].select(
                pl.lit(name, pl.String).alias("name"),
                pl.lit(data_type, pl.String).alias("data_type"),
                "value",
            )
        )
    if parts:
        rows_all = np.concatenate(rows_parts)
        order = np.lexsort((np.concatenate(pos_parts), rows_all))
        entries = pl.concat(parts)[order]
        counts = np.bincount(rows_all, minlength=n)
    else:
        entries = pl.DataFrame(schema=KV_LIST.inner.to_schema())  # type: ignore[union-attr]
        counts = np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = entries.to_struct("kv").to_arrow()
    lists = pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~valid))
    return pl.Series("kv", lists).cast(KV_LIST)


# --------------------------------------------------------------------------------------------
# One block of visitors
# --------------------------------------------------------------------------------------------


def _gen_block(o: SynthOptions, plan: _Plan, block_no: int) -> pl.DataFrame:
    d = dims()
    v0, v1 = plan.blocks[block_no]
    k = plan.counts[v0:v1]
    nv = int(k.size)
    rng = np.random.default_rng([o.seed, 1, block_no])
    gidx = np.arange(v0, v1, dtype=np.int64)

    # ---- visitors -----------------------------------------------------------------------
    deliv = (rng.random(nv) < o.custom_session_rate) & (k >= 5)
    n_del = np.where(deliv, rng.integers(2, 4, nv), 0).astype(np.int64)
    n_dup = rng.binomial(np.maximum(k - n_del - 1, 0), o.duplicate_rate).astype(np.int64)
    n_web = k - n_del - n_dup  # >= 1
    identified = rng.random(nv) < o.identified_rate
    has_phone = rng.random(nv) < 0.7
    dev = rng.choice(len(DEVICES), nv, p=d.device_p)
    geo = rng.choice(len(GEOS), nv, p=d.geo_p)
    ip_last = rng.integers(1, 255, nv)
    given = rng.integers(0, len(GIVEN), nv)
    family = rng.integers(0, len(FAMILY), nv)
    mail = rng.integers(0, len(MAIL_DOMAINS), nv)
    cookies = _uuids(rng, nv)

    vis_geo = _take(d.geos, geo).with_columns(
        _ip_last=pl.Series(ip_last),
        _gidx=pl.Series(gidx),
        _has_phone=pl.Series(has_phone),
        _given=_pick([g[0] for g in GIVEN], given, "g"),
        _family=_pick([f[0] for f in FAMILY], family, "f"),
        _given_slug=_pick([g[1] for g in GIVEN], given, "g"),
        _family_slug=_pick([f[1] for f in FAMILY], family, "f"),
        _mail_domain=_pick(MAIL_DOMAINS, mail, "m"),
    )
    vis_ctx = pl.concat([_take(d.devices, dev), vis_geo], how="horizontal").select(
        *[c for c in (*d.devices.columns, *d.geos.columns) if not c.startswith("_")],
        ip_address=pl.concat_str([pl.col("_ip_prefix"), pl.col("_ip_last").cast(pl.String)]),
    )
    phone_num = pl.col("_phone_base") + (pl.col("_gidx") * 7919) % pl.col("_phone_span")
    vis_id = vis_geo.select(
        "_given",
        "_family",
        _email=pl.concat_str(
            [
                pl.col("_given_slug"),
                pl.lit("."),
                pl.col("_family_slug"),
                pl.col("_gidx").cast(pl.String),
                pl.lit("@"),
                pl.col("_mail_domain"),
            ]
        ),
        _phone=pl.when(pl.col("_has_phone")).then(
            pl.concat_str(
                [
                    pl.col("_phone_prefix"),
                    phone_num.cast(pl.String).str.zfill(pl.col("_phone_digits")),
                ]
            )
        ),
    )

    # ---- web-session slots (activity and system events) ---------------------------------
    W = int(n_web.sum())
    vis = np.repeat(np.arange(nv, dtype=np.int64), n_web)
    wstart = np.cumsum(n_web) - n_web
    gstart = wstart[vis]
    pos = np.arange(W, dtype=np.int64) - gstart
    first = pos == 0
    system = ~first & (rng.random(W) < o.system_rate)
    act = ~system
    new_sess = first | (act & (rng.random(W) < _P_NEW_SESSION))
    mid = act & ~new_sess  # activity inside a session (sessions always open with a page view)

    kind = np.full(W, _K_PV, dtype=np.int64)
    u = rng.random(W)
    kind[mid & (u >= 0.62) & (u < 0.74)] = _K_SEARCH
    kind[mid & (u >= 0.74)] = _K_CUSTOM
    name = np.full(W, -1, dtype=np.int64)
    cust = kind == _K_CUSTOM
    name[cust] = rng.choice(5, int(cust.sum()), p=norm(_WEB_CUSTOM_P))
    # identified visitors send traits on a form_submitted event inside a session
    mid_i = mid.astype(np.int64)
    mid_rank = _seg_cumsum(mid_i, gstart)
    mid_cnt = np.bincount(vis, weights=mid_i, minlength=nv).astype(np.int64)
    ident = identified & (mid_cnt > 0)
    pick = (rng.random(nv) * mid_cnt).astype(np.int64) + 1
    forced = mid & ident[vis] & (mid_rank == pick[vis])
    kind[forced] = _K_CUSTOM
    name[forced] = _N_FORM_OK
    has_traits = (name == _N_FORM_OK) & ident[vis]
    kind[system] = rng.choice([_K_SEG, _K_OUT, _K_ACT], int(system.sum()), p=[0.45, 0.2, 0.35])

    # pages: page views and searches pick one; custom events stay on the last page
    page = np.full(W, -1, dtype=np.int64)
    pv = kind == _K_PV
    page[pv] = rng.choice(d.n_pages, int(pv.sum()), p=d.page_p)
    sr = kind == _K_SEARCH
    page[sr] = d.n_pages + rng.integers(0, len(SEARCH_TERMS), int(sr.sum()))
    page = np.where(cust, page[_ffill_index(page >= 0)], page)
    product = np.where(cust & (page >= 0), d.page_product[np.maximum(page, 0)], -1)
    product = np.where(cust & (product < 0), rng.integers(0, len(PRODUCTS), W), product)
    product = np.where(np.isin(name, (_N_ADDED, _N_REMOVED)), product, -1)
    qty = rng.choice([1, 2, 3], W, p=[0.8, 0.15, 0.05])
    form = np.where(
        np.isin(name, (_N_FORM_OK, _N_FORM_ABANDONED)), rng.integers(0, len(FORMS), W), -1
    )
    video = np.where(name == _N_VIDEO, rng.integers(0, len(VIDEOS), W), -1)

    # sessions and their traffic source (first event of the session only)
    sess = np.cumsum(new_sess) - 1
    n_sess = int(new_sess.sum())
    src_s = rng.choice(len(SOURCES), n_sess, p=d.source_p)
    src = np.where(new_sess, src_s[np.maximum(sess, 0)], -1)

    # ---- times (ms offsets from the visitor's start) ------------------------------------
    gap = np.zeros(W, dtype=np.int64)
    intra = _log_uniform(rng, 5_000, 600_000, W)
    gap[mid] = intra[mid]
    later = new_sess & ~first
    sess_per_vis = np.bincount(vis[new_sess], minlength=nv)
    factor = np.minimum(
        1.0, 0.8 * plan.window_ms / (np.maximum(sess_per_vis - 1, 1) * _MEAN_EXCESS_MS)
    )
    mix = rng.random(W)
    excess = np.where(
        mix < 0.55,
        _log_uniform(rng, 1_000, 10_800_000, W),
        np.where(
            mix < 0.9,
            _log_uniform(rng, 10_800_000, 172_800_000, W),
            _log_uniform(rng, 172_800_000, 518_400_000, W),
        ),
    )
    excess = np.where(later, excess * factor[vis], 0.0)
    # fit each visitor into the window (leaving room for a delivery session) by shrinking the
    # part of the inter-session gaps above 20 minutes
    fixed_v = np.bincount(vis, weights=gap + np.where(later, GAP_MS, 0), minlength=nv)
    excess_v = np.bincount(vis, weights=excess, minlength=nv)
    room_v = 0.95 * plan.window_ms - np.where(deliv, 3 * 86_400_000, 0) - fixed_v
    shrink = np.clip(room_v / np.maximum(excess_v, 1.0), 0.0, 1.0)
    gap[later] = GAP_MS + np.maximum(1, (excess * shrink[vis]).astype(np.int64))[later]
    n_boundary = max(1, round(W * _BOUNDARY_RATE))
    for eligible, value in ((np.flatnonzero(later), GAP_MS), (np.flatnonzero(mid), GAP_MS - 1)):
        if eligible.size:
            chosen = rng.choice(eligible, min(n_boundary, eligible.size), replace=False)
            gap[chosen] = value
    off = _seg_cumsum(gap, gstart)  # system rows have gap 0: the time of the activity before
    off = off + np.where(system, rng.integers(100, 3_000, W), 0)
    last_off = np.maximum.reduceat(off, wstart)

    # ---- delivery (custom) sessions ------------------------------------------------------
    D = int(n_del.sum())
    dvis = np.repeat(np.arange(nv, dtype=np.int64), n_del)
    dstart = (np.cumsum(n_del) - n_del)[dvis]
    dpos = np.arange(D, dtype=np.int64) - dstart
    dgap = np.where(
        dpos == 0,
        (rng.random(D) * last_off[dvis]).astype(np.int64) + _log_uniform(rng, 6e5, 1.44e7, D),
        _log_uniform(rng, 7.2e6, 1.08e8, D),
    )
    doff = _seg_cumsum(dgap, dstart)
    dname = np.where(dpos == 0, _N_PURCHASED, _N_DISPATCHED)
    dproduct = np.where(dpos == 0, rng.integers(0, len(PRODUCTS), D), -1)
    dqty = rng.choice([1, 2], D, p=[0.85, 0.15])
    dcarrier = np.where(dpos > 0, rng.integers(0, len(CARRIERS), D), -1)

    span = last_off.copy()
    if D:
        np.maximum.at(span, dvis, doff)
    vstart = (rng.random(nv) * np.maximum(plan.window_ms - span, 0)).astype(np.int64)

    # ---- all base rows: web slots then delivery rows -------------------------------------
    B = W + D
    nothing = np.full(D, -1, dtype=np.int64)
    r_vis = np.concatenate([vis, dvis])
    r_act = np.concatenate([act, np.zeros(D, dtype=np.bool_)])
    r_kind = np.concatenate([kind, np.full(D, _K_CUSTOM, dtype=np.int64)])
    r_name = np.concatenate([name, dname])
    r_t = plan.start_ms + vstart[r_vis] + np.concatenate([off, doff])
    web_i = act.astype(np.int64)
    tot_ev = np.concatenate([np.where(act, _seg_cumsum(web_i, gstart), -1), nothing])
    pv_i = (act & ((kind == _K_PV) | (kind == _K_SEARCH))).astype(np.int64)
    tot_pv = np.concatenate([np.where(act, _seg_cumsum(pv_i, gstart), -1), nothing])
    auth_n = _seg_cumsum(has_traits.astype(np.int64), gstart)
    r_auth = np.concatenate([np.where(act, (auth_n > 0).astype(np.int64), -1), nothing])

    sess_ids = _uuids(rng, n_sess + int(deliv.sum()))
    deliv_rank = np.cumsum(deliv) - 1
    r_sess = np.concatenate([sess, n_sess + deliv_rank[dvis]])
    event_ids = _uuids(rng, B)
    corr = _uuids(rng, B)
    prev_act = _ffill_index(r_act | (np.arange(B) >= W))
    corr_idx = np.where(
        np.concatenate([system, np.zeros(D, np.bool_)]) & (rng.random(B) < 0.5),
        prev_act,
        np.arange(B),
    )
    r_seg = np.where(r_kind == _K_SEG, rng.integers(0, len(SEGMENTS), B), -1)
    r_out = np.where(r_kind == _K_OUT, rng.integers(0, len(OUTCOMES), B), -1)
    is_wa = r_kind == _K_ACT
    r_amap = np.where(is_wa, rng.integers(0, len(ACTION_MAPS), B), -1)
    r_state = np.where(is_wa, rng.choice(len(ACTION_STATES), B, p=d.state_p), -1)
    action_ids = _uuids(rng, int(is_wa.sum()))
    r_action = np.full(B, -1, dtype=np.int64)
    r_action[is_wa] = np.arange(int(is_wa.sum()))
    r_traits = np.concatenate([np.where(has_traits, vis, -1), nothing])
    r_ctx = np.concatenate([np.where(act, vis, -1), nothing])
    r_page = np.concatenate([np.where(act, page, -1), nothing])
    r_src = np.concatenate([src, nothing])
    r_product = np.concatenate([product, dproduct])
    r_qty = np.concatenate([qty, dqty])

    base = pl.concat(
        [
            pl.DataFrame(
                {
                    "event_id": event_ids,
                    "correlation_id": corr.gather(corr_idx),
                    "customer_id": cookies.gather(r_vis),
                    "customer_id_type": pl.Series(["cookie"]).gather(np.zeros(B, dtype=np.int64)),
                    "source_session_id": sess_ids.gather(r_sess),
                    "source_session_type": _pick(
                        ("web", "delivery"), (np.arange(B) >= W).astype(np.int64), "t"
                    ),
                    "event_type": _pick(_TYPE_BY_CODE, r_kind, "t"),
                    "created_date": pl.Series(r_t)
                    .cast(pl.Datetime("ms", "UTC"))
                    .cast(pl.Datetime("us", "UTC")),
                    "kind": _pick(_KIND_BY_CODE, r_kind, "k"),
                    "event_name": _pick(
                        ("page_viewed", *_CUSTOM_NAMES),
                        np.where(r_kind <= _K_SEARCH, 0, np.where(r_name >= 0, r_name + 1, -1)),
                        "n",
                    ),
                    "authenticated": _pick((False, True), r_auth, "a", pl.Boolean()),
                    "total_event_count": _nullable(tot_ev),
                    "total_pageview_count": _nullable(tot_pv),
                    "segment_id": _pick(SEGMENTS, r_seg, "s"),
                    "outcome_id": _pick([x[0] for x in OUTCOMES], r_out, "o"),
                    "outcome_display_name": _pick([x[1] for x in OUTCOMES], r_out, "o"),
                    "action_id": _take(action_ids.to_frame("a"), r_action).to_series(),
                    "action_state": _pick([x[0] for x in ACTION_STATES], r_state, "s"),
                    "action_media_type": _pick([x[2] for x in ACTION_MAPS], r_amap, "m"),
                    "action_map_id": _pick([x[0] for x in ACTION_MAPS], r_amap, "m"),
                    "action_map_display_name": _pick([x[1] for x in ACTION_MAPS], r_amap, "m"),
                    "_name": _nullable(r_name),
                    "_qty": pl.Series(r_qty),
                    "_form": _pick(FORMS, np.concatenate([form, nothing]), "f"),
                    "_video": _pick([v[0] for v in VIDEOS], np.concatenate([video, nothing]), "v"),
                    "_video_len": _pick(
                        [v[1] for v in VIDEOS], np.concatenate([video, nothing]), "v"
                    ),
                    "_carrier": _pick(CARRIERS, np.concatenate([np.full(W, -1), dcarrier]), "c"),
                    "_parcel": pl.Series(np.concatenate([np.zeros(W, np.int64), dpos])),
                    "_order": pl.Series(1_000_000 + v0 + r_vis),
                }
            ),
            _take(vis_ctx, r_ctx),
            _take(d.pages.drop("_product"), r_page),
            _take(d.sources, r_src),
            _take(d.products, r_product),
            _take(vis_id, r_traits),
        ],
        how="horizontal",
    )

    # attributes and traits: list columns assembled from long (row, name, type, value) entries
    is_web = np.concatenate([act, np.ones(D, dtype=np.bool_)])
    order_id = pl.concat_str([pl.lit("ORD-"), pl.col("_order").cast(pl.String)])
    attr_specs: list[tuple[BoolArray, str, str, pl.Expr]] = []
    for codes, fields in _ATTRIBUTE_FIELDS:
        mask = np.isin(r_name, codes)
        for field, data_type, column in fields:
            attr_value = order_id if column == "_order" else pl.col(column)
            attr_specs.append((mask, field, data_type, attr_value))
    r_has_traits = r_traits >= 0
    r_has_phone = np.zeros(B, dtype=np.bool_)
    r_has_phone[r_has_traits] = has_phone[r_traits[r_has_traits]]
    trait_specs: list[tuple[BoolArray, str, str, pl.Expr]] = [
        (r_has_traits, "email", "string", pl.col("_email")),
        (r_has_traits, "givenName", "string", pl.col("_given")),
        (r_has_traits, "familyName", "string", pl.col("_family")),
        (r_has_phone, "cellPhone", "string", pl.col("_phone")),
    ]
    click = pl.when(pl.col("_click_prefix").is_not_null()).then(
        pl.concat_str(
            [
                pl.col("_click_prefix"),
                pl.col("source_session_id").str.replace_all("-", "", literal=True).str.slice(0, 20),
            ]
        )
    )
    frame = base.with_columns(
        attributes=_kv_lists(base, attr_specs, is_web),
        traits=_kv_lists(base, trait_specs, is_web),
        mkt_campaign_click_id=click,
        # custom events keep the page they happened on but are not searches
        search_query=pl.when(pl.col("kind") == KIND_SEARCH).then(pl.col("search_query")),
    ).select([pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items()])

    # ---- redeliveries and row order -------------------------------------------------------
    dup_vis = np.repeat(np.arange(nv, dtype=np.int64), n_dup)
    j = (rng.random(dup_vis.size) * (n_web + n_del)[dup_vis]).astype(np.int64)
    del_first = W + np.cumsum(n_del) - n_del
    dup_src = np.where(
        j < n_web[dup_vis], wstart[dup_vis] + j, del_first[dup_vis] + j - n_web[dup_vis]
    )
    rows = np.concatenate([np.arange(B, dtype=np.int64), dup_src])
    if o.shuffle:
        rows = rows[rng.permutation(rows.size)]
    else:
        rows = rows[np.lexsort((r_t[rows], r_vis[rows]))]
    return frame[rows]


# --------------------------------------------------------------------------------------------
# Public generator API
# --------------------------------------------------------------------------------------------


def _options(n_events: int, **kwargs: Any) -> SynthOptions:
    return replace(SynthOptions(n_events=n_events), **kwargs)


def iter_flat_chunks(
    n_events: int,
    *,
    seed: int = 7,
    chunk_size: int = 5_000_000,
    start: datetime = DEFAULT_START,
    days: int = 14,
    visitors: int | None = None,
    duplicate_rate: float = 0.01,
    shuffle: bool = True,
    custom_session_rate: float = 0.02,
    identified_rate: float = 0.2,
    system_rate: float = 0.04,
) -> Iterator[pl.DataFrame]:
    """Yield the rows of `generate_flat(...)` (same arguments) as frames of about `chunk_size`
    rows (whole blocks of visitors; a visitor never straddles two chunks)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    o = _options(
        n_events,
        seed=seed,
        start=start,
        days=days,
        visitors=visitors,
        duplicate_rate=duplicate_rate,
        shuffle=shuffle,
        custom_session_rate=custom_session_rate,
        identified_rate=identified_rate,
        system_rate=system_rate,
    )
    plan = _plan(o)
    pending: list[pl.DataFrame] = []
    rows = 0
    for block_no in range(len(plan.blocks)):
        frame = _gen_block(o, plan, block_no)
        pending.append(frame)
        rows += frame.height
        if rows >= chunk_size:
            yield pl.concat(pending, rechunk=True)
            pending, rows = [], 0
    if pending:
        yield pl.concat(pending, rechunk=True)


def generate_flat(
    n_events: int,
    *,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    days: int = 14,
    visitors: int | None = None,
    duplicate_rate: float = 0.01,
    shuffle: bool = True,
    custom_session_rate: float = 0.02,
    identified_rate: float = 0.2,
    system_rate: float = 0.04,
) -> pl.DataFrame:
    """Exactly `n_events` synthetic events (redeliveries included) with the columns and dtypes
    of `jtrack.schema.EVENT_SCHEMA`, over `days` days from `start`, deterministic in `seed`."""
    chunks = list(
        iter_flat_chunks(
            n_events,
            seed=seed,
            chunk_size=max(n_events, 1),
            start=start,
            days=days,
            visitors=visitors,
            duplicate_rate=duplicate_rate,
            shuffle=shuffle,
            custom_session_rate=custom_session_rate,
            identified_rate=identified_rate,
            system_rate=system_rate,
        )
    )
    if not chunks:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.concat(chunks, rechunk=True)


def write_flat_parquet(
    path: str | Path,
    n_events: int,
    *,
    seed: int = 7,
    chunk_size: int = 2_000_000,
    compression: str = "zstd",
    **options: Any,
) -> int:
    """Write `generate_flat(n_events, seed=seed, **options)` to one Parquet file, chunk by
    chunk (memory bounded by `chunk_size`). Returns the number of rows written."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pl.DataFrame(schema=EVENT_SCHEMA).to_arrow().schema
    written = 0
    with pq.ParquetWriter(str(path), schema, compression=compression) as writer:
        for chunk in iter_flat_chunks(n_events, seed=seed, chunk_size=chunk_size, **options):
            table = chunk.to_arrow()
            if table.schema != schema:
                table = table.cast(schema)
            writer.write_table(table, row_group_size=1_000_000)
            written += chunk.height
    return written
