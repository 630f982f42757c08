"""No-op tasks on each queue (loaded into the bench's workers with --include): the reference cycle.

They move a cycle of the same shape as ours, the way ours moves (``tasks.canvas``): a start task on
`cycles` whose answer the client waits for, then each task sends the steps that follow it, a group
side by side; the members of a group count themselves (a Redis INCR where ours count rows) and the last
one sends the join. The last step marks the run done, which the client polls for as ``CycleRunner``
polls the cycle's status. Same queues, same number of tasks, same fan-out; no work in any of them.
"""

from __future__ import annotations

from functools import cache

import redis
from celery import group, signature

from cream.timeouts import TIME_LIMITS
from workers.app import app


# (queue, tasks side by side) per stage, for n symbols: observe, orient, analysts, join, researchers,
# join, trader, approvers, gate, act.
def stages(n: int) -> list[tuple[str, int]]:
    return [("data", 1), ("data", 1), ("agents", 3 * n), ("cycles", 1), ("agents", 2 * n), ("cycles", 1),
            ("agents", 1), ("agents", 2), ("cycles", 1), ("execution", 1)]


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url)


def _limits(queue: str) -> dict[str, int]:
    """The queue's time limits, as our tasks have them (the consumer refuses a message that brings others)."""
    soft, hard = TIME_LIMITS[queue]
    return {"soft_time_limit": soft, "time_limit": hard}


def done_key(run: str) -> str:
    return f"bench-noop:{run}:done"


def _send(run: str, n: int, stage: int) -> None:
    queue, size = stages(n)[stage]
    sigs = [signature(f"{queue}.bench_step", args=(run, n, stage), immutable=True) for _ in range(size)]
    (sigs[0] if size == 1 else group(sigs)).apply_async()


def _step(run: str, n: int, stage: int) -> None:
    plan = stages(n)
    size = plan[stage][1]
    if size > 1 and _redis().incr(f"bench-noop:{run}:{stage}") != size:
        return  # not the last member of its group
    if stage + 1 == len(plan):
        _redis().set(done_key(run), 1, ex=3600)
    else:
        _send(run, n, stage + 1)


@app.task(name="cycles.bench_start", **_limits("cycles"))
def start(run: str, n: int) -> dict[str, str]:
    _send(run, n, 0)
    return {"status": "STARTED", "run": run}


@app.task(name="cycles.bench_step", ignore_result=True, **_limits("cycles"))
def cycles_step(run: str, n: int, stage: int) -> None:
    _step(run, n, stage)


@app.task(name="agents.bench_step", ignore_result=True, **_limits("agents"))
def agents_step(run: str, n: int, stage: int) -> None:
    _step(run, n, stage)


@app.task(name="data.bench_step", ignore_result=True, **_limits("data"))
def data_step(run: str, n: int, stage: int) -> None:
    _step(run, n, stage)


@app.task(name="execution.bench_step", ignore_result=True, **_limits("execution"))
def execution_step(run: str, n: int, stage: int) -> None:
    _step(run, n, stage)
