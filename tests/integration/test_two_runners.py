"""One pipeline, two runners: a two-week, four-symbol backtest through the fleet (every step a Celery task on
real workers) and in this process (``cream backtest --in-process``) records the same cycles, checkpoints,
agent outputs, decisions, orders, fills, positions and equity curve: every column equal except surrogate
row ids, wall-clock times and what is derived from the (random) backtest book name."""

from __future__ import annotations

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
WALL_CLOCK = {"started_at", "completed_at", "created_at", "updated_at", "linked_at", "duration_ms"}
SURROGATE = {"id"}  # integer row ids (agent_outputs, fills, portfolio_snapshots)


def _rows(model: type[Base], book: str, where: Any) -> list[str]:
    """Every row of ``model`` that belongs to ``book``, as comparable text (the book's name replaced)."""
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
        out.append(json.dumps(values, sort_keys=True, default=str).replace(book, "<book>"))
    return sorted(out)


def _record(book: str) -> dict[str, list[str]]:
    cycles = select(Cycle.id).where(Cycle.book == book).scalar_subquery()
    orders = select(OrderRow.id).where(OrderRow.book == book).scalar_subquery()
    return {
        "cycles": _rows(Cycle, book, Cycle.book == book),
        "checkpoints": _rows(Checkpoint, book, Checkpoint.cycle_id.in_(cycles)),
        "agent_outputs": _rows(AgentOutput, book, AgentOutput.cycle_id.in_(cycles)),
        "decisions": _rows(DecisionRow, book, DecisionRow.cycle_id.in_(cycles)),
        "orders": _rows(OrderRow, book, OrderRow.book == book),
        "order_work": _rows(WorkRow, book, WorkRow.order_id.in_(orders)),
        "fills": _rows(FillRow, book, FillRow.order_id.in_(orders)),
        "positions": _rows(PositionRow, book, PositionRow.book == book),
        "equity": _rows(PortfolioSnapshotRow, book, PortfolioSnapshotRow.book == book),
        "backtest": _rows(BacktestRow, book, BacktestRow.id == book),
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
