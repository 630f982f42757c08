"""Session-aware resampling of intraday bars: 1m -> 5m -> 15m -> 30m -> 1h -> 1d.

Shared by ``LocalHistory`` (raw 5-minute mode) and ``scripts/make_sample.py`` so that the bundled
sample and bars derived at runtime are built by one piece of code; the aggregation itself is the
numba kernel ``engine.resample.aggregate_bars_nb``.

Only regular-session bars are kept (NYSE calendar, early closes end at 13:00 ET). Buckets:
- ``"<N>m"``: N-minute buckets anchored at the session open 09:30 ET (09:30, 09:35, ... for 5m),
  cut at the close, so none crosses it (incl. 13:00 early closes);
- ``"1h"``: New York clock hours: 09:30-10:00, 10:00-11:00, ..., 15:00-16:00 (12:00-13:00 last on
  an early close). New York's UTC offset is a whole number of hours, so New York hour boundaries
  are UTC hour boundaries and bucketing can work on epoch seconds directly;
- ``"1d"``: one bar per session (ts = open, end = close).
A bucket's ``ts``/``end`` are its own bounds, not those of the bars that happened to trade in it.
Source bars must nest in the target buckets (e.g. 5m -> 15m, 15m -> 1h); one that straddles a
bucket boundary is an error, never silently split.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import numpy as np

from cream import market_calendar
from engine.resample import aggregate_bars_nb

HOUR = 3600
DAY = 86400
_EPOCH = date(1970, 1, 1)


class BarTable(NamedTuple):
    """Bars of one symbol, oldest first; ``ts``/``end`` are epoch seconds UTC (start, exclusive end)."""

    ts: np.ndarray  # int64
    end: np.ndarray  # int64
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    trades: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def select(self, index: np.ndarray | slice) -> BarTable:
        return BarTable(*(column[index] for column in self))


def sort_unique(table: BarTable) -> BarTable:
    """Oldest first, one bar per start time (the last occurrence wins, as a later correction would)."""
    order = np.argsort(table.ts, kind="stable")
    ts = table.ts[order]
    keep = np.ones(ts.shape[0], dtype=bool)
    keep[:-1] = ts[1:] != ts[:-1]
    return table.select(order[keep])


def _session_bounds(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: open and close (epoch s) of the session on its UTC date, (0, 0) when closed.

    A regular session (13:30-21:00 UTC at the widest) never crosses UTC midnight, so the UTC date
    of any in-session bar is its New York trading date.
    """
    days, inverse = np.unique(ts // DAY, return_inverse=True)
    opens = np.zeros(days.shape[0], dtype=np.int64)
    closes = np.zeros(days.shape[0], dtype=np.int64)
    for i, day in enumerate(days.tolist()):
        bounds = market_calendar.session(_EPOCH + timedelta(days=day))
        if bounds is not None:
            opens[i], closes[i] = (int(b.timestamp()) for b in bounds)
    return opens[inverse], closes[inverse]


def regular_session(table: BarTable) -> tuple[BarTable, np.ndarray, np.ndarray]:
    """Bars lying wholly inside a regular session, with each bar's session open and close."""
    opens, closes = _session_bounds(table.ts)
    inside = (table.ts >= opens) & (table.end <= closes) & (closes > 0)
    return table.select(inside), opens[inside], closes[inside]


def _aggregate(table: BarTable, start: np.ndarray, end: np.ndarray) -> BarTable:
    """One bar per run of equal ``start`` keys; ``table`` must be sorted so that keys are runs."""
    if len(table) == 0:
        return table
    first, open_, high, low, close, volume, notional = aggregate_bars_nb(
        start.astype(np.int64), table.open, table.high, table.low, table.close, table.volume,
        table.vwap * table.volume)
    # A bucket with no volume has no traded average; its close is the honest stand-in.
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, notional / np.where(volume > 0, volume, 1.0), close)
    return BarTable(ts=start[first], end=end[first], open=open_, high=high, low=low, close=close,
                    volume=volume, vwap=vwap, trades=np.add.reduceat(table.trades, first))


def bucket_bounds(ts: np.ndarray, opens: np.ndarray, closes: np.ndarray,
                  frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (epoch s) of the ``frame`` bucket of each bar starting at ``ts`` in its session."""
    if frame == "1d":
        return opens, closes
    if frame == "1h":
        hour = ts - ts % HOUR
        return np.maximum(hour, opens), np.minimum(hour + HOUR, closes)
    minutes = frame[:-1]
    if frame.endswith("m") and minutes.isdigit() and int(minutes) > 0:
        step = 60 * int(minutes)
        start = opens + (ts - opens) // step * step
        return start, np.minimum(start + step, closes)
    raise ValueError(f"unknown bar frame {frame!r}: use '<N>m' (e.g. '5m', '15m'), '1h' or '1d'")


def resample(table: BarTable, frame: str) -> BarTable:
    """Regular-session bars of ``frame`` ('<N>m', '1h', '1d') from finer bars that nest in them."""
    bars, opens, closes = regular_session(table)
    start, end = bucket_bounds(bars.ts, opens, closes, str(frame))
    straddling = np.flatnonzero(bars.end > end)
    if straddling.size:
        raise ValueError(f"{straddling.size} bars straddle a {frame} bucket boundary (first at epoch "
                         f"{int(bars.ts[straddling[0]])}): resample from a finer frame that nests in {frame}")
    return _aggregate(bars, start, end)


def to_minutes(table: BarTable, minutes: int) -> BarTable:
    """Regular-session N-minute bars anchored at the 09:30 ET open, cut at the close."""
    return resample(table, f"{int(minutes)}m")


def to_hourly(table: BarTable) -> BarTable:
    """Regular-session hourly bars on New York clock hours, cut at the open and the close."""
    return resample(table, "1h")


def to_daily(table: BarTable) -> BarTable:
    """One bar per trading day spanning the regular session (ts = open, end = close)."""
    return resample(table, "1d")
