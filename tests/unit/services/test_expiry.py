"""Options held in BACKTEST: marked at each observe by the model (so the book and the risk check price
them), and settled at the first observe after their expiration close: worthless out of the money,
exercised or assigned in the money with the shares booked, cash moved by the strike, once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cream import runtime
from cream.adapters.local_history import LocalHistory
from cream.schemas.cycle import Observed
from cream.schemas.decisions import Environment
from cream.schemas.market import Timeframe
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline, portfolio
from cream.storage.db import session_scope
from cream.storage.models import Book, OrderRow, PositionRow
from tests.unit.services.books import new_book

EXPIRY_CLOSE = datetime(2025, 6, 20, 20, tzinfo=UTC)  # Friday June 20, 2025, 16:00 New York
MONDAY = datetime(2025, 6, 23, 14, tzinfo=UTC)
MARKET = LocalHistory()


def xlk_close() -> Decimal:
    return Decimal(str(float(MARKET.bars("XLK", Timeframe.H1, EXPIRY_CLOSE, 1).close[-1])))


def book_holding(positions: dict[str, int]) -> str:
    book = new_book("opt")
    with session_scope() as s:
        for instrument_id, qty in positions.items():
            s.add(PositionRow(book=book, instrument_id=instrument_id, quantity=qty, avg_entry_price=Decimal(2),
                              multiplier=100, opened_at=datetime(2025, 6, 2, 15, tzinfo=UTC)))
    return book


def observe_at(book: str, at: datetime) -> Observed:
    with session_scope() as s:
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=at, book=book),
                                     ["XLK"])
    pipeline.observe_phase(cycle.id, runtime.PORTS, again=False)
    with session_scope(readonly=True) as s:
        observed = cycles.load(s, cycle.id, Observed)
    assert observed is not None
    return observed


def test_a_held_option_is_marked_by_the_model_and_the_book_values_it() -> None:
    book = book_holding({"XLK250620C00240000": 2})
    seen = observe_at(book, datetime(2025, 6, 3, 15, tzinfo=UTC))
    mark = seen.option_marks["XLK250620C00240000"]
    assert mark.model_priced and mark.premium > 0 and mark.bid is not None
    held = seen.portfolio.positions["XLK250620C00240000"]
    assert held.market_price == pytest.approx(mark.premium)
    assert seen.portfolio.equity == pytest.approx(100_000.0 + 2 * 100 * mark.premium)  # cash untouched by the test


def test_expired_options_are_settled_once_at_the_expiry_close() -> None:
    spot = xlk_close()
    itm_call, otm_call = f"XLK250620C{int((spot - 5) * 1000):08d}", f"XLK250620C{int((spot + 20) * 1000):08d}"
    itm_put = f"XLK250620P{int((spot + 5) * 1000):08d}"
    book = book_holding({itm_call: 1, otm_call: 3, itm_put: -2})  # long calls, a short (assigned) put
    seen = observe_at(book, MONDAY)
    assert len(seen.expiries) == 3 and not {itm_call, otm_call, itm_put} & set(seen.option_marks)  # settled, unmarked
    with session_scope(readonly=True) as s:
        held = {p.instrument_id: p for p in portfolio.positions(s, book)}
        cash = s.get(Book, book).cash  # type: ignore[union-attr]
        orders = {o.purpose for o in s.query(OrderRow).filter(OrderRow.book == book)}
    # 100 shares bought by exercising the call at spot-5, 200 bought at spot+5 by the assigned put
    assert set(held) == {"XLK"} and held["XLK"].quantity == 300 and held["XLK"].avg_entry_price == spot
    assert cash == Decimal(100_000) - 100 * (spot - 5) - 200 * (spot + 5)
    assert orders == {"EXERCISE", "ASSIGNMENT", "EXPIRY"}
    again = observe_at(book, MONDAY.replace(hour=15))
    assert again.expiries == [] and again.portfolio.positions["XLK"].quantity == 300


def spread(*legs: tuple[int, str]) -> str:
    return "+".join(f"{r}x{o}" for r, o in legs)


def test_a_held_strategy_is_marked_from_its_legs_and_the_book_values_it_at_the_net_premium() -> None:
    bull = spread((1, "XLK250620C00240000"), (-1, "XLK250620C00250000"))
    seen = observe_at(book_holding({bull: 2}), datetime(2025, 6, 3, 15, tzinfo=UTC))
    low, high, mark = (seen.option_marks[k] for k in ("XLK250620C00240000", "XLK250620C00250000", bull))
    assert mark.premium == pytest.approx(low.premium - high.premium) and mark.model_priced
    assert mark.delta == pytest.approx(low.delta - high.delta)
    assert mark.bid == pytest.approx(low.bid - high.ask) and mark.ask == pytest.approx(low.ask - high.bid)  # type: ignore[operator]
    assert seen.portfolio.positions[bull].market_price == pytest.approx(mark.premium)


def test_an_expired_spread_settles_at_its_net_intrinsic_and_moves_only_the_shares_that_do_not_net_out() -> None:
    spot = xlk_close()
    k = int(spot)
    both_in = spread((1, f"XLK250620C{(k - 10) * 1000:08d}"), (-1, f"XLK250620C{(k - 5) * 1000:08d}"))  # width 5
    long_in = spread((1, f"XLK250620C{(k - 1) * 1000:08d}"), (-1, f"XLK250620C{(k + 9) * 1000:08d}"))
    put_credit = spread((1, f"XLK250620P{(k + 6) * 1000:08d}"), (-1, f"XLK250620P{(k - 4) * 1000:08d}"))
    book = book_holding({both_in: 2, long_in: 1, put_credit: -3})  # the put spread sold: a bull put credit spread
    seen = observe_at(book, MONDAY)
    assert len(seen.expiries) == 3, seen.expiries
    with session_scope(readonly=True) as s:
        held = {p.instrument_id: p.quantity for p in portfolio.positions(s, book)}
        cash = s.get(Book, book).cash  # type: ignore[union-attr]
        orders = {(o.instrument_id, o.purpose, o.side, o.quantity): o.avg_fill_price
                  for o in s.query(OrderRow).filter(OrderRow.book == book)}
    # both calls in the money: 2 units closed at the 5 width, no shares; the long call alone: exercised, 100
    # shares bought at its strike; the sold put spread: its short (the +6 put, held short) assigned, 300
    # shares bought at k + 6, the -4 put out of the money
    assert held == {"XLK": 100 + 300}
    assert orders[(both_in, "ASSIGNMENT", "SELL", 2)] == Decimal(5)  # its short call was assigned
    assert orders[(long_in, "EXERCISE", "SELL", 1)] == spot - (k - 1)
    assert orders[(put_credit, "ASSIGNMENT", "BUY", 3)] == (k + 6) - spot
    assert cash == (Decimal(100_000) + 2 * 100 * 5 + 100 * (spot - (k - 1)) - 100 * spot
                    - 3 * 100 * ((k + 6) - spot) - 300 * spot)
