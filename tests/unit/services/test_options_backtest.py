"""Options through a BACKTEST of the shipped sample, end to end in process: the rule trader opens defined-risk
strategies on the model's chain marks, the book marks them every hour, the simulated broker works their
exits, and cash, positions and P&L reconcile with the fills; settled at expiry, a strategy never loses more
than the engine's max loss."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cream import ids, market_calendar, runtime
from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.option_marks import mark_strategies
from cream.option_model import expiries, strike_step
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.decisions import Environment
from cream.schemas.instruments import OccSymbol, is_options_position, multi_leg_legs
from cream.schemas.market import Timeframe
from cream.schemas.orders import OrderRequest, OrderStatus
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, expiry, portfolio
from cream.services.backtest import run_backtest
from cream.services.inprocess import InProcessRunner
from cream.services.reports import OPTION_PRICING
from cream.storage.db import session_scope
from cream.storage.models import Book, FillRow, OrderRow, PortfolioSnapshotRow, PositionRow
from engine.multileg import analyze_multileg
from tests.unit.services.books import new_book

MARKET = LocalHistory()
CLOSES = {"STOP_LOSS", "TAKE_PROFIT", "EXIT", "EXPIRY", "EXERCISE", "ASSIGNMENT"}


@pytest.fixture(scope="module")
def backtest() -> dict[str, object]:
    new_book("seed")  # the database migrated and seeded
    ports = dataclasses.replace(runtime.PORTS, option_chains=lambda _env: (OptionChains(enabled=True),
                                                                          OptionModel().rate))
    return run_backtest(InProcessRunner(ports), MARKET, ["ADBE", "COST", "MA", "XLK"], date(2025, 8, 15),
                        date(2025, 9, 5))


def fills(book: str) -> list[tuple[str, str, int, Decimal, Decimal, int, str, datetime]]:
    with session_scope(readonly=True) as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(OrderRow.instrument_id, OrderRow.side, FillRow.quantity, FillRow.price, FillRow.fee,
                   OrderRow.multiplier, OrderRow.purpose, FillRow.ts)
            .join(FillRow, FillRow.order_id == OrderRow.id).where(OrderRow.book == book).order_by(FillRow.ts))]


def test_strategies_are_opened_marked_every_hour_closed_and_reconciled(backtest: dict[str, object]) -> None:
    book = str(backtest["backtest_id"])
    done = fills(book)
    strategies = {f[0] for f in done if multi_leg_legs(f[0]) is not None}
    opened = {f[0] for f in done if f[0] in strategies and f[6] == "ENTRY"}
    closed = {f[0] for f in done if f[0] in strategies and f[6] in CLOSES}
    assert opened and closed, done
    # cash and positions are what the fills made them
    with session_scope(readonly=True) as s:
        account = s.get(Book, book)
        assert account is not None
        held = {p.instrument_id: p.quantity for p in portfolio.positions(s, book)}
        snapshots = list(s.execute(select(PortfolioSnapshotRow.ts, PortfolioSnapshotRow.positions)
                                   .where(PortfolioSnapshotRow.book == book).order_by(PortfolioSnapshotRow.ts)))
    flows = sum((-1 if side == "BUY" else 1) * qty * price * mult - fee for _, side, qty, price, fee, mult, _, _ in done)
    assert account.cash == account.initial_cash + flows
    net: dict[str, int] = defaultdict(int)
    for instrument_id, side, qty, *_ in done:
        net[instrument_id] += qty if side == "BUY" else -qty
    assert {k: v for k, v in net.items() if v} == held
    # every later hour a strategy is held, the book values it at the model's mark of that hour (its legs' mid)
    marked = 0
    for ts, positions in snapshots:
        for p in positions:
            if multi_leg_legs(p["instrument_id"]) is None or datetime.fromisoformat(p["opened_at"]) == ts.replace(
                    tzinfo=UTC):
                continue  # the hour it was bought it is valued at its fill, as shares are
            legs = [o for _, o in multi_leg_legs(p["instrument_id"]) or []]
            mark = mark_strategies([p["instrument_id"]], MARKET.option_marks(legs, ts.replace(tzinfo=UTC)),
                                   held=True)[p["instrument_id"]]
            assert p["market_price"] == pytest.approx(mark.premium, rel=1e-9)
            marked += 1
    assert marked >= 10  # held over many hours, not only at the fill
    # the report says how options were priced, and their P&L is the fills' cash plus what is held
    option_flows = sum((-1 if side == "BUY" else 1) * qty * float(price) * mult - float(fee)
                       for i, side, qty, price, fee, mult, _, _ in done if is_options_position(i))
    with session_scope(readonly=True) as s:
        still = sum(p.quantity * float(p.last_price or p.avg_entry_price) * p.multiplier
                    for p in portfolio.positions(s, book) if is_options_position(p.instrument_id))
    assert backtest["option_pricing"] == OPTION_PRICING and "model-priced" in OPTION_PRICING
    assert backtest["option_trades"] == sum(1 for f in done if is_options_position(f[0]))
    assert backtest["option_pnl"] == pytest.approx(option_flows + still, abs=0.01)


# --- through the simulator to expiry: the realised loss never exceeds the engine's max loss ------------

BROKER = SimulatedBroker(MARKET, slippage_bps=2.0, commission_per_share=0.65, commission_minimum=1.0)
HOURS = market_calendar.cycle_times_between(date(2025, 3, 3), date(2025, 8, 29))
SHAPES = {  # (right, strike offset in grid steps, ratio) of the debit form; bought or sold
    "vertical": [("C", 0, 1), ("C", 2, -1)], "put vertical": [("P", 0, 1), ("P", -2, -1)],
    "iron condor": [("P", -1, 1), ("P", -3, -1), ("C", 1, 1), ("C", 3, -1)],
    "iron butterfly": [("P", 0, 1), ("P", -3, -1), ("C", 0, 1), ("C", 3, -1)],
    "long call": [("C", 0, 1)], "long put": [("P", 1, 1)],
}


def _strategy(symbol: str, at: datetime, shape: str, centre: int) -> str | None:
    spot = float(MARKET.bars(symbol, Timeframe.H1, at, 1).close[-1])
    listed = expiries(at, 45)
    if not listed:
        return None
    step = strike_step(spot)
    atm = round(spot / step) * step + centre * step
    parts = [f"{r}x{symbol}{listed[-1]:%y%m%d}{right}{round((atm + k * step) * 1000):08d}"
             for right, k, r in SHAPES[shape]]
    return parts[0].split("x", 1)[1] if len(parts) == 1 else "+".join(parts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbol=st.sampled_from(["ADBE", "COST", "MA", "XLK"]), hour=st.integers(0, len(HOURS) - 1),
       shape=st.sampled_from(sorted(SHAPES)), centre=st.integers(-3, 3), qty=st.integers(1, 20),
       side=st.sampled_from(["BUY", "SELL"]))
def test_held_to_expiry_a_strategy_never_loses_more_than_its_max_loss(
        symbol: str, hour: int, shape: str, centre: int, qty: int, side: str) -> None:
    at = HOURS[hour]
    instrument = _strategy(symbol, at, shape, centre)
    if instrument is None or (side == "SELL" and shape.startswith("long")):
        return  # a naked short option has no max loss to hold it to
    order = OrderRequest(client_order_id=f"p-{instrument}-{side}-{qty}", symbol=symbol, instrument_id=instrument,
                         side=side, quantity=qty, multiplier=100, as_of=at)
    filled = BROKER.submit(order)
    if filled.status is not OrderStatus.FILLED:
        return  # no quote that hour (or no bid for a sale): nothing opened, nothing to lose
    fill = filled.fills[0]
    book = new_book("prop")
    with session_scope() as s:
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=at, book=book),
                                     [symbol])
        row = OrderRow(id=ids.client_order_id(cycle.id, instrument, "ENTRY"), book=book, cycle_id=cycle.id,
                       decision_id=None,
                       instrument_id=instrument, side=side, quantity=qty, multiplier=100, order_type="MARKET",
                       purpose="ENTRY", status="FILLED", fees=Decimal(str(fill.fee)))
        s.add(row)
        s.flush()
        portfolio.apply_fill(s, row, qty, Decimal(str(fill.price)), Decimal(str(fill.fee)), 100, fill.ts)
    settle = expiry.expired([instrument], datetime(2026, 1, 1, tzinfo=UTC))
    spots = expiry.settlement_prices(MARKET, settle)
    with session_scope() as s:
        expiry.settle_expired(s, book, cycle.id, spots)
        account = s.get(Book, book)
        assert account is not None and not s.scalars(select(PositionRow).where(
            PositionRow.book == book, PositionRow.instrument_id == instrument)).first()
        # what the settlement delivered in shares is valued at the settlement price it was booked at
        shares = sum(p.quantity * float(p.avg_entry_price) for p in portfolio.positions(s, book))
        realised = float(account.cash - account.initial_cash) + shares
    legs = multi_leg_legs(instrument) or [(1, instrument)]
    sign = 1 if side == "BUY" else -1
    parts = [OccSymbol.parse(o) for _, o in legs]
    # the engine's analysis of the position as held: each leg's ratio times the side, the fill's net premium
    # spread over the legs by their ratio so that the strategy's net premium is the fill price
    premium = [0.0] * len(legs)
    analysis = analyze_multileg([p.right.value == "CALL" for p in parts], [float(p.strike) for p in parts],
                                [float(sign * r) for r, _ in legs], premium, multiplier=100.0)
    max_loss = (analysis.max_loss + sign * fill.price * 100) * qty  # the legs' worst payoff less the premium
    assert realised >= -max_loss - fill.fee - 1e-6, (instrument, side, qty, fill, realised, max_loss)
