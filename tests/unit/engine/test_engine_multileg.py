"""Multi-leg validation and payoff at expiry: closed-form strategies, real chain contracts and a
brute-force grid check of random strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.multileg import (
    BAD_LEG_COUNT,
    BAD_MULTIPLIER,
    BAD_PREMIUM,
    BAD_RATIO,
    BAD_STOCK_LEG,
    BAD_STRIKE,
    MULTILEG_OK,
    analyze_multileg,
    payoff_at_expiry_nb,
)
from engine.occ import parse_occ
from tests.shared_data import OPTION_CHAIN, require

CHAIN_PATH = OPTION_CHAIN
INF = float("inf")
C, P = 1, 0


@pytest.mark.parametrize(
    ("name", "is_call", "strike", "ratio", "premium", "net", "max_loss", "max_profit", "breakevens"),
    [
        ("bull call spread", [C, C], [100, 110], [1, -1], [5, 2], 300, 300, 700, [103]),
        ("bear put spread", [P, P], [110, 100], [1, -1], [6, 2], 400, 400, 600, [106]),
        ("bull put credit spread", [P, P], [100, 90], [-1, 1], [3, 1], -200, 800, 200, [98]),
        ("bear call credit spread", [C, C], [100, 105], [-1, 1], [4, 2], -200, 300, 200, [102]),
        ("iron condor", [P, P, C, C], [90, 95, 105, 110], [1, -1, -1, 1], [1, 2, 2, 1], -200, 300, 200, [93, 107]),
        ("long straddle", [C, P], [100, 100], [1, 1], [3, 3], 600, 600, INF, [94, 106]),
        ("short straddle", [C, P], [100, 100], [-1, -1], [3, 3], -600, INF, 600, [94, 106]),
        ("long strangle", [P, C], [95, 105], [1, 1], [2, 2], 400, 400, INF, [91, 109]),
        ("call butterfly", [C, C, C], [90, 100, 110], [1, -2, 1], [12, 5, 1], 300, 300, 700, [93, 107]),
        ("put butterfly", [P, P, P], [90, 100, 110], [1, -2, 1], [1, 5, 12], 300, 300, 700, [93, 107]),
        ("call ratio 1x2 (net short calls)", [C, C], [100, 110], [1, -2], [5, 2], 100, INF, 900, [101, 119]),
        ("call backspread (net long calls)", [C, C], [100, 110], [-1, 2], [5, 2], -100, 900, INF, [101, 119]),
        ("zero-cost risk reversal", [P, C], [95, 105], [1, -1], [2, 2], 0, INF, 9500, [95, 105]),
        ("iron butterfly", [P, P, C, C], [90, 100, 100, 110], [1, -1, -1, 1], [1, 4, 4, 1], -600, 400, 600, [94, 106]),
        ("long call", [C], [100], [1], [4], 400, 400, INF, [104]),
        ("long put", [P], [100], [1], [3], 300, 300, 9700, [97]),
        ("cash-secured put", [P], [95], [-1], [2], -200, 9300, 200, [93]),
        ("naked short call", [C], [105], [-1], [2], -200, INF, 200, [107]),
    ],
)
def test_closed_form_strategies(
    name: str, is_call: list[int], strike: list[float], ratio: list[float], premium: list[float],
    net: float, max_loss: float, max_profit: float, breakevens: list[float],
) -> None:
    a = analyze_multileg(is_call, strike, ratio, premium, 100.0)
    assert a.valid and a.reason == MULTILEG_OK and a.reason_name == "OK", name
    assert a.net_premium == pytest.approx(net, abs=1e-9)
    assert a.max_loss == pytest.approx(max_loss, abs=1e-9)
    assert a.max_profit == pytest.approx(max_profit, abs=1e-9)
    np.testing.assert_allclose(a.breakevens, breakevens, rtol=0, atol=1e-9)


def test_zero_payoff_plateau_reports_its_ends() -> None:
    """Long 95 put / short 105 call at zero net premium pays nothing from 95 to 105: the breakevens
    are the plateau's ends, and the payoff is positive below and negative above it."""
    a = analyze_multileg([P, C], [95, 105], [1, -1], [2, 2])
    s = np.array([0.0, 50.0, 95.0, 100.0, 105.0, 106.0])
    payoff = payoff_at_expiry_nb(s, np.array([0, 1], np.int8), np.array([95.0, 105.0]), np.array([1.0, -1.0]),
                                 np.array([2.0, 2.0]), np.array([100.0, 100.0]))
    np.testing.assert_allclose(payoff, [9500, 4500, 0, 0, 0, -100])
    np.testing.assert_array_equal(a.breakevens, [95.0, 105.0])


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"is_call": np.array([], np.int8), "strike": [], "ratio": [], "premium": []}, BAD_LEG_COUNT),
        ({"is_call": [C], "strike": [0], "ratio": [1], "premium": [100], "stock": [True]}, BAD_LEG_COUNT),
        ({"is_call": [C, C, C], "strike": [0, 0, 105], "ratio": [1, 1, -1], "premium": [100, 100, 2],
          "stock": [True, True, False]}, BAD_STOCK_LEG),
        ({"is_call": [C, C], "strike": [0, 105], "ratio": [1, -1], "premium": [0, 2], "stock": [True, False]},
         BAD_STOCK_LEG),
        ({"is_call": [C] * 5, "strike": [100, 105, 110, 115, 120], "ratio": [1] * 5, "premium": [1] * 5},
         BAD_LEG_COUNT),
        ({"is_call": [C, C], "strike": [100, 0], "ratio": [1, -1], "premium": [1, 1]}, BAD_STRIKE),
        ({"is_call": [C, C], "strike": [100, np.nan], "ratio": [1, -1], "premium": [1, 1]}, BAD_STRIKE),
        ({"is_call": [C, C], "strike": [100, 110], "ratio": [1, -1], "premium": [1, np.inf]}, BAD_PREMIUM),
        ({"is_call": [C, C], "strike": [100, 110], "ratio": [1, -1], "premium": [-1, 1]}, BAD_PREMIUM),
        ({"is_call": [C, C], "strike": [100, 110], "ratio": [1, 0], "premium": [1, 1]}, BAD_RATIO),
        ({"is_call": [C, C], "strike": [100, 110], "ratio": [1, np.nan], "premium": [1, 1]}, BAD_RATIO),
        ({"is_call": [C, C], "strike": [100, 110], "ratio": [1, -1], "premium": [1, 1], "multiplier": 0.0},
         BAD_MULTIPLIER),
    ],
)
def test_invalid_legs_are_rejected_with_reason(kwargs: dict[str, object], reason: int) -> None:
    a = analyze_multileg(**kwargs)  # type: ignore[arg-type]
    assert not a.valid and a.reason == reason
    assert np.isnan(a.net_premium) and np.isnan(a.max_loss) and a.breakevens.size == 0


@pytest.mark.parametrize(
    ("name", "ratio", "net", "max_loss", "max_profit", "breakevens"),
    [
        ("covered call", [1, -1], 9800, 9800, 700, [98]),  # 100 shares at 100, a 105 call sold for 2
        ("short stock, protective call", [-1, 1], -9800, 700, 9800, [98]),
    ],
)
def test_a_stock_leg_is_shares_at_its_price(name: str, ratio: list[float], net: float, max_loss: float,
                                            max_profit: float, breakevens: list[float]) -> None:
    a = analyze_multileg([C, C], [0, 105], ratio, [100, 2], 100.0, stock=[True, False])
    assert a.valid, name
    assert (a.net_premium, a.max_loss, a.max_profit) == pytest.approx((net, max_loss, max_profit), abs=1e-9)
    np.testing.assert_allclose(a.breakevens, breakevens, rtol=0, atol=1e-9)


def test_mismatched_leg_arrays_raise() -> None:
    with pytest.raises(ValueError, match="one element per leg"):
        analyze_multileg([C, C], [100, 110], [1, -1, 1], [1, 1])
    with pytest.raises(ValueError, match="one element per leg"):
        analyze_multileg([C], [100, 110], [1, -1], [1, 1])
    with pytest.raises(ValueError, match="one element per leg"):
        analyze_multileg([C, C], [100, 110], [1, -1], [1, 1], stock=[True])


def test_per_leg_multipliers_scale_money() -> None:
    a = analyze_multileg([C, C], [100, 110], [1, -1], [5, 2], [10.0, 10.0])
    assert (a.net_premium, a.max_loss, a.max_profit) == (30.0, 30.0, 70.0)


# --- real contracts ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    df = pd.read_csv(require(CHAIN_PATH))
    return df[df["contractSymbol"].str.startswith("AAPL240802")].set_index("contractSymbol")


def _legs(aapl: pd.DataFrame, legs: list[tuple[str, int]]) -> tuple[list[bool], list[float], list[int], list[float]]:
    """Buy at the ask, sell at the bid, from the chain's quotes."""
    parts = [parse_occ(sym) for sym, _ in legs]
    prem = [aapl.loc[sym, "ask"] if r > 0 else aapl.loc[sym, "bid"] for sym, r in legs]
    return [p.is_call for p in parts], [p.strike for p in parts], [r for _, r in legs], prem


def test_real_bull_call_spread(aapl: pd.DataFrame) -> None:
    legs = [("AAPL240802C00220000", 1), ("AAPL240802C00225000", -1)]
    a = analyze_multileg(*_legs(aapl, legs))
    debit = 5.90 - 3.20
    assert a.net_premium == pytest.approx(100 * debit)
    assert a.max_loss == pytest.approx(100 * debit)
    assert a.max_profit == pytest.approx(100 * (5.0 - debit))
    np.testing.assert_allclose(a.breakevens, [220 + debit])


def test_real_iron_condor(aapl: pd.DataFrame) -> None:
    legs = [("AAPL240802P00210000", 1), ("AAPL240802P00215000", -1),
            ("AAPL240802C00230000", -1), ("AAPL240802C00235000", 1)]
    a = analyze_multileg(*_legs(aapl, legs))
    credit = -0.85 + 1.76 + 1.51 - 0.72
    assert a.valid and a.net_premium == pytest.approx(-100 * credit)
    assert a.max_profit == pytest.approx(100 * credit)
    assert a.max_loss == pytest.approx(100 * (5.0 - credit))
    np.testing.assert_allclose(a.breakevens, [215 - credit, 230 + credit])


def test_real_long_straddle_and_butterfly(aapl: pd.DataFrame) -> None:
    a = analyze_multileg(*_legs(aapl, [("AAPL240802C00222500", 1), ("AAPL240802P00222500", 1)]))
    cost = 4.50 + 4.75
    assert (a.max_loss, a.max_profit) == (pytest.approx(100 * cost), INF)
    np.testing.assert_allclose(a.breakevens, [222.5 - cost, 222.5 + cost])
    fly = [("AAPL240802C00220000", 1), ("AAPL240802C00225000", -2), ("AAPL240802C00230000", 1)]
    b = analyze_multileg(*_legs(aapl, fly))
    debit = 5.90 - 2 * 3.20 + 1.59
    assert b.max_loss == pytest.approx(100 * debit)
    assert b.max_profit == pytest.approx(100 * (5.0 - debit))
    np.testing.assert_allclose(b.breakevens, [220 + debit, 230 - debit])


# --- brute force ------------------------------------------------------------------------------

leg = st.tuples(st.booleans(), st.integers(1, 40).map(lambda k: 5.0 * k),
                st.sampled_from([-3, -2, -1, 1, 2, 3]), st.integers(0, 400).map(lambda c: c / 20))


@settings(max_examples=300, deadline=None)
@given(legs=st.lists(leg, min_size=1, max_size=4), shares=st.one_of(st.none(), st.tuples(
    st.sampled_from([-1, 1]), st.integers(1, 40).map(lambda p: 5.0 * p))))
def test_random_strategies_match_dense_grid(legs: list[tuple[bool, float, int, float]],
                                            shares: tuple[int, float] | None) -> None:
    """Any 1-4 option legs, with or without shares bought or sold short (the fourth leg at most)."""
    if shares is not None:
        legs = [*legs[:3], (True, 0.0, shares[0], shares[1])]
    is_call, strike, ratio, premium = (list(c) for c in zip(*legs))
    stock = [shares is not None and i == len(legs) - 1 for i in range(len(legs))]
    a = analyze_multileg(is_call, strike, ratio, premium, stock=stock)
    assert a.valid
    kind = np.array([2 if s else int(c) for c, s in zip(is_call, stock)], np.int8)
    args = (kind, np.array(strike), np.array(ratio, float), np.array(premium), np.full(len(legs), 100.0))
    grid = np.linspace(0.0, 400.0, 16001)  # strikes (5..200) lie on the grid
    payoff = payoff_at_expiry_nb(grid, *args)
    tail = sum(r * 100.0 for c, r in zip(is_call, ratio) if c)  # a stock leg is a call struck at 0
    assert a.max_profit == (INF if tail > 0 else pytest.approx(payoff.max(), abs=1e-7))
    assert a.max_loss == (INF if tail < 0 else pytest.approx(-payoff.min(), abs=1e-7))
    assert np.all(np.diff(a.breakevens) >= 0)
    if a.breakevens.size:
        assert np.all(np.abs(payoff_at_expiry_nb(a.breakevens, *args)) < 1e-7)
    sign = np.sign(payoff[np.abs(payoff) > 1e-9])  # rounding noise of legs that cancel is not a crossing
    assert np.count_nonzero(np.diff(sign)) <= a.breakevens.size
