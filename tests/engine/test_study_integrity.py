"""Audit 8 (F2, F3, F4, F6, F7): what a study refuses before training or before summarising, on hand-made
runs (a config.yaml and a metrics.json with a real fingerprint), so that nothing here trains."""

import json
import shutil
from pathlib import Path

import pytest

from softfer.config import dump_config, load_config, packaged_configs
from softfer.engine.data import data_fingerprint_of
from softfer.engine.resume import run_fingerprint
from softfer.io.files import write_json_atomic
from softfer.studies import launch as launch_module
from softfer.studies import schedulers
from softfer.studies.compare import compare_configs
from softfer.studies.crossval import finish_cv, fold_config, holds_study, prepare_cv
from softfer.studies.launch import LaunchOptions, Run, execute, run_job
from softfer.studies.stats_report import summarize_comparison
from tests.engine.conftest import tiny_config

TEST_LABELS = Path("EmoLabel_DataSplit") / "test(single-labeled)" / "set_1.csv"


@pytest.fixture
def data(tiny_dfew, tmp_path) -> Path:
    """A copy of the tiny DFEW set that a test may edit."""
    return Path(shutil.copytree(tiny_dfew, tmp_path / "dfew"))


def _config(root: Path, out: Path, name: str = "demo/hard.yaml", **over):
    return load_config(name, tiny_config(root, out, **over))


def _finished(cfg, uar: float = 0.5) -> dict:
    """A finished run of ``cfg`` on the data as it is now: config.yaml, metrics.json with its fingerprint."""
    metrics = {"uar": uar, "war": uar, "fingerprint": run_fingerprint(cfg, data_fingerprint_of(cfg))}
    dump_config(cfg, Path(cfg.run.out_dir) / "config.yaml")
    write_json_atomic(Path(cfg.run.out_dir) / "metrics.json", metrics)
    return metrics


def _fix_a_test_label(root: Path) -> None:
    """Change the first test clip's label (as a label correction made while a study runs)."""
    path = root / TEST_LABELS
    lines = path.read_text().splitlines()
    clip, label = lines[1].split(",")
    lines[1] = f"{clip},{int(label) % 7 + 1}"
    path.write_text("\n".join(lines) + "\n")


def _no_training(*args, **kw):
    raise AssertionError("trained although the study should have been refused")


def test_a_sequential_study_refuses_a_reused_run_made_before_the_test_labels_changed(
    data, tmp_path, monkeypatch
):
    old = _config(data, tmp_path / "a" / "fold_1_seed_0", name="demo/hard.yaml")
    new = _config(data, tmp_path / "b" / "fold_1_seed_0", name="demo/soft.yaml")
    _finished(old)

    def fit(cfg, resume=None, overwrite=False):  # the labels are fixed while this run trains
        _fix_a_test_label(data)
        return _finished(cfg)

    monkeypatch.setattr(launch_module, "fit", fit)
    with pytest.raises(ValueError, match="other data than there is now") as refused:
        execute([Run(old, "reuse"), Run(new, "train")], None, tmp_path, study="compare")
    message = str(refused.value)
    assert (
        str(tmp_path / "a" / "fold_1_seed_0") in message and "test split" in message and "labels" in message
    )
    assert str(tmp_path / "b" / "fold_1_seed_0") not in message  # made on today's data


def test_a_launched_study_rechecks_its_reused_runs_after_the_wait(data, tmp_path, monkeypatch):
    old = _config(data, tmp_path / "a" / "fold_1_seed_0", name="demo/hard.yaml")
    new = _config(data, tmp_path / "b" / "fold_1_seed_0", name="demo/soft.yaml")
    _finished(old)

    class Board:  # a launcher whose job finishes after the labels were fixed (a SLURM wait of days)
        def __init__(self, *args):
            pass

        def submit(self, todo):
            _fix_a_test_label(data)
            for run in todo:
                _finished(run.cfg)

        def wait(self):
            pass

        def describe(self, run):
            return "a fake job"

    monkeypatch.setattr(schedulers, "JobBoard", Board)
    with pytest.raises(ValueError, match="other data than there is now") as refused:
        execute([Run(old, "reuse"), Run(new, "train")], LaunchOptions(launcher="local"), tmp_path, study="x")
    assert str(tmp_path / "a" / "fold_1_seed_0") in str(refused.value)


def _row(config: str, fold: int, seed: int, labels: str) -> dict:
    test = {"source": "dfew test", "count": 7, "ids": "i", "labels": labels, "media": "m"}
    data = {"format": "dfew", "splits": {"test": test}}
    return {
        "config": config,
        "fold": fold,
        "seed": seed,
        "uar": 0.5,
        "war": 0.5,
        "fingerprint": {"data": data},
    }


def test_paired_rows_scored_on_different_test_labels_are_refused_naming_both_runs():
    rows = [_row("a", 1, 0, "L1"), _row("b", 1, 0, "L1"), _row("a", 1, 1, "L1"), _row("b", 1, 1, "L2")]
    with pytest.raises(ValueError, match="different test data") as refused:
        summarize_comparison(rows, configs=["a", "b"], folds=(1,), seeds=(0, 1), num_classes=7)
    message = str(refused.value)
    assert "a (fold 1, seed 0)" in message and "b (fold 1, seed 1)" in message and "labels" in message
    # other folds test on other clips: a fingerprint that differs between folds is no mismatch
    rows = [_row("a", 1, 0, "L1"), _row("b", 1, 0, "L1"), _row("a", 2, 0, "L2"), _row("b", 2, 0, "L2")]
    summary = summarize_comparison(rows, configs=["a", "b"], folds=(1, 2), seeds=(0,), num_classes=7)
    assert summary["pairs_of_runs"] == [(1, 0), (2, 0)]


def _yaml(folder: Path, name: str, text: str, file: str | None = None) -> str:
    """A config file on the packaged demo/hard.yaml, named ``name``, with ``text`` added."""
    base = packaged_configs() / "demo" / "hard.yaml"
    path = folder / f"{file or name}.yaml"
    path.write_text(f"base: {base}\nname: {json.dumps(name)}\n{text}")
    return str(path)


@pytest.mark.parametrize(
    ("second", "seeds", "said"),
    [
        ("run: {seed: 1}", None, "differ only in run.seed"),  # the grid makes them one experiment
        ("run: {seed: 1}", (0, 1), "differ only in run.seed"),
        ("data: {fold: 2}", None, "differ only in data.fold"),
        ("", None, "differ only in their name"),
        (
            "run: {seed: 1}\nlabels: {target: soft}",
            None,
            "own run.seed differ (a 0, b 1)",
        ),
    ],
)
def test_compare_refuses_configs_whose_own_seeds_or_folds_the_grid_would_replace(
    data, tmp_path, monkeypatch, second, seeds, said
):
    monkeypatch.setattr(launch_module, "fit", _no_training)
    paths = [_yaml(tmp_path, "a", ""), _yaml(tmp_path, "b", second)]
    out = tmp_path / "cmp"
    with pytest.raises(ValueError, match=r"--seeds|--folds") as refused:
        compare_configs(paths, seeds=seeds, out=out, overrides=tiny_config(data, tmp_path / "unused"))
    assert said in str(refused.value)
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize(
    "name",
    ["comparison.json", "comparison.png", "runs.csv", "study.json", "jobs.json", "jobs", "Comparison.MD"],
)
def test_compare_refuses_a_config_named_like_one_of_its_own_files_before_training(
    data, tmp_path, monkeypatch, name
):
    monkeypatch.setattr(launch_module, "fit", _no_training)
    out = tmp_path / "cmp"
    paths = [_yaml(tmp_path, "a", ""), _yaml(tmp_path, name, "labels: {target: soft}", file="b")]
    with pytest.raises(ValueError, match="the comparison's own") as refused:
        compare_configs(paths, out=out, overrides=tiny_config(data, tmp_path / "unused"))
    assert repr(name) in str(refused.value)
    assert not out.exists()


def test_a_cv_folder_shared_by_two_names_of_one_experiment_serves_both_and_is_titled_with_both(tmp_path):
    out = tmp_path / "shared"
    table2 = _config("/data/dfew", out).model_copy(update={"name": "midas-dfew_tsm_hard"})
    table3 = table2.model_copy(update={"name": "midas-dfew_tsm_hard_t3"})
    prepare_cv(table2, (1, 2))
    runs = prepare_cv(table3, (1, 2))  # the same settings under another name: the same study
    assert [r.plan for r in runs] == ["train", "train"]
    assert holds_study(out, "cv", [table2], (1, 2), (0,)) and holds_study(out, "cv", [table3], (1, 2), (0,))
    record = json.loads((out / "study.json").read_text())
    assert record["names"] == ["midas-dfew_tsm_hard", "midas-dfew_tsm_hard_t3"]
    metrics = {
        fold_config(table3, k, out).run.out_dir: {"uar": u, "war": u, "per_class_recall": {"Happy": u}}
        for k, u in ((1, 0.4), (2, 0.6))
    }
    finish_cv(table3, (1, 2), metrics)
    title = (out / "summary.md").read_text().splitlines()[0]
    assert "midas-dfew_tsm_hard = midas-dfew_tsm_hard_t3" in title
    # another experiment in the folder is still refused
    other = table2.model_copy(update={"optim": table2.optim.model_copy(update={"lr": 0.5})})
    assert not holds_study(out, "cv", [other], (1, 2), (0,))
    with pytest.raises(ValueError, match="already exists"):
        prepare_cv(other, (1, 2))


def test_a_study_json_written_before_names_were_recorded_is_still_the_study_s(tmp_path):
    cfg = _config("/data/dfew", tmp_path / "cmp" / "x")
    soft = _config("/data/dfew", tmp_path / "cmp" / "y", name="demo/soft.yaml")
    old = {  # as softfer wrote it before this change: no "names"
        "study": "compare",
        "configs": {c.name: run_fingerprint(c, {})["config"] for c in (cfg, soft)},
        "folds": [1, 2],
        "seeds": [0, 1],
    }
    (tmp_path / "study.json").write_text(json.dumps(old))
    assert holds_study(tmp_path, "compare", [cfg, soft], (1, 2, 3), (0, 1))
    assert not holds_study(tmp_path, "compare", [cfg], (1, 2), (0, 1))
    assert not holds_study(tmp_path, "cv", [cfg, soft], (1, 2), (0, 1))


def test_multi_gpu_jobs_of_names_that_sanitise_alike_read_their_own_config_files(tmp_path):
    jobs = []
    for name, target in (("a b", "soft"), ("a_b", "hard")):
        cfg = _config("/data/dfew", tmp_path / "runs" / name, **{"labels.target": target})
        cfg = cfg.model_copy(update={"name": name})
        jobs.append(run_job(Run(cfg, "train"), 2, tmp_path / "jobs", None))
    assert jobs[0].config_file != jobs[1].config_file
    for job, (name, target) in zip(jobs, (("a b", "soft"), ("a_b", "hard")), strict=True):
        written = load_config(job.config_file)
        assert (written.name, written.labels.target) == (name, target)
