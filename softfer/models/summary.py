"""Parameter and FLOP counts of the registered models (`softfer models list --verbose`)."""

from __future__ import annotations

import torch
from rich import box
from rich.table import Table
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


# The most pixels (frames x size x size) of the input one model is counted on: 32 frames at 448 px, where
# r3d_18, the costliest clip model, takes 2.9 GB and 40 s on 2 CPU cores (the VGG-13 stills cost more per
# pixel: 1.5 GB at 1024 px). Each option alone has a range (the parser's); their product is bounded here,
# before any model is built (1024 frames at 2048 px asked for 51 GB: audit 6 U2).
MAX_COUNTED_PIXELS = 32 * 448 * 448


def check_counted_input(frames: int, size: int | None) -> None:
    """Refuse a counting input (``frames`` per clip, ``size`` or each model's own input size) that holds
    more than ``MAX_COUNTED_PIXELS`` pixels for some registered model.

    Raises:
        ValueError: naming --frames and --size, the largest input they ask for and the bound.
    """
    inputs = []  # (pixels, model, frames, side) of each model's counted input
    for name in list_models():
        spec = model_spec(name)
        side, shown = size or spec.input_size, frames if spec.input_kind == "clip" else 1
        inputs.append((shown * side * side, name, shown, side))
    pixels, name, shown, side = max(inputs)
    if pixels <= MAX_COUNTED_PIXELS:
        return
    given = f"--frames {frames} with --size {size}" if size else f"--frames {frames} (no --size)"
    raise ValueError(
        f"{given}: {name} would be counted on {shown} x {side} x {side} = {pixels:,} pixels, more than the "
        f"{MAX_COUNTED_PIXELS:,} (32 frames at 448 px) one forward pass may take here; lower --frames or "
        "--size"
    )


def describe_models(*, verbose: bool = False, frames: int = 8, size: int | None = None) -> Table:
    """A table of the registered models and their options; with ``verbose`` also their parameters and
    GFLOPs per clip (or image) at ``size`` (None: each model's own ``ModelSpec.input_size``; 224 for every
    model showed the 64-px FER2013 CNN at 12x its cost), the input shape named.

    Raises:
        ValueError: with ``verbose``, an input larger than ``MAX_COUNTED_PIXELS`` (``check_counted_input``).
    """
    if verbose:
        check_counted_input(frames, size)  # before any model is built
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("model")
    if verbose:
        table.add_column("parameters (M)", justify="right")
        table.add_column("GFLOPs", justify="right")
        table.add_column("per")
    table.add_column("options")
    for name in list_models():
        opts = ", ".join(f"{k}={v}" for k, v in model_options(name).items())
        if not verbose:
            table.add_row(name, opts)
            continue
        model, spec = create_model(name), model_spec(name)
        side = size or spec.input_size
        flops = forward_flops(model, example_input(name, frames=frames, size=side))
        shape = f"{spec.channels}x{side}x{side}"
        unit = f"image ({shape})" if spec.input_kind == "image" else f"clip ({frames}x{shape})"
        table.add_row(name, f"{count_parameters(model) / 1e6:.2f}", f"{flops / 1e9:.2f}", unit, opts)
    return table
