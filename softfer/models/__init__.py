"""Models of the papers behind a small registry: tsm_r18, r18_gru, r3d_18, r18_affect."""

from softfer.models.registry import create_model, list_models, model_options, register_model

__all__ = ["create_model", "list_models", "model_options", "register_model"]
