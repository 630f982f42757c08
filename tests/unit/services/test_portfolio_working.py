"""The book's view lists what open entry orders may still add (``portfolio.view``): the risk re-check counts
it as exposure in every environment, and it uses buying power."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from cream.schemas.decisions import Environment
from cream.schemas.orders import FillReport, OrderStatus, OrderUpdate
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, order_lifecycle, portfolio
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import OrderRow, WorkRow

AT = datetime(2025, 6, 3, 15, tzinfo=UTC)
_books = itertools.count()


def fresh_book() -> tuple[str, str]:
    db.migrate()
    book = f"work{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.PAPER, scheduled_for=AT, book=book),
                                     ["XYZ"])
    return book, cycle.id


def order(book: str, cycle: str, oid: str, *, qty: int = 100, side: str = "BUY", purpose: str = "ENTRY",
          status: str = "SUBMITTED", limit: str | None = "50", parent: str | None = None) -> OrderRow:
    return OrderRow(id=oid, book=book, cycle_id=cycle, instrument_id="XYZ", side=side, quantity=qty,
                    order_type="LIMIT" if limit else "MARKET", purpose=purpose, status=status,
                    limit_price=Decimal(limit) if limit else None, parent_id=parent)


def working(book: str) -> dict[str, tuple[int, float | None]]:
    with session_scope(readonly=True) as s:
        return {k: (w.quantity, w.price) for k, w in portfolio.view(s, book).working_orders.items()}


def test_open_entries_count_what_they_may_still_buy_or_sell_short() -> None:
    book, cycle = fresh_book()
    with session_scope() as s:
        s.add_all([order(book, cycle, f"{book}-rest"), order(book, cycle, f"{book}-short", side="SELL", qty=30),
                   order(book, cycle, f"{book}-pend", status="PENDING", qty=20),
                   order(book, cycle, f"{book}-exit", purpose="EXIT", side="SELL"),  # reduces: not exposure
                   order(book, cycle, f"{book}-done", status="FILLED")])
    assert working(book) == {"XYZ": (100 - 30 + 20, 50.0)}
    with session_scope(readonly=True) as s:
        assert portfolio.view(s, book).buying_power == 200_000 - 90 * 50  # what may still fill uses buying power


def test_a_partly_filled_entry_counts_its_rest_until_the_broker_says_it_is_over() -> None:
    book, cycle = fresh_book()
    oid = f"{book}-part"
    with session_scope() as s:
        s.add(order(book, cycle, oid))
    fill = FillReport(quantity=40, price=50.0, fee=0.0, ts=AT)
    with session_scope() as s:
        order_lifecycle.apply_update(s, oid, OrderUpdate(client_order_id=oid, status=OrderStatus.PARTIALLY_FILLED,
                                                         fills=[fill]))
    assert working(book) == {"XYZ": (60, 50.0)}
    with session_scope() as s:  # canceled after the partial fill: PARTIALLY_FILLED, and final
        order_lifecycle.apply_update(s, oid, OrderUpdate(client_order_id=oid, status=OrderStatus.PARTIALLY_FILLED,
                                                         fills=[fill], final=True))
    assert working(book) == {}
    with session_scope(readonly=True) as s:
        row = s.get(OrderRow, oid)
        assert row is not None and row.closed_at is not None and row.filled_quantity == 40
        assert portfolio.view(s, book).positions["XYZ"].quantity == 40


def test_a_worked_parent_counts_once_for_all_its_children_at_its_reference_price() -> None:
    book, cycle = fresh_book()
    parent = f"{book}-twap"
    with session_scope() as s:
        s.add(order(book, cycle, parent, qty=300, limit=None))
        s.flush()
        s.add(WorkRow(order_id=parent, book=book, tactic="TWAP", started_at=AT, reference_price=Decimal("49.5"),
                      schedule=[[0, 100, None], [1, 100, None], [2, 100, None]], status="WORKING", link=1,
                      linked_at=AT))
        s.add(order(book, cycle, f"{book}-c0", qty=100, limit=None, parent=parent))
    assert working(book) == {"XYZ": (300, 49.5)}
    fill = FillReport(quantity=100, price=49.0, fee=0.0, ts=AT)
    with session_scope() as s:  # the child fills: the parent shows it, the book holds it, the rest is working
        order_lifecycle.apply_update(s, f"{book}-c0", OrderUpdate(client_order_id=f"{book}-c0",
                                                                  status=OrderStatus.FILLED, fills=[fill]))
    assert working(book) == {"XYZ": (200, 49.5)}
    with session_scope(readonly=True) as s:
        row = s.get(OrderRow, parent)
        assert row is not None and (row.status, row.filled_quantity, row.avg_fill_price) == \
            ("PARTIALLY_FILLED", 100, Decimal(49))
        assert portfolio.view(s, book).positions["XYZ"].quantity == 100  # booked once, by the child
