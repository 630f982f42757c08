"""Runtime configuration as the domain sees it: one environment's trading_config and each agent's row.

Loading, seeding and promoting the rows is cream.services.runtime_config; these are the frozen values
it builds once per phase and passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pydantic import Field, model_validator

from cream.schemas.agents import AgentType
from cream.schemas.instruments import Frozen


class OptionModel(Frozen):
    """How BACKTEST lists and prices options, which the local data has no quotes for (``cream.option_model``,
    ``engine.vol_model``). Set as JSON in ``CREAM_OPTION_MODEL``, e.g. ``{"iv_rv_ratio": 1.2, "skew": 0.8}``."""

    iv_rv_ratio: float = Field(default=1.1, gt=0)  # implied over realised vol (the variance premium)
    skew: float = Field(default=1.0, ge=-10, le=10)  # vol(K) = atm * (1 - skew * ln(K/S)): puts dearer for > 0
    rv_window: int = Field(default=20, ge=2, le=252)  # daily closes the realised vol is measured over
    spread_frac: float = Field(default=0.04, ge=0, lt=1)  # bid-ask spread as a fraction of the model price
    min_half_spread: float = Field(default=0.025, ge=0)  # per unit of the underlying ($2.50 a contract a side)
    rate: float = Field(default=0.04, ge=-0.05, le=0.5)
    div_yield: float = Field(default=0.0, ge=0, le=0.5)
    expiry_days: int = Field(default=60, ge=1, le=800)  # weekly expiries listed this far ahead
    strike_range: float = Field(default=0.2, gt=0, lt=1)  # strikes listed within this fraction of the spot


class OptionChains(Frozen):
    """The part of each cycle symbol's option chain that observe marks, so that the agents may trade it
    (every environment: PAPER/LIVE from the provider's chain snapshot, BACKTEST from the model): the
    first ``expiries`` expirations between ``min_days`` and ``max_days`` away, and per expiration and
    right the ``strikes`` listed strikes nearest the spot on each side, within ``strike_range`` (a
    fraction of the spot: the provider is asked for those strikes only). Set as JSON in
    ``CREAM_OPTION_CHAINS``, e.g. ``{"min_days": 21, "strikes": 6}``; ``{"enabled": false}`` marks none
    (held contracts are marked whatever this says). Unset, ``enabled`` follows the agents: chains are marked
    for Gemini or replayed agents (PAPER, LIVE, a BACKTEST with them) and not for the rule agents, whose
    backtests it would slow by about a quarter in process; enabled, the rule trader trades options too
    (``cream.agents.rules.options_playbook``). See ``marks_chains``."""

    enabled: bool | None = None
    min_days: int = Field(default=7, ge=0, le=800)
    max_days: int = Field(default=45, ge=0, le=800)
    expiries: int = Field(default=2, ge=1, le=12)
    strikes: int = Field(default=4, ge=1, le=50)
    strike_range: float = Field(default=0.1, gt=0, lt=1)

    def marks_chains(self, rule_agents: bool) -> bool:
        return self.enabled if self.enabled is not None else not rule_agents

    @model_validator(mode="after")
    def _ordered(self) -> OptionChains:
        if self.max_days < self.min_days:
            raise ValueError(f"max_days {self.max_days} is before min_days {self.min_days}")
        return self


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


@dataclass(frozen=True)
class TradingConfig:
    """The ACTIVE trading_config of one environment, built once per phase and passed in.

    ``rules`` holds the thresholds and risk limits the agents and the engine reason with; the rest is
    what only the system itself uses (iterations, costs, starting cash).
    """

    id: str
    environment: str
    version: int
    max_consensus_iterations: int
    slippage_bps: float
    commission_per_share: float
    commission_minimum: float
    initial_cash: float
    max_llm_cost_per_cycle: float
    max_llm_tokens_per_cycle: int
    rules: TradingRules

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TradingConfig:
        """From one flat mapping of every column (a trading_config row); extra keys are ignored."""
        own = {f.name: values[f.name] for f in fields(cls) if f.name != "rules"}
        return cls(**own, rules=TradingRules(**{k: values[k] for k in TradingRules.model_fields}))


@dataclass(frozen=True)
class AgentConfig:
    """One agent's row of agent_configs: which model, how hot, what it costs, how far its tools go."""

    agent: AgentType
    model: str
    temperature: float
    system_prompt_override: str | None
    enabled: bool
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    max_tool_calls: int
    tool_seconds: float
    timeout_s: float

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6
