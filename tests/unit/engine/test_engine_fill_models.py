"""Hand-computed cases for the bar fill models, impact slippage, fees and volume caps."""

from __future__ import annotations

import math

import pytest

from engine.fills import (
    BUY,
    IMPACT_LINEAR,
    IMPACT_SQRT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    SELL,
    bar_fill_price_nb,
    fee_nb,
    fillable_qty_nb,
    impact_bps_nb,
)

BAR = (100.0, 104.0, 97.0)  # open, high, low


@pytest.mark.parametrize(
    ("otype", "side", "limit", "stop", "expected"),
    [
        (ORDER_MARKET, BUY, math.nan, math.nan, 100.0),
        (ORDER_LIMIT, BUY, 98.0, math.nan, 98.0),  # low 97 reaches 98
        (ORDER_LIMIT, BUY, 101.0, math.nan, 100.0),  # marketable limit fills at the better open
        (ORDER_LIMIT, BUY, 96.0, math.nan, math.nan),
        (ORDER_LIMIT, SELL, 103.0, math.nan, 103.0),
        (ORDER_LIMIT, SELL, 99.0, math.nan, 100.0),
        (ORDER_LIMIT, SELL, 105.0, math.nan, math.nan),
        (ORDER_STOP, BUY, math.nan, 102.0, 102.0),
        (ORDER_STOP, BUY, math.nan, 99.0, 100.0),  # already through at the open
        (ORDER_STOP, BUY, math.nan, 105.0, math.nan),
        (ORDER_STOP, SELL, math.nan, 98.0, 98.0),
        (ORDER_STOP, SELL, math.nan, 101.0, 100.0),
        (ORDER_STOP_LIMIT, BUY, 103.0, 102.0, 102.0),
        (ORDER_STOP_LIMIT, BUY, 98.0, 99.0, math.nan),  # triggered at the open 100 > limit 98
        (ORDER_STOP_LIMIT, SELL, 97.5, 98.0, 98.0),
    ],
)
def test_bar_fill_price(otype: int, side: int, limit: float, stop: float, expected: float) -> None:
    assert bar_fill_price_nb(otype, side, limit, stop, *BAR) == pytest.approx(expected, nan_ok=True)


def test_impact_grows_with_participation() -> None:
    assert impact_bps_nb(1000.0, 10_000.0, 2.0, 50.0, IMPACT_LINEAR) == pytest.approx(2.0 + 5.0)
    assert impact_bps_nb(1000.0, 10_000.0, 2.0, 50.0, IMPACT_SQRT) == pytest.approx(2.0 + 50.0 * math.sqrt(0.1))
    assert impact_bps_nb(-4000.0, 10_000.0, 0.0, 10.0, IMPACT_LINEAR) == pytest.approx(4.0)
    assert impact_bps_nb(10.0, 0.0, 1.0, 10.0, IMPACT_LINEAR) == pytest.approx(11.0)


def test_fee_adds_percentage_to_commission() -> None:
    # 1000 units at 50: per unit 5, plus 0.1% of 50,000 = 50
    assert fee_nb(1000.0, 50.0, 1.0, 0.005, 1.0, math.inf, 0.001) == pytest.approx(55.0)
    assert fee_nb(10.0, 50.0, 1.0, 0.005, 1.0, math.inf, 0.0) == pytest.approx(1.0)  # minimum
    assert fee_nb(0.0, 50.0, 1.0, 0.005, 1.0, math.inf, 0.001) == 0.0


def test_fillable_qty_capped_by_volume() -> None:
    assert fillable_qty_nb(500.0, 2000.0, 0.1) == 200.0
    assert fillable_qty_nb(150.0, 2000.0, 0.1) == 150.0
    assert fillable_qty_nb(150.0, 0.0, 0.1) == 0.0
    assert fillable_qty_nb(150.0, math.nan, 0.1) == 0.0
