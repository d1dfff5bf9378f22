"""`softfer analyze`: clear versus ambiguous clips only where the test set has annotator votes."""

import csv
import json

import numpy as np

from softfer import metrics
from softfer.analysis.report import analyze_run
from softfer.config import dump_config, load_config

CLASSES = ("happy", "sad", "neutral")


def _run(folder, soft: np.ndarray, voted: int, flags: np.ndarray | None = None) -> np.ndarray:
    """A finished run's predictions.csv (with a has_votes column when ``flags`` is given, as runs write
    it now; without, as runs wrote it before) and metrics.json; returns the predicted probabilities."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=len(soft))
    labels = soft.argmax(axis=1)
    folder.mkdir()
    extra = ["valence_pred", "arousal_pred", "has_votes"] if flags is not None else []
    with (folder / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["id", "label", "pred", *(f"p_{c}" for c in CLASSES), *(f"q_{c}" for c in CLASSES), *extra]
        )
        for i, (p, q) in enumerate(zip(probs, soft, strict=True)):
            tail = ["", "", int(flags[i])] if flags is not None else []
            w.writerow([f"c{i}", labels[i], p.argmax(), *p, *q, *tail])
    (folder / "metrics.json").write_text(
        json.dumps({"uar": 0.5, "war": 0.5, "num_vote_samples": voted, "num_samples": len(soft)})
    )
    return probs


def _groups(folder) -> dict | None:
    return json.loads((folder / "analysis" / "analysis.json").read_text())["clear_vs_ambiguous"]


def test_one_hot_stand_ins_are_not_read_as_unanimous_votes(tmp_path):
    one_hot = np.eye(3)[np.arange(12) % 3]  # what predictions.csv holds for a dataset without votes
    _run(tmp_path / "novotes", one_hot, voted=0)
    text = analyze_run(tmp_path / "novotes", gradcam=False)
    assert (
        json.loads((tmp_path / "novotes" / "analysis" / "analysis.json").read_text())["clear_vs_ambiguous"]
        is None
    )
    assert "absent (no test clip is known to have annotator votes)" in text


def test_voted_clips_are_split_as_every_run_splits_them(tmp_path):
    votes = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)
    _run(tmp_path / "voted", votes, voted=12)
    analyze_run(tmp_path / "voted", gradcam=False)
    groups = json.loads((tmp_path / "voted" / "analysis" / "analysis.json").read_text())["clear_vs_ambiguous"]
    assert groups["clear"]["count"] == int(metrics.clear_mask(votes).sum()) == 6
    assert groups["ambiguous"]["count"] == 6


def test_only_the_rows_marked_as_voted_are_split(tmp_path):
    votes = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)
    one_hot = np.eye(3)[votes.argmax(axis=1)]
    flags = np.arange(12) < 8  # the last 4 clips have no votes: their q_ columns are one-hot stand-ins
    soft = np.where(flags[:, None], votes, one_hot)
    probs = _run(tmp_path / "mixed", soft, voted=8, flags=flags)
    analyze_run(tmp_path / "mixed", gradcam=False)
    groups = _groups(tmp_path / "mixed")
    expected = metrics.clear_vs_ambiguous(probs[:8], votes[:8].argmax(axis=1), votes[:8])
    assert groups["clear"]["count"] == expected["clear"]["count"] == 4
    assert groups["ambiguous"]["count"] == 4
    assert groups["ambiguous"]["uar"] == expected["ambiguous"]["uar"]


def test_an_older_run_with_some_voted_rows_is_not_guessed(tmp_path):
    votes = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)
    _run(tmp_path / "old", votes, voted=8)  # no has_votes column: which 8 rows were voted is unknown
    analyze_run(tmp_path / "old", gradcam=False)
    assert _groups(tmp_path / "old") is None


def test_the_runs_clear_threshold_splits_the_clips(tmp_path):
    votes = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)
    _run(tmp_path / "run", votes, voted=12, flags=np.ones(12, dtype=bool))
    cfg = load_config("demo/base.yaml", ["data.clear_threshold=0.55", f"data.root={tmp_path / 'gone'}"])
    dump_config(cfg, tmp_path / "run" / "config.yaml")
    text = analyze_run(tmp_path / "run", gradcam=False)
    groups = _groups(tmp_path / "run")
    assert groups["threshold"] == 0.55
    assert groups["clear"]["count"] == 9  # shares 1.0, 0.6 and 0.95 exceed 0.55; 0.5 does not
    assert "above 0.55" in text
