"""Decoding frame files and still images to RGB uint8 arrays (libjpeg-turbo through OpenCV), and
verifying them (``verify_images``).

Every decoded image passes the media gate (``softfer.io.media_gate``): EXIF orientation applied, 16-bit
and float pixels scaled, alpha composited over white, grey expanded to RGB. A JPEG that libjpeg finds
damaged while decoding ("Corrupt JPEG data", "Premature end of JPEG file") is a ``MediaError``, never a
half-grey image: training and evaluation count it as an unreadable item under ``data.max_skip``.

JPEGs can be decoded at a reduced DCT scale (1/2, 1/4 or 1/8): libjpeg then runs a smaller inverse DCT
per block, which downsamples and low-pass filters in one step (within half a grey level of area
averaging on face frames) for about half the work. The datasets take the largest reduction that keeps
the frame (or face box) at least as large as the model input; see docs/DATASETS.md.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image

from softfer.io.capture import captured_fd, write_all
from softfer.io.errors import MediaError
from softfer.io.files import VIDEO_SUFFIXES
from softfer.io.media_gate import exif_orientation, orient, rgb8

__all__ = [
    "MediaError",
    "decode_frames",
    "decode_image",
    "image_size",
    "jpeg_reduction",
    "limit_worker_threads",
    "read_bytes",
    "verify_images",
]

_RGB = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
# OpenCV's IMREAD_REDUCED_COLOR_k flags include the BGR colour bit; swap it for RGB output.
_REDUCED = {
    1: _RGB,
    2: (cv2.IMREAD_REDUCED_COLOR_2 ^ cv2.IMREAD_COLOR) | _RGB,
    4: (cv2.IMREAD_REDUCED_COLOR_4 ^ cv2.IMREAD_COLOR) | _RGB,
    8: (cv2.IMREAD_REDUCED_COLOR_8 ^ cv2.IMREAD_COLOR) | _RGB,
}


def _is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes; MediaError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc})") from exc


def image_size(data: bytes, path: str | Path) -> tuple[int, int]:
    """(height, width) from the image header alone."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Exception as exc:
        raise _unreadable(data, path, f"corrupt or unreadable image header ({exc})") from exc
    return height, width


def jpeg_reduction(side: float, min_side: int) -> int:
    """Largest DCT reduction (1, 2, 4 or 8) whose decoded size of ``side`` pixels is ``min_side`` or more.

    libjpeg decodes a side of n pixels at 1/f to ceil(n / f) pixels.
    """
    for factor in (8, 4, 2):
        if math.ceil(side / factor) >= min_side:
            return factor
    return 1


def decode_image(data: bytes, path: str | Path, reduction: int = 1, *, oriented: bool = True) -> np.ndarray:
    """Decode to RGB uint8 (H, W, 3) through the media gate; ``reduction`` applies to JPEGs only.

    Args:
        oriented: apply the EXIF orientation (``media_gate.orient``). False gives the stored pixels, in
            which annotation files give face boxes: crop them, then orient the crop.

    Raises:
        MediaError: naming the file, when it does not decode, when libjpeg reports damage, or when its
            pixels are refused by the gate (e.g. float values outside [0, 255]).
    """
    if not data:
        raise MediaError(f"{path}: empty file")
    if _is_jpeg(data):
        img = _decode_jpeg(data, _REDUCED[reduction], path)
    else:  # as stored: 16-bit depth and alpha kept for the gate, orientation left to it
        img = _imdecode(data, cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 3 and img.shape[2] in (3, 4):
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    if img is None:  # OpenCV reports truncated or unreadable files as None
        raise _unreadable(data, path, "corrupt or unreadable image")
    try:
        img = rgb8(img, str(path))
    except ValueError as exc:
        raise MediaError(str(exc)) from exc
    return orient(img, exif_orientation(data)) if oriented else img


def _unreadable(data: bytes, path: str | Path, problem: str) -> MediaError:
    """The error for a file that does not decode as an image: ``problem``, unless it is a video, which
    is said (the converse of io.video's "a still image named as a video")."""
    video = _video_format(data)
    if video:
        return MediaError(
            f"{path}: a video ({video}) named as an image: give it a video suffix "
            f"({', '.join(VIDEO_SUFFIXES)})"
        )
    return MediaError(f"{path}: {problem}")


def _video_format(data: bytes) -> str | None:
    """The container FFmpeg reads a video frame from in ``data`` (its long name: "QuickTime / MOV"), or
    None: a file OpenCV cannot decode is named a video only when a frame of it decodes as one."""
    import av  # here: only a file that failed to decode as an image pays for it

    # here, not at the top: io.video imports this module (MediaError)
    from softfer.io.video import opened_as_still_image

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video or opened_as_still_image(container):
                return None
            next(container.decode(video=0))
            return container.format.long_name or container.format.name
    except Exception:  # PyAV's errors, StopIteration (no frame): bytes that are no video
        return None


# libjpeg's warnings that mean lost pixels; bytes after the last scan ("before marker 0xd9", the end
# marker) cost none and are common in camera and webcam frames, so they are not damage.
_DAMAGE = re.compile(r"Corrupt JPEG data|Premature end of JPEG file")
_HARMLESS = re.compile(r"extraneous bytes before marker 0xd9")
_capture_lock = threading.Lock()  # file descriptor 2 is one per process
_sinks: dict[int, IO[bytes]] = {}  # per process: a forked DataLoader worker must not share the parent's


def _decode_jpeg(data: bytes, flags: int, path: str | Path) -> np.ndarray | None:
    """OpenCV's decode with libjpeg's warnings captured: damage raises MediaError naming the file and
    the warning; other messages are passed on to the standard error stream."""
    pid = os.getpid()
    if pid not in _sinks:
        _sinks[pid] = tempfile.TemporaryFile()
    with _capture_lock:
        img, printed = captured_fd(2, _sinks[pid], lambda: _imdecode(data, flags), on_error="pass")
    messages = _lines(printed)
    damage = [m.strip() for m in messages if _DAMAGE.search(m) and not _HARMLESS.search(m)]
    others = [m for m in messages if m.strip() not in damage]  # passed on as written
    if others:
        write_all(2, ("\n".join(others) + "\n").encode())
    if damage:
        raise MediaError(f"{path}: damaged JPEG ({' / '.join(damage)}); replace the file or remove it")
    return img


def decode_frames(
    paths: Sequence[str | Path], *, min_side: int | None = None, guess: int = 1
) -> tuple[list[np.ndarray], int]:
    """Decode a clip's frame files to RGB uint8 (H, W, 3) arrays, and the DCT reduction used.

    Args:
        paths: frame files of one clip; frames of another size than the first are resized to it.
        min_side: when given, JPEGs are decoded at the largest reduction whose decoded shorter side is
            at least this long (``jpeg_reduction``; the first frame's size decides for the clip).
        guess: the reduction to try first (the previous clip's: a dataset's frames usually share one
            size). The first frame's decoded size confirms it, or the header is read to find the right one.
    """
    data = read_bytes(paths[0])
    reduction = 1
    if min_side is not None and _is_jpeg(data):
        first = decode_image(data, paths[0], guess)
        m = min(first.shape[:2])
        # libjpeg scales sizes to ceil(side / guess), which bounds the stored side to ((m-1)g, mg]
        low, high = (m - 1) * guess + 1, m * guess
        reduction = jpeg_reduction(low, min_side)
        if reduction != jpeg_reduction(high, min_side):
            reduction = jpeg_reduction(min(image_size(data, paths[0])), min_side)
        if reduction != guess:
            first = decode_image(data, paths[0], reduction)
    else:
        first = decode_image(data, paths[0])
    frames = [first] + [decode_image(read_bytes(p), p, reduction) for p in paths[1:]]
    shape = first.shape
    frames = [
        f if f.shape == shape else cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        for f in frames
    ]
    return frames, reduction


def read_photo(path: Path) -> np.ndarray:
    """An RGB uint8 photo through the media gate (EXIF orientation, 16 bits, alpha; the decoder the
    datasets use); a ValueError naming the file when it cannot be decoded or is damaged (predict, its
    annotated copy and the viewer read photos through this one function)."""
    try:
        return decode_image(read_bytes(path), path)
    except MediaError as exc:
        raise ValueError(str(exc)) from exc


def limit_worker_threads() -> None:
    """One OpenCV thread per DataLoader worker (torch does the same for itself): workers already use
    every core, and nested thread pools only contend."""
    global _worker_threads_limited
    from torch.utils.data import get_worker_info  # here: decoding a file or photo loads no torch

    if not _worker_threads_limited and get_worker_info() is not None:
        cv2.setNumThreads(1)
        _worker_threads_limited = True


_worker_threads_limited = False


def verify_images(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str]]:
    """(path, problem) for every file of ``paths`` that training would refuse.

    Each file goes through the decode training uses (``decode_image``; JPEGs at 1/8 scale, which still
    entropy-decodes every block), so a file passes here when training's decode accepts it: files that do
    not decode (with what the decoder said), JPEGs whose libjpeg warnings mean lost pixels ("Corrupt JPEG
    data", "Premature end of JPEG file"; bytes after the last scan lose none and pass), and pixels the
    media gate refuses (e.g. 8-bit values in a 16-bit container). What decoders print is captured, not
    shown beside the progress bar. Damage that leaves a well-formed bit stream of the right length (the
    entropy decoder resynchronises) cannot be seen by decoding and is not found. Only regular files are
    opened: a FIFO would block.
    """
    with tempfile.TemporaryFile() as sink:
        for p in paths:
            problem = _verify_image(Path(p), sink)
            if problem:
                yield Path(p), problem


def _verify_image(path: Path, sink: IO[bytes]) -> str | None:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"  # the reason only: the report names the file
    if not data:
        return "empty file"

    def refusal() -> str | None:
        try:
            decode_image(data, path, 8, oriented=False)
        except MediaError as exc:
            return str(exc).removeprefix(f"{path}: ")
        return None

    problem, printed = captured_fd(2, sink, refusal, on_error="pass")  # libjpeg's and OpenCV's warnings
    lines = _lines(printed)
    said = " / ".join(line.strip() for line in lines)
    if problem and said and said not in problem:
        return f"{problem} ({said})"
    return problem


def _lines(printed: bytes) -> list[str]:
    return [line for line in printed.decode("utf-8", "replace").splitlines() if line.strip()]


def _imdecode(data: bytes, flags: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # OpenCV raises instead of returning None for some malformed headers
        return None
