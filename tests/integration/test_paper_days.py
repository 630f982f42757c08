"""PAPER over three sessions on a real fleet (workers, Redis, SQLite or PostgreSQL): a position opened on
day 1 keeps a live stop at the broker through two closes, the stop fires on day 3 from the price path, and
the book, the orders and fills, and the trade's P&L are exactly the broker's.

The broker is the Alpaca stand-in with sessions: DAY orders die at the close, GTC ones live on, stops
trigger from the prices the test feeds. Every process reads one clock (``CREAM_CLOCK_FILE``), which the
test moves from Wednesday to Friday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cream.adapters.local_history import LocalHistory
from cream.agents.tools.memory import _outcome
from cream.config import Settings
from cream.fleet import LocalFleet
from cream.runner import CycleRunner
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services.reports import cycle_report
from cream.storage import db
from cream.storage.models import Book, DecisionRow, FillRow, OrderRow, PositionRow
from tests.integration.paper_world import PaperWorld, database_url, move_clock, paper_world
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration
BOOK = "days"
DAY1 = datetime(2025, 9, 17, 14, tzinfo=UTC)  # Wednesday 10:00 New York: the rule agents buy MA here
DAY2 = datetime(2025, 9, 18, 16, tzinfo=UTC)  # Thursday 12:00
DAY3 = datetime(2025, 9, 19, 15, tzinfo=UTC)  # Friday 11:00
INTO_THE_HOUR = timedelta(seconds=40)


@pytest.fixture(params=["sqlite", "postgresql"])
def paper_days(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[PaperWorld]:
    with paper_world(tmp_path, database_url(request, request.param, tmp_path), redis_url.rsplit("/", 1)[0] + "/4",
                     BOOK, DAY1 + INTO_THE_HOUR) as world:
        yield world


def run_cycle(runner: CycleRunner, hour: datetime) -> dict[str, Any]:
    cycle_id, _ = runner.run(CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book=BOOK,
                                          source="test"), timeout=240)
    with db.session_scope(readonly=True) as s:
        return cycle_report(s, cycle_id)


def reconcile_pass(runner: CycleRunner) -> dict[str, Any]:
    """The pass beat sends every minute, sent now."""
    answer: dict[str, Any] = runner.app.send_task("execution.reconcile", queue="execution").get(timeout=120)
    return answer[BOOK]


def alpaca_positions(alpaca: AlpacaStandIn) -> dict[str, float]:
    return {sym: p["qty"] for sym, p in alpaca.positions.items()}


def live_stops(alpaca: AlpacaStandIn) -> dict[str, float]:
    stops: dict[str, float] = {}
    for o in alpaca.open_orders():
        if o["type"] == "stop" and o["status"] != "held":
            stops[o["symbol"]] = stops.get(o["symbol"], 0.0) + float(o["qty"]) * (1 if o["side"] == "sell" else -1)
    return stops


def test_a_position_held_for_days_keeps_its_stop_and_its_exit_is_booked_as_the_broker_did_it(
        paper_days: PaperWorld) -> None:
    alpaca = paper_days.alpaca
    market = LocalHistory()
    with LocalFleet(Settings()):
        runner = CycleRunner(paper_days.broker_url)
        move_clock(DAY1 + INTO_THE_HOUR, alpaca, market)
        day1 = run_cycle(runner, DAY1)
        entries = {o["instrument"]: o for o in day1["orders"] if o["purpose"] == "ENTRY" and o["status"] == "FILLED"}
        assert "MA" in entries, day1
        held = {sym: (1 if o["side"] == "BUY" else -1) * o["filled_quantity"] for sym, o in entries.items()}
        assert {o["client_order_id"]: o["time_in_force"] for o in alpaca.placed()} == \
            {o["client_order_id"]: "gtc" for o in entries.values()}  # market brackets: legs that outlive the day
        assert live_stops(alpaca) == held

        move_clock(DAY1 + timedelta(hours=7), alpaca, market)  # Wednesday 17:00: the session closed
        assert reconcile_pass(runner)["protection_placed"] == [] and live_stops(alpaca) == held
        move_clock(DAY2 + INTO_THE_HOUR, alpaca, market)
        assert reconcile_pass(runner)["protection_placed"] == [] and live_stops(alpaca) == held
        for leg in alpaca.open_orders("MA"):  # Thursday: somebody cancels MA's stop and target at the broker
            alpaca.cancel(leg["id"])
        assert "MA" not in live_stops(alpaca)
        day2 = run_cycle(runner, DAY2)  # its observe puts them back before anything else
        assert [line.split(" (")[0] for line in day2["broker"]["protection_placed"]] == \
            [f"MA {held['MA']} guarded at the broker"], day2["broker"]
        assert live_stops(alpaca)["MA"] == held["MA"]
        held = {sym: int(qty) for sym, qty in live_stops(alpaca).items()}  # day 2 may have traded too

        with db.session_scope(readonly=True) as s:
            ma = s.get(PositionRow, (BOOK, "MA"))
            assert ma is not None and ma.stop_loss is not None
            stop = float(ma.stop_loss)
        move_clock(DAY3, alpaca, market)
        assert live_stops(alpaca) == {sym: float(qty) for sym, qty in alpaca_positions(alpaca).items()}
        alpaca.tick("MA", round(stop - 1.25, 2))  # Friday 11:00: MA trades through its stop at the broker
        assert "MA" not in alpaca.positions
        move_clock(DAY3 + timedelta(hours=1) + INTO_THE_HOUR, alpaca, market)
        day3 = run_cycle(runner, DAY3 + timedelta(hours=1))
        runner.close()
        reconciled = reconcile_pass(CycleRunner(paper_days.broker_url))
    assert [line.split(" @ ")[0] for line in day3["broker"]["exits"]] == [f"STOP_LOSS MA {held['MA']}"], day3["broker"]
    assert day3["broker"]["differences"] == {} and reconciled["position_differences"] == {}
    assert reconciled["broker_exits"] == []
    _agrees_with_the_broker(alpaca)
    with db.session_scope(readonly=True) as s:
        decision = s.scalars(select(DecisionRow).where(DecisionRow.cycle_id == day1["cycle_id"],
                                                       DecisionRow.instrument_id == "MA")).one()
        outcome = _outcome(s, decision, DAY3 + timedelta(days=1))
    ma_fills = [f for f in alpaca.fills if f["symbol"] == "MA"]
    entry, exit_ = ma_fills[0], ma_fills[1]
    assert (outcome["state"], outcome["exit_reason"]) == ("CLOSED", "STOP_LOSS")
    assert outcome["realized_pnl"] == pytest.approx((exit_["price"] - entry["price"]) * entry["qty"], abs=1e-6)


def _agrees_with_the_broker(alpaca: AlpacaStandIn) -> None:
    """Cash, positions, and every fill: ours are the broker's, one for one."""
    with db.session_scope(readonly=True) as s:
        book = s.get(Book, BOOK)
        assert book is not None and book.cash == Decimal(str(round(alpaca.cash, 6)))
        ours = {p.instrument_id: (p.quantity, p.avg_entry_price)
                for p in s.scalars(select(PositionRow).where(PositionRow.book == BOOK))}
        assert ours == {sym: (int(p["qty"]), Decimal(str(p["avg"])).quantize(Decimal("0.000001")))
                        for sym, p in alpaca.positions.items()}
        fills = sorted((o.broker_order_id, f.quantity, f.price, f.ts) for f, o in s.execute(
            select(FillRow, OrderRow).join(OrderRow, OrderRow.id == FillRow.order_id)))
    theirs = sorted((f["order_id"], int(f["qty"]), Decimal(str(f["price"])), f["at"]) for f in alpaca.fills)
    assert fills == theirs and len(fills) >= 2
