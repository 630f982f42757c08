"""Alpaca over days, through alpaca-py against the stand-in on a clock the test moves: which time in force
each order gets, what survives the close, and what the protection calls report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cream import clock
from cream.adapters.alpaca_broker import AlpacaBroker
from cream.errors import RejectedDefinitively
from cream.schemas.decisions import OrderType, TimeInForce
from cream.schemas.orders import OrderPurpose, OrderRequest, OrderSide, OrderStatus
from tests.integration.conftest import MONDAY
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration

CALL = "AAPL251017C00150000"


@pytest.fixture
def alpaca(alpaca_days: AlpacaStandIn) -> AlpacaStandIn:
    return alpaca_days


@pytest.fixture
def broker(alpaca_days_broker: AlpacaBroker) -> AlpacaBroker:
    return alpaca_days_broker


def at(moment: Path, when: datetime) -> None:
    clock.set_time(moment, when)


def order(cid: str, **kw: object) -> OrderRequest:
    fields: dict[str, object] = {"client_order_id": cid, "symbol": "AAPL", "instrument_id": "AAPL",
                                 "side": OrderSide.BUY, "quantity": 10, "as_of": MONDAY}
    fields.update(kw)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def bracket(cid: str = "entry", **kw: object) -> OrderRequest:
    return order(cid, stop_loss=95.0, take_profit=110.0, **kw)


def test_a_market_bracket_keeps_its_stop_across_nights_and_a_weekend(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                                      moment: Path) -> None:
    assert broker.submit(bracket(time_in_force=TimeInForce.DAY)).status is OrderStatus.FILLED
    [sent] = alpaca.orders_for("entry")
    assert (sent["order_class"], sent["time_in_force"]) == ("bracket", "gtc")
    assert broker.live_stops() == {"AAPL": 10}
    for later in (timedelta(days=1), timedelta(days=4), timedelta(days=7)):  # Tuesday, Friday, next Monday
        at(moment, MONDAY + later)
        assert broker.live_stops() == {"AAPL": 10}, later
    at(moment, MONDAY + timedelta(days=7, hours=1))
    alpaca.tick("AAPL", 94.0)  # through the stop
    assert broker.positions() == {} and broker.live_stops() == {}
    legs = {leg.purpose: leg for leg in broker.protective_legs("entry") or []}
    assert legs[OrderPurpose.STOP_LOSS].status is OrderStatus.FILLED
    assert [(f.quantity, f.price, f.ts) for f in legs[OrderPurpose.STOP_LOSS].fills] == \
        [(10, 94.0, MONDAY + timedelta(days=7, hours=1))]
    assert legs[OrderPurpose.TAKE_PROFIT].status is OrderStatus.CANCELED and not legs[OrderPurpose.TAKE_PROFIT].fills


def test_day_legs_of_a_resting_bracket_expire_at_the_close(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                           moment: Path) -> None:
    update = broker.submit(bracket(order_type=OrderType.LIMIT, limit_price=99.0, time_in_force=TimeInForce.DAY))
    assert update.status is OrderStatus.SUBMITTED and alpaca.orders_for("entry")[0]["time_in_force"] == "day"
    assert broker.live_stops() == {}  # legs wait for the entry: they guard nothing yet
    alpaca.tick("AAPL", 98.5)
    assert broker.positions() == {"AAPL": 10} and broker.live_stops() == {"AAPL": 10}
    at(moment, MONDAY + timedelta(hours=6, minutes=1))  # 16:01 New York
    assert broker.live_stops() == {} and broker.positions() == {"AAPL": 10}  # held overnight, unguarded
    assert {leg.status for leg in broker.protective_legs("entry") or []} == {OrderStatus.CANCELED}


def test_protection_is_one_gtc_oco_and_the_shares_it_holds_cannot_be_sold_twice(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    broker.submit(order("plain"))
    protect = order("protect", side=OrderSide.SELL, purpose=OrderPurpose.PROTECTION, stop_loss=95.0,
                    take_profit=110.0)
    assert broker.submit(protect).status is OrderStatus.SUBMITTED
    [sent] = alpaca.orders_for("protect")
    assert (sent["order_class"], sent["type"], sent["time_in_force"], sent["limit_price"]) == \
        ("oco", "limit", "gtc", "110")
    assert broker.live_stops() == {"AAPL": 10}
    with pytest.raises(RejectedDefinitively, match="insufficient qty available"):
        broker.submit(order("again", side=OrderSide.SELL, purpose=OrderPurpose.PROTECTION, stop_loss=95.0,
                            take_profit=110.0))
    at(moment, MONDAY + timedelta(days=2))
    alpaca.tick("AAPL", 111.0)  # the target side fills, the stop side is canceled
    legs = {leg.purpose: leg for leg in broker.protective_legs("protect") or []}
    assert legs[OrderPurpose.TAKE_PROFIT].status is OrderStatus.FILLED
    assert legs[OrderPurpose.STOP_LOSS].status is OrderStatus.CANCELED
    assert broker.positions() == {} and broker.live_stops() == {}


def test_gtc_orders_end_after_ninety_days(alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    broker.submit(order("plain"))
    broker.submit(order("protect", side=OrderSide.SELL, purpose=OrderPurpose.PROTECTION, stop_loss=95.0,
                        take_profit=110.0))
    at(moment, MONDAY + timedelta(days=89))
    assert broker.live_stops() == {"AAPL": 10}
    at(moment, MONDAY + timedelta(days=91))
    assert broker.live_stops() == {}


def test_an_order_placed_after_the_close_waits_for_the_open(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                            moment: Path) -> None:
    at(moment, MONDAY + timedelta(hours=8))  # 19:00 New York
    assert broker.clock().is_open is False
    assert broker.submit(order("late")).status is OrderStatus.SUBMITTED
    at(moment, MONDAY + timedelta(days=1, hours=-1))  # Tuesday 10:00
    alpaca.tick("AAPL", 101.0)
    assert broker.lookup("late").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert broker.clock().next_close == datetime(2025, 9, 23, 20, tzinfo=UTC)


@pytest.mark.parametrize("request_, refused", [
    (bracket(time_in_force=TimeInForce.IOC), "Alpaca brackets are DAY or GTC"),
    (order("opt", symbol=CALL, instrument_id=CALL, multiplier=100, time_in_force=TimeInForce.GTC),
     "options orders are DAY only"),
    (order("opt", symbol=CALL, instrument_id=CALL, side=OrderSide.SELL, multiplier=100,
           purpose=OrderPurpose.PROTECTION, stop_loss=1.0, take_profit=3.0), "protection of an option position"),
])
def test_what_alpaca_cannot_hold_is_refused_before_sending(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                           request_: OrderRequest, refused: str) -> None:
    with pytest.raises(RejectedDefinitively, match=refused):
        broker.submit(request_)
    assert alpaca.orders_created == 0


@pytest.mark.parametrize("tif", list(TimeInForce))
def test_a_plain_order_keeps_the_plans_time_in_force(alpaca: AlpacaStandIn, broker: AlpacaBroker,
                                                     tif: TimeInForce) -> None:
    broker.submit(order("plain", order_type=OrderType.LIMIT, limit_price=90.0, time_in_force=tif))
    assert alpaca.orders_for("plain")[0]["time_in_force"] == tif.value.lower()


def test_the_standin_refuses_what_alpaca_refuses(alpaca: AlpacaStandIn) -> None:
    """Straight to the stand-in, past the adapter's own checks."""
    base = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market"}
    assert alpaca.create_order({**base, "time_in_force": "ioc", "order_class": "bracket",
                                "take_profit": {"limit_price": 110}, "stop_loss": {"stop_price": 95}})[0] == 422
    assert alpaca.create_order({**base, "symbol": CALL, "time_in_force": "gtc"})[0] == 422
    assert alpaca.create_order({**base, "side": "sell", "type": "market", "time_in_force": "gtc",
                                "order_class": "oco", "take_profit": {"limit_price": 110},
                                "stop_loss": {"stop_price": 95}})[0] == 422  # an OCO is a limit order
