"""From frames to emotion distributions: every face tracked, cropped as its model expects, classified.

Image models classify every frame of every track; a window's distribution is the mean of its frames'
distributions (when a face is in at least half of its frames). Clip models classify windows: a window's
clip is ``segments x frames_per_segment`` frames picked evenly among the frames of the window that show the
track's face (again at least half of them must); a frame's distribution is the mean of the classified
windows that cover it. Entropy is in nats (ln K for a uniform distribution over K classes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from softfer.faces.align import align_face, box_crop
from softfer.faces.multitrack import Track, Tracking
from softfer.inference.batch import forward, frames_input, probabilities
from softfer.io.video import Keep, stated_rate
from softfer.limits import MAX_SECONDS, MAX_WINDOWS_PER_FRAME
from softfer.models import spec_of

MIN_FACE_SHARE = 0.5

FrameSource = Callable[[Keep | None], Iterable[tuple[float, np.ndarray | None]]]
"""A fresh pass over a video's (time, RGB frame) pairs per call; frames ``keep`` rejects may be None."""


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


def rounded_up(x: float) -> float:
    """``x`` rounded up to 3 significant digits: a least value an error states is one that passes."""
    # WHY to 12 digits first: 1 / 5 is 0.2000000000000000111 as a float, which would round up to 0.201
    return float(Context(prec=3, rounding=ROUND_CEILING).plus(Context(prec=12).create_decimal(x)))


def check_stride(stride: float, frames: int, duration: float) -> None:
    """Refuse a stride below 1 / ``MAX_WINDOWS_PER_FRAME`` of the spacing of ``frames`` frames over
    ``duration`` seconds, so that the windows take memory in proportion to the frames (``softfer.limits``).

    Raises:
        ValueError: naming the stride and its least value for these frames, or the frames' spacing when no
            stride up to ``MAX_SECONDS`` suits it (frames a day apart: a wrong frame rate or timestamps).
    """
    spacing = duration / frames
    # WHY the tolerance: frames i / fps are 1 / fps apart only up to rounding; nan and inf fail the test
    if stride * MAX_WINDOWS_PER_FRAME >= spacing * (1 - 1e-9):
        return
    least = rounded_up(spacing / MAX_WINDOWS_PER_FRAME)
    per = f"at most {MAX_WINDOWS_PER_FRAME} windows per frame"
    if least <= MAX_SECONDS:
        raise ValueError(
            f"stride must be a number in [{least:g}, {MAX_SECONDS:g}] for frames {spacing:.3g} s apart "
            f"({per}), got {stride!r}"
        )
    raise ValueError(
        f"{frames} frames over {duration:.3g} s are {spacing:.3g} s apart: no stride in (0, {MAX_SECONDS:g}] "
        f"makes {per}; check their frame rate or timestamps"
    )


def check_video_stride(path: Path, stride: float) -> None:
    """Refuse ``stride`` for a video file before its faces are tracked (minutes, on a long video), by the
    frame rate its container states (``check_stride``); ``windows`` checks it again on the decoded times.

    Raises:
        ValueError: naming the file, the stride's range for frames that far apart and the stated rate.
    """
    rate = stated_rate(path)  # the one video reader's header, not a second opening of the file
    # WHY the 5% margin: a container's stated (average) rate can differ from the decoded frames' spacing
    # (no_face.mp4 states 23.67 fps, decodes at 24): a stride near the limit is left to the decoded times
    if rate is None or stride * MAX_WINDOWS_PER_FRAME >= 0.95 / rate:
        return
    try:
        check_stride(stride, 1, 1 / rate)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc} (its container states {rate:.4g} fps)") from None


def windows(times: np.ndarray, window: float, stride: float) -> list[tuple[float, float]]:
    """Windows of ``window`` seconds every ``stride`` seconds over the video (the last ends with it); a
    stride too small for the frames' spacing is refused (``check_stride``)."""
    if not len(times):
        return []
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    duration = float(times[-1] - times[0] + step)
    check_stride(stride, len(times), duration)
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


def _crops(frames: Iterable, wanted: dict[int, set[int]], tracks: list[Track], model, size: int) -> Iterator:
    """(track id, frame index, crop) of the ``wanted`` frames of each track, in frame order."""
    for i, (_, frame) in enumerate(frames):
        for t in tracks:
            if i in wanted[t.id]:
                yield t.id, i, face_crop(model, frame, t.boxes[i], t.landmarks[i], size)


def _frames_for(frames: FrameSource, wanted: dict[int, set[int]]) -> Iterable:
    """The frames of ``frames`` with pixels where a track wants a crop (the others need not be converted)."""
    needed: set[int] = set().union(*wanted.values())
    return frames(lambda i, _last: i in needed)


def _seen(times: np.ndarray, span: tuple[float, float], present: np.ndarray) -> tuple[np.ndarray, float]:
    """The frames of a window that show the face, and their share of the window's frames."""
    inside = _inside(times, span)
    seen = inside[present[inside]] if len(inside) else inside
    return seen, len(seen) / max(len(inside), 1)


def _clip_picks(tracking: Tracking, spans, need: int) -> tuple[dict[int, list], dict[int, np.ndarray]]:
    """Per track: (window, the ``need`` frame indices of its clip) of each window shown enough, and every
    window's face share."""
    picks, shares = {}, {}
    for t in tracking.tracks:
        picks[t.id], shares[t.id] = [], np.zeros(len(spans))
        for w, span in enumerate(spans):
            seen, shares[t.id][w] = _seen(tracking.times, span, t.present)
            if len(seen) and shares[t.id][w] >= MIN_FACE_SHARE:
                picks[t.id].append((w, seen[np.linspace(0, len(seen) - 1, need).round().astype(int)]))
    return picks, shares


def analyse(
    frames: FrameSource,
    tracking: Tracking,
    model: torch.nn.Module,
    cfg: Any,
    num_classes: int,
    *,
    window: float = 2.0,
    stride: float = 0.5,
    temperature: float = 1.0,
) -> Analysis:
    """Classify the tracked faces of a second pass over the frames ``tracking`` came from (``frames(keep)``
    gives them; only the frames a crop is taken from need pixels); ``temperature`` divides the logits
    (``classify``)."""
    n, spans = len(tracking.times), windows(tracking.times, window, stride)
    size = cfg.data.size
    if spec_of(model).input_kind == "image":
        return _analyse_images(frames, tracking, model, size, spans, num_classes, temperature)
    picks, shares = _clip_picks(tracking, spans, cfg.data.segments * cfg.data.frames_per_segment)
    wanted = {tid: {int(i) for _, p in chosen for i in p} for tid, chosen in picks.items()}
    kept: dict[int, dict[int, np.ndarray]] = {t.id: {} for t in tracking.tracks}
    for tid, i, crop in _crops(_frames_for(frames, wanted), wanted, tracking.tracks, model, size):
        kept[tid][i] = crop
    frame_probs, window_probs = {}, {}
    for t in tracking.tracks:
        wp = np.full((len(spans), num_classes), np.nan)
        if picks[t.id]:
            clips = [np.stack([kept[t.id][i] for i in p]) for _, p in picks[t.id]]
            wp[[w for w, _ in picks[t.id]]] = classify(model, clips, temperature=temperature)
        frame_probs[t.id] = _frames_from_windows(wp, spans, tracking.times, n, t.present)
        window_probs[t.id] = wp
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
    frames: FrameSource, tracking: Tracking, model, size: int, spans, k: int, temperature: float
) -> Analysis:
    n = len(tracking.times)
    frame_probs = {t.id: np.full((n, k), np.nan) for t in tracking.tracks}
    batch: list[tuple[int, int, np.ndarray]] = []

    def flush() -> None:
        probs = classify(model, [c for _, _, c in batch], temperature=temperature)
        for (tid, i, _), p in zip(batch, probs, strict=True):
            frame_probs[tid][i] = p
        batch.clear()

    wanted = {t.id: set(np.flatnonzero(t.present).tolist()) for t in tracking.tracks}
    for item in _crops(_frames_for(frames, wanted), wanted, tracking.tracks, model, size):
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
            seen, share[w] = _seen(tracking.times, span, t.present)
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
