"""memory_query: similar past decisions of this book, read from the database.

Similarity is plain matching (no vector search): same underlying, same regime at the time (from that
cycle's orient checkpoint), same direction, newest first. Only cycles of the same book and
environment scheduled strictly before this cycle's as-of count, and only fills stamped by then,
so a replayed backtest gets the very same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cream import ids
from cream.agents.port import AgentContext
from cream.agents.tools.args import MemoryArgs
from cream.agents.tools.common import ToolError, iso, num
from cream.schemas.instruments import underlying_of
from cream.schemas.orders import OrderPurpose
from cream.storage.db import configured_url, session_scope
from cream.storage.models import Checkpoint, Cycle, DecisionRow, FillRow, OrderRow

MAX_SCAN = 500  # past decisions examined per query, newest first: bounds the work of a regime filter
RATIONALE_CHARS = 300
BRACKETS = (OrderPurpose.STOP_LOSS.value, OrderPurpose.TAKE_PROFIT.value)


@dataclass(frozen=True)
class _Past:
    decision: DecisionRow
    scheduled_for: datetime
    underlying: str


def memory_query(ctx: AgentContext, args: MemoryArgs, db_url: str | None = None) -> dict[str, Any]:
    """Past decisions like the one at hand, with what became of them as far as ``ctx.as_of`` knows."""
    with session_scope(db_url or configured_url(), readonly=True) as s:
        cycle = s.get(Cycle, ctx.cycle_id)
        if cycle is None:
            raise ToolError(f"cycle {ctx.cycle_id} is not recorded, so there is no memory to search.")
        candidates = _candidates(s, cycle.book, ctx, args)
        regimes = _regimes(s, {p.decision.cycle_id for p in candidates})
        regime_of = {id(p): regimes.get((p.decision.cycle_id, p.underlying)) for p in candidates}
        matches = [p for p in candidates if args.regime is None or regime_of[id(p)] == args.regime.value]
        rows = [_row(s, p, regime_of[id(p)], ctx.as_of) for p in matches[:args.limit]]
    return {"book": cycle.book, "before": iso(ctx.as_of),
            "filters": args.model_dump(mode="json", exclude={"limit"}),
            "decisions_examined": len(candidates), "matches": len(matches), "decisions": rows}


def _candidates(s: Session, book: str, ctx: AgentContext, args: MemoryArgs) -> list[_Past]:
    """Decisions of the book's earlier cycles matching symbol and direction, newest first."""
    q = (select(DecisionRow, Cycle.scheduled_for).join(Cycle, Cycle.id == DecisionRow.cycle_id)
         .where(Cycle.book == book, Cycle.environment == ctx.environment.value,
                Cycle.scheduled_for < ctx.as_of))
    if args.direction is not None:
        q = q.where(DecisionRow.direction == args.direction.value)
    if args.symbol is not None:  # narrows the scan; the exact underlying is checked below
        q = q.where(or_(DecisionRow.instrument_id == args.symbol,
                        DecisionRow.instrument_id.contains(args.symbol)))
    q = q.order_by(Cycle.scheduled_for.desc(), DecisionRow.instrument_id, DecisionRow.id).limit(MAX_SCAN)
    out = []
    for decision, when in s.execute(q).all():
        underlying = underlying_of(decision.instrument_id)
        if args.symbol is None or underlying == args.symbol:
            out.append(_Past(decision, when, underlying))
    return out


def _regimes(s: Session, cycle_ids: set[str]) -> dict[tuple[str, str], str]:
    """(cycle id, symbol) -> regime label recorded by that cycle's orient phase."""
    out: dict[tuple[str, str], str] = {}
    if not cycle_ids:
        return out
    q = select(Checkpoint.cycle_id, Checkpoint.data).where(
        Checkpoint.cycle_id.in_(sorted(cycle_ids)), Checkpoint.phase == "orient", Checkpoint.iteration == 0)
    for cycle_id, data in s.execute(q).all():
        for symbol, snap in ((data or {}).get("snapshots") or {}).items():
            label = ((snap or {}).get("regime") or {}).get("regime") if isinstance(snap, dict) else None
            if isinstance(label, str):
                out[(cycle_id, symbol)] = label
    return out


def _row(s: Session, past: _Past, regime: str | None, as_of: datetime) -> dict[str, Any]:
    d = past.decision
    rationale = d.rationale
    if len(rationale) > RATIONALE_CHARS:
        rationale = rationale[:RATIONALE_CHARS - 1] + "…"
    return {"decision_id": d.id, "cycle_id": d.cycle_id, "scheduled_for": iso(past.scheduled_for),
            "instrument_id": d.instrument_id, "underlying": past.underlying, "regime": regime,
            "action": d.action, "direction": d.direction, "size": num(d.size_value), "size_unit": d.size_unit,
            "stop_loss": num(d.stop_loss), "take_profit": num(d.take_profit),
            "strategy_family": d.strategy_family,
            "confidence": num(d.confidence, 4), "rationale": rationale, "status": d.status,
            "outcome": _outcome(s, d, as_of)}


@dataclass(frozen=True)
class _Filled:
    quantity: int
    price: float  # volume-weighted
    fees: float
    multiplier: int
    side: int  # +1 buy, -1 sell
    purpose: str


def _filled(s: Session, orders: list[OrderRow], as_of: datetime) -> list[_Filled]:
    """What each order had filled by ``as_of`` (later fills are unknown to the cycle asking)."""
    out = []
    for o in sorted(orders, key=lambda o: o.id):
        # a parent worked by its tactic filled through its children (PAPER, LIVE)
        own = select(OrderRow.id).where((OrderRow.id == o.id) | (OrderRow.parent_id == o.id))
        fills = list(s.scalars(select(FillRow).where(FillRow.order_id.in_(own), FillRow.ts <= as_of)
                               .order_by(FillRow.ts, FillRow.id)))
        qty = sum(f.quantity for f in fills)
        if qty:
            value = sum(Decimal(f.quantity) * f.price for f in fills)
            out.append(_Filled(qty, float(value / qty), float(sum(f.fee for f in fills)), o.multiplier,
                               1 if o.side == "BUY" else -1, o.purpose))
    return out


def _outcome(s: Session, d: DecisionRow, as_of: datetime) -> dict[str, Any]:
    """NO_ORDER, NOT_FILLED, OPEN (entry filled), CLOSED (bracket exit filled, with realised P&L) or
    FILLED (an exit decision's own order filled)."""
    own = list(s.scalars(select(OrderRow).where(OrderRow.decision_id == d.id)))
    if not own:
        return {"state": "NO_ORDER"}
    filled = _filled(s, own, as_of)
    if not filled:
        return {"state": "NOT_FILLED"}
    entry = next((f for f in filled if f.purpose == OrderPurpose.ENTRY.value), None)
    if entry is None:
        f = filled[0]
        return {"state": "FILLED", "fill_price": num(f.price), "filled_quantity": f.quantity}
    bracket_ids = [ids.client_order_id(d.cycle_id, d.instrument_id, p) for p in BRACKETS]
    exits = _filled(s, list(s.scalars(select(OrderRow).where(OrderRow.id.in_(bracket_ids)))), as_of)
    out: dict[str, Any] = {"state": "OPEN", "entry_price": num(entry.price),
                           "filled_quantity": entry.quantity}
    if exits:
        x = exits[0]
        pnl = entry.side * (x.price - entry.price) * min(x.quantity, entry.quantity) * entry.multiplier
        out.update(state="CLOSED" if x.quantity >= entry.quantity else "OPEN", exit_price=num(x.price),
                   exit_reason=x.purpose, realized_pnl=num(pnl - entry.fees - x.fees),
                   return_pct=num(entry.side * (x.price / entry.price - 1) * 100, 4))
    return out
