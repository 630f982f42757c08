"""Market regime of the last bar from a moving-average spread and ATR percentile.

Precedence (first match wins): HIGH_VOL if the ATR percentile >= high_vol_percentile;
BULL_TREND / BEAR_TREND if ma_diff_pct is beyond +/- trend_threshold_pct; LOW_VOL if the ATR
percentile <= low_vol_percentile; otherwise RANGE_BOUND. UNKNOWN (confidence 0) with fewer than
``slow`` bars. While the ATR is still warming up its percentile is NaN and no volatility
regime is assigned.

Confidence = 0.5 + 0.5 * min(1, distance / scale): 0.5 exactly at the deciding threshold,
1.0 one full scale beyond it. Distance and scale per label:
- HIGH_VOL: atr_pct - high_vol_percentile, scale 100 - high_vol_percentile;
- BULL/BEAR: |ma_diff_pct| - trend_threshold_pct, scale trend_threshold_pct (1.0 at twice it);
- LOW_VOL: low_vol_percentile - atr_pct, scale low_vol_percentile;
- RANGE_BOUND: the smaller of the trend slack (threshold - |ma_diff_pct|)/threshold and the
  volatility slack min(atr_pct - low, high - atr_pct)/((high - low)/2), each in [0, 1].
A scale <= 0 gives confidence 1.

``classify_regime_gmm`` is the statistical alternative: a Gaussian mixture (``engine.gmm``) over
per-bar features [trend t-statistic, log realised volatility] of the trailing ``window`` log
returns (``regime_features_nb``), fitted on the standardised features of the whole series.
Components map to labels by their mean features (see ``map_components_nb``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.gmm import GaussianMixtureFit, fit_gaussian_mixture, predict_proba
from engine.indicators import atr_nb
from engine.normalize import percentile_rank_last_nb

BULL_TREND = 0
BEAR_TREND = 1
RANGE_BOUND = 2
HIGH_VOL = 3
LOW_VOL = 4
UNKNOWN = 5
REGIME_NAMES = ("BULL_TREND", "BEAR_TREND", "RANGE_BOUND", "HIGH_VOL", "LOW_VOL", "UNKNOWN")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
RegimeTuple = tuple[int, float, float, float, float, float, float, float]


class RegimeResult(NamedTuple):
    """Regime of the last bar; MAs and ATR in price units, percentages in 0..100."""

    label: str
    confidence: float
    fast_ma: float
    slow_ma: float
    ma_diff: float
    ma_diff_pct: float
    current_atr: float
    atr_percentile: float


@njit(cache=True)
def _confidence_nb(distance: float, scale: float) -> float:
    if scale <= 0.0:
        return 1.0
    ratio = distance / scale
    if not ratio > 0.0:  # also NaN
        return 0.5
    return 0.5 + 0.5 * min(1.0, ratio)


@njit(cache=True)
def _last_mean_nb(x: FloatArray, n: int) -> float:
    s = 0.0
    for j in range(x.shape[0] - n, x.shape[0]):
        s += x[j]
    return s / n


@njit(cache=True)
def _label_nb(
    diff_pct: float, atr_pct: float, threshold: float, high_pct: float, low_pct: float
) -> tuple[int, float]:
    if atr_pct >= high_pct:
        return HIGH_VOL, _confidence_nb(atr_pct - high_pct, 100.0 - high_pct)
    if diff_pct > threshold:
        return BULL_TREND, _confidence_nb(diff_pct - threshold, threshold)
    if diff_pct < -threshold:
        return BEAR_TREND, _confidence_nb(-diff_pct - threshold, threshold)
    if atr_pct <= low_pct:
        return LOW_VOL, _confidence_nb(low_pct - atr_pct, low_pct)
    trend_slack = 1.0 if threshold <= 0.0 else (threshold - abs(diff_pct)) / threshold
    half_band = 0.5 * (high_pct - low_pct)
    vol_slack = 1.0
    if not math.isnan(atr_pct) and half_band > 0.0:
        vol_slack = min(atr_pct - low_pct, high_pct - atr_pct) / half_band
    return RANGE_BOUND, _confidence_nb(min(trend_slack, vol_slack), 1.0)


@njit(cache=True)
def classify_regime_nb(
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    fast: int,
    slow: int,
    atr_period: int,
    atr_lookback: int,
    trend_threshold_pct: float,
    high_vol_percentile: float,
    low_vol_percentile: float,
) -> RegimeTuple:
    """Classify the last bar -> (label, confidence, fast_ma, slow_ma, ma_diff, ma_diff_pct,
    current_atr, atr_percentile).

    MAs are SMAs of close; ma_diff_pct = (fast - slow)/slow*100; the ATR percentile is the
    percentile rank (0..100) of the current Wilder ATR among the last ``atr_lookback`` ATR values.
    """
    nan = np.nan
    if close.shape[0] < slow or close.shape[0] < fast or fast < 1 or slow < 1:
        return UNKNOWN, 0.0, nan, nan, nan, nan, nan, nan
    fast_ma = _last_mean_nb(close, fast)
    slow_ma = _last_mean_nb(close, slow)
    diff = fast_ma - slow_ma
    diff_pct = diff / slow_ma * 100.0 if slow_ma != 0.0 else nan
    atr = atr_nb(high, low, close, atr_period)
    current_atr = atr[-1]
    atr_pct = percentile_rank_last_nb(atr, atr_lookback)
    label, conf = _label_nb(diff_pct, atr_pct, trend_threshold_pct, high_vol_percentile, low_vol_percentile)
    return label, conf, fast_ma, slow_ma, diff, diff_pct, current_atr, atr_pct


def _as_float_array(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series of prices, got shape {arr.shape}.")
    return arr


def classify_regime(
    close: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    fast: int = 20,
    slow: int = 50,
    atr_period: int = 14,
    atr_lookback: int = 100,
    trend_threshold_pct: float = 1.0,
    high_vol_percentile: float = 90.0,
    low_vol_percentile: float = 10.0,
) -> RegimeResult:
    """Classify the regime of the last bar (see module docstring for rules and confidence)."""
    c = _as_float_array("close", close)
    h = _as_float_array("high", high)
    lo = _as_float_array("low", low)
    if not c.shape == h.shape == lo.shape:
        raise ValueError("close, high and low must have the same length; pass bars of one series.")
    if min(fast, slow, atr_period, atr_lookback) < 1:
        raise ValueError("fast, slow, atr_period and atr_lookback must be positive bar counts.")
    res = classify_regime_nb(
        c, h, lo, int(fast), int(slow), int(atr_period), int(atr_lookback),
        float(trend_threshold_pct), float(high_vol_percentile), float(low_vol_percentile),
    )
    return RegimeResult(REGIME_NAMES[res[0]], *(float(v) for v in res[1:]))


@njit(cache=True)
def regime_features_nb(close: FloatArray, window: int) -> FloatArray:
    """(n, 2) mixture features per bar over the last ``window`` log returns r_j = log(c_j/c_{j-1}):

    column 0, trend statistic: mean(r) / std(r, ddof=1) * sqrt(window) (t-statistic of the mean);
    column 1, log realised volatility: log(std(r, ddof=1)).
    Both are scale free and roughly Gaussian within a regime. Rows before ``window`` and rows of a
    perfectly flat window (std 0) are NaN.
    """
    n = close.shape[0]
    out = np.full((n, 2), np.nan)
    if window < 2:
        return out
    for t in range(window, n):
        s = 0.0
        for j in range(t - window + 1, t + 1):
            s += math.log(close[j] / close[j - 1])
        mean = s / window
        ss = 0.0
        for j in range(t - window + 1, t + 1):
            ss += (math.log(close[j] / close[j - 1]) - mean) ** 2
        sd = math.sqrt(ss / (window - 1))
        if sd > 0.0:
            out[t, 0] = mean / sd * math.sqrt(window)
            out[t, 1] = math.log(sd)
    return out


@njit(cache=True)
def map_components_nb(trend_stat: FloatArray, log_vol: FloatArray, trend_t: float) -> IntArray:
    """Regime code of each mixture component from its mean features (``regime_features_nb``).

    k >= 2: the highest-volatility component is HIGH_VOL and the lowest LOW_VOL; every other
    component (k >= 3) is BULL_TREND / BEAR_TREND when its mean trend statistic is above
    ``trend_t`` / below -``trend_t``, else RANGE_BOUND. k == 1, or all volatilities equal: the
    trend rule for every component. Ties go to the lower component index.
    """
    k = trend_stat.shape[0]
    out = np.empty(k, dtype=np.int64)
    for c in range(k):
        t_stat = trend_stat[c]
        out[c] = BULL_TREND if t_stat > trend_t else BEAR_TREND if t_stat < -trend_t else RANGE_BOUND
    if k >= 2:
        hi = np.argmax(log_vol)
        lo = np.argmin(log_vol)
        if log_vol[hi] == log_vol[lo]:
            return out
        out[hi] = HIGH_VOL
        out[lo] = LOW_VOL
    return out


class GmmRegimeResult(NamedTuple):
    """Mixture regime of the last bar and of every bar (UNKNOWN without features: warm-up, flat).

    ``label_probabilities`` is indexed by regime code 0..4 (posterior mass of the last bar's
    components with that label); ``confidence`` is that mass for ``label``. Per component:
    ``component_trend_stat`` is the mean trend statistic and ``component_volatility`` the
    geometric-mean realised volatility of one bar's log return (exp of the mean log volatility).
    """

    label: str
    confidence: float
    label_probabilities: tuple[float, ...]
    bar_regimes: IntArray
    component_regimes: tuple[str, ...]
    component_trend_stat: FloatArray
    component_volatility: FloatArray
    fit: GaussianMixtureFit


def classify_regime_gmm(
    close: npt.ArrayLike,
    k: int = 3,
    window: int = 20,
    trend_t: float = 1.0,
    covariance: str = "full",
    init: str = "kmeans++",
    seed: int = 0,
    max_iter: int = 1000,
    n_init: int = 4,
) -> GmmRegimeResult:
    """Fit a k-component mixture to the series' regime features and label each bar.

    Features (``regime_features_nb``) are z-scored before the fit (so ``reg_covar`` is
    negligible); component means are mapped back for ``map_components_nb``. ``n_init``
    k-means++ restarts (seeds seed..seed+n_init-1) guard against a poor local optimum. Needs at
    least 10*k bars with features; raises ValueError otherwise.
    """
    c = _as_float_array("close", close)
    if window < 2 or k < 1 or not (c > 0).all():
        raise ValueError("need window >= 2, k >= 1 and positive closes for log returns.")
    feats = regime_features_nb(c, int(window))
    valid: npt.NDArray[np.bool_] = np.all(np.isfinite(feats), axis=1)
    if valid.sum() < 10 * k:
        raise ValueError(f"need at least {10 * k} bars after the {window}-bar warm-up; pass a longer series.")
    mu = feats[valid].mean(axis=0)
    sd = feats[valid].std(axis=0)
    sd[sd == 0.0] = 1.0
    z = (feats[valid] - mu) / sd
    fit = fit_gaussian_mixture(
        z, k, covariance=covariance, init=init, seed=seed, max_iter=max_iter, n_init=n_init)
    means = fit.means * sd + mu
    comp = map_components_nb(means[:, 0].copy(), means[:, 1].copy(), float(trend_t))
    by_label = np.zeros((int(valid.sum()), 5))
    proba = predict_proba(fit, z)
    for j in range(k):
        by_label[:, comp[j]] += proba[:, j]
    bar = np.full(c.shape[0], UNKNOWN, dtype=np.int64)
    bar[valid] = np.argmax(by_label, axis=1)
    last = by_label[-1] if valid[-1] else np.zeros(5)
    code = int(bar[-1])
    return GmmRegimeResult(
        REGIME_NAMES[code], float(last[code]) if code != UNKNOWN else 0.0, tuple(float(v) for v in last),
        bar, tuple(REGIME_NAMES[j] for j in comp), means[:, 0].copy(), np.exp(means[:, 1]), fit,
    )
