"""The fleet runner's canvas: the steps a phase returns (cream.services.pipeline) sent as Celery tasks.

A step's successors go out as one signature, or as a group when they run side by side (the agents of a
phase fan out across workers). Each task sends the steps its phase returned, so the cycle moves one
recorded phase at a time; a group's members hand on to its join, which we keep ourselves instead of a
Celery chord: a member counts the phase's outputs in the database and sends the join when all are there,
and the join checks again. Celery's chord counter counts completions, not members: a member that
finished, died before its ack and ran again was counted twice, the join fired early and never again.
"""

from __future__ import annotations

from celery import group, signature
from celery.canvas import Signature

from cream.schemas.agents import ANALYSTS, RESEARCHERS
from cream.services.pipeline import Next, Step, StepKind, step_name


def step_signature(cycle_id: str, step: Step) -> Signature:
    if step.agent in ANALYSTS or step.agent in RESEARCHERS:
        args: tuple[object, ...] = (cycle_id, step.symbol)
    elif step.agent is not None or step.kind is StepKind.GATE:
        args = (cycle_id, step.iteration)
    else:
        args = (cycle_id,)
    return signature(step_name(step), args=args, immutable=True)


def canvas(cycle_id: str, steps: Next) -> Signature | None:
    """The signature that runs ``steps`` side by side; None when there are none."""
    if not steps:
        return None
    if len(steps) == 1:
        return step_signature(cycle_id, steps[0])
    return group([step_signature(cycle_id, s) for s in steps])


def send(cycle_id: str, steps: Next) -> None:
    sig = canvas(cycle_id, steps)
    if sig is not None:
        sig.apply_async()
