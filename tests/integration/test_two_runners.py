"""One pipeline, two runners: a two-week, four-symbol backtest through the fleet (every step a Celery task on
real workers) and in this process (``cream backtest --in-process``) records the same cycles, checkpoints,
agent outputs, decisions, orders, fills, positions and equity curve: every column equal except surrogate
row ids, wall-clock times and what is derived from the (random) backtest book name."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import select

from cream import runtime
from cream.services.backtest import run_backtest
from cream.services.inprocess import InProcessRunner
from cream.storage.db import session_scope
from cream.storage.models import (
    AgentOutput,
    BacktestRow,
    Base,
    Checkpoint,
    Cycle,
    DecisionRow,
    FillRow,
    OrderRow,
    PortfolioSnapshotRow,
    PositionRow,
    WorkRow,
)

SYMBOLS = ["ADBE", "COST", "MA", "XLK"]
START, END = date(2025, 8, 4), date(2025, 8, 15)  # two weeks: 60 cycle hours
WALL_CLOCK = {"started_at", "completed_at", "created_at", "updated_at", "linked_at", "closed_at", "submitted_at",
              "duration_ms"}
SURROGATE = {"id"}  # integer row ids (agent_outputs, fills, portfolio_snapshots)


def _derived_ids(book: str) -> dict[str, str]:
    """Decision and order ids hash the cycle id, which holds the book's name: each named by what it is."""
    with session_scope(readonly=True) as s:
        decisions = list(s.scalars(select(DecisionRow).join(Cycle, DecisionRow.cycle_id == Cycle.id)
                                   .where(Cycle.book == book)))
        orders = list(s.scalars(select(OrderRow).where(OrderRow.book == book)))
    named = {d.id: f"<decision {d.cycle_id}:{d.instrument_id}>" for d in decisions}
    for o in sorted(orders, key=lambda o: o.parent_id is not None):  # parents first: children name them
        named[o.id] = (f"<order {o.cycle_id}:{o.instrument_id}:{o.purpose}:{o.side}:{o.quantity}:"
                       f"{named.get(o.parent_id or '', '')}:{o.expires_at}>")
    sim = {f"sim-{k[-16:]}": f"<sim {v}>" for k, v in named.items()}  # the simulated broker's ids: exits
    sim |= {"sim-" + hashlib.sha256(k.encode()).hexdigest()[:16]: f"<sim {v}>" for k, v in named.items()}  # orders
    return {k: v.replace(book, "<book>") for k, v in {**named, **sim}.items()}


def _rows(model: type[Base], book: str, where: Any, ids: dict[str, str]) -> list[str]:
    """Every row of ``model`` that belongs to ``book``, as comparable text (the book's name and the ids
    derived from it replaced)."""
    with session_scope(readonly=True) as s:
        found = list(s.scalars(select(model).where(where)))
    out = []
    for row in found:
        values = {}
        for column in model.__table__.columns:
            if column.name in WALL_CLOCK or (column.name in SURROGATE and isinstance(getattr(row, column.key), int)):
                continue
            values[column.name] = getattr(row, column.key)
        if model is Checkpoint and values.get("phase") == "act":
            values["data"] = {k: v for k, v in values["data"].items() if k != "book_lock"}  # wall clock
        text = json.dumps(values, sort_keys=True, default=str)
        for derived, name in ids.items():
            text = text.replace(derived, name)
        out.append(text.replace(book, "<book>"))
    return sorted(out)


def _record(book: str) -> dict[str, list[str]]:
    cycles = select(Cycle.id).where(Cycle.book == book).scalar_subquery()
    orders = select(OrderRow.id).where(OrderRow.book == book).scalar_subquery()
    ids = _derived_ids(book)
    return {
        "cycles": _rows(Cycle, book, Cycle.book == book, ids),
        "checkpoints": _rows(Checkpoint, book, Checkpoint.cycle_id.in_(cycles), ids),
        "agent_outputs": _rows(AgentOutput, book, AgentOutput.cycle_id.in_(cycles), ids),
        "decisions": _rows(DecisionRow, book, DecisionRow.cycle_id.in_(cycles), ids),
        "orders": _rows(OrderRow, book, OrderRow.book == book, ids),
        "order_work": _rows(WorkRow, book, WorkRow.order_id.in_(orders), ids),
        "fills": _rows(FillRow, book, FillRow.order_id.in_(orders), ids),
        "positions": _rows(PositionRow, book, PositionRow.book == book, ids),
        "equity": _rows(PortfolioSnapshotRow, book, PortfolioSnapshotRow.book == book, ids),
        "backtest": _rows(BacktestRow, book, BacktestRow.id == book, ids),
    }


def test_the_fleet_and_the_in_process_runner_record_the_same_backtest(fleet) -> None:
    market = runtime.market_data()
    on_fleet = run_backtest(fleet.runner, market, SYMBOLS, START, END)
    in_process = run_backtest(InProcessRunner(runtime.PORTS), market, SYMBOLS, START, END)
    assert on_fleet["cycles_planned"] == in_process["cycles_planned"] == 60
    assert on_fleet["failed_cycles"] == in_process["failed_cycles"] == 0
    fleet_rows, local_rows = _record(on_fleet["backtest_id"]), _record(in_process["backtest_id"])
    assert len(fleet_rows["cycles"]) == 60 and fleet_rows["orders"] and fleet_rows["fills"], \
        "the window must trade for the comparison to mean something"
    for table, rows in fleet_rows.items():
        assert rows == local_rows[table], f"{table} differ between the runners"
    assert {k: v for k, v in on_fleet.items() if k != "backtest_id"} == \
        {k: v for k, v in in_process.items() if k != "backtest_id"}
