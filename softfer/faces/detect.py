"""Face detection with facenet-pytorch's MTCNN (weights ship inside the package: works offline)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

from softfer.io.threads import ops_threads

Batch = list[tuple[int, np.ndarray]]  # (frame index, RGB frame) of the frames one MTCNN call looks at


@dataclass(frozen=True)
class Face:
    """A detected face: box (x0, y0, x1, y1), confidence, and 5 landmarks (eyes, nose, mouth corners)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (``torchvision.ops.box_iou``)."""
    ta = torch.as_tensor(np.asarray(a, np.float64)[None, :4])
    tb = torch.as_tensor(np.asarray(b, np.float64)[None, :4])
    return float(box_iou(ta, tb)[0, 0].nan_to_num(0.0))


class FaceDetector:
    """Batched MTCNN detection on RGB uint8 frames, optionally on a downscaled copy for speed.

    Args:
        device: torch device for MTCNN.
        min_score: faces below this confidence are dropped.
        max_side: frames whose longer side exceeds this are downscaled for detection (coordinates are
            mapped back); None detects at full resolution.
        min_face: smallest face (pixels, at detection resolution) MTCNN searches for.
    """

    def __init__(
        self, *, device: str = "cpu", min_score: float = 0.9, max_side: int | None = 480, min_face: int = 20
    ):
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, device=device, min_face_size=min_face, post_process=False)
        self.min_score, self.max_side, self.min_face = min_score, max_side, min_face

    def detect(self, frames: list[np.ndarray]) -> list[list[Face]]:
        """Faces per frame (all frames the same size), sorted by area, largest first; none in frames too
        small to show a face of ``min_face`` pixels at detection resolution."""
        if not frames:
            return []
        h, w = frames[0].shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
        size = (round(w * scale), round(h * scale)) if scale != 1.0 else (w, h)
        # MTCNN's pyramid starts at scale 12 / min_face (P-Net sees 12 px) and, in facenet's arithmetic
        # here, has no level when the shorter side is under min_face: facenet then fails (torch.cat of no
        # boxes) instead of finding nothing, and cv2.resize fails on a side that rounds to 0.
        if min(size) * (12.0 / self.min_face) < 12:
            return [[] for _ in frames]
        if scale != 1.0:
            frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        batch = np.stack(frames) if len(frames) > 1 else frames[0]
        boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
        if len(frames) == 1:
            boxes, probs, points = [boxes], [probs], [points]
        out = []
        for b, p, pts in zip(boxes, probs, points, strict=True):
            faces = []
            if b is not None:
                for box, score, marks in zip(b, p, pts, strict=True):
                    if score is not None and score >= self.min_score:
                        faces.append(
                            Face(
                                np.asarray(box, np.float64) / scale,
                                float(score),
                                np.asarray(marks, np.float64) / scale,
                            )
                        )
            out.append(sorted(faces, key=lambda f: -f.area))
        return out


def detect_batches(
    detector: FaceDetector, batches: Iterable[Batch], workers: int = 1
) -> Iterator[tuple[Batch, list[list[Face]]]]:
    """(batch, its faces per frame) for each batch, in order.

    With ``workers`` > 1, that many batches are detected at once, each in its own thread on one torch
    thread: MTCNN runs many small operators, and one thread per batch keeps every core busy where torch's
    threads would wait for each other after each operator (2 cores: 1.2 s instead of 2.0 s for the 95
    keyframes of a 20 s video, docs/BENCHMARKS.md). The boxes are those of a one-thread run.
    """
    if workers <= 1:
        for batch in batches:
            yield batch, detector.detect([f for _, f in batch])
        return
    with ops_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="softfer-detect") as pool:
        waiting: deque = deque()
        for batch in batches:
            waiting.append((batch, pool.submit(detector.detect, [f for _, f in batch])))
            if len(waiting) > workers:  # at most workers + 1 batches of frames held
                done, future = waiting.popleft()
                yield done, future.result()
        while waiting:
            done, future = waiting.popleft()
            yield done, future.result()
