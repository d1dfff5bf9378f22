"""Clip-consistent augmentation of uint8 frames and on-device normalisation.

``ClipTransform`` draws its random parameters once per call, so every frame of a clip is cropped,
scaled and flipped alike. Crop and resize run per frame with OpenCV, straight into the output array
(no stacked intermediate clip); colour jitter and affine then run with torchvision's v2 transforms on the
whole clip, which also apply one set of parameters to every leading dimension.

The crop box and the flip are drawn from a NumPy generator (the dataset's per-item one) with the sampling
of torchvision's ``RandomResizedCrop``: its ``get_params`` makes about ten scalar torch calls, and those
plus forking torch's generator for every item cost about 5 % of the loader's time (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def seeded_call(rng: np.random.Generator, fn: Callable, x):
    """``fn(x)`` with torch's global generator forked and seeded from ``rng``.

    torchvision's random transforms draw from torch's global generator; forking it keeps items
    reproducible from their own generator and independent of each other and of the caller's state.
    (``torch.manual_seed`` would also seed, and record a stack trace for, lazy CUDA: ~0.7 ms per item.)
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(rng.integers(2**62)))
        return fn(x)


def random_resized_crop_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """(top, left, crop_h, crop_w) of a random resized crop, sampled as torchvision's RandomResizedCrop.

    The area fraction is uniform in ``scale`` and the aspect ratio log-uniform in ``ratio``; a box that
    does not fit is redrawn up to ten times, then the largest central box within ``ratio`` is used.
    """
    area = height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_low, log_high))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return top, left, crop_h, crop_w
    crop_h, crop_w = height, width
    if width / height < min(ratio):
        crop_h = round(width / min(ratio))
    elif width / height > max(ratio):
        crop_w = round(height * max(ratio))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


class ClipTransform:
    """Random scaling (resized crop), flip, colour jitter and affine, then the final size; uint8 in/out.

    Args:
        size: output side (frames are resized to size x size).
        train: draw random augmentation; False only resizes the whole frame.
        scale, ratio: area fraction and aspect-ratio range of the random crop (torchvision's
            RandomResizedCrop sampling).
        flip: random horizontal flip with probability 0.5.
        color_jitter: brightness/contrast/saturation jitter strength (0 = off).
        affine_degrees: random rotation range of a mild affine (0 = off).

    Crop and flip are drawn from ``rng`` when the call passes one (the datasets pass each item's
    generator), else from a generator seeded by torch's global one, so ``torch.manual_seed`` still
    reproduces a direct call. Colour jitter and affine use torch's generator (forked and seeded from
    ``rng`` when given).
    """

    def __init__(
        self,
        size: int,
        *,
        train: bool,
        scale: tuple[float, float] | None = (0.7, 1.0),
        ratio: tuple[float, float] = (0.9, 1.1),
        flip: bool = True,
        color_jitter: float = 0.0,
        affine_degrees: float = 0.0,
    ) -> None:
        self.size, self.train = size, train
        self.scale, self.ratio, self.flip = scale, ratio, flip
        tail: list[v2.Transform] = []
        if train and color_jitter > 0:
            tail.append(v2.ColorJitter(color_jitter, color_jitter, color_jitter))
        if train and affine_degrees > 0:
            tail.append(v2.RandomAffine(affine_degrees, translate=(0.05, 0.05), scale=(0.95, 1.05)))
        self.tail = v2.Compose(tail) if tail else None

    def __repr__(self) -> str:
        return (
            f"ClipTransform(size={self.size}, train={self.train}, scale={self.scale}, ratio={self.ratio}, "
            f"flip={self.flip}, tail={self.tail})"
        )

    def __call__(
        self,
        frames: Sequence[np.ndarray] | np.ndarray | torch.Tensor,
        rng: np.random.Generator | None = None,
    ) -> torch.Tensor:
        """Frames (T, H, W, 3) uint8 (array, list of arrays, or a (T, 3, H, W) tensor) -> (T, 3, S, S)."""
        if isinstance(frames, torch.Tensor):
            frames = frames.permute(0, 2, 3, 1).numpy()
        height, width = frames[0].shape[:2]
        top, left, crop_h, crop_w = 0, 0, height, width
        flip = False
        if self.train:
            if rng is None:
                rng = np.random.default_rng(int(torch.randint(2**62, ())))
            if self.scale is not None:  # None: no random scaling, the whole frame is resized
                top, left, crop_h, crop_w = random_resized_crop_box(
                    height, width, self.scale, self.ratio, rng
                )
            flip = self.flip and rng.random() < 0.5
        # Bilinear up to 2x shrinking (at exactly 2x it averages 2x2 blocks); area averaging beyond,
        # where bilinear sampling would alias.
        shrink = max(crop_h, crop_w) / self.size
        interp = cv2.INTER_AREA if shrink > 2 else cv2.INTER_LINEAR
        out = np.empty((len(frames), self.size, self.size, 3), np.uint8)
        for k, frame in enumerate(frames):
            crop = frame[top : top + crop_h, left : left + crop_w]
            if crop.shape[:2] == (self.size, self.size):
                out[k] = crop
            else:
                cv2.resize(crop, (self.size, self.size), dst=out[k], interpolation=interp)
        if flip:
            # Mirroring the frames stacked as one tall image mirrors each of them, in place.
            tall = out.reshape(-1, self.size, 3)
            cv2.flip(tall, 1, dst=tall)
        clip = torch.from_numpy(out).permute(0, 3, 1, 2)  # a channels-last view: no copy
        if self.tail is None:
            return clip
        return self.tail(clip) if rng is None else seeded_call(rng, self.tail, clip)


def train_transform(
    size: int,
    *,
    scale: tuple[float, float] | None = (0.7, 1.0),
    flip: bool = True,
    color_jitter: float = 0.0,
    affine_degrees: float = 0.0,
) -> ClipTransform:
    """Training augmentation: random scaling (resized crop), flip, colour jitter and affine."""
    return ClipTransform(
        size, train=True, scale=scale, flip=flip, color_jitter=color_jitter, affine_degrees=affine_degrees
    )


def eval_transform(size: int) -> ClipTransform:
    """Evaluation: resize the whole frame to size x size."""
    return ClipTransform(size, train=False)


def normalize(
    x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """uint8 (..., C, H, W) on any device -> float32 ``(x / 255 - mean) / std`` per channel.

    The defaults are ImageNet's statistics; a model's input must use the model's own
    (``softfer.models.spec_of(model).mean`` / ``.std``: Kinetics-400's for r3d_18).

    Raises:
        ValueError: ``x`` is not uint8 (already-normalised input would be scaled twice) or its
            channel dimension does not match ``mean``/``std``.
    """
    if x.dtype != torch.uint8:
        raise ValueError(f"normalize takes uint8 pixels, got {x.dtype} (is the input already normalised?)")
    if x.dim() < 3 or x.shape[-3] != len(mean) or len(mean) != len(std):
        raise ValueError(
            f"normalize: input {tuple(x.shape)} needs {len(mean)} channels at dim -3 (mean {tuple(mean)}, "
            f"std {tuple(std)})"
        )
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    return (x.float() / 255.0 - m) / s
