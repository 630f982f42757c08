"""Child schedules of the execution tactics and their simulation, against hand-computed fills."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.fills import BUY, IMPACT_LINEAR, SELL
from engine.tactics import (
    REFILL,
    ExecutionCosts,
    iceberg_schedule_nb,
    passive_limit_schedule_nb,
    simulate_schedule,
    split_lots_nb,
    twap_schedule_nb,
    volume_profile_nb,
    vwap_schedule_nb,
)

OPEN = np.array([100.0, 101.0, 102.0, 99.0, 100.0])
HIGH = OPEN + 1.0
LOW = OPEN - 1.0
VOL = np.array([1000.0, 500.0, 2000.0, 1000.0, 1000.0])


def test_twap_splits_in_lots_and_spaces_children() -> None:
    offsets, qtys, limits = twap_schedule_nb(1050.0, 4, 3, math.nan, 100.0)
    assert offsets.tolist() == [0, 3, 6, 9]
    assert qtys.tolist() == [300.0, 300.0, 200.0, 250.0]  # 10 lots -> 3,3,2,2; +50 leftover to the last
    assert np.isnan(limits).all()


def test_vwap_follows_volume_profile() -> None:
    profile = volume_profile_nb(np.array([100.0, 300.0, 200.0, 400.0]), np.array([0, 1, 0, 1]), 2)
    assert profile.tolist() == [150.0, 350.0]
    offsets, qtys, _ = vwap_schedule_nb(1000.0, profile, 10.0, 1.0)
    assert offsets.tolist() == [0, 1]
    assert qtys.tolist() == [300.0, 700.0]
    assert split_lots_nb(10.0, np.array([1.0, 1.0, 1.0]), 1.0).tolist() == [4.0, 3.0, 3.0]


def test_iceberg_slices_refill() -> None:
    offsets, qtys, limits = iceberg_schedule_nb(250.0, 100.0, 101.0)
    assert offsets.tolist() == [0, REFILL, REFILL]
    assert qtys.tolist() == [100.0, 100.0, 50.0]
    assert limits.tolist() == [101.0] * 3


def test_twap_market_children_fill_at_open_with_impact_and_fees() -> None:
    costs = ExecutionCosts(max_participation=0.5, fixed_bps=10.0, impact_bps=100.0, impact_model=IMPACT_LINEAR,
                           per_unit=0.01, minimum=1.0, pct_fee=0.0)
    res = simulate_schedule(BUY, twap_schedule_nb(400.0, 2, 2, math.nan, 1.0), 0, OPEN, HIGH, LOW, VOL, 1, costs)
    # bar 0: 200 of 1000 volume -> 10 + 100*0.2 = 30 bps -> 100.3; bar 2: 200/2000 -> 20 bps -> 102.204
    assert res.child_filled.tolist() == [200.0, 200.0]
    assert res.child_avg_price == pytest.approx([100.3, 102.204])
    assert res.avg_price == pytest.approx((100.3 + 102.204) / 2)
    assert res.fees == pytest.approx(4.0)  # 2 units * 0.01 = 2 per fill -> 2 + 2


def test_participation_cap_carries_remainder_until_expiry() -> None:
    costs = ExecutionCosts(max_participation=0.1)
    sched = passive_limit_schedule_nb(300.0, 101.5)
    res = simulate_schedule(BUY, sched, 0, OPEN, HIGH, LOW, VOL, 2, costs)
    # bar 0: 100 at min(100, 101.5)=100; bar 1: 50 (10% of 500) at 101; then expired
    assert res.filled_qty == 150.0
    assert res.avg_price == pytest.approx((100 * 100.0 + 50 * 101.0) / 150)
    longer = simulate_schedule(BUY, sched, 0, OPEN, HIGH, LOW, VOL, 5, costs)
    # bar 2 low 101 <= 101.5 -> 150 more at 101.5 (cap 200)
    assert longer.filled_qty == 300.0
    assert longer.child_avg_price[0] == pytest.approx((100 * 100.0 + 50 * 101.0 + 150 * 101.5) / 300)


def test_iceberg_refills_on_completion_and_sell_limit_waits() -> None:
    costs = ExecutionCosts(max_participation=1.0)
    res = simulate_schedule(SELL, iceberg_schedule_nb(250.0, 100.0, 101.5), 0, OPEN, HIGH, LOW, VOL, 10, costs)
    # sell limit 101.5: bar 0 high 101 no; bar 1 high 102 -> slices 0,1,2 fill in turn at 101.5 (volume 500)
    assert res.child_filled.tolist() == [100.0, 100.0, 50.0]
    assert res.child_start.tolist() == [0, 1, 1]
    assert res.avg_price == pytest.approx(101.5)


def test_unfilled_limit_reports_nan_price() -> None:
    res = simulate_schedule(BUY, passive_limit_schedule_nb(10.0, 50.0), 0, OPEN, HIGH, LOW, VOL, 5, ExecutionCosts())
    assert res.filled_qty == 0.0 and math.isnan(res.avg_price) and res.fees == 0.0
