"""The task policy's pure parts and its failure path, on a real SQLite database (no broker needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy.exc import IntegrityError, OperationalError

import tasks.agents
import tasks.cycle
import tasks.data
from cream.errors import TransientError, UnknownInstrument
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import Book, Cycle, PortfolioSnapshotRow
from tasks.base import Refused, check_arguments, fail_cycle, is_transient

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)


@pytest.fixture()
def cycle_id() -> str:
    db.migrate()
    with session_scope() as s:
        row, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT,
                                                   book=f"policy-{uuid.uuid4().hex[:8]}"), ["XLK"])
        return row.id


@pytest.mark.parametrize("args", [
    ("backtest-default-20250924T1500Z", "XLK"),
    ("paper-my_book-2-20250924T1500Z", "BRK.B"),
])
def test_arguments_of_the_right_types_are_admitted(args: tuple[str, str]) -> None:
    check_arguments(tasks.agents.news_analyst.run, args, {})


@pytest.mark.parametrize("task, args, kwargs, says", [
    (tasks.agents.news_analyst, ("backtest-default-20250924T1500Z",), {}, "missing a required argument"),
    (tasks.agents.news_analyst, ("backtest-default-20250924T1500Z", "XLK", 1), {}, "too many"),
    (tasks.agents.news_analyst, ("backtest-default-20250924T1500Z", "XLK"), {"sym": "XLK"}, "unexpected keyword"),
    (tasks.agents.news_analyst, (123, "XLK"), {}, "argument cycle_id"),
    (tasks.agents.news_analyst, ("backtest-default-20250924T1500Z", "x$k"), {}, "argument symbol"),
    (tasks.agents.news_analyst, ("../../etc/passwd", "XLK"), {}, "argument cycle_id"),
    (tasks.agents.news_analyst, ("backtest-default-20250924T1500Z" * 40, "XLK"), {}, "argument cycle_id"),
    (tasks.agents.trader, ("backtest-default-20250924T1500Z", "1"), {}, "argument iteration"),
    (tasks.agents.trader, ("backtest-default-20250924T1500Z", True), {}, "argument iteration"),
    (tasks.agents.trader, ("backtest-default-20250924T1500Z", 10**100), {}, "argument iteration"),
    (tasks.agents.trader, ("backtest-default-20250924T1500Z", -1), {}, "argument iteration"),
    (tasks.cycle.start_cycle, (["not", "a", "dict"],), {}, "argument trigger"),
    (tasks.cycle.gate_plan, ({"a": 1}, 1), {}, "argument cycle_id"),
    (tasks.data.observe_market, (None,), {}, "argument cycle_id"),
])
def test_arguments_that_do_not_fit_are_refused_in_one_line(task, args, kwargs, says: str) -> None:
    with pytest.raises(Refused) as refused:
        check_arguments(task.run, args, kwargs)
    assert says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("exc, transient", [
    (OperationalError("SELECT 1", {}, Exception("database is locked")), True),
    (TransientError("429"), True),
    (ConnectionError("refused"), True),
    (redis.ConnectionError("down"), True),
    (SoftTimeLimitExceeded(), True),
    (IntegrityError("INSERT", {}, Exception("unique")), False),
    (UnknownInstrument("ZZZ"), False),
    (KeyError("prices"), False),
    (RuntimeError("bug"), False),
])
def test_only_outages_are_retried(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_cycle_fails_cleanly_before_its_book_exists(cycle_id: str) -> None:
    with session_scope() as s:
        book = s.get(Cycle, cycle_id).book
        assert s.get(Book, book) is None
    assert fail_cycle(cycle_id, "data.observe: RuntimeError: " + "x" * 5000)
    with session_scope() as s:
        row = s.get(Cycle, cycle_id)
        assert row.status == "FAILED" and row.reason.startswith("data.observe: RuntimeError")
        assert len(row.reason) == cycles.REASON_CHARS and row.completed_at is not None
        assert s.query(PortfolioSnapshotRow).filter_by(book=book).count() == 0
    assert not fail_cycle(cycle_id, "again")  # the first outcome stays
    with session_scope() as s:
        assert s.get(Cycle, cycle_id).reason.startswith("data.observe")


def test_failing_a_cycle_that_does_not_exist_changes_nothing_and_does_not_raise() -> None:
    db.migrate()
    assert not fail_cycle("backtest-nobody-20250924T1500Z", "why")
    assert not fail_cycle(12345, "not even a string")


def test_a_hard_time_limit_fails_the_cycle(cycle_id: str) -> None:
    """Celery calls on_failure in the worker itself when it killed a task at its hard limit."""
    tasks.data.orient_features.on_failure(TimeLimitExceeded(180), "task-id", [cycle_id], {}, None)
    with session_scope() as s:
        row = s.get(Cycle, cycle_id)
    assert row.status == "FAILED" and "data.orient: hard time limit" in row.reason
