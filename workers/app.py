"""The Celery app of the Cream fleet.

Queues: ``cycles`` (orchestration), ``agents`` (agent calls), ``data`` (market data, features),
``execution`` (engine + broker). Every setting below that matters for money is deliberate.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Celery
from kombu.entity import Exchange, Queue
from kombu.transport import TRANSPORT_ALIASES

import beat_schedule
from cream import embedded_redis, timeouts
from cream.config import get_settings
from cream.errors import ConfigurationError
from cream.timeouts import TIME_LIMITS

QUEUES = ("cycles", "agents", "data", "execution")

# Our Redis transport drops queue items that are not messages instead of stopping (workers/transport.py).
TRANSPORT_ALIASES.update({"redis": "workers.transport:Transport", "rediss": "workers.transport:Transport"})


def llm_agents() -> bool:
    """Whether this fleet's agents are language models (their runs are the fleet's longest tasks)."""
    from cream.runtime import agent_kind

    return agent_kind(get_settings().env) != "rules"


def visibility_timeout() -> int:
    """CREAM_VISIBILITY_TIMEOUT, else the default for this fleet's agents (cream/timeouts.py)."""
    return get_settings().visibility_timeout or timeouts.default_visibility_s(llm_agents())


def stall_after() -> timedelta:
    """How long a RUNNING cycle may go without a checkpoint before its messages count as lost."""
    return timeouts.stall_after(visibility_timeout(), get_settings().restore_interval, llm_agents())


def _broker_url() -> str:
    settings = get_settings()
    url = settings.broker_url or embedded_redis.running_url(settings.data_dir)
    # No embedded Redis up and no URL given: point at nothing that could be someone else's Redis.
    return url or "redis://127.0.0.1:1/0"


def make_app() -> Celery:
    settings = get_settings()
    broker = _broker_url()
    app = Celery("cream", broker=broker, backend=settings.result_backend or broker)
    app.conf.update(
        # JSON only, in both directions: a pickle payload is refused, never executed.
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_accept_content=["json"], event_serializer="json",
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
        task_routes={f"{q}.*": {"queue": q, "routing_key": q} for q in QUEUES},
        task_default_queue="cycles", task_create_missing_queues=False,
        # A task is acknowledged only after it ran; if the process running it dies, the message goes
        # back to the queue (reject_on_worker_lost) instead of being silently lost.
        task_acks_late=True, task_reject_on_worker_lost=True,
        # Prefetch 1 on every worker (and so on `execution`): a worker holds one message per slot, so
        # nothing waits reserved behind a long task and a dead worker strands at most what it ran.
        worker_prefetch_multiplier=1,
        # Redis redelivers a reserved-but-unacked message after visibility_timeout. It must exceed the
        # longest task plus the longest retry countdown, or a task still running would be delivered a
        # second time (cream/timeouts.py has the table). Tests shorten it.
        # The sweep that puts such messages back runs every restore_interval seconds (kombu's default
        # would be 100 s); tests shorten both to prove redelivery inside their window.
        broker_transport_options={"visibility_timeout": visibility_timeout(),
                                  "unacked_restore_interval": settings.restore_interval,
                                  "unacked_restore_throttle": 1},
        # A message published while the broker is away (a restart) is retried for OUTAGE_TOLERANCE_S.
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": int(timeouts.OUTAGE_TOLERANCE_S), "interval_start": 0.2,
                                   "interval_step": 0.5, "interval_max": 1.0},
        # Results are only read by chord joins, within a cycle; a day is plenty, then Redis frees them.
        result_expires=24 * 3600, result_extended=False,
        task_soft_time_limit=TIME_LIMITS["cycles"][0], task_time_limit=TIME_LIMITS["cycles"][1],
        # Events for Flower.
        worker_send_task_events=True, task_send_sent_event=True,
        # A worker that loses the broker reconnects for ever, with kombu's backoff (2 s, 4 s, ... at most
        # 30 s apart), and logs each attempt ("Cannot connect ... Trying again in N seconds") and "Connected".
        broker_connection_retry=True, broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None, broker_connection_timeout=4.0,
        # External systems may publish a plain JSON trigger to `cycles` (see cream.schemas.trigger).
        worker_consumer="workers.consumer:GuardedConsumer",
        timezone="America/New_York", enable_utc=True,
        beat_schedule=beat_schedule.BEAT_SCHEDULE,
        imports=("tasks.cycle", "tasks.data", "tasks.agents", "tasks.execution"),
        worker_hijack_root_logger=False,
    )
    return app


try:
    app = make_app()
except (ConfigurationError, ValueError) as exc:  # a worker, beat or flower started with settings that cannot work
    from workers.lifecycle import refuse

    refuse(f"settings: {exc}")

import workers.lifecycle  # noqa: E402,F401  (signal handlers)
