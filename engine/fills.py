"""Fill simulation kernels: slippage, commissions and bracket (stop/target) exits on OHLC bars.

Prices are per unit; ``multiplier`` converts units to notional; slippage is in basis points
(1 bp = 0.01%) of the reference price.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

BUY = 1
SELL = -1
LONG = 1
SHORT = -1

EXIT_NONE = 0
EXIT_STOP = 1
EXIT_TARGET = 2

FloatArray = npt.NDArray[np.float64]


@njit(cache=True)
def fill_price_nb(side: int, ref_price: float, slippage_bps: float) -> float:
    """Price after slippage: buys pay ref*(1+bps/1e4), sells receive ref*(1-bps/1e4)."""
    return ref_price * (1.0 + side * slippage_bps / 10_000.0)


@njit(cache=True)
def commission_nb(
    quantity: float, price: float, multiplier: float, per_unit: float, minimum: float, max_pct_of_value: float
) -> float:
    """Broker fee: max(minimum, |quantity|*per_unit), capped at max_pct_of_value * trade value
    (|quantity|*price*multiplier); 0 for a zero quantity. Use max_pct_of_value=inf for no cap.
    """
    q = abs(quantity)
    if q == 0.0:
        return 0.0
    fee = max(minimum, q * per_unit)
    cap = max_pct_of_value * q * price * multiplier
    return min(fee, cap)


@njit(cache=True)
def _exit_on_bar_nb(
    direction: int, stop: float, target: float, o: float, h: float, lo: float
) -> tuple[float, int]:
    """Exit (price, reason) on one bar; the stop is checked first so it wins ties."""
    if direction == LONG:
        if o <= stop:
            return o, EXIT_STOP
        if o >= target:
            return o, EXIT_TARGET
        if lo <= stop:
            return stop, EXIT_STOP
        if h >= target:
            return target, EXIT_TARGET
    elif direction == SHORT:
        if o >= stop:
            return o, EXIT_STOP
        if o <= target:
            return o, EXIT_TARGET
        if h >= stop:
            return stop, EXIT_STOP
        if lo <= target:
            return target, EXIT_TARGET
    return np.nan, EXIT_NONE


@njit(cache=True)
def bracket_exit_nb(
    direction: int, stop: float, target: float, open_: FloatArray, high: FloatArray, low: FloatArray
) -> tuple[int, float, int]:
    """First bar whose range touches the stop or the target -> (bar_index, exit_price, reason).

    direction 1 = long (stop below, target above), -1 = short. A gap through a level at the open
    fills at the open; a bar touching both levels exits at the stop (conservative). A NaN level
    never triggers. Returns (-1, nan, EXIT_NONE) if no bar exits.
    """
    for i in range(open_.shape[0]):
        price, reason = _exit_on_bar_nb(direction, stop, target, open_[i], high[i], low[i])
        if reason != EXIT_NONE:
            return i, price, reason
    return -1, np.nan, EXIT_NONE
