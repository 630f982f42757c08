"""Bullish and bearish researchers: the strongest case each way, with a conviction in [0, 1]."""

from __future__ import annotations

from typing import Any

from cream.errors import InvalidAgentOutput
from cream.schemas.agents import (
    BearishResearchOutput,
    BullishResearchOutput,
    FundamentalsAnalysisOutput,
    SentimentAnalysisOutput,
    Setup,
    TechnicalAnalysisOutput,
    Trend,
)

BASE_CONVICTION = 0.35


def _inputs(analyses: dict[str, dict[str, Any]]) -> tuple[TechnicalAnalysisOutput, SentimentAnalysisOutput,
                                                           FundamentalsAnalysisOutput]:
    missing = [a for a in ("technical_analyst", "news_analyst", "fundamentals_analyst") if a not in analyses]
    if missing:  # an analyst failed: no research rests on part of the evidence (fail closed)
        raise InvalidAgentOutput(f"no valid output from {', '.join(missing)} to research")
    return (TechnicalAnalysisOutput.model_validate(analyses["technical_analyst"]),
            SentimentAnalysisOutput.model_validate(analyses["news_analyst"]),
            FundamentalsAnalysisOutput.model_validate(analyses["fundamentals_analyst"]))


def _conviction(sign: float, t: TechnicalAnalysisOutput, n: SentimentAnalysisOutput,
                f: FundamentalsAnalysisOutput) -> tuple[float, list[str], list[str]]:
    """Conviction for one side (sign +1 long, -1 short) and the points for and against it."""
    tech, sent, fund = sign * t.technical_score, sign * n.overall_sentiment * n.sentiment_strength, \
        sign * f.fundamental_score
    favoured = Trend.UP if sign > 0 else Trend.DOWN
    setup_ok = t.trend is favoured and t.setup in (Setup.BREAKOUT, Setup.PULLBACK)
    c = BASE_CONVICTION + 0.45 * max(tech, 0) + 0.1 * max(sent, 0) + 0.1 * max(fund, 0) + 0.1 * setup_ok
    c -= 0.15 * n.event_risk + 0.1 * (f.macro_risk != "LOW")
    points: list[str] = []
    against: list[str] = []
    (points if tech > 0 else against).append(f"technical score {t.technical_score:+.2f}, trend {t.trend.value}")
    if setup_ok:
        points.append(f"{t.setup.value} setup in the direction of the trend")
    if sent:
        (points if sent > 0 else against).append(f"news sentiment {n.overall_sentiment:+.2f}")
    if fund:
        (points if fund > 0 else against).append(f"valuation {f.valuation}")
    if n.event_risk:
        against.append("event risk in the next hours")
    if f.macro_risk != "LOW":
        against.append(f"macro risk {f.macro_risk}")
    return round(max(0.0, min(1.0, c)), 4), points, against


def bullish_researcher(symbol: str, analyses: dict[str, dict[str, Any]]) -> BullishResearchOutput:
    t, n, f = _inputs(analyses)
    c, points, against = _conviction(1.0, t, n, f)
    return BullishResearchOutput(
        symbol=symbol, conviction=c, supporting_points=points, counterarguments=against,
        thesis=f"Long {symbol}: {'; '.join(points) or 'little supports a long'}; invalidated below "
               f"{t.invalidation_long:.2f}.")


def bearish_researcher(symbol: str, analyses: dict[str, dict[str, Any]]) -> BearishResearchOutput:
    t, n, f = _inputs(analyses)
    c, points, against = _conviction(-1.0, t, n, f)
    return BearishResearchOutput(
        symbol=symbol, conviction=c, supporting_points=points, counterarguments=against,
        thesis=f"Short {symbol}: {'; '.join(points) or 'little supports a short'}; invalidated above "
               f"{t.invalidation_short:.2f}.")
