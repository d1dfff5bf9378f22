"""`softfer analyze RUN` analyses only the run's own files (found by audit 6): another run's predictions.csv
of the same test items was reported as this run's (F8); the coexistence figure read today's training split
and Grad-CAM today's test split and whatever model.pt lay in the folder, unchecked against the run's
fingerprint (F2)."""

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from softfer.analysis.report import analyze_run, read_predictions
from softfer.config import dump_config, load_config, packaged_configs, validate_config
from softfer.data.synthetic.generate import generate_dfew
from softfer.engine.data import class_names, data_fingerprint_of
from softfer.engine.outputs import write_run_outputs
from softfer.engine.resume import run_fingerprint
from softfer.inference.checkpoint import load_checkpoint
from tests.engine.conftest import tiny_config

CLASSES = ("happy", "sad", "neutral")
VOTES = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)


def _pred(seed: int, classes: tuple[str, ...] = CLASSES, votes: np.ndarray = VOTES) -> dict:
    probs = np.random.default_rng(seed).dirichlet(np.ones(len(classes)), size=len(votes))
    n = len(votes)
    return {
        "probs": probs.astype(np.float32),
        "label": votes.argmax(axis=1),
        "soft": votes.astype(np.float32),
        "has_votes": np.ones(n, dtype=bool),
        "va_true": np.full((n, 2), np.nan),
        "va_pred": np.full((n, 2), np.nan),
        "index": np.arange(n),
    }


def _written(folder: Path, seed: int) -> dict:
    """A run folder as the engine writes it (predictions.csv and metrics.json; no config.yaml, as `eval`)."""
    return write_run_outputs(folder, _pred(seed), [f"c{i:02d}" for i in range(12)], CLASSES, [])


def test_metrics_json_records_the_sha256_of_the_predictions_csv_written_with_it(tmp_path):
    report = _written(tmp_path / "run", seed=0)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    expected = hashlib.sha256((tmp_path / "run" / "predictions.csv").read_bytes()).hexdigest()
    assert on_disk["predictions_sha256"] == report["predictions_sha256"] == expected


def test_another_runs_predictions_csv_of_the_same_items_is_refused(tmp_path):
    """Found (audit F8): runB's predictions.csv copied into runA was analysed, its ECE filed as runA's."""
    a, b = tmp_path / "a", tmp_path / "b"
    ours, theirs = _written(a, seed=0), _written(b, seed=1)
    assert theirs["ece"] != pytest.approx(ours["ece"], abs=1e-3)  # two runs that score differently
    shutil.copy(b / "predictions.csv", a / "predictions.csv")
    read_predictions(a / "predictions.csv", num_samples=ours["num_samples"], classes=CLASSES)  # shape passes
    said = re.escape(f"{a / 'predictions.csv'}: not the predictions.csv this run's metrics.json was written")
    with pytest.raises(ValueError, match=said):
        analyze_run(a, gradcam=False)
    assert not (a / "analysis").exists()


def test_rows_edited_to_still_sum_to_one_are_refused(tmp_path):
    run = tmp_path / "run"
    _written(run, seed=0)
    lines = (run / "predictions.csv").read_bytes().split(b"\r\n")
    cells = lines[1].split(b",")
    cells[3], cells[4] = cells[4], cells[3]  # p_happy <-> p_sad of the first clip: the row still sums to 1
    lines[1] = b",".join(cells)
    (run / "predictions.csv").write_bytes(b"\r\n".join(lines))
    with pytest.raises(ValueError, match=r"its sha256 differs from metrics\.json's predictions_sha256"):
        analyze_run(run, gradcam=False)


def test_a_run_as_written_is_analysed_and_one_without_the_digest_is_logged(tmp_path, caplog):
    run = tmp_path / "run"
    report = _written(run, seed=0)
    analyze_run(run, gradcam=False)
    result = json.loads((run / "analysis" / "analysis.json").read_text())
    assert result["ece"] == pytest.approx(report["ece"], abs=1e-5)
    # a metrics.json of an earlier softfer records no digest: analysed, and the log says it is unchecked
    older = {k: v for k, v in report.items() if k != "predictions_sha256"}
    (run / "metrics.json").write_text(json.dumps(older))
    with caplog.at_level(logging.WARNING):
        analyze_run(run, gradcam=False, overwrite=True)
    assert "records no predictions_sha256 (written by an earlier softfer)" in caplog.text


def _analysis(run: Path) -> dict:
    return json.loads((run / "analysis" / "analysis.json").read_text())


def _split_list(root: Path, split: str) -> Path:
    return root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_1.csv"


def _relabel_first(path: Path) -> None:
    """The first clip of a DFEW split list gets another class (1..7, DFEW's numbering)."""
    lines = path.read_text().splitlines()
    name, label = lines[1].split(",")
    lines[1] = f"{name},{int(label) % 7 + 1}"
    path.write_text("\n".join(lines) + "\n")


def _scored_run(folder: Path, root: Path) -> None:
    """A run folder whose config.yaml and metrics.json fingerprint record the data at ``root`` now."""
    cfg = load_config("demo/base.yaml", [f"data.root={root}", f"run.out_dir={folder}"])
    classes = tuple(class_names("dfew", 7))
    votes = np.eye(7)[np.arange(12) % 7] * 0.6 + 0.4 / 7
    extra = {"fingerprint": run_fingerprint(cfg, data_fingerprint_of(cfg))}
    ids = [f"c{i:02d}" for i in range(12)]
    write_run_outputs(folder, _pred(0, classes, votes), ids, classes, [], extra=extra)
    dump_config(cfg, folder / "config.yaml")


def test_coexistence_reads_the_training_split_only_as_the_run_trained_on_it(tmp_path):
    """Found (audit F2): after the dataset was regenerated, the coexistence figure counted the new training
    split's labels, still titled "training split"."""
    root, run = tmp_path / "dfew", tmp_path / "run"
    generate_dfew(root, clips=40, size=32, seed=0, workers=1)
    _scored_run(run, root)
    analyze_run(run, gradcam=False)
    first = _analysis(run)
    assert first["coexistence_source"] == "training split" and "coexistence_note" not in first
    # the figure reads no media: a clip whose frames were touched (a copied dataset) draws the same figure
    next((root / "Clip").rglob("*.jpg")).touch()
    analyze_run(run, gradcam=False, overwrite=True)
    assert _analysis(run)["coexistence"] == first["coexistence"]
    assert _analysis(run)["coexistence_source"] == "training split"
    _relabel_first(_split_list(root, "train"))
    text = analyze_run(run, gradcam=False, overwrite=True)
    result = _analysis(run)
    assert result["coexistence_source"] == "test split"
    changed = r"the data changed since the run: the train split \(.*\): labels changed"
    assert re.search(changed, result["coexistence_note"])
    assert "coexisting emotions from the test split" in text
    assert f"(not from the training split: {result['coexistence_note']})" in text
    # the test split's votes from predictions.csv, as a folder without config.yaml draws them
    (run / "config.yaml").unlink()
    analyze_run(run, gradcam=False, overwrite=True)
    assert _analysis(run)["coexistence"] == result["coexistence"] != first["coexistence"]


@pytest.fixture
def trained(tmp_path):
    """(run folder, data root): a one-step run on a dataset of its own (the tests change it)."""
    from softfer.engine.train import fit

    root, run = tmp_path / "dfew", tmp_path / "run"
    generate_dfew(root, clips=40, size=32, seed=0, workers=1)
    sets = {"optim.epochs": 1, "run.max_steps": 1, "data.num_workers": 0, "run.amp": "none"}
    fit(load_config(packaged_configs() / "demo" / "soft.yaml", tiny_config(root, run, **sets)))
    return run, root


def _gradcam(run: Path) -> str:
    analyze_run(run, overwrite=True)
    return _analysis(run)["gradcam"]


def test_gradcam_explains_only_the_runs_model_on_the_clips_it_scored(trained):
    """Found (audit F2): another run's model.pt copied into the run folder, or a test split relabelled
    since, was explained under "true X / predicted Y" as the run's own."""
    run, root = trained
    assert _gradcam(run) == "gradcam.png"
    own = (run / "model.pt").read_bytes()
    state = load_checkpoint(run / "model.pt")
    state["config"]["run"]["seed"] = 3  # another run: its own config and fingerprint, consistent
    state["fingerprint"] = run_fingerprint(validate_config(state["config"]), state["fingerprint"]["data"])
    torch.save(state, run / "model.pt")
    said = _gradcam(run)
    assert said.startswith(f"skipped: {run / 'model.pt'} is the model of another run (")
    assert "run.seed 3), not the one" in said
    assert not (run / "analysis" / "gradcam.png").exists()  # no earlier figure left beside this analysis
    assert f"Grad-CAM {said}" in (run / "analysis" / "analysis.md").read_text()
    assert _analysis(run)["coexistence_source"] == "training split"  # the rest is analysed
    (run / "model.pt").write_bytes(own)
    assert _gradcam(run) == "gradcam.png"
    _relabel_first(_split_list(root, "test"))
    said = _gradcam(run)
    assert re.match(
        r"skipped: .*: the data changed since the run, .*the test split \(.*\): labels changed", said
    )
    assert _analysis(run)["coexistence_source"] == "training split"  # the training split did not change
