"""Issue 14, engine side: unreadable media never changes what is measured.

Evaluation leaves an unreadable clip out and records it (never substitutes another); training replaces it,
counted once per epoch by one rule whatever the number of DataLoader workers, and records it; a damaged
frame cache is rebuilt.
"""

import copy
import csv
import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.config import load_config, packaged_configs
from softfer.data.datasets import ClipDataset, MediaError
from softfer.data.records import Record, frame_index
from softfer.engine.data import build_data, read_records
from softfer.engine.outputs import evaluate_and_write
from softfer.engine.train import fit
from softfer.models import create_model
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"


@pytest.fixture(scope="module")
def dfew_copy(tmp_path_factory):
    """The shared tiny DFEW set is read-only; these tests damage their own copy."""
    from softfer.data.synthetic.generate import generate_dfew

    root = tmp_path_factory.mktemp("unreadable") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


def _damage(rec: Record) -> None:
    # Every frame cut to 40 bytes: whichever frames a sampling picks, the clip cannot be decoded.
    for name in rec.frames:
        path = rec.path / name
        path.write_bytes(path.read_bytes()[:40])


def _copy_with_damage(src, dst, split: str, positions: list[int], cfg) -> list[str]:
    shutil.copytree(src, dst)
    recs = read_records(cfg.data.model_copy(update={"root": str(dst)}), split, test=split == "test")
    for i in positions:
        _damage(recs[i])
    return [recs[i].id for i in positions]


def _predictions(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluation_leaves_an_unreadable_clip_out_and_records_it(dfew_copy, tmp_path):
    cfg = load_config(DEMO_BASE, tiny_config(tmp_path / "dfew", tmp_path / "run", **{"data.max_skip": 0.2}))
    (victim,) = _copy_with_damage(dfew_copy, tmp_path / "dfew", "test", [3], cfg)
    data = build_data(cfg, with_train=False)
    torch.manual_seed(0)
    model = create_model(cfg.model.name, num_classes=7, **cfg.model.options).eval()
    got = evaluate_and_write(model, data, cfg, tmp_path / "run", torch.device("cpu"), save_model=False)

    rows = _predictions(tmp_path / "run" / "predictions.csv")
    assert [r["id"] for r in rows] == [r.id for r in data.test.records if r.id != victim]  # each once
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["skipped"] == {"count": 1, "ids": [victim]}
    assert saved["war"] == pytest.approx(np.mean([r["label"] == r["pred"] for r in rows]))

    # The reference: the same model on the test split without that clip.
    without = copy.copy(data.test)
    without.records = [r for r in data.test.records if r.id != victim]
    ref_data = copy.copy(data)
    ref_data.test = without
    ref = evaluate_and_write(model, ref_data, cfg, tmp_path / "ref", torch.device("cpu"), save_model=False)
    for key in ("num_samples", "war", "uar", "macro_f1", "confusion_matrix"):
        assert got[key] == ref[key], key
    assert ref["skipped"] == {"count": 0, "ids": []}


def test_evaluation_fails_when_more_clips_are_unreadable_than_the_cap(dfew_copy, tmp_path):
    cfg = load_config(DEMO_BASE, tiny_config(tmp_path / "dfew", tmp_path / "run", **{"data.max_skip": 0.0}))
    (victim,) = _copy_with_damage(dfew_copy, tmp_path / "dfew", "test", [3], cfg)
    data = build_data(cfg, with_train=False)
    model = create_model(cfg.model.name, num_classes=7, **cfg.model.options).eval()
    with pytest.raises(MediaError, match=victim):
        evaluate_and_write(model, data, cfg, tmp_path / "run", torch.device("cpu"), save_model=False)
    assert not (tmp_path / "run" / "metrics.json").exists()


# 45 training clips in fold 1, batches of 5: every clip is drawn in every epoch (none dropped), and
# data.max_skip=0.03 allows int(0.03 * 45) = 1 unreadable clip per epoch.
TRAIN = {"optim.batch_size": 5, "optim.epochs": 2, "data.max_skip": 0.03}


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_training_clip_counts_once_per_epoch_with_any_workers(dfew_copy, tmp_path, workers):
    sets = tiny_config(tmp_path / "dfew", tmp_path / "run", **TRAIN, **{"data.num_workers": workers})
    cfg = load_config(DEMO_BASE, sets)
    (victim,) = _copy_with_damage(dfew_copy, tmp_path / "dfew", "train", [10], cfg)
    assert len(read_records(cfg.data, "train")) == 45
    fit(cfg)  # within the cap in every epoch: no failure at epoch 2
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert [h.get("replaced") for h in history] == [{"count": 1, "ids": [victim]}] * 2


@pytest.mark.parametrize("workers", [0, 2])
def test_more_unreadable_training_clips_than_the_cap_fail_with_any_workers(dfew_copy, tmp_path, workers):
    sets = tiny_config(tmp_path / "dfew", tmp_path / "run", **TRAIN, **{"data.num_workers": workers})
    cfg = load_config(DEMO_BASE, sets)
    victims = _copy_with_damage(dfew_copy, tmp_path / "dfew", "train", [10, 30], cfg)
    with pytest.raises(MediaError, match="2 unreadable training items in one epoch") as err:
        fit(cfg)
    assert any(v in str(err.value) for v in victims)
    assert not (tmp_path / "run" / "last.pt").exists()  # it failed in the first epoch


def _clip(folder, n=6, size=24) -> Record:
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((size, size, 3), 20 * i, np.uint8)
        Image.fromarray(img).save(folder / f"f_{i:03d}.jpg", quality=95)
    return Record(id=folder.name, path=folder, label=1, frames=frame_index(folder))


@pytest.mark.parametrize("damage", ["truncated", "text", "wrong shape"])
def test_a_damaged_frame_cache_is_logged_and_rebuilt(tmp_path, caplog, damage):
    rec = _clip(tmp_path / "c0")
    cache = tmp_path / "cache"
    ds = ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)
    expected = ds[0]["clips"].clone()
    (path,) = cache.iterdir()
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "text":
        path.write_text("not an array\n")
    else:
        np.save(path, np.zeros((6, 8, 8, 3), np.uint8))
    again = ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)
    item = again[0]
    assert bool(item["readable"]) and torch.equal(item["clips"], expected)
    assert f"frame cache {path}" in caplog.text and "rebuilding" in caplog.text
    assert path.read_bytes() == good


def test_clips_the_reader_left_out_are_recorded_in_metrics_json(dfew_copy, tmp_path):
    """A clip folder missing from the release is skipped by the reader (within data.max_skip): the run's
    metrics.json says which, per split, instead of quietly measuring one clip fewer."""
    root = tmp_path / "dfew"
    shutil.copytree(dfew_copy, root)
    cfg = load_config(
        DEMO_BASE, tiny_config(root, tmp_path / "run", **{"optim.epochs": 1, "data.max_skip": 0.1})
    )
    train_ids = [r.id for r in read_records(cfg.data, "train")]
    test_ids = [r.id for r in read_records(cfg.data, "test", test=True)]
    clips = root / "Clip" / "clip_224x224"
    shutil.rmtree(clips / train_ids[3])
    shutil.rmtree(clips / test_ids[0])
    fit(cfg)
    reading = json.loads((tmp_path / "run" / "metrics.json").read_text())["data_reading"]
    assert reading["train"]["listed"] == len(train_ids) and reading["train"]["skipped"] == 1
    assert reading["test"]["listed"] == len(test_ids) and reading["test"]["skipped"] == 1
    assert train_ids[3] in reading["train"]["skipped_first"][0]
    assert test_ids[0] in reading["test"]["skipped_first"][0]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["num_samples"] == len(test_ids) - 1


def test_a_frame_cache_loses_what_a_killed_writer_left_and_keeps_live_or_fresh_ones(tmp_path):
    rec = _clip(tmp_path / "c0")
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = cache / f".c0_16_hwc.npy.{dead.pid}.tmp"  # a writer that died mid-write, long ago
    fresh = cache / f".c1_16_hwc.npy.{dead.pid}.tmp"  # another machine's writer, a moment ago
    live = cache / f".c2_16_hwc.npy.{os.getpid()}.tmp"  # this process's own write in flight
    for path in (stale, fresh, live):
        path.write_bytes(b"\x93NUMPY partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(live, (old, old))
    ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)
    assert not stale.exists() and fresh.exists() and live.exists()
