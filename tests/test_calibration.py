"""Issue 24, calibration and the ambiguous state: the fits of ``softfer.inference.calibration`` against
closed forms, a grid search and hand-computed cases, and a deliberately over-confident model."""

import math

import numpy as np
import pytest
from scipy.special import softmax

from softfer import metrics
from softfer.engine.calibrate import fit_calibration
from softfer.inference.calibration import (
    DEFAULT_MARGIN,
    Calibration,
    face_states,
    fit_margin_threshold,
    fit_temperature,
    temperature_nll,
    top2,
)


@pytest.mark.parametrize("k", [2, 7])
@pytest.mark.parametrize(("z", "a"), [(10.0, 0.8), (3.0, 0.95), (1.0, 0.6)])
def test_temperature_matches_the_closed_form(k, z, a):
    # Every item has logits (z, 0, ..., 0) and a share a of them is labelled class 0 (the rest spread over
    # the others). The NLL is minimal where softmax(z / T)_0 = a, i.e. e^(z/T) / (e^(z/T) + k - 1) = a:
    # T = z / ln(a (k - 1) / (1 - a)).
    n = 1000
    logits = np.zeros((n, k))
    logits[:, 0] = z
    labels = np.where(np.arange(n) < a * n, 0, 1 + np.arange(n) % (k - 1))
    expected = z / math.log(a * (k - 1) / (1 - a))
    assert fit_temperature(logits, labels) == pytest.approx(expected, rel=1e-6)


def test_temperature_matches_a_fine_grid_search():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 5)) * 4
    labels = rng.integers(0, 5, 500)
    labels[:250] = logits[:250].argmax(1)  # half right: some signal, over-confident logits
    grid = np.exp(np.linspace(math.log(0.05), math.log(50), 20001))
    best = grid[np.argmin([temperature_nll(logits, labels, t) for t in grid])]
    step = grid[1] / grid[0] - 1  # the grid's relative spacing
    assert fit_temperature(logits, labels) == pytest.approx(best, rel=2 * step)


def test_temperature_scaling_of_an_over_confident_linear_model_lowers_held_out_ece():
    # Labels drawn from softmax(W x); the "model" outputs 10 W x: right on average, far too sure.
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 6))
    x = rng.normal(size=(6000, 6))
    true_logits = x @ w.T
    labels = np.array([rng.choice(4, p=p) for p in softmax(true_logits, axis=1)])
    logits = 10 * true_logits
    fit, held = slice(0, 3000), slice(3000, None)
    pred = {
        "logits": logits[fit].astype(np.float32),
        "label": labels[fit],
        "soft": np.eye(4)[labels[fit]],
        "has_votes": np.zeros(3000, bool),
    }
    calibration, report = fit_calibration(pred, clear_threshold=0.9)
    assert calibration.temperature == pytest.approx(10, rel=0.15)  # the scale that was put in
    assert report["after"]["nll"] < report["before"]["nll"]
    before = metrics.ece(softmax(logits[held], axis=1), labels[held])
    after = metrics.ece(softmax(logits[held] / calibration.temperature, axis=1), labels[held])
    assert before > 0.15 and after < before / 3, (before, after)
    assert not calibration.threshold_fitted and report["ambiguity"]["why"] == "no item has annotator votes"


def test_top2_and_states_by_hand():
    probs = np.array(
        [
            [0.70, 0.20, 0.10],  # margin 0.50
            [0.45, 0.40, 0.15],  # margin 0.05: happy and sad coexist
            [0.20, 0.35, 0.45],  # margin 0.10: fear and sad
            [0.50, 0.50, 0.00],  # a tie: the lower index is the top, as argmax
            [np.nan, np.nan, np.nan],  # no distribution
        ]
    )
    first, second, margin = top2(probs)
    assert first.tolist() == [0, 0, 2, 0, -1] and second.tolist() == [1, 1, 1, 1, -1]
    np.testing.assert_allclose(margin[:4], [0.5, 0.05, 0.1, 0.0])
    assert np.isnan(margin[4])
    state, named = face_states(probs, 0.4)
    assert state.tolist() == ["clear", "ambiguous", "ambiguous", "ambiguous", "no_face"]
    assert named.tolist() == [-1, 1, 1, 1, -1]
    assert face_states(probs, DEFAULT_MARGIN)[0].tolist()[0] == "ambiguous"  # 0.5 < 0.8
    assert DEFAULT_MARGIN == pytest.approx(0.8)


def test_margin_threshold_by_hand():
    # separable: the cut lies midway between the largest ambiguous margin and the smallest clear one
    fit = fit_margin_threshold(np.array([0.1, 0.2, 0.5, 0.9, 0.95]), np.array([1, 1, 0, 0, 0], bool))
    assert fit == {"threshold": 0.35, "youden_j": 1.0, "balanced_accuracy": 1.0, "clear": 3, "ambiguous": 2}
    # not separable: 3 ambiguous, 4 clear; J at each cut (below 0.1 / 0.3 / 0.4 / 0.6 / 0.7 called
    # ambiguous) = 1/3, 2/3, 2/3 - 1/4, 1 - 1/4, 1 - 2/4: best below 0.6 -> threshold (0.6 + 0.7) / 2
    margins = np.array([0.1, 0.3, 0.4, 0.6, 0.7, 0.9, 0.95])
    fit = fit_margin_threshold(margins, np.array([1, 1, 0, 1, 0, 0, 0], bool))
    assert fit["threshold"] == pytest.approx(0.65)
    assert fit["youden_j"] == pytest.approx(0.75) and fit["balanced_accuracy"] == pytest.approx(0.875)
    with pytest.raises(ValueError, match="all clear"):
        fit_margin_threshold(margins, np.zeros(7, bool))
    # Found (audit): margins higher on the ambiguous clips than on the clear ones: every cut has J <= 0,
    # the best was roc_curve's +inf cut, and the threshold became -inf (a checkpoint nothing could load)
    with pytest.raises(ValueError, match="better than chance"):
        fit_margin_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool))


def test_threshold_is_fitted_on_the_votes_of_the_items_that_have_them():
    rng = np.random.default_rng(2)
    n = 400
    top = rng.integers(0, 3, n)
    ambiguous = np.arange(n) % 2 == 0
    soft = np.eye(3)[top]
    soft[ambiguous] = 0.5 * soft[ambiguous] + 0.5 * np.eye(3)[(top[ambiguous] + 1) % 3]  # 5-to-5 votes
    # the model's margin tracks the votes' with noise: about 0.1 on ambiguous clips, 0.9 on clear ones; the
    # labels of ambiguous clips are either of their two classes
    margin = np.clip(np.where(ambiguous, 0.1, 0.9) + rng.normal(0, 0.1, n), 0.0, 0.99)
    rows, other = np.arange(n), (top + 1) % 3
    probs = np.full((n, 3), 1e-3)
    probs[rows, top], probs[rows, other] = (1 + margin) / 2, (1 - margin) / 2
    logits = np.log(probs)
    label = np.where(ambiguous & (rows % 4 == 0), other, top)
    pred = {"logits": logits, "label": label, "soft": soft, "has_votes": np.arange(n) < 300}
    calibration, report = fit_calibration(pred, clear_threshold=0.9)
    fit = report["ambiguity"]
    assert fit["fitted"] and calibration.threshold_fitted and calibration.threshold == fit["threshold"]
    assert fit["clear"] + fit["ambiguous"] == 300 == report["data"]["with_votes"]
    assert 0.2 < fit["threshold"] < 0.95 and fit["balanced_accuracy"] > 0.95  # on the calibrated margins


def test_calibration_round_trips_and_refuses_values_out_of_range():
    c = Calibration(2.5, 0.3, True, {"data": {"items": 10}})
    assert Calibration.from_state({"calibration": c.to_state()}) == c
    assert Calibration.from_state({}) == Calibration()  # an uncalibrated checkpoint
    described = Calibration().describe()
    assert not described["calibrated"] and "default 0.8" in described["ambiguity"]["note"]
    for bad in ({"temperature": 0.0}, {"temperature": float("nan")}, {"ambiguity": {"threshold": 2}}):
        stored = c.to_state()
        for key, value in bad.items():
            stored[key] = {**stored[key], **value} if isinstance(value, dict) else value
        with pytest.raises(ValueError, match=r"model\.pt: calibration .* out of range.*softfer calibrate"):
            Calibration.from_state({"calibration": stored}, "model.pt")
    with pytest.raises(ValueError, match="unreadable calibration"):
        Calibration.from_state({"calibration": {"temperature": 1.0}}, "model.pt")
