"""The training targets of one step: label smoothing and clip mixing (MIDAS, mixup), built once per run.

Under torchrun MIDAS mixes over the *global* batch: every rank draws the same lambdas and partners from a
generator seeded by (seed, epoch, step), gathers the clips, labels and sample weights of all ranks, and
mixes its own clips with partners from any rank. A per-rank batch of 1 (the paper's batch of 8 on 8 GPUs)
therefore still gets MIDAS, exactly as one process with the whole batch would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from softfer.config import LabelConfig
from softfer.labels.mixing import label_smoothing, midas_apply, midas_draw, mixup


@dataclass(frozen=True)
class Mixer:
    """Turns a batch's inputs, targets and per-sample loss weights into the step's training batch."""

    kind: str = "none"  # a key of MIXING_KINDS: "none" | "midas" | "mixup"
    alpha: float = 0.4
    normalize: str = "softmax"
    smoothing: float = 0.0
    world: int = 1
    rank: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MIXING_KINDS:
            raise ValueError(f"labels.mixing={self.kind!r}: choose one of {sorted(MIXING_KINDS)}")

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, key: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Mix one step's batch; ``key`` = (seed, epoch, step) makes every draw replayable on resume."""
        if self.smoothing > 0:
            y = label_smoothing(y, self.smoothing)
        return MIXING_KINDS[self.kind](self, x, y, w, key)


Mixed = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # inputs, targets, sample weights


def no_mixing(m: Mixer, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, key) -> Mixed:
    """The batch as it is."""
    return x, y, w


def midas_mixing(m: Mixer, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, key) -> Mixed:
    """MIDAS (Kawamura et al., WACV 2024): clips and soft labels mixed with partners from the global batch."""
    if m.world > 1:
        return _global_midas(m, x, y, w, np.random.default_rng(list(key)))
    lam, partner = midas_draw(x.shape[0], m.alpha, np.random.default_rng([*key, m.rank]))
    mixed = midas_apply(x, y, lam, partner, x, y, normalize=m.normalize)  # type: ignore[arg-type]
    return mixed.inputs, mixed.targets, _mix_weights(w, mixed.lam, mixed.partner, w)


def mixup_mixing(m: Mixer, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, key) -> Mixed:
    """mixup (Zhang et al. 2018) within this process's batch."""
    mixed = mixup(x, y, alpha=m.alpha, rng=np.random.default_rng([*key, m.rank]))
    return mixed.inputs, mixed.targets, _mix_weights(w, mixed.lam, mixed.partner, w)


# labels.mixing -> how a step's batch is mixed. A new kind is one function above and one entry here.
MIXING_KINDS: dict[str, Callable[..., Mixed]] = {
    "none": no_mixing,
    "midas": midas_mixing,
    "mixup": mixup_mixing,
}


def _global_midas(m: Mixer, x: torch.Tensor, y: torch.Tensor, w, rng: np.random.Generator) -> Mixed:
    # Every rank draws the same lambdas and partners for the whole global batch and keeps its own rows.
    b = x.shape[0]
    pool_x, pool_y = _gather(x), _gather(y)
    lam, partner = midas_draw(b * m.world, m.alpha, rng)
    mine = slice(m.rank * b, (m.rank + 1) * b)
    mixed = midas_apply(
        x,
        y,
        lam[mine],
        partner[mine],
        pool_x,
        pool_y,
        normalize=m.normalize,  # type: ignore[arg-type]
    )
    pool_w = _gather(w) if w is not None else None
    return mixed.inputs, mixed.targets, _mix_weights(w, mixed.lam, mixed.partner, pool_w)


def _gather(t: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def _mix_weights(w, lam: torch.Tensor, partner: torch.Tensor, pool_w) -> torch.Tensor | None:
    # A mixed clip carries lambda of its own class weight and (1 - lambda) of its partner's.
    if w is None:
        return None
    lam = lam.to(w.dtype)
    return lam * w + (1 - lam) * pool_w[partner]


def build_mixer(labels: LabelConfig, *, per_rank_batch: int, world: int, rank: int) -> Mixer:
    """The run's ``Mixer``; refuses settings that would mix a clip with itself or silently not mix.

    Raises:
        ValueError: an unknown mixing kind, MIDAS with a global batch < 2, or mixup with a per-process
            batch < 2.
    """
    global_batch = per_rank_batch * world
    if labels.mixing == "midas" and global_batch < 2:
        raise ValueError(
            f"labels.mixing=midas needs at least 2 clips per step, got optim.batch_size={global_batch}: "
            "raise optim.batch_size"
        )
    if labels.mixing == "mixup" and per_rank_batch < 2:
        raise ValueError(
            f"labels.mixing=mixup mixes within each process's batch, which holds {per_rank_batch} sample(s) "
            f"under {world} processes: raise optim.batch_size to at least {2 * world}"
        )
    return Mixer(
        kind=labels.mixing,
        alpha=labels.mix_alpha,
        normalize=labels.mix_normalize,
        smoothing=labels.smoothing,
        world=world,
        rank=rank,
    )
