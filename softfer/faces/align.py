"""5-point similarity alignment of a face to a canonical template."""

from __future__ import annotations

import cv2
import numpy as np

# Canonical positions (fractions of the output side) of left eye, right eye, nose tip, left and right
# mouth corners: an upright face centred with some forehead and chin, as in face-aligned FER crops.
TEMPLATE = np.array([[0.345, 0.405], [0.655, 0.405], [0.500, 0.560], [0.370, 0.735], [0.630, 0.735]])


def similarity_matrix(landmarks: np.ndarray, size: int, template: np.ndarray = TEMPLATE) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, translation) mapping the 5 landmarks onto
    the template scaled to ``size`` (OpenCV's 4-degree-of-freedom estimate, refined on all points)."""
    src = np.asarray(landmarks, dtype=np.float64).reshape(-1, 1, 2)
    dst = (np.asarray(template, dtype=np.float64) * size).reshape(-1, 1, 2)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6, refineIters=50)
    if m is None:
        raise ValueError(f"cannot align degenerate landmarks {np.asarray(landmarks).tolist()}")
    return m


def align_face(frame: np.ndarray, landmarks: np.ndarray, size: int = 224) -> np.ndarray:
    """The aligned size x size crop of an RGB frame (borders replicated)."""
    m = similarity_matrix(landmarks, size)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def box_crop(frame: np.ndarray, box: np.ndarray, size: int, margin: float) -> np.ndarray:
    """The size x size crop of a detector box (x0, y0, x1, y1) widened by ``margin`` of its width and
    height on each side, resized to a square as it is (no aspect correction; borders replicated, bilinear).

    The crop models such as the `fer` package's CNN were trained on (a face detector's box with a margin),
    unlike softfer's aligned crops.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        raise ValueError(f"cannot crop an empty face box {[float(v) for v in box]}")
    left, top = x0 - margin * w, y0 - margin * h
    sx, sy = size / (w * (1 + 2 * margin)), size / (h * (1 + 2 * margin))
    # pixel centres: output pixel j samples the input at left + (j + 0.5) / sx - 0.5, as cv2.resize does
    m = np.array([[sx, 0.0, sx * (0.5 - left) - 0.5], [0.0, sy, sy * (0.5 - top) - 0.5]])
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
