"""Rule-based analysts and researchers: what each reads from the snapshot and how it scores it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from agent_builders import AS_OF, INDICATORS, fundamentals, news, real_snapshots, regime, snapshot, technical

from cream.agents.rules.analysts import (
    fundamentals_analyst,
    invalidation_levels,
    news_analyst,
    technical_analyst,
)
from cream.agents.rules.researchers import bearish_researcher, bullish_researcher
from cream.schemas.agents import Setup, Trend
from cream.schemas.market import RegimeLabel


def event(kind: str = "NEWS", sentiment: float = 0.0, importance: float = 0.5, symbol: str | None = "XYZ",
          event_id: str = "e1") -> dict[str, Any]:
    return dict(event_id=event_id, kind=kind, ts=AS_OF - timedelta(hours=1), headline=f"{kind} headline",
                symbol=symbol, sentiment=sentiment, importance=importance)


# --- technical analyst ---------------------------------------------------------------------------


@pytest.mark.parametrize("support, expected_long", [(94.0, 95.0), (97.0, 96.5), (99.5, 98.5)])
def test_long_invalidation_sits_below_support_within_atr_bounds(support: float, expected_long: float) -> None:
    # price 100, ATR 2: a quarter ATR below support, but between 0.75 and 2.5 ATR below price.
    assert invalidation_levels(100.0, 2.0, support, 104.0)[0] == expected_long


@pytest.mark.parametrize("resistance, expected_short", [(106.0, 105.0), (103.0, 103.5), (100.5, 101.5)])
def test_short_invalidation_sits_above_resistance_within_atr_bounds(resistance: float, expected_short: float) -> None:
    assert invalidation_levels(100.0, 2.0, 96.0, resistance)[1] == expected_short


def test_up_trend_scores_bullish_with_stops_around_the_range() -> None:
    t = technical_analyst(snapshot("XYZ", 100.0))  # SMA20 98 > SMA50 95, price above both
    assert t.trend is Trend.UP and t.technical_score > 0
    assert (t.key_levels.support, t.key_levels.resistance) == (94.0, 104.0)
    assert (t.invalidation_long, t.invalidation_short) == (95.0, 104.5)


def test_down_trend_scores_bearish() -> None:
    t = technical_analyst(snapshot("XYZ", 100.0, indicators=INDICATORS | {"sma_20_1d": 102.0, "sma_50_1d": 105.0,
                                                                         "rsi_14_1h": 40.0, "rsi_14_1d": 35.0}))
    assert t.trend is Trend.DOWN and t.technical_score < 0 and t.momentum_score < 0


def test_price_at_the_20_day_high_in_an_up_trend_is_a_breakout() -> None:
    assert technical_analyst(snapshot("XYZ", 104.0)).setup is Setup.BREAKOUT


def test_bull_regime_adds_to_the_score() -> None:
    plain = technical_analyst(snapshot("XYZ")).technical_score
    bull = technical_analyst(snapshot("XYZ", label=RegimeLabel.BULL_TREND, confidence=0.8)).technical_score
    assert bull > plain


def test_high_atr_percentile_is_high_volatility() -> None:
    snap = snapshot("XYZ").model_copy(update={"regime": regime(atr_percentile=90.0)})
    assert technical_analyst(snap).volatility == "HIGH"


def test_missing_history_gives_no_setup_and_says_what_is_missing() -> None:
    t = technical_analyst(snapshot("XYZ", indicators={"atr_14_1d": 2.0, "rsi_14_1h": 50.0}))
    assert (t.setup, t.trend, t.technical_score) == (Setup.NO_SETUP, Trend.SIDEWAYS, 0.0)
    assert "sma_20_1d" in t.summary and "rsi_14_1d" in t.summary
    assert t.invalidation_long < 100.0 < t.invalidation_short


@pytest.mark.parametrize("symbol", ["ADBE", "COST", "MA", "XLK"])
def test_real_sample_invalidation_levels_bracket_the_price(symbol: str) -> None:
    snap = real_snapshots()[symbol]
    t = technical_analyst(snap)
    atr, price = snap.indicators["atr_14_1d"], snap.price
    assert price - 2.5 * atr - 1e-3 <= t.invalidation_long <= price - 0.75 * atr + 1e-3
    assert price + 0.75 * atr - 1e-3 <= t.invalidation_short <= price + 2.5 * atr + 1e-3
    assert t.key_levels.support <= price <= t.key_levels.resistance


# --- news and fundamentals -----------------------------------------------------------------------


def test_no_events_is_neutral_without_event_risk() -> None:
    n = news_analyst(snapshot("XYZ"))
    assert (n.overall_sentiment, n.sentiment_strength, n.event_risk, n.event_impacts) == (0.0, 0.0, False, [])


def test_sentiment_is_importance_weighted_and_each_event_is_rated() -> None:
    n = news_analyst(snapshot("XYZ", events=[event(sentiment=0.6, importance=1.0, event_id="a"),
                                             event(sentiment=-0.3, importance=0.5, event_id="b")]))
    assert n.overall_sentiment == pytest.approx(0.3)
    assert [(i.event_id, i.impact) for i in n.event_impacts] == [("a", "POSITIVE"), ("b", "NEGATIVE")]
    assert n.event_impacts[1].magnitude == pytest.approx(0.15)


@pytest.mark.parametrize("kind, importance, risky", [("EARNINGS", 0.8, True), ("MACRO", 0.7, True),
                                                     ("EARNINGS", 0.5, False), ("NEWS", 0.95, False)])
def test_important_scheduled_events_are_event_risk(kind: str, importance: float, risky: bool) -> None:
    assert news_analyst(snapshot("XYZ", events=[event(kind, importance=importance)])).event_risk is risky


def test_events_of_other_symbols_are_ignored_market_wide_ones_kept() -> None:
    n = news_analyst(snapshot("XYZ", events=[event(sentiment=-0.9, importance=1.0, symbol="ABC", event_id="x"),
                                             event("MACRO", sentiment=0.5, importance=1.0, symbol=None)]))
    assert [i.event_id for i in n.event_impacts] == ["e1"]
    assert n.event_risk and n.overall_sentiment == pytest.approx(0.5)


@pytest.mark.parametrize("label, macro", [(RegimeLabel.HIGH_VOL, "ELEVATED"), (RegimeLabel.BULL_TREND, "LOW")])
def test_high_volatility_regime_is_elevated_macro_risk(label: RegimeLabel, macro: str) -> None:
    assert fundamentals_analyst(snapshot("XYZ", label=label)).macro_risk == macro


@pytest.mark.parametrize("valuation, score", [("UNDERVALUED", 0.5), ("OVERVALUED", -0.5), (None, 0.0)])
def test_valuation_from_metadata_sets_the_score(valuation: str | None, score: float) -> None:
    f = fundamentals_analyst(snapshot("XYZ", metadata={"valuation": valuation} if valuation else {}))
    assert f.fundamental_score == score
    assert f.valuation == (valuation or "UNKNOWN")


# --- researchers ---------------------------------------------------------------------------------


def inputs(score: float = 0.0, trend: Trend = Trend.SIDEWAYS, setup: Setup = Setup.NO_SETUP,
           event_risk: bool = False, macro: str = "LOW", fund: float = 0.0) -> dict[str, dict[str, Any]]:
    return {"technical_analyst": technical(score=score, trend=trend, setup=setup).model_dump(mode="json"),
            "news_analyst": news(event_risk=event_risk).model_dump(mode="json"),
            "fundamentals_analyst": fundamentals(macro_risk=macro, score=fund).model_dump(mode="json")}


def delta(a: dict[str, dict[str, Any]]) -> float:
    return bullish_researcher("XYZ", a).conviction - bearish_researcher("XYZ", a).conviction


def test_neutral_analyses_give_no_edge() -> None:
    assert delta(inputs()) == 0.0


def test_strong_up_trend_breakout_makes_the_bull_case_win_by_the_action_threshold() -> None:
    a = inputs(score=0.8, trend=Trend.UP, setup=Setup.BREAKOUT, fund=0.5)
    assert delta(a) > 0.3
    assert "BREAKOUT setup in the direction of the trend" in bullish_researcher("XYZ", a).supporting_points


def test_mirrored_analyses_give_mirrored_convictions() -> None:
    up = inputs(score=0.6, trend=Trend.UP, setup=Setup.PULLBACK, fund=0.5)
    down = inputs(score=-0.6, trend=Trend.DOWN, setup=Setup.PULLBACK, fund=-0.5)
    assert bullish_researcher("XYZ", up).conviction == bearish_researcher("XYZ", down).conviction
    assert delta(up) == -delta(down)


def test_event_and_macro_risk_lower_both_convictions_and_are_named() -> None:
    calm = inputs(score=0.5, trend=Trend.UP)
    risky = inputs(score=0.5, trend=Trend.UP, event_risk=True, macro="HIGH")
    bull = bullish_researcher("XYZ", risky)
    assert bull.conviction < bullish_researcher("XYZ", calm).conviction
    assert bearish_researcher("XYZ", risky).conviction < bearish_researcher("XYZ", calm).conviction
    assert {"event risk in the next hours", "macro risk HIGH"} <= set(bull.counterarguments)


def test_conviction_stays_in_unit_interval_and_thesis_names_the_invalidation() -> None:
    a = inputs(score=1.0, trend=Trend.UP, setup=Setup.BREAKOUT, fund=1.0)
    bull, bear = bullish_researcher("XYZ", a), bearish_researcher("XYZ", inputs(event_risk=True, macro="HIGH"))
    assert 0.0 <= bear.conviction <= bull.conviction <= 1.0
    assert "invalidated below 95.00" in bull.thesis
