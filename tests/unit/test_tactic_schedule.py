"""One definition of a tactic's child orders for BACKTEST and for PAPER and LIVE (cream/tactic_schedule.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.schemas.decisions import ExecutionTactic
from cream.schemas.orders import OrderRequest
from cream.tactic_schedule import (
    ICEBERG_SLICES,
    REFILL,
    WORK_BARS,
    bars_needed,
    child_schedule,
    profile_volume,
)

NAN = math.nan


def schedule(tactic: str, qty: int, limit: float = NAN, past: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    offsets, qtys, limits = child_schedule(ExecutionTactic(tactic), qty, limit, np.zeros(0) if past is None else past)
    return [(int(o), int(q), float(p)) for o, q, p in zip(offsets, qtys, limits)]


def test_twap_is_one_equal_child_per_bar_over_the_work_bars() -> None:
    assert [(o, q) for o, q, _ in schedule("TWAP", 300)] == [(0, 100), (1, 100), (2, 100)]
    assert sum(q for _, q, _ in schedule("TWAP", 301)) == 301 and len(schedule("TWAP", 2)) == WORK_BARS


def test_iceberg_shows_a_quarter_at_a_time_each_after_the_last() -> None:
    assert schedule("ICEBERG", 400, 99.0) == [(0, 100, 99.0)] + [(REFILL, 100, 99.0)] * (ICEBERG_SLICES - 1)
    assert [q for _, q, _ in schedule("ICEBERG", 10)] == [3, 3, 3, 1]


def test_passive_limit_is_one_limit_child_at_the_given_price() -> None:
    assert schedule("PASSIVE_LIMIT", 50, 99.5) == [(0, 50, 99.5)]


def test_vwap_follows_the_volume_profile_and_falls_back_to_equal_slices() -> None:
    past = profile_volume(np.array([9.0, 1.0, 2.0, 1.0, 6.0, 1.0, 2.0]))  # 6 bars used, the newest last
    assert list(past) == [1.0, 2.0, 1.0, 6.0, 1.0, 2.0]
    assert [q for _, q, _ in schedule("VWAP", 1000, past=past)] == [538, 231, 231]  # slots average 3.5, 1.5, 1.5
    assert [q for _, q, _ in schedule("VWAP", 300)] == [100, 100, 100]  # no history
    assert len(profile_volume(np.array([5.0, 5.0]))) == 0


def test_the_bars_a_schedule_may_need_include_late_iceberg_slices() -> None:
    assert bars_needed(np.array([0, 1, 2])) == 2 + WORK_BARS
    assert bars_needed(np.array([0, REFILL, REFILL, REFILL])) == 3 * WORK_BARS + WORK_BARS


def test_the_simulated_broker_fills_the_children_this_module_plans() -> None:
    as_of = datetime(2025, 6, 3, 15, tzinfo=UTC)
    broker = SimulatedBroker(LocalHistory(), slippage_bps=2.0, commission_per_share=0.005, commission_minimum=1.0)
    for tactic, qty in (("TWAP", 301), ("ICEBERG", 250)):
        update = broker.submit(OrderRequest(client_order_id=f"s-{tactic}", symbol="XLK", instrument_id="XLK",
                                            side="BUY", quantity=qty, as_of=as_of, execution_tactic=tactic))
        assert [f.quantity for f in update.fills] == [q for _, q, _ in schedule(tactic, qty)], tactic
    partial = broker.submit(OrderRequest(client_order_id="s-big", symbol="XLK", instrument_id="XLK", side="BUY",
                                         quantity=10_000_000, as_of=as_of, execution_tactic="TWAP"))
    assert partial.status == "PARTIALLY_FILLED" and partial.is_final  # the rest is canceled: not working


@pytest.mark.parametrize("tactic", list(ExecutionTactic))
def test_every_child_is_a_whole_positive_quantity_summing_to_the_order(tactic: ExecutionTactic) -> None:
    for qty in (1, 7, 100, 999):
        kids = schedule(tactic.value, qty, 100.0)
        assert sum(q for _, q, _ in kids) == qty and all(q >= 0 for _, q, _ in kids)
