"""Following the main face through a video: detection every k frames, optical-flow tracking in between.

The main face is the largest one when a track starts; later detections keep the face that overlaps the
track most (IoU), and a new largest face starts a new track when none overlaps. Between two keyframes
that both see the face, the 5 landmarks are tracked with pyramidal Lucas-Kanade flow (linear
interpolation between the keyframes where the flow fails). When a keyframe disagrees with the previous
one about whether a face is there, every frame in between is detected, so face/no-face changes are found
to the frame. Afterwards, gaps of at most ``max_gap`` frames between two faces are interpolated; longer
ones stay marked missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

from softfer.faces.detect import Face, FaceDetector, iou


@dataclass
class FaceTrack:
    """Per-frame times (s), landmarks (N, 5, 2; NaN when missing), boxes (N, 4) and status strings."""

    times: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    status: list[str]  # "detected" | "tracked" | "interpolated" | "missing"

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.landmarks[:, 0, 0])

    def counts(self) -> dict[str, int]:
        return {s: self.status.count(s) for s in ("detected", "tracked", "interpolated", "missing")}


def _choose(faces: list[Face], previous_box: np.ndarray | None, iou_min: float) -> Face | None:
    if not faces:
        return None
    if previous_box is not None:
        best = max(faces, key=lambda f: iou(f.box, previous_box))
        if iou(best.box, previous_box) >= iou_min:
            return best
    return faces[0]  # largest: a new main face


def _lk(prev_gray: np.ndarray, gray: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(
        prev_gray, gray, pts.astype(np.float32).reshape(-1, 1, 2), None, winSize=(21, 21), maxLevel=3
    )
    if nxt is None or not status.all():
        return None
    return nxt.reshape(-1, 2).astype(np.float64)


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return (1 - w) * a + w * b


def track_main_face(
    frames: Iterable[tuple[float, np.ndarray]],
    detector: FaceDetector,
    *,
    every: int = 5,
    iou_min: float = 0.3,
    max_gap: int = 12,
) -> FaceTrack:
    """Landmarks of the main face in every frame of (time, RGB frame) pairs."""
    times: list[float] = []
    marks: list[np.ndarray | None] = []
    boxes: list[np.ndarray | None] = []
    status: list[str] = []
    pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (index, frame, gray) since the last keyframe
    key_face: Face | None = None
    key_gray: np.ndarray | None = None
    last_box: np.ndarray | None = None

    def settle(i_key: int, frame: np.ndarray, gray: np.ndarray, face: Face | None) -> None:
        nonlocal last_box
        had = key_face is not None
        if (had and face is not None and iou(face.box, key_face.box) > 0) or (not had and face is None):
            # Same presence at both ends: track (or confirm absence) through the frames between.
            prev_gray, prev_pts = key_gray, None if key_face is None else key_face.landmarks
            for j, (idx, _, g) in enumerate(pending):
                if prev_pts is None:
                    marks[idx], boxes[idx], status[idx] = None, None, "missing"
                    continue
                moved = _lk(prev_gray, g, prev_pts)
                if moved is None:  # flow failed: interpolate between the keyframes
                    w = (j + 1) / (len(pending) + 1)
                    moved = _lerp(key_face.landmarks, face.landmarks, w)
                    status[idx] = "interpolated"
                else:
                    status[idx] = "tracked"
                shift = moved.mean(0) - key_face.landmarks.mean(0)
                marks[idx], boxes[idx] = moved, key_face.box + np.tile(shift, 2)
                prev_gray, prev_pts = g, moved
        elif pending:
            # Presence changed: detect every frame in between to find where.
            found = detector.detect([f for _, f, _ in pending])
            box = last_box
            for (idx, _, _), faces in zip(pending, found, strict=True):
                chosen = _choose(faces, box, iou_min)
                if chosen is not None:
                    box = chosen.box
                marks[idx] = None if chosen is None else chosen.landmarks
                boxes[idx] = None if chosen is None else chosen.box
                status[idx] = "missing" if chosen is None else "detected"
        marks[i_key] = None if face is None else face.landmarks
        boxes[i_key] = None if face is None else face.box
        status[i_key] = "missing" if face is None else "detected"
        if face is not None:
            last_box = face.box
        pending.clear()

    i = -1
    frame = gray = None
    for i, (t, frame) in enumerate(frames):
        times.append(t)
        marks.append(None)
        boxes.append(None)
        status.append("missing")
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if i % every == 0:
            face = _choose(detector.detect([frame])[0], last_box, iou_min)
            settle(i, frame, gray, face)
            key_face, key_gray = face, gray
        else:
            pending.append((i, frame, gray))
    if i < 0:
        raise ValueError("the video has no frames")
    if pending:  # the last frame closes the final stretch as a keyframe
        last_idx, last_frame, last_gray = pending.pop()
        face = _choose(detector.detect([last_frame])[0], last_box, iou_min)
        settle(last_idx, last_frame, last_gray, face)
    return _fill_gaps(np.array(times), marks, boxes, status, max_gap)


def _fill_gaps(times, marks, boxes, status, max_gap: int) -> FaceTrack:
    n = len(times)
    lm = np.full((n, 5, 2), np.nan)
    bx = np.full((n, 4), np.nan)
    for i in range(n):
        if marks[i] is not None:
            lm[i], bx[i] = marks[i], boxes[i]
    present = np.flatnonzero(~np.isnan(lm[:, 0, 0]))
    for a, b in pairwise(present):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(a + 1, b):
                w = (k - a) / (b - a)
                lm[k], bx[k] = _lerp(lm[a], lm[b], w), _lerp(bx[a], bx[b], w)
                status[k] = "interpolated"
    return FaceTrack(times, lm, bx, status)
