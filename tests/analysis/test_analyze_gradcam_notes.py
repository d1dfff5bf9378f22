"""Audit 6 U1: what `softfer analyze` says about Grad-CAM when it draws none.

A run folder without model.pt (moved away, or an `eval --out` folder) got no Grad-CAM and no word why;
`analyze --overwrite --no-gradcam` must not leave an earlier gradcam.png beside the new analysis, which no
longer mentions it, and removes it only where the output rule lets it replace the file. The folders are
written as the engine writes them (no training).
"""

import json
import logging

import numpy as np
import pytest

from softfer.cli import main
from softfer.engine.outputs import write_run_outputs

CLASSES = ("happy", "sad", "neutral")
VOTES = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0, 0.95, 0.05], [0.2, 0.3, 0.5]] * 3)


@pytest.fixture
def run(tmp_path):
    """predictions.csv and metrics.json as the engine writes them, and no model.pt."""
    n = len(VOTES)
    pred = {
        "probs": np.random.default_rng(0).dirichlet(np.ones(3), size=n).astype(np.float32),
        "label": VOTES.argmax(axis=1),
        "soft": VOTES.astype(np.float32),
        "has_votes": np.ones(n, dtype=bool),
        "va_true": np.full((n, 2), np.nan),
        "va_pred": np.full((n, 2), np.nan),
        "index": np.arange(n),
    }
    write_run_outputs(tmp_path / "run", pred, [f"c{i:02d}" for i in range(n)], CLASSES, [])
    return tmp_path / "run"


def _analysis(run) -> dict:
    return json.loads((run / "analysis" / "analysis.json").read_text())


def test_a_run_without_model_pt_says_why_it_has_no_gradcam(run, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="softfer"):
        assert main(["analyze", str(run)]) == 0
    why = f"{run / 'model.pt'}: missing or not a file, so there is no model to explain"
    assert _analysis(run)["gradcam"].startswith(f"skipped: {why}")
    assert f"Grad-CAM skipped: {why}" in (run / "analysis" / "analysis.md").read_text()
    assert f"Grad-CAM skipped: {why}" in capsys.readouterr().out
    logged = [r.getMessage() for r in caplog.records if "Grad-CAM skipped" in r.getMessage()]
    assert len(logged) == 1 and logged[0].startswith(f"Grad-CAM skipped: {why}")
    assert not (run / "analysis" / "gradcam.png").exists()
    (run / "model.pt").mkdir()  # a folder where the checkpoint should be: no model either
    assert main(["analyze", str(run), "--overwrite"]) == 0
    assert _analysis(run)["gradcam"].startswith(f"skipped: {why}")


def test_no_gradcam_removes_the_earlier_figure_only_where_it_may_replace_it(run, capsys):
    assert main(["analyze", str(run), "--no-gradcam"]) == 0
    assert "gradcam" not in _analysis(run)  # not asked for: nothing said, nothing drawn
    figure = run / "analysis" / "gradcam.png"
    figure.write_bytes(b"an earlier analysis's figure, of another model")
    assert main(["analyze", str(run), "--no-gradcam"]) == 2  # an existing output: refused, kept
    assert "output already exists" in capsys.readouterr().err and figure.is_file()
    assert main(["analyze", str(run), "--no-gradcam", "--overwrite"]) == 0
    assert not figure.exists() and "gradcam" not in _analysis(run)
    figure.symlink_to(run / "predictions.csv")  # the figure's name leads to an input: never replaced
    before = (run / "predictions.csv").read_bytes()
    assert main(["analyze", str(run), "--no-gradcam", "--overwrite"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert figure.is_symlink() and (run / "predictions.csv").read_bytes() == before
