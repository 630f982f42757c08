"""Client side of the fleet: trigger a cycle through the `cycles` queue and wait for its outcome."""

from __future__ import annotations

import time
from typing import Any

from cream.errors import CreamError, InvalidTrigger
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.services.cycles import TERMINAL, CycleStatus
from cream.storage.db import session_scope


class CycleTimeout(CreamError):
    """The cycle did not end in time: it may still be running; `cream status` shows it."""


class CycleRunner:
    def __init__(self, broker_url: str) -> None:
        from workers.app import make_app

        self.app = make_app()
        self.app.conf.broker_url = self.app.conf.result_backend = broker_url

    def start(self, trigger: CycleTrigger) -> dict[str, Any]:
        """Send the trigger; returns {"status": STARTED|DUPLICATE, "cycle_id": ...}."""
        result = self.app.send_task("cycles.start", args=[trigger.model_dump(mode="json")], queue="cycles")
        answer: dict[str, Any] = result.get(timeout=60, disable_sync_subtasks=False)
        result.forget()
        if answer["status"] == "REJECTED":
            raise InvalidTrigger(answer["reason"])
        return answer

    def wait(self, cycle_id: str, timeout: float = 600.0, poll: float = 0.01) -> CycleStatus:
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(readonly=True) as s:
                status = CycleStatus(cycles.get_cycle(s, cycle_id).status)
            if status in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise CycleTimeout(f"cycle {cycle_id} still {status.value} after {timeout:.0f}s")
            time.sleep(poll)

    def run(self, trigger: CycleTrigger, timeout: float = 600.0) -> tuple[str, bool]:
        """Start (or find) the trigger's cycle and wait until it ends; (cycle_id, newly run)."""
        answer = self.start(trigger)
        self.wait(answer["cycle_id"], timeout)
        return answer["cycle_id"], answer["status"] == "STARTED"

    def close(self) -> None:
        self.app.close()
