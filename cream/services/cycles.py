"""The cycle's record: opening it once per hour, checkpoints after every phase, its outcome."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime
from functools import cache
from typing import Generic, NamedTuple, TypeVar, cast

from sqlalchemy import Insert, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


class CycleView(NamedTuple):
    """A cycle as a step reads it: its row in one statement, no ORM object (nothing but the status and
    the outcome ever changes on a cycle's row, and a step that ends the cycle does so through ``get_cycle``)."""

    id: str
    environment: str
    book: str
    scheduled_for: datetime
    symbols: list[str]
    status: str
    started_at: datetime


_CYCLES = Cycle.__table__
_CYCLE_VIEW = select(*(_CYCLES.c[f] for f in CycleView._fields)).where(_CYCLES.c.id == bindparam("id"))


def view(session: Session, cycle_id: str) -> CycleView:
    """The cycle, read once per session like ``get_cycle``, without building an ORM object: the steps of the
    fleet read their cycle on every task. A session holding the ORM row (``one_transaction``, or one that
    changed it) answers from that row."""
    row = session.info.get("cycles", {}).get(cycle_id)
    if row is None and sole_writer(session):
        row = get_cycle(session, cycle_id)
    if row is not None:
        return CycleView(*(getattr(row, f) for f in CycleView._fields))
    known: dict[str, CycleView] = session.info.setdefault("cycle_views", {})
    found = known.get(cycle_id)
    if found is None:
        read = session.execute(_CYCLE_VIEW, {"id": cycle_id}).first()
        if read is None:
            raise LookupError(f"no cycle {cycle_id}")
        found = known[cycle_id] = CycleView(*read)
    return found


def running_view(session: Session, cycle_id: str) -> CycleView:
    """Like ``running``, as a ``CycleView``."""
    found = view(session, cycle_id)
    if CycleStatus(found.status) in TERMINAL:
        raise CycleEnded(cycle_id, found.status)
    return found


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
    values = {"id": key, "cycle_id": cycle_id, "phase": phase.value, "iteration": iteration,
              "data": data.model_dump(mode="json"), "created_at": utcnow()}
    known = _known(session, cycle_id)
    if known is None:  # one statement: a checkpoint recorded first is left as it is (no savepoint, no read)
        inserted = session.execute(_insert_checkpoint(session), values).first()  # None: it was there
        if inserted is not None:
            session.info.setdefault("checkpoints_written", {})[key] = data  # read back without validating
            return data, True
        first = session.get(Checkpoint, key)
        if first is None:
            raise LookupError(f"checkpoint {key} was neither inserted nor found")
        return type(data).model_validate(first.data), False
    row = Checkpoint(**values)
    if key in known:
        row, created = known[key], False
    else:  # only this session reads it back (from ``known``) before the cycle commits
        insert_later(session, row)
        known[key], created = row, True
    if created:
        row.typed = data  # type: ignore[attr-defined]  # read back within this session without validating
        return data, True
    return type(data).model_validate(row.data), False


_CHECKPOINTS = cast(Table, Checkpoint.__table__)


@cache
def _insert_for(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING, not the row count: psycopg reports -1 for this statement as SQLAlchemy runs it.
    return insert(_CHECKPOINTS).on_conflict_do_nothing(index_elements=[_CHECKPOINTS.c.id]).returning(
        _CHECKPOINTS.c.id)


def _insert_checkpoint(session: Session) -> Insert:
    """INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id, built once per dialect."""
    return _insert_for(session.get_bind().dialect.name)


def load(session: Session, cycle_id: str, kind: type[T], iteration: int = 0, phase: Phase | None = None) -> T | None:
    """The recorded checkpoint of ``kind`` (validated: a stored one that does not fit raises), or None."""
    key = checkpoint_id(cycle_id, phase or PHASE_OF[kind], iteration)
    written = session.info.get("checkpoints_written", {}).get(key)
    if isinstance(written, kind):  # this session recorded it: not committed yet, so never in the memo
        return written
    known = _known(session, cycle_id)
    shared = memo_key(session, cycle_id, key)
    if shared is None:
        return _read(session, key, kind, known, None)
    hit = _COMMITTED.get(shared)
    if isinstance(hit, kind):
        return hit
    # One thread of the process reads and validates it; the others, started by the same phase at the same
    # moment (the agents' threads pool), wait for it instead of each doing the same.
    with _COMMITTED.filling(shared):
        hit = _COMMITTED.get(shared)
        if isinstance(hit, kind):
            return hit
        return _read(session, key, kind, known, shared)


def _read(session: Session, key: str, kind: type[T], known: dict[str, Checkpoint] | None,
          shared: MemoKey | None) -> T | None:
    row = session.get(Checkpoint, key) if known is None else known.get(key)
    if row is None:
        return None
    typed = getattr(row, "typed", None)  # validated once per row object (checkpoints never change)
    if not isinstance(typed, kind):
        typed = row.typed = kind.model_validate(row.data)  # type: ignore[attr-defined]
        if shared is not None:  # read from the database, not written by this session: committed
            _COMMITTED.put(shared, typed)
    return typed


V = TypeVar("V")
MemoKey = tuple[str, str, datetime]


class Memo(Generic[V]):
    """What this process has read and validated of a cycle's records, by (database, record, the cycle's
    start): a checkpoint (or an agent's output) never changes once recorded, and another database, or the
    same cycle id opened again after its rows were deleted, gives another key. Bounded (least recently
    used go first); shared by threads."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict[MemoKey, V](), threading.Lock()
        self.fills = tuple(threading.Lock() for _ in range(32))  # striped: one key's readers queue on one

    def filling(self, key: MemoKey) -> threading.Lock:
        """Held by the thread that reads ``key`` into the memo, while it does."""
        return self.fills[hash(key) % len(self.fills)]

    def get(self, key: MemoKey) -> V | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: MemoKey, value: V) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_COMMITTED = Memo[CheckpointData](256)


def memo_key(session: Session, cycle_id: str, record: str) -> MemoKey | None:
    """The process-wide key of a record of the cycle (a checkpoint's id), when this session may use a
    ``Memo``: it has read its cycle already (``get_cycle`` or ``view``: its start is known without a
    query) and is not ``one_transaction``'s, whose rows are not committed until the whole cycle is."""
    url = session_url(session)
    cycle = session.info.get("cycles", {}).get(cycle_id) or session.info.get("cycle_views", {}).get(cycle_id)
    if url is None or cycle is None or sole_writer(session):
        return None
    return url, record, cycle.started_at


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


def checkpoints(session: Session, cycle_id: str, phase: Phase | None = None) -> list[Checkpoint]:
    """The cycle's checkpoints in the order they were recorded (of ``phase`` only, if given: the others
    are not read, observe's and orient's are the cycle's largest rows)."""
    known = _known(session, cycle_id)
    if known is not None:
        return sorted((c for c in known.values() if phase is None or c.phase == phase.value),
                      key=lambda c: (c.created_at, c.id))
    query = select(Checkpoint).where(Checkpoint.cycle_id == cycle_id)
    if phase is not None:
        query = query.where(Checkpoint.phase == phase.value)
    return list(session.scalars(query.order_by(Checkpoint.created_at, Checkpoint.id)))


def finish(session: Session, cycle_id: str, status: CycleStatus, reason: str | None) -> bool:
    """Move a RUNNING cycle to its outcome; a cycle that already ended keeps its first outcome."""
    row = get_cycle(session, cycle_id)
    if row.status != CycleStatus.RUNNING.value:
        return False
    row.status, row.reason, row.completed_at = status.value, reason, utcnow()
    session.info.get("cycle_views", {}).pop(cycle_id, None)  # its status as read has changed
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
