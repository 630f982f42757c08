"""Orchestration (queue `cycles`): start a cycle once per hour, join the chords, gate, resume stalled ones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.exceptions import Ignore

from cream import market_calendar, runtime
from cream.config import get_settings
from cream.errors import ConfigurationError, InvalidTrigger, UnknownInstrument
from cream.schemas.agents import ANALYSTS, RESEARCHERS
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.services.approval import GateOutcome, gate
from cream.services.cycles import CycleStatus, Phase
from cream.services.decide import outputs
from cream.services.llm_budget import over_budget
from cream.services.runtime_config import active_trading_config, active_universe
from cream.storage.db import session_scope
from tasks.base import cream_task, ensure_running
from tasks.canvas import cycle_canvas
from workers.triggers import parse_trigger

log = logging.getLogger("cream.cycles")
STALL_AFTER = timedelta(minutes=15)  # no checkpoint for this long: the cycle's messages were lost
MAX_RESUMES = 3


def validate_trigger(body: Any) -> CycleTrigger:
    """A trigger this fleet may run, or InvalidTrigger saying why not."""
    try:
        trigger = parse_trigger(body)
    except ValueError as exc:
        raise InvalidTrigger(str(exc)) from None
    fleet_env = get_settings().env
    if trigger.environment is not fleet_env:
        raise InvalidTrigger(f"trigger is for {trigger.environment.value}, this fleet runs {fleet_env.value}")
    if trigger.environment is not Environment.BACKTEST and not market_calendar.is_cycle_time(trigger.scheduled_for):
        raise InvalidTrigger(f"{trigger.scheduled_for.isoformat()} is not a cycle hour of the NYSE session")
    return trigger


def resolve_symbols(trigger: CycleTrigger) -> list[str]:
    with session_scope() as s:
        symbols = trigger.symbols or active_universe(s, trigger.environment)
    known = set(runtime.market_data().symbols())
    unknown = [x for x in symbols if x not in known]
    if unknown:
        raise UnknownInstrument(f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if trigger.environment is not Environment.BACKTEST:  # the broker decides what can be traded today
        with session_scope(readonly=True) as s:
            config = active_trading_config(s, trigger.environment)
        tradable = runtime.broker(trigger.environment, config).tradable(symbols)
        refused = [x for x in symbols if not tradable.get(x)]
        if refused:
            log.warning("not tradable at the broker, left out of the cycle: %s", ", ".join(refused))
        symbols = [x for x in symbols if tradable.get(x)]
        if not symbols:
            raise UnknownInstrument(f"none of {', '.join(refused)} is tradable at the broker")
    return symbols


@cream_task("cycles.start", keep_result=True)
def start_cycle(trigger: dict[str, Any]) -> dict[str, Any]:
    """Open the cycle of the trigger's hour and launch its canvas; a second trigger of that hour is a no-op."""
    try:
        t = validate_trigger(trigger)
        symbols = resolve_symbols(t)
    except (InvalidTrigger, UnknownInstrument, ConfigurationError) as exc:
        log.error("rejected cycle trigger: %s", exc)
        return {"status": "REJECTED", "reason": str(exc)}
    with session_scope() as s:
        row, created = cycles.open_cycle(s, t, symbols)
        cycle_id, status = row.id, row.status
    if not created:
        log.info("cycle %s was already triggered (%s): not run again", cycle_id, status)
        return {"status": "DUPLICATE", "cycle_id": cycle_id, "cycle_status": status}
    cycle_canvas(cycle_id, symbols).apply_async()
    log.info("cycle %s started for %s (%s)", cycle_id, ", ".join(symbols), t.source)
    return {"status": "STARTED", "cycle_id": cycle_id}


@cream_task("cycles.analysts_done")
def analysts_done(cycle_id: str) -> None:
    _join(cycle_id, Phase.ANALYSTS)


@cream_task("cycles.research_done")
def research_done(cycle_id: str) -> None:
    _join(cycle_id, Phase.RESEARCH)


def _join(cycle_id: str, phase: Phase) -> None:
    ensure_running(cycle_id)
    agents = ANALYSTS if phase is Phase.ANALYSTS else RESEARCHERS
    with session_scope() as s:
        rows = outputs(s, cycle_id, agents, 0)
        summary = {f"{r.agent_type}/{r.symbol}": r.status for r in rows}
        cycles.save_checkpoint(s, cycle_id, phase, {"outputs": summary})
        spent = over_budget(s, cycle_id)
        if spent:
            cycles.conclude(s, cycle_id, CycleStatus.NO_TRADE, spent)
    if spent:
        log.warning("cycle %s ends NO_TRADE: %s", cycle_id, spent)
        raise Ignore()


@cream_task("cycles.gate")
def gate_plan(cycle_id: str, iteration: int) -> dict[str, Any]:
    ensure_running(cycle_id)
    with session_scope() as s:
        env = Environment(cycles.get_cycle(s, cycle_id).environment)
        limit = active_trading_config(s, env).max_consensus_iterations
        data = gate(s, cycle_id, iteration, limit)
    outcome = GateOutcome(data["outcome"])
    if outcome is GateOutcome.APPROVED:
        cycle_canvas(cycle_id, [], after=Phase.APPROVAL).apply_async()
    elif outcome is GateOutcome.REVISE:
        cycle_canvas(cycle_id, [], after=Phase.GATE, iteration=iteration).apply_async()
    return data


@cream_task("cycles.scheduled")
def scheduled_cycle() -> dict[str, Any]:
    """Beat's hourly entry: the cycle of the current session hour."""
    now = datetime.now(UTC)
    hour = market_calendar.last_cycle_time(now)
    if hour is None or now - hour > timedelta(minutes=5):
        return {"status": "SKIPPED", "reason": f"{now.isoformat()} is not a session cycle hour"}
    settings = get_settings()
    trigger = CycleTrigger(environment=settings.env, scheduled_for=hour, book=settings.book, source="beat")
    return start_cycle(trigger.model_dump(mode="json"))  # type: ignore[no-any-return]


@cream_task("cycles.recover")
def recover_stalled() -> list[str]:
    """Resume RUNNING cycles whose messages were lost, from their last checkpoint."""
    resumed = []
    with session_scope() as s:
        stalled = [(c.id, list(c.symbols)) for c in cycles.stale_cycles(s, datetime.now(UTC) - STALL_AFTER)]
    for cycle_id, symbols in stalled:
        if resume(cycle_id, symbols):
            resumed.append(cycle_id)
    return resumed


def resume(cycle_id: str, symbols: list[str]) -> bool:
    """Re-dispatch the canvas after the cycle's last checkpoint; give up (FAILED) after MAX_RESUMES."""
    with session_scope() as s:
        if cycles.get_cycle(s, cycle_id).status != CycleStatus.RUNNING.value:
            return False
        done = cycles.checkpoints(s, cycle_id)
        resumes = sum(1 for c in done if c.phase == Phase.RESUME.value)
        if resumes >= MAX_RESUMES:
            cycles.conclude(s, cycle_id, CycleStatus.FAILED, f"stalled {resumes} times; given up")
            return False
        last = next((c for c in reversed(done) if c.phase != Phase.RESUME.value), None)
        after = Phase(last.phase) if last else None
        iteration = last.iteration if last else 0
        if after is Phase.GATE and last is not None and last.data.get("outcome") == GateOutcome.APPROVED.value:
            after = Phase.APPROVAL
        cycles.save_checkpoint(s, cycle_id, Phase.RESUME, {"after": after.value if after else None}, resumes + 1)
    cycle_canvas(cycle_id, symbols, after=after, iteration=iteration).apply_async()
    log.warning("cycle %s resumed after %s", cycle_id, after.value if after else "start")
    return True
