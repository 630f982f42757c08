"""Hand-computed cases for sizing, slippage, commissions and bracket exits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.fills import (
    BUY,
    EXIT_NONE,
    EXIT_STOP,
    EXIT_TARGET,
    SELL,
    bracket_exit_nb,
    commission_nb,
    fill_price_nb,
)
from engine.sizing import kelly_fraction_nb, size_units_nb


@pytest.mark.parametrize(
    ("p", "b", "mult", "cap", "expected"),
    [
        (0.6, 2.0, 1.0, 1.0, 0.4),  # 0.6 - 0.4/2
        (0.6, 2.0, 0.5, 1.0, 0.2),  # half Kelly
        (0.6, 2.0, 0.5, 0.1, 0.1),  # capped
        (0.3, 1.0, 1.0, 1.0, 0.0),  # negative edge -> no bet
        (0.6, 0.0, 1.0, 1.0, 0.0),  # no reward
        (math.nan, 2.0, 1.0, 1.0, 0.0),
    ],
)
def test_kelly_fraction(p: float, b: float, mult: float, cap: float, expected: float) -> None:
    assert kelly_fraction_nb(p, b, mult, cap) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("equity", "fraction", "price", "mult", "lot", "max_units", "expected"),
    [
        (100_000.0, 0.1, 50.0, 1.0, 1, 10_000, 200),
        (100_000.0, 0.1, 45.0, 1.0, 1, 10_000, 222),  # 222.2 floored
        (100_000.0, 0.1, 45.0, 1.0, 100, 10_000, 200),  # round lot
        (100_000.0, 0.1, 45.0, 1.0, 100, 150, 100),  # cap then round down to the lot
        (100_000.0, 0.1, 45.0, 1.0, 1, 150, 150),
        (100_000.0, 0.1, 2.5, 100.0, 1, 10_000, 40),  # options: 10k / 250 per contract
        (0.3, 1.0, 0.1, 1.0, 1, 10, 3),  # 0.3/0.1 = 2.9999999999999996 in floats
        (100_000.0, 0.1, 0.0, 1.0, 1, 10_000, 0),
        (-5.0, 0.1, 10.0, 1.0, 1, 10_000, 0),
        (100_000.0, 0.1, math.nan, 1.0, 1, 10_000, 0),
        (1e300, 1.0, 1e-300, 1.0, 1, 500, 500),  # no int overflow
    ],
)
def test_size_units(
    equity: float, fraction: float, price: float, mult: float, lot: int, max_units: int, expected: int
) -> None:
    assert size_units_nb(equity, fraction, price, mult, lot, max_units) == expected


def test_fill_price_slippage_hurts_both_sides() -> None:
    assert fill_price_nb(BUY, 100.0, 10.0) == pytest.approx(100.1)
    assert fill_price_nb(SELL, 100.0, 10.0) == pytest.approx(99.9)
    assert fill_price_nb(BUY, 100.0, 0.0) == 100.0


@pytest.mark.parametrize(
    ("qty", "price", "mult", "expected"),
    [
        (100.0, 50.0, 1.0, 1.0),  # 0.5 -> minimum 1.0
        (1000.0, 50.0, 1.0, 5.0),  # per unit
        (1.0, 0.5, 1.0, 0.005),  # capped at 1% of a $0.50 trade
        (-1000.0, 50.0, 1.0, 5.0),  # sign of the quantity ignored
        (0.0, 50.0, 1.0, 0.0),
        (3.0, 2.0, 100.0, 1.0),  # options: value 600, cap 6, fee min 1
    ],
)
def test_commission(qty: float, price: float, mult: float, expected: float) -> None:
    assert commission_nb(qty, price, mult, 0.005, 1.0, 0.01) == pytest.approx(expected)


def bars(*ohlc: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = np.array(ohlc, dtype=np.float64)
    return arr[:, 0], arr[:, 1], arr[:, 2]


LONG_CASES = [
    # (open, high, low) bars, expected (index, price, reason) for long stop 95 / target 110
    ([(100, 105, 96), (100, 108, 97)], (-1, math.nan, EXIT_NONE)),
    ([(100, 105, 96), (101, 111, 99)], (1, 110.0, EXIT_TARGET)),
    ([(100, 105, 96), (99, 100, 94)], (1, 95.0, EXIT_STOP)),
    ([(100, 111, 94)], (0, 95.0, EXIT_STOP)),  # both touched: stop wins
    ([(100, 105, 96), (93, 96, 90)], (1, 93.0, EXIT_STOP)),  # gap down through the stop
    ([(100, 105, 96), (112, 115, 108)], (1, 112.0, EXIT_TARGET)),  # gap up over the target
    ([(100, 104, 95)], (0, 95.0, EXIT_STOP)),  # exact touch counts
]


@pytest.mark.parametrize(("ohlc", "expected"), LONG_CASES)
def test_bracket_exit_long(ohlc: list[tuple[float, float, float]], expected: tuple[int, float, int]) -> None:
    idx, price, reason = bracket_exit_nb(1, 95.0, 110.0, *bars(*ohlc))
    assert (idx, reason) == (expected[0], expected[2])
    assert price == pytest.approx(expected[1], nan_ok=True)


@pytest.mark.parametrize(("ohlc", "expected"), LONG_CASES)
def test_bracket_exit_short_mirrors_long(
    ohlc: list[tuple[float, float, float]], expected: tuple[int, float, int]
) -> None:
    # reflect prices around 0: a short with stop -95 and target -110 sees the mirrored bars
    mirrored = [(-o, -lo, -h) for o, h, lo in ohlc]
    idx, price, reason = bracket_exit_nb(-1, -95.0, -110.0, *bars(*mirrored))
    assert (idx, reason) == (expected[0], expected[2])
    assert price == pytest.approx(-expected[1], nan_ok=True)


def test_bracket_exit_short_hand_case() -> None:
    # short at 50, stop 52, target 45: bar 1 gaps above the stop
    idx, price, reason = bracket_exit_nb(-1, 52.0, 45.0, *bars((50, 51, 48), (53, 54, 52)))
    assert (idx, price, reason) == (1, 53.0, EXIT_STOP)


def test_bracket_exit_missing_target_never_triggers() -> None:
    idx, _, reason = bracket_exit_nb(1, 95.0, math.nan, *bars((100, 200, 96)))
    assert (idx, reason) == (-1, EXIT_NONE)
