"""Market data schemas: consistent candles, uncrossed quotes, the feature snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cream.schemas.market import Candle, FeatureSnapshot, Quote, RegimeClassification, RegimeLabel, Timeframe

TS = datetime(2025, 6, 2, 14, tzinfo=UTC)


def candle(**over: Any) -> Candle:
    fields: dict[str, Any] = dict(symbol="ADBE", timeframe="1h", ts=TS, open=400.0, high=402.0, low=399.0,
                                  close=401.0, volume=12_000)
    return Candle(**(fields | over))


def regime(**over: Any) -> RegimeClassification:
    fields: dict[str, Any] = dict(regime="BULL_TREND", confidence=0.7, reasoning="fast MA above slow MA",
                                  metrics=dict(fast_ma=405.0, slow_ma=395.0, ma_diff=10.0, ma_diff_pct=2.5,
                                               current_atr=8.0, atr_percentile=55.0))
    return RegimeClassification.model_validate(fields | over)


def test_consistent_candle_is_accepted_and_timeframe_parsed() -> None:
    c = candle()
    assert c.timeframe is Timeframe.H1
    assert c.close == 401.0


def test_doji_with_all_prices_equal_is_a_valid_bar() -> None:
    assert candle(open=400, high=400, low=400, close=400).high == 400


@pytest.mark.parametrize("over", [
    dict(high=400.5),             # close above high
    dict(high=398.0),             # high below low
    dict(low=400.5),              # open below low
    dict(low=401.5, high=402.0),  # low above open and close
])
def test_candle_whose_high_low_do_not_bound_open_close_is_rejected(over: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="inconsistent bar ADBE"):
        candle(**over)


@pytest.mark.parametrize("over", [dict(open=0), dict(close=-1), dict(volume=-5), dict(timeframe="2h"),
                                  dict(symbol="adbe")])
def test_candle_rejects_impossible_values(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        candle(**over)


def test_quote_with_ask_at_or_above_bid_is_accepted() -> None:
    assert Quote(symbol="ADBE", ts=TS, bid=400.0, ask=400.0, last=400.0).ask == 400.0
    assert Quote(symbol="ADBE", ts=TS, bid=400.0, ask=400.1, last=400.05).bid == 400.0


def test_crossed_quote_is_rejected() -> None:
    with pytest.raises(ValidationError, match="crossed quote for ADBE"):
        Quote(symbol="ADBE", ts=TS, bid=400.2, ask=400.1, last=400.1)


def test_one_sided_quote_is_not_called_crossed() -> None:
    # No bid (0) is a one-sided market, not a crossed one.
    assert Quote(symbol="ADBE", ts=TS, bid=0, ask=1.05, last=1.0).ask == 1.05


def test_regime_confidence_and_percentile_are_bounded() -> None:
    assert regime().regime is RegimeLabel.BULL_TREND
    with pytest.raises(ValidationError):
        regime(confidence=1.2)
    with pytest.raises(ValidationError):
        regime(metrics=dict(fast_ma=1, slow_ma=1, ma_diff=0, ma_diff_pct=0, current_atr=1, atr_percentile=101))
    with pytest.raises(ValidationError):
        regime(regime="SIDEWAYS")


def test_feature_snapshot_round_trips_through_json() -> None:
    snap = FeatureSnapshot(symbol="ADBE", as_of=TS, price=401.0, candles_by_timeframe={Timeframe.H1: [candle()]},
                           indicators={"rsi_14_1h": 55.2}, regime=regime())
    back = FeatureSnapshot.model_validate_json(snap.model_dump_json())
    assert back == snap
    assert back.candles_by_timeframe[Timeframe.H1][0].close == 401.0


@pytest.mark.parametrize("over", [dict(price=0), dict(symbol="ad be"), dict(extra_field=1),
                                  dict(candles_by_timeframe={"4h": []})])
def test_feature_snapshot_rejects_bad_input(over: dict[str, Any]) -> None:
    fields: dict[str, Any] = dict(symbol="ADBE", as_of=TS, price=401.0, regime=regime())
    with pytest.raises(ValidationError):
        FeatureSnapshot(**(fields | over))
