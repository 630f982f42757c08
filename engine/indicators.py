"""Technical indicators as numba kernels, following TA-Lib's conventions.

Conventions for every kernel here:
- inputs are 1-D float64 arrays of equal length, oldest bar first; periods are bar counts >= 1
  (a period < 1 gives all NaN; the typed wrappers reject it instead);
- outputs have the input's length and are NaN wherever TA-Lib has no value: during the warm-up
  (TA-Lib's lookback) counted from the first bar where every input is non-NaN (leading NaNs are
  skipped, as TA-Lib's Python wrapper does);
- smoothing as TA-Lib: Wilder (RSI, ATR) and EMA are seeded with the simple mean of their first
  window and updated recursively, so a later NaN input is carried forward for good; windowed
  statistics (SMA, Bollinger, stochastic) use running sums, and a NaN inside the data spoils only
  the windows that contain it (TA-Lib would spoil everything after it);
- recursions use the arithmetic of TA-Lib's FMA build (``prev = fma(prev, k, x*(1-k))`` for ATR,
  ``fma(x - prev, k, prev)`` for EMA, ``(prev*(n-1) + x) * (1/n)`` for RSI): results agree with
  TA-Lib to a few ulps and keep its speed (one fused multiply-add on the dependency chain).
Known difference: RSI with period 1 and Bollinger with period 1 are defined here (TA-Lib rejects them).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from engine.moments import EPS, REL_TOL, window_moments_nb

FloatArray = npt.NDArray[np.float64]


@intrinsic
def _fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a*b + c rounded once (llvm.fma: the FMA instruction, or libm's exact fma without one)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        double = ir.DoubleType()
        fnty = ir.FunctionType(double, [double, double, double])
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64"), args)

    return sig, codegen


@njit(cache=True)
def _first_valid_nb(a: FloatArray, b: FloatArray, c: FloatArray) -> int:
    """First index where a, b and c are all non-NaN (len if none)."""
    for i in range(a.shape[0]):
        if not (math.isnan(a[i]) or math.isnan(b[i]) or math.isnan(c[i])):
            return i
    return len(a)


@njit(cache=True)
def _nan_head_nb(size: int, first: int) -> FloatArray:
    """Uninitialised output whose first ``first`` values are NaN (filling all of it costs as much
    as a whole indicator pass on long series, so kernels write every later value themselves)."""
    out = np.empty(size)
    out[: max(0, min(first, size))] = np.nan
    return out


# --- moving averages -------------------------------------------------------------------------


@njit(cache=True)
def sma_nb(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average over ``n`` bars (running sum, as TA-Lib); first value at index n-1."""
    return _sma_into_nb(x, n, np.empty(x.shape[0]))


@njit(cache=True)
def _sma_into_nb(x: FloatArray, n: int, out: FloatArray) -> FloatArray:
    s = 0.0
    run = 0  # consecutive non-NaN values ending at i: the sum is restarted after a NaN
    for i in range(x.shape[0]):
        v = x[i]
        if math.isnan(v):
            run = 0
            s = 0.0
            out[i] = np.nan
            continue
        s += v
        run += 1
        if run >= n >= 1:
            out[i] = s / n
            s -= x[i - n + 1]
        else:
            out[i] = np.nan
    return out


@njit(cache=True)
def ema_nb(x: FloatArray, n: int) -> FloatArray:
    """EMA, k = 2/(n+1), seeded at the (n-1)-th valid bar with the SMA of the first n (TA-Lib default)."""
    start = _first_valid_nb(x, x, x)
    if n < 1 or x.shape[0] - start < n:
        return np.full(x.shape[0], np.nan)
    out = _nan_head_nb(x.shape[0], start + n - 1)
    k = 2.0 / (n + 1.0)
    s = 0.0
    for j in range(start, start + n):
        s += x[j]
    prev = s / n
    out[start + n - 1] = prev
    for i in range(start + n, x.shape[0]):
        prev = _fma(x[i] - prev, k, prev)  # type: ignore[call-arg]  # numba's stub counts typingctx
        out[i] = prev
    return out


@njit(cache=True)
def volume_sma_nb(volume: FloatArray, n: int) -> FloatArray:
    """Simple moving average of volume (same as ``sma_nb``)."""
    return sma_nb(volume, n)


# --- oscillators -----------------------------------------------------------------------------


@njit(cache=True)
def rsi_nb(close: FloatArray, n: int) -> FloatArray:
    """Wilder RSI as TA-Lib (0..100); first value n bars after the first valid close.

    avg gain/loss start as the mean of the first n close-to-close changes, then
    avg = (avg*(n-1) + change) / n. RSI = 100*gain/(gain+loss); 0 when both averages are 0
    (a flat window), exactly as TA-Lib (its FMA build tests gain+loss > 0, no epsilon).
    """
    start = _first_valid_nb(close, close, close)
    if n < 1 or close.shape[0] - start <= n:
        return np.full(close.shape[0], np.nan)
    out = _nan_head_nb(close.shape[0], start + n)
    inv = 1.0 / n
    gain = 0.0
    loss = 0.0
    for i in range(start + 1, start + n + 1):
        d = close[i] - close[i - 1]
        g = max(0.0, d)
        gain += g
        loss += g - d
    gain *= inv
    loss *= inv
    out[start + n] = _rsi_value_nb(gain, loss)
    m = n - 1.0
    for i in range(start + n + 1, close.shape[0]):
        d = close[i] - close[i - 1]
        g = max(0.0, d)
        gain = (gain * m + g) * inv
        loss = ((g - d) + loss * m) * inv
        out[i] = _rsi_value_nb(gain, loss)
    return out


@njit(cache=True)
def _rsi_value_nb(avg_gain: float, avg_loss: float) -> float:
    total = avg_gain + avg_loss
    if total > 0.0:
        return (avg_gain / total) * 100.0
    return 0.0 if total == 0.0 else np.nan


@njit(cache=True)
def stochastic_nb(
    high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, d_period: int, slowing: int = 1
) -> tuple[FloatArray, FloatArray]:
    """Stochastic as TA-Lib STOCH with SMA smoothing -> (%K, %D), both 0..100.

    fast %K = 100*(close - lowest low)/(highest high - lowest low) over ``k_period`` bars, 0 when
    that range is 0 (TA-Lib); %K = SMA(fast %K, ``slowing``) (slowing=1: the fast stochastic);
    %D = SMA(%K, ``d_period``). Argument order differs from TA-Lib's (fastk, slowk, slowd):
    ``stochastic_nb(h, l, c, 14, 3, 3) == talib.STOCH(h, l, c, 14, 3, 0, 3, 0)``. Both outputs
    start at TA-Lib's lookback, (k_period-1) + (slowing-1) + (d_period-1) bars after the first valid bar.
    """
    size = close.shape[0]
    block = np.empty((3, size))  # one allocation: large separate ones each cost page faults
    if k_period < 1 or d_period < 1 or slowing < 1:
        block[:] = np.nan
        return block[0], block[1]
    fast = _fast_k_into_nb(high, low, close, k_period, block[2])
    pct_k = _sma_into_nb(fast, slowing, block[0])
    pct_d = _sma_into_nb(pct_k, d_period, block[1])
    first = _first_valid_nb(high, low, close) + k_period + slowing + d_period - 3
    pct_k[: min(first, size)] = np.nan
    return pct_k, pct_d


@njit(cache=True)
def _fast_k_into_nb(high: FloatArray, low: FloatArray, close: FloatArray, n: int, out: FloatArray) -> FloatArray:
    """Raw %K; NaN for windows holding a NaN high or low.

    Window extremes by van Herk/Gil-Werman: the series is cut in blocks of n bars; a window is the
    suffix of one block plus the prefix of the next, so each bar costs a few branch-free max/min.
    """
    size = close.shape[0]
    start = _first_valid_nb(high, low, close)
    out[: min(start + n - 1, size)] = np.nan
    suf_h = np.empty(n)
    suf_l = np.empty(n)
    last_nan = -n
    for b in range(start, size, n):
        if b > start:  # suffix extremes of the previous block [b-n, b)
            suf_h[n - 1] = high[b - 1]
            suf_l[n - 1] = low[b - 1]
            for j in range(n - 2, -1, -1):
                suf_h[j] = max(high[b - n + j], suf_h[j + 1])
                suf_l[j] = min(low[b - n + j], suf_l[j + 1])
        ph = -np.inf
        pl = np.inf
        for i in range(b, min(b + n, size)):
            ph = max(high[i], ph)
            pl = min(low[i], pl)
            if math.isnan(high[i]) or math.isnan(low[i]):
                last_nan = i
            if i < start + n - 1:
                continue
            s = i - n + 1 - (b - n)  # window start, as an index into the previous block
            hh = ph if s == n else max(suf_h[s], ph)
            ll = pl if s == n else min(suf_l[s], pl)
            diff = (hh - ll) / 100.0
            if i - last_nan < n:
                out[i] = np.nan
            else:
                out[i] = (close[i] - ll) / diff if diff != 0.0 else 0.0
    return out


# --- volatility ------------------------------------------------------------------------------


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

    First value n bars after the first valid bar = mean of the n true ranges before it (each uses
    the previous close); then atr = atr*(n-1)/n + TR/n. Period 1 gives the true range itself.
    """
    start = _first_valid_nb(high, low, close)
    if n < 1 or close.shape[0] - start <= n:
        return np.full(close.shape[0], np.nan)
    out = _nan_head_nb(close.shape[0], start + n)
    s = 0.0
    for i in range(start + 1, start + n + 1):
        s += _tr_nb(high[i], low[i], close[i - 1])
    prev = s / n
    out[start + n] = prev
    keep = (n - 1.0) / n
    alpha = 1.0 - keep
    for i in range(start + n + 1, close.shape[0]):
        prev = _fma(prev, keep, _tr_nb(high[i], low[i], close[i - 1]) * alpha)  # type: ignore[call-arg]  # as above
        out[i] = prev
    return out


@njit(cache=True)
def _tr_nb(h: float, lo: float, prev_close: float) -> float:
    return max(abs(prev_close - lo), max(abs(prev_close - h), h - lo))


@njit(cache=True)
def bollinger_nb(close: FloatArray, n: int, k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands -> (middle, upper, lower) as TA-Lib BBANDS(n, k, k, SMA).

    middle = SMA(n); bands = middle +/- k * population std (divisor n), the std within ~1e-10
    relative of an exact two-pass computation (see sliding moments); a window of identical values
    has std exactly 0.
    """
    size = close.shape[0]
    block = np.empty((3, size))  # one allocation: large separate ones each cost page faults
    middle, upper, lower = block[0], block[1], block[2]
    inv = 1.0 / max(n, 1)
    run = 0  # consecutive non-NaN values ending at i
    same = 0  # consecutive values equal to close[i]
    c = s1 = m2 = e2 = e1 = 0.0
    for i in range(size):
        v = close[i]
        if math.isnan(v):
            run = 0
        else:
            same = same + 1 if run > 0 and v == close[i - 1] else 1
            run += 1
        if run < n or n < 1:
            middle[i] = upper[i] = lower[i] = np.nan
            continue
        redo = run == n
        if not redo:
            a = v - c
            b = close[i - n] - c
            s1 += a - b
            aa = a * a
            bb = b * b
            m2 += aa - bb  # sum of squares about c until corrected below
            e2 += EPS * (aa + bb + m2)
            e1 += EPS * (abs(a) + abs(b) + abs(s1))
            sq = s1 * s1 * inv
            redo = e2 + 2.0 * abs(s1) * e1 * inv + EPS * (m2 + sq) > REL_TOL * (m2 - sq)
        if redo:
            _, c, m2 = window_moments_nb(close, i - n + 1, i + 1)
            s1 = e1 = 0.0
            e2 = (n + 2) * EPS * m2
        var = (m2 - s1 * s1 * inv) * inv
        sd = math.sqrt(var) if var > 0.0 and same < n else 0.0
        mean = c + s1 * inv
        middle[i] = mean
        upper[i] = mean + k * sd
        lower[i] = mean - k * sd
    return middle, upper, lower


# --- typed wrappers --------------------------------------------------------------------------


class Bollinger(NamedTuple):
    middle: FloatArray
    upper: FloatArray
    lower: FloatArray


class Stochastic(NamedTuple):
    k: FloatArray
    d: FloatArray


@overload
def as_series(x: npt.ArrayLike, /) -> tuple[FloatArray]: ...
@overload
def as_series(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, /
              ) -> tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def as_series(*arrays: npt.ArrayLike) -> tuple[FloatArray, ...]: ...
def as_series(*arrays: npt.ArrayLike) -> tuple[FloatArray, ...]:
    out = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in arrays)
    if any(a.ndim != 1 for a in out) or len({a.shape[0] for a in out}) > 1:
        raise ValueError("indicator inputs must be 1-D arrays of equal length (oldest bar first)")
    return out


def require_periods(**periods: int) -> None:
    for name, value in periods.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    require_periods(n=n)
    return sma_nb(*as_series(x), int(n))


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    require_periods(n=n)
    return ema_nb(*as_series(x), int(n))


def rsi(close: npt.ArrayLike, n: int = 14) -> FloatArray:
    require_periods(n=n)
    return rsi_nb(*as_series(close), int(n))


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> FloatArray:
    require_periods(n=n)
    return atr_nb(*as_series(high, low, close), int(n))


def bollinger(close: npt.ArrayLike, n: int = 20, k: float = 2.0) -> Bollinger:
    require_periods(n=n)
    return Bollinger(*bollinger_nb(*as_series(close), int(n), float(k)))


def stochastic(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike,
               k_period: int = 14, d_period: int = 3, slowing: int = 1) -> Stochastic:
    require_periods(k_period=k_period, d_period=d_period, slowing=slowing)
    h, lo, c = as_series(high, low, close)
    return Stochastic(*stochastic_nb(h, lo, c, int(k_period), int(d_period), int(slowing)))
