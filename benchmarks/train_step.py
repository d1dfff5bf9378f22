"""Training-step throughput of tsm_r18 with data already in memory, and the MIDAS overhead.

CPU: 8x112 and 8x224 clips, fp32. GPU (when available): 8x224 with bf16 autocast + channels_last.
MIDAS overhead = (step time with MIDAS - without) / without, measured in the same run. Target <= 1 %.

    python benchmarks/train_step.py [--batch 8] [--steps 10] [--sizes 112,224] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from softfer.engine.losses import soft_cross_entropy
from softfer.labels.mixing import midas
from softfer.models import create_model


def step_time(model, opt, x, y, *, use_midas: bool, steps: int, amp: bool, device) -> float:
    rng = np.random.default_rng(0)
    times = []
    for i in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if use_midas:
            mixed = midas(x, y, rng=rng)
            xb, yb = mixed.inputs, mixed.targets
        else:
            xb, yb = x, y
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = soft_cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def mix_time(x: torch.Tensor, y: torch.Tensor, device, repeats: int = 50) -> float:
    """Median time of one in-batch MIDAS call on the device."""
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        midas(x, y, rng=rng)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--sizes", default="112,224")
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    device = torch.device(
        "cuda"
        if a.device == "auto" and torch.cuda.is_available()
        else ("cpu" if a.device == "auto" else a.device)
    )
    gpu = device.type == "cuda"
    name = torch.cuda.get_device_name() if gpu else "cpu"
    print(f"device: {name}  threads: {torch.get_num_threads()}  batch: {a.batch}")
    for size in (int(s) for s in a.sizes.split(",")):
        model = create_model("tsm_r18", num_classes=7).to(device)
        if gpu:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(a.batch, 8, 3, size, size, device=device)
        y = torch.softmax(torch.randn(a.batch, 7, device=device), 1)
        base = step_time(model, opt, x, y, use_midas=False, steps=a.steps, amp=gpu, device=device)
        mixed = step_time(model, opt, x, y, use_midas=True, steps=a.steps, amp=gpu, device=device)
        overhead = 100 * (mixed - base) / base
        mix_only = mix_time(x, y, device)
        print(
            f"8x{size}: {a.batch / base:8.1f} clips/s  ({1000 * base:.1f} ms/step)   "
            f"with MIDAS {a.batch / mixed:8.1f} clips/s   step-time difference {overhead:+.2f} % (noisy)"
        )
        share = 100 * mix_only / base
        print(f"  MIDAS call: {1000 * mix_only:.2f} ms = {share:.3f} % of a step (target <= 1 %)")


if __name__ == "__main__":
    main()
