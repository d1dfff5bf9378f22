"""Audit 11 G6, G8, L7, L8: `softfer preprocess`.

G6: in the folders and mirror layouts the "-2" that makes a name unique was handed out in sorted order on
every run, so a video added or removed beside one of the same stem moved another video into its clip
folder, and a folder an earlier manifest listed was left on disk unlisted (the AFEW reader read it as a
second clip). Now every layout keeps each video's clip id from OUT/manifest.csv (the dfew layout's rule).
G8: `--device gpu|cuda` (no GPU) ended in torch's RuntimeError, exit 1. L7: photos in a folder of videos
were dropped without a word. L8: a zero-byte video was "Invalid data found when processing input".

Detection is replaced by a detector that finds one fixed face in every frame (as in
tests/robustness/test_preprocess.py), so every decoded frame becomes a crop: each clip folder's frame
count tells which video it holds, independently of the manifest.
"""

import csv
import logging

import av
import numpy as np
import pytest
import torch

from softfer.cli import main
from softfer.faces.preprocess import FaceOptions, clip_names, preprocess_videos
from softfer.faces.preprocess_manifest import video_key
from softfer.io.video import VideoError, iter_frames
from tests.cli.test_quiet import handler_reset  # noqa: F401  (the logging handler left as found)
from tests.robustness.test_preprocess import _OneFaceEverywhere


@pytest.fixture
def opts(monkeypatch) -> FaceOptions:
    monkeypatch.setattr(FaceOptions, "detector", lambda self: _OneFaceEverywhere())
    return FaceOptions(size=16)


def _video(path, frames: int) -> None:
    """A tiny video of ``frames`` frames (its frame count identifies it in the clips)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi" if path.suffix == ".avi" else "mp4") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), 40 * i % 256, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())


def _manifest(out) -> dict[str, str]:
    """clip folder (path below OUT) -> the name of its video."""
    with (out / "manifest.csv").open(newline="") as f:
        return {r["path"]: r["source"].rsplit("/", 1)[-1] for r in csv.DictReader(f)}


def _on_disk(root) -> dict[str, int]:
    """Every clip folder below ``root`` (a folder holding .jpg files) -> its number of frames."""
    return {
        d.relative_to(root).as_posix(): n
        for d in root.rglob("*")
        if d.is_dir() and (n := sum(1 for p in d.iterdir() if p.suffix == ".jpg"))
    }


def test_mirror_a_video_keeps_its_clip_when_one_of_its_stem_comes_and_goes(tmp_path, opts, caplog):
    """The audit's case: x.mp4 is Val/Angry/x; x.avi added took x (x.mp4 moved to x-2); x.avi removed, x-2
    stayed unlisted and was read as a second clip."""
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "Val" / "Angry" / "x.mp4", 3)
    preprocess_videos(src, out, layout="mirror", options=opts)
    assert _on_disk(out) == {"Val/Angry/x": 3}

    _video(src / "Val" / "Angry" / "x.avi", 2)
    preprocess_videos(src, out, layout="mirror", options=opts, overwrite=True)
    # hand-computed: x.mp4 keeps x (its 3 frames), the new x.avi gets the next free name
    assert _on_disk(out) == {"Val/Angry/x": 3, "Val/Angry/x-2": 2}
    assert _manifest(out) == {"Val/Angry/x": "x.mp4", "Val/Angry/x-2": "x.avi"}

    (src / "Val" / "Angry" / "x.avi").unlink()
    with caplog.at_level(logging.WARNING):
        report = preprocess_videos(src, out, layout="mirror", options=opts, overwrite=True)
    # every clip folder on disk is listed, with its own video: x-2 is x.avi's, kept as the dfew layout does
    assert _on_disk(out) == {"Val/Angry/x": 3, "Val/Angry/x-2": 2}
    assert _manifest(out) == {"Val/Angry/x": "x.mp4", "Val/Angry/x-2": "x.avi"}
    assert report["earlier_clips_kept"] == 1 and report["clips_written"] == 1
    assert "1 earlier clip(s) not written again kept" in caplog.text

    _video(src / "Val" / "Angry" / "x.mov", 4)  # a new video never gets the kept clip's name
    preprocess_videos(src, out, layout="mirror", options=opts, overwrite=True)
    assert _on_disk(out) == {"Val/Angry/x": 3, "Val/Angry/x-2": 2, "Val/Angry/x-3": 4}
    assert _manifest(out)["Val/Angry/x-3"] == "x.mov"


def test_folders_names_that_sanitise_alike_stay_with_their_videos(tmp_path, opts):
    """The audit's v4: a.mp4, a.mov, "a .mp4", a_.mp4 (two pairs of names equal once made safe)."""
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "a.mp4", 2)
    _video(src / "a_.mp4", 3)
    preprocess_videos(src, out, layout="folders", options=opts)
    assert _on_disk(out / "frames") == {"a": 2, "a_": 3}

    _video(src / "a.mov", 4)
    _video(src / "a .mp4", 5)
    preprocess_videos(src, out, layout="folders", options=opts, overwrite=True)
    # sorted order alone gave a .mp4 -> a_, a.mov -> a: both earlier clips passed to other videos
    assert _on_disk(out / "frames") == {"a": 2, "a_": 3, "a_-2": 5, "a-2": 4}

    (src / "a.mov").unlink()
    report = preprocess_videos(src, out, layout="folders", options=opts, overwrite=True)
    assert _on_disk(out / "frames") == {"a": 2, "a_": 3, "a_-2": 5, "a-2": 4}
    assert _manifest(out) == {
        "frames/a": "a.mp4",
        "frames/a_": "a_.mp4",
        "frames/a_-2": "a .mp4",
        "frames/a-2": "a.mov",
    }
    assert report["earlier_clips_kept"] == 1


@pytest.mark.parametrize("layout", ["mirror", "dfew"])
def test_a_video_that_fails_once_keeps_its_listed_clip_and_gets_it_back(tmp_path, opts, layout):
    """Found while fixing G6: a video that failed (or had no face) on a rerun lost its manifest row while
    its earlier clip stayed on disk, unlisted; the next rerun then refused that folder (mirror: "manifest.csv
    does not list it") or gave the video a new number beside its old clip (dfew)."""
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "x.mp4", 3)
    _video(src / "y.mp4", 2)
    preprocess_videos(src, out, layout=layout, options=opts)
    clip = "x" if layout == "mirror" else "Clip/clip_16x16/00001"
    (src / "x.mp4").write_bytes(b"")  # a copy that failed this time
    report = preprocess_videos(src, out, layout=layout, options=opts, overwrite=True)
    assert len(report["failed"]) == 1 and report["earlier_clips_kept"] == 1
    assert _manifest(out)[clip] == "x.mp4" and _on_disk(out)[clip] == 3
    _video(src / "x.mp4", 4)  # copied again: the same clip, written anew
    report = preprocess_videos(src, out, layout=layout, options=opts, overwrite=True)
    assert report["failed"] == [] and report["earlier_clips_kept"] == 0
    assert _manifest(out)[clip] == "x.mp4" and _on_disk(out)[clip] == 4
    assert sorted(_on_disk(out)) == sorted(_manifest(out))  # nothing on disk that the manifest does not list


def test_a_new_mirror_clip_never_lies_inside_a_kept_clip(tmp_path):
    """a/b.mp4 kept its clip a/b; a new a/b/x.mp4 would be written inside it (a clip within a clip)."""
    src = tmp_path / "v"
    videos = [src / "a" / "b" / "x.mp4", src / "a" / "b.mp4"]
    earlier = ({video_key(videos[1]): "a/b"}, {"a/b"})
    # hand-computed: the folder on the way that is a clip gets the suffix, the clip keeps its own name
    assert clip_names(src, videos, "mirror", earlier) == ["a/b-2/x", "a/b"]
    # without an earlier run the rule is as before: sorted order, the holding name suffixed
    assert clip_names(src, videos, "mirror") == ["a/b/x", "a/b-2"]


def test_a_mirror_manifest_giving_one_clip_to_two_videos_is_refused(tmp_path, opts):
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "a.mp4", 2)
    _video(src / "b.mp4", 2)
    preprocess_videos(src, out, layout="mirror", options=opts)
    text = (out / "manifest.csv").read_text()
    (out / "manifest.csv").write_text(text.replace("b,b,", "a,a,"))
    with pytest.raises(ValueError, match=r"manifest\.csv: clip a of .*b\.mp4 conflicts"):
        preprocess_videos(src, out, layout="mirror", options=opts, overwrite=True)


@pytest.mark.usefixtures("handler_reset")
@pytest.mark.parametrize(
    ("device", "said"),
    [("gpu", "--device='gpu' is not a device"), ("cuda", "--device='cuda', but this machine has no CUDA")],
)
def test_an_unusable_device_is_a_usage_error_before_anything_is_written(
    tmp_path, monkeypatch, capsys, device, said
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    monkeypatch.chdir(tmp_path)
    _video(tmp_path / "v" / "a.mp4", 2)
    assert main(["preprocess", "v", "o", "--size", "16", "--threads", "1", "--device", device]) == 2
    err = capsys.readouterr().err
    assert said in err and "RuntimeError" not in err
    assert not (tmp_path / "o").exists()


def test_a_folders_other_files_are_counted_and_said_once(tmp_path, opts, caplog):
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "a.mp4", 2)
    (src / "face.jpg").write_bytes(b"a photo")
    (src / "sub").mkdir()
    (src / "sub" / "labels.csv").write_text("id,label\n")
    with caplog.at_level(logging.INFO):
        report = preprocess_videos(src, out, layout="folders", options=opts)
    assert report["files_skipped"] == 2 and report["videos"] == 1
    said = [r.getMessage() for r in caplog.records if "skipped: preprocess reads videos" in r.getMessage()]
    assert (
        len(said) == 1
        and said[0].startswith(f"{src}: 2 file(s) skipped")
        and "predict reads photos" in said[0]
    )
    assert "face.jpg" in said[0]  # the first, in sorted order


def test_a_zero_byte_video_is_said_to_be_empty(tmp_path, opts):
    src, out = tmp_path / "v", tmp_path / "o"
    _video(src / "a.mp4", 2)
    (src / "zero.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match=r"zero\.mp4: not a readable video: an empty file \(0 bytes\)$"):
        next(iter_frames(src / "zero.mp4"))
    report = preprocess_videos(src, out, layout="folders", options=opts)
    assert report["failed"] == [
        {
            "video": str(src / "zero.mp4"),
            "error": f"{src / 'zero.mp4'}: not a readable video: an empty file (0 bytes)",
        }
    ]
    assert report["clips_written"] == 1
    (src / "junk.mp4").write_bytes(b"\x00" * 64)  # not empty: FFmpeg's reason, not "empty"
    with pytest.raises(VideoError) as info:
        next(iter_frames(src / "junk.mp4"))
    assert "not a readable video (" in str(info.value) and "empty" not in str(info.value)
