"""Checks on fetched bars: a report of what looks wrong, never an exception.

Kinds of issue:

* ``out_of_order`` / ``duplicate``: a bar starts before / at the same time as the one before it;
* ``non_positive_price``: an open, high, low or close that is zero, negative or not a number;
* ``bad_range``: high below low, or an open or close outside [low, high];
* ``negative_volume``;
* ``gap``: a regular-session stretch with no bar (intraday), or a trading day without a bar (daily).
  Thinly traded symbols have honest gaps: a gap is worth a look, not proof of bad data.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from cream import market_calendar
from cream.ports import Bars
from cream.schemas.market import Timeframe

_MAX_LISTED = 5  # issues of one kind named in the summary


@dataclass(frozen=True)
class DataIssue:
    kind: str
    ts: int  # bar start, epoch seconds UTC (the bar after the gap, for gaps)
    detail: str


@dataclass(frozen=True)
class DataReport:
    symbol: str
    timeframe: str
    bars: int
    issues: tuple[DataIssue, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.issues

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        return counts

    @property
    def summary(self) -> str:
        head = f"{self.symbol or '?'} {self.timeframe}: {self.bars} bars"
        if self.ok:
            return f"{head}, no issues"
        parts = []
        for kind, count in sorted(self.kinds().items()):
            first = [i for i in self.issues if i.kind == kind][:_MAX_LISTED]
            stamps = ", ".join(_iso(i.ts) for i in first)
            parts.append(f"{count} {kind} (at {stamps}{', ...' if count > len(first) else ''})")
        return f"{head}, {len(self.issues)} issues: " + "; ".join(parts)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _order(bars: Bars) -> list[DataIssue]:
    issues, ts = [], bars.ts
    for i in range(1, ts.shape[0]):
        prev, cur = int(ts[i - 1]), int(ts[i])
        if cur < prev:
            issues.append(DataIssue("out_of_order", cur, f"starts {prev - cur}s before the bar listed before it"))
        elif cur == prev:
            issues.append(DataIssue("duplicate", cur, "a second bar with the same start"))
    return issues


def _prices(bars: Bars) -> list[DataIssue]:
    issues = []
    for i in range(len(bars)):
        o, h, lo, c = (float(a[i]) for a in (bars.open, bars.high, bars.low, bars.close))
        ts = int(bars.ts[i])
        if not all(math.isfinite(p) and p > 0 for p in (o, h, lo, c)):
            issues.append(DataIssue("non_positive_price", ts, f"o={o} h={h} l={lo} c={c}"))
        elif h < lo or not (lo <= o <= h) or not (lo <= c <= h):
            issues.append(DataIssue("bad_range", ts, f"o={o} h={h} l={lo} c={c}: high/low do not bound the bar"))
        v = float(bars.volume[i])
        if not math.isfinite(v) or v < 0:
            issues.append(DataIssue("negative_volume", ts, f"volume={v}"))
    return issues


def _session_of(ts: int) -> tuple[int, int] | None:
    bounds = market_calendar.session(datetime.fromtimestamp(ts, UTC).date())
    if bounds is None:
        return None
    return int(bounds[0].timestamp()), int(bounds[1].timestamp())


def _intraday_gaps(bars: Bars) -> list[DataIssue]:
    issues = []
    # Judged in time order, so an out-of-order bar is reported once, not also as a gap.
    order = sorted(range(len(bars)), key=lambda i: int(bars.ts[i]))
    for p, i in itertools.pairwise(order):
        prev_end, cur = int(bars.end[p]), int(bars.ts[i])
        if cur <= prev_end:
            continue
        session = _session_of(cur)
        # Only the regular session is expected to trade every bar; a gap starts no earlier than the open.
        if session is None or _session_of(prev_end - 1) != session:
            continue
        hole_start, hole_end = max(prev_end, session[0]), min(cur, session[1])
        if hole_end > hole_start:
            issues.append(DataIssue("gap", cur, f"no bar from {_iso(hole_start)} to {_iso(hole_end)} "
                                                f"({(hole_end - hole_start) // 60} min) inside the session"))
    return issues


def _daily_gaps(bars: Bars) -> list[DataIssue]:
    issues = []
    days = [datetime.fromtimestamp(int(t), UTC).date() for t in bars.ts]
    for prev, cur, ts in zip(days, days[1:], bars.ts[1:].tolist()):
        if cur <= prev:
            continue
        missing: list[date] = market_calendar.trading_days(prev, cur)[1:-1]
        if missing:
            issues.append(DataIssue("gap", int(ts), f"{len(missing)} trading day(s) without a bar, "
                                                    f"first {missing[0].isoformat()}"))
    return issues


def check_bars(bars: Bars, timeframe: Timeframe | str = "", symbol: str = "") -> DataReport:
    """Every issue found in ``bars`` (expected oldest first). Never raises: a failing check is itself reported."""
    issues: list[DataIssue] = []
    checks = [_order, _prices]
    if timeframe == Timeframe.D1:
        checks.append(_daily_gaps)
    elif timeframe in {tf.value for tf in Timeframe}:
        checks.append(_intraday_gaps)
    for check in checks:
        try:
            issues.extend(check(bars))
        except Exception as exc:  # noqa: BLE001 - a report, never a crash: the check's own failure is an issue
            issues.append(DataIssue("check_failed", 0, f"{check.__name__.strip('_')}: {exc!r}"))
    try:
        count = len(bars)
    except Exception:  # noqa: BLE001 - a table len() cannot read has no bars to report
        count = 0
    return DataReport(symbol=symbol, timeframe=str(timeframe), bars=count, issues=tuple(issues))
