"""The Alpaca adapter through the official alpaca-py client against the loopback Alpaca stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alpaca.trading.models import Asset, Clock, Order, Position, TradeAccount

from cream.adapters.alpaca_broker import AlpacaBroker
from cream.errors import ConfigurationError, RejectedDefinitively, TransientError, UnknownInstrument
from cream.ports import Broker
from cream.schemas.decisions import OrderType
from cream.schemas.instruments import MultiLeg, OptionLeg
from cream.schemas.orders import OrderRequest, OrderSide, OrderStatus
from tests.standins import alpaca_server as standin
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration

AS_OF = datetime(2025, 1, 6, 15, tzinfo=UTC)
CALL_150, CALL_160 = "AAPL250117C00150000", "AAPL250117C00160000"


@pytest.fixture
def alpaca() -> Iterator[AlpacaStandIn]:
    with AlpacaStandIn(fill_price=187.5) as server:
        yield server


@pytest.fixture
def broker(alpaca: AlpacaStandIn) -> AlpacaBroker:
    return AlpacaBroker("test-key", "test-secret", paper=True, url_override=alpaca.url, timeout=0.5)


def order(cid: str = "cream-0001", symbol: str = "AAPL", **kw: object) -> OrderRequest:
    fields: dict[str, object] = {"client_order_id": cid, "symbol": symbol, "instrument_id": symbol,
                                 "side": OrderSide.BUY, "quantity": 10, "as_of": AS_OF}
    fields.update(kw)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def posts(alpaca: AlpacaStandIn) -> int:
    return sum(1 for r in alpaca.requests if r == ("POST", "/v2/orders"))


# --- happy paths -------------------------------------------------------------------------------

def test_market_order_fills_at_the_broker_price_without_fee(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    update = broker.submit(order())
    assert update.status is OrderStatus.FILLED
    assert [(f.quantity, f.price, f.fee) for f in update.fills] == [(10, 187.5, 0.0)]
    [sent] = alpaca.orders_for("cream-0001")
    assert update.broker_order_id == sent["id"]
    assert (sent["type"], sent["side"], sent["time_in_force"], sent["qty"]) == ("market", "buy", "day", "10")
    assert broker.positions() == {"AAPL": 10}
    [held] = broker.position_details()
    assert (held.symbol, held.quantity, float(held.avg_entry_price), held.asset_class) == ("AAPL", 10, 187.5,
                                                                                           "us_equity")
    account = broker.account()
    assert float(account.cash) == pytest.approx(100_000 - 1875)
    assert account.status == "ACTIVE" and account.daytrade_count == 0 and account.pattern_day_trader is False


def test_resting_limit_order_is_open_then_canceled(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    update = broker.submit(order(order_type=OrderType.LIMIT, limit_price=180.123))
    assert update.status is OrderStatus.SUBMITTED and update.fills == []
    assert alpaca.orders_for("cream-0001")[0]["limit_price"] == "180.12"
    assert [o.client_order_id for o in broker.open_orders()] == ["cream-0001"]
    assert update.broker_order_id is not None
    broker.cancel(update.broker_order_id)
    assert broker.order_by_client_id("cream-0001").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert broker.open_orders() == []
    with pytest.raises(RejectedDefinitively, match="canceled"):
        broker.cancel(update.broker_order_id)


def test_marketable_limit_order_fills(broker: AlpacaBroker) -> None:
    assert broker.submit(order(order_type=OrderType.LIMIT, limit_price=190.0)).status is OrderStatus.FILLED


def test_stop_and_stop_limit_orders_rest_until_triggered(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    assert broker.submit(order("c-stop", order_type=OrderType.STOP, stop_price=200.0)).status \
        is OrderStatus.SUBMITTED
    assert broker.submit(order("c-sl", order_type=OrderType.STOP_LIMIT, stop_price=201.0, limit_price=201.0)).status \
        is OrderStatus.SUBMITTED
    stop, stop_limit = alpaca.orders_for("c-stop")[0], alpaca.orders_for("c-sl")[0]
    assert (stop["type"], stop["stop_price"], stop["limit_price"]) == ("stop", "200", None)
    assert (stop_limit["type"], stop_limit["stop_price"], stop_limit["limit_price"]) == ("stop_limit", "201", "201")


def test_entry_with_both_levels_is_a_bracket(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    update = broker.submit(order(stop_loss=170.0, take_profit=210.555))
    assert update.status is OrderStatus.FILLED
    [sent] = alpaca.orders_for("cream-0001")
    assert sent["order_class"] == "bracket"
    legs = {leg["type"]: leg for leg in sent["legs"]}
    assert (legs["limit"]["limit_price"], legs["limit"]["side"]) == ("210.56", "sell")
    assert (legs["stop"]["stop_price"], legs["stop"]["side"]) == ("170", "sell")
    # Alpaca works the legs itself: observe books none of them; their fills come through reconciliation.
    assert broker.bracket_exit("AAPL", 100, 1, 170.0, 210.555, update.fills[0].ts, datetime.now(UTC)) is None


def test_exit_of_a_long_is_a_plain_order_even_with_levels(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    broker.submit(order("entry"))
    broker.submit(order("exit", side=OrderSide.SELL, stop_loss=170.0, take_profit=210.0))
    assert alpaca.orders_for("exit")[0]["order_class"] == "simple"
    assert broker.positions() == {}


def test_multi_leg_option_order_goes_as_mleg(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.prices.update({CALL_150: 6.40, CALL_160: 2.15})
    spread = MultiLeg(legs=[OptionLeg(occ_symbol=CALL_150, ratio=1), OptionLeg(occ_symbol=CALL_160, ratio=-1)])
    update = broker.submit(order(symbol=spread.instrument_id, instrument_id=spread.instrument_id, quantity=2,
                                 multiplier=100, order_type=OrderType.LIMIT, limit_price=4.30))
    assert update.status is OrderStatus.FILLED
    assert [(f.quantity, f.price) for f in update.fills] == [(2, pytest.approx(4.25))]
    [sent] = alpaca.orders_for("cream-0001")
    assert (sent["order_class"], sent["qty"], sent["limit_price"]) == ("mleg", "2", "4.3")
    assert [(leg["symbol"], leg["side"], leg["ratio_qty"]) for leg in sent["legs"]] == \
        [(CALL_150, "buy", "1"), (CALL_160, "sell", "1")]


def test_lookup_by_client_order_id(broker: AlpacaBroker) -> None:
    sent = broker.submit(order())
    found = broker.order_by_client_id("cream-0001")
    assert found is not None and found.broker_order_id == sent.broker_order_id and found.status is OrderStatus.FILLED
    assert broker.order_by_client_id("never-sent") is None
    assert broker.lookup("cream-0001") == found  # the Broker port's name for the same lookup


def test_satisfies_the_broker_port(broker: AlpacaBroker) -> None:
    port: Broker = broker  # checked by mypy; at run time the port's methods answer
    assert port.positions() == {} and port.lookup("none") is None


def test_clock_and_universe_validation(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    clock = broker.clock()
    assert clock.is_open is True and clock.next_close > datetime.now(UTC)
    assert broker.tradable(["AAPL", "DELISTED", "NOPE"]) == {"AAPL": True, "DELISTED": False, "NOPE": False}
    with pytest.raises(UnknownInstrument, match="NOPE"):
        broker.asset("NOPE")


def test_standin_speaks_alpaca_shapes(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    """The stand-in's objects parse with alpaca-py's own models, so the adapter is tested on real shapes."""
    broker.submit(order(stop_loss=170.0, take_profit=210.0))
    client = broker._client
    Order(**client.get("/orders:by_client_order_id", {"client_order_id": "cream-0001"}))
    TradeAccount(**client.get("/account"))
    [Position(**p) for p in client.get("/positions")]
    Clock(**client.get("/clock"))
    Asset(**client.get("/assets/AAPL"))


# --- refusals ----------------------------------------------------------------------------------

def test_unknown_symbol_order_is_unknown_instrument(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    with pytest.raises(UnknownInstrument, match="ZZZZ"):
        broker.submit(order(symbol="ZZZZ"))
    assert alpaca.orders_created == 0


def test_insufficient_buying_power_is_a_definitive_rejection(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    with pytest.raises(RejectedDefinitively, match="insufficient buying power"):
        broker.submit(order(quantity=5000))
    assert posts(alpaca) == 1 and alpaca.orders_created == 0


def test_wrong_keys_are_a_configuration_error(alpaca: AlpacaStandIn) -> None:
    broker = AlpacaBroker("test-key", "wrong", paper=True, url_override=alpaca.url, timeout=0.5)
    with pytest.raises(ConfigurationError, match="401"):
        broker.account()


# --- ambiguous outcomes: exactly one order, resolved by lookup --------------------------------

def test_accepted_then_504_leaves_exactly_one_order(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.ACCEPT_THEN_504)
    update = broker.submit(order())
    [sent] = alpaca.orders_for("cream-0001")
    assert alpaca.orders_created == 1 and posts(alpaca) == 1  # alpaca-py's own 504 retry is off
    assert update.status is OrderStatus.FILLED and update.broker_order_id == sent["id"]


def test_timeout_after_post_is_resolved_by_lookup(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.SLOW, seconds=3.0)
    started = time.monotonic()
    update = broker.submit(order())
    assert time.monotonic() - started < 2.0  # the 0.5 s timeout cut the stalled POST short
    assert alpaca.orders_created == 1 and posts(alpaca) == 1
    assert update.status is OrderStatus.FILLED and update.broker_order_id == alpaca.orders_for("cream-0001")[0]["id"]


def test_duplicate_client_order_id_never_makes_a_second_order(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    first = broker.submit(order())
    again = broker.submit(order())  # a redelivered execution task
    assert alpaca.orders_created == 1 and posts(alpaca) == 2
    assert again.broker_order_id == first.broker_order_id and again.status is OrderStatus.FILLED


def test_500_before_processing_is_posted_once_more_after_lookup(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.ERROR_500)
    update = broker.submit(order())
    assert posts(alpaca) == 2 and alpaca.orders_created == 1
    assert update.status is OrderStatus.FILLED


def test_malformed_json_after_post_is_resolved_by_lookup(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.MALFORMED)
    update = broker.submit(order())
    assert alpaca.orders_created == 1 and update.status is OrderStatus.FILLED


def test_lookup_failing_too_gives_unknown_not_a_resubmission(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.ACCEPT_THEN_504)
    alpaca.fail_next(standin.ERROR_500, method="GET", path="/v2/orders:by_client_order_id")
    update = broker.submit(order())
    assert update.status is OrderStatus.UNKNOWN and "reconcile" in (update.reason or "")
    assert alpaca.orders_created == 1 and posts(alpaca) == 1


def test_rate_limited_post_is_transient_and_not_retried(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.RATE_LIMIT)
    with pytest.raises(TransientError, match="429"):
        broker.submit(order())
    assert posts(alpaca) == 1 and alpaca.orders_created == 0


# --- reads that fail are transient ------------------------------------------------------------

def test_429_on_get_is_transient_without_hidden_retries(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.RATE_LIMIT, 3, method="GET", path="/v2/account")
    started = time.monotonic()
    with pytest.raises(TransientError, match="429"):
        broker.account()
    assert alpaca.requests.count(("GET", "/v2/account")) == 1 and time.monotonic() - started < 1.0


def test_malformed_json_on_get_is_a_clear_transient_error(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.MALFORMED, method="GET", path="/v2/positions")
    with pytest.raises(TransientError, match="malformed JSON"):
        broker.positions()
    assert broker.positions() == {}  # the next call works: nothing was corrupted


def test_every_request_has_a_timeout(alpaca: AlpacaStandIn, broker: AlpacaBroker) -> None:
    alpaca.fail_next(standin.SLOW, method="GET", path="/v2/clock", seconds=3.0)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"within 0\.5s"):
        broker.clock()
    assert time.monotonic() - started < 2.0


# --- endpoint selection -----------------------------------------------------------------------

def test_paper_and_live_endpoints_come_from_the_paper_flag_only() -> None:
    assert AlpacaBroker("k", "s", paper=True).base_url == "https://paper-api.alpaca.markets"
    assert AlpacaBroker("k", "s", paper=False).base_url == "https://api.alpaca.markets"
    with pytest.raises(TypeError):
        AlpacaBroker("k", "s")  # type: ignore[call-arg]  # no default: live is never chosen by omission
    with pytest.raises(ConfigurationError):
        AlpacaBroker("k", "s", paper="yes")  # type: ignore[arg-type]
