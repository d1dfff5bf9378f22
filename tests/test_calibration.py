"""Issue 24, calibration and the ambiguous state: the fits of ``softfer.inference.calibration`` against
closed forms, a grid search and hand-computed cases, and a deliberately over-confident model."""

import json
import math
import types
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import softmax

from softfer import metrics
from softfer.cli import main
from softfer.config import ExperimentConfig
from softfer.engine.calibrate import fit_calibration
from softfer.inference.calibration import (
    DEFAULT_MARGIN,
    T_BOUNDS,
    Calibration,
    face_states,
    fit_margin_threshold,
    fit_temperature,
    temperature_nll,
    top2,
)
from softfer.inference.checkpoint import save_checkpoint, save_safetensors_checkpoint
from softfer.models import create_model


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
        field = "ambiguity.threshold" if "ambiguity" in bad else "temperature"
        with pytest.raises(ValueError, match=rf"model\.pt: calibration\.{field}: .*softfer calibrate"):
            Calibration.from_state({"calibration": stored}, "model.pt")
    with pytest.raises(ValueError, match=r"model\.pt: calibration\.ambiguity: Field required"):
        Calibration.from_state({"calibration": {"temperature": 1.0}}, "model.pt")


# --- a stored calibration is read back only as `softfer calibrate` writes it ---------------------------

CLASSES7 = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]


def _fitted_entry() -> dict:
    """The "calibration" entry `softfer calibrate` writes, from a real fit (a temperature inside the range
    searched, a fitted threshold) with the data it records."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 7)) * 3
    label = np.where(np.arange(200) % 4 == 0, rng.integers(0, 7, 200), logits.argmax(1))  # 80 % right
    margin = np.sort(softmax(logits, axis=1), axis=1)[:, -1]
    soft = np.where((margin > 0.6)[:, None], np.eye(7)[label], np.full((200, 7), 1 / 7))  # clear or tied
    calibration, _ = fit_calibration(
        {"logits": logits, "label": label, "soft": soft, "has_votes": np.ones(200, bool)}, 0.9
    )
    data = {**calibration.fitted["data"], "source": "held-out clips", "skipped": {"count": 1, "ids": ["7"]}}
    assert calibration.threshold_fitted and T_BOUNDS[0] < calibration.temperature < T_BOUNDS[1]
    return replace(calibration, fitted={**calibration.fitted, "data": data}).to_state()


def _edited(entry: dict, dotted: str, value) -> dict:
    entry = json.loads(json.dumps(entry))  # a deep copy
    *parents, key = dotted.split(".")
    inner = entry
    for p in parents:
        inner = inner[p]
    inner[key] = value
    return entry


EDITS = [
    ("temperature", 1e-300),  # found (audit): every probability NaN, predict said no_face and exited 0
    ("temperature", 1e-3),
    ("temperature", 1e3),
    ("temperature", "2.0"),
    ("temperature", True),
    ("ambiguity.fitted", "false"),  # found (audit): bool("false") is True
    ("ambiguity.threshold", 1.5),
    ("ambiguity.rule", "entropy"),
    ("ambiguity.other", 1),
    ("fitted", [1, 2]),
    ("fitted.data", "x"),
    ("fitted.data", None),  # describe() read None.get("source")
    ("fitted.data.items", "10"),
    ("fitted.data.items", 0),
    ("fitted.data.source", 3),
    ("fitted.data.skipped.ids", "007"),
    ("fitted.nll_after", -0.5),
    ("fitted.nll_before", float("nan")),
    ("fitted.ece_after", 1.5),
    ("fitted.ambiguity.threshold", -0.1),
    ("fitted.ambiguity.clear", 2.5),
    ("fitted.note", "not written by softfer"),
]


def test_the_entry_calibrate_writes_round_trips_through_json():
    entry = _fitted_entry()
    want = Calibration.from_state({"calibration": entry})
    assert Calibration.from_state({"calibration": json.loads(json.dumps(entry))}) == want  # .safetensors
    assert want.to_state() == entry and T_BOUNDS[0] <= want.temperature <= T_BOUNDS[1]


@pytest.mark.parametrize(("field", "value"), EDITS, ids=[f"{f}={v!r}" for f, v in EDITS])
def test_a_calibration_entry_not_as_calibrate_writes_it_is_refused_naming_the_field(field, value):
    """Found (audit): from_state checked T > 0 and the threshold only; 1e-300, the string "false" and any
    ``fitted`` record were taken as they were."""
    stored = _edited(_fitted_entry(), field, value)
    with pytest.raises(ValueError) as err:
        Calibration.from_state({"calibration": stored}, "cal.pt")
    msg = str(err.value)
    assert msg.startswith(f"cal.pt: calibration.{field}: ") and "softfer calibrate" in msg and "\n" not in msg


def test_the_fitted_temperature_stays_within_the_range_a_checkpoint_is_loaded_with(monkeypatch):
    """exp(log(100)) is 100.00000000000004: a fit at a bound must still load."""
    import scipy.optimize

    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    for labels in ([0, 1], [1, 0]):  # all right (T -> 0) and all wrong (T -> infinity)
        t = fit_temperature(logits, np.array(labels))
        assert T_BOUNDS[0] <= t <= T_BOUNDS[1]
        Calibration.from_state({"calibration": Calibration(t).to_state()})
    # the search may end exactly on a bound of log T (Brent's method here stops just inside it)
    for bound in T_BOUNDS:
        end = types.SimpleNamespace(x=math.log(bound))
        monkeypatch.setattr(scipy.optimize, "minimize_scalar", lambda *a, end=end, **k: end)
        t = fit_temperature(logits, np.array([1, 0]))
        assert T_BOUNDS[0] <= t <= T_BOUNDS[1]
        Calibration.from_state({"calibration": Calibration(t).to_state()})


def _calibrated(path, entry: dict):
    """A small tsm_r18 checkpoint (as tests/faces/test_faces.py's ``_checkpoint``) with ``entry``."""
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 8}}}
    )
    state = {
        "model": create_model("tsm_r18", num_classes=7, width=8).state_dict(),
        "config": cfg.model_dump(mode="json"),
        "classes": CLASSES7,
        "calibration": entry,
    }
    (save_safetensors_checkpoint if path.suffix == ".safetensors" else save_checkpoint)(state, path)
    return path


@pytest.mark.parametrize(
    ("field", "value", "suffix"),
    [("temperature", 1e-300, ".pt"), ("ambiguity.fitted", "false", ".safetensors")],
)
def test_predict_eval_and_export_refuse_a_stored_calibration_out_of_range_with_exit_2(
    field, value, suffix, media, tmp_path, capsys
):
    """Found (audit): with T = 1e-300 stored, `predict` marked a detected face no_face with null
    probabilities and exited 0; `eval` failed on a NaN probability row naming neither file nor setting."""
    ckpt = _calibrated(tmp_path / f"cal{suffix}", _edited(_fitted_entry(), field, value))
    for argv in (
        ["predict", str(media / "single_face.jpg"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "p")],
        ["eval", str(ckpt), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "e")],
        ["export", str(ckpt), "--onnx", str(tmp_path / "cal.onnx")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()[-1]  # the error, after any warning
        assert err.startswith(f"softfer: error: {ckpt}: calibration.{field}: "), err
    assert not any((tmp_path / name).exists() for name in ("p", "e", "cal.onnx"))
