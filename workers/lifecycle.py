"""Worker lifecycle: a worker checks the schema, seeds defaults and warms the engine before taking work."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_init, worker_process_init

from cream.storage import db

log = logging.getLogger("cream.worker")


@worker_init.connect
def _prepare(**_: Any) -> None:
    from cream.config import get_settings
    from cream.runtime import require_backtest
    from cream.services.runtime_config import seed_defaults

    db.assert_migrated()
    with db.session_scope() as s:
        seed_defaults(s)
    require_backtest(get_settings().env)  # PAPER/LIVE not wired yet; LIVE must pass the LIVE gate first
    warm_engine()
    db.reset_after_fork()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    db.reset_after_fork()


def warm_engine() -> None:
    """Compile (or load from numba's cache) the kernels a cycle uses, before the first task."""
    from engine.warmup import warm

    warm()
    log.info("engine warm")
