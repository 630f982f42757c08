"""Observe and orient (queue `data`)."""

from __future__ import annotations

from typing import Any

from cream import runtime
from cream.errors import ConfigurationError, UnknownInstrument
from cream.schemas.decisions import Environment
from cream.services import cycles, observe
from cream.services.cycles import Phase
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from tasks.base import cream_task, ensure_running, halt


@cream_task("data.observe")
def observe_market(cycle_id: str) -> None:
    ensure_running(cycle_id)
    try:
        with session_scope() as s:
            if cycles.load_checkpoint(s, cycle_id, Phase.OBSERVE) is None:
                env = Environment(cycles.get_cycle(s, cycle_id).environment)
                config = active_trading_config(s, env)
                data = observe.observe(s, cycle_id, runtime.market_data(), runtime.broker(env, config), config)
                cycles.save_checkpoint(s, cycle_id, Phase.OBSERVE, data)
    except (UnknownInstrument, ConfigurationError, LookupError) as exc:
        halt(cycle_id, exc)


@cream_task("data.orient")
def orient_features(cycle_id: str) -> None:
    ensure_running(cycle_id)
    try:
        with session_scope() as s:
            if cycles.load_checkpoint(s, cycle_id, Phase.ORIENT) is None:
                data: dict[str, Any] = observe.orient(s, cycle_id, runtime.market_data())
                cycles.save_checkpoint(s, cycle_id, Phase.ORIENT, data)
    except (UnknownInstrument, ConfigurationError, ValueError) as exc:
        halt(cycle_id, exc)
