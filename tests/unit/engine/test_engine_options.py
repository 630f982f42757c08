"""Black-Scholes price, Greeks and implied vol against QuantLib (grid and a real option chain),
edge cases, position Greeks, OCC symbol parsing and no-arbitrage properties."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.occ import OccContract, occ_arrays, parse_occ, years_to_expiry
from engine.options import (
    Greeks,
    bs_greeks,
    implied_vol,
    norm_cdf_fast_nb,
    norm_cdf_nb,
    portfolio_greeks,
    strategy_greeks,
)
from tests.shared_data import OPTION_CHAIN, require

ql = pytest.importorskip("QuantLib")

CHAIN_PATH = OPTION_CHAIN
AS_OF = date(2024, 7, 31)
RATE = 0.05
RTOL, ATOL = 1e-9, 1e-10


class QlPricer:
    """QuantLib analytic European pricing on flat curves, Actual/365 Fixed, as of ``AS_OF``."""

    def __init__(self) -> None:
        self.today = ql.Date(AS_OF.day, AS_OF.month, AS_OF.year)
        ql.Settings.instance().evaluationDate = self.today
        dc = ql.Actual365Fixed()
        self.spot, self.rate, self.div, self.vol = (ql.SimpleQuote(0.0) for _ in range(4))
        self.process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(self.spot),
            ql.YieldTermStructureHandle(ql.FlatForward(self.today, ql.QuoteHandle(self.div), dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(self.today, ql.QuoteHandle(self.rate), dc)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(self.today, ql.NullCalendar(), ql.QuoteHandle(self.vol), dc)),
        )
        self.engine = ql.AnalyticEuropeanEngine(self.process)

    def option(self, s: float, k: float, days: int, vol: float, r: float, q: float, call: bool) -> object:
        for quote, value in ((self.spot, s), (self.vol, vol), (self.rate, r), (self.div, q)):
            quote.setValue(value)
        right = ql.Option.Call if call else ql.Option.Put
        opt = ql.EuropeanOption(ql.PlainVanillaPayoff(right, k), ql.EuropeanExercise(self.today + days))
        opt.setPricingEngine(self.engine)
        return opt

    def greeks(self, *args: object) -> tuple[float, ...]:
        """(price, delta, gamma, theta per day, vega per 1 vol point, rho per 1% rate)."""
        o = self.option(*args)  # type: ignore[arg-type]
        return o.NPV(), o.delta(), o.gamma(), o.thetaPerDay(), o.vega() / 100.0, o.rho() / 100.0


@pytest.fixture(scope="module")
def pricer() -> QlPricer:
    return QlPricer()


@pytest.fixture(scope="module")
def chain() -> pd.DataFrame:
    """The real chain with parsed OCC fields, an inferred spot per underlying/expiry and t in years."""
    df = pd.read_csv(require(CHAIN_PATH))
    parts = [parse_occ(s) for s in df["contractSymbol"]]
    df["underlying"] = [p.underlying for p in parts]
    df["expiry"] = [p.expiry for p in parts]
    df["is_call"] = [p.is_call for p in parts]
    df["parsed_strike"] = [p.strike for p in parts]
    df["days"] = [(p.expiry - AS_OF).days for p in parts]
    df["mid"] = (df["bid"] + df["ask"]) / 2
    spots = {key: _parity_spot(g) for key, g in df.groupby(["underlying", "expiry"])}
    df["spot"] = [spots[(u, e)] for u, e in zip(df["underlying"], df["expiry"])]
    return df


def _parity_spot(g: pd.DataFrame) -> float:
    """Spot from put-call parity S = C - P + K e^-rT at the quoted strike where |C - P| is smallest;
    the strike median when no strike has both quotes."""
    quoted = g[(g["bid"] > 0) & (g["ask"] > 0)]
    calls = quoted[quoted["is_call"]].set_index("strike")["mid"]
    puts = quoted[~quoted["is_call"]].set_index("strike")["mid"]
    both = calls.index.intersection(puts.index)
    if len(both) == 0:
        return float(g["strike"].median())
    diff = (calls[both] - puts[both]).groupby(level=0).first()
    k = float(diff.abs().idxmin())
    t = g["days"].iloc[0] / 365.0
    return float(diff[k] + k * math.exp(-RATE * t))


def _grid() -> list[tuple[float, float, int, float, float, float, bool]]:
    return list(itertools.product(
        (80.0, 100.0, 120.0), (50.0, 90.0, 100.0, 110.0, 200.0), (1, 30, 365, 1000),
        (0.05, 0.2, 0.8, 2.0), (-0.01, 0.0, 0.05), (0.0, 0.03), (True, False)))


def _assert_greeks_match(ours: Greeks, ref: np.ndarray) -> None:
    for j, name in enumerate(Greeks._fields):
        np.testing.assert_allclose(getattr(ours, name), ref[:, j], rtol=RTOL, atol=ATOL, err_msg=name)


def test_grid_matches_quantlib(pricer: QlPricer) -> None:
    grid = _grid()
    ref = np.array([pricer.greeks(*row) for row in grid])
    s, k, days, vol, r, q, call = (np.array(c) for c in zip(*grid))
    _assert_greeks_match(bs_greeks(s, k, days / 365.0, vol, r, q, call), ref)


def test_chain_symbols_all_parse_consistently(chain: pd.DataFrame) -> None:
    assert len(chain) == 3003
    np.testing.assert_array_equal(chain["parsed_strike"], chain["strike"])
    np.testing.assert_array_equal(chain["is_call"], chain["optionType"] == "C")
    arrays = occ_arrays(list(chain["contractSymbol"]))
    np.testing.assert_array_equal(arrays.strike, chain["strike"])
    np.testing.assert_array_equal(arrays.is_call, chain["optionType"] == "C")
    assert set(arrays.expiry_ordinal) == {date(2024, 8, d).toordinal() for d in (1, 2, 16)}
    np.testing.assert_allclose(years_to_expiry(arrays.expiry_ordinal, AS_OF), chain["days"] / 365.0)


def test_chain_spots_are_plausible(chain: pd.DataFrame) -> None:
    spot = chain.groupby("underlying")["spot"].first()
    assert 210 < spot["AAPL"] < 230 and 540 < spot["SPY"] < 560  # AAPL ~222, SPY ~550 on 2024-07-31


def test_chain_greeks_match_quantlib(chain: pd.DataFrame, pricer: QlPricer) -> None:
    c = chain[chain["impliedVolatility"] > 0]
    assert len(c) == len(chain)
    rows = zip(c["spot"], c["strike"], c["days"], c["impliedVolatility"], c["is_call"])
    ref = np.array([pricer.greeks(s, k, int(d), v, RATE, 0.0, bool(cp)) for s, k, d, v, cp in rows])
    ours = bs_greeks(c["spot"], c["strike"], c["days"] / 365.0, c["impliedVolatility"], RATE, 0.0,
                     c["is_call"].to_numpy())
    _assert_greeks_match(ours, ref)


def test_chain_implied_vol_round_trip_and_quantlib(chain: pd.DataFrame, pricer: QlPricer) -> None:
    c = chain[chain["impliedVolatility"].between(0.01, 3.0)].copy()
    prices, vegas, ql_ivs = [], [], []
    for s, k, d, v, cp in zip(c["spot"], c["strike"], c["days"], c["impliedVolatility"], c["is_call"]):
        opt = pricer.option(s, k, int(d), v, RATE, 0.0, bool(cp))
        prices.append(opt.NPV())
        vegas.append(opt.vega() / 100.0)
        if vegas[-1] > 1e-3:
            ql_ivs.append(opt.impliedVolatility(prices[-1], pricer.process, 1e-13, 1000, 1e-4, 5.0))
        else:
            ql_ivs.append(np.nan)
    c["price"], c["vega"], c["ql_iv"] = prices, vegas, ql_ivs
    c = c[c["vega"] > 1e-3]
    assert len(c) > 1000
    iv = implied_vol(c["price"], c["spot"], c["strike"], c["days"] / 365.0, RATE, 0.0, c["is_call"].to_numpy())
    np.testing.assert_allclose(iv, c["impliedVolatility"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(iv, c["ql_iv"], rtol=0, atol=1e-6)


def test_implied_vol_converges_on_the_vol_where_vega_is_small(chain: pd.DataFrame, pricer: QlPricer) -> None:
    """Vega down to 1e-5 per unit of vol: a price residual of 1e-10 would still be 1e-5 of vol there, so the
    solver stops on the vol. Kept to prices whose last digit can carry the vol (one ulp of the price is at
    most 1e-9 of vol: deeper in the money the price itself cannot tell vols apart). QuantLib's solver (at
    its tightest accuracy) on the same options, for scale."""
    c = chain[chain["impliedVolatility"].between(0.01, 3.0)]
    rows = []
    for s, k, d, v, cp in zip(c["spot"], c["strike"], c["days"], c["impliedVolatility"], c["is_call"]):
        opt = pricer.option(s, k, int(d), v, RATE, 0.0, bool(cp))
        price, vega = opt.NPV(), opt.vega()
        if 1e-5 <= vega <= 1e-2 and np.spacing(price) / vega <= 1e-9:
            try:
                ql_iv = opt.impliedVolatility(price, pricer.process, 1e-15, 1000, 1e-4, 5.0)
            except RuntimeError:
                ql_iv = np.nan
            rows.append((s, k, d / 365.0, v, bool(cp), price, ql_iv))
    assert len(rows) > 50
    s_, k_, t_, v_, cp_, price_, ql_ = (np.array(x) for x in zip(*rows))
    iv = implied_vol(price_, s_, k_, t_, RATE, 0.0, cp_)
    assert np.abs(iv - v_).max() <= 1e-8
    ql_err = np.abs(ql_ - v_)[np.isfinite(ql_)]
    assert np.abs(iv - v_).max() <= max(1e-8, 10 * ql_err.max())


def test_implied_vol_of_market_mids_reprices_them(chain: pd.DataFrame) -> None:
    """Solving on real two-sided quotes: most solve, each reprices its mid to 1e-10, and the vols
    track the chain's own IV column (computed by the vendor with another clock and spot)."""
    c = chain[(chain["bid"] > 0) & chain["impliedVolatility"].between(0.05, 3.0)]
    t = c["days"] / 365.0
    calls = c["is_call"].to_numpy()
    iv = implied_vol(c["mid"], c["spot"], c["strike"], t, RATE, 0.0, calls)
    ok = np.isfinite(iv)
    assert ok.mean() > 0.8
    back = bs_greeks(c["spot"][ok], c["strike"][ok], t[ok], iv[ok], RATE, 0.0, calls[ok]).price
    np.testing.assert_allclose(back, c["mid"][ok], rtol=0, atol=1e-10)
    assert np.corrcoef(iv[ok], c["impliedVolatility"][ok])[0, 1] > 0.9


# --- edge cases -------------------------------------------------------------------------------

def test_nan_or_invalid_inputs_give_nan_everywhere() -> None:
    base = [100.0, 100.0, 0.5, 0.2, 0.05, 0.0]
    for j in range(6):
        for bad in (np.nan, np.inf):
            args = list(base)
            args[j] = bad
            g = bs_greeks(*args, True)
            assert all(np.isnan(getattr(g, f)[0]) for f in Greeks._fields), (j, bad)
    for spot, strike in ((0.0, 100.0), (100.0, -1.0)):
        assert np.isnan(bs_greeks(spot, strike, 0.5, 0.2, 0.05, 0.0, True).price[0])


@pytest.mark.parametrize(
    ("s", "call", "price", "delta"),
    [(110.0, True, 10.0, 1.0), (90.0, True, 0.0, 0.0), (100.0, True, 0.0, 0.5),
     (90.0, False, 10.0, -1.0), (110.0, False, 0.0, 0.0), (100.0, False, 0.0, -0.5)],
)
def test_expired_option_is_worth_intrinsic(s: float, call: bool, price: float, delta: float) -> None:
    for t in (0.0, -0.1):
        g = bs_greeks(s, 100.0, t, 0.3, 0.05, 0.01, call)
        assert (g.price[0], g.delta[0]) == (price, delta)
        assert (g.gamma[0], g.theta[0], g.vega[0], g.rho[0]) == (0.0, 0.0, 0.0, 0.0)


def test_zero_vol_is_discounted_forward_intrinsic(pricer: QlPricer) -> None:
    s, k, t, r, q = 100.0, 95.0, 0.5, 0.05, 0.02
    call = bs_greeks(s, k, t, 0.0, r, q, True)
    fwd_value = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert call.price[0] == pytest.approx(fwd_value, rel=1e-15)
    assert call.delta[0] == pytest.approx(math.exp(-q * t), rel=1e-15)
    assert call.theta[0] == pytest.approx((q * s * math.exp(-q * t) - r * k * math.exp(-r * t)) / 365, rel=1e-14)
    assert call.rho[0] == pytest.approx(k * t * math.exp(-r * t) / 100, rel=1e-14)
    assert (call.gamma[0], call.vega[0]) == (0.0, 0.0)
    put = bs_greeks(s, k, t, 0.0, r, q, False)
    assert (put.price[0], put.delta[0], put.theta[0], put.rho[0]) == (0.0, 0.0, 0.0, 0.0)
    # The limit agrees with QuantLib at a vanishing vol.
    ql_price, ql_delta, *_ = pricer.greeks(s, k, 182, 1e-9, r, q, True)
    zero = bs_greeks(s, k, 182 / 365, 0.0, r, q, True)
    assert zero.price[0] == pytest.approx(ql_price, rel=1e-12)
    assert zero.delta[0] == pytest.approx(ql_delta, rel=1e-12)


def test_fast_cdf_matches_erfc_cdf() -> None:
    for d in np.concatenate([np.linspace(-37.0, 12.0, 20001), np.linspace(-1.5, 1.5, 3001)]):
        ref = norm_cdf_nb(d)
        fast = norm_cdf_fast_nb(d, math.exp(-0.5 * d * d))
        tol = 2e-14 if abs(d) < 8 else 3e-13
        assert abs(fast - ref) <= tol * ref, d
    scipy_special = pytest.importorskip("scipy.special")
    d = np.linspace(-37.0, 8.0, 4501)  # the lower tail keeps full relative accuracy (no 1 - N)
    ours = np.array([norm_cdf_nb(x) for x in d])
    np.testing.assert_allclose(ours, scipy_special.ndtr(d), rtol=1e-13, atol=0)


def test_scalars_broadcast_and_shapes_are_checked() -> None:
    g = bs_greeks([90.0, 100.0, 110.0], 100.0, 0.25, 0.2, 0.03, 0.0, True)
    assert g.price.shape == (3,) and np.all(np.diff(g.price) > 0)
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        bs_greeks([90.0, 100.0], [1.0, 2.0, 3.0], 0.25, 0.2, 0.03, 0.0, True)
    with pytest.raises(ValueError, match="is_call must be bool or integer"):
        bs_greeks(100.0, 100.0, 0.25, 0.2, 0.03, 0.0, 1.5)


def test_implied_vol_outside_bounds_is_nan() -> None:
    s, k, t, r = 100.0, 90.0, 0.5, 0.05
    lower = s - k * math.exp(-r * t)
    prices = [lower - 0.01, lower, s, s + 1.0, 0.0, -1.0, np.nan]
    assert np.all(np.isnan(implied_vol(prices, s, k, t, r, 0.0, True)))
    assert np.isnan(implied_vol(5.0, s, k, 0.0, r, 0.0, True)[0])  # expired
    above_max_vol = bs_greeks(s, k, t, 6.0, r, 0.0, True).price[0]
    assert np.isnan(implied_vol(above_max_vol, s, k, t, r, 0.0, True)[0])


# --- position Greeks --------------------------------------------------------------------------

def test_portfolio_greeks_scale_and_sum() -> None:
    s = np.array([100.0, 100.0, 50.0])
    k = np.array([105.0, 95.0, 50.0])
    call = np.array([True, False, True])
    qty = np.array([3.0, -2.0, 10.0])
    g = bs_greeks(s, k, 0.1, 0.25, 0.04, 0.01, call)
    pg = portfolio_greeks(s, k, 0.1, 0.25, 0.04, 0.01, call, qty, 100.0)
    np.testing.assert_allclose(pg.delta_notional, g.delta * s * qty * 100, rtol=1e-15)
    np.testing.assert_allclose(pg.gamma, g.gamma * qty * 100, rtol=1e-15)
    np.testing.assert_allclose(pg.vega, g.vega * qty * 100, rtol=1e-15)
    np.testing.assert_allclose(pg.theta, g.theta * qty * 100, rtol=1e-15)
    assert pg.total_delta_notional == pytest.approx(pg.delta_notional.sum())
    assert pg.total_theta == pytest.approx(pg.theta.sum()) and pg.total_theta < 0  # net long options
    # Short a put: positive delta notional, negative gamma and vega, positive theta.
    short_put = portfolio_greeks(100.0, 100.0, 0.1, 0.25, 0.04, 0.0, False, -1.0)
    assert short_put.total_delta_notional > 0 and short_put.total_gamma < 0
    assert short_put.total_vega < 0 and short_put.total_theta > 0


def test_portfolio_greeks_fail_closed_on_nan() -> None:
    pg = portfolio_greeks([100.0, np.nan], 100.0, 0.1, 0.25, 0.04, 0.0, True, [1.0, 1.0])
    assert np.isfinite(pg.delta_notional[0])
    assert all(math.isnan(v) for v in pg[4:])
    pg = portfolio_greeks([100.0, 100.0], 100.0, 0.1, 0.25, 0.04, 0.0, True, [1.0, np.nan])
    assert math.isnan(pg.total_vega)


# --- OCC symbols ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["AAPL240802C00100000", "O:AAPL240802C00100000",
                                  "AAPL  240802C00100000", " aapl240802c00100000 "])
def test_parse_occ_forms(text: str) -> None:
    assert parse_occ(text) == OccContract("AAPL", date(2024, 8, 2), True, 100.0)


def test_parse_occ_fractional_strike_and_put() -> None:
    assert parse_occ("SPY240816P00552500") == OccContract("SPY", date(2024, 8, 16), False, 552.5)
    assert parse_occ("BRKB  250117C00000500").strike == 0.5


@pytest.mark.parametrize("text", ["", "AAPL", "AAPL240802X00100000", "AAPL240802C0010000",
                                  "AAPL241302C00100000", "1AAPL240802C00100000", "TOOLONG240802C00100000",
                                  "AAPL240802C001000000", "X:AAPL240802C00100000"])
def test_parse_occ_rejects_with_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="OCC option symbol"):
        parse_occ(text)


def test_occ_grammar_matches_domain_schema(chain: pd.DataFrame) -> None:
    schemas = pytest.importorskip("cream.schemas.instruments")
    samples = [*chain["contractSymbol"][::50], "O:SPY240816P00552500", "AAPL  240802C00100000",
               "AAPL241302C00100000", "AAPL240802X00100000", "A1234567240802C00100000"]
    for text in samples:
        try:
            ref = schemas.OccSymbol.parse(text)
        except ValueError:
            with pytest.raises(ValueError):
                parse_occ(text)
            continue
        ours = parse_occ(text)
        assert (ours.underlying, ours.expiry, ours.strike) == (ref.root, ref.expiration, float(ref.strike))
        assert ours.is_call == (ref.right.value == "CALL")


def test_occ_arrays_names_bad_symbol() -> None:
    with pytest.raises(ValueError, match="'BAD'"):
        occ_arrays(["AAPL240802C00100000", "BAD"])
    empty = occ_arrays([])
    assert empty.strike.shape == (0,) and empty.expiry_ordinal.dtype == np.int64


# --- properties -------------------------------------------------------------------------------

spots = st.floats(1.0, 1000.0)
moneyness = st.floats(0.3, 3.0)
years = st.floats(1 / 365, 5.0)
vols = st.floats(0.01, 3.0)
rates = st.floats(-0.02, 0.15)
divs = st.floats(0.0, 0.1)


@settings(max_examples=300, deadline=None)
@given(s=spots, m=moneyness, t=years, v=vols, r=rates, q=divs)
def test_put_call_parity(s: float, m: float, t: float, v: float, r: float, q: float) -> None:
    k = s * m
    g = bs_greeks([s, s], k, t, v, r, q, [True, False])
    fwd = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert g.price[0] - g.price[1] == pytest.approx(fwd, rel=1e-12, abs=1e-11 * max(s, k))
    assert g.delta[0] - g.delta[1] == pytest.approx(math.exp(-q * t), rel=1e-12, abs=1e-14)
    assert g.gamma[0] == pytest.approx(g.gamma[1], rel=1e-12, abs=1e-300)
    assert g.vega[0] == pytest.approx(g.vega[1], rel=1e-12, abs=1e-300)


@settings(max_examples=300, deadline=None)
@given(s=spots, m=moneyness, t=years, v1=vols, v2=vols, r=rates, q=divs, call=st.booleans())
def test_price_is_monotone_in_vol(s: float, m: float, t: float, v1: float, v2: float, r: float,
                                  q: float, call: bool) -> None:
    lo, hi = sorted((v1, v2))
    p = bs_greeks(s, s * m, t, [lo, hi], r, q, call).price
    assert p[0] <= p[1] + 1e-12 * s


@settings(max_examples=300, deadline=None)
@given(s=spots, m=st.floats(0.5, 2.0), t=years, v=st.floats(0.02, 3.0), r=rates, q=divs, call=st.booleans())
def test_implied_vol_inverts_price(s: float, m: float, t: float, v: float, r: float, q: float,
                                   call: bool) -> None:
    g = bs_greeks(s, s * m, t, v, r, q, call)
    assume(g.vega[0] * 100 > 1e-3 and g.price[0] > 1e-6)
    assert implied_vol(g.price, s, s * m, t, r, q, call)[0] == pytest.approx(v, abs=1e-6)


# --- multi-leg strategies and the book, in parallel ----------------------------------------------


def test_strategy_greeks_are_the_ratio_weighted_sums_of_their_legs() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 5, 500)  # 1-4 legs each
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n = int(starts[-1])
    spot = np.repeat(rng.uniform(20, 400, sizes.shape[0]), sizes)  # one underlying per strategy
    strike, t = spot * rng.uniform(0.7, 1.3, n), rng.uniform(0.01, 2.0, n)
    vol, ratio = rng.uniform(0.1, 0.9, n), rng.choice([-2.0, -1.0, 1.0, 2.0], n)
    calls = rng.random(n) < 0.5
    legs = bs_greeks(spot, strike, t, vol, 0.04, 0.01, calls)
    got = strategy_greeks(spot, strike, t, vol, 0.04, 0.01, calls, ratio, starts)
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        want = np.add.reduceat(ratio * getattr(legs, name), starts[:-1])
        np.testing.assert_allclose(getattr(got, name), want, rtol=1e-12, atol=1e-12)


def test_a_strategy_without_legs_is_zero_and_bad_starts_are_refused() -> None:
    got = strategy_greeks([100.0], [100.0], [0.5], [0.2], 0.0, 0.0, [True], [1.0], [0, 0, 1])
    assert got.price[0] == 0.0 and got.price[1] > 0
    for starts in ([1, 1], [0, 2], [0, 1, 0], []):
        with pytest.raises(ValueError, match="starts must rise"):
            strategy_greeks([100.0], [100.0], [0.5], [0.2], 0.0, 0.0, [True], [1.0], starts)


def test_the_book_path_in_parallel_equals_each_position_alone() -> None:
    rng = np.random.default_rng(5)
    n = 10_001
    spot, strike = rng.uniform(20, 400, n), rng.uniform(20, 400, n)
    t, vol, qty = rng.uniform(0.01, 2.0, n), rng.uniform(0.1, 0.9, n), rng.integers(-20, 21, n).astype(float)
    calls = rng.random(n) < 0.5
    book = portfolio_greeks(spot, strike, t, vol, 0.03, 0.0, calls, qty)
    one = bs_greeks(spot, strike, t, vol, 0.03, 0.0, calls)
    np.testing.assert_allclose(book.delta_notional, one.delta * spot * qty * 100, rtol=1e-12)
    np.testing.assert_allclose(book.vega, one.vega * qty * 100, rtol=1e-12)
