"""What `softfer analyze` reads beside a run's metrics.json, checked to be the run's own.

A run folder's files can be replaced after the run (another run's predictions.csv or model.pt copied in,
the dataset regenerated or relabelled): an analysis of them would be filed under the run as its own. Each
part of the analysis reads only files whose identity metrics.json vouches for:

- predictions.csv: its sha256 as metrics.json records it (``check_predictions_digest``);
- the training split of the coexistence figure: the split's ids and labels as the run's data fingerprint
  records them (``checked_training_records``, ``coexistence_labels``);
- Grad-CAM: model.pt's fingerprint equal to metrics.json's, and the test split as read now equal to the
  one the run scored (``checked_gradcam_inputs``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from softfer.config import ExperimentConfig
from softfer.data.fingerprint import data_changes, data_fingerprint
from softfer.data.records import Record
from softfer.engine.data import build_data, class_names, evaluation_split, read_records, split_source
from softfer.engine.evaluate import PREDICTIONS_DIGEST, file_sha256
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import model_from_state

log = logging.getLogger(__name__)

# What to do about a predictions.csv that is not the one metrics.json was written with.
_OWN_PREDICTIONS = (
    "restore the run's own file, or score the model again with `softfer eval RUN/model.pt --out DIR` "
    "and analyse that folder"
)


def check_predictions_digest(path: Path, m: dict[str, Any] | None) -> None:
    """Refuse a predictions.csv whose sha256 is not the one metrics.json ``m`` records for it (another
    run's file of the same test items, or rows edited so that they still sum to 1). A metrics.json of an
    earlier softfer records none: logged, the pairing cannot be checked.

    Raises:
        ValueError: one line naming the file and what to do.
    """
    recorded = (m or {}).get(PREDICTIONS_DIGEST)
    if recorded is None:
        why = (
            f"metrics.json records no {PREDICTIONS_DIGEST} (written by an earlier softfer)"
            if m
            else "there is no metrics.json beside it (deleted, or the run did not finish)"
        )
        log.warning("%s: %s: that this predictions.csv is the one the run wrote cannot be checked", path, why)
        return
    if file_sha256(path) != recorded:
        raise ValueError(
            f"{path}: not the predictions.csv this run's metrics.json was written with (its sha256 differs "
            f"from metrics.json's {PREDICTIONS_DIGEST}: another run's file, or edited?); {_OWN_PREDICTIONS}"
        )


def _stored(m: dict[str, Any] | None) -> dict[str, Any] | None:
    """metrics.json's fingerprint when it has the config hash and data part every run writes, else None."""
    stored = (m or {}).get("fingerprint")
    ok = isinstance(stored, dict) and "config" in stored and isinstance(stored.get("data"), dict)
    return stored if ok else None


def _labels_only(fingerprint: dict[str, Any]) -> dict[str, Any]:
    # the coexistence figure reads the records' labels, never their media: a copied dataset (new mtimes)
    # draws the same figure, so only the ids and labels must match
    splits = {
        name: {k: v for k, v in split.items() if k != "media"}
        for name, split in (fingerprint.get("splits") or {}).items()
        if isinstance(split, dict)
    }
    return {**fingerprint, "splits": splits}


def checked_training_records(
    cfg: ExperimentConfig, m: dict[str, Any] | None
) -> tuple[list[Record] | None, str | None]:
    """(the training split's records as read now, None) when metrics.json ``m``'s data fingerprint shows
    they are the ones the run trained on (the same ids and labels); else (None, why not, in words)."""
    stored = _stored(m)
    splits = (stored or {}).get("data", {}).get("splits")
    if m is None:
        return None, "there is no metrics.json, whose fingerprint shows the training split the run read"
    if not isinstance(splits, dict) or not isinstance(splits.get("train"), dict):
        return None, "metrics.json records no fingerprint of the training split (an earlier softfer)"
    d = cfg.data
    try:
        records = read_records(d, d.train_split)
    except ValueError as exc:
        return None, f"the training split cannot be read ({exc})"
    now = data_fingerprint(d.format, {"train": (split_source(d, d.format, d.train_split), records)})
    changes = data_changes(_labels_only(stored["data"]), _labels_only(now))  # type: ignore[index]
    if changes:
        return None, f"the data changed since the run: {'; '.join(changes)}"
    return records, None


def _run_words(fingerprint: dict[str, Any]) -> str:
    run = fingerprint.get("run")
    return ", ".join(f"{k} {v!r}" for k, v in run.items()) if isinstance(run, dict) and run else "unnamed"


def checked_gradcam_inputs(
    run_dir: Path, m: dict[str, Any] | None
) -> tuple[torch.nn.Module, tuple[str, ...], tuple[str, ...], Any]:
    """(model, its class names, the test data's class names, test dataset) for Grad-CAM: model.pt when its
    fingerprint is metrics.json ``m``'s (config and data), and the test split built now when it is the one
    the run scored (ids, labels and media: Grad-CAM reads the pixels). The test labels are in the test
    data's class order, which a cross-dataset test set may list otherwise than the model.

    Raises:
        ValueError: one line naming the file and what does not match (no model.pt, a model.pt of another
            run, data changed since the run, or a metrics.json or model.pt without a fingerprint).
    """
    path = run_dir / "model.pt"
    if not path.is_file():  # an `eval --out` folder, or a run whose model.pt was moved away
        raise ValueError(
            f"{path}: missing or not a file, so there is no model to explain (an `eval --out` folder holds "
            "none: analyze the run's own folder for Grad-CAM)"
        )
    stored = _stored(m)
    if stored is None:
        raise ValueError(
            f"{run_dir / 'metrics.json'} records no fingerprint (an earlier softfer, or no metrics.json): "
            "model.pt and the test data cannot be checked against the run"
        )
    state = load_checkpoint(path)
    model, cfg, classes = model_from_state(state, path)
    theirs = state.get("fingerprint")
    if not isinstance(theirs, dict):
        raise ValueError(
            f"{path} has no fingerprint (an older or imported model): it cannot be checked against the run"
        )
    if theirs.get("config") != stored["config"] or theirs.get("data") != stored["data"]:
        raise ValueError(
            f"{path} is the model of another run ({_run_words(theirs)}), not the one this run's "
            f"metrics.json scored ({_run_words(stored)}): copied from another run folder?"
        )
    test = build_data(cfg, with_train=False)
    changes = data_changes(stored["data"], test.fingerprint)
    if changes:
        raise ValueError(
            f"{cfg.data.test_root or cfg.data.root}: the data changed since the run, so its test clips "
            f"are not the ones it scored: {'; '.join(changes)}"
        )
    # the test labels are in the test data's class order (a cross-dataset set may list them otherwise)
    return model, classes, class_names(evaluation_split(cfg.data)[0], cfg.data.num_classes), test.test


def coexistence_labels(
    cfg: ExperimentConfig | None, m: dict[str, Any] | None, test_soft: np.ndarray, test_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str, str | None]:
    """The soft labels the coexistence figure counts, the name of the split they come from (recorded in
    analysis.json) and why it is not the training split (None when it is).

    The training split's as read now only where metrics.json's data fingerprint shows it is the split the
    run trained on (``checked_training_records``); else the test split's from predictions.csv, which
    metrics.json vouches for. Falling back rather than refusing: the figure stays true to what it is
    labelled with, and the other analyses do not depend on the training split."""
    if cfg is None:
        return test_soft, test_labels, "test split", "no config.yaml in the folder names a training split"
    records, why = checked_training_records(cfg, m)
    train = [r for r in records or () if r.soft is not None]
    if records is not None and not train:
        why = "the training split has no soft labels"
    if train:
        return np.stack([r.soft for r in train]), np.array([r.label for r in train]), "training split", None
    # info, not warning: the printed summary (analysis.md) says it once
    log.info("coexisting emotions from the test split, not the training split: %s", why)
    return test_soft, test_labels, "test split", why
