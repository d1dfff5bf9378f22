"""softfer.stats edge cases: a single run, identical runs, the interval level and the Monte Carlo seed."""

import numpy as np
import pytest
from scipy import stats as sps

from softfer.stats import mean_ci, paired_comparison, sign_flip_p_value, verdict


def test_a_single_run_has_no_interval_and_says_why():
    one = mean_ci([0.4])
    assert (one["std"], one["ci_low"], one["ci_high"]) == (None, None, None)
    assert "single value" in one["reason"]
    assert mean_ci([0.4, 0.5])["reason"] is None
    pair = paired_comparison([0.40], [0.45])
    assert pair["ci_low"] is None and pair["ci_high"] is None and "single value" in pair["reason"]
    assert pair["mean_diff"] == pytest.approx(0.05) and (pair["b_wins"], pair["a_wins"]) == (1, 0)
    assert pair["p_value"] == 1.0 and pair["min_p"] == 1.0  # both sign patterns are as extreme
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
    with pytest.raises(ValueError, match="equally long"):
        paired_comparison([0.1, 0.2], [0.1])


def test_identical_runs_are_ties_with_p_one():
    res = paired_comparison([0.4, 0.5, 0.45], [0.4, 0.5, 0.45])
    assert (res["b_wins"], res["a_wins"], res["ties"]) == (0, 0, 3)
    assert res["mean_diff"] == 0.0 and res["p_value"] == 1.0
    assert "identical in all 3 paired runs" in verdict("a", "b", res)


def test_wins_losses_and_ties_by_hand():
    a = [0.50, 0.40, 0.30, 0.20, 0.10]
    b = [0.55, 0.40, 0.25, 0.30, 0.10]
    res = paired_comparison(a, b)
    assert (res["b_wins"], res["a_wins"], res["ties"], res["n"]) == (2, 1, 2, 5)
    # 3 non-zero differences: 2^3 sign patterns, the smallest p is 2 / 8
    assert res["min_p"] == 0.25


def test_interval_level_follows_the_confidence_argument():
    a = [0.40, 0.42, 0.38, 0.45, 0.41, 0.43, 0.40, 0.39]
    b = [0.44, 0.46, 0.41, 0.47, 0.45, 0.46, 0.43, 0.42]
    res = paired_comparison(a, b, confidence=0.9)
    ref = sps.ttest_rel(b, a).confidence_interval(0.9)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert res["confidence"] == 0.9
    text = verdict("a", "b", res)
    assert "90% CI" in text and text.startswith("b is better than a")
    assert res["p_value"] == pytest.approx(2 / 2**8)  # b wins every run: only the two extreme patterns


def test_monte_carlo_seed_is_used_and_stated():
    d = np.random.default_rng(1).normal(0.0, 0.02, size=20)
    a = sign_flip_p_value(d, seed=0)
    b = sign_flip_p_value(d, seed=1)
    assert not a["exact"] and a["draws"] == b["draws"] > 0
    assert a["p_value"] != b["p_value"] and a["p_value"] == pytest.approx(b["p_value"], abs=0.01)
    res = paired_comparison(np.zeros(20), d, seed=1)
    assert res["p_value"] == b["p_value"] and f"{b['draws']:,}" in res["test"]
