"""Which of a held option's levels its quote reaches: one rule for the simulated broker (BACKTEST) and the
watcher of held options between cycles (PAPER, LIVE, ``cream.services.option_exits``)."""

from __future__ import annotations

from cream.schemas.decisions import RiskDenomination
from cream.schemas.market import OptionMark
from cream.schemas.orders import OrderPurpose


def premium_exit(long: bool, premium: float, stop: float, target: float) -> OrderPurpose | None:
    """Which level of the premium is reached: a long loses as it falls, a short as it rises (the stop
    wins a tie)."""
    lost, won = (premium <= stop, premium >= target) if long else (premium >= stop, premium <= target)
    return OrderPurpose.STOP_LOSS if lost else OrderPurpose.TAKE_PROFIT if won else None


def level_hit(mark: OptionMark, quantity: int, stop: float, target: float, levels_on: RiskDenomination
              ) -> OrderPurpose | None:
    """The level ``mark`` reaches for a position of ``quantity`` units: of the premium, or of the
    underlying's price (a position gaining as the underlying rises, by its delta, is stopped below)."""
    if levels_on is RiskDenomination.OPTION_PRICE:
        return premium_exit(quantity > 0, mark.premium, stop, target)
    spot, rising = mark.underlying_price, (quantity > 0) == (mark.delta >= 0)
    lost, won = (spot <= stop, spot >= target) if rising else (spot >= stop, spot <= target)
    return OrderPurpose.STOP_LOSS if lost else OrderPurpose.TAKE_PROFIT if won else None
