"""External cycle triggers: plain JSON messages on the `cycles` queue, published without Celery.

Celery hands any message that is not a Celery task to ``on_unknown_message``. Here a valid
``cream.cycle.trigger`` becomes a ``cycles.start`` task (then the message is acknowledged, so a crash in
between re-delivers it and the deterministic cycle id makes the second start a no-op); anything else
is logged with the reason and dropped. Nothing that fails validation ever starts a cycle.
"""

from __future__ import annotations

import json
import logging
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


class TriggerConsumer(Consumer):  # type: ignore[misc]
    def on_unknown_message(self, body: Any, message: Any) -> None:
        try:
            trigger = parse_trigger(body)
        except ValueError as exc:
            log.error("rejected cycle trigger (%s): %s; message: %.300s", exc.__class__.__name__, exc,
                      json.dumps(body, default=str))
            message.reject_log_error(log, self.connection_errors)
            return
        self.app.send_task("cycles.start", args=[trigger.model_dump(mode="json")], queue="cycles",
                           routing_key="cycles")
        log.info("accepted cycle trigger from %s for %s", trigger.source, trigger.scheduled_for.isoformat())
        message.ack()

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        log.error("rejected cycle trigger: body is not valid JSON (%s: %s); content-type %s",
                  type(exc).__name__, exc, getattr(message, "content_type", "?"))
        message.ack()
