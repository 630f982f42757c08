"""The structured output of each of the eight agents (the trader's output is the DecisionPlan)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from cream.schemas.instruments import TICKER_PATTERN, Frozen


class AgentType(StrEnum):
    TECHNICAL_ANALYST = "technical_analyst"
    NEWS_ANALYST = "news_analyst"
    FUNDAMENTALS_ANALYST = "fundamentals_analyst"
    BULLISH_RESEARCHER = "bullish_researcher"
    BEARISH_RESEARCHER = "bearish_researcher"
    TRADER = "trader"
    RISK_MANAGER = "risk_manager"
    CRITIC = "critic"


ANALYSTS = (AgentType.TECHNICAL_ANALYST, AgentType.NEWS_ANALYST, AgentType.FUNDAMENTALS_ANALYST)
RESEARCHERS = (AgentType.BULLISH_RESEARCHER, AgentType.BEARISH_RESEARCHER)
APPROVERS = (AgentType.RISK_MANAGER, AgentType.CRITIC)


class Setup(StrEnum):
    BREAKOUT = "BREAKOUT"
    PULLBACK = "PULLBACK"
    REVERSAL = "REVERSAL"
    RANGE = "RANGE"
    NO_SETUP = "NO_SETUP"


class Trend(StrEnum):
    UP = "UP"
    DOWN = "DOWN"
    SIDEWAYS = "SIDEWAYS"


class KeyLevels(Frozen):
    support: float = Field(gt=0)
    resistance: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> KeyLevels:
        if self.support > self.resistance:
            raise ValueError("support must not be above resistance")
        return self


class TechnicalAnalysisOutput(Frozen):
    symbol: str = Field(pattern=TICKER_PATTERN)
    setup: Setup
    trend: Trend
    key_levels: KeyLevels
    invalidation_long: float = Field(gt=0, description="Price below which a long thesis is wrong.")
    invalidation_short: float = Field(gt=0, description="Price above which a short thesis is wrong.")
    momentum_score: float = Field(ge=-1, le=1)
    volatility: Literal["LOW", "NORMAL", "HIGH"]
    technical_score: float = Field(ge=-1, le=1, description="-1 strongly bearish .. +1 strongly bullish.")
    summary: str = Field(min_length=1)


class EventImpact(Frozen):
    event_id: str
    headline: str
    impact: Literal["POSITIVE", "NEGATIVE", "NEUTRAL"]
    magnitude: float = Field(ge=0, le=1)


class SentimentAnalysisOutput(Frozen):
    """The news analyst's output."""

    symbol: str = Field(pattern=TICKER_PATTERN)
    overall_sentiment: float = Field(ge=-1, le=1)
    sentiment_strength: float = Field(ge=0, le=1)
    event_impacts: list[EventImpact] = Field(default_factory=list)
    event_risk: bool = Field(description="A scheduled or breaking event makes the next hours unusually risky.")
    summary: str = Field(min_length=1)


class FundamentalsAnalysisOutput(Frozen):
    symbol: str = Field(pattern=TICKER_PATTERN)
    valuation: Literal["UNDERVALUED", "FAIR", "OVERVALUED", "UNKNOWN"]
    macro_risk: Literal["LOW", "ELEVATED", "HIGH"]
    prediction_market_signal: float | None = Field(default=None, ge=-1, le=1)
    fundamental_score: float = Field(ge=-1, le=1)
    summary: str = Field(min_length=1)


class ResearchOutput(Frozen):
    symbol: str = Field(pattern=TICKER_PATTERN)
    thesis: str = Field(min_length=1)
    conviction: float = Field(ge=0, le=1)
    supporting_points: list[str] = Field(default_factory=list)
    counterarguments: list[str] = Field(default_factory=list)


class BullishResearchOutput(ResearchOutput):
    """The strongest long case for the symbol."""


class BearishResearchOutput(ResearchOutput):
    """The strongest short case for the symbol, with counterarguments to the bull case."""


class Verdict(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    WARNING = "WARNING"


class Objection(Frozen):
    code: str = Field(min_length=1)
    severity: Severity
    message: str = Field(min_length=1)
    instrument_id: str | None = None
    decision_index: int | None = Field(default=None, ge=0)


class ApprovalVerdict(Frozen):
    """The risk manager's or the critic's verdict on one version of the plan."""

    agent: Literal["risk_manager", "critic"]
    verdict: Verdict
    objections: list[Objection] = Field(default_factory=list)
    summary: str = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> ApprovalVerdict:
        critical = [o for o in self.objections if o.severity is Severity.CRITICAL]
        if self.verdict is Verdict.REJECT and not self.objections:
            raise ValueError("a REJECT must state at least one objection")
        if self.verdict is Verdict.APPROVE and critical:
            raise ValueError("an APPROVE cannot carry a critical objection")
        return self
