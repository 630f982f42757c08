"""Indicators against straightforward pure-Python references on real ADBE 5-minute bars."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from engine.indicators import (
    atr_nb,
    bollinger_nb,
    ema_nb,
    percentile_rank_last_nb,
    rsi_nb,
    sma_nb,
    stochastic_nb,
    true_range_nb,
    volume_sma_nb,
    zscore_last_nb,
)

NAN = float("nan")
TOL = {"rtol": 1e-9, "atol": 1e-9}
PERIODS = [1, 2, 14, 50]


# --- references: loops and textbook formulas -------------------------------------------------

def ref_sma(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    alpha = 2 / (n + 1)
    out[n - 1] = sum(x[:n]) / n
    for i in range(n, len(x)):
        out[i] = out[i - 1] + alpha * (x[i] - out[i - 1])
    return out


def ref_rsi(c: list[float], n: int) -> list[float]:
    changes = [c[i] - c[i - 1] for i in range(1, len(c))]
    gains = [max(d, 0.0) for d in changes]
    losses = [max(-d, 0.0) for d in changes]
    out = [NAN] * len(c)
    avg_g, avg_l = sum(gains[:n]) / n, sum(losses[:n]) / n
    for i in range(n, len(c)):
        if i > n:
            avg_g = (avg_g * (n - 1) + gains[i - 1]) / n
            avg_l = (avg_l * (n - 1) + losses[i - 1]) / n
        out[i] = 100.0 if avg_l == 0 else 100 - 100 / (1 + avg_g / avg_l)
    return out


def ref_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    tr = [NAN] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]
    out = [NAN] * len(c)
    out[n] = statistics.fmean(tr[1 : n + 1])
    for i in range(n + 1, len(c)):
        out[i] = (out[i - 1] * (n - 1) + tr[i]) / n
    return out


def ref_bollinger(c: list[float], n: int, k: float) -> tuple[list[float], list[float], list[float]]:
    mid, up, low = [NAN] * len(c), [NAN] * len(c), [NAN] * len(c)
    for i in range(n - 1, len(c)):
        w = c[i - n + 1 : i + 1]
        m, sd = statistics.fmean(w), statistics.pstdev(w)
        mid[i], up[i], low[i] = m, m + k * sd, m - k * sd
    return mid, up, low


def ref_stoch(h: list[float], lo: list[float], c: list[float], kp: int) -> list[float]:
    out = [NAN] * len(c)
    for i in range(kp - 1, len(c)):
        hh, ll = max(h[i - kp + 1 : i + 1]), min(lo[i - kp + 1 : i + 1])
        out[i] = 50.0 if hh == ll else (c[i] - ll) / (hh - ll) * 100
    return out


def close_list(adbe: dict[str, np.ndarray]) -> list[float]:
    return adbe["close"].tolist()


# --- tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", PERIODS)
def test_sma_and_volume_sma_match_reference(adbe: dict[str, np.ndarray], n: int) -> None:
    np.testing.assert_allclose(sma_nb(adbe["close"], n), ref_sma(close_list(adbe), n), **TOL)
    np.testing.assert_allclose(volume_sma_nb(adbe["volume"], n), ref_sma(adbe["volume"].tolist(), n), **TOL)
    assert np.isnan(sma_nb(adbe["close"], n)[: n - 1]).all()


@pytest.mark.parametrize("n", PERIODS)
def test_ema_matches_reference_seeded_with_sma(adbe: dict[str, np.ndarray], n: int) -> None:
    out = ema_nb(adbe["close"], n)
    np.testing.assert_allclose(out, ref_ema(close_list(adbe), n), **TOL)
    assert out[n - 1] == pytest.approx(float(np.mean(adbe["close"][:n])), rel=1e-12)


@pytest.mark.parametrize("n", PERIODS)
def test_rsi_matches_wilder_reference(adbe: dict[str, np.ndarray], n: int) -> None:
    out = rsi_nb(adbe["close"], n)
    np.testing.assert_allclose(out, ref_rsi(close_list(adbe), n), **TOL)
    assert np.isnan(out[:n]).all() and not np.isnan(out[n:]).any()


def test_rsi_hand_values() -> None:
    close = np.array([10.0, 11.0, 10.5, 11.5, 11.0])
    out = rsi_nb(close, 2)
    # first avg gain (1+0)/2=0.5, loss (0+0.5)/2=0.25 -> 66.67; then gain 0.75, loss 0.125 -> 85.71
    np.testing.assert_allclose(out[2:4], [100 * 0.5 / 0.75, 100 * 0.75 / 0.875], rtol=1e-12)
    assert rsi_nb(np.arange(1.0, 20.0), 14)[-1] == 100.0  # no losses


@pytest.mark.parametrize("n", PERIODS)
def test_atr_matches_wilder_reference(adbe: dict[str, np.ndarray], n: int) -> None:
    h, lo, c = adbe["high"], adbe["low"], adbe["close"]
    out = atr_nb(h, lo, c, n)
    np.testing.assert_allclose(out, ref_atr(h.tolist(), lo.tolist(), c.tolist(), n), **TOL)
    assert np.isnan(out[:n]).all() and not np.isnan(out[n:]).any()
    assert math.isnan(true_range_nb(h, lo, c)[0])


def test_atr_hand_gap_uses_previous_close() -> None:
    high = np.array([10.0, 12.0, 15.0])
    low = np.array([9.0, 11.0, 14.5])
    close = np.array([9.5, 11.5, 15.0])
    # TR1 = max(1, 2.5, 1.5) = 2.5; TR2 = max(0.5, 3.5, 3.0) = 3.5
    np.testing.assert_allclose(atr_nb(high, low, close, 2), [NAN, NAN, 3.0])
    np.testing.assert_allclose(atr_nb(high, low, close, 1), [NAN, 2.5, 3.5])


@pytest.mark.parametrize(("n", "k"), [(2, 1.0), (20, 2.0), (50, 2.5)])
def test_bollinger_matches_population_std_reference(adbe: dict[str, np.ndarray], n: int, k: float) -> None:
    got = bollinger_nb(adbe["close"], n, k)
    for g, r in zip(got, ref_bollinger(close_list(adbe), n, k)):
        np.testing.assert_allclose(g, r, **TOL)


@pytest.mark.parametrize(("kp", "dp"), [(1, 1), (5, 3), (14, 3), (50, 10)])
def test_stochastic_matches_reference(adbe: dict[str, np.ndarray], kp: int, dp: int) -> None:
    h, lo, c = adbe["high"], adbe["low"], adbe["close"]
    pct_k, pct_d = stochastic_nb(h, lo, c, kp, dp)
    ref_k = ref_stoch(h.tolist(), lo.tolist(), c.tolist(), kp)
    np.testing.assert_allclose(pct_k, ref_k, **TOL)
    ref_d = [NAN if i < kp + dp - 2 else sum(ref_k[i - dp + 1 : i + 1]) / dp for i in range(len(c))]
    np.testing.assert_allclose(pct_d, ref_d, **TOL)
    assert np.nanmin(pct_k) >= 0.0 and np.nanmax(pct_k) <= 100.0


@pytest.mark.parametrize("window", [2, 20, 100, 5000])
def test_zscore_and_percentile_rank_of_last_value(adbe: dict[str, np.ndarray], window: int) -> None:
    x = adbe["close"].copy()
    x[-7] = np.nan  # NaNs inside the window are ignored
    w = [v for v in x[-window:].tolist() if not math.isnan(v)]
    last = w[-1]
    z = (last - statistics.fmean(w)) / statistics.pstdev(w)
    rank = 100 * sum(v <= last for v in w) / len(w)
    assert zscore_last_nb(x, window) == pytest.approx(z, rel=1e-9)
    assert percentile_rank_last_nb(x, window) == pytest.approx(rank, rel=1e-12)


def test_zscore_and_percentile_rank_undefined_cases() -> None:
    assert math.isnan(zscore_last_nb(np.array([1.0, 2.0, 3.0]), 1))  # one value
    assert math.isnan(zscore_last_nb(np.array([5.0, 5.0, 5.0]), 3))  # zero std
    assert math.isnan(zscore_last_nb(np.array([1.0, np.nan, 2.0, np.nan]), 4))  # last is NaN
    assert math.isnan(percentile_rank_last_nb(np.array([1.0, np.nan]), 2))
    assert percentile_rank_last_nb(np.array([3.0, 1.0, 2.0, 4.0, 2.0]), 4) == 75.0


def test_short_input_is_all_warm_up() -> None:
    x = np.array([1.0, 2.0, 3.0])
    assert np.isnan(sma_nb(x, 4)).all() and np.isnan(ema_nb(x, 4)).all()
    assert np.isnan(rsi_nb(x, 3)).all() and np.isnan(atr_nb(x, x, x, 3)).all()
