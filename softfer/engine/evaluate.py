"""Evaluation: predictions over a dataset (gathered over all ranks), metrics, and their files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.inference.batch import batch_input, forward, probabilities
from softfer.inference.batch import model_input as model_input  # re-exported: older callers import it here
from softfer.io.console import progress as bar
from softfer.io.files import atomic_write, write_json_atomic
from softfer.io.images import MediaError
from softfer.metric_table import METRICS_BY_NAME


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    amp: str = "none",
    progress=None,
    max_unreadable: int | None = None,
    temperature: float = 1.0,
) -> dict[str, np.ndarray]:
    """Probabilities, logits, labels, soft labels and VA for every readable item of the loader (all ranks
    gathered); the probabilities are softmax(logits / ``temperature``) (a calibrated model's, else 1).

    The input is normalised with the model's own statistics (its spec, found through DDP/compile/SWA).
    Items the dataset could not read (``readable`` False) are left out of every array and their indices
    returned as ``unreadable``; more than ``max_unreadable`` of them (None: no cap) raise ``MediaError``.
    """
    model.eval()
    keys = ("probs", "logits", "label", "soft", "has_votes", "va_true", "va_pred", "index", "readable")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    ranked = dist.is_available() and dist.is_initialized()
    shown = progress is None and (not ranked or dist.get_rank() == 0)
    for batch in bar(loader, description="evaluate", enabled=shown):
        logits, va = forward(model, batch_input(model, batch, device), amp=amp)
        parts["probs"].append(probabilities(logits, temperature).cpu().numpy())
        parts["logits"].append(logits.float().cpu().numpy())
        parts["label"].append(batch["label"].numpy())
        parts["soft"].append(batch["soft"].numpy())
        # A dataset that does not say whether its soft labels are votes gets no vote metrics (None), rather
        # than scores against what may be a one-hot stand-in.
        voted = batch.get("has_votes", torch.zeros(len(logits), dtype=torch.bool))
        parts["has_votes"].append(voted.numpy())
        parts["va_true"].append(batch["va"].numpy())
        parts["va_pred"].append(
            va.float().cpu().numpy() if va is not None else np.full((len(logits), 2), np.nan)
        )
        parts["index"].append(batch["index"].numpy())
        readable = batch.get("readable", torch.ones(len(logits), dtype=torch.bool)).numpy()
        parts["readable"].append(readable)
        if max_unreadable is not None:  # this rank's share so far: fail early
            _check_unreadable(parts, max_unreadable, loader.dataset)
        if progress:
            progress(1)
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[dict[str, np.ndarray]] = [None] * dist.get_world_size()  # type: ignore[list-item]
        dist.all_gather_object(gathered, out)
        out = {k: np.concatenate([g[k] for g in gathered]) for k in out}
        order = np.argsort(out["index"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    ok = out.pop("readable").astype(bool)
    unreadable = out["index"][~ok].astype(np.int64)
    out = {k: v[ok] for k, v in out.items()}
    out["unreadable"] = unreadable
    return out


def _check_unreadable(parts: dict[str, list[np.ndarray]], cap: int, dataset: Any) -> None:
    bad = [int(i) for idx, ok in zip(parts["index"], parts["readable"], strict=True) for i in idx[~ok]]
    if len(bad) > cap:
        records = getattr(dataset, "records", None)
        names = [records[i].id for i in bad[:5]] if records is not None else [str(i) for i in bad[:5]]
        raise MediaError(
            f"evaluation: {len(bad)} unreadable items, more than the {cap} data.max_skip allows; first: "
            f"{', '.join(names)} (the log names each file)"
        )


def unreadable_record(indices: np.ndarray, ids: list[str], cap: int, what: str) -> dict[str, Any]:
    """{"count", "ids"} of the items left out of an evaluation, for metrics.json.

    Raises:
        MediaError: more than ``cap`` items were left out (naming the first ones).
    """
    names = [ids[int(i)] for i in sorted(set(indices.tolist()))]
    if len(names) > cap:
        raise MediaError(
            f"{what}: {len(names)} of {len(ids)} items unreadable, more than the {cap} data.max_skip "
            f"allows; first: {', '.join(names[:5])}"
        )
    return {"count": len(names), "ids": names}


def compute_metrics(
    pred: dict[str, np.ndarray],
    classes: tuple[str, ...],
    *,
    clear_threshold: float = metrics.CLEAR_THRESHOLD,
) -> dict[str, Any]:
    """Classification metrics (+ RMSE/CCC when VA is predicted and known).

    Items without a class label (label < 0) are left out of the classification metrics; the metrics
    against the annotators' votes use only the items whose ``has_votes`` is set (none without the key).
    A voted clip is clear when its top vote share exceeds ``clear_threshold`` (the config's
    ``data.clear_threshold``, which also defines MIDAS's clear training group), ambiguous otherwise.

    Raises:
        ValueError: no item has a class label.
    """
    keep = pred["label"] >= 0
    if not keep.any():
        raise ValueError(f"evaluation: none of the {len(keep)} items has a class label to score")
    has_votes = pred.get("has_votes", np.zeros(len(keep), dtype=bool))[keep]
    report = metrics.classification_report(
        pred["probs"][keep],
        pred["label"][keep],
        soft_target=pred["soft"][keep],
        class_names=classes,
        has_votes=has_votes,
        clear_threshold=clear_threshold,
    )
    known = ~np.isnan(pred["va_true"]).any(1) & ~np.isnan(pred["va_pred"]).any(1)
    if known.sum() >= 2:
        rmse = metrics.rmse(pred["va_pred"][known], pred["va_true"][known])
        ccc = metrics.ccc(pred["va_pred"][known], pred["va_true"][known])
        report.update(
            num_va_samples=int(known.sum()),  # may exceed num_samples: AffectNet's code-8 images
            rmse_valence=float(rmse[0]),
            rmse_arousal=float(rmse[1]),
            ccc_valence=float(ccc[0]),
            ccc_arousal=float(ccc[1]),
        )
    return report


def write_predictions(
    path: Path, pred: dict[str, np.ndarray], ids: list[str], classes: tuple[str, ...]
) -> None:
    """Per-item CSV: id, label, prediction, predicted p_<class>, target soft label q_<class>, VA, and
    has_votes (1: q_ are the annotators' votes; 0: a one-hot stand-in for a clip without votes)."""
    has_votes = pred.get("has_votes", np.zeros(len(pred["label"]), dtype=bool))
    with atomic_write(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["id", "label", "pred", *(f"p_{c}" for c in classes), *(f"q_{c}" for c in classes)]
            + ["valence_pred", "arousal_pred", "has_votes"]
        )
        for i, idx in enumerate(pred["index"]):
            w.writerow(
                [ids[int(idx)], int(pred["label"][i]), int(pred["probs"][i].argmax())]
                + [f"{p:.6f}" for p in pred["probs"][i]]
                + [f"{q:.6f}" for q in pred["soft"][i]]
                + [f"{v:.4f}" if not np.isnan(v) else "" for v in pred["va_pred"][i]]
                + [int(has_votes[i])]
            )


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    """metrics.json, written atomically."""
    write_json_atomic(path, report)


def summary_scalars(report: dict[str, Any]) -> dict[str, Any]:
    """A run's metrics with the clear / ambiguous group scores as top-level numbers (``clear_uar`` ...),
    as cross-validation and comparison summaries average them; None where the run has no votes or the
    group no clip."""
    groups = report.get("clear_vs_ambiguous") or {}
    flat = {f"{g}_{m}": _group(groups, g).get(m) for g in ("clear", "ambiguous") for m in ("accuracy", "uar")}
    return {**report, **flat}


def _group(groups: Any, name: str) -> dict[str, Any]:
    group = groups.get(name) if isinstance(groups, dict) else None
    return group if isinstance(group, dict) else {}


def metric_value_problems(report: dict[str, Any]) -> list[str]:
    """``key = value`` for every metric of the table (``METRIC_TABLE``) whose value in ``report`` is neither a
    number nor null, nested group scores included: softfer writes no other, so the file was edited."""
    scalars = summary_scalars(report)
    bad = []
    for name in METRICS_BY_NAME:
        value = scalars.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            bad.append(f"{name} = {json.dumps(value)[:40]}")
    groups = report.get("clear_vs_ambiguous")
    if groups is not None and not isinstance(groups, dict):
        bad.append(f"clear_vs_ambiguous = {json.dumps(groups)[:40]}")
    return bad


def read_metrics(path: Path) -> dict[str, Any]:
    """A finished run's metrics.json.

    Raises:
        ValueError: one line naming the file when it is not a JSON object (truncated, say), with what
            to do.
    """
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report = exc
    if not isinstance(report, dict):
        why = str(report).splitlines()[0] if isinstance(report, Exception) else "not a JSON object"
        raise ValueError(
            f"{path}: unreadable metrics.json ({why}); delete it to evaluate the run again from its "
            "last.pt, or retrain it with --overwrite"
        )
    bad = metric_value_problems(report)
    if bad:
        raise ValueError(
            f"{path}: not as softfer writes it (not a number: {'; '.join(bad)}); delete it to "
            "evaluate the run again from its last.pt, or retrain it with --overwrite"
        )
    return report
