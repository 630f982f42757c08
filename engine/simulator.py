"""Vectorised signal backtest over many symbols x bars, matching ``vbt.Portfolio.from_signals``.

Conventions (vectorbt's defaults, so results can be checked against it to float precision):
- arrays are (n_bars, n_symbols), oldest bar first; an order on a signal bar executes at that bar's
  close adjusted by slippage: buys pay close*(1+slippage), sells receive close*(1-slippage);
- fees per order = fees * size * fill_price + fixed_fees, paid from cash;
- an entry while already in a position is ignored (no accumulation); an entry and an exit on the same
  bar cancel out; with ``direction="both"`` an exit signal is a short entry and an opposite entry
  reverses the position in one order; ``direction="shortonly"`` treats entries as short entries;
- size_type "amount" = units, "value" = cash value / close, "percent" = fraction of the available cash
  (vectorbt semantics, not of equity; not allowed with direction "both"); size=inf = all cash;
- a buy larger than the cash allows is shrunk to what cash (after fees) buys; sizes below
  ``min_size`` are rejected; ``size_granularity`` rounds sizes down (e.g. 1.0 = whole shares);
- with ``cash_sharing`` all symbols trade one cash balance, processed per bar in column order, or
  sells first (``call_seq="auto"``: sorted by approximate order value); otherwise each symbol is a
  separate portfolio with ``init_cash`` of its own (run in parallel over symbols);
- optional stop-loss / take-profit (fractions from the entry bar's close) are checked from the bar
  after the entry on open/high/low: a gap through a level exits at the open, a touch at the level,
  stop-loss first (it wins a bar that touches both), without slippage; a stop exit replaces the
  bar's signals. This follows vectorbt (``stop_exit_price="stoplimit"``), which differs from
  ``engine.fills.bracket_exit_nb`` only when the open gaps beyond the target and the low touches the stop;
- a NaN close is a bar without trading; positions are valued at the last valid close.
Order records: side +1 buy / -1 sell, size > 0, in execution order (bar-major with cash sharing,
symbol-major without, as vectorbt).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from engine.fills import BUY, SELL

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SIZE_AMOUNT = 0
SIZE_VALUE = 1
SIZE_PERCENT = 2
DIR_LONG_ONLY = 0
DIR_SHORT_ONLY = 1
DIR_BOTH = 2

_SIZE_TYPES = {"amount": SIZE_AMOUNT, "value": SIZE_VALUE, "percent": SIZE_PERCENT}
_DIRECTIONS = {"longonly": DIR_LONG_ONLY, "shortonly": DIR_SHORT_ONLY, "both": DIR_BOTH}
_REL_TOL = 1e-9  # vectorbt's tolerances for "close to" comparisons of cash and sizes
_ABS_TOL = 1e-12
_BLOCK = 32  # symbols per parallel task: one cache line of each row of close per 8 symbols


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
    if direction != DIR_SHORT_ONLY and limit == 0.0 or direction == DIR_SHORT_ONLY and pos == 0.0:
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
    if le and (lx or se) or se and sx:  # conflicting signals on one bar are ignored
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


@njit(cache=True)
def simulate_shared_nb(close: FloatArray, open_: FloatArray, high: FloatArray, low: FloatArray,
                       entries: BoolArray, exits: BoolArray, direction: int, size: float, size_type: int,
                       fees: float, fixed: float, slip: float, min_size: float, gran: float,
                       init_cash: float, sl: float, tp: float, auto_call_seq: bool, equity: FloatArray,
                       cash_out: FloatArray, positions: FloatArray, o_int: IntArray, o_flt: FloatArray) -> int:
    """One portfolio over all symbols; fills equity (n), cash (n), positions (n, m), order ints
    (bar, symbol, side) and order floats (size, price, fees) (rows >= n*m); returns the order count."""
    n, m = close.shape
    pos, debt, val, entry_px = np.zeros(m), np.zeros(m), np.full(m, np.nan), np.full(m, np.nan)
    w_size, w_price, w_slip = np.zeros(m), np.zeros(m), np.zeros(m)
    w_type, w_dir, order = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64), np.arange(m)
    tmp = np.zeros(m)
    use_stops = not (np.isnan(sl) and np.isnan(tp))
    cash, free, n_orders = init_cash, init_cash, 0
    for i in range(n):
        for j in range(m):
            w_size[j] = 0.0
            if not np.isnan(close[i, j]):
                val[j] = close[i, j]
            if not np.isnan(close[i, j]) and (entries[i, j] or exits[i, j] or (use_stops and pos[j] != 0.0)):
                w_size[j], w_type[j], w_dir[j], w_price[j], w_slip[j] = _intent_nb(
                    pos[j], entry_px[j], close[i, j], open_[i, j], high[i, j], low[i, j], entries[i, j],
                    exits[i, j], direction, size, size_type, slip, sl, tp)
            if auto_call_seq:
                tmp[j] = _order_value_nb(w_size[j], w_type[j], w_dir[j], pos[j], val[j], cash, free)
        if auto_call_seq:
            _sort_calls_nb(tmp, order)
        for k in range(m):
            j = order[k]
            if w_size[j] != 0.0:
                old = pos[j]
                cash, free, pos[j], debt[j], f_size, f_price, f_fees = execute_order_nb(
                    cash, free, pos[j], debt[j], w_size[j], w_type[j], w_dir[j], w_price[j], val[j], w_slip[j],
                    fees, fixed, min_size, gran)
                if f_size > 0.0:
                    o_int[n_orders, 0], o_int[n_orders, 1] = i, j
                    o_int[n_orders, 2] = BUY if pos[j] > old else SELL
                    o_flt[n_orders, 0], o_flt[n_orders, 1], o_flt[n_orders, 2] = f_size, f_price, f_fees
                    n_orders += 1
                    entry_px[j] = _entry_price_nb(old, pos[j], entry_px[j], close[i, j], use_stops)
        value = cash
        for j in range(m):
            positions[i, j] = pos[j]
            if pos[j] != 0.0:
                value += pos[j] * val[j]
        equity[i], cash_out[i] = value, cash
    return n_orders


@njit(cache=True)
def _independent_block_nb(close: FloatArray, open_: FloatArray, high: FloatArray, low: FloatArray,
                          entries: BoolArray, exits: BoolArray, direction: int, size: float, size_type: int,
                          fees: float, fixed: float, slip: float, min_size: float, gran: float,
                          init_cash: float, sl: float, tp: float, value: FloatArray, cash_out: FloatArray,
                          positions: FloatArray, o_int: IntArray, o_flt: FloatArray, counts: IntArray,
                          final: FloatArray, j0: int, j1: int) -> None:
    """Symbols j0..j1-1 as separate portfolios, bar by bar (row-major reads stay in cache); adds
    the block's value and cash of each bar into ``value`` and ``cash_out`` (n,)."""
    n = close.shape[0]
    w = j1 - j0
    cash, free, pos, debt = np.full(w, init_cash), np.full(w, init_cash), np.zeros(w), np.zeros(w)
    val, entry_px, r = np.full(w, np.nan), np.full(w, np.nan), j0 * n  # block's orders packed densely
    use_stops = not (np.isnan(sl) and np.isnan(tp))
    for i in range(n):
        bar_cash, bar_value = 0.0, 0.0
        for b in range(w):
            j = j0 + b
            c = close[i, j]
            if not np.isnan(c):
                val[b] = c
            if not np.isnan(c) and (entries[i, j] or exits[i, j] or (use_stops and pos[b] != 0.0)):
                w_size, w_type, w_dir, w_price, w_slip = _intent_nb(
                    pos[b], entry_px[b], c, open_[i, j], high[i, j], low[i, j], entries[i, j], exits[i, j],
                    direction, size, size_type, slip, sl, tp)
                if w_size != 0.0:
                    old = pos[b]
                    cash[b], free[b], pos[b], debt[b], f_size, f_price, f_fees = execute_order_nb(
                        cash[b], free[b], old, debt[b], w_size, w_type, w_dir, w_price, c, w_slip, fees,
                        fixed, min_size, gran)
                    if f_size > 0.0:
                        o_int[r, 0], o_int[r, 1], o_int[r, 2] = i, j, BUY if pos[b] > old else SELL
                        o_flt[r, 0], o_flt[r, 1], o_flt[r, 2] = f_size, f_price, f_fees
                        r += 1
                        counts[j] += 1
                        entry_px[b] = _entry_price_nb(old, pos[b], entry_px[b], c, use_stops)
            positions[i, j] = pos[b]
            bar_cash += cash[b]
            bar_value += cash[b] + pos[b] * val[b] if pos[b] != 0.0 else cash[b]
        value[i] += bar_value
        cash_out[i] += bar_cash
    for b in range(w):
        final[j0 + b] = cash[b] + pos[b] * val[b] if pos[b] != 0.0 else cash[b]


@njit(cache=True, parallel=True)
def simulate_independent_nb(close: FloatArray, open_: FloatArray, high: FloatArray, low: FloatArray,
                            entries: BoolArray, exits: BoolArray, direction: int, size: float,
                            size_type: int, fees: float, fixed: float, slip: float, min_size: float,
                            gran: float, init_cash: float, sl: float, tp: float, value: FloatArray,
                            cash_out: FloatArray, positions: FloatArray, o_int: IntArray, o_flt: FloatArray,
                            counts: IntArray, final: FloatArray) -> None:
    """One portfolio per symbol, blocks of symbols in parallel; fills total value and cash (n_blocks, n),
    positions (n, m), the order rows (block k's from row k*_BLOCK*n_bars on, bar-major), order counts
    per symbol (zeroed by the caller) and each symbol's final value."""
    m = close.shape[1]
    for k in prange(value.shape[0]):
        value[k, :] = 0.0
        cash_out[k, :] = 0.0
        _independent_block_nb(close, open_, high, low, entries, exits, direction, size, size_type, fees,
                              fixed, slip, min_size, gran, init_cash, sl, tp, value[k], cash_out[k],
                              positions, o_int, o_flt, counts, final, k * _BLOCK, min(m, (k + 1) * _BLOCK))


@njit(cache=True)
def _compact_orders_nb(o_int: IntArray, o_flt: FloatArray, counts: IntArray, n: int
                       ) -> tuple[IntArray, FloatArray]:
    """Gather the blocks' order rows into symbol-major, bar-ordered records (vectorbt's order)."""
    m = counts.shape[0]
    start = np.zeros(m + 1, dtype=np.int64)
    for j in range(m):
        start[j + 1] = start[j] + counts[j]
    out_i, out_f = np.empty((start[m], 3), dtype=np.int64), np.empty((start[m], 3))
    for j0 in range(0, m, _BLOCK):
        j1 = min(m, j0 + _BLOCK)
        for r in range(j0 * n, j0 * n + start[j1] - start[j0]):
            j = o_int[r, 1]
            out_i[start[j]], out_f[start[j]] = o_int[r], o_flt[r]
            start[j] += 1
    return out_i, out_f


@njit(cache=True)
def portfolio_values_nb(close: FloatArray, positions: FloatArray, o_int: IntArray, o_flt: FloatArray,
                        init_cash: float, cash_sharing: bool) -> FloatArray:
    """Value of each portfolio per bar (n, 1 or n_symbols) rebuilt from positions and order cash flows,
    valuing positions at the last valid close (vectorbt's ``pf.value()``)."""
    n, m = close.shape
    g = 1 if cash_sharing else m
    flow = np.zeros((n, g))
    for r in range(o_int.shape[0]):
        sign = -1.0 if o_int[r, 2] == BUY else 1.0
        flow[o_int[r, 0], 0 if cash_sharing else o_int[r, 1]] += sign * o_flt[r, 0] * o_flt[r, 1] - o_flt[r, 2]
    out = np.empty((n, g))
    cash, val = np.full(g, init_cash), np.full(m, np.nan)
    for i in range(n):
        for k in range(g):
            cash[k] += flow[i, k]
            out[i, k] = cash[k]
        for j in range(m):
            if not np.isnan(close[i, j]):
                val[j] = close[i, j]
            if positions[i, j] != 0.0:
                out[i, 0 if cash_sharing else j] += positions[i, j] * val[j]
    return out


class OrderRecords(NamedTuple):
    """Filled orders, one row each: bar index, symbol column, side (+1 buy / -1 sell), size (> 0),
    fill price (after slippage) and fees paid."""

    bar: IntArray
    symbol: IntArray
    side: IntArray
    size: FloatArray
    price: FloatArray
    fees: FloatArray


class BacktestResult(NamedTuple):
    """equity / cash: total value and cash per bar (summed over the per-symbol portfolios without cash
    sharing); positions: signed units held at each bar's end; final_value: last value of each
    portfolio (1 with cash sharing, n_symbols without). Per-portfolio value curves:
    ``portfolio_values_nb``."""

    equity: FloatArray
    cash: FloatArray
    positions: FloatArray
    final_value: FloatArray
    orders: OrderRecords


def _as_2d(name: str, x: object, shape: tuple[int, ...], dtype: type) -> npt.NDArray[np.generic]:
    arr = np.ascontiguousarray(np.asarray(x, dtype=dtype))
    if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; pass an array shaped like close {shape}.")
    return arr


def simulate_signals(
    close: npt.ArrayLike,
    entries: npt.ArrayLike,
    exits: npt.ArrayLike,
    *,
    size: float = np.inf,
    size_type: Literal["amount", "value", "percent"] = "amount",
    direction: Literal["longonly", "shortonly", "both"] = "longonly",
    fees: float = 0.0,
    fixed_fees: float = 0.0,
    slippage: float = 0.0,
    init_cash: float = 100.0,
    cash_sharing: bool = False,
    call_seq: Literal["default", "auto"] = "default",
    min_size: float = 1e-8,
    size_granularity: float = math.nan,
    sl_stop: float = math.nan,
    tp_stop: float = math.nan,
    open_: npt.ArrayLike | None = None,
    high: npt.ArrayLike | None = None,
    low: npt.ArrayLike | None = None,
) -> BacktestResult:
    """Backtest entry/exit signals; arguments mean what they mean in ``vbt.Portfolio.from_signals``
    (``open_`` is its ``open``). Stops need open/high/low (missing ones fall back to the close)."""
    c = np.asarray(close, dtype=np.float64)
    c = np.ascontiguousarray(c.reshape(-1, 1) if c.ndim == 1 else c)
    if c.ndim != 2:
        raise ValueError("close must be 1-D or 2-D (n_bars, n_symbols).")
    ent, ex = (_as_2d(k, v, c.shape, np.bool_) for k, v in (("entries", entries), ("exits", exits)))
    o, h, lo = (c if v is None else _as_2d(k, v, c.shape, np.float64)
                for k, v in (("open_", open_), ("high", high), ("low", low)))
    if size_type not in _SIZE_TYPES or direction not in _DIRECTIONS or call_seq not in ("default", "auto"):
        raise ValueError("size_type must be amount/value/percent, direction longonly/shortonly/both, "
                         "call_seq default/auto.")
    st, dr = _SIZE_TYPES[size_type], _DIRECTIONS[direction]
    if st == SIZE_PERCENT and dr == DIR_BOTH:
        raise ValueError("size_type='percent' cannot reverse positions; use 'value' or 'amount' with 'both'.")
    if not (size >= 0.0 and init_cash >= 0.0 and slippage >= 0.0 and math.isfinite(fees + fixed_fees)):
        raise ValueError("size, init_cash and slippage must be >= 0 and fees finite.")
    n, m = c.shape
    # outputs are allocated by numpy (huge pages on Linux): first-touching numba-allocated
    # 4 KiB pages costs more than the whole simulation on large panels
    positions, o_int, o_flt = np.empty((n, m)), np.empty((n * m, 3), dtype=np.int64), np.empty((n * m, 3))
    common = (c, o, h, lo, ent, ex, dr, float(size), st, float(fees), float(fixed_fees), float(slippage),
              float(min_size), float(size_granularity), float(init_cash), float(sl_stop), float(tp_stop))
    if cash_sharing:
        equity, cash = np.empty(n), np.empty(n)
        k = simulate_shared_nb(*common, call_seq == "auto", equity, cash, positions, o_int, o_flt)
        o_int, o_flt, final = o_int[:k], o_flt[:k], equity[-1:].copy()
    else:
        n_blocks = (m + _BLOCK - 1) // _BLOCK
        values, cashes = np.empty((n_blocks, n)), np.empty((n_blocks, n))
        counts, final = np.zeros(m, dtype=np.int64), np.empty(m)
        simulate_independent_nb(*common, values, cashes, positions, o_int, o_flt, counts, final)
        o_int, o_flt = _compact_orders_nb(o_int, o_flt, counts, n)
        equity, cash = values.sum(axis=0), cashes.sum(axis=0)
    orders = OrderRecords(o_int[:, 0].copy(), o_int[:, 1].copy(), o_int[:, 2].copy(),
                          o_flt[:, 0].copy(), o_flt[:, 1].copy(), o_flt[:, 2].copy())
    return BacktestResult(equity, cash, positions, final, orders)
