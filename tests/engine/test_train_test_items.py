"""A run's own test score is never one on the items it trains on: train (and cv, compare, reproduce, which
train through ``build_training``) refuses a test set holding training items by the rule `eval` applies to
a trained model (found by audit 7, F12: `train` scored them and reported a test score, `eval` refused)."""

import json
import os
import shutil
from collections import Counter

import pytest

from softfer.classes import DFEW_CLASSES
from softfer.config import load_config, packaged_configs
from softfer.data.synthetic.generate import generate_dfew
from softfer.data.synthetic.layouts import write_afew
from softfer.engine.data import read_records
from softfer.engine.runs import evaluate_checkpoint
from softfer.engine.train import fit
from softfer.studies.reproduce import smoke_config
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"
ONE_EPOCH = {"optim.epochs": 1, "data.num_workers": 0}
REFUSED = "test items are items this run trains on"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(DFEW root, AFEW root): a 40-clip synthetic DFEW and an AFEW laid out from its clips."""
    root = tmp_path_factory.mktemp("items")
    records = generate_dfew(root / "dfew", clips=40, size=32, seed=0, workers=1)
    write_afew(root / "afew", root / "dfew", records)
    return root / "dfew", root / "afew"


def _config(dfew, out, **over):
    return load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH, **over))


def _held_out(labels: list[int], fraction: float) -> int:
    # data.val_fraction's stratified hold-out, counted by hand: round(fraction * n) of each class
    return sum(round(fraction * n) for n in Counter(labels).values())


@pytest.mark.parametrize("fraction", [0.0, 0.25])
def test_a_test_split_that_is_the_training_split_is_refused_before_training(data, tmp_path, fraction):
    dfew, _ = data
    cfg = _config(dfew, tmp_path / "run", **{"data.test_split": "train", "data.val_fraction": fraction})
    listed = read_records(cfg.data, "train")
    # every item of the split is trained on but the validation hold-out, which is not a training item
    trained = len(listed) - _held_out([r.label for r in listed], fraction)
    assert 0 < trained <= len(listed)
    with pytest.raises(ValueError) as err:
        fit(cfg)
    message = str(err.value)
    assert f"{trained} of the {len(listed)} {REFUSED}" in message
    assert "dfew train split, fold 1" in message and "--allow-train-items" in message
    assert "\n" not in message
    assert not (tmp_path / "run").exists()  # refused before the run folder was touched


def test_a_cross_dataset_test_set_holding_links_to_training_clips_is_refused_as_eval_refuses_it(
    data, tmp_path
):
    dfew, afew = data
    linked = tmp_path / "afew_linked"
    shutil.copytree(afew, linked, symlinks=True)
    cross = {"data.test_format": "afew", "data.test_root": str(linked)}
    training = read_records(_config(dfew, tmp_path / "x").data, "train")[:3]
    for rec in training:
        os.symlink(rec.path, linked / "Val" / DFEW_CLASSES[rec.label].capitalize() / f"dfew{rec.id}")
    val_clips = len(
        read_records(_config(dfew, tmp_path / "x", **cross).data, "Val", fmt="afew", root=str(afew))
    )
    with pytest.raises(ValueError) as err:
        fit(_config(dfew, tmp_path / "run_linked", **cross))
    message = str(err.value)
    assert f"3 of the {val_clips + 3} {REFUSED}" in message
    assert f"afew Val split in {linked}" in message and "/dfew" in message
    assert not (tmp_path / "run_linked").exists()

    # the same test set without the links: trained and scored, the check recorded
    clean = {"data.test_format": "afew", "data.test_root": str(afew)}
    fit(_config(dfew, tmp_path / "run", **clean))
    reading = json.loads((tmp_path / "run" / "metrics.json").read_text())["data_reading"]["test"]
    assert reading["evaluated_on_training_items"] == 0
    # eval of that model on the linked set refuses the same items, in the same words
    with pytest.raises(ValueError) as evaluated:
        evaluate_checkpoint(tmp_path / "run" / "model.pt", data_root=str(linked), data_format="afew")
    said = str(evaluated.value)
    assert f"3 of the {val_clips + 3} test items are items this model was trained on" in said
    assert said.split("(first: ")[1].split(")")[0] == message.split("(first: ")[1].split(")")[0]


def test_a_reproduce_smoke_run_is_checked_too(data, tmp_path):
    dfew, _ = data
    cfg = _config(dfew, tmp_path / "run", **{"data.test_split": "train"})
    with pytest.raises(ValueError, match=REFUSED):
        smoke_config(cfg, steps=1, eval_items=4)
    assert not (tmp_path / "run-smoke").exists()
