"""Act (queue `execution`): the engine's last word, then the broker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cream import clock, market_calendar, runtime, timeouts
from cream.config import get_settings
from cream.schemas.decisions import Environment
from cream.services import child_orders, option_exits, pipeline, protection
from cream.services.runtime_config import active_trading_config
from cream.storage.book_lock import book_lock
from cream.storage.db import session_scope
from cream.storage.models import Book
from tasks.args import ChainLink, ClientOrderId, CycleId
from tasks.base import cream_task, ensure_running
from workers.app import visibility_timeout


@cream_task("execution.act")
def execute_plan(cycle_id: CycleId) -> dict[str, Any]:
    ensure_running(cycle_id)
    done = pipeline.act_phase(cycle_id, runtime.PORTS)
    for parent_id in done.working:  # a redelivered act restarts them: the old links go stale
        start_chain(parent_id)
    return done.model_dump(mode="json")


@cream_task("execution.work", cycle_task=False)
def work_order(parent_id: ClientOrderId, link: ChainLink) -> dict[str, Any]:
    """One link of the chain that works a parent order as child orders (PAPER, LIVE): send what is due,
    cancel what outlived its bars, then schedule the next link (cream.services.child_orders)."""
    env = get_settings().env
    with session_scope(readonly=True) as s:
        broker = runtime.broker(env, active_trading_config(s, env))
    step = child_orders.work(parent_id, link, broker)
    if step is None:
        return {"stale": True}  # another copy of this link ran, or the chain was restarted
    if step.done:
        return {"done": True}
    following = child_orders.arm(parent_id, after=link)
    if following is not None:
        countdown = max(1.0, min(step.wait_s, timeouts.work_step_s(visibility_timeout())))
        work_order.apply_async((parent_id, following), countdown=countdown)
    return {"next": following}


def start_chain(parent_id: str) -> int | None:
    """Start (or restart) the chain of a working parent: its current link is superseded."""
    link = child_orders.arm(parent_id)
    if link is not None:
        work_order.apply_async((parent_id, link), countdown=1.0)
    return link


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
    done = {book: protection.reconcile_book(broker, book) for book in books}
    quiet = timeouts.work_stalled_after(visibility_timeout())
    for book in books:  # a tactic's chain whose message was lost is started again
        restarted = [p for p in child_orders.working(book, quiet_for=quiet) if start_chain(p) is not None]
        if restarted:
            done[book]["tactic_chains_restarted"] = restarted
    return done


@cream_task("execution.watch_options", keep_result=True, cycle_task=False)
def watch_option_exits() -> dict[str, Any]:
    """Beat's watch of held options in session (PAPER, LIVE): an option's or a strategy's stop or target
    the quotes reach is exited at once, the broker holding no stop for it (cream.services.option_exits).
    Outside the session and in BACKTEST: nothing."""
    env = get_settings().env
    now = clock.now()
    if env is Environment.BACKTEST or not market_calendar.is_open(now):
        return {}
    with session_scope(readonly=True) as s:
        broker = runtime.broker(env, active_trading_config(s, env))
        books = list(s.scalars(select(Book.id).where(Book.environment == env.value).order_by(Book.id)))
    market = runtime.market_data()
    done = {}
    for book in books:
        with book_lock(book):
            found = option_exits.watch(broker, market, book, now)
        if found:
            done[book] = found
    return done
