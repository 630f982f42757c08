"""European options under Black-Scholes-Merton: price, Greeks, position Greeks, implied vol, OCC symbols.

Inputs, one element per contract: spot S and strike K (per unit of the underlying, > 0),
t_years T (year fraction, Actual/365 Fixed: calendar days / 365), vol sigma (annualised, 0.25 = 25%),
rate r and div_yield q (continuously compounded, annual), is_call (nonzero/True = call, 0 = put).
Outputs per unit of the underlying (multiply by the contract multiplier, 100 for US equity options):
  price, delta dV/dS, gamma d2V/dS2,
  theta = dV/dt per CALENDAR DAY = (annual theta) / 365, the value change after one day passes,
  vega = dV/dsigma / 100: value change per 1 vol point (sigma 0.25 -> 0.26),
  rho = dV/dr / 100: value change per 1 percentage point of rate (r 0.05 -> 0.06).
These match QuantLib's ``thetaPerDay()``, ``vega() / 100`` and ``rho() / 100``.

Edge cases: any non-finite input, or S <= 0 or K <= 0, gives NaN in every output (fails closed
downstream). T <= 0 (expired): price = intrinsic max(+-(S-K), 0), delta = +-1 in the money, 0 out of
it, +-0.5 at S == K; gamma = theta = vega = rho = 0. sigma <= 0 with T > 0: the deterministic limit,
the discounted forward intrinsic max(+-(S e^-qT - K e^-rT), 0), delta +-e^-qT in the money (+-0.5 e^-qT
at the forward), gamma = vega = 0, theta and rho of that deterministic value.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

FloatArray = npt.NDArray[np.float64]

DAYS_PER_YEAR = 365.0
IV_LOW = 1e-4
IV_HIGH = 5.0
IV_PRICE_TOL = 1e-10  # a price this close to the model at IV_LOW or IV_HIGH implies that bound
IV_VOL_TOL = 1e-12  # implied vol: stop when a Newton step or the bracket is this small (absolute vol)
_IV_MAX_ITER = 100
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@njit(cache=True)
def norm_cdf_nb(x: float) -> float:
    """Standard normal CDF via erfc, accurate in both tails (no 1 - N cancellation)."""
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


# Cephes ndtr coefficients, highest power first: erf(x) = x T(x^2)/U(x^2) for |x| < 1, erfc(x) =
# e^-x^2 P(x)/Q(x) for 1 <= x < 8 and e^-x^2 R(x)/S(x) beyond.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


@njit(cache=True)
def _poly_nb(x: float, c: tuple[float, ...]) -> float:
    acc = c[0]
    for j in range(1, len(c)):
        acc = acc * x + c[j]
    return acc


@njit(cache=True)
def norm_cdf_fast_nb(d: float, e: float) -> float:
    """N(d) given e = exp(-d*d/2), which the caller already has for the density: Cephes' erf/erfc
    rational approximations, no 1 - N cancellation, one exp fewer than ``norm_cdf_nb``.

    Relative error vs ``norm_cdf_nb``: < 2e-14 for |d| < 8, < 3e-13 down to the underflow at d ~ -38.
    """
    x = -d * _INV_SQRT_2  # N(d) = erfc(x) / 2
    a = abs(x)
    if a < 1.0:
        z = x * x
        return 0.5 - 0.5 * x * _poly_nb(z, _ERF_T) / _poly_nb(z, _ERF_U)
    if a < 8.0:
        y = 0.5 * e * _poly_nb(a, _ERFC_P) / _poly_nb(a, _ERFC_Q)
    else:
        y = 0.5 * e * _poly_nb(a, _ERFC_R) / _poly_nb(a, _ERFC_S)
    return y if x > 0.0 else 1.0 - y


@njit(cache=True)
def _degenerate_nb(
    s: float, k: float, t: float, r: float, q: float, w: float
) -> tuple[float, float, float, float, float, float]:
    """No-diffusion limit (T <= 0 or sigma <= 0); w = +1 call, -1 put. See module docstring."""
    if t <= 0.0:
        diff = w * (s - k)
        side = 1.0 if diff > 0.0 else (0.5 if diff == 0.0 else 0.0)
        return max(diff, 0.0), w * side, 0.0, 0.0, 0.0, 0.0
    dq = math.exp(-q * t)
    dr = math.exp(-r * t)
    diff = w * (s * dq - k * dr)
    side = 1.0 if diff > 0.0 else (0.5 if diff == 0.0 else 0.0)
    theta = side * w * (q * s * dq - r * k * dr)
    rho = side * w * k * t * dr
    return max(diff, 0.0), side * w * dq, 0.0, theta / DAYS_PER_YEAR, 0.0, rho / 100.0


@njit(cache=True)
def bs_one_nb(
    s: float, k: float, t: float, vol: float, r: float, q: float, call: bool
) -> tuple[float, float, float, float, float, float]:
    """One contract -> (price, delta, gamma, theta/day, vega/1%, rho/1%); conventions in module doc."""
    if not (s > 0.0 and k > 0.0 and math.isfinite(s + k + t + vol + r + q)):  # NaN/inf -> NaN
        return np.nan, np.nan, np.nan, np.nan, np.nan, np.nan
    w = 1.0 if call else -1.0
    if t <= 0.0 or vol <= 0.0:
        return _degenerate_nb(s, k, t, r, q, w)
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    d1 = (math.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    dq = math.exp(-q * t)
    sdq = s * dq
    kdr = k * math.exp(-r * t)
    e1 = math.exp(-0.5 * d1 * d1)
    nd1 = norm_cdf_fast_nb(w * d1, e1)  # N(d1) for calls, N(-d1) for puts
    nd2 = norm_cdf_fast_nb(w * d2, math.exp(-0.5 * d2 * d2))
    pdf = _INV_SQRT_2PI * e1
    price = w * (sdq * nd1 - kdr * nd2)
    delta = w * dq * nd1
    gamma = dq * pdf / (s * sd)
    vega = sdq * pdf * sqrt_t
    theta = -0.5 * sdq * pdf * vol / sqrt_t + w * (q * sdq * nd1 - r * kdr * nd2)
    rho = w * kdr * t * nd2
    return price, delta, gamma, theta / DAYS_PER_YEAR, vega / 100.0, rho / 100.0


@njit(cache=True, parallel=True)
def bs_greeks_into_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8], out: FloatArray,
) -> None:
    """Price and Greeks of n contracts in parallel into rows of ``out`` (6, n): price, delta, gamma,
    theta, vega, rho. Reusing ``out`` across calls avoids first-touch page faults on fresh memory."""
    for i in prange(spot.shape[0]):
        p, de, g, th, v, rh = bs_one_nb(spot[i], strike[i], t_years[i], vol[i], rate[i],
                                        div_yield[i], is_call[i] != 0)
        out[0, i] = p
        out[1, i] = de
        out[2, i] = g
        out[3, i] = th
        out[4, i] = v
        out[5, i] = rh


@njit(cache=True)
def bs_greeks_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Price and Greeks of n contracts (parallel) -> (price, delta, gamma, theta, vega, rho)."""
    out = np.empty((6, spot.shape[0]))
    bs_greeks_into_nb(spot, strike, t_years, vol, rate, div_yield, is_call, out)
    return out[0], out[1], out[2], out[3], out[4], out[5]


@njit(cache=True)
def position_greeks_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8], qty: FloatArray, multiplier: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-position Greeks in account currency -> (delta_notional, gamma, vega, theta).

    qty is signed contracts (+ long, - short); with m = qty*multiplier:
    delta_notional = delta*S*m (currency exposure to the underlying), gamma = gamma*m (change of the
    share-equivalent delta per 1.00 move of the underlying), vega = vega*m (currency per vol point),
    theta = theta*m (currency per calendar day). NaN inputs give NaN.
    """
    out = np.empty((4, spot.shape[0]))
    position_greeks_into_nb(spot, strike, t_years, vol, rate, div_yield, is_call, qty, multiplier, out)
    return out[0].copy(), out[1].copy(), out[2].copy(), out[3].copy()


@njit(cache=True, parallel=True)
def position_greeks_into_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8], qty: FloatArray, multiplier: FloatArray,
    out: FloatArray,
) -> None:
    """``position_greeks_nb`` into the rows of ``out`` (4, n), the positions in parallel."""
    for i in prange(spot.shape[0]):
        _, de, g, th, v, _ = bs_one_nb(spot[i], strike[i], t_years[i], vol[i], rate[i],
                                       div_yield[i], is_call[i] != 0)
        m = qty[i] * multiplier[i]
        if not math.isfinite(m):
            m = np.nan
        out[0, i] = de * spot[i] * m
        out[1, i] = g * m
        out[2, i] = v * m
        out[3, i] = th * m


@njit(cache=True, parallel=True)
def strategy_greeks_into_nb(
    spot: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8], ratio: FloatArray, starts: npt.NDArray[np.int64],
    out: FloatArray,
) -> None:
    """Price and Greeks per unit of multi-leg strategies into the rows of ``out`` (6, m): the legs of
    strategy j are ``starts[j]:starts[j + 1]``, each counted ``ratio`` times (+ bought, - sold), as
    ``bs_greeks`` gives them per leg. The strategies in parallel."""
    for j in prange(starts.shape[0] - 1):
        sp = sd = sg = st = sv = sr = 0.0  # scalars: an array per strategy would be allocated per iteration
        for i in range(starts[j], starts[j + 1]):
            p, de, g, th, v, rh = bs_one_nb(spot[i], strike[i], t_years[i], vol[i], rate[i],
                                            div_yield[i], is_call[i] != 0)
            w = ratio[i]
            sp += w * p
            sd += w * de
            sg += w * g
            st += w * th
            sv += w * v
            sr += w * rh
        out[0, j] = sp
        out[1, j] = sd
        out[2, j] = sg
        out[3, j] = st
        out[4, j] = sv
        out[5, j] = sr


@njit(cache=True)
def _price_vega_nb(
    sdq: float, kdr: float, log_fk: float, sqrt_t: float, vol: float, w: float
) -> tuple[float, float]:
    """Price and dV/dsigma (per unit vol) given S e^-qT, K e^-rT and ln(F/K) = ln(S e^-qT / K e^-rT)."""
    sd = vol * sqrt_t
    d1 = log_fk / sd + 0.5 * sd
    d2 = d1 - sd
    e1 = math.exp(-0.5 * d1 * d1)
    nd1 = norm_cdf_fast_nb(w * d1, e1)
    nd2 = norm_cdf_fast_nb(w * d2, math.exp(-0.5 * d2 * d2))
    return w * (sdq * nd1 - kdr * nd2), sdq * _INV_SQRT_2PI * e1 * sqrt_t


@njit(cache=True)
def implied_vol_one_nb(
    price: float, s: float, k: float, t: float, r: float, q: float, call: bool
) -> float:
    """Implied vol of one contract by Newton steps inside a shrinking bracket on [IV_LOW, IV_HIGH],
    bisecting when a Newton step leaves the bracket; converged when the Newton step or the bracket is
    within IV_VOL_TOL of vol (a price residual alone would stop early where vega is small). Where the
    price's own rounding dominates (tiny vega), it stops after _IV_MAX_ITER steps inside the bracket.

    NaN when an input is non-finite or non-positive (T, S, K), when the price is outside the
    no-arbitrage bounds (max(+-(S e^-qT - K e^-rT), 0), S e^-qT for calls / K e^-rT for puts), or when
    the implied vol lies outside [IV_LOW, IV_HIGH].
    """
    if not (price > 0.0 and s > 0.0 and k > 0.0 and t > 0.0 and math.isfinite(price + s + k + t + r + q)):
        return np.nan
    w = 1.0 if call else -1.0
    sdq = s * math.exp(-q * t)
    kdr = k * math.exp(-r * t)
    upper = sdq if call else kdr
    if not (price > max(w * (sdq - kdr), 0.0) and price < upper):
        return np.nan
    log_fk = math.log(sdq / kdr)
    sqrt_t = math.sqrt(t)
    lo, hi = IV_LOW, IV_HIGH
    f_lo = _price_vega_nb(sdq, kdr, log_fk, sqrt_t, lo, w)[0] - price
    f_hi = _price_vega_nb(sdq, kdr, log_fk, sqrt_t, hi, w)[0] - price
    if abs(f_lo) <= IV_PRICE_TOL:
        return lo
    if abs(f_hi) <= IV_PRICE_TOL:
        return hi
    if f_lo > 0.0 or f_hi < 0.0:
        return np.nan
    # Start at the vol where the price is most sensitive (d1 = 0), a robust Newton starting point.
    vol = min(max(math.sqrt(2.0 * abs(log_fk) / t), 0.2), hi)
    for _ in range(_IV_MAX_ITER):
        f, vega = _price_vega_nb(sdq, kdr, log_fk, sqrt_t, vol, w)
        f -= price
        if f == 0.0:
            return vol
        if f > 0.0:
            hi = vol
        else:
            lo = vol
        step = vol - f / vega if vega > 0.0 else np.nan
        if lo < step < hi:
            # Converged on the vol itself: a small price residual is a large vol error where vega is small.
            if abs(step - vol) <= IV_VOL_TOL:
                return step
            vol = step
        else:
            vol = 0.5 * (lo + hi)
        if hi - lo <= IV_VOL_TOL:
            return vol
    return vol


@njit(cache=True, parallel=True)
def implied_vol_nb(
    price: FloatArray, spot: FloatArray, strike: FloatArray, t_years: FloatArray, rate: FloatArray,
    div_yield: FloatArray, is_call: npt.NDArray[np.int8],
) -> FloatArray:
    """Implied vols of n contracts in parallel (see ``implied_vol_one_nb``)."""
    n = price.shape[0]
    out = np.empty(n)
    for i in prange(n):
        out[i] = implied_vol_one_nb(price[i], spot[i], strike[i], t_years[i], rate[i], div_yield[i],
                                    is_call[i] != 0)
    return out


class Greeks(NamedTuple):
    """Per-contract price and Greeks per unit of the underlying (conventions in the module doc)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray


class PortfolioGreeks(NamedTuple):
    """Position Greeks in account currency (see ``position_greeks_nb``) and their portfolio sums.

    A sum is NaN when any position's value is NaN, so a risk check comparing it to a limit fails closed.
    """

    delta_notional: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    total_delta_notional: float
    total_gamma: float
    total_vega: float
    total_theta: float


def _inputs(n_name: str, *named: tuple[str, npt.ArrayLike]) -> list[FloatArray]:
    """Broadcast array-likes (scalars allowed) to contiguous 1-D float64 arrays of one length."""
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for _, v in named]
    try:
        shaped = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{name}{a.shape}" for (name, _), a in zip(named, arrays))
        msg = f"{n_name} inputs must be scalars or 1-D arrays of one length, got {shapes}."
        raise ValueError(msg) from None
    if shaped[0].ndim != 1:
        raise ValueError(f"{n_name} inputs must be 1-D, got shape {shaped[0].shape}.")
    return [np.ascontiguousarray(a) for a in shaped]


def _flags(is_call: npt.ArrayLike, n: int) -> npt.NDArray[np.int8]:
    flags = np.asarray(is_call)
    if flags.dtype.kind not in "biu":
        raise ValueError(f"is_call must be bool or integer (1 call, 0 put), got dtype {flags.dtype}.")
    if flags.shape == (n,) and flags.dtype.itemsize == 1 and flags.flags.c_contiguous:
        return flags.view(np.int8)  # bool and int8 need no copy: kernels test != 0
    return np.ascontiguousarray(np.broadcast_to((flags != 0).astype(np.int8), (n,)))


def bs_greeks(
    spot: npt.ArrayLike, strike: npt.ArrayLike, t_years: npt.ArrayLike, vol: npt.ArrayLike,
    rate: npt.ArrayLike, div_yield: npt.ArrayLike, is_call: npt.ArrayLike, out: FloatArray | None = None,
) -> Greeks:
    """Black-Scholes-Merton price and Greeks; scalars broadcast against arrays (module doc).

    ``out``: optional float64 C-contiguous (6, n) buffer to fill and return views of (reuse it in a
    loop over the same book for speed); a fresh one is allocated otherwise.
    """
    arrs = _inputs("bs_greeks", ("spot", spot), ("strike", strike), ("t_years", t_years), ("vol", vol),
                   ("rate", rate), ("div_yield", div_yield))
    n = arrs[0].shape[0]
    if out is None:
        out = np.empty((6, n))
    elif not (out.shape == (6, n) and out.dtype == np.float64 and out.flags.c_contiguous
              and out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous float64 array of shape (6, {n}), "
                         f"got {out.dtype} {out.shape}.")
    s, k, t, v, r, q = arrs
    bs_greeks_into_nb(s, k, t, v, r, q, _flags(is_call, n), out)
    return Greeks(*out)


def implied_vol(
    price: npt.ArrayLike, spot: npt.ArrayLike, strike: npt.ArrayLike, t_years: npt.ArrayLike,
    rate: npt.ArrayLike, div_yield: npt.ArrayLike, is_call: npt.ArrayLike,
) -> FloatArray:
    """Implied vols (NaN where no vol in [IV_LOW, IV_HIGH] reproduces the price; see kernel doc)."""
    arrs = _inputs("implied_vol", ("price", price), ("spot", spot), ("strike", strike),
                   ("t_years", t_years), ("rate", rate), ("div_yield", div_yield))
    p, s, k, t, r, q = arrs
    return implied_vol_nb(p, s, k, t, r, q, _flags(is_call, p.shape[0]))


def strategy_greeks(
    spot: npt.ArrayLike, strike: npt.ArrayLike, t_years: npt.ArrayLike, vol: npt.ArrayLike,
    rate: npt.ArrayLike, div_yield: npt.ArrayLike, is_call: npt.ArrayLike, ratio: npt.ArrayLike,
    starts: npt.ArrayLike, out: FloatArray | None = None,
) -> Greeks:
    """Price and Greeks per unit of each multi-leg strategy (``strategy_greeks_into_nb``): one element per
    leg, ``starts`` the index of each strategy's first leg and, last, the number of legs."""
    arrs = _inputs("strategy_greeks", ("spot", spot), ("strike", strike), ("t_years", t_years), ("vol", vol),
                   ("rate", rate), ("div_yield", div_yield), ("ratio", ratio))
    s, k, t, v, r, q, w = arrs
    first = np.ascontiguousarray(starts, dtype=np.int64)
    if first.ndim != 1 or first.shape[0] < 1 or first[0] != 0 or first[-1] != s.shape[0] \
            or np.any(np.diff(first) < 0):
        raise ValueError(f"starts must rise from 0 to the number of legs ({s.shape[0]}), got {first[:8]}...")
    m = first.shape[0] - 1
    if out is None:
        out = np.empty((6, m))
    elif out.shape != (6, m):
        raise ValueError(f"out must have shape (6, {m}), got {out.shape}")
    strategy_greeks_into_nb(s, k, t, v, r, q, _flags(is_call, s.shape[0]), w, first, out)
    return Greeks(out[0], out[1], out[2], out[3], out[4], out[5])


def portfolio_greeks(
    spot: npt.ArrayLike, strike: npt.ArrayLike, t_years: npt.ArrayLike, vol: npt.ArrayLike,
    rate: npt.ArrayLike, div_yield: npt.ArrayLike, is_call: npt.ArrayLike, qty: npt.ArrayLike,
    multiplier: npt.ArrayLike = 100.0,
) -> PortfolioGreeks:
    """Position Greeks per contract line and their sums (delta notional, gamma, vega, theta per day)."""
    arrs = _inputs("portfolio_greeks", ("spot", spot), ("strike", strike), ("t_years", t_years),
                   ("vol", vol), ("rate", rate), ("div_yield", div_yield), ("qty", qty),
                   ("multiplier", multiplier))
    s, k, t, v, r, q, units, mult = arrs
    pos = position_greeks_nb(s, k, t, v, r, q, _flags(is_call, s.shape[0]), units, mult)
    totals = [float(np.sum(a)) for a in pos]  # NaN-propagating on purpose
    return PortfolioGreeks(*pos, *totals)
