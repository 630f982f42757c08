"""Gaussian mixture model fitted by expectation-maximisation, as numba kernels.

Conventions:
- ``X`` is an (n, d) float64 array, one observation per row, no NaN; k components;
- parameters: ``weights`` (k,) summing to 1, ``means`` (k, d), ``covs`` (k, d, d). Diagonal
  covariance (``COV_DIAG``) is stored as a (k, d, d) matrix with zero off-diagonal terms;
- the M-step is scikit-learn's: n_k = sum_i r_ik + 10*eps, means = r^T X / n_k, covariance =
  weighted scatter / n_k + ``reg_covar`` on the diagonal (regularisation keeps every covariance
  positive definite when a component collapses onto few points);
- log-likelihood is the *mean per observation* log p(x) (scikit-learn's ``score``); EM never
  lowers it when reg_covar = 0, and with reg_covar > 0 a decrease is bounded by the
  regularisation (negligible for standardised features and the default 1e-6);
- iteration: params_0 from the initialisation, then for it = 1..max_iter an E-step on
  params_{it-1} and an M-step give params_it; convergence when |ll(params_it) - ll(params_{it-1})|
  < tol. ``ll_history[j]`` is ll(params_j) for j = 0..n_iter;
- initialisation: ``INIT_KMEANS_PP`` seeds k-means++ (numba's generator seeded with ``seed``)
  and refines with Lloyd iterations; ``INIT_QUANTILE`` (deterministic, seed unused) sorts rows by
  the first feature and splits them into k equal-count groups. Either hard assignment then goes
  through one M-step.
Kernels return ok=False when a covariance is not positive definite (raise reg_covar or
standardise the features).
"""

from __future__ import annotations

import math
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

COV_FULL = 0
COV_DIAG = 1
INIT_KMEANS_PP = 0
INIT_QUANTILE = 1
_LOG_2PI = math.log(2.0 * math.pi)
_NK_EPS = 10.0 * np.finfo(np.float64).eps
_LLOYD_ITERS = 50


@njit(cache=True)
def _cholesky_nb(a: FloatArray) -> tuple[FloatArray, bool]:
    """Lower-triangular L with L L^T = a; ok=False if a is not positive definite."""
    d = a.shape[0]
    lo = np.zeros((d, d))
    for j in range(d):
        s = a[j, j]
        for p in range(j):
            s -= lo[j, p] * lo[j, p]
        if not s > 0.0:
            return lo, False
        lo[j, j] = math.sqrt(s)
        for i in range(j + 1, d):
            t = a[i, j]
            for p in range(j):
                t -= lo[i, p] * lo[j, p]
            lo[i, j] = t / lo[j, j]
    return lo, True


@njit(cache=True)
def _weighted_log_prob_nb(
    X: FloatArray, weights: FloatArray, means: FloatArray, covs: FloatArray
) -> tuple[FloatArray, bool]:
    """(n, k) array of log(weight_k) + log N(x_i | mean_k, cov_k)."""
    n, d = X.shape
    k = weights.shape[0]
    out = np.empty((n, k))
    z = np.empty(d)
    for c in range(k):
        lo, ok = _cholesky_nb(covs[c])
        if not ok:
            return out, False
        log_det = 0.0
        for j in range(d):
            log_det += 2.0 * math.log(lo[j, j])
        const = math.log(weights[c]) - 0.5 * (d * _LOG_2PI + log_det)
        for i in range(n):
            maha = 0.0
            for j in range(d):  # forward substitution L z = x - mean
                t = X[i, j] - means[c, j]
                for p in range(j):
                    t -= lo[j, p] * z[p]
                z[j] = t / lo[j, j]
                maha += z[j] * z[j]
            out[i, c] = const - 0.5 * maha
    return out, True


@njit(cache=True)
def _e_step_nb(
    X: FloatArray, weights: FloatArray, means: FloatArray, covs: FloatArray
) -> tuple[FloatArray, float, bool]:
    """Responsibilities (n, k) and mean per-observation log-likelihood."""
    wlp, ok = _weighted_log_prob_nb(X, weights, means, covs)
    n, k = wlp.shape
    if not ok:
        return wlp, np.nan, False
    total = 0.0
    for i in range(n):
        top = wlp[i, 0]
        for c in range(1, k):
            top = max(top, wlp[i, c])
        s = 0.0
        for c in range(k):
            s += math.exp(wlp[i, c] - top)
        norm = top + math.log(s)
        total += norm
        for c in range(k):
            wlp[i, c] = math.exp(wlp[i, c] - norm)
    return wlp, total / n, True


@njit(cache=True)
def _m_step_nb(
    X: FloatArray, resp: FloatArray, cov_type: int, reg_covar: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weights, means and regularised covariances from responsibilities (scikit-learn's M-step)."""
    n, d = X.shape
    k = resp.shape[1]
    nk = np.full(k, _NK_EPS)
    means = np.zeros((k, d))
    covs = np.zeros((k, d, d))
    for c in range(k):
        for i in range(n):
            nk[c] += resp[i, c]
            for j in range(d):
                means[c, j] += resp[i, c] * X[i, j]
        means[c] /= nk[c]
        for i in range(n):
            r = resp[i, c]
            for a in range(d):
                da = X[i, a] - means[c, a]
                if cov_type == COV_DIAG:
                    covs[c, a, a] += r * da * da
                else:
                    for b in range(d):
                        covs[c, a, b] += r * da * (X[i, b] - means[c, b])
        covs[c] /= nk[c]
        for a in range(d):
            covs[c, a, a] += reg_covar
    return nk / nk.sum(), means, covs


@njit(cache=True)
def _one_hot_nb(labels: IntArray, k: int) -> FloatArray:
    resp = np.zeros((labels.shape[0], k))
    for i in range(labels.shape[0]):
        resp[i, labels[i]] = 1.0
    return resp


@njit(cache=True)
def _sq_dist_nb(X: FloatArray, i: int, centers: FloatArray, c: int) -> float:
    s = 0.0
    for j in range(X.shape[1]):
        s += (X[i, j] - centers[c, j]) ** 2
    return s


@njit(cache=True)
def _nearest_nb(
    X: FloatArray, centers: FloatArray, n_centers: int, labels: IntArray, dist: FloatArray
) -> None:
    """Fill labels/dist with each row's nearest of the first n_centers centres and its squared distance."""
    for i in range(X.shape[0]):
        best = np.inf
        for c in range(n_centers):
            s = _sq_dist_nb(X, i, centers, c)
            if s < best:
                best = s
                labels[i] = c
        dist[i] = best


@njit(cache=True)
def _kmeans_pp_centers_nb(X: FloatArray, k: int, seed: int) -> FloatArray:
    """k-means++ seeding: first centre uniform, each next one drawn with probability ~ D^2."""
    n = X.shape[0]
    np.random.seed(seed)
    centers = np.empty((k, X.shape[1]))
    centers[0] = X[np.random.randint(n)]
    labels = np.zeros(n, dtype=np.int64)
    dist = np.empty(n)
    for c in range(1, k):
        _nearest_nb(X, centers, c, labels, dist)
        total = dist.sum()
        pick = np.random.randint(n)
        if total > 0.0:
            u = np.random.random() * total
            acc = 0.0
            for i in range(n):
                acc += dist[i]
                if acc >= u:
                    pick = i
                    break
        centers[c] = X[pick]
    return centers


@njit(cache=True)
def kmeans_pp_labels_nb(X: FloatArray, k: int, seed: int) -> IntArray:
    """Cluster labels from seeded k-means++ then Lloyd iterations (empty clusters keep their centre)."""
    centers = _kmeans_pp_centers_nb(X, k, seed)
    n, d = X.shape
    labels = np.zeros(n, dtype=np.int64)
    previous = np.full(n, -1, dtype=np.int64)
    dist = np.empty(n)
    for _ in range(_LLOYD_ITERS):
        _nearest_nb(X, centers, k, labels, dist)
        if np.array_equal(labels, previous):
            break
        previous[:] = labels
        sums = np.zeros((k, d))
        counts = np.zeros(k)
        for i in range(n):
            sums[labels[i]] += X[i]
            counts[labels[i]] += 1.0
        for c in range(k):
            if counts[c] > 0.0:
                centers[c] = sums[c] / counts[c]
    return labels


@njit(cache=True)
def quantile_labels_nb(X: FloatArray, k: int) -> IntArray:
    """Deterministic labels: rows ranked by the first feature, split into k equal-count groups."""
    n = X.shape[0]
    order = np.argsort(X[:, 0], kind="mergesort")
    labels = np.empty(n, dtype=np.int64)
    for rank in range(n):
        labels[order[rank]] = rank * k // n
    return labels


@njit(cache=True)
def gmm_init_nb(
    X: FloatArray, k: int, cov_type: int, init: int, seed: int, reg_covar: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Initial (weights, means, covs): hard labels from ``init`` passed through one M-step."""
    if init == INIT_QUANTILE:
        labels = quantile_labels_nb(X, k)
    else:
        labels = kmeans_pp_labels_nb(X, k, seed)
    return _m_step_nb(X, _one_hot_nb(labels, k), cov_type, reg_covar)


@njit(cache=True)
def gmm_em_nb(
    X: FloatArray,
    weights: FloatArray,
    means: FloatArray,
    covs: FloatArray,
    cov_type: int,
    max_iter: int,
    tol: float,
    reg_covar: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, int, bool, bool]:
    """EM from the given parameters -> (weights, means, covs, ll_history, n_iter, converged, ok)."""
    history = np.full(max_iter + 1, np.nan)
    resp, ll, ok = _e_step_nb(X, weights, means, covs)
    history[0] = ll
    if not ok:
        return weights, means, covs, history[:1], 0, False, False
    for it in range(1, max_iter + 1):
        weights, means, covs = _m_step_nb(X, resp, cov_type, reg_covar)
        resp, ll, ok = _e_step_nb(X, weights, means, covs)
        history[it] = ll
        if not ok:
            return weights, means, covs, history[: it + 1], it, False, False
        if abs(ll - history[it - 1]) < tol:
            return weights, means, covs, history[: it + 1], it, True, True
    return weights, means, covs, history, max_iter, False, True


@njit(cache=True)
def gmm_predict_proba_nb(
    X: FloatArray, weights: FloatArray, means: FloatArray, covs: FloatArray
) -> FloatArray:
    """Posterior probability (n, k) of each component for each row; NaN if a covariance is invalid."""
    resp, _, ok = _e_step_nb(X, weights, means, covs)
    if not ok:
        resp[:] = np.nan
    return resp


@njit(cache=True)
def gmm_score_nb(X: FloatArray, weights: FloatArray, means: FloatArray, covs: FloatArray) -> float:
    """Mean per-row log-likelihood of X under the mixture (NaN if a covariance is invalid)."""
    _, ll, _ = _e_step_nb(X, weights, means, covs)
    return ll


class GaussianMixtureFit(NamedTuple):
    """Fitted mixture; ``log_likelihood`` is the mean per-row value of the final parameters."""

    weights: FloatArray
    means: FloatArray
    covariances: FloatArray
    log_likelihood: float
    log_likelihood_history: FloatArray
    n_iter: int
    converged: bool


_COV_TYPES = {"full": COV_FULL, "diag": COV_DIAG}
_INITS = {"kmeans++": INIT_KMEANS_PP, "quantile": INIT_QUANTILE}


def _as_observations(X: npt.ArrayLike) -> FloatArray:
    arr = np.ascontiguousarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise ValueError("X must be a finite (n, d) array of observations; drop warm-up NaN rows first.")
    return arr


def fit_gaussian_mixture(
    X: npt.ArrayLike,
    k: int,
    covariance: str = "full",
    init: str = "kmeans++",
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
    initial: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    n_init: int = 1,
) -> GaussianMixtureFit:
    """Fit a k-component mixture by EM (see module docstring for every convention).

    ``covariance`` is "full" or "diag"; ``init`` is "kmeans++" (uses ``seed``) or "quantile";
    ``initial`` = (weights, means, covs) overrides ``init`` (covs as (k, d, d) matrices).
    ``n_init`` > 1 restarts k-means++ with seeds seed, seed+1, ... and keeps the fit with the
    highest final log-likelihood (EM only finds a local optimum).
    """
    if n_init > 1 and initial is None and init == "kmeans++":
        fits = [fit_gaussian_mixture(X, k, covariance, init, seed + i, max_iter, tol, reg_covar)
                for i in range(n_init)]
        return max(fits, key=lambda f: f.log_likelihood)
    obs = _as_observations(X)
    if covariance not in _COV_TYPES or init not in _INITS:
        raise ValueError(f"covariance must be one of {list(_COV_TYPES)} and init one of {list(_INITS)}.")
    if not 1 <= k <= obs.shape[0] or max_iter < 1 or not (tol >= 0 and reg_covar >= 0):
        raise ValueError("need 1 <= k <= number of rows, max_iter >= 1, tol >= 0 and reg_covar >= 0.")
    cov_type = _COV_TYPES[covariance]
    if initial is None:
        w0, m0, c0 = gmm_init_nb(obs, int(k), cov_type, _INITS[init], int(seed), float(reg_covar))
    else:
        w0, m0, c0 = (np.ascontiguousarray(a, dtype=np.float64) for a in initial)
        if w0.shape != (k,) or m0.shape != (k, obs.shape[1]) or c0.shape != (k, obs.shape[1], obs.shape[1]):
            raise ValueError("initial must be (weights (k,), means (k, d), covs (k, d, d)) for X's d.")
    w, m, c, hist, n_iter, converged, ok = gmm_em_nb(
        obs, w0, m0, c0, cov_type, int(max_iter), float(tol), float(reg_covar))
    if not ok:
        raise ValueError("a covariance is not positive definite; raise reg_covar or standardise features.")
    return GaussianMixtureFit(w, m, c, float(hist[-1]), hist, int(n_iter), bool(converged))


def predict_proba(fit: GaussianMixtureFit, X: npt.ArrayLike) -> FloatArray:
    """Posterior component probabilities (n, k) of each row of X."""
    return gmm_predict_proba_nb(_as_observations(X), fit.weights, fit.means, fit.covariances)


def predict(fit: GaussianMixtureFit, X: npt.ArrayLike) -> IntArray:
    """Most probable component of each row of X."""
    return cast(IntArray, np.argmax(predict_proba(fit, X), axis=1).astype(np.int64))
