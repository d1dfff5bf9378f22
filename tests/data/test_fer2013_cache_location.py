"""Where FER+'s CSV layout puts FER2013's faces as PNG files: never into the data root (which may be
read-only, shared or hashed by other tools), but into ``data.cache_dir`` or the per-user cache folder
($XDG_CACHE_HOME/softfer, else ~/.cache/softfer); a complete cache an earlier softfer wrote into the root is
read as it is (nothing written or removed there), and run identity survives the move: eval still finds the
items a model was trained on, and a cache rebuilt elsewhere keeps its media signature.

Expected locations are written out from the documented layout (docs/DATASETS.md), not taken from the code
under test; each tree is compared file by file (size and time) before and after."""

import logging
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from softfer.config import DataConfig
from softfer.data.fingerprint import data_changes, data_fingerprint, items_trained_on, training_items
from softfer.data.formats import FORMATS, ReadRequest
from softfer.data.formats.ferplus import read_ferplus
from softfer.data.inspect import run_inspection
from softfer.engine.data import read_records
from tests.data.test_ferplus import face, write_csv_layout

TRAIN_IDS = ["fer0000000.png", "fer0000001.png", "fer0000006.png", "fer0000007.png"]  # 8 classes


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``folder`` (and itself) -> (size, mtime_ns): a write anywhere shows."""
    out = {".": (0, folder.stat().st_mtime_ns)}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(folder))] = (st.st_size if path.is_file() else 0, st.st_mtime_ns)
    return out


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """A FER+ root in the CSV layout and a per-user cache folder beside it (never the tester's own)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "FERPlus"
    write_csv_layout(root)
    return root


def folder_of(records) -> Path:
    """The one cache folder the records' faces are in."""
    folders = {r.path.parent for r in records}
    assert len(folders) == 1, folders
    return folders.pop()


def check_faces(records) -> None:
    """Each face is its own row's pixels (row i of fer2013.csv is FER+'s fer{i:07d}.png)."""
    for r in records:
        i = int(r.id[3:10])
        np.testing.assert_array_equal(cv2.imread(str(r.path), cv2.IMREAD_UNCHANGED), face(i))


def test_the_faces_go_to_the_per_user_cache_and_nothing_into_the_data(data, tmp_path):
    before = snapshot(data)
    records = read_ferplus(data, split="train", num_classes=8)
    assert [r.id for r in records] == TRAIN_IDS
    check_faces(records)
    assert folder_of(records).parent == tmp_path / "xdg" / "softfer" / "fer2013_png"
    assert snapshot(data) == before  # the old reader added softfer_fer2013_png/ here
    assert not (tmp_path / "home").exists()


def test_data_inspect_writes_nothing_into_the_data(data, tmp_path):
    before = snapshot(data)
    found = run_inspection("ferplus", str(data), verify=True)
    assert not found.problems, found.problems
    assert snapshot(data) == before
    assert len(list((tmp_path / "xdg" / "softfer" / "fer2013_png").glob("*/*.png"))) == 11


def test_without_an_absolute_xdg_cache_home_the_faces_go_to_home_dot_cache(data, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    records = read_ferplus(data, split="val")
    assert folder_of(records).parent == tmp_path / "home" / ".cache" / "softfer" / "fer2013_png"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG specification: ignored
    monkeypatch.chdir(tmp_path)
    assert folder_of(read_ferplus(data, split="test")).parent.parent.parent == tmp_path / "home" / ".cache"
    assert not (tmp_path / "relative").exists()


def test_data_cache_dir_chooses_the_folder(data, tmp_path):
    mine = tmp_path / "lab-cache"
    request = ReadRequest(root=data, split="train", num_classes=8, cache_dir=mine)
    records = FORMATS["ferplus"].read(request)
    assert folder_of(records).parent == mine / "fer2013_png"
    check_faces(records)
    config = DataConfig(format="ferplus", root=str(data), num_classes=8, cache_dir=str(tmp_path / "other"))
    assert folder_of(read_records(config, "test")).parent == tmp_path / "other" / "fer2013_png"
    assert not (tmp_path / "xdg").exists()


def test_a_cache_folder_inside_the_data_is_refused_naming_the_setting(data, tmp_path, monkeypatch):
    before = snapshot(data)
    request = ReadRequest(root=data, split="train", num_classes=8, cache_dir=data / "cache")
    with pytest.raises(
        ValueError, match=r"lies inside the input folder .*FERPlus.*choose another data\.cache_dir"
    ):
        FORMATS["ferplus"].read(request)
    monkeypatch.setenv("XDG_CACHE_HOME", str(data / "xdg"))
    with pytest.raises(ValueError, match=r"choose another data\.cache_dir \(or XDG_CACHE_HOME\) outside it"):
        read_ferplus(data, split="train")
    (tmp_path / "a-file").write_text("not a folder")
    request = ReadRequest(root=data, split="train", num_classes=8, cache_dir=tmp_path / "a-file")
    with pytest.raises(
        ValueError, match=r"a-file exists and is not a folder.*choose another data\.cache_dir"
    ):
        FORMATS["ferplus"].read(request)
    assert snapshot(data) == before


def legacy_cache(root: Path, build: Path) -> Path:
    """A complete cache as an earlier softfer left it in the data root: built, then moved there, with
    file times of its own (the earlier version's were those of its writing)."""
    built = folder_of(read_ferplus(root, split="train", cache_dir=build))
    legacy = root / "softfer_fer2013_png" / built.name
    shutil.copytree(built, legacy)
    shutil.rmtree(build)
    for i, png in enumerate(sorted(legacy.glob("*.png"))):
        os.utime(png, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))
    return legacy


def test_an_earlier_versions_cache_in_the_root_is_read_as_it_is_and_logged_once(data, tmp_path, caplog):
    legacy = legacy_cache(data, tmp_path / "build")
    before = snapshot(data)
    with caplog.at_level(logging.INFO, logger="softfer.data.formats.fer2013_faces"):
        train = read_ferplus(data, split="train", num_classes=8, cache_dir=tmp_path / "new")
        test = read_ferplus(data, split="test", num_classes=8)
    assert folder_of(train) == folder_of(test) == legacy
    check_faces(train + test)
    assert snapshot(data) == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "xdg").exists()
    said = [r.getMessage() for r in caplog.records if str(legacy) in r.getMessage()]
    assert len(said) == 1 and "earlier softfer" in said[0], said


def test_an_incomplete_earlier_cache_is_left_alone_and_the_faces_built_outside(data, tmp_path):
    legacy = legacy_cache(data, tmp_path / "build")
    (legacy / "index.json").unlink()  # killed before its index: never read
    stale = legacy.parent / f".{legacy.name}.999999999.partial"  # a dead process's build, hours old
    stale.mkdir()
    os.utime(stale, (time.time() - 7200,) * 2)
    before = snapshot(data)
    records = read_ferplus(data, split="train", num_classes=8)
    assert folder_of(records) == tmp_path / "xdg" / "softfer" / "fer2013_png" / legacy.name
    check_faces(records)
    assert snapshot(data) == before  # the old reader removed both and wrote its cache there


def test_a_damaged_cache_is_rebuilt_with_the_media_signature_it_had(data, tmp_path, monkeypatch):
    """A rebuilt cache (the same fer2013.csv, after a damage or on another machine) has the same data
    fingerprint, so finished runs stay reusable; an edited face changes it."""

    def fingerprint():
        records = read_ferplus(data, split="train")
        return folder_of(records), data_fingerprint("ferplus", {"train": ("train", records)})

    folder, first = fingerprint()
    time.sleep(0.01)
    (folder / "index.json").write_text("{")  # damaged: rebuilt, not trusted
    again, rebuilt = fingerprint()
    assert again == folder and (folder / "index.json").read_text() != "{"
    assert rebuilt == first
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-machine"))
    elsewhere, theirs = fingerprint()
    assert elsewhere != folder and theirs == first
    os.utime(elsewhere / "000000.png")  # touched: a media change
    assert data_changes(first, fingerprint()[1]) == ["the train split (train): media changed"]


def test_eval_finds_the_training_items_of_a_run_made_on_the_earlier_cache(data, tmp_path):
    """A model trained when the faces lay in the data root: its training items are still found once the
    faces are read from the new cache (by format, id and labels: the resolved paths differ), and reuse
    sees the same media as long as the earlier cache stays, a media change once it is gone."""
    legacy = legacy_cache(data, tmp_path / "build")
    old = read_ferplus(data, split="train")
    stored_items = training_items("ferplus", old)
    stored = data_fingerprint("ferplus", {"train": ("train", old)})
    same = read_ferplus(data, split="train")
    assert data_changes(stored, data_fingerprint("ferplus", {"train": ("train", same)})) == []
    shutil.rmtree(legacy.parent)
    moved = read_ferplus(data, split="train")
    assert folder_of(moved).parent == tmp_path / "xdg" / "softfer" / "fer2013_png"
    assert not set(training_items("ferplus", moved)["paths"]) & set(stored_items["paths"])
    assert items_trained_on(stored_items, "ferplus", moved) == [r.id for r in moved]
    now = data_fingerprint("ferplus", {"train": ("train", moved)})
    assert data_changes(stored, now) == ["the train split (train): media changed"]


def test_an_edit_of_fer2013_csv_that_keeps_every_png_size_is_a_media_change(data):
    """Review: with one fixed time for every face, a pixel corrected in fer2013.csv whose PNG kept its size
    left the fingerprint as it was, so runs trained on the old faces were reused."""
    import csv

    before = data_fingerprint("ferplus", {"train": ("train", read_ferplus(data, split="train"))})
    rows = list(csv.reader((data / "fer2013.csv").open(newline="")))
    first = face(0)
    size = len(cv2.imencode(".png", first)[1])
    for k in range(first.size):  # a pixel whose change keeps the PNG's size (found, not assumed)
        edited = first.copy()
        edited.flat[k] = (int(edited.flat[k]) + 1) % 256
        if len(cv2.imencode(".png", edited)[1]) == size:
            break
    else:
        pytest.skip("no one-pixel edit of this face keeps its PNG size")
    pixels = rows[1][1].split()
    pixels[k] = str(edited.flat[k])
    rows[1][1] = " ".join(pixels)
    with (data / "fer2013.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    records = read_ferplus(data, split="train")
    np.testing.assert_array_equal(cv2.imread(str(records[0].path), cv2.IMREAD_UNCHANGED), edited)
    assert records[0].path.stat().st_size == size  # what the signature's sizes alone would have missed
    after = data_fingerprint("ferplus", {"train": ("train", records)})
    assert data_changes(before, after) == ["the train split (train): media changed"]
