"""The LIVE gate: real money is reached only on purpose.

LIVE starts only when all three hold: ``CREAM_ENV=LIVE``; an ACTIVE LIVE ``trading_config`` (LIVE is
never seeded: one must be promoted DRAFT -> TEST -> ACTIVE); and ``CREAM_LIVE_CONFIRMATION`` naming
that ACTIVE config's id, so the person starting the process states which configuration trades real
money. Anything else is refused with a message saying what is missing. No default reaches LIVE.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cream.config import Settings
from cream.errors import ConfigurationError
from cream.schemas.decisions import Environment
from cream.storage.models import TradingConfigRow


def require_live_allowed(settings: Settings, session: Session) -> str:
    """The id of the ACTIVE LIVE trading_config when LIVE may start; ConfigurationError otherwise."""
    if settings.env is not Environment.LIVE:
        raise ConfigurationError(f"this process runs {settings.env.value}; LIVE trading needs CREAM_ENV=LIVE")
    rows = list(session.scalars(select(TradingConfigRow).where(TradingConfigRow.environment == "LIVE")))
    active = [r for r in rows if r.status == "ACTIVE"]
    if not active:
        found = ", ".join(f"{r.id} ({r.status})" for r in rows) or "none"
        raise ConfigurationError(
            f"LIVE refused: no ACTIVE LIVE trading_config (LIVE configs: {found}); promote one "
            "DRAFT -> TEST -> ACTIVE with `cream config promote ID` after testing it in PAPER")
    config_id = active[0].id
    if not settings.live_confirmation:
        raise ConfigurationError(
            f"LIVE refused: no confirmation; set CREAM_LIVE_CONFIRMATION={config_id} to trade real money "
            f"with the ACTIVE LIVE trading_config {config_id}")
    if settings.live_confirmation != config_id:
        raise ConfigurationError(
            f"LIVE refused: CREAM_LIVE_CONFIRMATION names {settings.live_confirmation!r}, but the ACTIVE LIVE "
            f"trading_config is {config_id}; confirm the configuration that will actually trade")
    return config_id
