"""One order of a signal backtest, executed exactly as ``vbt.Portfolio.from_signals`` does.

Scalar kernels used by ``engine.simulator``: turning a bar's entry/exit signals (or a stop) into an
order intent, and filling it against cash, position and short debt with fees, slippage, size
granularity and vectorbt's float tolerances. Kernels take scalars only: passing arrays to a per-cell
helper costs reference counting on every call.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SIZE_AMOUNT = 0
SIZE_VALUE = 1
SIZE_PERCENT = 2
DIR_LONG_ONLY = 0
DIR_SHORT_ONLY = 1
DIR_BOTH = 2

_REL_TOL = 1e-9  # vectorbt's tolerances for "close to" comparisons of cash and sizes
_ABS_TOL = 1e-12


@njit(cache=True)
def _is_close_nb(a: float, b: float) -> bool:
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    return a == b or abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add_nb(a: float, b: float) -> float:
    """a + b, snapped to 0 when the sum is zero within tolerance (keeps cash/positions clean)."""
    if np.sign(a) != np.sign(b):
        if _is_close_nb(abs(a), abs(b)):
            return 0.0
    elif _is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def _buy_nb(cash: float, free: float, pos: float, debt: float, size: float, price: float, fees: float,
            fixed: float, slip: float, min_size: float, gran: float, percent: float, direction: int
            ) -> tuple[float, float, float, float, float, float, float]:
    """Buy/cover -> (cash, free_cash, position, debt, filled size (0 = none), fill price, fees)."""
    none = (cash, free, pos, debt, 0.0, np.nan, 0.0)
    adj_price = price * (1.0 + slip)
    limit = cash if np.isnan(percent) else min(cash, percent * cash)
    if (direction != DIR_SHORT_ONLY and limit == 0.0) or (direction == DIR_SHORT_ONLY and pos == 0.0):
        return none
    adj_size = min(-pos, size) if direction == DIR_SHORT_ONLY else size
    if adj_size == 0.0:
        return none
    if not np.isnan(gran):
        adj_size = adj_size // gran * gran
    req_cash = adj_size * adj_price
    req_fees = req_cash * fees + fixed
    if _is_close_nb(req_cash + req_fees, limit) or req_cash + req_fees < limit:
        final_size, fees_paid, final_req = adj_size, req_fees, req_cash + req_fees
    else:  # not enough cash: buy what the cash covers after fees
        max_req = _add_nb(limit, -fixed) / (1.0 + fees)
        if max_req <= 0.0:
            return none
        final_size = max_req / adj_price
        fees_paid, final_req = limit - max_req, limit
        if not np.isnan(gran):
            final_size = final_size // gran * gran
            fees_paid = final_size * adj_price * fees + fixed
            final_req = final_size * adj_price + fees_paid
    if _is_close_nb(adj_size, 0.0) or (final_size < min_size and not _is_close_nb(final_size, min_size)):
        return none
    new_pos = _add_nb(pos, final_size)
    new_debt, new_free = debt, _add_nb(free, -final_req)
    if pos < 0.0:  # covering releases the short's debt
        diff = (final_size if new_pos < 0.0 else -pos) * (debt / -pos)
        new_debt, new_free = _add_nb(debt, -diff), _add_nb(free + 2.0 * diff, -final_req)
    return _add_nb(cash, -final_req), new_free, new_pos, new_debt, final_size, adj_price, fees_paid


@njit(cache=True)
def _sell_nb(cash: float, free: float, pos: float, debt: float, size: float, price: float, fees: float,
             fixed: float, slip: float, min_size: float, gran: float, percent: float, direction: int
             ) -> tuple[float, float, float, float, float, float, float]:
    """Sell/short -> (cash, free_cash, position, debt, filled size (0 = none), fill price, fees)."""
    none = (cash, free, pos, debt, 0.0, np.nan, 0.0)
    adj_price = price * (1.0 - slip)
    if direction == DIR_LONG_ONLY:
        if pos == 0.0:
            return none
        size_limit = min(pos, size)
    elif np.isinf(size) and not np.isnan(percent):  # 100%-style short: limited by free cash
        long_size = max(pos, 0.0)
        total_free = _add_nb(free, long_size * adj_price * (1.0 - fees))
        if total_free <= 0.0:
            if pos <= 0.0:
                return none
            size_limit = long_size
        else:
            size_limit = _add_nb(long_size, _add_nb(total_free, -fixed) / (adj_price * (1.0 + fees)))
            if size_limit <= 0.0:
                return none
    else:
        size_limit = size
    if not np.isnan(percent):
        size_limit = percent * size_limit
    if not np.isnan(gran):
        size_limit = size_limit // gran * gran
    if _is_close_nb(size_limit, 0.0) or (size_limit < min_size and not _is_close_nb(size_limit, min_size)):
        return none
    acq = size_limit * adj_price
    fees_paid = acq * fees + fixed
    final_acq = _add_nb(acq, -fees_paid)
    if final_acq < 0.0:
        return none
    new_pos = _add_nb(pos, -size_limit)
    new_debt, new_free = debt, free + final_acq
    if new_pos < 0.0:
        short_value = (size_limit if pos < 0.0 else -new_pos) * adj_price
        new_debt, new_free = debt + short_value, _add_nb(free, _add_nb(final_acq, -2.0 * short_value))
    return cash + final_acq, new_free, new_pos, new_debt, size_limit, adj_price, fees_paid


@njit(cache=True)
def _snap_nb(x: float) -> float:
    return 0.0 if _is_close_nb(x, 0.0) else x


@njit(cache=True)
def execute_order_nb(cash: float, free: float, pos: float, debt: float, size: float, size_type: int,
                     direction: int, price: float, val_price: float, slip: float, fees: float, fixed: float,
                     min_size: float, gran: float) -> tuple[float, float, float, float, float, float, float]:
    """One order of signed ``size`` (+ buy) -> (cash, free_cash, position, debt, size, price, fees)."""
    cash, free, pos, debt = _snap_nb(cash), _snap_nb(free), _snap_nb(pos), _snap_nb(debt)
    if size_type == SIZE_VALUE:
        size, size_type = size / val_price, SIZE_AMOUNT
    percent = np.nan
    if size_type == SIZE_AMOUNT and direction != DIR_LONG_ONLY and size < 0.0 and np.isinf(size):
        percent = 1.0  # an infinite short means 100% of the free cash
    elif size_type == SIZE_PERCENT:
        percent, size = abs(size), np.sign(size) * np.inf
    if size > 0.0:
        return _buy_nb(cash, free, pos, debt, size, price, fees, fixed, slip, min_size, gran, percent, direction)
    return _sell_nb(cash, free, pos, debt, -size, price, fees, fixed, slip, min_size, gran, percent, direction)


@njit(cache=True)
def signal_order_nb(pos: float, entry: bool, exit_: bool, direction: int, size: float, size_type: int,
                    val_price: float) -> tuple[float, int, int]:
    """Signals -> (signed order size, size type, order direction); size 0 = no order."""
    le = entry and direction != DIR_SHORT_ONLY
    lx = exit_ and direction == DIR_LONG_ONLY
    se = (entry and direction == DIR_SHORT_ONLY) or (exit_ and direction == DIR_BOTH)
    sx = exit_ and direction == DIR_SHORT_ONLY
    if (le and (lx or se)) or (se and sx):  # conflicting signals on one bar are ignored
        return 0.0, size_type, DIR_BOTH
    extra = size / val_price if size_type == SIZE_VALUE else size
    if pos > 0.0:
        if se:
            return -pos - extra, SIZE_AMOUNT, DIR_BOTH
        if lx:
            return -pos, SIZE_AMOUNT, DIR_LONG_ONLY
    elif pos < 0.0:
        if le:
            return -pos + extra, SIZE_AMOUNT, DIR_BOTH
        if sx:
            return -pos, SIZE_AMOUNT, DIR_SHORT_ONLY
    elif le:
        return size, size_type, DIR_BOTH
    elif se:
        return -size, size_type, DIR_BOTH
    return 0.0, size_type, DIR_BOTH


@njit(cache=True)
def stop_exit_price_nb(pos: float, entry_price: float, sl: float, tp: float, o: float, h: float,
                       lo: float) -> float:
    """Stop-loss (checked first) or take-profit exit price on one bar; NaN if neither triggers."""
    side = 1.0 if pos > 0.0 else -1.0
    for k in range(2):
        frac = sl if k == 0 else tp
        if pos == 0.0 or np.isnan(frac):
            continue
        below = (k == 0) == (side > 0.0)  # long stop-loss / short take-profit sit below the entry
        level = entry_price * (1.0 - frac) if below else entry_price * (1.0 + frac)
        if (below and o <= level) or (not below and level <= o):
            return o
        if lo <= level <= h:
            return level
    return np.nan


@njit(cache=True)
def _intent_nb(pos: float, entry_px: float, c: float, o: float, h: float, lo: float, entry: bool, exit_: bool,
               direction: int, size: float, size_type: int, slip: float, sl: float, tp: float
               ) -> tuple[float, int, int, float, float]:
    """Order wanted on one bar of one symbol -> (size, size type, direction, price, slippage).

    Scalars only: passing arrays to a per-cell helper costs reference counting on every call."""
    if not np.isnan(entry_px) and pos != 0.0:
        o = o if not np.isnan(o) else c
        lo = lo if not np.isnan(lo) else min(o, c)
        h = h if not np.isnan(h) else max(o, c)
        stop = stop_exit_price_nb(pos, entry_px, sl, tp, o, h, lo)
        if not np.isnan(stop):
            return -pos, SIZE_AMOUNT, DIR_LONG_ONLY if pos > 0.0 else DIR_SHORT_ONLY, stop, 0.0
    if not (entry or exit_):
        return 0.0, size_type, DIR_BOTH, c, slip
    o_size, o_type, o_dir = signal_order_nb(pos, entry, exit_, direction, size, size_type, c)
    return o_size, o_type, o_dir, c, slip


@njit(cache=True)
def _entry_price_nb(old_pos: float, new_pos: float, entry_px: float, close: float, use_stops: bool) -> float:
    """Reference price for the stops: the close of the bar a position opened or reversed."""
    if not use_stops or new_pos == 0.0:
        return np.nan
    if old_pos == 0.0 or np.sign(new_pos) != np.sign(old_pos):
        return close
    return entry_px


@njit(cache=True)
def _sort_calls_nb(values: FloatArray, order: IntArray) -> None:
    """Stable insertion argsort of ``values`` into ``order`` (NaN last), as vectorbt's auto call sequence."""
    for k in range(order.shape[0]):
        order[k] = k
    for k in range(1, values.shape[0]):
        v, idx, m = values[k], order[k], k - 1
        while m >= 0 and (values[m] > v or np.isnan(values[m])):
            values[m + 1], order[m + 1] = values[m], order[m]
            m -= 1
        values[m + 1], order[m + 1] = v, idx


@njit(cache=True)
def _order_value_nb(size: float, size_type: int, direction: int, pos: float, val: float, cash: float,
                    free: float) -> float:
    """Approximate cash value of an order, used to run sells before buys (negative = sell)."""
    if size == 0.0:
        return 0.0
    if size_type == SIZE_AMOUNT:
        return size * val
    if size_type == SIZE_VALUE:
        return size
    if size >= 0.0:
        return size * cash
    if direction == DIR_LONG_ONLY:
        return size * pos * val
    return size * (2.0 * max(pos * val, 0.0) + max(free, 0.0))

