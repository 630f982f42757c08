"""Observe books the bracket exits a broker made itself (the simulated broker, over the sample bars) and
none at a broker that holds its exits as orders (their fills arrive through reconciliation)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.ports import BracketExit
from cream.schemas.decisions import Environment
from cream.schemas.market import Timeframe
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, portfolio
from cream.services.observe import work_brackets
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import Book, OrderRow, PositionRow

OPENED = datetime(2025, 6, 3, 15, tzinfo=UTC)  # XLK's next hourly highs: 235.78, 236.405
LATER = OPENED + timedelta(days=1)
_books = itertools.count()


class HoldsItsExits:
    """A broker that keeps stops and targets as orders of its own (as Alpaca): it answers no bracket exit."""

    def bracket_exit(self, instrument_id: str, quantity: int, multiplier: int, stop: float, target: float,
                     since: datetime, until: datetime, levels_on: object = None) -> BracketExit | None:
        return None


def _book_with_xlk() -> tuple[str, str]:
    """A BACKTEST book holding 100 XLK at 235 since OPENED, stop 200, target 236; the cycle at LATER."""
    db.migrate()
    book = f"brackets{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.BACKTEST, 100_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=LATER,
                                                     book=book), ["XLK"])
        s.add(PositionRow(book=book, instrument_id="XLK", quantity=100, avg_entry_price=Decimal(235),
                          stop_loss=Decimal(200), take_profit=Decimal(236), opened_cycle_id="opening-cycle",
                          opened_at=OPENED, checked_until=OPENED))
        return book, cycle.id


def test_the_simulated_brokers_target_fill_is_booked_once() -> None:
    book, cycle_id = _book_with_xlk()
    broker = SimulatedBroker(LocalHistory(), slippage_bps=2.0, commission_per_share=0.005, commission_minimum=1.0)
    with session_scope() as s:
        assert work_brackets(s, book, cycle_id, LATER, broker) == ["TAKE_PROFIT XLK 100 @ 236.0"]
    with session_scope() as s:
        [order] = s.query(OrderRow).filter_by(book=book).all()
        assert (order.purpose, order.side, order.status, order.avg_fill_price, order.fees) == \
            ("TAKE_PROFIT", "SELL", "FILLED", Decimal(236), Decimal(1))
        assert portfolio.positions(s, book) == []  # closed
        assert s.get(Book, book).cash == Decimal(100000) + 100 * Decimal(236) - 1  # type: ignore[union-attr]
        assert work_brackets(s, book, cycle_id, LATER + timedelta(days=1), broker) == []


def test_a_broker_holding_its_exits_books_none_and_leaves_the_position() -> None:
    book, cycle_id = _book_with_xlk()
    with session_scope() as s:
        assert work_brackets(s, book, cycle_id, LATER, HoldsItsExits()) == []  # type: ignore[arg-type]
    with session_scope(readonly=True) as s:
        assert s.query(OrderRow).filter_by(book=book).count() == 0
        [pos] = portfolio.positions(s, book)
        assert pos.quantity == 100


def test_a_held_options_bracket_on_its_premium_is_worked_and_booked_per_contract() -> None:
    """A long call whose levels are of its premium: the exit the model's quote reaches is booked, x100."""
    call = "XLK250620C00240000"
    market = LocalHistory()
    bars = market.bars_between("XLK", Timeframe.H1, OPENED, LATER)
    premiums = [market.option_marks([call], datetime.fromtimestamp(int(e), tz=UTC))[call] for e in bars.end]
    target = round(max(m.premium for m in premiums) - 0.001, 4)  # stored as money: 6 decimals at most
    exit_bid = next(m.bid for m in premiums if m.premium >= target)
    book, cycle_id = _book_with_xlk()
    with session_scope() as s:
        s.add(PositionRow(book=book, instrument_id=call, quantity=2, avg_entry_price=Decimal(3), multiplier=100,
                          stop_loss=Decimal("0.01"), take_profit=Decimal(str(target)), levels_on="OPTION_PRICE",
                          opened_cycle_id="opening-cycle", opened_at=OPENED, checked_until=OPENED))
    broker = SimulatedBroker(market, slippage_bps=2.0, commission_per_share=0.005, commission_minimum=1.0)
    with session_scope() as s:
        done = work_brackets(s, book, cycle_id, LATER, broker)
    assert f"TAKE_PROFIT {call} 2 @ {round(exit_bid or 0, 4)}" in done
    with session_scope(readonly=True) as s:
        assert call not in {p.instrument_id for p in portfolio.positions(s, book)}
        order = s.query(OrderRow).filter_by(book=book, instrument_id=call).one()
        assert (order.side, order.multiplier, order.purpose) == ("SELL", 100, "TAKE_PROFIT")
