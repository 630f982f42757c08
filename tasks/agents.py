"""The eight agents (queue `agents`). Each records its output; errors are recorded, not raised, so a
chord always completes and the gate sees the failure (fail closed)."""

from __future__ import annotations

from cream import runtime
from cream.schemas.agents import AgentType
from cream.services import cycles, decide
from cream.services.cycles import Phase
from cream.storage.db import session_scope
from tasks.base import cream_task, ensure_running


def _run(agent: AgentType, cycle_id: str, symbol: str | None, iteration: int) -> dict[str, str]:
    env = ensure_running(cycle_id)
    status = decide.run_agent(cycle_id, agent, runtime.agents(env), symbol=symbol, iteration=iteration)
    return {"agent": agent.value, "symbol": symbol or decide.PORTFOLIO, "status": status}


@cream_task("agents.technical_analyst", keep_result=True)
def technical_analyst(cycle_id: str, symbol: str) -> dict[str, str]:
    return _run(AgentType.TECHNICAL_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.news_analyst", keep_result=True)
def news_analyst(cycle_id: str, symbol: str) -> dict[str, str]:
    return _run(AgentType.NEWS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.fundamentals_analyst", keep_result=True)
def fundamentals_analyst(cycle_id: str, symbol: str) -> dict[str, str]:
    return _run(AgentType.FUNDAMENTALS_ANALYST, cycle_id, symbol, 0)


@cream_task("agents.bullish_researcher", keep_result=True)
def bullish_researcher(cycle_id: str, symbol: str) -> dict[str, str]:
    return _run(AgentType.BULLISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.bearish_researcher", keep_result=True)
def bearish_researcher(cycle_id: str, symbol: str) -> dict[str, str]:
    return _run(AgentType.BEARISH_RESEARCHER, cycle_id, symbol, 0)


@cream_task("agents.trader")
def trader(cycle_id: str, iteration: int) -> dict[str, str]:
    result = _run(AgentType.TRADER, cycle_id, None, iteration)
    with session_scope() as s:
        cycles.save_checkpoint(s, cycle_id, Phase.TRADER, result, iteration)
    return result


@cream_task("agents.risk_manager", keep_result=True)
def risk_manager(cycle_id: str, iteration: int) -> dict[str, str]:
    return _run(AgentType.RISK_MANAGER, cycle_id, None, iteration)


@cream_task("agents.critic", keep_result=True)
def critic(cycle_id: str, iteration: int) -> dict[str, str]:
    return _run(AgentType.CRITIC, cycle_id, None, iteration)
