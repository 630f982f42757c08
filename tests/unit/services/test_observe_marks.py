"""Observe marks everything the risk check will count: an open entry order of another act on the book, in an
instrument outside the cycle's symbols, gets its price (the check fails closed on what it cannot price)."""

from __future__ import annotations

from datetime import UTC, datetime

from cream import runtime
from cream.schemas.cycle import Observed
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline
from cream.storage.db import session_scope
from cream.storage.models import OrderRow
from tests.unit.services.books import new_book

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)


def test_an_open_entry_outside_the_cycles_symbols_is_marked() -> None:
    book = new_book("marks")
    with session_scope() as s:
        other, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT.replace(hour=14),
                                                     book=book), ["ADBE"])
        s.add(OrderRow(id=f"intent-{book}", book=book, cycle_id=other.id, instrument_id="ADBE", side="BUY",
                       quantity=10, order_type="MARKET", purpose="ENTRY", status="PENDING"))  # its act is sending
        this, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT, book=book),
                                    ["XLK"])
        cycle_id = this.id
    pipeline.observe_phase(cycle_id, runtime.PORTS, again=False)
    with session_scope(readonly=True) as s:
        observed = cycles.load(s, cycle_id, Observed)
    assert observed is not None and set(observed.prices) == {"XLK", "ADBE"}
    working = observed.portfolio.working_orders["ADBE"]
    # a market order has no limit: it counts at the price observed (the approvers see no ADBE snapshot)
    assert (working.quantity, working.price) == (10, observed.prices["ADBE"])
