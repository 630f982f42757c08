"""The cycle as a Celery canvas (DESIGN.md §3), buildable from any checkpoint so a cycle resumes.

observe → orient → group[technical, news, fundamentals × symbols] ⇒ analysts_done
        → group[bullish, bearish × symbols] ⇒ research_done → trader(i) → group[risk_manager(i), critic(i)]
        ⇒ gate(i): APPROVED → execution.act | REVISE → trader(i+1) … | NO_TRADE

⇒ is a join we keep ourselves instead of a Celery chord: every member, once its output is recorded,
counts the phase's outputs in the database and sends the join when all are there; the join checks
again and hands the cycle on once (the task that records the phase's checkpoint does). Celery's chord
counter counts completions, not members: a member that finished, died before its ack and ran again
was counted twice, the join fired early and never again.
"""

from __future__ import annotations

from typing import Any

from celery import chain, group, signature
from celery.canvas import Signature

from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.services.cycles import Phase

ANALYST_TASKS = ("agents.technical_analyst", "agents.news_analyst", "agents.fundamentals_analyst")
RESEARCH_TASKS = ("agents.bullish_researcher", "agents.bearish_researcher")
APPROVER_TASKS = ("agents.risk_manager", "agents.critic")
# The join each group of agents hands on to, and the agents it waits for.
JOINS: dict[AgentType, tuple[str, tuple[AgentType, ...]]] = {
    **{a: ("cycles.analysts_done", ANALYSTS) for a in ANALYSTS},
    **{a: ("cycles.research_done", RESEARCHERS) for a in RESEARCHERS},
    **{a: ("cycles.gate", APPROVERS) for a in APPROVERS},
}


def _si(name: str, *args: Any) -> Signature:
    return signature(name, args=args, immutable=True)


def analysts(cycle_id: str, symbols: list[str]) -> Signature:
    return group([_si(t, cycle_id, s) for s in symbols for t in ANALYST_TASKS])


def research(cycle_id: str, symbols: list[str]) -> Signature:
    return group([_si(t, cycle_id, s) for s in symbols for t in RESEARCH_TASKS])


def approvers(cycle_id: str, iteration: int) -> Signature:
    return group([_si(t, cycle_id, iteration) for t in APPROVER_TASKS])


def approval_round(cycle_id: str, iteration: int) -> Signature:
    return chain(_si("agents.trader", cycle_id, iteration), approvers(cycle_id, iteration))


def cycle_canvas(cycle_id: str, symbols: list[str], after: Phase | None = None, iteration: int = 0) -> Signature:
    """The rest of the cycle after checkpoint ``after`` (None: the whole cycle)."""
    if after is None:
        return chain(_si("data.observe", cycle_id), _si("data.orient", cycle_id), analysts(cycle_id, symbols))
    if after is Phase.OBSERVE:
        return chain(_si("data.orient", cycle_id), analysts(cycle_id, symbols))
    if after is Phase.ORIENT:
        return analysts(cycle_id, symbols)
    if after is Phase.ANALYSTS:
        return research(cycle_id, symbols)
    if after is Phase.RESEARCH:
        return approval_round(cycle_id, 1)
    if after is Phase.TRADER:
        return approvers(cycle_id, iteration)
    if after is Phase.GATE:  # the gate chose REVISE
        return approval_round(cycle_id, iteration + 1)
    if after is Phase.APPROVAL:
        return _si("execution.act", cycle_id)
    raise ValueError(f"no canvas resumes after {after.value}")
