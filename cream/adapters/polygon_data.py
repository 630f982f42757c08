"""``MarketData`` from Polygon (PAPER and LIVE): aggregates, quotes, option chains and marks, splits,
dividends.

Bar times (``polygon_aggs``): ``1m``/``5m``/``15m`` are Polygon's clock-aligned windows, extended hours
included; ``1h`` and ``1d`` are the regular-session bins ``LocalHistory`` serves in BACKTEST (opening
half hour, clock hours, cut at the close incl. 13:00 ET early closes; one bar per session), built by the
same ``resample`` code from Polygon's 5-minute aggregates, so a PAPER cycle sees the bars a BACKTEST of
the same hour sees. No bar with ``end`` > ``as_of`` is ever returned.

Bars are split adjusted (``adjusted=true``), cached in ``candles`` and never fetched twice: before
asking Polygon, the adapter asks the cache which stretches of bar starts it has not fetched yet
(``CandleCache.missing``) and requests only those. A stretch is recorded only once every bar in it is
final (ended ``settle_seconds`` before now); bars newer than that are fetched, served and not cached,
so a bar still forming is never frozen into the cache. The newest missing stretch and the unsettled
tail after it come in one request.

Requests: ``limit`` counts base minute bars (at most 50,000 a page, about a month and a half of a liquid
stock with its extended hours; ``next_url`` pages follow). A cycle reads per symbol the last hourly
bar, ``HOURLY_LOOKBACK`` (200) hourly and ``DAILY_LOOKBACK`` (200) daily bars: on an empty cache
that costs 2 + 6 to 7 requests (splits, dividends; 200 sessions of 5-minute bars in 3 to 4 pages,
the 30 sessions of hourly bins in 2, the last price's in 1); on every later cycle of the day 2 (the
hour before last, now settled, with the last hour; the last hour again), on the first cycle of a
day 5 (also yesterday's session, splits and dividends).

Splits and dividends: adjusted bars before an ex-date change when the event goes ex. Once per New
York day per symbol (the first bar read of the day, recorded in ``corporate_action_checks`` so every
worker shares it; 2 requests), the adapter lists the symbol's splits and dividends; events with an
ex-date up to today that the cache has not seen drop the symbol's cached bars before the latest such
ex-date (``CandleCache.apply_corporate_actions``), and the reads that follow fetch them again,
adjusted. Polygon adjusts aggregates for splits only; a dividend costs one refetch of the symbol's
cache, which keeps the rule simple and safe should adjustment ever include dividends. Events listed
ahead of their ex-date wait for it. The check runs before any bar of the day is fetched, so only
bars fetched before the ex-date (or before Polygon listed the event) are dropped; on the first check
of a symbol with bars already cached, every listed event counts as new, once.

Every fetch and every answer runs the data checks; the reports are logged and kept in
``last_fetch_report`` / ``last_report``, never raised.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np

from cream import market_calendar, option_window
from cream.adapters.candle_cache import CandleCache, CorporateAction, Interval, from_table
from cream.adapters.data_checks import DataReport, check_bars
from cream.adapters.polygon_aggs import FRAMES, as_bars, empty, parse_aggs, to_frame
from cream.adapters.polygon_http import Limiter, MalformedResponse, PolygonHttp
from cream.adapters.polygon_records import (
    Dividend,
    Split,
    parse_dividend,
    parse_option,
    parse_quote,
    parse_split,
)
from cream.adapters.resample import BarTable, sort_unique
from cream.errors import UnknownInstrument
from cream.option_marks import mark_quoted
from cream.ports import Bars, ChainContract
from cream.schemas.config import OptionChains
from cream.schemas.instruments import OccSymbol
from cream.schemas.market import OptionMark, Quote, Timeframe

log = logging.getLogger(__name__)
DAY = 86400

_TICKER = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
HISTORY_START = datetime(2003, 9, 10, tzinfo=UTC)
_MAX_WIDENINGS = 12  # lookback windows double at most this often (a few decades of daily bars)


def _epoch(dt: datetime, name: str) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name}={dt!r} is naive: pass a tz-aware datetime (UTC)")
    return math.floor(dt.timestamp())


def _midnight(d: date) -> int:
    return (d - date(1970, 1, 1)).days * DAY


def _utc_date(ts: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ts // DAY)


def _trading_days_back(d: date, n: int) -> date:
    """The n-th trading day before ``d`` (or ``d`` itself when n == 0)."""
    while n > 0:
        d -= timedelta(days=1)
        n -= market_calendar.is_trading_day(d)
    return d


class PolygonMarketData:
    """Polygon through polygon-api-client, rate limited across workers, cached in ``candles``."""

    def __init__(self, api_key: str, base_url: str | None = None, *, limiter: Limiter,
                 cache: CandleCache, symbols: Sequence[str] = (), timeout: float = 10.0,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 settle_seconds: int = 120, page_limit: int = 50_000, option_rate: float = 0.04,
                 clock: Callable[[], float] = time.time) -> None:
        self.http = PolygonHttp(api_key, base_url, limiter, timeout=timeout, max_retries=max_retries,
                                backoff_base=backoff_base, backoff_cap=backoff_cap)
        self.cache, self._symbols = cache, sorted(symbols)
        self.settle_seconds, self.page_limit, self._clock = settle_seconds, page_limit, clock
        self.option_rate = option_rate  # risk-free rate of the Black-Scholes Greeks when Polygon gives none
        self.last_report: DataReport | None = None
        self.last_fetch_report: DataReport | None = None
        self._checked: dict[str, date] = {}  # symbol -> New York date its splits/dividends were applied

    def __repr__(self) -> str:
        return f"PolygonMarketData({self.http.base_url!r})"

    # --- the MarketData port ---------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def latest(self) -> datetime:
        """Now, to the minute: Polygon serves every bar that has closed."""
        return datetime.fromtimestamp(int(self._clock()) // 60 * 60, UTC)

    def earliest(self) -> datetime:
        """The start of Polygon's US stock aggregates (2003); how far back a key may read depends on its plan."""
        return HISTORY_START

    def bars(self, symbol: str, timeframe: Timeframe, as_of: datetime, lookback: int) -> Bars:
        """The last ``lookback`` bars with end <= ``as_of``."""
        if lookback < 0:
            raise ValueError(f"lookback must be >= 0, got {lookback}")
        tf, as_of_s = self._frame(symbol, timeframe), _epoch(as_of, "as_of")
        if lookback == 0:
            return self._answer(symbol, tf, empty())
        days = math.ceil(lookback / FRAMES[tf].per_day) + 1
        table, found = empty(), -1
        for _ in range(_MAX_WIDENINGS):
            start = _midnight(_trading_days_back(_utc_date(as_of_s), days))
            table = self._fetch_and_read(symbol, tf, start, as_of_s, last=lookback)
            if len(table) >= lookback or len(table) == found:  # enough, or the history ends here
                break
            found, days = len(table), days * 2
        return self._answer(symbol, tf, table)

    def bars_between(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> Bars:
        """Bars whose end lies in (start, end]."""
        tf = self._frame(symbol, timeframe)
        lo, hi = _epoch(start, "start"), _epoch(end, "end")
        if hi <= lo:
            return self._answer(symbol, tf, empty())
        seconds = FRAMES[tf].seconds
        window = _midnight(_utc_date(lo)) if tf is Timeframe.D1 else (lo - seconds) // seconds * seconds
        return self._answer(symbol, tf, self._fetch_and_read(symbol, tf, window, hi, end_min=lo))

    def check(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> DataReport:
        """The data checks' report on the bars between ``start`` and ``end`` (never raises for bad data)."""
        self.bars_between(symbol, timeframe, start, end)
        assert self.last_report is not None
        return self.last_report

    # --- the rest of Polygon ---------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote:
        """The latest NBBO and last trade, from the ticker snapshot."""
        self._ticker(symbol)
        page = self.http.get(f"snapshot {symbol}",
                             lambda: self.http.client.get_snapshot_ticker("stocks", symbol, raw=True))
        return parse_quote(symbol, page)

    def option_chain(self, underlying: str, *, expiration_gte: date | None = None,
                     expiration_lte: date | None = None, contract_type: str | None = None,
                     strike_gte: float | None = None, strike_lte: float | None = None,
                     as_of: datetime | None = None) -> list[ChainContract]:
        """Every listed contract on ``underlying`` with its quote, Greeks and implied volatility: Polygon's
        snapshot is of now, whatever ``as_of`` says (PAPER and LIVE cycles run the current hour)."""
        self._ticker(underlying)
        params: dict[str, Any] = {"limit": 250}
        if expiration_gte:
            params["expiration_date.gte"] = expiration_gte.isoformat()
        if expiration_lte:
            params["expiration_date.lte"] = expiration_lte.isoformat()
        if contract_type:
            params["contract_type"] = contract_type
        if strike_gte is not None:
            params["strike_price.gte"] = strike_gte
        if strike_lte is not None:
            params["strike_price.lte"] = strike_lte
        client, path = self.http.client, f"/v3/snapshot/options/{underlying}"
        pages = self.http.pages(
            f"option chain {underlying}",
            lambda: client.list_snapshot_options_chain(underlying, params=dict(params), raw=True),
            lambda p, q: client.list_snapshot_options_chain(underlying, params=q, raw=True)
            if p == path else self._foreign_page(p))
        return [parse_option(item) for page in pages for item in _results(page, "option chain")]

    def option_window(self, underlying: str, spot: float, as_of: datetime,
                      window: OptionChains) -> list[ChainContract]:
        """One chain snapshot for the window's dates and strikes (paged), the nearest kept."""
        first, last = option_window.dates(as_of, window)
        low, high = option_window.strike_bounds(spot, window)
        chain = self.option_chain(underlying, expiration_gte=first, expiration_lte=last, strike_gte=low,
                                  strike_lte=high, as_of=as_of)
        return option_window.tradable(chain, spot, window)

    def option_marks(self, contracts: list[str], as_of: datetime) -> dict[str, OptionMark]:
        """Marks from Polygon's option contract snapshot (``/v3/snapshot/options/{underlying}/O:{contract}``,
        one request per contract): its latest NBBO midpoint, implied volatility and Greeks, and the
        underlying's price (``option_marks.mark_quoted``); ``as_of`` dates the time to expiry. A contract
        Polygon does not list, or without a two-sided quote, is left out; a transient failure raises."""
        day = as_of.astimezone(market_calendar.NEW_YORK).date()
        client, marks = self.http.client, {}
        for text in dict.fromkeys(contracts):
            try:
                occ = OccSymbol.parse(text)
            except ValueError:
                log.warning("Polygon option marks: %r is not an OCC option symbol; left unmarked", text)
                continue
            symbol = occ.format()
            try:
                page = self.http.get(f"option snapshot {symbol}",
                                     partial(client.get_snapshot_option, occ.root, f"O:{symbol}", raw=True))
            except UnknownInstrument:  # not listed (expired, never was): unpriced
                continue
            results = page.get("results")
            if not isinstance(results, dict):
                raise MalformedResponse(f"Polygon option snapshot {symbol}: 'results' is not an object")
            mark = mark_quoted(parse_option(results), day, rate=self.option_rate)
            if mark is not None:
                marks[mark.instrument_id] = mark
        return marks

    def splits(self, symbol: str) -> list[Split]:
        self._ticker(symbol)
        client = self.http.client
        pages = self.http.pages(f"splits {symbol}",
                                lambda: client.list_splits(ticker=symbol, limit=1000, raw=True),
                                lambda p, q: client.list_splits(params=q, raw=True))
        return sorted((parse_split(r) for page in pages for r in _results(page, "splits")),
                      key=lambda s: s.execution_date)

    def dividends(self, symbol: str) -> list[Dividend]:
        self._ticker(symbol)
        client = self.http.client
        pages = self.http.pages(f"dividends {symbol}",
                                lambda: client.list_dividends(ticker=symbol, limit=1000, raw=True),
                                lambda p, q: client.list_dividends(params=q, raw=True))
        return sorted((parse_dividend(r) for page in pages for r in _results(page, "dividends")),
                      key=lambda d: d.ex_dividend_date)

    # --- fetching and caching --------------------------------------------------------------------

    def _ticker(self, symbol: str) -> None:
        if not isinstance(symbol, str) or not _TICKER.match(symbol):
            raise UnknownInstrument(f"{symbol!r} is not a US ticker (e.g. 'AAPL', 'BRK.B')")

    def _frame(self, symbol: str, timeframe: Timeframe | str) -> Timeframe:
        self._ticker(symbol)
        if timeframe not in {tf.value for tf in Timeframe}:
            raise ValueError(f"timeframe {timeframe!r} is not served by Polygon here; use one of "
                             f"{', '.join(tf.value for tf in Timeframe)}")
        return Timeframe(timeframe)

    def _final_before(self, tf: Timeframe, cutoff: int) -> int:
        """The latest bar-start bound c such that every bar starting before c ended by ``cutoff``."""
        if tf is not Timeframe.D1:
            return cutoff // FRAMES[tf].seconds * FRAMES[tf].seconds
        day = _utc_date(cutoff)
        session = market_calendar.session(day)
        closed = session is None or session[1].timestamp() <= cutoff
        return _midnight(day + timedelta(days=1)) if closed else _midnight(day)

    def _apply_corporate_actions(self, symbol: str) -> None:
        """Once per New York day: splits and dividends gone ex that the cache has not seen drop the
        symbol's cached bars before their ex-date (fetched again, adjusted, by the reads that follow)."""
        today = datetime.fromtimestamp(self._clock(), market_calendar.NEW_YORK).date()
        if self._checked.get(symbol) != today and self.cache.checked_on(symbol) != today:
            events = [CorporateAction("split", s.execution_date, s.ratio) for s in self.splits(symbol)]
            events += [CorporateAction("dividend", d.ex_dividend_date, d.cash_amount)
                       for d in self.dividends(symbol)]
            gone_ex = [e for e in events if e.ex_date <= today]  # the others wait for their ex-date
            dropped = self.cache.apply_corporate_actions(symbol, gone_ex, today)
            if dropped:
                log.info("Polygon %s: a split or dividend went ex; %d cached bars before it dropped",
                         symbol, dropped)
        self._checked[symbol] = today

    def _fetch_and_read(self, symbol: str, tf: Timeframe, start: int, as_of: int, *,
                        last: int | None = None, end_min: int | None = None) -> BarTable:
        """Bars starting at or after ``start`` with end <= ``as_of``, fetching what the cache lacks."""
        self._apply_corporate_actions(symbol)
        complete = self._final_before(tf, as_of)
        final = min(complete, self._final_before(tf, int(self._clock()) - self.settle_seconds))
        tail: Interval = (max(final, start), complete)  # bars too fresh to cache: fetched each time
        fresh = empty()
        holes = self.cache.missing(symbol, tf.value, start, final)
        for i, hole in enumerate(holes):
            joined = i == len(holes) - 1 and hole[1] == tail[0] < tail[1]  # one request for both
            table = self._fetch(symbol, tf, (hole[0], tail[1]) if joined else hole)
            settled = table.ts < hole[1]
            self.cache.store(symbol, tf.value, from_table(table.select(settled)), hole)
            if joined:
                fresh, tail = table.select(~settled), (tail[1], tail[1])
        if tail[0] < tail[1]:
            fresh = self._fetch(symbol, tf, tail)
        cached = self.cache.read(symbol, tf.value, start, as_of, end_min=end_min, last=last)
        keep = (fresh.end <= as_of) & (fresh.end > (end_min if end_min is not None else -1))
        if not keep.any():
            return cached
        fresh = fresh.select(keep)
        merged = sort_unique(BarTable(*(np.concatenate([a, b]) for a, b in zip(cached, fresh))))
        return merged.select(slice(-last, None)) if last else merged

    def _fetch(self, symbol: str, tf: Timeframe, span: Interval) -> BarTable:
        """Every bar of ``tf`` starting in [span) from Polygon (all pages), checked; nothing is stored."""
        frame = FRAMES[tf]
        lo, hi = span[0] * 1000, span[1] * 1000 - 1
        client, what = self.http.client, f"{tf.value} bars {symbol}"
        pages = self.http.pages(
            what,
            lambda: client.get_aggs(symbol, frame.multiplier, frame.timespan, lo, hi, adjusted=True,
                                    sort="asc", limit=self.page_limit, raw=True),
            self._follow_aggs)
        raw = parse_aggs([agg for page in pages for agg in _results(page, what)], frame, what)
        # Judged as Polygon sent them (out-of-order and duplicate windows show), at the window asked for.
        report = check_bars(as_bars(raw), Timeframe.M5 if frame.session else tf, symbol)
        self.last_fetch_report = report
        if not report.ok:
            log.warning("Polygon data check: %s", report.summary)
        bars = to_frame(raw, frame, what)
        return bars.select((bars.ts >= span[0]) & (bars.ts < span[1]))

    def _follow_aggs(self, path: str, query: dict[str, str]) -> Any:
        parts = path.strip("/").split("/")
        if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"] or parts[4] != "range":
            return self._foreign_page(path)
        _, _, _, ticker, _, multiplier, timespan, lo, hi = parts
        return self.http.client.get_aggs(ticker, int(multiplier), timespan, lo, hi, params=query, raw=True)

    def _foreign_page(self, path: str) -> Any:
        raise MalformedResponse(f"Polygon's next_url points to an unexpected path {path!r}: nothing was stored")

    def _answer(self, symbol: str, tf: Timeframe, table: BarTable) -> Bars:
        bars = as_bars(table)
        self.last_report = check_bars(bars, tf, symbol)
        if not self.last_report.ok:
            log.warning("Polygon data check: %s", self.last_report.summary)
        return bars


def _results(page: dict[str, Any], what: str) -> list[Any]:
    results = page.get("results", [])  # Polygon omits "results" when there are none
    if not isinstance(results, list):
        raise MalformedResponse(f"Polygon {what}: 'results' is not a list: nothing was stored")
    return results
