"""Issue 14, case 1: a clip in a training split and in its evaluation split is refused by every reader
(through FORMATS, as the engine reads) and reported by `data inspect`, naming the first ids and the count."""

import re
from pathlib import Path

import pytest

from softfer.config import DataConfig
from softfer.data.formats import FORMATS, ReadRequest
from softfer.data.inspect import inspect_dataset
from softfer.engine.data import read_records
from tests.data.test_formats import AFFECTNET_HEADER, _csv, _frames


def _dfew_overlapping(root: Path, shared: int) -> None:
    """A DFEW copy of 7 clips (clip c: label c, all 10 votes for class c): every fold trains on clips 1-6
    and tests on clip 7, and fold 1's test file also repeats the first ``shared`` training clips."""
    clips = list(range(1, 8))
    for c in clips:
        _frames(root / "Clip" / "clip_224x224" / f"{c:05d}", n=2)
    votes = [[c, f"{c:05d}", *([0] * (c - 1)), 10, *([0] * (7 - c))] for c in clips]
    header = ["order", "video_name", "Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
    _csv(root / "Annotation" / "annotation.csv", header, votes)
    split = root / "EmoLabel_DataSplit"
    for fold in range(1, 6):
        train = clips[:6]
        test = [*clips[:shared], 7] if fold == 1 else [7]
        _csv(
            split / "train(single-labeled)" / f"set_{fold}.csv",
            ["video_name", "label"],
            [[c, c] for c in train],
        )
        _csv(
            split / "test(single-labeled)" / f"set_{fold}.csv",
            ["video_name", "label"],
            [[c, c] for c in test],
        )


def test_dfew_fold_overlap_is_refused_naming_the_first_ids_and_the_count(tmp_path):
    _dfew_overlapping(tmp_path, shared=6)
    pattern = (
        r"test\(single-labeled\)/set_1\.csv and .*train\(single-labeled\)/set_1\.csv share 6 item\(s\) "
        r"\(00001, 00002, 00003, 00004, 00005, \.\.\.\)"
    )
    with pytest.raises(ValueError, match=pattern):
        FORMATS["dfew"].read(ReadRequest(root=tmp_path, split="test"))
    # the training side is refused too, and so is the engine's read
    with pytest.raises(ValueError, match=r"share 6 item\(s\)"):
        FORMATS["dfew"].read(ReadRequest(root=tmp_path, split="train"))
    with pytest.raises(ValueError, match=r"share 6 item\(s\)"):
        read_records(DataConfig(format="dfew", root=str(tmp_path)), "test")
    # another fold has no overlap: read as before
    assert [r.id for r in FORMATS["dfew"].read(ReadRequest(root=tmp_path, split="test", fold=2))] == ["00007"]


def test_ferv39k_lists_sharing_a_clip_are_refused(tmp_path):
    for clip in ("Action/Happy/0001", "Action/Sad/0002"):
        _frames(tmp_path / "2_ClipsforFaceCrop" / clip, n=2)
    lists = tmp_path / "4_setups" / "All_scenes"
    lists.mkdir(parents=True)
    (lists / "train_All.csv").write_text("Action/Happy/0001 3\nAction/Sad/0002 5\n")
    # spelt differently (backslashes, a leading slash): still the same clip
    (lists / "test_All.csv").write_text("\\Action\\Sad\\0002 5\n")
    with pytest.raises(
        ValueError, match=r"test_All\.csv and .*train_All\.csv share 1 item\(s\) \(Action/Sad/0002\)"
    ):
        FORMATS["ferv39k"].read(ReadRequest(root=tmp_path, split="test"))


def test_affectnet_lists_sharing_an_image_are_refused(tmp_path):
    from PIL import Image

    (tmp_path / "Manually_Annotated_Images" / "1").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (40, 40)).save(tmp_path / "Manually_Annotated_Images" / "1" / name)
    lists = tmp_path / "Manually_Annotated_file_lists"
    row = ["", 0, 0, 40, 40, "", 1, 0.1, 0.2]
    _csv(lists / "training.csv", AFFECTNET_HEADER, [["1/a.jpg", *row[1:]], ["1/b.jpg", *row[1:]]])
    _csv(lists / "validation.csv", AFFECTNET_HEADER, [["1/./b.jpg", *row[1:]]])
    with pytest.raises(
        ValueError, match=r"validation\.csv and .*training\.csv share 1 item\(s\) \(.*1/b\.jpg\)"
    ):
        FORMATS["affectnet"].read(ReadRequest(root=tmp_path, split="val", num_classes=8))


def test_manifest_rows_of_train_and_test_naming_one_clip_are_refused(tmp_path):
    for c in ("a", "b"):
        _frames(tmp_path / "clips" / c, n=2)
    man = tmp_path / "m.csv"
    _csv(
        man,
        ["id", "path", "label", "split"],
        [["x1", "clips/a", 0, "train"], ["x2", "clips/b", 1, "train"], ["x3", "clips/./b", 1, "test"]],
    )
    with pytest.raises(ValueError, match=r"m\.csv \(split 'train'\) and split 'test' share 1 item\(s\)"):
        FORMATS["manifest"].read(ReadRequest(root=man, split="test"))


def test_former_dfer_paired_lists_are_checked_and_other_folds_are_not(tmp_path):
    from softfer.data.splits import paired_splits

    for c in ("a", "b", "c"):
        _frames(tmp_path / "clips" / c, n=2)
    (tmp_path / "set_1_train.txt").write_text("clips/a 2 0\nclips/b 2 1\n")
    (tmp_path / "set_1_test.txt").write_text("clips/b 2 1\n")
    (tmp_path / "set_2_test.txt").write_text("clips/a 2 0\n")  # another fold: may repeat set_1's clips
    (tmp_path / "set_2_train.txt").write_text("clips/b 2 1\nclips/c 2 2\n")
    assert paired_splits("set_1_test", ["set_1_train", "set_2_train", "set_2_test"]) == ["set_1_train"]
    with pytest.raises(ValueError, match=r"set_1_test\.txt and .*set_1_train\.txt share 1 item\(s\)"):
        FORMATS["former_dfer"].read(ReadRequest(root=tmp_path, split="set_1_test"))
    assert [r.id for r in FORMATS["former_dfer"].read(ReadRequest(root=tmp_path, split="set_2_test"))] == [
        "clips/a"
    ]


def test_inspect_reports_the_overlap_instead_of_stopping(tmp_path):
    _dfew_overlapping(tmp_path, shared=2)
    report = inspect_dataset("dfew", str(tmp_path))
    assert "split overlap: fold 1: train and test share 2 item(s) (00001, 00002)" in report, report
    assert re.search(r"problems: 1\n", report), report
    _dfew_overlapping(tmp_path / "clean", shared=0)
    assert "split overlap" not in inspect_dataset("dfew", str(tmp_path / "clean"))


# --- issue 21: paths are compared with symbolic links resolved ---------------------------------------------


def _aliased_manifest(root: Path, rows: list[list]) -> Path:
    """Clip folders clips/a and clips/b, and ``alias`` -> clips: ``alias/b`` is ``clips/b``."""
    for c in ("a", "b"):
        _frames(root / "clips" / c, n=2)
    (root / "alias").symlink_to(root / "clips", target_is_directory=True)
    man = root / "m.csv"
    _csv(man, ["id", "path", "label", "split"], rows)
    return man


def test_a_manifest_reaching_a_test_clip_through_a_link_is_refused_and_inspect_reports_it(tmp_path):
    rows = [["x1", "clips/a", 0, "train"], ["x2", "alias/b", 1, "train"], ["x3", "clips/b", 1, "test"]]
    man = _aliased_manifest(tmp_path, rows)
    with pytest.raises(ValueError, match=r"m\.csv \(split 'train'\) and split 'test' share 1 item\(s\)"):
        FORMATS["manifest"].read(ReadRequest(root=man, split="test"))
    with pytest.raises(ValueError, match=r"share 1 item\(s\)"):
        read_records(DataConfig(format="manifest", root=str(man)), "train")
    report = inspect_dataset("manifest", str(man))
    assert "split overlap: train and test share 1 item(s) (x2)" in report, report
    assert re.search(r"problems: 1\n", report), report


def test_one_manifest_clip_reached_through_a_link_twice_is_refused_naming_both_rows(tmp_path):
    rows = [["x1", "clips/b", 1, "train"], ["x2", "alias/b", 1, "train"], ["x3", "clips/a", 0, "test"]]
    man = _aliased_manifest(tmp_path, rows)
    with pytest.raises(ValueError, match=r"'alias/b' names the same media as 'clips/b'"):
        FORMATS["manifest"].read(ReadRequest(root=man, split="train"))


def test_a_dfew_clip_folder_linked_to_a_training_clip_is_refused(tmp_path):
    _dfew_overlapping(tmp_path, shared=0)
    clip7 = tmp_path / "Clip" / "clip_224x224" / "00007"
    for f in clip7.iterdir():
        f.unlink()
    clip7.rmdir()
    clip7.symlink_to(clip7.parent / "00001", target_is_directory=True)
    with pytest.raises(ValueError, match=r"share 1 item\(s\) \(00007\)"):
        FORMATS["dfew"].read(ReadRequest(root=tmp_path, split="test"))


def test_ferv39k_lists_reaching_one_clip_through_a_link_are_refused(tmp_path):
    for clip in ("Action/Happy/0001", "Action/Sad/0002"):
        _frames(tmp_path / "2_ClipsforFaceCrop" / clip, n=2)
    (tmp_path / "2_ClipsforFaceCrop" / "Action" / "alias").symlink_to("Sad", target_is_directory=True)
    lists = tmp_path / "4_setups" / "All_scenes"
    lists.mkdir(parents=True)
    (lists / "train_All.csv").write_text("Action/Happy/0001 3\nAction/Sad/0002 5\n")
    (lists / "test_All.csv").write_text("Action/alias/0002 5\n")
    with pytest.raises(ValueError, match=r"share 1 item\(s\) \(Action/alias/0002\)"):
        FORMATS["ferv39k"].read(ReadRequest(root=tmp_path, split="test"))
    # one split listing a clip twice, once through the link: one media, refused naming both
    (lists / "test_All.csv").write_text("Action/Happy/0001 3\n")
    (lists / "train_All.csv").write_text("Action/Sad/0002 5\nAction/alias/0002 5\n")
    with pytest.raises(ValueError, match=r"'Action/Sad/0002' and 'Action/alias/0002' are one media"):
        FORMATS["ferv39k"].read(ReadRequest(root=tmp_path, split="train"))


def _ferplus(root: Path) -> tuple[Path, Path, str]:
    """The FER+ folders of tests/data/test_ferplus.py: (train label.csv, test label.csv, a row's votes)."""
    from tests.data.test_ferplus import write_folder_layout

    write_folder_layout(root, box_in=())
    train, test = (root / f / "label.csv" for f in ("FER2013Train", "FER2013Test"))
    return train, test, train.read_text().splitlines()[0].split(",", 1)[1]


@pytest.mark.parametrize("alias", ["./fer0000000.png", "linked.png"])
def test_one_ferplus_image_listed_under_two_names_in_a_split_is_refused_naming_both(tmp_path, alias):
    train, _, votes = _ferplus(tmp_path)
    (tmp_path / "FER2013Train" / "linked.png").symlink_to("fer0000000.png")
    train.write_text(train.read_text() + f"{alias},{votes}\n")
    with pytest.raises(ValueError, match=rf"items 'fer0000000.png' and '{re.escape(alias)}' are one media"):
        FORMATS["ferplus"].read(ReadRequest(root=tmp_path, split="train", num_classes=8))


@pytest.mark.parametrize("alias", ["../FER2013Train/fer0000001.png", "linked.png"])
def test_a_ferplus_test_row_reaching_a_training_image_by_another_name_is_refused(tmp_path, alias):
    _, test, votes = _ferplus(tmp_path)
    (tmp_path / "FER2013Test" / "linked.png").symlink_to("../FER2013Train/fer0000001.png")
    test.write_text(test.read_text() + f"{alias},{votes}\n")
    for split in ("test", "train"):
        with pytest.raises(ValueError, match=r"FER2013(Test|Train)/label.csv and .* share 1 item\(s\)"):
            FORMATS["ferplus"].read(ReadRequest(root=tmp_path, split=split, num_classes=8))
    report = inspect_dataset("ferplus", str(tmp_path))
    assert "split overlap: train and test share 1 item(s) (fer0000001.png)" in report, report


def test_an_afew_val_clip_linked_to_a_train_clip_is_refused_and_inspect_reports_it(tmp_path):
    for split, clip in (("Train", "001"), ("Train", "002"), ("Val", "003")):
        _frames(tmp_path / split / "Happy" / clip, n=2)
    assert [r.id for r in FORMATS["afew"].read(ReadRequest(root=tmp_path, split="Val"))] == ["Happy/003"]
    (tmp_path / "Val" / "Sad").mkdir()
    (tmp_path / "Val" / "Sad" / "002").symlink_to(tmp_path / "Train" / "Happy" / "002")
    with pytest.raises(ValueError, match=r"Val and .*Train share 1 item\(s\) \(Sad/002\)"):
        FORMATS["afew"].read(ReadRequest(root=tmp_path, split="Val"))
    with pytest.raises(ValueError, match=r"Train and .*Val share 1 item\(s\) \(Happy/002\)"):
        read_records(DataConfig(format="afew", root=str(tmp_path)), "Train")
    report = inspect_dataset("afew", str(tmp_path))
    assert "split overlap: Train and Val share 1 item(s) (Happy/002)" in report, report
