"""The timeouts of the fleet fit together (cream/timeouts.py): each rule below, broken, once cost a cycle."""

from __future__ import annotations

from datetime import timedelta

import pytest

import beat_schedule
from cream import timeouts as t
from cream.agents import llm_agents
from cream.timeouts import TIME_LIMITS

VISIBILITY = (t.VISIBILITY_RULES_S, t.VISIBILITY_LLM_S)


def test_soft_limits_come_before_hard_ones() -> None:
    for queue, (soft, hard) in TIME_LIMITS.items():
        assert 0 < soft < hard, queue


def test_a_locked_or_lost_database_raises_before_any_soft_limit() -> None:
    """A lock wait that outlasts the soft limit ends in SoftTimeLimitExceeded in the middle of a write;
    shorter, it ends in OperationalError, which the task retries."""
    shortest_soft = min(TIME_LIMITS[q][0] for q in t.PREFORK_QUEUES)
    assert t.SQLITE_BUSY_S < shortest_soft
    assert t.PG_LOCK_S < shortest_soft and t.PG_STATEMENT_S < shortest_soft and t.PG_CONNECT_S < shortest_soft


def test_an_act_waits_for_the_book_lock_well_inside_the_execution_soft_limit() -> None:
    """Waiting longer would end in SoftTimeLimitExceeded; shorter, it raises TransientError and the act is
    retried - with time left to do its own work once it has the lock. A holder whose host vanished frees
    the lock before a waiter gives up."""
    soft = TIME_LIMITS["execution"][0]
    assert t.BOOK_LOCK_WAIT_S <= soft / 2
    assert t.BOOK_LOCK_WAIT_S + t.PG_CONNECT_S + t.PG_STATEMENT_S < soft
    assert t.BOOK_LOCK_DEAD_HOST_S < t.BOOK_LOCK_WAIT_S


def test_an_agent_run_ends_inside_the_agents_time_limits() -> None:
    assert llm_agents.RUN_SECONDS == t.AGENT_RUN_S
    assert t.AGENT_RUN_S < TIME_LIMITS["agents"][0]


@pytest.mark.parametrize("visibility", [*VISIBILITY, 60, 10])  # 10: what the tests shorten it to
def test_retries_outlast_an_outage_and_never_wait_past_the_visibility_timeout(visibility: int) -> None:
    plan = t.retry_plan(visibility)
    assert plan.window_s(jitter=0.0) >= t.OUTAGE_TOLERANCE_S >= 60  # the shortest the jitter can make it
    assert max(plan.countdown(n, 1.0) for n in range(plan.retries)) == plan.cap_s <= visibility / 4


def test_the_default_plan_retries_ten_times_up_to_30s() -> None:
    assert t.retry_plan(t.VISIBILITY_RULES_S) == t.retry_plan(t.VISIBILITY_LLM_S) == (30.0, 10)


def test_no_task_is_delivered_twice_while_it_still_runs() -> None:
    """A message is redelivered once it has been unacknowledged for the visibility timeout; a running
    task (or a retry waiting for its countdown) must never be that old."""
    for llm in (False, True):
        visibility = t.default_visibility_s(llm)
        assert visibility > t.longest_task_s(llm) + t.retry_plan(visibility).cap_s
    assert t.longest_task_s(True) >= max(hard for _, hard in TIME_LIMITS.values())


def test_a_cycle_counts_as_stalled_only_after_its_messages_could_have_come_back() -> None:
    for llm in (False, True):
        visibility = t.default_visibility_s(llm)
        stall = t.stall_after(visibility, t.RESTORE_INTERVAL_S, llm).total_seconds()
        assert stall > visibility + t.RESTORE_INTERVAL_S + t.longest_task_s(llm)


def test_the_recovery_sweep_runs_often_and_never_piles_up() -> None:
    sweep = beat_schedule.BEAT_SCHEDULE["resume-stalled-cycles"]
    assert sweep["schedule"] == t.RECOVER_EVERY
    assert sweep["options"]["expires"] < t.RECOVER_EVERY.total_seconds()
    assert t.RECOVER_EVERY < t.stall_after(t.VISIBILITY_RULES_S, t.RESTORE_INTERVAL_S, False)


def test_the_broker_reconciliation_runs_every_minute_and_never_piles_up() -> None:
    """PAPER/LIVE: an exit the broker made, or protection gone missing, is seen within a minute; a pass
    that waits for the book's lock ends before the next one is sent."""
    entry = beat_schedule.BEAT_SCHEDULE["reconcile-with-broker"]
    assert (entry["task"], entry["options"]["queue"]) == ("execution.reconcile", "execution")
    assert entry["schedule"] == t.RECONCILE_EVERY <= timedelta(minutes=1)
    assert t.BOOK_LOCK_WAIT_S < entry["options"]["expires"] < t.RECONCILE_EVERY.total_seconds()


def test_the_runner_waits_for_an_answer_longer_than_the_trigger_can_retry() -> None:
    for visibility in VISIBILITY:
        assert t.TRIGGER_ANSWER_S > t.retry_plan(visibility).window_s(jitter=1.0) + TIME_LIMITS["cycles"][1]


def test_a_trigger_stays_current_through_a_redelivery_and_a_whole_retry_window() -> None:
    """A PAPER/LIVE trigger delayed by the fleet itself (its worker killed, the database down) must not
    turn stale on the way: beat's message dies with the grace, and the grace outlasts the worst delay."""
    for visibility in VISIBILITY:
        worst = (visibility + t.RESTORE_INTERVAL_S + t.retry_plan(visibility).window_s(jitter=1.0)
                 + TIME_LIMITS["cycles"][1])
        assert t.TRIGGER_GRACE.total_seconds() > worst
    hourly = beat_schedule.BEAT_SCHEDULE["trading-cycle-hourly"]
    assert hourly["options"]["expires"] == t.TRIGGER_GRACE.total_seconds()
    assert t.TRIGGER_EARLY < t.TRIGGER_GRACE / 10


def test_the_worker_app_uses_this_table(monkeypatch) -> None:
    import tasks.data  # noqa: F401  (registers the data tasks on the fleet's app)
    from cream.config import get_settings
    from workers.app import app as fleet_app
    from workers.app import make_app

    monkeypatch.delenv("CREAM_VISIBILITY_TIMEOUT", raising=False)
    monkeypatch.delenv("CREAM_AGENTS", raising=False)
    get_settings.cache_clear()
    app = make_app()
    try:
        assert app.conf.broker_transport_options["visibility_timeout"] == t.VISIBILITY_RULES_S  # BACKTEST, rules
        assert (app.conf.task_soft_time_limit, app.conf.task_time_limit) == TIME_LIMITS["cycles"]
        assert {task.soft_time_limit for name, task in fleet_app.tasks.items() if name.startswith("data.")} == \
            {TIME_LIMITS["data"][0]}
    finally:
        app.close()
        get_settings.cache_clear()


@pytest.mark.parametrize("visibility", [*VISIBILITY, 60, 10])
def test_a_tactic_chain_never_waits_past_the_visibility_timeout(visibility: int) -> None:
    """Each link of an ``execution.work`` chain waits for its countdown holding its message: no countdown may
    outlast the visibility timeout (Redis would deliver the link again while it waits), nor what the
    consumer lets a message's eta be (workers.consumer: twice the retry cap). An hour is many links."""
    step = t.work_step_s(visibility)
    assert 0 < step <= visibility / 4 and step <= t.retry_plan(visibility).cap_s
    assert 3600 / step >= 100


def test_a_link_waiting_and_then_running_is_never_delivered_twice_meanwhile() -> None:
    for llm in (False, True):
        visibility = t.default_visibility_s(llm)
        assert visibility > t.work_step_s(visibility) + TIME_LIMITS["execution"][1]


def test_a_stalled_tactic_chain_is_restarted_only_after_a_link_could_have_run() -> None:
    """Restarting a chain that was merely slow is harmless (its old link finds itself stale), but it must not
    happen to every chain on every pass: the quiet time outlasts a countdown and a whole execution task."""
    for visibility in VISIBILITY:
        quiet = t.work_stalled_after(visibility).total_seconds()
        assert quiet > t.work_step_s(visibility) + TIME_LIMITS["execution"][1]
        assert quiet > t.RECONCILE_EVERY.total_seconds()  # the pass that restarts it runs more often
