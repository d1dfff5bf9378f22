"""`softfer train` flags reach the run; `train` and `eval` print the scores they wrote."""

import json

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


def test_train_and_eval_print_the_scores_of_their_metrics_json(tiny_dfew, tmp_path, capsys):
    out = tmp_path / "run"
    sets = tiny_config(tiny_dfew, out, **{"optim.epochs": 1, "data.num_workers": 0})
    assert main(["train", "demo/base.yaml", *[a for s in sets for a in ("--set", s)]]) == 0
    m = json.loads((out / "metrics.json").read_text())
    want = f"UAR {m['uar']:.4f}  WAR {m['war']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}"
    assert capsys.readouterr().out.splitlines() == [f"test {want}", f"outputs in {out}"]
    assert main(["eval", str(out / "model.pt"), "--data", str(tiny_dfew), "--set", "data.num_workers=0"]) == 0
    e = json.loads((out / "eval_dfew" / "metrics.json").read_text())
    want = f"UAR {e['uar']:.4f}  WAR {e['war']:.4f}  macro-F1 {e['macro_f1']:.4f}  ECE {e['ece']:.4f}"
    assert capsys.readouterr().out.splitlines()[-1] == want
