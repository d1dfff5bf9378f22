"""Demo-recipe training speed: `softfer train`'s step loop before and after, beside a plain PyTorch loop.

Each setting runs in a fresh process, in interleaved rounds (the machine is shared: medians of rounds, one
run, compared with each other only), on the same synthetic DFEW-layout clips (the demo's: 64 px, rendered
once here unless --root is given):

- ``before``: the demo recipe through ``build_training`` + ``epoch_steps`` of an older checkout of softfer
  (``--before TREE``, e.g. ``git worktree add /tmp/before HEAD~1``), its own packaged demo config.
- ``after``: the same through this checkout (its packaged demo config).
- ``after + compile``: ``after`` with ``model.compile=true`` (torch.compile; its compile time is reported
  apart, not in the rate).
- ``after, 2 runs at once``: two such runs side by side, one process and one thread each (the demo's
  way, ``softfer demo --jobs``), their rates summed.
- ``plain loop``: the demo's model (fp32, torch's defaults) stepping Adam on one batch already in memory:
  no data loading, no mixing, no class weights -- the floor that the issue measured softfer against.

Rates are clips/s over the second training epoch (the first warms caches and allocators); the MIDAS
config (the demo's most expensive regime) is used. Also printed: the machine's measured fp32 matmul
rate and the share of it that each setting achieves, from the model's FLOP count.

    PYTHONPATH=. python benchmarks/train_speed.py --before /tmp/before [--rounds 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def worker(tree: str, root: str, out: str, sets: list[str]) -> None:
    """Print JSON {clips_per_s, warmup_s} for two epochs of the demo MIDAS config (run in its own process)."""
    from softfer.io.threads import apply_threads, set_wait_policy

    set_wait_policy()
    apply_threads(None)
    import softfer
    from softfer.config import load_config, packaged_configs
    from softfer.engine.build import build_training
    from softfer.engine.train import epoch_steps

    assert Path(softfer.__file__).resolve().is_relative_to(Path(tree).resolve()), softfer.__file__
    base = [f"data.root={root}", f"run.out_dir={out}", "run.progress=false", "optim.epochs=2"]
    t = build_training(load_config(packaged_configs() / "demo" / "midas.yaml", base + sets), overwrite=True)
    start = time.perf_counter()
    for _ in epoch_steps(t):
        pass
    warmup = time.perf_counter() - start
    t.state.epoch, t.state.step = 1, 0
    start, clips = time.perf_counter(), 0
    for _ in epoch_steps(t):
        clips += t.per_rank
    print(json.dumps({"clips_per_s": clips / (time.perf_counter() - start), "warmup_s": warmup}))


def plain_worker() -> None:
    """Print JSON {clips_per_s}: the demo model stepping Adam on one in-memory batch (16 clips)."""
    from softfer.io.threads import apply_threads, set_wait_policy

    set_wait_policy()
    apply_threads(None)
    import torch

    from softfer.models import create_model

    torch.manual_seed(0)
    model = create_model("tsm_r18", num_classes=7, width=16, dropout=0.5)
    x, y = torch.randn(16, 4, 3, 64, 64), torch.randint(0, 7, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=0.002)
    times = []
    for i in range(13):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - start)
    print(json.dumps({"clips_per_s": 16 / statistics.median(times)}))


def matmul_gflops() -> float:
    """The machine's fp32 matmul rate (GFLOP/s) with torch's threads as softfer sets them."""
    from softfer.io.threads import apply_threads, set_wait_policy

    set_wait_policy()
    apply_threads(None)
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    start, n = time.perf_counter(), 30
    for _ in range(n):
        a @ b
    return 2 * 1024**3 * n / (time.perf_counter() - start) / 1e9


def clip_gflop() -> float:
    """Forward + backward GFLOP of one demo clip, counted by torch.utils.flop_counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from softfer.models import create_model

    model = create_model("tsm_r18", num_classes=7, width=16, dropout=0.5)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(16, 4, 3, 64, 64)).sum().backward()
    return counter.get_total_flops() / 16 / 1e9


def _start(tree: Path, args: list[str], threads: int | None) -> subprocess.Popen:
    from benchmarks.threads import clean_env  # here: a worker imports this file from an older checkout

    env = clean_env(tree)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # softfer's apply_threads honours it, as a launcher sets it
    argv = [sys.executable, str(Path(__file__).resolve()), *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, env=env, stdout=pipe, stderr=pipe, text=True, cwd=tree)


def _run(tree: Path, args: list[str], copies: int = 1) -> dict:
    """One setting: ``copies`` processes at once (one thread each when more than one); their summed rate."""
    procs = [
        _start(tree, [*args[:-1], f"{args[-1]}{i}"] if copies > 1 else args, 1 if copies > 1 else None)
        for i in range(copies)
    ]
    got = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"worker failed: {stderr[-2000:]}")
        got.append(json.loads(stdout.strip().splitlines()[-1]))
    rate = sum(g["clips_per_s"] for g in got)
    return {"clips_per_s": rate, "warmup_s": max(g.get("warmup_s", 0.0) for g in got)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, help="an older checkout of softfer to compare with")
    p.add_argument("--root", type=Path, help="DFEW-layout clips (default: the demo's, rendered here)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile setting")
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", nargs=3, metavar=("TREE", "ROOT", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--plain-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(*a.worker, a.set)
    if a.plain_worker:
        return plain_worker()
    with tempfile.TemporaryDirectory() as tmp:
        root = a.root
        if root is None:
            from softfer.data.synthetic.generate import generate_dfew

            root = Path(tmp) / "dfew"
            generate_dfew(root, clips=1000, size=64, seed=0, workers=1)
        out = str(Path(tmp) / "run")
        settings: dict[str, tuple[Path, list[str], int]] = {}
        if a.before:
            old = str(a.before.resolve())
            settings["before"] = (a.before.resolve(), ["--worker", old, str(root), out], 1)
        settings["after"] = (HERE, ["--worker", str(HERE), str(root), out], 1)
        # the demo's way: its runs side by side, one process and one thread each, rates summed
        settings["after, 2 runs at once"] = (HERE, ["--worker", str(HERE), str(root), out], 2)
        if not a.no_compile:
            settings["after + compile"] = (
                HERE,
                ["--set", "model.compile=true", "--worker", str(HERE), str(root), out],
                1,
            )
        settings["plain loop"] = (HERE, ["--plain-worker"], 1)
        rates: dict[str, list[float]] = {k: [] for k in settings}
        warm: dict[str, list[float]] = {k: [] for k in settings}
        print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for r in range(a.rounds):
            for name, (tree, args, copies) in settings.items():
                got = _run(tree, args, copies)
                rates[name].append(got["clips_per_s"])
                warm[name].append(got.get("warmup_s", 0.0))
                print(f"round {r + 1} {name:22s} {got['clips_per_s']:7.1f} clips/s", flush=True)
    peak, gflop = matmul_gflops(), clip_gflop()
    rows = []
    for name in settings:
        med = statistics.median(rates[name])
        rows.append(
            {
                "setting": name,
                "clips_per_s": med,
                "rounds": rates[name],
                "first_epoch_s": statistics.median(warm[name]),
                "share_of_matmul": med * gflop / peak,
            }
        )
    print(f"\nmatmul {peak:.0f} GFLOP/s; {gflop:.3f} GFLOP per clip (forward + backward)")
    base = rows[0]["clips_per_s"]
    for row in rows:
        print(
            f"{row['setting']:22s} {row['clips_per_s']:7.1f} clips/s  x{row['clips_per_s'] / base:.2f}  "
            f"{100 * row['share_of_matmul']:.0f} % of matmul  first epoch {row['first_epoch_s']:.0f} s"
        )
    if a.json:
        a.json.write_text(json.dumps({"matmul_gflops": peak, "clip_gflop": gflop, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
