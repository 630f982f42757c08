"""A PAPER entry worked by TWAP on a real fleet (workers, Redis, SQLite or PostgreSQL): the trader (Gemini, a
stand-in model) names the tactic, act sends the first child, and the ``execution.work`` chain sends one child
per hourly bar as the fleet's clock moves, through a kill -9 of the execution worker in the middle of the
schedule and a task message delivered twice: every child reaches the broker once, the schedule finishes,
and what filled is guarded at the broker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cream import ids
from cream.adapters.local_history import LocalHistory
from cream.config import Settings
from cream.fleet import LocalFleet
from cream.runner import CycleRunner
from cream.schemas.agents import AgentType
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services.reports import cycle_report
from cream.storage import db
from cream.storage.models import OrderRow, PositionRow, WorkRow
from tests.integration.helpers import wait_for
from tests.integration.paper_world import PaperWorld, database_url, move_clock, paper_world
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration
BOOK = "tactics"
HOUR = datetime(2025, 9, 17, 14, tzinfo=UTC)  # Wednesday 10:00 New York: the rule agents buy MA here
INTO_THE_HOUR = timedelta(seconds=40)


def twap_entries(agent: AgentType, answer: dict[str, Any]) -> dict[str, Any]:
    """The model works every new position by TWAP (as trader.md asks for a size large against the volume)."""
    if agent is AgentType.TRADER:
        for d in answer.get("decisions", []):
            if d["action"] in ("BUY", "SELL") and d["direction"] != "FLAT":
                d["order_plan"] = dict(d.get("order_plan") or {}, execution_tactic="TWAP")
    return answer


@pytest.fixture(params=["sqlite", "postgresql"])
def paper(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[PaperWorld]:
    with paper_world(tmp_path, database_url(request, request.param, tmp_path), redis_url.rsplit("/", 1)[0] + "/5",
                     BOOK, HOUR + INTO_THE_HOUR, edit=twap_entries) as world:
        yield world


def kill_execution_worker(fleet: LocalFleet) -> None:
    proc = fleet.procs["execution"]
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child: it held the chain's next link
    proc.wait()
    fleet.procs["execution"] = fleet._spawn("execution", [
        "worker", "-Q", "execution", "-n", f"execution-again-{time.monotonic_ns()}@%h", "--pool", "prefork",
        "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"])


def children_at_broker(alpaca: AlpacaStandIn, parent_id: str) -> list[str]:
    mine = {ids.child_order_id(parent_id, n): n for n in range(6)}
    return [o["client_order_id"] for o in alpaca.placed() if o["client_order_id"] in mine]


def test_a_twap_entry_is_worked_bar_by_bar_through_a_killed_worker_and_a_duplicate_task(
        paper: PaperWorld) -> None:
    alpaca = paper.alpaca
    market = LocalHistory()
    with LocalFleet(Settings(), supervise=False) as fleet:
        runner = CycleRunner(paper.broker_url)
        move_clock(HOUR + INTO_THE_HOUR, alpaca, market)
        cycle_id, _ = runner.run(CycleTrigger(environment=Environment.PAPER, scheduled_for=HOUR, book=BOOK,
                                              source="test"), timeout=240)
        with db.session_scope(readonly=True) as s:
            parent = s.scalars(select(OrderRow).where(OrderRow.cycle_id == cycle_id, OrderRow.instrument_id == "MA",
                                                      OrderRow.purpose == "ENTRY", OrderRow.parent_id.is_(None))).one()
            pid, qty = parent.id, parent.quantity
            assert parent.execution_tactic == "TWAP" and s.get(WorkRow, pid) is not None
        sizes = [qty // 3 + (1 if n < qty % 3 else 0) for n in range(3)]
        assert children_at_broker(alpaca, pid) == [ids.child_order_id(pid, 0)]  # bar 0: sent by act
        assert not any(o["client_order_id"] == pid for o in alpaca.placed())  # the parent itself never goes

        time.sleep(3)  # the chain runs on the execution worker (a link every 2.5 s) ...
        kill_execution_worker(fleet)  # ... and dies with it, holding its next link
        fleet.wait_ready()
        move_clock(HOUR + timedelta(hours=1) + INTO_THE_HOUR, alpaca, market)  # bar 1
        wait_for(lambda: len(children_at_broker(alpaca, pid)) == 2, timeout=90, what="child 1")

        with db.session_scope(readonly=True) as s:
            link = s.get(WorkRow, pid).link  # type: ignore[union-attr]
        for _ in range(2):  # the current link's message, delivered twice more
            runner.app.send_task("execution.work", args=[pid, link], queue="execution")
        wait_for(lambda: "{'stale': True}" in (fleet.logs / "execution.log").read_text(errors="replace"),
                 timeout=60, what="a copy of a link that had run already to do nothing")
        move_clock(HOUR + timedelta(hours=2) + INTO_THE_HOUR, alpaca, market)  # bar 2
        wait_for(lambda: _work_done(pid), timeout=90, what="the schedule to finish")
        time.sleep(4)  # any copy of a link still in flight has run
        with db.session_scope(readonly=True) as s:
            report = cycle_report(s, cycle_id)
        runner.close()
        execution_log = (fleet.logs / "execution.log").read_text(errors="replace")

    sent = children_at_broker(alpaca, pid)
    assert sent == [ids.child_order_id(pid, n) for n in range(3)]  # each child once, in order: no duplicate
    assert [int(o["qty"]) for o in alpaca.placed() if o["client_order_id"] in sent] == sizes
    assert all(o["order_class"] == "simple" and o["type"] == "market" for o in alpaca.placed()
               if o["client_order_id"] in sent)
    with db.session_scope(readonly=True) as s:
        done = s.get(OrderRow, pid)
        held = s.get(PositionRow, (BOOK, "MA"))
        assert done is not None and held is not None
        assert (done.status, done.filled_quantity, held.quantity) == ("FILLED", qty, qty)
        ma_fills = [f for f in alpaca.fills if f["symbol"] == "MA" and f["client_order_id"] in sent]
        avg = sum(f["qty"] * f["price"] for f in ma_fills) / qty
        assert float(done.avg_fill_price) == pytest.approx(avg, abs=1e-6)  # type: ignore[arg-type]
    stops = {o["symbol"]: 0.0 for o in alpaca.open_orders() if o["type"] == "stop"}
    for o in alpaca.open_orders():
        if o["type"] == "stop" and o["status"] != "held":
            stops[o["symbol"]] += float(o["qty"])
    assert stops.get("MA") == qty  # every filled share guarded at the broker (GTC OCOs)
    shown = {o["client_order_id"]: o for o in report["orders"]}
    assert {cid: (shown[cid]["parent"], shown[cid]["status"]) for cid in sent} == \
        dict.fromkeys(sent, (pid, "FILLED"))  # the cycle report lists the children under their parent
    assert shown[pid]["execution_tactic"] == "TWAP" and shown[pid]["filled_quantity"] == qty
    assert "restarted the chains of 1 working tactic order" in execution_log  # by the worker started again


def _work_done(parent_id: str) -> bool:
    with db.session_scope(readonly=True) as s:
        return s.get(WorkRow, parent_id).status == "DONE"  # type: ignore[union-attr]
