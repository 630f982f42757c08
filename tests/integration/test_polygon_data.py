"""The Polygon adapter through the official client against the loopback stand-in, a real redis-server
(the shared rate limit) and a real database (the candle cache)."""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from cream import market_calendar
from cream.adapters.candle_cache import CandleCache
from cream.adapters.local_history import LocalHistory
from cream.adapters.polygon_data import FRAMES, PolygonMarketData
from cream.adapters.polygon_http import MalformedResponse
from cream.adapters.rate_limit import RedisTokenBucket
from cream.errors import ConfigurationError, TransientError, UnknownInstrument
from cream.option_marks import mark_option
from cream.schemas.config import OptionChains
from cream.schemas.instruments import OccSymbol
from cream.schemas.market import Timeframe
from cream.services.observe import chain_marks
from cream.storage import db
from tests.shared_data import POLYGON_5M, require
from tests.standins.polygon_server import PolygonStandIn

pytestmark = pytest.mark.integration
KEY = "pk-test-0123456789"
SPLITS = {"ADBE": [{"execution_date": "2024-01-10", "split_from": 1, "split_to": 2}]}
DIVIDENDS = {"COST": [{"cash_amount": 1.16, "currency": "USD", "declaration_date": "2024-04-17",
                       "dividend_type": "CD", "ex_dividend_date": "2024-04-25", "frequency": 4,
                       "pay_date": "2024-05-10", "record_date": "2024-04-26"}]}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def polygon() -> Iterator[PolygonStandIn]:
    with PolygonStandIn(require(POLYGON_5M), api_key=KEY, splits=SPLITS, dividends=DIVIDENDS) as stand_in:
        yield stand_in


@pytest.fixture
def stand_in(polygon: PolygonStandIn) -> PolygonStandIn:
    polygon.reset()
    return polygon


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'candles.db'}"
    db.migrate(url)
    return url


def make(stand_in: PolygonStandIn, redis_url: str, database_url: str, *, rate: float = 1000, capacity: float = 100,
         **kw: object) -> PolygonMarketData:
    limiter = RedisTokenBucket.from_url(redis_url, f"polygon-{uuid.uuid4().hex}", rate, capacity)
    kw = {"backoff_base": 0.01, "backoff_cap": 0.05, "page_limit": 5000, **kw}  # Polygon's default limit
    return PolygonMarketData(KEY, stand_in.url, limiter=limiter, cache=CandleCache(database_url), **kw)  # type: ignore[arg-type]


@pytest.fixture
def market(stand_in: PolygonStandIn, redis_url: str, database_url: str) -> PolygonMarketData:
    return make(stand_in, redis_url, database_url)


def aggs_requests(stand_in: PolygonStandIn) -> int:
    return stand_in.count("/v2/aggs/")


# --- aggregates, pagination, timeframes ----------------------------------------------------------


def test_pagination_follows_next_url_and_returns_every_bar_once(stand_in: PolygonStandIn, redis_url: str,
                                                                database_url: str) -> None:
    market = make(stand_in, redis_url, database_url, page_limit=200)
    bars = market.bars_between("ADBE", Timeframe.M5, utc(2024, 2, 5), utc(2024, 2, 10))
    expected = [r for r in stand_in.bars("ADBE", 5, "minute")
                if utc(2024, 2, 5).timestamp() < r["t"] / 1000 + 300 <= utc(2024, 2, 10).timestamp()]
    assert len(bars) == len(expected) > 400
    # limit counts base minutes: a page holds at most 200 of them, 40 five-minute bars
    assert aggs_requests(stand_in) >= -(-len(expected) * 5 // 200) >= 3
    assert bars.ts.tolist() == [r["t"] // 1000 for r in expected]
    assert bars.close.tolist() == [r["c"] for r in expected]
    first, *more = [r for r in stand_in.requests if r.path.startswith("/v2/aggs/")]
    assert first.query["adjusted"] == "true" and first.query["sort"] == "asc" and first.query["limit"] == "200"
    assert more and all("cursor" in r.query for r in more)
    assert all(r.authorization == f"Bearer {KEY}" for r in stand_in.requests)


def test_five_minute_bars_match_the_local_history_of_the_same_files(market: PolygonMarketData) -> None:
    local = LocalHistory(POLYGON_5M)
    start, end = utc(2024, 3, 4), utc(2024, 3, 8)
    remote, here = market.bars_between("COST", Timeframe.M5, start, end), local.bars_between("COST", Timeframe.M5, start, end)
    assert len(remote) == len(here) > 0
    for a, b in zip(remote, here):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_every_timeframe_has_aligned_bars_ending_by_as_of(market: PolygonMarketData, stand_in: PolygonStandIn,
                                                          timeframe: Timeframe) -> None:
    as_of = utc(2024, 3, 1, 18, 7)
    bars = market.bars("MA", timeframe, as_of, 40)
    assert len(bars) == 40 and np.all(np.diff(bars.ts) > 0) and bars.end[-1] <= as_of.timestamp()
    frame = FRAMES[timeframe]
    if frame.session:  # regular-session bins, the bars LocalHistory serves in BACKTEST
        for ts, end in zip(bars.ts.tolist(), bars.end.tolist()):
            session = market_calendar.session(datetime.fromtimestamp(ts, UTC).date())
            assert session is not None and session[0].timestamp() <= ts < end <= session[1].timestamp()
        here = LocalHistory(POLYGON_5M).bars("MA", timeframe, as_of, 40)
        for a, b in zip(bars, here):
            np.testing.assert_allclose(a, b, rtol=1e-9)
        # today's session has not closed yet; the last hourly bin is 12:00-13:00 ET
        assert bars.end[-1] == (utc(2024, 2, 29, 21) if timeframe is Timeframe.D1 else utc(2024, 3, 1, 18)).timestamp()
    else:
        served = {r["t"]: r for r in stand_in.bars("MA", frame.multiplier, frame.timespan)}
        assert np.all(bars.end - bars.ts == frame.seconds) and np.all(bars.ts % frame.seconds == 0)
        assert bars.end[-1] == as_of.timestamp() // frame.seconds * frame.seconds
        for ts, close in zip(bars.ts.tolist(), bars.close.tolist()):
            assert served[ts * 1000]["c"] == close
    assert market.last_report is not None and market.last_report.bars == 40


def test_no_look_ahead_even_mid_bar_and_mid_session(market: PolygonMarketData) -> None:
    as_of = utc(2024, 3, 1, 15, 42, 30)
    hourly = market.bars("XLK", Timeframe.H1, as_of, 5)
    assert hourly.end[-1] == utc(2024, 3, 1, 15).timestamp()
    daily = market.bars_between("XLK", Timeframe.D1, utc(2024, 2, 20), as_of)
    assert daily.end.max() <= as_of.timestamp()
    assert datetime.fromtimestamp(int(daily.ts[-1]), UTC).date() == date(2024, 2, 29)


# --- the cache -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_range_is_never_fetched_twice(stand_in: PolygonStandIn, redis_url: str, database_url: str,
                                        request: pytest.FixtureRequest, backend: str) -> None:
    url = database_url
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        db.migrate(url)
    market = make(stand_in, redis_url, url, page_limit=200)
    first = market.bars("ADBE", Timeframe.M15, utc(2024, 3, 1, 20), 300)
    fetched = aggs_requests(stand_in)
    assert fetched >= 2
    again = make(stand_in, redis_url, url, page_limit=200).bars("ADBE", Timeframe.M15, utc(2024, 3, 1, 20), 300)
    assert aggs_requests(stand_in) == fetched  # a new adapter on the same database: 0 requests
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # An overlapping later range fetches only what is new.
    before = len(stand_in.requests)
    market.bars_between("ADBE", Timeframe.M15, utc(2024, 2, 27), utc(2024, 3, 6))
    new = [r for r in stand_in.requests[before:] if r.path.startswith("/v2/aggs/") and "cursor" not in r.query]
    assert len(new) == 1 and int(new[0].path.split("/")[-2]) >= utc(2024, 3, 1, 20).timestamp() * 1000


def test_bars_still_settling_are_served_but_never_cached(stand_in: PolygonStandIn, redis_url: str,
                                                         database_url: str) -> None:
    as_of = utc(2024, 3, 1, 18)
    market = make(stand_in, redis_url, database_url, clock=lambda: as_of.timestamp() + 30, settle_seconds=120)
    bars = market.bars("ADBE", Timeframe.M5, as_of, 10)
    assert bars.end[-1] == as_of.timestamp()
    before = aggs_requests(stand_in)
    again = market.bars("ADBE", Timeframe.M5, as_of, 10)
    assert aggs_requests(stand_in) == before + 1  # only the unsettled tail is asked again
    np.testing.assert_array_equal(bars.close, again.close)


# --- faults --------------------------------------------------------------------------------------


def test_a_429_storm_is_retried_with_backoff_until_it_passes(market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    stand_in.fail_next(4, 429, "/v2/aggs/")
    bars = market.bars("COST", Timeframe.H1, utc(2024, 3, 1, 20), 20)
    assert len(bars) == 20 and aggs_requests(stand_in) >= 5


def test_a_429_storm_longer_than_the_retries_is_a_clean_transient_error(
        stand_in: PolygonStandIn, redis_url: str, database_url: str) -> None:
    market = make(stand_in, redis_url, database_url, max_retries=3)
    stand_in.fail_next(50, 429, "/v2/aggs/")
    with pytest.raises(TransientError, match="HTTP 429 after 4 attempts"):
        market.bars("COST", Timeframe.H1, utc(2024, 3, 1, 20), 20)
    assert aggs_requests(stand_in) == 4
    assert market.cache.missing("COST", "1h", 0, 2_000_000_000) == [(0, 2_000_000_000)]
    stand_in.reset()
    assert len(market.bars("COST", Timeframe.H1, utc(2024, 3, 1, 20), 20)) == 20


def test_a_500_then_success(market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    stand_in.fail_next(1, 500, "/v2/aggs/")
    assert len(market.bars("MA", Timeframe.D1, utc(2024, 3, 1), 5)) == 5
    assert aggs_requests(stand_in) == 2


def test_malformed_json_is_a_clear_error_and_leaves_the_cache_untouched(
        market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    stand_in.fail_next(1, "malformed", "/v2/aggs/")
    with pytest.raises(MalformedResponse, match=r"not valid JSON.*nothing was stored") as caught:
        market.bars("XLK", Timeframe.M5, utc(2024, 3, 1, 20), 30)
    assert isinstance(caught.value, TransientError)
    assert market.cache.read("XLK", "5m", 0, 2_000_000_000).ts.size == 0
    assert market.cache.missing("XLK", "5m", 0, 2_000_000_000) == [(0, 2_000_000_000)]
    assert len(market.bars("XLK", Timeframe.M5, utc(2024, 3, 1, 20), 30)) == 30


def test_a_malformed_second_page_stores_nothing_of_the_first(stand_in: PolygonStandIn, redis_url: str,
                                                             database_url: str) -> None:
    market = make(stand_in, redis_url, database_url, page_limit=200)
    stand_in.fail_next(1, "malformed", "/v2/aggs/", after=1)
    with pytest.raises(MalformedResponse):
        market.bars_between("MA", Timeframe.M5, utc(2024, 2, 5), utc(2024, 2, 10))
    aggs = [r for r in stand_in.requests if r.path.startswith("/v2/aggs/")]
    assert len(aggs) == 2 and "cursor" in aggs[1].query
    assert market.cache.read("MA", "5m", 0, 2_000_000_000).ts.size == 0


def test_a_wrong_api_key_says_so_and_never_shows_the_key(stand_in: PolygonStandIn, redis_url: str,
                                                         database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisTokenBucket.from_url(redis_url, f"polygon-{uuid.uuid4().hex}", 100, 10)
    secret = "sk-wrong-" + uuid.uuid4().hex
    market = PolygonMarketData(secret, stand_in.url, limiter=limiter, cache=CandleCache(database_url))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError, match="POLYGON_API_KEY") as caught:
        market.bars("ADBE", Timeframe.D1, utc(2024, 3, 1), 3)
    assert secret not in str(caught.value) and secret not in caplog.text


# --- the shared rate limit -----------------------------------------------------------------------


def _quotes_in_a_process(base_url: str, redis_url: str, database_url: str, bucket: str, n: int) -> None:
    limiter = RedisTokenBucket.from_url(redis_url, bucket, rate=5, capacity=2)
    market = PolygonMarketData(KEY, base_url, limiter=limiter, cache=CandleCache(database_url))
    for _ in range(n):
        market.quote("ADBE")


def test_two_processes_share_one_bucket(stand_in: PolygonStandIn, redis_url: str, database_url: str) -> None:
    bucket, ctx = f"polygon-{uuid.uuid4().hex}", multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_quotes_in_a_process, args=(stand_in.url, redis_url, database_url, bucket, 6))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    times = sorted(r.at for r in stand_in.requests if r.path.startswith("/v2/snapshot/"))
    assert len(times) == 12
    # 5 tokens a second and a burst of 2: any k consecutive requests span at least (k - 2) / 5 s.
    for i in range(len(times)):
        for j in range(i + 3, len(times)):
            assert times[j] - times[i] >= (j - i + 1 - 2) / 5 - 0.05, (i, j, times[j] - times[i])


def test_the_limiter_times_out_with_a_transient_error(redis_url: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, f"t-{uuid.uuid4().hex}", rate=0.1, capacity=1)
    bucket.acquire(1)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"no token within 0\.3s"):
        bucket.acquire(0.3)
    assert 0.25 < time.monotonic() - started < 2


# --- quotes, option chains, splits and dividends -------------------------------------------------


def test_quote_from_the_snapshot(market: PolygonMarketData) -> None:
    quote = market.quote("ADBE")
    assert quote.bid < quote.last < quote.ask and quote.ts.tzinfo is not None
    with pytest.raises(UnknownInstrument):
        market.quote("NOPE")


def test_option_chain_parses_contracts_with_greeks(market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    chain = market.option_chain("MA")
    served = stand_in.option_contracts("MA")
    assert len(chain) == len(served) == 36
    assert {c.occ_symbol for c in chain} == {s["details"]["ticker"][2:] for s in served}
    call = next(c for c in chain if c.type == "call" and c.delta and 0.4 < c.delta < 0.6)
    assert call.occ_symbol.startswith("MA") and not call.occ_symbol.startswith("O:")
    assert call.bid is not None and call.ask is not None and call.bid < call.ask
    assert call.iv and call.gamma and call.vega and call.theta and call.theta < 0 and call.underlying_price
    # The risk check's own mark from the same quote agrees with the provider's Greeks.
    quote_day = date(2025, 9, 25)  # the stand-in's last bar, where it quotes the chain
    mark = mark_option(call.occ_symbol, call.last or 0, call.underlying_price, quote_day, rate=0.04,
                       implied_volatility=call.iv)
    assert mark.delta == pytest.approx(call.delta, abs=0.02)
    assert mark.vega == pytest.approx(call.vega, rel=0.05)


def test_option_chain_asks_polygon_for_the_strikes_and_expirations_wanted(market: PolygonMarketData,
                                                                        stand_in: PolygonStandIn) -> None:
    """The filters go to Polygon (``strike_price.gte`` ..., kept across pages), which answers only those."""
    served = stand_in.option_contracts("MA")
    strikes = sorted({s["details"]["strike_price"] for s in served})
    first = min(s["details"]["expiration_date"] for s in served)
    chain = market.option_chain("MA", strike_gte=strikes[2], strike_lte=strikes[5], contract_type="put",
                                expiration_lte=date.fromisoformat(first))
    assert {c.strike for c in chain} == set(strikes[2:6]) and {c.type for c in chain} == {"put"}
    assert {c.expiry for c in chain} == {date.fromisoformat(first)}
    assert market.option_chain("MA", strike_gte=strikes[-1] + 1) == []


def test_option_marks_from_the_contract_snapshot(market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    served = {s["details"]["ticker"][2:]: s for s in stand_in.option_contracts("MA")}
    call = next(occ for occ, s in served.items() if s["details"]["contract_type"] == "call"
                and 0.4 < s["greeks"]["delta"] < 0.6)
    put = next(occ for occ, s in served.items() if s["details"]["contract_type"] == "put")
    unquoted = next(occ for occ in served if occ not in (call, put))
    stand_in.unquoted.add(f"O:{unquoted}")  # Polygon leaves last_quote out when it has no quote
    not_listed = "MA991217C00100000"
    marks = market.option_marks([call, put, unquoted, not_listed, "not-an-option", call], utc(2025, 9, 25, 19))
    assert set(marks) == {call, put}  # the others are left out: the risk check fails closed on them
    assert stand_in.count("/v3/snapshot/options/MA/") == 4  # one request per distinct contract, none for junk
    for occ, mark in marks.items():
        snap = served[occ]
        quote = snap["last_quote"]
        assert mark.instrument_id == occ
        assert mark.premium == pytest.approx((quote["bid"] + quote["ask"]) / 2)
        assert mark.underlying_price == snap["underlying_asset"]["price"]
        assert mark.implied_volatility == snap["implied_volatility"]
        assert (mark.delta, mark.gamma, mark.vega, mark.theta) == tuple(snap["greeks"][g] for g in
                                                                         ("delta", "gamma", "vega", "theta"))
    assert marks[put].delta < 0 < marks[call].delta


def test_splits_dividends_and_adjusted_prices(market: PolygonMarketData, stand_in: PolygonStandIn) -> None:
    [split] = market.splits("ADBE")
    assert (split.execution_date, split.ratio) == (date(2024, 1, 10), 2.0)
    [dividend] = market.dividends("COST")
    assert (dividend.ex_dividend_date, dividend.cash_amount) == (date(2024, 4, 25), 1.16)
    assert market.splits("MA") == []
    # Adjusted bars before the split's execution date: half the traded price, twice the volume.
    adjusted = market.bars("ADBE", Timeframe.D1, utc(2024, 1, 9), 1)
    traded = LocalHistory(POLYGON_5M).bars("ADBE", Timeframe.D1, utc(2024, 1, 9), 1)
    assert adjusted.ts.tolist() == traded.ts.tolist() == [utc(2024, 1, 8, 14, 30).timestamp()]
    assert traded.close[-1] == pytest.approx(2 * adjusted.close[-1], rel=1e-6)
    assert adjusted.volume[-1] == pytest.approx(2 * traded.volume[-1], rel=1e-9)
    raw = [r for r in stand_in.bars("ADBE", 5, "minute", adjusted=False) if r["t"] == adjusted.end[-1] * 1000 - 300_000]
    assert raw[0]["c"] == traded.close[-1]  # adjusted=false: as traded
    after = market.bars("ADBE", Timeframe.D1, utc(2024, 1, 11), 1)
    np.testing.assert_allclose(after.close, LocalHistory(POLYGON_5M).bars("ADBE", Timeframe.D1, utc(2024, 1, 11), 1).close)


def test_observe_marks_the_chain_window_from_one_polygon_snapshot(market: PolygonMarketData,
                                                                  stand_in: PolygonStandIn) -> None:
    """PAPER/LIVE: the window's dates and strikes asked of Polygon, the nearest kept, each quote a mark."""
    served = stand_in.option_contracts("MA")
    spot = served[0]["underlying_asset"]["price"]
    quote_day = datetime(2025, 9, 25, 15, tzinfo=UTC)  # where the stand-in quotes the chain
    window = OptionChains(enabled=True, min_days=0, max_days=400, expiries=1, strikes=2)
    marks = chain_marks(market, {"MA": spot}, quote_day, window, rate=0.04)
    first = min(s["details"]["expiration_date"] for s in served)
    assert {OccSymbol.parse(k).expiration.isoformat() for k in marks} == {first}
    by_right = Counter(OccSymbol.parse(k).right.value for k in marks)
    assert by_right == {"CALL": 4, "PUT": 4}  # two strikes each side of the spot, calls and puts
    quotes = {s["details"]["ticker"][2:]: s["last_quote"] for s in served}
    for occ, mark in marks.items():
        assert (mark.bid, mark.ask) == (quotes[occ]["bid"], quotes[occ]["ask"]) and not mark.model_priced
        assert mark.premium == pytest.approx((mark.bid + mark.ask) / 2)
