"""Replay one recorded cycle, in this process, from its checkpoints and the recorded model replies.

The cycle's observe and orient checkpoints give back exactly what its agents saw (bars, quotes, the
book), so a PAPER or LIVE cycle replays as faithfully as a BACKTEST one, with no network and no order.
The replay runs the cycle pipeline itself (``cream.services.pipeline``, in process) in a scratch
database holding a copy of the cycle, its two checkpoints and the configs it reads, from the agents up
to the gate and never to the act: the same context assembly, validation, fail-closed approvals and
revisions as in a cycle. The result says whether the replayed plan is the one the cycle recorded. A
request that was never recorded (changed prompts, configs or rules) makes that agent fail, as in a
cycle, and is listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cream import runtime
from cream.agents.llm_agents import LlmAgents
from cream.llm.recorder import ExchangeStore, ReplayModel
from cream.schemas.agents import AgentType
from cream.schemas.cycle import CycleStatus, Gated, GateOutcome, Observed, Oriented, Phase
from cream.schemas.decisions import Environment
from cream.services import cycles
from cream.services.inprocess import InProcessRunner
from cream.services.pipeline import Ports, StepKind, following
from cream.services.reports import cycle_report
from cream.services.runtime_config import agent_configs
from cream.storage.db import scratch_database, session_scope
from cream.storage.models import (
    AgentConfigRow,
    AgentOutput,
    Base,
    Checkpoint,
    TradingConfigRow,
    UniverseConfigRow,
)


@dataclass
class ReplayResult:
    cycle_id: str
    recorded_status: str
    recorded_plan: dict[str, Any] | None
    plan: dict[str, Any] | None = None
    outcome: str = "NO_TRADE"  # APPROVED | NO_TRADE
    iterations: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """The same plan, and the same verdict on it (approved and executed, or not)."""
        executed = self.recorded_status == "EXECUTED"
        return self.plan == self.recorded_plan and (self.outcome == "APPROVED") == executed


def replay_cycle(cycle_id: str) -> ReplayResult:
    with session_scope(readonly=True) as s:
        cycle = cycles.get_cycle(s, cycle_id)
        env = Environment(cycle.environment)
        observed = cycles.require(s, cycle_id, Observed)
        oriented = cycles.require(s, cycle_id, Oriented)
        recorded = cycle_report(s, cycle_id)
        configs = agent_configs(s, env)
        copies = [_copy(cycle, status=CycleStatus.RUNNING.value, reason=None, completed_at=None, iterations=0),
                  *(_copy(r) for model in (TradingConfigRow, UniverseConfigRow, AgentConfigRow)
                    for r in s.scalars(select(model).where(model.environment == env.value)))]
    # The recordings are read from the configured database, not the scratch one the replay runs in.
    agents = LlmAgents(ReplayModel(ExchangeStore()), configs, implementation="replay")
    ports = Ports(market=runtime.market_data, broker=runtime.broker, agents=lambda _env: agents)
    result = ReplayResult(cycle_id, recorded["status"], recorded["plan"])
    with scratch_database():
        with session_scope() as s:
            s.add_all(copies)
            s.flush()
            cycles.record(s, cycle_id, observed)
            cycles.record(s, cycle_id, oriented)
        InProcessRunner(ports).drive(cycle_id, following(list(cycle.symbols), Phase.ORIENT), until=StepKind.ACT)
        with session_scope(readonly=True) as s:
            _read_back(s, cycle_id, result)
    return result


def _copy(row: Base, **changes: Any) -> Base:
    """A detached copy of ``row`` for another database."""
    values = {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}
    return type(row)(**{**values, **changes})


def _read_back(s: Any, cycle_id: str, result: ReplayResult) -> None:
    gates = s.scalars(select(Checkpoint.data).where(Checkpoint.cycle_id == cycle_id, Checkpoint.phase == Phase.GATE.value)
                      .order_by(Checkpoint.iteration)).all()
    if gates:
        last = Gated.model_validate(gates[-1])
        result.iterations = last.iteration
        result.outcome = "APPROVED" if last.outcome is GateOutcome.APPROVED else "NO_TRADE"
        plan = s.scalars(select(AgentOutput).where(
            AgentOutput.cycle_id == cycle_id, AgentOutput.agent_type == AgentType.TRADER.value,
            AgentOutput.iteration == last.iteration)).first()
        result.plan = plan.output if plan is not None and plan.status == "OK" else None
    for row in s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == cycle_id, AgentOutput.status == "ERROR")
                         .order_by(AgentOutput.iteration, AgentOutput.id)):
        result.errors.append(f"{row.agent_type}/{row.symbol}/{row.iteration}: {row.error}")
    failed = cycles.get_cycle(s, cycle_id)
    if failed.status == CycleStatus.FAILED.value:
        result.errors.append(f"cycle: {failed.reason}")

