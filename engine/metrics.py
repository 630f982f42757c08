"""Performance metrics as numba kernels, matching empyrical's definitions.

Conventions (every kernel):
- simple returns r_t = e_t / e_{t-1} - 1, oldest first; ``returns_nb`` turns an equity curve
  into them;
- ``periods_per_year`` is always explicit (252 for daily bars, 252*78 for 5-minute regular-
  session bars, 252*7 for hourly cycles): ratios and volatility scale by sqrt(periods_per_year),
  returns compound to a year by ``** (periods_per_year / n)``;
- ``risk_free`` and ``required_return`` are per-period rates (annual rate / periods_per_year
  for a simple approximation), never annual;
- standard deviations are sample deviations (ddof=1), as empyrical's ``nanstd(ddof=1)``;
- downside deviation = sqrt(mean(min(r - required_return, 0)^2)) over *all* observations
  (positive excess counts as 0, not dropped), as empyrical's ``downside_risk``;
- max drawdown is a positive fraction (0.25 = 25%), the opposite sign of empyrical's;
- Calmar = annual return (CAGR) / max drawdown.

NaN handling follows empyrical: mean/deviation statistics (Sharpe, Sortino, volatility) skip
NaN returns; compounding statistics (annual return, drawdown, Calmar) treat a NaN return as a
flat period (0) that still counts toward the number of periods.
Undefined results are NaN: fewer than 2 usable returns for a deviation, zero deviation (all
values equal; empyrical returns +-inf there), zero drawdown for Calmar, empty input.
A cumulative loss of 100% or more gives an annual return of -1.0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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
def _mean_std_nb(returns: FloatArray, shift: float) -> tuple[float, float, int]:
    """Mean and sample std (ddof=1) of returns - shift over non-NaN values, and their count.

    The std is exactly 0 when every value is equal (avoids a 1e-18 residue from the mean).
    """
    n = 0
    s = 0.0
    lo = np.inf
    hi = -np.inf
    for r in returns:
        if not math.isnan(r):
            x = r - shift
            s += x
            n += 1
            lo = min(lo, x)
            hi = max(hi, x)
    if n == 0:
        return np.nan, np.nan, 0
    mean = s / n
    if n < 2:
        return mean, np.nan, n
    if lo == hi:
        return mean, 0.0, n
    ss = 0.0
    for r in returns:
        if not math.isnan(r):
            ss += (r - shift - mean) ** 2
    return mean, math.sqrt(ss / (n - 1)), n


@njit(cache=True)
def sharpe_nb(returns: FloatArray, periods_per_year: float, risk_free: float) -> float:
    """Annualised Sharpe: mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year).

    NaN returns are skipped; NaN with fewer than 2 usable returns or zero deviation.
    """
    mean, sd, n = _mean_std_nb(returns, risk_free)
    if n < 2 or not sd > 0.0:
        return np.nan
    return mean / sd * math.sqrt(periods_per_year)


@njit(cache=True)
def downside_deviation_nb(returns: FloatArray, required_return: float) -> float:
    """Per-period downside deviation sqrt(mean(min(r - required_return, 0)^2)) over non-NaN r.

    Not annualised (multiply by sqrt(periods_per_year) for empyrical's ``downside_risk``).
    """
    n = 0
    down = 0.0
    for r in returns:
        if not math.isnan(r):
            adj = min(r - required_return, 0.0)
            down += adj * adj
            n += 1
    if n == 0:
        return np.nan
    return math.sqrt(down / n)


@njit(cache=True)
def sortino_nb(returns: FloatArray, periods_per_year: float, target: float) -> float:
    """Annualised Sortino as empyrical: mean(r - target) / downside deviation * sqrt(periods_per_year).

    ``target`` is the per-period required return; see ``downside_deviation_nb``. NaN returns are
    skipped; NaN with fewer than 2 usable returns or no return below the target.
    """
    mean, _, n = _mean_std_nb(returns, target)
    if n < 2:
        return np.nan
    dd = downside_deviation_nb(returns, target)
    if not dd > 0.0:
        return np.nan
    return mean / dd * math.sqrt(periods_per_year)


@njit(cache=True)
def annual_volatility_nb(returns: FloatArray, periods_per_year: float) -> float:
    """std(r, ddof=1) * sqrt(periods_per_year) over non-NaN returns; NaN below 2 of them."""
    _, sd, _ = _mean_std_nb(returns, 0.0)
    return sd * math.sqrt(periods_per_year)


@njit(cache=True)
def annual_return_nb(returns: FloatArray, periods_per_year: float) -> float:
    """CAGR: prod(1 + r) ** (periods_per_year / n) - 1 with n = len(returns), NaN r as 0.

    -1.0 if the compounded value reaches 0 or below; NaN for empty input.
    """
    n = returns.shape[0]
    if n == 0:
        return np.nan
    value = 1.0
    for r in returns:
        if not math.isnan(r):
            value *= 1.0 + r
    if value <= 0.0:
        return -1.0
    growth: float = value ** (periods_per_year / n)
    return growth - 1.0


@njit(cache=True)
def max_drawdown_of_returns_nb(returns: FloatArray) -> float:
    """Largest peak-to-trough loss of the compounded curve starting at 1 (a peak itself).

    Positive fraction (= -empyrical.max_drawdown); in [0, 1] when every r >= -1; NaN r as 0;
    NaN for empty input.
    """
    if returns.shape[0] == 0:
        return np.nan
    value = 1.0
    peak = 1.0
    worst = 0.0
    for r in returns:
        if not math.isnan(r):
            value *= 1.0 + r
        peak = max(peak, value)
        worst = max(worst, 1.0 - value / peak)
    return worst


@njit(cache=True)
def calmar_of_returns_nb(returns: FloatArray, periods_per_year: float) -> float:
    """Calmar = annual_return_nb / max_drawdown_of_returns_nb; NaN with no drawdown or infinite."""
    mdd = max_drawdown_of_returns_nb(returns)
    if not mdd > 0.0:
        return np.nan
    out = annual_return_nb(returns, periods_per_year) / mdd
    return np.nan if math.isinf(out) else out


@njit(cache=True)
def max_drawdown_nb(equity: FloatArray) -> float:
    """Largest peak-to-trough loss of an equity curve as a positive fraction; 0.0 if it never falls.

    NaN with fewer than 2 points. Peaks <= 0 are ignored (no drawdown from a non-positive peak).
    """
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
    """Compound annual growth from the endpoints: (e_last/e_0)^(periods_per_year/(len-1)) - 1.

    Equals ``annual_return_nb(returns_nb(equity), ...)``. NaN for < 2 points or e_0 <= 0;
    -1.0 if the curve ends at or below 0.
    """
    n = equity.shape[0]
    if n < 2 or not equity[0] > 0.0:
        return np.nan
    ratio = equity[n - 1] / equity[0]
    if ratio <= 0.0:
        return -1.0
    growth: float = ratio ** (periods_per_year / (n - 1))
    return growth - 1.0


@njit(cache=True)
def calmar_nb(equity: FloatArray, periods_per_year: float) -> float:
    """Calmar ratio of an equity curve = CAGR (``cagr_nb``) / max drawdown; NaN with no drawdown."""
    mdd = max_drawdown_nb(equity)
    if not mdd > 0.0:
        return np.nan
    return cagr_nb(equity, periods_per_year) / mdd


class PerformanceSummary(NamedTuple):
    """Annualised statistics of a return series (see module docstring for conventions)."""

    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    periods: int


def performance_summary(
    returns: npt.ArrayLike,
    periods_per_year: float,
    risk_free: float = 0.0,
    required_return: float = 0.0,
) -> PerformanceSummary:
    """All metrics of one series of simple per-period returns.

    ``risk_free`` (Sharpe) and ``required_return`` (Sortino) are per-period rates.
    """
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be a 1-D series of per-period returns, got shape {r.shape}.")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError("periods_per_year must be a positive number, e.g. 252 for daily returns.")
    ppy = float(periods_per_year)
    return PerformanceSummary(
        annual_return=float(annual_return_nb(r, ppy)),
        annual_volatility=float(annual_volatility_nb(r, ppy)),
        sharpe=float(sharpe_nb(r, ppy, float(risk_free))),
        sortino=float(sortino_nb(r, ppy, float(required_return))),
        max_drawdown=float(max_drawdown_of_returns_nb(r)),
        calmar=float(calmar_of_returns_nb(r, ppy)),
        periods=int(r.shape[0]),
    )
