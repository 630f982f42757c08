"""Which hours an environment may run a cycle for: the one rule shared by triggers, beat and the CLI.

Every environment runs only NYSE session cycle hours (10:00–15:00 New York on trading days, 10:00–12:00
on early closes). BACKTEST runs a past hour within the local data: a Saturday, 03:00Z or the year 9999
would otherwise trade on the last prices the data has, as if they were fresh.
"""

from __future__ import annotations

from datetime import datetime

from cream import market_calendar
from cream.errors import InvalidTrigger
from cream.market_calendar import NEW_YORK
from cream.ports import MarketData
from cream.schemas.decisions import Environment


def require_cycle_hour(environment: Environment, hour: datetime, market: MarketData) -> None:
    """Nothing if ``environment`` may run the cycle of ``hour``; InvalidTrigger saying why not otherwise."""
    local = hour.astimezone(NEW_YORK)
    if not market_calendar.is_cycle_time(hour):
        raise InvalidTrigger(f"{hour:%Y-%m-%dT%H:%MZ} ({local:%a %H:%M} New York) is not a cycle hour of the "
                             "NYSE session (on the hour, 10:00-15:00 New York, trading days only)")
    if environment is not Environment.BACKTEST:
        return
    first, last = market.earliest(), market.latest()
    if not first <= hour <= last:
        raise InvalidTrigger(f"{hour:%Y-%m-%dT%H:%MZ} is outside the market data, which covers "
                             f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
