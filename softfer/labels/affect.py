"""Labels derived from valence/arousal (dual-domain affect fusion, section 3).

- per-class statistics (prior, centroid, covariance) fitted on the training VA annotations,
- GMM posterior labels (eq. 2) and Euclidean-distance labels (eq. 3),
- fusion with one-hot labels (eq. 4),
- categorical labels from VA alone (argmax of the GMM posterior; used for Aff-Wild).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from softfer.io.tables import class_key, name_row

log = logging.getLogger(__name__)
VA_MISSING = -2.0  # AffectNet's sentinel for "no valence/arousal annotation"
STATS_FIELDS = ("priors", "means", "covs", "counts")  # AffectStats' fields, in order (to_dict, from_dict)


@dataclass(frozen=True)
class AffectStats:
    """Per-class valence/arousal statistics: priors (K,), means (K, 2), covariances (K, 2, 2), counts (K,),
    and the names of the K classes in their order (None in files written before softfer recorded them)."""

    priors: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    counts: np.ndarray
    classes: tuple[str, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.priors)

    def to_dict(self) -> dict[str, list]:
        d = {k: getattr(self, k).tolist() for k in STATS_FIELDS}
        if self.classes is not None:
            d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: object) -> AffectStats:
        """Statistics from ``to_dict``'s fields, checked (``_check_stats_fields``, ``_class_names``); other
        fields are ignored, and a file without ``classes`` (written before they were recorded) loads with
        ``classes`` None.

        Raises:
            ValueError: naming the first field that is missing, of the wrong shape, or not statistics.
        """
        if not isinstance(d, dict):
            raise ValueError(f"expected an object with the fields {', '.join(STATS_FIELDS)}")
        missing = [k for k in STATS_FIELDS if k not in d]
        if missing:
            raise ValueError(f"no field {', '.join(map(repr, missing))} (fields: {', '.join(STATS_FIELDS)})")
        arrays = {}
        for k in STATS_FIELDS:
            try:
                arrays[k] = np.asarray(d[k], dtype=np.float64)
            except (ValueError, TypeError):  # text, null, or rows of unequal length
                raise ValueError(f"field {k!r} is not an array of numbers") from None
        _check_stats_fields(arrays)
        names = _class_names(d["classes"], len(arrays["priors"])) if "classes" in d else None
        return cls(*(arrays[k] for k in STATS_FIELDS), classes=names)


def _class_names(value: object, k: int) -> tuple[str, ...]:
    """The ``classes`` field: ``k`` distinct names (compared ignoring case and surrounding spaces)."""
    if not isinstance(value, list) or not all(isinstance(n, str) and n.strip() for n in value):
        raise ValueError("field 'classes' is not a list of class names")
    if len(value) != k:
        raise ValueError(f"field 'classes' names {len(value)} classes, the statistics have {k}")
    if len({n.strip().casefold() for n in value}) != k:
        raise ValueError(f"field 'classes' names a class twice: {value}")
    return tuple(n.strip() for n in value)


def check_stats_classes(stats: AffectStats, names: Sequence[str], source: str, whose: str) -> AffectStats:
    """``stats`` for data whose classes are ``names`` in this order, with those names recorded.

    Statistics applied to labels of another class order give each class another's posterior without a
    word, so names that name other classes (``class_key``: case, punctuation and known synonyms such as
    Anger / angry ignored) are refused naming both lists.
    Statistics without names (files written before they were recorded) are taken in the data's order,
    with a warning saying so. ``source`` names the statistics file; ``whose`` the data's classes in the
    messages ("the table's classes (--class-names)").

    Raises:
        ValueError: for another number of classes, or other names.
    """
    names = tuple(n.strip() for n in names)
    if stats.num_classes != len(names):
        raise ValueError(
            f"{source}: statistics of {stats.num_classes} classes, but {whose} are {len(names)}: "
            f"{', '.join(names)}"
        )
    if stats.classes is None:
        log.warning(
            "%s: statistics without class names (written before softfer recorded them); their class order "
            "is taken as %s: %s",
            source,
            whose,
            ", ".join(names),
        )
        return replace(stats, classes=names)
    if [class_key(n) for n in stats.classes] != [class_key(n) for n in names]:  # Anger is angry
        raise ValueError(
            f"{source}: statistics of the classes {', '.join(stats.classes)} (in that order), but {whose} "
            f"are {', '.join(names)}: each class would get another's statistics; use statistics fitted on "
            "data of this class order (or correct the class names given)"
        )
    return stats


def _check_stats_fields(a: dict[str, np.ndarray]) -> None:
    """Refuse arrays that are no per-class VA statistics, naming the field (and class): shapes (K,), (K, 2),
    (K, 2, 2), (K,); finite; priors and counts >= 0, priors with a positive sum; means in [-1, 1] (means of
    VA values); covariances symmetric positive definite (as ``fit_affect_stats`` fits them) with variances
    at most 1 (those of VA values)."""
    if a["priors"].ndim != 1 or len(a["priors"]) == 0:
        raise ValueError(f"field 'priors' has shape {a['priors'].shape}, expected one number per class")
    k = len(a["priors"])
    shapes = {"priors": (k,), "means": (k, 2), "covs": (k, 2, 2), "counts": (k,)}
    for name, shape in shapes.items():
        if a[name].shape != shape:
            raise ValueError(f"field {name!r} has shape {a[name].shape}, expected {shape} for {k} classes")
        if not np.isfinite(a[name]).all():
            raise ValueError(f"field {name!r} holds NaN or infinite values")
    for name in ("priors", "counts"):
        if (a[name] < 0).any():
            raise ValueError(f"field {name!r} holds a negative value: {a[name].tolist()}")
    if a["priors"].sum() <= 0:
        raise ValueError("field 'priors' sums to 0: no class has a prior")
    far = np.flatnonzero((np.abs(a["means"]) > 1).any(axis=1))
    if len(far):
        raise ValueError(f"field 'means': class {far[0]} mean {a['means'][far[0]].tolist()} outside [-1, 1]")
    for c, cov in enumerate(a["covs"]):
        symmetric = np.isclose(cov[0, 1], cov[1, 0], rtol=1e-9, atol=1e-12)
        if not symmetric or cov[0, 0] <= 0 or cov[1, 1] > 1 or cov[0, 0] > 1 or np.linalg.det(cov) <= 1e-12:
            raise ValueError(
                f"field 'covs': class {c} covariance {cov.tolist()} is not symmetric positive definite "
                "with variances at most 1"
            )


def validate_va(
    va: np.ndarray, *, source: str = "valence/arousal", row_names: Sequence[str] | None = None
) -> np.ndarray:
    """Check (N, 2) VA values; returns a boolean mask of rows marked missing (-2 sentinel).

    Raises:
        ValueError: naming the row (``name_row``) for NaN or infinity (an empty cell reads as NaN), or a
            value outside [-1, 1] other than the -2 sentinel.
    """
    arr = np.asarray(va, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{source}: expected (N, 2) valence/arousal values, got shape {arr.shape}")
    missing = np.all(arr == VA_MISSING, axis=1)  # both values -2: the row has no annotation
    not_finite = ~np.isfinite(arr).all(axis=1)
    bad = not_finite | ((np.abs(arr) > 1.0) & ~missing[:, None]).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = (
            "not a number (an empty cell reads as NaN, as does a formula without a saved value)"
            if not_finite[i]
            else "outside [-1, 1] (-2 = missing)"
        )
        raise ValueError(f"{name_row(source, row_names, i)} has valence/arousal {arr[i].tolist()} {what}")
    return missing


def fit_affect_stats(
    va: np.ndarray, labels: np.ndarray, num_classes: int, *, classes: Sequence[str] | None = None
) -> AffectStats:
    """Fit the per-class VA statistics of the dual-domain paper; ``classes`` names the classes (recorded).

    prior pi_k = N_k / N over all samples; mean mu_k and population covariance Sigma_k over the samples of
    class k lying within one standard deviation of the class mean on each axis separately (section 4.2:
    "computed within one standard deviation").
    """
    va = np.asarray(va, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if validate_va(va).any():
        raise ValueError("remove rows with missing valence/arousal (-2) before fitting statistics")
    if len(va) != len(labels):
        raise ValueError(f"{len(va)} VA rows but {len(labels)} labels")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    means = np.zeros((num_classes, 2))
    covs = np.zeros((num_classes, 2, 2))
    for k in range(num_classes):
        pts = va[labels == k]
        if len(pts) == 0:
            raise ValueError(f"class {k} has no sample with valence/arousal; cannot fit its Gaussian")
        centre, spread = pts.mean(axis=0), pts.std(axis=0)
        core = pts[np.all(np.abs(pts - centre) <= spread, axis=1)]
        if len(core) < 3:
            if len(pts) < 3:
                raise ValueError(f"class {k}: only {len(pts)} samples with valence/arousal; need 3")
            log.warning(
                "class %d: %d samples within one std of its mean; using all %d", k, len(core), len(pts)
            )
            core = pts
        means[k] = core.mean(axis=0)
        covs[k] = np.cov(core.T, bias=True)
        if np.linalg.det(covs[k]) <= 1e-12:
            raise ValueError(f"class {k}: degenerate (singular) valence/arousal covariance")
    names = None if classes is None else _class_names([str(c) for c in classes], num_classes)
    return AffectStats(counts / counts.sum(), means, covs, counts, classes=names)


def _gaussian_log_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = x - mean
    inv = np.linalg.inv(cov)
    maha = np.einsum("ni,ij,nj->n", diff, inv, diff)
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (maha + logdet + 2.0 * np.log(2.0 * np.pi))


def gmm_labels(va: np.ndarray, stats: AffectStats) -> np.ndarray:
    """GMM posterior p(y | x) = pi_k N(x | mu_k, Sigma_k) / sum_j pi_j N(x | mu_j, Sigma_j) (eq. 2).

    Computed in the log domain so that points far from every centroid stay finite.
    """
    va = np.atleast_2d(np.asarray(va, dtype=np.float64))
    with np.errstate(divide="ignore"):  # a class without prior: log 0 = -inf, its posterior exactly 0
        log_priors = np.log(stats.priors)
    logp = np.stack(
        [
            log_priors[k] + _gaussian_log_pdf(va, stats.means[k], stats.covs[k])
            for k in range(stats.num_classes)
        ],
        axis=1,
    )
    from scipy.special import logsumexp  # here: scipy.special costs 0.25 s on every CLI start-up

    return np.exp(logp - logsumexp(logp, axis=1, keepdims=True))


def euclidean_labels(va: np.ndarray, means: np.ndarray, *, squared: bool = True) -> np.ndarray:
    """Distance labels of eq. 3: p_k proportional to max_j d_j / d_k, normalised to sum to one.

    d_k = ||x - mu_k||^2 (``squared=True``, the paper's formula) or ||x - mu_k|| (``squared=False``, the
    unsquared variant used in public reference code). A point exactly on a centroid gets that class with
    probability 1 (shared equally if several centroids coincide there).
    """
    va = np.atleast_2d(np.asarray(va, dtype=np.float64))
    means = np.asarray(means, dtype=np.float64)
    d = np.linalg.norm(va[:, None, :] - means[None, :, :], axis=2)
    if squared:
        d = d * d
    d_min = d.min(axis=1, keepdims=True)
    on_centroid = d_min[:, 0] == 0.0
    # max_j d_j cancels in the normalisation; scaling by d_min keeps every ratio in (0, 1] (no overflow).
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(on_centroid[:, None], (d == 0.0).astype(np.float64), d_min / d)
    return w / w.sum(axis=1, keepdims=True)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) integer labels -> (N, K) one-hot float array; labels outside 0..K-1 raise naming the row."""
    labels = np.asarray(labels, dtype=np.int64)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {i}: label {labels[i]} outside 0..{num_classes - 1}")
    return np.eye(num_classes)[labels]


def fuse_labels(labels: np.ndarray, p_va: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """Dual-domain fusion (eq. 4): alpha * one-hot + (1 - alpha) * p_va.

    ``labels`` may be (N,) class indices or (N, K) one-hot/soft rows.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    p_va = np.asarray(p_va, dtype=np.float64)
    gt = np.asarray(labels)
    gt = one_hot(gt, p_va.shape[1]) if gt.ndim == 1 else gt.astype(np.float64)
    return alpha * gt + (1.0 - alpha) * p_va


def va_to_class(va: np.ndarray, stats: AffectStats) -> np.ndarray:
    """Categorical labels from VA alone: argmax of the GMM posterior (Aff-Wild in the paper)."""
    return gmm_labels(va, stats).argmax(axis=1)
