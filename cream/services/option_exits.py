"""Held options' stops and targets between cycles (PAPER, LIVE): the broker cannot hold them.

Alpaca takes options orders DAY only and never as brackets or OCOs, so no stop can rest at the broker for an
option or a strategy. Instead beat runs ``watch`` on the ``execution`` queue every few minutes of the
session (``tasks.execution.watch_option_exits``): each held option or strategy with a stop and a target is
marked from the provider's quotes (``observe.held_marks``, the same marks as a cycle's); where a level is
reached (``option_levels.level_hit``: the premium, or the underlying's price, as the plan gave them) an exit goes at
once, a DAY limit at the quote's bid (selling a long) or ask (buying back a short), a strategy as one
``mleg`` order. Its fill reaches the book through reconciliation like any order's. An exit that expired
unfilled at the close is placed again, under a new id, the next session the level still holds; one that
is live at the broker is left alone. In BACKTEST the simulated broker works the same levels hour by hour
(``SimulatedBroker.bracket_exit``), with the same levels.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cream import ids
from cream.option_levels import level_hit
from cream.ports import Broker, MarketData
from cream.schemas.decisions import OrderType, RiskDenomination, TimeInForce
from cream.schemas.instruments import is_options_position
from cream.schemas.orders import OrderPurpose, OrderSide, OrderStatus
from cream.services import observe, order_lifecycle, portfolio
from cream.storage.db import session_scope
from cream.storage.models import OrderRow

log = logging.getLogger(__name__)
EXITS = (OrderPurpose.STOP_LOSS.value, OrderPurpose.TAKE_PROFIT.value, OrderPurpose.EXIT.value)
CENT = Decimal("0.01")


def watch(broker: Broker, market: MarketData, book: str, now: datetime) -> list[str]:
    """Send the exit of each held option whose stop or target the quotes at ``now`` reach; what was done
    or could not be, one line each. The caller holds the book's lock."""
    with session_scope(readonly=True) as s:
        held = [p for p in portfolio.positions(s, book) if is_options_position(p.instrument_id)]
        working = set(s.scalars(select(OrderRow.instrument_id).where(
            OrderRow.book == book, OrderRow.purpose.in_(EXITS), OrderRow.status.in_(order_lifecycle.OPEN),
            OrderRow.closed_at.is_(None))))
        watched = [(p.instrument_id, p.quantity, float(p.stop_loss), float(p.take_profit),
                    RiskDenomination(p.levels_on or RiskDenomination.UNDERLYING_PRICE), p.opened_cycle_id)
                   for p in held if p.stop_loss is not None and p.take_profit is not None
                   and p.opened_cycle_id is not None and p.instrument_id not in working]
    if not watched:
        return []
    marks = observe.held_marks(market, [w[0] for w in watched], now)
    done = []
    for instrument_id, qty, stop, target, levels_on, opened in watched:
        mark = marks.get(instrument_id)
        if mark is None:
            done.append(f"{instrument_id}: no quote to watch its stop and target by")
            continue
        purpose = level_hit(mark, qty, stop, target, levels_on)
        if purpose is None:
            continue
        price = mark.bid if qty > 0 else mark.ask
        if price is None or price <= 0:
            done.append(f"{purpose.value} {instrument_id}: reached, but no {'bid' if qty > 0 else 'ask'} to exit at")
            continue
        with session_scope() as s:
            order_id = _exit_intent(s, book, instrument_id, qty, purpose, price, opened)
        status = order_lifecycle.send(order_id, broker)
        done.append(f"{purpose.value} {instrument_id} {abs(qty)} at {price:.2f} "
                    f"({'premium' if levels_on is RiskDenomination.OPTION_PRICE else 'underlying'} "
                    f"{mark.premium if levels_on is RiskDenomination.OPTION_PRICE else mark.underlying_price:.2f}, "
                    f"stop {stop}, target {target}): {order_id} {status}")
    if done:
        log.warning("book %s option exits: %s", book, "; ".join(done))
    return done


def _exit_intent(s: Session, book: str, instrument_id: str, qty: int, purpose: OrderPurpose, price: float,
                 opened_cycle: str) -> str:
    """A PENDING DAY limit closing the position, with an id derived from the position and how many exits of
    it were placed before (an expired one is placed again under the next id)."""
    n = s.scalar(select(func.count()).select_from(OrderRow).where(
        OrderRow.book == book, OrderRow.instrument_id == instrument_id, OrderRow.cycle_id == opened_cycle,
        OrderRow.purpose == purpose.value)) or 0
    order_id = ids.client_order_id(opened_cycle, instrument_id, f"{purpose.value}-watch-{n + 1}")
    limit = Decimal(str(price)).quantize(CENT, rounding=ROUND_DOWN if qty > 0 else ROUND_UP)
    s.add(OrderRow(id=order_id, book=book, cycle_id=opened_cycle, decision_id=None, instrument_id=instrument_id,
                   side=OrderSide.SELL.value if qty > 0 else OrderSide.BUY.value, quantity=abs(qty), multiplier=100,
                   order_type=OrderType.LIMIT.value, purpose=purpose.value, limit_price=max(limit, CENT),
                   status=OrderStatus.PENDING.value, time_in_force=TimeInForce.DAY.value))
    return order_id
