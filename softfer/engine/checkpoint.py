"""Atomic checkpoints and safe loading (``torch.load(weights_only=True)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from softfer.io.files import atomic_write


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path`` (atomic)."""
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a softfer checkpoint without executing pickled code.

    Raises:
        ValueError: one line naming the file when it is missing, empty, not a PyTorch file (text, say),
            truncated, corrupt, or not a softfer checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
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
    return state


def _reason(exc: Exception) -> str:
    # torch's first line, except its advice to load with weights_only=False: that would run the file's code.
    text = str(exc).strip()
    if "weights_only" in text:
        unsafe = text.split("WeightsUnpickler error:")[-1].strip().splitlines()
        return (unsafe or ["it holds objects a weights-only load refuses"])[0]
    return (text.splitlines() or [type(exc).__name__])[0]
