"""Audit 10, G4: one ``data.max_skip`` rule for every item left out or replaced.

The readers refuse more missing media than ``max_skip`` of the records (``records.check_skips``); the
loader's cap (``datasets.max_unreadable``) allowed at least one unreadable record whatever ``max_skip``
said, so 1 of 6 test items (17 %) was left out of the metrics at the default 0.01, exit 0, while the same
file missing was refused. The cap is now the readers' rule in whole records (``max_skip`` of them, rounded
down): evaluation and training fail beyond it, and a user who accepts more raises ``data.max_skip``."""

import shutil

import numpy as np
import pytest
import torch

from softfer.config import load_config, packaged_configs
from softfer.data.datasets import ImageDataset, MediaError, max_unreadable
from softfer.data.formats.ferplus import read_ferplus
from softfer.data.records import ReadReport, check_skips
from softfer.engine.data import build_data, read_records
from softfer.engine.outputs import evaluate_and_write
from softfer.models import create_model
from tests.data.test_ferplus import write_csv_layout
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"


def readers_pass(max_skip: float, n: int, k: int) -> bool:
    """Whether the readers' check (the reference rule) lets ``k`` missing records of ``n`` pass."""
    try:
        check_skips(ReadReport(total=n, skipped=[f"item {i}" for i in range(k)]), max_skip, "test")
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("max_skip", [0.0, 0.01, 0.03, 0.07, 0.1, 0.2, 0.29, 1 / 3, 0.5, 0.57, 1.0])
def test_the_loaders_cap_is_the_readers_rule(max_skip):
    for n in range(1, 160):
        cap = max_unreadable(max_skip, n)
        assert 0 <= cap <= n and readers_pass(max_skip, n, cap), (max_skip, n, cap)
        assert cap == n or not readers_pass(max_skip, n, cap + 1), (max_skip, n, cap)


def test_hand_computed_caps():
    # the audit's case: 1 of 6 at the default was let through ("at least 1 unless 0")
    assert [max_unreadable(0.01, n) for n in (6, 99, 100, 250)] == [0, 0, 1, 2]
    assert [max_unreadable(0.2, 6), max_unreadable(0.5, 5), max_unreadable(0.0, 10_000)] == [1, 2, 0]


@pytest.fixture
def faces(tmp_path, monkeypatch):
    """FER+'s train split (4 faces, CSV layout), its second face damaged in the cache at its size."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_csv_layout(tmp_path / "FERPlus")
    records = read_ferplus(tmp_path / "FERPlus", split="train")
    path = records[1].path
    path.write_bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())
    return records


def test_training_replaces_no_item_beyond_max_skip(faces):
    strict = ImageDataset(faces, num_classes=8, train=True, size=48)  # 0.01 of 4: none
    with pytest.raises(
        MediaError, match=r"more than the 0 allowed per epoch \(data.max_skip=0.01 of 4 records"
    ):
        strict[1]
    loose = ImageDataset(faces, num_classes=8, train=True, size=48, max_skip=0.25)  # 1 of 4
    assert int(loose[1]["index"]) == 2  # replaced by the next record


def test_evaluation_leaves_out_no_item_beyond_max_skip(tmp_path):
    from softfer.data.synthetic.generate import generate_dfew

    generate_dfew(tmp_path / "src", clips=40, size=32, seed=0, workers=1)
    shutil.copytree(tmp_path / "src", tmp_path / "dfew")
    cfg = load_config(DEMO_BASE, tiny_config(tmp_path / "dfew", tmp_path / "run"))  # data.max_skip 0.01
    test = read_records(cfg.data, "test", test=True)
    assert 0 < 0.01 * len(test) < 1  # a small test set: the old cap let one clip go
    for name in test[2].frames:  # every frame cut short: the clip cannot be decoded
        (test[2].path / name).write_bytes((test[2].path / name).read_bytes()[:40])
    data = build_data(cfg, with_train=False)
    model = create_model(cfg.model.name, num_classes=7, **cfg.model.options).eval()
    with pytest.raises(MediaError, match=rf"1 unreadable items, more than the 0 .*{test[2].id}"):
        evaluate_and_write(model, data, cfg, tmp_path / "run", torch.device("cpu"), save_model=False)
    assert not (tmp_path / "run" / "metrics.json").exists()
    # a max_skip allowing one of them (1.5 / n, rounded down): left out and recorded, as before
    cfg = load_config(
        DEMO_BASE, tiny_config(tmp_path / "dfew", tmp_path / "run2", **{"data.max_skip": 1.5 / len(test)})
    )
    data = build_data(cfg, with_train=False)
    got = evaluate_and_write(model, data, cfg, tmp_path / "run2", torch.device("cpu"), save_model=False)
    assert got["skipped"] == {"count": 1, "ids": [test[2].id]}
