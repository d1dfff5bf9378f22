"""Paired statistics against SciPy: the t interval, the exact sign-flip test, wins, and the honest limits."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from softfer.stats import mean_ci, paired_comparison, sign_flip_p_value, verdict


def _scipy_sign_flip(d):
    res = sps.permutation_test(
        (np.asarray(d),),
        np.mean,
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return res.pvalue


@pytest.mark.parametrize(
    "d",
    [
        [0.02, 0.031, -0.004, 0.017],
        [0.05, 0.04, 0.06, 0.03, 0.02, 0.01],
        [0.01, -0.02, 0.03, -0.005, 0.012, 0.0, 0.007, -0.001, 0.02, 0.004],
        [1.0, 1.0, 1.0, 1.0, 1.0],
    ],
)
def test_sign_flip_p_value_matches_scipy_permutation_test(d):
    ours = sign_flip_p_value(d)
    assert ours["exact"]
    assert ours["p_value"] == pytest.approx(_scipy_sign_flip(d), abs=1e-12)


def test_the_smallest_p_value_says_what_n_runs_can_show():
    assert sign_flip_p_value([0.1, 0.2, 0.3, 0.4])["min_p"] == 0.125  # 4 runs: never below 0.05
    five = sign_flip_p_value([0.1, 0.2, 0.3, 0.4, 0.5])
    assert five["min_p"] == 0.0625 and five["p_value"] == 0.0625
    assert sign_flip_p_value([0.0, 0.0, 0.0])["p_value"] == 1.0


def test_many_runs_use_a_seeded_monte_carlo_close_to_the_exact_answer():
    rng = np.random.default_rng(0)
    d = rng.normal(0.01, 0.02, size=18)
    ours = sign_flip_p_value(d)
    assert not ours["exact"]
    assert ours["p_value"] == sign_flip_p_value(d)["p_value"]  # reproducible
    assert ours["p_value"] == pytest.approx(_scipy_sign_flip(d), abs=0.01)


def test_mean_ci_matches_scipy_t_interval():
    v = [0.41, 0.45, 0.39, 0.47, 0.44]
    ci = mean_ci(v)
    low, high = sps.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=sps.sem(v))
    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx((low, high))
    assert ci["std"] == pytest.approx(np.std(v, ddof=1))
    single = mean_ci([0.4])
    assert single["mean"] == 0.4 and single["ci_low"] is None and single["std"] is None


def test_an_interval_past_the_metrics_range_is_cut_at_it_and_says_so():
    """README walk: cv printed clear_uar 0.1667 [-1.9510, 2.2844] over two folds."""
    v = [0.0, 1 / 3]
    low, high = sps.t.interval(0.95, 1, loc=np.mean(v), scale=sps.sem(v))
    assert low < 0 < 1 < high  # the case: the t interval reaches past [0, 1]
    ci = mean_ci(v, bounds=(0.0, 1.0))
    assert (ci["ci_low"], ci["ci_high"], ci["ci_cut"]) == (0.0, 1.0, True)
    inside = mean_ci([0.41, 0.45, 0.39], bounds=(0.0, 1.0))
    assert inside["ci_cut"] is False and inside["ci_low"] > 0
    nats = mean_ci([0.2, 2.0], bounds=(0.0, math.inf))  # unbounded above: only the low end is cut
    assert nats["ci_low"] == 0.0 and nats["ci_high"] > 2.0 and nats["ci_cut"]


def test_paired_comparison_interval_matches_ttest_rel_and_counts_wins():
    a = [0.40, 0.42, 0.38, 0.45, 0.41, 0.43]
    b = [0.44, 0.43, 0.38, 0.47, 0.40, 0.46]
    res = paired_comparison(a, b)
    ref = sps.ttest_rel(b, a).confidence_interval(0.95)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert res["mean_diff"] == pytest.approx(np.mean(np.subtract(b, a)))
    assert (res["b_wins"], res["a_wins"], res["ties"]) == (4, 1, 1)
    assert res["p_value"] == pytest.approx(_scipy_sign_flip(np.subtract(b, a)))
    lower = paired_comparison(a, b, higher_is_better=False)  # e.g. ECE: the smaller value wins
    assert (lower["b_wins"], lower["a_wins"]) == (1, 4)


def test_verdicts_say_when_runs_cannot_tell():
    one = verdict("hard", "midas", paired_comparison([0.40], [0.45]), metric="uar")
    assert "single run" in one and "cannot be told from run-to-run noise" in one
    four = verdict("hard", "midas", paired_comparison([0.4, 0.41, 0.39, 0.4], [0.45, 0.38, 0.44, 0.41]))
    assert "smallest possible p = 0.125" in four and "not distinguishable from noise" in four
    clear = paired_comparison([0.4] * 8, [0.5, 0.52, 0.49, 0.5, 0.51, 0.5, 0.53, 0.5])
    assert verdict("hard", "midas", clear).startswith("midas is better than hard")
    worse_ece = paired_comparison([0.05] * 8, [0.1] * 8, higher_is_better=False)
    assert verdict("a", "b", worse_ece, metric="ece").startswith("b is worse than a on ece")


def test_an_interval_that_excludes_zero_without_a_significant_test_is_called_a_hint():
    a = [0.378, 0.458, 0.463, 0.482, 0.418, 0.408]  # hard vs soft UAR, docs/BENCHMARKS.md, 6 runs
    b = [0.463, 0.529, 0.537, 0.469, 0.588, 0.501]
    res = paired_comparison(a, b)
    assert res["ci_low"] > 0 and res["p_value"] > 0.05
    text = verdict("hard", "soft", res, metric="uar")
    assert "a hint only" in text and "not distinguishable" not in text


def test_few_runs_whose_interval_excludes_zero_say_both_the_floor_and_the_hint():
    a = [0.40, 0.45, 0.50]
    b = [0.50, 0.56, 0.59]  # differences +0.10, +0.11, +0.09: every run better, t interval well above 0
    res = paired_comparison(a, b)
    low = sps.ttest_rel(b, a).confidence_interval(0.95).low
    assert low > 0 and res["min_p"] == pytest.approx(2 / 2**3) and res["p_value"] == pytest.approx(0.25)
    text = verdict("hard", "soft", res, metric="uar")
    assert "smallest possible p = 0.250" in text and "can reach p < 0.05" in text  # the test's floor
    assert "the t interval excludes 0" in text and "a hint only, not evidence" in text  # and the lean
    assert "not distinguishable" not in text and not text.startswith("soft is")  # no "better" as settled
    lower = paired_comparison([0.10, 0.12, 0.11, 0.13], [0.05, 0.06, 0.05, 0.07], higher_is_better=False)
    text = verdict("a", "b", lower, metric="ece")  # 4 runs, all lower ECE: still no "b is better"
    assert "smallest possible p = 0.125" in text and "a hint only" in text and not text.startswith("b is")


def test_few_runs_whose_interval_includes_zero_are_noise_without_a_hint():
    a = [0.40, 0.45, 0.50]
    b = [0.50, 0.43, 0.52]  # differences +0.10, -0.02, +0.02
    res = paired_comparison(a, b)
    low, high = sps.ttest_rel(b, a).confidence_interval(0.95)
    assert low < 0 < high
    text = verdict("hard", "soft", res, metric="uar")
    assert "smallest possible p = 0.250" in text and "not distinguishable from noise" in text
    assert "hint" not in text and "excludes 0" not in text
