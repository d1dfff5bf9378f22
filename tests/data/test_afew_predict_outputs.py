"""AFEW class folders holding `softfer predict`'s own outputs (audit 7 F10, AFEW's half): an annotated copy
``NAME_annotated.mp4`` beside that run's ``NAME.json`` is no clip, by the rule predict's and preprocess's
listings use (``faces.predict_outputs.is_own_output``); it is skipped and noted, never read as a labelled
clip. A user's own video of the same name without ``NAME.json`` stays a clip."""

from pathlib import Path

from softfer.data.formats import read_afew
from softfer.data.inspect import run_inspection
from softfer.data.records import ReadReport
from tests.data.test_formats import _frames
from tests.robustness.test_data_video import _video


def _with_predict_outputs(root: Path) -> Path:
    """Val/Happy: a clip folder, and predict's annotated copy and timeline of ``v.mp4`` by its JSON."""
    happy = root / "Val" / "Happy"
    _frames(happy / "c1", n=2, size=8)
    _frames(root / "Val" / "Sad" / "c2", n=2, size=8)
    _video(happy / "v.mp4_annotated.mp4", frames=4)
    (happy / "v.mp4.json").write_text("{}")
    _frames(root / "tmp", n=1, size=8)  # a picture to copy as the timeline
    (root / "tmp" / "tmp_00001.jpg").rename(happy / "v.mp4_timeline.png")
    (root / "tmp").rmdir()
    return happy


def test_afew_skips_and_notes_predicts_annotated_copy_in_a_class_folder(tmp_path):
    happy = _with_predict_outputs(tmp_path)
    report = ReadReport()
    records = read_afew(tmp_path, split="Val", report=report)
    assert [r.id for r in records] == ["Happy/c1", "Sad/c2"]
    assert report.notes == [
        f"{happy}: 2 file(s) skipped as `softfer predict`'s own outputs (first: v.mp4_annotated.mp4), not "
        "read as clips: their pixels hold predict's drawings; move predict's outputs out of the data"
    ]  # the timeline is predict's too: not noted as a clip's loose frame
    problems = run_inspection("afew", str(tmp_path)).problems
    assert sum("own outputs" in p for p in problems) == 1, problems


def test_afew_reads_a_video_named_like_an_annotated_copy_without_its_json(tmp_path):
    happy = _with_predict_outputs(tmp_path)
    (happy / "v.mp4.json").unlink()  # no predict run beside it: the user's own video
    report = ReadReport()
    records = read_afew(tmp_path, split="Val", report=report)
    assert [r.id for r in records] == ["Happy/c1", "Happy/v.mp4_annotated", "Sad/c2"]
    assert records[1].is_video_file
    assert len(report.notes) == 1 and "1 image file(s) directly in the class folder" in report.notes[0]
