"""Experiment configuration: YAML -> pydantic models that reject unknown keys.

``schema``: the models, one description per key, and the cross-field checks. ``files``: the packaged
configs, ``base`` chains, ``--set`` overrides and loading. ``reference``: docs/CONFIG.md rendered from the
schema (``python -m softfer.config > docs/CONFIG.md``).
"""

from softfer.config.files import (
    apply_overrides,
    dump_config,
    load_config,
    packaged_configs,
    resolve_config_path,
    validate_config,
)
from softfer.config.reference import reference_markdown
from softfer.config.schema import (
    AugmentConfig,
    DataConfig,
    ExperimentConfig,
    LabelConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    PaperReference,
    RunConfig,
    cross_field_problems,
)

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "ExperimentConfig",
    "LabelConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "PaperReference",
    "RunConfig",
    "apply_overrides",
    "cross_field_problems",
    "dump_config",
    "load_config",
    "packaged_configs",
    "reference_markdown",
    "resolve_config_path",
    "validate_config",
]
