"""One soft-target loss path for hard, soft, mixed and fused labels, plus the dual-domain terms.

Hard labels enter as one-hot rows, so the same cross-entropy serves every label kind:
    L_CE = -(1/N) sum_n W_{c_n} sum_k y_nk log p_nk        (dual-domain eq. 6, "sample" weighting)
      or = -(1/N) sum_n sum_k W_k y_nk log p_nk            ("class" weighting; equal for one-hot rows)
    L_CS = (1/N) sum_n W_{c_n} (1 - cos(y_n, p_n))         (eq. 7)
    L_2  = (1/N) sum_n W_{c_n} ||x_n - x^_n||^2            (eq. 8, rows with missing VA excluded)
c_n is the sample's categorical label as the model sees it (after any injected noise), never the argmax
of its target: a fused label with alpha < 0.5 often peaks at another class. A clip mixed with a partner
(MIDAS, mixup) takes lambda W_{c_n} + (1 - lambda) W_{c_partner}. W = 1 without class weights.
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


def sample_weights(weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """W_{c_n} for each sample's categorical label c_n (eq. 6-8)."""
    if (labels < 0).any():
        raise ValueError("class weights need every training sample's class label (found label -1)")
    return weights.to(labels.device)[labels]


def soft_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    class_weights: torch.Tensor | None = None,
    sample_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of -sum_k y_k log softmax(logits)_k, weighted per class (W_k inside the sum)
    or per sample (W_{c_n} outside it); not both."""
    if class_weights is not None and sample_weights is not None:
        raise ValueError("weight the cross-entropy per class or per sample, not both")
    logp = F.log_softmax(logits.float(), dim=1)
    terms = target * logp
    if class_weights is not None:
        terms = terms * class_weights.to(terms.device)
    per = -terms.sum(dim=1)
    if sample_weights is not None:
        per = per * sample_weights.to(per.device)
    return per.mean()


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
    sample_w: torch.Tensor | None = None,
    ce_class_weights: torch.Tensor | None = None,
    cosine: bool = False,
    va_pred: torch.Tensor | None = None,
    va_true: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """CE (+ cosine) (+ weighted L2 on VA): eq. 9 when all three are on. Returns (loss, parts).

    Args:
        sample_w: W_{c_n} per sample (see ``sample_weights``); scales the cosine and L2 terms, and the
            cross-entropy unless ``ce_class_weights`` is given.
        ce_class_weights: W_k applied inside the cross-entropy sum ("class" weighting mode).
    """
    loss = soft_cross_entropy(
        logits,
        target,
        class_weights=ce_class_weights,
        sample_weights=sample_w if ce_class_weights is None else None,
    )
    parts = {"ce": float(loss.detach())}
    if cosine:
        cs = cosine_loss(logits, target, sample_w)
        loss = loss + cs
        parts["cos"] = float(cs.detach())
    if va_pred is not None and va_true is not None:
        l2 = weighted_l2(va_pred, va_true, sample_w)
        loss = loss + l2
        parts["l2"] = float(l2.detach())
    return loss, parts


class Criterion:
    """The run's loss, built once from the config: weighted CE (+ cosine) (+ weighted L2 on VA).

    Args:
        weights: W_k (eq. 5) or None for unweighted losses.
        mode: "sample" (W_{c_n} scales each sample's CE, eq. 6) or "class" (W_k inside the CE sum).
        cosine: add eq. 7.
        va_l2: add eq. 8 (the model must predict valence/arousal).
    """

    def __init__(
        self, weights: torch.Tensor | None = None, *, mode: str = "sample", cosine: bool = False, va_l2=False
    ) -> None:
        if mode not in ("sample", "class"):
            raise ValueError(f"class weight mode must be 'sample' or 'class', got {mode!r}")
        self.weights, self.mode, self.cosine, self.va_l2 = weights, mode, cosine, va_l2

    def sample_weights(self, labels: torch.Tensor) -> torch.Tensor | None:
        """W_{c_n} of each sample's categorical label, or None without class weights."""
        return None if self.weights is None else sample_weights(self.weights, labels)

    def __call__(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        sample_w: torch.Tensor | None,
        va_pred: torch.Tensor | None = None,
        va_true: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        use_va = self.va_l2 and va_pred is not None and va_true is not None
        return total_loss(
            logits,
            target,
            sample_w=sample_w,
            ce_class_weights=self.weights if self.mode == "class" else None,
            cosine=self.cosine,
            va_pred=va_pred if use_va else None,
            va_true=va_true if use_va else None,
        )
