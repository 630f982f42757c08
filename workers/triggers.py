"""The consumer of every worker: external cycle triggers, and no message that can stop a worker.

External systems publish plain JSON messages on the `cycles` queue, without Celery. Celery hands any
message that is not a Celery task to ``on_unknown_message``. Here a valid ``cream.cycle.trigger``
becomes a ``cycles.start`` task (then the message is acknowledged, so a crash in between re-delivers
it and the deterministic cycle id makes the second start a no-op); anything else is logged with the
reason and dropped. Nothing that fails validation ever starts a cycle.

Celery's own handling of a message can raise on hostile input (an ``eta`` of year 1, an unhashable
task name, a header of the wrong type): that exception would stop the consumer and the worker with
it ("Unrecoverable error"), and the message, never acknowledged, would stop the next worker too. So
every message goes through ``on_task_received`` inside a guard: whatever it raises, the message is
logged with a one-line reason and dropped, and the worker goes on. Only a lost connection to the
broker is left to Celery, which reconnects (the message is then delivered again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer
from pydantic import ValidationError

from cream.schemas.trigger import CycleTrigger

log = logging.getLogger("cream.triggers")


def parse_trigger(body: Any) -> CycleTrigger:
    """The trigger in ``body``, or ValueError saying what is wrong with it."""
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    try:
        return CycleTrigger.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    except Exception as exc:  # e.g. OverflowError from a date that cannot be moved to UTC
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def _shown(body: Any) -> str:
    try:
        return json.dumps(body, default=str)[:300]
    except Exception:  # a body json cannot show (too deep): its type is enough
        return f"<{type(body).__name__}>"


def _drop(message: Any, reason: str) -> None:
    """Log why and acknowledge, so the message is never delivered again."""
    log.error("rejected message: %s; content-type %s; headers %.200s", reason,
              getattr(message, "content_type", "?"), _shown(getattr(message, "headers", None)))
    try:
        message.ack()
    except Exception as exc:  # already acknowledged or rejected by Celery before it raised
        log.debug("message already settled: %s", exc)


class TriggerConsumer(Consumer):  # type: ignore[misc]
    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], None]:
        handle = super().create_task_handler(*args, **kwargs)
        lost_connection = tuple(self.connection_errors) + tuple(self.channel_errors)

        def on_task_received(message: Any) -> None:
            try:
                handle(message)
            except lost_connection:
                raise
            except Exception as exc:
                _drop(message, f"{type(exc).__name__}: {str(exc)[:200]}")

        return on_task_received

    def on_unknown_message(self, body: Any, message: Any) -> None:
        queue = (getattr(message, "delivery_info", None) or {}).get("routing_key")
        if queue != "cycles":
            _drop(message, f"not a task, and triggers are read from the cycles queue only (this is {queue!r})")
            return
        try:
            trigger = parse_trigger(body)
        except ValueError as exc:
            log.error("rejected cycle trigger (%s): %s; message: %s", exc.__class__.__name__, str(exc)[:500],
                      _shown(body))
            message.ack()
            return
        self.app.send_task("cycles.start", args=[trigger.model_dump(mode="json")], queue="cycles",
                           routing_key="cycles")
        log.info("accepted cycle trigger from %s for %s", trigger.source, trigger.scheduled_for.isoformat())
        message.ack()

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        log.error("rejected cycle trigger: body is not valid JSON (%s: %s); content-type %s",
                  type(exc).__name__, str(exc)[:200], getattr(message, "content_type", "?"))
        message.ack()
