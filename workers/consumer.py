"""The consumer of every worker: external cycle triggers, and no message that can stop or clog a worker.

External systems publish plain JSON messages on the `cycles` queue, without Celery. Celery hands any
message that is not a Celery task to ``on_unknown_message``. Here a valid ``cream.cycle.trigger``
becomes a ``cycles.start`` task (then the message is acknowledged, so a crash in between re-delivers
it and the deterministic cycle id makes the second start a no-op); anything else is logged with the
reason and dropped. Nothing that fails validation ever starts a cycle.

Every other message must be a task message of ours, as our own code sends them (``check_task_message``):
Celery protocol 2, a task of this fleet (not one of Celery's built-ins), the three-part JSON body,
headers of the right types, no time limits of its own, no ``eta`` further ahead than our own retries
ever wait (Celery would hold such a message, unacknowledged, until then). Anything else is dropped with
a one-line reason before Celery sees it.

Celery's own handling of a message can still raise on input we did not think of: that exception
would stop the consumer and the worker with it ("Unrecoverable error"), and the message, never
acknowledged, would stop the next worker too. So every message goes through ``on_task_received``
inside a guard: whatever it raises, the message is logged and dropped and the worker goes on. Only a
lost connection to the broker is left to Celery, which reconnects (the message is delivered again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import NoneType
from typing import Any

from celery.worker.consumer import Consumer

from cream.schemas.trigger import parse_trigger
from cream.timeouts import MAX_DELIVERIES, TIME_LIMITS, retry_plan
from workers import redeliveries
from workers.app import visibility_timeout

log = logging.getLogger("cream.consumer")
OUR_QUEUES = ("cycles", "agents", "data", "execution")
PLAN = retry_plan(visibility_timeout())
MAX_ETA_AHEAD = timedelta(seconds=2 * PLAN.cap_s)  # our retries wait at most cap_s
EMBED_KEYS = {"callbacks", "errbacks", "chain", "chord"}


class NotOurMessage(ValueError):
    """The message is not one our fleet sends: drop it, with this reason."""


# The headers Celery reads from a task message, and the types our own messages give them.
HEADER_TYPES: dict[str, tuple[type, ...]] = {
    "lang": (str,), "task": (str,), "id": (str,), "shadow": (str, NoneType), "eta": (str, NoneType),
    "expires": (str, NoneType), "group": (str, NoneType), "group_index": (int, NoneType), "retries": (int,),
    "timelimit": (list, NoneType), "root_id": (str, NoneType), "parent_id": (str, NoneType),
    "argsrepr": (str, NoneType), "kwargsrepr": (str, NoneType), "origin": (str, NoneType),
    "ignore_result": (bool, NoneType), "replaced_task_nesting": (int, NoneType),
    "stamped_headers": (list, NoneType), "stamps": (dict, NoneType), "redelivered": (bool, NoneType),
}


def check_task_message(headers: dict[str, Any], body: Any, now: datetime) -> None:
    """Nothing if this Celery message is a task message of ours; NotOurMessage saying why otherwise."""
    for key, types in HEADER_TYPES.items():
        value = headers.get(key)
        if key in headers and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise NotOurMessage(f"header {key} is a {type(value).__name__}, not a {types[0].__name__}")
    task = headers.get("task")
    if not isinstance(task, str) or task.split(".", 1)[0] not in OUR_QUEUES or headers.get("lang") != "py":
        raise NotOurMessage(f"task {str(task)[:60]!r} is not a task of this fleet")
    if not 0 < len(headers.get("id") or "") <= 100 or headers.get("shadow") not in (None, task):
        raise NotOurMessage("headers id and shadow must be a task id and the task's own name")
    if not 0 <= headers.get("retries", 0) <= PLAN.retries:
        raise NotOurMessage(f"header retries {headers['retries']} is not a retry count of ours")
    hard_soft = list(reversed(TIME_LIMITS[task.split(".", 1)[0]]))
    if headers.get("timelimit") not in (None, [None, None], hard_soft):
        raise NotOurMessage(f"a message may not bring time limits of its own (this task's are {hard_soft})")
    _check_eta(headers.get("eta"), now)
    if not (isinstance(body, list) and len(body) == 3 and isinstance(body[0], list) and isinstance(body[1], dict)
            and (body[2] is None or isinstance(body[2], dict))):
        raise NotOurMessage("body must be [args, kwargs, embed]")
    embed = body[2] or {}
    if set(embed) - EMBED_KEYS:
        raise NotOurMessage("embed may hold callbacks, errbacks, a chain and a chord, nothing else")
    if not all(isinstance(embed.get(k) or [], list) for k in ("callbacks", "errbacks", "chain")):
        raise NotOurMessage("callbacks, errbacks and chain must be lists")


def _check_eta(eta: Any, now: datetime) -> None:
    if eta is None:
        return
    try:
        when = datetime.fromisoformat(eta)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        ahead = when - now
    except (TypeError, ValueError, OverflowError):
        raise NotOurMessage(f"header eta {str(eta)[:40]!r} is not a time") from None
    if ahead > MAX_ETA_AHEAD:
        raise NotOurMessage(f"eta {eta} is further ahead than any retry of ours waits")


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, default=str)[:300]
    except Exception:  # noqa: BLE001 - a body json cannot show (too deep): its type is enough
        return f"<{type(value).__name__}>"


def _drop(message: Any, reason: str) -> None:
    """Log why and acknowledge, so the message is never delivered again."""
    log.error("rejected message: %s; content-type %s; headers %.200s", reason,
              getattr(message, "content_type", "?"), _shown(getattr(message, "headers", None)))
    try:
        message.ack()
    except Exception as exc:  # noqa: BLE001 - already acknowledged or rejected by Celery before it raised
        log.debug("message already settled: %s", exc)


class GuardedConsumer(Consumer):  # type: ignore[misc]
    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], None]:
        handle = super().create_task_handler(*args, **kwargs)
        # kombu's Redis transport counts KeyError as a lost connection; here it is a malformed message.
        lost_connection = tuple(e for e in (*self.connection_errors, *self.channel_errors) if e is not KeyError)

        def on_task_received(message: Any) -> None:
            try:
                headers = message.headers if isinstance(message.headers, dict) else {}
                if "task" in headers:
                    if message.content_type != "application/json":
                        raise NotOurMessage(f"content type {message.content_type!r} is not JSON")
                    check_task_message(headers, message.decode(), datetime.now(UTC))
                    self._count_redelivery(message, headers)
                elif not self._plain_json(message):
                    return
                handle(message)
            except lost_connection:
                raise
            except Exception as exc:  # noqa: BLE001 - fail closed: a message the checks cannot pass is dropped with its reason
                _drop(message, f"{type(exc).__name__}: {str(exc)[:200]}")

        return on_task_received

    def _count_redelivery(self, message: Any, headers: dict[str, Any]) -> None:
        """A message whose workers keep dying before they settle it is dropped (tasks.base fails its
        cycle a little earlier, when the task itself starts)."""
        if not (message.delivery_info or {}).get("redelivered"):
            return
        deliveries = redeliveries.count(self.app.conf.broker_url, headers["id"], headers.get("retries", 0),
                                        add=True)
        if deliveries > MAX_DELIVERIES + 2:
            raise NotOurMessage(f"delivered {deliveries} times and never settled: its worker died each time")

    def _plain_json(self, message: Any) -> bool:
        """A message without a task header must be JSON, and not a task of Celery's protocol 1."""
        try:
            body = message.decode()
        except Exception as exc:  # noqa: BLE001 - undecodable: handed to on_decode_error, as Celery's own consumer does
            self.on_decode_error(message, exc)
            return False
        if isinstance(body, dict) and "task" in body:
            _drop(message, "Celery protocol 1 task messages are not accepted")
            return False
        return True

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
