"""PAPER on loopback stand-ins, for tests that run a real fleet over hours and days: Polygon serving the shipped
5-minute bars, Alpaca keeping its rules over sessions, Gemini answering as the rule-based agents would, and
one clock (``CREAM_CLOCK_FILE``) every process reads and the test moves."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest

from cream import clock
from cream.adapters.local_history import LocalHistory
from cream.schemas.market import Timeframe
from cream.services.runtime_config import SAMPLE_UNIVERSE
from tests.integration.helpers import cream_environment
from tests.shared_data import POLYGON_5M, require
from tests.standins.alpaca_server import AlpacaStandIn
from tests.standins.gemini_agents import agent_responder
from tests.standins.gemini_server import gemini_standin
from tests.standins.polygon_server import PolygonStandIn

TRADED = ("ADBE", "MA", "XLK")  # the sample universe, less COST, which the broker halts


class PaperWorld(NamedTuple):
    alpaca: AlpacaStandIn
    broker_url: str


def database_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A database of the test's own: a SQLite file in ``tmp_path``, or a new database on the PostgreSQL server."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/cream.db"
    base = str(request.getfixturevalue("postgres_url"))
    name = f"cream_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def paper_world(tmp_path: Path, db_url: str, broker_url: str, book: str, starts: datetime,
                edit: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None) -> Iterator[PaperWorld]:
    """This process (and the fleet it starts) in PAPER on the stand-ins, the clock at ``starts``;
    ``edit`` changes the stand-in model's answers (see ``agent_responder``)."""
    with PolygonStandIn(require(POLYGON_5M)) as polygon, AlpacaStandIn(sessions=True) as alpaca, \
            gemini_standin(agent_responder(edit=edit)) as gemini:
        for symbol in SAMPLE_UNIVERSE:
            alpaca.add_asset(symbol, tradable=symbol in TRADED)
        env = {"CREAM_ENV": "PAPER", "CREAM_DATA_DIR": str(tmp_path), "CREAM_DATABASE_URL": db_url,
               "CREAM_BROKER_URL": broker_url, "POLYGON_API_KEY": polygon.api_key,
               "ALPACA_API_KEY": alpaca.api_key, "ALPACA_SECRET_KEY": alpaca.secret_key,
               "CREAM_POLYGON_BASE_URL": polygon.url, "CREAM_ALPACA_BASE_URL": alpaca.url,
               "GEMINI_API_KEY": "AIza-paper-world-key", "CREAM_GEMINI_BASE_URL": gemini.base_url,
               "CREAM_GEMINI_BACKOFF_S": "0.01", "CREAM_POLYGON_REQUESTS_PER_SECOND": "200",
               "CREAM_POLYGON_BURST": "50", "CREAM_VISIBILITY_TIMEOUT": "10", "CREAM_RESTORE_INTERVAL": "1",
               "CREAM_BOOK": book, clock.VARIABLE: str(tmp_path / "clock")}
        with cream_environment(env):
            clock.set_time(tmp_path / "clock", starts)
            yield PaperWorld(alpaca, broker_url)


def move_clock(to: datetime, alpaca: AlpacaStandIn, market: LocalHistory) -> None:
    """Every process to ``to``; the broker's prices to the last hourly close by then."""
    clock.set_time(Path(os.environ[clock.VARIABLE]), to)
    for symbol in TRADED:
        alpaca.tick(symbol, float(market.bars(symbol, Timeframe.H1, to, 1).close[-1]))
