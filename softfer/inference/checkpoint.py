"""Atomic checkpoints and safe loading (``torch.load(weights_only=True)``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors

from softfer.io.files import atomic_write
from softfer.models.pretrained import check_finite_weights

SAFETENSORS_KEY = "softfer"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path`` (atomic)."""
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def save_safetensors_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write a model checkpoint as safetensors: the weights as tensors, the rest (config, classes, what the
    model was trained on) as JSON in the file's metadata. Atomic like ``save_checkpoint``."""
    extra = {k: v for k, v in state.items() if k != "model"}
    tensors = {k: v.contiguous() for k, v in state["model"].items()}
    data = save_safetensors(tensors, metadata={SAFETENSORS_KEY: json.dumps(extra)})
    with atomic_write(path, "wb") as f:
        f.write(data)


def _load_safetensors(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from exc
    if SAFETENSORS_KEY not in meta:
        raise ValueError(
            f"{path}: a safetensors file without softfer metadata (config, classes): not a checkpoint"
        )
    state = json.loads(meta[SAFETENSORS_KEY])
    state["model"] = tensors
    if "config" not in state:
        raise ValueError(f"{path}: not a softfer checkpoint (no config in its metadata)")
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a softfer checkpoint (torch file or ``.safetensors``) without executing pickled code.

    Raises:
        ValueError: one line naming the file when it is missing, empty, not a PyTorch file (text, say),
            truncated, corrupt, not a softfer checkpoint, or its model weights hold NaN or infinity
            (naming the tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        state = _load_safetensors(path)
        check_finite_weights(state["model"], path)
        return state
    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        raise ValueError(
            f"{path}: empty file: a corrupt or truncated checkpoint (a write that never finished?)"
        )
    # torch.save writes a zip archive; torch's legacy format starts with a pickle protocol byte.
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        raise ValueError(
            f"{path}: not a PyTorch file (it starts with {head!r}): a corrupt or truncated checkpoint, or "
            "another kind of file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # whatever a damaged file makes torch raise, the answer is the same
        raise ValueError(f"{path}: corrupt or truncated checkpoint ({_reason(exc)})") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a softfer checkpoint (no model state and config)")
    if isinstance(state["model"], dict):
        check_finite_weights(state["model"], path)
    return state


def _reason(exc: Exception) -> str:
    # torch's first line, except its advice to load with weights_only=False: that would run the file's code.
    text = str(exc).strip()
    if "weights_only" in text:
        unsafe = text.split("WeightsUnpickler error:")[-1].strip().splitlines()
        return (unsafe or ["it holds objects a weights-only load refuses"])[0]
    return (text.splitlines() or [type(exc).__name__])[0]
