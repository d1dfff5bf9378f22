"""Where a table's rows are named, and what a workbook or a header that cannot be read as asked says
(audit 7: DFEW's train and test folders each hold a set_1.csv, yet errors named only `set_1.csv:line 33`;
a table on a workbook's second sheet looked like a file without its columns; of two columns `valence` and
`Valence` the first was read without a word)."""

from pathlib import Path

import pytest
from openpyxl import Workbook

from softfer.data.formats.dfew import read_dfew
from softfer.io.tables import find_class_columns, read_table
from tests.data.test_formats import _csv, _dfew_release


def test_dfew_split_file_errors_name_the_split_folder(tmp_path):
    _dfew_release(tmp_path)
    splits = tmp_path / "EmoLabel_DataSplit"
    _csv(splits / "test(single-labeled)" / "set_1.csv", ["video_name", "label"], [[4, 5], [1, 9]])
    with pytest.raises(
        ValueError, match=r"^test\(single-labeled\)/set_1\.csv:line 3: label 9 outside 1\.\.7"
    ):
        read_dfew(tmp_path, fold=1, split="test")
    _csv(splits / "train(single-labeled)" / "set_1.csv", ["video_name", "label"], [[1, 1], [1, 2]])
    with pytest.raises(
        ValueError,
        match=r"^train\(single-labeled\)/set_1\.csv:line 3: duplicate id '00001' \(first at "
        r"train\(single-labeled\)/set_1\.csv:line 2\)",
    ):
        read_dfew(tmp_path, fold=1, split="train")


def test_every_row_is_named_with_its_files_folder(tmp_path):
    folder = tmp_path / "lists"
    _csv(folder / "t.csv", ["id", "n"], [["a", 1], ["b", 2]])
    assert read_table(folder / "t.csv").where == ["lists/t.csv:line 2", "lists/t.csv:line 3"]
    wb = Workbook()
    for row in (["id", "n"], ["a", 1]):
        wb.active.append(row)
    wb.save(folder / "t.xlsx")
    assert read_table(folder / "t.xlsx").where == ["lists/t.xlsx:row 2"]


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_a_table_on_a_workbooks_second_sheet_is_named_not_taken_for_missing_columns(tmp_path):
    votes = [["id", "happy", "sad"], ["a", 3, 1]]
    path = _workbook(tmp_path / "v.xlsx", {"notes": [["notes"], ["see the votes"]], "votes": votes})
    with pytest.raises(ValueError) as e:
        find_class_columns(read_table(path), ["happy", "sad"])
    assert "columns are ['notes']" in str(e.value)
    assert "only the workbook's first sheet, 'notes', is read, not 'votes'" in str(e.value)
    with pytest.raises(ValueError, match=r"only the workbook's first sheet, 'notes', is read, not 'votes'"):
        read_table(path).column("happy")
    # an empty first sheet says the same, not only "empty"
    empty = _workbook(tmp_path / "e.xlsx", {"Sheet1": [], "votes": votes})
    with pytest.raises(
        ValueError, match=r"e\.xlsx: the first sheet is empty \(only .* 'Sheet1', is read, not 'votes'"
    ):
        read_table(empty)
    # a workbook of one sheet has nothing to add
    single = _workbook(tmp_path / "s.xlsx", {"notes": [["notes"], ["x"]]})
    with pytest.raises(ValueError) as e:
        find_class_columns(read_table(single), ["happy", "sad"])
    assert "sheet" not in str(e.value)


def test_two_columns_of_one_name_are_refused_not_the_first_taken(tmp_path):
    _csv(tmp_path / "va.csv", ["valence", "arousal", "Valence "], [[0.1, 0.2, 0.9]])
    table = read_table(tmp_path / "va.csv")
    with pytest.raises(ValueError, match=r"va\.csv: columns 'valence' and 'Valence' both name 'VALENCE'"):
        table.column("VALENCE")
    assert table.column("arousal") == 1 and table.has_column("valence")


def test_a_jsonl_manifests_rows_are_named_like_a_csvs(tmp_path):
    from softfer.data.formats.manifest import read_manifest

    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "m.jsonl").write_text('{"path": "a", "label": 0}\n{"path": \n')
    with pytest.raises(ValueError, match=r"^lists/m\.jsonl:line 2: not valid JSON"):
        read_manifest(folder / "m.jsonl")
