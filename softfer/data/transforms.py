"""Clip-consistent augmentation of uint8 frames and on-device normalisation.

``ClipTransform`` draws its random parameters once per call, so every frame of a clip is cropped,
scaled and flipped alike. Crop and resize run per frame with OpenCV, straight into the output array
(no stacked intermediate clip); colour jitter and affine then run with torchvision's v2 transforms on the
whole clip, which also apply one set of parameters to every leading dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torchvision import transforms as tv1
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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

    Random draws use torch's global generator; the datasets seed a private fork of it per item.
    """

    def __init__(
        self,
        size: int,
        *,
        train: bool,
        scale: tuple[float, float] = (0.7, 1.0),
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

    def __call__(self, frames: Sequence[np.ndarray] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames (T, H, W, 3) uint8 (array, list of arrays, or a (T, 3, H, W) tensor) -> (T, 3, S, S)."""
        if isinstance(frames, torch.Tensor):
            frames = frames.permute(0, 2, 3, 1).numpy()
        height, width = frames[0].shape[:2]
        top, left, crop_h, crop_w = 0, 0, height, width
        if self.train:
            # torchvision's own sampling of the crop box; the tensor only carries the frame size
            top, left, crop_h, crop_w = tv1.RandomResizedCrop.get_params(
                torch.empty(0, height, width), list(self.scale), list(self.ratio)
            )
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
        clip = torch.from_numpy(out)
        if self.train and self.flip and torch.rand(()) < 0.5:
            clip = clip.flip(2)
        clip = clip.permute(0, 3, 1, 2)  # a channels-last view: no copy
        return self.tail(clip) if self.tail is not None else clip


def train_transform(
    size: int,
    *,
    scale: tuple[float, float] = (0.7, 1.0),
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


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (..., C, H, W) on any device -> float32 normalised with ImageNet statistics."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    return (x.float() / 255.0 - m) / s
