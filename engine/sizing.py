"""Position sizing kernels: fractional Kelly, unit conversions and risk-based size.

Units of size and how they convert (``multiplier`` = notional per unit per 1.0 of price):
- units: shares of a stock (multiplier 1) or option contracts (multiplier 100, see
  ``OPTION_CONTRACT_MULTIPLIER``: contracts x 100 x premium = dollars);
- dollars: notional = units * price * multiplier;
- pct of equity: a *fraction* of account equity (0.1 = 10%) = dollars / equity.

Signs: a negative size is a short position. Conversions to whole units round toward zero, then
to a multiple of ``lot_size`` toward zero (lot_size < 1 means 1), so |units| never buys more
than the amount asked for; a raw size within 1e-9 units below a whole unit counts as that unit
(absorbs float error such as 0.3/0.1 = 2.9999999999999996). Invalid inputs (non-positive or
non-finite price, multiplier or equity; NaN amounts) give 0 units or a NaN amount.
Unit counts are capped at ``MAX_UNITS`` (2**53) in magnitude so they stay exact in a float.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EQUITY_MULTIPLIER = 1.0
OPTION_CONTRACT_MULTIPLIER = 100.0
MAX_UNITS = 2**53
_UNIT_EPS = 1e-9


@njit(cache=True)
def kelly_fraction_nb(
    win_probability: float, reward_risk: float, kelly_multiplier: float, cap: float
) -> float:
    """Fraction of equity to risk: clamp(kelly_multiplier * (p - (1-p)/b), 0, cap).

    ``reward_risk`` b is average win / average loss; b <= 0 or NaN inputs give 0.
    """
    p = win_probability
    b = reward_risk
    if not (b > 0.0 and p >= 0.0 and p <= 1.0 and kelly_multiplier >= 0.0 and cap >= 0.0):
        return 0.0
    f = kelly_multiplier * (p - (1.0 - p) / b)
    return min(max(f, 0.0), cap)


@njit(cache=True)
def round_to_lot_nb(units: float, lot_size: int) -> int:
    """Whole units toward zero, then a multiple of ``lot_size`` toward zero (sign kept).

    NaN gives 0; magnitudes are capped at MAX_UNITS before rounding.
    """
    if math.isnan(units):
        return 0
    mag = min(abs(units), float(MAX_UNITS))
    whole = math.floor(mag + _UNIT_EPS)
    lot = max(int(lot_size), 1)
    whole = (whole // lot) * lot
    return -whole if units < 0.0 else whole


@njit(cache=True)
def _unit_notional_nb(price: float, multiplier: float) -> float:
    """Dollars per unit, or NaN when price or multiplier is not positive and finite."""
    v = price * multiplier
    if not (price > 0.0 and multiplier > 0.0 and v < np.inf):
        return np.nan
    return v


@njit(cache=True)
def dollars_for_units_nb(units: float, price: float, multiplier: float) -> float:
    """Notional dollars of a signed position: units * price * multiplier (NaN if price invalid)."""
    return units * _unit_notional_nb(price, multiplier)


@njit(cache=True)
def units_for_dollars_nb(dollars: float, price: float, multiplier: float, lot_size: int) -> int:
    """Signed whole units worth at most |dollars|: dollars / (price*multiplier) toward zero, in lots."""
    per_unit = _unit_notional_nb(price, multiplier)
    if math.isnan(per_unit):
        return 0
    return round_to_lot_nb(dollars / per_unit, lot_size)


@njit(cache=True)
def pct_equity_for_dollars_nb(dollars: float, equity: float) -> float:
    """Fraction of equity (0.1 = 10%) that ``dollars`` represents; NaN unless equity > 0 and finite."""
    if not (equity > 0.0 and equity < np.inf):
        return np.nan
    return dollars / equity


@njit(cache=True)
def dollars_for_pct_equity_nb(fraction: float, equity: float) -> float:
    """Dollars for a fraction of equity; NaN unless equity > 0 and finite."""
    if not (equity > 0.0 and equity < np.inf):
        return np.nan
    return fraction * equity


@njit(cache=True)
def units_for_pct_equity_nb(
    fraction: float, equity: float, price: float, multiplier: float, lot_size: int
) -> int:
    """Signed whole units worth at most |fraction| of equity (toward zero, in lots)."""
    dollars = dollars_for_pct_equity_nb(fraction, equity)
    if math.isnan(dollars):
        return 0
    return units_for_dollars_nb(dollars, price, multiplier, lot_size)


@njit(cache=True)
def pct_equity_for_units_nb(units: float, price: float, multiplier: float, equity: float) -> float:
    """Fraction of equity held by a signed position of ``units``."""
    return pct_equity_for_dollars_nb(dollars_for_units_nb(units, price, multiplier), equity)


@njit(cache=True)
def contracts_for_dollars_nb(dollars: float, premium: float, lot_size: int) -> int:
    """Option contracts worth at most |dollars| at ``premium`` per share: dollars / (100 * premium)."""
    return units_for_dollars_nb(dollars, premium, OPTION_CONTRACT_MULTIPLIER, lot_size)


@njit(cache=True)
def dollars_for_contracts_nb(contracts: float, premium: float) -> float:
    """Option notional: contracts x 100 x premium."""
    return dollars_for_units_nb(contracts, premium, OPTION_CONTRACT_MULTIPLIER)


@njit(cache=True)
def size_units_nb(
    equity: float, fraction: float, price: float, multiplier: float, lot_size: int, max_units: int
) -> int:
    """Whole units affordable with equity*fraction: floor(equity*fraction / (price*multiplier)),
    capped at ``max_units`` then rounded down to a multiple of ``lot_size`` (lot_size < 1 means 1).

    Returns 0 for non-positive or non-finite inputs; never negative (long-only sizing; use
    ``units_for_pct_equity_nb`` for signed sizes).
    """
    if not (equity > 0.0 and fraction > 0.0 and max_units >= 1):
        return 0
    per_unit = _unit_notional_nb(price, multiplier)
    if math.isnan(per_unit):
        return 0
    raw = min(equity * fraction / per_unit, float(max_units))  # cap first: no int overflow
    return round_to_lot_nb(raw, lot_size)


@njit(cache=True)
def risk_units_nb(
    equity: float,
    risk_fraction: float,
    entry: float,
    stop: float,
    multiplier: float,
    lot_size: int,
    max_units: int,
) -> int:
    """Largest whole-lot unit count with |entry - stop| * units * multiplier <= equity * risk_fraction.

    The loss at the stop stays within the risk budget whichever side the stop is on (long: stop
    below entry; short: above), so the result is a non-negative count; the caller knows the side.
    Capped at ``max_units`` before lot rounding; 0 when entry == stop or any input is invalid.
    Gaps through the stop, slippage and fees are not included.
    """
    budget = equity * risk_fraction
    if not (budget > 0.0 and budget < np.inf and max_units >= 1):
        return 0
    per_unit = _unit_notional_nb(abs(entry - stop), multiplier)
    if math.isnan(per_unit) or not (entry > 0.0 and stop >= 0.0):
        return 0
    return round_to_lot_nb(min(budget / per_unit, float(max_units)), lot_size)


@njit(cache=True)
def units_for_dollars_1d_nb(
    dollars: FloatArray, price: FloatArray, multiplier: float, lot_size: int
) -> IntArray:
    """``units_for_dollars_nb`` element-wise over equal-length arrays of dollars and prices."""
    out = np.empty(dollars.shape[0], dtype=np.int64)
    for i in range(dollars.shape[0]):
        out[i] = units_for_dollars_nb(dollars[i], price[i], multiplier, lot_size)
    return out


@njit(cache=True)
def dollars_for_units_1d_nb(units: FloatArray, price: FloatArray, multiplier: float) -> FloatArray:
    """``dollars_for_units_nb`` element-wise over equal-length arrays of units and prices."""
    out = np.empty(units.shape[0])
    for i in range(units.shape[0]):
        out[i] = dollars_for_units_nb(units[i], price[i], multiplier)
    return out


@njit(cache=True)
def risk_units_1d_nb(
    equity: float,
    risk_fraction: float,
    entry: FloatArray,
    stop: FloatArray,
    multiplier: float,
    lot_size: int,
    max_units: int,
) -> IntArray:
    """``risk_units_nb`` for many candidate trades sharing one equity and risk fraction."""
    out = np.empty(entry.shape[0], dtype=np.int64)
    for i in range(entry.shape[0]):
        out[i] = risk_units_nb(equity, risk_fraction, entry[i], stop[i], multiplier, lot_size, max_units)
    return out


class PositionSize(NamedTuple):
    """One position in every unit: signed whole units, notional dollars, fraction of equity."""

    units: int
    dollars: float
    pct_equity: float


SIZE_UNITS = ("shares", "contracts", "dollars", "pct_equity")


def size_position(
    amount: float,
    unit: str,
    price: float,
    equity: float,
    multiplier: float = EQUITY_MULTIPLIER,
    lot_size: int = 1,
) -> PositionSize:
    """Convert a signed size given in ``unit`` into whole units, dollars and fraction of equity.

    ``unit`` is "shares" (multiplier must be 1), "contracts" (options: pass multiplier 100, the
    default for contracts when ``multiplier`` is left at 1), "dollars" or "pct_equity" (a
    fraction, 0.1 = 10%). Dollars and fraction are those of the rounded units, so they may be
    smaller in magnitude than the amount asked for.
    """
    if unit not in SIZE_UNITS:
        raise ValueError(f"unit must be one of {SIZE_UNITS}, got {unit!r}.")
    if unit == "contracts" and multiplier == EQUITY_MULTIPLIER:
        multiplier = OPTION_CONTRACT_MULTIPLIER
    if unit == "shares" and multiplier != EQUITY_MULTIPLIER:
        raise ValueError("shares have multiplier 1; size options in 'contracts' instead.")
    if not (price > 0 and math.isfinite(price) and equity > 0 and math.isfinite(equity) and multiplier > 0):
        raise ValueError("price, equity and multiplier must be positive finite numbers.")
    if not math.isfinite(amount):
        raise ValueError("amount must be a finite number of the given unit.")
    p, e, m, lot = float(price), float(equity), float(multiplier), int(lot_size)
    if unit in ("shares", "contracts"):
        units = int(round_to_lot_nb(float(amount), lot))
    elif unit == "dollars":
        units = int(units_for_dollars_nb(float(amount), p, m, lot))
    else:
        units = int(units_for_pct_equity_nb(float(amount), e, p, m, lot))
    dollars = float(dollars_for_units_nb(float(units), p, m))
    return PositionSize(units, dollars, float(pct_equity_for_dollars_nb(dollars, e)))
