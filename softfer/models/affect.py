"""Image ResNet-18 with a class head and a valence/arousal head (dual-domain paper, section 4.2)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from softfer.models.backbone import resnet18_trunk
from softfer.models.registry import register_model
from softfer.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec


class AffectOutput(NamedTuple):
    """Class logits (B, K) and valence/arousal in [-1, 1] (B, 2)."""

    logits: torch.Tensor
    va: torch.Tensor


class AffectResNet18(nn.Module):
    """Shared 512-d ResNet-18 feature -> class logits and tanh valence/arousal. Input (B, C, H, W)."""

    def __init__(self, num_classes: int, *, width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = resnet18_trunk(width=width)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.num_features, num_classes)
        self.va_head = nn.Linear(self.backbone.num_features, 2)

    def forward(self, images: torch.Tensor) -> AffectOutput:
        if images.dim() != 4:
            raise ValueError(f"expected images shaped (B, C, H, W), got {tuple(images.shape)}")
        feats = self.dropout(self.backbone(images))
        return AffectOutput(self.fc(feats), torch.tanh(self.va_head(feats)))


@register_model(
    spec=ModelSpec(
        input_kind="image",
        heads="logits+va",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained_kind="imagenet-resnet18",
    )
)
def r18_affect(*, num_classes: int = 8, width: int = 64, dropout: float = 0.0) -> AffectResNet18:
    """ResNet-18 with class (8 or 7) and valence/arousal heads."""
    return AffectResNet18(num_classes, width=width, dropout=dropout)
