"""`softfer calibrate`: a trained model's temperature and ambiguity threshold, fitted on held-out items.

The held-out items are the run's validation split (``data.val_fraction`` of the training split, carved by
``engine.data.build_data`` exactly as in training: stratified by class, seeded by ``run.seed``, before any
training target), or the clips named by ``--data/--format/--split``. Items the model was trained on are
refused (its ``training_items``). The fits are ``softfer.inference.calibration``'s: the temperature
minimises the NLL on the labelled items, the ambiguity threshold separates the vote rule's clear and
ambiguous clips (``data.clear_threshold``) on the items with votes.

The calibrated model is a new checkpoint, never the input (``softfer.io.outputs``): by default
``<stem>_calibrated<suffix>`` beside it (RUN/model_calibrated.pt), with the report beside that
(``<out stem>.json``). The copy keeps every entry of the input (weights, config, classes, fingerprint,
training items) and adds ``calibration`` and ``calibration_items`` (the items fitted on), so `eval`
refuses the model's training items and its calibration items, and the run's identity is unchanged. Both
the report and the copy say what the items were (resolved data root, format, split, fold, count, digests:
"dfew test split" alone reads as the run's own test set), and the report warns (``fit_warnings``) when the
fit made the NLL or ECE on these items worse or stopped at an end of the temperatures searched.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from softfer import metrics
from softfer.config import ExperimentConfig, apply_overrides, validate_config
from softfer.config.identity import flatten
from softfer.data.datasets import ImageDataset
from softfer.data.fingerprint import items_trained_on, split_fingerprint, training_items
from softfer.data.formats import get_format
from softfer.engine.data import build_data, config_inputs, evaluation_split, split_source
from softfer.engine.evaluate import predict, unreadable_record
from softfer.engine.outputs import eval_loader
from softfer.engine.runs import (
    check_held_out_overrides,
    check_media_kind,
    held_out_config,
    in_data_order,
)
from softfer.engine.runtime import setup_distributed
from softfer.inference.batch import probabilities
from softfer.inference.calibration import (
    DEFAULT_MARGIN,
    T_BOUNDS,
    Calibration,
    fit_margin_threshold,
    fit_temperature,
    temperature_nll,
    top2,
)
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint, save_safetensors_checkpoint
from softfer.inference.loading import model_from_state
from softfer.io.files import write_json_atomic
from softfer.io.outputs import check_outputs, json_holding
from softfer.limits import MODEL_INPUT_KEYS

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
# Float noise (the ECE is computed in float32): a score after the fit counts as worse than before only by
# more than this, and an end of T_BOUNDS fits as well as the fitted temperature when its NLL is within it.
WORSE_BY = 1e-6
# What every calibration report (the .json beside the calibrated copy) holds: how calibrate knows its own
REPORT_KEYS = ("checkpoint", "temperature", "before", "after")


def calibrated_path(checkpoint: Path) -> Path:
    """The default calibrated copy of ``checkpoint``: ``<stem>_calibrated<suffix>`` beside it."""
    return checkpoint.with_name(f"{checkpoint.stem}_calibrated{checkpoint.suffix}")


def _checkpoint_of(source: str | Path) -> Path:
    path = Path(source)
    return path / "model.pt" if path.is_dir() else path


def _held_out_config(cfg: ExperimentConfig, ckpt: Path, data: dict[str, Any]) -> ExperimentConfig:
    """The config of the items to fit on: the --data items' (``held_out_config``), else the run's own
    (its validation split), refused when it held none out."""
    if _given(data):
        return held_out_config(cfg, **data, command="calibrate")
    check_held_out_overrides(data["overrides"], "calibrate")
    cfg = validate_config(apply_overrides(cfg.model_dump(mode="json"), data["overrides"]), "calibrate")
    if cfg.data.val_fraction <= 0:
        raise ValueError(
            f"{ckpt}: its run held out no validation split (data.val_fraction is 0), and calibrating on "
            "training or test items would bias the fit: pass held-out clips with --data ROOT [--format F] "
            "--split S (with votes, to fit the ambiguity threshold too)"
        )
    return cfg


def _check_model_inputs(own: ExperimentConfig, cfg: ExperimentConfig, ckpt: Path) -> None:
    """Refuse a fit on inputs other than the checkpoint's own (``MODEL_INPUT_KEYS`` changed by --set):
    predict and eval feed the calibrated copy its recorded settings, so a temperature fitted on 96-px clips
    of a 32-px model would be recorded as this model's (found by audit)."""
    mine, theirs = flatten(own.model_dump(mode="json")), flatten(cfg.model_dump(mode="json"))
    changed = [k for k in MODEL_INPUT_KEYS if mine.get(k) != theirs.get(k)]
    if changed:
        said = ", ".join(f"{k}={theirs.get(k)} (the model's: {mine.get(k)})" for k in changed)
        raise ValueError(
            f"--set {said}: {ckpt} is calibrated on the inputs predict and eval give it, its own; measure "
            "other input settings with `softfer eval --set` instead"
        )


def _given(data: dict[str, Any]) -> bool:
    """Whether held-out clips were named (--data, --format or --split) rather than the run's validation
    split."""
    return any(data[k] for k in ("root", "fmt", "split"))


def _held_out(cfg: ExperimentConfig, given: bool) -> tuple[Any, dict[str, Any]]:
    """(dataset, what it is) of the items to fit on: the --data items (``given``), else the run's
    validation split. What it is: ``source`` (all of it in words, "dfew test split, fold 1 in /data/cal"),
    the resolved data ``root``, ``format``, ``split``, ``fold`` (None: the format has none) and
    ``validation_fraction`` (None: not the run's validation hold-out)."""
    d = cfg.data
    if given:
        fmt, split = evaluation_split(d)
        dataset = build_data(cfg, with_train=False).test
        root, words, fraction = d.test_root or d.root, split_source(d, fmt, split), None
    else:
        fmt, split, fraction = d.format, d.train_split, d.val_fraction
        dataset = build_data(cfg, with_train=True).val
        root = d.root
        words = f"the validation hold-out ({fraction:g}) of the {split_source(d, fmt, split)}"
    # the root in the words too: "dfew test split" alone reads as the run's own test set
    resolved = str(Path(root).resolve())
    described = {"source": f"{words} in {resolved}", "root": resolved, "format": fmt, "split": split}
    fold = d.fold if get_format(fmt).folds else None
    return dataset, described | {"fold": fold, "validation_fraction": fraction}


def _refuse_training_items(state: dict[str, Any], records: list, fmt: str, ckpt: Path) -> None:
    stored = state.get("training_items")
    if not isinstance(stored, dict):
        log.warning(
            "%s does not record what it was trained on (an older or imported model): the calibration items "
            "cannot be checked against its training items",
            ckpt,
        )
        return
    found = items_trained_on(stored, fmt, records)
    if found:
        raise ValueError(
            f"{ckpt}: {len(found)} of the {len(records)} calibration items are items this model was trained "
            f"on (first: {', '.join(found[:5])}): a model is over-confident on them, so the fit would be "
            "wrong; calibrate on held-out items (another split or fold)"
        )


def _scores(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, Any]:
    bins = metrics.reliability_bins(probs, labels, n_bins=n_bins)
    return {
        "nll": metrics.nll(probs, labels),
        "ece": metrics.ece(probs, labels, n_bins=n_bins),
        "reliability": {k: [None if np.isnan(v) else float(v) for v in bins[k]] for k in bins},
    }


def _fit_threshold(probs: np.ndarray, soft: np.ndarray, voted: np.ndarray, clear: float) -> dict[str, Any]:
    """The ambiguity threshold's fit on the items with votes, or why there is none."""
    if not voted.any():
        return {"fitted": False, "why": "no item has annotator votes"}
    ambiguous = ~metrics.clear_mask(soft[voted], clear)
    try:
        fit = fit_margin_threshold(top2(probs[voted])[2], ambiguous)
    except ValueError as exc:
        return {"fitted": False, "why": str(exc)}
    return {"fitted": True, "clear_threshold": clear, **fit}


def _bound_warning(logits: np.ndarray, labels: np.ndarray, temperature: float) -> list[str]:
    """[why the items do not determine the temperature], or [] when the NLL at ``temperature`` is lower
    than at both ends of ``T_BOUNDS``. The NLL can stop falling short of an end in float precision: a
    model right on every item with wide margins has NLL 0.0 at every T below some value."""
    at_t = temperature_nll(logits, labels, temperature)
    flat = [t for t in T_BOUNDS if temperature_nll(logits, labels, t) <= at_t + WORSE_BY]
    if not flat:
        return []
    items, span = len(labels), f"the range searched ({T_BOUNDS[0]:g} to {T_BOUNDS[1]:g})"
    if len(flat) == 2:
        return [
            f"the NLL on the {items} fitted items is the same at every temperature in {span}: they do not "
            "determine a temperature (the model's logits do not tell them apart); fit on other held-out items"
        ]
    end, why = ("lower", "right") if flat[0] == T_BOUNDS[0] else ("upper", "wrong")
    return [
        f"the fitted temperature {temperature:.4g} fits the {items} items no better than the {end} end of "
        f"{span}, T = {flat[0]:g}: the NLL keeps falling towards it, as when the model is {why} on (nearly) "
        "every fitted item, so these items do not determine a temperature; fit on more held-out items"
    ]


def fit_warnings(
    logits: np.ndarray, labels: np.ndarray, temperature: float, before: dict[str, Any], after: dict[str, Any]
) -> list[str]:
    """What a reader of a temperature fit on ``logits`` and ``labels`` must know, one sentence each: the NLL
    or ECE on these items is worse ``after`` than ``before`` (temperature 1), or an end of ``T_BOUNDS``
    fits them as well as ``temperature`` (``_bound_warning``)."""
    out = []
    worse = [k for k in ("ece", "nll") if after[k] > before[k] + WORSE_BY]
    if worse:
        names = " and the ".join(k.upper() for k in worse)
        numbers = "; ".join(f"{k.upper()} {before[k]:.4f} before, {after[k]:.4f} after" for k in worse)
        out.append(
            f"the calibration (T = {temperature:.4g}) made the {names} worse on the {len(labels)} items it "
            f"was fitted on ({numbers}): temperature scaling minimises the NLL, not the ECE, and on few or "
            "already calibrated items it can worsen the ECE; check the calibrated model with `softfer eval` "
            "on other held-out items, or fit on more items"
        )
    return out + _bound_warning(logits, labels, temperature)


def fit_calibration(
    pred: dict[str, np.ndarray], clear_threshold: float, *, n_bins: int = 15
) -> tuple[Calibration, dict[str, Any]]:
    """The calibration fitted on ``engine.evaluate.predict``'s output (logits, labels, votes), and its
    report: data counts, temperature, NLL/ECE/reliability before and after on these items, the ambiguity
    threshold's fit (or why there is none), and ``warnings`` (``fit_warnings``, each also logged).

    Raises:
        ValueError: no item has a class label.
    """
    keep = pred["label"] >= 0
    if not keep.any():
        raise ValueError(f"calibrate: none of the {len(keep)} items has a class label")
    logits, labels = pred["logits"][keep], pred["label"][keep]
    temperature = fit_temperature(logits, labels)
    before = probabilities(torch.from_numpy(logits)).numpy()
    after = probabilities(torch.from_numpy(logits), temperature).numpy()
    voted = pred["has_votes"][keep].astype(bool)
    ambiguity = _fit_threshold(after, pred["soft"][keep], voted, clear_threshold)
    report = {
        "data": {"items": int(keep.sum()), "with_votes": int(voted.sum())},
        "temperature": temperature,
        "before": _scores(before, labels, n_bins),
        "after": _scores(after, labels, n_bins),
        "ambiguity": ambiguity,
        "note": "before (temperature 1) and after are measured on the items the temperature was fitted "
        "on; `softfer eval` the calibrated checkpoint on the test split for held-out numbers",
    }
    report["warnings"] = fit_warnings(logits, labels, temperature, report["before"], report["after"])
    for warning in report["warnings"]:
        log.warning("calibrate: %s", warning)
    fitted = {f"{k}_{w}": report[w][k] for k in ("nll", "ece") for w in ("before", "after")}
    calibration = Calibration(
        temperature,
        ambiguity.get("threshold", DEFAULT_MARGIN),
        bool(ambiguity["fitted"]),
        {
            "data": report["data"],
            **fitted,
            "ambiguity": {k: v for k, v in ambiguity.items() if k != "fitted"},
        },
    )
    return calibration, report


def _record_fitted_on(
    calibration: Calibration,
    report: dict[str, Any],
    described: dict[str, Any],
    records: list,
    skipped: dict[str, Any],
) -> tuple[Calibration, dict[str, Any], dict[str, Any]]:
    """What the fit was fitted on, where each reader finds it: the report's ``data`` (``described``, the
    items' digests, ``skipped``), the calibration's record (the words: its note names the data root) and
    the checkpoint's ``calibration_items`` (``training_items`` of the records, which `eval` refuses to
    score as a test, with ``described``)."""
    data = {**calibration.fitted["data"], "source": described["source"], "skipped": skipped}
    calibration = replace(calibration, fitted={**calibration.fitted, "data": data})
    # hashed as a run's metrics.json `fingerprint` hashes each split: equal `ids` there are the same items
    digests = split_fingerprint(records, described["source"])
    described = described | {"digests": {k: digests[k] for k in ("ids", "labels", "media")}}
    report = report | {"data": {**report["data"], **described, "skipped": skipped}}
    return calibration, report, training_items(described["format"], records) | described


def calibrate_checkpoint(
    checkpoint: str | Path,
    *,
    data_root: str | None = None,
    data_format: str | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Fit ``checkpoint``'s temperature and ambiguity threshold on held-out items; write the calibrated
    copy to ``out`` (default ``calibrated_path``) and the report beside it (``.json``).

    Args:
        checkpoint: RUN/model.pt, a run folder, or a ``.safetensors`` checkpoint.
        data_root, data_format, split: held-out clips to fit on (as `softfer eval` reads them); none: the
            run's validation split.
        overrides: config overrides (``data.root=...`` when the data moved).
        overwrite: replace an existing ``out`` or report (never the input checkpoint).
        n_bins: bins of the ECE and the reliability table.

    Returns:
        The report: checkpoint, out, data (items, with votes, skipped, and what they are: source in
        words, resolved root, format, split, fold, validation fraction, digests), temperature, before and
        after (NLL, ECE, reliability bins on the fitted items), ambiguity (the threshold fit or why not),
        warnings (``fit_warnings``).

    Raises:
        ValueError: outputs refused, no held-out items, items the model was trained on, data of another
            set of classes (the same set in another order is fitted with the model's outputs in the data's
            order: ``in_data_order``), or no item with a class label (``fit_calibration``).
    """
    ckpt = _checkpoint_of(checkpoint)
    state = load_checkpoint(ckpt)  # first: an ONNX file is named as such, not by its default --out
    out = Path(out) if out else calibrated_path(ckpt)
    if out.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"--out {out}: a checkpoint file name ends in {', '.join(CHECKPOINT_SUFFIXES)}")
    model, own, classes = model_from_state(state, ckpt)
    held = {"root": data_root, "fmt": data_format, "split": split, "overrides": overrides}
    cfg = _held_out_config(own, ckpt, held)
    _check_model_inputs(own, cfg, ckpt)
    # the data's classes in the model's order, or in another (its outputs reordered), before any data
    fmt = evaluation_split(cfg.data)[0] if _given(held) else cfg.data.format
    model, _ = in_data_order(model, classes, cfg, fmt, ckpt)
    report_path = _check_calibrate_outputs(cfg, ckpt, out, overwrite)
    dataset, described = _held_out(cfg, _given(held))
    check_media_kind(model, isinstance(dataset, ImageDataset), described["source"], ckpt)
    _refuse_training_items(state, dataset.records, described["format"], ckpt)
    calibration, report, items = _fit_on(model, dataset, described, cfg, n_bins)
    report = {"checkpoint": str(ckpt), "out": str(out), **report}
    # the copy keeps the model's own weights and class order: a temperature and a margin threshold are the
    # same in every order of the classes
    new_state = {**state, "calibration": calibration.to_state(), "calibration_items": items}
    if out.suffix == ".safetensors":
        save_safetensors_checkpoint(new_state, out)
    else:
        save_checkpoint(new_state, out)
    write_json_atomic(report_path, report)
    return {**report, "report": str(report_path)}


def _fit_on(
    model: torch.nn.Module, dataset: Any, described: dict[str, Any], cfg: ExperimentConfig, n_bins: int
) -> tuple[Calibration, dict[str, Any], dict[str, Any]]:
    """(calibration, report, calibration_items) of ``model``'s predictions on the held-out ``dataset``
    (``described`` by ``_held_out``): ``fit_calibration``, then ``_record_fitted_on``."""
    _, _, device = setup_distributed(cfg.run.device)
    cap = dataset.max_unreadable
    pred = predict(model.to(device), eval_loader(dataset, cfg), device, amp="none", max_unreadable=cap)
    ids = [r.id for r in dataset.records]
    skipped = unreadable_record(pred["unreadable"], ids, cap, described["source"])
    calibration, report = fit_calibration(pred, cfg.data.clear_threshold, n_bins=n_bins)
    return _record_fitted_on(calibration, report, described, dataset.records, skipped)


def _check_calibrate_outputs(cfg: ExperimentConfig, ckpt: Path, out: Path, overwrite: bool) -> Path:
    """The report's path (``out`` as .json), after the output rule has passed ``out`` and the report:
    before any data is read, never onto the checkpoint or into the data (``config_inputs``)."""
    report_path = out.with_suffix(".json")
    # the report's name is derived from --out: it replaces only an earlier calibration report (with
    # --overwrite), never a run's metrics.json or environment.json (--out RUN/metrics.pt)
    own_report = json_holding(*REPORT_KEYS)
    check_outputs(
        [out, report_path],
        inputs=[ckpt, *config_inputs(cfg)],
        overwrite=overwrite,
        kind="file",
        ours=lambda p: p != report_path or own_report(p),
    )
    # --overwrite replaces a calibrated copy, never a run's last.pt or best.pt (its optimiser and RNG state:
    # the resume checkpoint) nor another model: the file must hold the entry this command adds
    if out.exists() and not _is_calibrated_copy(out):
        raise ValueError(
            f"{out} exists and is not a calibrated copy `softfer calibrate` wrote (no calibration entry: a "
            "training checkpoint, a model or another file): it is not replaced, --overwrite or not; choose "
            "another --out"
        )
    return report_path


def _is_calibrated_copy(path: Path) -> bool:
    """Whether ``path`` is a checkpoint holding a ``calibration`` entry (read by the project's loader, which
    runs no pickled code); a file it cannot read is not."""
    try:
        return load_checkpoint(path).get("calibration") is not None
    except ValueError:
        return False
