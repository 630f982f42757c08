"""Call every kernel a cycle uses once, so numba compiles them (or loads them from its on-disk cache)
before a worker takes its first task. Market data arrays are often read-only, which numba types
separately from writable ones: both kinds are warmed."""

from __future__ import annotations

import numpy as np

from engine import constraints, fills, indicators, normalize, options, regime, risk_check, sizing


def _series_kernels(x: np.ndarray) -> None:
    indicators.rsi_nb(x, 14), indicators.sma_nb(x, 20), indicators.ema_nb(x, 12), indicators.atr_nb(x, x, x, 14)
    indicators.bollinger_nb(x, 20, 2.0), indicators.stochastic_nb(x, x, x, 14, 3), indicators.volume_sma_nb(x, 20)
    normalize.zscore_last_nb(x, 100), normalize.percentile_rank_last_nb(x, 100)
    regime.classify_regime(x, x, x)
    fills.bracket_exit_nb(1, 90.0, 110.0, x, x, x)


def warm() -> None:
    for writable in (True, False):
        x = np.linspace(100.0, 120.0, 300)
        x.setflags(write=writable)
        _series_kernels(x)
    fills.fill_price_nb(1, 100.0, 2.0), fills.commission_nb(10, 100.0, 1.0, 0.005, 1.0, 0.01)
    sizing.kelly_fraction_nb(0.6, 2.0, 0.5, 1.0), sizing.size_units_nb(1e5, 0.1, 100.0, 1.0, 1, 1000)
    sizing.risk_units_nb(1e5, 0.01, 100.0, 95.0, 1.0, 1, 1000)
    plan = risk_check.plan_rows(side=1, qty=10, price=100.0, stop=95.0, target=110.0)
    risk_check.check_plan(plan, risk_check.held_rows([1000.0]), equity=1e5, limits=constraints.default_limits())
    options.bs_greeks([100.0], [100.0], [0.1], [0.2], 0.05, 0.0, [True])
    options.implied_vol([2.5], [100.0], [100.0], [0.1], 0.05, 0.0, [True])
