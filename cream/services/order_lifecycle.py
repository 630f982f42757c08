"""An order's life after its intent row: send it once, apply what the broker says, reconcile the rest.

The intent (status PENDING, id = the deterministic client_order_id) is committed before any request.
The request itself runs outside any database transaction; its outcome is applied in a new one that
first checks the intent is still unresolved, so a second delivery of the same work changes nothing.

Outcomes: a TransientError (nothing sent) leaves the intent PENDING for a retry; an AmbiguousOutcome
(timeout or 5xx after the POST, "client_order_id must be unique") is resolved by looking the order up,
never by sending it again blindly - if the lookup fails too the intent becomes UNKNOWN and waits for
reconciliation; a RejectedDefinitively is recorded as REJECTED with the broker's reason.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cream import clock
from cream.errors import AmbiguousOutcome, RejectedDefinitively, TransientError
from cream.ports import Broker
from cream.schemas.cycle import CycleStatus
from cream.schemas.decisions import TimeInForce
from cream.schemas.instruments import contract_quantities
from cream.schemas.orders import OrderPurpose, OrderRequest, OrderSide, OrderStatus, OrderUpdate
from cream.services import cycles, portfolio
from cream.storage.db import session_scope
from cream.storage.models import Book, DecisionRow, OrderRow, PositionRow, WorkRow
from cream.storage.types import utcnow

log = logging.getLogger(__name__)
UNRESOLVED = (OrderStatus.PENDING.value, OrderStatus.UNKNOWN.value)
OPEN = (*UNRESOLVED, OrderStatus.SUBMITTED.value, OrderStatus.PARTIALLY_FILLED.value)


def request_for(s: Session, order: OrderRow) -> OrderRequest:
    """What goes to the broker for ``order``: the decision's stop and target ride with it (a PROTECTION
    order carries the position's)."""
    cycle = cycles.get_cycle(s, order.cycle_id)
    decision = s.get(DecisionRow, order.decision_id) if order.decision_id else None
    stop, target = (decision.stop_loss, decision.take_profit) if decision else (None, None)
    if order.purpose == OrderPurpose.PROTECTION.value:
        pos = s.get(PositionRow, (order.book, order.instrument_id))
        stop, target = (pos.stop_loss, pos.take_profit) if pos else (None, None)
    return OrderRequest(
        client_order_id=order.id, symbol=order.instrument_id, instrument_id=order.instrument_id,
        side=OrderSide(order.side), quantity=order.quantity, order_type=order.order_type,
        limit_price=float(order.limit_price) if order.limit_price is not None else None,
        stop_loss=float(stop) if stop is not None else None, take_profit=float(target) if target is not None else None,
        as_of=cycle.scheduled_for, multiplier=order.multiplier, execution_tactic=order.execution_tactic,
        purpose=OrderPurpose(order.purpose), time_in_force=TimeInForce(order.time_in_force or "DAY"))


def send(order_id: str, broker: Broker) -> str | None:
    """Send one PENDING intent and apply the outcome; returns the status recorded (None: nothing to do)."""
    with session_scope(readonly=True) as s:
        order = s.get(OrderRow, order_id)
        if order is None or order.status != OrderStatus.PENDING.value:
            return None  # another delivery of this work already sent it
        request = request_for(s, order)
    try:
        update = broker.submit(request)  # TransientError propagates: the intent stays PENDING
    except AmbiguousOutcome as exc:
        update = resolve_ambiguous(broker, order_id, str(exc))
    except RejectedDefinitively as exc:
        update = OrderUpdate(client_order_id=order_id, status=OrderStatus.REJECTED, reason=str(exc))
    with session_scope() as s:
        return apply_update(s, order_id, update)


def resolve_ambiguous(broker: Broker, order_id: str, why: str) -> OrderUpdate:
    """Look the order up; UNKNOWN (to reconcile later) when even that does not tell."""
    try:
        found = broker.lookup(order_id)
    except (TransientError, AmbiguousOutcome) as exc:
        return OrderUpdate(client_order_id=order_id, status=OrderStatus.UNKNOWN,
                           reason=f"{why}; lookup failed too ({exc}): reconcile before trading further")
    if found is not None:
        return found
    # The broker has no such order: the POST never created one. The id stays PENDING to be sent again;
    # should it land twice, the broker's client_order_id uniqueness refuses the second.
    return OrderUpdate(client_order_id=order_id, status=OrderStatus.PENDING, reason=f"{why}; not at the broker")


def apply_update(s: Session, order_id: str, update: OrderUpdate) -> str | None:
    """Record the broker's view of an open order, applying only fills not yet applied."""
    order = s.scalars(select(OrderRow).where(OrderRow.id == order_id).with_for_update()).one_or_none()
    if order is None or order.status not in OPEN or order.closed_at is not None:
        return None
    decision = _decision_of(s, order)
    entry = order.purpose == OrderPurpose.ENTRY.value
    # A PROTECTION order's executions are its sides' (a stop or a target): booked once, as exits of the
    # position, by cream.services.protection - never a second time as fills of the OCO itself.
    fills = [] if order.purpose == OrderPurpose.PROTECTION.value else update.fills
    done = 0
    for fill in fills:  # fills are cumulative in order: skip what is already recorded
        new = min(fill.quantity, max(0, done + fill.quantity - order.filled_quantity))
        done += fill.quantity
        if new <= 0:
            continue
        price, fee = Decimal(str(fill.price)), Decimal(str(fill.fee)) * new / fill.quantity
        before = order.filled_quantity * (order.avg_fill_price or Decimal(0))
        order.avg_fill_price = ((before + new * price) / (order.filled_quantity + new)).quantize(Decimal("0.000001"))
        order.fees += fee
        portfolio.apply_fill(s, order, new, price, fee, order.multiplier, fill.ts,
                             stop=decision.stop_loss if decision and entry else None,
                             target=decision.take_profit if decision and entry else None, cycle_id=order.cycle_id,
                             levels_on=decision.levels_on if decision and entry else None)
    order.broker_order_id = update.broker_order_id or order.broker_order_id
    order.status, order.error = update.status.value, update.reason
    if update.fills and not fills:
        order.error = "executed at the broker: booked as the position's STOP_LOSS or TAKE_PROFIT exit"
    if update.is_final:
        order.closed_at = utcnow()
    if decision is not None and order.filled_quantity > 0:
        decision.status = "EXECUTED"
    if order.parent_id is not None:
        roll_up(s, order.parent_id)
    return order.status


def _decision_of(s: Session, order: OrderRow) -> DecisionRow | None:
    """The decision an order carries out: its own, or its parent's (a child of a worked tactic)."""
    decision_id = order.decision_id
    if decision_id is None and order.parent_id is not None:
        parent = s.get(OrderRow, order.parent_id)
        decision_id = parent.decision_id if parent is not None else None
    return s.get(DecisionRow, decision_id) if decision_id else None


def roll_up(s: Session, parent_id: str) -> None:
    """A worked parent shows what its children did: filled quantity, average price and fees across them
    (their fills moved the book, each once; the parent's figures are the sum, not a second booking)."""
    parent = s.get(OrderRow, parent_id)
    if parent is None:
        return
    s.flush()
    children = list(s.scalars(select(OrderRow).where(OrderRow.parent_id == parent_id)))
    filled = sum(c.filled_quantity for c in children)
    value = sum((c.filled_quantity * (c.avg_fill_price or Decimal(0)) for c in children), Decimal(0))
    parent.filled_quantity, parent.fees = filled, sum((c.fees for c in children), Decimal(0))
    parent.avg_fill_price = (value / filled).quantize(Decimal("0.000001")) if filled else None
    if parent.closed_at is None and parent.status in (OrderStatus.SUBMITTED.value,
                                                      OrderStatus.PARTIALLY_FILLED.value):
        parent.status = (OrderStatus.FILLED if filled >= parent.quantity else OrderStatus.PARTIALLY_FILLED if filled
                         else OrderStatus.SUBMITTED).value


def reconcile(broker: Broker, book: str, compare_positions: bool = True) -> dict[str, Any]:
    """Bring every open order of ``book`` up to the broker's view, then compare positions.

    Run by the execution worker at start, before it takes work. Returns what changed and any position
    difference (the broker is the record in PAPER and LIVE: a difference is reported, never papered over).
    """
    with session_scope(readonly=True) as s:
        worked = select(WorkRow.order_id)  # parents worked as child orders never go to the broker themselves
        open_ids = list(s.scalars(select(OrderRow.id).where(
            OrderRow.book == book, OrderRow.status.in_(OPEN), OrderRow.closed_at.is_(None),
            OrderRow.id.not_in(worked))))
    changed = {}
    for order_id in open_ids:
        found = broker.lookup(order_id)
        if found is None:
            with session_scope() as s:
                order = s.get(OrderRow, order_id)
                if order is not None and order.status in UNRESOLVED:  # never sent, or lost on the way
                    if _may_still_go(s, order):
                        if order.status == OrderStatus.PENDING.value:
                            continue  # its sender will send it
                        order.status, order.error = OrderStatus.PENDING.value, "not at the broker: safe to send"
                    else:  # its cycle (a child: its bars) has ended: an order sent now would be late
                        order.status, order.error = OrderStatus.CANCELED.value, (
                            f"never reached the broker; its {'bars have' if order.parent_id else 'cycle has'} "
                            "ended, so it is not sent late")
                        order.closed_at = utcnow()
                    if order.parent_id is not None:
                        roll_up(s, order.parent_id)
                    changed[order_id] = order.status
            continue
        with session_scope() as s:
            was = s.scalar(select(OrderRow.status).where(OrderRow.id == order_id))
            status = apply_update(s, order_id, found)
        if status is not None and status != was:
            changed[order_id] = status
    return {"orders": changed, "position_differences": position_differences(broker, book) if compare_positions
            else {}}


def _may_still_go(s: Session, order: OrderRow) -> bool:
    """An order never sent may still be: while its cycle runs (a child of a worked tactic: before its bars end)."""
    if order.parent_id is not None:
        return order.expires_at is not None and clock.now() < order.expires_at
    return cycles.get_cycle(s, order.cycle_id).status == CycleStatus.RUNNING.value


def position_differences(broker: Broker, book: str) -> dict[str, dict[str, int]]:
    """Instrument (a strategy as its legs) -> book and broker quantity, where they differ (logged as an
    error)."""
    theirs = broker.positions()
    if theirs is None:
        return {}
    with session_scope(readonly=True) as s:  # a strategy is held at the broker as its legs
        ours = contract_quantities({p.instrument_id: p.quantity
                                    for p in s.scalars(select(PositionRow).where(PositionRow.book == book))})
    diff = {k: {"book": ours.get(k, 0), "broker": theirs.get(k, 0)} for k in set(ours) | set(theirs)
            if ours.get(k, 0) != theirs.get(k, 0)}
    if diff:
        log.error("book %s differs from the broker: %s", book, diff)
    return diff


def reconcile_environment(broker: Broker, environment: str) -> dict[str, dict[str, Any]]:
    """``reconcile`` every book of the environment that has an open order or may hold positions."""
    with session_scope(readonly=True) as s:
        books = set(s.scalars(select(OrderRow.book).join(Book, Book.id == OrderRow.book).where(
            Book.environment == environment, OrderRow.status.in_(OPEN)).distinct()))
        if broker.positions() is not None:  # a real account: its books' positions are compared too
            books |= set(s.scalars(select(Book.id).where(Book.environment == environment)))
    return {book: reconcile(broker, book) for book in sorted(books)}
