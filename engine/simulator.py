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
  separate portfolio with ``init_cash`` of its own (blocks of symbols run in parallel);
- optional stop-loss / take-profit (fractions from the entry bar's close) are checked from the bar
  after the entry on open/high/low: a gap through a level exits at the open, a touch at the level,
  stop-loss first (it wins a bar that touches both), without slippage; a stop exit replaces the
  bar's signals. This follows vectorbt (``stop_exit_price="stoplimit"``), which differs from
  ``engine.fills.bracket_exit_nb`` only when the open gaps beyond the target and the low touches the stop;
- a NaN close is a bar without trading; positions are valued at the last valid close.
Order records: side +1 buy / -1 sell, size > 0, in execution order (bar-major with cash sharing,
symbol-major without, as vectorbt). Order execution itself lives in ``engine.signal_orders``.

Speed: a first pass finds the cells holding a signal (``engine.signal_cells``); without stops a
symbol's state only changes on those cells, so a bar costs one branch-free mark-to-market pass over its
closes plus the work of its few signals. Positions per bar are optional (``positions_from_orders``).
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from engine.fills import BUY, SELL
from engine.signal_cells import signal_cells
from engine.signal_orders import (
    DIR_BOTH,
    DIR_LONG_ONLY,
    DIR_SHORT_ONLY,
    SIZE_AMOUNT,
    SIZE_PERCENT,
    SIZE_VALUE,
    _add_nb,
    _entry_price_nb,
    _intent_nb,
    _order_value_nb,
    _sort_calls_nb,
    execute_order_nb,
)

__all__ = ["BacktestResult", "OrderRecords", "portfolio_values_nb", "positions_from_orders", "signal_cells",
           "simulate_signals"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_SIZE_TYPES = {"amount": SIZE_AMOUNT, "value": SIZE_VALUE, "percent": SIZE_PERCENT}
_DIRECTIONS = {"longonly": DIR_LONG_ONLY, "shortonly": DIR_SHORT_ONLY, "both": DIR_BOTH}
# rows of the per-symbol state array (cash and free cash use column 0 only with cash sharing)
_CASH, _FREE, _POS, _DEBT, _VAL, _ENTRY = 0, 1, 2, 3, 4, 5
# order parameters, packed in one float array
P_SIZE, P_FEES, P_FIXED, P_SLIP, P_MIN, P_GRAN, P_SL, P_TP = 0, 1, 2, 3, 4, 5, 6, 7
_FAST = {"reassoc", "nsz", "contract"}  # lets the valuation sum vectorise; NaN tests stay exact


@njit(cache=True)
def _stop_candidates_nb(i: int, j0: int, close: FloatArray, entries: BoolArray, exits: BoolArray,
                        pos: FloatArray, act: IntArray) -> int:
    """With stops: symbols j0.. with a signal or an open position on bar i into ``act``, coded
    4 * (column - j0) + entry + 2 * exit; returns their number."""
    k = 0
    for b in range(pos.shape[0]):
        j = j0 + b
        if not np.isnan(close[i, j]) and (entries[i, j] or exits[i, j] or pos[b] != 0.0):
            act[k] = 4 * b + entries[i, j] + 2 * exits[i, j]
            k += 1
    return k


@njit(cache=True)
def _call_sequence_nb(i: int, j0: int, k: int, act: IntArray, close: FloatArray, open_: FloatArray,
                      high: FloatArray, low: FloatArray, st: FloatArray, wk: FloatArray, seq: IntArray,
                      prm: FloatArray, direction: int, size_type: int) -> None:
    """Cash sharing, ``call_seq="auto"``: bar i's intents for act[:k] into ``wk`` and their execution order
    (sells first, by approximate order value) into ``seq``."""
    for t in range(k):
        b = act[t] >> 2
        j = j0 + b
        wk[0, t], typ, drn, wk[3, t], wk[4, t] = _intent_nb(
            st[_POS, b], st[_ENTRY, b], close[i, j], open_[i, j], high[i, j], low[i, j], act[t] & 1 != 0,
            act[t] & 2 != 0, direction, prm[P_SIZE], size_type, prm[P_SLIP], prm[P_SL], prm[P_TP])
        wk[1, t], wk[2, t], seq[t] = typ, drn, t
        wk[5, t] = _order_value_nb(wk[0, t], typ, drn, st[_POS, b], close[i, j], st[_CASH, 0], st[_FREE, 0])
    _sort_calls_nb(wk[5, :k], seq[:k])


# One body on purpose: per-bar helper calls taking arrays cost reference counting that outweighed the
# work on a bar. fastmath reaches only this body's own sums (the valuation); order arithmetic is apart.
@njit(cache=True, fastmath=_FAST)
def _run_block_nb(close: FloatArray, open_: FloatArray, high: FloatArray, low: FloatArray, entries: BoolArray,
                  exits: BoolArray, cells: IntArray, prm: FloatArray, direction: int, size_type: int,
                  init_cash: float, shared: bool, auto: bool, j0: int, j1: int, equity: FloatArray,
                  cash_out: FloatArray, positions: FloatArray, o_int: IntArray, o_flt: FloatArray,
                  slot: IntArray, final: FloatArray) -> None:
    """Symbols j0..j1-1 as one cash-shared portfolio or one portfolio each: fills the block's value and
    cash per bar (unless ``equity`` is empty: final values only), positions (if sized (n, m)), the order
    records (bar-major) from column slot[0] on, which it advances, and the final value of each portfolio
    (final[j0 + b] per symbol; final[j0] with cash sharing)."""
    n, m, w = close.shape[0], close.shape[1], j1 - j0
    st = np.zeros((6, w))  # val starts at 0: a flat position is worth 0 before the first valid close
    st[_CASH], st[_FREE], st[_ENTRY] = init_cash, init_cash, np.nan
    wk, seq, act = np.empty((6, w)), np.empty(w, dtype=np.int64), np.empty(w, dtype=np.int64)
    use_stops = not (np.isnan(prm[P_SL]) and np.isnan(prm[P_TP]))
    pos, val = st[_POS], st[_VAL]
    cash, ptr, i, synced = init_cash if shared else init_cash * w, 0, 0, -1
    curve = equity.shape[0] > 0
    while i < n:  # value the bars up to the next one with a signal (every bar with stops), then trade it
        nxt = i if use_stops else n if ptr == cells.shape[0] else (cells[ptr] >> 2) // m
        for r in range(i, min(nxt + 1, n) if curve else i):
            s = 0.0
            for b in range(w):  # branch-free, so that it vectorises
                s += pos[b] * close[r, j0 + b]
            if s != s:  # a NaN close (even x 0): use the last valid ones (``val``, current to ``synced``)
                val[:] = close[r - 1, j0:j1] if synced < r - 1 else val
                s, synced = 0.0, r
                for b in range(w):
                    val[b] = close[r, j0 + b] if close[r, j0 + b] == close[r, j0 + b] else val[b]
                    s += pos[b] * val[b]
            equity[r], cash_out[r] = cash + s, cash
            if positions.shape[0] > 0:
                positions[r, j0:j1] = pos
        if nxt == n:
            break
        k = _stop_candidates_nb(nxt, j0, close, entries, exits, pos, act) if use_stops else 0
        while ptr < cells.shape[0] and cells[ptr] < 4 * (nxt + 1) * m:
            j = (cells[ptr] >> 2) - nxt * m
            if not use_stops and j0 <= j < j1 and not np.isnan(close[nxt, j]):
                act[k], k = 4 * (j - j0) + (cells[ptr] & 3), k + 1
            ptr += 1
        sorted_, cash0, d_value = auto and k > 1, cash, 0.0
        if sorted_:
            _call_sequence_nb(nxt, j0, k, act, close, open_, high, low, st, wk, seq, prm, direction,
                              size_type)
        for u in range(k):
            t = seq[u] if sorted_ else u
            b = act[t] >> 2
            j, g, c = j0 + b, 0 if shared else b, close[nxt, j0 + b]
            if sorted_:
                size, typ, drn, price, slip = wk[0, t], int(wk[1, t]), int(wk[2, t]), wk[3, t], wk[4, t]
            else:  # an intent depends on its own symbol only: compute it right before its order
                size, typ, drn, price, slip = _intent_nb(
                    pos[b], st[_ENTRY, b], c, open_[nxt, j], high[nxt, j], low[nxt, j], act[t] & 1 != 0,
                    act[t] & 2 != 0, direction, prm[P_SIZE], size_type, prm[P_SLIP], prm[P_SL], prm[P_TP])
            if size == 0.0:
                continue
            old_pos, old_cash = pos[b], st[_CASH, g]
            st[_CASH, g], st[_FREE, g], pos[b], st[_DEBT, b], f_size, f_price, f_fees = execute_order_nb(
                old_cash, st[_FREE, g], old_pos, st[_DEBT, b], size, typ, drn, price, c, slip, prm[P_FEES],
                prm[P_FIXED], prm[P_MIN], prm[P_GRAN])
            cash, d_value = cash + st[_CASH, g] - old_cash, d_value + (pos[b] - old_pos) * c
            if f_size > 0.0:
                r = slot[0]
                o_int[0, r], o_int[1, r], o_int[2, r] = nxt, j, BUY if pos[b] > old_pos else SELL
                o_flt[0, r], o_flt[1, r], o_flt[2, r] = f_size, f_price, f_fees
                slot[0] = r + 1
                st[_ENTRY, b] = _entry_price_nb(old_pos, pos[b], st[_ENTRY, b], c, use_stops)
        cash = st[_CASH, 0] if shared else cash
        if curve:
            equity[nxt], cash_out[nxt] = cash + (equity[nxt] - cash0) + d_value, cash
        if positions.shape[0] > 0:
            positions[nxt, j0:j1] = pos
        i = nxt + 1
    _final_values_nb(close, j0, pos, st[_CASH], shared, final)


@njit(cache=True)
def _final_values_nb(close: FloatArray, j0: int, pos: FloatArray, cash: FloatArray, shared: bool,
                     final: FloatArray) -> None:
    """Cash plus the positions at each symbol's last valid close (a flat position adds nothing)."""
    total = cash[0]
    for b in range(pos.shape[0]):
        held = 0.0
        if pos[b] != 0.0:
            r = close.shape[0] - 1
            while r > 0 and close[r, j0 + b] != close[r, j0 + b]:
                r -= 1
            held = pos[b] * close[r, j0 + b]
        final[j0 + b] = cash[b] + held
        total += held
    if shared:
        final[j0] = total


@njit(cache=True)
def _symbol_major_nb(o_int: IntArray, o_flt: FloatArray, r0: int, r1: int, j0: int, w: int, out_i: IntArray,
                     out_f: FloatArray, d0: int) -> None:
    """Order columns r0..r1-1 (bar-major, symbols j0..j0+w-1) into out_* from column d0, symbol-major
    and in bar order per symbol (vectorbt's order); one field at a time keeps the writes in cache."""
    first = np.zeros(w + 1, dtype=np.int64)
    for r in range(r0, r1):
        first[o_int[1, r] - j0 + 1] += 1
    first[0] = d0
    for b in range(w):
        first[b + 1] += first[b]
    for f in range(3):
        at = first[:w].copy()
        for r in range(r0, r1):
            b = o_int[1, r] - j0
            out_i[f, at[b]], out_f[f, at[b]] = o_int[f, r], o_flt[f, r]
            at[b] += 1


@njit(cache=True, parallel=True)
def _run_blocks_nb(close: FloatArray, open_: FloatArray, high: FloatArray, low: FloatArray,
                   entries: BoolArray, exits: BoolArray, cells: IntArray, prm: FloatArray, direction: int,
                   size_type: int, init_cash: float, equity: FloatArray, cash_out: FloatArray, positions: FloatArray,
                   o_int: IntArray, o_flt: FloatArray, final: FloatArray) -> tuple[IntArray, FloatArray]:
    """One portfolio per symbol: blocks of symbols in parallel, block k filling row k of equity and cash
    (n_blocks, n) and its orders from column k * (capacity / n_blocks); -> symbol-major order records."""
    n_blocks, m = equity.shape[0], close.shape[1]
    cap, slot = o_int.shape[1] // n_blocks, np.zeros(n_blocks, dtype=np.int64)
    for k in prange(n_blocks):
        slot[k] = k * cap
        _run_block_nb(close, open_, high, low, entries, exits, cells, prm, direction, size_type, init_cash,
                      False, False, k * m // n_blocks, (k + 1) * m // n_blocks, equity[k], cash_out[k],
                      positions, o_int, o_flt, slot[k:k + 1], final)
    start = np.zeros(n_blocks + 1, dtype=np.int64)
    for k in range(n_blocks):
        start[k + 1] = start[k] + slot[k] - k * cap
    out_i, out_f = np.empty((3, start[n_blocks]), dtype=np.int64), np.empty((3, start[n_blocks]))
    for k in prange(n_blocks):
        j0 = k * m // n_blocks
        j1 = (k + 1) * m // n_blocks
        _symbol_major_nb(o_int, o_flt, k * cap, slot[k], j0, j1 - j0, out_i, out_f, start[k])
    return out_i, out_f


@njit(cache=True)
def portfolio_values_nb(close: FloatArray, positions: FloatArray, o_int: IntArray, o_flt: FloatArray,
                        init_cash: float, cash_sharing: bool) -> FloatArray:
    """Value of each portfolio per bar (n, 1 or n_symbols) rebuilt from positions and order cash flows
    (o_int rows: bar, symbol, side; o_flt rows: size, price, fees), valuing positions at the last valid
    close (vectorbt's ``pf.value()``)."""
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


@njit(cache=True)
def positions_from_orders_nb(bar: IntArray, symbol: IntArray, side: IntArray, size: FloatArray,
                             by_bar: IntArray, out: FloatArray) -> None:
    """Fill ``out`` (n_bars, n_symbols) with the units held at each bar's end: each symbol's signed order
    sizes summed in record order with the simulator's zero snapping (records are time-ordered per symbol);
    ``by_bar`` lists the records in bar order."""
    pos, after = np.zeros(out.shape[1]), np.empty(bar.shape[0])
    for r in range(bar.shape[0]):
        pos[symbol[r]] = _add_nb(pos[symbol[r]], size[r] if side[r] == BUY else -size[r])
        after[r] = pos[symbol[r]]
    pos[:], t = 0.0, 0
    for i in range(out.shape[0]):
        while t < by_bar.shape[0] and bar[by_bar[t]] == i:
            pos[symbol[by_bar[t]]] = after[by_bar[t]]
            t += 1
        out[i] = pos


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
    sharing); positions: signed units held at each bar's end, only with ``return_positions=True``
    (otherwise None; ``positions_from_orders`` rebuilds them); final_value: last value of each portfolio
    (1 with cash sharing, n_symbols without). Per-portfolio value curves: ``portfolio_values_nb``."""

    equity: FloatArray | None  # None with equity_curve=False
    cash: FloatArray | None
    positions: FloatArray | None
    final_value: FloatArray
    orders: OrderRecords


def positions_from_orders(n_bars: int, n_symbols: int, orders: OrderRecords) -> FloatArray:
    """Units held per bar and symbol (n_bars, n_symbols), rebuilt from a backtest's order records; equal to
    ``simulate_signals(..., return_positions=True).positions`` without its cost in the simulation."""
    out = np.empty((n_bars, n_symbols))
    by_bar = np.argsort(orders.bar, kind="stable")
    positions_from_orders_nb(orders.bar, orders.symbol, orders.side, orders.size, by_bar, out)
    return out


def _as_2d(name: str, x: object, shape: tuple[int, ...], dtype: type, keep_fortran: bool = False
           ) -> npt.NDArray[Any]:
    arr: npt.NDArray[Any] = np.asarray(x, dtype=dtype)
    if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; pass an array shaped like close {shape}.")
    return arr if keep_fortran and arr.flags.f_contiguous else np.ascontiguousarray(arr)


def _check_options(size: float, size_type: str, direction: str, call_seq: str, init_cash: float,
                   slippage: float, fees: float) -> tuple[int, int]:
    if size_type not in _SIZE_TYPES or direction not in _DIRECTIONS or call_seq not in ("default", "auto"):
        raise ValueError("size_type must be amount/value/percent, direction longonly/shortonly/both, "
                         "call_seq default/auto.")
    st, dr = _SIZE_TYPES[size_type], _DIRECTIONS[direction]
    if st == SIZE_PERCENT and dr == DIR_BOTH:
        raise ValueError("size_type='percent' cannot reverse positions; use 'value' or 'amount' with 'both'.")
    if not (size >= 0.0 and init_cash >= 0.0 and slippage >= 0.0 and math.isfinite(fees)):
        raise ValueError("size, init_cash and slippage must be >= 0 and fees finite.")
    return st, dr


def _records(o_int: IntArray, o_flt: FloatArray, k: int) -> OrderRecords:  # views, no copies
    return OrderRecords(o_int[0, :k], o_int[1, :k], o_int[2, :k], o_flt[0, :k], o_flt[1, :k], o_flt[2, :k])


def _run(c: FloatArray, ohl: tuple[FloatArray, FloatArray, FloatArray], ent: BoolArray, ex: BoolArray,
         prm: FloatArray, codes: tuple[int, int, float], cash_sharing: bool, auto: bool, positions: FloatArray,
         curve: bool) -> tuple[FloatArray | None, FloatArray | None, FloatArray, OrderRecords]:
    """Scan the signals, run the kernels -> (equity, cash, final values, order records)."""
    n, m = c.shape
    n = n if curve else 0  # length of the value and cash curves
    use_stops = not (math.isnan(prm[P_SL]) and math.isnan(prm[P_TP]))
    cells = signal_cells(ent, ex)
    # only the stop path reads the panels themselves (bar by bar)
    unread = np.zeros((0, 0), dtype=np.bool_)
    ent, ex = (np.ascontiguousarray(ent), np.ascontiguousarray(ex)) if use_stops else (unread, unread)
    cap = (2 if use_stops else 1) * len(cells)  # a stop exit closes a position some signal opened
    common = (c, *ohl, ent, ex, cells, prm, *codes)
    if cash_sharing:
        equity, cash, final, slot = np.empty(n), np.empty(n), np.empty(m), np.zeros(1, dtype=np.int64)
        o_int, o_flt = np.empty((3, cap), dtype=np.int64), np.empty((3, cap))
        _run_block_nb(*common, True, auto, 0, m, equity, cash, positions, o_int, o_flt, slot, final)
        return (equity if curve else None, cash if curve else None, final[:1].copy(),
                _records(o_int, o_flt, int(slot[0])))
    n_blocks = max(1, min(m, numba.get_num_threads()))
    equities, cashes, final = np.empty((n_blocks, n)), np.empty((n_blocks, n)), np.empty(m)
    # every block may use the whole capacity: untouched pages of np.empty cost nothing
    o_int, o_flt = np.empty((3, n_blocks * cap), dtype=np.int64), np.empty((3, n_blocks * cap))
    o_int, o_flt = _run_blocks_nb(*common, equities, cashes, positions, o_int, o_flt, final)
    curves = (equities.sum(axis=0), cashes.sum(axis=0)) if curve else (None, None)
    return *curves, final, _records(o_int, o_flt, o_int.shape[1])


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
    return_positions: bool = False,
    equity_curve: bool = True,
) -> BacktestResult:
    """Backtest entry/exit signals; arguments mean what they mean in ``vbt.Portfolio.from_signals``
    (``open_`` is its ``open``). Stops need open/high/low (missing ones fall back to the close).
    ``return_positions`` also fills the (n_bars, n_symbols) positions (a large write on big panels;
    ``positions_from_orders`` rebuilds them from the order records instead). ``equity_curve=False``
    skips valuing every bar: only the final values (and the orders) are computed, like vectorbt's
    ``from_signals`` followed by ``final_value()``; equity and cash are then None."""
    c = np.asarray(close, dtype=np.float64)
    c = np.ascontiguousarray(c.reshape(-1, 1) if c.ndim == 1 else c)
    if c.ndim != 2:
        raise ValueError("close must be 1-D or 2-D (n_bars, n_symbols).")
    ent = _as_2d("entries", entries, c.shape, np.bool_, keep_fortran=True)
    ex = _as_2d("exits", exits, c.shape, np.bool_, keep_fortran=True)
    o, h, lo = (c if v is None else _as_2d(k, v, c.shape, np.float64)
                for k, v in (("open_", open_), ("high", high), ("low", low)))
    st, dr = _check_options(size, size_type, direction, call_seq, init_cash, slippage, fees + fixed_fees)
    prm = np.array([size, fees, fixed_fees, slippage, min_size, size_granularity, sl_stop, tp_stop])
    positions = np.empty((c.shape[0], c.shape[1]) if return_positions else (0, 0))
    equity, cash, final, orders = _run(c, (o, h, lo), ent, ex, prm, (dr, st, float(init_cash)), cash_sharing,
                                       call_seq == "auto", positions, equity_curve)
    return BacktestResult(equity, cash, positions if return_positions else None, final, orders)
