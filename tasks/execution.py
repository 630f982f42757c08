"""Act (queue `execution`): the engine's last word, then the broker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cream import runtime
from cream.config import get_settings
from cream.schemas.decisions import Environment
from cream.services import cycles, protection
from cream.services.act import act
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from cream.storage.models import Book
from tasks.args import CycleId
from tasks.base import cream_task, ensure_running


@cream_task("execution.act")
def execute_plan(cycle_id: CycleId) -> dict[str, Any]:
    ensure_running(cycle_id)
    with session_scope() as s:
        env = Environment(cycles.get_cycle(s, cycle_id).environment)
        broker = runtime.broker(env, active_trading_config(s, env))
    return act(cycle_id, broker)


@cream_task("execution.reconcile", keep_result=True, cycle_task=False)
def reconcile_with_broker() -> dict[str, Any]:
    """Beat's pass between cycles (PAPER, LIVE): each book's orders, the exits the broker made and the
    protection of what it holds, brought up to the broker (cream.services.protection). BACKTEST: nothing."""
    env = get_settings().env
    if env is Environment.BACKTEST:
        return {}
    with session_scope(readonly=True) as s:
        broker = runtime.broker(env, active_trading_config(s, env))
        books = list(s.scalars(select(Book.id).where(Book.environment == env.value).order_by(Book.id)))
    return {book: protection.reconcile_book(broker, book) for book in books}
