"""2D-CNN + GRU ("Resnet18+GRU" of MIDAS Table 1, "2DCNN-GRU" of Table 7)."""

from __future__ import annotations

import torch
from torch import nn

from softfer.models.backbone import resnet18_trunk
from softfer.models.registry import register_model
from softfer.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec


class ResNet18GRU(nn.Module):
    """Per-frame ResNet-18 features -> GRU -> linear head on the last hidden state.

    Input (B, T, C, H, W) -> logits (B, num_classes).
    """

    def __init__(self, num_classes: int, *, width: int = 64, hidden: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.backbone = resnet18_trunk(width=width)
        self.gru = nn.GRU(self.backbone.num_features, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> pooled per-frame features (B, T, F)."""
        if clips.dim() != 5:
            raise ValueError(f"expected clips shaped (B, T, C, H, W), got {tuple(clips.shape)}")
        b, t = clips.shape[:2]
        return self.backbone(clips.flatten(0, 1)).view(b, t, -1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(self.frame_features(clips))
        return self.fc(self.dropout(last[-1]))


@register_model(
    spec=ModelSpec(
        input_kind="clip",
        heads="logits",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained_kind="imagenet-resnet18",
    )
)
def r18_gru(*, num_classes: int = 7, width: int = 64, hidden: int = 512, dropout: float = 0.5) -> ResNet18GRU:
    """ResNet-18 frame encoder + GRU (hidden 512 by default)."""
    return ResNet18GRU(num_classes, width=width, hidden=hidden, dropout=dropout)
