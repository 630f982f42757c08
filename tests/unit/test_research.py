"""The fast path of BACKTEST on the bundled sample: the analyst's trend rule, simulated in one pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from cream.adapters.local_history import LocalHistory
from cream.research import TrendRule, aligned_closes, run_fast_backtest, trend_signals
from cream.schemas.decisions import Environment
from cream.services.runtime_config import default_trading_config

SYMBOLS = ["ADBE", "COST", "MA", "XLK"]
CONFIG = default_trading_config(Environment.BACKTEST)


@pytest.fixture(scope="module")
def panels() -> tuple[np.ndarray, ...]:
    return aligned_closes(LocalHistory(), SYMBOLS, date(2024, 1, 2), date(2025, 9, 25), 50)


def test_panels_align_every_symbol_on_one_clock(panels: tuple[np.ndarray, ...]) -> None:
    ts, _open, high, low, close, first = panels
    assert np.all(np.diff(ts) > 0) and close.shape == (ts.size, 4) and first > 50
    assert np.isnan(close).mean() < 0.01  # the four trade the same regular sessions
    assert np.all((low <= close) | np.isnan(close)) and np.all((high >= close) | np.isnan(close))


def test_trend_signals_follow_the_moving_averages(panels: tuple[np.ndarray, ...]) -> None:
    close = panels[4]
    entries, exits = trend_signals(close, TrendRule(fast=20, slow=50))
    for j in range(close.shape[1]):
        c = pd.Series(close[:, j]).dropna()
        fast, slow = c.rolling(20).mean(), c.rolling(50).mean()
        np.testing.assert_array_equal(entries[c.index, j], ((fast > slow) & (c > fast)).to_numpy())
        np.testing.assert_array_equal(exits[c.index, j], ((fast < slow) & (c < fast)).to_numpy())
    assert not (entries & exits).any()


def test_fast_backtest_sizes_inside_the_limits_and_reports_metrics() -> None:
    m = run_fast_backtest(LocalHistory(), SYMBOLS, date(2024, 1, 2), date(2025, 9, 25), CONFIG)
    assert m["trades"] > 50 and m["bars"] > 3000
    assert 0 <= m["max_drawdown"] < 0.5 and m["sharpe"] is not None
    tighter = run_fast_backtest(LocalHistory(), SYMBOLS, date(2024, 1, 2), date(2025, 9, 25),
                                replace(CONFIG, rules=CONFIG.rules.model_copy(update={"max_pct_equity": 0.02})))
    # a fifth of the size: a fraction of the P&L and of the drawdown
    assert abs(tighter["total_return"]) < abs(m["total_return"])
    assert tighter["max_drawdown"] < m["max_drawdown"]


def test_a_window_without_data_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no hourly bars"):
        run_fast_backtest(LocalHistory(), SYMBOLS, date(2030, 1, 2), date(2030, 2, 1), CONFIG)
