"""Audit 10, G1 and helper I's leftovers: softfer's own FER2013 face cache is never trusted over, or blamed
on, the user's data.

G1: the cache's index.json records each row's Usage, the one thing read from the cache instead of
fer2013.csv. Edited (a Usage changed, every Usage the same, a value FER2013 has not, a row dropped), it
was blamed on the user's files ("use the fer2013.csv FER+ was made from"). Now an index FER2013 could not
have written is an incomplete cache, and one that disagrees with fer2013new.csv is checked against
fer2013.csv itself: the cache is written again from the file (staged, as an incomplete cache always was),
with a warning naming its folder, and the faces read are each row's own. Files of the user's that truly
disagree are still refused as before, and an earlier softfer's folder in the data root is left as it is.

Leftovers: ``data inspect --verify`` and the training epoch's summary name the cache folder to delete when
an unreadable item is a face of softfer's cache, as the loader's warning does."""

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from softfer.data.formats.ferplus import read_ferplus
from softfer.data.inspect import run_inspection
from softfer.engine.train import _record_unreadable
from tests.data.test_fer2013_cache_location import check_faces, folder_of, legacy_cache, snapshot
from tests.data.test_ferplus import ROWS, write_folder_layout

LOGGER = "softfer.data.formats.fer2013_faces"
SPLITS = ("train", "val", "test")


@pytest.fixture
def root(ferplus_csv_root) -> Path:
    return ferplus_csv_root


def read_all(root: Path, **kw) -> dict[str, list]:
    return {s: read_ferplus(root, split=s, num_classes=8, **kw) for s in SPLITS}


def ids(records: dict[str, list]) -> dict[str, list[str]]:
    return {s: [r.id for r in rs] for s, rs in records.items()}


def edit_index(folder: Path, edit) -> None:
    index = json.loads((folder / "index.json").read_text())
    edit(index)
    (folder / "index.json").write_text(json.dumps(index))


def one_changed(index):  # row 9 is PrivateTest in both files (ROWS); the index says Training
    index["usage"][9] = "Training"


def all_public(index):
    index["usage"] = ["PublicTest"] * len(index["usage"])


def junk(index):
    index["usage"][3] = "Junk"


def row_dropped(index):  # usage and sizes one shorter: of the same length, so the sizes check holds
    del index["usage"][4], index["sizes"][-1]


def row_dropped_no_sizes(index):  # an earlier version's index, which recorded no sizes
    del index["usage"][4], index["sizes"]


@pytest.mark.parametrize("edit", [one_changed, all_public, junk, row_dropped, row_dropped_no_sizes])
def test_an_edited_cache_index_is_written_again_from_fer2013_csv_not_blamed_on_it(root, caplog, edit):
    first = read_all(root)
    folder = folder_of(first["train"])
    written = (folder / "index.json").read_text()
    assert json.loads(written)["usage"] == [u for u, _, _ in ROWS]  # the file's own, row by row
    edit_index(folder, edit)
    data_before = snapshot(root)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        again = read_all(root)  # the old code: "fer2013new.csv:line ...: the two files are not aligned"
    assert ids(again) == ids(first)
    assert {folder_of(rs) for rs in again.values()} == {folder}
    check_faces([r for rs in again.values() for r in rs])  # each face its own row's pixels
    assert (folder / "index.json").read_text() == written  # written again as the first build wrote it
    assert snapshot(root) == data_before  # nothing of the user's touched
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and str(folder) in said[0] and "writing it again" in said[0], said
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # nothing left aside


def test_user_files_that_disagree_are_still_refused_and_the_cache_left_as_it_is(root):
    folder = folder_of(read_ferplus(root, split="train"))
    cache_before = snapshot(folder)
    new = root / "fer2013new.csv"
    new.write_text(new.read_text().replace("PrivateTest,fer0000009.png", "Training,fer0000009.png"))
    with pytest.raises(
        ValueError, match=r"fer2013new.csv:line 11: Usage 'Training', but row 10 of fer2013.csv"
    ):
        read_ferplus(root, split="train")
    assert snapshot(folder) == cache_before  # the cache says what fer2013.csv says: not rebuilt


def test_a_fer2013_csv_usage_outside_fer2013s_three_names_the_csvs_row(root):
    fer = root / "fer2013.csv"
    lines = fer.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",Junk"  # data row 2 (line 4)
    fer.write_text("\n".join(lines) + "\n")
    # the old code blamed fer2013new.csv's line 4 ("Usage 'Training', but row 3 of fer2013.csv says 'Junk'")
    with pytest.raises(ValueError, match=r"fer2013.csv:line 4: Usage 'Junk' is not one of Training, "):
        read_ferplus(root, split="train")


def test_an_earlier_softfers_folder_with_an_edited_index_is_left_and_the_cache_used(root, tmp_path, caplog):
    legacy = legacy_cache(root, tmp_path / "build")
    edit_index(legacy, one_changed)
    before = snapshot(root)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(root)
    said = {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING}
    assert said and all(m.startswith(f"{legacy}: ") and "left as it is (delete it)" in m for m in said), said
    assert {folder_of(rs) for rs in records.values()} == {
        tmp_path / "xdg" / "softfer" / "fer2013_png" / legacy.name
    }
    check_faces([r for rs in records.values() for r in rs])
    assert snapshot(root) == before  # the data root (and the earlier folder in it) untouched


def garble(path: Path) -> None:
    """Random bytes in place of the file's, as many as it had (the size the cache records)."""
    path.write_bytes(np.random.default_rng(3).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def advice(folder: Path) -> str:
    return f"not a file of the dataset: delete {folder} and softfer writes it again"


def test_inspect_verify_names_the_cache_folder_to_delete_for_a_damaged_cached_face(root, tmp_path):
    folder = folder_of(read_ferplus(root, split="train"))
    garble(folder / "000001.png")
    found = run_inspection("ferplus", str(root), verify=True)
    [line] = [p for p in found.problems if "000001.png" in p]
    assert line.startswith(f"unreadable or damaged image: {folder / '000001.png'} (")
    assert line.endswith(advice(folder)), line
    # a damaged file of the dataset itself keeps the plain line
    write_folder_layout(tmp_path / "folders")
    garble(tmp_path / "folders" / "FER2013Train" / "fer0000001.png")
    found = run_inspection("ferplus", str(tmp_path / "folders"), verify=True)
    [line] = [p for p in found.problems if "fer0000001.png" in p]
    assert line.endswith("(corrupt or unreadable image)"), line


def summary(records, caplog) -> str:
    dataset = SimpleNamespace(records=records, max_unreadable=len(records), max_skip=1.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="softfer.engine.train"):
        _record_unreadable({"epoch": 1}, "replaced", [1, 0], dataset)
    [said] = [r.getMessage() for r in caplog.records]
    return said


def test_the_epochs_summary_names_the_cache_folder_when_the_items_are_cached_faces(root, tmp_path, caplog):
    records = read_ferplus(root, split="train")
    said = summary(records, caplog)
    head = f"epoch 1: 2 unreadable training items replaced by others: {records[0].id}, {records[1].id}"
    assert said.startswith(head + f"; {records[0].id}: it is a face of softfer's cache"), said
    assert said.endswith(advice(folder_of(records))), said
    write_folder_layout(tmp_path / "folders")
    assert summary(read_ferplus(tmp_path / "folders", split="train"), caplog) == head  # the data's own files
