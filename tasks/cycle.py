"""Orchestration (queue `cycles`): start a cycle once per hour, join the agent groups, gate, resume stalled ones.
The phases are ``cream.services.pipeline``'s; each task runs one step and sends the steps it returns."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis

from cream import clock, runtime
from cream.config import get_settings
from cream.errors import ConfigurationError, InvalidTrigger, UnknownInstrument
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline
from cream.services.cycle_hours import current_cycle_hour
from cream.services.pipeline import Step, StepKind
from cream.storage.db import session_scope
from cream.timeouts import MAX_RESUMES, ORPHANED_AFTER
from tasks.args import CycleId, Iteration, TriggerBody
from tasks.base import cream_task, retried
from tasks.canvas import send
from workers.app import app, stall_after
from workers.inflight import cycles_in_flight

log = logging.getLogger("cream.cycles")


@cream_task("cycles.start", keep_result=True, cycle_task=False)
def start_cycle(trigger: TriggerBody) -> dict[str, Any]:
    """Open the cycle of the trigger's hour and send its first step; a second trigger of that hour is a no-op."""
    return open_and_launch(trigger)


def open_and_launch(trigger: dict[str, Any]) -> dict[str, Any]:
    try:
        opened = pipeline.open_cycle(trigger, get_settings().env, runtime.PORTS)
    except (InvalidTrigger, UnknownInstrument, ConfigurationError) as exc:
        log.error("rejected cycle trigger: %s", exc)
        return {"status": "REJECTED", "reason": str(exc)}
    if not opened.created:
        log.info("cycle %s was already triggered (%s): not run again", opened.cycle_id, opened.status)
        return {"status": "DUPLICATE", "cycle_id": opened.cycle_id, "cycle_status": opened.status}
    send(opened.cycle_id, pipeline.following(opened.symbols, None))
    log.info("cycle %s started for %s (%s)", opened.cycle_id, ", ".join(opened.symbols), trigger.get("source"))
    return {"status": "STARTED", "cycle_id": opened.cycle_id}


@cream_task("cycles.analysts_done", bind=True)
def analysts_done(self: Any, cycle_id: CycleId) -> None:
    _step(self, cycle_id, Step(StepKind.ANALYSTS_DONE))


@cream_task("cycles.research_done", bind=True)
def research_done(self: Any, cycle_id: CycleId) -> None:
    _step(self, cycle_id, Step(StepKind.RESEARCH_DONE))


@cream_task("cycles.gate", bind=True)
def gate_plan(self: Any, cycle_id: CycleId, iteration: Iteration) -> None:
    _step(self, cycle_id, Step(StepKind.GATE, iteration=iteration))


def _step(task: Any, cycle_id: str, step: Step) -> None:
    send(cycle_id, pipeline.run(step, cycle_id, runtime.PORTS, again=retried(task)))


@cream_task("cycles.scheduled", cycle_task=False)
def scheduled_cycle() -> dict[str, Any]:
    """Beat's hourly entry: the cycle of the current session hour, by the fleet's clock."""
    now = clock.now()
    hour = current_cycle_hour(now)
    if hour is None:
        return {"status": "SKIPPED", "reason": f"{now.isoformat()} is not within a session cycle hour"}
    settings = get_settings()
    trigger = CycleTrigger(environment=settings.env, scheduled_for=hour, book=settings.book, source="beat")
    return open_and_launch(trigger.model_dump(mode="json"))


@cream_task("cycles.recover", cycle_task=False)
def recover_stalled() -> list[str]:
    """Resume RUNNING cycles whose messages were lost, from their last checkpoint: at once if no message
    names them any more (workers.inflight), after the stall timeout otherwise. Each on its own, so one
    cycle that cannot be resumed never keeps the others waiting."""
    now, resumed = datetime.now(UTC), []
    with session_scope() as s:
        quiet = [(c.id, moved) for c, moved in cycles.quiet_cycles(s, now - ORPHANED_AFTER)]
    held = cycles_in_flight(redis.Redis.from_url(app.conf.broker_url), [c for c, _ in quiet])
    stalled = [c for c, moved in quiet if c not in held or moved < now - stall_after()]
    for cycle_id in stalled:
        try:
            if resume(cycle_id):
                resumed.append(cycle_id)
        except Exception as exc:  # noqa: BLE001 - this cycle cannot be resumed: it ends, the sweep goes on
            log.error("cycle %s cannot be resumed: %s: %s", cycle_id, type(exc).__name__, exc)
            with session_scope() as s:
                cycles.fail(s, cycle_id, f"could not be resumed: {type(exc).__name__}: {exc}")
    return resumed


def resume(cycle_id: str) -> bool:
    """Send the steps after the cycle's last checkpoint again; give up (FAILED) after MAX_RESUMES."""
    point = pipeline.resume_point(cycle_id, MAX_RESUMES)
    if point is None:
        return False
    send(cycle_id, point[1])
    return True

