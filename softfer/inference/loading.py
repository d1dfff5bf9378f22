"""A trained model from a softfer checkpoint: the model in eval mode, its config and its class names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from softfer.config import ExperimentConfig, validate_config
from softfer.config.identity import check_own_config
from softfer.inference.checkpoint import load_checkpoint
from softfer.models import create_model


def model_from_state(
    state: dict[str, Any], source: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, ExperimentConfig, tuple[str, ...]]:
    """(model in eval mode, its config, its class names) from a loaded softfer checkpoint.

    Raises:
        ValueError: one line naming ``source``: a config that does not validate or no longer hashes as
            the checkpoint's fingerprint records (edited after training: ``check_own_config``), or
            weights of another model.
    """
    cfg = validate_config(state["config"], str(source))
    check_own_config(state, cfg, source)
    classes = tuple(state.get("classes") or ())
    model = create_model(cfg.model.name, num_classes=len(classes), **cfg.model.options)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(
            f"{source}: weights do not match model {cfg.model.name} ({str(exc).splitlines()[0]})"
        ) from exc
    return model.to(device).eval(), cfg, classes


def load_trained_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, ExperimentConfig, tuple[str, ...]]:
    """(model in eval mode, its config, its class names) from RUN/model.pt or a training checkpoint."""
    return model_from_state(load_checkpoint(path), path, device)
