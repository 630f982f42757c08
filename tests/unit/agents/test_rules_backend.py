"""RuleBasedAgents: the BACKTEST implementation of the agent port, over the bundled sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from agent_builders import context, portfolio, position, real_analyses, real_snapshots

from cream.agents.port import AgentBackend, AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.schemas.agents import AgentType, ApprovalVerdict, Verdict
from cream.schemas.decisions import Action, DecisionPlan, Direction
from cream.services.decide import OUTPUT_SCHEMAS

SYMBOL_AGENTS = [a for a in AgentType if a not in (AgentType.TRADER, AgentType.RISK_MANAGER, AgentType.CRITIC)]


def cycle_context(agent: AgentType, as_of: datetime | None = None) -> AgentContext:
    """The context a cycle hands ``agent`` on the real sample (the plan comes from the trader)."""
    snaps = real_snapshots(as_of) if as_of else real_snapshots()
    found = real_analyses(snaps)
    if agent in SYMBOL_AGENTS:
        return context(snaps, found, symbol="COST")
    if agent is AgentType.TRADER:
        return context(snaps, found)
    trader_out = RuleBasedAgents().run(AgentType.TRADER, context(snaps, found))
    return context(snaps, found, plan=DecisionPlan.model_validate(trader_out))


def test_backend_implements_the_agent_port() -> None:
    backend: AgentBackend = RuleBasedAgents()
    assert backend.implementation == "rules-v1"


@pytest.mark.parametrize("agent", list(AgentType))
def test_every_agent_returns_json_that_validates_against_its_schema(agent: AgentType) -> None:
    out = RuleBasedAgents().run(agent, cycle_context(agent))
    wire = json.loads(json.dumps(out))  # plain JSON: what an LLM backend would return too
    parsed = OUTPUT_SCHEMAS[agent].model_validate(wire)
    assert parsed.model_dump(mode="json") == out
    if agent in SYMBOL_AGENTS:
        assert out["symbol"] == "COST"


@pytest.mark.parametrize("agent", list(AgentType))
def test_same_context_gives_the_same_output(agent: AgentType) -> None:
    ctx = cycle_context(agent)
    assert RuleBasedAgents().run(agent, ctx) == RuleBasedAgents().run(agent, ctx)


@pytest.mark.parametrize("agent", SYMBOL_AGENTS)
def test_per_symbol_agent_without_a_symbol_is_refused(agent: AgentType) -> None:
    ctx = cycle_context(AgentType.TRADER)
    with pytest.raises(ValueError, match=r"needs context\.symbol"):
        RuleBasedAgents().run(agent, ctx)


@pytest.mark.parametrize("as_of", [datetime(2025, 6, 2, 15, tzinfo=UTC), datetime(2025, 1, 15, 15, tzinfo=UTC),
                                   datetime(2025, 3, 3, 15, tzinfo=UTC)])
def test_a_rule_based_plan_on_real_data_passes_both_approvers(as_of: datetime) -> None:
    agents = RuleBasedAgents()
    for approver in (AgentType.RISK_MANAGER, AgentType.CRITIC):
        verdict = ApprovalVerdict.model_validate(agents.run(approver, cycle_context(approver, as_of)))
        assert verdict.verdict is Verdict.APPROVE, verdict.summary


def test_bearish_sample_hour_proposes_a_short() -> None:
    ctx = cycle_context(AgentType.TRADER, datetime(2025, 1, 15, 15, tzinfo=UTC))
    p = DecisionPlan.model_validate(RuleBasedAgents().run(AgentType.TRADER, ctx))
    assert [(d.instrument_id, d.action, d.direction) for d in p.decisions] == [("ADBE", Action.SELL, Direction.SHORT)]


def test_holding_a_symbol_the_research_turns_against_closes_it_and_passes_the_gate() -> None:
    as_of = datetime(2025, 1, 15, 15, tzinfo=UTC)
    snaps = real_snapshots(as_of)
    book = portfolio(position("ADBE", 20, 440.0, snaps["ADBE"].price))
    found = real_analyses(snaps, book)
    agents = RuleBasedAgents()
    p = DecisionPlan.model_validate(agents.run(AgentType.TRADER, context(snaps, found, book=book)))
    close = next(d for d in p.decisions if d.instrument_id == "ADBE")
    assert (close.action, close.direction, close.size.quantity) == (Action.SELL, Direction.FLAT, 20)
    verdicts: list[dict[str, Any]] = [agents.run(a, context(snaps, found, book=book, plan=p))
                                      for a in (AgentType.RISK_MANAGER, AgentType.CRITIC)]
    assert [v["verdict"] for v in verdicts] == ["APPROVE", "APPROVE"]
