"""Runtime configuration from the database: trading_config, agent_configs, universe_configs.

Config moves DRAFT -> TEST -> ACTIVE; only an ACTIVE row is ever used to trade. BACKTEST and PAPER
get an ACTIVE default on first start; LIVE never does: it needs an explicit promotion.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cream.errors import ConfigurationError
from cream.schemas.agents import AgentType
from cream.schemas.config import AgentConfig, TradingConfig
from cream.schemas.decisions import Environment
from cream.storage.db import sole_writer
from cream.storage.models import AgentConfigRow, TradingConfigRow, UniverseConfigRow

SAMPLE_UNIVERSE = ["ADBE", "COST", "MA", "XLK"]
# GICS sectors (an ETF takes the sector it tracks), for the sector-concentration limit.
SAMPLE_SECTORS = {"ADBE": "Information Technology", "COST": "Consumer Staples", "MA": "Financials",
                  "XLK": "Information Technology"}
# Seeds: a pro model for analysts, researchers and trader; a flash model for the two approvers.
# Prices in USD per million tokens (prompt, output), Gemini API list prices for prompts <= 200k tokens.
PRO_MODEL, FLASH_MODEL = "gemini-3-pro-preview", "gemini-3-flash-preview"
PRICES = {PRO_MODEL: (2.0, 12.0), FLASH_MODEL: (0.5, 3.0)}


def agent_configs(session: Session, environment: Environment) -> dict[AgentType, AgentConfig]:
    """Every agent's config for ``environment``; a missing row is a configuration error, not a default."""
    rows = {r.agent_type: r for r in session.scalars(
        select(AgentConfigRow).where(AgentConfigRow.environment == environment.value))}
    missing = [a.value for a in AgentType if a.value not in rows]
    if missing:
        raise ConfigurationError(f"agent_configs has no row for {', '.join(missing)} in {environment.value}")
    return {a: AgentConfig(agent=a, **{f.name: getattr(rows[a.value], f.name) for f in fields(AgentConfig)
                                       if f.name != "agent"}) for a in AgentType}


def trading_config_from_row(row: TradingConfigRow) -> TradingConfig:
    return TradingConfig.from_values({c.name: getattr(row, c.name) for c in TradingConfigRow.__table__.columns})


def default_trading_config(environment: Environment) -> TradingConfig:
    """The product defaults (the trading_config column defaults), as a DRAFT of version 0."""
    values = {c.name: c.default.arg for c in TradingConfigRow.__table__.columns
              if c.default is not None and not callable(c.default.arg)}
    values.update(id=f"{environment.value.lower()}-defaults", environment=environment.value, version=0)
    return TradingConfig.from_values(values)


def seed_defaults(session: Session) -> None:
    """Insert the default rows once (idempotent): nothing for LIVE."""
    for env in (Environment.BACKTEST, Environment.PAPER):
        if session.get(TradingConfigRow, f"{env.value.lower()}-v1") is None:
            session.add(TradingConfigRow(id=f"{env.value.lower()}-v1", environment=env.value, version=1,
                                         status="ACTIVE"))
        if session.get(UniverseConfigRow, f"{env.value.lower()}-static") is None:
            session.add(UniverseConfigRow(id=f"{env.value.lower()}-static", environment=env.value,
                                          source="static", static_symbols=SAMPLE_UNIVERSE, sectors=SAMPLE_SECTORS,
                                          status="ACTIVE"))
    for env in Environment:
        for agent in AgentType:
            key = f"{env.value.lower()}-{agent.value}"
            if session.get(AgentConfigRow, key) is None:
                model = FLASH_MODEL if agent in (AgentType.RISK_MANAGER, AgentType.CRITIC) else PRO_MODEL
                session.add(AgentConfigRow(id=key, environment=env.value, agent_type=agent.value, model=model,
                                           temperature=0.1 if model == FLASH_MODEL else 0.3,
                                           input_usd_per_mtok=PRICES[model][0], output_usd_per_mtok=PRICES[model][1]))


def active_trading_config(session: Session, environment: Environment) -> TradingConfig:
    """The environment's ACTIVE config, read once per session (a cycle in process runs in one)."""
    memo = session.info.setdefault("active_trading_config", {})
    if environment not in memo:
        memo[environment] = _active_trading_config(session, environment)
    return memo[environment]  # type: ignore[no-any-return]


_TRADING = TradingConfigRow.__table__
_ACTIVE_TRADING = select(_TRADING).where(_TRADING.c.environment == bindparam("environment"),
                                         _TRADING.c.status == "ACTIVE")
# The configs this process built, by every value of the row they were built from: the row is read on every
# call (a promotion applies at once), building the config from it only when one of its values changed.
_BUILT: dict[tuple[Any, ...], TradingConfig] = {}
_BUILT_LOCK = threading.Lock()


def _active_trading_config(session: Session, environment: Environment) -> TradingConfig:
    if sole_writer(session):  # one transaction: its own pending changes count (a promotion in it)
        row = session.scalars(
            select(TradingConfigRow).where(TradingConfigRow.environment == environment.value,
                                           TradingConfigRow.status == "ACTIVE")
        ).first()
        return _no_active(environment) if row is None else trading_config_from_row(row)
    session.flush()  # what this session changed (a promotion) is read back, as the ORM's autoflush would
    values = session.execute(_ACTIVE_TRADING, {"environment": environment.value}).first()
    if values is None:
        return _no_active(environment)
    key = tuple(values)
    with _BUILT_LOCK:
        built = _BUILT.get(key)
    if built is None:
        built = TradingConfig.from_values(dict(values._mapping))
        with _BUILT_LOCK:
            if len(_BUILT) >= 16:
                _BUILT.clear()
            _BUILT[key] = built
    return built


def _no_active(environment: Environment) -> NoReturn:
    raise ConfigurationError(
        f"no ACTIVE trading_config for {environment.value}: promote one (DRAFT -> TEST -> ACTIVE) first"
    )


def active_universe(session: Session, environment: Environment) -> list[str]:
    row = session.scalars(
        select(UniverseConfigRow).where(UniverseConfigRow.environment == environment.value,
                                        UniverseConfigRow.status == "ACTIVE")
    ).first()
    if row is None or not row.static_symbols:
        raise ConfigurationError(f"no ACTIVE universe_configs row with symbols for {environment.value}")
    return list(row.static_symbols)


def active_sectors(session: Session, environment: Environment) -> dict[str, str]:
    """symbol -> sector of the ACTIVE universe; symbols without one are flagged by the risk check. Read
    once per session."""
    memo = session.info.setdefault("active_sectors", {})
    if environment not in memo:
        row = session.scalars(
            select(UniverseConfigRow).where(UniverseConfigRow.environment == environment.value,
                                            UniverseConfigRow.status == "ACTIVE")
        ).first()
        memo[environment] = dict(row.sectors or {}) if row is not None else {}
    return dict(memo[environment])


PROMOTION = {"DRAFT": "TEST", "TEST": "ACTIVE"}


def promote(session: Session, config_id: str) -> TradingConfigRow:
    """Move one trading_config a step DRAFT -> TEST -> ACTIVE; the environment's previous ACTIVE row is
    ARCHIVED in the same transaction, so exactly one stays ACTIVE."""
    row = session.get(TradingConfigRow, config_id)
    if row is None:
        raise ConfigurationError(f"no trading_config {config_id!r}")
    if row.status not in PROMOTION:
        raise ConfigurationError(f"trading_config {config_id} is {row.status}: only DRAFT and TEST can be promoted")
    if PROMOTION[row.status] == "ACTIVE":
        for other in session.scalars(select(TradingConfigRow).where(
                TradingConfigRow.environment == row.environment, TradingConfigRow.status == "ACTIVE")):
            other.status = "ARCHIVED"
        session.flush()
        row.promoted_at = datetime.now(UTC)
    row.status = PROMOTION[row.status]
    session.info.pop("active_trading_config", None)
    return row
