"""Pure mapping between our orders and Alpaca's wire format (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cream.adapters.alpaca_broker import to_alpaca_request, to_order_update
from cream.errors import RejectedDefinitively
from cream.schemas.decisions import OrderType
from cream.schemas.instruments import MultiLeg, OptionLeg, multi_leg_legs
from cream.schemas.orders import OrderRequest, OrderSide, OrderStatus

AS_OF = datetime(2025, 1, 6, 15, tzinfo=UTC)
SPREAD = MultiLeg(legs=[OptionLeg(occ_symbol="AAPL250117C00150000", ratio=1),
                        OptionLeg(occ_symbol="AAPL250117C00160000", ratio=-2)])


def wire(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"client_order_id": "cream-1", "symbol": "AAPL", "instrument_id": "AAPL",
                              "side": OrderSide.BUY, "quantity": 5, "as_of": AS_OF}
    fields.update(kw)
    return to_alpaca_request(OrderRequest(**fields)).to_request_fields()


def test_market_order_wire_fields() -> None:
    assert wire() == {"symbol": "AAPL", "qty": 5.0, "side": "buy", "type": "market", "time_in_force": "day",
                      "client_order_id": "cream-1"}


def test_limit_price_is_rounded_to_alpaca_ticks() -> None:
    assert wire(order_type=OrderType.LIMIT, limit_price=101.23456)["limit_price"] == 101.23
    assert wire(order_type=OrderType.LIMIT, limit_price=0.123456)["limit_price"] == 0.1235


def test_stop_triggers_at_the_stop_price_and_stop_limit_is_limited_at_the_limit() -> None:
    assert wire(order_type=OrderType.STOP, stop_price=99.0) == {
        "symbol": "AAPL", "qty": 5.0, "side": "buy", "type": "stop", "time_in_force": "day",
        "client_order_id": "cream-1", "stop_price": 99.0}
    stop_limit = wire(order_type=OrderType.STOP_LIMIT, stop_price=99.0, limit_price=99.5)
    assert (stop_limit["type"], stop_limit["stop_price"], stop_limit["limit_price"]) == ("stop_limit", 99.0, 99.5)


def test_priced_order_without_price_is_rejected_before_sending() -> None:
    with pytest.raises(RejectedDefinitively, match="stop_price"):
        wire(order_type=OrderType.STOP, limit_price=99.0)
    with pytest.raises(RejectedDefinitively, match="limit_price"):
        wire(order_type=OrderType.STOP_LIMIT, stop_price=99.0)
    with pytest.raises(RejectedDefinitively, match="limit_price"):
        wire(order_type=OrderType.LIMIT)


def test_long_entry_with_levels_is_a_bracket() -> None:
    fields = wire(stop_loss=90.0, take_profit=120.0)
    assert fields["order_class"] == "bracket"
    assert fields["take_profit"] == {"limit_price": 120.0} and fields["stop_loss"] == {"stop_price": 90.0}


def test_short_entry_with_levels_is_a_bracket_and_exits_are_not() -> None:
    assert wire(side=OrderSide.SELL, stop_loss=120.0, take_profit=90.0)["order_class"] == "bracket"
    assert "order_class" not in wire(side=OrderSide.SELL, stop_loss=90.0, take_profit=120.0)  # closes a long
    assert "order_class" not in wire(stop_loss=120.0, take_profit=90.0)  # covers a short


def test_single_option_never_becomes_a_bracket() -> None:
    fields = wire(symbol="AAPL250117C00150000", instrument_id="AAPL250117C00150000", stop_loss=1.0,
                  take_profit=5.0)
    assert "order_class" not in fields and fields["symbol"] == "AAPL250117C00150000"


def test_multi_leg_becomes_mleg_with_leg_sides_from_ratios() -> None:
    assert multi_leg_legs(SPREAD.instrument_id) == [(1, "AAPL250117C00150000"), (-2, "AAPL250117C00160000")]
    assert multi_leg_legs("AAPL") is None
    fields = wire(symbol=SPREAD.instrument_id, instrument_id=SPREAD.instrument_id, multiplier=100)
    assert fields["order_class"] == "mleg" and "symbol" not in fields and "side" not in fields
    assert fields["legs"] == [{"symbol": "AAPL250117C00150000", "ratio_qty": 1.0, "side": "buy"},
                              {"symbol": "AAPL250117C00160000", "ratio_qty": 2.0, "side": "sell"}]
    closing = wire(symbol=SPREAD.instrument_id, instrument_id=SPREAD.instrument_id, side=OrderSide.SELL)
    assert [leg["side"] for leg in closing["legs"]] == ["sell", "buy"]


def test_a_multi_leg_limit_is_a_net_debit_bought_and_a_net_credit_sold() -> None:
    """Alpaca reads an mleg limit as the net price: positive pays a debit, negative receives a credit. Our
    limit is what one unit of the strategy (as named) costs or fetches: a SELL asks for a credit."""
    bought = wire(symbol=SPREAD.instrument_id, instrument_id=SPREAD.instrument_id, order_type=OrderType.LIMIT,
                  limit_price=1.25)
    sold = wire(symbol=SPREAD.instrument_id, instrument_id=SPREAD.instrument_id, order_type=OrderType.LIMIT,
                limit_price=1.25, side=OrderSide.SELL)
    assert (bought["limit_price"], sold["limit_price"]) == (1.25, -1.25)
    assert [leg["side"] for leg in sold["legs"]] == ["sell", "buy"]
    single = wire(symbol="AAPL250117C00150000", instrument_id="AAPL250117C00150000", order_type=OrderType.LIMIT,
                  limit_price=1.25, side=OrderSide.SELL)
    assert single["limit_price"] == 1.25  # one contract's limit is its price, whichever the side


def test_multi_leg_stop_is_refused() -> None:
    with pytest.raises(RejectedDefinitively, match="market or limit"):
        wire(symbol=SPREAD.instrument_id, instrument_id=SPREAD.instrument_id, order_type=OrderType.STOP,
             limit_price=2.0)


def alpaca_order(**kw: Any) -> dict[str, Any]:
    raw = {"id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "cream-1", "status": "new",
           "filled_qty": "0", "filled_avg_price": None, "filled_at": None,
           "updated_at": "2025-01-06T15:00:01.5Z"}
    raw.update(kw)
    return raw


@pytest.mark.parametrize(("status", "expected"), [
    ("new", OrderStatus.SUBMITTED), ("accepted", OrderStatus.SUBMITTED), ("pending_new", OrderStatus.SUBMITTED),
    ("held", OrderStatus.SUBMITTED), ("canceled", OrderStatus.CANCELED), ("expired", OrderStatus.CANCELED),
    ("rejected", OrderStatus.REJECTED), ("something_new", OrderStatus.UNKNOWN)])
def test_unfilled_statuses(status: str, expected: OrderStatus) -> None:
    update = to_order_update(alpaca_order(status=status))
    assert update.status is expected and update.fills == []
    assert update.broker_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"


def test_filled_order_reports_one_fill_without_fee() -> None:
    update = to_order_update(alpaca_order(status="filled", filled_qty="10", filled_avg_price="187.505",
                                          filled_at="2025-01-06T15:00:01.123456Z"))
    assert update.status is OrderStatus.FILLED
    [fill] = update.fills
    assert (fill.quantity, fill.price, fill.fee) == (10, 187.505, 0.0)
    assert fill.ts == datetime(2025, 1, 6, 15, 0, 1, 123456, tzinfo=UTC)


def test_partial_fill_then_cancel_keeps_the_fill() -> None:
    open_partial = to_order_update(alpaca_order(status="partially_filled", filled_qty="4", filled_avg_price="10"))
    assert open_partial.status is OrderStatus.PARTIALLY_FILLED and open_partial.fills[0].quantity == 4
    done = to_order_update(alpaca_order(status="canceled", filled_qty="4", filled_avg_price="10"))
    assert done.status is OrderStatus.PARTIALLY_FILLED and "canceled" in (done.reason or "")
    assert done.is_final and not open_partial.is_final  # the broker fills no more of it: not working any more
    assert done.fills[0].ts == datetime(2025, 1, 6, 15, 0, 1, 500000, tzinfo=UTC)


def test_garbled_order_object_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="status"):
        to_order_update({"id": "x", "client_order_id": "c"})
