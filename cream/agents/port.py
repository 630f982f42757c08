"""The agent port: one call per agent, raw JSON out; the caller validates it against the schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

from cream.schemas.agents import AgentType, Objection
from cream.schemas.config import TradingRules
from cream.schemas.decisions import DecisionPlan, Environment
from cream.schemas.instruments import Frozen
from cream.schemas.market import FeatureSnapshot, OptionMark
from cream.schemas.portfolio import PortfolioView


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


@dataclass(frozen=True, slots=True)
class LlmCall:
    """One model call of one agent run, as the spend ledger records it (a replayed call costs nothing)."""

    cycle_id: str
    agent: str
    symbol: str  # "*" for a portfolio agent
    iteration: int
    request_hash: str
    model: str
    prompt_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    attempts: int
    replayed: bool


class SpendLedger(Protocol):
    """Where the agents' model calls are priced and the cycle's LLM budget is kept (cream.services.llm_budget
    in the fleet). The agents ask before each call and report after it."""

    def require_budget(self, cycle_id: str) -> None:
        """Raise if the cycle's budget is spent: no model call starts past it."""
        ...

    def record_call(self, call: LlmCall) -> None:
        """Write one model call (tokens, dollars, latency) to the cycle's ledger."""
        ...
