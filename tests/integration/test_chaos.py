"""Killed processes: the cycle still completes, nothing runs twice, nothing is lost."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from cream import ids
from cream.fleet import POOLS
from cream.services.reports import cycle_report
from cream.storage.db import session_scope
from cream.storage.models import AgentOutput, Checkpoint
from tests.integration.helpers import counts, trigger, wait_for

SYMBOLS = ["ADBE", "COST", "MA", "XLK"]


def _pause(fleet, task: str) -> None:
    (fleet.data_dir / "slow-task.pids").unlink(missing_ok=True)
    (fleet.data_dir / "slow-task").write_text(task)


def _paused_pid(fleet) -> int:
    pids = fleet.data_dir / "slow-task.pids"
    line = wait_for(lambda: pids.exists() and pids.read_text().splitlines(), what="paused task")[0]
    return int(line.split()[0])


def _release(fleet) -> None:
    (fleet.data_dir / "slow-task").unlink(missing_ok=True)


def test_kill_9_of_the_agents_worker_mid_chord_and_the_cycle_completes(fleet) -> None:
    """The agents queue runs a threads pool: its tasks run in the worker process itself, so killing the
    task kills the worker. Its unacknowledged message is redelivered to the restarted worker."""
    t = trigger("killagent", hour=datetime(2025, 9, 24, 15, tzinfo=UTC))
    cycle_id = ids.cycle_id(t.environment, t.book, t.scheduled_for)
    _pause(fleet, "agents.news_analyst")
    fleet.runner.start(t)
    pid = _paused_pid(fleet)
    assert pid == fleet.local.procs["agents"].pid, "a threads pool runs its tasks in the worker process"
    _kill_worker(fleet, "agents")
    killed_at = datetime.now(UTC)
    _release(fleet)
    _restart_worker(fleet, "agents")
    status = fleet.runner.wait(cycle_id, timeout=120)  # redelivered after the 10 s visibility timeout
    assert status.value in ("EXECUTED", "NO_TRADE"), cycle_report_of(cycle_id)
    with session_scope() as s:
        news = list(s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == cycle_id,
                                                        AgentOutput.agent_type == "news_analyst")))
    assert sorted(o.symbol for o in news) == SYMBOLS  # every analyst output exactly once
    assert any(o.created_at >= killed_at for o in news), "the killed task was redelivered and ran again"


def test_kill_9_of_a_prefork_pool_child_mid_task_and_the_cycle_completes(fleet) -> None:
    """Prefork queues (data here): the child dies, the worker survives and the task is redelivered."""
    t = trigger("killchild", hour=datetime(2025, 9, 24, 16, tzinfo=UTC))
    cycle_id = ids.cycle_id(t.environment, t.book, t.scheduled_for)
    _pause(fleet, "data.orient")
    fleet.runner.start(t)
    pid = _paused_pid(fleet)
    assert pid != fleet.local.procs["data"].pid, "the paused task must run in a pool child"
    os.kill(pid, signal.SIGKILL)
    _release(fleet)
    status = fleet.runner.wait(cycle_id, timeout=120)
    assert status.value in ("EXECUTED", "NO_TRADE"), cycle_report_of(cycle_id)
    assert fleet.local.procs["data"].poll() is None, "the worker itself survives the loss of a child"
    assert counts(cycle_id)["checkpoints"].count(f"{cycle_id}:orient:0") == 1
    assert "WorkerLostError" in fleet.log("data") or "signal 9" in fleet.log("data")


def _kill_worker(fleet, queue: str) -> None:
    proc = fleet.local.procs[queue]
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool children, no goodbye to the broker
    proc.wait()


def _restart_worker(fleet, queue: str) -> None:
    fleet.local.procs[queue] = fleet.local._spawn(
        queue, ["worker", "-Q", queue, "-n", f"{queue}-again-{time.monotonic_ns()}@%h", "--pool", POOLS[queue][0],
                "--concurrency", str(POOLS[queue][1]), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--include", "tests.integration.faults"])


def test_kill_9_of_a_whole_worker_and_the_cycle_resumes_after_its_checkpoint(fleet) -> None:
    t = trigger("killdata", hour=datetime(2025, 9, 23, 16, tzinfo=UTC))
    cycle_id = ids.cycle_id(t.environment, t.book, t.scheduled_for)
    _pause(fleet, "data.orient")
    fleet.runner.start(t)
    _paused_pid(fleet)
    _kill_worker(fleet, "data")  # the orient message stays unacked in Redis
    _release(fleet)
    with session_scope() as s:
        observed_at = s.get(Checkpoint, f"{cycle_id}:observe:0").created_at
    _restart_worker(fleet, "data")
    status = fleet.runner.wait(cycle_id, timeout=120)  # redelivered after the 10 s visibility timeout
    assert status.value in ("EXECUTED", "NO_TRADE")
    with session_scope() as s:
        assert s.get(Checkpoint, f"{cycle_id}:observe:0").created_at == observed_at  # not observed again
        assert s.get(Checkpoint, f"{cycle_id}:orient:0") is not None


def test_a_cycle_whose_messages_were_lost_is_resumed_from_its_last_checkpoint(fleet) -> None:
    t = trigger("lost", hour=datetime(2025, 9, 22, 17, tzinfo=UTC))
    cycle_id = ids.cycle_id(t.environment, t.book, t.scheduled_for)
    _pause(fleet, "agents.trader")
    fleet.runner.start(t)
    _paused_pid(fleet)
    _kill_worker(fleet, "agents")
    fleet.redis().delete("unacked", "unacked_index")  # and Redis lost the message it held
    _release(fleet)
    _restart_worker(fleet, "agents")
    with session_scope() as s:  # 20 minutes of silence since the last checkpoint and output
        for row in (Checkpoint, AgentOutput):
            s.execute(update(row).where(row.cycle_id == cycle_id)
                      .values(created_at=datetime.now(UTC) - timedelta(minutes=20)))
    fleet.runner.app.send_task("cycles.recover", queue="cycles")
    status = fleet.runner.wait(cycle_id, timeout=120)
    assert status.value in ("EXECUTED", "NO_TRADE")
    phases = [c.split(":")[1] for c in counts(cycle_id)["checkpoints"]]
    assert "resume" in phases and phases.count("observe") == 1 and phases.count("research") == 1
    assert "trader" in phases


def cycle_report_of(cycle_id: str) -> dict:
    with session_scope() as s:
        return cycle_report(s, cycle_id)
