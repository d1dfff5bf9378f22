"""Issue 16: ambiguity-aware metrics against independent references (scikit-learn, SciPy, hand-computed)."""

from itertools import permutations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy
from sklearn.metrics import brier_score_loss, log_loss

from softfer import metrics


@pytest.fixture()
def sample():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=200)
    labels = rng.integers(0, 5, size=200)
    votes = rng.dirichlet(np.full(5, 0.7), size=200)
    return probs, labels, votes


def test_nll_matches_sklearn_log_loss(sample):
    probs, labels, _ = sample
    assert metrics.nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=range(5)), rel=1e-9)


def test_brier_by_hand():
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    labels = np.array([0, 0, 2, 1])
    # certain and right 0, certain and wrong 2, uniform 1 - 1/3, half right (0.25 + 0.25)
    expected = (0.0 + 2.0 + 2 / 3 + 0.5) / 4
    assert metrics.brier(probs, labels) == pytest.approx(expected)


def test_ece_equal_mass_by_hand():
    # 4 clips, 2 bins of 2 by confidence: {0.6 wrong, 0.7 right} and {0.8 right, 0.9 right}
    probs = np.array([[0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.9, 0.1]])
    labels = np.array([1, 0, 1, 0])
    low = abs(0.5 - 0.65)
    high = abs(1.0 - 0.85)
    assert metrics.ece_equal_mass(probs, labels, n_bins=2) == pytest.approx(0.5 * low + 0.5 * high)
    # one bin per clip: the mean of |hit - confidence|
    per_clip = np.mean([abs(0 - 0.6), abs(1 - 0.7), abs(1 - 0.8), abs(1 - 0.9)])
    assert metrics.ece_equal_mass(probs, labels, n_bins=4) == pytest.approx(per_clip)


def test_kl_and_js_match_scipy(sample):
    probs, _, votes = sample
    kl = np.mean([entropy(q, p) for p, q in zip(probs, votes, strict=True)])
    js = np.mean([jensenshannon(p, q) ** 2 for p, q in zip(probs, votes, strict=True)])
    assert metrics.kl_to_votes(probs, votes) == pytest.approx(kl, rel=1e-9)
    assert metrics.js_to_votes(probs, votes) == pytest.approx(js, rel=1e-9)
    one_hot = np.eye(5)[[0, 1]]
    assert metrics.js_to_votes(one_hot, one_hot[::-1]) == pytest.approx(np.log(2))  # the maximum, finite


def test_risk_coverage_and_aurc_closed_forms():
    # 4 clips, 2 errors. Confidence ranks the right ones first: risks 0, 0, 1/3, 2/4.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    right_first = np.array([0, 0, 1, 1])
    coverage, risk = metrics.risk_coverage(probs, right_first)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 0, 1 / 3, 0.5])
    assert metrics.aurc(probs, right_first) == pytest.approx((0 + 0 + 1 / 3 + 0.5) / 4)
    # the worst ranking: the errors first, risks 1, 1, 2/3, 2/4
    wrong_first = np.array([1, 1, 0, 0])
    assert metrics.aurc(probs, wrong_first) == pytest.approx((1 + 1 + 2 / 3 + 0.5) / 4)


def test_clear_vs_ambiguous_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 1])
    votes = np.array([[1.0, 0.0], [0.95, 0.05], [0.6, 0.4], [0.5, 0.5]])
    out = metrics.clear_vs_ambiguous(probs, labels, votes, clear_threshold=0.9)
    assert out["clear"] == {"count": 2, "accuracy": 0.5, "uar": 0.5}
    assert out["ambiguous"] == {"count": 2, "accuracy": 1.0, "uar": 1.0}


def test_vote_metrics_are_absent_without_votes_and_use_only_voted_rows(sample):
    probs, labels, votes = sample
    without = metrics.classification_report(probs, labels)
    assert without["kl_to_votes"] is None and without["js_to_votes"] is None
    assert without["clear_vs_ambiguous"] is None and without["num_vote_samples"] == 0
    placeholder = np.eye(5)[labels]  # what a dataset without votes puts in its soft labels
    none_voted = metrics.classification_report(
        probs, labels, soft_target=placeholder, has_votes=np.zeros(200, bool)
    )
    assert none_voted["kl_to_votes"] is None
    half = np.arange(200) < 100
    mixed = metrics.classification_report(probs, labels, soft_target=votes, has_votes=half)
    assert mixed["num_vote_samples"] == 100
    assert mixed["kl_to_votes"] == pytest.approx(metrics.kl_to_votes(probs[:100], votes[:100]))
    full = metrics.classification_report(probs, labels, soft_target=votes)
    assert full["nll"] == pytest.approx(log_loss(labels, probs, labels=range(5)))
    assert full["aurc"] == pytest.approx(metrics.aurc(probs, labels))
    assert full["risk_coverage"]["coverage"][-1] == 1.0 and len(full["risk_coverage"]["risk"]) == 21


def test_brier_of_two_classes_is_twice_sklearns_binary_brier(sample):
    # Our convention sums the squared error over both classes; scikit-learn's binary score counts one.
    probs, labels, _ = sample
    p1 = probs[:, 1] / (probs[:, 0] + probs[:, 1])
    two = np.stack([1 - p1, p1], axis=1)
    y = (labels % 2).astype(int)
    assert metrics.brier(two, y) == pytest.approx(2 * brier_score_loss(y, p1), rel=1e-9)


def test_ece_equal_mass_uneven_bins_and_ties_by_hand():
    # 5 clips into 2 bins: ranks 0-2 (floor(i * 2 / 5) = 0) and ranks 3-4.
    probs = np.array([[0.55, 0.45], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]])
    labels = np.array([0, 1, 0, 0, 1])
    low = abs(2 / 3 - (0.55 + 0.6 + 0.7) / 3)
    high = abs(0.5 - 0.85)
    assert metrics.ece_equal_mass(probs, labels, n_bins=2) == pytest.approx((3 * low + 2 * high) / 5)
    # All confidences tied: one bin, perfectly calibrated (half right at 0.5), whatever the order.
    tied = np.full((4, 2), 0.5)
    for order in ([0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]):
        assert metrics.ece_equal_mass(tied, np.array(order), n_bins=2) == pytest.approx(0.0)


def _stable_curve(conf, errors):
    order = np.argsort(-conf, kind="stable")
    return np.cumsum(errors[order]) / np.arange(1, len(conf) + 1)


def test_risk_coverage_with_tied_confidences_is_the_mean_over_tie_orders():
    # Independent reference: every order of the input, ranked with a stable sort, averaged.
    conf = np.array([0.9, 0.7, 0.7, 0.7, 0.6, 0.6])
    errors = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = errors.astype(int)  # class 0 is always predicted: label 1 is an error
    ref = np.mean([_stable_curve(conf[list(p)], errors[list(p)]) for p in permutations(range(6))], axis=0)
    np.testing.assert_allclose(metrics.risk_coverage(probs, labels)[1], ref)
    shuffled = [3, 5, 0, 4, 2, 1]
    assert metrics.aurc(probs[shuffled], labels[shuffled]) == pytest.approx(metrics.aurc(probs, labels))
    # A constant confidence cannot rank: the curve is flat at the error rate.
    flat = np.full((8, 2), 0.5)
    y = np.array([0, 1, 1, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(metrics.risk_coverage(flat, y)[1], np.full(8, 3 / 8))


def test_aurc_of_a_perfect_ranking_closed_form():
    # n clips, m errors ranked last: risk 0 up to n - m kept, then (k - (n - m)) / k.
    n, m = 10, 3
    conf = np.linspace(0.95, 0.5, n)
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = (np.arange(n) >= n - m).astype(int)
    expected = sum((k - (n - m)) / k for k in range(n - m + 1, n + 1)) / n
    assert metrics.aurc(probs, labels) == pytest.approx(expected)
    assert metrics.aurc(probs, 1 - labels) > metrics.aurc(probs, labels)  # a worse ranking scores worse


def test_ambiguity_threshold_is_strict_and_robust_to_float32_vote_shares():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    labels = np.array([0, 0, 1])
    votes = np.array([[0.6, 0.4], [0.7, 0.3], [0.4, 0.6]], dtype=np.float32)  # 0.6 is 0.60000002
    out = metrics.clear_vs_ambiguous(probs, labels, votes, clear_threshold=0.6)
    assert out["clear"]["count"] == 1 and out["ambiguous"]["count"] == 2  # 6/10 is not above 0.6
    report = metrics.classification_report(probs, labels, soft_target=votes, clear_threshold=0.6)
    assert report["clear_vs_ambiguous"] == out
    default = metrics.classification_report(probs, labels, soft_target=votes)["clear_vs_ambiguous"]
    assert default["threshold"] == 0.9 and default["clear"] == {"count": 0, "accuracy": None, "uar": None}


def test_report_refuses_inputs_that_are_not_distributions(sample):
    probs, labels, votes = sample
    with pytest.raises(ValueError, match="probs row 0 is not a probability distribution"):
        metrics.classification_report(np.log(probs), labels)  # logits, say
    counts = votes.copy()
    counts[7] *= 10  # raw vote counts
    with pytest.raises(ValueError, match=r"soft_target \(votes\) row 7"):
        metrics.classification_report(probs, labels, soft_target=counts)
    unvoted = np.arange(200) != 7  # the same row as a placeholder of an item without votes: not scored
    report = metrics.classification_report(probs, labels, soft_target=counts, has_votes=unvoted)
    assert report["num_vote_samples"] == 199 and report["kl_to_votes"] is not None
    with pytest.raises(ValueError, match="has_votes has shape"):
        metrics.classification_report(probs, labels, soft_target=votes, has_votes=np.ones(3, bool))
    with pytest.raises(ValueError, match="N > 0"):
        metrics.classification_report(np.zeros((0, 5)), np.zeros(0, int))
