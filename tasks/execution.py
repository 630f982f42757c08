"""Act (queue `execution`): the engine's last word, then the broker."""

from __future__ import annotations

from typing import Any

from cream import runtime
from cream.schemas.decisions import Environment
from cream.services import cycles
from cream.services.act import act
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from tasks.args import CycleId
from tasks.base import cream_task, ensure_running


@cream_task("execution.act")
def execute_plan(cycle_id: CycleId) -> dict[str, Any]:
    ensure_running(cycle_id)
    with session_scope() as s:
        env = Environment(cycles.get_cycle(s, cycle_id).environment)
        broker = runtime.broker(env, active_trading_config(s, env))
    return act(cycle_id, broker)
