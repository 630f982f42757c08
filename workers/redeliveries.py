"""How many times a message was delivered again after its worker died, counted in the fleet's Redis.

kombu marks a message put back after its worker died (or after the visibility timeout) as
``redelivered`` but does not count: a message that kills every worker that takes it would come back
forever. The consumer counts each redelivery (``count(..., add=True)``) and drops a message past
``MAX_DELIVERIES + 2``; a task of ours reads the count and, past ``MAX_DELIVERIES``, fails its cycle
with the reason (tasks.base).
"""

from __future__ import annotations

import os

import redis

_CLIENTS: dict[int, redis.Redis] = {}


def _client(broker_url: str) -> redis.Redis:
    client = _CLIENTS.get(os.getpid())  # one per process: prefork children must not share a socket
    if client is None:
        client = _CLIENTS[os.getpid()] = redis.Redis.from_url(broker_url, socket_timeout=5,
                                                              socket_connect_timeout=5)
    return client


def count(broker_url: str, task_id: str, retries: int, add: bool = False) -> int:
    """Deliveries of this message so far (this one included when ``add``); 1 if Redis cannot tell."""
    key = f"cream:redeliveries:{task_id}:{retries}"
    try:
        client = _client(broker_url)
        if add:
            with client.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, 86400)
                again, _ = pipe.execute()
        else:
            again = client.get(key) or 0
    except redis.RedisError:
        return 1  # the broker that just delivered it is away again: let it run; the next delivery counts
    return int(again) + 1
