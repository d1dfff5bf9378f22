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
from typing import Annotated, Any

import torch
from pydantic import Field, TypeAdapter, ValidationError
from torch import nn

from softfer.models.pretrained import load_backbone_weights
from softfer.models.spec import SPEC_ATTR, ModelSpec

Factory = Callable[..., nn.Module]

_REGISTRY: dict[str, tuple[Factory, ModelSpec]] = {}

# The valid range of every numeric model option, by option name, whichever model takes it: the one table
# `model.options` and ``create_model`` are checked against. tests/robustness/test_settings_bounds.py fails
# while a numeric keyword option of a registered model has no entry here.
OPTION_BOUNDS: dict[str, Any] = {
    # WHY < 1: dropout 1.0 zeroes every feature, and the model trains on nothing.
    "dropout": Annotated[float, Field(ge=0.0, lt=1.0)],
    # The ResNet-18 trunk's stem width (64 the standard network); its stages are 1, 2, 4 and 8 times it.
    "width": Annotated[int, Field(ge=4, le=1024, multiple_of=4)],
    "hidden": Annotated[int, Field(ge=1, le=16_384)],
    # TSM shifts 1/fold_div of the channels each way: 2 shifts them all, 0 would divide by zero.
    "fold_div": Annotated[int, Field(ge=2, le=64)],
}
_ADAPTERS = {name: TypeAdapter(kind) for name, kind in OPTION_BOUNDS.items()}


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


def _range_text(kind: Any) -> str:
    """``float >= 0.0, < 1.0``: the type and bounds of an ``OPTION_BOUNDS`` entry."""
    signs = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("multiple_of", "a multiple of"))
    meta = [m for field in kind.__metadata__ for m in getattr(field, "metadata", [field])]
    parts = [f"{sign} {getattr(m, attr)}" for m in meta for attr, sign in signs if hasattr(m, attr)]
    return f"{kind.__origin__.__name__} " + ", ".join(parts)


def option_bounds_text() -> str:
    """Every ranged option and its range, for the docs: ``dropout: float >= 0.0, < 1.0; ...``."""
    return "; ".join(f"{key}: {_range_text(kind)}" for key, kind in OPTION_BOUNDS.items())


def model_option_problems(name: str, options: dict[str, Any]) -> list[str]:
    """What is wrong with ``options`` for model ``name``: one line per problem, starting with the option.

    Unknown options and values outside ``OPTION_BOUNDS`` (or of another type: no strings, no booleans for
    numbers) are problems; an unregistered name has none here (``create_model`` refuses it).
    """
    if name not in _REGISTRY:
        return []
    # num_classes is a factory argument set from data.num_classes, never a user option.
    valid = {k: v for k, v in model_options(name).items() if k != "num_classes"}
    out = [f"{k}: not an option of {name}; valid options: {sorted(valid)}" for k in options if k not in valid]
    for key, value in options.items():
        if key not in valid or key not in _ADAPTERS:
            continue
        try:
            _ADAPTERS[key].validate_python(value, strict=True)
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            out.append(
                f"{key}: {why}, got {value!r} ({name} takes {key} as {_range_text(OPTION_BOUNDS[key])})"
            )
    return out


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
    problems = model_option_problems(name, kwargs)
    if problems:
        raise ValueError(f"model {name!r}: " + "; ".join(problems))
    model = factory(num_classes=num_classes, **kwargs)
    setattr(model, SPEC_ATTR, spec)
    if pretrained is not None:
        load_backbone_weights(model, pretrained)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model
