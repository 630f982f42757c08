"""Call every kernel a cycle uses once, so numba compiles them (or loads them from its on-disk cache)
before a worker takes its first task. Market data arrays are often read-only, which numba types
separately from writable ones: both kinds are warmed.

The parallel kernels (``parallel=True``: options and the volatility model) start the threading layer's
threads when they first run, and GNU OpenMP, once started, aborts a process forked from this one when that
child runs one in turn. A process that forks its workers (Celery's prefork pool) warms ``serial`` kernels
only, and each forked child warms ``parallel`` ones itself."""

from __future__ import annotations

import numpy as np

from engine import constraints, fills, indicators, normalize, options, regime, risk_check, sizing, vol_model


def _series_kernels(x: np.ndarray) -> None:
    indicators.rsi_nb(x, 14), indicators.sma_nb(x, 20), indicators.ema_nb(x, 12), indicators.atr_nb(x, x, x, 14)
    indicators.bollinger_nb(x, 20, 2.0), indicators.stochastic_nb(x, x, x, 14, 3), indicators.volume_sma_nb(x, 20)
    normalize.zscore_last_nb(x, 100), normalize.percentile_rank_last_nb(x, 100)
    regime.classify_regime(x, x, x)
    fills.bracket_exit_nb(1, 90.0, 110.0, x, x, x)


def warm(*, parallel: bool = True) -> None:
    """Every kernel (``parallel`` False: all but the parallel ones, module doc)."""
    serial()
    if parallel:
        parallel_kernels()


def serial() -> None:
    for writable in (True, False):
        x = np.linspace(100.0, 120.0, 300)
        x.setflags(write=writable)
        _series_kernels(x)
    fills.fill_price_nb(1, 100.0, 2.0), fills.commission_nb(10, 100.0, 1.0, 0.005, 1.0, 0.01)
    sizing.kelly_fraction_nb(0.6, 2.0, 0.5, 1.0), sizing.size_units_nb(1e5, 0.1, 100.0, 1.0, 1, 1000)
    sizing.risk_units_nb(1e5, 0.01, 100.0, 95.0, 1.0, 1, 1000)
    plan = risk_check.plan_rows(side=1, qty=10, price=100.0, stop=95.0, target=110.0)
    risk_check.check_plan(plan, risk_check.held_rows([1000.0]), equity=1e5, limits=constraints.default_limits())


def parallel_kernels() -> None:
    options.bs_greeks([100.0], [100.0], [0.1], [0.2], 0.05, 0.0, [True])
    options.implied_vol([2.5], [100.0], [100.0], [0.1], 0.05, 0.0, [True])
    vol_model.model_quotes(100.0, [100.0], [0.1], [True], atm_vol=0.2, skew=1.0, rate=0.04, div_yield=0.0,
                           spread_frac=0.04, min_half_spread=0.025)
