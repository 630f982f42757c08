"""Which cycles still have a message somewhere in the broker: queued, or held (unacknowledged) by a worker.

Every task of a cycle names it in its first argument, which Celery shows in the message's ``argsrepr``
header, and with ``acks_late`` a task's message stays in Redis's ``unacked`` hash until the task has
handed the cycle on. So a RUNNING cycle with no message anywhere, and no progress for a while, has lost
its messages: kombu pops a message (BRPOP) before it records it as unacknowledged, and a worker killed
between the two loses it. Such a cycle is resumed at once (tasks.cycle.recover_stalled) instead of
after the long stall timeout, which only waits for messages that will come back.
"""

from __future__ import annotations

import redis

from workers.app import QUEUES

SEP = "\x06\x16"  # kombu's separator of a queue's priority lists
PRIORITIES = (0, 3, 6, 9)
UNACKED = "unacked"


def _lists(queue: str) -> list[str]:
    return [queue if p == 0 else f"{queue}{SEP}{p}" for p in PRIORITIES]


def cycles_in_flight(client: redis.Redis, cycle_ids: list[str]) -> set[str]:
    """Those of ``cycle_ids`` that some queued or unacknowledged message names."""
    if not cycle_ids:
        return set()
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for key in _lists(queue):
                pipe.lrange(key, 0, -1)
        pipe.hvals(UNACKED)
        raw = b"\n".join(item for items in pipe.execute() for item in items)
    text = raw.decode(errors="replace")
    return {cycle_id for cycle_id in cycle_ids if cycle_id in text}
