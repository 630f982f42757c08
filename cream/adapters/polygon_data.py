"""``MarketData`` from Polygon (PAPER and LIVE): aggregates, quotes, option chains, splits, dividends.

Bars are split/dividend adjusted (``adjusted=true``), cached in ``candles`` and never fetched twice:
before asking Polygon, the adapter asks the cache which stretches of bar starts it has not fetched
yet (``CandleCache.missing``) and requests only those. A stretch is recorded only once every bar in
it is final (ended ``settle_seconds`` before now); bars newer than that are fetched, served and not
cached, so a bar still forming is never frozen into the cache.

Bar times: ``ts`` is the bar start and ``end`` = ``ts`` + the frame for intraday bars (Polygon
buckets are clock-aligned and include extended hours); daily bars span the regular session
(``ts`` = open, ``end`` = close, 13:00 ET on early closes), as ``LocalHistory`` serves them.
No bar with ``end`` > ``as_of`` is ever returned.

Every fetch and every answer runs the data checks; the reports are logged and kept in
``last_fetch_report`` / ``last_report``, never raised.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

from cream import market_calendar
from cream.adapters.candle_cache import CachedBar, CandleCache, Interval, to_table
from cream.adapters.data_checks import DataReport, check_bars
from cream.adapters.polygon_http import Limiter, MalformedResponse, PolygonHttp
from cream.adapters.polygon_records import (
    Dividend, OptionContract, Split, parse_dividend, parse_option, parse_quote, parse_split,
)
from cream.adapters.resample import BarTable, sort_unique
from cream.errors import UnknownInstrument
from cream.ports import Bars
from cream.schemas.market import Quote, Timeframe

log = logging.getLogger(__name__)
UTC = timezone.utc
DAY = 86400

# timeframe -> (multiplier, timespan, seconds per bar, regular-session bars per day)
FRAMES: dict[Timeframe, tuple[int, str, int, int]] = {
    Timeframe.M1: (1, "minute", 60, 390),
    Timeframe.M5: (5, "minute", 300, 78),
    Timeframe.M15: (15, "minute", 900, 26),
    Timeframe.H1: (1, "hour", 3600, 7),
    Timeframe.D1: (1, "day", DAY, 1),
}
_TICKER = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
HISTORY_START = datetime(2003, 9, 10, tzinfo=timezone.utc)
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


def _as_bars(t: BarTable) -> Bars:
    return Bars(t.ts, t.end, t.open, t.high, t.low, t.close, t.volume)


def _empty() -> BarTable:
    return BarTable(*(np.zeros(0, dtype=np.int64 if i in (0, 1, 8) else np.float64) for i in range(9)))


class PolygonMarketData:
    """Polygon through polygon-api-client, rate limited across workers, cached in ``candles``."""

    def __init__(self, api_key: str, base_url: str | None = None, *, limiter: Limiter,
                 cache: CandleCache, symbols: Sequence[str] = (), timeout: float = 10.0,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 settle_seconds: int = 120, page_limit: int = 50_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.http = PolygonHttp(api_key, base_url, limiter, timeout=timeout, max_retries=max_retries,
                                backoff_base=backoff_base, backoff_cap=backoff_cap)
        self.cache, self._symbols = cache, sorted(symbols)
        self.settle_seconds, self.page_limit, self._clock = settle_seconds, page_limit, clock
        self.last_report: DataReport | None = None
        self.last_fetch_report: DataReport | None = None

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
            return self._answer(symbol, tf, _empty())
        days = math.ceil(lookback / FRAMES[tf][3]) + 1
        table, found = _empty(), -1
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
            return self._answer(symbol, tf, _empty())
        seconds = FRAMES[tf][2]
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
                     expiration_lte: date | None = None, contract_type: str | None = None) -> list[OptionContract]:
        """Every listed contract on ``underlying`` with its quote, Greeks and implied volatility."""
        self._ticker(underlying)
        params: dict[str, Any] = {"limit": 250}
        if expiration_gte:
            params["expiration_date.gte"] = expiration_gte.isoformat()
        if expiration_lte:
            params["expiration_date.lte"] = expiration_lte.isoformat()
        if contract_type:
            params["contract_type"] = contract_type
        client, path = self.http.client, f"/v3/snapshot/options/{underlying}"
        pages = self.http.pages(
            f"option chain {underlying}",
            lambda: client.list_snapshot_options_chain(underlying, params=dict(params), raw=True),
            lambda p, q: client.list_snapshot_options_chain(underlying, params=q, raw=True)
            if p == path else self._foreign_page(p))
        return [parse_option(item) for page in pages for item in _results(page, "option chain")]

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
            return cutoff // FRAMES[tf][2] * FRAMES[tf][2]
        day = _utc_date(cutoff)
        session = market_calendar.session(day)
        closed = session is None or session[1].timestamp() <= cutoff
        return _midnight(day + timedelta(days=1)) if closed else _midnight(day)

    def _fetch_and_read(self, symbol: str, tf: Timeframe, start: int, as_of: int, *,
                        last: int | None = None, end_min: int | None = None) -> BarTable:
        """Bars starting at or after ``start`` with end <= ``as_of``, fetching what the cache lacks."""
        complete = self._final_before(tf, as_of)
        final = min(complete, self._final_before(tf, int(self._clock()) - self.settle_seconds))
        for hole in self.cache.missing(symbol, tf.value, start, final):
            self.cache.store(symbol, tf.value, self._fetch(symbol, tf, hole), hole)
        cached = self.cache.read(symbol, tf.value, start, as_of, end_min=end_min, last=last)
        if final >= complete:
            return cached
        # Bars too fresh to cache: served from Polygon each time, never stored.
        fresh = [b for b in self._fetch(symbol, tf, (max(final, start), complete))
                 if b.end <= as_of and (end_min is None or b.end > end_min)]
        if not fresh:
            return cached
        merged = sort_unique(BarTable(*(np.concatenate([a, b]) for a, b in zip(cached, to_table(fresh)))))
        return merged.select(slice(-last, None)) if last else merged

    def _fetch(self, symbol: str, tf: Timeframe, span: Interval) -> list[CachedBar]:
        """Every bar starting in [span) from Polygon (all pages), checked; nothing is stored here."""
        multiplier, timespan, seconds, _ = FRAMES[tf]
        if tf is Timeframe.D1:
            lo: str | int = _utc_date(span[0]).isoformat()
            hi: str | int = _utc_date(span[1] - 1).isoformat()
        else:
            lo, hi = span[0] * 1000, span[1] * 1000 - 1
        client, what = self.http.client, f"{tf.value} bars {symbol}"
        pages = self.http.pages(
            what,
            lambda: client.get_aggs(symbol, multiplier, timespan, lo, hi, adjusted=True, sort="asc",
                                    limit=self.page_limit, raw=True),
            lambda p, q: self._follow_aggs(p, q))
        rows = [self._bar(tf, agg, what) for page in pages for agg in _results(page, what)]
        bars = [b for b in rows if span[0] <= b.ts < span[1]]
        report = check_bars(_as_bars(_to_table_raw(bars)), tf, symbol)
        self.last_fetch_report = report
        if not report.ok:
            log.warning("Polygon data check: %s", report.summary)
        return bars

    def _follow_aggs(self, path: str, query: dict[str, str]) -> Any:
        parts = path.strip("/").split("/")
        if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"] or parts[4] != "range":
            return self._foreign_page(path)
        _, _, _, ticker, _, multiplier, timespan, lo, hi = parts
        return self.http.client.get_aggs(ticker, int(multiplier), timespan, lo, hi, params=query, raw=True)

    def _foreign_page(self, path: str) -> Any:
        raise MalformedResponse(f"Polygon's next_url points to an unexpected path {path!r}: nothing was stored")

    def _bar(self, tf: Timeframe, agg: Any, what: str) -> CachedBar:
        try:
            t = int(agg["t"]) // 1000
            o, h, low, c, v = (float(agg[k]) for k in ("o", "h", "l", "c", "v"))
            vwap = float(agg["vw"]) if agg.get("vw") is not None else None
            trades = int(agg["n"]) if agg.get("n") is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"Polygon {what}: an aggregate lacks a field or has a bad value "
                                    f"({exc!r}): nothing was stored") from None
        if tf is Timeframe.D1:
            # A daily bar is stamped at midnight New York; it spans that day's regular session.
            session = market_calendar.session(datetime.fromtimestamp(t, market_calendar.NEW_YORK).date())
            start, end = (int(session[0].timestamp()), int(session[1].timestamp())) if session else (t, t + DAY)
        else:
            start, end = t, t + FRAMES[tf][2]
        return CachedBar(start, end, o, h, low, c, v, vwap, trades)

    def _answer(self, symbol: str, tf: Timeframe, table: BarTable) -> Bars:
        bars = _as_bars(table)
        self.last_report = check_bars(bars, tf, symbol)
        if not self.last_report.ok:
            log.warning("Polygon data check: %s", self.last_report.summary)
        return bars


def _to_table_raw(bars: list[CachedBar]) -> BarTable:
    # Provider order kept (not sorted): the checks must see out-of-order and duplicate bars.
    return to_table(bars) if bars else _empty()


def _results(page: dict[str, Any], what: str) -> list[Any]:
    results = page.get("results", [])  # Polygon omits "results" when there are none
    if not isinstance(results, list):
        raise MalformedResponse(f"Polygon {what}: 'results' is not a list: nothing was stored")
    return results
