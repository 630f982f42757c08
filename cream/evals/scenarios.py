"""Golden scenarios: what the agents see (snapshots, portfolio, rules) and what a sound answer must meet.

Each scenario is one JSON file in ``cream/evals/golden/`` written by ``python -m cream.evals.make_golden``
from the bundled sample. A ``chain`` scenario runs every agent in order; an ``approvers`` scenario hands a
fixed plan (and fixed research) to the risk manager and the critic only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from cream.errors import ConfigurationError
from cream.schemas.agents import APPROVERS, AgentType, Verdict
from cream.schemas.config import TradingRules
from cream.schemas.decisions import DecisionPlan, Environment
from cream.schemas.instruments import Frozen
from cream.schemas.market import FeatureSnapshot, OptionMark
from cream.schemas.portfolio import PortfolioView
from cream.services.runtime_config import default_trading_config

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
ENVIRONMENT = Environment.BACKTEST


class Expectation(Frozen):
    """What an approver must answer on this scenario's plan, and which symbol its objection must name."""

    verdict: Verdict
    offender: str | None = None


class GoldenScenario(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    kind: Literal["chain", "approvers"]
    as_of: datetime
    snapshots: dict[str, FeatureSnapshot] = Field(min_length=1)
    portfolio: PortfolioView
    rules_overrides: dict[str, float] = Field(default_factory=dict)
    sectors: dict[str, str] = Field(default_factory=dict)
    option_marks: dict[str, OptionMark] = Field(
        default_factory=dict, description="the contracts the cycle marked (held ones and the chain window)")
    analyses: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="approvers scenarios: the fixed research the plan rests on")
    plan: DecisionPlan | None = None
    expect: dict[AgentType, Expectation] = Field(default_factory=dict)
    checks: dict[AgentType, list[str]] = Field(description="the named checks each agent's output must pass")

    @property
    def cycle_id(self) -> str:
        return f"eval-{self.name}"

    @property
    def rules(self) -> TradingRules:
        base = default_trading_config(ENVIRONMENT).rules
        return TradingRules.model_validate({**base.model_dump(), **self.rules_overrides})

    @model_validator(mode="after")
    def _coherent(self) -> GoldenScenario:
        for key, snap in self.snapshots.items():
            if key != snap.symbol or snap.as_of != self.as_of:
                raise ValueError(f"snapshot {key} is about {snap.symbol} at {snap.as_of}, "
                                 f"not {key} at {self.as_of}")
        unknown = set(self.rules_overrides) - set(TradingRules.model_fields)
        if unknown:
            raise ValueError(f"rules_overrides names no trading rule: {sorted(unknown)}")
        if self.kind == "approvers":
            if self.plan is None or not self.analyses:
                raise ValueError("an approvers scenario needs a fixed plan and the research behind it")
            if self.plan.cycle_id != self.cycle_id or self.plan.environment is not ENVIRONMENT:
                raise ValueError(f"the fixed plan must carry cycle id {self.cycle_id} "
                                 f"and {ENVIRONMENT.value}")
            if set(self.checks) - set(APPROVERS):
                raise ValueError("an approvers scenario checks only the risk manager and the critic")
        elif self.plan is not None or self.analyses:
            raise ValueError("a chain scenario takes its research and plan from the backend, "
                             "not from the file")
        if set(self.expect) - set(APPROVERS):
            raise ValueError("only the approvers have an expected verdict")
        return self


def scenario_path(name: str, directory: Path = GOLDEN_DIR) -> Path:
    return directory / f"{name}.json"


def scenario_names(directory: Path = GOLDEN_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def load_scenario(path: Path) -> GoldenScenario:
    from cream.evals.registry import unknown_checks

    try:
        scenario = GoldenScenario.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"golden scenario {path} is unreadable ({exc}): regenerate it with "
                                 "python -m cream.evals.make_golden") from exc
    if scenario.name != path.stem:
        raise ConfigurationError(f"{path} holds scenario {scenario.name!r}: the file name must match it")
    unknown = unknown_checks(scenario)
    if unknown:
        raise ConfigurationError(f"scenario {scenario.name} names unknown checks {unknown}: "
                                 "fix the generator and regenerate")
    return scenario


def load_scenarios(names: Sequence[str] | None = None, directory: Path = GOLDEN_DIR) -> list[GoldenScenario]:
    """The golden scenarios (all, or those named), in name order."""
    known = scenario_names(directory)
    if not known:
        raise ConfigurationError(f"no golden scenarios in {directory}: run python -m cream.evals.make_golden")
    wanted = sorted(set(names)) if names else known
    missing = [n for n in wanted if n not in known]
    if missing:
        raise ConfigurationError(f"unknown scenario(s) {', '.join(missing)}; known: {', '.join(known)}")
    return [load_scenario(scenario_path(n, directory)) for n in wanted]
