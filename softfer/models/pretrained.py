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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("fc.", "head.", "classifier.")


@dataclass
class LoadReport:
    """What a weights load did."""

    source: str
    loaded: int
    unexpected: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)


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
            f"refuses to execute ({str(exc).splitlines()[0]}). "
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


def _hub_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    # Only reached when the user explicitly passes pretrained="hub" (needs internet).
    from torchvision.models import ResNet18_Weights
    from torchvision.models.video import R3D_18_Weights

    weights = R3D_18_Weights.KINETICS400_V1 if hasattr(model, "net") else ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=True)
    except Exception as exc:
        raise ValueError(f"could not download {weights} (offline? pass a local file instead): {exc}") from exc


def load_backbone_weights(model: nn.Module, source: str | Path) -> LoadReport:
    """Load pretrained weights into a softfer model's trunk (``model.backbone`` or ``model.net``)."""
    target = getattr(model, "backbone", None) or getattr(model, "net", None)
    if target is None:
        raise ValueError(f"{type(model).__name__} has no pretrained trunk to load weights into")
    prefix = "backbone." if hasattr(model, "backbone") else "net."
    state = _hub_state_dict(model) if str(source) == "hub" else read_state_dict(source)
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
