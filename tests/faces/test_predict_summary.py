"""Issue 24: each frame and window's state (clear / ambiguous / no_face), the per-face summary of a whole
video, and a calibrated checkpoint in `predict` (hand-computed cases; one real photo)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from softfer.convert.onnx import export_checkpoint
from softfer.faces.multitrack import Track, Tracking
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint
from softfer.predict import Predictor
from softfer.predict.pipeline import Analysis
from softfer.predict.results import frame_table, window_table
from softfer.predict.summary import main_runs, summary_table
from tests.faces.test_faces import _checkpoint

CLASSES = ["happy", "sad", "fear"]


def _analysis() -> Analysis:
    """One track seen in frames 0-3 of 5 (10 fps), two windows."""
    boxes = np.full((5, 4), np.nan)
    boxes[:4] = [10, 10, 50, 50]
    track = Track(0, boxes, np.zeros((5, 5, 2)), ["detected"] * 4 + ["missing"])
    frames = np.array(
        [
            [0.70, 0.20, 0.10],  # margin 0.5: clear at threshold 0.4
            [0.45, 0.40, 0.15],  # margin 0.05: happy and sad
            [0.20, 0.35, 0.45],  # margin 0.1: fear and sad
            [np.nan] * 3,  # seen, but no classified window covers it (clip models)
            [np.nan] * 3,
        ]
    )
    windows = np.array([[0.5, 0.5, 0.0], [np.nan] * 3])
    tracking = Tracking(np.arange(5) / 10, (100, 100), [track])
    return Analysis(tracking, {0: frames}, [(0.0, 0.3), (0.2, 0.5)], {0: windows}, {0: np.array([1.0, 0.4])})


def _listed(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column]


def test_frame_and_window_states_by_hand():
    a = _analysis()
    frames = frame_table(a, CLASSES, threshold=0.4)
    assert frames["state"].tolist() == ["clear", "ambiguous", "ambiguous", "no_face"]
    assert _listed(frames["top"]) == ["happy", "happy", "fear", None]
    assert _listed(frames["second"]) == [None, "sad", "sad", None]  # listed only when ambiguous
    np.testing.assert_allclose(frames["margin"][:3], [0.5, 0.05, 0.1])
    windows = window_table(a, CLASSES, threshold=0.4)
    assert windows["state"].tolist() == ["ambiguous", "no_face"]  # a tie; a window with face_share < 0.5
    assert _listed(windows["second"]) == ["sad", None]
    # the default threshold (0.8, not fitted) calls the 0.7 / 0.2 frame ambiguous too
    assert frame_table(a, CLASSES)["state"].tolist()[0] == "ambiguous"


def _frames(track: int, tops: list[str], states: list[str], step: float) -> pd.DataFrame:
    """A frames table of one track: each frame's distribution 0.8 on its top class, 0.1 on the others."""
    n = len(tops)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), [CLASSES.index(t) if t else 0 for t in tops]] = 0.8
    probs[[s == "no_face" for s in states]] = np.nan
    cols = {"frame": np.arange(n), "time": np.arange(n) * step, "track": track}
    cols |= {f"p_{c}": probs[:, k] for k, c in enumerate(CLASSES)}
    return pd.DataFrame(cols | {"top": tops, "state": states})


def test_summary_by_hand():
    # track 0 at 10 fps: sad 2.0 s, happy 0.3 s (flicker, ambiguous), sad 1.7 s, fear 2.0 s, happy 4.0 s
    tops = ["sad"] * 20 + ["happy"] * 3 + ["sad"] * 17 + ["fear"] * 20 + ["happy"] * 40
    states = ["clear"] * 20 + ["ambiguous"] * 3 + ["clear"] * 77
    # track 1: 5 frames without a distribution, then 5 happy ones (0.5 s: no run reaches 1 s)
    one = _frames(1, [None] * 5 + ["happy"] * 5, ["no_face"] * 5 + ["clear"] * 5, 0.1)
    frames = pd.concat(
        [_frames(0, tops, states, 0.1), one.assign(frame=one["frame"] + 100, time=one["time"] + 10.0)]
    )
    s = summary_table(frames, CLASSES, 0.1).set_index("track")
    assert s.loc[0, "frames"] == 100 and s.loc[0, "time_on_screen"] == pytest.approx(10.0)
    assert s.loc[0, "time_classified"] == pytest.approx(10.0)
    assert s.loc[0, ["share_happy", "share_sad", "share_fear"]].tolist() == pytest.approx([0.43, 0.37, 0.2])
    assert s.loc[0, "share_ambiguous"] == pytest.approx(0.03)
    assert s.loc[0, "p_sad"] == pytest.approx((37 * 0.8 + 63 * 0.1) / 100)
    # the 0.3 s flicker is dropped and the two sad runs around it merge
    assert s.loc[0, "transitions"] == "sad 0.0-4.0 s > fear 4.0-6.0 s > happy 6.0-10.0 s"
    assert [r["top"] for r in s.loc[0, "runs"]] == ["sad", "fear", "happy"]
    assert [r["seconds"] for r in s.loc[0, "runs"]] == pytest.approx([4.0, 2.0, 4.0])
    assert s.loc[1, "time_on_screen"] == pytest.approx(1.0) and s.loc[1, "time_classified"] == pytest.approx(
        0.5
    )
    assert s.loc[1, "share_happy"] == 1.0 and s.loc[1, "p_happy"] == pytest.approx(0.8)
    assert s.loc[1, "transitions"] == "happy 10.5-11.0 s"  # no run of 1 s: the longest is kept


def test_main_runs_of_a_photo_and_of_nothing():
    assert main_runs(np.array([0.0]), ["sad"], 0.0) == [
        {"top": "sad", "start": 0.0, "end": 0.0, "seconds": 0.0}
    ]
    assert main_runs(np.array([]), [], 0.04) == []
    assert summary_table(pd.DataFrame(columns=["frame", "track"]), CLASSES, 0.04).empty


def _calibrated(plain, path, temperature: float, threshold: float):
    """A copy of the checkpoint ``plain`` (the same weights) with a calibration."""
    state = load_checkpoint(plain)
    state["calibration"] = Calibration(temperature, threshold, True, {"data": {"source": "x"}}).to_state()
    save_checkpoint(state, path)
    return path


def test_predict_applies_the_calibration_and_says_so(media, tmp_path):
    photo = media / "single_face.jpg"
    ckpt = _checkpoint(tmp_path / "plain.pt")
    plain = Predictor.from_checkpoint(ckpt).predict(photo)
    calibrated = Predictor.from_checkpoint(_calibrated(ckpt, tmp_path / "cal.pt", 0.25, 0.02)).predict(photo)
    cols = [f"p_{c}" for c in plain.classes]
    p = plain.windows[cols].to_numpy(float)
    # softmax(z / T) = softmax(log softmax(z) / T): the calibrated distribution from the plain one
    np.testing.assert_allclose(
        calibrated.windows[cols].to_numpy(float), softmax(np.log(p) / 0.25, axis=1), atol=1e-5
    )
    meta = calibrated.meta["calibration"]
    assert meta["temperature"] == 0.25 and meta["calibrated"] and meta["ambiguity"]["threshold"] == 0.02
    assert (
        not plain.meta["calibration"]["calibrated"]
        and plain.meta["calibration"]["ambiguity"]["threshold"] == 0.8
    )
    margin = calibrated.frames["margin"].to_numpy(float)
    assert (calibrated.frames["state"] == np.where(margin < 0.02, "ambiguous", "clear")).all()

    paths = calibrated.save(tmp_path / "out" / "photo")
    saved = json.loads(paths[0].read_text())
    assert saved["meta"]["calibration"]["temperature"] == 0.25
    assert (
        saved["summary"][0]["track"] == 0
        and saved["summary"][0]["runs"][0]["top"] == calibrated.frames["top"][0]
    )
    table = pd.read_csv(paths[-1])
    assert paths[-1].name == "photo_summary.csv" and "runs" not in table and len(table) == 1
    assert table.loc[0, "transitions"] == saved["summary"][0]["transitions"]


def test_an_onnx_export_of_a_calibrated_checkpoint_carries_the_calibration(media, tmp_path):
    ckpt = _checkpoint(tmp_path / "plain.pt")
    calibrated = _calibrated(ckpt, tmp_path / "cal.pt", 0.25, 0.02)
    export_checkpoint(calibrated, tmp_path / "cal.onnx")
    photo = media / "single_face.jpg"
    by_torch = Predictor.from_checkpoint(calibrated).predict(photo)
    by_onnx = Predictor.from_checkpoint(tmp_path / "cal.onnx").predict(photo)
    assert by_onnx.meta["calibration"] == by_torch.meta["calibration"]
    cols = [f"p_{c}" for c in by_torch.classes]
    np.testing.assert_allclose(by_onnx.windows[cols], by_torch.windows[cols], atol=1e-5)
