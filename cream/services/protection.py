"""Protection that lasts (PAPER and LIVE): every held position keeps its stop and target at the broker.

``reconcile_book`` runs at every observe, before anything else of the cycle, and on beat's schedule
between cycles, under the book's lock (``cream.storage.book_lock``: nothing else sends for the book
meanwhile):

1. every open order of the book is brought up to the broker's view (``order_lifecycle.reconcile``); an
   UNKNOWN order is looked up on every pass until the broker says what it is, never sent again blindly;
2. exits the broker made on its own — a bracket leg or a side of an OCO that filled — become order and
   fill rows, with the ids the simulated broker gives its bracket exits (derived from the cycle that
   opened the position), so a PAPER or LIVE trade has its exit price, fees and P&L as a BACKTEST one;
3. a held position that live stops at the broker do not cover — its DAY legs expired at the close, an
   OCO ran 90 days, somebody canceled it — gets a PROTECTION order for the uncovered quantity: one GTC
   OCO exit at the position's stop and target. A position without known levels (opened outside Cream)
   cannot be protected: it is reported, loudly, every pass. Options are the exception: no broker holds
   a stop for them, and beat's watch of held options exits them itself (``option_exits``).

Why GTC at the broker rather than re-placing exits at each session's first observe: the stop must hold
from the open whether or not the fleet is up then. Entries go as GTC brackets when they are market
orders (``alpaca_broker.time_in_force_for``), and this pass repairs whatever protection went missing.

The simulated broker (BACKTEST) works the book's brackets itself (``observe.work_brackets``).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cream import ids
from cream.errors import RejectedDefinitively
from cream.ports import Broker, ProtectiveLeg
from cream.schemas.decisions import OrderType, TimeInForce
from cream.schemas.instruments import is_option, option_legs
from cream.schemas.orders import OrderPurpose, OrderSide, OrderStatus, OrderUpdate
from cream.services import order_lifecycle, portfolio
from cream.storage.book_lock import book_lock
from cream.storage.db import session_scope
from cream.storage.models import OrderRow, PositionRow

log = logging.getLogger(__name__)
GUARDED = (OrderPurpose.ENTRY.value, OrderPurpose.PROTECTION.value)  # orders the broker may hold exits for
LIVE = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


def reconcile_book(broker: Broker, book: str, cycle_id: str | None = None) -> dict[str, Any]:
    """Orders, broker-side exits and protection of ``book`` brought up to the broker, in that order.

    ``cycle_id`` is the observing cycle (exits found are booked to it), None on beat's pass (they are
    booked to the cycle that opened the position). Returns what changed, for the cycle report."""
    stops = broker.live_stops()
    if stops is None:  # the simulated broker: the book is the account
        return {}
    with book_lock(book):
        report = order_lifecycle.reconcile(broker, book, compare_positions=False)
        report["broker_exits"] = record_exits(broker, book, cycle_id)
        report["protection_placed"], report["unprotected"] = protect(broker, book, stops=stops)
        report["position_differences"] = order_lifecycle.position_differences(broker, book)
    if report["unprotected"]:
        log.error("book %s holds positions without a stop at the broker: %s", book, report["unprotected"])
    return report


def record_exits(broker: Broker, book: str, cycle_id: str | None) -> list[str]:
    """Book every fill of a stop or target the broker holds for a position the book still holds."""
    with session_scope(readonly=True) as s:
        watched = [(o.id, o.instrument_id, p.opened_cycle_id) for p, o in _guarded_orders(s, book)]
    done = []
    for order_id, instrument_id, opened in watched:
        for leg in broker.protective_legs(order_id) or []:
            if not leg.fills:
                continue
            with session_scope() as s:
                line = _book_exit(s, book, order_id, instrument_id, opened or order_id, leg, cycle_id)
            if line:
                done.append(line)
    return done


def _guarded_orders(s: Session, book: str) -> list[tuple[PositionRow, OrderRow]]:
    """(position, order) for each entry or protection order placed since the held position opened."""
    out = []
    for pos in portfolio.positions(s, book):
        if pos.opened_cycle_id is None:
            continue
        out += [(pos, o) for o in s.scalars(select(OrderRow).where(
            OrderRow.book == book, OrderRow.instrument_id == pos.instrument_id, OrderRow.purpose.in_(GUARDED),
            OrderRow.broker_order_id.is_not(None), OrderRow.cycle_id >= pos.opened_cycle_id,
            (OrderRow.purpose == OrderPurpose.PROTECTION.value) | (OrderRow.filled_quantity > 0)).order_by(OrderRow.id))]
    return out


def _book_exit(s: Session, book: str, guarded_id: str, instrument_id: str, opened_cycle: str, leg: ProtectiveLeg,
               cycle_id: str | None) -> str | None:
    """Record ``leg``'s fills (once each) as an exit order of the position; the line to report, if new."""
    pos = s.get(PositionRow, (book, instrument_id))
    exit_id = ids.client_order_id(opened_cycle, instrument_id, leg.purpose.value)
    row = s.get(OrderRow, exit_id)
    if row is not None and row.broker_order_id != leg.broker_order_id:  # a second exit of the same kind
        exit_id = ids.client_order_id(guarded_id, instrument_id, leg.purpose.value)
        row = s.get(OrderRow, exit_id)
    if row is None:
        if pos is None:
            return None  # nothing held any more: the fill is already booked under the other id
        qty = sum(f.quantity for f in leg.fills)
        row = OrderRow(id=exit_id, book=book, cycle_id=cycle_id or opened_cycle, decision_id=None,
                       instrument_id=instrument_id, side=OrderSide.SELL.value if pos.quantity > 0 else OrderSide.BUY.value,
                       quantity=qty, multiplier=pos.multiplier,
                       order_type=(OrderType.STOP if leg.purpose is OrderPurpose.STOP_LOSS else OrderType.LIMIT).value,
                       purpose=leg.purpose.value, status=OrderStatus.SUBMITTED.value,
                       broker_order_id=leg.broker_order_id, time_in_force=TimeInForce.GTC.value)
        s.add(row)
        s.flush()
    before = row.filled_quantity
    order_lifecycle.apply_update(s, exit_id, OrderUpdate(client_order_id=exit_id, broker_order_id=leg.broker_order_id,
                                                         status=leg.status, fills=leg.fills))
    if row.filled_quantity == before:
        return None
    return f"{leg.purpose.value} {instrument_id} {row.filled_quantity - before} @ {row.avg_fill_price} at the broker"


def protect(broker: Broker, book: str, only: set[str] | None = None,
            stops: dict[str, int] | None = None) -> tuple[list[str], list[str]]:
    """Give every held position (of ``only``, if given) the stop it lacks at the broker; (what was placed,
    what cannot be). ``stops``: the broker's live stops, if the caller just read them. The caller holds
    the book's lock."""
    stops = broker.live_stops() if stops is None else stops
    if stops is None:
        return [], []
    held = broker.positions() or {}
    placed, unprotected = [], []
    for instrument_id, qty in sorted(held.items()):
        if only is not None and instrument_id not in only:
            continue
        if is_option(instrument_id):  # no broker holds an option's stop: beat's watch exits it (option_exits)
            with session_scope(readonly=True) as s:
                watched = _watched_option(s, book, instrument_id)
            if not watched:
                unprotected.append(f"{instrument_id} {qty}: an option with no stop and target known for it "
                                   "(opened outside Cream?): protect or close it by hand")
            continue
        with session_scope(readonly=True) as s:
            leaving = _held_for_exits(s, book, instrument_id)
        uncovered = qty - _same_sign(stops.get(instrument_id, 0) + leaving, qty)
        if uncovered == 0:
            continue
        with session_scope() as s:
            order_id, why = _protection_intent(s, book, instrument_id, uncovered)
        if order_id is None:
            unprotected.append(f"{instrument_id} {uncovered} of {qty}: {why}")
            continue
        status = order_lifecycle.send(order_id, broker)
        if status == OrderStatus.REJECTED.value:  # tried again, under a new id, on the next pass
            unprotected.append(f"{instrument_id} {uncovered} of {qty}: the broker refused its protection {order_id}")
        else:
            placed.append(f"{instrument_id} {abs(uncovered)} guarded at the broker ({order_id}: {status})")
    return placed, unprotected


def _watched_option(s: Session, book: str, contract: str) -> bool:
    """Whether the book holds ``contract``, alone or as a leg of a strategy, with a stop and a target for
    the watch of held options to work."""
    return any(p.stop_loss is not None and p.take_profit is not None and p.opened_cycle_id is not None
               and any(occ == contract for _, occ in option_legs(p.instrument_id))
               for p in portfolio.positions(s, book))


def release(broker: Broker, book: str, instrument_id: str, settle_s: float = 5.0) -> list[str]:
    """Cancel the stop and target the broker holds for a position before an exit of it is sent: the shares
    they hold could not be sold otherwise. Whatever the exit leaves is guarded again by ``protect``.
    Returns the broker ids canceled (none with the simulated broker, which holds no legs). The caller
    holds the book's lock (act does)."""
    with session_scope(readonly=True) as s:
        watched = [o.id for p, o in _guarded_orders(s, book) if p.instrument_id == instrument_id]
    canceled, deadline = [], time.monotonic() + settle_s
    for order_id in watched:
        while True:
            live = [leg for leg in broker.protective_legs(order_id) or [] if leg.status in LIVE]
            if not live or time.monotonic() > deadline:
                break
            for leg in live:
                try:
                    broker.cancel(leg.broker_order_id)
                    canceled.append(leg.broker_order_id)
                except RejectedDefinitively:  # filled or canceled meanwhile: the next look says which
                    pass
            time.sleep(0.2)  # Alpaca cancels asynchronously (pending_cancel, then canceled)
    return canceled


def _held_for_exits(s: Session, book: str, instrument_id: str) -> int:
    """Shares our exit orders resting at the broker will sell (signed like the position they reduce): the
    broker holds them for those orders, so no stop can be placed on them (a worked exit's limit child)."""
    held = 0
    for o in s.scalars(select(OrderRow).where(
            OrderRow.book == book, OrderRow.instrument_id == instrument_id, OrderRow.purpose == OrderPurpose.EXIT.value,
            OrderRow.status.in_(LIVE), OrderRow.closed_at.is_(None), OrderRow.broker_order_id.is_not(None))):
        held += (o.quantity - o.filled_quantity) * (1 if o.side == OrderSide.SELL.value else -1)
    return held


def _same_sign(covered: int, qty: int) -> int:
    """How much of ``qty`` the stops cover (stops on the wrong side guard nothing)."""
    if qty > 0:
        return min(max(covered, 0), qty)
    return max(min(covered, 0), qty)


def _protection_intent(s: Session, book: str, instrument_id: str, uncovered: int) -> tuple[str | None, str]:
    """The PENDING protection order to send for ``uncovered`` shares (an unsent one first), or (None, why)."""
    pos = s.get(PositionRow, (book, instrument_id))
    if pos is None or pos.opened_cycle_id is None or pos.stop_loss is None or pos.take_profit is None:
        return None, "no stop and target known for it (opened outside Cream?): protect or close it by hand"
    earlier = s.scalars(select(OrderRow).where(
        OrderRow.book == book, OrderRow.instrument_id == instrument_id, OrderRow.purpose == OrderPurpose.PROTECTION.value,
        OrderRow.status.in_(order_lifecycle.UNRESOLVED))).first()
    if earlier is not None:  # sent or not, we cannot tell: reconciliation decides before anything new goes
        if earlier.status == OrderStatus.UNKNOWN.value:
            return None, f"protection {earlier.id} is UNKNOWN at the broker: looked up again next pass"
        return earlier.id, ""
    n = s.scalar(select(func.count()).select_from(OrderRow).where(
        OrderRow.book == book, OrderRow.instrument_id == instrument_id,
        OrderRow.purpose == OrderPurpose.PROTECTION.value, OrderRow.cycle_id == pos.opened_cycle_id)) or 0
    order_id = ids.client_order_id(pos.opened_cycle_id, instrument_id, f"{OrderPurpose.PROTECTION.value}-{n + 1}")
    s.add(OrderRow(id=order_id, book=book, cycle_id=pos.opened_cycle_id, decision_id=None, instrument_id=instrument_id,
                   side=OrderSide.SELL.value if uncovered > 0 else OrderSide.BUY.value, quantity=abs(uncovered),
                   multiplier=pos.multiplier, order_type=OrderType.LIMIT.value, purpose=OrderPurpose.PROTECTION.value,
                   limit_price=Decimal(pos.take_profit), status=OrderStatus.PENDING.value,
                   time_in_force=TimeInForce.GTC.value))
    return order_id, ""
