"""The batch <-> model contract: how pixels become a model's input and its output becomes logits and VA.

Training, evaluation, ``softfer predict`` and Grad-CAM all feed models through here, so the input layout
(clips (B, T, C, H, W), images (B, C, H, W)), the normalisation (the model's own statistics, read from its
spec), the output split (logits, valence/arousal) and mixed precision are decided in one place.
"""

from __future__ import annotations

import functools
import logging
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from softfer.data.transforms import normalize
from softfer.models import spec_of

log = logging.getLogger(__name__)


def split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, valence/arousal or None) from any softfer model's output."""
    if isinstance(out, tuple) and hasattr(out, "logits"):
        return out.logits, out.va
    return out, None


def autocast(device: torch.device, amp: str):
    """An autocast context for "bf16"/"fp16", or a no-op for "none"."""
    if amp == "none":
        return nullcontext()
    if amp == "bf16" and device.type == "cpu" and not native_cpu_bf16():
        _warn_slow_bf16()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX, as oneDNN reports); elsewhere
    bf16 autocast emulates it, several times slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no native path either
        return False


@functools.cache
def _warn_slow_bf16() -> None:
    # once per process: the paper configs train with run.amp=bf16 (GPUs); a CPU without native bfloat16
    # ran two steps in 100 s where run.amp=none took 20 s (README walk)
    log.warning(
        "run.amp=bf16 on a CPU without native bfloat16 (AVX512-BF16 or AMX) is emulated, several times "
        "slower than float32: set run.amp=none on this machine"
    )


def model_input(
    batch: dict[str, torch.Tensor],
    device: torch.device,
    channels_last: bool = False,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> torch.Tensor:
    """Move the uint8 pixels of a batch to the device and normalise them there.

    ``mean``/``std`` are the model's own input statistics (``spec_of(model).mean``/``.std``): ImageNet's
    for the 2-D models, Kinetics-400's for r3d_18. ``batch_input`` reads them from the model.
    """
    key = "clips" if "clips" in batch else "images"
    x = normalize(batch[key].to(device, non_blocking=True), mean, std)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def batch_input(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    """A collated batch's pixels as ``model``'s input (its spec's statistics), on ``device``."""
    spec = spec_of(model)
    return model_input(batch, device, channels_last, mean=spec.mean, std=spec.std)


def as_input(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` as ``model``'s input: uint8 pixels are normalised with its spec, float input passes as is."""
    if x.dtype == torch.uint8:
        return normalize(x, *spec_of(model).normalization)
    return x


def frames_input(model: torch.nn.Module, frames: np.ndarray) -> torch.Tensor:
    """Decoded uint8 frames, channels last as read from files, as ``model``'s normalised input.

    Args:
        frames: (N, T, H, W, C) clips for a clip model or (N, H, W, C) images for an image model.

    Raises:
        ValueError: the layout does not match the model's input kind.
    """
    spec = spec_of(model)
    want = 5 if spec.input_kind == "clip" else 4
    if frames.ndim != want or frames.dtype != np.uint8:
        layout = "(N, T, H, W, C)" if want == 5 else "(N, H, W, C)"
        raise ValueError(
            f"model {spec.name or '?'} takes {spec.input_kind}s as uint8 {layout}, got {frames.dtype} "
            f"{tuple(frames.shape)}"
        )
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = x.permute(0, 1, 4, 2, 3) if want == 5 else x.permute(0, 3, 1, 2)
    return normalize(x.contiguous(), *spec.normalization)


def forward(
    model: torch.nn.Module, x: torch.Tensor, *, amp: str = "none"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, valence/arousal or None) of ``model`` on a prepared input, under ``amp`` autocast."""
    with autocast(x.device, amp):
        return split_output(model(x))


def probabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Class probabilities (float32 softmax over dim 1) from logits of any precision, divided by a
    calibrated ``temperature`` first (``softfer.inference.calibration``; 1: the model's own softmax)."""
    return torch.softmax(logits.float() / temperature, 1)
