"""Worker lifecycle: a worker checks the schema, seeds defaults and warms the engine before taking work."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, worker_init, worker_process_init

from cream.storage import db

log = logging.getLogger("cream.worker")


@worker_init.connect
def _prepare(**_: Any) -> None:
    from cream.config import get_settings
    from cream.runtime import require_environment
    from cream.services.runtime_config import seed_defaults

    db.assert_migrated()
    with db.session_scope() as s:
        seed_defaults(s)
    require_environment(get_settings().env)  # keys present; LIVE only past the LIVE gate
    warm_engine()
    db.reset_after_fork()


@celeryd_after_setup.connect
def _reconcile_before_work(instance: Any = None, **_: Any) -> None:
    """An execution worker brings open orders and positions up to the broker's view before it consumes."""
    queues = set(getattr(getattr(instance.app.amqp, "queues", None), "consume_from", None) or {}) if instance else set()
    if "execution" not in queues:
        return
    from cream import runtime
    from cream.config import get_settings
    from cream.services.order_lifecycle import reconcile_environment
    from cream.services.runtime_config import active_trading_config

    env = get_settings().env
    with db.session_scope(readonly=True) as s:
        config = active_trading_config(s, env)
    report = reconcile_environment(runtime.broker(env, config), env.value)
    changed = {book: r for book, r in report.items() if r["orders"] or r["position_differences"]}
    log.info("reconciled %d book(s) with the broker before taking work%s", len(report),
             f": {changed}" if changed else "")
    db.reset_after_fork()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    db.reset_after_fork()


def warm_engine() -> None:
    """Compile (or load from numba's cache) the kernels a cycle uses, before the first task."""
    from engine.warmup import warm

    warm()
    log.info("engine warm")
