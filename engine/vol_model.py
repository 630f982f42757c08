"""Model option quotes for BACKTEST, where the local data has no historical option quotes: a contract is
priced by Black-Scholes-Merton (``engine.options``) from its underlying's bar and a volatility model, and
quoted around that price by a spread model.

Volatility: the underlying's realised volatility (``realized_vol_nb``: sample standard deviation of the
last ``window`` log returns of closes, annualised by sqrt(periods per year)) scaled by an implied/realised
ratio gives the at-the-money vol; a linear skew in log-moneyness tilts it by strike,

    vol(K) = max(atm_vol * (1 - skew * ln(K / S)), VOL_FLOOR),

so with skew > 0 a lower strike has the higher vol (the equity put skew). Spread: half of ``spread_frac``
of the model price, at least ``min_half_spread`` per unit of the underlying; bid = max(mid - half, 0),
ask = mid + half. A fill crosses the spread: buys at the ask, sells at the bid.

Any non-finite or non-positive spot, strike, time or vol gives NaN in every output (fails closed: a
contract without a mark cannot pass the risk check).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from engine.options import bs_one_nb

FloatArray = npt.NDArray[np.float64]

VOL_FLOOR = 0.01
TRADING_DAYS = 252.0
QUOTE_ROWS = 9  # vol, mid, bid, ask, delta, gamma, theta, vega, rho


@njit(cache=True)
def realized_vol_nb(close: FloatArray, window: int, periods_per_year: float = TRADING_DAYS) -> float:
    """Annualised sample standard deviation of the last ``window`` log returns; NaN without ``window`` + 1
    positive finite closes at the end of ``close``."""
    n = close.shape[0]
    if window < 2 or n < window + 1:
        return np.nan
    total = 0.0
    returns = np.empty(window)
    for i in range(window):
        a, b = close[n - window - 1 + i], close[n - window + i]
        if not (a > 0.0 and b > 0.0 and math.isfinite(a + b)):
            return np.nan
        returns[i] = math.log(b / a)
        total += returns[i]
    mean = total / window
    ss = 0.0
    for i in range(window):
        ss += (returns[i] - mean) ** 2
    return math.sqrt(ss / (window - 1) * periods_per_year)


@njit(cache=True)
def skewed_vol_nb(atm_vol: float, skew: float, spot: float, strike: float) -> float:
    """vol(K) = max(atm_vol * (1 - skew * ln(K / S)), VOL_FLOOR); NaN for a bad input."""
    if not (atm_vol > 0.0 and spot > 0.0 and strike > 0.0 and math.isfinite(atm_vol + spot + strike + skew)):
        return np.nan
    return max(atm_vol * (1.0 - skew * math.log(strike / spot)), VOL_FLOOR)


@njit(cache=True, parallel=True)
def model_quotes_into_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, is_call: npt.NDArray[np.int8], atm_vol: float,
    skew: float, rate: float, div_yield: float, spread_frac: float, min_half_spread: float, out: FloatArray,
) -> None:
    """Quotes of n contracts into the rows of ``out`` (QUOTE_ROWS, n): vol, mid, bid, ask, then the mid's
    delta, gamma, theta/day, vega/1% and rho/1% (``engine.options`` conventions)."""
    for i in prange(spot.shape[0]):
        vol = skewed_vol_nb(atm_vol, skew, spot[i], strike[i])
        if math.isnan(vol) or not (t_years[i] > 0.0 and math.isfinite(t_years[i])):
            for row in range(QUOTE_ROWS):
                out[row, i] = np.nan
            continue
        price, delta, gamma, theta, vega, rho = bs_one_nb(spot[i], strike[i], t_years[i], vol, rate, div_yield,
                                                          is_call[i] != 0)
        half = max(min_half_spread, 0.5 * spread_frac * price)
        out[0, i] = vol
        out[1, i] = price
        out[2, i] = max(price - half, 0.0)
        out[3, i] = price + half
        out[4, i] = delta
        out[5, i] = gamma
        out[6, i] = theta
        out[7, i] = vega
        out[8, i] = rho


class ModelQuotes(NamedTuple):
    """Per contract, per unit of the underlying (module doc)."""

    vol: FloatArray
    mid: FloatArray
    bid: FloatArray
    ask: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray


def model_quotes(
    spot: npt.ArrayLike, strike: npt.ArrayLike, t_years: npt.ArrayLike, is_call: npt.ArrayLike, *,
    atm_vol: float, skew: float, rate: float, div_yield: float = 0.0, spread_frac: float,
    min_half_spread: float,
) -> ModelQuotes:
    """Model quotes of contracts on one underlying (arrays broadcast to one length; module doc)."""
    arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (spot, strike, t_years)),
                                 np.atleast_1d(np.asarray(is_call)))
    if arrays[0].ndim != 1:
        raise ValueError(f"contracts must be 1-D, got shape {arrays[0].shape}")
    s, k, t = (np.ascontiguousarray(a, dtype=np.float64) for a in arrays[:3])
    calls = np.ascontiguousarray(arrays[3] != 0, dtype=np.int8)
    out = np.empty((QUOTE_ROWS, s.shape[0]))
    model_quotes_into_nb(s, k, t, calls, float(atm_vol), float(skew), float(rate), float(div_yield),
                         float(spread_frac), float(min_half_spread), out)
    return ModelQuotes(*(row.copy() for row in out))
