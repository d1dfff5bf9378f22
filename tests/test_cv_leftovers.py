"""Two leftovers of `softfer cv` (helper H).

1. `--folds 3` after `--folds 1,2` into the same folder was refused with "pass --overwrite", which makes
   fold 3 alone the study. The refusal now names the folds that extend the study (`--folds 1,2,3`: the
   finished folds reused, the summary made over all) and says what --overwrite would do.
2. With `--launcher local|slurm`, a part of a study (`--folds 1` after `--folds 1,2`) replaced jobs.json and
   wrote into jobs/ without checking they were softfer's (and the study itself trusted its study.json for
   them). Only softfer's own record of this study (and its log folder) is replaced; a user's file is
   refused and kept.
"""

import json
import shutil
from pathlib import Path

import pytest

from softfer.cli import main
from tests.engine.conftest import tiny_config
from tests.test_u3_cv_fold_subsets import _snapshot  # every file with its time and bytes

LOCAL = ["--launcher", "local", "--jobs", "1", "--gpus-per-run", "0"]
USERS_RECORD = {"study": "my own notes", "launcher": "local", "runs": {}}  # a valid jobs record, not cv's


def _cv(data: Path, out: Path, folds: str, *extra: str, lr: float = 0.002) -> int:
    over = {"optim.epochs": 1, "optim.lr": lr, "data.segments": 2}
    sets = [a for s in tiny_config(data, out, **over) for a in ("--set", s)]
    return main(["cv", "demo/hard.yaml", "--folds", folds, *sets, "--quiet", *extra])


@pytest.fixture(scope="module")
def launched(tiny_dfew, tmp_path_factory) -> Path:
    """A finished two-fold study trained by the local launcher (its own jobs.json and jobs/)."""
    out = tmp_path_factory.mktemp("cv") / "study"
    assert _cv(tiny_dfew, out, "1,2", *LOCAL) == 0
    assert json.loads((out / "jobs.json").read_text())["study"] == "cv demo-hard"
    return out


def _copy(study: Path, tmp_path: Path, *, drop_fold_1: bool = True) -> Path:
    """A copy of the study; without fold 1's run, so that a part of fold 1 has a job to launch."""
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    if drop_fold_1:
        shutil.rmtree(copy / "fold_1")
    return copy


def test_a_fold_beyond_the_study_is_refused_naming_the_folds_that_extend_it(
    tiny_dfew, launched, tmp_path, capsys
):
    study = _copy(launched, tmp_path, drop_fold_1=False)
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "3") == 2
    err = capsys.readouterr().err
    assert "pass --folds 1,2,3 to extend it" in err
    assert "--overwrite with --folds 3 would make folds 3 alone the study" in err
    assert _cv(tiny_dfew, study, "2,3") == 2  # overlapping: the same advice, every fold named once
    assert "pass --folds 1,2,3 to extend it" in capsys.readouterr().err
    assert _snapshot(study) == before and not (study / "fold_3").exists()
    # other settings: the advice trains all of them again, never a call that shrinks the study
    assert _cv(tiny_dfew, study, "3", lr=0.003) == 2
    assert "pass --folds 1,2,3 --overwrite" in capsys.readouterr().err
    assert _snapshot(study) == before
    # the advice is true: the finished folds reused as they are, fold 3 trained, the summary over all three
    runs = {k: v for k, v in before.items() if k.startswith(("fold_1", "fold_2"))}
    assert _cv(tiny_dfew, study, "1,2,3") == 0
    after = _snapshot(study)
    assert {k: v for k, v in after.items() if k.startswith(("fold_1", "fold_2"))} == runs
    summary = json.loads((study / "summary.json").read_text())
    assert summary["folds"] == [1, 2, 3]
    fold_3 = json.loads((study / "fold_3" / "metrics.json").read_text())
    assert summary["metrics"]["uar"]["values"][2] == fold_3["uar"]
    assert json.loads((study / "study.json").read_text())["folds"] == [1, 2, 3]


@pytest.mark.parametrize("where", ["jobs.json", "jobs/", "jobs as a file"])
def test_a_users_launcher_file_is_refused_by_a_part_and_kept(tiny_dfew, launched, tmp_path, capsys, where):
    study = _copy(launched, tmp_path)
    if where == "jobs.json":
        (study / "jobs.json").write_text(json.dumps(USERS_RECORD))
    else:
        (study / "jobs.json").unlink()
        shutil.rmtree(study / "jobs")
        if where == "jobs/":
            (study / "jobs").mkdir()
            (study / "jobs" / "notes.txt").write_text("mine")
        else:
            (study / "jobs").write_text("mine")
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "1", *LOCAL) == 2
    named = "jobs.json" if where == "jobs.json" else "jobs"
    assert f"{study / named}: output already exists and is not softfer's" in capsys.readouterr().err
    assert _snapshot(study) == before  # kept, and nothing trained or summarised
    assert not (study / "fold_1").exists() and not (study / "summary_folds_1.json").exists()


def test_the_study_itself_refuses_a_users_jobs_json_too(tiny_dfew, launched, tmp_path, capsys):
    # study.json says the folder holds this study; that says nothing of a jobs.json put there since
    study = _copy(launched, tmp_path, drop_fold_1=False)
    (study / "jobs.json").write_text(json.dumps(USERS_RECORD))
    before = _snapshot(study)
    assert _cv(tiny_dfew, study, "1,2", *LOCAL) == 2
    assert f"{study / 'jobs.json'}: output already exists and is not softfer's" in capsys.readouterr().err
    assert _snapshot(study) == before


def test_softfers_own_launcher_files_of_the_study_are_replaced_by_a_part(tiny_dfew, launched, tmp_path):
    study = _copy(launched, tmp_path)
    earlier = json.loads((study / "jobs.json").read_text())
    assert _cv(tiny_dfew, study, "1", *LOCAL) == 0
    record = json.loads((study / "jobs.json").read_text())
    assert record["study"] == "cv demo-hard" and record["launcher"] == "local"
    assert record["runs"][str(study / "fold_1")]["state"] != "SUBMITTED"  # fold 1's job, ended
    assert set(earlier["runs"]) <= set(record["runs"])  # the earlier jobs stay recorded
    assert json.loads((study / "summary_folds_1.json").read_text())["folds"] == [1]
    assert json.loads((study / "summary.json").read_text())["folds"] == [1, 2]  # the study's own kept


def test_an_empty_log_folder_holds_nothing_to_lose_and_is_used(tmp_path):
    # a jobs/ folder the board made before its first record was written (a submission that failed)
    from softfer.studies.launch import LaunchOptions, check_launch_outputs

    local = LaunchOptions(launcher="local")
    (tmp_path / "jobs").mkdir()
    check_launch_outputs(tmp_path, local, ["cv a"])  # no error
    (tmp_path / "jobs" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not softfer's folder of this study's job logs"):
        check_launch_outputs(tmp_path, local, ["cv a"])
    check_launch_outputs(tmp_path, local, ["cv a"], overwrite=True)  # --overwrite: the user said so
    (tmp_path / "jobs.json").write_text(json.dumps({**USERS_RECORD, "study": "cv b"}))
    with pytest.raises(ValueError, match=r"jobs\.json: output already exists and is not softfer's record"):
        check_launch_outputs(tmp_path, local, ["cv a"])  # another study's record
    check_launch_outputs(tmp_path, local, ["cv a", "cv b"])  # this study's, under an earlier name
    check_launch_outputs(tmp_path, LaunchOptions(), ["cv a"])  # the sequential launcher writes neither
