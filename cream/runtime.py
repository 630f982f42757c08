"""The composition root: which adapter serves each port in this process's environment.

BACKTEST: local history, the simulated broker, rule-based agents (or, on request, the Gemini agents,
recorded, or a replay of recorded replies). PAPER: Polygon (polygon-api-client), Alpaca's paper
endpoint (alpaca-py) and the Gemini agents (google-genai); LIVE: the same against Alpaca's live
endpoint, and only past the LIVE gate.

Which host each client contacts is decided by ``cream.endpoints.endpoint`` alone: the provider's
official URL, or an override that parses as a loopback URL (a stand-in in tests). The adapters apply
it when they build their clients; ``require_environment`` applies it at start, so a bad override stops
the CLI and every worker before they take work.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from cream import clock
from cream.adapters.local_history import LocalHistory
from cream.adapters.sim_broker import SimulatedBroker
from cream.agents.port import AgentBackend
from cream.agents.rules.backend import RuleBasedAgents
from cream.config import Settings, get_settings
from cream.endpoints import endpoint
from cream.errors import ConfigurationError
from cream.live_gate import require_live_allowed
from cream.ports import Broker, MarketData
from cream.schemas.config import OptionChains, TradingConfig
from cream.schemas.decisions import Environment
from cream.services.pipeline import Ports

if TYPE_CHECKING:
    from cream.agents.llm_agents import RecordedModel

log = logging.getLogger(__name__)


def require_environment(environment: Environment) -> None:
    """Refuse to run an environment that is not fully configured; LIVE must pass the LIVE gate."""
    settings = get_settings()
    if environment is Environment.BACKTEST:
        if agent_kind(environment) == "gemini":
            if settings.gemini_api_key is None:
                raise ConfigurationError("CREAM_AGENTS=gemini needs GEMINI_API_KEY in the environment")
            _gemini_url(settings)
        return
    if environment is Environment.LIVE:
        from cream.storage.db import session_scope

        clock.require_wall_clock(environment.value)

        with session_scope(readonly=True) as s:
            require_live_allowed(settings, s)
    if agent_kind(environment) != "gemini":
        raise ConfigurationError(f"{environment.value} trades on the Gemini agents only: unset CREAM_AGENTS "
                                 f"(it is {settings.agents})")
    missing = [name for name, value in (("POLYGON_API_KEY", settings.polygon_api_key),
                                        ("ALPACA_API_KEY", settings.alpaca_api_key),
                                        ("ALPACA_SECRET_KEY", settings.alpaca_secret_key),
                                        ("GEMINI_API_KEY", settings.gemini_api_key)) if value is None]
    if missing:
        raise ConfigurationError(f"{environment.value} needs {', '.join(missing)} in the environment "
                                 "(or CREAM_ENV=BACKTEST, the default)")
    _polygon_url(settings)  # an override that is not loopback stops the process here, at start
    _alpaca_url(settings, environment)
    _gemini_url(settings)


def _polygon_url(settings: Settings) -> str:
    from cream.adapters.polygon_http import POLYGON_URL

    return endpoint("CREAM_POLYGON_BASE_URL", settings.polygon_base_url, POLYGON_URL)


def _alpaca_url(settings: Settings, environment: Environment) -> str:
    """Alpaca's live URL in LIVE only, else its paper URL, or a loopback stand-in: the override never picks."""
    from alpaca.common.enums import BaseURL

    official = BaseURL.TRADING_LIVE if environment is Environment.LIVE else BaseURL.TRADING_PAPER
    return endpoint("CREAM_ALPACA_BASE_URL", settings.alpaca_base_url, official.value)


def _gemini_url(settings: Settings) -> str:
    from cream.llm.gemini import GEMINI_URL

    return endpoint("CREAM_GEMINI_BASE_URL", settings.gemini_base_url, GEMINI_URL)


def agent_kind(environment: Environment) -> str:
    """rules | gemini | replay: CREAM_AGENTS, else rules in BACKTEST and Gemini in PAPER and LIVE."""
    chosen = get_settings().agents
    return chosen or ("rules" if environment is Environment.BACKTEST else "gemini")


@lru_cache(maxsize=1)
def market_data() -> MarketData:
    settings = get_settings()
    if settings.env is Environment.BACKTEST:
        return LocalHistory(settings.history_dir, settings.option_model)
    require_environment(settings.env)
    return _polygon(settings)


def _polygon(settings: Settings) -> MarketData:
    from cream.adapters.candle_cache import CandleCache
    from cream.adapters.polygon_data import PolygonMarketData
    from cream.adapters.rate_limit import RedisTokenBucket
    from cream.services.runtime_config import active_universe
    from cream.storage.db import current_url, session_scope

    if not settings.broker_url:
        raise ConfigurationError("PAPER and LIVE share one Polygon rate limit through Redis: set CREAM_BROKER_URL")
    with session_scope(readonly=True) as s:
        universe = active_universe(s, settings.env)
    limiter = RedisTokenBucket.from_url(settings.broker_url, "polygon", settings.polygon_requests_per_second,
                                        settings.polygon_burst)
    assert settings.polygon_api_key is not None
    return PolygonMarketData(settings.polygon_api_key.get_secret_value(), _polygon_url(settings),
                             limiter=limiter, cache=CandleCache(current_url()), symbols=universe)


def agents(environment: Environment) -> AgentBackend:
    """The agents of this environment, with agent_configs read afresh (a changed row applies next call)."""
    require_environment(environment)
    kind = agent_kind(environment)
    if kind == "rules":
        return RuleBasedAgents()
    from cream.agents.llm_agents import LlmAgents
    from cream.services.llm_budget import DatabaseLedger
    from cream.services.runtime_config import agent_configs
    from cream.storage.db import session_scope

    with session_scope(readonly=True) as s:
        configs = agent_configs(s, environment)
    return LlmAgents(language_model(kind), configs, implementation=kind, market=market_data(),
                     ledger=DatabaseLedger())


_MODEL_LOCK = threading.Lock()


def language_model(kind: str) -> RecordedModel:
    """One model client per process: Gemini (every exchange recorded), or the recordings alone. Built by
    one thread: the agents' threads pool starts a phase's runs at once, and each building its own client
    (an SSL context from the trust store apiece) took seconds of CPU from the first phase."""
    with _MODEL_LOCK:
        return _language_model(kind)


@lru_cache(maxsize=2)
def _language_model(kind: str) -> RecordedModel:
    from cream.llm.recorder import ExchangeStore, RecordingModel, ReplayModel

    if kind == "replay":
        return ReplayModel(ExchangeStore())
    from cream.llm.gemini import GeminiModel

    settings = get_settings()
    if settings.gemini_api_key is None:
        raise ConfigurationError("the Gemini agents need GEMINI_API_KEY in the environment")
    gemini = GeminiModel(settings.gemini_api_key.get_secret_value(), base_url=_gemini_url(settings),
                         max_retries=settings.gemini_max_retries, backoff_base=settings.gemini_backoff_s)
    return RecordingModel(gemini, ExchangeStore())


language_model.cache_clear = _language_model.cache_clear  # type: ignore[attr-defined]  # tests start afresh


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
    # The endpoint follows the environment alone: PAPER can only reach paper trading.
    return AlpacaBroker(settings.alpaca_api_key.get_secret_value(), settings.alpaca_secret_key.get_secret_value(),
                        paper=environment is not Environment.LIVE,
                        url_override=_alpaca_url(settings, environment))


# The ports a cycle's phases reach the outside through (cream.services.pipeline), in this process.
def option_chains(environment: Environment) -> tuple[OptionChains, float]:
    """The chains observe marks in ``environment`` (``OptionChains``, its ``enabled`` resolved), and the rate."""
    settings = get_settings()
    window = settings.option_chains
    on = window.marks_chains(rule_agents=agent_kind(environment) == "rules")
    return window.model_copy(update={"enabled": on}), settings.option_model.rate


PORTS = Ports(market=market_data, broker=broker, agents=agents, option_chains=option_chains)
