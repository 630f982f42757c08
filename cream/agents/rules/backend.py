"""The rule-based implementation of the agent port (BACKTEST)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cream.agents.port import AgentContext
from cream.agents.rules.analysts import fundamentals_analyst, news_analyst, technical_analyst
from cream.agents.rules.approvers import critic, risk_manager
from cream.agents.rules.researchers import bearish_researcher, bullish_researcher
from cream.agents.rules.trader import trader
from cream.schemas.agents import AgentType


def _symbol(ctx: AgentContext) -> str:
    if ctx.symbol is None:
        raise ValueError("a per-symbol agent needs context.symbol")
    return ctx.symbol


_RULES: dict[AgentType, Callable[[AgentContext], BaseModel]] = {
    AgentType.TECHNICAL_ANALYST: lambda c: technical_analyst(c.snapshots[_symbol(c)]),
    AgentType.NEWS_ANALYST: lambda c: news_analyst(c.snapshots[_symbol(c)]),
    AgentType.FUNDAMENTALS_ANALYST: lambda c: fundamentals_analyst(c.snapshots[_symbol(c)]),
    AgentType.BULLISH_RESEARCHER: lambda c: bullish_researcher(_symbol(c), c.analyses[_symbol(c)]),
    AgentType.BEARISH_RESEARCHER: lambda c: bearish_researcher(_symbol(c), c.analyses[_symbol(c)]),
    AgentType.TRADER: trader,
    AgentType.RISK_MANAGER: risk_manager,
    AgentType.CRITIC: critic,
}


class RuleBasedAgents:
    """Deterministic agents: the same context always gives the same output."""

    implementation = "rules-v1"

    def version(self, agent: AgentType) -> str:
        return self.implementation

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        return _RULES[agent](context).model_dump(mode="json")
