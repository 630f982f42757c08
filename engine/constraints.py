"""Pre-trade risk check of a decision plan: the engine's last word before orders are sent.

Inputs are three arrays and a limit vector:

* ``plan`` (n x N_PLAN_COLS float64), one row per decision (merge duplicates first), columns ``P_*``:
  side (+1 buy, -1 sell, 0 no order: not checked, but its holding still counts), qty (units > 0),
  price (per unit: share price, or option premium), multiplier (1 equities, 100 options),
  stop / target (NaN = missing) and level_price / level_sign (the price the levels are quoted
  against and the sign of its move that profits a long position: +1 for shares, calls and levels in
  option premium; -1 for puts with levels in the underlying), is_entry, sector (id >= 0, -1 = unknown),
  opened_today (the position was opened this session: reducing it is a day trade), underlying price,
  and option Greeks per unit before the multiplier (delta, gamma, vega per vol point, theta per day;
  0 for shares).
* ``held`` (m x N_HELD_COLS), positions not in the plan, columns ``H_*``: signed notional, sector,
  delta notional, gamma, vega, theta (position totals).
* ``account`` (N_ACCOUNT), ``A_*``: equity, buying power, day trades in the last 5 sessions.
* ``limits`` (N_LIMITS), ``LIM_*``; ``default_limits()`` gives the product defaults.

Rules. Post-trade q = current + side*qty; notional = |q|*price*multiplier. Every order needs a stop
and a target; one that opens, adds to or flips a position needs them on the profitable and losing
sides of level_price and reward/risk >= LIM_MIN_RISK_REWARD. A limit applies only when its measure
grows (per instrument |q|, plan gross, |net|, a sector's gross, |Greek|, theta falling), so a
risk-reducing order is never blocked - except by the pattern-day-trader rule, which the broker
enforces on exits too. Buying power must cover the notional the plan adds (sells free nothing:
conservative). Greek limits are on the options book after the plan (shares carry no Greeks here;
their exposure is held by the notional limits). NaN anywhere fails closed.

Output: one row per check evaluated (``R_*`` columns: decision index or -1, code, measured value,
limit, severity PASS / WARNING / CRITICAL, sector or -1). A passing value at or beyond
LIM_WARN_FRACTION of its limit is a WARNING. The plan is approved when no row is CRITICAL.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.constraint_codes import (
    BUYING_POWER,
    DELTA_NOTIONAL,
    GAMMA,
    INVALID_GREEKS,
    INVALID_HELD_POSITION,
    INVALID_MULTIPLIER,
    INVALID_PRICE,
    INVALID_QUANTITY,
    INVALID_SIDE,
    MAX_GROSS_NOTIONAL,
    MAX_LEVERAGE,
    MAX_NET_NOTIONAL,
    MAX_NOTIONAL,
    MAX_PCT_EQUITY,
    MAX_UNITS,
    N_CODES,
    NON_POSITIVE_EQUITY,
    PATTERN_DAY_TRADER,
    RISK_REWARD,
    SECTOR_CONCENTRATION,
    STOP_LOSS_PRESENT,
    STOP_LOSS_SIDE,
    TAKE_PROFIT_PRESENT,
    TAKE_PROFIT_SIDE,
    THETA,
    UNKNOWN_SECTOR,
    VEGA,
)

FloatArray = npt.NDArray[np.float64]

P_SIDE, P_QTY, P_PRICE, P_MULT, P_STOP, P_TARGET, P_CUR_QTY, P_LEVEL_PRICE, P_LEVEL_SIGN = range(9)
P_IS_ENTRY, P_SECTOR, P_OPENED_TODAY, P_UNDERLYING, P_DELTA, P_GAMMA, P_VEGA, P_THETA = range(9, 17)
N_PLAN_COLS = 17
H_NOTIONAL, H_SECTOR, H_DELTA_NOTIONAL, H_GAMMA, H_VEGA, H_THETA = range(6)
N_HELD_COLS = 6
A_EQUITY, A_BUYING_POWER, A_DAY_TRADES = range(3)
N_ACCOUNT = 3

LIM_MAX_UNITS, LIM_MAX_NOTIONAL, LIM_MAX_PCT_EQUITY, LIM_MAX_GROSS, LIM_MAX_NET = range(5)
LIM_MAX_LEVERAGE, LIM_MIN_RISK_REWARD, LIM_MAX_SECTOR_PCT, LIM_MAX_DELTA_NOTIONAL = range(5, 9)
LIM_MAX_GAMMA, LIM_MAX_VEGA, LIM_MIN_THETA, LIM_PDT_MIN_EQUITY, LIM_PDT_MAX_DAY_TRADES = range(9, 14)
LIM_WARN_FRACTION = 14
N_LIMITS = 15

R_INDEX, R_CODE, R_VALUE, R_LIMIT, R_SEVERITY, R_SECTOR = range(6)
N_RESULT_COLS = 6
PASS, WARNING, CRITICAL = 0, 1, 2
PORTFOLIO_INDEX = -1

# Exposure accumulator slots: gross/net before and after; Greeks (delta notional, gamma, vega, theta)
X_GROSS_PRE, X_GROSS_POST, X_NET_PRE, X_NET_POST = range(4)
X_GREEK_PRE, X_GREEK_POST = 4, 8  # 4 slots each, in H_DELTA_NOTIONAL..H_THETA order
N_X = 12


def default_limits() -> FloatArray:
    """Product defaults (seeds): 1,000 units, $50k notional, 10% of equity per instrument; $500k gross,
    $250k net, 2x leverage; reward/risk 1.5; 30% of equity per sector; options book delta notional
    $100k, gamma 1,000, vega $5,000, theta >= -$500/day; pattern-day-trader rule below $25k equity
    with at most 3 day trades in 5 sessions; warnings from 90% of a limit."""
    return np.array([1000.0, 50_000.0, 0.10, 500_000.0, 250_000.0, 2.0, 1.5, 0.30, 100_000.0, 1000.0,
                     5000.0, -500.0, 25_000.0, 3.0, 0.9])


@njit(cache=True)
def _row_nb(out: FloatArray, k: int, index: int, code: int, value: float, limit: float,
            severity: int, sector: int) -> int:
    out[k, R_INDEX] = index
    out[k, R_CODE] = code
    out[k, R_VALUE] = value
    out[k, R_LIMIT] = limit
    out[k, R_SEVERITY] = severity
    out[k, R_SECTOR] = sector
    return k + 1


@njit(cache=True)
def _max_nb(out: FloatArray, k: int, index: int, code: int, value: float, limit: float, warn: float,
            sector: int) -> int:
    """A 'value <= limit' check; NaN on either side fails closed."""
    if not value <= limit:
        severity = CRITICAL
    elif value >= warn * limit and limit > 0.0:
        severity = WARNING
    else:
        severity = PASS
    return _row_nb(out, k, index, code, value, limit, severity, sector)


@njit(cache=True)
def _inputs_nb(i: int, row: FloatArray, out: FloatArray, k: int) -> tuple[int, bool]:
    """Validate one order's inputs -> (k, ok); later checks need all of them."""
    k0 = k
    side = row[P_SIDE]
    if side != 1.0 and side != -1.0:
        return _row_nb(out, k, i, INVALID_SIDE, side, np.nan, CRITICAL, -1), False
    if not (row[P_QTY] > 0.0 and math.isfinite(row[P_QTY]) and math.isfinite(row[P_CUR_QTY])):
        k = _row_nb(out, k, i, INVALID_QUANTITY, row[P_QTY], 0.0, CRITICAL, -1)
    if not (row[P_PRICE] > 0.0 and math.isfinite(row[P_PRICE]) and row[P_LEVEL_PRICE] > 0.0):
        k = _row_nb(out, k, i, INVALID_PRICE, row[P_PRICE], 0.0, CRITICAL, -1)
    if not (row[P_MULT] > 0.0 and math.isfinite(row[P_MULT])):
        k = _row_nb(out, k, i, INVALID_MULTIPLIER, row[P_MULT], 0.0, CRITICAL, -1)
    if not (math.isfinite(row[P_DELTA] * row[P_UNDERLYING]) and math.isfinite(row[P_GAMMA])
            and math.isfinite(row[P_VEGA]) and math.isfinite(row[P_THETA])):
        k = _row_nb(out, k, i, INVALID_GREEKS, np.nan, np.nan, CRITICAL, -1)
    return k, k == k0


@njit(cache=True)
def _brackets_nb(i: int, row: FloatArray, direction: float, entry: bool, min_rr: float, warn: float,
                 out: FloatArray, k: int) -> int:
    """Stop/target presence; for entries their side of level_price and reward/risk."""
    stop, target, ref = row[P_STOP], row[P_TARGET], row[P_LEVEL_PRICE]
    has_stop, has_target = not math.isnan(stop), not math.isnan(target)
    k = _row_nb(out, k, i, STOP_LOSS_PRESENT, stop, np.nan, PASS if has_stop else CRITICAL, -1)
    k = _row_nb(out, k, i, TAKE_PROFIT_PRESENT, target, np.nan, PASS if has_target else CRITICAL, -1)
    if not entry or not (has_stop and has_target):
        return k
    d = direction * row[P_LEVEL_SIGN]
    stop_ok = d * (ref - stop) > 0.0
    target_ok = d * (target - ref) > 0.0
    k = _row_nb(out, k, i, STOP_LOSS_SIDE, stop, ref, PASS if stop_ok else CRITICAL, -1)
    k = _row_nb(out, k, i, TAKE_PROFIT_SIDE, target, ref, PASS if target_ok else CRITICAL, -1)
    if stop_ok and target_ok:
        rr = abs(target - ref) / abs(ref - stop)
        severity = PASS if rr >= min_rr else CRITICAL
        k = _row_nb(out, k, i, RISK_REWARD, rr, min_rr, severity, -1)
    return k


@njit(cache=True)
def _instrument_nb(i: int, q: float, row: FloatArray, equity: float, limits: FloatArray,
                   out: FloatArray, k: int) -> int:
    """Per-instrument caps on the post-trade position (units, notional, share of equity)."""
    w = limits[LIM_WARN_FRACTION]
    notional = abs(q) * row[P_PRICE] * row[P_MULT]
    k = _max_nb(out, k, i, MAX_UNITS, abs(q), limits[LIM_MAX_UNITS], w, -1)
    k = _max_nb(out, k, i, MAX_NOTIONAL, notional, limits[LIM_MAX_NOTIONAL], w, -1)
    if equity > 0.0:
        k = _max_nb(out, k, i, MAX_PCT_EQUITY, notional / equity, limits[LIM_MAX_PCT_EQUITY], w, -1)
    return k


@njit(cache=True)
def _add_nb(x: FloatArray, sectors: FloatArray, sector: float, pre: float, post: float,
            greeks_pre: FloatArray, greeks_post: FloatArray) -> None:
    """Accumulate one holding's signed notional and Greeks, before and after the plan."""
    x[X_GROSS_PRE] += abs(pre)
    x[X_GROSS_POST] += abs(post)
    x[X_NET_PRE] += pre
    x[X_NET_POST] += post
    for g in range(4):
        x[X_GREEK_PRE + g] += greeks_pre[g]
        x[X_GREEK_POST + g] += greeks_post[g]
    if sector >= 0.0:
        s = int(sector)
        sectors[s, 0] += abs(pre)
        sectors[s, 1] += abs(post)


@njit(cache=True)
def _position_greeks_nb(row: FloatArray, q: float) -> FloatArray:
    """Delta notional, gamma, vega, theta of q units of a plan row."""
    units = q * row[P_MULT]
    return np.array([units * row[P_DELTA] * row[P_UNDERLYING], units * row[P_GAMMA],
                     units * row[P_VEGA], units * row[P_THETA]])


@njit(cache=True)
def _portfolio_nb(x: FloatArray, grew: bool, equity: float, limits: FloatArray, out: FloatArray,
                  k: int) -> int:
    """Gross, leverage and net when they grow; options-book Greeks when they worsen."""
    w, p = limits[LIM_WARN_FRACTION], PORTFOLIO_INDEX
    if grew and not equity > 0.0:
        k = _row_nb(out, k, p, NON_POSITIVE_EQUITY, equity, 0.0, CRITICAL, -1)
    if x[X_GROSS_POST] > x[X_GROSS_PRE]:
        k = _max_nb(out, k, p, MAX_GROSS_NOTIONAL, x[X_GROSS_POST], limits[LIM_MAX_GROSS], w, -1)
        if equity > 0.0:
            k = _max_nb(out, k, p, MAX_LEVERAGE, x[X_GROSS_POST] / equity, limits[LIM_MAX_LEVERAGE], w, -1)
    if abs(x[X_NET_POST]) > abs(x[X_NET_PRE]):
        k = _max_nb(out, k, p, MAX_NET_NOTIONAL, abs(x[X_NET_POST]), limits[LIM_MAX_NET], w, -1)
    greek_limits = (LIM_MAX_DELTA_NOTIONAL, LIM_MAX_GAMMA, LIM_MAX_VEGA)
    codes = (DELTA_NOTIONAL, GAMMA, VEGA)
    for g in range(3):
        pre, post = x[X_GREEK_PRE + g], x[X_GREEK_POST + g]
        if abs(post) > abs(pre):
            k = _max_nb(out, k, p, codes[g], abs(post), limits[greek_limits[g]], w, -1)
    theta_pre, theta_post = x[X_GREEK_PRE + 3], x[X_GREEK_POST + 3]
    if theta_post < theta_pre:  # a floor: -theta <= -limit
        k = _max_nb(out, k, p, THETA, -theta_post, -limits[LIM_MIN_THETA], w, -1)
        out[k - 1, R_VALUE], out[k - 1, R_LIMIT] = theta_post, limits[LIM_MIN_THETA]
    return k


@njit(cache=True)
def _sectors_nb(sectors: FloatArray, equity: float, limits: FloatArray, out: FloatArray, k: int) -> int:
    for s in range(sectors.shape[0]):
        if sectors[s, 1] > sectors[s, 0] and equity > 0.0:
            k = _max_nb(out, k, PORTFOLIO_INDEX, SECTOR_CONCENTRATION, sectors[s, 1] / equity,
                        limits[LIM_MAX_SECTOR_PCT], limits[LIM_WARN_FRACTION], s)
    return k


@njit(cache=True)
def _n_sectors_nb(plan: FloatArray, held: FloatArray) -> int:
    n = 0
    for i in range(plan.shape[0]):
        n = max(n, int(plan[i, P_SECTOR]) + 1) if plan[i, P_SECTOR] >= 0.0 else n
    for j in range(held.shape[0]):
        n = max(n, int(held[j, H_SECTOR]) + 1) if held[j, H_SECTOR] >= 0.0 else n
    return n


@njit(cache=True)
def _held_nb(held: FloatArray, x: FloatArray, sectors: FloatArray, out: FloatArray, k: int) -> int:
    """Positions outside the plan count in every portfolio measure, unchanged by it."""
    for j in range(held.shape[0]):
        h = held[j]
        if not (math.isfinite(h[H_NOTIONAL]) and math.isfinite(h[H_DELTA_NOTIONAL]) and math.isfinite(h[H_GAMMA])
                and math.isfinite(h[H_VEGA]) and math.isfinite(h[H_THETA])):
            k = _row_nb(out, k, PORTFOLIO_INDEX, INVALID_HELD_POSITION, float(j), np.nan, CRITICAL, -1)
            continue
        greeks = h[H_DELTA_NOTIONAL:H_THETA + 1]
        _add_nb(x, sectors, h[H_SECTOR], h[H_NOTIONAL], h[H_NOTIONAL], greeks, greeks)
    return k


@njit(cache=True)
def _order_nb(i: int, row: FloatArray, equity: float, limits: FloatArray, x: FloatArray,
              sectors: FloatArray, tally: FloatArray, out: FloatArray, k: int) -> int:
    """All per-decision checks of one order; adds its exposure; tally = [bp used, day trades, grew]."""
    k, ok = _inputs_nb(i, row, out, k)
    if not ok:
        tally[2] = 1.0  # invalid orders are blocked anyway; make the equity check count them
        return k
    cur = row[P_CUR_QTY]
    q = cur + row[P_SIDE] * row[P_QTY]
    grows, flips = abs(q) > abs(cur), q * cur < 0.0
    direction = row[P_SIDE] if q == 0.0 else math.copysign(1.0, q)
    entry = row[P_IS_ENTRY] != 0.0 or grows or flips
    k = _brackets_nb(i, row, direction, entry, limits[LIM_MIN_RISK_REWARD], limits[LIM_WARN_FRACTION], out, k)
    value = row[P_PRICE] * row[P_MULT]
    _add_nb(x, sectors, row[P_SECTOR], cur * value, q * value, _position_greeks_nb(row, cur),
            _position_greeks_nb(row, q))
    if grows or flips:
        tally[2] = 1.0
        tally[0] += (abs(q) - (0.0 if flips else abs(cur))) * value
        k = _instrument_nb(i, q, row, equity, limits, out, k)
        if row[P_SECTOR] < 0.0:
            k = _row_nb(out, k, i, UNKNOWN_SECTOR, np.nan, np.nan, WARNING, -1)
    if row[P_OPENED_TODAY] != 0.0 and (abs(q) < abs(cur) or flips):
        tally[1] += 1.0
    return k


@njit(cache=True)
def check_plan_nb(plan: FloatArray, held: FloatArray, account: FloatArray, limits: FloatArray) -> FloatArray:
    """Check a plan -> result rows (k x N_RESULT_COLS), see the module docstring."""
    n = plan.shape[0]
    out = np.empty((n * N_CODES + held.shape[0] + 64 + 2 * _n_sectors_nb(plan, held), N_RESULT_COLS))
    x = np.zeros(N_X)
    sectors = np.zeros((_n_sectors_nb(plan, held), 2))
    tally = np.zeros(3)
    equity = account[A_EQUITY]
    k = _held_nb(held, x, sectors, out, 0)
    for i in range(n):
        row = plan[i]
        if row[P_SIDE] == 0.0:  # held in the plan, no order
            if math.isfinite(row[P_CUR_QTY] * row[P_PRICE] * row[P_MULT]):
                g = _position_greeks_nb(row, row[P_CUR_QTY])
                value = row[P_CUR_QTY] * row[P_PRICE] * row[P_MULT]
                _add_nb(x, sectors, row[P_SECTOR], value, value, g, g)
            continue
        k = _order_nb(i, row, equity, limits, x, sectors, tally, out, k)
    k = _portfolio_nb(x, tally[2] != 0.0, equity, limits, out, k)
    k = _sectors_nb(sectors, equity, limits, out, k)
    if tally[0] > 0.0:
        k = _max_nb(out, k, PORTFOLIO_INDEX, BUYING_POWER, tally[0], account[A_BUYING_POWER],
                    limits[LIM_WARN_FRACTION], -1)
    if tally[1] > 0.0 and not equity >= limits[LIM_PDT_MIN_EQUITY]:
        k = _max_nb(out, k, PORTFOLIO_INDEX, PATTERN_DAY_TRADER, account[A_DAY_TRADES] + tally[1],
                    limits[LIM_PDT_MAX_DAY_TRADES], 2.0, -1)
    return out[:k].copy()
