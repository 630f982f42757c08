"""Replay one recorded cycle, in this process, from its checkpoints and the recorded model replies.

The cycle's observe and orient checkpoints give back exactly what its agents saw (bars, quotes, the
book), so a PAPER or LIVE cycle replays as faithfully as a BACKTEST one, with no network and no
order: the agents run in phase order through the same context assembly and validation as in a
cycle, approvers that fail count as REJECT, and the plan goes back to the trader until both approve
or ``max_consensus_iterations`` is reached. The result says whether the replayed plan is the one
the cycle recorded. A request that was never recorded (changed prompts, configs or rules) makes
that agent fail, as in a cycle, and is listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cream.agents.llm_agents import LlmAgents
from cream.llm.recorder import ExchangeStore, ReplayModel
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType, ApprovalVerdict, Verdict
from cream.schemas.decisions import DecisionPlan, Environment
from cream.services import cycles, decide
from cream.services.cycles import Phase
from cream.services.reports import cycle_report
from cream.services.runtime_config import active_sectors, active_trading_config, agent_configs
from cream.storage.db import session_scope


@dataclass
class ReplayResult:
    cycle_id: str
    recorded_status: str
    recorded_plan: dict[str, Any] | None
    plan: dict[str, Any] | None = None
    outcome: str = "NO_TRADE"  # APPROVED | NO_TRADE
    iterations: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """The same plan, and the same verdict on it (approved and executed, or not)."""
        executed = self.recorded_status == "EXECUTED"
        return self.plan == self.recorded_plan and (self.outcome == "APPROVED") == executed


def replay_cycle(cycle_id: str) -> ReplayResult:
    with session_scope(readonly=True) as s:
        cycle = cycles.get_cycle(s, cycle_id)
        env = Environment(cycle.environment)
        config = active_trading_config(s, env)
        inputs = decide.CycleInputs(cycle_id, env, cycles.load_checkpoint(s, cycle_id, Phase.OBSERVE) or {},
                                    cycles.load_checkpoint(s, cycle_id, Phase.ORIENT) or {}, config.rules,
                                    active_sectors(s, env))
        recorded = cycle_report(s, cycle_id)
        agents = LlmAgents(ReplayModel(ExchangeStore()), agent_configs(s, env), implementation="replay", ledger=False)
    if not inputs.oriented:
        raise ValueError(f"cycle {cycle_id} has no orient checkpoint: it never reached its agents")
    result = ReplayResult(cycle_id, recorded["status"], recorded["plan"])
    analyses = _research(agents, inputs, sorted(inputs.oriented.get("snapshots", {})), result)
    previous: DecisionPlan | None = None
    found: dict[AgentType, ApprovalVerdict] = {}
    for iteration in range(1, config.max_consensus_iterations + 1):
        objections = [o for v in found.values() for o in v.objections] if iteration > 1 else []
        raw, _ = _run(agents, inputs, AgentType.TRADER, None, iteration, analyses, None, previous, objections,
                      result)
        plan = DecisionPlan.model_validate(raw) if raw is not None else None
        found = {}
        for agent in APPROVERS:
            verdict, error = _run(agents, inputs, agent, None, iteration, analyses, plan, None, [], result)
            found[agent] = (ApprovalVerdict.model_validate(verdict) if verdict is not None
                            else decide.failed_verdict(agent, error))
        result.plan, result.iterations, previous = raw, iteration, plan
        if plan is not None and all(v.verdict is Verdict.APPROVE for v in found.values()):
            result.outcome = "APPROVED"
            break
    return result


def _research(agents: LlmAgents, inputs: decide.CycleInputs, symbols: list[str],
              result: ReplayResult) -> dict[str, dict[str, dict[str, Any]]]:
    analyses: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in symbols}
    for phase in (ANALYSTS, RESEARCHERS):
        seen = {s: dict(a) for s, a in analyses.items()}  # a phase sees the phases before it only
        for symbol in symbols:
            for agent in phase:
                out, _ = _run(agents, inputs, agent, symbol, 0, seen, None, None, [], result)
                if out is not None:
                    analyses[symbol][agent.value] = out
    return analyses


def _run(agents: LlmAgents, inputs: decide.CycleInputs, agent: AgentType, symbol: str | None, iteration: int,
         analyses: dict[str, dict[str, dict[str, Any]]], plan: DecisionPlan | None, previous: DecisionPlan | None,
         objections: list[Any], result: ReplayResult) -> tuple[dict[str, Any] | None, str | None]:
    """(output, None), or (None, the error as a cycle records it)."""
    ctx = decide.assemble_context(inputs, agent, symbol, iteration, analyses, plan, previous, objections)
    try:
        return decide.validate_output(agent, agents.run(agent, ctx), ctx), None
    except Exception as exc:  # as in a cycle: the agent's output is an error, never a default
        error = f"{type(exc).__name__}: {exc}"
        result.errors.append(f"{agent.value}/{symbol or '*'}/{iteration}: {error}")
        return None, error
