"""Indicators against TA-Lib (real ADBE 5-minute bars and random series) and hand references."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine import indicators as ind
from engine.indicators import (
    atr_nb,
    bollinger_nb,
    ema_nb,
    rsi_nb,
    sma_nb,
    stochastic_nb,
    true_range_nb,
    volume_sma_nb,
)

NAN = float("nan")
TOL = {"rtol": 1e-9, "atol": 1e-9}
PERIODS = [2, 5, 14, 50]


def random_bars(seed: int, size: int = 5000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.standard_normal(size))
    return {"close": close, "high": close + rng.random(size), "low": close - rng.random(size),
            "volume": rng.integers(100, 10_000, size).astype(np.float64)}


@pytest.fixture(params=["adbe", "random"])
def bars(request: pytest.FixtureRequest, adbe: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return adbe if request.param == "adbe" else random_bars(7)


# --- TA-Lib equality (values and NaN warm-up positions) ---------------------------------------

@pytest.mark.parametrize("n", PERIODS)
def test_moving_averages_match_talib(bars: dict[str, np.ndarray], n: int) -> None:
    np.testing.assert_allclose(sma_nb(bars["close"], n), talib.SMA(bars["close"], n), **TOL)
    np.testing.assert_allclose(ema_nb(bars["close"], n), talib.EMA(bars["close"], n), **TOL)
    np.testing.assert_allclose(volume_sma_nb(bars["volume"], n), talib.SMA(bars["volume"], n), **TOL)


@pytest.mark.parametrize("n", PERIODS)
def test_rsi_and_atr_match_talib(bars: dict[str, np.ndarray], n: int) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    np.testing.assert_allclose(rsi_nb(c, n), talib.RSI(c, n), **TOL)
    np.testing.assert_allclose(atr_nb(h, lo, c, n), talib.ATR(h, lo, c, n), **TOL)


@pytest.mark.parametrize(("n", "k"), [(2, 1.0), (5, 2.0), (20, 2.0), (50, 2.5)])
def test_bollinger_matches_talib(bars: dict[str, np.ndarray], n: int, k: float) -> None:
    upper, middle, lower = talib.BBANDS(bars["close"], n, k, k, 0)
    got = bollinger_nb(bars["close"], n, k)
    for g, r in zip(got, (middle, upper, lower)):
        np.testing.assert_allclose(g, r, **TOL)


@pytest.mark.parametrize(("kp", "dp", "slowing"), [(5, 3, 3), (14, 3, 3), (14, 3, 1), (50, 10, 5), (1, 1, 1)])
def test_stochastic_matches_talib_stoch_with_sma(bars: dict[str, np.ndarray], kp: int, dp: int, slowing: int) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    ref_k, ref_d = talib.STOCH(h, lo, c, kp, slowing, 0, dp, 0)
    pct_k, pct_d = stochastic_nb(h, lo, c, kp, dp, slowing)
    np.testing.assert_allclose(pct_k, ref_k, **TOL)
    np.testing.assert_allclose(pct_d, ref_d, **TOL)


def test_leading_nans_are_skipped_as_talib_does() -> None:
    b = random_bars(3, 300)
    for key in ("close", "high", "low"):
        b[key][:7] = np.nan
    h, lo, c = b["high"], b["low"], b["close"]
    np.testing.assert_allclose(ema_nb(c, 10), talib.EMA(c, 10), **TOL)
    np.testing.assert_allclose(rsi_nb(c, 14), talib.RSI(c, 14), **TOL)
    np.testing.assert_allclose(atr_nb(h, lo, c, 14), talib.ATR(h, lo, c, 14), **TOL)
    np.testing.assert_allclose(stochastic_nb(h, lo, c, 14, 3, 3)[1], talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)[1], **TOL)


def test_flat_series_rsi_is_zero_and_stochastic_zero_as_talib() -> None:
    flat = np.full(40, 50.0)
    assert np.all(rsi_nb(flat, 14)[14:] == 0.0) and np.all(talib.RSI(flat, 14)[14:] == 0.0)
    assert np.all(stochastic_nb(flat, flat, flat, 5, 3, 3)[0][8:] == 0.0)
    assert rsi_nb(np.arange(1.0, 20.0), 14)[-1] == 100.0  # no losses
    mid, up, low = bollinger_nb(np.full(30, 0.1), 5, 2.0)
    assert np.all(up[4:] == mid[4:]) and np.all(low[4:] == mid[4:])  # std exactly 0


# --- conventions TA-Lib does not cover (documented differences) -------------------------------

def test_period_one_is_defined_where_talib_rejects_it() -> None:
    close = np.array([10.0, 11.0, 10.5, 10.5])
    np.testing.assert_allclose(rsi_nb(close, 1), [NAN, 100.0, 0.0, 0.0])
    mid, up, _low = bollinger_nb(close, 1, 2.0)
    np.testing.assert_array_equal(mid, close)
    np.testing.assert_array_equal(up, close)


def test_a_nan_inside_the_data_spoils_only_windows_that_contain_it() -> None:
    x = random_bars(5, 60)["close"]
    x[30] = np.nan
    s = sma_nb(x, 5)
    assert np.isnan(s[30:35]).all() and not np.isnan(s[35:]).any()
    np.testing.assert_allclose(s[35:], talib.SMA(x[31:], 5)[4:], **TOL)
    mid, _, _ = bollinger_nb(x, 5, 2.0)
    assert np.isnan(mid[30:35]).all() and not np.isnan(mid[35:]).any()
    assert np.isnan(ema_nb(x, 5)[30:]).all()  # recursive: carried forward, as TA-Lib


def test_rsi_and_atr_hand_values() -> None:
    close = np.array([10.0, 11.0, 10.5, 11.5, 11.0])
    # first avg gain (1+0)/2=0.5, loss (0+0.5)/2=0.25 -> 66.67; then gain 0.75, loss 0.125 -> 85.71
    np.testing.assert_allclose(rsi_nb(close, 2)[2:4], [100 * 0.5 / 0.75, 100 * 0.75 / 0.875], rtol=1e-12)
    high, low, c = np.array([10.0, 12.0, 15.0]), np.array([9.0, 11.0, 14.5]), np.array([9.5, 11.5, 15.0])
    # TR1 = max(1, 2.5, 1.5) = 2.5; TR2 = max(0.5, 3.5, 3.0) = 3.5
    np.testing.assert_allclose(atr_nb(high, low, c, 2), [NAN, NAN, 3.0])
    np.testing.assert_allclose(atr_nb(high, low, c, 1), [NAN, 2.5, 3.5])
    assert math.isnan(true_range_nb(high, low, c)[0])


def test_bollinger_std_is_accurate_after_a_volatile_spell() -> None:
    rng = np.random.default_rng(11)
    x = np.concatenate([1e4 + 1e3 * rng.standard_normal(3000), 1e4 + 1e-3 * rng.standard_normal(3000)])
    mid, up, _ = bollinger_nb(x, 20, 1.0)
    exact = np.array([statistics.pstdev(x[i - 19 : i + 1].tolist()) for i in range(19, x.shape[0])])
    np.testing.assert_allclose((up - mid)[19:], exact, rtol=1e-7)


def test_short_input_is_all_warm_up() -> None:
    x = np.array([1.0, 2.0, 3.0])
    assert np.isnan(sma_nb(x, 4)).all() and np.isnan(ema_nb(x, 4)).all()
    assert np.isnan(rsi_nb(x, 3)).all() and np.isnan(atr_nb(x, x, x, 3)).all()
    assert np.isnan(stochastic_nb(x, x, x, 2, 2, 2)[1]).all()


def test_typed_wrappers_validate() -> None:
    x = random_bars(1, 100)
    np.testing.assert_array_equal(ind.rsi(x["close"].tolist(), 14), rsi_nb(x["close"], 14))
    assert ind.stochastic(x["high"], x["low"], x["close"], 14, 3, 3).k.shape == (100,)
    assert ind.bollinger(x["close"]).upper.shape == (100,)
    with pytest.raises(ValueError, match="integer >= 1"):
        ind.sma(x["close"], 0)
    with pytest.raises(ValueError, match="equal length"):
        ind.atr(x["high"], x["low"][:-1], x["close"])


# --- properties -------------------------------------------------------------------------------

prices = arrays(np.float64, st.integers(1, 120),
                elements=st.floats(1.0, 1e4, allow_nan=False, allow_infinity=False))


@settings(max_examples=200, deadline=None)
@given(x=prices, n=st.integers(1, 30))
def test_property_ranges_and_ordering(x: np.ndarray, n: int) -> None:
    r = rsi_nb(x, n)
    assert np.all((r[~np.isnan(r)] >= 0.0) & (r[~np.isnan(r)] <= 100.0))
    mid, up, low = bollinger_nb(x, n, 2.0)
    ok = ~np.isnan(mid)
    assert np.all(up[ok] >= mid[ok]) and np.all(mid[ok] >= low[ok])
    k, d = stochastic_nb(x * 1.01, x * 0.99, x, n, 3, 3)
    for v in (k, d):
        assert np.all((v[~np.isnan(v)] >= -1e-9) & (v[~np.isnan(v)] <= 100.0 + 1e-9))
    np.testing.assert_allclose(sma_nb(np.full(x.shape[0], x[0]), n)[n - 1 :], x[0], rtol=1e-12)
