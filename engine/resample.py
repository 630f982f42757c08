"""Aggregation of bars into coarser bars, one output bar per run of equal bucket ids.

Conventions: inputs are 1-D arrays of equal length, oldest bar first; ``bucket_id`` is int64 and
non-decreasing (any key works: the adapters use each bar's bucket start in epoch seconds), so a
bucket is a run of equal ids. Per bucket: open of the first bar, max high, min low, close of the
last bar, summed volume and summed notional (vwap * volume of each bar; pass zeros when there is
no vwap). The volume-weighted average price of a bucket is notional / volume.
NaN highs/lows are ignored by max/min unless the whole bucket is NaN; NaN volumes propagate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AggTuple = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


@njit(cache=True)
def bucket_starts_nb(bucket_id: IntArray) -> IntArray:
    """Index of the first bar of every run of equal ids."""
    size = bucket_id.shape[0]
    flags = np.empty(size, dtype=np.bool_)
    for i in range(size):
        flags[i] = i == 0 or bucket_id[i] != bucket_id[i - 1]
    return np.flatnonzero(flags)


@njit(cache=True)
def aggregate_bars_nb(
    bucket_id: IntArray, open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray,
    volume: FloatArray, notional: FloatArray,
) -> AggTuple:
    """-> (first index, open, high, low, close, volume, notional), one entry per bucket."""
    first = bucket_starts_nb(bucket_id)
    m = first.shape[0]
    o, h, lo, c = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    v, q = np.empty(m), np.empty(m)
    size = bucket_id.shape[0]
    for b in range(m):
        start = first[b]
        stop = first[b + 1] if b + 1 < m else size
        hh = high[start]
        ll = low[start]
        vv = 0.0
        qq = 0.0
        for i in range(start, stop):
            hh = high[i] if high[i] > hh or hh != hh else hh
            ll = low[i] if low[i] < ll or ll != ll else ll
            vv += volume[i]
            qq += notional[i]
        o[b] = open_[start]
        h[b] = hh
        lo[b] = ll
        c[b] = close[stop - 1]
        v[b] = vv
        q[b] = qq
    return first, o, h, lo, c, v, q


class AggregatedBars(NamedTuple):
    """One row per bucket; ``first`` indexes each bucket's first input bar."""

    first: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    notional: FloatArray


def aggregate_bars(
    bucket_id: npt.ArrayLike, open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
    close: npt.ArrayLike, volume: npt.ArrayLike, notional: npt.ArrayLike | None = None,
) -> AggregatedBars:
    """Validated ``aggregate_bars_nb``; ``notional`` defaults to zeros (no vwap)."""
    ids = np.ascontiguousarray(bucket_id, dtype=np.int64)
    cols = [np.ascontiguousarray(a, dtype=np.float64) for a in (open_, high, low, close, volume)]
    cols.append(np.zeros(ids.shape[0]) if notional is None
                else np.ascontiguousarray(notional, dtype=np.float64))
    if ids.ndim != 1 or any(a.shape != ids.shape for a in cols):
        raise ValueError("bucket ids and bar columns must be 1-D arrays of equal length")
    if ids.shape[0] > 1 and np.any(ids[1:] < ids[:-1]):
        raise ValueError("bucket ids must be non-decreasing: sort the bars by time first")
    return AggregatedBars(*aggregate_bars_nb(ids, *cols))
