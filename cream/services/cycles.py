"""The cycle's record: opening it once per hour, checkpoints after every phase, its outcome."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cream import ids
from cream.schemas.cycle import (
    CHECKPOINTS,
    TERMINAL,
    Acted,
    CheckpointData,
    CycleStatus,
    Gated,
    Observed,
    Oriented,
    Phase,
    Planned,
    Resumed,
    RiskChecked,
)
from cream.schemas.trigger import CycleTrigger
from cream.storage.db import insert_later, session_url, sole_writer
from cream.storage.models import AgentOutput, Checkpoint, Cycle
from cream.storage.types import utcnow
from cream.storage.writes import insert_once

log = logging.getLogger(__name__)


def open_cycle(session: Session, trigger: CycleTrigger, symbols: list[str]) -> tuple[Cycle, bool]:
    """Create the cycle of this environment, book and hour; (cycle, False) if it already exists."""
    cid = ids.cycle_id(trigger.environment, trigger.book, trigger.scheduled_for)
    row = Cycle(id=cid, environment=trigger.environment.value, book=trigger.book,
                scheduled_for=trigger.scheduled_for, symbols=symbols, source=trigger.source,
                status=CycleStatus.RUNNING.value, iterations=0, started_at=utcnow())
    row, created = insert_once(session, row, cid)
    if created:  # what its phases will ask for, known without a query
        session.info.setdefault("cycles", {})[cid] = row
        session.info.setdefault("opened", set()).add(cid)
    return row, created


def opened_here(session: Session, cycle_id: str) -> bool:
    """In one transaction with no other writer: the cycle was opened by it, so whatever the cycle has
    recorded (checkpoints, agent outputs) this session wrote and holds; nothing needs reading."""
    return sole_writer(session) and cycle_id in session.info.get("opened", ())


def get_cycle(session: Session, cycle_id: str) -> Cycle:
    """The cycle's row, looked up once per session (its phases ask for it many times)."""
    known: dict[str, Cycle] = session.info.setdefault("cycles", {})
    row = known.get(cycle_id)
    if row is None:
        row = session.get(Cycle, cycle_id)
        if row is None:
            raise LookupError(f"no cycle {cycle_id}")
        known[cycle_id] = row  # held for the session (its identity map is weak)
    return row


class CycleEnded(Exception):
    """The cycle has ended (EXECUTED, NO_TRADE, FAILED): a step of it that arrives now does nothing."""

    def __init__(self, cycle_id: str, status: str) -> None:
        super().__init__(f"cycle {cycle_id} already {status}")
        self.cycle_id, self.status = cycle_id, status


def running(session: Session, cycle_id: str) -> Cycle:
    """The cycle, if it is still RUNNING; CycleEnded otherwise (LookupError if there is none)."""
    row = get_cycle(session, cycle_id)
    if CycleStatus(row.status) in TERMINAL:
        raise CycleEnded(cycle_id, row.status)
    return row


def checkpoint_id(cycle_id: str, phase: Phase, iteration: int = 0) -> str:
    return f"{cycle_id}:{phase.value}:{iteration}"


T = TypeVar("T", bound=CheckpointData)
PHASE_OF: dict[type[CheckpointData], Phase] = {
    Observed: Phase.OBSERVE, Oriented: Phase.ORIENT, Planned: Phase.TRADER, Gated: Phase.GATE,
    RiskChecked: Phase.RISK_CHECK, Acted: Phase.ACT, Resumed: Phase.RESUME}


def record(session: Session, cycle_id: str, data: T, iteration: int = 0,
           phase: Phase | None = None) -> tuple[T, bool]:
    """Record that the phase of ``data`` finished (``phase`` names it where one kind serves two); the first
    record wins and is returned, with whether this call wrote it (the one that hands the cycle on)."""
    phase = phase or PHASE_OF[type(data)]
    if not isinstance(data, CHECKPOINTS[phase]):
        raise TypeError(f"{phase.value} records a {CHECKPOINTS[phase].__name__}, not a {type(data).__name__}")
    key = checkpoint_id(cycle_id, phase, iteration)
    row = Checkpoint(id=key, cycle_id=cycle_id, phase=phase.value, iteration=iteration,
                     data=data.model_dump(mode="json"), created_at=utcnow())
    known = _known(session, cycle_id)
    if known is None:
        row, created = insert_once(session, row, key)
    elif key in known:
        row, created = known[key], False
    else:  # only this session reads it back (from ``known``) before the cycle commits
        insert_later(session, row)
        known[key], created = row, True
    if created:
        row.typed = data  # type: ignore[attr-defined]  # read back within this session without validating
        return data, True
    return type(data).model_validate(row.data), False


def load(session: Session, cycle_id: str, kind: type[T], iteration: int = 0, phase: Phase | None = None) -> T | None:
    """The recorded checkpoint of ``kind`` (validated: a stored one that does not fit raises), or None."""
    key = checkpoint_id(cycle_id, phase or PHASE_OF[kind], iteration)
    known = _known(session, cycle_id)
    shared = _shared_key(session, cycle_id, key)
    if shared is not None:
        hit = _COMMITTED.get(shared)
        if isinstance(hit, kind):
            return hit
    row = session.get(Checkpoint, key) if known is None else known.get(key)
    if row is None:
        return None
    typed = getattr(row, "typed", None)  # validated once per row object (checkpoints never change)
    if not isinstance(typed, kind):
        typed = row.typed = kind.model_validate(row.data)  # type: ignore[attr-defined]
        if shared is not None:  # read from the database, not written by this session: committed
            _COMMITTED.put(shared, typed)
    return typed


class _Memo:
    """Checkpoints this process has read, validated, by (database, checkpoint, the cycle's start): a
    checkpoint never changes once recorded, and another database, or the same cycle id opened again after
    its rows were deleted, gives another key. Bounded (least recently used go first); shared by threads."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict[tuple[str, str, datetime], CheckpointData](), threading.Lock()

    def get(self, key: tuple[str, str, datetime]) -> CheckpointData | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, datetime], value: CheckpointData) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_COMMITTED = _Memo(256)


def _shared_key(session: Session, cycle_id: str, checkpoint: str) -> tuple[str, str, datetime] | None:
    """The process-wide key of a checkpoint, when this session may use the memo: it has read its cycle
    already (``get_cycle``: its start is known without a query) and is not ``one_transaction``'s, whose
    rows are not committed until the whole cycle is."""
    url = session_url(session)
    cycle = session.info.get("cycles", {}).get(cycle_id)
    if url is None or cycle is None or sole_writer(session):
        return None
    return url, checkpoint, cycle.started_at


def require(session: Session, cycle_id: str, kind: type[T], iteration: int = 0, phase: Phase | None = None) -> T:
    """Like ``load``, for a phase that must have run: LookupError naming it otherwise."""
    found = load(session, cycle_id, kind, iteration, phase)
    if found is None:
        raise LookupError(f"cycle {cycle_id} has no {(phase or PHASE_OF[kind]).value} checkpoint")
    return found


def _known(session: Session, cycle_id: str) -> dict[str, Checkpoint] | None:
    """In one transaction with no other writer (``storage.db.one_transaction``): the cycle's checkpoints by
    id, read in one query, then kept by the session's own records; otherwise None (read each one)."""
    if not sole_writer(session):
        return None
    memo: dict[str, dict[str, Checkpoint]] = session.info.setdefault("checkpoints", {})
    if cycle_id not in memo:
        memo[cycle_id] = {} if opened_here(session, cycle_id) else \
            {r.id: r for r in session.scalars(select(Checkpoint).where(Checkpoint.cycle_id == cycle_id))}
    return memo[cycle_id]


def checkpoints(session: Session, cycle_id: str) -> list[Checkpoint]:
    known = _known(session, cycle_id)
    if known is not None:
        return sorted(known.values(), key=lambda c: (c.created_at, c.id))
    return list(session.scalars(
        select(Checkpoint).where(Checkpoint.cycle_id == cycle_id).order_by(Checkpoint.created_at, Checkpoint.id)
    ))


def finish(session: Session, cycle_id: str, status: CycleStatus, reason: str | None) -> bool:
    """Move a RUNNING cycle to its outcome; a cycle that already ended keeps its first outcome."""
    row = get_cycle(session, cycle_id)
    if row.status != CycleStatus.RUNNING.value:
        return False
    row.status, row.reason, row.completed_at = status.value, reason, utcnow()
    log.info("cycle %s ended %s%s", cycle_id, status.value, f": {reason}" if reason else "")
    return True


def quiet_cycles(session: Session, older_than: datetime) -> list[tuple[Cycle, datetime]]:
    """RUNNING cycles with no checkpoint and no agent output (nor a start) since ``older_than``, each
    with the time it last moved."""
    out = []
    for row in session.scalars(select(Cycle).where(Cycle.status == CycleStatus.RUNNING.value)):
        moved = max(filter(None, [
            row.started_at,
            session.scalar(select(func.max(Checkpoint.created_at)).where(Checkpoint.cycle_id == row.id)),
            session.scalar(select(func.max(AgentOutput.created_at)).where(AgentOutput.cycle_id == row.id))]))
        if moved < older_than:
            out.append((row, moved))
    return out


def conclude(session: Session, cycle_id: str, status: CycleStatus, reason: str | None) -> bool:
    """End the cycle and record the book's snapshot at its hour (the equity curve of a backtest).

    A cycle that fails before its book exists (at observe) ends without a snapshot."""
    from cream.services import portfolio  # the book is only needed at the end
    from cream.storage.models import Book

    row = get_cycle(session, cycle_id)
    ended = finish(session, cycle_id, status, reason)
    if session.get(Book, row.book) is not None:
        portfolio.snapshot(session, row.book, cycle_id, row.scheduled_for)
    return ended


REASON_CHARS = 2000


def fail(session: Session, cycle_id: str, reason: str) -> bool:
    """End a RUNNING cycle FAILED with ``reason``; False if there is no such cycle or it had ended."""
    if session.get(Cycle, cycle_id) is None:
        log.error("cannot fail cycle %s (%s): there is no such cycle", cycle_id, reason)
        return False
    return conclude(session, cycle_id, CycleStatus.FAILED, reason[:REASON_CHARS])
