"""Synthetic benchmark generation speed: 1,500 clips at 112x112 (target: <= 120 s on 2 cores).

python benchmarks/synth.py [--clips 1500] [--size 112] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from softfer.data.synthetic.generate import generate_dfew


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clips", type=int, default=1500)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--workers", type=int, default=0)
    a = p.parse_args()
    out = Path(tempfile.mkdtemp()) / "dfew"
    start = time.perf_counter()
    records = generate_dfew(out, clips=a.clips, size=a.size, seed=0, workers=a.workers)
    seconds = time.perf_counter() - start
    frames = sum(r.num_frames for r in records)
    print(f"cores: {os.cpu_count()}  clips: {a.clips}  frames: {frames}  size: {a.size}")
    print(f"time: {seconds:.1f} s  ({a.clips / seconds:.1f} clips/s, {frames / seconds:.0f} frames/s)")
    print(f"target <= 120 s: {'met' if seconds <= 120 else 'missed'}")
    shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
