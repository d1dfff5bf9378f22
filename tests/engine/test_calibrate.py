"""Issue 24, `softfer calibrate`: fitted on a run's validation split or on held-out clips, written as a new
checkpoint that keeps the run's identity, and applied by `eval`."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import softmax

from softfer.cli import main
from softfer.config import load_config, packaged_configs
from softfer.engine.calibrate import fit_calibration
from softfer.engine.data import read_records
from softfer.engine.runs import evaluate_checkpoint
from softfer.engine.train import fit
from softfer.inference.calibration import Calibration
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


def test_calibrate_on_the_validation_split_keeps_the_identity_and_eval_applies_it(
    run, tiny_dfew, tmp_path, capsys
):
    assert main(["calibrate", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "temperature" in printed and "before: NLL" in printed and "model_calibrated.pt" in printed
    report = json.loads((run / "model_calibrated.json").read_text())
    assert report["data"]["source"].startswith("the validation hold-out (0.25) of the dfew train split")
    where = {"root": str(tiny_dfew.resolve()), "format": "dfew", "split": "train", "fold": 1}
    assert {k: report["data"][k] for k in where} == where and report["data"]["validation_fraction"] == 0.25
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


def test_the_report_named_after_out_never_replaces_a_run_file_even_with_overwrite(run, capsys):
    """Found (audit): `calibrate RUN --out RUN/metrics.pt --overwrite` wrote its report over the run's
    metrics.json (its scores and fingerprint); `report` then showed the run without scores."""
    for name in ("metrics", "environment"):
        before = (run / f"{name}.json").read_bytes()
        args = ["calibrate", str(run), "--out", str(run / f"{name}.pt"), "--overwrite"]
        assert main(args) == 2
        assert f"{name}.json exists and is not a file this command writes" in _stderr_line(capsys)
        assert (run / f"{name}.json").read_bytes() == before and not (run / f"{name}.pt").exists()
    out = run / "again.pt"  # its own earlier report is replaced with --overwrite, as before
    assert main(["calibrate", str(run), "--out", str(out)]) == 0
    assert main(["calibrate", str(run), "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["out"] == str(out)


def test_calibrate_on_held_out_clips_and_refusals(run, tiny_dfew, tmp_path, capsys):
    out = tmp_path / "on_test.pt"
    assert main(["calibrate", str(run), "--data", str(tiny_dfew), "--split", "test", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["data"]["source"] == f"dfew test split, fold 1 in {tiny_dfew.resolve()}"
    assert report["data"]["with_votes"] > 0
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


def test_calibrate_says_which_data_it_was_fitted_on(run, tiny_dfew, tmp_path, capsys):
    """Found (user): `calibrate RUN --data cal --split test` said "fitted on dfew test split, fold 1" in the
    report and in the checkpoint's note, which read as the run's own test set: the data root was lost."""
    cal = tmp_path / "cal"
    shutil.copytree(tiny_dfew, cal)  # held-out clips at another root (here: the same clips, copied)
    out = tmp_path / "fitted.pt"
    assert main(["calibrate", str(run), "--data", str(cal), "--split", "test", "--out", str(out)]) == 0
    words = f"dfew test split, fold 1 in {cal.resolve()}"
    assert words in capsys.readouterr().out
    data = json.loads(out.with_suffix(".json").read_text())["data"]
    assert data["source"] == words
    where = {"root": str(cal.resolve()), "format": "dfew", "split": "test", "fold": 1}
    assert {k: data[k] for k in where} == where and data["validation_fraction"] is None
    # hashed as the run's own metrics.json hashes its test split: a reader can tell these are its test items
    run_test = json.loads((run / "metrics.json").read_text())["fingerprint"]["data"]["splits"]["test"]
    assert {k: data["digests"][k] for k in ("ids", "labels")} == {k: run_test[k] for k in ("ids", "labels")}
    assert data["items"] == run_test["count"] > 0
    state = load_checkpoint(out)
    assert {k: state["calibration_items"][k] for k in where} == where
    assert state["calibration_items"]["count"] == data["items"]
    assert state["calibration_items"]["digests"] == data["digests"]
    assert Calibration.from_state(state, out).describe()["note"].endswith(f"on {words}")


def _pred(logits: list[list[float]], labels: list[int]) -> dict[str, np.ndarray]:
    """``engine.evaluate.predict``'s output for ``logits`` and ``labels``, without votes."""
    n, k = len(labels), len(logits[0])
    return {
        "logits": np.array(logits, np.float32),
        "label": np.array(labels),
        "soft": np.full((n, k), 1 / k),
        "has_votes": np.zeros(n, bool),
    }


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def test_a_fit_that_worsens_the_ece_or_stops_at_a_bound_warns(caplog):
    """Found (user): T = 0.09 took the ECE on the fitted items from 0.010 to 0.238 without a word."""
    # three right at confidence 0.95, one wrong at 0.73: the NLL asks to soften (T > 1), which takes the
    # right ones further from their accuracy 1 than it brings the wrong one to its 0
    with caplog.at_level("WARNING"):
        _, report = fit_calibration(_pred([[3, 0]] * 3 + [[1, 0]], [0, 0, 0, 1]), 0.5)
    t = report["temperature"]
    assert t > 1
    # each confidence alone in its 15th-wide bin: ECE = mean |confidence - right|
    before, after = (0.75 * (1 - _sigmoid(3 / x)) + 0.25 * _sigmoid(1 / x) for x in (1, t))
    assert report["before"]["ece"] == pytest.approx(before, abs=1e-6) and after > before
    assert report["after"]["ece"] == pytest.approx(after, abs=1e-6)
    (warning,) = report["warnings"]
    said = f"made the ECE worse on the 4 items it was fitted on (ECE {before:.4f} before, {after:.4f} after)"
    assert said in warning and f"T = {t:.4g}" in warning and said in caplog.text
    # every item right: the NLL keeps falling as T -> 0 (in float64 it is 0.0 below T ~ 0.08 here, so the
    # search stops short of the bound); all wrong: it falls up to the upper end. The ECE and NLL improve in
    # both, so the temperature the items cannot determine is the only warning
    for labels, end in (
        ([0, 1, 0, 1], "lower end of the range searched (0.01 to 100), T = 0.01"),
        ([1, 0, 1, 0], "upper end of the range searched (0.01 to 100), T = 100"),
    ):
        _, report = fit_calibration(_pred([[3, 0], [0, 3]] * 2, labels), 0.5)
        (warning,) = report["warnings"]
        assert f"fits the 4 items no better than the {end}" in warning, warning
    # logits that do not tell the items apart: every temperature fits them the same
    _, report = fit_calibration(_pred([[1, 1]] * 4, [0, 1, 0, 1]), 0.5)
    assert ["is the same at every temperature" in w for w in report["warnings"]] == [True]
    # a fit that improves both on items it does not get all right or all wrong says nothing
    _, report = fit_calibration(_pred([[1, 0]] * 3 + [[0.1, 0]], [0, 0, 0, 1]), 0.5)
    assert report["after"]["ece"] < report["before"]["ece"] and report["warnings"] == []


def test_the_documented_eval_of_the_calibrated_copy_needs_no_out(run, tmp_path, capsys):
    """Found (user): `softfer eval RUN/model_calibrated.pt`, as docs/OUTPUTS.md suggests after
    `softfer eval RUN/model.pt`, was refused: both wrote to RUN/eval_dfew."""
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(run / "model.pt", folder / "model.pt")
    assert main(["calibrate", str(folder)]) == 0
    for name, evals in (("model.pt", "eval_dfew"), ("model_calibrated.pt", "eval_dfew_model_calibrated")):
        assert main(["eval", str(folder / name)]) == 0, capsys.readouterr().err
        metrics = json.loads((folder / evals / "metrics.json").read_text())
        assert metrics["checkpoint"]["path"] == str((folder / name).resolve())
        assert metrics["calibration"]["calibrated"] == (name != "model.pt")


@pytest.mark.parametrize("key", ["data.size", "data.segments"])
def test_calibrate_refuses_inputs_other_than_the_models_own(run, tiny_dfew, tmp_path, capsys, key):
    """Found (audit): `calibrate --set data.size=96` fitted the temperature on 96-px clips of a 32-px model
    and stored it as that model's (predict and eval feed it its own size)."""
    own = load_config(run / "config.yaml").model_dump(mode="json")["data"][key.split(".")[1]]
    for extra in ([], ["--data", str(tiny_dfew), "--split", "test"]):
        out = tmp_path / f"c{len(extra)}.pt"
        assert main(["calibrate", str(run), "--out", str(out), "--set", f"{key}={own + 1}", *extra]) == 2
        said = _stderr_line(capsys)
        assert f"{key}={own + 1} (the model's: {own})" in said and "softfer eval --set" in said
        assert not out.exists()
    out = tmp_path / "same.pt"  # the model's own value changes nothing: accepted
    assert main(["calibrate", str(run), "--out", str(out), "--set", f"{key}={own}"]) == 0
