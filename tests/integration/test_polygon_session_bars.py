"""PAPER sees the bars BACKTEST sees: Polygon's hourly and daily bars (through polygon-api-client, the
shared Redis rate limit and the candle cache) equal LocalHistory's over the same 5-minute files, which
the stand-in serves as Polygon does; and a split or dividend going ex drops the cached bars before it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from cream.adapters.candle_cache import CandleCache, ny_midnight
from cream.adapters.local_history import LocalHistory
from cream.adapters.polygon_data import PolygonMarketData
from cream.adapters.rate_limit import RedisTokenBucket
from cream.features import DAILY_LOOKBACK, HOURLY_LOOKBACK
from cream.ports import Bars
from cream.schemas.market import Timeframe
from cream.storage import db
from cream.storage.models import CorporateActionRow
from tests.shared_data import POLYGON_5M, require
from tests.standins.polygon_server import PolygonStandIn

pytestmark = pytest.mark.integration
KEY = "pk-session-bars-0123"
SYMBOLS = ["ADBE", "COST", "MA", "XLK"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# Cycle hours, oldest first: first hours of a session, early closes, the DST switch, the paper test's hours.
HOURS = [
    utc(2024, 3, 8, 20),  # Fri 15:00 ET, the last cycle before the switch to daylight time
    utc(2024, 3, 11, 14),  # Mon 10:00 EDT: the opening half hour is the newest bar
    utc(2024, 7, 3, 16),  # Wed 12:00 ET, an early close (13:00 ET) before Independence Day
    utc(2024, 7, 5, 14),  # Fri 10:00 ET, after the Independence Day holiday and the early close before it
    utc(2024, 11, 29, 17),  # Fri 12:00 ET, the early close after Thanksgiving
    utc(2024, 12, 2, 15),  # Mon 10:00 ET, the first hour after it
    utc(2025, 9, 22, 14), utc(2025, 9, 23, 17), utc(2025, 9, 24, 15), utc(2025, 9, 25, 19),
]


@pytest.fixture(scope="module")
def local() -> LocalHistory:
    return LocalHistory(require(POLYGON_5M))


@pytest.fixture
def stand_in() -> Iterator[PolygonStandIn]:
    with PolygonStandIn(require(POLYGON_5M), api_key=KEY) as polygon:
        yield polygon


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'candles.db'}"
    db.migrate(url)
    return url


class Clock:
    """The adapter's clock: a few seconds after the cycle hour, as when the fleet runs the cycle."""

    def __init__(self, at: datetime | None = None) -> None:
        self.now = at.timestamp() + 5 if at else None

    def at(self, hour: datetime) -> None:
        self.now = hour.timestamp() + 5

    def __call__(self) -> float:
        return self.now if self.now is not None else time.time()


def make(stand_in: PolygonStandIn, redis_url: str, database_url: str, clock: Callable[[], float]) -> PolygonMarketData:
    limiter = RedisTokenBucket.from_url(redis_url, f"polygon-{uuid.uuid4().hex}", 1000, 100)
    return PolygonMarketData(KEY, stand_in.url, limiter=limiter, cache=CandleCache(database_url), clock=clock,
                             backoff_base=0.01, backoff_cap=0.05)


def cycle_reads(market: PolygonMarketData | LocalHistory, symbol: str, hour: datetime) -> list[Bars]:
    """What a cycle reads of one symbol: the last price (observe), then the features' lookbacks (orient)."""
    return [market.bars(symbol, Timeframe.H1, hour, 1), market.bars(symbol, Timeframe.H1, hour, HOURLY_LOOKBACK),
            market.bars(symbol, Timeframe.D1, hour, DAILY_LOOKBACK)]


def assert_same_bars(got: Bars, want: Bars, what: str) -> None:
    assert len(got) == len(want) > 0, what
    np.testing.assert_array_equal(got.ts, want.ts, err_msg=what)
    np.testing.assert_array_equal(got.end, want.end, err_msg=what)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, err_msg=f"{what} {name}")


def aggs(stand_in: PolygonStandIn, since: int = 0) -> list[tuple[int, int]]:
    """(from, to) in epoch seconds of each first-page aggregates request since request number ``since``."""
    return [(int(r.path.split("/")[-2]) // 1000, int(r.path.split("/")[-1]) // 1000)
            for r in stand_in.requests[since:] if r.path.startswith("/v2/aggs/") and "cursor" not in r.query]


# --- the same bars as BACKTEST -------------------------------------------------------------------


@pytest.mark.parametrize("clock", ["live", "settled"])
def test_paper_sees_the_backtest_bars_at_every_cycle_hour(stand_in: PolygonStandIn, redis_url: str,
                                                          database_url: str, local: LocalHistory, clock: str) -> None:
    # live: each cycle reads 5 s after its hour (its newest bar too fresh to cache), hour after hour on one
    # cache; settled: everything final, served from the cache.
    ticking = Clock(HOURS[0]) if clock == "live" else Clock()
    market = make(stand_in, redis_url, database_url, ticking)
    for hour in HOURS:
        if clock == "live":
            ticking.at(hour)
        for symbol in SYMBOLS:
            for got, want, name in zip(cycle_reads(market, symbol, hour), cycle_reads(local, symbol, hour),
                                       ("last price", "hourly", "daily")):
                assert_same_bars(got, want, f"{symbol} {name} at {hour:%Y-%m-%d %H:%M}Z")
    assert market.last_report is not None and market.last_report.bars == DAILY_LOOKBACK


def test_the_opening_half_hour_and_an_early_close_are_bins_of_their_own(
        stand_in: PolygonStandIn, redis_url: str, database_url: str) -> None:
    market = make(stand_in, redis_url, database_url, Clock())
    close = utc(2024, 11, 29, 18)  # 13:00 ET, the early close after Thanksgiving
    hourly = market.bars("XLK", Timeframe.H1, close + timedelta(hours=3), 5)
    bins = [(utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 15)), (utc(2024, 11, 29, 15), utc(2024, 11, 29, 16)),
            (utc(2024, 11, 29, 16), utc(2024, 11, 29, 17)), (utc(2024, 11, 29, 17), close)]
    assert list(zip(hourly.ts.tolist(), hourly.end.tolist()))[1:] == [(a.timestamp(), b.timestamp()) for a, b in bins]
    daily = market.bars("XLK", Timeframe.D1, close, 1)
    assert (daily.ts[-1], daily.end[-1]) == (utc(2024, 11, 29, 14, 30).timestamp(), close.timestamp())
    first = market.bars("XLK", Timeframe.H1, utc(2024, 12, 2, 15), 1)  # 10:00 ET, the first cycle of a session
    assert (first.ts[0], first.end[0]) == (utc(2024, 12, 2, 14, 30).timestamp(), utc(2024, 12, 2, 15).timestamp())


def test_a_cycle_costs_two_requests_an_hour_and_five_on_the_first_of_the_day(
        stand_in: PolygonStandIn, redis_url: str, database_url: str) -> None:
    day = [utc(2025, 9, 23, h) for h in range(14, 20)]  # 10:00 to 15:00 EDT
    clock = Clock(day[0])
    market = make(stand_in, redis_url, database_url, clock)
    cycle_reads(market, "ADBE", day[0])
    assert stand_in.count("/v2/aggs/") <= 6  # an empty cache: 200 sessions of 5-minute bars, the last 30 hourly
    assert stand_in.count("/v3/reference/") == 2  # splits and dividends, once a day
    for hour in day[1:]:
        clock.at(hour)
        before = len(stand_in.requests)
        cycle_reads(market, "ADBE", hour)
        # the hour before last (now settled) with the last hour (too fresh to cache), then the last hour again
        assert aggs(stand_in, before) == [(int(hour.timestamp()) - 7200, int(hour.timestamp()) - 1),
                                          (int(hour.timestamp()) - 3600, int(hour.timestamp()) - 1)]
        assert len(stand_in.requests) - before == 2
    next_day = utc(2025, 9, 24, 14)
    clock.at(next_day)
    before = len(stand_in.requests)
    cycle_reads(make(stand_in, redis_url, database_url, clock), "ADBE", next_day)  # another worker, same cache
    assert len(stand_in.requests) - before == 5  # + yesterday's session, splits, dividends
    again = len(stand_in.requests)
    cycle_reads(make(stand_in, redis_url, database_url, clock), "ADBE", next_day)
    assert stand_in.count("/v3/reference/") == 4 and len(stand_in.requests) - again == 2  # the fresh hour, twice


# --- splits and dividends ------------------------------------------------------------------------


def cached(cache: CandleCache, symbol: str, timeframe: str, before: int) -> dict[int, tuple[float, float]]:
    """The cached bars of ``timeframe`` that end by ``before``: ts -> (close, volume)."""
    rows = cache.read(symbol, timeframe, 0, before)
    return {int(t): (float(c), float(v)) for t, c, v in zip(rows.ts, rows.close, rows.volume)}


def traded(local: LocalHistory, symbol: str, timeframe: Timeframe, before: int) -> dict[int, tuple[float, float]]:
    bars = local.bars_between(symbol, timeframe, utc(2000, 1, 1), datetime.fromtimestamp(before, UTC))
    return {int(t): (float(c), float(v)) for t, c, v in zip(bars.ts, bars.close, bars.volume)}


def forget(url: str, symbol: str) -> None:
    """Nothing of ``symbol`` in the cache (the PostgreSQL database lives for the whole session)."""
    with db.session_scope(url) as s:
        for table in ("candles", "candle_ranges", "corporate_actions", "corporate_action_checks"):
            s.execute(text(f"DELETE FROM {table} WHERE symbol = :symbol"), {"symbol": symbol})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_split_going_ex_drops_the_cached_bars_before_it_and_the_next_read_is_adjusted(
        stand_in: PolygonStandIn, redis_url: str, database_url: str, local: LocalHistory,
        request: pytest.FixtureRequest, backend: str) -> None:
    url = database_url
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        db.migrate(url)
        forget(url, "MA")
    monday, tuesday = utc(2025, 6, 2, 15), utc(2025, 6, 3, 14)  # 11:00 ET; 10:00 ET on the split's ex-date
    cut = ny_midnight(date(2025, 6, 3))
    clock = Clock(monday)
    market = make(stand_in, redis_url, url, clock)
    market.bars("MA", Timeframe.M5, monday, 100)
    for got, want in zip(cycle_reads(market, "MA", monday), cycle_reads(local, "MA", monday)):
        assert_same_bars(got, want, "MA before the split")
    stale = cached(market.cache, "MA", "1d", cut)
    assert len(stale) > DAILY_LOOKBACK and all(stale[t] == v for t, v in traded(local, "MA", Timeframe.D1, cut).items()
                                               if t in stale)

    stand_in.add_split("MA", {"execution_date": "2025-06-03", "split_from": 1, "split_to": 4})
    clock.at(monday + timedelta(hours=1))  # later the same day: Polygon is not asked again, bars as cached
    assert_same_bars(market.bars("MA", Timeframe.D1, monday, DAILY_LOOKBACK),
                     local.bars("MA", Timeframe.D1, monday, DAILY_LOOKBACK), "MA later on Monday")
    assert stand_in.count("/v3/reference/splits") == 1

    clock.at(tuesday)
    last, hourly, daily = cycle_reads(market, "MA", tuesday)
    assert stand_in.count("/v3/reference/splits") == 2
    assert_same_bars(last, local.bars("MA", Timeframe.H1, tuesday, 1), "the opening half hour, after the split")
    for got, want in ((hourly, local.bars("MA", Timeframe.H1, tuesday, HOURLY_LOOKBACK)),
                      (daily, local.bars("MA", Timeframe.D1, tuesday, DAILY_LOOKBACK))):
        before = want.ts < cut
        assert before.any() and len(got) == len(want)
        np.testing.assert_array_equal(got.ts, want.ts)
        for name in ("open", "high", "low", "close"):
            np.testing.assert_allclose(getattr(got, name)[before] * 4, getattr(want, name)[before], rtol=1e-6)
        np.testing.assert_allclose(got.volume[before], want.volume[before] * 4, rtol=1e-9)
        np.testing.assert_allclose(got.close[~before], want.close[~before], rtol=1e-9)
    # No stale row is left: every cached bar before the ex-date is an adjusted one, or gone.
    assert cached(market.cache, "MA", "5m", cut) == {}
    assert market.cache.missing("MA", "5m", cut - 7 * 86400, cut) == [(cut - 7 * 86400, cut)]
    for timeframe in (Timeframe.H1, Timeframe.D1):
        rows, as_traded = cached(market.cache, "MA", timeframe.value, cut), traded(local, "MA", timeframe, cut)
        assert len(rows) >= DAILY_LOOKBACK
        for ts, (close, volume) in rows.items():
            assert close * 4 == pytest.approx(as_traded[ts][0], rel=1e-6)
            assert volume == pytest.approx(as_traded[ts][1] * 4, rel=1e-9)
    with db.session_scope(url, readonly=True) as s:
        seen = s.scalars(select(CorporateActionRow).where(CorporateActionRow.symbol == "MA")).all()
    assert [(r.kind, r.ex_date, r.amount) for r in seen] == [("split", date(2025, 6, 3), 4.0)]
    # Fetched again once: the next cycle asks only for its new hours.
    clock.at(tuesday + timedelta(hours=1))
    before_next = len(stand_in.requests)
    cycle_reads(market, "MA", tuesday + timedelta(hours=1))
    assert len(stand_in.requests) - before_next == 2


def test_a_dividend_waits_for_its_ex_date_then_the_cache_before_it_is_fetched_again(
        stand_in: PolygonStandIn, redis_url: str, database_url: str, local: LocalHistory) -> None:
    days = [utc(2025, 4, 21, 14), utc(2025, 4, 22, 14), utc(2025, 4, 23, 14)]  # 10:00 ET, Monday to Wednesday
    cut = ny_midnight(date(2025, 4, 23))
    clock = Clock(days[0])
    market = make(stand_in, redis_url, database_url, clock)
    cycle_reads(market, "COST", days[0])
    oldest = min(cached(market.cache, "COST", "1d", cut))
    stand_in.add_dividend("COST", {"cash_amount": 1.30, "currency": "USD", "declaration_date": "2025-04-16",
                                   "dividend_type": "CD", "ex_dividend_date": "2025-04-23", "frequency": 4,
                                   "pay_date": "2025-05-09", "record_date": "2025-04-25"})
    clock.at(days[1])  # listed, not yet ex: only the new bars are fetched
    before = len(stand_in.requests)
    cycle_reads(market, "COST", days[1])
    assert all(lo >= utc(2025, 4, 21).timestamp() for lo, _ in aggs(stand_in, before))
    assert min(cached(market.cache, "COST", "1d", cut)) == oldest
    clock.at(days[2])  # the ex-date: the bars before it are dropped, the lookbacks fetched again
    before = len(stand_in.requests)
    reads = cycle_reads(market, "COST", days[2])
    assert min(lo for lo, _ in aggs(stand_in, before)) <= reads[2].ts[0]
    assert min(cached(market.cache, "COST", "1d", cut)) > oldest  # older than today's lookback: gone
    for got, want in zip(reads, cycle_reads(local, "COST", days[2])):
        assert_same_bars(got, want, "COST on its ex-dividend date")  # Polygon adjusts for splits only
