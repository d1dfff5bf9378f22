"""Synthetic categorical label noise (dual-domain paper, section 5.1).

Two modes:
    "exact": exactly round(rate * N) distinct samples get a label *different* from their own, drawn
        uniformly from the other K - 1 classes. The effective flip rate is the nominal rate.
    "reference": the behaviour of the public reference code: round(rate * N) indices drawn *with
        replacement*, each set to a class drawn uniformly from all K classes (it may equal the old one).
        The expected effective flip rate is lower: (1 - (1 - 1/N)^m) * (K - 1) / K with m = round(rate * N),
        about (1 - exp(-rate)) * (K - 1) / K, e.g. 22.7 % instead of 30 % for rate 0.3 and K = 8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

NoiseMode = Literal["exact", "reference"]


@dataclass(frozen=True)
class NoisyLabels:
    """Noisy labels (N,) and the mask of samples whose label actually changed."""

    labels: np.ndarray
    flipped: np.ndarray

    @property
    def flip_rate(self) -> float:
        return float(self.flipped.mean()) if len(self.flipped) else 0.0


def flip_labels(
    labels: np.ndarray, rate: float, num_classes: int, *, seed: int = 0, mode: NoiseMode = "exact"
) -> NoisyLabels:
    """Inject symmetric label noise at ``rate`` (see the module docstring for the two modes)."""
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be in [0, 1], got {rate}")
    if num_classes < 2:
        raise ValueError("label noise needs at least 2 classes")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {i}: label {labels[i]} outside 0..{num_classes - 1}")
    rng = np.random.default_rng(seed)
    n = len(labels)
    m = round(rate * n)
    out = labels.copy()
    if mode == "exact":
        idx = rng.choice(n, size=m, replace=False)
        # An offset in 1..K-1 modulo K never maps a class to itself and is uniform over the others.
        out[idx] = (labels[idx] + rng.integers(1, num_classes, size=m)) % num_classes
    elif mode == "reference":
        idx = rng.integers(0, n, size=m)
        out[idx] = rng.integers(0, num_classes, size=m)
    else:
        raise ValueError(f"unknown noise mode {mode!r}; choose 'exact' or 'reference'")
    return NoisyLabels(out, out != labels)


def expected_flip_rate(rate: float, n: int, num_classes: int, mode: NoiseMode = "exact") -> float:
    """Expected share of labels that end up changed, for either mode."""
    m = round(rate * n)
    if mode == "exact":
        return m / n
    return (1.0 - (1.0 - 1.0 / n) ** m) * (num_classes - 1) / num_classes
