import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.metrics import confusion_matrix as sk_confusion

from softfer import metrics

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:sklearn")


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 200), k=st.integers(2, 8))
def test_classification_metrics_match_sklearn(seed, n, k):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    p = np.where(rng.random(n) < 0.5, y, rng.integers(0, k, size=n))
    assert metrics.war(p, y, k) == pytest.approx(accuracy_score(y, p))
    assert metrics.uar(p, y, k) == pytest.approx(balanced_accuracy_score(y, p))
    assert metrics.macro_f1(p, y, k) == pytest.approx(
        f1_score(y, p, average="macro", zero_division=0), abs=1e-6
    )
    np.testing.assert_array_equal(
        metrics.confusion_matrix(p, y, k), sk_confusion(y, p, labels=list(range(k)))
    )


def test_uar_ignores_absent_classes_and_accepts_probabilities():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.1, 0.9, 0], [0.6, 0.4, 0]])
    assert metrics.uar(probs, y, 3) == pytest.approx(0.5)
    assert np.isnan(metrics.per_class_recall(probs, y, 3)[2])


def test_ccc_and_rmse_closed_form():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2))
    y = 0.7 * x + rng.normal(scale=0.5, size=(500, 2)) + 0.1
    for d in range(2):
        a, b = x[:, d], y[:, d]
        cov = ((a - a.mean()) * (b - b.mean())).mean()
        expected = 2 * cov / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
        assert metrics.ccc(x, y)[d] == pytest.approx(expected, rel=1e-3)
    np.testing.assert_allclose(metrics.rmse(x, y), np.sqrt(((x - y) ** 2).mean(0)))
    assert metrics.ccc(x[:, 0], x[:, 0]) == pytest.approx(1.0)


def test_ece_hand_computed():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # bins: conf 0.9 (two, acc 0.5) -> |0.9-0.5|*2; 0.6 (acc 1) -> 0.4; 0.7 (acc 1) -> 0.3
    assert metrics.ece(probs, y, n_bins=10) == pytest.approx((0.8 + 0.4 + 0.3) / 4)
    bins = metrics.reliability_bins(probs, y, n_bins=10)
    assert bins["count"].sum() == 4 and bins["count"][8] == 2


def test_soft_scores():
    q = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert metrics.kl_to_votes(q, q) == pytest.approx(0.0)
    assert metrics.soft_cross_entropy(q, q) == pytest.approx(np.log(2) / 2)
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    expected = (0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1) + np.log(2)) / 2
    assert metrics.kl_to_votes(p, q) == pytest.approx(expected)


def test_bad_targets_name_the_row():
    with pytest.raises(ValueError, match="target row 1: class 5"):
        metrics.uar(np.array([0, 1]), np.array([0, 5]), 3)
