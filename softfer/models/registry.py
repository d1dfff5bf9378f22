"""A small model registry: ``create_model(name, **kw)`` and ``list_models()``.

Factories register themselves with ``@register_model``; their keyword-only parameters are the options a
user may pass, and anything else is rejected with the list of valid names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model factory under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def model_options(name: str) -> dict[str, object]:
    """The keyword options of a model and their defaults."""
    _ensure_loaded()
    sig = inspect.signature(_factory(name))
    return {k: p.default for k, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _factory(name: str) -> Callable[..., nn.Module]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    num_classes: int = 7,
    pretrained: str | Path | None = None,
    compile: bool = False,
    channels_last: bool = False,
    **kwargs: object,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of ``list_models()``.
        num_classes: size of the classification head.
        pretrained: None (random init), a local weights file (torchvision/timm state dict, safetensors, or
            a softfer checkpoint), or "hub" to download the standard weights (needs internet).
        compile: wrap the model with ``torch.compile``.
        channels_last: convert 4-D weights to channels-last memory format (faster convolutions on GPU).
        **kwargs: model-specific options, see ``model_options(name)``.
    """
    _ensure_loaded()
    factory = _factory(name)
    valid = model_options(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r} does not accept {unknown}; valid options: {sorted(valid)}")
    model = factory(num_classes=num_classes, **kwargs)
    if pretrained is not None:
        from softfer.models.pretrained import load_backbone_weights

        load_backbone_weights(model, pretrained)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model


def _ensure_loaded() -> None:
    # Importing the model modules runs their @register_model decorators.
    from softfer.models import affect, gru, r3d, tsm  # noqa: F401
