"""Which hours an environment may run a cycle for: the one rule shared by triggers, beat and the CLI.

Every environment runs only NYSE session cycle hours (10:00–15:00 New York on trading days, 10:00–12:00
on early closes). BACKTEST runs a past hour within the local data: a Saturday, 03:00Z or the year 9999
would otherwise trade on the last prices the data has, as if they were fresh.

PAPER and LIVE run the current hour only, by the fleet's clock (``cream.clock``): from ``TRIGGER_EARLY``
before the hour (clock skew between hosts) to ``TRIGGER_GRACE`` after it, which outlasts a redelivery
and a whole retry window of the trigger (``cream.timeouts``). A past hour would trade now on old
prices; a future one would take that hour's cycle id, and the real cycle would later be a DUPLICATE.
"""

from __future__ import annotations

from datetime import datetime

from cream import clock, market_calendar
from cream.errors import InvalidTrigger
from cream.market_calendar import NEW_YORK
from cream.ports import MarketData
from cream.schemas.decisions import Environment
from cream.timeouts import TRIGGER_EARLY, TRIGGER_GRACE


def current_cycle_hour(now: datetime) -> datetime | None:
    """The cycle hour a PAPER or LIVE trigger may run at ``now``; None between cycle hours."""
    hour = market_calendar.last_cycle_time(now + TRIGGER_EARLY)
    return hour if hour is not None and now - hour <= TRIGGER_GRACE else None


def require_cycle_hour(environment: Environment, hour: datetime, market: MarketData,
                       now: datetime | None = None) -> None:
    """Nothing if ``environment`` may run the cycle of ``hour`` (PAPER and LIVE: at ``now``, by default
    the fleet's clock); InvalidTrigger saying why not otherwise."""
    local = hour.astimezone(NEW_YORK)
    if not market_calendar.is_cycle_time(hour):
        raise InvalidTrigger(f"{hour:%Y-%m-%dT%H:%MZ} ({local:%a %H:%M} New York) is not a cycle hour of the "
                             "NYSE session (on the hour, 10:00-15:00 New York, trading days only)")
    if environment is Environment.BACKTEST:
        first, last = market.earliest(), market.latest()
        if not first <= hour <= last:
            raise InvalidTrigger(f"{hour:%Y-%m-%dT%H:%MZ} is outside the market data, which covers "
                                 f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
        return
    now = clock.now() if now is None else now
    current = current_cycle_hour(now)
    if hour != current:
        when = "past" if hour < now else "future"
        now_is = (f"the current one is {current:%Y-%m-%dT%H:%MZ}" if current is not None
                  else "no cycle hour is current")
        raise InvalidTrigger(f"{hour:%Y-%m-%dT%H:%MZ} is a {when} hour: {environment.value} runs only the current "
                             f"cycle hour, up to {TRIGGER_GRACE.total_seconds() / 60:.0f} min after it starts "
                             f"(it is {now:%Y-%m-%dT%H:%M:%SZ}; {now_is})")
