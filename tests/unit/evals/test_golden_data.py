"""The golden scenario files: they load, validate, cover what the evals promise, and are reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cream.errors import ConfigurationError
from cream.evals import load_scenarios
from cream.evals.make_golden import main as make_golden
from cream.evals.registry import CHECKS
from cream.evals.scenarios import GOLDEN_DIR, GoldenScenario, load_scenario
from cream.schemas.agents import AgentType, Verdict
from cream.schemas.market import EventKind, RegimeLabel

SCENARIOS = load_scenarios()
BY_NAME = {s.name: s for s in SCENARIOS}


def test_every_golden_file_loads_and_names_only_known_checks() -> None:
    assert len(SCENARIOS) == len(list(GOLDEN_DIR.glob("*.json"))) >= 10
    for s in SCENARIOS:
        assert s.checks, s.name
        for agent, names in s.checks.items():
            assert names and set(names) <= set(CHECKS[agent]), (s.name, agent)


def test_the_committed_files_are_what_the_generator_builds(tmp_path: Path) -> None:
    assert make_golden(["--check"]) == 0
    assert make_golden(["--out", str(tmp_path)]) == 0
    for path in GOLDEN_DIR.glob("*.json"):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name


def test_the_generator_check_notices_an_edited_file(tmp_path: Path) -> None:
    make_golden(["--out", str(tmp_path)])
    path = tmp_path / "bull_trend.json"
    data = json.loads(path.read_text())
    data["portfolio"]["equity"] = 1.0
    path.write_text(json.dumps(data))
    assert make_golden(["--check", "--out", str(tmp_path)]) == 1


def test_scenarios_cover_each_regime_event_risk_a_held_position_and_both_gate_verdicts() -> None:
    chain = [s for s in SCENARIOS if s.kind == "chain"]
    regimes = {snap.regime.regime for s in chain for snap in s.snapshots.values()}
    assert {RegimeLabel.BULL_TREND, RegimeLabel.BEAR_TREND, RegimeLabel.RANGE_BOUND, RegimeLabel.HIGH_VOL} <= regimes
    assert any(e.kind is EventKind.EARNINGS for snap in BY_NAME["earnings_event_risk"].snapshots.values()
               for e in snap.external_events)
    assert BY_NAME["long_against_research"].portfolio.positions["MA"].quantity > 0
    assert BY_NAME["near_limits"].rules.max_gross_notional < BY_NAME["bull_trend"].rules.max_gross_notional
    verdicts = {(a, e.verdict) for s in SCENARIOS for a, e in s.expect.items()}
    assert {(AgentType.RISK_MANAGER, Verdict.REJECT), (AgentType.RISK_MANAGER, Verdict.APPROVE),
            (AgentType.CRITIC, Verdict.REJECT), (AgentType.CRITIC, Verdict.APPROVE)} <= verdicts


def test_the_forced_bear_regime_sits_on_bullish_indicators() -> None:
    cost = BY_NAME["bear_regime_bullish_technicals"].snapshots["COST"]
    assert cost.regime.regime is RegimeLabel.BEAR_TREND
    assert cost.indicators["sma_20_1d"] > cost.indicators["sma_50_1d"] and cost.price > cost.indicators["sma_20_1d"]


def test_approver_scenarios_carry_their_plan_with_the_eval_cycle_id() -> None:
    for s in SCENARIOS:
        if s.kind == "approvers":
            assert s.plan is not None and s.plan.cycle_id == f"eval-{s.name}" and s.plan.decisions
            assert set(s.checks) == {AgentType.RISK_MANAGER, AgentType.CRITIC}


def test_a_scenario_that_contradicts_itself_is_refused() -> None:
    data = BY_NAME["bull_trend"].model_dump(mode="json")
    with pytest.raises(ValueError, match="fixed plan"):
        GoldenScenario.model_validate({**data, "kind": "approvers"})
    with pytest.raises(ValueError, match="names no trading rule"):
        GoldenScenario.model_validate({**data, "rules_overrides": {"max_yolo": 1.0}})


def test_unknown_scenarios_and_checks_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown scenario"):
        load_scenarios(["no_such_scenario"])
    data = BY_NAME["bull_trend"].model_dump(mode="json")
    data["checks"]["trader"].append("reads_tea_leaves")
    path = tmp_path / "bull_trend.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="trader.reads_tea_leaves"):
        load_scenario(path)
