"""Loaded into test workers (celery --include): when a flag file names a task, that task pauses at its
start and records its pid, so a test can kill the process while the task is in flight.

It only adds a pause in front of the real task; the task itself runs unchanged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_prerun


def _flag() -> Path:
    return Path(os.environ["CREAM_DATA_DIR"]) / "slow-task"


@task_prerun.connect
def _pause(task: Any = None, task_id: str = "", **_: Any) -> None:
    flag = _flag()
    if not flag.exists() or task is None or flag.read_text().strip() != task.name:
        return
    with open(flag.with_suffix(".pids"), "a") as f:
        f.write(f"{os.getpid()} {task_id}\n")
    deadline = time.monotonic() + 30
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
