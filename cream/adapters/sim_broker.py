"""The simulated broker of BACKTEST: fills at the last price with slippage and commission (engine.fills),
works execution tactics as child-order schedules over the bars that follow (engine.tactics), and works
each position's bracket (stop-loss / take-profit) against later bars. Options fill at the model's quote
(``cream.option_model``): buys at the ask, sells at the bid."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

import numpy as np

from cream.errors import RejectedDefinitively
from cream.option_levels import premium_exit
from cream.option_marks import mark_strategies
from cream.ports import Bars, BracketExit, MarketData
from cream.schemas.decisions import ExecutionTactic, OrderType, RiskDenomination
from cream.schemas.instruments import OccSymbol, OptionRight, is_option, multi_leg_legs, underlying_of
from cream.schemas.market import OptionMark, Timeframe
from cream.schemas.orders import FillReport, OrderPurpose, OrderRequest, OrderSide, OrderStatus, OrderUpdate
from cream.tactic_schedule import (
    MAX_PARTICIPATION,
    PROFILE_SESSIONS,
    WORK_BARS,
    child_schedule,
    profile_volume,
)
from engine import tactics
from engine.fills import (
    EXIT_NONE,
    EXIT_STOP,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    bar_fill_price_nb,
    bracket_exit_nb,
    commission_nb,
    fill_price_nb,
)

# Tactics are worked by the schedules and constants of cream.tactic_schedule, shared with PAPER and LIVE.
__all__ = ["MAX_PARTICIPATION", "WORK_BARS", "SimulatedBroker"]


class SimulatedBroker:
    def __init__(self, market: MarketData, slippage_bps: float, commission_per_share: float,
                 commission_minimum: float, max_commission_pct: float = 0.01) -> None:
        self.market = market
        self.slippage_bps = slippage_bps
        self.per_unit, self.minimum, self.max_pct = commission_per_share, commission_minimum, max_commission_pct

    def last_price(self, symbol: str, as_of: datetime) -> float:
        bars = self.market.bars(symbol, Timeframe.H1, as_of, 1)
        if len(bars) == 0:
            raise LookupError(f"no bar for {symbol} before {as_of}")
        return float(bars.close[-1])

    def fill(self, order: OrderRequest, reference: float, ts: datetime) -> FillReport:
        side = 1 if order.side is OrderSide.BUY else -1
        price = round(float(fill_price_nb(side, reference, self.slippage_bps)), 4)
        fee = round(float(commission_nb(order.quantity, price, order.multiplier, self.per_unit, self.minimum,
                                        self.max_pct)), 4)
        return FillReport(quantity=order.quantity, price=price, fee=fee, ts=ts)

    def submit(self, order: OrderRequest) -> OrderUpdate:
        broker_id = "sim-" + hashlib.sha256(order.client_order_id.encode()).hexdigest()[:16]
        if is_option(order.instrument_id) or multi_leg_legs(order.instrument_id) is not None:
            return self._option(order, broker_id)
        reference = self.last_price(order.symbol, order.as_of)
        side = 1 if order.side is OrderSide.BUY else -1
        if order.execution_tactic is not None and order.order_type in (OrderType.MARKET, OrderType.LIMIT):
            return self._work(order, broker_id, reference, order.execution_tactic)
        if order.order_type is OrderType.LIMIT and order.limit_price is not None \
                and side * (order.limit_price - reference) < 0:
            return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                               status=OrderStatus.CANCELED, reason="limit not marketable; DAY order expired")
        if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            return self._stop(order, broker_id)
        return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                           status=OrderStatus.FILLED, fills=[self.fill(order, reference, order.as_of)])

    def _option(self, order: OrderRequest, broker_id: str) -> OrderUpdate:
        """An option contract or a multi-leg strategy at once at the model's quote at ``as_of``
        (``quote``): a buy at the ask, a sell at the bid (the spread crossed, no further slippage; a
        strategy as one net price, every leg crossing its own spread); a limit that the quote does not
        reach is not filled (a DAY order, canceled). Market and limit orders only, no tactic. Commission
        per contract of every leg."""
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                             status=OrderStatus.REJECTED)
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT) or order.execution_tactic is not None:
            return update.model_copy(update={"reason": f"options take market or limit orders without a tactic, "
                                                       f"not {order.order_type} {order.execution_tactic or ''}"})
        quote = self.quote(order.instrument_id, order.as_of)
        buy = order.side is OrderSide.BUY
        price = None if quote is None else quote.ask if buy else quote.bid
        if price is None or not price > 0:
            return update.model_copy(update={"reason": f"no {'ask' if buy else 'bid'} for {order.instrument_id} "
                                                       f"at {order.as_of:%Y-%m-%d %H:%M}Z"})
        if order.order_type is OrderType.LIMIT and order.limit_price is not None \
                and (order.limit_price < price if buy else order.limit_price > price):
            return update.model_copy(update={"status": OrderStatus.CANCELED,
                                             "reason": "limit not marketable; DAY order expired"})
        return update.model_copy(update={"status": OrderStatus.FILLED, "reason": None, "fills": [FillReport(
            quantity=order.quantity, price=round(price, 4),
            fee=self._contract_fees(order.instrument_id, order.quantity, round(price, 4)),
            ts=order.as_of)]})

    def quote(self, instrument_id: str, ts: datetime) -> OptionMark | None:
        """The model's mark of a contract, or of a strategy from its legs' (with the legs' net bid and
        ask), at ``ts``; None when a leg has no quote then (expired, or not priced)."""
        legs = multi_leg_legs(instrument_id)
        marks = self.market.option_marks([o for _, o in legs] if legs else [instrument_id], ts)
        if legs is None:
            return marks.get(instrument_id)
        return mark_strategies([instrument_id], marks, held=True).get(instrument_id)

    def _contract_fees(self, instrument_id: str, quantity: int, price: float) -> float:
        """One order's commission on every contract it trades (each leg's ratio times the quantity),
        capped at its share of the order's value at ``price`` per unit."""
        contracts = quantity * sum(abs(r) for r, _ in multi_leg_legs(instrument_id) or [(1, instrument_id)])
        return round(float(commission_nb(contracts, price * quantity / contracts, 100, self.per_unit, self.minimum,
                                         self.max_pct)), 4)

    def _stop(self, order: OrderRequest, broker_id: str) -> OrderUpdate:
        """A stop (or stop-limit) DAY order rests for the rest of the session's bars after ``as_of`` and
        fills on the first bar that triggers it (engine.fills.bar_fill_price_nb); a stop fills as a
        market order (with slippage), a stop-limit at its price."""
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                             status=OrderStatus.CANCELED, reason="stop not triggered before the close; DAY order expired")
        if order.stop_price is None or (order.order_type is OrderType.STOP_LIMIT and order.limit_price is None):
            return update.model_copy(update={"status": OrderStatus.REJECTED,
                                             "reason": f"{order.order_type} needs stop_price (and limit_price)"})
        side = 1 if order.side is OrderSide.BUY else -1
        kind = ORDER_STOP if order.order_type is OrderType.STOP else ORDER_STOP_LIMIT
        day_end = order.as_of.replace(hour=23, minute=59)
        bars = self.market.bars_between(order.symbol, Timeframe.H1, order.as_of, day_end)
        for i in range(len(bars)):
            px = bar_fill_price_nb(kind, side, order.limit_price or math.nan, order.stop_price, bars.open[i],
                                   bars.high[i], bars.low[i])
            if math.isnan(px):
                continue
            ts = datetime.fromtimestamp(int(bars.end[i]), tz=UTC)
            # a triggered stop is a market order (slippage); a stop-limit fills at its price or better
            fill = self.fill(order, px, ts) if kind == ORDER_STOP else self._at(order, px, ts)
            return update.model_copy(update={"status": OrderStatus.FILLED, "fills": [fill], "reason": None})
        return update

    def _at(self, order: OrderRequest, price: float, ts: datetime) -> FillReport:
        """A fill at exactly ``price`` (limit-style), with commission."""
        fee = commission_nb(order.quantity, price, order.multiplier, self.per_unit, self.minimum, self.max_pct)
        return FillReport(quantity=order.quantity, price=round(float(price), 4), fee=round(float(fee), 4), ts=ts)

    def _work(self, order: OrderRequest, broker_id: str, reference: float, tactic: ExecutionTactic) -> OrderUpdate:
        """Child orders over the next WORK_BARS bars; market children pay slippage, limit ones do not.
        PASSIVE_LIMIT rests at the order's limit (default: the reference price)."""
        bars = self.market.bars_between(order.symbol, Timeframe.H1, order.as_of,
                                        order.as_of + timedelta(days=7))
        done = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                           status=OrderStatus.CANCELED, reason=f"no bars after {order.as_of} to work the {tactic}")
        if len(bars) == 0:
            return done
        passive = tactic is ExecutionTactic.PASSIVE_LIMIT
        limit = order.limit_price if order.limit_price is not None else (reference if passive else math.nan)
        past = self.market.bars(order.symbol, Timeframe.H1, order.as_of, PROFILE_SESSIONS * 7)
        side = 1 if order.side is OrderSide.BUY else -1
        costs = tactics.ExecutionCosts(MAX_PARTICIPATION, self.slippage_bps, 0.0, 0, float(order.multiplier),
                                       self.per_unit, self.minimum, self.max_pct)
        schedule = child_schedule(tactic, order.quantity, limit, profile_volume(past.volume))
        run = tactics.simulate_schedule(side, schedule, 0, bars.open,
                                        bars.high, bars.low, bars.volume, WORK_BARS, costs)
        fills = [FillReport(quantity=int(q), price=round(float(p), 4), fee=round(float(f), 4),
                            ts=datetime.fromtimestamp(int(bars.end[min(b + WORK_BARS, len(bars)) - 1]), tz=UTC))
                 for q, p, f, b in zip(run.child_filled, run.child_avg_price, run.child_fees, run.child_start)
                 if int(q) > 0]
        filled = sum(f.quantity for f in fills)
        if filled == 0:
            return done.model_copy(update={"reason": f"{tactic} child orders found no fill in {WORK_BARS} bars"})
        status = OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
        reason = None if filled == order.quantity else f"{tactic}: {order.quantity - filled} unfilled, cancelled"
        return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id, status=status,
                           fills=fills, reason=reason, final=True)

    def works_tactics(self) -> bool:
        return True  # a tactic's children are worked here, over the bars after the order (_work)

    def lookup(self, client_order_id: str) -> OrderUpdate | None:
        """The simulated broker fills in the transaction that owns the intent: an intent still PENDING
        was never executed, so there is nothing to find."""
        return None

    def positions(self) -> dict[str, int] | None:
        return None  # the book is the simulated account

    def live_stops(self) -> None:
        return None  # the book's stops are worked by observe.work_brackets

    def protective_legs(self, client_order_id: str) -> None:
        return None

    def cancel(self, broker_order_id: str) -> None:
        raise RejectedDefinitively(f"the simulated broker fills or drops every order at once: {broker_order_id} "
                                   "has nothing left to cancel")

    def snapshot(self) -> None:
        return None

    def tradable(self, symbols: list[str]) -> dict[str, bool]:
        known = set(self.market.symbols())
        return {s: s in known for s in symbols}

    def bracket_exit(self, instrument_id: str, quantity: int, multiplier: int, stop: float, target: float,
                     since: datetime, until: datetime,
                     levels_on: RiskDenomination = RiskDenomination.UNDERLYING_PRICE) -> BracketExit | None:
        """The first bracket leg the hourly bars in (since, until] hit: a stop fills as a market order (with
        slippage), a take-profit as a limit at its level; both pay commission. An option or a strategy:
        ``_option_exit``."""
        if is_option(instrument_id) or multi_leg_legs(instrument_id) is not None:
            return self._option_exit(instrument_id, quantity, multiplier, stop, target, since, until, levels_on)
        bars = self.market.bars_between(instrument_id, Timeframe.H1, since, until)
        if len(bars) == 0:
            return None
        direction = 1 if quantity > 0 else -1
        idx, level, reason = bracket_exit_nb(direction, stop, target, bars.open, bars.high, bars.low)
        if reason == EXIT_NONE or idx < 0 or np.isnan(level):
            return None
        stopped = reason == EXIT_STOP
        price = round(float(fill_price_nb(-direction, level, self.slippage_bps)) if stopped else float(level), 4)
        fee = round(float(commission_nb(abs(quantity), price, multiplier, self.per_unit, self.minimum,
                                        self.max_pct)), 4)
        return BracketExit(OrderPurpose.STOP_LOSS if stopped else OrderPurpose.TAKE_PROFIT, price, fee,
                           datetime.fromtimestamp(int(bars.end[idx]), tz=UTC))

    def _option_exit(self, instrument_id: str, quantity: int, multiplier: int, stop: float, target: float,
                     since: datetime, until: datetime, levels_on: RiskDenomination) -> BracketExit | None:
        """A held option's or strategy's bracket, worked hour by hour on the model's quote: levels of the
        premium are read at each hourly close (an option has no bars of its own); levels of the underlying
        trade on its hourly bars like shares' (a call or a short put gains as it rises; a strategy as its
        delta says when the hours begin). The exit crosses that hour's spread (a long sells at the bid, a
        short buys at the ask) and pays commission per contract; an hour without a positive price to exit
        at is passed over."""
        bars = self.market.bars_between(underlying_of(instrument_id), Timeframe.H1, since, until)
        if len(bars) == 0:
            return None
        long = quantity > 0
        if levels_on is RiskDenomination.UNDERLYING_PRICE:
            rising = 1 if long == self._gains_as_it_rises(instrument_id, bars) else -1
            idx, _, reason = bracket_exit_nb(rising, stop, target, bars.open, bars.high, bars.low)
            hits: list[tuple[int, bool | None]] = [] if reason == EXIT_NONE or idx < 0 else [
                (int(idx), reason == EXIT_STOP)]
        else:
            hits = [(i, None) for i in range(len(bars))]
        for i, hit in hits:
            ts = datetime.fromtimestamp(int(bars.end[i]), tz=UTC)
            mark = self.quote(instrument_id, ts)
            if mark is None or mark.bid is None or mark.ask is None or not (mark.bid if long else mark.ask) > 0:
                continue  # expired (settled at observe), not priced that hour, or no bid
            stopped = hit
            if stopped is None:  # levels of the premium: a long loses as it falls, a short as it rises
                reached = premium_exit(long, mark.premium, stop, target)
                if reached is None:
                    continue
                stopped = reached is OrderPurpose.STOP_LOSS
            price = round(mark.bid if long else mark.ask, 4)
            return BracketExit(OrderPurpose.STOP_LOSS if stopped else OrderPurpose.TAKE_PROFIT, price,
                               self._contract_fees(instrument_id, abs(quantity), price), ts)
        return None

    def _gains_as_it_rises(self, instrument_id: str, bars: Bars) -> bool:
        """Whether one unit held long gains as the underlying rises: a call does, a put does not, a strategy
        when its delta at the first hour is positive."""
        if is_option(instrument_id):
            return OccSymbol.parse(instrument_id).right is OptionRight.CALL
        first = self.quote(instrument_id, datetime.fromtimestamp(int(bars.end[0]), tz=UTC))
        return first is None or first.delta >= 0
