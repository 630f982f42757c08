"""kombu's Redis transport, with one difference: an item in a queue that is not a kombu message is dropped.

Anyone who can write to the fleet's Redis can push anything into a queue's list. kombu decodes each item
it pops (``loads`` of a JSON envelope, then a ``Message`` from its fields) outside any handler of
Celery's: ``not json`` there raises out of the event loop and stops the worker ("Unrecoverable
error"). The item has already been popped, so dropping it, with a logged reason, loses nothing.

``workers.app`` registers this transport for the ``redis://`` and ``rediss://`` schemes.
"""

from __future__ import annotations

import logging
from queue import Empty
from typing import Any

from kombu.transport import redis

log = logging.getLogger("cream.transport")


class Channel(redis.Channel):
    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[no-untyped-call]  # kombu leaves it untyped
        except Empty:
            raise
        except Exception as exc:
            # kombu counts KeyError as a lost connection; from a popped item it means a malformed envelope.
            if isinstance(exc, self.connection_errors) and not isinstance(exc, KeyError):
                raise
            # The popped item was not a message: it is gone, the worker goes on.
            log.error("dropped an item of a queue that is not a message (%s: %.200s)", type(exc).__name__, exc)
            return True

    def _deliver_fanout_message(self, message: Any, exchange: Any) -> Any:
        try:
            return super()._deliver_fanout_message(message, exchange)  # type: ignore[no-untyped-call]  # as above
        except Exception as exc:  # noqa: BLE001 - a broadcast that is not a message is dropped and logged, never fatal
            log.error("dropped a broadcast that is not a message (%s: %.200s)", type(exc).__name__, exc)
            raise Empty() from None


class Transport(redis.Transport):
    Channel = Channel
