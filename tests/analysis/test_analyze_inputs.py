"""`softfer analyze RUN`: it analyses a run's files only as the run wrote them (found by a new-user audit:
an edited config.yaml, or a predictions.csv edited, duplicated or cut short, was analysed with exit 0)."""

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from softfer import metrics
from softfer.analysis.report import analyze_run
from softfer.config import dump_config, load_config
from softfer.engine.evaluate import compute_metrics, write_metrics, write_predictions
from softfer.engine.resume import run_fingerprint

CLASSES = ("happy", "sad", "neutral")
VOTES = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)


def _run(folder: Path, threshold: float = 0.55) -> dict:
    """A finished run written by the engine's own writers: predictions.csv (12 voted clips and one without
    a label), metrics.json with its fingerprint, config.yaml. Returns metrics.json's content."""
    logits = torch.from_numpy(np.random.default_rng(0).normal(size=(13, 3)).astype(np.float32))
    pred = {
        "probs": torch.softmax(logits, dim=1).numpy(),
        "label": np.r_[VOTES.argmax(axis=1), -1],
        "soft": np.vstack([VOTES, np.full((1, 3), 1 / 3)]).astype(np.float32),  # uniform stand-in
        "has_votes": np.r_[np.ones(12, dtype=bool), False],
        "va_true": np.full((13, 2), np.nan),
        "va_pred": np.full((13, 2), np.nan),
        "index": np.arange(13),
    }
    cfg = load_config("demo/base.yaml", [f"data.clear_threshold={threshold}", f"data.root={folder}_gone"])
    folder.mkdir()
    report = compute_metrics(pred, CLASSES, clear_threshold=threshold)
    report["fingerprint"] = run_fingerprint(cfg, {})
    write_metrics(folder / "metrics.json", report)
    write_predictions(folder / "predictions.csv", pred, [f"c{i:02d}" for i in range(13)], CLASSES)
    dump_config(cfg, folder / "config.yaml")
    return report


def _refused(run: Path, file: str, message: str) -> None:
    """analyze_run(run) raises one line naming ``run/file`` and ``message``, and writes nothing."""
    with pytest.raises(ValueError, match=re.escape(f"{run / file}: ") + message) as info:
        analyze_run(run, gradcam=False)
    assert "\n" not in str(info.value) or file == "config.yaml"  # pydantic lists each bad key on a line
    assert not (run / "analysis").exists()


def test_a_run_as_written_is_analysed_as_metrics_json_scored_it(tmp_path):
    report = _run(tmp_path / "run")
    analyze_run(tmp_path / "run", gradcam=False)
    result = json.loads((tmp_path / "run" / "analysis" / "analysis.json").read_text())
    assert result["ece"] == pytest.approx(report["ece"], abs=1e-5)  # from probabilities at 6 decimals
    for group in ("clear", "ambiguous"):
        for key in ("count", "accuracy", "uar"):
            assert result["clear_vs_ambiguous"][group][key] == report["clear_vs_ambiguous"][group][key]
    assert result["clear_vs_ambiguous"]["clear"]["count"] == int(metrics.clear_mask(VOTES, 0.55).sum()) == 9


def test_a_folder_without_config_yaml_is_split_as_its_metrics_json_was(tmp_path):
    """Found (audit): an `eval --out` folder has no config.yaml, and analyze split its clips at the default
    clear threshold (0.9) whatever metrics.json was scored with."""
    report = _run(tmp_path / "run", threshold=0.55)
    (tmp_path / "run" / "config.yaml").unlink()
    analyze_run(tmp_path / "run", gradcam=False)
    result = json.loads((tmp_path / "run" / "analysis" / "analysis.json").read_text())
    assert result["clear_vs_ambiguous"]["threshold"] == 0.55
    for group in ("clear", "ambiguous"):
        assert result["clear_vs_ambiguous"][group]["count"] == report["clear_vs_ambiguous"][group]["count"]


def test_a_config_yaml_edited_after_the_run_is_refused(tmp_path):
    """Found (audit): clear_threshold 0.9 -> 0.5 in config.yaml swapped clips between the groups that
    metrics.json reports."""
    run = tmp_path / "run"
    _run(run)
    text = (run / "config.yaml").read_text()
    assert "clear_threshold: 0.55\n" in text
    (run / "config.yaml").write_text(text.replace("clear_threshold: 0.55\n", "clear_threshold: 0.5\n"))
    _refused(run, "config.yaml", "its config is not the one metrics.json was made with")


def test_an_invalid_config_yaml_is_refused_not_replaced_by_defaults(tmp_path):
    run = tmp_path / "run"
    _run(run)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("clear_threshold: 0.55\n", "clear_threshold: 7\n"))
    _refused(run, "config.yaml", r"invalid configuration:\n  data.clear_threshold")


def test_a_config_recorded_by_another_version_is_logged_not_refused(tmp_path, caplog):
    run = tmp_path / "run"
    report = _run(run)
    report["fingerprint"]["code"]["softfer"] = "0.0.1"  # a setting added since may change the hash
    (run / "metrics.json").write_text(json.dumps(report))
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("clear_threshold: 0.55\n", "clear_threshold: 0.5\n"))
    with caplog.at_level("WARNING"):
        analyze_run(run, gradcam=False)
    assert "does not hash as recorded (softfer 0.0.1" in caplog.text


def _set(row: int, column: str, value: str):
    def edit(rows: list[list[str]]) -> None:
        rows[row][rows[0].index(column)] = value

    return edit


def _set_row(row: int, prefix: str, values: list[str]):
    def edit(rows: list[list[str]]) -> None:
        for c, v in zip(CLASSES, values, strict=True):
            rows[row][rows[0].index(f"{prefix}{c}")] = v

    return edit


def _drop(*columns: str):
    def edit(rows: list[list[str]]) -> None:
        keep = [i for i, name in enumerate(rows[0]) if name not in columns]
        rows[:] = [[r[i] for i in keep] for r in rows]

    return edit


EDITS = {
    "nan": (_set(1, "p_happy", "nan"), "line 2, column p_happy: nan is not a probability"),
    "inf": (_set(4, "q_sad", "inf"), "line 5, column q_sad: inf is not a probability"),
    "negative": (_set(2, "p_sad", "-0.1"), r"line 3, column p_sad: -0.1 is not a probability"),
    "times 35": (_set_row(1, "p_", ["5.0", "15.0", "15.0"]), "line 2, column p_happy: 5.0 is not a prob"),
    "sum 1.5": (_set_row(3, "p_", ["0.5", "0.5", "0.5"]), r"line 4: the p_ columns sum to 1.5, not 1"),
    "votes sum 0.9": (_set_row(2, "q_", ["0.3", "0.3", "0.3"]), r"line 3: the q_ columns sum to 0.9, not 1"),
    "text cell": (_set(1, "p_sad", "abc"), "line 2, column p_sad: 'abc' is not a number"),
    "label 9": (_set(1, "label", "9"), r"line 2, column label: '9' is not a class index 0..2 \(or -1"),
    "label text": (_set(2, "label", "sad"), "line 3, column label: 'sad' is not a class index"),
    "duplicate": (lambda rows: rows.__setitem__(2, rows[1]), "line 3: id 'c00' repeats line 2"),
    "extra row": (lambda rows: rows.insert(3, ["new", *rows[3][1:]]), "13 labelled rows, but metrics.json"),
    "row removed": (lambda rows: rows.pop(5), "11 labelled rows, but metrics.json scored 12 test items"),
    "no q_happy": (_drop("q_happy"), "no column q_happy"),
    "no id": (_drop("id"), "no column id"),
    "a class less": (_drop("p_neutral", "q_neutral"), "p_ columns for happy, sad, but metrics.json scores"),
    "short row": (lambda rows: rows[6].__delitem__(slice(-4, None)), "line 7 has 8 fields, the header 12"),
}


@pytest.mark.parametrize("name", EDITS)
def test_a_predictions_csv_not_as_written_is_refused(tmp_path, name):
    """Found (audit): a NaN probability, a duplicated row, probabilities summing to 35 (a negative KL) were
    analysed with exit 0; a missing q_ column was a KeyError and a text cell named no file."""
    run = tmp_path / "run"
    _run(run)
    with (run / "predictions.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    edit, message = EDITS[name]
    edit(rows)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    (run / "predictions.csv").write_text(out.getvalue(), newline="")
    _refused(run, "predictions.csv", message)


def test_a_predictions_csv_cut_short_is_refused(tmp_path):
    """Found (audit): predictions.csv cut to 300 bytes gave an ECE from one row."""
    run = tmp_path / "run"
    _run(run)
    full = (run / "predictions.csv").read_bytes()
    ends = [i + 2 for i in range(len(full)) if full[i : i + 2] == b"\r\n"]  # after each row
    inside = full.index(b",0.", ends[4]) + 4  # inside the p_happy value of the fifth clip
    for cut in (300, ends[3], inside):
        (run / "predictions.csv").write_bytes(full[:cut])
        _refused(run, "predictions.csv", "(line .* fields, the header|.* labelled rows, but metrics.json)")


def test_a_file_is_answered_with_the_run_folder_to_give(tmp_path):
    """Found (audit): `softfer analyze run/predictions.csv` said "no predictions.csv"."""
    _run(tmp_path / "run")
    said = f"analyze takes the run folder: softfer analyze {tmp_path / 'run'}"
    with pytest.raises(ValueError, match=re.escape(said)):
        analyze_run(tmp_path / "run" / "predictions.csv", gradcam=False)
