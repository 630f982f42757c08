"""Protection that lasts, service by service: Alpaca (alpaca-py against the stand-in, on a clock the test
moves over several sessions) and a real database; every piece of ours runs as in a worker."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from cream import clock, ids
from cream.adapters.alpaca_broker import AlpacaBroker
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, order_lifecycle, portfolio, protection
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import Book, DecisionRow, FillRow, OrderRow, PositionRow
from tests.integration.conftest import MONDAY
from tests.integration.paper_world import database_url
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration

_books = itertools.count()


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CREAM_DATABASE_URL", database_url(request, request.param, tmp_path))
    monkeypatch.setenv("CREAM_DATA_DIR", str(tmp_path))
    from cream.config import get_settings

    get_settings.cache_clear()
    db.migrate()
    yield
    get_settings.cache_clear()


@pytest.fixture
def alpaca(alpaca_days: AlpacaStandIn) -> AlpacaStandIn:
    return alpaca_days


@pytest.fixture
def broker(alpaca_days_broker: AlpacaBroker) -> AlpacaBroker:
    return alpaca_days_broker


def at(moment: Path, when: datetime) -> None:
    clock.set_time(moment, when)


def enter(book: str, order_type: str = "MARKET", limit: str | None = None, tif: str = "DAY",
          hour: datetime = MONDAY) -> str:
    """A PAPER cycle's approved entry: 10 AAPL, stop 95, target 110, written as act writes it."""
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book=book),
                                     ["AAPL"])
        decision = ids.decision_id(cycle.id, "AAPL")
        s.add(DecisionRow(id=decision, cycle_id=cycle.id, instrument_id="AAPL", action="BUY", direction="LONG",
                          size_value=10, size_unit="SHARES", stop_loss=Decimal(95), take_profit=Decimal(110),
                          strategy_family="MOMENTUM", confidence=0.7, rationale="test", status="APPROVED"))
        s.flush()
        order_id = ids.client_order_id(cycle.id, "AAPL", "ENTRY")
        s.add(OrderRow(id=order_id, book=book, cycle_id=cycle.id, decision_id=decision, instrument_id="AAPL",
                       side="BUY", quantity=10, order_type=order_type, purpose="ENTRY", status="PENDING",
                       limit_price=Decimal(limit) if limit else None, time_in_force=tif))
    return order_id


def book_state(book: str) -> tuple[Decimal, dict[str, int], list[tuple[str, str, int, Decimal | None]]]:
    with session_scope(readonly=True) as s:
        cash = s.get(Book, book).cash  # type: ignore[union-attr]
        held = {p.instrument_id: p.quantity for p in s.scalars(select(PositionRow).where(PositionRow.book == book))}
        orders = [(o.purpose, o.status, o.filled_quantity, o.avg_fill_price)
                  for o in s.scalars(select(OrderRow).where(OrderRow.book == book).order_by(OrderRow.submitted_at))]
    return cash, held, orders


def test_a_market_entry_keeps_its_gtc_stop_for_days_and_the_stop_exit_is_booked(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    book = f"prot{next(_books)}"
    entry = enter(book)
    assert order_lifecycle.send(entry, broker) == "FILLED"
    for day in (1, 2):  # Tuesday, Wednesday: nothing to re-place, the GTC legs are there
        at(moment, MONDAY + timedelta(days=day))
        report = protection.reconcile_book(broker, book)
        assert report["protection_placed"] == [] and report["unprotected"] == [] and broker.live_stops() == {"AAPL": 10}
    at(moment, MONDAY + timedelta(days=2, hours=2))
    alpaca.tick("AAPL", 94.5)  # the stop fires at the broker
    report = protection.reconcile_book(broker, book, None)
    assert report["broker_exits"] == ["STOP_LOSS AAPL 10 @ 94.500000 at the broker"]
    cash, held, orders = book_state(book)
    assert held == {} and cash == Decimal(100_000) - 1000 + Decimal(945)
    assert orders[-1] == ("STOP_LOSS", "FILLED", 10, Decimal("94.5"))
    stop_id = ids.client_order_id(_cycle_of(entry), "AAPL", "STOP_LOSS")  # the id BACKTEST gives it
    with session_scope(readonly=True) as s:
        fill = s.scalars(select(FillRow).where(FillRow.order_id == stop_id)).one()
    [broker_fill] = [f for f in alpaca.fills if f["price"] == 94.5]
    assert (fill.quantity, fill.price, fill.ts) == (10, Decimal("94.5"), broker_fill["at"])
    assert protection.reconcile_book(broker, book)["broker_exits"] == []  # booked once


def _cycle_of(order_id: str) -> str:
    with session_scope(readonly=True) as s:
        return s.get(OrderRow, order_id).cycle_id  # type: ignore[union-attr]


def test_day_legs_that_expired_overnight_are_replaced_by_one_gtc_oco(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                                      moment: Path) -> None:
    book = f"prot{next(_books)}"
    entry = enter(book, order_type="LIMIT", limit="99", tif="DAY")
    assert order_lifecycle.send(entry, broker) == "SUBMITTED"
    alpaca.tick("AAPL", 98.0)
    assert protection.reconcile_book(broker, book)["orders"] == {entry: "FILLED"}
    at(moment, MONDAY + timedelta(hours=6, minutes=5))  # 16:05 New York: the DAY legs expired
    assert broker.live_stops() == {}
    report = protection.reconcile_book(broker, book)
    [placed] = report["protection_placed"]
    assert placed.startswith("AAPL 10 guarded at the broker") and broker.live_stops() == {"AAPL": 10}
    [oco] = [o for o in alpaca.placed() if o["order_class"] == "oco"]
    assert (oco["time_in_force"], oco["limit_price"], oco["legs"][0]["stop_price"]) == ("gtc", "110", "95")
    assert protection.reconcile_book(broker, book)["protection_placed"] == []  # guarded: nothing more
    at(moment, MONDAY + timedelta(days=3))  # Thursday 11:00: the target side fills
    alpaca.tick("AAPL", 111.0)
    assert protection.reconcile_book(broker, book)["broker_exits"] == ["TAKE_PROFIT AAPL 10 @ 111.000000 at the broker"]
    cash, held, orders = book_state(book)
    assert held == {} and cash == Decimal(100_000) - 980 + 1110
    purposes = [(p, st) for p, st, _, _ in orders]
    assert purposes == [("ENTRY", "FILLED"), ("PROTECTION", "FILLED"), ("TAKE_PROFIT", "FILLED")]


def test_an_exit_first_releases_the_shares_its_stop_holds(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    book = f"prot{next(_books)}"
    order_lifecycle.send(enter(book), broker)
    canceled = protection.release(broker, book, "AAPL")
    assert len(canceled) >= 1 and broker.live_stops() == {}
    with session_scope() as s:
        entry_cycle = s.scalars(select(OrderRow.cycle_id).where(OrderRow.book == book)).one()
        s.add(OrderRow(id="exit-1", book=book, cycle_id=entry_cycle, instrument_id="AAPL", side="SELL",
                       quantity=10, order_type="MARKET", purpose="EXIT", status="PENDING"))
    assert order_lifecycle.send("exit-1", broker) == "FILLED"
    assert book_state(book)[1] == {} and broker.positions() == {}


def test_a_position_without_known_levels_is_reported_not_guessed(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    book = f"prot{next(_books)}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
    alpaca.create_order({"symbol": "MSFT", "qty": "5", "side": "buy", "type": "market", "time_in_force": "day"})
    report = protection.reconcile_book(broker, book)
    assert report["protection_placed"] == [] and len(report["unprotected"]) == 1
    assert report["unprotected"][0].startswith("MSFT 5 of 5: no stop and target known")


def test_protection_the_broker_refuses_is_reported_unprotected_not_guarded(alpaca: AlpacaStandIn,
                                                                            broker: AlpacaBroker) -> None:
    book = f"prot{next(_books)}"
    order_lifecycle.send(enter(book), broker)
    for leg in alpaca.open_orders("AAPL"):  # somebody cancels the stop and target, and offers the shares
        alpaca.cancel(leg["id"])
    alpaca.create_order({"symbol": "AAPL", "qty": "10", "side": "sell", "type": "limit", "limit_price": "150",
                         "time_in_force": "gtc"})
    report = protection.reconcile_book(broker, book)
    assert report["protection_placed"] == [] and broker.live_stops() == {}
    [line] = report["unprotected"]
    assert line.startswith("AAPL 10 of 10: the broker refused its protection")
