"""Parameter and FLOP counts of the registered models (`softfer models list --verbose`)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from softfer.models.registry import create_model, list_models, model_options, model_spec


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_input(name: str, *, frames: int = 8, size: int = 224, batch: int = 1) -> torch.Tensor:
    """A zero input of the shape the model expects: (B, C, S, S) images or (B, T, C, S, S) clips."""
    spec = model_spec(name)
    if spec.input_kind == "image":
        return torch.zeros(batch, spec.channels, size, size)
    return torch.zeros(batch, frames, spec.channels, size, size)


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs (multiply-add = 2) of one forward pass, counted by torch.utils.flop_counter."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def describe_models(*, verbose: bool = False, frames: int = 8, size: int = 224) -> str:
    """A table of models; with ``verbose`` their parameters and GFLOPs per clip (or image)."""
    lines = []
    for name in list_models():
        opts = ", ".join(f"{k}={v}" for k, v in model_options(name).items())
        if not verbose:
            lines.append(f"{name:12s} {opts}")
            continue
        model = create_model(name)
        flops = forward_flops(model, example_input(name, frames=frames, size=size))
        unit = "image" if model_spec(name).input_kind == "image" else f"clip ({frames}x{size}x{size})"
        lines.append(
            f"{name:12s} params {count_parameters(model) / 1e6:7.2f} M   {flops / 1e9:8.2f} GFLOPs per {unit}"
        )
        lines.append(f"{'':12s} options: {opts}")
    return "\n".join(lines)
