"""Readers on fixture trees built here in each dataset's published layout, and their bad-input errors."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.data.datasets import ImageDataset
from softfer.data.formats import (
    read_afew,
    read_affectnet,
    read_affwild,
    read_dfew,
    read_ferv39k,
    read_former_dfer_list,
    read_manifest,
)
from softfer.data.synthetic.generate import generate_affectnet, generate_dfew, write_xlsx
from softfer.labels.affect import AffectStats

VOTES = {
    1: [8, 1, 1, 0, 0, 0, 0],
    2: [0, 0, 2, 7, 0, 1, 0],
    3: [0, 5, 5, 0, 0, 0, 0],
    4: [1, 0, 0, 0, 9, 0, 0],
}


# The official AffectNet list header, written out here as the tests' independent reference.
AFFECTNET_HEADER = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]


def _frames(folder: Path, n: int = 5, size: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(
            folder / f"{folder.name}_{i + 1:05d}.jpg"
        )


def _csv(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)


def _dfew_release(root: Path, spelling: str = "single-labeled", votes_header=None) -> None:
    for clip in VOTES:
        _frames(root / "Clip" / "clip_224x224" / f"{clip:05d}")
    for k in range(1, 6):
        _csv(
            root / "EmoLabel_DataSplit" / f"train({spelling})" / f"set_{k}.csv",
            ["video_name", "label"],
            [[1, 1], [2, 4]],
        )
        _csv(
            root / "EmoLabel_DataSplit" / f"test({spelling})" / f"set_{k}.csv",
            ["video_name", "label"],
            [[4, 5]],
        )
    header = votes_header or [
        "order",
        "video_name",
        "Happy",
        "Sad",
        "Neutral",
        "Angry",
        "Surprise",
        "Disgust",
        "Fear",
    ]
    (root / "Annotation").mkdir(parents=True, exist_ok=True)
    write_xlsx(
        root / "Annotation" / "annotation.xlsx", header, [[c, f"{c:05d}", *v] for c, v in VOTES.items()]
    )


@pytest.mark.parametrize("spelling", ["single-labeled", "single_labeled"])
def test_dfew_release_layout(tmp_path, spelling):
    _dfew_release(tmp_path, spelling)
    train = read_dfew(tmp_path, fold=2, split="train")
    assert [r.id for r in train] == ["00001", "00002"]
    assert [r.label for r in train] == [0, 3]  # labels 1..7 -> 0..6
    np.testing.assert_allclose(train[0].soft, np.array(VOTES[1]) / 10)
    assert train[0].num_frames == 5 and train[0].frames[0] == "00001_00001.jpg"
    assert read_dfew(tmp_path, fold=2, split="test")[0].label == 4


def test_dfew_official_code_layout(tmp_path):
    for clip in (1, 2):
        _frames(tmp_path / "data" / f"{clip:05d}")
    for k in range(1, 6):
        _csv(tmp_path / "label" / f"single_trainset_{k}.csv", None, [[1, 3], [2, 7]])
        _csv(tmp_path / "label" / f"single_testset_{k}.csv", None, [[2, 7]])
    recs = read_dfew(tmp_path, fold=5, split="train")
    assert [r.label for r in recs] == [2, 6] and recs[0].soft is None


def test_dfew_bad_inputs(tmp_path):
    _dfew_release(tmp_path)
    split = tmp_path / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv"
    _csv(split, ["video_name", "label"], [[1, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"set_1.csv:line 3: duplicate id '00001'"):
        read_dfew(tmp_path, fold=1)
    _csv(split, ["video_name", "label"], [[1, 1], [2, 9]])
    with pytest.raises(ValueError, match=r"set_1.csv:line 3: label 9 outside 1..7"):
        read_dfew(tmp_path, fold=1)
    _csv(split, ["video_name", "label"], [[1, 1], [77, 2]])
    with pytest.raises(ValueError, match=r"line 3: clip 00077 is not in the annotation file"):
        read_dfew(tmp_path, fold=1)
    _csv(split, ["video_name", "label", "extra"], [[1, 1, 0], [2, 2]])
    with pytest.raises(ValueError, match=r"set_1.csv:line 3: expected 3 columns"):
        read_dfew(tmp_path, fold=1)


def test_dfew_xlsx_without_vote_columns(tmp_path):
    # One column named after a class and six that name none: no positional guess, the clear error.
    _dfew_release(tmp_path, votes_header=["order", "video_name", "Happy", "b", "c", "d", "e", "f", "g"])
    with pytest.raises(ValueError, match=r"annotation.xlsx: no column for class"):
        read_dfew(tmp_path, fold=1)


def test_dfew_missing_media_skip_cap(tmp_path):
    _dfew_release(tmp_path)
    for f in (tmp_path / "Clip" / "clip_224x224" / "00002").iterdir():
        f.unlink()  # empty frame folder
    with pytest.raises(ValueError, match=r"1 of 2 clips have unusable media.*00002: frame folder empty"):
        read_dfew(tmp_path, fold=1)
    recs = read_dfew(tmp_path, fold=1, max_skip=0.5)
    assert [r.id for r in recs] == ["00001"]


def test_synthetic_output_round_trips_through_readers(tmp_path):
    records = generate_dfew(tmp_path / "dfew", clips=20, size=32, seed=1, workers=1)
    by_id = {f"{r.index:05d}": r for r in records}
    read = read_dfew(tmp_path / "dfew", fold=3, split="train") + read_dfew(
        tmp_path / "dfew", fold=3, split="test"
    )
    assert read and all(np.array_equal(r.votes, by_id[r.id].votes) for r in read)
    assert all(r.num_frames == by_id[r.id].num_frames for r in read)
    assert all(r.label == by_id[r.id].votes.argmax() for r in read)
    generate_affectnet(tmp_path / "aff", images=30, size=48, seed=0, workers=1)
    aff = read_affectnet(tmp_path / "aff", split="train") + read_affectnet(tmp_path / "aff", split="val")
    assert len(aff) == 30 and all(r.va is not None and r.box is not None for r in aff)


def test_ferv39k(tmp_path):
    _frames(tmp_path / "2_ClipsforFaceCrop" / "Action" / "Happy" / "0001")
    _frames(tmp_path / "2_ClipsforFaceCrop" / "Action" / "Angry" / "0002")
    lst = tmp_path / "4_setups" / "All_scenes" / "train_All.csv"
    lst.parent.mkdir(parents=True)
    lst.write_text("Action/Happy/0001 3\nAction/Angry/0002 Angry\n")
    recs = read_ferv39k(tmp_path, split="train")
    assert [r.label for r in recs] == [0, 3]  # FERV39k index 3 = happy -> DFEW 0; Angry -> DFEW 3
    soft = tmp_path / "plus.csv"
    _csv(
        soft,
        ["clip", "happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"],
        [["Action/Happy/0001", 6, 0, 4, 0, 0, 0, 0], ["Action/Angry/0002", 0, 0, 0, 1, 0, 1, 0]],
    )
    recs = read_ferv39k(tmp_path, split="train", soft_labels=soft)
    np.testing.assert_allclose(recs[1].soft, [0, 0, 0, 0.5, 0, 0.5, 0])
    lst.write_text("Action/Happy/0001 3\nAction/Angry/0002 12\n")
    with pytest.raises(ValueError, match=r"train_All.csv:line 2: label 12 outside 0..6"):
        read_ferv39k(tmp_path, split="train")


def test_afew_videos_and_frame_folders(tmp_path):
    (tmp_path / "Val" / "Fear").mkdir(parents=True)
    (tmp_path / "Val" / "Fear" / "000123.avi").write_bytes(b"stub")
    _frames(tmp_path / "Val" / "Happy" / "000456")
    recs = read_afew(tmp_path, split="Val")
    assert {(r.id, r.label) for r in recs} == {("Fear/000123", 6), ("Happy/000456", 0)}


def test_affectnet_rows(tmp_path):
    img_dir = tmp_path / "Manually_Annotated_Images" / "1"
    img_dir.mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(img_dir / "a.jpg")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(img_dir / "b.jpg")
    marks = ";".join(["1.0"] * 136)
    rows = [["1/a.jpg", 2, 3, 30, 31, marks, 7, 0.5, -0.25], ["1/b.jpg", 0, 0, 40, 40, marks, 9, -2, -2]]
    path = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    _csv(path, AFFECTNET_HEADER, rows)
    recs = read_affectnet(tmp_path, split="train")
    assert len(recs) == 1 and recs[0].label == 7 and recs[0].box == (2, 3, 30, 31)
    np.testing.assert_allclose(recs[0].va, [0.5, -0.25])
    assert read_affectnet(tmp_path, split="train", num_classes=7) == []
    rows[1][6], rows[1][7] = 3, -2
    _csv(path, AFFECTNET_HEADER, rows)
    assert read_affectnet(tmp_path, split="train")[1].va is None  # -2: VA missing
    rows[1][7] = 1.5
    _csv(path, AFFECTNET_HEADER, rows)
    with pytest.raises(ValueError, match=r"training.csv:line 3: valence/arousal"):
        read_affectnet(tmp_path, split="train")
    rows[1][7], rows[1][8], rows[1][5] = 0.1, 0.1, "1;2;3"
    _csv(path, AFFECTNET_HEADER, rows)
    with pytest.raises(ValueError, match=r"line 3: facial_landmarks has 3 values"):
        read_affectnet(tmp_path, split="train")


def test_affwild_labels_from_gmm(tmp_path):
    stats = AffectStats(
        np.full(2, 0.5), np.array([[0.5, 0.5], [-0.5, -0.5]]), np.stack([np.eye(2) * 0.05] * 2), np.ones(2)
    )
    for name in ("valence", "arousal"):
        d = tmp_path / "annotations" / name
        d.mkdir(parents=True)
        (d / "v1.txt").write_text("0.6\n-0.4\n")
    _frames(tmp_path / "frames" / "v1", n=2)
    recs = read_affwild(tmp_path, stats, split="train", test_share=0.0)
    assert [r.label for r in recs] == [0, 1]
    assert np.isclose(recs[0].soft.sum(), 1)
    # derived from valence/arousal, not voted: evaluation must not score "divergence to the votes" on them
    assert not any(r.soft_is_votes for r in recs)
    item = ImageDataset(recs, num_classes=2, train=False, size=8)[0]
    assert not bool(item["has_votes"])


def test_former_dfer_list_and_manifest(tmp_path):
    _frames(tmp_path / "clips" / "a")
    _frames(tmp_path / "clips" / "b")
    lst = tmp_path / "train.txt"
    lst.write_text("clips/a 5 0\nclips/b 5 6\n")
    assert [r.label for r in read_former_dfer_list(lst)] == [0, 6]
    lst.write_text("clips/a 5 0\nclips/b 5 7\n")
    with pytest.raises(ValueError, match=r"train.txt:line 2: label 7 outside 0..6"):
        read_former_dfer_list(lst)
    man = tmp_path / "m.csv"
    _csv(
        man,
        [
            "path",
            "happy",
            "sad",
            "neutral",
            "angry",
            "surprise",
            "disgust",
            "fear",
            "valence",
            "arousal",
            "fold",
        ],
        [["clips/a", 3, 0, 7, 0, 0, 0, 0, 0.1, 0.2, 1], ["clips/b", 0, 0, 0, 0, 0, 0, 10, "", "", 2]],
    )
    recs = read_manifest(man)
    assert recs[0].label == 2 and recs[0].votes.tolist() == [3, 0, 7, 0, 0, 0, 0] and recs[1].va is None
    assert [r.id for r in read_manifest(man, fold=2)] == ["clips/b"]
    jl = tmp_path / "m.jsonl"
    jl.write_text(
        '{"path": "clips/a", "label": 1}\n{"path": "clips/b", "label": 4, "valence": 0.5, "arousal": 0.0}\n'
    )
    assert [r.label for r in read_manifest(jl)] == [1, 4]
    jl.write_text('{"path": "clips/a", "label": 1}\n{"path": broken\n')
    with pytest.raises(ValueError, match=r"m.jsonl:line 2: not valid JSON"):
        read_manifest(jl)
