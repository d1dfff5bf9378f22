"""Audit 8 F9: `reproduce` settles which configs share a folder before planning writes anything.

Planning a DFEW config writes its study files (``prepare_cv``), and that ran config by config: a table whose
configs were all sent to one ``run.out_dir`` was refused as "output already exists (from before this run)"
about config.yaml and study.json that the same call had written a moment earlier, and the refused call left
them. Now the collision is named as such (both configs, the folder, the settings) with nothing written, and
a refusal met while planning a later config removes the study files the call wrote for the earlier ones.
"""

from pathlib import Path

import pytest

from softfer.cli import main
from softfer.config import dump_config, load_config, packaged_configs


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_configs_sent_to_one_folder_are_named_as_such_and_nothing_is_written(tiny_dfew, tmp_path, capsys):
    shared = tmp_path / "rep1"
    argv = ["reproduce", "midas-table2", "--folds", "1", "--set", f"data.root={tiny_dfew}"]
    assert main([*argv, "--set", f"run.out_dir={shared}"]) == 2
    err = capsys.readouterr().err
    assert f"midas-dfew_tsm_hard and midas-dfew_tsm_midas_t2 would train one folder {shared} with" in err
    assert "labels.target: midas-dfew_tsm_hard 'hard', midas-dfew_tsm_midas_t2 'soft'" in err
    assert "give one of them another run.out_dir" in err
    assert "from before this run" not in err
    assert not shared.exists()


def test_a_refusal_while_planning_a_later_config_removes_the_study_files_the_call_wrote(
    tiny_dfew, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the table's configs write to runs/midas/<config> here
    sets = ["--set", f"data.root={tiny_dfew}"]
    # the last config of the table (dfew_tsm_soft) finds a run of other settings in its fold 1
    soft = packaged_configs() / "midas" / "dfew_tsm_soft.yaml"
    other = load_config(soft, [f"data.root={tiny_dfew}", "optim.lr=0.5"])
    fold = tmp_path / "runs" / "midas" / "dfew_tsm_soft" / "fold_1"
    fold.mkdir(parents=True)
    dump_config(other, fold / "config.yaml")
    before = (fold / "config.yaml").read_bytes()
    assert main(["reproduce", "midas-table2", "--folds", "1", *sets]) == 2
    err = capsys.readouterr().err
    assert "holds a run started with other settings: optim.lr: stored 0.5, requested 0.02" in err
    # the two configs planned before it wrote their study folders, which the refused call removed
    assert _listing(tmp_path / "runs" / "midas") == [
        "dfew_tsm_soft",
        "dfew_tsm_soft/fold_1",
        *["dfew_tsm_soft/fold_1/config.yaml"],
    ]
    assert (fold / "config.yaml").read_bytes() == before


def test_shared_folders_are_checked_by_settings_not_names(tiny_dfew, tmp_path):
    from softfer.studies.reproduce import check_shared_folders

    path = packaged_configs() / "midas" / "dfew_tsm_hard.yaml"
    hard = load_config(path, [f"data.root={tiny_dfew}", f"run.out_dir={tmp_path / 'a'}"])
    renamed = hard.model_copy(deep=True)
    renamed.name = "midas-dfew_tsm_hard_t3"  # one experiment in two tables: one folder, planned once
    check_shared_folders([hard, renamed], (1, 2))
    ferv = load_config(
        packaged_configs() / "midas" / "ferv39kplus_tsm_hard.yaml", [f"run.out_dir={tmp_path / 'a'}"]
    )
    with pytest.raises(ValueError, match=r"would train one folder .*a with other settings"):
        check_shared_folders([hard, ferv], (1,))  # a cv study folder that is another config's run folder
