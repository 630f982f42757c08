"""The one error policy of a cycle, for both runners (the fleet's task decorator and the in-process runner).

- A transient failure (the database or the broker away, a lock held too long, a provider's 429 or 5xx)
  is tried again with exponential backoff and jitter, as often as ``cream.timeouts.retry_plan`` says.
- Anything else ends the cycle FAILED at once, with the step and the reason.
- Retries run out: FAILED too, saying so.

A cycle that ends FAILED in ``act`` after some of its orders reached the broker keeps those orders: each
has its row under its deterministic client_order_id (SUBMITTED, FILLED, or UNKNOWN when the outcome was
never learnt); the next reconciliation pass (beat's ``execution.reconcile``, each minute, or the book's
next observe) brings them up to the broker, and protection guards what they filled. An intent it never
sent is never sent late: reconciliation finds it absent at the broker and, its cycle having ended,
closes it CANCELED ("never reached the broker"). Nothing is sent twice: a retried ``act`` sends only
intents still PENDING, under the same ids.
"""

from __future__ import annotations

import redis
from sqlalchemy.exc import DBAPIError, OperationalError

from cream.errors import TransientError

TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError, OperationalError, ConnectionError, TimeoutError, redis.ConnectionError, redis.TimeoutError)


def is_transient(exc: BaseException, also: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether ``exc`` is worth trying again (``also``: a runner's own transient errors)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT + also)


def failure_reason(step: str, exc: BaseException, retries: int = 0, transient: bool = False) -> str:
    reason = f"{step}: {type(exc).__name__}: {exc}"
    return f"gave up after {retries} retries: {reason}" if transient else reason
