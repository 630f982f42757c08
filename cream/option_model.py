"""Model-priced options for BACKTEST: the local data holds bars only, so contracts are listed by rule and
priced by the engine (``engine.vol_model``) from the underlying's bars up to the cycle's hour.

Listing: weekly expiries (every Friday that is a trading day, else the session day before it) from the
next session to ``OptionModel.expiry_days`` ahead; strikes on the exchange's usual grid for the price
(0.5 under $25, 1 under $100, 2.5 under $250, 5 under $1,000, 10 above), within ``strike_range`` of
the spot. Pricing: the ATM vol is the realised vol of the last ``rv_window`` daily closes times
``iv_rv_ratio``, tilted by ``skew`` per unit of log-moneyness; time to expiry runs to the close of the
expiry day (Actual/365, to the minute); bid and ask from the spread model. Every mark says it is
model-priced (``OptionMark.model_priced``). The model's parameters: ``cream.schemas.config.OptionModel``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Protocol

import numpy as np

from cream import market_calendar, option_window
from cream.errors import UnknownInstrument
from cream.ports import Bars, ChainContract
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.instruments import OccSymbol, OptionRight
from cream.schemas.market import OptionMark, Timeframe
from engine.vol_model import ModelQuotes, model_quotes, realized_vol_nb

SECONDS_PER_YEAR = 365.0 * 86400.0


def strike_step(spot: float) -> float:
    for below, step in ((25.0, 0.5), (100.0, 1.0), (250.0, 2.5), (1000.0, 5.0)):
        if spot < below:
            return step
    return 10.0


def expiries(as_of: datetime, days: int) -> list[date]:
    """Weekly expiries after ``as_of``'s trading date, up to ``days`` ahead (module doc)."""
    today = as_of.astimezone(market_calendar.NEW_YORK).date()
    out = []
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    while friday <= today + timedelta(days=days):
        day = friday
        while not market_calendar.is_trading_day(day):
            day -= timedelta(days=1)
        if day > today:
            out.append(day)
        friday += timedelta(days=7)
    return out


def years_between(as_of: datetime, expiry: date) -> float:
    """Year fraction to the expiry's close; NaN for a date no contract expires on (no session)."""
    hours = market_calendar.session(expiry)
    return (hours[1] - as_of).total_seconds() / SECONDS_PER_YEAR if hours is not None else math.nan


class BarSource(Protocol):
    def bars(self, symbol: str, timeframe: Timeframe, as_of: datetime, lookback: int) -> Bars: ...


class ModelOptions:
    """Contracts and marks from the bars of a source and a model."""

    def __init__(self, source: BarSource, model: OptionModel) -> None:
        self.source, self.model = source, model

    def _spot_and_vol(self, underlying: str, as_of: datetime) -> tuple[float, float]:
        """The underlying's last hourly close and the model's ATM vol at ``as_of`` (NaN when unknown)."""
        spot = self._spot(underlying, as_of)
        daily = self.source.bars(underlying, Timeframe.D1, as_of, self.model.rv_window + 1)
        rv = realized_vol_nb(np.ascontiguousarray(daily.close, dtype=np.float64), self.model.rv_window)
        return spot, rv * self.model.iv_rv_ratio

    def _quotes(self, underlying: str, as_of: datetime, strikes: list[float], expirations: list[date],
                calls: list[bool]) -> tuple[float, ModelQuotes]:
        spot, atm = self._spot_and_vol(underlying, as_of)
        m = self.model
        years = {e: years_between(as_of, e) for e in set(expirations)}
        quotes = model_quotes(spot, strikes, [years[e] for e in expirations], calls, atm_vol=atm, skew=m.skew,
                              rate=m.rate, div_yield=m.div_yield, spread_frac=m.spread_frac,
                              min_half_spread=m.min_half_spread)
        return spot, quotes

    def chain(self, underlying: str, as_of: datetime, *, expiration_gte: date | None = None,
              expiration_lte: date | None = None, contract_type: str | None = None,
              strike_gte: float | None = None, strike_lte: float | None = None) -> list[ChainContract]:
        """The listed contracts (module doc) within the filters, quoted at ``as_of``."""
        spot = self._spot(underlying, as_of)
        if math.isnan(spot):
            return []
        step, low, high = self._grid(spot, strike_gte, strike_lte)
        rights = [r for r in (OptionRight.CALL, OptionRight.PUT)
                  if contract_type is None or r.value.lower() == contract_type]
        listed = [(e, r, round(i * step, 3)) for e in expiries(as_of, self.model.expiry_days)
                  if (expiration_gte is None or e >= expiration_gte) and (expiration_lte is None or e <= expiration_lte)
                  for r in rights for i in range(low, high + 1)]
        return self._quoted(underlying, as_of, listed)

    def window(self, underlying: str, as_of: datetime, window: OptionChains) -> list[ChainContract]:
        """The contracts of ``window`` (``cream.option_window``) alone, listed and quoted: what a chain
        filtered to the window's dates and strikes, then to the nearest, would hold."""
        spot = self._spot(underlying, as_of)
        if math.isnan(spot):
            return []
        first, last = option_window.dates(as_of, window)
        step, lowest, highest = self._grid(spot, *option_window.strike_bounds(spot, window))
        at = math.floor(spot / step)  # the nearest strike at or below the spot
        near = range(max(lowest, at - window.strikes + 1), min(highest, at + window.strikes) + 1)
        dated = [e for e in expiries(as_of, self.model.expiry_days) if first <= e <= last][: window.expiries]
        listed = [(e, r, round(i * step, 3)) for e in dated for r in (OptionRight.CALL, OptionRight.PUT) for i in near]
        return self._quoted(underlying, as_of, listed)

    def _grid(self, spot: float, strike_gte: float | None, strike_lte: float | None) -> tuple[float, int, int]:
        """The strike step and the first and last listed strike (as multiples of it) within the bounds."""
        step = strike_step(spot)
        low = math.ceil(max(spot * (1 - self.model.strike_range), strike_gte or 0.0) / step)
        high = math.floor(min(spot * (1 + self.model.strike_range), strike_lte or math.inf) / step)
        return step, max(low, 1), high

    def _spot(self, underlying: str, as_of: datetime) -> float:
        hourly = self.source.bars(underlying, Timeframe.H1, as_of, 1)
        return float(hourly.close[-1]) if len(hourly) else math.nan

    def _quoted(self, underlying: str, as_of: datetime,
                listed: list[tuple[date, OptionRight, float]]) -> list[ChainContract]:
        if not listed:
            return []
        spot, q = self._quotes(underlying, as_of, [k for _, _, k in listed], [e for e, _, _ in listed],
                               [r is OptionRight.CALL for _, r, _ in listed])
        columns = zip(*(_nums(a) for a in (q.bid, q.ask, q.vol, q.delta, q.gamma, q.theta, q.vega)), strict=True)
        return [ChainContract(occ_symbol=f"{underlying}{e:%y%m%d}{r.value[0]}{round(k * 1000):08d}",
                              underlying=underlying, expiry=e, type=r.value.lower(), strike=k, bid=bid, ask=ask,
                              last=None, iv=iv, delta=delta, gamma=gamma, theta=theta, vega=vega,
                              underlying_price=spot, model_priced=True)
                for (e, r, k), (bid, ask, iv, delta, gamma, theta, vega) in zip(listed, columns, strict=True)]

    def marks(self, contracts: Iterable[str], as_of: datetime) -> dict[str, OptionMark]:
        """Model marks of OCC contracts at ``as_of``; one that cannot be priced (unknown underlying, expired,
        too few bars for the vol) is left out, and fails closed upstream."""
        by_root: dict[str, list[OccSymbol]] = {}
        for text in dict.fromkeys(contracts):
            try:
                occ = OccSymbol.parse(text)
            except ValueError:
                continue
            by_root.setdefault(occ.root, []).append(occ)
        out = {}
        for root, listed in by_root.items():
            try:
                spot, q = self._quotes(root, as_of, [float(c.strike) for c in listed], [c.expiration for c in listed],
                                       [c.right is OptionRight.CALL for c in listed])
            except UnknownInstrument:  # not a symbol of the data
                continue
            for i, c in enumerate(listed):
                if not (q.mid[i] > 0 and spot > 0 and math.isfinite(q.delta[i] + q.gamma[i] + q.vega[i] + q.theta[i])):
                    continue
                out[c.format()] = OptionMark(
                    instrument_id=c.format(), premium=float(q.mid[i]), underlying_price=spot,
                    delta=float(q.delta[i]), gamma=float(q.gamma[i]), vega=float(q.vega[i]),
                    theta=float(q.theta[i]), implied_volatility=float(q.vol[i]), bid=float(q.bid[i]),
                    ask=float(q.ask[i]), model_priced=True)
        return out


def _nums(values: np.ndarray) -> list[float | None]:
    """Each value, None where it is not a number."""
    return [x if math.isfinite(x) else None for x in values.tolist()]
