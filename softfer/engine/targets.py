"""Training targets: one label method per ``labels.target`` (hard, soft votes, dual-domain fusion).

``LABEL_METHODS`` is the table: a new label method is one function here and one entry in it (and its
name in the config's ``labels.target`` choices; ``tests/engine/test_recipes.py`` fails until both agree).
How targets are then mixed per step (MIDAS, mixup, label smoothing) is ``engine/mixer.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from softfer.config import DataConfig, ExperimentConfig
from softfer.data.formats import get_format, read_affect_stats
from softfer.data.records import Record
from softfer.labels.affect import (
    AffectStats,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    one_hot,
)

log = logging.getLogger(__name__)


def affectnet_stats(data: DataConfig) -> AffectStats:
    """The AffectNet VA statistics Aff-Wild's labels are derived from (dual-domain sections 4.1, 5.1)."""
    return read_affect_stats(data.affectnet_stats)


def training_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, *, stats_labels: np.ndarray | None = None
) -> list[Record]:
    """Copies of ``records`` whose ``soft`` holds the training target of ``cfg.labels.target``.

    ``stats_labels`` are the labels the VA statistics are fitted on (default: the records' own labels);
    the fusion of eq. 4 always uses the records' labels, as the model sees them.

    Raises:
        ValueError: ``cfg.labels.target`` names no entry of ``LABEL_METHODS``, or the records lack what
            the method needs.
    """
    method = LABEL_METHODS.get(cfg.labels.target)
    if method is None:
        raise ValueError(f"labels.target={cfg.labels.target!r}: choose one of {sorted(LABEL_METHODS)}")
    labels = np.array([r.label for r in records])
    stats_labels = labels if stats_labels is None else np.asarray(stats_labels)
    return method(records, cfg, num_classes, stats_labels)


def hard_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """One-hot rows of the categorical labels."""
    return [replace(r, soft=one_hot(np.array([r.label]), num_classes)[0]) for r in records]


def soft_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """The annotators' vote distributions the records already carry."""
    missing = [r.id for r in records if r.soft is None]
    if missing:
        raise ValueError(
            f"labels.target=soft needs soft labels, but {len(missing)} training clips have none (first: "
            f"{missing[0]}); give the vote annotation file or use labels.target=hard"
        )
    return records


def fused_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """Dual-domain eq. 4: the categorical label fused with a label derived from valence/arousal."""
    labels = np.array([r.label for r in records])
    has_va = np.array([r.va is not None for r in records])
    if not has_va.any():
        raise ValueError("labels.target=fused needs valence/arousal annotations in the training data")
    va = np.stack([r.va if r.va is not None else np.zeros(2) for r in records])
    if get_format(cfg.data.format).borrows_va_stats:
        # Aff-Wild borrows AffectNet's parameters: "we assign p(y|x_n)_GMM to each VA annotation" (5.1).
        stats = affectnet_stats(cfg.data)
    else:
        stats = fit_affect_stats(va[has_va], stats_labels[has_va], num_classes)
    if cfg.labels.fusion_method == "gmm":
        p_va = gmm_labels(va, stats)
    else:
        p_va = euclidean_labels(va, stats.means, squared=cfg.labels.euclid_squared)
    p_va[~has_va] = one_hot(labels[~has_va], num_classes)  # no VA: the categorical label alone
    fused = fuse_labels(labels, p_va, alpha=cfg.labels.fusion_alpha)
    if (~has_va).any():
        log.info("%d training samples without VA keep their one-hot label", int((~has_va).sum()))
    return [replace(r, soft=fused[i]) for i, r in enumerate(records)]


# labels.target -> (records, cfg, num_classes, stats_labels) -> records with their training ``soft``.
# A new label method is one function above and one entry here (and its name in the config's choices).
LabelMethod = Callable[[list[Record], ExperimentConfig, int, np.ndarray], list[Record]]
LABEL_METHODS: dict[str, LabelMethod] = {"hard": hard_targets, "soft": soft_targets, "fused": fused_targets}
