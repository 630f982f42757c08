"""What a user sees of a cycle or a backtest: built from the database, never from task results."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cream.schemas.agents import APPROVERS, AgentType
from cream.schemas.cycle import Observed
from cream.schemas.instruments import is_options_position
from cream.services import cycles, llm_budget, portfolio
from cream.services.decide import PORTFOLIO, outputs
from cream.storage.models import Cycle, FillRow, OrderRow, PortfolioSnapshotRow
from engine.metrics import performance_summary, returns_nb

# Every BACKTEST report says so: the local data holds no option quotes (cream.option_model).
OPTION_PRICING = ("model-priced: option marks, fills and P&L come from the engine's volatility model "
                  "(realised vol x iv_rv_ratio with skew, modelled bid/ask), not from market quotes")


def cycle_report(s: Session, cycle_id: str) -> dict[str, Any]:
    cycle = cycles.get_cycle(s, cycle_id)
    plans = {r.iteration: r for r in outputs(s, cycle_id, (AgentType.TRADER,)) if r.symbol == PORTFOLIO}
    last = plans[max(plans)] if plans else None
    approvals = [{"iteration": r.iteration, "agent": r.agent_type,
                  "verdict": (r.output or {}).get("verdict", "REJECT") if r.status == "OK" else "ERROR",
                  "summary": (r.output or {}).get("summary") if r.status == "OK" else r.error,
                  "objections": (r.output or {}).get("objections", [])}
                 for r in outputs(s, cycle_id, APPROVERS)]
    orders = [{"client_order_id": o.id, "instrument": o.instrument_id, "side": o.side, "quantity": o.quantity,
               "purpose": o.purpose, "status": o.status, "filled_quantity": o.filled_quantity,
               "avg_fill_price": float(o.avg_fill_price) if o.avg_fill_price is not None else None,
               "fees": float(o.fees), "error": o.error, "execution_tactic": o.execution_tactic,
               "parent": o.parent_id}  # a child of a parent worked by its tactic (PAPER, LIVE)
              for o in s.scalars(select(OrderRow).where(OrderRow.cycle_id == cycle_id).order_by(OrderRow.id))]
    return {"cycle_id": cycle.id, "status": cycle.status, "reason": cycle.reason,
            "environment": cycle.environment, "scheduled_for": cycle.scheduled_for.isoformat(),
            "symbols": cycle.symbols, "iterations": cycle.iterations,
            "plan": last.output if last is not None and last.status == "OK" else None,
            "plan_error": last.error if last is not None and last.status != "OK" else None,
            "approvals": approvals, "orders": orders, "broker": _reconciliation(s, cycle_id),
            "llm": _llm_spend(s, cycle_id)}


def _reconciliation(s: Session, cycle_id: str) -> dict[str, Any]:
    """What the cycle's observe found at the broker (PAPER, LIVE): exits the broker made, protection it
    re-placed, positions it could not protect, and differences from the book."""
    observed = cycles.load(s, cycle_id, Observed)
    done = observed.reconciliation if observed is not None else {}
    return {"exits": done.get("broker_exits", []), "protection_placed": done.get("protection_placed", []),
            "unprotected": done.get("unprotected", []), "differences": done.get("position_differences", {}),
            "mirrored": observed.broker_changes if observed is not None else []}


def _llm_spend(s: Session, cycle_id: str) -> dict[str, Any]:
    total = llm_budget.spent(s, cycle_id)
    return {"calls": total.calls, "tokens": total.tokens, "cost_usd": round(total.cost_usd, 6),
            "by_agent": llm_budget.usage_by_agent(s, cycle_id)}


def recent_cycles(s: Session, limit: int = 20) -> list[dict[str, Any]]:
    rows = s.scalars(select(Cycle).order_by(Cycle.started_at.desc()).limit(limit))
    return [{"cycle_id": c.id, "status": c.status, "scheduled_for": c.scheduled_for.isoformat(),
             "iterations": c.iterations, "symbols": c.symbols, "reason": c.reason} for c in rows]


def equity_metrics(equity: np.ndarray, periods_per_year: float) -> dict[str, Any]:
    """Return, drawdown, Sharpe, Sortino and Calmar of an equity curve (initial equity first);
    engine.metrics conventions; a ratio that is undefined (too few points, no variance) is None."""
    stats = performance_summary(returns_nb(equity), periods_per_year)

    def finite(x: float) -> float | None:
        return float(x) if np.isfinite(x) and len(equity) > 2 else None

    return {"total_return": float(equity[-1] / equity[0] - 1.0), "max_drawdown": float(stats.max_drawdown),
            "sharpe": finite(stats.sharpe), "sortino": finite(stats.sortino), "calmar": finite(stats.calmar),
            "final_equity": float(equity[-1])}


def backtest_metrics(s: Session, book: str, initial_cash: float, periods_per_year: float) -> dict[str, Any]:
    """The metrics of the book's per-cycle equity curve (initial cash first) and its trade count."""
    equity = np.array([initial_cash] + [float(e) for e in s.scalars(
        select(PortfolioSnapshotRow.equity).where(PortfolioSnapshotRow.book == book)
        .order_by(PortfolioSnapshotRow.ts))], dtype=np.float64)
    trades = s.scalar(select(func.count()).select_from(OrderRow).where(
        OrderRow.book == book, OrderRow.filled_quantity > 0)) or 0
    return {"cycles": int(len(equity) - 1), "trades": int(trades), **equity_metrics(equity, periods_per_year),
            **option_results(s, book)}


def option_results(s: Session, book: str) -> dict[str, Any]:
    """The book's option trades (contracts and strategies, settlements included), their P&L (cash paid and
    received, fees, and what is still held at its last mark) and how they were priced: in BACKTEST by the
    option model, never by market quotes, which the local data does not hold."""
    flows, trades = 0.0, 0
    rows = s.execute(select(OrderRow.instrument_id, OrderRow.side, FillRow.quantity, FillRow.price, FillRow.fee,
                            OrderRow.multiplier).join(FillRow, FillRow.order_id == OrderRow.id)
                     .where(OrderRow.book == book))
    for instrument_id, side, qty, price, fee, multiplier in rows:
        if is_options_position(instrument_id):
            trades += 1
            flows += (-1 if side == "BUY" else 1) * qty * float(price) * multiplier - float(fee)
    held = sum(p.quantity * float(p.last_price if p.last_price is not None else p.avg_entry_price) * p.multiplier
               for p in portfolio.positions(s, book) if is_options_position(p.instrument_id))
    return {"option_trades": trades, "option_pnl": round(flows + held, 2), "option_pricing": OPTION_PRICING}
