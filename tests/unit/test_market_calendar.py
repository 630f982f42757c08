"""The NYSE calendar: holidays, early closes, DST-correct sessions, cycle times and the beat schedule."""

from __future__ import annotations

import pickle
import shelve
from datetime import UTC, date, datetime, timedelta

import pytest
from celery import Celery
from celery.beat import ScheduleEntry
from hypothesis import given, settings
from hypothesis import strategies as st

from cream.market_calendar import (
    NEW_YORK,
    SessionHourly,
    cycle_times,
    cycle_times_between,
    holidays,
    hourly_bars,
    hourly_bars_after,
    is_cycle_time,
    is_early_close,
    is_trading_day,
    last_cycle_time,
    next_cycle_time,
    session,
    trading_days,
)


def ny(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=NEW_YORK)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


# The published NYSE holiday lists (weekday closures only).
NYSE_CLOSED = {
    2023: ["01-02", "01-16", "02-20", "04-07", "05-29", "06-19", "07-04", "09-04", "11-23", "12-25"],
    2024: ["01-01", "01-15", "02-19", "03-29", "05-27", "06-19", "07-04", "09-02", "11-28", "12-25"],
    2025: ["01-01", "01-09", "01-20", "02-17", "04-18", "05-26", "06-19", "07-04", "09-01", "11-27",
           "12-25"],
    2026: ["01-01", "01-19", "02-16", "04-03", "05-25", "06-19", "07-03", "09-07", "11-26", "12-25"],
}
NYSE_EARLY_CLOSES = {
    2023: ["07-03", "11-24"],
    2024: ["07-03", "11-29", "12-24"],
    2025: ["07-03", "11-28", "12-24"],
    2026: ["11-27", "12-24"],
}


def _dates(year: int, days: list[str]) -> list[date]:
    return [date.fromisoformat(f"{year}-{md}") for md in days]


@pytest.mark.parametrize("year", sorted(NYSE_CLOSED))
def test_weekday_closures_are_exactly_the_published_holidays(year: int) -> None:
    weekdays = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
    closed = [d for d in weekdays if d.year == year and d.weekday() < 5 and not is_trading_day(d)]
    assert closed == _dates(year, NYSE_CLOSED[year])


@pytest.mark.parametrize("year", sorted(NYSE_EARLY_CLOSES))
def test_early_closes_are_exactly_the_published_ones(year: int) -> None:
    early = [d for d in trading_days(date(year, 1, 1), date(year, 12, 31)) if is_early_close(d)]
    assert early == _dates(year, NYSE_EARLY_CLOSES[year])


@pytest.mark.parametrize(("year", "count"), [(2023, 250), (2024, 252), (2025, 250)])
def test_trading_day_counts(year: int, count: int) -> None:
    assert len(trading_days(date(year, 1, 1), date(year, 12, 31))) == count


def test_observance_rules() -> None:
    assert is_trading_day(date(2021, 12, 31))  # Saturday New Year 2022 is not moved to Friday
    assert is_trading_day(date(2027, 12, 31))  # nor in 2028
    assert all(d.year == 2022 for d in holidays(2022))
    assert not is_trading_day(date(2027, 6, 18))  # Saturday Juneteenth observed Friday
    assert is_trading_day(date(2021, 6, 18))  # Juneteenth only from 2022
    assert not is_trading_day(date(2027, 7, 5))  # Sunday Independence Day observed Monday
    assert not is_trading_day(date(2027, 12, 24))  # Saturday Christmas observed Friday
    assert not is_early_close(date(2026, 7, 2))  # July 3 2026 is the holiday; July 2 is a full day
    assert not is_trading_day(date(2018, 12, 5))  # President Bush
    assert not is_trading_day(date(2024, 3, 9))  # Saturday


def test_sessions_follow_daylight_saving_time() -> None:
    assert session(date(2024, 3, 8)) == (utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21))  # EST
    assert session(date(2024, 3, 11)) == (utc(2024, 3, 11, 13, 30), utc(2024, 3, 11, 20))  # EDT
    assert session(date(2024, 11, 1)) == (utc(2024, 11, 1, 13, 30), utc(2024, 11, 1, 20))  # EDT
    assert session(date(2024, 11, 4)) == (utc(2024, 11, 4, 14, 30), utc(2024, 11, 4, 21))  # EST


def test_early_close_sessions_end_at_13_new_york() -> None:
    assert session(date(2024, 7, 3)) == (utc(2024, 7, 3, 13, 30), utc(2024, 7, 3, 17))
    assert session(date(2024, 11, 29)) == (utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18))
    assert session(date(2024, 7, 4)) is None


def test_cycle_times_per_day() -> None:
    assert cycle_times(date(2024, 3, 5)) == [utc(2024, 3, 5, h) for h in range(15, 21)]  # 10..15 EST
    assert cycle_times(date(2024, 6, 5)) == [utc(2024, 6, 5, h) for h in range(14, 20)]  # 10..15 EDT
    assert cycle_times(date(2024, 12, 24)) == [ny(2024, 12, 24, h) for h in (10, 11, 12)]
    assert cycle_times(date(2024, 12, 25)) == []
    assert cycle_times(date(2024, 12, 28)) == []
    # Week of Thanksgiving 2024: 3 full days, the holiday, an early close.
    assert len(cycle_times_between(date(2024, 11, 25), date(2024, 12, 1))) == 3 * 6 + 3


def test_is_cycle_time() -> None:
    assert is_cycle_time(utc(2024, 3, 5, 15))
    assert is_cycle_time(ny(2024, 3, 5, 15))  # any aware zone is accepted
    assert not is_cycle_time(utc(2024, 3, 5, 15, 0, 1))
    assert not is_cycle_time(ny(2024, 3, 5, 16))  # the close
    assert not is_cycle_time(ny(2024, 3, 5, 9))
    assert is_cycle_time(ny(2024, 11, 29, 12))
    assert not is_cycle_time(ny(2024, 11, 29, 13))  # early close
    with pytest.raises(ValueError, match="naive"):
        is_cycle_time(datetime(2024, 3, 5, 15))


@pytest.mark.parametrize(("after", "expected"), [
    (ny(2024, 3, 5, 8), ny(2024, 3, 5, 10)),
    (ny(2024, 3, 5, 10), ny(2024, 3, 5, 11)),  # strictly after
    (ny(2024, 3, 8, 15), ny(2024, 3, 11, 10)),  # weekend and the switch to EDT
    (ny(2024, 7, 3, 12), ny(2024, 7, 5, 10)),  # early close then Independence Day
    (ny(2024, 12, 24, 12, 30), ny(2024, 12, 26, 10)),
    (ny(2025, 1, 8, 16), ny(2025, 1, 10, 10)),  # day of mourning
])
def test_next_cycle_time(after: datetime, expected: datetime) -> None:
    found = next_cycle_time(after)
    assert found == expected and found.tzinfo == UTC


@pytest.mark.parametrize(("at", "expected"), [
    (ny(2024, 3, 11, 9, 59), ny(2024, 3, 8, 15)),
    (ny(2024, 3, 5, 11), ny(2024, 3, 5, 11)),  # at or before
    (ny(2024, 11, 29, 15), ny(2024, 11, 29, 12)),  # early close
    (ny(2024, 3, 30, 12), ny(2024, 3, 28, 15)),  # Good Friday
])
def test_last_cycle_time(at: datetime, expected: datetime) -> None:
    found = last_cycle_time(at)
    assert found == expected and found is not None and found.tzinfo == UTC


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)))
def test_no_cycle_between_last_and_next(moment: datetime) -> None:
    before, after = last_cycle_time(moment), next_cycle_time(moment)
    assert before is not None and before <= moment < after
    assert is_cycle_time(before) and is_cycle_time(after)
    between = cycle_times_between(before.date() - timedelta(days=1), after.date() + timedelta(days=1))
    assert [t for t in between if before < t < after] == []


# --- SessionHourly -------------------------------------------------------------------------------


def clock(now: datetime) -> SessionHourly:
    return SessionHourly(nowfun=lambda: now)


def test_fires_on_the_cycle_and_reports_the_wait_to_the_next() -> None:
    due, wait = clock(ny(2024, 3, 5, 10)).is_due(ny(2024, 3, 4, 15))
    assert due and wait == 3600


def test_fires_a_little_late_but_not_twice() -> None:
    due, wait = clock(ny(2024, 3, 5, 10, 3)).is_due(ny(2024, 3, 4, 15))
    assert due and wait == 57 * 60
    due, wait = clock(ny(2024, 3, 5, 10, 3, 30)).is_due(ny(2024, 3, 5, 10, 3))
    assert not due and wait == 56 * 60 + 30


def test_skips_a_cycle_missed_by_more_than_five_minutes() -> None:
    due, wait = clock(ny(2024, 3, 5, 10, 6)).is_due(ny(2024, 3, 4, 15))
    assert not due and wait == 54 * 60


@pytest.mark.parametrize(("now", "next_cycle"), [
    (ny(2024, 3, 9, 10), ny(2024, 3, 11, 10)),  # Saturday, 47 h away across the switch to EDT
    (ny(2024, 7, 4, 10), ny(2024, 7, 5, 10)),  # holiday
    (ny(2024, 11, 29, 13), ny(2024, 12, 2, 10)),  # early close: no 13:00 cycle
    (ny(2024, 3, 5, 9, 30), ny(2024, 3, 5, 10)),  # the open is not a cycle
    (ny(2024, 3, 5, 16), ny(2024, 3, 6, 10)),  # nor the close
])
def test_never_fires_outside_cycle_times(now: datetime, next_cycle: datetime) -> None:
    due, wait = clock(now).is_due(now - timedelta(days=7))
    # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall clocks, ignoring DST.
    assert not due and wait == (next_cycle.astimezone(UTC) - now.astimezone(UTC)).total_seconds()


def test_simulated_beat_week_fires_exactly_the_cycle_times() -> None:
    """Drive the schedule as beat does: sleep min(next, max_interval), fire when due."""
    now, last_run = ny(2024, 11, 25), ny(2024, 11, 22, 15)
    fired = []
    while now < ny(2024, 12, 3):
        due, wait = clock(now).is_due(last_run)
        if due:
            fired.append(now)
            last_run = now
        now += timedelta(seconds=min(wait, 300.0))
    assert fired == cycle_times_between(date(2024, 11, 25), date(2024, 12, 2))


def test_naive_last_run_at_is_read_as_utc() -> None:
    due, _ = clock(utc(2024, 3, 5, 15)).is_due(datetime(2024, 3, 5, 14, 59))
    assert due
    due, _ = clock(utc(2024, 3, 5, 15, 1)).is_due(datetime(2024, 3, 5, 15, 0, 30))
    assert not due


def test_remaining_estimate() -> None:
    assert clock(ny(2024, 3, 5, 10, 30)).remaining_estimate(ny(2024, 3, 5, 10)) == timedelta(minutes=30)
    assert clock(ny(2024, 3, 8, 16)).remaining_estimate(ny(2024, 3, 8, 15)) == timedelta(days=2, hours=17)


def fixed_now() -> datetime:
    return ny(2024, 3, 5, 10)


def test_survives_beats_shelve_and_compares_equal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    original = SessionHourly(nowfun=fixed_now)
    with shelve.open(str(tmp_path / "celerybeat-schedule")) as db:
        db["entries"] = {"cycle": original}
    with shelve.open(str(tmp_path / "celerybeat-schedule")) as db:
        restored = db["entries"]["cycle"]
    assert restored == original and hash(restored) == hash(original)
    assert restored.is_due(ny(2024, 3, 4, 15)) == (True, 3600)
    assert pickle.loads(pickle.dumps(SessionHourly(grace=60))) == SessionHourly(grace=60)
    assert SessionHourly(grace=60) != SessionHourly()
    assert "SessionHourly" in repr(original)


def test_a_new_beat_entry_waits_for_the_next_cycle() -> None:
    """Beat stamps a new entry with now, so starting at 10:02 does not replay the 10:00 cycle."""
    app = Celery(set_as_current=False)
    entry = ScheduleEntry(name="cycle", task="cycle.start", app=app,
                          schedule=SessionHourly(nowfun=lambda: ny(2024, 3, 5, 10, 2)))
    assert entry.is_due() == (False, 58 * 60)


def test_hourly_bars_are_clock_hours_cut_at_the_open_and_the_close() -> None:
    """As every source's hourly bars are binned (09:30 New York is 13:30Z in September)."""
    bars = hourly_bars(date(2025, 9, 22))
    assert bars[0] == (datetime(2025, 9, 22, 13, 30, tzinfo=UTC), datetime(2025, 9, 22, 14, tzinfo=UTC))
    assert bars[-1] == (datetime(2025, 9, 22, 19, tzinfo=UTC), datetime(2025, 9, 22, 20, tzinfo=UTC))
    assert len(bars) == 7 and all(b[0] < b[1] for b in bars)
    assert len(hourly_bars(date(2025, 11, 28))) == 4  # the day after Thanksgiving closes at 13:00
    assert hourly_bars(date(2025, 9, 20)) == []  # a Saturday


def test_the_bars_after_a_time_start_with_the_one_it_is_in_and_skip_nights_and_weekends() -> None:
    friday_3pm = datetime(2025, 9, 26, 19, tzinfo=UTC)  # 15:00 New York
    bars = hourly_bars_after(friday_3pm, 3)
    assert [b[0] for b in bars] == [friday_3pm, datetime(2025, 9, 29, 13, 30, tzinfo=UTC),
                                    datetime(2025, 9, 29, 14, tzinfo=UTC)]
    inside = hourly_bars_after(friday_3pm + timedelta(minutes=59), 1)
    assert inside == [(friday_3pm, friday_3pm + timedelta(hours=1))]
    assert hourly_bars_after(friday_3pm + timedelta(hours=1), 1)[0][0] == bars[1][0]  # at the close: Monday's
