"""Execution tactics as child-order schedules, and their simulation over OHLCV bars.

A schedule is three arrays of one length: bar offset from the start bar (int64; -1 = "refill": the
child starts on the bar its predecessor completes, used by ICEBERG), child quantity (> 0 units) and
limit price (NaN = market order at the open of its bar). Quantities are split in whole lots; any
fraction of a lot left over goes to the last child.

Simulation (``simulate_schedule_nb``): a child works from its start bar for ``ttl_bars`` bars, then
its unfilled remainder expires. On each bar, all working children together fill at most
``max_participation * volume`` units (earlier children first). Market children fill at the open plus
slippage (``impact_bps_nb`` on the bar's fill); limit children at ``bar_fill_price_nb`` without
slippage. Fees (``fee_nb``) are charged per child per bar fill.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.fills import (
    BUY,
    ORDER_LIMIT,
    bar_fill_price_nb,
    fee_nb,
    fill_price_nb,
    fillable_qty_nb,
    impact_bps_nb,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
REFILL = -1


@njit(cache=True)
def split_lots_nb(qty: float, weights: FloatArray, lot: float) -> FloatArray:
    """qty split by weights in whole lots (largest remainder, ties to the earlier child); the
    sub-lot leftover goes to the last child."""
    k = weights.shape[0]
    out = np.zeros(k)
    total = weights.sum()
    if k == 0 or not total > 0.0 or not qty > 0.0:
        return out
    lots = math.floor(qty / lot + 1e-9)
    rem = np.empty(k)
    used = 0
    for c in range(k):
        exact = lots * weights[c] / total
        out[c] = math.floor(exact)
        rem[c] = exact - out[c]
        used += int(out[c])
    for _ in range(lots - used):
        best = np.argmax(rem)
        out[best] += 1.0
        rem[best] = -1.0
    out *= lot
    out[k - 1] += max(qty - lots * lot, 0.0)
    return out


@njit(cache=True)
def passive_limit_schedule_nb(qty: float, limit: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """PASSIVE_LIMIT: the whole quantity as one limit order at bar 0."""
    return np.zeros(1, dtype=np.int64), np.full(1, qty), np.full(1, limit)


@njit(cache=True)
def twap_schedule_nb(qty: float, n_slices: int, interval_bars: int, limit: float, lot: float
                     ) -> tuple[IntArray, FloatArray, FloatArray]:
    """TWAP: n_slices equal children every interval_bars bars (offsets 0, interval, 2*interval...)."""
    offsets = np.arange(n_slices).astype(np.int64) * interval_bars
    return offsets, split_lots_nb(qty, np.ones(n_slices), lot), np.full(n_slices, limit)


@njit(cache=True)
def vwap_schedule_nb(qty: float, profile: FloatArray, limit: float, lot: float
                     ) -> tuple[IntArray, FloatArray, FloatArray]:
    """VWAP: one child per profile slot (offset = slot), sized in proportion to the expected volume."""
    k = profile.shape[0]
    return np.arange(k).astype(np.int64), split_lots_nb(qty, profile, lot), np.full(k, limit)


@njit(cache=True)
def volume_profile_nb(volume: FloatArray, slot: IntArray, n_slots: int) -> FloatArray:
    """Average volume per intraday slot (e.g. 5-minute bar of the session); NaN volumes skipped."""
    total, count = np.zeros(n_slots), np.zeros(n_slots)
    for i in range(volume.shape[0]):
        if 0 <= slot[i] < n_slots and not np.isnan(volume[i]):
            total[slot[i]] += volume[i]
            count[slot[i]] += 1.0
    return np.where(count > 0.0, total / np.maximum(count, 1.0), 0.0)


@njit(cache=True)
def iceberg_schedule_nb(qty: float, display_qty: float, limit: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """ICEBERG: slices of display_qty (the last one smaller); slice 0 at bar 0, each next one
    refills when its predecessor is fully filled (offset REFILL)."""
    k = max(math.ceil(qty / display_qty - 1e-9), 1)
    qtys = np.full(k, display_qty)
    qtys[k - 1] = qty - display_qty * (k - 1)
    offsets = np.full(k, REFILL, dtype=np.int64)
    offsets[0] = 0
    return offsets, qtys, np.full(k, limit)


@njit(cache=True)
def _child_bar_nb(side: int, limit: float, want: float, o: float, h: float, lo: float, v: float,
                  fixed_bps: float, impact_bps: float, model: int) -> float:
    """Fill price of `want` units of a child on one bar (NaN = no fill)."""
    if np.isnan(limit):
        return fill_price_nb(side, o, impact_bps_nb(want, v, fixed_bps, impact_bps, model))
    return bar_fill_price_nb(ORDER_LIMIT, side, limit, np.nan, o, h, lo)


@njit(cache=True)
def simulate_schedule_nb(side: int, offsets: IntArray, qtys: FloatArray, limits: FloatArray, start: int,
                         open_: FloatArray, high: FloatArray, low: FloatArray, volume: FloatArray,
                         ttl_bars: int, max_participation: float, fixed_bps: float, impact_bps: float,
                         impact_model: int, multiplier: float, per_unit: float, minimum: float,
                         max_pct_of_value: float, pct_fee: float
                         ) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Run a schedule from bar `start` -> per child (filled qty, average price (NaN if none), fees,
    start bar (-1 if it never started))."""
    k, n = qtys.shape[0], open_.shape[0]
    filled, notional, fees = np.zeros(k), np.zeros(k), np.zeros(k)
    begin = np.full(k, -1, dtype=np.int64)
    for c in range(k):
        if offsets[c] >= 0:
            begin[c] = start + offsets[c]
    for i in range(start, n):
        room = fillable_qty_nb(np.inf, volume[i], max_participation)
        for c in range(k):
            if begin[c] < 0 or i < begin[c] or i >= begin[c] + ttl_bars or filled[c] >= qtys[c] or room <= 0.0:
                continue
            want = min(qtys[c] - filled[c], room)
            px = _child_bar_nb(side, limits[c], want, open_[i], high[i], low[i], volume[i], fixed_bps,
                               impact_bps, impact_model)
            if np.isnan(px):
                continue
            filled[c] += want
            notional[c] += want * px
            fees[c] += fee_nb(want, px, multiplier, per_unit, minimum, max_pct_of_value, pct_fee)
            room -= want
            if filled[c] >= qtys[c] and c + 1 < k and offsets[c + 1] == REFILL:
                begin[c + 1] = i  # the next slice shows on the bar this one completes
    avg = np.where(filled > 0.0, notional / np.maximum(filled, 1e-300), np.nan)
    return filled, avg, fees, begin


class ExecutionCosts(NamedTuple):
    """Slippage and fee parameters of the simulated venue (see engine.fills)."""

    max_participation: float = 0.1
    fixed_bps: float = 0.0
    impact_bps: float = 0.0
    impact_model: int = 0
    multiplier: float = 1.0
    per_unit: float = 0.0
    minimum: float = 0.0
    max_pct_of_value: float = math.inf
    pct_fee: float = 0.0


class ScheduleFill(NamedTuple):
    """Parent totals (avg_price NaN when nothing filled) and the per-child fills."""

    filled_qty: float
    avg_price: float
    fees: float
    child_filled: FloatArray
    child_avg_price: FloatArray
    child_fees: FloatArray
    child_start: IntArray


def simulate_schedule(side: int, schedule: tuple[IntArray, FloatArray, FloatArray], start: int,
                      open_: FloatArray, high: FloatArray, low: FloatArray, volume: FloatArray,
                      ttl_bars: int, costs: ExecutionCosts) -> ScheduleFill:
    """Typed wrapper of ``simulate_schedule_nb``; side is engine.fills.BUY or SELL."""
    offsets, qtys, limits = (np.asarray(a) for a in schedule)
    if side not in (BUY, -BUY) or ttl_bars < 1 or not 0 <= start < len(open_):
        raise ValueError("side must be BUY/SELL, ttl_bars >= 1 and start a bar index of the arrays.")
    o, h, lo, v = (np.ascontiguousarray(a, dtype=np.float64) for a in (open_, high, low, volume))
    filled, avg, fees, begin = simulate_schedule_nb(
        side, offsets.astype(np.int64), qtys.astype(np.float64), limits.astype(np.float64), start,
        o, h, lo, v,
        ttl_bars, float(costs.max_participation), float(costs.fixed_bps), float(costs.impact_bps),
        int(costs.impact_model), float(costs.multiplier), float(costs.per_unit), float(costs.minimum),
        float(costs.max_pct_of_value), float(costs.pct_fee))
    total = float(filled.sum())
    notional = float(np.nansum(filled * avg))
    return ScheduleFill(total, notional / total if total > 0 else math.nan, float(fees.sum()),
                        filled, avg, fees, begin)
