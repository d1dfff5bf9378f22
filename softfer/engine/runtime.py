"""Process setup for training: torch.distributed under torchrun, seeding, and the resumable sampler."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from softfer.inference.device import resolve_device


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, sharded over ranks, that can start part-way (for resuming)."""

    def __init__(
        self,
        n: int,
        *,
        seed: int,
        epoch: int,
        rank: int = 0,
        world: int = 1,
        start: int = 0,
        shuffle: bool = True,
    ):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=g).tolist() if shuffle else list(range(n))
        if shuffle and world > 1:
            order += order[: (-len(order)) % world]  # equal shards, as DistributedSampler pads
        self.indices = order[rank::world][start:]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def setup_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises torch.distributed under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)  # one line naming run.device when this machine lacks it
    cuda = device.type == "cuda" and device_name in ("auto", "cuda")
    if cuda:  # each torchrun process on its own GPU
        device = torch.device(f"cuda:{local}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed torch (CPU and CUDA); optionally force deterministic kernels."""
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
