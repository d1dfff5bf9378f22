"""Grad-CAM (Selvaraju et al.) on the last convolutional stage of softfer's 2-D and 3-D models."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from softfer.engine.batch import as_input, forward
from softfer.models import spec_of
from softfer.models.spec import unwrap


def gradcam(model: torch.nn.Module, x: torch.Tensor, target: int | None = None) -> tuple[np.ndarray, int]:
    """Class-activation maps in [0, 1] for one input (1, T, C, H, W) or (1, C, H, W).

    ``x`` is either uint8 pixels, normalised here with the model's own statistics (its spec), or a float
    input already normalised that way. The explained layer is the spec's ``cam_layer``.

    Returns (maps of shape (T, H, W) or (1, H, W), explained class).
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
    size = x.shape[-2:]
    cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    cam = cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-8)
    return cam.numpy(), cls
