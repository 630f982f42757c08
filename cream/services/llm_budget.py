"""The LLM ledger: tokens and dollars per model call, per agent and per cycle, and the cycle's budget.

Every model call is written to ``llm_usage`` (replayed calls too, at no cost). Before each call the
agent runner asks ``DatabaseLedger.require_budget``; the joins and the gate ask ``over_budget``. A cycle past its
``max_llm_cost_per_cycle`` or ``max_llm_tokens_per_cycle`` ends NO_TRADE, with the spend in the reason.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from cream.agents.port import LlmCall
from cream.errors import CreamError
from cream.schemas.decisions import Environment
from cream.services import cycles
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from cream.storage.models import LlmUsage


class BudgetExceeded(CreamError):
    """The cycle's LLM budget is spent: no more model calls, and the cycle ends NO_TRADE."""


class Spend(NamedTuple):
    cost_usd: float
    tokens: int
    calls: int


def spent(s: Session, cycle_id: str) -> Spend:
    """What the cycle's agents spent, summed once per session (a call recorded through it sums again)."""
    memo: dict[str, Spend] = s.info.setdefault("llm_spent", {})
    if cycle_id not in memo:
        cost, tokens, calls = s.execute(select(
            func.coalesce(func.sum(LlmUsage.cost_usd), 0.0),
            func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.output_tokens), 0),
            func.count(LlmUsage.id)).where(LlmUsage.cycle_id == cycle_id)).one()
        memo[cycle_id] = Spend(float(cost), int(tokens), int(calls))
    return memo[cycle_id]


def over_budget(s: Session, cycle_id: str) -> str | None:
    """Why this cycle may not spend more on its agents, or None while it is within budget."""
    env = Environment(cycles.view(s, cycle_id).environment)
    config = active_trading_config(s, env)
    spend = spent(s, cycle_id)
    if spend.cost_usd >= config.max_llm_cost_per_cycle:
        return (f"LLM budget spent: ${spend.cost_usd:.4f} of ${config.max_llm_cost_per_cycle:.2f} per cycle "
                f"after {spend.calls} call(s)")
    if spend.tokens >= config.max_llm_tokens_per_cycle:
        return (f"LLM token budget spent: {spend.tokens:,} of {config.max_llm_tokens_per_cycle:,} tokens per cycle "
                f"after {spend.calls} call(s)")
    return None


class DatabaseLedger:
    """The ``SpendLedger`` of the fleet: one ``llm_usage`` row per model call, the budget from the ACTIVE
    trading_config of the cycle's environment."""

    def require_budget(self, cycle_id: str) -> None:
        with session_scope(readonly=True) as s:
            reason = over_budget(s, cycle_id)
        if reason:
            raise BudgetExceeded(reason)

    def record_call(self, call: LlmCall) -> None:
        with session_scope(autocommit=True) as s:  # one statement (PostgreSQL: its own transaction)
            s.info.get("llm_spent", {}).pop(call.cycle_id, None)
            s.execute(_INSERT_USAGE, {
                "cycle_id": call.cycle_id, "agent_type": call.agent, "symbol": call.symbol,
                "iteration": call.iteration, "request_hash": call.request_hash, "model": call.model,
                "prompt_tokens": call.prompt_tokens, "output_tokens": call.output_tokens,
                "cost_usd": round(call.cost_usd, 8), "latency_ms": round(call.latency_s * 1000, 3),
                "attempts": call.attempts, "replayed": call.replayed})


_INSERT_USAGE = cast(Table, LlmUsage.__table__).insert()  # built once: a row per model call


def usage_by_agent(s: Session, cycle_id: str) -> list[dict[str, Any]]:
    """The cycle's ledger summed per agent: calls, tokens, dollars, model latency."""
    rows = s.execute(select(
        LlmUsage.agent_type, func.count(LlmUsage.id), func.sum(LlmUsage.prompt_tokens),
        func.sum(LlmUsage.output_tokens), func.sum(LlmUsage.cost_usd), func.sum(LlmUsage.latency_ms))
        .where(LlmUsage.cycle_id == cycle_id).group_by(LlmUsage.agent_type).order_by(LlmUsage.agent_type)).all()
    return [{"agent": a, "calls": int(n), "prompt_tokens": int(p or 0), "output_tokens": int(o or 0),
             "cost_usd": round(float(c or 0), 6), "latency_ms": round(float(lat or 0), 1)}
            for a, n, p, o, c, lat in rows]
