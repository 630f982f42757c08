"""Pre-trade risk check of a decision plan (the engine's last word before orders are sent).

Arrays, one element per decision (one decision per instrument; merge duplicates first):
  side (+1 buy, -1 sell, 0 no order: not checked, its held notional still counts), qty (units,
  > 0), price (reference price per unit), multiplier (1 equities, 100 options), stop / target
  (NaN = missing), is_entry, current_qty (signed units held before the plan).
``limits`` is a float64 vector indexed by the ``LIM_*`` constants; new limits (Greeks, sector,
PDT) append indices and per-decision arrays without renumbering existing ones.

Rules: post-trade q = current_qty + side*qty; notional = |q|*price*multiplier (account
currency). Every order needs a stop and a target. An order that opens, adds to or flips a
position (``is_entry``, OR-ed with what the quantities imply) needs stop and target on the
correct side (long: stop < price < target; short: target < price < stop) and reward/risk
|target-price|/|price-stop| >= LIM_MIN_RISK_REWARD. Per-instrument limits apply only when |q|
grows; gross and leverage only when plan gross grows; net only when |net| grows; equity <= 0 only
blocks risk-increasing plans - so a risk-reducing order is never blocked. Comparisons fail
closed: a NaN value or limit is a violation. Every violation is reported, portfolio-level ones
with index -1.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LIM_MAX_UNITS = 0
LIM_MAX_NOTIONAL = 1
LIM_MAX_PCT_EQUITY = 2
LIM_MAX_GROSS = 3
LIM_MAX_NET = 4
LIM_MAX_LEVERAGE = 5
LIM_MIN_RISK_REWARD = 6
N_LIMITS = 7

MISSING_STOP_LOSS = 0
MISSING_TAKE_PROFIT = 1
STOP_WRONG_SIDE = 2
TARGET_WRONG_SIDE = 3
RISK_REWARD_TOO_LOW = 4
MAX_UNITS = 5
MAX_NOTIONAL = 6
MAX_PCT_EQUITY = 7
MAX_GROSS_NOTIONAL = 8
MAX_NET_NOTIONAL = 9
MAX_LEVERAGE = 10
INVALID_PRICE = 11
INVALID_QUANTITY = 12
NON_POSITIVE_EQUITY = 13
INVALID_SIDE = 14
INVALID_MULTIPLIER = 15
INVALID_OTHER_NOTIONAL = 16
N_VIOLATION_CODES = 17
VIOLATION_NAMES = (
    "MISSING_STOP_LOSS", "MISSING_TAKE_PROFIT", "STOP_WRONG_SIDE", "TARGET_WRONG_SIDE",
    "RISK_REWARD_TOO_LOW", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_GROSS_NOTIONAL",
    "MAX_NET_NOTIONAL", "MAX_LEVERAGE", "INVALID_PRICE", "INVALID_QUANTITY", "NON_POSITIVE_EQUITY",
    "INVALID_SIDE", "INVALID_MULTIPLIER", "INVALID_OTHER_NOTIONAL",
)
PORTFOLIO_INDEX = -1


def default_limits() -> FloatArray:
    """Product defaults: 1000 units, $50k notional, 10% of equity per instrument, $500k gross,
    $250k net, 2x leverage, reward/risk >= 1.5."""
    return np.array([1000.0, 50_000.0, 0.10, 500_000.0, 250_000.0, 2.0, 1.5], dtype=np.float64)


@njit(cache=True)
def _push_nb(buf: FloatArray, k: int, index: int, code: int, value: float, limit: float) -> int:
    buf[k, 0] = index
    buf[k, 1] = code
    buf[k, 2] = value
    buf[k, 3] = limit
    return k + 1


@njit(cache=True)
def _above_nb(value: float, limit: float) -> bool:
    """True when value breaches a maximum; NaN on either side fails closed."""
    return not value <= limit


@njit(cache=True)
def _check_inputs_nb(
    i: int, side: int, qty: float, price: float, mult: float, current: float, buf: FloatArray, k: int
) -> tuple[int, bool]:
    """Validate one order's inputs -> (k, ok); later checks need all of them."""
    k0 = k
    if side != 1 and side != -1:
        return _push_nb(buf, k, i, INVALID_SIDE, float(side), np.nan), False
    if not (qty > 0.0 and math.isfinite(qty)):
        k = _push_nb(buf, k, i, INVALID_QUANTITY, qty, 0.0)
    if not math.isfinite(current):
        k = _push_nb(buf, k, i, INVALID_QUANTITY, current, np.nan)
    if not (price > 0.0 and math.isfinite(price)):
        k = _push_nb(buf, k, i, INVALID_PRICE, price, 0.0)
    if not (mult > 0.0 and math.isfinite(mult)):
        k = _push_nb(buf, k, i, INVALID_MULTIPLIER, mult, 0.0)
    return k, k == k0


@njit(cache=True)
def _check_brackets_nb(
    i: int, direction: int, entry: bool, price: float, stop: float, target: float,
    min_rr: float, buf: FloatArray, k: int,
) -> int:
    """Stop/target presence, side (entries only, for the resulting direction) and reward/risk."""
    has_stop = not math.isnan(stop)
    has_target = not math.isnan(target)
    if not has_stop:
        k = _push_nb(buf, k, i, MISSING_STOP_LOSS, stop, np.nan)
    if not has_target:
        k = _push_nb(buf, k, i, MISSING_TAKE_PROFIT, target, np.nan)
    if not entry:
        return k
    stop_ok = has_stop and direction * (price - stop) > 0.0
    target_ok = has_target and direction * (target - price) > 0.0
    if has_stop and not stop_ok:
        k = _push_nb(buf, k, i, STOP_WRONG_SIDE, stop, price)
    if has_target and not target_ok:
        k = _push_nb(buf, k, i, TARGET_WRONG_SIDE, target, price)
    if stop_ok and target_ok:
        rr = abs(target - price) / abs(price - stop)
        if not rr >= min_rr:
            k = _push_nb(buf, k, i, RISK_REWARD_TOO_LOW, rr, min_rr)
    return k


@njit(cache=True)
def _check_instrument_nb(
    i: int, q: float, price: float, mult: float, equity: float, limits: FloatArray, buf: FloatArray, k: int
) -> int:
    """Per-instrument caps on the post-trade position (units, notional, share of equity)."""
    units = abs(q)
    notional = units * price * mult
    if _above_nb(units, limits[LIM_MAX_UNITS]):
        k = _push_nb(buf, k, i, MAX_UNITS, units, limits[LIM_MAX_UNITS])
    if _above_nb(notional, limits[LIM_MAX_NOTIONAL]):
        k = _push_nb(buf, k, i, MAX_NOTIONAL, notional, limits[LIM_MAX_NOTIONAL])
    if equity > 0.0 and _above_nb(notional / equity, limits[LIM_MAX_PCT_EQUITY]):
        k = _push_nb(buf, k, i, MAX_PCT_EQUITY, notional / equity, limits[LIM_MAX_PCT_EQUITY])
    return k


@njit(cache=True)
def _check_portfolio_nb(
    exposure: FloatArray, any_increase: bool, equity: float, limits: FloatArray, buf: FloatArray, k: int
) -> int:
    """Portfolio checks; exposure = [gross_pre, gross_post, net_pre, net_post]."""
    p = PORTFOLIO_INDEX
    if any_increase and not equity > 0.0:
        k = _push_nb(buf, k, p, NON_POSITIVE_EQUITY, equity, 0.0)
    gross = exposure[1]
    if gross > exposure[0]:
        if _above_nb(gross, limits[LIM_MAX_GROSS]):
            k = _push_nb(buf, k, p, MAX_GROSS_NOTIONAL, gross, limits[LIM_MAX_GROSS])
        if equity > 0.0 and _above_nb(gross / equity, limits[LIM_MAX_LEVERAGE]):
            k = _push_nb(buf, k, p, MAX_LEVERAGE, gross / equity, limits[LIM_MAX_LEVERAGE])
    net = abs(exposure[3])
    if net > abs(exposure[2]) and _above_nb(net, limits[LIM_MAX_NET]):
        k = _push_nb(buf, k, p, MAX_NET_NOTIONAL, net, limits[LIM_MAX_NET])
    return k


@njit(cache=True)
def _add_exposure_nb(exposure: FloatArray, pre: float, post: float) -> None:
    exposure[0] += abs(pre)
    exposure[1] += abs(post)
    exposure[2] += pre
    exposure[3] += post


@njit(cache=True)
def check_plan_nb(
    side: IntArray, qty: FloatArray, price: FloatArray, multiplier: FloatArray, stop: FloatArray,
    target: FloatArray, is_entry: BoolArray, current_qty: FloatArray, other_notional: FloatArray,
    equity: float, limits: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Check a plan -> (viol_index, viol_code, viol_value, viol_limit); empty arrays = approved.

    viol_index is the decision index or -1 (portfolio); viol_value is the measured value
    (units, currency, fraction of equity, ratio) and viol_limit the limit it was held to.
    """
    n = side.shape[0]
    buf = np.empty(((n + 1) * N_VIOLATION_CODES + other_notional.shape[0], 4))
    k = 0
    exposure = np.zeros(4)
    for j in range(other_notional.shape[0]):
        if not math.isfinite(other_notional[j]):
            k = _push_nb(buf, k, PORTFOLIO_INDEX, INVALID_OTHER_NOTIONAL, other_notional[j], np.nan)
        else:
            _add_exposure_nb(exposure, other_notional[j], other_notional[j])
    any_increase = False
    for i in range(n):
        value = price[i] * multiplier[i]
        if side[i] == 0:  # held, no order: counts in exposure when its value is known
            if math.isfinite(current_qty[i] * value):
                _add_exposure_nb(exposure, current_qty[i] * value, current_qty[i] * value)
            continue
        k, ok = _check_inputs_nb(i, side[i], qty[i], price[i], multiplier[i], current_qty[i], buf, k)
        if not ok:
            continue
        cur = current_qty[i]
        q = cur + side[i] * qty[i]
        grows = abs(q) > abs(cur)
        flips = q * cur < 0.0
        direction = side[i] if q == 0.0 else (1 if q > 0.0 else -1)
        k = _check_brackets_nb(i, direction, is_entry[i] or grows or flips, price[i], stop[i],
                               target[i], limits[LIM_MIN_RISK_REWARD], buf, k)
        _add_exposure_nb(exposure, cur * value, q * value)
        if grows:
            any_increase = True
            k = _check_instrument_nb(i, q, price[i], multiplier[i], equity, limits, buf, k)
    k = _check_portfolio_nb(exposure, any_increase, equity, limits, buf, k)
    out = buf[:k]
    return out[:, 0].astype(np.int64), out[:, 1].astype(np.int64), out[:, 2].copy(), out[:, 3].copy()


class ConstraintCheck(NamedTuple):
    """Result of ``check_plan``; row j of the arrays is one violation."""

    viol_index: IntArray
    viol_code: IntArray
    viol_value: FloatArray
    viol_limit: FloatArray
    approved: bool

    def names(self) -> tuple[str, ...]:
        """Violation names (``VIOLATION_NAMES``) in report order."""
        return tuple(VIOLATION_NAMES[int(c)] for c in self.viol_code)

    def messages(self) -> list[str]:
        """One human-readable line per violation, e.g. 'decision 2: MAX_UNITS 1500 (limit 1000)'."""
        out = []
        for idx, name, val, lim in zip(self.viol_index, self.names(), self.viol_value, self.viol_limit):
            where = "portfolio" if idx == PORTFOLIO_INDEX else f"decision {int(idx)}"
            out.append(f"{where}: {name} {val:g} (limit {lim:g})")
        return out


def _column(name: str, values: npt.ArrayLike, dtype: type, n: int | None) -> npt.NDArray[np.generic]:
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ValueError(f"{name} must be a 1-D array with one element per decision ({n}), got {arr.shape}.")
    return arr


def check_plan(
    side: npt.ArrayLike,
    qty: npt.ArrayLike,
    price: npt.ArrayLike,
    multiplier: npt.ArrayLike,
    stop: npt.ArrayLike,
    target: npt.ArrayLike,
    is_entry: npt.ArrayLike,
    current_qty: npt.ArrayLike,
    other_notional: npt.ArrayLike,
    equity: float,
    limits: npt.ArrayLike | None = None,
) -> ConstraintCheck:
    """Run ``check_plan_nb`` on array-likes (see module docstring); ``limits`` defaults to
    ``default_limits()``."""
    side_arr = _column("side", side, np.int64, None)
    n = side_arr.shape[0]
    lim = default_limits() if limits is None else _column("limits", limits, np.float64, N_LIMITS)
    res = check_plan_nb(
        side_arr,
        _column("qty", qty, np.float64, n),
        _column("price", price, np.float64, n),
        _column("multiplier", multiplier, np.float64, n),
        _column("stop", stop, np.float64, n),
        _column("target", target, np.float64, n),
        _column("is_entry", is_entry, np.bool_, n),
        _column("current_qty", current_qty, np.float64, n),
        _column("other_notional", other_notional, np.float64, None),
        float(equity),
        lim,
    )
    return ConstraintCheck(*res, approved=res[0].shape[0] == 0)
