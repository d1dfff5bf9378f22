"""Clip-consistent augmentation on uint8 tensors and on-device normalisation.

torchvision's v2 transforms draw their random parameters once per call and apply them to every leading
dimension, so one call on a (T, C, H, W) clip augments all its frames identically.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(
    size: int,
    *,
    scale: tuple[float, float] = (0.7, 1.0),
    flip: bool = True,
    color_jitter: float = 0.0,
    affine_degrees: float = 0.0,
) -> v2.Transform:
    """Random scaling (resized crop), flip, colour jitter and affine, then the final size. uint8 in/out."""
    steps: list[v2.Transform] = [v2.RandomResizedCrop(size, scale=scale, ratio=(0.9, 1.1), antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if color_jitter > 0:
        steps.append(v2.ColorJitter(color_jitter, color_jitter, color_jitter))
    if affine_degrees > 0:
        steps.append(v2.RandomAffine(affine_degrees, translate=(0.05, 0.05), scale=(0.95, 1.05)))
    return v2.Compose(steps)


def eval_transform(size: int) -> v2.Transform:
    """Resize to the model size. uint8 in/out."""
    return v2.Resize((size, size), antialias=True)


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (..., C, H, W) on any device -> float32 normalised with ImageNet statistics."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    return (x.float() / 255.0 - m) / s
