"""Issue 24, `softfer calibrate`: fitted on a run's validation split or on held-out clips, written as a new
checkpoint that keeps the run's identity, and applied by `eval`."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import softmax

from softfer.cli import main
from softfer.config import load_config, packaged_configs
from softfer.engine.data import read_records
from softfer.engine.runs import evaluate_checkpoint
from softfer.engine.train import fit
from softfer.inference.checkpoint import load_checkpoint
from tests.engine.conftest import tiny_config
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _stderr_line


@pytest.fixture(scope="module")
def run(tiny_dfew, tmp_path_factory):
    """A one-epoch run that held out a quarter of its training clips for validation."""
    out = tmp_path_factory.mktemp("calibrate") / "run"
    sets = tiny_config(tiny_dfew, out, **{"optim.epochs": 1, "data.val_fraction": 0.25})
    fit(load_config(packaged_configs() / "demo" / "soft.yaml", sets))
    return out


def _probs(path) -> np.ndarray:
    table = pd.read_csv(path)
    return table[[c for c in table if c.startswith("p_")]].to_numpy(float)


def test_calibrate_on_the_validation_split_keeps_the_identity_and_eval_applies_it(run, tmp_path, capsys):
    assert main(["calibrate", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "temperature" in printed and "before: NLL" in printed and "model_calibrated.pt" in printed
    report = json.loads((run / "model_calibrated.json").read_text())
    assert report["data"]["source"].startswith("the validation hold-out (0.25) of the dfew train split")
    assert report["after"]["nll"] <= report["before"]["nll"] + 1e-9  # the fit minimises it on these items
    plain, calibrated = load_checkpoint(run / "model.pt"), load_checkpoint(run / "model_calibrated.pt")
    # the hold-out is the training split's clips that the model was not trained on
    cfg = load_config(run / "config.yaml")
    held = len(read_records(cfg.data, cfg.data.train_split)) - plain["training_items"]["count"]
    assert report["data"]["items"] == held > 0
    for when in ("before", "after"):
        counts = report[when]["reliability"]["count"]
        assert len(counts) == 15 and sum(counts) == held
    assert set(calibrated) == set(plain) | {"calibration", "calibration_items"}
    assert calibrated["calibration_items"]["count"] == held  # what eval refuses to score as a test
    for key in plain:  # weights, config, classes, fingerprint, training items: all as they were
        if key == "model":
            assert all(torch.equal(plain["model"][k], calibrated["model"][k]) for k in plain["model"])
        else:
            assert calibrated[key] == plain[key], key
    t = calibrated["calibration"]["temperature"]
    assert t == report["temperature"]

    evaluate_checkpoint(run / "model.pt", out=tmp_path / "plain")
    evaluate_checkpoint(run / "model_calibrated.pt", out=tmp_path / "calibrated")
    metrics = json.loads((tmp_path / "calibrated" / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == t and metrics["calibration"]["calibrated"]
    assert metrics["evaluated_on_calibration_items"] == 0  # fitted on the validation hold-out
    assert (
        json.loads((tmp_path / "plain" / "metrics.json").read_text())["evaluated_on_calibration_items"]
        is None
    )
    p = _probs(tmp_path / "plain" / "predictions.csv")
    expected = softmax(np.log(np.clip(p, 1e-6, None)) / t, axis=1)  # the CSV's 6 decimals
    np.testing.assert_allclose(_probs(tmp_path / "calibrated" / "predictions.csv"), expected, atol=5e-4)
    # the calibrated copy still knows what it was trained on
    with pytest.raises(ValueError, match="items this model was trained on"):
        evaluate_checkpoint(run / "model_calibrated.pt", split="train", out=tmp_path / "train")


def test_calibrate_never_writes_over_its_input_or_an_existing_file(run, capsys):
    before = (run / "model.pt").read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main(["calibrate", str(run / "model.pt"), "--out", str(run / "model.pt"), *extra]) == 2
        assert "model.pt is an input" in _stderr_line(capsys)
    assert (run / "model.pt").read_bytes() == before
    out = run / "other.pt"
    out.write_bytes(b"someone's model")
    assert main(["calibrate", str(run), "--out", str(out)]) == 2
    assert "already exists" in _stderr_line(capsys) and out.read_bytes() == b"someone's model"


def test_calibrate_on_held_out_clips_and_refusals(run, tiny_dfew, tmp_path, capsys):
    out = tmp_path / "on_test.pt"
    assert main(["calibrate", str(run), "--data", str(tiny_dfew), "--split", "test", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["data"]["source"] == "dfew test split, fold 1" and report["data"]["with_votes"] > 0
    assert "fitted" in report["ambiguity"]
    # Found (audit): a model calibrated on the test split was scored on it as a test, unflagged
    with pytest.raises(ValueError, match=r"test items are items this model's calibration .* was fitted on"):
        evaluate_checkpoint(out, out=tmp_path / "eval_on_test")
    evaluate_checkpoint(out, out=tmp_path / "eval_on_test", allow_train_items=True)
    metrics = json.loads((tmp_path / "eval_on_test" / "metrics.json").read_text())
    assert metrics["evaluated_on_calibration_items"] == report["data"]["items"] > 0
    # the clips the model was trained on are refused: it is over-confident on them
    args = [
        "calibrate",
        str(run),
        "--data",
        str(tiny_dfew),
        "--split",
        "train",
        "--out",
        str(tmp_path / "t.pt"),
    ]
    assert main(args) == 2
    assert "items this model was trained on" in _stderr_line(capsys)
    # a run without a validation split needs held-out clips
    assert main(["calibrate", str(_checkpoint(tmp_path / "model.pt"))]) == 2
    line = _stderr_line(capsys)
    assert "held out no validation split" in line and "--data" in line
