"""Audit 9, L1: a video named as an image (``vid.jpg``) is said to be one by the media gate, as the converse
(a still image named ``.mp4``) is by the video reader: not "corrupt or unreadable image". Bytes that are no
video keep that message."""

from pathlib import Path

import av
import numpy as np
import pytest

from softfer.io.images import MediaError, decode_image, image_size, read_photo, verify_images

SAID = r"a video \(QuickTime / MOV\) named as an image: give it a video suffix \(\.mp4, "


def write_video(path: Path, frames: int = 12) -> Path:
    """A small MPEG-4 video (index at the front, as streamed files are written)."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def video_jpg(tmp_path) -> Path:
    return write_video(tmp_path / "vid.jpg")


def test_a_video_named_as_an_image_is_said_to_be_one(video_jpg):
    data = video_jpg.read_bytes()
    with pytest.raises(MediaError, match=rf"^{video_jpg}: {SAID}"):
        decode_image(data, video_jpg)
    with pytest.raises(MediaError, match=rf"^{video_jpg}: {SAID}"):
        image_size(data, video_jpg)  # the header read a dataset's face box check makes first
    with pytest.raises(ValueError, match=rf"^{video_jpg}: {SAID}"):
        read_photo(video_jpg)  # predict and the viewer


def test_data_inspect_verify_says_so_too(video_jpg):
    [(path, problem)] = list(verify_images([video_jpg]))
    assert path == video_jpg and problem.startswith("a video (QuickTime / MOV) named as an image"), problem


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all\n" * 50,
        bytes(4000),
        b"\x00\x00\x00\x01" + bytes(range(256)) * 10,  # an H.264 start code, then no stream
        b"\xff\xd8\xff\xe0" + bytes(200),  # a JPEG cut short
    ],
)
def test_bytes_that_are_no_video_stay_a_corrupt_image(tmp_path, data):
    with pytest.raises(MediaError, match=r": corrupt or unreadable image$"):
        decode_image(data, tmp_path / "x.jpg")


def test_a_video_cut_before_its_first_frame_is_no_video_to_name(tmp_path):
    data = write_video(tmp_path / "v.mp4").read_bytes()[:600]
    with pytest.raises(MediaError, match=r": corrupt or unreadable image$"):
        decode_image(data, tmp_path / "x.jpg")
