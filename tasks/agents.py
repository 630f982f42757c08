"""The eight agents (queue `agents`). Each records its output; an agent's errors are recorded, not raised,
so its group always completes and the gate sees the failure (fail closed). After recording, an analyst,
researcher or approver sends its phase's join once every output of the phase is there (tasks.canvas)."""

from __future__ import annotations

from cream import runtime
from cream.schemas.agents import AgentType
from cream.services import cycles, decide
from cream.services.cycles import Phase
from cream.storage.db import session_scope
from tasks.args import CycleId, Iteration, Ticker
from tasks.base import cream_task, ensure_running
from tasks.canvas import JOINS
from workers.app import app


def _run(agent: AgentType, cycle_id: str, symbol: str | None, iteration: int) -> dict[str, str]:
    env = ensure_running(cycle_id)
    status = decide.run_agent(cycle_id, agent, runtime.agents(env), symbol=symbol, iteration=iteration)
    join = JOINS.get(agent)
    if join is not None:
        task, members = join
        with session_scope(readonly=True) as s:
            complete = decide.phase_complete(s, cycle_id, members, iteration)
        if complete:
            args = [cycle_id, iteration] if task == "cycles.gate" else [cycle_id]
            app.send_task(task, args=args, queue="cycles", routing_key="cycles")
    return {"agent": agent.value, "symbol": symbol or decide.PORTFOLIO, "status": status}


@cream_task("agents.technical_analyst")
def technical_analyst(cycle_id: CycleId, symbol: Ticker) -> dict[str, str]:
    return _run(AgentType.TECHNICAL_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.news_analyst")
def news_analyst(cycle_id: CycleId, symbol: Ticker) -> dict[str, str]:
    return _run(AgentType.NEWS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.fundamentals_analyst")
def fundamentals_analyst(cycle_id: CycleId, symbol: Ticker) -> dict[str, str]:
    return _run(AgentType.FUNDAMENTALS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.bullish_researcher")
def bullish_researcher(cycle_id: CycleId, symbol: Ticker) -> dict[str, str]:
    return _run(AgentType.BULLISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.bearish_researcher")
def bearish_researcher(cycle_id: CycleId, symbol: Ticker) -> dict[str, str]:
    return _run(AgentType.BEARISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.trader")
def trader(cycle_id: CycleId, iteration: Iteration) -> dict[str, str]:
    result = _run(AgentType.TRADER, cycle_id, None, iteration)
    with session_scope() as s:
        cycles.save_checkpoint(s, cycle_id, Phase.TRADER, result, iteration)
    return result


@cream_task("agents.risk_manager")
def risk_manager(cycle_id: CycleId, iteration: Iteration) -> dict[str, str]:
    return _run(AgentType.RISK_MANAGER, cycle_id, None, iteration)


@cream_task("agents.critic")
def critic(cycle_id: CycleId, iteration: Iteration) -> dict[str, str]:
    return _run(AgentType.CRITIC, cycle_id, None, iteration)
