"""Observe and orient (queue `data`): ``cream.services.pipeline``'s first two steps."""

from __future__ import annotations

from typing import Any

from cream import runtime
from cream.services import pipeline
from cream.services.pipeline import Step, StepKind
from tasks.args import CycleId
from tasks.base import cream_task, retried
from tasks.canvas import send


@cream_task("data.observe", bind=True)
def observe_market(self: Any, cycle_id: CycleId) -> None:
    send(cycle_id, pipeline.run(Step(StepKind.OBSERVE), cycle_id, runtime.PORTS, again=retried(self)))


@cream_task("data.orient", bind=True)
def orient_features(self: Any, cycle_id: CycleId) -> None:
    send(cycle_id, pipeline.run(Step(StepKind.ORIENT), cycle_id, runtime.PORTS, again=retried(self)))
