"""Data checks: a crafted bad series gets a report naming every problem; nothing raises."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from cream.adapters.data_checks import check_bars
from cream.ports import Bars
from cream.schemas.market import Timeframe

OPEN = int(datetime(2024, 3, 1, 14, 30, tzinfo=UTC).timestamp())  # 09:30 ET, a Friday


def five_minute(starts: list[int], **overrides: list[float]) -> Bars:
    n = len(starts)
    cols = {"open": [10.0] * n, "high": [11.0] * n, "low": [9.0] * n, "close": [10.5] * n, "volume": [100.0] * n}
    cols.update(overrides)
    ts = np.array(starts, dtype=np.int64)
    return Bars(ts, ts + 300, *(np.array(cols[k], dtype=np.float64) for k in ("open", "high", "low", "close", "volume")))


def test_a_clean_series_has_no_issues() -> None:
    report = check_bars(five_minute([OPEN + 300 * i for i in range(6)]), Timeframe.M5, "ADBE")
    assert report.ok and report.summary == "ADBE 5m: 6 bars, no issues"


def test_a_crafted_bad_series_reports_each_problem_at_its_bar() -> None:
    starts = [OPEN, OPEN + 300, OPEN + 300, OPEN + 1800, OPEN + 1500, OPEN + 2100]
    bars = five_minute(starts, open=[10, 10, 10, 10, 10, 10], high=[11, 11, 11, 8, 11, 11],
                       low=[9, 9, 9, 9, 9, 9], close=[10.5, -1, 10.5, 10.5, 10.5, 12],
                       volume=[100, 100, 100, 100, 100, -5])
    report = check_bars(bars, Timeframe.M5, "ADBE")
    found = {(i.kind, i.ts) for i in report.issues}
    assert ("duplicate", OPEN + 300) in found
    assert ("out_of_order", OPEN + 1500) in found
    assert ("non_positive_price", OPEN + 300) in found
    assert ("bad_range", OPEN + 1800) in found  # high below low
    assert ("bad_range", OPEN + 2100) in found  # close above high
    assert ("negative_volume", OPEN + 2100) in found
    assert ("gap", OPEN + 1500) in found  # 09:40 -> 09:55 missing inside the session
    assert report.kinds()["gap"] == 1
    assert "7 issues" in report.summary and "duplicate" in report.summary


def test_overnight_and_weekend_silence_is_not_a_gap() -> None:
    friday_close = OPEN + 6 * 3600 + 1800 - 300
    monday_open = OPEN + 3 * 86400
    assert check_bars(five_minute([friday_close, monday_open]), Timeframe.M5).ok


def test_daily_bars_missing_a_trading_day_are_a_gap_but_a_holiday_is_not() -> None:
    day = 86400
    feb28, feb29, mar4 = OPEN - 2 * day, OPEN - day, OPEN + 3 * day
    assert check_bars(five_minute([feb28, feb29, OPEN, mar4]), Timeframe.D1).ok
    report = check_bars(five_minute([feb28, mar4]), Timeframe.D1)
    assert [(i.kind, i.ts) for i in report.issues] == [("gap", mar4)]
    assert "2 trading day(s)" in report.issues[0].detail
    # Good Friday 2024-03-29 is a holiday: Thursday -> Monday is no gap.
    thu, mon = int(datetime(2024, 3, 28, 13, 30, tzinfo=UTC).timestamp()), int(datetime(2024, 4, 1, 13, 30, tzinfo=UTC).timestamp())
    assert check_bars(five_minute([thu, mon]), Timeframe.D1).ok


def test_nan_prices_and_unusable_input_are_reported_not_raised() -> None:
    report = check_bars(five_minute([OPEN], close=[float("nan")]), Timeframe.M5)
    assert [i.kind for i in report.issues] == ["non_positive_price"]
    broken = Bars(np.array([OPEN]), np.array([OPEN + 300]), np.array([]), np.array([]), np.array([]),
                  np.array([]), np.array([]))
    report = check_bars(broken, Timeframe.M5, "X")
    assert not report.ok and report.issues[0].kind == "check_failed"
