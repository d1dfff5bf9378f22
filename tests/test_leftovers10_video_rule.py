"""Leftover 10, 1: io.images named a video given as an image through io.video's private ``_still_image``;
the rule (which FFmpeg formats are still images) is one public function of io.video, used by both the
video reader (a still image named as a video) and the image decoder (a video named as an image)."""

import ast
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import softfer.io.images as images
import softfer.io.video as video
from softfer.io.images import MediaError, decode_image
from softfer.io.video import VideoError, count_frames, opened_as_still_image
from tests.test_audit9_media import write_video


def test_the_rule_says_which_files_ffmpeg_opened_as_a_still_image(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "face.png")
    with av.open(str(tmp_path / "face.png")) as container:
        assert opened_as_still_image(container) == "png"
    with av.open(str(write_video(tmp_path / "clip.mp4"))) as container:
        assert opened_as_still_image(container) is None


def test_both_readers_go_through_the_one_public_rule(tmp_path, monkeypatch):
    clip = write_video(tmp_path / "clip.jpg")
    with pytest.raises(MediaError, match=r"a video .* named as an image"):
        decode_image(clip.read_bytes(), clip)
    # the rule changed in its one place changes both readers' verdicts
    monkeypatch.setattr(video, "opened_as_still_image", lambda container: "jpeg")
    with pytest.raises(MediaError, match=r": corrupt or unreadable image$"):
        decode_image(clip.read_bytes(), clip)  # no longer said to be a video
    with pytest.raises(VideoError, match=r"is a still image \(jpeg\) named as a video"):
        count_frames(write_video(tmp_path / "clip.mp4"))


def test_io_images_imports_no_private_name_of_io_video():
    tree = ast.parse(Path(images.__file__).read_text())
    taken = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "softfer.io.video"
        for alias in node.names
    ]
    assert taken == ["opened_as_still_image"]
