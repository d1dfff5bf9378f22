"""ResNet-18 + Temporal Shift Module (Lin et al., ICCV 2019), the MIDAS architecture (section 4.3).

The shift sits on the residual branch of every basic block, before its first convolution; the identity
path carries the unshifted features. It is implemented as a Conv2d subclass ("shift, then convolve") that
replaces each block's ``conv1``, so parameter names stay those of torchvision's ResNet-18.
"""

from __future__ import annotations

import torch
from torch import nn

from softfer.models.backbone import resnet18_trunk
from softfer.models.registry import register_model
from softfer.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec


def temporal_shift(x: torch.Tensor, num_frames: int, fold_div: int = 8) -> torch.Tensor:
    """Shift 1/fold_div of the channels one frame back and 1/fold_div one frame forward.

    Input (B*T, C, H, W). With fold = C // fold_div: channels [0, fold) of frame t take frame t+1,
    channels [fold, 2*fold) take frame t-1, zeros past the clip ends, the rest unchanged.
    """
    bt, c, h, w = x.shape
    if bt % num_frames:
        raise ValueError(f"batch*frames={bt} is not a multiple of num_frames={num_frames}")
    fold = c // fold_div
    if fold == 0:
        return x
    v = x.view(bt // num_frames, num_frames, c, h, w)
    out = torch.zeros_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = v[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = v[:, :, 2 * fold :]
    return out.view(bt, c, h, w)


class ShiftConv2d(nn.Conv2d):
    """A Conv2d that applies the temporal shift to its input first (when enabled)."""

    def __init__(self, *args, fold_div: int = 8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fold_div = fold_div
        self.num_frames = 1
        self.shift_enabled = True

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, fold_div: int = 8) -> ShiftConv2d:
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            fold_div=fold_div,
        )
        new.weight = conv.weight
        if conv.bias is not None:
            new.bias = conv.bias
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shift_enabled and self.num_frames > 1:
            x = temporal_shift(x, self.num_frames, self.fold_div)
        return super().forward(x)


class TSMResNet18(nn.Module):
    """ResNet-18 with residual temporal shifts; per-frame logits averaged over frames.

    Input (B, T, C, H, W) -> logits (B, num_classes).
    """

    def __init__(self, num_classes: int, *, width: int = 64, dropout: float = 0.5, fold_div: int = 8) -> None:
        super().__init__()
        self.backbone = resnet18_trunk(width=width)
        self._shift_convs: list[ShiftConv2d] = []
        for stage in (self.backbone.layer1, self.backbone.layer2, self.backbone.layer3, self.backbone.layer4):
            for block in stage:
                block.conv1 = ShiftConv2d.from_conv(block.conv1, fold_div)
                self._shift_convs.append(block.conv1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.num_features, num_classes)
        # TSM's head initialisation: N(0, 0.001) weights, zero bias.
        nn.init.normal_(self.fc.weight, 0.0, 0.001)
        nn.init.zeros_(self.fc.bias)

    def set_shift(self, enabled: bool) -> None:
        """Switch the temporal shift on or off (off = a plain per-frame ResNet-18)."""
        for conv in self._shift_convs:
            conv.shift_enabled = enabled

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> pooled per-frame features (B, T, F)."""
        if clips.dim() != 5:
            raise ValueError(f"expected clips shaped (B, T, C, H, W), got {tuple(clips.shape)}")
        b, t = clips.shape[:2]
        for conv in self._shift_convs:
            conv.num_frames = t
        feats = self.backbone(clips.flatten(0, 1))
        return feats.view(b, t, -1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        feats = self.frame_features(clips)
        return self.fc(self.dropout(feats)).mean(dim=1)


@register_model(
    spec=ModelSpec(
        input_kind="clip",
        heads="logits",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained_kind="imagenet-resnet18",
    )
)
def tsm_r18(*, num_classes: int = 7, width: int = 64, dropout: float = 0.5, fold_div: int = 8) -> TSMResNet18:
    """ResNet-18 + TSM (MIDAS Tables 1-6). ``width`` 64 is the paper's network; smaller widths for CPU."""
    return TSMResNet18(num_classes, width=width, dropout=dropout, fold_div=fold_div)
