"""Every cycle ends: a fault at any phase ends it FAILED with its reason within seconds; an outage is
retried; a message that is not its task's is refused without touching the cycle; a cycle that cannot be
resumed is failed, and the recovery sweep goes on to the next."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.storage.db import session_scope
from cream.storage.models import Checkpoint, Cycle, OrderRow
from cream.timeouts import retry_plan
from tests.integration.helpers import ORDER_HOUR, trigger, wait_for

FAILS_WITHIN = 20.0  # seconds: "at once", with room for a loaded 2-core machine

PHASE_TASKS = ["data.observe", "data.orient", "agents.technical_analyst", "cycles.analysts_done",
               "agents.bearish_researcher", "cycles.research_done", "agents.trader", "agents.critic",
               "cycles.gate", "execution.act"]


def _book() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def _fault(fleet, task: str, kind: str, times: int = 1) -> None:
    (fleet.data_dir / "fault-task").write_text(f"{task} {kind} {times}")


def _cycle(cycle_id: str) -> Cycle:
    with session_scope(readonly=True) as s:
        row = s.get(Cycle, cycle_id)
        assert row is not None
        return row


@pytest.mark.parametrize("task", PHASE_TASKS)
def test_a_fault_in_any_phase_ends_the_cycle_failed_with_its_reason(fleet, task: str) -> None:
    _fault(fleet, task, "fatal")
    try:
        answer = fleet.runner.start(trigger(_book(), ORDER_HOUR))  # a fresh book: no book row yet at observe
        started = time.monotonic()
        status = fleet.runner.wait(answer["cycle_id"], timeout=FAILS_WITHIN)
    finally:
        (fleet.data_dir / "fault-task").unlink(missing_ok=True)
    row = _cycle(answer["cycle_id"])
    assert status.value == "FAILED", row.reason
    assert row.reason.startswith(f"{task}: RuntimeError: injected fault in {task}"), row.reason
    assert time.monotonic() - started < FAILS_WITHIN
    with session_scope(readonly=True) as s:
        assert not list(s.scalars(select(OrderRow).where(OrderRow.cycle_id == row.id)))  # fail closed


def test_an_outage_in_a_phase_is_retried_and_the_cycle_completes(fleet) -> None:
    _fault(fleet, "data.orient", "transient", times=2)
    answer = fleet.runner.start(trigger(_book(), ORDER_HOUR))
    status = fleet.runner.wait(answer["cycle_id"], timeout=60)
    assert status.value == "EXECUTED", _cycle(answer["cycle_id"]).reason
    log = fleet.log("data")
    plan = retry_plan(10)  # the visibility timeout of the test fleet
    assert "data.orient: OperationalError" in log and f"retry 1/{plan.retries}" in log \
        and f"retry 2/{plan.retries}" in log


def test_a_message_on_the_wrong_queue_or_with_wrong_arguments_is_refused_and_the_cycle_runs_on(fleet) -> None:
    fleet.runner.app.send_task("cycles.start", args=[{"kind": "oops"}, 2])  # arity: refused, nothing runs
    _pause(fleet, "data.orient")
    answer = fleet.runner.start(trigger(_book(), ORDER_HOUR))
    cycle_id = answer["cycle_id"]
    wait_for((fleet.data_dir / "slow-task.pids").exists, what="orient to pause")
    app = fleet.runner.app
    app.send_task("execution.act", args=[cycle_id], queue="cycles", routing_key="cycles")  # act before approval
    app.send_task("cycles.gate", args=[cycle_id, "1"], queue="cycles")
    app.send_task("agents.trader", args=[cycle_id], kwargs={"iteration": 1, "extra": True}, queue="agents")
    app.send_task("data.observe", args=[{"cycle_id": cycle_id}], queue="data")
    wait_for(lambda: fleet.log("cycles").count("refused execution.act") >= 1, what="the refusals")
    (fleet.data_dir / "slow-task").unlink()
    status = fleet.runner.wait(cycle_id, timeout=60)
    assert status.value == "EXECUTED", _cycle(cycle_id).reason
    cycles_log, agents_log, data_log = fleet.log("cycles"), fleet.log("agents"), fleet.log("data")
    assert "runs on queue 'execution', not 'cycles'" in cycles_log
    assert "argument iteration: Input should be a valid integer" in cycles_log
    assert "refused agents.trader" in agents_log and "unexpected keyword argument 'extra'" in agents_log
    assert "refused data.observe" in data_log and "argument cycle_id" in data_log
    assert "refused cycles.start" in cycles_log


def test_a_task_whose_worker_keeps_dying_is_given_up_and_its_cycle_failed(fleet) -> None:
    from tests.integration.test_chaos import _kill_worker, _restart_worker

    _pause(fleet, "data.orient")
    answer = fleet.runner.start(trigger(_book(), ORDER_HOUR))
    line = wait_for(lambda: (fleet.data_dir / "slow-task.pids").exists()
                    and (fleet.data_dir / "slow-task.pids").read_text().split(), what="orient to pause")
    task_id = line[1]
    _kill_worker(fleet, "data")
    (fleet.data_dir / "slow-task").unlink()
    # As if it had been delivered five times already (once, then four redeliveries), each time to a worker
    # that died running it: the next delivery is the sixth.
    fleet.redis().set(f"cream:redeliveries:{task_id}:0", 4)
    _restart_worker(fleet, "data")
    status = fleet.runner.wait(answer["cycle_id"], timeout=90)  # redelivered after the 10 s visibility timeout
    reason = _cycle(answer["cycle_id"]).reason
    assert status.value == "FAILED" and "data.orient was delivered 6 times and never finished" in reason, reason


def test_the_recovery_sweep_fails_what_it_cannot_resume_and_resumes_the_rest(fleet) -> None:
    hour = datetime(2025, 9, 18, 14, tzinfo=UTC)
    broken, gave_up, lost = (_open(f"r{n}{uuid.uuid4().hex[:8]}", hour) for n in range(3))
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with session_scope() as s:
        s.add(Checkpoint(id=f"{broken}:bogus:0", cycle_id=broken, phase="bogus", iteration=0, data={},
                         created_at=long_ago))
        for n in range(1, 4):
            s.add(Checkpoint(id=f"{gave_up}:resume:{n}", cycle_id=gave_up, phase="resume", iteration=n,
                             data={"after": None}, created_at=long_ago))
        s.execute(update(Cycle).where(Cycle.id.in_([broken, gave_up, lost])).values(started_at=long_ago))
    fleet.runner.app.send_task("cycles.recover", queue="cycles")
    assert fleet.runner.wait(lost, timeout=90).value in ("EXECUTED", "NO_TRADE")  # resumed from the start
    assert _cycle(broken).status == "FAILED" and "could not be resumed: ValueError" in _cycle(broken).reason
    assert _cycle(gave_up).status == "FAILED" and "stalled 3 times" in _cycle(gave_up).reason


def _open(book: str, hour: datetime) -> str:
    """A cycle whose trigger was recorded but whose messages were all lost."""
    with session_scope() as s:
        row, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book=book,
                                                   symbols=["XLK"], source="test"), ["XLK"])
        return row.id


def _pause(fleet, task: str) -> None:
    (fleet.data_dir / "slow-task.pids").unlink(missing_ok=True)
    (fleet.data_dir / "slow-task").write_text(task)
