"""Sending intents and reconciling them, against an in-memory broker that implements the Broker port.

The broker here is a fake of the outside system (its port), not of our code: everything of ours runs,
on a real SQLite database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cream.errors import AmbiguousOutcome, RejectedDefinitively, TransientError
from cream.schemas.decisions import Environment
from cream.schemas.orders import FillReport, OrderRequest, OrderStatus, OrderUpdate
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, order_lifecycle, portfolio
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import DecisionRow, FillRow, OrderRow, PositionRow

AT = datetime(2025, 6, 3, 15, tzinfo=UTC)
_books = itertools.count()


class InMemoryBroker:
    """Orders keyed by client_order_id, filled at 100.0; ``before`` runs ahead of each submit's outcome."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderUpdate] = {}
        self.posts = 0
        self.on_submit: Callable[[OrderRequest], None] | None = None
        self.lookup_error: Exception | None = None
        self.held: dict[str, int] = {}

    def fill(self, order: OrderRequest) -> OrderUpdate:
        return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=f"b-{order.client_order_id}",
                           status=OrderStatus.FILLED,
                           fills=[FillReport(quantity=order.quantity, price=100.0, fee=0.0, ts=AT)])

    def submit(self, order: OrderRequest) -> OrderUpdate:
        self.posts += 1
        if order.client_order_id in self.orders:
            raise AmbiguousOutcome("client_order_id must be unique")
        if self.on_submit is not None:
            self.on_submit(order)  # may record the order and then fail, like a 504 after acceptance
        update = self.fill(order)
        self.orders[order.client_order_id] = update
        return update

    def lookup(self, client_order_id: str) -> OrderUpdate | None:
        if self.lookup_error is not None:
            raise self.lookup_error
        return self.orders.get(client_order_id)

    def positions(self) -> dict[str, int] | None:
        return self.held


@pytest.fixture()
def intent() -> str:
    """A committed PENDING intent to buy 10 XYZ, in a fresh book with $10,000."""
    db.migrate()
    book = f"lc{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 10_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.PAPER, scheduled_for=AT, book=book),
                                     ["XYZ"])
        s.add(OrderRow(id=f"{cycle.id}:XYZ:ENTRY", book=book, cycle_id=cycle.id, instrument_id="XYZ", side="BUY",
                       quantity=10, order_type="MARKET", purpose="ENTRY", status="PENDING"))
        return f"{cycle.id}:XYZ:ENTRY"


def state(order_id: str) -> tuple[str, int, int, list[int]]:
    with session_scope(readonly=True) as s:
        order = s.get(OrderRow, order_id)
        assert order is not None
        pos = s.get(PositionRow, (order.book, "XYZ"))
        fills = [f.quantity for f in s.query(FillRow).filter(FillRow.order_id == order_id)]
        return order.status, order.filled_quantity, pos.quantity if pos else 0, fills


def test_a_sent_order_is_applied_once_however_often_it_is_sent(intent: str) -> None:
    broker = InMemoryBroker()
    assert order_lifecycle.send(intent, broker) == "FILLED"
    assert order_lifecycle.send(intent, broker) is None  # a second delivery finds nothing to do
    assert broker.posts == 1 and state(intent) == ("FILLED", 10, 10, [10])
    with session_scope(readonly=True) as s:
        assert s.get(OrderRow, intent).book is not None  # type: ignore[union-attr]


def test_accepted_then_504_is_resolved_by_lookup_with_no_second_order(intent: str) -> None:
    broker = InMemoryBroker()

    def accept_then_fail(order: OrderRequest) -> None:
        broker.orders[order.client_order_id] = broker.fill(order)
        raise AmbiguousOutcome("504 Gateway Timeout after POST /v2/orders")

    broker.on_submit = accept_then_fail
    assert order_lifecycle.send(intent, broker) == "FILLED"
    assert broker.posts == 1 and len(broker.orders) == 1 and state(intent) == ("FILLED", 10, 10, [10])


def test_ambiguous_and_unreachable_becomes_unknown_then_reconciliation_settles_it(intent: str) -> None:
    broker = InMemoryBroker()

    def accept_then_fail(order: OrderRequest) -> None:
        broker.orders[order.client_order_id] = broker.fill(order)
        raise AmbiguousOutcome("read timeout after POST")

    broker.on_submit, broker.lookup_error = accept_then_fail, TransientError("connection refused")
    assert order_lifecycle.send(intent, broker) == "UNKNOWN"
    assert state(intent) == ("UNKNOWN", 0, 0, [])
    assert order_lifecycle.send(intent, broker) is None  # never re-sent blindly
    broker.lookup_error = None
    with session_scope(readonly=True) as s:
        book = s.get(OrderRow, intent).book  # type: ignore[union-attr]
    broker.held = {"XYZ": 10}
    report = order_lifecycle.reconcile(broker, book)
    assert report == {"orders": {intent: "FILLED"}, "position_differences": {}}
    assert broker.posts == 1 and state(intent) == ("FILLED", 10, 10, [10])
    assert order_lifecycle.reconcile(broker, book)["orders"] == {}  # nothing applied twice


def test_an_order_the_broker_never_got_is_sent_after_reconciliation(intent: str) -> None:
    broker = InMemoryBroker()
    broker.on_submit = lambda order: (_ for _ in ()).throw(AmbiguousOutcome("connection reset"))
    broker.lookup_error = TransientError("down")
    assert order_lifecycle.send(intent, broker) == "UNKNOWN"
    broker.on_submit, broker.lookup_error = None, None
    with session_scope(readonly=True) as s:
        book = s.get(OrderRow, intent).book  # type: ignore[union-attr]
    assert order_lifecycle.reconcile(broker, book)["orders"] == {intent: "PENDING"}
    assert order_lifecycle.send(intent, broker) == "FILLED"
    assert state(intent) == ("FILLED", 10, 10, [10])


def test_transient_failure_before_sending_leaves_the_intent_pending(intent: str) -> None:
    broker = InMemoryBroker()
    broker.on_submit = lambda order: (_ for _ in ()).throw(TransientError("429 rate limited"))
    with pytest.raises(TransientError):
        order_lifecycle.send(intent, broker)
    assert state(intent) == ("PENDING", 0, 0, [])


def test_definitive_rejection_is_recorded_with_the_reason(intent: str) -> None:
    broker = InMemoryBroker()
    broker.on_submit = lambda order: (_ for _ in ()).throw(RejectedDefinitively("insufficient buying power"))
    assert order_lifecycle.send(intent, broker) == "REJECTED"
    with session_scope(readonly=True) as s:
        assert s.get(OrderRow, intent).error == "insufficient buying power"  # type: ignore[union-attr]


def test_partial_fills_are_applied_as_they_grow(intent: str) -> None:
    with session_scope(readonly=True) as s:
        book = s.get(OrderRow, intent).book  # type: ignore[union-attr]
    broker = InMemoryBroker()
    partial = OrderUpdate(client_order_id=intent, status=OrderStatus.PARTIALLY_FILLED,
                          fills=[FillReport(quantity=4, price=100.0, fee=0.0, ts=AT)])
    broker.orders[intent] = partial
    with session_scope() as s:
        s.get(OrderRow, intent).status = "SUBMITTED"  # type: ignore[union-attr]
    order_lifecycle.reconcile(broker, book)
    assert state(intent) == ("PARTIALLY_FILLED", 4, 4, [4])
    broker.orders[intent] = OrderUpdate(client_order_id=intent, status=OrderStatus.FILLED, fills=[
        FillReport(quantity=4, price=100.0, fee=0.0, ts=AT), FillReport(quantity=6, price=101.0, fee=0.0, ts=AT)])
    order_lifecycle.reconcile(broker, book)
    assert state(intent) == ("FILLED", 10, 10, [4, 6])
    with session_scope(readonly=True) as s:
        assert s.get(OrderRow, intent).avg_fill_price == Decimal("100.6")  # type: ignore[union-attr]


def test_position_differences_are_reported(intent: str) -> None:
    broker = InMemoryBroker()
    order_lifecycle.send(intent, broker)
    broker.held = {"XYZ": 7, "ABC": 3}
    with session_scope(readonly=True) as s:
        book = s.get(OrderRow, intent).book  # type: ignore[union-attr]
    assert order_lifecycle.reconcile(broker, book)["position_differences"] == {
        "XYZ": {"book": 10, "broker": 7}, "ABC": {"book": 0, "broker": 3}}


def test_an_entry_fill_gives_the_position_its_decisions_levels_and_what_they_are_levels_of() -> None:
    """A held option's stop and target may be levels of its premium: the position keeps which, for its exits."""
    db.migrate()
    book = f"lc{next(_books)}"
    call = "XYZ250620C00100000"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 10_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.PAPER, scheduled_for=AT, book=book),
                                     ["XYZ"])
        s.add(DecisionRow(id=f"{cycle.id}:d", cycle_id=cycle.id, instrument_id=call, action="BUY", direction="LONG",
                          size_value=1, size_unit="CONTRACTS", stop_loss=Decimal("1.5"), take_profit=Decimal(6),
                          levels_on="OPTION_PRICE", strategy_family="TREND", confidence=0.6, rationale="test",
                          status="APPROVED"))
        s.flush()
        s.add(OrderRow(id=f"{cycle.id}:{call}:ENTRY", book=book, cycle_id=cycle.id, decision_id=f"{cycle.id}:d",
                       instrument_id=call, side="BUY", quantity=1, multiplier=100, order_type="MARKET",
                       purpose="ENTRY", status="PENDING"))
        order_id = f"{cycle.id}:{call}:ENTRY"
    assert order_lifecycle.send(order_id, InMemoryBroker()) == "FILLED"
    with session_scope(readonly=True) as s:
        pos = s.get(PositionRow, (book, call))
        assert pos is not None and (pos.stop_loss, pos.take_profit, pos.levels_on) == \
            (Decimal("1.5"), Decimal(6), "OPTION_PRICE")
