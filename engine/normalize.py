"""Z-score and percentile-rank normalisation for the feature snapshot (numba kernels + wrappers)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.indicators import as_series, require_periods
from engine.moments import Moments, settle_moments_nb, slide_moments_nb, window_moments_nb

FloatArray = npt.NDArray[np.float64]

# Both normalisers look at the non-NaN values among the last ``window`` bars (fewer at the start
# of the series: no warm-up beyond what is stated), never at later bars.

# A variance below the smallest normal float64 is held in subnormals, with a few digits left (values
# around 1e-159 apart): no z-score is read from it, as from a window of equal values.
MIN_VARIANCE = float(np.finfo(np.float64).tiny)


@njit(cache=True)
def zscore_last_nb(x: FloatArray, window: int) -> float:
    """Z-score of the last value against the non-NaN values among the last ``window`` (population std).

    NaN if the last value is NaN, fewer than 2 valid values, all valid values are equal, or their
    variance is too small for a float64 to hold (``MIN_VARIANCE``).
    """
    if x.shape[0] == 0 or window < 1 or math.isnan(x[-1]):
        return np.nan
    start = max(0, x.shape[0] - window)
    cnt, mean, m2 = window_moments_nb(x, start, x.shape[0])
    flat = True
    for j in range(start, x.shape[0]):
        if not math.isnan(x[j]) and x[j] != x[-1]:
            flat = False
            break
    if cnt < 2 or flat or m2 / cnt < MIN_VARIANCE:
        return np.nan
    last: float = x[-1]
    return (last - mean) / math.sqrt(m2 / cnt)


@njit(cache=True)
def rolling_zscore_nb(x: FloatArray, window: int) -> FloatArray:
    """``out[i] == zscore_last_nb(x[:i+1], window)`` for every i (to ~1e-10), in O(len).

    Population std (ddof=0) of the non-NaN values in the window; equals pandas
    ``(x - r.mean()) / r.std(ddof=0)`` with ``r = x.rolling(window, min_periods=2)`` except that a
    window of equal values gives NaN (pandas: inf or NaN).
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    m: Moments = (0, 0.0, 0.0, 0.0, 0.0, 0.0)
    same = 0  # consecutive valid values (NaNs skipped) equal to the latest valid value
    last = np.nan
    for i in range(size):
        v = x[i]
        m = slide_moments_nb(m, v, x[i - window] if i >= window >= 1 else np.nan)
        if math.isnan(v) or window < 1:
            continue
        same = same + 1 if v == last else 1
        last = v
        if m[0] < 2 or same >= m[0]:
            continue
        m, m2 = settle_moments_nb(m, 1.0 / m[0], x, max(0, i - window + 1), i + 1)
        if m2 / m[0] >= MIN_VARIANCE:
            out[i] = ((v - m[1]) - m[2] / m[0]) / math.sqrt(m2 / m[0])
    return out


@njit(cache=True)
def percentile_rank_last_nb(x: FloatArray, window: int) -> float:
    """Percentage (0..100) of the non-NaN values among the last ``window`` that are <= the last value.

    The last value counts itself, so the result is > 0; NaN if the last value is NaN.
    """
    if x.shape[0] == 0 or window < 1 or math.isnan(x[-1]):
        return np.nan
    last = x[-1]
    cnt = 0
    below = 0
    for j in range(max(0, x.shape[0] - window), x.shape[0]):
        if not math.isnan(x[j]):
            cnt += 1
            if x[j] <= last:
                below += 1
    return 100.0 * below / cnt


@njit(cache=True)
def rolling_percentile_nb(x: FloatArray, window: int) -> FloatArray:
    """``out[i] == percentile_rank_last_nb(x[:i+1], window)`` for every i (O(len * window)).

    Equals pandas ``100 * x.rolling(window, min_periods=1).rank(method="max", pct=True)``.
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    if window < 1:
        return out
    for i in range(size):
        v = x[i]
        if math.isnan(v):
            continue
        cnt = 0
        below = 0
        for j in range(max(0, i - window + 1), i + 1):
            w = x[j]
            cnt += not math.isnan(w)
            below += w <= v  # False for NaN
        out[i] = 100.0 * below / cnt
    return out


def rolling_zscore(x: npt.ArrayLike, window: int) -> FloatArray:
    require_periods(window=window)
    return rolling_zscore_nb(*as_series(x), int(window))


def rolling_percentile(x: npt.ArrayLike, window: int) -> FloatArray:
    require_periods(window=window)
    return rolling_percentile_nb(*as_series(x), int(window))
