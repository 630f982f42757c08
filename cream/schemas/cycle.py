"""A cycle's phases, its outcomes, and the typed checkpoint each phase records.

Every phase hands the next one a checkpoint (stored as JSON in ``checkpoints.data``). Each is a pydantic
model here, so a checkpoint with a missing or mistyped field is refused where it is written or read,
with the phase and the field, not three phases later as a ``KeyError``. Fields added after the first
release have defaults, so every checkpoint stored since still loads.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cream.schemas.config import TradingRules
from cream.schemas.market import FeatureSnapshot, OptionMark
from cream.schemas.portfolio import PortfolioView


class Phase(StrEnum):
    OBSERVE = "observe"
    ORIENT = "orient"
    ANALYSTS = "analysts"
    RESEARCH = "research"
    TRADER = "trader"
    APPROVAL = "approval"
    GATE = "gate"
    ACT = "act"
    RISK_CHECK = "risk_check"  # the engine's last word on the approved plan: every check, its status
    RESUME = "resume"  # a marker: the cycle was re-dispatched from its last checkpoint


class CycleStatus(StrEnum):
    RUNNING = "RUNNING"
    EXECUTED = "EXECUTED"
    NO_TRADE = "NO_TRADE"
    FAILED = "FAILED"


TERMINAL = frozenset({CycleStatus.EXECUTED, CycleStatus.NO_TRADE, CycleStatus.FAILED})


class GateOutcome(StrEnum):
    APPROVED = "APPROVED"
    REVISE = "REVISE"
    NO_TRADE = "NO_TRADE"


class CheckpointData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Observed(CheckpointData):
    """Prices and the book at the cycle's hour, as every later phase sees them."""

    as_of: datetime
    prices: dict[str, float]
    portfolio: PortfolioView
    option_marks: dict[str, OptionMark] = Field(default_factory=dict)
    bracket_exits: list[str] = Field(default_factory=list)  # the simulated broker's stop/target fills
    expiries: list[str] = Field(default_factory=list)  # BACKTEST: options expired, exercised or assigned
    broker_changes: list[str] = Field(default_factory=list)  # PAPER/LIVE: the book brought to the account
    reconciliation: dict[str, Any] = Field(default_factory=dict)  # PAPER/LIVE: orders, exits, protection
    # The ACTIVE rules when the cycle observed: every agent of the cycle reasons with the same ones, read
    # here with the checkpoint (None in checkpoints recorded before they were kept: read when needed).
    rules: TradingRules | None = None


class Oriented(CheckpointData):
    snapshots: dict[str, FeatureSnapshot]


class Joined(CheckpointData):
    """A group of agents all recorded: ``agent/symbol`` -> OK | ERROR."""

    outputs: dict[str, str]


class Planned(CheckpointData):
    """The trader recorded plan ``iteration`` (the checkpoint's iteration)."""

    agent: str
    symbol: str
    status: str


class Gated(CheckpointData):
    outcome: GateOutcome
    iteration: int
    reason: str | None
    verdicts: dict[str, str]


class RiskChecked(CheckpointData):
    """The engine's last word on the approved plan: every check it evaluated, PASS ones included."""

    approved: bool
    checks: list[dict[str, Any]]


class Acted(CheckpointData):
    status: CycleStatus
    reason: str | None
    orders: list[str]
    book_lock: dict[str, str] = Field(default_factory=dict)  # asked_at, held_from, held_until (wall clock)
    working: list[str] = Field(default_factory=list)  # parents worked as child orders over the next bars


class Resumed(CheckpointData):
    after: Phase | None


CHECKPOINTS: dict[Phase, type[CheckpointData]] = {
    Phase.OBSERVE: Observed, Phase.ORIENT: Oriented, Phase.ANALYSTS: Joined, Phase.RESEARCH: Joined,
    Phase.TRADER: Planned, Phase.GATE: Gated, Phase.RISK_CHECK: RiskChecked, Phase.ACT: Acted,
    Phase.RESUME: Resumed,
}
