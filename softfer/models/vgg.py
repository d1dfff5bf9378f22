"""The VGG-13-style network of the FER+ paper (Barsoum et al., ICMI 2016), for 48x48 grey faces.

Ten 3x3 convolutions in four blocks (2 x 64, 2 x 128, 3 x 256, 3 x 256 channels at ``width`` 64), each block
ending in 2x2 max pooling and dropout 0.25, then two 1024-unit layers with dropout 0.5 and the class layer,
as the FER+ repository's ``models.py`` builds it. Two differences, both so that one network serves any
input size and exports to ONNX with a dynamic batch (docs/PAPERS.md): the last feature map is averaged over
space before the dense layers (the paper's 64 px input gives a 4x4 map that it flattens), and
``batch_norm`` (off by default, as in the paper) adds batch normalisation after each convolution for short
CPU runs of the demo-sized recipe.

Input: RGB images (B, 3, H, W) normalised with mean 0.5 and std 0.5 per channel; the network turns them
into the grey image FER2013 holds with ITU-R BT.601 weights (OpenCV's RGB-to-grey), which commute with that
normalisation because they sum to 1. `softfer predict` feeds it the face detector's box widened by 20 % on
each side (FER2013's faces are such loose crops; the `fer` package's CNN is fed the same way).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from softfer.models.fer_cnn import BOX_MARGIN, GREY_WEIGHTS
from softfer.models.registry import register_model
from softfer.models.spec import ModelSpec

BLOCKS = ((1, 1), (2, 2), (4, 4, 4), (4, 4, 4))  # channels of each convolution, in multiples of ``width``


def _block(cin: int, widths: tuple[int, ...], batch_norm: bool) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for cout in widths:
        layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
        cin = cout
    layers += [nn.MaxPool2d(2, 2, ceil_mode=True), nn.Dropout(0.25)]
    return nn.Sequential(*layers), cin


class VGG13(nn.Module):
    """FER+'s VGG-13: grey conversion, four convolution blocks, spatial mean, 2 x dense, class layer."""

    def __init__(
        self,
        num_classes: int,
        *,
        width: int = 64,
        hidden: int = 1024,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.register_buffer("grey", torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1), persistent=False)
        blocks, cin = [], 1
        for widths in BLOCKS:
            block, cin = _block(cin, tuple(width * w for w in widths), batch_norm)
            blocks.append(block)
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Linear(cin, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():  # Glorot uniform, as the reference CNTK model (biases zero)
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images shaped (B, 3, H, W), got {tuple(images.shape)}")
        x = (images * self.grey).sum(dim=1, keepdim=True)
        x = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


@register_model(
    spec=ModelSpec(
        input_kind="image",
        heads="logits",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        pretrained_kind="none",
        input_size=48,
        trunk="features",
        cam_layer="features",
        crop="box",
        box_margin=BOX_MARGIN,
    )
)
def vgg13_ferplus(
    *,
    num_classes: int = 8,
    width: int = 64,
    hidden: int = 1024,
    dropout: float = 0.5,
    batch_norm: bool = False,
) -> VGG13:
    """FER+'s VGG-13 for 48x48 grey faces, from scratch (the paper's: ``width`` 64, ``hidden`` 1024)."""
    return VGG13(num_classes, width=width, hidden=hidden, dropout=dropout, batch_norm=batch_norm)
