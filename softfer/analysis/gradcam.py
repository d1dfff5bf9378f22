"""Grad-CAM (Selvaraju et al.) on the last convolutional stage of softfer's 2-D and 3-D models.

A map can be degenerate and still look like an explanation once coloured: when the explained layer is
1x1 (an input too small for the network) the upsampled map is flat, and when no channel has positive
evidence ReLU leaves zeros. Stretching such a map to [0, 1] would turn float round-off into bright
blobs, so a flat map is returned as zeros, and ``explain`` says why (``Cam.warning``, for its caller to
show once however many items it explains: `softfer analyze` writes it in its summary); ``gradcam``, which
returns the maps alone, logs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from softfer.inference.batch import as_input, forward
from softfer.models import spec_of
from softfer.models.spec import unwrap

log = logging.getLogger(__name__)

# A map whose range is below this share of its peak is taken as constant (float32 round-off is ~1e-7).
FLAT = 1e-6
# What a map's values are, for its colour bar: each frame's map is min-max scaled on its own (``explain``),
# so 0 is that frame's weakest activation (not zero evidence) and 1 its strongest
CAM_SCALE_LABEL = "Grad-CAM: relative activation (min-max scaled per frame)"


@dataclass(frozen=True)
class Cam:
    """Grad-CAM of one input.

    Attributes:
        maps: (T, H, W) or (1, H, W) maps upsampled to the input's size, each frame min-max scaled
            to [0, 1] on its own (zeros where a frame's map is constant).
        cls: The explained class.
        grid: (h, w) of the explained layer's output: the map's real resolution.
        warning: Why the map shows no location (None when it does).
    """

    maps: np.ndarray
    cls: int
    grid: tuple[int, int]
    warning: str | None = None


def flat_maps(raw: torch.Tensor) -> torch.Tensor:
    """(T,) True where a (T, h, w) map is constant up to round-off."""
    top = raw.amax(dim=(1, 2))
    return (top - raw.amin(dim=(1, 2))) <= FLAT * top.abs()


def degenerate(raw: torch.Tensor, layer: str, size: tuple[int, int]) -> str | None:
    """Why raw (T, h, w) maps (after ReLU, before upsampling) cannot localise anything, or None."""
    h, w = raw.shape[-2:]
    if h * w == 1:
        return (
            f"Grad-CAM is degenerate: {layer} is 1x1 for a {size[0]}x{size[1]} input, so the map is flat "
            "and shows no location (use larger inputs, data.size)"
        )
    flat = flat_maps(raw)
    if bool(flat.any()):
        return (
            f"Grad-CAM is degenerate: the map is constant on {int(flat.sum())} of {len(flat)} frames "
            f"(no positive evidence in {layer}), so its colours show no location"
        )
    return None


def explain(model: torch.nn.Module, x: torch.Tensor, target: int | None = None) -> Cam:
    """Class-activation maps for one input (1, T, C, H, W) or (1, C, H, W), with a degeneracy warning.

    ``x`` is either uint8 pixels, normalised here with the model's own statistics (its spec), or a float
    input already normalised that way. The explained layer is the spec's ``cam_layer``. The warning is
    returned, not logged: a caller explaining many items shows it once.
    """
    spec = spec_of(model)
    x = as_input(model, x)
    layer = unwrap(model).get_submodule(spec.cam_layer)
    store: dict[str, torch.Tensor] = {}

    def keep(_m, _inp, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(keep)
    try:
        model.eval()
        x = x.clone().requires_grad_(True)
        logits, _ = forward(model, x)
        cls = int(logits.argmax(1)) if target is None else target
        model.zero_grad(set_to_none=True)
        logits[0, cls].backward()
    finally:
        handle.remove()
    act, grad = store["act"].detach(), store["grad"].detach()
    if act.dim() == 5:  # 3-D model: (B, C, T', h, w) -> one map per output time step
        weights = grad.mean(dim=(3, 4), keepdim=True)
        cam = F.relu((weights * act).sum(1))[0]  # (T', h, w)
    else:  # 2-D model over frames: (B*T, C, h, w)
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(1))  # (T, h, w)
    size = (int(x.shape[-2]), int(x.shape[-1]))
    warning = degenerate(cam, spec.cam_layer, size)
    grid = (int(cam.shape[-2]), int(cam.shape[-1]))
    flat = flat_maps(cam)[:, None, None]
    cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    cam = cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    cam = torch.where(flat, torch.zeros_like(cam), cam)  # no stretched round-off
    return Cam(cam.numpy(), cls, grid, warning)


def gradcam(model: torch.nn.Module, x: torch.Tensor, target: int | None = None) -> tuple[np.ndarray, int]:
    """Class-activation maps in [0, 1] for one input, as ``explain`` computes them.

    Returns (maps of shape (T, H, W) or (1, H, W), explained class); a degenerate map's warning is logged,
    as the maps alone cannot say it.
    """
    cam = explain(model, x, target)
    if cam.warning:
        log.warning(cam.warning)
    return cam.maps, cam.cls
