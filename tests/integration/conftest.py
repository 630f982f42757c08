"""Integration fixtures: a real redis-server, real PostgreSQL, and real Celery worker processes.

Every integration test runs once on SQLite and once on PostgreSQL (the `backend` parameter).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from cream import clock
from cream.adapters.alpaca_broker import AlpacaBroker
from cream.config import Settings
from cream.fleet import LocalFleet
from cream.runner import CycleRunner
from tests.integration.helpers import cream_environment
from tests.integration.servers import PostgresServer, postgres_server, redis_server
from tests.standins.alpaca_server import AlpacaStandIn

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    return postgres.url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of one backend: its own database, data dir and Redis database number."""
    data_dir = tmp_path_factory.mktemp(f"cream-{request.param}")
    db_url = f"sqlite:///{data_dir / 'cream.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_url")
    broker = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + ("/1" if request.param == "sqlite" else "/2")
    env = {"CREAM_DATA_DIR": str(data_dir), "CREAM_DATABASE_URL": db_url, "CREAM_BROKER_URL": broker,
           "CREAM_VISIBILITY_TIMEOUT": "10", "CREAM_RESTORE_INTERVAL": "1",
           "CREAM_ENV": "BACKTEST"}
    with cream_environment(env):
        yield env


class Fleet:
    def __init__(self, fleet: LocalFleet, env: dict[str, str]) -> None:
        self.local, self.env = fleet, env
        self.data_dir = Path(env["CREAM_DATA_DIR"])
        self.runner = CycleRunner(env["CREAM_BROKER_URL"])

    def log(self, queue: str) -> str:
        return (self.local.logs / f"{queue}.log").read_text(errors="replace")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["CREAM_BROKER_URL"])


@pytest.fixture(scope="session")
def fleet(backend: dict[str, str]) -> Iterator[Fleet]:
    """One real worker process per queue (prefork pools), with the test pause hook loaded."""
    redis.Redis.from_url(backend["CREAM_BROKER_URL"]).flushdb()
    # The tests kill and restart workers themselves: no supervisor restarting them behind their backs.
    with LocalFleet(Settings(), worker_args=("--include", "tests.integration.faults"), supervise=False) as local:
        f = Fleet(local, backend)
        yield f
        f.runner.close()


# --- Alpaca over days: the stand-in on a clock the test moves ----------------------------------------

MONDAY = datetime(2025, 9, 22, 15, tzinfo=UTC)  # 11:00 New York, where the clock of ``moment`` starts


@pytest.fixture
def moment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The fleet's clock, set to MONDAY: move it with ``clock.set_time(moment, ...)``."""
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.VARIABLE, str(path))
    clock.set_time(path, MONDAY)
    yield path


@pytest.fixture
def alpaca_days(moment: Path) -> Iterator[AlpacaStandIn]:
    """The Alpaca stand-in with sessions, filling at 100.0 until a test ticks another price."""
    with AlpacaStandIn(fill_price=100.0, sessions=True) as server:
        yield server


@pytest.fixture
def alpaca_days_broker(alpaca_days: AlpacaStandIn) -> AlpacaBroker:
    return AlpacaBroker("test-key", "test-secret", paper=True, url_override=alpaca_days.url, timeout=2.0)
