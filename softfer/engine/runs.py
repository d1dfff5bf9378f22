"""Working with finished runs: loading a trained model, evaluating it on (other) data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from softfer.config import ExperimentConfig, apply_overrides, validate_config
from softfer.data.fingerprint import items_trained_on
from softfer.engine.data import (
    DataBundle,
    build_data,
    class_names,
    config_inputs,
    evaluation_split,
    scored_fitted_items,
)
from softfer.engine.outputs import RESULT_FILES, eval_folder, evaluate_and_write
from softfer.engine.runtime import setup_distributed
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import model_from_state
from softfer.io.outputs import check_outputs
from softfer.limits import HELD_OUT_SETTABLE, held_out_settable_words

log = logging.getLogger(__name__)


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    data_root: str | None = None,
    data_format: str | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    allow_train_items: bool = False,
) -> dict[str, Any]:
    """Evaluate a trained model on a dataset's test split and write the usual outputs to ``out``.

    ``out`` defaults to ``eval_<format>`` beside model.pt, ``eval_<format>_<stem>`` beside another
    checkpoint (``engine.outputs.eval_folder``: RUN/eval_dfew_model_calibrated for RUN/model_calibrated.pt,
    so that evaluating the calibrated copy next needs no other ``out``). Results already in ``out`` (a first
    eval's, a run's own metrics.json) are replaced only with ``overwrite``, and never the checkpoint or the
    data read (``config_inputs``: nothing onto a manifest or inside the data root; ``softfer.io.outputs``);
    the refusal comes before any data is read.

    Test items the model was trained on (its checkpoint's ``training_items``) or calibrated on
    (``calibration_items``) are refused, or with ``allow_train_items`` scored and counted in metrics.json
    ``evaluated_on_training_items`` and ``evaluated_on_calibration_items`` (None: the checkpoint does not
    record them: an older or imported one, or an uncalibrated one).

    A calibrated checkpoint (`softfer calibrate`) is scored with its temperature; metrics.json
    ``calibration`` says which temperature was used.
    """
    state = load_checkpoint(checkpoint)
    model, cfg, classes = model_from_state(state, checkpoint)
    calibration = Calibration.from_state(state, checkpoint)
    cfg = held_out_config(
        cfg, classes, checkpoint, root=data_root, fmt=data_format, split=split, overrides=overrides
    )
    target = data_format or cfg.data.format
    out_dir = Path(out) if out else Path(checkpoint).parent / eval_folder(target, checkpoint)
    inputs = [checkpoint, *config_inputs(cfg)]  # the data too: --out in a clip folder, onto a manifest
    check_outputs([out_dir / f for f in RESULT_FILES], inputs=inputs, overwrite=overwrite, kind="file")
    cfg.run.out_dir = str(out_dir)
    rank, world, device = setup_distributed(cfg.run.device)
    bundle = build_data(cfg, with_train=False)
    seen = fitted_items_in(state, bundle, cfg, checkpoint, allow_train_items)
    scored = {"path": str(Path(checkpoint).resolve()), "weights_sha256": state.get("weights_sha256")}
    notes = {
        "evaluated_on_training_items": seen["training"],
        "evaluated_on_calibration_items": seen["calibration"],
        "calibration": calibration.describe(),
        "checkpoint": scored,
    }
    return evaluate_and_write(
        model.to(device),
        bundle,
        cfg,
        out_dir,
        device,
        rank,
        world,
        save_model=False,
        notes=notes,
        temperature=calibration.temperature,
    )


def check_held_out_overrides(overrides: list[str] | None, command: str) -> None:
    """Refuse ``--set`` keys a trained model's evaluation cannot honour (``HELD_OUT_SETTABLE``).

    Raises:
        ValueError: naming the key and what may be set.
    """
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in HELD_OUT_SETTABLE):
            raise ValueError(
                f"--set {item}: {key} describes the trained model or its training, which {command} cannot "
                f"change (the score would not change, only the config recorded beside it); it may set "
                f"{held_out_settable_words()}"
            )


def held_out_config(
    cfg: ExperimentConfig,
    classes: tuple[str, ...],
    checkpoint: str | Path,
    *,
    root: str | None = None,
    fmt: str | None = None,
    split: str | None = None,
    overrides: list[str] | None = None,
) -> ExperimentConfig:
    """A trained model's config with other test data: ``fmt`` (a cross-dataset test), ``root`` (its
    root, or the training format's), ``split``, and ``overrides`` applied.

    Raises:
        ValueError: that data's classes are not the model's (naming both).
    """
    check_held_out_overrides(overrides, "an evaluation")
    data = cfg.model_dump(mode="json")
    if fmt:
        data["data"]["test_format"] = fmt
    if root:
        data["data"]["test_root" if fmt else "root"] = root
    if split:
        data["data"]["test_split"] = split
    cfg = validate_config(apply_overrides(data, overrides), "eval overrides")
    target = fmt or cfg.data.format
    wanted = class_names(target, cfg.data.num_classes)
    if tuple(wanted) != tuple(classes):
        raise ValueError(
            f"{checkpoint}: the model predicts {len(classes)} classes {list(classes)}, the {target} data has "
            f"{list(wanted)}; evaluate it on data with the same classes"
        )
    return cfg


# What a checkpoint was fitted on: its weights (training) and, when `softfer calibrate` made it, its
# temperature and ambiguity threshold. A score on either kind of item is no test score.
FITTED_ON = {
    "training": ("training_items", "this model was trained on"),
    "calibration": ("calibration_items", "this model's calibration (temperature, threshold) was fitted on"),
}


def fitted_items_in(
    state: dict[str, Any], bundle: DataBundle, cfg: ExperimentConfig, checkpoint: str | Path, allow: bool
) -> dict[str, int | None]:
    """{"training": n, "calibration": n}: how many test items of ``bundle`` the checkpoint ``state`` was
    trained or calibrated on (None: it does not record them; an uncalibrated model records no calibration).

    Raises:
        ValueError: some, unless ``allow``: naming the count, the kind and the first ids.
    """
    records = bundle.test.records
    fmt = evaluation_split(cfg.data)[0]
    counts: dict[str, int | None] = {}
    for kind, (key, fitted) in FITTED_ON.items():
        stored = state.get(key)
        if not isinstance(stored, dict):
            if kind == "training":
                log.warning(
                    "%s does not record what it was trained on (an older or imported model): the test "
                    "items cannot be checked against its training items",
                    checkpoint,
                )
            counts[kind] = None
            continue
        found = items_trained_on(stored, fmt, records)
        if found and not allow:
            advice = (
                "evaluate it on data it was neither trained nor calibrated on (for a fold's model: that "
                "fold, data.fold), or pass --allow-train-items to score them anyway (metrics.json then "
                f"says evaluated_on_{key})"
            )
            raise ValueError(scored_fitted_items(str(checkpoint), found, len(records), fitted, advice))
        if found:
            log.warning("%d of the %d test items are items %s", len(found), len(records), fitted)
        counts[kind] = len(found)
    return counts
