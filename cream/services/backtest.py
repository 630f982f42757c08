"""A backtest: hourly cycles over stored history, one after the other, through the same tasks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime

from typing import Any

from cream import market_calendar
from cream.ports import MarketData
from cream.runner import CycleRunner
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import portfolio, reports
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from cream.storage.models import BacktestRow

CYCLES_PER_DAY = 6  # 10:00 .. 15:00 New York


def cycle_hours(market: MarketData, start: date, end: date) -> list[datetime]:
    latest = market.latest()
    hours = [t for t in market_calendar.cycle_times_between(start, end) if t <= latest]
    if not hours:
        raise ValueError(f"no session hours with data between {start} and {end} (data ends {latest:%Y-%m-%d})")
    return hours


def run_backtest(runner: CycleRunner, market: MarketData, symbols: list[str], start: date, end: date,
                 progress: Callable[[int, int], None] = lambda done, total: None) -> dict[str, Any]:
    hours = cycle_hours(market, start, end)
    book = f"bt-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    with session_scope() as s:
        cash = active_trading_config(s, Environment.BACKTEST).initial_cash
        portfolio.ensure_book(s, book, Environment.BACKTEST, cash)
        s.add(BacktestRow(id=book, symbols=symbols, start=hours[0], end=hours[-1], status="RUNNING",
                          cycles_total=len(hours)))
    failed = []
    for i, hour in enumerate(hours):
        trigger = CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book=book, symbols=symbols,
                               source="backtest")
        cycle_id, _ = runner.run(trigger)
        with session_scope() as s:
            status = reports.cycle_report(s, cycle_id)["status"]
        if status == "FAILED":
            failed.append(cycle_id)
        progress(i + 1, len(hours))
    with session_scope() as s:
        metrics = reports.backtest_metrics(s, book, cash, 252 * CYCLES_PER_DAY)
        metrics.update(backtest_id=book, failed_cycles=len(failed), start=hours[0].isoformat(),
                       end=hours[-1].isoformat(), symbols=symbols, initial_cash=cash)
        row = s.get(BacktestRow, book)
        assert row is not None
        row.status, row.metrics = "DONE", {k: v for k, v in metrics.items() if k != "symbols"}
    return metrics


