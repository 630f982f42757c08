"""Small helpers shared by the integration tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select

from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.storage.db import session_scope
from cream.storage.models import AgentOutput, Checkpoint, Cycle, OrderRow

T = TypeVar("T")
# On the bundled sample, the rule-based agents buy XLK at this hour (a cycle that places an order).
ORDER_HOUR = datetime(2025, 9, 25, 19, tzinfo=UTC)


def trigger(book: str, hour: datetime = ORDER_HOUR, symbols: list[str] | None = None) -> CycleTrigger:
    return CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book=book, symbols=symbols,
                        source="test")


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def counts(cycle_id: str) -> dict[str, Any]:
    with session_scope() as s:
        return {
            "cycles": s.scalar(select(func.count()).select_from(Cycle).where(Cycle.id == cycle_id)),
            "outputs": s.scalar(select(func.count()).select_from(AgentOutput).where(AgentOutput.cycle_id == cycle_id)),
            "orders": s.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.cycle_id == cycle_id)),
            "checkpoints": sorted(s.scalars(select(Checkpoint.id).where(Checkpoint.cycle_id == cycle_id))),
        }


@contextmanager
def cream_environment(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process (and the workers it starts) under ``env``: migrated and seeded; restored after."""
    from cream.config import get_settings
    from cream.services.runtime_config import seed_defaults
    from cream.storage import db

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        db.migrate()
        with db.session_scope() as s:
            seed_defaults(s)
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
