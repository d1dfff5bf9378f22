"""Issue 14, readers: a misspelt AFEW class folder (case 3), duplicate ids in `labels votes` (6), AffectNet's
empty face boxes and dropped codes (7), paths leaving the data root (8), special files in frame folders
(9), and messages that name their file: UTF-16 and non-UTF-8 tables, header-only split files,
non-numeric valence (10)."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.config import DataConfig
from softfer.data.formats import FORMATS, ReadRequest, read_afew, read_affectnet, read_dfew, read_manifest
from softfer.data.label_files import votes_to_labels
from softfer.data.records import ReadReport
from softfer.engine.data import read_records
from softfer.io.tables import read_table
from tests.data.test_formats import AFFECTNET_HEADER, _csv, _dfew_release, _frames

# --- case 3: AFEW ------------------------------------------------------------------------------------


def test_afew_misspelt_class_folder_is_an_error_naming_it_and_the_valid_names(tmp_path):
    _frames(tmp_path / "Val" / "Angry" / "000001", n=2)
    _frames(tmp_path / "Val" / "Angyr" / "000002", n=2)
    with pytest.raises(
        ValueError,
        match=r"Val/Angyr: folder 'Angyr' is not an AFEW class folder \(did you mean 'Angry'\?\); the class "
        r"folders are Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise",
    ):
        read_afew(tmp_path, split="Val")
    (tmp_path / "Val" / "Angyr").rename(tmp_path / "Val" / ".hidden")  # hidden: unfinished preprocess output
    assert [r.id for r in read_afew(tmp_path, split="Val")] == ["Angry/000001"]


# --- case 6: labels votes -------------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["00001", "1"])
def test_labels_votes_refuses_duplicate_clip_ids_like_the_reader(tmp_path, second):
    table = tmp_path / "votes.csv"
    header = ["video_name", *["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]]
    _csv(table, header, [["00001", 9, 1, 0, 0, 0, 0, 0], [second, 0, 10, 0, 0, 0, 0, 0]])
    with pytest.raises(
        ValueError, match=r"votes\.csv:line 3: duplicate id '1' \(first at votes\.csv:line 2\)"
    ):
        votes_to_labels(table, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# --- case 7: AffectNet ------------------------------------------------------------------------------------


def _affectnet(root: Path, rows: list[list]) -> Path:
    images = root / "Manually_Annotated_Images" / "1"
    images.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if str(row[0]).startswith("1/"):
            Image.new("RGB", (40, 40)).save(root / "Manually_Annotated_Images" / row[0])
    path = root / "Manually_Annotated_file_lists" / "training.csv"
    _csv(path, AFFECTNET_HEADER, rows)
    return path


def _row(name: str, code: int, box=(2, 3, 30, 31), va=(0.5, -0.25)) -> list:
    return [name, *box, "", code, *va]


def test_affectnet_empty_face_box_is_a_counted_skip_and_dropped_codes_are_counted(tmp_path, caplog):
    rows = [_row(f"1/{i}.jpg", i % 8) for i in range(8)]
    rows += [_row("1/empty.jpg", 3, box=(0, 0, 0, 0)), _row("1/n.jpg", 8), _row("1/u.jpg", 9)]
    rows += [_row("1/f.jpg", 10), _row("1/f2.jpg", 10)]
    _affectnet(tmp_path, rows)
    report = ReadReport()
    with caplog.at_level(logging.INFO, logger="softfer.data.formats.affectnet"):
        records = read_affectnet(tmp_path, split="train", max_skip=0.5, report=report)
    assert [r.id for r in records] == [f"1/{i}.jpg" for i in range(8)]  # not the 0x0 box
    assert report.skipped == ["1/empty.jpg: face box 0x0 has no face in it (training.csv:line 10)"]
    assert report.total == 9
    assert report.dropped == {"code 8 (none)": 1, "code 9 (uncertain)": 1, "code 10 (no face)": 2}
    assert "code 8 (none): 1, code 9 (uncertain): 1, code 10 (no face): 2" in caplog.text
    # under the default cap (1 %) one empty box in 9 images stops the read, naming it
    with pytest.raises(ValueError, match=r"1 of 9 clips have unusable media.*1/empty\.jpg: face box 0x0"):
        read_affectnet(tmp_path, split="train")


# --- case 8: paths leaving the data root -----------------------------------------------------------------


def test_affectnet_paths_outside_the_root_are_refused_naming_file_row_and_path(tmp_path):
    root = tmp_path / "AffectNet"
    (tmp_path / "secret.jpg").write_bytes(b"not yours")
    _affectnet(root, [_row("1/a.jpg", 1), _row("../../secret.jpg", 2)])
    with pytest.raises(
        ValueError, match=r"training\.csv:line 3: path '\.\./\.\./secret\.jpg' leads outside the data root"
    ):
        read_affectnet(root, split="train")
    _affectnet(root, [_row("1/a.jpg", 1), _row("/etc/passwd", 2)])
    with pytest.raises(ValueError, match=r"training\.csv:line 3: path '/etc/passwd' leads outside"):
        FORMATS["affectnet"].read(ReadRequest(root=root, split="train", num_classes=8))


def test_manifest_paths_outside_the_root_need_the_opt_in(tmp_path):
    data = tmp_path / "data"
    _frames(data / "clips" / "a", n=2)
    _frames(tmp_path / "elsewhere" / "b", n=2)
    man = data / "m.csv"
    _csv(man, ["path", "label", "split"], [["clips/a", 0, "train"], ["../elsewhere/b", 1, "train"]])
    with pytest.raises(
        ValueError, match=r"m\.csv:line 3: path '\.\./elsewhere/b' leads outside the data root"
    ):
        read_records(DataConfig(format="manifest", root=str(man)), "train")
    # the engine passes data.allow_outside_root on to the reader
    allowed = read_records(DataConfig(format="manifest", root=str(man), allow_outside_root=True), "train")
    assert [r.id for r in allowed] == ["clips/a", "../elsewhere/b"]
    jl = data / "m.jsonl"
    jl.write_text('{"path": "clips/a", "label": 0}\n{"path": "/etc", "label": 1}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:line 2: path '/etc' leads outside the data root"):
        read_manifest(jl)


def test_ferv39k_and_former_dfer_paths_outside_the_root(tmp_path):
    root = tmp_path / "FERV39k"
    _frames(root / "2_ClipsforFaceCrop" / "Action" / "Happy" / "0001", n=2)
    lists = root / "4_setups" / "All_scenes"
    lists.mkdir(parents=True)
    (lists / "train_All.csv").write_text("Action/Happy/0001 3\n../../../x/0002 3\n")
    with pytest.raises(
        ValueError, match=r"train_All\.csv:line 2: path '\.\./\.\./\.\./x/0002' leads outside"
    ):
        FORMATS["ferv39k"].read(ReadRequest(root=root, split="train"))
    # Former-DFER lists may name absolute folders (docs/DATASETS.md): only with the opt-in
    _frames(tmp_path / "frames" / "c", n=2)
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "test.txt").write_text(f"{tmp_path / 'frames' / 'c'} 2 4\n")
    with pytest.raises(ValueError, match=r"test\.txt:line 1: path '.*/frames/c' leads outside the data root"):
        FORMATS["former_dfer"].read(ReadRequest(root=folder, split="test"))
    records = FORMATS["former_dfer"].read(ReadRequest(root=folder, split="test", allow_outside_root=True))
    assert [(r.label, r.num_frames) for r in records] == [(4, 2)]


# --- case 9: special files in frame folders ---------------------------------------------------------------


def test_a_fifo_in_a_frame_folder_is_left_out_of_the_frame_index_and_noted(tmp_path):
    _dfew_release(tmp_path)
    folder = tmp_path / "Clip" / "clip_224x224" / "00001"
    os.mkfifo(folder / "00001_00009.jpg")
    report = ReadReport()
    records = read_dfew(tmp_path, fold=1, split="train", report=report)
    assert records[0].frames == tuple(f"00001_{i:05d}.jpg" for i in range(1, 6))
    assert report.notes == ["00001: 1 special file(s) ignored, not regular (00001_00009.jpg)"]


# --- case 10: messages that name their file ---------------------------------------------------------------


def test_utf16_tables_are_read_and_other_encodings_name_the_file(tmp_path):
    _dfew_release(tmp_path)
    split = tmp_path / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv"
    expected = [(r.id, r.label) for r in read_dfew(tmp_path, fold=1)]
    split.write_bytes(split.read_text().encode("utf-16"))  # Excel's "Unicode text", with a byte-order mark
    assert [(r.id, r.label) for r in read_dfew(tmp_path, fold=1)] == expected
    split.write_bytes("video_name,label\n1,1\n2,4\n".encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(ValueError, match=r"set_1\.csv:line 1: a NUL byte: not a UTF-8 text table \(UTF-16"):
        read_dfew(tmp_path, fold=1)
    split.write_bytes("video_name,label\n1,1\n# café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"set_1\.csv: not UTF-8 text \(byte 0xe9 at offset 26\)"):
        read_dfew(tmp_path, fold=1)


def test_a_header_only_split_file_names_the_file(tmp_path):
    _dfew_release(tmp_path)
    split = tmp_path / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_2.csv"
    split.write_text("video_name,label\n")
    with pytest.raises(
        ValueError, match=r"set_2\.csv: a header line \(video_name, label\) but no rows under it"
    ):
        FORMATS["dfew"].read(ReadRequest(root=tmp_path, split="test", fold=2))
    with pytest.raises(ValueError, match=r"a header line"):
        read_table(split)


def test_a_non_numeric_valence_names_file_row_and_value(tmp_path):
    _affectnet(tmp_path / "aff", [_row("1/a.jpg", 1), _row("1/b.jpg", 2, va=("high", 0.1))])
    with pytest.raises(
        ValueError, match=r"training\.csv:line 3: valence/arousal must be numbers, got \['high', '0\.1'\]"
    ):
        read_affectnet(tmp_path / "aff", split="train")
    _frames(tmp_path / "m" / "a", n=2)
    man = tmp_path / "m" / "m.csv"
    _csv(man, ["path", "label", "valence", "arousal"], [["a", 0, "0.2", "n/a"]])
    with pytest.raises(
        ValueError, match=r"m\.csv:line 2: valence/arousal must be numbers, got \['0\.2', 'n/a'\]"
    ):
        read_manifest(man)
    # Aff-Wild: one value per line, the bad one named with its line
    from softfer.data.formats import read_affwild
    from softfer.labels.affect import AffectStats

    stats = AffectStats(
        np.full(2, 0.5), np.array([[0.5, 0.5], [-0.5, -0.5]]), np.stack([np.eye(2)] * 2), np.ones(2)
    )
    aw = tmp_path / "aw"
    for name, text in (("valence", "0.5\nabc\n"), ("arousal", "0.1\n0.2\n")):
        (aw / "annotations" / name).mkdir(parents=True)
        (aw / "annotations" / name / "v00.txt").write_text(text)
    _frames(aw / "frames" / "v00", n=2)
    with pytest.raises(ValueError, match=r"v00\.txt:line 2: valence 'abc' is not a number"):
        read_affwild(aw, stats, split="train", test_share=0.0)
