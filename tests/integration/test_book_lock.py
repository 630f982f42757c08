"""The book lock (cream/storage/book_lock.py) between real processes, on SQLite and on PostgreSQL: one
holder at a time, a holder killed with SIGKILL frees it, a waiter gives up in time with TransientError."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from cream.errors import TransientError
from cream.storage.book_lock import LOCK_SPACE, book_lock

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# A sender of a book's orders: takes the lock ``rounds`` times, holding it ``hold`` seconds each time, and
# prints the wall-clock interval of each hold (taken inside it).
SENDER = """
import sys, time
from cream.storage.book_lock import book_lock
from cream.storage.types import utcnow
book, url, hold, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
for _ in range(rounds):
    with book_lock(book, wait_s=60, url=url) as held:
        print("held", held.acquired_at.isoformat(), flush=True)
        time.sleep(hold)
        print("until", utcnow().isoformat(), flush=True)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cream.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _sender(book: str, url: str, hold: float, rounds: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SENDER, book, url, str(hold), str(rounds)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


@pytest.fixture()
def senders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _holding(proc: subprocess.Popen[str]) -> datetime:
    """Wait until ``proc`` holds the lock; when it took it."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("held "), f"the sender never took the lock (exit {proc.poll()})"
    return datetime.fromisoformat(line.split()[1])


def _intervals(out: str) -> list[tuple[datetime, datetime]]:
    stamps = [datetime.fromisoformat(line.split()[1]) for line in out.splitlines()]
    return list(zip(stamps[::2], stamps[1::2], strict=True))


def test_senders_in_three_processes_hold_the_book_lock_one_at_a_time(url: str, senders: list) -> None:
    senders += [_sender("shared", url, hold=0.1, rounds=5) for _ in range(3)]
    held = []
    for proc in senders:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        held += _intervals(out)
    held.sort()
    assert len(held) == 15
    overlaps = [(a, b) for a, b in itertools.pairwise(held) if b[0] < a[1]]
    assert not overlaps, f"two senders held the book at once: {overlaps}"


def test_a_waiter_takes_the_lock_once_the_holder_is_done(url: str, senders: list) -> None:
    senders.append(_sender("alpha", url, hold=1.5))
    _holding(senders[0])
    t0 = time.monotonic()
    with book_lock("alpha", wait_s=20, url=url) as held:
        waited = time.monotonic() - t0
        out, _ = senders[0].communicate(timeout=10)
    (until,) = [datetime.fromisoformat(line.split()[1]) for line in out.splitlines() if line.startswith("until")]
    assert held.acquired_at >= until and 0.5 < waited < 10


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(url: str, senders: list) -> None:
    senders.append(_sender("alpha", url, hold=600))
    _holding(senders[0])
    with pytest.raises(TransientError, match="locked by another sender"), book_lock("alpha", wait_s=0.3, url=url):
        pass
    os.kill(senders[0].pid, signal.SIGKILL)
    senders[0].wait()
    t0 = time.monotonic()
    with book_lock("alpha", wait_s=20, url=url):
        assert time.monotonic() - t0 < 5


def test_a_waiter_gives_up_with_a_transient_error_after_its_wait(url: str, senders: list) -> None:
    senders.append(_sender("alpha", url, hold=600))
    _holding(senders[0])
    t0 = time.monotonic()
    busy = "book alpha has been locked by another sender of its orders for over 1s"
    with pytest.raises(TransientError, match=busy), book_lock("alpha", wait_s=1.0, url=url):
        pytest.fail("took a lock another process holds")
    assert 0.9 < time.monotonic() - t0 < 5
    with book_lock("beta", wait_s=0.5, url=url):  # another book is not held up
        pass


def test_a_holder_whose_connection_is_cut_knows_it_lost_the_lock(postgres_url: str) -> None:
    """PostgreSQL: the session is ended under the holder (a server restart, an administrator): the next
    check before an order raises TransientError, and another sender can take the book."""
    with book_lock("alpha", url=postgres_url) as held:
        held.ensure_held()
        admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            cut = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                               "AND classid = %s AND objsubid = 2", (LOCK_SPACE,)).fetchall()
        assert cut == [(True,)]
        with pytest.raises(TransientError, match="book alpha"):
            held.ensure_held()
        with book_lock("alpha", wait_s=5, url=postgres_url):
            pass
