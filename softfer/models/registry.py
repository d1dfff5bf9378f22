"""A small model registry: ``create_model(name, **kw)``, ``list_models()`` and ``model_spec(name)``.

Factories register themselves with ``@register_model(spec=ModelSpec(...))``; their keyword-only
parameters are the options a user may pass, and anything else is rejected with the list of valid names.
This module imports no model: the package ``softfer.models`` imports the model modules, which runs their
registrations.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from softfer.models.pretrained import load_backbone_weights
from softfer.models.spec import SPEC_ATTR, ModelSpec

Factory = Callable[..., nn.Module]

_REGISTRY: dict[str, tuple[Factory, ModelSpec]] = {}


def register_model(*, spec: ModelSpec) -> Callable[[Factory], Factory]:
    """Decorator: register a model factory under its function name, with the spec of its models.

    Raises:
        ValueError: a model of that name is already registered (a second one would silently replace it).
    """
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register_model needs spec=ModelSpec(...), got {type(spec).__name__}")

    def wrap(fn: Factory) -> Factory:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(
                f"a model named {name!r} is already registered ({_REGISTRY[name][0].__module__})"
            )
        if spec.name not in ("", name):
            raise ValueError(f"model {name!r} registered with the spec of {spec.name!r}")
        _REGISTRY[name] = (fn, dataclasses.replace(spec, name=name))
        return fn

    return wrap


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> tuple[Factory, ModelSpec]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def model_spec(name: str) -> ModelSpec:
    """The spec of a registered model: input kind, heads, normalisation, pretrained weights."""
    return _entry(name)[1]


def model_options(name: str) -> dict[str, object]:
    """The keyword options of a model and their defaults."""
    sig = inspect.signature(_entry(name)[0])
    return {k: p.default for k, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def create_model(
    name: str,
    *,
    num_classes: int = 7,
    pretrained: str | Path | None = None,
    compile: bool = False,
    channels_last: bool = False,
    **kwargs: object,
) -> nn.Module:
    """Build a registered model; its spec is attached (``spec_of(model)``).

    Args:
        name: one of ``list_models()``.
        num_classes: size of the classification head.
        pretrained: None (random init), a local weights file (torchvision/timm state dict, safetensors, or
            a softfer checkpoint) of the kind ``model_spec(name).pretrained_kind``, or "hub" to download
            the standard weights of that kind (needs internet).
        compile: wrap the model with ``torch.compile``.
        channels_last: convert 4-D weights to channels-last memory format (faster convolutions on GPU).
        **kwargs: model-specific options, see ``model_options(name)``.
    """
    factory, spec = _entry(name)
    valid = model_options(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r} does not accept {unknown}; valid options: {sorted(valid)}")
    model = factory(num_classes=num_classes, **kwargs)
    setattr(model, SPEC_ATTR, spec)
    if pretrained is not None:
        load_backbone_weights(model, pretrained)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model
