import numpy as np
import pytest

from softfer.labels import (
    clip_agreement,
    fleiss_kappa,
    hard_labels,
    max_share_histogram,
    soft_labels,
    split_clear_mixed,
    validate_votes,
)

# Fleiss (1971) worked example as published on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_soft_labels_are_vote_proportions():
    votes = np.array([[10, 0, 0], [5, 3, 2], [0, 1, 1]])
    np.testing.assert_allclose(soft_labels(votes), [[1, 0, 0], [0.5, 0.3, 0.2], [0, 0.5, 0.5]])


def test_hard_label_tie_rules():
    votes = np.array([[3, 3, 1], [1, 5, 5], [0, 2, 8]])
    np.testing.assert_array_equal(hard_labels(votes, tie="first"), [0, 1, 2])
    np.testing.assert_array_equal(hard_labels(votes, tie="drop"), [-1, -1, 2])
    picks = {tuple(hard_labels(votes, tie="random", seed=s)) for s in range(40)}
    assert all(p[0] in (0, 1) and p[1] in (1, 2) and p[2] == 2 for p in picks)
    assert len(picks) > 1
    assert (hard_labels(votes, tie="random", seed=3) == hard_labels(votes, tie="random", seed=3)).all()


def test_agreement_statistics_hand_computed():
    votes = np.array([[10, 0], [5, 5]])
    stats = clip_agreement(votes)
    np.testing.assert_allclose(stats["max_share"], [1.0, 0.5])
    np.testing.assert_allclose(stats["entropy"], [0.0, np.log(2)])
    counts, edges = max_share_histogram(votes, bins=4)
    np.testing.assert_array_equal(counts, [0, 0, 1, 1])  # 0.5 -> [0.5, 0.75), 1.0 -> closed last bin
    assert edges[0] == 0 and edges[-1] == 1
    # Shares k/10 land in their own decile bin despite floating-point edges.
    counts, _ = max_share_histogram(np.array([[k, 10 - k] for k in range(5, 11)]), bins=10)
    np.testing.assert_array_equal(counts, [0, 0, 0, 0, 0, 1, 1, 1, 1, 2])


def test_fleiss_kappa_matches_published_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_perfect_agreement_and_unequal_raters():
    assert fleiss_kappa(np.array([[10, 0], [0, 10]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="row 1"):
        fleiss_kappa(np.array([[10, 0], [3, 4]]))


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ([[1, 2], [3, -1]], "row 1 contains negative"),
        ([[1, 2], [1.5, 2]], "row 1 contains non-integer"),
        ([[1, 2], [0, 0]], "row 1 has no votes"),
        ([[1, 2], [np.nan, 2]], "row 1 contains NaN"),
    ],
)
def test_bad_votes_name_the_row(votes, message):
    with pytest.raises(ValueError, match=message):
        validate_votes(votes, source="annotation.csv")


def test_wrong_column_count():
    with pytest.raises(ValueError, match="expected 7 vote columns, got 3"):
        validate_votes([[1, 2, 3]], num_classes=7, source="x.csv")


def test_split_clear_mixed_sizes_and_distribution():
    rng = np.random.default_rng(0)
    n, k = 600, 4
    hard = rng.choice(k, size=n, p=[0.5, 0.3, 0.15, 0.05])
    top = np.where(rng.random(n) < 0.4, 0.95, 0.6)
    soft = np.full((n, k), 0.0)
    soft[np.arange(n), hard] = top
    soft[np.arange(n), (hard + 1) % k] = 1 - top
    split = split_clear_mixed(soft, hard, seed=1)
    clear_mask = soft.max(axis=1) > 0.9
    assert split.size == clear_mask.sum() == len(split.clear) == len(split.mixed)
    assert clear_mask[split.clear].all()
    expected = np.bincount(hard, minlength=k) / n * split.size
    for group in (split.clear, split.mixed):
        counts = np.bincount(hard[group], minlength=k)
        assert counts.sum() == split.size
        assert np.all(np.abs(counts - expected) <= 1)
    again = split_clear_mixed(soft, hard, seed=1)
    np.testing.assert_array_equal(split.clear, again.clear)
    big = split_clear_mixed(soft, hard, size=n * 2, seed=1)  # oversampling path
    assert len(big.clear) == len(big.mixed) == n * 2


def test_split_clear_mixed_missing_class():
    hard = np.array([0, 0, 1, 1])
    soft = np.array([[1, 0], [1, 0], [0.4, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"class\(es\) \[1\]"):
        split_clear_mixed(soft, hard)
    split = split_clear_mixed(soft, hard, allow_missing=True)
    assert split.missing_classes == (1,)
    assert (hard[split.mixed] == 0).all()
