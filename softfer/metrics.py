"""Evaluation metrics of both papers, on torchmetrics, plus ambiguity-aware scores.

Classification (MIDAS): UAR = mean recall over the classes present in the ground truth, WAR = accuracy,
per-class recall, confusion matrix. Dual-domain: accuracy, macro-F1, RMSE and CCC for valence/arousal,
expected calibration error. Beyond the papers: cross-entropy and KL divergence of the predicted
distribution to the annotators' soft vote distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_calibration_error,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)
from torchmetrics.functional.regression import concordance_corrcoef

ArrayLike = np.ndarray | torch.Tensor | list


def _t(x: ArrayLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(dtype) if dtype is not None else t


def _labels(preds: ArrayLike, target: ArrayLike, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    p, y = _t(preds), _t(target, torch.long)
    if p.is_floating_point() and p.dim() == 2:
        p = p.argmax(dim=1)  # probabilities or logits -> predicted class
    p = p.long()
    if p.shape != y.shape:
        raise ValueError(f"predictions {tuple(p.shape)} and targets {tuple(y.shape)} differ in shape")
    for name, v in (("target", y), ("prediction", p)):
        bad = (v < 0) | (v >= num_classes)
        if bad.any():
            i = int(torch.nonzero(bad)[0])
            raise ValueError(f"{name} row {i}: class {int(v[i])} outside 0..{num_classes - 1}")
    return p, y


def confusion_matrix(preds: ArrayLike, target: ArrayLike, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    p, y = _labels(preds, target, num_classes)
    return multiclass_confusion_matrix(p, y, num_classes=num_classes).numpy()


def per_class_recall(preds: ArrayLike, target: ArrayLike, num_classes: int) -> np.ndarray:
    """Recall of each class; NaN for classes absent from the ground truth."""
    cm = confusion_matrix(preds, target, num_classes).astype(np.float64)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def uar(preds: ArrayLike, target: ArrayLike, num_classes: int) -> float:
    """Unweighted average recall over the classes present in the ground truth."""
    return float(np.nanmean(per_class_recall(preds, target, num_classes)))


def war(preds: ArrayLike, target: ArrayLike, num_classes: int) -> float:
    """Weighted average recall, i.e. accuracy."""
    p, y = _labels(preds, target, num_classes)
    return float((p == y).double().mean())


accuracy = war


def macro_f1(preds: ArrayLike, target: ArrayLike, num_classes: int) -> float:
    """Macro-F1 over the classes present in the targets or the predictions (as scikit-learn)."""
    p, y = _labels(preds, target, num_classes)
    return float(multiclass_f1_score(p, y, num_classes=num_classes, average="macro"))


def rmse(preds: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Root mean squared error; per column for (N, D) inputs."""
    p, y = _t(preds, torch.float64), _t(target, torch.float64)
    out = ((p - y) ** 2).mean(dim=0).sqrt()
    return out.numpy() if out.dim() else float(out)


def ccc(preds: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Lin's concordance correlation coefficient; per column for (N, D) inputs."""
    p, y = _t(preds, torch.float64), _t(target, torch.float64)
    out = concordance_corrcoef(p, y)
    return out.numpy() if out.dim() else float(out)


def ece(probs: ArrayLike, target: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins (15 by default)."""
    pr, y = _t(probs, torch.float32), _t(target, torch.long)
    return float(multiclass_calibration_error(pr, y, num_classes=pr.shape[1], n_bins=n_bins, norm="l1"))


def reliability_bins(probs: ArrayLike, target: ArrayLike, *, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin confidence, accuracy and count of the top-class prediction (for reliability diagrams)."""
    pr, y = _t(probs, torch.float64).numpy(), _t(target, torch.long).numpy()
    conf, pred = pr.max(axis=1), pr.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        acc = np.bincount(which, weights=(pred == y).astype(np.float64), minlength=n_bins) / count
    return {"edges": edges, "confidence": mean_conf, "accuracy": acc, "count": count}


def soft_cross_entropy(probs: ArrayLike, soft_target: ArrayLike, *, eps: float = 1e-12) -> float:
    """Mean cross-entropy H(q, p) of predicted distributions p against vote distributions q (nats)."""
    p, q = _t(probs, torch.float64), _t(soft_target, torch.float64)
    return float(-(q * p.clamp_min(eps).log()).sum(dim=1).mean())


def kl_to_votes(probs: ArrayLike, soft_target: ArrayLike, *, eps: float = 1e-12) -> float:
    """Mean KL(q || p) of the vote distribution q to the prediction p (nats); 0 when they agree."""
    p, q = _t(probs, torch.float64), _t(soft_target, torch.float64)
    terms = torch.where(q > 0, q * (q.clamp_min(eps).log() - p.clamp_min(eps).log()), torch.zeros_like(q))
    return float(terms.sum(dim=1).mean())


def classification_report(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    soft_target: ArrayLike | None = None,
    class_names: tuple[str, ...] | None = None,
    n_bins: int = 15,
) -> dict[str, Any]:
    """All classification metrics for (N, K) predicted probabilities and (N,) hard targets."""
    pr = _t(probs, torch.float64)
    k = pr.shape[1]
    names = class_names or tuple(str(i) for i in range(k))
    recall = per_class_recall(pr, target, k)
    out: dict[str, Any] = {
        "uar": uar(pr, target, k),
        "war": war(pr, target, k),
        "macro_f1": macro_f1(pr, target, k),
        "ece": ece(pr, target, n_bins=n_bins),
        "per_class_recall": {
            n: (None if np.isnan(r) else float(r)) for n, r in zip(names, recall, strict=True)
        },
        "confusion_matrix": confusion_matrix(pr, target, k).tolist(),
        "num_samples": int(pr.shape[0]),
    }
    if soft_target is not None:
        out["soft_cross_entropy"] = soft_cross_entropy(pr, soft_target)
        out["kl_to_votes"] = kl_to_votes(pr, soft_target)
    return out
