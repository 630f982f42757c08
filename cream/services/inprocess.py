"""The in-process runner: a cycle's steps (``cream.services.pipeline``) called one after the other here.

For BACKTEST with deterministic agents (rules, or a replay of recorded replies), ``cream replay`` and
``cream evals``: no broker hop, no worker, the same phase functions, records and error policy as the fleet
(``cream.services.error_policy``): a transient failure is tried again after the same backoff, anything
else ends the cycle FAILED at once with the step's name and the reason. A backtest with LLM agents runs
on the fleet, where the agents of a group fan out across workers.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable

from cream.errors import InvalidRequest
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline
from cream.services.error_policy import failure_reason, is_transient
from cream.services.pipeline import Next, Ports, Step, StepKind
from cream.storage.db import one_transaction, session_scope
from cream.timeouts import RetryPlan, default_visibility_s, retry_plan

log = logging.getLogger(__name__)
# The fleet's plan for rule agents: a database outage of OUTAGE_TOLERANCE_S is ridden out the same way.
RETRIES = retry_plan(default_visibility_s(llm_agents=False))


class StepFailed(Exception):
    """A step of a cycle raised: which step, and what."""

    def __init__(self, step: str, error: Exception) -> None:
        super().__init__(f"{step}: {error}")
        self.step, self.error = step, error


class InProcessRunner:
    """Runs whole cycles in this process (the ``Runner`` port, as the fleet's ``cream.runner.CycleRunner``).

    ``run``: a BACKTEST cycle in one database transaction (``storage.db.one_transaction``), committed whole
    when it ends. A transient failure rolls it back and runs the cycle again from its start after the
    policy's backoff (nothing of it was recorded); anything else, or retries run out, rolls it back and
    records the cycle FAILED with the step and the reason (its partial records are not kept: a fleet
    cycle that fails keeps its checkpoints up to the failure).
    ``drive``: steps of a cycle that exists, each in its own transactions, a transient failure retried
    step by step (replay and evals, in a scratch database)."""

    def __init__(self, ports: Ports, retries: RetryPlan = RETRIES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ports, self.retries, self.sleep = ports, retries, sleep

    def run(self, trigger: CycleTrigger, timeout: float | None = None) -> tuple[str, bool]:
        """Open the trigger's cycle and run it to its end; (cycle_id, newly run). ``timeout`` is not used:
        nothing here waits on another process. Only BACKTEST cycles run here: PAPER and LIVE on the fleet."""
        if trigger.environment is not Environment.BACKTEST:
            raise InvalidRequest(f"{trigger.environment.value} cycles run on the fleet: in process only BACKTEST does")
        body = trigger.model_dump(mode="json")
        tries = 0
        while True:
            try:
                with one_transaction():
                    opened = pipeline.open_cycle(body, Environment.BACKTEST, self.ports)
                    todo = deque(pipeline.following(opened.symbols, None) if opened.created else ())
                    while todo:
                        todo.extend(self._step(opened.cycle_id, todo.popleft()))
                return opened.cycle_id, opened.created
            except StepFailed as failed:
                if self._again(failed, tries):
                    tries += 1
                    continue
                with session_scope():
                    opened = pipeline.open_cycle(body, Environment.BACKTEST, self.ports)  # its records rolled back
                self._fail(opened.cycle_id, failed, tries)
                return opened.cycle_id, True

    def drive(self, cycle_id: str, steps: Next, until: StepKind | None = None) -> None:
        """Run ``steps`` and every step they lead to, in order, until the cycle ends or fails (or a step of
        kind ``until`` is next: replay and evals stop before the act)."""
        todo = deque(steps)
        while todo:
            step = todo.popleft()
            if step.kind is until:
                return
            tries = 0
            while True:
                try:
                    todo.extend(self._step(cycle_id, step, again=tries > 0))
                    break
                except StepFailed as failed:
                    if self._again(failed, tries):
                        tries += 1
                        continue
                    self._fail(cycle_id, failed, tries)
                    return

    def _step(self, cycle_id: str, step: Step, again: bool = False) -> Next:
        """Run one step; the steps that follow it, or StepFailed naming it."""
        try:
            return pipeline.run(step, cycle_id, self.ports, again=again)
        except Exception as exc:  # the policy decides (_again, _fail): retried or the cycle FAILED
            raise StepFailed(pipeline.step_name(step), exc) from exc

    def _again(self, failed: StepFailed, tries: int) -> bool:
        """Whether to try again after a transient failure (having waited the policy's backoff)."""
        if not is_transient(failed.error) or tries >= self.retries.retries:
            return False
        wait = self.retries.countdown(tries, random.random())
        log.warning("%s: %s: %s; retry %d/%d in %.1fs", failed.step, type(failed.error).__name__, failed.error,
                    tries + 1, self.retries.retries, wait)
        self.sleep(wait)
        return True

    def _fail(self, cycle_id: str, failed: StepFailed, tries: int) -> None:
        transient = is_transient(failed.error)
        reason = failure_reason(failed.step, failed.error, tries, transient)
        log.error("cycle %s fails: %s", cycle_id, reason, exc_info=failed.error if not transient else None)
        with session_scope() as s:
            cycles.fail(s, cycle_id, reason)
