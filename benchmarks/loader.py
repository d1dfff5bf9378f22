"""Clip loading speed: softfer's ClipDataset vs a reference loader written like the official DFEW code.

Both read 8 frames per clip (TSN sampling) from the same JPEG folders at 112x112 with the same number of
DataLoader workers and batch size 8 (MIDAS's). The reference globs the clip folder on every item, opens
each frame with PIL and applies per-frame transforms (resize, flip, to-tensor), as the official DFEW
loader does. softfer uses its frame index, libjpeg-turbo decoding at a reduced DCT scale (frames >= 2x
the model size), one clip-consistent crop/flip transform and its collate function. Also measured:
softfer with full-resolution decoding (`reduced_decode=False`) and reading from its packed uint8 cache
(`data.cache_dir`, every epoch after the first). Rates are steady-state (the clock starts at the first
batch) and the loaders are timed in interleaved rounds, medians reported. Target: >= 3x.

    python benchmarks/loader.py [--root DFEW_LAYOUT] [--clips 1000] [--workers 0,1,2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from softfer.data.datasets import ClipDataset, collate_items
from softfer.data.formats import read_dfew
from softfer.data.synthetic.generate import generate_dfew
from softfer.data.transforms import train_transform


class ReferenceDFEWLoader(Dataset):
    """Behaves like the official DFEW data loader: glob per item, PIL per frame, per-frame transforms."""

    def __init__(self, folders: list[Path], size: int, segments: int = 8) -> None:
        self.folders, self.segments = folders, segments
        self.tf = T.Compose([T.Resize((size, size)), T.RandomHorizontalFlip(), T.ToTensor()])

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, i: int):
        frames = sorted(glob.glob(os.path.join(self.folders[i], "*.jpg")))
        seg = len(frames) / self.segments
        picks = [
            frames[min(int(seg * s + random.random() * seg), len(frames) - 1)] for s in range(self.segments)
        ]
        imgs = [self.tf(Image.open(p).convert("RGB")) for p in picks]
        return torch.stack(imgs), 0


def clips_per_second(ds, workers: int, batch: int = 8) -> float:
    """Steady-state rate: the clock starts when the first batch arrives (worker start-up excluded)."""
    # softfer's datasets are batched by its own collate function, as its training loop does
    collate = collate_items if isinstance(ds, ClipDataset) else None
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False, collate_fn=collate)
    n, start = 0, None
    for b in loader:
        if start is None:
            start = time.perf_counter()
            continue
        n += len(b["clips"] if isinstance(b, dict) else b[0])
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--root", help="a DFEW-layout folder (default: generate --clips synthetic clips at 224 px)"
    )
    p.add_argument("--clips", type=int, default=1000)
    p.add_argument("--workers", default="0,1,2", help="comma-separated DataLoader worker counts")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    a = p.parse_args()
    # the rendered clips and the packed cache live in a temporary folder, removed at the end (the cache
    # of 224 px clips takes ~4 MB per clip); a --root folder is only read
    with tempfile.TemporaryDirectory(prefix="softfer-loader-") as tmp:
        run(a, Path(tmp))


def run(a: argparse.Namespace, tmp: Path) -> None:
    """Render (unless --root), then time every loader at each worker count in interleaved rounds."""
    root = Path(a.root) if a.root else tmp / "dfew"
    if not a.root:
        generate_dfew(root, clips=a.clips, size=224, seed=0)
    records = read_dfew(root, fold=1, split="train")[: a.clips]

    def ours(**kw) -> ClipDataset:
        return ClipDataset(
            records, num_classes=7, train=True, size=a.size, transform=train_transform(a.size), **kw
        )

    loaders = {
        "softfer": ours(),
        "reference": ReferenceDFEWLoader([r.path for r in records], a.size),
        "softfer-full-decode": ours(reduced_decode=False),
        "softfer-cached": ours(cache_dir=tmp / "cache"),
    }
    frame = Image.open(records[0].path / records[0].frames[0]).size
    print(f"{len(records)} clips, 8 frames at {a.size}x{a.size} from {frame[0]}x{frame[1]} JPEGs, batch 8")
    clips_per_second(loaders["softfer"], 0)  # warm the page cache for all
    clips_per_second(loaders["softfer-cached"], 0)  # the first pass fills the packed cache
    for workers in (int(w) for w in a.workers.split(",")):
        # Interleaved rounds: a slow spell on a shared machine then hits every loader alike.
        rates: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(a.rounds):
            for name, ds in loaders.items():
                rates[name].append(clips_per_second(ds, workers))
        results = {name: statistics.median(r) for name, r in rates.items()}
        print(f"\n{workers} DataLoader workers, median of {a.rounds} rounds")
        for name, v in results.items():
            print(f"  {name:20s} {v:8.1f} clips/s  (rounds: {', '.join(f'{x:.0f}' for x in rates[name])})")
        for name in ("softfer", "softfer-full-decode", "softfer-cached"):
            ratio = results[name] / results["reference"]
            paired = [x / r for x, r in zip(rates[name], rates["reference"], strict=True)]
            print(
                f"  ratio {name} / reference: {ratio:.2f}x (per round {min(paired):.2f}-{max(paired):.2f}x; "
                f"target >= 3x: {'met' if ratio >= 3 else 'missed'})"
            )


if __name__ == "__main__":
    main()
