"""TSN-style segment sampling (Wang et al.): N segments x k consecutive frames per clip."""

from __future__ import annotations

import numpy as np


def segment_indices(
    num_frames: int,
    *,
    segments: int = 8,
    frames_per_segment: int = 1,
    train: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices (segments * frames_per_segment,) into a clip of ``num_frames`` frames.

    The clip is cut into ``segments`` equal parts. Training takes k consecutive frames at a random offset
    inside each part; testing takes them at each part's centre. A clip shorter than segments * k frames
    is read in order and padded by repeating its last frame (not frame 0).
    """
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    need = segments * frames_per_segment
    if num_frames < need:
        return np.minimum(np.arange(need), num_frames - 1)
    if train and rng is None:
        raise ValueError("training sampling needs an rng")
    bounds = np.arange(segments + 1, dtype=np.int64) * num_frames // segments  # exact floor(k n / N)
    starts, ends = bounds[:-1], bounds[1:]
    room = np.maximum(ends - starts - frames_per_segment, 0)
    if train:
        offsets = starts + (rng.random(segments) * (room + 1)).astype(np.int64)
    else:
        offsets = starts + room // 2
    idx = offsets[:, None] + np.arange(frames_per_segment)[None, :]
    return np.minimum(idx.ravel(), num_frames - 1)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one dataset item: the same (seed, epoch, index) always samples the same frames."""
    return np.random.default_rng([seed, epoch, index])
