"""Float pixels whose largest value is a little above 1 are refused, not read as 0-255 (audit 6, F6).

Found: one pixel at 1.001 (or a [0, 1] image brightened by 10 %, or one upsampled with a cubic kernel,
which overshoots to 1.02) put the whole image, and for (N, H, W, C) frames every frame, on the 0-255
scale: read as near-black, it gave a Prediction with no face and no warning.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from softfer.io.media_gate import pil_rgb8, rgb8, tensor_rgb8
from softfer.predict.api import frames_of

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
UNIT = RGB8.astype(np.float32) / 255  # the same image on the [0, 1] scale


def _one_over() -> np.ndarray:
    a = UNIT.copy()
    a[0, 0, 0] = 1.001
    return a


def _cubic() -> np.ndarray:  # an upsampled [0, 1] image: the kernel overshoots the brightest pixels
    up = cv2.resize(UNIT, (64, 48), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, 0, None)


REFUSED = {
    "one pixel at 1.001": _one_over,
    "brightened by 10 %": lambda: UNIT * 1.1,
    "upsampled with a cubic kernel": _cubic,
    "frames (N, H, W, C), one frame over 1": lambda: np.stack([UNIT, _one_over()]),
    "largest value exactly 2": lambda: UNIT * 2,
}


@pytest.mark.parametrize("kind", REFUSED)
def test_float_pixels_a_little_above_1_are_refused_saying_how_to_convert(kind):
    a = REFUSED[kind]()
    hi = float(a.max())
    assert 1 < hi <= 2  # the case as described
    with pytest.raises(ValueError, match=r"^pixels: float pixels in \[.*\]: above 1") as caught:
        rgb8(a, "pixels")
    said = str(caught.value)
    assert f"{hi:g}]" in said and "np.clip(pixels, 0, 1)" in said and "* 255" in said and "\n" not in said


def test_the_refusal_holds_for_tensors_pil_float_images_and_predict():
    with pytest.raises(ValueError, match="above 1"):
        tensor_rgb8(torch.from_numpy(np.moveaxis(UNIT * 1.1, -1, 0).copy()))
    grey = UNIT[..., 0] * 1.1
    with pytest.raises(ValueError, match="above 1"):
        pil_rgb8(Image.fromarray(grey, mode="F"))
    with pytest.raises(ValueError, match=r"^numpy image: float pixels in \[.*\]: above 1"):
        frames_of(UNIT * 1.1)


def test_float_pixels_in_0_1_and_in_0_255_still_read_as_the_same_image():
    np.testing.assert_array_equal(rgb8(UNIT), RGB8)
    np.testing.assert_array_equal(rgb8(np.clip(UNIT * 1.1, 0, 1)), np.rint(np.clip(UNIT * 1.1, 0, 1) * 255))
    np.testing.assert_array_equal(rgb8(RGB8.astype(np.float32)), RGB8)
    # above 2 is the 0-255 scale, taken as it is (rounded): a dark image stays dark, not refused
    dark = np.full((4, 4, 3), 2.6, np.float32)
    np.testing.assert_array_equal(rgb8(dark), np.full((4, 4, 3), 3, np.uint8))
    np.testing.assert_array_equal(rgb8(np.ones((4, 4, 3))), np.full((4, 4, 3), 255, np.uint8))
