"""Issue 24, threads on a shared machine: every command that computes takes one --threads option, the CLI
applies it (or the default) before the command runs, with one inter-op thread, and sets OpenMP's passive
wait policy before anything imports torch; DataLoader workers are capped at the usable cores."""

import json
import os
import subprocess
import sys

import pytest
import torch

from softfer.cli import build_parser, main
from softfer.io import threads
from tests.robustness.test_cli_errors import _leaf_parsers

# Every subcommand is in exactly one set: a new command fails the walking test until someone says whether
# it computes (and then it takes the shared --threads).
COMPUTING = {
    "demo",
    "train",
    "eval",
    "calibrate",
    "cv",
    "compare",
    "reproduce",
    "analyze",
    "preprocess",
    "predict",
    "export",
}
# tables, HTML pages, listings, label files, synthetic data (its own --workers processes), file checks
NOT_COMPUTING = {
    "report",
    "view",
    "data inspect",
    "models list",
    "models import-fer",
    "labels votes",
    "labels va",
    "synth dfew",
    "synth affectnet",
    "synth ferplus",
    "synth all",
}


def _threads_actions():
    for words, parser in _leaf_parsers(build_parser()):
        yield " ".join(words), [a for a in parser._actions if "--threads" in a.option_strings]


def test_every_command_that_computes_takes_the_one_shared_threads_option():
    seen, declared = set(), set()
    for name, actions in _threads_actions():
        seen.add(name)
        assert (name in COMPUTING) != (name in NOT_COMPUTING), f"{name}: put it in COMPUTING or NOT_COMPUTING"
        assert len(actions) == (1 if name in COMPUTING else 0), name
        declared.update(id(a) for a in actions)
    assert seen == COMPUTING | NOT_COMPUTING  # no stale entries
    assert len(declared) == 1  # one option object, declared once and shared through a parent parser


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_main_applies_the_default_or_the_given_threads_before_the_command_runs(monkeypatch, torch_threads):
    from softfer.cli import commands

    seen = []
    monkeypatch.setattr(commands, "cmd_export", lambda a: seen.append((a.threads, torch.get_num_threads())))
    monkeypatch.setattr(threads, "usable_cores", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert main(["export", "m.pt", "--onnx", "m.onnx"]) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's environment is a choice too
    assert main(["export", "m.pt", "--onnx", "m.onnx"]) == 0
    assert main(["export", "m.pt", "--onnx", "m.onnx", "--threads", "1"]) == 0
    assert seen == [(3, 3), (2, 2), (1, 1)]


def test_default_threads_reads_omp_num_threads_then_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert threads.default_threads({}) == 4
    assert threads.default_threads({"OMP_NUM_THREADS": "1"}) == 1
    assert threads.default_threads({"OMP_NUM_THREADS": "0"}) == 4  # not a thread count: ignored
    assert threads.default_threads({"OMP_NUM_THREADS": "4,2"}) == 4  # nested lists: ignored
    assert threads.default_threads({"OMP_NUM_THREADS": "1024"}) == 1024  # --threads' range, found in audit 4
    with pytest.raises(ValueError, match=r"OMP_NUM_THREADS=40000 .*at most 1024"):
        threads.default_threads({"OMP_NUM_THREADS": "40000"})
    with pytest.raises(ValueError, match="--threads"):
        threads.apply_threads(0)


def test_data_loader_workers_are_capped_at_the_usable_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert [threads.loader_workers(n) for n in (0, 1, 2, 8)] == [0, 1, 2, 2]
    assert 1 <= threads.usable_cores() <= (os.cpu_count() or 1)


# A fresh process: the wait policy in the environment at the moment torch is first imported, and torch's
# thread settings once main has applied them (the command itself fails: no such config).
PROBE = """
import json, os, sys
seen = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "policy" not in seen:
            seen["policy"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Watch())
from softfer.cli import main
seen["torch_before_main"] = "torch" in sys.modules
code = main(sys.argv[1:])
import torch
seen.update(code=code, threads=torch.get_num_threads(), interop=torch.get_num_interop_threads())
print(json.dumps(seen))
"""


@pytest.mark.parametrize("policy", [None, "ACTIVE"])
def test_the_cli_sets_a_passive_wait_policy_before_torch_loads_and_one_interop_thread(tmp_path, policy):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy  # a user's own choice is kept
    argv = ["train", str(tmp_path / "none.yaml"), "--threads", "1"]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, text=True, timeout=300
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {
        "policy": policy or "PASSIVE",
        "torch_before_main": False,
        "code": 2,
        "threads": 1,
        "interop": 1,
    }, out.stderr
