"""Regime classification on synthetic series with a known answer, plus a real-data smoke check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from engine.indicators import atr_nb, percentile_rank_last_nb
from engine.regime import (
    BEAR_TREND,
    BULL_TREND,
    HIGH_VOL,
    LOW_VOL,
    RANGE_BOUND,
    REGIME_NAMES,
    UNKNOWN,
    classify_regime,
    classify_regime_nb,
)

I = np.arange(300.0)
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
