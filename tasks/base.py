"""The one task decorator: queue, time limits, retry policy and the fail-closed end of a cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery.exceptions import Ignore
from sqlalchemy.exc import OperationalError

from cream.errors import TransientError
from cream.schemas.decisions import Environment
from cream.services import cycles
from cream.services.cycles import TERMINAL, CycleStatus
from cream.storage.db import session_scope
from workers.app import MAX_RETRY_COUNTDOWN, TIME_LIMITS, app

log = logging.getLogger("cream.tasks")
F = TypeVar("F", bound=Callable[..., Any])


def cream_task(name: str, *, keep_result: bool = False) -> Callable[[F], F]:
    """Register ``name`` on the queue its prefix names, with the queue's limits and transient retries.

    Only transient failures (connection loss, a locked database, TransientError) are retried, with
    exponential backoff and jitter capped below the broker's visibility timeout.
    """
    queue = name.split(".", 1)[0]
    soft, hard = TIME_LIMITS[queue]

    def wrap(fn: F) -> F:
        return app.task(  # type: ignore[no-any-return]
            name=name, queue=queue, soft_time_limit=soft, time_limit=hard, ignore_result=not keep_result,
            autoretry_for=(TransientError, OperationalError, ConnectionError), retry_backoff=2,
            retry_backoff_max=MAX_RETRY_COUNTDOWN, retry_jitter=True, max_retries=5,
        )(fn)

    return wrap


def ensure_running(cycle_id: str) -> Environment:
    """The cycle's environment; stops this branch of the canvas if the cycle already ended."""
    with session_scope(readonly=True) as s:
        cycle = cycles.get_cycle(s, cycle_id)
        status, env = cycle.status, Environment(cycle.environment)
    if CycleStatus(status) in TERMINAL:
        log.info("cycle %s already %s: nothing to do", cycle_id, status)
        raise Ignore()
    return env


def halt(cycle_id: str, exc: BaseException) -> None:
    """Fail the cycle closed: record why, run nothing after this step."""
    reason = f"{type(exc).__name__}: {exc}"
    log.error("cycle %s failed: %s", cycle_id, reason)
    with session_scope() as s:
        cycles.conclude(s, cycle_id, CycleStatus.FAILED, reason)
    raise Ignore()
