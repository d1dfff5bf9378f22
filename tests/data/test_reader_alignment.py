"""Audit 7 reader fixes (F1, F2, F4, F5, F6, F14): frames in temporal order, FER+ rows checked against
their image names, FERV39k labels against their class folders, AFEW media no clip holds, Former-DFER frame
counts, and face boxes mostly outside their image. Each case is a small hand-made tree; expected values
are written out by hand."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.data.formats import read_afew, read_affwild, read_ferv39k
from softfer.data.formats.ferplus import read_ferplus
from softfer.data.formats.former_dfer import read_former_dfer_list
from softfer.data.inspect import run_inspection
from softfer.data.records import ReadReport, frame_index, image_region
from softfer.io.errors import MediaError
from tests.data.test_ferplus import ROWS, write_csv_layout
from tests.data.test_formats import _frames
from tests.data.test_readers_issue12 import TWO_CLASS_STATS


def _named_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(folder / name)


# --- F1: frame order --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected",
    [
        [f"{k}.jpg" for k in range(1, 13)],  # ffmpeg's %d: plain text order put 10, 11, 12 before 2
        [f"frame_{k:05d}.jpg" for k in range(1, 13)],  # zero-padded: text order, unchanged
        ["a.jpg", "b.jpg", "c.png"],  # no number: text order
        ["clip2_9.jpg", "clip2_10.jpg", "clip10_1.jpg"],  # every number compared as a number
        ["01.jpg", "1.jpg", "2.jpg"],  # equal numbers: text decides
    ],
)
def test_frame_index_orders_numbered_frames_as_a_person_reads_them(tmp_path, expected):
    _named_frames(tmp_path / "clip", list(reversed(expected)))
    assert frame_index(tmp_path / "clip") == tuple(expected)


def test_affwild_pairs_frame_k_named_k_jpg_with_line_k_of_its_annotations(tmp_path):
    # 12 frames named as ffmpeg's %d names them; line k holds valence k/20, so each frame names its value.
    for name in ("valence", "arousal"):
        (tmp_path / "annotations" / name).mkdir(parents=True)
    for v in range(10):
        video = f"v{v}"
        for name in ("valence", "arousal"):
            text = "\n".join(f"{k / 20}" if name == "valence" else "0" for k in range(1, 13))
            (tmp_path / "annotations" / name / f"{video}.txt").write_text(text + "\n")
        _named_frames(tmp_path / "frames" / video, [f"{k}.jpg" for k in range(1, 13)])
    records = read_affwild(tmp_path, TWO_CLASS_STATS, split="train")
    records += read_affwild(tmp_path, TWO_CLASS_STATS, split="test")
    assert len(records) == 120
    for r in records:
        k = int(r.path.stem)
        assert r.va[0] == pytest.approx(k / 20), r.id  # before the fix 10.jpg took line 2's value


# --- F2: FER+ rows against their image names --------------------------------------------------------


def test_ferplus_rows_reordered_within_a_usage_block_are_refused_naming_both_names(tmp_path):
    swapped = [ROWS[1], ROWS[0], *ROWS[2:]]  # both Training: the Usage check cannot see it
    write_csv_layout(tmp_path, swapped)
    with pytest.raises(
        ValueError,
        match=r"fer2013new\.csv:line 2: image name 'fer0000001\.png' is paired by position with line 2 of "
        r"fer2013\.csv, whose face \(row 0, counted from 0\) FER\+ names 'fer0000000\.png': the files "
        r"are not aligned",
    ):
        read_ferplus(tmp_path, split="val")  # any split: the alignment of every row is checked


def test_ferplus_rows_in_their_own_order_still_read(tmp_path):
    write_csv_layout(tmp_path)
    ids = [r.id for r in read_ferplus(tmp_path, split="test")]
    assert ids == ["fer0000009.png", "fer0000010.png"]


# --- F14: FERV39k labels against their clip's class folder -----------------------------------------


def _ferv39k(root: Path, lines: list[str], split: str = "train") -> None:
    (root / "4_setups" / "All_scenes").mkdir(parents=True, exist_ok=True)
    (root / "4_setups" / "All_scenes" / f"{split}_All.csv").write_text("\n".join(lines) + "\n")
    for line in lines:
        _frames(root / "2_ClipsforFaceCrop" / line.split()[0], n=2, size=8)


def test_ferv39k_label_contradicting_its_class_folder_is_refused_naming_the_row(tmp_path):
    _ferv39k(tmp_path, ["Action/Happy/0001 Happy", "Action/Fear/0001 Happy"])
    with pytest.raises(
        ValueError,
        match=r"train_All\.csv:line 2: clip 'Action/Fear/0001' lies in the 'Fear' class folder but is "
        r"labelled 'happy'",
    ):
        read_ferv39k(tmp_path, split="train")


def test_ferv39k_labels_agreeing_with_their_folder_or_without_one_are_read(tmp_path):
    # names, FERV39k-order indices (2 = Fear) and folders naming no class
    _ferv39k(tmp_path, ["Action/Fear/0001 Fear", "Action/Fear/0002 2", "Misc/Clips/0003 Happy"])
    got = {r.id: r.label for r in read_ferv39k(tmp_path, split="train")}
    assert got == {"Action/Fear/0001": 6, "Action/Fear/0002": 6, "Misc/Clips/0003": 0}  # DFEW order


# --- F3: inspect reads the FERV39k-Plus vote table train reads ----------------------------------------

PLUS_VOTES_NAME = "ferv39k_plus_votes.csv"  # the name synth writes and the MIDAS configs give
PLUS_HEADER = ["clip", "Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def _ferv39k_plus(root: Path, header: list[str]) -> None:
    clips = {s: [f"Action/{c}/{s}{k}" for c in ("Happy", "Neutral") for k in range(4)] for s in ("tr", "te")}
    _ferv39k(root, [f"{c} {c.split('/')[1]}" for c in clips["tr"]], "train")
    _ferv39k(root, [f"{c} {c.split('/')[1]}" for c in clips["te"]], "test")
    rows = [header]  # 8 votes for the clip's own class, 2 for the other one
    for c in clips["tr"] + clips["te"]:
        happy = c.split("/")[1] == "Happy"
        rows.append([c, 0, 0, 0, 8 if happy else 2, 2 if happy else 8, 0, 0])
    (root / PLUS_VOTES_NAME).write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")


def test_inspect_reads_the_ferv39k_plus_votes_in_the_root_and_warns_on_swapped_headers(tmp_path):
    swapped = [{"Happy": "Neutral", "Neutral": "Happy"}.get(h, h) for h in PLUS_HEADER]
    _ferv39k_plus(tmp_path, swapped)
    found = run_inspection("ferv39k", str(tmp_path))
    assert (
        f"soft labels (FERV39k-Plus): {tmp_path / PLUS_VOTES_NAME}, found in the root and read" in found.text
    )
    warnings = [p for p in found.problems if "of its labels are not their votes' argmax" in p]
    assert len(warnings) == 2, found.problems  # train and test: every label disagrees with its votes


def test_inspect_of_ferv39k_plus_votes_in_their_own_order_finds_no_problem(tmp_path):
    _ferv39k_plus(tmp_path, PLUS_HEADER)
    found = run_inspection("ferv39k", str(tmp_path))
    assert found.problems == [] and "0.0% of 8 labels disagree" in found.text, found.text
    (tmp_path / PLUS_VOTES_NAME).unlink()
    text = run_inspection("ferv39k", str(tmp_path)).text
    assert f"soft labels (FERV39k-Plus): none ({PLUS_VOTES_NAME} is not in the root)" in text


# --- F4: AFEW media no clip holds -------------------------------------------------------------------


def test_afew_loose_frames_and_class_folders_beside_the_splits_are_noted_and_inspected(tmp_path):
    _frames(tmp_path / "Train" / "Happy" / "c1", n=2, size=8)
    _named_frames(tmp_path / "Train" / "Happy", ["c2_00001.jpg", "c2_00002.jpg"])  # a clip flattened
    _frames(tmp_path / "Val" / "Fear" / "c3", n=2, size=8)
    _frames(tmp_path / "Fear" / "c4", n=2, size=8)  # beside Train/ and Val/
    report = ReadReport()
    records = read_afew(tmp_path, split="Train", report=report)
    assert [r.id for r in records] == ["Happy/c1"]
    assert len(report.notes) == 2, report.notes
    assert "Train/Happy: 2 image file(s) directly in the class folder" in report.notes[0]
    assert f"{tmp_path / 'Fear'}: a class folder beside the split folders" in report.notes[1]
    problems = run_inspection("afew", str(tmp_path)).problems
    assert sum("directly in the class folder" in p for p in problems) == 1, problems
    assert sum("beside the split folders" in p for p in problems) == 2, problems  # Train and Val reads


def test_afew_copy_without_stray_media_has_no_notes(tmp_path):
    _frames(tmp_path / "Train" / "Happy" / "c1", n=2, size=8)
    _frames(tmp_path / "Val" / "Fear" / "c3", n=2, size=8)
    report = ReadReport()
    read_afew(tmp_path, split="Val", report=report)
    assert report.notes == []


# --- F5: Former-DFER frame counts -------------------------------------------------------------------


def test_former_dfer_frame_count_differing_from_the_folder_is_noted(tmp_path):
    _frames(tmp_path / "clips" / "a", n=5, size=8)
    _frames(tmp_path / "clips" / "b", n=5, size=8)
    (tmp_path / "train.txt").write_text("clips/a 999 0\nclips/b 5 1\n")
    report = ReadReport()
    records = read_former_dfer_list(tmp_path / "train.txt", report=report)
    assert [r.id for r in records] == ["clips/a", "clips/b"]
    where = f"{tmp_path.name}/train.txt:line 1"
    assert report.notes == [f"{where}: clips/a lists 999 frames but its folder holds 5"]
    problems = run_inspection("former_dfer", str(tmp_path)).problems
    assert any("clips/a lists 999 frames but its folder holds 5" in p for p in problems), problems


@pytest.mark.parametrize("count", ["0", "-5"])
def test_former_dfer_frame_count_below_one_is_refused(tmp_path, count):
    _frames(tmp_path / "clips" / "a", n=5, size=8)
    (tmp_path / "train.txt").write_text(f"clips/a {count} 0\n")
    with pytest.raises(ValueError, match=rf"train\.txt:line 1: num_frames {count} is not a frame count"):
        read_former_dfer_list(tmp_path / "train.txt")


# --- F6: face boxes mostly outside their image ------------------------------------------------------


def _png(size: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "box",
    [(0, 0, 100000, 100000), (0, 0, 48, 9999), (25, 0, 48, 48)],  # the last: 23 of 48 columns inside
)
def test_a_face_box_mostly_outside_its_image_is_refused_never_the_whole_photo(box):
    with pytest.raises(MediaError, match=r"x\.png: face box .* lies mostly outside the 48x48 image"):
        image_region(_png(), "x.png", box)


@pytest.mark.parametrize(
    ("box", "region"),
    [
        ((-3, -3, 52, 52), (0, 0, 48, 48)),  # a few px over every edge: clipped (AffectNet's boxes do)
        ((24, 0, 48, 48), (24, 0, 48, 48)),  # exactly half inside: kept
        ((10, 10, 20, 20), (10, 10, 30, 30)),
    ],
)
def test_a_face_box_mostly_inside_its_image_is_clipped(box, region):
    assert image_region(_png(), "x.png", box) == (48, 48, *region)


def test_data_inspect_takes_the_soft_labels_train_reads(tmp_path, capsys):
    """`data inspect ferv39k ROOT --soft-labels FILE` checks the table a config's data.soft_labels names."""
    from softfer.cli import main

    swapped = [{"Happy": "Neutral", "Neutral": "Happy"}.get(h, h) for h in PLUS_HEADER]
    _ferv39k_plus(tmp_path, swapped)
    votes = tmp_path.parent / f"{tmp_path.name}_votes.csv"
    (tmp_path / PLUS_VOTES_NAME).rename(votes)
    assert main(["data", "inspect", "ferv39k", str(tmp_path), "--soft-labels", str(votes)]) == 1
    out = capsys.readouterr().out
    assert f"soft labels (FERV39k-Plus): {votes}" in out and "not their votes' argmax" in out
    assert main(["data", "inspect", "dfew", str(tmp_path), "--soft-labels", str(votes)]) == 2
    assert "only the ferv39k format reads a FERV39k-Plus vote table" in capsys.readouterr().err
