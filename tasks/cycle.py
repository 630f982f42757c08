"""Orchestration (queue `cycles`): start a cycle once per hour, join the agent groups, gate, resume stalled ones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from celery.exceptions import Ignore

from cream import clock, runtime
from cream.config import get_settings
from cream.errors import ConfigurationError, InvalidTrigger, UnknownInstrument
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger, parse_trigger
from cream.services import cycles
from cream.services.approval import GateOutcome, gate
from cream.services.cycle_hours import current_cycle_hour, require_cycle_hour
from cream.services.cycles import CycleStatus, Phase
from cream.services.decide import outputs, phase_complete
from cream.services.llm_budget import over_budget
from cream.services.runtime_config import active_trading_config, active_universe
from cream.storage.db import session_scope
from cream.timeouts import MAX_RESUMES, ORPHANED_AFTER
from tasks.args import CycleId, Iteration, TriggerBody
from tasks.base import cream_task, ensure_running, redelivered
from tasks.canvas import cycle_canvas
from workers.app import app, stall_after
from workers.inflight import cycles_in_flight

log = logging.getLogger("cream.cycles")


def validate_trigger(body: Any) -> CycleTrigger:
    """A trigger this fleet may run, or InvalidTrigger saying why not."""
    try:
        trigger = parse_trigger(body)
    except ValueError as exc:
        raise InvalidTrigger(str(exc)) from None
    fleet_env = get_settings().env
    if trigger.environment is not fleet_env:
        raise InvalidTrigger(f"trigger is for {trigger.environment.value}, this fleet runs {fleet_env.value}")
    require_cycle_hour(trigger.environment, trigger.scheduled_for, runtime.market_data())
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


@cream_task("cycles.start", keep_result=True, cycle_task=False)
def start_cycle(trigger: TriggerBody) -> dict[str, Any]:
    """Open the cycle of the trigger's hour and launch its canvas; a second trigger of that hour is a no-op."""
    return open_and_launch(trigger)


def open_and_launch(trigger: dict[str, Any]) -> dict[str, Any]:
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


@cream_task("cycles.analysts_done", bind=True)
def analysts_done(self: Any, cycle_id: CycleId) -> None:
    _join(cycle_id, Phase.ANALYSTS, redelivered(self))


@cream_task("cycles.research_done", bind=True)
def research_done(self: Any, cycle_id: CycleId) -> None:
    _join(cycle_id, Phase.RESEARCH, redelivered(self))


def _join(cycle_id: str, phase: Phase, again: bool) -> None:
    """Record the phase once all its outputs are in, then hand the cycle on (once: the writer of the
    checkpoint does, or a redelivered join whose first run may have died before it could)."""
    ensure_running(cycle_id)
    agents = ANALYSTS if phase is Phase.ANALYSTS else RESEARCHERS
    with session_scope() as s:
        if not phase_complete(s, cycle_id, agents, 0):
            return  # sent early by a member run twice: the last member sends it again
        rows = outputs(s, cycle_id, agents, 0)
        summary = {f"{r.agent_type}/{r.symbol}": r.status for r in rows}
        _, wrote = cycles.record_checkpoint(s, cycle_id, phase, {"outputs": summary})
        spent = over_budget(s, cycle_id)
        if spent:
            cycles.conclude(s, cycle_id, CycleStatus.NO_TRADE, spent)
        symbols = list(cycles.get_cycle(s, cycle_id).symbols)
    if spent:
        log.warning("cycle %s ends NO_TRADE: %s", cycle_id, spent)
        raise Ignore()
    if wrote or again:
        cycle_canvas(cycle_id, symbols, after=phase).apply_async()


@cream_task("cycles.gate", bind=True)
def gate_plan(self: Any, cycle_id: CycleId, iteration: Iteration) -> dict[str, Any] | None:
    ensure_running(cycle_id)
    with session_scope() as s:
        if not phase_complete(s, cycle_id, APPROVERS, iteration):
            return None
        env = Environment(cycles.get_cycle(s, cycle_id).environment)
        limit = active_trading_config(s, env).max_consensus_iterations
        data, wrote = gate(s, cycle_id, iteration, limit)
    outcome = GateOutcome(data["outcome"])
    if wrote or redelivered(self):
        if outcome is GateOutcome.APPROVED:
            cycle_canvas(cycle_id, [], after=Phase.APPROVAL).apply_async()
        elif outcome is GateOutcome.REVISE:
            cycle_canvas(cycle_id, [], after=Phase.GATE, iteration=iteration).apply_async()
    return data


@cream_task("cycles.scheduled", cycle_task=False)
def scheduled_cycle() -> dict[str, Any]:
    """Beat's hourly entry: the cycle of the current session hour, by the fleet's clock."""
    now = clock.now()
    hour = current_cycle_hour(now)
    if hour is None:
        return {"status": "SKIPPED", "reason": f"{now.isoformat()} is not within a session cycle hour"}
    settings = get_settings()
    trigger = CycleTrigger(environment=settings.env, scheduled_for=hour, book=settings.book, source="beat")
    return open_and_launch(trigger.model_dump(mode="json"))


@cream_task("cycles.recover", cycle_task=False)
def recover_stalled() -> list[str]:
    """Resume RUNNING cycles whose messages were lost, from their last checkpoint: at once if no message
    names them any more (workers.inflight), after the stall timeout otherwise. Each on its own, so one
    cycle that cannot be resumed never keeps the others waiting."""
    now, resumed = datetime.now(UTC), []
    with session_scope() as s:
        quiet = [(c.id, list(c.symbols), moved) for c, moved in cycles.quiet_cycles(s, now - ORPHANED_AFTER)]
    held = cycles_in_flight(redis.Redis.from_url(app.conf.broker_url), [c for c, _, _ in quiet])
    stalled = [(c, symbols) for c, symbols, moved in quiet if c not in held or moved < now - stall_after()]
    for cycle_id, symbols in stalled:
        try:
            if resume(cycle_id, symbols):
                resumed.append(cycle_id)
        except Exception as exc:  # this cycle cannot be resumed: it ends, the sweep goes on
            log.error("cycle %s cannot be resumed: %s: %s", cycle_id, type(exc).__name__, exc)
            with session_scope() as s:
                cycles.fail(s, cycle_id, f"could not be resumed: {type(exc).__name__}: {exc}")
    return resumed


RESUME_AT = {Phase.RISK_CHECK: Phase.APPROVAL, Phase.ACT: Phase.APPROVAL}


def resume(cycle_id: str, symbols: list[str]) -> bool:
    """Re-dispatch the canvas after the cycle's last checkpoint; give up (FAILED) after MAX_RESUMES."""
    with session_scope() as s:
        if cycles.get_cycle(s, cycle_id).status != CycleStatus.RUNNING.value:
            return False
        done = cycles.checkpoints(s, cycle_id)
        resumes = sum(1 for c in done if c.phase == Phase.RESUME.value)
        if resumes >= MAX_RESUMES:
            cycles.fail(s, cycle_id, f"stalled {resumes} times; given up")
            return False
        last = next((c for c in reversed(done) if c.phase != Phase.RESUME.value), None)
        after = Phase(last.phase) if last else None
        after = RESUME_AT.get(after, after) if after else None
        iteration = last.iteration if last else 0
        if after is Phase.GATE and last is not None and last.data.get("outcome") == GateOutcome.APPROVED.value:
            after = Phase.APPROVAL
        cycles.save_checkpoint(s, cycle_id, Phase.RESUME, {"after": after.value if after else None}, resumes + 1)
    cycle_canvas(cycle_id, symbols, after=after, iteration=iteration).apply_async()
    log.warning("cycle %s resumed after %s", cycle_id, after.value if after else "start")
    return True

