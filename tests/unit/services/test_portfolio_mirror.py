"""In PAPER and LIVE the book mirrors the broker's account (brackets filled at the broker, outside trades)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from cream.ports import AccountSnapshot
from cream.schemas.decisions import Environment
from cream.services import portfolio
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import Book, PositionRow

AT = datetime(2025, 6, 3, 15, tzinfo=UTC)
_books = itertools.count()


def test_the_book_takes_the_brokers_cash_and_positions() -> None:
    db.migrate()
    book = f"mirror{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
        s.add_all([PositionRow(book=book, instrument_id="XLK", quantity=40, avg_entry_price=Decimal(250),
                               stop_loss=Decimal(240), take_profit=Decimal(270), opened_at=AT),
                   PositionRow(book=book, instrument_id="MA", quantity=10, avg_entry_price=Decimal(550),
                               stop_loss=Decimal(530), take_profit=Decimal(590), opened_at=AT)])
    # At the broker: MA's stop-loss filled, XLK was partly sold by hand, an AAPL call appeared.
    account = AccountSnapshot(cash=95_400.0, buying_power=190_000.0, day_trades=1,
                              positions={"XLK": (25, 250.0), "AAPL250117C00200000": (2, 7.5)})
    with session_scope() as s:
        changes = portfolio.mirror(s, book, account, AT)
    assert sorted(changes) == sorted(["cash 100000.000000 -> 95400.0", "MA 10 -> 0", "XLK 40 -> 25",
                                      "AAPL250117C00200000 0 -> 2"])
    with session_scope(readonly=True) as s:
        held = {p.instrument_id: p for p in portfolio.positions(s, book)}
        assert s.get(Book, book).cash == Decimal(95400)  # type: ignore[union-attr]
    assert set(held) == {"XLK", "AAPL250117C00200000"}
    assert held["XLK"].quantity == 25 and held["XLK"].stop_loss == Decimal(240)  # same side: bracket kept
    call = held["AAPL250117C00200000"]
    assert (call.quantity, call.multiplier, call.stop_loss) == (2, 100, None)  # opened outside Cream
    with session_scope() as s:
        assert portfolio.mirror(s, book, account, AT) == []  # already the broker's view


SPREAD = "1xXLK250620C00240000+-1xXLK250620C00250000"


def test_a_strategy_stays_one_position_while_the_broker_holds_its_legs_and_splits_when_it_does_not() -> None:
    """Alpaca holds a vertical as its two legs. The book keeps the strategy (its levels, its P&L) as long as
    the legs hold it whole; a contract bought alone beside it is a position of its own; once a leg is
    gone (assigned, closed by hand) what is left mirrors leg by leg."""
    db.migrate()
    book = f"mirror{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
        s.add(PositionRow(book=book, instrument_id=SPREAD, quantity=3, avg_entry_price=Decimal("4.1"), multiplier=100,
                          stop_loss=Decimal(2), take_profit=Decimal(8), levels_on="OPTION_PRICE", opened_at=AT))
    whole = AccountSnapshot(cash=98_770.0, buying_power=190_000.0, day_trades=0,
                            positions={"XLK250620C00240000": (4, 7.0), "XLK250620C00250000": (-3, 2.9)})
    with session_scope() as s:
        changes = portfolio.mirror(s, book, whole, AT)
    assert changes == ["cash 100000.000000 -> 98770.0", "XLK250620C00240000 0 -> 1"]
    with session_scope(readonly=True) as s:
        held = {p.instrument_id: p for p in portfolio.positions(s, book)}
    assert set(held) == {SPREAD, "XLK250620C00240000"}
    assert (held[SPREAD].quantity, held[SPREAD].avg_entry_price, held[SPREAD].stop_loss) == (3, Decimal("4.1"), 2)
    assert held["XLK250620C00240000"].quantity == 1
    # the short leg was assigned: two long calls and the lone one are left, as contracts
    broken = whole._replace(positions={"XLK250620C00240000": (4, 7.0), "XLK": (-300, 250.0)})
    with session_scope() as s:
        changes = portfolio.mirror(s, book, broken, AT)
    assert f"{SPREAD} 3 -> its legs as the broker holds them" in changes
    with session_scope(readonly=True) as s:
        held = {p.instrument_id: p for p in portfolio.positions(s, book)}
    assert {k: p.quantity for k, p in held.items()} == {"XLK250620C00240000": 4, "XLK": -300}
