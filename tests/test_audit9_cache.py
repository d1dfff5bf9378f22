"""Audit 9, C5: softfer's own FER2013 face cache, found incomplete, is built again; never reported as the
user's data having unusable media ("Fix the files or raise max_skip"), never trusted with faces missing.

A face removed from the cache (a cache cleaner), one cut short (a partial copy) or one left empty is
mended: the faces read are each row's own pixels again (``face(i)``, the pixels written into
fer2013.csv), with the media signature the first build had, so finished runs stay reusable. An earlier
softfer's cache in the data root found incomplete is left untouched (the data folder is an input) and the
faces come from the cache folder instead."""

import json
import logging
from pathlib import Path

import cv2
import pytest

from softfer.data.fingerprint import data_changes, data_fingerprint
from softfer.data.formats.ferplus import read_ferplus
from tests.data.test_fer2013_cache_location import check_faces, folder_of, legacy_cache, snapshot
from tests.data.test_ferplus import face

LOGGER = "softfer.data.formats.fer2013_faces"


@pytest.fixture
def root(ferplus_csv_root) -> Path:
    return ferplus_csv_root


def read_train(root: Path):
    """The train split's records and their data fingerprint."""
    records = read_ferplus(root, split="train", num_classes=8)
    return records, data_fingerprint("ferplus", {"train": ("train", records)})


def times(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")}


def damage_remove(png: Path) -> None:
    png.unlink()


def damage_cut(png: Path) -> None:
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])


def damage_empty(png: Path) -> None:
    png.write_bytes(b"")


@pytest.mark.parametrize("damage", [damage_remove, damage_cut, damage_empty])
def test_a_face_lost_from_the_cache_is_written_again_not_blamed_on_the_data(root, caplog, damage):
    first, signature = read_train(root)
    folder = folder_of(first)
    dated = times(folder)
    victim = first[1].path  # a face the train split reads
    damage(victim)
    caplog.clear()  # what the first build said
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        again, now = read_train(root)  # the old code: "1 of 4 ... unusable media ... raise max_skip"
    assert [r.id for r in again] == [r.id for r in first] and folder_of(again) == folder
    check_faces(again)  # each face is its row's pixels again
    assert times(folder) == dated  # the faces' times rule: the same media signature
    assert data_changes(signature, now) == []
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and str(folder) in said[0], said
    assert "incomplete" in said[0] and victim.name in said[0], said
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # nothing left aside


def test_a_cache_without_recorded_sizes_is_checked_for_missing_and_empty_faces(root):
    """A cache an earlier version built records no sizes: the faces it holds are checked for presence
    and for bytes, and the rebuild records the sizes."""
    folder = folder_of(read_ferplus(root, split="train"))
    index = json.loads((folder / "index.json").read_text())
    index.pop("sizes", None)  # as an earlier version wrote it
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "000000.png").write_bytes(b"")
    records = read_ferplus(root, split="train")
    check_faces(records)
    sizes = json.loads((folder / "index.json").read_text())["sizes"]
    assert sizes == [len(cv2.imencode(".png", face(i))[1]) for i in range(len(sizes))]


def test_a_complete_cache_is_read_as_it_is(root, caplog):
    folder = folder_of(read_ferplus(root, split="train"))
    before = snapshot(folder.parent)
    caplog.clear()  # what the first build said
    with caplog.at_level(logging.INFO, logger=LOGGER):
        read_ferplus(root, split="test")
    assert snapshot(folder.parent) == before
    assert not [r for r in caplog.records if r.name == LOGGER], caplog.records


def test_an_incomplete_earlier_cache_in_the_root_is_left_alone_and_the_faces_read_elsewhere(
    root, tmp_path, caplog
):
    legacy = legacy_cache(root, tmp_path / "build")
    (legacy / "000001.png").unlink()
    before = snapshot(root)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_ferplus(root, split="train", num_classes=8)
        read_ferplus(root, split="test", num_classes=8)
    assert folder_of(records) == tmp_path / "xdg" / "softfer" / "fer2013_png" / legacy.name
    check_faces(records)
    assert snapshot(root) == before  # nothing written into (or removed from) the data folder
    said = [r.getMessage() for r in caplog.records if str(legacy) in r.getMessage()]
    assert len(said) == 1 and "earlier softfer" in said[0] and "000001.png" in said[0], said


def test_the_check_lists_the_folder_and_decodes_no_face(root, monkeypatch):
    """Cheap on FER2013's 35,887 faces: one listing, no PNG opened or decoded."""
    folder = folder_of(read_ferplus(root, split="train"))
    opened: list[str] = []
    real_open = open

    def watch(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watch)
    monkeypatch.setattr("io.open", watch)  # pathlib's read_bytes and read_text
    monkeypatch.setattr(cv2, "imread", lambda *a, **k: pytest.fail("a face was decoded"))
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: pytest.fail("a face was decoded"))
    read_ferplus(root, split="train")
    assert [p for p in opened if p.startswith(str(folder))] == [str(folder / "index.json")]
