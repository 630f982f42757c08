"""Inputs for the rule-based agent tests, built with the real pydantic models (imported by the tests here)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from cream.adapters.local_history import LocalHistory
from cream.agents.port import AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.features import build_snapshot
from cream.schemas.agents import (
    ANALYSTS,
    RESEARCHERS,
    BearishResearchOutput,
    BullishResearchOutput,
    FundamentalsAnalysisOutput,
    KeyLevels,
    SentimentAnalysisOutput,
    Setup,
    TechnicalAnalysisOutput,
    Trend,
)
from cream.schemas.config import TradingRules
from cream.schemas.decisions import (
    Decision,
    DecisionPlan,
    Environment,
    OrderPlan,
    References,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import Equity
from cream.schemas.market import FeatureSnapshot, RegimeClassification, RegimeLabel, RegimeMetrics, Timeframe
from cream.schemas.portfolio import PortfolioView, PositionView
from cream.services.runtime_config import default_trading_config

AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)
CYCLE = "backtest-default-20250602T1500Z"
# The product defaults of trading_config.
RULES = default_trading_config(Environment.BACKTEST).rules
INDICATORS = {"sma_20_1d": 98.0, "sma_50_1d": 95.0, "rsi_14_1h": 55.0, "rsi_14_1d": 58.0, "atr_14_1d": 2.0,
              "high_20_1d": 104.0, "low_20_1d": 94.0}


def regime(label: RegimeLabel = RegimeLabel.UNKNOWN, confidence: float = 0.0,
           atr_percentile: float = 50.0) -> RegimeClassification:
    return RegimeClassification(regime=label, confidence=confidence, reasoning="hand-made",
                                metrics=RegimeMetrics(fast_ma=100, slow_ma=100, ma_diff=0, ma_diff_pct=0,
                                                      current_atr=2, atr_percentile=atr_percentile))


def snapshot(symbol: str = "XYZ", price: float = 100.0, *, indicators: dict[str, float] | None = None,
             events: list[dict[str, Any]] | None = None, label: RegimeLabel = RegimeLabel.UNKNOWN,
             confidence: float = 0.0, metadata: dict[str, Any] | None = None) -> FeatureSnapshot:
    return FeatureSnapshot(symbol=symbol, as_of=AS_OF, price=price,
                           indicators=INDICATORS if indicators is None else indicators,
                           regime=regime(label, confidence), external_events=events or [],
                           metadata=metadata or {})


def technical(symbol: str = "XYZ", *, inv_long: float = 95.0, inv_short: float = 105.0, score: float = 0.0,
              trend: Trend = Trend.SIDEWAYS, setup: Setup = Setup.NO_SETUP) -> TechnicalAnalysisOutput:
    return TechnicalAnalysisOutput(
        symbol=symbol, setup=setup, trend=trend,
        key_levels=KeyLevels(support=min(inv_long, inv_short), resistance=max(inv_long, inv_short)),
        invalidation_long=inv_long, invalidation_short=inv_short, momentum_score=0.0, volatility="NORMAL",
        technical_score=score, summary="hand-made")


def news(symbol: str = "XYZ", *, event_risk: bool = False, sentiment: float = 0.0,
         strength: float = 0.0) -> SentimentAnalysisOutput:
    return SentimentAnalysisOutput(symbol=symbol, overall_sentiment=sentiment, sentiment_strength=strength,
                                   event_risk=event_risk, summary="hand-made")


def fundamentals(symbol: str = "XYZ", *, macro_risk: str = "LOW", score: float = 0.0,
                 valuation: str = "FAIR") -> FundamentalsAnalysisOutput:
    return FundamentalsAnalysisOutput(symbol=symbol, valuation=valuation, macro_risk=macro_risk,
                                      fundamental_score=score, summary="hand-made")


def analyses(symbol: str = "XYZ", *, bull: float, bear: float, inv_long: float = 95.0, inv_short: float = 105.0,
             event_risk: bool = False, macro_risk: str = "LOW") -> dict[str, dict[str, Any]]:
    """All five per-symbol outputs, as the JSON the agents return."""
    outputs = {
        "technical_analyst": technical(symbol, inv_long=inv_long, inv_short=inv_short),
        "news_analyst": news(symbol, event_risk=event_risk),
        "fundamentals_analyst": fundamentals(symbol, macro_risk=macro_risk),
        "bullish_researcher": BullishResearchOutput(symbol=symbol, thesis="long case", conviction=bull),
        "bearish_researcher": BearishResearchOutput(symbol=symbol, thesis="short case", conviction=bear),
    }
    return {k: v.model_dump(mode="json") for k, v in outputs.items()}


def position(symbol: str, quantity: int, entry: float, price: float, *, stop: float | None = None,
             target: float | None = None) -> PositionView:
    return PositionView(instrument_id=symbol, quantity=quantity, avg_entry_price=entry, market_price=price,
                        stop_loss=stop, take_profit=target)


def portfolio(*positions: PositionView, equity: float = 100_000.0) -> PortfolioView:
    values = [p.quantity * p.market_price * p.multiplier for p in positions]
    gross = sum(abs(v) for v in values)
    return PortfolioView(cash=equity - sum(values), equity=equity, gross_exposure=gross, net_exposure=sum(values),
                         positions={p.instrument_id: p for p in positions}, buying_power=2 * equity - gross)


def context(snapshots: list[FeatureSnapshot] | dict[str, FeatureSnapshot],
            analyses_by_symbol: dict[str, dict[str, dict[str, Any]]] | None = None, *,
            book: PortfolioView | None = None, rules: TradingRules = RULES, plan: DecisionPlan | None = None,
            symbol: str | None = None, **extra: Any) -> AgentContext:
    snaps = snapshots if isinstance(snapshots, dict) else {s.symbol: s for s in snapshots}
    return AgentContext(cycle_id=CYCLE, environment=Environment.BACKTEST, as_of=AS_OF, symbol=symbol,
                        snapshots=snaps, analyses=analyses_by_symbol or {}, portfolio=book or portfolio(),
                        rules=rules, plan=plan, **extra)


def decision(symbol: str = "XYZ", *, action: str = "BUY", direction: str = "LONG", qty: int = 50,
             stop: float = 95.0, target: float = 110.0, limit: float | None = None,
             used: tuple[str, ...] = ("sma_20_1d", "atr_14_1d")) -> Decision:
    order = OrderPlan(entry_order_type="LIMIT", entry_limit_price=limit) if limit else OrderPlan()
    return Decision(instrument=Equity(symbol=symbol), action=action, direction=direction,
                    size=Size(quantity=qty, unit=SizeUnit.SHARES), order_plan=order,
                    risk_levels=RiskLevels(stop_loss_level=stop, take_profit_level=target),
                    strategy_family="TREND", rationale="hand-made", confidence=0.6,
                    references=References(used_indicators=list(used)))


def plan(*decisions: Decision) -> DecisionPlan:
    return DecisionPlan(cycle_id=CYCLE, as_of_timestamp=AS_OF, environment=Environment.BACKTEST,
                        decisions=list(decisions))


@cache
def _real_snapshots(as_of: datetime) -> tuple[FeatureSnapshot, ...]:
    history = LocalHistory()
    return tuple(build_snapshot(s, as_of, history.bars(s, Timeframe.H1, as_of, 200),
                                history.bars(s, Timeframe.D1, as_of, 200)) for s in history.symbols())


def real_snapshots(as_of: datetime = AS_OF) -> dict[str, FeatureSnapshot]:
    """Snapshots of the bundled sample (ADBE, COST, MA, XLK) at ``as_of``."""
    return {s.symbol: s for s in _real_snapshots(as_of)}


def real_analyses(snapshots: dict[str, FeatureSnapshot],
                  book: PortfolioView | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Run the three analysts then the two researchers on every symbol, as a cycle does."""
    agents, out = RuleBasedAgents(), {}
    for symbol in snapshots:
        out[symbol] = {}
        for group in (ANALYSTS, RESEARCHERS):
            for agent in group:
                out[symbol][agent.value] = agents.run(agent, context(snapshots, out, book=book, symbol=symbol))
    return out
