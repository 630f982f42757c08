"""The CI eval: the rule-based agents meet every golden check."""

from __future__ import annotations

import pytest

from cream.errors import ConfigurationError
from cream.evals import EvalReport, eval_backend, load_scenarios, run_evals
from cream.schemas.agents import AgentType


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return run_evals(eval_backend("rules"))


def test_rule_agents_pass_every_golden_check(report: EvalReport) -> None:
    failures = [f"{r.agent.value} {r.scenario} {r.check}: {r.reason}" for r in report.results if not r.passed]
    errors = [f"{e.agent.value} {e.scenario}: {e.error}" for e in report.events if e.error]
    assert report.ok, failures + errors
    assert report.implementation == "rules-v1" and len(report.scenarios) == len(load_scenarios())


def test_every_agent_is_run_and_checked(report: EvalReport) -> None:
    chain = sum(s.kind == "chain" for s in load_scenarios())
    for agent, summary in report.per_agent().items():
        expected = len(report.scenarios) if agent in (AgentType.RISK_MANAGER, AgentType.CRITIC) else chain
        assert summary.scenarios_run == expected, agent
        assert summary.checks_passed > 0 and summary.checks_failed == summary.errors == summary.skipped == 0


def test_table_and_json_say_the_same(report: EvalReport) -> None:
    table, data = report.table(), report.to_json()
    assert table.splitlines()[-1].startswith("OK: ")
    assert data["ok"] is True and set(data["agents"]) == {a.value for a in AgentType}
    trader = report.summary(AgentType.TRADER)
    assert data["agents"]["trader"]["checks_passed"] == trader.checks_passed
    assert any(line.startswith("trader") and str(trader.checks_passed) in line for line in table.splitlines())


def test_one_scenario_can_be_run_alone() -> None:
    r = run_evals(eval_backend("rules"), load_scenarios(["reject_oversized_plan"]))
    assert r.ok and r.scenarios == ["reject_oversized_plan"]
    assert r.summary(AgentType.TRADER).scenarios_run == 0
    assert r.summary(AgentType.RISK_MANAGER).checks_passed > 0


def test_an_unknown_backend_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown agent backend 'claude'"):
        eval_backend("claude")
