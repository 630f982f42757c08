"""build_snapshot on the bundled sample: indicators, price, candles, and no look-ahead."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cream.adapters.local_history import LocalHistory
from cream.features import build_snapshot
from cream.ports import Bars
from cream.schemas.market import FeatureSnapshot, RegimeLabel, Timeframe

AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)  # Monday, mid-session
SYMBOLS = ["ADBE", "COST", "MA", "XLK"]
INDICATORS = {"rsi_14_1h", "rsi_14_1d", "sma_20_1h", "ema_12_1h", "ema_26_1h", "atr_14_1h", "sma_20_1d",
              "sma_50_1d", "atr_14_1d", "bb_upper_20_1d", "bb_middle_20_1d", "bb_lower_20_1d", "stoch_k_14_1d",
              "stoch_d_3_1d", "volume_sma_20_1d", "volume_last_1h", "high_20_1d", "low_20_1d"}
NORMALIZED = {"zscore_rsi_14_1h", "zscore_close_20_1d", "percentile_volume_1d", "percentile_atr_14_1d"}


@pytest.fixture(scope="module")
def history() -> LocalHistory:
    return LocalHistory()


def bars(history: LocalHistory, symbol: str, as_of: datetime) -> tuple[Bars, Bars]:
    return (history.bars(symbol, Timeframe.H1, as_of, 200), history.bars(symbol, Timeframe.D1, as_of, 200))


def closed_by(b: Bars, as_of: datetime, lookback: int) -> Bars:
    """The last ``lookback`` bars of ``b`` that ended by ``as_of``."""
    keep = np.flatnonzero(b.end <= int(as_of.timestamp()))[-lookback:]
    return Bars(*(col[keep] for col in b))


def head(b: Bars, n: int) -> Bars:
    return Bars(*(col[-n:] if n else col[:0] for col in b))


def snapshot(history: LocalHistory, symbol: str, as_of: datetime = AS_OF) -> FeatureSnapshot:
    return build_snapshot(symbol, as_of, *bars(history, symbol, as_of))


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_every_indicator_and_normalised_feature_is_present_and_finite(history: LocalHistory, symbol: str) -> None:
    snap = snapshot(history, symbol)
    assert set(snap.indicators) == INDICATORS
    assert set(snap.normalized) == NORMALIZED
    assert all(math.isfinite(v) for v in [*snap.indicators.values(), *snap.normalized.values()])
    assert snap.regime.regime in set(RegimeLabel)
    assert snap.metadata == {"bars_1h": 200, "bars_1d": 200}


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_price_is_the_last_hourly_close(history: LocalHistory, symbol: str) -> None:
    hourly, daily = bars(history, symbol, AS_OF)
    snap = build_snapshot(symbol, AS_OF, hourly, daily)
    assert snap.price == float(hourly.close[-1])
    assert snap.candles_by_timeframe[Timeframe.H1][-1].close == snap.price


def test_indicator_values_agree_with_the_bars(history: LocalHistory) -> None:
    hourly, daily = bars(history, "COST", AS_OF)
    ind = build_snapshot("COST", AS_OF, hourly, daily).indicators
    assert ind["sma_20_1d"] == pytest.approx(daily.close[-20:].mean(), rel=1e-6)
    assert ind["sma_50_1d"] == pytest.approx(daily.close[-50:].mean(), rel=1e-6)
    assert ind["sma_20_1h"] == pytest.approx(hourly.close[-20:].mean(), rel=1e-6)
    assert ind["high_20_1d"] == pytest.approx(daily.high[-20:].max())
    assert ind["low_20_1d"] == pytest.approx(daily.low[-20:].min())
    assert ind["volume_sma_20_1d"] == pytest.approx(daily.volume[-20:].mean(), rel=1e-6)
    assert ind["bb_middle_20_1d"] == pytest.approx(ind["sma_20_1d"], rel=1e-6)
    assert ind["bb_lower_20_1d"] < ind["bb_middle_20_1d"] < ind["bb_upper_20_1d"]
    assert 0 <= ind["rsi_14_1h"] <= 100 and 0 <= ind["rsi_14_1d"] <= 100
    assert 0 <= ind["stoch_k_14_1d"] <= 100
    assert ind["atr_14_1d"] > ind["atr_14_1h"] > 0


def test_candles_in_the_snapshot_all_closed_by_as_of(history: LocalHistory) -> None:
    snap = snapshot(history, "ADBE")
    h1 = snap.candles_by_timeframe[Timeframe.H1]
    d1 = snap.candles_by_timeframe[Timeframe.D1]
    assert len(h1) == len(d1) == 20
    assert all(c.ts + timedelta(hours=1) <= AS_OF for c in h1)
    assert h1[-1].ts == AS_OF - timedelta(hours=1)
    # Monday's daily bar is still forming at 15:00 UTC: the last daily candle is Friday's.
    assert d1[-1].ts.date() == datetime(2025, 5, 30).date()
    assert [c.ts for c in h1] == sorted(c.ts for c in h1)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_data_after_as_of_does_not_change_the_snapshot(history: LocalHistory, symbol: str) -> None:
    later = AS_OF + timedelta(days=7)
    hourly_later = history.bars(symbol, Timeframe.H1, later, 400)
    daily_later = history.bars(symbol, Timeframe.D1, later, 400)
    assert int(hourly_later.end[-1]) > int(AS_OF.timestamp())  # the later fetch does hold future bars
    from_truncated = build_snapshot(symbol, AS_OF, closed_by(hourly_later, AS_OF, 200),
                                    closed_by(daily_later, AS_OF, 200))
    assert from_truncated == snapshot(history, symbol)


def test_a_bar_still_forming_at_as_of_is_not_used(history: LocalHistory) -> None:
    at_hour = snapshot(history, "MA", AS_OF)
    mid_hour = snapshot(history, "MA", AS_OF + timedelta(minutes=59))
    next_hour = snapshot(history, "MA", AS_OF + timedelta(hours=1))
    assert mid_hour.price == at_hour.price
    assert mid_hour.indicators == at_hour.indicators
    assert next_hour.price != at_hour.price  # the 15:00-16:00 bar, once closed, is used


def test_short_history_omits_indicators_it_cannot_compute(history: LocalHistory) -> None:
    hourly, daily = bars(history, "XLK", AS_OF)
    snap = build_snapshot("XLK", AS_OF, head(hourly, 10), head(daily, 10))
    assert "sma_20_1h" not in snap.indicators and "rsi_14_1h" not in snap.indicators
    assert "sma_50_1d" not in snap.indicators and "high_20_1d" not in snap.indicators
    assert all(math.isfinite(v) for v in [*snap.indicators.values(), *snap.normalized.values()])
    assert snap.price == float(hourly.close[-1])
    FeatureSnapshot.model_validate_json(snap.model_dump_json())


def test_no_daily_bars_still_gives_an_hourly_snapshot(history: LocalHistory) -> None:
    hourly, daily = bars(history, "XLK", AS_OF)
    snap = build_snapshot("XLK", AS_OF, hourly, head(daily, 0))
    assert {"rsi_14_1h", "sma_20_1h", "atr_14_1h"} <= set(snap.indicators)
    assert not any(k.endswith("_1d") for k in snap.indicators)
    assert snap.regime.regime is RegimeLabel.UNKNOWN
    assert snap.candles_by_timeframe[Timeframe.D1] == []


def test_no_hourly_bars_is_refused_naming_the_symbol(history: LocalHistory) -> None:
    hourly, daily = bars(history, "ADBE", AS_OF)
    with pytest.raises(ValueError, match="no hourly bars for ADBE"):
        build_snapshot("ADBE", AS_OF, head(hourly, 0), daily)


def test_same_bars_give_the_same_snapshot(history: LocalHistory) -> None:
    assert snapshot(history, "COST") == snapshot(history, "COST")
    assert snapshot(history, "COST").model_dump_json() == snapshot(history, "COST").model_dump_json()
