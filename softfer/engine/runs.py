"""Working with finished runs: loading a trained model, evaluating it on (other) data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softfer.config import apply_overrides, validate_config
from softfer.engine.data import build_data, class_names
from softfer.engine.outputs import evaluate_and_write
from softfer.engine.runtime import setup_distributed
from softfer.inference.loading import load_trained_model


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    data_root: str | None = None,
    data_format: str | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate a trained model on a dataset's test split and write the usual outputs to ``out``."""
    model, cfg, classes = load_trained_model(checkpoint)
    data = cfg.model_dump(mode="json")
    if data_format:
        data["data"]["test_format"] = data_format
    if data_root:
        data["data"]["test_root" if data_format else "root"] = data_root
    if split:
        data["data"]["test_split"] = split
    cfg = validate_config(apply_overrides(data, overrides), "eval overrides")
    target = data_format or cfg.data.format
    wanted = class_names(target, cfg.data.num_classes)
    if tuple(wanted) != tuple(classes):
        raise ValueError(
            f"{checkpoint}: the model predicts {len(classes)} classes {list(classes)}, the {target} data has "
            f"{list(wanted)}; evaluate it on data with the same classes"
        )
    out_dir = Path(out) if out else Path(checkpoint).parent / f"eval_{target}"
    cfg.run.out_dir = str(out_dir)
    rank, world, device = setup_distributed(cfg.run.device)
    bundle = build_data(cfg, with_train=False)
    return evaluate_and_write(model.to(device), bundle, cfg, out_dir, device, rank, world, save_model=False)
