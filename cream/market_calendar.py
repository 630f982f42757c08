"""The NYSE calendar, computed by rule: holidays, early closes, sessions and hourly cycle times.

No third-party calendar package: the rules below (NYSE Rule 7.2 and the published holiday list) are
short, and computing them keeps the calendar correct for any year without a data update. Closures
that no rule predicts (days of mourning, storms) live in ``SPECIAL_CLOSURES``.

Every datetime in and out is tz-aware; outputs are UTC. Dates are New York trading dates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import BaseSchedule, schedstate

NEW_YORK = ZoneInfo("America/New_York")

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
FIRST_CYCLE_HOUR = 10  # the first cycle sees the opening half hour as one complete bar

# The longest run of closed days (Sept 2001 plus a weekend) is 6; searching a month is ample.
_SEARCH_DAYS = 31

SPECIAL_CLOSURES: dict[date, str] = {
    date(2001, 9, 11): "September 11 attacks",
    date(2001, 9, 12): "September 11 attacks",
    date(2001, 9, 13): "September 11 attacks",
    date(2001, 9, 14): "September 11 attacks",
    date(2004, 6, 11): "National day of mourning for President Reagan",
    date(2007, 1, 2): "National day of mourning for President Ford",
    date(2012, 10, 29): "Hurricane Sandy",
    date(2012, 10, 30): "Hurricane Sandy",
    date(2018, 12, 5): "National day of mourning for President George H. W. Bush",
    date(2025, 1, 9): "National day of mourning for President Carter",
}


# --- holiday rules -------------------------------------------------------------------------------


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) given weekday (Mon=0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter by the anonymous computus (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(d: date) -> date:
    """Saturday holidays are observed on Friday, Sunday holidays on Monday."""
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


def thanksgiving(year: int) -> date:
    return _nth_weekday(year, 11, 3, 4)


@cache
def holidays(year: int) -> frozenset[date]:
    """Full-day NYSE holidays (by rule) observed within ``year``; special closures not included."""
    days = {
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        easter_sunday(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        thanksgiving(year),
        _observed(date(year, 12, 25)),
    }
    # A Saturday New Year is not moved to Friday Dec 31: that is the last day of the accounting year.
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 1998:
        days.add(_nth_weekday(year, 1, 0, 3))  # Martin Luther King Jr. Day
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    return frozenset(days)


# --- days and sessions ---------------------------------------------------------------------------


def is_trading_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays(d.year) and d not in SPECIAL_CLOSURES


def is_early_close(d: date) -> bool:
    """13:00 ET close: July 3, the day after Thanksgiving and Christmas Eve, when each is a trading day.

    July 3 and Dec 24 that fall on a Friday are themselves the observed holiday, so they never qualify.
    """
    if not is_trading_day(d):
        return False
    return (d.month, d.day) in ((7, 3), (12, 24)) or d == thanksgiving(d.year) + timedelta(days=1)


def _ny(d: date, t: time) -> datetime:
    # zoneinfo resolves the UTC offset per date, so sessions are DST correct.
    return datetime.combine(d, t, tzinfo=NEW_YORK).astimezone(UTC)


def session(d: date) -> tuple[datetime, datetime] | None:
    """(open, close) of the regular session in UTC, or None when the market is closed."""
    if not is_trading_day(d):
        return None
    return _ny(d, REGULAR_OPEN), _ny(d, EARLY_CLOSE if is_early_close(d) else REGULAR_CLOSE)


def is_open(now: datetime) -> bool:
    """Whether the regular session is open at ``now``."""
    hours = session(_require_aware(now).astimezone(NEW_YORK).date())
    return hours is not None and hours[0] <= now < hours[1]


def next_session(d: date) -> date:
    """The first trading day after ``d``."""
    day = d + timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def trading_days(start: date, end: date) -> list[date]:
    """Trading days from ``start`` to ``end``, both inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)
            if is_trading_day(start + timedelta(days=i))]


def hourly_bars(d: date) -> list[tuple[datetime, datetime]]:
    """(start, end) in UTC of the day's regular-session hourly bars: on clock hours, cut at the open and
    the close (09:30-10:00, 10:00-11:00, ..., 15:00-16:00), as the hourly bars of every source are binned."""
    hours = session(d)
    if hours is None:
        return []
    bars, t = [], hours[0]
    while t < hours[1]:
        end = min(t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), hours[1])
        bars.append((t, end))
        t = end
    return bars


def hourly_bars_after(t: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The first ``count`` session hourly bars that end after ``t`` (the first is the bar ``t`` is in,
    if any): the bars a BACKTEST order placed at ``t`` is worked over."""
    utc, out = _require_aware(t), list[tuple[datetime, datetime]]()
    day = utc.astimezone(NEW_YORK).date()
    while len(out) < count:
        out += [b for b in hourly_bars(day) if b[1] > utc][:count - len(out)]
        day += timedelta(days=1)
    return out


# --- cycle times ---------------------------------------------------------------------------------


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: pass a tz-aware datetime (UTC) to the market calendar")
    return dt.astimezone(UTC)


def cycle_times(d: date) -> list[datetime]:
    """Every full hour from 10:00 ET up to the last one strictly before the close, in UTC."""
    if not is_trading_day(d):
        return []
    close = EARLY_CLOSE if is_early_close(d) else REGULAR_CLOSE
    return [_ny(d, time(hour)) for hour in range(FIRST_CYCLE_HOUR, 24) if time(hour) < close]


def cycle_times_between(start: date, end: date) -> list[datetime]:
    """Cycle times of every trading day from ``start`` to ``end``, both inclusive."""
    return [t for d in trading_days(start, end) for t in cycle_times(d)]


def is_cycle_time(dt: datetime) -> bool:
    utc = _require_aware(dt)
    return utc in cycle_times(utc.astimezone(NEW_YORK).date())


def next_cycle_time(after: datetime) -> datetime:
    """The first cycle time strictly after ``after``."""
    utc = _require_aware(after)
    day = utc.astimezone(NEW_YORK).date()
    for offset in range(_SEARCH_DAYS):
        for t in cycle_times(day + timedelta(days=offset)):
            if t > utc:
                return t
    raise RuntimeError(f"no NYSE cycle time within {_SEARCH_DAYS} days after {after.isoformat()}")


def last_cycle_time(at_or_before: datetime) -> datetime | None:
    """The latest cycle time <= ``at_or_before``; None if there is none in the preceding month."""
    utc = _require_aware(at_or_before)
    day = utc.astimezone(NEW_YORK).date()
    for offset in range(_SEARCH_DAYS):
        for t in reversed(cycle_times(day - timedelta(days=offset))):
            if t <= utc:
                return t
    return None


# --- Celery beat schedule ------------------------------------------------------------------------


def _as_utc(dt: datetime) -> datetime:
    # Beat's own convention (celery.utils.time.maybe_make_aware): a naive datetime is UTC.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class SessionHourly(BaseSchedule):  # type: ignore[misc]  # celery has no types
    """Celery beat schedule that fires at each NYSE cycle time and at no other time.

    Never on weekends, holidays or outside the session; early closes end at the 12:00 ET cycle.

    A cycle fires only while ``now`` is within ``grace`` (default 5 minutes) of its cycle time. After
    beat downtime a missed cycle is skipped, not run late: its decisions would rest on a stale bar,
    and it would crowd the next cycle. The next cycle runs on time as usual.
    Beat stamps a new entry's ``last_run_at`` with now, so a beat started without its shelve at 10:02
    waits for 11:00; a restart that keeps the shelve still runs the 10:00 cycle until 10:05.
    """

    def __init__(self, grace: float | timedelta = 300.0, nowfun: Callable[[], datetime] | None = None,
                 app: Any = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.grace = grace if isinstance(grace, timedelta) else timedelta(seconds=grace)

    def _now_utc(self) -> datetime:
        return _as_utc(self.now())

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time from now until the first cycle after ``last_run_at`` (negative if it has passed)."""
        return next_cycle_time(_as_utc(last_run_at)) - self._now_utc()

    def is_due(self, last_run_at: datetime) -> schedstate:
        """(due, seconds until the next cycle time strictly after now)."""
        now = self._now_utc()
        latest = last_cycle_time(now)
        due = latest is not None and latest > _as_utc(last_run_at) and now - latest <= self.grace
        return schedstate(is_due=due, next=(next_cycle_time(now) - now).total_seconds())

    def __repr__(self) -> str:
        return f"<SessionHourly: NYSE hourly cycles 10:00 ET to last hour before close, grace {self.grace}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SessionHourly):
            return self.grace == other.grace and self.nowfun == other.nowfun
        return NotImplemented

    def __hash__(self) -> int:
        return hash((SessionHourly, self.grace))

    def __reduce__(self) -> tuple[type[SessionHourly], tuple[float, Callable[[], datetime] | None]]:
        # The app is not pickled: without nowfun, now() falls back to the current (beat) app.
        return self.__class__, (self.grace.total_seconds(), self.nowfun)
