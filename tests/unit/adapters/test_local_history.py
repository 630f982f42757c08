"""LocalHistory over the bundled sample and over raw Polygon 5-minute files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cream import market_calendar
from cream.adapters.local_history import LocalHistory
from cream.errors import ConfigurationError, UnknownInstrument
from cream.ports import Bars
from cream.schemas.market import Timeframe
from tests.shared_data import POLYGON_5M, require

POLYGON_DIR = POLYGON_5M
SYMBOLS = ["ADBE", "COST", "MA", "XLK"]


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


@pytest.fixture(scope="module")
def sample() -> LocalHistory:
    return LocalHistory()


@pytest.fixture(scope="module")
def raw() -> LocalHistory:
    return LocalHistory(require(POLYGON_DIR))


def everything(history: LocalHistory, symbol: str, timeframe: Timeframe) -> Bars:
    return history.bars_between(symbol, timeframe, utc(2000, 1, 1), utc(2100, 1, 1))


def test_bundled_sample_symbols_and_range(sample: LocalHistory) -> None:
    assert sample.symbols() == SYMBOLS
    assert sample.latest() == utc(2025, 9, 25, 20)  # the 16:00 ET close of the last day


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_hourly_bars_never_cross_the_session_or_a_clock_hour(sample: LocalHistory, symbol: str) -> None:
    bars = everything(sample, symbol, Timeframe.H1)
    assert len(bars) > 3000 and np.all(np.diff(bars.end) > 0)
    for ts, end in zip(bars.ts.tolist(), bars.end.tolist()):
        bounds = market_calendar.session(datetime.fromtimestamp(ts, UTC).date())
        assert bounds is not None, f"bar at {ts} on a closed day"
        assert epoch(bounds[0]) <= ts < end <= epoch(bounds[1])
        assert ts // 3600 == (end - 1) // 3600
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))


def test_early_close_day_ends_with_the_12_to_13_bar(sample: LocalHistory) -> None:
    bars = sample.bars_between("XLK", Timeframe.H1, utc(2024, 11, 29), utc(2024, 11, 30))
    starts = ((14, 30), (15, 0), (16, 0), (17, 0))  # 09:30, 10:00, 11:00, 12:00 EST
    assert bars.ts.tolist() == [epoch(utc(2024, 11, 29, h, m)) for h, m in starts]
    assert int(bars.end[-1]) == epoch(utc(2024, 11, 29, 18))


def test_no_look_ahead(sample: LocalHistory) -> None:
    # 10:30 ET on 2024-03-05: only the 09:30-10:00 bar of the day has closed.
    as_of = utc(2024, 3, 5, 15, 30)
    bars = sample.bars("ADBE", Timeframe.H1, as_of, 50)
    assert np.all(bars.end <= epoch(as_of))
    assert int(bars.ts[-1]) == epoch(utc(2024, 3, 5, 14, 30))
    assert int(bars.end[-1]) == epoch(utc(2024, 3, 5, 15))
    just_before = sample.bars("ADBE", Timeframe.H1, utc(2024, 3, 5, 15, 59, 59), 1)
    assert int(just_before.end[-1]) == epoch(utc(2024, 3, 5, 15))
    at_end = sample.bars("ADBE", Timeframe.H1, utc(2024, 3, 5, 16), 1)
    assert int(at_end.end[-1]) == epoch(utc(2024, 3, 5, 16))
    # The day's daily bar exists only from the close on.
    daily = sample.bars("ADBE", Timeframe.D1, utc(2024, 3, 5, 20, 59), 1)
    assert datetime.fromtimestamp(int(daily.ts[-1]), UTC).date() == date(2024, 3, 4)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_daily_bar_is_the_aggregate_of_its_hourly_bars(sample: LocalHistory, symbol: str) -> None:
    hourly, daily = everything(sample, symbol, Timeframe.H1), everything(sample, symbol, Timeframe.D1)
    day_of_hour = np.searchsorted(daily.end, hourly.end, side="left")
    assert np.all(hourly.ts >= daily.ts[day_of_hour])  # every hourly bar lies inside its daily bar
    first = np.flatnonzero(np.r_[True, np.diff(day_of_hour) != 0])
    assert len(first) == len(daily)
    np.testing.assert_array_equal(daily.open, hourly.open[first])
    np.testing.assert_array_equal(daily.close, hourly.close[np.r_[first[1:], len(hourly)] - 1])
    np.testing.assert_array_equal(daily.high, np.maximum.reduceat(hourly.high, first))
    np.testing.assert_array_equal(daily.low, np.minimum.reduceat(hourly.low, first))
    np.testing.assert_allclose(daily.volume, np.add.reduceat(hourly.volume, first), atol=1e-3)


def test_daily_bars_cover_exactly_the_trading_days(sample: LocalHistory) -> None:
    daily = everything(sample, "MA", Timeframe.D1)
    days = [datetime.fromtimestamp(ts, UTC).date() for ts in daily.ts.tolist()]
    assert days == market_calendar.trading_days(date(2023, 9, 27), date(2025, 9, 25))
    assert date(2025, 1, 9) not in days  # day of mourning for President Carter


def test_lookback_counts(sample: LocalHistory) -> None:
    as_of = utc(2024, 6, 3, 18)
    assert len(sample.bars("COST", Timeframe.H1, as_of, 10)) == 10
    assert len(sample.bars("COST", Timeframe.H1, as_of, 0)) == 0
    assert len(sample.bars("COST", Timeframe.D1, utc(2023, 10, 3, 21), 100)) == 5  # Sep 27 .. Oct 3
    assert len(sample.bars("COST", Timeframe.D1, utc(2023, 1, 1), 100)) == 0
    ten, eleven = (sample.bars("COST", Timeframe.H1, as_of, n) for n in (10, 11))
    np.testing.assert_array_equal(ten.end, eleven.end[1:])
    with pytest.raises(ValueError, match="lookback"):
        sample.bars("COST", Timeframe.H1, as_of, -1)


def test_bars_between_is_open_closed(sample: LocalHistory) -> None:
    bars = sample.bars_between("MA", Timeframe.H1, utc(2024, 3, 5, 15), utc(2024, 3, 5, 17))
    assert bars.end.tolist() == [epoch(utc(2024, 3, 5, 16)), epoch(utc(2024, 3, 5, 17))]


def test_unknown_symbol_names_the_known_ones(sample: LocalHistory) -> None:
    with pytest.raises(UnknownInstrument, match="ADBE, COST, MA, XLK"):
        sample.bars("TSLA", Timeframe.H1, utc(2024, 3, 5, 20), 5)


@pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.M15, Timeframe.M5, "2h"])
def test_unsupported_timeframe(sample: LocalHistory, timeframe: Timeframe) -> None:
    with pytest.raises(ValueError, match="1h, 1d"):
        sample.bars("ADBE", timeframe, utc(2024, 3, 5, 20), 5)


def test_naive_as_of_is_refused(sample: LocalHistory) -> None:
    with pytest.raises(ValueError, match="naive"):
        sample.bars("ADBE", Timeframe.H1, datetime(2024, 3, 5, 20), 5)


def test_returned_arrays_cannot_corrupt_the_shared_cache(sample: LocalHistory) -> None:
    bars = sample.bars("ADBE", Timeframe.H1, utc(2024, 3, 5, 20), 5)
    with pytest.raises(ValueError):
        bars.close[0] = 0.0


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalHistory(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="no"):
        LocalHistory(tmp_path)


# --- raw Polygon 5-minute directory --------------------------------------------------------------

RAW_DAYS = [date(2024, 3, 8), date(2024, 3, 11), date(2024, 7, 3), date(2024, 11, 29), date(2025, 6, 2)]


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("timeframe", [Timeframe.H1, Timeframe.D1])
def test_raw_mode_matches_the_bundled_sample(
    raw: LocalHistory, sample: LocalHistory, symbol: str, timeframe: Timeframe
) -> None:
    for day in RAW_DAYS:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        a = raw.bars_between(symbol, timeframe, start, start + timedelta(days=1))
        b = sample.bars_between(symbol, timeframe, start, start + timedelta(days=1))
        assert len(a) > 0
        np.testing.assert_array_equal(a.ts, b.ts)
        np.testing.assert_array_equal(a.end, b.end)
        for field in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=5e-5, rtol=0)


def test_raw_mode_serves_5m_bars_as_they_are(raw: LocalHistory) -> None:
    bars = raw.bars_between("ADBE", Timeframe.M5, utc(2024, 3, 5), utc(2024, 3, 6))
    assert np.all(bars.end - bars.ts == 300)
    assert int(bars.ts[0]) < epoch(utc(2024, 3, 5, 14, 30))  # pre-market prints are kept
    assert raw.latest() > utc(2025, 9, 25, 20)  # after-hours bars of the last day
    with pytest.raises(ValueError, match="5m, 1h, 1d"):
        raw.bars("ADBE", Timeframe.M15, utc(2024, 3, 5, 20), 5)


def test_local_history_lists_and_prices_options_by_the_model_as_of_the_hour(sample: LocalHistory) -> None:
    """Weekly expiries, the strike grid within 20% of the spot, model marks from the bars up to ``as_of``
    (the next hour's marks move with its bar); what cannot be priced is left out, so it fails closed."""
    at = utc(2025, 6, 3, 15)
    chain = sample.option_chain("XLK", contract_type="call", as_of=at)
    spot = float(sample.bars("XLK", Timeframe.H1, at, 1).close[-1])
    assert {c.type for c in chain} == {"call"} and {c.underlying_price for c in chain} == {spot}
    assert min(c.expiry for c in chain) == date(2025, 6, 6) and max(c.expiry for c in chain) <= date(2025, 8, 2)
    assert {c.strike % 2.5 for c in chain} == {0.0} and all(0.8 * spot <= c.strike <= 1.2 * spot for c in chain)
    listed = {c.occ_symbol for c in chain}
    assert "XLK250620C00240000" in listed
    marks = sample.option_marks(["XLK250620C00240000", "XLK250620P00240000", "XLK200619C00240000",
                                 "NOPE250620C00240000", "not an option"], at)
    call, put = marks["XLK250620C00240000"], marks["XLK250620P00240000"]
    assert set(marks) == {"XLK250620C00240000", "XLK250620P00240000"}  # expired and unknown: unpriced
    assert call.model_priced and call.bid < call.premium < call.ask and call.implied_volatility == put.implied_volatility
    later = sample.option_marks(["XLK250620C00240000"], utc(2025, 6, 3, 16))["XLK250620C00240000"]
    assert later.underlying_price == float(sample.bars("XLK", Timeframe.H1, utc(2025, 6, 3, 16), 1).close[-1])
    with pytest.raises(UnknownInstrument):
        sample.option_chain("NOPE", as_of=at)
