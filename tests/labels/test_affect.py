import numpy as np
import pytest
from scipy.stats import multivariate_normal

from softfer.labels import (
    AffectStats,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    va_to_class,
    validate_va,
)

CENTROIDS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def _toy_data(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.6, 0.2], [-0.5, -0.3], [-0.4, 0.6], [0.1, -0.6]])
    labels = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    cov = np.array([[0.03, 0.01], [0.01, 0.02]])
    va = np.clip(centres[labels] + rng.multivariate_normal([0, 0], cov, size=n), -1, 1)
    return va, labels


def _reference_stats(va, labels, k):
    priors, means, covs = [], [], []
    for c in range(k):
        pts = va[labels == c]
        priors.append(len(pts) / len(va))
        m, s = pts.mean(0), pts.std(0)
        keep = (np.abs(pts[:, 0] - m[0]) <= s[0]) & (np.abs(pts[:, 1] - m[1]) <= s[1])
        core = pts[keep]
        mu = core.mean(0)
        centred = core - mu
        means.append(mu)
        covs.append(centred.T @ centred / len(core))
    return np.array(priors), np.array(means), np.array(covs)


def test_fit_matches_independent_computation():
    va, labels = _toy_data()
    stats = fit_affect_stats(va, labels, 4)
    priors, means, covs = _reference_stats(va, labels, 4)
    np.testing.assert_allclose(stats.priors, priors)
    np.testing.assert_allclose(stats.means, means)
    np.testing.assert_allclose(stats.covs, covs)


def test_gmm_labels_match_scipy():
    va, labels = _toy_data(1)
    stats = fit_affect_stats(va, labels, 4)
    query = np.random.default_rng(2).uniform(-1, 1, size=(200, 2))
    dens = np.stack(
        [stats.priors[k] * multivariate_normal(stats.means[k], stats.covs[k]).pdf(query) for k in range(4)], 1
    )
    np.testing.assert_allclose(
        gmm_labels(query, stats), dens / dens.sum(1, keepdims=True), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(va_to_class(query, stats), dens.argmax(1))


def test_gmm_hand_worked_three_classes():
    stats = AffectStats(np.full(3, 1 / 3), CENTROIDS, np.stack([np.eye(2)] * 3), np.ones(3))
    e = np.exp(0.5)  # posterior ratio exp(-0.125) / exp(-0.625)
    np.testing.assert_allclose(gmm_labels([[0.5, 0.0]], stats)[0], [e, e, 1] / (2 * e + 1))


def test_euclidean_hand_worked_and_reference():
    np.testing.assert_allclose(euclidean_labels([[0.5, 0.0]], CENTROIDS)[0], [5 / 11, 5 / 11, 1 / 11])
    d = np.array([0.5, 0.5, np.sqrt(1.25)])
    ref = d.max() / d
    np.testing.assert_allclose(euclidean_labels([[0.5, 0.0]], CENTROIDS, squared=False)[0], ref / ref.sum())
    q = np.random.default_rng(3).uniform(-1, 1, size=(100, 2))
    d2 = ((q[:, None, :] - CENTROIDS[None]) ** 2).sum(-1)
    ref = d2.max(1, keepdims=True) / d2
    np.testing.assert_allclose(euclidean_labels(q, CENTROIDS), ref / ref.sum(1, keepdims=True))


def test_centroid_and_far_points_are_finite():
    va, labels = _toy_data(4)
    stats = fit_affect_stats(va, labels, 4)
    points = np.vstack([stats.means, [[1e6, 1e6], [-1e6, 3.0]]])
    for p in (gmm_labels(points, stats), euclidean_labels(points, stats.means)):
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(1), 1.0)
    on_centroid = euclidean_labels(stats.means, stats.means)
    np.testing.assert_allclose(on_centroid, np.eye(4))


def test_fusion_eq4():
    p_va = np.array([[0.2, 0.5, 0.3]])
    np.testing.assert_allclose(fuse_labels(np.array([0]), p_va, alpha=0.5), [[0.6, 0.25, 0.15]])
    np.testing.assert_allclose(fuse_labels(np.array([2]), p_va, alpha=1.0), [[0, 0, 1]])
    np.testing.assert_allclose(fuse_labels(np.array([2]), p_va, alpha=0.0), p_va)
    with pytest.raises(ValueError, match="row 0: label 3"):
        fuse_labels(np.array([3]), p_va)


def test_validate_va_names_the_row():
    missing = validate_va(np.array([[0.1, 0.2], [-2, -2], [1.0, -1.0]]))
    np.testing.assert_array_equal(missing, [False, True, False])
    with pytest.raises(ValueError, match="row 1 has valence/arousal"):
        validate_va(np.array([[0.1, 0.2], [1.5, 0.0]]))
    with pytest.raises(ValueError, match="row 0"):
        validate_va(np.array([[-2.0, 0.3]]))  # half-missing is not the sentinel
    with pytest.raises(ValueError, match="row 0"):
        validate_va(np.array([[np.nan, 0.2]]))


def test_fit_falls_back_to_all_samples_for_tiny_classes():
    va = np.array(
        [[0.5, 0.5], [0.6, 0.4], [0.55, 0.3], [-0.5, -0.5], [-0.45, -0.6], [-0.6, -0.2], [-0.3, -0.9]]
    )
    stats = fit_affect_stats(va, np.array([0, 0, 0, 1, 1, 1, 1]), 2)
    np.testing.assert_allclose(stats.means[0], va[:3].mean(0))  # < 3 within one std: all three used
    with pytest.raises(ValueError, match="class 1: only 2 samples"):
        fit_affect_stats(va[:5], np.array([0, 0, 0, 1, 1]), 2)


def test_a_class_without_prior_gets_posterior_zero_without_a_warning():
    """A stats file may give a class prior 0 (no training image of it): its posterior is exactly 0, and
    numpy's divide-by-zero warning on log 0 is not printed beside every label file."""
    import warnings

    stats = AffectStats(
        np.array([0.0, 1.0]),
        np.array([[0.0, 0.0], [0.5, 0.5]]),
        np.array([np.eye(2) * 0.1] * 2),
        np.array([0, 5.0]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gmm_labels(np.array([[0.1, 0.1]]), stats).tolist() == [[0.0, 1.0]]
