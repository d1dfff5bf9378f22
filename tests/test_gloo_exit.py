"""CI 2026-12-07: `softfer eval` under torchrun (2 CPU ranks) finished its work and then rank 1 aborted
("terminate called without an active exception", exit -6): a gloo process group left open to interpreter
shutdown (pytorch/pytorch#190489). setup_distributed now registers ``close_process_group`` at exit for gloo
groups; it destroys an open group and is a no-op after."""

import atexit

import torch.distributed as dist

from softfer.engine import runtime


def test_setup_registers_the_gloo_groups_close_and_the_close_destroys_it(monkeypatch):
    registered = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(runtime, "process_ranks", lambda: (0, 2, 0))
    # one process standing in for a world of two: the group itself is made with a world of one
    store = dist.HashStore()
    real_init = dist.init_process_group
    monkeypatch.setattr(
        dist, "init_process_group", lambda backend: real_init(backend, store=store, rank=0, world_size=1)
    )
    try:
        rank, world, device = runtime.setup_distributed("cpu")
        assert (rank, world, device.type) == (0, 2, "cpu")
        assert registered == [runtime.close_process_group] and dist.is_initialized()
        runtime.close_process_group()
        assert not dist.is_initialized()
        runtime.close_process_group()  # again: nothing to close
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
