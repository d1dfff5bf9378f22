"""A part of a cross-validation's folds is summarised from its finished runs (audit 8, U3).

`softfer cv CONFIG --folds 1` after `--folds 1,2` into the same folder was refused, advising --overwrite,
which trains every fold again. Now the part's summary is written under a name of its own
(summary_folds_1.json and .md) from the reused runs; the study's own files (summary.json, summary.md,
study.json, config.yaml) and every run stay as they are, and a config of other settings is still refused.
"""

import json
from pathlib import Path

import pytest

from softfer.cli import main
from tests.engine.conftest import tiny_config


def _cv(data: Path, out: Path, folds: str, *extra: str, lr: float = 0.001) -> int:
    sets = [a for s in tiny_config(data, out, **{"optim.epochs": 1, "optim.lr": lr}) for a in ("--set", s)]
    return main(["cv", "demo/hard.yaml", "--folds", folds, *sets, "--quiet", *extra])


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` (TensorBoard's aside) with its modification time and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "tensorboard" not in p.parts
    }


@pytest.fixture(scope="module")
def study(tiny_dfew, tmp_path_factory) -> Path:
    """A finished two-fold study of the tiny set (trained once for the module)."""
    out = tmp_path_factory.mktemp("cv") / "study"
    assert _cv(tiny_dfew, out, "1,2") == 0
    return out


def test_a_part_of_the_folds_is_summarised_from_the_finished_runs(tiny_dfew, study):
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "1") == 0
    after = _snapshot(study)
    # nothing of the study changed: no run trained again, its summary, study file and config as they were
    assert {k: v for k, v in after.items() if not k.startswith("summary_folds_")} == before
    part = json.loads((study / "summary_folds_1.json").read_text())
    fold = json.loads((study / "fold_1" / "metrics.json").read_text())
    assert part["folds"] == [1]
    assert part["metrics"]["uar"]["values"] == [fold["uar"]]
    assert part["metrics"]["war"]["mean"] == fold["war"]
    assert "fold" in (study / "summary_folds_1.md").read_text()
    whole = json.loads((study / "summary.json").read_text())
    assert whole["folds"] == [1, 2]  # the whole study's summary is not the part's
    assert json.loads((study / "study.json").read_text())["folds"] == [1, 2]


def test_the_part_is_summarised_again_and_the_whole_study_keeps_it(tiny_dfew, study):
    assert _cv(tiny_dfew, study, "2") == 0
    assert _cv(tiny_dfew, study, "2") == 0  # its own file, rewritten
    assert json.loads((study / "summary_folds_2.json").read_text())["folds"] == [2]
    runs = {k: v for k, v in _snapshot(study).items() if k.startswith("fold_")}
    assert _cv(tiny_dfew, study, "1,2") == 0  # the study itself: its summary rewritten, the parts kept
    assert {k: v for k, v in _snapshot(study).items() if k.startswith("fold_")} == runs
    assert json.loads((study / "summary.json").read_text())["folds"] == [1, 2]
    assert (study / "summary_folds_1.json").is_file() and (study / "summary_folds_2.json").is_file()


def test_a_part_of_other_settings_is_refused_and_writes_nothing(tiny_dfew, study, capsys):
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "1", lr=0.002) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert _snapshot(study) == before


def test_folds_the_study_never_had_are_no_part_of_it_and_are_refused(tiny_dfew, study, capsys):
    # review: --folds 3 after --folds 1,2 trained fold 3 into the study while study.json kept listing 1,2
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "3") == 2
    assert _cv(tiny_dfew, study, "2,3") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _snapshot(study) == before and not (study / "fold_3").exists()


def test_overwrite_makes_the_part_the_whole_study_and_removes_the_earlier_parts(tiny_dfew, study):
    assert (study / "summary_folds_1.json").is_file()
    (study / "summary_folds_notes.md").write_text("mine")  # a user's file of a like name stays
    fold_1 = (study / "fold_1" / "metrics.json").stat().st_mtime_ns
    assert _cv(tiny_dfew, study, "1", "--overwrite") == 0
    assert (study / "fold_1" / "metrics.json").stat().st_mtime_ns != fold_1  # trained again, as asked
    assert json.loads((study / "study.json").read_text())["folds"] == [1]
    assert json.loads((study / "summary.json").read_text())["folds"] == [1]
    # the parts summarised runs that were replaced: none stands beside the new study
    assert [p.name for p in study.glob("summary_folds_*")] == ["summary_folds_notes.md"]
