"""Observe and orient: prices and positions at the cycle's hour, then a feature snapshot per symbol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cream import ids
from cream.adapters.sim_broker import SimulatedBroker
from cream.errors import UnknownInstrument
from cream.features import DAILY_LOOKBACK, HOURLY_LOOKBACK, build_snapshot
from cream.ports import MarketData
from cream.schemas.decisions import Environment
from cream.schemas.market import Timeframe
from cream.services import cycles, portfolio
from cream.services.runtime_config import TradingConfig
from cream.storage.models import OrderRow

STALE_AFTER = timedelta(days=4)  # a last bar older than this at as_of means the data is missing


def observe(s: Session, cycle_id: str, market: MarketData, broker: SimulatedBroker,
            config: TradingConfig) -> dict[str, Any]:
    cycle = cycles.get_cycle(s, cycle_id)
    as_of = cycle.scheduled_for
    prices = {}
    for symbol in cycle.symbols:
        bars = market.bars(symbol, Timeframe.H1, as_of, 1)
        if len(bars) == 0 or datetime.fromtimestamp(int(bars.end[-1]), tz=UTC) < as_of - STALE_AFTER:
            raise UnknownInstrument(f"no recent hourly bar for {symbol} at {as_of:%Y-%m-%d %H:%M}Z")
        prices[symbol] = float(bars.close[-1])
    env = Environment(cycle.environment)
    portfolio.ensure_book(s, cycle.book, env, config.initial_cash)
    exits = work_brackets(s, cycle.book, cycle_id, as_of, broker)
    held = {p.instrument_id for p in portfolio.positions(s, cycle.book)}
    for symbol in held - prices.keys():  # positions outside today's universe still need a mark
        prices[symbol] = broker.last_price(symbol, as_of)
    portfolio.mark(s, cycle.book, prices)
    # Option marks (premium and Greeks) come from the option-chain feed; local history has none, so in
    # BACKTEST any option decision fails the risk check as unpriced.
    return {"as_of": as_of.isoformat(), "prices": prices, "bracket_exits": exits, "option_marks": {},
            "portfolio": portfolio.view(s, cycle.book, as_of).model_dump(mode="json")}


def work_brackets(s: Session, book: str, cycle_id: str, as_of: datetime, broker: SimulatedBroker) -> list[str]:
    """Fill the stop-loss or take-profit of every position whose level traded since it was last checked."""
    done = []
    for pos in portfolio.positions(s, book):
        since = pos.checked_until or as_of
        if pos.stop_loss is None or pos.take_profit is None or since >= as_of:
            continue
        hit = broker.bracket_exit(pos.instrument_id, pos.quantity, float(pos.stop_loss), float(pos.take_profit),
                                  since, as_of)
        pos.checked_until = as_of
        if hit is None:
            continue
        purpose, level, ts = hit
        side = -1 if pos.quantity > 0 else 1
        coid = ids.client_order_id(pos.opened_cycle_id or cycle_id, pos.instrument_id, purpose)
        if s.get(OrderRow, coid) is not None:
            continue
        qty, mult = abs(pos.quantity), pos.multiplier
        fill_price, fill_fee = broker.exit_fill(purpose, side, level, qty, mult)
        price, fee = Decimal(str(fill_price)), Decimal(str(fill_fee))
        order = OrderRow(id=coid, book=book, cycle_id=cycle_id, decision_id=None, instrument_id=pos.instrument_id,
                         side="BUY" if side > 0 else "SELL", quantity=qty, multiplier=mult,
                         order_type="STOP" if purpose == "STOP_LOSS" else "LIMIT", purpose=purpose,
                         limit_price=price, status="FILLED", avg_fill_price=price, fees=fee, broker_order_id=f"sim-{coid[-16:]}", submitted_at=ts)
        s.add(order)
        s.flush()
        portfolio.apply_fill(s, order, qty, price, fee, mult, ts)
        done.append(f"{purpose} {pos.instrument_id} {qty} @ {price}")
    return done


def orient(s: Session, cycle_id: str, market: MarketData) -> dict[str, Any]:
    cycle = cycles.get_cycle(s, cycle_id)
    as_of = cycle.scheduled_for
    snapshots = {}
    for symbol in cycle.symbols:
        hourly = market.bars(symbol, Timeframe.H1, as_of, HOURLY_LOOKBACK)
        daily = market.bars(symbol, Timeframe.D1, as_of, DAILY_LOOKBACK)
        snapshots[symbol] = build_snapshot(symbol, as_of, hourly, daily).model_dump(mode="json")
    return {"snapshots": snapshots}
