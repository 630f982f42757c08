"""The part of an option chain the agents may trade (``OptionChains``): the first expirations in a day
window and, per expiration and right, the strikes nearest the spot on each side. A live source asks its
provider for the window's dates and strikes and keeps the nearest (``tradable``); the model lists only
those (``cream.option_model``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from cream import market_calendar
from cream.ports import ChainContract
from cream.schemas.config import OptionChains


def dates(as_of: datetime, window: OptionChains) -> tuple[date, date]:
    """The first and last expiration date the window takes, from ``as_of``'s trading date."""
    today = as_of.astimezone(market_calendar.NEW_YORK).date()
    return today + timedelta(days=window.min_days), today + timedelta(days=window.max_days)


def strike_bounds(spot: float, window: OptionChains) -> tuple[float, float]:
    return spot * (1 - window.strike_range), spot * (1 + window.strike_range)


def tradable(chain: list[ChainContract], spot: float, window: OptionChains) -> list[ChainContract]:
    """The first ``window.expiries`` expirations of ``chain``; in each, per right, the ``window.strikes``
    strikes nearest ``spot`` at or below it and as many above."""
    expiries = sorted({c.expiry for c in chain})[: window.expiries]
    out = []
    for e in expiries:
        for right in ("call", "put"):
            listed = sorted((c for c in chain if c.expiry == e and c.type == right), key=lambda c: c.strike)
            below = [c for c in listed if c.strike <= spot][-window.strikes:]
            out += below + [c for c in listed if c.strike > spot][: window.strikes]
    return out
