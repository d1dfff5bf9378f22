"""Label core: annotator votes, MIDAS / mixup, valence-arousal derived labels, label noise."""

from softfer.labels.affect import (
    AffectStats,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    one_hot,
    va_to_class,
    validate_va,
)
from softfer.labels.mixing import MixResult, label_smoothing, midas, mixup, random_derangement
from softfer.labels.noise import NoisyLabels, expected_flip_rate, flip_labels
from softfer.labels.votes import (
    ClearMixedSplit,
    clip_agreement,
    fleiss_kappa,
    hard_labels,
    max_share_histogram,
    soft_labels,
    split_clear_mixed,
    validate_votes,
)

__all__ = [
    "AffectStats",
    "ClearMixedSplit",
    "MixResult",
    "NoisyLabels",
    "clip_agreement",
    "euclidean_labels",
    "expected_flip_rate",
    "fit_affect_stats",
    "fleiss_kappa",
    "flip_labels",
    "fuse_labels",
    "gmm_labels",
    "hard_labels",
    "label_smoothing",
    "max_share_histogram",
    "midas",
    "mixup",
    "one_hot",
    "random_derangement",
    "soft_labels",
    "split_clear_mixed",
    "va_to_class",
    "validate_va",
    "validate_votes",
]
