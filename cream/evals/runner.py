"""Run the golden scenarios against an AgentBackend through the cycle pipeline itself, in process.

Each scenario becomes a cycle in a scratch database (``storage.db.scratch_database``): its snapshots are
the orient checkpoint, its portfolio and option marks the observe checkpoint, its rules the ACTIVE trading config and
its sectors the universe. ``chain`` scenarios then run the pipeline (``cream.services.inprocess``) from
the analysts to the first plan and its two verdicts; ``approvers`` scenarios record the scenario's fixed
research and plan as the trader's and run the two approvers. The pipeline stops before the gate: the
same context assembly, validation (``decide.validate_output``) and fail-closed errors as a cycle, with
no control flow of its own here. Every output recorded is then checked against the scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from cream.agents.port import AgentBackend
from cream.evals.registry import CHECKS, CRITIC_DOMAIN
from cream.evals.report import AgentEvent, CheckResult, EvalReport
from cream.evals.scenarios import ENVIRONMENT, GoldenScenario, load_scenarios
from cream.evals.subject import Subject
from cream.ports import Broker, MarketData
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.schemas.config import TradingConfig
from cream.schemas.cycle import CycleStatus, Observed, Oriented, Phase
from cream.schemas.decisions import DecisionPlan, Environment
from cream.services import cycles
from cream.services.decide import PORTFOLIO
from cream.services.inprocess import InProcessRunner
from cream.services.pipeline import Ports, StepKind, following
from cream.services.runtime_config import seed_defaults
from cream.storage.db import scratch_database, session_scope
from cream.storage.models import AgentOutput, Cycle, TradingConfigRow, UniverseConfigRow
from cream.storage.types import utcnow

TRADER_ITERATION = 1  # the first plan of a cycle, before any approver objected
BOOK = "evals"


def run_evals(backend: AgentBackend, scenarios: Sequence[GoldenScenario] | None = None) -> EvalReport:
    """Every scenario through the pipeline on ``backend``; the report says, per agent, which checks held."""
    chosen = list(scenarios) if scenarios is not None else load_scenarios()
    report = EvalReport(implementation=backend.implementation, scenarios=[s.name for s in chosen])
    runner = InProcessRunner(Ports(market=_no_market, broker=_no_broker, agents=lambda _env: backend))
    with scratch_database():
        with session_scope() as s:
            seed_defaults(s)
        for scenario in chosen:
            _ScenarioRun(scenario, report).run(runner)
    return report


def _no_market() -> MarketData:
    raise LookupError("the evals stop before any phase that reads the market")


def _no_broker(_env: Environment, _config: TradingConfig) -> Broker:
    raise LookupError("the evals stop before any phase that reaches a broker")


class _ScenarioRun:
    def __init__(self, scenario: GoldenScenario, report: EvalReport) -> None:
        self.scenario, self.report, self.rules = scenario, report, scenario.rules
        self.symbols = sorted(scenario.snapshots)

    def run(self, runner: InProcessRunner) -> None:
        given = self._open()
        after, iteration = (Phase.TRADER, TRADER_ITERATION) if self.scenario.kind == "approvers" else (Phase.ORIENT, 0)
        runner.drive(self.scenario.cycle_id, following(self.symbols, after, iteration), until=StepKind.GATE)
        with session_scope(readonly=True) as s:
            rows = [r for r in s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == self.scenario.cycle_id)
                                         .order_by(AgentOutput.id)) if r.id not in given]
            failed = s.get(Cycle, self.scenario.cycle_id)
            if failed is not None and failed.status == CycleStatus.FAILED.value:
                raise RuntimeError(f"scenario {self.scenario.name}: the pipeline failed: {failed.reason}")
        self._check_all(rows)

    def _open(self) -> set[int]:
        """The scenario as a cycle that has observed and oriented (and, for ``approvers``, planned); the ids
        of the outputs it was given."""
        sc = self.scenario
        with session_scope() as s:
            config = s.scalars(select(TradingConfigRow).where(TradingConfigRow.environment == ENVIRONMENT.value,
                                                              TradingConfigRow.status == "ACTIVE")).one()
            for name, value in self.rules.model_dump().items():
                setattr(config, name, value)
            universe = s.scalars(select(UniverseConfigRow).where(
                UniverseConfigRow.environment == ENVIRONMENT.value, UniverseConfigRow.status == "ACTIVE")).one()
            universe.static_symbols, universe.sectors = self.symbols, dict(sc.sectors)
            s.add(Cycle(id=sc.cycle_id, environment=ENVIRONMENT.value, book=BOOK, scheduled_for=sc.as_of,
                        symbols=self.symbols, source="evals", status=CycleStatus.RUNNING.value, iterations=0,
                        started_at=utcnow()))
            s.flush()
            cycles.record(s, sc.cycle_id, Observed(as_of=sc.as_of, prices={}, portfolio=sc.portfolio,
                                                   option_marks=dict(sc.option_marks)))
            cycles.record(s, sc.cycle_id, Oriented(snapshots=dict(sc.snapshots)))
            given = []
            if sc.kind == "approvers":
                assert sc.plan is not None
                for symbol, found in sc.analyses.items():
                    for agent, out in found.items():
                        given.append(AgentOutput(cycle_id=sc.cycle_id, agent_type=agent, symbol=symbol, iteration=0,
                                                 status="OK", output=out, implementation="scenario"))
                given.append(AgentOutput(cycle_id=sc.cycle_id, agent_type=AgentType.TRADER.value, symbol=PORTFOLIO,
                                         iteration=TRADER_ITERATION, status="OK",
                                         output=sc.plan.model_dump(mode="json"), implementation="scenario"))
                s.add_all(given)
                s.flush()
            return {r.id for r in given}

    # --- checks ------------------------------------------------------------------------------------

    def _check_all(self, rows: list[AgentOutput]) -> None:
        sc = self.scenario
        analyses: dict[str, dict[str, dict[str, Any]]] = dict(sc.analyses) if sc.kind == "approvers" else {}
        unsound: tuple[str, ...]
        plan, unsound = sc.plan if sc.kind == "approvers" else None, ()
        for row in rows:
            agent, symbol = AgentType(row.agent_type), None if row.symbol == PORTFOLIO else row.symbol
            if agent in APPROVERS and plan is None:
                self.report.events.append(AgentEvent(sc.name, agent, symbol, skipped="no valid plan from the trader"))
                continue
            if row.status != "OK" or row.output is None:
                self.report.events.append(AgentEvent(sc.name, agent, symbol, error=(row.error or "no output")[:300]))
                continue
            self.report.events.append(AgentEvent(sc.name, agent, symbol))
            out = row.output
            if agent in ANALYSTS or agent in RESEARCHERS:
                analyses.setdefault(str(symbol), {})[agent.value] = out
                self._check(agent, Subject(sc, self.rules, out, symbol=symbol))
            elif agent is AgentType.TRADER:
                plan = DecisionPlan.model_validate(out)
                failed = self._check(agent, Subject(sc, self.rules, out, analyses=analyses, plan=plan))
                unsound = tuple(sorted(set(failed) & CRITIC_DOMAIN))
            else:
                self._check(agent, Subject(sc, self.rules, out, analyses=analyses, plan=plan, unsound=unsound))

    def _check(self, agent: AgentType, subject: Subject) -> list[str]:
        """Run the scenario's checks for ``agent``; the names of those that failed."""
        failed = []
        for name in self.scenario.checks.get(agent, []):
            try:
                reasons = CHECKS[agent][name](subject)
            except Exception as exc:  # noqa: BLE001 - a check that cannot read the output counts against the output
                reasons = [f"check could not read the output: {type(exc).__name__}: {exc}"]
            self.report.results.append(CheckResult(self.scenario.name, agent, subject.symbol, name,
                                                   not reasons, "; ".join(reasons)[:300]))
            if reasons:
                failed.append(name)
        return failed
