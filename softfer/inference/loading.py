"""A trained model from a softfer checkpoint: the model in eval mode, its config and its class names; and
the same model with its class outputs in another order (a dataset that lists the same classes otherwise)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from softfer import __version__
from softfer.config import ExperimentConfig, validate_config
from softfer.config.identity import check_own_config
from softfer.inference.checkpoint import load_checkpoint
from softfer.models import create_model

# pydantic's word for a key the schema lacks, and the model registry's for an option the model lacks: what
# a config written by a later softfer holds.
_UNKNOWN_SETTING = ("Extra inputs are not permitted", "not an option of")


def stored_config(state: Mapping[str, Any], source: str | Path) -> ExperimentConfig:
    """The config a checkpoint (or an exported model's metadata) stores, validated.

    Raises:
        ValueError: naming ``source`` and every bad key (``validate_config``); when a key is one this
            softfer does not know, also the softfer version that made the checkpoint, where it records one.
    """
    try:
        return validate_config(state["config"], str(source))
    except ValueError as exc:
        said = unknown_setting_note(state, exc)
        if said is None:
            raise
        raise ValueError(f"{exc}\n  a setting this softfer does not know: {said}") from None


def unknown_setting_note(state: Mapping[str, Any], exc: ValueError) -> str | None:
    """Which softfer made the checkpoint ``state`` and which to use, where its config was refused (``exc``)
    for a setting this softfer does not know; None for any other refusal, or where this very version
    made it (the setting then came with an edit, not with a later version)."""
    if not any(word in str(exc) for word in _UNKNOWN_SETTING):
        return None
    fingerprint = state.get("fingerprint")
    code = fingerprint.get("code") if isinstance(fingerprint, dict) else None
    made = code.get("softfer") if isinstance(code, dict) else None
    if made == __version__:
        return None
    # WHY: "Extra inputs are not permitted" alone reads as a damaged file, not as a version mismatch
    if isinstance(made, str):
        return f"the checkpoint was made by softfer {made}, this is softfer {__version__}: use {made}"
    return (
        f"made by another softfer version? (the checkpoint records none; this is softfer {__version__}): "
        "use the version that made it"
    )


def model_from_state(
    state: dict[str, Any], source: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, ExperimentConfig, tuple[str, ...]]:
    """(model in eval mode, its config, its class names) from a loaded softfer checkpoint.

    Raises:
        ValueError: one line naming ``source``: a config that does not validate or no longer hashes as
            the checkpoint's fingerprint records (edited after training: ``check_own_config``), or
            weights of another model.
    """
    cfg = stored_config(state, source)
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


class ReorderedClasses(torch.nn.Module):
    """A model whose class outputs come in another order: output j is the wrapped model's ``order[j]``
    (``class_order``). The model is ``.module``, where ``models.spec_of`` finds its spec as through DDP;
    valence/arousal outputs pass unchanged."""

    def __init__(self, model: torch.nn.Module, order: Sequence[int]) -> None:
        super().__init__()
        self.module = model
        self.register_buffer("order", torch.as_tensor(list(order), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> Any:
        out = self.module(x)
        if isinstance(out, tuple) and hasattr(out, "logits"):  # a model with a VA head (AffectOutput)
            return out._replace(logits=out.logits[:, self.order])
        return out[:, self.order]
