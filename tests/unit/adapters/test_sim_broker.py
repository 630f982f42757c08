"""The BACKTEST broker works execution tactics as child orders over the bars after the cycle (sample data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import MAX_PARTICIPATION, WORK_BARS, SimulatedBroker
from cream.schemas.decisions import RiskDenomination
from cream.schemas.market import OptionMark, Timeframe
from cream.schemas.orders import OrderPurpose, OrderRequest, OrderStatus

AS_OF = datetime(2025, 6, 3, 15, tzinfo=UTC)  # 11:00 New York
MARKET = LocalHistory()


def broker() -> SimulatedBroker:
    return SimulatedBroker(MARKET, slippage_bps=2.0, commission_per_share=0.005, commission_minimum=1.0)


def order(qty: int, tactic: str | None, **kw: object) -> OrderRequest:
    return OrderRequest(client_order_id=f"t-{tactic}-{qty}", symbol="XLK", instrument_id="XLK", side="BUY",
                        quantity=qty, as_of=AS_OF, execution_tactic=tactic, **kw)


def next_bars():  # type: ignore[no-untyped-def]
    return MARKET.bars_between("XLK", Timeframe.H1, AS_OF, AS_OF + timedelta(days=2))


def test_twap_fills_one_equal_child_per_bar_inside_each_bar_range() -> None:
    update = broker().submit(order(300, "TWAP"))
    assert update.status is OrderStatus.FILLED
    assert [f.quantity for f in update.fills] == [100, 100, 100]
    bars = next_bars()
    for i, f in enumerate(update.fills):
        assert f.price == pytest.approx(bars.open[i] * 1.0002, abs=1e-4)  # market child: open + 2 bps
        assert f.fee == 1.0 and f.ts > AS_OF


def test_vwap_sizes_children_by_the_volume_profile() -> None:
    update = broker().submit(order(1000, "VWAP"))
    sizes = [f.quantity for f in update.fills]
    assert sum(sizes) == 1000 and len(sizes) == WORK_BARS and len(set(sizes)) > 1


def test_iceberg_shows_a_quarter_at_a_time() -> None:
    update = broker().submit(order(400, "ICEBERG"))
    assert update.status is OrderStatus.FILLED and [f.quantity for f in update.fills] == [100] * 4


def test_passive_limit_below_the_market_is_not_filled_and_is_cancelled() -> None:
    low = float(next_bars().low[:WORK_BARS].min())
    update = broker().submit(order(100, "PASSIVE_LIMIT", order_type="LIMIT", limit_price=round(low * 0.99, 2)))
    assert update.status is OrderStatus.CANCELED and update.fills == []
    assert update.reason is not None and "no fill" in update.reason


def test_an_order_larger_than_the_volume_allows_is_partially_filled() -> None:
    bars = next_bars()
    room = int(MAX_PARTICIPATION * bars.volume[:2 * WORK_BARS - 1].sum())  # the last child ends on bar 5
    update = broker().submit(order(room * 3, "TWAP"))
    assert update.status is OrderStatus.PARTIALLY_FILLED
    assert sum(f.quantity for f in update.fills) == pytest.approx(room, abs=WORK_BARS)
    assert "unfilled, cancelled" in (update.reason or "")


def test_without_a_tactic_the_order_fills_at_once_at_the_last_price() -> None:
    update = broker().submit(order(100, None))
    assert update.status is OrderStatus.FILLED and len(update.fills) == 1 and update.fills[0].ts == AS_OF


def test_a_buy_stop_fills_on_the_first_bar_that_reaches_it_with_slippage() -> None:
    bars = next_bars()  # XLK after 11:00: highs 235.78, 236.405, ...
    level = 236.0  # above the first bar's high, inside the second bar's range
    assert bars.high[0] < level <= bars.high[1] and bars.open[1] < level
    [fill] = broker().submit(order(50, None, order_type="STOP", stop_price=level)).fills
    assert fill.price == pytest.approx(level * 1.0002, abs=1e-4)  # triggered at the level, then market
    assert fill.ts == datetime.fromtimestamp(int(bars.end[1]), tz=UTC)


def test_a_sell_stop_limit_fills_at_its_stop_when_the_limit_allows() -> None:
    bars = next_bars()
    update = broker().submit(order(50, None, order_type="STOP_LIMIT", stop_price=235.4, limit_price=235.38)
                             .model_copy(update={"side": "SELL"}))
    [fill] = update.fills  # bar 0 trades down to 235.31: triggered at 235.40, inside the 235.38 limit
    assert bars.low[0] <= 235.4 and fill.price == 235.4 and fill.ts == datetime.fromtimestamp(int(bars.end[0]), tz=UTC)


def test_a_stop_never_reached_that_session_expires() -> None:
    update = broker().submit(order(50, None, order_type="STOP", stop_price=10_000.0))
    assert update.status is OrderStatus.CANCELED and "expired" in (update.reason or "")


def test_stop_orders_need_their_stop_price() -> None:
    update = broker().submit(order(50, None, order_type="STOP_LIMIT", stop_price=100.0))
    assert update.status is OrderStatus.REJECTED and "stop_price" in (update.reason or "")


# --- brackets: the simulated broker works a position's stop and target itself ----------------------


def test_a_long_position_exits_at_its_target_on_the_first_bar_that_reaches_it() -> None:
    bars = next_bars()  # highs 235.78, 236.405: the 236.00 target is reached on the second bar
    hit = broker().bracket_exit("XLK", 100, 1, stop=200.0, target=236.0, since=AS_OF, until=AS_OF + timedelta(days=1))
    assert hit is not None and hit.purpose is OrderPurpose.TAKE_PROFIT
    assert (hit.price, hit.fee) == (236.0, 1.0)  # a limit at its level; commission at its $1 minimum
    assert hit.ts == datetime.fromtimestamp(int(bars.end[1]), tz=UTC)


def test_a_stop_fills_as_a_market_order_with_slippage_for_longs_and_shorts() -> None:
    bars = next_bars()  # bar 0 trades down to 235.31 from 235.48; bar 1 up to 236.405
    week = AS_OF + timedelta(days=7)
    long = broker().bracket_exit("XLK", 300, 1, stop=235.4, target=300.0, since=AS_OF, until=week)
    assert long is not None and long.purpose is OrderPurpose.STOP_LOSS
    assert long.price == pytest.approx(235.4 * 0.9998, abs=1e-4) and long.fee == pytest.approx(1.5)
    short = broker().bracket_exit("XLK", -300, 1, stop=236.0, target=100.0, since=AS_OF, until=week)
    assert short is not None and short.purpose is OrderPurpose.STOP_LOSS
    assert short.price == pytest.approx(236.0 * 1.0002, abs=1e-4)
    assert short.ts == datetime.fromtimestamp(int(bars.end[1]), tz=UTC)


def test_no_bracket_exit_when_neither_level_trades_or_no_bar_closed() -> None:
    sim = broker()
    assert sim.bracket_exit("XLK", 100, 1, stop=100.0, target=1000.0, since=AS_OF, until=AS_OF + timedelta(days=3)) is None
    assert sim.bracket_exit("XLK", 100, 1, stop=235.4, target=236.0, since=AS_OF, until=AS_OF) is None


def option(side: str, order_type: str = "MARKET", **kw: object) -> OrderRequest:
    return OrderRequest(client_order_id=f"o-{side}-{order_type}", symbol="XLK250620C00240000",
                        instrument_id="XLK250620C00240000", side=side, quantity=3, multiplier=100,
                        order_type=order_type, as_of=AS_OF, **kw)


def test_an_option_crosses_the_model_spread() -> None:
    """Buys at the ask, sells at the bid of the model's quote at the hour; commission per contract."""
    mark = MARKET.option_marks(["XLK250620C00240000"], AS_OF)["XLK250620C00240000"]
    assert mark.bid is not None and mark.ask is not None
    bought, sold = broker().submit(option("BUY")), broker().submit(option("SELL"))
    assert bought.status is OrderStatus.FILLED and sold.status is OrderStatus.FILLED
    assert bought.fills[0].price == round(mark.ask, 4) and sold.fills[0].price == round(mark.bid, 4)
    assert bought.fills[0].fee == 1.0 and bought.fills[0].ts == AS_OF  # the minimum: 3 x 0.005 < 1


def test_an_option_limit_the_quote_does_not_reach_is_canceled_and_what_is_unpriced_rejected() -> None:
    mark = MARKET.option_marks(["XLK250620C00240000"], AS_OF)["XLK250620C00240000"]
    assert mark.ask is not None
    low = broker().submit(option("BUY", "LIMIT", limit_price=round(mark.ask - 0.05, 2)))
    assert low.status is OrderStatus.CANCELED and "not marketable" in (low.reason or "")
    high = broker().submit(option("BUY", "LIMIT", limit_price=round(mark.ask + 0.05, 2)))
    assert high.status is OrderStatus.FILLED and high.fills[0].price == round(mark.ask, 4)
    expired = broker().submit(option("BUY").model_copy(update={"instrument_id": "XLK250530C00240000",
                                                               "symbol": "XLK250530C00240000"}))
    assert expired.status is OrderStatus.REJECTED and "no ask for XLK250530C00240000" in (expired.reason or "")
    stop = broker().submit(option("SELL", "STOP", stop_price=1.0))
    assert stop.status is OrderStatus.REJECTED and "market or limit" in (stop.reason or "")


SPREAD = "1xXLK250620C00240000+-1xXLK250620C00250000"  # the 240/250 bull call spread, one unit


def test_a_strategy_fills_at_one_net_price_every_leg_crossing_its_own_spread() -> None:
    """Bought: the long leg's ask less the short leg's bid; sold: the long leg's bid less the short leg's
    ask. One order's commission on all six contracts (three units of two legs)."""
    legs = MARKET.option_marks(["XLK250620C00240000", "XLK250620C00250000"], AS_OF)
    low, high = legs["XLK250620C00240000"], legs["XLK250620C00250000"]
    assert None not in (low.bid, low.ask, high.bid, high.ask)
    spread = option("BUY").model_copy(update={"instrument_id": SPREAD, "symbol": "XLK"})
    bought = broker().submit(spread)
    sold = broker().submit(spread.model_copy(update={"side": "SELL"}))
    assert bought.status is OrderStatus.FILLED and sold.status is OrderStatus.FILLED
    assert bought.fills[0].price == pytest.approx(low.ask - high.bid, abs=1e-4)  # type: ignore[operator]
    assert sold.fills[0].price == pytest.approx(low.bid - high.ask, abs=1e-4)  # type: ignore[operator]
    assert sold.fills[0].price < (low.premium - high.premium) < bought.fills[0].price
    assert bought.fills[0].fee == 1.0 and bought.fills[0].quantity == 3  # 6 x 0.005 < the $1 minimum
    big = broker().submit(spread.model_copy(update={"quantity": 150}))
    assert big.fills[0].fee == pytest.approx(300 * 0.005)  # every leg's contracts count


def test_a_strategy_limit_is_a_net_price_and_a_leg_without_a_quote_refuses_the_whole() -> None:
    spread = option("BUY", "LIMIT").model_copy(update={"instrument_id": SPREAD, "symbol": "XLK"})
    quote = broker().quote(SPREAD, AS_OF)
    assert quote is not None and quote.ask is not None
    low = broker().submit(spread.model_copy(update={"limit_price": round(quote.ask - 0.05, 2)}))
    assert low.status is OrderStatus.CANCELED and not low.fills
    high = broker().submit(spread.model_copy(update={"limit_price": round(quote.ask + 0.05, 2)}))
    assert high.status is OrderStatus.FILLED and high.fills[0].price == round(quote.ask, 4)
    expired = broker().submit(spread.model_copy(update={
        "instrument_id": "1xXLK250620C00240000+-1xXLK250530C00250000", "order_type": "MARKET"}))
    assert expired.status is OrderStatus.REJECTED and "no ask" in (expired.reason or "")


# --- a held option's bracket, worked on the model's quote hour by hour ------------------------------------

CALL, PUT = "XLK250620C00240000", "XLK250620P00235000"
UNTIL = AS_OF + timedelta(days=3)


def _hours(contract: str) -> list[tuple[datetime, OptionMark]]:
    bars = MARKET.bars_between("XLK", Timeframe.H1, AS_OF, UNTIL)
    out = []
    for end in bars.end:
        ts = datetime.fromtimestamp(int(end), tz=UTC)
        out.append((ts, MARKET.option_marks([contract], ts)[contract]))
    return out


def test_a_long_options_premium_target_sells_at_the_bid_of_the_first_hour_that_reaches_it() -> None:
    hours = _hours(CALL)
    target = sorted(m.premium for _, m in hours)[-3]  # reached, but not at once
    first = next((ts, m) for ts, m in hours if m.premium >= target)
    hit = broker().bracket_exit(CALL, 2, 100, 0.01, target, AS_OF, UNTIL, RiskDenomination.OPTION_PRICE)
    assert hit is not None and (hit.purpose, hit.ts) == (OrderPurpose.TAKE_PROFIT, first[0])
    assert hit.price == round(first[1].bid or 0, 4) and hit.fee == 1.0
    assert broker().bracket_exit(CALL, 2, 100, 0.01, 1e6, AS_OF, UNTIL, RiskDenomination.OPTION_PRICE) is None


def test_a_short_options_premium_stop_buys_back_at_the_ask() -> None:
    hours = _hours(PUT)
    stop = sorted(m.premium for _, m in hours)[-2]
    first = next((ts, m) for ts, m in hours if m.premium >= stop)
    hit = broker().bracket_exit(PUT, -1, 100, stop, 0.0, AS_OF, UNTIL, RiskDenomination.OPTION_PRICE)
    assert hit is not None and (hit.purpose, hit.ts) == (OrderPurpose.STOP_LOSS, first[0])
    assert hit.price == round(first[1].ask or 0, 4)


def test_levels_of_the_underlying_trade_on_its_bars_a_put_gaining_as_it_falls() -> None:
    bars = MARKET.bars_between("XLK", Timeframe.H1, AS_OF, UNTIL)
    top = float(bars.high.max())
    at = datetime.fromtimestamp(int(bars.end[int(bars.high.argmax())]), tz=UTC)
    # a long put's stop is above the underlying: reached at the bar of the highest high (and not before)
    assert float(bars.high[: int(bars.high.argmax())].max()) < top
    hit = broker().bracket_exit(PUT, 1, 100, top, 1.0, AS_OF, UNTIL, RiskDenomination.UNDERLYING_PRICE)
    mark = MARKET.option_marks([PUT], at)[PUT]
    assert hit is not None and (hit.purpose, hit.ts, hit.price) == (OrderPurpose.STOP_LOSS, at, round(mark.bid or 0, 4))
    # the same levels on a long call mean the opposite: the top is its target
    call = broker().bracket_exit(CALL, 1, 100, 1.0, top, AS_OF, UNTIL, RiskDenomination.UNDERLYING_PRICE)
    assert call is not None and (call.purpose, call.ts) == (OrderPurpose.TAKE_PROFIT, at)


def test_an_expired_option_has_no_bracket_left_to_work() -> None:
    after = datetime(2025, 6, 23, 14, tzinfo=UTC)
    assert broker().bracket_exit(CALL, 1, 100, 1e6, 0.0, after, after + timedelta(days=2),
                                 RiskDenomination.OPTION_PRICE) is None


def test_a_held_spreads_premium_target_sells_at_the_net_bid() -> None:
    bars = MARKET.bars_between("XLK", Timeframe.H1, AS_OF, UNTIL)
    quotes = [(datetime.fromtimestamp(int(e), tz=UTC), broker().quote(SPREAD, datetime.fromtimestamp(int(e), tz=UTC)))
              for e in bars.end]
    target = sorted(q.premium for _, q in quotes if q is not None)[-3]
    ts, first = next((ts, q) for ts, q in quotes if q is not None and q.premium >= target)
    hit = broker().bracket_exit(SPREAD, 2, 100, 0.01, target, AS_OF, UNTIL, RiskDenomination.OPTION_PRICE)
    assert hit is not None and (hit.purpose, hit.ts) == (OrderPurpose.TAKE_PROFIT, ts)
    assert first is not None and hit.price == round(first.bid or 0, 4) and hit.fee == 1.0
