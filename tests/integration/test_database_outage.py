"""A 60 s database outage loses no trigger and no cycle: PostgreSQL stopped (every client cut off), or
SQLite locked by another writer. A cycle in flight when it starts and triggers sent during it all run,
to their end, once the database is back."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from cream.storage.db import session_scope
from cream.storage.models import Cycle
from tests.integration.helpers import ORDER_HOUR, trigger, wait_for
from tests.integration.hostile_messages import GOOD_TRIGGER, json_message

OUTAGE_S = 60.0
HOURS = [datetime(2025, 9, 23, h, tzinfo=UTC) for h in (14, 15, 16)]


@contextmanager
def outage(backend: dict[str, str], request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL: the server is stopped. SQLite: another process holds the write lock."""
    url = backend["CREAM_DATABASE_URL"]
    if url.startswith("sqlite"):
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            db = sqlite3.connect(url.split("///", 1)[1], timeout=60, isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            held.set()
            done.wait()
            db.execute("ROLLBACK")
            db.close()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(60)
        try:
            yield
        finally:
            done.set()
            holder.join()
    else:
        server = request.getfixturevalue("postgres")
        server.stop()
        try:
            yield
        finally:
            server.start()


def _pause(fleet, task: str) -> None:
    (fleet.data_dir / "slow-task.pids").unlink(missing_ok=True)
    (fleet.data_dir / "slow-task").write_text(task)


def test_a_60s_database_outage_loses_no_trigger_and_no_cycle(fleet, backend, request) -> None:
    tag = uuid.uuid4().hex[:6]
    _pause(fleet, "data.orient")
    inflight = fleet.runner.start(trigger(f"out{tag}", ORDER_HOUR))["cycle_id"]
    wait_for((fleet.data_dir / "slow-task.pids").exists, what="a cycle in flight")
    books = [f"out{tag}{n}" for n in range(len(HOURS))]
    with outage(backend, request):
        (fleet.data_dir / "slow-task").unlink()  # the cycle in flight runs into the outage
        r = fleet.redis()
        for book, hour in zip(books, HOURS, strict=True):
            r.lpush(*json_message("cycles", dict(GOOD_TRIGGER, book=book, scheduled_for=hour.isoformat())))
        time.sleep(OUTAGE_S)
    back = time.monotonic()
    expected = [inflight, *(f"backtest-{b}-{h:%Y%m%dT%H%MZ}" for b, h in zip(books, HOURS, strict=True))]

    def started() -> bool:
        with session_scope(readonly=True) as s:
            return all(s.get(Cycle, c) is not None for c in expected)

    wait_for(started, timeout=240, what="every trigger sent during the outage to start its cycle")
    for cycle_id in expected:
        status = fleet.runner.wait(cycle_id, timeout=240)
        with session_scope(readonly=True) as s:
            reason = s.get(Cycle, cycle_id).reason  # type: ignore[union-attr]
        assert status.value in ("EXECUTED", "NO_TRADE"), f"{cycle_id}: {status.value} {reason}"
    print(f"\n{backend['CREAM_DATABASE_URL'].split(':')[0]}: every cycle ended {time.monotonic() - back:.1f}s "
          "after the database came back")
    assert "retry" in fleet.log("cycles") + fleet.log("data")
