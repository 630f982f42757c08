"""The cycle as a Celery canvas (DESIGN.md §3), buildable from any checkpoint so a cycle resumes.

observe → orient → chord[technical, news, fundamentals × symbols] → analysts_done
        → chord[bullish, bearish × symbols] → research_done → trader(i) → chord[risk_manager(i), critic(i)]
        → gate(i): APPROVED → execution.act | REVISE → trader(i+1) … | NO_TRADE
"""

from __future__ import annotations

from typing import Any

from celery import chain, chord, signature
from celery.canvas import Signature

from cream.services.cycles import Phase

ANALYST_TASKS = ("agents.technical_analyst", "agents.news_analyst", "agents.fundamentals_analyst")
RESEARCH_TASKS = ("agents.bullish_researcher", "agents.bearish_researcher")


def _si(name: str, *args: Any) -> Signature:
    return signature(name, args=args, immutable=True)


def approval_round(cycle_id: str, iteration: int, trader_done: bool = False) -> Signature:
    approvals = chord([_si("agents.risk_manager", cycle_id, iteration), _si("agents.critic", cycle_id, iteration)],
                      _si("cycles.gate", cycle_id, iteration))
    return approvals if trader_done else chain(_si("agents.trader", cycle_id, iteration), approvals)


def cycle_canvas(cycle_id: str, symbols: list[str], after: Phase | None = None, iteration: int = 0) -> Signature:
    """The rest of the cycle after checkpoint ``after`` (None: the whole cycle)."""
    if after is Phase.TRADER:
        return approval_round(cycle_id, iteration, trader_done=True)
    if after is Phase.GATE:  # the gate chose REVISE
        return approval_round(cycle_id, iteration + 1)
    if after is Phase.APPROVAL:
        return _si("execution.act", cycle_id)
    steps = [
        (Phase.OBSERVE, _si("data.observe", cycle_id)),
        (Phase.ORIENT, _si("data.orient", cycle_id)),
        (Phase.ANALYSTS, chord([_si(t, cycle_id, s) for s in symbols for t in ANALYST_TASKS],
                               _si("cycles.analysts_done", cycle_id))),
        (Phase.RESEARCH, chord([_si(t, cycle_id, s) for s in symbols for t in RESEARCH_TASKS],
                               _si("cycles.research_done", cycle_id))),
        (Phase.TRADER, approval_round(cycle_id, 1)),
    ]
    order = [p for p, _ in steps]
    start = 0 if after is None else order.index(after) + 1
    return chain(*[sig for _, sig in steps[start:]])
