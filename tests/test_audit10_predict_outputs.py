"""Audit 10 G2: `softfer predict`'s own pictures (``NAME_timeline.png``, ``NAME_annotated.jpg`` beside that
run's ``NAME.json``: ``faces.predict_outputs.is_own_output``) inside a frame folder are no frames, and a
folder holding nothing else is no clip. One rule for every reader's frame folder (``records.frame_index``):
left out and reported (``data inspect`` lists it, reading logs it), never fed to a model as a face. Data
without such files reads (and fingerprints) as before."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.data.fingerprint import split_fingerprint
from softfer.data.formats import read_afew, read_affwild, read_dfew, read_manifest
from softfer.data.inspect import run_inspection
from softfer.data.records import ReadReport
from softfer.data.synthetic.generate import generate_dfew
from softfer.labels.affect import AffectStats

OWN = "`softfer predict`'s own outputs"


def _frames(folder: Path, n: int = 3) -> list[str]:
    """``n`` frames named as DFEW's (zero-padded: text order is temporal order); their names in order."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{folder.name}_{i + 1:05d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / name)
    return names


def _predict_outputs(folder: Path, name: str = "face.jpg") -> None:
    """What `softfer predict NAME --out folder` writes: NAME.json, its tables, a timeline and a picture."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text("{}")
    (folder / f"{name}_frames.csv").write_text("time\n0\n")
    plot = Image.fromarray(np.full((8, 8, 3), 255, np.uint8))
    plot.save(folder / f"{name}_timeline.png")
    plot.save(folder / f"{name}_annotated.jpg")


def test_dfew_clip_keeps_its_frames_and_fingerprint_with_predict_outputs_inside(tmp_path):
    root = tmp_path / "d"
    generate_dfew(root, clips=10, size=16, seed=1, workers=1)
    clean = read_dfew(root, fold=1, split="test")
    folder = clean[0].path
    expected = tuple(sorted(p.name for p in folder.iterdir()))  # the generator's zero-padded frames
    before = split_fingerprint(clean, "test")
    _predict_outputs(folder, name=f"{clean[0].id}_00001.jpg")  # predict run on a frame, --out its folder

    report = ReadReport()
    records = read_dfew(root, fold=1, split="test", report=report)
    assert records[0].frames == expected
    assert split_fingerprint(records, "test") == before  # the outputs are not data: the run is the same
    assert len(report.notes) == 1
    assert report.notes[0].startswith(f"{clean[0].id}: 2 file(s) left out as {OWN}, not frames (first: ")
    assert not report.skipped


def test_manifest_clip_of_predict_outputs_only_is_skipped_naming_them(tmp_path, caplog):
    _frames(tmp_path / "clips" / "a")
    b = _frames(tmp_path / "clips" / "b")
    _predict_outputs(tmp_path / "clips" / "b")
    _predict_outputs(tmp_path / "clips" / "c")  # `predict --out clips/c`: no frame at all
    (tmp_path / "m.csv").write_text("path,label\nclips/a,happy\nclips/b,sad\nclips/c,sad\n")

    report = ReadReport()
    with caplog.at_level(logging.WARNING):
        records = read_manifest(tmp_path / "m.csv", max_skip=0.5, report=report)
    assert [(r.id, r.frames) for r in records] == [
        ("clips/a", ("a_00001.jpg", "a_00002.jpg", "a_00003.jpg")),
        ("clips/b", tuple(b)),
    ]
    assert report.skipped == [
        f"clips/c: frame folder holds no frame, only {OWN} (first: face.jpg_annotated.jpg) "
        f"({tmp_path / 'clips' / 'c'})"
    ]
    assert [n.split(":")[0] for n in report.notes] == ["clips/b"]
    # logged once (the summary line after it quotes the first note)
    assert sum(m.startswith(f"{tmp_path / 'm.csv'}: clips/b: 2 file(s)") for m in caplog.messages) == 1
    with pytest.raises(ValueError, match=r"1 of 3 clips have unusable media.*only `softfer predict`"):
        read_manifest(tmp_path / "m.csv")  # the default cap: a labelled clip without frames is refused
    problems = run_inspection("manifest", str(tmp_path / "m.csv")).problems
    assert sum(OWN in p for p in problems) == 2, problems


def test_afew_folder_of_predict_outputs_is_no_clip_and_clip_frames_leave_them_out(tmp_path):
    _frames(tmp_path / "Val" / "Happy" / "c1")
    c2 = _frames(tmp_path / "Val" / "Sad" / "c2")
    pred = tmp_path / "Val" / "Happy" / "pred"
    _predict_outputs(pred)  # `softfer predict face.jpg --out AFEW/Val/Happy/pred`
    _predict_outputs(tmp_path / "Val" / "Sad" / "c2", name="c2_00001.jpg")

    report = ReadReport()
    records = read_afew(tmp_path, split="Val", report=report)
    assert [(r.id, r.frames) for r in records] == [
        ("Happy/c1", ("c1_00001.jpg", "c1_00002.jpg", "c1_00003.jpg")),
        ("Sad/c2", tuple(c2)),
    ]
    assert report.notes == [
        f"{pred}: a folder holding no frame, only {OWN}, is no clip and is not read; move predict's outputs "
        "out of the data",
        f"Sad/c2: 2 file(s) left out as {OWN}, not frames (first: c2_00001.jpg_annotated.jpg): their pixels "
        "hold predict's drawings; move predict's outputs out of the data",
    ]
    assert not report.skipped  # no clip lost: the folder was never one
    problems = run_inspection("afew", str(tmp_path)).problems
    assert sum(OWN in p for p in problems) == 2, problems


def test_affwild_frame_folder_leaves_out_predict_outputs(tmp_path):
    stats = AffectStats(
        np.full(2, 0.5), np.array([[0.5, 0.5], [-0.5, -0.5]]), np.stack([np.eye(2) * 0.05] * 2), np.ones(2)
    )
    for name in ("valence", "arousal"):
        (tmp_path / "annotations" / name).mkdir(parents=True)
        (tmp_path / "annotations" / name / "v1.txt").write_text("0.6\n-0.4\n")
    names = _frames(tmp_path / "frames" / "v1", n=2)
    _predict_outputs(tmp_path / "frames" / "v1", name=names[0])
    records = read_affwild(tmp_path, stats, split="train", test_share=0.0)  # was: 4 frames, 2 values
    assert [r.path.name for r in records] == names
    report = ReadReport()
    read_affwild(tmp_path, stats, split="train", test_share=0.0, report=report)
    assert len(report.notes) == 1 and report.notes[0].startswith(f"v1: 2 file(s) left out as {OWN}")


def test_a_users_pictures_named_like_predicts_without_its_json_stay_frames(tmp_path):
    names = _frames(tmp_path / "clips" / "a", n=2)
    _predict_outputs(tmp_path / "clips" / "a", name="x")
    (tmp_path / "clips" / "a" / "x.json").unlink()  # no predict run beside them: the user's own pictures
    (tmp_path / "m.csv").write_text("path,label\nclips/a,happy\n")
    report = ReadReport()
    records = read_manifest(tmp_path / "m.csv", report=report)
    assert records[0].frames == (*names, "x_annotated.jpg", "x_timeline.png")
    assert not report.notes
