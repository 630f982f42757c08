"""Worker lifecycle: before it takes any message a worker checks the schema, its environment (keys,
the LIVE gate) and, on the execution queue, the broker's open orders; then it warms the engine.

Celery logs and swallows exceptions raised in signal handlers, and the worker would report "ready"
and consume. So a failed check ends the process instead: one line on stderr
(``cream worker refused to start: <reason>``, which `cream fleet` and `cream cycle` show) and exit
code 78 (EX_CONFIG), before any message was consumed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.signals import celeryd_after_setup, worker_init, worker_process_init

from cream.storage import db

log = logging.getLogger("cream.worker")
REFUSED = "cream worker refused to start:"
_PASSWORDS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")  # the password of a URL in an error message
EX_CONFIG = 78


@contextmanager
def refuse_on_error(step: str) -> Iterator[None]:
    """Run a start-up step; any failure ends the process with its reason on one line."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure of a start-up step refuses the worker
        refuse(f"{step}: {exc}" if str(exc) else f"{step}: {type(exc).__name__}")


def refuse(reason: str) -> None:
    line = " ".join(_PASSWORDS.sub(r"\1***@", reason).split())[:500]
    print(f"{REFUSED} {line}", file=sys.stderr, flush=True)  # once: Celery's log goes to stderr too
    raise SystemExit(EX_CONFIG)


def _consumes(instance: Any) -> set[str]:
    queues = getattr(getattr(getattr(instance, "app", None), "amqp", None), "queues", None)
    return set(getattr(queues, "consume_from", None) or {})


@worker_init.connect  # type: ignore[untyped-decorator]  # celery has no types
def _prepare(sender: Any = None, **_: Any) -> None:
    from cream.config import get_settings
    from cream.runtime import require_environment
    from cream.services.runtime_config import seed_defaults

    with refuse_on_error("database"):
        db.assert_migrated()
        with db.session_scope() as s:
            seed_defaults(s)
    with refuse_on_error("environment"):
        require_environment(get_settings().env)  # keys present; LIVE only past the LIVE gate
    with refuse_on_error("engine warm-up"):
        warm_engine(parallel=not forks(sender))
    with refuse_on_error("market data warm-up"):
        warm_market_data()
    db.reset_after_fork()


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]  # celery has no types
def _warm_agents(instance: Any = None, **_: Any) -> None:
    """An agents worker builds its agents (the model client, its TLS context) before it consumes: the
    first phase's runs, all started at once, waited for it."""
    if "agents" not in _consumes(instance):
        return
    from cream import runtime
    from cream.config import get_settings

    with refuse_on_error("agents"):
        runtime.agents(get_settings().env)
    db.reset_after_fork()


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]  # celery has no types
def _reconcile_before_work(instance: Any = None, **_: Any) -> None:
    """An execution worker brings open orders and positions up to the broker's view before it consumes."""
    if "execution" not in _consumes(instance):
        return
    with refuse_on_error("reconciliation with the broker"):
        _reconcile()
    db.reset_after_fork()


def _reconcile() -> None:
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
    _restart_tactic_chains(env.value)


def _restart_tactic_chains(environment: str) -> None:
    """Parents worked as child orders get their chain started again: a worker that died may have held its
    next link (waiting for its countdown); that message, when Redis returns it, finds itself stale."""
    from kombu.exceptions import OperationalError as KombuOperationalError
    from sqlalchemy.exc import SQLAlchemyError

    from cream.services import child_orders
    from workers.app import app

    restarted = []
    try:
        for parent_id in child_orders.working(environment=environment):
            link = child_orders.arm(parent_id)
            if link is not None:
                app.send_task("execution.work", args=[parent_id, link], queue="execution", countdown=1.0)
                restarted.append(parent_id)
    except (KombuOperationalError, SQLAlchemyError, OSError) as exc:  # beat's reconciliation pass will, later
        log.error("could not restart the chains of working tactic orders (%s): the reconciliation pass will", exc)
    if restarted:
        log.info("restarted the chains of %d working tactic order(s): %s", len(restarted), restarted)


@worker_process_init.connect  # type: ignore[untyped-decorator]  # celery has no types
def _fresh_connections(**_: Any) -> None:
    """In a forked pool child, before its first task: its own connections and its own parallel kernels'
    threads (the parent starts none: ``engine.warmup``)."""
    db.reset_after_fork()
    from engine.warmup import parallel_kernels

    parallel_kernels()


def forks(worker: Any) -> bool:
    """The worker's pool forks its children from it (Celery's prefork, the default)."""
    pool = getattr(worker, "pool_cls", None) or "prefork"
    name = pool if isinstance(pool, str) else f"{pool.__module__}.{pool.__qualname__}"
    return "prefork" in name or "processes" in name


def warm_market_data() -> None:
    """BACKTEST: the local history read into this process before it forks its pool or takes a message
    (PAPER and LIVE read bars from Polygon as a cycle asks for them)."""
    from cream import runtime
    from cream.adapters.local_history import LocalHistory

    market = runtime.market_data() if _backtest() else None
    if isinstance(market, LocalHistory):
        market.preload()
        log.info("market data read: %d symbol(s)", len(market.symbols()))


def _backtest() -> bool:
    from cream.config import get_settings
    from cream.schemas.decisions import Environment

    return get_settings().env is Environment.BACKTEST


def warm_engine(*, parallel: bool = True) -> None:
    """Compile (or load from numba's cache) the kernels a cycle uses, before the first task."""
    from engine.warmup import warm

    warm(parallel=parallel)
    log.info("engine warm%s", "" if parallel else " (parallel kernels: in each forked child)")
