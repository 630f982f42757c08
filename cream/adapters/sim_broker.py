"""The simulated broker of BACKTEST: fills at the last price with slippage and commission (engine.fills),
and works each position's bracket (stop-loss / take-profit) against the bars that follow."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np

from cream.ports import MarketData
from cream.schemas.decisions import OrderType
from cream.schemas.market import Timeframe
from cream.schemas.orders import FillReport, OrderRequest, OrderSide, OrderStatus, OrderUpdate
from engine.fills import EXIT_NONE, EXIT_STOP, bracket_exit_nb, commission_nb, fill_price_nb


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

    def exit_fill(self, purpose: str, side: int, level: float, quantity: int, multiplier: int) -> tuple[float, float]:
        """(price, fee) of a triggered bracket leg: a stop fills as a market order (with slippage),
        a take-profit as a limit at its level."""
        price = float(fill_price_nb(side, level, self.slippage_bps)) if purpose == "STOP_LOSS" else level
        price = round(price, 4)
        fee = round(float(commission_nb(quantity, price, multiplier, self.per_unit, self.minimum, self.max_pct)), 4)
        return price, fee

    def submit(self, order: OrderRequest) -> OrderUpdate:
        broker_id = "sim-" + hashlib.sha256(order.client_order_id.encode()).hexdigest()[:16]
        reference = self.last_price(order.symbol, order.as_of)
        side = 1 if order.side is OrderSide.BUY else -1
        if order.order_type is OrderType.LIMIT and order.limit_price is not None \
                and side * (order.limit_price - reference) < 0:
            return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                               status=OrderStatus.CANCELED, reason="limit not marketable; DAY order expired")
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                               status=OrderStatus.REJECTED, reason=f"{order.order_type} not simulated")
        return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_id,
                           status=OrderStatus.FILLED, fills=[self.fill(order, reference, order.as_of)])

    def bracket_exit(self, symbol: str, quantity: int, stop: float, target: float, since: datetime,
                     until: datetime) -> tuple[str, float, datetime] | None:
        """("STOP_LOSS" | "TAKE_PROFIT", level price, bar end) of the first bracket leg hit, if any."""
        bars = self.market.bars_between(symbol, Timeframe.H1, since, until)
        if len(bars) == 0:
            return None
        direction = 1 if quantity > 0 else -1
        idx, price, reason = bracket_exit_nb(direction, stop, target, bars.open, bars.high, bars.low)
        if reason == EXIT_NONE or idx < 0 or np.isnan(price):
            return None
        ts = datetime.fromtimestamp(int(bars.end[idx]), tz=UTC)
        return ("STOP_LOSS" if reason == EXIT_STOP else "TAKE_PROFIT"), float(price), ts
