"""`softfer analyze`: clear versus ambiguous clips only where the test set has annotator votes."""

import csv
import json

import numpy as np

from softfer import metrics
from softfer.analysis.report import analyze_run

CLASSES = ("happy", "sad", "neutral")


def _run(folder, soft: np.ndarray, voted: int) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=len(soft))
    labels = soft.argmax(axis=1)
    folder.mkdir()
    with (folder / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "pred", *(f"p_{c}" for c in CLASSES), *(f"q_{c}" for c in CLASSES)])
        for i, (p, q) in enumerate(zip(probs, soft, strict=True)):
            w.writerow([f"c{i}", labels[i], p.argmax(), *p, *q])
    (folder / "metrics.json").write_text(json.dumps({"num_vote_samples": voted}))


def test_one_hot_stand_ins_are_not_read_as_unanimous_votes(tmp_path):
    one_hot = np.eye(3)[np.arange(12) % 3]  # what predictions.csv holds for a dataset without votes
    _run(tmp_path / "novotes", one_hot, voted=0)
    text = analyze_run(tmp_path / "novotes", gradcam=False)
    assert (
        json.loads((tmp_path / "novotes" / "analysis" / "analysis.json").read_text())["clear_vs_ambiguous"]
        is None
    )
    assert "absent (the test set has no annotator votes)" in text


def test_voted_clips_are_split_as_every_run_splits_them(tmp_path):
    votes = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)
    _run(tmp_path / "voted", votes, voted=12)
    analyze_run(tmp_path / "voted", gradcam=False)
    groups = json.loads((tmp_path / "voted" / "analysis" / "analysis.json").read_text())["clear_vs_ambiguous"]
    assert groups["clear"]["count"] == int(metrics.clear_mask(votes).sum()) == 6
    assert groups["ambiguous"]["count"] == 6
