"""Evaluation: predictions over a dataset (gathered over all ranks), metrics, and their files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.engine.batch import batch_input, forward, probabilities
from softfer.engine.batch import model_input as model_input  # re-exported: older callers import it here
from softfer.io.files import atomic_write, write_json_atomic


@torch.no_grad()
def predict(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, *, amp: str = "none", progress=None
) -> dict[str, np.ndarray]:
    """Probabilities, labels, soft labels and VA for every item of the loader (all ranks gathered).

    The input is normalised with the model's own statistics (its spec, found through DDP/compile/SWA).
    """
    model.eval()
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("probs", "label", "soft", "va_true", "va_pred", "index")
    }
    for batch in loader:
        logits, va = forward(model, batch_input(model, batch, device), amp=amp)
        parts["probs"].append(probabilities(logits).cpu().numpy())
        parts["label"].append(batch["label"].numpy())
        parts["soft"].append(batch["soft"].numpy())
        parts["va_true"].append(batch["va"].numpy())
        parts["va_pred"].append(
            va.float().cpu().numpy() if va is not None else np.full((len(logits), 2), np.nan)
        )
        parts["index"].append(batch["index"].numpy())
        if progress:
            progress(1)
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[dict[str, np.ndarray]] = [None] * dist.get_world_size()  # type: ignore[list-item]
        dist.all_gather_object(gathered, out)
        out = {k: np.concatenate([g[k] for g in gathered]) for k in out}
        order = np.argsort(out["index"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    return out


def compute_metrics(pred: dict[str, np.ndarray], classes: tuple[str, ...]) -> dict[str, Any]:
    """Classification metrics (+ RMSE/CCC when VA is predicted and known)."""
    keep = pred["label"] >= 0
    report = metrics.classification_report(
        pred["probs"][keep], pred["label"][keep], soft_target=pred["soft"][keep], class_names=classes
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
    """Per-item CSV: id, label, prediction, predicted p_<class>, target soft label q_<class>, VA."""
    with atomic_write(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["id", "label", "pred", *(f"p_{c}" for c in classes), *(f"q_{c}" for c in classes)]
            + ["valence_pred", "arousal_pred"]
        )
        for i, idx in enumerate(pred["index"]):
            w.writerow(
                [ids[int(idx)], int(pred["label"][i]), int(pred["probs"][i].argmax())]
                + [f"{p:.6f}" for p in pred["probs"][i]]
                + [f"{q:.6f}" for q in pred["soft"][i]]
                + [f"{v:.4f}" if not np.isnan(v) else "" for v in pred["va_pred"][i]]
            )


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    """metrics.json, written atomically."""
    write_json_atomic(path, report)
