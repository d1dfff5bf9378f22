"""Loading pretrained trunk weights (ImageNet ResNet-18, Kinetics R3D-18) from local files, safely.

Accepted files: a torchvision or timm state dict (.pth/.pt/.bin via ``torch.load(weights_only=True)``, or
.safetensors), optionally wrapped as {"state_dict": ...} / {"model": ...}, with or without DDP's "module."
prefix. The classifier of the source network is dropped: softfer models always get a new head. Asking for
weights never silently yields random ones: a missing file, an unsafe pickle, or a file for another
architecture raises a ValueError that says which.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from softfer.models.spec import ModelSpec, spec_of

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("fc.", "head.", "classifier.")


@dataclass
class LoadReport:
    """What a weights load did."""

    source: str
    loaded: int
    unexpected: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)


def check_finite_weights(state: Mapping[str, object], source: str | Path) -> None:
    """Refuse weights holding NaN or infinity: a model built on them predicts nothing (empty probabilities).

    Raises:
        ValueError: naming ``source`` (the file) and the first tensor with a non-finite value.
    """
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not (value.is_floating_point() or value.is_complex()):
            continue
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            bad = value.numel() - int(finite.sum())
            raise ValueError(
                f"{source}: tensor {key!r} holds {bad} NaN or infinite value(s) of {value.numel()}: damaged "
                "weights, or a training run that diverged; use another file (or retrain)"
            )


def refused_for_safety(exc: BaseException) -> str | None:
    """What ``torch.load(weights_only=True)`` refused to build (a Python function or class named by the file,
    an object that is not a tensor), read from its error; None when ``exc`` is no such refusal (a damaged
    file). Never torch's own advice, which is to load the file again with ``weights_only=False`` (running
    its code) or to allowlist what it names."""
    text = str(exc)
    if not isinstance(exc, pickle.UnpicklingError) or "WeightsUnpickler error:" not in text:
        return None
    detail = text.split("WeightsUnpickler error:")[-1]
    named = re.search(r"GLOBAL ([\w.]+)", detail)
    if named:
        return f"it names the Python object {named[1]}"
    if "allowlisted" in detail or "add_safe_globals" in detail:
        return "it holds an object that is not a tensor"
    return None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: not a safe checkpoint: it holds pickled objects other than tensors, which softfer "
            f"refuses to execute ({refused_for_safety(exc) or 'refused by a weights-only load'}). "
            "Re-save it as a plain state dict or .safetensors."
        ) from exc
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: does not contain a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


# What each pretrained kind is: the trunk layout a file must hold, and where to get such a file.
PRETRAINED_SOURCES = {
    "imagenet-resnet18": (
        "resnet2d",
        "ImageNet ResNet-18 weights (torchvision resnet18-f37072fd.pth, a timm resnet18 file, or 'hub')",
    ),
    "kinetics400-r3d18": (
        "r3d",
        "Kinetics-400 R3D-18 weights (torchvision r3d_18-b3b3357e.pth or 'hub')",
    ),
}
ARCHITECTURE_NAMES = {"resnet2d": "a 2-D ResNet", "r3d": "a 3-D video ResNet (torchvision R3D-18 layout)"}


def hub_weights(kind: str) -> WeightsEnum:
    """The torchvision weights behind ``pretrained="hub"`` for a spec's ``pretrained_kind``."""
    # torchvision.models is imported here, when hub weights are asked for, not with the registry
    from torchvision.models import ResNet18_Weights
    from torchvision.models.video import R3D_18_Weights

    table = {
        "imagenet-resnet18": ResNet18_Weights.IMAGENET1K_V1,
        "kinetics400-r3d18": R3D_18_Weights.KINETICS400_V1,
    }
    if kind not in table:
        raise ValueError(f"no hub weights known for pretrained kind {kind!r}")
    return table[kind]


def _hub_state_dict(kind: str) -> dict[str, torch.Tensor]:
    # Only reached when the user explicitly passes pretrained="hub" (needs internet).
    weights = hub_weights(kind)
    try:
        return weights.get_state_dict(progress=True)
    except Exception as exc:
        raise ValueError(f"could not download {weights} (offline? pass a local file instead): {exc}") from exc


def file_architecture(state: dict[str, torch.Tensor]) -> str | None:
    """The trunk layout of a state dict, "resnet2d" or "r3d" (any softfer prefix); None if unrecognised.

    A 2-D ResNet's stem is ``conv1.weight`` (4-D); torchvision's video ResNets start with
    ``stem.0.weight`` (5-D, a Conv3d).
    """
    for key, value in state.items():
        base = key.removeprefix("backbone.").removeprefix("net.")
        if base == "stem.0.weight" and value.dim() == 5:
            return "r3d"
        if base == "conv1.weight" and value.dim() == 4:
            return "resnet2d"
    return None


def _check_architecture(state: dict[str, torch.Tensor], spec: ModelSpec, source: str | Path) -> None:
    expected, wanted = PRETRAINED_SOURCES[spec.pretrained_kind]
    found = file_architecture(state)
    if found is None or found == expected:
        return
    holds = ARCHITECTURE_NAMES[found]
    keys = {k.removeprefix("backbone.").removeprefix("net.") for k in state}
    if found == "resnet2d" and "layer4.1.conv1.weight" in keys and "layer4.2.conv1.weight" not in keys:
        holds = "a 2-D ResNet-18"  # two basic blocks in the last stage
    raise ValueError(
        f"{source}: weights of another architecture: {spec.name} takes {wanted}, this file holds {holds}"
    )


def load_backbone_weights(model: nn.Module, source: str | Path) -> LoadReport:
    """Load pretrained weights into a softfer model's trunk (the spec's ``trunk``: backbone or net).

    Raises:
        ValueError: the file is missing or unsafe, holds another architecture than the spec's
            ``pretrained_kind`` takes, NaN or infinite values, or tensors that do not fit the trunk.
    """
    spec = spec_of(model)
    if spec.pretrained_kind not in PRETRAINED_SOURCES:  # trained from scratch, or converted whole
        raise ValueError(
            f"model.pretrained: {spec.name} takes no pretrained trunk weights ({spec.pretrained_kind}); "
            "set model.pretrained: null"
        )
    target = getattr(model, spec.trunk, None)
    if not isinstance(target, nn.Module):
        raise ValueError(f"{spec.name} has no pretrained trunk {spec.trunk!r} to load weights into")
    prefix = spec.trunk + "."
    if str(source) != "hub" and not Path(source).is_file():
        raise ValueError(
            f"model.pretrained: {source} is not a file; {spec.name} starts from "
            f"{PRETRAINED_SOURCES[spec.pretrained_kind][1]}: give such a local file, 'hub' to download them "
            "once (internet needed), or null to start from random weights (--set model.pretrained=...)"
        )
    state = _hub_state_dict(spec.pretrained_kind) if str(source) == "hub" else read_state_dict(source)
    _check_architecture(state, spec, source)
    check_finite_weights(state, source)
    state = {k.removeprefix(prefix): v for k, v in state.items()}
    head = [k for k in state if k.startswith(HEAD_PREFIXES)]
    state = {k: v for k, v in state.items() if k not in head}
    own = target.state_dict()
    # R3D's own fc is part of ``net``; it is the new head, never loaded.
    own = {k: v for k, v in own.items() if not k.startswith(HEAD_PREFIXES)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or mismatched:
        detail = "; ".join(mismatched[:3]) if mismatched else f"missing {missing[:5]}"
        raise ValueError(
            f"{source}: weights do not fit {type(model).__name__} ({len(missing)} missing, {len(mismatched)} "
            f"with another shape: {detail}). Is it a checkpoint of another architecture or width?"
        )
    unexpected = sorted(k for k in state if k not in own)
    target.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    report = LoadReport(str(source), len(own), unexpected, head)
    log.info(
        "loaded %d tensors from %s (new head; ignored %d unexpected keys)",
        report.loaded,
        source,
        len(unexpected),
    )
    if unexpected:
        log.warning("%s: keys not used by %s: %s", source, type(model).__name__, unexpected[:10])
    return report
