"""Act: the engine re-checks the approved plan against the hard limits; only then are order intents
written (client_order_id derived from cycle and decision) and sent to the broker, each exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cream import ids
from cream.ports import Broker, MarketData
from cream.risk import check_plan, order_side
from cream.schemas.cycle import Acted, CycleStatus, Observed, RiskChecked
from cream.schemas.decisions import ORDER_ACTIONS, DecisionPlan, Environment
from cream.schemas.orders import OrderPurpose, OrderSide, OrderStatus
from cream.schemas.portfolio import PortfolioView
from cream.services import child_orders, cycles, order_lifecycle, portfolio, protection
from cream.services.approval import approved_iteration
from cream.services.decide import trader_plan
from cream.services.runtime_config import active_sectors, active_trading_config
from cream.storage.book_lock import book_lock
from cream.storage.db import session_scope
from cream.storage.models import DecisionRow, OrderRow, WorkRow
from cream.storage.types import utcnow

log = logging.getLogger(__name__)


def act(cycle_id: str, broker: Broker, market: Callable[[], MarketData] | None = None) -> Acted:
    """Execute the approved plan of ``cycle_id``; safe to run again after any interruption.

    An order whose plan names an execution tactic is worked as child orders when the broker does not work
    tactics itself (PAPER, LIVE: ``cream.services.child_orders``): the children due now are sent here, the
    rest by the ``execution.work`` chain the caller starts for the parents listed under ``working``.
    ``market`` gives the past volume a VWAP schedule is shaped by.

    One act per book at a time, on any number of workers and hosts: the book's lock is taken before the
    risk re-check reads the portfolio (so it sees every earlier act's orders and fills) and held through
    the last order sent. The ACT checkpoint records when it asked for the lock and when it held it
    (``book_lock``: ``asked_at``, ``held_from`` and ``held_until``, wall-clock UTC; the last two inside the
    real hold), so overlapping acts would show."""
    with session_scope(readonly=True) as s:
        done = cycles.load(s, cycle_id, Acted)
        if done is not None:
            return done
        book = cycles.view(s, cycle_id).book
    asked_at = utcnow()
    with book_lock(book) as held:
        with session_scope() as s:
            done = cycles.load(s, cycle_id, Acted)  # another delivery finished while we waited
            if done is not None:
                return done
            if cycles.opened_here(s, cycle_id) or \
                    not s.scalars(select(DecisionRow.id).where(DecisionRow.cycle_id == cycle_id)).first():
                blocked = _record_plan(s, cycle_id)
                if blocked:
                    log.warning("cycle %s: engine blocked the approved plan: %s", cycle_id, blocked)
            pending = list(s.execute(select(OrderRow.id, OrderRow.purpose, OrderRow.instrument_id, OrderRow.order_type,
                                            OrderRow.execution_tactic).where(
                OrderRow.cycle_id == cycle_id, OrderRow.status == OrderStatus.PENDING.value,
                OrderRow.parent_id.is_(None)).order_by(OrderRow.id)))
        exited = set()
        for order_id, purpose, instrument_id, order_type, tactic in pending:
            held.ensure_held()
            if child_orders.worked_here(order_type, tactic, broker):
                child_orders.start(order_id, broker, held, market)
                continue
            if purpose == OrderPurpose.EXIT.value:  # the shares a broker-held stop holds cannot be sold past it
                protection.release(broker, book, instrument_id)
                exited.add(instrument_id)
            order_lifecycle.send(order_id, broker)
        if exited:  # what a partial exit left is guarded again at once (entries carry their own legs)
            protection.protect(broker, book, only=exited)
        with session_scope() as s:
            return _conclude(s, cycle_id, {"asked_at": asked_at.isoformat(),
                                           "held_from": held.acquired_at.isoformat(),
                                           "held_until": utcnow().isoformat()})


def _record_plan(s: Session, cycle_id: str) -> str | None:
    """Write one decision row per decision and one PENDING intent per order the engine allows."""
    cycle = cycles.get_cycle(s, cycle_id)
    iteration = approved_iteration(s, cycle_id)
    plan = trader_plan(s, cycle_id, iteration) if iteration is not None else None
    if plan is None:
        raise LookupError(f"cycle {cycle_id} has no approved plan to execute")
    observed = cycles.require(s, cycle_id, Observed)
    config = active_trading_config(s, Environment(cycle.environment))
    now = portfolio.view(s, cycle.book, cycle.scheduled_for)
    report = check_plan(plan, now, dict(observed.prices), config.rules, as_of=cycle.scheduled_for,
                        sectors=active_sectors(s, Environment(cycle.environment)),
                        option_marks=dict(observed.option_marks))
    reason = None if report.approved else report.reasons()
    cycles.record(s, cycle_id, RiskChecked(approved=report.approved, checks=report.checks()))
    for d in plan.decisions:
        orders = d.action in ORDER_ACTIONS
        status = ("BLOCKED" if reason else "APPROVED") if orders else "NO_ORDER"
        s.add(DecisionRow(id=ids.decision_id(cycle_id, d.instrument_id), cycle_id=cycle_id,
                          instrument_id=d.instrument_id, action=d.action.value, direction=d.direction.value,
                          size_value=d.size.quantity, size_unit=d.size.unit.value,
                          stop_loss=Decimal(str(d.risk_levels.stop_loss_level)),
                          take_profit=Decimal(str(d.risk_levels.take_profit_level)),
                          levels_on=d.risk_levels.denomination.value,
                          strategy_family=d.strategy_family.value, confidence=d.confidence, rationale=d.rationale,
                          status=status, status_reason=reason if orders else None))
    s.flush()
    if reason is None:
        _write_intents(s, cycle_id, cycle.book, plan, now)
    return reason


def _write_intents(s: Session, cycle_id: str, book: str, plan: DecisionPlan, now: PortfolioView) -> None:
    for d in plan.orders_requested:
        pos = now.positions.get(d.instrument_id)
        side = order_side(d, pos.quantity if pos else 0)
        purpose = OrderPurpose.ENTRY if side * (pos.quantity if pos else 0) >= 0 else OrderPurpose.EXIT
        s.add(OrderRow(id=ids.client_order_id(cycle_id, d.instrument_id, purpose.value), book=book,
                       cycle_id=cycle_id, decision_id=ids.decision_id(cycle_id, d.instrument_id),
                       instrument_id=d.instrument_id, side=OrderSide.BUY.value if side > 0 else OrderSide.SELL.value,
                       quantity=d.size.quantity, multiplier=d.instrument.multiplier,
                       order_type=d.order_plan.entry_order_type.value, purpose=purpose.value,
                       execution_tactic=d.order_plan.execution_tactic.value if d.order_plan.execution_tactic
                       else None,
                       limit_price=Decimal(str(d.order_plan.entry_limit_price)) if d.order_plan.entry_limit_price
                       else None, time_in_force=d.order_plan.time_in_force.value, status=OrderStatus.PENDING.value))


def _conclude(s: Session, cycle_id: str, lock_held: dict[str, str]) -> Acted:
    orders = list(s.scalars(select(OrderRow).where(OrderRow.cycle_id == cycle_id, OrderRow.decision_id.is_not(None))
                            .order_by(OrderRow.instrument_id, OrderRow.purpose)))
    blocked = s.scalars(select(DecisionRow.status_reason).where(
        DecisionRow.cycle_id == cycle_id, DecisionRow.status == "BLOCKED")).first()
    filled = [o for o in orders if o.status in (OrderStatus.FILLED.value, OrderStatus.PARTIALLY_FILLED.value,
                                                 OrderStatus.SUBMITTED.value)]
    unresolved = [o.id for o in orders if o.status in order_lifecycle.UNRESOLVED]
    if unresolved:  # sent or not, we cannot tell yet: reconciliation decides, the cycle says so
        status, reason = CycleStatus.EXECUTED if filled else CycleStatus.NO_TRADE, \
            f"awaiting reconciliation with the broker: {', '.join(unresolved)}"
    elif filled:
        status, reason = CycleStatus.EXECUTED, None
    elif blocked:
        status, reason = CycleStatus.NO_TRADE, f"engine blocked the approved plan: {blocked}"
    elif orders:
        status, reason = CycleStatus.NO_TRADE, "; ".join(f"{o.instrument_id} {o.status}: {o.error}" for o in orders)
    else:
        status, reason = CycleStatus.NO_TRADE, "approved plan has no orders"
    cycles.conclude(s, cycle_id, status, reason)
    worked: Iterable[str]
    worked = s.scalars(select(WorkRow.order_id).where(WorkRow.order_id.in_([o.id for o in orders]),
                                                      WorkRow.status == child_orders.WORKING)) if orders else []
    # working: parents whose children go over the next bars; the caller starts their chains
    return cycles.record(s, cycle_id, Acted(status=status, reason=reason, orders=[o.id for o in orders],
                                            book_lock=lock_held, working=sorted(worked)))[0]
