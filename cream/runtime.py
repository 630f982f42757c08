"""The composition root: which adapter serves each port in this process's environment.

BACKTEST is fully wired. PAPER and LIVE refuse to start until their adapters (Polygon, Alpaca,
Gemini) exist: an environment that cannot trade correctly does not trade at all.
"""

from __future__ import annotations

from functools import lru_cache

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.agents.port import AgentBackend
from cream.agents.rules.backend import RuleBasedAgents
from cream.config import get_settings
from cream.errors import ConfigurationError
from cream.live_gate import require_live_allowed
from cream.ports import MarketData
from cream.schemas.decisions import Environment
from cream.services.runtime_config import TradingConfig


def require_backtest(environment: Environment) -> None:
    """PAPER and LIVE wait for their adapters to be wired here; LIVE must first pass the LIVE gate."""
    if environment is Environment.LIVE:
        from cream.storage.db import session_scope

        with session_scope(readonly=True) as s:
            require_live_allowed(get_settings(), s)
    if environment is not Environment.BACKTEST:
        raise ConfigurationError(
            f"{environment.value} is not available in this build: it needs the Polygon, Alpaca and Gemini "
            "adapters wired into the composition root. Use CREAM_ENV=BACKTEST (the default).")


@lru_cache(maxsize=1)
def market_data() -> MarketData:
    require_backtest(get_settings().env)
    return LocalHistory(get_settings().history_dir)


def agents(environment: Environment) -> AgentBackend:
    require_backtest(environment)
    return RuleBasedAgents()


def broker(environment: Environment, config: TradingConfig) -> SimulatedBroker:
    require_backtest(environment)
    return SimulatedBroker(market_data(), config.slippage_bps, config.commission_per_share,
                           config.commission_minimum)
