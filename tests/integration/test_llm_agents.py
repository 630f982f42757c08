"""The eight LLM agents in one process: the real google-genai client against the Gemini stand-in,
our prompts, tools, validation, recording and replay (no Celery here; whole cycles are in
test_llm_cycle.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cream.agents.llm_agents import LlmAgents
from cream.agents.port import AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.errors import ConfigurationError, InvalidAgentOutput, TransientError
from cream.llm.gemini import GeminiModel
from cream.llm.recorder import ExchangeStore, RecordingModel, ReplayMiss, ReplayModel
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.schemas.config import AgentConfig
from cream.schemas.decisions import DecisionPlan, Environment
from cream.services.decide import validate_output
from cream.services.runtime_config import FLASH_MODEL, PRO_MODEL, agent_configs
from cream.storage import db
from tests.integration.helpers import cream_environment
from tests.standins.gemini_agents import agent_responder, prompt_context
from tests.standins.gemini_server import GeminiStandIn, gemini_standin
from tests.unit.agents.agent_builders import context, real_analyses, real_snapshots

pytestmark = pytest.mark.integration
KEY = "AIza-agents-test-key-0d1e"


@pytest.fixture()
def configs(tmp_path: Path) -> Iterator[dict[AgentType, AgentConfig]]:
    with cream_environment({"CREAM_DATA_DIR": str(tmp_path), "CREAM_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}):
        with db.session_scope(readonly=True) as s:
            yield agent_configs(s, Environment.BACKTEST)


@pytest.fixture()
def standin() -> Iterator[GeminiStandIn]:
    with gemini_standin(agent_responder()) as server:
        yield server


def recording(standin: GeminiStandIn, configs: dict[AgentType, AgentConfig], **gemini: Any) -> LlmAgents:
    model = GeminiModel(KEY, base_url=standin.base_url, **{"timeout_s": 5, "backoff_base": 0.01, **gemini})
    return LlmAgents(RecordingModel(model, ExchangeStore()), configs, implementation="gemini")


def run_chain(agents: Any) -> dict[str, Any]:
    """Analysts and researchers on every sample symbol, then the trader and both approvers."""
    snaps = real_snapshots()
    analyses: dict[str, dict[str, dict[str, Any]]] = {}
    out: dict[str, Any] = {}
    for symbol in snaps:
        analyses[symbol] = {}
        for group in (ANALYSTS, RESEARCHERS):
            for agent in group:
                ctx = context(snaps, analyses, symbol=symbol)
                analyses[symbol][agent.value] = validate_output(agent, agents.run(agent, ctx), ctx)
    out["analyses"] = analyses
    ctx = context(snaps, analyses)
    out["plan"] = validate_output(AgentType.TRADER, agents.run(AgentType.TRADER, ctx), ctx)
    review = context(snaps, analyses, plan=DecisionPlan.model_validate(out["plan"]))
    for agent in APPROVERS:
        out[agent.value] = validate_output(agent, agents.run(agent, review), review)
    return out


def test_the_llm_chain_answers_through_the_real_client_with_tools_and_models_per_agent(
        standin: GeminiStandIn, configs: dict[AgentType, AgentConfig]) -> None:
    llm = run_chain(recording(standin, configs))
    # The stand-in answers as a sound model would (the rule agents' reasoning): every output, the
    # stamped plan included, is what the rule agents give on the same contexts.
    assert llm == run_chain(RuleBasedAgents())

    models = {_agent(r.body): r.model for r in standin.requests}
    assert {a: m for a, m in models.items() if a in ("risk_manager", "critic")} == {
        "risk_manager": FLASH_MODEL, "critic": FLASH_MODEL}
    assert {m for a, m in models.items() if a not in ("risk_manager", "critic")} == {PRO_MODEL}
    trader = [r.body for r in standin.requests if _agent(r.body) == "trader"]
    assert len(trader) == 2  # asked for quotes, then answered with them in hand
    names = {d["name"] for d in trader[0]["tools"][0]["functionDeclarations"]}
    assert {"get_quotes", "portfolio_state", "option_chain", "get_greeks"} <= names
    [tool_turn] = [c for c in trader[1]["contents"] if any("functionResponse" in p for p in c["parts"])]
    quotes = tool_turn["parts"][0]["functionResponse"]["response"]
    assert "result" in quotes and "ADBE" in json.dumps(quotes)
    assert all("tools" not in r.body for r in standin.requests if _agent(r.body) == "critic")  # the critic has none
    assert all(r.api_key == KEY for r in standin.requests)


def _agent(body: dict[str, Any]) -> str:
    return prompt_context(body)[0].value


def test_replay_gives_every_output_again_with_no_network(standin: GeminiStandIn,
                                                         configs: dict[AgentType, AgentConfig]) -> None:
    recorded = run_chain(recording(standin, configs))
    calls = len(standin.requests)
    standin.stop()  # nothing listens any more: a replay that reached for the network would fail
    replayed = run_chain(LlmAgents(ReplayModel(ExchangeStore()), configs, implementation="replay"))
    assert replayed == recorded and len(standin.requests) == calls

    other = {a: replace(c, temperature=c.temperature + 0.1) for a, c in configs.items()}
    with pytest.raises(ReplayMiss, match="technical_analyst"):  # a different request was never recorded
        run_chain(LlmAgents(ReplayModel(ExchangeStore()), other, implementation="replay"))


def analyst_context() -> AgentContext:
    snaps = real_snapshots()
    return context(snaps, symbol="ADBE")


def test_tool_calls_are_bounded_then_an_answer_is_forced(configs: dict[AgentType, AgentConfig]) -> None:
    always_tools = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_quotes", "args": {"symbols": ["ADBE"]}}}]}, "finishReason": "STOP"}]}
    with gemini_standin(lambda body: always_tools) as server:
        bounded = {**configs, AgentType.TECHNICAL_ANALYST: replace(configs[AgentType.TECHNICAL_ANALYST],
                                                                   max_tool_calls=2)}
        with pytest.raises(InvalidAgentOutput, match="where none were allowed"):
            recording(server, bounded).run(AgentType.TECHNICAL_ANALYST, analyst_context())
    modes = [r.body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode") for r in server.requests]
    assert modes == ["AUTO", "AUTO", "AUTO", "NONE"]  # two tool calls allowed, the third refused
    assert "tool budget of this step is spent" in json.dumps(server.requests[-1].body["contents"][-1])


def test_tool_time_is_bounded(standin: GeminiStandIn, configs: dict[AgentType, AgentConfig]) -> None:
    no_time = {**configs, AgentType.TECHNICAL_ANALYST: replace(configs[AgentType.TECHNICAL_ANALYST],
                                                               tool_seconds=0.0)}
    out = recording(standin, no_time).run(AgentType.TECHNICAL_ANALYST, analyst_context())
    assert out["symbol"] == "ADBE"
    modes = [r.body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode") for r in standin.requests]
    assert modes == ["AUTO", "NONE"]  # the tool was never run: the answer was asked for at once


@pytest.mark.parametrize("fault", ["malformed", "truncated", "safety", "empty"])
def test_unusable_replies_make_the_agent_fail(standin: GeminiStandIn, configs: dict[AgentType, AgentConfig],
                                               fault: str) -> None:
    standin.fail_next(1, fault)
    with pytest.raises(InvalidAgentOutput):
        recording(standin, configs).run(AgentType.NEWS_ANALYST, analyst_context())


def test_an_answer_that_breaks_the_schema_fails_closed(configs: dict[AgentType, AgentConfig]) -> None:
    def overconfident(agent: AgentType, answer: dict[str, Any]) -> dict[str, Any]:
        return {**answer, "conviction": 1.7}
    with gemini_standin(agent_responder(edit=overconfident)) as server:
        with pytest.raises(InvalidAgentOutput, match="conviction"):
            snaps = real_snapshots()
            researcher = context(snaps, {"ADBE": real_analyses(snaps)["ADBE"]}, symbol="ADBE")
            recording(server, configs).run(AgentType.BULLISH_RESEARCHER, researcher)


def test_a_price_the_snapshot_does_not_support_is_refused(configs: dict[AgentType, AgentConfig]) -> None:
    def hallucinate(agent: AgentType, answer: dict[str, Any]) -> dict[str, Any]:
        return {**answer, "invalidation_long": round(answer["invalidation_long"] * 0.3, 2)}
    ctx = analyst_context()
    with gemini_standin(agent_responder(edit=hallucinate)) as server:
        raw = recording(server, configs).run(AgentType.TECHNICAL_ANALYST, ctx)
    with pytest.raises(InvalidAgentOutput, match="invalidation_long"):
        validate_output(AgentType.TECHNICAL_ANALYST, raw, ctx)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_statuses_are_retried(standin: GeminiStandIn, configs: dict[AgentType, AgentConfig],
                                        status: int) -> None:
    standin.fail_next(2, status)
    out = recording(standin, configs).run(AgentType.NEWS_ANALYST, analyst_context())
    assert out["symbol"] == "ADBE" and len(standin.requests) == 3


def test_a_model_that_does_not_answer_in_time_fails_the_agent(standin: GeminiStandIn,
                                                              configs: dict[AgentType, AgentConfig]) -> None:
    standin.delay_s = 1.0
    quick = {a: replace(c, timeout_s=0.2) for a, c in configs.items()}
    with pytest.raises(TransientError, match="after 2 attempts"):
        recording(standin, quick, max_retries=1).run(AgentType.NEWS_ANALYST, analyst_context())


def test_a_disabled_agent_gives_no_output(standin: GeminiStandIn, configs: dict[AgentType, AgentConfig]) -> None:
    off = {**configs, AgentType.CRITIC: replace(configs[AgentType.CRITIC], enabled=False)}
    with pytest.raises(ConfigurationError, match="disabled"):
        recording(standin, off).run(AgentType.CRITIC, analyst_context())
    assert standin.requests == []
