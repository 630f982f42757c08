"""Loaded into test workers (celery --include): faults a test switches on with a file in the data dir.

- ``slow-task`` names a task: it pauses at its start and records its pid in ``slow-task.pids``, so a
  test can kill the process while the task is in flight.
- ``fault-task`` holds ``<task name> <transient|fatal> <times>``: the task's body raises that many
  times (a transient OperationalError, or a RuntimeError), as a bug or an outage in that phase would.
- ``pause-after-submit``: the simulated broker has answered an order and the execution worker pauses
  before writing the answer down (its pid in ``pause-after-submit.pids``).
- ``slow-submit`` holds seconds: the simulated broker takes that long over each order, and records it
  (``<pid> <client_order_id>`` in ``slow-submit.orders``) as it arrives.

Each fault only adds a pause or an exception around the real code, which runs unchanged otherwise.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_prerun, worker_init
from sqlalchemy.exc import OperationalError

from cream.adapters.sim_broker import SimulatedBroker


def _flag(name: str) -> Path:
    return Path(os.environ["CREAM_DATA_DIR"]) / name


def _hold(name: str, note: str) -> None:
    """Record our pid under ``name`` and wait while the flag file is there (at most 30 s)."""
    flag = _flag(name)
    with open(flag.with_suffix(".pids"), "a") as f:
        f.write(f"{os.getpid()} {note}\n")
    deadline = time.monotonic() + 30
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@task_prerun.connect
def _pause(task: Any = None, task_id: str = "", **_: Any) -> None:
    flag = _flag("slow-task")
    if task is not None and flag.exists() and flag.read_text().strip() == task.name:
        _hold("slow-task", task_id)


def _take_fault(name: str) -> str | None:
    """The fault kind if ``fault-task`` names this task and has faults left (one used up per call)."""
    flag = _flag("fault-task")
    try:
        task, kind, times = flag.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    if task != name or int(times) <= 0:
        return None
    flag.write_text(f"{task} {kind} {int(times) - 1}")
    return kind


def _faulty(task: Any) -> None:
    run = task.run

    @functools.wraps(run)
    def faulty_run(*args: Any, **kwargs: Any) -> Any:
        kind = _take_fault(task.name)
        if kind == "transient":
            raise OperationalError("SELECT 1", {}, Exception("injected: the database went away"))
        if kind == "fatal":
            raise RuntimeError(f"injected fault in {task.name}")
        return run(*args, **kwargs)

    task.run = faulty_run


def _pausing_submit() -> None:
    submit = SimulatedBroker.submit

    @functools.wraps(submit)
    def submit_then_pause(self: SimulatedBroker, order: Any) -> Any:
        slow = _flag("slow-submit")
        if slow.exists():
            with open(slow.with_suffix(".orders"), "a") as f:
                f.write(f"{os.getpid()} {order.client_order_id}\n")
            time.sleep(float(slow.read_text() or 0))
        answer = submit(self, order)
        if _flag("pause-after-submit").exists():
            _hold("pause-after-submit", order.client_order_id)
        return answer

    SimulatedBroker.submit = submit_then_pause  # type: ignore[method-assign]


@worker_init.connect
def _install(sender: Any = None, **_: Any) -> None:
    from workers.app import app

    for name, task in app.tasks.items():
        if name.split(".", 1)[0] in ("cycles", "agents", "data", "execution"):
            _faulty(task)
    _pausing_submit()
