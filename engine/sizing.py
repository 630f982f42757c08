"""Position sizing kernels: fractional Kelly and unit sizing.

Fractions are of account equity (0.1 = 10%); prices are per unit of the underlying quote and
``multiplier`` converts units to notional (1 for equities, 100 for US equity options).
"""

from __future__ import annotations

import math

from numba import njit

# Absorbs float error in equity*fraction/(price*multiplier) (2.9999999999999996 -> 3 units).
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
def size_units_nb(
    equity: float, fraction: float, price: float, multiplier: float, lot_size: int, max_units: int
) -> int:
    """Whole units affordable with equity*fraction: floor(equity*fraction / (price*multiplier)),
    capped at ``max_units`` then rounded down to a multiple of ``lot_size`` (lot_size < 1 means 1).

    Returns 0 for non-positive or non-finite inputs; never negative.
    """
    if not (equity > 0.0 and fraction > 0.0 and price > 0.0 and multiplier > 0.0):
        return 0
    if max_units <= 0 or math.isinf(price * multiplier):
        return 0
    raw = equity * fraction / (price * multiplier)
    raw = min(raw, float(max_units))  # before the int cast, so huge budgets cannot overflow
    units = int(math.floor(raw + _UNIT_EPS))
    units = min(units, max_units)
    lot = max(lot_size, 1)
    return (units // lot) * lot
