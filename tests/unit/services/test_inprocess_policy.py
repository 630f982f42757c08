"""The in-process runner follows the fleet's error policy: a transient failure runs the cycle again from
its start after the policy's backoff (nothing of the failed try recorded); anything else, or retries run
out, ends the cycle FAILED at once with the step and the reason, and no row is left RUNNING."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from cream import runtime
from cream.errors import InvalidRequest, TransientError
from cream.ports import Bars, MarketData
from cream.schemas.decisions import Environment
from cream.schemas.market import Timeframe
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.services.inprocess import InProcessRunner
from cream.services.pipeline import Ports
from cream.services.runtime_config import seed_defaults
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import AgentOutput, Checkpoint
from cream.timeouts import RetryPlan

HOUR = datetime(2025, 9, 24, 15, tzinfo=UTC)


class Failing:
    """The real local history, whose hourly bars fail ``times`` times with ``error`` (then work)."""

    def __init__(self, error: Exception, times: int) -> None:
        self.real: Any = runtime.market_data()
        self.error, self.left = error, times

    def bars(self, symbol: str, timeframe: Timeframe, as_of: datetime, lookback: int) -> Bars:
        if timeframe is Timeframe.H1 and lookback > 1 and self.left > 0:  # orient's read, not observe's
            self.left -= 1
            raise self.error
        return self.real.bars(symbol, timeframe, as_of, lookback)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def run(market: MarketData, retries: int = 3) -> tuple[str, list[float]]:
    db.migrate()
    with session_scope() as s:
        seed_defaults(s)
    waits: list[float] = []
    ports = Ports(market=lambda: market, broker=runtime.broker, agents=runtime.agents)
    runner = InProcessRunner(ports, RetryPlan(cap_s=4.0, retries=retries), sleep=waits.append)
    trigger = CycleTrigger(environment=Environment.BACKTEST, scheduled_for=HOUR, book=f"pol-{uuid.uuid4().hex[:8]}",
                           symbols=["XLK", "MA"])
    cycle_id, fresh = runner.run(trigger)
    assert fresh
    return cycle_id, waits


def records(cycle_id: str) -> tuple[int, int]:
    with session_scope(readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(Checkpoint).where(Checkpoint.cycle_id == cycle_id)) or 0,
                s.scalar(select(func.count()).select_from(AgentOutput).where(AgentOutput.cycle_id == cycle_id)) or 0)


def status(cycle_id: str) -> tuple[str, str | None]:
    with session_scope(readonly=True) as s:
        c = cycles.get_cycle(s, cycle_id)
        return c.status, c.reason


def test_a_transient_failure_runs_the_cycle_again_and_it_ends() -> None:
    cycle_id, waits = run(Failing(TransientError("polygon 503"), times=2))
    assert status(cycle_id)[0] in ("EXECUTED", "NO_TRADE")
    assert len(waits) == 2 and all(0 < w <= 4.0 for w in waits)
    checkpoints, outputs = records(cycle_id)
    assert checkpoints >= 5 and outputs == 2 * 5 + 3  # recorded once: the failed tries left nothing


def test_any_other_failure_ends_the_cycle_failed_at_once_naming_the_step() -> None:
    cycle_id, waits = run(Failing(ValueError("bars out of order"), times=1))
    assert waits == []
    state, reason = status(cycle_id)
    assert state == "FAILED" and reason == "data.orient: ValueError: bars out of order"
    assert records(cycle_id) == (0, 0)  # the cycle's transaction was rolled back whole


def test_retries_run_out_and_the_cycle_fails_saying_so() -> None:
    cycle_id, waits = run(Failing(TransientError("polygon 503"), times=99), retries=2)
    assert len(waits) == 2
    state, reason = status(cycle_id)
    assert state == "FAILED" and reason is not None
    assert reason.startswith("gave up after 2 retries: data.orient: TransientError: polygon 503")


def test_paper_and_live_cycles_run_on_the_fleet_only() -> None:
    runner = InProcessRunner(runtime.PORTS)
    for env in (Environment.PAPER, Environment.LIVE):
        with pytest.raises(InvalidRequest, match="run on the fleet"):
            runner.run(CycleTrigger(environment=env, scheduled_for=HOUR, book="x", symbols=["XLK"]))
