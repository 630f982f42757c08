"""The fast path of BACKTEST: a trend rule over stored history, simulated in one vectorised pass.

No agents, no debate, no approvals: the technical analyst's trend definition alone (fast SMA above
the slow one and the close above the fast SMA -> long; the mirror -> exit), with a fixed bracket at
``stop`` below and ``reward_risk`` x ``stop`` above the entry, sized at the per-instrument share of
equity the ACTIVE trading_config allows and charged its slippage and minimum commission. Years of
hourly bars over many symbols run in milliseconds (engine.simulator), for research and parameter
sweeps; ``cream backtest`` without ``--fast`` runs the real cycle, agents and all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from cream.ports import MarketData
from cream.schemas.config import TradingConfig
from cream.schemas.decisions import Environment
from cream.schemas.market import Timeframe
from cream.services.reports import equity_metrics
from engine.indicators import sma_nb
from engine.simulator import simulate_signals

LIMIT_HEADROOM = 0.95  # as the rule trader: stay inside the % of equity limit after costs


@dataclass(frozen=True)
class TrendRule:
    fast: int = 20
    slow: int = 50
    stop: float = 0.02  # stop-loss, fraction below the entry
    reward_risk: float = 2.0


def aligned_closes(market: MarketData, symbols: list[str], start: date, end: date,
                   warmup_bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(ts, open, high, low, close) hourly panels on the union of bar times, NaN where a symbol has
    no bar; ``first`` = index of the first bar inside [start, end] (earlier rows warm the averages)."""
    lo = datetime.combine(start, time(), UTC) - timedelta(days=warmup_bars // 6 * 7 // 5 + 10)
    hi = datetime.combine(end, time(), UTC) + timedelta(days=1)
    bars = {s: market.bars_between(s, Timeframe.H1, lo, hi) for s in symbols}
    ts = np.unique(np.concatenate([b.ts for b in bars.values()]))
    if ts.size == 0:
        raise ValueError(f"no hourly bars for {', '.join(symbols)} between {start} and {end}")
    panels = [np.full((ts.size, len(symbols)), np.nan) for _ in range(4)]
    for j, s in enumerate(symbols):
        rows = np.searchsorted(ts, bars[s].ts)
        for panel, column in zip(panels, (bars[s].open, bars[s].high, bars[s].low, bars[s].close)):
            panel[rows, j] = column
    first = int(np.searchsorted(ts, int(datetime.combine(start, time(), UTC).timestamp())))
    if first >= ts.size:
        raise ValueError(f"no hourly bars for {', '.join(symbols)} on or after {start}")
    return ts, panels[0], panels[1], panels[2], panels[3], first


def trend_signals(close: np.ndarray, rule: TrendRule) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits per bar and symbol (the technical analyst's UP and DOWN trend)."""
    entries = np.zeros(close.shape, dtype=np.bool_)
    exits = np.zeros(close.shape, dtype=np.bool_)
    for j in range(close.shape[1]):
        valid = ~np.isnan(close[:, j])
        c = np.ascontiguousarray(close[valid, j])
        fast, slow = sma_nb(c, rule.fast), sma_nb(c, rule.slow)
        entries[valid, j] = (fast > slow) & (c > fast)
        exits[valid, j] = (fast < slow) & (c < fast)
    return entries, exits


def run_fast_backtest(market: MarketData, symbols: list[str], start: date, end: date, config: TradingConfig,
                      rule: TrendRule = TrendRule()) -> dict[str, Any]:
    ts, open_, high, low, close, first = aligned_closes(market, symbols, start, end, rule.slow)
    entries, exits = trend_signals(close, rule)
    sl = slice(first, None)
    cash = config.initial_cash
    result = simulate_signals(
        close[sl], entries[sl], exits[sl], size=cash * config.rules.max_pct_equity * LIMIT_HEADROOM, size_type="value",
        slippage=config.slippage_bps / 10_000, fixed_fees=config.commission_minimum, init_cash=cash,
        cash_sharing=True, size_granularity=1.0, sl_stop=rule.stop, tp_stop=rule.stop * rule.reward_risk,
        open_=open_[sl], high=high[sl], low=low[sl])
    equity = np.concatenate([[cash], result.equity])
    days = max(1, len({datetime.fromtimestamp(int(t), UTC).date() for t in ts[sl]}))
    return {
        "backtest_id": f"fast-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}", "mode": "fast",
        "rule": rule.__dict__, "symbols": symbols, "bars": len(ts[sl]), "trades": len(result.orders.size),
        "start": datetime.fromtimestamp(int(ts[first]), UTC).isoformat(),
        "end": datetime.fromtimestamp(int(ts[-1]), UTC).isoformat(), "initial_cash": cash,
        "environment": Environment.BACKTEST.value, **equity_metrics(equity, 252 * len(ts[sl]) / days),
    }
