"""Position sizing: conversions between shares, contracts, dollars and % of equity, lots and risk size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.sizing import (
    MAX_UNITS,
    OPTION_CONTRACT_MULTIPLIER,
    PositionSize,
    contracts_for_dollars_nb,
    dollars_for_contracts_nb,
    dollars_for_pct_equity_nb,
    dollars_for_units_1d_nb,
    dollars_for_units_nb,
    pct_equity_for_dollars_nb,
    pct_equity_for_units_nb,
    risk_units_1d_nb,
    risk_units_nb,
    round_to_lot_nb,
    size_position,
    size_units_nb,
    units_for_dollars_1d_nb,
    units_for_dollars_nb,
    units_for_pct_equity_nb,
)


@pytest.mark.parametrize(
    ("units", "lot", "expected"),
    [
        (250.0, 100, 200),
        (-250.0, 100, -200),  # shorts round toward zero, not to -300
        (-0.5, 1, 0),
        (-2.9999999999999996, 1, -3),  # float error absorbed on both sides
        (99.0, 100, 0),
        (7.0, 0, 7),  # lot < 1 means 1
        (math.nan, 1, 0),
        (1e300, 1, MAX_UNITS),
        (-1e300, 100, -(MAX_UNITS // 100) * 100),
    ],
)
def test_round_to_lot(units: float, lot: int, expected: int) -> None:
    assert round_to_lot_nb(units, lot) == expected


def test_unit_conversions_by_hand() -> None:
    # 10,000 dollars of a $45 stock: 222.2 -> 222 shares, 200 in round lots; shorts mirror
    assert units_for_dollars_nb(10_000.0, 45.0, 1.0, 1) == 222
    assert units_for_dollars_nb(10_000.0, 45.0, 1.0, 100) == 200
    assert units_for_dollars_nb(-10_000.0, 45.0, 1.0, 100) == -200
    assert dollars_for_units_nb(-200.0, 45.0, 1.0) == -9_000.0
    # 5% of 200k equity = 10k; 10k / 45 -> 222 shares -> 4.995% of equity
    assert dollars_for_pct_equity_nb(0.05, 200_000.0) == pytest.approx(10_000.0)
    assert units_for_pct_equity_nb(0.05, 200_000.0, 45.0, 1.0, 1) == 222
    assert pct_equity_for_units_nb(222.0, 45.0, 1.0, 200_000.0) == pytest.approx(0.04995)
    assert pct_equity_for_dollars_nb(-5_000.0, 100_000.0) == -0.05


def test_option_contracts_carry_the_100_multiplier() -> None:
    assert OPTION_CONTRACT_MULTIPLIER == 100.0
    assert dollars_for_contracts_nb(3.0, 2.5) == 750.0  # 3 x 100 x 2.50
    assert contracts_for_dollars_nb(10_000.0, 2.5, 1) == 40
    assert contracts_for_dollars_nb(749.99, 2.5, 1) == 2
    assert contracts_for_dollars_nb(10_000.0, 2.5, 1) == units_for_dollars_nb(10_000.0, 2.5, 100.0, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: units_for_dollars_nb(1_000.0, 0.0, 1.0, 1),
        lambda: units_for_dollars_nb(1_000.0, math.nan, 1.0, 1),
        lambda: units_for_dollars_nb(1_000.0, math.inf, 1.0, 1),
        lambda: units_for_dollars_nb(math.nan, 10.0, 1.0, 1),
        lambda: units_for_pct_equity_nb(0.1, -5.0, 10.0, 1.0, 1),
        lambda: units_for_pct_equity_nb(0.1, math.inf, 10.0, 1.0, 1),
        lambda: risk_units_nb(1e5, 0.01, 50.0, 50.0, 1.0, 1, 1_000),  # no distance to the stop
        lambda: risk_units_nb(1e5, -0.01, 50.0, 45.0, 1.0, 1, 1_000),
        lambda: risk_units_nb(1e5, 0.01, math.nan, 45.0, 1.0, 1, 1_000),
        lambda: risk_units_nb(1e5, 0.01, 50.0, 45.0, 1.0, 1, 0),
    ],
)
def test_invalid_inputs_give_zero_units(call: object) -> None:
    assert call() == 0  # type: ignore[operator]


def test_invalid_amounts_are_nan() -> None:
    assert math.isnan(dollars_for_units_nb(10.0, -1.0, 1.0))
    assert math.isnan(pct_equity_for_dollars_nb(1_000.0, 0.0))
    assert math.isnan(dollars_for_pct_equity_nb(0.1, math.nan))


@pytest.mark.parametrize(
    ("equity", "risk", "entry", "stop", "mult", "lot", "cap", "expected"),
    [
        (100_000.0, 0.01, 50.0, 48.0, 1.0, 1, 10_000, 500),  # $1,000 risk / $2 a share
        (100_000.0, 0.01, 50.0, 52.0, 1.0, 1, 10_000, 500),  # short: stop above entry
        (100_000.0, 0.01, 50.0, 47.0, 1.0, 1, 10_000, 333),  # 333.3 floored
        (100_000.0, 0.01, 50.0, 47.0, 1.0, 100, 10_000, 300),
        (100_000.0, 0.01, 50.0, 48.0, 1.0, 1, 400, 400),  # capped
        (100_000.0, 0.01, 3.0, 1.5, 100.0, 1, 10_000, 6),  # options: $150 risk a contract
        (100_000.0, 0.01, 3.0, 0.0, 100.0, 1, 10_000, 3),  # whole premium at risk: $300 a contract
        (0.3, 1.0, 1.1, 1.0, 1.0, 1, 10, 3),  # 0.3/0.1 in floats
    ],
)
def test_risk_units(
    equity: float, risk: float, entry: float, stop: float, mult: float, lot: int, cap: int, expected: int
) -> None:
    assert risk_units_nb(equity, risk, entry, stop, mult, lot, cap) == expected


def test_vectorised_versions_match_the_scalar_kernels() -> None:
    dollars = np.array([10_000.0, -10_000.0, 5.0, math.nan])
    price = np.array([45.0, 45.0, 10.0, 10.0])
    np.testing.assert_array_equal(units_for_dollars_1d_nb(dollars, price, 1.0, 100), [200, -200, 0, 0])
    np.testing.assert_array_equal(dollars_for_units_1d_nb(np.array([2.0, -3.0]), np.array([2.5, 1.0]), 100.0),
                                  [500.0, -300.0])
    entry, stop = np.array([50.0, 50.0, 50.0]), np.array([48.0, 52.0, 50.0])
    np.testing.assert_array_equal(risk_units_1d_nb(1e5, 0.01, entry, stop, 1.0, 1, 10_000), [500, 500, 0])
    assert units_for_dollars_1d_nb(np.zeros(0), np.zeros(0), 1.0, 1).dtype == np.int64


def test_float_lot_and_cap_from_existing_callers_still_work() -> None:
    # workers.lifecycle and the rules trader pass lot_size and max_units as floats
    assert int(size_units_nb(1e5, 0.1, 100.0, 1.0, 1.0, 1000.0)) == 100
    assert int(size_units_nb(1e5, 0.1, 45.0, 1.0, 100.0, 1000.0)) == 200


def test_size_position_wrapper() -> None:
    assert size_position(10_000.0, "dollars", price=45.0, equity=200_000.0, lot_size=100) == PositionSize(
        200, 9_000.0, 0.045)
    assert size_position(-0.05, "pct_equity", price=45.0, equity=200_000.0) == PositionSize(
        -222, -9_990.0, pytest.approx(-0.04995))
    assert size_position(3, "contracts", price=2.5, equity=100_000.0) == PositionSize(3, 750.0, 0.0075)
    assert size_position(150.7, "shares", price=10.0, equity=1e4) == PositionSize(150, 1_500.0, 0.15)
    with pytest.raises(ValueError, match="unit must be one of"):
        size_position(1, "lots", price=10.0, equity=1e4)
    with pytest.raises(ValueError, match="contracts"):
        size_position(1, "shares", price=10.0, equity=1e4, multiplier=100.0)
    with pytest.raises(ValueError, match="positive finite"):
        size_position(1, "dollars", price=0.0, equity=1e4)


# ---- properties ---------------------------------------------------------------------------

EQUITY = st.floats(1.0, 1e9)
FRACTION = st.floats(1e-4, 1.0)
PRICE = st.floats(0.01, 5_000.0)
MULT = st.sampled_from([1.0, 100.0])
LOT = st.sampled_from([1, 10, 100])
TOL = 1e-9  # documented: up to 1e-9 units over a whole unit counts as that unit


@settings(max_examples=300, deadline=None)
@given(EQUITY, FRACTION, PRICE, st.floats(0.001, 0.5), MULT, LOT)
def test_risk_size_never_exceeds_the_budget_and_is_a_lot_multiple(
    equity: float, risk: float, entry: float, stop_dist: float, mult: float, lot: int
) -> None:
    stop = entry * (1.0 - stop_dist)
    cap = 10**9
    units = risk_units_nb(equity, risk, entry, stop, mult, lot, cap)
    assert units >= 0 and units % lot == 0
    per_unit = (entry - stop) * mult
    assert units * per_unit <= equity * risk + TOL * per_unit
    if units + lot <= cap:  # one more lot would break the budget
        assert (units + lot) * per_unit > equity * risk - TOL * per_unit


@settings(max_examples=300, deadline=None)
@given(EQUITY, st.floats(1.0, 10.0), FRACTION, PRICE, st.floats(0.001, 0.5), MULT, LOT)
def test_risk_size_is_monotone_in_equity(
    equity: float, growth: float, risk: float, entry: float, stop_dist: float, mult: float, lot: int
) -> None:
    stop = entry * (1.0 + stop_dist)  # short side
    small = risk_units_nb(equity, risk, entry, stop, mult, lot, 10**9)
    assert risk_units_nb(equity * growth, risk, entry, stop, mult, lot, 10**9) >= small


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e8, 1e8), PRICE, MULT, LOT)
def test_dollar_sizing_rounds_toward_zero_in_lots(
    dollars: float, price: float, mult: float, lot: int
) -> None:
    units = units_for_dollars_nb(dollars, price, mult, lot)
    assert units % lot == 0
    assert units * dollars >= 0  # same side (or flat)
    # At most |dollars|, up to the rounding of dollars / (price * mult) itself (a few ulps of dollars: found
    # by hypothesis at 89478485.99999999 / (1/3), which divides to exactly 268435458.0)
    assert abs(dollars_for_units_nb(units, price, mult)) <= abs(dollars) * (1 + 4e-16) + TOL * price * mult
    assert units_for_dollars_nb(-dollars, price, mult, lot) == -units  # shorts mirror longs


@settings(max_examples=300, deadline=None)
@given(EQUITY, FRACTION, PRICE, MULT, LOT, st.integers(1, 10**7))
def test_size_units_agrees_with_pct_equity_conversion_up_to_the_cap(
    equity: float, fraction: float, price: float, mult: float, lot: int, cap: int
) -> None:
    units = size_units_nb(equity, fraction, price, mult, lot, cap)
    uncapped = units_for_pct_equity_nb(fraction, equity, price, mult, lot)
    assume(uncapped <= cap)
    assert units == uncapped
    held = pct_equity_for_units_nb(units, price, mult, equity)
    assert held <= fraction * (1 + 1e-9) + TOL * price * mult / equity
