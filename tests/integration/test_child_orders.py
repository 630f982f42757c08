"""Execution tactics in PAPER, service by service: a parent order worked as child orders through alpaca-py
against the Alpaca stand-in with sessions, on a clock the test moves bar by bar, with a real database
(SQLite and PostgreSQL). Every piece of ours runs as the ``execution.work`` chain runs it; only the
countdown between two links is replaced by the test moving the clock and calling the next link."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cream import clock, ids
from cream.adapters.alpaca_broker import AlpacaBroker
from cream.risk import check_plan
from cream.schemas.cycle import Observed
from cream.schemas.decisions import Decision, DecisionPlan, Environment, RiskLevels, Size, SizeUnit
from cream.schemas.instruments import Equity
from cream.schemas.trigger import CycleTrigger
from cream.services import child_orders, cycles, order_lifecycle, portfolio
from cream.services.runtime_config import default_trading_config
from cream.storage import db
from cream.storage.book_lock import book_lock
from cream.storage.db import session_scope
from cream.storage.models import Book, DecisionRow, OrderRow, PositionRow, WorkRow
from tests.integration.conftest import MONDAY
from tests.integration.paper_world import database_url
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration
_books = itertools.count()
INTO = timedelta(seconds=40)  # where the clock stands in a bar when a link runs


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = database_url(request, request.param, tmp_path)
    saved = {k: os.environ.get(k) for k in ("CREAM_DATABASE_URL", "CREAM_DATA_DIR")}
    os.environ.update({"CREAM_DATABASE_URL": url, "CREAM_DATA_DIR": str(tmp_path)})
    from cream.config import get_settings

    get_settings.cache_clear()
    db.migrate()
    yield request.param
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    get_settings.cache_clear()


@pytest.fixture
def broker(database: str, alpaca_days_broker: AlpacaBroker) -> AlpacaBroker:
    return alpaca_days_broker


@pytest.fixture
def alpaca(alpaca_days: AlpacaStandIn) -> AlpacaStandIn:
    return alpaca_days


def parent(tactic: str | None, qty: int, *, order_type: str = "MARKET", limit: str | None = None,
           touch: float = 100.0, hour: datetime = MONDAY, book: str | None = None, exit_: bool = False,
           symbol: str = "AAPL") -> str:
    """A PAPER cycle's approved order (an entry: stop 95, target 110) as act writes it: a PENDING parent
    naming a tactic, with the price observe saw."""
    book = book or f"tac{next(_books)}"
    side, purpose, action, direction = ("SELL", "EXIT", "SELL", "FLAT") if exit_ else ("BUY", "ENTRY", "BUY", "LONG")
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.PAPER, 100_000.0)
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book=book),
                                     [symbol])
        cycles.record(s, cycle.id, Observed(as_of=hour, prices={symbol: touch},
                                            portfolio=portfolio.view(s, book, hour)))
        decision = ids.decision_id(cycle.id, symbol)
        s.add(DecisionRow(id=decision, cycle_id=cycle.id, instrument_id=symbol, action=action, direction=direction,
                          size_value=qty, size_unit="SHARES", stop_loss=Decimal(95), take_profit=Decimal(110),
                          strategy_family="TREND", confidence=0.7, rationale="test", status="APPROVED"))
        s.flush()
        order_id = ids.client_order_id(cycle.id, symbol, purpose)
        s.add(OrderRow(id=order_id, book=book, cycle_id=cycle.id, decision_id=decision, instrument_id=symbol,
                       side=side, quantity=qty, order_type=order_type, purpose=purpose, status="PENDING",
                       limit_price=Decimal(limit) if limit else None, execution_tactic=tactic))
    return order_id


def buy_plan(symbol: str, qty: int) -> DecisionPlan:
    """The next cycle's plan: buy ``qty`` more (stop 95, target 110)."""
    decision = Decision(instrument=Equity(symbol=symbol), action="BUY", direction="LONG",
                        size=Size(quantity=qty, unit=SizeUnit.SHARES),
                        risk_levels=RiskLevels(stop_loss_level=95.0, take_profit_level=110.0),
                        strategy_family="TREND", rationale="test", confidence=0.6)
    return DecisionPlan(cycle_id="next", as_of_timestamp=MONDAY, environment="PAPER", decisions=[decision])


def book_of(order_id: str) -> str:
    with session_scope(readonly=True) as s:
        return s.get(OrderRow, order_id).book  # type: ignore[union-attr]


def start(order_id: str, broker: AlpacaBroker) -> int:
    """What act does (under the book's lock), then the first link of the chain, as the task arms it."""
    with book_lock(book_of(order_id)) as held:
        child_orders.start(order_id, broker, held)
    link = child_orders.arm(order_id)
    assert link == 1
    return link


def next_link(order_id: str, link: int, broker: AlpacaBroker) -> tuple[child_orders.Step, int]:
    """One ``execution.work`` task: its pass, then the next link it arms."""
    step = child_orders.work(order_id, link, broker)
    assert step is not None, f"link {link} is stale"
    following = child_orders.arm(order_id, after=link)
    return step, following if following is not None else link


def children(order_id: str) -> list[dict[str, Any]]:
    with session_scope(readonly=True) as s:
        rows = s.scalars(select(OrderRow).where(OrderRow.parent_id == order_id).order_by(OrderRow.id))
        return [{"id": o.id, "qty": o.quantity, "type": o.order_type, "status": o.status, "filled": o.filled_quantity,
                 "avg": o.avg_fill_price, "tif": o.time_in_force, "error": o.error} for o in rows]


def order(order_id: str) -> OrderRow:
    with session_scope(readonly=True) as s:
        row = s.get(OrderRow, order_id)
        assert row is not None
        s.expunge(row)
        return row


def child_id(order_id: str, n: int) -> str:
    return ids.child_order_id(order_id, n)


def at_broker(alpaca: AlpacaStandIn, order_id: str) -> list[dict[str, Any]]:
    """What the broker got for the parent's children, oldest first."""
    ours = {child_id(order_id, n) for n in range(8)}
    return [o for o in alpaca.placed() if o["client_order_id"] in ours]


def test_a_twap_entry_sends_one_market_child_per_bar_each_once_and_guards_what_filled(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)  # Monday 11:00:40 New York: bar 0 of the cycle at 11:00
    pid = parent("TWAP", 300)
    link = start(pid, broker)
    assert [(c["id"], c["qty"], c["status"]) for c in children(pid)] == [(child_id(pid, 0), 100, "FILLED")]
    assert broker.live_stops() == {"AAPL": 100}  # the filled quantity is guarded at once
    step, link = next_link(pid, link, broker)  # the next link, a moment later: nothing is due before noon
    assert not step.done and 3500 < step.wait_s <= 3560 and len(children(pid)) == 1
    for bar, price in ((1, 101.0), (2, 102.0)):
        clock.set_time(moment, MONDAY + timedelta(hours=bar) + INTO)
        alpaca.tick("AAPL", price)
        again = child_orders.work(pid, link, broker)  # the same task delivered twice: nothing is sent twice
        step, link = next_link(pid, link, broker)
        assert again is not None and child_orders.arm(pid, after=link - 1) is None  # one next link, not two
        assert child_orders.work(pid, link - 1, broker) is None  # the superseded link does nothing
        assert len(children(pid)) == bar + 1
    assert step.done
    assert [(c["id"], c["qty"], c["type"], c["tif"], c["status"], c["avg"]) for c in children(pid)] == sorted(
        [(child_id(pid, n), 100, "MARKET", "DAY", "FILLED", Decimal(100 + n)) for n in range(3)])
    sent = at_broker(alpaca, pid)
    assert [o["client_order_id"] for o in sent] == [child_id(pid, n) for n in range(3)]  # each once, in order
    assert all((o["order_class"], o["type"], o["time_in_force"]) == ("simple", "market", "day") for o in sent)
    done = order(pid)
    assert (done.status, done.filled_quantity, done.avg_fill_price, done.broker_order_id) == \
        ("FILLED", 300, Decimal(101), None)  # the parent never went to the broker itself
    assert done.closed_at is not None and alpaca.orders_for(pid) == []
    with session_scope(readonly=True) as s:
        assert s.get(PositionRow, (done.book, "AAPL")).quantity == 300  # type: ignore[union-attr]
        assert s.get(Book, done.book).cash == Decimal(100_000 - 30_300)  # type: ignore[union-attr]
        assert s.get(WorkRow, pid).status == "DONE"  # type: ignore[union-attr]
        assert s.get(DecisionRow, done.decision_id).status == "EXECUTED"  # type: ignore[union-attr]
    # protection for every filled share: GTC OCOs at the position's stop and target, no bracket per child
    assert broker.live_stops() == {"AAPL": 300}
    ocos = [o for o in alpaca.placed() if o["order_class"] == "oco"]
    assert ocos and all(o["time_in_force"] == "gtc" and o["limit_price"] == "110" and o["legs"][0]["stop_price"] == "95"
                        for o in ocos)
    assert sum(int(o["qty"]) for o in ocos) == 300
    asked = len(alpaca.requests)
    assert pid not in order_lifecycle.reconcile(broker, done.book)["orders"]  # (only the OCOs are open)
    assert not any(pid in path for _, path in alpaca.requests[asked:])  # nobody asks the broker for the parent


def test_an_iceberg_shows_one_slice_at_a_time_each_once_over_several_bars(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("ICEBERG", 400, order_type="LIMIT", limit="99")
    link = start(pid, broker)
    assert [(c["qty"], c["type"], c["status"]) for c in children(pid)] == [(100, "LIMIT", "SUBMITTED")]
    step, link = next_link(pid, link, broker)
    assert not step.done and len(children(pid)) == 1  # slice 1 waits for slice 0 to fill
    fills = (98.5, 98.8, 98.7, 98.9)
    for n, low in enumerate(fills):
        clock.set_time(moment, MONDAY + timedelta(hours=n, minutes=20))  # one slice fills in each bar
        alpaca.tick("AAPL", low)
        alpaca.tick("AAPL", 100.0)  # and the price goes back above the limit
        clock.set_time(moment, MONDAY + timedelta(hours=n, minutes=30))
        child_orders.work(pid, link, broker)  # delivered twice
        step, link = next_link(pid, link, broker)
        shown = {c["id"]: c["status"] for c in children(pid)}
        assert shown == {child_id(pid, k): "FILLED" if k <= n else "SUBMITTED" for k in range(min(n + 2, 4))}
    assert step.done
    sent = at_broker(alpaca, pid)
    assert [o["client_order_id"] for o in sent] == [child_id(pid, n) for n in range(4)]
    assert all((o["type"], o["limit_price"], o["qty"], o["time_in_force"]) == ("limit", "99", "100", "day")
               for o in sent)
    assert [float(o["filled_avg_price"]) for o in sent] == list(fills)
    done = order(pid)
    assert (done.status, done.filled_quantity) == ("FILLED", 400)
    assert done.avg_fill_price == Decimal(str(round(sum(fills) / 4, 6)))
    assert broker.live_stops() == {"AAPL": 400}


def test_a_passive_limit_rests_at_the_touch_and_is_canceled_at_its_deadline(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("PASSIVE_LIMIT", 100, touch=99.5)  # the cycle saw 99.50; the market trades 100 now
    link = start(pid, broker)
    [resting] = at_broker(alpaca, pid)
    assert (resting["type"], resting["limit_price"], resting["time_in_force"], resting["status"]) == \
        ("limit", "99.5", "day", "new")
    with session_scope(readonly=True) as s:  # the next act's risk check counts it as exposure
        working = portfolio.view(s, book_of(pid)).working_orders
    assert {k: (w.quantity, w.price) for k, w in working.items()} == {"AAPL": (100, 99.5)}
    clock.set_time(moment, MONDAY + timedelta(hours=2, minutes=59))  # 13:59: still inside its three bars
    step, link = next_link(pid, link, broker)
    assert not step.done and 0 < step.wait_s <= 60 and children(pid)[0]["status"] == "SUBMITTED"
    clock.set_time(moment, MONDAY + timedelta(hours=3, seconds=5))  # 14:00:05 New York: its bars are over
    step, link = next_link(pid, link, broker)
    assert step.done
    [child] = children(pid)
    assert child["status"] == "CANCELED" and alpaca.orders_for(child["id"])[0]["status"] == "canceled"
    done = order(pid)
    assert (done.status, done.filled_quantity) == ("CANCELED", 0) and "0 of 100 filled" in (done.error or "")
    assert broker.open_orders() == [] and broker.live_stops() == {}
    with session_scope(readonly=True) as s:
        assert portfolio.view(s, done.book).working_orders == {}


def test_a_passive_limit_that_rests_overnight_is_gtc_and_canceled_the_next_morning(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    three_pm = MONDAY + timedelta(hours=4)  # 15:00 New York: its bars are 15-16, then Tuesday 9:30-10, 10-11
    clock.set_time(moment, three_pm + INTO)
    pid = parent("PASSIVE_LIMIT", 50, touch=99.0, hour=three_pm)
    link = start(pid, broker)
    assert at_broker(alpaca, pid)[0]["time_in_force"] == "gtc"
    clock.set_time(moment, three_pm + timedelta(hours=3))  # 18:00: after the close, it still rests
    step, link = next_link(pid, link, broker)
    assert not step.done and children(pid)[0]["status"] == "SUBMITTED"
    clock.set_time(moment, three_pm + timedelta(hours=20, seconds=1))  # Tuesday 11:00:01 New York
    assert next_link(pid, link, broker)[0].done
    assert children(pid)[0]["status"] == "CANCELED" and order(pid).status == "CANCELED"


def test_a_child_the_broker_refuses_is_recorded_and_no_further_child_is_sent(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("TWAP", 300)
    link = start(pid, broker)
    alpaca.add_asset("AAPL", tradable=False)  # halted before the next bar
    clock.set_time(moment, MONDAY + timedelta(hours=1) + INTO)
    step, link = next_link(pid, link, broker)
    by_id = {c["id"]: c for c in children(pid)}
    assert by_id[child_id(pid, 0)]["status"] == "FILLED"
    refused = by_id[child_id(pid, 1)]
    assert refused["status"] == "REJECTED" and "not tradable" in (refused["error"] or "")
    skipped = by_id[child_id(pid, 2)]  # recorded with its reason, never sent
    assert skipped["status"] == "CANCELED" and "was refused by the broker" in (skipped["error"] or "")
    assert step.done and [o["client_order_id"] for o in at_broker(alpaca, pid)] == [child_id(pid, 0)]
    clock.set_time(moment, MONDAY + timedelta(hours=2) + INTO)
    alpaca.add_asset("AAPL")  # tradable again: nothing is resent
    assert child_orders.work(pid, link, broker) == child_orders.Step(done=True)
    assert [o["client_order_id"] for o in at_broker(alpaca, pid)] == [child_id(pid, 0)]
    done = order(pid)
    assert (done.status, done.filled_quantity) == ("PARTIALLY_FILLED", 100) and done.closed_at is not None
    assert done.error.startswith(f"TWAP: 3 child order(s), 1 at the broker, 100 of 300 filled; the broker refused "
                                 f"{child_id(pid, 1)} (")  # type: ignore[union-attr]


def test_a_twap_exit_releases_the_stop_before_each_child_and_guards_what_is_left(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    entry = parent(None, 300)  # a plain market entry: a GTC bracket holds all 300 shares
    assert order_lifecycle.send(entry, broker) == "FILLED" and broker.live_stops() == {"AAPL": 300}
    book = book_of(entry)
    clock.set_time(moment, MONDAY + timedelta(hours=1) + INTO)
    pid = parent("TWAP", 300, hour=MONDAY + timedelta(hours=1), book=book, exit_=True)
    link = start(pid, broker)
    assert broker.positions() == {"AAPL": 200} and broker.live_stops() == {"AAPL": 200}  # the rest, guarded again
    for bar in (2, 3):
        clock.set_time(moment, MONDAY + timedelta(hours=bar) + INTO)
        step, link = next_link(pid, link, broker)
        left = 300 - 100 * bar
        assert broker.positions() == ({"AAPL": left} if left else {})
        assert broker.live_stops() == ({"AAPL": left} if left else {})
    assert step.done
    assert [c["status"] for c in children(pid)] == ["FILLED"] * 3  # none refused for shares a stop held
    done = order(pid)
    assert (done.status, done.filled_quantity, done.side, done.purpose) == ("FILLED", 300, "SELL", "EXIT")
    with session_scope(readonly=True) as s:
        assert s.get(PositionRow, (book, "AAPL")) is None


def test_the_risk_check_counts_what_a_working_entry_may_still_buy(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("TWAP", 60)  # 20 bought now, 40 to come over the next two bars
    start(pid, broker)
    rules = default_trading_config(Environment.PAPER).rules.model_copy(update={"max_units": 100})
    with session_scope(readonly=True) as s:
        now = portfolio.view(s, book_of(pid))
    assert now.positions["AAPL"].quantity == 20 and now.working_orders["AAPL"].quantity == 40
    assert check_plan(buy_plan("AAPL", 40), now, {"AAPL": 100.0}, rules).approved  # 20 + 40 + 40 <= 100
    report = check_plan(buy_plan("AAPL", 41), now, {"AAPL": 100.0}, rules)
    assert not report.approved and "MAX_UNITS" in report.reasons()  # 20 held + 40 working + 41 > 100
    without = now.model_copy(update={"working_orders": {}})
    assert check_plan(buy_plan("AAPL", 41), without, {"AAPL": 100.0}, rules).approved  # what it missed before


def test_a_chain_whose_message_was_lost_is_restarted_and_its_old_link_does_nothing(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("TWAP", 300)
    lost = start(pid, broker)  # its message is lost: nobody runs link 1
    book = book_of(pid)
    assert child_orders.working(book, quiet_for=timedelta(minutes=5)) == []  # not quiet long enough yet
    assert child_orders.working(book, quiet_for=timedelta(0)) == [pid]
    assert child_orders.working(environment="PAPER") == [pid] and child_orders.working(environment="LIVE") == []
    restarted = child_orders.arm(pid)  # what beat's pass and an execution worker's start do
    assert restarted == lost + 1
    clock.set_time(moment, MONDAY + timedelta(hours=1) + INTO)
    assert child_orders.work(pid, lost, broker) is None  # the lost message, should Redis give it back
    assert len(children(pid)) == 1
    step = child_orders.work(pid, restarted, broker)
    assert step is not None and not step.done and len(children(pid)) == 2


def test_a_passive_limit_exit_holds_its_shares_then_the_stop_comes_back(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    clock.set_time(moment, MONDAY + INTO)
    entry = parent(None, 100)
    order_lifecycle.send(entry, broker)
    book = book_of(entry)
    clock.set_time(moment, MONDAY + timedelta(hours=1) + INTO)  # the next cycle closes it, at the touch
    pid = parent("PASSIVE_LIMIT", 100, touch=101.0, book=book, exit_=True, hour=MONDAY + timedelta(hours=1))
    link = start(pid, broker)
    [resting] = at_broker(alpaca, pid)
    assert (resting["side"], resting["limit_price"], resting["status"]) == ("sell", "101", "new")
    assert broker.live_stops() == {}  # the broker holds the shares for the sell: no stop can be placed on them
    with session_scope(readonly=True) as s:
        refused = s.scalars(select(OrderRow).where(OrderRow.book == book, OrderRow.status == "REJECTED")).all()
    assert refused == []  # and none is tried in vain
    clock.set_time(moment, MONDAY + timedelta(hours=4, seconds=5))  # its bars are over, unfilled
    assert next_link(pid, link, broker)[0].done
    assert order(pid).status == "CANCELED" and broker.positions() == {"AAPL": 100}
    assert broker.live_stops() == {"AAPL": 100}  # guarded again at once


def test_a_vwap_entry_sizes_its_children_by_the_volume_of_the_hours(
        alpaca: AlpacaStandIn, broker: AlpacaBroker, moment: Path) -> None:
    from cream.adapters.local_history import LocalHistory
    from cream.schemas.decisions import ExecutionTactic
    from cream.schemas.market import Timeframe
    from cream.tactic_schedule import PROFILE_SESSIONS, child_schedule, profile_volume

    market = LocalHistory()
    alpaca.add_asset("XLK")
    clock.set_time(moment, MONDAY + INTO)
    pid = parent("VWAP", 1000, symbol="XLK")
    with book_lock(book_of(pid)) as held:
        child_orders.start(pid, broker, held, market=lambda: market)
    past = market.bars("XLK", Timeframe.H1, MONDAY, PROFILE_SESSIONS * 7).volume
    expected = [int(q) for q in child_schedule(ExecutionTactic.VWAP, 1000, float("nan"), profile_volume(past))[1]]
    assert len(set(expected)) > 1 and sum(expected) == 1000
    with session_scope(readonly=True) as s:
        assert [q for _, q, _ in s.get(WorkRow, pid).schedule] == expected  # type: ignore[union-attr]
    assert [int(o["qty"]) for o in at_broker(alpaca, pid)] == expected[:1]
