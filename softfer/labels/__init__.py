"""Label core: annotator votes, MIDAS / mixup, valence-arousal derived labels, label noise.

Public names are imported on first use: the dataset readers use votes and affect constants without
loading torch, which only the mixing needs.
"""

from softfer._lazy import lazy_attributes

_NAMES = {
    "AffectStats": "softfer.labels.affect",
    "ClearMixedSplit": "softfer.labels.votes",
    "MixResult": "softfer.labels.mixing",
    "NoisyLabels": "softfer.labels.noise",
    "clip_agreement": "softfer.labels.votes",
    "euclidean_labels": "softfer.labels.affect",
    "expected_flip_rate": "softfer.labels.noise",
    "fit_affect_stats": "softfer.labels.affect",
    "fleiss_kappa": "softfer.labels.votes",
    "flip_labels": "softfer.labels.noise",
    "fuse_labels": "softfer.labels.affect",
    "gmm_labels": "softfer.labels.affect",
    "hard_labels": "softfer.labels.votes",
    "label_smoothing": "softfer.labels.mixing",
    "majority_outside": "softfer.labels.votes",
    "max_share_histogram": "softfer.labels.votes",
    "midas": "softfer.labels.mixing",
    "mixup": "softfer.labels.mixing",
    "one_hot": "softfer.labels.affect",
    "random_derangement": "softfer.labels.mixing",
    "soft_labels": "softfer.labels.votes",
    "split_clear_mixed": "softfer.labels.votes",
    "va_to_class": "softfer.labels.affect",
    "validate_va": "softfer.labels.affect",
    "validate_votes": "softfer.labels.votes",
}

__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())
