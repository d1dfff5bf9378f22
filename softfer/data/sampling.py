"""TSN-style segment sampling (Wang et al.): N segments x k consecutive frames per clip."""

from __future__ import annotations

import numpy as np


def tsm_test_offsets(num_frames: int, segments: int, frames_per_segment: int = 1) -> np.ndarray:
    """First frame of each segment at test time, by TSM's rule (Lin et al., ``_get_test_indices``).

    With ``tick = (num_frames - k + 1) / segments`` the start of segment x is ``int(tick / 2 + tick * x)``:
    the middle of the segment, rounded down, so an even-length segment gives its upper middle frame (16
    frames in 8 segments -> 1, 3, ..., 15). Computed in float64 like the reference, so indices agree with
    it for every segment count (for 8 or 16 segments this is exactly floor((n-k+1)(2x+1) / 2N)).
    With k > 1 and n close to N * k, neighbouring windows may share a frame, as in the reference.
    """
    tick = (num_frames - frames_per_segment + 1) / float(segments)
    return (tick / 2.0 + tick * np.arange(segments, dtype=np.float64)).astype(np.int64)


def segment_indices(
    num_frames: int,
    *,
    segments: int = 8,
    frames_per_segment: int = 1,
    train: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices (segments * frames_per_segment,) into a clip of ``num_frames`` frames.

    Training cuts the clip into ``segments`` equal parts (part s = [floor(s n / N), floor((s+1) n / N)))
    and takes k consecutive frames at a random offset inside each. Testing takes k consecutive frames
    starting at ``tsm_test_offsets`` (TSM's middle of each segment). A clip shorter than segments * k frames
    is read in order and padded by repeating its last frame (not frame 0), in training and testing.
    """
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    need = segments * frames_per_segment
    if num_frames < need:
        return np.minimum(np.arange(need), num_frames - 1)
    if train and rng is None:
        raise ValueError("training sampling needs an rng")
    if train:
        bounds = np.arange(segments + 1, dtype=np.int64) * num_frames // segments  # exact floor(k n / N)
        starts, ends = bounds[:-1], bounds[1:]
        room = np.maximum(ends - starts - frames_per_segment, 0)
        offsets = starts + (rng.random(segments) * (room + 1)).astype(np.int64)
    else:
        offsets = tsm_test_offsets(num_frames, segments, frames_per_segment)
    idx = offsets[:, None] + np.arange(frames_per_segment)[None, :]
    return np.minimum(idx.ravel(), num_frames - 1)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one dataset item: the same (seed, epoch, index) always samples the same frames."""
    return np.random.default_rng([seed, epoch, index])
