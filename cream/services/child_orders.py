"""Execution tactics in PAPER and LIVE: a parent order worked as child orders over the bars that follow, as
the simulated broker works it in BACKTEST, with the same schedules (``cream.tactic_schedule``).

Alpaca has no TWAP, VWAP or iceberg orders, so the fleet sends the children itself:

- ``start`` (in act, under the book's lock) fixes the parent's schedule in an ``order_work`` row, marks the
  parent SUBMITTED (it never goes to the broker itself) and sends what is due at once.
- ``advance`` (under the book's lock) brings the open children up to the broker, cancels what outlived its
  bars, sends the children that are due, guards what has filled and, when nothing is left to work, gives
  the parent its final status. TWAP and VWAP children start on their bars (bar 0 is the cycle's hour);
  an ICEBERG slice starts once the one before it has filled; PASSIVE_LIMIT is one limit child at the touch
  (the plan's limit, else the price observe saw). Every child works WORKING_BARS bars from its start (its
  ``expires_at``); what rests at the broker then is canceled.
- Each child has its own id (``ids.child_order_id(parent, n)``) and is written as a PENDING intent before
  it is sent, under the book's lock: a second delivery of the work finds the row, and the broker refuses a
  second order with its id. A child refused by the broker is recorded REJECTED with the broker's reason and
  no further child is sent; one whose bars ended before it could go is recorded CANCELED, never sent late.
- Protection: children are plain orders (no bracket each). After a pass that filled shares of an entry,
  ``protection.protect`` gives the filled quantity the stop and target it lacks as one GTC OCO: what has
  filled is guarded at once, not hours later when the schedule ends. Before an exit child is sent, the
  position's protection is released (its shares could not be sold otherwise) and what is left is guarded
  again after it.
- The parent row shows the children's filled quantity, average price and fees
  (``order_lifecycle.roll_up``); the book was moved by each child's fills, once.

Who calls ``advance``: a chain of ``execution.work`` tasks, each of which schedules the next with a
countdown of at most ``timeouts.work_step_s`` (``link`` makes every other copy of a task a no-op; see
``arm``). The hourly bars are reached by many short countdowns, never one long one (a message waiting
for its countdown is held unacknowledged, and Redis would deliver it again after the visibility timeout).
Why a chain rather than beat sweeping due children: a child goes within one step of its bar's open
whatever else the fleet is doing, each pass holds the book's lock for one parent only, and the work
needs nothing but the execution queue; beat's reconciliation pass (and an execution worker's start)
only restarts a chain whose message was lost (``working(quiet_for=...)``), which is harmless if it
was not: the superseded link finds itself stale.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cream import clock, ids, market_calendar
from cream.errors import RejectedDefinitively, UnknownInstrument
from cream.ports import Broker, MarketData
from cream.schemas.cycle import Observed
from cream.schemas.decisions import ExecutionTactic, OrderType, TimeInForce
from cream.schemas.instruments import underlying_of
from cream.schemas.market import Timeframe
from cream.schemas.orders import OrderPurpose, OrderStatus
from cream.services import cycles, order_lifecycle, protection
from cream.storage.book_lock import HeldBookLock, book_lock
from cream.storage.db import session_scope
from cream.storage.models import Book, OrderRow, WorkRow
from cream.storage.types import utcnow
from cream.storage.writes import insert_once
from cream.tactic_schedule import (
    PROFILE_SESSIONS,
    REFILL,
    WORK_BARS,
    bars_needed,
    child_schedule,
    profile_volume,
)

WORKING, DONE = "WORKING", "DONE"
FINAL = (OrderStatus.FILLED.value, OrderStatus.CANCELED.value, OrderStatus.REJECTED.value)
Bar = tuple[datetime, datetime]


@dataclass(frozen=True)
class Step:
    """What a pass left: ``done`` when the parent is final; else the fleet-clock seconds until the next
    child is due or a child's bars end (inf: nothing timed, only fills to watch for)."""

    done: bool
    wait_s: float = math.inf


def worked_here(order_type: str, tactic: str | None, broker: Broker) -> bool:
    """Whether the fleet works this order as child orders (a market or limit order with a tactic, at a
    broker that does not work tactics itself). Stop orders go as they are, as in BACKTEST."""
    return tactic is not None and order_type in (OrderType.MARKET.value, OrderType.LIMIT.value) \
        and not broker.works_tactics()


# --- starting ---------------------------------------------------------------------------------------------

def start(parent_id: str, broker: Broker, held: HeldBookLock,
          market: Callable[[], MarketData] | None = None) -> Step:
    """Fix the schedule of a PENDING parent and send what is due (the caller holds the book's lock);
    ``market`` gives the past volume a VWAP schedule is shaped by."""
    with session_scope() as s:
        parent = s.scalars(select(OrderRow).where(OrderRow.id == parent_id).with_for_update()).one_or_none()
        if parent is None or parent.status != OrderStatus.PENDING.value:
            return Step(done=True)
        if s.get(WorkRow, parent_id) is None:
            work, why = _plan(s, parent, market)
            if work is None:
                parent.status, parent.error, parent.closed_at = OrderStatus.REJECTED.value, why, utcnow()
                return Step(done=True)
            s.add(work)
        parent.status, parent.error = OrderStatus.SUBMITTED.value, None
    return advance(parent_id, broker, held)


def _plan(s: Session, parent: OrderRow, market: Callable[[], MarketData] | None) -> tuple[WorkRow | None, str]:
    cycle = cycles.get_cycle(s, parent.cycle_id)
    observed = cycles.load(s, parent.cycle_id, Observed)
    touch = observed.prices.get(parent.instrument_id) if observed is not None else None
    tactic = ExecutionTactic(str(parent.execution_tactic))
    limit = float(parent.limit_price) if parent.limit_price is not None else math.nan
    if tactic is ExecutionTactic.PASSIVE_LIMIT and math.isnan(limit):
        if touch is None:
            return None, (f"PASSIVE_LIMIT needs a price to rest at: no limit and no price observed for "
                          f"{parent.instrument_id}")
        limit = float(touch)
    past = np.zeros(0)
    if tactic is ExecutionTactic.VWAP and market is not None:
        try:
            bars = market().bars(underlying_of(parent.instrument_id), Timeframe.H1, cycle.scheduled_for,
                                 PROFILE_SESSIONS * 7)
            past = profile_volume(bars.volume)
        except (UnknownInstrument, LookupError):  # no history: equal slices, as the simulator does
            past = np.zeros(0)
    offsets, qtys, limits = child_schedule(tactic, parent.quantity, limit, past)
    schedule = [[int(o), round(q), None if math.isnan(p) else round(float(p), 6)]
                for o, q, p in zip(offsets, qtys, limits)]
    return WorkRow(order_id=parent.id, book=parent.book, tactic=tactic.value, started_at=cycle.scheduled_for,
                   reference_price=Decimal(str(touch)) if touch is not None else None, schedule=schedule,
                   status=WORKING, link=0, linked_at=utcnow()), ""


# --- the task chain ---------------------------------------------------------------------------------------

def work(parent_id: str, link: int, broker: Broker) -> Step | None:
    """One pass of the chain's link ``link`` under the book's lock; None when the chain has moved on (this
    is a stale or duplicate task: do nothing, schedule nothing)."""
    with session_scope(readonly=True) as s:
        row = s.get(WorkRow, parent_id)
        if row is None or row.link != link:
            return None
        if row.status == DONE:
            return Step(done=True)
        book = row.book
    with book_lock(book) as held:
        return advance(parent_id, broker, held)


def arm(parent_id: str, after: int | None = None) -> int | None:
    """Take the next link of the parent's chain: the number the next task must carry, or None when the
    work is done or another task took it first (``after``: the link the caller ran; None: whatever link
    is current, to restart a chain whose message was lost). Atomic: of two tasks, one wins."""
    with session_scope() as s:
        row = s.get(WorkRow, parent_id)
        if row is None or row.status != WORKING:
            return None
        current = row.link if after is None else after
        taken = s.execute(update(WorkRow).where(WorkRow.order_id == parent_id, WorkRow.link == current,
                                                WorkRow.status == WORKING)
                          .values(link=current + 1, linked_at=utcnow()))
    return current + 1 if getattr(taken, "rowcount", 0) == 1 else None


def working(book: str | None = None, quiet_for: timedelta | None = None,
            environment: str | None = None) -> list[str]:
    """Parents still worked (of ``book``, of ``environment``'s books), those whose chain has not moved
    for ``quiet_for`` if given."""
    with session_scope(readonly=True) as s:
        query = select(WorkRow.order_id).where(WorkRow.status == WORKING)
        if book is not None:
            query = query.where(WorkRow.book == book)
        if environment is not None:
            query = query.join(Book, Book.id == WorkRow.book).where(Book.environment == environment)
        if quiet_for is not None:
            query = query.where(WorkRow.linked_at < utcnow() - quiet_for)
        return list(s.scalars(query.order_by(WorkRow.order_id)))


# --- one pass ---------------------------------------------------------------------------------------------

def advance(parent_id: str, broker: Broker, held: HeldBookLock) -> Step:
    """Bring the children up to the broker, cancel what outlived its bars, send what is due, guard what
    filled, finish the parent when nothing is left. The caller holds the book's lock."""
    now = clock.now()
    with session_scope(readonly=True) as s:
        row = s.get(WorkRow, parent_id)
        parent = s.get(OrderRow, parent_id)
        if row is None or parent is None or row.status == DONE:
            return Step(done=True)
        schedule, started = [tuple(c) for c in row.schedule], row.started_at
        book, instrument, purpose, filled_before = parent.book, parent.instrument_id, parent.purpose, \
            parent.filled_quantity
    bars = market_calendar.hourly_bars_after(started, bars_needed(np.array([c[0] for c in schedule])))

    def send(child_id: str) -> None:
        held.ensure_held()
        if purpose == OrderPurpose.EXIT.value:  # the shares its stop holds cannot be sold past it
            protection.release(broker, book, instrument)
        order_lifecycle.send(child_id, broker)

    for child_id in _open_children(parent_id):
        _refresh(child_id, broker, now, send)
    for _ in range(len(schedule) + 1):  # an iceberg's market slice fills at once: the next is due at once
        due = _next_due(parent_id, schedule, bars, now)
        if due is None:
            break
        send(due)
    with session_scope(readonly=True) as s:
        filled_now = s.get(OrderRow, parent_id).filled_quantity  # type: ignore[union-attr]
    # What an entry filled is guarded at once; so is what an exit leaves - including, once an exit child
    # is over (filled, or canceled at the end of its bars), the shares it held at the broker.
    if purpose == OrderPurpose.EXIT.value or filled_now > filled_before:
        protection.protect(broker, book, only={instrument})
    return _finish_or_wait(parent_id, schedule, bars, now)


def _open_children(parent_id: str) -> list[str]:
    with session_scope(readonly=True) as s:
        return list(s.scalars(select(OrderRow.id).where(
            OrderRow.parent_id == parent_id, OrderRow.status.in_(order_lifecycle.OPEN),
            OrderRow.closed_at.is_(None)).order_by(OrderRow.submitted_at, OrderRow.id)))


def _refresh(child_id: str, broker: Broker, now: datetime, send: Callable[[str], None]) -> None:
    """A child's state at the broker; canceled there once its bars have ended; a PENDING child (written,
    perhaps sent) is sent while its bars last - the broker refuses a second order with its id."""
    with session_scope(readonly=True) as s:
        child = s.get(OrderRow, child_id)
        assert child is not None and child.expires_at is not None
        status, expired, broker_id = child.status, now >= child.expires_at, child.broker_order_id
    if status == OrderStatus.PENDING.value and not expired:
        send(child_id)
        return
    found = broker.lookup(child_id)
    if found is not None and expired and not found.is_final:
        with contextlib.suppress(RejectedDefinitively):  # filled or canceled meanwhile: the next look says which
            broker.cancel(found.broker_order_id or broker_id or "")
        found = broker.lookup(child_id)
    with session_scope() as s:
        if found is not None:
            order_lifecycle.apply_update(s, child_id, found)
        elif expired:  # never reached the broker, and its bars are over: not sent late
            _close(s, child_id, OrderStatus.CANCELED, "never reached the broker before its bars ended; not sent late")
        elif status == OrderStatus.UNKNOWN.value:
            child = s.get(OrderRow, child_id)
            child.status, child.error = OrderStatus.PENDING.value, "not at the broker: safe to send"  # type: ignore[union-attr]


def _close(s: Session, child_id: str, status: OrderStatus, why: str) -> None:
    child = s.get(OrderRow, child_id)
    if child is not None and child.status not in FINAL and child.parent_id is not None:
        child.status, child.error, child.closed_at = status.value, why, utcnow()
        order_lifecycle.roll_up(s, child.parent_id)


def _bar_at(bars: list[Bar], t: datetime) -> int | None:
    return next((i for i, (a, b) in enumerate(bars) if a <= t < b), None)


def _next_due(parent_id: str, schedule: list[tuple[int, int, float | None]], bars: list[Bar],
              now: datetime) -> str | None:
    """Write the next child that is due now as a PENDING intent and return its id; children whose bars
    ended unsent (or that follow a rejected one) are recorded CANCELED on the way. None: nothing due."""
    with session_scope() as s:
        parent = s.get(OrderRow, parent_id)
        assert parent is not None
        children = {c.id: c for c in s.scalars(select(OrderRow).where(OrderRow.parent_id == parent_id))}
        rejected = next((c for c in children.values() if c.status == OrderStatus.REJECTED.value), None)
        for n, (offset, qty, limit) in enumerate(schedule):
            child_id = ids.child_order_id(parent_id, n)
            if child_id in children or qty <= 0:
                continue
            if offset == REFILL:
                before = children.get(ids.child_order_id(parent_id, n - 1))
                if before is None or before.filled_quantity < before.quantity:
                    return None  # a slice is shown once the one before it has filled
                first = _bar_at(bars, now)
                if first is None and now < bars[-1][1]:
                    return None  # between sessions: the next bar shows it
                first = len(bars) - 1 if first is None else first  # too late: recorded below, never sent
            else:
                first = offset
            end = bars[min(first + WORK_BARS, len(bars)) - 1][1]
            if rejected is None and now < bars[first][0]:
                return None  # not yet: later children are later still
            row = _child_row(parent, n, qty, limit, end, bars[first][0])
            if rejected is not None or now >= end:
                row.status, row.closed_at = OrderStatus.CANCELED.value, utcnow()
                row.error = (f"not sent: child {rejected.id} was refused by the broker ({rejected.error})"
                             if rejected is not None else "its bars ended before it could be sent; not sent late")
                s.add(row)
                s.flush()
                order_lifecycle.roll_up(s, parent_id)
                children[child_id] = row
                continue
            if _bar_at(bars, now) is None:
                return None  # due, but the market is closed: it goes when the next bar opens
            insert_once(s, row, child_id)
            return child_id
    return None


def _child_row(parent: OrderRow, n: int, qty: int, limit: float | None, expires_at: datetime,
               starts_at: datetime) -> OrderRow:
    option = underlying_of(parent.instrument_id) != parent.instrument_id
    same_session = market_calendar.session(starts_at.astimezone(market_calendar.NEW_YORK).date())
    rests_overnight = same_session is None or expires_at > same_session[1]
    # A market child fills at once; a limit child lives for its bars: DAY if they end by that close, else
    # GTC and canceled by us at their end. Options orders take DAY only.
    tif = TimeInForce.GTC if limit is not None and rests_overnight and not option else TimeInForce.DAY
    return OrderRow(id=ids.child_order_id(parent.id, n), book=parent.book, cycle_id=parent.cycle_id,
                    decision_id=None, parent_id=parent.id, instrument_id=parent.instrument_id, side=parent.side,
                    quantity=qty, multiplier=parent.multiplier,
                    order_type=(OrderType.LIMIT if limit is not None else OrderType.MARKET).value,
                    purpose=parent.purpose, limit_price=Decimal(str(limit)) if limit is not None else None,
                    time_in_force=tif.value, expires_at=expires_at, status=OrderStatus.PENDING.value)


def _finish_or_wait(parent_id: str, schedule: list[tuple[int, int, float | None]], bars: list[Bar],
                    now: datetime) -> Step:
    with session_scope() as s:
        parent = s.get(OrderRow, parent_id)
        row = s.get(WorkRow, parent_id)
        assert parent is not None and row is not None
        children = {c.id: c for c in s.scalars(select(OrderRow).where(OrderRow.parent_id == parent_id))}
        live = [c for c in children.values() if c.status not in FINAL and c.closed_at is None]
        unsent = [n for n, (_, qty, _) in enumerate(schedule)
                  if qty > 0 and ids.child_order_id(parent_id, n) not in children]
        stalled_iceberg = bool(unsent) and schedule[unsent[0]][0] == REFILL and not live and \
            _previous_unfilled(children, parent_id, unsent[0])
        if live or (unsent and not stalled_iceberg):
            times = [c.expires_at for c in live if c.expires_at is not None and c.expires_at > now]
            if unsent:
                offset = schedule[unsent[0]][0]
                if offset != REFILL and bars[offset][0] > now:
                    times.append(bars[offset][0])
                elif _bar_at(bars, now) is None and (offset != REFILL or not live):
                    times.append(market_calendar.hourly_bars_after(now, 1)[0][0])  # due: goes at the open
            wait = min((t - now).total_seconds() for t in times) if times else math.inf
            return Step(done=False, wait_s=wait)
        order_lifecycle.roll_up(s, parent_id)
        _conclude(parent, row, children, len(unsent))
        return Step(done=True)


def _previous_unfilled(children: dict[str, OrderRow], parent_id: str, n: int) -> bool:
    before = children.get(ids.child_order_id(parent_id, n - 1))
    return before is not None and before.filled_quantity < before.quantity


def _conclude(parent: OrderRow, row: WorkRow, children: dict[str, OrderRow], never_shown: int) -> None:
    filled, qty = parent.filled_quantity, parent.quantity
    refused = [c for c in children.values() if c.status == OrderStatus.REJECTED.value]
    sent = sum(1 for c in children.values() if c.broker_order_id is not None)
    what = f"{row.tactic}: {len(children)} child order(s), {sent} at the broker, {filled} of {qty} filled"
    if filled >= qty:
        status, why = OrderStatus.FILLED, None
    else:
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.REJECTED if refused else OrderStatus.CANCELED
        why = f"{what}; " + (f"the broker refused {refused[0].id} ({refused[0].error}): no further child sent"
                             if refused else f"{qty - filled} unfilled when its bars ended, canceled"
                             + (f"; {never_shown} slice(s) never shown" if never_shown else ""))
    parent.status, parent.error, parent.closed_at = status.value, why, utcnow()
    row.status, row.reason = DONE, why or what
