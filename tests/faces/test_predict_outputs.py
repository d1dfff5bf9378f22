"""`softfer predict` on a folder: one set of outputs per media file, never overwritten silently."""

import json
import shutil
from pathlib import Path

import pytest

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
