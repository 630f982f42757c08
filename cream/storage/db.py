"""Database engine, sessions and migrations (SQLite file by default, PostgreSQL via psycopg)."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from cream.config import get_settings
from cream.errors import ConfigurationError
from cream.timeouts import PG_CONNECT_S, PG_LOCK_S, PG_STATEMENT_S, SQLITE_BUSY_S

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is off (isolation_level=None); we BEGIN IMMEDIATE
    # ourselves so that concurrent worker processes queue on busy_timeout instead of failing
    # with "database is locked" when a reader upgrades to a writer.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def _autocommit_engine(url: str) -> Engine:
    """PostgreSQL: a pool of AUTOCOMMIT connections beside the transactional one. Switching a pooled
    connection to AUTOCOMMIT for one session and back when it returns cost several calls into the driver
    per session, more than the session's statement."""
    key = f"{url}#autocommit"
    if key not in _ENGINES:
        _ENGINES[key] = _create_engine(url, isolation_level="AUTOCOMMIT")
    return _ENGINES[key]


# SQLite: the writers of this process queue here before BEGIN IMMEDIATE, one database file each. A writer
# that finds the database locked sleeps in SQLite's busy handler (1, 2, 5, 10, 15 ms ... between tries) and
# can sleep past the moment it was freed; the agents' threads pool records its outputs side by side, and
# the last of a group to record was kept waiting so. Other processes still wait in the busy handler.
_WRITERS: dict[str, threading.RLock] = {}
_SCOPES = threading.local()  # per thread: the write locks each open session_scope holds, innermost last


def _sqlite_begin(conn: Any) -> None:
    # Readers take no lock in WAL mode; writers take the write lock up front (see _sqlite_pragmas).
    # Through SQLAlchemy, not straight to the driver: a locked database's error must reach the error policy
    # as SQLAlchemy's OperationalError (a driver error raised in this event is not wrapped), to be retried.
    if conn.get_execution_options().get("cream_readonly"):
        conn.exec_driver_sql("BEGIN")
        return
    scopes = getattr(_SCOPES, "held", None)
    if scopes:  # a session_scope's session, which releases it when it ends (after its COMMIT or ROLLBACK)
        lock = _WRITERS.setdefault(str(conn.engine.url), threading.RLock())
        if lock.acquire(timeout=SQLITE_BUSY_S):  # else on to SQLite's own wait, as before
            scopes[-1].append(lock)
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_engine(url: str, **extra: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # The user's alone (SQLite gives its -wal and -shm files the database file's mode).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            if Path(path).stat().st_mode & 0o077 and Path(path).stat().st_uid == os.geteuid():
                os.chmod(path, 0o600)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Nothing waits on PostgreSQL past a soft time limit: a lost server or a held lock raises, and is retried.
    options = f"-c lock_timeout={PG_LOCK_S * 1000} -c statement_timeout={PG_STATEMENT_S * 1000}"
    engine = create_engine(url, pool_size=5, max_overflow=5,
                           connect_args={"connect_timeout": PG_CONNECT_S, "options": options}, **extra)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    event.listen(engine, "checkin", _note_use)
    return engine


PING_IDLE_S = 1.0  # a pooled connection unused for longer is pinged before use


def _ping_if_idle(dialect: Any, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling, as ``pool_pre_ping``, but only for a connection idle more than
    PING_IDLE_S: a step's sessions follow each other within milliseconds, and a ping per session was a
    round trip per session. A connection the server dropped in that last second fails its statement,
    which the error policy retries like any lost server (the pool then drops its other connections)."""
    used = record.info.get("cream_used")
    if used is not None and time.monotonic() - used < PING_IDLE_S:
        return
    try:
        dialect.do_ping(dbapi_conn)
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_conn, None):
            raise DisconnectionError(f"pooled connection lost: {exc}") from exc  # the pool connects anew
        raise


def _note_use(dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["cream_used"] = time.monotonic()


_USING: ContextVar[str | None] = ContextVar("cream_database_url", default=None)


def memo(session: Session, name: str, tables: tuple[str, ...]) -> dict[Any, Any] | None:
    """In ``one_transaction``: a dict to keep what was read from ``tables`` in, emptied whenever the session
    writes to one of them (pending writes are flushed first, so they empty it now); None otherwise."""
    if not sole_writer(session):
        return None
    session.flush()
    session.info.setdefault("memo_tables", {})[name] = frozenset(tables)
    found: dict[Any, Any] = session.info.setdefault(name, {})
    return found


def insert_later(session: Session, row: Any) -> bool:
    """In ``one_transaction``: keep ``row`` to be inserted with the others of its table in one statement
    when the transaction commits (True); otherwise do nothing (False: the caller adds it). For rows that
    only their writer reads back within the transaction, from its own memo (agent outputs): the ORM
    inserts rows with a generated id one statement each on SQLite, to learn each id."""
    if not sole_writer(session):
        return False
    session.info.setdefault("insert_later", []).append(row)
    return True


def _insert_deferred(session: Session) -> None:
    rows = session.info.pop("insert_later", [])
    if not rows:
        return
    session.flush()  # what they refer to (the cycle) goes first
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        columns = [c for c in row.__table__.columns if getattr(row, c.key, None) is not None or not c.primary_key]
        by_table.setdefault(row.__table__, []).append({c.key: getattr(row, c.key) for c in columns})
    for table, values in by_table.items():
        session.execute(table.insert(), values)


def _forget_stale(session: Session, _context: Any) -> None:
    touched = {getattr(o, "__tablename__", None) for o in (*session.new, *session.dirty, *session.deleted)}
    for name, tables in session.info.get("memo_tables", {}).items():
        if touched & tables:
            session.info.pop(name, None)


def sole_writer(session: Session) -> bool:
    """The session is ``one_transaction``'s: no concurrent writer can race its inserts."""
    ambient = _AMBIENT.get()
    return ambient is not None and ambient[1] is session


def writes_serialized(session: Session) -> bool:
    """No other writer can commit while this session's write transaction is open: SQLite's write
    transactions take the database's write lock at BEGIN (IMMEDIATE), and ``one_transaction`` has none.
    Then what it reads after its own writes is all that is recorded; on PostgreSQL a peer's concurrent
    transaction may commit unseen."""
    return sole_writer(session) or session.get_bind().dialect.name == "sqlite"


def current_url() -> str:
    """The database sessions reach: the configured one, or a scratch database while one is in use."""
    return _USING.get() or configured_url()


def configured_url() -> str:
    """The user's database (CREAM_DATABASE_URL, else the embedded SQLite), even inside a scratch one: model
    recordings and trade memory live there."""
    return get_settings().resolved_database_url


@contextmanager
def scratch_database() -> Iterator[str]:
    """A throwaway SQLite database with the current schema, used by this thread while the block runs
    (``session_scope()`` without a url reaches it): replay and evals run cycle phases there, never in the
    user's database. Deleted afterwards."""
    from cream.storage.models import Base

    with tempfile.TemporaryDirectory(prefix="cream-scratch-") as home:
        url = f"sqlite:///{home}/scratch.sqlite"
        Base.metadata.create_all(engine_for(url))
        token = _USING.set(url)
        try:
            yield url
        finally:
            _USING.reset(token)
            _sessions.cache_clear()
            _ENGINES.pop(url).dispose()


@lru_cache(maxsize=8)
def _sessions(url: str, readonly: bool, autocommit: bool = False) -> sessionmaker[Session]:
    engine = engine_for(url)
    if (readonly or autocommit) and engine.dialect.name == "postgresql":
        # Each statement of a read on READ COMMITTED sees its own snapshot anyway: without a transaction
        # around them the same reads cost no BEGIN and no COMMIT round trip. So does a write of one
        # statement (``autocommit``), which is a transaction of its own.
        return sessionmaker(_autocommit_engine(url), expire_on_commit=False, info={"url": url, "autocommit": True})
    if readonly:
        engine = engine.execution_options(cream_readonly=True)
    return sessionmaker(engine, expire_on_commit=False, info={"url": url})


def autocommitted(session: Session) -> bool:
    """Each statement of the session commits on its own (PostgreSQL: ``readonly`` and ``autocommit`` sessions)."""
    return bool(session.info.get("autocommit"))


def session_url(session: Session) -> str | None:
    """The database URL a ``session_scope`` session works on (None for a session made elsewhere)."""
    return session.info.get("url")


_AMBIENT: ContextVar[tuple[str, Session] | None] = ContextVar("cream_ambient_session", default=None)


@contextmanager
def one_transaction(url: str | None = None) -> Iterator[Session]:
    """Every ``session_scope`` of this database inside the block joins one session and one transaction,
    committed at the end, rolled back whole on an exception. The in-process runner runs a cycle this way:
    it commits whole or not at all, and what one step wrote the next reads from the session without a
    round trip. Nothing else writes meanwhile (SQLite: the write lock is held; PostgreSQL: nothing else
    writes a backtest's private book), so no scope needs a savepoint of its own."""
    url = url or current_url()
    session = _sessions(url, False)()
    # The identity map holds rows weakly: keep every row of the transaction, so a later step's get() of
    # the cycle or a checkpoint is answered from the session, not the database.
    held: list[Any] = []
    event.listen(session, "loaded_as_persistent", lambda _s, obj: held.append(obj))
    event.listen(session, "pending_to_persistent", lambda _s, obj: held.append(obj))
    event.listen(session, "after_flush", _forget_stale)
    event.listen(session, "before_commit", _insert_deferred)
    token = _AMBIENT.set((url, session))
    try:
        with _committed(session):
            yield session
    finally:
        _AMBIENT.reset(token)


@contextmanager
def session_scope(url: str | None = None, readonly: bool = False, autocommit: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any exception (inside ``one_transaction``:
    part of its transaction, which an exception rolls back whole).

    ``readonly`` sessions must not write: on SQLite they take no lock, so they never wait on writers.
    ``autocommit``: on PostgreSQL each statement is a transaction of its own, committed when it returns
    (``autocommitted`` tells; for writes of one statement each, and what they read after); on SQLite
    this is an ordinary session, one transaction.
    """
    ambient = _AMBIENT.get()
    if ambient is not None and (url is None or url == ambient[0]):
        yield ambient[1]
        return
    with _committed(_sessions(url or current_url(), readonly, autocommit and not readonly)()) as session:
        yield session


@contextmanager
def _committed(session: Session) -> Iterator[Session]:
    held: list[threading.RLock] = []
    scopes = _SCOPES.__dict__.setdefault("held", [])
    scopes.append(held)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        try:
            session.close()
        finally:
            scopes.pop()
            for lock in held:
                lock.release()


def _alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest migration (idempotent; two processes at once take turns: on
    SQLite a lock file beside the database, on PostgreSQL an advisory lock in migrations/env.py)."""
    url = url or current_url()
    engine_for(url)  # creates the SQLite file's directory
    with _sqlite_migration_lock(url):
        command.upgrade(_alembic_config(url), "head")


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    if not path or path == ":memory:":
        yield
        return
    fd = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def assert_migrated(url: str | None = None) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    url = url or current_url()
    head = ScriptDirectory.from_config(_alembic_config(url)).get_current_head()
    with engine_for(url).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigurationError(
            f"database schema is at {current or 'nothing'}, code expects {head}: run `cream db upgrade`"
        )


def reset_after_fork() -> None:
    """Drop pooled connections inherited from a parent process (prefork pool children)."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)
