"""Process setup for training: torch.distributed under torchrun, seeding, and the resumable sampler."""

from __future__ import annotations

import atexit
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


def process_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the environment torchrun sets; (0, 1, 0) outside torchrun.

    Raises:
        ValueError: a value that is not an integer, WORLD_SIZE below 1, RANK outside [0, WORLD_SIZE),
            LOCAL_RANK below 0, or RANK without WORLD_SIZE (a process that would train as one rank of
            a group that does not exist, and write nothing); the message names the variable and its value.
    """
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" not in env:
        raise ValueError(
            f"RANK={env['RANK']!r} is set but WORLD_SIZE is not: torchrun sets RANK, WORLD_SIZE and "
            "LOCAL_RANK together; unset RANK to train in one process, or launch with torchrun"
        )
    world = _env_int("WORLD_SIZE", 1, minimum=1)
    rank = _env_int("RANK", 0, minimum=0)
    local = _env_int("LOCAL_RANK", 0, minimum=0)
    if rank >= world:
        raise ValueError(f"RANK={rank} is not below WORLD_SIZE={world}: ranks are 0 .. WORLD_SIZE - 1")
    if world > 1 and "RANK" not in env:
        raise ValueError(
            f"WORLD_SIZE={world} is set but RANK is not: torchrun sets RANK, WORLD_SIZE and LOCAL_RANK "
            "together; unset WORLD_SIZE to train in one process, or launch with torchrun"
        )
    return rank, world, local


def _env_int(name: str, default: int, *, minimum: int) -> int:
    # One environment variable of torchrun's, an integer of at least ``minimum``; ``default`` when unset.
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer: unset it, or launch with torchrun") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum}: unset it, or launch with torchrun")
    return value


def setup_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises torch.distributed under torchrun.

    The process environment is checked first (``process_ranks``), before any device or data is touched.
    """
    rank, world, local = process_ranks()
    device = resolve_device(device_name)  # one line naming run.device when this machine lacks it
    cuda = device.type == "cuda" and device_name in ("auto", "cuda")
    if cuda:  # each torchrun process on its own GPU
        device = torch.device(f"cuda:{local}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "gloo":
            # WHY: a gloo group left to interpreter shutdown may abort the process ("terminate called
            # without an active exception", exit -6) after its work is done; destroying it is local to
            # the process. NCCL's destroy must be collective (it may hang after another rank failed).
            atexit.register(close_process_group)
    return rank, world, device


def close_process_group() -> None:
    """Destroy this process's torch.distributed group, if one is open (at exit, while Python is whole)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed torch (CPU and CUDA); optionally force deterministic kernels."""
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
