"""Worker lifecycle: a worker checks the schema, seeds defaults and warms the engine before taking work."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_init, worker_process_init

from cream.storage import db

log = logging.getLogger("cream.worker")


@worker_init.connect
def _prepare(**_: Any) -> None:
    from cream.services.runtime_config import seed_defaults

    db.assert_migrated()
    with db.session_scope() as s:
        seed_defaults(s)
    warm_engine()
    db.reset_after_fork()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    db.reset_after_fork()


def warm_engine() -> None:
    """Compile (or load from numba's cache) the kernels a cycle uses, before the first task."""
    import numpy as np

    for writable in (True, False):  # market data arrays are read-only: numba types them separately
        x = np.linspace(100.0, 120.0, 300)
        x.setflags(write=writable)
        _warm(x)
    log.info("engine warm")


def _warm(x: Any) -> None:
    import numpy as np

    from engine import constraints, fills, indicators, regime, sizing

    indicators.rsi_nb(x, 14), indicators.sma_nb(x, 20), indicators.ema_nb(x, 12), indicators.atr_nb(x, x, x, 14)
    indicators.bollinger_nb(x, 20, 2.0), indicators.stochastic_nb(x, x, x, 14, 3), indicators.volume_sma_nb(x, 20)
    normalize.zscore_last_nb(x, 100), normalize.percentile_rank_last_nb(x, 100)
    regime.classify_regime(x, x, x)
    fills.fill_price_nb(1, 100.0, 2.0), fills.commission_nb(10, 100.0, 1.0, 0.005, 1.0, 0.01)
    fills.bracket_exit_nb(1, 90.0, 110.0, x, x, x)
    sizing.kelly_fraction_nb(0.6, 2.0, 0.5, 1.0), sizing.size_units_nb(1e5, 0.1, 100.0, 1.0, 1.0, 1000.0)
    one = np.ones(1)
    constraints.check_plan(np.ones(1, np.int64), one, one * 100, one, one * 90, one * 120, np.ones(1, np.bool_),
                           np.zeros(1), np.zeros(0), 1e5, constraints.default_limits())
