"""One gate for the pixels that enter softfer: decoded files (``softfer.io.images``), PIL images, numpy
arrays and torch tensors all leave it as RGB uint8, or are refused naming what was given and what is
expected. Predict, the Python API and the dataset readers go through it, so a photo reads the same
everywhere.

The rules:

- Orientation: an image file's EXIF orientation (tag 0x0112, or XMP ``tiff:Orientation``, as PIL reads
  them) is applied by PIL's ``ImageOps.exif_transpose``, so a phone photo stored sideways is upright.
  Face boxes of annotation files are in stored pixels: a dataset crops first and turns the crop
  (``ImageDataset``). OpenCV's own EXIF handling is always off, so there is one implementation.
- Depth: uint8 as is; 16 bits (uint16 arrays, 16-bit PNG, PIL modes ``I;16*`` and ``I``, which is how
  PIL holds 16-bit files) divided by 257 and rounded (65535 -> 255), but refused when no value exceeds
  255: those are 8-bit pixels in a 16-bit container (``array.astype(np.uint16)``, PIL ``convert('I')``),
  which the division would turn black. Refused rather than guessed (scaling by the observed range would
  also brighten a truly dark 16-bit image); the message says how to convert. Float with finite values
  in [0, 1] scaled by 255, otherwise in [0, 255] taken as they are (rounded). So a float image whose
  values all lie in [0, 1] is read on the [0, 1] scale. A float image whose largest value is above 1 but
  at most ``AMBIGUOUS_FLOAT_MAX`` (2) is refused the same way as 8 bits in 16: one pixel over 1 (a
  brightened or resampled [0, 1] image) would put the whole image on the 0-255 scale, black; the message
  says to clip. Other dtypes and ranges are refused.
- Channels: grey (a 2-D array, one channel, PIL ``L``/``1``) repeated to RGB; an alpha channel (RGBA,
  grey + alpha, a palette with transparency) composited over white, as a viewer shows the image on a
  white page; any other channel count is refused.
- Shapes: numpy arrays are channels last: (H, W) or (H, W, C) is one image, (N, H, W, C) frames; torch
  tensors are channels first as torchvision has them: (H, W), (C, H, W) or (N, C, H, W).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:  # a tensor's caller has torch loaded; files and arrays pass the gate without it
    import torch

__all__ = ["exif_orientation", "orient", "pil_rgb8", "rgb8", "tensor_rgb8"]

ORIENTATION = 0x0112  # the EXIF tag
BACKGROUND = 255  # alpha is composited over white
CHANNELS = {1: "grey", 3: "RGB", 4: "RGBA"}
# Float pixels whose largest value lies in (1, this]: a [0, 1] image that overshoots 1 (brightened,
# resampled with a cubic kernel), or a 0-255 image darker than 1% grey; refused, not guessed.
AMBIGUOUS_FLOAT_MAX = 2.0
EXPECTED = (
    "expected uint8 (0-255), uint16 (16-bit, 0-65535) or float (0-1 or 0-255) pixels shaped (H, W), "
    "(H, W, C) or (N, H, W, C) with C = 1 (grey), 3 (RGB) or 4 (RGBA)"
)


def rgb8(pixels: np.ndarray, what: str = "array") -> np.ndarray:
    """``pixels`` as RGB uint8: (H, W) and (H, W, C) give (H, W, 3); (N, H, W, C) gives (N, H, W, 3).

    Raises:
        ValueError: naming ``what``, the dtype or shape given and what is expected, for other ranks,
            channel counts, dtypes, empty arrays, NaN or infinite values and values out of range.
    """
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim not in (3, 4):
        raise ValueError(f"{what}: a {a.ndim}-D array {a.shape}; {EXPECTED}")
    if a.shape[-1] not in CHANNELS:
        raise ValueError(f"{what}: {a.shape[-1]} channels in shape {a.shape}{_layout_hint(a)}; {EXPECTED}")
    if a.size == 0:
        raise ValueError(f"{what}: an empty array {a.shape}; {EXPECTED}")
    a = _to_uint8(a, what)
    if a.shape[-1] == 1:
        return np.repeat(a, 3, axis=-1)
    if a.shape[-1] == 4:
        rgb, alpha = a[..., :3].astype(np.uint16), a[..., 3:].astype(np.uint16)
        return ((rgb * alpha + BACKGROUND * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _layout_hint(a: np.ndarray) -> str:
    if a.ndim == 3 and a.shape[0] in CHANNELS and a.shape[-1] > 4:
        return " (channels come last: use array.transpose(1, 2, 0))"
    if a.ndim == 3 and a.shape[-1] > 4:
        return " (a 3-D array is one image (H, W, C); give greyscale frames as (N, H, W, 1))"
    return ""


def _to_uint8(a: np.ndarray, what: str) -> np.ndarray:
    kind, size = a.dtype.kind, a.dtype.itemsize
    if kind == "u" and size == 1:
        return a
    if kind == "u" and size == 2:  # 16 bits: 65535 -> 255, 257 k -> k
        hi = int(a.max())
        if hi <= 255:
            raise ValueError(
                f"{what}: 16-bit pixels whose largest value is {hi} (<= 255): they look like 8-bit pixels in "
                "a 16-bit container, which read as 16 bits would be black; convert them to 8 bits first "
                "(numpy: pixels.astype(np.uint8); PIL: img.convert('L') or give the image before "
                "convert('I'))"
            )
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if kind != "f":
        raise ValueError(f"{what}: {a.dtype} pixels; {EXPECTED}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: float pixels with NaN or infinite values; {EXPECTED}")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{what}: float pixels in [{lo:g}, {hi:g}]; {EXPECTED}")
    if 1.0 < hi <= AMBIGUOUS_FLOAT_MAX:  # a [0, 1] image a little over 1, read on 0-255 it is black
        raise ValueError(
            f"{what}: float pixels in [{lo:g}, {hi:g}]: above 1, so not on the 0-1 scale, but at most "
            f"{AMBIGUOUS_FLOAT_MAX:g}, which on the 0-255 scale is a black image; clip 0-1 pixels that "
            "overshoot it (brightened, resampled): np.clip(pixels, 0, 1), or give them on the 0-255 scale: "
            "np.clip(pixels, 0, 1) * 255"
        )
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.rint(a.astype(np.float32) * scale).astype(np.uint8)


def tensor_rgb8(tensor: torch.Tensor, what: str = "tensor") -> np.ndarray:
    """A torch tensor (H, W), (C, H, W) or (N, C, H, W) as RGB uint8 (H, W, 3) or (N, H, W, 3) (``rgb8``)."""
    import torch

    t = tensor.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    if t.ndim in (3, 4) and t.shape[-3] not in CHANNELS:
        raise ValueError(
            f"{what}: a tensor shaped {tuple(t.shape)}; torch tensors are channels first as torchvision "
            "has them: (H, W), (C, H, W) or (N, C, H, W) with C = 1, 3 or 4"
        )
    a = t.numpy()
    if a.ndim in (3, 4):
        a = np.moveaxis(a, -3, -1)
    return rgb8(a, what)


def pil_rgb8(img: Image.Image, what: str = "PIL image") -> np.ndarray:
    """A PIL image of any mode as RGB uint8 (H, W, 3), its EXIF orientation applied (module rules)."""
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I;16"):
        return rgb8(np.asarray(img).astype(np.uint16), what)
    if img.mode == "I":  # 32-bit integers: how PIL holds a 16-bit file
        a = np.asarray(img)
        if a.min() < 0 or a.max() > 65535:
            raise ValueError(
                f"{what}: mode I pixels in [{a.min()}, {a.max()}]; mode I is read as 16 bits (0-65535)"
            )
        return rgb8(a.astype(np.uint16), what)
    if img.mode == "F":
        return rgb8(np.asarray(img), what)
    try:
        if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
            return rgb8(np.asarray(img.convert("RGBA")), what)
        return np.array(img.convert("RGB"))
    except ValueError as exc:  # modes PIL cannot turn into RGB (LAB, HSV)
        raise ValueError(f"{what}: PIL mode {img.mode} cannot be read as RGB ({exc})") from exc


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of an encoded image as PIL reads it; 1 when it has none.

    WHY the byte search first: only JPEG headers holding EXIF or XMP and PNGs with such chunks are
    opened by PIL, so a dataset frame without them costs a search of its header, not a parse. An EXIF
    block PIL cannot read is ignored, as image viewers do.
    """
    if data[:2] == b"\xff\xd8":
        sos = data.find(b"\xff\xda")  # the metadata segments all come before the first scan
        head = data if sos < 0 else data[:sos]
        if b"Exif\x00\x00" not in head and b"ns.adobe.com/xap" not in head:
            return 1
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if not any(tag in data for tag in (b"eXIf", b"Raw profile type exif", b"XML:com.adobe.xmp")):
            return 1
    try:
        with Image.open(io.BytesIO(data)) as img:
            value = img.getexif().get(ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels are still the stored ones
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, C) uint8 ``pixels`` stored with EXIF ``orientation`` turned to display orientation, by
    PIL's ``exif_transpose`` (so its table of the eight orientations is the only one)."""
    if orientation == 1:
        return pixels
    img = Image.fromarray(pixels)
    img.getexif()[ORIENTATION] = orientation
    return np.array(ImageOps.exif_transpose(img))
