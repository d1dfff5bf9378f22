"""A `--stride` too small for a video's frames is refused before its faces are tracked (earlier notes: "tiny
predict --stride refused only after tracking", minutes on a long video): by the frame rate the container
states, with the range the check on the decoded times states (``pipeline.check_stride``)."""

import numpy as np
import pytest
import torch

from softfer.predict.api import Predictor
from softfer.predict.pipeline import windows
from tests.robustness.test_data_video import _video


class Tracked(Exception):
    """Raised in place of face tracking: the check came too late, or (for a fine stride) was passed."""


def _predictor(stride: float, monkeypatch) -> Predictor:
    def track(*_args, **_kwargs):
        raise Tracked

    monkeypatch.setattr(Predictor, "track", track)
    return Predictor(torch.nn.Identity(), None, ("a",), stride=stride)


@pytest.mark.parametrize("stride", [1e-9, 1e-4, 0.0039])
def test_a_stride_too_small_for_a_videos_frame_rate_is_refused_before_tracking(tmp_path, monkeypatch, stride):
    video = _video(tmp_path / "v.mp4", frames=12)  # 24 fps: frames 1/24 s apart, least stride 0.00417
    with pytest.raises(ValueError) as err:
        _predictor(stride, monkeypatch).predict(video)
    assert str(err.value) == (
        f"{video}: stride must be a number in [0.00417, 86400] for frames 0.0417 s apart (at most 10 windows "
        f"per frame), got {stride!r} (its container states 24 fps)"
    )


def test_the_least_stride_stated_passes_both_checks(tmp_path, monkeypatch):
    video = _video(tmp_path / "v.mp4", frames=12)
    with pytest.raises(Tracked):  # past the early check: on to tracking
        _predictor(0.00417, monkeypatch).predict(video)
    assert len(windows(np.arange(12) / 24, 0.5, 0.00417)) > 0  # and the decoded times' check takes it


def test_a_stride_within_5_percent_of_the_stated_limit_is_left_to_the_decoded_times(tmp_path, monkeypatch):
    # a container's stated rate can differ from the decoded spacing (no_face.mp4: 23.67 vs 24 fps)
    video = _video(tmp_path / "v.mp4", frames=12)
    with pytest.raises(Tracked):
        _predictor(0.0041, monkeypatch).predict(video)
    with pytest.raises(ValueError, match=r"stride must be a number in \[0\.00417, 86400\]"):
        windows(np.arange(12) / 24, 0.5, 0.0041)  # which refuse it


def test_a_file_the_header_says_nothing_of_is_left_to_the_decoded_times(tmp_path):
    from softfer.predict.pipeline import check_video_stride  # here: the other tests run on older code too

    broken = tmp_path / "b.mp4"
    broken.write_bytes(b"not a video")
    check_video_stride(broken, 1e-9)  # decoding names what is wrong, not this check
    one = _video(tmp_path / "one.mp4", frames=1)
    check_video_stride(one, 1e-9)  # one frame: no spacing, any stride makes one window
    assert windows(np.zeros(1), 0.5, 1e-9) == [(0.0, 0.0)]


def test_a_still_image_named_as_a_video_is_named_as_such_whatever_the_stride(tmp_path, monkeypatch):
    # review: the early check opened the file itself, so a JPEG named .mp4 got the stride's error before
    # the media gate's; it now reads the header through the one video reader, which refuses the still
    import cv2
    import numpy as np

    fake = tmp_path / "still.mp4"
    _, jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))
    fake.write_bytes(jpeg.tobytes())
    from softfer.io.video import VideoError, stated_rate, video_info

    with pytest.raises(Tracked):  # past the stride check: on to the decoder (stubbed here) ...
        _predictor(1e-9, monkeypatch).predict(fake)
    assert stated_rate(fake) is None
    with pytest.raises(VideoError, match="is a still image"):  # ... which names what the file is
        video_info(fake)
