"""Provider bars cached in the ``candles`` table, with the stretches already fetched in ``candle_ranges``.

A stretch ``[start, end)`` of bar *starts* is recorded only together with the bars fetched for it
(one transaction), so a recorded stretch is complete: it is never asked of the provider again.
Bars are inserted or ignored: a concurrent worker that fetched the same bars loses nothing.

Adjusted bars change when a split (or dividend) goes ex: ``apply_corporate_actions`` records the
events it has not seen before (``corporate_actions``) and, in the same transaction, drops the
symbol's cached bars, and their stretches, before the latest new ex-date, so they are fetched again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any, NamedTuple, cast

import numpy as np
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cream import market_calendar
from cream.adapters.resample import BarTable
from cream.storage import db
from cream.storage.models import CandleRangeRow, CandleRow, CorporateActionCheckRow, CorporateActionRow

Interval = tuple[int, int]
_BATCH = 500


class CachedBar(NamedTuple):
    ts: int
    end: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    trades: int | None


class CorporateAction(NamedTuple):
    kind: str  # "split" | "dividend"
    ex_date: date  # New York trading date from which the event applies
    amount: float  # split ratio (shares after per share before) or cash per share


def ny_midnight(d: date) -> int:
    """Epoch seconds of the start of New York date ``d``."""
    return int(datetime.combine(d, time(0), tzinfo=market_calendar.NEW_YORK).timestamp())


def merge(intervals: Sequence[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of half-open intervals (touching ones joined)."""
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def uncovered(covered: Sequence[Interval], start: int, end: int) -> list[Interval]:
    """The parts of [start, end) that ``covered`` does not contain."""
    holes, cursor = [], start
    for a, b in merge(covered):
        if b <= cursor or a >= end:
            continue
        if a > cursor:
            holes.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        holes.append((cursor, end))
    return holes


def to_table(bars: Sequence[CachedBar]) -> BarTable:
    def column(i: int, dtype: type, fill: float = 0.0) -> np.ndarray:
        return np.array([fill if b[i] is None else b[i] for b in bars], dtype=dtype)

    return BarTable(ts=column(0, np.int64), end=column(1, np.int64), open=column(2, np.float64),
                    high=column(3, np.float64), low=column(4, np.float64), close=column(5, np.float64),
                    volume=column(6, np.float64), vwap=column(7, np.float64, np.nan),
                    trades=column(8, np.int64))


def from_table(table: BarTable) -> list[CachedBar]:
    def vwap(v: float) -> float | None:
        return None if math.isnan(v) else v

    return [CachedBar(int(t), int(e), float(o), float(h), float(lo), float(c), float(v), vwap(float(w)),
                      int(n)) for t, e, o, h, lo, c, v, w, n in zip(*table)]


class CandleCache:
    """The ``candles`` table of one database (already migrated)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def __repr__(self) -> str:
        return f"CandleCache({self.database_url.split('://', 1)[0]}://...)"

    def _covered(self, session: Session, symbol: str, timeframe: str) -> list[Interval]:
        rows = session.execute(select(CandleRangeRow.start, CandleRangeRow.end).where(
            CandleRangeRow.symbol == symbol, CandleRangeRow.timeframe == timeframe)).all()
        return merge([(int(a), int(b)) for a, b in rows])

    def missing(self, symbol: str, timeframe: str, start: int, end: int) -> list[Interval]:
        """Stretches of bar starts in [start, end) never fetched for (symbol, timeframe)."""
        with db.session_scope(self.database_url, readonly=True) as s:
            return uncovered(self._covered(s, symbol, timeframe), start, end)

    def store(self, symbol: str, timeframe: str, bars: Sequence[CachedBar], fetched: Interval) -> None:
        """Insert ``bars`` (ignoring those already cached) and record ``fetched`` as covered, atomically."""
        with db.session_scope(self.database_url) as s:
            if bars:
                dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
                rows = [dict(symbol=symbol, timeframe=timeframe, **b._asdict()) for b in bars]
                for i in range(0, len(rows), _BATCH):  # SQLite caps the variables per statement
                    s.execute(dialect.insert(CandleRow).values(rows[i:i + _BATCH]).on_conflict_do_nothing(
                        index_elements=["symbol", "timeframe", "ts"]))
            # Keep one row per stretch: the new one merged with those it touches.
            existing = s.execute(select(CandleRangeRow).where(
                CandleRangeRow.symbol == symbol, CandleRangeRow.timeframe == timeframe)).scalars().all()
            touching = [r for r in existing if r.start <= fetched[1] and r.end >= fetched[0]]
            lo = min([fetched[0], *(r.start for r in touching)])
            hi = max([fetched[1], *(r.end for r in touching)])
            if touching:
                s.execute(delete(CandleRangeRow).where(CandleRangeRow.id.in_([r.id for r in touching])))
            s.add(CandleRangeRow(symbol=symbol, timeframe=timeframe, start=lo, end=hi))

    def read(self, symbol: str, timeframe: str, start: int, end_max: int, *, end_min: int | None = None,
             last: int | None = None) -> BarTable:
        """Cached bars with ts >= start and end <= end_max (and end > end_min), oldest first;
        only the newest ``last`` of them when given."""
        c = CandleRow
        query = select(c.ts, c.end, c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trades).where(
            c.symbol == symbol, c.timeframe == timeframe, c.ts >= start, c.end <= end_max)
        if end_min is not None:
            query = query.where(c.end > end_min)
        if last is not None:
            query = query.order_by(c.ts.desc()).limit(last)
        else:
            query = query.order_by(c.ts)
        with db.session_scope(self.database_url, readonly=True) as s:
            rows = [CachedBar(*r) for r in s.execute(query).all()]
        if last is not None:
            rows.reverse()
        return to_table(rows)

    # --- splits and dividends --------------------------------------------------------------------

    def checked_on(self, symbol: str) -> date | None:
        """The New York date the symbol's splits and dividends were last applied (None: never)."""
        with db.session_scope(self.database_url, readonly=True) as s:
            row = s.get(CorporateActionCheckRow, symbol)
            return row.checked_on if row is not None else None

    def apply_corporate_actions(self, symbol: str, events: Sequence[CorporateAction], today: date) -> int:
        """Record ``events`` not seen before and drop the symbol's cached bars (every timeframe) that
        start before the latest new ex-date, with their stretches; record ``today`` as checked, all in
        one transaction. Returns the number of bars dropped."""
        with db.session_scope(self.database_url) as s:
            action = CorporateActionRow
            rows = s.execute(select(action.kind, action.ex_date).where(action.symbol == symbol)).all()
            seen = {(kind, ex_date) for kind, ex_date in rows}
            new = {(e.kind, e.ex_date): e for e in events if (e.kind, e.ex_date) not in seen}
            dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
            for e in new.values():  # a concurrent worker may record the same event: keep one
                s.execute(dialect.insert(CorporateActionRow).values(
                    symbol=symbol, kind=e.kind, ex_date=e.ex_date, amount=e.amount).on_conflict_do_nothing())
            dropped = self._drop_before(s, symbol, ny_midnight(max(d for _, d in new))) if new else 0
            s.execute(dialect.insert(CorporateActionCheckRow).values(symbol=symbol, checked_on=today)
                      .on_conflict_do_update(index_elements=["symbol"], set_={"checked_on": today}))
        return dropped

    def _drop_before(self, s: Session, symbol: str, cut: int) -> int:
        c = CandleRow
        gone = cast(CursorResult[Any], s.execute(delete(c).where(c.symbol == symbol, c.ts < cut)))
        r = CandleRangeRow
        s.execute(delete(r).where(r.symbol == symbol, r.end <= cut))
        s.execute(update(r).where(r.symbol == symbol, r.start < cut).values(start=cut))
        return int(gone.rowcount or 0)
