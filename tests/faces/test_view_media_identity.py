"""`softfer view` draws a result only over the media it was predicted from, and only a result as predict
writes it (audit 6, F4 and F5).

F4, found: the media were checked by pixel size and frame count only, so a plain red picture of the photo's
size, or a grey video of the clip's size and length, got the five faces' boxes and emotions drawn over it
(exit 0), and so did another file copied to the path ``meta.media`` records. F5, found: a result whose
probabilities were 7 and -3, whose face row was doubled, or whose rows were all removed (``meta.tracks``
listing five faces) gave a page with a 700 % bar, a face twice, or no face, exit 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import av
import numpy as np
import pytest
from PIL import Image

from softfer.cli import main
from softfer.predict import Predictor, predict_media
from softfer.predict.view import read_result, write_view
from tests.faces.test_faces import _checkpoint


@pytest.fixture(scope="module")
def done(media, tmp_path_factory):
    """predict on a group photo and a video (copies), and the predictor (for pixels given in memory)."""
    tmp = tmp_path_factory.mktemp("identity")
    src = tmp / "media"
    src.mkdir()
    shutil.copy(media / "multi_face.jpg", src / "group.jpg")
    shutil.copy(media / "single_face.mp4", src / "clip.mp4")
    predictor = Predictor.from_checkpoint(_checkpoint(tmp / "m.pt"), threads=1)
    predict_media(src, predictor, tmp / "out")
    return {"src": src, "out": tmp / "out", "predictor": predictor}


def _grey_video(path, width: int, height: int, frames: int) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = np.full((height, width, 3), i * 3 % 256, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_predict_records_the_size_and_sha256_of_the_media_file(done):
    for name in ("group.jpg", "clip.mp4"):
        meta = json.loads((done["out"] / f"{name}.json").read_text())["meta"]
        data = (done["src"] / name).read_bytes()
        assert meta["media_identity"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_view_refuses_a_photo_of_the_same_size_that_is_not_the_one_predicted(done, tmp_path):
    meta = json.loads((done["out"] / "group.jpg.json").read_text())["meta"]
    height, width = meta["size"]
    Image.new("RGB", (width, height), (200, 30, 30)).save(tmp_path / "red.jpg")
    argv = ["view", str(done["out"] / "group.jpg.json"), "--media", str(tmp_path / "red.jpg")]
    assert main([*argv, "--out", str(tmp_path / "red.html")]) == 2
    assert not (tmp_path / "red.html").exists()
    red = (tmp_path / "red.jpg").read_bytes()
    said = rf"red\.jpg: {len(red)} bytes, sha256 {hashlib.sha256(red).hexdigest()}, but .*group\.jpg\.json "
    said += rf"was predicted from a file of {meta['media_identity']['bytes']} bytes, sha256 "
    said += meta["media_identity"]["sha256"] + r" .*pass --media the video or photo that was predicted"
    with pytest.raises(ValueError, match=said):
        write_view(done["out"] / "group.jpg.json", tmp_path / "p.html", media=tmp_path / "red.jpg")
    # the photo itself, moved: its bytes are the ones predicted
    shutil.copy(done["src"] / "group.jpg", tmp_path / "moved.jpg")
    assert write_view(done["out"] / "group.jpg.json", tmp_path / "p.html", media=tmp_path / "moved.jpg")


def test_view_refuses_a_video_of_the_same_size_and_length_that_is_not_the_one_predicted(done, tmp_path):
    meta = json.loads((done["out"] / "clip.mp4.json").read_text())["meta"]
    _grey_video(tmp_path / "other.mp4", meta["size"][1], meta["size"][0], meta["frames"])
    with pytest.raises(
        ValueError, match=r"other\.mp4: \d+ bytes, sha256 [0-9a-f]{64}, but .*meta\.media_identity"
    ):
        write_view(done["out"] / "clip.mp4.json", tmp_path / "v.html", media=tmp_path / "other.mp4")
    assert not (tmp_path / "v.html").exists()


def test_view_refuses_another_file_now_at_the_recorded_path(done, tmp_path):
    """The media predicted replaced by another of its size (re-saved, re-encoded) at ``meta.media``."""
    shutil.copytree(done["src"], tmp_path / "media")
    result = json.loads((done["out"] / "group.jpg.json").read_text())
    result["meta"]["media"] = str(tmp_path / "media" / "group.jpg")
    (tmp_path / "r.json").write_text(json.dumps(result))
    assert write_view(tmp_path / "r.json", tmp_path / "ok.html").is_file()
    img = Image.open(tmp_path / "media" / "group.jpg")
    img.save(tmp_path / "media" / "group.jpg", quality=60)  # same pixels' size, other bytes
    with pytest.raises(ValueError, match=r"group\.jpg: \d+ bytes, .*edited or re-encoded since"):
        write_view(tmp_path / "r.json", tmp_path / "p.html")


def test_a_result_of_an_earlier_softfer_is_still_viewable_and_the_log_says_what_is_checked(
    done, tmp_path, caplog
):
    result = json.loads((done["out"] / "group.jpg.json").read_text())
    del result["meta"]["media_identity"]  # as softfer wrote results before it recorded one
    (tmp_path / "old.json").write_text(json.dumps(result))
    caplog.set_level(logging.WARNING)
    assert write_view(tmp_path / "old.json", tmp_path / "old.html").is_file()
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "old.json: written by an earlier softfer" in said[0]
    assert "pixel size and frame count only" in said[0]


def test_pixels_given_in_memory_record_no_identity_and_view_says_so(done, tmp_path, caplog):
    pixels = np.asarray(Image.open(done["src"] / "group.jpg").convert("RGB"))
    prediction = done["predictor"].predict(pixels)
    assert prediction.meta["media_identity"] is None
    prediction.save(tmp_path / "arr")
    assert json.loads((tmp_path / "arr.json").read_text())["meta"]["media_identity"] is None
    caplog.set_level(logging.WARNING)
    assert write_view(tmp_path / "arr.json", tmp_path / "arr.html", media=done["src"] / "group.jpg")
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "predicted from pixels" in said[0] and "no identity" in said[0]


def _edit(done, tmp_path, change) -> tuple:
    result = json.loads((done["out"] / "group.jpg.json").read_text())
    assert len(result["frames"]) >= 2  # the group photo: several faces
    change(result)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(result))
    return path


def _set_p(row: int, values: dict):
    def change(result):
        result["frames"][row].update(values)

    return change


def _shift(result):  # a sum moved by 0.01, every value still in [0, 1]
    row = result["frames"][1]
    key = min((k for k in row if k.startswith("p_")), key=lambda k: row[k])
    row[key] += 0.01


@pytest.mark.parametrize(
    "change, said",
    [
        (_set_p(0, {"p_happy": 7.0}), r"frames\[0\]\.p_happy is 7\.0, but predict writes a probability"),
        (_set_p(0, {"p_sad": -3.0}), r"frames\[0\]\.p_sad is -3\.0, but predict writes a probability"),
        (_set_p(1, {"p_fear": None}), r"frames\[1\]\.p_fear is null, .*null in every p_ column"),
        (_shift, r"frames\[1\]\.p_\* sum to 1\.01, but predict writes probabilities summing to 1"),
        (lambda r: r["frames"].append(dict(r["frames"][0])), r"frames\[\d+\] is frame 0 of face \d+ again"),
        (lambda r: r.update(frames=[]), r"frames holds 0 row\(s\) of face \d+, but meta\.tracks says"),
        (lambda r: r["frames"].pop(1), r"frames holds 0 row\(s\) of face \d+, but meta\.tracks says"),
        (
            _set_p(1, {"track": 99}),
            r"frames\[1\]\.track is 99, but predict writes one of the ids of meta\.tracks",
        ),
        (lambda r: r["meta"]["tracks"].pop(), r"meta\.faces is \d+, but predict writes the number of faces"),
        (lambda r: r["meta"].update(media_identity="x"), r'meta\.media_identity is "x"'),
    ],
)
def test_view_refuses_a_result_whose_rows_predict_did_not_write(done, tmp_path, change, said):
    path = _edit(done, tmp_path, change)
    with pytest.raises(ValueError, match=r"edited\.json: " + said) as caught:
        read_result(path)
    assert "\n" not in str(caught.value) and str(caught.value).endswith("pass a NAME.json from predict")
    argv = ["view", str(path), "--media", str(done["src"] / "group.jpg"), "--out", str(tmp_path / "p.html")]
    assert main(argv) == 2 and not (tmp_path / "p.html").exists()


def test_unclassified_rows_and_predicts_own_results_pass(done, tmp_path):
    """null in every p_ column: a face seen but not classified, kept; predict's own files pass as they are."""

    def unclassified(result):  # as predict writes such a row, and the summary of its face (one frame)
        row = result["frames"][0]
        row.update({k: None for k in row if k.startswith("p_")})
        row.update({"entropy": None, "top": None, "margin": None, "state": "no_face", "second": None})
        [face] = [f for f in result["summary"] if f["track"] == row["track"]]
        face.update({k: None for k in face if k.startswith(("p_", "share_"))})

    path = _edit(done, tmp_path, unclassified)
    assert read_result(path)["frames"][0]["p_happy"] is None
    for name in ("group.jpg.json", "clip.mp4.json"):
        assert read_result(done["out"] / name) == json.loads((done["out"] / name).read_text())
