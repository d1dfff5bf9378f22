"""Every face of a video, each with a stable track id: detection on keyframes, association, interpolation.

MTCNN runs batched on every ``every``-th frame (the keyframes). Detections of a keyframe are assigned to the
tracks alive at that moment by an optimal one-to-one matching (``scipy.optimize.linear_sum_assignment``) on
box overlap (IoU, ``torchvision.ops.box_iou``) plus appearance (a normalised grey thumbnail of the face):
overlap decides where faces are apart, appearance where their boxes cross. A pair needs an IoU of at least
``min_iou``; a detection left unmatched starts a new track, and a track unseen for more than ``max_gap``
frames ends. Between two detections of a track at most ``max_gap`` frames apart its box and landmarks are
interpolated linearly; the frames after its last detection up to the next keyframe hold that detection
when the video ends there; every other frame is "missing" for that track (the face was lost).
Face/no-face changes are therefore found to within ``every`` frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

from softfer.faces.detect import Batch, Face, FaceDetector, detect_batches

THUMB = 16
APPEARANCE_WEIGHT = 0.5


@dataclass
class Track:
    """One face through a video: per-frame boxes (N, 4) and landmarks (N, 5, 2), NaN where missing, and
    each frame's status: "detected", "interpolated" or "missing"."""

    id: int
    boxes: np.ndarray
    landmarks: np.ndarray
    status: list[str]

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.boxes[:, 0])

    def lost_frames(self) -> list[int]:
        """Frames between the track's first and last detection where the face was not seen."""
        idx = np.flatnonzero(self.present)
        if not len(idx):
            return []
        return [i for i in range(idx[0], idx[-1] + 1) if self.status[i] == "missing"]


@dataclass
class Tracking:
    """The tracks of a video (or photo): frame times (s), frame size (h, w) and the tracks."""

    times: np.ndarray
    size: tuple[int, int]
    tracks: list[Track] = field(default_factory=list)


def appearance(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A zero-mean, unit-norm grey thumbnail of a face box (comparable by a dot product)."""
    h, w = frame.shape[:2]
    x0, y0 = int(np.clip(box[0], 0, w - 1)), int(np.clip(box[1], 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(box[2]), x0 + 1, w)), int(np.clip(np.ceil(box[3]), y0 + 1, h))
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    v = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    v -= v.mean()
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@dataclass
class _Live:
    id: int
    box: np.ndarray
    look: np.ndarray
    last: int
    hits: list[tuple[int, Face]] = field(default_factory=list)


def _match(live: list[_Live], faces: list[Face], looks: list[np.ndarray], min_iou: float) -> dict[int, int]:
    """{detection index: live track index} of the best one-to-one assignment with IoU >= min_iou."""
    if not live or not faces:
        return {}
    a = torch.as_tensor(np.stack([t.box for t in live]))
    b = torch.as_tensor(np.stack([f.box for f in faces]))
    overlap = box_iou(a, b).numpy()
    similar = np.stack([t.look for t in live]) @ np.stack(looks).T
    score = overlap + APPEARANCE_WEIGHT * similar
    allowed = overlap >= min_iou
    if allowed.shape == (1, 1):  # one face, one track: nothing to assign (and no 0.5 s scipy.optimize import)
        return {0: 0} if allowed[0, 0] else {}
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.where(allowed, -score, 1e6))
    return {int(c): int(r) for r, c in zip(rows, cols, strict=True) if allowed[r, c]}


Keyframe = tuple[int, list[Face], list[np.ndarray]]  # frame index, faces, their appearance


def _associate(keyframes: list[Keyframe], max_gap: int, min_iou: float) -> list[_Live]:
    done: list[_Live] = []
    live: list[_Live] = []
    for i, faces, looks in keyframes:
        done += [t for t in live if i - t.last > max_gap]
        live = [t for t in live if i - t.last <= max_gap]
        pairs = _match(live, faces, looks, min_iou)
        for d, (face, look) in enumerate(zip(faces, looks, strict=True)):
            if d in pairs:
                t = live[pairs[d]]
                t.box, t.look, t.last = face.box, look, i
            else:
                t = _Live(len(done) + len(live), face.box, look, i)
                live.append(t)
            t.hits.append((i, face))
    return sorted(done + live, key=lambda t: t.id)


def _fill(t: _Live, n: int, max_gap: int) -> Track:
    boxes, marks = np.full((n, 4), np.nan), np.full((n, 5, 2), np.nan)
    status = ["missing"] * n
    for i, face in t.hits:
        boxes[i], marks[i], status[i] = face.box, face.landmarks, "detected"
    for (i, a), (j, b) in zip(t.hits, t.hits[1:], strict=False):
        if j - i <= max_gap:
            for k in range(i + 1, j):
                w = (k - i) / (j - i)
                boxes[k] = (1 - w) * a.box + w * b.box
                marks[k] = (1 - w) * a.landmarks + w * b.landmarks
                status[k] = "interpolated"
    return Track(t.id, boxes, marks, status)


def detection_frames(every: int) -> Callable[[int, bool], bool]:
    """The frames ``track_faces(every=...)`` looks at: every ``every``-th and the last (a ``Keep`` for
    ``softfer.io.video.iter_frames``, so the others need not become pixels)."""
    return lambda i, last: i % every == 0 or last


def track_faces(
    frames: Iterable[tuple[float, np.ndarray | None]],
    detector: FaceDetector,
    *,
    every: int = 5,
    max_gap: int = 12,
    largest_only: bool = False,
    min_iou: float = 0.1,
    batch: int = 8,
    workers: int = 1,
) -> Tracking:
    """Detect and track every face of a video given as (time, RGB frame) pairs.

    Args:
        frames: the decoded frames (``softfer.io.video.iter_frames``); a photo is one frame. Frames other
            than ``detection_frames(every)`` may be None (only their times are used).
        detector: the MTCNN wrapper.
        every: detect on every ``every``-th frame.
        max_gap: frames a track may go unseen before it ends (and the longest interpolated gap).
        largest_only: keep only the largest face of each keyframe (``--faces largest``).
        min_iou: the smallest box overlap that continues a track.
        batch: keyframes per MTCNN call.
        workers: MTCNN calls at once, each on one thread (``detect_batches``); 1 on a GPU.

    Raises:
        ValueError: a frame that detection needs is None.
    """
    times: list[float] = []
    size = [(0, 0)]

    def keyframe_batches() -> Iterator[Batch]:  # records every frame's time and the frame size on the way
        pending: Batch = []
        last = None
        for i, (t, frame) in enumerate(frames):
            times.append(t)
            if frame is not None:
                size[0] = frame.shape[:2]
            if i % every == 0:
                pending.append(_with_pixels(i, frame))
                if len(pending) == batch:
                    yield pending
                    pending = []
            last = (i, frame)
        if last is not None and last[0] % every:  # the last frame is a keyframe too: no guessing at the end
            pending.append(_with_pixels(*last))
        if pending:
            yield pending

    keyframes: list[Keyframe] = []  # only the faces and their thumbnails are kept, not the frames
    for done, found in detect_batches(detector, keyframe_batches(), workers):
        for (i, frame), faces in zip(done, found, strict=True):
            faces = faces[:1] if largest_only else faces
            keyframes.append((i, faces, [appearance(frame, f.box) for f in faces]))
    live = _associate(keyframes, max_gap, min_iou)
    n = len(times)
    return Tracking(np.asarray(times), size[0], [_fill(t, n, max_gap) for t in live])


def _with_pixels(i: int, frame: np.ndarray | None) -> tuple[int, np.ndarray]:
    if frame is None:
        raise ValueError(f"frame {i} has no pixels, but faces are detected on it (detection_frames)")
    return i, frame
