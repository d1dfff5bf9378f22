"""From frames to emotion distributions: every face tracked, cropped as its model expects, classified.

Image models classify every frame of every track; a window's distribution is the mean of its frames'
distributions (when a face is in at least half of its frames). Clip models classify windows: a window's
clip is ``segments x frames_per_segment`` frames picked evenly among the frames of the window that show the
track's face (again at least half of them must); a frame's distribution is the mean of the classified
windows that cover it. Entropy is in nats (ln K for a uniform distribution over K classes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from softfer.faces.align import align_face, box_crop
from softfer.faces.multitrack import Track, Tracking
from softfer.inference.batch import forward, frames_input, probabilities
from softfer.models import spec_of

MIN_FACE_SHARE = 0.5


@dataclass
class Analysis:
    """Per track: per-frame (N, K) probabilities (NaN where not known) and per-window (W, K) ones, and the
    windows' (start, end, face share)."""

    tracking: Tracking
    frame_probs: dict[int, np.ndarray]
    windows: list[tuple[float, float]]
    window_probs: dict[int, np.ndarray]
    window_share: dict[int, np.ndarray]


def classify(
    model: torch.nn.Module, items: list[np.ndarray], batch: int = 32, *, temperature: float = 1.0
) -> np.ndarray:
    """(N, K) probabilities for uint8 images (H, W, 3) or clips (T, H, W, 3), on the model's device;
    ``temperature`` divides the logits (a calibrated model's, ``softfer.inference.calibration``)."""
    out = []
    device = next(iter(model.parameters()), torch.zeros(0)).device
    with torch.no_grad():
        for i in range(0, len(items), batch):
            logits, _ = forward(model, frames_input(model, np.stack(items[i : i + batch])).to(device))
            out.append(probabilities(logits, temperature).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def face_crop(
    model: torch.nn.Module, frame: np.ndarray, box: np.ndarray, marks: np.ndarray, size: int
) -> np.ndarray:
    """The crop the model was trained on (``ModelSpec.crop``): a detector box with margin, or aligned."""
    spec = spec_of(model)
    if spec.crop == "box":
        return box_crop(frame, box, size, spec.box_margin)
    return align_face(frame, marks, size)


def windows(times: np.ndarray, window: float, stride: float) -> list[tuple[float, float]]:
    """Windows of ``window`` seconds every ``stride`` seconds over the video (the last ends with it)."""
    if not len(times):
        return []
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    duration = float(times[-1] - times[0] + step)
    if duration <= window:
        return [(0.0, duration)]
    starts = np.arange(0.0, duration - window + 1e-9, stride)
    if starts[-1] + window < duration - 1e-6:
        starts = np.append(starts, duration - window)
    return [(float(s), float(s + window)) for s in starts]


def _inside(times: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    rel = times - times[0]
    if span[1] <= span[0]:  # a photo (one frame): the window is that instant
        return np.flatnonzero(np.abs(rel - span[0]) < 1e-9)
    return np.flatnonzero((rel >= span[0] - 1e-9) & (rel < span[1] - 1e-9))


def _crops(frames: Iterable[tuple[float, np.ndarray]], tracks: list[Track], model, size: int) -> Iterator:
    """(track id, frame index, crop) of every tracked face, in frame order."""
    for i, (_, frame) in enumerate(frames):
        for t in tracks:
            if t.present[i]:
                yield t.id, i, face_crop(model, frame, t.boxes[i], t.landmarks[i], size)


def analyse(
    frames: Iterable[tuple[float, np.ndarray]],
    tracking: Tracking,
    model: torch.nn.Module,
    cfg: Any,
    num_classes: int,
    *,
    window: float = 2.0,
    stride: float = 0.5,
    temperature: float = 1.0,
) -> Analysis:
    """Classify the tracked faces of ``frames`` (a second pass over the frames ``tracking`` came from);
    ``temperature`` divides the logits (``classify``)."""
    n, spans = len(tracking.times), windows(tracking.times, window, stride)
    size = cfg.data.size
    if spec_of(model).input_kind == "image":
        return _analyse_images(frames, tracking, model, size, spans, num_classes, temperature)
    kept: dict[int, dict[int, np.ndarray]] = {t.id: {} for t in tracking.tracks}
    for tid, i, crop in _crops(frames, tracking.tracks, model, size):
        kept[tid][i] = crop
    need = cfg.data.segments * cfg.data.frames_per_segment
    frame_probs, window_probs, shares = {}, {}, {}
    for t in tracking.tracks:
        clips, where, share = [], [], np.zeros(len(spans))
        for w, span in enumerate(spans):
            inside = _inside(tracking.times, span)
            seen = [i for i in inside if i in kept[t.id]]
            share[w] = len(seen) / max(len(inside), 1)
            if seen and share[w] >= MIN_FACE_SHARE:
                pick = np.linspace(0, len(seen) - 1, need).round().astype(int)
                clips.append(np.stack([kept[t.id][seen[p]] for p in pick]))
                where.append(w)
        wp = np.full((len(spans), num_classes), np.nan)
        if clips:
            wp[where] = classify(model, clips, temperature=temperature)
        frame_probs[t.id] = _frames_from_windows(wp, spans, tracking.times, n, t.present)
        window_probs[t.id], shares[t.id] = wp, share
    return Analysis(tracking, frame_probs, spans, window_probs, shares)


def _frames_from_windows(wp, spans, times, n: int, present: np.ndarray) -> np.ndarray:
    total, count = np.zeros((n, wp.shape[1])), np.zeros(n)
    for w, span in enumerate(spans):
        if not np.isnan(wp[w, 0]):
            inside = _inside(times, span)
            total[inside] += wp[w]
            count[inside] += 1
    out = np.full((n, wp.shape[1]), np.nan)
    ok = (count > 0) & present
    out[ok] = total[ok] / count[ok, None]
    return out


def _analyse_images(
    frames, tracking: Tracking, model, size: int, spans, k: int, temperature: float
) -> Analysis:
    n = len(tracking.times)
    frame_probs = {t.id: np.full((n, k), np.nan) for t in tracking.tracks}
    batch: list[tuple[int, int, np.ndarray]] = []

    def flush() -> None:
        probs = classify(model, [c for _, _, c in batch], temperature=temperature)
        for (tid, i, _), p in zip(batch, probs, strict=True):
            frame_probs[tid][i] = p
        batch.clear()

    for item in _crops(frames, tracking.tracks, model, size):
        batch.append(item)
        if len(batch) == 64:
            flush()
    if batch:
        flush()
    window_probs, shares = {}, {}
    for t in tracking.tracks:
        fp = frame_probs[t.id]
        wp, share = np.full((len(spans), fp.shape[1]), np.nan), np.zeros(len(spans))
        for w, span in enumerate(spans):
            inside = _inside(tracking.times, span)
            seen = inside[t.present[inside]] if len(inside) else inside
            share[w] = len(seen) / max(len(inside), 1)
            if len(seen) and share[w] >= MIN_FACE_SHARE:
                wp[w] = fp[seen].mean(axis=0)
        window_probs[t.id], shares[t.id] = wp, share
    return Analysis(tracking, frame_probs, spans, window_probs, shares)


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of (N, K) probabilities; NaN rows stay NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    out = terms.sum(axis=-1)
    out[np.isnan(p).any(axis=-1)] = np.nan
    return out
