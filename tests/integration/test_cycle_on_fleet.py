"""A whole cycle on real workers (one per queue), through Redis, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import select

from cream import ids
from cream.schemas.cycle import RiskChecked
from cream.services.cycles import load
from cream.services.reports import cycle_report
from cream.storage.db import session_scope
from cream.storage.models import FillRow, PortfolioSnapshotRow, PositionRow
from tests.integration.helpers import counts, trigger


def test_full_cycle_runs_through_all_four_queues_and_fills_the_approved_order(fleet) -> None:
    cycle_id, fresh = fleet.runner.run(trigger("full"), timeout=120)
    assert fresh
    with session_scope() as s:
        report = cycle_report(s, cycle_id)
        positions = list(s.scalars(select(PositionRow).where(PositionRow.book == "full")))
        snapshot = s.scalars(select(PortfolioSnapshotRow).where(PortfolioSnapshotRow.cycle_id == cycle_id)).one()
    assert report["status"] == "EXECUTED", report
    assert [a["verdict"] for a in report["approvals"]] == ["APPROVE", "APPROVE"]
    buys = [d for d in report["plan"]["decisions"] if d["action"] == "BUY"]
    assert [o["status"] for o in report["orders"]] == ["FILLED"] * len(buys) and buys
    decision = buys[0]
    symbol = decision["instrument"]["symbol"]
    assert report["orders"][0]["client_order_id"] == ids.client_order_id(cycle_id, symbol, "ENTRY")
    (pos,) = positions
    assert (pos.instrument_id, pos.quantity) == (symbol, decision["size"]["quantity"])
    assert float(pos.stop_loss) == decision["risk_levels"]["stop_loss_level"]
    assert float(pos.take_profit) == decision["risk_levels"]["take_profit_level"]
    assert float(snapshot.equity) < 100_000  # paid slippage and commission on the way in
    phases = {c.split(":")[1] for c in counts(cycle_id)["checkpoints"]}
    assert phases == {"observe", "orient", "analysts", "research", "trader", "gate", "risk_check", "act"}
    with session_scope() as s:
        risk = load(s, cycle_id, RiskChecked)
        fills = list(s.scalars(select(FillRow).where(FillRow.order_id == report["orders"][0]["client_order_id"])))
    assert risk is not None and risk.approved
    assert {"MAX_UNITS", "SECTOR_CONCENTRATION", "BUYING_POWER", "RISK_REWARD"} <= {c["check"] for c in risk.checks}
    assert [(f.quantity, f.day_trade) for f in fills] == [(decision["size"]["quantity"], False)]
    assert "before taking work" in fleet.log("execution")  # reconciled with the broker at start
    assert "before taking work" not in fleet.log("agents")
    for queue, task in [("data", "data.orient"), ("agents", "agents.critic"), ("cycles", "cycles.gate"),
                        ("execution", "execution.act")]:
        ran = re.compile(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded")
        assert ran.search(fleet.log(queue)), f"{task} did not run on the {queue} worker"
        for other in {"data", "agents", "cycles", "execution"} - {queue}:  # (other tests send some there: refused)
            assert not ran.search(fleet.log(other)), f"{task} ran on the {other} worker"


def test_the_same_cycle_triggered_twice_runs_once(fleet) -> None:
    t = trigger("dup")
    payload = t.model_dump(mode="json")
    first = fleet.runner.app.send_task("cycles.start", args=[payload], queue="cycles")
    second = fleet.runner.app.send_task("cycles.start", args=[payload], queue="cycles")
    answers = sorted(r.get(timeout=60)["status"] for r in (first, second))
    assert answers == ["DUPLICATE", "STARTED"]
    cycle_id = ids.cycle_id(t.environment, t.book, t.scheduled_for)
    fleet.runner.wait(cycle_id, timeout=120)
    before = counts(cycle_id)
    again, fresh = fleet.runner.run(t, timeout=30)  # a third trigger, after the cycle ended
    assert again == cycle_id and not fresh
    assert counts(cycle_id) == before
    assert before["cycles"] == 1 and before["orders"] == 1
