"""Model option quotes (BACKTEST): realised vol against numpy on real bars, the skew's direction, the mid
at the model vol (the engine's implied vol gets it back), the spread's rules, put-call parity of mids,
and NaN for anything that cannot be priced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.options import bs_greeks, implied_vol
from engine.vol_model import VOL_FLOOR, model_quotes, realized_vol_nb, skewed_vol_nb

SAMPLE = Path(__file__).resolve().parents[3] / "cream" / "data" / "sample"

RATE = 0.04
QUOTE = {"atm_vol": 0.25, "skew": 1.0, "rate": RATE, "spread_frac": 0.04, "min_half_spread": 0.025}


def test_realized_vol_matches_numpy_on_real_daily_closes() -> None:
    close = pd.read_csv(SAMPLE / "COST.1d.csv.gz")["close"].to_numpy(dtype=np.float64)
    for window in (10, 20, 60):
        expected = np.std(np.diff(np.log(close[-window - 1:])), ddof=1) * np.sqrt(252.0)
        assert realized_vol_nb(close, window) == pytest.approx(expected, rel=1e-12)
    assert 0.05 < realized_vol_nb(close, 20) < 1.0


def test_realized_vol_needs_window_plus_one_good_closes() -> None:
    assert np.isnan(realized_vol_nb(np.array([100.0, 101.0, 102.0]), 3))
    assert np.isnan(realized_vol_nb(np.array([100.0, np.nan, 102.0, 101.0]), 3))
    assert np.isnan(realized_vol_nb(np.array([100.0, 0.0, 102.0, 101.0]), 3))
    assert realized_vol_nb(np.array([np.nan, 100.0, 101.0, 100.0, 101.0]), 3) > 0


def test_skew_raises_low_strikes_and_has_a_floor() -> None:
    atm = skewed_vol_nb(0.25, 1.0, 100.0, 100.0)
    assert atm == 0.25
    assert skewed_vol_nb(0.25, 1.0, 100.0, 90.0) > atm > skewed_vol_nb(0.25, 1.0, 100.0, 110.0)
    assert skewed_vol_nb(0.25, 0.0, 100.0, 70.0) == 0.25
    assert skewed_vol_nb(0.25, 5.0, 100.0, 400.0) == VOL_FLOOR
    assert np.isnan(skewed_vol_nb(0.25, 1.0, 100.0, 0.0)) and np.isnan(skewed_vol_nb(np.nan, 1.0, 100.0, 90.0))


def test_mid_is_black_scholes_at_the_model_vol() -> None:
    strikes = np.array([80.0, 95.0, 100.0, 105.0, 120.0])
    q = model_quotes(100.0, strikes, 30 / 365, [0, 0, 1, 1, 1], **QUOTE)
    g = bs_greeks(100.0, strikes, 30 / 365, q.vol, RATE, 0.0, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(q.mid, g.price, rtol=1e-15)
    np.testing.assert_allclose(q.delta, g.delta, rtol=1e-15)
    np.testing.assert_allclose(q.vega, g.vega, rtol=1e-15)
    np.testing.assert_allclose(implied_vol(q.mid, 100.0, strikes, 30 / 365, RATE, 0.0, [0, 0, 1, 1, 1]), q.vol,
                               atol=1e-9)


def test_spread_is_a_fraction_of_the_price_with_a_minimum() -> None:
    q = model_quotes(100.0, [100.0, 150.0], 30 / 365, [1, 1], **QUOTE)
    assert q.ask[0] - q.bid[0] == pytest.approx(0.04 * q.mid[0])  # at the money: 4% of the price
    assert q.ask[1] - q.mid[1] == pytest.approx(0.025)  # far out of the money: the minimum half-spread
    assert q.bid[1] == max(q.mid[1] - 0.025, 0.0)
    assert np.all(q.bid <= q.mid) and np.all(q.mid < q.ask)


@settings(max_examples=200, deadline=None)
@given(s=st.floats(5, 2000), m=st.floats(0.5, 1.5), days=st.integers(1, 730), vol=st.floats(0.05, 1.5),
       skew=st.floats(-2, 2))
def test_mids_keep_put_call_parity(s: float, m: float, days: int, vol: float, skew: float) -> None:
    t = days / 365
    q = model_quotes(s, [s * m, s * m], t, [1, 0], **{**QUOTE, "atm_vol": vol, "skew": skew})
    assert q.vol[0] == q.vol[1]  # one vol per strike, whichever the right
    assert q.mid[0] - q.mid[1] == pytest.approx(s - s * m * np.exp(-RATE * t), abs=1e-9 * s)


@pytest.mark.parametrize("bad", [{"spot": np.nan}, {"spot": 0.0}, {"strike": -1.0}, {"t_years": 0.0},
                                 {"t_years": np.inf}])
def test_what_cannot_be_priced_is_nan_everywhere(bad: dict[str, float]) -> None:
    args = {"spot": 100.0, "strike": 100.0, "t_years": 0.1, "is_call": 1, **bad}
    q = model_quotes(**args, **QUOTE)
    assert all(np.isnan(row[0]) for row in q)


def test_a_bad_atm_vol_is_nan_everywhere() -> None:
    q = model_quotes(100.0, 100.0, 0.1, 1, **{**QUOTE, "atm_vol": np.nan})
    assert all(np.isnan(row[0]) for row in q)
