"""`softfer predict` on a folder: one set of outputs per media file, never overwritten silently."""

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from softfer.cli import main
from softfer.predict import Predictor, output_paths, predict_media
from tests.faces.test_faces import _checkpoint


@pytest.fixture()
def folder(media, tmp_path):
    """x.jpg and x.mp4 (same stem, one photo and one video) and sub/x.jpg, all real faces."""
    src = tmp_path / "media"
    (src / "sub").mkdir(parents=True)
    shutil.copy(media / "single_face.jpg", src / "x.jpg")
    shutil.copy(media / "single_face.mp4", src / "x.mp4")
    shutil.copy(media / "multi_face.jpg", src / "sub" / "x.jpg")
    return src


def test_output_names_keep_the_suffix_and_sub_folder(tmp_path):
    names = {
        p.relative_to(tmp_path).as_posix()
        for n in ("x.jpg", "x.mp4", "sub/x.jpg")
        for p in output_paths(tmp_path, Path(n), annotate=True, html=True)
    }
    tails = (".json", "_frames.csv", "_windows.csv", "_timeline.png", "_summary.csv", ".html")
    expected = {f"{n}{t}" for n in ("x.jpg", "x.mp4", "sub/x.jpg") for t in tails}
    expected |= {"x.mp4_annotated.mp4", "x.jpg_annotated.jpg", "sub/x.jpg_annotated.jpg"}
    assert names == expected


def test_same_stem_photo_and_video_both_kept_and_never_overwritten(folder, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = folder / "predictions"  # inside the media folder: a rerun must not classify its own PNGs
    results = predict_media(folder, Predictor.from_checkpoint(ckpt), out)
    by_media = {r["media"]: r for r in results}
    assert set(by_media) == {str(folder / "x.jpg"), str(folder / "x.mp4"), str(folder / "sub" / "x.jpg")}
    outputs = [p for r in results for p in r["outputs"]]
    assert len(outputs) == len(set(outputs)) == 15
    for name in ("x.jpg", "x.mp4", "sub/x.jpg"):
        saved = json.loads((out / f"{name}.json").read_text())
        assert saved["meta"]["media"] == str(folder / name)
        assert saved["windows"] == by_media[str(folder / name)]["windows"]
        for tail in ("_frames.csv", "_windows.csv", "_timeline.png", "_summary.csv"):
            assert (out / f"{name}{tail}").is_file()
    assert json.loads((out / "x.jpg.json").read_text())["meta"]["faces"] == 1  # the photo's, not the video's
    assert json.loads((out / "sub" / "x.jpg.json").read_text())["meta"]["faces"] == 5
    assert len(json.loads((out / "x.mp4.json").read_text())["windows"]) > 1

    before = {p: (out / p).read_bytes() for p in ("x.jpg.json", "x.mp4_frames.csv")}
    (folder / "x.jpg").unlink()  # a rerun would now differ: prove nothing is touched when it is refused
    shutil.copy(folder / "sub" / "x.jpg", folder / "x.jpg")
    with pytest.raises(ValueError, match=r"x\.jpg\.json.*already exists.*--overwrite"):
        predict_media(folder, Predictor.from_checkpoint(ckpt), out)
    assert {p: (out / p).read_bytes() for p in before} == before

    again = predict_media(folder, Predictor.from_checkpoint(ckpt), out, overwrite=True)
    assert len(again) == 3  # the PNGs under predictions/ were not taken as input
    assert json.loads((out / "x.jpg.json").read_text())["meta"]["faces"] == 5


def test_single_file_refuses_to_overwrite(media, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    out.mkdir()
    (out / "single_face.jpg_frames.csv").write_text("someone else's file")
    with pytest.raises(ValueError, match=r"single_face\.jpg_frames\.csv"):
        predict_media(media / "single_face.jpg", Predictor.from_checkpoint(ckpt), out)
    assert (out / "single_face.jpg_frames.csv").read_text() == "someone else's file"


def test_a_video_without_faces_gives_tables_with_every_column(media, tmp_path):
    # code written for faces (`frames[frames.state == "ambiguous"]`, docs/OUTPUTS.md) must run on a video
    # without any: no rows, but the columns of a video with faces, in the tables and in the CSV files
    predictor = Predictor.from_checkpoint(_checkpoint(tmp_path / "m.pt"))
    empty, faces = predictor.predict(media / "no_face.mp4"), predictor.predict(media / "single_face.mp4")
    assert len(empty.frames) == len(empty.windows) == 0 and len(faces.frames) > 0
    assert list(empty.frames.columns) == list(faces.frames.columns)
    assert list(empty.windows.columns) == list(faces.windows.columns)
    assert empty.frames[empty.frames.state == "ambiguous"].empty
    assert empty.windows[empty.windows.state == "clear"].empty
    empty.save(tmp_path / "out" / "no_face")
    header = (tmp_path / "out" / "no_face_frames.csv").read_text().splitlines()[0]
    assert header.split(",") == list(faces.frames.columns)


def test_saving_twice_from_python_names_the_argument_not_the_command_line_option(tmp_path):
    """Found: a second ``Prediction.save`` said "pass --overwrite", an option of the command line; in
    Python it is the argument ``overwrite=True``."""
    predictor = Predictor.from_checkpoint(_checkpoint(tmp_path / "m.pt"))
    prediction = predictor.predict(np.zeros((64, 64, 3), np.uint8))
    prefix = tmp_path / "out" / "blank"
    written = prediction.save(prefix)
    with pytest.raises(ValueError, match=r"blank\.json.*already exists.*pass overwrite=True") as refused:
        prediction.save(prefix)
    assert "--overwrite" not in str(refused.value)
    assert prediction.save(prefix, overwrite=True) == written


def test_a_file_that_fails_in_a_folder_is_named_once_on_the_console_and_in_the_report(
    tmp_path, capsys, caplog
):
    """Found: `softfer predict FOLDER` printed "mixed/broken.mp4: failed: mixed/broken.mp4: not a readable
    video (... 'mixed/broken.mp4')": the path beside the reason, in it, and in PyAV's message."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    bad = {"broken.mp4": bytes(range(256)) * 12, "broken.jpg": b"not an image at all"}
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--checkpoint", str(ckpt), "--out", str(out)]) == 1
    printed = capsys.readouterr().out.splitlines()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    failed = json.loads((out / "predict_report.json").read_text())["failed"]
    report = {Path(f["media"]).name: f for f in failed}
    assert set(report) == set(bad)
    for name in bad:
        path = str(folder / name)
        assert not [line for line in printed if name in line]  # said once: the error logged (stderr)
        [record] = [m for m in logged if name in m]
        assert record.count(name) == 1, record
        assert report[name]["media"] == path and name not in report[name]["error"]
        assert report[name]["error"] and record == f"{path}: failed: {report[name]['error']}"
    assert report["broken.mp4"]["error"].startswith("not a readable video")


def test_a_rerun_with_overwrite_leaves_no_page_of_the_earlier_run_beside_its_tables(folder, tmp_path, caplog):
    """Found (audit): `predict FOLDER --overwrite` without --html left the earlier run's viewer pages (another
    model's faces) beside the new tables, and a file that failed kept its earlier outputs."""
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    predict_media(folder, Predictor.from_checkpoint(ckpt), out, html=True)
    assert (out / "x.jpg.html").is_file() and (out / "sub" / "x.jpg.html").is_file()
    (out / "notes.html").write_text("mine")  # a user's page: no predict result beside it
    (folder / "sub" / "x.jpg").unlink()  # its results stay, named as not part of the rerun
    (folder / "x.mp4").write_bytes(b"not a video any more")  # fails this time
    with caplog.at_level(logging.WARNING, logger="softfer"):
        results = predict_media(folder, Predictor.from_checkpoint(ckpt), out, overwrite=True)
    assert [("error" in r) for r in results] == [False, True]
    assert not (out / "x.jpg.html").exists() and (out / "x.jpg.json").is_file()
    assert not any(out.glob("x.mp4*"))  # the failed file has no outputs, neither this run's nor older
    assert (out / "notes.html").read_text() == "mine"
    assert (out / "sub" / "x.jpg.json").is_file()
    said = caplog.text
    assert "removed 2 earlier output(s) this run does not write" in said  # x.jpg.html, x.mp4.html
    assert "holds 1 earlier result(s) of media this run was not given" in said


def test_a_file_whose_outputs_cannot_be_named_costs_only_itself(media, tmp_path):
    """Found (audit): a media name too long for its outputs (over 255 bytes) raised again in the clean-up
    (ENAMETOOLONG from unlink) and ended the folder's run: later files never predicted, no report."""
    src = tmp_path / "media"
    src.mkdir()
    shutil.copy(media / "single_face.jpg", src / f"{'a' * 245}.jpg")
    shutil.copy(media / "single_face.jpg", src / "zz.jpg")
    out = tmp_path / "out"
    results = predict_media(src, Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt")), out)
    assert ["error" in r for r in results] == [True, False]
    assert "too long" in results[0]["error"].lower() and (out / "zz.jpg.json").is_file()
    report = json.loads((out / "predict_report.json").read_text())
    assert report["predicted"] == 1 and len(report["failed"]) == 1


def test_save_refuses_a_folder_or_a_written_suffix_as_its_prefix(media, tmp_path):
    """Found (audit): save("out/") wrote out.json beside the folder, save("x.json") wrote x.json.json."""
    result = Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt")).predict(media / "single_face.jpg")
    (tmp_path / "out").mkdir()
    for prefix, said in [
        (tmp_path / "out", "is a folder: save writes files named from the prefix"),
        (f"{tmp_path / 'new'}/", "is a folder"),
        (tmp_path / "x.json", "save adds .json, _frames.csv, ... itself"),
    ]:
        with pytest.raises(ValueError, match=re.escape(said)):
            result.save(prefix)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "out"]
    assert (tmp_path / "y.png.json") in result.save(tmp_path / "y.png")  # a photo's name: its outputs


def test_a_json_beside_the_outputs_that_predict_did_not_write_is_never_replaced(media, tmp_path):
    """Found (review): OUT/x.jpg.json of another program (a photo's sidecar) passed the folder's check,
    and when x.jpg failed with --overwrite the failure handler deleted it."""
    src, out = tmp_path / "media", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    shutil.copy(media / "single_face.jpg", src / "x.jpg")
    (out / "x.jpg.json").write_text('{"title": "my sidecar"}')
    with pytest.raises(ValueError, match=r"x\.jpg\.json exists and is not a file this command writes"):
        predict_media(src, Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt")), out, overwrite=True)
    assert (out / "x.jpg.json").read_text() == '{"title": "my sidecar"}'
