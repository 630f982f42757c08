"""Client side of the fleet: trigger a cycle through the `cycles` queue and wait for its outcome.

The runner outlives what the fleet survives. A broker restart while it sends a trigger: it sends again
(the hour's cycle id makes a second trigger a no-op). A database outage while it waits: it keeps
waiting. A worker killed mid-cycle: its task comes back after the visibility timeout, and the runner
says so while it waits. A cycle whose messages were lost: a private fleet has no beat to sweep for
it, so whenever the cycle has been quiet a while the runner asks for the recovery sweep, which resumes
it if no message names it any more (or it has stalled for good).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis
from celery.exceptions import TimeoutError as ResultTimeout
from kombu.exceptions import OperationalError as BrokerDown
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import OperationalError as DatabaseDown

from cream.errors import CreamError, InvalidTrigger
from cream.schemas.cycle import TERMINAL, CycleStatus
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.storage.db import session_scope
from cream.storage.models import AgentOutput, Checkpoint, Cycle
from cream.timeouts import ORPHANED_AFTER, TRIGGER_ANSWER_S

log = logging.getLogger(__name__)
BROKER_ERRORS = (BrokerDown, redis.ConnectionError, redis.TimeoutError, ConnectionError)
QUIET_NOTICE_S = 60.0  # no progress for this long: tell the user what the fleet is waiting for
ASK_RECOVERY_S = ORPHANED_AFTER.total_seconds() + 5  # no progress for this long: ask for the recovery sweep
# Asked every 10 ms while a cycle runs, beside the workers: built once, it costs a fraction of a query built
# and loaded as a Cycle each time.
_STATUS = select(Cycle.__table__.c.status).where(Cycle.__table__.c.id == bindparam("id"))


class CycleTimeout(CreamError):
    """The cycle did not end in time: it may still be running; `cream status` shows it."""


class CycleRunner:
    def __init__(self, broker_url: str) -> None:
        from workers.app import make_app

        self.app = make_app()
        self.app.conf.broker_url = self.app.conf.result_backend = broker_url

    def start(self, trigger: CycleTrigger) -> dict[str, Any]:
        """Send the trigger; {"status": STARTED|DUPLICATE, "cycle_id": ..., "fresh": this call started it}."""
        deadline, sent_at, retried = time.monotonic() + TRIGGER_ANSWER_S, datetime.now(UTC), False
        while True:
            try:
                result = self.app.send_task("cycles.start", args=[trigger.model_dump(mode="json")], queue="cycles")
                answer: dict[str, Any] = result.get(timeout=max(1.0, deadline - time.monotonic()),
                                                    disable_sync_subtasks=False)
                result.forget()
                break
            except BROKER_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise CycleTimeout(f"the broker did not take the trigger within {TRIGGER_ANSWER_S:.0f}s "
                                       f"({type(exc).__name__}); is the fleet's Redis up?") from None
                log.warning("broker unavailable (%s); sending the trigger again", type(exc).__name__)
                time.sleep(1.0)
                retried = True
            except ResultTimeout:
                raise CycleTimeout(f"no worker answered the trigger within {TRIGGER_ANSWER_S:.0f}s; "
                                   "is the cycles worker running?") from None
        if answer["status"] == "REJECTED":
            raise InvalidTrigger(answer["reason"])
        answer["fresh"] = answer["status"] == "STARTED" or (retried and self._started_since(answer["cycle_id"], sent_at))
        return answer

    def wait(self, cycle_id: str, timeout: float | None = None, poll: float = 0.01) -> CycleStatus:
        """Block until the cycle ends (or ``timeout`` seconds pass, if given)."""
        from workers.app import visibility_timeout

        started = last_move = time.monotonic()
        mark: tuple[int, int] | None = None
        next_mark, told, asked = started, False, started
        while True:
            now = time.monotonic()
            try:
                status = self._status(cycle_id)
                if status in TERMINAL:
                    return status
                if now >= next_mark:
                    next_mark, seen = now + 1.0, self._progress(cycle_id)
                    if seen != mark:
                        mark, last_move, told = seen, now, False
            except DatabaseDown as exc:
                log.warning("database unavailable while waiting for %s (%s); still waiting",
                            cycle_id, type(exc.orig).__name__ if exc.orig else exc)
                time.sleep(1.0)
                continue
            quiet = now - last_move
            if quiet > QUIET_NOTICE_S and not told:
                log.warning("cycle %s: no progress for %.0fs; if a worker died, its task comes back after the "
                            "visibility timeout (%ss)", cycle_id, quiet, visibility_timeout())
                told = True
            if quiet > ASK_RECOVERY_S and now - asked > ASK_RECOVERY_S:
                self._ask_for_recovery()
                asked = now
            if timeout is not None and now - started > timeout:
                raise CycleTimeout(f"cycle {cycle_id} did not end within {timeout:g}s")
            time.sleep(poll)

    def run(self, trigger: CycleTrigger, timeout: float | None = None) -> tuple[str, bool]:
        """Start (or find) the trigger's cycle and wait until it ends; (cycle_id, newly run)."""
        answer = self.start(trigger)
        self.wait(answer["cycle_id"], timeout)
        return answer["cycle_id"], answer["fresh"]

    def close(self) -> None:
        self.app.close()

    @staticmethod
    def _status(cycle_id: str) -> CycleStatus:
        with session_scope(readonly=True) as s:
            status = s.scalar(_STATUS, {"id": cycle_id})
        if status is None:
            raise LookupError(f"no cycle {cycle_id}")
        return CycleStatus(status)

    @staticmethod
    def _progress(cycle_id: str) -> tuple[int, int]:
        with session_scope(readonly=True) as s:
            return (s.scalar(select(func.count()).select_from(Checkpoint).where(Checkpoint.cycle_id == cycle_id)) or 0,
                    s.scalar(select(func.count()).select_from(AgentOutput)
                             .where(AgentOutput.cycle_id == cycle_id)) or 0)

    @staticmethod
    def _started_since(cycle_id: str, sent_at: datetime) -> bool:
        """A DUPLICATE answer to a trigger sent again: the first sending may have started the cycle."""
        with session_scope(readonly=True) as s:
            return cycles.get_cycle(s, cycle_id).started_at >= sent_at

    def _ask_for_recovery(self) -> None:
        try:
            self.app.send_task("cycles.recover", queue="cycles")
        except BROKER_ERRORS as exc:
            log.warning("could not ask for recovery (%s); will ask again", type(exc).__name__)
