"""The golden scenario files: they load, validate, cover what the evals promise, and are reproducible."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from cream.errors import ConfigurationError
from cream.evals import load_scenarios
from cream.evals.make_golden import build_all, render
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


def same(built: Any, committed: Any, where: str = "") -> list[str]:
    """Where two JSON values differ; floats may differ in the last digits (numba on another CPU)."""
    if isinstance(built, float) and isinstance(committed, (int, float)):
        return [] if math.isclose(built, committed, rel_tol=1e-6, abs_tol=1e-6) else [where]
    if isinstance(built, dict) and isinstance(committed, dict):
        if built.keys() != committed.keys():
            return [f"{where} keys"]
        return [d for k in built for d in same(built[k], committed[k], f"{where}.{k}")]
    if isinstance(built, list) and isinstance(committed, list) and len(built) == len(committed):
        pairs = enumerate(zip(built, committed, strict=True))
        return [d for i, (x, y) in pairs for d in same(x, y, f"{where}[{i}]")]
    return [] if built == committed else [where]


def test_the_committed_files_are_what_the_generator_builds() -> None:
    assert same({"a": [1.0, "x"]}, {"a": [1.0000000001, "x"]}) == []
    assert same({"a": [1.0, "x"]}, {"a": [1.001, "y"]}) == [".a[0]", ".a[1]"]
    built = {s.name: s for s in build_all()}
    assert set(built) == set(BY_NAME)
    for name, s in built.items():
        committed = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
        assert same(json.loads(render(s)), committed) == [], name


def test_the_generator_writes_files_its_check_accepts_and_notices_an_edit(tmp_path: Path) -> None:
    assert make_golden(["--out", str(tmp_path)]) == 0
    assert make_golden(["--check", "--out", str(tmp_path)]) == 0
    path = tmp_path / "bull_trend.json"
    data = json.loads(path.read_text())
    data["portfolio"]["equity"] = 1.0
    path.write_text(json.dumps(data))
    assert make_golden(["--check", "--out", str(tmp_path)]) == 1


def test_scenarios_cover_each_regime_event_risk_a_held_position_and_both_gate_verdicts() -> None:
    chain = [s for s in SCENARIOS if s.kind == "chain"]
    regimes = {snap.regime.regime for s in chain for snap in s.snapshots.values()}
    assert {RegimeLabel.BULL_TREND, RegimeLabel.BEAR_TREND, RegimeLabel.RANGE_BOUND,
            RegimeLabel.HIGH_VOL} <= regimes
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
    sma20, sma50 = cost.indicators["sma_20_1d"], cost.indicators["sma_50_1d"]
    assert sma20 > sma50 and cost.price > sma20


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
    with pytest.raises(ConfigurationError, match=r"trader\.reads_tea_leaves"):
        load_scenario(path)
