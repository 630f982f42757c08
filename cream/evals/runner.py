"""Run the golden scenarios against an AgentBackend, in process, phase by phase as a cycle does.

chain: analysts -> researchers (per symbol) -> trader -> risk manager + critic; each later agent sees only
the valid outputs of the earlier ones, as ``decide.build_context`` gives them. approvers: the fixed plan
and research of the scenario go to the two approvers. Every output goes through ``decide.validate_output``;
an exception there, or from the backend, is that agent's error in that scenario (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cream.agents.port import AgentBackend, AgentContext
from cream.evals.registry import CHECKS, CRITIC_DOMAIN
from cream.evals.report import AgentEvent, CheckResult, EvalReport
from cream.evals.scenarios import ENVIRONMENT, GoldenScenario, load_scenarios
from cream.evals.subject import Subject
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.schemas.decisions import DecisionPlan
from cream.services.decide import validate_output

TRADER_ITERATION = 1  # the first plan of a cycle, before any approver objected


def run_evals(backend: AgentBackend, scenarios: Sequence[GoldenScenario] | None = None) -> EvalReport:
    """Every scenario's chain on ``backend``; the report says, per agent, which checks held."""
    chosen = list(scenarios) if scenarios is not None else load_scenarios()
    report = EvalReport(implementation=backend.implementation, scenarios=[s.name for s in chosen])
    for scenario in chosen:
        _ScenarioRun(backend, scenario, report).run()
    return report


class _ScenarioRun:
    def __init__(self, backend: AgentBackend, scenario: GoldenScenario, report: EvalReport) -> None:
        self.backend, self.scenario, self.report = backend, scenario, report
        self.rules = scenario.rules
        self.analyses: dict[str, dict[str, dict[str, Any]]] = {}

    def run(self) -> None:
        if self.scenario.kind == "approvers":
            self.analyses = self.scenario.analyses
            assert self.scenario.plan is not None
            self._approvers(self.scenario.plan, ())
            return
        for symbol in sorted(self.scenario.snapshots):
            self._symbol_agents(symbol)
        plan, unsound = self._trader()
        if plan is None:
            for agent in APPROVERS:
                self._skip(agent, None, "no valid plan from the trader")
        else:
            self._approvers(plan, unsound)

    # --- phases ----------------------------------------------------------------------------------

    def _symbol_agents(self, symbol: str) -> None:
        found: dict[str, dict[str, Any]] = {}
        for agent in ANALYSTS:
            out = self._call(agent, self._context(symbol, {}), symbol)
            if out is not None:
                found[agent.value] = out
                self._check(agent, Subject(self.scenario, self.rules, out, symbol=symbol))
        upstream = dict(found)  # the researchers run side by side: neither sees the other
        for agent in RESEARCHERS:
            missing = [a.value for a in ANALYSTS if a.value not in upstream]
            if missing:
                self._skip(agent, symbol, f"no valid output from {', '.join(missing)}")
                continue
            out = self._call(agent, self._context(symbol, upstream), symbol)
            if out is not None:
                found[agent.value] = out
                self._check(agent, Subject(self.scenario, self.rules, out, symbol=symbol))
        self.analyses[symbol] = found

    def _trader(self) -> tuple[DecisionPlan | None, tuple[str, ...]]:
        out = self._call(AgentType.TRADER, self._context(None, None), None)
        if out is None:
            return None, ()
        plan = DecisionPlan.model_validate(out)
        failed = self._check(AgentType.TRADER, Subject(self.scenario, self.rules, out, analyses=self.analyses,
                                                       plan=plan))
        return plan, tuple(sorted(set(failed) & CRITIC_DOMAIN))

    def _approvers(self, plan: DecisionPlan, unsound: tuple[str, ...]) -> None:
        for agent in APPROVERS:
            out = self._call(agent, self._context(None, None, plan), None)
            if out is not None:
                self._check(agent, Subject(self.scenario, self.rules, out, analyses=self.analyses, plan=plan,
                                           unsound=unsound))

    # --- plumbing --------------------------------------------------------------------------------

    def _context(self, symbol: str | None, upstream: dict[str, dict[str, Any]] | None,
                 plan: DecisionPlan | None = None) -> AgentContext:
        s = self.scenario
        if symbol is not None:  # a per-symbol agent sees its symbol only, as decide.build_context gives it
            snaps, analyses, iteration = {symbol: s.snapshots[symbol]}, {symbol: upstream or {}}, 0
        else:
            snaps, analyses, iteration = dict(s.snapshots), self.analyses, TRADER_ITERATION
        return AgentContext(
            cycle_id=s.cycle_id, environment=ENVIRONMENT, as_of=s.as_of, iteration=iteration, symbol=symbol,
            snapshots=snaps, analyses=analyses, portfolio=s.portfolio, rules=self.rules, plan=plan,
            sectors=dict(s.sectors) if plan is not None else {})

    def _call(self, agent: AgentType, ctx: AgentContext, symbol: str | None) -> dict[str, Any] | None:
        try:
            out = validate_output(agent, self.backend.run(agent, ctx), ctx)
        except Exception as exc:  # any failure of the agent is its error here, as in a cycle
            self.report.events.append(AgentEvent(self.scenario.name, agent, symbol,
                                                 error=f"{type(exc).__name__}: {exc}"[:300]))
            return None
        self.report.events.append(AgentEvent(self.scenario.name, agent, symbol))
        return out

    def _skip(self, agent: AgentType, symbol: str | None, why: str) -> None:
        self.report.events.append(AgentEvent(self.scenario.name, agent, symbol, skipped=why))

    def _check(self, agent: AgentType, subject: Subject) -> list[str]:
        """Run the scenario's checks for ``agent``; the names of those that failed."""
        failed = []
        for name in self.scenario.checks.get(agent, []):
            try:
                reasons = CHECKS[agent][name](subject)
            except Exception as exc:  # a check that cannot read the output counts against the output
                reasons = [f"check could not read the output: {type(exc).__name__}: {exc}"]
            self.report.results.append(CheckResult(self.scenario.name, agent, subject.symbol, name,
                                                   not reasons, "; ".join(reasons)[:300]))
            if reasons:
                failed.append(name)
        return failed
