"""Option strategies of 1-4 legs, at most one of them shares of the underlying (covered calls): validation
and exact payoff analysis at expiry.

Legs, one element each: is_call (nonzero = call), strike (> 0), ratio (signed contracts per unit of
the strategy: + bought / long, - sold / short), premium (option price per unit of the underlying
paid or received for that leg, finite and >= 0) and multiplier (> 0, 100 for US equity options).
A stock leg (``stock`` True; kind ``KIND_STOCK`` in the kernels) is ``ratio * multiplier`` shares bought
(+) or sold short (-) at ``premium`` per share (> 0); its strike is ignored. Its payoff is that of a
call struck at 0. At least one leg is an option. The caller checks that all legs share one underlying
and one expiry.

Money is in account currency for one unit of the strategy (premium * |ratio| * multiplier per leg):
  net_premium = sum(ratio * multiplier * premium): positive = net debit paid, negative = net credit
  received. payoff(S) = sum(ratio * multiplier * intrinsic(S)) - net_premium at underlying price S.
  max_profit = max payoff over S >= 0 (+inf when calls and shares are net long, so the payoff rises
  forever); max_loss = -min payoff, a positive number for a loss (+inf when calls and shares are net
  short, e.g. a naked short call; zero or negative only if no outcome loses). A cash-secured put's
  max loss is its strike less the credit, reached at S = 0; a covered call's is the shares' price less
  the credit.
  breakevens: sorted prices S >= 0 where the payoff is zero: the crossing inside a segment, a kink
  (or S = 0) where the payoff is exactly zero, and the crossing beyond the largest strike.
The payoff is piecewise linear with kinks at the strikes, so evaluating it at 0 and at every strike,
plus its slope past the largest strike, gives every answer exactly (no grid).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

MULTILEG_OK = 0
BAD_LEG_COUNT = 1
BAD_STRIKE = 2
BAD_PREMIUM = 3
BAD_RATIO = 4
BAD_MULTIPLIER = 5
BAD_STOCK_LEG = 6
REASON_NAMES = ("OK", "BAD_LEG_COUNT", "BAD_STRIKE", "BAD_PREMIUM", "BAD_RATIO", "BAD_MULTIPLIER", "BAD_STOCK_LEG")
MIN_LEGS = 1
MAX_LEGS = 4
KIND_PUT, KIND_CALL, KIND_STOCK = 0, 1, 2


@njit(cache=True)
def validate_legs_nb(
    kind: npt.NDArray[np.int8], strike: FloatArray, ratio: FloatArray, premium: FloatArray,
    multiplier: FloatArray,
) -> int:
    """Reason code (``MULTILEG_OK`` when valid) of the first problem found, in code order per leg."""
    n = strike.shape[0]
    stocks = 0
    for i in range(n):
        stocks += kind[i] == KIND_STOCK
    if n < MIN_LEGS or n > MAX_LEGS or stocks == n:
        return BAD_LEG_COUNT
    if stocks > 1:
        return BAD_STOCK_LEG
    for i in range(n):
        if kind[i] == KIND_STOCK:
            if not (premium[i] > 0.0 and math.isfinite(premium[i])):
                return BAD_STOCK_LEG
        elif not (strike[i] > 0.0 and math.isfinite(strike[i])):
            return BAD_STRIKE
        if not (premium[i] >= 0.0 and math.isfinite(premium[i])):
            return BAD_PREMIUM
        if not (ratio[i] != 0.0 and math.isfinite(ratio[i])):
            return BAD_RATIO
        if not (multiplier[i] > 0.0 and math.isfinite(multiplier[i])):
            return BAD_MULTIPLIER
    return MULTILEG_OK


@njit(cache=True)
def _intrinsic_nb(kind: int, strike: float, s: float) -> float:
    if kind == KIND_STOCK:
        return s
    return max(s - strike, 0.0) if kind != KIND_PUT else max(strike - s, 0.0)


@njit(cache=True)
def payoff_at_expiry_nb(
    underlying: FloatArray, kind: npt.NDArray[np.int8], strike: FloatArray, ratio: FloatArray,
    premium: FloatArray, multiplier: FloatArray,
) -> FloatArray:
    """Strategy payoff net of premium (currency) at each underlying price at expiry; ``kind``
    ``KIND_PUT``, ``KIND_CALL`` (or any other nonzero value) or ``KIND_STOCK`` per leg."""
    out = np.empty(underlying.shape[0])
    for j in range(underlying.shape[0]):
        s = underlying[j]
        total = 0.0
        for i in range(strike.shape[0]):
            intrinsic = _intrinsic_nb(kind[i], strike[i], s)
            total += ratio[i] * multiplier[i] * (intrinsic - premium[i])
        out[j] = total
    return out


@njit(cache=True)
def _breakevens_nb(x: FloatArray, p: FloatArray, tail_slope: float) -> FloatArray:
    """Zeros of the piecewise-linear payoff with values p at sorted kinks x and slope past x[-1]."""
    m = x.shape[0]
    roots = np.empty(2 * m + 1)
    k = 0
    for j in range(m):
        if p[j] == 0.0:
            roots[k] = x[j]
            k += 1
        if j + 1 < m and p[j] * p[j + 1] < 0.0:  # strict sign change inside the segment
            roots[k] = x[j] - p[j] * (x[j + 1] - x[j]) / (p[j + 1] - p[j])
            k += 1
    last = p[m - 1]
    if last * tail_slope < 0.0:
        roots[k] = x[m - 1] - last / tail_slope
        k += 1
    return roots[:k].copy()


@njit(cache=True)
def analyze_multileg_nb(
    kind: npt.NDArray[np.int8], strike: FloatArray, ratio: FloatArray, premium: FloatArray,
    multiplier: FloatArray,
) -> tuple[int, float, float, float, FloatArray]:
    """-> (reason, net_premium, max_loss, max_profit, breakevens); NaNs and no breakevens when invalid."""
    reason = validate_legs_nb(kind, strike, ratio, premium, multiplier)
    if reason != MULTILEG_OK:
        return reason, np.nan, np.nan, np.nan, np.empty(0)
    n = strike.shape[0]
    net = 0.0
    tail_slope = 0.0  # d payoff / dS beyond the largest strike: only calls and shares gain there
    kinks = np.zeros(n + 1)  # S = 0 and every option strike (a stock leg has no kink)
    for i in range(n):
        net += ratio[i] * multiplier[i] * premium[i]
        if kind[i] != KIND_PUT:
            tail_slope += ratio[i] * multiplier[i]
        if kind[i] != KIND_STOCK:
            kinks[i + 1] = strike[i]
    x = np.unique(kinks)
    p = payoff_at_expiry_nb(x, kind, strike, ratio, premium, multiplier)
    max_profit = math.inf if tail_slope > 0.0 else p.max()
    max_loss = math.inf if tail_slope < 0.0 else -p.min()
    return reason, net, max_loss, max_profit, _breakevens_nb(x, p, tail_slope)


class MultiLegAnalysis(NamedTuple):
    """Validation and payoff at expiry of a multi-leg strategy (conventions in the module doc)."""

    valid: bool
    reason: int
    net_premium: float
    max_loss: float
    max_profit: float
    breakevens: FloatArray

    @property
    def reason_name(self) -> str:
        """``REASON_NAMES`` entry for ``reason`` ('OK' when valid)."""
        return REASON_NAMES[self.reason]


def _legs(name: str, values: npt.ArrayLike, n: int | None) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if n is not None and arr.ndim == 0:  # one value for every leg
        arr = np.full(n, float(arr))
    arr = np.ascontiguousarray(np.atleast_1d(arr))
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ValueError(f"{name} must be a 1-D array with one element per leg ({n}), got shape {arr.shape}.")
    return arr


def analyze_multileg(
    is_call: npt.ArrayLike, strike: npt.ArrayLike, ratio: npt.ArrayLike, premium: npt.ArrayLike,
    multiplier: npt.ArrayLike = 100.0, stock: npt.ArrayLike | None = None,
) -> MultiLegAnalysis:
    """Validate legs and compute net premium, max loss / profit and breakevens (module doc). ``stock``
    marks the leg that is shares (its ``premium`` the price per share; ``is_call`` and strike ignored).

    Raises ValueError only for mismatched array shapes; bad leg values give valid=False and a reason.
    """
    flags = np.asarray(is_call)
    if flags.dtype.kind not in "biu":
        raise ValueError(f"is_call must be bool or integer (1 call, 0 put), got dtype {flags.dtype}.")
    k = _legs("strike", strike, None)
    n = k.shape[0]
    if flags.shape != (n,):
        raise ValueError(f"is_call must have one element per leg ({n}), got shape {flags.shape}.")
    kind = (flags != 0).astype(np.int8)
    if stock is not None:
        shares = np.asarray(stock)
        if shares.shape != (n,) or shares.dtype.kind not in "biu":
            raise ValueError(f"stock must be bool with one element per leg ({n}), got {shares.dtype} {shares.shape}.")
        kind[shares != 0] = KIND_STOCK
    mult = _legs("multiplier", multiplier, n)
    reason, net, loss, profit, be = analyze_multileg_nb(
        np.ascontiguousarray(kind), k, _legs("ratio", ratio, n), _legs("premium", premium, n), mult)
    return MultiLegAnalysis(reason == MULTILEG_OK, int(reason), float(net), float(loss), float(profit), be)
