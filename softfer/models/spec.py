"""What a registered model is: the input it takes, the heads it has, how its input is normalised.

Every model registers a ``ModelSpec`` (``@register_model(spec=...)``); ``create_model`` stores it on the
built module as ``model.softfer_spec`` and ``spec_of(model)`` finds it again through the wrappers training
puts around a model (DDP, ``torch.compile``, SWA's ``AveragedModel``). Code that must treat models
differently reads the spec, never the model's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

# Input statistics of the pretrained weights each model starts from. ImageNet's are torchvision's
# ResNet18_Weights.IMAGENET1K_V1 transforms; Kinetics-400's are torchvision's R3D_18_Weights.KINETICS400_V1
# transforms (checked against torchvision 0.29 by tests/models/test_spec.py).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS400_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS400_STD = (0.22803, 0.22145, 0.216989)

InputKind = Literal["clip", "image"]
Heads = Literal["logits", "logits+va"]
# "none": a network trained from scratch (FER+'s VGG-13), whose input statistics are softfer's own choice.
PretrainedKind = Literal["imagenet-resnet18", "kinetics400-r3d18", "fer2013-keras", "none"]
Crop = Literal["aligned", "box"]

INPUT_KINDS = ("clip", "image")
HEADS = ("logits", "logits+va")
PRETRAINED_KINDS = ("imagenet-resnet18", "kinetics400-r3d18", "fer2013-keras", "none")
CROPS = ("aligned", "box")

SPEC_ATTR = "softfer_spec"


@dataclass(frozen=True)
class ModelSpec:
    """How a model is fed and what it returns.

    Attributes:
        input_kind: "clip" (B, T, C, H, W) or "image" (B, C, H, W).
        heads: "logits" (a tensor of class logits) or "logits+va" (an output with ``.logits`` and
            ``.va``, valence/arousal in [-1, 1]).
        mean, std: per-channel input normalisation of uint8 pixels scaled to [0, 1]; those of the
            pretrained weights the model starts from.
        pretrained_kind: which pretrained weights the trunk takes.
        input_size: the side the pretrained weights were trained at (the config's ``data.size`` may
            differ: all models here are fully convolutional with global pooling).
        channels: input channels.
        trunk: attribute holding the pretrained trunk (weights load into it).
        cam_layer: dotted path of the module Grad-CAM explains (the last convolutional stage).
        crop: the face crop the model was trained on, for `softfer predict`: "aligned" (softfer's 5-point
            similarity alignment, as `softfer preprocess` writes) or "box" (the detector's box widened
            by ``box_margin`` of its width and height on each side, resized to a square as it is: no
            aspect correction; ``faces.align.box_crop``).
        box_margin: the margin of "box" crops.
        name: the registered name, filled in by ``register_model``.
    """

    input_kind: InputKind
    heads: Heads
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pretrained_kind: PretrainedKind
    input_size: int = 224
    channels: int = 3
    trunk: str = "backbone"
    cam_layer: str = "backbone.layer4"
    crop: Crop = "aligned"
    box_margin: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        for field_name, value, allowed in (
            ("input_kind", self.input_kind, INPUT_KINDS),
            ("heads", self.heads, HEADS),
            ("pretrained_kind", self.pretrained_kind, PRETRAINED_KINDS),
            ("crop", self.crop, CROPS),
        ):
            if value not in allowed:
                raise ValueError(f"ModelSpec.{field_name} must be one of {allowed}, got {value!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"ModelSpec mean {self.mean} and std {self.std} need one value per channel ({self.channels})"
            )
        if min(self.std) <= 0:
            raise ValueError(f"ModelSpec std must be positive, got {self.std}")

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) of the model's input, as ``normalize(x, *spec.normalization)`` takes them."""
        return self.mean, self.std

    @property
    def has_va(self) -> bool:
        """Whether the model predicts valence/arousal besides the class logits."""
        return self.heads == "logits+va"


def unwrap(model: nn.Module) -> nn.Module:
    """The softfer model inside DDP (``.module``), ``torch.compile`` (``._orig_mod``) or AveragedModel."""
    seen = 0
    while getattr(model, SPEC_ATTR, None) is None and seen < 8:
        inner = getattr(model, "_orig_mod", None)
        if inner is None:
            inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            break
        model, seen = inner, seen + 1
    return model


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec of a model built by ``create_model``, also when wrapped for training.

    Raises:
        ValueError: the model was not built by ``softfer.models.create_model``.
    """
    spec = getattr(unwrap(model), SPEC_ATTR, None)
    if not isinstance(spec, ModelSpec):
        raise ValueError(
            f"{type(model).__name__} carries no softfer model spec: build models with "
            "softfer.models.create_model (or use model_spec(name))"
        )
    return spec
