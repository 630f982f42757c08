"""The one task decorator and the one error policy of the fleet.

Before a task runs, its message must belong to it: it arrived on the task's own queue, its arguments
bind to the task's signature and validate against their types (``tasks.args``), and it has not been
delivered more than ``MAX_DELIVERIES`` times (a message whose worker dies every time it runs).
Anything else is refused with a one-line reason and dropped: never retried, never requeued, and the
cycle it names is not touched.

Then, for a task of a cycle (its first argument is the cycle id), the cycle's error policy
(``cream.services.error_policy``, which the in-process runner follows too):

- a transient failure (the database or the broker away, a lock held too long, a soft time limit)
  is retried with exponential backoff and jitter, for as long as ``cream.timeouts.retry_plan`` says;
- anything else ends the cycle FAILED at once, with the task and the reason;
- a hard time limit, or retries run out, ends it FAILED too.

Ending a cycle FAILED cannot itself fail for a reason of the cycle's (no book yet, an odd row): only
an unreachable database stops it, and then the task is retried like any transient failure.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Callable
from functools import cache
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, get_type_hints, overload

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from kombu.exceptions import OperationalError as KombuOperationalError
from pydantic import TypeAdapter, ValidationError

from cream.schemas.cycle import TERMINAL, CycleStatus
from cream.schemas.decisions import Environment
from cream.services import cycles, error_policy
from cream.storage.db import session_scope
from cream.timeouts import MAX_DELIVERIES, TIME_LIMITS, retry_plan
from workers import redeliveries
from workers.app import app, visibility_timeout

log = logging.getLogger("cream.tasks")
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
PLAN = retry_plan(visibility_timeout())

# Besides the cycle's own transient failures (cream.services.error_policy): the broker's, a soft time limit.
FLEET_TRANSIENT: tuple[type[BaseException], ...] = (KombuOperationalError, SoftTimeLimitExceeded)


class Refused(Exception):
    """The message is not one this task runs: drop it with the reason."""


def is_transient(exc: BaseException) -> bool:
    return error_policy.is_transient(exc, FLEET_TRANSIENT)


class CreamTask(Task):  # type: ignore[misc]
    """Celery task with the fleet's admission checks and error policy (see the module docstring)."""

    cycle_task = True  # the first argument is the id of the cycle this task works on
    home_queue = "cycles"  # the queue task_routes sends it to (workers.app): its name's prefix

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            self._admit(args, kwargs)
        except Refused as exc:
            log.error("refused %s[%s]: %s", self.name, self.request.id, exc)
            raise Reject(str(exc), requeue=False) from None
        try:
            return self.run(*args, **kwargs)
        except (Ignore, Reject, Retry):
            raise
        except Exception as exc:  # noqa: BLE001 - the policy: retry what is transient, fail the cycle on anything else
            self._handle(exc, args)

    # --- admission ---------------------------------------------------------------------------------

    def _admit(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        info = self.request.delivery_info or {}
        arrived = info.get("routing_key")
        if arrived is not None and arrived != self.home_queue:
            raise Refused(f"{self.name} runs on queue {self.home_queue!r}, not {arrived!r}")
        check_arguments(self.run, args, kwargs)
        if info.get("redelivered"):  # the consumer counted this delivery (workers.redeliveries)
            deliveries = redeliveries.count(self.app.conf.broker_url, self.request.id, self.request.retries)
            if deliveries > MAX_DELIVERIES:
                reason = (f"{self.name} was delivered {deliveries} times and never finished: its worker "
                          "died each time (killed, out of memory?); giving up")
                if self.cycle_task:
                    fail_cycle(args[0], reason)
                raise Refused(reason)

    # --- failures ----------------------------------------------------------------------------------

    def _retry(self, exc: Exception, reason: str) -> None:
        """Raise Retry if this transient failure may be retried again; return if the retries are spent."""
        if self.request.retries < PLAN.retries and not self.request.called_directly:
            countdown = PLAN.countdown(self.request.retries, random.random())
            log.warning("%s; retry %d/%d in %.1fs", reason, self.request.retries + 1, PLAN.retries, countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=PLAN.retries)

    def _handle(self, exc: Exception, args: tuple[Any, ...]) -> None:
        transient = is_transient(exc)
        if transient:
            self._retry(exc, f"{self.name}: {type(exc).__name__}: {exc}")
        reason = error_policy.failure_reason(self.name, exc, self.request.retries, transient)
        if not self.cycle_task:
            log.error("%s", reason, exc_info=not is_transient(exc))
            raise Reject(reason, requeue=False) from None
        log.error("cycle %s fails: %s", args[0], reason, exc_info=not is_transient(exc))
        try:
            fail_cycle(args[0], reason)
        except Exception as db_exc:  # noqa: BLE001 - the database is away: the task is retried, failing it is retried with it
            if is_transient(db_exc):
                self._retry(db_exc, f"{self.name}: could not fail cycle {args[0]}: {db_exc}")
            log.error("cycle %s could not be marked FAILED (%s): the recovery sweep will", args[0], db_exc)
        raise Ignore()

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Runs in the worker (not the pool child) when the hard time limit killed the task."""
        if isinstance(exc, TimeLimitExceeded) and self.cycle_task and args and isinstance(args[0], str):
            try:
                fail_cycle(args[0], f"{self.name}: hard time limit ({exc}) exceeded")
            except Exception as db_exc:  # noqa: BLE001 - logged: the recovery sweep fails the cycle later
                log.error("cycle %s could not be marked FAILED after a hard time limit: %s", args[0], db_exc)


class TaskFunction(Protocol[P, R_co]):
    """A cream task as the code sees it: the function (Celery passes a bound task its ``self``) and what
    the code uses of Celery's Task, which has no types of its own."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def apply_async(self, args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None,
                    **options: Any) -> Any: ...


@overload
def cream_task(name: str, *, keep_result: bool = False, cycle_task: bool = True,
               bind: Literal[False] = False) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...
@overload
def cream_task(name: str, *, keep_result: bool = False, cycle_task: bool = True,
               bind: Literal[True]) -> Callable[[Callable[Concatenate[Any, P], R]], TaskFunction[P, R]]: ...
def cream_task(name: str, *, keep_result: bool = False, cycle_task: bool = True,
               bind: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Register ``name`` on the queue its prefix names, with the queue's time limits and the policy above."""
    queue = name.split(".", 1)[0]
    soft, hard = TIME_LIMITS[queue]

    def wrap(fn: Callable[..., Any]) -> Any:
        return app.task(
            name=name, base=CreamTask, home_queue=queue, soft_time_limit=soft, time_limit=hard, bind=bind,
            ignore_result=not keep_result, max_retries=PLAN.retries, cycle_task=cycle_task, typing=False,
        )(fn)

    return wrap


# --- argument checks -------------------------------------------------------------------------------


@cache
def _parameters(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, TypeAdapter[Any]]]:
    hints = get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    return signature, {name: TypeAdapter(hints[name]) for name in signature.parameters if name in hints}


def check_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refused unless ``args``/``kwargs`` bind to ``fn`` and each has its annotated type (strictly)."""
    signature, adapters = _parameters(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise Refused(f"arguments do not fit: {exc}") from None
    for name, value in bound.arguments.items():
        adapter = adapters.get(name)
        if adapter is None:
            continue
        try:
            adapter.validate_python(value, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Refused(f"argument {name}: {first['msg']} (got {str(value)[:60]!r})") from None


# --- failing a cycle ----------------------------------------------------------------

def fail_cycle(cycle_id: Any, reason: str) -> bool:
    """End the cycle FAILED with ``reason`` if it is still RUNNING; True if this call ended it."""
    if not isinstance(cycle_id, str):
        return False
    with session_scope() as s:
        return cycles.fail(s, cycle_id, reason)


def ensure_running(cycle_id: str) -> Environment:
    """The cycle's environment; stops this branch of the canvas if the cycle already ended."""
    with session_scope(readonly=True) as s:
        cycle = cycles.get_cycle(s, cycle_id)
        status, env = cycle.status, Environment(cycle.environment)
    if CycleStatus(status) in TERMINAL:
        log.info("cycle %s already %s: nothing to do", cycle_id, status)
        raise Ignore()
    return env


def retried(task: Task) -> bool:
    """An earlier run of this step may have recorded its phase and died (or failed) before handing the
    cycle on: its message was put back after its worker died (or a sweep restored it), or it is a retry."""
    return bool((task.request.delivery_info or {}).get("redelivered")) or task.request.retries > 0
