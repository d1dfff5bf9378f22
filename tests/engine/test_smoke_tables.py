"""A smoke run of every paper table: each shipped config, as it is, on small synthetic trees in each
dataset's real on-disk layout (DFEW, FERV39k(-Plus), AFEW, AffectNet, Aff-Wild, MorphSet manifest), through
`softfer reproduce TABLE --smoke`: data and model built, 2 training steps, evaluation."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import softfer.studies.reproduce as reproduce_module
from softfer.config import dump_config, load_config
from softfer.data.synthetic.layouts import build_smoke_tree
from softfer.engine.data import evaluation_split, read_records
from softfer.studies.reproduce import (
    SMOKE_EVAL_ITEMS,
    SMOKE_STEPS,
    smoke_config,
    smoke_table,
    table_configs,
)

# The shipped configs ask for 224 px, 8 loader processes, bf16 and batches of 256: on 2 CPU cores the smoke
# run keeps every setting but these (which change speed, not what is built or measured).
FAST = ["data.size=32", "data.num_workers=0", "run.amp=none", "optim.batch_size=8"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    build_smoke_tree(root, size=32)
    return root


@pytest.fixture
def in_tree(tree):
    old = Path.cwd()
    os.chdir(tree)  # the configs name data/... and weights/... relative to the working directory
    yield tree
    os.chdir(old)


def test_every_table_is_covered():
    tables = table_configs()
    expected = {f"midas-table{n}" for n in range(1, 8)} | {f"dual-domain-table{n}" for n in range(1, 5)}
    assert expected | {"midas-ferv39k-plus", "ferplus"} == set(tables)
    assert sum(len(v) for v in tables.values()) >= 66


@pytest.mark.slow
@pytest.mark.parametrize("table", sorted(table_configs()))
def test_smoke_run_of_every_table(table, in_tree):
    report, ok = smoke_table(table, overrides=FAST)
    assert ok, report
    for path, cfg in table_configs(FAST)[table]:
        metrics = json.loads((in_tree / (cfg.run.out_dir + "-smoke") / "metrics.json").read_text())
        assert metrics["cut_short"] == {"max_steps": 2}, path
        assert metrics["num_samples"] > 0, path


def test_smoke_cli_reports_a_broken_config_and_exits_non_zero(in_tree):
    ok = subprocess.run(
        [sys.executable, "-m", "softfer.cli", "reproduce", "midas-table5", "--smoke", *_sets(FAST)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("- ok ") == 3
    broken = subprocess.run(
        [sys.executable, "-m", "softfer.cli", "reproduce", "midas-table5", "--smoke", *_sets(FAST)]
        + ["--set", "data.test_root=data/nowhere"],
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 1
    assert broken.stdout.count("FAILED") == 3 and "data/nowhere" in broken.stdout


def _test_items(cfg) -> int:
    """How many items the config's test split holds, read as `softfer eval` reads it."""
    fmt, split = evaluation_split(cfg.data)
    return len(read_records(cfg.data, split, fmt=fmt, root=cfg.data.test_root, test=True))


def test_a_smoke_run_says_how_many_items_it_evaluated_and_reruns_with_other_settings(in_tree):
    """Found (new-user audit): the header said "16 test items" and each config then "13 test items
    evaluated"; and a second smoke run with other --set values (`run.amp=none` after a first try) was
    refused, "pass --overwrite", for the smoke folders softfer itself had made."""
    report, ok = smoke_table("midas-table5", overrides=FAST)
    assert ok, report
    header = report.splitlines()[0]
    assert f"up to {SMOKE_EVAL_ITEMS} test items" in header, header
    for path, cfg in table_configs(FAST)["midas-table5"]:
        expected = min(SMOKE_EVAL_ITEMS, _test_items(cfg))
        assert f"- ok      {path.stem}: {expected} test items evaluated" in report
    other = [*FAST[:-1], "optim.batch_size=4"]  # another smoke config for the same folders
    report, ok = smoke_table("midas-table5", overrides=other)
    assert ok, report
    for _, cfg in table_configs(other)["midas-table5"]:
        stored = load_config(in_tree / (cfg.run.out_dir + "-smoke") / "config.yaml")
        assert stored.optim.batch_size == 4 and stored.run.max_steps == SMOKE_STEPS


def test_a_smoke_folder_not_holding_a_smoke_run_is_refused_in_one_line(in_tree):
    """A `-smoke` folder is replaced only when its config.yaml is a smoke run of that folder: a user's real
    run there (no step limit) or an unreadable config.yaml is refused, and the FAILED line is the usage
    error's message, without an internal source location (found: "... (softfer/io/outputs.py:127)")."""
    [(_, cfg)] = [(p, c) for p, c in table_configs(FAST)["midas-table5"] if p.stem == "dfew_to_afew_tsm_hard"]
    folder = in_tree / (cfg.run.out_dir + "-smoke")
    folder.mkdir(parents=True, exist_ok=True)
    real = cfg.model_copy(deep=True)
    real.run.out_dir = str(folder.relative_to(in_tree))  # a real run trained into the folder
    for written in (lambda p: dump_config(real, p), lambda p: p.write_text("not: [a config")):
        written(folder / "config.yaml")
        (folder / "notes.txt").write_text("mine")
        before = (folder / "config.yaml").read_text()
        with pytest.raises(ValueError, match=r"already exists .*--overwrite"):
            smoke_config(cfg)
        assert (folder / "config.yaml").read_text() == before and (folder / "notes.txt").read_text() == "mine"
    report, ok = smoke_table("midas-table5", overrides=FAST)
    line = next(x for x in report.splitlines() if "dfew_to_afew_tsm_hard:" in x)
    assert not ok and line.startswith("- FAILED  dfew_to_afew_tsm_hard: ")
    assert "output already exists" in line and "ValueError" not in line and ".py:" not in line
    shutil.rmtree(folder)


def test_an_unexpected_error_keeps_where_it_was_raised(monkeypatch):
    """A bug (not a ValueError) in one config's smoke run keeps its type and source location for a report."""

    def broken(cfg, overwrite=False):
        raise RuntimeError(f"boom in {cfg.name}")

    monkeypatch.setattr(reproduce_module, "smoke_config", broken)
    report, ok = smoke_table("midas-table5", overrides=FAST)
    assert not ok
    failed = [x for x in report.splitlines() if x.startswith("- FAILED")]
    assert len(failed) == 3
    for line in failed:
        assert "RuntimeError: boom in " in line and f"({__file__}:" in line, line


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]
