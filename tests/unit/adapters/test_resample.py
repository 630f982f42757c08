"""Session-aware resampling: 1m -> 5m -> 15m -> 1h -> 1d, on synthetic 1m and real 5m bars."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from cream import market_calendar
from cream.adapters.local_history import read_polygon_5m
from cream.adapters.resample import (
    BarTable,
    regular_session,
    resample,
    to_daily,
    to_hourly,
    to_minutes,
)
from tests.shared_data import POLYGON_5M, require

NY = market_calendar.NEW_YORK
POLYGON_ADBE = POLYGON_5M / "ADBE.csv.gz"
EARLY_CLOSE = date(2024, 11, 29)
DST_DAYS = (date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 1), date(2024, 11, 4))  # around both switches


def epoch_ny(d: date, hh: int, mm: int) -> int:
    return int(datetime.combine(d, time(hh, mm), tzinfo=NY).timestamp())


def synthetic_1m(days: tuple[date, ...], seed: int = 3) -> BarTable:
    """1-minute bars 04:00-20:00 New York (extended hours included), a random walk."""
    ts = np.concatenate([np.arange(epoch_ny(d, 4, 0), epoch_ny(d, 20, 0), 60) for d in days]).astype(np.int64)
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.standard_normal(ts.shape[0]) * 0.05)
    open_ = close + rng.standard_normal(ts.shape[0]) * 0.02
    volume = rng.integers(0, 500, ts.shape[0]).astype(np.float64)
    return BarTable(ts=ts, end=ts + 60, open=open_, high=np.maximum(open_, close) + rng.random(ts.shape[0]) * 0.03,
                    low=np.minimum(open_, close) - rng.random(ts.shape[0]) * 0.03, close=close, volume=volume,
                    vwap=(open_ + close) / 2, trades=rng.integers(0, 9, ts.shape[0]).astype(np.int64))


def assert_tables_equal(a: BarTable, b: BarTable) -> None:
    assert len(a) == len(b)
    for name, x, y in zip(BarTable._fields, a, b):
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.fixture(scope="module")
def one_minute() -> BarTable:
    return synthetic_1m((date(2024, 11, 27), EARLY_CLOSE, date(2024, 12, 2), *DST_DAYS))


@pytest.fixture(scope="module")
def adbe_5m() -> BarTable:
    return read_polygon_5m(require(POLYGON_ADBE))


def test_chained_resampling_equals_direct(one_minute: BarTable) -> None:
    five = to_minutes(one_minute, 5)
    assert_tables_equal(to_minutes(five, 15), to_minutes(one_minute, 15))
    assert_tables_equal(to_hourly(to_minutes(five, 15)), to_hourly(one_minute))
    assert_tables_equal(to_hourly(to_minutes(one_minute, 30)), to_hourly(one_minute))
    assert_tables_equal(to_daily(to_hourly(five)), to_daily(one_minute))


@pytest.mark.parametrize("frame", ["1m", "5m", "15m", "30m", "1h", "1d"])
def test_volume_and_trades_conserved_over_the_regular_session(one_minute: BarTable, frame: str) -> None:
    session, _, _ = regular_session(one_minute)
    out = resample(one_minute, frame)
    assert out.volume.sum() == pytest.approx(session.volume.sum(), rel=1e-12)
    assert out.trades.sum() == session.trades.sum()
    assert np.all(out.high >= np.maximum(out.open, out.close)) and np.all(out.low <= np.minimum(out.open, out.close))


def test_buckets_anchor_at_0930_and_stop_at_the_early_close(one_minute: BarTable) -> None:
    day = to_minutes(one_minute, 15)
    on_early = (day.ts >= epoch_ny(EARLY_CLOSE, 0, 0)) & (day.ts < epoch_ny(EARLY_CLOSE, 23, 0))
    starts = day.ts[on_early]
    assert starts[0] == epoch_ny(EARLY_CLOSE, 9, 30) and starts.shape[0] == 14  # 09:30 .. 12:45
    assert day.end[on_early][-1] == epoch_ny(EARLY_CLOSE, 13, 0)
    hourly = to_hourly(one_minute)
    on_early_h = (hourly.ts >= epoch_ny(EARLY_CLOSE, 0, 0)) & (hourly.ts < epoch_ny(EARLY_CLOSE, 23, 0))
    assert [datetime.fromtimestamp(t, NY).strftime("%H:%M") for t in hourly.ts[on_early_h]] == \
        ["09:30", "10:00", "11:00", "12:00"]
    daily = to_daily(one_minute)
    assert epoch_ny(EARLY_CLOSE, 13, 0) in daily.end.tolist()


@pytest.mark.parametrize("day", DST_DAYS)
def test_dst_switch_days_keep_new_york_session_times(one_minute: BarTable, day: date) -> None:
    for frame, count in (("5m", 78), ("15m", 26), ("30m", 13), ("1h", 7), ("1d", 1)):
        out = resample(one_minute, frame)
        on_day = (out.ts >= epoch_ny(day, 0, 0)) & (out.ts < epoch_ny(day + timedelta(days=1), 0, 0))
        assert on_day.sum() == count, frame
        assert out.ts[on_day][0] == epoch_ny(day, 9, 30) and out.end[on_day][-1] == epoch_ny(day, 16, 0)


def test_straddling_bars_and_unknown_frames_are_rejected(one_minute: BarTable) -> None:
    five = to_minutes(one_minute, 5)
    with pytest.raises(ValueError, match="straddle"):
        to_minutes(five, 7)
    with pytest.raises(ValueError, match="unknown bar frame"):
        resample(five, "2w")


# --- real ADBE 5-minute bars ------------------------------------------------------------------

def legacy_to_hourly(table: BarTable) -> BarTable:
    """The numpy implementation this module had before the engine kernel (kept as a reference)."""
    bars, opens, closes = regular_session(table)
    hour = bars.ts - bars.ts % 3600
    start, end = np.maximum(hour, opens), np.minimum(hour + 3600, closes)
    first = np.flatnonzero(np.r_[True, start[1:] != start[:-1]])
    last = np.r_[first[1:], len(bars)] - 1
    volume = np.add.reduceat(bars.volume, first)
    notional = np.add.reduceat(bars.vwap * bars.volume, first)
    close = bars.close[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, notional / np.where(volume > 0, volume, 1.0), close)
    return BarTable(ts=start[first], end=end[first], open=bars.open[first],
                    high=np.maximum.reduceat(bars.high, first), low=np.minimum.reduceat(bars.low, first),
                    close=close, volume=volume, vwap=vwap, trades=np.add.reduceat(bars.trades, first))


def test_hourly_equals_the_previous_implementation(adbe_5m: BarTable) -> None:
    assert_tables_equal(to_hourly(adbe_5m), legacy_to_hourly(adbe_5m))


def pandas_resample(table: BarTable, rule: str, offset: str | None) -> pd.DataFrame:
    bars, _, _ = regular_session(table)
    index = pd.to_datetime(bars.ts, unit="s", utc=True).tz_convert("America/New_York").tz_localize(None)
    df = pd.DataFrame({"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
                       "volume": bars.volume}, index=index)
    out = df.resample(rule, origin="start_day", offset=offset).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    count = df["open"].resample(rule, origin="start_day", offset=offset).count()
    return out[count > 0]


@pytest.mark.parametrize(("frame", "rule", "offset"), [("15m", "15min", "9h30min"), ("1h", "1h", None)])
def test_matches_pandas_resample_on_real_bars(adbe_5m: BarTable, frame: str, rule: str, offset: str | None) -> None:
    got = resample(adbe_5m, frame)
    ref = pandas_resample(adbe_5m, rule, offset)
    assert len(got) == len(ref) > 1000
    local = pd.to_datetime(got.ts, unit="s", utc=True).tz_convert("America/New_York").tz_localize(None)
    labels = ref.index.to_numpy()
    if frame == "1h":  # pandas labels the opening half hour 09:00; ours starts at the 09:30 open
        labels = np.where(ref.index.hour == 9, labels + np.timedelta64(30, "m"), labels)
    np.testing.assert_array_equal(local.to_numpy(), labels)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(got, name), ref[name].to_numpy(), rtol=1e-12, err_msg=name)


def test_real_early_close_and_dst_days(adbe_5m: BarTable) -> None:
    hourly = to_hourly(adbe_5m)
    for day, first_utc, close_utc in ((date(2023, 11, 24), (14, 30), (18, 0)),  # early close, EST
                                      (date(2024, 3, 8), (14, 30), (21, 0)),  # last EST day
                                      (date(2024, 3, 11), (13, 30), (20, 0))):  # first EDT day
        lo = int(datetime(day.year, day.month, day.day, tzinfo=market_calendar.UTC).timestamp())
        on_day = (hourly.ts >= lo) & (hourly.ts < lo + 86400)
        assert hourly.ts[on_day][0] == lo + first_utc[0] * 3600 + first_utc[1] * 60
        assert hourly.end[on_day][-1] == lo + close_utc[0] * 3600 + close_utc[1] * 60
    session, _, _ = regular_session(adbe_5m)
    assert to_daily(adbe_5m).volume.sum() == pytest.approx(session.volume.sum(), rel=1e-12)
