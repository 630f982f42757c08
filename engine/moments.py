"""Sliding window moments (mean, sum of squared deviations) with a bound on rounding error.

Shared by Bollinger bands (engine.indicators) and the z-score normaliser (engine.normalize).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

# Sliding moments: sums of (x - c) and (x - c)**2 about a centre c, with a running bound on their
# rounding error. When the bound exceeds REL_TOL of the sum of squared deviations (cancellation
# after a calm spell, drift of the mean away from c) the window is recomputed exactly (two-pass)
# and re-centred, so each variance is within ~1e-10 relative of the exact one at O(1) per bar.
EPS = 2.220446049250313e-16
REL_TOL = 1e-10


@njit(cache=True)
def window_moments_nb(x: FloatArray, lo: int, hi: int) -> tuple[int, float, float]:
    """(count, mean, sum of squared deviations) of the non-NaN values of x[lo:hi], two-pass."""
    cnt = 0
    s = 0.0
    for j in range(lo, hi):
        if not math.isnan(x[j]):
            cnt += 1
            s += x[j]
    if cnt == 0:
        return 0, 0.0, 0.0
    mean = s / cnt
    m2 = 0.0
    for j in range(lo, hi):
        if not math.isnan(x[j]):
            m2 += (x[j] - mean) ** 2
    return cnt, mean, m2


Moments = tuple[int, float, float, float, float, float]  # cnt, centre, s1, s2, err(s2), err(s1)


@njit(cache=True)
def slide_moments_nb(m: Moments, v_in: float, v_out: float) -> Moments:
    """Add v_in and drop v_out (either may be NaN: nothing to add or drop)."""
    cnt, c, s1, s2, e2, e1 = m
    if not math.isnan(v_in):
        a = v_in - c
        cnt += 1
        s1 += a
        s2 += a * a
        e2 += EPS * (a * a + s2)
        e1 += EPS * (abs(a) + abs(s1))
    if not math.isnan(v_out):
        b = v_out - c
        cnt -= 1
        s1 -= b
        s2 -= b * b
        e2 += EPS * (b * b + abs(s2))
        e1 += EPS * (abs(b) + abs(s1))
    if cnt == 0:
        return 0, c, 0.0, 0.0, 0.0, 0.0
    return cnt, c, s1, s2, e2, e1


@njit(cache=True)
def settle_moments_nb(m: Moments, inv: float, x: FloatArray, lo: int, hi: int) -> tuple[Moments, float]:
    """(moments, sum of squared deviations) of window x[lo:hi] (inv = 1/count), recomputed if
    rounding could show."""
    cnt, _c, s1, s2, e2, e1 = m
    sq = s1 * s1 * inv
    m2 = s2 - sq
    bound = e2 + 2.0 * abs(s1) * e1 * inv + EPS * (s2 + sq)
    if bound <= REL_TOL * m2:
        return m, m2
    cnt, mean, m2 = window_moments_nb(x, lo, hi)
    return (cnt, mean, 0.0, m2, (cnt + 2) * EPS * m2, 0.0), m2
