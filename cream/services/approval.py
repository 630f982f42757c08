"""The dual gate: both approvers must APPROVE; a rejection goes back to the trader, at most
``max_consensus_iterations`` plans in all, then NO_TRADE. There is no path to a default approval."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cream.schemas.agents import Verdict
from cream.schemas.cycle import CycleStatus, Gated, GateOutcome, Phase
from cream.services import cycles
from cream.services.decide import trader_plan, verdicts
from cream.services.llm_budget import over_budget


def gate(s: Session, cycle_id: str, iteration: int, max_iterations: int) -> tuple[Gated, bool]:
    """The gate's outcome for ``iteration``, and whether this call decided it (a later call reads it)."""
    done = cycles.load(s, cycle_id, Gated, iteration)
    if done is not None:
        return done, False
    found = verdicts(s, cycle_id, iteration)
    plan = trader_plan(s, cycle_id, iteration)
    approved = plan is not None and all(v.verdict is Verdict.APPROVE for v in found.values())
    objections = [f"{o.code}: {o.message}" for v in found.values() for o in v.objections]
    spent = over_budget(s, cycle_id)
    if spent:  # whatever the verdicts: a cycle past its LLM budget trades nothing
        outcome, reason = GateOutcome.NO_TRADE, spent
    elif approved:
        outcome, reason = GateOutcome.APPROVED, None
    elif iteration < max_iterations:
        outcome, reason = GateOutcome.REVISE, "; ".join(objections)
    else:
        outcome = GateOutcome.NO_TRADE
        reason = f"plan rejected {iteration} time(s), no consensus: " + "; ".join(objections)
    cycles.get_cycle(s, cycle_id).iterations = iteration
    gated, wrote = cycles.record(s, cycle_id, Gated(outcome=outcome, iteration=iteration, reason=reason,
                                                    verdicts={a.value: v.verdict.value for a, v in found.items()}),
                                 iteration)
    if outcome is GateOutcome.NO_TRADE:
        cycles.conclude(s, cycle_id, CycleStatus.NO_TRADE, reason)
    return gated, wrote


def approved_iteration(s: Session, cycle_id: str) -> int | None:
    for cp in reversed(cycles.checkpoints(s, cycle_id, Phase.GATE)):
        if cp.data.get("outcome") == GateOutcome.APPROVED.value:
            return cp.iteration
    return None
