"""The composition root: which adapter serves each port in this process's environment.

BACKTEST: local history, the simulated broker, rule-based agents. PAPER: Polygon (polygon-api-client)
and Alpaca's paper endpoint (alpaca-py); LIVE: the same against Alpaca's live endpoint, and only past
the LIVE gate. Until the Gemini agents exist (issue 5), PAPER and LIVE run the rule-based agents.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.agents.port import AgentBackend
from cream.agents.rules.backend import RuleBasedAgents
from cream.config import Settings, get_settings
from cream.errors import ConfigurationError
from cream.live_gate import require_live_allowed
from cream.ports import Broker, MarketData
from cream.schemas.decisions import Environment
from cream.services.runtime_config import TradingConfig

log = logging.getLogger(__name__)


def require_environment(environment: Environment) -> None:
    """Refuse to run an environment that is not fully configured; LIVE must pass the LIVE gate."""
    if environment is Environment.BACKTEST:
        return
    settings = get_settings()
    if environment is Environment.LIVE:
        from cream.storage.db import session_scope

        with session_scope(readonly=True) as s:
            require_live_allowed(settings, s)
    missing = [name for name, value in (("POLYGON_API_KEY", settings.polygon_api_key),
                                        ("ALPACA_API_KEY", settings.alpaca_api_key),
                                        ("ALPACA_SECRET_KEY", settings.alpaca_secret_key)) if value is None]
    if missing:
        raise ConfigurationError(f"{environment.value} needs {', '.join(missing)} in the environment "
                                 "(or CREAM_ENV=BACKTEST, the default)")


@lru_cache(maxsize=1)
def market_data() -> MarketData:
    settings = get_settings()
    if settings.env is Environment.BACKTEST:
        return LocalHistory(settings.history_dir)
    require_environment(settings.env)
    return _polygon(settings)


def _polygon(settings: Settings) -> MarketData:
    from cream.adapters.candle_cache import CandleCache
    from cream.adapters.polygon_data import PolygonMarketData
    from cream.adapters.rate_limit import RedisTokenBucket
    from cream.storage.db import current_url, session_scope
    from cream.services.runtime_config import active_universe

    if not settings.broker_url:
        raise ConfigurationError("PAPER and LIVE share one Polygon rate limit through Redis: set CREAM_BROKER_URL")
    with session_scope(readonly=True) as s:
        universe = active_universe(s, settings.env)
    limiter = RedisTokenBucket.from_url(settings.broker_url, "polygon", settings.polygon_requests_per_second,
                                        settings.polygon_burst)
    assert settings.polygon_api_key is not None
    return PolygonMarketData(settings.polygon_api_key.get_secret_value(), settings.polygon_base_url,
                             limiter=limiter, cache=CandleCache(current_url()), symbols=universe)


def agents(environment: Environment) -> AgentBackend:
    require_environment(environment)
    return RuleBasedAgents()


def broker(environment: Environment, config: TradingConfig) -> Broker:
    if environment is Environment.BACKTEST:
        return SimulatedBroker(market_data(), config.slippage_bps, config.commission_per_share,
                               config.commission_minimum)
    return _alpaca(environment)


@lru_cache(maxsize=2)
def _alpaca(environment: Environment) -> Broker:
    from cream.adapters.alpaca_broker import AlpacaBroker

    require_environment(environment)
    settings = get_settings()
    assert settings.alpaca_api_key is not None and settings.alpaca_secret_key is not None
    override = settings.alpaca_base_url
    if override and not override.startswith(("http://127.0.0.1", "http://localhost")):
        raise ConfigurationError("CREAM_ALPACA_BASE_URL may only point at a loopback stand-in: the endpoint "
                                 "(paper or live) follows CREAM_ENV")
    # The endpoint follows the environment alone: PAPER can only reach paper trading.
    return AlpacaBroker(settings.alpaca_api_key.get_secret_value(), settings.alpaca_secret_key.get_secret_value(),
                        paper=environment is Environment.PAPER, url_override=settings.alpaca_base_url)
