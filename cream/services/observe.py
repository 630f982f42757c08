"""Observe and orient: prices and positions at the cycle's hour, then a feature snapshot per symbol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from cream import ids
from cream.errors import NoOptionData, UnknownInstrument
from cream.features import DAILY_LOOKBACK, HOURLY_LOOKBACK, build_snapshot
from cream.option_marks import mark_quoted, mark_strategies
from cream.ports import AccountSnapshot, Broker, MarketData
from cream.schemas.config import OptionChains, TradingConfig
from cream.schemas.cycle import Observed, Oriented
from cream.schemas.decisions import Environment, RiskDenomination
from cream.schemas.instruments import is_options_position, option_legs
from cream.schemas.market import OptionMark, Timeframe
from cream.services import cycles, expiry, portfolio
from cream.storage.models import OrderRow

STALE_AFTER = timedelta(days=4)  # a last bar older than this at as_of means the data is missing


# Market data is read outside any database transaction (``last_prices``, ``snapshots``): an adapter
# may write its own cache, and a SQLite writer holding the lock while it does would wait on itself.


def last_prices(market: MarketData, symbols: list[str], held: list[str], as_of: datetime) -> dict[str, float]:
    """The last hourly close of each cycle symbol (missing or stale: UnknownInstrument) and of each
    held instrument outside them (skipped when the source has none)."""
    prices = {}
    for symbol in symbols:
        bars = market.bars(symbol, Timeframe.H1, as_of, 1)
        if len(bars) == 0 or datetime.fromtimestamp(int(bars.end[-1]), tz=UTC) < as_of - STALE_AFTER:
            raise UnknownInstrument(f"no recent hourly bar for {symbol} at {as_of:%Y-%m-%d %H:%M}Z")
        prices[symbol] = float(bars.close[-1])
    for symbol in sorted(set(held) - prices.keys()):  # positions outside today's universe still need a mark
        if is_options_position(symbol):  # marked by its quotes (MarketData.option_marks), not by bars
            continue
        last = market.bars(symbol, Timeframe.H1, as_of, 1)
        if len(last):
            prices[symbol] = float(last.close[-1])
    return prices


def held_marks(market: MarketData, held: list[str], as_of: datetime) -> dict[str, OptionMark]:
    """Marks of the option contracts and strategies among ``held`` (a strategy from its legs' marks, which
    are kept too); what cannot be marked is left out and fails closed upstream."""
    contracts = sorted({o for h in held for _, o in option_legs(h)})
    marks = market.option_marks(contracts, as_of) if contracts else {}
    return {**marks, **mark_strategies(held, marks, held=True)}


def chain_marks(market: MarketData, prices: dict[str, float], as_of: datetime, window: OptionChains, *,
                rate: float) -> dict[str, OptionMark]:
    """Marks of the part of each symbol's option chain the agents may trade (``OptionChains``), as quoted
    at ``as_of``: one chain request per symbol. A contract whose quote cannot be a mark (one-sided,
    crossed) is left out, and an order on it fails closed; a source without option data marks none."""
    if not window.enabled:  # (None, the settings' "follow the agents", is resolved by the composition root)
        return {}
    day = as_of.date()
    out: dict[str, OptionMark] = {}
    for symbol, spot in prices.items():  # the cycle's symbols: tickers, never contracts
        try:
            listed = market.option_window(symbol, spot, as_of, window)
        except NoOptionData:
            return {}
        for contract in listed:
            mark = mark_quoted(contract, day, rate=rate)
            if mark is not None:
                out[mark.instrument_id] = mark
    return out


def observe(s: Session, cycle_id: str, prices: dict[str, float], broker: Broker, config: TradingConfig,
            account: AccountSnapshot | None = None, option_marks: dict[str, OptionMark] | None = None,
            settlements: dict[str, Decimal] | None = None) -> Observed:
    """Book the cycle's observation: the book mirrors the broker's ``account`` (PAPER, LIVE), or expired
    options are settled (``settlements``: contract -> the underlying's close, ``services.expiry``) and the
    simulated broker works its brackets (BACKTEST); positions marked (options at their mark's premium);
    the portfolio view."""
    cycle = cycles.get_cycle(s, cycle_id)
    as_of = cycle.scheduled_for
    env = Environment(cycle.environment)
    marks = option_marks or {}
    portfolio.ensure_book(s, cycle.book, env, config.initial_cash)
    mirrored = portfolio.mirror(s, cycle.book, account, as_of) if account is not None else []
    expired = expiry.settle_expired(s, cycle.book, cycle_id, settlements) if settlements else []
    # The simulated broker works brackets here; a real broker holds them as orders of its own, answers
    # no bracket exit, and their fills reach the book through reconciliation.
    exits = work_brackets(s, cycle.book, cycle_id, as_of, broker)
    portfolio.mark(s, cycle.book, {**prices, **{k: m.premium for k, m in marks.items()}})
    view = portfolio.view(s, cycle.book, as_of)
    # An open market entry has no limit to count at: it carries the last price observed here, as the
    # approvers (who see the portfolio and the cycle's own symbols' snapshots) must count it too.
    unpriced = {k: w.model_copy(update={"price": prices[k]}) for k, w in view.working_orders.items()
                if w.price is None and k in prices}
    if unpriced:
        view = view.model_copy(update={"working_orders": {**view.working_orders, **unpriced}})
    if account is not None:  # the broker's own buying power and day-trade count
        view = view.model_copy(update={"buying_power": account.buying_power, "day_trades_5d": account.day_trades})
    return Observed(as_of=as_of, prices=prices, option_marks=marks, bracket_exits=exits, expiries=expired,
                    broker_changes=mirrored, portfolio=view, rules=config.rules)


def work_brackets(s: Session, book: str, cycle_id: str, as_of: datetime, broker: Broker) -> list[str]:
    """Book the stop-loss or take-profit the broker filled for each position whose level traded since it
    was last checked (``Broker.bracket_exit``; none at a broker that holds exits as orders of its own)."""
    done = []
    for pos in portfolio.positions(s, book):
        since = pos.checked_until or as_of
        if pos.stop_loss is None or pos.take_profit is None or since >= as_of:
            continue
        hit = broker.bracket_exit(pos.instrument_id, pos.quantity, pos.multiplier, float(pos.stop_loss),
                                  float(pos.take_profit), since, as_of,
                                  RiskDenomination(pos.levels_on or RiskDenomination.UNDERLYING_PRICE))
        pos.checked_until = as_of
        if hit is None:
            continue
        purpose = hit.purpose.value
        coid = ids.client_order_id(pos.opened_cycle_id or cycle_id, pos.instrument_id, purpose)
        if s.get(OrderRow, coid) is not None:
            continue
        qty, mult = abs(pos.quantity), pos.multiplier
        price, fee = Decimal(str(hit.price)), Decimal(str(hit.fee))
        order = OrderRow(id=coid, book=book, cycle_id=cycle_id, decision_id=None, instrument_id=pos.instrument_id,
                         side="SELL" if pos.quantity > 0 else "BUY", quantity=qty, multiplier=mult,
                         order_type="STOP" if purpose == "STOP_LOSS" else "LIMIT", purpose=purpose,
                         limit_price=price, status="FILLED", avg_fill_price=price, fees=fee, broker_order_id=f"sim-{coid[-16:]}", submitted_at=hit.ts)
        s.add(order)
        s.flush()
        portfolio.apply_fill(s, order, qty, price, fee, mult, hit.ts)
        done.append(f"{purpose} {pos.instrument_id} {qty} @ {price}")
    return done


def orient(market: MarketData, symbols: list[str], as_of: datetime) -> Oriented:
    """A feature snapshot per symbol from the bars closed by ``as_of``."""
    snapshots = {}
    for symbol in symbols:
        hourly = market.bars(symbol, Timeframe.H1, as_of, HOURLY_LOOKBACK)
        daily = market.bars(symbol, Timeframe.D1, as_of, DAILY_LOOKBACK)
        snapshots[symbol] = build_snapshot(symbol, as_of, hourly, daily)
    return Oriented(snapshots=snapshots)
