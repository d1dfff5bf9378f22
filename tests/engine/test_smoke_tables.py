"""A smoke run of every paper table: each shipped config, as it is, on small synthetic trees in each
dataset's real on-disk layout (DFEW, FERV39k(-Plus), AFEW, AffectNet, Aff-Wild, MorphSet manifest), through
`softfer reproduce TABLE --smoke`: data and model built, 2 training steps, evaluation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from softfer.data.synthetic.layouts import build_smoke_tree
from softfer.studies.reproduce import smoke_table, table_configs

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


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]
