"""Atomic checkpoints and safe loading (``torch.load(weights_only=True)``)."""

from __future__ import annotations

import pickle
import zipfile
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
        ValueError: naming the file when it is missing, truncated, corrupt or not a softfer checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as exc:
        raise ValueError(f"{path}: corrupt or truncated checkpoint ({str(exc).splitlines()[0]})") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a softfer checkpoint (no model state and config)")
    return state
