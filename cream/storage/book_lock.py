"""One sender of orders per book at a time, across every process and host of the fleet.

``with book_lock(book) as held: ...`` holds the book's lock for the whole block - a risk check, the
intents it writes, and every order sent after they commit - so it cannot be a transaction's lock:

- PostgreSQL: a session-level advisory lock on a connection of its own (never pooled). It dies with its
  process (the server ends the session when the socket closes) and with its host (TCP keepalives set on
  both ends end a silent connection within ``BOOK_LOCK_DEAD_HOST_S``). Nothing else can take it away: a
  slow holder keeps it however long it sends. Should its connection be lost all the same (the server
  restarted), ``held.ensure_held()`` says so before the next order is sent.
- SQLite (one host by nature): an exclusive flock on a file beside the database, released by the kernel
  when its process dies.

Waiting is bounded (``BOOK_LOCK_WAIT_S``, well inside the execution queue's soft time limit): a lock not
taken in time raises TransientError, and the task is retried later.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from cream.embedded_redis import lock_within, open_private, private_dir
from cream.errors import TransientError
from cream.storage.db import current_url
from cream.storage.types import utcnow
from cream.timeouts import BOOK_LOCK_KEEPALIVE_PROBES, BOOK_LOCK_KEEPALIVE_S, BOOK_LOCK_WAIT_S, PG_CONNECT_S

log = logging.getLogger(__name__)
LOCK_SPACE = 0x63726D62  # "crmb": the first key of every book's advisory lock (the second hashes the book)
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class HeldBookLock:
    """The book's lock, held since ``acquired_at`` (wall clock, UTC)."""

    book: str
    acquired_at: datetime
    _check: Callable[[], None]

    def ensure_held(self) -> None:
        """TransientError if the lock was lost (its PostgreSQL connection died): send nothing more."""
        self._check()


@contextmanager
def book_lock(book: str, wait_s: float = BOOK_LOCK_WAIT_S, url: str | None = None) -> Iterator[HeldBookLock]:
    """Hold ``book``'s lock for the block; TransientError if another holder kept it for ``wait_s``."""
    url = url or current_url()
    hold = _sqlite_lock if url.startswith("sqlite") else _postgres_lock
    with hold(book, wait_s, url) as check:
        held = HeldBookLock(book, utcnow(), check)
        log.debug("book %s locked", book)
        yield held
    log.debug("book %s unlocked after %.3fs", book, (utcnow() - held.acquired_at).total_seconds())


def _busy(book: str, wait_s: float) -> TransientError:
    return TransientError(f"book {book} has been locked by another sender of its orders for over "
                          f"{wait_s:g}s; retry once it is done")


def _digest(book: str) -> bytes:
    return hashlib.sha256(book.encode()).digest()


# --- SQLite: a lock file per book beside the database ------------------------------------------------------

@contextmanager
def _sqlite_lock(book: str, wait_s: float, url: str) -> Iterator[Callable[[], None]]:
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:":
        raise ValueError(f"a book lock needs a database file or PostgreSQL, not {url!r}")
    where = private_dir(Path(f"{path}.book-locks"))
    fd = open_private(where / f"{_digest(book).hex()[:32]}.lock")
    try:
        if not lock_within(fd, wait_s):
            raise _busy(book, wait_s)
        yield lambda: None  # an open descriptor keeps its flock: nothing can take it away
    finally:
        os.close(fd)  # releases the flock


# --- PostgreSQL: a session advisory lock on a connection of its own ----------------------------------------

_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    if url not in _ENGINES:
        idle, probes = BOOK_LOCK_KEEPALIVE_S, BOOK_LOCK_KEEPALIVE_PROBES
        # Keepalives on the server's side end the session (and free the lock) of a host that vanished; on
        # ours, they end a wait on a server that vanished.
        options = (f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={idle} "
                   f"-c tcp_keepalives_count={probes}")
        _ENGINES[url] = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={
            "connect_timeout": PG_CONNECT_S, "options": options, "keepalives": 1, "keepalives_idle": idle,
            "keepalives_interval": idle, "keepalives_count": probes})
    return _ENGINES[url]


def _keys(book: str) -> dict[str, int]:
    return {"space": LOCK_SPACE, "key": int.from_bytes(_digest(book)[:4], "big", signed=True)}


@contextmanager
def _postgres_lock(book: str, wait_s: float, url: str) -> Iterator[Callable[[], None]]:
    keys = _keys(book)
    conn = _engine(url).connect()
    try:
        _acquire(conn, book, wait_s, keys)
        yield lambda: _ensure_held(conn, book, keys)
        if not conn.invalidated:  # else the session is gone, and its lock with it
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), keys)
            except SQLAlchemyError as exc:
                log.warning("book %s: unlock failed (%s); the lock goes with its connection", book, exc)
    finally:
        conn.close()  # ends the session: whatever it held is released


def _acquire(conn: Connection, book: str, wait_s: float, keys: dict[str, int]) -> None:
    ms = max(1, int(wait_s * 1000))
    # The wait ends on lock_timeout; the statement limit only backs it up.
    conn.execute(text("SELECT set_config('lock_timeout', :ms, false), "
                      "set_config('statement_timeout', :st, false)"), {"ms": str(ms), "st": str(ms + 1000)})
    try:
        conn.execute(text("SELECT pg_advisory_lock(:space, :key)"), keys)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise _busy(book, wait_s) from None
        raise


def _ensure_held(conn: Connection, book: str, keys: dict[str, int]) -> None:
    try:
        held = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "AND granted "
            "AND classid = CAST(CAST(:space AS bigint) & 4294967295 AS oid) "
            "AND objid = CAST(CAST(:key AS bigint) & 4294967295 AS oid) AND objsubid = 2"), keys).scalar()
    except DBAPIError as exc:
        raise TransientError(f"book {book}: the connection holding its lock was lost ({exc}); "
                             "retry") from None
    if not held:
        raise TransientError(f"book {book}: its lock is no longer held; retry")
