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
from softfer.io.tables import iter_table_chunks, read_table, read_text
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
        ValueError, match=r"votes\.csv:line 3: duplicate id '1' \(first at \S+/votes\.csv:line 2\)"
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
    where = "Manually_Annotated_file_lists/training.csv:line 10"
    assert report.skipped == [f"1/empty.jpg: face box 0x0 has no face in it ({where})"]
    assert report.total == 9
    assert report.dropped == {"code 8 (none)": 1, "code 9 (uncertain)": 1, "code 10 (no face)": 2}
    assert "code 8 (none): 1, code 9 (uncertain): 1, code 10 (no face): 2" in caplog.text
    # under the default cap (1 %) one empty box in 9 images stops the read, naming it
    with pytest.raises(ValueError, match=r"1 of 9 clips have unusable media.*1/empty\.jpg: face box 0x0"):
        read_affectnet(tmp_path, split="train")


def test_affectnet_one_image_listed_twice_is_called_a_duplicate_image_path(tmp_path):
    # AffectNet's lists key images by path ("1/a.jpg" and "1/./a.jpg" are one image), so the message
    # names an image path, not an id
    _affectnet(tmp_path, [_row("1/a.jpg", 1), _row("1/./a.jpg", 2)])
    image = (tmp_path / "Manually_Annotated_Images" / "1" / "a.jpg").resolve()
    with pytest.raises(ValueError) as caught:
        read_affectnet(tmp_path, split="train")
    lists = "Manually_Annotated_file_lists/training.csv"
    assert str(caught.value) == (
        f"{lists}:line 3: duplicate image path {str(image)!r} (first at {lists}:line 2)"
    )


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


# --- one table reader, whole or a chunk of rows at a time -------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_table_read_in_chunks_gives_read_tables_rows_and_reaches_a_bad_row_after_them(tmp_path, suffix):
    from openpyxl import Workbook

    rows = [[f"c{i}", str(i), ""] for i in range(7)]  # a trailing empty cell: not a column
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        _csv(path, ["name", "n", ""], rows)
    else:
        wb = Workbook()
        for r in [["name", "n"], *rows]:
            wb.active.append(r)
        wb.save(path)
    chunks = list(iter_table_chunks(path, chunk_rows=3))
    assert [len(c.rows) for c in chunks] == [3, 3, 1] and all(c.header == ["name", "n"] for c in chunks)
    kind = "line" if suffix == ".csv" else "row"
    assert [r for c in chunks for r in c.rows] == [[f"c{i}", str(i)] for i in range(7)]
    where = f"{path.parent.name}/{path.name}"  # the file named with its folder
    assert [w for c in chunks for w in c.where] == [f"{where}:{kind} {i}" for i in range(2, 9)]
    whole = read_table(path)
    assert whole.header == ["name", "n"]
    assert (whole.rows, whole.where) == (
        [r for c in chunks for r in c.rows],
        [w for c in chunks for w in c.where],
    )
    if suffix == ".csv":  # the file is read as the chunks are taken: the rows before a bad one come first
        path.write_text(path.read_text() + "c7,7,x\n")
        chunks = iter_table_chunks(path, chunk_rows=3)
        assert len(next(chunks).rows) == 3
        with pytest.raises(ValueError, match=r"t\.csv:line 9: expected 2 columns \(name, n\), got 3"):
            list(chunks)


def test_an_undecodable_byte_is_named_at_its_offset_in_the_file(tmp_path):
    path = tmp_path / "t.csv"
    # a byte-order mark counts: the offset is the file's
    path.write_bytes(b"\xef\xbb\xbfa,b\n1,\xe9\n")
    match = r"t\.csv: not UTF-8 text \(byte 0xe9 at offset 9\)"
    for read in (read_table, read_text, lambda p: list(iter_table_chunks(p, chunk_rows=1))):
        with pytest.raises(ValueError, match=match):
            read(path)
    # past the first block of 1 MiB that decoding takes at a time, after a character split between blocks
    head = b"a,b\n" + b"1,x\n" * ((1 << 18) - 2) + b"1,y"
    data = head + b"\xc3" + b"\xa9\n" + b"2,y\n" * 100 + b"3,\xff\n"  # \xc3\xa9: an e-acute
    assert len(head) == (1 << 20) - 1  # \xc3 the last byte of the first block, \xa9 the first of the next
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"not UTF-8 text \(byte 0xff at offset {len(data) - 2}\)"):
        read_table(path)
    path.write_bytes("a,b\n1,2\n".encode("utf-16") + b"\x00")  # UTF-16 cut inside its last character
    with pytest.raises(ValueError, match=r"not UTF-16 text \(byte 0x00 at offset 18\)"):
        read_table(path)


def _open_files() -> set[str]:
    fd = Path("/proc/self/fd")
    return {os.readlink(fd / f) for f in os.listdir(fd) if (fd / f).exists()}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_a_table_error_kept_alive_does_not_hold_the_file_open(tmp_path):
    # the error's traceback holds the reader's frame: the file must be closed before it is raised (a
    # file held open cannot be replaced by its fixed copy on Windows)
    bad = tmp_path / "a.csv"
    bad.write_text("a,b\n1,2,3\n")
    with pytest.raises(ValueError, match="expected 2 columns") as kept:
        read_table(bad)
    assert kept.value and str(bad) not in _open_files()
    good = tmp_path / "b.csv"
    good.write_text("a,b\n" + "1,2\n" * 5)
    chunks = iter_table_chunks(good, chunk_rows=1)
    next(chunks)
    assert str(good) in _open_files()
    chunks.close()
    assert str(good) not in _open_files()
    with pytest.raises(ValueError, match="chunk_rows must be 1 or more"):
        iter_table_chunks(good, chunk_rows=0)  # at the call, not at the first chunk
