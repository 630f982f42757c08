"""Regime classification (rules and Gaussian mixture) on synthetic series with known answers and real bars."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.indicators import atr_nb
from engine.normalize import percentile_rank_last_nb
from engine.regime import (
    BEAR_TREND,
    BULL_TREND,
    HIGH_VOL,
    LOW_VOL,
    RANGE_BOUND,
    REGIME_NAMES,
    UNKNOWN,
    classify_regime,
    classify_regime_gmm,
    classify_regime_nb,
    map_components_nb,
    regime_features_nb,
)

I = np.arange(300.0)  # noqa: E741 - the bar index, as in the formulas below
FLAT = 100.0 + 0.05 * np.sin(I)
RISING = 100.0 * 1.002**I
FALLING = 100.0 * 0.998**I
CALMING = 1.0 - 0.002 * I  # half-range shrinks: the last ATR is the lowest of the lookback
CYCLING = 1.0 + 0.3 * np.sin(2 * np.pi * (I + 10) / 60)  # last ATR mid-distribution
SPIKE = np.concatenate([1.0 - 0.001 * I[:-3], [5.0, 5.0, 5.0]])  # last bars' range explodes


def classify(close: np.ndarray, half_range: np.ndarray, **kw: Any) -> tuple[str, float]:
    res = classify_regime(close, close + half_range, close - half_range, **kw)
    assert 0.0 <= res.confidence <= 1.0
    return res.label, res.confidence


@pytest.mark.parametrize(
    ("close", "half_range", "label"),
    [
        (RISING, CALMING, "BULL_TREND"),
        (FALLING, CALMING, "BEAR_TREND"),
        (FLAT, CYCLING, "RANGE_BOUND"),
        (FLAT, CALMING, "LOW_VOL"),
        (FLAT, SPIKE, "HIGH_VOL"),
        (RISING, SPIKE, "HIGH_VOL"),  # volatility takes precedence over trend
    ],
)
def test_synthetic_series_get_their_regime(close: np.ndarray, half_range: np.ndarray, label: str) -> None:
    assert classify(close, half_range)[0] == label


def test_constants_and_names_agree() -> None:
    codes = (BULL_TREND, BEAR_TREND, RANGE_BOUND, HIGH_VOL, LOW_VOL, UNKNOWN)
    assert codes == tuple(range(6))
    assert REGIME_NAMES[HIGH_VOL] == "HIGH_VOL" and REGIME_NAMES[UNKNOWN] == "UNKNOWN"


def test_fewer_bars_than_slow_ma_is_unknown_with_zero_confidence() -> None:
    res = classify_regime(RISING[:49], RISING[:49] + 1, RISING[:49] - 1)
    assert (res.label, res.confidence) == ("UNKNOWN", 0.0)
    assert math.isnan(res.fast_ma)


def test_reported_values_match_their_definitions() -> None:
    close, high, low = RISING, RISING + CALMING, RISING - CALMING
    res = classify_regime(close, high, low, fast=10, slow=30, atr_period=7, atr_lookback=50)
    fast, slow = close[-10:].mean(), close[-30:].mean()
    atr = atr_nb(high, low, close, 7)
    assert res.fast_ma == pytest.approx(fast, rel=1e-12)
    assert res.slow_ma == pytest.approx(slow, rel=1e-12)
    assert res.ma_diff == pytest.approx(fast - slow, rel=1e-9)
    assert res.ma_diff_pct == pytest.approx((fast - slow) / slow * 100, rel=1e-9)
    assert res.current_atr == atr[-1]
    assert res.atr_percentile == percentile_rank_last_nb(atr, 50)


def test_trend_confidence_follows_documented_formula() -> None:
    # threshold 2%: confidence 0.5 at the threshold, 1.0 at twice the threshold
    res = classify_regime(RISING, RISING + CALMING, RISING - CALMING, trend_threshold_pct=2.0)
    assert res.label == "BULL_TREND"
    assert res.confidence == pytest.approx(0.5 + 0.5 * (res.ma_diff_pct - 2.0) / 2.0)
    weaker = classify_regime(RISING, RISING + CALMING, RISING - CALMING, trend_threshold_pct=2.9)
    assert 0.5 <= weaker.confidence < res.confidence
    assert classify(RISING, CALMING, trend_threshold_pct=1.0)[1] == 1.0  # 3% is beyond 2x


def test_low_and_high_vol_confidence() -> None:
    # last ATR is the lowest of 100 -> percentile 1: distance 9 of 10
    assert classify(FLAT, CALMING) == ("LOW_VOL", pytest.approx(0.5 + 0.5 * 9 / 10))
    assert classify(FLAT, SPIKE) == ("HIGH_VOL", 1.0)


def test_kernel_returns_integer_label() -> None:
    out = classify_regime_nb(FLAT, FLAT + CYCLING, FLAT - CYCLING, 20, 50, 14, 100, 1.0, 90.0, 10.0)
    assert out[0] == RANGE_BOUND and len(out) == 8


def test_real_bars_get_a_defined_regime(adbe: dict[str, np.ndarray]) -> None:
    res = classify_regime(adbe["close"], adbe["high"], adbe["low"])
    assert res.label in REGIME_NAMES[:5]
    assert 0.5 <= res.confidence <= 1.0
    assert 0.0 < res.atr_percentile <= 100.0


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        classify_regime(FLAT, FLAT[:-1], FLAT)


# ---- rule-based classifier: boundaries and invariances ------------------------------------


def test_threshold_values_belong_to_the_regime_they_start() -> None:
    # an ATR percentile exactly at the high threshold is HIGH_VOL with confidence 0.5
    base = classify_regime(FLAT, FLAT + CYCLING, FLAT - CYCLING)
    at = classify_regime(FLAT, FLAT + CYCLING, FLAT - CYCLING, high_vol_percentile=base.atr_percentile)
    assert (at.label, at.confidence) == ("HIGH_VOL", 0.5)
    low = classify_regime(FLAT, FLAT + CYCLING, FLAT - CYCLING, low_vol_percentile=base.atr_percentile)
    assert (low.label, low.confidence) == ("LOW_VOL", 0.5)


def test_trend_takes_precedence_over_low_volatility() -> None:
    res = classify_regime(RISING, RISING + CALMING, RISING - CALMING)
    assert res.atr_percentile <= 10.0 and res.label == "BULL_TREND"


def test_no_volatility_regime_while_the_atr_warms_up() -> None:
    # 10 bars, ATR period 14: the ATR and its percentile are NaN, so only the trend decides
    close = FLAT[:10]
    res = classify_regime(close, close + 1, close - 1, fast=2, slow=5, atr_period=14)
    assert res.label == "RANGE_BOUND" and math.isnan(res.atr_percentile)
    rising = 100.0 * 1.02 ** I[:10]  # 2% a bar: the 2-bar MA is 3% above the 5-bar MA
    res = classify_regime(rising, rising + 1, rising - 1, fast=2, slow=5, atr_period=14)
    assert res.label == "BULL_TREND"


def test_range_bound_confidence_is_the_smaller_slack() -> None:
    res = classify_regime(FLAT, FLAT + CYCLING, FLAT - CYCLING)
    trend_slack = (1.0 - abs(res.ma_diff_pct)) / 1.0
    vol_slack = min(res.atr_percentile - 10.0, 90.0 - res.atr_percentile) / 40.0
    assert res.confidence == pytest.approx(0.5 + 0.5 * min(1.0, min(trend_slack, vol_slack)))


def test_read_only_arrays_and_invalid_periods() -> None:
    close, half = RISING.copy(), CALMING.copy()
    close.setflags(write=False)
    half.setflags(write=False)
    assert classify_regime(close, close + half, close - half).label == "BULL_TREND"
    with pytest.raises(ValueError, match="positive bar counts"):
        classify_regime(RISING, RISING, RISING, fast=0)
    with pytest.raises(ValueError, match="1-D"):
        classify_regime(np.ones((60, 2)), np.ones((60, 2)), np.ones((60, 2)))


PRICES = st.lists(st.floats(-0.03, 0.03), min_size=60, max_size=160).map(
    lambda r: 100.0 * np.exp(np.cumsum(r)))


@settings(max_examples=100, deadline=None)
@given(PRICES, st.floats(0.01, 100.0), st.floats(0.001, 0.05))
def test_label_is_invariant_to_the_price_scale(close: np.ndarray, scale: float, spread: float) -> None:
    high, low = close * (1 + spread), close * (1 - spread)
    a = classify_regime(close, high, low)
    b = classify_regime(close * scale, high * scale, low * scale)
    assert a.label == b.label and a.label != "UNKNOWN"
    assert a.confidence == pytest.approx(b.confidence, abs=1e-6) and 0.5 <= a.confidence <= 1.0


# ---- Gaussian mixture classifier ----------------------------------------------------------


def segments(*parts: tuple[int, float, float], seed: int = 0) -> np.ndarray:
    """Closes from consecutive (bars, drift, volatility) log-return segments."""
    rng = np.random.default_rng(seed)
    r = np.concatenate([rng.normal(mu, sigma, n) for n, mu, sigma in parts])
    return 100.0 * np.exp(np.cumsum(np.concatenate([[0.0], r])))


def test_regime_features_are_trend_t_and_log_volatility() -> None:
    close = segments((200, 0.001, 0.01))
    feats = regime_features_nb(close, 20)
    r = pd.Series(np.log(close)).diff()
    mean, std = r.rolling(20).mean()[20:], r.rolling(20).std()[20:]
    np.testing.assert_allclose(feats[20:, 0], mean / std * np.sqrt(20), rtol=1e-9)
    np.testing.assert_allclose(feats[20:, 1], np.log(std), rtol=1e-9)
    assert np.isnan(feats[:20]).all()
    flat = regime_features_nb(np.full(30, 50.0), 20)
    assert np.isnan(flat).all()  # no volatility, no features


@pytest.mark.parametrize(
    ("trend", "vol", "expected"),
    [
        ([2.0, 0.0, 0.0], [-6.0, -4.0, -7.0], ["BULL_TREND", "HIGH_VOL", "LOW_VOL"]),
        ([-1.5, 0.0, 0.0, 0.3], [-6.0, -4.0, -7.0, -5.0],
         ["BEAR_TREND", "HIGH_VOL", "LOW_VOL", "RANGE_BOUND"]),
        ([2.0, -2.0], [-6.0, -4.0], ["LOW_VOL", "HIGH_VOL"]),
        ([2.2], [-6.0], ["BULL_TREND"]),
        ([0.45], [-6.0], ["RANGE_BOUND"]),
        ([1.0], [-6.0], ["RANGE_BOUND"]),  # exactly at trend_t is not beyond it
        ([2.0, 2.0], [-6.0, -6.0], ["BULL_TREND", "BULL_TREND"]),  # equal vols: trend rule
    ],
)
def test_component_to_label_mapping(trend: list[float], vol: list[float], expected: list[str]) -> None:
    codes = map_components_nb(np.array(trend), np.array(vol), 1.0)
    assert [REGIME_NAMES[c] for c in codes] == expected


REGIMES_SERIES = segments((700, 0.0, 0.0008), (700, 0.0, 0.012), (700, 0.0015, 0.003))


def test_mixture_finds_calm_volatile_and_trending_stretches() -> None:
    res = classify_regime_gmm(REGIMES_SERIES, k=3, window=20)
    assert sorted(res.component_regimes) == ["BULL_TREND", "HIGH_VOL", "LOW_VOL"]
    bars = res.bar_regimes
    # away from the window-long transitions, each stretch gets its own regime
    assert np.mean(bars[40:700] == LOW_VOL) > 0.95
    assert np.mean(bars[740:1400] == HIGH_VOL) > 0.95
    assert np.mean(bars[1440:] == BULL_TREND) > 0.9
    assert res.label == REGIME_NAMES[bars[-1]]
    assert res.confidence == max(res.label_probabilities)
    assert sum(res.label_probabilities) == pytest.approx(1.0)
    assert (bars[:20] == UNKNOWN).all() and (bars[20:] != UNKNOWN).all()


def test_mixture_regime_is_reproducible_and_price_scale_free() -> None:
    a = classify_regime_gmm(REGIMES_SERIES, seed=3)
    b = classify_regime_gmm(REGIMES_SERIES * 7.5, seed=3)
    np.testing.assert_array_equal(a.bar_regimes, b.bar_regimes)
    np.testing.assert_allclose(np.sort(a.component_volatility), np.sort(b.component_volatility), rtol=1e-6)
    q = classify_regime_gmm(REGIMES_SERIES, init="quantile", covariance="diag")
    assert np.mean(q.bar_regimes == a.bar_regimes) > 0.9


def test_mixture_regime_on_real_bars(adbe: dict[str, np.ndarray]) -> None:
    res = classify_regime_gmm(adbe["close"], k=3)
    assert res.fit.converged and res.label in REGIME_NAMES[:5]
    assert 0.0 < res.confidence <= 1.0
    assert {"HIGH_VOL", "LOW_VOL"} <= set(res.component_regimes)
    hi = res.component_regimes.index("HIGH_VOL")
    assert res.component_volatility[hi] == res.component_volatility.max()
    assert len(res.bar_regimes) == len(adbe["close"])


def test_mixture_regime_rejects_unusable_series() -> None:
    with pytest.raises(ValueError, match="longer series"):
        classify_regime_gmm(REGIMES_SERIES[:40], k=3)
    with pytest.raises(ValueError, match="positive closes"):
        classify_regime_gmm(np.concatenate([REGIMES_SERIES, [0.0]]))
