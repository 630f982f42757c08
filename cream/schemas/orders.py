"""Orders, fills, positions and portfolio snapshots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from cream.schemas.decisions import ExecutionTactic, OrderType, TimeInForce
from cream.schemas.instruments import Frozen


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # intent written, not yet sent
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"  # ambiguous outcome: must be reconciled with the broker, never resubmitted


class OrderPurpose(StrEnum):
    ENTRY = "ENTRY"  # opens or adds to a position
    EXIT = "EXIT"  # reduces or closes a position on the plan's decision
    STOP_LOSS = "STOP_LOSS"  # bracket leg triggered by the stop level
    TAKE_PROFIT = "TAKE_PROFIT"  # bracket leg triggered by the target level
    PROTECTION = "PROTECTION"  # a held position's stop and target re-placed at the broker as one OCO exit
    EXPIRY = "EXPIRY"  # BACKTEST: an option that expired out of the money, closed at 0
    EXERCISE = "EXERCISE"  # BACKTEST: a long option exercised in the money, and the shares it moved
    ASSIGNMENT = "ASSIGNMENT"  # BACKTEST: a short option assigned in the money, and the shares it moved


class OrderRecord(Frozen):
    client_order_id: str
    cycle_id: str
    decision_id: str | None
    instrument_id: str
    side: OrderSide
    quantity: int = Field(gt=0)
    order_type: OrderType
    purpose: OrderPurpose
    limit_price: float | None = None
    status: OrderStatus
    filled_quantity: int = 0
    avg_fill_price: float | None = None
    fees: float = 0.0
    broker_order_id: str | None = None


class Position(Frozen):
    instrument_id: str
    quantity: int = Field(description="Signed: positive long, negative short.")
    avg_entry_price: float
    multiplier: int = 1
    stop_loss: float | None = None
    take_profit: float | None = None
    market_price: float | None = None

    @property
    def market_value(self) -> float:
        price = self.market_price if self.market_price is not None else self.avg_entry_price
        return self.quantity * price * self.multiplier


class PortfolioSnapshot(Frozen):
    book: str
    ts: datetime
    cash: float
    equity: float
    gross_exposure: float
    net_exposure: float
    positions: list[Position] = Field(default_factory=list)


class OrderRequest(Frozen):
    """What is sent to a broker. ``client_order_id`` is deterministic: the idempotency key."""

    client_order_id: str
    symbol: str
    instrument_id: str
    side: OrderSide
    quantity: int = Field(gt=0)
    multiplier: int = 1
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = Field(default=None, gt=0, description="Trigger price of STOP and STOP_LIMIT orders.")
    stop_loss: float | None = None
    take_profit: float | None = None
    execution_tactic: ExecutionTactic | None = None
    purpose: OrderPurpose = OrderPurpose.ENTRY
    time_in_force: TimeInForce = TimeInForce.DAY  # the plan's; the broker adapter refuses what it cannot honour
    as_of: datetime


class FillReport(Frozen):
    quantity: int = Field(gt=0)
    price: float = Field(gt=0)
    fee: float = Field(ge=0)
    ts: datetime


class OrderUpdate(Frozen):
    """What the broker says about an order now."""

    client_order_id: str
    broker_order_id: str | None = None
    status: OrderStatus
    fills: list[FillReport] = Field(default_factory=list)
    reason: str | None = None
    final: bool = Field(default=False, description="The broker will fill no more of it (a PARTIALLY_FILLED order "
                                                    "canceled or expired); FILLED, CANCELED and REJECTED are final anyway.")

    @property
    def is_final(self) -> bool:
        return self.final or self.status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)
