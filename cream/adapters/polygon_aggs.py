"""Polygon aggregates as bars: which window each timeframe asks Polygon for, and how the answer becomes bars.

``1m``, ``5m`` and ``15m`` are Polygon's own windows: clock-aligned, extended hours included, ``ts``
the window start and ``end`` = ``ts`` + the window (``LocalHistory`` serves raw 5-minute bars alike).

``1h`` and ``1d`` are the regular-session bins ``LocalHistory`` serves in BACKTEST, built by the same
code (``resample``) from Polygon's 5-minute aggregates: the first hourly bin of a session is the opening
half hour (09:30-10:00 ET), then New York clock hours, the last ending at the close (16:00 ET, 13:00 on
early closes, from ``market_calendar``); a daily bar spans the session (``ts`` = open, ``end`` = close).
Polygon's own hour and day aggregates would not do: they are clock hours and New York days with the
pre-market and after-hours trades in them. 5-minute windows nest in both bins (the open is on a
5-minute boundary), so every bin is whole once its 5-minute bars are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from cream.adapters.polygon_http import MalformedResponse
from cream.adapters.resample import BarTable, resample, sort_unique
from cream.ports import Bars
from cream.schemas.market import Timeframe

DAY = 86400


class Frame(NamedTuple):
    multiplier: int  # the Polygon window asked for: multiplier x timespan
    timespan: str
    seconds: int  # every bar starts and ends inside one clock-aligned span of this length
    per_day: int  # bars in a full regular session (sizes lookback windows)
    session: str | None  # the ``resample`` frame of session bins; None: Polygon's windows as they are

    @property
    def window_seconds(self) -> int:
        return self.multiplier * {"minute": 60, "hour": 3600}[self.timespan]


FRAMES: dict[Timeframe, Frame] = {
    Timeframe.M1: Frame(1, "minute", 60, 390, None),
    Timeframe.M5: Frame(5, "minute", 300, 78, None),
    Timeframe.M15: Frame(15, "minute", 900, 26, None),
    Timeframe.H1: Frame(5, "minute", 3600, 7, "1h"),
    Timeframe.D1: Frame(5, "minute", DAY, 1, "1d"),
}


def empty() -> BarTable:
    return BarTable(*(np.zeros(0, dtype=np.int64 if i in (0, 1, 8) else np.float64) for i in range(9)))


def as_bars(t: BarTable) -> Bars:
    return Bars(t.ts, t.end, t.open, t.high, t.low, t.close, t.volume)


def parse_aggs(aggs: Sequence[Any], frame: Frame, what: str) -> BarTable:
    """Polygon's aggregates (``t`` in ms, ``o h l c v``, optional ``vw n``) as a table, in Polygon's order."""
    if not aggs:
        return empty()
    try:
        ts = np.array([int(a["t"]) // 1000 for a in aggs], dtype=np.int64)
        prices = {k: np.array([float(a[k]) for a in aggs], dtype=np.float64) for k in "ohlcv"}
        vwap = np.array([np.nan if a.get("vw") is None else float(a["vw"]) for a in aggs], dtype=np.float64)
        trades = np.array([0 if a.get("n") is None else int(a["n"]) for a in aggs], dtype=np.int64)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"Polygon {what}: an aggregate lacks a field or has a bad value "
                                f"({exc!r}): nothing was stored") from None
    return BarTable(ts=ts, end=ts + frame.window_seconds, open=prices["o"], high=prices["h"], low=prices["l"],
                    close=prices["c"], volume=prices["v"], vwap=vwap, trades=trades)


def to_frame(raw: BarTable, frame: Frame, what: str) -> BarTable:
    """The bars of ``frame`` from Polygon's windows: as they are, or binned into the regular session."""
    if frame.session is None:
        return raw
    try:
        return resample(sort_unique(raw), frame.session)
    except ValueError as exc:  # a 5-minute window off the 5-minute grid
        raise MalformedResponse(f"Polygon {what}: {exc}: nothing was stored") from None
