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


# Per-frame result: landmarks (5, 2) and box (4,) or None, and the status string.
_Entry = tuple[np.ndarray | None, np.ndarray | None, str]
_MISSING: _Entry = (None, None, "missing")


def _detected(face: Face | None) -> _Entry:
    return _MISSING if face is None else (face.landmarks, face.box, "detected")


def _track_between(
    key_face: Face | None, key_gray: np.ndarray | None, face: Face | None, grays: list[np.ndarray]
) -> list[_Entry]:
    """Entries between two keyframes that agree: flow-tracked landmarks, or all missing without a face."""
    if key_face is None:
        return [_MISSING] * len(grays)
    entries: list[_Entry] = []
    prev_gray, prev_pts = key_gray, key_face.landmarks
    for j, gray in enumerate(grays):
        moved = _lk(prev_gray, gray, prev_pts)
        if moved is None:  # flow failed: interpolate between the keyframes
            moved = _lerp(key_face.landmarks, face.landmarks, (j + 1) / (len(grays) + 1))
            state = "interpolated"
        else:
            state = "tracked"
        shift = moved.mean(0) - key_face.landmarks.mean(0)
        entries.append((moved, key_face.box + np.tile(shift, 2), state))
        prev_gray, prev_pts = gray, moved
    return entries


def _detect_between(
    frames: list[np.ndarray], detector: FaceDetector, last_box: np.ndarray | None, iou_min: float
) -> list[_Entry]:
    """Entries between two keyframes that disagree: every frame detected, each choice following the last."""
    entries: list[_Entry] = []
    box = last_box
    for faces in detector.detect(frames):
        chosen = _choose(faces, box, iou_min)
        if chosen is not None:
            box = chosen.box
        entries.append(_detected(chosen))
    return entries


def _settle(
    entries: list[_Entry],
    pending: list[tuple[int, np.ndarray, np.ndarray]],
    key: tuple[Face | None, np.ndarray | None],
    i_key: int,
    face: Face | None,
    detector: FaceDetector,
    last_box: np.ndarray | None,
    iou_min: float,
) -> None:
    """Fill in the frames since the previous keyframe ``key`` (face, gray) and the keyframe ``i_key``."""
    key_face, key_gray = key
    had = key_face is not None
    if (had and face is not None and iou(face.box, key_face.box) > 0) or (not had and face is None):
        # Same presence at both ends: track (or confirm absence) through the frames between.
        between = _track_between(key_face, key_gray, face, [g for _, _, g in pending])
    elif pending:
        # Presence changed: detect every frame in between to find where.
        between = _detect_between([f for _, f, _ in pending], detector, last_box, iou_min)
    else:
        between = []
    for (idx, _, _), entry in zip(pending, between, strict=True):
        entries[idx] = entry
    entries[i_key] = _detected(face)


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
    entries: list[_Entry] = []
    pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (index, frame, gray) since the last keyframe
    key: tuple[Face | None, np.ndarray | None] = (None, None)  # (face, gray) at the last keyframe
    last_box: np.ndarray | None = None
    for i, (t, frame) in enumerate(frames):
        times.append(t)
        entries.append(_MISSING)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if i % every != 0:
            pending.append((i, frame, gray))
            continue
        face = _choose(detector.detect([frame])[0], last_box, iou_min)
        _settle(entries, pending, key, i, face, detector, last_box, iou_min)
        last_box = last_box if face is None else face.box
        key, pending = (face, gray), []
    if not times:
        raise ValueError("the video has no frames")
    if pending:  # the last frame closes the final stretch as a keyframe
        last_idx, last_frame, _ = pending.pop()
        face = _choose(detector.detect([last_frame])[0], last_box, iou_min)
        _settle(entries, pending, key, last_idx, face, detector, last_box, iou_min)
    return _fill_gaps(np.array(times), entries, max_gap)


def _fill_gaps(times: np.ndarray, entries: list[_Entry], max_gap: int) -> FaceTrack:
    n = len(times)
    lm = np.full((n, 5, 2), np.nan)
    bx = np.full((n, 4), np.nan)
    status = [state for _, _, state in entries]
    for i, (marks, box, _) in enumerate(entries):
        if marks is not None:
            lm[i], bx[i] = marks, box
    present = np.flatnonzero(~np.isnan(lm[:, 0, 0]))
    for a, b in pairwise(present):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(a + 1, b):
                w = (k - a) / (b - a)
                lm[k], bx[k] = _lerp(lm[a], lm[b], w), _lerp(bx[a], bx[b], w)
                status[k] = "interpolated"
    return FaceTrack(times, lm, bx, status)
