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


# ---- Bar fill models -------------------------------------------------------------------------
# A bar fills an order from its open/high/low: a market order at the open of the bar it is sent
# on (send it on the bar after the decision: "next bar's open"; or price it yourself with
# fill_price_nb(side, reference, bps)); limit and stop orders when the range reaches the level.

ORDER_MARKET = 0
ORDER_LIMIT = 1
ORDER_STOP = 2
ORDER_STOP_LIMIT = 3

IMPACT_LINEAR = 0
IMPACT_SQRT = 1


@njit(cache=True)
def bar_fill_price_nb(
    order_type: int, side: int, limit: float, stop: float, o: float, h: float, lo: float
) -> float:
    """Price (before slippage) at which one bar fills the order, NaN if it does not.

    market: the open. limit buy: low <= limit -> min(open, limit); limit sell: high >= limit ->
    max(open, limit). stop buy: high >= stop -> max(open, stop); stop sell: low <= stop ->
    min(open, stop). stop-limit: triggers as the stop, then fills at the stop-fill price only if
    that is within the limit (a gap through the limit leaves it unfilled on this bar).
    """
    if order_type == ORDER_MARKET:
        return o
    if order_type == ORDER_LIMIT:
        if side == BUY:
            return min(o, limit) if lo <= limit else np.nan
        return max(o, limit) if h >= limit else np.nan
    if side == BUY:
        px = max(o, stop) if h >= stop else np.nan
    else:
        px = min(o, stop) if lo <= stop else np.nan
    if order_type == ORDER_STOP_LIMIT and not np.isnan(px) and side * (px - limit) > 0.0:
        return np.nan
    return px


@njit(cache=True)
def impact_bps_nb(quantity: float, bar_volume: float, fixed_bps: float, impact_bps: float, model: int) -> float:
    """Slippage in bps: fixed_bps + impact_bps * participation (IMPACT_LINEAR) or
    * sqrt(participation) (IMPACT_SQRT), participation = |quantity| / bar_volume (inf-safe: a bar with
    no volume gives fixed_bps + impact_bps)."""
    if bar_volume > 0.0:
        part = abs(quantity) / bar_volume
    else:
        part = 1.0
    return fixed_bps + impact_bps * (np.sqrt(part) if model == IMPACT_SQRT else part)


@njit(cache=True)
def fee_nb(
    quantity: float, price: float, multiplier: float, per_unit: float, minimum: float,
    max_pct_of_value: float, pct_fee: float,
) -> float:
    """commission_nb (per unit, minimum, cap) plus pct_fee * trade value; 0 for a zero quantity."""
    value = abs(quantity) * price * multiplier
    return commission_nb(quantity, price, multiplier, per_unit, minimum, max_pct_of_value) + pct_fee * value


@njit(cache=True)
def fillable_qty_nb(remaining: float, bar_volume: float, max_participation: float) -> float:
    """Units a bar can fill: min(remaining, max_participation * bar_volume) (never negative).
    The rest stays working on later bars until the order expires (see engine.tactics)."""
    cap = max_participation * bar_volume
    if not cap > 0.0:
        return 0.0
    return max(min(remaining, cap), 0.0)
