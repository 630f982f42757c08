"""Observe and orient (queue `data`)."""

from __future__ import annotations

from typing import Any

from cream import runtime
from cream.schemas.decisions import Environment
from cream.services import cycles, observe, portfolio, protection
from cream.services.cycles import Phase
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from tasks.args import CycleId
from tasks.base import cream_task, ensure_running


@cream_task("data.observe")
def observe_market(cycle_id: CycleId) -> None:
    ensure_running(cycle_id)
    with session_scope(readonly=True) as s:
        if cycles.load_checkpoint(s, cycle_id, Phase.OBSERVE) is not None:
            return
        cycle = cycles.get_cycle(s, cycle_id)
        env, symbols, as_of = Environment(cycle.environment), list(cycle.symbols), cycle.scheduled_for
        book = cycle.book
        # Held positions and open entry orders outside the cycle's symbols need a mark too: the risk check
        # counts both, and fails closed on what it cannot price.
        held = [p.instrument_id for p in portfolio.positions(s, book)] + list(portfolio.working_entries(s, book))
        config = active_trading_config(s, env)
    broker = runtime.broker(env, config)
    # PAPER/LIVE, before anything else: orders, broker-side exits and protection brought up to the broker.
    reconciled = protection.reconcile_book(broker, book, cycle_id)
    account = broker.snapshot()  # PAPER/LIVE: the account as the broker records it
    held = sorted(set(held) | set(account.positions if account else ()))
    prices = observe.last_prices(runtime.market_data(), symbols, held, as_of)
    with session_scope() as s:
        if cycles.load_checkpoint(s, cycle_id, Phase.OBSERVE) is None:
            data = observe.observe(s, cycle_id, prices, broker, config, account)
            cycles.save_checkpoint(s, cycle_id, Phase.OBSERVE, {**data, "reconciliation": reconciled})


@cream_task("data.orient")
def orient_features(cycle_id: CycleId) -> None:
    ensure_running(cycle_id)
    with session_scope(readonly=True) as s:
        if cycles.load_checkpoint(s, cycle_id, Phase.ORIENT) is not None:
            return
        cycle = cycles.get_cycle(s, cycle_id)
        symbols, as_of = list(cycle.symbols), cycle.scheduled_for
    data: dict[str, Any] = observe.orient(runtime.market_data(), symbols, as_of)
    with session_scope() as s:
        cycles.save_checkpoint(s, cycle_id, Phase.ORIENT, data)
