"""Decoding, detection, tracking, alignment, preprocessing and prediction on real photos and videos."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.config import ExperimentConfig
from softfer.faces.align import TEMPLATE, align_face
from softfer.faces.detect import FaceDetector
from softfer.faces.preprocess import FaceOptions, preprocess_videos
from softfer.faces.track import track_main_face
from softfer.inference.checkpoint import save_checkpoint
from softfer.io.video import iter_frames, read_at_times, read_frames, video_info
from softfer.models import create_model
from softfer.predict import SYNTHETIC_NOTE, Predictor, predict_media


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(max_side=320, min_face=40)


def test_decode_timestamps_and_exact_seeking(media):
    info = video_info(media / "single_face.mp4")
    assert info.num_frames == 72 and info.width == 640 and info.height == 360
    assert np.all(np.diff(info.timestamps) > 0)
    frames = list(iter_frames(media / "single_face.mp4"))
    for t in (0.0, 1.0, 1.51, 2.3):
        k = int(np.searchsorted(info.timestamps, t + 1e-6, side="right") - 1)  # frame shown at time t
        np.testing.assert_array_equal(read_at_times(media / "single_face.mp4", [t])[0], frames[k][1])
    picked = read_frames(media / "single_face.mp4", [5, 0, 5])
    assert picked.shape == (3, 3, 360, 640)
    assert torch.equal(picked[0], torch.from_numpy(frames[5][1]).permute(2, 0, 1))


def test_bad_media_errors_name_the_file(media, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(ValueError, match=r"notes\.mp4"):
        video_info(fake)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((media / "single_face.mp4").read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"cut\.mp4"):
        video_info(truncated)


def test_five_faces_in_multi_face(media, detector):
    img = np.asarray(Image.open(media / "multi_face.jpg").convert("RGB"))
    assert len(FaceDetector(max_side=None, min_face=20).detect([img])[0]) == 5


def test_no_face_in_no_face_video(media, detector):
    track = track_main_face(iter_frames(media / "no_face.mp4"), detector)
    assert len(track.times) == 95 and not track.present.any()


@pytest.mark.parametrize(
    ("name", "present_until", "absent_until"),
    [("face_noface.mov", 2.37, None), ("noface_face.mov", None, 3.93)],
)
def test_face_and_no_face_stretches(media, detector, name, present_until, absent_until):
    track = track_main_face(iter_frames(media / name), detector, every=5)
    t, present = track.times, track.present
    if present_until is not None:  # the face leaves at ~2.4 s (a cut to black, then titles)
        assert present[t <= present_until - 0.05].all()
        assert not present[t >= present_until + 0.05].any()
    if absent_until is not None:  # titles until ~3.95 s, then the face (the very last frame is black)
        assert not present[t <= absent_until - 0.05].any()
        assert present[(t >= absent_until + 0.1) & (t < 6.3)].all()


def _face_at(media, w: int, h: int) -> np.ndarray:
    """single_face.jpg's face (a 300 px square around it) resized to w x h."""
    photo = Image.open(media / "single_face.jpg").convert("RGB")
    return np.asarray(photo.crop((130, 120, 430, 420)).resize((w, h), Image.BILINEAR))


TINY = [(39, 39), (32, 32), (16, 16), (40, 24), (1, 60), (60, 1), (1200, 30)]


@pytest.mark.parametrize("size", TINY, ids=lambda s: f"{s[0]}x{s[1]}")
def test_frames_too_small_for_the_smallest_face_have_no_faces(media, size):
    """Under min_face pixels at detection resolution (1200 x 30 is detected at 320 x 8) MTCNN's pyramid has
    no level: no faces, where facenet raised; at min_face the face is found."""
    detector = FaceDetector(max_side=320, min_face=40)
    tiny = _face_at(media, *size)
    assert detector.detect([tiny]) == [[]] and detector.detect([tiny, tiny]) == [[], []]
    assert len(detector.detect([_face_at(media, 40, 40)])[0]) == 1


def test_predict_on_tiny_media_writes_its_outputs_with_no_face(media, tmp_path):
    predictor = Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt"))
    frames = np.stack([_face_at(media, 32, 32)] * 6)
    for result in (predictor.predict(frames[0]), predictor.predict(frames, fps=6)):
        assert result.meta["faces"] == 0 and result.meta["size"] == [32, 32]
        assert result.frames.empty and result.windows.empty  # as for any media without a face
    Image.fromarray(frames[0]).save(tmp_path / "tiny.png")
    [photo] = predict_media(tmp_path / "tiny.png", predictor, tmp_path / "out")
    assert photo["faces"] == 0 and photo["frames"] == 1 and len(photo["outputs"]) == 5
    assert all(Path(f).is_file() for f in photo["outputs"])


def test_alignment_puts_eyes_on_the_template(media):
    img = np.asarray(Image.open(media / "single_face.jpg").convert("RGB"))
    det = FaceDetector(max_side=None)
    face = det.detect([img])[0][0]
    crop = align_face(img, face.landmarks, 224)
    again = det.detect([crop])[0][0]
    error = np.linalg.norm(again.landmarks[:2] - TEMPLATE[:2] * 224, axis=1)
    assert error.max() < 4.0, error


CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def _checkpoint(path, *, synthetic=True):
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 8}}}
    )
    model = create_model("tsm_r18", num_classes=7, width=8)
    save_checkpoint(
        {
            "model": model.state_dict(),
            "config": cfg.model_dump(mode="json"),
            "classes": ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"],
            "trained_on": {"format": "dfew", "synthetic": synthetic},
        },
        path,
    )
    return path


def test_predict_timeline_covers_the_whole_video(media, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt")
    [result] = predict_media(
        media / "WolfgangLanger_Pexels.mp4", Predictor.from_checkpoint(ckpt), tmp_path / "out"
    )
    assert result["faces"] == 1
    wins = result["windows"]
    assert wins[0]["start"] == 0.0
    assert wins[-1]["end"] == pytest.approx(result["duration"], abs=1e-6)
    assert result["duration"] == pytest.approx(19.7, abs=0.1)
    starts = np.array([w["start"] for w in wins[:-1]])  # the last window is aligned to the video's end
    np.testing.assert_allclose(np.diff(starts), 0.5)
    probs = np.array([[w[f"p_{c}"] for c in CLASSES] for w in wins], dtype=float)
    known = ~np.isnan(probs).any(axis=1)
    assert known.mean() >= 0.9
    np.testing.assert_allclose(probs[known].sum(axis=1), 1.0, atol=1e-5)
    assert result["note"] == SYNTHETIC_NOTE
    for f in result["outputs"]:
        assert Path(f).is_file()
    saved = json.loads((tmp_path / "out" / "WolfgangLanger_Pexels.mp4.json").read_text())
    assert saved["windows"] == wins and saved["meta"]["note"] == SYNTHETIC_NOTE


def test_predict_photo_and_bad_inputs(media, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt")
    predictor = Predictor.from_checkpoint(ckpt)
    [photo] = predict_media(media / "single_face.jpg", predictor, tmp_path / "out")
    assert photo["faces"] == 1 and len(photo["windows"]) == 1
    assert sum(photo["windows"][0][f"p_{c}"] for c in CLASSES) == pytest.approx(1.0, abs=1e-5)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match=r"broken\.jpg"):
        predict_media(bad, predictor, tmp_path / "out2")
    assert not any((tmp_path / "out2").glob("broken*")) if (tmp_path / "out2").exists() else True
    other = tmp_path / "resnet.pt"
    torch.save(create_model("r3d_18").state_dict(), other)
    with pytest.raises(ValueError, match="not a softfer checkpoint"):
        Predictor.from_checkpoint(other)
    wrong = tmp_path / "wrong.pt"
    state = torch.load(ckpt, weights_only=True)
    state["classes"] = state["classes"][:5]
    torch.save(state, wrong)
    with pytest.raises(ValueError, match=r"wrong\.pt: weights do not match"):
        Predictor.from_checkpoint(wrong)


def test_preprocess_folder_report(media, tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "single_face.mp4", src / "a.mp4")
    shutil.copy(media / "no_face.mp4", src / "b.mp4")
    (src / "c.mp4").write_text("not a video")
    report = preprocess_videos(src, tmp_path / "out", options=FaceOptions(size=112))
    assert report["clips_written"] == 1 and report["no_face"] == [str(src / "b.mp4")]
    assert len(report["failed"]) == 1 and "c.mp4" in report["failed"][0]["error"]
    frames = sorted((tmp_path / "out" / "Clip" / "clip_112x112" / "00001").glob("*.jpg"))
    assert len(frames) == report["frames_with_face"] == 72
    assert Image.open(frames[0]).size == (112, 112)
    assert not list((tmp_path / "out" / "Clip" / "clip_112x112").glob(".*partial"))
    assert (tmp_path / "out" / "manifest.csv").read_text().count("\n") == 2


def test_clip_dataset_reads_video_files(media):
    from softfer.data.datasets import ClipDataset
    from softfer.data.records import Record

    rec = Record(id="clip", path=media / "single_face.mp4", label=0)
    item = ClipDataset([rec], num_classes=7, train=False, size=32, segments=4)[0]
    assert item["clips"].shape == (4, 3, 32, 32) and item["clips"].dtype == torch.uint8
    assert rec.meta["num_frames"] == 72


def test_display_rotation_is_applied():
    from softfer.io.video import _rotation, _to_rgb

    class Frame:  # what PyAV reports for a portrait phone video (display matrix: -90 degrees)
        rotation = -90.0

        def to_ndarray(self, format):
            img = np.zeros((2, 3, 3), np.uint8)
            img[0, 0] = 255  # top-left pixel marked
            return img

    out = _to_rgb(Frame(), _rotation(Frame()))
    assert out.shape == (3, 2, 3)  # landscape buffer shown as portrait
    assert out[0, 1, 0] == 255  # rotated 90 degrees clockwise: top-left goes to top-right
