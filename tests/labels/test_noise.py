import numpy as np
import pytest

from softfer.labels import expected_flip_rate, flip_labels


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.2, 0.3, 0.77])
def test_exact_mode_flips_exactly_to_other_classes(rate):
    labels = np.random.default_rng(0).integers(0, 8, size=1001)
    out = flip_labels(labels, rate, 8, seed=1)
    assert out.flipped.sum() == round(rate * 1001)
    assert (out.labels[out.flipped] != labels[out.flipped]).all()
    assert (out.labels[~out.flipped] == labels[~out.flipped]).all()
    np.testing.assert_array_equal(out.labels, flip_labels(labels, rate, 8, seed=1).labels)


def test_reference_mode_effective_rate_is_lower():
    labels = np.random.default_rng(0).integers(0, 8, size=20_000)
    rates = [flip_labels(labels, 0.3, 8, seed=s, mode="reference").flip_rate for s in range(5)]
    expected = expected_flip_rate(0.3, 20_000, 8, mode="reference")
    assert expected == pytest.approx((1 - np.exp(-0.3)) * 7 / 8, rel=1e-3)
    assert np.mean(rates) == pytest.approx(expected, abs=0.005)
    assert np.mean(rates) < 0.25


def test_bad_labels_and_rates():
    with pytest.raises(ValueError, match="row 2: label 9"):
        flip_labels(np.array([0, 1, 9]), 0.1, 8)
    with pytest.raises(ValueError, match="rate"):
        flip_labels(np.array([0, 1]), 1.5, 8)
