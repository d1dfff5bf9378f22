"""The step's training targets: MIDAS across processes, class weights of mixed clips, refusals."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from softfer.config import LabelConfig
from softfer.engine.mixer import Mixer, build_mixer
from softfer.labels.mixing import midas


def test_single_process_midas_is_the_papers_midas_with_the_same_draws():
    torch.manual_seed(0)
    x, y = torch.randn(4, 2, 3, 4, 4), torch.softmax(torch.randn(4, 5), 1)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mx, my, mw = Mixer(kind="midas", alpha=0.4)(x, y, w, (3, 1, 7))
    ref = midas(x, y, alpha=0.4, rng=np.random.default_rng([3, 1, 7, 0]))
    torch.testing.assert_close(mx, ref.inputs)
    torch.testing.assert_close(my, ref.targets)
    # each mixed clip carries lambda of its class weight and (1 - lambda) of its partner's
    torch.testing.assert_close(mw, ref.lam * w + (1 - ref.lam) * w[ref.partner])


def _rank_mix(rank: int, world: int, rdv: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=world)
    x = torch.full((1, 2, 3, 2, 2), float(rank + 1))  # one clip per process (batch 8 on 8 GPUs, in small)
    y = torch.nn.functional.one_hot(torch.tensor([rank]), 3).float()
    w = torch.tensor([10.0 * (rank + 1)])
    mx, my, mw = Mixer(kind="midas", alpha=0.4, world=world, rank=rank)(x, y, w, (0, 2, 5))
    torch.save({"x": mx, "y": my, "w": mw}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


def test_midas_mixes_across_processes_when_each_holds_one_clip(tmp_path):
    mp.spawn(_rank_mix, args=(2, str(tmp_path / "rdv"), str(tmp_path)), nprocs=2, join=True)
    # Independent reference: the global batch of 2 draws lambda ~ Beta(0.4, 0.4) for both clips from the
    # generator seeded by (seed, epoch, step); with two clips each clip's partner is the other one.
    lam = np.random.default_rng([0, 2, 5]).beta(0.4, 0.4, size=2)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"{rank}.pt", weights_only=True)
        other = 1 - rank
        expected_x = lam[rank] * (rank + 1) + (1 - lam[rank]) * (other + 1)
        torch.testing.assert_close(got["x"], torch.full((1, 2, 3, 2, 2), float(expected_x)))
        mixed = np.zeros(3)
        mixed[rank] += lam[rank]
        mixed[other] += 1 - lam[rank]
        soft = np.exp(mixed) / np.exp(mixed).sum()  # the paper's softmax normalisation
        np.testing.assert_allclose(got["y"].numpy()[0], soft, rtol=1e-5)
        expected_w = lam[rank] * 10 * (rank + 1) + (1 - lam[rank]) * 10 * (other + 1)
        assert float(got["w"][0]) == pytest.approx(expected_w, rel=1e-5)


def test_build_mixer_refuses_what_it_cannot_honour():
    with pytest.raises(ValueError, match="at least 2 clips per step"):
        build_mixer(LabelConfig(mixing="midas"), per_rank_batch=1, world=1, rank=0)
    assert build_mixer(LabelConfig(mixing="midas"), per_rank_batch=1, world=8, rank=3).world == 8
    with pytest.raises(ValueError, match="at least 16"):
        build_mixer(LabelConfig(mixing="mixup"), per_rank_batch=1, world=8, rank=0)
