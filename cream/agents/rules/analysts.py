"""The three analysts, as rules over the feature snapshot."""

from __future__ import annotations

from cream.schemas.agents import (
    EventImpact,
    FundamentalsAnalysisOutput,
    KeyLevels,
    SentimentAnalysisOutput,
    Setup,
    TechnicalAnalysisOutput,
    Trend,
)
from cream.schemas.market import EventKind, FeatureSnapshot, RegimeLabel

# Stops sit at the technical invalidation level: just beyond support/resistance, but never closer
# than STOP_MIN_ATR (noise) nor further than STOP_MAX_ATR (a thesis that needs more room is no setup).
STOP_BUFFER_ATR, STOP_MIN_ATR, STOP_MAX_ATR = 0.25, 0.75, 2.5
REGIME_SIGN = {RegimeLabel.BULL_TREND: 1.0, RegimeLabel.BEAR_TREND: -1.0}


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def invalidation_levels(price: float, atr: float, support: float, resistance: float) -> tuple[float, float]:
    """(long invalidation, short invalidation) around ``price``."""
    long_stop = min(max(support - STOP_BUFFER_ATR * atr, price - STOP_MAX_ATR * atr), price - STOP_MIN_ATR * atr)
    short_stop = max(min(resistance + STOP_BUFFER_ATR * atr, price + STOP_MAX_ATR * atr), price + STOP_MIN_ATR * atr)
    return round(long_stop, 4), round(short_stop, 4)


def technical_analyst(s: FeatureSnapshot) -> TechnicalAnalysisOutput:
    ind, price = s.indicators, s.price
    atr = ind.get("atr_14_1d") or ind.get("atr_14_1h") or price * 0.02
    support = min(ind.get("low_20_1d", price - atr), price)
    resistance = max(ind.get("high_20_1d", price + atr), price)
    long_stop, short_stop = invalidation_levels(price, atr, support, resistance)
    needed = ("sma_20_1d", "sma_50_1d", "rsi_14_1h", "rsi_14_1d")
    if any(k not in ind for k in needed):
        missing = ", ".join(k for k in needed if k not in ind)
        return TechnicalAnalysisOutput(
            symbol=s.symbol, setup=Setup.NO_SETUP, trend=Trend.SIDEWAYS,
            key_levels=KeyLevels(support=support, resistance=resistance),
            invalidation_long=long_stop, invalidation_short=short_stop, momentum_score=0.0,
            volatility="NORMAL", technical_score=0.0,
            summary=f"{s.symbol}: not enough history for {missing}; no setup.")
    sma20, sma50, rsi_h, rsi_d = ind["sma_20_1d"], ind["sma_50_1d"], ind["rsi_14_1h"], ind["rsi_14_1d"]
    trend = (Trend.UP if sma20 > sma50 and price > sma20 else
             Trend.DOWN if sma20 < sma50 and price < sma20 else Trend.SIDEWAYS)
    trend_sign = {Trend.UP: 1.0, Trend.DOWN: -1.0, Trend.SIDEWAYS: 0.0}[trend]
    momentum = _clip(0.5 * (rsi_h - 50) / 25 + 0.5 * (rsi_d - 50) / 25)
    atr_pct = s.regime.metrics.atr_percentile
    volatility = "HIGH" if atr_pct >= 80 else "LOW" if atr_pct <= 20 else "NORMAL"
    setup = _setup(trend, price, support, resistance, rsi_h, rsi_d, sma50, s.regime.regime)
    regime_term = REGIME_SIGN.get(s.regime.regime, 0.0) * s.regime.confidence
    score = _clip(0.4 * trend_sign + 0.3 * momentum + 0.3 * regime_term)
    return TechnicalAnalysisOutput(
        symbol=s.symbol, setup=setup, trend=trend, key_levels=KeyLevels(support=support, resistance=resistance),
        invalidation_long=long_stop, invalidation_short=short_stop, momentum_score=round(momentum, 4),
        volatility=volatility, technical_score=round(score, 4),
        summary=(f"{s.symbol} {trend.value} trend (SMA20 {sma20:.2f} vs SMA50 {sma50:.2f}), RSI 1h {rsi_h:.1f} / "
                 f"1d {rsi_d:.1f}, regime {s.regime.regime.value}; setup {setup.value}; support {support:.2f}, "
                 f"resistance {resistance:.2f}."))


def _setup(trend: Trend, price: float, support: float, resistance: float, rsi_h: float, rsi_d: float,
           sma50: float, regime: RegimeLabel) -> Setup:
    if trend is Trend.UP and price >= resistance * 0.995:
        return Setup.BREAKOUT
    if trend is Trend.DOWN and price <= support * 1.005:
        return Setup.BREAKOUT
    if trend is Trend.UP and rsi_h < 45 and price > sma50:
        return Setup.PULLBACK
    if trend is Trend.DOWN and rsi_h > 55 and price < sma50:
        return Setup.PULLBACK
    if rsi_d < 30 or rsi_d > 70:
        return Setup.REVERSAL
    if regime in (RegimeLabel.RANGE_BOUND, RegimeLabel.LOW_VOL):
        return Setup.RANGE
    return Setup.NO_SETUP


def news_analyst(s: FeatureSnapshot) -> SentimentAnalysisOutput:
    events = [e for e in s.external_events if e.symbol in (None, s.symbol)]
    if not events:
        return SentimentAnalysisOutput(
            symbol=s.symbol, overall_sentiment=0.0, sentiment_strength=0.0, event_impacts=[], event_risk=False,
            summary=f"No news or events for {s.symbol} in the snapshot: sentiment neutral.")
    weight = sum(e.importance for e in events) or 1.0
    sentiment = _clip(sum(e.sentiment * e.importance for e in events) / weight)
    impacts = [EventImpact(event_id=e.event_id, headline=e.headline,
                           impact="POSITIVE" if e.sentiment > 0.1 else "NEGATIVE" if e.sentiment < -0.1 else "NEUTRAL",
                           magnitude=round(abs(e.sentiment) * e.importance, 4)) for e in events]
    risky = any(e.kind in (EventKind.EARNINGS, EventKind.MACRO) and e.importance >= 0.7 for e in events)
    return SentimentAnalysisOutput(
        symbol=s.symbol, overall_sentiment=round(sentiment, 4),
        sentiment_strength=round(min(1.0, weight / len(events)), 4), event_impacts=impacts, event_risk=risky,
        summary=f"{len(events)} event(s) for {s.symbol}, weighted sentiment {sentiment:+.2f}"
                + ("; high-importance scheduled event ahead." if risky else "."))


def fundamentals_analyst(s: FeatureSnapshot) -> FundamentalsAnalysisOutput:
    macro = "ELEVATED" if s.regime.regime is RegimeLabel.HIGH_VOL else "LOW"
    valuation = s.metadata.get("valuation", "UNKNOWN")
    score = {"UNDERVALUED": 0.5, "OVERVALUED": -0.5}.get(valuation, 0.0)
    return FundamentalsAnalysisOutput(
        symbol=s.symbol, valuation=valuation, macro_risk=macro, prediction_market_signal=None,
        fundamental_score=score,
        summary=(f"{s.symbol}: valuation {valuation} (no fundamentals in the snapshot), macro risk {macro} "
                 f"from regime {s.regime.regime.value}; no prediction-market signal."))
