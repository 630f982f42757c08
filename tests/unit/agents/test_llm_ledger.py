"""The LLM agents price every model call into the ledger they are given, and start none once it says the
cycle's budget is spent (the fleet's ledger is cream.services.llm_budget; here a stand-in of the port)."""

from __future__ import annotations

from typing import Any

import pytest

from cream.agents.llm_agents import LlmAgents
from cream.agents.port import LlmCall
from cream.errors import CreamError
from cream.llm.port import LlmReply, LlmRequest, ToolResult
from cream.schemas.agents import AgentType
from cream.schemas.config import AgentConfig
from tests.unit.agents.agent_builders import CYCLE, context, snapshot, technical


class OneAnswerModel:
    """Answers every request with the same valid technical analysis, at a fixed token count."""

    def __init__(self, *, replaying: bool = False) -> None:
        self.replaying, self.requests = replaying, 0

    def generate(self, request: LlmRequest, schema: type[Any]) -> LlmReply:
        self.requests += 1
        return LlmReply(parsed=technical("XYZ").model_dump(mode="json"), model="flash", prompt_tokens=1_000,
                        output_tokens=200, latency_s=0.5)

    def recorded_tool_results(self, request: LlmRequest) -> list[ToolResult] | None:
        return None

    def record_tool_results(self, request: LlmRequest, results: list[ToolResult]) -> None:
        pass


class Spent(CreamError):
    pass


class Ledger:
    def __init__(self, *, spent: bool = False) -> None:
        self.spent, self.calls, self.asked = spent, list[LlmCall](), list[str]()

    def require_budget(self, cycle_id: str) -> None:
        self.asked.append(cycle_id)
        if self.spent:
            raise Spent("LLM budget spent")

    def record_call(self, call: LlmCall) -> None:
        self.calls.append(call)


def configs() -> dict[AgentType, AgentConfig]:
    return {a: AgentConfig(agent=a, model="flash", temperature=0.1, system_prompt_override=None, enabled=True,
                           input_usd_per_mtok=0.5, output_usd_per_mtok=3.0, max_tool_calls=0, tool_seconds=1.0,
                           timeout_s=5.0) for a in AgentType}


def run(model: OneAnswerModel, ledger: Ledger | None) -> dict[str, Any]:
    agents = LlmAgents(model, configs(), implementation="test", ledger=ledger)
    return agents.run(AgentType.TECHNICAL_ANALYST, context([snapshot("XYZ")], symbol="XYZ"))


def test_each_model_call_is_priced_into_the_ledger() -> None:
    ledger = Ledger()
    assert run(OneAnswerModel(), ledger)["symbol"] == "XYZ"
    assert ledger.asked == [CYCLE]
    [call] = ledger.calls
    assert (call.cycle_id, call.agent, call.symbol, call.model) == (CYCLE, "technical_analyst", "XYZ", "flash")
    assert (call.prompt_tokens, call.output_tokens, call.latency_s, call.replayed) == (1_000, 200, 0.5, False)
    assert call.cost_usd == pytest.approx((1_000 * 0.5 + 200 * 3.0) / 1e6)


def test_a_replayed_call_is_recorded_at_no_cost() -> None:
    ledger = Ledger()
    run(OneAnswerModel(replaying=True), ledger)
    [call] = ledger.calls
    assert (call.cost_usd, call.latency_s, call.replayed, call.prompt_tokens) == (0.0, 0.0, True, 1_000)


def test_no_model_call_starts_once_the_budget_is_spent() -> None:
    model, ledger = OneAnswerModel(), Ledger(spent=True)
    with pytest.raises(Spent, match="budget spent"):
        run(model, ledger)
    assert model.requests == 0 and ledger.calls == []


def test_without_a_ledger_nothing_is_asked_or_recorded() -> None:
    model = OneAnswerModel()
    assert run(model, None)["symbol"] == "XYZ" and model.requests == 1
