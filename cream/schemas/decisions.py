"""DecisionPlan and Decision, exactly as the seeds define them (decision.proto / README)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from cream.schemas.instruments import Frozen, Instrument


class Environment(StrEnum):
    BACKTEST = "BACKTEST"
    PAPER = "PAPER"
    LIVE = "LIVE"


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"
    INCREASE = "INCREASE"
    REDUCE = "REDUCE"
    NO_TRADE = "NO_TRADE"


ORDER_ACTIONS = frozenset({Action.BUY, Action.SELL, Action.INCREASE, Action.REDUCE})


class Direction(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class SizeUnit(StrEnum):
    SHARES = "SHARES"
    CONTRACTS = "CONTRACTS"


class Size(Frozen):
    quantity: int = Field(ge=0)
    unit: SizeUnit


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class ExecutionTactic(StrEnum):
    PASSIVE_LIMIT = "PASSIVE_LIMIT"
    TWAP = "TWAP"
    VWAP = "VWAP"
    ICEBERG = "ICEBERG"


class OrderPlan(Frozen):
    entry_order_type: OrderType = OrderType.MARKET
    entry_limit_price: float | None = Field(default=None, gt=0)
    time_in_force: TimeInForce = TimeInForce.DAY
    execution_tactic: ExecutionTactic | None = None

    @model_validator(mode="after")
    def _limit_has_price(self) -> OrderPlan:
        if self.entry_order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.entry_limit_price is None:
            raise ValueError(f"a {self.entry_order_type} entry needs entry_limit_price")
        return self


class RiskDenomination(StrEnum):
    UNDERLYING_PRICE = "UNDERLYING_PRICE"
    OPTION_PRICE = "OPTION_PRICE"


class RiskLevels(Frozen):
    """Mandatory on every decision: a plan without both levels never reaches the broker."""

    stop_loss_level: float = Field(gt=0)
    take_profit_level: float = Field(gt=0)
    denomination: RiskDenomination = RiskDenomination.UNDERLYING_PRICE


class StrategyFamily(StrEnum):
    TREND = "TREND"
    MEAN_REVERSION = "MEAN_REVERSION"
    EVENT_DRIVEN = "EVENT_DRIVEN"
    VOLATILITY = "VOLATILITY"


class References(Frozen):
    used_indicators: list[str] = Field(default_factory=list)
    memory_case_ids: list[str] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list)


class Decision(Frozen):
    instrument: Instrument
    action: Action
    direction: Direction
    size: Size
    order_plan: OrderPlan = Field(default_factory=OrderPlan)
    risk_levels: RiskLevels
    strategy_family: StrategyFamily
    rationale: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    references: References = Field(default_factory=References)

    @model_validator(mode="after")
    def _coherent(self) -> Decision:
        stop, target = self.risk_levels.stop_loss_level, self.risk_levels.take_profit_level
        if self.direction is Direction.LONG and not stop < target:
            raise ValueError("a LONG decision needs stop_loss_level below take_profit_level")
        if self.direction is Direction.SHORT and not stop > target:
            raise ValueError("a SHORT decision needs stop_loss_level above take_profit_level")
        if self.action in ORDER_ACTIONS and self.size.quantity == 0:
            raise ValueError(f"a {self.action} decision needs a positive size")
        expected = SizeUnit.SHARES if self.instrument.type == "EQUITY" else SizeUnit.CONTRACTS
        if self.size.unit is not expected:
            raise ValueError(f"{self.instrument.type} is sized in {expected}, not {self.size.unit}")
        return self

    @property
    def instrument_id(self) -> str:
        return self.instrument.instrument_id


class DecisionPlan(Frozen):
    cycle_id: str = Field(min_length=1)
    as_of_timestamp: datetime
    environment: Environment
    decisions: list[Decision] = Field(default_factory=list)
    portfolio_notes: str | None = None

    @model_validator(mode="after")
    def _one_decision_per_instrument(self) -> DecisionPlan:
        ids = [d.instrument_id for d in self.decisions]
        if len(ids) != len(set(ids)):
            raise ValueError("a plan may hold only one decision per instrument")
        return self

    @property
    def orders_requested(self) -> list[Decision]:
        return [d for d in self.decisions if d.action in ORDER_ACTIONS]


class TraderDraft(Frozen):
    """What a language-model trader answers: the decisions and notes of a plan. The cycle id, the
    environment and the as-of time are facts the system stamps on it (``DecisionPlan``), never
    something a model is asked to repeat."""

    decisions: list[Decision] = Field(default_factory=list)
    portfolio_notes: str | None = None

    def stamp(self, cycle_id: str, as_of: datetime, environment: Environment) -> DecisionPlan:
        return DecisionPlan(cycle_id=cycle_id, as_of_timestamp=as_of, environment=environment,
                            decisions=self.decisions, portfolio_notes=self.portfolio_notes)
