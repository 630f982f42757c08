"""A whole PAPER cycle: real workers read Polygon (polygon-api-client), ask the Gemini agents (google-genai)
and send the approved orders to Alpaca paper (alpaca-py), every client talking to a loopback stand-in that
speaks its provider's wire format."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cream import clock
from cream.config import Settings
from cream.errors import InvalidTrigger
from cream.fleet import LocalFleet
from cream.runner import CycleRunner
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services.replay import replay_cycle
from cream.services.reports import cycle_report
from cream.services.runtime_config import SAMPLE_UNIVERSE
from cream.storage import db
from cream.storage.models import AgentOutput, Cycle, OrderRow
from tests.integration.helpers import cream_environment
from tests.shared_data import POLYGON_5M, require
from tests.standins.alpaca_server import HOLD, SLOW, AlpacaStandIn
from tests.standins.gemini_agents import agent_responder
from tests.standins.gemini_server import GeminiStandIn, gemini_standin
from tests.standins.polygon_server import PolygonStandIn

pytestmark = pytest.mark.integration
GEMINI_KEY = "AIza-paper-test-key-77e1"
# Hours at which the rule-based agents trade the sample symbols on Polygon's bars (tried in order).
HOURS = [datetime(2025, 9, 25, 19, tzinfo=UTC), datetime(2025, 9, 24, 15, tzinfo=UTC),
         datetime(2025, 9, 23, 17, tzinfo=UTC), datetime(2025, 9, 22, 14, tzinfo=UTC)]
INTO_THE_HOUR = timedelta(seconds=40)  # where the fleet's clock stands when a test triggers an hour


def clock_at(hour: datetime) -> None:
    """Move the fleet's clock (every worker's, and the stand-ins') into ``hour``."""
    clock.set_time(Path(os.environ[clock.VARIABLE]), hour + INTO_THE_HOUR)


@pytest.fixture()
def paper(redis_url: str, tmp_path: Path) -> Iterator[tuple[PolygonStandIn, AlpacaStandIn, GeminiStandIn, str]]:
    with PolygonStandIn(require(POLYGON_5M)) as polygon, AlpacaStandIn(sessions=True) as alpaca, \
            gemini_standin(agent_responder()) as gemini:
        for symbol in SAMPLE_UNIVERSE:
            alpaca.add_asset(symbol, tradable=symbol != "COST")  # COST halted at the broker today
        env = {"CREAM_ENV": "PAPER", "CREAM_DATA_DIR": str(tmp_path), "CREAM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
               "CREAM_BROKER_URL": redis_url.rsplit("/", 1)[0] + "/3", "POLYGON_API_KEY": polygon.api_key,
               "ALPACA_API_KEY": alpaca.api_key, "ALPACA_SECRET_KEY": alpaca.secret_key,
               "CREAM_POLYGON_BASE_URL": polygon.url, "CREAM_ALPACA_BASE_URL": alpaca.url,
               "GEMINI_API_KEY": GEMINI_KEY, "CREAM_GEMINI_BASE_URL": gemini.base_url, "CREAM_GEMINI_BACKOFF_S": "0.01",
               "CREAM_POLYGON_REQUESTS_PER_SECOND": "200", "CREAM_POLYGON_BURST": "50",
               "CREAM_VISIBILITY_TIMEOUT": "10", "CREAM_RESTORE_INTERVAL": "1",
               clock.VARIABLE: str(tmp_path / "clock")}  # PAPER runs the current hour only
        with cream_environment(env):
            clock_at(HOURS[0])
            yield polygon, alpaca, gemini, env["CREAM_BROKER_URL"]


def test_paper_cycle_sends_exactly_the_approved_orders_to_the_broker(
        paper: tuple[PolygonStandIn, AlpacaStandIn, GeminiStandIn, str]) -> None:
    polygon, alpaca, gemini, broker_url = paper
    reports = []
    with LocalFleet(Settings()) as fleet:
        runner = CycleRunner(broker_url)
        for hour in HOURS:
            clock_at(hour)
            cycle_id, _ = runner.run(CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book="paper",
                                                  source="test"), timeout=180)
            with db.session_scope(readonly=True) as s:
                reports.append(cycle_report(s, cycle_id))
            if reports[-1]["orders"]:
                break
        runner.close()
        execution_log = (fleet.logs / "execution.log").read_text(errors="replace")
        all_logs = "".join(p.read_text(errors="replace") for p in fleet.logs.glob("*.log"))
    assert all(r["status"] in ("EXECUTED", "NO_TRADE") for r in reports), [r.get("reason") for r in reports]
    assert all(r["llm"]["calls"] > 0 and r["llm"]["cost_usd"] > 0 for r in reports)  # the Gemini agents decided
    with db.session_scope(readonly=True) as s:
        implementations = set(s.scalars(select(AgentOutput.implementation).where(AgentOutput.cycle_id.in_(
            [r["cycle_id"] for r in reports]))))
    assert implementations == {"gemini"}
    assert GEMINI_KEY not in all_logs
    # The PAPER cycle replays from its checkpoints and the recorded replies: same plan, no network.
    calls = len(gemini.requests)
    replayed = replay_cycle(reports[-1]["cycle_id"])
    assert replayed.matches and replayed.errors == [] and len(gemini.requests) == calls
    assert reports[-1]["orders"], "no hour in HOURS produced an order"
    with db.session_scope(readonly=True) as s:
        ours = {o.id: o for o in s.scalars(select(OrderRow).where(OrderRow.book == "paper"))}
        universes = {tuple(c.symbols) for c in s.scalars(select(Cycle).where(Cycle.book == "paper"))}
    assert universes == {("ADBE", "MA", "XLK")}  # the universe, less what the broker cannot trade
    at_broker = {order["client_order_id"]: order for order in alpaca.placed()}
    assert set(at_broker) == set(ours) and alpaca.orders_created == len(ours)
    for coid, order in ours.items():
        assert order.status == "FILLED" and order.broker_order_id == at_broker[coid]["id"]
        assert int(float(at_broker[coid]["qty"])) == order.quantity
        assert at_broker[coid]["order_class"] == "bracket"  # entries carry their stop-loss and take-profit
    assert len(polygon.requests) > 0 and "before taking work" in execution_log
    assert "test-secret" not in execution_log and polygon.api_key not in execution_log


def _kill_execution_worker(fleet: LocalFleet) -> None:
    proc = fleet.procs["execution"]
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child: no goodbye to the broker or Redis
    proc.wait()
    fleet.procs["execution"] = fleet._spawn("execution", [
        "worker", "-Q", "execution", "-n", f"execution-again-{time.monotonic_ns()}@%h", "--pool", "prefork",
        "--concurrency", "1", "--without-gossip", "--without-mingle"])


@pytest.mark.parametrize("fault", [HOLD, SLOW], ids=["killed-before-the-broker-got-the-order",
                                                     "killed-after-the-post-before-the-answer"])
def test_execution_worker_killed_around_the_post_leaves_no_duplicate_and_no_orphan(
        paper: tuple[PolygonStandIn, AlpacaStandIn, GeminiStandIn, str], fault: str) -> None:
    _, alpaca, _, broker_url = paper
    alpaca.fail_next(fault, seconds=40)  # the first order POST of the run
    posted = {HOLD: lambda: ("POST", "/v2/orders") in alpaca.requests, SLOW: lambda: alpaca.orders_created == 1}
    with LocalFleet(Settings(), supervise=False) as fleet:  # the test restarts the worker it kills
        runner = CycleRunner(broker_url)
        cycle_id = None
        for hour in HOURS:
            clock_at(hour)
            cycle_id = runner.start(CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book="paper",
                                                 source="test"))["cycle_id"]
            while not posted[fault]() and not _ended(cycle_id):
                time.sleep(0.05)
            if posted[fault]():
                break
        assert posted[fault](), "no hour in HOURS produced an order"
        _kill_execution_worker(fleet)  # mid-request: the act message stays unacked in Redis
        fleet.wait_ready()
        status = runner.wait(cycle_id, timeout=120)  # act redelivered after the visibility timeout
        runner.close()
        execution_log = (fleet.logs / "execution.log").read_text(errors="replace")
    assert status.value == "EXECUTED"
    with db.session_scope(readonly=True) as s:
        ours = {o.id: o for o in s.scalars(select(OrderRow).where(OrderRow.cycle_id == cycle_id))}
    at_broker = [o["client_order_id"] for o in alpaca.placed()]
    assert sorted(at_broker) == sorted(ours) and len(set(at_broker)) == len(at_broker)  # no duplicate, no orphan
    assert all(o.status == "FILLED" and o.filled_quantity == o.quantity for o in ours.values())
    posts = alpaca.requests.count(("POST", "/v2/orders"))
    # held and dropped: the order is sent again (once) after the restart; stalled after acceptance: it is
    # found by reconciliation and never sent again
    assert posts == (len(ours) + 1 if fault == HOLD else len(ours)), posts
    assert "before taking work" in execution_log


def _ended(cycle_id: str) -> bool:
    with db.session_scope(readonly=True) as s:
        return s.get(Cycle, cycle_id).status != "RUNNING"  # type: ignore[union-attr]


def test_paper_runs_only_the_current_hour(paper: tuple[PolygonStandIn, AlpacaStandIn, GeminiStandIn, str]) -> None:
    """A stale trigger and a future one start nothing and say why; the trigger of the hour that is now runs."""
    _, _, _, broker_url = paper
    now_hour = HOURS[1]  # Wednesday 11:00 New York: an hour before it and one after are cycle hours too
    clock_at(now_hour)
    stale, future = datetime(2024, 1, 2, 15, tzinfo=UTC), datetime(2030, 6, 3, 15, tzinfo=UTC)
    with LocalFleet(Settings()):
        runner = CycleRunner(broker_url)
        refused = {}
        for name, hour in (("stale", stale), ("future", future), ("last hour", now_hour - timedelta(hours=1)),
                           ("next hour", now_hour + timedelta(hours=1))):
            with pytest.raises(InvalidTrigger) as err:
                runner.start(CycleTrigger(environment=Environment.PAPER, scheduled_for=hour, book="paper",
                                          source="test"))
            refused[name] = str(err.value)
        cycle_id, fresh = runner.run(CycleTrigger(environment=Environment.PAPER, scheduled_for=now_hour, book="paper",
                                                  source="test"), timeout=180)
        runner.close()
    assert "is a past hour: PAPER runs only the current cycle hour" in refused["stale"]
    assert "is a future hour: PAPER runs only the current cycle hour" in refused["future"]
    assert "the current one is 2025-09-24T15:00Z" in refused["last hour"] and "future" in refused["next hour"]
    with db.session_scope(readonly=True) as s:
        ran = list(s.scalars(select(Cycle)))
    assert [(c.id, c.scheduled_for.astimezone(UTC)) for c in ran] == [(cycle_id, now_hour)] and fresh
    assert ran[0].status in ("EXECUTED", "NO_TRADE"), ran[0].reason
