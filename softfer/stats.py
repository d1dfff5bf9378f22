"""Statistics for comparing methods over a few paired runs (folds x seeds).

A comparison of two FER methods has 2 to 15 paired runs: the same test clips and seed, only the method
differs. The difference per run is what varies least between runs, so the tests here work on it:

- the interval of a mean (or of the mean difference) is Student's t interval, the usual choice for a few
  roughly symmetric values, and reported as absent for a single run rather than as a zero-width interval;
- the p-value is the two-sided sign-flip permutation test of the mean difference: under "no
  difference" each paired difference is as likely to have either sign, so all 2^n sign patterns are
  equally likely. It is exact (all 2^n patterns enumerated) up to 16 runs and a seeded Monte Carlo
  estimate from 200,000 patterns above, needs no normality, and says honestly how little a few runs
  can show: its smallest attainable p-value is
  2 / 2^n (n runs with a non-zero difference), so 4 runs can never reach p < 0.05 and 5 runs only by
  winning every one. The Wilcoxon signed-rank test has the same floor and also needs the ranks of the
  differences, which mean little between folds of different difficulty.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

EXACT_MAX_N = 16
MONTE_CARLO_DRAWS = 200_000


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, *, bounds: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Mean, sample standard deviation and Student t interval of ``values``.

    ``bounds``: the range the values can take (a metric's ``value_range``). With a few widely spread runs
    the t interval reaches past it (UAR [-1.95, 2.28] over two folds); it is then cut at the range, which
    keeps every value the mean can have, and ``ci_cut`` says so.

    Returns:
        {"n", "mean", "std", "ci_low", "ci_high", "ci_cut", "reason"}; with one value the std and interval
        are None and ``reason`` says why (None otherwise): one run shows no spread, and a zero-width
        interval would claim a certainty it does not have.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        raise ValueError("mean_ci: no values")
    out: dict[str, Any] = {"n": n, "mean": float(v.mean()), "std": None, "ci_low": None, "ci_high": None}
    out["ci_cut"] = False
    out["reason"] = "a single value: no spread to estimate, so no interval" if n == 1 else None
    if n > 1:
        std = float(v.std(ddof=1))
        half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low, high = out["mean"] - half, out["mean"] + half
        if bounds is not None and (low < bounds[0] or high > bounds[1]):
            low, high, out["ci_cut"] = max(low, bounds[0]), min(high, bounds[1]), True
        out.update(std=std, ci_low=low, ci_high=high)
    return out


TEST_CHOICE = (
    "the sign-flip test needs no normality, and its smallest possible p (2 / 2^n) shows how little n runs "
    "can prove; Wilcoxon's signed-rank test has the same floor and also ranks the differences, which mean "
    "little between folds of different difficulty"
)


def sign_flip_test_name(n: int) -> str:
    """How the sign-flip test of ``n`` paired runs is computed, in words (as the reports print it)."""
    if n <= EXACT_MAX_N:
        return "exact sign-flip permutation test"
    return f"sign-flip permutation test (Monte Carlo, {MONTE_CARLO_DRAWS:,} sign patterns)"


def sign_flip_p_value(differences: Sequence[float], *, seed: int = 0) -> dict[str, Any]:
    """Two-sided sign-flip permutation test of mean(differences) = 0.

    Returns:
        {"p_value", "min_p" (the smallest p any data of this size could give), "exact" (enumerated, not
        sampled), "draws" (sign patterns evaluated)}.
    """
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    nonzero = int((d != 0).sum())
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max(initial=0.0)))
    if nonzero == 0:
        return {"p_value": 1.0, "min_p": 1.0, "exact": True, "draws": 1}
    if n <= EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        means = np.abs(signs @ d) / n
        p = float((means >= observed - tolerance).mean())
        exact, draws = True, len(signs)
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(MONTE_CARLO_DRAWS, n))
        hits = int((np.abs(signs @ d) / n >= observed - tolerance).sum())
        p = (hits + 1) / (MONTE_CARLO_DRAWS + 1)  # the observed pattern counts: never p = 0
        exact, draws = False, MONTE_CARLO_DRAWS
    return {"p_value": p, "min_p": min(1.0, 2.0 / 2**nonzero), "exact": exact, "draws": draws}


def paired_comparison(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    *,
    higher_is_better: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Method B against method A on paired runs (``a[i]`` and ``b[i]`` share fold and seed).

    Returns:
        {"n", "mean_diff" (mean of b - a), "ci_low", "ci_high" (t interval of the mean difference, None for
        one run), "reason" (why there is no interval, else None), "confidence", "p_value", "min_p", "test",
        "b_wins", "a_wins", "ties", "higher_is_better"} where a win is the better value of the pair by
        ``higher_is_better``. ``seed`` seeds the Monte Carlo test (more than 16 runs) only.
    """
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if va.shape != vb.shape or va.ndim != 1 or len(va) == 0:
        raise ValueError(
            f"paired_comparison: need two equally long lists of values, got {va.shape}, {vb.shape}"
        )
    d = vb - va
    ci = mean_ci(d, confidence)
    test = sign_flip_p_value(d, seed=seed)
    better = d > 0 if higher_is_better else d < 0
    worse = d < 0 if higher_is_better else d > 0
    return {
        "n": len(d),
        "mean_diff": ci["mean"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "reason": ci["reason"],
        "confidence": confidence,
        "p_value": test["p_value"],
        "min_p": test["min_p"],
        "test": sign_flip_test_name(len(d)),
        "b_wins": int(better.sum()),
        "a_wins": int(worse.sum()),
        "ties": int((d == 0).sum()),
        "higher_is_better": higher_is_better,
    }


def verdict(
    name_a: str, name_b: str, result: dict[str, Any], *, alpha: float = 0.05, metric: str = ""
) -> str:
    """The comparison in words: which is better and by how much, or that the runs cannot tell."""
    n, diff = result["n"], result["mean_diff"]
    what = f" on {metric}" if metric else ""
    wins = f"{name_b} better in {result['b_wins']} of {n} runs"
    if n < 2:
        return (
            f"{name_b} - {name_a}{what}: {diff:+.4f} from a single run: no interval and no test are "
            "possible, so this cannot be told from run-to-run noise"
        )
    if result["ties"] == n:
        return f"{name_b} and {name_a}{what}: identical in all {n} paired runs"
    level = round(100 * result.get("confidence", 0.95))
    interval = f"{diff:+.4f} ({level}% CI {result['ci_low']:+.4f} to {result['ci_high']:+.4f})"
    excludes_zero = result["ci_low"] is not None and (result["ci_low"] > 0 or result["ci_high"] < 0)
    if result["min_p"] > alpha:
        # too few runs for the test to ever decide: say so, and whether the t interval leans one way
        cannot = (
            f"with {n} paired runs no outcome of the sign-flip test can reach p < {alpha} "
            f"(smallest possible p = {result['min_p']:.3f})"
        )
        if excludes_zero:
            return (
                f"{name_b} - {name_a}{what}: {interval}, {wins}: a hint only, not evidence: the t interval "
                f"excludes 0, but {cannot}"
            )
        return f"{name_b} - {name_a}{what}: {interval}, {wins}; {cannot}: not distinguishable from noise"
    if result["p_value"] < alpha:
        side = "better" if (diff > 0) == result.get("higher_is_better", True) else "worse"
        return f"{name_b} is {side} than {name_a}{what}: {interval}, p = {result['p_value']:.3f}, {wins}"
    if excludes_zero:
        # the t interval assumes normal differences; the sign-flip test does not, and decides
        return (
            f"{name_b} - {name_a}{what}: {interval}, p = {result['p_value']:.3f}, {wins}: a hint only "
            f"(the t interval excludes 0, but the sign-flip test does not reach p < {alpha})"
        )
    return (
        f"{name_b} - {name_a}{what}: {interval}, p = {result['p_value']:.3f}, {wins}: "
        "not distinguishable from noise"
    )
