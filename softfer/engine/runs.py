"""Working with finished runs: loading a trained model, evaluating it on (other) data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from softfer.classes import changed_order
from softfer.config import ExperimentConfig, apply_overrides, validate_config
from softfer.data.fingerprint import items_trained_on
from softfer.data.formats import get_format
from softfer.data.formats.base import OPTIONAL_INPUTS, check_inputs
from softfer.engine.data import (
    DataBundle,
    build_data,
    class_names,
    config_inputs,
    evaluation_split,
    scored_fitted_items,
    split_source,
)
from softfer.engine.outputs import RESULT_FILES, eval_folder, evaluate_and_write
from softfer.engine.runtime import setup_distributed
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import ReorderedClasses, model_from_state
from softfer.io.outputs import check_outputs
from softfer.limits import HELD_OUT_SETTABLE, held_out_settable_words
from softfer.models import spec_of

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

    Data with the model's classes in another order is scored with the model's outputs in the data's order
    (``in_data_order``; metrics.json ``model_classes`` keeps the model's). Test items the model was trained
    on (``training_items``) or calibrated on (``calibration_items``) are refused, or with
    ``allow_train_items`` scored and counted in metrics.json (``fitted_items_in``). A calibrated checkpoint
    (`softfer calibrate`) is scored with its temperature; metrics.json ``calibration`` says which.
    """
    state = load_checkpoint(checkpoint)
    model, cfg, classes = model_from_state(state, checkpoint)
    calibration = Calibration.from_state(state, checkpoint)
    cfg = held_out_config(cfg, root=data_root, fmt=data_format, split=split, overrides=overrides)
    model, data_classes = in_data_order(model, classes, cfg, evaluation_split(cfg.data)[0], checkpoint)
    out_dir = _eval_outputs(cfg, checkpoint, data_format, out, overwrite)
    rank, world, device = setup_distributed(cfg.run.device)
    bundle = build_data(cfg, with_train=False)
    check_media_kind(model, bundle.is_image, split_source(cfg.data, *evaluation_split(cfg.data)), checkpoint)
    bundle.classes = data_classes  # named as the test data orders them (a cross-dataset test: its own)
    notes = {
        **_eval_notes(state, bundle, cfg, checkpoint, allow_train_items),
        "calibration": calibration.describe(),
        "model_classes": list(classes),
    }
    kept = {"save_model": False, "notes": notes, "temperature": calibration.temperature}
    return evaluate_and_write(model.to(device), bundle, cfg, out_dir, device, rank, world, **kept)


def _eval_outputs(
    cfg: ExperimentConfig, checkpoint: str | Path, fmt: str | None, out: str | Path | None, overwrite: bool
) -> Path:
    """The eval folder (``out``, or ``eval_folder`` beside the checkpoint), its result files checked by the
    output rule before any data is read, and set as ``cfg.run.out_dir``."""
    out_dir = Path(out) if out else Path(checkpoint).parent / eval_folder(fmt or cfg.data.format, checkpoint)
    inputs = [checkpoint, *config_inputs(cfg)]  # the data too: --out in a clip folder, onto a manifest
    check_outputs([out_dir / f for f in RESULT_FILES], inputs=inputs, overwrite=overwrite, kind="file")
    cfg.run.out_dir = str(out_dir)
    return out_dir


def _eval_notes(
    state: dict[str, Any], bundle: DataBundle, cfg: ExperimentConfig, checkpoint: str | Path, allow: bool
) -> dict[str, Any]:
    """metrics.json's record of the model scored: which file (path, weights digest), and how many test
    items it was trained and calibrated on (``fitted_items_in``)."""
    seen = fitted_items_in(state, bundle, cfg, checkpoint, allow)
    return {
        "evaluated_on_training_items": seen["training"],
        "evaluated_on_calibration_items": seen["calibration"],
        "checkpoint": {
            "path": str(Path(checkpoint).resolve()),
            "weights_sha256": state.get("weights_sha256"),
        },
    }


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


# The data settings that --data and --format (DATA_KEYS) and --split give: a --set of one of them beside
# the option would win over it without a word (audit 11 G9), so the pair is refused.
DATA_KEYS = ("data.root", "data.test_root", "data.test_format", "data.format")
SPLIT_KEYS = ("data.test_split",)


def check_data_given_once(
    overrides: list[str] | None, *, root: str | None, fmt: str | None, split: str | None
) -> None:
    """Refuse ``--set`` of a data setting that ``--data``/``--format`` (``DATA_KEYS``) or ``--split``
    (``SPLIT_KEYS``) already give.

    Raises:
        ValueError: naming the ``--set`` item and the option.
    """
    given = [(root or fmt, "--data" if root else "--format", DATA_KEYS), (split, "--split", SPLIT_KEYS)]
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        for value, option, keys in given:
            if value and key in keys:
                raise ValueError(
                    f"--set {item}: {option} {value} already gives the data read; give the data once: "
                    "--data ROOT [--format F] [--split S] or --set data.root=... (data.test_root, "
                    "data.test_format, data.test_split), not both"
                )


def _check_cross_dataset_root(cfg: ExperimentConfig, root: str | None, fmt: str | None) -> None:
    """Refuse ``--data`` without ``--format`` for a model whose config tests on another format: the root
    would go to the training format (data.root) while its test set (data.test_root) is read instead."""
    d = cfg.data
    if root and not fmt and d.test_format:
        raise ValueError(
            f"--data {root}: the model's config tests on data.test_format={d.test_format} (data.test_root="
            f"{d.test_root}), not on data.root; name the format of {root} with --format "
            f"({d.test_format}, or {d.format} for the training format's test split)"
        )


def _check_read_inputs(cfg: ExperimentConfig, overrides: list[str] | None) -> None:
    """Refuse ``--set data.soft_labels`` or ``data.affectnet_stats`` that the evaluated format does not
    read (``check_inputs``): its read, a test read, leaves such an input aside for a cross-dataset test."""
    keys = {item.split("=", 1)[0].strip() for item in overrides or []}
    given = {k: getattr(cfg.data, k) for k in OPTIONAL_INPUTS if f"data.{k}" in keys}
    check_inputs(get_format(evaluation_split(cfg.data)[0]), given)


def held_out_config(
    cfg: ExperimentConfig,
    *,
    root: str | None = None,
    fmt: str | None = None,
    split: str | None = None,
    overrides: list[str] | None = None,
    command: str = "eval",
) -> ExperimentConfig:
    """A trained model's config with other test data: ``fmt`` (a cross-dataset test), ``root`` (its
    root, or the training format's), ``split``, and ``overrides`` applied (``check_held_out_overrides``).
    The data is given once: by the options or by ``--set`` (``check_data_given_once``). ``command`` (eval,
    calibrate) names the command in the errors. Whether that data has the model's classes is
    ``in_data_order``'s question."""
    check_held_out_overrides(overrides, command)
    check_data_given_once(overrides, root=root, fmt=fmt, split=split)
    _check_cross_dataset_root(cfg, root, fmt)
    data = cfg.model_dump(mode="json")
    if fmt:
        data["data"]["test_format"] = fmt
    if root:
        data["data"]["test_root" if fmt else "root"] = root
    if split:
        data["data"]["test_split"] = split
    out = validate_config(apply_overrides(data, overrides), f"{command} --set")
    _check_read_inputs(out, overrides)
    return out


def in_data_order(
    model: torch.nn.Module,
    classes: tuple[str, ...],
    cfg: ExperimentConfig,
    fmt: str,
    checkpoint: str | Path,
) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """(``model`` with its outputs in the order of the ``fmt`` data's classes, those classes): the model
    itself when the order is its own, its outputs reordered (``ReorderedClasses``, said in one info line)
    when the data lists the same classes in another order (the FER2013 model on DFEW: audit U11). The one
    check of a model's classes against the data's, used by `eval` and `calibrate`.

    Raises:
        ValueError: the data's classes are another set (naming both).
    """
    wanted = class_names(fmt, cfg.data.num_classes)
    order = changed_order(
        classes,
        wanted,
        f"{checkpoint}: the model predicts {len(classes)} classes {list(classes)}, the {fmt} data has "
        f"{list(wanted)}; evaluate it on data with the same classes (in any order)",
    )
    if order is None:
        return model, wanted
    log.info(
        "%s: the model's classes %s are the %s data's in another order: its outputs are taken in the "
        "data's order %s",
        checkpoint,
        ", ".join(classes),
        fmt,
        ", ".join(wanted),
    )
    return ReorderedClasses(model, order), wanted


def check_media_kind(model: torch.nn.Module, image: bool, what: str, checkpoint: str | Path) -> None:
    """Refuse data of the other media kind than ``model`` takes (``image``: the data are still images),
    before a batch reaches it: the FER2013 CNN on DFEW's clips failed inside the model, naming no file.

    Raises:
        ValueError: naming the checkpoint, the model's kind and the data's.
    """
    spec = spec_of(model)
    if (spec.input_kind == "image") == image:
        return
    held, other = ("still images", "clips") if image else ("clips", "still images")
    raise ValueError(
        f"{checkpoint}: model {spec.name} takes {other}, the {what} holds {held}: give data of {other}"
        + (" (affectnet, ferplus), or run it on videos with `softfer predict`" if not image else "")
    )


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
