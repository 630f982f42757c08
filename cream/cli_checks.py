"""What `cream` checks before it starts anything, and the outside errors it reports in one line.

Arguments are checked by argparse ``type=`` functions (a bad one never reaches a command); the services
a command needs (data directory, database URL, broker) are checked before any fleet starts; and the few
errors a user's environment can still cause (a database or broker that goes away, a path that cannot be
written) become one line saying what to do. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cream.endpoints import redact_url
from cream.errors import ConfigurationError, CreamError, InvalidRequest

if TYPE_CHECKING:  # imported where used: a usage error is answered without pydantic and the schemas
    from cream.config import Settings
    from cream.ports import MarketData
    from cream.schemas.decisions import Environment

MAX_LIMIT = 100_000
MAX_TIMEOUT_S = 86_400.0
YEARS = (1900, 2999)  # --at: beyond these the session calendar means nothing
MAX_MESSAGE = 500


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters escaped, at most MAX_MESSAGE characters."""
    flat = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return flat if len(flat) <= MAX_MESSAGE else flat[:MAX_MESSAGE] + "..."


def show(text: str, limit: int = 40) -> str:
    """A user's input, quoted, escaped and shortened for a message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- argument types (argparse reports their ArgumentTypeError in one line) -------------------------


def symbols_arg(text: str) -> list[str]:
    """Comma-separated tickers, upper-cased and de-duplicated, by the cycle trigger's rule and bound."""
    from cream.schemas.trigger import TICKER, CycleTrigger

    most = next(m.max_length for m in CycleTrigger.model_fields["symbols"].metadata
                if getattr(m, "max_length", None) is not None)
    names = list(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not names:
        raise argparse.ArgumentTypeError("give at least one ticker, e.g. --symbols XLK,MA")
    if len(names) > most:
        raise argparse.ArgumentTypeError(f"{len(names)} symbols: a cycle takes at most {most}")
    bad = [s for s in names if not TICKER.fullmatch(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"{show(bad[0])} is not a ticker: a letter, then up to 9 letters, "
                                         "digits or dots (e.g. XLK, BRK.B)")
    return names


def book_arg(text: str) -> str:
    from cream.config import BOOK_PATTERN, BOOK_RULE

    if not re.fullmatch(BOOK_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{show(text)} is not a book name: use {BOOK_RULE}")
    return text


def day_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{show(text)} is not a date{_why(exc)}: use YYYY-MM-DD") from None


def hour_arg(text: str) -> datetime:
    """An ISO-8601 date-time in UTC (a time without a zone is UTC)."""
    try:
        at = datetime.fromisoformat(text)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"{show(text)} is not an ISO date-time{_why(exc)}: use e.g. "
                                         "2025-09-24T15:00:00Z") from None
    if not YEARS[0] <= at.year <= YEARS[1]:
        raise argparse.ArgumentTypeError(f"{show(text)} is outside the years {YEARS[0]}-{YEARS[1]}")
    return at


def _why(exc: Exception) -> str:
    """Python's reason, when it says more than that the format is wrong (``day is out of range for month``)."""
    return "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"


def count_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{show(text)} is not a whole number") from None
    if not 1 <= n <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{show(text)}: give a number from 1 to {MAX_LIMIT:,}")
    return n


def seconds_arg(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{show(text)} is not a number of seconds") from None
    if not (math.isfinite(s) and 0 < s <= MAX_TIMEOUT_S):
        raise argparse.ArgumentTypeError(f"{show(text)}: give seconds above 0 and at most {MAX_TIMEOUT_S:,.0f}")
    return s


def directory_arg(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a directory, e.g. --out schemas")
    return Path(text)


# --- requests checked against the market data and the database ----------------------------------


def require_known_symbols(symbols: list[str] | None, market: MarketData) -> None:
    unknown = [s for s in symbols or [] if s not in market.symbols()]
    if unknown:
        raise InvalidRequest(f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(market.symbols())}")


def readable(market: MarketData) -> MarketData:
    """``market``, its bars' range read once: a damaged bar file under CREAM_HISTORY_DIR is one line, not a
    traceback (only this read is guarded; the range is what every request is checked against)."""
    try:
        market.earliest(), market.latest()
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        from cream.config import get_settings

        where = get_settings().history_dir or "the bundled sample"
        raise ConfigurationError(f"cannot read the market data in {where} ({type(exc).__name__}: "
                                 f"{show(str(exc), 120)}): fix or remove the damaged bar files, or "
                                 "unset CREAM_HISTORY_DIR for the bundled sample") from None
    return market


def cycle_hour(symbols: list[str] | None, at: datetime | None, env: Environment, market: MarketData) -> datetime:
    """The session cycle hour to run, for symbols the market knows: ``at`` truncated to its hour, else the
    newest one the data has (BACKTEST) or the current one (PAPER, LIVE)."""
    from cream import clock, market_calendar
    from cream.schemas.decisions import Environment
    from cream.services.cycle_hours import current_cycle_hour, require_cycle_hour

    require_known_symbols(symbols, market)
    if at is None and env is not Environment.BACKTEST:
        now = clock.now()
        hour = current_cycle_hour(now)
        if hour is None:
            upcoming = market_calendar.next_cycle_time(now)
            raise InvalidRequest(f"no cycle hour is current ({now:%Y-%m-%dT%H:%MZ}): {env.value} runs the current "
                                 f"hour only; the next is {upcoming:%Y-%m-%dT%H:%MZ}")
    elif at is None:
        hour = market_calendar.last_cycle_time(market.latest())
        if hour is None:
            raise InvalidRequest(f"no session cycle hour in the month before {market.latest():%Y-%m-%d}: "
                                 "give one with --at")
    else:
        hour = at.replace(minute=0, second=0, microsecond=0)
    require_cycle_hour(env, hour, market)
    return hour


def backtest_window(symbols: list[str], start: date, end: date, market: MarketData) -> list[datetime]:
    """The backtest's cycle hours, for symbols the market knows; InvalidRequest for a window outside the data."""
    from cream.services.backtest import backtest_hours

    require_known_symbols(symbols, market)
    return backtest_hours(market, start, end)


def require_replayable(cycle_id: str) -> None:
    """The cycle exists and reached its agents (it has an orient checkpoint)."""
    from cream.schemas.cycle import Oriented
    from cream.services.cycles import load
    from cream.storage.db import session_scope
    from cream.storage.models import Cycle

    with session_scope(readonly=True) as s:
        if s.get(Cycle, cycle_id) is None:
            raise InvalidRequest(f"no cycle {show(cycle_id, 80)}: `cream status` lists the recent ones")
        if load(s, cycle_id, Oriented) is None:
            raise InvalidRequest(f"cycle {cycle_id} never reached its agents (no orient checkpoint): nothing to replay")


# --- services a command needs ---------------------------------------------------------------------


def preflight(settings: Settings, needs: frozenset[str]) -> None:
    """Refuse, before anything starts, a data directory, database or broker the command cannot use."""
    if "data_dir" in needs or ("db" in needs and settings.database_url is None):
        require_writable_dir(settings.data_dir, "CREAM_DATA_DIR")
    if "db" in needs:
        require_database_url(settings.resolved_database_url)
    if "broker" in needs and settings.broker_url:
        require_broker(settings.broker_url)


def require_writable_dir(path: Path, variable: str, fix: str = "") -> None:
    """``path`` is (or can be made) a directory this process may write; ``variable`` names where it came from."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        why = "it is not a directory" if path.exists() and not path.is_dir() else exc.strerror or str(exc)
        raise ConfigurationError(f"{path} ({variable}) is not a writable directory ({why}): "
                                 f"{fix or f'fix its permissions or set {variable} to a directory you can write'}") \
            from None


def require_database_url(url: str) -> None:
    """A URL SQLAlchemy can open with an installed driver; a SQLite file's directory must be writable."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigurationError(f"CREAM_DATABASE_URL {redact_url(url)!r} cannot be opened ({exc}): use "
                                 "postgresql://USER:PASSWORD@HOST/DB, or unset it for SQLite in CREAM_DATA_DIR") \
            from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        require_writable_dir(Path(parsed.database).expanduser().parent, "CREAM_DATABASE_URL",
                             "fix its permissions or put the SQLite file in a directory you can write")


def require_broker(url: str, timeout: float = 3.0) -> None:
    """The Redis at ``url`` answers a ping."""
    import redis

    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"CREAM_BROKER_URL {redact_url(url)!r} is not a Redis URL: use "
                                 "redis://HOST:PORT/DB, or unset it for the embedded Redis")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise ConfigurationError(broker_message(url, exc)) from None


def broker_message(url: str | None, exc: BaseException) -> str:
    where = redact_url(url) if url else "the embedded Redis"
    return (f"cannot reach the broker at {where} ({_first_line(exc)}): start Redis there or fix "
            "CREAM_BROKER_URL")


# --- the outside errors that may still happen, in one line ---------------------------------------


def user_error(exc: BaseException, settings: Settings | None) -> str | None:
    """The one-line message for an error the user can fix; None for anything else (a bug: traceback)."""
    if isinstance(exc, CreamError):
        return str(exc)
    database = _database_error(exc, settings)
    if database:
        return database
    if _is_broker_error(exc):
        return broker_message(settings.broker_url if settings else None, exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename} ({exc.strerror or exc}): choose a path that exists and you may write"
    return None


def _database_error(exc: BaseException, settings: Settings | None) -> str | None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    url = settings.resolved_database_url if settings else "the database"
    reason = _first_line(exc.orig if exc.orig is not None else exc)
    password = urlsplit(url).password if settings else None
    if password and len(password) >= 4:  # a shorter one would mangle the words around it
        reason = reason.replace(password, "***")
    return (f"cannot use the database {redact_url(url)} ({reason}): check CREAM_DATABASE_URL (or CREAM_DATA_DIR) "
            "and that the database is up and writable")


def _is_broker_error(exc: BaseException) -> bool:
    import redis
    from kombu.exceptions import OperationalError

    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OperationalError))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
