"""Evaluation metrics of both papers, on torchmetrics, plus ambiguity-aware scores.

Classification (MIDAS): UAR = mean recall over the classes present in the ground truth, WAR = accuracy,
per-class recall, confusion matrix. Dual-domain: accuracy, macro-F1, RMSE and CCC for valence/arousal,
expected calibration error. Beyond the papers, for ambiguous data: negative log-likelihood, Brier score,
ECE with equal-mass bins, cross-entropy, KL and Jensen-Shannon divergence of the prediction to the
annotators' vote distribution, accuracy and UAR on clear versus ambiguous clips, and selective prediction
(the risk-coverage curve and its area, AURC).
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

from softfer.classes import CLEAR_THRESHOLD, SHARE_TOLERANCE

ArrayLike = np.ndarray | torch.Tensor | list


def _t(x: ArrayLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(x))
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
    """Mean KL(q || p) of the vote distribution q to the prediction p (nats); 0 when they agree.

    p is clipped at ``eps``: a prediction of 0 for a class someone voted for costs -log(eps), not infinity.
    """
    p, q = _t(probs, torch.float64), _t(soft_target, torch.float64)
    terms = torch.where(q > 0, q * (q.clamp_min(eps).log() - p.clamp_min(eps).log()), torch.zeros_like(q))
    return float(terms.sum(dim=1).mean())


def nll(probs: ArrayLike, target: ArrayLike, *, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true class, -log p_y (nats); probabilities clipped at ``eps``."""
    p, y = _t(probs, torch.float64), _t(target, torch.long)
    return float(-p.gather(1, y[:, None]).clamp_min(eps).log().mean())


def brier(probs: ArrayLike, target: ArrayLike) -> float:
    """Multiclass Brier score: per sample the sum over classes of (p_k - 1[y = k])^2, averaged over samples.

    Ranges from 0 (certain and right) to 2 (certain and wrong); a uniform guess over K classes scores 1 - 1/K.
    """
    p, y = _t(probs, torch.float64), _t(target, torch.long)
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).double()
    return float(((p - onehot) ** 2).sum(dim=1).mean())


def ece_equal_mass(probs: ArrayLike, target: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error with equal-mass bins: the sum over bins of |B|/N |acc(B) - conf(B)|.

    The clips are ranked by top-class confidence and the clip of rank i (0-based) goes to bin
    floor(i * n_bins / N), so the bins hold N / n_bins clips each, give or take one. Unlike equal-width bins,
    no bin holds a handful of clips when the confidences cluster. Clips of equal confidence share the bin
    of the first of them: a tie split over two bins would make the score depend on the input order.
    """
    pr, y = _t(probs, torch.float64).numpy(), _t(target, torch.long).numpy()
    conf, hit = pr.max(axis=1), (pr.argmax(axis=1) == y).astype(np.float64)
    n = len(conf)
    if n == 0:
        raise ValueError("ece_equal_mass: no samples")
    bins = min(n_bins, n)
    first_rank = np.searchsorted(np.sort(conf), conf, side="left")
    which = first_rank * bins // n
    gap = np.bincount(which, weights=hit, minlength=bins) - np.bincount(which, weights=conf, minlength=bins)
    return float(np.abs(gap).sum() / n)  # |B| * |acc(B) - conf(B)| = |sum of hits - sum of confidences|


def js_to_votes(probs: ArrayLike, soft_target: ArrayLike) -> float:
    """Mean Jensen-Shannon divergence between the prediction p and the vote distribution q (nats, at most
    ln 2): symmetric and finite even where p or q is zero."""
    p, q = _t(probs, torch.float64), _t(soft_target, torch.float64)
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        return torch.where(a > 0, a * (a.clamp_min(1e-300).log() - m.clamp_min(1e-300).log()), 0.0).sum(1)

    return float((0.5 * kl(p) + 0.5 * kl(q)).mean())


def risk_coverage(probs: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Selective prediction: abstain on the least confident clips first (confidence = top probability).

    Clips of equal confidence cannot be ranked against each other: inside such a group the errors kept are
    the expected number under a random order (the group's error rate times the clips kept), so the curve
    does not depend on the order of the input, and a model whose confidence is constant gets a flat curve.

    Returns:
        coverage (k / N for k = 1..N) and risk (the error rate of the k most confident clips).
    """
    pr, y = _t(probs, torch.float64).numpy(), _t(target, torch.long).numpy()
    conf = pr.max(axis=1)
    order = np.argsort(-conf, kind="stable")
    conf, errors = conf[order], (pr.argmax(axis=1) != y)[order].astype(np.float64)
    n = len(conf)
    starts = np.flatnonzero(np.r_[True, conf[1:] != conf[:-1]])  # first position of each tie group
    sizes = np.diff(np.r_[starts, n])
    group_errors = np.add.reduceat(errors, starts)
    group = np.repeat(np.arange(len(starts)), sizes)
    kept_in_group = np.arange(n) - starts[group] + 1
    cum_errors = np.cumsum(group_errors)[group] - group_errors[group]  # errors of the more confident groups
    cum_errors += kept_in_group * group_errors[group] / sizes[group]
    k = np.arange(1, n + 1)
    return k / n, cum_errors / k


def aurc(probs: ArrayLike, target: ArrayLike) -> float:
    """Area under the risk-coverage curve: the mean of the risks at coverages 1/N .. N/N (lower is better;
    a perfect confidence ranking gives the smallest value its error rate allows)."""
    return float(risk_coverage(probs, target)[1].mean())


def clear_mask(soft_target: ArrayLike, clear_threshold: float = CLEAR_THRESHOLD) -> np.ndarray:
    """(N,) True for clear clips: more than ``clear_threshold`` of the top class's votes (float32-safe)."""
    return (_t(soft_target, torch.float64).max(dim=1).values > clear_threshold + SHARE_TOLERANCE).numpy()


def clear_vs_ambiguous(
    probs: ArrayLike, target: ArrayLike, soft_target: ArrayLike, *, clear_threshold: float = CLEAR_THRESHOLD
) -> dict[str, Any]:
    """Accuracy and UAR on clear clips and on ambiguous ones.

    A clip is clear when its top class holds more than ``clear_threshold`` of its votes and ambiguous
    otherwise (a top share equal to the threshold is ambiguous). The default 0.9 is the clear group of MIDAS
    section 5.5, so the split is the paper's; with 10 annotators (DFEW, FERPlus) it means a unanimous vote. A
    majority threshold such as 0.5 would call a 6-to-4 vote clear, although such a clip is exactly what soft
    labels are for; a method that only helps on ambiguous clips shows up here and not in the overall UAR.

    Returns:
        {"threshold", "clear": {"count", "accuracy", "uar"}, "ambiguous": the same}; accuracy and UAR are
        None for an empty group.
    """
    pr, y = _t(probs, torch.float64), _t(target, torch.long)
    clear = torch.from_numpy(clear_mask(soft_target, clear_threshold))
    out: dict[str, Any] = {"threshold": clear_threshold}
    for name, mask in (("clear", clear), ("ambiguous", ~clear)):
        n = int(mask.sum())
        out[name] = {
            "count": n,
            "accuracy": war(pr[mask], y[mask], pr.shape[1]) if n else None,
            "uar": uar(pr[mask], y[mask], pr.shape[1]) if n else None,
        }
    return out


def _check_distributions(
    x: torch.Tensor, what: str, shape: tuple[int, int], rows: torch.Tensor | None = None
) -> None:
    """Raise naming the first row of ``x`` (among ``rows``) that is not a probability distribution."""
    if tuple(x.shape) != shape:
        raise ValueError(f"{what} has shape {tuple(x.shape)}, expected {shape}")
    # 1e-3: float32 softmax outputs and vote shares sum to 1 far more closely; logits or vote counts do not.
    bad = ~torch.isfinite(x).all(1) | (x < -1e-6).any(1) | ((x.sum(1) - 1).abs() > 1e-3)
    if rows is not None:
        bad &= rows
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"{what} row {i} is not a probability distribution: {x[i].tolist()}")


def _vote_metrics(
    pr: torch.Tensor,
    y: torch.Tensor,
    soft_target: ArrayLike | None,
    has_votes: ArrayLike | None,
    clear_threshold: float,
) -> dict[str, Any]:
    """The metrics against the annotators' votes over the rows that have votes; None where none has."""
    out: dict[str, Any] = dict.fromkeys(("soft_cross_entropy", "kl_to_votes", "js_to_votes"))
    out.update(clear_vs_ambiguous=None, num_vote_samples=0)
    if soft_target is None:
        return out
    voted = torch.ones(len(pr), dtype=torch.bool) if has_votes is None else _t(has_votes, torch.bool)
    if tuple(voted.shape) != (len(pr),):
        raise ValueError(f"has_votes has shape {tuple(voted.shape)}, expected ({len(pr)},)")
    q = _t(soft_target, torch.float64)
    _check_distributions(q, "soft_target (votes)", tuple(pr.shape), rows=voted)
    if not voted.any():
        return out
    pv, qv = pr[voted], q[voted]
    out.update(
        num_vote_samples=int(voted.sum()),
        soft_cross_entropy=soft_cross_entropy(pv, qv),
        kl_to_votes=kl_to_votes(pv, qv),
        js_to_votes=js_to_votes(pv, qv),
        clear_vs_ambiguous=clear_vs_ambiguous(pv, y[voted], qv, clear_threshold=clear_threshold),
    )
    return out


def classification_report(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    soft_target: ArrayLike | None = None,
    class_names: tuple[str, ...] | None = None,
    n_bins: int = 15,
    has_votes: ArrayLike | None = None,
    clear_threshold: float = CLEAR_THRESHOLD,
) -> dict[str, Any]:
    """All classification metrics for (N, K) predicted probabilities and (N,) hard targets.

    Metrics against the votes (``soft_cross_entropy``, ``kl_to_votes``, ``js_to_votes``,
    ``clear_vs_ambiguous``) are None, not zero, when no row has votes; otherwise they use only the rows
    that have, counted in ``num_vote_samples``.

    Args:
        probs: (N, K) predicted probabilities.
        target: (N,) true classes.
        soft_target: (N, K) the annotators' vote distributions, where known.
        class_names: names for ``per_class_recall``.
        n_bins: bins of both ECEs.
        has_votes: (N,) which rows of ``soft_target`` are votes (the others are placeholders, e.g. the
            one-hot label of a dataset without votes); default: all of them.
        clear_threshold: a clip is clear when its top vote share exceeds this (``clear_vs_ambiguous``).

    Raises:
        ValueError: no samples, or a row of ``probs`` or of the voted ``soft_target`` that is not a
            probability distribution (naming the row).
    """
    pr, y = _t(probs, torch.float64), _t(target, torch.long)
    if pr.dim() != 2 or len(pr) == 0:
        raise ValueError(f"classification_report: need (N, K) probabilities, N > 0; got {tuple(pr.shape)}")
    k = pr.shape[1]
    _check_distributions(pr, "probs", (len(pr), k))
    names = class_names or tuple(str(i) for i in range(k))
    recall = per_class_recall(pr, y, k)
    out: dict[str, Any] = {
        "uar": uar(pr, y, k),
        "war": war(pr, y, k),
        "macro_f1": macro_f1(pr, y, k),
        "ece": ece(pr, y, n_bins=n_bins),
        "per_class_recall": {
            n: (None if np.isnan(r) else float(r)) for n, r in zip(names, recall, strict=True)
        },
        "confusion_matrix": confusion_matrix(pr, y, k).tolist(),
        "num_samples": int(pr.shape[0]),
        "nll": nll(pr, y),
        "brier": brier(pr, y),
        "ece_equal_mass": ece_equal_mass(pr, y, n_bins=n_bins),
        "aurc": aurc(pr, y),
    }
    coverage, risk = risk_coverage(pr, y)
    # 21 points (every 5% of coverage) are enough to draw the curve; AURC uses all N.
    picks = np.unique(np.linspace(0, len(risk) - 1, min(len(risk), 21)).round().astype(int))
    out["risk_coverage"] = {"coverage": coverage[picks].tolist(), "risk": risk[picks].tolist()}
    out.update(_vote_metrics(pr, y, soft_target, has_votes, clear_threshold))
    return out
