"""A token bucket shared by every worker process through Redis.

Refill and take happen in one Lua script, so concurrent workers can never both spend the last
token, and the clock is Redis's own (``TIME``), so workers with skewed clocks still agree. A bucket
left idle expires and comes back full.
"""

from __future__ import annotations

import time

import redis

from cream.errors import ConfigurationError, TransientError

# KEYS[1] bucket; ARGV: rate (tokens/s), capacity. Returns {granted (0/1), seconds to wait (string)}.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local granted = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  granted = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {granted, tostring(wait)}
"""


class RedisTokenBucket:
    """``rate`` requests per second on average, bursts of at most ``capacity``, for all holders of ``name``."""

    def __init__(self, client: redis.Redis, name: str, rate: float, capacity: float,
                 prefix: str = "cream:ratelimit:") -> None:
        if rate <= 0 or capacity < 1:
            raise ConfigurationError(f"rate limit {name!r}: rate must be > 0 and capacity >= 1 "
                                     f"(got rate={rate}, capacity={capacity})")
        self.name, self.rate, self.capacity = name, float(rate), float(capacity)
        self._key = prefix + name
        self._take = client.register_script(_TAKE)

    @classmethod
    def from_url(cls, url: str, name: str, rate: float, capacity: float) -> RedisTokenBucket:
        return cls(redis.Redis.from_url(url), name, rate, capacity)

    def __repr__(self) -> str:
        return f"RedisTokenBucket({self.name!r}, rate={self.rate}/s, capacity={self.capacity})"

    def try_acquire(self) -> float:
        """Take one token if there is one: 0.0 when taken, else the seconds until one is due."""
        try:
            granted, wait = self._take(keys=[self._key], args=[self.rate, self.capacity])
        except redis.RedisError as exc:
            raise TransientError(f"rate limiter {self.name!r} cannot reach Redis ({exc}): retry later") from exc
        return 0.0 if int(granted) else max(float(wait), 0.001)

    def acquire(self, timeout: float = 30.0) -> None:
        """Block until a token is taken; TransientError if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransientError(f"rate limit {self.name!r} ({self.rate:g}/s) gave no token within "
                                     f"{timeout:g}s: retry later")
            time.sleep(min(wait, left))
