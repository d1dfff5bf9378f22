"""What ``Predictor.predict`` takes (audit 3, items 13 and 16): a frame rate or stride that would make
billions of windows is refused in one line naming it and its range (fps 1e-9 raised MemoryError, 1e-300
"Maximum allowed size exceeded"); a list or bytes are refused with what predict takes (a TypeError from
pathlib); tensor frames without fps are named as a tensor."""

import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.limits import MAX_FPS, MAX_SECONDS, MAX_WINDOWS_PER_FRAME
from softfer.predict.api import Predictor, check_frame_rate, frames_of
from softfer.predict.pipeline import windows

FRAMES = np.zeros((3, 8, 8, 3), np.uint8)


def _predictor(**kwargs) -> Predictor:
    return Predictor(torch.nn.Identity(), None, ("a",), **kwargs)  # refused before any model or face work


def _least(message: str) -> float:
    """The least value a range "[least, hi]" in an error states."""
    return float(re.search(r"in \[([^,]+),", message).group(1))


@pytest.mark.parametrize("fps", [1e-9, 1e-300, 5e-324, 0.19])
def test_a_frame_rate_too_low_for_the_stride_is_refused_naming_fps_and_its_range(fps):
    """Windows every 0.5 s over frames 1 / fps apart: at most 10 per frame needs fps >= 1 / (10 x 0.5)."""
    with pytest.raises(ValueError, match=r"^fps must be a number in \[0\.2, 1000\] with stride 0\.5 s") as e:
        _predictor(stride=0.5).predict(FRAMES, fps=fps)
    assert "\n" not in str(e.value) and f"got {fps!r}" in str(e.value)


@pytest.mark.parametrize("stride", [1e-9, 1e-5, 1e-4])
def test_a_stride_too_small_for_the_frames_is_refused_naming_stride_and_its_range(stride):
    with pytest.raises(ValueError, match=r"^stride must be a number in \[0\.004, 86400\] for frames 0\.04 s"):
        _predictor(stride=stride).predict(FRAMES, fps=25)


@pytest.mark.parametrize("stride", [1e-6, 1e-4, 0.003])
def test_a_video_whose_stride_is_below_a_tenth_of_its_frame_spacing_is_refused(stride):
    """The check shared by `softfer predict` and the API: the frames' times (a video's) give the spacing."""
    times = np.arange(100) / 25.0
    with pytest.raises(ValueError, match=r"^stride must be a number in \[0\.004, 86400\]") as e:
        windows(times, 2.0, stride)
    assert f"got {stride!r}" in str(e.value)


@pytest.mark.parametrize("gap", [1e6, 1e9, 1e300])
def test_frames_too_far_apart_for_any_stride_name_their_times(gap):
    with pytest.raises(ValueError, match=r"frames over .* s apart: no stride in \(0, 86400\]"):
        windows(np.arange(10) * gap, 2.0, MAX_SECONDS)


def test_the_least_values_stated_are_accepted_and_the_windows_stay_within_ten_per_frame():
    """The bound the error states passes, and with it the window count is at most 10 per frame (+ the last
    window, which ends with the video): memory in proportion to the frames."""
    for n, fps in [(2, 1000.0), (30, 29.97), (100, 25.0), (7, 0.3), (12, 1 / 3)]:
        times = np.arange(n) / fps
        spacing = (times[-1] - times[0] + 1 / fps) / n
        with pytest.raises(ValueError) as e:
            windows(times, 0.001, spacing / MAX_WINDOWS_PER_FRAME / 2)
        least = _least(str(e.value))
        assert spacing / MAX_WINDOWS_PER_FRAME <= least <= spacing / MAX_WINDOWS_PER_FRAME * 1.01
        spans = windows(times, 0.001, least)
        assert MAX_WINDOWS_PER_FRAME * (n - 1) <= len(spans) <= MAX_WINDOWS_PER_FRAME * n + 2
        check_frame_rate(fps, n, least)  # the API's early check agrees
    for stride in (0.5, 0.07, 3.0):
        with pytest.raises(ValueError) as e:
            check_frame_rate(1e-3, 5, stride)
        least_fps = _least(str(e.value))
        assert 1 / (MAX_WINDOWS_PER_FRAME * stride) <= least_fps <= MAX_FPS
        check_frame_rate(least_fps, 5, stride)
        windows(np.arange(5) / least_fps, 2.0, stride)  # and so does the pipeline's


def test_ordinary_windows_are_unchanged():
    """4 s at 25 fps, windows of 2 s every 0.5 s: starts 0, 0.5, ..., 2 (independent reference)."""
    got = windows(np.arange(100) / 25.0, 2.0, 0.5)
    np.testing.assert_allclose(got, [(s, s + 2.0) for s in np.arange(5) * 0.5], atol=1e-9)
    assert windows(np.array([0.0]), 2.0, 1e-9) == [(0.0, 0.0)]  # a photo: one instant, any stride


def test_predict_runs_at_the_least_frame_rate_for_its_stride(fer_checkpoint, media):
    face = np.asarray(Image.open(media / "single_face.jpg").convert("RGB"))
    predictor = Predictor.from_checkpoint(fer_checkpoint, stride=0.5, threads=1)
    result = predictor.predict(np.stack([face] * 4), fps=0.2)  # 4 frames 5 s apart
    assert result.meta["faces"] == 1 and result.meta["duration"] == pytest.approx(20.0)
    assert len(result.windows) == math.floor((20.0 - 2.0) / 0.5) + 1 <= MAX_WINDOWS_PER_FRAME * 4


@pytest.mark.parametrize(
    "source,hint",
    [
        (
            [FRAMES[0], FRAMES[1]],
            r"not list; a list of frames \(arrays of one size\): predict\(np\.stack\(frames\), fps=25\)$",
        ),
        ((FRAMES[0],), r"not tuple; a list of frames"),
        (
            b"\x89PNG\r\n\x1a\n",
            r"not bytes; the bytes of an encoded image: predict\(PIL\.Image\.open\(io\.BytesIO\(data\)\)\)$",
        ),
        (bytearray(b"GIF89a"), r"not bytearray; the bytes of an encoded image"),
        (7, r"not int$"),
        (None, r"not NoneType$"),
    ],
)
def test_a_source_of_another_type_is_refused_with_what_predict_takes(source, hint):
    takes = r"^predict takes a path to a video or image file \(str or pathlib\.Path\), a PIL image, a numpy "
    for call in (lambda: frames_of(source, 25), lambda: _predictor().predict(source, fps=25)):
        with pytest.raises(ValueError, match=takes + r"array or a torch tensor, " + hint):
            call()


@pytest.mark.parametrize(
    "frames,named",
    [
        (torch.zeros(2, 3, 8, 8), r"a torch tensor \(N, C, H, W\) \(2, 3, 8, 8\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), r"a numpy array \(N, H, W, C\) \(2, 8, 8, 3\)"),
    ],
)
def test_frames_without_a_frame_rate_are_named_as_given(frames, named):
    with pytest.raises(ValueError, match=rf"^frames given as {named} need their frame rate: predict\("):
        _predictor().predict(frames)


@pytest.mark.parametrize(
    ("classes", "said"),
    [
        (("angry", "disgust"), "classes: 7 names, one per output of the model"),
        (("happy",) * 7, "classes: 'happy' is given twice"),
        (("a", "b", "c", "d", "e", "f", ""), "classes: 7 names"),
    ],
)
def test_a_predictor_needs_one_distinct_name_per_output(fer_checkpoint, classes, said):
    """Found (audit): two names for a 7-class model failed in numpy's broadcasting; seven equal names merged
    every probability into one column."""
    from softfer.inference.checkpoint import load_checkpoint
    from softfer.inference.loading import model_from_state

    model, cfg, _ = model_from_state(load_checkpoint(fer_checkpoint), fer_checkpoint)
    with pytest.raises(ValueError, match=re.escape(said)):
        Predictor(model, cfg, classes)
