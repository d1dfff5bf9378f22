"""MIDAS (MIDAS section 3.1) and the mixing baselines, applied in-batch on the device.

Only the B mixing coefficients and the partner indices are drawn on the CPU (B numbers); the frames and
labels are mixed with whole-batch tensor operations on whatever device they live on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

LabelNorm = Literal["softmax", "none"]


@dataclass(frozen=True)
class MixResult:
    """A mixed batch: inputs, targets, per-sample lambda (B,) and partner indices (B,)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    lam: torch.Tensor
    partner: torch.Tensor


def _rng(seed_or_rng: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def random_derangement(n: int, rng: int | np.random.Generator | None = None) -> np.ndarray:
    """A random permutation of 0..n-1 with no fixed point (partner[i] != i for every i).

    Built as a random relabelling of a cyclic shift by s in 1..n-1, which is fixed-point free for any
    such s; each i's partner is uniform over the other n-1 indices.
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    gen = _rng(rng)
    order = gen.permutation(n)
    shift = int(gen.integers(1, n))
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -shift)
    return partner


def _check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() not in (4, 5):
        raise ValueError(f"inputs must be (B, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError("mix inputs after converting them to floating point (mixing uint8 would truncate)")
    if y.dim() != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"targets must be (B, num_classes) matching B={x.shape[0]}, got {tuple(y.shape)}")


def _expand(lam: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return lam.view(-1, *([1] * (like.dim() - 1)))


def midas(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float = 0.4,
    normalize: LabelNorm = "softmax",
    rng: int | np.random.Generator | None = None,
) -> MixResult:
    """MIDAS: mix every clip with another clip of the batch and mix their (soft or one-hot) labels.

    For sample i, lambda_i ~ Beta(alpha, alpha) and partner j != i (never self-paired). Every frame is
    mixed with the same lambda_i: x~_i = lambda_i x_i + (1 - lambda_i) x_j, and
    y~_i = lambda_i y_i + (1 - lambda_i) y_j.

    Label normalisation: the paper normalises y~ with a softmax "to take annotation noise into account"
    (``normalize="softmax"``, the default). Note that the convex combination is already a probability
    vector, and a softmax of values in [0, 1] flattens it towards uniform (the largest ratio between two
    entries becomes at most e); ``normalize="none"`` keeps the convex combination as it is.

    Args:
        inputs: float (B, T, C, H, W) clips or (B, C, H, W) images, B >= 2, on any device.
        targets: (B, K) soft labels or one-hot labels ("MIDAS w/ hard label").
        alpha: Beta distribution parameter (0.4 in the paper).
        normalize: "softmax" (paper) or "none".
        rng: seed or numpy Generator for lambda and the partners.
    """
    _check_batch(inputs, targets)
    lam, partner = midas_draw(inputs.shape[0], alpha, rng)
    return midas_apply(inputs, targets, lam, partner, inputs, targets, normalize=normalize)


def midas_draw(
    n: int, alpha: float = 0.4, rng: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MIDAS's random draws for a batch of ``n`` clips: lambda_i ~ Beta(alpha, alpha) and partners j != i.

    Split from the mixing itself so that processes of a distributed run can draw once for the global
    batch (same generator state on every rank) and each mix its own clips with partners from any rank.
    """
    if n < 2:
        raise ValueError("MIDAS needs a batch of at least 2 clips: a clip is never mixed with itself")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    gen = _rng(rng)
    lam = gen.beta(alpha, alpha, size=n)
    return lam, random_derangement(n, gen)


def midas_apply(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    lam: np.ndarray,
    partner: np.ndarray,
    pool_inputs: torch.Tensor,
    pool_targets: torch.Tensor,
    *,
    normalize: LabelNorm = "softmax",
) -> MixResult:
    """Mix ``inputs[i]`` with ``pool_inputs[partner[i]]`` (and the labels alike) with weight ``lam[i]``.

    ``pool_*`` is the batch the partners index: the batch itself, or the global batch gathered from
    every rank.
    """
    if normalize not in ("softmax", "none"):
        raise ValueError(f"normalize must be 'softmax' or 'none', got {normalize!r}")
    device = inputs.device
    lam_t = torch.as_tensor(lam, dtype=inputs.dtype, device=device)
    partner_t = torch.as_tensor(partner, device=device)
    lam_x = _expand(lam_t, inputs)
    mixed_x = lam_x * inputs + (1 - lam_x) * pool_inputs[partner_t]
    lam_y = lam_t.to(targets.dtype).unsqueeze(1)
    mixed_y = lam_y * targets + (1 - lam_y) * pool_targets[partner_t]
    if normalize == "softmax":
        mixed_y = torch.softmax(mixed_y, dim=1)
    return MixResult(mixed_x, mixed_y, lam_t, partner_t)


def mixup(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float = 1.0,
    rng: int | np.random.Generator | None = None,
) -> MixResult:
    """Classic mixup (Zhang et al.): one lambda for the batch, partners by a random permutation.

    Self-pairs are allowed (a permutation may keep some i in place) and labels are mixed linearly.
    """
    _check_batch(inputs, targets)
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    gen = _rng(rng)
    b = inputs.shape[0]
    lam_value = float(gen.beta(alpha, alpha))
    partner = torch.as_tensor(gen.permutation(b), device=inputs.device)
    lam = torch.full((b,), lam_value, dtype=inputs.dtype, device=inputs.device)
    mixed_x = lam_value * inputs + (1 - lam_value) * inputs[partner]
    mixed_y = lam_value * targets + (1 - lam_value) * targets[partner]
    return MixResult(mixed_x, mixed_y, lam, partner)


def label_smoothing(targets: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Uniform label smoothing: (1 - eps) * y + eps / K."""
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    return targets * (1.0 - eps) + eps / targets.shape[-1]
