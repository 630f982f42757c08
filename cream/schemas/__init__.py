"""Domain schemas (pydantic v2): the messages Cream produces and consumes."""

from cream.schemas.agents import (
    ANALYSTS,
    APPROVERS,
    RESEARCHERS,
    AgentType,
    ApprovalVerdict,
    BearishResearchOutput,
    BullishResearchOutput,
    FundamentalsAnalysisOutput,
    Objection,
    SentimentAnalysisOutput,
    Severity,
    TechnicalAnalysisOutput,
    Verdict,
)
from cream.schemas.decisions import (
    Action,
    Decision,
    DecisionPlan,
    Direction,
    Environment,
    OrderPlan,
    OrderType,
    RiskLevels,
    Size,
    SizeUnit,
    StrategyFamily,
)
from cream.schemas.instruments import Equity, Instrument, MultiLeg, OccSymbol, OptionContract, OptionLeg
from cream.schemas.market import Candle, FeatureSnapshot, Quote, RegimeClassification, RegimeLabel, Timeframe
from cream.schemas.orders import OrderPurpose, OrderSide, OrderStatus, PortfolioSnapshot, Position
from cream.schemas.trigger import CycleTrigger

__all__ = [
    "ANALYSTS", "APPROVERS", "RESEARCHERS", "Action", "AgentType", "ApprovalVerdict", "BearishResearchOutput",
    "BullishResearchOutput", "Candle", "CycleTrigger", "Decision", "DecisionPlan", "Direction", "Environment",
    "Equity", "FeatureSnapshot", "FundamentalsAnalysisOutput", "Instrument", "MultiLeg", "Objection", "OccSymbol",
    "OptionContract", "OptionLeg", "OrderPlan", "OrderPurpose", "OrderSide", "OrderStatus", "OrderType",
    "PortfolioSnapshot", "Position", "Quote", "RegimeClassification", "RegimeLabel", "RiskLevels",
    "SentimentAnalysisOutput", "Severity", "Size", "SizeUnit", "StrategyFamily", "TechnicalAnalysisOutput",
    "Timeframe", "Verdict",
]
