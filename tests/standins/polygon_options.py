"""The option chain the Polygon stand-in quotes: Black-Scholes prices and Greeks around the last close,
in the JSON of Polygon's option chain snapshot (``/v3/snapshot/options/{underlying}``)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _bs(spot: float, strike: float, years: float, vol: float, call: bool, rate: float = 0.04) -> dict[str, float]:
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    disc = math.exp(-rate * years)
    if call:
        price, delta = spot * _norm_cdf(d1) - strike * disc * _norm_cdf(d2), _norm_cdf(d1)
        theta = -spot * pdf * vol / (2 * math.sqrt(years)) - rate * strike * disc * _norm_cdf(d2)
    else:
        price, delta = strike * disc * _norm_cdf(-d2) - spot * _norm_cdf(-d1), _norm_cdf(d1) - 1
        theta = -spot * pdf * vol / (2 * math.sqrt(years)) + rate * strike * disc * _norm_cdf(-d2)
    return {"price": price, "delta": delta, "gamma": pdf / (spot * vol * math.sqrt(years)),
            "theta": theta / 365, "vega": spot * pdf * math.sqrt(years) / 100}


def option_chain(underlying: str, spot: float, ns: int) -> list[dict[str, Any]]:
    """Two monthly expiries, nine strikes around ``spot``, calls and puts, quoted at ``ns`` (epoch ns)."""
    today = datetime.fromtimestamp(ns / 1e9, UTC).date()
    step = 5.0 if spot > 100 else 1.0
    centre = round(spot / step) * step
    out = []
    for months in (1, 2):
        first = date(today.year + (today.month + months - 1) // 12, (today.month + months - 1) % 12 + 1, 1)
        expiry = first + timedelta(days=(4 - first.weekday()) % 7 + 14)  # third Friday
        years = (expiry - today).days / 365
        for i in range(-4, 5):
            strike = centre + i * step
            for call in (True, False):
                vol = 0.25 + 0.02 * abs(i)
                g = _bs(spot, strike, years, vol, call)
                price = max(round(g["price"], 2), 0.01)
                occ = f"{underlying}{expiry:%y%m%d}{'C' if call else 'P'}{round(strike * 1000):08d}"
                out.append({
                    "break_even_price": strike + price if call else strike - price,
                    "day": {"close": price, "open": price, "high": price, "low": price, "volume": 10,
                            "vwap": price, "change": 0, "change_percent": 0, "previous_close": price,
                            "last_updated": ns},
                    "details": {"contract_type": "call" if call else "put", "exercise_style": "american",
                                "expiration_date": expiry.isoformat(), "shares_per_contract": 100,
                                "strike_price": strike, "ticker": f"O:{occ}"},
                    "greeks": {k: round(g[k], 6) for k in ("delta", "gamma", "theta", "vega")},
                    "implied_volatility": vol, "open_interest": 100 + 10 * abs(i),
                    "last_quote": {"ask": round(price + 0.05, 2), "ask_size": 10,
                                   "bid": max(round(price - 0.05, 2), 0.0), "bid_size": 10,
                                   "last_updated": ns, "midpoint": price, "timeframe": "REAL-TIME"},
                    "last_trade": {"price": price, "size": 1, "sip_timestamp": ns, "exchange": 65,
                                   "conditions": [209], "timeframe": "REAL-TIME"},
                    "underlying_asset": {"price": spot, "ticker": underlying, "last_updated": ns,
                                         "timeframe": "REAL-TIME", "change_to_break_even": 0.0},
                })
    return out
