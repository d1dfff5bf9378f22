"""Leftover 10, 3: a face of softfer's FER2013 face cache damaged in place at its recorded size (bit rot,
garbage: the cache's completeness check compares sizes only) was reported like a broken item of the
dataset. The unreadable-item message now says the file is softfer's cache and names the folder whose
deletion makes softfer write it again; the advice is followed here and holds. A file of the dataset
itself keeps the message it had."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from softfer.data.datasets import ImageDataset
from softfer.data.formats.ferplus import read_ferplus
from tests.data.test_fer2013_cache_location import check_faces, folder_of, legacy_cache
from tests.data.test_ferplus import write_folder_layout

LOGGER = "softfer.data.datasets"


@pytest.fixture
def root(ferplus_csv_root) -> Path:
    return ferplus_csv_root


def garble(path: Path) -> None:
    """Random bytes in place of the file's, as many as it had (its size, which the cache records, kept)."""
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes())
    assert path.stat().st_size == size


def warnings_of(records, caplog, *, train: bool) -> tuple[dict, list[str]]:
    """Item 0 of a dataset of ``records`` and the warnings its loading logged."""
    dataset = ImageDataset(records, num_classes=8, train=train, size=48, max_skip=0.5)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        item = dataset[0]
    return item, [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_cached_face_damaged_in_place_is_said_to_be_softfers_cache_naming_the_folder(root, caplog):
    records = read_ferplus(root, split="train", num_classes=8)
    folder = folder_of(records)
    garble(records[0].path)
    again = read_ferplus(root, split="train", num_classes=8)  # same sizes: the cache is taken as complete
    assert folder_of(again) == folder and again[0].path == records[0].path
    advice = "softfer's cache of the FER2013 faces, written from fer2013.csv, not a file of the dataset: "
    advice += f"delete {folder} and softfer writes it again"
    item, [said] = warnings_of(again, caplog, train=False)
    assert not item["readable"]
    assert said.startswith(f"unreadable item {again[0].id} left out of the evaluation: {again[0].path}: ")
    assert said.endswith(advice), said
    item, said_in_training = warnings_of(again, caplog, train=True)
    assert item["readable"] and int(item["index"]) == 1  # replaced by the next record
    [trained] = said_in_training
    assert trained.startswith(f"unreadable training item {again[0].id} replaced by the next one: ")
    assert trained.endswith(advice), trained
    # the advice holds: the folder deleted, the next read writes every face again from fer2013.csv
    shutil.rmtree(folder)
    rebuilt = read_ferplus(root, split="train", num_classes=8)
    assert folder_of(rebuilt) == folder
    check_faces(rebuilt)
    item, said = warnings_of(rebuilt, caplog, train=False)
    assert item["readable"] and said == []


def test_an_earlier_softfers_faces_in_the_data_root_are_named_as_such(root, tmp_path, caplog):
    legacy = legacy_cache(root, tmp_path / "build")
    records = read_ferplus(root, split="train", num_classes=8)
    assert folder_of(records) == legacy
    garble(records[0].path)
    item, [said] = warnings_of(read_ferplus(root, split="train", num_classes=8), caplog, train=False)
    assert not item["readable"]
    assert said.endswith(
        f"it is a face an earlier softfer wrote from fer2013.csv into the data root, not a file of the "
        f"dataset: delete {legacy} and softfer writes the faces again, into its own cache"
    ), said


def test_a_damaged_file_of_the_dataset_keeps_its_message(tmp_path, caplog):
    write_folder_layout(tmp_path / "FERPlus")  # the FER+ script's folders: the dataset's own PNGs
    records = read_ferplus(tmp_path / "FERPlus", split="train", num_classes=8)
    garble(records[0].path)
    item, [said] = warnings_of(records, caplog, train=False)
    assert not item["readable"]
    assert said.startswith(f"unreadable item {records[0].id} left out of the evaluation: {records[0].path}: ")
    assert "cache" not in said and "delete" not in said and said.endswith(")"), said
