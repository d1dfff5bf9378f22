"""`softfer train` flags reach the run."""

import yaml

from softfer.cli import main
from tests.engine.conftest import tiny_config


def test_deterministic_reaches_the_written_config(tiny_dfew, tmp_path):
    out = tmp_path / "run"
    sets = tiny_config(tiny_dfew, out, **{"optim.epochs": 1})
    args = ["train", "demo/base.yaml", "--deterministic", *[a for s in sets for a in ("--set", s)]]
    assert main(args) == 0
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["run"]["deterministic"] is True
