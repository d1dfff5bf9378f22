"""One soft-target loss path for hard, soft, mixed and fused labels, plus the dual-domain terms.

Hard labels enter as one-hot rows, so the same cross-entropy serves every label kind:
    L_CE = -(1/N) sum_n W_{c_n} sum_k y_nk log p_nk        (dual-domain eq. 6, "sample" weighting)
      or = -(1/N) sum_n sum_k W_k y_nk log p_nk            ("class" weighting; equal for one-hot rows)
    L_CS = (1/N) sum_n W_{c_n} (1 - cos(y_n, p_n))         (eq. 7, c_n = the sample's (top) class)
    L_2  = (1/N) sum_n W_{c_n} ||x_n - x^_n||^2            (eq. 8, rows with missing VA excluded)
W = 1 without class weights.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """W_k = N_max / N_k from training labels (eq. 5); classes absent from training get weight 0."""
    counts = np.bincount(np.asarray(labels)[np.asarray(labels) >= 0], minlength=num_classes).astype(
        np.float64
    )
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, counts.max() / counts, 0.0)
    return torch.tensor(w, dtype=torch.float32)


def soft_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None, *, mode: str = "class"
) -> torch.Tensor:
    """Mean over the batch of -sum_k y_k log softmax(logits)_k, weighted per class or per sample."""
    logp = F.log_softmax(logits.float(), dim=1)
    terms = target * logp
    if weights is None:
        return -terms.sum(dim=1).mean()
    weights = weights.to(terms.device)
    if mode == "class":
        return -(terms * weights).sum(dim=1).mean()
    if mode == "sample":
        return -(terms.sum(dim=1) * weights[target.argmax(dim=1)]).mean()
    raise ValueError(f"class weight mode must be 'class' or 'sample', got {mode!r}")


def cosine_loss(
    logits: torch.Tensor, target: torch.Tensor, sample_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of W (1 - cosine similarity(target, softmax(logits)))."""
    per = 1.0 - F.cosine_similarity(F.softmax(logits.float(), dim=1), target, dim=1)
    if sample_weights is not None:
        per = per * sample_weights
    return per.mean()


def weighted_l2(
    pred: torch.Tensor, target: torch.Tensor, sample_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of W ||target - pred||^2 over rows with known VA (NaN rows excluded); 0 when none."""
    known = ~torch.isnan(target).any(dim=1)
    if not known.any():
        return pred.sum() * 0.0  # keeps the graph connected
    per = ((pred.float()[known] - target[known]) ** 2).sum(dim=1)
    if sample_weights is not None:
        per = per * sample_weights[known]
    return per.sum() / target.shape[0]


def total_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    weight_mode: str = "sample",
    cosine: bool = False,
    va_pred: torch.Tensor | None = None,
    va_true: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """CE (+ cosine) (+ weighted L2 on VA): eq. 9 when all three are on. Returns (loss, parts)."""
    loss = soft_cross_entropy(logits, target, weights, mode=weight_mode)
    parts = {"ce": float(loss.detach())}
    sample_w = None
    if weights is not None:
        sample_w = weights.to(target.device)[target.argmax(dim=1)]
    if cosine:
        cs = cosine_loss(logits, target, sample_w)
        loss = loss + cs
        parts["cos"] = float(cs.detach())
    if va_pred is not None and va_true is not None:
        l2 = weighted_l2(va_pred, va_true, sample_w)
        loss = loss + l2
        parts["l2"] = float(l2.detach())
    return loss, parts
