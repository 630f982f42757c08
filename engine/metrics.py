"""Performance metrics as numba kernels.

Conventions: simple returns r_t = e_t / e_{t-1} - 1; sample standard deviation (ddof=1) for the
Sharpe ratio; ratios annualised by sqrt(periods_per_year) (e.g. 252 daily, 252*78 for 5-minute
RTH bars); ``risk_free`` and ``target`` are per-period rates, not annual. Undefined results
(fewer than 2 observations, zero deviation, zero drawdown, non-positive starting equity) are NaN.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]


@njit(cache=True)
def returns_nb(equity: FloatArray) -> FloatArray:
    """Simple per-period returns; length len(equity)-1 (no NaN warm-up element)."""
    n = equity.shape[0]
    out = np.empty(max(n - 1, 0))
    for i in range(1, n):
        out[i - 1] = equity[i] / equity[i - 1] - 1.0
    return out


@njit(cache=True)
def sharpe_nb(returns: FloatArray, periods_per_year: float, risk_free: float) -> float:
    """Annualised Sharpe: mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)."""
    n = returns.shape[0]
    if n < 2:
        return np.nan
    mean = 0.0
    for i in range(n):
        mean += returns[i] - risk_free
    mean /= n
    ss = 0.0
    for i in range(n):
        ss += (returns[i] - risk_free - mean) ** 2
    sd = math.sqrt(ss / (n - 1))
    if sd == 0.0:
        return np.nan
    return mean / sd * math.sqrt(periods_per_year)


@njit(cache=True)
def sortino_nb(returns: FloatArray, periods_per_year: float, target: float) -> float:
    """Annualised Sortino as empyrical: mean(r - target) / downside deviation * sqrt(periods_per_year).

    Downside deviation = sqrt(mean(min(r - target, 0)^2)) over all periods (not only losing ones).
    """
    n = returns.shape[0]
    if n < 2:
        return np.nan
    mean = 0.0
    down = 0.0
    for i in range(n):
        adj = returns[i] - target
        mean += adj
        if adj < 0.0:
            down += adj * adj
    dd = math.sqrt(down / n)
    if dd == 0.0:
        return np.nan
    return (mean / n) / dd * math.sqrt(periods_per_year)


@njit(cache=True)
def max_drawdown_nb(equity: FloatArray) -> float:
    """Largest peak-to-trough loss as a positive fraction (0.25 = 25%); 0.0 if equity never falls."""
    n = equity.shape[0]
    if n < 2:
        return np.nan
    peak = equity[0]
    worst = 0.0
    for i in range(n):
        if equity[i] > peak:
            peak = equity[i]
        if peak > 0.0:
            dd = 1.0 - equity[i] / peak
            if dd > worst:
                worst = dd
    return worst


@njit(cache=True)
def cagr_nb(equity: FloatArray, periods_per_year: float) -> float:
    """Compound annual growth from the endpoints: (e_last/e_0)^(periods_per_year/(len-1)) - 1."""
    n = equity.shape[0]
    if n < 2 or not equity[0] > 0.0:
        return np.nan
    ratio = equity[n - 1] / equity[0]
    if ratio <= 0.0:
        return -1.0
    return ratio ** (periods_per_year / (n - 1)) - 1.0


@njit(cache=True)
def calmar_nb(equity: FloatArray, periods_per_year: float) -> float:
    """Calmar ratio = CAGR (``cagr_nb``) / max drawdown; NaN when the drawdown is zero."""
    mdd = max_drawdown_nb(equity)
    if not mdd > 0.0:
        return np.nan
    return cagr_nb(equity, periods_per_year) / mdd
