"""The watch of held options between cycles: a level the quotes reach is exited at once, as one limit order at
the quote, under an id derived from the position; a live exit is left alone, an expired one placed again.
Here against the simulated broker and the model's quotes (the PAPER fleet test runs it against Alpaca)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.option_levels import level_hit
from cream.option_marks import mark_strategies
from cream.schemas.decisions import Environment, RiskDenomination
from cream.schemas.market import OptionMark
from cream.schemas.orders import OrderPurpose
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, option_exits, portfolio
from cream.storage.db import session_scope
from cream.storage.models import OrderRow, PositionRow
from tests.unit.services.books import new_book

MARKET = LocalHistory()
BROKER = SimulatedBroker(MARKET, slippage_bps=2.0, commission_per_share=0.65, commission_minimum=1.0)
# The simulated broker quotes an order at its cycle's hour: here the hour the position was opened and watched.
OPENED = NOW = datetime(2025, 6, 3, 15, tzinfo=UTC)
SPREAD = "1xXLK250620C00240000+-1xXLK250620C00250000"


def now_mark() -> OptionMark:
    legs = MARKET.option_marks(["XLK250620C00240000", "XLK250620C00250000"], NOW)
    return mark_strategies([SPREAD], legs, held=True)[SPREAD]


def holding(qty: int, stop: float, target: float, levels_on: str = "OPTION_PRICE") -> str:
    book = new_book("watch")
    with session_scope() as s:
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=OPENED,
                                                     book=book), ["XLK"])
        s.add(PositionRow(book=book, instrument_id=SPREAD, quantity=qty, avg_entry_price=Decimal(3), multiplier=100,
                          stop_loss=Decimal(str(stop)), take_profit=Decimal(str(target)), levels_on=levels_on,
                          opened_cycle_id=cycle.id, opened_at=OPENED))
    return book


def exits(book: str) -> list[OrderRow]:
    with session_scope(readonly=True) as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.book == book).order_by(OrderRow.submitted_at)))


def test_a_premium_stop_reached_is_exited_at_once_at_the_bid_and_the_book_closes_the_spread() -> None:
    mark = now_mark()
    assert mark.bid is not None
    book = holding(2, stop=round(mark.premium + 0.5, 2), target=round(mark.premium * 3, 2))
    [line] = option_exits.watch(BROKER, MARKET, book, NOW)
    assert line.startswith(f"STOP_LOSS {SPREAD} 2 at {mark.bid:.2f}") and "FILLED" in line
    [order] = exits(book)
    assert (order.side, order.quantity, order.purpose, order.order_type, order.time_in_force) == (
        "SELL", 2, "STOP_LOSS", "LIMIT", "DAY")
    assert order.limit_price == Decimal(str(mark.bid)).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert order.avg_fill_price == pytest.approx(Decimal(str(round(mark.bid, 4))))
    with session_scope(readonly=True) as s:
        assert SPREAD not in {p.instrument_id for p in portfolio.positions(s, book)}
    assert option_exits.watch(BROKER, MARKET, book, NOW) == []  # nothing held any more


def test_levels_not_reached_send_nothing_and_a_live_exit_is_left_alone() -> None:
    mark = now_mark()
    quiet = holding(1, stop=round(mark.premium * 0.5, 2), target=round(mark.premium * 2, 2))
    assert option_exits.watch(BROKER, MARKET, quiet, NOW) == [] and exits(quiet) == []
    hit = holding(1, stop=round(mark.premium + 0.5, 2), target=round(mark.premium * 3, 2))
    with session_scope() as s:
        pos = s.get(PositionRow, (hit, SPREAD))
        assert pos is not None
        s.add(OrderRow(id=f"live-{hit}", book=hit, cycle_id=pos.opened_cycle_id, decision_id=None,
                       instrument_id=SPREAD, side="SELL", quantity=1, multiplier=100, order_type="LIMIT",
                       purpose="STOP_LOSS", limit_price=Decimal("0.01"), status="SUBMITTED"))
    assert option_exits.watch(BROKER, MARKET, hit, NOW) == []


def test_an_exit_that_expired_is_placed_again_under_the_next_id() -> None:
    mark = now_mark()
    book = holding(-3, stop=round(mark.premium * 0.5, 2), target=round(mark.premium * 0.2, 2))
    # a short's stop is above its premium: set it just under the premium so that it is reached
    with session_scope() as s:
        pos = s.get(PositionRow, (book, SPREAD))
        assert pos is not None
        pos.stop_loss, pos.take_profit = Decimal(str(round(mark.premium - 0.3, 2))), Decimal("0.05")
        s.add(OrderRow(id=f"expired-{book}", book=book, cycle_id=pos.opened_cycle_id, decision_id=None,
                       instrument_id=SPREAD, side="BUY", quantity=3, multiplier=100, order_type="LIMIT",
                       purpose="STOP_LOSS", limit_price=Decimal(9), status="CANCELED", closed_at=NOW))
    [line] = option_exits.watch(BROKER, MARKET, book, NOW)
    assert line.startswith(f"STOP_LOSS {SPREAD} 3 at {mark.ask:.2f}")
    placed = [o for o in exits(book) if o.id != f"expired-{book}"]
    assert len(placed) == 1 and placed[0].side == "BUY" and placed[0].status == "FILLED"
    assert placed[0].limit_price == Decimal(str(mark.ask)).quantize(Decimal("0.01"), rounding="ROUND_UP")


@pytest.mark.parametrize("qty, delta, spot, expected", [
    (1, 0.4, 95.0, OrderPurpose.STOP_LOSS), (1, 0.4, 111.0, OrderPurpose.TAKE_PROFIT), (1, 0.4, 100.0, None),
    (1, -0.4, 111.0, OrderPurpose.STOP_LOSS),  # a put spread held long gains as the underlying falls
    (-1, 0.4, 111.0, OrderPurpose.STOP_LOSS),  # a call spread sold loses as it rises
])
def test_levels_of_the_underlying_follow_the_positions_delta(qty: int, delta: float, spot: float,
                                                             expected: OrderPurpose | None) -> None:
    mark = OptionMark(instrument_id=SPREAD, premium=2.0, underlying_price=spot, delta=delta, gamma=0.0, vega=0.0,
                      theta=0.0)
    rising = (qty > 0) == (delta > 0)
    stop, target = (96.0, 110.0) if rising else (110.0, 96.0)
    assert level_hit(mark, qty, stop, target, RiskDenomination.UNDERLYING_PRICE) is expected
