"""torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) is checked before any work: a value that is not an
integer, out of range, or RANK without WORLD_SIZE is a ValueError naming the variable and its value (exit 2
from the CLI), never a run that trains and writes nothing, a ZeroDivisionError or int()'s message."""

import os
import subprocess
import sys

import pytest

from softfer.engine.runtime import process_ranks, setup_distributed

TORCHRUN = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@pytest.fixture
def env(monkeypatch):
    for name in TORCHRUN:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"RANK": "1"}, "RANK='1'"),  # no WORLD_SIZE: trained as rank 1 of nothing, wrote nothing
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE='0'"),
        ({"RANK": "0", "WORLD_SIZE": "-2"}, "WORLD_SIZE='-2'"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
        ({"RANK": "0", "WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
        ({"RANK": "", "WORLD_SIZE": "1"}, "RANK=''"),
        ({"RANK": "-1", "WORLD_SIZE": "2"}, "RANK='-1'"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"}, "LOCAL_RANK='-1'"),
        ({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "1.5"}, "LOCAL_RANK='1.5'"),
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2"),  # every process would be rank 0
    ],
)
def test_a_bad_torchrun_environment_is_one_line_naming_the_variable(env, values, named):
    env(**values)
    for call in (process_ranks, lambda: setup_distributed("cpu")):
        with pytest.raises(ValueError) as err:
            call()
        message = str(err.value)
        assert named in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, (0, 1, 0)),
        ({"WORLD_SIZE": "1"}, (0, 1, 0)),
        ({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}, (0, 1, 0)),
        ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, (3, 4, 1)),  # 2 nodes of 2 GPUs
    ],
)
def test_torchruns_environment_gives_the_ranks(env, values, expected):
    env(**values)
    assert process_ranks() == expected


def test_train_with_a_lone_rank_exits_2_before_any_work(tmp_path):
    out = tmp_path / "run"
    sets = [f"data.root={tmp_path / 'no_data'}", f"run.out_dir={out}", "run.progress=false"]
    flags = [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "softfer.cli", "train", "demo/base.yaml", *flags],
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k not in TORCHRUN}, "RANK": "1"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "RANK='1'" in proc.stderr and "WORLD_SIZE" in proc.stderr
    assert not out.exists()
