"""torchvision's 3D ResNet-18 (Hara et al.), taking the same (B, T, C, H, W) clips as the 2-D models."""

from __future__ import annotations

import torch
from torch import nn

from softfer.models.registry import register_model
from softfer.models.spec import KINETICS400_MEAN, KINETICS400_STD, ModelSpec


class R3D18(nn.Module):
    """Wraps ``torchvision.models.video.r3d_18``; its ``net`` keeps torchvision's parameter names."""

    def __init__(self, num_classes: int, *, dropout: float = 0.5) -> None:
        super().__init__()
        from torchvision.models.video import r3d_18  # with the model, not with the registry

        self.net = r3d_18(weights=None)
        in_features = self.net.fc.in_features
        self.net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5:
            raise ValueError(f"expected clips shaped (B, T, C, H, W), got {tuple(clips.shape)}")
        # torchvision's video models take (B, C, T, H, W).
        return self.net(clips.transpose(1, 2))


# Kinetics-400 weights were trained on 112 x 112 crops with Kinetics statistics (torchvision's
# R3D_18_Weights.KINETICS400_V1 transforms).
@register_model(
    spec=ModelSpec(
        input_kind="clip",
        heads="logits",
        mean=KINETICS400_MEAN,
        std=KINETICS400_STD,
        pretrained_kind="kinetics400-r3d18",
        input_size=112,
        trunk="net",
        cam_layer="net.layer4",
    )
)
def r3d_18(*, num_classes: int = 7, dropout: float = 0.5) -> R3D18:
    """3D ResNet-18 (MIDAS Table 1 baseline); Kinetics-400 weights load with ``pretrained=``."""
    return R3D18(num_classes, dropout=dropout)
