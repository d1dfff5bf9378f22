"""What `labels votes` and `labels va` say about tables they cannot read as asked (audit 7 U5, U8 and the
`labels va` items U4, U5): each error names the file once, the row and the value, and no label table is
read as something it is not."""

import csv
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook

from softfer.classes import AFFECTNET_CLASSES, FERPLUS_CLASSES
from softfer.cli import main
from softfer.data.label_files import va_to_labels, votes_to_labels
from softfer.labels import clip_agreement, validate_va


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _va_rows(n: int = 40, classes: int = 4, seed: int = 0) -> list[list]:
    """Rows name, valence, arousal, label: each class a cloud around its own centre."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.6, 0.3], [-0.6, 0.3], [0.0, -0.6], [0.5, -0.5], [-0.5, -0.5], [0.0, 0.7]])
    rows = []
    for i in range(n):
        k = i % classes
        v, a = np.clip(centres[k] + rng.normal(0, 0.1, 2), -1, 1)
        rows.append([f"im{i}", round(float(v), 3), round(float(a), 3), k])
    return rows


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


# --- labels votes (U5) -------------------------------------------------------------------------------


def test_a_unanimous_clip_has_entropy_0_not_minus_0():
    ent = clip_agreement(np.array([[3, 0], [0, 5], [2, 2]]))["entropy"]
    assert not np.signbit(ent[:2]).any()  # -0.0 printed as "-0.000000"
    np.testing.assert_allclose(ent, [0.0, 0.0, np.log(2)])


def test_a_vote_error_names_its_file_once(tmp_path, capsys):
    path = _write(tmp_path / "lists" / "t.csv", ["id", "happy", "sad"], [["a", "", 2], ["b", 3, 0]])
    out = tmp_path / "o.csv"
    assert main(["labels", "votes", str(path), "--out", str(out), "--classes", "happy,sad"]) == 2
    err = _err(capsys)
    assert "lists/t.csv:line 2 contains NaN or infinite vote counts" in err
    assert err.count("t.csv") == 1, err  # was "t.csv: t.csv:line 2 contains ..."
    assert not out.exists()


def test_ferplus_as_distributed_reads_image_name_as_the_id(tmp_path):
    """fer2013new.csv's header (Usage first); a row without an image name is a non-face of ten NF votes,
    left out by its majority before any id is needed."""
    header = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust"]
    header += ["fear", "contempt", "unknown", "NF"]
    rows = [
        ["Training", "fer0000000.png", 4, 0, 0, 1, 3, 2, 0, 0, 0, 0],
        ["Training", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
        ["PublicTest", "fer0000002.png", 0, 10, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    path = _write(tmp_path / "fer2013new.csv", header, rows)
    out = tmp_path / "o.csv"
    report = votes_to_labels(path, out, classes=FERPLUS_CLASSES, other_votes=["unknown", "NF"])
    got = list(csv.DictReader(out.open()))
    assert [r["id"] for r in got] == ["fer0000000.png", "fer0000002.png"]
    assert [r["hard_name"] for r in got] == ["neutral", "happy"] and got[1]["entropy"] == "0.000000"
    assert "left out, majority in a column that is no class: 1 (unknown: 0, NF: 1)" in report


# --- labels va (U8, audit 7 U4 and U5) -----------------------------------------------------------------


def test_a_label_outside_the_classes_is_refused_naming_row_and_value(tmp_path, capsys):
    rows = _va_rows()
    rows[5][3] = 99  # implied 100 classes: "class 4 has no sample with valence/arousal"
    path = _write(tmp_path / "va.csv", ["name", "valence", "arousal", "label"], rows)
    out = tmp_path / "o.csv"
    assert main(["labels", "va", str(path), "--out", str(out)]) == 2
    err = _err(capsys)
    assert "va.csv:line 7: label 99 outside 0..7 (AffectNet's 8 classes" in err and "--class-names" in err
    assert "no sample" not in err and not out.exists()
    with pytest.raises(
        ValueError, match=r"va\.csv:line 7: label 99 outside 0\.\.3 \(the classes of --class-names"
    ):
        va_to_labels(path, out, class_names=["a", "b", "c", "d"])
    with pytest.raises(
        ValueError, match=r"va\.csv:line 7: label 99 outside 0\.\.4 \(the classes of --num-classes 5"
    ):
        va_to_labels(path, out, num_classes=5)


def test_the_class_names_given_decide_the_classes(tmp_path):
    rows = _va_rows(n=36, classes=6)
    path = _write(tmp_path / "va.csv", ["name", "valence", "arousal", "label"], rows)
    out = tmp_path / "o.csv"
    names = ["a", "b", "c", "d", "e", "f"]
    va_to_labels(path, out, class_names=names)
    got = list(csv.DictReader(out.open()))
    assert [h for h in got[0] if h.startswith("pva_")] == [f"pva_{n}" for n in names]
    assert [r["row"] for r in got[:2]] == [
        f"{tmp_path.name}/va.csv:line 2",  # the row column names the file with its folder
        f"{tmp_path.name}/va.csv:line 3",
    ]
    # without names the classes are AffectNet's first (largest label + 1), as before
    va_to_labels(path, out, overwrite=True)
    header = next(csv.reader(out.open()))
    assert [h[4:] for h in header if h.startswith("pva_")] == list(AFFECTNET_CLASSES[:6])


def test_an_empty_va_cell_or_a_formula_without_a_value_is_named_as_such(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "valence", "arousal", "label"])
    for row in _va_rows():
        ws.append(row)
    ws["B3"] = "=A1*2"  # a formula openpyxl writes without a saved value: it reads as an empty cell
    wb.save(tmp_path / "f.xlsx")
    with pytest.raises(ValueError) as e:
        va_to_labels(tmp_path / "f.xlsx", tmp_path / "o.csv")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path.name}/f.xlsx:row 3: empty cell in column 'valence'"), msg
    assert "(a formula without a saved value?" in msg and "outside [-1, 1]" not in msg
    rows = _va_rows()
    rows[3][2] = ""
    path = _write(tmp_path / "e.csv", ["name", "valence", "arousal", "label"], rows)
    with pytest.raises(
        ValueError, match=r"e\.csv:line 5: empty cell in column 'arousal'; give a number"
    ) as e:
        va_to_labels(path, tmp_path / "o.csv")
    assert str(e.value).count("e.csv") == 1
    # NaN written out is no range error either, and the row is named once with its file
    with pytest.raises(ValueError, match=r"^x\.csv:line 3 has valence/arousal \[nan, 0\.2\] not a number"):
        validate_va(
            np.array([[0.1, 0.2], [np.nan, 0.2]]),
            source="/data/x.csv",
            row_names=["x.csv:line 2", "x.csv:line 3"],
        )


def test_two_valence_columns_are_refused_not_the_first_read(tmp_path, capsys):
    rows = [[*r, -0.9] for r in _va_rows()]
    path = _write(tmp_path / "va.csv", ["name", "valence", "arousal", "label", "Valence"], rows)
    out = tmp_path / "o.csv"
    assert main(["labels", "va", str(path), "--out", str(out)]) == 2
    assert "va.csv: columns 'valence' and 'Valence' both name 'valence'" in _err(capsys)
    assert not out.exists()
