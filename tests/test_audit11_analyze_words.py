"""Audit 11, L2 and L3: `softfer analyze` on a cross-validation or comparison folder said "no predictions.csv;
is it a finished softfer run?" (it is a finished study: say so, and name a run to analyse); on a run whose
metrics.json is gone it warned of a metrics.json "written by an earlier softfer" (there is none: say so)."""

import json
import logging
import re
import shutil

import pytest

from softfer.analysis.report import analyze_run
from tests.analysis.test_analyze_inputs import _run


@pytest.mark.parametrize("kind", ["summary.json", "comparison.json"])
def test_a_study_folder_is_named_as_one_with_a_run_to_analyse(tmp_path, kind):
    study = tmp_path / "study"
    study.mkdir()
    (study / kind).write_text("{}")
    run = study / "fold_1" if kind == "summary.json" else study / "hard" / "fold_1_seed_0"
    run.parent.mkdir(parents=True, exist_ok=True)
    _run(run)
    what = "a cross-validation" if kind == "summary.json" else "a comparison"
    with pytest.raises(ValueError) as info:
        analyze_run(study, gradcam=False)
    assert str(info.value) == (
        f"{study}: no predictions.csv; it is {what} study: analyze one of its runs, e.g. softfer analyze "
        f"{run}; softfer report {study} shows the study"
    )
    shutil.rmtree(run)
    with pytest.raises(ValueError, match=re.escape(f"it is {what} study: analyze one of its runs; softfer")):
        analyze_run(study, gradcam=False)


def test_a_plain_folder_keeps_its_question(tmp_path):
    (tmp_path / "x").mkdir()
    said = f"{tmp_path / 'x'}: no predictions.csv; is it a finished"
    with pytest.raises(ValueError, match=re.escape(said)):
        analyze_run(tmp_path / "x", gradcam=False)


def test_a_missing_metrics_json_is_said_missing_not_old(tmp_path, caplog):
    _run(tmp_path / "run")
    (tmp_path / "run" / "metrics.json").unlink()
    with caplog.at_level(logging.WARNING):
        analyze_run(tmp_path / "run", gradcam=False)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "there is no metrics.json beside it (deleted, or the run did not finish)" in said
    assert "earlier softfer" not in said
    assert json.loads((tmp_path / "run" / "analysis" / "analysis.json").read_text())["ece"] >= 0
