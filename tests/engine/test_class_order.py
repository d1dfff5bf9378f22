"""Audit 6 U11: `eval` and `calibrate` of a model whose classes are the data's in another order (the FER2013
CNN, angry, disgust, ..., on DFEW's happy, sad, ...) were refused "evaluate it on data with the same
classes"; now the model's outputs are taken in the data's order, and another set of classes is still
refused. The reference is the same model with its classifier's rows permuted by hand: scored on the same
clips, it must give the original model's numbers."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from softfer.classes import DFEW_CLASSES
from softfer.cli import main
from softfer.config import ExperimentConfig
from softfer.engine.calibrate import calibrate_checkpoint
from softfer.engine.runs import evaluate_checkpoint
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint
from softfer.models import create_model, spec_of
from softfer.models.affect import AffectOutput
from tests.robustness.test_cli_errors import _stderr_line

# FER2013's order (the `fer` package's model, `softfer models import-fer`)
FER2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# by hand: DFEW's happy is FER2013's output 3, sad 4, neutral 6, angry 0, surprise 5, disgust 1, fear 2
DFEW_FROM_FER2013 = [3, 4, 6, 0, 5, 1, 2]


def test_the_order_of_dfew_classes_in_fer2013_outputs_is_the_hand_computed_one():
    from softfer.classes import class_order

    assert DFEW_CLASSES == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
    assert class_order(FER2013, DFEW_CLASSES) == DFEW_FROM_FER2013
    assert class_order(DFEW_CLASSES, DFEW_CLASSES) == list(range(7))
    assert class_order(FER2013, (*DFEW_CLASSES[:3], "contempt", *DFEW_CLASSES[4:])) is None  # another set
    # one class spelt two ways (AffectNet's anger, DFEW's angry) is one class
    assert class_order(FER2013, (*DFEW_CLASSES[:3], "anger", *DFEW_CLASSES[4:])) == DFEW_FROM_FER2013
    assert class_order(FER2013, DFEW_CLASSES[:6]) is None  # fewer classes
    assert class_order(("a", "a", "b"), ("a", "b", "b")) is None  # repeated names are no order


class _Fixed(torch.nn.Module):
    """Returns the given output whatever the input."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out


def test_reordered_outputs_are_the_models_outputs_taken_in_the_data_order():
    from softfer.inference.loading import ReorderedClasses

    logits = torch.tensor([[10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    out = ReorderedClasses(_Fixed(logits), DFEW_FROM_FER2013)(torch.zeros(2, 3))
    # output j of the data's order is the model's output order[j]: happy (FER2013's 3) first, fear (2) last
    assert out.tolist() == [[13.0, 14.0, 16.0, 10.0, 15.0, 11.0, 12.0], [3.0, 4.0, 6.0, 0.0, 5.0, 1.0, 2.0]]
    va = torch.tensor([[0.5, -0.5], [0.1, 0.2]])
    both = ReorderedClasses(_Fixed(AffectOutput(logits, va)), DFEW_FROM_FER2013)(torch.zeros(2, 3))
    assert torch.equal(both.logits, out) and torch.equal(both.va, va)  # valence/arousal pass unchanged
    model = create_model("tsm_r18", num_classes=7, width=8)
    assert spec_of(ReorderedClasses(model, DFEW_FROM_FER2013)) is spec_of(model)  # its spec is found


def _checkpoints(folder):
    """A DFEW-ordered tsm_r18 (random weights) and the same model with FER2013's class order: its
    classifier's rows permuted by hand, so that its output k predicts FER2013[k]."""
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 8}}}
    )
    torch.manual_seed(0)
    weights = create_model("tsm_r18", num_classes=7, width=8).state_dict()
    state = {"model": weights, "config": cfg.model_dump(mode="json"), "classes": list(DFEW_CLASSES)}
    save_checkpoint(state, folder / "dfew_order.pt")
    rows = torch.tensor([DFEW_CLASSES.index(name) for name in FER2013])  # FER2013[k] is DFEW's rows[k]
    permuted = {**weights, "fc.weight": weights["fc.weight"][rows], "fc.bias": weights["fc.bias"][rows]}
    save_checkpoint({**state, "model": permuted, "classes": list(FER2013)}, folder / "fer2013_order.pt")
    return folder / "dfew_order.pt", folder / "fer2013_order.pt"


def _probs(folder) -> pd.DataFrame:
    table = pd.read_csv(folder / "predictions.csv")
    return table[["id", *(f"p_{c}" for c in DFEW_CLASSES)]]


def test_eval_takes_a_models_outputs_in_the_datas_class_order(tiny_dfew, tmp_path, caplog):
    own, other = _checkpoints(tmp_path)
    reference = evaluate_checkpoint(own, data_root=str(tiny_dfew), out=tmp_path / "own")
    with caplog.at_level("INFO", logger="softfer.engine.runs"):
        scored = evaluate_checkpoint(other, data_root=str(tiny_dfew), out=tmp_path / "other")
    assert "are the dfew data's in another order" in caplog.text
    for key in ("uar", "war", "macro_f1", "ece", "nll"):
        assert scored[key] == pytest.approx(reference[key], abs=1e-6), key
    a, b = _probs(tmp_path / "own"), _probs(tmp_path / "other")
    assert list(a["id"]) == list(b["id"])
    np.testing.assert_allclose(b.iloc[:, 1:].to_numpy(), a.iloc[:, 1:].to_numpy(), atol=1e-5)
    metrics = json.loads((tmp_path / "other" / "metrics.json").read_text())
    assert metrics["model_classes"] == list(FER2013)  # the model's own order, recorded beside the score


def test_calibrate_fits_the_same_temperature_in_either_class_order_and_keeps_the_models(tiny_dfew, tmp_path):
    own, other = _checkpoints(tmp_path)
    held = {"data_root": str(tiny_dfew), "split": "test"}
    reference = calibrate_checkpoint(own, out=tmp_path / "own_cal.pt", **held)
    fitted = calibrate_checkpoint(other, out=tmp_path / "other_cal.pt", **held)
    assert fitted["temperature"] == pytest.approx(reference["temperature"], rel=1e-5)
    assert fitted["before"]["nll"] == pytest.approx(reference["before"]["nll"], abs=1e-6)
    copy = load_checkpoint(tmp_path / "other_cal.pt")
    assert copy["classes"] == list(FER2013)  # the copy is the model as it was, with its calibration
    assert torch.equal(copy["model"]["fc.weight"], load_checkpoint(other)["model"]["fc.weight"])


def test_another_set_of_classes_is_still_refused_by_eval_and_calibrate(tiny_dfew, tmp_path, capsys):
    own, _ = _checkpoints(tmp_path)
    state = load_checkpoint(own)
    renamed = ["contempt" if c == "angry" else c for c in FER2013]  # a class DFEW does not have
    save_checkpoint({**state, "classes": renamed}, tmp_path / "other.pt")
    for argv in (
        ["eval", str(tmp_path / "other.pt"), "--data", str(tiny_dfew), "--out", str(tmp_path / "e")],
        ["calibrate", str(tmp_path / "other.pt"), "--data", str(tiny_dfew), "--split", "test"],
    ):
        assert main(argv) == 2
        line = _stderr_line(capsys)
        assert "the model predicts 7 classes" in line and "evaluate it on data with the same classes" in line
    assert not (tmp_path / "e").exists() and not (tmp_path / "other_calibrated.pt").exists()


def test_an_image_model_on_clips_is_one_line_naming_the_checkpoint(tiny_dfew, tmp_path, capsys):
    """Found with U11: the FER2013 CNN, its classes now accepted on DFEW, failed inside the model on the
    clips ("expected images shaped (B, 3, H, W)"), naming no file."""
    cfg = ExperimentConfig.model_validate({"data": {"size": 48}, "model": {"name": "fer_mini_xception"}})
    model = create_model("fer_mini_xception", num_classes=7)
    state = {"model": model.state_dict(), "config": cfg.model_dump(mode="json"), "classes": list(FER2013)}
    save_checkpoint(state, tmp_path / "fer.pt")
    for argv in (
        ["eval", str(tmp_path / "fer.pt"), "--data", str(tiny_dfew), "--out", str(tmp_path / "e")],
        ["calibrate", str(tmp_path / "fer.pt"), "--data", str(tiny_dfew), "--split", "test"],
    ):
        assert main(argv) == 2
        line = _stderr_line(capsys)
        assert f"{tmp_path / 'fer.pt'}: model fer_mini_xception takes still images" in line
        assert "holds clips" in line and "softfer predict" in line


def test_eval_checks_the_classes_of_the_data_it_reads_a_configs_test_format_too(tmp_path, capsys):
    """Found with U11: eval compared the model's classes with its training format's (FER+), not with the
    cross-dataset test set's its config names (data.test_format: affectnet, 'sad' at index 2 where FER+ has
    'surprise'), and scored the AffectNet labels against the FER+-ordered outputs. AffectNet's classes are
    FER+'s (its anger is FER+'s angry) in another order: scored with the outputs in AffectNet's order."""
    from softfer.data.synthetic.generate import generate_affectnet

    generate_affectnet(tmp_path / "affectnet", images=40, size=32, seed=0, workers=1)
    data = {"format": "ferplus", "num_classes": 7, "size": 32, "test_format": "affectnet"}
    cfg = ExperimentConfig.model_validate(
        {"data": {**data, "test_root": str(tmp_path / "affectnet")}, "model": {"name": "fer_mini_xception"}}
    )
    classes = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear"]  # FER+'s first 7
    model = create_model("fer_mini_xception", num_classes=7)
    state = {"model": model.state_dict(), "config": cfg.model_dump(mode="json"), "classes": classes}
    save_checkpoint(state, tmp_path / "model.pt")
    assert main(["eval", str(tmp_path / "model.pt"), "--out", str(tmp_path / "e")]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["model_classes"] == classes
    assert list(metrics["per_class_recall"]) == [
        "neutral",
        "happy",
        "sad",
        "surprise",
        "fear",
        "disgust",
        "anger",
    ]


def test_train_scores_a_cross_dataset_test_set_in_the_training_class_order(tmp_path):
    """Found with U11: train (FER+ 7 classes, data.test_format affectnet) scored AffectNet's labels, whose
    index 2 is sad, against the model's output 2, FER+'s surprise. Each test label must name the same class
    after the move into FER+'s order (checked by name, by hand), with the records as read fingerprinted."""
    from softfer.classes import AFFECTNET_CLASSES, FERPLUS_CLASSES
    from softfer.data.formats.affectnet import read_affectnet
    from softfer.data.synthetic.ferplus import generate_ferplus
    from softfer.data.synthetic.generate import generate_affectnet
    from softfer.engine.data import build_data

    generate_ferplus(tmp_path / "ferplus", images=60, seed=0)
    generate_affectnet(tmp_path / "affectnet", images=60, size=32, seed=0, workers=1)
    data = {"format": "ferplus", "root": str(tmp_path / "ferplus"), "num_classes": 7, "size": 48}
    data |= {"test_format": "affectnet", "test_root": str(tmp_path / "affectnet"), "val_fraction": 0.0}
    cfg = ExperimentConfig.model_validate({"data": data, "model": {"name": "fer_mini_xception"}})
    bundle = build_data(cfg)
    as_read = {r.id: r.label for r in read_affectnet(tmp_path / "affectnet", split="val", num_classes=7)}
    spelt = {"anger": "angry"}  # AffectNet's name of FER+'s angry
    got = [(r.id, r.label) for r in bundle.test.records]
    assert got and len(got) == len(as_read)
    for rid, label in got:
        assert FERPLUS_CLASSES[label] == spelt.get(
            AFFECTNET_CLASSES[as_read[rid]], AFFECTNET_CLASSES[as_read[rid]]
        )
    assert any(as_read[rid] != label for rid, label in got)  # the orders differ for these labels


def test_gradcam_names_a_cross_dataset_test_items_true_class_in_its_own_order(tmp_path):
    """Review: analyze's Grad-CAM rows named the true label of an AffectNet test face with the FER+ model's
    class list (AffectNet's sad, label 2, captioned as FER+'s surprise)."""
    from softfer.analysis.report import _gradcam_rows
    from softfer.classes import AFFECTNET_CLASSES
    from softfer.data.formats.affectnet import read_affectnet
    from softfer.data.synthetic.ferplus import generate_ferplus
    from softfer.data.synthetic.generate import generate_affectnet

    generate_ferplus(tmp_path / "ferplus", images=60, seed=0)
    generate_affectnet(tmp_path / "affectnet", images=60, size=32, seed=0, workers=1)
    run = tmp_path / "run"
    (tmp_path / "c.yaml").write_text(
        f"""name: fer-on-affectnet
data: {{format: ferplus, root: {tmp_path / "ferplus"}, num_classes: 7, size: 48, val_fraction: 0.0,
        test_format: affectnet, test_root: {tmp_path / "affectnet"}}}
model: {{name: fer_mini_xception}}
labels: {{target: soft, mixing: none}}
optim: {{epochs: 1, batch_size: 8}}
run: {{out_dir: {run}}}
"""
    )
    assert main(["train", str(tmp_path / "c.yaml")]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    read = read_affectnet(tmp_path / "affectnet", split="val", num_classes=7)
    truth = [AFFECTNET_CLASSES[r.label] for r in read]
    rows = _gradcam_rows(run, metrics, count=len(truth))
    assert [r[3] for r in rows] == truth


def test_votes_and_soft_labels_move_with_their_class_by_hand():
    """Review: the train-side test's AffectNet test set has no votes, so the votes' direction was untested.
    FER+'s first 7 (neutral, happy, surprise, sad, angry, disgust, fear) into AffectNet's (neutral, happy,
    sad, surprise, fear, disgust, anger): by hand, FER+ index 3 (sad) becomes 2, 2 (surprise) becomes 3."""
    from pathlib import Path

    from softfer.classes import AFFECTNET_CLASSES, FERPLUS_CLASSES
    from softfer.data.records import Record
    from softfer.data.relabel import in_training_order

    votes = np.array([1, 0, 2, 5, 0, 0, 2])  # 5 for sad (FER+ index 3), 2 for surprise and for fear
    rec = Record(id="a", path=Path("a.png"), label=3, votes=votes, soft=votes / votes.sum())
    (moved,) = in_training_order([rec], FERPLUS_CLASSES[:7], AFFECTNET_CLASSES[:7], "test")
    assert moved.label == 2 and AFFECTNET_CLASSES[moved.label] == "sad"
    assert moved.votes.tolist() == [1, 0, 5, 2, 2, 0, 0]  # in AffectNet's order
    np.testing.assert_allclose(moved.soft, np.array([1, 0, 5, 2, 2, 0, 0]) / 10)
