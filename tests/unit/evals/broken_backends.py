"""Deliberately unsound agent backends: each breaks one rule the golden checks must catch."""

from __future__ import annotations

from typing import Any

from cream.agents.port import AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.schemas.agents import AgentType
from cream.schemas.decisions import Action, Direction
from cream.schemas.market import RegimeLabel


class LongInBearTrend(RuleBasedAgents):
    """Buys every BEAR_TREND symbol, whatever the research says (stop at the invalidation, 2:1 target)."""

    implementation = "broken-long-in-bear"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        out = super().run(agent, context)
        if agent is not AgentType.TRADER:
            return out
        bears = [s for s, snap in context.snapshots.items() if snap.regime.regime is RegimeLabel.BEAR_TREND]
        kept = [d for d in out["decisions"] if d["instrument"]["symbol"] not in bears]
        for symbol in bears:
            price = context.snapshots[symbol].price
            stop = context.analyses[symbol]["technical_analyst"]["invalidation_long"]
            levels = {"stop_loss_level": stop, "take_profit_level": price + 2 * (price - stop)}
            kept.append({"instrument": {"type": "EQUITY", "symbol": symbol}, "action": "BUY",
                         "direction": "LONG", "size": {"quantity": 5, "unit": "SHARES"},
                         "risk_levels": levels, "strategy_family": "TREND", "rationale": "buy the dip",
                         "confidence": 0.6})
        return {**out, "decisions": kept}


class WideStops(RuleBasedAgents):
    """Moves every entry's stop 50% further from the price than the technical invalidation."""

    implementation = "broken-wide-stops"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        out = super().run(agent, context)
        if agent is not AgentType.TRADER:
            return out
        for d in out["decisions"]:
            if d["action"] in (Action.BUY, Action.SELL) and d["direction"] != Direction.FLAT:
                price = context.snapshots[d["instrument"]["symbol"]].price
                rl = d["risk_levels"]
                rl["stop_loss_level"] = round(price - 1.5 * (price - rl["stop_loss_level"]), 4)
        return out


class ApprovesEverything(RuleBasedAgents):
    """Both approvers rubber-stamp every plan."""

    implementation = "broken-approves-everything"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        if agent in (AgentType.RISK_MANAGER, AgentType.CRITIC):
            return {"agent": agent.value, "verdict": "APPROVE", "objections": [], "summary": "looks fine"}
        return super().run(agent, context)


class LongInBearApprovedByAll(LongInBearTrend):
    """The unsound trader of LongInBearTrend with approvers that wave it through."""

    implementation = "broken-long-in-bear-approved"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        if agent in (AgentType.RISK_MANAGER, AgentType.CRITIC):
            return ApprovesEverything().run(agent, context)
        return super().run(agent, context)


class NeverTrades(RuleBasedAgents):
    """A trader that writes an empty plan every time: safe, and useless."""

    implementation = "broken-never-trades"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        out = super().run(agent, context)
        return {**out, "decisions": []} if agent is AgentType.TRADER else out


class GarbledNews(RuleBasedAgents):
    """The news analyst answers about another symbol for ADBE, and with an invented event elsewhere."""

    implementation = "broken-garbled-news"

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        out = super().run(agent, context)
        if agent is not AgentType.NEWS_ANALYST:
            return out
        if context.symbol == "ADBE":
            return {**out, "symbol": "MSFT"}
        made_up = {"event_id": "fed-cut-surprise", "headline": "Fed cuts 50bp", "impact": "POSITIVE",
                   "magnitude": 0.9}
        return {**out, "event_impacts": [*out["event_impacts"], made_up]}
