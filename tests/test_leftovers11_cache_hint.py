"""Leftover 10: the summary of a test evaluation's unreadable items ("N unreadable test items left out of
the metrics") did not say, as each item's warning and the training epoch's summary do, that a damaged face
is softfer's FER2013 face cache and which folder to delete. It now does (one wording,
``fer2013_faces.first_face_cache_advice``), and a summary of the dataset's own files holds no such advice."""

import logging

import numpy as np
import pytest
import torch

from softfer.config import load_config, packaged_configs
from softfer.data.formats.ferplus import read_ferplus
from softfer.engine.data import build_data
from softfer.engine.outputs import evaluate_and_write
from softfer.models import create_model
from tests.data.test_ferplus import write_csv_layout, write_folder_layout

BASE = packaged_configs() / "ferplus" / "base_ferplus_demo.yaml"


def _garble(path) -> None:
    # random bytes at the file's size (the size the cache's completeness check compares)
    path.write_bytes(np.random.default_rng(3).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def _summary(root, tmp_path, caplog) -> str:
    sets = [f"data.root={root}", f"run.out_dir={tmp_path / 'run'}", "data.max_skip=0.5"]
    cfg = load_config(BASE, sets)
    data = build_data(cfg, with_train=False)
    model = create_model(cfg.model.name, num_classes=len(data.classes), **cfg.model.options).eval()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="softfer.engine.outputs"):
        got = evaluate_and_write(model, data, cfg, tmp_path / "run", torch.device("cpu"), save_model=False)
    assert got["skipped"]["count"] == 1
    [said] = [r.getMessage() for r in caplog.records if r.name == "softfer.engine.outputs"]
    return said


def test_the_test_summary_names_the_cache_folder_to_delete(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_csv_layout(tmp_path / "FERPlus")
    test = read_ferplus(tmp_path / "FERPlus", split="test")
    assert len(test) == 2
    _garble(test[1].path)
    said = _summary(tmp_path / "FERPlus", tmp_path, caplog)
    assert said.startswith(f"1 unreadable test items left out of the metrics: {test[1].id}; {test[1].id}: ")
    assert said.endswith(f"delete {test[1].path.parent} and softfer writes it again"), said


def test_a_damaged_file_of_the_dataset_gets_no_cache_advice(tmp_path, caplog):
    write_folder_layout(tmp_path / "FERPlus")
    test = read_ferplus(tmp_path / "FERPlus", split="test")
    _garble(test[0].path)
    said = _summary(tmp_path / "FERPlus", tmp_path, caplog)
    assert said == f"1 unreadable test items left out of the metrics: {test[0].id}"


@pytest.mark.parametrize("first", [0, 1])
def test_the_advice_is_the_first_cached_faces(tmp_path, monkeypatch, first):
    from softfer.data.formats.fer2013_faces import face_cache_advice, first_face_cache_advice

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_csv_layout(tmp_path / "FERPlus")
    records = read_ferplus(tmp_path / "FERPlus", split="train")
    chosen = records[first:]
    assert first_face_cache_advice(chosen) == f"; {chosen[0].id}: {face_cache_advice(chosen[0].path)}"
    assert first_face_cache_advice([]) == ""
