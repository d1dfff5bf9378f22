"""2-D ResNet-18 trunk shared by the frame-based models (timm's ResNet: torchvision-compatible keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timm.models.resnet import ResNet


def resnet18_trunk(*, width: int = 64) -> ResNet:
    """ResNet-18 without its classifier; ``width`` scales every stage (64 = the standard network).

    Parameter names match torchvision's ``resnet18`` (conv1, bn1, layer1..4), so ImageNet weights in
    either torchvision or timm format load into it directly.
    """
    if width < 4 or width % 4:
        raise ValueError(f"width must be a positive multiple of 4, got {width}")
    # timm costs more to import than torch itself: loaded when a model is built, not when the registry
    # is read (`softfer models list`, config validation)
    from timm.models.resnet import BasicBlock, ResNet

    return ResNet(
        BasicBlock,
        [2, 2, 2, 2],
        num_classes=0,
        channels=(width, width * 2, width * 4, width * 8),
        stem_width=width,
    )
