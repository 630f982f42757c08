"""The golden evals against the Gemini agents (the real client, the stand-in model), then again from the
recorded replies with no network: the same report, per agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cream import runtime
from cream.evals import eval_backend, load_scenarios, run_evals
from cream.schemas.agents import AgentType
from tests.integration.helpers import cream_environment
from tests.standins.gemini_agents import agent_responder
from tests.standins.gemini_server import gemini_standin

pytestmark = pytest.mark.integration
SCENARIOS = ("bear_regime_bullish_technicals", "long_against_research", "reject_oversized_plan",
             "reject_hallucinated_price")


@pytest.fixture()
def llm_env(tmp_path: Path) -> Iterator[str]:
    runtime.language_model.cache_clear()
    with gemini_standin(agent_responder()) as server:
        with cream_environment({"CREAM_DATA_DIR": str(tmp_path), "CREAM_DATABASE_URL": f"sqlite:///{tmp_path}/e.db",
                                "GEMINI_API_KEY": "AIza-evals-key", "CREAM_GEMINI_BASE_URL": server.base_url,
                                "CREAM_GEMINI_BACKOFF_S": "0.01"}):
            yield server  # type: ignore[misc]
    runtime.language_model.cache_clear()


def _summary(report: Any) -> dict[str, tuple[int, int, int]]:
    return {a.value: (s.checks_passed, s.checks_failed, s.errors) for a, s in report.per_agent().items()}


def test_evals_run_against_gemini_and_replay_to_the_same_report(llm_env: Any) -> None:
    scenarios = load_scenarios(list(SCENARIOS))
    gemini = run_evals(eval_backend("gemini"), scenarios)
    assert gemini.ok, gemini.table()
    assert gemini.implementation == "gemini" and len(llm_env.requests) > 0
    assert set(_summary(gemini)) == {a.value for a in AgentType}

    calls = len(llm_env.requests)
    llm_env.stop()
    runtime.language_model.cache_clear()
    replay = run_evals(eval_backend("replay"), scenarios)
    assert replay.ok and _summary(replay) == _summary(gemini) and len(llm_env.requests) == calls


def test_a_critic_model_that_approves_everything_fails_its_evals(tmp_path: Path) -> None:
    def rubber_stamp(agent: AgentType, answer: dict[str, Any]) -> dict[str, Any]:
        if agent is AgentType.CRITIC:
            return {"agent": "critic", "verdict": "APPROVE", "objections": [], "summary": "looks fine"}
        return answer
    runtime.language_model.cache_clear()
    with gemini_standin(agent_responder(edit=rubber_stamp)) as server, cream_environment({
            "CREAM_DATA_DIR": str(tmp_path), "CREAM_DATABASE_URL": f"sqlite:///{tmp_path}/e.db",
            "GEMINI_API_KEY": "AIza-evals-key", "CREAM_GEMINI_BASE_URL": server.base_url}):
        report = run_evals(eval_backend("gemini"), load_scenarios(["reject_hallucinated_price"]))
    runtime.language_model.cache_clear()
    assert not report.ok
    assert report.failed_checks(AgentType.CRITIC) and not report.failed_checks(AgentType.RISK_MANAGER)
