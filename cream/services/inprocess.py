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
from cream.storage.db import session_scope
from cream.timeouts import RetryPlan, default_visibility_s, retry_plan

log = logging.getLogger(__name__)
# The fleet's plan for rule agents: a database outage of OUTAGE_TOLERANCE_S is ridden out the same way.
RETRIES = retry_plan(default_visibility_s(llm_agents=False))


class InProcessRunner:
    """Runs whole cycles in this process (the ``Runner`` port, as the fleet's ``cream.runner.CycleRunner``)."""

    def __init__(self, ports: Ports, retries: RetryPlan = RETRIES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ports, self.retries, self.sleep = ports, retries, sleep

    def run(self, trigger: CycleTrigger, timeout: float | None = None) -> tuple[str, bool]:
        """Open the trigger's cycle and run it to its end; (cycle_id, newly run). ``timeout`` is not used:
        nothing here waits on another process. Only BACKTEST cycles run here: PAPER and LIVE on the fleet."""
        if trigger.environment is not Environment.BACKTEST:
            raise InvalidRequest(f"{trigger.environment.value} cycles run on the fleet: in process only BACKTEST does")
        opened = pipeline.open_cycle(trigger.model_dump(mode="json"), Environment.BACKTEST, self.ports)
        if not opened.created:
            return opened.cycle_id, False
        self.drive(opened.cycle_id, pipeline.following(opened.symbols, None))
        return opened.cycle_id, True

    def drive(self, cycle_id: str, steps: Next, until: StepKind | None = None) -> None:
        """Run ``steps`` and every step they lead to, in order, until the cycle ends or fails (or a step of
        kind ``until`` is next: replay and evals stop before the gate or the act)."""
        todo = deque(steps)
        while todo:
            step = todo.popleft()
            if step.kind is until:
                return
            following = self.attempt(cycle_id, step)
            if following is None:
                return
            todo.extend(following)

    def attempt(self, cycle_id: str, step: Step) -> Next | None:
        """One step under the error policy; None when it ended the cycle FAILED."""
        name = pipeline.step_name(step)
        tries = 0
        while True:
            try:
                return pipeline.run(step, cycle_id, self.ports, again=tries > 0)
            except Exception as exc:  # the policy: retry what is transient, fail the cycle on anything else
                transient = is_transient(exc)
                if transient and tries < self.retries.retries:
                    wait = self.retries.countdown(tries, random.random())
                    log.warning("%s: %s: %s; retry %d/%d in %.1fs", name, type(exc).__name__, exc, tries + 1,
                                self.retries.retries, wait)
                    self.sleep(wait)
                    tries += 1
                    continue
                reason = failure_reason(name, exc, tries, transient)
                log.error("cycle %s fails: %s", cycle_id, reason, exc_info=not transient)
                with session_scope() as s:
                    cycles.fail(s, cycle_id, reason)
                return None
