"""A backtest: hourly cycles over stored history, one after the other, through the cycle pipeline on the
fleet (every step a task) or in this process (``cream backtest --in-process``)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from cream import market_calendar
from cream.errors import InvalidRequest
from cream.ports import MarketData, Runner
from cream.schemas.cycle import CycleStatus
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, portfolio, reports
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from cream.storage.models import BacktestRow, Cycle

log = logging.getLogger(__name__)

CYCLES_PER_DAY = 6  # 10:00 .. 15:00 New York


def backtest_hours(market: MarketData, start: date, end: date) -> list[datetime]:
    """The session cycle hours from ``start`` to ``end`` (inclusive); InvalidRequest, saying what the data
    covers, when the window is reversed, reaches outside the market data or holds no session hour."""
    first, last = market.earliest(), market.latest()
    covers = f"the market data covers {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    if end < start:
        raise InvalidRequest(f"--end {end} is before --start {start}: swap them")
    if start < first.date() or end > last.date():
        raise InvalidRequest(f"{start} to {end} is not inside the market data: {covers}; choose dates inside it")
    hours = [t for t in market_calendar.cycle_times_between(start, end) if first <= t <= last]
    if not hours:
        raise InvalidRequest(f"no session cycle hour with data from {start} to {end} (weekends and holidays "
                             f"have none): {covers}")
    return hours


def run_backtest(runner: Runner, market: MarketData, symbols: list[str], start: date, end: date,
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 timeout: float | None = None) -> dict[str, Any]:
    """Run every cycle hour of the window in a new private book; ``timeout`` (if given) bounds each cycle.

    Whatever ends the run early (a cycle timeout, Ctrl-C, a broker error) marks the backtest and its
    unfinished cycles FAILED with the reason before it propagates: no row is left RUNNING.
    """
    hours = backtest_hours(market, start, end)
    book = f"bt-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    with session_scope() as s:
        cash = active_trading_config(s, Environment.BACKTEST).initial_cash
        portfolio.ensure_book(s, book, Environment.BACKTEST, cash)
        s.add(BacktestRow(id=book, symbols=symbols, start=hours[0], end=hours[-1], status="RUNNING",
                          cycles_total=len(hours)))
    try:
        failed = _run_cycles(runner, book, symbols, hours, progress, timeout)
    except BaseException as exc:
        _abort(book, _reason(exc))
        raise
    with session_scope() as s:
        metrics = reports.backtest_metrics(s, book, cash, 252 * CYCLES_PER_DAY)
        metrics.update(backtest_id=book, cycles_planned=len(hours), failed_cycles=len(failed),
                       start=hours[0].isoformat(), end=hours[-1].isoformat(), symbols=symbols, initial_cash=cash)
        row = s.get(BacktestRow, book)
        assert row is not None
        row.status, row.metrics = "DONE", {k: v for k, v in metrics.items() if k != "symbols"}
    return metrics


def _run_cycles(runner: Runner, book: str, symbols: list[str], hours: list[datetime],
                progress: Callable[[int, int], None], timeout: float | None) -> list[str]:
    """The ids of the cycles that ended FAILED."""
    for i, hour in enumerate(hours):
        trigger = CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book=book, symbols=symbols,
                               source="backtest")
        runner.run(trigger, timeout=timeout)
        progress(i + 1, len(hours))
    with session_scope(readonly=True) as s:  # the book is this run's own: its cycles are these hours'
        return list(s.scalars(select(Cycle.id).where(Cycle.book == book, Cycle.status == CycleStatus.FAILED.value)
                              .order_by(Cycle.scheduled_for)))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _abort(book: str, reason: str) -> None:
    """Mark the backtest FAILED and end its cycles still RUNNING (the book is private to this run)."""
    try:
        with session_scope() as s:
            row = s.get(BacktestRow, book)
            if row is not None:
                row.status, row.metrics = "FAILED", {"error": reason}
            running = s.scalars(select(Cycle.id).where(Cycle.book == book,
                                                       Cycle.status == CycleStatus.RUNNING.value)).all()
            for cycle_id in running:
                cycles.conclude(s, cycle_id, CycleStatus.FAILED, f"backtest aborted: {reason}")
    except Exception as exc:  # noqa: BLE001 - the original error propagates; this one is only reported
        log.error("backtest %s could not be marked FAILED (%s: %s)", book, type(exc).__name__, exc)
