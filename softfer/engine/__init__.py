"""Training, evaluation, checkpoints and cross-validation (flat functions, no callback framework)."""
