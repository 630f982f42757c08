"""Technical indicators as numba kernels.

Conventions for every kernel here:
- inputs are 1-D float64 arrays of equal length, oldest bar first; periods are bar counts;
- outputs have the input's length; bars before the first complete window (warm-up) are NaN;
- windowed statistics (SMA, Bollinger, stochastic) are recomputed per window, so a NaN input
  only spoils the windows that contain it; recursive ones (EMA, RSI, ATR) carry it forward.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]


@njit(cache=True)
def sma_nb(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average over ``n`` bars; first value at index n-1."""
    out = np.full(x.shape[0], np.nan)
    if n < 1:
        return out
    for i in range(n - 1, x.shape[0]):
        s = 0.0
        for j in range(i - n + 1, i + 1):
            s += x[j]
        out[i] = s / n
    return out


@njit(cache=True)
def ema_nb(x: FloatArray, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2/(n+1), seeded at index n-1 with the SMA of the first n."""
    out = np.full(x.shape[0], np.nan)
    if n < 1 or x.shape[0] < n:
        return out
    alpha = 2.0 / (n + 1.0)
    s = 0.0
    for j in range(n):
        s += x[j]
    prev = s / n
    out[n - 1] = prev
    for i in range(n, x.shape[0]):
        prev = alpha * x[i] + (1.0 - alpha) * prev
        out[i] = prev
    return out


@njit(cache=True)
def rsi_nb(close: FloatArray, n: int) -> FloatArray:
    """Wilder RSI as TA-Lib (0..100); first value at index n.

    The first average gain/loss is the simple mean of the first n close-to-close changes,
    then avg = (prev*(n-1) + x)/n. RSI is 100 whenever the average loss is 0 (also on a flat
    window, where TA-Lib returns 0).
    """
    out = np.full(close.shape[0], np.nan)
    if n < 1 or close.shape[0] <= n:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = close[i] - close[i - 1]
        if d > 0:
            gain += d
        else:
            loss -= d
    gain /= n
    loss /= n
    out[n] = _rsi_value_nb(gain, loss)
    for i in range(n + 1, close.shape[0]):
        d = close[i] - close[i - 1]
        gain = (gain * (n - 1) + max(d, 0.0)) / n
        loss = (loss * (n - 1) + max(-d, 0.0)) / n
        out[i] = _rsi_value_nb(gain, loss)
    return out


@njit(cache=True)
def _rsi_value_nb(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0
    return 100.0 * avg_gain / (avg_gain + avg_loss)


@njit(cache=True)
def true_range_nb(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range; index 0 is NaN because the first bar has no previous close (as TA-Lib)."""
    out = np.full(close.shape[0], np.nan)
    for i in range(1, close.shape[0]):
        pc = close[i - 1]
        out[i] = max(high[i] - low[i], abs(high[i] - pc), abs(low[i] - pc))
    return out


@njit(cache=True)
def atr_nb(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> FloatArray:
    """Wilder average true range as TA-Lib, in price units.

    First value at index n = mean(TR[1..n]); then atr = (prev*(n-1) + TR)/n.
    """
    out = np.full(close.shape[0], np.nan)
    if n < 1 or close.shape[0] <= n:
        return out
    tr = true_range_nb(high, low, close)
    s = 0.0
    for i in range(1, n + 1):
        s += tr[i]
    prev = s / n
    out[n] = prev
    for i in range(n + 1, close.shape[0]):
        prev = (prev * (n - 1) + tr[i]) / n
        out[i] = prev
    return out


@njit(cache=True)
def bollinger_nb(close: FloatArray, n: int, k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands -> (middle, upper, lower); middle = SMA(n), bands = middle +/- k * population std."""
    middle = sma_nb(close, n)
    upper = np.full(close.shape[0], np.nan)
    lower = np.full(close.shape[0], np.nan)
    if n < 1:
        return middle, upper, lower
    for i in range(n - 1, close.shape[0]):
        m = middle[i]
        ss = 0.0
        for j in range(i - n + 1, i + 1):
            ss += (close[j] - m) ** 2
        sd = math.sqrt(ss / n)
        upper[i] = m + k * sd
        lower[i] = m - k * sd
    return middle, upper, lower


@njit(cache=True)
def stochastic_nb(
    high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, d_period: int
) -> tuple[FloatArray, FloatArray]:
    """Fast stochastic -> (%K, %D), both 0..100.

    %K = 100*(close - lowest low)/(highest high - lowest low) over k_period bars, first value at
    index k_period-1; 50 when the range is zero. %D = SMA(%K, d_period), first at k_period+d_period-2.
    """
    pct_k = np.full(close.shape[0], np.nan)
    if k_period >= 1:
        for i in range(k_period - 1, close.shape[0]):
            hh = high[i]
            ll = low[i]
            for j in range(i - k_period + 1, i):
                hh = max(hh, high[j])
                ll = min(ll, low[j])
            rng = hh - ll
            pct_k[i] = 50.0 if rng == 0.0 else 100.0 * (close[i] - ll) / rng
    return pct_k, sma_nb(pct_k, d_period)


@njit(cache=True)
def volume_sma_nb(volume: FloatArray, n: int) -> FloatArray:
    """Simple moving average of volume (same as ``sma_nb``)."""
    return sma_nb(volume, n)


@njit(cache=True)
def zscore_last_nb(x: FloatArray, window: int) -> float:
    """Z-score of the last value against the non-NaN values among the last ``window`` (population std).

    NaN if the last value is NaN, fewer than 2 valid values, or std == 0.
    """
    if x.shape[0] == 0 or window < 1 or math.isnan(x[-1]):
        return np.nan
    start = max(0, x.shape[0] - window)
    cnt = 0
    s = 0.0
    for j in range(start, x.shape[0]):
        if not math.isnan(x[j]):
            cnt += 1
            s += x[j]
    if cnt < 2:
        return np.nan
    mean = s / cnt
    ss = 0.0
    for j in range(start, x.shape[0]):
        if not math.isnan(x[j]):
            ss += (x[j] - mean) ** 2
    sd = math.sqrt(ss / cnt)
    if sd == 0.0:
        return np.nan
    return (x[-1] - mean) / sd


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
