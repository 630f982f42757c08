"""Gaussian mixture EM: parameter recovery, monotone likelihood, scikit-learn agreement, real bars."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.gmm import (
    COV_DIAG,
    COV_FULL,
    GaussianMixtureFit,
    fit_gaussian_mixture,
    gmm_init_nb,
    gmm_score_nb,
    kmeans_pp_labels_nb,
    predict,
    predict_proba,
    quantile_labels_nb,
)
from engine.regime import regime_features_nb

TRUE_W = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[-4.0, 0.0], [0.0, 3.0], [5.0, -1.0]])
TRUE_COVS = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.5, -0.4], [-0.4, 0.6]]])


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.choice(3, size=n, p=TRUE_W)
    x = np.array([rng.multivariate_normal(TRUE_MEANS[j], TRUE_COVS[j]) for j in z])
    return x, z


X3, Z3 = sample(6000, 7)


def by_first_mean(fit: GaussianMixtureFit) -> np.ndarray:
    return np.argsort(fit.means[:, 0])  # true components are ordered by their first mean


@pytest.mark.parametrize("init", ["kmeans++", "quantile"])
def test_full_covariance_fit_recovers_the_generating_mixture(init: str) -> None:
    fit = fit_gaussian_mixture(X3, 3, init=init, seed=3)
    order = by_first_mean(fit)
    assert fit.converged
    np.testing.assert_allclose(fit.weights[order], TRUE_W, atol=0.02)
    np.testing.assert_allclose(fit.means[order], TRUE_MEANS, atol=0.1)
    np.testing.assert_allclose(fit.covariances[order], TRUE_COVS, atol=0.15)
    # the true labels are recovered for almost every point
    assert (order.argsort()[predict(fit, X3)] == Z3).mean() > 0.98


def test_diagonal_fit_recovers_variances_and_has_no_covariance_terms() -> None:
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal([0, 0], [1.0, 0.3], (2000, 2)), rng.normal([4, 2], [0.5, 1.5], (1000, 2))])
    fit = fit_gaussian_mixture(x, 2, covariance="diag", seed=0)
    order = by_first_mean(fit)
    np.testing.assert_allclose(fit.weights[order], [2 / 3, 1 / 3], atol=0.02)
    np.testing.assert_allclose(fit.means[order], [[0, 0], [4, 2]], atol=0.1)
    variances = np.diagonal(fit.covariances, axis1=1, axis2=2)[order]
    np.testing.assert_allclose(variances, [[1.0, 0.09], [0.25, 2.25]], rtol=0.1)
    assert fit.covariances[:, 0, 1].tolist() == [0.0, 0.0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.sampled_from(["full", "diag"]))
def test_log_likelihood_never_decreases(seed: int, k: int, covariance: str) -> None:
    x = sample(300, seed)[0]
    fit = fit_gaussian_mixture(x, k, covariance=covariance, seed=seed, reg_covar=0.0, tol=1e-10)
    steps = np.diff(fit.log_likelihood_history)
    assert steps.min() >= -1e-12 * abs(fit.log_likelihood)
    assert fit.log_likelihood == fit.log_likelihood_history[-1]
    assert len(fit.log_likelihood_history) == fit.n_iter + 1


def test_reported_log_likelihood_is_the_mean_log_density() -> None:
    fit = fit_gaussian_mixture(X3, 3, seed=0)
    dens = np.zeros(len(X3))
    for w, m, c in zip(fit.weights, fit.means, fit.covariances):
        diff = X3 - m
        maha = np.einsum("ij,jk,ik->i", diff, np.linalg.inv(c), diff)
        dens += w * np.exp(-0.5 * maha) / np.sqrt((2 * np.pi) ** 2 * np.linalg.det(c))
    assert fit.log_likelihood == pytest.approx(np.log(dens).mean(), rel=1e-12)
    assert gmm_score_nb(X3, fit.weights, fit.means, fit.covariances) == fit.log_likelihood
    proba = predict_proba(fit, X3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(predict(fit, X3), proba.argmax(axis=1))


@pytest.mark.parametrize(("covariance", "code"), [("full", COV_FULL), ("diag", COV_DIAG)])
def test_matches_scikit_learn_from_the_same_start(covariance: str, code: int) -> None:
    mixture = pytest.importorskip("sklearn.mixture")
    x = X3[:1500]
    w0, m0, c0 = gmm_init_nb(x, 3, code, 0, 11, 1e-6)
    prec = np.linalg.inv(c0) if covariance == "full" else 1.0 / np.diagonal(c0, axis1=1, axis2=2)
    ref = mixture.GaussianMixture(3, covariance_type=covariance, max_iter=25, tol=0.0, reg_covar=1e-6,
                                  weights_init=w0, means_init=m0, precisions_init=prec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs exactly max_iter steps
        ref.fit(x)
    fit = fit_gaussian_mixture(x, 3, covariance=covariance, max_iter=25, tol=0.0, initial=(w0, m0, c0))
    assert fit.n_iter == ref.n_iter_ == 25
    assert fit.log_likelihood == pytest.approx(ref.score(x), rel=1e-9)
    np.testing.assert_allclose(fit.weights, ref.weights_, atol=1e-9)
    np.testing.assert_allclose(fit.means, ref.means_, atol=1e-8)
    ref_covs = ref.covariances_ if covariance == "full" else np.array([np.diag(v) for v in ref.covariances_])
    np.testing.assert_allclose(fit.covariances, ref_covs, atol=1e-8)


def test_seeded_init_is_reproducible_and_quantile_init_ignores_the_seed() -> None:
    a = fit_gaussian_mixture(X3[:800], 3, seed=5)
    b = fit_gaussian_mixture(X3[:800], 3, seed=5)
    np.testing.assert_array_equal(a.means, b.means)
    q1 = fit_gaussian_mixture(X3[:800], 3, init="quantile", seed=1)
    q2 = fit_gaussian_mixture(X3[:800], 3, init="quantile", seed=2)
    np.testing.assert_array_equal(q1.means, q2.means)


def test_init_labels() -> None:
    labels = quantile_labels_nb(np.array([[5.0], [1.0], [3.0], [2.0], [4.0], [0.0]]), 3)
    assert labels.tolist() == [2, 0, 1, 1, 2, 0]  # ranked by the first feature, 2 per group
    km = kmeans_pp_labels_nb(X3, 3, 0)
    # k-means partition equals the true one up to relabelling for well separated blobs
    mapping = {t: np.bincount(km[Z3 == t]).argmax() for t in range(3)}
    assert len(set(mapping.values())) == 3
    assert np.mean([mapping[t] == k for t, k in zip(Z3, km)]) > 0.95


def test_iteration_cap_and_convergence_flag() -> None:
    capped = fit_gaussian_mixture(X3, 3, max_iter=2, tol=0.0)
    assert (capped.n_iter, capped.converged) == (2, False)
    assert len(capped.log_likelihood_history) == 3
    done = fit_gaussian_mixture(X3, 3, tol=1e-3)
    assert done.converged and done.n_iter < 500
    assert abs(done.log_likelihood_history[-1] - done.log_likelihood_history[-2]) < 1e-3


def test_one_column_input_and_single_component() -> None:
    x = np.random.default_rng(0).normal(2.0, 3.0, 4000)
    fit = fit_gaussian_mixture(x, 1)
    assert fit.n_iter == 1 and fit.converged  # the init M-step is already the answer
    assert fit.means[0, 0] == pytest.approx(x.mean(), rel=1e-12)
    assert fit.covariances[0, 0, 0] == pytest.approx(x.var() + 1e-6, rel=1e-10)


def test_bad_inputs_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="finite"):
        fit_gaussian_mixture(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="k <= number of rows"):
        fit_gaussian_mixture(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="covariance must be one of"):
        fit_gaussian_mixture(X3, 2, covariance="spherical")
    with pytest.raises(ValueError, match="raise reg_covar"):
        fit_gaussian_mixture(np.ones((50, 2)), 1, reg_covar=0.0)
    with pytest.raises(ValueError, match="initial must be"):
        fit_gaussian_mixture(X3, 2, initial=(np.ones(2) / 2, np.zeros((2, 3)), np.zeros((2, 2, 2))))
    # constant data is fine with regularisation: variance = reg_covar
    assert fit_gaussian_mixture(np.ones((50, 2)), 1).covariances[0, 0, 0] == pytest.approx(1e-6)


def test_runs_on_real_bar_features(adbe: dict[str, np.ndarray]) -> None:
    feats = regime_features_nb(adbe["close"], 20)
    feats = feats[np.isfinite(feats).all(axis=1)]
    z = (feats - feats.mean(axis=0)) / feats.std(axis=0)
    for covariance in ("full", "diag"):
        fit = fit_gaussian_mixture(z, 3, covariance=covariance, seed=0)
        assert fit.converged
        assert fit.weights.sum() == pytest.approx(1.0) and (fit.weights > 0.05).all()
        assert np.diff(fit.log_likelihood_history).min() > -1e-9
        assert all(np.linalg.eigvalsh(c).min() > 0 for c in fit.covariances)
        # a 3-component mixture explains the bars better than one Gaussian
        assert fit.log_likelihood > fit_gaussian_mixture(z, 1, covariance=covariance).log_likelihood + 0.03
