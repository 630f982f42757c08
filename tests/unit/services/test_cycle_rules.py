"""Every agent of a cycle reasons with the rules that were ACTIVE when the cycle observed (recorded in its
observe checkpoint), whatever is promoted while it runs; a checkpoint recorded before they were kept reads
the ACTIVE ones."""

from __future__ import annotations

from datetime import UTC, datetime

from cream import runtime
from cream.schemas.agents import AgentType
from cream.schemas.cycle import Observed
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline
from cream.services.decide import build_context
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from tests.unit.services.books import new_book

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)


def _cycle(book: str, hour: int) -> str:
    with session_scope() as s:
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT.replace(
            hour=hour), book=book), ["XLK"])
        return cycle.id


def _seen_with(observed: Observed, book: str, hour: int) -> float:
    """The max_units an analyst reasons with in a cycle that recorded ``observed``."""
    cycle_id = _cycle(book, hour)
    with session_scope() as s:
        cycles.record(s, cycle_id, observed)
    pipeline.orient_phase(cycle_id, runtime.PORTS, again=False)
    with session_scope(readonly=True) as s:
        return build_context(s, cycle_id, AgentType.TECHNICAL_ANALYST, "XLK", 0).rules.max_units


def test_the_rules_observed_are_the_ones_every_agent_reasons_with() -> None:
    book = new_book("rules")
    first = _cycle(book, 14)
    pipeline.observe_phase(first, runtime.PORTS, again=False)
    with session_scope(readonly=True) as s:
        observed = cycles.load(s, first, Observed)
        active = active_trading_config(s, Environment.BACKTEST).rules
    assert observed is not None and observed.rules == active
    # as if another config had been promoted after the cycle observed: its checkpoint's rules count
    other = observed.model_copy(update={"rules": active.model_copy(update={"max_units": active.max_units + 7})})
    assert _seen_with(other, book, 15) == active.max_units + 7
    # recorded before the rules were kept: the ACTIVE ones
    assert _seen_with(observed.model_copy(update={"rules": None}), book, 16) == active.max_units
