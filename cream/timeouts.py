"""Every timeout of the fleet, in one place, and the rules that make them fit together.

README.md ("Timeouts") shows this table; ``tests/unit/test_timeouts.py`` asserts the invariants below,
so a change that breaks one fails there, not in production at 3 a.m.

| timeout | value | why |
|---|---|---|
| SQLite busy wait | 10 s | a locked database raises (and is retried) well before any soft time limit |
| PostgreSQL connect / lock / statement | 5 / 10 / 25 s | the same, for PostgreSQL: nothing waits past a soft limit |
| book lock wait | 30 s | an act waits for another sender of the same book's orders, then retries (TransientError), well inside the execution soft limit |
| book lock of a dead holder | freed at once (process), within 20 s (host, PostgreSQL keepalives 5 s x 4) | a vanished holder never blocks its book longer than a waiter waits |
| soft, hard time limit per queue | see ``TIME_LIMITS`` | soft raises inside the task (retried); hard kills it |
| agent run | 240 s | no model call or retry runs past it (the threads pool cannot kill a task) |
| retries of a transient failure | 1 s doubling to 30 s (at most visibility / 4), x0.5-1 jitter, as many as outlast 90 s (10 by default) | a database or broker outage of ``OUTAGE_TOLERANCE_S`` loses nothing; a retry waiting for its countdown holds its message, which must not be redelivered meanwhile |
| deliveries of one task | 5 | a message whose worker dies every time is given up, its cycle FAILED |
| visibility timeout | 240 s (rule agents), 420 s (LLM agents) | longer than any task plus its longest retry countdown |
| restore sweep | 30 s | how often a worker puts back messages past the visibility timeout |
| orphaned cycle | 10 s without progress and no message naming it in Redis | its messages were lost (a worker killed between popping a message and recording it): resume it at once |
| stalled cycle | visibility + sweep + longest task + 2 min | even with messages in Redis, nothing will move it: resume it |
| recovery sweep (beat) | every 5 min, expires after 4 | resumes stalled cycles; never two queued at once |
| PAPER/LIVE trigger grace | 15 min after its hour (30 s before it) | a trigger still counts as the current hour's through one redelivery and a whole retry window; later it is stale and starts nothing |
| broker reconciliation (beat) | every 60 s, expires after 48 | PAPER/LIVE: exits the broker made and missing protection are found within a minute between cycles; never two queued at once |
| tactic chain step | 30 s (at most visibility / 4) | a TWAP/VWAP/ICEBERG/PASSIVE_LIMIT parent is worked by ``execution.work`` tasks, each scheduling the next with a countdown no longer than this: an hourly bar is reached by many short waits, never one longer than the visibility timeout (a waiting message is held unacknowledged) |
| stalled tactic chain | step + execution hard limit + 30 s without a link | its message was lost (a worker killed between pop and record): the reconciliation pass (beat) starts the chain again; an execution worker's start does so at once |
| runner: trigger answer | 330 s | ``cycles.start`` may retry through a whole outage before it answers |
| worker start-up | ``CREAM_STARTUP_TIMEOUT`` | the first start compiles the engine (numba) |
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

# Queue -> (soft, hard) time limit in seconds. Orchestration only touches the database; data reads bars
# and computes features; execution checks risk and talks to the broker; agents wait on a model.
TIME_LIMITS: dict[str, tuple[int, int]] = {
    "cycles": (30, 60), "agents": (270, 300), "data": (120, 180), "execution": (90, 120),
}
PREFORK_QUEUES = ("cycles", "data", "execution")  # the agents queue runs threads: limits are not enforced

SQLITE_BUSY_S = 10
PG_CONNECT_S = 5
PG_LOCK_S = 10
PG_STATEMENT_S = 25

BOOK_LOCK_WAIT_S = 30.0  # cream.storage.book_lock: how long a sender of a book's orders waits for another
BOOK_LOCK_KEEPALIVE_S = 5  # idle and interval of TCP keepalives on the lock's PostgreSQL connection
BOOK_LOCK_KEEPALIVE_PROBES = 3
BOOK_LOCK_DEAD_HOST_S = BOOK_LOCK_KEEPALIVE_S * (1 + BOOK_LOCK_KEEPALIVE_PROBES)

AGENT_RUN_S = 240.0  # one agent run, every model call and retry included (cream.agents.llm_agents)

RETRY_FIRST_S = 1.0
RETRY_MAX_COUNTDOWN_S = 30.0
RETRY_JITTER_LOW = 0.5  # a countdown is scaled by a random factor in [0.5, 1.0]
OUTAGE_TOLERANCE_S = 90.0  # a database or broker outage this long loses nothing

MAX_DELIVERIES = 5

VISIBILITY_RULES_S = 240
VISIBILITY_LLM_S = 420
RESTORE_INTERVAL_S = 30

RECONCILE_EVERY = timedelta(seconds=60)
OPTION_WATCH_EVERY = timedelta(minutes=2)  # beat's watch of held options' stops and targets in session
WORK_STEP_S = 30.0  # longest countdown between two tasks of a tactic's chain (cream.services.child_orders)
WORK_SLACK_S = 30.0  # queue wait allowed a link before its chain counts as lost
RECOVER_EVERY = timedelta(minutes=5)
RECOVER_EXPIRES = timedelta(minutes=4)
MAX_RESUMES = 3
ORPHANED_AFTER = timedelta(seconds=10)

TRIGGER_ANSWER_S = 330.0
TRIGGER_GRACE = timedelta(minutes=15)  # beat's hourly message expires with it
TRIGGER_EARLY = timedelta(seconds=30)  # clock skew between the host that triggers and the one that checks


class RetryPlan(NamedTuple):
    """How a task retries a transient failure: countdowns doubling from RETRY_FIRST_S up to ``cap_s``,
    scaled by jitter, ``retries`` times."""

    cap_s: float
    retries: int

    def countdown(self, retries: int, jitter: float) -> float:
        """Seconds before retry number ``retries + 1``; ``jitter`` in [0, 1] picks within the jitter band."""
        base = min(self.cap_s, RETRY_FIRST_S * 2.0 ** min(retries, 64))
        return base * (RETRY_JITTER_LOW + (1 - RETRY_JITTER_LOW) * jitter)

    def window_s(self, jitter: float) -> float:
        """How long the retries last in all before the task gives up."""
        return sum(self.countdown(n, jitter) for n in range(self.retries))


def retry_plan(visibility_s: float) -> RetryPlan:
    """Countdowns of at most a quarter of the visibility timeout (a retry waits for its countdown holding
    its message unacknowledged: Redis must not deliver it again meanwhile), and as many retries as outlast
    OUTAGE_TOLERANCE_S even when the jitter makes every countdown its shortest."""
    cap, retries = min(RETRY_MAX_COUNTDOWN_S, visibility_s / 4), 0
    while RetryPlan(cap, retries).window_s(jitter=0.0) < OUTAGE_TOLERANCE_S:
        retries += 1
    return RetryPlan(cap, retries)


def longest_task_s(llm_agents: bool) -> float:
    """The longest a task can hold its message: a prefork hard limit, or an agent run."""
    if not llm_agents:  # rule agents answer at once: the prefork queues' hard limits bound every task
        return max(TIME_LIMITS[q][1] for q in PREFORK_QUEUES)
    return max(AGENT_RUN_S, *(hard for _, hard in TIME_LIMITS.values()))


def default_visibility_s(llm_agents: bool) -> int:
    return VISIBILITY_LLM_S if llm_agents else VISIBILITY_RULES_S


def stall_after(visibility_s: float, restore_interval_s: float, llm_agents: bool) -> timedelta:
    """No progress for this long means the cycle's messages are gone (not merely awaiting redelivery)."""
    return timedelta(seconds=visibility_s + restore_interval_s + longest_task_s(llm_agents) + 120)


def work_step_s(visibility_s: float) -> float:
    """The longest countdown a tactic's chain waits between two passes: like a retry's (a task waiting for
    its countdown holds its message unacknowledged), at most a quarter of the visibility timeout."""
    return min(WORK_STEP_S, visibility_s / 4)


def work_stalled_after(visibility_s: float) -> timedelta:
    """A working parent whose chain has not moved for this long lost its message: start the chain again
    (harmless if it had not: the old link's task finds itself stale and does nothing)."""
    return timedelta(seconds=work_step_s(visibility_s) + TIME_LIMITS["execution"][1] + WORK_SLACK_S)
