"""Audit 7 U3: `data inspect ferplus` on the FER+ folders without one of them (FER2013Test/ not copied)
failed whole ("FER2013Test/label.csv: missing") instead of inspecting the splits there are. It now counts
those and reports each missing split as a problem (exit 1); training on such a tree still refuses it."""

import shutil

import pytest

from softfer.cli import main
from softfer.data.formats import FORMATS
from softfer.data.formats.ferplus import FOLDERS, read_ferplus
from softfer.data.inspect import run_inspection
from tests.data.test_ferplus import EXPECTED_8, write_csv_layout, write_folder_layout

NEED = "the FER+ folders need a label.csv in each of FER2013Train, FER2013Valid, FER2013Test"


@pytest.mark.parametrize("under", ["", "data"])  # the script's output, or a clone of the repository
def test_inspect_counts_the_splits_there_are_and_reports_the_missing_one(tmp_path, capsys, under):
    base = tmp_path / "fer" / under if under else tmp_path / "fer"
    write_folder_layout(base)
    shutil.rmtree(base / "FER2013Test")
    found = run_inspection("ferplus", str(tmp_path / "fer"))
    label = base / "FER2013Test" / "label.csv"
    assert found.problems == [f"test: {label}: missing; {NEED}"]
    lines = found.text.splitlines()
    # the splits there are, counted by hand from test_ferplus's ROWS (EXPECTED_8: 4 train faces, 1 val face)
    train = next(line for line in lines if line.split()[:1] == ["train"])
    val = next(line for line in lines if line.split()[:1] == ["val"])
    assert train.split()[1:3] == [str(len(EXPECTED_8["train"])), "items"]
    assert val.split()[1:3] == [str(len(EXPECTED_8["val"])), "items"]
    assert [line.split() for line in lines if line.split()[:1] == ["test"]] == [["test", "missing"]]
    assert main(["data", "inspect", "ferplus", str(tmp_path / "fer")]) == 1  # a problem listed: exit 1
    assert f"test: {label}: missing" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"FER2013Test/label.csv: missing; the FER\+ folders need"):
        read_ferplus(tmp_path / "fer", split="test")  # train and eval still refuse the tree


def test_every_split_there_reports_nothing_missing_and_the_csv_layout_holds_all(tmp_path):
    from softfer.data.formats.ferplus import missing_splits  # new with the fix

    write_folder_layout(tmp_path / "folders")
    assert missing_splits(tmp_path / "folders") == {}
    assert FORMATS["ferplus"].present_splits(tmp_path / "folders") == ("train", "val", "test")
    assert run_inspection("ferplus", str(tmp_path / "folders")).problems == []
    for split in ("train", "val"):
        (tmp_path / "folders" / FOLDERS[split] / "label.csv").unlink()
    assert FORMATS["ferplus"].present_splits(tmp_path / "folders") == ("test",)
    assert list(missing_splits(tmp_path / "folders")) == ["train", "val"]
    write_csv_layout(tmp_path / "csv")  # one file lists every split: none is missing
    assert FORMATS["ferplus"].present_splits(tmp_path / "csv") == ("train", "val", "test")
    assert missing_splits(tmp_path / "csv") == {}
