"""The agent port: one call per agent, raw JSON out; the caller validates it against the schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from cream.schemas.agents import AgentType, Objection
from cream.schemas.decisions import DecisionPlan, Environment
from cream.schemas.instruments import Frozen
from cream.schemas.market import FeatureSnapshot, OptionMark


class PositionView(Frozen):
    instrument_id: str
    quantity: int
    avg_entry_price: float
    multiplier: int = 1
    stop_loss: float | None = None
    take_profit: float | None = None
    market_price: float
    opened_at: datetime | None = None


class WorkingOrderView(Frozen):
    """What open entry orders of one instrument may still add to its position (resting limits, a tactic's
    children not yet sent or filled): exposure the risk check counts as if it were held."""

    instrument_id: str
    quantity: int = Field(description="Signed: positive buys still to fill, negative short sales.")
    multiplier: int = 1
    price: float | None = Field(default=None, description="The limit, else the price the order was sized at.")


class PortfolioView(Frozen):
    cash: float
    equity: float
    gross_exposure: float
    net_exposure: float
    positions: dict[str, PositionView] = Field(default_factory=dict)
    buying_power: float = 0.0  # what the broker lets the account add; 0 blocks every entry (fail closed)
    day_trades_5d: int = 0
    working_orders: dict[str, WorkingOrderView] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _without_empty_working_orders(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No working orders, no key: a book without any serialises (checkpoints, prompts, recordings) as
        it did before working orders were counted."""
        data: dict[str, Any] = handler(self)
        if not self.working_orders:
            data.pop("working_orders", None)
        return data


class TradingRules(Frozen):
    """The part of trading_config the agents reason with."""

    conviction_delta_hold: float
    conviction_delta_action: float
    min_risk_reward_ratio: float
    kelly_multiplier: float
    max_units: float
    max_notional: float
    max_pct_equity: float
    max_gross_notional: float
    max_net_notional: float
    max_leverage: float
    max_sector_pct: float
    max_delta_notional: float
    max_gamma: float
    max_vega: float
    min_theta: float
    pdt_min_equity: float
    pdt_max_day_trades: int
    risk_warn_fraction: float


class AgentContext(Frozen):
    """Everything an agent may look at. Symbol agents get one symbol; portfolio agents get all."""

    cycle_id: str
    environment: Environment
    as_of: datetime
    iteration: int = 0
    symbol: str | None = None
    snapshots: dict[str, FeatureSnapshot]
    analyses: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="symbol -> agent type -> that agent's output")
    portfolio: PortfolioView
    rules: TradingRules
    plan: DecisionPlan | None = None
    previous_plan: DecisionPlan | None = None
    objections: list[Objection] = Field(default_factory=list)
    sectors: dict[str, str] = Field(default_factory=dict, description="symbol -> sector (universe_configs)")
    option_marks: dict[str, OptionMark] = Field(default_factory=dict, description="instrument id -> mark")


class AgentBackend(Protocol):
    """Rule-based agents in BACKTEST; Gemini (google-genai) in PAPER and LIVE."""

    implementation: str

    def version(self, agent: AgentType) -> str:
        """What produced this agent's output (prompt template version, or the rules' version)."""
        ...

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        """The agent's output as JSON; may be anything — the caller validates and fails closed."""
        ...
