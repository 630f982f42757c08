"""The eight agents (queue `agents`). Each records its output; an agent's errors are recorded, not raised,
so its group always completes and the gate sees the failure (fail closed). The step of each is
``cream.services.pipeline.agent_phase``: a member hands on to its group's join once every output of the
group is recorded, the trader to the approvers."""

from __future__ import annotations

from typing import Any

from cream import runtime
from cream.schemas.agents import AgentType
from cream.services import pipeline
from cream.services.pipeline import Step, StepKind
from tasks.args import CycleId, Iteration, Ticker
from tasks.base import cream_task, retried
from tasks.canvas import send


def _run(task: Any, agent: AgentType, cycle_id: str, symbol: str | None, iteration: int) -> None:
    step = Step(StepKind.AGENT, agent, symbol, iteration)
    send(cycle_id, pipeline.run(step, cycle_id, runtime.PORTS, again=retried(task)))


@cream_task("agents.technical_analyst", bind=True)
def technical_analyst(self: Any, cycle_id: CycleId, symbol: Ticker) -> None:
    _run(self, AgentType.TECHNICAL_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.news_analyst", bind=True)
def news_analyst(self: Any, cycle_id: CycleId, symbol: Ticker) -> None:
    _run(self, AgentType.NEWS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.fundamentals_analyst", bind=True)
def fundamentals_analyst(self: Any, cycle_id: CycleId, symbol: Ticker) -> None:
    _run(self, AgentType.FUNDAMENTALS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.bullish_researcher", bind=True)
def bullish_researcher(self: Any, cycle_id: CycleId, symbol: Ticker) -> None:
    _run(self, AgentType.BULLISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.bearish_researcher", bind=True)
def bearish_researcher(self: Any, cycle_id: CycleId, symbol: Ticker) -> None:
    _run(self, AgentType.BEARISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.trader", bind=True)
def trader(self: Any, cycle_id: CycleId, iteration: Iteration) -> None:
    _run(self, AgentType.TRADER, cycle_id, None, iteration)


@cream_task("agents.risk_manager", bind=True)
def risk_manager(self: Any, cycle_id: CycleId, iteration: Iteration) -> None:
    _run(self, AgentType.RISK_MANAGER, cycle_id, None, iteration)


@cream_task("agents.critic", bind=True)
def critic(self: Any, cycle_id: CycleId, iteration: Iteration) -> None:
    _run(self, AgentType.CRITIC, cycle_id, None, iteration)
