"""The book as agents and the risk check see it: cash, equity, positions and working entry orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from cream.schemas.decisions import RiskDenomination
from cream.schemas.instruments import Frozen


class PositionView(Frozen):
    instrument_id: str
    quantity: int
    avg_entry_price: float
    multiplier: int = 1
    stop_loss: float | None = None
    take_profit: float | None = None
    levels_on: RiskDenomination = RiskDenomination.UNDERLYING_PRICE  # what the stop and target are levels of
    market_price: float
    opened_at: datetime | None = None

    @model_serializer(mode="wrap")
    def _levels_on_when_not_the_underlying(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Levels of the underlying, no key: a book of them serialises as before options had premium levels."""
        data: dict[str, Any] = handler(self)
        if self.levels_on is RiskDenomination.UNDERLYING_PRICE:
            data.pop("levels_on", None)
        return data


class WorkingOrderView(Frozen):
    """What open entry orders of one instrument may still add to its position (resting limits, a tactic's
    children not yet sent or filled): exposure the risk check counts as if it were held."""

    instrument_id: str
    quantity: int = Field(description="Signed: positive buys still to fill, negative short sales.")
    multiplier: int = 1
    price: float | None = Field(default=None, description=(
        "The limit, else the price the order was sized at, else the last price observed by the cycle."))


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
