"""Issue 12 reader fixes: explicit split names, still-image manifests, tolerant class headers,
FERV39k-Plus joins, AFEW raw videos. Each fixture is a small tree in the dataset's own layout."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.config import load_config, packaged_configs
from softfer.data.datasets import ImageDataset
from softfer.data.formats import (
    FORMAT_SPLITS,
    read_afew,
    read_affectnet,
    read_affwild,
    read_dfew,
    read_ferv39k,
    read_manifest,
    read_votes,
)
from softfer.data.formats.ferv39k import read_soft_labels
from softfer.data.records import Record, records_media_kind
from softfer.data.synthetic.generate import write_xlsx
from softfer.labels.affect import AffectStats
from tests.data.test_formats import VOTES, _csv, _dfew_release, _frames

CONFIGS = packaged_configs()
DFEW_HEADER = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
TWO_CLASS_STATS = AffectStats(
    np.full(2, 0.5), np.array([[0.5, 0.5], [-0.5, -0.5]]), np.stack([np.eye(2) * 0.05] * 2), np.ones(2)
)


def _affwild_tree(root: Path, videos: int = 10) -> list[str]:
    names = [f"v{i:02d}" for i in range(videos)]
    for name in ("valence", "arousal"):
        (root / "annotations" / name).mkdir(parents=True)
    for v in names:
        for name in ("valence", "arousal"):
            (root / "annotations" / name / f"{v}.txt").write_text("0.6\n-0.4\n")
        _frames(root / "frames" / v, n=2, size=8)
    return names


def _videos(records: list[Record]) -> set[str]:
    return {r.id.split("/")[0] for r in records}


# --- 1. split names ---------------------------------------------------------------------------------


def test_affwild_train_and_test_are_disjoint_and_val_is_refused(tmp_path):
    names = _affwild_tree(tmp_path)
    train = _videos(read_affwild(tmp_path, TWO_CLASS_STATS, split="train"))
    test = _videos(read_affwild(tmp_path, TWO_CLASS_STATS, split="test"))
    assert train.isdisjoint(test) and train | test == set(names) and len(test) == 2  # 20 % of 10
    # Before issue 12 any name but "test" returned the training videos: "val" evaluated on training data.
    with pytest.raises(ValueError, match=r"Aff-Wild: unknown split 'val'; the valid splits are train, test"):
        read_affwild(tmp_path, TWO_CLASS_STATS, split="val")
    with pytest.raises(ValueError, match=r"test split is empty"):
        read_affwild(tmp_path, TWO_CLASS_STATS, split="test", test_share=0.0)


@pytest.mark.parametrize(
    "config", sorted((CONFIGS / "dual_domain").glob("affwild_*.yaml")), ids=lambda p: p.stem
)
def test_every_affwild_config_tests_on_videos_it_does_not_train_on(tmp_path, config):
    _affwild_tree(tmp_path)
    data = load_config(config).data
    train = _videos(read_affwild(tmp_path, TWO_CLASS_STATS, split=data.train_split))
    test = _videos(read_affwild(tmp_path, TWO_CLASS_STATS, split=data.test_split))
    assert train and test and train.isdisjoint(test)


def _ferv39k_tree(root: Path) -> Path:
    _frames(root / "2_ClipsforFaceCrop" / "Action" / "Happy" / "0001")
    _frames(root / "2_ClipsforFaceCrop" / "Action" / "Angry" / "0002")
    lst = root / "4_setups" / "All_scenes" / "train_All.csv"
    lst.parent.mkdir(parents=True)
    lst.write_text("Action/Happy/0001 3\nAction/Angry/0002 0\n")
    lst.with_name("test_All.csv").write_text("Action/Happy/0001 3\n")
    return lst


def _affectnet_tree(root: Path) -> None:
    (root / "Manually_Annotated_Images" / "1").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "Manually_Annotated_Images" / "1" / "a.jpg")
    header = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height"]
    header += ["facial_landmarks", "expression", "valence", "arousal"]
    for name in ("training.csv", "validation.csv"):
        _csv(
            root / "Manually_Annotated_file_lists" / name, header, [["1/a.jpg", 0, 0, 8, 8, "", 1, 0.1, 0.2]]
        )


@pytest.mark.parametrize(
    ("fmt", "bad"), [("dfew", "val"), ("ferv39k", "val"), ("affectnet", "test"), ("afew", "Test")]
)
def test_every_reader_refuses_a_split_it_does_not_know(tmp_path, fmt, bad):
    if fmt == "dfew":
        _dfew_release(tmp_path)
        read = read_dfew
    elif fmt == "ferv39k":
        _ferv39k_tree(tmp_path)
        read = read_ferv39k
    elif fmt == "affectnet":
        _affectnet_tree(tmp_path)
        read = read_affectnet
    else:
        _frames(tmp_path / "Val" / "Happy" / "0001")
        read = read_afew
    for good in FORMAT_SPLITS[fmt]:
        if fmt != "afew" or good == "Val":
            assert read(tmp_path, split=good)
    valid = ", ".join(FORMAT_SPLITS[fmt])
    with pytest.raises(ValueError, match=rf"unknown split '{bad}'; the valid splits are {valid}"):
        read(tmp_path, split=bad)


def test_afew_reads_its_split_folder_and_never_another(tmp_path):
    _frames(tmp_path / "Train" / "Happy" / "0001")
    assert [r.id for r in read_afew(tmp_path, split="train")] == ["Happy/0001"]  # case ignored
    with pytest.raises(ValueError, match=r"no AFEW split folder 'Val'; split folders found: Train"):
        read_afew(tmp_path, split="Val")
    with pytest.raises(ValueError, match=r"it holds split folders \(Train\): pass one as the split"):
        read_afew(tmp_path, split=None)
    flat = tmp_path / "flat"
    _frames(flat / "Sad" / "0002")
    assert [(r.id, r.label) for r in read_afew(flat, split=None)] == [("Sad/0002", 1)]
    # Before issue 12 a copy without split folders was read whole whatever split was asked for.
    with pytest.raises(ValueError, match=r"holds the class folders directly.*split=None"):
        read_afew(flat, split="Val")


def _manifest(path: Path, rows, header=("path", "label", "valence", "arousal", "split")) -> Path:
    _csv(path, list(header), rows)
    return path


def test_manifest_split_and_fold_requests_never_return_nothing(tmp_path):
    _frames(tmp_path / "clips" / "a")
    _frames(tmp_path / "clips" / "b")
    man = _manifest(tmp_path / "m.csv", [["clips/a", 0, 0.1, 0.2, "train"], ["clips/b", 1, 0.1, 0.2, "val"]])
    assert [r.id for r in read_manifest(man, split="val")] == ["clips/b"]
    # Before issue 12 a split no row carries gave an empty list without a word.
    with pytest.raises(
        ValueError, match=r"m.csv: no row has split 'test'; the manifest's splits are \['train', 'val'\]"
    ):
        read_manifest(man, split="test")
    with pytest.raises(ValueError, match=r"no row of split 'val' has fold 3"):
        read_manifest(man, split="val", fold=3)
    plain = _manifest(tmp_path / "p.csv", [["clips/a", 0]], header=("path", "label"))
    with pytest.raises(
        ValueError, match=r"p.csv: split 'train' requested, but the manifest has no 'split' column"
    ):
        read_manifest(plain, split="train")
    assert len(read_manifest(plain)) == 1


# --- 2. still images in a manifest ---------------------------------------------------------------------


def test_manifest_still_images_load_as_images(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((20, 24, 3), 200, np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.full((20, 24, 3), 50, np.uint8)).save(tmp_path / "images" / "b.png")
    rows = [["images/a.png", "Sad", 0.5, -0.25, "train"], ["images/b.png", 3, -2, -2, "train"]]
    recs = read_manifest(_manifest(tmp_path / "morph.csv", rows), split="train")
    # Before issue 12 an image path was taken for a frame folder: "frame folder empty".
    assert [(r.label, r.frames) for r in recs] == [(1, ()), (3, ())]  # "Sad" -> DFEW index 1
    np.testing.assert_allclose(recs[0].va, [0.5, -0.25])
    assert recs[1].va is None and records_media_kind(recs) == "image"
    ds = ImageDataset(recs, num_classes=7, train=False, size=8)
    assert ds[0]["images"].shape == (3, 8, 8) and int(ds[0]["images"].float().mean().round()) == 200
    assert int(ds[1]["images"].float().mean().round()) == 50


def test_manifest_mixing_images_and_clips_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "a.jpg")
    _frames(tmp_path / "clips" / "b")
    man = _manifest(
        tmp_path / "m.csv", [["images/a.jpg", 0, "", "", "train"], ["clips/b", 1, "", "", "test"]]
    )
    with pytest.raises(ValueError, match=r"m.csv: mixes 1 still images .*a.jpg.* with 1 clips .*clips/b"):
        read_manifest(man, split="test")


def test_manifest_missing_image_is_a_skipped_record(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "a.jpg")
    man = _manifest(
        tmp_path / "m.csv", [["images/a.jpg", 0, "", "", "train"], ["images/x.jpg", 1, "", "", "train"]]
    )
    with pytest.raises(ValueError, match=r"1 of 2 clips have unusable media.*images/x.jpg: image missing"):
        read_manifest(man)
    assert [r.id for r in read_manifest(man, max_skip=0.5)] == ["images/a.jpg"]


def test_records_media_kind(tmp_path):
    clips = [Record("a", tmp_path / "a"), Record("b", tmp_path / "b.mp4")]
    images = [Record("c", tmp_path / "c.JPG"), Record("d", tmp_path / "d.png")]
    assert records_media_kind(clips) == "clip" and records_media_kind(images) == "image"
    with pytest.raises(ValueError, match=r"mixes 2 still images"):
        records_media_kind(clips + images)
    with pytest.raises(ValueError, match=r"no records"):
        records_media_kind([])


# --- 4. tolerant class headers -----------------------------------------------------------------------


def _votes_table(path: Path, vote_header: list[str], order: list[int] | None = None) -> Path:
    """An annotation table; ``order`` gives the DFEW class index held by each vote column."""
    order = order if order is not None else list(range(7))
    rows = [[c, f"{c:05d}", *(v[k] for k in order)] for c, v in VOTES.items()]
    write_xlsx(path, ["order", "video_name", *vote_header], rows)
    return path


@pytest.mark.parametrize(
    "header",
    [
        DFEW_HEADER,
        [f"{i} {h}" for i, h in enumerate(DFEW_HEADER, start=1)],
        [f"{h}({i})" for i, h in enumerate(DFEW_HEADER, start=1)],
        [f"{h.lower()}_{i}" for i, h in enumerate(DFEW_HEADER, start=1)],
        ["HAPPINESS", "sadness", " neutral ", "Anger", "Surprised.", "disgusted", "Fearful"],
    ],
)
def test_vote_header_spellings_parse_to_the_same_votes(tmp_path, header):
    got = read_votes(_votes_table(tmp_path / "annotation.xlsx", header))
    assert {k: v.tolist() for k, v in got.items()} == {f"{c:05d}": v for c, v in VOTES.items()}


def test_vote_columns_in_another_order_are_matched_by_name(tmp_path):
    order = [6, 5, 4, 3, 2, 1, 0]
    got = read_votes(_votes_table(tmp_path / "a.xlsx", [f"{DFEW_HEADER[k]} {k + 1}" for k in order], order))
    assert got["00002"].tolist() == VOTES[2]


def test_two_columns_naming_one_class_are_refused(tmp_path):
    # Before issue 12 the second "happy" column silently replaced the first.
    path = tmp_path / "a.csv"
    _csv(path, ["video_name", *DFEW_HEADER, "HAPPY"], [[f"{c:05d}", *v, 0] for c, v in VOTES.items()])
    with pytest.raises(ValueError, match=r"a.csv: columns 'Happy' and 'HAPPY' both name class 'happy'"):
        read_votes(path)


def test_unnamed_vote_columns_are_taken_in_dfew_order_with_a_warning(tmp_path, caplog):
    path = _votes_table(tmp_path / "annotation.xlsx", list("abcdefg"))
    with caplog.at_level(logging.WARNING):
        got = read_votes(path)
    assert got["00003"].tolist() == VOTES[3]
    msg = caplog.text
    assert (
        "by position after the column 'video_name'" in msg and "'a' -> happy" in msg and "'g' -> fear" in msg
    )
    _dfew_release(tmp_path / "dfew", votes_header=["order", "video_name", *"abcdefg"])
    np.testing.assert_allclose(read_dfew(tmp_path / "dfew", fold=1)[1].votes, VOTES[2])


def test_vote_columns_headed_by_label_numbers_are_mapped_by_number(tmp_path, caplog):
    order = [3, 0, 1, 2, 4, 6, 5]  # columns headed "4", "1", "2", ... hold those DFEW labels' votes
    path = _votes_table(tmp_path / "a.xlsx", [str(k + 1) for k in order], order)
    with caplog.at_level(logging.WARNING):
        got = read_votes(path)
    assert {k: v.tolist() for k, v in got.items()} == {f"{c:05d}": v for c, v in VOTES.items()}
    assert "by their DFEW label numbers" in caplog.text and "'4' -> angry" in caplog.text


def test_vote_columns_that_cannot_be_placed_get_the_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    _csv(path, ["video_name", *"abcdefgh"], [[f"{c:05d}", *v, 0] for c, v in VOTES.items()])
    with pytest.raises(ValueError, match=r"a.csv: no column for class\(es\) \['happy'"):
        read_votes(path)


def test_soft_label_and_manifest_headers_are_matched_tolerantly(tmp_path):
    soft = tmp_path / "plus.csv"
    _csv(
        soft, ["clip", *(f"{i}-{h}" for i, h in enumerate(DFEW_HEADER, 1))], [["A/B/1", 1, 0, 0, 3, 0, 0, 0]]
    )
    np.testing.assert_allclose(read_soft_labels(soft)["A/B/1"], [0.25, 0, 0, 0.75, 0, 0, 0])
    _frames(tmp_path / "clips" / "a")
    man = tmp_path / "m.csv"
    _csv(
        man,
        ["path", *(f"{h.upper()} #{i}" for i, h in enumerate(DFEW_HEADER, 1))],
        [["clips/a", 0, 0, 2, 0, 0, 0, 8]],
    )
    rec = read_manifest(man)[0]
    assert rec.votes.tolist() == [0, 0, 2, 0, 0, 0, 8] and rec.label == 6


# --- 5. FERV39k-Plus join ------------------------------------------------------------------------------


def test_ferv39k_soft_labels_join_by_normalised_clip_path(tmp_path):
    lst = _ferv39k_tree(tmp_path)
    lst.write_text("Action\\Happy\\0001 3\n/Action/Angry/0002/ 0\n")  # a copy written on Windows
    soft = tmp_path / "plus.csv"
    rows = [
        ["/Action/Happy/0001/", 6, 0, 4, 0, 0, 0, 0],
        ["Action\\Angry\\0002", 0, 0, 0, 1, 0, 1, 0],
        ["Action/Sad/0099", 0, 1, 0, 0, 0, 0, 0],  # a clip of the other split: ignored
    ]
    _csv(soft, ["clip", *DFEW_HEADER], rows)
    recs = read_ferv39k(tmp_path, split="train", soft_labels=soft)
    assert [r.id for r in recs] == ["Action/Happy/0001", "Action/Angry/0002"]
    np.testing.assert_allclose(recs[0].soft, [0.6, 0, 0.4, 0, 0, 0, 0])
    np.testing.assert_allclose(recs[1].soft, [0, 0, 0, 0.5, 0, 0.5, 0])
    _csv(soft, ["clip", *DFEW_HEADER], [rows[0], rows[2]])
    with pytest.raises(
        ValueError,
        match=r"plus.csv: 1 clip\(s\) of the FERV39k train split have no soft label: "
        r"Action/Angry/0002 \(All_scenes/train_All.csv:line 2\)",
    ):
        read_ferv39k(tmp_path, split="train", soft_labels=soft)
    _csv(soft, ["clip", *DFEW_HEADER], [rows[0], rows[1], ["Action/Happy/0001", 1, 0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"plus.csv:line 4: duplicate id 'Action/Happy/0001'"):
        read_ferv39k(tmp_path, split="train", soft_labels=soft)
    _csv(soft, ["name_of_clip", *DFEW_HEADER], [rows[0]])
    with pytest.raises(ValueError, match=r"plus.csv: no clip column"):
        read_ferv39k(tmp_path, split="train", soft_labels=soft)


# --- 6. AFEW raw videos and aligned frame folders -----------------------------------------------------


def test_afew_marks_raw_videos_and_reads_mirrored_preprocess_output(tmp_path):
    (tmp_path / "AFEW" / "Val" / "Fear").mkdir(parents=True)
    (tmp_path / "AFEW" / "Val" / "Fear" / "000123.avi").write_bytes(b"stub")
    raw = read_afew(tmp_path / "AFEW", split="Val")
    assert [(r.id, r.is_video_file) for r in raw] == [("Fear/000123", True)]
    # `softfer preprocess AFEW OUT --layout mirror` output, with its manifest, report and an unfinished clip.
    out = tmp_path / "aligned"
    _frames(out / "Val" / "Fear" / "000123")
    (out / "Val" / "Fear" / ".000124.partial").mkdir()
    (out / "manifest.csv").write_text("path\n")
    (out / "preprocess_report.json").write_text("{}")
    recs = read_afew(out, split="Val")
    assert [(r.id, r.label, r.is_video_file, r.num_frames) for r in recs] == [("Fear/000123", 6, False, 5)]
